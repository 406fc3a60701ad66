/* SPDX-License-Identifier: MIT */
/*
 * The Windows packet loop (dataplane/device.c with control_windows.c) in one process:
 *
 *   fake Wintun "wt0" ── device A ── UDP 127.0.0.1 ── device B ── fake Wintun "wt1"
 *   10.9.0.1, fd09::1         (random ports)                  10.9.0.2, fd09::2
 *
 * Each device drives the real platform/windows/tun.c, whose Wintun entry points are an
 * in-process fake (struct fake_tun below: a queue of packets "from the system" that the
 * device reads, and a record of every packet it writes), over real Winsock sockets. Checked:
 * the handshake, IPv4 and IPv6 packets both ways byte for byte and in order (one device with
 * crypto workers, one inline), the engine and device counters, and a clean teardown (session
 * ended, adapter closed, every received packet released). Then the UAPI through the real
 * named pipe against a running device: set, get back, stats, bad requests change nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dataplane/device_windows.h"
#include "lib/strbuf.h"
#include "platform/windows/uapi_pipe.h"
#include "platform/windows/wintun.h"
#include "wg/wg.h"

/* ---------------------------------------------------------------------------------------- */
/* A fake Wintun: one adapter and session per name                                          */

enum {
	FAKE_QUEUE = 1024, /* packets queued each way */
	FAKE_MAX_PKT = 2048,
	WAIT_MS = 10000, /* generous: Wine on a shared 2-CPU machine */
};

struct fake_tun {
	const wchar_t *name;
	CRITICAL_SECTION mu;
	HANDLE read_event; /* manual reset: set while rx is not empty (Wintun's contract) */
	HANDLE sent_event; /* auto reset: a packet was written */
	bool exists;
	int adapters_open, sessions_open, rx_outstanding;
	/* from the system to the device */
	BYTE *rx[FAKE_QUEUE];
	DWORD rx_len[FAKE_QUEUE];
	int rx_head, rx_n;
	/* from the device to the system */
	BYTE *tx[FAKE_QUEUE];
	DWORD tx_len[FAKE_QUEUE];
	int tx_n, tx_taken;
};

static struct fake_tun fakes[2] = {{.name = L"wt0"}, {.name = L"wt1"}};

static struct fake_tun *fake_by_name(LPCWSTR name)
{
	for (int i = 0; i < 2; i++)
		if (!wcscmp(fakes[i].name, name))
			return &fakes[i];
	return NULL;
}

static PLAT_WINTUN_ADAPTER WINAPI f_create(LPCWSTR name, LPCWSTR type, const GUID *g)
{
	struct fake_tun *f = fake_by_name(name);

	if (!f) {
		SetLastError(ERROR_INVALID_NAME);
		return NULL;
	}
	f->exists = true;
	f->adapters_open++;
	return (PLAT_WINTUN_ADAPTER)f;
}

static PLAT_WINTUN_ADAPTER WINAPI f_open(LPCWSTR name)
{
	struct fake_tun *f = fake_by_name(name);

	if (!f || !f->exists) {
		SetLastError(ERROR_FILE_NOT_FOUND);
		return NULL;
	}
	f->adapters_open++;
	return (PLAT_WINTUN_ADAPTER)f;
}

static void WINAPI f_close(PLAT_WINTUN_ADAPTER a)
{
	((struct fake_tun *)a)->adapters_open--;
}

static void WINAPI f_luid(PLAT_WINTUN_ADAPTER a, NET_LUID *l)
{
	l->Value = 0x77000000ULL + (uint64_t)((struct fake_tun *)a - fakes);
}

static DWORD WINAPI f_version(void)
{
	return 0x0e;
}

static PLAT_WINTUN_SESSION WINAPI f_start(PLAT_WINTUN_ADAPTER a, DWORD cap)
{
	struct fake_tun *f = (struct fake_tun *)a;

	f->sessions_open++;
	return (PLAT_WINTUN_SESSION)f;
}

static void WINAPI f_end(PLAT_WINTUN_SESSION s)
{
	((struct fake_tun *)s)->sessions_open--;
}

static HANDLE WINAPI f_event(PLAT_WINTUN_SESSION s)
{
	return ((struct fake_tun *)s)->read_event;
}

static BYTE *WINAPI f_receive(PLAT_WINTUN_SESSION s, DWORD *size)
{
	struct fake_tun *f = (struct fake_tun *)s;
	BYTE *p = NULL;

	EnterCriticalSection(&f->mu);
	if (!f->rx_n) {
		ResetEvent(f->read_event); /* under mu: an enqueue after this sets it again */
		SetLastError(ERROR_NO_MORE_ITEMS);
	} else {
		p = f->rx[f->rx_head];
		*size = f->rx_len[f->rx_head];
		f->rx_head = (f->rx_head + 1) % FAKE_QUEUE;
		f->rx_n--;
		f->rx_outstanding++;
	}
	LeaveCriticalSection(&f->mu);
	return p;
}

static void WINAPI f_release(PLAT_WINTUN_SESSION s, const BYTE *p)
{
	struct fake_tun *f = (struct fake_tun *)s;

	EnterCriticalSection(&f->mu);
	f->rx_outstanding--;
	LeaveCriticalSection(&f->mu);
	free((void *)p);
}

/* The packet is recorded at allocation and counted as written at send. */
static BYTE *WINAPI f_alloc(PLAT_WINTUN_SESSION s, DWORD size)
{
	struct fake_tun *f = (struct fake_tun *)s;
	BYTE *p = malloc(size ? size : 1);

	if (!p) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	EnterCriticalSection(&f->mu);
	if (f->tx_n == FAKE_QUEUE) {
		LeaveCriticalSection(&f->mu);
		free(p);
		SetLastError(ERROR_BUFFER_OVERFLOW);
		return NULL;
	}
	f->tx[f->tx_n] = p;
	f->tx_len[f->tx_n] = size;
	LeaveCriticalSection(&f->mu);
	return p;
}

static void WINAPI f_send(PLAT_WINTUN_SESSION s, const BYTE *p)
{
	struct fake_tun *f = (struct fake_tun *)s;

	EnterCriticalSection(&f->mu);
	assert_ptr_equal(f->tx[f->tx_n], p); /* the device's writes never interleave */
	f->tx_n++;
	LeaveCriticalSection(&f->mu);
	SetEvent(f->sent_event);
}

static const struct plat_wintun_api fake_api = {
	.dll = NULL,
	.create_adapter = f_create,
	.open_adapter = f_open,
	.close_adapter = f_close,
	.get_adapter_luid = f_luid,
	.get_running_driver_version = f_version,
	.start_session = f_start,
	.end_session = f_end,
	.get_read_wait_event = f_event,
	.receive_packet = f_receive,
	.release_receive_packet = f_release,
	.allocate_send_packet = f_alloc,
	.send_packet = f_send,
};

/* A packet "from the system" for the device to read. */
static void inject(struct fake_tun *f, const void *pkt, size_t len)
{
	BYTE *p = malloc(len);

	assert_non_null(p);
	memcpy(p, pkt, len);
	EnterCriticalSection(&f->mu);
	assert_true(f->rx_n < FAKE_QUEUE);
	f->rx[(f->rx_head + f->rx_n) % FAKE_QUEUE] = p;
	f->rx_len[(f->rx_head + f->rx_n) % FAKE_QUEUE] = (DWORD)len;
	f->rx_n++;
	SetEvent(f->read_event);
	LeaveCriticalSection(&f->mu);
}

/* The next packet the device wrote, waiting up to WAIT_MS. Its length, or -1. */
static int next_written(struct fake_tun *f, BYTE **ret)
{
	ULONGLONG deadline = GetTickCount64() + WAIT_MS;

	for (;;) {
		ULONGLONG now;

		EnterCriticalSection(&f->mu);
		if (f->tx_taken < f->tx_n) {
			int i = f->tx_taken++;

			*ret = f->tx[i];
			LeaveCriticalSection(&f->mu);
			return (int)f->tx_len[i];
		}
		LeaveCriticalSection(&f->mu);
		now = GetTickCount64();
		if (now >= deadline)
			return -1;
		WaitForSingleObject(f->sent_event, (DWORD)(deadline - now));
	}
}

static void fake_init(struct fake_tun *f)
{
	const wchar_t *name = f->name;

	memset(f, 0, sizeof(*f));
	f->name = name;
	InitializeCriticalSection(&f->mu);
	f->read_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	f->sent_event = CreateEventW(NULL, FALSE, FALSE, NULL);
	assert_non_null(f->read_event);
	assert_non_null(f->sent_event);
}

static void fake_done(struct fake_tun *f)
{
	while (f->rx_n) {
		free(f->rx[f->rx_head]);
		f->rx_head = (f->rx_head + 1) % FAKE_QUEUE;
		f->rx_n--;
	}
	for (int i = 0; i < f->tx_n; i++)
		free(f->tx[i]);
	f->tx_n = f->tx_taken = 0;
	CloseHandle(f->read_event);
	CloseHandle(f->sent_event);
	DeleteCriticalSection(&f->mu);
}

/* ---------------------------------------------------------------------------------------- */
/* Devices                                                                                   */

struct node {
	struct dp_device *d;
	struct fake_tun *f;
	pthread_t run_thread;
	int run_result;
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
};

static void *run_main(void *arg)
{
	struct node *n = arg;

	n->run_result = dp_device_run(n->d);
	return NULL;
}

static void hex(const uint8_t *k, char out[2 * WG_KEY_LEN + 1])
{
	for (int i = 0; i < WG_KEY_LEN; i++)
		sprintf(out + 2 * i, "%02x", k[i]);
}

static void node_start(struct node *n, int idx, const char *ifname, bool pipe, int workers)
{
	struct dp_config cfg = {.ifname = ifname, .uapi_socket = pipe};
	struct plat_tun *t;

	n->f = &fakes[idx];
	fake_init(n->f);
	assert_int_equal(crypto_x25519_keygen(n->priv, n->pub), 0);
	assert_int_equal(plat_win_tun_open_api(&fake_api, ifname, &t), 0);
	assert_int_equal(dp_win_device_new_tun(&cfg, t, &n->d), 0);
	assert_int_equal(dp_device_set_crypto_workers(n->d, workers), 0);
	assert_int_equal(dp_device_start(n->d), 0);
	assert_int_equal(dp_device_crypto_workers(n->d), (unsigned)workers);
	n->run_result = -1;
	assert_int_equal(pthread_create(&n->run_thread, NULL, run_main, n), 0);
}

static void node_stop(struct node *n)
{
	dp_device_stop(n->d);
	assert_int_equal(pthread_join(n->run_thread, NULL), 0);
	assert_int_equal(n->run_result, 0);
	dp_device_free(n->d);
	n->d = NULL;
	/* Teardown: the session ended, the adapter closed, every packet read was released. */
	assert_int_equal(n->f->sessions_open, 0);
	assert_int_equal(n->f->adapters_open, 0);
	assert_int_equal(n->f->rx_outstanding, 0);
	fake_done(n->f);
}

/* Apply a UAPI set body (the lines, without "set=1" and the final empty line). */
static void apply_text(struct dp_device *d, const char *text)
{
	struct uapi_set set;
	struct uapi_parser p;
	const char *s = text;

	uapi_parser_init(&p, &set);
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		uapi_parser_line(&p, s, len);
		s += len + (nl ? 1 : 0);
	}
	assert_int_equal(uapi_parser_finish(&p), 0);
	assert_int_equal(dp_device_apply(d, &set), 0);
	uapi_set_free(&set);
}

static void configure(struct node *self, const struct node *peer, const char *aips)
{
	char priv[2 * WG_KEY_LEN + 1], pub[2 * WG_KEY_LEN + 1], text[1024];

	hex(self->priv, priv);
	hex(peer->pub, pub);
	snprintf(text, sizeof(text),
		 "private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:%u\n"
		 "replace_allowed_ips=true\n%s",
		 priv, pub, dp_device_port(peer->d), aips);
	apply_text(self->d, text);
}

/* The value of key in a key=value reply (the first occurrence), or -1. */
static long long reply_value(const char *reply, const char *key)
{
	size_t kl = strlen(key);
	const char *s = reply;

	while (s && *s) {
		if (!strncmp(s, key, kl) && s[kl] == '=')
			return strtoll(s + kl + 1, NULL, 10);
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	return -1;
}

static long long get_value(struct dp_device *d, int (*fill)(struct dp_device *, struct strbuf *),
			   const char *key)
{
	struct strbuf out;
	long long v;

	strbuf_init(&out, 1 << 20);
	assert_int_equal(fill(d, &out), 0);
	v = reply_value(strbuf_str(&out), key);
	strbuf_free(&out);
	return v;
}

static long long stat_of(struct dp_device *d, const char *key)
{
	return get_value(d, dp_device_stats, key);
}

static long long rx_stat(struct dp_device *d, enum wg_rx_result r)
{
	char key[64];

	snprintf(key, sizeof(key), "rx_%s", wg_rx_result_name(r));
	return stat_of(d, key);
}

/* ---------------------------------------------------------------------------------------- */
/* Packets                                                                                   */

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 UDP packet of total length len from 10.9.0.s to 10.9.0.d, payload from seed. */
static size_t make_v4(uint8_t *pkt, size_t len, uint8_t s, uint8_t d, uint32_t seed)
{
	uint16_t c;

	memset(pkt, 0, 28);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
	memcpy(pkt + 12, (uint8_t[]){10, 9, 0, s}, 4);
	memcpy(pkt + 16, (uint8_t[]){10, 9, 0, d}, 4);
	c = ip_checksum(pkt, 20);
	pkt[10] = (uint8_t)(c >> 8);
	pkt[11] = (uint8_t)c;
	pkt[21] = 9;
	pkt[23] = 9;
	pkt[24] = (uint8_t)((len - 20) >> 8);
	pkt[25] = (uint8_t)(len - 20);
	for (size_t i = 28; i < len; i++)
		pkt[i] = (uint8_t)(seed * 131 + i * 7);
	return len;
}

/* An IPv6 UDP packet of total length len from fd09::s to fd09::d. */
static size_t make_v6(uint8_t *pkt, size_t len, uint8_t s, uint8_t d, uint32_t seed)
{
	memset(pkt, 0, 48);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)((len - 40) >> 8);
	pkt[5] = (uint8_t)(len - 40);
	pkt[6] = 17;
	pkt[7] = 64;
	pkt[8] = 0xfd;
	pkt[9] = 0x09;
	pkt[23] = s;
	pkt[24] = 0xfd;
	pkt[25] = 0x09;
	pkt[39] = d;
	pkt[41] = 9;
	pkt[43] = 9;
	pkt[44] = (uint8_t)((len - 40) >> 8);
	pkt[45] = (uint8_t)(len - 40);
	for (size_t i = 48; i < len; i++)
		pkt[i] = (uint8_t)(seed * 131 + i * 7);
	return len;
}

/* Send one packet into from's TUN and expect exactly it out of to's TUN. */
static void expect_through(struct node *from, struct node *to, const uint8_t *pkt, size_t len)
{
	BYTE *got = NULL;
	int n;

	inject(from->f, pkt, len);
	n = next_written(to->f, &got);
	if (n < 0)
		fail_msg("%s → %s: no packet within %d ms", dp_device_name(from->d),
			 dp_device_name(to->d), WAIT_MS);
	assert_int_equal(n, (int)len);
	assert_memory_equal(got, pkt, len);
}

/* ---------------------------------------------------------------------------------------- */
/* The tests                                                                                 */

static void test_packet_loop(void **state)
{
	static uint8_t pkt[FAKE_MAX_PKT];
	struct node a = {0}, b = {0};
	enum { BURST = 300 };
	long long a_tx, a_rx, b_tx, b_rx;
	size_t len;

	node_start(&a, 0, "wt0", false, 2); /* crypto workers */
	node_start(&b, 1, "wt1", false, 0); /* inline */
	configure(&a, &b, "allowed_ip=10.9.0.2/32\nallowed_ip=fd09::2/128\n");
	configure(&b, &a, "allowed_ip=10.9.0.1/32\nallowed_ip=fd09::1/128\n");

	/* The first packet waits in A's staging queue for the handshake, then arrives. */
	len = make_v4(pkt, 84, 1, 2, 1);
	expect_through(&a, &b, pkt, len);
	assert_int_equal(rx_stat(b.d, WG_RX_HANDSHAKE_INIT), 1);
	assert_int_equal(rx_stat(a.d, WG_RX_HANDSHAKE_RESP), 1);
	assert_true(get_value(a.d, dp_device_get, "last_handshake_time_sec") > 0);
	assert_true(get_value(b.d, dp_device_get, "last_handshake_time_sec") > 0);

	/* Back, on the session B answered with. */
	len = make_v4(pkt, 1420, 2, 1, 2);
	expect_through(&b, &a, pkt, len);
	len = make_v6(pkt, 104, 1, 2, 3);
	expect_through(&a, &b, pkt, len);
	len = make_v6(pkt, 1420, 2, 1, 4);
	expect_through(&b, &a, pkt, len);

	/* A burst each way, all queued at once: every packet, in order, byte for byte. */
	for (int dir = 0; dir < 2; dir++) {
		struct node *from = dir ? &b : &a, *to = dir ? &a : &b;
		uint8_t s = dir ? 2 : 1, d = dir ? 1 : 2;

		for (int i = 0; i < BURST; i++) {
			size_t l = 40 + (size_t)(i * 37) % 1380;

			len = i % 2 ? make_v6(pkt, l < 48 ? 48 : l, s, d, (uint32_t)i)
				    : make_v4(pkt, l, s, d, (uint32_t)i);
			inject(from->f, pkt, len);
		}
		for (int i = 0; i < BURST; i++) {
			size_t l = 40 + (size_t)(i * 37) % 1380;
			BYTE *got;
			int n;

			len = i % 2 ? make_v6(pkt, l < 48 ? 48 : l, s, d, (uint32_t)i)
				    : make_v4(pkt, l, s, d, (uint32_t)i);
			n = next_written(to->f, &got);
			if (n < 0)
				fail_msg("burst %d: packet %d of %d missing", dir, i, BURST);
			assert_int_equal(n, (int)len);
			assert_memory_equal(got, pkt, len);
		}
	}

	/* A packet to an address no peer has is counted, not sent. */
	len = make_v4(pkt, 60, 1, 99, 5);
	inject(a.f, pkt, len);
	for (int i = 0; i < 100 && stat_of(a.d, "tx_drop_no_peer") < 1; i++)
		Sleep(20);
	assert_int_equal(stat_of(a.d, "tx_drop_no_peer"), 1);

	/* Counters: what one side sent the other received, per packet and per byte. */
	assert_int_equal(stat_of(a.d, "tun_packets_read"), 3 + BURST);
	assert_int_equal(stat_of(b.d, "tun_packets_read"), 2 + BURST);
	assert_int_equal(rx_stat(b.d, WG_RX_DATA), 2 + BURST);
	assert_int_equal(rx_stat(a.d, WG_RX_DATA), 2 + BURST);
	assert_int_equal(rx_stat(a.d, WG_RX_DROP_DATA_AUTH), 0);
	assert_int_equal(rx_stat(b.d, WG_RX_DROP_INNER_SOURCE), 0);
	assert_int_equal(stat_of(a.d, "tx_drop_send_error"), 0);
	assert_int_equal(stat_of(b.d, "tx_drop_send_error"), 0);
	a_tx = get_value(a.d, dp_device_get, "tx_bytes");
	a_rx = get_value(a.d, dp_device_get, "rx_bytes");
	b_tx = get_value(b.d, dp_device_get, "tx_bytes");
	b_rx = get_value(b.d, dp_device_get, "rx_bytes");
	assert_true(a_tx > (long long)BURST * 40);
	assert_true(b_tx > (long long)BURST * 40);
	assert_int_equal(a_tx, b_rx);
	assert_int_equal(b_tx, a_rx);
	/* Nothing else came out of either TUN. */
	assert_int_equal(a.f->tx_n, a.f->tx_taken);
	assert_int_equal(b.f->tx_n, b.f->tx_taken);

	node_stop(&a);
	node_stop(&b);
}

/* One request through the real pipe; the reply. */
static char *call(const char *ifname, const char *req, int *ret)
{
	struct strbuf reply;
	char *s;

	strbuf_init(&reply, 1 << 20);
	*ret = plat_uapi_pipe_call(ifname, req, strlen(req), &reply);
	s = strdup(reply.len ? strbuf_str(&reply) : "");
	strbuf_free(&reply);
	assert_non_null(s);
	return s;
}

static void test_uapi_pipe(void **state)
{
	struct node n = {0};
	uint8_t peer_priv[WG_KEY_LEN], peer_pub[WG_KEY_LEN];
	char priv[2 * WG_KEY_LEN + 1], pub[2 * WG_KEY_LEN + 1], req[1024], want[1024];
	char *get1, *r;
	uint16_t port;
	int e;

	node_start(&n, 0, "wt0", true, 0);
	assert_int_equal(crypto_x25519_keygen(peer_priv, peer_pub), 0);
	hex(n.priv, priv);
	hex(peer_pub, pub);
	/* A free port: bind one, close it, ask for it. */
	port = (uint16_t)(40000 + GetCurrentProcessId() % 20000);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nlisten_port=%u\npublic_key=%s\nendpoint=127.0.0.1:51820\n"
		 "allowed_ip=10.9.0.2/32\nallowed_ip=fd09::/64\n\n",
		 priv, port, pub);
	r = call("wt0", req, &e);
	assert_int_equal(e, 0);
	assert_string_equal(r, "errno=0\n\n");
	free(r);
	assert_int_equal(dp_device_port(n.d), port);

	get1 = call("wt0", "get=1\n\n", &e);
	assert_int_equal(e, 0);
	snprintf(want, sizeof(want),
		 "private_key=%s\nlisten_port=%u\npublic_key=%s\n"
		 "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
		 "protocol_version=1\nendpoint=127.0.0.1:51820\n",
		 priv, port, pub);
	assert_non_null(strstr(get1, want));
	assert_non_null(strstr(get1, "\npersistent_keepalive_interval=0\n"));
	assert_non_null(strstr(get1, "\nallowed_ip=10.9.0.2/32\n"));
	assert_non_null(strstr(get1, "\nallowed_ip=fd09::/64\n"));
	assert_non_null(strstr(get1, "\nrx_bytes=0\n"));
	assert_int_equal(strlen(get1) - strlen("errno=0\n\n"),
			 (size_t)(strstr(get1, "errno=0\n\n") - get1));

	/* Garbage in a set, or valid lines then a bad one: errno=-22 and nothing changed. */
	char bad_aip[256];
	const char *const bad[] = {
		"set=1\nthis is garbage\n\n",
		"set=1\nlisten_port=1\nno_such_key=1\n\n",
		"set=1\nprivate_key=zz\n\n",
		"set=1\npublic_key=0000\n\n",
		bad_aip,
	};
	snprintf(bad_aip, sizeof(bad_aip),
		 "set=1\nlisten_port=1\npublic_key=%s\nremove=true\nallowed_ip=10.9.0.300/32\n\n",
		 pub);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *g;

		r = call("wt0", bad[i], &e);
		assert_int_equal(e, 0);
		assert_string_equal(r, "errno=-22\n\n");
		free(r);
		g = call("wt0", "get=1\n\n", &e);
		assert_int_equal(e, 0);
		assert_string_equal(g, get1);
		free(g);
		assert_int_equal(dp_device_port(n.d), port);
	}

	/* An unknown operation is hung up on, with no reply; the server serves on. */
	r = call("wt0", "hello=1\n\n", &e);
	assert_int_equal(e, -EPIPE);
	assert_string_equal(r, "");
	free(r);

	/* stats=1, weft's extra operation. */
	r = call("wt0", "stats=1\n\n", &e);
	assert_int_equal(e, 0);
	assert_non_null(strstr(r, "interface=wt0\n"));
	snprintf(want, sizeof(want), "\nlisten_port=%u\n", port);
	assert_non_null(strstr(r, want));
	assert_non_null(strstr(r, "\nrx_data=0\n"));
	assert_string_equal(r + strlen(r) - 9, "errno=0\n\n");
	free(r);

	/* Removing the peer through the pipe. */
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nremove=true\n\n", pub);
	r = call("wt0", req, &e);
	assert_int_equal(e, 0);
	assert_string_equal(r, "errno=0\n\n");
	free(r);
	r = call("wt0", "get=1\n\n", &e);
	assert_null(strstr(r, "public_key="));
	free(r);
	free(get1);

	node_stop(&n);
	/* The pipe went with the device. */
	r = call("wt0", "get=1\n\n", &e);
	assert_int_equal(e, -ENOENT);
	free(r);
}

/* Console events (the handler dp_device_run installs; Wine cannot raise them). */
static atomic_bool close_returned;

static void *close_event(void *arg)
{
	bool *handled = arg;

	*handled = dp_win_console_event(CTRL_CLOSE_EVENT);
	atomic_store(&close_returned, true);
	return NULL;
}

static void wait_run_returned(struct node *n)
{
	ULONGLONG t0 = GetTickCount64();

	while (n->run_result != 0 && GetTickCount64() - t0 < WAIT_MS)
		Sleep(10);
	assert_int_equal(n->run_result, 0);
}

static void test_console_events(void **state)
{
	struct node n = {0};
	pthread_t t;
	bool handled = false;

	/* Not ours, or nothing running: left to the next handler. */
	assert_false(dp_win_console_event(CTRL_C_EVENT));
	node_start(&n, 1, "wt1", false, 0);
	Sleep(100); /* dp_device_run is running */
	assert_false(dp_win_console_event(0x7f));
	assert_true(dp_win_console_event(CTRL_C_EVENT));
	wait_run_returned(&n);
	node_stop(&n);

	/* Close: the device stops, and the handler returns only once it was freed. */
	node_start(&n, 1, "wt1", false, 0);
	Sleep(100);
	atomic_store(&close_returned, false);
	assert_int_equal(pthread_create(&t, NULL, close_event, &handled), 0);
	wait_run_returned(&n);
	Sleep(300);
	assert_false(atomic_load(&close_returned));
	node_stop(&n);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(handled);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packet_loop),
		cmocka_unit_test(test_uapi_pipe),
		cmocka_unit_test(test_console_events),
	};

	if (crypto_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

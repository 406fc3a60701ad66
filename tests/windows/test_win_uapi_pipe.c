/* SPDX-License-Identifier: MIT */
/*
 * The named-pipe UAPI (platform/windows/uapi_pipe.c) with the dataplane's codec
 * (dataplane/uapi.c, compiled unmodified for Windows) behind it, server and client in one
 * process: set then get round trip, a bad set changes nothing, garbage and unknown
 * operations are hung up on while the server keeps serving, overlong lines, set requests
 * that end at EOF (applied), a second server refused, a stop with a client attached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dataplane/uapi.h"
#include "platform/windows/uapi_pipe.h"

/* ---------------------------------------------------------------------------------------- */
/* A tiny device: the configuration the codec parses and formats                            */

enum { MAX_PEERS = 8, MAX_AIPS = 16, PORT_IN_USE = 4242 };
#define PORT_IN_USE_STR "4242"

struct tpeer {
	uint8_t key[WG_KEY_LEN];
	bool has_endpoint;
	struct wg_endpoint endpoint;
	uint16_t keepalive;
	struct uapi_allowed_ip aips[MAX_AIPS];
	size_t n_aips;
};

static struct tdev {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN];
	uint16_t listen_port;
	struct tpeer peers[MAX_PEERS];
	size_t n_peers;
	int sets_applied, sets_aborted;
} D;

static CRITICAL_SECTION lock;

struct treq {
	struct uapi_set set;
	struct uapi_parser p;
};

static int dev_get(void *ctx, struct strbuf *out)
{
	struct uapi_get_peer gp[MAX_PEERS];
	struct uapi_get g = {.peers = gp};
	size_t i;
	int r;

	EnterCriticalSection(&lock);
	memset(gp, 0, sizeof(gp));
	g.has_private_key = D.has_private_key;
	memcpy(g.private_key, D.private_key, WG_KEY_LEN);
	g.listen_port = D.listen_port;
	g.n_peers = D.n_peers;
	for (i = 0; i < D.n_peers; i++) {
		memcpy(gp[i].public_key, D.peers[i].key, WG_KEY_LEN);
		gp[i].has_endpoint = D.peers[i].has_endpoint;
		gp[i].endpoint = D.peers[i].endpoint;
		gp[i].keepalive = D.peers[i].keepalive;
		gp[i].allowed_ips = D.peers[i].aips;
		gp[i].n_allowed_ips = D.peers[i].n_aips;
	}
	r = uapi_format_get(out, &g);
	LeaveCriticalSection(&lock);
	return r;
}

static void *dev_set_begin(void *ctx)
{
	struct treq *q = calloc(1, sizeof(*q));

	if (q)
		uapi_parser_init(&q->p, &q->set);
	return q;
}

static void dev_set_line(void *state, const char *line, size_t len)
{
	struct treq *q = state;

	uapi_parser_line(&q->p, line, len);
}

static int apply(const struct uapi_set *s)
{
	size_t i, j;

	if (s->n_peers > MAX_PEERS)
		return -ENOSPC;
	if (s->has_private_key) {
		D.has_private_key = !crypto_is_zero(s->private_key, WG_KEY_LEN);
		memcpy(D.private_key, s->private_key, WG_KEY_LEN);
	}
	if (s->has_listen_port && s->listen_port == PORT_IN_USE)
		return -EADDRINUSE; /* as the device says when the port cannot be bound */
	if (s->has_listen_port)
		D.listen_port = s->listen_port;
	if (s->replace_peers)
		D.n_peers = 0;
	for (i = 0; i < s->n_peers; i++) {
		const struct uapi_peer *up = &s->peers[i];
		struct tpeer *p = NULL;

		for (j = 0; j < D.n_peers; j++)
			if (!memcmp(D.peers[j].key, up->public_key, WG_KEY_LEN))
				p = &D.peers[j];
		if (up->remove) {
			if (p)
				*p = D.peers[--D.n_peers];
			continue;
		}
		if (!p) {
			if (D.n_peers == MAX_PEERS)
				return -ENOSPC;
			p = &D.peers[D.n_peers++];
			memset(p, 0, sizeof(*p));
			memcpy(p->key, up->public_key, WG_KEY_LEN);
		}
		if (up->has_endpoint) {
			p->has_endpoint = true;
			p->endpoint = up->endpoint;
		}
		if (up->has_keepalive)
			p->keepalive = up->keepalive;
		if (up->replace_allowed_ips)
			p->n_aips = 0;
		for (j = 0; j < up->n_allowed_ips && p->n_aips < MAX_AIPS; j++)
			p->aips[p->n_aips++] = up->allowed_ips[j];
	}
	return 0;
}

static int dev_set_finish(void *state, bool complete)
{
	struct treq *q = state;
	int r = -EPROTO;

	EnterCriticalSection(&lock);
	if (!complete) {
		D.sets_aborted++;
	} else {
		r = uapi_parser_finish(&q->p);
		if (r == 0)
			r = apply(&q->set);
		if (r == 0)
			D.sets_applied++;
	}
	LeaveCriticalSection(&lock);
	uapi_set_free(&q->set);
	free(q);
	return complete ? r : 0;
}

static const struct plat_uapi_ops ops = {
	.get = dev_get,
	.set_begin = dev_set_begin,
	.set_line = dev_set_line,
	.set_finish = dev_set_finish,
};

/* ---------------------------------------------------------------------------------------- */

#define IFNAME "weft-test-pipe"
#define PRIV   "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define PUB    "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define PUB2   "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"

static struct plat_uapi_pipe *server;

static int setup(void **state)
{
	InitializeCriticalSection(&lock);
	memset(&D, 0, sizeof(D));
	if (plat_uapi_pipe_open(IFNAME, &ops, NULL, &server) < 0) {
		print_error("plat_uapi_pipe_open: %s\n", plat_win_last_error());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	plat_uapi_pipe_close(server);
	DeleteCriticalSection(&lock);
	return 0;
}

/* One request; the reply (NUL-terminated) in *out, caller frees with strbuf_free. */
static int call(const char *req, size_t len, struct strbuf *out)
{
	strbuf_init(out, 1 << 20);
	return plat_uapi_pipe_call(IFNAME, req, len, out);
}

static void expect_reply(const char *req, const char *want)
{
	struct strbuf out;

	assert_int_equal(call(req, strlen(req), &out), 0);
	assert_string_equal(strbuf_str(&out), want);
	strbuf_free(&out);
}

static void test_path(void **state)
{
	wchar_t p[PLAT_UAPI_PIPE_PATH_MAX];

	assert_int_equal(plat_uapi_pipe_path("wg0", p), 0);
	assert_true(wcscmp(p, L"\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\wg0") ==
		    0);
	assert_int_equal(plat_uapi_pipe_path("", p), -EINVAL);
	assert_int_equal(plat_uapi_pipe_path("a\\b", p), -EINVAL);
	assert_int_equal(plat_uapi_pipe_path("a/b", p), -EINVAL);
	assert_int_equal(plat_uapi_pipe_path("bad\xff", p), -EINVAL);
}

static void test_round_trip(void **state)
{
	static const char set[] = "set=1\n"
				  "private_key=" PRIV "\n"
				  "listen_port=51820\n"
				  "replace_peers=true\n"
				  "public_key=" PUB "\n"
				  "endpoint=198.18.0.2:51820\n"
				  "persistent_keepalive_interval=25\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=10.200.0.0/16\n"
				  "allowed_ip=fd00::/64\n"
				  "public_key=" PUB2 "\n"
				  "endpoint=[fd00::2]:443\n"
				  "\n";
	static const char want[] =
		"private_key=" PRIV "\n"
		"listen_port=51820\n"
		"public_key=" PUB "\n"
		"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
		"protocol_version=1\n"
		"endpoint=198.18.0.2:51820\n"
		"last_handshake_time_sec=0\n"
		"last_handshake_time_nsec=0\n"
		"tx_bytes=0\n"
		"rx_bytes=0\n"
		"persistent_keepalive_interval=25\n"
		"allowed_ip=10.200.0.0/16\n"
		"allowed_ip=fd00::/64\n"
		"public_key=" PUB2 "\n"
		"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
		"protocol_version=1\n"
		"endpoint=[fd00::2]:443\n"
		"last_handshake_time_sec=0\n"
		"last_handshake_time_nsec=0\n"
		"tx_bytes=0\n"
		"rx_bytes=0\n"
		"persistent_keepalive_interval=0\n"
		"errno=0\n"
		"\n";

	expect_reply(set, "errno=0\n\n");
	assert_int_equal(D.sets_applied, 1);
	expect_reply("get=1\n\n", want);

	/* A bad line anywhere: errno=-22 and nothing changes. */
	expect_reply("set=1\nlisten_port=1\npublic_key=" PUB "\nallowed_ip=10.0.0.0/33\n\n",
		     "errno=-22\n\n");
	expect_reply("set=1\nlisten_port=1\nnot_a_key=1\n\n", "errno=-22\n\n");
	/* Errors in the protocol's (Linux's) numbers, as wireguard-go answers on Windows too. */
	expect_reply("set=1\nlisten_port=" PORT_IN_USE_STR "\n\n", "errno=-98\n\n");
	assert_int_equal(D.sets_applied, 1);
	expect_reply("get=1\n\n", want);

	/* Two requests on one connection, as wg does not but the protocol allows. */
	{
		static const char two[] = "set=1\nlisten_port=51821\n\nget=1\n\n";
		struct strbuf out;

		assert_int_equal(call(two, sizeof(two) - 1, &out), 0);
		/*
		 * The set's reply comes first. The client stops once what it has read ends
		 * with a complete reply: the set's alone, or, when the server was quick enough
		 * to answer the get before the client's read, both (seen under load).
		 */
		assert_true(!strncmp(strbuf_str(&out), "errno=0\n\n", 9));
		if (out.len > 9) {
			/* then the get's reply, which already sees the new port */
			assert_true(!strncmp(strbuf_str(&out) + 9, "private_key=" PRIV "\n"
						 "listen_port=51821\n", 12 + 64 + 1 + 18));
			assert_string_equal(strbuf_str(&out) + out.len - 9, "errno=0\n\n");
		}
		strbuf_free(&out);
		assert_int_equal(D.listen_port, 51821);
	}
}

static void test_garbage(void **state)
{
	static const char *const hang_ups[] = {
		"hello\n\n",
		"GET / HTTP/1.1\r\n\r\n",
		"get=2\n\n",
		"\n",
	};
	char junk[3000], *line;
	struct strbuf out;
	unsigned i;

	expect_reply("set=1\nlisten_port=4000\n\n", "errno=0\n\n");
	for (i = 0; i < sizeof(hang_ups) / sizeof(hang_ups[0]); i++) {
		assert_int_equal(call(hang_ups[i], strlen(hang_ups[i]), &out), -EPIPE);
		assert_int_equal(out.len, 0);
		strbuf_free(&out);
	}
	/* get=1 must be followed by the empty line */
	expect_reply("get=1\nlisten_port=1\n\n", "errno=-22\n\n");

	/* binary junk, NULs included */
	srand(7);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)rand();
	junk[0] = 's';
	assert_true(call(junk, sizeof(junk), &out) < 0);
	strbuf_free(&out);

	/* a line longer than the limit: errno=-22, then hung up */
	line = malloc(PLAT_UAPI_MAX_LINE + 100);
	memcpy(line, "set=1\nprivate_key=", 18);
	memset(line + 18, 'a', PLAT_UAPI_MAX_LINE + 100 - 20);
	line[PLAT_UAPI_MAX_LINE + 98] = '\n';
	line[PLAT_UAPI_MAX_LINE + 99] = '\n';
	assert_int_equal(call(line, PLAT_UAPI_MAX_LINE + 100, &out), 0);
	assert_string_equal(strbuf_str(&out), "errno=-22\n\n");
	strbuf_free(&out);
	free(line);

	/*
	 * 200 random requests, a third of them behind a real operation line: each ends (reply or
	 * hang-up) within the timeouts, and none changes the configuration.
	 */
	for (i = 0; i < 200; i++) {
		static const char *const heads[] = {"set=1\n", "get=1\n", ""};
		const char *head = heads[i % 3];
		size_t hl = strlen(head), len = hl + 1 + (size_t)rand() % 600, j;
		char *req = malloc(len + 2);

		memcpy(req, head, hl);
		for (j = hl; j < len; j++) {
			int c = rand() % 64;

			req[j] = c == 0 ? '\n' : c == 1 ? '=' : c == 2 ? 0 : (char)(rand() & 0xff);
		}
		req[len] = '\n';
		req[len + 1] = '\n';
		call(req, len + 2, &out);
		strbuf_free(&out);
		free(req);
	}
	assert_int_equal(D.listen_port, 4000);
	assert_int_equal(D.n_peers, 2); /* the two peers the round trip set */

	/* the server is still there and nothing changed */
	assert_int_equal(D.listen_port, 4000);
	expect_reply("set=1\nlisten_port=4001\n\n", "errno=0\n\n");
	assert_int_equal(D.listen_port, 4001);
}

/* Write req on a fresh connection and close it without reading (the request ends at EOF). */
static void send_and_close(const char *req)
{
	wchar_t path[PLAT_UAPI_PIPE_PATH_MAX];
	DWORD n;
	HANDLE h;

	assert_int_equal(plat_uapi_pipe_path(IFNAME, path), 0);
	assert_true(WaitNamedPipeW(path, 5000));
	h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	assert_true(WriteFile(h, req, (DWORD)strlen(req), &n, NULL));
	CloseHandle(h);
}

static void test_client_ends_at_eof(void **state)
{
	int aborted = D.sets_aborted, applied = D.sets_applied;

	/*
	 * A set request without its empty line, the last line with or without '\n', then EOF:
	 * complete there and applied, as wireguard-go does, if the server read it before the
	 * client was gone (else never seen). Never discarded as a broken request.
	 */
	send_and_close("set=1\nlisten_port=9\n");
	send_and_close("set=1\nlisten_port=11");
	/* An operation line cut by EOF is nothing: no reply, nothing applied. */
	send_and_close("set=1");
	/* The next client is served after those were dealt with. */
	expect_reply("set=1\nlisten_port=10\n\n", "errno=0\n\n");
	assert_int_equal(D.sets_aborted, aborted);
	assert_true(D.sets_applied >= applied + 1 && D.sets_applied <= applied + 3);
	print_message("sets ended by EOF and applied: %d of 2\n", D.sets_applied - applied - 1);
	assert_int_equal(D.listen_port, 10);
}

static void test_second_server_and_absent(void **state)
{
	struct plat_uapi_pipe *other = NULL;
	struct strbuf out;

	assert_int_equal(plat_uapi_pipe_open(IFNAME, &ops, NULL, &other), -EADDRINUSE);
	assert_null(other);
	print_message("second server: %s\n", plat_win_last_error());
	strbuf_init(&out, 1024);
	assert_int_equal(plat_uapi_pipe_call("weft-nobody", "get=1\n\n", 7, &out), -ENOENT);
	strbuf_free(&out);
}

static void test_stop_with_idle_client(void **state)
{
	wchar_t path[PLAT_UAPI_PIPE_PATH_MAX];
	struct plat_uapi_pipe *p = NULL;
	ULONGLONG t0;
	HANDLE h;

	assert_int_equal(plat_uapi_pipe_open("weft-test-stop", &ops, NULL, &p), 0);
	assert_int_equal(plat_uapi_pipe_path("weft-test-stop", path), 0);
	h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	Sleep(100); /* the server is now waiting for the client's first line */
	t0 = GetTickCount64();
	plat_uapi_pipe_close(p);
	assert_true(GetTickCount64() - t0 < 2000); /* not the 5 s read timeout */
	CloseHandle(h);
	/* the name is free again */
	assert_int_equal(plat_uapi_pipe_open("weft-test-stop", &ops, NULL, &p), 0);
	plat_uapi_pipe_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_client_ends_at_eof),
		cmocka_unit_test(test_second_server_and_absent),
		cmocka_unit_test(test_stop_with_idle_client),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

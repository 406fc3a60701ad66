/* SPDX-License-Identifier: MIT */
/*
 * daemon/relay: the relay's thread and sockets against a small TURN server in this process
 * (127.0.0.1; tests/e2e/relay_turn.sh runs it against coturn). The server answers Allocate
 * (401, then success), Refresh, CreatePermission and ChannelBind with MESSAGE-INTEGRITY,
 * records what the relay sends to peers (Send indications and ChannelData), and injects Data
 * indications from made-up peers. Checked: a peer's payload reaches the device from that
 * peer's own forwarder and the device's answer reaches the server for that peer, byte for
 * byte; remote_of; datagrams to a forwarder from anyone but the device, and to the TURN
 * socket from anyone but the server, go nowhere; the cap of forwarders (the longest idle one
 * gives way); deallocation on free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/relay.h"
#include "overlay/stun.h"

#define USER  "node-b"
#define PASS  "pw-b"
#define REALM "fake"

static const struct wg_endpoint relayed = {
	.family = WG_AF_INET, .port = 50000, .addr = {198, 18, 99, 1}};

/* --- the fake server --- */

struct sent {
	struct wg_endpoint peer;
	uint8_t data[256];
	size_t len;
	bool channel;
};

static struct {
	int fd;
	struct sockaddr_in addr, client;
	bool have_client;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	uint8_t key[16];
	struct wg_endpoint chan_peer[16]; /* by channel - 0x4000 */
	struct sent sent[8];
	unsigned nsent;
	unsigned deallocations, allocations;
} srv;

static void srv_reply(const uint8_t *buf, size_t len)
{
	sendto(srv.fd, buf, len, 0, (struct sockaddr *)&srv.client, sizeof(srv.client));
}

static void srv_answer(const struct ov_stun_msg *m)
{
	struct ov_stun_builder b;
	struct wg_endpoint mapped = {.family = WG_AF_INET, .port = ntohs(srv.client.sin_port)};
	uint8_t out[512];
	int len;

	memcpy(mapped.addr, &srv.client.sin_addr, 4);
	if (!m->has_integrity) {
		ov_stun_begin(&b, out, sizeof(out), m->method, OV_STUN_ERROR, m->txid);
		ov_stun_add_error(&b, 401, "Unauthorized");
		ov_stun_add_string(&b, OV_STUN_ATTR_REALM, REALM);
		ov_stun_add_string(&b, OV_STUN_ATTR_NONCE, "nonce");
		len = ov_stun_end(&b);
		srv_reply(out, (size_t)len);
		return;
	}
	ov_stun_begin(&b, out, sizeof(out), m->method, OV_STUN_SUCCESS, m->txid);
	switch (m->method) {
	case OV_STUN_ALLOCATE:
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, 600);
		srv.allocations++;
		break;
	case OV_STUN_REFRESH:
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, m->lifetime);
		if (m->has_lifetime && m->lifetime == 0)
			srv.deallocations++;
		break;
	case OV_STUN_CHANNEL_BIND:
		if (m->channel >= 0x4000 && m->channel < 0x4010)
			srv.chan_peer[m->channel - 0x4000] = m->xor_peer;
		break;
	}
	ov_stun_add_integrity(&b, srv.key, sizeof(srv.key));
	len = ov_stun_end(&b);
	srv_reply(out, (size_t)len);
}

static void srv_record(const struct wg_endpoint *peer, const uint8_t *data, size_t len,
		       bool channel)
{
	struct sent *s = &srv.sent[srv.nsent % 8];

	s->peer = *peer;
	s->len = len < sizeof(s->data) ? len : sizeof(s->data);
	memcpy(s->data, data, s->len);
	s->channel = channel;
	srv.nsent++;
}

static void *srv_main(void *arg)
{
	uint8_t buf[2048];

	(void)arg;
	for (;;) {
		struct pollfd p = {.fd = srv.fd, .events = POLLIN};
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		struct ov_stun_msg m;
		ssize_t n;

		pthread_mutex_lock(&srv.lock);
		if (srv.stop) {
			pthread_mutex_unlock(&srv.lock);
			return NULL;
		}
		pthread_mutex_unlock(&srv.lock);
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvfrom(srv.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		pthread_mutex_lock(&srv.lock);
		srv.client = from;
		srv.have_client = true;
		if (ov_stun_is_channel_data(buf, (size_t)n)) {
			uint16_t ch;
			const uint8_t *d;
			size_t dl;

			ov_stun_channel_data_parse(buf, (size_t)n, &ch, &d, &dl);
			if (ch >= 0x4000 && ch < 0x4010)
				srv_record(&srv.chan_peer[ch - 0x4000], d, dl, true);
		} else if (ov_stun_parse(buf, (size_t)n, &m, NULL, 0) == 0) {
			if (m.cls == OV_STUN_REQUEST)
				srv_answer(&m);
			else if (m.cls == OV_STUN_INDICATION && m.method == OV_STUN_SEND)
				srv_record(&m.xor_peer, m.data, m.data_len, false);
		}
		pthread_mutex_unlock(&srv.lock);
	}
}

static void srv_start(void)
{
	socklen_t sl = sizeof(srv.addr);

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	assert_int_equal(ov_stun_long_term_key(srv.key, USER, REALM, strlen(REALM), PASS), 0);
	srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	srv.addr.sin_family = AF_INET;
	srv.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(srv.fd, (struct sockaddr *)&srv.addr, sizeof(srv.addr)), 0);
	assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&srv.addr, &sl), 0);
	assert_int_equal(pthread_create(&srv.thread, NULL, srv_main, NULL), 0);
}

static void srv_stop(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.stop = true;
	pthread_mutex_unlock(&srv.lock);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
}

/* A Data indication from peer, as the server relays what a peer sent to the relayed address. */
static void srv_inject(const struct wg_endpoint *peer, const void *data, size_t len)
{
	struct ov_stun_builder b;
	uint8_t out[512], txid[12] = {1};
	int n;

	ov_stun_begin(&b, out, sizeof(out), OV_STUN_DATA, OV_STUN_INDICATION, txid);
	ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, peer);
	ov_stun_add_bytes(&b, OV_STUN_ATTR_DATA, data, len);
	n = ov_stun_end(&b);
	pthread_mutex_lock(&srv.lock);
	srv_reply(out, (size_t)n);
	pthread_mutex_unlock(&srv.lock);
}

/* --- the device --- */

static int udp_lo(uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static ssize_t recv_within(int fd, void *buf, size_t cap, struct wg_endpoint *from, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&sa, &sl);
	if (from) {
		*from = (struct wg_endpoint){.family = WG_AF_INET, .port = ntohs(sa.sin_port)};
		memcpy(from->addr, &sa.sin_addr, 4);
	}
	return n;
}

static void send_lo(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

static struct wg_endpoint peer_n(unsigned i)
{
	struct wg_endpoint p = {.family = WG_AF_INET,
				.port = (uint16_t)(10000 + i),
				.addr = {198, 18, (uint8_t)(i >> 8), (uint8_t)i}};

	return p;
}

static bool wait_sent(unsigned n, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		bool ok;

		pthread_mutex_lock(&srv.lock);
		ok = srv.nsent >= n;
		pthread_mutex_unlock(&srv.lock);
		if (ok)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_relay(void **state)
{
	struct dmn_relay_config cfg;
	struct dmn_relay_status st;
	struct dmn_relay *r;
	struct wg_endpoint p1 = peer_n(1), lp1, lp, back;
	uint8_t buf[2048];
	uint16_t wg_port, fport;
	int dev, foreign, i;
	ssize_t n;

	(void)state;
	assert_int_equal(crypto_init(), 0);
	srv_start();
	dev = udp_lo(&wg_port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = (struct wg_endpoint){
		.family = WG_AF_INET, .port = ntohs(srv.addr.sin_port), .addr = {127, 0, 0, 1}};
	snprintf(cfg.user, sizeof(cfg.user), USER);
	snprintf(cfg.pass, sizeof(cfg.pass), PASS);
	cfg.wg_port = wg_port;
	assert_int_equal(dmn_relay_start(&cfg, &r), 0);
	for (i = 0; i < 200; i++) {
		dmn_relay_status(r, &st);
		if (st.state == DMN_RELAY_ALLOCATED)
			break;
		usleep(10000);
	}
	assert_int_equal(st.state, DMN_RELAY_ALLOCATED);
	assert_memory_equal(&st.relayed, &relayed, sizeof(relayed));

	/* Peer -> device, from the peer's own forwarder. */
	srv_inject(&p1, "initiation", 10);
	n = recv_within(dev, buf, sizeof(buf), &lp1, 2000);
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "initiation", 10);
	assert_true(dmn_relay_remote_of(r, &lp1, &back));
	assert_memory_equal(&back, &p1, sizeof(p1));
	lp = lp1;
	lp.port++;
	assert_false(dmn_relay_remote_of(r, &lp, &back));

	/* Device -> peer, through the server, for that peer. */
	send_lo(dev, lp1.port, "response", 8);
	assert_true(wait_sent(1, 2000));
	pthread_mutex_lock(&srv.lock);
	assert_memory_equal(&srv.sent[0].peer, &p1, sizeof(p1));
	assert_int_equal(srv.sent[0].len, 8);
	assert_memory_equal(srv.sent[0].data, "response", 8);
	pthread_mutex_unlock(&srv.lock);
	/* Once the channel is bound: ChannelData. */
	for (i = 0; i < 200; i++) {
		dmn_relay_status(r, &st);
		if (st.channels_bound == 1)
			break;
		usleep(10000);
	}
	assert_int_equal(st.channels_bound, 1);
	send_lo(dev, lp1.port, "data", 4);
	assert_true(wait_sent(2, 2000));
	pthread_mutex_lock(&srv.lock);
	assert_true(srv.sent[1].channel);
	assert_memory_equal(&srv.sent[1].peer, &p1, sizeof(p1));
	assert_memory_equal(srv.sent[1].data, "data", 4);
	pthread_mutex_unlock(&srv.lock);

	/* Someone else on the host: to the forwarder (dropped, counted), and to the TURN socket
	 * posing as the server (the socket is connected: the kernel drops it). */
	foreign = udp_lo(&fport);
	send_lo(foreign, lp1.port, "spoof", 5);
	{
		struct sockaddr_in c;

		pthread_mutex_lock(&srv.lock);
		c = srv.client;
		pthread_mutex_unlock(&srv.lock);
		send_lo(foreign, ntohs(c.sin_port), "x", 1);
	}
	usleep(200000);
	dmn_relay_status(r, &st);
	assert_int_equal(st.dropped_foreign, 1);
	assert_int_equal(st.dropped_server, 0);
	assert_false(wait_sent(3, 100));
	close(foreign);

	/* The cap: DMN_RELAY_MAX_REMOTES forwarders; the longest idle gives way. */
	for (i = 2; i <= DMN_RELAY_MAX_REMOTES + 1; i++) {
		struct wg_endpoint p = peer_n((unsigned)i), from;

		srv_inject(&p, &i, sizeof(i));
		n = recv_within(dev, buf, sizeof(buf), &from, 2000);
		assert_int_equal(n, sizeof(i));
		assert_memory_equal(buf, &i, sizeof(i));
		assert_true(dmn_relay_remote_of(r, &from, &back));
		assert_memory_equal(&back, &p, sizeof(p));
	}
	dmn_relay_status(r, &st);
	assert_int_equal(st.remotes, DMN_RELAY_MAX_REMOTES);
	assert_false(dmn_relay_remote_of(r, &lp1, &back)); /* p1 was the longest idle */
	assert_int_equal(st.packets_from_peers, 1 + DMN_RELAY_MAX_REMOTES);
	assert_int_equal(st.packets_to_peers, 2);

	/* Free: deallocates. */
	dmn_relay_free(r);
	for (i = 0; i < 100; i++) {
		unsigned d;

		pthread_mutex_lock(&srv.lock);
		d = srv.deallocations;
		pthread_mutex_unlock(&srv.lock);
		if (d)
			break;
		usleep(10000);
	}
	assert_int_equal(srv.deallocations, 1);
	assert_int_equal(srv.allocations, 1);
	srv_stop();
	close(dev);
	dmn_relay_free(NULL);
}

static void test_bad_config(void **state)
{
	struct dmn_relay_config cfg;
	struct dmn_relay *r = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(dmn_relay_start(&cfg, &r), -EINVAL); /* no server */
	cfg.server =
		(struct wg_endpoint){.family = WG_AF_INET, .port = 3478, .addr = {127, 0, 0, 1}};
	assert_int_equal(dmn_relay_start(&cfg, &r), -EINVAL); /* no wg_port */
	cfg.wg_port = 51820;
	memset(cfg.user, 'x', sizeof(cfg.user));
	assert_int_equal(dmn_relay_start(&cfg, &r), -EINVAL); /* user not terminated */
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The control channels' handshake (ctl/handshake.c) and channel (ctl/chan.c):
 * - both kinds complete and give mirrored transport keys;
 * - every byte of message 1 and of message 2 tampered: refused, and the untampered message
 *   still completes afterwards (a refusal leaves nothing behind);
 * - a responder that is not the key the initiator aimed at (an on-path holder of the token
 *   secret) cannot read message 1, and a wrong psk fails message 2;
 * - over a socket pair: a refused key never gets message 2; a sealed frame tampered in
 *   flight does not open; a frame over the pre-authentication cap is refused from its header
 *   alone; a sender that trickles runs into the deadline;
 * - a connection under way (ctl_connect_begin/wait) ends at once when another thread shuts
 *   its socket down (what a stopping weftd does to its calls), not at its timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "ctl/chan.h"
#include "ctl/handshake.h"

struct keys {
	uint8_t i_priv[32], i_pub[32], r_priv[32], r_pub[32], ei[32], er[32], psk[32];
};

static void make_keys(struct keys *k)
{
	assert_int_equal(crypto_x25519_keygen(k->i_priv, k->i_pub), 0);
	assert_int_equal(crypto_x25519_keygen(k->r_priv, k->r_pub), 0);
	assert_int_equal(crypto_random(k->ei, 32), 0);
	assert_int_equal(crypto_random(k->er, 32), 0);
	assert_int_equal(crypto_random(k->psk, 32), 0);
	crypto_x25519_clamp(k->ei);
	crypto_x25519_clamp(k->er);
}

static int setup(void **state)
{
	(void)state;
	return crypto_init();
}

static void test_roundtrip(void **state)
{
	static const uint8_t id[CTL_HS_JOIN_PAYLOAD_LEN] = "0123456789abcdef";

	(void)state;
	for (int kind = CTL_HS_OVERLAY; kind <= CTL_HS_JOIN; kind++) {
		const uint8_t *payload = kind == CTL_HS_JOIN ? id : NULL;
		uint8_t m1[CTL_HS_MSG1_MAX], m2[CTL_HS_MSG2_LEN], got[CTL_HS_JOIN_PAYLOAD_LEN];
		struct ctl_hs i, r;
		struct ctl_keys ki, kr;
		struct keys k;

		make_keys(&k);
		assert_int_equal(ctl_hs_init(&i, kind, true, k.i_priv, k.r_pub), 0);
		assert_int_equal(ctl_hs_init(&r, kind, false, k.r_priv, NULL), 0);
		assert_int_equal(ctl_hs_write1(&i, k.ei, payload, m1), 0);
		assert_int_equal(ctl_hs_read1(&r, m1, ctl_hs_msg1_len(kind), got), 0);
		assert_memory_equal(r.remote_static, k.i_pub, 32);
		if (payload)
			assert_memory_equal(got, id, sizeof(id));
		assert_int_equal(ctl_hs_write2(&r, k.er, kind == CTL_HS_JOIN ? k.psk : NULL, m2, &kr),
				 0);
		assert_int_equal(ctl_hs_read2(&i, kind == CTL_HS_JOIN ? k.psk : NULL, m2, sizeof(m2),
					      &ki),
				 0);
		assert_memory_equal(ki.tx, kr.rx, 32);
		assert_memory_equal(ki.rx, kr.tx, 32);
		assert_memory_not_equal(ki.tx, ki.rx, 32);
		ctl_hs_wipe(&i);
		ctl_hs_wipe(&r);
	}
}

/* Every byte of message 1, then of message 2, flipped: refused; the original still works. */
static void test_tamper_every_byte(void **state)
{
	static const uint8_t id[CTL_HS_JOIN_PAYLOAD_LEN] = "token-id-16bytes";
	uint8_t m1[CTL_HS_MSG1_MAX], m2[CTL_HS_MSG2_LEN], bad[CTL_HS_MSG1_MAX], got[16];
	size_t len1 = ctl_hs_msg1_len(CTL_HS_JOIN);
	struct ctl_hs i, i_saved, r;
	struct ctl_keys ki, kr;
	struct keys k;

	(void)state;
	make_keys(&k);
	assert_int_equal(ctl_hs_init(&i, CTL_HS_JOIN, true, k.i_priv, k.r_pub), 0);
	assert_int_equal(ctl_hs_write1(&i, k.ei, id, m1), 0);
	for (size_t b = 0; b < len1; b++) {
		memcpy(bad, m1, len1);
		bad[b] ^= 0x01;
		assert_int_equal(ctl_hs_init(&r, CTL_HS_JOIN, false, k.r_priv, NULL), 0);
		if (ctl_hs_read1(&r, bad, len1, got) == 0)
			fail_msg("message 1 with byte %zu flipped was accepted", b);
	}
	/* Truncated and extended. */
	assert_int_equal(ctl_hs_init(&r, CTL_HS_JOIN, false, k.r_priv, NULL), 0);
	assert_int_equal(ctl_hs_read1(&r, m1, len1 - 1, got), -EMSGSIZE);
	assert_int_equal(ctl_hs_read1(&r, m1, len1 + 1, got), -EMSGSIZE);
	/* An overlay responder does not take a join's message 1. */
	assert_int_equal(ctl_hs_init(&r, CTL_HS_OVERLAY, false, k.r_priv, NULL), 0);
	assert_int_not_equal(ctl_hs_read1(&r, m1, len1, got), 0);

	assert_int_equal(ctl_hs_init(&r, CTL_HS_JOIN, false, k.r_priv, NULL), 0);
	assert_int_equal(ctl_hs_read1(&r, m1, len1, got), 0);
	assert_int_equal(ctl_hs_write2(&r, k.er, k.psk, m2, &kr), 0);
	i_saved = i;
	for (size_t b = 0; b < sizeof(m2); b++) {
		uint8_t bad2[CTL_HS_MSG2_LEN];

		memcpy(bad2, m2, sizeof(m2));
		bad2[b] ^= 0x80;
		i = i_saved;
		if (ctl_hs_read2(&i, k.psk, bad2, sizeof(bad2), &ki) == 0)
			fail_msg("message 2 with byte %zu flipped was accepted", b);
	}
	i = i_saved;
	assert_int_equal(ctl_hs_read2(&i, k.psk, m2, sizeof(m2), &ki), 0);
	assert_memory_equal(ki.tx, kr.rx, 32);
}

/*
 * The attack of issue 11 (5): a party that holds the token (its id and secret) but not the
 * leader's private key sits on the path. It cannot open message 1 made for the leader's key,
 * and a message 2 it makes with the right psk does not complete the joiner's handshake.
 */
static void test_token_holder_is_not_the_leader(void **state)
{
	static const uint8_t id[CTL_HS_JOIN_PAYLOAD_LEN] = "token-id-16bytes";
	uint8_t m1[CTL_HS_MSG1_MAX], m2[CTL_HS_MSG2_LEN], got[16], a_priv[32], a_pub[32];
	size_t len1 = ctl_hs_msg1_len(CTL_HS_JOIN);
	struct ctl_hs i, a;
	struct ctl_keys ki, ka;
	struct keys k;

	(void)state;
	make_keys(&k);
	assert_int_equal(crypto_x25519_keygen(a_priv, a_pub), 0);
	assert_int_equal(ctl_hs_init(&i, CTL_HS_JOIN, true, k.i_priv, k.r_pub), 0);
	assert_int_equal(ctl_hs_write1(&i, k.ei, id, m1), 0);
	assert_int_equal(ctl_hs_init(&a, CTL_HS_JOIN, false, a_priv, NULL), 0);
	assert_int_not_equal(ctl_hs_read1(&a, m1, len1, got), 0);

	/* Even a responder that knew the joiner's static key and the psk: its message 2 is
	 * made under its own key, which is not the one message 1 was for. */
	assert_int_equal(ctl_hs_init(&a, CTL_HS_JOIN, true, k.i_priv, a_pub), 0);
	assert_int_equal(ctl_hs_write1(&a, k.ei, id, m1), 0);
	{
		struct ctl_hs ar;

		assert_int_equal(ctl_hs_init(&ar, CTL_HS_JOIN, false, a_priv, NULL), 0);
		assert_int_equal(ctl_hs_read1(&ar, m1, len1, got), 0);
		assert_int_equal(ctl_hs_write2(&ar, k.er, k.psk, m2, &ka), 0);
	}
	assert_int_not_equal(ctl_hs_read2(&i, k.psk, m2, sizeof(m2), &ki), 0);
}

static void test_wrong_psk(void **state)
{
	static const uint8_t id[CTL_HS_JOIN_PAYLOAD_LEN] = "token-id-16bytes";
	uint8_t m1[CTL_HS_MSG1_MAX], m2[CTL_HS_MSG2_LEN], got[16], other[32];
	struct ctl_hs i, r;
	struct ctl_keys ki, kr;
	struct keys k;

	(void)state;
	make_keys(&k);
	memcpy(other, k.psk, 32);
	other[31] ^= 1;
	assert_int_equal(ctl_hs_init(&i, CTL_HS_JOIN, true, k.i_priv, k.r_pub), 0);
	assert_int_equal(ctl_hs_init(&r, CTL_HS_JOIN, false, k.r_priv, NULL), 0);
	assert_int_equal(ctl_hs_write1(&i, k.ei, id, m1), 0);
	assert_int_equal(ctl_hs_read1(&r, m1, ctl_hs_msg1_len(CTL_HS_JOIN), got), 0);
	assert_int_equal(ctl_hs_write2(&r, k.er, k.psk, m2, &kr), 0);
	assert_int_equal(ctl_hs_read2(&i, other, m2, sizeof(m2), &ki), -EBADMSG);
}

/* --- the channel over a socket pair ------------------------------------------------------- */

struct responder {
	int fd;
	struct keys *k;
	const uint8_t *allowed; /* the one initiator key accepted */
	int result;
	uint8_t type;
	json_t *got;
	char err[256];
	unsigned timeout_ms;
	uint32_t max_rx;
};

static int accept_one_key(void *ctx, const uint8_t remote_static[32], const uint8_t *payload,
			  uint8_t psk[32], bool *send_refusal, char *err, size_t errlen)
{
	struct responder *rs = ctx;

	(void)payload;
	*send_refusal = true;
	if (memcmp(remote_static, rs->allowed, 32)) {
		snprintf(err, errlen, "unknown key");
		return -EACCES;
	}
	memcpy(psk, rs->k->psk, 32);
	return 0;
}

static void *responder_main(void *arg)
{
	struct responder *rs = arg;
	struct ctl_chan ch;

	ctl_chan_init(&ch, rs->fd, rs->timeout_ms ? rs->timeout_ms : 5000,
		      rs->max_rx ? rs->max_rx : CTL_CHAN_REQUEST_MAX);
	rs->result = ctl_chan_respond(&ch, CTL_HS_JOIN, rs->k->r_priv, accept_one_key, rs, rs->err,
				      sizeof(rs->err));
	if (!rs->result) {
		rs->result = ctl_chan_recv(&ch, &rs->type, &rs->got, rs->err, sizeof(rs->err));
		if (!rs->result)
			ctl_chan_send_ok(&ch, NULL);
	}
	ctl_chan_done(&ch);
	return NULL;
}

static void test_chan(void **state)
{
	static const uint8_t id[16] = "token-id-16bytes";
	struct responder rs = {0};
	struct ctl_chan ch;
	struct keys k;
	pthread_t t;
	json_t *msg = json_pack("{s:s}", "hello", "leader"), *reply = NULL;
	char err[256];
	uint8_t type;
	int sv[2];

	(void)state;
	make_keys(&k);
	/* The legitimate exchange. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rs = (struct responder){.fd = sv[1], .k = &k, .allowed = k.i_pub};
	assert_int_equal(pthread_create(&t, NULL, responder_main, &rs), 0);
	ctl_chan_init(&ch, sv[0], 5000, CTL_CHAN_VIEW_MAX);
	assert_int_equal(ctl_chan_initiate(&ch, CTL_HS_JOIN, k.i_priv, k.r_pub, k.psk, id, err,
					   sizeof(err)),
			 0);
	assert_int_equal(ctl_chan_call(&ch, msg, &type, &reply, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(rs.result, 0);
	assert_int_equal(rs.type, DMN_CTL_REQUEST);
	assert_true(json_equal(rs.got, msg));
	json_decref(rs.got);
	json_decref(reply);
	ctl_chan_done(&ch);
	close(sv[0]);
	close(sv[1]);

	/* An initiator key the responder does not know: refused before message 2. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rs = (struct responder){.fd = sv[1], .k = &k, .allowed = k.r_pub};
	assert_int_equal(pthread_create(&t, NULL, responder_main, &rs), 0);
	ctl_chan_init(&ch, sv[0], 5000, CTL_CHAN_VIEW_MAX);
	assert_int_equal(ctl_chan_initiate(&ch, CTL_HS_JOIN, k.i_priv, k.r_pub, k.psk, id, err,
					   sizeof(err)),
			 -EREMOTEIO);
	assert_non_null(strstr(err, "unknown key"));
	pthread_join(t, NULL);
	assert_int_equal(rs.result, -EACCES);
	close(sv[0]);
	close(sv[1]);

	/* The wrong psk (a wrong token secret): the first sealed frame does not open. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rs = (struct responder){.fd = sv[1], .k = &k, .allowed = k.i_pub};
	assert_int_equal(pthread_create(&t, NULL, responder_main, &rs), 0);
	{
		uint8_t other[32];

		memcpy(other, k.psk, 32);
		other[0] ^= 1;
		ctl_chan_init(&ch, sv[0], 5000, CTL_CHAN_VIEW_MAX);
		/* The initiator itself notices at message 2. */
		assert_int_equal(ctl_chan_initiate(&ch, CTL_HS_JOIN, k.i_priv, k.r_pub, other, id,
						   err, sizeof(err)),
				 -EBADMSG);
	}
	close(sv[0]);
	pthread_join(t, NULL);
	assert_int_not_equal(rs.result, 0);
	close(sv[1]);
	json_decref(msg);
}

/* Raw bytes in, what the responder makes of them. */
static int respond_to(const uint8_t *bytes, size_t len, unsigned timeout_ms, bool keep_open)
{
	struct responder rs = {0};
	struct keys k;
	pthread_t t;
	int sv[2];

	make_keys(&k);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rs = (struct responder){.fd = sv[1], .k = &k, .allowed = k.i_pub, .timeout_ms = timeout_ms};
	assert_int_equal(pthread_create(&t, NULL, responder_main, &rs), 0);
	if (len)
		assert_int_equal(write(sv[0], bytes, len), (ssize_t)len);
	if (!keep_open)
		shutdown(sv[0], SHUT_WR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return rs.result;
}

static void test_preauth_limits(void **state)
{
	uint8_t hdr[DMN_CTL_HDR_LEN];

	(void)state;
	/* A 4 MiB "message 1": refused from its header, nothing of it read or allocated. */
	dmn_ctl_hdr_put(hdr, DMN_CTL_HS1, 4u << 20);
	assert_int_equal(respond_to(hdr, sizeof(hdr), 5000, true), -EPROTO);
	/* A JSON frame before the handshake: refused. */
	dmn_ctl_hdr_put(hdr, DMN_CTL_REQUEST, 2);
	assert_int_equal(respond_to(hdr, sizeof(hdr), 5000, true), -EPROTO);
	/* Message 1 of the right length but garbage: does not authenticate. */
	{
		uint8_t m[DMN_CTL_HDR_LEN + CTL_HS_MSG1_MAX];

		memset(m, 0x41, sizeof(m));
		dmn_ctl_hdr_put(m, DMN_CTL_HS1, (uint32_t)ctl_hs_msg1_len(CTL_HS_JOIN));
		assert_int_equal(respond_to(m, DMN_CTL_HDR_LEN + ctl_hs_msg1_len(CTL_HS_JOIN), 5000,
					    false),
				 -EBADMSG);
	}
	/* A trickle (half a header, then nothing): the deadline ends it. */
	assert_int_equal(respond_to(hdr, 4, 300, true), -ETIMEDOUT);
	/* A closed connection. */
	assert_int_equal(respond_to(NULL, 0, 5000, false), -ECONNRESET);
}

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void *shut_later(void *arg)
{
	int fd = *(int *)arg;

	usleep(200 * 1000);
	shutdown(fd, SHUT_RDWR);
	return NULL;
}

static void test_connect_cut(void **state)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len = sizeof(*sin);
	int l, fill[8], fd, r, n_fill = 0;
	pthread_t t;
	uint64_t t0, took;

	(void)state;
	/* A listener that never accepts, its queue full: the kernel drops further SYNs, so a
	 * connect to it hangs until its timeout (the stand-in for a peer that is away). */
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)sin, len), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)sin, &len), 0);
	assert_int_equal(listen(l, 0), 0);
	for (; n_fill < 8; n_fill++) {
		fill[n_fill] = ctl_connect(&ss, 300, NULL);
		if (fill[n_fill] < 0)
			break;
	}
	assert_true(n_fill < 8);
	assert_int_equal(fill[n_fill], -ETIMEDOUT); /* the queue is full: connects hang */

	fd = ctl_connect_begin(&ss, NULL);
	assert_true(fd >= 0);
	assert_int_equal(pthread_create(&t, NULL, shut_later, &fd), 0);
	t0 = mono_ms();
	r = ctl_connect_wait(fd, 5000);
	took = mono_ms() - t0;
	pthread_join(t, NULL);
	assert_true(r < 0);
	assert_true(took < 2000); /* 200 ms, not the 5 s timeout */
	close(fd);
	for (int i = 0; i < n_fill; i++)
		close(fill[i]);
	close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_token_holder_is_not_the_leader),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_chan),
		cmocka_unit_test(test_preauth_limits),
		cmocka_unit_test(test_connect_cut),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

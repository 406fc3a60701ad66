/* SPDX-License-Identifier: MIT */
/*
 * overlay/turn: the TURN client state machine driven by a scripted server under a fake clock.
 * The server here is a few functions that read the client's requests with the codec and answer
 * them: 401 with realm and nonce, authenticated success (with MESSAGE-INTEGRITY), 438 stale
 * nonce, refusals, silence. Checked: the request sequence and its authentication, the RFC 8489
 * retransmission schedule and "server did not answer", backoff and retry, new credentials,
 * Refresh, permissions, channels (Send indication until bound, ChannelData after), Data
 * indications, responses refused for txid, method and integrity, deallocation, REST credentials.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "overlay/turn.h"

#define USER  "1700000000:node-a"
#define PASS  "XrVs9mMSvq3eh2dB5eNjVvZjHQ4="
#define REALM "weft.test"

static uint32_t rng_state = 1;

static void fake_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	(void)ctx;
	for (i = 0; i < len; i++) {
		rng_state = rng_state * 1103515245u + 12345u;
		p[i] = (uint8_t)(rng_state >> 16);
	}
}

static const struct ov_turn_env env = {.random = fake_random};

static const struct wg_endpoint relayed = {
	.family = WG_AF_INET, .port = 50000, .addr = {198, 18, 0, 1}};
static const struct wg_endpoint mapped = {
	.family = WG_AF_INET, .port = 40000, .addr = {198, 18, 5, 5}};
static const struct wg_endpoint peer = {
	.family = WG_AF_INET, .port = 51820, .addr = {198, 18, 7, 7}};

struct req {
	uint8_t buf[OV_STUN_MAX_MSG];
	size_t len;
	struct ov_stun_msg m;
};

/* The next datagram the client sends at now, parsed; fails if there is none. */
static void next_req(struct ov_turn *t, uint64_t now, struct req *r)
{
	int len = ov_turn_output(t, now, r->buf, sizeof(r->buf));

	assert_true(len > 0);
	r->len = (size_t)len;
	assert_int_equal(ov_stun_parse(r->buf, r->len, &r->m, NULL, 0), 0);
	assert_int_equal(r->m.cls, OV_STUN_REQUEST);
}

static void no_output(struct ov_turn *t, uint64_t now)
{
	uint8_t buf[OV_STUN_MAX_MSG];

	assert_int_equal(ov_turn_output(t, now, buf, sizeof(buf)), 0);
}

/* A silent server: runs the client's timers up to `until`, dropping what it sends. */
static unsigned drain_until(struct ov_turn *t, uint64_t until)
{
	uint8_t buf[OV_STUN_MAX_MSG];
	unsigned sent = 0;
	uint64_t now;

	while ((now = ov_turn_next_timer(t)) <= until)
		while (ov_turn_output(t, now, buf, sizeof(buf)) > 0)
			sent++;
	return sent;
}

static void server_key(uint8_t key[16], const char *pass)
{
	assert_int_equal(ov_stun_long_term_key(key, USER, REALM, strlen(REALM), pass), 0);
}

/* The server checks what an authenticated request must carry. */
static void assert_authenticated(const struct req *r, const char *nonce)
{
	uint8_t key[16];

	assert_true(r->m.has_username);
	assert_true(r->m.username_len == strlen(USER) &&
		    !memcmp(r->m.username, USER, strlen(USER)));
	assert_true(r->m.has_realm && r->m.realm_len == strlen(REALM));
	assert_true(r->m.has_nonce && r->m.nonce_len == strlen(nonce) &&
		    !memcmp(r->m.nonce, nonce, strlen(nonce)));
	server_key(key, PASS);
	assert_true(ov_stun_check_integrity(r->buf, r->len, &r->m, key, 16));
}

struct resp {
	uint8_t buf[OV_STUN_MAX_MSG];
	size_t len;
};

static void resp_error(struct resp *o, const struct req *r, unsigned code, const char *nonce)
{
	struct ov_stun_builder b;
	int len;

	ov_stun_begin(&b, o->buf, sizeof(o->buf), r->m.method, OV_STUN_ERROR, r->m.txid);
	ov_stun_add_error(&b, code, code == 401 ? "Unauthorized" : "Some Reason");
	if (nonce) {
		ov_stun_add_string(&b, OV_STUN_ATTR_REALM, REALM);
		ov_stun_add_string(&b, OV_STUN_ATTR_NONCE, nonce);
	}
	len = ov_stun_end(&b);
	assert_true(len > 0);
	o->len = (size_t)len;
}

/* A success response; with_mi: signed with the long-term key of pass. */
static void resp_success(struct resp *o, const struct req *r, uint32_t lifetime, bool with_mi,
			 const char *pass)
{
	struct ov_stun_builder b;
	uint8_t key[16];
	int len;

	ov_stun_begin(&b, o->buf, sizeof(o->buf), r->m.method, OV_STUN_SUCCESS, r->m.txid);
	if (r->m.method == OV_STUN_ALLOCATE) {
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
	}
	if (lifetime)
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, lifetime);
	ov_stun_add_string(&b, OV_STUN_ATTR_SOFTWARE, "test server");
	if (with_mi) {
		server_key(key, pass);
		ov_stun_add_integrity(&b, key, 16);
	}
	ov_stun_add_fingerprint(&b);
	len = ov_stun_end(&b);
	assert_true(len > 0);
	o->len = (size_t)len;
}

static enum ov_turn_rx feed(struct ov_turn *t, uint64_t now, const struct resp *o)
{
	struct ov_turn_data d;

	return ov_turn_input(t, now, o->buf, o->len, &d);
}

/* Start, 401, authenticated Allocate, success: an allocated client at `now`. */
static void allocate(struct ov_turn *t, uint64_t now)
{
	struct req r;
	struct resp o;
	struct ov_turn_status st;

	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, now);
	next_req(t, now, &r);
	assert_int_equal(r.m.method, OV_STUN_ALLOCATE);
	assert_false(r.m.has_username);
	assert_false(r.m.has_integrity);
	/* REQUESTED-TRANSPORT UDP first (RFC 8656 §7.1). */
	assert_int_equal(r.buf[20] << 8 | r.buf[21], OV_STUN_ATTR_REQUESTED_TRANSPORT);
	assert_int_equal(r.buf[24], OV_STUN_TRANSPORT_UDP);
	resp_error(&o, &r, 401, "nonce-1");
	assert_int_equal(feed(t, now, &o), OV_TURN_RX_RESPONSE);
	next_req(t, now, &r);
	assert_int_equal(r.m.method, OV_STUN_ALLOCATE);
	assert_authenticated(&r, "nonce-1");
	resp_success(&o, &r, 600, true, PASS);
	assert_int_equal(feed(t, now, &o), OV_TURN_RX_RESPONSE);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATED);
	assert_memory_equal(&st.relayed, &relayed, sizeof(relayed));
	assert_memory_equal(&st.mapped, &mapped, sizeof(mapped));
	assert_int_equal(st.lifetime_s, 600);
	assert_int_equal(st.since_ms, now);
	no_output(t, now);
}

static void test_allocate(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));

	(void)state;
	allocate(t, 1000);
	/* Next thing due: the Refresh, a minute before the lifetime ends. */
	assert_int_equal(ov_turn_next_timer(t), 1000 + 540000);
	ov_turn_done(t);
	test_free(t);
}

static void test_retransmit_and_give_up(void **state)
{
	static const uint64_t at[OV_TURN_RC] = {0, 500, 1500, 3500, 7500};
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r, first;
	uint64_t now;
	size_t i;

	(void)state;
	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, 0);
	for (i = 0; i < OV_TURN_RC; i++) {
		assert_int_equal(ov_turn_next_timer(t), at[i]);
		if (at[i])
			no_output(t, at[i] - 1);
		next_req(t, at[i], &r);
		if (i == 0)
			first = r;
		/* A retransmission is the same request, byte for byte (same transaction). */
		assert_int_equal(r.len, first.len);
		assert_memory_equal(r.buf, first.buf, r.len);
		no_output(t, at[i]);
	}
	/* Rm x RTO after the last: given up (11.5 s in all). */
	assert_int_equal(ov_turn_next_timer(t), 11500);
	no_output(t, 11499);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATING);
	no_output(t, 11500);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_string_equal(st.error, "server did not answer");
	assert_int_equal(st.retry_at_ms, 11500 + 2000);
	assert_int_equal(st.since_ms, 11500);
	/* The retry: a new transaction, and the backoff doubles after each failure. */
	now = 13500;
	assert_int_equal(ov_turn_next_timer(t), now);
	next_req(t, now, &r);
	assert_memory_not_equal(r.m.txid, first.m.txid, 12);
	now += 11500;
	assert_int_equal(drain_until(t, now), OV_TURN_RC - 1);
	ov_turn_status(t, &st);
	assert_int_equal(st.retry_at_ms, now + 4000);
	ov_turn_done(t);
	test_free(t);
}

static void test_stale_nonce(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r;
	struct resp o;
	char nonce[16];
	int i;

	(void)state;
	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, 0);
	next_req(t, 0, &r);
	resp_error(&o, &r, 401, "nonce-1");
	feed(t, 0, &o);
	next_req(t, 0, &r);
	assert_authenticated(&r, "nonce-1");
	/* 438 with a new nonce: the same request again with it. */
	resp_error(&o, &r, 438, "nonce-2");
	assert_int_equal(feed(t, 10, &o), OV_TURN_RX_RESPONSE);
	next_req(t, 10, &r);
	assert_authenticated(&r, "nonce-2");
	resp_success(&o, &r, 600, true, PASS);
	feed(t, 10, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATED);
	/* Stale on Refresh too. */
	next_req(t, 540010, &r);
	assert_int_equal(r.m.method, OV_STUN_REFRESH);
	assert_int_equal(r.m.lifetime, 600);
	assert_authenticated(&r, "nonce-2");
	resp_error(&o, &r, 438, "nonce-3");
	feed(t, 540010, &o);
	next_req(t, 540010, &r);
	assert_int_equal(r.m.method, OV_STUN_REFRESH);
	assert_authenticated(&r, "nonce-3");
	resp_success(&o, &r, 600, true, PASS);
	feed(t, 540010, &o);
	assert_int_equal(ov_turn_next_timer(t), 540010 + 540000);

	/* A server that says "stale" forever: bounded. */
	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, 0);
	next_req(t, 0, &r);
	resp_error(&o, &r, 401, "n0");
	feed(t, 0, &o);
	for (i = 1; i <= OV_TURN_MAX_STALE + 1; i++) {
		next_req(t, 0, &r);
		snprintf(nonce, sizeof(nonce), "n%d", i);
		resp_error(&o, &r, 438, nonce);
		feed(t, 0, &o);
	}
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_non_null(strstr(st.error, "438"));
	ov_turn_done(t);
	test_free(t);
}

static void test_credentials_refused(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r;
	struct resp o;

	(void)state;
	ov_turn_init(t, &env, USER, "wrong-password");
	ov_turn_start(t, 0);
	next_req(t, 0, &r);
	resp_error(&o, &r, 401, "nonce-1");
	feed(t, 0, &o);
	next_req(t, 0, &r);
	assert_true(r.m.has_integrity);
	resp_error(&o, &r, 401, "nonce-1"); /* authenticated and still 401: refused */
	feed(t, 100, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_non_null(strstr(st.error, "401: credentials refused"));
	assert_int_equal(st.retry_at_ms, 2100);
	no_output(t, 2099);
	/* New credentials: retried at once, authenticated with the nonce known. */
	assert_int_equal(ov_turn_set_credentials(t, USER, PASS, 500), 0);
	assert_int_equal(ov_turn_next_timer(t), 500);
	next_req(t, 500, &r);
	assert_authenticated(&r, "nonce-1");
	resp_success(&o, &r, 600, true, PASS);
	feed(t, 500, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATED);
	assert_string_equal(st.error, "");
	/* Other refusals say the code and reason. */
	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, 0);
	next_req(t, 0, &r);
	resp_error(&o, &r, 486, NULL);
	feed(t, 0, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_string_equal(st.error, "Allocate refused: 486: Some Reason");
	assert_int_equal(
		ov_turn_set_credentials(t, USER,
					(const char *)memset((char[OV_TURN_CRED_MAX + 1]){0}, 'x',
							     OV_TURN_CRED_MAX),
					0),
		-EINVAL);
	ov_turn_done(t);
	test_free(t);
}

static void test_responses_refused(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r;
	struct resp o;

	(void)state;
	ov_turn_init(t, &env, USER, PASS);
	ov_turn_start(t, 0);
	next_req(t, 0, &r);
	resp_error(&o, &r, 401, "nonce-1");
	feed(t, 0, &o);
	next_req(t, 0, &r);
	/* No MESSAGE-INTEGRITY on a success to an authenticated request. */
	resp_success(&o, &r, 600, false, PASS);
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_DROP_INTEGRITY);
	/* Signed with another key. */
	resp_success(&o, &r, 600, true, "not-the-password");
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_DROP_INTEGRITY);
	/* Spoofed transaction id. */
	r.m.txid[3] ^= 1;
	resp_success(&o, &r, 600, true, PASS);
	r.m.txid[3] ^= 1;
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_DROP_UNKNOWN_TXID);
	/* Right id, wrong method (a Refresh answer for an Allocate). */
	r.m.method = OV_STUN_REFRESH;
	resp_success(&o, &r, 600, true, PASS);
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_DROP_UNKNOWN_TXID);
	r.m.method = OV_STUN_ALLOCATE;
	/* Garbage, a request, a Send indication from the server. */
	assert_int_equal(
		ov_turn_input(t, 0, (const uint8_t *)"garbage", 7, &(struct ov_turn_data){0}),
		OV_TURN_RX_DROP_MALFORMED);
	{
		struct ov_stun_builder b;
		uint8_t buf[64];
		int len;

		ov_stun_begin(&b, buf, sizeof(buf), OV_STUN_BINDING, OV_STUN_REQUEST, r.m.txid);
		len = ov_stun_end(&b);
		assert_int_equal(ov_turn_input(t, 0, buf, (size_t)len, &(struct ov_turn_data){0}),
				 OV_TURN_RX_DROP_UNEXPECTED);
		ov_stun_begin(&b, buf, sizeof(buf), OV_STUN_SEND, OV_STUN_INDICATION, r.m.txid);
		len = ov_stun_end(&b);
		assert_int_equal(ov_turn_input(t, 0, buf, (size_t)len, &(struct ov_turn_data){0}),
				 OV_TURN_RX_DROP_UNEXPECTED);
	}
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATING);
	/* The genuine answer still works, once. */
	resp_success(&o, &r, 600, true, PASS);
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_RESPONSE);
	assert_int_equal(feed(t, 0, &o), OV_TURN_RX_DROP_UNKNOWN_TXID);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATED);
	ov_turn_done(t);
	test_free(t);
}

/* New credentials while allocated: the allocation keeps its own until refused, then a new one. */
static void test_credentials_rotated(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r;
	struct resp o;
	uint8_t key[16];

	(void)state;
	allocate(t, 0);
	assert_int_equal(ov_turn_set_credentials(t, "1800000000:node-a", "new-pass", 1000), 0);
	next_req(t, 540000, &r);
	assert_int_equal(r.m.method, OV_STUN_REFRESH);
	assert_authenticated(&r, "nonce-1"); /* the allocation's user and key */
	resp_success(&o, &r, 600, true, PASS);
	assert_int_equal(feed(t, 540000, &o), OV_TURN_RX_RESPONSE);
	/* The server stops accepting the old (expired) user: a new allocation at once. */
	next_req(t, 1080000, &r);
	resp_error(&o, &r, 401, "nonce-1");
	feed(t, 1080000, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_int_equal(st.retry_at_ms, 1080000);
	next_req(t, 1080000, &r);
	assert_int_equal(r.m.method, OV_STUN_ALLOCATE);
	assert_true(r.m.username_len == 17 && !memcmp(r.m.username, "1800000000:node-a", 17));
	assert_int_equal(
		ov_stun_long_term_key(key, "1800000000:node-a", REALM, strlen(REALM), "new-pass"),
		0);
	assert_true(ov_stun_check_integrity(r.buf, r.len, &r.m, key, 16));
	ov_turn_done(t);
	test_free(t);
}

static void test_refresh_lost(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct req r;
	struct resp o;

	(void)state;
	allocate(t, 0);
	next_req(t, 540000, &r);
	assert_int_equal(r.m.method, OV_STUN_REFRESH);
	resp_error(&o, &r, 437, NULL);
	feed(t, 540001, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_string_equal(st.error, "allocation lost: Refresh refused: 437: Some Reason");
	assert_int_equal(st.relayed.family, 0);
	/* Silence on Refresh: lost after the retransmissions. */
	allocate(t, 0);
	next_req(t, 540000, &r);
	assert_int_equal(drain_until(t, 540000 + 11499), OV_TURN_RC - 1);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_ALLOCATED);
	assert_int_equal(drain_until(t, 540000 + 11500), 0);
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_FAILED);
	assert_string_equal(st.error, "allocation lost: server did not answer Refresh");
	ov_turn_done(t);
	test_free(t);
}

static void test_permissions(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct wg_endpoint set[3] = {peer, peer, peer};
	struct wg_endpoint many[OV_TURN_MAX_PERMISSIONS + 1];
	struct ov_turn_status st;
	struct req r1, r2;
	struct resp o;
	size_t i;

	(void)state;
	set[1].port = 1; /* same IP, another port: one permission */
	set[2].addr[3] = 8;
	allocate(t, 0);
	assert_int_equal(ov_turn_permit(t, set, 3, 0), 0);
	next_req(t, 0, &r1);
	next_req(t, 0, &r2);
	no_output(t, 0);
	assert_int_equal(r1.m.method, OV_STUN_CREATE_PERMISSION);
	assert_int_equal(r2.m.method, OV_STUN_CREATE_PERMISSION);
	assert_int_equal(r1.m.xor_peer.addr[3], 7);
	assert_int_equal(r2.m.xor_peer.addr[3], 8);
	assert_int_equal(r1.m.xor_peer.port, 0);
	assert_authenticated(&r1, "nonce-1");
	resp_success(&o, &r1, 0, true, PASS);
	feed(t, 10, &o);
	resp_error(&o, &r2, 403, NULL);
	feed(t, 10, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.permissions, 1);
	assert_string_equal(st.error, "CreatePermission refused: 403: Some Reason");
	/* The refused one again after 30 s; the installed one refreshed after 4 minutes. */
	next_req(t, 30010, &r2);
	assert_int_equal(r2.m.xor_peer.addr[3], 8);
	resp_success(&o, &r2, 0, true, PASS);
	feed(t, 30020, &o);
	ov_turn_status(t, &st);
	assert_int_equal(st.permissions, 2);
	no_output(t, 240009);
	next_req(t, 240010, &r1);
	assert_int_equal(r1.m.xor_peer.addr[3], 7);
	/* A new set without .7: its refresh (in flight) forgotten, nothing more for it. */
	assert_int_equal(ov_turn_permit(t, &set[2], 1, 240020), 0);
	resp_success(&o, &r1, 0, true, PASS);
	assert_int_equal(feed(t, 240030, &o), OV_TURN_RX_DROP_UNKNOWN_TXID);
	/* Caps and bad input change nothing. */
	for (i = 0; i < OV_TURN_MAX_PERMISSIONS + 1; i++) {
		many[i] = peer;
		many[i].addr[2] = (uint8_t)i;
	}
	assert_int_equal(ov_turn_permit(t, many, OV_TURN_MAX_PERMISSIONS + 1, 240040), -E2BIG);
	many[0].family = 0;
	assert_int_equal(ov_turn_permit(t, many, 1, 240040), -EINVAL);
	assert_int_equal(ov_turn_permit(t, many + 1, OV_TURN_MAX_PERMISSIONS, 240040), 0);
	ov_turn_done(t);
	test_free(t);
}

static void test_channels(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_data d;
	struct ov_turn_status st;
	struct ov_stun_builder b;
	struct ov_stun_msg m;
	struct req r;
	struct resp o;
	uint8_t buf[256], txid[12] = {7};
	int len;

	(void)state;
	allocate(t, 0);
	/* Before a channel: a Data indication from the peer is unwrapped ... */
	ov_stun_begin(&b, buf, sizeof(buf), OV_STUN_DATA, OV_STUN_INDICATION, txid);
	ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, &peer);
	ov_stun_add_bytes(&b, OV_STUN_ATTR_DATA, "wg-init", 7);
	len = ov_stun_end(&b);
	assert_int_equal(ov_turn_input(t, 5, buf, (size_t)len, &d), OV_TURN_RX_DATA);
	assert_memory_equal(&d.peer, &peer, sizeof(peer));
	assert_int_equal(d.len, 7);
	assert_memory_equal(d.data, "wg-init", 7);
	assert_false(d.channel);
	/* ... and asks for a channel. */
	next_req(t, 5, &r);
	assert_int_equal(r.m.method, OV_STUN_CHANNEL_BIND);
	assert_int_equal(r.m.channel, 0x4000);
	assert_memory_equal(&r.m.xor_peer, &peer, sizeof(peer));
	assert_authenticated(&r, "nonce-1");
	/* Until it is bound, payloads go as Send indications. */
	len = ov_turn_send(t, 6, &peer, (const uint8_t *)"wg-resp", 7, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(ov_stun_parse(buf, (size_t)len, &m, NULL, 0), 0);
	assert_int_equal(m.method, OV_STUN_SEND);
	assert_int_equal(m.cls, OV_STUN_INDICATION);
	assert_memory_equal(&m.xor_peer, &peer, sizeof(peer));
	assert_int_equal(m.data_len, 7);
	resp_success(&o, &r, 0, true, PASS);
	assert_int_equal(feed(t, 7, &o), OV_TURN_RX_RESPONSE);
	ov_turn_status(t, &st);
	assert_int_equal(st.channels_bound, 1);
	/* Bound: ChannelData both ways. */
	len = ov_turn_send(t, 8, &peer, (const uint8_t *)"data", 4, buf, sizeof(buf));
	assert_int_equal(len, 8);
	assert_int_equal(buf[0], 0x40);
	assert_int_equal(buf[1], 0x00);
	assert_int_equal(ov_turn_input(t, 9, buf, 8, &d), OV_TURN_RX_DATA);
	assert_true(d.channel);
	assert_memory_equal(&d.peer, &peer, sizeof(peer));
	assert_memory_equal(d.data, "data", 4);
	buf[1] = 0x01; /* a channel we never bound */
	assert_int_equal(ov_turn_input(t, 9, buf, 8, &d), OV_TURN_RX_DROP_UNKNOWN_CHANNEL);
	/* Refreshed every 5 minutes with the same number. */
	no_output(t, 7 + 299999);
	next_req(t, 7 + 300000, &r);
	assert_int_equal(r.m.method, OV_STUN_CHANNEL_BIND);
	assert_int_equal(r.m.channel, 0x4000);
	/* Refused: back to Send indications, the next attempt with another number. */
	resp_error(&o, &r, 400, NULL);
	feed(t, 300010, &o);
	len = ov_turn_send(t, 300011, &peer, (const uint8_t *)"x", 1, buf, sizeof(buf));
	assert_true(ov_stun_is_stun(buf, (size_t)len));
	next_req(t, 330010, &r);
	assert_int_equal(r.m.channel, 0x4001);
	/* Forgotten: its bind is dropped, a later send asks again. */
	ov_turn_forget(t, &peer);
	no_output(t, 330011);
	ov_turn_status(t, &st);
	assert_int_equal(st.channels_bound, 0);
	/* A second remote on the same IP gets its own channel. */
	{
		struct wg_endpoint p2 = peer;

		p2.port = 9;
		assert_true(ov_turn_send(t, 330012, &p2, (const uint8_t *)"x", 1, buf,
					 sizeof(buf)) > 0);
		next_req(t, 330012, &r);
		assert_int_equal(r.m.xor_peer.port, 9);
		assert_int_equal(r.m.channel, 0x4002);
	}
	ov_turn_done(t);
	test_free(t);
}

static void test_not_allocated_and_close(void **state)
{
	struct ov_turn *t = test_malloc(sizeof(*t));
	struct ov_turn_status st;
	struct ov_turn_data d;
	struct req r;
	uint8_t buf[64];

	(void)state;
	ov_turn_init(t, &env, USER, PASS);
	assert_int_equal(ov_turn_next_timer(t), UINT64_MAX);
	no_output(t, 0);
	assert_int_equal(ov_turn_send(t, 0, &peer, buf, 1, buf, sizeof(buf)), -ENOTCONN);
	assert_int_equal(ov_stun_channel_data_build(buf, sizeof(buf), 0x4000, buf + 4, 1), 5);
	assert_int_equal(ov_turn_input(t, 0, buf, 5, &d), OV_TURN_RX_DROP_NOT_ALLOCATED);

	allocate(t, 0);
	ov_turn_close(t, 100);
	assert_int_equal(ov_turn_next_timer(t), 0);
	next_req(t, 100, &r);
	assert_int_equal(r.m.method, OV_STUN_REFRESH);
	assert_true(r.m.has_lifetime);
	assert_int_equal(r.m.lifetime, 0);
	assert_authenticated(&r, "nonce-1");
	ov_turn_status(t, &st);
	assert_int_equal(st.state, OV_TURN_CLOSED);
	no_output(t, 1000000);
	assert_int_equal(ov_turn_next_timer(t), UINT64_MAX);
	ov_turn_done(t);
	test_free(t);
}

static void test_rest_credentials(void **state)
{
	char user[OV_TURN_CRED_MAX], pass[OV_TURN_CRED_MAX];

	(void)state;
	/* Known answer from Python's hmac/base64 (the scheme coturn's use-auth-secret checks). */
	assert_int_equal(ov_turn_rest_credentials("s3cret", "node-a", 1700000000, user, pass), 0);
	assert_string_equal(user, "1700000000:node-a");
	assert_string_equal(pass, "XrVs9mMSvq3eh2dB5eNjVvZjHQ4=");
	assert_int_equal(ov_turn_rest_credentials("s3cret", "", 1, user, pass), -EINVAL);
	assert_int_equal(ov_turn_rest_credentials("s3cret", "a:b", 1, user, pass), -EINVAL);
	assert_string_equal(ov_turn_rx_name(OV_TURN_RX_DROP_INTEGRITY), "integrity");
	assert_string_equal(ov_turn_state_name(OV_TURN_FAILED), "failed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocate),
		cmocka_unit_test(test_retransmit_and_give_up),
		cmocka_unit_test(test_stale_nonce),
		cmocka_unit_test(test_credentials_refused),
		cmocka_unit_test(test_responses_refused),
		cmocka_unit_test(test_credentials_rotated),
		cmocka_unit_test(test_refresh_lost),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_not_allocated_and_close),
		cmocka_unit_test(test_rest_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

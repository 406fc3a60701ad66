/* SPDX-License-Identifier: MIT */
/*
 * Tamper tests (after OpenBSD's wg_noise selftests): flip every byte of each handshake
 * message and of a data packet, and check the receiver drops it with the right reason and
 * changes no state. Flips are tried twice: as they come (mac1 catches them) and with mac1
 * recomputed, as an attacker who knows the receiver's public key could, so the AEADs and
 * index checks behind mac1 are exercised too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine_harness.h"
#include "lib/util.h"
#include "wg/cookie.h"
#include "wg/internal.h"

/* Everything of a peer that a dropped message must leave alone. */
struct snapshot {
	struct wg_handshake hs, crossed;
	struct wg_cookie cookie;
	struct wg_timers timers;
	struct wg_keypair *prev, *cur, *next;
	uint64_t rx_bytes, tx_bytes, last_handshake;
	struct wg_replay replay;
};

static void snap(const struct wg_peer *p, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->hs = p->hs;
	s->crossed = p->crossed;
	s->cookie = p->cookie;
	s->timers = p->timers;
	s->prev = p->prev;
	s->cur = p->cur;
	s->next = p->next;
	s->rx_bytes = p->rx_bytes;
	s->tx_bytes = p->tx_bytes;
	s->last_handshake = p->last_handshake;
	if (p->cur)
		s->replay = p->cur->replay;
}

static void assert_unchanged(const struct wg_peer *p, const struct snapshot *before)
{
	struct snapshot now;

	snap(p, &now);
	assert_memory_equal(&now, before, sizeof(now));
}

/* Recompute mac1 (and zero mac2) of a handshake message for the receiver's key. */
static void remac(uint8_t *msg, size_t len, const uint8_t receiver_pub[WG_KEY_LEN])
{
	struct wg_cookie c;

	wg_cookie_peer_init(&c, receiver_pub);
	wg_cookie_add_macs(&c, msg, len, 0);
}

static enum wg_rx_result deliver(struct harness *h, int to, const uint8_t *msg, size_t len)
{
	struct h_msg m = {.to = to, .len = len};

	memcpy(m.bytes, msg, len);
	return h_receive(h, &m);
}

static void test_initiation(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	uint8_t orig[WG_MSG_INITIATION_LEN], msg[WG_MSG_INITIATION_LEN];
	struct snapshot before;

	(void)state;
	h_init(h, 11, NULL);
	assert_int_equal(wg_peer_initiation(h->node[0].peer, false, h->now, orig), WG_TX_OK);
	snap(h->node[1].peer, &before);
	for (size_t i = 0; i < sizeof(orig); i++) {
		for (int pass = 0; pass < 2; pass++) {
			enum wg_rx_result r, want;

			memcpy(msg, orig, sizeof(msg));
			msg[i] ^= 0x80;
			if (pass)
				remac(msg, sizeof(msg), h->node[1].pub);
			if (i < 4)
				want = WG_RX_DROP_TYPE;
			else if (i >= WG_INIT_OFF_MAC2)
				want = WG_RX_HANDSHAKE_INIT; /* mac2 is not checked unless under load */
			else if (!pass)
				want = WG_RX_DROP_MAC1;
			else if (i < WG_INIT_OFF_EPHEMERAL)
				want = WG_RX_HANDSHAKE_INIT; /* sender index is not authenticated */
			else if (i < WG_INIT_OFF_MAC1)
				want = WG_RX_DROP_HANDSHAKE_AUTH;
			else
				want = WG_RX_HANDSHAKE_INIT; /* mac1 was recomputed over the original */
			if (want == WG_RX_HANDSHAKE_INIT)
				continue; /* accepted messages are covered by the engine tests */
			r = deliver(h, 1, msg, sizeof(msg));
			if (r != want)
				fail_msg("initiation byte %zu pass %d: %s, want %s", i, pass,
					 wg_rx_result_name(r), wg_rx_result_name(want));
			assert_unchanged(h->node[1].peer, &before);
		}
	}
	/* The untouched message still works afterwards: nothing was consumed. */
	assert_int_equal(deliver(h, 1, orig, sizeof(orig)), WG_RX_HANDSHAKE_INIT);
	h_done(h);
	free(h);
}

static void test_response(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	uint8_t init[WG_MSG_INITIATION_LEN], orig[WG_MSG_RESPONSE_LEN], msg[WG_MSG_RESPONSE_LEN];
	struct snapshot before;
	struct h_msg m;

	(void)state;
	h_init(h, 12, NULL);
	assert_int_equal(wg_peer_initiation(h->node[0].peer, false, h->now, init), WG_TX_OK);
	assert_int_equal(deliver(h, 1, init, sizeof(init)), WG_RX_HANDSHAKE_INIT);
	assert_true(h_pop(h, &m));
	assert_int_equal(m.len, WG_MSG_RESPONSE_LEN);
	memcpy(orig, m.bytes, sizeof(orig));
	snap(h->node[0].peer, &before);
	for (size_t i = 0; i < sizeof(orig); i++) {
		for (int pass = 0; pass < 2; pass++) {
			enum wg_rx_result r, want;

			memcpy(msg, orig, sizeof(msg));
			msg[i] ^= i ? 0x01 : 0x80; /* byte 0 -> an unknown type */
			if (pass)
				remac(msg, sizeof(msg), h->node[0].pub);
			if (i < 4)
				want = WG_RX_DROP_TYPE;
			else if (i >= WG_RESP_OFF_MAC2)
				continue; /* mac2 unchecked: accepted */
			else if (!pass)
				want = WG_RX_DROP_MAC1;
			else if (i < WG_RESP_OFF_RECEIVER)
				continue; /* sender index is not authenticated: accepted */
			else if (i < WG_RESP_OFF_EPHEMERAL)
				want = WG_RX_DROP_UNKNOWN_INDEX;
			else if (i < WG_RESP_OFF_MAC1)
				want = WG_RX_DROP_HANDSHAKE_AUTH;
			else
				continue;
			r = deliver(h, 0, msg, sizeof(msg));
			if (r != want)
				fail_msg("response byte %zu pass %d: %s, want %s", i, pass,
					 wg_rx_result_name(r), wg_rx_result_name(want));
			assert_unchanged(h->node[0].peer, &before);
		}
	}
	assert_int_equal(deliver(h, 0, orig, sizeof(orig)), WG_RX_HANDSHAKE_RESP);
	/* A replayed response finds no handshake any more. */
	assert_int_equal(deliver(h, 0, orig, sizeof(orig)), WG_RX_DROP_UNKNOWN_INDEX);
	h_done(h);
	free(h);
}

static void test_cookie_reply(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	uint8_t init[WG_MSG_INITIATION_LEN], orig[WG_MSG_COOKIE_LEN], msg[WG_MSG_COOKIE_LEN];
	struct snapshot before;
	struct h_msg m;

	(void)state;
	h_init(h, 13, NULL);
	wg_device_update_load(&h->node[1].dev, 1, 1, h->now);
	assert_int_equal(wg_peer_initiation(h->node[0].peer, false, h->now, init), WG_TX_OK);
	assert_int_equal(deliver(h, 1, init, sizeof(init)), WG_RX_SENT_COOKIE);
	assert_true(h_pop(h, &m));
	memcpy(orig, m.bytes, sizeof(orig));
	snap(h->node[0].peer, &before);
	for (size_t i = 0; i < sizeof(orig); i++) {
		enum wg_rx_result r, want;

		memcpy(msg, orig, sizeof(msg));
		msg[i] ^= i ? 0x01 : 0x80; /* byte 0 -> an unknown type */
		if (i < 4)
			want = WG_RX_DROP_TYPE;
		else if (i < WG_COOKIE_OFF_NONCE)
			want = WG_RX_DROP_UNKNOWN_INDEX;
		else
			want = WG_RX_DROP_COOKIE_AUTH;
		r = deliver(h, 0, msg, sizeof(msg));
		if (r != want)
			fail_msg("cookie byte %zu: %s, want %s", i, wg_rx_result_name(r),
				 wg_rx_result_name(want));
		assert_unchanged(h->node[0].peer, &before);
	}
	assert_int_equal(deliver(h, 0, orig, sizeof(orig)), WG_RX_COOKIE);
	/* A second copy of the same reply is not accepted again. */
	assert_int_equal(deliver(h, 0, orig, sizeof(orig)), WG_RX_DROP_COOKIE_AUTH);
	h_done(h);
	free(h);
}

static void test_data(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	uint8_t pkt[H_MAX_MSG], orig[H_MAX_MSG], msg[H_MAX_MSG];
	size_t len = h_make_packet(pkt, 0, false, 60, 0x5a), olen = 0;
	struct snapshot before;
	unsigned act = 0;

	(void)state;
	h_init(h, 14, NULL);
	h_send(h, 0, pkt, len);
	h_deliver(h, 100);
	assert_int_equal(h->node[1].ninbox, 1);
	memcpy(orig + WG_DATA_HEADER_LEN, pkt, len);
	assert_int_equal(wg_peer_encrypt(h->node[0].peer, orig, len, H_MTU, h->now, &olen, &act),
			 WG_TX_OK);
	snap(h->node[1].peer, &before);
	for (size_t i = 0; i < olen; i++) {
		enum wg_rx_result r, want;

		memcpy(msg, orig, olen);
		msg[i] ^= i ? 0x01 : 0x80; /* byte 0 -> an unknown type */
		if (i < 4)
			want = WG_RX_DROP_TYPE;
		else if (i < WG_DATA_OFF_COUNTER)
			want = WG_RX_DROP_UNKNOWN_INDEX;
		else
			want = WG_RX_DROP_DATA_AUTH;
		r = deliver(h, 1, msg, olen);
		if (r != want)
			fail_msg("data byte %zu: %s, want %s", i, wg_rx_result_name(r),
				 wg_rx_result_name(want));
		assert_unchanged(h->node[1].peer, &before);
	}
	/* Truncations: every length below the original. */
	for (size_t l = 0; l < olen; l++) {
		enum wg_rx_result r = deliver(h, 1, orig, l);

		assert_true(wg_rx_dropped(r));
		assert_unchanged(h->node[1].peer, &before);
	}
	assert_int_equal(deliver(h, 1, orig, olen), WG_RX_DATA);
	h_done(h);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initiation),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_cookie_reply),
		cmocka_unit_test(test_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Two engines in memory under a fake clock (engine_harness.c): handshakes both ways, data
 * both ways, keepalives, rekey at 120 s, reject at 180 s, retries every 5 s then give up,
 * simultaneous initiation, the cookie dance under load, replay and flood rules, zeroing of
 * keys, private-key changes and low-order keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "engine_harness.h"
#include "lib/util.h"
#include "wg/internal.h"

static struct harness H;

static int setup(void **state)
{
	(void)state;
	h_init(&H, 1, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	h_done(&H);
	return 0;
}

/* Send one v4 packet of `payload` bytes from node i, deliver, and check it arrived intact. */
static void ping(int i, bool v6, size_t payload, uint8_t fill)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, i, v6, payload, fill);
	struct h_node *dst = &H.node[!i];
	size_t before = dst->ninbox;

	h_send(&H, i, pkt, len);
	h_deliver(&H, 1000);
	assert_int_equal(dst->ninbox, before + 1);
	assert_int_equal(dst->inbox_len[before], len);
	assert_memory_equal(dst->inbox[before], pkt, len);
}

static void test_handshake_and_data(void **state)
{
	(void)state;
	ping(0, false, 100, 0xaa);
	assert_int_equal(H.node[0].initiations_sent, 1);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 1);
	assert_int_equal(H.node[0].rx_count[WG_RX_HANDSHAKE_RESP], 1);
	assert_int_equal(H.node[0].handshakes_done, 1);
	/* B confirmed the session with A's first data packet. */
	assert_non_null(H.node[1].peer->cur);
	assert_null(H.node[1].peer->next);
	assert_int_equal(H.node[1].handshakes_done, 1);
	ping(1, false, 1000, 0x55);
	ping(0, true, 1300, 0x11);
	ping(1, true, 0, 0x00);
	assert_int_equal(H.node[0].initiations_sent, 1);
	assert_int_equal(H.node[1].initiations_sent, 0);
	/* Byte accounting: handshake messages plus 32 + padded length per data message. */
	assert_int_equal(H.node[0].peer->tx_bytes, H.node[1].peer->rx_bytes);
	assert_int_equal(H.node[1].peer->tx_bytes, H.node[0].peer->rx_bytes);
	/* B received: the initiation, 120 bytes padded to 128, 1340 bytes padded to 1344. */
	assert_int_equal(H.node[1].peer->rx_bytes, 148 + (32 + 128) + (32 + 1344));

	/* The counters the metrics export: each side's packets are what the other received. */
	const struct wg_peer_counters *a = &H.node[0].peer->counters,
				      *b = &H.node[1].peer->counters;

	assert_int_equal(a->tx_packets, 3); /* initiation, two data */
	assert_int_equal(b->tx_packets, 3); /* response, two data */
	assert_int_equal(a->tx_packets, b->rx_packets);
	assert_int_equal(b->tx_packets, a->rx_packets);
	assert_int_equal(a->initiations_sent, 1);
	assert_int_equal(a->responses_received, 1);
	assert_int_equal(a->initiations_received + a->responses_sent, 0);
	assert_int_equal(b->initiations_received, 1);
	assert_int_equal(b->responses_sent, 1);
	assert_int_equal(b->initiations_sent + b->responses_received, 0);
	assert_int_equal(a->handshakes_completed, 1);
	assert_int_equal(b->handshakes_completed, 1);
	assert_int_equal(a->rekeys + b->rekeys, 0);
	for (int f = 0; f < WG_HSF__COUNT; f++)
		assert_int_equal(a->failures[f] + b->failures[f], 0);
}

static void test_responder_initiates(void **state)
{
	(void)state;
	ping(1, true, 64, 0x42);
	ping(0, false, 64, 0x43);
	assert_int_equal(H.node[1].initiations_sent, 1);
	assert_int_equal(H.node[0].initiations_sent, 0);
}

static void test_passive_keepalive(void **state)
{
	(void)state;
	ping(0, false, 10, 1);
	/* B received data and sends nothing: after KEEPALIVE_TIMEOUT it sends a keepalive. */
	assert_int_equal(H.node[1].keepalives_sent, 0);
	h_advance(&H, 11 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_int_equal(H.node[1].keepalives_sent, 1);
	assert_int_equal(H.node[0].rx_count[WG_RX_KEEPALIVE], 1);
	/* Nothing more while idle. */
	h_advance(&H, 30 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_int_equal(H.node[1].keepalives_sent, 1);
}

static void test_new_handshake_when_unanswered(void **state)
{
	(void)state;
	ping(0, false, 10, 1);
	/* B stays silent but is the responder; keepalive arrives at 10 s so no new handshake. */
	h_advance(&H, 20 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_int_equal(H.node[0].initiations_sent, 1);
}

static void test_rekey_after_time(void **state)
{
	struct wg_keypair *first;

	(void)state;
	ping(0, false, 10, 1);
	first = H.node[0].peer->cur;
	h_advance(&H, 100 * NSEC_PER_SEC, 10 * NSEC_PER_SEC);
	ping(0, false, 10, 2); /* younger than 120 s: no rekey */
	assert_int_equal(H.node[0].initiations_sent, 1);
	h_advance(&H, 21 * NSEC_PER_SEC, 10 * NSEC_PER_SEC);
	ping(0, false, 10, 3); /* older than 120 s: this send triggers a handshake */
	assert_int_equal(H.node[0].initiations_sent, 2);
	assert_int_equal(H.node[0].handshakes_done, 2);
	assert_ptr_not_equal(H.node[0].peer->cur, first);
	assert_ptr_equal(H.node[0].peer->prev, first);
	assert_int_equal(H.node[0].peer->counters.handshakes_completed, 2);
	assert_int_equal(H.node[0].peer->counters.rekeys, 1);
	assert_int_equal(H.node[1].peer->counters.rekeys, 1);
	ping(1, false, 10, 4);
	ping(0, false, 10, 5);
}

static bool drop_all(struct harness *h, int from, struct h_msg *m)
{
	(void)h;
	(void)from;
	(void)m;
	return false;
}

static void test_reject_after_time(void **state)
{
	uint8_t pkt[H_MAX_MSG], buf[H_MAX_MSG];
	size_t len = h_make_packet(pkt, 0, false, 20, 7), out_len;
	struct h_msg m;
	unsigned act = 0;

	(void)state;
	ping(0, false, 10, 1);
	ping(1, false, 10, 1);
	/* A packet encrypted now but delivered after REJECT_AFTER_TIME is refused. */
	memcpy(buf + WG_DATA_HEADER_LEN, pkt, len);
	assert_int_equal(wg_peer_encrypt(H.node[0].peer, buf, len, H_MTU, H.now, &out_len, &act),
			 WG_TX_OK);
	H.filter = drop_all;
	h_advance(&H, WG_REJECT_AFTER_TIME, 5 * NSEC_PER_SEC);
	assert_false(wg_peer_can_send(H.node[0].peer, H.now));
	assert_false(wg_peer_can_send(H.node[1].peer, H.now));
	m.to = 1;
	m.len = out_len;
	memcpy(m.bytes, buf, out_len);
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_KEY_EXPIRED);
	/* Once the wire works again, a new handshake restores traffic. */
	H.filter = NULL;
	ping(0, false, 10, 2);
}

static void test_retry_then_give_up(void **state)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, 0, false, 20, 7);

	(void)state;
	H.filter = drop_all;
	h_send(&H, 0, pkt, len);
	assert_int_equal(H.node[0].initiations_sent, 1);
	assert_int_equal(H.node[0].nstaged, 1);
	/* Retries every REKEY_TIMEOUT + jitter: about 18 in 90 s. */
	h_advance(&H, WG_REKEY_ATTEMPT_TIME, NSEC_PER_SEC / 10);
	assert_in_range(H.node[0].initiations_sent, 17, 19);
	h_advance(&H, 30 * NSEC_PER_SEC, NSEC_PER_SEC / 10);
	/* 1 + MAX_TIMER_HANDSHAKES + 1 attempts in all, then silence and no staged packets. */
	assert_int_equal(H.node[0].initiations_sent, WG_MAX_TIMER_HANDSHAKES + 2);
	assert_int_equal(H.node[0].nstaged, 0);
	/* Each retry is a timeout, then one give-up; nothing completed. */
	assert_int_equal(H.node[0].peer->counters.initiations_sent, WG_MAX_TIMER_HANDSHAKES + 2);
	assert_int_equal(H.node[0].peer->counters.tx_packets, WG_MAX_TIMER_HANDSHAKES + 2);
	assert_int_equal(H.node[0].peer->counters.failures[WG_HSF_TIMEOUT],
			 WG_MAX_TIMER_HANDSHAKES + 1);
	assert_int_equal(H.node[0].peer->counters.failures[WG_HSF_GAVE_UP], 1);
	assert_int_equal(H.node[0].peer->counters.handshakes_completed, 0);
	h_advance(&H, 300 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_int_equal(H.node[0].initiations_sent, WG_MAX_TIMER_HANDSHAKES + 2);
}

static void test_simultaneous_initiation(void **state)
{
	uint8_t a[WG_MSG_INITIATION_LEN], b[WG_MSG_INITIATION_LEN];

	(void)state;
	assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, a), WG_TX_OK);
	assert_int_equal(wg_peer_initiation(H.node[1].peer, false, H.now, b), WG_TX_OK);
	h_enqueue(&H, 1, a, sizeof(a));
	h_enqueue(&H, 0, b, sizeof(b));
	h_deliver(&H, 1000);
	/* Both consumed the other's initiation; retransmission with jitter breaks the tie. */
	h_advance(&H, 30 * NSEC_PER_SEC, NSEC_PER_SEC / 10);
	assert_true(wg_peer_can_send(H.node[0].peer, H.now) ||
		    wg_peer_can_send(H.node[1].peer, H.now));
	ping(0, false, 10, 1);
	ping(1, false, 10, 2);
	ping(0, true, 10, 3);
}

static bool keep_b_loaded(struct harness *h, int from, struct h_msg *m);
static size_t seal(int i, uint8_t *out, uint8_t fill);

static bool keep_b_loaded_fwd(struct harness *h, int from, struct h_msg *m)
{
	return keep_b_loaded(h, from, m);
}

/*
 * Crossing initiations (issue 16, wg/handshake.c): both nodes have a packet to send and
 * initiate in the same instant. Each answers the other's initiation and keeps its own, so
 * the session is up within the round trip, with no REKEY_TIMEOUT, and both sides end on
 * the one session the larger static key initiated.
 */

/* The node whose initiation the sessions converge on: the larger static public key. */
static int winner(void)
{
	return memcmp(H.node[0].pub, H.node[1].pub, WG_KEY_LEN) > 0 ? 0 : 1;
}

/* Both sides send with the same session, and each receives what the other sends. */
static void assert_converged(void)
{
	const struct wg_keypair *a = H.node[0].peer->cur, *b = H.node[1].peer->cur;

	assert_non_null(a);
	assert_non_null(b);
	assert_memory_equal(a->send_key, b->recv_key, WG_KEY_LEN);
	assert_memory_equal(a->recv_key, b->send_key, WG_KEY_LEN);
	assert_true(a->initiator != b->initiator);
}

/* Both nodes stage a packet and initiate; the wire then holds A's and B's initiations. */
static void send_both(void)
{
	uint8_t pa[H_MAX_MSG], pb[H_MAX_MSG];
	size_t la = h_make_packet(pa, 0, false, 40, 0xa0),
	       lb = h_make_packet(pb, 1, false, 40, 0xb0);

	h_send(&H, 0, pa, la);
	h_send(&H, 1, pb, lb);
	assert_int_equal(H.node[0].initiations_sent, 1);
	assert_int_equal(H.node[1].initiations_sent, 1);
	assert_int_equal(H.qlen, H.filter ? H.qlen : 2);
}

/* Each node got the other's staged packet, and pings go both ways, all at the same instant. */
static void assert_up_now(void)
{
	assert_int_equal(H.node[0].ninbox, 1);
	assert_int_equal(H.node[1].ninbox, 1);
	assert_int_equal(H.node[0].inbox[0][19], 1); /* A's packet went to 10.200.0.2... */
	assert_int_equal(H.node[1].inbox[0][19], 2); /* ...and B's to 10.200.0.1 */
	assert_true(wg_peer_can_send(H.node[0].peer, H.now));
	assert_true(wg_peer_can_send(H.node[1].peer, H.now));
	ping(0, false, 10, 1);
	ping(1, false, 10, 2);
	ping(0, true, 10, 3);
	ping(1, true, 10, 4);
	assert_converged();
}

/* Then time passes with traffic both ways: no retry, no new handshake, nothing dropped. */
static void assert_steady(unsigned initiations_a, unsigned initiations_b)
{
	unsigned unknown[2] = {H.node[0].rx_count[WG_RX_DROP_UNKNOWN_INDEX],
			       H.node[1].rx_count[WG_RX_DROP_UNKNOWN_INDEX]};

	for (int k = 0; k < 30; k++) {
		h_advance(&H, NSEC_PER_SEC, NSEC_PER_SEC / 10);
		ping(k & 1, false, 20, (uint8_t)k);
		ping(!(k & 1), false, 20, (uint8_t)k);
	}
	assert_int_equal(H.node[0].initiations_sent, initiations_a);
	assert_int_equal(H.node[1].initiations_sent, initiations_b);
	assert_int_equal(H.node[0].peer->counters.failures[WG_HSF_TIMEOUT], 0);
	assert_int_equal(H.node[1].peer->counters.failures[WG_HSF_TIMEOUT], 0);
	assert_int_equal(H.node[0].rx_count[WG_RX_DROP_UNKNOWN_INDEX], unknown[0]);
	assert_int_equal(H.node[1].rx_count[WG_RX_DROP_UNKNOWN_INDEX], unknown[1]);
	assert_converged();
}

/* Seeds whose keys come in both orders (winner() 0 and 1). */
static const uint64_t crossing_seeds[] = {1, 2, 3, 4, 5, 6};

static void reinit(uint64_t seed)
{
	h_done(&H);
	h_init(&H, seed, NULL);
}

static void test_crossing(void **state)
{
	bool seen[2] = {false, false};

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(crossing_seeds); k++) {
		/* Both orders of delivery: A gets B's initiation first, or B gets A's. */
		for (int first = 0; first < 2; first++) {
			struct h_msg ia, ib;

			reinit(crossing_seeds[k]);
			seen[winner()] = true;
			send_both();
			assert_true(h_pop(&H, &ia));
			assert_true(h_pop(&H, &ib));
			if (first == 0) {
				assert_int_equal(h_receive(&H, &ib), WG_RX_HANDSHAKE_INIT);
				assert_int_equal(h_receive(&H, &ia), WG_RX_HANDSHAKE_INIT);
			} else {
				assert_int_equal(h_receive(&H, &ia), WG_RX_HANDSHAKE_INIT);
				assert_int_equal(h_receive(&H, &ib), WG_RX_HANDSHAKE_INIT);
			}
			/* Each kept its own initiation beside the answer. */
			assert_int_equal(H.node[0].peer->crossed.state, WG_HS_CREATED_INITIATION);
			assert_int_equal(H.node[1].peer->crossed.state, WG_HS_CREATED_INITIATION);
			h_deliver(&H, 1000);
			/* Both responses completed a session; no index was unknown. */
			assert_int_equal(H.node[0].rx_count[WG_RX_HANDSHAKE_RESP], 1);
			assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_RESP], 1);
			assert_int_equal(H.node[0].peer->crossed.state, WG_HS_ZEROED);
			assert_int_equal(H.node[1].peer->crossed.state, WG_HS_ZEROED);
			assert_up_now();
			/* The session the larger key initiated; the other side is its responder. */
			assert_true(H.node[winner()].peer->cur->initiator);
			assert_steady(1, 1);
		}
	}
	assert_true(seen[0] && seen[1]);
}

/*
 * Reordering: B's response to A's initiation overtakes B's initiation, so only B sees the
 * crossing (A's initiation completes first, B's arrives at A after).
 */
static void test_crossing_one_side_sees_it(void **state)
{
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(crossing_seeds); k++) {
		struct h_msg ia, ib, m;

		reinit(crossing_seeds[k]);
		send_both();
		assert_true(h_pop(&H, &ia));
		assert_true(h_pop(&H, &ib));
		assert_int_equal(h_receive(&H, &ia), WG_RX_HANDSHAKE_INIT); /* B: crossing */
		assert_true(h_pop(&H, &m));				    /* B's response */
		assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_RESP);  /* before ib */
		assert_int_equal(h_receive(&H, &ib), WG_RX_HANDSHAKE_INIT); /* A: no crossing */
		h_deliver(&H, 1000);
		assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_RESP], 1);
		assert_up_now();
		assert_steady(1, 1);
	}
}

/*
 * The ordering left unconverged (docs/architecture.md): both directions reorder. B's
 * response overtakes B's initiation (so the winner W sees no crossing and answers the
 * loser's initiation as a plain next), and W's response overtakes W's first data (so the
 * loser L completes its kept initiation before it hears from W). Each side then takes the
 * other's session on its first packet: they send with different sessions. Traffic flows
 * both ways all along, and at REJECT_AFTER_TIME a new handshake ends it.
 */
static void test_crossing_double_reorder(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct h_msg iw, il, m, rw, dw;
		int w, l;

		reinit(crossing_seeds[k]);
		w = winner();
		l = !w;
		send_both();
		assert_true(h_pop(&H, &iw)); /* A's initiation first */
		assert_true(h_pop(&H, &il));
		if (w == 1) {
			m = iw;
			iw = il;
			il = m;
		}
		assert_int_equal(h_receive(&H, &iw), WG_RX_HANDSHAKE_INIT); /* L: crossing */
		assert_true(h_pop(&H, &m));				    /* L's response */
		assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_RESP);  /* W: no crossing */
		assert_true(h_pop(&H, &dw));				    /* W's data */
		assert_int_equal(h_receive(&H, &il), WG_RX_HANDSHAKE_INIT); /* W answers L's */
		assert_true(h_pop(&H, &rw));
		assert_int_equal(h_receive(&H, &rw), WG_RX_HANDSHAKE_RESP); /* before dw */
		assert_int_equal(h_receive(&H, &dw), WG_RX_DATA);
		h_deliver(&H, 1000);
		assert_int_equal(H.node[0].ninbox, 1);
		assert_int_equal(H.node[1].ninbox, 1);
		/* Not converged: each sends with the session the other initiated. */
		assert_false(H.node[w].peer->cur->initiator);
		assert_false(H.node[l].peer->cur->initiator);
		H.node[0].ninbox = H.node[1].ninbox = 0;
		for (int t = 0; t < 20; t++) { /* 200 s of traffic both ways: nothing lost */
			ping(0, false, 20, (uint8_t)t);
			ping(1, false, 20, (uint8_t)t);
			H.node[0].ninbox = H.node[1].ninbox = 0;
			h_advance(&H, 10 * NSEC_PER_SEC, NSEC_PER_SEC);
		}
		assert_converged();
	}
}

/* Drop the first message of a type that node `from` sends. */
struct drop_first {
	int from;
	uint32_t type;
	bool done;
};

static bool drop_first(struct harness *h, int from, struct h_msg *m)
{
	struct drop_first *d = h->filter_ctx;

	if (d->done || from != d->from || m->len < 4 || get_le32(m->bytes) != d->type)
		return true;
	d->done = true;
	return false;
}

/* One of the four handshake messages lost: still up within the round trip. */
static void test_crossing_with_loss(void **state)
{
	static const uint32_t types[] = {WG_MSG_INITIATION, WG_MSG_RESPONSE};

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		for (int from = 0; from < 2; from++) {
			for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
				struct drop_first d = {.from = from, .type = types[t]};

				reinit(crossing_seeds[k]);
				H.filter = drop_first;
				H.filter_ctx = &d;
				send_both();
				h_deliver(&H, 1000);
				assert_true(d.done);
				H.filter = NULL;
				assert_up_now();
				assert_steady(1, 1);
			}
		}
	}
}

/*
 * Against a peer that drops its own initiation when ours crosses it, as the kernel and
 * wireguard-go do: our response names an index it no longer has (dropped there, harmless),
 * its response completes our kept initiation. Either key order.
 */
static void test_crossing_kernel_peer(void **state)
{
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(crossing_seeds); k++) {
		for (int kern = 0; kern < 2; kern++) {
			reinit(crossing_seeds[k]);
			H.node[kern].kernel_crossing = true;
			send_both();
			h_deliver(&H, 1000);
			assert_int_equal(H.node[kern].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 1);
			assert_int_equal(H.node[!kern].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 0);
			assert_up_now();
			/* The only session both have: the one weft initiated. */
			assert_true(H.node[!kern].peer->cur->initiator);
			assert_steady(1, 1);
		}
	}
}

/*
 * What the fix is for: two peers that both drop their own initiation (kernel against
 * kernel) wait REKEY_TIMEOUT (plus jitter) for a retry, then come up.
 */
static void test_crossing_kernel_both_waits(void **state)
{
	(void)state;
	H.node[0].kernel_crossing = H.node[1].kernel_crossing = true;
	send_both();
	h_deliver(&H, 1000);
	assert_int_equal(H.node[0].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 1);
	assert_int_equal(H.node[1].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 1);
	h_advance(&H, WG_REKEY_TIMEOUT - NSEC_PER_MSEC, NSEC_PER_SEC / 10);
	assert_int_equal(H.node[0].ninbox + H.node[1].ninbox, 0);
	assert_false(wg_peer_can_send(H.node[0].peer, H.now) &&
		     wg_peer_can_send(H.node[1].peer, H.now));
	h_advance(&H, 2 * WG_REKEY_TIMEOUT, NSEC_PER_SEC / 10);
	assert_int_equal(H.node[0].ninbox, 1);
	assert_int_equal(H.node[1].ninbox, 1);
	ping(0, false, 10, 1);
	ping(1, false, 10, 2);
}

/*
 * A crossing while a session is up (both rekey at once), with data sent under the old
 * session before and after each initiation: nothing is lost on either side.
 */
static void test_crossing_rekey_in_flight(void **state)
{
	(void)state;
	for (size_t k = 0; k < 4; k++) {
		uint8_t ia[WG_MSG_INITIATION_LEN], ib[WG_MSG_INITIATION_LEN];
		struct h_msg d[4];
		struct h_msg *order[8];
		size_t n = 0, before[2];

		reinit(crossing_seeds[k]);
		ping(0, false, 10, 1);
		ping(1, false, 10, 2);
		h_advance(&H, 6 * NSEC_PER_SEC, NSEC_PER_SEC);
		before[0] = H.node[0].ninbox;
		before[1] = H.node[1].ninbox;
		for (int i = 0; i < 2; i++) {
			d[2 * i].to = d[2 * i + 1].to = !i;
			d[2 * i].len = seal(i, d[2 * i].bytes, (uint8_t)(0x10 + i));
		}
		assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, ia), WG_TX_OK);
		assert_int_equal(wg_peer_initiation(H.node[1].peer, false, H.now, ib), WG_TX_OK);
		for (int i = 0; i < 2; i++)
			d[2 * i + 1].len = seal(i, d[2 * i + 1].bytes, (uint8_t)(0x20 + i));
		/* Old-session data, initiations, old-session data, both ways, then responses. */
		h_enqueue(&H, 1, ia, sizeof(ia));
		h_enqueue(&H, 0, ib, sizeof(ib));
		order[n++] = &d[0];
		order[n++] = &d[2];
		for (size_t j = 0; j < n; j++)
			assert_int_equal(h_receive(&H, order[j]), WG_RX_DATA);
		h_deliver(&H, 2); /* the two initiations: both see a crossing */
		assert_int_equal(H.node[0].peer->crossed.state, WG_HS_CREATED_INITIATION);
		assert_int_equal(H.node[1].peer->crossed.state, WG_HS_CREATED_INITIATION);
		assert_int_equal(h_receive(&H, &d[1]), WG_RX_DATA);
		assert_int_equal(h_receive(&H, &d[3]), WG_RX_DATA);
		h_deliver(&H, 1000);
		assert_int_equal(H.node[0].ninbox, before[0] + 2);
		assert_int_equal(H.node[1].ninbox, before[1] + 2);
		H.node[0].ninbox = H.node[1].ninbox = 0; /* room for what follows */
		assert_converged();
		ping(0, false, 10, 3);
		ping(1, false, 10, 4);
		assert_int_equal(H.node[0].rx_count[WG_RX_DROP_UNKNOWN_INDEX] +
					 H.node[1].rx_count[WG_RX_DROP_UNKNOWN_INDEX],
				 0);
		assert_int_equal(H.node[0].rx_count[WG_RX_DROP_REPLAY] +
					 H.node[1].rx_count[WG_RX_DROP_REPLAY],
				 0);
		assert_steady(1, 0); /* the harness counts only what it sent itself */
	}
}

/*
 * After a crossing, only the winner's session is current anywhere, so only the winner
 * rekeys after REKEY_AFTER_TIME; the rekey loses nothing; keys are zeroed at the end.
 */
static void test_crossing_rekey_and_zero(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		int w;

		reinit(crossing_seeds[k]);
		w = winner();
		send_both();
		h_deliver(&H, 1000);
		assert_up_now();
		assert_false(H.node[!w].peer->cur->initiator);
		for (int s = 0; s < 14; s++) { /* 140 s of traffic both ways */
			h_advance(&H, 10 * NSEC_PER_SEC, NSEC_PER_SEC);
			ping(0, false, 20, (uint8_t)s);
			ping(1, false, 20, (uint8_t)s);
		}
		assert_int_equal(H.node[w].initiations_sent, 2);
		assert_int_equal(H.node[!w].initiations_sent, 1);
		assert_int_equal(H.node[0].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 0);
		assert_int_equal(H.node[1].rx_count[WG_RX_DROP_UNKNOWN_INDEX], 0);
		assert_converged();
		h_advance(&H, WG_ZERO_KEYS_AFTER + NSEC_PER_SEC, 10 * NSEC_PER_SEC);
		for (int i = 0; i < 2; i++) {
			struct wg_peer *p = H.node[i].peer;

			assert_null(p->prev);
			assert_null(p->cur);
			assert_null(p->next);
			assert_int_equal(p->hs.state, WG_HS_ZEROED);
			assert_int_equal(p->crossed.state, WG_HS_ZEROED);
			assert_false(p->crossed.entry.linked);
		}
	}
}

/*
 * A kept initiation whose response never comes (the peer dropped ours, as a node that did
 * not know us yet does) stays until the next initiation or the zeroing of keys, and costs
 * nothing: no retry, and the peer's removal unlinks its index.
 */
static void test_crossing_kept_initiation_lifetime(void **state)
{
	struct drop_first d = {.from = 0, .type = WG_MSG_INITIATION};
	struct wg_index_entry *e;
	uint32_t index;

	(void)state;
	H.filter = drop_first;
	H.filter_ctx = &d;
	send_both();
	h_deliver(&H, 1000);
	H.filter = NULL;
	assert_up_now();
	assert_int_equal(H.node[0].peer->crossed.state, WG_HS_CREATED_INITIATION);
	index = H.node[0].peer->crossed.entry.index;
	e = wg_index_lookup(&H.node[0].dev, index, WG_INDEX_HANDSHAKE);
	assert_ptr_equal(e, &H.node[0].peer->crossed.entry);
	/* The retransmission timer was disarmed by the session coming up. */
	h_advance(&H, 3 * WG_REKEY_TIMEOUT, NSEC_PER_SEC / 10);
	assert_int_equal(H.node[0].initiations_sent, 1);
	/* A new initiation replaces it. */
	H.node[0].peer->last_sent_handshake = 0;
	h_actions(&H, 0, WG_ACT_SEND_INITIATION);
	assert_int_equal(H.node[0].peer->crossed.state, WG_HS_ZEROED);
	assert_null(wg_index_lookup(&H.node[0].dev, index, WG_INDEX_HANDSHAKE));
	h_deliver(&H, 1000);
	ping(0, false, 10, 5);
	ping(1, false, 10, 6);
	/* And removal unlinks a kept one. */
	h_done(&H);
	h_init(&H, 1, NULL);
	d.done = false;
	H.filter = drop_first;
	H.filter_ctx = &d;
	send_both();
	h_deliver(&H, 1000);
	H.filter = NULL;
	index = H.node[0].peer->crossed.entry.index;
	assert_non_null(wg_index_lookup(&H.node[0].dev, index, WG_INDEX_HANDSHAKE));
	wg_peer_free(H.node[0].peer);
	H.node[0].peer = NULL;
	assert_null(wg_index_lookup(&H.node[0].dev, index, WG_INDEX_HANDSHAKE));
}

/* A replayed initiation of the peer does not touch our initiation in flight. */
static void test_crossing_replay_keeps_state(void **state)
{
	uint8_t old[WG_MSG_INITIATION_LEN], mine[WG_MSG_INITIATION_LEN];
	struct h_msg m = {.to = 0, .len = sizeof(old)};
	struct wg_handshake before;

	(void)state;
	assert_int_equal(wg_peer_initiation(H.node[1].peer, false, H.now, old), WG_TX_OK);
	memcpy(m.bytes, old, sizeof(old));
	assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_INIT);
	h_deliver(&H, 1000);
	H.now += NSEC_PER_SEC;
	assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, mine), WG_TX_OK);
	before = H.node[0].peer->hs;
	memcpy(m.bytes, old, sizeof(old));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_REPLAY_TIMESTAMP);
	assert_memory_equal(&H.node[0].peer->hs, &before, sizeof(before));
	assert_int_equal(H.node[0].peer->crossed.state, WG_HS_ZEROED);
}

/*
 * Under load, B answers A's initiation (and A's response) without mac2 with cookie replies
 * and consumes neither, so B never sees a crossing; A keeps its initiation, which B never
 * answers. As before the change, A's retry carries mac2 and the session comes up.
 */
static void test_crossing_under_load(void **state)
{
	(void)state;
	H.filter = keep_b_loaded_fwd;
	send_both();
	h_deliver(&H, 1000);
	assert_int_equal(H.node[1].rx_count[WG_RX_SENT_COOKIE], 2);
	assert_int_equal(H.node[1].peer->crossed.state, WG_HS_ZEROED);
	assert_int_equal(H.node[0].peer->crossed.state, WG_HS_CREATED_INITIATION);
	assert_true(H.node[0].peer->cookie.cookie_valid);
	h_advance(&H, 2 * WG_REKEY_TIMEOUT, NSEC_PER_SEC / 10);
	assert_true(H.node[1].dev.under_load);
	H.filter = NULL;
	assert_int_equal(H.node[0].ninbox, 1);
	assert_int_equal(H.node[1].ninbox, 1);
	ping(0, false, 10, 1);
	ping(1, false, 10, 2);
	assert_converged();
}

static bool keep_b_loaded(struct harness *h, int from, struct h_msg *m)
{
	(void)from;
	(void)m;
	wg_device_update_load(&h->node[1].dev, 1000, 1000, h->now);
	return true;
}

static void test_cookie_under_load(void **state)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, 0, false, 20, 7);

	(void)state;
	H.filter = keep_b_loaded;
	assert_true(wg_device_update_load(&H.node[1].dev, 1000, 1000, H.now));
	h_send(&H, 0, pkt, len);
	h_deliver(&H, 1000);
	/* B answered with a cookie reply instead of a response. */
	assert_int_equal(H.node[1].rx_count[WG_RX_SENT_COOKIE], 1);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 0);
	assert_int_equal(H.node[0].rx_count[WG_RX_COOKIE], 1);
	assert_true(H.node[0].peer->cookie.cookie_valid);
	/* The retry carries mac2 and gets through while B is still under load. */
	h_advance(&H, 6 * NSEC_PER_SEC, NSEC_PER_SEC / 10);
	assert_true(H.node[1].dev.under_load);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 1);
	assert_int_equal(H.node[0].rx_count[WG_RX_HANDSHAKE_RESP], 1);
	assert_int_equal(H.node[1].ninbox, 1);
	/* The load decision is sticky for one second, then clears. */
	H.filter = NULL;
	assert_true(wg_device_update_load(&H.node[1].dev, 125, 1000, H.now));
	assert_true(wg_device_update_load(&H.node[1].dev, 124, 1000, H.now)); /* sticky */
	assert_true(wg_device_update_load(&H.node[1].dev, 0, 1000, H.now + NSEC_PER_SEC / 2));
	assert_false(wg_device_update_load(&H.node[1].dev, 0, 1000, H.now + 2 * NSEC_PER_SEC));
}

/* B's handshake queue is full: every handshake message to B goes through the overflow check. */
struct overflow {
	uint8_t cookie[WG_MSG_COOKIE_LEN];
	unsigned cookies, admitted, dropped;
};

static bool b_overflowing(struct harness *h, int from, struct h_msg *m)
{
	struct overflow *o = h->filter_ctx;
	uint32_t type = m->len >= 4 ? get_le32(m->bytes) : 0;

	(void)from;
	if (m->to != 1 || (type != WG_MSG_INITIATION && type != WG_MSG_RESPONSE))
		return true;
	wg_device_update_load(&h->node[1].dev, 1000, 1000, h->now);
	switch (wg_device_handshake_overflow(&h->node[1].dev, m->bytes, m->len, &h->node[0].ep,
					     h->now, o->cookie)) {
	case WG_RX_SENT_COOKIE:
		o->cookies++; /* the reply is delivered by the test, outside this filter */
		return false;
	case WG_RX_DATA:
		o->admitted++; /* proven: it gets a place in the queue */
		return true;
	default:
		o->dropped++;
		return false;
	}
}

static void test_handshake_overflow(void **state)
{
	struct overflow o = {0};
	uint8_t pkt[H_MAX_MSG], cookie[WG_MSG_COOKIE_LEN], bad[WG_MSG_INITIATION_LEN] = {1};
	size_t len = h_make_packet(pkt, 0, false, 20, 7);
	struct wg_peer before;

	(void)state;
	/* Anything but a handshake message with a valid mac1 is refused, and changes nothing. */
	memcpy(&before, H.node[1].peer, sizeof(before));
	assert_int_equal(wg_device_handshake_overflow(&H.node[1].dev, bad, sizeof(bad),
						      &H.node[0].ep, H.now, cookie),
			 WG_RX_DROP_MAC1);
	assert_int_equal(wg_device_handshake_overflow(&H.node[1].dev, bad, 100, &H.node[0].ep,
						      H.now, cookie),
			 WG_RX_DROP_LENGTH);
	bad[0] = WG_MSG_COOKIE;
	assert_int_equal(wg_device_handshake_overflow(&H.node[1].dev, bad, WG_MSG_COOKIE_LEN,
						      &H.node[0].ep, H.now, cookie),
			 WG_RX_DROP_TYPE);
	assert_int_equal(wg_device_handshake_overflow(&H.node[1].dev, bad, 3, &H.node[0].ep,
						      H.now, cookie),
			 WG_RX_DROP_SHORT);
	assert_memory_equal(&before, H.node[1].peer, sizeof(before));

	/* A's initiation (no mac2 yet) gets a cookie reply instead of a place in the queue. */
	H.filter = b_overflowing;
	H.filter_ctx = &o;
	h_send(&H, 0, pkt, len);
	assert_int_equal(o.cookies, 1);
	assert_int_equal(o.admitted, 0);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 0);
	h_enqueue(&H, 0, o.cookie, sizeof(o.cookie));
	h_deliver(&H, 1000);
	assert_int_equal(H.node[0].rx_count[WG_RX_COOKIE], 1);
	assert_true(H.node[0].peer->cookie.cookie_valid);
	/* Its retry carries mac2: admitted, and the handshake completes with B under load. */
	h_advance(&H, 6 * NSEC_PER_SEC, NSEC_PER_SEC / 10);
	assert_int_equal(o.admitted, 1);
	assert_int_equal(o.dropped, 0);
	assert_true(H.node[1].dev.under_load);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 1);
	assert_int_equal(H.node[0].rx_count[WG_RX_HANDSHAKE_RESP], 1);
	assert_int_equal(H.node[1].ninbox, 1);
	H.filter = NULL;
}

static void test_replayed_initiation_and_flood(void **state)
{
	uint8_t msg[WG_MSG_INITIATION_LEN];
	struct h_msg m = {.to = 1, .len = sizeof(msg)};

	(void)state;
	assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, msg), WG_TX_OK);
	memcpy(m.bytes, msg, sizeof(msg));
	assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_INIT);
	memcpy(m.bytes, msg, sizeof(msg));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_REPLAY_TIMESTAMP);
	/* A newer initiation 18 ms later: newer timestamp, but within the 20 ms flood window. */
	H.now += 18 * NSEC_PER_MSEC;
	H.node[0].peer->last_sent_handshake = 0;
	assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, msg), WG_TX_OK);
	memcpy(m.bytes, msg, sizeof(msg));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_FLOOD);
	H.now += 30 * NSEC_PER_MSEC;
	H.node[0].peer->last_sent_handshake = 0;
	assert_int_equal(wg_peer_initiation(H.node[0].peer, false, H.now, msg), WG_TX_OK);
	memcpy(m.bytes, msg, sizeof(msg));
	assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_INIT);
	/* Counted against the peer: one replay, one flood; the two fresh ones received. */
	assert_int_equal(H.node[1].peer->counters.failures[WG_HSF_REPLAY_TIMESTAMP], 1);
	assert_int_equal(H.node[1].peer->counters.failures[WG_HSF_FLOOD], 1);
	assert_int_equal(H.node[1].peer->counters.initiations_received, 2);
	assert_int_equal(H.node[1].peer->counters.responses_sent, 2);
}

/* Encrypt one data packet from node i without delivering it. */
static size_t seal(int i, uint8_t *out, uint8_t fill)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, i, false, 16, fill), out_len = 0;
	unsigned act = 0;

	memcpy(out + WG_DATA_HEADER_LEN, pkt, len);
	assert_int_equal(wg_peer_encrypt(H.node[i].peer, out, len, H_MTU, H.now, &out_len, &act),
			 WG_TX_OK);
	return out_len;
}

static void test_data_replay_and_window(void **state)
{
	struct h_msg first = {.to = 1}, m = {.to = 1};

	(void)state;
	ping(0, false, 10, 1);
	first.len = seal(0, first.bytes, 9);
	m = first;
	assert_int_equal(h_receive(&H, &m), WG_RX_DATA);
	m = first;
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_REPLAY);

	/* Out of order inside the window is fine; far behind the window is not. */
	first.len = seal(0, first.bytes, 10);
	for (int k = 0; k < WG_REPLAY_WINDOW + 200; k++) {
		m.to = 1;
		m.len = seal(0, m.bytes, 11);
		assert_int_equal(h_receive(&H, &m), WG_RX_DATA);
	}
	m = first;
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_REPLAY);
}

static void test_inner_checks(void **state)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len;
	struct h_msg m;

	(void)state;
	ping(0, false, 10, 1);
	/* Inner source outside A's allowed IPs at B. */
	len = h_make_packet(pkt, 0, false, 10, 1);
	pkt[15] = 99;
	h_send(&H, 0, pkt, len);
	assert_true(h_pop(&H, &m));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_INNER_SOURCE);
	/* Not an IP packet. */
	memset(pkt, 0, 40);
	h_send(&H, 0, pkt, 40);
	assert_true(h_pop(&H, &m));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_INNER_HEADER);
	/* IPv4 total length larger than what arrived. */
	len = h_make_packet(pkt, 0, false, 10, 1);
	put_be16(pkt + 2, 200);
	h_send(&H, 0, pkt, len);
	assert_true(h_pop(&H, &m));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_INNER_HEADER);
	/* Padding is trimmed: a 21-byte packet arrives as 21 bytes. */
	ping(0, false, 1, 3);
}

static void test_zero_keys(void **state)
{
	(void)state;
	ping(0, false, 10, 1);
	ping(1, false, 10, 1);
	assert_non_null(H.node[0].peer->cur);
	h_advance(&H, WG_ZERO_KEYS_AFTER + NSEC_PER_SEC, 10 * NSEC_PER_SEC);
	assert_null(H.node[0].peer->cur);
	assert_null(H.node[1].peer->cur);
	assert_true(crypto_is_zero(H.node[0].peer->slots[0].send_key, WG_KEY_LEN));
	ping(0, false, 10, 2);
}

static void test_private_key_change(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];

	(void)state;
	ping(0, false, 10, 1);
	assert_true(wg_peer_can_send(H.node[0].peer, H.now));
	/* Same key: nothing changes. */
	assert_int_equal(wg_device_set_private_key(&H.node[0].dev, H.node[0].priv), 0);
	assert_true(wg_peer_can_send(H.node[0].peer, H.now));
	/* New key: sessions expire; B does not know the new key so B drops the handshake. */
	assert_int_equal(crypto_x25519_keygen(priv, pub), 0);
	assert_int_equal(wg_device_set_private_key(&H.node[0].dev, priv), 0);
	assert_false(wg_peer_can_send(H.node[0].peer, H.now));
	/* Setting the key of an existing peer removes that peer. */
	assert_int_equal(wg_device_set_private_key(&H.node[0].dev, H.node[1].priv), 0);
	assert_null(wg_peer_lookup(&H.node[0].dev, H.node[1].pub));
	H.node[0].peer = NULL;
	assert_int_equal(H.node[0].dev.peer_count, 0);
}

static void test_low_order_peer(void **state)
{
	static const uint8_t zero[WG_KEY_LEN];
	static const uint8_t order8[WG_KEY_LEN] = {
		0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
		0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
		0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00};
	struct wg_peer *p;
	uint8_t msg[WG_MSG_INITIATION_LEN];

	(void)state;
	assert_int_equal(wg_peer_new(&H.node[0].dev, zero, &p), 0);
	assert_false(p->ss_valid);
	assert_int_equal(wg_peer_initiation(p, false, H.now, msg), WG_TX_NO_KEY);
	assert_int_equal(wg_peer_new(&H.node[0].dev, order8, &p), 0);
	assert_int_equal(wg_peer_initiation(p, false, H.now, msg), WG_TX_NO_KEY);
	/* Duplicates and our own key are refused. */
	assert_int_equal(wg_peer_new(&H.node[0].dev, order8, &p), -EEXIST);
	assert_int_equal(wg_peer_new(&H.node[0].dev, H.node[0].pub, &p), -EEXIST);
}

static void test_persistent_keepalive(void **state)
{
	(void)state;
	ping(0, false, 10, 1);
	ping(1, false, 10, 1);
	assert_int_equal(wg_peer_set_keepalive(H.node[0].peer, 25, H.now), WG_ACT_SEND_KEEPALIVE);
	assert_int_equal(wg_peer_set_keepalive(H.node[0].peer, 25, H.now), 0);
	h_actions(&H, 0, WG_ACT_SEND_KEEPALIVE);
	h_deliver(&H, 100);
	unsigned before = H.node[0].keepalives_sent;
	/* Every 25 s from the last authenticated packet, across rekeys. */
	h_advance(&H, 100 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_in_range(H.node[0].keepalives_sent - before, 3, 5);
	assert_int_equal(wg_peer_set_keepalive(H.node[0].peer, 0, H.now), 0);
	before = H.node[0].keepalives_sent;
	h_advance(&H, 100 * NSEC_PER_SEC, NSEC_PER_SEC);
	assert_int_equal(H.node[0].keepalives_sent, before);
}

static void test_psk(void **state)
{
	static const uint8_t psk[WG_KEY_LEN] = {1, 2, 3};
	struct h_msg m;
	uint8_t pkt[H_MAX_MSG];
	size_t len;

	(void)state;
	h_done(&H);
	h_init(&H, 7, psk);
	ping(0, false, 10, 1);
	ping(1, true, 10, 1);
	/* Mismatched PSK: the initiator cannot authenticate the response. */
	h_done(&H);
	h_init(&H, 8, psk);
	wg_peer_set_psk(H.node[1].peer, NULL);
	len = h_make_packet(pkt, 0, false, 10, 1);
	h_send(&H, 0, pkt, len);
	assert_true(h_pop(&H, &m));
	assert_int_equal(h_receive(&H, &m), WG_RX_HANDSHAKE_INIT);
	assert_true(h_pop(&H, &m));
	assert_int_equal(h_receive(&H, &m), WG_RX_DROP_HANDSHAKE_AUTH);
}

static void test_padding_and_names(void **state)
{
	static const size_t cases[][3] = {
		/* len, mtu, padded */
		{0, 1420, 0},       {1, 1420, 16},      {16, 1420, 16},     {17, 1420, 32},
		{1419, 1420, 1420}, {1420, 1420, 1420}, {1410, 1420, 1420}, {1405, 1420, 1408},
		{1421, 1420, 1436}, {100, 0, 112},      {1500, 1500, 1500}, {1497, 1500, 1500},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(wg_data_padded_len(cases[i][0], cases[i][1]), cases[i][2]);
	for (int r = 0; r < WG_RX__COUNT; r++)
		assert_string_not_equal(wg_rx_result_name((enum wg_rx_result)r), "unknown");
	assert_string_equal(wg_rx_result_name(WG_RX__COUNT), "unknown");
	for (int f = 0; f < WG_HSF__COUNT; f++)
		assert_string_not_equal(wg_hs_failure_name((enum wg_hs_failure)f), "unknown");
	assert_string_equal(wg_hs_failure_name(WG_HSF__COUNT), "unknown");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_handshake_and_data),
		T(test_responder_initiates),
		T(test_passive_keepalive),
		T(test_new_handshake_when_unanswered),
		T(test_rekey_after_time),
		T(test_reject_after_time),
		T(test_retry_then_give_up),
		T(test_simultaneous_initiation),
		T(test_crossing),
		T(test_crossing_one_side_sees_it),
		T(test_crossing_double_reorder),
		T(test_crossing_with_loss),
		T(test_crossing_kernel_peer),
		T(test_crossing_kernel_both_waits),
		T(test_crossing_rekey_in_flight),
		T(test_crossing_rekey_and_zero),
		T(test_crossing_kept_initiation_lifetime),
		T(test_crossing_replay_keeps_state),
		T(test_crossing_under_load),
		T(test_cookie_under_load),
		T(test_handshake_overflow),
		T(test_replayed_initiation_and_flood),
		T(test_data_replay_and_window),
		T(test_inner_checks),
		T(test_zero_keys),
		T(test_private_key_change),
		T(test_low_order_peer),
		T(test_persistent_keepalive),
		T(test_psk),
		T(test_padding_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

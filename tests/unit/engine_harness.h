/* SPDX-License-Identifier: MIT */
/*
 * Two WireGuard engines in memory, joined by a message queue, under a fake clock and a
 * seeded deterministic RNG. The harness plays the device's part (staging, carrying out the
 * engine's actions) so tests can script handshakes, data, timers, loss and tampering.
 *
 * Node 0 is "A" (10.200.0.1, fd00::1), node 1 is "B" (10.200.0.2, fd00::2); each allows the
 * other's /32 and /128.
 */
#ifndef WEFT_TEST_ENGINE_HARNESS_H
#define WEFT_TEST_ENGINE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/wg.h"

enum {
	H_MAX_MSG = 2048,
	H_QUEUE = 256,
	H_STAGED = 16,
	H_INBOX = 64,
	H_MTU = 1420,
};

struct h_msg {
	int to;
	size_t len;
	uint8_t bytes[H_MAX_MSG];
};

struct h_node {
	struct wg_device dev;
	struct wg_peer *peer; /* the other node */
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct wg_endpoint ep;
	uint64_t rng;
	uint64_t *now;
	/* packets waiting for a session */
	uint8_t staged[H_STAGED][H_MAX_MSG];
	size_t staged_len[H_STAGED];
	size_t nstaged;
	/* inner packets delivered to the "TUN" */
	uint8_t inbox[H_INBOX][H_MAX_MSG];
	size_t inbox_len[H_INBOX];
	size_t ninbox;
	/* outcome counters by enum wg_rx_result, and handshake messages sent */
	unsigned rx_count[WG_RX__COUNT];
	unsigned initiations_sent;
	unsigned handshakes_done;
	unsigned keepalives_sent;
	/*
	 * Behave like the kernel and wireguard-go when the peer's initiation crosses ours: drop
	 * our own (weft keeps it, see wg/handshake.c).
	 */
	bool kernel_crossing;
};

struct harness {
	struct h_node node[2];
	uint64_t now;
	struct h_msg queue[H_QUEUE];
	size_t qhead, qlen;
	/* Return false to drop a message on the wire (from -> to). */
	bool (*filter)(struct harness *h, int from, struct h_msg *m);
	void *filter_ctx;
};

/* Deterministic keys and RNG from seed; psk NULL for none. Asserts on failure. */
void h_init(struct harness *h, uint64_t seed, const uint8_t *psk);
void h_done(struct harness *h);
/* The engine env of a node (deterministic). */
void h_env(struct h_node *n, struct wg_env *env);

/* Build an IPv4 (v6 when v6) ICMP-ish packet from node `from` to the other, payload bytes. */
size_t h_make_packet(uint8_t *buf, int from, bool v6, size_t payload, uint8_t fill);
/* Send an inner packet from node `from` like a device would (stage + initiate if needed). */
void h_send(struct harness *h, int from, const uint8_t *pkt, size_t len);
/* Deliver queued messages until the wire is empty (at most `limit` messages). */
size_t h_deliver(struct harness *h, size_t limit);
/* Advance the clock by ns in steps of at most `step`, running timers and delivering. */
void h_advance(struct harness *h, uint64_t ns, uint64_t step);
/* Carry out engine actions for node i. */
void h_actions(struct harness *h, int i, unsigned act);
/* Enqueue raw bytes to node `to`. */
void h_enqueue(struct harness *h, int to, const uint8_t *bytes, size_t len);
/* Take the oldest queued message (false when empty). */
bool h_pop(struct harness *h, struct h_msg *out);
/* Hand one message to its node: returns the outcome. */
enum wg_rx_result h_receive(struct harness *h, struct h_msg *m);
/* Complete a handshake initiated by node i and deliver everything. */
void h_handshake(struct harness *h, int i);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The five per-peer timers of the whitepaper §6 as a deadline state machine (after the
 * Linux driver's timers.c). Event hooks arm and disarm absolute deadlines; the caller asks
 * wg_device_timers_next() when to wake and wg_device_timers_run() to fire what expired,
 * which hands back the actions to carry out per peer. No clock is read here: `now` comes in.
 *
 * The device keeps the peers with an armed timer in a binary min-heap, so a wake-up costs
 * O(log peers) per peer that is due instead of a scan of every peer (the kernel gets the
 * same from its timer wheel). A peer's heap key is a lower bound of its earliest deadline:
 * arming earlier than the key moves the peer up (or inserts it); disarming or postponing
 * leaves the key alone, and a stale key is settled (recomputed, sifted down or removed) only
 * when it reaches the top and is due or within the caller's horizon. The per-packet hooks
 * thus cost one compare unless they arm a deadline before the key, and a peer whose
 * keepalive every packet postpones costs one settle per keepalive interval.
 *
 * Must not: allocate outside wg_timers_reserve() (called when a peer is created), or leave
 * a peer that has an armed timer out of the heap.
 */
#include <errno.h>
#include <stdlib.h>

#include "wg/internal.h"

enum {
	HEAP_MIN_CAP = 16,
};

/* timer_key UINT64_MAX marks a peer outside the heap (its timer_pos is then meaningless). */
static bool in_heap(const struct wg_peer *peer)
{
	return peer->timer_key != UINT64_MAX;
}

/* ---------------------------------------------------------------------------------------- */
/* The device's heap of peers                                                                */

int wg_timers_reserve(struct wg_device *dev, size_t n)
{
	struct wg_timer_slot *heap;
	size_t cap = dev->timer_cap ? dev->timer_cap : HEAP_MIN_CAP;

	if (n <= dev->timer_cap)
		return 0;
	if (n > WG_MAX_PEERS)
		return -ENOMEM;
	while (cap < n)
		cap *= 2;
	if (cap > WG_MAX_PEERS)
		cap = WG_MAX_PEERS;
	heap = realloc(dev->timer_heap, cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	dev->timer_heap = heap;
	dev->timer_cap = (uint32_t)cap;
	return 0;
}

void wg_timers_done(struct wg_device *dev)
{
	free(dev->timer_heap);
	dev->timer_heap = NULL;
	dev->timer_len = dev->timer_cap = 0;
}

static void heap_put(struct wg_device *dev, uint32_t pos, struct wg_peer *peer, uint64_t key)
{
	dev->timer_heap[pos].key = key;
	dev->timer_heap[pos].peer = peer;
	peer->timer_key = key;
	peer->timer_pos = pos;
}

/* Fill the hole at pos with (peer, key), moving later-keyed parents down into it. */
static void sift_up(struct wg_device *dev, uint32_t pos, struct wg_peer *peer, uint64_t key)
{
	struct wg_timer_slot *h = dev->timer_heap;

	while (pos) {
		uint32_t parent = (pos - 1) / 2;

		if (h[parent].key <= key)
			break;
		h[pos] = h[parent];
		h[pos].peer->timer_pos = pos;
		pos = parent;
	}
	heap_put(dev, pos, peer, key);
}

/* Fill the hole at pos with (peer, key), moving earlier-keyed children up into it. */
static void sift_down(struct wg_device *dev, uint32_t pos, struct wg_peer *peer, uint64_t key)
{
	struct wg_timer_slot *h = dev->timer_heap;
	uint32_t n = dev->timer_len;

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].key < h[c].key)
			c++;
		if (key <= h[c].key)
			break;
		h[pos] = h[c];
		h[pos].peer->timer_pos = pos;
		pos = c;
	}
	heap_put(dev, pos, peer, key);
}

/* Put (peer, key) at pos, up or down as the key demands. */
static void heap_fix(struct wg_device *dev, uint32_t pos, struct wg_peer *peer, uint64_t key)
{
	if (pos && dev->timer_heap[(pos - 1) / 2].key > key)
		sift_up(dev, pos, peer, key);
	else
		sift_down(dev, pos, peer, key);
}

void wg_timers_remove(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_timer_slot last;
	uint32_t pos = peer->timer_pos;

	if (!in_heap(peer))
		return;
	peer->timer_key = UINT64_MAX;
	last = dev->timer_heap[--dev->timer_len];
	if (pos != dev->timer_len)
		heap_fix(dev, pos, last.peer, last.key);
}

/*
 * The slow path of arming: deadline is earlier than the peer's key (or the peer is not in
 * the heap). There is always room: wg_peer_new() reserved a slot for every peer.
 */
static void heap_raise(struct wg_peer *peer, uint64_t deadline)
{
	struct wg_device *dev = peer->dev;

	if (!in_heap(peer))
		sift_up(dev, dev->timer_len++, peer, deadline);
	else
		sift_up(dev, peer->timer_pos, peer, deadline);
}

/* Make the peer's key exact again after its timers changed: later, or out of the heap. */
static void heap_settle(struct wg_peer *peer)
{
	uint64_t next = wg_peer_timers_next(peer);

	if (next == UINT64_MAX)
		wg_timers_remove(peer);
	else if (next != peer->timer_key)
		heap_fix(peer->dev, peer->timer_pos, peer, next);
}

/* ---------------------------------------------------------------------------------------- */
/* Per-peer deadlines and event hooks                                                        */

static uint64_t jitter(struct wg_peer *peer)
{
	uint32_t r;

	peer->dev->env.random(peer->dev->env.ctx, &r, sizeof(r));
	return r % WG_REKEY_TIMEOUT_JITTER;
}

/* 0 means "not armed", so never arm exactly at 0. */
static uint64_t at(uint64_t t)
{
	return t ? t : 1;
}

/* Every deadline is set here, so the heap key stays a lower bound; disarming is plain `= 0`. */
static void arm(struct wg_peer *peer, uint64_t *deadline, uint64_t t)
{
	*deadline = at(t);
	if (*deadline < peer->timer_key)
		heap_raise(peer, *deadline);
}

/* Call after a data packet (not a keepalive) was encrypted for the peer. */
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now)
{
	if (!peer->timers.new_handshake)
		arm(peer, &peer->timers.new_handshake,
		    now + WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT + jitter(peer));
}

/* Call after a data packet (not a keepalive) from the peer was authenticated. */
void wg_timers_data_received(struct wg_peer *peer, uint64_t now)
{
	if (!peer->timers.send_keepalive)
		arm(peer, &peer->timers.send_keepalive, now + WG_KEEPALIVE_TIMEOUT);
	else
		peer->timers.need_another_keepalive = true;
}

/* Call after any authenticated packet (handshake, keepalive, data) was sent to the peer. */
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer)
{
	peer->timers.send_keepalive = 0;
}

/* Call after any authenticated packet was received from the peer. */
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer)
{
	peer->timers.new_handshake = 0;
}

/* Call after any authenticated packet was sent to or received from the peer. */
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer, uint64_t now)
{
	if (peer->persistent_keepalive)
		arm(peer, &peer->timers.persistent_keepalive,
		    now + (uint64_t)peer->persistent_keepalive * NSEC_PER_SEC);
}

/* Call after an initiation was sent. */
void wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now)
{
	arm(peer, &peer->timers.retransmit_handshake, now + WG_REKEY_TIMEOUT + jitter(peer));
}

/* Call when a handshake completed: response consumed, or first data under a new keypair. */
void wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now)
{
	peer->timers.retransmit_handshake = 0;
	peer->timers.handshake_attempts = 0;
	peer->timers.sent_lastminute_handshake = false;
	peer->last_handshake = now;
	peer->counters.handshakes_completed++;
}

/* Call when a new keypair was derived (either role). */
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now)
{
	arm(peer, &peer->timers.zero_key_material, now + WG_ZERO_KEYS_AFTER);
}

void wg_timers_stop(struct wg_peer *peer)
{
	struct wg_timers *t = &peer->timers;

	t->retransmit_handshake = t->send_keepalive = t->new_handshake = 0;
	t->zero_key_material = t->persistent_keepalive = 0;
}

uint64_t wg_peer_timers_next(const struct wg_peer *peer)
{
	const struct wg_timers *t = &peer->timers;
	const uint64_t all[] = {t->retransmit_handshake, t->send_keepalive, t->new_handshake,
				t->zero_key_material, t->persistent_keepalive};
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] && all[i] < next)
			next = all[i];
	return next;
}

static bool expired(uint64_t *deadline, uint64_t now)
{
	if (!*deadline || *deadline > now)
		return false;
	*deadline = 0;
	return true;
}

unsigned wg_peer_timers_run(struct wg_peer *peer, uint64_t now)
{
	struct wg_timers *t = &peer->timers;
	unsigned act = 0;

	if (expired(&t->retransmit_handshake, now)) {
		if (t->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
			/* Give up (after MAX + 2 attempts in all); keep keys until zeroing. */
			t->send_keepalive = 0;
			act |= WG_ACT_FLUSH_STAGED;
			peer->counters.failures[WG_HSF_GAVE_UP]++;
			if (!t->zero_key_material)
				arm(peer, &t->zero_key_material, now + WG_ZERO_KEYS_AFTER);
		} else {
			t->handshake_attempts++;
			peer->counters.failures[WG_HSF_TIMEOUT]++;
			act |= WG_ACT_SEND_INITIATION | WG_ACT_INITIATION_RETRY | WG_ACT_CLEAR_SRC;
		}
	}
	if (expired(&t->send_keepalive, now)) {
		act |= WG_ACT_SEND_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			arm(peer, &t->send_keepalive, now + WG_KEEPALIVE_TIMEOUT);
		}
	}
	if (expired(&t->new_handshake, now))
		act |= WG_ACT_SEND_INITIATION | WG_ACT_CLEAR_SRC;
	if (expired(&t->zero_key_material, now)) {
		wg_peer_clear_keypairs(peer);
		wg_handshake_clear(peer);
		act |= WG_ACT_KEYS_ZEROED;
	}
	if (expired(&t->persistent_keepalive, now) && peer->persistent_keepalive)
		act |= WG_ACT_SEND_KEEPALIVE;
	return act;
}

/* ---------------------------------------------------------------------------------------- */
/* The device's view                                                                         */

/*
 * Settle stale keys at the top while they are <= until, and return the top key: exact when
 * it is <= until. Stopping at until matters: when every peer has traffic, every key is stale
 * (each packet postpones the keepalive), and settling them all would be a full scan again.
 */
uint64_t wg_device_timers_next(struct wg_device *dev, uint64_t until)
{
	while (dev->timer_len) {
		struct wg_peer *top = dev->timer_heap[0].peer;

		if (top->timer_key > until || wg_peer_timers_next(top) == top->timer_key)
			return top->timer_key;
		heap_settle(top); /* its key grows or it leaves: this ends */
	}
	return UINT64_MAX;
}

unsigned wg_device_timers_run(struct wg_device *dev, uint64_t now,
			      void (*fn)(void *ctx, struct wg_peer *peer, unsigned actions),
			      void *ctx)
{
	unsigned fired = 0;

	while (wg_device_timers_next(dev, now) <= now) {
		struct wg_peer *peer = dev->timer_heap[0].peer;
		unsigned act = wg_peer_timers_run(peer, now);

		/* What was due is disarmed and what it re-armed lies after now. */
		heap_settle(peer);
		fired++;
		if (fn)
			fn(ctx, peer, act);
	}
	return fired;
}

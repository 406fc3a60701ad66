/* SPDX-License-Identifier: MIT */
/*
 * The five per-peer timers of the whitepaper §6 as a deadline state machine (after the
 * Linux driver's timers.c). Event hooks arm and disarm absolute deadlines; the caller asks
 * wg_peer_timers_next() when to wake and wg_peer_timers_run() to fire what expired, which
 * returns the actions to carry out. No clock is read here: `now` comes in.
 */
#include "wg/internal.h"

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

/* Call after a data packet (not a keepalive) was encrypted for the peer. */
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now)
{
	if (!peer->timers.new_handshake)
		peer->timers.new_handshake =
			at(now + WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT + jitter(peer));
}

/* Call after a data packet (not a keepalive) from the peer was authenticated. */
void wg_timers_data_received(struct wg_peer *peer, uint64_t now)
{
	if (!peer->timers.send_keepalive)
		peer->timers.send_keepalive = at(now + WG_KEEPALIVE_TIMEOUT);
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
		peer->timers.persistent_keepalive =
			at(now + (uint64_t)peer->persistent_keepalive * NSEC_PER_SEC);
}

/* Call after an initiation was sent. */
void wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now)
{
	peer->timers.retransmit_handshake = at(now + WG_REKEY_TIMEOUT + jitter(peer));
}

/* Call when a handshake completed: response consumed, or first data under a new keypair. */
void wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now)
{
	peer->timers.retransmit_handshake = 0;
	peer->timers.handshake_attempts = 0;
	peer->timers.sent_lastminute_handshake = false;
	peer->last_handshake = now;
}

/* Call when a new keypair was derived (either role). */
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now)
{
	peer->timers.zero_key_material = at(now + WG_ZERO_KEYS_AFTER);
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
			if (!t->zero_key_material)
				t->zero_key_material = at(now + WG_ZERO_KEYS_AFTER);
		} else {
			t->handshake_attempts++;
			act |= WG_ACT_SEND_INITIATION | WG_ACT_INITIATION_RETRY | WG_ACT_CLEAR_SRC;
		}
	}
	if (expired(&t->send_keepalive, now)) {
		act |= WG_ACT_SEND_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			t->send_keepalive = at(now + WG_KEEPALIVE_TIMEOUT);
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

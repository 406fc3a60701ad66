/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's handshake messages around the Noise core (whitepaper §5.4.2–5.4.5): indices,
 * timestamps, replay and flood rules, MACs, and deriving a session. Every consume function
 * works on temporaries and commits to the peer only once the message authenticated, so a
 * forged or replayed message changes nothing.
 *
 * Crossing initiations (issue 16). When the peer's initiation arrives while ours is in
 * flight, the kernel and wireguard-go answer it and drop their own; if the peer did the
 * same, each response names an index the other no longer has and the session waits
 * REKEY_TIMEOUT for a retry. We answer it too, but keep our initiation (peer->crossed, its
 * index still registered), so the peer's response to it still completes a session: a
 * kernel peer answers ours and drops its own, and our response to its dropped initiation
 * is then harmless. Nothing on the wire changes. When both sessions complete (the peer
 * keeps its initiation too), both sides converge on the one initiated by the larger static
 * key (add_crossed_keypair); the placement is safe whatever the peer does.
 */
#include <errno.h>
#include <string.h>

#include "lib/util.h"
#include "wg/cookie.h"
#include "wg/internal.h"
#include "wg/noise.h"

int wg_handshake_ephemeral(struct wg_device *dev, uint8_t priv[WG_KEY_LEN],
			   uint8_t pub[WG_KEY_LEN])
{
	dev->env.random(dev->env.ctx, priv, WG_KEY_LEN);
	crypto_x25519_clamp(priv);
	return crypto_x25519_public(pub, priv);
}

/* Unlink and wipe one handshake state; the peer's initiation replay state is kept. */
static void handshake_wipe(struct wg_device *dev, struct wg_handshake *hs)
{
	wg_index_remove(dev, &hs->entry);
	hs->state = WG_HS_ZEROED;
	crypto_wipe(hs->ck, sizeof(hs->ck));
	crypto_wipe(hs->h, sizeof(hs->h));
	crypto_wipe(hs->e_priv, sizeof(hs->e_priv));
	memset(hs->e_pub, 0, sizeof(hs->e_pub));
	memset(hs->remote_e, 0, sizeof(hs->remote_e));
	hs->remote_index = 0;
	hs->twin_id = 0;
}

void wg_handshake_clear(struct wg_peer *peer)
{
	handshake_wipe(peer->dev, &peer->hs);
	handshake_wipe(peer->dev, &peer->crossed);
}

void wg_handshake_clear_crossed(struct wg_peer *peer)
{
	handshake_wipe(peer->dev, &peer->crossed);
}

/*
 * The peer's initiation crossed ours (hs holds our initiation): move ours to peer->crossed
 * under the same index, so hs is free to answer the peer's.
 */
static void keep_initiation(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_handshake *hs = &peer->hs, *k = &peer->crossed;

	handshake_wipe(dev, k);
	k->entry.kind = WG_INDEX_HANDSHAKE;
	k->entry.peer = peer;
	wg_index_replace(dev, &hs->entry, &k->entry);
	memcpy(k->ck, hs->ck, sizeof(k->ck));
	memcpy(k->h, hs->h, sizeof(k->h));
	memcpy(k->e_priv, hs->e_priv, sizeof(k->e_priv));
	memcpy(k->e_pub, hs->e_pub, sizeof(k->e_pub));
	k->state = WG_HS_CREATED_INITIATION;
	handshake_wipe(dev, hs);
}

enum wg_tx_result wg_peer_initiation(struct wg_peer *peer, bool retry, uint64_t now,
				     uint8_t out[WG_MSG_INITIATION_LEN])
{
	struct wg_device *dev = peer->dev;
	struct wg_handshake *hs = &peer->hs;
	struct noise_symmetric s;
	uint8_t timestamp[WG_TAI64N_LEN];
	enum wg_tx_result res = WG_TX_NO_KEY;

	if (!retry)
		peer->timers.handshake_attempts = 0;
	/* At most one initiation per REKEY_TIMEOUT (whitepaper §6.2). */
	if (peer->last_sent_handshake && now - peer->last_sent_handshake < WG_REKEY_TIMEOUT)
		return WG_TX_RATE_LIMITED;
	if (!dev->has_key || !peer->ss_valid)
		return WG_TX_NO_KEY;

	wg_handshake_clear(peer);
	noise_symmetric_init_wireguard(&s);
	noise_mix_hash(&s, peer->remote_static, WG_KEY_LEN); /* pre-message s (responder) */
	if (wg_handshake_ephemeral(dev, hs->e_priv, hs->e_pub))
		goto fail;
	dev->env.tai64n(dev->env.ctx, timestamp);

	memset(out, 0, WG_MSG_INITIATION_LEN);
	out[0] = WG_MSG_INITIATION;
	if (noise_write_msg1(&s, hs->e_priv, hs->e_pub, peer->remote_static, dev->static_pub,
			     peer->static_static, timestamp, sizeof(timestamp),
			     out + WG_INIT_OFF_EPHEMERAL))
		goto fail;

	hs->entry.kind = WG_INDEX_HANDSHAKE;
	hs->entry.peer = peer;
	wg_index_insert_new(dev, &hs->entry);
	put_le32(out + WG_INIT_OFF_SENDER, hs->entry.index);
	memcpy(hs->ck, s.ck, sizeof(s.ck));
	memcpy(hs->h, s.h, sizeof(s.h));
	hs->state = WG_HS_CREATED_INITIATION;
	wg_cookie_add_macs(&peer->cookie, out, WG_MSG_INITIATION_LEN, now);

	peer->last_sent_handshake = now;
	peer->tx_bytes += WG_MSG_INITIATION_LEN;
	peer->counters.tx_packets++;
	peer->counters.initiations_sent++;
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_handshake_initiated(peer, now);
	res = WG_TX_OK;
	goto out;
fail:
	wg_handshake_clear(peer);
	res = WG_TX_CRYPTO_FAILED;
out:
	noise_symmetric_wipe(&s);
	return res;
}

enum wg_rx_result wg_handshake_consume_initiation(struct wg_device *dev, const uint8_t *msg,
						  uint64_t now, struct wg_peer **ret_peer)
{
	const uint8_t *body = msg + WG_INIT_OFF_EPHEMERAL;
	struct noise_symmetric s;
	uint8_t remote_e[WG_KEY_LEN], remote_static[WG_KEY_LEN], timestamp[WG_TAI64N_LEN];
	struct wg_peer *peer;
	struct wg_handshake *hs;
	enum wg_rx_result res = WG_RX_DROP_HANDSHAKE_AUTH;

	noise_symmetric_init_wireguard(&s);
	noise_mix_hash(&s, dev->static_pub, WG_KEY_LEN); /* pre-message s (us) */
	if (noise_read_msg1_static(&s, dev->static_priv, body, remote_e, remote_static))
		goto out;
	peer = wg_peer_lookup(dev, remote_static);
	if (!peer) {
		res = WG_RX_DROP_UNKNOWN_PEER;
		goto out;
	}
	if (!peer->ss_valid)
		goto out;
	if (noise_read_msg1_payload(&s, peer->static_static, body, timestamp, sizeof(timestamp))) {
		peer->counters.failures[WG_HSF_AUTH]++;
		goto out;
	}

	hs = &peer->hs;
	/* TAI64N is big-endian, so bytewise order is time order (§5.1 replay). */
	if (hs->have_consumed && memcmp(timestamp, hs->latest_timestamp, WG_TAI64N_LEN) <= 0) {
		res = WG_RX_DROP_REPLAY_TIMESTAMP;
		peer->counters.failures[WG_HSF_REPLAY_TIMESTAMP]++;
		goto out;
	}
	if (hs->have_consumed && now - hs->last_initiation_consumption < WG_INITIATION_MIN_INTERVAL) {
		res = WG_RX_DROP_FLOOD;
		peer->counters.failures[WG_HSF_FLOOD]++;
		goto out;
	}

	/* Authenticated and fresh: commit. Ours in flight is kept (see the top of the file). */
	if (hs->state == WG_HS_CREATED_INITIATION)
		keep_initiation(peer);
	else
		handshake_wipe(dev, hs);
	memcpy(hs->latest_timestamp, timestamp, WG_TAI64N_LEN);
	hs->last_initiation_consumption = now;
	hs->have_consumed = true;
	memcpy(hs->remote_e, remote_e, WG_KEY_LEN);
	hs->remote_index = get_le32(msg + WG_INIT_OFF_SENDER);
	memcpy(hs->ck, s.ck, sizeof(s.ck));
	memcpy(hs->h, s.h, sizeof(s.h));
	hs->state = WG_HS_CONSUMED_INITIATION;
	*ret_peer = peer;
	res = WG_RX_HANDSHAKE_INIT;
out:
	noise_symmetric_wipe(&s);
	crypto_wipe(remote_e, sizeof(remote_e));
	return res;
}

int wg_handshake_create_response(struct wg_peer *peer, uint64_t now,
				 uint8_t out[WG_MSG_RESPONSE_LEN])
{
	struct wg_device *dev = peer->dev;
	struct wg_handshake *hs = &peer->hs;
	struct noise_symmetric s;
	int r;

	if (hs->state != WG_HS_CONSUMED_INITIATION)
		return -EINVAL;
	memcpy(s.ck, hs->ck, sizeof(s.ck));
	memcpy(s.h, hs->h, sizeof(s.h));
	r = wg_handshake_ephemeral(dev, hs->e_priv, hs->e_pub);
	if (r)
		goto out;
	memset(out, 0, WG_MSG_RESPONSE_LEN);
	out[0] = WG_MSG_RESPONSE;
	r = noise_write_msg2(&s, hs->e_priv, hs->e_pub, hs->remote_e, peer->remote_static,
			     peer->psk, NULL, 0, out + WG_RESP_OFF_EPHEMERAL);
	if (r)
		goto out;
	hs->entry.kind = WG_INDEX_HANDSHAKE;
	hs->entry.peer = peer;
	wg_index_insert_new(dev, &hs->entry);
	put_le32(out + WG_RESP_OFF_SENDER, hs->entry.index);
	put_le32(out + WG_RESP_OFF_RECEIVER, hs->remote_index);
	memcpy(hs->ck, s.ck, sizeof(s.ck));
	memcpy(hs->h, s.h, sizeof(s.h));
	hs->state = WG_HS_CREATED_RESPONSE;
	wg_cookie_add_macs(&peer->cookie, out, WG_MSG_RESPONSE_LEN, now);
out:
	if (r)
		handshake_wipe(dev, hs);
	noise_symmetric_wipe(&s);
	return r;
}

enum wg_rx_result wg_handshake_consume_response(struct wg_device *dev, const uint8_t *msg,
						uint64_t now, struct wg_peer **ret_peer,
						struct wg_handshake **ret_hs)
{
	struct wg_index_entry *e;
	struct wg_handshake *hs;
	struct wg_peer *peer;
	struct noise_symmetric s;
	uint8_t remote_e[WG_KEY_LEN], empty[1];
	enum wg_rx_result res = WG_RX_DROP_HANDSHAKE_AUTH;

	e = wg_index_lookup(dev, get_le32(msg + WG_RESP_OFF_RECEIVER), WG_INDEX_HANDSHAKE);
	if (!e)
		return WG_RX_DROP_UNKNOWN_INDEX;
	peer = e->peer;
	hs = container_of(e, struct wg_handshake, entry); /* peer->hs or peer->crossed */
	if (hs->state != WG_HS_CREATED_INITIATION)
		return WG_RX_DROP_STATE;

	memcpy(s.ck, hs->ck, sizeof(s.ck));
	memcpy(s.h, hs->h, sizeof(s.h));
	if (noise_read_msg2(&s, hs->e_priv, dev->static_priv, peer->psk,
			    msg + WG_RESP_OFF_EPHEMERAL, empty, 0, remote_e)) {
		peer->counters.failures[WG_HSF_AUTH]++;
		goto out;
	}

	memcpy(hs->remote_e, remote_e, WG_KEY_LEN);
	hs->remote_index = get_le32(msg + WG_RESP_OFF_SENDER);
	memcpy(hs->ck, s.ck, sizeof(s.ck));
	memcpy(hs->h, s.h, sizeof(s.h));
	hs->state = WG_HS_CONSUMED_RESPONSE;
	*ret_peer = peer;
	*ret_hs = hs;
	res = WG_RX_HANDSHAKE_RESP;
out:
	noise_symmetric_wipe(&s);
	return res;
}

/*
 * Rotate a new keypair in (kern noise.c add_new_keypair). The initiator may use it at once:
 * it becomes current, and an unconfirmed next is dropped. The responder must wait for the
 * first packet under it (key confirmation): it becomes next, and previous is dropped.
 */
static void add_new_keypair(struct wg_peer *peer, struct wg_keypair *kp)
{
	struct wg_device *dev = peer->dev;

	if (kp->initiator) {
		if (peer->next && !peer->next->crossing) {
			wg_keypair_clear(dev, peer->prev);
			peer->prev = peer->next;
			peer->next = NULL;
			wg_keypair_clear(dev, peer->cur);
		} else {
			/*
			 * A crossing twin still next was never taken up (a kernel peer dropped
			 * the initiation it answers) or is kept only to receive: the peer uses
			 * the current one, which stays for its packets in flight.
			 */
			wg_keypair_clear(dev, peer->next);
			peer->next = NULL;
			wg_keypair_clear(dev, peer->prev);
			peer->prev = peer->cur;
		}
		peer->cur = kp;
	} else {
		wg_keypair_clear(dev, peer->next);
		peer->next = kp;
		wg_keypair_clear(dev, peer->prev);
		peer->prev = NULL;
	}
}

/*
 * Place the keypair of our kept initiation (we initiated it) beside its twin, the keypair we
 * derived answering the peer's crossing initiation. A weft peer may hold both too; both
 * sides converge on the one the larger static public key initiated, and each placement is
 * also right for a peer that holds only one (a kernel peer has only ours):
 *   - twin still next: send with ours at once (the peer may have only ours); the current
 *     one stays as previous for packets in flight. When ours wins, the twin is kept only to
 *     receive (the peer sends under it until it takes ours); when the peer's wins, the twin
 *     stays next and becomes current on the first packet under it, as any next does.
 *   - twin already current (the peer sent under it): ours becomes current when it wins;
 *     otherwise the twin stays current and ours is kept as previous.
 *   - no twin (replaced since): as any new keypair.
 */
static void add_crossed_keypair(struct wg_peer *peer, struct wg_keypair *kp, uint64_t twin_id)
{
	struct wg_device *dev = peer->dev;
	bool ours_wins = memcmp(dev->static_pub, peer->remote_static, WG_KEY_LEN) > 0;

	if (twin_id && peer->next && peer->next->id == twin_id) {
		wg_keypair_clear(dev, peer->prev);
		peer->prev = peer->cur;
		peer->cur = kp;
		peer->next->receive_only = ours_wins;
	} else if (twin_id && peer->cur && peer->cur->id == twin_id && !peer->next) {
		wg_keypair_clear(dev, peer->prev);
		if (ours_wins) {
			peer->prev = peer->cur;
			peer->cur = kp;
		} else {
			peer->prev = kp;
		}
	} else {
		add_new_keypair(peer, kp);
	}
}

static struct wg_keypair *free_slot(struct wg_peer *peer)
{
	for (size_t i = 0; i < ARRAY_SIZE(peer->slots); i++)
		if (!peer->slots[i].in_use)
			return &peer->slots[i];
	return NULL; /* unreachable: at most three slots are live */
}

int wg_handshake_begin_session(struct wg_peer *peer, struct wg_handshake *hs, uint64_t now)
{
	struct wg_device *dev = peer->dev;
	struct noise_symmetric s;
	struct wg_keypair *kp;
	uint8_t k1[WG_KEY_LEN], k2[WG_KEY_LEN];
	bool initiator, kept = hs == &peer->crossed;
	uint64_t twin_id = hs->twin_id;
	int r;

	if (hs->state == WG_HS_CONSUMED_RESPONSE)
		initiator = true;
	else if (hs->state == WG_HS_CREATED_RESPONSE)
		initiator = false;
	else
		return -EINVAL;
	kp = free_slot(peer);
	if (!kp)
		return -ENOSPC;

	memcpy(s.ck, hs->ck, sizeof(s.ck));
	noise_split(&s, k1, k2);
	memcpy(kp->send_key, initiator ? k1 : k2, WG_KEY_LEN);
	memcpy(kp->recv_key, initiator ? k2 : k1, WG_KEY_LEN);
	r = crypto_aead_init(&kp->send, kp->send_key, true);
	if (!r)
		r = crypto_aead_init(&kp->recv, kp->recv_key, false);
	if (r) {
		crypto_aead_done(&kp->send);
		crypto_wipe(kp->send_key, WG_KEY_LEN);
		crypto_wipe(kp->recv_key, WG_KEY_LEN);
		goto out;
	}
	wg_replay_init(&kp->replay);
	kp->birthdate = now;
	kp->send_counter = 0;
	kp->id = ++dev->next_keypair_id;
	kp->initiator = initiator;
	kp->remote_index = hs->remote_index;
	kp->in_use = true;
	kp->crossing = false;
	kp->receive_only = false;
	kp->entry.kind = WG_INDEX_KEYPAIR;
	kp->entry.peer = peer;
	/* The keypair takes over the handshake's index: the peer already addresses it. */
	wg_index_replace(dev, &hs->entry, &kp->entry);
	handshake_wipe(dev, hs);
	/* The first session we answer while our initiation is kept is its twin. */
	if (!initiator && peer->crossed.state == WG_HS_CREATED_INITIATION &&
	    !peer->crossed.twin_id) {
		kp->crossing = true;
		peer->crossed.twin_id = kp->id;
	}
	if (peer->cur)
		peer->counters.rekeys++;
	if (kept)
		add_crossed_keypair(peer, kp, twin_id);
	else
		add_new_keypair(peer, kp);
	peer->timers.sent_lastminute_handshake = false;
	wg_timers_session_derived(peer, now);
out:
	crypto_wipe(k1, sizeof(k1));
	crypto_wipe(k2, sizeof(k2));
	noise_symmetric_wipe(&s);
	return r;
}

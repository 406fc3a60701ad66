/* SPDX-License-Identifier: MIT */
/*
 * Peers and their keypairs. A peer is the only thing the engine allocates (on creation,
 * with its room in the device's timer heap); its four keypair slots, handshake and cookie
 * state are embedded so nothing per handshake or per packet needs the heap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "wg/cookie.h"
#include "wg/internal.h"

void wg_peer_update_static_static(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;

	peer->ss_valid = dev->has_key &&
			 crypto_x25519(peer->static_static, dev->static_priv, peer->remote_static) == 0;
	if (!peer->ss_valid)
		crypto_wipe(peer->static_static, sizeof(peer->static_static));
}

int wg_peer_new(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], struct wg_peer **ret)
{
	struct wg_peer *peer;

	if (wg_peer_lookup(dev, pub) ||
	    (dev->has_key && crypto_equal(pub, dev->static_pub, WG_KEY_LEN)))
		return -EEXIST;
	if (dev->peer_count >= WG_MAX_PEERS)
		return -ENOSPC;
	/* Every peer may have a timer armed: room in the heap now, so arming never allocates. */
	if (wg_timers_reserve(dev, dev->peer_count + 1))
		return -ENOMEM;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->dev = dev;
	peer->timer_key = UINT64_MAX; /* not in the timer heap */
	memcpy(peer->remote_static, pub, WG_KEY_LEN);
	wg_cookie_peer_init(&peer->cookie, pub);
	wg_peer_update_static_static(peer);

	wg_peertab_insert(dev, peer);
	peer->list_next = dev->peers;
	if (dev->peers)
		dev->peers->list_prev = peer;
	dev->peers = peer;
	dev->peer_count++;
	*ret = peer;
	return 0;
}

void wg_peer_free(struct wg_peer *peer)
{
	struct wg_device *dev;

	if (!peer)
		return;
	dev = peer->dev;
	wg_timers_remove(peer);
	wg_allowedips_remove_peer(&dev->allowedips, peer);
	wg_peer_clear_keypairs(peer);
	wg_handshake_clear(peer);
	wg_peertab_remove(dev, peer);
	if (peer->list_prev)
		peer->list_prev->list_next = peer->list_next;
	else
		dev->peers = peer->list_next;
	if (peer->list_next)
		peer->list_next->list_prev = peer->list_prev;
	dev->peer_count--;
	crypto_wipe(peer, sizeof(*peer));
	free(peer);
}

void wg_peer_set_psk(struct wg_peer *peer, const uint8_t psk[WG_KEY_LEN])
{
	if (psk)
		memcpy(peer->psk, psk, WG_KEY_LEN);
	else
		crypto_wipe(peer->psk, WG_KEY_LEN);
}

unsigned wg_peer_set_keepalive(struct wg_peer *peer, uint16_t seconds, uint64_t now)
{
	bool was_off = peer->persistent_keepalive == 0;

	peer->persistent_keepalive = seconds;
	/* Disarming leaves the heap key early; the heap settles it when it comes up. */
	if (!seconds)
		peer->timers.persistent_keepalive = 0;
	return was_off && seconds ? WG_ACT_SEND_KEEPALIVE : 0;
}

void wg_keypair_clear(struct wg_device *dev, struct wg_keypair *kp)
{
	if (!kp || !kp->in_use)
		return;
	wg_index_remove(dev, &kp->entry);
	crypto_aead_done(&kp->send);
	crypto_aead_done(&kp->recv);
	crypto_wipe(kp->send_key, sizeof(kp->send_key));
	crypto_wipe(kp->recv_key, sizeof(kp->recv_key));
	kp->in_use = false;
	kp->send_counter = 0;
	kp->remote_index = 0;
	kp->crossing = false;
	kp->receive_only = false;
}

void wg_peer_clear_keypairs(struct wg_peer *peer)
{
	wg_keypair_clear(peer->dev, peer->prev);
	wg_keypair_clear(peer->dev, peer->cur);
	wg_keypair_clear(peer->dev, peer->next);
	peer->prev = peer->cur = peer->next = NULL;
}

void wg_peer_expire_sessions(struct wg_peer *peer)
{
	/* Make the send side unusable; receiving goes on until the keys age out. */
	if (peer->cur)
		peer->cur->send_counter = WG_REJECT_AFTER_MESSAGES;
	if (peer->next)
		peer->next->send_counter = WG_REJECT_AFTER_MESSAGES;
}

bool wg_keypair_usable(const struct wg_keypair *kp, uint64_t now)
{
	return kp && kp->in_use && kp->send_counter < WG_REJECT_AFTER_MESSAGES &&
	       now - kp->birthdate < WG_REJECT_AFTER_TIME;
}

bool wg_peer_can_send(const struct wg_peer *peer, uint64_t now)
{
	return wg_keypair_usable(peer->cur, now);
}

bool wg_peer_received_with_keypair(struct wg_peer *peer, struct wg_keypair *kp)
{
	if (kp != peer->next || kp->receive_only)
		return false;
	/* Key confirmation (kern wg_noise_received_with_keypair): next becomes current. */
	wg_keypair_clear(peer->dev, peer->prev);
	peer->prev = peer->cur;
	peer->cur = peer->next;
	peer->next = NULL;
	return true;
}

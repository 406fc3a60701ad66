/* SPDX-License-Identifier: MIT */
/*
 * Declarations shared by the files of wg/ and by nothing else: the index and public-key
 * tables, the handshake steps, keypair rotation and the timer event hooks.
 */
#ifndef WEFT_WG_INTERNAL_H
#define WEFT_WG_INTERNAL_H

#include "wg/wg.h"

/* index.c — local session indices (random, unique per device) and peers by public key. */
int wg_index_init(struct wg_device *dev);
void wg_index_done(struct wg_device *dev);
/* Give e a fresh random index that no other entry uses, and link it. */
void wg_index_insert_new(struct wg_device *dev, struct wg_index_entry *e);
/* Unlink e (no-op when unlinked). */
void wg_index_remove(struct wg_device *dev, struct wg_index_entry *e);
/* Put dst in src's place under the same index; src ends unlinked. */
void wg_index_replace(struct wg_device *dev, struct wg_index_entry *src,
		      struct wg_index_entry *dst);
struct wg_index_entry *wg_index_lookup(const struct wg_device *dev, uint32_t index,
				       enum wg_index_kind kind);
void wg_peertab_insert(struct wg_device *dev, struct wg_peer *peer);
void wg_peertab_remove(struct wg_device *dev, struct wg_peer *peer);

/* handshake.c */
enum wg_rx_result wg_handshake_consume_initiation(struct wg_device *dev, const uint8_t *msg,
						  uint64_t now, struct wg_peer **ret_peer);
int wg_handshake_create_response(struct wg_peer *peer, uint64_t now,
				 uint8_t out[WG_MSG_RESPONSE_LEN]);
/* *ret_hs: the handshake the response completes, peer->hs or peer->crossed. */
enum wg_rx_result wg_handshake_consume_response(struct wg_device *dev, const uint8_t *msg,
						uint64_t now, struct wg_peer **ret_peer,
						struct wg_handshake **ret_hs);
/*
 * Derive a keypair from a finished handshake (hs: peer->hs, or peer->crossed for a kept
 * initiation). 0, -EINVAL (wrong state) or -ENOMEM/-EIO.
 */
int wg_handshake_begin_session(struct wg_peer *peer, struct wg_handshake *hs, uint64_t now);
/* Wipe all handshake state of the peer, a kept initiation included. */
void wg_handshake_clear(struct wg_peer *peer);
/* Forget a kept initiation only (what a kernel peer does when an initiation crosses its). */
void wg_handshake_clear_crossed(struct wg_peer *peer);
/* Generate a fresh ephemeral key pair from the env's randomness. */
int wg_handshake_ephemeral(struct wg_device *dev, uint8_t priv[WG_KEY_LEN],
			   uint8_t pub[WG_KEY_LEN]);

/* peer.c — keypairs */
void wg_keypair_clear(struct wg_device *dev, struct wg_keypair *kp);
/* The next keypair became current on its first received packet. true when rotated. */
bool wg_peer_received_with_keypair(struct wg_peer *peer, struct wg_keypair *kp);
void wg_peer_clear_keypairs(struct wg_peer *peer);
bool wg_keypair_usable(const struct wg_keypair *kp, uint64_t now);
/* Recompute DH(S_priv, S_peer); a zero result (low-order key) makes the peer unusable. */
void wg_peer_update_static_static(struct wg_peer *peer);

/* timers.c — event hooks, each named after when it must be called. */
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now);
void wg_timers_data_received(struct wg_peer *peer, uint64_t now);
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer, uint64_t now);
void wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now);
void wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now);
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now);
void wg_timers_stop(struct wg_peer *peer);
/* The device's timer heap: room for n peers (0 or -ENOMEM, nothing changed), and removal. */
int wg_timers_reserve(struct wg_device *dev, size_t n);
void wg_timers_remove(struct wg_peer *peer);
/* Free the heap storage; the heap must be empty (every peer freed). */
void wg_timers_done(struct wg_device *dev);

#endif

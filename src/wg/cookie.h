/* SPDX-License-Identifier: MIT */
/*
 * mac1, mac2 and cookie replies (whitepaper §5.4.4, §5.4.7): the DoS defence of the
 * handshake. mac1 proves the sender knows our public key; under load, mac2 proves it can
 * receive at its source address. The cookie secret rotates every 120 s, lazily.
 * Internal to wg/.
 */
#ifndef WEFT_WG_COOKIE_H
#define WEFT_WG_COOKIE_H

#include "wg/wg.h"

enum wg_cookie_verdict {
	WG_COOKIE_MAC1_INVALID,
	WG_COOKIE_MAC1_VALID,      /* mac1 good, mac2 absent or wrong */
	WG_COOKIE_MAC2_VALID,      /* both good */
};

/* Derive the checker's keys from our public key (call after every private-key change). */
void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t our_pub[WG_KEY_LEN]);
/* Derive a peer's mac1/cookie keys from its public key. */
void wg_cookie_peer_init(struct wg_cookie *c, const uint8_t peer_pub[WG_KEY_LEN]);
/* Fill mac1 and mac2 of a handshake message of len bytes (148 or 92) being sent to the peer. */
void wg_cookie_add_macs(struct wg_cookie *c, uint8_t *msg, size_t len, uint64_t now);
/* Check mac1 (and mac2 when check_mac2) of a received handshake message from src. */
enum wg_cookie_verdict wg_cookie_validate(struct wg_device *dev, const uint8_t *msg, size_t len,
					  const struct wg_endpoint *src, bool check_mac2,
					  uint64_t now);
/* Build a cookie reply to the handshake message msg (len bytes) from src into out[64]. */
int wg_cookie_create_reply(struct wg_device *dev, const uint8_t *msg, size_t len,
			   uint32_t sender_index, const struct wg_endpoint *src, uint64_t now,
			   uint8_t out[WG_MSG_COOKIE_LEN]);
/* Decrypt a cookie reply addressed to our last handshake message to peer c. 0 or -EBADMSG. */
int wg_cookie_consume_reply(struct wg_cookie *c, const uint8_t msg[WG_MSG_COOKIE_LEN],
			    uint64_t now);

#endif

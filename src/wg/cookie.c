/* SPDX-License-Identifier: MIT */
/*
 * mac1/mac2/cookie (whitepaper §5.4.4, §5.4.7). The cookie is
 * MAC(R_m, source address || source port) with R_m a random secret renewed lazily once older
 * than two minutes; the port is hashed big-endian as the Linux driver does (only we ever
 * recompute our cookies, so the encoding is ours to choose). Pure: randomness from the env.
 */
#include "wg/cookie.h"

#include <errno.h>
#include <string.h>

#include "lib/util.h"

static const char label_mac1[] = "mac1----";
static const char label_cookie[] = "cookie--";

static void derive_key(uint8_t out[WG_HASH_LEN], const char *label, const uint8_t pub[WG_KEY_LEN])
{
	crypto_blake2s(out, label, 8, pub, WG_KEY_LEN);
}

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t our_pub[WG_KEY_LEN])
{
	derive_key(c->mac1_key, label_mac1, our_pub);
	derive_key(c->cookie_key, label_cookie, our_pub);
}

void wg_cookie_peer_init(struct wg_cookie *c, const uint8_t peer_pub[WG_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	derive_key(c->mac1_key, label_mac1, peer_pub);
	derive_key(c->cookie_key, label_cookie, peer_pub);
}

/* mac1 covers everything before it, mac2 everything before mac2 (the last 32 / 16 bytes). */
static void compute_mac1(uint8_t out[WG_MAC_LEN], const uint8_t key[WG_HASH_LEN],
			 const uint8_t *msg, size_t len)
{
	crypto_blake2s_mac(out, key, WG_HASH_LEN, msg, len - 2 * WG_MAC_LEN);
}

static void compute_mac2(uint8_t out[WG_MAC_LEN], const uint8_t cookie[WG_MAC_LEN],
			 const uint8_t *msg, size_t len)
{
	crypto_blake2s_mac(out, cookie, WG_MAC_LEN, msg, len - WG_MAC_LEN);
}

void wg_cookie_add_macs(struct wg_cookie *c, uint8_t *msg, size_t len, uint64_t now)
{
	uint8_t *mac1 = msg + len - 2 * WG_MAC_LEN, *mac2 = msg + len - WG_MAC_LEN;

	compute_mac1(mac1, c->mac1_key, msg, len);
	memcpy(c->last_mac1, mac1, WG_MAC_LEN);
	c->have_sent_mac1 = true;

	/* Stop using a cookie a little before the responder's secret can have changed. */
	if (c->cookie_valid &&
	    now - c->cookie_birth < WG_COOKIE_SECRET_MAX_AGE - WG_COOKIE_SECRET_LATENCY)
		compute_mac2(mac2, c->cookie, msg, len);
	else
		memset(mac2, 0, WG_MAC_LEN);
}

static void make_cookie(struct wg_device *dev, uint8_t out[WG_MAC_LEN],
			const struct wg_endpoint *src, uint64_t now)
{
	struct wg_cookie_checker *c = &dev->checker;
	uint8_t input[16 + 2];
	size_t alen = src->family == WG_AF_INET6 ? 16 : 4;

	if (!c->secret_valid || now - c->secret_birth >= WG_COOKIE_SECRET_MAX_AGE) {
		dev->env.random(dev->env.ctx, c->secret, sizeof(c->secret));
		c->secret_birth = now;
		c->secret_valid = true;
	}
	memcpy(input, src->addr, alen);
	put_be16(input + alen, src->port);
	crypto_blake2s_mac(out, c->secret, sizeof(c->secret), input, alen + 2);
}

enum wg_cookie_verdict wg_cookie_validate(struct wg_device *dev, const uint8_t *msg, size_t len,
					  const struct wg_endpoint *src, bool check_mac2,
					  uint64_t now)
{
	uint8_t computed[WG_MAC_LEN], cookie[WG_MAC_LEN];
	enum wg_cookie_verdict v = WG_COOKIE_MAC1_INVALID;

	compute_mac1(computed, dev->checker.mac1_key, msg, len);
	if (!crypto_equal(computed, msg + len - 2 * WG_MAC_LEN, WG_MAC_LEN))
		goto out;
	v = WG_COOKIE_MAC1_VALID;
	if (!check_mac2)
		goto out;
	make_cookie(dev, cookie, src, now);
	compute_mac2(computed, cookie, msg, len);
	if (crypto_equal(computed, msg + len - WG_MAC_LEN, WG_MAC_LEN))
		v = WG_COOKIE_MAC2_VALID;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return v;
}

int wg_cookie_create_reply(struct wg_device *dev, const uint8_t *msg, size_t len,
			   uint32_t sender_index, const struct wg_endpoint *src, uint64_t now,
			   uint8_t out[WG_MSG_COOKIE_LEN])
{
	uint8_t cookie[WG_MAC_LEN];
	int r;

	memset(out, 0, 4);
	out[0] = WG_MSG_COOKIE;
	put_le32(out + WG_COOKIE_OFF_RECEIVER, sender_index);
	dev->env.random(dev->env.ctx, out + WG_COOKIE_OFF_NONCE, WG_COOKIE_NONCE_LEN);
	make_cookie(dev, cookie, src, now);
	/* AD = the mac1 of the message we answer, so only its sender can use the reply. */
	r = crypto_xaead_seal(dev->checker.cookie_key, out + WG_COOKIE_OFF_NONCE,
			      out + WG_COOKIE_OFF_COOKIE, cookie, sizeof(cookie),
			      msg + len - 2 * WG_MAC_LEN, WG_MAC_LEN);
	crypto_wipe(cookie, sizeof(cookie));
	return r;
}

int wg_cookie_consume_reply(struct wg_cookie *c, const uint8_t msg[WG_MSG_COOKIE_LEN],
			    uint64_t now)
{
	uint8_t cookie[WG_MAC_LEN];
	int r;

	if (!c->have_sent_mac1)
		return -EBADMSG;
	r = crypto_xaead_open(c->cookie_key, msg + WG_COOKIE_OFF_NONCE, cookie,
			      msg + WG_COOKIE_OFF_COOKIE, WG_MAC_LEN + WG_TAG_LEN, c->last_mac1,
			      WG_MAC_LEN);
	if (r)
		goto out;
	memcpy(c->cookie, cookie, sizeof(cookie));
	c->cookie_birth = now;
	c->cookie_valid = true;
	/* One reply per message we sent: a replayed reply must not refresh the cookie. */
	c->have_sent_mac1 = false;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return r ? -EBADMSG : 0;
}

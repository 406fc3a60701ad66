/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the STUN/TURN codec (overlay/stun.c).
 *
 * The input is a datagram. It is tried as STUN and as ChannelData. A message that parses must
 * have passed the demultiplexer, keep every view inside the input, and survive a rebuild: its
 * decoded attributes written again with the builder (plus integrity and fingerprint) must
 * parse back to the same values, with valid integrity. Integrity is checked against a fixed
 * key (any answer, no crash). ChannelData that parses must rebuild to the same bytes (without
 * padding). A Binding answer is never larger than the input. Any mismatch aborts; sanitizers
 * catch the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "overlay/stun.h"

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

static bool inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	const uint8_t *q = p;

	return q >= buf && q <= buf + len && n <= (size_t)(buf + len - q);
}

static bool same_ep(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, a->family == WG_AF_INET ? 4 : 16);
}

static void rebuild(const struct ov_stun_msg *m)
{
	static const uint8_t key[16] = {1, 2, 3, 4};
	static uint8_t out[OV_STUN_MAX_MSG];
	struct ov_stun_builder b;
	struct ov_stun_msg r;
	int len;

	ov_stun_begin(&b, out, sizeof(out), m->method, (enum ov_stun_class)m->cls, m->txid);
	if (m->has_xor_mapped)
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_MAPPED_ADDRESS, &m->xor_mapped);
	if (m->has_mapped)
		ov_stun_add_addr(&b, OV_STUN_ATTR_MAPPED_ADDRESS, &m->mapped);
	if (m->has_xor_peer)
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, &m->xor_peer);
	if (m->has_xor_relayed)
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_RELAYED_ADDRESS, &m->xor_relayed);
	if (m->has_lifetime)
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, m->lifetime);
	if (m->has_channel)
		ov_stun_add_channel(&b, m->channel);
	if (m->has_data)
		ov_stun_add_bytes(&b, OV_STUN_ATTR_DATA, m->data, m->data_len);
	if (m->has_username)
		ov_stun_add_bytes(&b, OV_STUN_ATTR_USERNAME, m->username, m->username_len);
	if (m->has_realm)
		ov_stun_add_bytes(&b, OV_STUN_ATTR_REALM, m->realm, m->realm_len);
	if (m->has_nonce)
		ov_stun_add_bytes(&b, OV_STUN_ATTR_NONCE, m->nonce, m->nonce_len);
	ov_stun_add_integrity(&b, key, sizeof(key));
	ov_stun_add_fingerprint(&b);
	len = ov_stun_end(&b);
	if (len < 0) {
		/* Only a message near the size cap may not fit with integrity and fingerprint. */
		CHECK(len == -ENOSPC);
		return;
	}
	CHECK(ov_stun_is_stun(out, (size_t)len));
	CHECK(ov_stun_parse(out, (size_t)len, &r, NULL, 0) == 0);
	CHECK(r.method == m->method && r.cls == m->cls && !memcmp(r.txid, m->txid, 12));
	CHECK(r.has_xor_mapped == m->has_xor_mapped &&
	      (!r.has_xor_mapped || same_ep(&r.xor_mapped, &m->xor_mapped)));
	CHECK(r.has_mapped == m->has_mapped && (!r.has_mapped || same_ep(&r.mapped, &m->mapped)));
	CHECK(r.has_xor_peer == m->has_xor_peer &&
	      (!r.has_xor_peer || same_ep(&r.xor_peer, &m->xor_peer)));
	CHECK(r.has_xor_relayed == m->has_xor_relayed &&
	      (!r.has_xor_relayed || same_ep(&r.xor_relayed, &m->xor_relayed)));
	CHECK(r.has_lifetime == m->has_lifetime && r.lifetime == m->lifetime);
	CHECK(r.has_channel == m->has_channel && r.channel == m->channel);
	CHECK(r.has_data == m->has_data && r.data_len == m->data_len &&
	      (!r.data_len || !memcmp(r.data, m->data, r.data_len)));
	CHECK(r.username_len == m->username_len && r.realm_len == m->realm_len &&
	      r.nonce_len == m->nonce_len);
	CHECK(r.has_fingerprint && r.has_integrity && r.n_unknown == 0);
	CHECK(ov_stun_check_integrity(out, (size_t)len, &r, key, sizeof(key)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[16] = {9};
	struct ov_stun_msg m;
	const uint8_t *cd;
	uint16_t ch;
	size_t cdlen;
	char err[128];

	if (ov_stun_parse(data, size, &m, err, sizeof(err)) == 0) {
		CHECK(ov_stun_is_stun(data, size));
		CHECK(!m.has_error || (m.error_code >= 300 && m.error_code <= 699));
		CHECK(!m.has_error || inside(m.error_reason, m.error_reason_len, data, size));
		CHECK(!m.has_data || inside(m.data, m.data_len, data, size));
		CHECK(!m.has_username || inside(m.username, m.username_len, data, size));
		CHECK(!m.has_realm || inside(m.realm, m.realm_len, data, size));
		CHECK(!m.has_nonce || inside(m.nonce, m.nonce_len, data, size));
		CHECK(!m.has_integrity || m.integrity_offset + 24 <= size);
		CHECK(m.n_unknown <= OV_STUN_MAX_UNKNOWN);
		(void)ov_stun_check_integrity(data, size, &m, key, sizeof(key));
		rebuild(&m);
	} else {
		CHECK(memchr(err, 0, sizeof(err)));
	}
	{
		/* Answering never amplifies. */
		static uint8_t ans[OV_STUN_MAX_MSG];
		struct wg_endpoint src = {.family = WG_AF_INET6, .port = 9, .addr = {0xfd}};
		int al = ov_stun_binding_answer(data, size, &src, ans, sizeof(ans));

		CHECK(al < 0 || ((size_t)al <= size && ov_stun_is_stun(ans, (size_t)al)));
	}
	if (ov_stun_channel_data_parse(data, size, &ch, &cd, &cdlen) == 0) {
		static uint8_t out[65536 + 4];
		int len;

		CHECK(ov_stun_is_channel_data(data, size));
		CHECK(!ov_stun_is_stun(data, size));
		CHECK(inside(cd, cdlen, data, size));
		len = ov_stun_channel_data_build(out, sizeof(out), ch, cd, cdlen);
		CHECK(len == (int)(cdlen + 4) && !memcmp(out, data, (size_t)len));
	}
	return 0;
}

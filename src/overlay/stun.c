// SPDX-License-Identifier: MIT
/*
 * stun.c — the STUN/TURN message codec (see stun.h for the decisions).
 *
 * Must not: do I/O, allocate, log, or read or write outside the buffers it is given. Every read
 * of an attribute is bounded by the attribute's length, itself bounded by the message.
 */
#include "overlay/stun.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "lib/util.h"

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

uint16_t ov_stun_type(uint16_t method, enum ov_stun_class cls)
{
	unsigned m = method & 0x0FFF, c = (unsigned)cls & 3;

	return (uint16_t)((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
			  ((c & 1) << 4) | ((c & 2) << 7));
}

bool ov_stun_is_stun(const uint8_t *buf, size_t len)
{
	if (len < OV_STUN_HEADER_LEN || (buf[0] & 0xC0) != 0)
		return false;
	if (get_be32(buf + 4) != OV_STUN_MAGIC_COOKIE)
		return false;
	return (size_t)get_be16(buf + 2) + OV_STUN_HEADER_LEN == len && (len & 3) == 0;
}

/* An address attribute (RFC 8489 §14.1, §14.2): XORed with the cookie (and txid for IPv6). */
static int decode_addr(const uint8_t *v, size_t n, bool xor, const uint8_t *txid,
		       struct wg_endpoint *ep)
{
	uint8_t mask[16];
	size_t alen, i;

	if (n < 4)
		return -EBADMSG;
	put_be32(mask, OV_STUN_MAGIC_COOKIE);
	memcpy(mask + 4, txid, OV_STUN_TXID_LEN);
	memset(ep, 0, sizeof(*ep));
	if (v[1] == 0x01) {
		ep->family = WG_AF_INET;
		alen = 4;
	} else if (v[1] == 0x02) {
		ep->family = WG_AF_INET6;
		alen = 16;
	} else {
		return -EBADMSG;
	}
	if (n != 4 + alen)
		return -EBADMSG;
	ep->port = (uint16_t)(get_be16(v + 2) ^ (xor? OV_STUN_MAGIC_COOKIE >> 16 : 0));
	for (i = 0; i < alen; i++)
		ep->addr[i] = (uint8_t)(v[4 + i] ^ (xor? mask[i] : 0));
	return 0;
}

/* Known attributes that this codec skips without decoding. */
static bool known_skipped(uint16_t type)
{
	switch (type) {
	case OV_STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case OV_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case OV_STUN_ATTR_EVEN_PORT:
	case OV_STUN_ATTR_REQUESTED_TRANSPORT:
	case OV_STUN_ATTR_DONT_FRAGMENT:
	case OV_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case OV_STUN_ATTR_PASSWORD_ALGORITHM:
	case OV_STUN_ATTR_USERHASH:
	case OV_STUN_ATTR_RESERVATION_TOKEN:
		return true;
	default:
		return type >= 0x8000; /* comprehension-optional: skipping is the rule */
	}
}

static int parse_attr(const uint8_t *buf, size_t len, size_t pos, uint16_t type, const uint8_t *v,
		      size_t n, struct ov_stun_msg *m, char *err, size_t errlen)
{
	struct wg_endpoint ep;
	bool xor = type != OV_STUN_ATTR_MAPPED_ADDRESS;
	uint32_t crc;

	switch (type) {
	case OV_STUN_ATTR_MAPPED_ADDRESS:
	case OV_STUN_ATTR_XOR_MAPPED_ADDRESS:
	case OV_STUN_ATTR_XOR_PEER_ADDRESS:
	case OV_STUN_ATTR_XOR_RELAYED_ADDRESS:
		if (decode_addr(v, n, xor, m->txid, &ep) < 0)
			return fail(err, errlen, "attribute 0x%04x: bad address (length %u)", type,
				    (unsigned)n);
		if (type == OV_STUN_ATTR_MAPPED_ADDRESS && !m->has_mapped) {
			m->has_mapped = true;
			m->mapped = ep;
		} else if (type == OV_STUN_ATTR_XOR_MAPPED_ADDRESS && !m->has_xor_mapped) {
			m->has_xor_mapped = true;
			m->xor_mapped = ep;
		} else if (type == OV_STUN_ATTR_XOR_PEER_ADDRESS && !m->has_xor_peer) {
			m->has_xor_peer = true;
			m->xor_peer = ep;
		} else if (type == OV_STUN_ATTR_XOR_RELAYED_ADDRESS && !m->has_xor_relayed) {
			m->has_xor_relayed = true;
			m->xor_relayed = ep;
		}
		return 0;
	case OV_STUN_ATTR_ERROR_CODE:
		/* 21 reserved bits, class (3 bits, 3..6), number (0..99), reason (RFC 8489 §14.8)
		 */
		if (n < 4 || n - 4 > OV_STUN_REASON_MAX)
			return fail(err, errlen, "ERROR-CODE: bad length %u", (unsigned)n);
		if ((v[2] & 7) < 3 || (v[2] & 7) > 6 || v[3] > 99)
			return fail(err, errlen, "ERROR-CODE: bad code %u%02u", v[2] & 7, v[3]);
		if (!m->has_error) {
			m->has_error = true;
			m->error_code = (uint16_t)((v[2] & 7) * 100 + v[3]);
			m->error_reason = (const char *)v + 4;
			m->error_reason_len = n - 4;
		}
		return 0;
	case OV_STUN_ATTR_LIFETIME:
		if (n != 4)
			return fail(err, errlen, "LIFETIME: bad length %u", (unsigned)n);
		if (!m->has_lifetime) {
			m->has_lifetime = true;
			m->lifetime = get_be32(v);
		}
		return 0;
	case OV_STUN_ATTR_CHANNEL_NUMBER:
		if (n != 4)
			return fail(err, errlen, "CHANNEL-NUMBER: bad length %u", (unsigned)n);
		if (!m->has_channel) {
			m->has_channel = true;
			m->channel = get_be16(v);
		}
		return 0;
	case OV_STUN_ATTR_DATA:
		if (!m->has_data) {
			m->has_data = true;
			m->data = v;
			m->data_len = n;
		}
		return 0;
	case OV_STUN_ATTR_USERNAME:
		if (n > OV_STUN_USERNAME_MAX)
			return fail(err, errlen, "USERNAME: %u bytes", (unsigned)n);
		if (!m->has_username) {
			m->has_username = true;
			m->username = (const char *)v;
			m->username_len = n;
		}
		return 0;
	case OV_STUN_ATTR_REALM:
		if (n > OV_STUN_REALM_MAX)
			return fail(err, errlen, "REALM: %u bytes", (unsigned)n);
		if (!m->has_realm) {
			m->has_realm = true;
			m->realm = (const char *)v;
			m->realm_len = n;
		}
		return 0;
	case OV_STUN_ATTR_NONCE:
		if (n > OV_STUN_NONCE_MAX)
			return fail(err, errlen, "NONCE: %u bytes", (unsigned)n);
		if (!m->has_nonce) {
			m->has_nonce = true;
			m->nonce = (const char *)v;
			m->nonce_len = n;
		}
		return 0;
	case OV_STUN_ATTR_MESSAGE_INTEGRITY:
		if (n != OV_STUN_INTEGRITY_LEN)
			return fail(err, errlen, "MESSAGE-INTEGRITY: bad length %u", (unsigned)n);
		m->has_integrity = true;
		m->integrity_offset = pos;
		return 0;
	case OV_STUN_ATTR_FINGERPRINT:
		if (n != 4)
			return fail(err, errlen, "FINGERPRINT: bad length %u", (unsigned)n);
		if (pos + 8 != len)
			return fail(err, errlen, "FINGERPRINT is not the last attribute");
		crc = crypto_crc32(buf, pos) ^ OV_STUN_FINGERPRINT_XOR;
		if (crc != get_be32(v))
			return fail(err, errlen, "wrong FINGERPRINT");
		m->has_fingerprint = true;
		return 0;
	default:
		if (known_skipped(type))
			return 0;
		if (m->n_unknown < OV_STUN_MAX_UNKNOWN)
			m->unknown[m->n_unknown++] = type;
		else
			m->unknown_truncated = true;
		return 0;
	}
}

int ov_stun_parse(const uint8_t *buf, size_t len, struct ov_stun_msg *ret, char *err, size_t errlen)
{
	struct ov_stun_msg m;
	size_t pos, nattrs = 0;
	uint16_t type;
	int r;

	if (len < OV_STUN_HEADER_LEN)
		return fail(err, errlen, "%u bytes: shorter than a STUN header", (unsigned)len);
	if (len > OV_STUN_MAX_MSG)
		return fail(err, errlen, "%lu bytes: longer than %d", (unsigned long)len,
			    OV_STUN_MAX_MSG);
	if (buf[0] & 0xC0)
		return fail(err, errlen, "first two bits not zero");
	if (get_be32(buf + 4) != OV_STUN_MAGIC_COOKIE)
		return fail(err, errlen, "no magic cookie");
	if ((size_t)get_be16(buf + 2) + OV_STUN_HEADER_LEN != len)
		return fail(err, errlen, "length field %u does not match %u bytes",
			    get_be16(buf + 2), (unsigned)len);
	if (len & 3)
		return fail(err, errlen, "length %u is not a multiple of 4", (unsigned)len);

	memset(&m, 0, sizeof(m));
	type = get_be16(buf);
	m.method = ov_stun_type_method(type);
	m.cls = (uint8_t)ov_stun_type_class(type);
	m.length = get_be16(buf + 2);
	memcpy(m.txid, buf + 8, OV_STUN_TXID_LEN);

	for (pos = OV_STUN_HEADER_LEN; pos < len;) {
		uint16_t at, n;

		/* len and pos are multiples of 4, so an attribute header always fits here */
		at = get_be16(buf + pos);
		n = get_be16(buf + pos + 2);
		if (pad4(n) > len - pos - 4)
			return fail(err, errlen, "attribute 0x%04x (%u bytes) overruns the message",
				    at, n);
		if (++nattrs > OV_STUN_MAX_ATTRS)
			return fail(err, errlen, "more than %d attributes", OV_STUN_MAX_ATTRS);
		/* After MESSAGE-INTEGRITY only FINGERPRINT counts (RFC 8489 §14.5). */
		if (!m.has_integrity || at == OV_STUN_ATTR_FINGERPRINT) {
			r = parse_attr(buf, len, pos, at, buf + pos + 4, n, &m, err, errlen);
			if (r < 0)
				return r;
		}
		pos += 4 + pad4(n);
	}
	*ret = m;
	return 0;
}

/* --- builder --- */

/* Appends an attribute header and room for n bytes (padding zeroed); NULL on error. */
static uint8_t *put_attr(struct ov_stun_builder *b, uint16_t type, size_t n)
{
	uint8_t *v;

	if (b->err)
		return NULL;
	if (n > 0xFFFF) {
		b->err = -EINVAL;
		return NULL;
	}
	if (b->cap - b->len < 4 + pad4(n)) {
		b->err = -ENOSPC;
		return NULL;
	}
	v = b->buf + b->len;
	put_be16(v, type);
	put_be16(v + 2, (uint16_t)n);
	memset(v + 4 + n, 0, pad4(n) - n);
	b->len += 4 + pad4(n);
	put_be16(b->buf + 2, (uint16_t)(b->len - OV_STUN_HEADER_LEN));
	return v + 4;
}

void ov_stun_begin(struct ov_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		   enum ov_stun_class cls, const uint8_t txid[static OV_STUN_TXID_LEN])
{
	b->buf = buf;
	b->cap = cap < OV_STUN_MAX_MSG ? cap : OV_STUN_MAX_MSG;
	b->cap &= ~(size_t)3;
	b->len = 0;
	b->err = 0;
	if (b->cap < OV_STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return;
	}
	if (method > 0x0FFF || (unsigned)cls > 3) {
		b->err = -EINVAL;
		return;
	}
	put_be16(buf, ov_stun_type(method, cls));
	put_be16(buf + 2, 0);
	put_be32(buf + 4, OV_STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, OV_STUN_TXID_LEN);
	b->len = OV_STUN_HEADER_LEN;
}

static void add_addr(struct ov_stun_builder *b, uint16_t type, const struct wg_endpoint *ep,
		     bool xor)
{
	uint8_t mask[16], *v;
	size_t alen, i;

	if (b->err)
		return;
	if (ep->family != WG_AF_INET && ep->family != WG_AF_INET6) {
		b->err = -EINVAL;
		return;
	}
	alen = ep->family == WG_AF_INET ? 4 : 16;
	v = put_attr(b, type, 4 + alen);
	if (!v)
		return;
	put_be32(mask, OV_STUN_MAGIC_COOKIE);
	memcpy(mask + 4, b->buf + 8, OV_STUN_TXID_LEN);
	v[0] = 0;
	v[1] = ep->family == WG_AF_INET ? 0x01 : 0x02;
	put_be16(v + 2, (uint16_t)(ep->port ^ (xor? OV_STUN_MAGIC_COOKIE >> 16 : 0)));
	for (i = 0; i < alen; i++)
		v[4 + i] = (uint8_t)(ep->addr[i] ^ (xor? mask[i] : 0));
}

void ov_stun_add_xor_addr(struct ov_stun_builder *b, uint16_t type, const struct wg_endpoint *ep)
{
	add_addr(b, type, ep, true);
}

void ov_stun_add_addr(struct ov_stun_builder *b, uint16_t type, const struct wg_endpoint *ep)
{
	add_addr(b, type, ep, false);
}

void ov_stun_add_bytes(struct ov_stun_builder *b, uint16_t type, const void *p, size_t len)
{
	uint8_t *v = put_attr(b, type, len);

	if (v && len)
		memcpy(v, p, len);
}

void ov_stun_add_string(struct ov_stun_builder *b, uint16_t type, const char *s)
{
	ov_stun_add_bytes(b, type, s, strlen(s));
}

void ov_stun_add_u32(struct ov_stun_builder *b, uint16_t type, uint32_t val)
{
	uint8_t *v = put_attr(b, type, 4);

	if (v)
		put_be32(v, val);
}

void ov_stun_add_channel(struct ov_stun_builder *b, uint16_t channel)
{
	ov_stun_add_u32(b, OV_STUN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

void ov_stun_add_transport(struct ov_stun_builder *b, uint8_t protocol)
{
	ov_stun_add_u32(b, OV_STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)protocol << 24);
}

void ov_stun_add_error(struct ov_stun_builder *b, unsigned code, const char *reason)
{
	size_t rlen = strlen(reason);
	uint8_t *v;

	if (!b->err && (code < 300 || code > 699 || rlen > OV_STUN_REASON_MAX)) {
		b->err = -EINVAL;
		return;
	}
	v = put_attr(b, OV_STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!v)
		return;
	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, rlen);
}

void ov_stun_add_unknown(struct ov_stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *v;
	size_t i;

	if (!b->err && n > OV_STUN_MAX_ATTRS) {
		b->err = -EINVAL;
		return;
	}
	v = put_attr(b, OV_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	if (!v)
		return;
	for (i = 0; i < n; i++)
		put_be16(v + 2 * i, types[i]);
}

void ov_stun_add_integrity(struct ov_stun_builder *b, const uint8_t *key, size_t keylen)
{
	uint8_t mac[CRYPTO_SHA1_LEN];
	size_t before = b->len;
	uint8_t *v;

	if (b->err)
		return;
	if (b->cap - b->len < 4 + OV_STUN_INTEGRITY_LEN) {
		b->err = -ENOSPC;
		return;
	}
	/* The HMAC covers the header with a length that already counts this attribute. */
	put_be16(b->buf + 2, (uint16_t)(before + 4 + OV_STUN_INTEGRITY_LEN - OV_STUN_HEADER_LEN));
	crypto_hmac_sha1(mac, key, keylen, b->buf, before);
	v = put_attr(b, OV_STUN_ATTR_MESSAGE_INTEGRITY, OV_STUN_INTEGRITY_LEN);
	memcpy(v, mac, sizeof(mac));
}

void ov_stun_add_fingerprint(struct ov_stun_builder *b)
{
	size_t before = b->len;
	uint32_t crc;

	if (b->err)
		return;
	if (b->cap - b->len < 8) {
		b->err = -ENOSPC;
		return;
	}
	put_be16(b->buf + 2, (uint16_t)(before + 8 - OV_STUN_HEADER_LEN));
	crc = crypto_crc32(b->buf, before) ^ OV_STUN_FINGERPRINT_XOR;
	ov_stun_add_u32(b, OV_STUN_ATTR_FINGERPRINT, crc);
}

int ov_stun_end(struct ov_stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}

bool ov_stun_check_integrity(const uint8_t *buf, size_t len, const struct ov_stun_msg *msg,
			     const uint8_t *key, size_t keylen)
{
	uint8_t copy[OV_STUN_MAX_MSG], mac[CRYPTO_SHA1_LEN];
	size_t off = msg->integrity_offset;
	bool ok;

	if (!msg->has_integrity || off < OV_STUN_HEADER_LEN || off > len ||
	    len - off < 4 + OV_STUN_INTEGRITY_LEN || off > sizeof(copy))
		return false;
	memcpy(copy, buf, off);
	put_be16(copy + 2, (uint16_t)(off + 4 + OV_STUN_INTEGRITY_LEN - OV_STUN_HEADER_LEN));
	crypto_hmac_sha1(mac, key, keylen, copy, off);
	ok = crypto_equal(mac, buf + off + 4, OV_STUN_INTEGRITY_LEN);
	crypto_wipe(mac, sizeof(mac));
	return ok;
}

int ov_stun_long_term_key(uint8_t out[static OV_STUN_LONG_TERM_KEY_LEN], const char *user,
			  const char *realm, size_t realm_len, const char *pass)
{
	char in[OV_STUN_USERNAME_MAX + OV_STUN_REALM_MAX + OV_STUN_PASSWORD_MAX + 2];
	size_t ul = strlen(user), pl = strlen(pass), n = 0;

	if (ul > OV_STUN_USERNAME_MAX || realm_len > OV_STUN_REALM_MAX || pl > OV_STUN_PASSWORD_MAX)
		return -EINVAL;
	memcpy(in, user, ul);
	n += ul;
	in[n++] = ':';
	memcpy(in + n, realm, realm_len);
	n += realm_len;
	in[n++] = ':';
	memcpy(in + n, pass, pl);
	n += pl;
	crypto_md5(out, in, n, NULL, 0);
	crypto_wipe(in, n);
	return 0;
}

/* --- ChannelData --- */

bool ov_stun_is_channel_data(const uint8_t *buf, size_t len)
{
	uint16_t ch;
	size_t n;

	if (len < OV_STUN_CHANNEL_HEADER_LEN)
		return false;
	ch = get_be16(buf);
	n = get_be16(buf + 2);
	if (ch < OV_STUN_CHANNEL_MIN || ch > OV_STUN_CHANNEL_MAX)
		return false;
	return OV_STUN_CHANNEL_HEADER_LEN + n <= len && len - OV_STUN_CHANNEL_HEADER_LEN - n <= 3;
}

int ov_stun_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *ret_channel,
			       const uint8_t **ret_data, size_t *ret_len)
{
	if (!ov_stun_is_channel_data(buf, len))
		return -EBADMSG;
	*ret_channel = get_be16(buf);
	*ret_data = buf + OV_STUN_CHANNEL_HEADER_LEN;
	*ret_len = get_be16(buf + 2);
	return 0;
}

int ov_stun_channel_data_build(uint8_t *buf, size_t cap, uint16_t channel, const uint8_t *data,
			       size_t len)
{
	if (channel < OV_STUN_CHANNEL_MIN || channel > OV_STUN_CHANNEL_MAX || len > 0xFFFF)
		return -EINVAL;
	if (cap < OV_STUN_CHANNEL_HEADER_LEN || cap - OV_STUN_CHANNEL_HEADER_LEN < len)
		return -ENOSPC;
	if (data != buf + OV_STUN_CHANNEL_HEADER_LEN && len)
		memmove(buf + OV_STUN_CHANNEL_HEADER_LEN, data, len);
	put_be16(buf, channel);
	put_be16(buf + 2, (uint16_t)len);
	return (int)(OV_STUN_CHANNEL_HEADER_LEN + len);
}

/* --- Binding --- */

int ov_stun_binding_answer(const uint8_t *req, size_t len, const struct wg_endpoint *src,
			   uint8_t *out, size_t cap)
{
	struct ov_stun_builder b;
	struct ov_stun_msg m;
	int n;

	if (ov_stun_parse(req, len, &m, NULL, 0) < 0 || m.method != OV_STUN_BINDING ||
	    m.cls != OV_STUN_REQUEST)
		return -EBADMSG;
	/* The answer is built within the request's size: it cannot come out larger. */
	ov_stun_begin(&b, out, cap < len ? cap : len, OV_STUN_BINDING,
		      m.n_unknown ? OV_STUN_ERROR : OV_STUN_SUCCESS, m.txid);
	if (m.n_unknown) {
		ov_stun_add_error(&b, OV_STUN_ERR_UNKNOWN_ATTRIBUTE, "Unknown Attribute");
		ov_stun_add_unknown(&b, m.unknown, m.n_unknown);
	} else {
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_MAPPED_ADDRESS, src);
	}
	if (m.has_fingerprint)
		ov_stun_add_fingerprint(&b);
	n = ov_stun_end(&b);
	if (n == -ENOSPC && cap >= len)
		return -EMSGSIZE;
	return n;
}

int ov_stun_binding_request(const uint8_t txid[static OV_STUN_TXID_LEN], const char *username,
			    uint8_t *out, size_t cap)
{
	static const char pad[] = "weft (padded, no amplif)";
	struct ov_stun_builder b;
	size_t have;

	/* 20 + SOFTWARE (4 + 24) + FINGERPRINT (8) = 56 >= the largest answer: 20 + an IPv6
	 * XOR-MAPPED-ADDRESS (24) + FINGERPRINT (8) = 52. A USERNAME takes the padding's
	 * place as far as it goes. */
	ov_stun_begin(&b, out, cap, OV_STUN_BINDING, OV_STUN_REQUEST, txid);
	if (username)
		ov_stun_add_string(&b, OV_STUN_ATTR_USERNAME, username);
	have = b.len + 8; /* with FINGERPRINT; lengths here are multiples of 4 */
	if (have < OV_STUN_BINDING_LEN) /* SOFTWARE: a 4-byte header and the rest */
		ov_stun_add_bytes(&b, OV_STUN_ATTR_SOFTWARE, pad, OV_STUN_BINDING_LEN - have - 4);
	ov_stun_add_fingerprint(&b);
	return ov_stun_end(&b);
}

const char *ov_stun_method_name(uint16_t method)
{
	switch (method) {
	case OV_STUN_BINDING:
		return "Binding";
	case OV_STUN_ALLOCATE:
		return "Allocate";
	case OV_STUN_REFRESH:
		return "Refresh";
	case OV_STUN_SEND:
		return "Send";
	case OV_STUN_DATA:
		return "Data";
	case OV_STUN_CREATE_PERMISSION:
		return "CreatePermission";
	case OV_STUN_CHANNEL_BIND:
		return "ChannelBind";
	default:
		return "unknown method";
	}
}

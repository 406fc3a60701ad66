/* SPDX-License-Identifier: MIT */
/*
 * overlay/keyfmt — standard base64 with padding for exactly 32-byte WireGuard keys (44
 * characters, as `wg genkey` prints them), written by hand because only crypto/ may include
 * OpenSSL and crypto.h has no base64.
 *
 * Constant time in the key bytes, in the manner of wireguard-tools' encoding.c (the house
 * model): no table lookups and no branches on secret data; characters are mapped with range
 * masks and every invalid character is only noted in an accumulator checked at the end. Only
 * the length and the final verdict branch. Must not: log, allocate, leave key bytes behind in
 * its own stack variables, or write the output on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "overlay/state.h"

/* All ones when lo <= c <= hi, else 0; c, lo, hi < 2^31. */
static uint32_t range_mask(uint32_t c, uint32_t lo, uint32_t hi)
{
	return (((c - lo) | (hi - c)) >> 31) - 1u;
}

/* All ones when v >= k, else 0; v, k < 2^31, k >= 1. */
static uint32_t ge_mask(uint32_t v, uint32_t k)
{
	return 0u - (((k - 1u) - v) >> 31);
}

/* A sextet 0..63 to its character: 'A' + v, shifted into a-z, 0-9, '+', '/' by masks. */
static char encode_sextet(uint32_t v)
{
	uint32_t c = 'A' + v;

	c += ge_mask(v, 26) & 6u;  /* 26 -> 'a' */
	c -= ge_mask(v, 52) & 75u; /* 52 -> '0' */
	c -= ge_mask(v, 62) & 15u; /* 62 -> '+' */
	c += ge_mask(v, 63) & 3u;  /* 63 -> '/' */
	return (char)c;
}

/* A character to its sextet; *bad gets nonzero bits when it is not in the alphabet. */
static uint32_t decode_char(unsigned char ch, uint32_t *bad)
{
	uint32_t c = ch, v = 0, ok = 0, m;

	m = range_mask(c, 'A', 'Z');
	v |= m & (c - 'A');
	ok |= m;
	m = range_mask(c, 'a', 'z');
	v |= m & (c - 'a' + 26);
	ok |= m;
	m = range_mask(c, '0', '9');
	v |= m & (c - '0' + 52);
	ok |= m;
	m = range_mask(c, '+', '+');
	v |= m & 62u;
	ok |= m;
	m = range_mask(c, '/', '/');
	v |= m & 63u;
	ok |= m;
	*bad |= ~ok;
	return v;
}

int ov_key_to_base64(const uint8_t key[static OV_KEY_LEN], char out[static OV_KEY_B64_LEN + 1])
{
	uint32_t w;
	size_t i;

	for (i = 0; i < OV_KEY_LEN / 3; i++) {
		w = (uint32_t)key[3 * i] << 16 | (uint32_t)key[3 * i + 1] << 8 | key[3 * i + 2];
		out[4 * i] = encode_sextet(w >> 18);
		out[4 * i + 1] = encode_sextet((w >> 12) & 63);
		out[4 * i + 2] = encode_sextet((w >> 6) & 63);
		out[4 * i + 3] = encode_sextet(w & 63);
	}
	/* 32 = 3 * 10 + 2: two bytes left, three characters and one '=' */
	w = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
	out[40] = encode_sextet(w >> 18);
	out[41] = encode_sextet((w >> 12) & 63);
	out[42] = encode_sextet((w >> 6) & 63);
	out[43] = '=';
	out[44] = '\0';
	explicit_bzero(&w, sizeof(w));
	return 0;
}

int ov_key_from_base64(const char *s, uint8_t key[static OV_KEY_LEN])
{
	uint8_t tmp[OV_KEY_LEN];
	uint32_t bad = 0, w;
	size_t i;

	if (strnlen(s, OV_KEY_B64_LEN + 1) != OV_KEY_B64_LEN || s[OV_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	for (i = 0; i < OV_KEY_LEN / 3; i++) {
		w = decode_char((unsigned char)s[4 * i], &bad) << 18;
		w |= decode_char((unsigned char)s[4 * i + 1], &bad) << 12;
		w |= decode_char((unsigned char)s[4 * i + 2], &bad) << 6;
		w |= decode_char((unsigned char)s[4 * i + 3], &bad);
		tmp[3 * i] = (uint8_t)(w >> 16);
		tmp[3 * i + 1] = (uint8_t)(w >> 8);
		tmp[3 * i + 2] = (uint8_t)w;
	}
	w = decode_char((unsigned char)s[40], &bad) << 18;
	w |= decode_char((unsigned char)s[41], &bad) << 12;
	w |= decode_char((unsigned char)s[42], &bad) << 6;
	bad |= (w >> 6) & 3u; /* the two bits past the key must be zero: one text per key */
	tmp[30] = (uint8_t)(w >> 16);
	tmp[31] = (uint8_t)(w >> 8);
	explicit_bzero(&w, sizeof(w));
	if (!bad)
		memcpy(key, tmp, OV_KEY_LEN);
	explicit_bzero(tmp, sizeof(tmp));
	return bad ? -EINVAL : 0;
}

// SPDX-License-Identifier: MIT
/*
 * Known-answer, tamper and property tests for src/crypto.
 *
 * Expected values come from the RFCs and drafts named at each test, or from
 * tests/vectors/blake2s_kat.h, which Python's hashlib/hmac (independent of OpenSSL) generated.
 * Nothing here compares a provider only against itself except the round-trip checks. The
 * ChaCha20-Poly1305 tests run against the build's provider (crypto/aead.h); when the build has
 * both, test_aead_providers_agree checks libgcrypt and OpenSSL byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/aead.h"
#include "../vectors/blake2s_kat.h"

/* Decodes a hex string into out; fails the test on bad input or a length mismatch. */
static void unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t i, n = strlen(hex);

	assert_int_equal(n, 2 * outlen);
	for (i = 0; i < outlen; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* Heap copy of a hex string, so sanitizers see exact bounds. Caller frees. */
static uint8_t *unhex_alloc(const char *hex, size_t *ret_len)
{
	size_t len = strlen(hex) / 2;
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	unhex(p, len, hex);
	*ret_len = len;
	return p;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t *want;
	size_t wlen;

	want = unhex_alloc(hex, &wlen);
	assert_int_equal(wlen, len);
	assert_memory_equal(got, want, len);
	free(want);
}

static void fill_seq(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)i;
}

static int setup(void **state)
{
	(void)state;
	return crypto_init() == 0 ? 0 : -1;
}

/* --- X25519 (RFC 7748) --- */

static void test_x25519_rfc7748_5_2(void **state)
{
	static const struct {
		const char *k, *u, *out;
	} v[] = {
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		 "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		 "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		 "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		 "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	};
	uint8_t k[32], u[32], out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unhex(k, 32, v[i].k);
		unhex(u, 32, v[i].u);
		assert_int_equal(crypto_x25519(out, k, u), 0);
		assert_hex(out, 32, v[i].out);
	}
}

/* RFC 7748 §5.2 iterated test: k = X25519(k, u), u = old k, starting from k = u = 9. */
static void test_x25519_iterated(void **state)
{
	uint8_t k[32] = {9}, u[32] = {9}, r[32];
	int i;

	(void)state;
	for (i = 1; i <= 1000; i++) {
		assert_int_equal(crypto_x25519(r, k, u), 0);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			assert_hex(
				k, 32,
				"422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
	}
	assert_hex(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

/* RFC 7748 §6.1. */
static void test_x25519_dh(void **state)
{
	uint8_t a[32], b[32], pa[32], pb[32], s1[32], s2[32];

	(void)state;
	unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	assert_int_equal(crypto_x25519_public(pa, a), 0);
	assert_int_equal(crypto_x25519_public(pb, b), 0);
	assert_hex(pa, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	assert_hex(pb, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(crypto_x25519(s1, a, pb), 0);
	assert_int_equal(crypto_x25519(s2, b, pa), 0);
	assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	assert_memory_equal(s1, s2, 32);
}

/* Low-order points give an all-zero secret, which WireGuard must refuse. */
static void test_x25519_low_order(void **state)
{
	static const char *const pts[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	};
	uint8_t priv[32], pub[32], out[32];
	size_t i;

	(void)state;
	assert_int_equal(crypto_x25519_keygen(priv, pub), 0);
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		unhex(pub, 32, pts[i]);
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(crypto_x25519(out, priv, pub), -EINVAL);
		assert_true(crypto_is_zero(out, sizeof(out)));
	}
}

static void test_x25519_clamp(void **state)
{
	uint8_t k[32], c[32], p1[32], p2[32];

	(void)state;
	memset(k, 0xff, sizeof(k));
	k[0] = 0x2f; /* a base64 key starting with '/' */
	memcpy(c, k, 32);
	crypto_x25519_clamp(c);
	assert_int_equal(c[0], 0x28);
	assert_int_equal(c[31], 0x7f);
	assert_memory_equal(c + 1, k + 1, 30);

	/* Already-clamped keys are fixed points. */
	k[31] = 0x40;
	k[0] = 0x28;
	memcpy(c, k, 32);
	crypto_x25519_clamp(c);
	assert_memory_equal(c, k, 32);

	/* X25519 clamps by itself, so the public key ignores the bits clamping clears. */
	memset(k, 0x5a, sizeof(k));
	k[0] = 0x2f;
	memcpy(c, k, 32);
	crypto_x25519_clamp(c);
	assert_int_equal(crypto_x25519_public(p1, k), 0);
	assert_int_equal(crypto_x25519_public(p2, c), 0);
	assert_memory_equal(p1, p2, 32);
}

static void test_x25519_keygen(void **state)
{
	uint8_t a[32], pa[32], b[32], pb[32], p[32], s1[32], s2[32], c[32];

	(void)state;
	assert_int_equal(crypto_x25519_keygen(a, pa), 0);
	assert_int_equal(crypto_x25519_keygen(b, pb), 0);
	assert_false(crypto_equal(a, b, 32));
	memcpy(c, a, 32);
	crypto_x25519_clamp(c);
	assert_memory_equal(a, c, 32);
	assert_int_equal(crypto_x25519_public(p, a), 0);
	assert_memory_equal(p, pa, 32);
	assert_int_equal(crypto_x25519(s1, a, pb), 0);
	assert_int_equal(crypto_x25519(s2, b, pa), 0);
	assert_memory_equal(s1, s2, 32);
}

/* --- ChaCha20-Poly1305 (RFC 8439) --- */

static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";

/* RFC 8439 §2.8.2. */
static const char rfc8439_282_ct[] =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da"
	"92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585"
	"808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
	"1ae10b594f09e26a7e902ecbd0600691";

static void test_aead_rfc8439_seal(void **state)
{
	uint8_t key[32], nonce[12], ad[12], out[sizeof(sunscreen) - 1 + 16], back[sizeof(out)];
	size_t len = sizeof(sunscreen) - 1;

	(void)state;
	for (size_t i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex(nonce, 12, "070000004041424344454647");
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	assert_int_equal(crypto_aead_seal_nonce(key, nonce, out, (const uint8_t *)sunscreen, len,
						ad, sizeof(ad)),
			 0);
	assert_hex(out, sizeof(out), rfc8439_282_ct);
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, out, sizeof(out), ad, sizeof(ad)),
			 0);
	assert_memory_equal(back, sunscreen, len);
}

/* Every single-byte flip of ciphertext, tag or AAD must be refused. */
static void test_aead_tamper(void **state)
{
	uint8_t key[32], nonce[12], ad[12], *ct, back[256];
	size_t len, i;
	int bit;

	(void)state;
	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex(nonce, 12, "070000004041424344454647");
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	ct = unhex_alloc(rfc8439_282_ct, &len);
	assert_true(len <= sizeof(back) + 16);

	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			ct[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(
				crypto_aead_open_nonce(key, nonce, back, ct, len, ad, sizeof(ad)),
				-EBADMSG);
			ct[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (i = 0; i < sizeof(ad); i++) {
		ad[i] ^= 0x01;
		assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, len, ad, sizeof(ad)),
				 -EBADMSG);
		ad[i] ^= 0x01;
	}
	/* Wrong nonce, missing AAD, truncation. */
	nonce[11] ^= 1;
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, len, ad, sizeof(ad)),
			 -EBADMSG);
	nonce[11] ^= 1;
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, len, NULL, 0), -EBADMSG);
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, len - 1, ad, sizeof(ad)),
			 -EBADMSG);
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, 15, ad, sizeof(ad)),
			 -EBADMSG);
	/* And the untouched message still opens. */
	assert_int_equal(crypto_aead_open_nonce(key, nonce, back, ct, len, ad, sizeof(ad)), 0);
	free(ct);
}

/* RFC 8439 Appendix A.5 (decryption). */
static void test_aead_rfc8439_a5(void **state)
{
	static const char ct_hex[] =
		"64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea0"
		"9ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad"
		"176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f615"
		"7b53c867e4b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7"
		"f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd631"
		"59434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130305beaba2eda"
		"04df997b714d6c6f2c29a6ad5cb4022b02709b"
		"eead9d67890cbb22392336fea1851f38";
	static const char pt[] =
		"Internet-Drafts are draft documents valid for a maximum of six months and may be "
		"updated, replaced, or obsoleted by other documents at any time. It is "
		"inappropriate "
		"to use Internet-Drafts as reference material or to cite them other than as "
		"/\xe2\x80\x9cwork in progress./\xe2\x80\x9d";
	uint8_t key[32], nonce[12], ad[12], *ct, *out;
	size_t len;

	(void)state;
	unhex(key, 32, "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
	unhex(nonce, 12, "000000000102030405060708");
	unhex(ad, 12, "f33388860000000000004e91");
	ct = unhex_alloc(ct_hex, &len);
	assert_int_equal(len - 16, sizeof(pt) - 1);
	out = malloc(len);
	assert_non_null(out);
	assert_int_equal(crypto_aead_open_nonce(key, nonce, out, ct, len, ad, sizeof(ad)), 0);
	assert_memory_equal(out, pt, len - 16);
	/* Seal gives the ciphertext back. */
	assert_int_equal(crypto_aead_seal_nonce(key, nonce, out, (const uint8_t *)pt, len - 16, ad,
						sizeof(ad)),
			 0);
	assert_memory_equal(out, ct, len);
	free(out);
	free(ct);
}

/* crypto_aead_* with counter c is the raw form with nonce 00000000 || le64(c). */
static void test_aead_counter_nonce(void **state)
{
	static const uint64_t counters[] = {0, 1, 0xff, 0x0102030405060708ull, UINT64_MAX};
	uint8_t key[32], nonce[12], msg[100], ad[7], a[116], b[116], c[116], back[100];
	struct crypto_aead s, o;
	size_t i;
	int j;

	(void)state;
	fill_seq(key, 32);
	fill_seq(msg, sizeof(msg));
	memset(ad, 0x77, sizeof(ad));
	assert_int_equal(crypto_aead_init(&s, key, true), 0);
	assert_int_equal(crypto_aead_init(&o, key, false), 0);
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		memset(nonce, 0, 4);
		for (j = 0; j < 8; j++)
			nonce[4 + j] = (uint8_t)(counters[i] >> (8 * j));
		assert_int_equal(
			crypto_aead_seal(&s, counters[i], a, msg, sizeof(msg), ad, sizeof(ad)), 0);
		assert_int_equal(
			crypto_aead_seal_nonce(key, nonce, b, msg, sizeof(msg), ad, sizeof(ad)), 0);
		assert_int_equal(crypto_aead_seal_once(key, counters[i], c, msg, sizeof(msg), ad,
						       sizeof(ad)),
				 0);
		assert_memory_equal(a, b, sizeof(a));
		assert_memory_equal(a, c, sizeof(a));
		assert_int_equal(
			crypto_aead_open(&o, counters[i], back, a, sizeof(a), ad, sizeof(ad)), 0);
		assert_memory_equal(back, msg, sizeof(msg));
		assert_int_equal(
			crypto_aead_open_once(key, counters[i], back, a, sizeof(a), ad, sizeof(ad)),
			0);
		assert_memory_equal(back, msg, sizeof(msg));
		/* The wrong counter must not open. */
		assert_int_equal(
			crypto_aead_open(&o, counters[i] ^ 1, back, a, sizeof(a), ad, sizeof(ad)),
			-EBADMSG);
	}
	/* A context only works in its own direction. */
	assert_int_equal(crypto_aead_seal(&o, 0, a, msg, sizeof(msg), NULL, 0), -EINVAL);
	assert_int_equal(crypto_aead_open(&s, 0, back, a, sizeof(a), NULL, 0), -EINVAL);
	crypto_aead_done(&s);
	crypto_aead_done(&o);
	crypto_aead_done(NULL);
}

/* One context per direction, many packets of every length 0..2000, separate and in place. */
static void test_aead_reuse_inplace(void **state)
{
	enum { MAX = 2000 };
	uint8_t key[32], ad[16];
	uint8_t *msg, *ct, *back, *buf;
	struct crypto_aead s, o;
	size_t len;
	uint64_t ctr = 0;

	(void)state;
	assert_int_equal(crypto_random(key, sizeof(key)), 0);
	memset(ad, 0x42, sizeof(ad));
	msg = malloc(MAX);
	ct = malloc(MAX + 16);
	back = malloc(MAX);
	buf = malloc(MAX + 16);
	assert_true(msg && ct && back && buf);
	assert_int_equal(crypto_random(msg, MAX), 0);
	assert_int_equal(crypto_aead_init(&s, key, true), 0);
	assert_int_equal(crypto_aead_init(&o, key, false), 0);

	for (len = 0; len <= MAX; len++, ctr++) {
		size_t adlen = len % 17;

		assert_int_equal(crypto_aead_seal(&s, ctr, ct, msg, len, ad, adlen), 0);
		assert_int_equal(crypto_aead_open(&o, ctr, back, ct, len + 16, ad, adlen), 0);
		assert_memory_equal(back, msg, len);

		/* In place: seal over the plaintext, then open over the ciphertext. */
		memcpy(buf, msg, len);
		assert_int_equal(crypto_aead_seal(&s, ctr, buf, buf, len, ad, adlen), 0);
		assert_memory_equal(buf, ct, len + 16);
		assert_int_equal(crypto_aead_open(&o, ctr, buf, buf, len + 16, ad, adlen), 0);
		assert_memory_equal(buf, msg, len);

		/* A failed open does not poison the context for the next packet. */
		if (len % 97 == 0) {
			ct[len] ^= 0x80;
			assert_int_equal(crypto_aead_open(&o, ctr, back, ct, len + 16, ad, adlen),
					 -EBADMSG);
		}
	}
	crypto_aead_done(&s);
	crypto_aead_done(&o);
	free(msg);
	free(ct);
	free(back);
	free(buf);
}

/* Lengths EVP cannot take are refused before any byte is touched. */
static void test_aead_too_long(void **state)
{
	uint8_t key[32] = {0}, buf[32] = {0};
	struct crypto_aead s, o;

	(void)state;
	assert_int_equal(crypto_aead_init(&s, key, true), 0);
	assert_int_equal(crypto_aead_init(&o, key, false), 0);
	assert_int_equal(crypto_aead_seal(&s, 0, buf, buf, (size_t)INT_MAX + 1, NULL, 0),
			 -EMSGSIZE);
	assert_int_equal(crypto_aead_seal(&s, 0, buf, buf, 0, buf, (size_t)INT_MAX + 1), -EMSGSIZE);
	assert_int_equal(crypto_aead_open(&o, 0, buf, buf, SIZE_MAX, NULL, 0), -EMSGSIZE);
	/* Still usable afterwards. */
	assert_int_equal(crypto_aead_seal(&s, 1, buf, buf, 16, NULL, 0), 0);
	crypto_aead_done(&s);
	crypto_aead_done(&o);
}

/* The provider crypto_aead_* use is the one the build chose (meson option `aead`). */
static void test_aead_provider(void **state)
{
	(void)state;
	assert_non_null(crypto_aead_chosen);
	assert_string_equal(crypto_aead_chosen->name, WEFT_AEAD_GCRYPT ? "libgcrypt" : "openssl");
	print_message("crypto_aead_* provider: %s\n", crypto_aead_chosen->name);
}

#if WEFT_HAVE_GCRYPT
/* Seal with one provider's context, counter c as the nonce, into dst (len + 16 bytes). */
static void provider_seal(const struct crypto_aead_provider *p, void *ctx, uint64_t c, uint8_t *dst,
			  const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12] = {0};

	for (int j = 0; j < 8; j++)
		nonce[4 + j] = (uint8_t)(c >> (8 * j));
	assert_int_equal(p->crypt(ctx, true, nonce, dst, src, len, ad, adlen), 0);
}

static int provider_open(const struct crypto_aead_provider *p, void *ctx, uint64_t c, uint8_t *dst,
			 const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12] = {0};

	for (int j = 0; j < 8; j++)
		nonce[4 + j] = (uint8_t)(c >> (8 * j));
	return p->crypt(ctx, false, nonce, dst, src, len, ad, adlen);
}
#endif

/*
 * Both providers, when the build has both: byte-identical ciphertext and tag at the lengths
 * around a ChaCha20 block and at the MTU, with and without associated data, on one reused
 * context per provider and direction (as the data plane uses them), in place and not; each
 * opens the other's output, and both refuse the same tampered messages.
 */
static void test_aead_providers_agree(void **state)
{
#if WEFT_HAVE_GCRYPT
	static const size_t lens[] = {0, 1, 63, 64, 65, 1420};
	static const size_t adlens[] = {0, 13, 32};
	const struct crypto_aead_provider *p[2] = {&crypto_aead_openssl, &crypto_aead_gcrypt};
	void *seal[2], *open[2];
	uint8_t key[32], ad[32], msg[1420], ct[2][1420 + 16], back[1420 + 16], buf[1420 + 16];
	uint64_t c = 0x0102030405060708ull;

	(void)state;
	assert_int_equal(crypto_random(key, sizeof(key)), 0);
	assert_int_equal(crypto_random(ad, sizeof(ad)), 0);
	assert_int_equal(crypto_random(msg, sizeof(msg)), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(p[i]->ctx_new(&seal[i], key, true), 0);
		assert_int_equal(p[i]->ctx_new(&open[i], key, false), 0);
	}
	for (size_t a = 0; a < sizeof(adlens) / sizeof(adlens[0]); a++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++, c++) {
			size_t len = lens[l], adlen = adlens[a];

			for (int i = 0; i < 2; i++)
				provider_seal(p[i], seal[i], c, ct[i], msg, len, ad, adlen);
			assert_memory_equal(ct[0], ct[1], len + 16);
			/* In place gives the same bytes. */
			for (int i = 0; i < 2; i++) {
				memcpy(buf, msg, len);
				provider_seal(p[i], seal[i], c, buf, buf, len, ad, adlen);
				assert_memory_equal(buf, ct[0], len + 16);
			}
			for (int i = 0; i < 2; i++) {
				/* Each opens the other's message, separately and in place. */
				assert_int_equal(provider_open(p[i], open[i], c, back, ct[1 - i],
							       len, ad, adlen),
						 0);
				assert_memory_equal(back, msg, len);
				memcpy(buf, ct[1 - i], len + 16);
				assert_int_equal(
					provider_open(p[i], open[i], c, buf, buf, len, ad, adlen),
					0);
				assert_memory_equal(buf, msg, len);
				/* The wrong nonce, a flipped tag bit, flipped AD: refused, wiped.
				 */
				assert_int_equal(provider_open(p[i], open[i], c + 1, back,
							       ct[1 - i], len, ad, adlen),
						 -EBADMSG);
				assert_true(crypto_is_zero(back, len));
				memcpy(buf, ct[1 - i], len + 16);
				buf[len + (c % 16)] ^= 0x01;
				assert_int_equal(
					provider_open(p[i], open[i], c, back, buf, len, ad, adlen),
					-EBADMSG);
				if (adlen) {
					ad[adlen - 1] ^= 0x80;
					assert_int_equal(provider_open(p[i], open[i], c, back,
								       ct[1 - i], len, ad, adlen),
							 -EBADMSG);
					ad[adlen - 1] ^= 0x80;
				}
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		p[i]->ctx_free(seal[i]);
		p[i]->ctx_free(open[i]);
	}
	p[0]->ctx_free(NULL);
	p[1]->ctx_free(NULL);
#else
	(void)state;
	print_message("this build has one ChaCha20-Poly1305 provider (%s): nothing to compare\n",
		      crypto_aead_chosen->name);
	skip();
#endif
}

/* --- HChaCha20 / XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) --- */

static void test_hchacha20(void **state)
{
	uint8_t key[32], nonce[16], out[32];

	(void)state;
	fill_seq(key, 32);
	unhex(nonce, 16, "000000090000004a0000000031415927");
	crypto_hchacha20(out, key, nonce);
	assert_hex(out, 32, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

static void test_xchacha20poly1305(void **state)
{
	static const char want[] =
		"bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440b"
		"f3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3f"
		"ac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
		"c0875924c1c7987947deafd8780acf49";
	uint8_t key[32], nonce[24], ad[12], out[sizeof(sunscreen) - 1 + 16], back[sizeof(out)];
	size_t len = sizeof(sunscreen) - 1, i;

	(void)state;
	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	for (i = 0; i < 24; i++)
		nonce[i] = (uint8_t)(0x40 + i);
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	assert_int_equal(
		crypto_xaead_seal(key, nonce, out, (const uint8_t *)sunscreen, len, ad, sizeof(ad)),
		0);
	assert_hex(out, sizeof(out), want);
	assert_int_equal(crypto_xaead_open(key, nonce, back, out, sizeof(out), ad, sizeof(ad)), 0);
	assert_memory_equal(back, sunscreen, len);

	for (i = 0; i < sizeof(out); i++) {
		out[i] ^= 0x10;
		assert_int_equal(
			crypto_xaead_open(key, nonce, back, out, sizeof(out), ad, sizeof(ad)),
			-EBADMSG);
		out[i] ^= 0x10;
	}
	/* Each half of the extended nonce matters: the HChaCha20 part and the IETF part. */
	nonce[0] ^= 1;
	assert_int_equal(crypto_xaead_open(key, nonce, back, out, sizeof(out), ad, sizeof(ad)),
			 -EBADMSG);
	nonce[0] ^= 1;
	nonce[23] ^= 1;
	assert_int_equal(crypto_xaead_open(key, nonce, back, out, sizeof(out), ad, sizeof(ad)),
			 -EBADMSG);
	nonce[23] ^= 1;

	/* In place. */
	memcpy(back, sunscreen, len);
	assert_int_equal(crypto_xaead_seal(key, nonce, back, back, len, ad, sizeof(ad)), 0);
	assert_hex(back, sizeof(back), want);
	assert_int_equal(crypto_xaead_open(key, nonce, back, back, sizeof(back), ad, sizeof(ad)),
			 0);
	assert_memory_equal(back, sunscreen, len);
}

/* --- BLAKE2s (RFC 7693) and friends --- */

static void test_blake2s_rfc7693(void **state)
{
	uint8_t out[32];

	(void)state;
	crypto_blake2s(out, "abc", 3, NULL, 0);
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	/* a || b is one message however it is split. */
	crypto_blake2s(out, "a", 1, "bc", 2);
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	crypto_blake2s(out, NULL, 0, NULL, 0);
	assert_hex(out, 32, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
}

static void test_blake2s_kat(void **state)
{
	uint8_t in[BLAKE2S_KAT_N], key[32], out[32];
	size_t n;

	(void)state;
	fill_seq(in, sizeof(in));
	fill_seq(key, sizeof(key));
	assert_string_equal(blake2s_kat_unkeyed[0],
			    "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
	for (n = 0; n < BLAKE2S_KAT_N; n++) {
		/* Split at n / 3 to exercise the two-part form too. */
		crypto_blake2s(out, in, n / 3, in + n / 3, n - n / 3);
		assert_hex(out, 32, blake2s_kat_unkeyed[n]);

		assert_int_equal(crypto_blake2s_keyed(out, 32, key, 32, in, n), 0);
		assert_hex(out, 32, blake2s_kat_keyed32[n]);

		memset(out, 0xee, sizeof(out));
		crypto_blake2s_mac(out, key, 32, in, n);
		assert_hex(out, 16, blake2s_kat_key32_out16[n]);
		/* Nothing written past the 16-byte MAC. */
		assert_int_equal(out[16], 0xee);
		assert_int_equal(crypto_blake2s_keyed(out, 16, key, 32, in, n), 0);
		assert_hex(out, 16, blake2s_kat_key32_out16[n]);

		crypto_blake2s_mac(out, key, 16, in, n);
		assert_hex(out, 16, blake2s_kat_key16_out16[n]);
	}
}

static void test_blake2s_keyed_args(void **state)
{
	uint8_t key[33] = {1}, out[33];

	(void)state;
	assert_int_equal(crypto_blake2s_keyed(out, 0, key, 32, "x", 1), -EINVAL);
	assert_int_equal(crypto_blake2s_keyed(out, 33, key, 32, "x", 1), -EINVAL);
	assert_int_equal(crypto_blake2s_keyed(out, 16, key, 0, "x", 1), -EINVAL);
	assert_int_equal(crypto_blake2s_keyed(out, 16, key, 33, "x", 1), -EINVAL);
	assert_int_equal(crypto_blake2s_keyed(out, 1, key, 1, "x", 1), 0);
}

static void test_hmac_blake2s(void **state)
{
	uint8_t key[256], msg[256], out[32];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i ^ 0x5a);
	fill_seq(msg, sizeof(msg));
	for (k = 0; k < sizeof(hmac_b2s_kat) / sizeof(hmac_b2s_kat[0]); k++) {
		const struct hmac_b2s_kat *v = &hmac_b2s_kat[k];

		assert_true(v->keylen <= sizeof(key) && v->msglen <= sizeof(msg));
		crypto_hmac_blake2s(out, v->keylen ? key : NULL, v->keylen, msg, v->msglen);
		assert_hex(out, 32, v->mac);
	}
}

static void test_kdf(void **state)
{
	uint8_t ck[32], t[3][32], a[32], b[32];
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(kdf_kat) / sizeof(kdf_kat[0]); k++) {
		const struct kdf_kat *v = &kdf_kat[k];
		size_t inlen = strlen(v->input);

		/* HMAC zero-pads short keys, so zero-padding to the chaining key changes nothing.
		 */
		memset(ck, 0, sizeof(ck));
		memcpy(ck, v->key, strlen(v->key));

		crypto_kdf(t[0], NULL, NULL, ck, v->input, inlen);
		assert_hex(t[0], 32, v->t[0]);

		memset(t, 0, sizeof(t));
		crypto_kdf(t[0], t[1], NULL, ck, v->input, inlen);
		assert_hex(t[0], 32, v->t[0]);
		assert_hex(t[1], 32, v->t[1]);

		memset(t, 0, sizeof(t));
		crypto_kdf(t[0], t[1], t[2], ck, v->input, inlen);
		assert_hex(t[0], 32, v->t[0]);
		assert_hex(t[1], 32, v->t[1]);
		assert_hex(t[2], 32, v->t[2]);

		/* Skipped outputs: only T3 wanted. */
		memset(t, 0, sizeof(t));
		crypto_kdf(NULL, NULL, t[2], ck, v->input, inlen);
		assert_hex(t[2], 32, v->t[2]);

		/* Aliasing as the handshake does it: ck = T1 written over ck itself. */
		memcpy(a, ck, 32);
		crypto_kdf(a, b, NULL, a, v->input, inlen);
		assert_hex(a, 32, v->t[0]);
		assert_hex(b, 32, v->t[1]);

		memcpy(a, ck, 32);
		crypto_kdf(b, NULL, a, a, v->input, inlen);
		assert_hex(b, 32, v->t[0]);
		assert_hex(a, 32, v->t[2]);

		/* Input aliasing the chaining key too. */
		if (inlen == 0) {
			memcpy(a, ck, 32);
			crypto_kdf(a, NULL, NULL, a, a, 0);
			assert_hex(a, 32, v->t[0]);
		}
	}
	/* No outputs: a no-op that must not crash. */
	crypto_kdf(NULL, NULL, NULL, ck, NULL, 0);
}

/* WireGuard's initial chaining key and hash (whitepaper §5.4.1). */
static void test_wireguard_constants(void **state)
{
	static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	uint8_t ck[32], h[32];

	(void)state;
	crypto_blake2s(ck, construction, strlen(construction), NULL, 0);
	assert_hex(ck, 32, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	crypto_blake2s(h, ck, sizeof(ck), identifier, strlen(identifier));
	assert_hex(h, 32, "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

/* --- misc --- */

static void test_equal_is_zero(void **state)
{
	static const struct {
		const char *a, *b;
		size_t len;
		bool eq;
	} eq[] = {
		{"", "", 0, true},
		{"a", "b", 0, true},
		{"a", "a", 1, true},
		{"a", "b", 1, false},
		{"abcdef", "abcdef", 6, true},
		{"abcdef", "abcdeg", 6, false},
		{"xbcdef", "abcdef", 6, false},
	};
	uint8_t z[64] = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(eq) / sizeof(eq[0]); i++)
		assert_int_equal(crypto_equal(eq[i].a, eq[i].b, eq[i].len), eq[i].eq);

	assert_true(crypto_is_zero(z, 0));
	assert_true(crypto_is_zero(z, sizeof(z)));
	for (i = 0; i < sizeof(z); i++) {
		z[i] = 0x01;
		assert_false(crypto_is_zero(z, sizeof(z)));
		assert_true(crypto_is_zero(z, i));
		z[i] = 0x80;
		assert_false(crypto_is_zero(z, sizeof(z)));
		z[i] = 0;
	}

	memset(z, 0xab, sizeof(z));
	crypto_wipe(z, sizeof(z));
	assert_true(crypto_is_zero(z, sizeof(z)));
}

static void test_random(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_false(crypto_equal(a, b, sizeof(a)));
	assert_false(crypto_is_zero(a, sizeof(a)));
	assert_int_equal(crypto_random(a, 0), 0);
}

/*
 * Everything but a single struct crypto_aead is shared-nothing: hammer the stateless functions
 * from several threads and check each result against the single-threaded answer.
 */
enum { THREADS = 4, THREAD_ROUNDS = 200 };

struct thread_want {
	uint8_t kdf[3][32], dh[32], mac[16], ct[64 + 16];
	uint8_t a[32], pb[32], key[32], msg[64];
};

static void thread_compute(const struct thread_want *w, uint8_t kdf[3][32], uint8_t dh[32],
			   uint8_t mac[16], uint8_t ct[64 + 16])
{
	crypto_kdf(kdf[0], kdf[1], kdf[2], w->key, w->msg, sizeof(w->msg));
	if (crypto_x25519(dh, w->a, w->pb) < 0)
		memset(dh, 0, 32);
	crypto_blake2s_mac(mac, w->key, 32, w->msg, sizeof(w->msg));
	if (crypto_aead_seal_once(w->key, 7, ct, w->msg, sizeof(w->msg), NULL, 0) < 0)
		memset(ct, 0, 64 + 16);
}

static void *thread_main(void *arg)
{
	const struct thread_want *w = arg;
	uint8_t kdf[3][32], dh[32], mac[16], ct[64 + 16];
	struct crypto_aead s;
	int i, bad = 0;

	if (crypto_init() < 0 || crypto_aead_init(&s, w->key, true) < 0)
		return (void *)1;
	for (i = 0; i < THREAD_ROUNDS; i++) {
		thread_compute(w, kdf, dh, mac, ct);
		bad |= memcmp(kdf, w->kdf, sizeof(kdf)) | memcmp(dh, w->dh, sizeof(dh)) |
		       memcmp(mac, w->mac, sizeof(mac)) | memcmp(ct, w->ct, sizeof(ct));
		/* This thread's own AEAD context. */
		if (crypto_aead_seal(&s, 7, ct, w->msg, sizeof(w->msg), NULL, 0) < 0 ||
		    memcmp(ct, w->ct, sizeof(ct)))
			bad = 1;
	}
	crypto_aead_done(&s);
	return bad ? (void *)1 : NULL;
}

static void test_threads(void **state)
{
	struct thread_want w;
	pthread_t t[THREADS];
	uint8_t b[32];
	void *ret;
	int i;

	(void)state;
	assert_int_equal(crypto_random(w.key, sizeof(w.key)), 0);
	assert_int_equal(crypto_random(w.msg, sizeof(w.msg)), 0);
	assert_int_equal(crypto_x25519_keygen(w.a, b), 0);
	assert_int_equal(crypto_x25519_keygen(b, w.pb), 0);
	thread_compute(&w, w.kdf, w.dh, w.mac, w.ct);
	assert_false(crypto_is_zero(w.dh, sizeof(w.dh)));

	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, &w), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

static void test_init_idempotent(void **state)
{
	(void)state;
	assert_int_equal(crypto_init(), 0);
	assert_int_equal(crypto_init(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_idempotent),
		cmocka_unit_test(test_x25519_rfc7748_5_2),
		cmocka_unit_test(test_x25519_iterated),
		cmocka_unit_test(test_x25519_dh),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_x25519_clamp),
		cmocka_unit_test(test_x25519_keygen),
		cmocka_unit_test(test_aead_rfc8439_seal),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_aead_rfc8439_a5),
		cmocka_unit_test(test_aead_counter_nonce),
		cmocka_unit_test(test_aead_reuse_inplace),
		cmocka_unit_test(test_aead_too_long),
		cmocka_unit_test(test_aead_provider),
		cmocka_unit_test(test_aead_providers_agree),
		cmocka_unit_test(test_hchacha20),
		cmocka_unit_test(test_xchacha20poly1305),
		cmocka_unit_test(test_blake2s_rfc7693),
		cmocka_unit_test(test_blake2s_kat),
		cmocka_unit_test(test_blake2s_keyed_args),
		cmocka_unit_test(test_hmac_blake2s),
		cmocka_unit_test(test_kdf),
		cmocka_unit_test(test_wireguard_constants),
		cmocka_unit_test(test_equal_is_zero),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests_name("crypto", tests, setup, NULL);
}

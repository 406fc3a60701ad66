// SPDX-License-Identifier: MIT
/*
 * crypto.c — WireGuard's primitives (see crypto.h): X25519, BLAKE2s, HMAC and the KDF, random
 * bytes over OpenSSL libcrypto >= 3.0; ChaCha20-Poly1305 through the provider chosen at build
 * time (aead.h: libgcrypt or OpenSSL), which this file calls directly.
 *
 * crypto/ is the only part of the tree that includes a crypto library. It must not implement
 * any primitive a provider has: the single hand-written piece is HChaCha20, which neither has.
 * It must not log, and must not fetch algorithms per call: crypto_init() fetches every handle
 * once and the rest only reads them, so everything except one struct crypto_aead is safe to
 * call from many threads at once.
 */
#include "crypto/crypto.h"
#include "crypto/aead.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* Algorithm handles, written once under pthread_once and read-only afterwards. */
static struct {
	EVP_MD *blake2s;
	EVP_MAC *blake2smac;
	int err;
} g;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The ChaCha20-Poly1305 provider (meson option `aead`), called directly on the data path. */
#if WEFT_AEAD_GCRYPT
#define aead_setup crypto_aead_gcry_setup
#define aead_ctx_new crypto_aead_gcry_new
#define aead_ctx_free crypto_aead_gcry_free
#define aead_provider_crypt crypto_aead_gcry_crypt
const struct crypto_aead_provider *const crypto_aead_chosen = &crypto_aead_gcrypt;
#else
#define aead_setup crypto_aead_ossl_setup
#define aead_ctx_new crypto_aead_ossl_new
#define aead_ctx_free crypto_aead_ossl_free
#define aead_provider_crypt crypto_aead_ossl_crypt
const struct crypto_aead_provider *const crypto_aead_chosen = &crypto_aead_openssl;
#endif

static void crypto_fetch(void)
{
	g.blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	g.blake2smac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	if (!g.blake2s || !g.blake2smac || aead_setup() < 0) {
		EVP_MD_free(g.blake2s);
		EVP_MAC_free(g.blake2smac);
		g.blake2s = NULL;
		g.blake2smac = NULL;
		g.err = -ENOTSUP;
		ERR_clear_error();
	}
}

int crypto_init(void)
{
	if (pthread_once(&g_once, crypto_fetch) != 0)
		return -EIO;
	return g.err;
}

/*
 * Every entry point goes through here, so a caller that forgot crypto_init() still gets a
 * working module; pthread_once costs one load once initialised.
 */
static int ensure_init(void)
{
	return crypto_init();
}

/*
 * For functions declared void: libcrypto failing there means out of memory or a broken
 * installation (crypto_init() already proved the algorithms exist). Carrying on would hand the
 * protocol a key or MAC that was never computed, so stop instead.
 */
static void die(void)
{
	abort();
}

/* --- X25519 --- */

void crypto_x25519_clamp(uint8_t key[static CRYPTO_KEY_LEN])
{
	key[0] &= 248;
	key[31] &= 127;
	key[31] |= 64;
}

int crypto_x25519_keygen(uint8_t priv[static CRYPTO_KEY_LEN], uint8_t pub[static CRYPTO_KEY_LEN])
{
	int ret = crypto_random(priv, CRYPTO_KEY_LEN);

	if (ret < 0)
		return ret;
	crypto_x25519_clamp(priv);
	ret = crypto_x25519_public(pub, priv);
	if (ret < 0)
		crypto_wipe(priv, CRYPTO_KEY_LEN);
	return ret;
}

int crypto_x25519_public(uint8_t pub[static CRYPTO_KEY_LEN],
			 const uint8_t priv[static CRYPTO_KEY_LEN])
{
	EVP_PKEY *key;
	size_t len = CRYPTO_KEY_LEN;
	int ret = 0;

	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, CRYPTO_KEY_LEN);
	if (!key)
		return -EIO;
	if (EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != CRYPTO_KEY_LEN)
		ret = -EIO;
	/* EVP_PKEY_free wipes the private key it copied. */
	EVP_PKEY_free(key);
	return ret;
}

/*
 * An X25519 EVP_PKEY for derive only. EVP_PKEY_new_raw_private_key() would compute the public
 * key, a second scalar multiplication that derive never uses and that doubled the cost of every
 * handshake DH. Importing the private key with a placeholder public key skips it: X25519 derive
 * reads only our private scalar and the peer's public key (the known answers in
 * tests/unit/test_crypto.c pin this down). The object is freed by the caller right after derive.
 */
static EVP_PKEY *x25519_derive_key(const uint8_t priv[static CRYPTO_KEY_LEN],
				   const uint8_t placeholder_pub[static CRYPTO_KEY_LEN])
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[3];

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	if (!ctx)
		return NULL;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)priv,
						      CRYPTO_KEY_LEN);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)placeholder_pub, CRYPTO_KEY_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

int crypto_x25519(uint8_t out[static CRYPTO_KEY_LEN], const uint8_t priv[static CRYPTO_KEY_LEN],
		  const uint8_t pub[static CRYPTO_KEY_LEN])
{
	EVP_PKEY *key = NULL, *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t shared[CRYPTO_KEY_LEN];
	size_t len = sizeof(shared);
	int ret = -EIO;

	key = x25519_derive_key(priv, pub);
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, CRYPTO_KEY_LEN);
	if (!key || !peer)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	/* No peer validation: for X25519 every 32-byte string is a valid public key. */
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1)
		goto out;
	/*
	 * OpenSSL's derive itself fails when the result is all zeros (a low-order point), and that
	 * cannot be told apart from other derive failures; every setup step that could fail for a
	 * genuine reason has already been checked, so treat a failed derive as the zero case.
	 */
	if (EVP_PKEY_derive(ctx, shared, &len) != 1 || len != CRYPTO_KEY_LEN ||
	    crypto_is_zero(shared, sizeof(shared))) {
		ret = -EINVAL;
		goto out;
	}
	memcpy(out, shared, CRYPTO_KEY_LEN);
	ret = 0;
out:
	if (ret < 0) {
		crypto_wipe(out, CRYPTO_KEY_LEN);
		/* Peers can trigger this at will; keep the thread's error queue from filling. */
		ERR_clear_error();
	}
	crypto_wipe(shared, sizeof(shared));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	/* EVP_PKEY_free wipes the private key it copied. */
	EVP_PKEY_free(key);
	return ret;
}

/* --- BLAKE2s --- */

void crypto_blake2s(uint8_t out[static CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		    size_t blen)
{
	EVP_MD_CTX *ctx;
	unsigned int len = 0;

	if (ensure_init() < 0)
		die();
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex2(ctx, g.blake2s, NULL) != 1 ||
	    (alen && EVP_DigestUpdate(ctx, a, alen) != 1) ||
	    (blen && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != CRYPTO_HASH_LEN)
		die();
	/* EVP_MD_CTX_free wipes the hash state, which may hold secret input. */
	EVP_MD_CTX_free(ctx);
}

int crypto_blake2s_keyed(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
			 const void *in, size_t len)
{
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	size_t n = 0;
	int ret;

	if (outlen < 1 || outlen > CRYPTO_HASH_LEN || keylen < 1 || keylen > CRYPTO_KEY_LEN)
		return -EINVAL;
	ret = ensure_init();
	if (ret < 0)
		return ret;
	ctx = EVP_MAC_CTX_new(g.blake2smac);
	if (!ctx)
		return -ENOMEM;
	/*
	 * The output length goes into the BLAKE2s parameter block, so a 16-byte MAC is a different
	 * function from the first 16 bytes of the 32-byte one (as WireGuard's mac1/mac2 require).
	 */
	params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen);
	params[1] = OSSL_PARAM_construct_end();
	ret = -EIO;
	if (EVP_MAC_init(ctx, key, keylen, params) != 1 ||
	    (len && EVP_MAC_update(ctx, in, len) != 1) ||
	    EVP_MAC_final(ctx, out, &n, outlen) != 1 || n != outlen)
		goto out;
	ret = 0;
out:
	/* EVP_MAC_CTX_free wipes the key and state. */
	EVP_MAC_CTX_free(ctx);
	return ret;
}

void crypto_blake2s_mac(uint8_t out[static CRYPTO_MAC_LEN], const uint8_t *key, size_t keylen,
			const void *in, size_t len)
{
	/* Only a caller passing keylen outside 1..32 can make this fail: a bug, not a condition. */
	if (crypto_blake2s_keyed(out, CRYPTO_MAC_LEN, key, keylen, in, len) < 0)
		die();
}

/*
 * HMAC composed from the pre-fetched digest rather than EVP_MAC "HMAC": a fresh HMAC context
 * needs its digest set by name (a fetch) every time, and a handshake does about twenty of these.
 */
void crypto_hmac_blake2s(uint8_t out[static CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen,
			 const void *in, size_t len)
{
	uint8_t block[CRYPTO_BLAKE2S_BLOCK] = {0};
	uint8_t inner[CRYPTO_HASH_LEN];
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	size_t i;

	if (ensure_init() < 0)
		die();
	if (keylen > CRYPTO_BLAKE2S_BLOCK)
		crypto_blake2s(block, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(block, key, keylen);

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		die();
	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	if (EVP_DigestInit_ex2(ctx, g.blake2s, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, block, sizeof(block)) != 1 ||
	    (len && EVP_DigestUpdate(ctx, in, len) != 1) || EVP_DigestFinal_ex(ctx, inner, &n) != 1)
		die();
	/* 0x36 ^ 0x5c turns the inner pad into the outer pad. */
	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	if (EVP_DigestInit_ex2(ctx, g.blake2s, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, block, sizeof(block)) != 1 ||
	    EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1)
		die();
	EVP_MD_CTX_free(ctx);
	crypto_wipe(block, sizeof(block));
	crypto_wipe(inner, sizeof(inner));
}

void crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[static CRYPTO_HASH_LEN],
		const void *in, size_t len)
{
	uint8_t *dst[3] = {t1, t2, t3};
	uint8_t prk[CRYPTO_HASH_LEN];
	uint8_t t[3][CRYPTO_HASH_LEN];
	uint8_t buf[CRYPTO_HASH_LEN + 1];
	int n, i;

	n = t3 ? 3 : t2 ? 2 : t1 ? 1 : 0;
	if (!n)
		return;

	/*
	 * Everything is computed into locals and copied out at the end, because the outputs may
	 * alias ck (and in): the handshake writes the new chaining key over the old one.
	 */
	crypto_hmac_blake2s(prk, ck, CRYPTO_HASH_LEN, in, len);
	buf[0] = 0x1;
	crypto_hmac_blake2s(t[0], prk, sizeof(prk), buf, 1);
	for (i = 1; i < n; i++) {
		memcpy(buf, t[i - 1], CRYPTO_HASH_LEN);
		buf[CRYPTO_HASH_LEN] = (uint8_t)(i + 1);
		crypto_hmac_blake2s(t[i], prk, sizeof(prk), buf, sizeof(buf));
	}
	for (i = 0; i < n; i++) {
		if (dst[i])
			memcpy(dst[i], t[i], CRYPTO_HASH_LEN);
	}
	crypto_wipe(prk, sizeof(prk));
	crypto_wipe(t, sizeof(t));
	crypto_wipe(buf, sizeof(buf));
}

/* --- ChaCha20-Poly1305 --- */

/*
 * One message on a context whose key (and direction) is already installed: the provider only
 * sets the nonce. This is the data path: no allocation and no algorithm lookup. The lengths
 * are checked here, the same for every provider (EVP takes int lengths; WireGuard packets are
 * nowhere near them).
 */
static int aead_crypt(void *ctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
		      const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	if (!encrypt) {
		/* Too short to hold a tag: it cannot authenticate. */
		if (len < CRYPTO_TAG_LEN)
			return -EBADMSG;
		len -= CRYPTO_TAG_LEN;
	}
	if (len > INT_MAX - CRYPTO_TAG_LEN || adlen > INT_MAX)
		return -EMSGSIZE;
	return aead_provider_crypt(ctx, encrypt, nonce, dst, src, len, ad, adlen);
}

static void nonce_from_counter(uint8_t nonce[static 12], uint64_t counter)
{
	int i;

	/* RFC 8439 §2.8 / whitepaper §5.4.6: 32 zero bits, then the counter little-endian. */
	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

int crypto_aead_init(struct crypto_aead *a, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt)
{
	void *ctx = NULL;
	int ret = ensure_init();

	if (ret < 0)
		return ret;
	ret = aead_ctx_new(&ctx, key, encrypt);
	if (ret < 0)
		return ret;
	a->ctx = ctx;
	a->encrypt = encrypt;
	return 0;
}

void crypto_aead_done(struct crypto_aead *a)
{
	if (!a)
		return;
	/* Freeing the context makes the provider wipe its copy of the key. */
	aead_ctx_free(a->ctx);
	a->ctx = NULL;
}

int crypto_aead_seal(struct crypto_aead *a, uint64_t counter, uint8_t *dst, const uint8_t *src,
		     size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12];

	if (!a->ctx || !a->encrypt)
		return -EINVAL;
	nonce_from_counter(nonce, counter);
	return aead_crypt(a->ctx, true, nonce, dst, src, len, ad, adlen);
}

int crypto_aead_open(struct crypto_aead *a, uint64_t counter, uint8_t *dst, const uint8_t *src,
		     size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12];

	if (!a->ctx || a->encrypt)
		return -EINVAL;
	nonce_from_counter(nonce, counter);
	return aead_crypt(a->ctx, false, nonce, dst, src, len, ad, adlen);
}

static int aead_oneshot(const uint8_t key[static CRYPTO_KEY_LEN], const uint8_t nonce[static 12],
			bool encrypt, uint8_t *dst, const uint8_t *src, size_t len,
			const uint8_t *ad, size_t adlen)
{
	void *ctx = NULL;
	int ret = ensure_init();

	if (ret < 0)
		return ret;
	ret = aead_ctx_new(&ctx, key, encrypt);
	if (ret < 0)
		return ret;
	ret = aead_crypt(ctx, encrypt, nonce, dst, src, len, ad, adlen);
	aead_ctx_free(ctx);
	return ret;
}

int crypto_aead_seal_once(const uint8_t key[static CRYPTO_KEY_LEN], uint64_t counter, uint8_t *dst,
			  const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12];

	nonce_from_counter(nonce, counter);
	return aead_oneshot(key, nonce, true, dst, src, len, ad, adlen);
}

int crypto_aead_open_once(const uint8_t key[static CRYPTO_KEY_LEN], uint64_t counter, uint8_t *dst,
			  const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t nonce[12];

	nonce_from_counter(nonce, counter);
	return aead_oneshot(key, nonce, false, dst, src, len, ad, adlen);
}

int crypto_aead_seal_nonce(const uint8_t key[static CRYPTO_KEY_LEN], const uint8_t nonce[static 12],
			   uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen)
{
	return aead_oneshot(key, nonce, true, dst, src, len, ad, adlen);
}

int crypto_aead_open_nonce(const uint8_t key[static CRYPTO_KEY_LEN], const uint8_t nonce[static 12],
			   uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen)
{
	return aead_oneshot(key, nonce, false, dst, src, len, ad, adlen);
}

/* --- XChaCha20-Poly1305 --- */

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t rotl32(uint32_t v, int c)
{
	return (v << c) | (v >> (32 - c));
}

/* RFC 8439 §2.1. */
static void quarter_round(uint32_t x[16], int a, int b, int c, int d)
{
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 16);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 12);
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 8);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 7);
}

/*
 * draft-irtf-cfrg-xchacha-03 §2.2: the ChaCha20 block function's 20 rounds over
 * constants || key || nonce[0..16), without the final feed-forward addition; the output is
 * state words 0-3 and 12-15. It is constant time by construction (adds, xors, fixed rotations).
 */
void crypto_hchacha20(uint8_t out[static CRYPTO_KEY_LEN], const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static 16])
{
	uint32_t x[16];
	int i;

	/* "expand 32-byte k" */
	x[0] = 0x61707865;
	x[1] = 0x3320646e;
	x[2] = 0x79622d32;
	x[3] = 0x6b206574;
	for (i = 0; i < 8; i++)
		x[4 + i] = load_le32(key + 4 * i);
	for (i = 0; i < 4; i++)
		x[12 + i] = load_le32(nonce + 4 * i);

	for (i = 0; i < 10; i++) {
		quarter_round(x, 0, 4, 8, 12);
		quarter_round(x, 1, 5, 9, 13);
		quarter_round(x, 2, 6, 10, 14);
		quarter_round(x, 3, 7, 11, 15);
		quarter_round(x, 0, 5, 10, 15);
		quarter_round(x, 1, 6, 11, 12);
		quarter_round(x, 2, 7, 8, 13);
		quarter_round(x, 3, 4, 9, 14);
	}

	for (i = 0; i < 4; i++) {
		store_le32(out + 4 * i, x[i]);
		store_le32(out + 16 + 4 * i, x[12 + i]);
	}
	crypto_wipe(x, sizeof(x));
}

/* Subkey = HChaCha20(key, nonce[0..16)); IETF nonce = 4 zero bytes || nonce[16..24). */
static int xaead(const uint8_t key[static CRYPTO_KEY_LEN],
		 const uint8_t nonce[static CRYPTO_XNONCE_LEN], bool encrypt, uint8_t *dst,
		 const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	uint8_t subkey[CRYPTO_KEY_LEN];
	uint8_t inonce[12] = {0};
	int ret;

	crypto_hchacha20(subkey, key, nonce);
	memcpy(inonce + 4, nonce + 16, 8);
	ret = aead_oneshot(subkey, inonce, encrypt, dst, src, len, ad, adlen);
	crypto_wipe(subkey, sizeof(subkey));
	return ret;
}

int crypto_xaead_seal(const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static CRYPTO_XNONCE_LEN], uint8_t *dst,
		      const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	return xaead(key, nonce, true, dst, src, len, ad, adlen);
}

int crypto_xaead_open(const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static CRYPTO_XNONCE_LEN], uint8_t *dst,
		      const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	return xaead(key, nonce, false, dst, src, len, ad, adlen);
}

/* --- misc --- */

int crypto_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	/* RAND_bytes takes an int; loop rather than truncate. */
	while (len) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, n) != 1)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

bool crypto_is_zero(const void *a, size_t len)
{
	const volatile uint8_t *p = a;
	uint8_t acc = 0;
	size_t i;

	/* No early exit: the time must not depend on where the first non-zero byte is. */
	for (i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

void crypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

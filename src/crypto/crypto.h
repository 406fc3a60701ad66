/* SPDX-License-Identifier: MIT */
/*
 * crypto/ — the only layer that includes a crypto library.
 *
 * WireGuard's primitives, one provider each, chosen at build time: X25519, BLAKE2s-256, keyed
 * BLAKE2s with a 16-byte output (BLAKE2SMAC, not a truncation), HMAC-BLAKE2s and the WireGuard
 * KDF, random bytes, constant-time compare and wipe over OpenSSL libcrypto >= 3.0;
 * ChaCha20-Poly1305 (IETF) and XChaCha20-Poly1305 (our HChaCha20 + that AEAD) over libgcrypt
 * or OpenSSL (meson option `aead`; crypto/aead.h, and the README says why).
 *
 * Nothing here logs or allocates per call except crypto_aead_init(), which creates the one
 * context that a key keeps for its whole life so per-packet seal/open never pays for it.
 * crypto_init() must run once before anything else (it fetches algorithm handles); it is
 * idempotent and thread-safe.
 */
#ifndef WEFT_CRYPTO_H
#define WEFT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CRYPTO_KEY_LEN = 32,    /* X25519 keys, AEAD keys, hash output */
	CRYPTO_HASH_LEN = 32,   /* BLAKE2s-256 */
	CRYPTO_MAC_LEN = 16,    /* keyed BLAKE2s-128 (mac1, mac2, cookie) */
	CRYPTO_TAG_LEN = 16,    /* Poly1305 tag */
	CRYPTO_XNONCE_LEN = 24, /* XChaCha20 nonce */
	CRYPTO_BLAKE2S_BLOCK = 64,
};

/* Fetches algorithm handles once. Returns 0 or -ENOTSUP when libcrypto lacks an algorithm. */
int crypto_init(void);

/* --- X25519 (RFC 7748) --- */

/* Clamp a private key in place (whitepaper §5.4.1 / RFC 7748 §5). */
void crypto_x25519_clamp(uint8_t key[static CRYPTO_KEY_LEN]);
/* Fresh clamped private key and its public key. 0 or -EIO. */
int crypto_x25519_keygen(uint8_t priv[static CRYPTO_KEY_LEN], uint8_t pub[static CRYPTO_KEY_LEN]);
/* Public key of a private key (the key is clamped by X25519 itself). 0 or -EIO. */
int crypto_x25519_public(uint8_t pub[static CRYPTO_KEY_LEN],
			 const uint8_t priv[static CRYPTO_KEY_LEN]);
/*
 * out = X25519(priv, pub). Returns 0, -EINVAL when the result is all zeros (low-order point;
 * out is zeroed), or -EIO when libcrypto fails.
 */
int crypto_x25519(uint8_t out[static CRYPTO_KEY_LEN], const uint8_t priv[static CRYPTO_KEY_LEN],
		  const uint8_t pub[static CRYPTO_KEY_LEN]);

/* --- BLAKE2s (RFC 7693) --- */

/* One-shot BLAKE2s-256 over a || b (b may be NULL with blen 0). */
void crypto_blake2s(uint8_t out[static CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		    size_t blen);
/* Keyed BLAKE2s with a native 16-byte output (param block digest_length = 16). keylen 1..32. */
void crypto_blake2s_mac(uint8_t out[static CRYPTO_MAC_LEN], const uint8_t *key, size_t keylen,
			const void *in, size_t len);
/* Keyed BLAKE2s with any output size 1..32 (for the reference known-answer tests). */
int crypto_blake2s_keyed(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
			 const void *in, size_t len);
/* RFC 2104 HMAC over BLAKE2s-256 (block 64). */
void crypto_hmac_blake2s(uint8_t out[static CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen,
			 const void *in, size_t len);
/*
 * WireGuard KDF_n (whitepaper §5.4.2): PRK = HMAC(ck, in), T1 = HMAC(PRK, 0x1),
 * T2 = HMAC(PRK, T1 || 0x2), T3 = HMAC(PRK, T2 || 0x3). Outputs that are NULL are not
 * computed past the last non-NULL one. Outputs may alias ck.
 */
void crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[static CRYPTO_HASH_LEN],
		const void *in, size_t len);

/* --- ChaCha20-Poly1305 (RFC 8439), nonce = 4 zero bytes || le64(counter) --- */

/* A key with its own reusable provider context. Not thread-safe: one user at a time. */
struct crypto_aead {
	void *ctx; /* the provider's context (gcry_cipher_hd_t or EVP_CIPHER_CTX), key installed */
	bool encrypt;
};

/* 0, -ENOMEM or -EIO. A context is for one direction (encrypt true = seal). */
int crypto_aead_init(struct crypto_aead *a, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt);
/* NULL-safe; frees the context and wipes the key schedule. */
void crypto_aead_done(struct crypto_aead *a);
/*
 * dst = ciphertext (len bytes) || tag (16). dst may equal src. Returns 0 or -EIO.
 */
int crypto_aead_seal(struct crypto_aead *a, uint64_t counter, uint8_t *dst, const uint8_t *src,
		     size_t len, const uint8_t *ad, size_t adlen);
/*
 * src = ciphertext || tag, len counts the tag (len >= 16). dst gets len - 16 bytes and may
 * equal src. Returns 0, -EBADMSG on authentication failure (dst contents unspecified) or -EIO.
 */
int crypto_aead_open(struct crypto_aead *a, uint64_t counter, uint8_t *dst, const uint8_t *src,
		     size_t len, const uint8_t *ad, size_t adlen);

/* One-shot forms for the handshake (they create a context per call: not for the data path). */
int crypto_aead_seal_once(const uint8_t key[static CRYPTO_KEY_LEN], uint64_t counter, uint8_t *dst,
			  const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen);
int crypto_aead_open_once(const uint8_t key[static CRYPTO_KEY_LEN], uint64_t counter, uint8_t *dst,
			  const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen);

/* Raw 12-byte-nonce forms, for the RFC 8439 known answers. */
int crypto_aead_seal_nonce(const uint8_t key[static CRYPTO_KEY_LEN], const uint8_t nonce[static 12],
			   uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen);
int crypto_aead_open_nonce(const uint8_t key[static CRYPTO_KEY_LEN], const uint8_t nonce[static 12],
			   uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen);

/* --- XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) --- */

/* HChaCha20(key, nonce[0..16)): the one primitive written here (OpenSSL has no HChaCha20). */
void crypto_hchacha20(uint8_t out[static CRYPTO_KEY_LEN], const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static 16]);
int crypto_xaead_seal(const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static CRYPTO_XNONCE_LEN], uint8_t *dst, const uint8_t *src,
		      size_t len, const uint8_t *ad, size_t adlen);
/* -EBADMSG on authentication failure. */
int crypto_xaead_open(const uint8_t key[static CRYPTO_KEY_LEN],
		      const uint8_t nonce[static CRYPTO_XNONCE_LEN], uint8_t *dst, const uint8_t *src,
		      size_t len, const uint8_t *ad, size_t adlen);

/* --- misc --- */

/* Cryptographically secure random bytes (RAND_bytes). 0 or -EIO. */
int crypto_random(void *buf, size_t len);
/* Constant-time equality. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Constant-time: true when all len bytes are zero. */
bool crypto_is_zero(const void *a, size_t len);
/* Wipe that the compiler may not elide (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t len);

/* --- STUN's primitives (RFC 8489): legacy hashes, for STUN/TURN only (crypto/legacy.c) --- */

enum {
	CRYPTO_SHA1_LEN = 20, /* HMAC-SHA1 output (MESSAGE-INTEGRITY) */
	CRYPTO_MD5_LEN = 16,  /* MD5 output (long-term credential key) */
};

/* HMAC-SHA1(key, in) (RFC 2104; OpenSSL). Aborts only when libcrypto cannot allocate. */
void crypto_hmac_sha1(uint8_t out[static CRYPTO_SHA1_LEN], const void *key, size_t keylen,
		      const void *in, size_t len);
/* MD5 of a || b (b may be NULL with blen 0) (OpenSSL). */
void crypto_md5(uint8_t out[static CRYPTO_MD5_LEN], const void *a, size_t alen, const void *b,
		size_t blen);
/* CRC-32 of ISO 3309 / ITU-T V.42 (libgcrypt's GCRY_MD_CRC32), as STUN's FINGERPRINT uses. */
uint32_t crypto_crc32(const void *in, size_t len);
/*
 * Standard base64 with padding (RFC 4648 §4) of in into out, NUL-terminated. Returns the
 * length written (without the NUL) or -ENOSPC when outcap < 4 * ceil(len / 3) + 1.
 */
int crypto_base64(char *out, size_t outcap, const void *in, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * crypto/aead.h — the ChaCha20-Poly1305 providers behind crypto_aead_* (internal to crypto/,
 * plus the bench and the cross-check test, which compare them).
 *
 * One provider per primitive, chosen at build time (meson option `aead`): crypto.c calls the
 * chosen one's functions directly, so a program that only uses crypto.h links only that
 * provider's object. The other stays reachable through its table when the build has it
 * (WEFT_HAVE_GCRYPT: both), for `make bench-crypto` and the byte-for-byte cross-check in
 * tests/unit/test_crypto.c. Must not: be included outside crypto/, bench/ and that test.
 *
 * The contract of crypt(): nonce is the 12-byte IETF nonce; len is the plaintext length
 * (crypto.c has already taken the tag off an opened message and refused lengths above
 * INT_MAX); seal writes len bytes of ciphertext and the 16-byte tag to dst; open reads the tag
 * at src + len and writes len bytes to dst, and on a tag mismatch wipes dst and returns
 * -EBADMSG. dst may equal src. No allocation, no lookup: only the context is touched.
 */
#ifndef WEFT_CRYPTO_AEAD_H
#define WEFT_CRYPTO_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

struct crypto_aead_provider {
	const char *name;
	/* A context with key and direction installed. 0, -ENOMEM or -EIO. */
	int (*ctx_new)(void **ret_ctx, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt);
	/* NULL-safe; wipes the key schedule. */
	void (*ctx_free)(void *ctx);
	int (*crypt)(void *ctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
		     const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen);
};

/*
 * OpenSSL libcrypto >= 3.0, EVP (aead_openssl.c). Always built: X25519 and BLAKE2s need it.
 * setup fetches the algorithm once (idempotent, thread-safe): 0 or -ENOTSUP.
 */
int crypto_aead_ossl_setup(void);
int crypto_aead_ossl_new(void **ret_ctx, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt);
void crypto_aead_ossl_free(void *ctx);
int crypto_aead_ossl_crypt(void *ctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
			   const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen);
extern const struct crypto_aead_provider crypto_aead_openssl;

/*
 * libgcrypt's one-time initialisation for crypto/ (legacy.c; libgcrypt is linked with either
 * AEAD provider): the version check, no secure memory; left alone when another library of
 * the process initialised it. Idempotent, thread-safe: 0 or -ENOTSUP.
 */
int crypto_gcry_init(void);

#if WEFT_HAVE_GCRYPT
/*
 * libgcrypt >= 1.8, GCRY_CIPHER_MODE_POLY1305 (aead_gcrypt.c). setup is crypto_gcry_init and
 * a check that ChaCha20 is there: 0 or -ENOTSUP.
 */
int crypto_aead_gcry_setup(void);
int crypto_aead_gcry_new(void **ret_ctx, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt);
void crypto_aead_gcry_free(void *ctx);
int crypto_aead_gcry_crypt(void *ctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
			   const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen);
extern const struct crypto_aead_provider crypto_aead_gcrypt;
#endif

/* The provider crypto_aead_* use in this build. */
extern const struct crypto_aead_provider *const crypto_aead_chosen;

#endif

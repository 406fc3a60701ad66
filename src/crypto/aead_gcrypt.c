// SPDX-License-Identifier: MIT
/*
 * aead_gcrypt.c — ChaCha20-Poly1305 over libgcrypt's GCRY_CIPHER_MODE_POLY1305 (see aead.h for
 * the contract).
 *
 * A context is one cipher handle, opened once per key with the key set; a message is
 * gcry_cipher_setiv (which also derives the message's Poly1305 key), authenticate (the
 * associated data), encrypt or decrypt, then gettag or checktag. Handles are never shared
 * between threads (the data plane keeps contexts per thread); libgcrypt's global state is
 * read-only once crypto_aead_gcry_setup() has run. No secure memory: the handle lives in
 * ordinary memory like OpenSSL's EVP context, and gcry_cipher_close wipes it.
 * Must not: allocate per message, log, use libgcrypt for anything but this primitive.
 */
#include "crypto/aead.h"

#include <errno.h>
#include <string.h>

#include <gcrypt.h>

int crypto_aead_gcry_setup(void)
{
	int r = crypto_gcry_init(); /* legacy.c: libgcrypt's one initialisation */

	if (r)
		return r;
	return gcry_cipher_test_algo(GCRY_CIPHER_CHACHA20) ? -ENOTSUP : 0;
}

int crypto_aead_gcry_new(void **ret_ctx, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt)
{
	gcry_cipher_hd_t h;
	gcry_error_t e;
	int ret = crypto_aead_gcry_setup();

	(void)encrypt; /* one handle does both; crypto.c enforces the direction */
	if (ret < 0)
		return ret;
	e = gcry_cipher_open(&h, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305, 0);
	if (e)
		return gcry_err_code_to_errno(gcry_err_code(e)) == ENOMEM ? -ENOMEM : -EIO;
	if (gcry_cipher_setkey(h, key, CRYPTO_KEY_LEN)) {
		gcry_cipher_close(h);
		return -EIO;
	}
	*ret_ctx = h;
	return 0;
}

void crypto_aead_gcry_free(void *ctx)
{
	/* gcry_cipher_close is NULL-safe and wipes the handle, key schedule included. */
	gcry_cipher_close(ctx);
}

int crypto_aead_gcry_crypt(void *ctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
			   const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	gcry_cipher_hd_t h = ctx;
	uint8_t tag[CRYPTO_TAG_LEN];
	gcry_error_t e;

	/* Copied first, so that decrypting in place can never overwrite it before it is used. */
	if (!encrypt)
		memcpy(tag, src + len, CRYPTO_TAG_LEN);

	/* A new IV resets the handle's AEAD state (counts, marks, Poly1305) for this message. */
	if (gcry_cipher_setiv(h, nonce, 12))
		return -EIO;
	if (adlen && gcry_cipher_authenticate(h, ad, adlen))
		return -EIO;

	if (encrypt) {
		if (len && gcry_cipher_encrypt(h, dst, len, src, len))
			return -EIO;
		if (gcry_cipher_gettag(h, dst + len, CRYPTO_TAG_LEN))
			return -EIO;
		return 0;
	}

	if (len && gcry_cipher_decrypt(h, dst, len, src, len))
		return -EIO;
	/* checktag compares in constant time. */
	e = gcry_cipher_checktag(h, tag, CRYPTO_TAG_LEN);
	if (e) {
		/* Release no unauthenticated plaintext (keystream) to a careless caller. */
		crypto_wipe(dst, len);
		return gcry_err_code(e) == GPG_ERR_CHECKSUM ? -EBADMSG : -EIO;
	}
	return 0;
}

const struct crypto_aead_provider crypto_aead_gcrypt = {
	.name = "libgcrypt",
	.ctx_new = crypto_aead_gcry_new,
	.ctx_free = crypto_aead_gcry_free,
	.crypt = crypto_aead_gcry_crypt,
};

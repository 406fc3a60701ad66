// SPDX-License-Identifier: MIT
/*
 * aead_openssl.c — ChaCha20-Poly1305 over OpenSSL 3.0's EVP (see aead.h for the contract).
 *
 * A context keeps its key (and direction) installed for its life; a message only sets the
 * nonce, which resets the AEAD state without touching the key. Must not: allocate or fetch an
 * algorithm per message, log.
 */
#include "crypto/aead.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* The algorithm handle, fetched once (a fetch per key would cost a lock and a name lookup). */
static EVP_CIPHER *g_chachapoly;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fetch(void)
{
	g_chachapoly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

int crypto_aead_ossl_setup(void)
{
	if (pthread_once(&g_once, fetch) != 0)
		return -EIO;
	return g_chachapoly ? 0 : -ENOTSUP;
}

int crypto_aead_ossl_crypt(void *vctx, bool encrypt, const uint8_t nonce[static 12], uint8_t *dst,
			   const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen)
{
	EVP_CIPHER_CTX *ctx = vctx;
	uint8_t tag[CRYPTO_TAG_LEN];
	OSSL_PARAM params[2];
	int n;

	/* Copied first, so that decrypting in place can never overwrite it before it is used. */
	if (!encrypt)
		memcpy(tag, src + len, CRYPTO_TAG_LEN);

	if (EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, -1, NULL) != 1)
		return -EIO;
	if (adlen && EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) != 1)
		return -EIO;
	if (len && EVP_CipherUpdate(ctx, dst, &n, src, (int)len) != 1)
		return -EIO;

	if (encrypt) {
		if (EVP_CipherFinal_ex(ctx, dst + len, &n) != 1)
			return -EIO;
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, dst + len,
							      CRYPTO_TAG_LEN);
		params[1] = OSSL_PARAM_construct_end();
		if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
			return -EIO;
		return 0;
	}

	params[0] =
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, CRYPTO_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_set_params(ctx, params) != 1)
		return -EIO;
	/* With every input accepted, the only way final fails is a tag mismatch. */
	if (EVP_CipherFinal_ex(ctx, dst + len, &n) != 1) {
		/* Release no unauthenticated plaintext (keystream) to a careless caller. */
		crypto_wipe(dst, len);
		return -EBADMSG;
	}
	return 0;
}

int crypto_aead_ossl_new(void **ret_ctx, const uint8_t key[static CRYPTO_KEY_LEN], bool encrypt)
{
	EVP_CIPHER_CTX *ctx;
	int ret = crypto_aead_ossl_setup();

	if (ret < 0)
		return ret;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex2(ctx, g_chachapoly, key, NULL, encrypt ? 1 : 0, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return -EIO;
	}
	*ret_ctx = ctx;
	return 0;
}

void crypto_aead_ossl_free(void *ctx)
{
	/* Freeing the context makes the provider wipe its copy of the key. */
	EVP_CIPHER_CTX_free(ctx);
}

const struct crypto_aead_provider crypto_aead_openssl = {
	.name = "openssl",
	.ctx_new = crypto_aead_ossl_new,
	.ctx_free = crypto_aead_ossl_free,
	.crypt = crypto_aead_ossl_crypt,
};

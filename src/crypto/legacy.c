// SPDX-License-Identifier: MIT
/*
 * legacy.c — the primitives STUN and TURN are defined with (RFC 8489): HMAC-SHA1 for
 * MESSAGE-INTEGRITY, MD5 for the long-term credential key, CRC-32 for FINGERPRINT, and base64
 * for the TURN REST password. HMAC-SHA1, MD5 and base64 come from OpenSSL, CRC-32 from
 * libgcrypt (OpenSSL has no CRC-32; libgcrypt's GCRY_MD_CRC32 is the ISO 3309 CRC).
 *
 * Must not: be used for anything but STUN/TURN (these are weak hashes kept for interop), log,
 * or implement a primitive by hand. These run on the control path of a relay (a few messages a
 * minute), so the per-call fetch of EVP_Q_mac/EVP_Q_digest is acceptable.
 */
#include "crypto/crypto.h"
#include "crypto/aead.h" /* crypto_gcry_init */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>
#include <openssl/evp.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_err;

/*
 * libgcrypt's one-time initialisation for all of crypto/ (aead.h): if the process has
 * initialised it already (another library), only the version is checked; else the version
 * check, which is also the initialisation, and no secure memory pool (nothing here uses it).
 */
static void gcry_setup(void)
{
	if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		if (!gcry_check_version(GCRYPT_VERSION))
			g_err = -ENOTSUP;
		return;
	}
	if (!gcry_check_version(GCRYPT_VERSION)) {
		g_err = -ENOTSUP;
		return;
	}
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

int crypto_gcry_init(void)
{
	if (pthread_once(&g_once, gcry_setup) != 0)
		return -EIO;
	return g_err;
}

void crypto_hmac_sha1(uint8_t out[static CRYPTO_SHA1_LEN], const void *key, size_t keylen,
		      const void *in, size_t len)
{
	static const uint8_t empty[1];
	size_t n = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA1", NULL, keylen ? key : empty, keylen,
		       len ? in : empty, len, out, CRYPTO_SHA1_LEN, &n) ||
	    n != CRYPTO_SHA1_LEN)
		abort(); /* out of memory or a libcrypto without SHA-1: not a condition to carry on
			  */
}

void crypto_md5(uint8_t out[static CRYPTO_MD5_LEN], const void *a, size_t alen, const void *b,
		size_t blen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (!ctx || EVP_DigestInit_ex2(ctx, EVP_md5(), NULL) != 1 ||
	    (alen && EVP_DigestUpdate(ctx, a, alen) != 1) ||
	    (blen && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != CRYPTO_MD5_LEN)
		abort();
	/* EVP_MD_CTX_free wipes the state, which held the password. */
	EVP_MD_CTX_free(ctx);
}

uint32_t crypto_crc32(const void *in, size_t len)
{
	uint8_t d[4];

	if (crypto_gcry_init() < 0 || gcry_md_test_algo(GCRY_MD_CRC32))
		abort(); /* every libgcrypt since 1.2 has CRC-32 (tests check it) */
	/* libgcrypt writes the CRC most significant byte first. */
	gcry_md_hash_buffer(GCRY_MD_CRC32, d, in, len);
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

int crypto_base64(char *out, size_t outcap, const void *in, size_t len)
{
	size_t need;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return -EINVAL;
	need = (len + 2) / 3 * 4;
	if (outcap < need + 1)
		return -ENOSPC;
	/* EVP_EncodeBlock writes no newlines and a terminating NUL. */
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

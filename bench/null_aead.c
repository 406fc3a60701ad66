// SPDX-License-Identifier: MIT
/*
 * null_aead.c — a measuring instrument for `make bench`, never a product: preloaded into
 * weft-wg (LD_PRELOAD), it replaces libgcrypt's cipher calls by a copy and an all-zero tag,
 * so that the tunnel runs with everything but the AEAD's own work. What weft-wg then spends
 * per GB is the floor the rest of the data path (the kernel's TUN and UDP paths, weft-wg's
 * own code) puts under any cipher; scripts/bench.py reports it as "no AEAD".
 *
 * Both ends must carry it (the handshake's sealed fields are copied in the clear too); a
 * peer without it refuses every message. It only works with the libgcrypt AEAD provider
 * (meson option aead=libgcrypt, the default): the OpenSSL provider's calls are not replaced.
 * scripts/bench.py checks that a ping's payload crosses the underlay in the clear before it
 * uses a figure, so a run where the interposition did not take cannot pass for the floor.
 * It includes gcrypt.h for the prototypes it replaces: an instrument outside src/, where
 * crypto/ stays the only code that includes a crypto library.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gcrypt.h>

/*
 * Preloaded by mistake (a leftover LD_PRELOAD), it would send the handshake's sealed fields in
 * the clear: the process must also carry WEFT_BENCH_NULL_AEAD=1, or it stops before main().
 */
__attribute__((constructor)) static void null_aead_guard(void)
{
	static const char msg[] = "weft-null-aead.so: a bench instrument that removes the "
				  "encryption; set WEFT_BENCH_NULL_AEAD=1 to use it\n";
	const char *v = getenv("WEFT_BENCH_NULL_AEAD");

	if (!v || strcmp(v, "1")) {
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		_exit(78); /* EX_CONFIG */
	}
}

gcry_error_t gcry_cipher_setiv(gcry_cipher_hd_t h, const void *iv, size_t ivlen)
{
	(void)h, (void)iv, (void)ivlen;
	return 0;
}

gcry_error_t gcry_cipher_authenticate(gcry_cipher_hd_t h, const void *abuf, size_t abuflen)
{
	(void)h, (void)abuf, (void)abuflen;
	return 0;
}

static gcry_error_t copy(void *out, size_t outsize, const void *in, size_t inlen)
{
	if (!in)
		return 0; /* in place */
	if (outsize < inlen)
		return gcry_error(GPG_ERR_BUFFER_TOO_SHORT);
	memmove(out, in, inlen);
	return 0;
}

gcry_error_t gcry_cipher_encrypt(gcry_cipher_hd_t h, void *out, size_t outsize, const void *in,
				 size_t inlen)
{
	(void)h;
	return copy(out, outsize, in, inlen);
}

gcry_error_t gcry_cipher_decrypt(gcry_cipher_hd_t h, void *out, size_t outsize, const void *in,
				 size_t inlen)
{
	(void)h;
	return copy(out, outsize, in, inlen);
}

gcry_error_t gcry_cipher_gettag(gcry_cipher_hd_t h, void *outtag, size_t taglen)
{
	(void)h;
	memset(outtag, 0, taglen);
	return 0;
}

gcry_error_t gcry_cipher_checktag(gcry_cipher_hd_t h, const void *intag, size_t taglen)
{
	static const unsigned char zero[16];

	(void)h;
	if (taglen > sizeof(zero) || memcmp(intag, zero, taglen))
		return gcry_error(GPG_ERR_CHECKSUM);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The Noise_IKpsk2 core (whitepaper §5.4.2–5.4.4, Noise rev. 34 §5 and §9 for psk2).
 * Each step is commented with its Noise token. This file knows nothing of WireGuard's
 * headers, indices or MACs (handshake.c wraps it); it must not keep state of its own.
 */
#include "wg/noise.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

void noise_symmetric_init(struct noise_symmetric *s, const char *protocol_name,
			  const void *prologue, size_t prologue_len)
{
	size_t n = strlen(protocol_name);

	/* h = name padded to HASHLEN, or HASH(name) when longer; ck = h. */
	if (n <= WG_HASH_LEN) {
		memset(s->h, 0, sizeof(s->h));
		memcpy(s->h, protocol_name, n);
	} else {
		crypto_blake2s(s->h, protocol_name, n, NULL, 0);
	}
	memcpy(s->ck, s->h, sizeof(s->ck));
	noise_mix_hash(s, prologue, prologue_len);
}

void noise_symmetric_init_wireguard(struct noise_symmetric *s)
{
	/* C_i and H_i never change; compute them once (any thread may race to the same bytes). */
	static struct noise_symmetric initial;
	static int ready; /* written last; the values are identical whichever thread wins */

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		struct noise_symmetric tmp;

		noise_symmetric_init(&tmp, construction, identifier, strlen(identifier));
		initial = tmp;
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	*s = initial;
}

void noise_mix_hash(struct noise_symmetric *s, const void *data, size_t len)
{
	crypto_blake2s(s->h, s->h, sizeof(s->h), data, len);
}

void noise_symmetric_wipe(struct noise_symmetric *s)
{
	crypto_wipe(s, sizeof(*s));
}

/* The psk modifier's "e": MixHash(e) and MixKey(e) (Noise §9.2). */
static void mix_ephemeral(struct noise_symmetric *s, const uint8_t e_pub[WG_KEY_LEN])
{
	noise_mix_hash(s, e_pub, WG_KEY_LEN);
	crypto_kdf(s->ck, NULL, NULL, s->ck, e_pub, WG_KEY_LEN);
}

/* MixKey(DH(priv, pub)) returning the cipher key. -EINVAL when the DH is all zeros. */
static int mix_dh(struct noise_symmetric *s, uint8_t key[WG_KEY_LEN], const uint8_t *priv,
		  const uint8_t *pub)
{
	uint8_t dh[WG_KEY_LEN];
	int r = crypto_x25519(dh, priv, pub);

	if (r == 0)
		crypto_kdf(s->ck, key, NULL, s->ck, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return r;
}

/* MixKey with a DH result computed elsewhere (the precomputed static-static). */
static void mix_precomputed(struct noise_symmetric *s, uint8_t key[WG_KEY_LEN],
			    const uint8_t dh[WG_KEY_LEN])
{
	crypto_kdf(s->ck, key, NULL, s->ck, dh, WG_KEY_LEN);
}

/* MixKeyAndHash(psk): (ck, tau, k) = KDF3(ck, psk); MixHash(tau). */
static void mix_psk(struct noise_symmetric *s, uint8_t key[WG_KEY_LEN],
		    const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];

	crypto_kdf(s->ck, tau, key, s->ck, psk, WG_KEY_LEN);
	noise_mix_hash(s, tau, sizeof(tau));
	crypto_wipe(tau, sizeof(tau));
}

/* EncryptAndHash with nonce 0 (every handshake key is used once). */
static int encrypt_and_hash(struct noise_symmetric *s, const uint8_t key[WG_KEY_LEN],
			    uint8_t *dst, const uint8_t *src, size_t len)
{
	int r = crypto_aead_seal_once(key, 0, dst, src, len, s->h, sizeof(s->h));

	if (r == 0)
		noise_mix_hash(s, dst, len + WG_TAG_LEN);
	return r;
}

/* DecryptAndHash: hash the ciphertext, not the plaintext. dst gets len bytes. */
static int decrypt_and_hash(struct noise_symmetric *s, const uint8_t key[WG_KEY_LEN],
			    uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t h[WG_HASH_LEN];
	int r;

	crypto_blake2s(h, s->h, sizeof(s->h), src, len + WG_TAG_LEN);
	r = crypto_aead_open_once(key, 0, dst, src, len + WG_TAG_LEN, s->h, sizeof(s->h));
	if (r == 0)
		memcpy(s->h, h, sizeof(h));
	return r;
}

int noise_write_msg1(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		     const uint8_t e_pub[WG_KEY_LEN], const uint8_t remote_static[WG_KEY_LEN],
		     const uint8_t local_static_pub[WG_KEY_LEN], const uint8_t ss[WG_KEY_LEN],
		     const uint8_t *payload, size_t plen, uint8_t *out)
{
	uint8_t key[WG_KEY_LEN];
	int r;

	/* e */
	memcpy(out, e_pub, WG_KEY_LEN);
	mix_ephemeral(s, e_pub);
	/* es */
	r = mix_dh(s, key, e_priv, remote_static);
	if (r)
		goto out;
	/* s */
	r = encrypt_and_hash(s, key, out + WG_KEY_LEN, local_static_pub, WG_KEY_LEN);
	if (r)
		goto out;
	/* ss */
	mix_precomputed(s, key, ss);
	/* payload */
	r = encrypt_and_hash(s, key, out + 2 * WG_KEY_LEN + WG_TAG_LEN, payload, plen);
out:
	crypto_wipe(key, sizeof(key));
	return r;
}

int noise_read_msg1_static(struct noise_symmetric *s, const uint8_t local_priv[WG_KEY_LEN],
			   const uint8_t *in, uint8_t ret_remote_e[WG_KEY_LEN],
			   uint8_t ret_remote_static[WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	int r;

	/* e */
	memcpy(ret_remote_e, in, WG_KEY_LEN);
	mix_ephemeral(s, ret_remote_e);
	/* es */
	r = mix_dh(s, key, local_priv, ret_remote_e);
	if (r)
		goto out;
	/* s */
	r = decrypt_and_hash(s, key, ret_remote_static, in + WG_KEY_LEN, WG_KEY_LEN);
out:
	crypto_wipe(key, sizeof(key));
	return r;
}

int noise_read_msg1_payload(struct noise_symmetric *s, const uint8_t ss[WG_KEY_LEN],
			    const uint8_t *in, uint8_t *payload, size_t plen)
{
	uint8_t key[WG_KEY_LEN];
	int r;

	/* ss */
	mix_precomputed(s, key, ss);
	/* payload */
	r = decrypt_and_hash(s, key, payload, in + 2 * WG_KEY_LEN + WG_TAG_LEN, plen);
	crypto_wipe(key, sizeof(key));
	return r;
}

int noise_write_msg2(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		     const uint8_t e_pub[WG_KEY_LEN], const uint8_t remote_e[WG_KEY_LEN],
		     const uint8_t remote_static[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN],
		     const uint8_t *payload, size_t plen, uint8_t *out)
{
	uint8_t key[WG_KEY_LEN];
	int r;

	/* e */
	memcpy(out, e_pub, WG_KEY_LEN);
	mix_ephemeral(s, e_pub);
	/* ee */
	r = mix_dh(s, key, e_priv, remote_e);
	if (r)
		goto out;
	/* se */
	r = mix_dh(s, key, e_priv, remote_static);
	if (r)
		goto out;
	/* psk */
	mix_psk(s, key, psk);
	/* payload */
	r = encrypt_and_hash(s, key, out + WG_KEY_LEN, payload, plen);
out:
	crypto_wipe(key, sizeof(key));
	return r;
}

int noise_read_msg2(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		    const uint8_t local_priv[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN],
		    const uint8_t *in, uint8_t *payload, size_t plen,
		    uint8_t ret_remote_e[WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	int r;

	/* e */
	memcpy(ret_remote_e, in, WG_KEY_LEN);
	mix_ephemeral(s, ret_remote_e);
	/* ee */
	r = mix_dh(s, key, e_priv, ret_remote_e);
	if (r)
		goto out;
	/* se */
	r = mix_dh(s, key, local_priv, ret_remote_e);
	if (r)
		goto out;
	/* psk */
	mix_psk(s, key, psk);
	/* payload */
	r = decrypt_and_hash(s, key, payload, in + WG_KEY_LEN, plen);
out:
	crypto_wipe(key, sizeof(key));
	return r;
}

void noise_split(const struct noise_symmetric *s, uint8_t k1[WG_KEY_LEN], uint8_t k2[WG_KEY_LEN])
{
	crypto_kdf(k1, k2, NULL, s->ck, NULL, 0);
}

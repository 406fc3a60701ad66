/* SPDX-License-Identifier: MIT */
/*
 * ctl/handshake — the control channels' Noise_IKpsk2 handshake (see handshake.h), a thin
 * layer over the data plane's Noise core: the protocol name and a per-channel prologue, the
 * payload of each channel kind, and the split into transport keys.
 *
 * Must not: read the clock, draw randomness, do I/O, or keep a secret past ctl_hs_wipe().
 */
#include "ctl/handshake.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"

static const char protocol_name[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";

/* The prologue binds a handshake to its channel: an overlay message 1 is no join. */
static const char *const prologues[] = {
	[CTL_HS_OVERLAY] = "weft control v2: overlay channel",
	[CTL_HS_JOIN] = "weft control v2: join channel",
};

static const uint8_t zero_psk[CTL_HS_KEY_LEN];
/* The Noise core takes a buffer even for an empty payload (never NULL: pointer arithmetic on
 * NULL is undefined, and clang's UBSan says so). */
static uint8_t empty[1];

size_t ctl_hs_payload_len(enum ctl_hs_kind kind)
{
	return kind == CTL_HS_JOIN ? CTL_HS_JOIN_PAYLOAD_LEN : 0;
}

size_t ctl_hs_msg1_len(enum ctl_hs_kind kind)
{
	return NOISE_MSG1_LEN(ctl_hs_payload_len(kind));
}

int ctl_hs_init(struct ctl_hs *hs, enum ctl_hs_kind kind, bool initiator,
		const uint8_t local_priv[static CTL_HS_KEY_LEN], const uint8_t *remote_static)
{
	memset(hs, 0, sizeof(*hs));
	if ((kind != CTL_HS_OVERLAY && kind != CTL_HS_JOIN) || initiator != !!remote_static)
		return -EINVAL;
	hs->kind = kind;
	hs->initiator = initiator;
	memcpy(hs->local_priv, local_priv, CTL_HS_KEY_LEN);
	if (crypto_x25519_public(hs->local_pub, local_priv))
		return -EIO;
	noise_symmetric_init(&hs->s, protocol_name, prologues[kind], strlen(prologues[kind]));
	/* Pre-message: <- s (the responder's static key, known to the initiator). */
	if (initiator) {
		memcpy(hs->remote_static, remote_static, CTL_HS_KEY_LEN);
		noise_mix_hash(&hs->s, remote_static, CTL_HS_KEY_LEN);
	} else {
		noise_mix_hash(&hs->s, hs->local_pub, CTL_HS_KEY_LEN);
	}
	return 0;
}

int ctl_hs_write1(struct ctl_hs *hs, const uint8_t e_priv[static CTL_HS_KEY_LEN],
		  const uint8_t *payload, uint8_t *out)
{
	uint8_t e_pub[CTL_HS_KEY_LEN], ss[CTL_HS_KEY_LEN];
	int r;

	if (!hs->initiator)
		return -EINVAL;
	memcpy(hs->e_priv, e_priv, CTL_HS_KEY_LEN);
	r = crypto_x25519_public(e_pub, e_priv) ? -EIO : 0;
	if (!r)
		r = crypto_x25519(ss, hs->local_priv, hs->remote_static);
	if (!r)
		r = noise_write_msg1(&hs->s, hs->e_priv, e_pub, hs->remote_static, hs->local_pub,
				     ss, payload ? payload : empty, ctl_hs_payload_len(hs->kind), out);
	crypto_wipe(ss, sizeof(ss));
	return r;
}

int ctl_hs_read1(struct ctl_hs *hs, const uint8_t *in, size_t len, uint8_t *payload)
{
	uint8_t ss[CTL_HS_KEY_LEN];
	int r;

	if (hs->initiator)
		return -EINVAL;
	if (len != ctl_hs_msg1_len(hs->kind))
		return -EMSGSIZE;
	r = noise_read_msg1_static(&hs->s, hs->local_priv, in, hs->remote_e, hs->remote_static);
	if (!r)
		r = crypto_x25519(ss, hs->local_priv, hs->remote_static); /* ss */
	if (!r)
		r = noise_read_msg1_payload(&hs->s, ss, in, payload ? payload : empty,
					    ctl_hs_payload_len(hs->kind));
	crypto_wipe(ss, sizeof(ss));
	return r;
}

int ctl_hs_write2(struct ctl_hs *hs, const uint8_t e_priv[static CTL_HS_KEY_LEN],
		  const uint8_t *psk, uint8_t *out, struct ctl_keys *ret)
{
	uint8_t e_pub[CTL_HS_KEY_LEN];
	int r;

	if (hs->initiator)
		return -EINVAL;
	memcpy(hs->e_priv, e_priv, CTL_HS_KEY_LEN);
	if (crypto_x25519_public(e_pub, e_priv))
		return -EIO;
	r = noise_write_msg2(&hs->s, hs->e_priv, e_pub, hs->remote_e, hs->remote_static,
			     psk ? psk : zero_psk, empty, 0, out);
	if (r)
		return r;
	/* The initiator sends with the first key. */
	noise_split(&hs->s, ret->rx, ret->tx);
	return 0;
}

int ctl_hs_read2(struct ctl_hs *hs, const uint8_t *psk, const uint8_t *in, size_t len,
		 struct ctl_keys *ret)
{
	int r;

	if (!hs->initiator)
		return -EINVAL;
	if (len != CTL_HS_MSG2_LEN)
		return -EMSGSIZE;
	r = noise_read_msg2(&hs->s, hs->e_priv, hs->local_priv, psk ? psk : zero_psk, in, empty, 0,
			    hs->remote_e);
	if (r)
		return r;
	noise_split(&hs->s, ret->tx, ret->rx);
	return 0;
}

void ctl_hs_wipe(struct ctl_hs *hs)
{
	crypto_wipe(hs, sizeof(*hs));
}

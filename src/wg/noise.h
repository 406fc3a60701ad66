/* SPDX-License-Identifier: MIT */
/*
 * Noise_IKpsk2 (whitepaper §5.4): the symmetric state and the two handshake messages, with
 * the protocol name, prologue and payloads as parameters so the cacophony test vector can
 * drive the very code WireGuard uses (WireGuard's prologue is IDENTIFIER, its payloads a
 * TAI64N timestamp and nothing). Pure: keys in, bytes out; no I/O, no randomness.
 *
 * Every function that can fail leaves its outputs unspecified and the caller discards the
 * temporary symmetric state, so a failed message never changes the handshake it was for.
 */
#ifndef WEFT_WG_NOISE_H
#define WEFT_WG_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "wg/messages.h"

struct noise_symmetric {
	uint8_t ck[WG_HASH_LEN]; /* chaining key */
	uint8_t h[WG_HASH_LEN];  /* handshake hash */
};

/* Noise §5.2 InitializeSymmetric(protocol_name) + MixHash(prologue). */
void noise_symmetric_init(struct noise_symmetric *s, const char *protocol_name,
			  const void *prologue, size_t prologue_len);
/* WireGuard's precomputed C_i / H_i (CONSTRUCTION, IDENTIFIER). */
void noise_symmetric_init_wireguard(struct noise_symmetric *s);
void noise_mix_hash(struct noise_symmetric *s, const void *data, size_t len);
void noise_symmetric_wipe(struct noise_symmetric *s);

/* Sizes of the Noise payload parts, excluding WireGuard's headers and MACs. */
#define NOISE_MSG1_LEN(payload) (WG_KEY_LEN + WG_KEY_LEN + WG_TAG_LEN + (payload) + WG_TAG_LEN)
#define NOISE_MSG2_LEN(payload) (WG_KEY_LEN + (payload) + WG_TAG_LEN)

/*
 * Initiator, message 1: -> e, es, s, ss. s has the responder's static pre-message mixed in
 * (rs) already. ss is DH(s_i, s_r), precomputed. out receives NOISE_MSG1_LEN(plen) bytes.
 * 0, -EINVAL (a DH was zero) or -EIO.
 */
int noise_write_msg1(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		     const uint8_t e_pub[WG_KEY_LEN], const uint8_t remote_static[WG_KEY_LEN],
		     const uint8_t local_static_pub[WG_KEY_LEN], const uint8_t ss[WG_KEY_LEN],
		     const uint8_t *payload, size_t plen, uint8_t *out);

/*
 * Responder, message 1, first half: e, es, s. Returns the initiator's static key in
 * ret_remote_static and its ephemeral in ret_remote_e. in holds NOISE_MSG1_LEN(plen) bytes.
 * 0, -EINVAL (zero DH), -EBADMSG (authentication) or -EIO.
 */
int noise_read_msg1_static(struct noise_symmetric *s, const uint8_t local_priv[WG_KEY_LEN],
			   const uint8_t *in, uint8_t ret_remote_e[WG_KEY_LEN],
			   uint8_t ret_remote_static[WG_KEY_LEN]);
/* Responder, message 1, second half: ss and the payload (plen bytes into payload). */
int noise_read_msg1_payload(struct noise_symmetric *s, const uint8_t ss[WG_KEY_LEN],
			    const uint8_t *in, uint8_t *payload, size_t plen);

/*
 * Responder, message 2: <- e, ee, se, psk. out receives NOISE_MSG2_LEN(plen) bytes.
 */
int noise_write_msg2(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		     const uint8_t e_pub[WG_KEY_LEN], const uint8_t remote_e[WG_KEY_LEN],
		     const uint8_t remote_static[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN],
		     const uint8_t *payload, size_t plen, uint8_t *out);
/* Initiator, message 2. ret_remote_e receives the responder's ephemeral. */
int noise_read_msg2(struct noise_symmetric *s, const uint8_t e_priv[WG_KEY_LEN],
		    const uint8_t local_priv[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN],
		    const uint8_t *in, uint8_t *payload, size_t plen,
		    uint8_t ret_remote_e[WG_KEY_LEN]);

/* Split: (k1, k2) = KDF2(ck, empty). The initiator sends with k1. */
void noise_split(const struct noise_symmetric *s, uint8_t k1[WG_KEY_LEN], uint8_t k2[WG_KEY_LEN]);

#endif

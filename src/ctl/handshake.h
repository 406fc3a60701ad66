/* SPDX-License-Identifier: MIT */
/*
 * ctl/handshake — how two weft daemons (or a joiner and the leader) prove who they are before
 * any control message is read. Pure: keys and bytes in, bytes and keys out; no sockets, no
 * clock, no randomness (the caller passes the ephemeral key), no logging.
 *
 * The control plane's trust model
 * -------------------------------
 * Every control connection starts with Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, the pattern
 * WireGuard uses, run by the same Noise core as the data plane (wg/noise.c, checked against
 * the cacophony vector), with a prologue that names the channel so a message of one channel
 * is never valid on another:
 *
 *   -> e, es, s, ss   [payload]     initiator: it knows the responder's static key
 *   <- e, ee, se, psk               responder: learns and checks the initiator's static key
 *
 * - Overlay channel (member <-> leader; TCP to port+1 on the overlay address). Both sides are
 *   cluster nodes and know each other's static key (the WireGuard key of the node): a member
 *   from state.json (the leader's) and the leader from its member list. The responder accepts
 *   only keys it knows (the leader: its members; a member: the leader's) and learns *which*
 *   node is talking from the key, never from the source address, which any local user of a
 *   node shares. psk is 32 zero bytes; payload empty.
 * - Join channel (joiner -> leader; TCP to the endpoint in the token, over the underlay). The
 *   joiner knows the leader's static key from the token, so only the holder of the leader's
 *   private key can complete `es` and answer: a party on the path, even one that holds the
 *   token's secret, cannot read the join or forge the WELCOME. The payload of message 1 is
 *   the token id (encrypted under es); the leader looks the token up, and its secret becomes
 *   the psk, so the first transport frame (JOIN) opens only for a holder of the secret. The
 *   joiner's static key is the node key it will run with: the join proves possession of it.
 *
 * After message 2 both sides split into two ChaCha20-Poly1305 keys, one per direction, and
 * every frame is sealed with its direction's key, the 8-byte frame header as associated data
 * and a counter from 0 as nonce (ctl/chan.c). A replayed message 1 makes a responder answer,
 * but without the initiator's ephemeral key nobody can use the answer; a replayed transport
 * frame on a new connection does not open under its fresh keys.
 *
 * Must not: choose who may connect (the caller's accept callback does), or do I/O.
 */
#ifndef WEFT_CTL_HANDSHAKE_H
#define WEFT_CTL_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/noise.h"

enum ctl_hs_kind {
	CTL_HS_OVERLAY = 0, /* node <-> node over the overlay; empty payload */
	CTL_HS_JOIN = 1,    /* joiner -> leader; payload: the token id */
};

enum {
	CTL_HS_KEY_LEN = 32,
	CTL_HS_JOIN_PAYLOAD_LEN = 16, /* the token id */
	CTL_HS_MSG1_MAX = NOISE_MSG1_LEN(CTL_HS_JOIN_PAYLOAD_LEN),
	CTL_HS_MSG2_LEN = NOISE_MSG2_LEN(0),
};

struct ctl_hs {
	enum ctl_hs_kind kind;
	bool initiator;
	struct noise_symmetric s;
	uint8_t local_priv[CTL_HS_KEY_LEN], local_pub[CTL_HS_KEY_LEN];
	uint8_t e_priv[CTL_HS_KEY_LEN];
	uint8_t remote_static[CTL_HS_KEY_LEN]; /* initiator: given; responder: after read1 */
	uint8_t remote_e[CTL_HS_KEY_LEN];
};

/* Transport keys after the handshake, from this side's point of view. */
struct ctl_keys {
	uint8_t tx[CTL_HS_KEY_LEN], rx[CTL_HS_KEY_LEN];
};

/* Payload and message 1 sizes of a channel kind. */
size_t ctl_hs_payload_len(enum ctl_hs_kind kind);
size_t ctl_hs_msg1_len(enum ctl_hs_kind kind);

/*
 * Starts a handshake. The initiator passes the responder's static key; the responder NULL.
 * 0, -EINVAL (bad kind) or -EIO.
 */
int ctl_hs_init(struct ctl_hs *hs, enum ctl_hs_kind kind, bool initiator,
		const uint8_t local_priv[static CTL_HS_KEY_LEN], const uint8_t *remote_static);

/* Initiator: message 1 (ctl_hs_msg1_len(kind) bytes) with ephemeral e_priv and the kind's
 * payload (ctl_hs_payload_len bytes; NULL when 0). 0, -EINVAL (zero DH) or -EIO. */
int ctl_hs_write1(struct ctl_hs *hs, const uint8_t e_priv[static CTL_HS_KEY_LEN],
		  const uint8_t *payload, uint8_t *out);

/*
 * Responder: message 1 of len bytes. On success hs->remote_static holds the initiator's key
 * (still unproven until the first transport frame opens) and payload its payload.
 * -EMSGSIZE (wrong length), -EBADMSG (does not authenticate), -EINVAL (zero DH), -EIO.
 * On error hs is unusable.
 */
int ctl_hs_read1(struct ctl_hs *hs, const uint8_t *in, size_t len, uint8_t *payload);

/* Responder: message 2 (CTL_HS_MSG2_LEN bytes) and the transport keys. psk NULL = zeros. */
int ctl_hs_write2(struct ctl_hs *hs, const uint8_t e_priv[static CTL_HS_KEY_LEN],
		  const uint8_t *psk, uint8_t *out, struct ctl_keys *ret);

/* Initiator: message 2 and the transport keys. -EMSGSIZE, -EBADMSG, -EINVAL or -EIO. */
int ctl_hs_read2(struct ctl_hs *hs, const uint8_t *psk, const uint8_t *in, size_t len,
		 struct ctl_keys *ret);

/* Wipes every secret of hs. */
void ctl_hs_wipe(struct ctl_hs *hs);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Every protocol constant of WireGuard in one place: message types, exact wire layouts and
 * the timer/limit constants of the whitepaper (§5.4, §6). All integers on the wire are
 * little-endian; the first four bytes are the type and three zero bytes.
 */
#ifndef WEFT_WG_MESSAGES_H
#define WEFT_WG_MESSAGES_H

#include <stdint.h>

#define NSEC_PER_SEC  1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

enum wg_message_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE = 3,
	WG_MSG_DATA = 4,
};

enum {
	WG_KEY_LEN = 32,
	WG_HASH_LEN = 32,
	WG_MAC_LEN = 16,
	WG_TAG_LEN = 16,
	WG_TAI64N_LEN = 12,
	WG_COOKIE_NONCE_LEN = 24,

	/* Handshake initiation (whitepaper §5.4.2): 148 bytes. */
	WG_INIT_OFF_SENDER = 4,
	WG_INIT_OFF_EPHEMERAL = 8,
	WG_INIT_OFF_STATIC = 40,    /* 32 + 16 */
	WG_INIT_OFF_TIMESTAMP = 88, /* 12 + 16 */
	WG_INIT_OFF_MAC1 = 116,
	WG_INIT_OFF_MAC2 = 132,
	WG_MSG_INITIATION_LEN = 148,

	/* Handshake response (§5.4.3): 92 bytes. */
	WG_RESP_OFF_SENDER = 4,
	WG_RESP_OFF_RECEIVER = 8,
	WG_RESP_OFF_EPHEMERAL = 12,
	WG_RESP_OFF_EMPTY = 44, /* 0 + 16 */
	WG_RESP_OFF_MAC1 = 60,
	WG_RESP_OFF_MAC2 = 76,
	WG_MSG_RESPONSE_LEN = 92,

	/* Cookie reply (§5.4.7): 64 bytes. */
	WG_COOKIE_OFF_RECEIVER = 4,
	WG_COOKIE_OFF_NONCE = 8,
	WG_COOKIE_OFF_COOKIE = 32, /* 16 + 16 */
	WG_MSG_COOKIE_LEN = 64,

	/* Transport data (§5.4.6): header, ciphertext padded to 16, tag. */
	WG_DATA_OFF_RECEIVER = 4,
	WG_DATA_OFF_COUNTER = 8,
	WG_DATA_OFF_PAYLOAD = 16,
	WG_DATA_HEADER_LEN = 16,
	WG_DATA_OVERHEAD = WG_DATA_HEADER_LEN + WG_TAG_LEN, /* 32; a keepalive is exactly this */
	WG_DATA_MIN_LEN = WG_DATA_OVERHEAD,
	WG_PADDING_MULTIPLE = 16,

	/* Largest datagram we accept or build (wireguard-go MaxSegmentSize). */
	WG_MAX_MESSAGE_LEN = 65535,
	WG_MAX_HANDSHAKE_LEN = WG_MSG_INITIATION_LEN,
};

/* Whitepaper §6.1 and the Linux driver's messages.h. */
#define WG_REKEY_AFTER_MESSAGES  (1ULL << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - 8192 - 1) /* 2^64 - 2^13 - 1 (whitepaper) */
#define WG_REKEY_AFTER_TIME      (120 * NSEC_PER_SEC)
#define WG_REJECT_AFTER_TIME     (180 * NSEC_PER_SEC)
#define WG_REKEY_ATTEMPT_TIME    (90 * NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT         (5 * NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT_JITTER  (334 * NSEC_PER_MSEC) /* uniform in [0, 334 ms) */
#define WG_KEEPALIVE_TIMEOUT     (10 * NSEC_PER_SEC)
#define WG_MAX_TIMER_HANDSHAKES  (WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT) /* 18 */
#define WG_ZERO_KEYS_AFTER       (3 * WG_REJECT_AFTER_TIME)
/* Initiator rekeys on receive once the keypair is this old (kern keep_key_fresh). */
#define WG_REKEY_ON_RECV_AGE (WG_REJECT_AFTER_TIME - WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT)
/* Per-peer flood rule: at most one initiation consumed per 20 ms (INITIATIONS_PER_SECOND 50). */
#define WG_INITIATION_MIN_INTERVAL (NSEC_PER_SEC / 50)
/* Cookie secret lifetime (§5.4.7 "every two minutes"); a received cookie is used for 120 - 5 s. */
#define WG_COOKIE_SECRET_MAX_AGE (120 * NSEC_PER_SEC)
#define WG_COOKIE_SECRET_LATENCY (5 * NSEC_PER_SEC)
/* Under load stays set this long after the queue was last seen deep (kern receive.c). */
#define WG_UNDER_LOAD_AFTER (1 * NSEC_PER_SEC)

enum {
	WG_MAX_PEERS = 1 << 16,      /* wireguard-go's cap */
	WG_MAX_STAGED_PACKETS = 128, /* per peer, while waiting for a session (device-side queue) */
};

#endif

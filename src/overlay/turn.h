/* SPDX-License-Identifier: MIT */
/*
 * A TURN client (RFC 8656) as a pure state machine: one allocation on one server, permissions
 * for a set of peer IPs, a channel per remote transport address, Send/Data indications and
 * ChannelData, long-term credentials (RFC 8489 §9.2) with the nonce dance (401, 438).
 *
 * Must not: do I/O, read a clock, draw randomness of its own, allocate, or log. The caller
 * (daemon/relay.c) owns the socket: it feeds every datagram from the server to ov_turn_input,
 * sends whatever ov_turn_output hands it, and wakes at ov_turn_next_timer. `now` is monotonic
 * milliseconds. Not thread-safe: the caller serialises.
 *
 * Trust: only datagrams from the server's address reach ov_turn_input (the caller checks the
 * source). A response is taken only when its transaction id is one in flight; a success
 * response to an authenticated request only with a valid MESSAGE-INTEGRITY. Error responses
 * without MESSAGE-INTEGRITY are accepted (a 401 or 438 cannot carry one), so someone on the
 * path to the server can fail a transaction; nobody off the path can (96-bit random ids).
 *
 * Timers (RFC 8489 §6.2.1, RFC 8656): requests are retransmitted at RTO 500 ms doubling, 5
 * transmissions, then 8 x RTO of waiting (11.5 s in all) before "server did not answer".
 * Allocations are refreshed a minute before LIFETIME ends (half-way for short lifetimes),
 * permissions every 4 minutes (they last 5), channels every 5 minutes (they last 10). A failed
 * allocation is retried after a backoff of 2 s doubling to 64 s; new credentials retry at once.
 * Channel numbers are handed out in turn from 0x4000..0x4FFF, so a number comes back into use
 * only after 4096 binds (RFC 8656 §12 wants 5 minutes after a binding expires); a bind the
 * server refuses leaves that remote on Send indications and is retried with another number.
 */
#ifndef WEFT_OVERLAY_TURN_H
#define WEFT_OVERLAY_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/stun.h"

enum {
	OV_TURN_CRED_MAX = 256,	      /* user and password, NUL included */
	OV_TURN_MAX_PERMISSIONS = 64, /* peer IPs in the permitted set */
	OV_TURN_MAX_CHANNELS = 256,   /* remotes with a channel */
	OV_TURN_MAX_TXN = 16,	      /* requests in flight */
	OV_TURN_REALM_MAX = 256,      /* realm and nonce kept (longer ones are cut, and then
				       * refused by the server: a bounded failure) */
	OV_TURN_NONCE_MAX = 256,
	/* Our largest request: header, transport, lifetime, channel, an IPv6 peer, USERNAME,
	 * REALM and NONCE at their caps, MESSAGE-INTEGRITY (872 bytes): encoding cannot fail. */
	OV_TURN_REQ_MAX = 1024,
	/* RFC 8489 §6.2.1's schedule with Rc 5 and Rm 8 instead of its defaults 7 and 16: the
	 * relay tries again forever with a backoff, so one transaction gives up after 11.5 s
	 * rather than 39.5 s, and `weft peers` says the server is down that much sooner. */
	OV_TURN_RTO_MS = 500,
	OV_TURN_RC = 5, /* transmissions */
	OV_TURN_RM = 8, /* last wait, in RTOs */
	OV_TURN_LIFETIME_S = 600, /* requested allocation lifetime (RFC 8656 §3.2 default) */
	OV_TURN_PERM_REFRESH_MS = 240000, /* permissions last 300 s (RFC 8656 §9) */
	OV_TURN_PERM_LIFETIME_MS = 300000,
	OV_TURN_CHANNEL_REFRESH_MS = 300000, /* channels last 600 s (RFC 8656 §12) */
	OV_TURN_CHANNEL_LIFETIME_MS = 600000,
	OV_TURN_BACKOFF_MIN_MS = 2000,
	OV_TURN_BACKOFF_MAX_MS = 64000,
	OV_TURN_MAX_STALE = 3, /* 438s in a row before giving up on a request */
	OV_TURN_ERROR_LEN = 160,
};

enum ov_turn_state {
	OV_TURN_IDLE = 0,   /* ov_turn_start not called yet */
	OV_TURN_ALLOCATING, /* an Allocate in flight */
	OV_TURN_ALLOCATED,
	OV_TURN_FAILED, /* error says why; the next attempt at retry_at */
	OV_TURN_CLOSED, /* ov_turn_close: the deallocation was handed out */
};

/* What ov_turn_input made of a datagram. One value per drop reason (counted by the caller). */
enum ov_turn_rx {
	OV_TURN_RX_DATA = 0,	      /* ret_data: a peer's payload (Data indication/ChannelData) */
	OV_TURN_RX_RESPONSE,	      /* a response to one of our requests, consumed */
	OV_TURN_RX_DROP_MALFORMED,    /* neither valid STUN nor ChannelData */
	OV_TURN_RX_DROP_UNKNOWN_TXID, /* a response to nothing in flight (late, spoofed) */
	OV_TURN_RX_DROP_INTEGRITY,    /* MESSAGE-INTEGRITY missing or wrong */
	OV_TURN_RX_DROP_UNEXPECTED,   /* a request, or an indication other than Data */
	OV_TURN_RX_DROP_UNKNOWN_CHANNEL, /* ChannelData on a channel we have not bound */
	OV_TURN_RX_DROP_NOT_ALLOCATED,	 /* data while we hold no allocation */
	OV_TURN_RX__COUNT,
};

/* Randomness for transaction ids. Must not fail. */
struct ov_turn_env {
	void (*random)(void *ctx, void *buf, size_t len);
	void *ctx;
};

/* One peer payload handed out by ov_turn_input; data points into the input buffer. */
struct ov_turn_data {
	struct wg_endpoint peer;
	const uint8_t *data;
	size_t len;
	bool channel; /* arrived as ChannelData */
};

struct ov_turn_status {
	enum ov_turn_state state;
	char error[OV_TURN_ERROR_LEN]; /* why FAILED (or the last problem while ALLOCATED) */
	struct wg_endpoint relayed, mapped;
	uint64_t since_ms;    /* entered the state */
	uint64_t retry_at_ms; /* FAILED: next attempt */
	uint32_t lifetime_s;  /* ALLOCATED: the server's LIFETIME */
	unsigned permissions, channels_bound;
};

/* --- internal state; callers treat it as opaque (it lives in their storage) --- */

enum ov_turn_txn_kind {
	OV_TURN_TXN_NONE = 0,
	OV_TURN_TXN_ALLOCATE,
	OV_TURN_TXN_REFRESH,
	OV_TURN_TXN_PERMISSION,
	OV_TURN_TXN_CHANNEL,
};

struct ov_turn_txn {
	uint8_t kind; /* enum ov_turn_txn_kind */
	uint8_t tx;   /* transmissions so far */
	bool authenticated;
	uint16_t slot; /* permission or channel index */
	uint8_t txid[OV_STUN_TXID_LEN];
	uint64_t next_at; /* next transmission, or the give-up time after the last */
	uint32_t rto;
	uint16_t len;
	uint8_t buf[OV_TURN_REQ_MAX];
};

struct ov_turn_perm {
	bool used, installed;
	bool pending; /* a CreatePermission in flight */
	struct wg_endpoint addr;
	uint64_t refresh_at;
};

struct ov_turn_channel {
	bool used, bound, pending;
	uint16_t number;
	struct wg_endpoint peer;
	uint64_t refresh_at; /* bound: refresh; not bound: next attempt */
};

struct ov_turn {
	struct ov_turn_env env;
	char user[OV_TURN_CRED_MAX], pass[OV_TURN_CRED_MAX];
	char realm[OV_TURN_REALM_MAX], nonce[OV_TURN_NONCE_MAX];
	size_t realm_len, nonce_len;
	bool have_key;
	uint8_t key[OV_STUN_LONG_TERM_KEY_LEN];
	/* The credentials the allocation was made with: its Refresh, CreatePermission and
	 * ChannelBind requests use them (the server ties the allocation to its username). */
	char auser[OV_TURN_CRED_MAX];
	uint8_t akey[OV_STUN_LONG_TERM_KEY_LEN];

	enum ov_turn_state state;
	char error[OV_TURN_ERROR_LEN];
	uint64_t since, retry_at, backoff;
	unsigned stale; /* 438s in a row */
	struct wg_endpoint relayed, mapped;
	uint32_t lifetime;
	uint64_t refresh_at, expires_at;
	bool refresh_pending, close_pending;

	struct ov_turn_txn txn[OV_TURN_MAX_TXN];
	struct ov_turn_perm perm[OV_TURN_MAX_PERMISSIONS];
	struct ov_turn_channel chan[OV_TURN_MAX_CHANNELS];
	uint16_t next_channel;
};

/* Caller storage; nothing is sent until ov_turn_start. user/pass as for set_credentials. */
void ov_turn_init(struct ov_turn *t, const struct ov_turn_env *env, const char *user,
		  const char *pass);
/* Wipes the credentials and key. */
void ov_turn_done(struct ov_turn *t);
/* Begin allocating (now). */
void ov_turn_start(struct ov_turn *t, uint64_t now);
/*
 * New credentials (the leader's time-limited ones). An allocation held keeps running on the
 * ones it was made with (Refresh, CreatePermission, ChannelBind) until a Refresh is refused,
 * then a new one is made at once with the new ones; a FAILED client retries at once. -EINVAL
 * (nothing changed) when one does not fit OV_TURN_CRED_MAX.
 */
int ov_turn_set_credentials(struct ov_turn *t, const char *user, const char *pass, uint64_t now);
/*
 * The peer IPs that may send to the relayed address (ports are ignored; duplicates folded).
 * Replaces the set: new IPs get a CreatePermission, dropped ones are not refreshed (they lapse
 * on the server within 5 minutes). -E2BIG (nothing changed) past OV_TURN_MAX_PERMISSIONS,
 * -EINVAL for an address without a family.
 */
int ov_turn_permit(struct ov_turn *t, const struct wg_endpoint *addrs, size_t n, uint64_t now);
/* Deallocate: the next ov_turn_output returns a Refresh with LIFETIME 0 (if allocated), then
 * the client is CLOSED and sends nothing more. */
void ov_turn_close(struct ov_turn *t, uint64_t now);

/*
 * The next datagram for the server, due now: a (re)transmission or a new request. Returns its
 * length (> 0), 0 when nothing is due, -ENOSPC when cap is too small (use OV_STUN_MAX_MSG).
 * Call until it returns 0 after every input, timer wake-up and API call.
 */
int ov_turn_output(struct ov_turn *t, uint64_t now, uint8_t *buf, size_t cap);
/* When ov_turn_output next has something to do (UINT64_MAX: nothing scheduled). */
uint64_t ov_turn_next_timer(const struct ov_turn *t);

/* A datagram from the server. OV_TURN_RX_DATA fills *ret (views into buf). */
enum ov_turn_rx ov_turn_input(struct ov_turn *t, uint64_t now, const uint8_t *buf, size_t len,
			      struct ov_turn_data *ret);
const char *ov_turn_rx_name(enum ov_turn_rx r);

/*
 * Wrap a payload for peer into out: ChannelData when peer's channel is bound, else a Send
 * indication. The first send to (or Data from) a peer asks for a channel (while the table has
 * room). Returns the length, -ENOTCONN when not allocated, -ENOSPC, -EINVAL.
 */
int ov_turn_send(struct ov_turn *t, uint64_t now, const struct wg_endpoint *peer,
		 const uint8_t *data, size_t len, uint8_t *out, size_t cap);
/* Stop keeping peer's channel (the relay forgot the remote). Its binding lapses on the server. */
void ov_turn_forget(struct ov_turn *t, const struct wg_endpoint *peer);

void ov_turn_status(const struct ov_turn *t, struct ov_turn_status *ret);
const char *ov_turn_state_name(enum ov_turn_state s);

/*
 * The TURN REST credentials coturn's use-auth-secret accepts (draft-uberti-behave-turn-rest):
 * user = "<expiry_unix>:<name>", password = base64(HMAC-SHA1(secret, user)). 0, or -EINVAL
 * when name is empty or contains ':' or the user does not fit.
 */
int ov_turn_rest_credentials(const char *secret, const char *name, uint64_t expiry_unix,
			     char user_out[static OV_TURN_CRED_MAX],
			     char pass_out[static OV_TURN_CRED_MAX]);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * wg/ — the WireGuard protocol engine. Pure: bytes, time and randomness in; bytes and
 * decisions out. It never reads a clock (every entry point takes `now`, monotonic ns), never
 * draws randomness of its own (struct wg_env supplies it and the TAI64N wall clock), does no
 * I/O and allocates only when a peer is created (never per packet or per handshake).
 *
 * The caller (the data-plane device) owns sockets, the TUN, endpoints, queues and threads.
 * The engine tells it what happened through named outcomes and what to do next through
 * action flags and the deadline returned by wg_device_timers_next().
 *
 * Concurrency contract: a struct wg_device and its peers are not thread-safe. The device
 * layer serialises calls (a lock per device for control and handshakes, per peer for data);
 * the split data-path entry points (wg_data_*) exist so encryption and decryption can run
 * on worker threads with their own AEAD contexts between a serial "begin" and "finish".
 */
#ifndef WEFT_WG_WG_H
#define WEFT_WG_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "wg/allowedips.h"
#include "wg/messages.h"
#include "wg/ratelimiter.h"
#include "wg/replay.h"

/* ---------------------------------------------------------------------------------------- */
/* Environment, addresses                                                                    */

struct wg_env {
	/* Fill buf with len cryptographically random bytes. Must not fail. */
	void (*random)(void *ctx, void *buf, size_t len);
	/* The wall clock as TAI64N (whitepaper §5.4.2), 12 bytes. */
	void (*tai64n)(void *ctx, uint8_t out[WG_TAI64N_LEN]);
	void *ctx;
};

/* An outer (UDP) address as the engine sees it; the device converts from sockaddr. */
struct wg_endpoint {
	enum wg_family family; /* 0 = unset */
	uint16_t port;         /* host order */
	uint8_t addr[16];      /* network order; 4 bytes used for IPv4 */
	uint32_t scope_id;     /* IPv6: interface index of a link-local address; 0 = none */
};

/* ---------------------------------------------------------------------------------------- */
/* Outcomes                                                                                  */

/* One value per reason; the device counts each. Keep wg_rx_result_name() in sync. */
enum wg_rx_result {
	WG_RX_DATA = 0,       /* rx->data/len is an inner IP packet for the TUN */
	WG_RX_KEEPALIVE,      /* authenticated empty transport packet */
	WG_RX_HANDSHAKE_INIT, /* initiation consumed; rx->reply holds the response to send */
	WG_RX_HANDSHAKE_RESP, /* response consumed; session established (send staged/keepalive) */
	WG_RX_COOKIE,         /* cookie reply consumed and stored for the next handshake */
	WG_RX_SENT_COOKIE,    /* under load without valid mac2: rx->reply holds a cookie reply */

	WG_RX_DROP_SHORT,           /* shorter than 4 bytes */
	WG_RX_DROP_TYPE,            /* unknown message type or non-zero reserved bytes */
	WG_RX_DROP_LENGTH,          /* wrong length for its type */
	WG_RX_DROP_NO_KEY,          /* this device has no private key */
	WG_RX_DROP_MAC1,            /* mac1 invalid */
	WG_RX_DROP_RATELIMIT,       /* under load, valid mac2, over the per-source budget */
	WG_RX_DROP_HANDSHAKE_AUTH,  /* a handshake AEAD or DH failed */
	WG_RX_DROP_UNKNOWN_PEER,    /* initiation decrypted to a static key we do not know */
	WG_RX_DROP_REPLAY_TIMESTAMP, /* initiation TAI64N not newer than the last accepted */
	WG_RX_DROP_FLOOD,           /* initiation within 20 ms of the last accepted one */
	WG_RX_DROP_UNKNOWN_INDEX,   /* receiver index matches nothing */
	WG_RX_DROP_STATE,           /* response or cookie with no matching handshake state */
	WG_RX_DROP_COOKIE_AUTH,     /* cookie reply failed to decrypt */
	WG_RX_DROP_KEY_EXPIRED,     /* keypair older than REJECT_AFTER_TIME or counter exhausted */
	WG_RX_DROP_DATA_AUTH,       /* transport AEAD failed */
	WG_RX_DROP_REPLAY,          /* counter replayed or behind the window */
	WG_RX_DROP_INNER_HEADER,    /* decrypted payload is not a valid IPv4/IPv6 packet */
	WG_RX_DROP_INNER_SOURCE,    /* inner source not in the peer's allowed IPs */
	WG_RX__COUNT
};

const char *wg_rx_result_name(enum wg_rx_result r);

static inline bool wg_rx_dropped(enum wg_rx_result r)
{
	return r >= WG_RX_DROP_SHORT;
}

enum wg_tx_result {
	WG_TX_OK = 0,        /* message built */
	WG_TX_NO_SESSION,    /* no usable keypair: stage the packet, initiate a handshake */
	WG_TX_TOO_BIG,       /* plaintext longer than WG_MAX_MESSAGE_LEN allows */
	WG_TX_NO_KEY,        /* no private key, or the static-static DH with this peer is zero */
	WG_TX_RATE_LIMITED,  /* an initiation was sent less than REKEY_TIMEOUT ago */
	WG_TX_CRYPTO_FAILED, /* libcrypto failure */
};

/* Things the engine asks the caller to do; several may be set at once. */
enum wg_action {
	WG_ACT_SEND_INITIATION = 1 << 0, /* call wg_peer_initiation() (retry if also _RETRY) */
	WG_ACT_INITIATION_RETRY = 1 << 1,
	WG_ACT_SEND_KEEPALIVE = 1 << 2, /* send staged packets, or a keepalive if none */
	WG_ACT_SEND_STAGED = 1 << 3,    /* a session is ready: flush staged packets */
	WG_ACT_FLUSH_STAGED = 1 << 4,   /* handshake given up: drop staged packets */
	WG_ACT_CLEAR_SRC = 1 << 5,      /* forget the sticky source address for this peer */
	WG_ACT_KEYS_ZEROED = 1 << 6,    /* all session material was wiped */
	WG_ACT_HANDSHAKE_DONE = 1 << 7, /* a handshake completed: record the wall time */
};

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                     */

enum wg_index_kind {
	WG_INDEX_HANDSHAKE = 1,
	WG_INDEX_KEYPAIR = 2,
};

struct wg_peer;

/* An entry of the device's local index table (intrusive, chained). */
struct wg_index_entry {
	struct wg_index_entry *next;
	struct wg_peer *peer;
	uint32_t index; /* local, little-endian on the wire as-is */
	uint8_t kind;   /* enum wg_index_kind */
	bool linked;
};

struct wg_keypair {
	struct wg_index_entry entry; /* our receiving index */
	struct crypto_aead send, recv;
	struct wg_replay replay;
	uint64_t birthdate; /* ns */
	uint64_t send_counter;
	uint64_t id;             /* unique per device, for per-thread context caches */
	uint8_t send_key[WG_KEY_LEN];
	uint8_t recv_key[WG_KEY_LEN];
	uint32_t remote_index;
	bool initiator;
	bool in_use;
	/*
	 * Crossing initiations (handshake.c): crossing = derived as responder to the peer's
	 * initiation while our own was kept in flight; receive_only = such a keypair kept beside
	 * the session we converge on, to receive what the peer sent under it, never made current.
	 */
	bool crossing;
	bool receive_only;
};

enum wg_handshake_state {
	WG_HS_ZEROED = 0,
	WG_HS_CREATED_INITIATION,
	WG_HS_CONSUMED_INITIATION,
	WG_HS_CREATED_RESPONSE,
	WG_HS_CONSUMED_RESPONSE,
};

struct wg_handshake {
	struct wg_index_entry entry; /* our index while the handshake is in flight */
	enum wg_handshake_state state;
	uint8_t ck[WG_HASH_LEN];
	uint8_t h[WG_HASH_LEN];
	uint8_t e_priv[WG_KEY_LEN];
	uint8_t e_pub[WG_KEY_LEN];
	uint8_t remote_e[WG_KEY_LEN];
	uint32_t remote_index;
	uint64_t twin_id; /* kept initiation: the keypair we derived answering the crossing one */
	/* Replay and flood state of the peer's initiations (used in peer->hs only). */
	uint8_t latest_timestamp[WG_TAI64N_LEN];
	uint64_t last_initiation_consumption; /* ns, 0 = never */
	bool have_consumed;
};

struct wg_cookie {
	uint8_t mac1_key[WG_HASH_LEN];   /* HASH(LABEL_MAC1 || peer public) */
	uint8_t cookie_key[WG_HASH_LEN]; /* HASH(LABEL_COOKIE || peer public): decrypts replies */
	uint8_t cookie[WG_MAC_LEN];      /* latest cookie from this peer */
	uint64_t cookie_birth;
	uint8_t last_mac1[WG_MAC_LEN]; /* AD of the reply we may receive */
	bool cookie_valid;
	bool have_sent_mac1;
};

struct wg_timers {
	/* Absolute deadlines in ns; 0 = not armed. */
	uint64_t retransmit_handshake;
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;
	uint32_t handshake_attempts;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
};

struct wg_device;

/* Why a handshake with a known peer did not complete; keep wg_hs_failure_name() in sync. */
enum wg_hs_failure {
	WG_HSF_TIMEOUT = 0,       /* no response within REKEY_TIMEOUT: the initiation is retried */
	WG_HSF_GAVE_UP,           /* retries exhausted (REKEY_ATTEMPT_TIME): staged packets dropped */
	WG_HSF_AUTH,              /* the peer's initiation payload or response failed to decrypt */
	WG_HSF_REPLAY_TIMESTAMP,  /* the peer's initiation: TAI64N not newer than the last one */
	WG_HSF_FLOOD,             /* the peer's initiation within 20 ms of the last accepted one */
	WG_HSF__COUNT
};

const char *wg_hs_failure_name(enum wg_hs_failure f);

/*
 * What happened with a peer, for the metrics: counted where rx_bytes and tx_bytes are, under
 * the same serialisation (the device's lock), so plain integers and nothing per packet but an
 * increment. Monotonic, except that the device takes a handshake message back (bytes, packet
 * and message) when the kernel did not take it, as it does with the bytes.
 */
struct wg_peer_counters {
	uint64_t rx_packets, tx_packets; /* authenticated datagrams: data, keepalives, handshakes */
	uint64_t initiations_sent;       /* first attempts and retries */
	uint64_t initiations_received;   /* authenticated and fresh */
	uint64_t responses_sent, responses_received;
	uint64_t handshakes_completed;   /* initiator: response consumed; responder: first
					  * packet under the new keys (wg_timers_handshake_complete) */
	uint64_t rekeys;                 /* sessions derived while a current session existed */
	uint64_t failures[WG_HSF__COUNT];
};

struct wg_peer {
	struct wg_device *dev;
	struct wg_peer *hash_next; /* public-key table chain */
	struct wg_peer *list_next, *list_prev;
	void *user; /* the device layer's per-peer state */

	uint8_t remote_static[WG_KEY_LEN];
	uint8_t psk[WG_KEY_LEN];
	uint8_t static_static[WG_KEY_LEN]; /* DH(S_priv, S_peer), precomputed */
	bool ss_valid;                      /* false when the DH is zero or we have no key */

	struct wg_handshake hs;
	/*
	 * Our initiation, kept when the peer's initiation crossed it (state
	 * WG_HS_CREATED_INITIATION, its index still in the table), so that the peer's response
	 * to it still completes a session; otherwise WG_HS_ZEROED. See handshake.c.
	 */
	struct wg_handshake crossed;
	struct wg_cookie cookie;
	struct wg_timers timers;

	/* Keypair slots: live keypairs are prev/cur/next; one spare for rotation. */
	struct wg_keypair slots[4];
	struct wg_keypair *prev, *cur, *next;

	uint64_t last_sent_handshake; /* ns, 0 = never */
	uint64_t last_handshake;      /* ns of the last completed handshake, 0 = never */
	uint64_t rx_bytes, tx_bytes;  /* UDP payload bytes, kernel accounting */
	struct wg_peer_counters counters;
	uint16_t persistent_keepalive; /* seconds, 0 = off */

	/*
	 * The peer's place in the device's timer heap (timers.c). timer_key is never later than
	 * the earliest armed deadline; it may be earlier (stale) after a timer was disarmed or
	 * postponed. UINT64_MAX: not in the heap (timer_pos unused), and no timer is armed.
	 */
	uint64_t timer_key;
	uint32_t timer_pos;
};

/* A slot of the timer heap: the key is copied so sifting does not touch the peers. */
struct wg_timer_slot {
	uint64_t key;
	struct wg_peer *peer;
};

struct wg_cookie_checker {
	uint8_t mac1_key[WG_HASH_LEN];   /* HASH(LABEL_MAC1 || our public) */
	uint8_t cookie_key[WG_HASH_LEN]; /* HASH(LABEL_COOKIE || our public): encrypts replies */
	uint8_t secret[WG_HASH_LEN];
	uint64_t secret_birth;
	bool secret_valid;
};

struct wg_device {
	struct wg_env env;
	uint8_t static_priv[WG_KEY_LEN];
	uint8_t static_pub[WG_KEY_LEN];
	bool has_key;

	struct wg_cookie_checker checker;
	struct wg_ratelimiter ratelimiter;
	struct wg_allowedips allowedips;

	struct wg_index_entry **index_table; /* buckets, power of two */
	uint32_t index_mask;
	struct wg_peer **peer_table; /* by public key, buckets, power of two */
	uint32_t peer_mask;
	uint8_t hash_seed[16];
	struct wg_peer *peers; /* list head */
	size_t peer_count;
	uint64_t next_keypair_id;

	/*
	 * Peers with an armed timer, a binary min-heap on timer_key. Room for every peer is
	 * reserved when the peer is created, so arming a timer never allocates.
	 */
	struct wg_timer_slot *timer_heap;
	uint32_t timer_len, timer_cap;

	uint64_t last_under_load; /* ns, 0 = never */
	bool under_load;
};

/* ---------------------------------------------------------------------------------------- */
/* Device                                                                                    */

/* 0 or -ENOMEM / -ENOTSUP (crypto_init). env is copied. */
int wg_device_init(struct wg_device *dev, const struct wg_env *env);
/* Frees every peer and table; wipes keys. NULL-safe. */
void wg_device_done(struct wg_device *dev);
/*
 * Set (or with NULL / all zeros, clear) the private key. It is clamped. A peer whose public
 * key equals the new public key is removed; static-static DHs are recomputed; current
 * sessions are expired so that new handshakes happen. 0 or -EIO.
 */
int wg_device_set_private_key(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
/*
 * Feed the handshake queue depth: under load while depth >= capacity / 8 and for 1 s after.
 * Returns the resulting state.
 */
bool wg_device_update_load(struct wg_device *dev, size_t depth, size_t capacity, uint64_t now);

/* ---------------------------------------------------------------------------------------- */
/* Peers                                                                                     */

/*
 * Create a peer. -EEXIST (already a peer, or our own public key), -ENOSPC (WG_MAX_PEERS),
 * -ENOMEM (the peer, or growing the timer heap). *ret only on success.
 */
int wg_peer_new(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], struct wg_peer **ret);
/* Remove a peer: its allowed IPs, indices and keys. NULL-safe. */
void wg_peer_free(struct wg_peer *peer);
struct wg_peer *wg_peer_lookup(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN]);
/* NULL or all zeros removes the preshared key. */
void wg_peer_set_psk(struct wg_peer *peer, const uint8_t psk[WG_KEY_LEN]);
/*
 * Persistent keepalive interval in seconds, 0 = off. Returns WG_ACT_SEND_KEEPALIVE when it
 * was just turned on (wireguard-go sends one at once), else 0.
 */
unsigned wg_peer_set_keepalive(struct wg_peer *peer, uint16_t seconds, uint64_t now);
/* Expire every session of the peer (the next send initiates). */
void wg_peer_expire_sessions(struct wg_peer *peer);
/* True when the peer has a keypair it may send with now. */
bool wg_peer_can_send(const struct wg_peer *peer, uint64_t now);

/* ---------------------------------------------------------------------------------------- */
/* Handshake                                                                                 */

/*
 * Build a handshake initiation into out[148]. retry = this is a timer retransmission
 * (attempts are counted; otherwise they restart). WG_TX_OK, WG_TX_RATE_LIMITED (one per
 * REKEY_TIMEOUT), WG_TX_NO_KEY.
 */
enum wg_tx_result wg_peer_initiation(struct wg_peer *peer, bool retry, uint64_t now,
				     uint8_t out[WG_MSG_INITIATION_LEN]);

/* ---------------------------------------------------------------------------------------- */
/* Receive                                                                                   */

struct wg_rx {
	struct wg_peer *peer;     /* the authenticated peer, when there is one */
	uint8_t *data;            /* WG_RX_DATA: the inner packet, inside the caller's buffer */
	size_t data_len;
	uint8_t *reply;           /* a message to send back to the source (caller's buffer) */
	size_t reply_len;
	unsigned actions;         /* enum wg_action flags for rx->peer */
	bool roam;                /* authenticated: the caller should set the peer's endpoint */
};

/*
 * Process one UDP datagram from src. pkt is modified in place (decryption). reply must hold
 * WG_MAX_HANDSHAKE_LEN bytes. Any byte string yields a named outcome; nothing changes unless
 * the message authenticated.
 */
enum wg_rx_result wg_device_receive(struct wg_device *dev, uint8_t *pkt, size_t len,
				    const struct wg_endpoint *src, uint64_t now, uint8_t *reply,
				    struct wg_rx *rx);

/*
 * For a caller whose handshake queue is full: decide about a handshake message without the
 * handshake's cost, as the engine would under load. WG_RX_DATA: initiation or response with
 * valid mac1 and mac2 (its source address is proven: worth a reserved place in the queue);
 * WG_RX_SENT_COOKIE: valid mac1 but not mac2, reply holds the cookie reply to send back to
 * src (what wg_device_receive would answer under load); WG_RX_DROP_* otherwise (cookie
 * replies, which carry no macs, are WG_RX_DROP_TYPE). Changes nothing but the rotation of
 * the cookie secret.
 */
enum wg_rx_result wg_device_handshake_overflow(struct wg_device *dev, const uint8_t *pkt,
					      size_t len, const struct wg_endpoint *src,
					      uint64_t now, uint8_t reply[WG_MSG_COOKIE_LEN]);

/* ---------------------------------------------------------------------------------------- */
/* Transmit                                                                                  */

/* Bytes a caller must reserve around a plaintext of len bytes at MTU mtu (0 = no cap). */
size_t wg_data_padded_len(size_t len, size_t mtu);
static inline size_t wg_data_message_len(size_t len, size_t mtu)
{
	return WG_DATA_OVERHEAD + wg_data_padded_len(len, mtu);
}

/*
 * Encrypt the plaintext at buf + 16 (len bytes, 0 = keepalive) into a transport message in
 * place; buf must hold wg_data_message_len(len, mtu). WG_TX_OK with *out_len set, or
 * WG_TX_NO_SESSION (stage it; *actions asks for an initiation). *actions may ask for a
 * rekey even on success.
 */
enum wg_tx_result wg_peer_encrypt(struct wg_peer *peer, uint8_t *buf, size_t len, size_t mtu,
				  uint64_t now, size_t *out_len, unsigned *actions);

/*
 * The split data path, for devices that encrypt on worker threads:
 *   wg_data_tx_begin (serial, per peer): choose the keypair and reserve a counter;
 *   wg_data_seal (any thread, with a context keyed to kp->send_key);
 *   wg_data_tx_finish (serial, per peer);
 * and on receive:
 *   wg_data_rx_begin (serial): find the keypair for a transport message, check its age;
 *   wg_data_open (any thread);
 *   wg_data_rx_finish (serial, per peer, in counter order): replay window, key rotation,
 *   timers, inner packet checks.
 */
enum wg_tx_result wg_data_tx_begin(struct wg_peer *peer, uint64_t now, struct wg_keypair **ret_kp,
				   uint64_t *ret_counter, unsigned *actions);
int wg_data_seal(struct crypto_aead *aead, uint32_t remote_index, uint64_t counter, uint8_t *buf,
		 size_t len, size_t mtu, size_t *out_len);
/* Serial, after a sealed message was handed to the socket: byte counters and timer events. */
void wg_data_tx_finish(struct wg_peer *peer, size_t wire_len, bool keepalive, uint64_t now);
enum wg_rx_result wg_data_rx_begin(struct wg_device *dev, const uint8_t *pkt, size_t len,
				   uint64_t now, struct wg_keypair **ret_kp, uint64_t *ret_counter);
int wg_data_open(struct crypto_aead *aead, uint64_t counter, uint8_t *pkt, size_t len);
enum wg_rx_result wg_data_rx_finish(struct wg_keypair *kp, uint64_t counter, uint8_t *pkt,
				    size_t len, uint64_t now, struct wg_rx *rx);

/* ---------------------------------------------------------------------------------------- */
/* Timers                                                                                    */

/*
 * Per device: a caller that serves many peers waits for wg_device_timers_next() and then
 * calls wg_device_timers_run(); both cost O(log peers) per peer that fires (or whose stale
 * heap key is settled), not a scan of all peers.
 */

/*
 * The earliest armed deadline of any peer when it is <= until; otherwise a time after until
 * and no later than that deadline (UINT64_MAX when none is armed). Pass until = UINT64_MAX
 * for the exact answer; a caller that sleeps at most T passes now + T and pays only for the
 * heap keys that fall due by then. Not const: it settles stale heap keys at the top.
 */
uint64_t wg_device_timers_next(struct wg_device *dev, uint64_t until);
/*
 * Fire the expired timers of every peer whose earliest deadline is <= now, and call fn (when
 * not NULL) once for each such peer with the enum wg_action flags it must carry out, after
 * the peer's timers were run. fn may call into the engine (send, initiate; timers it arms
 * lie after now, so a peer fires once per call) but must not free peers. Returns the number
 * of peers fired.
 */
unsigned wg_device_timers_run(struct wg_device *dev, uint64_t now,
			      void (*fn)(void *ctx, struct wg_peer *peer, unsigned actions),
			      void *ctx);

/* The earliest armed deadline of the peer, or UINT64_MAX when none is armed. */
uint64_t wg_peer_timers_next(const struct wg_peer *peer);
/*
 * Fire every expired timer of one peer; returns enum wg_action flags for the caller to carry
 * out. Keeps the device's heap correct, so it may be mixed with wg_device_timers_run().
 */
unsigned wg_peer_timers_run(struct wg_peer *peer, uint64_t now);

#endif

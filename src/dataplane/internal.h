/* SPDX-License-Identifier: MIT */
/*
 * State shared by the files of dataplane/ (device.c, uapi_server.c) and nothing else.
 *
 * Locking, outermost first:
 *   cfg_lock (rwlock, writers preferred): read-held by every data-path batch, the handshake
 *     worker and the timer pass for their whole duration; write-held by a UAPI set. So a
 *     peer (and its keypairs) cannot be freed while a batch holds pointers into it.
 *   udp_lock (rwlock): read-held around every send; write-held to swap sockets on rebind.
 *   lock (mutex): the engine state (struct wg_device and peers), per-peer staging, endpoints.
 * Crypto of bulk data runs outside `lock` with per-thread AEAD contexts.
 *
 * The data path is "parallel then serial" (kernel queueing.c, wireguard-go's queues): a
 * reader (TUN, or UDP per family) fills a batch, runs the serial begin step under `lock`
 * (peer lookup, counters, keypair lookup, with key copies for the workers), then puts the
 * batch in its own serial queue and its chunks in the device's parallel queue at once.
 * Workers seal or open any chunk; whoever completes the batch at the head of a serial queue
 * releases the done batches of that queue in order (send them; or replay/timer checks and
 * write to the TUN). Each reader reads in order, so each peer's packets leave in order.
 * Batches come from a fixed per-reader pool (the bound on memory and the back-pressure).
 * A peer cannot be freed while a batch refers to it: dp_device_apply waits, with cfg_lock
 * write-held, until no batch is in flight. With 0 workers the reader does it all inline.
 */
#ifndef WEFT_DATAPLANE_INTERNAL_H
#define WEFT_DATAPLANE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "crypto/crypto.h"
#include "dataplane/device.h"
#include "dataplane/offload.h"
#include "platform/tun.h"
#include "platform/udp.h"
#include "wg/wg.h"

enum {
	DP_DEFAULT_MTU = 1420,
	DP_BUF_LEN = WG_MAX_MESSAGE_LEN + 64, /* any datagram, any TUN packet plus overhead */
	DP_HANDSHAKE_QUEUE = 1024, /* wireguard-go's QueueHandshakeSize */
	DP_HANDSHAKE_RESERVED = 64, /* of those, kept for messages whose mac2 proves the source */
	DP_BATCH_COOKIES = 64,      /* cookie replies a UDP batch may send from the reader */
	DP_HANDSHAKE_OVERFLOW_SOURCES = 8192, /* sources the overflow rate limiter tracks */
	DP_STAGED = WG_MAX_STAGED_PACKETS,
	DP_TIMER_TICK_MS = 100, /* longest the control loop sleeps: timer resolution */
	DP_CTX_CACHE = 8,       /* AEAD contexts cached per thread */
	DP_CHUNK = 16,          /* packets per unit of parallel work */
	DP_MAX_WORKERS = 64,
	DP_POOL_MIN_CPUS = 4,   /* default: inline below this many CPUs (measured, see device.c) */
	DP_MAX_TUN_QUEUES = 8,  /* TUN queues, one reader thread each */
	DP_POOL_QUEUE = 2048,   /* chunks waiting for a worker */
};

/* Per-thread AEAD contexts keyed by keypair id (and direction). */
struct dp_ctx_cache {
	struct {
		uint64_t id;
		struct crypto_aead aead;
	} e[DP_CTX_CACHE];
	unsigned next;
};

/* The context for (id, send), built from key on a miss. NULL on allocation failure. */
struct crypto_aead *dp_ctx_get(struct dp_ctx_cache *c, uint64_t kp_id, const uint8_t *key,
			       bool send);
void dp_ctx_cache_done(struct dp_ctx_cache *c);

/* One packet of a batch. */
struct dp_job {
	uint8_t *buf;
	size_t len, wire_len;
	struct dp_peer *peer;  /* tx */
	struct wg_keypair *kp; /* rx: checked against kp_id in the serial stage */
	uint64_t kp_id, counter;
	uint32_t remote_index;
	uint8_t key[WG_KEY_LEN]; /* copy of the keypair's key, for the worker's context */
	struct wg_endpoint ep;	 /* tx: destination and sticky source, read in begin */
	struct plat_udp_src src;
	bool ok;
	bool foreign; /* rx: not WireGuard, for the foreign hook (dp_device_set_foreign) */
};

struct dp_batch;
struct dp_serial;

struct dp_batch_ops {
	/* Seal or open jobs [from, to) with the calling thread's contexts. */
	void (*crypt)(struct dp_device *d, struct dp_batch *b, unsigned from, unsigned to,
		      struct dp_ctx_cache *cache);
	/* The serial stage, in queue order. */
	void (*finish)(struct dp_device *d, struct dp_batch *b);
};

struct dp_batch {
	struct dp_serial *serial;
	struct dp_batch *next_free;
	atomic_uint pending; /* chunks not yet through crypt */
	unsigned n;	     /* jobs in use */
	struct dp_job *jobs;
	struct plat_udp_msg *msgs;
	uint8_t *slab;
	struct dp_gro_pkt *gro; /* rx */
	struct dp_gro_run *runs;
	uint8_t (*cookies)[WG_MSG_COOKIE_LEN]; /* rx: replies for a full handshake queue */
	struct plat_udp_msg *cookie_msgs;
	unsigned ncookies;
};

/* A serial queue: one reader's batches, released in the order they were submitted. */
struct dp_serial {
	const struct dp_batch_ops *ops;
	pthread_mutex_t mu;
	pthread_cond_t freed;
	struct dp_batch **ring;
	unsigned cap, head, len;
	bool busy; /* a thread is releasing batches */
	struct dp_batch *free_list;
	unsigned nfree, total;
};

struct dp_work {
	struct dp_batch *b;
	unsigned from, to;
};

/* The parallel queue and its workers. */
struct dp_pool {
	pthread_mutex_t mu;
	pthread_cond_t more, space;
	struct dp_work *ring;
	unsigned head, len;
	pthread_t threads[DP_MAX_WORKERS];
	unsigned n;
	bool stop;
};

struct dp_staged {
	uint8_t *buf; /* DP_BUF_LEN, plaintext at WG_DATA_HEADER_LEN */
	size_t len;
};

struct dp_peer {
	struct wg_peer *wg;
	bool has_endpoint;
	struct wg_endpoint endpoint;
	struct plat_udp_src src; /* sticky source: the local address the peer last reached */
	struct timespec last_handshake; /* wall clock; 0 = never */
	struct dp_staged staged[DP_STAGED];
	size_t staged_head, staged_len;
	/* The last initiation sent, so a new path (dp_device_peer_endpoint's kick) can carry it
	 * at once instead of waiting out REKEY_TIMEOUT for the next one. */
	uint8_t last_init[WG_MSG_INITIATION_LEN];
	uint64_t last_init_at; /* dp_now(); 0 = none */
};

struct dp_hs_item {
	uint8_t msg[WG_MAX_HANDSHAKE_LEN];
	size_t len;
	struct wg_endpoint from;
	struct plat_udp_src local;
};

/* A TUN reader thread and the queue it reads. */
struct dp_tun_reader {
	struct dp_device *d;
	unsigned q;
	pthread_t thread;
	_Atomic uint64_t packets; /* read from this queue (after splitting) */
};

struct dp_device {
	char name[16];
	/* Not-WireGuard datagrams of the UDP socket (set before dp_device_start; see device.h). */
	dp_foreign_fn *foreign_fn;
	void *foreign_ctx;
	unsigned mtu;
	bool own_signals; /* dp_config.own_signals */
	char sock_path[108];
	int uapi_fd, inotify_fd, signal_fd;
	struct plat_wakeup *wake; /* dp_device_stop wakes the control loop */
	struct dp_control *ctl; /* the control loop's own state (control_windows.c); Linux: NULL */
	struct plat_tun *tun;
	bool vnet_hdr;    /* TUN packets carry a virtio-net header (offloads negotiated) */
	unsigned offloads; /* enum plat_tun_offload accepted by the kernel */

	pthread_rwlock_t cfg_lock;
	pthread_rwlock_t udp_lock;
	pthread_mutex_t lock;
	struct wg_device wg;
	struct plat_udp *udp;
	uint16_t listen_port;
	uint32_t fwmark;

	/* handshake queue (ring) */
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	struct dp_hs_item *hs_ring;
	size_t hs_head, hs_len;
	/* per-source budget for handshakes met with a full queue (`lock`) */
	struct wg_ratelimiter hs_overflow_rl;

	/* crypto worker pool; in-flight batches (see the top of this file) */
	int want_workers; /* -1 = one per online CPU; 0 = inline */
	struct dp_pool pool;
	pthread_mutex_t flight_lock;
	pthread_cond_t flight_cond;
	unsigned in_flight;

	struct dp_tun_reader tun_readers[DP_MAX_TUN_QUEUES];
	unsigned tun_running; /* readers started */
	pthread_t udp_thread[2], hs_thread;
	bool udp_running[2], threads_started;
	atomic_bool stop;
	atomic_bool tun_gone;
	atomic_bool tun_batch_refused; /* the fallback to one read per packet was logged */

	_Atomic uint64_t rx_stats[WG_RX__COUNT];
	_Atomic uint64_t tx_stats[DP_TX__COUNT];
	_Atomic uint64_t rx_packets; /* packets read from the TUN: per reader, tun_readers */
	/* TUN write path: system calls, and packets that went into TCP / UDP super-packets */
	_Atomic uint64_t tun_writes, tun_gro_tcp, tun_gro_udp;
};

uint64_t dp_now(void);

/* queue.c */
int dp_pool_start(struct dp_device *d, unsigned workers);
void dp_pool_stop(struct dp_device *d); /* after every reader stopped */
/* Takes ownership of batches[0..n), each with its buffers allocated. */
int dp_serial_init(struct dp_serial *s, const struct dp_batch_ops *ops, struct dp_batch *batches,
		   unsigned n);
/* Waits until every batch is back, then frees the queue (not the batches). */
void dp_serial_done(struct dp_serial *s);
/* A free batch, waiting for one if all are in flight. */
struct dp_batch *dp_serial_get(struct dp_serial *s);
/* Submit a batch whose begin step is done: in flight until its finish step returns. */
void dp_submit(struct dp_device *d, struct dp_batch *b, struct dp_ctx_cache *inline_cache);
/* Send a message built under `lock` to the peer's endpoint (takes udp_lock). */
void dp_send_to_peer(struct dp_device *d, struct dp_peer *p, const uint8_t *msg, size_t len);
/* Carry out engine actions for a peer; call with `lock` held. */
void dp_peer_actions(struct dp_device *d, struct dp_peer *p, unsigned act, uint64_t now);

/* device.c, for uapi_server.c */
int dp_device_core_init(struct dp_device *d, const struct dp_config *cfg);
/*
 * The first step of each control side's dp_device_new: check the name (-EINVAL), allocate,
 * and dp_device_core_init. On error nothing is left (dp_device_free ran).
 */
int dp_device_alloc(const struct dp_config *cfg, struct dp_device **ret);
void dp_device_core_done(struct dp_device *d);
void dp_device_stop_threads(struct dp_device *d);
void dp_device_free_peers(struct dp_device *d);
/* Fire the expired timers of the peers that are due; returns ms to the next deadline (capped). */
int dp_device_timers(struct dp_device *d);

#endif

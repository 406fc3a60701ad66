/* SPDX-License-Identifier: MIT */
/*
 * dataplane/ — a running WireGuard interface: the pure engine (wg/) driven by a TUN, UDP
 * sockets, threads and the cross-platform UAPI. weft-wg is a thin main around it; weftd
 * embeds it. Configuration goes through the UAPI codec (uapi.h) and is applied atomically:
 * a request is parsed and validated completely before anything changes.
 *
 * Threads: one TUN reader per TUN queue, one UDP reader per address family, a pool of crypto
 * workers (encrypt/decrypt in parallel; each reader's batches are then sent or written to the TUN
 * in order), one handshake worker fed by a bounded queue whose depth drives the engine's
 * under-load (cookie) decision, and the caller's control loop (dp_device_run: timers, UAPI
 * connections, signals, lifecycle).
 */
#ifndef WEFT_DATAPLANE_DEVICE_H
#define WEFT_DATAPLANE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/uapi.h"
#include "lib/strbuf.h"

struct dp_device;

/* Counters an operator can read (weft-wg --stats); never UAPI keys. */
enum dp_tx_drop {
	DP_TX_DROP_NO_PEER,     /* no allowed-IPs match for the destination */
	DP_TX_DROP_NO_ENDPOINT, /* the peer has no endpoint yet */
	DP_TX_DROP_BAD_PACKET,  /* not IPv4/IPv6, or too large */
	DP_TX_DROP_STAGED_FULL, /* oldest staged packet dropped while waiting for a session */
	DP_TX_DROP_SEND_ERROR,  /* the socket refused the datagram */
	DP_TX_DROP_HANDSHAKE_QUEUE_FULL, /* incoming handshake dropped: queue full */
	DP_TX_HANDSHAKE_FULL_COOKIE,     /* queue full: the reader answered with a cookie reply */
	DP_TX_HANDSHAKE_FULL_MAC2,       /* queue full: mac2 proven, queued in a reserved slot */
	DP_TX__COUNT
};

struct dp_config {
	const char *ifname;
	unsigned mtu;           /* 0 = 1420 */
	const char *uapi_dir;   /* NULL = /var/run/wireguard (unused on Windows) */
	bool uapi_socket;       /* serve the UAPI on <uapi_dir>/<ifname>.sock (Windows: the pipe) */
	/*
	 * TUN queues (IFF_MULTI_QUEUE), one reader thread each; the kernel spreads flows over
	 * them. 0 = automatic: one below 4 CPUs (measured: two queues did not pay on 2 CPUs,
	 * README), else half the CPUs up to 4. Linux only; capped at 8.
	 */
	unsigned tun_queues;
	/*
	 * The control loop ends on SIGINT, SIGTERM and SIGHUP (Windows: console events): for a
	 * program that is the device (weft-wg). false: they are the embedding program's (weftd
	 * stops its own modules first, then the device).
	 */
	bool own_signals;
};

/*
 * Create the TUN (or attach to an existing TUN of that name), bind UDP on a random port and
 * open the UAPI socket. Threads start with dp_device_start(). Errors: -EINVAL (bad name),
 * -EEXIST (a non-TUN link has the name), -EADDRINUSE (UAPI socket in use), other -errno.
 * Nothing is left behind on error.
 */
int dp_device_new(const struct dp_config *cfg, struct dp_device **ret);
/*
 * Crypto workers (parallel seal/open, per-peer in-order delivery); call before
 * dp_device_start. n = -1 (the default): one per online CPU on machines with 4 or more,
 * inline below that (where the pool measured no faster and costlier); 0: none, each reader
 * thread encrypts or decrypts its own batches inline; n > 0: n workers, the reader threads
 * helping. -EINVAL once started or for n < -1.
 */
int dp_device_set_crypto_workers(struct dp_device *d, int n);
/* Workers actually running (0 = inline). */
unsigned dp_device_crypto_workers(const struct dp_device *d);
int dp_device_start(struct dp_device *d);
/*
 * The control loop: timers, UAPI connections. Returns when dp_device_stop() is called, on
 * SIGINT/SIGTERM/SIGHUP (with cfg.own_signals; the loop's thread blocks them), when the UAPI
 * socket file is deleted, or when the TUN interface is deleted. Returns 0 or -errno.
 * Windows (control_windows.c): on a console event (Ctrl-C, close, logoff, shutdown) instead
 * of signals; the pipe is served on a thread of its own.
 */
int dp_device_run(struct dp_device *d);
/* Thread-safe and async-signal-safe: ask dp_device_run to return. */
void dp_device_stop(struct dp_device *d);
/* Stops threads, removes the UAPI socket, closes the TUN (the kernel deletes it). NULL-safe. */
void dp_device_free(struct dp_device *d);

/* Apply a parsed set request atomically. 0, -EADDRINUSE (listen_port), -ENOSPC, -ENOMEM. */
int dp_device_apply(struct dp_device *d, const struct uapi_set *set);
/* The reply to a get request (key=value lines and errno=0). */
int dp_device_get(struct dp_device *d, struct strbuf *out);
/* What the control plane reads of one peer, typed (no UAPI text to parse back). */
struct dp_peer_stats {
	uint8_t public_key[32];
	bool has_endpoint;
	struct wg_endpoint endpoint;
	uint64_t last_handshake_sec; /* wall clock; 0 = never */
	uint64_t rx_bytes, tx_bytes;
	struct wg_peer_counters counters; /* packets, handshakes, rekeys (wg/wg.h) */
};
/* The peer with this key: 0, or -ENOENT. O(1): the engine's key table. */
int dp_device_peer_stats(struct dp_device *d, const uint8_t key[static 32],
			 struct dp_peer_stats *ret);
/*
 * The control plane's path choice (weftd's NAT traversal): set the peer's endpoint to ep (if
 * not NULL) as a UAPI endpoint= would, and with kick send a keepalive now (an initiation
 * when there is no session), so a new path is tried at once. 0, or -ENOENT.
 */
int dp_device_peer_endpoint(struct dp_device *d, const uint8_t key[static 32],
			    const struct wg_endpoint *ep, bool kick);
/* Every peer, in the order they were added: a malloc'ed array in *ret. 0 or -ENOMEM. */
int dp_device_peers_stats(struct dp_device *d, struct dp_peer_stats **ret, size_t *ret_n);
/* Human-readable per-reason counters. */
int dp_device_stats(struct dp_device *d, struct strbuf *out);
/*
 * Handle one UAPI connection (blocking, with a timeout) until the client closes it. POSIX
 * (a Unix-socket fd; control.c); not on Windows.
 */
void dp_device_serve_uapi(struct dp_device *d, int fd);

/*
 * Datagrams on the WireGuard socket that are not WireGuard messages (a WireGuard message is
 * type 1..4 in a little-endian word: bytes 1..3 zero) go to fn, if set, instead of being
 * dropped: weftd answers and reads STUN (RFC 8489) on the socket WireGuard itself uses, so
 * the mapping STUN sees is WireGuard's. fn runs on a UDP reader thread with no device lock
 * held; it must copy what it keeps, return quickly and may call dp_device_send_raw(). It
 * returns false for what it does not take (counted as a drop, as without a hook). Set it
 * before dp_device_start().
 */
typedef bool dp_foreign_fn(void *ctx, const uint8_t *buf, size_t len,
			   const struct wg_endpoint *from);
void dp_device_set_foreign(struct dp_device *d, dp_foreign_fn *fn, void *ctx);
/* Send buf from the WireGuard socket to `to`. 0, or -errno (-EAGAIN: the kernel refused it). */
int dp_device_send_raw(struct dp_device *d, const struct wg_endpoint *to, const uint8_t *buf,
		       size_t len);

const char *dp_device_name(const struct dp_device *d);
int dp_device_ifindex(const struct dp_device *d);
uint16_t dp_device_port(const struct dp_device *d);

#endif

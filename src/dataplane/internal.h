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
 */
#ifndef WEFT_DATAPLANE_INTERNAL_H
#define WEFT_DATAPLANE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "dataplane/device.h"
#include "platform/tun.h"
#include "platform/udp.h"
#include "wg/wg.h"

enum {
	DP_DEFAULT_MTU = 1420,
	DP_BUF_LEN = WG_MAX_MESSAGE_LEN + 64, /* any datagram, any TUN packet plus overhead */
	DP_HANDSHAKE_QUEUE = 1024, /* wireguard-go's QueueHandshakeSize */
	DP_STAGED = WG_MAX_STAGED_PACKETS,
	DP_TIMER_TICK_MS = 100, /* longest the control loop sleeps: timer resolution */
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
};

struct dp_hs_item {
	uint8_t msg[WG_MAX_HANDSHAKE_LEN];
	size_t len;
	struct wg_endpoint from;
	struct plat_udp_src local;
};

struct dp_device {
	char name[16];
	unsigned mtu;
	char sock_path[108];
	int uapi_fd, inotify_fd, wake_fd, signal_fd;
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

	pthread_t tun_thread, udp_thread[2], hs_thread;
	bool udp_running[2], threads_started;
	atomic_bool stop;
	atomic_bool tun_gone;

	_Atomic uint64_t rx_stats[WG_RX__COUNT];
	_Atomic uint64_t tx_stats[DP_TX__COUNT];
	_Atomic uint64_t tx_packets, rx_packets;
};

uint64_t dp_now(void);
/* Send a message built under `lock` to the peer's endpoint (takes udp_lock). */
void dp_send_to_peer(struct dp_device *d, struct dp_peer *p, const uint8_t *msg, size_t len);
/* Carry out engine actions for a peer; call with `lock` held. */
void dp_peer_actions(struct dp_device *d, struct dp_peer *p, unsigned act, uint64_t now);

/* device.c, for uapi_server.c */
int dp_device_core_init(struct dp_device *d, const struct dp_config *cfg);
void dp_device_core_done(struct dp_device *d);
void dp_device_stop_threads(struct dp_device *d);
void dp_device_free_peers(struct dp_device *d);
/* Fire expired timers of every peer; returns ms until the next deadline (capped). */
int dp_device_timers(struct dp_device *d);

#endif

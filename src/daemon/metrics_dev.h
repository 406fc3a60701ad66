/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics_dev — the metrics weftd and weft-wg share: build info and the WireGuard
 * device's packet counters (dataplane/counters.h: datagrams by the engine's verdict, drops by
 * reason in each direction), plus weft-wg's per-peer series keyed by public key. weftd's
 * per-peer series carry node names instead (daemon/metrics.c).
 *
 * Names (Prometheus conventions: weft_ prefix, base units, _total counters):
 *   weft_build_info{program,version}                            gauge, 1
 *   weft_wireguard_received_datagrams_total{result}             accepted datagrams by kind
 *   weft_wireguard_dropped_packets_total{direction,reason}      rx: the engine's drop reasons;
 *                                                               tx: no_peer, no_endpoint, ...
 *   weft_wireguard_handshake_overload_total{action}             full handshake queue answered
 *   weft_wireguard_tun_read_packets_total, weft_wireguard_tun_writes_total
 *
 * And per peer, from the engine's counters (struct wg_peer_counters), written by
 * dmn_metrics_peer_counters() for both programs (label peer or public_key; summed without
 * it under --metrics-peer-labels=false):
 *   weft_peer_receive_packets_total, weft_peer_transmit_packets_total   authenticated
 *                                          datagrams (data, keepalives, handshake messages)
 *   weft_peer_handshake_messages_total{message,direction}   initiation|response, sent|received
 *   weft_peer_handshakes_total                              handshakes completed
 *   weft_peer_handshake_failures_total{reason}              timeout (retried), gave_up, auth,
 *                                                           replay_timestamp, flood
 *   weft_peer_session_rekeys_total                          sessions that replaced a session
 *
 * Must not: hold a lock of the device's while writing (it reads atomics and a copy).
 */
#ifndef WEFT_DAEMON_METRICS_DEV_H
#define WEFT_DAEMON_METRICS_DEV_H

#include <stdbool.h>

#include "lib/metrics.h"

struct dp_device;

struct dmn_metrics_dev {
	struct dp_device *dev;
	const char *program; /* "weftd" or "weft-wg" */
	bool peers_by_key;   /* weft-wg: per-peer series labelled public_key */
	bool peer_labels;    /* false: per-peer series summed over the peers, no label */
};

struct wg_peer_counters;

/* A peer's label value and its counters (NULL: none yet, written as zeros). */
struct dmn_metrics_peer {
	const char *label;
	const struct wg_peer_counters *c;
};

/*
 * The per-peer families of the engine's counters (above), each sample labelled label_name =
 * p[i].label, or with labels false one sample per family summed over the n peers.
 */
void dmn_metrics_peer_counters(struct metrics_writer *w, const char *label_name,
			       const struct dmn_metrics_peer *p, size_t n, bool labels);

/* Collectors (ctx = struct dmn_metrics_dev). */
void dmn_metrics_collect_build(struct metrics_writer *w, void *ctx);
void dmn_metrics_collect_device(struct metrics_writer *w, void *ctx);

/* "--metrics-peer-labels=false|true" style values: 1, 0, or -EINVAL. */
int dmn_metrics_parse_bool(const char *s);

#endif

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

/* Collectors (ctx = struct dmn_metrics_dev). */
void dmn_metrics_collect_build(struct metrics_writer *w, void *ctx);
void dmn_metrics_collect_device(struct metrics_writer *w, void *ctx);

/* "--metrics-peer-labels=false|true" style values: 1, 0, or -EINVAL. */
int dmn_metrics_parse_bool(const char *s);

#endif

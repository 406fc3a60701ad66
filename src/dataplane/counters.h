/* SPDX-License-Identifier: MIT */
/*
 * dataplane/counters — the device's packet counters, typed, for whoever exports them (the
 * metrics of weftd and weft-wg), so nothing parses dp_device_stats()'s text back. A new
 * file rather than a change to device.c: it only reads the atomics device.c keeps.
 */
#ifndef WEFT_DATAPLANE_COUNTERS_H
#define WEFT_DATAPLANE_COUNTERS_H

#include <stdint.h>

#include "dataplane/device.h"
#include "wg/wg.h"

struct dp_device_counters {
	uint64_t rx[WG_RX__COUNT]; /* UDP datagrams by the engine's verdict (wg_rx_result_name) */
	uint64_t tx[DP_TX__COUNT]; /* enum dp_tx_drop */
	uint64_t tun_packets_read, udp_datagrams_received, tun_writes;
};

/* Each counter read atomically (relaxed); not one consistent snapshot. */
void dp_device_counters(struct dp_device *d, struct dp_device_counters *ret);
/* The stable snake_case name of a transmit counter ("no_peer", "handshake_queue_full"...). */
const char *dp_tx_counter_name(enum dp_tx_drop i);

#endif

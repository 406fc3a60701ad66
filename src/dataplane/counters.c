/* SPDX-License-Identifier: MIT */
/*
 * dataplane/counters — typed reads of the device's counters (see counters.h).
 */
#include <stdatomic.h>
#include <string.h>

#include "dataplane/counters.h"
#include "dataplane/internal.h"

void dp_device_counters(struct dp_device *d, struct dp_device_counters *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < WG_RX__COUNT; i++)
		ret->rx[i] = atomic_load_explicit(&d->rx_stats[i], memory_order_relaxed);
	for (int i = 0; i < DP_TX__COUNT; i++)
		ret->tx[i] = atomic_load_explicit(&d->tx_stats[i], memory_order_relaxed);
	for (unsigned i = 0; i < DP_MAX_TUN_QUEUES; i++)
		ret->tun_packets_read +=
			atomic_load_explicit(&d->tun_readers[i].packets, memory_order_relaxed);
	ret->udp_datagrams_received = atomic_load_explicit(&d->rx_packets, memory_order_relaxed);
	ret->tun_writes = atomic_load_explicit(&d->tun_writes, memory_order_relaxed);
}

const char *dp_tx_counter_name(enum dp_tx_drop i)
{
	static const char *const names[DP_TX__COUNT] = {
		[DP_TX_DROP_NO_PEER] = "no_peer",
		[DP_TX_DROP_NO_ENDPOINT] = "no_endpoint",
		[DP_TX_DROP_BAD_PACKET] = "bad_packet",
		[DP_TX_DROP_STAGED_FULL] = "staged_full",
		[DP_TX_DROP_SEND_ERROR] = "send_error",
		[DP_TX_DROP_HANDSHAKE_QUEUE_FULL] = "handshake_queue_full",
		[DP_TX_HANDSHAKE_FULL_COOKIE] = "handshake_queue_full_cookie_reply",
		[DP_TX_HANDSHAKE_FULL_MAC2] = "handshake_queue_full_mac2_reserved",
	};

	return (unsigned)i < DP_TX__COUNT && names[i] ? names[i] : "unknown";
}

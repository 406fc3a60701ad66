/* SPDX-License-Identifier: MIT */
/*
 * relay — weftd's relay through a standard TURN server (coturn): the I/O around
 * overlay/turn.c. One thread, one UDP socket to the TURN server, and one loopback UDP socket
 * L_P (127.0.0.1, ephemeral port) per remote transport address P that sends to our relayed
 * address. Payloads from P go from L_P to the WireGuard device at 127.0.0.1:wg_port; what the
 * device sends back to L_P goes out to P through the allocation (a Send indication until P's
 * channel is bound, ChannelData after). The device authenticates the WireGuard packets and
 * roams the peer's endpoint to L_P, so the relay knows no peer identities.
 *
 * Who can reach what: the TURN socket is connected to the server (the kernel drops other
 * sources) and turn.c takes responses only by transaction id and integrity; an L_P accepts
 * datagrams only from 127.0.0.1:wg_port (others dropped and counted).
 *
 * Must not: block the caller (everything runs on the relay's thread), log per packet, or
 * keep more than DMN_RELAY_MAX_REMOTES forwarders (idle ones expire after
 * DMN_RELAY_IDLE_MS; when full, the longest idle one is reused).
 */
#ifndef WEFT_DAEMON_RELAY_H
#define WEFT_DAEMON_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/wg.h"

enum {
	DMN_RELAY_MAX_REMOTES = 256,
	DMN_RELAY_IDLE_MS = 180000, /* a remote silent both ways this long loses its forwarder */
};

enum dmn_relay_state {
	DMN_RELAY_CONNECTING = 0,
	DMN_RELAY_ALLOCATED,
	DMN_RELAY_FAILED,
};

struct dmn_relay_config {
	struct wg_endpoint server;
	char user[256], pass[256];
	uint16_t wg_port; /* the WireGuard device's UDP port on 127.0.0.1 */
};

struct dmn_relay;

/* Starts the thread; the allocation proceeds in the background. 0 or -errno. */
int dmn_relay_start(const struct dmn_relay_config *cfg, struct dmn_relay **ret);
/* NULL-safe; deallocates (Refresh with LIFETIME 0), stops the thread, closes every socket. */
void dmn_relay_free(struct dmn_relay *r);
void dmn_relay_set_credentials(struct dmn_relay *r, const char *user, const char *pass);
/* The peer IPs that may send to the relayed address; replaces the set (ports ignored). 0,
 * -E2BIG past the cap, -EINVAL. */
int dmn_relay_permit(struct dmn_relay *r, const struct wg_endpoint *addrs, size_t n);

struct dmn_relay_status {
	int state; /* enum dmn_relay_state */
	struct wg_endpoint relayed, mapped;
	char error[160];
	uint64_t since_ms, retry_at_ms; /* monotonic ms (CLOCK_MONOTONIC) */
	uint64_t bytes_to_peers, bytes_from_peers, packets_to_peers, packets_from_peers;
	unsigned remotes;
	unsigned channels_bound;  /* remotes whose payloads travel as ChannelData */
	uint64_t dropped_foreign; /* datagrams to a forwarder not from the device's port */
	uint64_t dropped_server;  /* datagrams from the server that turn.c refused */
};
void dmn_relay_status(struct dmn_relay *r, struct dmn_relay_status *ret);
/* An endpoint as people write it (198.18.0.1:3478, [fd00::1]:3478), "none" when unset; for
 * the logs and `weft peers` of relay.c and nat.c. */
enum { DMN_ENDPOINT_STRLEN = 64 }; /* >= ADDRFMT_LEN */
const char *dmn_endpoint_str(const struct wg_endpoint *ep, char out[static DMN_ENDPOINT_STRLEN]);
/* A device endpoint that is one of this relay's loopback forwarders: the remote behind it
 * (ret_remote may be NULL). */
bool dmn_relay_remote_of(struct dmn_relay *r, const struct wg_endpoint *local,
			 struct wg_endpoint *ret_remote);

#endif

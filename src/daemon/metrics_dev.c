/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics_dev — the device's metrics for weftd and weft-wg (see metrics_dev.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics_dev.h"
#include "dataplane/counters.h"
#include "dataplane/device.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

int dmn_metrics_parse_bool(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
		return 0;
	return -EINVAL;
}

void dmn_metrics_collect_build(struct metrics_writer *w, void *ctx)
{
	struct dmn_metrics_dev *m = ctx;
	struct metrics_label l[] = {{"program", m->program}, {"version", WEFT_VERSION}};

	if (!metrics_family(w, "weft_build_info", METRICS_GAUGE,
			    "Always 1; the labels say which program and version runs."))
		metrics_sample_u64(w, l, 2, 1);
}

/* One sample of a family: up to two labels of its own, and the counter it reads. */
struct peer_sub {
	const char *k1, *v1, *k2, *v2;
	size_t off; /* of a uint64_t in struct wg_peer_counters */
};

#define OFF(f) offsetof(struct wg_peer_counters, f)

static const struct peer_sub subs_rxp[] = {{NULL, NULL, NULL, NULL, OFF(rx_packets)}};
static const struct peer_sub subs_txp[] = {{NULL, NULL, NULL, NULL, OFF(tx_packets)}};
static const struct peer_sub subs_msg[] = {
	{"message", "initiation", "direction", "sent", OFF(initiations_sent)},
	{"message", "initiation", "direction", "received", OFF(initiations_received)},
	{"message", "response", "direction", "sent", OFF(responses_sent)},
	{"message", "response", "direction", "received", OFF(responses_received)},
};
static const struct peer_sub subs_hs[] = {{NULL, NULL, NULL, NULL, OFF(handshakes_completed)}};
static const struct peer_sub subs_fail[] = {
	{"reason", "timeout", NULL, NULL, OFF(failures[WG_HSF_TIMEOUT])},
	{"reason", "gave_up", NULL, NULL, OFF(failures[WG_HSF_GAVE_UP])},
	{"reason", "auth", NULL, NULL, OFF(failures[WG_HSF_AUTH])},
	{"reason", "replay_timestamp", NULL, NULL, OFF(failures[WG_HSF_REPLAY_TIMESTAMP])},
	{"reason", "flood", NULL, NULL, OFF(failures[WG_HSF_FLOOD])},
};
static const struct peer_sub subs_rekey[] = {{NULL, NULL, NULL, NULL, OFF(rekeys)}};

#undef OFF

static const struct {
	const char *name, *help;
	const struct peer_sub *subs;
	size_t n;
} peer_families[] = {
	{"weft_peer_receive_packets_total",
	 "Authenticated WireGuard datagrams received from the peer (data, keepalives, handshake "
	 "messages).",
	 subs_rxp, 1},
	{"weft_peer_transmit_packets_total",
	 "WireGuard datagrams sent to the peer (data, keepalives, handshake messages).", subs_txp,
	 1},
	{"weft_peer_handshake_messages_total",
	 "Handshake messages with the peer: initiations (first attempts and retries) and "
	 "responses, sent and received (authenticated).",
	 subs_msg, sizeof(subs_msg) / sizeof(subs_msg[0])},
	{"weft_peer_handshakes_total",
	 "Handshakes completed with the peer (initiator: response received; responder: first "
	 "packet under the new keys).",
	 subs_hs, 1},
	{"weft_peer_handshake_failures_total",
	 "Handshakes with the peer that did not complete, by reason: timeout (no response in 5 s, "
	 "retried), gave_up (retries exhausted), auth (its message failed to decrypt), "
	 "replay_timestamp, flood (its initiation was stale or too soon).",
	 subs_fail, sizeof(subs_fail) / sizeof(subs_fail[0])},
	{"weft_peer_session_rekeys_total",
	 "Sessions derived with the peer while a session existed (rekeys, and handshakes that "
	 "replaced live keys).",
	 subs_rekey, 1},
};

static uint64_t peer_counter(const struct wg_peer_counters *c, size_t off)
{
	uint64_t v;

	if (!c)
		return 0;
	memcpy(&v, (const uint8_t *)c + off, sizeof(v));
	return v;
}

void dmn_metrics_peer_counters(struct metrics_writer *w, const char *label_name,
			       const struct dmn_metrics_peer *p, size_t n, bool labels)
{
	for (size_t f = 0; f < sizeof(peer_families) / sizeof(peer_families[0]); f++) {
		if (metrics_family(w, peer_families[f].name, METRICS_COUNTER,
				   peer_families[f].help))
			return;
		for (size_t s = 0; s < peer_families[f].n; s++) {
			const struct peer_sub *u = &peer_families[f].subs[s];
			struct metrics_label l[3];
			size_t nl = 0;
			uint64_t sum = 0;

			if (labels)
				l[nl++] = (struct metrics_label){label_name, NULL};
			if (u->k1)
				l[nl++] = (struct metrics_label){u->k1, u->v1};
			if (u->k2)
				l[nl++] = (struct metrics_label){u->k2, u->v2};
			for (size_t i = 0; i < n; i++) {
				if (!labels) {
					sum += peer_counter(p[i].c, u->off);
					continue;
				}
				l[0].value = p[i].label;
				metrics_sample_u64(w, l, nl, peer_counter(p[i].c, u->off));
			}
			if (!labels)
				metrics_sample_u64(w, l, nl, sum);
		}
	}
}

static void b64(const uint8_t k[32], char out[45])
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)k[i] << 16 | (i + 1 < 32 ? (uint32_t)k[i + 1] << 8 : 0) |
			     (i + 2 < 32 ? k[i + 2] : 0);

		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = i + 1 < 32 ? a[v >> 6 & 63] : '=';
		out[o++] = i + 2 < 32 ? a[v & 63] : '=';
	}
	out[o] = '\0';
}

static void peers_by_key(struct metrics_writer *w, struct dmn_metrics_dev *m)
{
	struct dp_peer_stats *p = NULL;
	size_t n = 0;
	uint64_t rx = 0, tx = 0;
	char(*keys)[45] = NULL; /* the label values, alive while the families are written */
	struct dmn_metrics_peer *mp = NULL;

	if (dp_device_peers_stats(m->dev, &p, &n))
		n = 0;
	if (!metrics_family(w, "weft_peers", METRICS_GAUGE, "Peers configured on the interface."))
		metrics_sample_u64(w, NULL, 0, n);
	for (size_t i = 0; i < n; i++) {
		rx += p[i].rx_bytes;
		tx += p[i].tx_bytes;
	}
	keys = calloc(n ? n : 1, sizeof(*keys));
	mp = calloc(n ? n : 1, sizeof(*mp));
	static const char *const fam[3][2] = {
		{"weft_peer_receive_bytes_total",
		 "Bytes received from the peer (WireGuard datagrams)."},
		{"weft_peer_transmit_bytes_total", "Bytes sent to the peer (WireGuard datagrams)."},
		{"weft_peer_last_handshake_timestamp_seconds",
		 "Unix time of the last completed handshake with the peer; 0: none yet."},
	};
	for (int f = 0; f < 3; f++) {
		if (!m->peer_labels && f == 2)
			break; /* a sum of timestamps means nothing */
		if (metrics_family(w, fam[f][0], f < 2 ? METRICS_COUNTER : METRICS_GAUGE,
				   fam[f][1]))
			break;
		if (!m->peer_labels) {
			metrics_sample_u64(w, NULL, 0, f == 0 ? rx : tx);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			char key[45];
			struct metrics_label l = {"public_key", key};

			b64(p[i].public_key, key);
			metrics_sample_u64(w, &l, 1,
					   f == 0   ? p[i].rx_bytes
					   : f == 1 ? p[i].tx_bytes
						    : p[i].last_handshake_sec);
		}
	}
	if (keys && mp) {
		for (size_t i = 0; i < n; i++) {
			b64(p[i].public_key, keys[i]);
			mp[i] = (struct dmn_metrics_peer){keys[i], &p[i].counters};
		}
		dmn_metrics_peer_counters(w, "public_key", mp, n, m->peer_labels);
	}
	free(mp);
	free(keys);
	free(p);
}

void dmn_metrics_collect_device(struct metrics_writer *w, void *ctx)
{
	struct dmn_metrics_dev *m = ctx;
	struct dp_device_counters c;

	dp_device_counters(m->dev, &c);
	if (!metrics_family(w, "weft_wireguard_received_datagrams_total", METRICS_COUNTER,
			    "WireGuard datagrams accepted, by kind (data, keepalive, handshake "
			    "messages, cookie replies)."))
		for (int i = 0; i < WG_RX__COUNT; i++)
			if (!wg_rx_dropped((enum wg_rx_result)i)) {
				struct metrics_label l = {"result",
							  wg_rx_result_name((enum wg_rx_result)i)};

				metrics_sample_u64(w, &l, 1, c.rx[i]);
			}
	if (!metrics_family(w, "weft_wireguard_dropped_packets_total", METRICS_COUNTER,
			    "Packets dropped, by direction (rx: datagrams from the network, tx: "
			    "packets from the interface) and reason.")) {
		for (int i = 0; i < WG_RX__COUNT; i++)
			if (wg_rx_dropped((enum wg_rx_result)i)) {
				const char *name = wg_rx_result_name((enum wg_rx_result)i);
				struct metrics_label l[] = {
					{"direction", "rx"},
					{"reason", strncmp(name, "drop_", 5) ? name : name + 5}};

				metrics_sample_u64(w, l, 2, c.rx[i]);
			}
		for (int i = 0; i <= DP_TX_DROP_HANDSHAKE_QUEUE_FULL; i++) {
			/* a full handshake queue drops a received message: rx */
			struct metrics_label l[] = {
				{"direction", i == DP_TX_DROP_HANDSHAKE_QUEUE_FULL ? "rx" : "tx"},
				{"reason", dp_tx_counter_name((enum dp_tx_drop)i)}};

			metrics_sample_u64(w, l, 2, c.tx[i]);
		}
	}
	if (!metrics_family(w, "weft_wireguard_handshake_overload_total", METRICS_COUNTER,
			    "Handshake messages met with a full handshake queue and answered by "
			    "the reader: a cookie reply, or a reserved place for a proven mac2.")) {
		struct metrics_label l1 = {"action", "cookie_reply"},
				     l2 = {"action", "mac2_reserved"};

		metrics_sample_u64(w, &l1, 1, c.tx[DP_TX_HANDSHAKE_FULL_COOKIE]);
		metrics_sample_u64(w, &l2, 1, c.tx[DP_TX_HANDSHAKE_FULL_MAC2]);
	}
	if (!metrics_family(w, "weft_wireguard_tun_read_packets_total", METRICS_COUNTER,
			    "Packets read from the interface (after splitting super-packets)."))
		metrics_sample_u64(w, NULL, 0, c.tun_packets_read);
	if (!metrics_family(
		    w, "weft_wireguard_tun_writes_total", METRICS_COUNTER,
		    "Writes to the interface (a write may carry a coalesced super-packet)."))
		metrics_sample_u64(w, NULL, 0, c.tun_writes);
	if (m->peers_by_key)
		peers_by_key(w, m);
}

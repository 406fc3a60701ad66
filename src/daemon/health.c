/* SPDX-License-Identifier: MIT */
/*
 * daemon/health — is each peer node reachable through the overlay? Two signals, as the
 * issue asks: the WireGuard handshake age (healthy while younger than 180 s, REF) and an
 * active probe: a small UDP datagram to the peer's overlay address, port + 1, which every
 * node echoes. A peer is down when no echo came back for health_timeout_ms (after having
 * had the chance: a new peer is not down before one timeout has passed) or its handshake is
 * older than 180 s while probes flow. Transitions are logged and feed the DNS zone, which
 * withholds a down node's records.
 *
 * Probe: "WFP1", u32 nonce, u64 send time (ns, the sender's clock, echoed untouched);
 * echo: "WFR1" and the same 12 bytes. Anything else is ignored. Probes travel only through
 * WireGuard (the socket is bound to the interface), but any local user of a node sends from
 * its overlay address: an echo counts only when it comes from the peer's probe port, which
 * its weftd holds, and carries the nonce of the last probe, drawn at random for each probe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "crypto/crypto.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/log.h"
#include "lib/util.h"

enum { PROBE_LEN = 16 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct dmn_health *find(struct dmn_node *n, const char *name)
{
	for (size_t i = 0; i < n->n_health; i++)
		if (!strcmp(n->health[i].name, name))
			return &n->health[i];
	return NULL;
}

/* One entry per peer node of the view, old entries kept by name. Lock held. */
static void sync_table(struct dmn_node *n, uint64_t now)
{
	struct dmn_health *t = calloc(n->view.n_nodes + 1, sizeof(*t));
	size_t count = 0;

	if (!t)
		return;
	for (size_t i = 0; i < n->view.n_nodes; i++) {
		const struct ov_peer *p = &n->view.nodes[i];
		struct dmn_health *old;

		if (!strcmp(p->name, n->st.self.name))
			continue;
		old = find(n, p->name);
		if (old) {
			t[count++] = *old;
		} else {
			strcpy(t[count].name, p->name);
			t[count].healthy = true;
			t[count].last_reply_ms = now; /* grace: one timeout from now */
			count++;
		}
	}
	free(n->health);
	n->health = t;
	n->n_health = count;
}

static uint32_t owner_of(const struct ov_peer *p)
{
	return get_be32(p->ip4.addr);
}

void dmn_health_tick(struct dmn_node *n)
{
	uint64_t now = dmn_now_ms();
	uint16_t port = (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET);
	struct {
		uint8_t key[OV_KEY_LEN];
		char name[OV_ALLOC_NAME_MAX + 1];
		uint32_t owner;
	} *todo;
	size_t count = 0;

	pthread_mutex_lock(&n->lock);
	if (n->removed) {
		pthread_mutex_unlock(&n->lock);
		return;
	}
	sync_table(n, now);
	todo = calloc(n->n_health + 1, sizeof(*todo));
	for (size_t i = 0; todo && i < n->n_health; i++) {
		struct dmn_health *h = &n->health[i];
		const struct ov_peer *p = dmn_view_node(&n->view, h->name);
		struct sockaddr_storage sa;
		uint8_t pkt[PROBE_LEN];

		if (!p || now - h->last_sent_ms < n->opt.health_interval_ms)
			continue;
		memcpy(pkt, "WFP1", 4);
		if (crypto_random(&h->seq, sizeof(h->seq)))
			h->seq++;
		put_be32(pkt + 4, h->seq);
		put_be64(pkt + 8, now_ns());
		dmn_overlay_addr(n, p, port, &sa);
		if (sendto(n->probe_fd, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *)&sa,
			   sizeof(struct sockaddr_in)) == sizeof(pkt))
			h->probes++;
		h->last_sent_ms = now;
		memcpy(todo[count].key, p->public_key, OV_KEY_LEN);
		strcpy(todo[count].name, h->name);
		todo[count].owner = owner_of(p);
		count++;
	}
	pthread_mutex_unlock(&n->lock);
	/* Handshake ages read outside the lock (the device has its own). */
	for (size_t i = 0; i < count; i++) {
		uint64_t age = dmn_handshake_age(n, todo[i].key);
		struct dmn_health *h;
		bool ok;

		pthread_mutex_lock(&n->lock);
		h = find(n, todo[i].name);
		if (h) {
			bool fresh = now - h->last_reply_ms < n->opt.health_timeout_ms;

			ok = fresh && (age == UINT64_MAX || age < DMN_HANDSHAKE_HEALTHY_S);
			if (ok != h->healthy) {
				if (ok)
					log_info("health: %s is up (probe rtt %.2f ms)", h->name,
						 (double)h->rtt_us / 1000.0);
				else if (!fresh)
					log_info("health: %s is down (no probe reply for %.1f s)",
						 h->name,
						 (double)(now - h->last_reply_ms) / 1000.0);
				else
					log_info("health: %s is down (last handshake %" PRIu64
						 " s ago)",
						 h->name, age);
				h->healthy = ok;
				dmn_dns_set_healthy(n, todo[i].owner, ok);
			}
		}
		pthread_mutex_unlock(&n->lock);
	}
	free(todo);
}

void dmn_health_input(struct dmn_node *n)
{
	for (int budget = 0; budget < 64; budget++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		uint8_t pkt[64];
		ssize_t len = recvfrom(n->probe_fd, pkt, sizeof(pkt), MSG_DONTWAIT,
				       (struct sockaddr *)&from, &flen);

		if (len < 0)
			return;
		if (len != PROBE_LEN || flen != sizeof(from))
			continue;
		/* Only a weftd sends from the probe port (it holds it on its overlay address). */
		if (ntohs(from.sin_port) != n->st.port + DMN_CTL_PORT_OFFSET)
			continue;
		if (!memcmp(pkt, "WFP1", 4)) {
			memcpy(pkt, "WFR1", 4);
			sendto(n->probe_fd, pkt, PROBE_LEN, MSG_DONTWAIT, (struct sockaddr *)&from,
			       flen);
		} else if (!memcmp(pkt, "WFR1", 4)) {
			uint64_t sent = get_be64(pkt + 8), t = now_ns();

			pthread_mutex_lock(&n->lock);
			for (size_t i = 0; i < n->view.n_nodes; i++) {
				const struct ov_peer *p = &n->view.nodes[i];
				struct dmn_health *h;

				if (memcmp(p->ip4.addr, &from.sin_addr, 4))
					continue;
				h = find(n, p->name);
				if (h && get_be32(pkt + 4) == h->seq && sent <= t) {
					h->rtt_us = (t - sent) / 1000;
					h->last_reply_ms = dmn_now_ms();
					h->replies++;
					h->known = true;
				}
			}
			pthread_mutex_unlock(&n->lock);
		}
	}
}

json_t *dmn_health_json(struct dmn_node *n, const char *name)
{
	struct dmn_health *h = find(n, name);

	if (!h)
		return json_pack("{s:s}", "health", "unknown");
	/* last_reply_age_ms (ops: weft doctor's "down for how long"): since the last probe reply,
	 * or since the peer was first seen when none came */
	return json_pack("{s:s,s:o,s:I,s:I,s:I}", "health",
			 !h->known ? (h->healthy ? "pending" : "down")
				   : (h->healthy ? "up" : "down"),
			 "rtt_ms", h->known ? json_real((double)h->rtt_us / 1000.0) : json_null(),
			 "probes", (json_int_t)h->probes, "replies", (json_int_t)h->replies,
			 "last_reply_age_ms", (json_int_t)(dmn_now_ms() - h->last_reply_ms));
}

/* --- status ------------------------------------------------------------------------------------ */

uint64_t dmn_handshake_age(struct dmn_node *n, const uint8_t *key)
{
	struct dp_peer_stats st;
	uint64_t now = (uint64_t)time(NULL);

	if (dp_device_peer_stats(n->dev, key, &st) || !st.last_handshake_sec)
		return UINT64_MAX;
	return now > st.last_handshake_sec ? now - st.last_handshake_sec : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics — weftd's metrics (weftd --metrics ADDR:PORT): the registry, its
 * collectors and the endpoint (daemon/metrics_http.h). Off by default. The address must be
 * loopback or this node's overlay address unless --metrics-allow-any: the underlay is
 * anyone's, and per-peer series say who talks to whom.
 *
 * Besides metrics_dev.h's device series:
 *   weft_node_leader                                  gauge: 1 on the leader, 0 on a member
 *   weft_peers{state}                                 gauge: peers up, down, pending
 *   weft_peer_receive_bytes_total{peer}, weft_peer_transmit_bytes_total{peer}
 *   the engine's per-peer packet, handshake and rekey counters (metrics_dev.h), {peer}
 *   weft_peer_last_handshake_timestamp_seconds{peer}  Unix time; 0: none yet
 *   weft_peer_up{peer}                                gauge: the health checker's verdict
 *   weft_peer_rtt_seconds{peer}                       the last probe's round trip (answered
 *                                                     peers only)
 *   weft_peer_probes_sent_total{peer}, weft_peer_probe_replies_total{peer}
 *   weft_view_generation                              gauge
 *   weft_view_age_seconds                             since the leader last published (leader)
 *                                                     or the member last heard a view from it
 *                                                     (push or pull), or since weftd started
 *   weft_joins_total{result}                          leader: admitted, refused_token (unknown
 *                                                     or expired at the handshake), refused
 *   weft_dns_queries_total{transport}, weft_dns_responses_total{outcome},
 *   weft_dns_queries_by_type_total{type}, weft_dns_answers_by_rcode_total{rcode},
 *   weft_dns_forward_failures_total{reason}           the DNS server's own counters
 * With --metrics-peer-labels=false the per-peer byte, packet, handshake and rekey counters
 * are summed without a peer label (a removed peer's bytes then leave the sum: Prometheus reads that
 * as a reset), and the other per-peer series are left out; weft_peers{state} stays.
 *
 * Must not: hold the node lock while it asks the device or the DNS server.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics_dev.h"
#include "daemon/metrics_http.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/log.h"
#include "overlay/dns_server.h"

struct dmn_metrics {
	struct metrics_registry reg;
	struct dmn_metrics_dev dev;
	struct dmn_metrics_http *http;
	struct dmn_node *n;
};

static void collect_node(struct metrics_writer *w, void *ctx)
{
	struct dmn_metrics *m = ctx;
	struct dmn_node *n = m->n;
	struct dp_peer_stats *dp = NULL;
	size_t ndp = 0, np = 0;
	uint64_t now = dmn_now_ms(), up = 0, down = 0, pending = 0, rx = 0, tx = 0;
	struct peer {
		char name[OV_ALLOC_NAME_MAX + 1];
		const struct dp_peer_stats *d;
		const struct dmn_health *h;
	} * peers;
	bool labels = m->dev.peer_labels;
	struct dmn_metrics_peer *mp;

	if (dp_device_peers_stats(n->dev, &dp, &ndp))
		ndp = 0;
	pthread_mutex_lock(&n->lock);
	peers = calloc(n->view.n_nodes + 1, sizeof(*peers));
	for (size_t i = 0; peers && i < n->view.n_nodes; i++) {
		const struct ov_peer *p = &n->view.nodes[i];
		struct peer *q = &peers[np];

		if (!strcmp(p->name, n->st.self.name))
			continue;
		strcpy(q->name, p->name);
		for (size_t k = 0; k < ndp; k++)
			if (!memcmp(dp[k].public_key, p->public_key, OV_KEY_LEN))
				q->d = &dp[k];
		for (size_t k = 0; k < n->n_health; k++)
			if (!strcmp(n->health[k].name, p->name))
				q->h = &n->health[k];
		/* as `weft peers` says it: pending until the first reply, unless down already */
		if (!q->h || (!q->h->known && q->h->healthy))
			pending++;
		else if (q->h->healthy)
			up++;
		else
			down++;
		if (q->d) {
			rx += q->d->rx_bytes;
			tx += q->d->tx_bytes;
		}
		np++;
	}
	if (!metrics_family(w, "weft_node_leader", METRICS_GAUGE,
			    "1 when this node is the cluster's leader, 0 on a member."))
		metrics_sample_u64(w, NULL, 0, n->st.role == OV_ROLE_LEADER);
	if (!metrics_family(w, "weft_view_generation", METRICS_GAUGE,
			    "Generation of the cluster view this node runs with."))
		metrics_sample_u64(w, NULL, 0, n->view.generation);
	if (!metrics_family(w, "weft_view_age_seconds", METRICS_GAUGE,
			    "Seconds since the leader published its view (leader) or this member "
			    "last received the leader's view, by push or pull (or since weftd "
			    "started)."))
		metrics_sample(w, NULL, 0,
			       n->view_heard_ms && now > n->view_heard_ms
				       ? (double)(now - n->view_heard_ms) / 1000.0
				       : 0.0);
	if (!metrics_family(w, "weft_peers", METRICS_GAUGE,
			    "Peer nodes by health state (pending: not probed long enough yet).")) {
		struct metrics_label l[3] = {
			{"state", "up"}, {"state", "down"}, {"state", "pending"}};

		metrics_sample_u64(w, &l[0], 1, up);
		metrics_sample_u64(w, &l[1], 1, down);
		metrics_sample_u64(w, &l[2], 1, pending);
	}
	if (!metrics_family(w, "weft_peer_receive_bytes_total", METRICS_COUNTER,
			    "Bytes received from the peer node (WireGuard datagrams).")) {
		if (!labels)
			metrics_sample_u64(w, NULL, 0, rx);
		for (size_t i = 0; labels && i < np; i++) {
			struct metrics_label l = {"peer", peers[i].name};

			metrics_sample_u64(w, &l, 1, peers[i].d ? peers[i].d->rx_bytes : 0);
		}
	}
	if (!metrics_family(w, "weft_peer_transmit_bytes_total", METRICS_COUNTER,
			    "Bytes sent to the peer node (WireGuard datagrams).")) {
		if (!labels)
			metrics_sample_u64(w, NULL, 0, tx);
		for (size_t i = 0; labels && i < np; i++) {
			struct metrics_label l = {"peer", peers[i].name};

			metrics_sample_u64(w, &l, 1, peers[i].d ? peers[i].d->tx_bytes : 0);
		}
	}
	mp = calloc(np ? np : 1, sizeof(*mp));
	if (mp) {
		for (size_t i = 0; i < np; i++)
			mp[i] = (struct dmn_metrics_peer){peers[i].name,
							  peers[i].d ? &peers[i].d->counters : NULL};
		dmn_metrics_peer_counters(w, "peer", mp, np, labels);
		free(mp);
	}
	if (labels && np) {
		static const struct {
			const char *name, *help;
			enum metrics_type type;
		} fam[] = {
			{"weft_peer_last_handshake_timestamp_seconds",
			 "Unix time of the last completed WireGuard handshake; 0: none yet.",
			 METRICS_GAUGE},
			{"weft_peer_up", "1 while the health checker finds the peer up.",
			 METRICS_GAUGE},
			{"weft_peer_rtt_seconds", "Round trip of the last answered health probe.",
			 METRICS_GAUGE},
			{"weft_peer_probes_sent_total", "Health probes sent to the peer.",
			 METRICS_COUNTER},
			{"weft_peer_probe_replies_total", "Health probe replies from the peer.",
			 METRICS_COUNTER},
		};
		for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
			if (metrics_family(w, fam[f].name, fam[f].type, fam[f].help))
				break;
			for (size_t i = 0; i < np; i++) {
				struct metrics_label l = {"peer", peers[i].name};
				const struct dmn_health *h = peers[i].h;

				if (f == 0)
					metrics_sample_u64(
						w, &l, 1,
						peers[i].d ? peers[i].d->last_handshake_sec : 0);
				else if (f == 1)
					metrics_sample_u64(w, &l, 1, h && h->known && h->healthy);
				else if (f == 2 && h && h->known)
					metrics_sample(w, &l, 1, (double)h->rtt_us / 1e6);
				else if (f == 3)
					metrics_sample_u64(w, &l, 1, h ? h->probes : 0);
				else if (f == 4)
					metrics_sample_u64(w, &l, 1, h ? h->replies : 0);
			}
		}
	}
	if (n->st.role == OV_ROLE_LEADER &&
	    !metrics_family(w, "weft_joins_total", METRICS_COUNTER,
			    "Joins decided by this leader: admitted, refused_token (unknown or "
			    "expired token at the handshake), refused (at the JOIN).")) {
		static const char *const res[DMN_JOIN__COUNT] = {
			[DMN_JOIN_ADMITTED] = "admitted",
			[DMN_JOIN_REFUSED_TOKEN] = "refused_token",
			[DMN_JOIN_REFUSED] = "refused",
		};
		for (int i = 0; i < DMN_JOIN__COUNT; i++) {
			struct metrics_label l = {"result", res[i]};

			metrics_sample_u64(w, &l, 1, atomic_load(&n->joins[i]));
		}
	}
	pthread_mutex_unlock(&n->lock);
	free(peers);
	free(dp);
}

static void collect_dns(struct metrics_writer *w, void *ctx)
{
	struct dmn_metrics *m = ctx;
	struct ov_dns_server_stats st;

	if (!m->n->dns)
		return;
	ov_dns_server_get_stats(m->n->dns, &st);
	if (!metrics_family(w, "weft_dns_queries_total", METRICS_COUNTER,
			    "DNS messages received by the node's DNS server, by transport.")) {
		struct metrics_label u = {"transport", "udp"}, t = {"transport", "tcp"};

		metrics_sample_u64(w, &u, 1, st.queries_udp);
		metrics_sample_u64(w, &t, 1, st.queries_tcp);
	}
	if (!metrics_family(w, "weft_dns_queries_by_type_total", METRICS_COUNTER,
			    "Well-formed DNS queries, by the type they ask for.")) {
		static const char *const types[OV_DNS_QTYPE_SLOT__COUNT] = {
			[OV_DNS_QTYPE_SLOT_A] = "A",	     [OV_DNS_QTYPE_SLOT_AAAA] = "AAAA",
			[OV_DNS_QTYPE_SLOT_SRV] = "SRV",     [OV_DNS_QTYPE_SLOT_PTR] = "PTR",
			[OV_DNS_QTYPE_SLOT_OTHER] = "other",
		};

		for (size_t i = 0; i < OV_DNS_QTYPE_SLOT__COUNT; i++) {
			struct metrics_label l = {"type", types[i]};

			metrics_sample_u64(w, &l, 1, st.qtype[i]);
		}
	}
	if (!metrics_family(w, "weft_dns_answers_by_rcode_total", METRICS_COUNTER,
			    "DNS answers sent (from the zone, relayed or errors), by rcode.")) {
		static const char *const rcodes[OV_DNS_RCODE_SLOTS] = {
			"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
		};

		for (size_t i = 0; i < OV_DNS_RCODE_SLOTS; i++) {
			struct metrics_label l = {"rcode", rcodes[i]};

			metrics_sample_u64(w, &l, 1, st.rcode[i]);
		}
	}
	if (!metrics_family(w, "weft_dns_responses_total", METRICS_COUNTER,
			    "How each DNS query ended: answered from the zone (by rcode), relayed "
			    "from an upstream, an error answer, SERVFAIL (by cause) or dropped.")) {
		const struct {
			const char *o;
			uint64_t v;
		} rows[] = {
			{"zone_noerror", st.zone_noerror},
			{"zone_nodata", st.zone_nodata},
			{"zone_nxdomain", st.zone_nxdomain},
			{"zone_refused", st.zone_refused},
			{"forward_relayed", st.fwd_relayed},
			{"forward_relayed_truncated", st.fwd_relayed_tc},
			{"formerr", st.formerr},
			{"notimp", st.notimp},
			{"badvers", st.badvers},
			{"servfail_exhausted", st.servfail_exhausted},
			{"servfail_no_upstream", st.servfail_no_upstream},
			{"servfail_full", st.servfail_full},
			{"servfail_internal", st.servfail_internal},
			{"dropped_short", st.dropped_short},
			{"dropped_response", st.dropped_response},
			{"dropped_send", st.dropped_send},
			{"dropped_client_gone", st.dropped_client_gone},
		};
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct metrics_label l = {"outcome", rows[i].o};

			metrics_sample_u64(w, &l, 1, rows[i].v);
		}
	}
	if (!metrics_family(w, "weft_dns_forward_failures_total", METRICS_COUNTER,
			    "Upstream attempts of the forwarder that failed, by reason.")) {
		struct metrics_label l[4] = {{"reason", "timeout"},
					     {"reason", "io_error"},
					     {"reason", "upstream_fail"},
					     {"reason", "mismatch"}};

		metrics_sample_u64(w, &l[0], 1, st.fwd_timeouts);
		metrics_sample_u64(w, &l[1], 1, st.fwd_io_errors);
		metrics_sample_u64(w, &l[2], 1, st.fwd_upstream_fail);
		metrics_sample_u64(w, &l[3], 1, st.fwd_mismatch);
	}
}

/* The address policy: loopback or this node's overlay address unless allow_any. */
static bool addr_allowed(const struct dmn_node *n, const struct sockaddr_storage *a)
{
	if (dmn_metrics_addr_is_loopback(a))
		return true;
	if (a->ss_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr, n->st.self.ip4.addr, 4);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, n->st.self.ip6.addr, 16);
}

int dmn_metrics_start(struct dmn_node *n)
{
	struct sockaddr_storage sa;
	struct dmn_metrics *m;
	char err[256], ip4[OV_PREFIX_STRLEN], ip6[OV_PREFIX_STRLEN];
	int r;

	n->view_heard_ms = dmn_now_ms();
	if (!n->opt.metrics[0])
		return 0;
	if (dmn_metrics_addr_parse(n->opt.metrics, &sa)) {
		log_error("--metrics: '%s' is not IP:PORT or [IPv6]:PORT", n->opt.metrics);
		return -EINVAL;
	}
	if (!n->opt.metrics_allow_any && !addr_allowed(n, &sa)) {
		ov_addr_format(&n->st.self.ip4, ip4);
		ov_addr_format(&n->st.self.ip6, ip6);
		log_error("--metrics %s: refused: not a loopback address nor this node's overlay "
			  "address (%s, %s); metrics name the peers and their traffic, and another "
			  "address may be reachable from the underlay. Use --metrics-allow-any to "
			  "listen there anyway.",
			  n->opt.metrics, ip4, ip6);
		return -EPERM;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->n = n;
	m->dev = (struct dmn_metrics_dev){
		.dev = n->dev, .program = "weftd", .peer_labels = n->opt.metrics_peer_labels};
	metrics_registry_init(&m->reg);
	metrics_registry_add(&m->reg, "build", dmn_metrics_collect_build, &m->dev);
	metrics_registry_add(&m->reg, "node", collect_node, m);
	metrics_registry_add(&m->reg, "device", dmn_metrics_collect_device, &m->dev);
	metrics_registry_add(&m->reg, "dns", collect_dns, m);
	r = dmn_metrics_http_start(&sa, &m->reg, &m->http, err, sizeof(err));
	if (r) {
		log_error("%s", err);
		metrics_registry_done(&m->reg);
		free(m);
		return r;
	}
	n->metrics = m;
	log_info("metrics: serving http://%s/metrics", n->opt.metrics);
	return 0;
}

void dmn_metrics_stop(struct dmn_node *n)
{
	struct dmn_metrics *m = n->metrics;

	if (!m)
		return;
	dmn_metrics_http_stop(m->http);
	metrics_registry_done(&m->reg);
	free(m);
	n->metrics = NULL;
}

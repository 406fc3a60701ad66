/* SPDX-License-Identifier: MIT */
/*
 * daemon/dns — the node's DNS service discovery: a zone made from the cluster view, served
 * by overlay/dns_server (UDP and TCP, port 15353 by default), forwarding other names to the
 * upstreams of resolv.conf.
 *
 * Where it listens: every socket is bound to a device (SO_BINDTODEVICE), so the underlay
 * never reaches it, whatever a host there routes via this node:
 *   127.0.0.1        on lo
 *   overlay address  on the WireGuard interface (other nodes and their containers)
 *   overlay address  on lo (this node asking its own overlay address)
 *   overlay address  on each local service bridge wb-* (this node's containers), following
 *                    the view: a bridge is listened on while the view has a container of
 *                    this node on it
 *
 * Records (zone = cluster.zone, REF's names):
 *   <node>              A ip4, AAAA ip6         every node
 *   node-<c>-<d>        A ip4                   REF's IP-derived label (10.200.c.d)
 *   node-<xxxx>         AAAA ip6                the same for the v6 address
 *   leader              A, AAAA                 the leader
 *   <service>           A per attached container
 *   <container>.<service>  A                    the container itself (SRV targets)
 *   _<port>._<proto>.<service>  SRV 0 0 port <container>.<service>   declared ports
 *   custom names        A/AAAA                  weft dns add
 * Every record but the custom ones is owned by its node (owner = its IPv4 address as a
 * number), so a node the health checker marks down disappears from the answers.
 *
 * Upstreams: the name servers of resolv.conf, loopback stubs skipped (127.0.0.53 would be
 * this host's systemd-resolved, possibly asking us back). REF falls back to 1.1.1.1 and
 * 8.8.8.8 when none is left; we do not send a cluster's queries to a third party unasked:
 * with no upstream, names outside the zone get SERVFAIL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/node.h"
#include "lib/log.h"
#include "lib/util.h"
#include "overlay/attach.h"
#include "overlay/dns_server.h"
#include "overlay/dns_zone.h"
#include "overlay/resolv.h"

static uint32_t owner_of(const struct ov_peer *p)
{
	return get_be32(p->ip4.addr);
}

static void add_addr(struct ov_dns_zone *z, const char *name, const struct ov_prefix *a,
		     uint32_t owner)
{
	int r = ov_dns_zone_add_addr(z, name, a->family == 4 ? AF_INET : AF_INET6, a->addr, owner);

	if (r)
		log_debug("dns: %s not added: %s", name, strerror(-r));
}

/* The zone of the current view. Lock held. NULL on allocation failure. */
static struct ov_dns_zone *build_zone(struct dmn_node *n)
{
	struct ov_dns_zone *z = calloc(1, sizeof(*z));
	char name[OV_STATE_ZONE_MAX + 1], label[OV_DNS_ZONE_NODE_LABEL_MAX];

	if (!z || ov_dns_zone_init(z, n->st.zone)) {
		free(z);
		return NULL;
	}
	for (size_t i = 0; i < n->view.n_nodes && !n->removed; i++) {
		const struct ov_peer *p = &n->view.nodes[i];
		uint32_t owner = owner_of(p);

		add_addr(z, p->name, &p->ip4, owner);
		add_addr(z, p->name, &p->ip6, owner);
		if (ov_dns_zone_node_label(AF_INET, p->ip4.addr, label, sizeof(label)) > 0)
			add_addr(z, label, &p->ip4, owner);
		if (ov_dns_zone_node_label(AF_INET6, p->ip6.addr, label, sizeof(label)) > 0)
			add_addr(z, label, &p->ip6, owner);
		if (!strcmp(p->name, n->view.leader)) {
			add_addr(z, "leader", &p->ip4, owner);
			add_addr(z, "leader", &p->ip6, owner);
		}
	}
	for (size_t i = 0; i < n->view.n_services && !n->removed; i++) {
		const struct dmn_service *s = &n->view.services[i];
		const struct ov_peer *p = dmn_view_node(&n->view, s->node);
		uint32_t owner = p ? owner_of(p) : OV_DNS_ZONE_OWNER_NONE;
		char target[OV_STATE_ZONE_MAX + 1];

		struct ov_prefix a6; /* AAAA: the container's IPv6 twin (issue 12 item 4) */
		bool v6 = !ov_prefix_derive6(&n->st.cidr4, &n->st.cidr6, &s->addr, &a6);

		add_addr(z, s->service, &s->addr, owner);
		snprintf(target, sizeof(target), "%s.%s", s->container, s->service);
		add_addr(z, target, &s->addr, owner);
		if (v6) {
			add_addr(z, s->service, &a6, owner);
			add_addr(z, target, &a6, owner);
		}
		for (size_t k = 0; k < s->n_ports; k++) {
			snprintf(name, sizeof(name), "_%s._%s.%s", s->ports[k].name,
				 s->ports[k].proto == 6 ? "tcp" : "udp", s->service);
			ov_dns_zone_add_srv(z, name, 0, 0, s->ports[k].port, target, owner);
		}
	}
	for (size_t i = 0; i < n->view.n_records && !n->removed; i++)
		add_addr(z, n->view.records[i].name, &n->view.records[i].addr,
			 OV_DNS_ZONE_OWNER_NONE);
	/* Health as the checker knows it now. */
	for (size_t i = 0; i < n->n_health; i++) {
		const struct ov_peer *p = dmn_view_node(&n->view, n->health[i].name);

		if (p && !n->health[i].healthy)
			ov_dns_zone_set_healthy(z, owner_of(p), false);
	}
	return z;
}

static size_t upstreams(struct dmn_node *n, struct sockaddr_storage *out, size_t max)
{
	struct ov_resolv rv;
	char buf[8192];
	size_t len = 0, count = 0;
	FILE *f = fopen(n->opt.resolv_conf, "re");

	if (!f) {
		log_info("dns: %s: %s: names outside %s will get SERVFAIL", n->opt.resolv_conf,
			 strerror(errno), n->st.zone);
		return 0;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ov_resolv_parse(buf, len, &rv);
	for (size_t i = 0; i < rv.count && count < max; i++)
		out[count++] = rv.ns[i].addr;
	if (!count)
		log_info("dns: no usable name server in %s: names outside %s will get SERVFAIL",
			 n->opt.resolv_conf, n->st.zone);
	return count;
}

static void overlay_listen_addr(const struct dmn_node *n, struct sockaddr_storage *ret)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ret;

	memset(ret, 0, sizeof(*ret));
	a->sin_family = AF_INET;
	a->sin_port = htons(n->opt.dns_port);
	memcpy(&a->sin_addr, n->st.self.ip4.addr, 4);
}

/*
 * Listen on the overlay address on each local bridge that has a container of this node in
 * the view. Lock held. A bridge not there yet (-ENODEV) is tried again at the next change.
 */
static void listen_bridges(struct dmn_node *n)
{
	char names[OV_DNS_SERVER_DEV_LISTEN_MAX][OV_ATTACH_IFNAME_MAX];
	const char *list[OV_DNS_SERVER_DEV_LISTEN_MAX] = {0};
	int results[OV_DNS_SERVER_DEV_LISTEN_MAX];
	struct sockaddr_storage addr;
	size_t count = 0;
	int r;

	if (!n->dns)
		return;
	for (size_t i = 0; i < n->view.n_services && !n->removed; i++) {
		const struct dmn_service *s = &n->view.services[i];
		char b[OV_ATTACH_IFNAME_MAX];
		bool seen = false;

		if (strcmp(s->node, n->st.self.name) || ov_attach_bridge_name(s->service, b))
			continue;
		for (size_t k = 0; k < count && !seen; k++)
			seen = !strcmp(names[k], b);
		if (seen)
			continue;
		if (count == OV_DNS_SERVER_DEV_LISTEN_MAX) {
			log_error("dns: more than %d local bridges: %s and later ones not served",
				  OV_DNS_SERVER_DEV_LISTEN_MAX, b);
			break;
		}
		memcpy(names[count], b, sizeof(b));
		list[count] = names[count];
		count++;
	}
	overlay_listen_addr(n, &addr);
	r = ov_dns_server_set_dev_listeners(n->dns, &addr, list, count, results);
	if (r == -EINVAL || r == -ESHUTDOWN) {
		log_error("dns: local bridges: %s", strerror(-r));
		return;
	}
	for (size_t k = 0; k < count; k++) {
		if (results[k] == -ENODEV)
			log_debug("dns: bridge %s not there yet", list[k]);
		else if (results[k])
			log_error("dns: cannot serve bridge %s: %s", list[k],
				  strerror(-results[k]));
	}
}

int dmn_dns_start(struct dmn_node *n)
{
	struct sockaddr_storage listen[3], up[OV_RESOLV_NS_MAX];
	struct sockaddr_in *l0 = (struct sockaddr_in *)&listen[0];
	const char *devs[3] = {"lo", n->opt.ifname, "lo"};
	struct ov_dns_server_config cfg;
	struct ov_dns_zone *z;
	int r;

	if (!n->opt.dns_port)
		return 0; /* --dns-port 0: no DNS server */
	memset(listen, 0, sizeof(listen));
	l0->sin_family = AF_INET;
	l0->sin_port = htons(n->opt.dns_port);
	l0->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	overlay_listen_addr(n, &listen[1]);
	overlay_listen_addr(n, &listen[2]);
	memset(&cfg, 0, sizeof(cfg));
	cfg.listen = listen;
	cfg.listen_ifnames = devs;
	cfg.n_listen = 3;
	cfg.upstreams = up;
	cfg.n_upstreams = upstreams(n, up, OV_RESOLV_NS_MAX);
	cfg.upstream_attempts = 2; /* REF: two passes over the upstreams */
	pthread_mutex_lock(&n->lock);
	z = build_zone(n);
	pthread_mutex_unlock(&n->lock);
	if (!z)
		return -ENOMEM;
	r = ov_dns_server_new(&cfg, z, &n->dns);
	if (r) {
		log_error("dns: cannot serve port %u: %s", n->opt.dns_port, strerror(-r));
		return r;
	}
	r = ov_dns_server_start(n->dns);
	if (r) {
		log_error("dns: cannot start: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&n->lock);
	listen_bridges(n);
	pthread_mutex_unlock(&n->lock);
	log_info("dns: zone %s on 127.0.0.1 (lo) and the overlay address (%s, lo, local bridges), "
		 "port %u, %zu upstream%s",
		 n->st.zone, n->opt.ifname, n->opt.dns_port, cfg.n_upstreams,
		 cfg.n_upstreams == 1 ? "" : "s");
	return 0;
}

void dmn_dns_update(struct dmn_node *n)
{
	struct ov_dns_zone *z;

	if (!n->dns)
		return;
	z = build_zone(n);
	if (z)
		ov_dns_server_swap_zone(n->dns, z);
	else
		log_error("dns: out of memory rebuilding the zone; serving the old one");
	listen_bridges(n);
}

void dmn_dns_set_healthy(struct dmn_node *n, uint32_t owner, bool healthy)
{
	if (n->dns)
		ov_dns_server_set_healthy(n->dns, owner, healthy);
}

void dmn_dns_stop(struct dmn_node *n)
{
	ov_dns_server_free(n->dns);
	n->dns = NULL;
}

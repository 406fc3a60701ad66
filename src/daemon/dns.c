/* SPDX-License-Identifier: MIT */
/*
 * daemon/dns — the node's DNS service discovery: a zone made from the cluster view, served
 * by overlay/dns_server (UDP and TCP, port 15353 by default), forwarding other names to the
 * upstreams of resolv.conf.
 *
 * Where it listens: every socket is bound to a device (SO_BINDTODEVICE), so the underlay
 * never reaches it, whatever a host there routes via this node:
 *   127.0.0.1, ::1     on lo                                  DNS port (15353)
 *   overlay addresses  on the WireGuard interface (other nodes and their containers), and
 *                      on lo (this node asking its own overlay address), IPv4 and IPv6
 *   overlay IPv4       on each local service bridge wb-* holding a container of this node
 *   bridge gateway     on that bridge, IPv4 and IPv6, port 53: the containers' resolver
 * The IPv6 ones are optional (a host may have IPv6 off): logged when they cannot bind.
 * Bridge listeners follow the view: a bridge is listened on while the view has a container
 * of this node on it.
 *
 * Why the gateway, and not a listener inside each container's namespace (Docker's
 * 127.0.0.11): the gateway is already the container's next hop, on a link only that
 * service's containers on this node share, so binding to the bridge is the whole access
 * rule; one socket pair per bridge instead of per container; nothing of weft runs in or is
 * re-entered into a namespace the runtime owns (a per-namespace socket needs setns for each
 * container, and its queries would still come back to this process); and the same address
 * works for every runtime, printed by `weft attach` for the runtime's own --dns option.
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

enum {
	/* The containers' resolver: on each local bridge's gateway, where a stub resolver
	 * (glibc, musl) can use it; resolv.conf has no way to name another port. */
	DMN_DNS_CONTAINER_PORT = 53,
};

/* "10.200.0.1:53", "[fd00:200::1]:53". */
static void format_sockaddr(const struct sockaddr_storage *a, char *out, size_t cap)
{
	char t[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;

		inet_ntop(AF_INET, &s4->sin_addr, t, sizeof(t));
		snprintf(out, cap, "%s:%u", t, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;

		inet_ntop(AF_INET6, &s6->sin6_addr, t, sizeof(t));
		snprintf(out, cap, "[%s]:%u", t, ntohs(s6->sin6_port));
	}
}

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

/* addr (a /32 or /128 of family 4 or 6) and port as a socket address. */
static void sockaddr_of(const struct ov_prefix *a, uint16_t port, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (a->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ret;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->addr, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->addr, 16);
	}
}

/* The first host of a subnet: the bridge's gateway (overlay/attach.h). */
static struct ov_prefix gateway_of(const struct ov_prefix *subnet)
{
	struct ov_prefix g = *subnet;

	for (int i = g.family == 4 ? 3 : 15; i >= 0 && ++g.addr[i] == 0; i--)
		;
	g.len = g.family == 4 ? 32 : 128;
	return g;
}

struct dev_set {
	struct ov_dns_server_dev *devs;
	char (*names)[OV_ATTACH_IFNAME_MAX];
	size_t n;
};

static void dev_add(struct dev_set *d, const char *ifname, const struct ov_prefix *a, uint16_t port)
{
	if (d->n == OV_DNS_SERVER_DEV_LISTEN_MAX)
		return;
	snprintf(d->names[d->n], sizeof(d->names[d->n]), "%s", ifname);
	d->devs[d->n].ifname = d->names[d->n];
	sockaddr_of(a, port, &d->devs[d->n].addr);
	d->n++;
}

/*
 * The device listeners of each local bridge that has a container of this node in the view:
 * the node's overlay IPv4 address on the DNS port (as before), and the containers' resolver,
 * the bridge's gateway on port 53, IPv4 and (when the cluster has an IPv6 range) IPv6.
 * Lock held. A bridge not there yet (-ENODEV) is tried again at the next change.
 */
static void listen_bridges(struct dmn_node *n)
{
	struct dev_set d = {0};
	int *results = NULL, r;
	size_t bridges = 0;

	if (!n->dns)
		return;
	d.devs = calloc(OV_DNS_SERVER_DEV_LISTEN_MAX, sizeof(*d.devs));
	d.names = calloc(OV_DNS_SERVER_DEV_LISTEN_MAX, sizeof(*d.names));
	results = calloc(OV_DNS_SERVER_DEV_LISTEN_MAX, sizeof(*results));
	if (!d.devs || !d.names || !results) {
		log_error("dns: out of memory listing the local bridges");
		goto out;
	}
	for (size_t i = 0; i < n->view.n_subnets && !n->removed; i++) {
		const struct dmn_subnet *sn = &n->view.subnets[i];
		struct ov_prefix gw4, sub6, gw6;
		char b[OV_ATTACH_IFNAME_MAX];
		bool used = false, seen = false;

		if (strcmp(sn->node, n->st.self.name) || ov_attach_bridge_name(sn->service, b))
			continue;
		for (size_t k = 0; k < n->view.n_services && !used; k++)
			used = !strcmp(n->view.services[k].node, n->st.self.name) &&
			       !strcmp(n->view.services[k].service, sn->service);
		for (size_t k = 0; k < d.n && !seen; k++)
			seen = !strcmp(d.names[k], b);
		if (!used || seen)
			continue;
		if (d.n + 3 > OV_DNS_SERVER_DEV_LISTEN_MAX) {
			log_error("dns: more than %zu local bridges: %s and later ones not served",
				  bridges, b);
			break;
		}
		bridges++;
		dev_add(&d, b, &n->st.self.ip4, n->opt.dns_port);
		gw4 = gateway_of(&sn->subnet);
		dev_add(&d, b, &gw4, DMN_DNS_CONTAINER_PORT);
		if (!ov_prefix_derive6(&n->st.cidr4, &n->st.cidr6, &sn->subnet, &sub6)) {
			gw6 = gateway_of(&sub6);
			dev_add(&d, b, &gw6, DMN_DNS_CONTAINER_PORT);
		}
	}
	r = ov_dns_server_set_dev_pairs(n->dns, d.devs, d.n, results);
	if (r == -EINVAL || r == -ESHUTDOWN) {
		log_error("dns: local bridges: %s", strerror(-r));
		goto out;
	}
	for (size_t k = 0; k < d.n; k++) {
		char text[OV_PREFIX_STRLEN + 8];

		if (!results[k])
			continue;
		format_sockaddr(&d.devs[k].addr, text, sizeof(text));
		if (results[k] == -ENODEV)
			log_debug("dns: bridge %s not there yet", d.names[k]);
		else
			log_error("dns: cannot serve %s on bridge %s: %s%s", text, d.names[k],
				  strerror(-results[k]),
				  results[k] == -EACCES ? " (port 53 needs CAP_NET_BIND_SERVICE)"
							: "");
	}
out:
	free(d.devs);
	free(d.names);
	free(results);
}

int dmn_dns_start(struct dmn_node *n)
{
	struct sockaddr_storage listen[6], up[OV_RESOLV_NS_MAX];
	const char *devs[6];
	struct ov_prefix lo4 = {.family = 4, .len = 32}, lo6 = {.family = 6, .len = 128};
	struct ov_dns_server_config cfg;
	struct ov_dns_zone *z;
	size_t nl = 0;
	int r;

	if (!n->opt.dns_port)
		return 0; /* --dns-port 0: no DNS server */
	put_be32(lo4.addr, INADDR_LOOPBACK);
	lo6.addr[15] = 1;
	memset(&cfg, 0, sizeof(cfg));
	/* Required: 127.0.0.1 and the overlay IPv4 address. */
	devs[nl] = "lo";
	sockaddr_of(&lo4, n->opt.dns_port, &listen[nl++]);
	devs[nl] = n->opt.ifname;
	sockaddr_of(&n->st.self.ip4, n->opt.dns_port, &listen[nl++]);
	devs[nl] = "lo";
	sockaddr_of(&n->st.self.ip4, n->opt.dns_port, &listen[nl++]);
	/* Optional (a host may have IPv6 off): ::1 and the overlay IPv6 address. */
	cfg.optional_mask |= 1u << nl;
	devs[nl] = "lo";
	sockaddr_of(&lo6, n->opt.dns_port, &listen[nl++]);
	if (n->st.self.ip6.family == 6) {
		cfg.optional_mask |= 1u << nl;
		devs[nl] = n->opt.ifname;
		sockaddr_of(&n->st.self.ip6, n->opt.dns_port, &listen[nl++]);
		cfg.optional_mask |= 1u << nl;
		devs[nl] = "lo";
		sockaddr_of(&n->st.self.ip6, n->opt.dns_port, &listen[nl++]);
	}
	cfg.listen = listen;
	cfg.listen_ifnames = devs;
	cfg.n_listen = nl;
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
	for (size_t i = 3; i < nl; i++) {
		char text[OV_PREFIX_STRLEN + 8];

		r = ov_dns_server_listen_error(n->dns, i);
		format_sockaddr(&listen[i], text, sizeof(text));
		if (r)
			log_error("dns: not serving %s on %s: %s", text, devs[i], strerror(-r));
	}
	r = ov_dns_server_start(n->dns);
	if (r) {
		log_error("dns: cannot start: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&n->lock);
	listen_bridges(n);
	pthread_mutex_unlock(&n->lock);
	log_info("dns: zone %s on 127.0.0.1 and ::1 (lo) and the overlay addresses (%s, lo, "
		 "local bridges), port %u; for containers on each local bridge's gateway, port %u; "
		 "%zu upstream%s",
		 n->st.zone, n->opt.ifname, n->opt.dns_port, DMN_DNS_CONTAINER_PORT,
		 cfg.n_upstreams, cfg.n_upstreams == 1 ? "" : "s");
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

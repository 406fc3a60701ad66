/* SPDX-License-Identifier: MIT */
/*
 * daemon/attach — `weft attach` and `weft detach` on this node, and the sweep of containers
 * that died. The leader owns the (service, node) subnet and the cluster's service records;
 * this node picks the container's address inside its subnet, does the plumbing
 * (overlay/attach) and then registers the container. The leader's new view then carries the
 * subnet into every member's allowed IPs (routing) and the record into every node's DNS.
 *
 * Order matters for "nothing half-configured": subnet (idempotent), plumbing, registration;
 * a failed registration undoes the plumbing. Attaches are serialised on this node so two of
 * them never pick the same address.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/node.h"
#include "lib/log.h"
#include "lib/util.h"
#include "overlay/attach.h"

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

/* The subnet's host offset: network + k as an address. */
static struct ov_prefix host_at(const struct ov_prefix *subnet, uint32_t k)
{
	struct ov_prefix a = *subnet;

	put_be32(a.addr, get_be32(subnet->addr) + k);
	a.len = 32;
	return a;
}

/* The lowest host of the subnet after the gateway that no container of it holds. Lock held. */
static int pick_addr(struct dmn_node *n, const struct ov_prefix *subnet, struct ov_prefix *ret)
{
	uint32_t size = 1u << (32 - subnet->len);

	for (uint32_t k = 2; k + 1 < size; k++) {
		struct ov_prefix a = host_at(subnet, k);
		bool used = false;

		for (size_t i = 0; i < n->view.n_services && !used; i++)
			used = ov_prefix_equal(&n->view.services[i].addr, &a);
		if (!used) {
			*ret = a;
			return 0;
		}
	}
	return -ENOSPC;
}

/*
 * The container's resolver (daemon/dns.c): the bridge's gateways, port 53, and the zone to
 * search, as {"dns": {"nameservers": [gw4, gw6], "search": zone}}. The CLI prints it or,
 * with --dns, writes it into the container's resolv.conf: the CLI, not weftd, because it
 * runs in the caller's mount namespace while weftd may be sandboxed (/etc read-only under
 * systemd's ProtectSystem=strict). No "dns" without a DNS server (--dns-port 0).
 */
static int dns_reply(const struct dmn_node *n, const struct ov_prefix *gw4,
		     const struct ov_prefix *subnet6, json_t *ret)
{
	json_t *ns, *d;
	char zone[OV_STATE_ZONE_MAX + 1];
	size_t len;

	if (!n->opt.dns_port)
		return 0;
	snprintf(zone, sizeof(zone), "%s", n->st.zone);
	len = strlen(zone);
	if (len > 1 && zone[len - 1] == '.')
		zone[len - 1] = '\0';
	ns = json_array();
	if (!ns || json_array_append_new(ns, ov_json_prefix_new(gw4, false))) {
		json_decref(ns);
		return -ENOMEM;
	}
	if (subnet6) {
		struct ov_prefix gw6 = *subnet6;

		for (int i = 15; i >= 0 && ++gw6.addr[i] == 0; i--)
			;
		gw6.len = 128;
		if (json_array_append_new(ns, ov_json_prefix_new(&gw6, false))) {
			json_decref(ns);
			return -ENOMEM;
		}
	}
	d = json_pack("{s:o,s:s}", "nameservers", ns, "search", zone);
	return d && !json_object_set_new(ret, "dns", d) ? 0 : -ENOMEM;
}

int dmn_attach(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
	       size_t errlen)
{
	struct dmn_request sub = {.op = DMN_OP_SUBNET}, add = {.op = DMN_OP_SERVICE_ADD};
	struct ov_attach_info info;
	struct ov_attach_req req;
	struct ov_prefix subnet, addr, gw;
	char pf[OV_PREFIX_STRLEN], why[256] = "";
	json_t *reply = NULL;
	int fd, r;

	/* Before the lock, and never blocking: a FIFO or any other non-namespace path given as
	 * --netns is refused at once instead of holding every other attach (and the channel
	 * serving this request) in a blocking open. */
	fd = ov_attach_netns_open(q->netns, err, errlen);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&attach_lock);
	pthread_mutex_lock(&n->lock);
	r = n->removed ? -EPERM : 0;
	for (size_t i = 0; i < n->view.n_services && !r; i++)
		if (!strcmp(n->view.services[i].node, n->st.self.name) &&
		    !strcmp(n->view.services[i].container, q->container))
			r = -EEXIST;
	pthread_mutex_unlock(&n->lock);
	if (r) {
		snprintf(err, errlen, "%s",
			 r == -EPERM ? "this node was removed from the cluster"
				     : "a container of that name is attached on this node already");
		goto out;
	}
	strcpy(sub.service, q->service);
	r = dmn_cluster_request(n, &sub, &reply, err, errlen);
	if (r)
		goto out;
	if (!json_is_string(json_object_get(reply, "subnet")) ||
	    ov_prefix_parse(json_string_value(json_object_get(reply, "subnet")), &subnet) ||
	    subnet.family != 4 || subnet.len > 30) {
		snprintf(err, errlen, "the leader sent no usable subnet");
		r = -EPROTO;
		goto out;
	}
	json_decref(reply);
	reply = NULL;
	pthread_mutex_lock(&n->lock);
	r = pick_addr(n, &subnet, &addr);
	pthread_mutex_unlock(&n->lock);
	if (r) {
		ov_prefix_format(&subnet, pf);
		snprintf(err, errlen, "subnet %s of service %s is full on this node", pf,
			 q->service);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.service = q->service;
	req.subnet = subnet;
	req.addr = addr;
	/* Dual stack: the IPv6 twins of the subnet and the address (alloc.h). */
	if (ov_prefix_derive6(&n->st.cidr4, &n->st.cidr6, &subnet, &req.subnet6) ||
	    ov_prefix_derive6(&n->st.cidr4, &n->st.cidr6, &addr, &req.addr6)) {
		memset(&req.subnet6, 0, sizeof(req.subnet6));
		memset(&req.addr6, 0, sizeof(req.addr6));
	}
	req.netns_fd = fd;
	req.container = q->container;
	req.mtu = n->st.mtu;
	req.err = why;
	req.errlen = sizeof(why);
	r = ov_attach(&req, &info);
	if (r) {
		snprintf(err, errlen, "attach %s: %s", q->container, why[0] ? why : strerror(-r));
		goto out;
	}
	strcpy(add.service, q->service);
	strcpy(add.container, q->container);
	add.addr = addr;
	add.has_addr = true;
	memcpy(add.ports, q->ports, sizeof(add.ports));
	add.n_ports = q->n_ports;
	r = dmn_cluster_request(n, &add, &reply, err, errlen);
	if (r) {
		ov_detach(q->container);
		goto out;
	}
	gw = host_at(&subnet, 1);
	ov_addr_format(&addr, pf);
	log_info("attached %s to service %s: %s on %s", q->container, q->service, pf, info.bridge);
	*ret = json_pack("{s:o,s:o,s:o,s:s,s:s}", "addr", ov_json_prefix_new(&addr, false), "subnet",
			 ov_json_prefix_new(&subnet, true), "gateway", ov_json_prefix_new(&gw, false), "bridge",
			 info.bridge, "host_veth", info.host_veth);
	if (*ret && req.addr6.family == 6 &&
	    (json_object_set_new(*ret, "addr6", ov_json_prefix_new(&req.addr6, false)) ||
	     json_object_set_new(*ret, "subnet6", ov_json_prefix_new(&req.subnet6, true)))) {
		json_decref(*ret);
		*ret = NULL;
	}
	if (*ret && dns_reply(n, &gw, req.subnet6.family == 6 ? &req.subnet6 : NULL, *ret)) {
		json_decref(*ret);
		*ret = NULL;
	}
	r = *ret ? 0 : -ENOMEM;
out:
	json_decref(reply);
	close(fd);
	pthread_mutex_unlock(&attach_lock);
	return r;
}

int dmn_detach(struct dmn_node *n, const char *container, char *err, size_t errlen)
{
	struct dmn_request del = {.op = DMN_OP_SERVICE_DEL};
	json_t *reply = NULL;
	bool known = false;
	int r, rd;

	pthread_mutex_lock(&attach_lock);
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->view.n_services; i++)
		known |= !strcmp(n->view.services[i].node, n->st.self.name) &&
			 !strcmp(n->view.services[i].container, container);
	pthread_mutex_unlock(&n->lock);
	rd = ov_detach(container);
	if (rd && rd != -ENOENT) {
		snprintf(err, errlen, "detach %s: %s", container, strerror(-rd));
		r = rd;
		goto out;
	}
	if (!known) {
		r = rd == -ENOENT ? -ENOENT : 0;
		if (r)
			snprintf(err, errlen, "no container %s attached on this node", container);
		goto out;
	}
	strcpy(del.container, container);
	r = dmn_cluster_request(n, &del, &reply, err, errlen);
	if (!r)
		log_info("detached %s", container);
out:
	json_decref(reply);
	pthread_mutex_unlock(&attach_lock);
	return r;
}

struct gone_list {
	char (*names)[OV_ALLOC_NAME_MAX + 1];
	size_t n, cap;
};

static void gone_cb(void *ctx, const char *container)
{
	struct gone_list *g = ctx;

	if (g->n < g->cap && strlen(container) <= OV_ALLOC_NAME_MAX)
		strcpy(g->names[g->n++], container);
}

void dmn_attach_sweep(struct dmn_node *n)
{
	struct gone_list g = {.names = NULL, .n = 0, .cap = 0};
	const char **known = NULL;
	char (*names)[OV_ALLOC_NAME_MAX + 1] = NULL;
	size_t count = 0;

	pthread_mutex_lock(&attach_lock);
	pthread_mutex_lock(&n->lock);
	names = calloc(n->view.n_services + 1, sizeof(*names));
	known = calloc(n->view.n_services + 1, sizeof(*known));
	for (size_t i = 0; names && known && i < n->view.n_services; i++)
		if (!strcmp(n->view.services[i].node, n->st.self.name)) {
			strcpy(names[count], n->view.services[i].container);
			known[count] = names[count];
			count++;
		}
	pthread_mutex_unlock(&n->lock);
	g.cap = count + 64;
	g.names = calloc(g.cap, sizeof(*g.names));
	if (names && known && g.names)
		ov_attach_sweep(known, count, gone_cb, &g);
	pthread_mutex_unlock(&attach_lock);
	for (size_t i = 0; i < g.n; i++) {
		struct dmn_request del = {.op = DMN_OP_SERVICE_DEL};
		char err[256];
		json_t *reply = NULL;
		bool ours = false;

		for (size_t k = 0; k < count; k++)
			ours |= !strcmp(names[k], g.names[i]);
		if (!ours)
			continue; /* a leftover veth the sweep deleted; no record to drop */
		strcpy(del.container, g.names[i]);
		log_info("container %s is gone: detaching it", g.names[i]);
		if (dmn_cluster_request(n, &del, &reply, err, sizeof(err)))
			log_info("detaching %s: %s (will retry)", g.names[i], err);
		json_decref(reply);
	}
	free(g.names);
	free(names);
	free(known);
}

/* SPDX-License-Identifier: MIT */
/*
 * overlay/attach — per-service bridges and container veths on this node; see attach.h for
 * the topology, the names, and the policies (idempotence, detach, sweep, forwarding).
 *
 * Must not: log, touch a link whose kind or alias says it is not ours, leave a half-built
 * attachment behind after a failed call, or change the calling thread's namespace.
 */
#include "overlay/attach.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "platform/container.h"
#include "platform/netif.h"

#define BRIDGE_ALIAS_PFX "weft-bridge "
#define VETH_ALIAS_PFX	 "weft-attach "

enum {
	VETH_HASH_DIGITS = 13, /* "wv" + 13 = 15 */
};

/* Every entry point holds it: attach, detach and sweep see each other's work whole. */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- names ---- */

bool ov_attach_container_valid(const char *id)
{
	size_t n, i;

	if (!id)
		return false;
	n = strnlen(id, OV_ATTACH_CONTAINER_MAX + 1);
	if (n == 0 || n > OV_ATTACH_CONTAINER_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

int ov_attach_bridge_name(const char *service, char out[static OV_ATTACH_IFNAME_MAX])
{
	uint64_t h;
	size_t n;

	if (!service || !ov_alloc_name_valid(service))
		return -EINVAL;
	n = strlen(service);
	if (n <= OV_ATTACH_BRIDGE_SHORT_MAX) {
		snprintf(out, OV_ATTACH_IFNAME_MAX, OV_ATTACH_BRIDGE_PREFIX "%s", service);
		return 0;
	}
	h = ov_alloc_fnv1a64(OV_FNV1A64_INIT, service, n);
	snprintf(out, OV_ATTACH_IFNAME_MAX, OV_ATTACH_BRIDGE_PREFIX "%.4s_%07x", service,
		 (unsigned)(h >> 36));
	return 0;
}

int ov_attach_veth_name(const char *container, char out[static OV_ATTACH_IFNAME_MAX])
{
	uint64_t h;

	if (!ov_attach_container_valid(container))
		return -EINVAL;
	h = ov_alloc_fnv1a64(OV_FNV1A64_INIT, container, strlen(container));
	snprintf(out, OV_ATTACH_IFNAME_MAX, "wv%013llx", (unsigned long long)(h >> 12));
	return 0;
}

/* "wv" and 13 lower-case hex digits: a name ov_attach_veth_name can produce. */
static bool veth_name_shape(const char *name)
{
	size_t i;

	if (strncmp(name, "wv", 2) || strlen(name) != 2 + VETH_HASH_DIGITS)
		return false;
	for (i = 2; name[i]; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	}
	return true;
}

int ov_attach_alias_parse(const char *alias, struct ov_attach_owner *ret)
{
	struct ov_attach_owner own;
	const char *s, *sp;
	size_t n;

	if (!alias || strncmp(alias, VETH_ALIAS_PFX, strlen(VETH_ALIAS_PFX)))
		return -EINVAL;
	s = alias + strlen(VETH_ALIAS_PFX);
	sp = strchr(s, ' ');
	if (!sp)
		return -EINVAL;
	n = (size_t)(sp - s);
	if (n == 0 || n > OV_ALLOC_NAME_MAX)
		return -EINVAL;
	memcpy(own.service, s, n);
	own.service[n] = '\0';
	if (!ov_alloc_name_valid(own.service) || !ov_attach_container_valid(sp + 1))
		return -EINVAL;
	snprintf(own.container, sizeof(own.container), "%s", sp + 1);
	*ret = own;
	return 0;
}

int ov_attach_alias_format(const char *service, const char *container,
			   char out[static OV_ATTACH_ALIAS_MAX])
{
	if (!service || !ov_alloc_name_valid(service) || !ov_attach_container_valid(container))
		return -EINVAL;
	snprintf(out, OV_ATTACH_ALIAS_MAX, VETH_ALIAS_PFX "%s %s", service, container);
	return 0;
}

/* ---- error text ---- */

static int fail(const struct ov_attach_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(const struct ov_attach_req *r, int code, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	if (r->err && r->errlen) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(r->err, r->errlen, "%s: %s", what, strerror(-code));
	}
	return code;
}

/* ---- checking the request ---- */

static uint32_t v4(const struct ov_prefix *p)
{
	return get_be32(p->addr);
}

static struct plat_addr plat_v4(uint32_t a, uint8_t prefix)
{
	struct plat_addr pa = {.family = WG_AF_INET, .addr = {0}, .prefix = prefix};

	put_be32(pa.addr, a);
	return pa;
}

/* IPv6: the subnet's first host (the gateway) and last address, as IPv4's. */
static void v6_edges(const struct ov_prefix *net, uint8_t first[16], uint8_t last[16])
{
	memcpy(first, net->addr, 16);
	memcpy(last, net->addr, 16);
	for (int b = net->len; b < 128; b++)
		last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
	for (int i = 15; i >= 0 && ++first[i] == 0; i--)
		;
}

static int check_req6(const struct ov_attach_req *r)
{
	char s[OV_PREFIX_STRLEN];
	uint8_t gw[16], last[16];

	if (!r->subnet6.family && !r->addr6.family)
		return 0;
	ov_prefix_format(&r->subnet6, s);
	if (r->subnet6.family != 6 || r->subnet6.len > 126 || !ov_prefix_is_network(&r->subnet6))
		return fail(r, -EINVAL, "subnet6 %s: not an IPv6 network of /126 or larger", s);
	ov_prefix_format(&r->addr6, s);
	if (r->addr6.family != 6 || (r->addr6.len != 128 && r->addr6.len != r->subnet6.len) ||
	    !ov_prefix_contains(&r->subnet6, &r->addr6))
		return fail(r, -EINVAL, "address %s: not inside subnet6", s);
	v6_edges(&r->subnet6, gw, last);
	if (!memcmp(r->addr6.addr, r->subnet6.addr, 16) || !memcmp(r->addr6.addr, gw, 16) ||
	    !memcmp(r->addr6.addr, last, 16))
		return fail(r, -EINVAL, "address %s: the subnet's network, gateway or last", s);
	return 0;
}

static int check_req(const struct ov_attach_req *r, uint32_t *ret_gw)
{
	char s[OV_PREFIX_STRLEN];
	uint32_t net, bcast, a;
	int rc;

	if (!r->service || !ov_alloc_name_valid(r->service))
		return fail(r, -EINVAL, "service: not a DNS label of [a-z0-9-]");
	if (!ov_attach_container_valid(r->container))
		return fail(r, -EINVAL, "container: not 1..%d of [A-Za-z0-9_.-]",
			    OV_ATTACH_CONTAINER_MAX);
	if (r->subnet.family == 6 || r->addr.family == 6)
		return fail(r, -EAFNOSUPPORT, "subnet: IPv6 service subnets");
	rc = check_req6(r);
	if (rc < 0)
		return rc;
	ov_prefix_format(&r->subnet, s);
	if (r->subnet.family != 4 || r->subnet.len > 30 || !ov_prefix_is_network(&r->subnet))
		return fail(r, -EINVAL, "subnet %s: not an IPv4 network of /30 or larger", s);
	ov_prefix_format(&r->addr, s);
	if (r->addr.family != 4 || (r->addr.len != 32 && r->addr.len != r->subnet.len) ||
	    !ov_prefix_contains(&r->subnet, &r->addr))
		return fail(r, -EINVAL, "address %s: not inside the subnet", s);
	net = v4(&r->subnet);
	bcast = net | (uint32_t)(0xffffffffULL >> r->subnet.len);
	a = v4(&r->addr);
	if (a == net || a == net + 1 || a == bcast)
		return fail(r, -EINVAL, "address %s: the subnet's %s", s,
			    a == net	 ? "network address"
			    : a == bcast ? "broadcast"
					 : "gateway");
	if (r->mtu < OV_ATTACH_MTU_MIN || r->mtu > OV_ATTACH_MTU_MAX)
		return fail(r, -EINVAL, "mtu %u: outside %d..%d", r->mtu, OV_ATTACH_MTU_MIN,
			    OV_ATTACH_MTU_MAX);
	rc = plat_ctr_netns_is_self(r->netns_fd);
	if (rc < 0)
		return fail(r, rc, "netns_fd %d: not a network namespace", r->netns_fd);
	if (rc == 1)
		return fail(r, -EINVAL, "netns_fd %d: the daemon's own network namespace",
			    r->netns_fd);
	*ret_gw = net + 1;
	return 0;
}

/* ---- the bridge ---- */

struct v4_check {
	struct plat_addr want;
	struct plat_addr other;
	bool found_other;
};

static int v4_check_cb(void *ctx, const struct plat_addr *a)
{
	struct v4_check *c = ctx;

	if (a->family != WG_AF_INET)
		return 0;
	if (a->prefix == c->want.prefix && !memcmp(a->addr, c->want.addr, 4))
		return 0;
	c->other = *a;
	c->found_other = true;
	return 1;
}

static int bridge_ensure(const struct ov_attach_req *r, uint32_t gw, struct ov_attach_info *info)
{
	char alias[PLAT_CTR_ALIAS_MAX];
	struct plat_ctr_link l;
	struct v4_check vc = {.want = plat_v4(gw, r->subnet.len), .found_other = false};
	const char *br = info->bridge;
	int rc, idx;

	snprintf(alias, sizeof(alias), BRIDGE_ALIAS_PFX "%s", r->service);
	rc = plat_ctr_link_get(0, br, &l);
	if (rc == -ENODEV) {
		rc = plat_ctr_bridge_create(br, r->mtu, &idx);
		if (rc < 0)
			return fail(r, rc, "bridge %s: create", br);
		info->bridge_created = true;
		rc = plat_ctr_set_alias(idx, alias);
		if (rc < 0) {
			fail(r, rc, "bridge %s: set alias", br);
			goto undo;
		}
	} else if (rc < 0) {
		return fail(r, rc, "bridge %s: look up", br);
	} else {
		idx = l.ifindex;
		if (strcmp(l.kind, "bridge"))
			return fail(r, -EEXIST, "bridge %s: the name is taken by a %s link", br,
				    l.kind[0] ? l.kind : "kind-less");
		if (l.alias[0] && strcmp(l.alias, alias))
			return fail(r, -EEXIST,
				    "bridge %s: belongs to someone else (alias \"%.64s\")", br,
				    l.alias);
		if (!l.alias[0]) {
			/* Ours, left unlabelled by a crash right after creating it. */
			rc = plat_ctr_set_alias(idx, alias);
			if (rc < 0)
				return fail(r, rc, "bridge %s: set alias", br);
		}
		rc = plat_netif_list_addresses(idx, v4_check_cb, &vc);
		if (rc < 0)
			return fail(r, rc, "bridge %s: list addresses", br);
		if (vc.found_other) {
			char have[OV_PREFIX_STRLEN];
			struct ov_prefix p = {.family = 4, .addr = {0}, .len = vc.other.prefix};

			memcpy(p.addr, vc.other.addr, 4);
			ov_prefix_format(&p, have);
			return fail(r, -EADDRINUSE, "bridge %s: holds %s, another subnet", br,
				    have);
		}
	}
	rc = plat_netif_add_address(idx, &vc.want);
	if (rc < 0) {
		fail(r, rc, "bridge %s: add gateway address", br);
		goto undo;
	}
	if (r->subnet6.family == 6) {
		struct plat_addr gw6 = {.family = WG_AF_INET6, .prefix = r->subnet6.len};
		uint8_t last[16];

		v6_edges(&r->subnet6, gw6.addr, last);
		rc = plat_ctr_add_address_nodad(idx, &gw6);
		if (rc < 0) {
			fail(r, rc, "bridge %s: add IPv6 gateway address", br);
			goto undo;
		}
	}
	rc = plat_netif_set_up(idx, true);
	if (rc < 0) {
		fail(r, rc, "bridge %s: set up", br);
		goto undo;
	}
	info->bridge_ifindex = idx;
	return 0;
undo:
	if (info->bridge_created)
		plat_netif_del_link(idx);
	info->bridge_created = false;
	return rc;
}

/* ---- inside the container ---- */

struct inside {
	const struct ov_attach_req *r;
	int ifindex; /* eth0, as the host veth's peer index */
	uint32_t gw;
	const char *step; /* on failure */
};

static int inside_setup(void *ctx)
{
	struct inside *in = ctx;
	const struct ov_attach_req *r = in->r;
	struct plat_addr a = plat_v4(v4(&r->addr), r->subnet.len);
	struct plat_addr any = plat_v4(0, 0), gw = plat_v4(in->gw, 32);
	int rc, lo;

	in->step = "add address to " OV_ATTACH_CONTAINER_IFNAME;
	rc = plat_netif_add_address(in->ifindex, &a);
	if (rc < 0)
		return rc;
	in->step = "set " OV_ATTACH_CONTAINER_IFNAME " up";
	rc = plat_netif_set_up(in->ifindex, true);
	if (rc < 0)
		return rc;
	in->step = "set lo up";
	lo = plat_netif_index("lo");
	if (lo < 0)
		return lo;
	rc = plat_netif_set_up(lo, true);
	if (rc < 0)
		return rc;
	in->step = "add the default route via the gateway (is there one already?)";
	rc = plat_ctr_add_gateway_route(in->ifindex, &any, &gw, 0);
	if (rc < 0 || r->subnet6.family != 6)
		return rc;
	{
		struct plat_addr a6 = {.family = WG_AF_INET6, .prefix = r->subnet6.len};
		struct plat_addr any6 = {.family = WG_AF_INET6, .prefix = 0};
		struct plat_addr gw6 = {.family = WG_AF_INET6, .prefix = 128};
		uint8_t last[16];

		memcpy(a6.addr, r->addr6.addr, 16);
		v6_edges(&r->subnet6, gw6.addr, last);
		in->step = "add IPv6 address to " OV_ATTACH_CONTAINER_IFNAME;
		rc = plat_ctr_add_address_nodad(in->ifindex, &a6);
		if (rc < 0)
			return rc;
		in->step = "add the IPv6 default route via the gateway (is there one already?)";
		return plat_ctr_add_gateway_route(in->ifindex, &any6, &gw6, 0);
	}
}

/* ---- attach ---- */

static int attach_locked(const struct ov_attach_req *r, struct ov_attach_info *info)
{
	char alias[PLAT_CTR_ALIAS_MAX];
	struct plat_ctr_link l;
	struct ov_attach_owner own;
	struct inside in = {.r = r, .ifindex = 0, .gw = 0, .step = NULL};
	struct plat_ctr_veth v;
	const char *vn = info->host_veth;
	int rc, host = 0;

	rc = check_req(r, &in.gw);
	if (rc < 0)
		return rc;
	ov_attach_bridge_name(r->service, info->bridge);
	ov_attach_veth_name(r->container, info->host_veth);
	snprintf(info->service, sizeof(info->service), "%s", r->service);

	/* The veth name first: an attached container must not touch the bridge at all. */
	rc = plat_ctr_link_get(0, vn, &l);
	if (rc == 0) {
		if (strcmp(l.kind, "veth"))
			return fail(r, -EEXIST, "veth %s: the name is taken by a %s link", vn,
				    l.kind[0] ? l.kind : "kind-less");
		if (ov_attach_alias_parse(l.alias, &own) == 0 &&
		    !strcmp(own.container, r->container))
			return fail(r, -EEXIST, "container %s: attached already (service %s)",
				    r->container, own.service);
		if (l.alias[0])
			return fail(r, -EEXIST,
				    "veth %s: belongs to someone else (alias \"%.64s\")", vn,
				    l.alias);
		/* Ours, from a crash between creating and labelling it. */
		rc = plat_netif_del_link(l.ifindex);
		if (rc < 0 && rc != -ENODEV)
			return fail(r, rc, "veth %s: delete an unlabelled leftover", vn);
	} else if (rc != -ENODEV) {
		return fail(r, rc, "veth %s: look up", vn);
	}

	rc = bridge_ensure(r, in.gw, info);
	if (rc < 0)
		return rc;

	ov_attach_alias_format(r->service, r->container, alias);
	v = (struct plat_ctr_veth){
		.name = vn,
		.peer = OV_ATTACH_CONTAINER_IFNAME,
		.peer_netns_fd = r->netns_fd,
		.master = info->bridge_ifindex,
		.mtu = r->mtu,
		.alias = alias,
	};
	rc = plat_ctr_veth_create(&v, &host);
	if (rc == -EEXIST) {
		fail(r, rc,
		     "veth %s: create (" OV_ATTACH_CONTAINER_IFNAME " exists in the container?)",
		     vn);
		goto undo;
	}
	if (rc < 0) {
		fail(r, rc, "veth %s: create with its peer in the container", vn);
		goto undo;
	}
	rc = plat_ctr_link_get(host, NULL, &l);
	if (rc == 0 && l.peer != PLAT_CTR_PEER_OTHER)
		rc = -EPROTO;
	if (rc < 0) {
		fail(r, rc, "veth %s: find its peer", vn);
		goto undo;
	}
	in.ifindex = l.peer_ifindex;
	rc = plat_netif_set_up(host, true);
	if (rc < 0) {
		fail(r, rc, "veth %s: set up", vn);
		goto undo;
	}
	rc = plat_ctr_netns_run(r->netns_fd, inside_setup, &in);
	if (rc < 0) {
		fail(r, rc, "container %s: %s", r->container,
		     in.step ? in.step : "enter namespace");
		goto undo;
	}
	rc = plat_ctr_ipv4_forwarding(true);
	if (rc < 0) {
		fail(r, rc, "turn on IPv4 forwarding");
		goto undo;
	}
	rc = r->subnet6.family == 6 ? plat_ctr_ipv6_forwarding(true) : 0;
	if (rc < 0) {
		fail(r, rc, "turn on IPv6 forwarding");
		goto undo;
	}
	info->host_ifindex = host;
	info->container_ifindex = in.ifindex;
	return 0;
undo:
	if (host > 0)
		plat_netif_del_link(host); /* eth0 goes with it */
	if (info->bridge_created)
		plat_netif_del_link(info->bridge_ifindex);
	return rc;
}

int ov_attach(const struct ov_attach_req *r, struct ov_attach_info *ret)
{
	struct ov_attach_info info;
	int rc;

	if (!r)
		return -EINVAL;
	if (r->err && r->errlen)
		r->err[0] = '\0';
	memset(&info, 0, sizeof(info));
	pthread_mutex_lock(&attach_lock);
	rc = attach_locked(r, &info);
	pthread_mutex_unlock(&attach_lock);
	if (rc < 0)
		return rc;
	if (ret)
		*ret = info;
	return 0;
}

/* ---- lookup and detach ---- */

/* Our host veth of the container: 0 and *l, -ENOENT, -EINVAL, -errno. */
static int find_veth(const char *container, struct plat_ctr_link *l, struct ov_attach_owner *own)
{
	char vn[OV_ATTACH_IFNAME_MAX];
	int rc;

	if (ov_attach_veth_name(container, vn) < 0)
		return -EINVAL;
	rc = plat_ctr_link_get(0, vn, l);
	if (rc == -ENODEV)
		return -ENOENT;
	if (rc < 0)
		return rc;
	if (strcmp(l->kind, "veth") || ov_attach_alias_parse(l->alias, own) < 0 ||
	    strcmp(own->container, container))
		return -ENOENT;
	return 0;
}

static int lookup_locked(const char *container, struct ov_attach_info *ret)
{
	struct ov_attach_info info;
	struct plat_ctr_link l, br;
	struct ov_attach_owner own;
	int rc;

	rc = find_veth(container, &l, &own);
	if (rc < 0)
		return rc;
	memset(&info, 0, sizeof(info));
	snprintf(info.service, sizeof(info.service), "%s", own.service);
	snprintf(info.host_veth, sizeof(info.host_veth), "%s", l.name);
	info.host_ifindex = l.ifindex;
	info.container_ifindex = l.peer == PLAT_CTR_PEER_OTHER ? l.peer_ifindex : 0;
	if (l.master > 0 && plat_ctr_link_get(l.master, NULL, &br) == 0) {
		snprintf(info.bridge, sizeof(info.bridge), "%s", br.name);
		info.bridge_ifindex = br.ifindex;
	}
	*ret = info;
	return 0;
}

int ov_attach_lookup(const char *container, struct ov_attach_info *ret)
{
	int rc;

	if (!ret)
		return -EINVAL;
	pthread_mutex_lock(&attach_lock);
	rc = lookup_locked(container, ret);
	pthread_mutex_unlock(&attach_lock);
	return rc;
}

int ov_attach_netns_open(const char *path, char *err, size_t errlen)
{
	int fd = plat_ctr_netns_open(path);

	if (fd >= 0)
		return fd;
	if (err && errlen) {
		if (fd == -EINVAL)
			snprintf(err, errlen, "not a network namespace: %s", path ? path : "");
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-fd));
	}
	return fd;
}

int ov_detach(const char *container)
{
	struct plat_ctr_link l;
	struct ov_attach_owner own;
	int rc;

	pthread_mutex_lock(&attach_lock);
	rc = find_veth(container, &l, &own);
	if (rc == 0) {
		rc = plat_netif_del_link(l.ifindex);
		if (rc == -ENODEV) /* its namespace died just now: gone all the same */
			rc = -ENOENT;
	}
	pthread_mutex_unlock(&attach_lock);
	return rc;
}

/* ---- sweep ---- */

struct sweep {
	void (*gone)(void *ctx, const char *container);
	void *ctx;
	int count;
};

static int sweep_cb(void *ctx, const struct plat_ctr_link *l)
{
	struct sweep *s = ctx;
	struct ov_attach_owner own;
	bool ours, dead;
	int rc;

	if (strcmp(l->kind, "veth") || !veth_name_shape(l->name))
		return 0;
	ours = ov_attach_alias_parse(l->alias, &own) == 0;
	if (!ours && l->alias[0])
		return 0; /* someone else's */
	if (ours) {
		char vn[OV_ATTACH_IFNAME_MAX];

		/* An alias copied onto another link does not make it ours. */
		ov_attach_veth_name(own.container, vn);
		if (strcmp(vn, l->name))
			return 0;
	}
	dead = l->peer != PLAT_CTR_PEER_OTHER;
	if (ours && !dead)
		return 0;
	rc = plat_netif_del_link(l->ifindex);
	if (rc < 0 && rc != -ENODEV)
		return rc;
	if (ours) {
		if (s->gone)
			s->gone(s->ctx, own.container);
		s->count++;
	}
	return 0;
}

int ov_attach_sweep(const char *const *known, size_t n_known,
		    void (*gone)(void *ctx, const char *container), void *ctx)
{
	struct sweep s = {.gone = gone, .ctx = ctx, .count = 0};
	struct plat_ctr_link l;
	struct ov_attach_owner own;
	size_t i;
	int rc = 0;

	if (n_known && !known)
		return -EINVAL;
	pthread_mutex_lock(&attach_lock);
	for (i = 0; i < n_known; i++) {
		if (!ov_attach_container_valid(known[i]))
			continue; /* never attached: nothing to report */
		rc = find_veth(known[i], &l, &own);
		if (rc == -ENOENT) {
			if (gone)
				gone(ctx, known[i]);
			s.count++;
		} else if (rc < 0) {
			goto out;
		}
	}
	rc = plat_ctr_link_list(sweep_cb, &s);
out:
	pthread_mutex_unlock(&attach_lock);
	return rc < 0 ? rc : s.count;
}

/* ---- bridge removal ---- */

struct ports {
	int bridge;
	int n;
};

static int ports_cb(void *ctx, const struct plat_ctr_link *l)
{
	struct ports *p = ctx;

	if (l->master == p->bridge)
		p->n++;
	return 0;
}

int ov_attach_bridge_remove(const char *service)
{
	char br[OV_ATTACH_IFNAME_MAX], alias[PLAT_CTR_ALIAS_MAX];
	struct plat_ctr_link l;
	struct ports p = {.bridge = 0, .n = 0};
	int rc;

	if (ov_attach_bridge_name(service, br) < 0)
		return -EINVAL;
	snprintf(alias, sizeof(alias), BRIDGE_ALIAS_PFX "%s", service);
	pthread_mutex_lock(&attach_lock);
	rc = plat_ctr_link_get(0, br, &l);
	if (rc == -ENODEV || (rc == 0 && (strcmp(l.kind, "bridge") || strcmp(l.alias, alias))))
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	p.bridge = l.ifindex;
	rc = plat_ctr_link_list(ports_cb, &p);
	if (rc < 0)
		goto out;
	if (p.n) {
		rc = -EBUSY;
		goto out;
	}
	rc = plat_netif_del_link(l.ifindex);
	if (rc == -ENODEV)
		rc = -ENOENT;
out:
	pthread_mutex_unlock(&attach_lock);
	return rc;
}

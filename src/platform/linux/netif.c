/* SPDX-License-Identifier: MIT */
/*
 * Linux interface configuration over rtnetlink (libmnl). Each call opens its own
 * NETLINK_ROUTE socket, sends one request with NLM_F_ACK (dumps end with NLMSG_DONE instead)
 * and reads replies until the ack, so a kernel refusal comes back as -errno and no state is
 * shared between calls or threads.
 *
 * Must not: shell out to ip(8), touch another namespace, log, or keep a socket open between
 * calls (only the monitor owns one).
 */
#include "platform/netif.h"
#include "platform/linux/rtnl.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

enum {
	NL_REQ_SIZE = 1024,	    /* the largest request we build is ~100 bytes */
	NL_RECV_SIZE = 32768,	    /* the kernel sizes dump skbs up to 32 KiB */
	NL_DUMP_RETRIES = 5,	    /* NLM_F_DUMP_INTR: the table changed under the dump */
	MONITOR_RCVBUF = 256 << 10, /* link events of a busy host between two reads */
	ADDRS_MAX = 4096,	    /* addresses collected from one link */
	IPV6_DEFAULT_METRIC = 1024, /* IP6_RT_PRIO_USER: what the kernel uses for metric 0 */
};

/* ---- request/reply plumbing ---- */

static unsigned next_seq(void)
{
	/* Only has to differ from the previous request on the same socket; each socket is new. */
	return (unsigned)time(NULL);
}

static struct mnl_socket *nl_open(unsigned groups, int sock_flags)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | sock_flags);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(nl);
		errno = e;
		return NULL;
	}
	return nl;
}

/*
 * Send nlh (type, flags and body already filled in) and feed every reply to cb until the
 * kernel acks, ends the dump, or cb stops. 0 or -errno (a kernel NLMSG_ERROR, a cb error,
 * -EINTR for an interrupted dump).
 */
static int nl_request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_socket *nl;
	unsigned portid, seq;
	char *buf;
	ssize_t n;
	int r;

	buf = malloc(NL_RECV_SIZE);
	if (!buf)
		return -ENOMEM;
	nl = nl_open(0, 0);
	if (!nl) {
		r = -errno;
		goto out_free;
	}
	portid = mnl_socket_get_portid(nl);
	seq = next_seq();
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, NL_RECV_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r < 0) {
			r = errno ? -errno : -EPROTO;
			goto out;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			goto out;
		}
	}
out:
	mnl_socket_close(nl);
out_free:
	free(buf);
	return r;
}

/* A dump, restarted when the kernel flags it as interrupted. cb must tolerate a restart. */
static int nl_dump(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, void (*reset)(void *data))
{
	int r, tries;

	for (tries = 0; tries < NL_DUMP_RETRIES; tries++) {
		if (reset)
			reset(data);
		r = nl_request(nlh, cb, data);
		if (r != -EINTR)
			return r;
	}
	return -EAGAIN;
}

static struct nlmsghdr *put_header(char *req, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(req, 0, NL_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* ---- links ---- */

struct link_info {
	int index;
	unsigned flags; /* IFF_* */
	unsigned mtu;
	char kind[PLAT_NETIF_KIND_MAX];
	size_t kind_len; /* strlen of the kernel's kind, which may exceed the copy */
	int64_t tun_queues; /* IFLA_TUN_NUM_QUEUES + IFLA_TUN_NUM_DISABLED_QUEUES, or -1 */
};

static int tun_data_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type != IFLA_TUN_NUM_QUEUES && type != IFLA_TUN_NUM_DISABLED_QUEUES)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	li->tun_queues = (li->tun_queues < 0 ? 0 : li->tun_queues) + mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int linkinfo_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;
	const char *kind;

	if (mnl_attr_get_type(a) == IFLA_INFO_DATA) {
		/* Its layout depends on the kind, which the kernel puts first. */
		if (strcmp(li->kind, "tun"))
			return MNL_CB_OK;
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		return mnl_attr_parse_nested(a, tun_data_attr_cb, li);
	}
	if (mnl_attr_get_type(a) != IFLA_INFO_KIND)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
		return MNL_CB_ERROR;
	kind = mnl_attr_get_str(a);
	li->kind_len = strnlen(kind, mnl_attr_get_payload_len(a));
	/* A kind too long for us stays "" here; plat_netif_kind reports -ENOSPC from kind_len. */
	if (li->kind_len < sizeof(li->kind)) {
		memcpy(li->kind, kind, li->kind_len);
		li->kind[li->kind_len] = '\0';
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		li->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		return mnl_attr_parse_nested(a, linkinfo_attr_cb, li);
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	ifi = mnl_nlmsg_get_payload(nlh);
	li->index = ifi->ifi_index;
	li->flags = ifi->ifi_flags;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, li);
}

/* Look a link up by index (name NULL) or by name. 0, -ENODEV or -errno. */
static int link_get(int ifindex, const char *name, struct link_info *ret)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct link_info li = {.tun_queues = -1};
	int r;

	nlh = put_header(req, RTM_GETLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = name ? 0 : ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* Stats and VF info would only make the reply bigger. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_request(nlh, link_cb, &li);
	if (r < 0)
		return r;
	if (li.index <= 0)
		return -ENODEV;
	*ret = li;
	return 0;
}

/* link_get by ifindex; -ENODEV for one no link can have. */
static int link_by_index(int ifindex, struct link_info *ret)
{
	return ifindex > 0 ? link_get(ifindex, NULL, ret) : -ENODEV;
}

int plat_netif_index(const char *name)
{
	struct link_info li;
	size_t n;
	int r;

	/* No link can have such a name; don't let the kernel read it as "any link". */
	if (!name)
		return -ENODEV;
	n = strnlen(name, IFNAMSIZ);
	if (n == 0 || n >= IFNAMSIZ)
		return -ENODEV;
	r = link_get(0, name, &li);
	if (r < 0)
		return r;
	return li.index;
}

int plat_netif_kind(int ifindex, char *kind, size_t len)
{
	struct link_info li;
	int r;

	if (!kind)
		return ifindex > 0 ? -EINVAL : -ENODEV;
	r = link_by_index(ifindex, &li);
	if (r < 0)
		return r;
	if (li.kind_len >= len || li.kind_len >= sizeof(li.kind))
		return -ENOSPC;
	memcpy(kind, li.kind, li.kind_len + 1);
	return 0;
}

int rtnl_tun_queues(int ifindex)
{
	struct link_info li;
	int r;

	r = link_by_index(ifindex, &li);
	if (r < 0)
		return r;
	if (strcmp(li.kind, "tun") || li.tun_queues < 0)
		return -EOPNOTSUPP;
	return li.tun_queues > INT_MAX ? INT_MAX : (int)li.tun_queues;
}

static int link_set(int ifindex, unsigned change, unsigned flags, unsigned mtu)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	nlh = put_header(req, RTM_NEWLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_change = change;
	ifi->ifi_flags = flags;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_request(nlh, NULL, NULL);
}

int plat_netif_set_up(int ifindex, bool up)
{
	if (ifindex <= 0)
		return -ENODEV;
	return link_set(ifindex, IFF_UP, up ? IFF_UP : 0, 0);
}

int plat_netif_is_up(int ifindex)
{
	struct link_info li;
	int r;

	r = link_by_index(ifindex, &li);
	if (r < 0)
		return r;
	return !!(li.flags & IFF_UP);
}

int plat_netif_set_mtu(int ifindex, unsigned mtu)
{
	if (ifindex <= 0)
		return -ENODEV;
	if (mtu == 0 || mtu > INT_MAX)
		return -EINVAL;
	return link_set(ifindex, 0, 0, mtu);
}

int plat_netif_get_mtu(int ifindex)
{
	struct link_info li;
	int r;

	r = link_by_index(ifindex, &li);
	if (r < 0)
		return r;
	if (li.mtu == 0 || li.mtu > INT_MAX)
		return -EPROTO;
	return (int)li.mtu;
}

int plat_netif_del_link(int ifindex)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (ifindex <= 0)
		return -ENODEV;
	nlh = put_header(req, RTM_DELLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nl_request(nlh, NULL, NULL);
}

/* ---- addresses ---- */

/* Kernel family and address length of a, or -EINVAL. */
static int addr_check(const struct plat_addr *a, int *ret_af, size_t *ret_len)
{
	if (!a)
		return -EINVAL;
	if (a->family == WG_AF_INET && a->prefix <= 32) {
		*ret_af = AF_INET;
		*ret_len = 4;
		return 0;
	}
	if (a->family == WG_AF_INET6 && a->prefix <= 128) {
		*ret_af = AF_INET6;
		*ret_len = 16;
		return 0;
	}
	return -EINVAL;
}

static void addr_mask(uint8_t *addr, size_t len, unsigned prefix)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00 >> prefix);
		prefix = 0;
	}
}

struct addr_list {
	int ifindex;
	struct plat_addr *v;
	size_t n, cap;
	int err;
};

static int addr_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == IFA_ADDRESS || type == IFA_LOCAL)
		tb[type] = a;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_list *l = data;
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	struct plat_addr pa = {0};
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	ifa = mnl_nlmsg_get_payload(nlh);
	if ((int)ifa->ifa_index != l->ifindex)
		return MNL_CB_OK;
	if (ifa->ifa_family == AF_INET) {
		pa.family = WG_AF_INET;
		len = 4;
	} else if (ifa->ifa_family == AF_INET6) {
		pa.family = WG_AF_INET6;
		len = 16;
	} else {
		return MNL_CB_OK;
	}
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	/* On a point-to-point link IFA_ADDRESS is the peer; IFA_LOCAL is ours (IPv4 only). */
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!at || mnl_attr_get_payload_len(at) != len)
		return MNL_CB_OK;
	memcpy(pa.addr, mnl_attr_get_payload(at), len);
	pa.prefix = ifa->ifa_prefixlen;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct plat_addr *v;

		if (l->n >= ADDRS_MAX) {
			errno = E2BIG;
			return MNL_CB_ERROR;
		}
		v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = pa;
	return MNL_CB_OK;
}

static void addr_list_reset(void *data)
{
	struct addr_list *l = data;

	l->n = 0;
}

/* Collect the link's addresses into l (caller frees l->v). 0 or -errno. */
static int addr_collect(int ifindex, struct addr_list *l)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	struct link_info li;
	int r;

	memset(l, 0, sizeof(*l));
	l->ifindex = ifindex;
	/* A dump of a missing link is just empty; say so instead. */
	r = link_get(ifindex, NULL, &li);
	if (r < 0)
		return r;
	nlh = put_header(req, RTM_GETADDR, NLM_F_DUMP);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	r = nl_dump(nlh, addr_cb, l, addr_list_reset);
	if (r < 0) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
	return r;
}

static bool addr_equal(const struct plat_addr *a, const struct plat_addr *b)
{
	size_t len = a->family == WG_AF_INET ? 4 : 16;

	return a->family == b->family && a->prefix == b->prefix && !memcmp(a->addr, b->addr, len);
}

int plat_netif_list_addresses(int ifindex, int (*fn)(void *ctx, const struct plat_addr *a),
			      void *ctx)
{
	struct addr_list l;
	size_t i;
	int r;

	if (ifindex <= 0)
		return -ENODEV;
	if (!fn)
		return -EINVAL;
	/* Collect first, call later: fn may then use netlink itself, and a restarted dump
	 * never shows it an address twice. */
	r = addr_collect(ifindex, &l);
	if (r < 0)
		return r;
	for (i = 0; i < l.n; i++) {
		r = fn(ctx, &l.v[i]);
		if (r)
			break;
	}
	free(l.v);
	return r;
}

static int addr_change(uint16_t type, uint16_t flags, int ifindex, const struct plat_addr *a)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t len;
	int af, r;

	if (ifindex <= 0)
		return -ENODEV;
	r = addr_check(a, &af, &len);
	if (r < 0)
		return r;
	nlh = put_header(req, type, NLM_F_ACK | flags);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)af;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_index = (uint32_t)ifindex;
	/* As ip(8) without "peer": local and address both ours, so the prefix route is made. */
	mnl_attr_put(nlh, IFA_LOCAL, len, a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, a->addr);
	return nl_request(nlh, NULL, NULL);
}

int plat_netif_add_address(int ifindex, const struct plat_addr *a)
{
	struct addr_list l;
	size_t i;
	int r;

	r = addr_change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, a);
	if (r != -EEXIST)
		return r;
	/* IPv6 says EEXIST for the same address under another prefix too: only an exact
	 * match is the "already there" success. */
	r = addr_collect(ifindex, &l);
	if (r < 0)
		return r;
	r = -EEXIST;
	for (i = 0; i < l.n; i++) {
		if (addr_equal(&l.v[i], a)) {
			r = 0;
			break;
		}
	}
	free(l.v);
	return r;
}

int plat_netif_del_address(int ifindex, const struct plat_addr *a)
{
	return addr_change(RTM_DELADDR, 0, ifindex, a);
}

/* ---- routes ---- */

struct route_find {
	int family; /* AF_* */
	uint8_t dst[16];
	uint8_t dst_len;
	uint32_t oif;
	uint32_t metric;
	bool found;
};

static int route_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == RTA_DST || type == RTA_OIF || type == RTA_PRIORITY || type == RTA_TABLE)
		tb[type] = a;
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_find *f = data;
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct rtmsg *rtm;
	uint32_t table, metric = 0;
	size_t len = f->family == AF_INET ? 4 : 16;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_family != f->family || rtm->rtm_dst_len != f->dst_len)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	table = rtm->rtm_table;
	if (tb[RTA_TABLE] && mnl_attr_get_payload_len(tb[RTA_TABLE]) == 4)
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != RT_TABLE_MAIN)
		return MNL_CB_OK;
	if (f->dst_len && (!tb[RTA_DST] || mnl_attr_get_payload_len(tb[RTA_DST]) != len ||
			   memcmp(mnl_attr_get_payload(tb[RTA_DST]), f->dst, len)))
		return MNL_CB_OK;
	if (!tb[RTA_OIF] || mnl_attr_get_payload_len(tb[RTA_OIF]) != 4 ||
	    mnl_attr_get_u32(tb[RTA_OIF]) != f->oif)
		return MNL_CB_OK;
	if (tb[RTA_PRIORITY] && mnl_attr_get_payload_len(tb[RTA_PRIORITY]) == 4)
		metric = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	if (metric != f->metric)
		return MNL_CB_OK;
	f->found = true;
	return MNL_CB_STOP;
}

static void route_find_reset(void *data)
{
	struct route_find *f = data;

	f->found = false;
}

/* Does the main table route dst/len through oif with this metric? 1, 0 or -errno. */
static int route_exists(int af, const uint8_t *dst, uint8_t dst_len, int oif, uint32_t metric)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct route_find f = {0};
	int r;

	f.family = af;
	memcpy(f.dst, dst, af == AF_INET ? 4 : 16);
	f.dst_len = dst_len;
	f.oif = (uint32_t)oif;
	f.metric = af == AF_INET6 && metric == 0 ? IPV6_DEFAULT_METRIC : metric;
	nlh = put_header(req, RTM_GETROUTE, NLM_F_DUMP);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)af;
	r = nl_dump(nlh, route_cb, &f, route_find_reset);
	if (r < 0)
		return r;
	return f.found;
}

static int route_change(uint16_t type, uint16_t flags, int ifindex, const struct plat_addr *dst,
			uint32_t metric, uint8_t *ret_dst)
{
	char req[NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	uint8_t addr[16];
	size_t len;
	int af, r;

	if (ifindex <= 0)
		return -ENODEV;
	r = addr_check(dst, &af, &len);
	if (r < 0)
		return r;
	memcpy(addr, dst->addr, len);
	/* IPv4 refuses a destination with host bits set; IPv6 clears them. Be uniform. */
	addr_mask(addr, len, dst->prefix);
	if (ret_dst)
		memcpy(ret_dst, addr, len);

	nlh = put_header(req, type, NLM_F_ACK | flags);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)af;
	rtm->rtm_dst_len = dst->prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_type = RTN_UNICAST;
	if (type == RTM_NEWROUTE) {
		rtm->rtm_protocol = RTPROT_STATIC;
		rtm->rtm_scope = RT_SCOPE_LINK;
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	} else {
		/* Match any protocol and scope, as ip(8) does for "route del". */
		rtm->rtm_protocol = RTPROT_UNSPEC;
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
	}
	if (dst->prefix)
		mnl_attr_put(nlh, RTA_DST, len, addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	r = nl_request(nlh, NULL, NULL);
	return r < 0 ? r : af;
}

int plat_netif_add_route(int ifindex, const struct plat_addr *dst, uint32_t metric)
{
	uint8_t addr[16];
	int r;

	r = route_change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, dst, metric, addr);
	if (r >= 0)
		return 0;
	if (r != -EEXIST)
		return r;
	/* The kernel says EEXIST for the same prefix and metric through any device; only
	 * our own device makes it the idempotent success. */
	r = route_exists(dst->family == WG_AF_INET ? AF_INET : AF_INET6, addr, dst->prefix, ifindex,
			 metric);
	if (r < 0)
		return r;
	return r ? 0 : -EEXIST;
}

int plat_netif_del_route(int ifindex, const struct plat_addr *dst)
{
	int r = route_change(RTM_DELROUTE, 0, ifindex, dst, 0, NULL);

	return r < 0 ? r : 0;
}

/* ---- monitor ---- */

struct plat_netif_monitor {
	struct mnl_socket *nl;
	int ifindex;
	bool up;  /* last administrative state reported or read */
	int mask; /* events gathered during one plat_netif_monitor_read */
	char *buf;
};

static int monitor_cb(const struct nlmsghdr *nlh, void *data)
{
	struct plat_netif_monitor *m = data;
	const struct ifinfomsg *ifi;
	bool up;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	/* AF_BRIDGE messages describe bridge-port state: a DELLINK there is a port leaving a
	 * bridge, not the link going away. */
	if (ifi->ifi_index != m->ifindex || ifi->ifi_family != AF_UNSPEC)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_DELLINK) {
		m->mask |= PLAT_NETIF_EV_DELETED;
		m->up = false;
		return MNL_CB_OK;
	}
	up = ifi->ifi_flags & IFF_UP;
	if (up != m->up)
		m->mask |= up ? PLAT_NETIF_EV_UP : PLAT_NETIF_EV_DOWN;
	m->up = up;
	return MNL_CB_OK;
}

int plat_netif_monitor_open(int ifindex, struct plat_netif_monitor **ret)
{
	struct plat_netif_monitor *m;
	int r, size = MONITOR_RCVBUF;

	if (ifindex <= 0)
		return -ENODEV;
	if (!ret)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ifindex = ifindex;
	m->buf = malloc(NL_RECV_SIZE);
	if (!m->buf) {
		r = -ENOMEM;
		goto fail;
	}
	m->nl = nl_open(RTMGRP_LINK, SOCK_NONBLOCK);
	if (!m->nl) {
		r = -errno;
		goto fail;
	}
	/* Best effort: a small buffer only means an overrun, which read() recovers from. */
	setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/* Subscribed first, then read the state: no change can fall between the two. */
	r = plat_netif_is_up(ifindex);
	if (r < 0)
		goto fail;
	m->up = r;
	*ret = m;
	return 0;
fail:
	plat_netif_monitor_close(m);
	return r;
}

int plat_netif_monitor_fd(const struct plat_netif_monitor *m)
{
	return mnl_socket_get_fd(m->nl);
}

int plat_netif_monitor_read(struct plat_netif_monitor *m)
{
	bool overrun = false;
	ssize_t n;
	int r;

	m->mask = 0;
	for (;;) {
		n = mnl_socket_recvfrom(m->nl, m->buf, NL_RECV_SIZE);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overrun = true;
				continue;
			}
			return -errno;
		}
		/* seq 0 and portid 0: accept unsolicited kernel messages. */
		if (mnl_cb_run(m->buf, (size_t)n, 0, 0, monitor_cb, m) < 0)
			return errno ? -errno : -EPROTO;
	}
	if (overrun) {
		/* Events were lost: compare with the kernel's state now. */
		r = plat_netif_is_up(m->ifindex);
		if (r == -ENODEV) {
			m->mask |= PLAT_NETIF_EV_DELETED;
			m->up = false;
		} else if (r < 0) {
			return r;
		} else if ((bool)r != m->up) {
			m->mask |= r ? PLAT_NETIF_EV_UP : PLAT_NETIF_EV_DOWN;
			m->up = r;
		}
	}
	return m->mask;
}

void plat_netif_monitor_close(struct plat_netif_monitor *m)
{
	if (!m)
		return;
	if (m->nl)
		mnl_socket_close(m->nl);
	free(m->buf);
	free(m);
}

/* sysfs: a link that is a bridge, a bridge/bond port, a TUN/TAP or has no device type of
 * Ethernet (1) is not a host candidate's link. */
static bool link_is_physical(const char *name)
{
	char path[PATH_MAX], buf[16];
	FILE *f;
	bool eth;

	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
	if (!access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", name);
	if (!access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	if (!access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/type", name);
	f = fopen(path, "re");
	if (!f)
		return false;
	eth = fgets(buf, sizeof(buf), f) && atoi(buf) == 1; /* ARPHRD_ETHER */
	fclose(f);
	return eth;
}

int plat_netif_host_addresses(const char *skip, struct plat_addr *out, size_t max,
			      size_t *ret_n)
{
	struct ifaddrs *ifa, *i;
	size_t n = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		struct plat_addr a = {0};

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK) ||
		    (i->ifa_flags & IFF_POINTOPOINT) || (skip && !strcmp(i->ifa_name, skip)))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = 4;
			memcpy(a.addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			a.prefix = 32;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const uint8_t *b = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr;

			if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
				continue; /* link-local */
			a.family = 6;
			memcpy(a.addr, b, 16);
			a.prefix = 128;
		} else {
			continue;
		}
		if (!link_is_physical(i->ifa_name))
			continue;
		out[n++] = a;
	}
	freeifaddrs(ifa);
	*ret_n = n;
	return 0;
}

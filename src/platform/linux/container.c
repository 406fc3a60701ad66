/* SPDX-License-Identifier: MIT */
/*
 * Linux container plumbing (platform/container.h) over rtnetlink: bridges, veth pairs born
 * with their peer in the container's namespace, aliases, masters, moves, gateway routes,
 * IPv6 addresses without DAD, IPv4 and IPv6 forwarding, and a thread that runs code inside
 * another network namespace.
 *
 * Must not: shell out to ip(8), log, keep a socket between calls, or change the network
 * namespace of any thread but the short-lived one plat_ctr_netns_run() makes.
 */
#include "platform/container.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "platform/linux/rtnl.h"

#define IP_FORWARD_PATH "/proc/sys/net/ipv4/ip_forward"
#define IP6_FORWARD_PATH "/proc/sys/net/ipv6/conf/all/forwarding"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h, which cannot be included beside net/if.h */
#endif

/* As the kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or space. */
static bool name_ok(const char *name)
{
	size_t n, i;

	if (!name)
		return false;
	n = strnlen(name, IFNAMSIZ);
	if (n == 0 || n >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r'))
			return false;
	}
	return true;
}

/* ---- reading links ---- */

static void copy_str_attr(char *dst, size_t size, const struct nlattr *a)
{
	size_t n = strnlen(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));

	if (n >= size)
		n = size - 1;
	memcpy(dst, mnl_attr_get_payload(a), n);
	dst[n] = '\0';
}

static int linkinfo_attr_cb(const struct nlattr *a, void *data)
{
	struct plat_ctr_link *l = data;

	if (mnl_attr_get_type(a) != IFLA_INFO_KIND)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
		return MNL_CB_ERROR;
	copy_str_attr(l->kind, sizeof(l->kind), a);
	return MNL_CB_OK;
}

struct link_attrs {
	struct plat_ctr_link *l;
	bool has_nsid;
	int32_t nsid;
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct link_attrs *la = data;
	struct plat_ctr_link *l = la->l;

	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
			return MNL_CB_ERROR;
		copy_str_attr(l->name, sizeof(l->name), a);
		break;
	case IFLA_IFALIAS:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
			return MNL_CB_ERROR;
		copy_str_attr(l->alias, sizeof(l->alias), a);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		l->master = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINK:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		l->peer_ifindex = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_LINK_NETNSID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		la->has_nsid = true;
		la->nsid = (int32_t)mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		return mnl_attr_parse_nested(a, linkinfo_attr_cb, l);
	}
	return MNL_CB_OK;
}

/* One RTM_NEWLINK message into *l. MNL_CB_OK, or MNL_CB_ERROR with errno. */
static int link_parse(const struct nlmsghdr *nlh, struct plat_ctr_link *l)
{
	const struct ifinfomsg *ifi;
	struct link_attrs la = {.l = l, .has_nsid = false, .nsid = 0};

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	ifi = mnl_nlmsg_get_payload(nlh);
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->carrier = ifi->ifi_flags & IFF_LOWER_UP;
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &la) < 0)
		return MNL_CB_ERROR;
	/*
	 * A veth reports its peer's ifindex as IFLA_LINK, and IFLA_LINK_NETNSID when the peer is
	 * in another namespace: an id >= 0 for a live one, -1 (NETNSA_NSID_NOT_ASSIGNED) when
	 * that namespace is already being torn down. A veth without a peer has IFLA_LINK 0.
	 */
	if (l->peer_ifindex <= 0)
		l->peer = PLAT_CTR_PEER_NONE;
	else if (!la.has_nsid)
		l->peer = l->peer_ifindex == l->ifindex ? PLAT_CTR_PEER_NONE : PLAT_CTR_PEER_HERE;
	else
		l->peer = la.nsid >= 0 ? PLAT_CTR_PEER_OTHER : PLAT_CTR_PEER_DEAD;
	return MNL_CB_OK;
}

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return link_parse(nlh, data);
}

int plat_ctr_link_get(int ifindex, const char *name, struct plat_ctr_link *ret)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct plat_ctr_link l;
	int r;

	if (!ret)
		return -EINVAL;
	if (name ? !name_ok(name) : ifindex <= 0)
		return -ENODEV;
	nlh = rtnl_header(req, RTM_GETLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = name ? 0 : ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(&l, 0, sizeof(l));
	r = rtnl_request(nlh, link_get_cb, &l);
	if (r < 0)
		return r;
	if (l.ifindex <= 0)
		return -ENODEV;
	*ret = l;
	return 0;
}

struct link_vec {
	struct plat_ctr_link *v;
	size_t n, cap;
};

static int link_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_vec *lv = data;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 16;
		struct plat_ctr_link *v;

		if (lv->n >= PLAT_CTR_LINKS_MAX) {
			errno = E2BIG;
			return MNL_CB_ERROR;
		}
		v = realloc(lv->v, cap * sizeof(*v));
		if (!v) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		lv->v = v;
		lv->cap = cap;
	}
	if (link_parse(nlh, &lv->v[lv->n]) != MNL_CB_OK)
		return MNL_CB_ERROR;
	lv->n++;
	return MNL_CB_OK;
}

static void link_vec_reset(void *data)
{
	struct link_vec *lv = data;

	lv->n = 0;
}

int plat_ctr_link_list(int (*fn)(void *ctx, const struct plat_ctr_link *l), void *ctx)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct link_vec lv = {.v = NULL, .n = 0, .cap = 0};
	size_t i;
	int r;

	if (!fn)
		return -EINVAL;
	nlh = rtnl_header(req, RTM_GETLINK, NLM_F_DUMP);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = rtnl_dump(nlh, link_list_cb, &lv, link_vec_reset);
	for (i = 0; r == 0 && i < lv.n; i++)
		r = fn(ctx, &lv.v[i]);
	free(lv.v);
	return r;
}

/* ---- creating and changing links ---- */

static int index_of(const char *name)
{
	struct plat_ctr_link l;
	int r = plat_ctr_link_get(0, name, &l);

	return r < 0 ? r : l.ifindex;
}

int plat_ctr_bridge_create(const char *name, unsigned mtu, int *ret_ifindex)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *linkinfo, *data;
	int r;

	if (!name_ok(name) || mtu > INT32_MAX)
		return -EINVAL;
	nlh = rtnl_header(req, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* Off is the kernel's default too; say it, so a port never waits out forward_delay. */
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	r = rtnl_request(nlh, NULL, NULL);
	if (r < 0)
		return r;
	r = index_of(name);
	if (r < 0)
		return r;
	if (ret_ifindex)
		*ret_ifindex = r;
	return 0;
}

int plat_ctr_veth_create(const struct plat_ctr_veth *v, int *ret_ifindex)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *linkinfo, *data, *peer;
	int r, idx;

	if (!v || !name_ok(v->name) || !name_ok(v->peer) || v->mtu > INT32_MAX || v->master < 0)
		return -EINVAL;
	if (v->alias && strnlen(v->alias, PLAT_CTR_ALIAS_MAX) >= PLAT_CTR_ALIAS_MAX)
		return -EINVAL;
	if (v->peer_netns_fd < -1)
		return -EBADF;
	nlh = rtnl_header(req, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, v->name);
	if (v->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, v->mtu);
	if (v->master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)v->master);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, v->peer);
	if (v->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, v->mtu);
	if (v->peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)v->peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	r = rtnl_request(nlh, NULL, NULL);
	if (r < 0)
		return r;
	idx = index_of(v->name);
	if (idx < 0)
		return idx;
	if (v->alias) {
		r = plat_ctr_set_alias(idx, v->alias);
		if (r < 0) {
			/* The peer goes with it. */
			plat_netif_del_link(idx);
			return r;
		}
	}
	if (ret_ifindex)
		*ret_ifindex = idx;
	return 0;
}

/* RTM_NEWLINK on an existing link; the caller adds attributes through put(nlh, arg). */
static int link_change(int ifindex, void (*put)(struct nlmsghdr *nlh, const void *arg),
		       const void *arg)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	if (ifindex <= 0)
		return -ENODEV;
	nlh = rtnl_header(req, RTM_NEWLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	put(nlh, arg);
	return rtnl_request(nlh, NULL, NULL);
}

struct move_arg {
	int fd;
	const char *name;
};

static void put_move(struct nlmsghdr *nlh, const void *arg)
{
	const struct move_arg *m = arg;

	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)m->fd);
	if (m->name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, m->name);
}

int plat_ctr_link_move(int ifindex, int netns_fd, const char *newname)
{
	struct move_arg m = {.fd = netns_fd, .name = newname};

	if (ifindex <= 0)
		return -ENODEV;
	if (netns_fd < 0)
		return -EBADF;
	if (newname && !name_ok(newname))
		return -EINVAL;
	return link_change(ifindex, put_move, &m);
}

static void put_master(struct nlmsghdr *nlh, const void *arg)
{
	mnl_attr_put_u32(nlh, IFLA_MASTER, *(const uint32_t *)arg);
}

int plat_ctr_set_master(int ifindex, int master)
{
	uint32_t m = (uint32_t)master;

	if (master < 0)
		return -ENODEV;
	return link_change(ifindex, put_master, &m);
}

static void put_alias(struct nlmsghdr *nlh, const void *arg)
{
	/* No NUL: the kernel takes the attribute length as the alias length, 0 clears it. */
	mnl_attr_put_str(nlh, IFLA_IFALIAS, arg);
}

int plat_ctr_set_alias(int ifindex, const char *alias)
{
	if (!alias || strnlen(alias, PLAT_CTR_ALIAS_MAX) >= PLAT_CTR_ALIAS_MAX)
		return -EINVAL;
	return link_change(ifindex, put_alias, alias);
}

/* ---- routes ---- */

static int addr_len(const struct plat_addr *a)
{
	if (a->family == WG_AF_INET && a->prefix <= 32)
		return 4;
	if (a->family == WG_AF_INET6 && a->prefix <= 128)
		return 16;
	return -EINVAL;
}

int plat_ctr_add_gateway_route(int ifindex, const struct plat_addr *dst, const struct plat_addr *gw,
			       uint32_t metric)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	uint8_t addr[16];
	unsigned bits;
	int len, i;

	if (ifindex <= 0)
		return -ENODEV;
	if (!dst || !gw)
		return -EINVAL;
	len = addr_len(dst);
	if (len < 0 || addr_len(gw) != len || gw->family != dst->family)
		return -EINVAL;
	memcpy(addr, dst->addr, (size_t)len);
	/* Clear host bits, as plat_netif_add_route does. */
	for (i = 0, bits = dst->prefix; i < len; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00 >> bits);
		bits = 0;
	}
	nlh = rtnl_header(req, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = len == 4 ? AF_INET : AF_INET6;
	rtm->rtm_dst_len = dst->prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (dst->prefix)
		mnl_attr_put(nlh, RTA_DST, (size_t)len, addr);
	mnl_attr_put(nlh, RTA_GATEWAY, (size_t)len, gw->addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	if (metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	return rtnl_request(nlh, NULL, NULL);
}

/* ---- sysctl ---- */

int plat_ctr_add_address_nodad(int ifindex, const struct plat_addr *a)
{
	char req[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int len;

	if (ifindex <= 0)
		return -ENODEV;
	len = a ? addr_len(a) : -1;
	if (len != 16)
		return -EINVAL;
	/* REPLACE: the same address again (a bridge's gateway) is no error. */
	nlh = rtnl_header(req, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, 16, a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, 16, a->addr);
	mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return rtnl_request(nlh, NULL, NULL);
}

static int sysctl_flag(const char *path, bool on)
{
	char buf[16];
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	if (n > 0 && (buf[0] == '1') == on)
		return 0;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, on ? "1\n" : "0\n", 2);
	if (n < 0)
		r = -errno;
	else if (n != 2)
		r = -EIO;
	close(fd);
	return r;
}

int plat_ctr_ipv4_forwarding(bool on)
{
	return sysctl_flag(IP_FORWARD_PATH, on);
}

int plat_ctr_ipv6_forwarding(bool on)
{
	return sysctl_flag(IP6_FORWARD_PATH, on);
}

/* ---- namespaces ---- */

int plat_ctr_netns_is_self(int fd)
{
	struct stat a, b;
	int type;

	if (fd < 0 || fstat(fd, &a) < 0)
		return -EBADF;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET)
		return -EINVAL;
	if (stat("/proc/thread-self/ns/net", &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int plat_ctr_netns_open(const char *path)
{
	char self[64];
	struct statfs sfs;
	int pfd, fd, type, r;

	if (!path || !*path)
		return -EINVAL;
	/* O_PATH: no open(2) of the file itself, so a FIFO cannot block us here. */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstatfs(pfd, &sfs) < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	if (sfs.f_type != NSFS_MAGIC) {
		close(pfd);
		return -EINVAL;
	}
	/* An nsfs file: reopening it for real cannot block; setns wants a real fd. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(pfd);
	if (r < 0)
		return r;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 && errno == ENOTTY)
		return fd; /* before Linux 4.11: setns(CLONE_NEWNET) checks the type later */
	if (type != CLONE_NEWNET) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

struct netns_job {
	int fd;
	int (*fn)(void *ctx);
	void *ctx;
	int ret;
};

static void *netns_thread(void *arg)
{
	struct netns_job *j = arg;

	/* Only this thread moves; it exits right after, so the move cannot outlive fn. */
	if (setns(j->fd, CLONE_NEWNET) < 0)
		j->ret = -errno;
	else
		j->ret = j->fn(j->ctx);
	return NULL;
}

int plat_ctr_netns_run(int netns_fd, int (*fn)(void *ctx), void *ctx)
{
	struct netns_job j = {.fd = netns_fd, .fn = fn, .ctx = ctx, .ret = 0};
	sigset_t all, old;
	pthread_t t;
	int r;

	if (!fn)
		return -EINVAL;
	r = plat_ctr_netns_is_self(netns_fd);
	if (r < 0)
		return r;
	sigfillset(&all);
	/* The new thread inherits the mask: it never runs a signal handler of the daemon's. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, NULL, netns_thread, &j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	r = pthread_join(t, NULL);
	if (r)
		return -r;
	return j.ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * Linux platform layer against the real kernel: TUN devices (platform/linux/tun.c) and
 * rtnetlink interface configuration (platform/linux/netif.c).
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and /dev/net/tun; skips with a reason otherwise.
 * Every test first moves the process into a fresh network namespace (unshare(CLONE_NEWNET)
 * in its setup), so the host's interfaces are never seen or touched and every test starts
 * from "lo only". Links a test leaves behind die with its namespace.
 *
 *   test process (private netns per test)
 *     lo
 *     wt0 (TUN)  10.200.9.1/24, fd00:9::1/64; routes 10.200.5.0/24, fd00:200::/48 -> wt0
 *     wv0 <-> wv1 (veth, made by a netlink helper here: the "not a TUN" link)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <libmnl/libmnl.h>

#include "platform/netif.h"
#include "platform/tun.h"

#define TUN_NAME "wt0"

enum {
	WAIT_MS = 2000,
	PKT_MAX = 65536 + PLAT_TUN_VNET_HDR_LEN,
};

/* ---- fixtures and helpers ---- */

static int fresh_netns(void **state)
{
	int lo;

	(void)state;
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	lo = plat_netif_index("lo");
	if (lo <= 0 || plat_netif_set_up(lo, true) < 0)
		return -1;
	return 0;
}

static struct plat_addr addr4(const char *s, uint8_t prefix)
{
	struct plat_addr a = {.family = WG_AF_INET, .prefix = prefix};

	assert_int_equal(inet_pton(AF_INET, s, a.addr), 1);
	return a;
}

static struct plat_addr addr6(const char *s, uint8_t prefix)
{
	struct plat_addr a = {.family = WG_AF_INET6, .prefix = prefix};

	assert_int_equal(inet_pton(AF_INET6, s, a.addr), 1);
	return a;
}

static struct plat_tun *open_up_tun(unsigned flags)
{
	struct plat_tun *t = NULL;

	assert_int_equal(plat_tun_open(TUN_NAME, flags, &t), 0);
	assert_non_null(t);
	assert_int_equal(plat_netif_set_up(plat_tun_ifindex(t), true), 0);
	return t;
}

/* A veth pair made over rtnetlink: the kernel's "not a TUN" link for the EEXIST test. */
static int make_veth(const char *name, const char *peer)
{
	char buf[8192];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *linkinfo, *data, *peer_nest;
	unsigned portid;
	ssize_t n;
	int r;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = 1;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_nest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_nest_end(nlh, peer_nest);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		r = -errno;
		goto out;
	}
	r = mnl_cb_run(buf, (size_t)n, 1, portid, NULL, NULL) < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return r;
}

/* A persistent TUN or TAP with no fd attached, as "ip tuntap add" leaves it. */
static int make_persistent(const char *name, short type)
{
	struct ifreq ifr = {0};
	int fd, r = 0;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = type | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		r = -errno;
	close(fd);
	return r;
}

static unsigned count_links(void)
{
	struct if_nameindex *ni = if_nameindex(), *p;
	unsigned n = 0;

	assert_non_null(ni);
	for (p = ni; p->if_index; p++)
		n++;
	if_freenameindex(ni);
	return n;
}

static bool fd_readable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

/*
 * Read packets from the TUN until one of the given IP version and destination arrives
 * (the kernel also sends its own IPv6 router and multicast listener solicitations).
 * Returns the length including the vnet header (skip bytes), or 0 on timeout.
 */
static ssize_t read_until(struct plat_tun *t, uint8_t *buf, size_t skip, int version,
			  const uint8_t *dst)
{
	int i;

	for (i = 0; i < 50; i++) {
		ssize_t n;

		if (plat_tun_wait(t, WAIT_MS / 10) != 1)
			continue;
		n = plat_tun_read(t, buf, PKT_MAX);
		if (n == -EAGAIN)
			continue;
		assert_true(n > 0);
		if ((size_t)n < skip + 1 || buf[skip] >> 4 != version)
			continue;
		if (version == 4 && (size_t)n >= skip + 20 && !memcmp(buf + skip + 16, dst, 4))
			return n;
		if (version == 6 && (size_t)n >= skip + 40 && !memcmp(buf + skip + 24, dst, 16))
			return n;
	}
	return 0;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 header with checksum; proto's payload of plen bytes follows at p + 20. */
static size_t build_ip4(uint8_t *p, const char *src, const char *dst, uint8_t proto, size_t plen)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + plen));
	put16(p + 4, 0x1234);
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = proto;
	assert_int_equal(inet_pton(AF_INET, src, p + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, p + 16), 1);
	put16(p + 10, csum_fold(csum_add(0, p, 20)));
	return 20 + plen;
}

static size_t build_udp4(uint8_t *p, const char *src, const char *dst, uint16_t sport,
			 uint16_t dport, const void *payload, size_t plen)
{
	uint8_t *u = p + 20, pseudo[12];
	size_t ulen = 8 + plen;
	uint16_t c;

	build_ip4(p, src, dst, IPPROTO_UDP, ulen);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	memcpy(u + 8, payload, plen);
	memcpy(pseudo, p + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	put16(pseudo + 10, (uint16_t)ulen);
	c = csum_fold(csum_add(csum_add(0, pseudo, sizeof(pseudo)), u, ulen));
	put16(u + 6, c ? c : 0xffff);
	return 20 + ulen;
}

static size_t build_icmp4(uint8_t *p, const char *src, const char *dst, uint8_t type, uint16_t id,
			  uint16_t seq, const void *payload, size_t plen)
{
	uint8_t *ic = p + 20;

	build_ip4(p, src, dst, IPPROTO_ICMP, 8 + plen);
	memset(ic, 0, 8);
	ic[0] = type;
	put16(ic + 4, id);
	put16(ic + 6, seq);
	memcpy(ic + 8, payload, plen);
	put16(ic + 2, csum_fold(csum_add(0, ic, 8 + plen)));
	return 20 + 8 + plen;
}

static int udp4_bound(const char *ip, uint16_t *ret_port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

/* Can a UDP socket be connected to ip (i.e. is there a route)? 0 or -errno. */
static int route_to(int family, const char *ip)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int fd, r;

	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(9);
		assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
		sl = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(9);
		assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
		sl = sizeof(*s);
	}
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	r = connect(fd, (struct sockaddr *)&ss, sl) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Poll the monitor until all of want arrived or the wait ends; returns what arrived. */
static int wait_events(struct plat_netif_monitor *m, int want, int ms)
{
	int got = 0, r, i;

	for (i = 0; i < 20 && (got & want) != want; i++) {
		if (!fd_readable(plat_netif_monitor_fd(m), ms / 20))
			continue;
		r = plat_netif_monitor_read(m);
		assert_true(r >= 0);
		got |= r;
	}
	return got;
}

/* ---- TUN ---- */

static void test_tun_open_attach(void **state)
{
	struct plat_tun *t = NULL, *t2 = NULL;
	char kind[PLAT_NETIF_KIND_MAX];
	int idx, fl;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), 0);
	assert_string_equal(plat_tun_name(t), TUN_NAME);
	idx = plat_tun_ifindex(t);
	assert_true(idx > 0);
	assert_int_equal(plat_netif_index(TUN_NAME), idx);
	assert_int_equal(plat_netif_kind(idx, kind, sizeof(kind)), 0);
	assert_string_equal(kind, "tun");
	fl = fcntl(plat_tun_fd(t), F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	fl = fcntl(plat_tun_fd(t), F_GETFD);
	assert_true(fl >= 0 && (fl & FD_CLOEXEC));
	/* Nothing queued on a down link: non-blocking read. */
	{
		uint8_t b[64];

		assert_int_equal(plat_tun_read(t, b, sizeof(b)), -EAGAIN);
		assert_int_equal(plat_tun_wait(t, 50), 0);
	}

	/* A single-queue TUN takes one fd: a second open is refused, and changes nothing. */
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t2), -EBUSY);
	assert_null(t2);
	plat_tun_close(t);
	/* Created by us, so gone with our last fd. */
	assert_int_equal(plat_netif_index(TUN_NAME), -ENODEV);
	plat_tun_close(NULL);

	/* An existing TUN left by someone else ("ip tuntap add") is attached to, not
	 * replaced, and outlives us. */
	assert_int_equal(make_persistent(TUN_NAME, IFF_TUN), 0);
	idx = plat_netif_index(TUN_NAME);
	assert_true(idx > 0);
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_MULTI_QUEUE, &t), -EINVAL);
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_VNET_HDR, &t), 0);
	assert_int_equal(plat_tun_ifindex(t), idx);
	plat_tun_close(t);
	assert_int_equal(plat_netif_index(TUN_NAME), idx);
	assert_int_equal(plat_netif_del_link(idx), 0);

	/* The kernel would let anyone add a queue to a multi-queue TUN in use, and then give
	 * it a share of the packets: refused like the single-queue case. */
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_MULTI_QUEUE, &t), 0);
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_MULTI_QUEUE | PLAT_TUN_VNET_HDR, &t2),
			 -EBUSY);
	assert_null(t2);
	assert_int_equal(plat_tun_queues(t), 1);
	plat_tun_close(t);
	assert_int_equal(plat_netif_index(TUN_NAME), -ENODEV);

	/* A persistent multi-queue TUN nobody holds is attached to, with its queues. */
	assert_int_equal(make_persistent(TUN_NAME, IFF_TUN | IFF_MULTI_QUEUE), 0);
	idx = plat_netif_index(TUN_NAME);
	assert_true(idx > 0);
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), -EINVAL);
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_MULTI_QUEUE, &t), 0);
	assert_int_equal(plat_tun_open_queue(t, NULL), 0);
	assert_int_equal(plat_tun_queues(t), 2);
	assert_int_equal(plat_tun_ifindex(t), idx);
	plat_tun_close(t);
	assert_int_equal(plat_netif_index(TUN_NAME), idx);
	assert_int_equal(plat_netif_del_link(idx), 0);
}

static void test_tun_bad_names(void **state)
{
	static const char *const bad[] = {
		"",
		"sixteen-chars-xx",
		"a/b",
		"a b",
		"a:b",
		"a\tb",
		"a\nb",
		".",
		"..",
		"a\xa0"
		"b",
	};
	struct plat_tun *t = NULL;
	unsigned links = count_links();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (plat_tun_open(bad[i], 0, &t) != -EINVAL)
			fail_msg("name \"%s\" not refused", bad[i]);
		assert_null(t);
	}
	assert_int_equal(plat_tun_open(NULL, 0, &t), -EINVAL);
	assert_int_equal(plat_tun_open(TUN_NAME, 1u << 7, &t), -EINVAL);
	assert_int_equal(count_links(), links);

	/* Fifteen bytes is the longest name that works. */
	assert_int_equal(plat_tun_open("fifteen-chars-x", 0, &t), 0);
	assert_string_equal(plat_tun_name(t), "fifteen-chars-x");
	plat_tun_close(t);
}

static void test_tun_name_taken(void **state)
{
	struct plat_tun *t = NULL;
	char kind[PLAT_NETIF_KIND_MAX];
	unsigned links;
	int idx, mtu, up;

	(void)state;
	assert_int_equal(make_veth("wv0", "wv1"), 0);
	idx = plat_netif_index("wv0");
	assert_true(idx > 0);
	mtu = plat_netif_get_mtu(idx);
	up = plat_netif_is_up(idx);
	links = count_links();

	assert_int_equal(plat_tun_open("wv0", 0, &t), -EEXIST);
	assert_null(t);
	assert_int_equal(plat_tun_open("wv0", PLAT_TUN_VNET_HDR | PLAT_TUN_MULTI_QUEUE, &t),
			 -EEXIST);
	/* Nothing changed. */
	assert_int_equal(plat_netif_index("wv0"), idx);
	assert_int_equal(plat_netif_kind(idx, kind, sizeof(kind)), 0);
	assert_string_equal(kind, "veth");
	assert_int_equal(plat_netif_get_mtu(idx), mtu);
	assert_int_equal(plat_netif_is_up(idx), up);
	assert_int_equal(count_links(), links);

	/* A TAP is a "tun" link too, but the kernel will not make it layer 3. */
	assert_int_equal(make_persistent("wtap0", IFF_TAP), 0);
	links = count_links();
	assert_int_equal(plat_tun_open("wtap0", 0, &t), -EINVAL);
	assert_null(t);
	assert_int_equal(count_links(), links);
	assert_int_equal(plat_netif_del_link(plat_netif_index("wtap0")), 0);
}

static void test_tun_link_up_hack(void **state)
{
	struct plat_tun *t = NULL;
	int idx;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), 0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_tun_link_up(t), 0);
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_int_equal(plat_tun_link_up(t), 1);
	assert_int_equal(plat_netif_set_up(idx, false), 0);
	assert_int_equal(plat_tun_link_up(t), 0);
	/* Writing to a down link drops the packet; it is not an exit condition. */
	{
		uint8_t pkt[64];
		size_t n = build_udp4(pkt, "10.200.9.2", "10.200.9.1", 1, 2, "x", 1);

		assert_int_equal(plat_tun_write(t, pkt, n), -ENETDOWN);
	}
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_int_equal(plat_tun_link_up(t), 1);
	assert_int_equal(plat_netif_del_link(idx), 0);
	assert_int_equal(plat_tun_link_up(t), -ENODEV);
	plat_tun_close(t);

	/* With a virtio-net header in front of the probe, too. */
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_VNET_HDR, &t), 0);
	assert_int_equal(plat_tun_link_up(t), 0);
	assert_int_equal(plat_netif_set_up(plat_tun_ifindex(t), true), 0);
	assert_int_equal(plat_tun_link_up(t), 1);
	plat_tun_close(t);
}

static void test_tun_read_kernel_packets(void **state)
{
	static const uint8_t echo_payload[] = "weft-echo";
	uint8_t *buf = malloc(PKT_MAX), dst[16];
	struct plat_tun *t;
	struct plat_addr a4 = addr4("10.200.9.1", 24), a6 = addr6("fd00:9::1", 64);
	struct plat_addr r4 = addr4("10.200.5.0", 24), r6 = addr6("fd00:200::", 48);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(5555)};
	uint8_t icmp[8 + sizeof(echo_payload)] = {8, 0};
	ssize_t n;
	int idx, raw, fd;

	(void)state;
	assert_non_null(buf);
	t = open_up_tun(0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_add_address(idx, &a4), 0);
	assert_int_equal(plat_netif_add_address(idx, &a6), 0);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0);
	assert_int_equal(plat_netif_add_route(idx, &r6, 0), 0);

	/* ICMP echo request from a raw socket, as ping(8) sends it. */
	raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	assert_true(raw >= 0);
	put16(icmp + 4, 0x7777);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, echo_payload, sizeof(echo_payload));
	put16(icmp + 2, csum_fold(csum_add(0, icmp, sizeof(icmp))));
	assert_int_equal(inet_pton(AF_INET, "10.200.5.7", &sin.sin_addr), 1);
	assert_int_equal(sendto(raw, icmp, sizeof(icmp), 0, (struct sockaddr *)&sin, sizeof(sin)),
			 (ssize_t)sizeof(icmp));
	memcpy(dst, &sin.sin_addr, 4);
	n = read_until(t, buf, 0, 4, dst);
	assert_int_equal(n, 20 + (ssize_t)sizeof(icmp));
	assert_int_equal(buf[0] >> 4, 4);
	assert_int_equal(buf[9], IPPROTO_ICMP);
	assert_int_equal(buf[20], 8); /* echo request */
	assert_memory_equal(buf + 12, a4.addr, 4);

	/* Answer it through the TUN: the echo reply reaches the raw socket. */
	n = (ssize_t)build_icmp4(buf, "10.200.5.7", "10.200.9.1", 0, 0x7777, 1, echo_payload,
				 sizeof(echo_payload));
	assert_int_equal(plat_tun_write(t, buf, (size_t)n), n);
	assert_true(fd_readable(raw, WAIT_MS));
	for (;;) {
		ssize_t m = recv(raw, buf, PKT_MAX, MSG_DONTWAIT);

		assert_true(m >= 28);
		if (buf[20] != 0)
			continue;
		assert_int_equal(buf[20], 0); /* echo reply */
		assert_memory_equal(buf + 28, echo_payload, sizeof(echo_payload));
		break;
	}
	close(raw);

	/* IPv6: a UDP datagram routed into the TUN. */
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET6, "fd00:200::7", &sin6.sin6_addr), 1);
	assert_int_equal(sendto(fd, "v6", 2, 0, (struct sockaddr *)&sin6, sizeof(sin6)), 2);
	n = read_until(t, buf, 0, 6, sin6.sin6_addr.s6_addr);
	assert_int_equal(n, 40 + 8 + 2);
	assert_int_equal(buf[6], IPPROTO_UDP);
	close(fd);

	plat_tun_close(t);
	free(buf);
}

static void test_tun_write_udp(void **state)
{
	static const char payload[] = "hello through the tun";
	struct plat_tun *t;
	struct plat_addr a4 = addr4("10.200.9.1", 24);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint8_t pkt[256], got[256];
	uint16_t port;
	size_t n;
	int fd;

	(void)state;
	t = open_up_tun(0);
	assert_int_equal(plat_netif_add_address(plat_tun_ifindex(t), &a4), 0);
	fd = udp4_bound("10.200.9.1", &port);

	n = build_udp4(pkt, "10.200.9.2", "10.200.9.1", 4321, port, payload, sizeof(payload));
	assert_int_equal(plat_tun_write(t, pkt, n), (ssize_t)n);
	assert_true(fd_readable(fd, WAIT_MS));
	assert_int_equal(
		recvfrom(fd, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&from, &fl),
		(ssize_t)sizeof(payload));
	assert_memory_equal(got, payload, sizeof(payload));
	assert_int_equal(ntohs(from.sin_port), 4321);
	assert_memory_equal(&from.sin_addr, pkt + 12, 4);

	/* A bad UDP checksum is the kernel's to drop, silently: the write still succeeds. */
	pkt[20 + 6] ^= 0xff;
	assert_int_equal(plat_tun_write(t, pkt, n), (ssize_t)n);
	assert_false(fd_readable(fd, 200));
	/* Not IP at all. */
	pkt[0] = 0x20;
	assert_int_equal(plat_tun_write(t, pkt, n), -EINVAL);

	close(fd);
	plat_tun_close(t);
}

static void test_tun_vnet_offload(void **state)
{
	static const char payload[] = "vnet";
	const unsigned all = PLAT_TUN_OFF_CSUM | PLAT_TUN_OFF_TSO4 | PLAT_TUN_OFF_TSO6 |
			     PLAT_TUN_OFF_USO4 | PLAT_TUN_OFF_USO6;
	struct plat_tun *t, *plain;
	struct plat_addr a4 = addr4("10.200.9.1", 24);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(7)};
	uint8_t *buf = malloc(PKT_MAX), dst[4];
	uint16_t port;
	ssize_t n;
	int on, fd;

	(void)state;
	assert_non_null(buf);
	t = open_up_tun(PLAT_TUN_VNET_HDR);
	on = plat_tun_set_offload(t, all);
	assert_true(on > 0);
	assert_true(on & PLAT_TUN_OFF_CSUM);
	print_message("offloads accepted: %s%s%s%s%s\n", on & PLAT_TUN_OFF_CSUM ? "CSUM " : "",
		      on & PLAT_TUN_OFF_TSO4 ? "TSO4 " : "", on & PLAT_TUN_OFF_TSO6 ? "TSO6 " : "",
		      on & PLAT_TUN_OFF_USO4 ? "USO4 " : "", on & PLAT_TUN_OFF_USO6 ? "USO6" : "");
	/* What the kernel would silently ignore is not claimed. */
	assert_int_equal(plat_tun_set_offload(t, PLAT_TUN_OFF_TSO4), 0);
	assert_int_equal(plat_tun_set_offload(t, PLAT_TUN_OFF_CSUM | PLAT_TUN_OFF_USO4),
			 PLAT_TUN_OFF_CSUM);
	assert_int_equal(plat_tun_set_offload(t, 1u << 9), -EINVAL);
	assert_int_equal(plat_tun_set_offload(t, all), on);

	/* Packets now carry the 10-byte virtio-net header, both ways. */
	assert_int_equal(plat_netif_add_address(plat_tun_ifindex(t), &a4), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, "10.200.9.77", &sin.sin_addr), 1);
	assert_int_equal(
		sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&sin, sizeof(sin)),
		(ssize_t)sizeof(payload));
	memcpy(dst, &sin.sin_addr, 4);
	n = read_until(t, buf, PLAT_TUN_VNET_HDR_LEN, 4, dst);
	assert_int_equal(n, PLAT_TUN_VNET_HDR_LEN + 28 + (ssize_t)sizeof(payload));
	close(fd);

	fd = udp4_bound("10.200.9.1", &port);
	memset(buf, 0, PLAT_TUN_VNET_HDR_LEN);
	n = (ssize_t)build_udp4(buf + PLAT_TUN_VNET_HDR_LEN, "10.200.9.2", "10.200.9.1", 99, port,
				payload, sizeof(payload));
	n += PLAT_TUN_VNET_HDR_LEN;
	assert_int_equal(plat_tun_write(t, buf, (size_t)n), n);
	assert_true(fd_readable(fd, WAIT_MS));
	assert_int_equal(recv(fd, buf, PKT_MAX, MSG_DONTWAIT), (ssize_t)sizeof(payload));
	close(fd);
	plat_tun_close(t);

	/* Without a vnet header there is no way to describe segments. */
	assert_int_equal(plat_tun_open("wt1", 0, &plain), 0);
	assert_int_equal(plat_tun_set_offload(plain, PLAT_TUN_OFF_CSUM), -EOPNOTSUPP);
	plat_tun_close(plain);
	free(buf);
}

static void test_tun_multi_queue(void **state)
{
	struct plat_tun *t, *single;
	int q1 = -1, q2 = -1, fl;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, PLAT_TUN_MULTI_QUEUE | PLAT_TUN_VNET_HDR, &t), 0);
	assert_int_equal(plat_tun_open_queue(t, &q1), 0);
	assert_true(q1 >= 0);
	assert_int_not_equal(q1, plat_tun_fd(t));
	assert_int_equal(plat_tun_open_queue(t, &q2), 0);
	assert_true(q2 >= 0 && q2 != q1);
	fl = fcntl(q1, F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	fl = fcntl(q1, F_GETFD);
	assert_true(fl >= 0 && (fl & FD_CLOEXEC));
	{
		uint8_t b[64];

		assert_int_equal(read(q1, b, sizeof(b)), -1);
		assert_int_equal(errno, EAGAIN);
	}
	/* Still one device. */
	assert_int_equal(plat_netif_index(TUN_NAME), plat_tun_ifindex(t));
	plat_tun_close(t);
	assert_int_equal(plat_netif_index(TUN_NAME), -ENODEV);

	assert_int_equal(plat_tun_open(TUN_NAME, 0, &single), 0);
	q1 = -1;
	assert_int_equal(plat_tun_open_queue(single, &q1), -EOPNOTSUPP);
	assert_int_equal(q1, -1);
	assert_int_equal(plat_tun_queues(single), 1);
	plat_tun_close(single);
}

/* The queue of t that the next IPv4 UDP packet to dst:dport comes out of, or -1. */
static int queue_of(struct plat_tun *t, const uint8_t dst[4], uint16_t dport)
{
	uint8_t buf[512];

	for (int i = 0; i < 100; i++) {
		for (unsigned q = 0; q < plat_tun_queues(t); q++) {
			ssize_t n = plat_tun_read_queue(t, q, buf, sizeof(buf));

			if (n < 28 || buf[0] >> 4 != 4 || buf[9] != IPPROTO_UDP)
				continue;
			if (!memcmp(buf + 16, dst, 4) && buf[22] == dport >> 8 &&
			    buf[23] == (dport & 0xff))
				return (int)q;
		}
		usleep(WAIT_MS * 10);
	}
	return -1;
}

/*
 * What the data path relies on: the kernel sends a flow's packets to the queue that flow was
 * last written through (tun.c's flow table), so each reader keeps the flows it writes.
 */
static void test_tun_multi_queue_steering(void **state)
{
	static const char payload[] = "which queue";
	struct plat_addr a4 = addr4("10.200.9.1", 24);
	struct sockaddr_in peer = {.sin_family = AF_INET};
	struct plat_tun *t = open_up_tun(PLAT_TUN_MULTI_QUEUE);
	uint8_t pkt[256], got[256], dst[4];
	uint16_t port;
	int fd;

	(void)state;
	assert_int_equal(plat_tun_open_queue(t, NULL), 0);
	assert_int_equal(plat_tun_open_queue(t, NULL), 0);
	assert_int_equal(plat_tun_queues(t), 3);
	assert_int_equal(plat_netif_add_address(plat_tun_ifindex(t), &a4), 0);
	fd = udp4_bound("10.200.9.1", &port);
	assert_int_equal(inet_pton(AF_INET, "10.200.9.2", &peer.sin_addr), 1);
	memcpy(dst, &peer.sin_addr, 4);

	/* Each round writes eight flows through queues 2,1,0,2,...: each reply follows. */
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned f = 0; f < 8; f++) {
			uint16_t sport = (uint16_t)(6000 + f);
			unsigned q = (f + round + 2) % 3;
			struct plat_iov v = {pkt, 0};

			v.len = build_udp4(pkt, "10.200.9.2", "10.200.9.1", sport, port, payload,
					   sizeof(payload));
			assert_int_equal(plat_tun_writev_queue(t, q, &v, 1), (ssize_t)v.len);
			assert_true(fd_readable(fd, WAIT_MS));
			assert_int_equal(recv(fd, got, sizeof(got), MSG_DONTWAIT),
					 (ssize_t)sizeof(payload));
			peer.sin_port = htons(sport);
			assert_int_equal(sendto(fd, payload, sizeof(payload), 0,
						(struct sockaddr *)&peer, sizeof(peer)),
					 (ssize_t)sizeof(payload));
			assert_int_equal(queue_of(t, dst, sport), (int)q);
		}
	}

	/* Queues that do not exist. */
	{
		struct plat_iov v = {pkt, 28};

		assert_int_equal(plat_tun_read_queue(t, 3, got, sizeof(got)), -EINVAL);
		assert_int_equal(plat_tun_wait_queue(t, 3, 0), -EINVAL);
		assert_int_equal(plat_tun_writev_queue(t, 3, &v, 1), -EINVAL);
		assert_int_equal(plat_tun_wait_queue(t, 2, 0), 0);
	}
	close(fd);
	plat_tun_close(t);
}

static void test_tun_deleted(void **state)
{
	struct plat_tun *t;
	uint8_t buf[128];
	size_t n;
	int idx;

	(void)state;
	t = open_up_tun(0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_del_link(idx), 0);
	assert_int_equal(plat_netif_index(TUN_NAME), -ENODEV);
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), -ENODEV);
	n = build_udp4(buf, "10.200.9.2", "10.200.9.1", 1, 2, "x", 1);
	assert_int_equal(plat_tun_write(t, buf, n), -ENODEV);
	assert_int_equal(plat_netif_is_up(idx), -ENODEV);
	assert_int_equal(plat_netif_del_link(idx), -ENODEV);
	plat_tun_close(t);
}

/*
 * The batched reader (io_uring, tun_ring.c): more datagrams than it has buffers arrive in
 * their order, whole (the read stops when the buffers run out and the next wait queues it
 * again); the deleted interface reads as -ENODEV; a free with packets pending is clean
 * (ASan). Skipped where the kernel refuses io_uring: the device then reads one at a time.
 */
static void test_tun_batch_read(void **state)
{
	enum { COUNT = 100, NBUFS = 8 };
	struct plat_addr a4 = addr4("10.200.9.1", 24), r4 = addr4("10.200.5.0", 24);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(5555)};
	struct plat_tun_batch *b = NULL;
	struct plat_tun *t;
	unsigned next = 0;
	int idx, fd, r;

	(void)state;
	t = open_up_tun(0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_add_address(idx, &a4), 0);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0);
	r = plat_tun_batch_new(t, 0, 2048, NBUFS, &b);
	if (r == -ENOSYS || r == -EPERM || r == -EOPNOTSUPP) {
		printf("no batched TUN reads here (%s): skipped\n", strerror(-r));
		plat_tun_close(t);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(plat_tun_batch_new(t, 0, 2048, 6, &(struct plat_tun_batch *){NULL}),
			 -EINVAL); /* not a power of two */

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, "10.200.5.7", &to.sin_addr), 1);
	for (unsigned i = 0; i < COUNT; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof(msg), "pkt %u", i);

		assert_int_equal(sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)),
				 len);
	}
	for (int rounds = 0; next < COUNT && rounds < 100; rounds++) {
		const void *p;
		ssize_t n;

		if (plat_tun_batch_wait(b, WAIT_MS / 10) != 1)
			continue;
		while ((n = plat_tun_batch_next(b, &p)) > 0) {
			const uint8_t *pkt = p;
			char want[16];
			int len = snprintf(want, sizeof(want), "pkt %u", next);

			/* the kernel's own packets (none for IPv4 here) are not ours */
			if (pkt[0] >> 4 != 4 || pkt[9] != IPPROTO_UDP ||
			    memcmp(pkt + 16, &to.sin_addr, 4))
				continue;
			assert_int_equal(n, 20 + 8 + len);
			assert_memory_equal(pkt + 28, want, (size_t)len);
			next++;
		}
		assert_int_equal(n, -EAGAIN);
	}
	assert_int_equal(next, COUNT);

	/* pending packets at free time, then a new reader on the deleted interface */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	assert_int_equal(plat_tun_batch_wait(b, WAIT_MS), 1);
	plat_tun_batch_free(b);
	assert_int_equal(plat_tun_batch_new(t, 0, 2048, NBUFS, &b), 0);
	assert_int_equal(plat_netif_del_link(idx), 0);
	r = -EAGAIN;
	for (int rounds = 0; r == -EAGAIN && rounds < 20; rounds++) {
		const void *p;

		plat_tun_batch_wait(b, WAIT_MS / 10);
		r = (int)plat_tun_batch_next(b, &p);
	}
	assert_int_equal(r, -ENODEV);
	plat_tun_batch_free(b);
	close(fd);
	plat_tun_close(t);
}

/* ---- netif ---- */

static void test_netif_kind_index(void **state)
{
	char kind[PLAT_NETIF_KIND_MAX], tiny[3];
	int lo;

	(void)state;
	lo = plat_netif_index("lo");
	assert_true(lo > 0);
	assert_int_equal(plat_netif_kind(lo, kind, sizeof(kind)), 0);
	assert_string_equal(kind, "");
	assert_int_equal(make_veth("wv0", "wv1"), 0);
	assert_int_equal(plat_netif_kind(plat_netif_index("wv1"), kind, sizeof(kind)), 0);
	assert_string_equal(kind, "veth");
	assert_int_equal(plat_netif_kind(plat_netif_index("wv1"), tiny, sizeof(tiny)), -ENOSPC);
	assert_int_equal(plat_netif_index("nonexistent0"), -ENODEV);
	assert_int_equal(plat_netif_index(""), -ENODEV);
	assert_int_equal(plat_netif_index("much-too-long-for-a-link"), -ENODEV);
	assert_int_equal(plat_netif_index(NULL), -ENODEV);
	assert_int_equal(plat_netif_kind(999999, kind, sizeof(kind)), -ENODEV);
	assert_int_equal(plat_netif_kind(0, kind, sizeof(kind)), -ENODEV);
}

static void test_netif_up_mtu(void **state)
{
	struct plat_tun *t;
	int idx;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), 0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_is_up(idx), 0);
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_int_equal(plat_netif_is_up(idx), 1);
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_int_equal(plat_netif_set_up(idx, false), 0);
	assert_int_equal(plat_netif_is_up(idx), 0);

	assert_int_equal(plat_netif_set_mtu(idx, 1420), 0);
	assert_int_equal(plat_netif_get_mtu(idx), 1420);
	assert_int_equal(plat_netif_set_mtu(idx, 9000), 0);
	assert_int_equal(plat_netif_get_mtu(idx), 9000);
	assert_int_equal(plat_netif_set_mtu(idx, 0), -EINVAL);
	assert_int_equal(plat_netif_set_mtu(idx, 20), -EINVAL); /* below the IPv4 minimum */
	assert_int_equal(plat_netif_get_mtu(idx), 9000);

	assert_int_equal(plat_netif_set_up(999999, true), -ENODEV);
	assert_int_equal(plat_netif_is_up(999999), -ENODEV);
	assert_int_equal(plat_netif_set_mtu(999999, 1420), -ENODEV);
	assert_int_equal(plat_netif_get_mtu(999999), -ENODEV);
	assert_int_equal(plat_netif_is_up(-1), -ENODEV);
	plat_tun_close(t);
}

struct addr_seen {
	struct plat_addr want[4];
	unsigned nwant;
	unsigned seen; /* bit per want[] entry */
	unsigned total;
};

static int seen_cb(void *ctx, const struct plat_addr *a)
{
	struct addr_seen *s = ctx;
	unsigned i;

	s->total++;
	for (i = 0; i < s->nwant; i++) {
		size_t len = s->want[i].family == WG_AF_INET ? 4 : 16;

		if (a->family == s->want[i].family && a->prefix == s->want[i].prefix &&
		    !memcmp(a->addr, s->want[i].addr, len))
			s->seen |= 1u << i;
	}
	return 0;
}

static int stop_cb(void *ctx, const struct plat_addr *a)
{
	(void)a;
	++*(int *)ctx;
	return 42;
}

static void test_netif_addresses(void **state)
{
	struct plat_tun *t;
	struct addr_seen s = {0};
	struct plat_addr a4 = addr4("10.200.9.1", 24), a6 = addr6("fd00:9::1", 64);
	struct plat_addr bad;
	int idx, calls = 0;

	(void)state;
	t = open_up_tun(0);
	idx = plat_tun_ifindex(t);

	assert_int_equal(plat_netif_add_address(idx, &a4), 0);
	assert_int_equal(plat_netif_add_address(idx, &a4), 0); /* already there: success */
	assert_int_equal(plat_netif_add_address(idx, &a6), 0);
	assert_int_equal(plat_netif_add_address(idx, &a6), 0);
	/* Same IPv6 address under another prefix is not "the same address". */
	bad = a6;
	bad.prefix = 80;
	assert_int_equal(plat_netif_add_address(idx, &bad), -EEXIST);

	bad = a4;
	bad.prefix = 33;
	assert_int_equal(plat_netif_add_address(idx, &bad), -EINVAL);
	bad = a6;
	bad.prefix = 129;
	assert_int_equal(plat_netif_add_address(idx, &bad), -EINVAL);
	bad.family = 5;
	bad.prefix = 8;
	assert_int_equal(plat_netif_add_address(idx, &bad), -EINVAL);
	assert_int_equal(plat_netif_add_address(idx, NULL), -EINVAL);
	assert_int_equal(plat_netif_add_address(999999, &a4), -ENODEV);

	s.want[0] = a4;
	s.want[1] = a6;
	s.nwant = 2;
	assert_int_equal(plat_netif_list_addresses(idx, seen_cb, &s), 0);
	assert_int_equal(s.seen, 3);
	assert_true(s.total >= 2); /* plus the IPv6 link-local of an up link */
	assert_int_equal(plat_netif_list_addresses(idx, stop_cb, &calls), 42);
	assert_int_equal(calls, 1);
	assert_int_equal(plat_netif_list_addresses(999999, seen_cb, &s), -ENODEV);

	assert_int_equal(plat_netif_del_address(idx, &a4), 0);
	assert_int_equal(plat_netif_del_address(idx, &a4), -EADDRNOTAVAIL);
	assert_int_equal(plat_netif_del_address(idx, &a6), 0);
	assert_int_equal(plat_netif_del_address(idx, &a6), -EADDRNOTAVAIL);
	memset(&s, 0, sizeof(s));
	s.want[0] = a4;
	s.want[1] = a6;
	s.nwant = 2;
	assert_int_equal(plat_netif_list_addresses(idx, seen_cb, &s), 0);
	assert_int_equal(s.seen, 0);
	plat_tun_close(t);
}

static void test_netif_routes(void **state)
{
	struct plat_tun *t;
	struct plat_addr r4 = addr4("10.200.5.0", 24), r6 = addr6("fd00:200::", 48);
	struct plat_addr a6 = addr6("fd00:9::1", 64), hostbits = addr4("10.200.6.1", 24);
	struct plat_addr bad = r4, other = addr4("10.200.7.0", 24);
	int idx, veth;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), 0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), -ENETDOWN);
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_int_equal(plat_netif_add_address(idx, &a6), 0);

	assert_int_equal(route_to(AF_INET, "10.200.5.7"), -ENETUNREACH);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0);
	assert_int_equal(route_to(AF_INET, "10.200.5.7"), 0);
	assert_int_equal(plat_netif_add_route(idx, &r6, 0), 0);
	assert_int_equal(plat_netif_add_route(idx, &r6, 0), 0);
	assert_int_equal(route_to(AF_INET6, "fd00:200::7"), 0);

	assert_int_equal(plat_netif_del_route(idx, &r4), 0);
	assert_int_equal(plat_netif_del_route(idx, &r4), -ESRCH);
	assert_int_equal(route_to(AF_INET, "10.200.5.7"), -ENETUNREACH);
	assert_int_equal(plat_netif_del_route(idx, &r6), 0);
	assert_int_equal(plat_netif_del_route(idx, &r6), -ESRCH);
	assert_int_equal(route_to(AF_INET6, "fd00:200::7"), -ENETUNREACH);

	/* Host bits are cleared; a metric does not stop deletion. */
	assert_int_equal(plat_netif_add_route(idx, &hostbits, 10), 0);
	assert_int_equal(plat_netif_add_route(idx, &hostbits, 10), 0);
	assert_int_equal(route_to(AF_INET, "10.200.6.200"), 0);
	assert_int_equal(plat_netif_del_route(idx, &hostbits), 0);
	assert_int_equal(route_to(AF_INET, "10.200.6.200"), -ENETUNREACH);

	bad.prefix = 33;
	assert_int_equal(plat_netif_add_route(idx, &bad, 0), -EINVAL);
	assert_int_equal(plat_netif_del_route(idx, &bad), -EINVAL);
	assert_int_equal(plat_netif_add_route(999999, &r4, 0), -ENODEV);

	/* The same prefix and metric through another device is a conflict, not success. */
	assert_int_equal(make_veth("wv0", "wv1"), 0);
	veth = plat_netif_index("wv0");
	assert_int_equal(plat_netif_set_up(veth, true), 0);
	assert_int_equal(plat_netif_add_route(veth, &other, 0), 0);
	assert_int_equal(plat_netif_add_route(idx, &other, 0), -EEXIST);
	assert_int_equal(plat_netif_add_route(idx, &other, 5), 0);
	assert_int_equal(plat_netif_del_route(idx, &other), 0);
	assert_int_equal(plat_netif_del_route(veth, &other), 0);
	plat_tun_close(t);
}

static void test_netif_monitor(void **state)
{
	struct plat_netif_monitor *m = NULL, *none = (struct plat_netif_monitor *)0x1;
	struct plat_tun *t;
	uint8_t buf[64];
	int idx, got;

	(void)state;
	assert_int_equal(plat_tun_open(TUN_NAME, 0, &t), 0);
	idx = plat_tun_ifindex(t);
	assert_int_equal(plat_netif_monitor_open(999999, &none), -ENODEV);
	assert_ptr_equal(none, (struct plat_netif_monitor *)0x1);
	assert_int_equal(plat_netif_monitor_open(idx, &m), 0);
	assert_int_equal(plat_netif_monitor_read(m), 0); /* nothing yet */

	assert_int_equal(plat_netif_set_up(idx, true), 0);
	got = wait_events(m, PLAT_NETIF_EV_UP, WAIT_MS);
	assert_int_equal(got, PLAT_NETIF_EV_UP);

	/* Other link changes are not events. */
	assert_int_equal(plat_netif_set_mtu(idx, 1300), 0);
	assert_true(fd_readable(plat_netif_monitor_fd(m), WAIT_MS));
	assert_int_equal(plat_netif_monitor_read(m), 0);

	assert_int_equal(plat_netif_set_up(idx, false), 0);
	got = wait_events(m, PLAT_NETIF_EV_DOWN, WAIT_MS);
	assert_int_equal(got, PLAT_NETIF_EV_DOWN);

	/* Another link's events are not ours. */
	assert_int_equal(make_veth("wv0", "wv1"), 0);
	assert_int_equal(plat_netif_set_up(plat_netif_index("wv0"), true), 0);
	assert_true(fd_readable(plat_netif_monitor_fd(m), WAIT_MS));
	assert_int_equal(wait_events(m, PLAT_NETIF_EV_UP, 300), 0);

	assert_int_equal(plat_netif_del_link(idx), 0);
	got = wait_events(m, PLAT_NETIF_EV_DELETED, WAIT_MS);
	assert_true(got & PLAT_NETIF_EV_DELETED);
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), -ENODEV);

	plat_netif_monitor_close(m);
	plat_netif_monitor_close(NULL);
	plat_tun_close(t);
}

/* ---- main ---- */

static const char *why_skip(void)
{
	static char why[128];
	int fd;

	if (geteuid() != 0)
		return "not root (needs CAP_NET_ADMIN and CAP_SYS_ADMIN for a private netns)";
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, sizeof(why), "/dev/net/tun: %s", strerror(errno));
		return why;
	}
	close(fd);
	/* Probe once, so a container without CAP_SYS_ADMIN skips instead of failing. */
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(why, sizeof(why), "unshare(CLONE_NEWNET): %s", strerror(errno));
		return why;
	}
	return NULL;
}

#define T(f) cmocka_unit_test_setup(f, fresh_netns)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tun_open_attach),
		T(test_tun_bad_names),
		T(test_tun_name_taken),
		T(test_tun_link_up_hack),
		T(test_tun_read_kernel_packets),
		T(test_tun_write_udp),
		T(test_tun_vnet_offload),
		T(test_tun_multi_queue),
		T(test_tun_multi_queue_steering),
		T(test_tun_deleted),
		T(test_tun_batch_read),
		T(test_netif_kind_index),
		T(test_netif_up_mtu),
		T(test_netif_addresses),
		T(test_netif_routes),
		T(test_netif_monitor),
	};
	const char *why = why_skip();

	if (why) {
		printf("test_platform_linux: skipped: %s\n", why);
		return 77; /* "skipped" to meson and automake */
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

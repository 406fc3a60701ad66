/* SPDX-License-Identifier: MIT */
/*
 * overlay/attach against the real kernel: containers (network namespaces held by fds)
 * attached to per-service bridges, checked through our netlink code and through ip(8) and
 * ping(8) as independent witnesses; detach, bridge removal, the sweep, and every refusal
 * leaving nothing behind.
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), ip and ping; skips with a reason otherwise.
 * Every test first moves the process into a fresh network namespace ("host"), so the real
 * host is never seen or touched, and everything dies with the test.
 *
 *   c1 eth0 10.200.103.34/28 --veth-- wv..  \
 *                                            wb-svc-a 10.200.103.33/28
 *   c2 eth0 10.200.103.35/28 --veth-- wv..  /
 *                                                 host (forwarding on)
 *   c3 eth0 10.200.7.18/28   --veth-- wv..  --   wb-svc-b 10.200.7.17/28
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
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "netns_util.h"
#include "overlay/attach.h"
#include "platform/container.h"
#include "platform/netif.h"

#define SUBNET_A "10.200.103.32/28"
#define SUBNET_B "10.200.7.16/28"
#define GW_A	 "10.200.103.33"
#define GW_B	 "10.200.7.17"

enum {
	MTU = 1420,
	OUT_LEN = 8192,
	SWEEP_WAIT_MS = 5000,
};

static char err[256];

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

static struct ov_attach_req req(const char *service, const char *subnet, const char *addr, int ns,
				const char *container)
{
	struct ov_attach_req r = {
		.service = service,
		.subnet = {0},
		.addr = {0},
		.netns_fd = ns,
		.container = container,
		.mtu = MTU,
		.err = err,
		.errlen = sizeof(err),
	};

	assert_int_equal(ov_prefix_parse(subnet, &r.subnet), 0);
	assert_int_equal(ov_addr_parse(addr, 4, &r.addr), 0);
	return r;
}

static void attach_ok(const struct ov_attach_req *r, struct ov_attach_info *info)
{
	int rc = ov_attach(r, info);

	if (rc != 0)
		fail_msg("ov_attach(%s): %d (%s)", r->container, rc, err);
}

static bool ping(int ns, const char *to)
{
	return tnet_runv(ns, NULL, 0, "ping", "-c", "1", "-W", "2", "-q", to, NULL) == 0;
}

static int link_count_cb(void *ctx, const struct plat_ctr_link *l)
{
	(void)l;
	(*(int *)ctx)++;
	return 0;
}

static int links_here(void)
{
	int n = 0;

	assert_int_equal(plat_ctr_link_list(link_count_cb, &n), 0);
	return n;
}

static int links_in_cb(void *ctx)
{
	int n = 0, r = plat_ctr_link_list(link_count_cb, &n);

	(void)ctx;
	return r < 0 ? r : n;
}

static int links_in(int ns)
{
	int n = plat_ctr_netns_run(ns, links_in_cb, NULL);

	assert_true(n > 0);
	return n;
}

static bool exists(const char *name)
{
	return plat_netif_index(name) > 0;
}

/* ---- names ---- */

/* --netns PATH: refused at once, with the message the user sees, unless a network namespace. */
static void test_netns_path(void **state)
{
	char dir[] = "/tmp/weft-attach-netns-XXXXXX", fifo[64], file[64], msg[256], want[128];
	const char *const bad[] = {fifo, file, "/proc/self/ns/uts", "/dev/null"};
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(file, sizeof(file), "%s/file", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	alarm(10); /* a blocking open would end the test here */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ov_attach_netns_open(bad[i], msg, sizeof(msg)), -EINVAL);
		snprintf(want, sizeof(want), "not a network namespace: %s", bad[i]);
		assert_string_equal(msg, want);
	}
	assert_int_equal(ov_attach_netns_open("/nonexistent", msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "/nonexistent: No such file or directory");
	alarm(0);
	fd = ov_attach_netns_open("/proc/self/ns/net", msg, sizeof(msg));
	assert_true(fd >= 0);
	assert_int_equal(plat_ctr_netns_is_self(fd), 1);
	close(fd);
	unlink(fifo);
	unlink(file);
	rmdir(dir);
}

static void test_names(void **state)
{
	char a[OV_ATTACH_IFNAME_MAX], b[OV_ATTACH_IFNAME_MAX];

	(void)state;
	assert_int_equal(ov_attach_bridge_name("svc-a", a), 0);
	assert_string_equal(a, "wb-svc-a");
	assert_int_equal(ov_attach_bridge_name("abcdefghijkl", a), 0); /* 12: whole */
	assert_string_equal(a, "wb-abcdefghijkl");
	assert_int_equal(ov_attach_bridge_name("abcdefghijklm", a), 0); /* 13: hashed */
	assert_int_equal(strlen(a), 15);
	assert_memory_equal(a, "wb-abcd_", 8);
	assert_int_equal(ov_attach_bridge_name("abcdefghijklx", b), 0);
	assert_memory_equal(b, "wb-abcd_", 8);
	assert_string_not_equal(a, b);
	assert_int_equal(ov_attach_bridge_name("abcdefghijklm", b), 0);
	assert_string_equal(a, b); /* deterministic */
	assert_int_equal(ov_attach_bridge_name("Svc", a), -EINVAL);
	assert_int_equal(ov_attach_bridge_name("", a), -EINVAL);
	assert_int_equal(ov_attach_bridge_name(NULL, a), -EINVAL);

	assert_int_equal(ov_attach_veth_name("c1", a), 0);
	assert_int_equal(strlen(a), 15);
	assert_memory_equal(a, "wv", 2);
	assert_int_equal(strspn(a + 2, "0123456789abcdef"), 13);
	assert_int_equal(ov_attach_veth_name("c2", b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(ov_attach_veth_name("a b", a), -EINVAL);
	assert_int_equal(ov_attach_veth_name("", a), -EINVAL);
	assert_true(ov_attach_container_valid("Ab_1.2-3"));

	/* The owner alias: canonical form only. */
	char alias[OV_ATTACH_ALIAS_MAX];
	struct ov_attach_owner own = {.service = "x", .container = "y"};

	assert_int_equal(ov_attach_alias_format("svc-a", "c1", alias), 0);
	assert_string_equal(alias, "weft-attach svc-a c1");
	assert_int_equal(ov_attach_alias_parse(alias, &own), 0);
	assert_string_equal(own.service, "svc-a");
	assert_string_equal(own.container, "c1");
	assert_int_equal(ov_attach_alias_parse("weft-attach svc-a  c1", &own), -EINVAL);
	assert_int_equal(ov_attach_alias_parse("weft-attach svc-a c1 ", &own), -EINVAL);
	assert_int_equal(ov_attach_alias_parse("weft-attach svc-a", &own), -EINVAL);
	assert_int_equal(ov_attach_alias_parse("weft-bridge svc-a", &own), -EINVAL);
	assert_int_equal(ov_attach_alias_parse(NULL, &own), -EINVAL);
	assert_string_equal(own.container, "c1"); /* untouched by failures */
	assert_int_equal(ov_attach_alias_format("svc a", "c1", alias), -EINVAL);
	assert_int_equal(ov_attach_alias_format("svc-a", "c 1", alias), -EINVAL);
	assert_false(ov_attach_container_valid("a/b"));
	assert_false(ov_attach_container_valid(NULL));
}

/* ---- attach, read back, ping, detach ---- */

static void check_inside(int ns, const char *addr, const char *gw)
{
	char out[OUT_LEN], want[128];

	assert_int_equal(
		tnet_runv(ns, out, sizeof(out), "ip", "-j", "addr", "show", "dev", "eth0", NULL),
		0);
	snprintf(want, sizeof(want), "\"local\":\"%s\",\"prefixlen\":28", addr);
	assert_true(tnet_has(out, want));
	assert_true(tnet_has(out, "\"mtu\":1420"));
	assert_true(tnet_has(out, "\"operstate\":\"UP\""));
	assert_int_equal(
		tnet_runv(ns, out, sizeof(out), "ip", "-j", "route", "show", "default", NULL), 0);
	snprintf(want, sizeof(want), "\"gateway\":\"%s\",\"dev\":\"eth0\"", gw);
	assert_true(tnet_has(out, want));
	assert_int_equal(tnet_runv(ns, out, sizeof(out), "ip", "-j", "link", "show", "lo", NULL),
			 0);
	assert_true(tnet_has(out, "\"UP\""));
}

static void test_attach_detach(void **state)
{
	struct ov_attach_info i1, i2, i3, got;
	struct plat_ctr_link l;
	char out[OUT_LEN], buf[16];
	int c1, c2, c3;

	(void)state;
	c1 = tnet_new();
	c2 = tnet_new();
	c3 = tnet_new();
	assert_true(c1 >= 0 && c2 >= 0 && c3 >= 0);

	struct ov_attach_req r1 = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	struct ov_attach_req r2 = req("svc-a", SUBNET_A, "10.200.103.35", c2, "c2");
	struct ov_attach_req r3 = req("svc-b", SUBNET_B, "10.200.7.18", c3, "c3");

	attach_ok(&r1, &i1);
	assert_string_equal(err, "");
	attach_ok(&r2, &i2);
	attach_ok(&r3, &i3);
	assert_true(i1.bridge_created);
	assert_false(i2.bridge_created);
	assert_true(i3.bridge_created);
	assert_string_equal(i1.bridge, "wb-svc-a");
	assert_string_equal(i2.bridge, "wb-svc-a");
	assert_string_equal(i3.bridge, "wb-svc-b");
	assert_string_equal(i1.service, "svc-a");
	assert_int_equal(i1.bridge_ifindex, i2.bridge_ifindex);
	assert_int_equal(i1.bridge_ifindex, plat_netif_index("wb-svc-a"));
	assert_int_equal(i1.host_ifindex, plat_netif_index(i1.host_veth));

	/* Host side: bridges with their gateways, labelled ports, forwarding on. */
	assert_int_equal(plat_ctr_link_get(0, "wb-svc-a", &l), 0);
	assert_string_equal(l.kind, "bridge");
	assert_string_equal(l.alias, "weft-bridge svc-a");
	assert_true(l.up);
	assert_int_equal(plat_netif_get_mtu(l.ifindex), MTU);
	assert_int_equal(tnet_runv(-1, out, sizeof(out), "ip", "-j", "addr", "show", "dev",
				   "wb-svc-a", NULL),
			 0);
	assert_true(tnet_has(out, "\"local\":\"" GW_A "\",\"prefixlen\":28"));
	assert_int_equal(tnet_runv(-1, out, sizeof(out), "ip", "-j", "addr", "show", "dev",
				   "wb-svc-b", NULL),
			 0);
	assert_true(tnet_has(out, "\"local\":\"" GW_B "\",\"prefixlen\":28"));
	assert_int_equal(plat_ctr_link_get(i1.host_ifindex, NULL, &l), 0);
	assert_string_equal(l.kind, "veth");
	assert_string_equal(l.alias, "weft-attach svc-a c1");
	assert_int_equal(l.master, i1.bridge_ifindex);
	assert_int_equal(l.peer, PLAT_CTR_PEER_OTHER);
	assert_int_equal(l.peer_ifindex, i1.container_ifindex);
	assert_true(l.up);
	assert_int_equal(plat_netif_get_mtu(l.ifindex), MTU);
	assert_int_equal(plat_ctr_link_get(i3.host_ifindex, NULL, &l), 0);
	assert_int_equal(l.master, i3.bridge_ifindex);
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1\n");

	/* Container side, through ip(8). */
	check_inside(c1, "10.200.103.34", GW_A);
	check_inside(c2, "10.200.103.35", GW_A);
	check_inside(c3, "10.200.7.18", GW_B);

	/* Traffic: same bridge, the gateway, across services (routed by the host), and a
	 * negative control. */
	assert_true(ping(c1, "10.200.103.35"));
	assert_true(ping(c2, "10.200.103.34"));
	assert_true(ping(c1, GW_A));
	assert_true(ping(c3, GW_B));
	assert_true(ping(c3, "10.200.103.34"));
	assert_false(ping(c1, "10.200.103.40"));

	/* Lookup agrees with attach. */
	assert_int_equal(ov_attach_lookup("c2", &got), 0);
	assert_string_equal(got.service, "svc-a");
	assert_string_equal(got.bridge, "wb-svc-a");
	assert_string_equal(got.host_veth, i2.host_veth);
	assert_int_equal(got.host_ifindex, i2.host_ifindex);
	assert_int_equal(got.container_ifindex, i2.container_ifindex);
	assert_int_equal(got.bridge_ifindex, i2.bridge_ifindex);
	assert_int_equal(ov_attach_lookup("c9", &got), -ENOENT);
	assert_int_equal(ov_attach_lookup("bad id", &got), -EINVAL);

	/* Detach c1: both ends gone, the bridge and c2 unaffected. */
	assert_int_equal(ov_detach("c1"), 0);
	assert_false(exists(i1.host_veth));
	assert_int_not_equal(tnet_runv(c1, NULL, 0, "ip", "link", "show", "eth0", NULL), 0);
	assert_int_equal(links_in(c1), 1); /* lo */
	assert_true(exists("wb-svc-a"));
	assert_true(ping(c2, GW_A));
	assert_false(ping(c2, "10.200.103.34"));
	assert_int_equal(ov_detach("c1"), -ENOENT);
	assert_int_equal(ov_attach_lookup("c1", &got), -ENOENT);
	assert_int_equal(ov_detach("bad id"), -EINVAL);

	/* The bridge goes only when empty, and only when asked. */
	assert_int_equal(ov_attach_bridge_remove("svc-a"), -EBUSY);
	assert_true(exists("wb-svc-a"));
	assert_int_equal(ov_detach("c2"), 0);
	assert_int_equal(ov_attach_bridge_remove("svc-a"), 0);
	assert_false(exists("wb-svc-a"));
	assert_int_equal(ov_attach_bridge_remove("svc-a"), -ENOENT);
	assert_int_equal(ov_attach_bridge_remove("Bad"), -EINVAL);

	/* Attach again after all that: a new bridge, working traffic. */
	attach_ok(&r1, &i1);
	assert_true(i1.bridge_created);
	assert_true(ping(c1, GW_A));
	assert_true(ping(c3, "10.200.103.34"));
	close(c1);
	close(c2);
	close(c3);
}

static void test_long_service(void **state)
{
	const char *svc = "a-service-name-much-longer-than-an-interface-name-can-hold-0123";
	struct ov_attach_info info;
	char name[OV_ATTACH_IFNAME_MAX];
	int c1;

	(void)state;
	assert_int_equal(strlen(svc), 63);
	c1 = tnet_new();
	assert_true(c1 >= 0);
	struct ov_attach_req r =
		req(svc, SUBNET_A, "10.200.103.46", c1,
		    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	attach_ok(&r, &info);
	assert_int_equal(ov_attach_bridge_name(svc, name), 0);
	assert_string_equal(info.bridge, name);
	assert_true(exists(name));
	assert_true(ping(c1, GW_A));
	assert_int_equal(ov_detach(r.container), 0);
	assert_int_equal(ov_attach_bridge_remove(svc), 0);
	assert_int_equal(links_here(), 1);
	close(c1);
}

/* ---- idempotence and refusals ---- */

static void test_attach_twice(void **state)
{
	struct ov_attach_info info;
	int c1, c2, here;

	(void)state;
	c1 = tnet_new();
	c2 = tnet_new();
	assert_true(c1 >= 0 && c2 >= 0);
	struct ov_attach_req r1 = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	attach_ok(&r1, &info);
	here = links_here();

	assert_int_equal(ov_attach(&r1, &info), -EEXIST);
	assert_true(tnet_has(err, "attached already"));
	/* The same id from another namespace is the same container: refused too. */
	r1.netns_fd = c2;
	assert_int_equal(ov_attach(&r1, &info), -EEXIST);
	assert_int_equal(links_in(c2), 1);
	/* Another id into a namespace that has an eth0: the new pair is undone. */
	struct ov_attach_req r2 = req("svc-a", SUBNET_A, "10.200.103.35", c1, "c2");
	assert_int_equal(ov_attach(&r2, &info), -EEXIST);
	assert_true(tnet_has(err, "eth0"));
	assert_int_equal(links_here(), here);
	assert_int_equal(links_in(c1), 2); /* lo, eth0 */
	assert_true(ping(c1, GW_A));
	assert_int_equal(ov_attach_lookup("c2", &info), -ENOENT);
	close(c1);
	close(c2);
}

/* Each case changes one field of a good request; NULL, 0 and -1 keep it. */
enum { FD_KEEP, FD_NONE, FD_NULL, FD_SELF };

static const struct bad_case {
	const char *what;
	const char *service, *container; /* container "*": longer than allowed */
	const char *subnet, *addr;
	int addr_len;
	long mtu;
	int fd;
	int code;
} bad[] = {
	{"service upper case", "Svc-a", NULL, NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"service empty", "", NULL, NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"service with dot", "svc.a", NULL, NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"container with space", NULL, "c 1", NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"container empty", NULL, "", NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"container too long", NULL, "*", NULL, NULL, 0, -1, FD_KEEP, -EINVAL},
	{"subnet host bits", NULL, NULL, "10.200.103.33/28", NULL, 0, -1, FD_KEEP, -EINVAL},
	{"subnet /31", NULL, NULL, "10.200.103.34/31", NULL, 0, -1, FD_KEEP, -EINVAL},
	{"subnet v6", NULL, NULL, "fd00:200::/64", NULL, 0, -1, FD_KEEP, -EAFNOSUPPORT},
	{"addr network", NULL, NULL, NULL, "10.200.103.32", 0, -1, FD_KEEP, -EINVAL},
	{"addr gateway", NULL, NULL, NULL, GW_A, 0, -1, FD_KEEP, -EINVAL},
	{"addr broadcast", NULL, NULL, NULL, "10.200.103.47", 0, -1, FD_KEEP, -EINVAL},
	{"addr outside", NULL, NULL, NULL, "10.200.103.50", 0, -1, FD_KEEP, -EINVAL},
	{"addr other prefix", NULL, NULL, NULL, NULL, 24, -1, FD_KEEP, -EINVAL},
	{"mtu 0", NULL, NULL, NULL, NULL, 0, 0, FD_KEEP, -EINVAL},
	{"mtu 67", NULL, NULL, NULL, NULL, 0, 67, FD_KEEP, -EINVAL},
	{"mtu 65536", NULL, NULL, NULL, NULL, 0, 65536, FD_KEEP, -EINVAL},
	{"netns -1", NULL, NULL, NULL, NULL, 0, -1, FD_NONE, -EBADF},
	{"netns /dev/null", NULL, NULL, NULL, NULL, 0, -1, FD_NULL, -EINVAL},
	{"netns our own", NULL, NULL, NULL, NULL, 0, -1, FD_SELF, -EINVAL},
};

static void test_bad_requests(void **state)
{
	struct ov_attach_info info = {.host_ifindex = 77};
	char longid[OV_ATTACH_CONTAINER_MAX + 2];
	int c1, null, self, here, there;

	(void)state;
	c1 = tnet_new();
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(c1 >= 0 && null >= 0 && self >= 0);
	here = links_here();
	there = links_in(c1);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';

	const struct ov_attach_req good = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	struct ov_attach_req r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_case *b = &bad[i];

		r = good;
		if (b->service)
			r.service = b->service;
		if (b->container)
			r.container = b->container[0] == '*' ? longid : b->container;
		if (b->subnet)
			assert_int_equal(ov_prefix_parse(b->subnet, &r.subnet), 0);
		if (b->addr)
			assert_int_equal(ov_addr_parse(b->addr, 4, &r.addr), 0);
		if (b->addr_len)
			r.addr.len = (uint8_t)b->addr_len;
		if (b->mtu >= 0)
			r.mtu = (unsigned)b->mtu;
		if (b->fd != FD_KEEP)
			r.netns_fd = b->fd == FD_NONE ? -1 : b->fd == FD_NULL ? null : self;
		err[0] = '\0';
		if (ov_attach(&r, &info) != b->code)
			fail_msg("%s: want %d, err \"%s\"", b->what, b->code, err);
		if (!err[0])
			fail_msg("%s: no error text", b->what);
		assert_int_equal(info.host_ifindex, 77); /* ret untouched */
	}
	r = good;
	r.service = NULL;
	assert_int_equal(ov_attach(&r, &info), -EINVAL);
	assert_int_equal(ov_attach(NULL, &info), -EINVAL);
	/* No error buffer is fine. */
	r = good;
	r.mtu = 1;
	r.err = NULL;
	assert_int_equal(ov_attach(&r, NULL), -EINVAL);

	/* Nothing was made anywhere, and forwarding was not touched. */
	assert_int_equal(links_here(), here);
	assert_int_equal(links_in(c1), there);
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv4/ip_forward", err, sizeof(err)), 0);
	assert_string_equal(err, "0\n");
	/* And the good request still works. */
	attach_ok(&good, &info);
	close(null);
	close(self);
	close(c1);
}

struct default_route {
	const char *gw;
};

static int add_default_inside(void *ctx)
{
	struct plat_ctr_veth v = {.name = "x0", .peer = "x1", .peer_netns_fd = -1};
	struct plat_addr a = {.family = WG_AF_INET, .addr = {198, 18, 5, 1}, .prefix = 24};
	struct plat_addr any = {.family = WG_AF_INET, .addr = {0}, .prefix = 0};
	struct plat_addr gw = {.family = WG_AF_INET, .addr = {198, 18, 5, 254}, .prefix = 32};
	int x0, r;

	(void)ctx;
	r = plat_ctr_veth_create(&v, &x0);
	if (!r)
		r = plat_netif_set_up(x0, true);
	if (!r)
		r = plat_netif_add_address(x0, &a);
	if (!r)
		r = plat_ctr_add_gateway_route(x0, &any, &gw, 0);
	return r;
}

static void test_collisions(void **state)
{
	struct ov_attach_info info;
	char vn[OV_ATTACH_IFNAME_MAX];
	int c1, c2, here, br;

	(void)state;
	c1 = tnet_new();
	c2 = tnet_new();
	assert_true(c1 >= 0 && c2 >= 0);

	/* The bridge's name held by a veth. */
	struct plat_ctr_veth v = {.name = "wb-svc-a", .peer = "p0", .peer_netns_fd = -1};
	assert_int_equal(plat_ctr_veth_create(&v, NULL), 0);
	here = links_here();
	struct ov_attach_req r = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	assert_int_equal(ov_attach(&r, &info), -EEXIST);
	assert_true(tnet_has(err, "veth link"));
	assert_int_equal(links_here(), here);
	assert_int_equal(links_in(c1), 1);

	/* A bridge of someone else's under our name. */
	assert_int_equal(plat_ctr_bridge_create("wb-svc-c", 0, &br), 0);
	assert_int_equal(plat_ctr_set_alias(br, "docker thing"), 0);
	here = links_here();
	r = req("svc-c", SUBNET_A, "10.200.103.34", c1, "c1");
	assert_int_equal(ov_attach(&r, &info), -EEXIST);
	assert_true(tnet_has(err, "someone else"));
	assert_int_equal(links_here(), here);

	/* The container's veth name held by a bridge: the bridge this call made is undone. */
	assert_int_equal(ov_attach_veth_name("c1", vn), 0);
	assert_int_equal(plat_ctr_bridge_create(vn, 0, NULL), 0);
	here = links_here();
	r = req("svc-b", SUBNET_B, "10.200.7.18", c1, "c1");
	assert_int_equal(ov_attach(&r, &info), -EEXIST);
	assert_true(tnet_has(err, "bridge link"));
	assert_int_equal(links_here(), here);
	assert_false(exists("wb-svc-b"));

	/* The service's bridge holds another subnet: refused, the bridge kept as it was. */
	r = req("svc-d", SUBNET_B, "10.200.7.18", c1, "c3");
	attach_ok(&r, &info);
	here = links_here();
	r = req("svc-d", SUBNET_A, "10.200.103.34", c2, "c4");
	assert_int_equal(ov_attach(&r, &info), -EADDRINUSE);
	assert_true(tnet_has(err, "10.200.7.17/28"));
	assert_int_equal(links_here(), here);
	assert_int_equal(links_in(c2), 1);
	assert_true(ping(c1, GW_B));

	/* A failure at the last in-container step (a default route there already) undoes the
	 * pair and the bridge this call made. */
	assert_int_equal(plat_ctr_netns_run(c2, add_default_inside, NULL), 0);
	here = links_here();
	r = req("svc-e", SUBNET_A, "10.200.103.34", c2, "c5");
	assert_int_equal(ov_attach(&r, &info), -EEXIST);
	assert_true(tnet_has(err, "default route"));
	assert_int_equal(links_here(), here);
	assert_false(exists("wb-svc-e"));
	assert_int_equal(links_in(c2), 3); /* lo, x0, x1 */
	close(c1);
	close(c2);
}

/* ---- sweep ---- */

struct reports {
	char ids[16][OV_ATTACH_CONTAINER_MAX + 1];
	int n;
};

static void gone_cb(void *ctx, const char *container)
{
	struct reports *rep = ctx;

	assert_true(rep->n < 16);
	snprintf(rep->ids[rep->n++], sizeof(rep->ids[0]), "%s", container);
}

static int times(const struct reports *rep, const char *id)
{
	int i, k = 0;

	for (i = 0; i < rep->n; i++)
		k += !strcmp(rep->ids[i], id);
	return k;
}

static void test_sweep(void **state)
{
	const char *known[] = {"c1", "c2", "c9"};
	struct reports rep = {.n = 0};
	struct ov_attach_info i1;
	char ghost[OV_ATTACH_IFNAME_MAX], crashed[OV_ATTACH_IFNAME_MAX],
		other[OV_ATTACH_IFNAME_MAX];
	int c1, c2, waited, rc;

	(void)state;
	c1 = tnet_new();
	c2 = tnet_new();
	assert_true(c1 >= 0 && c2 >= 0);
	struct ov_attach_req r1 = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	struct ov_attach_req r2 = req("svc-a", SUBNET_A, "10.200.103.35", c2, "c2");
	attach_ok(&r1, &i1);
	attach_ok(&r2, NULL);

	/* Leftovers: ours with the peer back here, ours unlabelled (a crash mid-attach), and
	 * two that are not ours (a foreign alias on our name shape, a foreign name). */
	assert_int_equal(ov_attach_veth_name("ghost", ghost), 0);
	assert_int_equal(ov_attach_veth_name("crashed", crashed), 0);
	assert_int_equal(ov_attach_veth_name("other", other), 0);
	struct plat_ctr_veth v[] = {
		{.name = ghost,
		 .peer = "gp0",
		 .peer_netns_fd = -1,
		 .alias = "weft-attach svc-a ghost"},
		{.name = crashed, .peer = "cp0", .peer_netns_fd = -1},
		{.name = other, .peer = "op0", .peer_netns_fd = -1, .alias = "someone else"},
		{.name = "fv0", .peer = "fv1", .peer_netns_fd = -1},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(plat_ctr_veth_create(&v[i], NULL), 0);

	/* Nothing of c1/c2 is gone yet; c9 (known, never attached) is. */
	rc = ov_attach_sweep(known, 3, gone_cb, &rep);
	assert_int_equal(rc, 2);
	assert_int_equal(rep.n, 2);
	assert_int_equal(times(&rep, "ghost"), 1);
	assert_int_equal(times(&rep, "c9"), 1);
	assert_false(exists(ghost));
	assert_false(exists("gp0"));
	assert_false(exists(crashed));
	assert_true(exists(other));
	assert_true(exists("fv0"));
	assert_true(exists(i1.host_veth));
	assert_int_equal(ov_attach_sweep(known, 2, gone_cb, &rep), 0);

	/* c1's namespace dies. The kernel removes the pair a moment later; either way the
	 * sweep reports c1 exactly once in the call that sees it gone. */
	close(c1);
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 50) {
		rep.n = 0;
		rc = ov_attach_sweep(known, 2, gone_cb, &rep);
		assert_true(rc >= 0);
		assert_int_equal(times(&rep, "c2"), 0);
		if (rc)
			break;
		usleep(50000);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(times(&rep, "c1"), 1);
	assert_false(exists(i1.host_veth));
	assert_int_equal(ov_attach_lookup("c1", &i1), -ENOENT);
	assert_true(ping(c2, GW_A));
	/* Without a known list, nothing left to report. */
	assert_int_equal(ov_attach_sweep(NULL, 0, NULL, NULL), 0);
	assert_int_equal(ov_attach_sweep(NULL, 1, NULL, NULL), -EINVAL);
	close(c2);
}

/*
 * The daemon's real case: `weft attach --pid PID`. A child process in its own namespace is
 * the container; the namespace is opened through /proc/PID/ns/net and the fd closed after
 * attaching, so when the process dies the namespace dies with it and the sweep reports it.
 */
static void test_attach_by_pid(void **state)
{
	const char *known[] = {"pid-ctr"};
	struct reports rep = {.n = 0};
	char path[64], c;
	int p[2], fd, waited, rc, status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ov_attach_req r = req("svc-a", SUBNET_A, "10.200.103.40", fd, "pid-ctr");
	attach_ok(&r, NULL);
	assert_true(ping(fd, GW_A));
	close(fd);
	assert_int_equal(ov_attach_sweep(known, 1, gone_cb, &rep), 0);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (waited = 0; waited < SWEEP_WAIT_MS; waited += 50) {
		rc = ov_attach_sweep(known, 1, gone_cb, &rep);
		assert_true(rc >= 0);
		if (rc)
			break;
		usleep(50000);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.ids[0], "pid-ctr");
	assert_int_equal(ov_attach_lookup("pid-ctr", &(struct ov_attach_info){0}), -ENOENT);
	assert_int_equal(ov_attach_bridge_remove("svc-a"), 0);
	assert_int_equal(links_here(), 1);
}

/* The daemon calls from any thread: concurrent attaches of one service share one bridge. */
struct job {
	pthread_barrier_t *start;
	struct ov_attach_req r;
	struct ov_attach_info info;
	char err[256];
	int rc;
};

static void *attach_thread(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(j->start); /* all at once: the bridge is everyone's first step */
	j->rc = ov_attach(&j->r, &j->info);
	return NULL;
}

static void test_concurrent(void **state)
{
	enum { N = 16 };
	struct job jobs[N];
	pthread_barrier_t start;
	pthread_t t[N];
	char addr[32], id[16];
	int created = 0, i;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(addr, sizeof(addr), "10.200.103.%d", 66 + i);
		snprintf(id, sizeof(id), "c%d", i);
		jobs[i].r = req("svc-a", "10.200.103.64/26", addr, tnet_new(), strdup(id));
		assert_true(jobs[i].r.netns_fd >= 0);
		jobs[i].r.err = jobs[i].err;
		jobs[i].r.errlen = sizeof(jobs[i].err);
		jobs[i].start = &start;
	}
	assert_int_equal(pthread_barrier_init(&start, NULL, N), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, attach_thread, &jobs[i]), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (i = 0; i < N; i++) {
		if (jobs[i].rc)
			fail_msg("%s: %d %s", jobs[i].r.container, jobs[i].rc, jobs[i].err);
		created += jobs[i].info.bridge_created;
	}
	assert_int_equal(created, 1);
	assert_true(ping(jobs[0].r.netns_fd, "10.200.103.81"));
	for (i = 0; i < N; i++) {
		assert_int_equal(ov_detach(jobs[i].r.container), 0);
		close(jobs[i].r.netns_fd);
		free((char *)jobs[i].r.container);
	}
	assert_int_equal(ov_attach_bridge_remove("svc-a"), 0);
}

/* ---- main ---- */

static const char *why_skip(void)
{
	static char why[128];

	if (geteuid() != 0)
		return "not root (needs CAP_NET_ADMIN and CAP_SYS_ADMIN for private netns)";
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(why, sizeof(why), "unshare(CLONE_NEWNET): %s", strerror(errno));
		return why;
	}
	if (tnet_runv(-1, NULL, 0, "ip", "-V", NULL) != 0)
		return "ip(8) not found (iproute2)";
	if (tnet_runv(-1, NULL, 0, "ping", "-V", NULL) != 0)
		return "ping(8) not found (iputils-ping)";
	return NULL;
}

#define T(f) cmocka_unit_test_setup(f, fresh_netns)

/* Dual stack (issue 12 item 4): the IPv6 twins of the subnet and the addresses. */
static void test_dual_stack(void **state)
{
	struct ov_prefix c4, c6;
	struct ov_attach_info i1, i2;
	char out[OUT_LEN];
	int c1, c2, here;

	(void)state;
	c1 = tnet_new();
	c2 = tnet_new();
	assert_true(c1 >= 0 && c2 >= 0);
	assert_int_equal(ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR4, &c4), 0);
	assert_int_equal(ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR6, &c6), 0);

	struct ov_attach_req r1 = req("svc-a", SUBNET_A, "10.200.103.34", c1, "c1");
	struct ov_attach_req r2 = req("svc-a", SUBNET_A, "10.200.103.35", c2, "c2");

	assert_int_equal(ov_prefix_derive6(&c4, &c6, &r1.subnet, &r1.subnet6), 0);
	assert_int_equal(ov_prefix_derive6(&c4, &c6, &r1.addr, &r1.addr6), 0);
	r2.subnet6 = r1.subnet6;
	assert_int_equal(ov_prefix_derive6(&c4, &c6, &r2.addr, &r2.addr6), 0);

	/* Bad IPv6 halves are refused before anything is made. */
	here = links_here();
	{
		struct ov_attach_req b = r1;

		assert_int_equal(ov_addr_parse("fd00:200::6720", 6, &b.addr6), 0);
		assert_int_equal(ov_attach(&b, NULL), -EINVAL); /* the network */
		assert_non_null(strstr(err, "network, gateway or last"));
		assert_int_equal(ov_addr_parse("fd00:200::6721", 6, &b.addr6), 0);
		assert_int_equal(ov_attach(&b, NULL), -EINVAL); /* the gateway */
		assert_int_equal(ov_addr_parse("fd00:200::6730", 6, &b.addr6), 0);
		assert_int_equal(ov_attach(&b, NULL), -EINVAL); /* outside */
		assert_non_null(strstr(err, "not inside subnet6"));
		b = r1;
		b.subnet6.len = 127;
		assert_int_equal(ov_attach(&b, NULL), -EINVAL);
		b = r1;
		memset(&b.subnet6, 0, sizeof(b.subnet6)); /* an address without a subnet */
		assert_int_equal(ov_attach(&b, NULL), -EINVAL);
	}
	assert_int_equal(links_here(), here);

	attach_ok(&r1, &i1);
	attach_ok(&r2, &i2);
	assert_int_equal(tnet_runv(-1, out, sizeof(out), "ip", "-j", "-6", "addr", "show", "dev",
				   "wb-svc-a", NULL),
			 0);
	assert_true(tnet_has(out, "\"local\":\"fd00:200::6721\",\"prefixlen\":124"));
	assert_int_equal(tnet_runv(c1, out, sizeof(out), "ip", "-j", "-6", "addr", "show", "dev",
				   "eth0", NULL),
			 0);
	assert_true(tnet_has(out, "\"local\":\"fd00:200::6722\",\"prefixlen\":124"));
	/* usable at once: no duplicate address detection (the link-local one has it) */
	assert_true(tnet_has(out, "\"fd00:200::6722\",\"prefixlen\":124,\"scope\":\"global\","
				  "\"nodad\":true"));
	assert_int_equal(tnet_runv(c1, out, sizeof(out), "ip", "-6", "route", "show", "default",
				   NULL),
			 0);
	assert_true(tnet_has(out, "via fd00:200::6721 dev eth0"));
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv6/conf/all/forwarding", out,
					sizeof(out)),
			 0);
	assert_string_equal(out, "1\n");
	assert_true(tnet_runv(c1, NULL, 0, "ping", "-6", "-c", "1", "-W", "2", "-q",
			      "fd00:200::6723", NULL) == 0);
	assert_int_equal(ov_detach("c1"), 0);
	assert_int_equal(ov_detach("c2"), 0);
	close(c1);
	close(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_netns_path),
		T(test_attach_detach),
		T(test_long_service),
		T(test_attach_twice),
		T(test_bad_requests),
		T(test_collisions),
		T(test_sweep),
		T(test_attach_by_pid),
		T(test_concurrent),
		T(test_dual_stack),
	};
	const char *why = why_skip();

	if (why) {
		printf("test_overlay_attach: skipped: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Container plumbing of platform/linux/container.c against the real kernel: bridges, veth
 * pairs with their peer born in another namespace, master, alias, move + rename, gateway
 * routes, IPv4 forwarding, running code inside another namespace, and the peer states the
 * attach sweep relies on. Results are read back through our netlink code and, where it
 * matters, through ip(8) as an independent witness.
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); skips with a reason otherwise. Every test first
 * moves the process into a fresh network namespace ("here"), and makes further namespaces
 * held only by fds ("there"), so nothing outside is seen or touched and everything dies with
 * the test.
 *
 *   here (private netns per test)                 there (netns held by an fd)
 *     br0 (bridge)  <-port-  h0  <--veth-->  eth0
 *     a0 <--veth--> a1                         (a1 moved and renamed: eth1)
 *     x0 <--veth--> x1  198.18.1.1/24, default via 198.18.1.254
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
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "netns_util.h"
#include "platform/container.h"
#include "platform/netif.h"

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
	struct plat_addr a = {.family = WG_AF_INET, .addr = {0}, .prefix = prefix};

	assert_int_equal(inet_pton(AF_INET, s, a.addr), 1);
	return a;
}

static struct plat_ctr_link get(const char *name)
{
	struct plat_ctr_link l;

	assert_int_equal(plat_ctr_link_get(0, name, &l), 0);
	return l;
}

static int count_cb(void *ctx, const struct plat_ctr_link *l)
{
	(void)l;
	(*(int *)ctx)++;
	return 0;
}

static int count_links(void)
{
	int n = 0;

	assert_int_equal(plat_ctr_link_list(count_cb, &n), 0);
	return n;
}

/* ---- bridges and link reading ---- */

static void test_bridge(void **state)
{
	struct plat_ctr_link l, none = {.ifindex = 77};
	int idx = 0;

	(void)state;
	assert_int_equal(plat_ctr_bridge_create("br0", 1400, &idx), 0);
	assert_true(idx > 0);
	l = get("br0");
	assert_int_equal(l.ifindex, idx);
	assert_string_equal(l.name, "br0");
	assert_string_equal(l.kind, "bridge");
	assert_string_equal(l.alias, "");
	assert_int_equal(l.master, 0);
	assert_int_equal(l.peer, PLAT_CTR_PEER_NONE);
	assert_false(l.up);
	assert_int_equal(plat_netif_get_mtu(idx), 1400);
	assert_int_equal(plat_ctr_link_get(idx, NULL, &l), 0);
	assert_string_equal(l.name, "br0");
	assert_int_equal(plat_netif_set_up(idx, true), 0);
	assert_true(get("br0").up);

	/* Taken names, bad names, missing links; none changes anything. */
	assert_int_equal(plat_ctr_bridge_create("br0", 0, &idx), -EEXIST);
	assert_int_equal(plat_ctr_bridge_create("lo", 0, NULL), -EEXIST);
	assert_int_equal(plat_ctr_bridge_create("", 0, NULL), -EINVAL);
	assert_int_equal(plat_ctr_bridge_create("0123456789abcdef", 0, NULL), -EINVAL);
	assert_int_equal(plat_ctr_bridge_create("a/b", 0, NULL), -EINVAL);
	assert_int_equal(plat_ctr_bridge_create("a b", 0, NULL), -EINVAL);
	assert_int_equal(plat_ctr_bridge_create("..", 0, NULL), -EINVAL);
	assert_int_equal(plat_ctr_link_get(0, "nope", &none), -ENODEV);
	assert_int_equal(plat_ctr_link_get(0, "0123456789abcdef", &none), -ENODEV);
	assert_int_equal(plat_ctr_link_get(999999, NULL, &none), -ENODEV);
	assert_int_equal(plat_ctr_link_get(0, NULL, &none), -ENODEV);
	assert_int_equal(none.ifindex, 77);
	assert_int_equal(count_links(), 2); /* lo, br0 */
}

static int stop_at_second(void *ctx, const struct plat_ctr_link *l)
{
	int *n = ctx;

	(void)l;
	return ++*n == 2 ? 42 : 0;
}

static void test_link_list(void **state)
{
	int n = 0, i;
	char name[PLAT_CTR_NAME_MAX];

	(void)state;
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "b%d", i);
		assert_int_equal(plat_ctr_bridge_create(name, 0, NULL), 0);
	}
	assert_int_equal(count_links(), 21);
	assert_int_equal(plat_ctr_link_list(stop_at_second, &n), 42);
	assert_int_equal(n, 2);
	assert_int_equal(plat_ctr_link_list(NULL, NULL), -EINVAL);
}

/* ---- veths across namespaces ---- */

struct peer_check {
	int ifindex;
	const char *name;
	unsigned mtu;
};

static int check_peer_inside(void *ctx)
{
	struct peer_check *c = ctx;
	struct plat_ctr_link l;
	int r;

	r = plat_ctr_link_get(0, c->name, &l);
	if (r < 0)
		return r;
	if (l.ifindex != c->ifindex || strcmp(l.kind, "veth") || l.peer != PLAT_CTR_PEER_OTHER)
		return -EPROTO;
	if (c->mtu && plat_netif_get_mtu(l.ifindex) != (int)c->mtu)
		return -ERANGE;
	return 0;
}

static void test_veth_into_netns(void **state)
{
	struct plat_ctr_veth v = {.name = "h0",
				  .peer = "eth0",
				  .peer_netns_fd = -1,
				  .master = 0,
				  .mtu = 1420,
				  .alias = "weft test"};
	struct peer_check pc = {.ifindex = 0, .name = "eth0", .mtu = 1420};
	struct plat_ctr_link l;
	char out[4096], longalias[PLAT_CTR_ALIAS_MAX + 1];
	int ns, br, h0 = 0, before;

	(void)state;
	ns = tnet_new();
	assert_true(ns >= 0);
	assert_int_equal(plat_ctr_bridge_create("br0", 1420, &br), 0);
	v.peer_netns_fd = ns;
	v.master = br;
	assert_int_equal(plat_ctr_veth_create(&v, &h0), 0);
	l = get("h0");
	assert_int_equal(l.ifindex, h0);
	assert_string_equal(l.kind, "veth");
	assert_string_equal(l.alias, "weft test");
	assert_int_equal(l.master, br);
	assert_int_equal(l.peer, PLAT_CTR_PEER_OTHER);
	assert_true(l.peer_ifindex > 0);
	assert_false(l.up);
	assert_int_equal(plat_netif_get_mtu(h0), 1420);
	assert_int_equal(plat_netif_index("eth0"), -ENODEV); /* never here */
	pc.ifindex = l.peer_ifindex;
	assert_int_equal(plat_ctr_netns_run(ns, check_peer_inside, &pc), 0);
	/* ip(8) agrees: eth0 there, mtu 1420, peer index ours. */
	assert_int_equal(tnet_runv(ns, out, sizeof(out), "ip", "-j", "link", "show", "eth0", NULL),
			 0);
	assert_true(tnet_has(out, "\"mtu\":1420"));
	assert_true(tnet_has(out, "\"link_index\""));
	assert_int_equal(tnet_runv(-1, out, sizeof(out), "ip", "-j", "link", "show", "h0", NULL),
			 0);
	assert_true(tnet_has(out, "\"master\":\"br0\""));
	assert_true(tnet_has(out, "\"ifalias\":\"weft test\""));

	/* eth0 taken there: nothing is created here either. */
	before = count_links();
	v.name = "h1";
	assert_int_equal(plat_ctr_veth_create(&v, NULL), -EEXIST);
	assert_int_equal(plat_netif_index("h1"), -ENODEV);
	/* This end's name taken. */
	v.name = "h0";
	v.peer = "eth9";
	assert_int_equal(plat_ctr_veth_create(&v, NULL), -EEXIST);
	assert_int_equal(count_links(), before);
	/* Bad input is refused before the kernel is asked. */
	memset(longalias, 'a', PLAT_CTR_ALIAS_MAX);
	longalias[PLAT_CTR_ALIAS_MAX] = '\0';
	v.name = "h2";
	v.alias = longalias;
	assert_int_equal(plat_ctr_veth_create(&v, NULL), -EINVAL);
	v.alias = NULL;
	v.peer = "bad/name";
	assert_int_equal(plat_ctr_veth_create(&v, NULL), -EINVAL);
	v.peer = "eth9";
	v.peer_netns_fd = -7;
	assert_int_equal(plat_ctr_veth_create(&v, NULL), -EBADF);
	assert_int_equal(plat_ctr_veth_create(NULL, NULL), -EINVAL);
	assert_int_equal(count_links(), before);

	/* The namespace dies with its last fd, and the kernel takes the whole pair. */
	close(ns);
	for (int i = 0; i < 100 && plat_netif_index("h0") > 0; i++)
		usleep(20000);
	assert_int_equal(plat_netif_index("h0"), -ENODEV);
}

static void test_peer_here_move_master_alias(void **state)
{
	struct plat_ctr_veth v = {.name = "a0",
				  .peer = "a1",
				  .peer_netns_fd = -1,
				  .master = 0,
				  .mtu = 0,
				  .alias = NULL};
	struct plat_ctr_link l;
	struct peer_check pc = {.ifindex = 0, .name = "eth1", .mtu = 0};
	char out[4096];
	int ns, br, a0, a1;

	(void)state;
	ns = tnet_new();
	assert_true(ns >= 0);
	assert_int_equal(plat_ctr_bridge_create("br0", 0, &br), 0);
	assert_int_equal(plat_ctr_veth_create(&v, &a0), 0);
	l = get("a0");
	a1 = plat_netif_index("a1");
	assert_true(a1 > 0);
	assert_int_equal(l.peer, PLAT_CTR_PEER_HERE);
	assert_int_equal(l.peer_ifindex, a1);
	assert_string_equal(l.alias, "");
	assert_int_equal(get("lo").peer, PLAT_CTR_PEER_NONE);

	/* Master on and off. */
	assert_int_equal(plat_ctr_set_master(a0, br), 0);
	assert_int_equal(get("a0").master, br);
	assert_int_equal(plat_ctr_set_master(a0, 0), 0);
	assert_int_equal(get("a0").master, 0);
	assert_int_equal(plat_ctr_set_master(a0, 999999), -EINVAL); /* the kernel's word */
	assert_int_equal(plat_ctr_set_master(a0, plat_netif_index("lo")), -EOPNOTSUPP);
	assert_int_equal(get("a0").master, 0);
	assert_int_equal(plat_ctr_set_master(999999, br), -ENODEV);

	/* Alias set, replaced, cleared. */
	assert_int_equal(plat_ctr_set_alias(a0, "one"), 0);
	assert_string_equal(get("a0").alias, "one");
	assert_int_equal(plat_ctr_set_alias(a0, "two words"), 0);
	assert_string_equal(get("a0").alias, "two words");
	assert_int_equal(plat_ctr_set_alias(a0, ""), 0);
	assert_string_equal(get("a0").alias, "");
	assert_int_equal(plat_ctr_set_alias(a0, NULL), -EINVAL);

	/* Move and rename in one request; the peer now lives there. */
	assert_int_equal(plat_ctr_link_move(a1, ns, "eth1"), 0);
	assert_int_equal(plat_netif_index("a1"), -ENODEV);
	l = get("a0");
	assert_int_equal(l.peer, PLAT_CTR_PEER_OTHER);
	pc.ifindex = l.peer_ifindex;
	assert_int_equal(plat_ctr_netns_run(ns, check_peer_inside, &pc), 0);
	assert_int_equal(tnet_runv(ns, out, sizeof(out), "ip", "-j", "link", "show", "eth1", NULL),
			 0);

	/* A new name taken there: the kernel moves first and renames after, so the link is
	 * there under its old name (what container.h warns about). */
	v = (struct plat_ctr_veth){.name = "b0", .peer = "b1", .peer_netns_fd = -1};
	assert_int_equal(plat_ctr_veth_create(&v, NULL), 0);
	assert_int_equal(plat_ctr_link_move(plat_netif_index("b1"), ns, "eth1"), -EEXIST);
	assert_int_equal(plat_netif_index("b1"), -ENODEV);
	assert_int_equal(tnet_runv(ns, NULL, 0, "ip", "link", "show", "b1", NULL), 0);
	/* Its old name taken there too: then it stays here. */
	v = (struct plat_ctr_veth){.name = "c0", .peer = "b1", .peer_netns_fd = -1};
	assert_int_equal(plat_ctr_veth_create(&v, NULL), 0);
	assert_int_equal(plat_ctr_link_move(plat_netif_index("b1"), ns, NULL), -EEXIST);
	assert_true(plat_netif_index("b1") > 0);
	assert_int_equal(plat_ctr_link_move(plat_netif_index("b1"), -1, "x"), -EBADF);
	assert_int_equal(plat_ctr_link_move(plat_netif_index("b1"), ns, "bad name"), -EINVAL);
	assert_int_equal(plat_ctr_link_move(0, ns, NULL), -ENODEV);
	close(ns);
}

/* ---- running inside another namespace ---- */

static int make_bridge_inside(void *ctx)
{
	int r = plat_ctr_bridge_create("inside0", 0, NULL);

	(void)ctx;
	return r < 0 ? r : 42;
}

static int same_ns_inside(void *ctx)
{
	return plat_ctr_netns_is_self(*(int *)ctx);
}

static void test_netns_run(void **state)
{
	struct stat before, after;
	int ns, self, null;

	(void)state;
	ns = tnet_new();
	assert_true(ns >= 0);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(self >= 0 && null >= 0);
	assert_int_equal(stat("/proc/thread-self/ns/net", &before), 0);

	assert_int_equal(plat_ctr_netns_is_self(self), 1);
	assert_int_equal(plat_ctr_netns_is_self(ns), 0);
	assert_int_equal(plat_ctr_netns_is_self(null), -EINVAL);
	assert_int_equal(plat_ctr_netns_is_self(-1), -EBADF);
	assert_int_equal(plat_ctr_netns_is_self(999), -EBADF);

	/* fn's value comes back; its links are made there, not here. */
	assert_int_equal(plat_ctr_netns_run(ns, make_bridge_inside, NULL), 42);
	assert_int_equal(plat_netif_index("inside0"), -ENODEV);
	assert_int_equal(plat_ctr_netns_run(ns, make_bridge_inside, NULL), -EEXIST);
	assert_int_equal(plat_ctr_netns_run(ns, same_ns_inside, &ns), 1);
	assert_int_equal(plat_ctr_netns_run(ns, same_ns_inside, &self), 0);
	assert_int_equal(tnet_runv(ns, NULL, 0, "ip", "link", "show", "inside0", NULL), 0);

	assert_int_equal(plat_ctr_netns_run(-1, make_bridge_inside, NULL), -EBADF);
	assert_int_equal(plat_ctr_netns_run(null, make_bridge_inside, NULL), -EINVAL);
	assert_int_equal(plat_ctr_netns_run(ns, NULL, NULL), -EINVAL);

	/* The caller never moved. */
	assert_int_equal(stat("/proc/thread-self/ns/net", &after), 0);
	assert_true(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
	close(null);
	close(self);
	close(ns);
}

/*
 * --netns paths: only a network namespace file opens; a FIFO (which would block a plain
 * open for reading until a writer came), a regular file, a device, a directory and another
 * kind of namespace are refused at once. alarm() turns a blocking open into a failure.
 */
static void test_netns_open(void **state)
{
	static const char *const not_net[] = {"/proc/self/ns/uts", "/proc/self/ns/mnt", "/dev/null",
					      "/proc/self", "/"};
	char dir[] = "/tmp/weft-netns-open-XXXXXX", fifo[64], file[64];
	int fd, ns, r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(file, sizeof(file), "%s/file", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);

	alarm(10);
	assert_int_equal(plat_ctr_netns_open(fifo), -EINVAL);
	assert_int_equal(plat_ctr_netns_open(file), -EINVAL);
	for (size_t i = 0; i < sizeof(not_net) / sizeof(not_net[0]); i++) {
		r = plat_ctr_netns_open(not_net[i]);
		if (r != -EINVAL)
			fail_msg("%s: %d, not -EINVAL", not_net[i], r);
	}
	assert_int_equal(plat_ctr_netns_open("/nonexistent/ns"), -ENOENT);
	assert_int_equal(plat_ctr_netns_open(""), -EINVAL);
	assert_int_equal(plat_ctr_netns_open(NULL), -EINVAL);
	alarm(0);

	/* ours and another one open, and are what plat_ctr_netns_is_self says */
	fd = plat_ctr_netns_open("/proc/thread-self/ns/net");
	assert_true(fd >= 0);
	assert_int_equal(plat_ctr_netns_is_self(fd), 1);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	ns = tnet_new();
	assert_true(ns >= 0);
	snprintf(file, sizeof(file), "/proc/self/fd/%d", ns);
	fd = plat_ctr_netns_open(file);
	assert_true(fd >= 0);
	assert_int_equal(plat_ctr_netns_is_self(fd), 0);
	close(fd);
	close(ns);

	unlink(fifo);
	snprintf(file, sizeof(file), "%s/file", dir);
	unlink(file);
	rmdir(dir);
}

/* ---- routes and forwarding ---- */

static void test_gateway_route(void **state)
{
	struct plat_ctr_veth v = {.name = "x0", .peer = "x1", .peer_netns_fd = -1};
	struct plat_addr a = addr4("198.18.1.1", 24), any = addr4("0.0.0.0", 0);
	struct plat_addr gw = addr4("198.18.1.254", 32), net = addr4("198.18.9.77", 24);
	struct plat_addr gw6 = {.family = WG_AF_INET6, .addr = {0xfd}, .prefix = 128};
	char out[4096];
	int x0;

	(void)state;
	assert_int_equal(plat_ctr_veth_create(&v, &x0), 0);
	assert_int_equal(plat_netif_set_up(x0, true), 0);
	assert_int_equal(plat_netif_set_up(plat_netif_index("x1"), true), 0);
	assert_int_equal(plat_netif_add_address(x0, &a), 0);

	assert_int_equal(plat_ctr_add_gateway_route(x0, &any, &gw, 0), 0);
	assert_int_equal(plat_ctr_add_gateway_route(x0, &any, &gw, 0), -EEXIST);
	assert_int_equal(
		tnet_runv(-1, out, sizeof(out), "ip", "-j", "route", "show", "default", NULL), 0);
	assert_true(tnet_has(out, "\"gateway\":\"198.18.1.254\""));
	assert_true(tnet_has(out, "\"dev\":\"x0\""));
	assert_true(tnet_has(out, "\"protocol\":\"static\""));

	/* Host bits cleared, a metric kept. */
	assert_int_equal(plat_ctr_add_gateway_route(x0, &net, &gw, 7), 0);
	assert_int_equal(
		tnet_runv(-1, out, sizeof(out), "ip", "-j", "route", "show", "198.18.9.0/24", NULL),
		0);
	assert_true(tnet_has(out, "\"metric\":7"));

	/* Gateway off-link, family mismatch, missing link. */
	gw = addr4("198.19.0.1", 32);
	assert_int_equal(plat_ctr_add_gateway_route(x0, &net, &gw, 0), -ENETUNREACH);
	assert_int_equal(plat_ctr_add_gateway_route(x0, &any, &gw6, 0), -EINVAL);
	assert_int_equal(plat_ctr_add_gateway_route(0, &any, &gw, 0), -ENODEV);
	assert_int_equal(plat_ctr_add_gateway_route(x0, NULL, &gw, 0), -EINVAL);
}

static void test_ipv4_forwarding(void **state)
{
	char buf[16];

	(void)state;
	/* A new namespace starts with forwarding off. */
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0\n");
	assert_int_equal(plat_ctr_ipv4_forwarding(true), 0);
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1\n");
	assert_int_equal(plat_ctr_ipv4_forwarding(true), 0);
	assert_int_equal(plat_ctr_ipv4_forwarding(false), 0);
	assert_int_equal(tnet_read_file("/proc/sys/net/ipv4/ip_forward", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0\n");
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
	return NULL;
}

#define T(f) cmocka_unit_test_setup(f, fresh_netns)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bridge),		 T(test_link_list),
		T(test_veth_into_netns), T(test_peer_here_move_master_alias),
		T(test_netns_run),	 T(test_netns_open),
		T(test_gateway_route),	 T(test_ipv4_forwarding),
	};
	const char *why = why_skip();

	if (why) {
		printf("test_platform_container: skipped: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

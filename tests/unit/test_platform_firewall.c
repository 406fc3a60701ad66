/* SPDX-License-Identifier: MIT */
/*
 * platform/firewall.h on Linux. plat_firewall_allow_udp: a no-op that validates its input as
 * Windows does (the Windows rule is tested by tests/windows/test_win_netif.c).
 * plat_firewall_seal: input checks and the rule text anywhere; as root, in a private network
 * namespace (the test process moves into it; nothing on the host is touched), the table's
 * life (installed once however often it is sealed, other tables untouched, gone at unseal)
 * and what it does to packets:
 *
 *                 "node" (this process's scratch netns)
 *   outside ns ── sealO ──┤ tw0 (stands for the WireGuard interface) ── peer ns
 *   198.18.5.2     198.18.5.1    10.200.0.1/16                     10.200.0.2/16
 *                         ├ wb-in 10.200.9.1/28 ── ctr ns 10.200.9.2 (a container)
 *                         │                     └─ ctr3 ns 10.200.9.3 (its neighbour)
 *                         └ wb-out 198.18.9.1/28 ── ctr2 ns 198.18.9.2 (outside the cidr,
 *                                                    so only the forward chain guards it)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns_util.h"
#include "platform/firewall.h"

static void test_noop(void **state)
{
	struct plat_fw_rule *r = NULL;

	assert_int_equal(plat_firewall_allow_udp("wg0", 51820, &r), 0);
	assert_non_null(r);
	plat_firewall_remove(r);
	plat_firewall_remove(NULL);
	r = NULL;
	assert_int_equal(plat_firewall_allow_udp("wg0", 0, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp("", 51820, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp(NULL, 51820, &r), -EINVAL);
	assert_null(r);
}

static struct plat_fw_seal_config good_config(void)
{
	struct plat_fw_seal_config c = {
		.wg_ifname = "tw0",
		.bridge_prefix = "wb-",
		.cidr4 = {.family = WG_AF_INET, .addr = {10, 200, 0, 1}, .prefix = 16},
		.cidr6 = {.family = WG_AF_INET6, .addr = {0xfd, 0, 2, 0}, .prefix = 48},
	};

	return c;
}

static void test_seal_refuses_bad_config(void **state)
{
	static const char *const bad_names[] = {
		"", "a\"b", "a b", "wb*", "a{", "sixteen-chars-xx", "a\n", "ü",
	};
	struct plat_fw_seal_config c;
	struct plat_fw_seal *s = NULL;
	char err[PLAT_FW_SEAL_ERR_LEN];

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		c = good_config();
		c.wg_ifname = bad_names[i];
		assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
		c = good_config();
		c.bridge_prefix = bad_names[i];
		assert_int_equal(plat_firewall_seal(&c, &s, NULL, 0), -EINVAL);
	}
	c = good_config();
	c.wg_ifname = NULL;
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
	c = good_config();
	c.bridge_prefix = "fifteen-chars-x"; /* plus '*' would not name a link */
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
	c = good_config();
	c.cidr4.family = c.cidr6.family = 0;
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
	c = good_config();
	c.cidr4.prefix = 33;
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
	c = good_config();
	c.cidr6.family = WG_AF_INET;
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), -EINVAL);
	assert_int_equal(plat_firewall_seal(NULL, &s, err, sizeof(err)), -EINVAL);
	c = good_config();
	assert_int_equal(plat_firewall_seal(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_null(s);
	plat_firewall_unseal(NULL);
}

static void test_seal_text(void **state)
{
	struct plat_fw_seal_config c = good_config();
	char buf[4096];
	int n;

	n = plat_firewall_seal_format(&c, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_non_null(strstr(buf, "table inet weft {\n"));
	assert_non_null(strstr(buf, "iifname \"tw0\" accept\n"));
	/* host bits cleared */
	assert_non_null(strstr(buf, "ip saddr 10.200.0.0/16 counter name \"spoofed_source\" drop"));
	assert_non_null(
		strstr(buf, "ip6 saddr fd00:200::/48 counter name \"spoofed_source\" drop"));
	assert_non_null(strstr(buf, "ip daddr 10.200.0.0/16 counter name \"underlay_to_overlay\""));
	assert_non_null(strstr(buf, "oifname != \"wb-*\" accept"));
	assert_non_null(
		strstr(buf, "iifname \"wb-*\" meta nfproto ipv4 fib saddr . iif oif missing"));
	assert_non_null(strstr(buf, "counter forward_refused {"));
	/* the anti-spoofing rules come after the accepts of weft's own interfaces */
	assert_true(strstr(buf, "iifname \"wb-*\" accept") < strstr(buf, "ip saddr 10.200"));
	assert_int_equal(plat_firewall_seal_format(&c, buf, 100), -ENOSPC);

	c.cidr6.family = 0;
	n = plat_firewall_seal_format(&c, buf, sizeof(buf));
	assert_true(n > 0);
	assert_null(strstr(buf, "ip6 "));
	c = good_config();
	c.cidr4 =
		(struct plat_addr){.family = WG_AF_INET, .addr = {10, 201, 255, 255}, .prefix = 20};
	assert_true(plat_firewall_seal_format(&c, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "ip saddr 10.201.240.0/20 "));
	c.cidr4.prefix = 0;
	assert_true(plat_firewall_seal_format(&c, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "ip saddr 0.0.0.0/0 "));
}

/* ---- In a private network namespace (root) ------------------------------------------------- */

static bool in_netns;

static int count_tables(const char *name)
{
	char out[4096], line[64];
	int n = 0;
	const char *p = out;

	assert_int_equal(tnet_runv(-1, out, sizeof(out), "nft", "list", "tables", NULL), 0);
	snprintf(line, sizeof(line), "table inet %s\n", name);
	while ((p = strstr(p, line))) {
		if (p == out || p[-1] == '\n')
			n++;
		p += strlen(line);
	}
	return n;
}

static void test_seal_table_life(void **state)
{
	struct plat_fw_seal_config c = good_config();
	struct plat_fw_seal *s = NULL, *s2 = NULL;
	struct plat_fw_seal_stats st;
	char err[PLAT_FW_SEAL_ERR_LEN], out[8192];

	if (!in_netns)
		skip();
	assert_int_equal(tnet_runv(-1, NULL, 0, "nft",
				   "add table inet other { chain c { type "
				   "filter hook prerouting priority 0; counter; }; }",
				   NULL),
			 0);
	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), 0);
	assert_non_null(s);
	assert_int_equal(count_tables("weft"), 1);
	/* a crashed run's table: sealing again replaces it */
	assert_int_equal(plat_firewall_seal(&c, &s2, err, sizeof(err)), 0);
	assert_int_equal(count_tables("weft"), 1);
	assert_int_equal(
		tnet_runv(-1, out, sizeof(out), "nft", "list", "table", "inet", "weft", NULL), 0);
	{
		/* one prerouting and one forward chain, each once */
		const char *p = strstr(out, "chain prerouting");

		assert_non_null(p);
		assert_null(strstr(p + 1, "chain prerouting"));
		assert_non_null(strstr(out, "chain forward"));
	}
	assert_int_equal(plat_firewall_seal_stats(s2, &st), 0);
	assert_int_equal(st.spoofed_source, 0);
	assert_int_equal(st.forward_refused, 0);
	plat_firewall_unseal(s);
	assert_int_equal(count_tables("weft"), 0);
	assert_int_equal(count_tables("other"), 1);
	/* the table gone under it */
	assert_int_equal(plat_firewall_seal_stats(s2, &st), -ENOENT);
	plat_firewall_unseal(s2); /* nothing to delete: fine */
	assert_int_equal(count_tables("other"), 1);
	assert_int_equal(tnet_runv(-1, NULL, 0, "nft", "delete", "table", "inet", "other", NULL),
			 0);
}

static void ip_in(int ns, const char *cmd)
{
	char line[512];

	snprintf(line, sizeof(line), "ip %s", cmd);
	if (tnet_runv(ns, NULL, 0, "sh", "-c", line, NULL) != 0)
		fail_msg("in ns %d: %s", ns, line);
}

/* A veth pair: here is named here_name, the other end goes to ns as "eth0". */
static void veth_to(int ns, const char *here_name)
{
	char cmd[256];
	char nspath[64];

	snprintf(nspath, sizeof(nspath), "/proc/%d/fd/%d", (int)getpid(), ns);
	snprintf(cmd, sizeof(cmd), "link add %s type veth peer name eth0 netns %s", here_name,
		 nspath);
	ip_in(-1, cmd);
	snprintf(cmd, sizeof(cmd), "link set %s up", here_name);
	ip_in(-1, cmd);
	ip_in(ns, "link set eth0 up");
	ip_in(ns, "link set lo up");
}

static bool ping(int ns, const char *from, const char *to)
{
	return tnet_runv(ns, NULL, 0, "ping", "-c1", "-W1", "-I", from, to, NULL) == 0;
}

static void test_seal_packets(void **state)
{
	struct plat_fw_seal_config c = good_config();
	struct plat_fw_seal *s = NULL;
	struct plat_fw_seal_stats st;
	char err[PLAT_FW_SEAL_ERR_LEN];
	int outside, peer, ctr, ctr2, ctr3;
	FILE *f;

	if (!in_netns)
		skip();
	outside = tnet_new();
	peer = tnet_new();
	ctr = tnet_new();
	ctr2 = tnet_new();
	ctr3 = tnet_new();
	assert_true(outside >= 0 && peer >= 0 && ctr >= 0 && ctr2 >= 0 && ctr3 >= 0);
	ip_in(-1, "link set lo up");
	veth_to(outside, "sealO");
	ip_in(-1, "addr add 198.18.5.1/24 dev sealO");
	ip_in(outside, "addr add 198.18.5.2/24 dev eth0");
	ip_in(outside, "addr add 10.200.77.1/32 dev lo"); /* a service-subnet source to spoof */
	ip_in(outside, "route add 10.200.0.0/16 via 198.18.5.1");
	ip_in(outside, "route add 198.18.9.0/28 via 198.18.5.1");
	veth_to(peer, "tw0");
	ip_in(-1, "addr add 10.200.0.1/16 dev tw0");
	ip_in(peer, "addr add 10.200.0.2/16 dev eth0");
	ip_in(peer, "route add 10.200.9.0/28 via 10.200.0.1"); /* as weft0 routes the cluster */
	ip_in(-1, "link add wb-in type bridge");
	ip_in(-1, "link set wb-in up");
	ip_in(-1, "addr add 10.200.9.1/28 dev wb-in");
	veth_to(ctr, "wvin");
	ip_in(-1, "link set wvin master wb-in");
	ip_in(ctr, "addr add 10.200.9.2/28 dev eth0");
	ip_in(ctr, "route add default via 10.200.9.1");
	ip_in(ctr, "addr add 10.200.200.1/32 dev lo"); /* not its subnet */
	veth_to(ctr3, "wvin3");
	ip_in(-1, "link set wvin3 master wb-in");
	ip_in(ctr3, "addr add 10.200.9.3/28 dev eth0");
	ip_in(-1, "link add wb-out type bridge");
	ip_in(-1, "link set wb-out up");
	ip_in(-1, "addr add 198.18.9.1/28 dev wb-out");
	veth_to(ctr2, "wvout");
	ip_in(-1, "link set wvout master wb-out");
	ip_in(ctr2, "addr add 198.18.9.2/28 dev eth0");
	ip_in(ctr2, "route add default via 198.18.9.1");
	f = fopen("/proc/sys/net/ipv4/ip_forward", "w");
	assert_non_null(f);
	fputs("1\n", f);
	fclose(f);
	/* br_netfilter, where loaded, shows bridged frames to the inet hooks too (with the
	 * bridge as iif and oif): the seal must let a bridge's own traffic through. */
	f = fopen("/proc/sys/net/bridge/bridge-nf-call-iptables", "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}

	/* Unsealed, as weft attach left a node before: everything goes. */
	assert_true(ping(outside, "198.18.5.2", "10.200.9.2"));
	assert_true(ping(outside, "198.18.5.2", "198.18.9.2"));

	assert_int_equal(plat_firewall_seal(&c, &s, err, sizeof(err)), 0);
	/* legitimate paths */
	assert_true(ping(peer, "10.200.0.2", "10.200.9.2"));
	assert_true(ping(peer, "10.200.0.2", "10.200.0.1"));
	assert_true(ping(ctr, "10.200.9.2", "10.200.0.2"));
	assert_true(ping(ctr, "10.200.9.2", "10.200.0.1"));
	assert_true(ping(ctr, "10.200.9.2", "10.200.9.3"));	/* within the bridge */
	assert_true(ping(ctr2, "198.18.9.2", "198.18.5.2"));	/* out and the reply back in */
	assert_true(ping(outside, "198.18.5.2", "198.18.5.1")); /* the underlay itself */
	assert_true(tnet_runv(-1, NULL, 0, "ping", "-c1", "-W1", "10.200.9.2", NULL) == 0);
	assert_int_equal(plat_firewall_seal_stats(s, &st), 0);
	assert_int_equal(st.spoofed_source + st.underlay_to_overlay + st.bridge_spoof +
				 st.forward_refused,
			 0);

	/* from the underlay, to the container, to the node's overlay address */
	assert_false(ping(outside, "198.18.5.2", "10.200.9.2"));
	assert_false(ping(outside, "198.18.5.2", "10.200.0.1"));
	assert_int_equal(plat_firewall_seal_stats(s, &st), 0);
	assert_int_equal(st.underlay_to_overlay, 2);
	/* with an overlay source, to the node's underlay address and into the overlay */
	assert_false(ping(outside, "10.200.77.1", "198.18.5.1"));
	assert_false(ping(outside, "10.200.77.1", "10.200.0.2"));
	assert_int_equal(plat_firewall_seal_stats(s, &st), 0);
	assert_int_equal(st.spoofed_source, 2);
	/* forwarded into a local bridge, not a reply */
	assert_false(ping(outside, "198.18.5.2", "198.18.9.2"));
	assert_int_equal(plat_firewall_seal_stats(s, &st), 0);
	assert_int_equal(st.forward_refused, 1);
	/* a container with a source that is not its subnet's */
	assert_false(ping(ctr, "10.200.200.1", "10.200.0.2"));
	assert_int_equal(plat_firewall_seal_stats(s, &st), 0);
	assert_int_equal(st.bridge_spoof, 1);
	assert_int_equal(st.underlay_to_overlay, 2);
	assert_int_equal(st.spoofed_source, 2);

	plat_firewall_unseal(s);
	assert_true(ping(outside, "198.18.5.2", "10.200.9.2"));
	close(outside);
	close(peer);
	close(ctr);
	close(ctr2);
	close(ctr3);
	ip_in(-1, "link del wb-in");
	ip_in(-1, "link del wb-out");
}

static const char *why_skip(void)
{
	static char why[128];

	if (geteuid() != 0)
		return "not root (needs a private network namespace)";
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(why, sizeof(why), "unshare(CLONE_NEWNET): %s", strerror(errno));
		return why;
	}
	if (tnet_runv(-1, NULL, 0, "nft", "--version", NULL) != 0)
		return "nft(8) not found (nftables), needed to look at the table";
	if (tnet_runv(-1, NULL, 0, "ip", "-V", NULL) != 0)
		return "ip(8) not found (iproute2)";
	if (tnet_runv(-1, NULL, 0, "ping", "-V", NULL) != 0)
		return "ping(8) not found (iputils-ping)";
	return NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noop),	     cmocka_unit_test(test_seal_refuses_bad_config),
		cmocka_unit_test(test_seal_text),    cmocka_unit_test(test_seal_table_life),
		cmocka_unit_test(test_seal_packets),
	};
	const char *why = why_skip();

	if (why)
		printf("test_platform_firewall: namespace tests skipped: %s\n", why);
	in_netns = !why;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

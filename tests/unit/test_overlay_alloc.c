/* SPDX-License-Identifier: MIT */
/*
 * Allocator tests (overlay/alloc.c): prefix helpers, FNV-1a, REF's placement vectors
 * (inventory §2), probing and exhaustion on small ranges, the never-reuse rule for host
 * addresses (also across a JSON round trip), subnets, caps, and the JSON reader refusing
 * every kind of bad or inconsistent input with a message naming the field.
 * Pure: no files, no network.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "overlay/alloc.h"

static void assert_prefix(const struct ov_prefix *p, const char *want)
{
	char buf[OV_PREFIX_STRLEN];

	ov_prefix_format(p, buf);
	assert_string_equal(buf, want);
}

static void assert_addr(const struct ov_prefix *p, const char *want)
{
	char buf[OV_PREFIX_STRLEN];

	ov_addr_format(p, buf);
	assert_string_equal(buf, want);
}

static void cfg_of(struct ov_alloc_config *cfg, const char *c4, const char *c6, const char *hosts,
		   uint8_t slice)
{
	memset(cfg, 0, sizeof(*cfg));
	assert_int_equal(ov_prefix_parse(c4, &cfg->cluster4), 0);
	assert_int_equal(ov_prefix_parse(c6, &cfg->cluster6), 0);
	assert_int_equal(ov_prefix_parse(hosts, &cfg->hosts), 0);
	cfg->slice_len = slice;
}

static void init_default(struct ov_alloc *a)
{
	struct ov_alloc_config cfg;

	ov_alloc_config_default(&cfg);
	assert_int_equal(ov_alloc_init(a, &cfg, NULL, 0), 0);
}

static void test_prefix(void **state)
{
	static const char *const bad[] = {
		"10.200.0.0",
		"10.200.0.0/33",
		"10.200.0.0/016",
		"/16",
		"10.200.0.0/16x",
		"fd00::/129",
		"1.2.3.4/ 8",
		"010.1.1.1/8",
		"10.200.0.0/",
		"10.200.0.0/-1",
		"fd00::%1/64",
		"x/8",
		"",
		"1.2.3.4.5/8",
		"10.200.0.0/+8",
	};
	struct ov_prefix p, q;

	(void)state;
	assert_int_equal(ov_prefix_parse("10.200.0.0/16", &p), 0);
	assert_int_equal(p.family, 4);
	assert_int_equal(p.len, 16);
	assert_true(ov_prefix_is_network(&p));
	assert_prefix(&p, "10.200.0.0/16");
	assert_int_equal(ov_prefix_parse("fd00:0200:0::/48", &q), 0);
	assert_prefix(&q, "fd00:200::/48");
	assert_true(ov_prefix_is_network(&q));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ov_prefix_parse(bad[i], &p), -EINVAL);
	assert_int_equal(ov_prefix_parse("10.200.0.5/16", &p), 0);
	assert_false(ov_prefix_is_network(&p));
	assert_int_equal(ov_prefix_parse("0.0.0.0/0", &p), 0);
	assert_true(ov_prefix_is_network(&p));

	assert_int_equal(ov_addr_parse("10.200.0.1", 4, &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(ov_addr_parse("10.200.0.1", 6, &p), -EINVAL);
	assert_int_equal(ov_addr_parse("fd00:200::1", 4, &p), -EINVAL);
	assert_int_equal(ov_addr_parse("fd00:200::1", 0, &p), 0);
	assert_int_equal(p.len, 128);

	assert_int_equal(ov_prefix_parse("10.200.0.0/16", &p), 0);
	assert_int_equal(ov_prefix_parse("10.200.174.64/28", &q), 0);
	assert_true(ov_prefix_contains(&p, &q));
	assert_false(ov_prefix_contains(&q, &p));
	assert_int_equal(ov_prefix_parse("10.201.0.0/28", &q), 0);
	assert_false(ov_prefix_contains(&p, &q));
	assert_int_equal(ov_prefix_parse("fd00:200::/48", &q), 0);
	assert_false(ov_prefix_contains(&p, &q));
	assert_int_equal(ov_prefix_parse("10.200.0.0/12", &q), 0); /* /12 with host bits */
	assert_false(ov_prefix_contains(&p, &q));
}

static void test_host_count(void **state)
{
	static const struct {
		const char *prefix;
		uint64_t n;
	} v[] = {
		{"10.200.0.0/16", 65534},
		{"10.0.0.0/30", 2},
		{"10.0.0.0/31", 0},
		{"10.0.0.1/32", 0},
		{"0.0.0.0/0", 4294967294ULL},
		{"fd00::/126", 3},
		{"fd00::1/128", 0},
		{"::/0", UINT64_MAX},
		{"fd00:200::/48", UINT64_MAX},
		{"fd00::/65", (1ULL << 63) - 1},
	};
	struct ov_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(ov_prefix_parse(v[i].prefix, &p), 0);
		assert_true(ov_prefix_host_count(&p) == v[i].n);
	}
}

static void test_fnv(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values (Fowler/Noll/Vo test suite) */
	assert_true(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ULL);
	assert_true(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
	/* REF's slot indices for 10.200.0.0/16 in /28s (inventory §2) */
	assert_int_equal(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "leader", 6) % 4096, 2788);
	assert_int_equal(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "node-a", 6) % 4096, 2899);
	assert_int_equal(ov_alloc_fnv1a64(OV_FNV1A64_INIT, "svc-a\x1fnode-1", 12) % 4096, 1650);
}

/* REF's vectors: "leader" -> 10.200.174.64/28, "node-a" -> 10.200.181.48/28,
 * ("svc-a", "node-1") -> 10.200.103.32/28; the leader holds the first host. */
static void test_ref_vectors(void **state)
{
	struct ov_alloc a;
	struct ov_alloc_lease l, l2;
	struct ov_prefix p;

	(void)state;
	init_default(&a);
	assert_int_equal(ov_alloc_node_add(&a, "leader", &l), 1);
	assert_addr(&l.ip4, "10.200.0.1");
	assert_addr(&l.ip6, "fd00:200::1");
	assert_prefix(&l.slice, "10.200.174.64/28");
	assert_int_equal(ov_alloc_node_add(&a, "node-a", &l), 1);
	assert_addr(&l.ip4, "10.200.0.2");
	assert_addr(&l.ip6, "fd00:200::2");
	assert_prefix(&l.slice, "10.200.181.48/28");
	assert_int_equal(ov_alloc_node_add(&a, "node-1", &l), 1);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", &p), 1);
	assert_prefix(&p, "10.200.103.32/28");

	/* idempotent */
	assert_int_equal(ov_alloc_node_add(&a, "leader", &l2), 0);
	assert_addr(&l2.ip4, "10.200.0.1");
	assert_prefix(&l2.slice, "10.200.174.64/28");
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", &p), 0);
	assert_prefix(&p, "10.200.103.32/28");
	assert_int_equal(ov_alloc_node_get(&a, "node-a", &l2), 0);
	assert_prefix(&l2.slice, "10.200.181.48/28");
	assert_int_equal(ov_alloc_node_get(&a, "nobody", &l2), -ENOENT);
	assert_int_equal(ov_alloc_hosts_left(&a), 4094 - 3);
	assert_int_equal(ov_alloc_slots_free(&a), 4096 - 256 - 4);

	/* a fresh allocator reproduces the layout */
	{
		struct ov_alloc b;

		init_default(&b);
		assert_int_equal(ov_alloc_node_add(&b, "node-a", &l), 1);
		assert_prefix(&l.slice, "10.200.181.48/28");
		assert_addr(&l.ip4, "10.200.0.1");
		ov_alloc_done(&b);
	}
	ov_alloc_done(&a);
	ov_alloc_done(&a); /* safe twice */
	ov_alloc_done(NULL);
}

/* The host range may sit anywhere in the cluster; ip6 follows the v4 offset. */
static void test_v6_derivation(void **state)
{
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	struct ov_alloc_lease l;

	(void)state;
	cfg_of(&cfg, "10.200.0.0/16", "fd00:200::/48", "10.200.16.0/20", 28);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_node_add(&a, "leader", &l), 1);
	assert_addr(&l.ip4, "10.200.16.1");
	assert_addr(&l.ip6, "fd00:200::1001");
	ov_alloc_done(&a);
}

/* A /26 in /28s with the host range on slot 0: three usable slots; names chosen by their
 * hash mod 4: a 0, b 1, c 2, d 3. */
static void test_probing_and_slot_exhaustion(void **state)
{
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	struct ov_alloc_lease l;

	(void)state;
	cfg_of(&cfg, "10.0.0.0/26", "fd00::/64", "10.0.0.0/28", 28);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_slots_free(&a), 3);
	assert_int_equal(ov_alloc_node_add(&a, "a", &l), 1); /* 0 is the host range: 1 */
	assert_prefix(&l.slice, "10.0.0.16/28");
	assert_int_equal(ov_alloc_node_add(&a, "b", &l), 1); /* 1 taken: 2 */
	assert_prefix(&l.slice, "10.0.0.32/28");
	assert_int_equal(ov_alloc_node_add(&a, "c", &l), 1); /* 2 taken: 3 */
	assert_prefix(&l.slice, "10.0.0.48/28");
	assert_addr(&l.ip4, "10.0.0.3");
	assert_int_equal(ov_alloc_node_add(&a, "d", &l), -ENOSPC);
	assert_int_equal(ov_alloc_node_get(&a, "d", &l), -ENOENT);
	assert_int_equal(ov_alloc_subnet_add(&a, "s", "a", NULL), -ENOSPC);
	/* the failed add consumed no host address */
	assert_int_equal(ov_alloc_node_release(&a, "b"), 0);
	assert_int_equal(ov_alloc_node_release(&a, "b"), -ENOENT);
	assert_int_equal(ov_alloc_node_add(&a, "d", &l), 1); /* 3, wrap, 0, 1 taken: 2 */
	assert_prefix(&l.slice, "10.0.0.32/28");
	assert_addr(&l.ip4, "10.0.0.4"); /* b's .2 stays retired */
	ov_alloc_done(&a);
}

static void test_host_exhaustion_never_reuses(void **state)
{
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	struct ov_alloc_lease l;
	char name[16];

	(void)state;
	/* 6 host addresses (a /29), 31 free /29 slots */
	cfg_of(&cfg, "10.0.0.0/24", "fd00::/64", "10.0.0.0/29", 29);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_hosts_left(&a), 6);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(ov_alloc_node_add(&a, name, &l), 1);
		assert_int_equal(l.ip4.addr[3], i + 1);
	}
	assert_int_equal(ov_alloc_node_add(&a, "n6", &l), -ENOSPC);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(ov_alloc_node_release(&a, name), 0);
	}
	/* everyone left, yet no address is handed out again */
	assert_int_equal(ov_alloc_hosts_left(&a), 0);
	assert_int_equal(ov_alloc_node_add(&a, "n0", &l), -ENOSPC);
	assert_int_equal(ov_alloc_slots_free(&a), 31);
	ov_alloc_done(&a);
}

/* Release, then a JSON round trip (a leader restart): the released address stays retired. */
static void test_no_reuse_across_restart(void **state)
{
	struct ov_alloc a, b;
	struct ov_alloc_lease l;
	json_t *j;
	char *text;
	char err[256];

	(void)state;
	init_default(&a);
	assert_int_equal(ov_alloc_node_add(&a, "leader", &l), 1);
	assert_int_equal(ov_alloc_node_add(&a, "x", &l), 1);
	assert_addr(&l.ip4, "10.200.0.2");
	assert_int_equal(ov_alloc_node_add(&a, "y", &l), 1);
	assert_addr(&l.ip4, "10.200.0.3");
	assert_int_equal(ov_alloc_node_release(&a, "y"), 0);
	assert_int_equal(ov_alloc_node_release(&a, "x"), 0);

	assert_int_equal(ov_alloc_to_json(&a, &j), 0);
	text = json_dumps(j, 0);
	json_decref(j);
	assert_non_null(strstr(text, "\"next_host\": \"10.200.0.4\""));
	j = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(ov_alloc_from_json(j, &b, err, sizeof(err)), 0);
	json_decref(j);
	ov_alloc_done(&a);

	assert_int_equal(ov_alloc_node_add(&b, "x", &l), 1);
	assert_addr(&l.ip4, "10.200.0.4");
	assert_addr(&l.ip6, "fd00:200::4");
	assert_int_equal(ov_alloc_node_add(&b, "z", &l), 1);
	assert_addr(&l.ip4, "10.200.0.5");
	assert_int_equal(ov_alloc_node_get(&b, "leader", &l), 0);
	assert_addr(&l.ip4, "10.200.0.1");
	ov_alloc_done(&b);
}

static void test_subnets(void **state)
{
	struct ov_alloc a;
	struct ov_alloc_lease l1, l2;
	struct ov_prefix p, p2;

	(void)state;
	init_default(&a);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", &p), -ENOENT);
	assert_int_equal(ov_alloc_node_add(&a, "node-1", &l1), 1);
	assert_int_equal(ov_alloc_node_add(&a, "node-2", &l2), 1);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", &p), 1);
	assert_prefix(&p, "10.200.103.32/28");
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-2", &p2), 1);
	assert_false(ov_prefix_equal(&p, &p2));
	assert_false(ov_prefix_equal(&p, &l1.slice));
	assert_int_equal(ov_alloc_subnet_add(&a, "Svc", "node-1", &p), -EINVAL);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc", "node_1", &p), -EINVAL);
	/* release returns the slot; the same key lands there again */
	assert_int_equal(ov_alloc_subnet_release(&a, "svc-a", "node-1"), 0);
	assert_int_equal(ov_alloc_subnet_release(&a, "svc-a", "node-1"), -ENOENT);
	assert_int_equal(ov_alloc_subnet_get(&a, "svc-a", "node-1", &p), -ENOENT);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", &p), 1);
	assert_prefix(&p, "10.200.103.32/28");
	/* a node's release takes its subnets with it */
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-b", "node-1", NULL), 1);
	assert_int_equal(ov_alloc_slots_free(&a), 3840 - 5);
	assert_int_equal(ov_alloc_node_release(&a, "node-1"), 0);
	assert_int_equal(ov_alloc_subnet_get(&a, "svc-a", "node-1", &p), -ENOENT);
	assert_int_equal(ov_alloc_subnet_get(&a, "svc-b", "node-1", &p), -ENOENT);
	assert_int_equal(ov_alloc_subnet_get(&a, "svc-a", "node-2", &p), 0);
	assert_true(ov_prefix_equal(&p, &p2));
	assert_int_equal(ov_alloc_slots_free(&a), 3840 - 2);
	ov_alloc_done(&a);
}

/* Fill the whole default /16: 1024 nodes, then subnets until -ENOSPC; all 3840 usable
 * slots end up held exactly once, none in the host range. */
static void test_fill_cluster(void **state)
{
	static uint8_t seen[4096];
	struct ov_alloc a;
	struct ov_alloc_lease l;
	struct ov_prefix p;
	char name[32];
	size_t held = 0;
	int r, i;

	(void)state;
	init_default(&a);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < OV_ALLOC_MAX_NODES; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		assert_int_equal(ov_alloc_node_add(&a, name, &l), 1);
		assert_int_equal(seen[(l.slice.addr[2] << 4) | (l.slice.addr[3] >> 4)]++, 0);
		held++;
	}
	assert_int_equal(ov_alloc_node_add(&a, "one-too-many", &l), -ENOSPC);
	for (i = 0;; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		r = ov_alloc_subnet_add(&a, name, "node-7", &p);
		if (r == -ENOSPC)
			break;
		assert_int_equal(r, 1);
		assert_int_equal(seen[(p.addr[2] << 4) | (p.addr[3] >> 4)]++, 0);
		held++;
	}
	assert_int_equal(held, 3840);
	assert_int_equal(ov_alloc_slots_free(&a), 0);
	for (i = 0; i < 256; i++)
		assert_int_equal(seen[i], 0);
	for (i = 256; i < 4096; i++)
		assert_int_equal(seen[i], 1);
	ov_alloc_done(&a);
}

static void test_subnet_cap(void **state)
{
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	char name[32];

	(void)state;
	cfg_of(&cfg, "10.0.0.0/12", "fd00::/48", "10.0.0.0/20", 28);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_node_add(&a, "n", NULL), 1);
	for (int i = 0; i < OV_ALLOC_MAX_SUBNETS; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(ov_alloc_subnet_add(&a, name, "n", NULL), 1);
	}
	assert_int_equal(ov_alloc_subnet_add(&a, "more", "n", NULL), -ENOSPC);
	assert_true(ov_alloc_slots_free(&a) > 0);
	ov_alloc_done(&a);
}

static void test_names(void **state)
{
	static const char *const good[] = {"a", "leader", "node-1", "0", "a-b-c", "x1y2"};
	static const char *const bad[] = {"",	 "-a", "a-",	 "A", "a_b",   "a.b",
					  "a b", "é",  "node\n", "-", "Leader"};
	char long63[64], long64[65];
	struct ov_alloc a;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ov_alloc_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ov_alloc_name_valid(bad[i]));
	memset(long63, 'a', 63);
	long63[63] = '\0';
	memset(long64, 'a', 64);
	long64[64] = '\0';
	assert_true(ov_alloc_name_valid(long63));
	assert_false(ov_alloc_name_valid(long64));
	init_default(&a);
	assert_int_equal(ov_alloc_node_add(&a, "Bad", NULL), -EINVAL);
	assert_int_equal(ov_alloc_node_add(&a, long64, NULL), -EINVAL);
	assert_int_equal(ov_alloc_node_add(&a, long63, NULL), 1);
	assert_int_equal(ov_alloc_hosts_left(&a), 4093);
	ov_alloc_done(&a);
}

static void test_config_refused(void **state)
{
	static const struct {
		const char *c4, *c6, *hosts;
		uint8_t slice;
		const char *field;
	} v[] = {
		{"10.200.0.1/16", "fd00:200::/48", "10.200.0.0/20", 28, "cidr4"},
		{"10.200.0.0/16", "fd00:200::1/48", "10.200.0.0/20", 28, "cidr6"},
		{"10.200.0.0/16", "fd00:200::/120", "10.200.0.0/20", 28, "cidr6"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.0/20", 16, "slice_prefix"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.0/20", 31, "slice_prefix"},
		{"10.0.0.0/8", "fd00:200::/48", "10.0.0.0/20", 28, "slice_prefix"},
		{"10.200.0.0/16", "fd00:200::/48", "10.201.0.0/20", 28, "hosts"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.0/29", 28, "hosts"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.0/16", 28, "hosts"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.1/20", 28, "hosts"},
	};
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cfg_of(&cfg, v[i].c4, v[i].c6, v[i].hosts, v[i].slice);
		memset(&a, 0xab, sizeof(a));
		assert_int_equal(ov_alloc_init(&a, &cfg, err, sizeof(err)), -EINVAL);
		assert_int_equal(strncmp(err, v[i].field, strlen(v[i].field)), 0);
		assert_int_equal(((uint8_t *)&a)[0], 0xab); /* untouched */
	}
	/* the address families swapped */
	cfg_of(&cfg, "fd00:200::/48", "10.200.0.0/16", "10.200.0.0/20", 28);
	assert_int_equal(ov_alloc_init(&a, &cfg, err, sizeof(err)), -EINVAL);
}

/* --- JSON ------------------------------------------------------------------------------ */

/* The allocator of test_ref_vectors plus a retired address: leader, node-a, node-1, gone
 * (released), subnet (svc-a, node-1). */
static json_t *base_json(void)
{
	struct ov_alloc a;
	json_t *j;

	init_default(&a);
	assert_int_equal(ov_alloc_node_add(&a, "leader", NULL), 1);
	assert_int_equal(ov_alloc_node_add(&a, "node-a", NULL), 1);
	assert_int_equal(ov_alloc_node_add(&a, "node-1", NULL), 1);
	assert_int_equal(ov_alloc_node_add(&a, "gone", NULL), 1);
	assert_int_equal(ov_alloc_node_release(&a, "gone"), 0);
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", NULL), 1);
	assert_int_equal(ov_alloc_to_json(&a, &j), 0);
	ov_alloc_done(&a);
	return j;
}

/* Set (or with value NULL delete) the member at a '/'-separated path; numbers index arrays. */
static void patch(json_t *root, const char *path, const char *value)
{
	char buf[128], *save = NULL, *tok, *next;
	json_t *cur = root, *v = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	if (value) {
		v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(v);
	}
	for (tok = strtok_r(buf, "/", &save); tok; tok = next) {
		next = strtok_r(NULL, "/", &save);
		if (json_is_array(cur)) {
			size_t i = strtoul(tok, NULL, 10);

			if (!next) {
				if (v && i == json_array_size(cur))
					json_array_append_new(cur, v);
				else if (v)
					json_array_set_new(cur, i, v);
				else
					json_array_remove(cur, i);
				return;
			}
			cur = json_array_get(cur, i);
		} else {
			if (!next) {
				if (v)
					json_object_set_new(cur, tok, v);
				else
					json_object_del(cur, tok);
				return;
			}
			cur = json_object_get(cur, tok);
		}
		assert_non_null(cur);
	}
}

static void test_json_round_trip(void **state)
{
	struct ov_alloc a;
	json_t *j = base_json(), *j2;
	char err[256];
	char *t1, *t2;

	(void)state;
	t1 = json_dumps(j, JSON_INDENT(2));
	assert_non_null(strstr(t1, "\"next_host\": \"10.200.0.5\""));
	assert_non_null(strstr(t1, "[\n    {\n      \"name\": \"leader\""));
	assert_int_equal(ov_alloc_from_json(j, &a, err, sizeof(err)), 0);
	assert_int_equal(ov_alloc_to_json(&a, &j2), 0);
	t2 = json_dumps(j2, JSON_INDENT(2));
	assert_string_equal(t1, t2);
	/* sorted output: nodes by name */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j2, "nodes"), 0), "name")),
			    "leader");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j2, "nodes"), 2), "name")),
			    "node-a");
	/* the loaded allocator keeps going where the old one stopped */
	assert_int_equal(ov_alloc_subnet_add(&a, "svc-a", "node-1", NULL), 0);
	assert_int_equal(ov_alloc_node_add(&a, "node-9", NULL), 1);
	assert_int_equal(ov_alloc_hosts_left(&a), 4094 - 5);
	free(t1);
	free(t2);
	json_decref(j);
	json_decref(j2);
	ov_alloc_done(&a);

	/* a hand-ordered file loads too */
	j = base_json();
	j2 = json_array_get(json_object_get(j, "nodes"), 0);
	json_incref(j2);
	json_array_remove(json_object_get(j, "nodes"), 0);
	json_array_append_new(json_object_get(j, "nodes"), j2);
	assert_int_equal(ov_alloc_from_json(j, &a, err, sizeof(err)), 0);
	assert_int_equal(ov_alloc_node_get(&a, "leader", NULL), 0);
	ov_alloc_done(&a);
	json_decref(j);
}

static void test_json_refused(void **state)
{
	static const struct {
		const char *path, *value, *msg;
	} v[] = {
		{"cidr4", NULL, "cidr4: missing"},
		{"subnets", NULL, "subnets: missing"},
		{"extra", "1", "top level: unknown field \"extra\""},
		{"nodes/0/extra", "1", "nodes[0]: unknown field \"extra\""},
		{"slice_prefix", "\"28\"", "slice_prefix: expected an integer, found a string"},
		{"slice_prefix", "28.0", "slice_prefix: expected an integer, found a real"},
		{"slice_prefix", "27", "nodes[0].slice: 10.200.174.64/28 is not a /27"},
		{"slice_prefix", "40", "slice_prefix: 40 is out of range"},
		{"cidr4", "\"10.200.0.1/16\"", "cidr4: \"10.200.0.1/16\" has host bits set"},
		{"cidr4", "\"10.200.0.0\"", "cidr4: \"10.200.0.0\" is not an IPv4 prefix"},
		{"cidr4", "\"10.200.0.0/16 \"", "cidr4: \"10.200.0.0/16 \" is not an IPv4 prefix"},
		{"cidr6", "\"10.0.0.0/8\"", "cidr6: \"10.0.0.0/8\" is not an IPv6 prefix"},
		{"cidr4", "\"10.201.0.0/16\"", "hosts: must be an IPv4 network inside cidr4"},
		{"hosts", "\"10.200.0.0/29\"", "hosts: must be"},
		{"nodes", "{}", "nodes: expected an array, found an object"},
		{"nodes/0", "[]", "nodes[0]: expected an object"},
		{"next_host", "\"10.200.16.1\"", "next_host: not a host address of hosts"},
		{"next_host", "\"10.200.0.0\"", "next_host: not a host address of hosts"},
		{"next_host", "\"10.200.0.3\"", "nodes[1].ip4: 10.200.0.3 is not below next_host"},
		{"nodes/0",
		 "{\"name\":\"leader\",\"ip4\":\"10.200.0.2\",\"ip6\":\"fd00:200::2\","
		 "\"slice\":\"10.200.174.64/28\"}",
		 "nodes[2].ip4: 10.200.0.2 is held twice"},
		{"nodes/0/ip4", "\"10.200.0.0\"", "nodes[0].ip4: 10.200.0.0 is not a host address"},
		{"nodes/0/ip4", "\"10.200.174.65\"", "nodes[0].ip4: 10.200.174.65 is not a host"},
		{"nodes/0/ip4", "\"fd00:200::1\"", "nodes[0].ip4: \"fd00:200::1\" is not an IPv4"},
		{"nodes/0/ip6", "\"fd00:200::9\"", "nodes[0].ip6: must be fd00:200::1, derived"},
		{"nodes/0/slice", "\"10.200.174.65/28\"",
		 "nodes[0].slice: \"10.200.174.65/28\" has "
		 "host bits set"},
		{"nodes/0/slice", "\"10.200.174.0/27\"",
		 "nodes[0].slice: 10.200.174.0/27 is not a /28"},
		{"nodes/0/slice", "\"10.201.0.0/28\"",
		 "nodes[0].slice: 10.201.0.0/28 is not a /28 "
		 "inside cidr4"},
		{"nodes/0/slice", "\"10.200.15.240/28\"",
		 "nodes[0].slice: 10.200.15.240/28 overlaps "
		 "the host range"},
		{"nodes/1/slice", "\"10.200.174.64/28\"",
		 "nodes[1].slice: 10.200.174.64/28 is "
		 "already held by leader"},
		{"subnets/0/subnet", "\"10.200.181.48/28\"",
		 "subnets[0].subnet: 10.200.181.48/28 is "
		 "already held by node-a"},
		{"subnets/0/node", "\"node-z\"", "subnets[0].node: \"node-z\" is not in nodes"},
		{"subnets/0/service", "\"Svc\"", "subnets[0].service: \"Svc\" is not a valid name"},
		{"subnets/1",
		 "{\"service\":\"svc-a\",\"node\":\"node-1\",\"subnet\":\"10.200.0.16/28\"}",
		 "subnets[1].subnet: 10.200.0.16/28 overlaps the host range"},
		{"subnets/1",
		 "{\"service\":\"svc-a\",\"node\":\"node-1\",\"subnet\":\"10.200.99.16/28\"}",
		 "subnets: service \"svc-a\" on node \"node-1\" appears twice"},
		{"nodes/1/name", "\"leader\"", "nodes: name \"leader\" appears twice"},
		{"nodes/1/name", "\"\"", "nodes[1].name: empty"},
		{"nodes/1/name", "\"node\\u0000a\"", "nodes[1].name: contains a NUL"},
		{"nodes/1/name", "\"NODE-A\"", "nodes[1].name: \"NODE-A\" is not a valid name"},
		{"nodes/1/name", "\"a\\nb\"", "nodes[1].name: \"a?b\" is not a valid name"},
		{"nodes/1/name", "17", "nodes[1].name: expected a string, found an integer"},
		{"nodes/1/ip6", "null", "nodes[1].ip6: expected a string, found null"},
	};
	struct ov_alloc a, sentinel;
	char err[256];

	(void)state;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		json_t *j = base_json();

		patch(j, v[i].path, v[i].value);
		a = sentinel;
		err[0] = '\0';
		if (ov_alloc_from_json(j, &a, err, sizeof(err)) != -EINVAL ||
		    strncmp(err, v[i].msg, strlen(v[i].msg)))
			fail_msg("case %zu (%s): got \"%s\", want \"%s...\"", i, v[i].path, err,
				 v[i].msg);
		assert_memory_equal(&a, &sentinel, sizeof(a));
		json_decref(j);
	}
	{
		json_t *j = json_array();

		assert_int_equal(ov_alloc_from_json(j, &a, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, "top level: expected an object");
		assert_int_equal(ov_alloc_from_json(j, &a, NULL, 0), -EINVAL);
		json_decref(j);
	}
}

static void test_json_caps(void **state)
{
	json_t *j = base_json(), *nodes = json_array(), *subs = json_array();
	struct ov_alloc a;
	char err[256];

	(void)state;
	for (int i = 0; i <= OV_ALLOC_MAX_NODES; i++)
		json_array_append_new(nodes, json_object());
	for (int i = 0; i <= OV_ALLOC_MAX_SUBNETS; i++)
		json_array_append_new(subs, json_object());
	json_object_set_new(j, "nodes", nodes);
	assert_int_equal(ov_alloc_from_json(j, &a, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "nodes: more than 1024 entries");
	json_decref(j);
	j = base_json();
	json_object_set_new(j, "subnets", subs);
	assert_int_equal(ov_alloc_from_json(j, &a, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "subnets: more than 4096 entries");
	json_decref(j);
}

/* IPv6 twins (issue 12 item 4): as node addresses are derived. */
static void test_derive6(void **state)
{
	static const struct {
		const char *c4, *c6, *p4, *want; /* want NULL: -EINVAL */
	} rows[] = {
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.1/32", "fd00:200::1/128"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.103.32/28", "fd00:200::6720/124"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.103.34/32", "fd00:200::6722/128"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.255.255/32", "fd00:200::ffff/128"},
		{"10.200.0.0/16", "fd00:200::/48", "10.200.0.0/16", "fd00:200::/112"},
		{"10.0.0.0/8", "fd00:1::/96", "10.1.2.3/32", "fd00:1::1:203/128"},
		{"10.200.0.0/16", "fd00:200::/48", "10.201.0.1/32", NULL},   /* outside */
		{"10.200.0.0/16", "fd00:200::/48", "10.0.0.0/8", NULL},      /* wider */
		{"10.200.0.0/16", "fd00:200::/120", "10.200.0.1/32", NULL},  /* too few bits */
		{"10.200.0.0/16", "fd00:200::1/48", "10.200.0.1/32", NULL},  /* not a network */
		{"10.200.0.0/16", "10.0.0.0/8", "10.200.0.1/32", NULL},      /* families */
	};
	struct ov_alloc_config cfg;
	struct ov_alloc a;
	struct ov_alloc_lease l;
	struct ov_prefix c4, c6, p4, got, sentinel;
	char buf[OV_PREFIX_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ov_prefix_parse(rows[i].c4, &c4), 0);
		assert_int_equal(ov_prefix_parse(rows[i].c6, &c6), 0);
		assert_int_equal(ov_prefix_parse(rows[i].p4, &p4), 0);
		memset(&got, 0x5a, sizeof(got));
		sentinel = got;
		if (!rows[i].want) {
			assert_int_equal(ov_prefix_derive6(&c4, &c6, &p4, &got), -EINVAL);
			assert_memory_equal(&got, &sentinel, sizeof(got));
			continue;
		}
		assert_int_equal(ov_prefix_derive6(&c4, &c6, &p4, &got), 0);
		ov_prefix_format(&got, buf);
		assert_string_equal(buf, rows[i].want);
	}
	/* the same mapping as the allocator's node addresses */
	ov_alloc_config_default(&cfg);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	for (int k = 0; k < 300; k++) {
		char name[16];

		snprintf(name, sizeof(name), "n%d", k);
		assert_int_equal(ov_alloc_node_add(&a, name, &l), 1);
		assert_int_equal(ov_prefix_derive6(&cfg.cluster4, &cfg.cluster6, &l.ip4, &got), 0);
		assert_true(ov_prefix_equal(&got, &l.ip6));
	}
	ov_alloc_done(&a);
	assert_int_equal(ov_prefix_derive6(NULL, &c6, &p4, &got), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_host_count),
		cmocka_unit_test(test_fnv),
		cmocka_unit_test(test_ref_vectors),
		cmocka_unit_test(test_v6_derivation),
		cmocka_unit_test(test_probing_and_slot_exhaustion),
		cmocka_unit_test(test_host_exhaustion_never_reuses),
		cmocka_unit_test(test_no_reuse_across_restart),
		cmocka_unit_test(test_subnets),
		cmocka_unit_test(test_fill_cluster),
		cmocka_unit_test(test_subnet_cap),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_json_caps),
		cmocka_unit_test(test_derive6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

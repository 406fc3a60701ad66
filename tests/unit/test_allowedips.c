/* SPDX-License-Identifier: MIT */
/*
 * Allowed-IPs tests: the kernel's static cases (kern selftest/allowedips.c), the contract's
 * edges (masking, moves, removal, walk order = insertion order, errors, cap), then a randomized comparison
 * against a naive reference table across inserts, removals and per-peer removals.
 * Peers are arbitrary distinct pointers; the table never dereferences them.
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

#include "wg/allowedips.h"

#define PEER(n) ((struct wg_peer *)(uintptr_t)(0x1000 + 0x10 * (n)))

static const uint8_t *ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	static uint8_t ip[4];

	ip[0] = a;
	ip[1] = b;
	ip[2] = c;
	ip[3] = d;
	return ip;
}

static const uint8_t *ip6(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	static uint8_t ip[16];
	const uint32_t w[4] = {a, b, c, d};

	for (int i = 0; i < 4; i++) {
		ip[4 * i] = (uint8_t)(w[i] >> 24);
		ip[4 * i + 1] = (uint8_t)(w[i] >> 16);
		ip[4 * i + 2] = (uint8_t)(w[i] >> 8);
		ip[4 * i + 3] = (uint8_t)w[i];
	}
	return ip;
}

static void check_ok(const struct wg_allowedips *t)
{
	assert_int_equal(wg_allowedips_check(t, NULL), 0);
}

#define INS4(p, a, b, c, d, cidr) \
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip4(a, b, c, d), cidr, p), 0)
#define INS6(p, a, b, c, d, cidr) \
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, ip6(a, b, c, d), cidr, p), 0)
#define LOOK4(a, b, c, d)    wg_allowedips_lookup(&t, WG_AF_INET, ip4(a, b, c, d))
#define LOOK6(a, b, c, d)    wg_allowedips_lookup(&t, WG_AF_INET6, ip6(a, b, c, d))
#define TEST4(p, a, b, c, d) assert_ptr_equal(LOOK4(a, b, c, d), p)
#define TEST6(p, a, b, c, d) assert_ptr_equal(LOOK6(a, b, c, d), p)

/* Collects a walk into a flat list. */
struct walk_item {
	enum wg_family family;
	uint8_t addr[16];
	uint8_t cidr;
	uint64_t seq; /* the reference's insertion stamp (unused for what a walk returns) */
};

struct walk_out {
	struct walk_item *items;
	size_t n, cap;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, enum wg_family family, const uint8_t *addr, uint8_t cidr)
{
	struct walk_out *w = ctx;

	assert_true(w->n < w->cap);
	memset(&w->items[w->n], 0, sizeof(w->items[w->n]));
	w->items[w->n].family = family;
	memcpy(w->items[w->n].addr, addr, family == WG_AF_INET ? 4 : 16);
	w->items[w->n].cidr = cidr;
	w->n++;
	if (w->stop_after && w->n == w->stop_after)
		return 42;
	return 0;
}

static void test_kernel_static(void **state)
{
	struct wg_peer *a = PEER(1), *b = PEER(2), *c = PEER(3), *d = PEER(4), *e = PEER(5),
		       *f = PEER(6), *g = PEER(7), *h = PEER(8);
	struct walk_item items[16];
	struct walk_out w = {items, 0, 16, 0};
	struct wg_allowedips t;
	uint8_t ip[16];

	(void)state;
	wg_allowedips_init(&t);
	INS4(a, 192, 168, 4, 0, 24);
	INS4(b, 192, 168, 4, 4, 32);
	INS4(c, 192, 168, 0, 0, 16);
	INS4(d, 192, 95, 5, 64, 27);
	INS4(c, 192, 95, 5, 65, 27); /* replaces the previous entry; needs masking */
	INS6(d, 0x26075300, 0x60006b00, 0, 0xc05f0543, 128);
	INS6(c, 0x26075300, 0x60006b00, 0, 0, 64);
	INS4(e, 0, 0, 0, 0, 0);
	INS6(e, 0, 0, 0, 0, 0);
	INS6(f, 0, 0, 0, 0, 0); /* replaces the previous entry */
	INS6(g, 0x24046800, 0, 0, 0, 32);
	INS6(h, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef, 64); /* needs masking */
	INS6(a, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef, 128);
	INS6(c, 0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
	INS6(b, 0x24446800, 0xf0e40800, 0xeeaebeef, 0, 98);
	INS4(g, 64, 15, 112, 0, 20);
	INS4(h, 64, 15, 123, 211, 25); /* needs masking */
	INS4(a, 10, 0, 0, 0, 25);
	INS4(b, 10, 0, 0, 128, 25);
	INS4(a, 10, 1, 0, 0, 30);
	INS4(b, 10, 1, 0, 4, 30);
	INS4(c, 10, 1, 0, 8, 29);
	INS4(d, 10, 1, 0, 16, 29);
	check_ok(&t);
	assert_int_equal(t.count, 21);

	TEST4(a, 192, 168, 4, 20);
	TEST4(a, 192, 168, 4, 0);
	TEST4(b, 192, 168, 4, 4);
	TEST4(c, 192, 168, 200, 182);
	TEST4(c, 192, 95, 5, 68);
	TEST4(e, 192, 95, 5, 96);
	TEST6(d, 0x26075300, 0x60006b00, 0, 0xc05f0543);
	TEST6(c, 0x26075300, 0x60006b00, 0, 0xc02e01ee);
	TEST6(f, 0x26075300, 0x60006b01, 0, 0);
	TEST6(g, 0x24046800, 0x40040806, 0, 0x1006);
	TEST6(g, 0x24046800, 0x40040806, 0x1234, 0x5678);
	TEST6(f, 0x240467ff, 0x40040806, 0x1234, 0x5678);
	TEST6(f, 0x24046801, 0x40040806, 0x1234, 0x5678);
	TEST6(h, 0x24046800, 0x40040800, 0x1234, 0x5678);
	TEST6(h, 0x24046800, 0x40040800, 0, 0);
	TEST6(h, 0x24046800, 0x40040800, 0x10101010, 0x10101010);
	TEST6(a, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef);
	TEST4(g, 64, 15, 116, 26);
	TEST4(g, 64, 15, 127, 3);
	TEST4(g, 64, 15, 123, 1);
	TEST4(h, 64, 15, 123, 128);
	TEST4(h, 64, 15, 123, 129);
	TEST4(a, 10, 0, 0, 52);
	TEST4(b, 10, 0, 0, 220);
	TEST4(a, 10, 1, 0, 2);
	TEST4(b, 10, 1, 0, 6);
	TEST4(c, 10, 1, 0, 10);
	TEST4(d, 10, 1, 0, 20);

	INS4(a, 1, 0, 0, 0, 32);
	INS4(a, 64, 0, 0, 0, 32);
	INS4(a, 128, 0, 0, 0, 32);
	INS4(a, 192, 0, 0, 0, 32);
	INS4(a, 255, 0, 0, 0, 32);
	wg_allowedips_remove_peer(&t, a);
	check_ok(&t);
	assert_ptr_not_equal(LOOK4(1, 0, 0, 0), a);
	assert_ptr_not_equal(LOOK4(64, 0, 0, 0), a);
	assert_ptr_not_equal(LOOK4(128, 0, 0, 0), a);
	assert_ptr_not_equal(LOOK4(192, 0, 0, 0), a);
	assert_ptr_not_equal(LOOK4(255, 0, 0, 0), a);

	wg_allowedips_done(&t);
	wg_allowedips_init(&t);
	INS4(a, 192, 168, 0, 0, 16);
	INS4(a, 192, 168, 0, 0, 24);
	wg_allowedips_remove_peer(&t, a);
	assert_null(LOOK4(192, 168, 0, 1));
	assert_null(t.root4);
	assert_int_equal(t.count, 0);

	/* 128 host routes that each differ from all-ones in one bit: deepest branching. */
	for (unsigned int i = 0; i < 128; i++) {
		memset(ip, 0xff, sizeof(ip));
		ip[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
		assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, ip, 128, a), 0);
	}
	check_ok(&t);
	assert_int_equal(t.count, 128);
	wg_allowedips_done(&t);

	/* The per-peer listing, with masked addresses. */
	wg_allowedips_init(&t);
	INS4(a, 192, 95, 5, 93, 27);
	INS6(a, 0x26075300, 0x60006b00, 0, 0xc05f0543, 128);
	INS4(a, 10, 1, 0, 20, 29);
	INS6(a, 0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523, 83);
	INS6(a, 0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523, 21);
	INS4(b, 10, 1, 0, 0, 16);
	assert_int_equal(wg_allowedips_walk_peer(&t, a, collect, &w), 0);
	assert_int_equal(w.n, 5);
	/* In insertion order, both families mixed (as `wg showconf` must give them back). */
	assert_int_equal(items[0].family, WG_AF_INET);
	assert_memory_equal(items[0].addr, ip4(192, 95, 5, 64), 4);
	assert_int_equal(items[0].cidr, 27);
	assert_int_equal(items[1].family, WG_AF_INET6);
	assert_memory_equal(items[1].addr, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 16);
	assert_int_equal(items[1].cidr, 128);
	assert_int_equal(items[2].family, WG_AF_INET);
	assert_memory_equal(items[2].addr, ip4(10, 1, 0, 16), 4);
	assert_int_equal(items[2].cidr, 29);
	assert_int_equal(items[3].family, WG_AF_INET6);
	assert_memory_equal(items[3].addr, ip6(0x26075300, 0x6d8a6bf8, 0xdab1e000, 0), 16);
	assert_int_equal(items[3].cidr, 83);
	assert_memory_equal(items[4].addr, ip6(0x26075000, 0, 0, 0), 16);
	assert_int_equal(items[4].cidr, 21);
	wg_allowedips_done(&t);
}

static void test_contract_edges(void **state)
{
	struct wg_peer *a = PEER(1), *b = PEER(2);
	struct walk_item items[16];
	struct walk_out w = {items, 0, 16, 0};
	struct wg_allowedips t;
	uint8_t full6[16];

	(void)state;
	wg_allowedips_init(&t);

	/* Errors. */
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip4(1, 2, 3, 4), 33, a), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, ip6(1, 2, 3, 4), 129, a), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip4(1, 2, 3, 4), 32, NULL), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, (enum wg_family)5, ip4(1, 2, 3, 4), 8, a),
			 -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(1, 2, 3, 4), 33, a), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(1, 2, 3, 4), 8, NULL), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(1, 2, 3, 4), 8, a), -ENOENT);
	assert_null(wg_allowedips_lookup(&t, (enum wg_family)0, ip4(1, 2, 3, 4)));
	assert_int_equal(t.count, 0);

	/* cidr 0 and full length, both families. */
	INS4(a, 9, 9, 9, 9, 0);
	TEST4(a, 1, 2, 3, 4);
	TEST4(a, 255, 255, 255, 255);
	INS4(b, 1, 2, 3, 4, 32);
	TEST4(b, 1, 2, 3, 4);
	TEST4(a, 1, 2, 3, 5);
	memset(full6, 0xff, sizeof(full6));
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, full6, 128, b), 0);
	assert_ptr_equal(wg_allowedips_lookup(&t, WG_AF_INET6, full6), b);
	TEST6(NULL, 0xffffffff, 0xffffffff, 0xffffffff, 0xfffffffe);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, full6, 0, a), 0);
	TEST6(a, 0xffffffff, 0xffffffff, 0xffffffff, 0xfffffffe);
	TEST6(a, 0, 0, 0, 0);
	assert_int_equal(t.count, 4);

	/* Host bits are masked: 10.1.2.3/8 is 10.0.0.0/8 and removable under either spelling. */
	INS4(a, 10, 1, 2, 3, 8);
	INS4(b, 10, 200, 0, 0, 8); /* same prefix: moves it to b */
	assert_int_equal(t.count, 5);
	TEST4(b, 10, 99, 99, 99);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 0, 0, 0), 8, a), -ENOENT);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 0, 0, 0), 9, b), -ENOENT);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 0, 0, 0), 7, b), -ENOENT);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 7, 7, 7), 8, b), 0);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 7, 7, 7), 8, b), -ENOENT);
	TEST4(a, 10, 99, 99, 99);
	assert_int_equal(t.count, 4);
	check_ok(&t);

	/* Removing a branch's only peer-carrying child collapses the branch. */
	INS4(a, 172, 16, 0, 0, 24);
	INS4(b, 172, 16, 1, 0, 24);
	check_ok(&t);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(172, 16, 1, 0), 24, b), 0);
	check_ok(&t);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(172, 16, 0, 0), 24, a), 0);
	check_ok(&t);
	TEST4(a, 172, 16, 0, 1); /* the default route again */

	/*
	 * Walk order is insertion order, whatever the trie shape: nested and equal addresses,
	 * a prefix of another peer in between, a branch node that later gets a peer (10/7 is
	 * the branch point of 10/8 and 11/8 before it is inserted), a re-insert that moves a
	 * prefix to the end, a move to another peer and back, and removals in the middle.
	 */
	wg_allowedips_done(&t);
	wg_allowedips_init(&t);
	INS4(a, 10, 0, 0, 0, 24);
	INS4(a, 10, 0, 0, 0, 8);
	INS6(a, 0, 0, 0, 1, 128);
	INS4(a, 10, 0, 0, 0, 16);
	INS4(a, 9, 0, 0, 0, 32);
	INS4(b, 10, 0, 0, 0, 12);
	INS6(a, 0, 0, 0, 0, 0);
	INS4(a, 11, 0, 0, 0, 8);
	INS4(a, 10, 0, 0, 0, 7);	/* the branch node 10/7 now carries a */
	INS4(a, 10, 0, 0, 0, 24);	/* re-insert: to the end */
	INS4(b, 9, 0, 0, 0, 32);	/* moved to b ... */
	INS4(a, 9, 0, 0, 0, 32);	/* ... and back: at the end */
	INS4(a, 1, 2, 3, 4, 32);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(1, 2, 3, 4), 32, a), 0);
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip4(10, 0, 0, 0), 16, a), 0);
	check_ok(&t);
	assert_int_equal(wg_allowedips_walk_peer(&t, a, collect, &w), 0);
	assert_int_equal(w.n, 7);
	assert_int_equal(items[0].cidr, 8);
	assert_memory_equal(items[0].addr, ip4(10, 0, 0, 0), 4);
	assert_int_equal(items[1].family, WG_AF_INET6);
	assert_int_equal(items[1].cidr, 128);
	assert_int_equal(items[2].family, WG_AF_INET6);
	assert_int_equal(items[2].cidr, 0);
	assert_memory_equal(items[3].addr, ip4(11, 0, 0, 0), 4);
	assert_int_equal(items[4].cidr, 7);
	assert_int_equal(items[5].cidr, 24);
	assert_memory_equal(items[6].addr, ip4(9, 0, 0, 0), 4);
	assert_int_equal(items[6].cidr, 32);
	w.n = 0;
	assert_int_equal(wg_allowedips_walk_peer(&t, b, collect, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(items[0].cidr, 12);
	w.n = 0;
	w.n = 0;
	w.stop_after = 2;
	assert_int_equal(wg_allowedips_walk_peer(&t, a, collect, &w), 42);
	assert_int_equal(w.n, 2);
	w.n = 0;
	w.stop_after = 0;
	assert_int_equal(wg_allowedips_walk_peer(&t, PEER(99), collect, &w), 0);
	assert_int_equal(w.n, 0);

	wg_allowedips_done(&t);
	assert_null(t.root4);
	assert_null(t.root6);
	assert_int_equal(t.count, 0);
	wg_allowedips_done(&t); /* twice is fine */
	wg_allowedips_done(NULL);
}

/*
 * The cap, for real: WG_ALLOWEDIPS_MAX distinct /32s (one per 2^20 addresses, so the trie is
 * the full binary tree shape), then one more is refused while moves and removals still work.
 */
static void test_cap(void **state)
{
	struct wg_allowedips t;
	uint8_t ip[4];
	size_t nodes;

	(void)state;
	wg_allowedips_init(&t);
	for (uint32_t i = 0; i < WG_ALLOWEDIPS_MAX; i++) {
		ip[0] = (uint8_t)(i >> 12);
		ip[1] = (uint8_t)(i >> 4);
		ip[2] = (uint8_t)(i << 4);
		ip[3] = 1;
		assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip, 32, PEER(i % 7)), 0);
	}
	assert_int_equal(t.count, WG_ALLOWEDIPS_MAX);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip4(1, 1, 1, 1), 8, PEER(1)),
			 -ENOSPC);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET6, ip6(1, 1, 1, 1), 8, PEER(1)),
			 -ENOSPC);
	/* Re-owning an existing prefix does not grow the table. */
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip, 32, PEER(100)), 0);
	assert_ptr_equal(wg_allowedips_lookup(&t, WG_AF_INET, ip), PEER(100));
	assert_int_equal(wg_allowedips_remove(&t, WG_AF_INET, ip, 32, PEER(100)), 0);
	assert_int_equal(wg_allowedips_insert(&t, WG_AF_INET, ip4(1, 1, 1, 1), 8, PEER(1)), 0);
	assert_int_equal(wg_allowedips_check(&t, &nodes), 0);
	print_message("allowedips: %zu prefixes in %zu nodes\n", t.count, nodes);
	wg_allowedips_remove_peer(&t, PEER(3));
	assert_int_equal(wg_allowedips_check(&t, NULL), 0);
	wg_allowedips_done(&t);
}

/* ---- randomized comparison ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

enum {
	NPEERS = 64,
	NPREFIX = 4000,	  /* per family in the first phase */
	NLOOKUPS = 50000, /* per family per check; four checks make 200,000 */
	NHOT = 24,
	REF_CAP = 16384,
	IDX_CAP = 32768, /* power of two, > 2 * REF_CAP */
};

struct ref_entry {
	enum wg_family family;
	uint8_t addr[16]; /* masked */
	uint8_t cidr;
	unsigned int peer;
	uint64_t seq; /* insertion stamp: a re-insert restamps, as it moves the prefix last */
};

static uint64_t ref_seq;

struct ref {
	struct ref_entry e[REF_CAP];
	size_t n;
	/* Rebuilt before each lookup round: exact-match index (family, cidr, addr) -> entry. */
	int idx[IDX_CAP];
	bool has_cidr[2][129];
};

static struct ref R;
static uint8_t hot4[NHOT][4], hot6[NHOT][16];

static unsigned int fam_len(enum wg_family f)
{
	return f == WG_AF_INET ? 4 : 16;
}

static void mask_bytes(uint8_t *a, unsigned int len, unsigned int cidr)
{
	for (unsigned int i = 0; i < len; i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		a[i] &= cidr <= 8 * i ? 0 : (uint8_t)(0xff << (8 - (cidr - 8 * i)));
	}
}

static void rnd_bytes(uint8_t *a, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		a[i] = (uint8_t)rnd();
}

/* Keep the first keep bits of a, randomize the rest. */
static void mutate(uint8_t *a, unsigned int len, unsigned int keep)
{
	uint8_t r[16];

	rnd_bytes(r, len);
	for (unsigned int i = 0; i < len; i++) {
		uint8_t m;

		if (keep >= 8 * (i + 1))
			m = 0xff;
		else if (keep <= 8 * i)
			m = 0;
		else
			m = (uint8_t)(0xff << (8 - (keep - 8 * i)));
		a[i] = (uint8_t)((a[i] & m) | (r[i] & ~m));
	}
}

static void rnd_addr(enum wg_family f, uint8_t *a)
{
	unsigned int len = fam_len(f), bits = 8 * len;

	if (rnd_below(2)) {
		rnd_bytes(a, len);
		return;
	}
	memcpy(a, f == WG_AF_INET ? hot4[rnd_below(NHOT)] : hot6[rnd_below(NHOT)], len);
	mutate(a, len, rnd_below(bits + 1));
}

static bool allow_short = true;

/*
 * Mostly long prefixes and a default route now and then; with allow_short off, nothing
 * shorter than a quarter of the address, so that random lookups also miss.
 */
static unsigned int rnd_cidr(enum wg_family f)
{
	unsigned int bits = 8 * fam_len(f);

	if (!allow_short)
		return bits / 4 + rnd_below(bits - bits / 4 + 1);
	if (rnd_below(400) == 0)
		return 0;
	if (rnd_below(4) == 0)
		return 1 + rnd_below(bits);
	return bits / 2 + rnd_below(bits / 2 + 1);
}

static long ref_find(enum wg_family f, const uint8_t *addr, unsigned int cidr)
{
	for (size_t i = 0; i < R.n; i++)
		if (R.e[i].family == f && R.e[i].cidr == cidr &&
		    !memcmp(R.e[i].addr, addr, fam_len(f)))
			return (long)i;
	return -1;
}

static void ref_insert(enum wg_family f, const uint8_t *addr, unsigned int cidr, unsigned int peer)
{
	uint8_t m[16] = {0};
	long i;

	memcpy(m, addr, fam_len(f));
	mask_bytes(m, fam_len(f), cidr);
	i = ref_find(f, m, cidr);
	if (i >= 0) {
		R.e[i].peer = peer;
		R.e[i].seq = ++ref_seq;
		return;
	}
	assert_true(R.n < REF_CAP);
	R.e[R.n].family = f;
	memcpy(R.e[R.n].addr, m, 16);
	R.e[R.n].cidr = (uint8_t)cidr;
	R.e[R.n].peer = peer;
	R.e[R.n].seq = ++ref_seq;
	R.n++;
}

static void ref_delete(size_t i)
{
	R.e[i] = R.e[--R.n];
}

static uint32_t idx_hash(enum wg_family f, const uint8_t *addr, unsigned int cidr)
{
	uint32_t h = 2166136261u ^ (uint32_t)f ^ cidr << 8; /* FNV-1a, fine for a test index */

	for (unsigned int i = 0; i < fam_len(f); i++)
		h = (h ^ addr[i]) * 16777619u;
	return h ^ h >> 15;
}

static void ref_index(void)
{
	memset(R.has_cidr, 0, sizeof(R.has_cidr));
	for (size_t i = 0; i < IDX_CAP; i++)
		R.idx[i] = -1;
	for (size_t i = 0; i < R.n; i++) {
		const struct ref_entry *e = &R.e[i];
		uint32_t h = idx_hash(e->family, e->addr, e->cidr) & (IDX_CAP - 1);

		while (R.idx[h] >= 0)
			h = (h + 1) & (IDX_CAP - 1);
		R.idx[h] = (int)i;
		R.has_cidr[e->family == WG_AF_INET6][e->cidr] = true;
	}
}

static struct wg_peer *ref_lookup(enum wg_family f, const uint8_t *addr)
{
	unsigned int len = fam_len(f);
	uint8_t m[16];

	for (int cidr = 8 * (int)len; cidr >= 0; cidr--) {
		uint32_t h;

		if (!R.has_cidr[f == WG_AF_INET6][cidr])
			continue;
		memcpy(m, addr, len);
		mask_bytes(m, len, (unsigned int)cidr);
		h = idx_hash(f, m, (unsigned int)cidr) & (IDX_CAP - 1);
		for (; R.idx[h] >= 0; h = (h + 1) & (IDX_CAP - 1)) {
			const struct ref_entry *e = &R.e[R.idx[h]];

			if (e->family == f && e->cidr == cidr && !memcmp(e->addr, m, len))
				return PEER(e->peer);
		}
	}
	return NULL;
}

/* The slowest possible reference, to keep the index honest. */
static struct wg_peer *ref_lookup_linear(enum wg_family f, const uint8_t *addr)
{
	const struct ref_entry *best = NULL;
	uint8_t m[16];

	for (size_t i = 0; i < R.n; i++) {
		const struct ref_entry *e = &R.e[i];

		if (e->family != f || (best && best->cidr >= e->cidr))
			continue;
		memcpy(m, addr, fam_len(f));
		mask_bytes(m, fam_len(f), e->cidr);
		if (!memcmp(m, e->addr, fam_len(f)))
			best = e;
	}
	return best ? PEER(best->peer) : NULL;
}

static int item_cmp(const void *pa, const void *pb)
{
	const struct walk_item *a = pa, *b = pb;
	int r;

	if (a->family != b->family)
		return a->family == WG_AF_INET ? -1 : 1;
	r = memcmp(a->addr, b->addr, fam_len(a->family));
	if (r)
		return r;
	return (int)a->cidr - (int)b->cidr;
}

static int item_seq_cmp(const void *pa, const void *pb)
{
	const struct walk_item *a = pa, *b = pb;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void compare_all(const struct wg_allowedips *t, const char *phase)
{
	static struct walk_item got[REF_CAP], want[REF_CAP];
	unsigned int hits = 0;
	uint8_t a[16];
	size_t nodes;

	assert_int_equal(wg_allowedips_check(t, &nodes), 0);
	assert_int_equal(t->count, R.n);
	ref_index();

	for (int fi = 0; fi < 2; fi++) {
		enum wg_family f = fi ? WG_AF_INET6 : WG_AF_INET;

		for (unsigned int i = 0; i < NLOOKUPS; i++) {
			struct wg_peer *pg, *pw;

			if (R.n && rnd_below(4) == 0) {
				/* Inside (or at the edge of) an existing prefix. */
				const struct ref_entry *e = &R.e[rnd_below((unsigned int)R.n)];

				if (e->family != f)
					continue;
				memcpy(a, e->addr, 16);
				mutate(a, fam_len(f), e->cidr);
			} else {
				rnd_addr(f, a);
			}
			pg = wg_allowedips_lookup(t, f, a);
			pw = ref_lookup(f, a);
			if (pg != pw)
				fail_msg("%s: lookup mismatch (family %d): got %p want %p", phase,
					 (int)f, (void *)pg, (void *)pw);
			if (i % 64 == 0)
				assert_ptr_equal(pw, ref_lookup_linear(f, a));
			hits += pw != NULL;
		}
	}
	assert_true(R.n == 0 || hits > NLOOKUPS / 4);

	for (unsigned int p = 0; p < NPEERS; p++) {
		struct walk_out w = {got, 0, REF_CAP, 0};
		size_t n = 0;

		for (size_t i = 0; i < R.n; i++) {
			if (R.e[i].peer != p)
				continue;
			want[n].family = R.e[i].family;
			memcpy(want[n].addr, R.e[i].addr, 16);
			want[n].cidr = R.e[i].cidr;
			want[n].seq = R.e[i].seq;
			n++;
		}
		qsort(want, n, sizeof(want[0]), item_seq_cmp);
		assert_int_equal(wg_allowedips_walk_peer(t, PEER(p), collect, &w), 0);
		assert_int_equal(w.n, n);
		for (size_t i = 0; i < n; i++)
			if (item_cmp(&got[i], &want[i]))
				fail_msg("%s: walk of peer %u differs at item %zu", phase, p, i);
	}
	print_message("allowedips %s: %zu prefixes, %zu nodes, %u/%u lookups hit\n", phase, R.n,
		      nodes, hits, 2 * NLOOKUPS);
}

static void random_insert(struct wg_allowedips *t, enum wg_family f)
{
	unsigned int cidr, peer = rnd_below(NPEERS);
	uint8_t a[16];

	if (R.n && rnd_below(20) == 0) {
		/* Re-insert an existing prefix (often for another peer: a move). */
		const struct ref_entry *e = &R.e[rnd_below((unsigned int)R.n)];

		f = e->family;
		memcpy(a, e->addr, 16);
		cidr = e->cidr;
		mutate(a, fam_len(f), cidr); /* dirty host bits: must be masked */
	} else {
		rnd_addr(f, a);
		cidr = rnd_cidr(f);
	}
	assert_int_equal(wg_allowedips_insert(t, f, a, (uint8_t)cidr, PEER(peer)), 0);
	ref_insert(f, a, cidr, peer);
}

static void random_removals(struct wg_allowedips *t, unsigned int count)
{
	for (unsigned int k = 0; k < count && R.n; k++) {
		size_t i = rnd_below((unsigned int)R.n);
		struct ref_entry e = R.e[i];
		unsigned int kind = rnd_below(10);
		uint8_t a[16];

		memcpy(a, e.addr, 16);
		mutate(a, fam_len(e.family), e.cidr);
		if (kind < 7) {
			assert_int_equal(wg_allowedips_remove(t, e.family, a, e.cidr, PEER(e.peer)),
					 0);
			ref_delete(i);
		} else if (kind < 9) {
			assert_int_equal(wg_allowedips_remove(t, e.family, a, e.cidr,
							      PEER((e.peer + 1) % NPEERS)),
					 -ENOENT);
		} else {
			/* A neighbouring length that is not stored. */
			unsigned int c = e.cidr ? e.cidr - 1u : 1u;
			uint8_t m[16];

			memcpy(m, a, 16);
			mask_bytes(m, fam_len(e.family), c);
			if (ref_find(e.family, m, c) < 0)
				assert_int_equal(wg_allowedips_remove(t, e.family, a, (uint8_t)c,
								      PEER(e.peer)),
						 -ENOENT);
		}
	}
}

static void ref_remove_peer(unsigned int p)
{
	for (size_t i = 0; i < R.n;) {
		if (R.e[i].peer == p)
			ref_delete(i);
		else
			i++;
	}
}

static void test_random_vs_reference(void **state)
{
	struct wg_allowedips t;

	(void)state;
	rng_state = UINT64_C(0xa11011ed1b5eed00);
	R.n = 0;
	allow_short = true;
	for (unsigned int i = 0; i < NHOT; i++) {
		rnd_bytes(hot4[i], 4);
		rnd_bytes(hot6[i], 16);
		if (i % 3 == 0) /* some hot spots share a long common prefix */
			memcpy(hot6[i], hot6[0], 12);
	}
	wg_allowedips_init(&t);

	for (unsigned int i = 0; i < NPREFIX; i++) {
		random_insert(&t, WG_AF_INET);
		random_insert(&t, WG_AF_INET6);
	}
	compare_all(&t, "insert");

	random_removals(&t, 3000);
	compare_all(&t, "remove");

	for (unsigned int p = 0; p < NPEERS; p += 4) {
		wg_allowedips_remove_peer(&t, PEER(p));
		ref_remove_peer(p);
	}
	/* Drop the short prefixes so that misses are exercised too. */
	allow_short = false;
	for (size_t i = 0; i < R.n;) {
		if (R.e[i].cidr >= 2 * fam_len(R.e[i].family)) {
			i++;
			continue;
		}
		assert_int_equal(wg_allowedips_remove(&t, R.e[i].family, R.e[i].addr, R.e[i].cidr,
						      PEER(R.e[i].peer)),
				 0);
		ref_delete(i);
	}
	for (unsigned int i = 0; i < NPREFIX / 2; i++) {
		random_insert(&t, WG_AF_INET);
		random_insert(&t, WG_AF_INET6);
		if (i % 4 == 0)
			random_removals(&t, 1);
	}
	compare_all(&t, "remove_peer+reinsert");

	for (unsigned int p = 0; p < NPEERS; p++) {
		wg_allowedips_remove_peer(&t, PEER(p));
		ref_remove_peer(p);
		if (p % 16 == 15)
			assert_int_equal(wg_allowedips_check(&t, NULL), 0);
	}
	compare_all(&t, "empty");
	assert_null(t.root4);
	assert_null(t.root6);
	wg_allowedips_done(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_static),
		cmocka_unit_test(test_contract_edges),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_random_vs_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

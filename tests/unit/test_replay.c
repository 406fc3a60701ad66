/* SPDX-License-Identifier: MIT */
/*
 * Replay window tests: the kernel's scripted sequence (kern selftest/counter.c, also ported as
 * wg-go replay/replay_test.go), then a randomized comparison against a naive reference that
 * remembers every counter ever accepted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wg/replay.h"

/* kern messages.h: U64_MAX - COUNTER_WINDOW_SIZE - 1. */
#define REJECT_AFTER (UINT64_MAX - WG_REPLAY_WINDOW - 1)
#define T_LIM	     ((uint64_t)WG_REPLAY_WINDOW + 1)

struct script {
	struct wg_replay r;
	unsigned int num;
};

static void t_check(struct script *s, uint64_t n, bool expect, int line)
{
	bool got = wg_replay_check(&s->r, n, REJECT_AFTER);

	s->num++;
	if (got != expect)
		fail_msg("case %u (line %d): counter %llu: got %d, want %d", s->num, line,
			 (unsigned long long)n, got, expect);
}

#define T(n, v) t_check(&s, (n), (v), __LINE__)
#define T_INIT	wg_replay_init(&s.r)

static void test_kernel_script(void **state)
{
	struct script s = {0};
	uint64_t i;

	(void)state;
	T_INIT;
	T(0, true);			   /*  1 */
	T(1, true);			   /*  2 */
	T(1, false);			   /*  3 */
	T(9, true);			   /*  4 */
	T(8, true);			   /*  5 */
	T(7, true);			   /*  6 */
	T(7, false);			   /*  7 */
	T(T_LIM, true);			   /*  8 */
	T(T_LIM - 1, true);		   /*  9 */
	T(T_LIM - 1, false);		   /* 10 */
	T(T_LIM - 2, true);		   /* 11 */
	T(2, true);			   /* 12 */
	T(2, false);			   /* 13 */
	T(T_LIM + 16, true);		   /* 14 */
	T(3, false);			   /* 15 */
	T(T_LIM + 16, false);		   /* 16 */
	T(T_LIM * 4, true);		   /* 17 */
	T(T_LIM * 4 - (T_LIM - 1), true);  /* 18 */
	T(10, false);			   /* 19 */
	T(T_LIM * 4 - T_LIM, false);	   /* 20 */
	T(T_LIM * 4 - (T_LIM + 1), false); /* 21 */
	T(T_LIM * 4 - (T_LIM - 2), true);  /* 22 */
	T(T_LIM * 4 + 1 - T_LIM, false);   /* 23 */
	T(0, false);			   /* 24 */
	T(REJECT_AFTER, false);		   /* 25 */
	T(REJECT_AFTER - 1, true);	   /* 26 */
	T(REJECT_AFTER, false);		   /* 27 */
	T(REJECT_AFTER - 1, false);	   /* 28 */
	T(REJECT_AFTER - 2, true);	   /* 29 */
	T(REJECT_AFTER + 1, false);	   /* 30 */
	T(REJECT_AFTER + 2, false);	   /* 31 */
	T(REJECT_AFTER - 2, false);	   /* 32 */
	T(REJECT_AFTER - 3, true);	   /* 33 */
	T(0, false);			   /* 34 */
	assert_int_equal(s.num, 34);

	/* Full-window sweeps. */
	T_INIT;
	for (i = 1; i <= WG_REPLAY_WINDOW; i++)
		T(i, true);
	T(0, true);
	T(0, false);

	T_INIT;
	for (i = 2; i <= WG_REPLAY_WINDOW + 1; i++)
		T(i, true);
	T(1, true);
	T(0, false);

	T_INIT;
	for (i = WG_REPLAY_WINDOW + 1; i-- > 0;)
		T(i, true);

	T_INIT;
	for (i = WG_REPLAY_WINDOW + 2; i-- > 1;)
		T(i, true);
	T(0, false);

	T_INIT;
	for (i = WG_REPLAY_WINDOW + 1; i-- > 1;)
		T(i, true);
	T(WG_REPLAY_WINDOW + 1, true);
	T(0, false);

	T_INIT;
	for (i = WG_REPLAY_WINDOW + 1; i-- > 1;)
		T(i, true);
	T(0, true);
	T(WG_REPLAY_WINDOW + 1, true);
}

/* The edges the brief names, each spelled out once. */
static void test_edges(void **state)
{
	struct wg_replay r;
	const uint64_t big = 1000000;
	uint64_t i;

	(void)state;
	wg_replay_init(&r);
	assert_true(wg_replay_check(&r, 0, REJECT_AFTER));
	assert_false(wg_replay_check(&r, 0, REJECT_AFTER));

	/* Big jump ahead, then the exact window edge and one past it. */
	assert_true(wg_replay_check(&r, big, REJECT_AFTER));
	assert_false(wg_replay_check(&r, big - WG_REPLAY_WINDOW - 1, REJECT_AFTER));
	assert_true(wg_replay_check(&r, big - WG_REPLAY_WINDOW, REJECT_AFTER));
	assert_false(wg_replay_check(&r, big - WG_REPLAY_WINDOW, REJECT_AFTER));

	/* Every counter of the window once, in reverse, then none of them again. */
	for (i = 1; i < WG_REPLAY_WINDOW; i++)
		assert_true(wg_replay_check(&r, big - i, REJECT_AFTER));
	for (i = 0; i <= WG_REPLAY_WINDOW; i++)
		assert_false(wg_replay_check(&r, big - i, REJECT_AFTER));

	/* A jump of exactly one ring keeps nothing of the old words. */
	assert_true(wg_replay_check(&r, big + WG_REPLAY_BITS_TOTAL, REJECT_AFTER));
	for (i = 1; i <= WG_REPLAY_WINDOW; i++)
		assert_true(wg_replay_check(&r, big + WG_REPLAY_BITS_TOTAL - i, REJECT_AFTER));

	/* reject_after boundary with a small limit. */
	wg_replay_init(&r);
	assert_false(wg_replay_check(&r, 100, 100));
	assert_true(wg_replay_check(&r, 99, 100));
	assert_false(wg_replay_check(&r, 99, 100));
	assert_true(wg_replay_check(&r, 98, 100));
	assert_false(wg_replay_check(&r, UINT64_MAX, 100));

	/* The largest possible limit must not overflow anything. */
	wg_replay_init(&r);
	assert_true(wg_replay_check(&r, UINT64_MAX - 1, UINT64_MAX));
	assert_false(wg_replay_check(&r, UINT64_MAX - 1, UINT64_MAX));
	assert_false(wg_replay_check(&r, UINT64_MAX, UINT64_MAX));
	assert_true(wg_replay_check(&r, UINT64_MAX - 1 - WG_REPLAY_WINDOW, UINT64_MAX));
	assert_false(wg_replay_check(&r, UINT64_MAX - 2 - WG_REPLAY_WINDOW, UINT64_MAX));
	assert_false(wg_replay_check(&r, 0, UINT64_MAX));
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

enum {
	REF_RANGE = 1 << 25, /* counters base .. base + REF_RANGE - 1 */
	ROUNDS = 10,
	OPS_PER_ROUND = 100000,
};

/*
 * Reference: a plain bitmap of every counter ever accepted plus the greatest one accepted.
 * Accept c iff c < reject_after, c never accepted, and (nothing accepted yet, or c ahead of
 * the greatest, or greatest - c <= WINDOW). replay.c documents why the ring makes this exact.
 */
struct ref {
	uint8_t *seen;
	bool any;
	uint64_t greatest; /* offset from base */
	uint64_t n_limit;  /* rejections by reason, to prove the mix reaches each */
	uint64_t n_dup;
	uint64_t n_old;
};

static bool ref_check(struct ref *f, uint64_t off, uint64_t base, uint64_t reject_after)
{
	if (off >= reject_after - base)
		return f->n_limit++, false;
	if (f->seen[off / 8] & (1u << (off % 8)))
		return f->n_dup++, false;
	if (f->any && off < f->greatest && f->greatest - off > WG_REPLAY_WINDOW)
		return f->n_old++, false;
	f->seen[off / 8] |= (uint8_t)(1u << (off % 8));
	if (!f->any || off > f->greatest)
		f->greatest = off;
	f->any = true;
	return true;
}

/* limit: offsets stay below it, so base + offset never wraps. */
static uint64_t pick_offset(const struct ref *f, uint64_t limit)
{
	uint64_t g = f->any ? f->greatest : 0, off;
	unsigned int kind = (unsigned int)rnd_below(1000);

	/* Sized so the head crosses about half the range per round and meets reject_after late. */
	if (kind < 650) /* around the window edge, behind or slightly ahead */
		off = g + 64 - rnd_below(WG_REPLAY_BITS_TOTAL + 300);
	else if (kind < 989) /* recent, often a duplicate */
		off = g - rnd_below(80);
	else if (kind < 999) /* jump ahead, within and beyond one ring */
		off = g + 1 + rnd_below(3 * WG_REPLAY_BITS_TOTAL);
	else if (rnd_below(5)) /* far in the past */
		off = rnd_below(g + 1);
	else /* far ahead */
		off = g + rnd_below(REF_RANGE / 64);
	/* Wrapped below zero or beyond the tracked range: pull back inside. */
	if (off >= limit)
		off = rnd_below(limit);
	return off;
}

static void test_random_vs_reference(void **state)
{
	struct ref f = {0};
	struct wg_replay r;
	uint64_t accepted = 0, rejected = 0;
	unsigned int round, op;

	(void)state;
	rng_state = UINT64_C(0x5eed0fbeefcafe01);
	f.seen = malloc(REF_RANGE / 8);
	assert_non_null(f.seen);

	for (round = 0; round < ROUNDS; round++) {
		uint64_t base, reject_after, limit;

		/* Half the rounds live just under the protocol's reject limit. */
		if (round % 2) {
			reject_after = REJECT_AFTER;
			base = reject_after - REF_RANGE / 2 - rnd_below(REF_RANGE / 4);
		} else {
			base = 0;
			reject_after = REF_RANGE / 2 + rnd_below(REF_RANGE / 2);
		}
		limit = UINT64_MAX - base < REF_RANGE ? UINT64_MAX - base : REF_RANGE;
		memset(f.seen, 0, REF_RANGE / 8);
		f.any = false;
		f.greatest = 0;
		wg_replay_init(&r);

		for (op = 0; op < OPS_PER_ROUND; op++) {
			uint64_t off = pick_offset(&f, limit);
			bool want = ref_check(&f, off, base, reject_after);
			bool got = wg_replay_check(&r, base + off, reject_after);

			if (got != want)
				fail_msg("round %u op %u: counter base+%llu (greatest base+%llu): "
					 "got %d want %d",
					 round, op, (unsigned long long)off,
					 (unsigned long long)f.greatest, got, want);
			if (got)
				accepted++;
			else
				rejected++;
		}
	}
	free(f.seen);
	/* The mix must exercise both outcomes heavily, or the comparison proves little. */
	assert_true(accepted > ROUNDS * OPS_PER_ROUND / 10);
	assert_true(rejected > ROUNDS * OPS_PER_ROUND / 10);
	assert_true(f.n_limit > 1000 && f.n_dup > 10000 && f.n_old > 10000);
	print_message("replay: %llu accepted, %llu rejected (%llu limit, %llu dup, %llu old)\n",
		      (unsigned long long)accepted, (unsigned long long)rejected,
		      (unsigned long long)f.n_limit, (unsigned long long)f.n_dup,
		      (unsigned long long)f.n_old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_script),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_random_vs_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Rate limiter tests with a fake clock: the kernel/BSD timing table (kern selftest/
 * ratelimiter.c, fbsd selftest/cookie.c), /64 bucketing, the capacity cap and collection,
 * and long randomized runs against a naive per-source token bucket model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wg/ratelimiter.h"

#define SEC  1000000000ULL
#define COST WG_RL_PACKET_COST

static const uint8_t seed[16] = {0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void set_v4(uint8_t a[4], uint32_t v)
{
	a[0] = (uint8_t)(v >> 24);
	a[1] = (uint8_t)(v >> 16);
	a[2] = (uint8_t)(v >> 8);
	a[3] = (uint8_t)v;
}

/* The timing table: result expected after advancing the clock by `sleep` ns. */
static const struct {
	bool result;
	uint64_t sleep;
} timings[] = {
	{true, 0},	  {true, 0},	{true, 0},  {true, 0},	      {true, 0}, /* the burst */
	{false, 0},	  {true, COST}, {false, 0}, {true, 2 * COST}, {true, 0},  {false, 0},
	{true, 10 * SEC}, /* long idle: full burst again */
	{true, 0},	  {true, 0},	{true, 0},  {true, 0},	      {false, 0}, {false, COST - 1},
	{true, 1}, /* a token arrives exactly after PACKET_COST */
};

static void test_timings(void **state)
{
	struct wg_ratelimiter rl;
	uint8_t v4[4] = {192, 168, 1, 1}, v6[16] = {0x26, 0x07, 0x53, 0x00, 0, 0x60, 0x6b, 0};
	uint8_t other4[4], other6[16];
	uint64_t now = 123 * SEC;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 0, seed), 0);
	assert_int_equal(rl.max_entries, WG_RL_DEFAULT_ENTRIES);
	assert_true(rl.capacity >= 2 * rl.max_entries);
	assert_int_equal(rl.capacity & (rl.capacity - 1), 0);

	for (size_t i = 0; i < sizeof(timings) / sizeof(timings[0]); i++) {
		now += timings[i].sleep;
		if (wg_ratelimiter_allow(&rl, WG_AF_INET, v4, now) != timings[i].result)
			fail_msg("v4 step %zu: want %d", i, timings[i].result);
		if (wg_ratelimiter_allow(&rl, WG_AF_INET6, v6, now) != timings[i].result)
			fail_msg("v6 step %zu: want %d", i, timings[i].result);
		/* A source never seen before always passes, and does not disturb the others. */
		memcpy(other4, v4, 4);
		other4[3] = (uint8_t)(10 + i);
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, other4, now));
		memcpy(other6, v6, 16);
		other6[7] = (uint8_t)(10 + i); /* inside the top 64 bits: another bucket */
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET6, other6, now));
	}
	wg_ratelimiter_done(&rl);
	wg_ratelimiter_done(&rl);
	wg_ratelimiter_done(NULL);
}

static void test_keys(void **state)
{
	struct wg_ratelimiter rl;
	uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1};
	uint8_t b6[16], c6[16], zero6[16] = {0}, a4[4] = {10, 0, 0, 1}, b4[4] = {10, 0, 0, 2};
	uint8_t zero4[4] = {0};
	uint64_t now = SEC;
	int i;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 64, seed), 0);
	memcpy(b6, a6, 16);
	memset(b6 + 8, 0xee, 8); /* same /64 */
	memcpy(c6, a6, 16);
	c6[7] ^= 1; /* neighbouring /64 */

	for (i = 0; i < WG_RL_PACKETS_BURSTABLE; i++)
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET6, i % 2 ? a6 : b6, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET6, b6, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET6, a6, now));
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET6, c6, now));

	/* Distinct IPv4 addresses are independent. */
	for (i = 0; i < WG_RL_PACKETS_BURSTABLE; i++)
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a4, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a4, now));
	for (i = 0; i < WG_RL_PACKETS_BURSTABLE; i++)
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, b4, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, b4, now));

	/* 0.0.0.0 and ::/64 have the same 64-bit key but not the same family. */
	for (i = 0; i < WG_RL_PACKETS_BURSTABLE; i++)
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, zero4, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, zero4, now));
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET6, zero6, now));

	/* Bad input fails closed. */
	assert_false(wg_ratelimiter_allow(&rl, (enum wg_family)0, a4, now));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, NULL, now));

	/* A clock that steps back neither mints tokens nor breaks anything. */
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a4, now - SEC / 2));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a4, now));
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a4, now + COST));
	wg_ratelimiter_done(&rl);
}

static void test_capacity(void **state)
{
	struct wg_ratelimiter rl;
	uint8_t a[4];
	uint64_t t0 = 5 * SEC;
	uint32_t i;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16, seed), 0);
	assert_int_equal(rl.capacity, 32);
	for (i = 0; i < 16; i++) {
		set_v4(a, 0x0a000000 + i);
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0));
	}
	assert_int_equal(rl.count, 16);
	set_v4(a, 0x0a000000 + 16);
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0));
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + SEC / 2));
	/* Known sources still get their bucket. */
	set_v4(a, 0x0a000003);
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + SEC / 2));
	assert_int_equal(rl.count, 16);

	/* One second after their last packet the other 15 are collected; 10.0.0.3 lives on. */
	set_v4(a, 0x0a000000 + 16);
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + SEC + 1));
	assert_int_equal(rl.count, 2);
	for (i = 100; i < 114; i++) {
		set_v4(a, 0x0a000000 + i);
		assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + SEC + 2));
	}
	assert_int_equal(rl.count, 16);
	set_v4(a, 0x0a000000 + 200);
	assert_false(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + SEC + 2));

	/*
	 * The next sweep comes at least 1 s after the previous one (t0 + 1 s + 1) and collects
	 * everything idle for more than 1 s, 10.0.0.3 included.
	 */
	assert_true(wg_ratelimiter_allow(&rl, WG_AF_INET, a, t0 + 2 * SEC + 3));
	assert_int_equal(rl.count, 1);
	wg_ratelimiter_done(&rl);
}

/* ---- randomized runs against a model ---- */

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

enum { MAX_SOURCES = 1024 };

/* The model: a token bucket per source with unlimited room; "present" means admitted. */
struct model_src {
	enum wg_family family;
	uint8_t addr[16];
	bool present;
	uint64_t last, tokens;
};

static struct model_src src[MAX_SOURCES];

static bool model_live(const struct model_src *s, uint64_t now)
{
	return s->present && !(now > s->last && now - s->last > WG_RL_GC_AFTER_NS);
}

/* The model's answer for a live source; absent or expired ones start over with a full bucket. */
static bool model_allow(struct model_src *s, uint64_t now)
{
	uint64_t tokens;

	if (!model_live(s, now)) {
		s->present = true;
		s->last = now;
		s->tokens = WG_RL_TOKEN_MAX - COST;
		return true;
	}
	tokens = s->tokens + (now > s->last ? now - s->last : 0);
	if (tokens > WG_RL_TOKEN_MAX)
		tokens = WG_RL_TOKEN_MAX;
	if (now > s->last)
		s->last = now;
	if (tokens < COST) {
		s->tokens = tokens;
		return false;
	}
	s->tokens = tokens - COST;
	return true;
}

static size_t model_live_count(size_t n, uint64_t now)
{
	size_t live = 0;

	for (size_t i = 0; i < n; i++)
		live += model_live(&src[i], now);
	return live;
}

/*
 * nsrc sources: IPv4 addresses and IPv6 /64s (queried with varying low bits, which must
 * not matter). A few hot sources are hammered so their buckets stay near empty, where a
 * lost or confused entry would show.
 */
static void make_sources(size_t nsrc)
{
	for (size_t i = 0; i < nsrc; i++) {
		memset(&src[i], 0, sizeof(src[i]));
		if (i % 3) {
			src[i].family = WG_AF_INET;
			set_v4(src[i].addr, (uint32_t)(0xc0a80000 + i * 7919));
		} else {
			src[i].family = WG_AF_INET6;
			src[i].addr[0] = 0x20;
			src[i].addr[1] = 0x01;
			for (int b = 2; b < 8; b++)
				src[i].addr[b] = (uint8_t)(i >> (8 * (b - 2)) ^ b);
		}
	}
}

static size_t pick_source(size_t nsrc)
{
	if (rnd_below(10) < 6)
		return rnd_below(nsrc < 4 ? nsrc : 4);
	return rnd_below(nsrc);
}

static uint64_t advance(void)
{
	uint64_t r = rnd_below(1000);

	if (r < 950)
		return rnd_below(COST / 64);
	if (r < 999)
		return rnd_below(COST);
	return SEC / 2 + rnd_below(2 * SEC); /* long gaps: entries expire and get swept */
}

struct run_stats {
	unsigned long allowed, refused, sweeps, refused_full;
};

static void run(size_t max_entries, size_t nsrc, unsigned long ops, uint64_t rseed,
		struct run_stats *st)
{
	struct wg_ratelimiter rl;
	uint64_t now = 7 * SEC;
	uint8_t q[16];

	rng_state = rseed;
	memset(st, 0, sizeof(*st));
	make_sources(nsrc);
	assert_int_equal(wg_ratelimiter_init(&rl, max_entries, seed), 0);

	for (unsigned long op = 0; op < ops; op++) {
		size_t i = pick_source(nsrc);
		struct model_src *s = &src[i];
		uint64_t gc_before = rl.last_gc;
		size_t live_before;
		bool got, was_live;

		now += advance();
		memcpy(q, s->addr, 16);
		if (s->family == WG_AF_INET6)
			for (int b = 8; b < 16; b++)
				q[b] = (uint8_t)rnd();
		live_before = model_live_count(nsrc, now) - model_live(s, now);
		was_live = model_live(s, now);
		got = wg_ratelimiter_allow(&rl, s->family, q, now);

		if (was_live || max_entries >= nsrc) {
			/* The table must behave exactly like the model. */
			bool want = model_allow(s, now);

			if (got != want)
				fail_msg("op %lu source %zu: got %d want %d", op, i, got, want);
		} else if (got) {
			model_allow(s, now); /* admitted: starts with a full bucket */
		} else {
			/* Refused as new: only when the table was full. */
			assert_int_equal(rl.count, max_entries);
			/* And never right after a sweep that left room. */
			if (rl.last_gc != gc_before)
				assert_true(live_before >= max_entries);
			st->refused_full++;
		}
		assert_true(rl.count <= max_entries);
		if (rl.last_gc != gc_before) {
			/* Right after a sweep the table holds exactly the live sources. */
			assert_int_equal(rl.count, model_live_count(nsrc, now));
			st->sweeps++;
		}
		if (got)
			st->allowed++;
		else
			st->refused++;
	}
	wg_ratelimiter_done(&rl);
}

static void test_random_vs_model(void **state)
{
	struct run_stats st;

	(void)state;
	/* Room for everyone: every answer is the model's. */
	run(1024, 600, 200000, UINT64_C(0x7a11e5), &st);
	print_message("roomy: %lu allowed, %lu refused, %lu sweeps\n", st.allowed, st.refused,
		      st.sweeps);
	assert_true(st.refused > 10000 && st.allowed > 10000 && st.sweeps > 50);

	/* Exactly full at half load: long probe runs, deletions shifting through them. */
	run(64, 64, 200000, UINT64_C(0x5ca1ab1e), &st);
	print_message("dense: %lu allowed, %lu refused, %lu sweeps\n", st.allowed, st.refused,
		      st.sweeps);
	assert_true(st.refused > 10000 && st.sweeps > 50);

	/* A small table under pressure: live sources exact, new ones refused only when full. */
	run(16, 200, 200000, UINT64_C(0xf100d), &st);
	print_message("tight: %lu allowed, %lu refused (%lu for room), %lu sweeps\n", st.allowed,
		      st.refused, st.refused_full, st.sweeps);
	assert_true(st.refused_full > 1000 && st.sweeps > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timings),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_random_vs_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The device's timer heap against a naive reference: hundreds of peers under a fake clock,
 * timers armed, disarmed and postponed through the real event hooks, peers removed and
 * added, and after every step the heap's answer (next deadline, the peers a run fires) must
 * equal a scan of every peer with wg_peer_timers_next(). The heap's own invariants (a lower
 * bound per peer, the heap order, each peer at most once) are checked too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "wg/internal.h"

enum {
	NPEERS = 300, /* peers alive at a time (about) */
	STEPS = 40000,
	SLOTS = 2 * NPEERS, /* test-side table of peers, by the index kept in peer->user */
};

struct fixture {
	struct wg_device dev;
	uint64_t rng;
	uint64_t now;
	struct wg_peer *peer[SLOTS];
	unsigned fired[SLOTS];
	uint64_t key_seq;
};

/* -Wl,--wrap=realloc (tests/meson.build): the heap's growth fails while fail_realloc. */
void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
static bool fail_realloc;

void *__wrap_realloc(void *ptr, size_t size)
{
	return fail_realloc ? NULL : __real_realloc(ptr, size);
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct fixture *f, uint64_t n)
{
	return next_rand(&f->rng) % n;
}

static void env_random(void *ctx, void *buf, size_t len)
{
	struct fixture *f = ctx;
	uint8_t *p = buf;

	while (len) {
		uint64_t r = next_rand(&f->rng);
		size_t k = len < 8 ? len : 8;

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
}

static void env_tai64n(void *ctx, uint8_t out[WG_TAI64N_LEN])
{
	(void)ctx;
	memset(out, 0, WG_TAI64N_LEN);
}

static void fixture_init(struct fixture *f, uint64_t seed)
{
	struct wg_env env = {.random = env_random, .tai64n = env_tai64n, .ctx = f};

	memset(f, 0, sizeof(*f));
	f->rng = seed;
	f->now = 1000 * NSEC_PER_SEC;
	assert_int_equal(wg_device_init(&f->dev, &env), 0);
}

static void fixture_done(struct fixture *f)
{
	wg_device_done(&f->dev);
}

static size_t slot_of(const struct wg_peer *p)
{
	return (size_t)(uintptr_t)p->user;
}

/* A new peer in a free slot; no private key, so no DH is computed. */
static void add_peer(struct fixture *f, size_t slot)
{
	uint8_t pub[WG_KEY_LEN] = {0};

	assert_null(f->peer[slot]);
	f->key_seq++;
	memcpy(pub, &f->key_seq, sizeof(f->key_seq));
	pub[31] = 0x42;
	assert_int_equal(wg_peer_new(&f->dev, pub, &f->peer[slot]), 0);
	f->peer[slot]->user = (void *)(uintptr_t)slot;
	assert_int_equal(f->peer[slot]->timer_key, UINT64_MAX);
}

static void remove_peer(struct fixture *f, size_t slot)
{
	wg_peer_free(f->peer[slot]);
	f->peer[slot] = NULL;
}

static uint64_t naive_next(const struct fixture *f)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < SLOTS; i++)
		if (f->peer[i] && wg_peer_timers_next(f->peer[i]) < next)
			next = wg_peer_timers_next(f->peer[i]);
	return next;
}

/* The heap's structure, without touching it (wg_device_timers_next() would settle it). */
static void check_structure(const struct fixture *f)
{
	const struct wg_device *dev = &f->dev;
	uint32_t in_heap = 0;

	assert_true(dev->timer_len <= dev->timer_cap);
	assert_true(dev->timer_cap >= dev->peer_count);
	assert_true(dev->timer_cap <= WG_MAX_PEERS);
	for (uint32_t i = 0; i < dev->timer_len; i++) {
		const struct wg_timer_slot *s = &dev->timer_heap[i];

		assert_int_equal(s->peer->timer_pos, i);
		assert_int_equal(s->peer->timer_key, s->key);
		assert_true(s->key != UINT64_MAX);
		if (i)
			assert_true(dev->timer_heap[(i - 1) / 2].key <= s->key);
	}
	for (size_t i = 0; i < SLOTS; i++) {
		const struct wg_peer *p = f->peer[i];

		if (!p)
			continue;
		if (p->timer_key == UINT64_MAX) {
			/* Out of the heap: nothing may be armed, or it would never fire. */
			assert_int_equal(wg_peer_timers_next(p), UINT64_MAX);
			continue;
		}
		in_heap++;
		assert_true(p->timer_pos < dev->timer_len);
		assert_ptr_equal(dev->timer_heap[p->timer_pos].peer, p);
		/* The key may be early (stale) but never late: a late key misses a deadline. */
		assert_true(p->timer_key <= wg_peer_timers_next(p));
	}
	/* Every slot names a distinct live peer: no peer twice, no freed peer. */
	assert_int_equal(in_heap, dev->timer_len);
}

/*
 * wg_device_timers_next(until) must be exact when the earliest deadline is <= until, and
 * otherwise answer a time in (until, earliest]. Mostly with a horizon (as the device asks,
 * which leaves stale keys beyond it in place), sometimes for the exact answer.
 */
static void check(struct fixture *f)
{
	uint64_t naive = naive_next(f), until, got;

	check_structure(f);
	switch (rnd(f, 4)) {
	case 0:
		until = UINT64_MAX;
		break;
	case 1:
		until = f->now + rnd(f, 600 * NSEC_PER_SEC);
		break;
	default:
		until = f->now + rnd(f, NSEC_PER_SEC / 5);
		break;
	}
	got = wg_device_timers_next(&f->dev, until);
	if (naive <= until) {
		assert_int_equal(got, naive);
	} else {
		assert_true(got > until);
		assert_true(got <= naive);
	}
	check_structure(f);
}

/* Carry out actions roughly as the device does: sending arms and disarms more timers. */
static void on_fire(void *ctx, struct wg_peer *p, unsigned act)
{
	struct fixture *f = ctx;

	assert_true(wg_peer_timers_next(p) > f->now);
	f->fired[slot_of(p)]++;
	if (act & WG_ACT_SEND_INITIATION) {
		wg_timers_any_authenticated_packet_traversal(p, f->now);
		wg_timers_any_authenticated_packet_sent(p);
		wg_timers_handshake_initiated(p, f->now);
	}
	if (act & WG_ACT_SEND_KEEPALIVE) {
		wg_timers_any_authenticated_packet_traversal(p, f->now);
		wg_timers_any_authenticated_packet_sent(p);
	}
}

/* wg_device_timers_run() must fire exactly the peers a scan finds due, each once. */
static void run_and_compare(struct fixture *f)
{
	bool due[SLOTS];
	unsigned ndue = 0, fired;

	for (size_t i = 0; i < SLOTS; i++) {
		due[i] = f->peer[i] && wg_peer_timers_next(f->peer[i]) <= f->now;
		ndue += due[i];
	}
	memset(f->fired, 0, sizeof(f->fired));
	fired = wg_device_timers_run(&f->dev, f->now, on_fire, f);
	assert_int_equal(fired, ndue);
	for (size_t i = 0; i < SLOTS; i++) {
		assert_int_equal(f->fired[i], due[i] ? 1 : 0);
		if (f->peer[i])
			assert_true(wg_peer_timers_next(f->peer[i]) > f->now);
	}
}

/* One random event on peer p through the real hooks. */
static void poke(struct fixture *f, struct wg_peer *p)
{
	switch (rnd(f, 12)) {
	case 0:
		wg_timers_data_sent(p, f->now);
		break;
	case 1:
		wg_timers_data_received(p, f->now);
		break;
	case 2:
		wg_timers_any_authenticated_packet_sent(p);
		break;
	case 3:
		wg_timers_any_authenticated_packet_received(p);
		break;
	case 4:
		wg_timers_any_authenticated_packet_traversal(p, f->now);
		break;
	case 5:
		wg_timers_handshake_initiated(p, f->now);
		break;
	case 6:
		wg_timers_handshake_complete(p, f->now);
		break;
	case 7:
		wg_timers_session_derived(p, f->now);
		break;
	case 8:
		if (rnd(f, 4) == 0)
			wg_timers_stop(p);
		break;
	case 9:
		/* Mostly on, sometimes off (which disarms); 1..30 s shortens or postpones. */
		wg_peer_set_keepalive(p, (uint16_t)(rnd(f, 3) ? 1 + rnd(f, 30) : 0), f->now);
		break;
	case 10:
		/* The per-peer entry point, as the two-engine harness uses it. */
		wg_peer_timers_run(p, f->now);
		break;
	default:
		/* The receive path's usual triple. */
		wg_timers_any_authenticated_packet_received(p);
		wg_timers_any_authenticated_packet_traversal(p, f->now);
		wg_timers_data_received(p, f->now);
		break;
	}
}

static struct wg_peer *random_peer(struct fixture *f, size_t *slot)
{
	for (;;) {
		size_t i = rnd(f, SLOTS);

		if (f->peer[i]) {
			if (slot)
				*slot = i;
			return f->peer[i];
		}
	}
}

static void test_heap_matches_scan(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	(void)state;
	assert_non_null(f);
	fixture_init(f, 7);
	for (size_t i = 0; i < NPEERS; i++)
		add_peer(f, i);
	check(f);
	for (unsigned step = 0; step < STEPS; step++) {
		uint64_t op = rnd(f, 100);
		size_t slot;

		if (op < 60) {
			poke(f, random_peer(f, NULL));
		} else if (op < 72) {
			/*
			 * Short steps, so that a peer is poked every 20 s or so and most peers have
			 * timers armed; now and then a jump that makes many due at once.
			 */
			f->now += rnd(f, 50) ? rnd(f, NSEC_PER_SEC / 5) : rnd(f, 30 * NSEC_PER_SEC);
		} else if (op < 88) {
			/*
			 * Make the top stale first (disarm or postpone what it waits for), so the
			 * run has to settle it rather than finding check() did already.
			 */
			if (f->dev.timer_len && rnd(f, 2)) {
				struct wg_peer *top = f->dev.timer_heap[0].peer;

				if (rnd(f, 2))
					wg_timers_stop(top);
				else
					wg_timers_any_authenticated_packet_sent(top);
			}
			run_and_compare(f);
		} else if (op < 94) {
			/* Remove a peer from anywhere in the heap: top, middle or leaf. */
			if (f->dev.peer_count > NPEERS - 50) {
				const struct wg_timer_slot *h = f->dev.timer_heap;
				uint32_t n = f->dev.timer_len;

				if (n && rnd(f, 4) == 0)
					slot = slot_of(h[rnd(f, 2) ? 0 : n - 1].peer);
				else
					random_peer(f, &slot);
				remove_peer(f, slot);
			}
		} else if (f->dev.peer_count < NPEERS + 50) {
			do
				slot = rnd(f, SLOTS);
			while (f->peer[slot]);
			add_peer(f, slot);
		}
		check(f);
	}
	for (size_t i = 0; i < SLOTS; i++)
		if (f->peer[i])
			remove_peer(f, i);
	assert_int_equal(f->dev.timer_len, 0);
	assert_int_equal(wg_device_timers_next(&f->dev, UINT64_MAX), UINT64_MAX);
	fixture_done(f);
	free(f);
}

/* The per-packet hooks postpone without heap work: the key stays, the peer stays put. */
static void test_postpone_is_lazy(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct wg_peer *p;
	uint64_t key;

	(void)state;
	assert_non_null(f);
	fixture_init(f, 11);
	add_peer(f, 0);
	add_peer(f, 1);
	p = f->peer[0];
	wg_peer_set_keepalive(p, 25, f->now);
	wg_timers_any_authenticated_packet_traversal(p, f->now);
	key = p->timer_key;
	assert_int_equal(key, f->now + 25 * NSEC_PER_SEC);
	for (int i = 0; i < 100; i++) {
		f->now += NSEC_PER_SEC / 10;
		wg_timers_any_authenticated_packet_traversal(p, f->now);
		assert_int_equal(p->timer_key, key); /* stale, early */
	}
	check_structure(f);
	/* Due by its stale key but not by its timers: settled, nothing fired. */
	f->now = key;
	assert_int_equal(wg_device_timers_run(&f->dev, f->now, NULL, NULL), 0);
	assert_int_equal(p->timer_key, key + 10 * NSEC_PER_SEC);
	/* An earlier deadline moves the key up at once. */
	wg_timers_handshake_initiated(p, f->now);
	assert_true(p->timer_key < key + 10 * NSEC_PER_SEC);
	assert_int_equal(wg_device_timers_next(&f->dev, f->now), p->timer_key);
	/* Disarming everything: the peer leaves the heap when it comes up within the horizon. */
	wg_timers_stop(p);
	assert_int_equal(f->dev.timer_len, 1);
	assert_int_equal(wg_device_timers_next(&f->dev, f->now), p->timer_key); /* beyond */
	assert_int_equal(f->dev.timer_len, 1);
	assert_int_equal(wg_device_timers_next(&f->dev, UINT64_MAX), UINT64_MAX);
	assert_int_equal(f->dev.timer_len, 0);
	assert_int_equal(p->timer_key, UINT64_MAX);
	check(f);
	fixture_done(f);
	free(f);
}

/* Room grows with the peers (never beyond WG_MAX_PEERS); removal keeps the heap whole. */
static void test_growth_and_removal(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	(void)state;
	assert_non_null(f);
	fixture_init(f, 13);
	assert_int_equal(f->dev.timer_cap, 0); /* nothing allocated before the first peer */
	for (size_t i = 0; i < SLOTS; i++) {
		add_peer(f, i);
		assert_true(f->dev.timer_cap >= f->dev.peer_count);
		/* Each deadline earlier than the last (give or take jitter): inserts sift up. */
		wg_timers_handshake_initiated(f->peer[i], f->now - i * NSEC_PER_MSEC);
		check_structure(f);
	}
	assert_int_equal(f->dev.timer_len, SLOTS);
	assert_int_equal(wg_device_timers_next(&f->dev, UINT64_MAX), naive_next(f));
	/* Take out the top, a leaf and middles until none is left. */
	while (f->dev.timer_len) {
		uint32_t n = f->dev.timer_len;
		uint32_t pos = n % 3 == 0 ? 0 : n % 3 == 1 ? n - 1 : n / 2;

		remove_peer(f, slot_of(f->dev.timer_heap[pos].peer));
		check(f);
	}
	assert_int_equal(f->dev.peer_count, 0);
	assert_int_equal(wg_device_timers_run(&f->dev, UINT64_MAX - 1, NULL, NULL), 0);
	fixture_done(f);
	free(f);
}

/* A failed growth fails the peer's creation with -ENOMEM and changes nothing. */
static void test_growth_failure(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t pub[WG_KEY_LEN] = {0x99};
	struct wg_peer *p = NULL;
	uint32_t cap;

	(void)state;
	assert_non_null(f);
	fixture_init(f, 17);
	fail_realloc = true;
	assert_int_equal(wg_peer_new(&f->dev, pub, &p), -ENOMEM); /* the first allocation */
	fail_realloc = false;
	assert_null(p);
	assert_int_equal(f->dev.peer_count, 0);
	assert_null(f->dev.timer_heap);
	/* Fill the heap's room, every peer with a timer, then fail the next growth. */
	add_peer(f, 0);
	for (size_t i = 1; i < f->dev.timer_cap; i++)
		add_peer(f, i);
	for (size_t i = 0; i < f->dev.peer_count; i++)
		wg_timers_handshake_initiated(f->peer[i], f->now);
	cap = f->dev.timer_cap;
	assert_int_equal(f->dev.peer_count, cap);
	fail_realloc = true;
	assert_int_equal(wg_peer_new(&f->dev, pub, &p), -ENOMEM);
	fail_realloc = false;
	assert_null(p);
	assert_null(wg_peer_lookup(&f->dev, pub));
	assert_int_equal(f->dev.peer_count, cap);
	assert_int_equal(f->dev.timer_cap, cap);
	assert_int_equal(f->dev.timer_len, cap);
	check(f);
	/* And once memory is back, the same peer is added and its timers work. */
	assert_int_equal(wg_peer_new(&f->dev, pub, &p), 0);
	f->peer[cap] = p;
	p->user = (void *)(uintptr_t)cap;
	assert_true(f->dev.timer_cap > cap);
	wg_timers_handshake_initiated(p, f->now - NSEC_PER_SEC);
	assert_int_equal(wg_device_timers_next(&f->dev, UINT64_MAX), p->timer_key);
	check(f);
	fixture_done(f);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_matches_scan),
		cmocka_unit_test(test_postpone_is_lazy),
		cmocka_unit_test(test_growth_and_removal),
		cmocka_unit_test(test_growth_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * bench-timers: the cost of one timer pass of the control loop (dp_device_timers without
 * its locks and clock read) over many peers when nothing is due, two ways: the scan it used
 * to do (wg_peer_timers_next() on every peer) and the device's timer heap
 * (wg_device_timers_run() and wg_device_timers_next()). Then the heap when every peer has
 * traffic: each packet postpones the persistent keepalive, which leaves stale heap keys that
 * the passes settle as they surface (the amortised cost of the lazy postponing). Usage:
 * bench-timers [PEERS], default 10000. Idle figures are the median of 5 runs. A measurement,
 * not a test: nothing fails but a disagreement between the two ways.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "lib/util.h"
#include "wg/internal.h"

enum { RUNS = 5 };

#define TICK (100 * NSEC_PER_MSEC) /* DP_TIMER_TICK_MS */

static uint64_t rng = 1;

static uint64_t next_rand(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void env_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	while (len) {
		uint64_t r = next_rand();
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

/*
 * The loop dp_device_timers() ran before the heap, minus dp_peer_actions (nothing is due).
 * Both passes return the next deadline when it is within the tick, else UINT64_MAX, as that
 * is all the control loop uses.
 */
static uint64_t scan_pass(struct wg_device *dev, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (struct wg_peer *wp = dev->peers; wp; wp = wp->list_next) {
		uint64_t dl = wg_peer_timers_next(wp);

		if (dl <= now) {
			wg_peer_timers_run(wp, now);
			dl = wg_peer_timers_next(wp);
		}
		if (dl < next)
			next = dl;
	}
	return next > now + TICK ? UINT64_MAX : next;
}

/* What dp_device_timers() does now, minus the same. */
static uint64_t exact_scan(const struct wg_device *dev)
{
	uint64_t next = UINT64_MAX;

	for (const struct wg_peer *wp = dev->peers; wp; wp = wp->list_next)
		if (wg_peer_timers_next(wp) < next)
			next = wg_peer_timers_next(wp);
	return next;
}

static uint64_t heap_pass(struct wg_device *dev, uint64_t now)
{
	uint64_t next;

	wg_device_timers_run(dev, now, NULL, NULL);
	next = wg_device_timers_next(dev, now + TICK);
	return next > now + TICK ? UINT64_MAX : next;
}

/* ns per pass, median of RUNS runs of `iters` passes. */
static double measure(uint64_t (*pass)(struct wg_device *, uint64_t), struct wg_device *dev,
		      uint64_t now, unsigned iters, uint64_t *ret_next)
{
	double v[RUNS];
	volatile uint64_t sink = 0;

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_s();

		for (unsigned i = 0; i < iters; i++)
			sink += pass(dev, now);
		v[r] = (now_s() - t0) * 1e9 / iters;
	}
	*ret_next = pass(dev, now);
	(void)sink;
	qsort(v, RUNS, sizeof(v[0]), cmp_double);
	return v[RUNS / 2];
}

/*
 * 60 s of 100 ms ticks; before each tick every peer sends a packet (the traversal hook
 * postpones its keepalive by 25 s). The keys surface stale about once per peer per 25 s.
 */
static bool busy(struct wg_device *dev, uint64_t now)
{
	enum { TICKS = 600 };
	double hooks = 0, passes = 0, scans = 0, worst = 0;
	bool ok = true;

	for (int i = 0; i < TICKS; i++) {
		double t0, t1, t2, t3;
		uint64_t next;

		now += TICK;
		t0 = now_s();
		for (struct wg_peer *wp = dev->peers; wp; wp = wp->list_next)
			wg_timers_any_authenticated_packet_traversal(wp, now);
		t1 = now_s();
		next = heap_pass(dev, now);
		t2 = now_s();
		ok = scan_pass(dev, now) == next && ok;
		t3 = now_s();
		hooks += t1 - t0;
		passes += t2 - t1;
		scans += t3 - t2;
		if (t2 - t1 > worst)
			worst = t2 - t1;
	}
	printf("with traffic: %d ticks of 100 ms, every peer sends a packet before each\n", TICKS);
	printf("  traversal hook:     %10.1f ns per packet (with the walk to each peer)\n",
	       hooks * 1e9 / TICKS / (double)dev->peer_count);
	printf("  scan pass (before): %10.1f ns mean\n", scans * 1e9 / TICKS);
	printf("  heap pass (after):  %10.1f ns mean, %.1f ns worst\n", passes * 1e9 / TICKS,
	       worst * 1e9);
	return ok;
}

int main(int argc, char **argv)
{
	struct wg_env env = {.random = env_random, .tai64n = env_tai64n};
	size_t npeers = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	uint64_t now = 1000 * NSEC_PER_SEC, next_scan, next_heap;
	struct wg_device dev;
	double scan, heap;
	bool ok;

	if (wg_device_init(&dev, &env)) {
		fprintf(stderr, "bench-timers: wg_device_init failed\n");
		return 1;
	}
	/*
	 * Every peer as after a handshake with traffic at some time in the last 10 s: zeroing
	 * of keys armed, a persistent keepalive of 25 s armed. Nothing is due at `now`.
	 */
	for (size_t i = 0; i < npeers; i++) {
		uint8_t pub[WG_KEY_LEN];
		struct wg_peer *p;
		uint64_t t = now - next_rand() % (10 * NSEC_PER_SEC);

		env_random(NULL, pub, sizeof(pub));
		if (wg_peer_new(&dev, pub, &p)) {
			fprintf(stderr, "bench-timers: wg_peer_new failed\n");
			return 1;
		}
		wg_peer_set_keepalive(p, 25, t);
		wg_timers_session_derived(p, t);
		wg_timers_any_authenticated_packet_traversal(p, t);
	}
	scan = measure(scan_pass, &dev, now, 2000, &next_scan);
	heap = measure(heap_pass, &dev, now, 2000000, &next_heap);
	ok = next_scan == next_heap && exact_scan(&dev) == wg_device_timers_next(&dev, UINT64_MAX);
	printf("timer pass over %zu peers, nothing due (median of %d runs)\n", npeers, RUNS);
	printf("  scan (before): %10.1f ns\n", scan);
	printf("  heap (after):  %10.1f ns\n", heap);
	ok = busy(&dev, now) && ok;
	printf("next deadlines of scan and heap %s\n", ok ? "agree" : "DIFFER");
	wg_device_done(&dev);
	return ok ? 0 : 1;
}

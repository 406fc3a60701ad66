/* SPDX-License-Identifier: MIT */
/*
 * The data path's queues (dataplane/queue.c): crypto on any thread, release in submission
 * order per serial queue, every chunk processed exactly once, batches recycled, the
 * in-flight count back to zero. Two readers with their own serial queues submit batches of
 * random sizes while workers (and the readers themselves) process chunks with random
 * delays, so completions arrive out of order; the serial stage must still see each
 * reader's batches in order. Also with 0 workers (inline).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dataplane/internal.h"

enum {
	READERS = 2,
	BATCHES = 3000, /* per reader */
	MAX_JOBS = 70,	/* up to 5 chunks */
	NBATCH = 3,	/* batches per reader's pool */
};

struct reader {
	struct dp_device *d;
	struct dp_serial serial;
	struct dp_batch batches[NBATCH];
	struct dp_ctx_cache cache;
	uint64_t next_expected; /* in finish */
	atomic_ulong finished, crypted_jobs;
	bool out_of_order, double_crypt, missing_crypt;
	unsigned seed;
	pthread_t tid;
};

static struct reader readers[READERS];
static atomic_ulong crypt_on_worker;
static pthread_t reader_tids[READERS];
static _Thread_local bool is_reader;

static struct reader *reader_of(const struct dp_batch *b)
{
	for (int i = 0; i < READERS; i++)
		if (b->serial == &readers[i].serial)
			return &readers[i];
	return NULL;
}

static void tiny_delay(unsigned r)
{
	struct timespec ts = {.tv_nsec = (long)(r % 4) * 20000};

	if (ts.tv_nsec)
		nanosleep(&ts, NULL);
}

static void test_crypt(struct dp_device *d, struct dp_batch *b, unsigned from, unsigned to,
		       struct dp_ctx_cache *cache)
{
	struct reader *r = reader_of(b);
	(void)d;
	if (!is_reader)
		atomic_fetch_add(&crypt_on_worker, 1);
	/* Chunk-dependent delay: later chunks often finish before earlier ones. */
	tiny_delay((unsigned)(b->jobs[0].counter * 7 + from));
	for (unsigned i = from; i < to; i++) {
		if (b->jobs[i].ok)
			r->double_crypt = true;
		b->jobs[i].ok = true;
	}
	atomic_fetch_add(&r->crypted_jobs, to - from);
	(void)cache;
}

static void test_finish(struct dp_device *d, struct dp_batch *b)
{
	struct reader *r = reader_of(b);

	(void)d;
	if (b->n == 0)
		return; /* an empty batch handed back */
	if (b->jobs[0].counter != r->next_expected)
		r->out_of_order = true;
	r->next_expected = b->jobs[0].counter + 1;
	for (unsigned i = 0; i < b->n; i++)
		if (!b->jobs[i].ok)
			r->missing_crypt = true;
	atomic_fetch_add(&r->finished, 1);
}

static const struct dp_batch_ops ops = {.crypt = test_crypt, .finish = test_finish};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	is_reader = true;
	for (uint64_t seq = 0; seq < BATCHES; seq++) {
		struct dp_batch *b = dp_serial_get(&r->serial);

		b->n = 1 + (unsigned)rand_r(&r->seed) % MAX_JOBS;
		for (unsigned i = 0; i < b->n; i++)
			b->jobs[i].ok = false;
		b->jobs[0].counter = seq;
		dp_submit(r->d, b, &r->cache);
	}
	return NULL;
}

static void run(unsigned workers)
{
	struct dp_device *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	pthread_mutex_init(&d->flight_lock, NULL);
	pthread_cond_init(&d->flight_cond, NULL);
	pthread_mutex_init(&d->pool.mu, NULL);
	pthread_cond_init(&d->pool.more, NULL);
	pthread_cond_init(&d->pool.space, NULL);
	atomic_store(&crypt_on_worker, 0);
	assert_int_equal(dp_pool_start(d, workers), 0);
	for (int i = 0; i < READERS; i++) {
		struct reader *r = &readers[i];

		memset(r, 0, sizeof(*r));
		r->d = d;
		r->seed = 1234u + (unsigned)i;
		for (int k = 0; k < NBATCH; k++) {
			r->batches[k].jobs = calloc(MAX_JOBS, sizeof(struct dp_job));
			assert_non_null(r->batches[k].jobs);
		}
		assert_int_equal(dp_serial_init(&r->serial, &ops, r->batches, NBATCH), 0);
	}
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&reader_tids[i], NULL, reader_main, &readers[i]),
				 0);
	for (int i = 0; i < READERS; i++)
		pthread_join(reader_tids[i], NULL);
	for (int i = 0; i < READERS; i++) {
		struct reader *r = &readers[i];

		dp_serial_done(&r->serial); /* waits for every batch to come back */
		assert_int_equal(atomic_load(&r->finished), BATCHES);
		assert_false(r->out_of_order);
		assert_false(r->double_crypt);
		assert_false(r->missing_crypt);
		assert_int_equal(r->next_expected, BATCHES);
		assert_int_equal(r->serial.nfree, NBATCH);
		for (int k = 0; k < NBATCH; k++)
			free(r->batches[k].jobs);
	}
	pthread_mutex_lock(&d->flight_lock);
	assert_int_equal(d->in_flight, 0);
	pthread_mutex_unlock(&d->flight_lock);
	dp_pool_stop(d);
	if (workers)
		assert_true(atomic_load(&crypt_on_worker) > 0); /* the pool did take work */
	else
		assert_int_equal(atomic_load(&crypt_on_worker), 0);
	pthread_mutex_destroy(&d->flight_lock);
	pthread_cond_destroy(&d->flight_cond);
	pthread_mutex_destroy(&d->pool.mu);
	pthread_cond_destroy(&d->pool.more);
	pthread_cond_destroy(&d->pool.space);
	free(d);
}

static void test_pool_in_order(void **state)
{
	(void)state;
	run(3);
}

static void test_pool_one_worker(void **state)
{
	(void)state;
	run(1);
}

static void test_inline(void **state)
{
	(void)state;
	run(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_in_order),
		cmocka_unit_test(test_pool_one_worker),
		cmocka_unit_test(test_inline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

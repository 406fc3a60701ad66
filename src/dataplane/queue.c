/* SPDX-License-Identifier: MIT */
/*
 * The data path's queues: the parallel queue with its crypto workers, and the serial queues
 * (one per reader) that release batches in submission order once their crypto is done. This
 * is the kernel's "parallel then serial" scheme at the granularity of a batch; it knows
 * nothing of WireGuard: what a batch's crypto and serial steps are is in dp_batch_ops.
 * It must not take `lock` or cfg_lock (the steps it calls take what they need).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/internal.h"

static void flight_end(struct dp_device *d)
{
	pthread_mutex_lock(&d->flight_lock);
	if (--d->in_flight == 0)
		pthread_cond_broadcast(&d->flight_cond);
	pthread_mutex_unlock(&d->flight_lock);
}

static void put_free(struct dp_serial *s, struct dp_batch *b)
{
	pthread_mutex_lock(&s->mu);
	b->next_free = s->free_list;
	s->free_list = b;
	s->nfree++;
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Release the done batches at the head of s in order. One thread at a time does it (`busy`);
 * a thread that completes a batch while another is releasing leaves it to that one, which
 * looks at the head again under the mutex before it stops, so no batch is left behind.
 */
static void serial_drain(struct dp_device *d, struct dp_serial *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->busy) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->busy = true;
	while (s->len && atomic_load(&s->ring[s->head]->pending) == 0) {
		struct dp_batch *b = s->ring[s->head];

		s->head = (s->head + 1) % s->cap;
		s->len--;
		pthread_mutex_unlock(&s->mu);
		s->ops->finish(d, b);
		flight_end(d);
		pthread_mutex_lock(&s->mu);
		b->next_free = s->free_list;
		s->free_list = b;
		s->nfree++;
		pthread_cond_broadcast(&s->freed);
	}
	s->busy = false;
	pthread_mutex_unlock(&s->mu);
}

static void *worker(void *arg)
{
	struct dp_device *d = arg;
	struct dp_pool *p = &d->pool;
	struct dp_ctx_cache cache = {0};

	for (;;) {
		struct dp_work w;

		pthread_mutex_lock(&p->mu);
		while (!p->len && !p->stop)
			pthread_cond_wait(&p->more, &p->mu);
		if (!p->len) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		w = p->ring[p->head];
		p->head = (p->head + 1) % DP_POOL_QUEUE;
		p->len--;
		pthread_cond_signal(&p->space);
		pthread_mutex_unlock(&p->mu);

		w.b->serial->ops->crypt(d, w.b, w.from, w.to, &cache);
		if (atomic_fetch_sub(&w.b->pending, 1) == 1)
			serial_drain(d, w.b->serial);
	}
	dp_ctx_cache_done(&cache);
	return NULL;
}

int dp_pool_start(struct dp_device *d, unsigned workers)
{
	struct dp_pool *p = &d->pool;

	if (workers > DP_MAX_WORKERS)
		workers = DP_MAX_WORKERS;
	p->n = 0;
	p->stop = false;
	p->head = p->len = 0;
	if (!workers)
		return 0;
	p->ring = calloc(DP_POOL_QUEUE, sizeof(*p->ring));
	if (!p->ring)
		return -ENOMEM;
	for (; p->n < workers; p->n++)
		if (pthread_create(&p->threads[p->n], NULL, worker, d))
			return -EAGAIN;
	return 0;
}

void dp_pool_stop(struct dp_device *d)
{
	struct dp_pool *p = &d->pool;

	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	p->n = 0;
	free(p->ring);
	p->ring = NULL;
}

int dp_serial_init(struct dp_serial *s, const struct dp_batch_ops *ops, struct dp_batch *batches,
		   unsigned n)
{
	s->ops = ops;
	s->ring = calloc(n, sizeof(*s->ring));
	if (!s->ring)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->freed, NULL);
	s->cap = n;
	s->head = s->len = 0;
	s->busy = false;
	s->free_list = NULL;
	s->nfree = s->total = n;
	for (unsigned i = 0; i < n; i++) {
		batches[i].serial = s;
		batches[i].next_free = s->free_list;
		s->free_list = &batches[i];
	}
	return 0;
}

void dp_serial_done(struct dp_serial *s)
{
	if (!s->ring)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->nfree < s->total)
		pthread_cond_wait(&s->freed, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->freed);
	free(s->ring);
	s->ring = NULL;
}

struct dp_batch *dp_serial_get(struct dp_serial *s)
{
	struct dp_batch *b;

	pthread_mutex_lock(&s->mu);
	while (!s->free_list)
		pthread_cond_wait(&s->freed, &s->mu);
	b = s->free_list;
	s->free_list = b->next_free;
	s->nfree--;
	pthread_mutex_unlock(&s->mu);
	b->n = 0;
	return b;
}

void dp_submit(struct dp_device *d, struct dp_batch *b, struct dp_ctx_cache *inline_cache)
{
	struct dp_serial *s = b->serial;
	struct dp_pool *p = &d->pool;
	unsigned chunks = (b->n + DP_CHUNK - 1) / DP_CHUNK;

	pthread_mutex_lock(&d->flight_lock);
	d->in_flight++;
	pthread_mutex_unlock(&d->flight_lock);

	if (!p->n) {
		/* Inline: no queue, no hand-off. */
		if (b->n)
			s->ops->crypt(d, b, 0, b->n, inline_cache);
		s->ops->finish(d, b);
		flight_end(d);
		put_free(s, b);
		return;
	}

	/*
	 * Into the serial queue first, then chunks 1.. into the parallel queue; the reader seals
	 * or opens chunk 0 itself, so a batch of one chunk (a ping, a few small packets) costs
	 * no hand-off, and a big one is spread over the reader and the workers.
	 */
	if (!chunks)
		chunks = 1;
	atomic_store(&b->pending, chunks);
	pthread_mutex_lock(&s->mu);
	s->ring[(s->head + s->len) % s->cap] = b;
	s->len++;
	pthread_mutex_unlock(&s->mu);

	if (chunks > 1) {
		pthread_mutex_lock(&p->mu);
		for (unsigned c = 1; c < chunks; c++) {
			unsigned from = c * DP_CHUNK;
			unsigned to = from + DP_CHUNK < b->n ? from + DP_CHUNK : b->n;

			while (p->len == DP_POOL_QUEUE)
				pthread_cond_wait(&p->space, &p->mu);
			p->ring[(p->head + p->len) % DP_POOL_QUEUE] =
				(struct dp_work){.b = b, .from = from, .to = to};
			p->len++;
		}
		if (chunks > 2)
			pthread_cond_broadcast(&p->more);
		else
			pthread_cond_signal(&p->more);
		pthread_mutex_unlock(&p->mu);
	}
	s->ops->crypt(d, b, 0, b->n < DP_CHUNK ? b->n : DP_CHUNK, inline_cache);
	if (atomic_fetch_sub(&b->pending, 1) == 1)
		serial_drain(d, s);
}

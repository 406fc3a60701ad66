/* SPDX-License-Identifier: MIT */
/*
 * The device core: data-path threads, staging, the handshake worker, timers and applying
 * configuration. See internal.h for the lock order and the queues (queue.c). Per-packet
 * work takes `lock` twice per batch (begin, finish) and does the AEAD outside it, on the
 * crypto workers (or inline) with per-thread contexts; nothing is allocated per packet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dataplane/internal.h"
#include "dataplane/offload.h"
#include "lib/log.h"
#include "lib/util.h"
#include "platform/thread.h"
#include "platform/wakeup.h"

uint64_t dp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void env_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (crypto_random(buf, len)) {
		log_error("the CSPRNG failed; refusing to continue");
		abort();
	}
}

/* TAI64N of the wall clock, nanoseconds whitened to 2^24 as the kernel and wireguard-go do. */
static void env_tai64n(void *ctx, uint8_t out[WG_TAI64N_LEN])
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	put_be64(out, 0x400000000000000aULL + (uint64_t)ts.tv_sec);
	put_be32(out + 8, (uint32_t)ts.tv_nsec & ~0xffffffu);
}

/* ---------------------------------------------------------------------------------------- */
/* Per-thread AEAD contexts, keyed by keypair id: rebuilt only when the keypair changes.     */

struct crypto_aead *dp_ctx_get(struct dp_ctx_cache *c, uint64_t kp_id, const uint8_t *key,
			       bool send)
{
	uint64_t id = kp_id * 2 + (send ? 1 : 0);
	unsigned i;

	for (i = 0; i < DP_CTX_CACHE; i++)
		if (c->e[i].id == id && c->e[i].aead.ctx)
			return &c->e[i].aead;
	i = c->next++ % DP_CTX_CACHE;
	crypto_aead_done(&c->e[i].aead);
	c->e[i].id = 0;
	if (crypto_aead_init(&c->e[i].aead, key, send))
		return NULL;
	c->e[i].id = id;
	return &c->e[i].aead;
}

void dp_ctx_cache_done(struct dp_ctx_cache *c)
{
	for (unsigned i = 0; i < DP_CTX_CACHE; i++)
		crypto_aead_done(&c->e[i].aead);
}

/* ---------------------------------------------------------------------------------------- */
/* Sending                                                                                   */

/* Send one message to the peer's endpoint (takes udp_lock). false: not handed to the kernel. */
static bool send_to_peer(struct dp_device *d, struct dp_peer *p, const uint8_t *msg, size_t len)
{
	struct plat_udp_msg m = {.buf = (uint8_t *)msg, .len = len};

	if (!p->has_endpoint)
		return false;
	m.peer = p->endpoint;
	m.local = p->src;
	pthread_rwlock_rdlock(&d->udp_lock);
	if (plat_udp_send(d->udp, &m, 1) != 1)
		atomic_fetch_add(&d->tx_stats[DP_TX_DROP_SEND_ERROR], 1);
	pthread_rwlock_unlock(&d->udp_lock);
	if (!m.local.valid)
		p->src.valid = false; /* the kernel refused it: let routing choose next time */
	return m.sent;
}

void dp_send_to_peer(struct dp_device *d, struct dp_peer *p, const uint8_t *msg, size_t len)
{
	send_to_peer(d, p, msg, len);
}

/*
 * The engine counts a handshake message in tx_bytes when it writes it; a message the kernel
 * did not take (no route, no buffer) was not sent, and the kernel and wireguard-go count
 * only what was: take it back, with the packet and the message counted. `lock` held.
 */
static void tx_bytes_not_sent(struct wg_peer *wp, size_t len, uint64_t *message_counter)
{
	wp->tx_bytes = wp->tx_bytes >= len ? wp->tx_bytes - len : 0;
	if (wp->counters.tx_packets)
		wp->counters.tx_packets--;
	if (*message_counter)
		(*message_counter)--;
}

static enum wg_tx_result send_initiation(struct dp_device *d, struct dp_peer *p, bool retry,
					 uint64_t now)
{
	uint8_t msg[WG_MSG_INITIATION_LEN];
	enum wg_tx_result r;

	if (!p->has_endpoint)
		return WG_TX_NO_KEY;
	r = wg_peer_initiation(p->wg, retry, now, msg);
	if (r != WG_TX_OK)
		return r;
	memcpy(p->last_init, msg, sizeof(msg));
	p->last_init_at = now;
	if (!send_to_peer(d, p, msg, sizeof(msg)))
		tx_bytes_not_sent(p->wg, sizeof(msg), &p->wg->counters.initiations_sent);
	return r;
}

/*
 * Encrypt with the keypair's own context and send; `lock` held. false: no session (or no
 * endpoint: then no counter is spent). Bytes are counted only when the kernel took the
 * datagram, as the kernel counts them.
 */
static bool send_one_locked(struct dp_device *d, struct dp_peer *p, uint8_t *buf, size_t len,
			    uint64_t now, unsigned *act)
{
	struct wg_keypair *kp;
	uint64_t counter;
	size_t out_len;
	bool sent;

	if (!p->has_endpoint)
		return false;
	if (wg_data_tx_begin(p->wg, now, &kp, &counter, act) != WG_TX_OK)
		return false;
	if (wg_data_seal(&kp->send, kp->remote_index, counter, buf, len, d->mtu, &out_len))
		return false;
	sent = send_to_peer(d, p, buf, out_len);
	wg_data_tx_finish(p->wg, sent ? out_len : 0, len == 0 || !sent, now);
	return true;
}

static void staged_drop_all(struct dp_peer *p)
{
	p->staged_head = p->staged_len = 0;
}

/* Queue a plaintext (at buf + 16) until a session exists; the oldest goes when full. */
static void stage(struct dp_device *d, struct dp_peer *p, const uint8_t *pkt, size_t len)
{
	struct dp_staged *s;

	if (p->staged_len == DP_STAGED) {
		p->staged_head = (p->staged_head + 1) % DP_STAGED;
		p->staged_len--;
		atomic_fetch_add(&d->tx_stats[DP_TX_DROP_STAGED_FULL], 1);
	}
	s = &p->staged[(p->staged_head + p->staged_len) % DP_STAGED];
	if (!s->buf && !(s->buf = malloc(DP_BUF_LEN)))
		return;
	memcpy(s->buf + WG_DATA_HEADER_LEN, pkt, len);
	s->len = len;
	p->staged_len++;
}

/* Send staged packets (or a keepalive when none and `keepalive`); `lock` held. */
static void send_staged(struct dp_device *d, struct dp_peer *p, bool keepalive, uint64_t now)
{
	unsigned act = 0;

	if (!p->staged_len) {
		if (keepalive) {
			uint8_t buf[WG_DATA_OVERHEAD];

			send_one_locked(d, p, buf, 0, now, &act);
		}
	} else {
		while (p->staged_len) {
			struct dp_staged *s = &p->staged[p->staged_head];

			if (!send_one_locked(d, p, s->buf, s->len, now, &act))
				break;
			p->staged_head = (p->staged_head + 1) % DP_STAGED;
			p->staged_len--;
		}
	}
	if (act & WG_ACT_SEND_INITIATION)
		send_initiation(d, p, false, now);
}

void dp_peer_actions(struct dp_device *d, struct dp_peer *p, unsigned act, uint64_t now)
{
	if (act & WG_ACT_CLEAR_SRC)
		p->src.valid = false;
	if (act & WG_ACT_FLUSH_STAGED)
		staged_drop_all(p);
	if (act & WG_ACT_HANDSHAKE_DONE)
		clock_gettime(CLOCK_REALTIME, &p->last_handshake);
	if (act & WG_ACT_SEND_INITIATION)
		send_initiation(d, p, act & WG_ACT_INITIATION_RETRY, now);
	if (act & (WG_ACT_SEND_KEEPALIVE | WG_ACT_SEND_STAGED))
		send_staged(d, p, act & WG_ACT_SEND_KEEPALIVE, now);
}

/* ---------------------------------------------------------------------------------------- */
/* TUN -> UDP                                                                                */

enum {
	TX_MAX_JOBS = DP_MAX_SEGMENTS, /* one 64 KiB super-packet at the smallest MSS */
	TX_BATCH_TARGET = 64,          /* stop reading the TUN once this many are queued */
};

/* The inner destination, or false when this is not an IPv4/IPv6 packet. */
static bool inner_dst(const uint8_t *p, size_t len, enum wg_family *family, const uint8_t **dst)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		*family = WG_AF_INET;
		*dst = p + 16;
		return true;
	}
	if (len >= 40 && p[0] >> 4 == 6) {
		*family = WG_AF_INET6;
		*dst = p + 24;
		return true;
	}
	return false;
}

/*
 * The serial begin step of a TUN batch, under `lock`: route each packet to its peer, reserve
 * a counter, copy what the worker needs (key, index, endpoint). Packets without a session
 * are staged and a handshake is started.
 */
static void tx_begin(struct dp_device *d, struct dp_batch *b)
{
	uint64_t now;

	now = dp_now();
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < b->n; i++) {
		struct dp_job *j = &b->jobs[i];
		enum wg_family fam;
		const uint8_t *dst;
		struct wg_peer *wp;
		struct wg_keypair *kp;
		unsigned act = 0;

		j->ok = false;
		if (!inner_dst(j->buf + WG_DATA_HEADER_LEN, j->len, &fam, &dst)) {
			atomic_fetch_add(&d->tx_stats[DP_TX_DROP_BAD_PACKET], 1);
			continue;
		}
		wp = wg_allowedips_lookup(&d->wg.allowedips, fam, dst);
		if (!wp) {
			atomic_fetch_add(&d->tx_stats[DP_TX_DROP_NO_PEER], 1);
			continue;
		}
		j->peer = wp->user;
		if (!j->peer->has_endpoint) {
			atomic_fetch_add(&d->tx_stats[DP_TX_DROP_NO_ENDPOINT], 1);
			continue;
		}
		if (j->peer->staged_len ||
		    wg_data_tx_begin(wp, now, &kp, &j->counter, &act) != WG_TX_OK) {
			stage(d, j->peer, j->buf + WG_DATA_HEADER_LEN, j->len);
			if (!wg_peer_can_send(wp, now))
				send_initiation(d, j->peer, false, now);
			else
				send_staged(d, j->peer, false, now);
			continue;
		}
		j->kp_id = kp->id;
		memcpy(j->key, kp->send_key, WG_KEY_LEN);
		j->remote_index = kp->remote_index;
		j->ep = j->peer->endpoint;
		j->src = j->peer->src;
		j->ok = true;
		if (act & WG_ACT_SEND_INITIATION)
			send_initiation(d, j->peer, false, now);
	}
	pthread_mutex_unlock(&d->lock);
}

static void tx_crypt(struct dp_device *d, struct dp_batch *b, unsigned from, unsigned to,
		     struct dp_ctx_cache *cache)
{
	for (unsigned i = from; i < to; i++) {
		struct dp_job *j = &b->jobs[i];
		struct crypto_aead *aead;

		if (!j->ok)
			continue;
		aead = dp_ctx_get(cache, j->kp_id, j->key, true);
		crypto_wipe(j->key, sizeof(j->key));
		if (!aead || wg_data_seal(aead, j->remote_index, j->counter, j->buf, j->len, d->mtu,
					  &j->wire_len))
			j->ok = false;
	}
}

/* The serial step: send in order, then timers and byte counts for what the kernel took. */
static void tx_finish(struct dp_device *d, struct dp_batch *b)
{
	struct plat_udp_msg *msgs = b->msgs;
	unsigned nmsg = 0;
	uint64_t now;

	for (unsigned i = 0; i < b->n; i++) {
		struct dp_job *j = &b->jobs[i];

		if (!j->ok)
			continue;
		msgs[nmsg].buf = j->buf;
		msgs[nmsg].len = j->wire_len;
		msgs[nmsg].peer = j->ep;
		msgs[nmsg].local = j->src;
		msgs[nmsg].sent = false;
		nmsg++;
	}
	if (!nmsg)
		return;
	pthread_rwlock_rdlock(&d->udp_lock);
	plat_udp_send(d->udp, msgs, nmsg);
	pthread_rwlock_unlock(&d->udp_lock);
	now = dp_now();
	pthread_mutex_lock(&d->lock);
	nmsg = 0;
	for (unsigned i = 0; i < b->n; i++) {
		struct dp_job *j = &b->jobs[i];
		const struct plat_udp_msg *m;

		if (!j->ok)
			continue;
		m = &msgs[nmsg++];
		if (!m->sent)
			atomic_fetch_add(&d->tx_stats[DP_TX_DROP_SEND_ERROR], 1);
		wg_data_tx_finish(j->peer->wg, m->sent ? j->wire_len : 0, !m->sent, now);
		/* The kernel refused the sticky source: forget it for this peer. */
		if (j->src.valid && !m->local.valid)
			j->peer->src.valid = false;
	}
	pthread_mutex_unlock(&d->lock);
}

static const struct dp_batch_ops tx_ops = {.crypt = tx_crypt, .finish = tx_finish};

/*
 * Count the batch as read by its reader, begin it (cfg_lock read-held) and hand it over;
 * the reader's next batch is returned.
 */
static struct dp_batch *tx_submit(struct dp_tun_reader *reader, struct dp_batch *b,
				  struct dp_ctx_cache *cache)
{
	struct dp_device *d = reader->d;

	if (b->n) {
		atomic_fetch_add(&reader->packets, b->n);
		pthread_rwlock_rdlock(&d->cfg_lock);
		tx_begin(d, b);
		dp_submit(d, b, cache);
		pthread_rwlock_unlock(&d->cfg_lock);
		b = dp_serial_get(b->serial);
	}
	return b;
}

enum { BATCHES_PER_READER = 3 }; /* with workers: one filling, two in the pool */

static void batches_free(struct dp_batch *bs, unsigned n)
{
	for (unsigned i = 0; bs && i < n; i++) {
		free(bs[i].jobs);
		free(bs[i].msgs);
		free(bs[i].slab);
		free(bs[i].gro);
		free(bs[i].runs);
		free(bs[i].cookies);
		free(bs[i].cookie_msgs);
	}
	free(bs);
}

/* n batches of `jobs` jobs and messages, and a slab of `slab` bytes each. */
static struct dp_batch *batches_new(unsigned n, unsigned jobs, size_t slab, bool rx)
{
	struct dp_batch *bs = calloc(n, sizeof(*bs));

	for (unsigned i = 0; bs && i < n; i++) {
		bs[i].jobs = calloc(jobs, sizeof(*bs[i].jobs));
		bs[i].msgs = calloc(jobs, sizeof(*bs[i].msgs));
		bs[i].slab = malloc(slab);
		if (rx) {
			bs[i].gro = calloc(jobs, sizeof(*bs[i].gro));
			bs[i].runs = calloc(jobs, sizeof(*bs[i].runs));
			bs[i].cookies = calloc(DP_BATCH_COOKIES, sizeof(*bs[i].cookies));
			bs[i].cookie_msgs = calloc(DP_BATCH_COOKIES, sizeof(*bs[i].cookie_msgs));
		}
		if (!bs[i].jobs || !bs[i].msgs || !bs[i].slab ||
		    (rx && (!bs[i].gro || !bs[i].runs || !bs[i].cookies || !bs[i].cookie_msgs))) {
			batches_free(bs, n);
			return NULL;
		}
	}
	return bs;
}

/* Inline (no workers): one batch is enough; with workers, a few keep them busy. */
static unsigned batches_per_reader(const struct dp_device *d)
{
	return d->pool.n ? BATCHES_PER_READER : 1;
}

/*
 * Buffers a TUN reader lets the OS read ahead into (plat_tun_batch): a batch's worth of small
 * packets per system call. Each holds a whole super-packet, but only the pages written count:
 * 4 KiB each for small packets, up to 1 MiB per reader under TSO. 16, measured against 32 and
 * 8 (docs/performance.md): 32 gave no more packets per second and 1 MB more peak RSS; 8 cost
 * 9% of single-stream TCP.
 */
enum { TUN_READ_AHEAD = 16 };

/*
 * The reader's source of packets: batched (one system call for many) when the platform can,
 * otherwise one read per packet into `raw`.
 */
struct tun_source {
	struct dp_device *d;
	unsigned q;
	struct plat_tun_batch *batch;
	uint8_t *raw; /* without batch: DP_VNET_HDR_LEN + WG_MAX_MESSAGE_LEN */
};

static int tun_source_init(struct tun_source *s, struct dp_device *d, unsigned q, size_t read_len)
{
	int r;

	s->d = d;
	s->q = q;
	r = plat_tun_batch_new(d->tun, q, read_len, TUN_READ_AHEAD, &s->batch);
	if (r == 0)
		return 0;
	s->batch = NULL;
	/* Once per device: every queue's reader would say the same. */
	if (r != -EOPNOTSUPP && !atomic_exchange(&d->tun_batch_refused, true))
		log_info("%s: no batched TUN reads (io_uring: %s); one read per packet", d->name,
			 strerror(-r));
	if (!d->vnet_hdr)
		return 0; /* read straight into the job's buffer */
	s->raw = malloc(DP_VNET_HDR_LEN + WG_MAX_MESSAGE_LEN);
	return s->raw ? 0 : -ENOMEM;
}

static void tun_source_done(struct tun_source *s)
{
	plat_tun_batch_free(s->batch);
	free(s->raw);
}

static int tun_source_wait(struct tun_source *s, int timeout_ms)
{
	if (s->batch)
		return plat_tun_batch_wait(s->batch, timeout_ms);
	return plat_tun_wait_queue(s->d->tun, s->q, timeout_ms);
}

/*
 * The next packet, valid until the next call: its length (> 0), -EAGAIN when the TUN is
 * empty, -ENODEV when it is gone. Without a batch and without a virtio-net header it is
 * read straight to dst (len bytes of room), the one case that needs no copy.
 */
static ssize_t tun_source_next(struct tun_source *s, uint8_t *dst, size_t len,
			       const uint8_t **ret_pkt)
{
	const void *p;
	ssize_t r;

	if (s->batch) {
		r = plat_tun_batch_next(s->batch, &p);
		if (r > 0)
			*ret_pkt = p;
		return r;
	}
	if (!s->d->vnet_hdr) {
		*ret_pkt = dst;
		return plat_tun_read_queue(s->d->tun, s->q, dst, len);
	}
	*ret_pkt = s->raw;
	return plat_tun_read_queue(s->d->tun, s->q, s->raw, DP_VNET_HDR_LEN + WG_MAX_MESSAGE_LEN);
}

/*
 * Job buffers are packed in the batch's slab: each takes a slot of the size the MTU needs
 * (header room, the packet, its padding, the tag), so that a batch of wire-sized packets
 * touches 1.5 KB of memory per packet rather than a page or two; a packet larger than that
 * (the TUN's MTU raised behind weft's back) takes a whole DP_BUF_LEN. The slab has room for
 * TX_MAX_JOBS whole slots (and the first one's header offset), so it never runs out before
 * the jobs do.
 */
static size_t tx_slot(const struct dp_device *d)
{
	size_t s = WG_DATA_HEADER_LEN + d->mtu + WG_PADDING_MULTIPLE + CRYPTO_TAG_LEN;

	s = (s + 63) & ~(size_t)63;
	return s < DP_BUF_LEN ? s : DP_BUF_LEN;
}

/* Whether plaintexts of these lengths fit slots of `slot` bytes with their overhead. */
static bool tx_fits(const size_t *len, int n, size_t slot)
{
	for (int k = 0; k < n; k++)
		if (WG_DATA_HEADER_LEN + len[k] + WG_PADDING_MULTIPLE - 1 + CRYPTO_TAG_LEN > slot)
			return false;
	return true;
}

/*
 * Reads packets until the TUN is empty or a batch is full. With IFF_VNET_HDR a read may be a
 * TSO/USO super-packet: it is split into wire-sized packets straight into the job buffers
 * (at WG_DATA_HEADER_LEN, the room the transport header needs).
 */
static void *tun_thread(void *arg)
{
	struct dp_tun_reader *reader = arg;
	struct dp_device *d = reader->d;
	unsigned q = reader->q;
	struct dp_ctx_cache cache = {0};
	unsigned nb = batches_per_reader(d);
	struct dp_batch *bs =
		batches_new(nb, TX_MAX_JOBS, (size_t)TX_MAX_JOBS * DP_BUF_LEN + 64, false);
	struct dp_serial serial = {0};
	struct dp_batch *b = NULL;
	size_t *seg_len = calloc(TX_MAX_JOBS, sizeof(*seg_len));
	const size_t max_plain = WG_MAX_MESSAGE_LEN - WG_DATA_OVERHEAD - WG_PADDING_MULTIPLE;
	struct tun_source src = {0};
	size_t used = 0;		    /* bytes of b's slab taken by its jobs */
	const size_t mtu_slot = tx_slot(d); /* d->mtu is set once, before the readers start */

	if (!bs || !seg_len ||
	    tun_source_init(&src, d, q,
			    d->vnet_hdr ? DP_VNET_HDR_LEN + WG_MAX_MESSAGE_LEN : max_plain) ||
	    dp_serial_init(&serial, &tx_ops, bs, nb)) {
		log_error("%s: out of memory for TUN buffers", d->name);
		goto out;
	}
	b = dp_serial_get(&serial);
	while (!atomic_load(&d->stop)) {
		if (tun_source_wait(&src, 200) <= 0)
			continue;
		while (b->n < TX_BATCH_TARGET) {
			uint8_t *dst = b->slab + used + WG_DATA_HEADER_LEN;
			size_t slot = mtu_slot, plen;
			const uint8_t *pkt;
			struct dp_vnet_hdr h;
			ssize_t r;
			int segs;

			r = tun_source_next(&src, dst, max_plain, &pkt);
			if (r == -ENODEV) {
				atomic_store(&d->tun_gone, true);
				dp_device_stop(d);
				goto out;
			}
			if (r <= 0)
				break;
			if (!d->vnet_hdr) {
				if (pkt != dst)
					memcpy(dst, pkt, (size_t)r);
				b->jobs[b->n].buf = dst - WG_DATA_HEADER_LEN;
				b->jobs[b->n++].len = (size_t)r;
				plen = (size_t)r;
				used += tx_fits(&plen, 1, slot) ? slot : DP_BUF_LEN;
				continue;
			}
			if (r < DP_VNET_HDR_LEN) {
				atomic_fetch_add(&d->tx_stats[DP_TX_DROP_BAD_PACKET], 1);
				continue;
			}
			dp_vnet_hdr_parse(pkt, &h);
			pkt += DP_VNET_HDR_LEN;
			plen = (size_t)r - DP_VNET_HDR_LEN;
			/* At most four tries: each one grows the slot or empties the batch. */
			for (;;) {
				segs = dp_offload_split(pkt, plen, &h, dst, slot,
							TX_MAX_JOBS - b->n, seg_len);
				if (segs > 0 && !tx_fits(seg_len, segs, slot))
					segs = -E2BIG; /* fits the slots, not their overhead */
				if (segs == -E2BIG && slot < DP_BUF_LEN) {
					slot = DP_BUF_LEN;
					continue;
				}
				if (segs == -E2BIG && b->n) {
					/* Not enough job slots left: send what we have. */
					b = tx_submit(reader, b, &cache);
					used = 0;
					dst = b->slab + WG_DATA_HEADER_LEN;
					slot = mtu_slot;
					continue;
				}
				break;
			}
			if (segs < 0) {
				atomic_fetch_add(&d->tx_stats[DP_TX_DROP_BAD_PACKET], 1);
				continue;
			}
			for (int k = 0; k < segs; k++) {
				b->jobs[b->n].buf = dst + (size_t)k * slot - WG_DATA_HEADER_LEN;
				b->jobs[b->n++].len = seg_len[k] > max_plain ? 0 : seg_len[k];
			}
			used += (size_t)segs * slot;
		}
		b = tx_submit(reader, b, &cache);
		used = 0;
	}
out:
	if (b) {
		b->n = 0;
		dp_submit(d, b, &cache); /* returns it to the pool, in order */
	}
	dp_serial_done(&serial);
	dp_ctx_cache_done(&cache);
	batches_free(bs, nb);
	free(seg_len);
	tun_source_done(&src);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* UDP -> TUN                                                                                */

enum {
	RX_BUFS = 16, /* receive buffers per batch, each may hold a GRO run */
	RX_MAX_MSGS = RX_BUFS * PLAT_UDP_MAX_SEGMENTS,
};

struct udp_thread_arg {
	struct dp_device *d;
	enum plat_udp_family fam;
};

static void count_rx(struct dp_device *d, enum wg_rx_result r)
{
	atomic_fetch_add(&d->rx_stats[r], 1);
}

/* Roaming (whitepaper §6.5) and the sticky source; `lock` held. */
static void roam(struct dp_peer *p, const struct plat_udp_msg *m)
{
	p->endpoint = m->peer;
	p->has_endpoint = true;
	p->src = m->local;
}

/*
 * Queue a handshake message for the worker. The last DP_HANDSHAKE_RESERVED places are for
 * `proven` messages (mac2 valid: their source address answered our cookie), so that a flood
 * of initiations with a valid mac1 cannot keep a real peer out. false: no room.
 */
static bool queue_handshake(struct dp_device *d, const struct plat_udp_msg *m, bool proven)
{
	struct dp_hs_item *it;

	pthread_mutex_lock(&d->hs_lock);
	if (d->hs_len >= DP_HANDSHAKE_QUEUE - (proven ? 0 : DP_HANDSHAKE_RESERVED)) {
		pthread_mutex_unlock(&d->hs_lock);
		return false;
	}
	it = &d->hs_ring[(d->hs_head + d->hs_len) % DP_HANDSHAKE_QUEUE];
	memcpy(it->msg, m->buf, m->len);
	it->len = m->len;
	it->from = m->peer;
	it->local = m->local;
	d->hs_len++;
	pthread_cond_signal(&d->hs_cond);
	pthread_mutex_unlock(&d->hs_lock);
	return true;
}

/*
 * The handshake queue is full (past the reserved places): instead of dropping the message,
 * do what the worker would do under load, without the DH: check mac1 and mac2 (keyed
 * BLAKE2s). A message with a valid mac2 takes a reserved place; one with only mac1 gets its
 * cookie reply from here (sent with the batch's other replies after rx_begin), so a real
 * peer behind a flood still gets the cookie it needs to prove itself; anything else is
 * dropped and counted. `lock` held.
 */
static void handshake_overflow(struct dp_device *d, struct dp_batch *b,
			       const struct plat_udp_msg *m, uint64_t now)
{
	enum wg_rx_result r;
	struct plat_udp_msg *c;

	/*
	 * Each source gets the handshake rate limiter's budget (20/s, burst 5) here: a flood
	 * from a few addresses costs a table lookup per datagram, so the reader keeps draining
	 * the socket, where other sources' datagrams would otherwise be lost to its buffer.
	 */
	if (b->ncookies == DP_BATCH_COOKIES ||
	    !wg_ratelimiter_allow(&d->hs_overflow_rl, m->peer.family, m->peer.addr, now)) {
		atomic_fetch_add(&d->tx_stats[DP_TX_DROP_HANDSHAKE_QUEUE_FULL], 1);
		return;
	}
	r = wg_device_handshake_overflow(&d->wg, m->buf, m->len, &m->peer, now,
					 b->cookies[b->ncookies]);
	if (r == WG_RX_DATA) {
		if (queue_handshake(d, m, true))
			atomic_fetch_add(&d->tx_stats[DP_TX_HANDSHAKE_FULL_MAC2], 1);
		else
			atomic_fetch_add(&d->tx_stats[DP_TX_DROP_HANDSHAKE_QUEUE_FULL], 1);
		return;
	}
	if (r == WG_RX_DROP_TYPE && get_le32(m->buf) == WG_MSG_COOKIE) {
		/* a cookie reply: nothing proves it cheaply, and the queue has no room */
		atomic_fetch_add(&d->tx_stats[DP_TX_DROP_HANDSHAKE_QUEUE_FULL], 1);
		return;
	}
	count_rx(d, r);
	if (r != WG_RX_SENT_COOKIE)
		return;
	atomic_fetch_add(&d->tx_stats[DP_TX_HANDSHAKE_FULL_COOKIE], 1);
	c = &b->cookie_msgs[b->ncookies];
	c->buf = b->cookies[b->ncookies];
	c->len = WG_MSG_COOKIE_LEN;
	c->peer = m->peer;
	c->local = m->local;
	b->ncookies++;
}

/*
 * The queue a decrypted packet is written through. The kernel's TUN remembers which queue
 * each flow was last written through and sends that flow's packets to the same queue
 * (tun.c's flow table), so writing everything through queue 0 would gather every flow that
 * has traffic both ways on one reader. Spread by flow instead; a flow stays on its queue.
 */
static unsigned tun_queue(const struct dp_device *d, const uint8_t *pkt, size_t len)
{
	return d->tun_running > 1 ? dp_flow_hash(pkt, len) % d->tun_running : 0;
}

/*
 * Write the decrypted packets (jobs[i].ok) to the TUN. With a virtio-net header, TCP
 * segments of one flow are coalesced into super-packets (dp_gro_coalesce) and written with
 * writev, so the kernel sees one 64 KiB packet instead of ~45; so are UDP datagrams of one
 * flow when the kernel takes USO (then it also takes UDP_L4 packets written to the TUN:
 * both came with Linux 6.2). -ENODEV when the TUN is gone.
 */
static int tun_write_batch(struct dp_device *d, struct dp_batch *b)
{
	struct plat_iov iov[DP_GRO_MAX_RUN + 1];
	struct plat_udp_msg *msgs = b->msgs;
	struct dp_gro_pkt *gro = b->gro;
	unsigned np = 0, nr;
	uint64_t gro_tcp = 0, gro_udp = 0;

	if (!d->vnet_hdr) {
		int r = 0;

		for (unsigned i = 0; i < b->n && r != -ENODEV; i++) {
			struct plat_iov v = {msgs[i].buf, msgs[i].len};

			if (!b->jobs[i].ok)
				continue;
			r = (int)plat_tun_writev_queue(d->tun, tun_queue(d, v.base, v.len), &v, 1);
			np++;
		}
		atomic_fetch_add(&d->tun_writes, np);
		return r == -ENODEV ? r : 0;
	}
	for (unsigned i = 0; i < b->n; i++) {
		if (!b->jobs[i].ok)
			continue;
		/* The 16-byte transport header before the payload leaves room for the vnet one. */
		gro[np].data = msgs[i].buf;
		gro[np].len = msgs[i].len;
		np++;
	}
	nr = dp_gro_coalesce(gro, np, b->runs, d->offloads & PLAT_TUN_OFF_USO4);
	for (unsigned r = 0; r < nr; r++) {
		const struct dp_gro_run *run = &b->runs[r];
		const struct dp_gro_pkt *f = &gro[run->first];

		iov[0].base = f->data - DP_VNET_HDR_LEN;
		iov[0].len = DP_VNET_HDR_LEN + f->len;
		for (unsigned k = 1; k < run->count; k++) {
			const struct dp_gro_pkt *m = &gro[run->members[k]];

			iov[k].base = m->data + m->hdr_len;
			iov[k].len = m->len - m->hdr_len;
		}
		if (run->count > 1) {
			/* The protocol byte of the IP header: which kind of super-packet. */
			uint8_t proto = f->data[0] >> 4 == 6 ? f->data[6] : f->data[9];

			gro_tcp += proto == 6 ? run->count : 0;
			gro_udp += proto == 17 ? run->count : 0;
		}
		if (plat_tun_writev_queue(d->tun, tun_queue(d, f->data, f->len), iov, run->count) ==
		    -ENODEV)
			return -ENODEV;
	}
	atomic_fetch_add(&d->tun_writes, nr);
	atomic_fetch_add(&d->tun_gro_tcp, gro_tcp);
	atomic_fetch_add(&d->tun_gro_udp, gro_udp);
	return 0;
}

/*
 * The serial begin step of a UDP batch, under `lock`: handshake messages go to the
 * handshake queue; transport messages are matched to their keypair (key copied for the
 * worker).
 */
static void rx_begin(struct dp_device *d, struct dp_batch *b)
{
	uint64_t now = dp_now();
	unsigned nforeign = 0;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < b->n; i++) {
		struct plat_udp_msg *m = &b->msgs[i];
		struct dp_job *j = &b->jobs[i];
		enum wg_rx_result r;

		j->ok = false;
		j->foreign = false;
		if (d->foreign_fn && (m->len < 4 || get_le32(m->buf) - 1u >= 4u)) {
			j->foreign = true; /* not WireGuard: for the hook, after the lock */
			nforeign++;
			continue;
		}
		if (m->len >= 4 && m->buf[0] != WG_MSG_DATA && m->buf[0] >= 1 && m->buf[0] <= 3 &&
		    m->len <= WG_MAX_HANDSHAKE_LEN) {
			if (!queue_handshake(d, m, false))
				handshake_overflow(d, b, m, now);
			continue;
		}
		if (m->len < 4 || get_le32(m->buf) != WG_MSG_DATA) {
			count_rx(d, m->len < 4 ? WG_RX_DROP_SHORT : WG_RX_DROP_TYPE);
			continue;
		}
		r = wg_data_rx_begin(&d->wg, m->buf, m->len, now, &j->kp, &j->counter);
		if (r != WG_RX_DATA) {
			count_rx(d, r);
			continue;
		}
		j->kp_id = j->kp->id;
		memcpy(j->key, j->kp->recv_key, WG_KEY_LEN);
		j->ok = true;
	}
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < b->n && nforeign; i++)
		if (b->jobs[i].foreign) {
			if (!d->foreign_fn(d->foreign_ctx, b->msgs[i].buf, b->msgs[i].len,
					   &b->msgs[i].peer))
				count_rx(d, b->msgs[i].len < 4 ? WG_RX_DROP_SHORT : WG_RX_DROP_TYPE);
			nforeign--;
		}
	if (b->ncookies) {
		pthread_rwlock_rdlock(&d->udp_lock);
		plat_udp_send(d->udp, b->cookie_msgs, b->ncookies);
		pthread_rwlock_unlock(&d->udp_lock);
		b->ncookies = 0;
	}
}

static void rx_crypt(struct dp_device *d, struct dp_batch *b, unsigned from, unsigned to,
		     struct dp_ctx_cache *cache)
{
	for (unsigned i = from; i < to; i++) {
		struct dp_job *j = &b->jobs[i];
		struct crypto_aead *aead;

		if (!j->ok)
			continue;
		aead = dp_ctx_get(cache, j->kp_id, j->key, false);
		crypto_wipe(j->key, sizeof(j->key));
		if (!aead || wg_data_open(aead, j->counter, b->msgs[i].buf, b->msgs[i].len)) {
			j->ok = false;
			count_rx(d, WG_RX_DROP_DATA_AUTH);
		}
	}
}

/* The serial step, in arrival order: replay window, timers, roaming, inner checks; TUN. */
static void rx_finish(struct dp_device *d, struct dp_batch *b)
{
	uint64_t now = dp_now();

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < b->n; i++) {
		struct dp_job *j = &b->jobs[i];
		struct plat_udp_msg *m = &b->msgs[i];
		struct wg_rx rx = {0};
		enum wg_rx_result r;

		if (!j->ok)
			continue;
		j->ok = false;
		/* The slot may hold a different keypair now (rotated during decryption). */
		if (!j->kp->in_use || j->kp->id != j->kp_id) {
			count_rx(d, WG_RX_DROP_UNKNOWN_INDEX);
			continue;
		}
		r = wg_data_rx_finish(j->kp, j->counter, m->buf, m->len, now, &rx);
		count_rx(d, r);
		if (rx.peer) {
			struct dp_peer *p = rx.peer->user;

			if (rx.roam)
				roam(p, m);
			dp_peer_actions(d, p, rx.actions, now);
		}
		if (r == WG_RX_DATA) {
			m->buf = rx.data;
			m->len = rx.data_len;
			j->ok = true;
		}
	}
	pthread_mutex_unlock(&d->lock);

	if (tun_write_batch(d, b) == -ENODEV) {
		atomic_store(&d->tun_gone, true);
		dp_device_stop(d);
	}
}

static const struct dp_batch_ops rx_ops = {.crypt = rx_crypt, .finish = rx_finish};

static void *udp_thread(void *arg)
{
	struct udp_thread_arg *a = arg;
	struct dp_device *d = a->d;
	enum plat_udp_family fam = a->fam;
	struct dp_ctx_cache cache = {0};
	unsigned nb = batches_per_reader(d);
	struct dp_batch *bs =
		batches_new(nb, RX_MAX_MSGS, (size_t)RX_BUFS * PLAT_UDP_BUF_LEN, true);
	struct dp_serial serial = {0};

	free(a);
	if (!bs || dp_serial_init(&serial, &rx_ops, bs, nb)) {
		log_error("%s: out of memory for UDP buffers", d->name);
		goto out;
	}
	while (!atomic_load(&d->stop)) {
		struct dp_batch *b = dp_serial_get(&serial);
		uint8_t *bufs[RX_BUFS];
		int n;

		for (unsigned i = 0; i < RX_BUFS; i++)
			bufs[i] = b->slab + (size_t)i * PLAT_UDP_BUF_LEN;
		n = plat_udp_recv(d->udp, fam, bufs, RX_BUFS, b->msgs, RX_MAX_MSGS);
		b->n = n > 0 ? (unsigned)n : 0;
		if (n > 0) {
			atomic_fetch_add(&d->rx_packets, (unsigned)n);
			pthread_rwlock_rdlock(&d->cfg_lock);
			rx_begin(d, b);
			dp_submit(d, b, &cache);
			pthread_rwlock_unlock(&d->cfg_lock);
		} else {
			dp_submit(d, b, &cache); /* nothing in it: back to the pool, in order */
		}
		if (n == -ESHUTDOWN)
			break;
	}
out:
	dp_serial_done(&serial);
	dp_ctx_cache_done(&cache);
	batches_free(bs, nb);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Handshake worker                                                                          */

static void *hs_thread(void *arg)
{
	struct dp_device *d = arg;
	struct dp_hs_item item;

	for (;;) {
		uint8_t reply[WG_MAX_HANDSHAKE_LEN];
		struct wg_rx rx;
		enum wg_rx_result r;
		size_t depth;
		uint64_t now;

		pthread_mutex_lock(&d->hs_lock);
		while (!d->hs_len && !atomic_load(&d->stop))
			pthread_cond_wait(&d->hs_cond, &d->hs_lock);
		if (atomic_load(&d->stop)) {
			pthread_mutex_unlock(&d->hs_lock);
			break;
		}
		item = d->hs_ring[d->hs_head];
		d->hs_head = (d->hs_head + 1) % DP_HANDSHAKE_QUEUE;
		depth = d->hs_len--;
		pthread_mutex_unlock(&d->hs_lock);

		pthread_rwlock_rdlock(&d->cfg_lock);
		now = dp_now();
		pthread_mutex_lock(&d->lock);
		/* The queue depth is what decides "under load" (kern receive.c). */
		wg_device_update_load(&d->wg, depth, DP_HANDSHAKE_QUEUE, now);
		r = wg_device_receive(&d->wg, item.msg, item.len, &item.from, now, reply, &rx);
		count_rx(d, r);
		if (rx.reply) {
			struct plat_udp_msg m = {.buf = rx.reply,
						 .len = rx.reply_len,
						 .peer = item.from,
						 .local = item.local};

			pthread_rwlock_rdlock(&d->udp_lock);
			if (plat_udp_send(d->udp, &m, 1) != 1)
				atomic_fetch_add(&d->tx_stats[DP_TX_DROP_SEND_ERROR], 1);
			pthread_rwlock_unlock(&d->udp_lock);
			/* A response is counted by the engine (a cookie reply is no peer's). */
			if (r == WG_RX_HANDSHAKE_INIT && rx.peer && !m.sent)
				tx_bytes_not_sent(rx.peer, rx.reply_len,
						  &rx.peer->counters.responses_sent);
		}
		if (rx.peer) {
			struct dp_peer *p = rx.peer->user;
			struct plat_udp_msg from = {.peer = item.from, .local = item.local};

			if (rx.roam)
				roam(p, &from);
			dp_peer_actions(d, p, rx.actions, now);
		}
		pthread_mutex_unlock(&d->lock);
		pthread_rwlock_unlock(&d->cfg_lock);
		crypto_wipe(&item, sizeof(item));
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Timers: run by the control loop                                                           */

struct timers_fire {
	struct dp_device *d;
	uint64_t now;
};

static void timers_fire(void *ctx, struct wg_peer *wp, unsigned act)
{
	struct timers_fire *f = ctx;

	dp_peer_actions(f->d, wp->user, act, f->now);
}

/*
 * The engine's timer heap finds the due peers, so a pass costs O(log peers) per peer that is
 * due (or whose stale heap key surfaces), not a walk over every peer with `lock` held.
 */
int dp_device_timers(struct dp_device *d)
{
	struct timers_fire f = {.d = d};
	uint64_t next;

	pthread_rwlock_rdlock(&d->cfg_lock);
	pthread_mutex_lock(&d->lock);
	f.now = dp_now();
	wg_device_timers_run(&d->wg, f.now, timers_fire, &f);
	/* Exact within the tick; beyond it, stale keys are left for later passes. */
	next = wg_device_timers_next(&d->wg, f.now + DP_TIMER_TICK_MS * NSEC_PER_MSEC);
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&d->cfg_lock);
	if (next == UINT64_MAX || next - f.now > DP_TIMER_TICK_MS * NSEC_PER_MSEC)
		return DP_TIMER_TICK_MS;
	return (int)((next - f.now) / NSEC_PER_MSEC) + 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Threads                                                                                   */

static int start_udp_threads(struct dp_device *d)
{
	for (int f = 0; f < 2; f++) {
		struct udp_thread_arg *a;

		d->udp_running[f] = false;
		if (plat_udp_fd(d->udp, (enum plat_udp_family)f) < 0)
			continue;
		a = malloc(sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->d = d;
		a->fam = (enum plat_udp_family)f;
		if (pthread_create(&d->udp_thread[f], NULL, udp_thread, a)) {
			free(a);
			return -EAGAIN;
		}
		d->udp_running[f] = true;
	}
	return 0;
}

static void stop_udp_threads(struct dp_device *d)
{
	plat_udp_shutdown(d->udp);
	for (int f = 0; f < 2; f++)
		if (d->udp_running[f])
			pthread_join(d->udp_thread[f], NULL);
	d->udp_running[0] = d->udp_running[1] = false;
}

int dp_device_set_crypto_workers(struct dp_device *d, int n)
{
	if (d->threads_started || n < -1)
		return -EINVAL;
	d->want_workers = n > DP_MAX_WORKERS ? DP_MAX_WORKERS : n;
	return 0;
}

unsigned dp_device_crypto_workers(const struct dp_device *d)
{
	return d->pool.n;
}

/*
 * The default: one worker per online CPU from DP_POOL_MIN_CPUS up; below that, inline. On a
 * 2-CPU machine the pool measured no faster than inline (TCP and 64-byte UDP within noise)
 * and cost ~15-20% more CPU per GB and ~1.5-1.8x the RSS (README, "crypto workers").
 */
static unsigned workers_wanted(const struct dp_device *d)
{
	unsigned cpus;

	if (d->want_workers >= 0)
		return (unsigned)d->want_workers;
	cpus = plat_cpu_count();
	if (cpus < DP_POOL_MIN_CPUS)
		return 0;
	return cpus > DP_MAX_WORKERS ? DP_MAX_WORKERS : cpus;
}

static void stop_tun_threads(struct dp_device *d)
{
	for (unsigned i = 0; i < d->tun_running; i++)
		pthread_join(d->tun_readers[i].thread, NULL);
	d->tun_running = 0;
}

/* One reader per TUN queue. */
static int start_tun_threads(struct dp_device *d)
{
	unsigned n = plat_tun_queues(d->tun);

	if (n > DP_MAX_TUN_QUEUES)
		n = DP_MAX_TUN_QUEUES;
	for (unsigned i = 0; i < n; i++) {
		struct dp_tun_reader *t = &d->tun_readers[i];

		t->d = d;
		t->q = i;
		if (pthread_create(&t->thread, NULL, tun_thread, t)) {
			atomic_store(&d->stop, true);
			stop_tun_threads(d);
			return -EAGAIN;
		}
		d->tun_running = i + 1;
	}
	return 0;
}

static int start_threads(void *arg)
{
	struct dp_device *d = arg;
	int r = dp_pool_start(d, workers_wanted(d));

	if (r)
		return r;
	r = start_tun_threads(d);
	if (r) {
		dp_pool_stop(d); /* no reader running: nothing can be queued */
		return r;
	}
	if (pthread_create(&d->hs_thread, NULL, hs_thread, d)) {
		atomic_store(&d->stop, true);
		stop_tun_threads(d);
		dp_pool_stop(d);
		return -EAGAIN;
	}
	d->threads_started = true;
	r = start_udp_threads(d);
	if (r)
		dp_device_stop_threads(d); /* those that did start */
	return r;
}

int dp_device_start(struct dp_device *d)
{
	/* Signals belong to the control loop (signalfd), never to worker threads. */
	return plat_with_signals_blocked(start_threads, d);
}

void dp_device_stop(struct dp_device *d)
{
	atomic_store(&d->stop, true);
	plat_wakeup_signal(d->wake); /* the loop also looks at `stop` every tick */
}

void dp_device_stop_threads(struct dp_device *d)
{
	if (!d->threads_started)
		return;
	atomic_store(&d->stop, true);
	pthread_mutex_lock(&d->hs_lock);
	pthread_cond_broadcast(&d->hs_cond);
	pthread_mutex_unlock(&d->hs_lock);
	stop_udp_threads(d);
	stop_tun_threads(d);
	pthread_join(d->hs_thread, NULL);
	dp_pool_stop(d); /* the readers waited for their batches: the queue is empty */
	d->threads_started = false;
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration                                                                             */

static int peer_new(struct dp_device *d, const uint8_t pub[WG_KEY_LEN], struct dp_peer **ret)
{
	struct dp_peer *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = wg_peer_new(&d->wg, pub, &p->wg);
	if (r) {
		free(p);
		return r;
	}
	p->wg->user = p;
	*ret = p;
	return 0;
}

static void peer_free(struct dp_peer *p)
{
	if (!p)
		return;
	wg_peer_free(p->wg);
	for (size_t i = 0; i < DP_STAGED; i++)
		free(p->staged[i].buf);
	crypto_wipe(p, sizeof(*p));
	free(p);
}

void dp_device_free_peers(struct dp_device *d)
{
	while (d->wg.peers)
		peer_free(d->wg.peers->user);
}

void dp_device_set_foreign(struct dp_device *d, dp_foreign_fn *fn, void *ctx)
{
	d->foreign_ctx = ctx;
	d->foreign_fn = fn;
}

int dp_device_send_raw(struct dp_device *d, const struct wg_endpoint *to, const uint8_t *buf,
		       size_t len)
{
	struct plat_udp_msg m = {.buf = (uint8_t *)buf, .len = len, .peer = *to};
	int n;

	pthread_rwlock_rdlock(&d->udp_lock);
	n = plat_udp_send(d->udp, &m, 1);
	pthread_rwlock_unlock(&d->udp_lock);
	return n == 1 && m.sent ? 0 : -EAGAIN;
}

/* Rebind to port; the old sockets stay until the new ones are bound. */
static int rebind(struct dp_device *d, uint16_t port, uint32_t mark)
{
	struct plat_udp *nu, *old;
	int r = plat_udp_open(port, mark, &nu);

	if (r)
		return r;
	if (d->threads_started)
		stop_udp_threads(d);
	pthread_rwlock_wrlock(&d->udp_lock);
	old = d->udp;
	d->udp = nu;
	d->listen_port = plat_udp_port(nu);
	pthread_rwlock_unlock(&d->udp_lock);
	plat_udp_close(old);
	return d->threads_started ? start_udp_threads(d) : 0;
}

static int apply_peer(struct dp_device *d, const struct uapi_peer *up, uint64_t now,
		      unsigned *act)
{
	struct wg_peer *wp;
	struct dp_peer *p;
	int r;

	*act = 0;
	/* Our own public key: a dummy section, ignored (wireguard-go). */
	if (d->wg.has_key && crypto_equal(up->public_key, d->wg.static_pub, WG_KEY_LEN))
		return 0;
	wp = wg_peer_lookup(&d->wg, up->public_key);
	if (up->remove) {
		if (wp)
			peer_free(wp->user);
		return 0;
	}
	if (!wp) {
		if (up->update_only)
			return 0;
		r = peer_new(d, up->public_key, &p);
		if (r)
			return r;
		wp = p->wg;
	}
	p = wp->user;
	if (up->has_psk)
		wg_peer_set_psk(wp, crypto_is_zero(up->psk, WG_KEY_LEN) ? NULL : up->psk);
	if (up->has_endpoint) {
		p->endpoint = up->endpoint;
		p->has_endpoint = true;
		p->src.valid = false;
	}
	if (up->replace_allowed_ips)
		wg_allowedips_remove_peer(&d->wg.allowedips, wp);
	for (size_t i = 0; i < up->n_allowed_ips; i++) {
		const struct uapi_allowed_ip *a = &up->allowed_ips[i];

		if (a->remove) {
			wg_allowedips_remove(&d->wg.allowedips, a->family, a->addr, a->cidr, wp);
			continue;
		}
		r = wg_allowedips_insert(&d->wg.allowedips, a->family, a->addr, a->cidr, wp);
		if (r)
			return r;
	}
	if (up->has_keepalive)
		*act = wg_peer_set_keepalive(wp, up->keepalive, now);
	return 0;
}

int dp_device_apply(struct dp_device *d, const struct uapi_set *set)
{
	uint64_t now;
	int r = 0;

	/* The one step that can fail for outside reasons goes first, before anything changes. */
	if (set->has_listen_port && set->listen_port != d->listen_port) {
		r = rebind(d, set->listen_port, set->has_fwmark ? set->fwmark : d->fwmark);
		if (r)
			return r;
	}
	pthread_rwlock_wrlock(&d->cfg_lock);
	/* No new batch can begin; let those in flight finish, they point at peers. */
	pthread_mutex_lock(&d->flight_lock);
	while (d->in_flight)
		pthread_cond_wait(&d->flight_cond, &d->flight_lock);
	pthread_mutex_unlock(&d->flight_lock);
	pthread_mutex_lock(&d->lock);
	now = dp_now();
	if (set->has_fwmark && set->fwmark != d->fwmark) {
		pthread_rwlock_rdlock(&d->udp_lock);
		r = plat_udp_set_mark(d->udp, set->fwmark);
		pthread_rwlock_unlock(&d->udp_lock);
		if (r)
			goto out;
		d->fwmark = set->fwmark;
	}
	if (set->has_private_key) {
		r = wg_device_set_private_key(&d->wg, set->private_key);
		if (r)
			goto out;
	}
	if (set->replace_peers)
		dp_device_free_peers(d);
	for (size_t i = 0; i < set->n_peers; i++) {
		unsigned act = 0;

		r = apply_peer(d, &set->peers[i], now, &act);
		if (r)
			goto out;
		if (act) {
			struct wg_peer *wp = wg_peer_lookup(&d->wg, set->peers[i].public_key);

			if (wp)
				dp_peer_actions(d, wp->user, act, now);
		}
	}
out:
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&d->cfg_lock);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading configuration and counters                                                        */

struct aip_collect {
	struct uapi_allowed_ip *v;
	size_t n, cap;
	int err;
};

static int collect_aip(void *ctx, enum wg_family family, const uint8_t *addr, uint8_t cidr)
{
	struct aip_collect *c = ctx;

	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct uapi_allowed_ip *nv = realloc(c->v, ncap * sizeof(*nv));

		if (!nv) {
			c->err = -ENOMEM;
			return 1;
		}
		c->v = nv;
		c->cap = ncap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	c->v[c->n].family = family;
	memcpy(c->v[c->n].addr, addr, family == WG_AF_INET ? 4 : 16);
	c->v[c->n].cidr = cidr;
	c->n++;
	return 0;
}

int dp_device_get(struct dp_device *d, struct strbuf *out)
{
	struct uapi_get g = {0};
	struct uapi_get_peer *peers = NULL;
	struct aip_collect *aips = NULL;
	size_t n = 0, i = 0;
	struct wg_peer *wp;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	n = d->wg.peer_count;
	peers = calloc(n ? n : 1, sizeof(*peers));
	aips = calloc(n ? n : 1, sizeof(*aips));
	if (!peers || !aips) {
		r = -ENOMEM;
		pthread_mutex_unlock(&d->lock);
		goto out;
	}
	g.has_private_key = d->wg.has_key;
	memcpy(g.private_key, d->wg.static_priv, WG_KEY_LEN);
	g.listen_port = d->listen_port;
	g.fwmark = d->fwmark;
	/* The engine keeps peers newest first; report them in the order they were added. */
	for (wp = d->wg.peers; wp && wp->list_next; wp = wp->list_next)
		;
	for (; wp; wp = wp->list_prev, i++) {
		struct dp_peer *p = wp->user;
		struct uapi_get_peer *gp = &peers[i];

		memcpy(gp->public_key, wp->remote_static, WG_KEY_LEN);
		memcpy(gp->psk, wp->psk, WG_KEY_LEN);
		gp->has_endpoint = p->has_endpoint;
		gp->endpoint = p->endpoint;
		gp->last_handshake_sec = (uint64_t)p->last_handshake.tv_sec;
		gp->last_handshake_nsec = (uint64_t)p->last_handshake.tv_nsec;
		gp->rx_bytes = wp->rx_bytes;
		gp->tx_bytes = wp->tx_bytes;
		gp->keepalive = wp->persistent_keepalive;
		wg_allowedips_walk_peer(&d->wg.allowedips, wp, collect_aip, &aips[i]);
		if (aips[i].err)
			r = aips[i].err;
		gp->allowed_ips = aips[i].v;
		gp->n_allowed_ips = aips[i].n;
	}
	pthread_mutex_unlock(&d->lock);
	g.peers = peers;
	g.n_peers = n;
	if (!r)
		r = uapi_format_get(out, &g);
out:
	for (size_t k = 0; aips && k < n; k++)
		free(aips[k].v);
	free(aips);
	if (peers)
		crypto_wipe(peers, n * sizeof(*peers));
	free(peers);
	crypto_wipe(&g, sizeof(g));
	return r;
}

static void peer_stats(const struct wg_peer *wp, struct dp_peer_stats *ret)
{
	const struct dp_peer *p = wp->user;

	memcpy(ret->public_key, wp->remote_static, WG_KEY_LEN);
	ret->has_endpoint = p->has_endpoint;
	ret->endpoint = p->endpoint;
	ret->last_handshake_sec = (uint64_t)p->last_handshake.tv_sec;
	ret->rx_bytes = wp->rx_bytes;
	ret->tx_bytes = wp->tx_bytes;
	ret->counters = wp->counters;
}

int dp_device_peer_stats(struct dp_device *d, const uint8_t key[static 32],
			 struct dp_peer_stats *ret)
{
	struct wg_peer *wp;

	pthread_mutex_lock(&d->lock);
	wp = wg_peer_lookup(&d->wg, key);
	if (wp)
		peer_stats(wp, ret);
	pthread_mutex_unlock(&d->lock);
	return wp ? 0 : -ENOENT;
}

int dp_device_peer_endpoint(struct dp_device *d, const uint8_t key[static 32],
			    const struct wg_endpoint *ep, bool kick)
{
	struct wg_peer *wp;
	struct dp_peer *p;
	uint64_t now = dp_now();

	pthread_mutex_lock(&d->lock);
	wp = wg_peer_lookup(&d->wg, key);
	if (wp) {
		p = wp->user;
		if (ep && (!p->has_endpoint || memcmp(&p->endpoint, ep, sizeof(*ep)))) {
			p->endpoint = *ep;
			p->has_endpoint = true;
			p->src.valid = false;
		}
		/* A keepalive under the current session; without one an initiation, or the one
		 * in flight (sent less than REKEY_TIMEOUT ago, to the old path) once more: the
		 * responder's TAI64N check drops it if it had it already. */
		if (kick && p->has_endpoint) {
			uint8_t buf[WG_DATA_OVERHEAD];
			unsigned act = 0;

			if (!send_one_locked(d, p, buf, 0, now, &act) &&
			    send_initiation(d, p, false, now) == WG_TX_RATE_LIMITED &&
			    p->last_init_at && now - p->last_init_at < WG_REKEY_TIMEOUT &&
			    p->wg->hs.state == WG_HS_CREATED_INITIATION)
				send_to_peer(d, p, p->last_init, sizeof(p->last_init));
		}
	}
	pthread_mutex_unlock(&d->lock);
	return wp ? 0 : -ENOENT;
}

int dp_device_peers_stats(struct dp_device *d, struct dp_peer_stats **ret, size_t *ret_n)
{
	struct dp_peer_stats *v;
	struct wg_peer *wp;
	size_t i = 0;

	pthread_mutex_lock(&d->lock);
	v = calloc(d->wg.peer_count ? d->wg.peer_count : 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&d->lock);
		return -ENOMEM;
	}
	for (wp = d->wg.peers; wp && wp->list_next; wp = wp->list_next)
		;
	for (; wp; wp = wp->list_prev)
		peer_stats(wp, &v[i++]);
	pthread_mutex_unlock(&d->lock);
	*ret = v;
	*ret_n = i;
	return 0;
}

const char *dp_device_name(const struct dp_device *d)
{
	return d->name;
}

int dp_device_ifindex(const struct dp_device *d)
{
	return plat_tun_ifindex(d->tun);
}

uint16_t dp_device_port(const struct dp_device *d)
{
	return d->listen_port;
}

int dp_device_stats(struct dp_device *d, struct strbuf *out)
{
	static const char *const tx_names[DP_TX__COUNT] = {
		[DP_TX_DROP_NO_PEER] = "tx_drop_no_peer",
		[DP_TX_DROP_NO_ENDPOINT] = "tx_drop_no_endpoint",
		[DP_TX_DROP_BAD_PACKET] = "tx_drop_bad_packet",
		[DP_TX_DROP_STAGED_FULL] = "tx_drop_staged_full",
		[DP_TX_DROP_SEND_ERROR] = "tx_drop_send_error",
		[DP_TX_DROP_HANDSHAKE_QUEUE_FULL] = "rx_drop_handshake_queue_full",
		[DP_TX_HANDSHAKE_FULL_COOKIE] = "rx_handshake_queue_full_cookie_replies",
		[DP_TX_HANDSHAKE_FULL_MAC2] = "rx_handshake_queue_full_mac2_reserved",
	};
	uint64_t tun_read = 0;

	/* Readers that are not running (any more) keep their count. */
	for (unsigned i = 0; i < DP_MAX_TUN_QUEUES; i++)
		tun_read += atomic_load(&d->tun_readers[i].packets);
	strbuf_appendf(out, "interface=%s\nlisten_port=%u\n", d->name, d->listen_port);
	pthread_rwlock_rdlock(&d->udp_lock);
	strbuf_appendf(out, "tun_vnet_hdr=%d\ntun_offloads=0x%x\nudp_gso=%d\nudp_gro=%d\n", d->vnet_hdr,
		       d->offloads, plat_udp_gso(d->udp), plat_udp_gro(d->udp));
	pthread_rwlock_unlock(&d->udp_lock);
	strbuf_appendf(out,
		       "crypto_workers=%u\ntun_queues=%u\ntun_packets_read_per_queue=", d->pool.n,
		       d->tun_running);
	for (unsigned i = 0; i < d->tun_running; i++)
		strbuf_appendf(out, "%s%llu", i ? "," : "",
			       (unsigned long long)atomic_load(&d->tun_readers[i].packets));
	strbuf_appendf(out, "\n");
	strbuf_appendf(out, "tun_packets_read=%llu\nudp_datagrams_received=%llu\n",
		       (unsigned long long)tun_read,
		       (unsigned long long)atomic_load(&d->rx_packets));
	strbuf_appendf(out, "tun_writes=%llu\ntun_gro_tcp_packets=%llu\ntun_gro_udp_packets=%llu\n",
		       (unsigned long long)atomic_load(&d->tun_writes),
		       (unsigned long long)atomic_load(&d->tun_gro_tcp),
		       (unsigned long long)atomic_load(&d->tun_gro_udp));
	for (int i = 0; i < WG_RX__COUNT; i++)
		strbuf_appendf(out, "rx_%s=%llu\n", wg_rx_result_name((enum wg_rx_result)i),
			       (unsigned long long)atomic_load(&d->rx_stats[i]));
	for (int i = 0; i < DP_TX__COUNT; i++)
		strbuf_appendf(out, "%s=%llu\n", tx_names[i],
			       (unsigned long long)atomic_load(&d->tx_stats[i]));
	return out->error;
}

/* ---------------------------------------------------------------------------------------- */
/* Creation                                                                                  */

int dp_device_alloc(const struct dp_config *cfg, struct dp_device **ret)
{
	struct dp_device *d;
	int r;

	if (!cfg->ifname || !*cfg->ifname || strlen(cfg->ifname) > PLAT_TUN_NAME_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->name, sizeof(d->name), "%s", cfg->ifname);
	r = dp_device_core_init(d, cfg);
	if (r) {
		dp_device_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

int dp_device_core_init(struct dp_device *d, const struct dp_config *cfg)
{
	const struct wg_env env = {.random = env_random, .tai64n = env_tai64n};
	int r;

	d->mtu = cfg->mtu ? cfg->mtu : DP_DEFAULT_MTU;
	d->own_signals = cfg->own_signals;
	d->uapi_fd = d->inotify_fd = d->signal_fd = -1;
	r = plat_wakeup_open(&d->wake);
	if (r)
		return r;
	plat_rwlock_init_writer_first(&d->cfg_lock);
	pthread_rwlock_init(&d->udp_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->hs_lock, NULL);
	pthread_cond_init(&d->hs_cond, NULL);
	pthread_mutex_init(&d->flight_lock, NULL);
	pthread_cond_init(&d->flight_cond, NULL);
	pthread_mutex_init(&d->pool.mu, NULL);
	pthread_cond_init(&d->pool.more, NULL);
	pthread_cond_init(&d->pool.space, NULL);
	d->want_workers = -1;
	d->hs_ring = calloc(DP_HANDSHAKE_QUEUE, sizeof(*d->hs_ring));
	if (!d->hs_ring)
		return -ENOMEM;
	r = wg_device_init(&d->wg, &env);
	if (r)
		return r;
	{
		uint8_t seed[16];

		env_random(NULL, seed, sizeof(seed));
		r = wg_ratelimiter_init(&d->hs_overflow_rl, DP_HANDSHAKE_OVERFLOW_SOURCES, seed);
		crypto_wipe(seed, sizeof(seed));
		if (r)
			return r;
	}
	r = plat_udp_open(0, 0, &d->udp);
	if (r)
		return r;
	d->listen_port = plat_udp_port(d->udp);
	return 0;
}

void dp_device_core_done(struct dp_device *d)
{
	dp_device_stop_threads(d);
	if (d->wg.index_table) {
		dp_device_free_peers(d);
		wg_device_done(&d->wg);
	}
	plat_udp_close(d->udp);
	d->udp = NULL;
	wg_ratelimiter_done(&d->hs_overflow_rl); /* also when never initialised: zeroed */
	if (d->hs_ring)
		crypto_wipe(d->hs_ring, DP_HANDSHAKE_QUEUE * sizeof(*d->hs_ring));
	free(d->hs_ring);
	plat_wakeup_close(d->wake);
	d->wake = NULL;
	pthread_rwlock_destroy(&d->cfg_lock);
	pthread_rwlock_destroy(&d->udp_lock);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->hs_lock);
	pthread_cond_destroy(&d->hs_cond);
	pthread_mutex_destroy(&d->flight_lock);
	pthread_cond_destroy(&d->flight_cond);
	pthread_mutex_destroy(&d->pool.mu);
	pthread_cond_destroy(&d->pool.more);
	pthread_cond_destroy(&d->pool.space);
}

/* SPDX-License-Identifier: MIT */
/* The in-memory two-engine harness (see engine_harness.h). Aborts on impossible states. */
#include "engine_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "wg/internal.h"

#define H_CHECK(cond)                                                                      \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: harness check failed: %s\n", __FILE__,    \
				__LINE__, #cond);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* splitmix64: deterministic, good enough to stand in for randomness in tests. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void h_random(void *ctx, void *buf, size_t len)
{
	struct h_node *n = ctx;
	uint8_t *p = buf;

	while (len) {
		uint64_t r = next_rand(&n->rng);
		size_t k = len < 8 ? len : 8;

		memcpy(p, &r, k);
		p += k;
		len -= k;
	}
}

/* TAI64N from the fake clock: label 2^62 + 10 + seconds, then nanoseconds (big-endian). */
static void h_tai64n(void *ctx, uint8_t out[WG_TAI64N_LEN])
{
	struct h_node *n = ctx;
	uint64_t t = *n->now + 1700000000ULL * NSEC_PER_SEC;

	put_be64(out, 0x400000000000000aULL + t / NSEC_PER_SEC);
	put_be32(out + 8, (uint32_t)(t % NSEC_PER_SEC) & ~0xffffffu);
}

void h_env(struct h_node *n, struct wg_env *env)
{
	env->random = h_random;
	env->tai64n = h_tai64n;
	env->ctx = n;
}

void h_init(struct harness *h, uint64_t seed, const uint8_t *psk)
{
	memset(h, 0, sizeof(*h));
	h->now = 1000 * NSEC_PER_SEC;
	for (int i = 0; i < 2; i++) {
		struct h_node *n = &h->node[i];
		struct wg_env env;

		n->now = &h->now;
		n->rng = seed * 2 + (uint64_t)i + 1;
		h_env(n, &env);
		H_CHECK(wg_device_init(&n->dev, &env) == 0);
		h_random(n, n->priv, sizeof(n->priv));
		crypto_x25519_clamp(n->priv);
		H_CHECK(crypto_x25519_public(n->pub, n->priv) == 0);
		H_CHECK(wg_device_set_private_key(&n->dev, n->priv) == 0);
		n->ep.family = WG_AF_INET;
		n->ep.port = (uint16_t)(51820 + i);
		n->ep.addr[0] = 198;
		n->ep.addr[1] = 18;
		n->ep.addr[3] = (uint8_t)(i + 1);
	}
	for (int i = 0; i < 2; i++) {
		struct h_node *n = &h->node[i], *o = &h->node[!i];
		uint8_t v4[4] = {10, 200, 0, (uint8_t)(2 - i)};
		uint8_t v6[16] = {0xfd, 0};

		v6[15] = (uint8_t)(2 - i);
		H_CHECK(wg_peer_new(&n->dev, o->pub, &n->peer) == 0);
		if (psk)
			wg_peer_set_psk(n->peer, psk);
		H_CHECK(wg_allowedips_insert(&n->dev.allowedips, WG_AF_INET, v4, 32, n->peer) == 0);
		H_CHECK(wg_allowedips_insert(&n->dev.allowedips, WG_AF_INET6, v6, 128, n->peer) ==
			0);
	}
}

void h_done(struct harness *h)
{
	for (int i = 0; i < 2; i++)
		wg_device_done(&h->node[i].dev);
}

size_t h_make_packet(uint8_t *buf, int from, bool v6, size_t payload, uint8_t fill)
{
	size_t hl = v6 ? 40 : 20, len = hl + payload;

	memset(buf, 0, hl);
	memset(buf + hl, fill, payload);
	if (v6) {
		buf[0] = 0x60;
		put_be16(buf + 4, (uint16_t)payload);
		buf[6] = 58;
		buf[7] = 64;
		buf[8] = 0xfd;
		buf[23] = (uint8_t)(from + 1);
		buf[24] = 0xfd;
		buf[39] = (uint8_t)(2 - from);
	} else {
		buf[0] = 0x45;
		put_be16(buf + 2, (uint16_t)len);
		buf[8] = 64;
		buf[9] = 1;
		buf[12] = 10;
		buf[13] = 200;
		buf[15] = (uint8_t)(from + 1);
		buf[16] = 10;
		buf[17] = 200;
		buf[19] = (uint8_t)(2 - from);
	}
	return len;
}

void h_enqueue(struct harness *h, int to, const uint8_t *bytes, size_t len)
{
	struct h_msg *m;

	H_CHECK(h->qlen < H_QUEUE && len <= H_MAX_MSG);
	m = &h->queue[(h->qhead + h->qlen++) % H_QUEUE];
	m->to = to;
	m->len = len;
	memcpy(m->bytes, bytes, len);
	if (h->filter && !h->filter(h, !to, m))
		h->qlen--;
}

bool h_pop(struct harness *h, struct h_msg *out)
{
	if (!h->qlen)
		return false;
	*out = h->queue[h->qhead];
	h->qhead = (h->qhead + 1) % H_QUEUE;
	h->qlen--;
	return true;
}

static void send_initiation(struct harness *h, int i, bool retry)
{
	struct h_node *n = &h->node[i];
	uint8_t msg[WG_MSG_INITIATION_LEN];

	if (wg_peer_initiation(n->peer, retry, h->now, msg) == WG_TX_OK) {
		n->initiations_sent++;
		h_enqueue(h, !i, msg, sizeof(msg));
	}
}

/* Encrypt one packet (len 0: keepalive); stage it when there is no session. */
static bool encrypt_one(struct harness *h, int i, const uint8_t *pkt, size_t len)
{
	struct h_node *n = &h->node[i];
	uint8_t buf[H_MAX_MSG];
	size_t out_len;
	unsigned act = 0;
	enum wg_tx_result r;

	H_CHECK(wg_data_message_len(len, H_MTU) <= sizeof(buf));
	if (len)
		memcpy(buf + WG_DATA_HEADER_LEN, pkt, len);
	r = wg_peer_encrypt(n->peer, buf, len, H_MTU, h->now, &out_len, &act);
	if (r == WG_TX_OK) {
		h_enqueue(h, !i, buf, out_len);
		if (!len)
			n->keepalives_sent++;
	}
	if (act & WG_ACT_SEND_INITIATION)
		send_initiation(h, i, false);
	return r == WG_TX_OK;
}

static void send_staged(struct harness *h, int i, bool keepalive_if_empty)
{
	struct h_node *n = &h->node[i];
	size_t count = n->nstaged;

	if (!count) {
		if (keepalive_if_empty)
			encrypt_one(h, i, NULL, 0);
		return;
	}
	if (!wg_peer_can_send(n->peer, h->now)) {
		send_initiation(h, i, false);
		return;
	}
	n->nstaged = 0;
	for (size_t k = 0; k < count; k++)
		encrypt_one(h, i, n->staged[k], n->staged_len[k]);
}

void h_actions(struct harness *h, int i, unsigned act)
{
	struct h_node *n = &h->node[i];

	if (act & WG_ACT_FLUSH_STAGED)
		n->nstaged = 0;
	if (act & WG_ACT_HANDSHAKE_DONE)
		n->handshakes_done++;
	if (act & WG_ACT_SEND_INITIATION)
		send_initiation(h, i, act & WG_ACT_INITIATION_RETRY);
	if (act & (WG_ACT_SEND_KEEPALIVE | WG_ACT_SEND_STAGED))
		send_staged(h, i, act & WG_ACT_SEND_KEEPALIVE);
}

void h_send(struct harness *h, int from, const uint8_t *pkt, size_t len)
{
	struct h_node *n = &h->node[from];

	if (wg_peer_can_send(n->peer, h->now) && !n->nstaged) {
		encrypt_one(h, from, pkt, len);
		return;
	}
	if (n->nstaged == H_STAGED) { /* drop the oldest, as the kernel does */
		memmove(n->staged[0], n->staged[1], sizeof(n->staged[0]) * (H_STAGED - 1));
		memmove(n->staged_len, n->staged_len + 1, sizeof(n->staged_len[0]) * (H_STAGED - 1));
		n->nstaged--;
	}
	memcpy(n->staged[n->nstaged], pkt, len);
	n->staged_len[n->nstaged++] = len;
	send_staged(h, from, false);
}

enum wg_rx_result h_receive(struct harness *h, struct h_msg *m)
{
	struct h_node *n = &h->node[m->to];
	struct wg_rx rx;
	uint8_t reply[WG_MAX_HANDSHAKE_LEN];
	enum wg_rx_result r;

	r = wg_device_receive(&n->dev, m->bytes, m->len, &h->node[!m->to].ep, h->now, reply, &rx);
	n->rx_count[r]++;
	if (r == WG_RX_HANDSHAKE_INIT && n->kernel_crossing)
		wg_handshake_clear_crossed(rx.peer);
	if (rx.reply)
		h_enqueue(h, !m->to, rx.reply, rx.reply_len);
	if (r == WG_RX_DATA && n->ninbox < H_INBOX) {
		memcpy(n->inbox[n->ninbox], rx.data, rx.data_len);
		n->inbox_len[n->ninbox++] = rx.data_len;
	}
	if (rx.peer)
		h_actions(h, m->to, rx.actions);
	return r;
}

size_t h_deliver(struct harness *h, size_t limit)
{
	struct h_msg m;
	size_t k = 0;

	while (k < limit && h_pop(h, &m)) {
		h_receive(h, &m);
		k++;
	}
	return k;
}

void h_advance(struct harness *h, uint64_t ns, uint64_t step)
{
	uint64_t end = h->now + ns;

	while (h->now < end) {
		uint64_t next = end;

		for (int i = 0; i < 2; i++) {
			uint64_t d = wg_peer_timers_next(h->node[i].peer);

			if (d > h->now && d < next)
				next = d;
		}
		if (next - h->now > step)
			next = h->now + step;
		h->now = next;
		for (int i = 0; i < 2; i++)
			h_actions(h, i, wg_peer_timers_run(h->node[i].peer, h->now));
		h_deliver(h, 1000);
	}
}

void h_handshake(struct harness *h, int i)
{
	send_initiation(h, i, false);
	h_deliver(h, 1000);
}

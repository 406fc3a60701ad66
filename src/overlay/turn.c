// SPDX-License-Identifier: MIT
/*
 * turn.c — the TURN client state machine (see turn.h for the contract, timers and trust).
 *
 * Shape: a fixed table of transactions (requests in flight, each with its encoded bytes for
 * retransmission), a fixed table of permissions (peer IPs) and of channels (remote transport
 * addresses). ov_turn_output is where time passes: it starts what is due (the Allocate after
 * a backoff, Refresh, CreatePermission, ChannelBind), gives up on requests that ran out of
 * retransmissions, and hands out one datagram per call. ov_turn_input consumes responses and
 * unwraps peer data.
 *
 * Must not: do I/O, read a clock, allocate, log, or trust a response that does not match a
 * transaction in flight by id and method (and, for success, by MESSAGE-INTEGRITY).
 */
#include "overlay/turn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

static void set_error(struct ov_turn *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct ov_turn *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

static bool same_ip(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	size_t n = a->family == WG_AF_INET ? 4 : 16;

	return a->family == b->family && !memcmp(a->addr, b->addr, n);
}

static bool same_endpoint(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return same_ip(a, b) && a->port == b->port;
}

/* Only the fields that make the address (family, port, address bytes). */
static struct wg_endpoint clean_endpoint(const struct wg_endpoint *e, bool keep_port)
{
	struct wg_endpoint c;

	memset(&c, 0, sizeof(c));
	c.family = e->family;
	c.port = keep_port ? e->port : 0;
	memcpy(c.addr, e->addr, e->family == WG_AF_INET ? 4 : 16);
	return c;
}

/* --- credentials --- */

static void derive_key(struct ov_turn *t)
{
	t->have_key = t->realm_len > 0 &&
		      ov_stun_long_term_key(t->key, t->user, t->realm, t->realm_len, t->pass) == 0;
}

static void store_view(char *dst, size_t cap, size_t *ret_len, const char *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = 0;
	*ret_len = n;
}

void ov_turn_init(struct ov_turn *t, const struct ov_turn_env *env, const char *user,
		  const char *pass)
{
	memset(t, 0, sizeof(*t));
	t->env = *env;
	snprintf(t->user, sizeof(t->user), "%s", user);
	snprintf(t->pass, sizeof(t->pass), "%s", pass);
	t->backoff = OV_TURN_BACKOFF_MIN_MS;
	t->next_channel = OV_STUN_CHANNEL_MIN;
	t->retry_at = UINT64_MAX;
}

void ov_turn_done(struct ov_turn *t)
{
	crypto_wipe(t->user, sizeof(t->user));
	crypto_wipe(t->pass, sizeof(t->pass));
	crypto_wipe(t->key, sizeof(t->key));
	crypto_wipe(t->akey, sizeof(t->akey));
	t->have_key = false;
}

int ov_turn_set_credentials(struct ov_turn *t, const char *user, const char *pass, uint64_t now)
{
	if (strlen(user) >= sizeof(t->user) || strlen(pass) >= sizeof(t->pass))
		return -EINVAL;
	snprintf(t->user, sizeof(t->user), "%s", user);
	snprintf(t->pass, sizeof(t->pass), "%s", pass);
	derive_key(t);
	if (t->state == OV_TURN_FAILED) {
		t->retry_at = now;
		t->backoff = OV_TURN_BACKOFF_MIN_MS;
	}
	return 0;
}

/* --- transactions --- */

static struct ov_turn_txn *txn_new(struct ov_turn *t, enum ov_turn_txn_kind kind, uint16_t slot,
				   uint64_t now)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_TXN; i++) {
		struct ov_turn_txn *x = &t->txn[i];

		if (x->kind != OV_TURN_TXN_NONE)
			continue;
		memset(x, 0, sizeof(*x));
		x->kind = (uint8_t)kind;
		x->slot = slot;
		t->env.random(t->env.ctx, x->txid, sizeof(x->txid));
		x->rto = OV_TURN_RTO_MS;
		x->next_at = now;
		return x;
	}
	return NULL;
}

static bool txn_free_slot(const struct ov_turn *t)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_TXN; i++)
		if (t->txn[i].kind == OV_TURN_TXN_NONE)
			return true;
	return false;
}

static void txn_drop_kind(struct ov_turn *t, enum ov_turn_txn_kind kind, int slot)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_TXN; i++)
		if (t->txn[i].kind == kind && (slot < 0 || t->txn[i].slot == slot))
			t->txn[i].kind = OV_TURN_TXN_NONE;
}

static uint16_t txn_method(uint8_t kind)
{
	switch (kind) {
	case OV_TURN_TXN_ALLOCATE:
		return OV_STUN_ALLOCATE;
	case OV_TURN_TXN_REFRESH:
		return OV_STUN_REFRESH;
	case OV_TURN_TXN_PERMISSION:
		return OV_STUN_CREATE_PERMISSION;
	default:
		return OV_STUN_CHANNEL_BIND;
	}
}

/* The key of a transaction kind: the current credentials' for an Allocate, the
 * allocation's for everything done within it. */
static const uint8_t *kind_key(const struct ov_turn *t, uint8_t kind)
{
	return kind == OV_TURN_TXN_ALLOCATE ? t->key : t->akey;
}

/* USERNAME, REALM, NONCE, MESSAGE-INTEGRITY when the server has told us its realm and nonce
 * (RFC 8489 §9.2.3); the first Allocate goes without them to learn them. */
static bool add_auth(struct ov_turn *t, struct ov_stun_builder *b, uint8_t kind)
{
	if (!t->have_key || !t->nonce_len)
		return false;
	ov_stun_add_string(b, OV_STUN_ATTR_USERNAME,
			   kind == OV_TURN_TXN_ALLOCATE ? t->user : t->auser);
	ov_stun_add_bytes(b, OV_STUN_ATTR_REALM, t->realm, t->realm_len);
	ov_stun_add_bytes(b, OV_STUN_ATTR_NONCE, t->nonce, t->nonce_len);
	ov_stun_add_integrity(b, kind_key(t, kind), OV_STUN_LONG_TERM_KEY_LEN);
	return true;
}

/* Encodes x's request; false (and the transaction dropped) when it does not fit. */
static bool txn_encode(struct ov_turn *t, struct ov_turn_txn *x, uint32_t lifetime)
{
	struct ov_stun_builder b;
	int len;

	ov_stun_begin(&b, x->buf, sizeof(x->buf), txn_method(x->kind), OV_STUN_REQUEST, x->txid);
	switch (x->kind) {
	case OV_TURN_TXN_ALLOCATE:
		ov_stun_add_transport(&b, OV_STUN_TRANSPORT_UDP);
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, lifetime);
		break;
	case OV_TURN_TXN_REFRESH:
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, lifetime);
		break;
	case OV_TURN_TXN_PERMISSION:
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, &t->perm[x->slot].addr);
		break;
	case OV_TURN_TXN_CHANNEL:
		ov_stun_add_channel(&b, t->chan[x->slot].number);
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, &t->chan[x->slot].peer);
		break;
	}
	x->authenticated = add_auth(t, &b, x->kind);
	len = ov_stun_end(&b);
	if (len < 0) {
		x->kind = OV_TURN_TXN_NONE;
		return false;
	}
	x->len = (uint16_t)len;
	return true;
}

static bool start_txn(struct ov_turn *t, enum ov_turn_txn_kind kind, uint16_t slot, uint64_t now,
		      uint32_t lifetime)
{
	struct ov_turn_txn *x = txn_new(t, kind, slot, now);

	return x && txn_encode(t, x, lifetime);
}

/* --- state changes --- */

static void reset_peers(struct ov_turn *t, uint64_t now)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_PERMISSIONS; i++) {
		t->perm[i].installed = t->perm[i].pending = false;
		t->perm[i].refresh_at = now;
	}
	for (i = 0; i < OV_TURN_MAX_CHANNELS; i++) {
		t->chan[i].bound = t->chan[i].pending = false;
		t->chan[i].refresh_at = now;
	}
}

static void set_state(struct ov_turn *t, enum ov_turn_state s, uint64_t now)
{
	if (t->state != s)
		t->since = now;
	t->state = s;
}

/* The allocation is gone or never came: FAILED, the next attempt after the backoff. */
static void fail_alloc(struct ov_turn *t, uint64_t now)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_TXN; i++)
		t->txn[i].kind = OV_TURN_TXN_NONE;
	reset_peers(t, now);
	memset(&t->relayed, 0, sizeof(t->relayed));
	t->refresh_pending = false;
	t->lifetime = 0;
	t->stale = 0;
	set_state(t, OV_TURN_FAILED, now);
	t->retry_at = now + t->backoff;
	t->backoff =
		t->backoff * 2 > OV_TURN_BACKOFF_MAX_MS ? OV_TURN_BACKOFF_MAX_MS : t->backoff * 2;
}

static void begin_allocate(struct ov_turn *t, uint64_t now)
{
	set_state(t, OV_TURN_ALLOCATING, now);
	t->retry_at = UINT64_MAX;
	if (!start_txn(t, OV_TURN_TXN_ALLOCATE, 0, now, OV_TURN_LIFETIME_S)) {
		set_error(t, "cannot encode an Allocate (credentials too long?)");
		fail_alloc(t, now);
	}
}

void ov_turn_start(struct ov_turn *t, uint64_t now)
{
	if (t->state == OV_TURN_IDLE)
		begin_allocate(t, now);
}

void ov_turn_close(struct ov_turn *t, uint64_t now)
{
	if (t->state == OV_TURN_ALLOCATED) {
		t->close_pending = true;
		return;
	}
	set_state(t, OV_TURN_CLOSED, now);
}

static uint64_t refresh_delay_ms(uint32_t lifetime)
{
	if (lifetime > 120)
		return (uint64_t)(lifetime - 60) * 1000;
	return (uint64_t)lifetime * 500;
}

/* --- permissions and channels --- */

int ov_turn_permit(struct ov_turn *t, const struct wg_endpoint *addrs, size_t n, uint64_t now)
{
	struct wg_endpoint want[OV_TURN_MAX_PERMISSIONS];
	size_t nwant = 0, i, j;

	for (i = 0; i < n; i++) {
		struct wg_endpoint c;

		if (addrs[i].family != WG_AF_INET && addrs[i].family != WG_AF_INET6)
			return -EINVAL;
		c = clean_endpoint(&addrs[i], false);
		for (j = 0; j < nwant && !same_ip(&want[j], &c); j++)
			;
		if (j < nwant)
			continue;
		if (nwant == OV_TURN_MAX_PERMISSIONS)
			return -E2BIG;
		want[nwant++] = c;
	}
	/* Drop what is no longer wanted (its server-side permission lapses). */
	for (i = 0; i < OV_TURN_MAX_PERMISSIONS; i++) {
		if (!t->perm[i].used)
			continue;
		for (j = 0; j < nwant && !same_ip(&want[j], &t->perm[i].addr); j++)
			;
		if (j == nwant) {
			txn_drop_kind(t, OV_TURN_TXN_PERMISSION, (int)i);
			memset(&t->perm[i], 0, sizeof(t->perm[i]));
		}
	}
	/* Add the new ones, due now. */
	for (j = 0; j < nwant; j++) {
		size_t free_slot = OV_TURN_MAX_PERMISSIONS;

		for (i = 0; i < OV_TURN_MAX_PERMISSIONS; i++) {
			if (t->perm[i].used && same_ip(&t->perm[i].addr, &want[j]))
				break;
			if (!t->perm[i].used && free_slot == OV_TURN_MAX_PERMISSIONS)
				free_slot = i;
		}
		if (i < OV_TURN_MAX_PERMISSIONS)
			continue;
		/* There is room: the set has at most OV_TURN_MAX_PERMISSIONS entries. */
		t->perm[free_slot].used = true;
		t->perm[free_slot].addr = want[j];
		t->perm[free_slot].refresh_at = now;
	}
	return 0;
}

static int channel_find(const struct ov_turn *t, const struct wg_endpoint *peer)
{
	size_t i;

	for (i = 0; i < OV_TURN_MAX_CHANNELS; i++)
		if (t->chan[i].used && same_endpoint(&t->chan[i].peer, peer))
			return (int)i;
	return -1;
}

static uint16_t next_channel_number(struct ov_turn *t)
{
	uint16_t n = t->next_channel;

	t->next_channel = n == OV_STUN_CHANNEL_MAX ? OV_STUN_CHANNEL_MIN : (uint16_t)(n + 1);
	return n;
}

/* The channel slot of peer, made (due now) when it is new and there is room; -1 when full. */
static int channel_want(struct ov_turn *t, const struct wg_endpoint *peer, uint64_t now)
{
	int i = channel_find(t, peer);
	size_t k;

	if (i >= 0)
		return i;
	for (k = 0; k < OV_TURN_MAX_CHANNELS; k++) {
		struct ov_turn_channel *c = &t->chan[k];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->peer = clean_endpoint(peer, true);
		c->number = next_channel_number(t);
		c->refresh_at = now;
		return (int)k;
	}
	return -1;
}

void ov_turn_forget(struct ov_turn *t, const struct wg_endpoint *peer)
{
	int i = channel_find(t, peer);

	if (i < 0)
		return;
	txn_drop_kind(t, OV_TURN_TXN_CHANNEL, i);
	memset(&t->chan[i], 0, sizeof(t->chan[i]));
}

/* --- output and timers --- */

/* Start what is due (what finds no free transaction slot waits for one). */
static void start_due(struct ov_turn *t, uint64_t now)
{
	size_t i;

	if (t->state == OV_TURN_FAILED && now >= t->retry_at) {
		begin_allocate(t, now);
		return;
	}
	if (t->state != OV_TURN_ALLOCATED)
		return;
	if (now >= t->expires_at) {
		set_error(t, "allocation expired without a successful Refresh");
		fail_alloc(t, now);
		return;
	}
	if (!t->refresh_pending && now >= t->refresh_at &&
	    start_txn(t, OV_TURN_TXN_REFRESH, 0, now, OV_TURN_LIFETIME_S))
		t->refresh_pending = true;
	for (i = 0; i < OV_TURN_MAX_PERMISSIONS; i++) {
		struct ov_turn_perm *p = &t->perm[i];

		if (p->used && !p->pending && now >= p->refresh_at &&
		    start_txn(t, OV_TURN_TXN_PERMISSION, (uint16_t)i, now, 0))
			p->pending = true;
	}
	for (i = 0; i < OV_TURN_MAX_CHANNELS; i++) {
		struct ov_turn_channel *c = &t->chan[i];

		if (c->used && !c->pending && now >= c->refresh_at &&
		    start_txn(t, OV_TURN_TXN_CHANNEL, (uint16_t)i, now, 0))
			c->pending = true;
	}
}

/* A request that ran out of retransmissions (RFC 8489 §6.2.1). */
static void txn_timeout(struct ov_turn *t, struct ov_turn_txn *x, uint64_t now)
{
	uint8_t kind = x->kind;
	uint16_t slot = x->slot;

	x->kind = OV_TURN_TXN_NONE;
	switch (kind) {
	case OV_TURN_TXN_ALLOCATE:
		set_error(t, "server did not answer");
		fail_alloc(t, now);
		break;
	case OV_TURN_TXN_REFRESH:
		set_error(t, "allocation lost: server did not answer Refresh");
		fail_alloc(t, now);
		break;
	case OV_TURN_TXN_PERMISSION:
		t->perm[slot].pending = false;
		t->perm[slot].refresh_at = now + 10000;
		break;
	case OV_TURN_TXN_CHANNEL:
		t->chan[slot].pending = false;
		t->chan[slot].refresh_at = now + 10000;
		break;
	}
}

int ov_turn_output(struct ov_turn *t, uint64_t now, uint8_t *buf, size_t cap)
{
	size_t i;

	if (t->state == OV_TURN_CLOSED || t->state == OV_TURN_IDLE)
		return 0;
	if (t->close_pending) {
		struct ov_turn_txn x;

		/* Deallocate (RFC 8656 §8): a Refresh with LIFETIME 0, sent once, not awaited. */
		memset(&x, 0, sizeof(x));
		x.kind = OV_TURN_TXN_REFRESH;
		t->env.random(t->env.ctx, x.txid, sizeof(x.txid));
		t->close_pending = false;
		set_state(t, OV_TURN_CLOSED, now);
		if (!txn_encode(t, &x, 0))
			return 0;
		if (cap < x.len)
			return -ENOSPC;
		memcpy(buf, x.buf, x.len);
		return x.len;
	}
	start_due(t, now);
	for (i = 0; i < OV_TURN_MAX_TXN; i++) {
		struct ov_turn_txn *x = &t->txn[i];

		if (x->kind == OV_TURN_TXN_NONE || now < x->next_at)
			continue;
		if (x->tx == OV_TURN_RC) {
			txn_timeout(t, x, now);
			/* A failed allocation cleared every transaction; a new one may be due. */
			return ov_turn_output(t, now, buf, cap);
		}
		if (cap < x->len)
			return -ENOSPC;
		memcpy(buf, x->buf, x->len);
		x->tx++;
		x->next_at = now + (x->tx < OV_TURN_RC ? (uint64_t)x->rto << (x->tx - 1)
						       : (uint64_t)x->rto * OV_TURN_RM);
		return x->len;
	}
	return 0;
}

uint64_t ov_turn_next_timer(const struct ov_turn *t)
{
	uint64_t next = UINT64_MAX;
	bool room = txn_free_slot(t);
	size_t i;

#define EARLIER(v)                  \
	do {                        \
		if ((v) < next)     \
			next = (v); \
	} while (0)
	if (t->state == OV_TURN_CLOSED || t->state == OV_TURN_IDLE)
		return UINT64_MAX;
	if (t->close_pending)
		return 0;
	for (i = 0; i < OV_TURN_MAX_TXN; i++)
		if (t->txn[i].kind != OV_TURN_TXN_NONE)
			EARLIER(t->txn[i].next_at);
	if (t->state == OV_TURN_FAILED)
		EARLIER(t->retry_at);
	if (t->state == OV_TURN_ALLOCATED) {
		EARLIER(t->expires_at);
		if (!t->refresh_pending && room)
			EARLIER(t->refresh_at);
		for (i = 0; room && i < OV_TURN_MAX_PERMISSIONS; i++)
			if (t->perm[i].used && !t->perm[i].pending)
				EARLIER(t->perm[i].refresh_at);
		for (i = 0; room && i < OV_TURN_MAX_CHANNELS; i++)
			if (t->chan[i].used && !t->chan[i].pending)
				EARLIER(t->chan[i].refresh_at);
	}
#undef EARLIER
	return next;
}

/* --- input --- */

static void take_nonce(struct ov_turn *t, const struct ov_stun_msg *m)
{
	if (m->has_realm)
		store_view(t->realm, sizeof(t->realm), &t->realm_len, m->realm, m->realm_len);
	store_view(t->nonce, sizeof(t->nonce), &t->nonce_len, m->nonce, m->nonce_len);
	derive_key(t);
}

static void error_text(struct ov_turn *t, const char *what, const struct ov_stun_msg *m)
{
	char reason[96];
	size_t i, n = m->error_reason_len < sizeof(reason) - 1 ? m->error_reason_len
							       : sizeof(reason) - 1;

	/* The server's words, printable ASCII only. */
	for (i = 0; i < n; i++) {
		char c = m->error_reason[i];

		reason[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	reason[n] = 0;
	if (m->error_code == OV_STUN_ERR_UNAUTHORIZED)
		set_error(t, "%s: 401: credentials refused (user %.64s)", what, t->user);
	else if (m->error_code == OV_STUN_ERR_WRONG_CREDENTIALS)
		set_error(t, "%s: 441: wrong credentials (user %.64s)", what, t->user);
	else
		set_error(t, "%s: %u: %s", what, m->error_code, n ? reason : "(no reason)");
}

/* 438 (RFC 8489 §9.2.5): the new nonce, and the same request again, a bounded number of times. */
static bool stale_retry(struct ov_turn *t, const struct ov_stun_msg *m)
{
	if (m->error_code != OV_STUN_ERR_STALE_NONCE || !m->has_nonce || !m->nonce_len ||
	    t->stale >= OV_TURN_MAX_STALE)
		return false;
	t->stale++;
	take_nonce(t, m);
	return true;
}

static void on_allocate(struct ov_turn *t, const struct ov_turn_txn *x, const struct ov_stun_msg *m,
			uint64_t now)
{
	if (m->cls == OV_STUN_SUCCESS) {
		if (!m->has_xor_relayed) {
			set_error(t, "Allocate: success without XOR-RELAYED-ADDRESS");
			fail_alloc(t, now);
			return;
		}
		t->relayed = m->xor_relayed;
		memcpy(t->auser, t->user, sizeof(t->auser));
		memcpy(t->akey, t->key, sizeof(t->akey));
		if (m->has_xor_mapped)
			t->mapped = m->xor_mapped;
		t->lifetime = m->has_lifetime && m->lifetime ? m->lifetime : OV_TURN_LIFETIME_S;
		t->refresh_at = now + refresh_delay_ms(t->lifetime);
		t->expires_at = now + (uint64_t)t->lifetime * 1000;
		t->refresh_pending = false;
		t->backoff = OV_TURN_BACKOFF_MIN_MS;
		t->stale = 0;
		t->error[0] = 0;
		reset_peers(t, now);
		set_state(t, OV_TURN_ALLOCATED, now);
		return;
	}
	if (m->error_code == OV_STUN_ERR_UNAUTHORIZED && !x->authenticated && m->has_realm &&
	    m->has_nonce && m->realm_len && m->nonce_len) {
		/* The first 401 tells us realm and nonce (RFC 8489 §9.2.4). */
		take_nonce(t, m);
		if (!start_txn(t, OV_TURN_TXN_ALLOCATE, 0, now, OV_TURN_LIFETIME_S)) {
			set_error(t, "cannot encode an authenticated Allocate");
			fail_alloc(t, now);
		}
		return;
	}
	if (stale_retry(t, m)) {
		if (!start_txn(t, OV_TURN_TXN_ALLOCATE, 0, now, OV_TURN_LIFETIME_S))
			fail_alloc(t, now);
		return;
	}
	if (m->error_code == OV_STUN_ERR_STALE_NONCE)
		set_error(t, "Allocate: 438: stale nonce, %u times in a row", t->stale + 1);
	else
		error_text(t, "Allocate refused", m);
	fail_alloc(t, now);
}

static void on_refresh(struct ov_turn *t, const struct ov_stun_msg *m, uint64_t now)
{
	t->refresh_pending = false;
	if (m->cls == OV_STUN_SUCCESS) {
		if (m->has_lifetime && m->lifetime == 0) {
			set_error(t, "allocation lost: Refresh answered with LIFETIME 0");
			fail_alloc(t, now);
			return;
		}
		if (m->has_lifetime)
			t->lifetime = m->lifetime;
		t->refresh_at = now + refresh_delay_ms(t->lifetime);
		t->expires_at = now + (uint64_t)t->lifetime * 1000;
		t->stale = 0;
		return;
	}
	if (stale_retry(t, m)) {
		t->refresh_at = now; /* again, with the new nonce, from start_due */
		return;
	}
	error_text(t, "allocation lost: Refresh refused", m);
	fail_alloc(t, now);
	if (strcmp(t->auser, t->user)) {
		/* Refused for credentials that have been replaced since: allocate anew at once. */
		t->retry_at = now;
		t->backoff = OV_TURN_BACKOFF_MIN_MS;
	}
}

static void on_permission(struct ov_turn *t, const struct ov_turn_txn *x,
			  const struct ov_stun_msg *m, uint64_t now)
{
	struct ov_turn_perm *p = &t->perm[x->slot];

	p->pending = false;
	if (m->cls == OV_STUN_SUCCESS) {
		p->installed = true;
		p->refresh_at = now + OV_TURN_PERM_REFRESH_MS;
		t->stale = 0;
		return;
	}
	if (stale_retry(t, m)) {
		p->refresh_at = now;
		return;
	}
	error_text(t, "CreatePermission refused", m);
	p->refresh_at = now + 30000;
}

static void on_channel(struct ov_turn *t, const struct ov_turn_txn *x, const struct ov_stun_msg *m,
		       uint64_t now)
{
	struct ov_turn_channel *c = &t->chan[x->slot];

	c->pending = false;
	if (m->cls == OV_STUN_SUCCESS) {
		c->bound = true;
		c->refresh_at = now + OV_TURN_CHANNEL_REFRESH_MS;
		t->stale = 0;
		return;
	}
	if (stale_retry(t, m)) {
		c->refresh_at = now;
		return;
	}
	/* Refused: the remote stays on Send indications; later, another number. */
	error_text(t, "ChannelBind refused", m);
	c->bound = false;
	c->number = next_channel_number(t);
	c->refresh_at = now + 30000;
}

static enum ov_turn_rx on_response_dispatch(struct ov_turn *t, const struct ov_turn_txn *x,
					    const struct ov_stun_msg *m, uint64_t now)
{
	switch (x->kind) {
	case OV_TURN_TXN_ALLOCATE:
		on_allocate(t, x, m, now);
		break;
	case OV_TURN_TXN_REFRESH:
		on_refresh(t, m, now);
		break;
	case OV_TURN_TXN_PERMISSION:
		on_permission(t, x, m, now);
		break;
	case OV_TURN_TXN_CHANNEL:
		on_channel(t, x, m, now);
		break;
	}
	return OV_TURN_RX_RESPONSE;
}

static enum ov_turn_rx on_response(struct ov_turn *t, const uint8_t *buf, size_t len,
				   const struct ov_stun_msg *m, uint64_t now)
{
	struct ov_turn_txn x;
	size_t i;

	for (i = 0; i < OV_TURN_MAX_TXN; i++)
		if (t->txn[i].kind != OV_TURN_TXN_NONE &&
		    !memcmp(t->txn[i].txid, m->txid, OV_STUN_TXID_LEN))
			break;
	if (i == OV_TURN_MAX_TXN || txn_method(t->txn[i].kind) != m->method)
		return OV_TURN_RX_DROP_UNKNOWN_TXID;
	/*
	 * RFC 8489 §9.2.5: a response carrying MESSAGE-INTEGRITY must verify with our key; a
	 * success response to an authenticated request must carry it. Error responses without it
	 * are taken (401 and 438 cannot have it).
	 */
	if (m->has_integrity) {
		if (!t->have_key ||
		    !ov_stun_check_integrity(buf, len, m, kind_key(t, t->txn[i].kind),
					     OV_STUN_LONG_TERM_KEY_LEN))
			return OV_TURN_RX_DROP_INTEGRITY;
	} else if (m->cls == OV_STUN_SUCCESS && t->txn[i].authenticated) {
		return OV_TURN_RX_DROP_INTEGRITY;
	}
	x = t->txn[i];
	t->txn[i].kind = OV_TURN_TXN_NONE;
	if (m->cls == OV_STUN_SUCCESS && m->n_unknown) {
		/* RFC 8489 §6.3.4: unknown comprehension-required attributes fail the request. */
		struct ov_stun_msg e = *m;

		e.cls = OV_STUN_ERROR;
		e.error_code = OV_STUN_ERR_UNKNOWN_ATTRIBUTE;
		e.error_reason = "success with unknown comprehension-required attributes";
		e.error_reason_len = strlen(e.error_reason);
		e.has_nonce = false;
		return on_response_dispatch(t, &x, &e, now);
	}
	return on_response_dispatch(t, &x, m, now);
}

enum ov_turn_rx ov_turn_input(struct ov_turn *t, uint64_t now, const uint8_t *buf, size_t len,
			      struct ov_turn_data *ret)
{
	struct ov_stun_msg m;

	if (ov_stun_is_channel_data(buf, len)) {
		uint16_t ch;
		size_t i;

		if (t->state != OV_TURN_ALLOCATED)
			return OV_TURN_RX_DROP_NOT_ALLOCATED;
		if (ov_stun_channel_data_parse(buf, len, &ch, &ret->data, &ret->len) < 0)
			return OV_TURN_RX_DROP_MALFORMED;
		/* A bind in flight counts: the server may have bound it and lost our answer. */
		for (i = 0; i < OV_TURN_MAX_CHANNELS; i++)
			if (t->chan[i].used && t->chan[i].number == ch &&
			    (t->chan[i].bound || t->chan[i].pending))
				break;
		if (i == OV_TURN_MAX_CHANNELS)
			return OV_TURN_RX_DROP_UNKNOWN_CHANNEL;
		ret->peer = t->chan[i].peer;
		ret->channel = true;
		return OV_TURN_RX_DATA;
	}
	if (!ov_stun_is_stun(buf, len) || ov_stun_parse(buf, len, &m, NULL, 0) < 0)
		return OV_TURN_RX_DROP_MALFORMED;
	switch (m.cls) {
	case OV_STUN_INDICATION:
		if (m.method != OV_STUN_DATA)
			return OV_TURN_RX_DROP_UNEXPECTED;
		if (t->state != OV_TURN_ALLOCATED)
			return OV_TURN_RX_DROP_NOT_ALLOCATED;
		if (!m.has_xor_peer || !m.has_data || m.n_unknown)
			return OV_TURN_RX_DROP_MALFORMED;
		ret->peer = clean_endpoint(&m.xor_peer, true);
		ret->data = m.data;
		ret->len = m.data_len;
		ret->channel = false;
		/* First sight of a remote: ask for its channel (RFC 8656 §12). */
		channel_want(t, &ret->peer, now);
		return OV_TURN_RX_DATA;
	case OV_STUN_SUCCESS:
	case OV_STUN_ERROR:
		if (m.cls == OV_STUN_ERROR && !m.has_error)
			return OV_TURN_RX_DROP_MALFORMED;
		return on_response(t, buf, len, &m, now);
	default:
		return OV_TURN_RX_DROP_UNEXPECTED;
	}
}

const char *ov_turn_rx_name(enum ov_turn_rx r)
{
	static const char *const names[OV_TURN_RX__COUNT] = {
		[OV_TURN_RX_DATA] = "data",
		[OV_TURN_RX_RESPONSE] = "response",
		[OV_TURN_RX_DROP_MALFORMED] = "malformed",
		[OV_TURN_RX_DROP_UNKNOWN_TXID] = "unknown transaction",
		[OV_TURN_RX_DROP_INTEGRITY] = "integrity",
		[OV_TURN_RX_DROP_UNEXPECTED] = "unexpected message",
		[OV_TURN_RX_DROP_UNKNOWN_CHANNEL] = "unknown channel",
		[OV_TURN_RX_DROP_NOT_ALLOCATED] = "not allocated",
	};

	return (unsigned)r < OV_TURN_RX__COUNT ? names[r] : "?";
}

/* --- data out --- */

int ov_turn_send(struct ov_turn *t, uint64_t now, const struct wg_endpoint *peer,
		 const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
	struct ov_stun_builder b;
	uint8_t txid[OV_STUN_TXID_LEN];
	int i;

	if (t->state != OV_TURN_ALLOCATED)
		return -ENOTCONN;
	if (peer->family != WG_AF_INET && peer->family != WG_AF_INET6)
		return -EINVAL;
	i = channel_want(t, peer, now);
	if (i >= 0 && t->chan[i].bound)
		return ov_stun_channel_data_build(out, cap, t->chan[i].number, data, len);
	/* No channel yet: a Send indication (RFC 8656 §11.1), no integrity (indications have none).
	 */
	t->env.random(t->env.ctx, txid, sizeof(txid));
	ov_stun_begin(&b, out, cap, OV_STUN_SEND, OV_STUN_INDICATION, txid);
	ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_PEER_ADDRESS, peer);
	ov_stun_add_bytes(&b, OV_STUN_ATTR_DATA, data, len);
	return ov_stun_end(&b);
}

/* --- status --- */

void ov_turn_status(const struct ov_turn *t, struct ov_turn_status *ret)
{
	size_t i;

	memset(ret, 0, sizeof(*ret));
	ret->state = t->state;
	snprintf(ret->error, sizeof(ret->error), "%s", t->error);
	ret->relayed = t->relayed;
	ret->mapped = t->mapped;
	ret->since_ms = t->since;
	ret->retry_at_ms = t->state == OV_TURN_FAILED ? t->retry_at : 0;
	ret->lifetime_s = t->state == OV_TURN_ALLOCATED ? t->lifetime : 0;
	for (i = 0; i < OV_TURN_MAX_PERMISSIONS; i++)
		ret->permissions += t->perm[i].used && t->perm[i].installed;
	for (i = 0; i < OV_TURN_MAX_CHANNELS; i++)
		ret->channels_bound += t->chan[i].used && t->chan[i].bound;
}

const char *ov_turn_state_name(enum ov_turn_state s)
{
	switch (s) {
	case OV_TURN_IDLE:
		return "idle";
	case OV_TURN_ALLOCATING:
		return "allocating";
	case OV_TURN_ALLOCATED:
		return "allocated";
	case OV_TURN_FAILED:
		return "failed";
	case OV_TURN_CLOSED:
		return "closed";
	}
	return "?";
}

/* --- TURN REST credentials --- */

int ov_turn_rest_credentials(const char *secret, const char *name, uint64_t expiry_unix,
			     char user_out[static OV_TURN_CRED_MAX],
			     char pass_out[static OV_TURN_CRED_MAX])
{
	uint8_t mac[CRYPTO_SHA1_LEN];
	char user[OV_TURN_CRED_MAX];
	int n;

	if (!name[0] || strchr(name, ':'))
		return -EINVAL;
	n = snprintf(user, sizeof(user), "%" PRIu64 ":%s", expiry_unix, name);
	if (n < 0 || (size_t)n >= sizeof(user))
		return -EINVAL;
	crypto_hmac_sha1(mac, secret, strlen(secret), user, (size_t)n);
	if (crypto_base64(pass_out, OV_TURN_CRED_MAX, mac, sizeof(mac)) < 0) {
		crypto_wipe(mac, sizeof(mac));
		return -EINVAL;
	}
	crypto_wipe(mac, sizeof(mac));
	memcpy(user_out, user, (size_t)n + 1);
	return 0;
}

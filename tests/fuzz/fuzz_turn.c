/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the TURN client state machine (overlay/turn.c) fed arbitrary server
 * replies.
 *
 * The input is a script of steps, each an opcode byte and its operands:
 *   0: a raw datagram from the "server" (2-byte length, bytes)
 *   1: the same, with bytes 8..19 replaced by the id of a request in flight (so that replies
 *      get past the transaction check and reach the state machine)
 *   2: a well-formed answer to a request in flight, built here: 401 with realm and nonce,
 *      success (signed with the right key), 438 with a new nonce, or an error code
 *   3: time passes (1 byte x 250 ms, or 2 bytes x 1 s)
 *   4: the device sends a payload to one of four peers (ov_turn_send)
 *   5: a new permission set (up to 4 of the peers)
 *   6: new credentials; 7: forget a peer; 8: close
 * After every step the client's output is drained: every datagram must be a STUN request or
 * indication that parses, or a Refresh closing; and once drained, the next timer must lie in
 * the future (no busy loop). Data handed out must point inside the input datagram.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "overlay/turn.h"

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

static uint32_t seed;

static void rnd(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	while (len--) {
		seed = seed * 1664525u + 1013904223u;
		*p++ = (uint8_t)(seed >> 24);
	}
}

struct cursor {
	const uint8_t *p;
	size_t n;
};

static bool take(struct cursor *c, size_t n, const uint8_t **ret)
{
	if (c->n < n)
		return false;
	*ret = c->p;
	c->p += n;
	c->n -= n;
	return true;
}

static struct wg_endpoint peer_n(unsigned i)
{
	struct wg_endpoint e = {.family = (i & 2) ? WG_AF_INET6 : WG_AF_INET, .port = 51820};

	e.addr[0] = (i & 2) ? 0xfd : 198;
	e.addr[1] = 18;
	e.addr[3] = (uint8_t)(i & 1) + 1;
	return e;
}

static void drain(struct ov_turn *t, uint64_t now)
{
	static uint8_t out[OV_STUN_MAX_MSG];
	struct ov_stun_msg m;
	int len, guard = 0;

	while ((len = ov_turn_output(t, now, out, sizeof(out))) > 0) {
		CHECK(ov_stun_parse(out, (size_t)len, &m, NULL, 0) == 0);
		CHECK(m.cls == OV_STUN_REQUEST);
		CHECK(++guard < 4 * OV_TURN_MAX_TXN + 8);
	}
	CHECK(len == 0);
	CHECK(ov_turn_next_timer(t) > now);
}

static const struct ov_turn_txn *in_flight(const struct ov_turn *t, uint8_t pick)
{
	size_t i, k;

	for (k = 0; k < OV_TURN_MAX_TXN; k++) {
		i = (pick + k) % OV_TURN_MAX_TXN;
		if (t->txn[i].kind != OV_TURN_TXN_NONE)
			return &t->txn[i];
	}
	return NULL;
}

static uint16_t method_of(uint8_t kind)
{
	static const uint16_t m[] = {0, OV_STUN_ALLOCATE, OV_STUN_REFRESH,
				     OV_STUN_CREATE_PERMISSION, OV_STUN_CHANNEL_BIND};

	return kind < 5 ? m[kind] : 0;
}

/* A well-formed reply to x, chosen by sel. */
static size_t answer(const struct ov_turn *t, const struct ov_turn_txn *x, uint8_t sel,
		     uint8_t *buf, size_t cap)
{
	static const char *const nonces[] = {"n-a", "n-b", "n-c"};
	struct wg_endpoint relayed = peer_n(0), mapped = peer_n(1);
	struct ov_stun_builder b;
	uint8_t key[16];
	int len;

	relayed.port = 49152;
	switch (sel % 4) {
	case 0:
		ov_stun_begin(&b, buf, cap, method_of(x->kind), OV_STUN_ERROR, x->txid);
		ov_stun_add_error(&b, 401, "Unauthorized");
		ov_stun_add_string(&b, OV_STUN_ATTR_REALM, "weft");
		ov_stun_add_string(&b, OV_STUN_ATTR_NONCE, nonces[sel / 4 % 3]);
		break;
	case 1:
		ov_stun_begin(&b, buf, cap, method_of(x->kind), OV_STUN_SUCCESS, x->txid);
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
		ov_stun_add_xor_addr(&b, OV_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
		ov_stun_add_u32(&b, OV_STUN_ATTR_LIFETIME, (uint32_t)(sel / 4) * 30);
		if (ov_stun_long_term_key(key, t->user, "weft", 4, t->pass) == 0)
			ov_stun_add_integrity(&b, key, sizeof(key));
		break;
	case 2:
		ov_stun_begin(&b, buf, cap, method_of(x->kind), OV_STUN_ERROR, x->txid);
		ov_stun_add_error(&b, 438, "Stale Nonce");
		ov_stun_add_string(&b, OV_STUN_ATTR_NONCE, nonces[sel / 4 % 3]);
		break;
	default:
		ov_stun_begin(&b, buf, cap, method_of(x->kind), OV_STUN_ERROR, x->txid);
		ov_stun_add_error(&b, 300 + sel, "Whatever");
		break;
	}
	len = ov_stun_end(&b);
	CHECK(len > 0);
	return (size_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ov_turn t;
	static uint8_t dgram[2048], out[2048];
	struct ov_turn_env env = {.random = rnd};
	struct cursor c = {data, size};
	uint64_t now = 1000;
	const uint8_t *op;
	int steps = 0;

	seed = 1;
	ov_turn_init(&t, &env, "1700000000:node-a", "pass");
	ov_turn_start(&t, now);
	drain(&t, now);
	while (take(&c, 1, &op) && steps++ < 200) {
		const uint8_t *a;
		struct ov_turn_data d;
		const struct ov_turn_txn *x;
		size_t n;

		switch (*op % 9) {
		case 0:
		case 1:
			if (!take(&c, 2, &a))
				break;
			n = (size_t)(a[0] << 8 | a[1]) % sizeof(dgram);
			if (n > c.n)
				n = c.n;
			take(&c, n, &a);
			memcpy(dgram, a, n);
			if (*op % 9 == 1 && n >= 20 && (x = in_flight(&t, *op)))
				memcpy(dgram + 8, x->txid, 12);
			if (ov_turn_input(&t, now, dgram, n, &d) == OV_TURN_RX_DATA)
				CHECK(d.data >= dgram && d.data + d.len <= dgram + n);
			break;
		case 2:
			if (!take(&c, 1, &a) || !(x = in_flight(&t, *op)))
				break;
			n = answer(&t, x, *a, dgram, sizeof(dgram));
			CHECK(ov_turn_input(&t, now, dgram, n, &d) != OV_TURN_RX_DATA);
			break;
		case 3:
			if (*op & 0x80) {
				if (take(&c, 2, &a))
					now += (uint64_t)(a[0] << 8 | a[1]) * 1000;
			} else if (take(&c, 1, &a)) {
				now += (uint64_t)*a * 250;
			}
			break;
		case 4: {
			struct wg_endpoint p;
			int len;

			if (!take(&c, 1, &a))
				break;
			p = peer_n(*a);
			len = ov_turn_send(&t, now, &p, (const uint8_t *)"payload", 7, out,
					   sizeof(out));
			CHECK(len == -ENOTCONN || len == 11 ||
			      (len > 0 && ov_stun_is_stun(out, (size_t)len)));
			break;
		}
		case 5: {
			struct wg_endpoint set[4];
			unsigned i, k = 0;

			if (!take(&c, 1, &a))
				break;
			for (i = 0; i < 4; i++)
				if (*a & (1u << i))
					set[k++] = peer_n(i);
			CHECK(ov_turn_permit(&t, set, k, now) == 0);
			break;
		}
		case 6:
			CHECK(ov_turn_set_credentials(&t, (*op & 0x80) ? "1700000000:node-a" : "x",
						      "pass", now) == 0);
			break;
		case 7:
			if (take(&c, 1, &a)) {
				struct wg_endpoint p = peer_n(*a);

				ov_turn_forget(&t, &p);
			}
			break;
		case 8:
			ov_turn_close(&t, now);
			break;
		}
		drain(&t, now);
	}
	ov_turn_done(&t);
	return 0;
}

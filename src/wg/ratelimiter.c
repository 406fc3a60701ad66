/* SPDX-License-Identifier: MIT */
/*
 * Handshake rate limiter: one token bucket per source (kern ratelimiter.c), stored in a
 * fixed open-addressing table (linear probing, backward-shift deletion, no tombstones)
 * keyed by SipHash-2-4 of the source so that a remote sender cannot aim at one probe chain.
 *
 * Must not: allocate after init, read a clock (now comes in), or grow past max_entries
 * (a full table refuses new sources: fail closed under a flood). An idle entry is reclaimed
 * between 1 s and 2 s after its last packet (sweeps run at most once per second, from
 * wg_ratelimiter_allow()), or earlier when a new source probes over its expired slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "wg/ratelimiter.h"

struct wg_rl_entry {
	uint64_t ip;	    /* IPv4 address, or the top 64 bits of an IPv6 one, read big-endian */
	uint64_t last_time; /* ns of the last packet from this source */
	uint32_t tokens;    /* ns of budget, <= WG_RL_TOKEN_MAX */
	uint8_t family;	    /* 0: free slot */
};

_Static_assert(WG_RL_TOKEN_MAX <= UINT32_MAX, "tokens must fit the entry");
_Static_assert(WG_RL_GC_AFTER_NS > WG_RL_TOKEN_MAX,
	       "an expired entry must be indistinguishable from a full bucket");

/* SipHash-2-4 (Aumasson, Bernstein: "SipHash: a fast short-input PRF", 2012) of 16 bytes. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                     \
	do {                         \
		v0 += v1;            \
		v1 = ROTL64(v1, 13); \
		v1 ^= v0;            \
		v0 = ROTL64(v0, 32); \
		v2 += v3;            \
		v3 = ROTL64(v3, 16); \
		v3 ^= v2;            \
		v0 += v3;            \
		v3 = ROTL64(v3, 21); \
		v3 ^= v0;            \
		v2 += v1;            \
		v1 = ROTL64(v1, 17); \
		v1 ^= v2;            \
		v2 = ROTL64(v2, 32); \
	} while (0)

/* The message is a then b, each as 8 little-endian bytes. */
static uint64_t siphash24_2u64(uint64_t a, uint64_t b, const uint64_t key[2])
{
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ key[0];
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ key[1];
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ key[0];
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ key[1];
	const uint64_t m[3] = {a, b, UINT64_C(16) << 56}; /* last block: length, no tail */

	for (int i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND;
		SIPROUND;
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static size_t home_slot(const struct wg_ratelimiter *rl, uint8_t family, uint64_t ip)
{
	return (size_t)siphash24_2u64(ip, family, rl->seed) & (rl->capacity - 1);
}

static bool expired(const struct wg_rl_entry *e, uint64_t now)
{
	return now > e->last_time && now - e->last_time > WG_RL_GC_AFTER_NS;
}

int wg_ratelimiter_init(struct wg_ratelimiter *rl, size_t max_entries, const uint8_t seed[16])
{
	size_t cap = 1;

	memset(rl, 0, sizeof(*rl));
	if (!seed)
		return -EINVAL;
	if (!max_entries)
		max_entries = WG_RL_DEFAULT_ENTRIES;
	/* At most half full, so probe chains stay short and an empty slot always exists. */
	if (max_entries > SIZE_MAX / 2 / sizeof(struct wg_rl_entry) / 2)
		return -ENOMEM;
	while (cap < 2 * max_entries)
		cap <<= 1;
	rl->table = calloc(cap, sizeof(*rl->table));
	if (!rl->table)
		return -ENOMEM;
	rl->capacity = cap;
	rl->max_entries = max_entries;
	rl->seed[0] = get_le64(seed);
	rl->seed[1] = get_le64(seed + 8);
	return 0;
}

void wg_ratelimiter_done(struct wg_ratelimiter *rl)
{
	if (!rl)
		return;
	free(rl->table);
	memset(rl, 0, sizeof(*rl));
}

/*
 * Empty slot i and pull later members of its probe run back so that every entry stays
 * reachable from its home slot without crossing an empty one. Entries only move backwards,
 * and only within the run that ends at the next empty slot.
 */
static void delete_at(struct wg_ratelimiter *rl, size_t i)
{
	const size_t mask = rl->capacity - 1;
	size_t hole = i, j = i;

	for (;;) {
		struct wg_rl_entry *e;
		size_t home;

		j = (j + 1) & mask;
		e = &rl->table[j];
		if (!e->family)
			break;
		home = home_slot(rl, e->family, e->ip);
		/* e may fill the hole iff its home is not in the cyclic range (hole, j]. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			rl->table[hole] = *e;
			hole = j;
		}
	}
	memset(&rl->table[hole], 0, sizeof(rl->table[hole]));
	rl->count--;
}

/*
 * Remove every expired entry. The scan starts right after a slot that is empty before the
 * sweep: no probe run crosses it, so deletions only move entries into the slot being
 * examined (re-checked) or into slots not yet reached. O(capacity).
 */
static void gc(struct wg_ratelimiter *rl, uint64_t now)
{
	const size_t mask = rl->capacity - 1;
	size_t start = 0, k;

	while (rl->table[start].family) /* terminates: count <= capacity / 2 */
		start++;
	for (k = 1; k <= rl->capacity; k++) {
		size_t i = (start + k) & mask;

		while (rl->table[i].family && expired(&rl->table[i], now))
			delete_at(rl, i);
	}
	rl->last_gc = now;
}

/*
 * Token bucket as kern ratelimiter.c: the budget grows by one ns per ns up to TOKEN_MAX,
 * a packet costs PACKET_COST; a new source starts full and pays for its first packet.
 */
bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, enum wg_family family, const uint8_t *addr,
			  uint64_t now)
{
	size_t mask, i, reuse = SIZE_MAX, probes;
	struct wg_rl_entry *e;
	uint64_t ip, elapsed, tokens;

	if (!rl || !rl->table || !addr)
		return false;
	switch (family) {
	case WG_AF_INET:
		ip = get_be32(addr);
		break;
	case WG_AF_INET6:
		ip = (uint64_t)get_be32(addr) << 32 | get_be32(addr + 4);
		break;
	default:
		return false;
	}

	if (now > rl->last_gc && now - rl->last_gc >= WG_RL_GC_AFTER_NS)
		gc(rl, now);

	mask = rl->capacity - 1;
	i = home_slot(rl, (uint8_t)family, ip);
	for (probes = 0; probes < rl->capacity; probes++, i = (i + 1) & mask) {
		e = &rl->table[i];
		if (!e->family)
			break;
		if (e->family == family && e->ip == ip) {
			elapsed = now > e->last_time ? now - e->last_time : 0;
			if (elapsed >= WG_RL_TOKEN_MAX - e->tokens)
				tokens = WG_RL_TOKEN_MAX;
			else
				tokens = e->tokens + elapsed;
			if (now > e->last_time)
				e->last_time = now;
			if (tokens < WG_RL_PACKET_COST) {
				e->tokens = (uint32_t)tokens;
				return false;
			}
			e->tokens = (uint32_t)(tokens - WG_RL_PACKET_COST);
			return true;
		}
		if (reuse == SIZE_MAX && expired(e, now))
			reuse = i;
	}
	if (probes == rl->capacity)
		return false; /* cannot happen while count <= capacity / 2; fail closed */

	/*
	 * New source. An expired slot earlier in this run can take it: the run stays unbroken
	 * and the table does not grow. Otherwise the empty slot that ended the probe.
	 */
	if (reuse != SIZE_MAX) {
		i = reuse;
	} else {
		if (rl->count >= rl->max_entries)
			return false;
		rl->count++;
	}
	e = &rl->table[i];
	e->family = (uint8_t)family;
	e->ip = ip;
	e->last_time = now;
	e->tokens = (uint32_t)(WG_RL_TOKEN_MAX - WG_RL_PACKET_COST);
	return true;
}

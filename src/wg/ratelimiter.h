/* SPDX-License-Identifier: MIT */
/*
 * Per-source handshake rate limiter: a token bucket per source address, 20 packets/s with a
 * burst of 5, as the Linux driver and OpenBSD do (kern ratelimiter.c). IPv4 sources are keyed
 * by address, IPv6 sources by their top 64 bits. Entries idle for 1 s are collected.
 *
 * The table is allocated once at init with a fixed capacity; a full table refuses new
 * sources (fail closed under a flood). Time comes in as monotonic nanoseconds.
 * Not thread-safe: the caller serialises.
 */
#ifndef WEFT_WG_RATELIMITER_H
#define WEFT_WG_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allowedips.h" /* enum wg_family */

enum {
	WG_RL_PACKETS_PER_SECOND = 20,
	WG_RL_PACKETS_BURSTABLE = 5,
	WG_RL_DEFAULT_ENTRIES = 8192 * 8,
};

#define WG_RL_PACKET_COST (1000000000ULL / WG_RL_PACKETS_PER_SECOND)
#define WG_RL_TOKEN_MAX (WG_RL_PACKET_COST * WG_RL_PACKETS_BURSTABLE)
#define WG_RL_GC_AFTER_NS 1000000000ULL

struct wg_rl_entry;

struct wg_ratelimiter {
	struct wg_rl_entry *table; /* open addressing, capacity a power of two */
	size_t capacity;
	size_t max_entries;
	size_t count;
	uint64_t last_gc;
	uint64_t seed[2]; /* hash key, from the caller's randomness */
};

/* max_entries 0 picks WG_RL_DEFAULT_ENTRIES. seed keys the hash. 0 or -ENOMEM. */
int wg_ratelimiter_init(struct wg_ratelimiter *rl, size_t max_entries, const uint8_t seed[16]);
void wg_ratelimiter_done(struct wg_ratelimiter *rl);
/* true when a handshake from this source may be processed now (and a token is spent). */
bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, enum wg_family family, const uint8_t *addr,
			  uint64_t now);

#endif

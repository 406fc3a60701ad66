/* SPDX-License-Identifier: MIT */
/*
 * Anti-replay window for transport counters: the RFC 6479 ring of 64-bit words the Linux
 * driver uses (no shifting). 8192 bits of ring, 8192 - 64 = 8128 counters of window.
 * Call wg_replay_check() only after the packet authenticated; it records the counter.
 * Not thread-safe: the caller serialises per keypair.
 */
#ifndef WEFT_WG_REPLAY_H
#define WEFT_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

enum {
	WG_REPLAY_BITS_PER_WORD = 64,
	WG_REPLAY_BITS_TOTAL = 8192,
	WG_REPLAY_WINDOW = WG_REPLAY_BITS_TOTAL - WG_REPLAY_BITS_PER_WORD, /* 8128 */
};

struct wg_replay {
	uint64_t greatest; /* highest counter seen, plus one (0 = nothing seen yet) */
	uint64_t ring[WG_REPLAY_BITS_TOTAL / WG_REPLAY_BITS_PER_WORD];
};

void wg_replay_init(struct wg_replay *r);
/*
 * true: counter is fresh (never seen, inside the window or ahead of it) and is now recorded.
 * false: replayed, too old, or >= reject_after (REJECT_AFTER_MESSAGES).
 */
bool wg_replay_check(struct wg_replay *r, uint64_t counter, uint64_t reject_after);

#endif

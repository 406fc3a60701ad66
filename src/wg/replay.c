/* SPDX-License-Identifier: MIT */
/*
 * Anti-replay window (RFC 6479 ring, as kern receive.c counter_validate). Whitepaper 5.4.6:
 * a receiver must accept each counter at most once and may drop counters that are too old.
 *
 * Must not: be called before the packet authenticated (an unauthenticated counter would move
 * the window), read a clock, allocate, or shift the bitmap (words are zeroed as the window
 * advances, never moved).
 */
#include <string.h>

#include "wg/replay.h"

enum {
	RING_WORDS = WG_REPLAY_BITS_TOTAL / WG_REPLAY_BITS_PER_WORD, /* 128, a power of two */
	WORD_SHIFT = 6,						     /* log2(64) */
};

_Static_assert((RING_WORDS & (RING_WORDS - 1)) == 0, "ring size must be a power of two");
_Static_assert(1 << WORD_SHIFT == WG_REPLAY_BITS_PER_WORD, "word shift");

void wg_replay_init(struct wg_replay *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * Internally every counter is shifted by one (t = counter + 1), so the all-zero state means
 * "nothing seen" and counter 0 is still accepted once. r->greatest is the largest t accepted.
 *
 * The acceptance rule this gives, exactly: counter c is accepted iff c < reject_after, it was
 * not accepted before, and greatest_accepted - c <= WG_REPLAY_WINDOW (always true when nothing
 * was accepted yet or c is ahead). The ring holds 8192 bits but one word is the partly filled
 * word of the head, which is why the window is 8128 and not 8192: every counter that passes
 * the window test maps to a ring word that has been zeroed since that word last served an
 * older counter, so its bit is exact.
 */
bool wg_replay_check(struct wg_replay *r, uint64_t counter, uint64_t reject_after)
{
	uint64_t t, index, index_current, top, i, bit;

	/*
	 * The kernel also refuses once the head passed REJECT_AFTER_MESSAGES (it can only get
	 * there if the caller lowered reject_after between calls). counter < reject_after makes
	 * counter + 1 overflow-free.
	 */
	if (counter >= reject_after || r->greatest > reject_after)
		return false;
	t = counter + 1;

	/* Too old: WINDOW + t < greatest, written so that it cannot overflow. */
	if (r->greatest > WG_REPLAY_WINDOW && t < r->greatest - WG_REPLAY_WINDOW)
		return false;

	index = t >> WORD_SHIFT;
	if (t > r->greatest) {
		/* Moving ahead: zero the words the head enters, at most the whole ring once. */
		index_current = r->greatest >> WORD_SHIFT;
		top = index - index_current;
		if (top > RING_WORDS)
			top = RING_WORDS;
		for (i = 1; i <= top; i++)
			r->ring[(index_current + i) & (RING_WORDS - 1)] = 0;
		r->greatest = t;
	}

	index &= RING_WORDS - 1;
	bit = UINT64_C(1) << (t & (WG_REPLAY_BITS_PER_WORD - 1));
	if (r->ring[index] & bit)
		return false;
	r->ring[index] |= bit;
	return true;
}

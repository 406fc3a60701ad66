/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the engine's whole receive path (all message types, any length).
 *
 * Every input starts from the same state, rebuilt per input so runs are reproducible: two
 * engines (engine_harness) with an established session, A the initiator, and a second
 * initiation from A in flight (so responses and cookie replies have a handshake to hit).
 * Input format:
 *   byte 0: flags (bit 0: receiver under load; bit 1: deliver to A instead of B)
 *   then up to 8 messages, each a little-endian 16-bit length and that many bytes.
 * Each message must yield a named outcome; drops must not change the receiver's peer state,
 * but for one of the peer's handshake failure counters (a metric: wg_peer_counters).
 * Each also goes through wg_device_handshake_overflow first (the full-queue path), which
 * must never change a peer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_harness.h"
#include "fuzz.h"
#include "fuzz_wg_receive.h"
#include "lib/util.h"

uint8_t fuzz_wg_pending_init[WG_MSG_INITIATION_LEN];

void fuzz_wg_setup(struct harness *h)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, 0, false, 8, 0x33);

	h_init(h, FUZZ_WG_SEED, NULL);
	h_send(h, 0, pkt, len);
	h_deliver(h, 100);
	if (!wg_peer_can_send(h->node[0].peer, h->now) || !wg_peer_can_send(h->node[1].peer, h->now))
		abort();
	/* A rekey in flight: A has sent (into the void) a second initiation. */
	h->now += 6 * NSEC_PER_SEC;
	if (wg_peer_initiation(h->node[0].peer, false, h->now, fuzz_wg_pending_init) != WG_TX_OK)
		abort();
}

/*
 * A drop may count one handshake failure against the peer it names (wg_peer_counters); nothing
 * else of the peer may change. false: something else changed.
 */
static bool unchanged_but_one_failure(const struct wg_peer *before, const struct wg_peer *after)
{
	struct wg_peer masked = *after;
	uint64_t added = 0;

	for (int f = 0; f < WG_HSF__COUNT; f++) {
		if (after->counters.failures[f] < before->counters.failures[f])
			return false;
		added += after->counters.failures[f] - before->counters.failures[f];
	}
	memcpy(masked.counters.failures, before->counters.failures,
	       sizeof(masked.counters.failures));
	return added <= 1 && !memcmp(before, &masked, sizeof(masked));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness *h;
	size_t off = 1;
	int to;

	if (size < 1)
		return 0;
	if (!h && !(h = malloc(sizeof(*h))))
		abort();
	fuzz_wg_setup(h);
	to = data[0] & 2 ? 0 : 1;
	for (int k = 0; k < 8 && off + 2 <= size; k++) {
		struct h_msg m = {.to = to};
		struct wg_peer before = *h->node[to].peer;
		uint8_t cookie[WG_MSG_COOKIE_LEN];
		enum wg_rx_result r;

		m.len = MIN((size_t)(data[off] | data[off + 1] << 8), size - off - 2);
		if (m.len > H_MAX_MSG)
			m.len = H_MAX_MSG;
		memcpy(m.bytes, data + off + 2, m.len);
		off += 2 + m.len;
		if (data[0] & 1)
			wg_device_update_load(&h->node[to].dev, 1, 1, h->now);
		/*
		 * The full-queue check first, as a device with a full handshake queue would:
		 * it never touches a peer, admits only exact handshake messages, and a cookie
		 * reply goes to the message's sender index.
		 */
		r = wg_device_handshake_overflow(&h->node[to].dev, m.bytes, m.len,
						 &h->node[!to].ep, h->now, cookie);
		if ((unsigned)r >= WG_RX__COUNT || memcmp(&before, h->node[to].peer, sizeof(before)))
			abort();
		if (r == WG_RX_DATA && !((m.bytes[0] == WG_MSG_INITIATION &&
					  m.len == WG_MSG_INITIATION_LEN) ||
					 (m.bytes[0] == WG_MSG_RESPONSE && m.len == WG_MSG_RESPONSE_LEN)))
			abort();
		if (r == WG_RX_SENT_COOKIE &&
		    (get_le32(cookie) != WG_MSG_COOKIE || memcmp(cookie + 4, m.bytes + 4, 4)))
			abort();
		r = h_receive(h, &m);
		if ((unsigned)r >= WG_RX__COUNT)
			abort();
		if (getenv("WEFT_FUZZ_VERBOSE"))
			fprintf(stderr, "msg %d (%zu bytes) -> %s\n", k, m.len, wg_rx_result_name(r));
		/* A dropped message leaves the receiver's peer untouched (but a failure count). */
		if (wg_rx_dropped(r) && !unchanged_but_one_failure(&before, h->node[to].peer))
			abort();
		h_deliver(h, 100);
	}
	h_done(h);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of fuzz_wg_receive: real messages that fit its fixed starting
 * state (data both ways, a fresh initiation, a cookie reply, a response), plus a few
 * malformed ones. Run: gen_seeds_wg_receive DIR. The output is checked in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_wg_receive.h"
#include "lib/util.h"

static void put_seed(const char *dir, const char *name, uint8_t flags, const uint8_t *a,
		     size_t alen, const uint8_t *b, size_t blen)
{
	char path[4096];
	uint8_t len[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputc(flags, f);
	len[0] = (uint8_t)alen;
	len[1] = (uint8_t)(alen >> 8);
	fwrite(len, 1, 2, f);
	fwrite(a, 1, alen, f);
	if (b) {
		len[0] = (uint8_t)blen;
		len[1] = (uint8_t)(blen >> 8);
		fwrite(len, 1, 2, f);
		fwrite(b, 1, blen, f);
	}
	fclose(f);
}

static size_t seal(struct harness *h, int from, uint8_t *out, size_t payload, bool v6)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, from, v6, payload, 0x61), out_len = 0;
	unsigned act = 0;

	memcpy(out + WG_DATA_HEADER_LEN, pkt, len);
	if (wg_peer_encrypt(h->node[from].peer, out, len, H_MTU, h->now, &out_len, &act))
		abort();
	return out_len;
}

/* Hand the pending initiation to B (under load or not) and return B's reply. */
static size_t answer_pending(struct harness *h, bool load, uint8_t *reply)
{
	uint8_t msg[WG_MSG_INITIATION_LEN];
	struct wg_rx rx;
	enum wg_rx_result r;

	h_done(h);
	fuzz_wg_setup(h);
	if (load)
		wg_device_update_load(&h->node[1].dev, 1, 1, h->now);
	memcpy(msg, fuzz_wg_pending_init, sizeof(msg));
	r = wg_device_receive(&h->node[1].dev, msg, sizeof(msg), &h->node[0].ep, h->now, reply,
			      &rx);
	if (r != (load ? WG_RX_SENT_COOKIE : WG_RX_HANDSHAKE_INIT))
		abort();
	return rx.reply_len;
}

int main(int argc, char **argv)
{
	struct harness *h = malloc(sizeof(*h));
	uint8_t a[H_MAX_MSG], b[H_MAX_MSG];
	size_t alen, blen;

	if (argc != 2 || !h) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	fuzz_wg_setup(h);
	alen = seal(h, 0, a, 100, false);
	blen = seal(h, 0, b, 0, false);
	put_seed(argv[1], "data-a-to-b", 0, a, alen, b, blen - 1);
	alen = seal(h, 1, a, 1200, true);
	put_seed(argv[1], "data-b-to-a", 2, a, alen, a, alen);
	put_seed(argv[1], "initiation-a-to-b", 0, fuzz_wg_pending_init, WG_MSG_INITIATION_LEN,
		 fuzz_wg_pending_init, WG_MSG_INITIATION_LEN);
	put_seed(argv[1], "initiation-under-load", 1, fuzz_wg_pending_init, WG_MSG_INITIATION_LEN,
		 NULL, 0);
	alen = answer_pending(h, true, a);
	put_seed(argv[1], "cookie-b-to-a", 2, a, alen, a, alen);
	alen = answer_pending(h, false, a);
	put_seed(argv[1], "response-b-to-a", 2, a, alen, a, alen);

	memset(a, 0, sizeof(a));
	a[0] = 1;
	put_seed(argv[1], "short-initiation", 0, a, 147, a, 0);
	a[0] = 4;
	put_seed(argv[1], "zero-data", 0, a, 32, a, 3);
	a[0] = 5;
	put_seed(argv[1], "bad-type", 0, a, 64, NULL, 0);
	h_done(h);
	free(h);
	return 0;
}

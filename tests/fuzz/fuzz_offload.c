/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the TUN offload code (dataplane/offload.c), which parses packets the
 * kernel hands over (super-packets to split) and packets peers sent (decrypted, then
 * coalesced before the TUN write).
 *
 * Input byte 0 picks the mode. Even: split — bytes 1..10 are a virtio-net header, the rest
 * is the packet; every segment of a successful split must be a well-formed IP packet whose
 * length fields and checksums verify. Odd: coalesce (bit 1: UDP allowed) — the rest is a
 * list of packets, each a 2-byte big-endian length then its bytes; the runs must cover every
 * packet exactly once, in order within a run, and each multi-packet run, assembled as the
 * device writes it and split again as the kernel would, must give back each member's length
 * and payload. Any mismatch aborts; sanitizers catch the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/offload.h"
#include "fuzz.h"
#include "lib/util.h"

enum {
	STRIDE = 2048,
	HEADROOM = 16,
	MAX_PKTS = 160,
};

static uint8_t out[DP_MAX_SEGMENTS * STRIDE];
static uint8_t bufs[MAX_PKTS][HEADROOM + STRIDE];
static uint8_t orig[MAX_PKTS][STRIDE];
static uint8_t whole[DP_VNET_HDR_LEN + DP_GRO_MAX_LEN + STRIDE];

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* A segment of a GSO split: IP lengths right, IPv4 header and L4 checksums verify. */
static void check_segment(const uint8_t *s, size_t len)
{
	bool v6 = s[0] >> 4 == 6;
	size_t iphl = v6 ? 40 : (size_t)(s[0] & 0xf) * 4;
	uint8_t proto = v6 ? s[6] : s[9];
	uint32_t sum;

	check(len >= iphl + 8);
	if (v6) {
		check((size_t)get_be16(s + 4) + 40 == len);
		sum = dp_csum_partial(s + 8, 32, 0);
	} else {
		check(get_be16(s + 2) == len);
		check(dp_csum_fold(dp_csum_partial(s, iphl, 0)) == 0xffff);
		sum = dp_csum_partial(s + 12, 8, 0);
	}
	sum += proto + (uint32_t)(len - iphl);
	if (proto == 17)
		check(get_be16(s + iphl + 4) == len - iphl);
	check(dp_csum_fold(sum + dp_csum_partial(s + iphl, len - iphl, 0)) == 0xffff);
}

static void fuzz_split(const uint8_t *data, size_t size)
{
	struct dp_vnet_hdr h;
	size_t seg_len[DP_MAX_SEGMENTS];
	int n;

	if (size < DP_VNET_HDR_LEN)
		return;
	dp_vnet_hdr_parse(data, &h);
	n = dp_offload_split(data + DP_VNET_HDR_LEN, size - DP_VNET_HDR_LEN, &h, out, STRIDE,
			     DP_MAX_SEGMENTS, seg_len);
	check(n == -EINVAL || n == -E2BIG || (n >= 1 && n <= DP_MAX_SEGMENTS));
	for (int i = 0; i < n; i++) {
		check(seg_len[i] <= STRIDE);
		if ((h.gso_type & (uint8_t)~DP_VNET_GSO_ECN) == DP_VNET_GSO_NONE)
			continue;
		check_segment(out + (size_t)i * STRIDE, seg_len[i]);
		/* Segments of one super-packet are one flow: one TUN queue. */
		check(dp_flow_hash(out + (size_t)i * STRIDE, seg_len[i]) ==
		      dp_flow_hash(out, seg_len[0]));
	}
}

static void fuzz_coalesce(const uint8_t *data, size_t size, bool udp)
{
	static struct dp_gro_pkt pkts[MAX_PKTS];
	static struct dp_gro_run runs[MAX_PKTS];
	static uint8_t seen[MAX_PKTS];
	size_t lens[MAX_PKTS];
	unsigned n = 0, nr;

	while (size >= 2 && n < MAX_PKTS) {
		size_t len = get_be16(data);

		data += 2, size -= 2;
		if (len > size)
			len = size;
		if (len > STRIDE)
			len = STRIDE;
		memcpy(bufs[n] + HEADROOM, data, len);
		memcpy(orig[n], data, len);
		pkts[n].data = bufs[n] + HEADROOM;
		pkts[n].len = lens[n] = len;
		data += len, size -= len;
		n++;
	}
	if (!n)
		return;
	nr = dp_gro_coalesce(pkts, n, runs, udp);
	check(nr >= 1 && nr <= n);
	memset(seen, 0, n);
	for (unsigned r = 0; r < nr; r++) {
		const struct dp_gro_run *run = &runs[r];
		const struct dp_gro_pkt *f = &pkts[run->first];
		struct dp_vnet_hdr h;
		size_t seg_len[DP_MAX_SEGMENTS], at, hl = f->hdr_len;
		int segs;

		check(run->count >= 1 && run->count <= DP_GRO_MAX_RUN);
		check(run->members[0] == run->first);
		for (unsigned k = 0; k < run->count; k++) {
			check(run->members[k] < n && !seen[run->members[k]]);
			check(k == 0 || run->members[k] > run->members[k - 1]);
			seen[run->members[k]] = 1;
		}
		dp_vnet_hdr_parse(f->data - DP_VNET_HDR_LEN, &h);
		if (run->count == 1) {
			check(h.gso_type == DP_VNET_GSO_NONE && h.flags == 0);
			check(!memcmp(f->data, orig[run->first], lens[run->first]));
			continue;
		}
		check(udp || h.gso_type != DP_VNET_GSO_UDP_L4);
		for (unsigned k = 1; k < run->count; k++)
			check(dp_flow_hash(orig[run->members[k]], lens[run->members[k]]) ==
			      dp_flow_hash(orig[run->first], lens[run->first]));
		/* What writev hands the kernel, and the kernel's split of it. */
		memcpy(whole, f->data, f->len);
		at = f->len;
		for (unsigned k = 1; k < run->count; k++) {
			const struct dp_gro_pkt *m = &pkts[run->members[k]];

			check(m->hdr_len == hl);
			memcpy(whole + at, m->data + hl, m->len - hl);
			at += m->len - hl;
		}
		check(at == run->total && at <= DP_GRO_MAX_LEN);
		segs = dp_offload_split(whole, at, &h, out, STRIDE, DP_MAX_SEGMENTS, seg_len);
		check(segs == (int)run->count);
		for (unsigned k = 0; k < run->count; k++) {
			unsigned i = run->members[k];
			const uint8_t *s = out + (size_t)k * STRIDE;

			check(seg_len[k] == lens[i]);
			check(!memcmp(s + hl, orig[i] + hl, lens[i] - hl));
			check_segment(s, seg_len[k]);
		}
	}
	for (unsigned i = 0; i < n; i++)
		check(seen[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		fuzz_coalesce(data + 1, size - 1, data[0] & 2);
	else
		fuzz_split(data + 1, size - 1);
	return 0;
}

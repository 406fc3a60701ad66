/* SPDX-License-Identifier: MIT */
/*
 * Software segmentation of TUN super-packets: TCP over IPv4 and IPv6 and UDP (USO) split at
 * gso_size with every header and checksum verified independently, checksum completion for
 * NEEDS_CSUM packets, and malformed headers refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/offload.h"
#include "lib/util.h"

enum { STRIDE = 2048 };

/* Independent check: one's-complement sum of pseudo-header and L4 data must be 0xffff. */
static void assert_l4_csum_ok(const uint8_t *ip, size_t len, bool v6, uint8_t proto)
{
	size_t iphl = v6 ? 40 : (size_t)(ip[0] & 0xf) * 4, l4len = len - iphl;
	uint32_t s = 0;

	if (v6)
		s = dp_csum_partial(ip + 8, 32, 0);
	else
		s = dp_csum_partial(ip + 12, 8, 0);
	s += proto + (uint32_t)l4len;
	s += dp_csum_partial(ip + iphl, l4len, 0);
	assert_int_equal(dp_csum_fold(s), 0xffff);
	if (!v6)
		assert_int_equal(dp_csum_fold(dp_csum_partial(ip, iphl, 0)), 0xffff);
}

static size_t build(uint8_t *p, bool v6, uint8_t proto, size_t payload, uint8_t tcp_flags)
{
	size_t iphl = v6 ? 40 : 20, l4hl = proto == 6 ? 32 : 8, len = iphl + l4hl + payload;

	memset(p, 0, iphl + l4hl);
	if (v6) {
		p[0] = 0x60;
		put_be16(p + 4, (uint16_t)(len - 40));
		p[6] = proto;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	} else {
		p[0] = 0x45;
		put_be16(p + 2, (uint16_t)len);
		put_be16(p + 4, 0x1234);
		p[8] = 64;
		p[9] = proto;
		p[12] = 10, p[13] = 200, p[15] = 1;
		p[16] = 10, p[17] = 200, p[19] = 2;
		put_be16(p + 10, (uint16_t)~dp_csum_fold(dp_csum_partial(p, 20, 0)));
	}
	uint8_t *l4 = p + iphl;

	put_be16(l4, 40000);
	put_be16(l4 + 2, 5201);
	if (proto == 6) {
		put_be32(l4 + 4, 0xfffff000u); /* wraps during the split */
		l4[12] = 8 << 4;            /* 32-byte header: timestamps */
		l4[13] = tcp_flags;
		l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;
	} else {
		put_be16(l4 + 4, (uint16_t)(8 + payload));
	}
	for (size_t i = 0; i < payload; i++)
		p[iphl + l4hl + i] = (uint8_t)(i * 7 + 3);
	return len;
}

static void check_split(bool v6, uint8_t proto, size_t payload, uint16_t mss)
{
	uint8_t *pkt = malloc(70000), *out = malloc((size_t)DP_MAX_SEGMENTS * STRIDE);
	size_t seg_len[DP_MAX_SEGMENTS], len, iphl = v6 ? 40 : 20, l4hl = proto == 6 ? 32 : 8;
	struct dp_vnet_hdr h = {
		.flags = DP_VNET_F_NEEDS_CSUM,
		.gso_type = proto == 17 ? DP_VNET_GSO_UDP_L4
			    : v6	    ? DP_VNET_GSO_TCPV6
					    : DP_VNET_GSO_TCPV4,
		.hdr_len = (uint16_t)(iphl + l4hl),
		.gso_size = mss,
		.csum_start = (uint16_t)iphl,
		.csum_offset = proto == 6 ? 16 : 6,
	};
	int n;
	size_t got = 0;

	len = build(pkt, v6, proto, payload, 0x80 | 0x10 | 0x08 | 0x01); /* CWR ACK PSH FIN */
	n = dp_offload_split(pkt, len, &h, out, STRIDE, DP_MAX_SEGMENTS, seg_len);
	assert_int_equal(n, (int)((payload + mss - 1) / mss));
	for (int i = 0; i < n; i++) {
		const uint8_t *s = out + (size_t)i * STRIDE, *l4 = s + iphl;
		size_t chunk = seg_len[i] - iphl - l4hl;

		assert_int_equal(chunk, i + 1 < n ? mss : payload - (size_t)(n - 1) * mss);
		assert_l4_csum_ok(s, seg_len[i], v6, proto);
		if (v6)
			assert_int_equal(get_be16(s + 4) + 40, seg_len[i]);
		else {
			assert_int_equal(get_be16(s + 2), seg_len[i]);
			assert_int_equal(get_be16(s + 4), (uint16_t)(0x1234 + i));
		}
		if (proto == 6) {
			assert_int_equal(get_be32(l4 + 4), (uint32_t)(0xfffff000u + got));
			assert_int_equal(l4[13] & 0x10, 0x10);
			assert_int_equal(!!(l4[13] & 0x80), i == 0);
			assert_int_equal(!!(l4[13] & 0x09), i == n - 1);
			assert_memory_equal(l4 + 20, pkt + iphl + 20, 12); /* options kept */
		} else {
			assert_int_equal(get_be16(l4 + 4), 8 + chunk);
		}
		assert_memory_equal(s + iphl + l4hl, pkt + iphl + l4hl + got, chunk);
		got += chunk;
	}
	assert_int_equal(got, payload);
	free(pkt);
	free(out);
}

/* The checksum against RFC 1071 word by word, every length and alignment, and a known answer. */
static void test_csum(void **state)
{
	/* RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t buf[600];
	uint32_t seed = 1;

	(void)state;
	assert_int_equal(dp_csum_fold(dp_csum_partial(ex, sizeof(ex), 0)), 0xddf2);
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	memset(buf + 100, 0xff, 80); /* long carry chains */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len++) {
			uint64_t ref = 0x1234;

			for (size_t k = 0; k + 1 < len; k += 2)
				ref += (uint32_t)buf[off + k] << 8 | buf[off + k + 1];
			if (len & 1)
				ref += (uint32_t)buf[off + len - 1] << 8;
			while (ref >> 16)
				ref = (ref & 0xffff) + (ref >> 16);
			assert_int_equal(dp_csum_fold(dp_csum_partial(buf + off, len, 0x1234)), ref);
		}
}

static void test_tcp4(void **state)
{
	(void)state;
	check_split(false, 6, 60000, 1368);
	check_split(false, 6, 1000, 1368); /* one segment */
	check_split(false, 6, 2736, 1368); /* exact multiple */
}

static void test_tcp6(void **state)
{
	(void)state;
	check_split(true, 6, 65000, 1348);
	check_split(true, 6, 1, 1348);
}

static void test_udp(void **state)
{
	(void)state;
	check_split(false, 17, 30000, 1372);
	check_split(true, 17, 30000, 1352);
}

static void test_needs_csum(void **state)
{
	uint8_t pkt[2000], out[STRIDE];
	size_t seg_len[1], len = build(pkt, false, 6, 500, 0x10);
	struct dp_vnet_hdr h = {DP_VNET_F_NEEDS_CSUM, DP_VNET_GSO_NONE, 0, 0, 20, 16};
	uint32_t pseudo = dp_csum_partial(pkt + 12, 8, 0) + 6 + (uint32_t)(len - 20);

	(void)state;
	/* As the kernel hands it over: the field holds the folded pseudo-header sum. */
	put_be16(pkt + 20 + 16, dp_csum_fold(pseudo));
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 1, seg_len), 1);
	assert_int_equal(seg_len[0], len);
	assert_l4_csum_ok(out, len, false, 6);
	/* Without the flag the packet is copied untouched. */
	h.flags = 0;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 1, seg_len), 1);
	assert_memory_equal(out, pkt, len);
}

static void test_malformed(void **state)
{
	uint8_t pkt[4000], out[4 * STRIDE];
	size_t seg_len[4], len = build(pkt, false, 6, 3000, 0x10);
	struct dp_vnet_hdr h = {0, DP_VNET_GSO_TCPV4, 52, 1000, 20, 16};

	(void)state;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 4, seg_len), 3);
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 2, seg_len), -E2BIG);
	assert_int_equal(dp_offload_split(pkt, len - 1, &h, out, STRIDE, 4, seg_len), -EINVAL);
	h.gso_size = 0;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 4, seg_len), -EINVAL);
	h.gso_size = 1000;
	h.gso_type = DP_VNET_GSO_TCPV6;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 4, seg_len), -EINVAL);
	h.gso_type = DP_VNET_GSO_UDP;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 4, seg_len), -EINVAL);
	h.gso_type = DP_VNET_GSO_NONE;
	h.flags = DP_VNET_F_NEEDS_CSUM;
	h.csum_start = 4000;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, 4 * STRIDE, 1, seg_len), -EINVAL);
	pkt[32] = 0x10; /* TCP data offset 4 bytes: invalid */
	h.gso_type = DP_VNET_GSO_TCPV4;
	assert_int_equal(dp_offload_split(pkt, len, &h, out, STRIDE, 4, seg_len), -EINVAL);
	for (size_t l = 0; l < 60; l++) /* every truncation of the headers */
		assert_int_equal(dp_offload_split(pkt, l, &h, out, STRIDE, 4, seg_len), -EINVAL);
}

/* Split a super-packet, coalesce the segments back, split again: same segments. */
static void gro_round_trip(bool v6, uint8_t proto, size_t payload, uint16_t mss)
{
	uint8_t *pkt = malloc(70000), *segs = malloc((size_t)DP_MAX_SEGMENTS * STRIDE);
	uint8_t *asm_ = malloc(70000 + DP_VNET_HDR_LEN), *again = malloc((size_t)DP_MAX_SEGMENTS * STRIDE);
	size_t seg_len[DP_MAX_SEGMENTS], len2[DP_MAX_SEGMENTS], iphl = v6 ? 40 : 20, off;
	struct dp_gro_pkt gp[DP_MAX_SEGMENTS];
	struct dp_gro_run *runs = calloc(DP_MAX_SEGMENTS, sizeof(*runs));
	uint8_t gso = proto == 17 ? DP_VNET_GSO_UDP_L4 : v6 ? DP_VNET_GSO_TCPV6 : DP_VNET_GSO_TCPV4;
	struct dp_vnet_hdr h = {0, gso, 0, mss, 0, 0}, h2;
	size_t len = build(pkt, v6, proto, payload, 0x10 | 0x08);
	int n = dp_offload_split(pkt, len, &h, segs + 16, STRIDE, DP_MAX_SEGMENTS, seg_len);
	unsigned nr;

	assert_true(n > 1);
	/* Keep a copy of the segments: coalescing rewrites the first in place. */
	uint8_t *orig = malloc((size_t)n * STRIDE);

	memcpy(orig, segs, (size_t)n * STRIDE);
	for (int i = 0; i < n; i++) {
		gp[i].data = segs + (size_t)i * STRIDE + 16;
		gp[i].len = seg_len[i];
	}
	nr = dp_gro_coalesce(gp, (unsigned)n, runs, true);
	assert_int_equal(nr, 1);
	assert_int_equal(runs[0].count, (unsigned)n);
	assert_int_equal(runs[0].total, len);
	/* What writev would hand the kernel: header, first packet, then member payloads. */
	memcpy(asm_, gp[0].data - DP_VNET_HDR_LEN, DP_VNET_HDR_LEN + gp[0].len);
	off = DP_VNET_HDR_LEN + gp[0].len;
	for (unsigned k = 1; k < runs[0].count; k++) {
		struct dp_gro_pkt *m = &gp[runs[0].members[k]];

		memcpy(asm_ + off, m->data + m->hdr_len, m->len - m->hdr_len);
		off += m->len - m->hdr_len;
	}
	assert_int_equal(off, DP_VNET_HDR_LEN + len);
	dp_vnet_hdr_parse(asm_, &h2);
	assert_int_equal(h2.flags, DP_VNET_F_NEEDS_CSUM);
	assert_int_equal(h2.gso_type, gso);
	assert_int_equal(h2.hdr_len, iphl + (proto == 17 ? 8 : 32));
	assert_int_equal(h2.csum_offset, proto == 17 ? 6 : 16);
	assert_int_equal(h2.gso_size, mss);
	assert_int_equal(h2.csum_start, iphl);
	/* The kernel's view: resegmenting gives the original segments byte for byte. */
	assert_int_equal(dp_offload_split(asm_ + DP_VNET_HDR_LEN, len, &h2, again, STRIDE,
					  DP_MAX_SEGMENTS, len2),
			 n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(len2[i], seg_len[i]);
		assert_memory_equal(again + (size_t)i * STRIDE, orig + (size_t)i * STRIDE + 16,
				    seg_len[i]);
	}
	free(pkt);
	free(segs);
	free(asm_);
	free(again);
	free(orig);
	free(runs);
}

static void test_gro_round_trip(void **state)
{
	(void)state;
	gro_round_trip(false, 6, 30000, 1368);
	gro_round_trip(true, 6, 60000, 1348);
	gro_round_trip(false, 6, 2737, 1368); /* short last segment */
	/* UDP: 64-byte datagrams (iperf3 -l 64), full-size ones, a short last one */
	gro_round_trip(false, 17, 64 * 64, 64);
	gro_round_trip(true, 17, 64 * 64, 64);
	gro_round_trip(false, 17, 40000, 1392);
	gro_round_trip(true, 17, 3000, 1372);
}

/* UDP datagrams that must not merge, and UDP left alone when the kernel has no USO. */
static void test_gro_udp_refusals(void **state)
{
	enum { N = 9 };
	uint8_t *buf = calloc(N, STRIDE);
	struct dp_gro_pkt gp[N];
	struct dp_gro_run runs[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		uint8_t *p = buf + (size_t)i * STRIDE + 16;

		gp[i].data = p;
		gp[i].len = build(p, false, 17, 100, 0);
		put_be16(p + 4, (uint16_t)(0x1234 + i)); /* consecutive ids */
	}
	assert_int_equal(dp_gro_coalesce(gp, N, runs, false), N);
	for (int i = 0; i < N; i++)
		assert_int_equal(runs[i].count, 1);
	/* 0,1 merge; 2 skips an id (new run) and 3 follows it; 4 is another port; 5 is shorter
	 * and ends run 2-3; 6 would follow but the run is closed; 7 has another TTL; 8 says a
	 * UDP length that is not the packet's. */
	put_be16(gp[2].data + 4, 0x2000);
	put_be16(gp[3].data + 4, 0x2001);
	put_be16(gp[4].data + 22, 5202);
	gp[5].len = build(gp[5].data, false, 17, 50, 0);
	put_be16(gp[5].data + 4, 0x2002);
	put_be16(gp[6].data + 4, 0x2003);
	gp[7].data[8] = 63;
	put_be16(gp[8].data + 24, 99);
	assert_int_equal(dp_gro_coalesce(gp, N, runs, true), 6);
	assert_int_equal(runs[0].count, 2);
	assert_int_equal(runs[1].count, 3); /* 2, 3, 5 */
	assert_int_equal(runs[1].members[2], 5);
	assert_int_equal(runs[1].total, 20 + 8 + 100 + 100 + 50);
	assert_int_equal(runs[2].count, 1); /* 4 */
	assert_int_equal(runs[3].count, 1); /* 6 */
	assert_int_equal(runs[4].count, 1); /* 7 */
	assert_int_equal(runs[5].count, 1); /* 8 */
	assert_int_equal(get_be16(gp[2].data + 24), 8 + 250); /* UDP length of the run */
	free(buf);
}

/* Segments that must not merge: gaps, other flows interleaved, odd sizes, flags. */
static void test_gro_refusals(void **state)
{
	enum { N = 8 };
	uint8_t *buf = calloc(N, STRIDE);
	struct dp_gro_pkt gp[N];
	struct dp_gro_run runs[N];
	size_t len;

	(void)state;
	for (int i = 0; i < N; i++) {
		uint8_t *p = buf + (size_t)i * STRIDE + 16;

		len = build(p, false, 6, 1000, 0x10);
		put_be32(p + 24, 1000u * (uint32_t)i); /* contiguous sequence numbers */
		gp[i].data = p;
		gp[i].len = len;
	}
	/* 0,1 merge; 2 has a gap; 3 follows 2; 4 is another flow; 5 follows 3 (still open);
	 * 6 has another window; 7 is a SYN. */
	put_be32(gp[2].data + 24, 999999);
	put_be32(gp[3].data + 24, 999999 + 1000);
	put_be16(gp[4].data + 20, 1111);
	put_be32(gp[5].data + 24, 999999 + 2000);
	put_be16(gp[6].data + 34, 7);
	gp[7].data[33] = 0x02;
	assert_int_equal(dp_gro_coalesce(gp, N, runs, true), 5);
	assert_int_equal(runs[0].count, 2);
	assert_int_equal(runs[1].count, 3); /* 2, 3, 5 */
	assert_int_equal(runs[1].members[2], 5);
	assert_int_equal(runs[2].count, 1); /* 4 */
	assert_int_equal(runs[3].count, 1); /* 6 */
	assert_int_equal(runs[4].count, 1); /* 7 */
	/* Single packets get an all-zero virtio-net header. */
	for (int k = 0; k < DP_VNET_HDR_LEN; k++)
		assert_int_equal(gp[4].data[k - DP_VNET_HDR_LEN], 0);
	free(buf);
}

static void test_flow_hash(void **state)
{
	uint8_t a[128], b[128];
	unsigned per_queue[4] = {0};
	size_t n;

	(void)state;
	for (int v6 = 0; v6 < 2; v6++) {
		for (int proto = 6; proto <= 17; proto += 11) {
			size_t pl = (size_t)(v6 ? 40 : 20);

			n = build(a, v6, (uint8_t)proto, 16, 0x10);
			memcpy(b, a, n);
			/* The payload, ids, lengths and TTL are not the flow. */
			b[n - 1] ^= 1;
			b[v6 ? 7 : 8] ^= 1;
			assert_int_not_equal(dp_flow_hash(a, n), 0);
			assert_int_equal(dp_flow_hash(a, n), dp_flow_hash(b, n));
			/* Ports, addresses and the protocol are. */
			b[pl + 1] ^= 1;
			assert_int_not_equal(dp_flow_hash(a, n), dp_flow_hash(b, n));
			memcpy(b, a, n);
			b[pl - 1] ^= 1; /* last byte of the destination address */
			assert_int_not_equal(dp_flow_hash(a, n), dp_flow_hash(b, n));
		}
	}
	/* IPv4 fragments (offset or more-fragments set) hash without ports, as later fragments
	 * have none: all fragments of a datagram take one queue. */
	n = build(a, false, 17, 16, 0);
	memcpy(b, a, n);
	a[6] = 0x20;		  /* MF */
	b[6] = 0x00, b[7] = 0x10; /* offset 16 */
	b[20] ^= 0xff;
	assert_int_equal(dp_flow_hash(a, n), dp_flow_hash(b, n));
	/* Not IP, or too short to hold its addresses: 0; never reads past len. */
	a[0] = 0x20;
	assert_int_equal(dp_flow_hash(a, n), 0);
	n = build(a, true, 6, 0, 0x10);
	assert_int_equal(dp_flow_hash(a, 39), 0);
	assert_int_not_equal(dp_flow_hash(a, 40), 0);
	/* Flows spread over queues: 4,096 source ports over 4 queues, none far off 1,024. */
	for (unsigned port = 0; port < 4096; port++) {
		n = build(a, false, 6, 0, 0x10);
		put_be16(a + 20, (uint16_t)(20000 + port));
		per_queue[dp_flow_hash(a, n) % 4]++;
	}
	for (unsigned q = 0; q < 4; q++)
		assert_in_range(per_queue[q], 880, 1168);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_tcp6),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_needs_csum),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_gro_round_trip),
		cmocka_unit_test(test_gro_refusals),
		cmocka_unit_test(test_gro_udp_refusals),
		cmocka_unit_test(test_flow_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

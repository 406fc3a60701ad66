/* SPDX-License-Identifier: MIT */
/*
 * Segmentation offload in software (see offload.h): what the kernel expects the "device"
 * to do with the super-packets it hands an IFF_VNET_HDR TUN once TSO/USO are enabled.
 * TCP: headers copied per segment, sequence numbers advanced, FIN/PSH only on the last and
 * CWR only on the first segment, IPv4 ids incremented, every checksum recomputed (RFC 1071,
 * pseudo-headers of RFC 793 and RFC 8200 §8.1). UDP (USO): same with UDP lengths.
 */
#include "dataplane/offload.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lib/util.h"

void dp_vnet_hdr_parse(const uint8_t in[DP_VNET_HDR_LEN], struct dp_vnet_hdr *h)
{
	h->flags = in[0];
	h->gso_type = in[1];
	h->hdr_len = (uint16_t)(in[2] | in[3] << 8);
	h->gso_size = (uint16_t)(in[4] | in[5] << 8);
	h->csum_start = (uint16_t)(in[6] | in[7] << 8);
	h->csum_offset = (uint16_t)(in[8] | in[9] << 8);
}

void dp_vnet_hdr_write(uint8_t out[DP_VNET_HDR_LEN], const struct dp_vnet_hdr *h)
{
	out[0] = h->flags;
	out[1] = h->gso_type;
	out[2] = (uint8_t)h->hdr_len;
	out[3] = (uint8_t)(h->hdr_len >> 8);
	out[4] = (uint8_t)h->gso_size;
	out[5] = (uint8_t)(h->gso_size >> 8);
	out[6] = (uint8_t)h->csum_start;
	out[7] = (uint8_t)(h->csum_start >> 8);
	out[8] = (uint8_t)h->csum_offset;
	out[9] = (uint8_t)(h->csum_offset >> 8);
}

uint32_t dp_csum_partial(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t a0 = 0, a1 = 0, acc;
	uint32_t w[4];
	uint16_t native;

	/*
	 * One's-complement sums do not depend on byte order (RFC 1071 §2(B)): add native 32-bit
	 * words into 64-bit accumulators (no carry is lost below 2^32 words), fold, and swap the
	 * 16-bit result to network order once at the end.
	 */
	for (; len >= 16; p += 16, len -= 16) {
		memcpy(w, p, 16);
		a0 += (uint64_t)w[0] + w[1];
		a1 += (uint64_t)w[2] + w[3];
	}
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(w, p, 4);
		a0 += w[0];
	}
	acc = a0 + a1;
	if (len >= 2) {
		uint16_t h;

		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* A trailing byte is the high byte of a big-endian word. */
		uint8_t pad[2] = {p[0], 0};
		uint16_t h;

		memcpy(&h, pad, 2);
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	native = (uint16_t)acc;
	acc = get_be16((const uint8_t *)&native);
	/* Folded to 16 bits (plus carry), so callers may add a few sums without overflow. */
	acc += sum;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

struct l3 {
	bool v6;
	size_t iphl;
	uint8_t proto;
};

static int parse_l3(const uint8_t *p, size_t len, struct l3 *l)
{
	if (len < 20)
		return -EINVAL;
	switch (p[0] >> 4) {
	case 4:
		l->v6 = false;
		l->iphl = (size_t)(p[0] & 0x0f) * 4;
		if (l->iphl < 20 || l->iphl > len || get_be16(p + 2) != len)
			return -EINVAL;
		l->proto = p[9];
		return 0;
	case 6:
		/* Extension headers are not offloaded by the kernel's TUN path for TCP/UDP GSO. */
		if (len < 40 || (size_t)get_be16(p + 4) + 40 != len)
			return -EINVAL;
		l->v6 = true;
		l->iphl = 40;
		l->proto = p[6];
		return 0;
	default:
		return -EINVAL;
	}
}

static uint32_t pseudo_sum(const uint8_t *ip, const struct l3 *l, size_t l4len)
{
	uint32_t s;

	if (l->v6)
		s = dp_csum_partial(ip + 8, 32, 0);
	else
		s = dp_csum_partial(ip + 12, 8, 0);
	return s + l->proto + (uint32_t)l4len;
}

static void ipv4_fix(uint8_t *ip, size_t iphl, size_t total, uint16_t id)
{
	put_be16(ip + 2, (uint16_t)total);
	put_be16(ip + 4, id);
	ip[10] = ip[11] = 0;
	put_be16(ip + 10, (uint16_t)~dp_csum_fold(dp_csum_partial(ip, iphl, 0)));
}

static int complete_csum(uint8_t *p, size_t len, const struct dp_vnet_hdr *h)
{
	size_t at = (size_t)h->csum_start + h->csum_offset;
	uint16_t c;

	if (h->csum_start >= len || at + 2 > len)
		return -EINVAL;
	/* The field holds the pseudo-header sum already; sum from csum_start covers it. */
	c = (uint16_t)~dp_csum_fold(dp_csum_partial(p + h->csum_start, len - h->csum_start, 0));
	put_be16(p + at, c);
	return 0;
}

int dp_offload_split(const uint8_t *pkt, size_t len, const struct dp_vnet_hdr *h, uint8_t *out,
		     size_t stride, size_t max_segs, size_t *seg_len)
{
	uint8_t gso = h->gso_type & (uint8_t)~DP_VNET_GSO_ECN;
	struct l3 l;
	size_t l4hl, hdr, payload, nseg;
	uint32_t seq = 0;
	uint16_t id = 0;
	int r;

	if (gso == DP_VNET_GSO_NONE) {
		if (len > stride || max_segs < 1)
			return -E2BIG;
		memcpy(out, pkt, len);
		if ((h->flags & DP_VNET_F_NEEDS_CSUM) && (r = complete_csum(out, len, h)))
			return r;
		seg_len[0] = len;
		return 1;
	}
	if (parse_l3(pkt, len, &l))
		return -EINVAL;
	if (gso == DP_VNET_GSO_TCPV4 || gso == DP_VNET_GSO_TCPV6) {
		if (l.proto != 6 || (gso == DP_VNET_GSO_TCPV6) != l.v6 || len < l.iphl + 20)
			return -EINVAL;
		l4hl = (size_t)(pkt[l.iphl + 12] >> 4) * 4;
		if (l4hl < 20)
			return -EINVAL;
		seq = get_be32(pkt + l.iphl + 4);
	} else if (gso == DP_VNET_GSO_UDP_L4) {
		if (l.proto != 17)
			return -EINVAL;
		l4hl = 8;
	} else {
		return -EINVAL;
	}
	hdr = l.iphl + l4hl;
	if (hdr > len || !h->gso_size)
		return -EINVAL;
	payload = len - hdr;
	nseg = (payload + h->gso_size - 1) / h->gso_size;
	if (!nseg)
		nseg = 1;
	if (nseg > max_segs || hdr + h->gso_size > stride)
		return -E2BIG;
	if (!l.v6)
		id = get_be16(pkt + 4);

	for (size_t i = 0; i < nseg; i++) {
		size_t off = i * h->gso_size;
		size_t chunk = MIN((size_t)h->gso_size, payload - off);
		size_t total = hdr + chunk;
		uint8_t *s = out + i * stride, *l4 = s + l.iphl;
		uint32_t sum;

		memcpy(s, pkt, hdr);
		memcpy(s + hdr, pkt + hdr + off, chunk);
		if (l.v6)
			put_be16(s + 4, (uint16_t)(total - 40));
		else
			ipv4_fix(s, l.iphl, total, (uint16_t)(id + i));
		if (gso == DP_VNET_GSO_UDP_L4) {
			put_be16(l4 + 4, (uint16_t)(8 + chunk));
			l4[6] = l4[7] = 0;
			sum = pseudo_sum(s, &l, 8 + chunk) + dp_csum_partial(l4, 8 + chunk, 0);
			uint16_t c = (uint16_t)~dp_csum_fold(sum);

			put_be16(l4 + 6, c ? c : 0xffff); /* 0 means "no checksum" in UDP */
		} else {
			put_be32(l4 + 4, seq + (uint32_t)off);
			if (i + 1 < nseg)
				l4[13] &= (uint8_t)~0x09; /* FIN, PSH: last segment only */
			if (i > 0)
				l4[13] &= (uint8_t)~0x80; /* CWR: first segment only */
			l4[16] = l4[17] = 0;
			sum = pseudo_sum(s, &l, l4hl + chunk) + dp_csum_partial(l4, l4hl + chunk, 0);
			put_be16(l4 + 16, (uint16_t)~dp_csum_fold(sum));
		}
		seg_len[i] = total;
	}
	return (int)nseg;
}

/* ---------------------------------------------------------------------------------------- */
/* Software GRO on the TUN write path: TCP (TSO super-packets) and UDP (USO)                  */

enum {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	GRO_OPEN_RUNS = 8, /* flows tracked at once; older open runs are closed */
};

/*
 * Header length (IP + TCP or UDP) of a packet that may coalesce, or 0. IPv4 without options
 * or fragments; IPv6 without extension headers (the kernel's TUN GSO does not take them);
 * a payload (nothing to coalesce otherwise); TCP only with ACK or ACK|PSH; UDP only when the
 * caller allows it and the UDP length is the packet's.
 */
static size_t gro_candidate(const uint8_t *p, size_t len, bool udp_ok, bool *v6, uint8_t *proto)
{
	size_t iphl, thl;
	uint8_t flags;

	if (len < 28)
		return 0;
	if (p[0] >> 4 == 4) {
		if (p[0] != 0x45 || (get_be16(p + 6) & 0x3fff) || get_be16(p + 2) != len)
			return 0;
		iphl = 20;
		*proto = p[9];
		*v6 = false;
	} else if (p[0] >> 4 == 6) {
		if (len < 48 || (size_t)get_be16(p + 4) + 40 != len)
			return 0;
		iphl = 40;
		*proto = p[6];
		*v6 = true;
	} else {
		return 0;
	}
	if (*proto == 17) {
		if (!udp_ok || get_be16(p + iphl + 4) != len - iphl || len == iphl + 8)
			return 0;
		return iphl + 8;
	}
	if (*proto != 6 || len < iphl + 20)
		return 0;
	thl = (size_t)(p[iphl + 12] >> 4) * 4;
	flags = p[iphl + 13];
	if (thl < 20 || iphl + thl >= len)
		return 0;
	if ((flags & ~(TCP_ACK | TCP_PSH)) || !(flags & TCP_ACK))
		return 0;
	return iphl + thl;
}

/*
 * Same flow and same everything but length, id and checksums; for TCP also but sequence
 * number and PSH (the caller checks those).
 */
static bool same_flow(const uint8_t *a, const uint8_t *b, size_t hl, bool v6, uint8_t proto)
{
	size_t iphl = v6 ? 40 : 20;
	const uint8_t *ta = a + iphl, *tb = b + iphl;

	if (v6) {
		/* version, class, flow label; next header, hop limit; addresses */
		if (memcmp(a, b, 4) || memcmp(a + 6, b + 6, 34))
			return false;
	} else {
		/* tos; flags/fragment; ttl, proto; addresses */
		if (a[1] != b[1] || memcmp(a + 6, b + 6, 4) || memcmp(a + 12, b + 12, 8))
			return false;
	}
	if (proto == 17)
		return !memcmp(ta, tb, 4); /* ports */
	/* ports; ack; data offset; window; urgent; options */
	return !memcmp(ta, tb, 4) && !memcmp(ta + 8, tb + 8, 5) && !memcmp(ta + 14, tb + 14, 2) &&
	       !memcmp(ta + 18, tb + 18, hl - iphl - 18);
}

/* Whether q (same flow as run r, header length hl) continues r. */
static bool gro_extends(const struct dp_gro_pkt *pkts, const struct dp_gro_run *r,
			const struct dp_gro_pkt *q, size_t hl, bool v6, uint8_t proto)
{
	const struct dp_gro_pkt *f = &pkts[r->first], *last = &pkts[r->members[r->count - 1]];
	size_t iphl = v6 ? 40 : 20, seg = f->len - f->hdr_len, plen = q->len - hl;

	/* Equal sizes but for a shorter last one, and within the kernel's limits. */
	if (plen > seg || last->len - hl != seg || r->count >= DP_GRO_MAX_RUN ||
	    r->total + plen > DP_GRO_MAX_LEN)
		return false;
	if (proto == 17)
		/* The kernel's UDP segmentation numbers IPv4 ids from the first one up. */
		return v6 || get_be16(q->data + 4) == (uint16_t)(get_be16(f->data + 4) + r->count);
	return get_be32(q->data + iphl + 4) ==
		       get_be32(f->data + iphl + 4) + (uint32_t)(r->total - hl) &&
	       !(last->data[iphl + 13] & TCP_PSH);
}

static void finish_run(struct dp_gro_pkt *pkts, struct dp_gro_run *r)
{
	struct dp_gro_pkt *f = &pkts[r->first];
	uint8_t *p = f->data;
	struct dp_vnet_hdr h = {0, DP_VNET_GSO_NONE, 0, 0, 0, 0};
	bool v6 = p[0] >> 4 == 6;
	size_t iphl = v6 ? 40 : 20;
	uint8_t proto = v6 ? p[6] : p[9];

	if (r->count > 1) {
		uint32_t sum;

		if (v6) {
			put_be16(p + 4, (uint16_t)(r->total - 40));
			sum = dp_csum_partial(p + 8, 32, 0);
		} else {
			put_be16(p + 2, (uint16_t)r->total);
			p[10] = p[11] = 0;
			put_be16(p + 10, (uint16_t)~dp_csum_fold(dp_csum_partial(p, 20, 0)));
			sum = dp_csum_partial(p + 12, 8, 0);
		}
		sum += proto + (uint32_t)(r->total - iphl);
		h.flags = DP_VNET_F_NEEDS_CSUM;
		h.hdr_len = (uint16_t)f->hdr_len;
		h.gso_size = (uint16_t)(f->len - f->hdr_len);
		h.csum_start = (uint16_t)iphl;
		if (proto == 17) {
			put_be16(p + iphl + 4, (uint16_t)(r->total - iphl));
			/* CHECKSUM_PARTIAL: the pseudo-header sum */
			put_be16(p + iphl + 6, dp_csum_fold(sum));
			h.gso_type = DP_VNET_GSO_UDP_L4;
			h.csum_offset = 6;
		} else {
			/* PSH of the last segment belongs on the super-packet (the kernel keeps
			 * it last). */
			p[iphl + 13] |= pkts[r->members[r->count - 1]].data[iphl + 13] & TCP_PSH;
			put_be16(p + iphl + 16, dp_csum_fold(sum));
			h.gso_type = v6 ? DP_VNET_GSO_TCPV6 : DP_VNET_GSO_TCPV4;
			h.csum_offset = 16;
		}
	}
	dp_vnet_hdr_write(p - DP_VNET_HDR_LEN, &h);
}

unsigned dp_gro_coalesce(struct dp_gro_pkt *pkts, unsigned n, struct dp_gro_run *runs, bool udp)
{
	unsigned nruns = 0, open[GRO_OPEN_RUNS], nopen = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dp_gro_pkt *q = &pkts[i];
		bool v6 = false, joined = false;
		uint8_t proto = 0;
		size_t hl = gro_candidate(q->data, q->len, udp, &v6, &proto);

		q->hdr_len = hl;
		for (unsigned k = 0; hl && k < nopen && !joined; k++) {
			struct dp_gro_run *r = &runs[open[k]];
			struct dp_gro_pkt *f = &pkts[r->first];

			if (f->hdr_len != hl || (f->data[0] >> 4) != (q->data[0] >> 4) ||
			    !same_flow(f->data, q->data, hl, v6, proto))
				continue;
			/* Same flow: it either extends this run or closes it. */
			if (gro_extends(pkts, r, q, hl, v6, proto)) {
				r->members[r->count++] = i;
				r->total += q->len - hl;
				q->run = (int)open[k];
				joined = true;
			}
			open[k] = open[--nopen]; /* closed (or re-added below if joined) */
			if (joined)
				open[nopen++] = (unsigned)q->run;
			break;
		}
		if (joined)
			continue;
		runs[nruns].first = i;
		runs[nruns].count = 1;
		runs[nruns].members[0] = i;
		runs[nruns].total = q->len;
		q->run = (int)nruns;
		if (hl) {
			if (nopen == GRO_OPEN_RUNS)
				memmove(open, open + 1, sizeof(open[0]) * --nopen);
			open[nopen++] = nruns;
		}
		nruns++;
	}
	for (unsigned r = 0; r < nruns; r++)
		finish_run(pkts, &runs[r]);
	return nruns;
}

static uint32_t mix(uint32_t h, uint32_t w)
{
	return (h ^ w) * 0x9e3779b1u;
}

uint32_t dp_flow_hash(const uint8_t *p, size_t len)
{
	size_t addr, alen, l4 = 0;
	uint32_t h = 0;
	uint8_t proto;

	if (len >= 20 && p[0] >> 4 == 4) {
		size_t iphl = (size_t)(p[0] & 0x0f) * 4;

		addr = 12; /* saddr, daddr */
		alen = 4;
		proto = p[9];
		/* Ports only when not a fragment: later fragments have none. */
		if (iphl >= 20 && !(get_be16(p + 6) & 0x3fff))
			l4 = iphl;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		addr = 8;
		alen = 16;
		proto = p[6];
		l4 = 40; /* behind extension headers the ports are not looked for */
	} else {
		return 0;
	}
	for (size_t i = 0; i < 2 * alen; i += 4)
		h = mix(h, get_be32(p + addr + i));
	h = mix(h, proto);
	if ((proto == 6 || proto == 17) && l4 && l4 + 4 <= len)
		h = mix(h, get_be32(p + l4)); /* both ports */
	/* The murmur3 finaliser, so that the low bits a modulo keeps depend on every input bit. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* SPDX-License-Identifier: MIT */
/*
 * TUN offloads, pure: the virtio-net header that precedes every packet on an IFF_VNET_HDR
 * TUN, checksum completion (VIRTIO_NET_HDR_F_NEEDS_CSUM) and the split of TSO/USO
 * super-packets into wire-sized IP packets with correct headers and checksums, as a NIC
 * would. No I/O, no allocation: segments are written into the caller's strided buffer.
 */
#ifndef WEFT_DATAPLANE_OFFLOAD_H
#define WEFT_DATAPLANE_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DP_VNET_HDR_LEN = 10,
	DP_VNET_F_NEEDS_CSUM = 1,
	DP_VNET_GSO_NONE = 0,
	DP_VNET_GSO_TCPV4 = 1,
	DP_VNET_GSO_UDP = 3, /* UFO: never negotiated */
	DP_VNET_GSO_TCPV6 = 4,
	DP_VNET_GSO_UDP_L4 = 5,
	DP_VNET_GSO_ECN = 0x80,
	DP_MAX_SEGMENTS = 128, /* 64 KiB / smallest sane MSS */
};

struct dp_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* Host byte order on the wire of the TUN (little-endian on every platform we build for). */
void dp_vnet_hdr_parse(const uint8_t in[DP_VNET_HDR_LEN], struct dp_vnet_hdr *h);
void dp_vnet_hdr_write(uint8_t out[DP_VNET_HDR_LEN], const struct dp_vnet_hdr *h);

/* RFC 1071 one's-complement sum, not folded or inverted (for building checksums). */
uint32_t dp_csum_partial(const uint8_t *p, size_t len, uint32_t sum);
uint16_t dp_csum_fold(uint32_t sum);

/*
 * Turn one packet read from the TUN into plain IP packets. Segment i is written at
 * out + i * stride and its length to seg_len[i]. Returns the number of segments (1 for a
 * packet without GSO, with its checksum completed when NEEDS_CSUM), or -EINVAL for a header
 * or packet that does not add up, -E2BIG when it would need more than max_segs segments or a
 * segment larger than stride.
 */
int dp_offload_split(const uint8_t *pkt, size_t len, const struct dp_vnet_hdr *h, uint8_t *out,
		     size_t stride, size_t max_segs, size_t *seg_len);

/*
 * Receive-side coalescing (software GRO) for the TUN write path. TCP: consecutive segments
 * of one flow (same addresses, ports, IP fields, TCP options, ack and window; contiguous
 * sequence numbers; equal sizes but for a shorter last one; ACK or ACK|PSH only, PSH
 * ending a run) become one TSO super-packet. UDP, when the kernel takes USO: datagrams of
 * one flow (same addresses, ports, IP fields; IPv4 ids consecutive, as the kernel's
 * segmentation will number them; equal sizes but for a shorter last one) become one
 * UDP_L4 super-packet that the kernel splits back into the same datagrams. Packets are not
 * moved: a run is written with writev as the first packet (headers rewritten in place, a
 * virtio-net header in the 10 bytes before it) followed by the payloads of the others.
 * Inner checksums are not verified: the AEAD authenticated the packet (the kernel's
 * WireGuard marks decrypted packets CHECKSUM_UNNECESSARY for the same reason).
 */
enum {
	DP_GRO_MAX_RUN = 64,
	DP_GRO_MAX_LEN = 65535,
};

struct dp_gro_pkt {
	uint8_t *data; /* an IP packet with DP_VNET_HDR_LEN writable bytes before it */
	size_t len;
	/* set by dp_gro_coalesce: */
	size_t hdr_len; /* IP + TCP/UDP headers (payload of members starts here); 0: alone */
	int run;        /* index of the run this packet belongs to */
};

struct dp_gro_run {
	unsigned first; /* packets[first] carries the headers */
	unsigned count;
	unsigned members[DP_GRO_MAX_RUN]; /* packet indices in order, members[0] == first */
	size_t total;   /* length of the coalesced IP packet */
};

/*
 * Group pkts[0..n) into runs (a packet that cannot coalesce is a run of one), rewrite the
 * first packet of every multi-packet run (IP length and checksum, UDP length, TCP or UDP
 * checksum set to the pseudo-header sum for NEEDS_CSUM) and write every run's virtio-net
 * header before its first packet. udp: UDP runs allowed (the TUN accepted USO). Returns the
 * number of runs (<= n); runs must hold n entries.
 */
unsigned dp_gro_coalesce(struct dp_gro_pkt *pkts, unsigned n, struct dp_gro_run *runs, bool udp);

/*
 * A hash of an IP packet's flow (addresses, protocol, and the TCP/UDP ports of a packet that
 * is not a fragment), for picking the TUN queue a flow is written through; 0 for what is
 * neither IPv4 nor IPv6 or too short. Reads only within len.
 */
uint32_t dp_flow_hash(const uint8_t *p, size_t len);

#endif

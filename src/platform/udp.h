/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets of a WireGuard device: one IPv4 and one IPv6 socket on the same port (as
 * wireguard-go binds them), batched receive and send, the local address each datagram
 * arrived on (IP_PKTINFO / IPV6_PKTINFO) so replies leave from it ("sticky source"), and the
 * firewall mark. OS-neutral contract; platform/<os>/udp.c implements it.
 */
#ifndef WEFT_PLATFORM_UDP_H
#define WEFT_PLATFORM_UDP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/wg.h"

/* What plat_udp_recv returns after plat_udp_shutdown; mingw's errno.h lacks it (WSAESHUTDOWN). */
#ifndef ESHUTDOWN
#define ESHUTDOWN 10058
#endif

/* The local side of a datagram: address it arrived on and, for IPv6, the interface. */
struct plat_udp_src {
	uint8_t addr[16];
	uint32_t ifindex;
	bool valid;
};

struct plat_udp_msg {
	uint8_t *buf;
	size_t len;		 /* in: capacity on receive, length on send; out: length */
	struct wg_endpoint peer; /* source on receive, destination on send */
	struct plat_udp_src local;
	bool sent; /* out (send): handed to the kernel */
};

enum plat_udp_family {
	PLAT_UDP_V4 = 0,
	PLAT_UDP_V6 = 1,
};

struct plat_udp;

/*
 * Bind both sockets to port (0 = a random port, the same for both). An IPv6 socket that
 * cannot be opened (no IPv6 in this namespace) is tolerated; an IPv4 failure is not.
 * -EADDRINUSE when the port is taken.
 */
int plat_udp_open(uint16_t port, uint32_t fwmark, struct plat_udp **ret);
void plat_udp_close(struct plat_udp *u);
uint16_t plat_udp_port(const struct plat_udp *u);
/* The fd of one family's socket, or -1 when that family is not open. */
int plat_udp_fd(const struct plat_udp *u, enum plat_udp_family f);
/* Set (0 = clear) SO_MARK on both sockets. */
int plat_udp_set_mark(struct plat_udp *u, uint32_t mark);
/* Make blocked receivers return (-ESHUTDOWN) so their threads can exit. */
void plat_udp_shutdown(struct plat_udp *u);
enum {
	PLAT_UDP_BUF_LEN = 65536,   /* a receive buffer: a coalesced (GRO) run fits */
	PLAT_UDP_MAX_SEGMENTS = 64, /* datagrams in one GRO receive or GSO send */
};

/*
 * Receive from one socket into up to nbufs buffers of PLAT_UDP_BUF_LEN bytes, blocking until
 * something arrives. With UDP GRO the kernel may coalesce a run of datagrams from one
 * source into one buffer; they are handed back split, one entry of out[] per datagram
 * (out[i].buf points into the buffers). nout must be >= nbufs * PLAT_UDP_MAX_SEGMENTS.
 * Returns the number of entries, or -errno (-ESHUTDOWN after plat_udp_shutdown).
 */
int plat_udp_recv(struct plat_udp *u, enum plat_udp_family f, uint8_t *const *bufs, unsigned nbufs,
		  struct plat_udp_msg *out, unsigned nout);
/* Whether the kernel accepted UDP GSO (send) and GRO (receive) on these sockets. */
bool plat_udp_gso(const struct plat_udp *u);
bool plat_udp_gro(const struct plat_udp *u);
/*
 * Send n datagrams (any mix of families). Runs of datagrams to the same destination from
 * the same source, of equal length but for a shorter last one, leave as one UDP GSO send
 * when the kernel supports it. A local source that the kernel refuses (address gone) is
 * cleared in the message and the send retried without it. Each message's `sent` says
 * whether it was handed to the kernel. Returns the count sent or -errno.
 */
int plat_udp_send(struct plat_udp *u, struct plat_udp_msg *msgs, unsigned n);

#endif

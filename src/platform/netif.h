/* SPDX-License-Identifier: MIT */
/*
 * Interface configuration: look links up, bring them up or down, set the MTU, add and remove
 * addresses and device routes, delete links, and watch one link for up/down/deleted.
 *
 * OS-neutral contract; platform/<os>/netif.c implements it. No OS headers here. Every call
 * is self-contained (on Linux: its own rtnetlink socket, a request with an ack, the socket
 * closed before returning), so calls are safe from any thread and errors come back as
 * -errno from the kernel. Only the current network namespace is touched. No logging.
 *
 * Every ifindex argument <= 0, or naming no link, gives -ENODEV.
 */
#ifndef WEFT_PLATFORM_NETIF_H
#define WEFT_PLATFORM_NETIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/allowedips.h"

/* An address or a prefix. */
struct plat_addr {
	int family;	  /* enum wg_family: WG_AF_INET (4) or WG_AF_INET6 (6) */
	uint8_t addr[16]; /* network order; the first 4 bytes for IPv4 */
	uint8_t prefix;	  /* <= 32 or <= 128, else -EINVAL before the kernel is asked */
};

enum {
	PLAT_NETIF_KIND_MAX = 32, /* a buffer this long holds any link kind */
};

/* ifindex (> 0) of the link called name; -ENODEV, also for a name no link can have. */
int plat_netif_index(const char *name);

/*
 * The link's kind ("tun", "veth", "bridge", ...) into kind, NUL-terminated; "" for links
 * without one (loopback, physical NICs). 0, -ENODEV, -ENOSPC when len is too short.
 */
int plat_netif_kind(int ifindex, char *kind, size_t len);

/* Set or clear the administrative up flag. 0 or -errno. */
int plat_netif_set_up(int ifindex, bool up);
/* 1 administratively up, 0 down, -ENODEV. */
int plat_netif_is_up(int ifindex);

/* 0, or -EINVAL for an MTU the link refuses (too small for IPv4, above its maximum). */
int plat_netif_set_mtu(int ifindex, unsigned mtu);
/* The MTU (> 0) or -errno. */
int plat_netif_get_mtu(int ifindex);

/*
 * Add a local address with its prefix length (the kernel also adds the prefix route while
 * the link is up). The same address with the same prefix already there is success; the same
 * IPv6 address with another prefix is -EEXIST.
 */
int plat_netif_add_address(int ifindex, const struct plat_addr *a);
/* Remove exactly addr/prefix. -EADDRNOTAVAIL when it is not there. */
int plat_netif_del_address(int ifindex, const struct plat_addr *a);

/*
 * Route dst (host bits are cleared, as allowed-IPs does) through the device in the main
 * table: scope link, protocol static, no gateway. metric 0 means the family's default (0 for
 * IPv4, 1024 for IPv6). The same prefix already routed through this device with this metric
 * is success; the same prefix and metric through another device is -EEXIST. The link must be
 * up (-ENETDOWN otherwise, IPv4).
 */
int plat_netif_add_route(int ifindex, const struct plat_addr *dst, uint32_t metric);
/* Remove the route to dst through the device, whatever its metric. -ESRCH when none. */
int plat_netif_del_route(int ifindex, const struct plat_addr *dst);

/* Delete the link (for a TUN: its fds then read -ENODEV). */
int plat_netif_del_link(int ifindex);

/*
 * Call fn for each IPv4 and IPv6 address of the link (link-local ones included). Stops and
 * returns fn's value when it is non-zero; else 0, or -errno. fn may call other plat_netif_
 * functions.
 */
int plat_netif_list_addresses(int ifindex, int (*fn)(void *ctx, const struct plat_addr *a),
			      void *ctx);

/*
 * The host's own addresses a peer could reach it at ("host candidates" of NAT traversal):
 * those of links that are up and physical-like (Ethernet, Wi-Fi, veth, VLAN, bond), not the
 * loopback, not point-to-point or tunnel links (WireGuard, TUN, GRE...), not bridges and not
 * a bridge's or bond's ports (container plumbing), and not the link named skip. Link-local
 * IPv6 (fe80::/10) left out. Up to max into out; *ret_n the count. 0 or -errno.
 */
int plat_netif_host_addresses(const char *skip, struct plat_addr *out, size_t max,
			      size_t *ret_n);

/*
 * Watch one link. The caller polls plat_netif_monitor_fd() for input (the fd is
 * non-blocking) and then calls plat_netif_monitor_read(), which drains what is queued and
 * returns a mask of PLAT_NETIF_EV_* (0 when nothing relevant happened), or -errno. Up and
 * down are reported on change of the administrative up flag relative to the last state seen,
 * so both bits may be set if the link flapped between reads; ask plat_netif_is_up for the
 * state now. Deleted also means moved to another namespace. When the kernel dropped events
 * (socket overrun) the state is re-read and the difference reported.
 */
enum plat_netif_event {
	PLAT_NETIF_EV_UP = 1 << 0,
	PLAT_NETIF_EV_DOWN = 1 << 1,
	PLAT_NETIF_EV_DELETED = 1 << 2,
};

struct plat_netif_monitor;

/* -ENODEV when the link does not exist when the watch starts. */
int plat_netif_monitor_open(int ifindex, struct plat_netif_monitor **ret);
int plat_netif_monitor_fd(const struct plat_netif_monitor *m);
int plat_netif_monitor_read(struct plat_netif_monitor *m);
/* NULL-safe. */
void plat_netif_monitor_close(struct plat_netif_monitor *m);

#endif

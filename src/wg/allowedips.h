/* SPDX-License-Identifier: MIT */
/*
 * Allowed-IPs: cryptokey routing. Two longest-prefix-match tries (IPv4, IPv6) mapping a
 * prefix to the one peer that owns it (inserting a prefix for peer B takes it from peer A;
 * host bits are masked on insert). Lookup by inner destination picks the peer for TX; lookup
 * by inner source must return the decrypting peer on RX.
 *
 * Pure data structure: no locks (readers and writers are serialised by the caller for now),
 * allocation only on insert. Entries are capped at WG_ALLOWEDIPS_MAX.
 */
#ifndef WEFT_WG_ALLOWEDIPS_H
#define WEFT_WG_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct wg_peer;
struct wg_aip_node;

enum wg_family {
	WG_AF_INET = 4,
	WG_AF_INET6 = 6,
};

enum {
	WG_ALLOWEDIPS_MAX = 1 << 20, /* prefixes in one table, all peers together */
};

struct wg_allowedips {
	struct wg_aip_node *root4;
	struct wg_aip_node *root6;
	struct wg_aip_node *order_first, *order_last; /* every prefix, in insertion order */
	size_t count; /* prefixes stored */
};

void wg_allowedips_init(struct wg_allowedips *t);
/* Frees every node. NULL-safe. */
void wg_allowedips_done(struct wg_allowedips *t);

/*
 * Insert addr/cidr for peer (moving it if another peer owns it). addr is 4 or 16 bytes in
 * network order. 0, -EINVAL (bad family or cidr > 32/128, peer NULL), -ENOMEM, -ENOSPC (cap).
 */
int wg_allowedips_insert(struct wg_allowedips *t, enum wg_family family, const uint8_t *addr,
			 uint8_t cidr, struct wg_peer *peer);
/* Remove addr/cidr if peer owns exactly that prefix. 0, -ENOENT, -EINVAL. */
int wg_allowedips_remove(struct wg_allowedips *t, enum wg_family family, const uint8_t *addr,
			 uint8_t cidr, struct wg_peer *peer);
/* Remove every prefix of peer. */
void wg_allowedips_remove_peer(struct wg_allowedips *t, struct wg_peer *peer);
/* Longest-prefix match; NULL when nothing covers addr. */
struct wg_peer *wg_allowedips_lookup(const struct wg_allowedips *t, enum wg_family family,
				     const uint8_t *addr);

/*
 * Call fn for each prefix of peer (addr masked, network order) in the order they were
 * inserted, both families mixed, as the kernel and wireguard-go list them (a re-insert of a
 * prefix, for this or another peer, moves it to the end). O(prefixes in the table). Stops
 * and returns fn's value when it is non-zero; else 0. fn must not modify the table.
 */
typedef int (*wg_allowedips_fn)(void *ctx, enum wg_family family, const uint8_t *addr,
				uint8_t cidr);
int wg_allowedips_walk_peer(const struct wg_allowedips *t, const struct wg_peer *peer,
			    wg_allowedips_fn fn, void *ctx);

/*
 * For tests and fuzzers: verify the trie invariants (masked keys, child below parent,
 * no peerless node with fewer than two children, count) and the insertion list (linked
 * both ways, exactly the nodes that carry a peer). 0 or -EINVAL. O(prefixes * depth).
 * ret_nodes (optional) receives the number of nodes, for memory accounting.
 */
int wg_allowedips_check(const struct wg_allowedips *t, size_t *ret_nodes);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Allowed-IPs: a path-compressed binary trie per family (the shape of kern allowedips.c and
 * wg-go allowedips.go). Every node is a prefix; a node either carries a peer or is a pure
 * branch point with exactly two children, so a table of n prefixes has at most 2n - 1 nodes.
 * A child's cidr is strictly greater than its parent's and it agrees with the parent on the
 * parent's cidr bits; the child slot is chosen by the bit right after the parent's prefix.
 * Depth is therefore at most 129 nodes, which bounds the fixed stacks below.
 *
 * Listing order: every node that carries a peer is also on one doubly linked list of the
 * table in the order the prefixes were inserted (a re-insert, for the same or another peer,
 * moves the prefix to the end, as the kernel's list_move_tail and wireguard-go do), so a
 * peer's prefixes come back in the order `wg` or wg-quick gave them and `wg showconf`
 * round-trips. The trie stays the lookup structure; the list costs two pointers a prefix.
 *
 * Must not: recurse (stacks are fixed arrays), allocate outside insert, leave a half-linked
 * node behind on -ENOMEM (both new nodes are allocated before anything is linked), keep
 * nodes that carry no peer and have fewer than two children, or let a node's place on the
 * insertion list disagree with its peer (on the list if and only if it carries one).
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lib/util.h"
#include "wg/allowedips.h"

struct wg_aip_node {
	struct wg_aip_node *bit[2];
	struct wg_peer *peer; /* NULL: branch node, which then has exactly two children */
	struct wg_aip_node *order_prev, *order_next; /* the insertion list, while peer != NULL */
	uint64_t key[2];      /* address read big-endian (IPv4 in the top 32 bits), masked */
	uint8_t cidr;
	uint8_t family; /* enum wg_family, for listing from the insertion list */
};

enum {
	MAX_BITS = 128,
	STACK_DEPTH = MAX_BITS + 1, /* one node per cidr 0..128 on any root-to-leaf path */
};

static uint64_t load_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static unsigned int family_bits(enum wg_family family)
{
	switch (family) {
	case WG_AF_INET:
		return 32;
	case WG_AF_INET6:
		return 128;
	}
	return 0;
}

static void load_key(uint64_t key[2], enum wg_family family, const uint8_t *addr)
{
	if (family == WG_AF_INET) {
		key[0] = (uint64_t)get_be32(addr) << 32;
		key[1] = 0;
	} else {
		key[0] = load_be64(addr);
		key[1] = load_be64(addr + 8);
	}
}

static void store_key(uint8_t *addr, enum wg_family family, const uint64_t key[2])
{
	if (family == WG_AF_INET) {
		put_be32(addr, (uint32_t)(key[0] >> 32));
	} else {
		put_be64(addr, key[0]);
		put_be64(addr + 8, key[1]);
	}
}

static void mask_key(uint64_t key[2], unsigned int cidr)
{
	if (cidr == 0) {
		key[0] = key[1] = 0;
	} else if (cidr <= 64) {
		key[0] &= ~UINT64_C(0) << (64 - cidr);
		key[1] = 0;
	} else {
		key[1] &= ~UINT64_C(0) << (128 - cidr);
	}
}

/* Number of leading bits a and b share, 0..128. */
static unsigned int common_bits(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (unsigned int)__builtin_clzll(x);
	x = a[1] ^ b[1];
	if (x)
		return 64 + (unsigned int)__builtin_clzll(x);
	return 128;
}

/* Bit i of the key, counting from the most significant; i < 128. */
static unsigned int bit_at(const uint64_t key[2], unsigned int i)
{
	if (i < 64)
		return (unsigned int)(key[0] >> (63 - i)) & 1;
	return (unsigned int)(key[1] >> (127 - i)) & 1;
}

static bool node_covers(const struct wg_aip_node *n, const uint64_t key[2])
{
	return common_bits(n->key, key) >= n->cidr;
}

/* A new node, not linked anywhere yet (peer is set, but it is not on the insertion list). */
static struct wg_aip_node *node_new(const uint64_t key[2], unsigned int cidr,
				    enum wg_family family, struct wg_peer *peer)
{
	struct wg_aip_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key[0] = key[0];
	n->key[1] = key[1];
	mask_key(n->key, cidr);
	n->cidr = (uint8_t)cidr;
	n->family = (uint8_t)family;
	n->peer = peer;
	return n;
}

/* Append n (which carries a peer and is not on the list) to the insertion list. */
static void order_append(struct wg_allowedips *t, struct wg_aip_node *n)
{
	n->order_next = NULL;
	n->order_prev = t->order_last;
	if (t->order_last)
		t->order_last->order_next = n;
	else
		t->order_first = n;
	t->order_last = n;
}

/* Take n off the insertion list; call before clearing or replacing n->peer. */
static void order_unlink(struct wg_allowedips *t, struct wg_aip_node *n)
{
	if (n->order_prev)
		n->order_prev->order_next = n->order_next;
	else
		t->order_first = n->order_next;
	if (n->order_next)
		n->order_next->order_prev = n->order_prev;
	else
		t->order_last = n->order_prev;
	n->order_prev = n->order_next = NULL;
}

static struct wg_aip_node **root_slot(struct wg_allowedips *t, enum wg_family family)
{
	return family == WG_AF_INET ? &t->root4 : &t->root6;
}

void wg_allowedips_init(struct wg_allowedips *t)
{
	t->root4 = NULL;
	t->root6 = NULL;
	t->order_first = t->order_last = NULL;
	t->count = 0;
}

/*
 * Post-order pass over one trie, iterative. With peer == NULL every node is freed; otherwise
 * the peer is cleared from its nodes and every node left without a peer and with fewer than
 * two children is spliced out. Children are finished before their parent, so a parent sees
 * its final child count. Cost: O(nodes in the trie), no allocation.
 */
static void prune(struct wg_allowedips *t, struct wg_aip_node **root, const struct wg_peer *peer)
{
	struct {
		struct wg_aip_node **slot;
		unsigned int next; /* next child to visit: 0, 1, or 2 = both done */
	} stack[STACK_DEPTH];
	unsigned int depth = 0;

	if (!*root)
		return;
	stack[depth].slot = root;
	stack[depth++].next = 0;
	while (depth) {
		struct wg_aip_node *n = *stack[depth - 1].slot, *child;

		if (stack[depth - 1].next < 2) {
			struct wg_aip_node **cslot = &n->bit[stack[depth - 1].next++];

			if (*cslot) {
				assert(depth < STACK_DEPTH);
				stack[depth].slot = cslot;
				stack[depth++].next = 0;
			}
			continue;
		}
		depth--;
		if (!peer) {
			if (n->peer) {
				order_unlink(t, n);
				t->count--;
			}
			free(n);
			continue;
		}
		if (n->peer == peer) {
			order_unlink(t, n);
			n->peer = NULL;
			t->count--;
		}
		if (n->peer || (n->bit[0] && n->bit[1]))
			continue;
		child = n->bit[0] ? n->bit[0] : n->bit[1];
		*stack[depth].slot = child;
		free(n);
	}
	if (!peer)
		*root = NULL;
}

void wg_allowedips_done(struct wg_allowedips *t)
{
	if (!t)
		return;
	prune(t, &t->root4, NULL);
	prune(t, &t->root6, NULL);
	t->order_first = t->order_last = NULL;
	t->count = 0;
}

int wg_allowedips_insert(struct wg_allowedips *t, enum wg_family family, const uint8_t *addr,
			 uint8_t cidr, struct wg_peer *peer)
{
	unsigned int bits = family_bits(family), common;
	struct wg_aip_node **slot, *n, *leaf, *branch;
	uint64_t key[2];

	if (!t || !bits || !addr || !peer || cidr > bits)
		return -EINVAL;
	load_key(key, family, addr);
	mask_key(key, cidr);

	/* Descend while the node is a prefix of (or equal to) the new one. */
	slot = root_slot(t, family);
	while ((n = *slot) && n->cidr <= cidr && node_covers(n, key)) {
		if (n->cidr == cidr) {
			if (!n->peer) {
				if (t->count >= WG_ALLOWEDIPS_MAX)
					return -ENOSPC;
				t->count++;
			} else {
				order_unlink(t, n);
			}
			n->peer = peer; /* taken from its previous owner, if any */
			order_append(t, n);
			return 0;
		}
		slot = &n->bit[bit_at(key, n->cidr)];
	}
	if (t->count >= WG_ALLOWEDIPS_MAX)
		return -ENOSPC;

	leaf = node_new(key, cidr, family, peer);
	if (!leaf)
		return -ENOMEM;
	if (!n) {
		*slot = leaf;
		goto out;
	}

	/*
	 * n sits where the new prefix belongs but is not its ancestor. Either the new prefix
	 * covers n (it becomes n's parent) or they part at bit `common` and need a branch node.
	 * In both cases common < n->cidr, and common > the cidr of the node owning slot.
	 */
	common = MIN(common_bits(n->key, key), MIN((unsigned int)cidr, (unsigned int)n->cidr));
	if (common == cidr) {
		leaf->bit[bit_at(n->key, cidr)] = n;
		*slot = leaf;
		goto out;
	}
	branch = node_new(key, common, family, NULL);
	if (!branch) {
		free(leaf);
		return -ENOMEM;
	}
	branch->bit[bit_at(key, common)] = leaf;
	branch->bit[bit_at(n->key, common)] = n;
	*slot = branch;
out:
	order_append(t, leaf);
	t->count++;
	return 0;
}

int wg_allowedips_remove(struct wg_allowedips *t, enum wg_family family, const uint8_t *addr,
			 uint8_t cidr, struct wg_peer *peer)
{
	unsigned int bits = family_bits(family);
	struct wg_aip_node **slot, **pslot = NULL, *n, *p, *child;
	uint64_t key[2];

	if (!t || !bits || !addr || !peer || cidr > bits)
		return -EINVAL;
	load_key(key, family, addr);
	mask_key(key, cidr);

	slot = root_slot(t, family);
	while ((n = *slot) && n->cidr < cidr && node_covers(n, key)) {
		pslot = slot;
		slot = &n->bit[bit_at(key, n->cidr)];
	}
	if (!n || n->cidr != cidr || !node_covers(n, key) || n->peer != peer)
		return -ENOENT;
	order_unlink(t, n);
	n->peer = NULL;
	t->count--;

	if (n->bit[0] && n->bit[1])
		return 0; /* still a valid branch point */
	child = n->bit[0] ? n->bit[0] : n->bit[1];
	*slot = child;
	free(n);
	if (child || !pslot)
		return 0; /* the parent kept its number of children */

	/* The parent lost a child; a peerless parent had exactly two and now needs splicing. */
	p = *pslot;
	if (p->peer)
		return 0;
	*pslot = p->bit[0] ? p->bit[0] : p->bit[1];
	free(p);
	return 0;
}

/*
 * O(nodes in the table) per call: nodes do not link to their peer's other nodes because
 * struct wg_peer is opaque here. Fine for a control-plane operation; a per-peer list would
 * make it O(prefixes of the peer) if peer removal ever becomes hot.
 */
void wg_allowedips_remove_peer(struct wg_allowedips *t, struct wg_peer *peer)
{
	if (!t || !peer)
		return; /* NULL would match every branch node */
	prune(t, &t->root4, peer);
	prune(t, &t->root6, peer);
}

struct wg_peer *wg_allowedips_lookup(const struct wg_allowedips *t, enum wg_family family,
				     const uint8_t *addr)
{
	unsigned int bits = family_bits(family);
	const struct wg_aip_node *n;
	struct wg_peer *found = NULL;
	uint64_t key[2];

	if (!t || !bits || !addr)
		return NULL;
	load_key(key, family, addr);
	n = family == WG_AF_INET ? t->root4 : t->root6;
	while (n && node_covers(n, key)) {
		if (n->peer)
			found = n->peer;
		if (n->cidr == bits)
			break;
		n = n->bit[bit_at(key, n->cidr)];
	}
	return found;
}

/* The insertion list, filtered by peer: O(prefixes in the table), no allocation. */
int wg_allowedips_walk_peer(const struct wg_allowedips *t, const struct wg_peer *peer,
			    wg_allowedips_fn fn, void *ctx)
{
	const struct wg_aip_node *n;
	uint8_t addr[16];
	int ret;

	if (!t || !peer || !fn)
		return 0;
	for (n = t->order_first; n; n = n->order_next) {
		if (n->peer != peer)
			continue;
		store_key(addr, (enum wg_family)n->family, n->key);
		ret = fn(ctx, (enum wg_family)n->family, addr, n->cidr);
		if (ret)
			return ret;
	}
	return 0;
}

static int check_trie(const struct wg_aip_node *root, unsigned int bits, size_t *peers,
		      size_t *nodes)
{
	struct {
		const struct wg_aip_node *n;
		unsigned int next;
	} stack[STACK_DEPTH];
	unsigned int depth = 0;

	if (!root)
		return 0;
	stack[depth].n = root;
	stack[depth++].next = 0;
	while (depth) {
		const struct wg_aip_node *n = stack[depth - 1].n, *c;
		uint64_t masked[2];

		if (stack[depth - 1].next == 0) {
			/* First visit: the node's own invariants. */
			masked[0] = n->key[0];
			masked[1] = n->key[1];
			mask_key(masked, n->cidr);
			if (n->cidr > bits || masked[0] != n->key[0] || masked[1] != n->key[1])
				return -EINVAL;
			if (!n->peer && !(n->bit[0] && n->bit[1]))
				return -EINVAL;
			if (n->cidr == bits && (n->bit[0] || n->bit[1]))
				return -EINVAL;
			if (n->family != (bits == 32 ? WG_AF_INET : WG_AF_INET6))
				return -EINVAL;
			if (!n->peer && (n->order_prev || n->order_next))
				return -EINVAL;
			*nodes += 1;
			*peers += n->peer != NULL;
		}
		if (stack[depth - 1].next >= 2) {
			depth--;
			continue;
		}
		c = n->bit[stack[depth - 1].next];
		if (c && (c->cidr <= n->cidr || !node_covers(n, c->key) ||
			  bit_at(c->key, n->cidr) != stack[depth - 1].next))
			return -EINVAL;
		stack[depth - 1].next++;
		if (!c)
			continue;
		if (depth >= STACK_DEPTH)
			return -EINVAL;
		stack[depth].n = c;
		stack[depth++].next = 0;
	}
	return 0;
}

/*
 * The insertion list: consistent links, exactly count entries, each carrying a peer and
 * found in its trie at its own key and length (so no freed or foreign node is listed).
 */
static int check_order(const struct wg_allowedips *t)
{
	const struct wg_aip_node *n, *prev = NULL;
	size_t listed = 0;

	for (n = t->order_first; n; prev = n, n = n->order_next) {
		const struct wg_aip_node *m = n->family == WG_AF_INET ? t->root4 : t->root6;

		if (n->order_prev != prev || !n->peer || ++listed > t->count)
			return -EINVAL;
		while (m && m != n && m->cidr < n->cidr && node_covers(m, n->key))
			m = m->bit[bit_at(n->key, m->cidr)];
		if (m != n)
			return -EINVAL;
	}
	if (t->order_last != prev || listed != t->count)
		return -EINVAL;
	return 0;
}

int wg_allowedips_check(const struct wg_allowedips *t, size_t *ret_nodes)
{
	size_t peers = 0, nodes = 0;
	int r;

	r = check_trie(t->root4, 32, &peers, &nodes);
	if (r < 0)
		return r;
	r = check_trie(t->root6, 128, &peers, &nodes);
	if (r < 0)
		return r;
	if (peers != t->count)
		return -EINVAL;
	r = check_order(t);
	if (r < 0)
		return r;
	if (ret_nodes)
		*ret_nodes = nodes;
	return 0;
}

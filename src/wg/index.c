/* SPDX-License-Identifier: MIT */
/*
 * The device's two lookup tables: local session indices (handshakes and keypairs, the
 * receiver_index of every incoming response, cookie and data message) and peers by public
 * key. Both are intrusive chained hash tables whose bucket arrays are allocated once at
 * device init; inserting and removing never allocates. Indices are drawn from the env's
 * randomness and re-drawn until unique (wireguard-go indextable.go does the same).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "wg/internal.h"

enum {
	INDEX_BUCKETS = 1 << 13,
	PEER_BUCKETS = 1 << 12,
};

int wg_index_init(struct wg_device *dev)
{
	dev->index_table = calloc(INDEX_BUCKETS, sizeof(*dev->index_table));
	dev->peer_table = calloc(PEER_BUCKETS, sizeof(*dev->peer_table));
	if (!dev->index_table || !dev->peer_table) {
		wg_index_done(dev);
		return -ENOMEM;
	}
	dev->index_mask = INDEX_BUCKETS - 1;
	dev->peer_mask = PEER_BUCKETS - 1;
	return 0;
}

void wg_index_done(struct wg_device *dev)
{
	free(dev->index_table);
	free(dev->peer_table);
	dev->index_table = NULL;
	dev->peer_table = NULL;
}

/* Indices are random, so their low bits already spread; a multiply keeps chosen ones apart. */
static uint32_t index_bucket(const struct wg_device *dev, uint32_t index)
{
	return (uint32_t)((index * 0x9e3779b97f4a7c15ULL) >> 32) & dev->index_mask;
}

static struct wg_index_entry *lookup_any(const struct wg_device *dev, uint32_t index)
{
	struct wg_index_entry *e;

	for (e = dev->index_table[index_bucket(dev, index)]; e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

static void link_entry(struct wg_device *dev, struct wg_index_entry *e)
{
	struct wg_index_entry **head = &dev->index_table[index_bucket(dev, e->index)];

	e->next = *head;
	*head = e;
	e->linked = true;
}

void wg_index_insert_new(struct wg_device *dev, struct wg_index_entry *e)
{
	uint32_t index;

	wg_index_remove(dev, e);
	do
		dev->env.random(dev->env.ctx, &index, sizeof(index));
	while (lookup_any(dev, index));
	e->index = index;
	link_entry(dev, e);
}

void wg_index_remove(struct wg_device *dev, struct wg_index_entry *e)
{
	struct wg_index_entry **pp;

	if (!e->linked)
		return;
	for (pp = &dev->index_table[index_bucket(dev, e->index)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->next = NULL;
	e->linked = false;
}

void wg_index_replace(struct wg_device *dev, struct wg_index_entry *src,
		      struct wg_index_entry *dst)
{
	uint32_t index = src->index;

	wg_index_remove(dev, dst);
	wg_index_remove(dev, src);
	dst->index = index;
	link_entry(dev, dst);
}

struct wg_index_entry *wg_index_lookup(const struct wg_device *dev, uint32_t index,
				       enum wg_index_kind kind)
{
	struct wg_index_entry *e = lookup_any(dev, index);

	return e && e->kind == kind ? e : NULL;
}

/* Public keys are configured by the operator, so a seeded mix of 8 key bytes suffices. */
static uint32_t peer_bucket(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN])
{
	uint64_t h = get_le64(pub) ^ get_le64(dev->hash_seed);

	h ^= get_le64(pub + 8) + get_le64(dev->hash_seed + 8);
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h & dev->peer_mask;
}

void wg_peertab_insert(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **head = &dev->peer_table[peer_bucket(dev, peer->remote_static)];

	peer->hash_next = *head;
	*head = peer;
}

void wg_peertab_remove(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **pp;

	for (pp = &dev->peer_table[peer_bucket(dev, peer->remote_static)]; *pp;
	     pp = &(*pp)->hash_next) {
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	}
	peer->hash_next = NULL;
}

struct wg_peer *wg_peer_lookup(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN])
{
	struct wg_peer *p;

	for (p = dev->peer_table[peer_bucket(dev, pub)]; p; p = p->hash_next)
		if (!memcmp(p->remote_static, pub, WG_KEY_LEN))
			return p;
	return NULL;
}

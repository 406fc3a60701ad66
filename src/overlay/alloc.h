/* SPDX-License-Identifier: MIT */
/*
 * overlay/alloc — the leader's address allocator: overlay host addresses (IPv4 and IPv6),
 * per-node slices and per-(service, node) subnets, all carved from one cluster range, plus
 * the JSON form the leader persists (state.c stores it; nothing here touches a file).
 *
 * Pure: no I/O, no clock, no randomness, no logging; it allocates only its own tables.
 * Must not: hand out an address that is in use, or a host address that was ever handed out.
 *
 * Layout of the cluster IPv4 range (defaults of ZLayer's zlayer-overlay, "REF"):
 *
 *   10.200.0.0/16   cluster (OV_ALLOC_DEFAULT_CIDR4)
 *   10.200.0.0/20   host range: one overlay address per node, handed out upwards from the
 *                   first host (the leader is added first, so it is 10.200.0.1)
 *   the rest        4096 slots of /28 minus the 256 the host range covers; node slices and
 *                   service subnets share them, so neither can overlap the other (REF keeps
 *                   two registries that can collide, inventory §27 item 5)
 *
 * Placement is REF's, so its vectors hold: slot count n = 2^(slice_len - cluster_len), start
 * at FNV-1a-64(key) mod n and probe forward (wrapping) to the first free slot. The key is the
 * node name, or service bytes, 0x1f, node bytes for a service subnet. "leader" lands on
 * 10.200.174.64/28, "node-a" on 10.200.181.48/28, ("svc-a", "node-1") on 10.200.103.32/28.
 * Slots in the host range count as taken.
 *
 * Reuse policy:
 * - Host addresses are never reused. next_host is a high-water mark that only grows and is
 *   persisted, so a released address stays retired across leader restarts; the host range
 *   is exhausted (-ENOSPC) after 4094 joins by default, whatever the number leaving.
 * - A node's IPv6 address is derived, not allocated: cluster6 network + (v4 address -
 *   cluster4 network); 10.200.0.1 -> fd00:200::1. It is unique because the v4 one is.
 * - Slices and subnets are never held twice at once; a released one returns to the pool
 *   (REF's "release reuses the slot"), which keeps the layout a function of who is present.
 *   Releasing a node releases its service subnets; a subnet needs its node to be present.
 *
 * Names (nodes and services) are DNS labels as the overlay zone uses them: 1..63 of
 * [a-z0-9-], not starting or ending with '-' (RFC 1123 §2.1, lower case only so that two
 * names never differ by case alone). REF accepts any string; these become DNS names here.
 */
#ifndef WEFT_OVERLAY_ALLOC_H
#define WEFT_OVERLAY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OV_ALLOC_DEFAULT_CIDR4 "10.200.0.0/16" /* REF DEFAULT_OVERLAY_CIDR */
#define OV_ALLOC_DEFAULT_CIDR6 "fd00:200::/48" /* REF DEFAULT_OVERLAY_CIDR_V6 */
#define OV_ALLOC_DEFAULT_HOSTS "10.200.0.0/20" /* ours: host range, first 256 slots */

enum {
	OV_ALLOC_DEFAULT_SLICE = 28, /* REF DEFAULT_SLICE_PREFIX: 16 addresses, 14 usable */
	OV_ALLOC_NAME_MAX = 63,	     /* one DNS label (RFC 1035 §2.3.4) */
	OV_ALLOC_MAX_NODES = 1024,   /* nodes present at once */
	OV_ALLOC_MAX_SUBNETS = 4096, /* service subnets present at once */
	OV_ALLOC_MAX_SLOT_BITS = 16, /* slice_len - cluster_len: at most 65536 slots (8 KiB map) */
	OV_PREFIX_STRLEN = 64,	     /* v6 text (<= 45) "/128", NUL */
	OV_ALLOC_SUBNET_SEP = 0x1f,  /* REF: unit separator between service and node bytes */
};

/* An address (len 32 or 128) or a prefix. addr in network order, the unused 12 bytes zero. */
struct ov_prefix {
	int family; /* 4 or 6 */
	uint8_t addr[16];
	uint8_t len;
};

/* Parse "a.b.c.d/n" or "v6/n": address as inet_pton takes it, n decimal without leading
 * zeros or sign, <= 32 or 128. Host bits may be set (see ov_prefix_is_network). 0 or -EINVAL. */
int ov_prefix_parse(const char *s, struct ov_prefix *ret);
/* Parse a bare address of the given family (0: either) into a /32 or /128. 0 or -EINVAL. */
int ov_addr_parse(const char *s, int family, struct ov_prefix *ret);
/* "addr/len" and "addr" in canonical inet_ntop text; "?" for a malformed struct. */
void ov_prefix_format(const struct ov_prefix *p, char out[static OV_PREFIX_STRLEN]);
void ov_addr_format(const struct ov_prefix *p, char out[static OV_PREFIX_STRLEN]);
/* True when no bit past len is set. */
bool ov_prefix_is_network(const struct ov_prefix *p);
/* True when inner (a prefix or an address) lies inside outer; false across families. */
bool ov_prefix_contains(const struct ov_prefix *outer, const struct ov_prefix *inner);
bool ov_prefix_equal(const struct ov_prefix *a, const struct ov_prefix *b);
/* Usable hosts as REF counts them: v4 2^(32-len) - 2 (0 for /31, /32); v6 2^(128-len) - 1,
 * saturating at UINT64_MAX. */
uint64_t ov_prefix_host_count(const struct ov_prefix *p);

/* FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
uint64_t ov_alloc_fnv1a64(uint64_t h, const void *data, size_t len);
#define OV_FNV1A64_INIT 0xcbf29ce484222325ULL
/* True for a name as described above. */
bool ov_alloc_name_valid(const char *name);

struct ov_alloc_config {
	struct ov_prefix cluster4; /* network, len so that slice_len - len <= 16 */
	struct ov_prefix cluster6; /* network, at least as many host bits as cluster4 */
	/* hosts: network inside cluster4, len in (cluster4.len, slice_len] */
	struct ov_prefix hosts;
	uint8_t slice_len; /* node slices and service subnets; <= 30 */
};

/* What a node holds. */
struct ov_alloc_lease {
	struct ov_prefix ip4;	/* /32 in the host range */
	struct ov_prefix ip6;	/* /128, derived */
	struct ov_prefix slice; /* slice_len */
};

/* Internal tables; read them through the functions below. */
struct ov_alloc_node {
	char name[OV_ALLOC_NAME_MAX + 1];
	uint32_t host; /* offset of ip4 from hosts' network */
	uint32_t slot;
};

struct ov_alloc_subnet {
	char service[OV_ALLOC_NAME_MAX + 1];
	char node[OV_ALLOC_NAME_MAX + 1];
	uint32_t slot;
};

struct ov_alloc {
	struct ov_alloc_config cfg;
	uint32_t next_host;  /* offset from hosts' network of the next address; only grows */
	uint32_t host_max;   /* last usable offset (hosts' size - 2) */
	uint32_t n_slots;    /* 2^(slice_len - cluster4.len) */
	uint32_t host_slot0; /* first slot the host range covers */
	uint32_t host_slots; /* slots it covers */
	uint32_t slots_free; /* slots neither covered nor held */
	uint8_t *slot_used;  /* bitmap, n_slots bits; host range bits set */
	struct ov_alloc_node *nodes; /* sorted by name */
	size_t n_nodes, cap_nodes;
	struct ov_alloc_subnet *subnets; /* sorted by (service, node) */
	size_t n_subnets, cap_subnets;
};

/* REF's defaults plus our host range. */
void ov_alloc_config_default(struct ov_alloc_config *ret);
/*
 * An empty allocator. 0; -EINVAL for a config that breaks the rules above (err, if not NULL,
 * says which); -ENOMEM. *ret is written only on success; release it with ov_alloc_done().
 */
int ov_alloc_init(struct ov_alloc *ret, const struct ov_alloc_config *cfg, char *err,
		  size_t errlen);
/* Frees the tables and leaves a zeroed struct. NULL-safe, and safe on a zeroed struct. */
void ov_alloc_done(struct ov_alloc *a);

/*
 * Give a node its host address and slice. Idempotent: 1 when newly placed, 0 when the node
 * already held them (the same lease). -EINVAL bad name; -ENOSPC no host address left, no
 * free slot, or OV_ALLOC_MAX_NODES present; -ENOMEM. ret (may be NULL) only on success.
 */
int ov_alloc_node_add(struct ov_alloc *a, const char *name, struct ov_alloc_lease *ret);
/* 0 and the lease, or -ENOENT. */
int ov_alloc_node_get(const struct ov_alloc *a, const char *name, struct ov_alloc_lease *ret);
/* Drop a node and its service subnets; its host address stays retired. 0 or -ENOENT. */
int ov_alloc_node_release(struct ov_alloc *a, const char *name);

/*
 * A /slice_len subnet for (service, node). 1 new, 0 already held (same subnet). -EINVAL bad
 * name; -ENOENT node not present; -ENOSPC no free slot or OV_ALLOC_MAX_SUBNETS; -ENOMEM.
 */
int ov_alloc_subnet_add(struct ov_alloc *a, const char *service, const char *node,
			struct ov_prefix *ret);
int ov_alloc_subnet_get(const struct ov_alloc *a, const char *service, const char *node,
			struct ov_prefix *ret);
/* 0 or -ENOENT. */
int ov_alloc_subnet_release(struct ov_alloc *a, const char *service, const char *node);

/*
 * The IPv6 twin of an address or prefix p4 inside cidr4, as node addresses are derived:
 * cidr6's network + (p4 - cidr4's network), length 128 - (32 - p4.len). 10.200.0.1 ->
 * fd00:200::1/128; the service subnet 10.200.103.32/28 -> fd00:200::67:20/124, and its
 * containers' addresses inside it. Unique because the IPv4 ones are (issue 12 item 4).
 * 0, or -EINVAL (p4 not inside cidr4, or cidr6 with fewer host bits). ret only on success.
 */
int ov_prefix_derive6(const struct ov_prefix *cidr4, const struct ov_prefix *cidr6,
		      const struct ov_prefix *p4, struct ov_prefix *ret);

/* Host addresses never handed out yet (the high-water mark's headroom). */
uint32_t ov_alloc_hosts_left(const struct ov_alloc *a);
uint32_t ov_alloc_slots_free(const struct ov_alloc *a);

/*
 * The persisted form, an object:
 *   {"cidr4": "10.200.0.0/16", "cidr6": "fd00:200::/48", "hosts": "10.200.0.0/20",
 *    "slice_prefix": 28, "next_host": "10.200.0.3",
 *    "nodes": [{"name": "leader", "ip4": "10.200.0.1", "ip6": "fd00:200::1",
 *               "slice": "10.200.174.64/28"}, ...],
 *    "subnets": [{"service": "svc-a", "node": "node-1", "subnet": "10.200.103.32/28"}, ...]}
 * Arrays sorted by name and by (service, node) so equal states give equal bytes. next_host
 * is an address of the host range; its broadcast address means "exhausted".
 * 0, -ENOMEM. *ret (a new reference) only on success.
 */
int ov_alloc_to_json(const struct ov_alloc *a, json_t **ret);
/*
 * The inverse, validating everything: exact field set and types, canonical CIDRs and the
 * config rules, every address and prefix inside its range, ip6 = derived(ip4), host offsets
 * below next_host, no slice in the host range, no slot, address, name or (service, node)
 * twice, every subnet's node present, names valid, caps. 0; -EINVAL with err naming the
 * field ("nodes[2].slice: ..."); -ENOMEM. *ret only on success (then ov_alloc_done() it).
 */
int ov_alloc_from_json(const json_t *j, struct ov_alloc *ret, char *err, size_t errlen);

/*
 * --- JSON field readers, shared with state.c ---
 * A reader context whose first error sticks: after a failure every reader returns NULL or
 * false and changes nothing, so a caller can read a whole object and check once. Messages
 * are "<path>.<key>: <reason>"; strings from the input are quoted printable and truncated.
 */
enum {
	OV_JSON_QUOTE_LEN = 48, /* '"' + up to 40 characters + "..." + '"' + NUL */
	OV_JSON_PATH_LEN = 128,
};

struct ov_jctx {
	char *err; /* may be NULL */
	size_t errlen;
	int ret; /* 0 or the first -errno */
};

void ov_jctx_init(struct ov_jctx *c, char *err, size_t errlen);
void ov_jctx_fail(struct ov_jctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* s as a printable, quoted, truncated string for messages. */
void ov_json_quote(const char *s, char out[static OV_JSON_QUOTE_LEN]);
/* "path.key", or "key" at the top. */
void ov_json_path(char out[static OV_JSON_PATH_LEN], const char *path, const char *key);
/* obj must be an object whose keys are all in the NULL-terminated list allowed. */
bool ov_json_fields(struct ov_jctx *c, const json_t *obj, const char *path,
		    const char *const *allowed);
/* The member of the given type; missing or of another type is an error. */
json_t *ov_json_get(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		    json_type type);
/* A string of 1..maxlen bytes without NULs. */
const char *ov_json_str(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
			size_t maxlen);
bool ov_json_int(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		 long long min, long long max, long long *ret);
/* A network prefix (host bits clear) of the family. */
bool ov_json_prefix(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		    int family, struct ov_prefix *ret);
bool ov_json_addr(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		  int family, struct ov_prefix *ret);
/* A name as ov_alloc_name_valid() wants it. */
bool ov_json_name(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		  char ret[static OV_ALLOC_NAME_MAX + 1]);
/* "addr/len" (with_len) or "addr" as a new JSON string; NULL on allocation failure. */
json_t *ov_json_prefix_new(const struct ov_prefix *p, bool with_len);
/* ov_alloc_from_json() reading into a caller's context, fields named under path. */
int ov_alloc_from_json_ctx(struct ov_jctx *c, const json_t *j, const char *path,
			   struct ov_alloc *ret);

#endif

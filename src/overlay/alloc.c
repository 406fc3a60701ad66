/* SPDX-License-Identifier: MIT */
/*
 * overlay/alloc — host addresses, node slices and service subnets from the cluster range,
 * placed as ZLayer's allocator places them (FNV-1a-64 then linear probing), and their JSON
 * form with a validating reader. See alloc.h for the layout and the reuse policy.
 *
 * Must not: do I/O, log, read the clock, or let a failed call change the allocator.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "lib/util.h"
#include "overlay/alloc.h"

/* --- prefixes ------------------------------------------------------------------------- */

static int family_bits(int family)
{
	return family == 4 ? 32 : family == 6 ? 128 : 0;
}

static bool prefix_sane(const struct ov_prefix *p)
{
	return family_bits(p->family) && p->len <= family_bits(p->family);
}

/* Strict decimal: digits only, no leading zero unless "0", <= max. */
static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int ov_addr_parse(const char *s, int family, struct ov_prefix *ret)
{
	struct ov_prefix p;
	size_t n = strlen(s);

	memset(&p, 0, sizeof(p));
	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return -EINVAL;
	if (strchr(s, ':')) {
		if (family == 4 || inet_pton(AF_INET6, s, p.addr) != 1)
			return -EINVAL;
		p.family = 6;
		p.len = 128;
	} else {
		if (family == 6 || inet_pton(AF_INET, s, p.addr) != 1)
			return -EINVAL;
		p.family = 4;
		p.len = 32;
	}
	*ret = p;
	return 0;
}

int ov_prefix_parse(const char *s, struct ov_prefix *ret)
{
	const char *slash = strchr(s, '/');
	char addr[INET6_ADDRSTRLEN];
	struct ov_prefix p;
	unsigned len;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (ov_addr_parse(addr, 0, &p))
		return -EINVAL;
	if (parse_uint(slash + 1, (unsigned)family_bits(p.family), &len))
		return -EINVAL;
	p.len = (uint8_t)len;
	*ret = p;
	return 0;
}

void ov_addr_format(const struct ov_prefix *p, char out[static OV_PREFIX_STRLEN])
{
	if (!prefix_sane(p) ||
	    !inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, out, OV_PREFIX_STRLEN))
		strcpy(out, "?");
}

void ov_prefix_format(const struct ov_prefix *p, char out[static OV_PREFIX_STRLEN])
{
	size_t n;

	ov_addr_format(p, out);
	if (out[0] == '?')
		return;
	n = strlen(out);
	snprintf(out + n, OV_PREFIX_STRLEN - n, "/%u", p->len);
}

/* True when a and b agree on their first len bits. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, b, whole))
		return false;
	if (!rest)
		return true;
	return !((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest)));
}

bool ov_prefix_is_network(const struct ov_prefix *p)
{
	static const uint8_t zero[16];
	uint8_t masked[16];

	if (!prefix_sane(p))
		return false;
	memcpy(masked, p->addr, sizeof(masked));
	for (unsigned i = p->len; i < 128; i++)
		masked[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return !memcmp(masked, p->addr, sizeof(masked)) &&
	       (p->family == 6 || !memcmp(p->addr + 4, zero, 12));
}

bool ov_prefix_contains(const struct ov_prefix *outer, const struct ov_prefix *inner)
{
	return prefix_sane(outer) && prefix_sane(inner) && outer->family == inner->family &&
	       inner->len >= outer->len && bits_equal(outer->addr, inner->addr, outer->len);
}

bool ov_prefix_equal(const struct ov_prefix *a, const struct ov_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

uint64_t ov_prefix_host_count(const struct ov_prefix *p)
{
	unsigned bits;

	if (!prefix_sane(p))
		return 0;
	bits = (unsigned)family_bits(p->family) - p->len;
	if (p->family == 4)
		return bits < 2 ? 0 : (1ULL << bits) - 2;
	if (bits == 0)
		return 0;
	return bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1;
}

/* a += v, 128-bit big-endian. */
static void add_be128(uint8_t a[16], uint64_t v)
{
	unsigned carry = 0;

	for (int i = 15; i >= 0; i--) {
		unsigned sum = a[i] + (unsigned)(v & 0xff) + carry;

		a[i] = (uint8_t)sum;
		carry = sum >> 8;
		v >>= 8;
	}
}

static struct ov_prefix v4_prefix(uint32_t addr, uint8_t len)
{
	struct ov_prefix p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.len = len;
	put_be32(p.addr, addr);
	return p;
}

/* --- names and hashing ---------------------------------------------------------------- */

uint64_t ov_alloc_fnv1a64(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

bool ov_alloc_name_valid(const char *name)
{
	size_t n = strnlen(name, OV_ALLOC_NAME_MAX + 1);

	if (n == 0 || n > OV_ALLOC_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return true;
}

static uint64_t subnet_hash(const char *service, const char *node)
{
	const uint8_t sep = OV_ALLOC_SUBNET_SEP;
	uint64_t h = ov_alloc_fnv1a64(OV_FNV1A64_INIT, service, strlen(service));

	h = ov_alloc_fnv1a64(h, &sep, 1);
	return ov_alloc_fnv1a64(h, node, strlen(node));
}

/* --- JSON reader context -------------------------------------------------------------- */

void ov_jctx_init(struct ov_jctx *c, char *err, size_t errlen)
{
	c->err = err;
	c->errlen = err ? errlen : 0;
	c->ret = 0;
	if (c->errlen)
		c->err[0] = '\0';
}

void ov_jctx_fail(struct ov_jctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->ret)
		return;
	c->ret = code;
	if (!c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

void ov_json_quote(const char *s, char out[static OV_JSON_QUOTE_LEN])
{
	enum { SHOWN = OV_JSON_QUOTE_LEN - 8 };
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; s[i] && i < SHOWN; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	if (s[i]) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

void ov_json_path(char out[static OV_JSON_PATH_LEN], const char *path, const char *key)
{
	/* a cut-short path still names the field well enough for a message */
	if (snprintf(out, OV_JSON_PATH_LEN, "%s%s%s", path, *path && *key ? "." : "", key) < 0)
		out[0] = '\0';
}

/* "path[i]" */
static void path_index(char out[static OV_JSON_PATH_LEN], const char *path, size_t i)
{
	if (snprintf(out, OV_JSON_PATH_LEN, "%s[%zu]", path, i) < 0)
		out[0] = '\0';
}

bool ov_json_fields(struct ov_jctx *c, const json_t *obj, const char *path,
		    const char *const *allowed)
{
	const char *key;
	json_t *v;

	if (c->ret)
		return false;
	if (!json_is_object(obj)) {
		ov_jctx_fail(c, -EINVAL, "%s: expected an object", *path ? path : "top level");
		return false;
	}
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *const *a;
		char q[OV_JSON_QUOTE_LEN];

		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (!*a) {
			ov_json_quote(key, q);
			ov_jctx_fail(c, -EINVAL, "%s: unknown field %s", *path ? path : "top level",
				     q);
			return false;
		}
	}
	return true;
}

static const char *type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

json_t *ov_json_get(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		    json_type type)
{
	char p[OV_JSON_PATH_LEN];
	json_t *v;

	if (c->ret)
		return NULL;
	ov_json_path(p, path, key);
	v = json_object_get(obj, key);
	if (!v) {
		ov_jctx_fail(c, -EINVAL, "%s: missing", p);
		return NULL;
	}
	if (json_typeof(v) != type) {
		ov_jctx_fail(c, -EINVAL, "%s: expected %s, found %s", p, type_name(type),
			     type_name(json_typeof(v)));
		return NULL;
	}
	return v;
}

const char *ov_json_str(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
			size_t maxlen)
{
	json_t *v = ov_json_get(c, obj, path, key, JSON_STRING);
	char p[OV_JSON_PATH_LEN];
	const char *s;
	size_t n;

	if (!v)
		return NULL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > maxlen || strlen(s) != n) {
		ov_json_path(p, path, key);
		ov_jctx_fail(c, -EINVAL, "%s: %s", p,
			     n == 0	  ? "empty"
			     : n > maxlen ? "too long"
					  : "contains a NUL");
		return NULL;
	}
	return s;
}

bool ov_json_int(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		 long long min, long long max, long long *ret)
{
	json_t *v = ov_json_get(c, obj, path, key, JSON_INTEGER);
	char p[OV_JSON_PATH_LEN];
	long long n;

	if (!v)
		return false;
	n = json_integer_value(v);
	if (n < min || n > max) {
		ov_json_path(p, path, key);
		ov_jctx_fail(c, -EINVAL, "%s: %lld is out of range %lld..%lld", p, n, min, max);
		return false;
	}
	*ret = n;
	return true;
}

bool ov_json_prefix(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		    int family, struct ov_prefix *ret)
{
	const char *s = ov_json_str(c, obj, path, key, OV_PREFIX_STRLEN);
	char p[OV_JSON_PATH_LEN], q[OV_JSON_QUOTE_LEN];
	struct ov_prefix x;

	if (!s)
		return false;
	ov_json_path(p, path, key);
	ov_json_quote(s, q);
	if (ov_prefix_parse(s, &x) || x.family != family) {
		ov_jctx_fail(c, -EINVAL, "%s: %s is not an IPv%d prefix", p, q, family);
		return false;
	}
	if (!ov_prefix_is_network(&x)) {
		ov_jctx_fail(c, -EINVAL, "%s: %s has host bits set", p, q);
		return false;
	}
	*ret = x;
	return true;
}

bool ov_json_addr(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		  int family, struct ov_prefix *ret)
{
	const char *s = ov_json_str(c, obj, path, key, OV_PREFIX_STRLEN);
	char p[OV_JSON_PATH_LEN], q[OV_JSON_QUOTE_LEN];
	struct ov_prefix x;

	if (!s)
		return false;
	if (ov_addr_parse(s, family, &x)) {
		ov_json_path(p, path, key);
		ov_json_quote(s, q);
		ov_jctx_fail(c, -EINVAL, "%s: %s is not an IPv%d address", p, q, family);
		return false;
	}
	*ret = x;
	return true;
}

bool ov_json_name(struct ov_jctx *c, const json_t *obj, const char *path, const char *key,
		  char ret[static OV_ALLOC_NAME_MAX + 1])
{
	const char *s = ov_json_str(c, obj, path, key, OV_ALLOC_NAME_MAX + 8);
	char p[OV_JSON_PATH_LEN], q[OV_JSON_QUOTE_LEN];

	if (!s)
		return false;
	if (!ov_alloc_name_valid(s)) {
		ov_json_path(p, path, key);
		ov_json_quote(s, q);
		ov_jctx_fail(c, -EINVAL,
			     "%s: %s is not a valid name (1..63 of a-z, 0-9, '-', no '-' at "
			     "either end)",
			     p, q);
		return false;
	}
	strcpy(ret, s);
	return true;
}

/* --- the allocator -------------------------------------------------------------------- */

void ov_alloc_config_default(struct ov_alloc_config *ret)
{
	struct ov_alloc_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR4, &cfg.cluster4);
	ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR6, &cfg.cluster6);
	ov_prefix_parse(OV_ALLOC_DEFAULT_HOSTS, &cfg.hosts);
	cfg.slice_len = OV_ALLOC_DEFAULT_SLICE;
	*ret = cfg;
}

/* The config rules of alloc.h; fields named as in JSON, under path. */
static bool config_check(struct ov_jctx *c, const struct ov_alloc_config *cfg, const char *path)
{
	char p[OV_JSON_PATH_LEN];
	const struct ov_prefix *c4 = &cfg->cluster4, *c6 = &cfg->cluster6, *h = &cfg->hosts;

	if (c->ret)
		return false;
	if (c4->family != 4 || !ov_prefix_is_network(c4)) {
		ov_json_path(p, path, "cidr4");
		ov_jctx_fail(c, -EINVAL, "%s: not an IPv4 network prefix", p);
	} else if (c6->family != 6 || !ov_prefix_is_network(c6)) {
		ov_json_path(p, path, "cidr6");
		ov_jctx_fail(c, -EINVAL, "%s: not an IPv6 network prefix", p);
	} else if (128 - c6->len < 32 - c4->len) {
		ov_json_path(p, path, "cidr6");
		ov_jctx_fail(c, -EINVAL, "%s: /%u has fewer host bits than cidr4 /%u", p, c6->len,
			     c4->len);
	} else if (cfg->slice_len <= c4->len || cfg->slice_len > 30 ||
		   cfg->slice_len - c4->len > OV_ALLOC_MAX_SLOT_BITS) {
		ov_json_path(p, path, "slice_prefix");
		ov_jctx_fail(c, -EINVAL,
			     "%s: /%u must be longer than cidr4 /%u, at most /30, "
			     "and give at most 2^%d slices",
			     p, cfg->slice_len, c4->len, OV_ALLOC_MAX_SLOT_BITS);
	} else if (h->family != 4 || !ov_prefix_is_network(h) || !ov_prefix_contains(c4, h) ||
		   h->len <= c4->len || h->len > cfg->slice_len) {
		ov_json_path(p, path, "hosts");
		ov_jctx_fail(c, -EINVAL,
			     "%s: must be an IPv4 network inside cidr4, longer than "
			     "cidr4 and no longer than slice_prefix",
			     p);
	}
	return !c->ret;
}

/* Builds an empty allocator in *a (zeroed first); on failure *a needs only ov_alloc_done. */
static int alloc_setup(struct ov_alloc *a, const struct ov_alloc_config *cfg)
{
	uint32_t c4 = get_be32(cfg->cluster4.addr), h = get_be32(cfg->hosts.addr);
	unsigned shift = 32u - cfg->slice_len;

	memset(a, 0, sizeof(*a));
	a->cfg = *cfg;
	a->next_host = 1;
	a->host_max = (uint32_t)((1ULL << (32 - cfg->hosts.len)) - 2);
	a->n_slots = 1u << (cfg->slice_len - cfg->cluster4.len);
	a->host_slot0 = (h - c4) >> shift;
	a->host_slots = 1u << (cfg->slice_len - cfg->hosts.len);
	a->slots_free = a->n_slots - a->host_slots;
	a->slot_used = calloc((a->n_slots + 7) / 8, 1);
	if (!a->slot_used)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->host_slots; i++) {
		uint32_t s = a->host_slot0 + i;

		a->slot_used[s / 8] |= (uint8_t)(1u << (s % 8));
	}
	return 0;
}

int ov_alloc_init(struct ov_alloc *ret, const struct ov_alloc_config *cfg, char *err, size_t errlen)
{
	struct ov_jctx c;
	struct ov_alloc a;
	int r;

	ov_jctx_init(&c, err, errlen);
	if (!config_check(&c, cfg, ""))
		return c.ret;
	r = alloc_setup(&a, cfg);
	if (r < 0) {
		ov_alloc_done(&a);
		return r;
	}
	*ret = a;
	return 0;
}

void ov_alloc_done(struct ov_alloc *a)
{
	if (!a)
		return;
	free(a->slot_used);
	free(a->nodes);
	free(a->subnets);
	memset(a, 0, sizeof(*a));
}

static bool slot_test(const struct ov_alloc *a, uint32_t s)
{
	return a->slot_used[s / 8] & (1u << (s % 8));
}

static void slot_set(struct ov_alloc *a, uint32_t s)
{
	a->slot_used[s / 8] |= (uint8_t)(1u << (s % 8));
	a->slots_free--;
}

static void slot_clear(struct ov_alloc *a, uint32_t s)
{
	a->slot_used[s / 8] &= (uint8_t) ~(1u << (s % 8));
	a->slots_free++;
}

static struct ov_prefix slot_prefix(const struct ov_alloc *a, uint32_t s)
{
	return v4_prefix(get_be32(a->cfg.cluster4.addr) + (s << (32 - a->cfg.slice_len)),
			 a->cfg.slice_len);
}

/* REF's placement: hash mod slot count, then the first free slot forward, wrapping. */
static uint32_t slot_place(const struct ov_alloc *a, uint64_t hash)
{
	uint32_t mask = a->n_slots - 1, s = (uint32_t)(hash & mask);

	while (slot_test(a, s))
		s = (s + 1) & mask;
	return s;
}

int ov_prefix_derive6(const struct ov_prefix *cidr4, const struct ov_prefix *cidr6,
		      const struct ov_prefix *p4, struct ov_prefix *ret)
{
	struct ov_prefix r;

	if (!cidr4 || !cidr6 || !p4 || cidr4->family != 4 || cidr6->family != 6 ||
	    p4->family != 4 || p4->len > 32 || 128 - cidr6->len < 32 - cidr4->len ||
	    !ov_prefix_is_network(cidr4) || !ov_prefix_is_network(cidr6) ||
	    !ov_prefix_contains(cidr4, p4) || p4->len < cidr4->len)
		return -EINVAL;
	r = *cidr6;
	add_be128(r.addr, (uint64_t)(get_be32(p4->addr) - get_be32(cidr4->addr)));
	r.len = (uint8_t)(128 - (32 - p4->len));
	*ret = r;
	return 0;
}

static struct ov_alloc_lease node_lease(const struct ov_alloc *a, const struct ov_alloc_node *n)
{
	uint32_t h = get_be32(a->cfg.hosts.addr);
	struct ov_alloc_lease l;

	l.ip4 = v4_prefix(h + n->host, 32);
	l.ip6 = a->cfg.cluster6;
	l.ip6.len = 128;
	add_be128(l.ip6.addr, (uint64_t)(h - get_be32(a->cfg.cluster4.addr)) + n->host);
	l.slice = slot_prefix(a, n->slot);
	return l;
}

/* Index of name, or where it would go; true when found. */
static bool node_find(const struct ov_alloc *a, const char *name, size_t *idx)
{
	size_t lo = 0, hi = a->n_nodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(a->nodes[mid].name, name);

		if (r == 0) {
			*idx = mid;
			return true;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return false;
}

static int subnet_cmp_key(const struct ov_alloc_subnet *s, const char *service, const char *node)
{
	int r = strcmp(s->service, service);

	return r ? r : strcmp(s->node, node);
}

static bool subnet_find(const struct ov_alloc *a, const char *service, const char *node,
			size_t *idx)
{
	size_t lo = 0, hi = a->n_subnets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = subnet_cmp_key(&a->subnets[mid], service, node);

		if (r == 0) {
			*idx = mid;
			return true;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return false;
}

/* Room for one more element in *arr (size elsize, cap entries at most). 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elsize, size_t max)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	p = realloc(*arr, ncap * elsize);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int ov_alloc_node_add(struct ov_alloc *a, const char *name, struct ov_alloc_lease *ret)
{
	struct ov_alloc_node *n;
	size_t idx;
	int r;

	if (!ov_alloc_name_valid(name))
		return -EINVAL;
	if (node_find(a, name, &idx)) {
		if (ret)
			*ret = node_lease(a, &a->nodes[idx]);
		return 0;
	}
	if (a->n_nodes >= OV_ALLOC_MAX_NODES || a->next_host > a->host_max || !a->slots_free)
		return -ENOSPC;
	r = grow((void **)&a->nodes, &a->cap_nodes, a->n_nodes, sizeof(*a->nodes),
		 OV_ALLOC_MAX_NODES);
	if (r < 0)
		return r;
	memmove(&a->nodes[idx + 1], &a->nodes[idx], (a->n_nodes - idx) * sizeof(*a->nodes));
	n = &a->nodes[idx];
	memset(n, 0, sizeof(*n));
	strcpy(n->name, name);
	n->host = a->next_host++;
	n->slot = slot_place(a, ov_alloc_fnv1a64(OV_FNV1A64_INIT, name, strlen(name)));
	slot_set(a, n->slot);
	a->n_nodes++;
	if (ret)
		*ret = node_lease(a, n);
	return 1;
}

int ov_alloc_node_get(const struct ov_alloc *a, const char *name, struct ov_alloc_lease *ret)
{
	size_t idx;

	if (!node_find(a, name, &idx))
		return -ENOENT;
	if (ret)
		*ret = node_lease(a, &a->nodes[idx]);
	return 0;
}

int ov_alloc_node_release(struct ov_alloc *a, const char *name)
{
	size_t idx, k = 0;

	if (!node_find(a, name, &idx))
		return -ENOENT;
	for (size_t i = 0; i < a->n_subnets; i++) {
		if (!strcmp(a->subnets[i].node, name))
			slot_clear(a, a->subnets[i].slot);
		else
			a->subnets[k++] = a->subnets[i];
	}
	a->n_subnets = k;
	slot_clear(a, a->nodes[idx].slot);
	memmove(&a->nodes[idx], &a->nodes[idx + 1], (a->n_nodes - idx - 1) * sizeof(*a->nodes));
	a->n_nodes--;
	return 0;
}

int ov_alloc_subnet_add(struct ov_alloc *a, const char *service, const char *node,
			struct ov_prefix *ret)
{
	struct ov_alloc_subnet *s;
	size_t idx, nidx;
	int r;

	if (!ov_alloc_name_valid(service) || !ov_alloc_name_valid(node))
		return -EINVAL;
	if (!node_find(a, node, &nidx))
		return -ENOENT;
	if (subnet_find(a, service, node, &idx)) {
		if (ret)
			*ret = slot_prefix(a, a->subnets[idx].slot);
		return 0;
	}
	if (a->n_subnets >= OV_ALLOC_MAX_SUBNETS || !a->slots_free)
		return -ENOSPC;
	r = grow((void **)&a->subnets, &a->cap_subnets, a->n_subnets, sizeof(*a->subnets),
		 OV_ALLOC_MAX_SUBNETS);
	if (r < 0)
		return r;
	memmove(&a->subnets[idx + 1], &a->subnets[idx], (a->n_subnets - idx) * sizeof(*a->subnets));
	s = &a->subnets[idx];
	memset(s, 0, sizeof(*s));
	strcpy(s->service, service);
	strcpy(s->node, node);
	s->slot = slot_place(a, subnet_hash(service, node));
	slot_set(a, s->slot);
	a->n_subnets++;
	if (ret)
		*ret = slot_prefix(a, s->slot);
	return 1;
}

int ov_alloc_subnet_get(const struct ov_alloc *a, const char *service, const char *node,
			struct ov_prefix *ret)
{
	size_t idx;

	if (!subnet_find(a, service, node, &idx))
		return -ENOENT;
	if (ret)
		*ret = slot_prefix(a, a->subnets[idx].slot);
	return 0;
}

int ov_alloc_subnet_release(struct ov_alloc *a, const char *service, const char *node)
{
	size_t idx;

	if (!subnet_find(a, service, node, &idx))
		return -ENOENT;
	slot_clear(a, a->subnets[idx].slot);
	memmove(&a->subnets[idx], &a->subnets[idx + 1],
		(a->n_subnets - idx - 1) * sizeof(*a->subnets));
	a->n_subnets--;
	return 0;
}

uint32_t ov_alloc_hosts_left(const struct ov_alloc *a)
{
	return a->next_host > a->host_max ? 0 : a->host_max - a->next_host + 1;
}

uint32_t ov_alloc_slots_free(const struct ov_alloc *a)
{
	return a->slots_free;
}

/* --- JSON ----------------------------------------------------------------------------- */

json_t *ov_json_prefix_new(const struct ov_prefix *p, bool with_len)
{
	char buf[OV_PREFIX_STRLEN];

	if (with_len)
		ov_prefix_format(p, buf);
	else
		ov_addr_format(p, buf);
	return json_string(buf);
}

int ov_alloc_to_json(const struct ov_alloc *a, json_t **ret)
{
	json_t *o = json_object(), *nodes = json_array(), *subnets = json_array();
	struct ov_prefix next = v4_prefix(get_be32(a->cfg.hosts.addr) + a->next_host, 32);
	int bad = !o || !nodes || !subnets;

	bad |= json_object_set_new(o, "cidr4", ov_json_prefix_new(&a->cfg.cluster4, true));
	bad |= json_object_set_new(o, "cidr6", ov_json_prefix_new(&a->cfg.cluster6, true));
	bad |= json_object_set_new(o, "hosts", ov_json_prefix_new(&a->cfg.hosts, true));
	bad |= json_object_set_new(o, "slice_prefix", json_integer(a->cfg.slice_len));
	bad |= json_object_set_new(o, "next_host", ov_json_prefix_new(&next, false));
	for (size_t i = 0; i < a->n_nodes && !bad; i++) {
		struct ov_alloc_lease l = node_lease(a, &a->nodes[i]);
		json_t *n = json_object();

		bad |= json_object_set_new(n, "name", json_string(a->nodes[i].name));
		bad |= json_object_set_new(n, "ip4", ov_json_prefix_new(&l.ip4, false));
		bad |= json_object_set_new(n, "ip6", ov_json_prefix_new(&l.ip6, false));
		bad |= json_object_set_new(n, "slice", ov_json_prefix_new(&l.slice, true));
		bad |= json_array_append_new(nodes, n);
	}
	for (size_t i = 0; i < a->n_subnets && !bad; i++) {
		struct ov_prefix p = slot_prefix(a, a->subnets[i].slot);
		json_t *s = json_object();

		bad |= json_object_set_new(s, "service", json_string(a->subnets[i].service));
		bad |= json_object_set_new(s, "node", json_string(a->subnets[i].node));
		bad |= json_object_set_new(s, "subnet", ov_json_prefix_new(&p, true));
		bad |= json_array_append_new(subnets, s);
	}
	bad |= json_object_set(o, "nodes", nodes);
	bad |= json_object_set(o, "subnets", subnets);
	json_decref(nodes);
	json_decref(subnets);
	if (bad) {
		json_decref(o);
		return -ENOMEM;
	}
	*ret = o;
	return 0;
}

/* Reads a slice or subnet of a's slot size, inside cidr4 and outside the host range. */
static bool json_slot(struct ov_jctx *c, const struct ov_alloc *a, const json_t *obj,
		      const char *path, const char *key, uint32_t *ret)
{
	char p[OV_JSON_PATH_LEN], buf[OV_PREFIX_STRLEN];
	struct ov_prefix x;
	uint32_t s;

	if (!ov_json_prefix(c, obj, path, key, 4, &x))
		return false;
	ov_json_path(p, path, key);
	ov_prefix_format(&x, buf);
	if (x.len != a->cfg.slice_len || !ov_prefix_contains(&a->cfg.cluster4, &x)) {
		ov_jctx_fail(c, -EINVAL, "%s: %s is not a /%u inside cidr4", p, buf,
			     a->cfg.slice_len);
		return false;
	}
	s = (get_be32(x.addr) - get_be32(a->cfg.cluster4.addr)) >> (32 - a->cfg.slice_len);
	if (s - a->host_slot0 < a->host_slots) {
		ov_jctx_fail(c, -EINVAL, "%s: %s overlaps the host range", p, buf);
		return false;
	}
	if (slot_test(a, s)) {
		const char *who = "?";

		for (size_t i = 0; i < a->n_nodes; i++)
			if (a->nodes[i].slot == s)
				who = a->nodes[i].name;
		for (size_t i = 0; i < a->n_subnets; i++)
			if (a->subnets[i].slot == s)
				who = a->subnets[i].service;
		ov_jctx_fail(c, -EINVAL, "%s: %s is already held by %s", p, buf, who);
		return false;
	}
	*ret = s;
	return true;
}

static int node_cmp(const void *x, const void *y)
{
	return strcmp(((const struct ov_alloc_node *)x)->name,
		      ((const struct ov_alloc_node *)y)->name);
}

static int subnet_cmp(const void *x, const void *y)
{
	const struct ov_alloc_subnet *b = y;

	return subnet_cmp_key(x, b->service, b->node);
}

static void read_nodes(struct ov_jctx *c, struct ov_alloc *a, const json_t *arr, const char *path,
		       uint8_t *host_seen)
{
	static const char *const fields[] = {"name", "ip4", "ip6", "slice", NULL};
	uint32_t h = get_be32(a->cfg.hosts.addr);

	for (size_t i = 0; i < json_array_size(arr) && !c->ret; i++) {
		const json_t *e = json_array_get(arr, i);
		char p[OV_JSON_PATH_LEN], q[OV_JSON_PATH_LEN], buf[OV_PREFIX_STRLEN];
		struct ov_alloc_node n;
		struct ov_prefix ip4, ip6;
		struct ov_alloc_lease l;
		uint32_t off;

		memset(&n, 0, sizeof(n));
		path_index(p, path, i);
		if (!ov_json_fields(c, e, p, fields) || !ov_json_name(c, e, p, "name", n.name) ||
		    !ov_json_addr(c, e, p, "ip4", 4, &ip4) ||
		    !ov_json_addr(c, e, p, "ip6", 6, &ip6))
			return;
		off = get_be32(ip4.addr) - h;
		ov_json_path(q, p, "ip4");
		ov_addr_format(&ip4, buf);
		if (!ov_prefix_contains(&a->cfg.hosts, &ip4) || off < 1 || off > a->host_max) {
			ov_jctx_fail(c, -EINVAL, "%s: %s is not a host address of hosts", q, buf);
			return;
		}
		if (off >= a->next_host) {
			ov_jctx_fail(c, -EINVAL, "%s: %s is not below next_host", q, buf);
			return;
		}
		if (host_seen[off / 8] & (1u << (off % 8))) {
			ov_jctx_fail(c, -EINVAL, "%s: %s is held twice", q, buf);
			return;
		}
		host_seen[off / 8] |= (uint8_t)(1u << (off % 8));
		n.host = off;
		l = node_lease(a, &n);
		if (!ov_prefix_equal(&ip6, &l.ip6)) {
			ov_json_path(q, p, "ip6");
			ov_addr_format(&l.ip6, buf);
			ov_jctx_fail(c, -EINVAL, "%s: must be %s, derived from ip4", q, buf);
			return;
		}
		if (!json_slot(c, a, e, p, "slice", &n.slot))
			return;
		slot_set(a, n.slot);
		a->nodes[a->n_nodes++] = n;
	}
}

static void read_subnets(struct ov_jctx *c, struct ov_alloc *a, const json_t *arr, const char *path)
{
	static const char *const fields[] = {"service", "node", "subnet", NULL};

	for (size_t i = 0; i < json_array_size(arr) && !c->ret; i++) {
		const json_t *e = json_array_get(arr, i);
		char p[OV_JSON_PATH_LEN], q[OV_JSON_PATH_LEN], qn[OV_JSON_QUOTE_LEN];
		struct ov_alloc_subnet s;
		size_t idx;

		memset(&s, 0, sizeof(s));
		path_index(p, path, i);
		if (!ov_json_fields(c, e, p, fields) ||
		    !ov_json_name(c, e, p, "service", s.service) ||
		    !ov_json_name(c, e, p, "node", s.node))
			return;
		if (!node_find(a, s.node, &idx)) {
			ov_json_path(q, p, "node");
			ov_json_quote(s.node, qn);
			ov_jctx_fail(c, -EINVAL, "%s: %s is not in nodes", q, qn);
			return;
		}
		if (!json_slot(c, a, e, p, "subnet", &s.slot))
			return;
		slot_set(a, s.slot);
		a->subnets[a->n_subnets++] = s;
	}
}

int ov_alloc_from_json_ctx(struct ov_jctx *c, const json_t *j, const char *path,
			   struct ov_alloc *ret)
{
	static const char *const fields[] = {"cidr4",	  "cidr6", "hosts",   "slice_prefix",
					     "next_host", "nodes", "subnets", NULL};
	char p[OV_JSON_PATH_LEN], pn[OV_JSON_PATH_LEN], qn[OV_JSON_QUOTE_LEN];
	struct ov_alloc_config cfg;
	struct ov_prefix next;
	const json_t *nodes = NULL, *subnets = NULL;
	uint8_t *host_seen = NULL;
	struct ov_alloc a;
	long long slice = 0;
	int r;

	memset(&a, 0, sizeof(a));
	memset(&cfg, 0, sizeof(cfg));
	if (ov_json_fields(c, j, path, fields) &&
	    ov_json_prefix(c, j, path, "cidr4", 4, &cfg.cluster4) &&
	    ov_json_prefix(c, j, path, "cidr6", 6, &cfg.cluster6) &&
	    ov_json_prefix(c, j, path, "hosts", 4, &cfg.hosts) &&
	    ov_json_int(c, j, path, "slice_prefix", 1, 32, &slice)) {
		cfg.slice_len = (uint8_t)slice;
		config_check(c, &cfg, path);
	}
	if (c->ret)
		return c->ret;
	r = alloc_setup(&a, &cfg);
	if (r < 0) {
		ov_jctx_fail(c, r, "%s: out of memory", *path ? path : "allocator");
		goto out;
	}
	if (ov_json_addr(c, j, path, "next_host", 4, &next)) {
		uint32_t off = get_be32(next.addr) - get_be32(cfg.hosts.addr);

		if (!ov_prefix_contains(&cfg.hosts, &next) || off < 1 || off > a.host_max + 1) {
			ov_json_path(p, path, "next_host");
			ov_jctx_fail(c, -EINVAL, "%s: not a host address of hosts (or its last)",
				     p);
		}
		a.next_host = off;
	}
	nodes = ov_json_get(c, j, path, "nodes", JSON_ARRAY);
	subnets = ov_json_get(c, j, path, "subnets", JSON_ARRAY);
	if (c->ret)
		goto out;
	ov_json_path(pn, path, "nodes");
	ov_json_path(p, path, "subnets");
	if (json_array_size(nodes) > OV_ALLOC_MAX_NODES) {
		ov_jctx_fail(c, -EINVAL, "%s: more than %d entries", pn, OV_ALLOC_MAX_NODES);
		goto out;
	}
	if (json_array_size(subnets) > OV_ALLOC_MAX_SUBNETS) {
		ov_jctx_fail(c, -EINVAL, "%s: more than %d entries", p, OV_ALLOC_MAX_SUBNETS);
		goto out;
	}
	a.nodes = calloc(json_array_size(nodes) + 1, sizeof(*a.nodes));
	a.subnets = calloc(json_array_size(subnets) + 1, sizeof(*a.subnets));
	host_seen = calloc((a.host_max + 2 + 7) / 8, 1);
	if (!a.nodes || !a.subnets || !host_seen) {
		ov_jctx_fail(c, -ENOMEM, "%s: out of memory", *path ? path : "allocator");
		goto out;
	}
	a.cap_nodes = json_array_size(nodes) + 1;
	a.cap_subnets = json_array_size(subnets) + 1;
	read_nodes(c, &a, nodes, pn, host_seen);
	if (c->ret)
		goto out;
	qsort(a.nodes, a.n_nodes, sizeof(*a.nodes), node_cmp);
	for (size_t i = 1; i < a.n_nodes; i++) {
		if (!strcmp(a.nodes[i - 1].name, a.nodes[i].name)) {
			ov_json_quote(a.nodes[i].name, qn);
			ov_jctx_fail(c, -EINVAL, "%s: name %s appears twice", pn, qn);
			goto out;
		}
	}
	read_subnets(c, &a, subnets, p);
	if (c->ret)
		goto out;
	qsort(a.subnets, a.n_subnets, sizeof(*a.subnets), subnet_cmp);
	for (size_t i = 1; i < a.n_subnets; i++) {
		if (!subnet_cmp(&a.subnets[i - 1], &a.subnets[i])) {
			ov_json_quote(a.subnets[i].service, qn);
			ov_jctx_fail(c, -EINVAL, "%s: service %s on node \"%s\" appears twice", p,
				     qn, a.subnets[i].node);
			goto out;
		}
	}
out:
	free(host_seen);
	if (c->ret) {
		ov_alloc_done(&a);
		return c->ret;
	}
	*ret = a;
	return 0;
}

int ov_alloc_from_json(const json_t *j, struct ov_alloc *ret, char *err, size_t errlen)
{
	struct ov_jctx c;

	ov_jctx_init(&c, err, errlen);
	return ov_alloc_from_json_ctx(&c, j, "", ret);
}

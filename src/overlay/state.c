/* SPDX-License-Identifier: MIT */
/*
 * overlay/state — the state directory: state.json (parse, check, format), private.key, the
 * lock, and atomic writes. See state.h for the file formats and the refusal rules.
 *
 * Must not: log, rewrite or "repair" a file it could not load, write a file its own loader
 * would refuse, or leave key text in buffers it does not wipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "overlay/state.h"

/* --- endpoints and zones -------------------------------------------------------------- */

int ov_endpoint_parse(const char *s, struct ov_endpoint *ret)
{
	char addr[INET6_ADDRSTRLEN];
	const char *a = s, *port;
	struct ov_endpoint e;
	size_t alen;
	unsigned long v = 0;

	memset(&e, 0, sizeof(e));
	if (strnlen(s, OV_ENDPOINT_STRLEN) >= OV_ENDPOINT_STRLEN)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strstr(s, "]:");

		if (!close)
			return -EINVAL;
		a = s + 1;
		alen = (size_t)(close - a);
		port = close + 2;
		e.family = 6;
	} else {
		const char *colon = strchr(s, ':');

		if (!colon)
			return -EINVAL;
		alen = (size_t)(colon - s);
		port = colon + 1;
		e.family = 4;
	}
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (inet_pton(e.family == 4 ? AF_INET : AF_INET6, addr, e.addr) != 1)
		return -EINVAL;
	if (!*port || port[0] == '0')
		return -EINVAL;
	for (const char *p = port; *p; p++) {
		if (*p < '0' || *p > '9' || p - port >= 5)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	e.port = (uint16_t)v;
	*ret = e;
	return 0;
}

void ov_endpoint_format(const struct ov_endpoint *e, char out[static OV_ENDPOINT_STRLEN])
{
	char a[INET6_ADDRSTRLEN];

	if ((e->family != 4 && e->family != 6) ||
	    !inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, a, sizeof(a))) {
		strcpy(out, "?");
		return;
	}
	snprintf(out, OV_ENDPOINT_STRLEN, e->family == 4 ? "%s:%u" : "[%s]:%u", a, e->port);
}

/* Labels as ov_alloc_name_valid() wants them, dot-separated, one optional trailing dot. */
static bool zone_valid(const char *z)
{
	size_t n = strlen(z);

	if (n && z[n - 1] == '.')
		n--;
	if (n == 0 || n > OV_STATE_ZONE_MAX)
		return false;
	for (size_t i = 0; i < n;) {
		char label[OV_ALLOC_NAME_MAX + 1];
		size_t k = i;

		while (k < n && z[k] != '.')
			k++;
		if (k - i > OV_ALLOC_NAME_MAX)
			return false;
		memcpy(label, z + i, k - i);
		label[k - i] = '\0';
		if (!ov_alloc_name_valid(label))
			return false;
		i = k + 1;
	}
	return true;
}

/* --- state lifecycle ------------------------------------------------------------------ */

void ov_state_init(struct ov_state *s)
{
	memset(s, 0, sizeof(*s));
	ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR4, &s->cidr4);
	ov_prefix_parse(OV_ALLOC_DEFAULT_CIDR6, &s->cidr6);
	s->port = OV_STATE_DEFAULT_PORT;
	s->mtu = OV_STATE_DEFAULT_MTU;
	s->keepalive = OV_STATE_DEFAULT_KEEPALIVE;
	strcpy(s->zone, OV_STATE_DEFAULT_ZONE);
}

void ov_state_done(struct ov_state *s)
{
	if (!s)
		return;
	free(s->members);
	ov_alloc_done(&s->alloc);
	ov_state_init(s);
}

/* --- parsing -------------------------------------------------------------------------- */

enum peer_kind { PEER_SELF, PEER_LEADER, PEER_MEMBER };

static const char *role_name(enum ov_role r)
{
	return r == OV_ROLE_LEADER ? "leader" : r == OV_ROLE_MEMBER ? "member" : "?";
}

static void read_cluster(struct ov_jctx *c, const json_t *root, struct ov_state *s)
{
	static const char *const fields[] = {"cidr4", "cidr6",	   "port", "zone",
					     "mtu",   "keepalive", NULL};
	const json_t *o = ov_json_get(c, root, "", "cluster", JSON_OBJECT);
	long long port, mtu, ka;
	const char *zone;
	char q[OV_JSON_QUOTE_LEN];

	if (!o || !ov_json_fields(c, o, "cluster", fields) ||
	    !ov_json_prefix(c, o, "cluster", "cidr4", 4, &s->cidr4) ||
	    !ov_json_prefix(c, o, "cluster", "cidr6", 6, &s->cidr6) ||
	    !ov_json_int(c, o, "cluster", "port", 1, 65535, &port) ||
	    !ov_json_int(c, o, "cluster", "mtu", OV_STATE_MTU_MIN, OV_STATE_MTU_MAX, &mtu) ||
	    !ov_json_int(c, o, "cluster", "keepalive", 0, 65535, &ka))
		return;
	/* The text with its root dot fits zone[]: at most OV_STATE_ZONE_MAX bytes. */
	zone = ov_json_str(c, o, "cluster", "zone", OV_STATE_ZONE_MAX);
	if (!zone)
		return;
	if (!zone_valid(zone)) {
		ov_json_quote(zone, q);
		ov_jctx_fail(c, -EINVAL, "cluster.zone: %s is not a DNS name of lower-case labels",
			     q);
		return;
	}
	strcpy(s->zone, zone);
	s->port = (uint16_t)port;
	s->mtu = (uint16_t)mtu;
	s->keepalive = (uint16_t)ka;
}

static bool key_is_zero(const uint8_t k[OV_KEY_LEN])
{
	uint8_t acc = 0;

	for (size_t i = 0; i < OV_KEY_LEN; i++)
		acc |= k[i];
	return !acc;
}

static void read_peer(struct ov_jctx *c, const json_t *o, const char *path, enum peer_kind kind,
		      const struct ov_state *s, struct ov_peer *ret, enum ov_role *role)
{
	static const char *const self_fields[] = {"name", "role", "public_key", "endpoint",
						  "ip4",  "ip6",  "slice",	NULL};
	static const char *const peer_fields[] = {"name", "public_key", "endpoint", "ip4",
						  "ip6",  "slice",	NULL};
	char p[OV_JSON_PATH_LEN], q[OV_JSON_QUOTE_LEN];
	const char *str;
	const json_t *ep;
	struct ov_peer peer;

	memset(&peer, 0, sizeof(peer));
	if (!ov_json_fields(c, o, path, kind == PEER_SELF ? self_fields : peer_fields) ||
	    !ov_json_name(c, o, path, "name", peer.name))
		return;
	if (kind == PEER_SELF) {
		str = ov_json_str(c, o, path, "role", 16);
		if (!str)
			return;
		if (!strcmp(str, "leader")) {
			*role = OV_ROLE_LEADER;
		} else if (!strcmp(str, "member")) {
			*role = OV_ROLE_MEMBER;
		} else {
			ov_json_quote(str, q);
			ov_jctx_fail(c, -EINVAL, "%s.role: %s is neither \"leader\" nor \"member\"",
				     path, q);
			return;
		}
	}
	str = ov_json_str(c, o, path, "public_key", OV_KEY_B64_LEN + 8);
	if (!str)
		return;
	ov_json_path(p, path, "public_key");
	if (ov_key_from_base64(str, peer.public_key)) {
		ov_jctx_fail(c, -EINVAL, "%s: not a 32-byte key in base64 (44 characters)", p);
		return;
	}
	if (key_is_zero(peer.public_key)) {
		ov_jctx_fail(c, -EINVAL, "%s: the all-zero key", p);
		return;
	}
	ep = json_object_get(o, "endpoint");
	ov_json_path(p, path, "endpoint");
	if (json_is_null(ep) && kind != PEER_LEADER) {
		peer.has_endpoint = false;
	} else if (json_is_null(ep)) {
		ov_jctx_fail(c, -EINVAL, "%s: required for the leader", p);
		return;
	} else {
		str = ov_json_str(c, o, path, "endpoint", OV_ENDPOINT_STRLEN);
		if (!str)
			return;
		if (ov_endpoint_parse(str, &peer.endpoint)) {
			ov_json_quote(str, q);
			ov_jctx_fail(c, -EINVAL, "%s: %s is not IPv4:port or [IPv6]:port", p, q);
			return;
		}
		peer.has_endpoint = true;
	}
	if (!ov_json_addr(c, o, path, "ip4", 4, &peer.ip4) ||
	    !ov_json_addr(c, o, path, "ip6", 6, &peer.ip6) ||
	    !ov_json_prefix(c, o, path, "slice", 4, &peer.slice))
		return;
	if (!ov_prefix_contains(&s->cidr4, &peer.ip4)) {
		ov_json_path(p, path, "ip4");
		ov_jctx_fail(c, -EINVAL, "%s: not inside cluster.cidr4", p);
	} else if (!ov_prefix_contains(&s->cidr6, &peer.ip6)) {
		ov_json_path(p, path, "ip6");
		ov_jctx_fail(c, -EINVAL, "%s: not inside cluster.cidr6", p);
	} else if (!ov_prefix_contains(&s->cidr4, &peer.slice) || peer.slice.len <= s->cidr4.len) {
		ov_json_path(p, path, "slice");
		ov_jctx_fail(c, -EINVAL, "%s: not a prefix inside cluster.cidr4", p);
	} else if (ov_prefix_contains(&peer.slice, &peer.ip4)) {
		ov_json_path(p, path, "slice");
		ov_jctx_fail(c, -EINVAL, "%s: holds its own ip4", p);
	}
	if (!c->ret)
		*ret = peer;
}

bool ov_json_peer(struct ov_jctx *c, const json_t *o, const char *path, const struct ov_state *s,
		  bool need_endpoint, struct ov_peer *ret)
{
	read_peer(c, o, path, need_endpoint ? PEER_LEADER : PEER_MEMBER, s, ret, NULL);
	return !c->ret;
}

/* The allocator must hold exactly what the peer says it holds. */
static void check_lease(struct ov_jctx *c, const struct ov_alloc *a, const struct ov_peer *peer,
			const char *path)
{
	char want[OV_PREFIX_STRLEN], q[OV_JSON_QUOTE_LEN];
	struct ov_alloc_lease l;

	if (c->ret)
		return;
	if (ov_alloc_node_get(a, peer->name, &l)) {
		ov_json_quote(peer->name, q);
		ov_jctx_fail(c, -EINVAL, "%s.name: %s is not in allocator.nodes", path, q);
	} else if (!ov_prefix_equal(&l.ip4, &peer->ip4)) {
		ov_addr_format(&l.ip4, want);
		ov_jctx_fail(c, -EINVAL, "%s.ip4: differs from the allocator's %s", path, want);
	} else if (!ov_prefix_equal(&l.ip6, &peer->ip6)) {
		ov_addr_format(&l.ip6, want);
		ov_jctx_fail(c, -EINVAL, "%s.ip6: differs from the allocator's %s", path, want);
	} else if (!ov_prefix_equal(&l.slice, &peer->slice)) {
		ov_prefix_format(&l.slice, want);
		ov_jctx_fail(c, -EINVAL, "%s.slice: differs from the allocator's %s", path, want);
	}
}

static int peer_name_cmp(const void *x, const void *y)
{
	return strcmp((*(const struct ov_peer *const *)x)->name,
		      (*(const struct ov_peer *const *)y)->name);
}

static int peer_key_cmp(const void *x, const void *y)
{
	return memcmp((*(const struct ov_peer *const *)x)->public_key,
		      (*(const struct ov_peer *const *)y)->public_key, OV_KEY_LEN);
}

/* Names and keys unique over self and members; the allocator holds exactly those names. */
static void check_members(struct ov_jctx *c, const struct ov_state *s)
{
	size_t n = s->n_members + 1;
	const struct ov_peer **v;
	char q[OV_JSON_QUOTE_LEN], b64[OV_KEY_B64_LEN + 1];

	if (c->ret)
		return;
	v = calloc(n, sizeof(*v));
	if (!v) {
		ov_jctx_fail(c, -ENOMEM, "members: out of memory");
		return;
	}
	v[0] = &s->self;
	for (size_t i = 0; i < s->n_members; i++)
		v[i + 1] = &s->members[i];
	qsort(v, n, sizeof(*v), peer_key_cmp);
	for (size_t i = 1; i < n && !c->ret; i++) {
		if (!memcmp(v[i - 1]->public_key, v[i]->public_key, OV_KEY_LEN)) {
			ov_key_to_base64(v[i]->public_key, b64);
			ov_jctx_fail(c, -EINVAL,
				     "members: public key %s is held twice (members or "
				     "node)",
				     b64);
		}
	}
	qsort(v, n, sizeof(*v), peer_name_cmp);
	for (size_t i = 1; i < n && !c->ret; i++) {
		if (!strcmp(v[i - 1]->name, v[i]->name)) {
			ov_json_quote(v[i]->name, q);
			ov_jctx_fail(c, -EINVAL, "members: name %s appears twice (members or node)",
				     q);
		}
	}
	/* every name maps into the allocator (check_lease) and is unique: equal counts
	 * mean the allocator holds nobody else */
	for (size_t i = 0; i < s->alloc.n_nodes && !c->ret && n != s->alloc.n_nodes; i++) {
		struct ov_peer key, *kp = &key;

		memset(&key, 0, sizeof(key));
		strcpy(key.name, s->alloc.nodes[i].name);
		if (!bsearch(&kp, v, n, sizeof(*v), peer_name_cmp)) {
			ov_json_quote(key.name, q);
			ov_jctx_fail(c, -EINVAL,
				     "allocator.nodes: %s is neither the node nor a member", q);
		}
	}
	free(v);
}

static void read_leader_role(struct ov_jctx *c, const json_t *root, struct ov_state *s)
{
	const json_t *arr, *aj;
	char p[OV_JSON_PATH_LEN];

	if (json_object_get(root, "leader")) {
		ov_jctx_fail(c, -EINVAL, "leader: not allowed when node.role is \"leader\"");
		return;
	}
	arr = ov_json_get(c, root, "", "members", JSON_ARRAY);
	aj = ov_json_get(c, root, "", "allocator", JSON_OBJECT);
	if (!arr || !aj)
		return;
	if (json_array_size(arr) > OV_STATE_MAX_MEMBERS) {
		ov_jctx_fail(c, -EINVAL, "members: more than %d entries", OV_STATE_MAX_MEMBERS);
		return;
	}
	s->members = calloc(json_array_size(arr) + 1, sizeof(*s->members));
	if (!s->members) {
		ov_jctx_fail(c, -ENOMEM, "members: out of memory");
		return;
	}
	for (size_t i = 0; i < json_array_size(arr) && !c->ret; i++) {
		snprintf(p, sizeof(p), "members[%zu]", i);
		read_peer(c, json_array_get(arr, i), p, PEER_MEMBER, s, &s->members[i], NULL);
		if (!c->ret)
			s->n_members++;
	}
	if (c->ret || ov_alloc_from_json_ctx(c, aj, "allocator", &s->alloc))
		return;
	if (!ov_prefix_equal(&s->alloc.cfg.cluster4, &s->cidr4)) {
		ov_jctx_fail(c, -EINVAL, "allocator.cidr4: differs from cluster.cidr4");
		return;
	}
	if (!ov_prefix_equal(&s->alloc.cfg.cluster6, &s->cidr6)) {
		ov_jctx_fail(c, -EINVAL, "allocator.cidr6: differs from cluster.cidr6");
		return;
	}
	check_lease(c, &s->alloc, &s->self, "node");
	for (size_t i = 0; i < s->n_members && !c->ret; i++) {
		snprintf(p, sizeof(p), "members[%zu]", i);
		check_lease(c, &s->alloc, &s->members[i], p);
	}
	check_members(c, s);
}

static void read_member_role(struct ov_jctx *c, const json_t *root, struct ov_state *s)
{
	const json_t *o;
	const struct ov_peer *me = &s->self, *l = &s->leader;

	if (json_object_get(root, "members") || json_object_get(root, "allocator")) {
		ov_jctx_fail(c, -EINVAL, "%s: not allowed when node.role is \"member\"",
			     json_object_get(root, "members") ? "members" : "allocator");
		return;
	}
	o = ov_json_get(c, root, "", "leader", JSON_OBJECT);
	if (!o)
		return;
	read_peer(c, o, "leader", PEER_LEADER, s, &s->leader, NULL);
	if (c->ret)
		return;
	if (!strcmp(l->name, me->name))
		ov_jctx_fail(c, -EINVAL, "leader.name: same as node.name");
	else if (!memcmp(l->public_key, me->public_key, OV_KEY_LEN))
		ov_jctx_fail(c, -EINVAL, "leader.public_key: same as node.public_key");
	else if (ov_prefix_equal(&l->ip4, &me->ip4) || ov_prefix_equal(&l->ip6, &me->ip6))
		ov_jctx_fail(c, -EINVAL, "leader: has the node's own address");
	else if (ov_prefix_contains(&l->slice, &me->slice) ||
		 ov_prefix_contains(&me->slice, &l->slice))
		ov_jctx_fail(c, -EINVAL, "leader.slice: overlaps node.slice");
	else if (ov_prefix_contains(&l->slice, &me->ip4) || ov_prefix_contains(&me->slice, &l->ip4))
		ov_jctx_fail(c, -EINVAL, "leader: a slice holds the other's ip4");
}

int ov_nat_server_parse(const char *s, struct ov_endpoint *ret)
{
	char buf[OV_ENDPOINT_STRLEN + 8];
	const char *rest = s;
	bool scheme = false;
	size_t n;

	if (!strncmp(s, "turn:", 5) || !strncmp(s, "stun:", 5)) {
		rest = s + 5;
		scheme = true;
	}
	n = strlen(rest);
	if (!n || n >= OV_ENDPOINT_STRLEN)
		return -EINVAL;
	if (!ov_endpoint_parse(rest, ret))
		return 0;
	if (!scheme) /* a bare "IP:PORT" must have its port */
		return -EINVAL;
	/* no port: the standard one (RFC 8489 §18.1) */
	snprintf(buf, sizeof(buf), rest[0] != '[' && strchr(rest, ':') ? "[%s]:3478" : "%s:3478",
		 rest);
	return ov_endpoint_parse(buf, ret);
}

bool ov_nat_secret_valid(const char *s, bool is_user)
{
	size_t n = strnlen(s, OV_NAT_SECRET_MAX + 1);

	if (!n || n > OV_NAT_SECRET_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || (is_user && s[i] == ':'))
			return false;
	return true;
}

static void read_nat_secret(struct ov_jctx *c, const json_t *o, const char *key, bool is_user,
			    char out[static OV_NAT_SECRET_MAX + 1])
{
	const char *v;

	if (!json_object_get(o, key))
		return;
	v = ov_json_str(c, o, "nat", key, OV_NAT_SECRET_MAX);
	if (!v)
		return;
	if (!ov_nat_secret_valid(v, is_user))
		ov_jctx_fail(c, -EINVAL, "nat.%s: 1 to %d printable characters%s", key,
			     OV_NAT_SECRET_MAX, is_user ? ", no ':'" : "");
	else
		strcpy(out, v);
}

static void read_nat(struct ov_jctx *c, const json_t *root, struct ov_nat_config *nat)
{
	static const char *const fields[] = {"stun", "turn", "turn_secret", "turn_user",
					     "turn_password", NULL};
	const json_t *o = ov_json_get(c, root, "", "nat", JSON_OBJECT), *a;
	const char *v;

	if (!o || !ov_json_fields(c, o, "nat", fields))
		return;
	if ((a = json_object_get(o, "stun"))) {
		if (!json_is_array(a) || json_array_size(a) > OV_NAT_STUN_MAX) {
			ov_jctx_fail(c, -EINVAL, "nat.stun: an array of at most %d servers",
				     OV_NAT_STUN_MAX);
			return;
		}
		for (size_t i = 0; i < json_array_size(a); i++) {
			const json_t *e = json_array_get(a, i);

			if (!json_is_string(e) ||
			    ov_nat_server_parse(json_string_value(e), &nat->stun[i])) {
				ov_jctx_fail(c, -EINVAL, "nat.stun[%zu]: not IP:PORT", i);
				return;
			}
			nat->n_stun = i + 1;
		}
	}
	if (json_object_get(o, "turn")) {
		v = ov_json_str(c, o, "nat", "turn", OV_ENDPOINT_STRLEN);
		if (!v)
			return;
		if (ov_nat_server_parse(v, &nat->turn)) {
			ov_jctx_fail(c, -EINVAL, "nat.turn: not turn:IP:PORT");
			return;
		}
		nat->has_turn = true;
	}
	read_nat_secret(c, o, "turn_secret", false, nat->turn_secret);
	read_nat_secret(c, o, "turn_user", true, nat->turn_user);
	read_nat_secret(c, o, "turn_password", false, nat->turn_password);
	if (c->ret)
		return;
	if (!nat->turn_user[0] != !nat->turn_password[0])
		ov_jctx_fail(c, -EINVAL, "nat: turn_user and turn_password go together");
	else if (nat->turn_secret[0] && nat->turn_user[0])
		ov_jctx_fail(c, -EINVAL, "nat: turn_secret or turn_user, not both");
	else if (!nat->has_turn && (nat->turn_secret[0] || nat->turn_user[0]))
		ov_jctx_fail(c, -EINVAL, "nat: credentials without a turn server");
}

static json_t *nat_to_json(const struct ov_nat_config *nat)
{
	char ep[OV_ENDPOINT_STRLEN], t[OV_ENDPOINT_STRLEN + 8];
	json_t *o = json_object(), *a = json_array();
	int bad = !o || !a;

	for (size_t i = 0; i < nat->n_stun && !bad; i++) {
		ov_endpoint_format(&nat->stun[i], ep);
		bad |= json_array_append_new(a, json_string(ep));
	}
	bad |= json_object_set_new(o, "stun", a);
	if (nat->has_turn) {
		ov_endpoint_format(&nat->turn, ep);
		snprintf(t, sizeof(t), "turn:%s", ep);
		bad |= json_object_set_new(o, "turn", json_string(t));
	}
	if (nat->turn_secret[0])
		bad |= json_object_set_new(o, "turn_secret", json_string(nat->turn_secret));
	if (nat->turn_user[0]) {
		bad |= json_object_set_new(o, "turn_user", json_string(nat->turn_user));
		bad |= json_object_set_new(o, "turn_password", json_string(nat->turn_password));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int ov_state_parse(const char *buf, size_t len, struct ov_state *ret, char *err, size_t errlen)
{
	static const char *const fields[] = {"version", "cluster",   "node",	  "leader",
					     "members", "allocator", "interface", "nat",
					     NULL};
	struct ov_jctx c;
	struct ov_state s;
	json_error_t je;
	json_t *root;
	const json_t *node;
	long long version;

	ov_jctx_init(&c, err, errlen);
	if (len > OV_STATE_MAX_BYTES) {
		ov_jctx_fail(&c, -EFBIG, "%zu bytes, over the %d-byte cap", len,
			     OV_STATE_MAX_BYTES);
		return c.ret;
	}
	/* rejects trailing bytes (no JSON_DISABLE_EOF_CHECK), NULs and duplicate keys */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson quotes the bytes near the error; keep the message printable */
		for (char *t = je.text; *t; t++)
			if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
				*t = '?';
		ov_jctx_fail(&c, -EINVAL, "not valid JSON: line %d column %d: %s", je.line,
			     je.column, je.text);
		return c.ret;
	}
	ov_state_init(&s);
	if (!json_is_object(root)) {
		ov_jctx_fail(&c, -EINVAL, "top level: expected an object");
		goto out;
	}
	/* the version first, so a newer file says so rather than naming a field it added */
	if (!ov_json_int(&c, root, "", "version", LLONG_MIN, LLONG_MAX, &version))
		goto out;
	if (version != OV_STATE_VERSION) {
		ov_jctx_fail(&c, -EINVAL, "version: %lld is not supported (this build reads %d)",
			     version, OV_STATE_VERSION);
		goto out;
	}
	if (!ov_json_fields(&c, root, "", fields))
		goto out;
	read_cluster(&c, root, &s);
	if (json_object_get(root, "interface")) {
		const char *ifname = ov_json_str(&c, root, "", "interface", OV_STATE_IFNAME_MAX);

		if (ifname && !ov_state_ifname_valid(ifname)) {
			char q[OV_JSON_QUOTE_LEN];

			ov_json_quote(ifname, q);
			ov_jctx_fail(&c, -EINVAL, "interface: %s is not an interface name", q);
		}
		if (ifname && !c.ret)
			strcpy(s.ifname, ifname);
	}
	if (json_object_get(root, "nat"))
		read_nat(&c, root, &s.nat);
	node = ov_json_get(&c, root, "", "node", JSON_OBJECT);
	if (!node)
		goto out;
	read_peer(&c, node, "node", PEER_SELF, &s, &s.self, &s.role);
	if (c.ret)
		goto out;
	if (s.role == OV_ROLE_LEADER)
		read_leader_role(&c, root, &s);
	else
		read_member_role(&c, root, &s);
out:
	json_decref(root);
	if (c.ret) {
		ov_state_done(&s);
		return c.ret;
	}
	*ret = s;
	return 0;
}

bool ov_state_ifname_valid(const char *s)
{
	size_t n = strnlen(s, OV_STATE_IFNAME_MAX + 1);

	if (n == 0 || n > OV_STATE_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '/' || s[i] == ':')
			return false;
	return true;
}

/* --- formatting ----------------------------------------------------------------------- */

static json_t *peer_to_json(const struct ov_peer *p, const char *role);

json_t *ov_peer_to_json(const struct ov_peer *p)
{
	return peer_to_json(p, NULL);
}

static json_t *peer_to_json(const struct ov_peer *p, const char *role)
{
	char b64[OV_KEY_B64_LEN + 1], ep[OV_ENDPOINT_STRLEN];
	json_t *o = json_object();
	int bad = !o;

	ov_key_to_base64(p->public_key, b64);
	bad |= json_object_set_new(o, "name", json_string(p->name));
	if (role)
		bad |= json_object_set_new(o, "role", json_string(role));
	bad |= json_object_set_new(o, "public_key", json_string(b64));
	if (p->has_endpoint) {
		ov_endpoint_format(&p->endpoint, ep);
		bad |= json_object_set_new(o, "endpoint", json_string(ep));
	} else {
		bad |= json_object_set_new(o, "endpoint", json_null());
	}
	bad |= json_object_set_new(o, "ip4", ov_json_prefix_new(&p->ip4, false));
	bad |= json_object_set_new(o, "ip6", ov_json_prefix_new(&p->ip6, false));
	bad |= json_object_set_new(o, "slice", ov_json_prefix_new(&p->slice, true));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *state_to_json(const struct ov_state *s)
{
	json_t *root = json_object(), *cl = json_object(), *arr, *aj = NULL;
	int bad = !root || !cl;

	bad |= json_object_set_new(root, "version", json_integer(OV_STATE_VERSION));
	bad |= json_object_set_new(cl, "cidr4", ov_json_prefix_new(&s->cidr4, true));
	bad |= json_object_set_new(cl, "cidr6", ov_json_prefix_new(&s->cidr6, true));
	bad |= json_object_set_new(cl, "port", json_integer(s->port));
	bad |= json_object_set_new(cl, "zone", json_string(s->zone));
	bad |= json_object_set_new(cl, "mtu", json_integer(s->mtu));
	bad |= json_object_set_new(cl, "keepalive", json_integer(s->keepalive));
	bad |= json_object_set(root, "cluster", cl);
	json_decref(cl);
	bad |= json_object_set_new(root, "node", peer_to_json(&s->self, role_name(s->role)));
	if (s->ifname[0])
		bad |= json_object_set_new(root, "interface", json_string(s->ifname));
	if (s->nat.n_stun || s->nat.has_turn)
		bad |= json_object_set_new(root, "nat", nat_to_json(&s->nat));
	if (s->role == OV_ROLE_MEMBER) {
		bad |= json_object_set_new(root, "leader", peer_to_json(&s->leader, NULL));
	} else if (s->role == OV_ROLE_LEADER) {
		arr = json_array();
		for (size_t i = 0; i < s->n_members && arr && !bad; i++)
			bad |= json_array_append_new(arr, peer_to_json(&s->members[i], NULL));
		bad |= json_object_set_new(root, "members", arr);
		bad |= ov_alloc_to_json(&s->alloc, &aj) ? 1 : 0;
		bad |= json_object_set_new(root, "allocator", aj);
	}
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int ov_state_format(const struct ov_state *s, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	struct ov_state check;
	json_t *root = state_to_json(s);
	char *text, *out;
	size_t n;
	int r;

	if (!root)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	out = realloc(text, n + 2);
	if (!out) {
		free(text);
		return -ENOMEM;
	}
	out[n++] = '\n';
	out[n] = '\0';
	r = ov_state_parse(out, n, &check, err, errlen);
	if (r < 0) {
		free(out);
		return r;
	}
	ov_state_done(&check);
	*ret = out;
	*ret_len = n;
	return 0;
}

/* --- files ---------------------------------------------------------------------------- */

static int join_path(char out[static PATH_MAX], const char *dir, const char *name, char *err,
		     size_t errlen)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX) {
		if (errlen)
			snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

static int sys_fail(int e, const char *path, const char *what, char *err, size_t errlen)
{
	if (errlen)
		snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
	return -e;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * dir/name := data, crash-safe: temp file in dir (0600), write, fsync, then rename over the
 * old file (or link, which fails on an existing one, for OV_STATE_CREATE), then fsync dir.
 */
int ov_state_write_file(const char *dir, const char *name, const char *data, size_t len,
			unsigned flags, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd = -1, dfd = -1, r;
	bool tmp_live = false;

	r = join_path(path, dir, name, err, errlen);
	if (r < 0)
		return r;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp)) {
		if (errlen)
			snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sys_fail(errno, dir, "open", err, errlen);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = sys_fail(errno, tmp, "create", err, errlen);
		goto out;
	}
	tmp_live = true;
	if (fchmod(fd, 0600)) {
		r = sys_fail(errno, tmp, "chmod", err, errlen);
		goto out;
	}
	r = write_all(fd, data, len);
	if (r < 0) {
		r = sys_fail(-r, tmp, "write", err, errlen);
		goto out;
	}
	if (fsync(fd)) {
		r = sys_fail(errno, tmp, "fsync", err, errlen);
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r) {
		r = sys_fail(errno, tmp, "close", err, errlen);
		goto out;
	}
	if (flags & OV_STATE_CREATE) {
		if (link(tmp, path)) {
			r = sys_fail(errno, path, "create", err, errlen);
			goto out;
		}
	} else if (rename(tmp, path)) {
		r = sys_fail(errno, path, "rename", err, errlen);
		goto out;
	}
	if ((flags & OV_STATE_CREATE) && unlink(tmp)) {
		r = sys_fail(errno, tmp, "unlink", err, errlen);
		goto out;
	}
	tmp_live = false;
	if (fsync(dfd)) {
		r = sys_fail(errno, dir, "fsync", err, errlen);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_live)
		unlink(tmp);
	close(dfd);
	return r;
}

/*
 * Only the uid running weft may change the node's state: whoever can write the directory or
 * one of its files (or owns them) can swap the node's key, its view of the cluster or the
 * leader's tokens. st is the fstat of path; forbid the mode bits that must be clear (022 for
 * everything, 077 for the key). 0, or -EPERM/-EACCES with err saying why and what to run.
 */
static int check_private(const struct stat *st, const char *path, bool is_dir, mode_t forbid,
			 char *err, size_t errlen)
{
	uid_t me = geteuid();
	const char *fix_mode = is_dir ? "700" : "600";

	if (st->st_uid != me) {
		if (errlen)
			snprintf(err, errlen,
				 "%s: owned by uid %u, not by uid %u that runs weft: another user "
				 "could change the node's %s; fix: chown %u %s && chmod %s %s",
				 path, (unsigned)st->st_uid, (unsigned)me,
				 is_dir ? "key and state" : "state", (unsigned)me, path, fix_mode,
				 path);
		return -EPERM;
	}
	if (st->st_mode & forbid) {
		if (errlen)
			snprintf(err, errlen,
				 "%s: mode %04o lets group or others %s; fix: chmod %s %s", path,
				 (unsigned)(st->st_mode & 07777),
				 is_dir		? "write the state directory (and so replace the "
						  "node's key and state)"
				 : forbid & 044 ? "at the key"
						: "write it (and so change the node's state)",
				 fix_mode, path);
		return -EACCES;
	}
	return 0;
}

/* dir: a directory of this uid that group and others cannot write. */
static int check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_fail(errno, dir, "open", err, errlen);
	r = fstat(fd, &st) ? sys_fail(errno, dir, "stat", err, errlen)
			   : check_private(&st, dir, true, 022, err, errlen);
	close(fd);
	return r;
}

int ov_state_lock(const char *dir, int *ret_fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd, r;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return sys_fail(errno, dir, "mkdir", err, errlen);
	r = check_dir(dir, err, errlen);
	if (r < 0)
		return r;
	r = join_path(path, dir, OV_STATE_LOCK_FILE, err, errlen);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sys_fail(errno, path, "open", err, errlen);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			if (errlen)
				snprintf(err, errlen,
					 "%s: held by another process; is weft "
					 "already running on this directory?",
					 path);
			return -EBUSY;
		}
		return sys_fail(e, path, "flock", err, errlen);
	}
	*ret_fd = fd;
	return 0;
}

void ov_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Reads at most max bytes of a regular file; -EFBIG past that. *ret malloc'ed, NUL added. */
static int read_file(const char *path, size_t max, mode_t forbid, char **ret, size_t *ret_len,
		     struct stat *st, char *err, size_t errlen);

int ov_state_read_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
		       char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int r = join_path(path, dir, name, err, errlen);

	return r < 0 ? r : read_file(path, max, 022, ret, ret_len, &st, err, errlen);
}

static int read_file(const char *path, size_t max, mode_t forbid, char **ret, size_t *ret_len,
		     struct stat *st, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = errno;
		if (r == ENOENT && errlen)
			snprintf(err, errlen, "%s: does not exist", path);
		return r == ENOENT ? -ENOENT : sys_fail(r, path, "open", err, errlen);
	}
	if (fstat(fd, st)) {
		r = sys_fail(errno, path, "stat", err, errlen);
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		if (errlen)
			snprintf(err, errlen, "%s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	r = check_private(st, path, false, forbid, err, errlen);
	if (r < 0)
		goto out;
	if ((unsigned long long)st->st_size > max) {
		if (errlen)
			snprintf(err, errlen, "%s: %lld bytes, over the %zu-byte cap", path,
				 (long long)st->st_size, max);
		r = -EFBIG;
		goto out;
	}
	buf = malloc(max + 2);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, buf + n, max + 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = sys_fail(errno, path, "read", err, errlen);
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > max) {
			if (errlen)
				snprintf(err, errlen, "%s: over the %zu-byte cap", path, max);
			r = -EFBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	buf = NULL;
	r = 0;
out:
	if (buf) {
		explicit_bzero(buf, max + 2);
		free(buf);
	}
	close(fd);
	return r;
}

int ov_state_load(const char *dir, struct ov_state *ret, char *err, size_t errlen)
{
	char path[PATH_MAX], why[OV_STATE_ERR_LEN];
	struct stat st;
	char *buf;
	size_t len;
	int r;

	r = join_path(path, dir, OV_STATE_FILE, err, errlen);
	if (r < 0)
		return r;
	r = read_file(path, OV_STATE_MAX_BYTES, 022, &buf, &len, &st, err, errlen);
	if (r < 0)
		return r;
	r = ov_state_parse(buf, len, ret, why, sizeof(why));
	if (r < 0 && errlen)
		snprintf(err, errlen, "%s: %s", path, why);
	free(buf);
	return r;
}

int ov_state_save(const char *dir, const struct ov_state *s, unsigned flags, char *err,
		  size_t errlen)
{
	char path[PATH_MAX], why[OV_STATE_ERR_LEN];
	char *buf;
	size_t len;
	int r;

	r = join_path(path, dir, OV_STATE_FILE, err, errlen);
	if (r < 0)
		return r;
	r = ov_state_format(s, &buf, &len, why, sizeof(why));
	if (r < 0) {
		if (errlen)
			snprintf(err, errlen, "%s: not saved: %s", path,
				 r == -EINVAL ? why : strerror(-r));
		return r;
	}
	/* replace only a file that loads: a hand-edited or newer file is never overwritten */
	if (!(flags & OV_STATE_CREATE)) {
		struct ov_state old;

		r = ov_state_load(dir, &old, why, sizeof(why));
		if (r == 0) {
			ov_state_done(&old);
		} else if (r != -ENOENT) {
			if (errlen)
				snprintf(err, errlen, "%s (not replaced)", why);
			free(buf);
			return r;
		}
	}
	r = ov_state_write_file(dir, OV_STATE_FILE, buf, len, flags, err, errlen);
	free(buf);
	return r;
}

int ov_state_key_load(const char *dir, uint8_t key[static OV_KEY_LEN], char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = join_path(path, dir, OV_STATE_KEY_FILE, err, errlen);
	if (r < 0)
		return r;
	r = read_file(path, OV_KEY_B64_LEN + 1, 077, &buf, &len, &st, err, errlen);
	if (r < 0)
		return r;
	if (len == OV_KEY_B64_LEN + 1 && buf[OV_KEY_B64_LEN] == '\n')
		buf[OV_KEY_B64_LEN] = '\0';
	if (strlen(buf) != OV_KEY_B64_LEN || ov_key_from_base64(buf, key)) {
		if (errlen)
			snprintf(err, errlen,
				 "%s: not a 32-byte key in base64 (44 characters and "
				 "an optional newline)",
				 path);
		r = -EINVAL;
	}
	explicit_bzero(buf, OV_KEY_B64_LEN + 3);
	free(buf);
	return r;
}

int ov_state_key_save(const char *dir, const uint8_t key[static OV_KEY_LEN], unsigned flags,
		      char *err, size_t errlen)
{
	char text[OV_KEY_B64_LEN + 2];
	int r;

	ov_key_to_base64(key, text);
	text[OV_KEY_B64_LEN] = '\n';
	r = ov_state_write_file(dir, OV_STATE_KEY_FILE, text, OV_KEY_B64_LEN + 1, flags, err, errlen);
	explicit_bzero(text, sizeof(text));
	return r;
}

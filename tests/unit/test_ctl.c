/* SPDX-License-Identifier: MIT */
/*
 * Control protocol codec tests (ctl/ctl.c): frame headers, the strict JSON payload
 * parser, join tokens and the leader's tokens file, the cluster view (built from a real
 * allocator's leases, round-tripped, then broken one rule at a time), the join messages and
 * key schedule (a frame sealed by one side opens on the other), and every request op, with
 * the port and record name tables. Every refusal must name the field and leave the output
 * untouched. Pure: no files, no sockets, no privileges.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "ctl/ctl.h"

/* --- helpers --------------------------------------------------------------------------- */

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static json_t *parse_ok(const char *text)
{
	char err[OV_STATE_ERR_LEN] = "";
	json_t *j = dmn_ctl_json_parse((const uint8_t *)text, strlen(text), err, sizeof(err));

	if (!j)
		fail_msg("parse %s: %s", text, err);
	return j;
}

static void err_has(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void prefix_set(struct ov_prefix *p, const char *s)
{
	assert_int_equal(strchr(s, '/') ? ov_prefix_parse(s, p) : ov_addr_parse(s, 0, p), 0);
}

/* The address k past the network of p, as a /32. */
static struct ov_prefix host_in(const struct ov_prefix *p, uint8_t k)
{
	struct ov_prefix h = *p;

	h.len = 32;
	h.addr[3] = (uint8_t)(h.addr[3] + k);
	return h;
}

static bool peer_eq(const struct ov_peer *a, const struct ov_peer *b)
{
	return !strcmp(a->name, b->name) && !memcmp(a->public_key, b->public_key, OV_KEY_LEN) &&
	       a->has_endpoint == b->has_endpoint &&
	       (!a->has_endpoint ||
		(a->endpoint.family == b->endpoint.family && a->endpoint.port == b->endpoint.port &&
		 !memcmp(a->endpoint.addr, b->endpoint.addr, 16))) &&
	       ov_prefix_equal(&a->ip4, &b->ip4) && ov_prefix_equal(&a->ip6, &b->ip6) &&
	       ov_prefix_equal(&a->slice, &b->slice);
}

static bool ports_eq(const struct dmn_port *a, size_t na, const struct dmn_port *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) || a[i].proto != b[i].proto ||
		    a[i].port != b[i].port)
			return false;
	return true;
}

static void assert_view_eq(const struct dmn_view *a, const struct dmn_view *b)
{
	assert_int_equal(a->generation, b->generation);
	assert_string_equal(a->leader, b->leader);
	assert_int_equal(a->n_nodes, b->n_nodes);
	assert_int_equal(a->n_subnets, b->n_subnets);
	assert_int_equal(a->n_services, b->n_services);
	assert_int_equal(a->n_records, b->n_records);
	for (size_t i = 0; i < a->n_nodes; i++)
		assert_true(peer_eq(&a->nodes[i], &b->nodes[i]));
	for (size_t i = 0; i < a->n_subnets; i++) {
		assert_string_equal(a->subnets[i].service, b->subnets[i].service);
		assert_string_equal(a->subnets[i].node, b->subnets[i].node);
		assert_true(ov_prefix_equal(&a->subnets[i].subnet, &b->subnets[i].subnet));
	}
	for (size_t i = 0; i < a->n_services; i++) {
		const struct dmn_service *x = &a->services[i], *y = &b->services[i];

		assert_string_equal(x->service, y->service);
		assert_string_equal(x->node, y->node);
		assert_string_equal(x->container, y->container);
		assert_true(ov_prefix_equal(&x->addr, &y->addr));
		assert_true(ports_eq(x->ports, x->n_ports, y->ports, y->n_ports));
	}
	for (size_t i = 0; i < a->n_records; i++) {
		assert_string_equal(a->records[i].name, b->records[i].name);
		assert_true(ov_prefix_equal(&a->records[i].addr, &b->records[i].addr));
		assert_string_equal(a->records[i].owner, b->records[i].owner);
	}
}

static void port_set(struct dmn_port *p, const char *name, uint8_t proto, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->proto = proto;
	p->port = port;
}

/*
 * Three nodes placed by a real allocator with the default cluster ranges: "leader"
 * (IPv4 endpoint), "node-a" (IPv6 endpoint), "node-b" (none); subnets web/node-a and
 * db/node-b; services web-1 (two ports) and web-2 on node-a, pg on node-b; two records, "api"
 * owned by node-a and "db.weft.local." by the admin.
 */
static void view_make(struct dmn_view *v)
{
	static const char *const names[] = {"leader", "node-a", "node-b"};
	static const char *const eps[] = {"198.18.0.1:51420", "[fd00::2]:51420", NULL};
	struct ov_alloc_config cfg;
	struct ov_alloc_lease l;
	struct ov_alloc a;

	ov_alloc_config_default(&cfg);
	assert_int_equal(ov_alloc_init(&a, &cfg, NULL, 0), 0);
	memset(v, 0, sizeof(*v));
	v->generation = 7;
	strcpy(v->leader, "leader");
	v->nodes = calloc(3, sizeof(*v->nodes));
	v->subnets = calloc(2, sizeof(*v->subnets));
	v->services = calloc(3, sizeof(*v->services));
	v->records = calloc(2, sizeof(*v->records));
	assert_true(v->nodes && v->subnets && v->services && v->records);
	for (size_t i = 0; i < 3; i++) {
		struct ov_peer *p = &v->nodes[i];

		assert_int_equal(ov_alloc_node_add(&a, names[i], &l), 1);
		strcpy(p->name, names[i]);
		fill(p->public_key, OV_KEY_LEN, (uint8_t)(i + 1));
		if (eps[i]) {
			assert_int_equal(ov_endpoint_parse(eps[i], &p->endpoint), 0);
			p->has_endpoint = true;
		}
		p->ip4 = l.ip4;
		p->ip6 = l.ip6;
		p->slice = l.slice;
	}
	v->n_nodes = 3;
	strcpy(v->subnets[0].service, "web");
	strcpy(v->subnets[0].node, "node-a");
	assert_int_equal(ov_alloc_subnet_add(&a, "web", "node-a", &v->subnets[0].subnet), 1);
	strcpy(v->subnets[1].service, "db");
	strcpy(v->subnets[1].node, "node-b");
	assert_int_equal(ov_alloc_subnet_add(&a, "db", "node-b", &v->subnets[1].subnet), 1);
	v->n_subnets = 2;

	strcpy(v->services[0].service, "web");
	strcpy(v->services[0].node, "node-a");
	strcpy(v->services[0].container, "web-1");
	v->services[0].addr = host_in(&v->subnets[0].subnet, 2);
	port_set(&v->services[0].ports[0], "http", 6, 80);
	port_set(&v->services[0].ports[1], "dns", 17, 53);
	v->services[0].n_ports = 2;
	strcpy(v->services[1].service, "web");
	strcpy(v->services[1].node, "node-a");
	strcpy(v->services[1].container, "web-2");
	v->services[1].addr = host_in(&v->subnets[0].subnet, 3);
	strcpy(v->services[2].service, "db");
	strcpy(v->services[2].node, "node-b");
	strcpy(v->services[2].container, "pg");
	v->services[2].addr = host_in(&v->subnets[1].subnet, 2);
	port_set(&v->services[2].ports[0], "pg", 6, 5432);
	v->services[2].n_ports = 1;
	v->n_services = 3;

	strcpy(v->records[0].name, "api");
	prefix_set(&v->records[0].addr, "10.200.0.1");
	strcpy(v->records[0].owner, "node-a");
	strcpy(v->records[1].name, "db.weft.local.");
	prefix_set(&v->records[1].addr, "fd00:200::2");
	v->n_records = 2;
	ov_alloc_done(&a);
}

/* j (consumed) must be refused as a view with an error naming needle, output untouched. */
static void view_json_refused(json_t *j, const struct ov_state *s, const char *needle)
{
	struct dmn_view out, sentinel;
	char err[OV_STATE_ERR_LEN] = "";

	assert_non_null(j);
	memset(&sentinel, 0xa5, sizeof(sentinel));
	out = sentinel;
	assert_true(dmn_view_from_json(j, s, &out, err, sizeof(err)) < 0);
	err_has(err, needle);
	assert_memory_equal(&out, &sentinel, sizeof(out));
	json_decref(j);
}

static void view_refused(const struct dmn_view *v, const char *needle)
{
	struct ov_state s;

	ov_state_init(&s);
	view_json_refused(dmn_view_to_json(v), &s, needle);
}

/* --- frames and payloads ------------------------------------------------------------------ */

static void test_hdr(void **state)
{
	struct dmn_ctl_hdr h, sentinel = {.type = 0xee, .len = 0xdeadbeef};
	uint8_t b[DMN_CTL_HDR_LEN];

	(void)state;
	dmn_ctl_hdr_put(b, DMN_CTL_VIEW, 0x00302010);
	assert_memory_equal(b, "WF\x02\x06\x00\x30\x20\x10", DMN_CTL_HDR_LEN);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), 0);
	assert_int_equal(h.type, DMN_CTL_VIEW);
	assert_int_equal(h.len, 0x00302010);
	for (int t = 1; t <= DMN_CTL__TYPE_MAX; t++) {
		dmn_ctl_hdr_put(b, (uint8_t)t, 0);
		assert_int_equal(dmn_ctl_hdr_parse(b, &h), 0);
		assert_int_equal(h.type, t);
		assert_int_equal(h.len, 0);
	}
	dmn_ctl_hdr_put(b, DMN_CTL_REPLY, DMN_CTL_MAX_PAYLOAD);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), 0);
	assert_int_equal(h.len, DMN_CTL_MAX_PAYLOAD);

	/* Refusals leave the output alone. */
	h = sentinel;
	dmn_ctl_hdr_put(b, DMN_CTL_HS1, 10);
	b[0] = 'w';
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, DMN_CTL_HS1, 10);
	b[1] = 'G';
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, DMN_CTL_HS1, 10);
	b[2] = 1; /* version 1: the join any token holder could take over */
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	b[2] = 3;
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	b[2] = 0;
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, 0, 10);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, DMN_CTL__TYPE_MAX + 1, 10);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, 0xff, 10);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EPROTO);
	dmn_ctl_hdr_put(b, DMN_CTL_VIEW, DMN_CTL_MAX_PAYLOAD + 1);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EMSGSIZE);
	dmn_ctl_hdr_put(b, DMN_CTL_VIEW, UINT32_MAX);
	assert_int_equal(dmn_ctl_hdr_parse(b, &h), -EMSGSIZE);
	assert_int_equal(h.type, sentinel.type);
	assert_int_equal(h.len, sentinel.len);
}

static void test_json_parse(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *needle;
	} bad[] = {
		{"{\"a\": 1, \"a\": 2}", 0, "duplicate"},
		{"{\"a\": {\"b\": 1, \"b\": 1}}", 0, "duplicate"},
		{"{\"a\": 1} x", 0, "bad JSON"},
		{"{}{}", 0, "bad JSON"},
		{"{\"a\": 1}\0", 9, "NUL"},
		{"{\"a\": \"\0\"}", 10, "NUL"},
		{"[]", 0, "not a JSON object"},
		{"1", 0, "JSON" /* jansson refuses it first */},
		{"\"s\"", 0, "JSON" /* jansson refuses it first */},
		{"null", 0, "JSON" /* jansson refuses it first */},
		{"", 0, "bad JSON"},
		{"{", 0, "bad JSON"},
		{"{\"a\": 1,}", 0, "bad JSON"},
	};
	char err[OV_STATE_ERR_LEN];
	json_t *j;

	(void)state;
	j = parse_ok(" {\"a\": 1, \"b\": [1, 2], \"c\": {\"a\": 2}}\n");
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	json_decref(j);
	/* Exactly len bytes are read: no NUL terminator needed, nothing past len seen. */
	j = dmn_ctl_json_parse((const uint8_t *)"{\"a\": 1}garbage", 8, err, sizeof(err));
	assert_non_null(j);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);

		err[0] = '\0';
		j = dmn_ctl_json_parse((const uint8_t *)bad[i].text, len, err, sizeof(err));
		if (j)
			fail_msg("accepted bad payload %zu", i);
		err_has(err, bad[i].needle);
	}
}

/* --- join tokens ------------------------------------------------------------------------------ */

static void token_make(struct dmn_token *t, const char *endpoint)
{
	memset(t, 0, sizeof(*t));
	fill(t->id, sizeof(t->id), 1);
	fill(t->secret, sizeof(t->secret), 2);
	fill(t->leader_key, sizeof(t->leader_key), 3);
	assert_int_equal(ov_endpoint_parse(endpoint, &t->endpoint), 0);
}

static void assert_token_eq(const struct dmn_token *a, const struct dmn_token *b)
{
	assert_memory_equal(a->id, b->id, sizeof(a->id));
	assert_memory_equal(a->secret, b->secret, sizeof(a->secret));
	assert_memory_equal(a->leader_key, b->leader_key, sizeof(a->leader_key));
	assert_int_equal(a->endpoint.family, b->endpoint.family);
	assert_int_equal(a->endpoint.port, b->endpoint.port);
	assert_memory_equal(a->endpoint.addr, b->endpoint.addr, 16);
}

static void test_token_round_trip(void **state)
{
	static const char *const eps[] = {
		"198.18.0.1:51420",	  "10.200.0.1:1",
		"[fd00::1]:443",	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
		"[::ffff:198.18.0.1]:80",
	};
	char text[DMN_CTL_TOKEN_STRLEN], text2[DMN_CTL_TOKEN_STRLEN], err[OV_STATE_ERR_LEN];
	char hex[2 * DMN_CTL_SECRET_LEN + 1];
	struct dmn_token t, u;

	(void)state;
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		token_make(&t, eps[i]);
		dmn_token_format(&t, text);
		assert_true(strlen(text) < DMN_CTL_TOKEN_STRLEN - 1);
		assert_int_equal(strncmp(text, "weft1-", 6), 0);
		dmn_hex(t.id, sizeof(t.id), hex);
		assert_int_equal(strncmp(text + 6, hex, strlen(hex)), 0);
		memset(&u, 0, sizeof(u));
		if (dmn_token_parse(text, &u, err, sizeof(err)))
			fail_msg("%s: %s", text, err);
		assert_token_eq(&t, &u);
		dmn_token_format(&u, text2);
		assert_string_equal(text, text2);
	}
	/* The exact layout. */
	memset(&t, 0, sizeof(t));
	memset(t.id, 0x11, sizeof(t.id));
	memset(t.secret, 0x22, sizeof(t.secret));
	memset(t.leader_key, 0xab, sizeof(t.leader_key));
	assert_int_equal(ov_endpoint_parse("198.18.0.1:51420", &t.endpoint), 0);
	dmn_token_format(&t, text);
	assert_string_equal(text,
			    "weft1-11111111111111111111111111111111-"
			    "2222222222222222222222222222222222222222222222222222222222222222-"
			    "abababababababababababababababababababababababababababababababab-"
			    "198.18.0.1:51420");
}

static void test_token_refusals(void **state)
{
	struct dmn_token t, out, sentinel;
	char good[DMN_CTL_TOKEN_STRLEN], bad[2 * DMN_CTL_TOKEN_STRLEN], err[OV_STATE_ERR_LEN];
	char *id, *sec, *key, *ep;
	size_t n;
	struct {
		const char *what;
		const char *needle;
	} cases[32];
	char texts[32][2 * DMN_CTL_TOKEN_STRLEN];
	size_t nc = 0;

	(void)state;
	token_make(&t, "198.18.0.1:51420");
	dmn_token_format(&t, good);
	n = strlen(good);
	id = good + 6;
	sec = strchr(id, '-') + 1;
	key = strchr(sec, '-') + 1;
	ep = strchr(key, '-') + 1;

#define CASE(needle_, ...)                                           \
	do {                                                         \
		snprintf(texts[nc], sizeof(texts[nc]), __VA_ARGS__); \
		cases[nc].what = texts[nc];                          \
		cases[nc].needle = needle_;                          \
		nc++;                                                \
	} while (0)
	CASE("not a weft token", "weft2-%s", good + 6);
	CASE("not a weft token", "WEFT1-%s", good + 6);
	CASE("not a weft token", "%s", good + 6);
	CASE("not a weft token", "%s", "");
	CASE("not a weft token", " %s", good);
	CASE("id missing", "weft1-%.32s", id);
	CASE("secret missing", "weft1-%.*s", (int)(key - id - 1), id);
	CASE("leader key missing", "weft1-%.*s", (int)(ep - id - 1), id);
	/* the id one hex digit short, long, upper case, not hex */
	CASE("id is not", "weft1-%.31s%s", id, id + 32);
	CASE("id is not", "weft1-0%s", id);
	CASE("id is not", "weft1-A%s", id + 1);
	CASE("id is not", "weft1-g%s", id + 1);
	CASE("secret is not", "weft1-%.*sF%s", (int)(sec - id), id, sec + 1);
	CASE("secret is not", "weft1-%.*s %s", (int)(sec - id), id, sec + 1);
	CASE("secret is not", "weft1-%.*s%s", (int)(sec - id), id, sec + 2);
	CASE("leader key is not", "weft1-%.*sx%s", (int)(key - id), id, key + 1);
	CASE("endpoint", "weft1-%.*s", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s198.18.0.1", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s198.18.0.1:0", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s198.18.0.1:65536", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*sleader.example:51420", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*sfd00::1:51420", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s198.18.0.1:51420-", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s198.18.0.1:51420-x", (int)(ep - id), id);
	CASE("endpoint", "weft1-%.*s[fd00::1]:51420 ", (int)(ep - id), id);
	CASE("all-zero leader key", "weft1-%.*s%064d-%s", (int)(key - id), id, 0, ep);
	/* 255 characters is the most; pad the endpoint so the whole thing is 256 */
	CASE("at most 255", "%s%0*d", good, (int)(DMN_CTL_TOKEN_STRLEN - n), 0);
#undef CASE
	assert_true(nc <= sizeof(cases) / sizeof(cases[0]));
	memset(&sentinel, 0x5a, sizeof(sentinel));
	for (size_t i = 0; i < nc; i++) {
		out = sentinel;
		err[0] = '\0';
		if (dmn_token_parse(cases[i].what, &out, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted \"%s\"", cases[i].what);
		err_has(err, cases[i].needle);
		assert_memory_equal(&out, &sentinel, sizeof(out));
	}
	/* An all-zero id or secret is the leader's business (it generates random ones). */
	snprintf(bad, sizeof(bad), "weft1-%032d-%s", 0, sec);
	assert_int_equal(dmn_token_parse(bad, &out, err, sizeof(err)), 0);
}

/* --- the tokens file -------------------------------------------------------------------------- */

static void test_tokens_file(void **state)
{
	struct dmn_tokens *t = calloc(1, sizeof(*t)), *u = calloc(1, sizeof(*u));
	char err[OV_STATE_ERR_LEN], *text, *text2;
	size_t len, len2;

	(void)state;
	assert_true(t && u);
	/* empty */
	assert_int_equal(dmn_tokens_format(t, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	u->n = 99;
	assert_int_equal(dmn_tokens_parse(text, len, u, err, sizeof(err)), 0);
	assert_int_equal(u->n, 0);
	free(text);
	/* full */
	t->n = DMN_CTL_TOKENS_MAX;
	for (size_t i = 0; i < t->n; i++) {
		fill(t->recs[i].id, DMN_CTL_TOKEN_ID_LEN, (uint8_t)i);
		t->recs[i].id[0] = (uint8_t)i; /* unique */
		fill(t->recs[i].secret, DMN_CTL_SECRET_LEN, (uint8_t)(i + 7));
		t->recs[i].expires = i == 0 ? 0 : i == 1 ? (uint64_t)INT64_MAX : 1700000000 + i;
		t->recs[i].uses = i == 0 ? UINT32_MAX : (uint32_t)(i + 1);
	}
	assert_int_equal(dmn_tokens_format(t, &text, &len), 0);
	if (dmn_tokens_parse(text, len, u, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(u->n, t->n);
	for (size_t i = 0; i < t->n; i++) {
		assert_memory_equal(u->recs[i].id, t->recs[i].id, DMN_CTL_TOKEN_ID_LEN);
		assert_memory_equal(u->recs[i].secret, t->recs[i].secret, DMN_CTL_SECRET_LEN);
		assert_int_equal(u->recs[i].expires, t->recs[i].expires);
		assert_int_equal(u->recs[i].uses, t->recs[i].uses);
	}
	assert_int_equal(dmn_tokens_format(u, &text2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
	free(text);
	free(text2);
	free(t);
	free(u);
}

static void tokens_refused(const char *text, const char *needle)
{
	struct dmn_tokens *out = malloc(sizeof(*out)), *sentinel = malloc(sizeof(*sentinel));
	char err[OV_STATE_ERR_LEN] = "";

	assert_true(out && sentinel);
	memset(sentinel, 0xa5, sizeof(*sentinel));
	memcpy(out, sentinel, sizeof(*out));
	if (dmn_tokens_parse(text, strlen(text), out, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted %s", text);
	err_has(err, needle);
	assert_memory_equal(out, sentinel, sizeof(*out));
	free(out);
	free(sentinel);
}

#define ID1  "\"00112233445566778899aabbccddeeff\""
#define ID2  "\"ffeeddccbbaa99887766554433221100\""
#define ID3  "\"0123456789abcdef0123456789abcdef\""
#define SEC1 "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\""
#define REC(id, exp, uses) \
	"{\"id\": " id ", \"secret\": " SEC1 ", \"expires\": " exp ", \"uses\": " uses "}"

static void test_tokens_refusals(void **state)
{
	struct dmn_tokens *t = calloc(1, sizeof(*t));
	char err[OV_STATE_ERR_LEN];
	char *big;
	size_t off;

	(void)state;
	assert_non_null(t);
	/* the base case parses */
	{
		/* uses 0: a spent token, kept until it expires for its joiners' retries */
		static const char ok[] = "{\"version\": 1, \"tokens\": [" REC(
			ID1, "5", "1") ", " REC(ID2, "5", "2") ", " REC(ID3, "5", "0") "]}";

		assert_int_equal(dmn_tokens_parse(ok, strlen(ok), t, err, sizeof(err)), 0);
		assert_int_equal(t->n, 3);
		assert_int_equal(t->recs[1].uses, 2);
		assert_int_equal(t->recs[2].uses, 0);
		free(t);
	}

	tokens_refused(
		"{\"version\": 1, \"tokens\": [" REC(ID1, "5", "1") ", " REC(ID1, "6", "2") "]}",
		"tokens[1].id: appears twice");
	tokens_refused("{\"version\": 1, \"tokens\": [], \"x\": 1}", "unknown field");
	tokens_refused("{\"version\": 1, \"tokens\": [{\"id\": " ID1 ", \"secret\": " SEC1
		       ", \"expires\": 5, \"uses\": 1, \"note\": \"x\"}]}",
		       "tokens[0]: unknown field");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC(ID1, "5", "-1") "]}", "tokens[0].uses");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC(ID1, "5", "4294967296") "]}",
		       "tokens[0].uses");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC(ID1, "-1", "1") "]}",
		       "tokens[0].expires");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC(ID1, "\"5\"", "1") "]}",
		       "tokens[0].expires: expected");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC(ID1, "5", "1.0") "]}",
		       "tokens[0].uses: expected");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC("17", "5", "1") "]}",
		       "tokens[0].id: expected");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC("\"00112233445566778899AABBCCDDEEFF\"",
							    "5", "1") "]}",
		       "tokens[0].id: not 16 bytes of lower-case hex");
	tokens_refused("{\"version\": 1, \"tokens\": [" REC("\"0011\"", "5", "1") "]}",
		       "tokens[0].id");
	tokens_refused("{\"version\": 1, \"tokens\": [{\"id\": " ID1
		       ", \"expires\": 5, \"uses\": 1}]}",
		       "tokens[0].secret: missing");
	tokens_refused("{\"version\": 1, \"tokens\": [1]}", "tokens[0]: not an object");
	tokens_refused("{\"version\": 1, \"tokens\": {}}", "tokens: expected");
	tokens_refused("{\"version\": 2, \"tokens\": []}", "version");
	tokens_refused("{\"tokens\": []}", "version: missing");
	tokens_refused("{\"version\": 1}", "tokens: missing");
	tokens_refused("{\"version\": 1, \"tokens\": []} x", "bad JSON");
	tokens_refused("[]", "not a JSON object");

	/* one over the cap */
	big = malloc(64 + (DMN_CTL_TOKENS_MAX + 1) * 4);
	assert_non_null(big);
	off = (size_t)sprintf(big, "{\"version\": 1, \"tokens\": [");
	for (int i = 0; i <= DMN_CTL_TOKENS_MAX; i++)
		off += (size_t)sprintf(big + off, "%s1", i ? "," : "");
	strcpy(big + off, "]}");
	tokens_refused(big, "tokens: more than 256");
	free(big);
}

/* --- the cluster view ------------------------------------------------------------------------ */

static void test_view_round_trip(void **state)
{
	char err[OV_STATE_ERR_LEN] = "", *text;
	struct dmn_view v, w, empty;
	struct ov_state s;
	json_t *j, *j2;

	(void)state;
	ov_state_init(&s);
	view_make(&v);
	j = dmn_view_to_json(&v);
	assert_non_null(j);
	if (dmn_view_from_json(j, &s, &w, err, sizeof(err)))
		fail_msg("%s", err);
	assert_view_eq(&v, &w);
	j2 = dmn_view_to_json(&w);
	assert_true(json_equal(j, j2));
	json_decref(j2);
	/* through text, as it crosses the wire */
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = parse_ok(text);
	free(text);
	dmn_view_done(&w);
	assert_int_equal(dmn_view_from_json(j, &s, &w, err, sizeof(err)), 0);
	assert_view_eq(&v, &w);
	json_decref(j);
	assert_non_null(dmn_view_node(&w, "node-b"));
	assert_string_equal(dmn_view_node(&w, "node-b")->name, "node-b");
	assert_false(dmn_view_node(&w, "node-b")->has_endpoint);
	assert_null(dmn_view_node(&w, "node-c"));
	dmn_view_done(&w);
	dmn_view_done(&w); /* done twice is harmless */
	dmn_view_done(NULL);

	/* A record without "owner" (view.json before owners) is the admin's; "" is the admin. */
	j = dmn_view_to_json(&v);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "records"), 0), "owner")),
			    "node-a");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "records"), 1), "owner")),
			    "");
	json_object_del(json_array_get(json_object_get(j, "records"), 0), "owner");
	assert_int_equal(dmn_view_from_json(j, &s, &w, err, sizeof(err)), 0);
	assert_string_equal(w.records[0].owner, "");
	assert_string_equal(w.records[1].owner, "");
	assert_string_equal(w.records[0].name, "api");
	json_decref(j);
	dmn_view_done(&w);

	/* The same container name on another node is fine; so is a node alone. */
	strcpy(v.services[2].container, "web-1");
	j = dmn_view_to_json(&v);
	assert_int_equal(dmn_view_from_json(j, &s, &w, err, sizeof(err)), 0);
	json_decref(j);
	dmn_view_done(&w);
	memset(&empty, 0, sizeof(empty));
	strcpy(empty.leader, "leader");
	empty.nodes = v.nodes;
	empty.n_nodes = 1;
	j = dmn_view_to_json(&empty);
	assert_int_equal(dmn_view_from_json(j, &s, &w, err, sizeof(err)), 0);
	assert_view_eq(&empty, &w);
	json_decref(j);
	dmn_view_done(&w);
	dmn_view_done(&v);
}

static void test_view_refusals(void **state)
{
	struct dmn_view v, m;
	struct ov_state s, other;
	json_t *j, *arr;

	(void)state;
	ov_state_init(&s);
	view_make(&v);

#define MUTATE(stmt, needle)                                \
	do {                                                \
		assert_int_equal(dmn_view_copy(&v, &m), 0); \
		stmt;                                       \
		view_refused(&m, needle);                   \
		dmn_view_done(&m);                          \
	} while (0)
	MUTATE(strcpy(m.leader, "nobody"), "leader: not among the nodes");
	MUTATE(m.n_nodes = 2, "subnets[1].node: not a node");
	MUTATE(strcpy(m.leader, "Leader"), "leader: \"Leader\" is not a valid name");
	MUTATE(strcpy(m.nodes[2].name, "node-a"),
	       "nodes[2]: name, key, address or slice of nodes[1]");
	MUTATE(memcpy(m.nodes[2].public_key, m.nodes[0].public_key, OV_KEY_LEN),
	       "nodes[2]: name, key, address or slice of nodes[0]");
	MUTATE(m.nodes[1].ip4 = m.nodes[0].ip4,
	       "nodes[1]: name, key, address or slice of nodes[0]");
	MUTATE(m.nodes[2].ip6 = m.nodes[1].ip6,
	       "nodes[2]: name, key, address or slice of nodes[1]");
	MUTATE(m.nodes[2].slice = m.nodes[0].slice,
	       "nodes[2]: name, key, address or slice of nodes[0]");
	MUTATE((m.nodes[2].slice = m.nodes[0].slice, m.nodes[2].slice.len = 29),
	       "nodes[2]: name, key, address or slice of nodes[0]");
	MUTATE((m.nodes[1].slice = m.nodes[0].slice, m.nodes[1].slice.len = 27,
		m.nodes[1].slice.addr[3] &= 0xe0),
	       "nodes[1]: name, key, address or slice of nodes[0]");
	MUTATE(m.nodes[2].ip4 = host_in(&m.nodes[0].slice, 1),
	       "nodes[2]: name, key, address or slice of nodes[0]");
	MUTATE(memset(m.nodes[1].public_key, 0, OV_KEY_LEN),
	       "nodes[1].public_key: the all-zero key");
	MUTATE(prefix_set(&m.nodes[1].ip4, "10.201.0.5"), "nodes[1].ip4: not inside cluster.cidr4");
	MUTATE(prefix_set(&m.nodes[1].ip6, "fd00:201::5"),
	       "nodes[1].ip6: not inside cluster.cidr6");
	MUTATE(strcpy(m.subnets[1].node, "node-z"), "subnets[1].node: not a node");
	MUTATE(m.subnets[1].subnet = m.subnets[0].subnet, "subnets[1]: overlaps subnets[0]");
	MUTATE((m.subnets[1].subnet = m.subnets[0].subnet, m.subnets[1].subnet.len = 29),
	       "subnets[1]: overlaps subnets[0]");
	MUTATE((m.subnets[0].subnet.len = 27, m.subnets[0].subnet.addr[3] &= 0xe0,
		m.subnets[1].subnet = v.subnets[0].subnet),
	       "subnets[1]: overlaps subnets[0]");
	MUTATE((strcpy(m.subnets[1].service, "web"), strcpy(m.subnets[1].node, "node-a")),
	       "subnets[1]: overlaps subnets[0]");
	MUTATE(prefix_set(&m.subnets[0].subnet, "10.201.0.0/28"),
	       "subnets[0].subnet: not inside cluster.cidr4");
	MUTATE(prefix_set(&m.subnets[0].subnet, "10.200.0.0/16"),
	       "subnets[0].subnet: not inside cluster.cidr4");
	MUTATE(prefix_set(&m.subnets[0].subnet, "10.0.0.0/8"),
	       "subnets[0].subnet: not inside cluster.cidr4");
	MUTATE(m.services[0].addr = host_in(&m.subnets[1].subnet, 5),
	       "services[0].addr: not inside the subnet of its service and node");
	MUTATE(strcpy(m.services[2].node, "node-a"),
	       "services[2].addr: not inside the subnet of its service and node");
	MUTATE(strcpy(m.services[2].node, "node-z"), "services[2].addr: not inside the subnet");
	MUTATE(strcpy(m.services[2].service, "cache"), "services[2].addr: not inside the subnet");
	MUTATE(strcpy(m.services[1].container, "web-1"),
	       "services[1]: container or address of services[0]");
	MUTATE(m.services[1].addr = m.services[0].addr,
	       "services[1]: container or address of services[0]");
	MUTATE(prefix_set(&m.services[0].addr, "fd00:200::9"), "services[0].addr");
	MUTATE(m.services[0].ports[1].port = 0, "services[0].ports[1].port");
	MUTATE(strcpy(m.services[0].ports[0].name, "HTTP"), "services[0].ports[0].name");
	MUTATE(strcpy(m.services[0].ports[0].name, "-x"), "services[0].ports[0].name");
	MUTATE(strcpy(m.services[0].container, "a_b"), "services[0].container");
	MUTATE(strcpy(m.records[0].name, "Api"), "records[0].name: not a lower-case DNS name");
	MUTATE(strcpy(m.records[0].name, "a..b"), "records[0].name");
	MUTATE(strcpy(m.records[0].name, "-a"), "records[0].name");
	MUTATE(strcpy(m.records[0].name, "a-.b"), "records[0].name");
	MUTATE(strcpy(m.records[1].name, ".weft.local."), "records[1].name");
	MUTATE(strcpy(m.records[1].name, "a b"), "records[1].name");
	MUTATE(strcpy(m.records[0].owner, "node-z"), "records[0].owner: not a node");
	MUTATE(strcpy(m.records[1].owner, "Node-a"),
	       "records[1].owner: \"Node-a\" is not a valid name");
	MUTATE((m.n_nodes = 1, m.n_subnets = 0, m.n_services = 0), "records[0].owner: not a node");
	MUTATE(m.generation = (uint64_t)INT64_MAX + 1, "generation");
#undef MUTATE

	/* JSON-level breakage */
#define JMUTATE(stmt, needle)                     \
	do {                                      \
		j = dmn_view_to_json(&v);         \
		stmt;                             \
		view_json_refused(j, &s, needle); \
	} while (0)
	JMUTATE(json_object_set_new(j, "extra", json_true()), "top level: unknown field \"extra\"");
	JMUTATE(json_object_del(j, "records"), "records: missing");
	JMUTATE(json_object_del(j, "leader"), "leader: missing");
	JMUTATE(json_object_set_new(j, "version", json_integer(2)), "version");
	JMUTATE(json_object_set_new(j, "generation", json_integer(-1)), "generation");
	JMUTATE(json_object_set_new(j, "generation", json_string("1")), "generation: expected");
	JMUTATE(json_object_set_new(j, "nodes", json_object()), "nodes: expected");
	JMUTATE(json_array_set_new(json_object_get(j, "nodes"), 1, json_integer(1)),
		"nodes[1]: not an object");
	JMUTATE(json_array_set_new(json_object_get(j, "subnets"), 1, json_null()),
		"subnets[1]: not an object");
	JMUTATE(json_array_set_new(json_object_get(j, "services"), 0, json_string("x")),
		"services[0]: not an object");
	JMUTATE(json_array_set_new(json_object_get(j, "records"), 1, json_array()),
		"records[1]: not an object");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "nodes"), 0), "role",
				    json_string("leader")),
		"nodes[0]: unknown field");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "subnets"), 0), "x",
				    json_null()),
		"subnets[0]: unknown field");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "services"), 0), "x",
				    json_null()),
		"services[0]: unknown field");
	JMUTATE(json_object_del(json_array_get(json_object_get(j, "services"), 1), "ports"),
		"services[1].ports: missing");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "records"), 0), "ttl",
				    json_integer(5)),
		"records[0]: unknown field");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "records"), 0), "addr",
				    json_string("10.200.0.0/16")),
		"records[0].addr");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "records"), 0), "owner",
				    json_integer(1)),
		"records[0].owner: expected");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "records"), 1), "owner",
				    json_null()),
		"records[1].owner: expected");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "records"), 1), "owner",
				    json_string("a b")),
		"records[1].owner");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "subnets"), 0), "subnet",
				    json_string("10.200.103.33/28")),
		"subnets[0].subnet");
	JMUTATE(json_object_set_new(json_array_get(json_object_get(j, "services"), 0), "addr",
				    json_string("10.200.103.34/32")),
		"services[0].addr");
	JMUTATE(json_object_set_new(
			json_array_get(
				json_object_get(json_array_get(json_object_get(j, "services"), 0),
						"ports"),
				0),
			"proto", json_string("sctp")),
		"services[0].ports[0].proto");
	JMUTATE(for (int k = 0; k < DMN_CTL_PORTS_MAX; k++) json_array_append(
			json_object_get(json_array_get(json_object_get(j, "services"), 0), "ports"),
			json_array_get(
				json_object_get(json_array_get(json_object_get(j, "services"), 0),
						"ports"),
				0)),
		"services[0].ports: more than 8");
#undef JMUTATE

	/* the caps: one over, checked before any entry is read */
	{
		static const struct {
			const char *key;
			size_t max;
		} caps[] = {
			{"nodes", OV_ALLOC_MAX_NODES},
			{"subnets", OV_ALLOC_MAX_SUBNETS},
			{"services", DMN_CTL_SERVICES_MAX},
			{"records", DMN_CTL_RECORDS_MAX},
		};
		char needle[64];

		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
			j = dmn_view_to_json(&v);
			arr = json_array();
			for (size_t k = 0; k <= caps[i].max; k++)
				json_array_append_new(arr, json_integer(0));
			json_object_set_new(j, caps[i].key, arr);
			snprintf(needle, sizeof(needle), "%s: more than %zu", caps[i].key,
				 caps[i].max);
			view_json_refused(j, &s, needle);
		}
	}

	/* the same view against another cluster's ranges */
	ov_state_init(&other);
	prefix_set(&other.cidr4, "10.201.0.0/16");
	view_json_refused(dmn_view_to_json(&v), &other, "nodes[0].ip4: not inside cluster.cidr4");
	dmn_view_done(&v);
}

static void test_view_copy(void **state)
{
	struct dmn_view v, c, e, ce;

	(void)state;
	view_make(&v);
	assert_int_equal(dmn_view_copy(&v, &c), 0);
	assert_view_eq(&v, &c);
	assert_ptr_not_equal(c.nodes, v.nodes);
	assert_ptr_not_equal(c.services, v.services);
	/* independent */
	strcpy(c.nodes[0].name, "changed");
	c.services[0].ports[0].port = 1;
	assert_string_equal(v.nodes[0].name, "leader");
	assert_int_equal(v.services[0].ports[0].port, 80);
	dmn_view_done(&c);
	assert_null(c.nodes);
	assert_int_equal(c.n_nodes, 0);
	/* an empty view copies to an empty view with usable (non-NULL) arrays */
	memset(&e, 0, sizeof(e));
	e.generation = 3;
	assert_int_equal(dmn_view_copy(&e, &ce), 0);
	assert_view_eq(&e, &ce);
	assert_non_null(ce.nodes);
	dmn_view_done(&ce);
	dmn_view_done(&v);
}

/* --- join messages -------------------------------------------------------------------------------
 */


static void subst_key(char *out, size_t n, const char *tmpl, const char *key)
{
	const char *at = strchr(tmpl, '@');

	assert_non_null(at);
	snprintf(out, n, "%.*s%s%s", (int)(at - tmpl), tmpl, key, at + 1);
}

static void test_join_msg(void **state)
{
	struct dmn_join m, g, sentinel;
	char err[OV_STATE_ERR_LEN], b64[OV_KEY_B64_LEN + 1], text[512];
	uint8_t zero[OV_KEY_LEN] = {0};
	json_t *j;
	struct {
		const char *tmpl; /* "@" marks the key */
		const char *needle;
	} bad[] = {
		{"{\"name\": \"node-c\", \"public_key\": \"@\"}", "endpoint: missing"},
		{"{\"name\": \"node-c\", \"public_key\": \"@\", \"endpoint\": \"x\"}", "endpoint"},
		{"{\"name\": \"node-c\", \"public_key\": \"@\", \"endpoint\": 5}", "endpoint"},
		{"{\"name\": \"Node-C\", \"public_key\": \"@\", \"endpoint\": null}", "name"},
		{"{\"public_key\": \"@\", \"endpoint\": null}", "name: missing"},
		{"{\"name\": \"node-c\", \"public_key\": \"@=\", \"endpoint\": null}",
		 "public_key"},
		{"{\"name\": \"node-c\", \"public_key\": \"@\", \"endpoint\": null, \"ip4\": "
		 "\"x\"}",
		 "unknown field \"ip4\""},
	};

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.name, "node-c");
	fill(m.public_key, OV_KEY_LEN, 9);
	j = dmn_join_to_json(&m);
	assert_true(json_is_null(json_object_get(j, "endpoint")));
	memset(&g, 0xee, sizeof(g));
	assert_int_equal(dmn_join_from_json(j, &g, err, sizeof(err)), 0);
	assert_string_equal(g.name, m.name);
	assert_memory_equal(g.public_key, m.public_key, OV_KEY_LEN);
	assert_false(g.has_endpoint);
	json_decref(j);
	for (int v6 = 0; v6 < 2; v6++) {
		assert_int_equal(
			ov_endpoint_parse(v6 ? "[fd00::3]:51420" : "198.18.0.3:51420", &m.endpoint),
			0);
		m.has_endpoint = true;
		j = dmn_join_to_json(&m);
		assert_int_equal(dmn_join_from_json(j, &g, err, sizeof(err)), 0);
		assert_true(g.has_endpoint);
		assert_int_equal(g.endpoint.family, v6 ? 6 : 4);
		assert_int_equal(g.endpoint.port, 51420);
		assert_memory_equal(g.endpoint.addr, m.endpoint.addr, 16);
		json_decref(j);
	}

	memset(&sentinel, 0x77, sizeof(sentinel));
	ov_key_to_base64(m.public_key, b64);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		subst_key(text, sizeof(text), bad[i].tmpl, b64);
		j = parse_ok(text);
		g = sentinel;
		err[0] = '\0';
		if (dmn_join_from_json(j, &g, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted join %s", text);
		err_has(err, bad[i].needle);
		assert_memory_equal(&g, &sentinel, sizeof(g));
		json_decref(j);
	}
	ov_key_to_base64(zero, b64);
	snprintf(text, sizeof(text),
		 "{\"name\": \"n\", \"public_key\": \"%s\", \"endpoint\": null}", b64);
	j = parse_ok(text);
	g = sentinel;
	assert_int_equal(dmn_join_from_json(j, &g, err, sizeof(err)), -EINVAL);
	err_has(err, "public_key: not a non-zero");
	assert_memory_equal(&g, &sentinel, sizeof(g));
	json_decref(j);
}

static void welcome_make(struct ov_state *cl, struct ov_peer *lease, struct dmn_view *v)
{
	view_make(v);
	ov_state_init(cl);
	cl->port = 51999;
	cl->mtu = 1380;
	cl->keepalive = 0;
	strcpy(cl->zone, "prod.example.");
	*lease = v->nodes[2];
}

static void welcome_refused(json_t *j, const char *needle)
{
	struct dmn_welcome out, sentinel;
	char err[OV_STATE_ERR_LEN] = "";

	assert_non_null(j);
	memset(&sentinel, 0x3c, sizeof(sentinel));
	out = sentinel;
	assert_true(dmn_welcome_from_json(j, &out, err, sizeof(err)) < 0);
	err_has(err, needle);
	assert_memory_equal(&out, &sentinel, sizeof(out));
	json_decref(j);
}

static void test_welcome(void **state)
{
	struct ov_state cl;
	struct ov_peer lease;
	struct dmn_view v;
	struct dmn_welcome w;
	char err[OV_STATE_ERR_LEN] = "";
	json_t *j, *j2;

	(void)state;
	welcome_make(&cl, &lease, &v);
	j = dmn_welcome_to_json(&cl, &lease, &v);
	assert_non_null(j);
	if (dmn_welcome_from_json(j, &w, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(ov_prefix_equal(&w.cluster.cidr4, &cl.cidr4));
	assert_true(ov_prefix_equal(&w.cluster.cidr6, &cl.cidr6));
	assert_int_equal(w.cluster.port, 51999);
	assert_int_equal(w.cluster.mtu, 1380);
	assert_int_equal(w.cluster.keepalive, 0);
	assert_string_equal(w.cluster.zone, "prod.example.");
	assert_int_equal(w.cluster.role, OV_ROLE_MEMBER);
	assert_true(peer_eq(&w.cluster.self, &lease));
	assert_null(w.cluster.members);
	assert_view_eq(&w.view, &v);
	j2 = dmn_welcome_to_json(&w.cluster, &w.cluster.self, &w.view);
	assert_true(json_equal(j, j2));
	json_decref(j2);
	json_decref(j);
	dmn_welcome_done(&w);
	dmn_welcome_done(NULL);

	/* A member's state built from the welcome saves (the joiner writes it to disk). */
	{
		char *text;
		size_t len;

		j = dmn_welcome_to_json(&cl, &lease, &v);
		assert_int_equal(dmn_welcome_from_json(j, &w, err, sizeof(err)), 0);
		json_decref(j);
		w.cluster.leader = *dmn_view_node(&w.view, w.view.leader);
		if (ov_state_format(&w.cluster, &text, &len, err, sizeof(err)))
			fail_msg("member state from a welcome: %s", err);
		free(text);
		dmn_welcome_done(&w);
	}

	/* The view is checked against the welcome's own cluster ranges. */
	{
		struct ov_state cl2 = cl;

		prefix_set(&cl2.cidr4, "10.0.0.0/8");
		j = dmn_welcome_to_json(&cl2, &lease, &v);
		assert_int_equal(dmn_welcome_from_json(j, &w, err, sizeof(err)), 0);
		dmn_welcome_done(&w);
		json_decref(j);
		prefix_set(&cl2.cidr4, "10.201.0.0/16");
		welcome_refused(dmn_welcome_to_json(&cl2, &lease, &v), "lease.ip4");
		prefix_set(&cl2.cidr4, "10.200.0.0/16");
		prefix_set(&cl2.cidr6, "fd00:201::/48");
		welcome_refused(dmn_welcome_to_json(&cl2, &lease, &v), "lease.ip6");
	}

#define WMUTATE(stmt, needle)                             \
	do {                                              \
		j = dmn_welcome_to_json(&cl, &lease, &v); \
		stmt;                                     \
		welcome_refused(j, needle);               \
	} while (0)
#define CL(key, val) json_object_set_new(json_object_get(j, "cluster"), key, val)
	WMUTATE(json_object_set_new(j, "x", json_null()), "top level: unknown field");
	WMUTATE(json_object_del(j, "lease"), "lease: missing");
	WMUTATE(json_object_del(j, "view"), "view: missing");
	WMUTATE(json_object_set_new(j, "view", json_array()), "view: expected");
	WMUTATE(CL("x", json_null()), "cluster: unknown field");
	WMUTATE(json_object_del(json_object_get(j, "cluster"), "mtu"), "cluster.mtu: missing");
	WMUTATE(CL("mtu", json_integer(1000)), "cluster.mtu");
	WMUTATE(CL("port", json_integer(0)), "cluster.port");
	WMUTATE(CL("keepalive", json_integer(65536)), "cluster.keepalive");
	WMUTATE(CL("cidr4", json_string("10.200.0.1/16")), "cluster.cidr4");
	WMUTATE(CL("cidr4", json_string("fd00::/48")), "cluster.cidr4");
	WMUTATE(CL("cidr6", json_string("10.200.0.0/16")), "cluster.cidr6");
	WMUTATE(CL("zone", json_string("prod.example")), "cluster.zone");
	WMUTATE(CL("zone", json_string("Prod.example.")), "cluster.zone");
	WMUTATE(CL("zone", json_string(".")), "cluster.zone");
	WMUTATE(CL("zone", json_string("")), "cluster.zone");
	WMUTATE(CL("zone", json_string("a..b.")), "cluster.zone");
	/* a zone the joiner's state file would refuse */
	WMUTATE(CL("zone", json_string("_x.example.")), "cluster.zone");
	WMUTATE(CL("zone", json_string("a_b.example.")), "cluster.zone");
	WMUTATE(json_object_set_new(json_object_get(j, "lease"), "role", json_string("member")),
		"lease: unknown field");
	WMUTATE(json_object_set_new(json_object_get(j, "lease"), "name", json_string("")),
		"lease.name");
	WMUTATE(json_object_set_new(json_object_get(j, "view"), "leader", json_string("nobody")),
		"leader: not among the nodes");
	WMUTATE(json_object_set_new(json_object_get(j, "view"), "x", json_null()), "unknown field");
#undef CL
#undef WMUTATE
	dmn_view_done(&v);
}

/* --- requests ----------------------------------------------------------------------------------
 */

static void assert_req_eq(const struct dmn_request *a, const struct dmn_request *b)
{
	assert_int_equal(a->op, b->op);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->service, b->service);
	assert_string_equal(a->container, b->container);
	assert_string_equal(a->netns, b->netns);
	assert_int_equal(a->has_addr, b->has_addr);
	if (a->has_addr)
		assert_true(ov_prefix_equal(&a->addr, &b->addr));
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->uses, b->uses);
	assert_memory_equal(&a->endpoint, &b->endpoint, sizeof(a->endpoint));
	assert_true(ports_eq(a->ports, a->n_ports, b->ports, b->n_ports));
}

#define PORTS                                                                                      \
	"[{\"name\": \"http\", \"proto\": \"tcp\", \"port\": 80}, {\"name\": \"dns\", \"proto\": " \
	"\"udp\", \"port\": 53}]"

static const char *const good_requests[] = {
	"{\"op\": \"status\"}",
	"{\"op\": \"token-create\", \"ttl\": 3600, \"uses\": 1}",
	"{\"op\": \"token-create\", \"ttl\": 2592000, \"uses\": 1000000}",
	"{\"op\": \"node-remove\", \"name\": \"node-a\"}",
	"{\"op\": \"dns-list\"}",
	"{\"op\": \"dns-add\", \"name\": \"api\", \"addr\": \"10.200.0.9\"}",
	"{\"op\": \"dns-add\", \"name\": \"api.weft.local.\", \"addr\": \"fd00::9\"}",
	"{\"op\": \"dns-rm\", \"name\": \"api\"}",
	"{\"op\": \"dns-rm\", \"name\": \"_srv._tcp.api\", \"addr\": \"10.200.0.9\"}",
	"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/proc/123/ns/net\", "
	"\"container\": \"web-1\"}",
	"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/run/netns/c1\", "
	"\"container\": \"web-1\", \"ports\": " PORTS "}",
	"{\"op\": \"detach\", \"container\": \"web-1\"}",
	"{\"op\": \"endpoint-set\", \"endpoint\": \"198.18.0.11:51420\"}",
	"{\"op\": \"endpoint-set\", \"endpoint\": \"[2001:db8::1]:443\"}",
	"{\"op\": \"get-view\", \"generation\": 0}",
	"{\"op\": \"get-view\", \"generation\": 9223372036854775807}",
	"{\"op\": \"subnet\", \"service\": \"web\"}",
	"{\"op\": \"service-add\", \"service\": \"web\", \"container\": \"web-1\", "
	"\"addr\": \"10.200.103.34\", \"ports\": " PORTS "}",
	"{\"op\": \"service-add\", \"service\": \"web\", \"container\": \"web-1\", "
	"\"addr\": \"10.200.103.34\"}",
	"{\"op\": \"service-del\", \"container\": \"web-1\"}",
	"{\"op\": \"time\"}",
	"{\"op\": \"paths\", \"nat\": \"endpoint-independent\", \"candidates\": "
	"[\"host 198.19.1.2:51420\", \"srflx 198.18.0.10:51420\", \"relay [fd00::9]:50000\"]}",
	"{\"op\": \"paths\", \"nat\": \"unknown\", \"candidates\": []}",
	"{\"op\": \"punch\", \"name\": \"node-b\"}",
	"{\"op\": \"nat-config\"}",
	"{\"op\": \"peers\"}",
};

static void test_request_round_trip(void **state)
{
	bool seen[DMN_OP__MAX + 1] = {false};
	char err[OV_STATE_ERR_LEN] = "";
	struct dmn_request r, r2;
	json_t *j, *j2;

	(void)state;
	for (size_t i = 0; i < sizeof(good_requests) / sizeof(good_requests[0]); i++) {
		j = parse_ok(good_requests[i]);
		memset(&r, 0xee, sizeof(r));
		if (dmn_request_from_json(j, &r, err, sizeof(err)))
			fail_msg("%s: %s", good_requests[i], err);
		assert_true(r.op >= 1 && r.op <= DMN_OP__MAX);
		seen[r.op] = true;
		assert_string_equal(dmn_op_name(r.op), json_string_value(json_object_get(j, "op")));
		j2 = dmn_request_to_json(&r);
		assert_non_null(j2);
		if (!json_equal(j, j2)) {
			char *a = json_dumps(j2, JSON_COMPACT);

			fail_msg("%s came back as %s", good_requests[i], a);
		}
		assert_int_equal(dmn_request_from_json(j2, &r2, err, sizeof(err)), 0);
		assert_req_eq(&r, &r2);
		json_decref(j);
		json_decref(j2);
	}
	for (int op = 1; op <= DMN_OP__MAX; op++)
		if (!seen[op])
			fail_msg("op %s not covered", dmn_op_name((enum dmn_op)op));
	assert_string_equal(dmn_op_name((enum dmn_op)0), "?");
	assert_string_equal(dmn_op_name((enum dmn_op)(DMN_OP__MAX + 1)), "?");

	/* The fields land where they belong. */
	j = parse_ok(good_requests[10]);
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.op, DMN_OP_ATTACH);
	assert_string_equal(r.service, "web");
	assert_string_equal(r.netns, "/run/netns/c1");
	assert_string_equal(r.container, "web-1");
	assert_int_equal(r.n_ports, 2);
	assert_string_equal(r.ports[1].name, "dns");
	assert_int_equal(r.ports[1].proto, 17);
	assert_int_equal(r.ports[1].port, 53);
	json_decref(j);
	j = parse_ok(good_requests[1]);
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.ttl, 3600);
	assert_int_equal(r.uses, 1);
	json_decref(j);
	j = parse_ok(good_requests[7]);
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_false(r.has_addr);
	json_decref(j);
	/* an empty port list is the same as none */
	j = parse_ok("{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", "
		     "\"container\": \"c\", \"ports\": []}");
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n_ports, 0);
	json_decref(j);

	/* to_json of a request with no valid op */
	memset(&r, 0, sizeof(r));
	assert_null(dmn_request_to_json(&r));
	r.op = (enum dmn_op)(DMN_OP__MAX + 1);
	assert_null(dmn_request_to_json(&r));
}

static void test_request_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *needle;
	} bad[] = {
		{"{}", "op: missing"},
		{"{\"op\": 1}", "op: expected"},
		{"{\"op\": \"\"}", "op: empty"},
		{"{\"op\": \"reboot\"}", "op: unknown operation \"reboot\""},
		{"{\"op\": \"STATUS\"}", "unknown operation"},
		{"{\"op\": \"status\", \"ttl\": 5}", "unknown field \"ttl\""},
		{"{\"op\": \"dns-list\", \"name\": \"x\"}", "unknown field \"name\""},
		{"{\"op\": \"detach\", \"container\": \"c\", \"service\": \"web\"}",
		 "unknown field \"service\""},
		{"{\"op\": \"subnet\", \"service\": \"web\", \"container\": \"c\"}",
		 "unknown field"},
		{"{\"op\": \"get-view\", \"generation\": 1, \"op2\": 1}", "unknown field"},
		{"{\"op\": \"service-del\", \"container\": \"c\", \"ports\": []}", "unknown field"},
		{"{\"op\": \"token-create\", \"ttl\": 5}", "uses: missing"},
		{"{\"op\": \"token-create\", \"uses\": 5}", "ttl: missing"},
		{"{\"op\": \"token-create\", \"ttl\": 0, \"uses\": 1}", "ttl"},
		{"{\"op\": \"token-create\", \"ttl\": 2592001, \"uses\": 1}", "ttl"},
		{"{\"op\": \"token-create\", \"ttl\": 5, \"uses\": 0}", "uses"},
		{"{\"op\": \"token-create\", \"ttl\": 5, \"uses\": 1000001}", "uses"},
		{"{\"op\": \"token-create\", \"ttl\": \"5\", \"uses\": 1}", "ttl: expected"},
		{"{\"op\": \"endpoint-set\"}", "endpoint: missing"},
		{"{\"op\": \"endpoint-set\", \"endpoint\": \"198.18.0.11\"}",
		 "endpoint: \"198.18.0.11\" is not IPv4:port"},
		{"{\"op\": \"endpoint-set\", \"endpoint\": \"host:1\"}", "endpoint"},
		{"{\"op\": \"endpoint-set\", \"endpoint\": 5}", "endpoint: expected"},
		{"{\"op\": \"endpoint-set\", \"endpoint\": \"198.18.0.1:1\", \"name\": \"x\"}",
		 "unknown field"},
		{"{\"op\": \"node-remove\"}", "name: missing"},
		{"{\"op\": \"node-remove\", \"name\": \"a.b\"}", "name"},
		{"{\"op\": \"node-remove\", \"name\": \"Node\"}", "name"},
		{"{\"op\": \"dns-add\", \"name\": \"x\"}", "addr: missing"},
		{"{\"op\": \"dns-add\", \"addr\": \"10.200.0.1\"}", "name: missing"},
		{"{\"op\": \"dns-add\", \"name\": \"X\", \"addr\": \"10.200.0.1\"}",
		 "name: not a lower-case DNS name"},
		{"{\"op\": \"dns-add\", \"name\": \"a..b\", \"addr\": \"10.200.0.1\"}", "name"},
		{"{\"op\": \"dns-add\", \"name\": \"x\", \"addr\": \"10.200.0.0/24\"}", "addr"},
		{"{\"op\": \"dns-add\", \"name\": \"x\", \"addr\": \"host\"}", "addr"},
		{"{\"op\": \"dns-rm\", \"name\": \"x\", \"addr\": null}", "addr: expected"},
		{"{\"op\": \"dns-rm\", \"name\": \"x\", \"addr\": \"\"}", "addr: empty"},
		{"{\"op\": \"attach\", \"netns\": \"/n\", \"container\": \"c\"}",
		 "service: missing"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"container\": \"c\"}",
		 "netns: missing"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\"}",
		 "container: missing"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"proc/1/ns/net\", "
		 "\"container\": \"c\"}",
		 "netns: not an absolute path"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"\", \"container\": "
		 "\"c\"}",
		 "netns: empty"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": {}}",
		 "ports: expected"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [1]}",
		 "ports[0]: not an object"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"sctp\", \"port\": 80}]}",
		 "ports[0].proto"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"TCP\", \"port\": 80}]}",
		 "ports[0].proto"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"tcp\", \"port\": 0}]}",
		 "ports[0].port"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"tcp\", \"port\": 65536}]}",
		 "ports[0].port"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"HTTP\", \"proto\": \"tcp\", \"port\": 80}]}",
		 "ports[0].name"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"a-very-long-name\", \"proto\": \"tcp\", \"port\": 80}]}",
		 "ports[0].name"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"tcp\", \"port\": 80, \"x\": 1}]}",
		 "ports[0]: unknown field"},
		{"{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"/n\", \"container\": "
		 "\"c\", "
		 "\"ports\": [{\"name\": \"http\", \"proto\": \"tcp\"}]}",
		 "ports[0].port: missing"},
		{"{\"op\": \"service-add\", \"service\": \"web\", \"container\": \"c\"}",
		 "addr: missing"},
		{"{\"op\": \"service-add\", \"service\": \"web\", \"container\": \"c\", "
		 "\"addr\": \"fd00::1\"}",
		 "addr"},
		{"{\"op\": \"get-view\"}", "generation: missing"},
		{"{\"op\": \"get-view\", \"generation\": -1}", "generation"},
		{"{\"op\": \"subnet\", \"service\": \"we_b\"}", "service"},
		{"{\"op\": \"detach\", \"container\": \"-c\"}", "container"},
	};
	struct dmn_request out, sentinel;
	char err[OV_STATE_ERR_LEN];
	json_t *j;

	(void)state;
	memset(&sentinel, 0x5c, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = parse_ok(bad[i].text);
		out = sentinel;
		err[0] = '\0';
		if (dmn_request_from_json(j, &out, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted %s", bad[i].text);
		err_has(err, bad[i].needle);
		if (err[0] == '.')
			fail_msg("error \"%s\": a top-level field named with a leading '.'", err);
		assert_memory_equal(&out, &sentinel, sizeof(out));
		json_decref(j);
	}

	/* nine ports, and a netns path one over the cap */
	{
		char text[4096], path[DMN_CTL_PATH_MAX + 2];
		size_t off =
			(size_t)snprintf(text, sizeof(text),
					 "{\"op\": \"attach\", \"service\": \"web\", "
					 "\"netns\": \"/n\", \"container\": \"c\", \"ports\": [");

		for (int i = 0; i <= DMN_CTL_PORTS_MAX; i++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
						"%s{\"name\": \"p%d\", \"proto\": \"tcp\", "
						"\"port\": %d}",
						i ? ", " : "", i, 1000 + i);
		snprintf(text + off, sizeof(text) - off, "]}");
		j = parse_ok(text);
		out = sentinel;
		assert_int_equal(dmn_request_from_json(j, &out, err, sizeof(err)), -EINVAL);
		err_has(err, "ports: more than 8");
		assert_int_equal(err[0], 'p');
		assert_memory_equal(&out, &sentinel, sizeof(out));
		json_decref(j);

		memset(path, 'a', sizeof(path) - 1);
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		snprintf(text, sizeof(text),
			 "{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"%s\", "
			 "\"container\": \"c\"}",
			 path);
		j = parse_ok(text);
		assert_int_equal(dmn_request_from_json(j, &out, err, sizeof(err)), -EINVAL);
		err_has(err, "netns: too long");
		json_decref(j);
		path[sizeof(path) - 2] = '\0'; /* exactly DMN_CTL_PATH_MAX */
		snprintf(text, sizeof(text),
			 "{\"op\": \"attach\", \"service\": \"web\", \"netns\": \"%s\", "
			 "\"container\": \"c\"}",
			 path);
		j = parse_ok(text);
		assert_int_equal(dmn_request_from_json(j, &out, err, sizeof(err)), 0);
		assert_string_equal(out.netns, path);
		json_decref(j);
	}
}

/* --- paths through NATs ------------------------------------------------------------------- */

static void cand_set(struct dmn_cand *c, enum dmn_cand_kind k, const char *ep)
{
	c->kind = k;
	assert_int_equal(ov_endpoint_parse(ep, &c->ep), 0);
}

static void test_cand(void **state)
{
	static const char *const good[] = {"host 198.19.1.2:51420", "srflx 198.18.0.10:3852",
					   "relay 198.18.0.2:49152", "host [fd00::2]:51420"};
	static const char *const bad[] = {
		"", "host", "host ", "host 198.19.1.2", "peer 198.19.1.2:1", "HOST 1.2.3.4:5",
		"host  1.2.3.4:5", "host 1.2.3.4:0", "host 1.2.3.4:65536", "srflx fe80::1:5",
		"relay 1.2.3.4:5 ", "hostx 1.2.3.4:5", "host 999.1.1.1:5"};
	char out[OV_ENDPOINT_STRLEN + 8];
	struct dmn_cand c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(dmn_cand_parse(good[i], &c), 0);
		dmn_cand_format(&c, out);
		assert_string_equal(out, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dmn_cand_parse(bad[i], &c) != -EINVAL)
			fail_msg("candidate \"%s\" taken", bad[i]);
	assert_string_equal(dmn_nat_type_name(DMN_NAT_EDM), "endpoint-dependent");
	assert_string_equal(dmn_nat_type_name((enum dmn_nat_type)9), "?");
	assert_string_equal(dmn_cand_kind_name((enum dmn_cand_kind)0), "?");
}

static void test_view_paths(void **state)
{
	char err[OV_STATE_ERR_LEN] = "";
	struct dmn_view v, w;
	struct ov_state s;
	json_t *j, *pa, *o;

	(void)state;
	ov_state_init(&s);
	view_make(&v);
	v.paths = calloc(2, sizeof(*v.paths));
	assert_non_null(v.paths);
	strcpy(v.paths[0].node, "node-a");
	v.paths[0].nat = DMN_NAT_EIM;
	cand_set(&v.paths[0].cand[0], DMN_CAND_HOST, "198.19.1.2:51420");
	cand_set(&v.paths[0].cand[1], DMN_CAND_SRFLX, "198.18.0.10:51420");
	cand_set(&v.paths[0].cand[2], DMN_CAND_RELAY, "198.18.0.2:50000");
	v.paths[0].n_cand = 3;
	strcpy(v.paths[1].node, "leader");
	v.paths[1].nat = DMN_NAT_NONE;
	v.n_paths = 2;

	j = dmn_view_to_json(&v);
	if (dmn_view_from_json(j, &s, &w, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(w.n_paths, 2);
	assert_true(dmn_paths_equal(&v.paths[0], dmn_view_paths(&w, "node-a")));
	assert_true(dmn_paths_equal(&v.paths[1], dmn_view_paths(&w, "leader")));
	assert_null(dmn_view_paths(&w, "node-b"));
	assert_false(dmn_paths_equal(&v.paths[0], &v.paths[1]));
	dmn_view_done(&w);
	/* a copy carries them */
	assert_int_equal(dmn_view_copy(&v, &w), 0);
	assert_true(dmn_paths_equal(&v.paths[0], &w.paths[0]));
	dmn_view_done(&w);
	/* a view without "paths" (view.json before NAT traversal) is fine */
	json_object_del(j, "paths");
	assert_int_equal(dmn_view_from_json(j, &s, &w, err, sizeof(err)), 0);
	assert_int_equal(w.n_paths, 0);
	dmn_view_done(&w);
	json_decref(j);

	/* refusals: each one a fresh copy with one thing wrong */
#define PATHS_REFUSED(mutate, needle)                                                        \
	do {                                                                               \
		j = dmn_view_to_json(&v);                                                  \
		pa = json_object_get(j, "paths");                                          \
		o = json_array_get(pa, 0);                                                 \
		(void)o;                                                                   \
		mutate;                                                                    \
		view_json_refused(j, &s, needle);                                          \
	} while (0)
	PATHS_REFUSED(json_object_set_new(o, "node", json_string("node-z")), "not a node of the view");
	PATHS_REFUSED(json_object_set_new(o, "node", json_string("leader")), "twice");
	PATHS_REFUSED(json_object_set_new(o, "nat", json_string("full-cone")), "nat");
	PATHS_REFUSED(json_object_set_new(o, "nat", json_integer(2)), "nat");
	PATHS_REFUSED(json_object_set_new(o, "extra", json_true()), "extra");
	PATHS_REFUSED(json_object_del(o, "candidates"), "candidates");
	PATHS_REFUSED(json_array_append_new(json_object_get(o, "candidates"), json_string("host 1.2.3.4")),
		      "candidates[3]");
	PATHS_REFUSED(json_array_append_new(json_object_get(o, "candidates"), json_integer(1)),
		      "candidates[3]");
	PATHS_REFUSED(for (int k = 0; k < DMN_CAND_MAX; k++) json_array_append_new(
			      json_object_get(o, "candidates"), json_string("host 1.2.3.4:5")),
		      "more than");
	PATHS_REFUSED(json_object_set_new(j, "paths", json_object()), "paths");
	PATHS_REFUSED(json_array_append_new(pa, json_string("x")), "paths[2]");
#undef PATHS_REFUSED
	dmn_view_done(&v);
}

static void test_request_paths(void **state)
{
	char err[OV_STATE_ERR_LEN] = "";
	struct dmn_request q = {.op = DMN_OP_PATHS}, r;
	json_t *j;

	(void)state;
	q.paths.nat = DMN_NAT_EDM;
	cand_set(&q.paths.cand[0], DMN_CAND_SRFLX, "198.18.0.10:3852");
	q.paths.n_cand = 1;
	j = dmn_request_to_json(&q);
	assert_null(json_object_get(j, "node")); /* the key names the node, never the request */
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.op, DMN_OP_PATHS);
	assert_true(dmn_paths_equal(&q.paths, &r.paths));
	json_object_set_new(j, "node", json_string("leader"));
	assert_true(dmn_request_from_json(j, &r, err, sizeof(err)) < 0);
	err_has(err, "node");
	json_decref(j);
	/* punch names a node; nat-config and peers take nothing */
	j = parse_ok("{\"op\": \"punch\", \"name\": \"node-a\"}");
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_string_equal(r.name, "node-a");
	json_decref(j);
	j = parse_ok("{\"op\": \"punch\", \"name\": \"Node A\"}");
	assert_true(dmn_request_from_json(j, &r, err, sizeof(err)) < 0);
	json_decref(j);
	j = parse_ok("{\"op\": \"nat-config\", \"stun\": []}");
	assert_true(dmn_request_from_json(j, &r, err, sizeof(err)) < 0);
	json_decref(j);
	j = parse_ok("{\"op\": \"peers\"}");
	assert_int_equal(dmn_request_from_json(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.op, DMN_OP_PEERS);
	json_decref(j);
}

static void test_nat_config_reply(void **state)
{
	char err[OV_STATE_ERR_LEN] = "";
	struct dmn_nat_config c = {0}, d, sentinel;
	json_t *j;

	(void)state;
	assert_int_equal(ov_endpoint_parse("198.18.0.3:3479", &c.stun[0]), 0);
	c.n_stun = 1;
	c.has_turn = true;
	assert_int_equal(ov_endpoint_parse("198.18.0.2:3478", &c.turn), 0);
	strcpy(c.user, "1796691306:n2");
	strcpy(c.password, "q9Jk+/0=");
	c.expires = 1796691306;
	j = dmn_nat_config_to_json(&c);
	assert_int_equal(dmn_nat_config_from_json(j, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_stun, 1);
	assert_true(d.has_turn);
	assert_string_equal(d.user, c.user);
	assert_string_equal(d.password, c.password);
	assert_int_equal(d.expires, c.expires);
	/* one thing wrong at a time: refused, output untouched */
	json_object_set_new(json_object_get(j, "turn"), "server", json_string("turn.example:3478"));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	d = sentinel;
	assert_true(dmn_nat_config_from_json(j, &d, err, sizeof(err)) < 0);
	err_has(err, "turn.server");
	assert_memory_equal(&d, &sentinel, sizeof(d));
	json_object_set_new(json_object_get(j, "turn"), "server", json_string("198.18.0.2:3478"));
	json_object_set_new(json_object_get(j, "turn"), "password", json_string("has space"));
	assert_true(dmn_nat_config_from_json(j, &d, err, sizeof(err)) < 0);
	err_has(err, "turn.password");
	json_object_del(j, "turn");
	json_array_append_new(json_object_get(j, "stun"), json_string("nope"));
	assert_true(dmn_nat_config_from_json(j, &d, err, sizeof(err)) < 0);
	err_has(err, "stun[1]");
	json_decref(j);
}

static void test_port_parse(void **state)
{
	static const struct {
		const char *s;
		int ok;
		const char *name;
		uint8_t proto;
		uint16_t port;
	} t[] = {
		{"http:80/tcp", 1, "http", 6, 80},
		{"dns:53/udp", 1, "dns", 17, 53},
		{"a:1/tcp", 1, "a", 6, 1},
		{"x-y:65535/udp", 1, "x-y", 17, 65535},
		{"fifteen-chars-x:8080/tcp", 1, "fifteen-chars-x", 6, 8080},
		{"443:443/tcp", 1, "443", 6, 443},
		{"http:0/tcp", 0, NULL, 0, 0},
		{"http:65536/tcp", 0, NULL, 0, 0},
		{"http:99999999999999999999999/tcp", 0, NULL, 0, 0},
		{"HTTP:80/tcp", 0, NULL, 0, 0},
		{"http:80/sctp", 0, NULL, 0, 0},
		{"http:80/TCP", 0, NULL, 0, 0},
		{"http:80/tcp ", 0, NULL, 0, 0},
		{"http:80/", 0, NULL, 0, 0},
		{"http:80", 0, NULL, 0, 0},
		{"x:080/tcp", 0, NULL, 0, 0},
		{"x:+80/tcp", 0, NULL, 0, 0},
		{"x: 80/tcp", 0, NULL, 0, 0},
		{"x:-80/tcp", 0, NULL, 0, 0},
		{"x:8a/tcp", 0, NULL, 0, 0},
		{"x:/tcp", 0, NULL, 0, 0},
		{"x:80:81/tcp", 0, NULL, 0, 0},
		{":80/tcp", 0, NULL, 0, 0},
		{"-http:80/tcp", 0, NULL, 0, 0},
		{"http-:80/tcp", 0, NULL, 0, 0},
		{"ht_tp:80/tcp", 0, NULL, 0, 0},
		{"sixteen-chars-xx:80/tcp", 0, NULL, 0, 0},
		{"http80/tcp", 0, NULL, 0, 0},
		{"", 0, NULL, 0, 0},
		{":", 0, NULL, 0, 0},
		{"/", 0, NULL, 0, 0},
	};
	struct dmn_port p, sentinel;

	(void)state;
	memset(&sentinel, 0x42, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r;

		p = sentinel;
		r = dmn_port_parse(t[i].s, &p);
		if (t[i].ok) {
			if (r)
				fail_msg("refused \"%s\"", t[i].s);
			assert_string_equal(p.name, t[i].name);
			assert_int_equal(p.proto, t[i].proto);
			assert_int_equal(p.port, t[i].port);
		} else {
			if (r != -EINVAL)
				fail_msg("accepted \"%s\"", t[i].s);
			assert_memory_equal(&p, &sentinel, sizeof(p));
		}
	}
}

static void test_record_name(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} t[] = {
		{"web", true},
		{"a", true},
		{"web.weft.local.", true},
		{"web.weft.local", true},
		{"_http._tcp.web", true},
		{"a-b.c-d", true},
		{"0.1.2", true},
		{"a.b.", true},
		{"", false},
		{".", false},
		{".a", false},
		{"a..b", false},
		{"a..", false},
		{"-a", false},
		{"a-", false},
		{"a-.b", false},
		{"a.-b", false},
		{"A", false},
		{"wEb", false},
		{"a b", false},
		{"a/b", false},
		{"a*", false},
		{"é", false},
	};
	char buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (dmn_record_name_valid(t[i].s) != t[i].ok)
			fail_msg("\"%s\" should be %s", t[i].s, t[i].ok ? "valid" : "invalid");
	/* labels of 63 are fine, 64 not */
	memset(buf, 'a', 63);
	buf[63] = '\0';
	assert_true(dmn_record_name_valid(buf));
	buf[63] = 'a';
	buf[64] = '\0';
	assert_false(dmn_record_name_valid(buf));
	/* 253 characters are fine, 254 not: 63.63.63.61 */
	memset(buf, 'b', 253);
	buf[63] = buf[127] = buf[191] = '.';
	buf[253] = '\0';
	assert_true(dmn_record_name_valid(buf));
	buf[253] = 'b';
	buf[254] = '\0';
	assert_false(dmn_record_name_valid(buf));
}

static void test_hex(void **state)
{
	uint8_t b[4] = {0x00, 0x9f, 0xa0, 0xff}, c[4], sentinel[4] = {1, 2, 3, 4};
	char s[9];

	(void)state;
	dmn_hex(b, sizeof(b), s);
	assert_string_equal(s, "009fa0ff");
	assert_int_equal(dmn_unhex(s, c, sizeof(c)), 0);
	assert_memory_equal(b, c, sizeof(b));
	memcpy(c, sentinel, sizeof(c));
	assert_int_equal(dmn_unhex("009FA0FF", c, 4), -EINVAL);
	assert_int_equal(dmn_unhex("009fa0f", c, 4), -EINVAL);
	assert_int_equal(dmn_unhex("009fa0fff", c, 4), -EINVAL);
	assert_int_equal(dmn_unhex("009fa0fg", c, 4), -EINVAL);
	assert_int_equal(dmn_unhex("", c, 4), -EINVAL);
	assert_memory_equal(c, sentinel, sizeof(c));
	assert_int_equal(dmn_unhex("", c, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_tokens_file),
		cmocka_unit_test(test_tokens_refusals),
		cmocka_unit_test(test_view_round_trip),
		cmocka_unit_test(test_view_refusals),
		cmocka_unit_test(test_view_copy),
		cmocka_unit_test(test_join_msg),
		cmocka_unit_test(test_welcome),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_refusals),
		cmocka_unit_test(test_port_parse),
		cmocka_unit_test(test_cand),
		cmocka_unit_test(test_view_paths),
		cmocka_unit_test(test_request_paths),
		cmocka_unit_test(test_nat_config_reply),
		cmocka_unit_test(test_record_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the control protocol codec (ctl/ctl.c), every parser in it.
 *
 * The first input byte (mod SEL__N) selects the parser, the rest is its input:
 *   0 frame header (8 bytes)          4 WELCOME payload
 *   1 view payload, default cluster   5 JOIN payload                  
 *   2 tokens file                     6 text up to the first NUL: join token, port spec,
 *   3 request payload                   record name, hex
 *                                     7 NAT_CONFIG reply
 * A success must survive a round trip: format it, parse that again, and the second parse
 * must succeed and format to the same thing (and, where the parser takes only canonical text,
 * to the input itself). A failure must set the error message and leave the output untouched.
 * Any mismatch aborts; sanitizers catch the rest; nothing may leak.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "fuzz.h"

enum {
	SEL_HDR,
	SEL_VIEW,
	SEL_TOKENS,
	SEL_REQUEST,
	SEL_WELCOME,
	SEL_JOIN_MSGS,
	SEL_TEXT,
	SEL_NAT_CONFIG,
	SEL__N,
	TEXT_MAX = 2 * DMN_CTL_TOKEN_STRLEN,
	SENTINEL = 0xa5,
};

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ctl: %s\n", what);
		abort();
	}
}

static bool untouched(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			return false;
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return !acc;
}

/* Two JSON texts of a, b: equal values, compared as text so a mismatch is easy to read. */
static void check_json_equal(const json_t *a, const json_t *b, const char *what)
{
	if (!a || !b || !json_equal(a, b)) {
		char *x = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		char *y = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		fprintf(stderr, "fuzz_ctl: %s:\n%s\n%s\n", what, x ? x : "(null)",
			y ? y : "(null)");
		abort();
	}
}

/* --- 0: frame header ------------------------------------------------------------------------- */

static void fuzz_hdr(const uint8_t *data, size_t size)
{
	uint8_t b[DMN_CTL_HDR_LEN], again[DMN_CTL_HDR_LEN];
	struct dmn_ctl_hdr h;
	int r;

	if (size < DMN_CTL_HDR_LEN)
		return;
	memcpy(b, data, sizeof(b));
	memset(&h, SENTINEL, sizeof(h));
	r = dmn_ctl_hdr_parse(b, &h);
	if (r) {
		check(r == -EPROTO || r == -EMSGSIZE, "header: unexpected error code");
		check(untouched(&h, sizeof(h)), "header: output written on failure");
		check(r == -EMSGSIZE ? (b[0] == 'W' && b[1] == 'F' && b[2] == DMN_CTL_VERSION &&
					b[3] >= 1 && b[3] <= DMN_CTL__TYPE_MAX)
				     : true,
		      "header: -EMSGSIZE for a bad header");
		return;
	}
	check(h.type >= 1 && h.type <= DMN_CTL__TYPE_MAX && h.len <= DMN_CTL_MAX_PAYLOAD,
	      "header: accepted out of range");
	dmn_ctl_hdr_put(again, h.type, h.len);
	check(!memcmp(b, again, sizeof(b)), "header: put differs from the parsed bytes");
}

/* The payload as a JSON object, or NULL (then the error must be set). */
static json_t *payload(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	json_t *j;

	err[0] = '\0';
	j = dmn_ctl_json_parse(data, size, err, sizeof(err));
	check(j || err[0], "json: failure without a message");
	check(!j || json_is_object(j), "json: not an object");
	return j;
}

/* --- 1: the view -------------------------------------------------------------------------------
 */

static void view_round_trip(const struct dmn_view *v, const struct ov_state *s)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_view w, c;
	json_t *j1, *j2, *j3;
	int r;

	check(dmn_view_node(v, v->leader) != NULL, "view: leader not among the nodes");
	j1 = dmn_view_to_json(v);
	check(j1 != NULL, "view: to_json");
	r = dmn_view_from_json(j1, s, &w, err, sizeof(err));
	if (r)
		fprintf(stderr, "fuzz_ctl: %s\n", err);
	check(r == 0, "view: a formatted view does not parse");
	check(w.n_nodes == v->n_nodes && w.n_subnets == v->n_subnets &&
		      w.n_services == v->n_services && w.n_records == v->n_records &&
		      w.generation == v->generation && !strcmp(w.leader, v->leader),
	      "view: round trip changes the counts");
	j2 = dmn_view_to_json(&w);
	check_json_equal(j1, j2, "view: round trip differs");
	check(dmn_view_copy(&w, &c) == 0, "view: copy");
	j3 = dmn_view_to_json(&c);
	check_json_equal(j1, j3, "view: copy differs");
	json_decref(j1);
	json_decref(j2);
	json_decref(j3);
	dmn_view_done(&w);
	dmn_view_done(&c);
}

static void fuzz_view(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_view v;
	struct ov_state s;
	json_t *j = payload(data, size);
	int r;

	if (!j)
		return;
	ov_state_init(&s);
	memset(&v, SENTINEL, sizeof(v));
	err[0] = '\0';
	r = dmn_view_from_json(j, &s, &v, err, sizeof(err));
	if (r) {
		check(r == -EINVAL || r == -ENOMEM, "view: unexpected error code");
		check(err[0] != '\0', "view: failure without a message");
		check(untouched(&v, sizeof(v)), "view: output written on failure");
	} else {
		view_round_trip(&v, &s);
		dmn_view_done(&v);
	}
	json_decref(j);
}

/* --- 2: the tokens file ---------------------------------------------------------------------- */

static void fuzz_tokens(const uint8_t *data, size_t size)
{
	struct dmn_tokens *t = malloc(sizeof(*t)), *u = malloc(sizeof(*u));
	char err[OV_STATE_ERR_LEN], *text1, *text2;
	size_t len1, len2;
	int r;

	check(t && u, "tokens: out of memory");
	memset(t, SENTINEL, sizeof(*t));
	err[0] = '\0';
	r = dmn_tokens_parse((const char *)data, size, t, err, sizeof(err));
	if (r) {
		check(r == -EINVAL || r == -ENOMEM, "tokens: unexpected error code");
		check(err[0] != '\0', "tokens: failure without a message");
		check(untouched(t, sizeof(*t)), "tokens: output written on failure");
		goto out;
	}
	check(t->n <= DMN_CTL_TOKENS_MAX, "tokens: over the cap");
	for (size_t i = 0; i < t->n; i++) {
		for (size_t k = 0; k < i; k++)
			check(memcmp(t->recs[i].id, t->recs[k].id, DMN_CTL_TOKEN_ID_LEN),
			      "tokens: duplicate id accepted");
	}
	check(dmn_tokens_format(t, &text1, &len1) == 0, "tokens: format");
	check(strlen(text1) == len1, "tokens: format length");
	r = dmn_tokens_parse(text1, len1, u, err, sizeof(err));
	check(r == 0, "tokens: a formatted file does not parse");
	check(u->n == t->n, "tokens: round trip changes the count");
	for (size_t i = 0; i < t->n; i++)
		check(!memcmp(u->recs[i].id, t->recs[i].id, DMN_CTL_TOKEN_ID_LEN) &&
			      !memcmp(u->recs[i].secret, t->recs[i].secret, DMN_CTL_SECRET_LEN) &&
			      u->recs[i].expires == t->recs[i].expires &&
			      u->recs[i].uses == t->recs[i].uses,
		      "tokens: round trip changes a record");
	check(dmn_tokens_format(u, &text2, &len2) == 0, "tokens: format again");
	check(len1 == len2 && !memcmp(text1, text2, len1), "tokens: format is not stable");
	free(text1);
	free(text2);
out:
	free(t);
	free(u);
}

/* --- 3: requests ---------------------------------------------------------------------------- */

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

static bool request_eq(const struct dmn_request *a, const struct dmn_request *b)
{
	return a->op == b->op && !strcmp(a->name, b->name) && !strcmp(a->service, b->service) &&
	       !strcmp(a->container, b->container) && !strcmp(a->netns, b->netns) &&
	       a->has_addr == b->has_addr &&
	       (!a->has_addr || ov_prefix_equal(&a->addr, &b->addr)) && a->ttl == b->ttl &&
	       a->generation == b->generation && a->uses == b->uses &&
	       ports_eq(a->ports, a->n_ports, b->ports, b->n_ports);
}

static void fuzz_request(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_request r, q;
	json_t *j = payload(data, size), *j1, *j2;
	int rc;

	if (!j)
		return;
	memset(&r, SENTINEL, sizeof(r));
	err[0] = '\0';
	rc = dmn_request_from_json(j, &r, err, sizeof(err));
	if (rc) {
		check(rc == -EINVAL, "request: unexpected error code");
		check(err[0] != '\0', "request: failure without a message");
		check(untouched(&r, sizeof(r)), "request: output written on failure");
		json_decref(j);
		return;
	}
	check(r.op >= 1 && r.op <= DMN_OP__MAX, "request: op out of range");
	check(!strcmp(dmn_op_name(r.op), json_string_value(json_object_get(j, "op"))),
	      "request: op name");
	check(r.netns[0] == '\0' || r.netns[0] == '/', "request: relative netns accepted");
	j1 = dmn_request_to_json(&r);
	check(j1 != NULL, "request: to_json");
	rc = dmn_request_from_json(j1, &q, err, sizeof(err));
	if (rc)
		fprintf(stderr, "fuzz_ctl: %s\n", err);
	check(rc == 0, "request: a formatted request does not parse");
	check(request_eq(&r, &q), "request: round trip differs");
	j2 = dmn_request_to_json(&q);
	check_json_equal(j1, j2, "request: format is not stable");
	json_decref(j);
	json_decref(j1);
	json_decref(j2);
}

/* --- 7: NAT_CONFIG reply ---------------------------------------------------------------------- */

static void fuzz_nat_config(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_nat_config c, d;
	json_t *j = payload(data, size), *j1, *j2;
	int rc;

	if (!j)
		return;
	memset(&c, SENTINEL, sizeof(c));
	err[0] = '\0';
	rc = dmn_nat_config_from_json(j, &c, err, sizeof(err));
	if (rc) {
		check(rc == -EINVAL, "nat-config: unexpected error code");
		check(err[0] != '\0', "nat-config: failure without a message");
		check(untouched(&c, sizeof(c)), "nat-config: output written on failure");
		json_decref(j);
		return;
	}
	check(c.n_stun <= OV_NAT_STUN_MAX, "nat-config: too many servers");
	j1 = dmn_nat_config_to_json(&c);
	check(j1 != NULL, "nat-config: to_json");
	check(dmn_nat_config_from_json(j1, &d, err, sizeof(err)) == 0,
	      "nat-config: a formatted reply does not parse");
	j2 = dmn_nat_config_to_json(&d);
	check_json_equal(j1, j2, "nat-config: format is not stable");
	json_decref(j);
	json_decref(j1);
	json_decref(j2);
}

/* --- 4: WELCOME ------------------------------------------------------------------------------- */

static void fuzz_welcome(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_welcome w, x;
	json_t *j = payload(data, size), *j1, *j2;
	int r;

	if (!j)
		return;
	memset(&w, SENTINEL, sizeof(w));
	err[0] = '\0';
	r = dmn_welcome_from_json(j, &w, err, sizeof(err));
	json_decref(j);
	if (r) {
		check(r == -EINVAL || r == -ENOMEM, "welcome: unexpected error code");
		check(err[0] != '\0', "welcome: failure without a message");
		check(untouched(&w, sizeof(w)), "welcome: output written on failure");
		return;
	}
	check(w.cluster.role == OV_ROLE_MEMBER && !w.cluster.members, "welcome: role");
	check(w.cluster.zone[0] && w.cluster.zone[strlen(w.cluster.zone) - 1] == '.',
	      "welcome: zone not absolute");
	view_round_trip(&w.view, &w.cluster);
	j1 = dmn_welcome_to_json(&w.cluster, &w.cluster.self, &w.view);
	check(j1 != NULL, "welcome: to_json");
	r = dmn_welcome_from_json(j1, &x, err, sizeof(err));
	if (r)
		fprintf(stderr, "fuzz_ctl: %s\n", err);
	check(r == 0, "welcome: a formatted welcome does not parse");
	j2 = dmn_welcome_to_json(&x.cluster, &x.cluster.self, &x.view);
	check_json_equal(j1, j2, "welcome: round trip differs");
	json_decref(j1);
	json_decref(j2);
	dmn_welcome_done(&w);
	dmn_welcome_done(&x);
}

/* --- 5: JOIN ------------------------------------------------------------------------------- */

static void fuzz_join_msgs(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN];
	struct dmn_join m, m2;
	json_t *j = payload(data, size), *j1, *j2;

	if (!j)
		return;

	memset(&m, SENTINEL, sizeof(m));
	err[0] = '\0';
	if (dmn_join_from_json(j, &m, err, sizeof(err))) {
		check(err[0] != '\0', "join: failure without a message");
		check(untouched(&m, sizeof(m)), "join: output written on failure");
	} else {
		check(!all_zero(m.public_key, OV_KEY_LEN), "join: zero key");
		j1 = dmn_join_to_json(&m);
		check(j1 && dmn_join_from_json(j1, &m2, err, sizeof(err)) == 0, "join: reparse");
		check(!strcmp(m.name, m2.name) &&
			      !memcmp(m.public_key, m2.public_key, OV_KEY_LEN) &&
			      m.has_endpoint == m2.has_endpoint &&
			      (!m.has_endpoint || (m.endpoint.family == m2.endpoint.family &&
						   m.endpoint.port == m2.endpoint.port &&
						   !memcmp(m.endpoint.addr, m2.endpoint.addr, 16))),
		      "join: round trip differs");
		j2 = dmn_join_to_json(&m2);
		check_json_equal(j1, j2, "join: format is not stable");
		json_decref(j1);
		json_decref(j2);
	}
	json_decref(j);
}

/* --- 6: text: tokens, ports, record names, hex ------------------------------------------------ */

static void fuzz_text(const uint8_t *data, size_t size)
{
	char s[TEXT_MAX + 1], out[DMN_CTL_TOKEN_STRLEN], out2[DMN_CTL_TOKEN_STRLEN], err[256];
	struct dmn_token t, t2;
	struct dmn_port p;
	uint8_t hex[64];
	size_t n;

	if (size > TEXT_MAX)
		size = TEXT_MAX;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);

	memset(&t, SENTINEL, sizeof(t));
	err[0] = '\0';
	if (dmn_token_parse(s, &t, err, sizeof(err))) {
		check(err[0] != '\0', "token: failure without a message");
		check(untouched(&t, sizeof(t)), "token: output written on failure");
	} else {
		check(n < DMN_CTL_TOKEN_STRLEN, "token: too long accepted");
		dmn_token_format(&t, out);
		check(dmn_token_parse(out, &t2, err, sizeof(err)) == 0, "token: reparse");
		check(!memcmp(t.id, t2.id, sizeof(t.id)) &&
			      !memcmp(t.secret, t2.secret, sizeof(t.secret)) &&
			      !memcmp(t.leader_key, t2.leader_key, sizeof(t.leader_key)) &&
			      t.endpoint.family == t2.endpoint.family &&
			      t.endpoint.port == t2.endpoint.port &&
			      !memcmp(t.endpoint.addr, t2.endpoint.addr, 16),
		      "token: round trip differs");
		dmn_token_format(&t2, out2);
		check(!strcmp(out, out2), "token: format is not stable");
		/* only the endpoint's address may be written another way */
		check(!strncmp(out, s, 6 + 32 + 1 + 64 + 1 + 64 + 1), "token: hex not canonical");
	}

	memset(&p, SENTINEL, sizeof(p));
	if (dmn_port_parse(s, &p)) {
		check(untouched(&p, sizeof(p)), "port: output written on failure");
	} else {
		char back[64];

		check(p.port >= 1 && (p.proto == 6 || p.proto == 17), "port: out of range");
		snprintf(back, sizeof(back), "%s:%u/%s", p.name, p.port,
			 p.proto == 6 ? "tcp" : "udp");
		check(!strcmp(back, s), "port: not canonical");
	}

	if (dmn_record_name_valid(s)) {
		check(n >= 1 && n <= OV_STATE_ZONE_MAX && s[0] != '.' && s[0] != '-' &&
			      !strstr(s, "..") && !strstr(s, "-.") && !strstr(s, ".-") &&
			      s[n - 1] != '-',
		      "record name: accepted a bad name");
		for (size_t i = 0; i < n; i++)
			check((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
				      s[i] == '-' || s[i] == '_' || s[i] == '.',
			      "record name: bad character");
	}

	if (n % 2 == 0 && n / 2 <= sizeof(hex)) {
		char back[2 * sizeof(hex) + 1];

		memset(hex, SENTINEL, sizeof(hex));
		if (dmn_unhex(s, hex, n / 2) == 0) {
			dmn_hex(hex, n / 2, back);
			check(!strcmp(back, s), "hex: not canonical");
		} else {
			check(untouched(hex, sizeof(hex)), "hex: output written on failure");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % SEL__N) {
	case SEL_HDR:
		fuzz_hdr(data + 1, size - 1);
		break;
	case SEL_VIEW:
		fuzz_view(data + 1, size - 1);
		break;
	case SEL_TOKENS:
		fuzz_tokens(data + 1, size - 1);
		break;
	case SEL_REQUEST:
		fuzz_request(data + 1, size - 1);
		break;
	case SEL_WELCOME:
		fuzz_welcome(data + 1, size - 1);
		break;
	case SEL_JOIN_MSGS:
		fuzz_join_msgs(data + 1, size - 1);
		break;
	case SEL_NAT_CONFIG:
		fuzz_nat_config(data + 1, size - 1);
		break;
	default:
		fuzz_text(data + 1, size - 1);
		break;
	}
	return 0;
}

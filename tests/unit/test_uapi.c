/* SPDX-License-Identifier: MIT */
/*
 * UAPI codec tests: a wg setconf-style request parsed and its get reply written byte for
 * byte; every kind of bad line (the error sticks); section rules (device keys first, no
 * state leaking between peers, replace_allowed_ips, removals); endpoint, key and prefix
 * edge cases; the caps (a million prefixes parse well under a second, then -ENOSPC); strbuf.
 * No device, no sockets: everything here is text in, structs out and back.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "dataplane/uapi.h"
#include "lib/strbuf.h"

#define PRIV  "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define PUB1  "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define PUB2  "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"
#define PUB3  "662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58"
#define PSK   "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

/* Feeds text line by line as the server would (stopping at an empty line or the end). */
static int parse_text(const char *text, struct uapi_set *set, char msg[128])
{
	struct uapi_parser p;
	const char *s = text;
	int ret;

	uapi_parser_init(&p, set);
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (len == 0)
			break;
		uapi_parser_line(&p, s, len);
		s += len + (nl ? 1 : 0);
	}
	ret = uapi_parser_finish(&p);
	if (msg)
		memcpy(msg, p.msg, sizeof(p.msg));
	return ret;
}

static void key_of(const char *hex, uint8_t key[WG_KEY_LEN])
{
	assert_int_equal(uapi_parse_key(hex, strlen(hex), key), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* A full request, round-tripped through the get formatter                                   */

static const char setconf_request[] = "private_key=" PRIV "\n"
				      "listen_port=51820\n"
				      "fwmark=4660\n"
				      "replace_peers=true\n"
				      "public_key=" PUB1 "\n"
				      "preshared_key=" PSK "\n"
				      "endpoint=192.0.2.1:51820\n"
				      "persistent_keepalive_interval=25\n"
				      "replace_allowed_ips=true\n"
				      "allowed_ip=192.168.4.4/32\n"
				      "allowed_ip=fd00::/64\n"
				      "public_key=" PUB2 "\n"
				      "endpoint=[2001:db8::1]:51821\n"
				      "replace_allowed_ips=true\n"
				      "allowed_ip=192.168.4.6/32\n"
				      "public_key=" PUB3 "\n"
				      "protocol_version=1\n"
				      "endpoint=182.122.22.19:3233\n"
				      "persistent_keepalive_interval=111\n"
				      "replace_allowed_ips=true\n"
				      "allowed_ip=192.168.4.10/32\n"
				      "allowed_ip=0.0.0.0/0\n"
				      "\n";

static const char expected_get[] = "private_key=" PRIV "\n"
				   "listen_port=51820\n"
				   "fwmark=4660\n"
				   "public_key=" PUB1 "\n"
				   "preshared_key=" PSK "\n"
				   "protocol_version=1\n"
				   "endpoint=192.0.2.1:51820\n"
				   "last_handshake_time_sec=1700000000\n"
				   "last_handshake_time_nsec=123456789\n"
				   "tx_bytes=1460\n"
				   "rx_bytes=1372\n"
				   "persistent_keepalive_interval=25\n"
				   "allowed_ip=192.168.4.4/32\n"
				   "allowed_ip=fd00::/64\n"
				   "public_key=" PUB2 "\n"
				   "preshared_key=" ZEROS "\n"
				   "protocol_version=1\n"
				   "endpoint=[2001:db8::1]:51821\n"
				   "last_handshake_time_sec=1700000001\n"
				   "last_handshake_time_nsec=123456789\n"
				   "tx_bytes=2920\n"
				   "rx_bytes=2744\n"
				   "persistent_keepalive_interval=0\n"
				   "allowed_ip=192.168.4.6/32\n"
				   "public_key=" PUB3 "\n"
				   "preshared_key=" ZEROS "\n"
				   "protocol_version=1\n"
				   "endpoint=182.122.22.19:3233\n"
				   "last_handshake_time_sec=1700000002\n"
				   "last_handshake_time_nsec=123456789\n"
				   "tx_bytes=4380\n"
				   "rx_bytes=4116\n"
				   "persistent_keepalive_interval=111\n"
				   "allowed_ip=192.168.4.10/32\n"
				   "allowed_ip=0.0.0.0/0\n"
				   "errno=0\n"
				   "\n";

static void test_setconf_round_trip(void **state)
{
	struct uapi_get_peer gp[3];
	struct uapi_get g = {0};
	struct uapi_set set;
	struct strbuf out;
	uint8_t k[WG_KEY_LEN];
	char msg[128];

	(void)state;
	assert_int_equal(parse_text(setconf_request, &set, msg), 0);
	assert_string_equal(msg, "");
	assert_true(set.has_private_key && set.has_listen_port && set.has_fwmark);
	assert_true(set.replace_peers);
	assert_int_equal(set.listen_port, 51820);
	assert_int_equal(set.fwmark, 4660);
	assert_int_equal(set.n_peers, 3);
	assert_int_equal(set.total_allowed_ips, 5);
	key_of(PUB2, k);
	assert_memory_equal(set.peers[1].public_key, k, WG_KEY_LEN);
	assert_true(set.peers[0].has_psk && !set.peers[1].has_psk && !set.peers[2].has_psk);
	assert_true(set.peers[0].has_keepalive && !set.peers[1].has_keepalive);
	assert_int_equal(set.peers[2].keepalive, 111);
	assert_int_equal(set.peers[1].endpoint.family, WG_AF_INET6);
	assert_int_equal(set.peers[1].endpoint.port, 51821);

	/* What a device would report right after applying it. */
	memset(gp, 0, sizeof(gp));
	g.has_private_key = set.has_private_key;
	memcpy(g.private_key, set.private_key, WG_KEY_LEN);
	g.listen_port = set.listen_port;
	g.fwmark = set.fwmark;
	for (size_t i = 0; i < set.n_peers; i++) {
		const struct uapi_peer *sp = &set.peers[i];

		memcpy(gp[i].public_key, sp->public_key, WG_KEY_LEN);
		if (sp->has_psk)
			memcpy(gp[i].psk, sp->psk, WG_KEY_LEN);
		gp[i].has_endpoint = sp->has_endpoint;
		gp[i].endpoint = sp->endpoint;
		gp[i].keepalive = sp->keepalive;
		gp[i].last_handshake_sec = 1700000000 + i;
		gp[i].last_handshake_nsec = 123456789;
		gp[i].tx_bytes = 1460 * (i + 1);
		gp[i].rx_bytes = 1372 * (i + 1);
		gp[i].allowed_ips = sp->allowed_ips;
		gp[i].n_allowed_ips = sp->n_allowed_ips;
	}
	g.peers = gp;
	g.n_peers = set.n_peers;
	strbuf_init(&out, UAPI_MAX_REPLY);
	assert_int_equal(uapi_format_get(&out, &g), 0);
	assert_string_equal(strbuf_str(&out), expected_get);
	strbuf_free(&out);
	uapi_set_free(&set);
	assert_int_equal(set.n_peers, 0);
	assert_null(set.peers);
}

/* The set formatter's output parses back into an equal request. */
static void assert_sets_equal(const struct uapi_set *a, const struct uapi_set *b)
{
	assert_int_equal(a->has_private_key, b->has_private_key);
	assert_memory_equal(a->private_key, b->private_key, WG_KEY_LEN);
	assert_int_equal(a->has_listen_port, b->has_listen_port);
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->has_fwmark, b->has_fwmark);
	assert_int_equal(a->fwmark, b->fwmark);
	assert_int_equal(a->replace_peers, b->replace_peers);
	assert_int_equal(a->n_peers, b->n_peers);
	assert_int_equal(a->total_allowed_ips, b->total_allowed_ips);
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct uapi_peer *x = &a->peers[i], *y = &b->peers[i];

		assert_memory_equal(x->public_key, y->public_key, WG_KEY_LEN);
		assert_int_equal(x->remove, y->remove);
		assert_int_equal(x->update_only, y->update_only);
		assert_int_equal(x->replace_allowed_ips, y->replace_allowed_ips);
		assert_int_equal(x->has_psk, y->has_psk);
		assert_memory_equal(x->psk, y->psk, WG_KEY_LEN);
		assert_int_equal(x->has_endpoint, y->has_endpoint);
		assert_memory_equal(&x->endpoint, &y->endpoint, sizeof(x->endpoint));
		assert_int_equal(x->endpoint_scope_id, y->endpoint_scope_id);
		assert_int_equal(x->has_keepalive, y->has_keepalive);
		assert_int_equal(x->keepalive, y->keepalive);
		assert_int_equal(x->n_allowed_ips, y->n_allowed_ips);
		for (size_t k = 0; k < x->n_allowed_ips; k++)
			assert_memory_equal(&x->allowed_ips[k], &y->allowed_ips[k],
					    sizeof(x->allowed_ips[k]));
	}
}

static void test_format_set_round_trip(void **state)
{
	static const char extra[] = "private_key=" ZEROS "\n"
				    "public_key=" PUB1 "\n"
				    "remove=true\n"
				    "public_key=" PUB2 "\n"
				    "update_only=true\n"
				    "preshared_key=" ZEROS "\n"
				    "endpoint=[fe80::1%7]:1\n"
				    "persistent_keepalive_interval=0\n"
				    "allowed_ip=-10.0.0.0/8\n"
				    "allowed_ip=::ffff:1.2.3.4/128\n"
				    "public_key=" PUB3 "\n"
				    "endpoint=[::ffff:1.2.3.4]:0\n";
	const char *reqs[] = {setconf_request, extra};

	(void)state;
	for (size_t r = 0; r < 2; r++) {
		struct uapi_set a, b;
		struct strbuf out;

		assert_int_equal(parse_text(reqs[r], &a, NULL), 0);
		strbuf_init(&out, UAPI_MAX_REPLY);
		assert_int_equal(uapi_format_set(&out, &a), 0);
		assert_int_equal(parse_text(strbuf_str(&out), &b, NULL), 0);
		assert_sets_equal(&a, &b);
		if (r == 0) {
			/* wg's own order: the request minus protocol_version and the empty line. */
			char want[sizeof(setconf_request)];
			const char *pv = strstr(setconf_request, "protocol_version=1\n");
			size_t head = (size_t)(pv - setconf_request);

			memcpy(want, setconf_request, head);
			strcpy(want + head, pv + strlen("protocol_version=1\n"));
			want[strlen(want) - 1] = '\0';
			assert_string_equal(strbuf_str(&out), want);
		}
		strbuf_free(&out);
		uapi_set_free(&a);
		uapi_set_free(&b);
	}
}

static void test_format_get_omissions(void **state)
{
	struct uapi_allowed_ip bad = {.family = WG_AF_INET, .cidr = 33};
	struct uapi_get_peer gp = {0};
	struct uapi_get g = {.has_private_key = true}; /* all-zero key: omitted */
	struct strbuf out;

	(void)state;
	strbuf_init(&out, UAPI_MAX_REPLY);
	assert_int_equal(uapi_format_get(&out, &g), 0);
	assert_string_equal(strbuf_str(&out), "errno=0\n\n");
	strbuf_free(&out);

	/* A snapshot with a broken prefix or endpoint is refused, not half-printed silently. */
	gp.allowed_ips = &bad;
	gp.n_allowed_ips = 1;
	g.peers = &gp;
	g.n_peers = 1;
	assert_int_equal(uapi_format_get(&out, &g), -EINVAL);
	strbuf_free(&out);
	gp.n_allowed_ips = 0;
	gp.has_endpoint = true;
	assert_int_equal(uapi_format_get(&out, &g), -EINVAL);
	strbuf_free(&out);

	/* The reply's cap is honoured. */
	gp.has_endpoint = false;
	strbuf_init(&out, 100);
	assert_int_equal(uapi_format_get(&out, &g), -E2BIG);
	strbuf_free(&out);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad lines                                                                                 */

struct bad_case {
	const char *before; /* good lines first (may be "") */
	const char *line;
	size_t len; /* 0: strlen(line) */
	const char *why;
};

static const struct bad_case bad_cases[] = {
	{"", "listen_port", 0, "no '='"},
	{"", "=51820", 0, "empty key"},
	{"", "listen_prot=51820", 0, "unknown key"},
	{"", "set=1", 0, "unknown key"},
	{"", "Private_key=" PRIV, 0, "unknown key"},
	{"", "listen_port=", 0, "bad number"},
	{"", "listen_port=65536", 0, "bad number"},
	{"", "listen_port=-1", 0, "bad number"},
	{"", "listen_port=+1", 0, "bad number"},
	{"", "listen_port= 1", 0, "bad number"},
	{"", "listen_port=1 ", 0, "bad number"},
	{"", "listen_port=0x10", 0, "bad number"},
	{"", "fwmark=4294967296", 0, "bad number"},
	{"", "fwmark=99999999999999999999999", 0, "bad number"},
	{"", "private_key=", 0, "bad hex"},
	{"", "private_key=" PRIV "0", 0, "bad hex"},
	{"", "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027", 0,
	 "bad hex"},
	{"", "private_key=g84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a", 0,
	 "bad hex"},
	{"", "private_key=" PRIV "\r", 0, "bad hex"},
	{"", "replace_peers=false", 0, "must be \"true\""},
	{"", "replace_peers=True", 0, "must be \"true\""},
	{"", "replace_peers=", 0, "must be \"true\""},
	{"", "public_key=xyz", 0, "bad hex"},
	{"", "endpoint=1.2.3.4:1", 0, "before public_key"},
	{"", "allowed_ip=10.0.0.0/8", 0, "before public_key"},
	{"public_key=" PUB1 "\n", "remove=1", 0, "must be \"true\""},
	{"public_key=" PUB1 "\n", "update_only=yes", 0, "must be \"true\""},
	{"public_key=" PUB1 "\n", "replace_allowed_ips=false", 0, "must be \"true\""},
	{"public_key=" PUB1 "\n", "preshared_key=" PSK "ff", 0, "bad hex"},
	{"public_key=" PUB1 "\n", "endpoint=", 0, "bad endpoint"},
	{"public_key=" PUB1 "\n", "endpoint=1.2.3.4", 0, "bad endpoint"},
	{"public_key=" PUB1 "\n", "endpoint=fd00::1:51820", 0, "bad endpoint"},
	{"public_key=" PUB1 "\n", "persistent_keepalive_interval=65536", 0, "bad number"},
	{"public_key=" PUB1 "\n", "persistent_keepalive_interval=-0", 0, "bad number"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0.0", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0.0/33", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=::/129", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0.0/08", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0.0/", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=-", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=--10.0.0.0/8", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=+10.0.0.0/8", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=fe80::1%1/64", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0/8", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "allowed_ip=10.0.0.0/8/8", 0, "bad prefix"},
	{"public_key=" PUB1 "\n", "protocol_version=2", 0, "protocol_version must be 1"},
	{"public_key=" PUB1 "\n", "protocol_version=", 0, "protocol_version must be 1"},
	{"public_key=" PUB1 "\n", "listen_port=1", 0, "device key listen_port after public_key"},
	{"",
	 "listen_port=5\0"
	 "1",
	 15, "NUL byte"},
};

static void check_sticky(struct uapi_parser *p, int err)
{
	size_t line_no = p->line_no;
	char msg[sizeof(p->msg)];

	memcpy(msg, p->msg, sizeof(msg));
	/* Later good lines neither clear the error nor change the message. */
	assert_int_equal(uapi_parser_line(p, "listen_port=1", 13), err);
	assert_int_equal(uapi_parser_line(p, "public_key=" PUB2, 11 + 64), err);
	assert_int_equal(uapi_parser_finish(p), err);
	assert_int_equal(p->line_no, line_no);
	assert_string_equal(p->msg, msg);
}

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct uapi_parser p;
		struct uapi_set set;
		const char *s = c->before;
		char prefix[32];

		uapi_parser_init(&p, &set);
		while (*s) {
			const char *nl = strchr(s, '\n');

			assert_int_equal(uapi_parser_line(&p, s, (size_t)(nl - s)), 0);
			s = nl + 1;
		}
		if (uapi_parser_line(&p, c->line, len) != -EINVAL)
			fail_msg("case %zu (%s) accepted", i, c->line);
		snprintf(prefix, sizeof(prefix), "line %zu: ", p.line_no);
		assert_memory_equal(p.msg, prefix, strlen(prefix));
		if (!strstr(p.msg, c->why))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, p.msg, c->why);
		/* A value is never echoed: it could be a key. */
		assert_null(strstr(p.msg, PRIV));
		check_sticky(&p, -EINVAL);
		uapi_set_free(&set);
	}
}

static void test_long_and_empty_lines(void **state)
{
	char *line = malloc(UAPI_MAX_LINE + 2);
	struct uapi_parser p;
	struct uapi_set set;

	(void)state;
	assert_non_null(line);
	/* Exactly UAPI_MAX_LINE bytes is not "too long" (it fails for its content instead). */
	memset(line, 'a', UAPI_MAX_LINE + 1);
	memcpy(line, "listen_port=", 12);
	uapi_parser_init(&p, &set);
	assert_int_equal(uapi_parser_line(&p, line, UAPI_MAX_LINE), -EINVAL);
	assert_non_null(strstr(p.msg, "bad number"));
	uapi_set_free(&set);
	uapi_parser_init(&p, &set);
	assert_int_equal(uapi_parser_line(&p, line, UAPI_MAX_LINE + 1), -EINVAL);
	assert_non_null(strstr(p.msg, "longer than"));
	check_sticky(&p, -EINVAL);
	uapi_set_free(&set);

	uapi_parser_init(&p, &set);
	assert_int_equal(uapi_parser_line(&p, "", 0), -EINVAL);
	assert_string_equal(p.msg, "line 1: empty line inside the request");
	uapi_set_free(&set);
	free(line);
}

/* ---------------------------------------------------------------------------------------- */
/* Sections                                                                                  */

static void test_device_key_after_peer(void **state)
{
	static const char *const keys[] = {("private_key=" PRIV), "listen_port=1", "fwmark=1",
					   "replace_peers=true"};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct uapi_set set;
		char text[256], msg[128];

		/* Fine before the first public_key... */
		snprintf(text, sizeof(text), "%s\npublic_key=" PUB1 "\n", keys[i]);
		assert_int_equal(parse_text(text, &set, msg), 0);
		uapi_set_free(&set);
		/* ...an error after it, even in a later section. */
		snprintf(text, sizeof(text), "public_key=" PUB1 "\npublic_key=" PUB2 "\n%s\n",
			 keys[i]);
		assert_int_equal(parse_text(text, &set, msg), -EINVAL);
		assert_non_null(strstr(msg, "line 3: device key"));
		uapi_set_free(&set);
	}
}

static void test_no_state_leak(void **state)
{
	static const char req[] = "public_key=" PUB1 "\n"
				  "remove=true\n"
				  "update_only=true\n"
				  "preshared_key=" PSK "\n"
				  "endpoint=[fe80::1%2]:51820\n"
				  "persistent_keepalive_interval=25\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=10.0.0.0/8\n"
				  "public_key=" PUB2 "\n";
	struct uapi_peer zero;
	struct uapi_set set;
	uint8_t k[WG_KEY_LEN];

	(void)state;
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(parse_text(req, &set, NULL), 0);
	assert_int_equal(set.n_peers, 2);
	assert_true(set.peers[0].remove && set.peers[0].update_only && set.peers[0].has_psk);
	assert_true(set.peers[0].has_endpoint && set.peers[0].has_keepalive);
	assert_int_equal(set.peers[0].endpoint_scope_id, 2);
	assert_int_equal(set.peers[0].n_allowed_ips, 1);
	key_of(PUB2, k);
	memcpy(zero.public_key, k, WG_KEY_LEN);
	/* The second section is exactly "a public key and nothing else". */
	assert_memory_equal(&set.peers[1], &zero, sizeof(zero));
	uapi_set_free(&set);
}

static void test_same_key_twice(void **state)
{
	static const char req[] = "public_key=" PUB1 "\n"
				  "allowed_ip=10.0.0.1/32\n"
				  "public_key=" PUB1 "\n"
				  "remove=true\n";
	struct uapi_set set;

	(void)state;
	assert_int_equal(parse_text(req, &set, NULL), 0);
	/* Kept as two sections, applied in order. */
	assert_int_equal(set.n_peers, 2);
	assert_memory_equal(set.peers[0].public_key, set.peers[1].public_key, WG_KEY_LEN);
	assert_false(set.peers[0].remove);
	assert_true(set.peers[1].remove);
	assert_int_equal(set.peers[1].n_allowed_ips, 0);
	uapi_set_free(&set);
}

/* A non-repeatable key twice in one section is refused; in separate sections it is fine. */
static void test_duplicate_keys(void **state)
{
	static const char *const bad[] = {
		"listen_port=1\nlisten_port=2\n",
		"private_key=" PSK "\nprivate_key=" PSK "\n",
		"fwmark=1\nfwmark=1\n",
		"public_key=" PUB1 "\nendpoint=1.2.3.4:5\nendpoint=1.2.3.4:5\n",
		"public_key=" PUB1 "\npreshared_key=" PSK "\npreshared_key=" PSK "\n",
		"public_key=" PUB1 "\npersistent_keepalive_interval=1\n"
		"persistent_keepalive_interval=2\n",
		"public_key=" PUB1 "\nremove=true\nremove=true\n",
	};
	static const char good[] = "public_key=" PUB1 "\nendpoint=1.2.3.4:5\n"
				   "allowed_ip=10.0.0.1/32\nallowed_ip=10.0.0.2/32\n"
				   "public_key=" PUB1 "\nendpoint=1.2.3.4:6\n";
	struct uapi_set set;
	char msg[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_text(bad[i], &set, msg), -EINVAL);
		assert_non_null(strstr(msg, "duplicate"));
		uapi_set_free(&set);
	}
	assert_int_equal(parse_text(good, &set, NULL), 0);
	uapi_set_free(&set);
}

static void test_allowed_ip_remove_and_replace(void **state)
{
	static const char req[] = "public_key=" PUB1 "\n"
				  "allowed_ip=10.0.0.1/32\n"
				  "allowed_ip=10.0.0.2/32\n"
				  "replace_allowed_ips=true\n"
				  "allowed_ip=-192.168.0.0/16\n"
				  "allowed_ip=2001:db8::1/64\n"
				  "allowed_ip=-::/0\n";
	const struct uapi_allowed_ip *a;
	struct uapi_set set;
	uint8_t v6[16];

	(void)state;
	assert_int_equal(parse_text(req, &set, NULL), 0);
	assert_true(set.peers[0].replace_allowed_ips);
	/* replace_allowed_ips dropped what came before it in the section. */
	assert_int_equal(set.peers[0].n_allowed_ips, 3);
	assert_int_equal(set.total_allowed_ips, 3);
	a = set.peers[0].allowed_ips;
	assert_true(a[0].remove);
	assert_int_equal(a[0].family, WG_AF_INET);
	assert_int_equal(a[0].cidr, 16);
	assert_memory_equal(a[0].addr, "\xc0\xa8\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_false(a[1].remove);
	assert_int_equal(a[1].family, WG_AF_INET6);
	assert_int_equal(a[1].cidr, 64);
	inet_pton(AF_INET6, "2001:db8::1", v6); /* host bits kept as sent */
	assert_memory_equal(a[1].addr, v6, 16);
	assert_true(a[2].remove);
	assert_int_equal(a[2].cidr, 0);
	uapi_set_free(&set);
}

/* ---------------------------------------------------------------------------------------- */
/* Endpoints, keys, prefixes                                                                 */

struct ep_case {
	const char *text;
	int ret;
	enum wg_family family;
	const char *addr;
	uint16_t port;
	uint32_t scope;
	const char *formatted; /* NULL: same as text */
};

static const struct ep_case ep_cases[] = {
	{"1.2.3.4:51820", 0, WG_AF_INET, "1.2.3.4", 51820, 0, NULL},
	{"255.255.255.255:65535", 0, WG_AF_INET, "255.255.255.255", 65535, 0, NULL},
	{"1.2.3.4:0", 0, WG_AF_INET, "1.2.3.4", 0, 0, NULL},
	{"1.2.3.4:00051820", 0, WG_AF_INET, "1.2.3.4", 51820, 0, "1.2.3.4:51820"},
	{"[fd00::1]:51820", 0, WG_AF_INET6, "fd00::1", 51820, 0, NULL},
	{"[FD00:0::1]:1", 0, WG_AF_INET6, "fd00::1", 1, 0, "[fd00::1]:1"},
	{"[fe80::1%3]:51820", 0, WG_AF_INET6, "fe80::1", 51820, 3, "[fe80::1]:51820"},
	{"[fe80::1%4294967295]:1", 0, WG_AF_INET6, "fe80::1", 1, 4294967295u, "[fe80::1]:1"},
	/* An interface name, as `wg` sends it; lo is index 1 in every network namespace. */
	{"[fe80::1%lo]:51820", 0, WG_AF_INET6, "fe80::1", 51820, 1, "[fe80::1]:51820"},
	{"[::ffff:1.2.3.4]:80", 0, WG_AF_INET6, "::ffff:1.2.3.4", 80, 0, NULL},
	{"[::]:1", 0, WG_AF_INET6, "::", 1, 0, NULL},
};

static const char *const bad_endpoints[] = {
	"1.2.3.4",
	"1.2.3.4:",
	"1.2.3.4:65536",
	"1.2.3.4:99999999999999999999999",
	"1.2.3.4:-1",
	"1.2.3.4:+1",
	"1.2.3.4: 1",
	"1.2.3.4:1 ",
	" 1.2.3.4:1",
	"1.2.3.4:80x",
	"1.2.3:80",
	"01.2.3.4:80",
	"1.2.3.256:80",
	"1.2.3.4%1:80",
	"fd00::1:51820",
	"::1:80",
	"[fd00::1]",
	"[fd00::1]:",
	"[fd00::1]51820",
	"[fd00::1:51820",
	"[[fd00::1]]:80",
	"[1.2.3.4]:80",
	"[fe80::1%nosuchif0]:80",
	"[fe80::1%lo/x]:80",
	"[fe80::1%0123456789abcdef]:80",
	"[fe80::1%]:80",
	"[fe80::1%4294967296]:80",
	"[fe80::1%-1]:80",
	"[%1]:80",
	"[]:80",
	"example.com:80",
	"localhost:51820",
	":80",
	":",
	"[",
	"garbage",
	"",
};

static void test_endpoints(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ep_cases) / sizeof(ep_cases[0]); i++) {
		const struct ep_case *c = &ep_cases[i];
		struct wg_endpoint ep;
		char buf[UAPI_ENDPOINT_STRLEN];
		uint32_t scope = 99;
		uint8_t addr[16] = {0};
		int ret;

		ret = uapi_parse_endpoint_scoped(c->text, strlen(c->text), &ep, &scope);
		if (ret != c->ret)
			fail_msg("endpoint \"%s\": %d, want %d", c->text, ret, c->ret);
		assert_int_equal(ep.family, c->family);
		assert_int_equal(ep.port, c->port);
		assert_int_equal(scope, c->scope);
		assert_int_equal(
			inet_pton(c->family == WG_AF_INET ? AF_INET : AF_INET6, c->addr, addr), 1);
		assert_memory_equal(ep.addr, addr, 16);
		uapi_format_endpoint(&ep, buf);
		assert_string_equal(buf, c->formatted ? c->formatted : c->text);
		assert_int_equal(uapi_parse_endpoint(c->text, strlen(c->text), &ep), 0);
	}
	for (size_t i = 0; i < sizeof(bad_endpoints) / sizeof(bad_endpoints[0]); i++) {
		struct wg_endpoint ep, untouched;
		uint32_t scope = 99;

		memset(&ep, 0xa5, sizeof(ep));
		untouched = ep;
		if (uapi_parse_endpoint_scoped(bad_endpoints[i], strlen(bad_endpoints[i]), &ep,
					       &scope) != -EINVAL)
			fail_msg("endpoint \"%s\" accepted", bad_endpoints[i]);
		assert_memory_equal(&ep, &untouched, sizeof(ep)); /* ret_ only on success */
		assert_int_equal(scope, 99);
	}
	/* Lengths are honoured: no reading past len, no NUL smuggling. */
	{
		char buf[UAPI_ENDPOINT_STRLEN];
		struct wg_endpoint ep;

		assert_int_equal(uapi_parse_endpoint("1.2.3.4:80", 9, &ep), 0);
		assert_int_equal(ep.port, 8);
		assert_int_equal(uapi_parse_endpoint("1.2.3.4\0:80", 11, &ep), -EINVAL);
		assert_int_equal(uapi_parse_endpoint("1.2.3.4:8\0", 10, &ep), -EINVAL);
		assert_int_equal(uapi_parse_endpoint("[::1\0]:80", 9, &ep), -EINVAL);
		memset(&ep, 0, sizeof(ep));
		uapi_format_endpoint(&ep, buf);
		assert_string_equal(buf, "");
	}
}

static void test_keys(void **state)
{
	static const char upper[] =
		"E84B5A6D2717C1003A13B431570353DBACA9146CF150C5F8575680FEBA52027A";
	static const char mixed[] =
		"e84B5a6D2717c1003A13b431570353dBACa9146cf150C5f8575680feba52027A";
	uint8_t a[WG_KEY_LEN], b[WG_KEY_LEN], ref[WG_KEY_LEN];
	char hex[2 * WG_KEY_LEN + 1], s[UAPI_KEY_HEXLEN];

	(void)state;
	key_of(PRIV, a);
	assert_int_equal(a[0], 0xe8);
	assert_int_equal(a[31], 0x7a);
	key_of(upper, b);
	assert_memory_equal(a, b, WG_KEY_LEN);
	key_of(mixed, b);
	assert_memory_equal(a, b, WG_KEY_LEN);
	uapi_format_key(a, hex);
	assert_string_equal(hex, PRIV); /* always lowercase out */

	/* Exact length only; the output is untouched on failure. */
	memset(b, 0x5a, sizeof(b));
	assert_int_equal(uapi_parse_key(PRIV, 63, b), -EINVAL);
	assert_int_equal(uapi_parse_key(PRIV "0", 65, b), -EINVAL);
	assert_int_equal(uapi_parse_key("", 0, b), -EINVAL);
	assert_int_equal(uapi_parse_key(NULL, 64, b), -EINVAL);
	for (size_t i = 0; i < WG_KEY_LEN; i++)
		assert_int_equal(b[i], 0x5a);

	/* Every byte value at an even and an odd position, against isxdigit/strtoul. */
	memcpy(ref, a, WG_KEY_LEN);
	for (int pos = 6; pos <= 7; pos++) {
		for (int c = 0; c < 256; c++) {
			int ret;

			memcpy(s, PRIV, UAPI_KEY_HEXLEN);
			s[pos] = (char)c;
			ret = uapi_parse_key(s, UAPI_KEY_HEXLEN, b);
			if (!isxdigit(c)) {
				if (ret != -EINVAL)
					fail_msg("byte 0x%02x at %d accepted", c, pos);
				continue;
			}
			assert_int_equal(ret, 0);
			{
				char d[2] = {(char)c, 0};
				unsigned v = (unsigned)strtoul(d, NULL, 16);

				ref[3] = (uint8_t)(pos == 6 ? (v << 4) | (a[3] & 0xf)
							    : (a[3] & 0xf0) | v);
			}
			assert_memory_equal(b, ref, WG_KEY_LEN);
		}
	}
	/* Every nibble value formats and parses back. */
	for (int v = 0; v < 256; v++) {
		memset(a, v, WG_KEY_LEN);
		uapi_format_key(a, hex);
		assert_int_equal(strlen(hex), 64);
		assert_int_equal(uapi_parse_key(hex, 64, b), 0);
		assert_memory_equal(a, b, WG_KEY_LEN);
		for (int k = 0; k < 64; k++)
			assert_true(isdigit((unsigned char)hex[k]) ||
				    (hex[k] >= 'a' && hex[k] <= 'f'));
	}
}

static void test_prefixes(void **state)
{
	static const char *const good[] = {
		"0.0.0.0/0", "10.0.0.0/8",	"255.255.255.255/32", "::/0",
		"fd00::/64", "2001:db8::1/128", "::ffff:1.2.3.4/128"};
	static const char *const bad[] = {
		"10.0.0.0",
		"10.0.0.0/",
		"10.0.0.0/33",
		"10.0.0.0/08",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/ 8",
		"::/129",
		"::/00",
		"/8",
		"10.0.0.0/8 ",
		"fe80::%1/64",
		"1.2.3/8",
		"10.0.0.0/4294967304",
		"",
	};
	struct uapi_allowed_ip aip;
	char buf[UAPI_PREFIX_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(uapi_parse_prefix(good[i], strlen(good[i]), &aip), 0);
		assert_false(aip.remove);
		uapi_format_prefix(&aip, buf);
		assert_string_equal(buf, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (uapi_parse_prefix(bad[i], strlen(bad[i]), &aip) != -EINVAL)
			fail_msg("prefix \"%s\" accepted", bad[i]);
	aip.family = 0;
	uapi_format_prefix(&aip, buf);
	assert_string_equal(buf, "");
}

/* ---------------------------------------------------------------------------------------- */
/* Caps and speed                                                                            */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int aip_line(struct uapi_parser *p, size_t i)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "allowed_ip=10.%u.%u.%u/32",
			 (unsigned)(i >> 16) & 0xff, (unsigned)(i >> 8) & 0xff, (unsigned)i & 0xff);

	return uapi_parser_line(p, line, (size_t)n);
}

static void test_many_allowed_ips(void **state)
{
	struct uapi_parser p;
	struct uapi_set set;
	double t0, dt;
	size_t i;

	(void)state;
	uapi_parser_init(&p, &set);
	t0 = now_sec();
	assert_int_equal(uapi_parser_line(&p, "public_key=" PUB1, 75), 0);
	for (i = 0; i < 130000; i++)
		assert_int_equal(aip_line(&p, i), 0);
	assert_int_equal(uapi_parser_finish(&p), 0);
	dt = now_sec() - t0;
	print_message("130000 allowed_ip lines: %.3f s\n", dt);
	assert_true(dt < 1.0);
	assert_int_equal(set.peers[0].n_allowed_ips, 130000);
	uapi_set_free(&set);

	/* The cap counts all peers together: fill it across two sections, then one more. */
	uapi_parser_init(&p, &set);
	t0 = now_sec();
	assert_int_equal(uapi_parser_line(&p, "public_key=" PUB1, 75), 0);
	for (i = 0; i < UAPI_MAX_ALLOWED_IPS / 2; i++)
		assert_int_equal(aip_line(&p, i), 0);
	assert_int_equal(uapi_parser_line(&p, "public_key=" PUB2, 75), 0);
	for (; i < UAPI_MAX_ALLOWED_IPS; i++)
		assert_int_equal(aip_line(&p, i), 0);
	assert_int_equal(set.total_allowed_ips, UAPI_MAX_ALLOWED_IPS);
	assert_int_equal(aip_line(&p, i), -ENOSPC);
	assert_int_equal(uapi_parser_finish(&p), -ENOSPC);
	assert_non_null(strstr(p.msg, "line 1048579: more than 1048576 allowed_ip"));
	print_message("%d allowed_ip lines: %.3f s\n", UAPI_MAX_ALLOWED_IPS, now_sec() - t0);
	uapi_set_free(&set);
}

static void test_many_peers(void **state)
{
	struct uapi_parser p;
	struct uapi_set set;
	uint8_t key[WG_KEY_LEN] = {0};
	char line[16 + UAPI_KEY_HEXLEN];

	(void)state;
	uapi_parser_init(&p, &set);
	for (uint32_t i = 0; i <= UAPI_MAX_PEERS; i++) {
		memcpy(key, &i, sizeof(i));
		memcpy(line, "public_key=", 11);
		uapi_format_key(key, line + 11);
		assert_int_equal(uapi_parser_line(&p, line, 11 + UAPI_KEY_HEXLEN),
				 i < UAPI_MAX_PEERS ? 0 : -ENOSPC);
	}
	assert_int_equal(set.n_peers, UAPI_MAX_PEERS);
	assert_int_equal(uapi_parser_finish(&p), -ENOSPC);
	assert_non_null(strstr(p.msg, "more than 65536 peers"));
	uapi_set_free(&set);
}

/* ---------------------------------------------------------------------------------------- */
/* strbuf                                                                                    */

static void test_strbuf(void **state)
{
	struct strbuf sb;
	char big[1000];

	(void)state;
	strbuf_init(&sb, 10);
	assert_string_equal(strbuf_str(&sb), "");
	assert_int_equal(strbuf_append(&sb, "0123456789", 10), 0); /* exactly the cap */
	assert_int_equal(sb.len, 10);
	assert_int_equal(strbuf_append(&sb, "x", 1), -E2BIG);
	assert_int_equal(strbuf_append(&sb, "", 0), -E2BIG); /* sticky */
	assert_int_equal(strbuf_appendf(&sb, "%d", 1), -E2BIG);
	assert_string_equal(strbuf_str(&sb), "0123456789"); /* unchanged */
	strbuf_free(&sb);
	assert_int_equal(sb.error, 0);
	assert_int_equal(sb.max, 10);

	/* appendf fails whole: nothing of a line that does not fit is kept. */
	assert_int_equal(strbuf_appendf(&sb, "%s", "abcdef"), 0);
	assert_int_equal(strbuf_appendf(&sb, "%s", "ghijk"), -E2BIG);
	assert_string_equal(strbuf_str(&sb), "abcdef");
	assert_int_equal(sb.len, 6);
	strbuf_free(&sb);

	/* Growth across many doublings, mixing both appends. */
	strbuf_init(&sb, 1 << 20);
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 300; i++) {
		assert_int_equal(strbuf_appendf(&sb, "%03d:", i), 0);
		assert_int_equal(strbuf_append(&sb, big, (size_t)i), 0);
	}
	assert_int_equal(sb.len, 300 * 4 + 299 * 300 / 2);
	assert_int_equal(strlen(strbuf_str(&sb)), sb.len);
	assert_memory_equal(strbuf_str(&sb), "000:001:z002:zz003:zzz", 22);
	assert_true(sb.cap <= (1 << 20) + 1);
	strbuf_free(&sb);
	strbuf_free(NULL);

	/* The cap is clamped and never exceeded by growth. */
	strbuf_init(&sb, (size_t)-1);
	assert_int_equal(sb.max, STRBUF_MAX);
	strbuf_init(&sb, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(strbuf_appends(&sb, "a"), 0);
	assert_int_equal(sb.cap, 301);
	assert_int_equal(strbuf_appends(&sb, "a"), -E2BIG);
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setconf_round_trip),
		cmocka_unit_test(test_format_set_round_trip),
		cmocka_unit_test(test_format_get_omissions),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_long_and_empty_lines),
		cmocka_unit_test(test_device_key_after_peer),
		cmocka_unit_test(test_no_state_leak),
		cmocka_unit_test(test_same_key_twice),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_allowed_ip_remove_and_replace),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_many_allowed_ips),
		cmocka_unit_test(test_many_peers),
		cmocka_unit_test(test_strbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

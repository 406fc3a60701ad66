/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the UAPI "set" parser and both formatters (dataplane/uapi.c).
 *
 * The input is a request as a client would write it: an optional "set=1" line, then
 * key=value lines until an empty line or the end. Each line goes through uapi_parser_line()
 * as the server would feed it. When the request parses, it is formatted back as a set body
 * and parsed again, which must succeed and give an equal struct; its get reply must format
 * too. When it does not, the message must name the line. The whole input is also offered to
 * the endpoint, key and prefix parsers, whose successes must survive a format/parse round
 * trip. Any mismatch aborts; sanitizers catch the rest. Nothing here may leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/uapi.h"
#include "fuzz.h"
#include "lib/strbuf.h"

static bool peers_equal(const struct uapi_peer *x, const struct uapi_peer *y)
{
	if (memcmp(x->public_key, y->public_key, WG_KEY_LEN) || x->remove != y->remove ||
	    x->update_only != y->update_only || x->replace_allowed_ips != y->replace_allowed_ips ||
	    x->has_psk != y->has_psk || memcmp(x->psk, y->psk, WG_KEY_LEN) ||
	    x->has_endpoint != y->has_endpoint || x->has_keepalive != y->has_keepalive ||
	    x->keepalive != y->keepalive || x->n_allowed_ips != y->n_allowed_ips)
		return false;
	if (x->has_endpoint &&
	    (x->endpoint.family != y->endpoint.family || x->endpoint.port != y->endpoint.port ||
	     memcmp(x->endpoint.addr, y->endpoint.addr, 16) ||
	     x->endpoint_scope_id != y->endpoint_scope_id))
		return false;
	for (size_t k = 0; k < x->n_allowed_ips; k++) {
		const struct uapi_allowed_ip *a = &x->allowed_ips[k], *b = &y->allowed_ips[k];

		if (a->family != b->family || a->cidr != b->cidr || a->remove != b->remove ||
		    memcmp(a->addr, b->addr, 16))
			return false;
	}
	return true;
}

static bool sets_equal(const struct uapi_set *a, const struct uapi_set *b)
{
	if (a->has_private_key != b->has_private_key ||
	    memcmp(a->private_key, b->private_key, WG_KEY_LEN) ||
	    a->has_listen_port != b->has_listen_port || a->listen_port != b->listen_port ||
	    a->has_fwmark != b->has_fwmark || a->fwmark != b->fwmark ||
	    a->replace_peers != b->replace_peers || a->n_peers != b->n_peers ||
	    a->total_allowed_ips != b->total_allowed_ips)
		return false;
	for (size_t i = 0; i < a->n_peers; i++)
		if (!peers_equal(&a->peers[i], &b->peers[i]))
			return false;
	return true;
}

/* Feeds text as lines, as the server would; returns the parser's verdict. */
static int parse_lines(const char *text, size_t size, struct uapi_parser *p, struct uapi_set *set)
{
	size_t off = 0;

	uapi_parser_init(p, set);
	if (size >= 6 && !memcmp(text, "set=1\n", 6))
		off = 6;
	while (off < size) {
		const char *nl = memchr(text + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (text + off)) : size - off;

		if (len == 0)
			break; /* the empty line ends the request */
		uapi_parser_line(p, text + off, len);
		off += len + 1;
	}
	return uapi_parser_finish(p);
}

static void check_round_trip(const struct uapi_set *set)
{
	struct uapi_get_peer *gp = NULL;
	struct uapi_get g = {0};
	struct uapi_parser p2;
	struct uapi_set again;
	struct strbuf out;

	strbuf_init(&out, UAPI_MAX_REPLY);
	if (uapi_format_set(&out, set))
		abort();
	if (parse_lines(strbuf_str(&out), out.len, &p2, &again) || !sets_equal(set, &again))
		abort();
	uapi_set_free(&again);
	strbuf_free(&out);

	/* The get reply of a device that took the request as is. */
	if (set->n_peers && !(gp = calloc(set->n_peers, sizeof(*gp))))
		abort();
	g.has_private_key = set->has_private_key;
	memcpy(g.private_key, set->private_key, WG_KEY_LEN);
	g.listen_port = set->listen_port;
	g.fwmark = set->fwmark;
	for (size_t i = 0; i < set->n_peers; i++) {
		memcpy(gp[i].public_key, set->peers[i].public_key, WG_KEY_LEN);
		memcpy(gp[i].psk, set->peers[i].psk, WG_KEY_LEN);
		gp[i].has_endpoint = set->peers[i].has_endpoint;
		gp[i].endpoint = set->peers[i].endpoint;
		gp[i].keepalive = set->peers[i].keepalive;
		gp[i].last_handshake_sec = UINT64_MAX;
		gp[i].rx_bytes = i;
		gp[i].allowed_ips = set->peers[i].allowed_ips;
		gp[i].n_allowed_ips = set->peers[i].n_allowed_ips;
	}
	g.peers = gp;
	g.n_peers = set->n_peers;
	if (uapi_format_get(&out, &g) || out.len < 9 ||
	    strcmp(out.buf + out.len - 9, "errno=0\n\n"))
		abort();
	strbuf_free(&out);
	free(gp);
}

/* The field parsers on their own, over the raw input (no NUL terminator to lean on). */
static void check_fields(const char *s, size_t size)
{
	char buf[UAPI_ENDPOINT_STRLEN + UAPI_PREFIX_STRLEN + 2 * WG_KEY_LEN + 1];
	struct uapi_allowed_ip aip, aip2;
	struct wg_endpoint ep, ep2;
	uint8_t key[WG_KEY_LEN], key2[WG_KEY_LEN];

	if (!uapi_parse_endpoint(s, size, &ep)) {
		uapi_format_endpoint(&ep, buf);
		if (uapi_parse_endpoint(buf, strlen(buf), &ep2) || ep.family != ep2.family ||
		    ep.port != ep2.port || memcmp(ep.addr, ep2.addr, 16))
			abort();
	}
	if (!uapi_parse_prefix(s, size, &aip)) {
		uapi_format_prefix(&aip, buf);
		if (uapi_parse_prefix(buf, strlen(buf), &aip2) || aip.family != aip2.family ||
		    aip.cidr != aip2.cidr || memcmp(aip.addr, aip2.addr, 16))
			abort();
	}
	if (!uapi_parse_key(s, size, key)) {
		uapi_format_key(key, buf);
		if (uapi_parse_key(buf, strlen(buf), key2) || memcmp(key, key2, WG_KEY_LEN))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct uapi_parser p;
	struct uapi_set set;
	int ret;

	ret = parse_lines(text, size, &p, &set);
	if (!ret)
		check_round_trip(&set);
	else if (strncmp(p.msg, "line ", 5))
		abort();
	uapi_set_free(&set);
	check_fields(text, size);
	return 0;
}

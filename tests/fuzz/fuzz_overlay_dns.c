/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the overlay DNS codec and zone (overlay/dns_codec.c, dns_zone.c), plus
 * the resolv.conf reader on the same bytes.
 *
 * The input is a datagram as a client would send it. It is parsed as a query; when the
 * verdict is to answer, the answer (from a small fixed zone with SRV, an empty non-terminal
 * and an unhealthy node; SERVFAIL for forwarded names; FORMERR/NOTIMP/BADVERS for bad
 * queries) is built for the query's UDP limit and for TCP. Every reply must build, fit its
 * limit, parse back, answer the query's ID and question (ov_dns_check_upstream() must accept
 * it), keep the OPT if the query had one, and have readable names in its SRV and SOA RDATA.
 * The input is also walked as any message, as an upstream answer, as a TCP stream, as a
 * text name (which must survive a text round trip) and as resolv.conf. Any mismatch aborts;
 * sanitizers catch the rest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "overlay/dns_codec.h"
#include "overlay/dns_zone.h"
#include "overlay/resolv.h"

static struct ov_dns_zone zone;
static struct ov_dns_msg fixed_q; /* "web.zlayer.local. A", as the forwarder would hold */
static uint8_t out[OV_DNS_TCP_MAX];

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

static void add(const char *name, int family, const char *bytes, uint32_t owner)
{
	CHECK(ov_dns_zone_add_addr(&zone, name, family, bytes, owner) == 0);
}

static void setup(void)
{
	static uint8_t q[512];
	struct ov_dns_name n;
	size_t len;

	CHECK(ov_dns_zone_init(&zone, NULL) == 0);
	add("node-3-7", AF_INET, "\x0a\xc8\x03\x07", 1);
	add("leader", AF_INET, "\x0a\xc8\x00\x01", 2);
	add("web", AF_INET, "\x0a\xc8\x03\x14", 1);
	add("web", AF_INET, "\x0a\xc8\x05\x14", 4);
	add("web", AF_INET6, "\xfd\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x20", 1);
	add("db", AF_INET, "\x0a\xc8\x06\x02", 5);
	CHECK(ov_dns_zone_add_srv(&zone, "_http._tcp.web", 0, 10, 8080, "web", 1) == 0);
	CHECK(ov_dns_zone_add_srv(&zone, "_http._tcp.web", 1, 10, 8080, "leader", 2) == 0);
	CHECK(ov_dns_zone_add_srv(&zone, "_x._udp.svc", 0, 0, 53, "ext.example.", 0) == 0);
	CHECK(ov_dns_zone_set_healthy(&zone, 5, false) == 0);

	CHECK(ov_dns_name_from_text(&n, "web.zlayer.local") == 0);
	CHECK(ov_dns_build_query(0x1234, &n, OV_DNS_TYPE_A, true, 1232, q, sizeof(q), &len) == 0);
	CHECK(ov_dns_parse_query(q, len, &fixed_q) == OV_DNS_PARSE_OK);
}

/* Every reply we build must be one a resolver can take as the answer to q. */
static void check_reply(const struct ov_dns_msg *q, size_t len, size_t limit)
{
	struct ov_dns_msg m, m2;
	struct ov_dns_rr_iter it;
	struct ov_dns_rr_view v;
	uint32_t n = 0;

	CHECK(len >= OV_DNS_HEADER_LEN && len <= limit);
	CHECK(ov_dns_parse_message(out, len, &m) == OV_DNS_PARSE_OK);
	CHECK(m.flags & OV_DNS_FLAG_QR);
	CHECK(m.id == q->id);
	CHECK(m.has_question == q->has_question);
	CHECK(m.has_edns == q->has_edns);
	if (q->has_question) {
		/* Echoed byte for byte: 0x20 case randomisation must survive. */
		CHECK(m.qname.len == q->qname.len &&
		      !memcmp(m.qname.wire, q->qname.wire, m.qname.len));
		CHECK(m.qtype == q->qtype && m.qclass == q->qclass);
		CHECK(ov_dns_check_upstream(out, len, q->id, q, &m2) == OV_DNS_UPSTREAM_OK);
	}
	ov_dns_rr_iter_init(&it, &m);
	while (ov_dns_rr_iter_next(&it, &v)) {
		struct ov_dns_name name;
		size_t next;

		n++;
		if (v.type == OV_DNS_TYPE_SRV) {
			CHECK(ov_dns_read_name(&m, v.rdata_off + 6, &name, &next) == 0);
			CHECK(next == v.rdata_off + v.rdlength);
		} else if (v.type == OV_DNS_TYPE_SOA) {
			CHECK(ov_dns_read_name(&m, v.rdata_off, &name, &next) == 0);
			CHECK(ov_dns_read_name(&m, next, &name, &next) == 0);
			CHECK(next + 20 == v.rdata_off + v.rdlength);
		}
	}
	CHECK(n == (uint32_t)m.ancount + m.nscount + m.arcount);
}

static void serve(const uint8_t *data, size_t size)
{
	struct ov_dns_msg q;
	struct ov_dns_answer a;
	enum ov_dns_parse_result r = ov_dns_parse_query(data, size, &q);
	int rc = ov_dns_parse_rcode(r);
	size_t len;

	CHECK(ov_dns_parse_result_str(r)[0] != '?');
	if (rc < 0) {
		CHECK(r == OV_DNS_PARSE_DROP_SHORT || r == OV_DNS_PARSE_DROP_RESPONSE);
		return;
	}
	if (r != OV_DNS_PARSE_OK) {
		CHECK(ov_dns_build_error(&q, (uint16_t)rc, out, sizeof(out), &len) == 0);
		check_reply(&q, len, ov_dns_udp_limit(&q));
		return;
	}
	if (ov_dns_zone_lookup(&zone, &q, &a) == OV_DNS_ZONE_FORWARD) {
		CHECK(ov_dns_build_error(&q, OV_DNS_RCODE_SERVFAIL, out, sizeof(out), &len) == 0);
		check_reply(&q, len, ov_dns_udp_limit(&q));
		return;
	}
	CHECK(ov_dns_build_response(&q, &a, ov_dns_udp_limit(&q), out, sizeof(out), &len) == 0);
	check_reply(&q, len, ov_dns_udp_limit(&q));
	CHECK(ov_dns_build_response(&q, &a, OV_DNS_TCP_MAX, out, sizeof(out), &len) == 0);
	check_reply(&q, len, OV_DNS_TCP_MAX);
	CHECK(!(out[2] & (OV_DNS_FLAG_TC >> 8))); /* our answers always fit TCP */
}

/* Any message, record by record, with names in RDATA read where they may be. */
static void walk(const uint8_t *data, size_t size)
{
	struct ov_dns_msg m;
	struct ov_dns_rr_iter it;
	struct ov_dns_rr_view v;
	struct ov_dns_name name;
	size_t next;

	if (ov_dns_parse_message(data, size, &m) != OV_DNS_PARSE_OK)
		return;
	ov_dns_rr_iter_init(&it, &m);
	while (ov_dns_rr_iter_next(&it, &v)) {
		CHECK(v.rdata_off + v.rdlength <= size);
		if (v.rdlength)
			(void)ov_dns_read_name(&m, v.rdata_off, &name, &next);
	}
}

static void text_name(const uint8_t *data, size_t size)
{
	char text[OV_DNS_NAME_TEXT_MAX], back[OV_DNS_NAME_TEXT_MAX];
	struct ov_dns_name a, b;

	if (size >= sizeof(text))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ov_dns_name_from_text(&a, text) < 0)
		return;
	CHECK(ov_dns_name_to_text(&a, back, sizeof(back)) > 0);
	CHECK(ov_dns_name_from_text(&b, back) == 0);
	CHECK(a.len == b.len && !memcmp(a.wire, b.wire, a.len));
	CHECK(ov_dns_name_canon_cmp(&a, &b) == 0 && ov_dns_name_equal(&a, &b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct ov_dns_msg m;
	struct ov_resolv rv;
	const uint8_t *msg;
	size_t mlen, used, off = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	serve(data, size);
	walk(data, size);
	(void)ov_dns_check_upstream(data, size, 0x1234, &fixed_q, &m);
	while ((used = ov_dns_tcp_next(data + off, size - off, &msg, &mlen)) > 0) {
		CHECK(used == mlen + 2 && off + used <= size);
		serve(msg, mlen);
		off += used;
	}
	text_name(data, size);
	CHECK(ov_resolv_parse((const char *)data, size, &rv) >= 0 && rv.count <= OV_RESOLV_NS_MAX);
	return 0;
}

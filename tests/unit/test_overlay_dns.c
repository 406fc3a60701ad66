/* SPDX-License-Identifier: MIT */
/*
 * Overlay DNS tests: the codec against queries captured from dig 9.18 (EDNS with a cookie,
 * without EDNS, mixed case, SRV, version 1, DO, ANY over TCP, ECS), every kind of answer from
 * a small zone (records, NODATA, NXDOMAIN, empty non-terminals, SRV with glue, REFUSED,
 * forward), exact response bytes, name compression, TC truncation, withheld records of
 * unhealthy nodes, and malformed input of every kind: pointer loops, forward pointers,
 * overlong names and labels, every truncation and every single-byte change of real queries.
 * Each must end in a named parse error or an answer that parses again, never a crash.
 * Then the forwarder helpers, TCP framing and resolv.conf parsing. No sockets.
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
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "overlay/dns_codec.h"
#include "overlay/dns_zone.h"
#include "overlay/resolv.h"

/* ---------------------------------------------------------------------------------------- */
/* Queries captured from dig 9.18.x (Debian 12) on a UDP/TCP socket that only recorded.    */
/* dig sets AD in queries (RFC 6840 §5.7), so the flags word is 0x0120 with RD.             */

/* dig web.zlayer.local A: EDNS 1232 with an 8-byte client COOKIE option (RFC 7873). */
static const uint8_t DIG_A_COOKIE[] = {
	0xe3, 0x1a, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x77, 0x65,
	0x62, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
	0x00, 0x0a, 0x00, 0x08, 0x81, 0x96, 0x55, 0xb9, 0x4f, 0x69, 0x74, 0x91};
/* dig +noedns node-3-7.zlayer.local A */
static const uint8_t DIG_A_NOEDNS[] = {0xc1, 0x25, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0x08, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x33, 0x2d,
				       0x37, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c,
				       0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x01, 0x00, 0x01};
/* dig +nocookie Leader.ZLayer.Local AAAA (EDNS, no option) */
static const uint8_t DIG_AAAA_CASE[] = {0x54, 0x8f, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
					0x00, 0x01, 0x06, 0x4c, 0x65, 0x61, 0x64, 0x65, 0x72, 0x06,
					0x5a, 0x4c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x4c, 0x6f, 0x63,
					0x61, 0x6c, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x29,
					0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* dig _http._tcp.web.zlayer.local SRV (EDNS, cookie) */
static const uint8_t DIG_SRV[] = {
	0x87, 0xf1, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x05, 0x5f,
	0x68, 0x74, 0x74, 0x70, 0x04, 0x5f, 0x74, 0x63, 0x70, 0x03, 0x77, 0x65, 0x62, 0x06,
	0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00,
	0x21, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
	0x00, 0x0a, 0x00, 0x08, 0xe3, 0xfc, 0xa7, 0x7c, 0x25, 0xb5, 0xc8, 0x53};
/* dig +noedns example.com A */
static const uint8_t DIG_OUTSIDE[] = {0x8f, 0x59, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				      0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
				      0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01};
/* dig +edns=1 +nocookie web.zlayer.local A */
static const uint8_t DIG_EDNS1[] = {
	0xc7, 0x59, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x77, 0x65,
	0x62, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
/* dig +dnssec +bufsize=4096 zlayer.local SOA (DO set, cookie) */
static const uint8_t DIG_SOA_DO[] = {
	0x2f, 0x20, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x06, 0x7a,
	0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x06,
	0x00, 0x01, 0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x00,
	0x0a, 0x00, 0x08, 0x52, 0x52, 0xd4, 0xd6, 0x82, 0xb4, 0x0e, 0x30};
/* dig +noedns +norecurse missing.zlayer.local TXT */
static const uint8_t DIG_TXT_MISSING[] = {
	0x14, 0xe2, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
	0x6d, 0x69, 0x73, 0x73, 0x69, 0x6e, 0x67, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65,
	0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x10, 0x00, 0x01};
/* dig +subnet=10.200.0.0/16 svc.zlayer.local A: client-subnet and cookie options. */
static const uint8_t DIG_ECS[] = {
	0x90, 0x8c, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x73,
	0x76, 0x63, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61,
	0x6c, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x16, 0x00, 0x08, 0x00, 0x06, 0x00, 0x01, 0x10, 0x00, 0x0a, 0xc8, 0x00,
	0x0a, 0x00, 0x08, 0x48, 0xfd, 0xc9, 0x2f, 0x36, 0x3c, 0xdf, 0xd5};
/* dig -t ANY zlayer.local (dig 9.18 sends ANY over TCP): the stream, length prefix included. */
static const uint8_t DIG_TCP_ANY[] = {
	0x00, 0x29, 0xb8, 0x7d, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x06,
	0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0xff,
	0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* dig +tcp web.zlayer.local AAAA, framed. */
static const uint8_t DIG_TCP_AAAA[] = {
	0x00, 0x39, 0x2a, 0xe4, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03,
	0x77, 0x65, 0x62, 0x06, 0x7a, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61,
	0x6c, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0xb0, 0x5c, 0x63, 0x2f, 0xea, 0xad, 0x46, 0x62};

struct capture {
	const char *what;
	const uint8_t *b;
	size_t len;
};

#define CAP(x)                   \
	{                        \
#x, x, sizeof(x) \
	}
static const struct capture CAPTURES[] = {
	CAP(DIG_A_COOKIE), CAP(DIG_A_NOEDNS), CAP(DIG_AAAA_CASE),   CAP(DIG_SRV), CAP(DIG_OUTSIDE),
	CAP(DIG_EDNS1),	   CAP(DIG_SOA_DO),   CAP(DIG_TXT_MISSING), CAP(DIG_ECS),
};

/* ---------------------------------------------------------------------------------------- */
/* The zone every test starts from                                                          */

enum { NODE1 = 1, LEADER = 2, NODE3 = 3, NODE4 = 4, NODE5 = 5 };

static struct ov_dns_zone zone;

static void v4(uint8_t out[4], const char *s)
{
	assert_int_equal(inet_pton(AF_INET, s, out), 1);
}

static void v6(uint8_t out[16], const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void add4(const char *host, const char *ip, uint32_t owner)
{
	uint8_t a[4];

	v4(a, ip);
	assert_int_equal(ov_dns_zone_add_addr(&zone, host, AF_INET, a, owner), 0);
}

static void add6(const char *host, const char *ip, uint32_t owner)
{
	uint8_t a[16];

	v6(a, ip);
	assert_int_equal(ov_dns_zone_add_addr(&zone, host, AF_INET6, a, owner), 0);
}

/* The daemon's registrations (issue 4): node names, leader, custom host, services, SRV. */
static int zone_setup(void **state)
{
	(void)state;
	assert_int_equal(ov_dns_zone_init(&zone, NULL), 0);
	add4("node-3-7", "10.200.3.7", NODE1);
	add4("node-0-1", "10.200.0.1", LEADER);
	add4("leader", "10.200.0.1", LEADER);
	add6("node-00ab", "fd00:200::ab", NODE3);
	add4("registry", "10.200.9.9", OV_DNS_ZONE_OWNER_NONE); /* custom hostname */
	add4("web", "10.200.3.20", NODE1);			/* one record per container */
	add4("web", "10.200.5.20", NODE4);
	add6("web", "fd00:200::3:20", NODE1);
	assert_int_equal(ov_dns_zone_add_srv(&zone, "_http._tcp.web", 0, 10, 8080, "web", NODE1),
			 0);
	add4("db", "10.200.6.2", NODE5);
	return 0;
}

static int zone_teardown(void **state)
{
	(void)state;
	ov_dns_zone_done(&zone);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Serving one query the way the server will, and reading the reply back                    */

struct rr_text {
	enum ov_dns_section section;
	uint16_t type;
	uint32_t ttl;
	char name[OV_DNS_NAME_TEXT_MAX];
	char data[OV_DNS_NAME_TEXT_MAX * 3];
};

struct reply {
	enum ov_dns_parse_result parse; /* of the query */
	bool dropped, forwarded;
	uint8_t buf[OV_DNS_TCP_MAX];
	size_t len;
	struct ov_dns_msg m; /* the reply, parsed */
	unsigned rcode;	     /* 12 bits, EDNS part included */
	char qname[OV_DNS_NAME_TEXT_MAX];
	size_t n;
	struct rr_text rr[96];
};

static struct reply R; /* 64 KiB: not on the stack */

static void rdata_text(const struct ov_dns_msg *m, const struct ov_dns_rr_view *v, char *out,
		       size_t cap)
{
	const uint8_t *d = m->buf + v->rdata_off;
	char a[INET6_ADDRSTRLEN], n1[OV_DNS_NAME_TEXT_MAX], n2[OV_DNS_NAME_TEXT_MAX];
	struct ov_dns_name name;
	size_t next;

	switch (v->type) {
	case OV_DNS_TYPE_A:
		assert_int_equal(v->rdlength, 4);
		inet_ntop(AF_INET, d, a, sizeof(a));
		snprintf(out, cap, "%s", a);
		break;
	case OV_DNS_TYPE_AAAA:
		assert_int_equal(v->rdlength, 16);
		inet_ntop(AF_INET6, d, a, sizeof(a));
		snprintf(out, cap, "%s", a);
		break;
	case OV_DNS_TYPE_SRV:
		assert_int_equal(ov_dns_read_name(m, v->rdata_off + 6, &name, &next), 0);
		assert_int_equal(next, v->rdata_off + v->rdlength);
		assert_true(ov_dns_name_to_text(&name, n1, sizeof(n1)) > 0);
		snprintf(out, cap, "%u %u %u %s", d[0] << 8 | d[1], d[2] << 8 | d[3],
			 d[4] << 8 | d[5], n1);
		break;
	case OV_DNS_TYPE_SOA:
		assert_int_equal(ov_dns_read_name(m, v->rdata_off, &name, &next), 0);
		assert_true(ov_dns_name_to_text(&name, n1, sizeof(n1)) > 0);
		assert_int_equal(ov_dns_read_name(m, next, &name, &next), 0);
		assert_true(ov_dns_name_to_text(&name, n2, sizeof(n2)) > 0);
		assert_int_equal(next + 20, v->rdata_off + v->rdlength);
		d = m->buf + next;
		snprintf(out, cap, "%s %s %u %u %u %u %u", n1, n2,
			 (unsigned)d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3],
			 (unsigned)d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7],
			 (unsigned)d[8] << 24 | d[9] << 16 | d[10] << 8 | d[11],
			 (unsigned)d[12] << 24 | d[13] << 16 | d[14] << 8 | d[15],
			 (unsigned)d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19]);
		break;
	case OV_DNS_TYPE_OPT:
		snprintf(out, cap, "udp=%u ver=%u do=%u len=%u", v->rclass, v->ttl >> 16 & 0xff,
			 v->ttl >> 15 & 1, v->rdlength);
		break;
	default:
		snprintf(out, cap, "?");
		break;
	}
}

/* Parses a reply we built; it must parse, and must be a reply to q. */
static void read_reply(const struct ov_dns_msg *q, struct reply *r)
{
	struct ov_dns_rr_iter it;
	struct ov_dns_rr_view v;
	enum ov_dns_parse_result p = ov_dns_parse_message(r->buf, r->len, &r->m);

	if (p != OV_DNS_PARSE_OK)
		fail_msg("our reply does not parse: %s", ov_dns_parse_result_str(p));
	assert_true(r->m.flags & OV_DNS_FLAG_QR);
	assert_int_equal(r->m.id, q->id);
	r->rcode = (r->m.flags & OV_DNS_RCODE_MASK) | (unsigned)r->m.edns_ext_rcode << 4;
	r->qname[0] = '\0';
	if (r->m.has_question)
		assert_true(ov_dns_name_to_text(&r->m.qname, r->qname, sizeof(r->qname)) > 0);
	r->n = 0;
	ov_dns_rr_iter_init(&it, &r->m);
	while (ov_dns_rr_iter_next(&it, &v)) {
		struct rr_text *t;

		assert_true(r->n < sizeof(r->rr) / sizeof(r->rr[0]));
		t = &r->rr[r->n++];
		t->section = v.section;
		t->type = v.type;
		t->ttl = v.ttl;
		assert_true(ov_dns_name_to_text(&v.name, t->name, sizeof(t->name)) > 0);
		rdata_text(&r->m, &v, t->data, sizeof(t->data));
	}
	assert_int_equal(r->n, (size_t)r->m.ancount + r->m.nscount + r->m.arcount);
}

/* limit 0: the query's UDP limit. */
static struct reply *serve_limit(const uint8_t *qb, size_t qlen, size_t limit)
{
	struct ov_dns_msg q;
	struct ov_dns_answer a;
	struct reply *r = &R;
	int rc;

	memset(r, 0, sizeof(*r));
	r->parse = ov_dns_parse_query(qb, qlen, &q);
	rc = ov_dns_parse_rcode(r->parse);
	if (rc < 0) {
		r->dropped = true;
		return r;
	}
	if (!limit)
		limit = ov_dns_udp_limit(&q);
	if (r->parse != OV_DNS_PARSE_OK) {
		assert_int_equal(
			ov_dns_build_error(&q, (uint16_t)rc, r->buf, sizeof(r->buf), &r->len), 0);
	} else if (ov_dns_zone_lookup(&zone, &q, &a) == OV_DNS_ZONE_FORWARD) {
		/* What the server sends when every upstream failed. */
		r->forwarded = true;
		assert_int_equal(ov_dns_build_error(&q, OV_DNS_RCODE_SERVFAIL, r->buf,
						    sizeof(r->buf), &r->len),
				 0);
	} else {
		assert_int_equal(
			ov_dns_build_response(&q, &a, limit, r->buf, sizeof(r->buf), &r->len), 0);
	}
	assert_true(r->len <= limit || r->parse != OV_DNS_PARSE_OK || r->forwarded);
	read_reply(&q, r);
	return r;
}

static struct reply *serve(const uint8_t *qb, size_t qlen)
{
	return serve_limit(qb, qlen, 0);
}

/* Builds a query with the codec (RD set). */
static size_t mkq(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype,
		  uint16_t edns)
{
	struct ov_dns_name n;
	size_t len;

	assert_int_equal(ov_dns_name_from_text(&n, name), 0);
	assert_int_equal(ov_dns_build_query(id, &n, qtype, true, edns, buf, cap, &len), 0);
	return len;
}

static struct reply *ask(const char *name, uint16_t qtype)
{
	uint8_t q[512];
	size_t len = mkq(q, sizeof(q), 0x1234, name, qtype, OV_DNS_EDNS_UDP_SIZE);

	return serve(q, len);
}

static size_t count(const struct reply *r, enum ov_dns_section s, uint16_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->rr[i].section == s && r->rr[i].type == type;
	return n;
}

static bool has(const struct reply *r, enum ov_dns_section s, uint16_t type, const char *data)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->rr[i].section == s && r->rr[i].type == type && !strcmp(r->rr[i].data, data))
			return true;
	}
	return false;
}

static void assert_negative(const struct reply *r, unsigned rcode)
{
	assert_false(r->forwarded);
	assert_int_equal(r->rcode, rcode);
	assert_true(r->m.flags & OV_DNS_FLAG_AA);
	assert_int_equal(r->m.ancount, 0);
	assert_int_equal(r->m.nscount, 1);
	assert_int_equal(count(r, OV_DNS_SECTION_AUTHORITY, OV_DNS_TYPE_SOA), 1);
	for (size_t i = 0; i < r->n; i++) {
		if (r->rr[i].type == OV_DNS_TYPE_SOA) {
			/* Compressed against the question: the client's case (RFC 4343). */
			assert_int_equal(strcasecmp(r->rr[i].name, "zlayer.local."), 0);
			assert_int_equal(r->rr[i].ttl, OV_DNS_ZONE_NEG_TTL);
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* dig's own bytes                                                                          */

static void test_dig_bytes_parse(void **state)
{
	struct ov_dns_msg q;
	char text[OV_DNS_NAME_TEXT_MAX];

	(void)state;
	assert_int_equal(ov_dns_parse_query(DIG_A_COOKIE, sizeof(DIG_A_COOKIE), &q),
			 OV_DNS_PARSE_OK);
	assert_int_equal(q.id, 0xe31a);
	assert_int_equal(q.flags, OV_DNS_FLAG_RD | OV_DNS_FLAG_AD);
	assert_int_equal(ov_dns_name_to_text(&q.qname, text, sizeof(text)), 17);
	assert_string_equal(text, "web.zlayer.local.");
	assert_int_equal(q.qtype, OV_DNS_TYPE_A);
	assert_int_equal(q.qclass, OV_DNS_CLASS_IN);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp_size, 1232);
	assert_int_equal(q.edns_version, 0);
	assert_false(q.edns_do);
	assert_int_equal(ov_dns_udp_limit(&q), 1232);

	assert_int_equal(ov_dns_parse_query(DIG_A_NOEDNS, sizeof(DIG_A_NOEDNS), &q),
			 OV_DNS_PARSE_OK);
	assert_false(q.has_edns);
	assert_int_equal(ov_dns_udp_limit(&q), 512);

	/* bufsize=4096 is capped at what we send over UDP; DO is read. */
	assert_int_equal(ov_dns_parse_query(DIG_SOA_DO, sizeof(DIG_SOA_DO), &q), OV_DNS_PARSE_OK);
	assert_int_equal(q.edns_udp_size, 4096);
	assert_true(q.edns_do);
	assert_int_equal(ov_dns_udp_limit(&q), OV_DNS_EDNS_UDP_SIZE);

	assert_int_equal(ov_dns_parse_query(DIG_ECS, sizeof(DIG_ECS), &q), OV_DNS_PARSE_OK);
	assert_int_equal(ov_dns_parse_query(DIG_EDNS1, sizeof(DIG_EDNS1), &q),
			 OV_DNS_PARSE_BADVERS);
	assert_int_equal(q.edns_version, 1);
}

/* Our query builder writes dig's bytes, but for AD which dig sets and we do not. */
static void test_dig_bytes_build(void **state)
{
	uint8_t b[512];
	size_t len;

	(void)state;
	len = mkq(b, sizeof(b), 0xc125, "node-3-7.zlayer.local", OV_DNS_TYPE_A, 0);
	assert_int_equal(len, sizeof(DIG_A_NOEDNS));
	assert_int_equal(b[3] | OV_DNS_FLAG_AD, DIG_A_NOEDNS[3]);
	b[3] |= OV_DNS_FLAG_AD;
	assert_memory_equal(b, DIG_A_NOEDNS, len);

	len = mkq(b, sizeof(b), 0x548f, "Leader.ZLayer.Local.", OV_DNS_TYPE_AAAA, 1232);
	assert_int_equal(len, sizeof(DIG_AAAA_CASE));
	b[3] |= OV_DNS_FLAG_AD;
	assert_memory_equal(b, DIG_AAAA_CASE, len);
}

/* The exact reply to dig +noedns node-3-7 A: AA, RD copied, AD not, owner compressed. */
static void test_reply_bytes(void **state)
{
	static const uint8_t want_tail[] = {
		0xc0, 0x0c,		/* owner: pointer to the question name */
		0x00, 0x01, 0x00, 0x01, /* A IN */
		0x00, 0x00, 0x01, 0x2c, /* TTL 300 */
		0x00, 0x04, 10,	  200,	3, 7,
	};
	struct reply *r;

	(void)state;
	r = serve(DIG_A_NOEDNS, sizeof(DIG_A_NOEDNS));
	assert_int_equal(r->len, sizeof(DIG_A_NOEDNS) + sizeof(want_tail));
	assert_memory_equal(r->buf, "\xc1\x25\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00", 12);
	assert_memory_equal(r->buf + 12, DIG_A_NOEDNS + 12, sizeof(DIG_A_NOEDNS) - 12);
	assert_memory_equal(r->buf + sizeof(DIG_A_NOEDNS), want_tail, sizeof(want_tail));
}

static void test_dig_answers(void **state)
{
	struct reply *r;
	struct ov_dns_msg q;
	const uint8_t *msg;
	size_t mlen;

	(void)state;
	/* Two containers of "web": two A records, TTL 300, OPT echoed without options. */
	r = serve(DIG_A_COOKIE, sizeof(DIG_A_COOKIE));
	assert_int_equal(r->rcode, OV_DNS_RCODE_NOERROR);
	assert_int_equal(
		r->m.flags & (OV_DNS_FLAG_AA | OV_DNS_FLAG_RD | OV_DNS_FLAG_TC | OV_DNS_FLAG_AD),
		OV_DNS_FLAG_AA | OV_DNS_FLAG_RD);
	assert_int_equal(count(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A), 2);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.3.20"));
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.5.20"));
	assert_int_equal(r->rr[0].ttl, 300);
	assert_true(
		has(r, OV_DNS_SECTION_ADDITIONAL, OV_DNS_TYPE_OPT, "udp=1232 ver=0 do=0 len=0"));

	/* Leader has an A only: AAAA is NODATA; the question keeps dig's case. */
	r = serve(DIG_AAAA_CASE, sizeof(DIG_AAAA_CASE));
	assert_negative(r, OV_DNS_RCODE_NOERROR);
	assert_string_equal(r->qname, "Leader.ZLayer.Local.");

	r = serve(DIG_SRV, sizeof(DIG_SRV));
	assert_int_equal(r->rcode, OV_DNS_RCODE_NOERROR);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_SRV, "0 10 8080 web.zlayer.local."));
	assert_int_equal(count(r, OV_DNS_SECTION_ADDITIONAL, OV_DNS_TYPE_A), 2);
	assert_int_equal(count(r, OV_DNS_SECTION_ADDITIONAL, OV_DNS_TYPE_AAAA), 1);

	r = serve(DIG_OUTSIDE, sizeof(DIG_OUTSIDE));
	assert_true(r->forwarded);
	assert_int_equal(r->rcode, OV_DNS_RCODE_SERVFAIL);

	/* BADVERS: 16 = header 0 + OPT extended rcode 1, question echoed (RFC 6891 §6.1.3). */
	r = serve(DIG_EDNS1, sizeof(DIG_EDNS1));
	assert_int_equal(r->parse, OV_DNS_PARSE_BADVERS);
	assert_int_equal(r->m.flags & OV_DNS_RCODE_MASK, 0);
	assert_int_equal(r->rcode, OV_DNS_RCODE_BADVERS);
	assert_int_equal(r->m.edns_version, 0);
	assert_string_equal(r->qname, "web.zlayer.local.");

	/* Apex SOA, DO copied (RFC 3225 §3). */
	r = serve(DIG_SOA_DO, sizeof(DIG_SOA_DO));
	assert_int_equal(r->rcode, OV_DNS_RCODE_NOERROR);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_SOA,
			"zlayer.local. hostmaster.zlayer.local. 11 3600 600 86400 30"));
	assert_true(r->m.edns_do);

	r = serve(DIG_TXT_MISSING, sizeof(DIG_TXT_MISSING));
	assert_negative(r, OV_DNS_RCODE_NXDOMAIN);
	assert_false(r->m.flags & OV_DNS_FLAG_RD);
	assert_false(r->m.has_edns);

	r = serve(DIG_ECS, sizeof(DIG_ECS));
	assert_negative(r, OV_DNS_RCODE_NXDOMAIN);

	/* ANY at the apex over TCP: the SOA is all there is. */
	assert_int_equal(ov_dns_tcp_next(DIG_TCP_ANY, sizeof(DIG_TCP_ANY), &msg, &mlen),
			 sizeof(DIG_TCP_ANY));
	assert_int_equal(ov_dns_parse_query(msg, mlen, &q), OV_DNS_PARSE_OK);
	r = serve_limit(msg, mlen, OV_DNS_TCP_MAX);
	assert_int_equal(count(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_SOA), 1);
	assert_int_equal(r->m.ancount, 1);

	assert_int_equal(ov_dns_tcp_next(DIG_TCP_AAAA, sizeof(DIG_TCP_AAAA), &msg, &mlen),
			 sizeof(DIG_TCP_AAAA));
	r = serve_limit(msg, mlen, OV_DNS_TCP_MAX);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_AAAA, "fd00:200::3:20"));
}

/* ---------------------------------------------------------------------------------------- */
/* Every kind of answer                                                                     */

static void test_answer_kinds(void **state)
{
	struct reply *r;
	uint8_t q[512];
	size_t len;

	(void)state;
	r = ask("node-3-7.zlayer.local", OV_DNS_TYPE_A);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.3.7"));
	r = ask("leader.zlayer.local", OV_DNS_TYPE_A);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.0.1"));
	r = ask("node-00ab.zlayer.local", OV_DNS_TYPE_AAAA);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_AAAA, "fd00:200::ab"));
	r = ask("registry.zlayer.local", OV_DNS_TYPE_A);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.9.9"));
	r = ask("web.zlayer.local", OV_DNS_TYPE_AAAA);
	assert_int_equal(r->m.ancount, 1);

	/* ANY: every record of the name, SRV glue not involved. */
	r = ask("web.zlayer.local", OV_DNS_TYPE_ANY);
	assert_int_equal(r->m.ancount, 3);

	/* NODATA: the name exists without the type (incl. types we never hold, and the apex). */
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_MX), OV_DNS_RCODE_NOERROR);
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NOERROR);
	assert_negative(ask("zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NOERROR);
	assert_negative(ask("zlayer.local", OV_DNS_TYPE_NS), OV_DNS_RCODE_NOERROR);

	/* Empty non-terminal (RFC 8020): _tcp.web has no record but a child that does. */
	assert_negative(ask("_tcp.web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NOERROR);
	assert_negative(ask("_tcp.web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NOERROR);
	/* ...and a sibling of a real name is NXDOMAIN, as is anything below a leaf. */
	assert_negative(ask("_udp.web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NXDOMAIN);
	assert_negative(ask("x.node-3-7.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);
	assert_negative(ask("nope.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);

	/* Out of zone: forwarded, including a parent of the zone and a look-alike. */
	assert_true(ask("local", OV_DNS_TYPE_SOA)->forwarded);
	assert_true(ask("web.zlayer.localx", OV_DNS_TYPE_A)->forwarded);
	assert_true(ask("xzlayer.local", OV_DNS_TYPE_A)->forwarded);

	/* Zone transfers and other classes: REFUSED, not authoritative. */
	r = ask("zlayer.local", OV_DNS_TYPE_AXFR);
	assert_int_equal(r->rcode, OV_DNS_RCODE_REFUSED);
	assert_false(r->m.flags & OV_DNS_FLAG_AA);
	len = mkq(q, sizeof(q), 7, "web.zlayer.local", OV_DNS_TYPE_A, 0);
	q[len - 1] = OV_DNS_CLASS_CH;
	assert_int_equal(serve(q, len)->rcode, OV_DNS_RCODE_REFUSED);
	q[len - 1] = OV_DNS_CLASS_ANY;
	assert_int_equal(serve(q, len)->m.ancount, 2);
}

static void test_case_insensitive(void **state)
{
	struct reply *r;

	(void)state;
	r = ask("WeB.ZLAYER.local", OV_DNS_TYPE_A);
	assert_int_equal(r->m.ancount, 2);
	assert_string_equal(r->qname, "WeB.ZLAYER.local.");
	/* Owners point at the question: the client sees its own spelling. */
	assert_string_equal(r->rr[0].name, "WeB.ZLAYER.local.");
	r = ask("_HTTP._Tcp.WEB.zlayer.LOCAL", OV_DNS_TYPE_SRV);
	assert_int_equal(r->m.ancount, 1);
	assert_negative(ask("_TCP.web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NOERROR);
	/* Names added in another case are the same name. */
	add4("WEB", "10.200.7.7", NODE4);
	assert_int_equal(ask("web.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 3);
	assert_int_equal(ov_dns_zone_remove_name(&zone, "Web"), 4);
}

static void test_compression(void **state)
{
	struct reply *r;
	size_t qend = 12 + 18 + 4; /* header, "web.zlayer.local.", type, class */

	(void)state;
	r = ask("web.zlayer.local", OV_DNS_TYPE_A);
	/* Each answer: 2-byte pointer owner + 10 + 4; then the 11-byte OPT. */
	assert_int_equal(r->len, qend + 2 * 16 + 11);
	assert_memory_equal(r->buf + qend, "\xc0\x0c", 2);

	/* SOA owner and MNAME point at the zone suffix of the question; RNAME reuses it too. */
	r = ask("nope.zlayer.local", OV_DNS_TYPE_A);
	qend = 12 + 19 + 4;
	assert_memory_equal(r->buf + qend, "\xc0\x11", 2); /* "zlayer.local." at 12 + 5 */
	assert_int_equal(r->len, qend + 2 + 10 + (2 + 13) + 20 + 11);

	/* SRV target written in full (RFC 2782), later glue owners point into it. */
	r = ask("_http._tcp.web.zlayer.local", OV_DNS_TYPE_SRV);
	assert_non_null(memmem(r->buf, r->len, "\x1f\x90\x03web\x06zlayer\x05local\x00", 20));
}

/* ---------------------------------------------------------------------------------------- */
/* Truncation                                                                               */

static void test_truncation(void **state)
{
	char ip[32];
	uint8_t q[512];
	size_t len;
	struct reply *r;

	(void)state;
	for (int i = 0; i < OV_DNS_ZONE_PER_NAME_MAX; i++) {
		uint8_t a[16] = {0xfd, 0, 2, 0, [15] = (uint8_t)i};

		snprintf(ip, sizeof(ip), "10.200.8.%d", i);
		add4("big", ip, OV_DNS_ZONE_OWNER_NONE);
		assert_int_equal(ov_dns_zone_add_addr(&zone, "big6", AF_INET6, a, 0), 0);
	}
	/* The cap on one name counts every type. */
	assert_int_equal(ov_dns_zone_add_addr(&zone, "big", AF_INET, (uint8_t[4]){1, 2, 3, 4}, 0),
			 -ENOSPC);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "big6", AF_INET, (uint8_t[4]){1, 2, 3, 4}, 0),
			 -ENOSPC);

	/* 63 A = 1042 bytes: no EDNS -> 512 -> TC, header and question only. */
	len = mkq(q, sizeof(q), 1, "big.zlayer.local", OV_DNS_TYPE_A, 0);
	r = serve(q, len);
	assert_true(r->m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(r->m.ancount + r->m.nscount + r->m.arcount, 0);
	assert_int_equal(r->len, 12 + 18 + 4);
	/* EDNS 1232: fits. */
	len = mkq(q, sizeof(q), 1, "big.zlayer.local", OV_DNS_TYPE_A, 1232);
	r = serve(q, len);
	assert_false(r->m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(r->m.ancount, 63);
	assert_int_equal(r->len, 12 + 22 + 63 * 16 + 11);
	/* EDNS 600: TC, and the OPT still there. */
	len = mkq(q, sizeof(q), 1, "big.zlayer.local", OV_DNS_TYPE_A, 600);
	r = serve(q, len);
	assert_true(r->m.flags & OV_DNS_FLAG_TC);
	assert_true(r->m.has_edns);
	assert_int_equal(r->m.ancount, 0);
	/* EDNS below 512 counts as 512 (RFC 6891 §6.2.5). */
	len = mkq(q, sizeof(q), 1, "big.zlayer.local", OV_DNS_TYPE_A, 100);
	r = serve(q, len);
	assert_true(r->m.flags & OV_DNS_FLAG_TC);
	/* 63 AAAA = 1764 bytes: TC even at 1232; all of it over TCP. */
	len = mkq(q, sizeof(q), 1, "big6.zlayer.local", OV_DNS_TYPE_AAAA, 4096);
	r = serve(q, len);
	assert_true(r->m.flags & OV_DNS_FLAG_TC);
	assert_true(r->len <= 1232);
	r = serve_limit(q, len, OV_DNS_TCP_MAX);
	assert_false(r->m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(r->m.ancount, 63);
	/* ANY over TCP: all of them. */
	len = mkq(q, sizeof(q), 1, "big.zlayer.local", OV_DNS_TYPE_ANY, 4096);
	r = serve_limit(q, len, OV_DNS_TCP_MAX);
	assert_int_equal(r->m.ancount, 63);
}

/* Glue that does not fit is dropped without TC (RFC 2181 §9). */
static void test_truncation_additional(void **state)
{
	char name[32], ip[32];
	uint8_t q[512];
	size_t len;
	struct reply *r;

	(void)state;
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "t%d.svc", i);
		snprintf(ip, sizeof(ip), "10.200.1.%d", i);
		add4(name, ip, NODE1);
		snprintf(ip, sizeof(ip), "fd00::%d", i + 1);
		add6(name, ip, NODE1);
		assert_int_equal(ov_dns_zone_add_srv(&zone, "_x._tcp.svc", 0, 0, (uint16_t)(80 + i),
						     name, NODE1),
				 0);
	}
	len = mkq(q, sizeof(q), 1, "_x._tcp.svc.zlayer.local", OV_DNS_TYPE_SRV, 0);
	r = serve(q, len);
	assert_false(r->m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(r->m.ancount, 10);
	assert_true(r->m.arcount > 0 && r->m.arcount < 16);
	assert_true(r->len <= 512);
	r = serve_limit(q, len, OV_DNS_TCP_MAX);
	assert_int_equal(r->m.arcount, OV_DNS_ADDITIONAL_MAX); /* the cap, not the size */
}

/* ---------------------------------------------------------------------------------------- */
/* Health and zone changes                                                                  */

/*
 * Withheld records are treated as absent: NXDOMAIN when nothing visible is left at or below
 * the name, NODATA when something is (another node's record, another type, a descendant).
 */
static void test_unhealthy_withheld(void **state)
{
	struct reply *r;

	(void)state;
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE4, false), 0);
	r = ask("web.zlayer.local", OV_DNS_TYPE_A);
	assert_int_equal(r->m.ancount, 1);
	assert_true(has(r, OV_DNS_SECTION_ANSWER, OV_DNS_TYPE_A, "10.200.3.20"));

	/* db lives on node 5 only: NXDOMAIN while it is down. */
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE5, false), 0);
	assert_negative(ask("db.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);

	/* Node 1 down too: web's A and AAAA and the SRV go; web itself had only those. */
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE1, false), 0);
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);
	assert_negative(ask("_http._tcp.web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NXDOMAIN);
	assert_negative(ask("_tcp.web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NXDOMAIN);
	/* Node 4 back: web has an A again; its AAAA (node 1) is NODATA, not NXDOMAIN. */
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE4, true), 0);
	assert_int_equal(ask("web.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 1);
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_AAAA), OV_DNS_RCODE_NOERROR);
	/* A withheld record below a visible name does not make an ENT: web exists anyway. */
	assert_negative(ask("_tcp.web.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_RCODE_NXDOMAIN);
	/* SRV glue skips withheld targets' addresses. */
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE1, true), 0);
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE4, false), 0);
	r = ask("_http._tcp.web.zlayer.local", OV_DNS_TYPE_SRV);
	assert_int_equal(count(r, OV_DNS_SECTION_ADDITIONAL, OV_DNS_TYPE_A), 1);
	/* Unowned records are never withheld; owner 0 cannot be marked. */
	assert_int_equal(ov_dns_zone_set_healthy(&zone, OV_DNS_ZONE_OWNER_NONE, false), -EINVAL);
	assert_int_equal(ask("registry.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 1);
	/* Removing a node removes its records and its mark. */
	assert_int_equal(ov_dns_zone_remove_owner(&zone, NODE5), 1);
	assert_true(ov_dns_zone_is_healthy(&zone, NODE5));
	assert_negative(ask("db.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);
	/* The unhealthy set has a cap. */
	for (uint32_t o = 100; o < 100 + OV_DNS_ZONE_UNHEALTHY_MAX - 1; o++)
		assert_int_equal(ov_dns_zone_set_healthy(&zone, o, false), 0);
	assert_int_equal(ov_dns_zone_set_healthy(&zone, 99999, false), -ENOSPC);
	assert_int_equal(ov_dns_zone_set_healthy(&zone, NODE4, false), 0); /* already marked */
}

static void test_zone_changes(void **state)
{
	uint8_t a[4], a6[16];
	char label[OV_DNS_ZONE_NODE_LABEL_MAX];
	struct ov_dns_zone z2;
	struct reply *r;
	uint32_t serial = zone.serial;

	(void)state;
	/* The same record again is one record (its owner updated), not two. */
	add4("web", "10.200.3.20", NODE1);
	assert_int_equal(ask("web.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 2);
	assert_int_equal(zone.serial, serial);
	/* A container detaches: one record goes. */
	v4(a, "10.200.5.20");
	assert_int_equal(ov_dns_zone_remove_addr(&zone, "web", AF_INET, a), 1);
	assert_int_equal(ov_dns_zone_remove_addr(&zone, "web", AF_INET, a), 0);
	assert_int_equal(zone.serial, serial + 1);
	assert_int_equal(ask("web.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 1);
	/* Remove by name takes every type; the name is then gone. */
	assert_int_equal(ov_dns_zone_remove_name(&zone, "web.zlayer.local."), 2);
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NOERROR); /* ENT */
	assert_int_equal(ov_dns_zone_remove_name(&zone, "_http._tcp.web"), 1);
	assert_negative(ask("web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);
	assert_negative(ask("_tcp.web.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);

	/* REF's naming: relative names get the origin, absolute ones must be inside it. */
	add4("web.service.local", "10.200.4.4", 0);
	r = ask("web.service.local.zlayer.local", OV_DNS_TYPE_A);
	assert_int_equal(r->m.ancount, 1);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "example.com.", AF_INET, a, 0), -EINVAL);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "", AF_INET, a, 0), -EINVAL);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "a..b", AF_INET, a, 0), -EINVAL);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "sp ace", AF_INET, a, 0), -EINVAL);
	assert_int_equal(ov_dns_zone_add_addr(&zone, NULL, AF_INET, a, 0), -EINVAL);
	assert_int_equal(ov_dns_zone_add_addr(&zone, "x", AF_UNIX, a, 0), -EAFNOSUPPORT);
	assert_int_equal(ov_dns_zone_add_srv(&zone, "_s._udp", 0, 0, 53, ".", 0), 0);
	assert_true(has(ask("_s._udp.zlayer.local", OV_DNS_TYPE_SRV), OV_DNS_SECTION_ANSWER,
			OV_DNS_TYPE_SRV, "0 0 53 ."));
	assert_int_equal(ov_dns_zone_add_srv(&zone, "_s._udp", 0, 0, 53, "out.example.", 0), 0);
	assert_int_equal(ask("_s._udp.zlayer.local", OV_DNS_TYPE_SRV)->m.arcount, 1); /* OPT */

	/* node-<a>-<b> from the last two octets; v6 from the last group (REF bootstrap). */
	v4(a, "10.200.3.7");
	assert_int_equal(ov_dns_zone_node_label(AF_INET, a, label, sizeof(label)), 8);
	assert_string_equal(label, "node-3-7");
	v4(a, "10.200.255.254");
	ov_dns_zone_node_label(AF_INET, a, label, sizeof(label));
	assert_string_equal(label, "node-255-254");
	v6(a6, "fd00:200::ab");
	ov_dns_zone_node_label(AF_INET6, a6, label, sizeof(label));
	assert_string_equal(label, "node-00ab");
	v6(a6, "fd00:200::1:BEEF");
	ov_dns_zone_node_label(AF_INET6, a6, label, sizeof(label));
	assert_string_equal(label, "node-beef");
	assert_int_equal(ov_dns_zone_node_label(AF_INET, a, label, 4), -ENOSPC);
	assert_int_equal(ov_dns_zone_node_label(AF_UNIX, a, label, sizeof(label)), -EAFNOSUPPORT);

	/* Zone origins: the example and bad ones. */
	assert_int_equal(ov_dns_zone_init(&z2, "overlay.local"), 0);
	ov_dns_name_to_text(&z2.origin, label, sizeof(label));
	assert_string_equal(label, "overlay.local.");
	ov_dns_zone_done(&z2);
	ov_dns_zone_done(NULL);
	assert_int_equal(ov_dns_zone_init(&z2, "."), -EINVAL);
	assert_int_equal(ov_dns_zone_init(&z2, "bad..zone"), -EINVAL);
}

static void test_zone_total_cap(void **state)
{
	char name[32];
	uint8_t a[4] = {10, 200, 0, 0};
	int r = 0, i;

	(void)state;
	for (i = 0; i < OV_DNS_ZONE_RECORDS_MAX + 10; i++) {
		snprintf(name, sizeof(name), "h%05d", i); /* ascending: appends, no memmove */
		r = ov_dns_zone_add_addr(&zone, name, AF_INET, a, 0);
		if (r < 0)
			break;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(zone.count, OV_DNS_ZONE_RECORDS_MAX);
	/* Lookups still right at the cap (binary search over 8192 sorted names). */
	assert_int_equal(ask("h04242.zlayer.local", OV_DNS_TYPE_A)->m.ancount, 1);
	assert_negative(ask("h4242.zlayer.local", OV_DNS_TYPE_A), OV_DNS_RCODE_NXDOMAIN);
}

/* ---------------------------------------------------------------------------------------- */
/* Malformed input                                                                          */

/* Header (ID 0xbeef) + raw body. */
static size_t raw(uint8_t *b, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar,
		  const void *body, size_t blen)
{
	uint16_t h[6] = {htons(0xbeef), htons(flags), htons(qd), htons(an), htons(ns), htons(ar)};

	memcpy(b, h, 12);
	memcpy(b + 12, body, blen);
	return 12 + blen;
}

/* lit: a string literal body (its NUL not included). */
#define RAW(b, flags, qd, an, ns, ar, lit) raw(b, flags, qd, an, ns, ar, lit, sizeof(lit) - 1)

#define QA "\x00\x01\x00\x01" /* type A, class IN */
#define QNAME  \
	"\x01" \
	"a\x00" /* "a.": outside the zone, forwarded when it parses */

/* The query fails with want; the reply (if any) carries rcode and no records. */
static void expect_parse(const uint8_t *b, size_t len, enum ov_dns_parse_result want, int rcode)
{
	struct reply *r = serve(b, len);

	if (r->parse != want)
		fail_msg("got %s, want %s", ov_dns_parse_result_str(r->parse),
			 ov_dns_parse_result_str(want));
	assert_int_equal(ov_dns_parse_rcode(want), rcode);
	if (rcode < 0) {
		assert_true(r->dropped);
		return;
	}
	assert_int_equal(r->rcode, (unsigned)rcode);
	assert_int_equal(r->m.ancount + r->m.nscount, 0);
}

static void expect_ok(const uint8_t *b, size_t len)
{
	struct reply *r = serve(b, len);

	if (r->parse != OV_DNS_PARSE_OK)
		fail_msg("got %s", ov_dns_parse_result_str(r->parse));
}

/*
 * A query whose second record's owner enters a chain of 200 backward pointers at link k:
 * record 1 (type 99, opaque) holds the chain in its RDATA, link i at offset 30 + 2i points
 * to link i-1, link 0 to the question name at 12. Entering at k takes k + 2 hops.
 */
static size_t pointer_chain(uint8_t *b, unsigned k)
{
	uint8_t body[512];
	size_t n = 0, entry = 30 + 2 * (size_t)k;

	memcpy(body, QNAME QA, 7);
	n = 7;
	memcpy(body + n, "\x00\x00\x63\x00\x01\x00\x00\x00\x00\x01\x90", 11); /* RDLENGTH 400 */
	n += 11;
	for (unsigned i = 0; i < 200; i++) {
		size_t to = i == 0 ? 12 : 12 + n - 2;

		body[n++] = (uint8_t)(0xc0 | to >> 8);
		body[n++] = (uint8_t)(to & 0xff);
	}
	body[n++] = (uint8_t)(0xc0 | entry >> 8);
	body[n++] = (uint8_t)(entry & 0xff);
	memcpy(body + n, "\x00\x63\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	n += 10;
	return raw(b, 0x0100, 1, 2, 0, 0, body, n);
}

static void test_malformed_pointers(void **state)
{
	uint8_t b[1024];
	size_t len;

	(void)state;
	/* Pointer to itself, to the future, to the header. */
	len = RAW(b, 0x0100, 1, 0, 0, 0, "\xc0\x0c" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 0, "\xc0\x20" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 0, "\xc0\x02" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_PTR_HEADER, OV_DNS_RCODE_FORMERR);
	/* A label, then a pointer back into that same name: the classic loop. */
	len = RAW(b, 0x0100, 1, 0, 0, 0,
		  "\x03"
		  "abc\xc0\x0c" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD, OV_DNS_RCODE_FORMERR);
	/* Two names pointing at each other (19 -> 31 -> 19): the forward hop is refused. */
	len = RAW(b, 0x0100, 1, 1, 0, 0,
		  QNAME QA "\xc0\x1f"
			   "\x00\x63\x00\x01\x00\x00\x00\x00\x00\x02"
			   "\xc0\x13");
	expect_parse(b, len, OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD, OV_DNS_RCODE_FORMERR);
	/* ...and the same pair seen from the other end: 31 -> 19 is fine, 19 -> 31 is not. */
	len = RAW(b, 0x0100, 1, 2, 0, 0,
		  QNAME QA "\x01"
			   "b\x00"
			   "\x00\x63\x00\x01\x00\x00\x00\x00\x00\x00"
			   "\xc0\x13"
			   "\x00\x63\x00\x01\x00\x00\x00\x00\x00\x00");
	expect_ok(b, len);
	/* A pointer into the middle of a name, at a label boundary, is legal. */
	len = RAW(b, 0x0100, 1, 1, 0, 0,
		  "\x01"
		  "x" QNAME QA "\xc0\x0e"
		  "\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04"
		  "\x01\x02\x03\x04");
	expect_ok(b, len);

	/* Backward chains: 127 hops allowed, 128 refused, 200 refused. */
	expect_ok(b, pointer_chain(b, 125));
	expect_parse(b, pointer_chain(b, 126), OV_DNS_PARSE_ERR_PTR_HOPS, OV_DNS_RCODE_FORMERR);
	expect_parse(b, pointer_chain(b, 199), OV_DNS_PARSE_ERR_PTR_HOPS, OV_DNS_RCODE_FORMERR);
	/* A pointer cut in half. */
	len = RAW(b, 0x0100, 1, 0, 0, 0, "\xc0");
	expect_parse(b, len, OV_DNS_PARSE_ERR_TRUNCATED, OV_DNS_RCODE_FORMERR);
}

/* A name of three 63-octet labels and one of last octets, at body. */
static size_t long_name(uint8_t *body, uint8_t last, uint8_t fill)
{
	size_t n = 0;

	for (int l = 0; l < 4; l++) {
		uint8_t ll = l < 3 ? 63 : last;

		body[n++] = ll;
		memset(body + n, fill, ll);
		n += ll;
	}
	body[n++] = 0;
	return n;
}

static void test_malformed_names(void **state)
{
	uint8_t b[1024], body[600];
	size_t len, n;
	struct ov_dns_name name;
	char t[400];

	(void)state;
	/* 0x40 and 0x80 label types (a "64-octet label" is one of them). */
	len = RAW(b, 0x0100, 1, 0, 0, 0,
		  "\x41"
		  "a\x00" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_LABEL_TYPE, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 0, "\x80\x00" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_LABEL_TYPE, OV_DNS_RCODE_FORMERR);

	/* 255 octets exactly parse; 256 do not. */
	n = long_name(body, 61, 'a');
	assert_int_equal(n, 255);
	memcpy(body + n, QA, 4);
	expect_ok(b, raw(b, 0x0100, 1, 0, 0, 0, body, n + 4));
	n = long_name(body, 62, 'a');
	memcpy(body + n, QA, 4);
	len = raw(b, 0x0100, 1, 0, 0, 0, body, n + 4);
	expect_parse(b, len, OV_DNS_PARSE_ERR_NAME_TOO_LONG, OV_DNS_RCODE_FORMERR);
	/* Too long only once decompressed: 4 + 1 octets before a pointer to a 250-octet name. */
	n = long_name(body, 56, 'b');
	assert_int_equal(n, 250);
	{
		static const char fits[] =
			QA "\x04xxxx\xc0\x0c" QA "\0\0\0\0\0\x04\x01\x02\x03\x04";
		static const char over[] =
			QA "\x05xxxxx\xc0\x0c" QA "\0\0\0\0\0\x04\x01\x02\x03\x04";

		memcpy(body + n, fits, sizeof(fits) - 1);
		expect_ok(b, raw(b, 0x0100, 1, 1, 0, 0, body, n + sizeof(fits) - 1));
		memcpy(body + n, over, sizeof(over) - 1);
		len = raw(b, 0x0100, 1, 1, 0, 0, body, n + sizeof(over) - 1);
	}
	expect_parse(b, len, OV_DNS_PARSE_ERR_NAME_TOO_LONG, OV_DNS_RCODE_FORMERR);

	/* Text names: label and name caps, characters. */
	memset(t, 'a', 63);
	t[63] = '\0';
	assert_int_equal(ov_dns_name_from_text(&name, t), 0);
	memset(t, 'a', 64);
	t[64] = '\0';
	assert_int_equal(ov_dns_name_from_text(&name, t), -EINVAL);
	for (int i = 0; i < 127; i++)
		memcpy(t + 2 * i, "a.", 2);
	t[254] = '\0';
	assert_int_equal(ov_dns_name_from_text(&name, t), 0); /* 127 labels: 255 octets */
	assert_int_equal(name.len, 255);
	assert_int_equal(ov_dns_name_labels(&name), 127);
	memcpy(t + 254, "a", 2);
	assert_int_equal(ov_dns_name_from_text(&name, t), -ENAMETOOLONG);
	assert_int_equal(ov_dns_name_from_text(&name, ""), -EINVAL);
	assert_int_equal(ov_dns_name_from_text(&name, ".a"), -EINVAL);
	assert_int_equal(ov_dns_name_from_text(&name, "a.."), -EINVAL);
	assert_int_equal(ov_dns_name_from_text(&name, "a\\.b"), -EINVAL);
	assert_int_equal(ov_dns_name_from_text(&name, "a*"), -EINVAL);

	/* Any octet is legal on the wire; text output escapes it. */
	{
		struct ov_dns_msg m;
		char out[64];

		len = RAW(b, 0x0100, 1, 0, 0, 0,
			  "\x03"
			  "a.\x01\x00" QA);
		assert_int_equal(ov_dns_parse_query(b, len, &m), OV_DNS_PARSE_OK);
		assert_int_equal(ov_dns_name_to_text(&m.qname, out, sizeof(out)), 10);
		assert_string_equal(out, "a\\046\\001.");
		assert_int_equal(ov_dns_name_to_text(&m.qname, out, 10), -ENOSPC);
		assert_int_equal(ov_dns_name_to_text(&m.qname, out, 11), 10);
		assert_true(serve(b, len)->forwarded);
	}
}

static void test_malformed_header_and_sections(void **state)
{
	uint8_t b[512];
	size_t len;
	struct reply *r;

	(void)state;
	len = RAW(b, 0x0100, 0, 0, 0, 0, "");
	expect_parse(b, len, OV_DNS_PARSE_ERR_QDCOUNT, OV_DNS_RCODE_FORMERR);
	assert_int_equal(R.m.qdcount, 0);
	len = RAW(b, 0x0100, 2, 0, 0, 0,
		  QNAME QA "\x01"
			   "b\x00" QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_QDCOUNT, OV_DNS_RCODE_FORMERR);
	/* Responses are dropped; so is anything shorter than a header. */
	len = RAW(b, 0x8100, 1, 0, 0, 0, QNAME QA);
	expect_parse(b, len, OV_DNS_PARSE_DROP_RESPONSE, -1);
	expect_parse(b, 11, OV_DNS_PARSE_DROP_SHORT, -1);
	expect_parse(b, 0, OV_DNS_PARSE_DROP_SHORT, -1);
	/* IQUERY, STATUS, NOTIFY, UPDATE, DSO...: NOTIMP with the opcode echoed. */
	for (unsigned op = 1; op < 16; op++) {
		len = RAW(b, (uint16_t)(op << 11), 1, 0, 0, 0, QNAME QA);
		r = serve(b, len);
		assert_int_equal(r->parse, OV_DNS_PARSE_NOTIMP_OPCODE);
		assert_int_equal(r->rcode, OV_DNS_RCODE_NOTIMP);
		assert_int_equal(r->m.flags >> 11 & 0xf, op);
	}
	/* Counts larger than the message. */
	len = RAW(b, 0x0100, 1, 0xffff, 0xffff, 0xffff, QNAME QA);
	expect_parse(b, len, OV_DNS_PARSE_ERR_TRUNCATED, OV_DNS_RCODE_FORMERR);
	/* Trailing garbage. */
	len = RAW(b, 0x0100, 1, 0, 0, 0, QNAME QA "\x00");
	expect_parse(b, len, OV_DNS_PARSE_ERR_TRAILING, OV_DNS_RCODE_FORMERR);
	/* Records of the wrong shape: A of 3 octets, AAAA of 4, SRV without a target. */
	len = RAW(b, 0x0100, 1, 0, 0, 1, QNAME QA "\x00" QA "\x00\x00\x00\x00\x00\x03\x01\x02\x03");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_RDATA, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x1c\x00\x01\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_RDATA, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x21\x00\x01\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x35");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_RDATA, OV_DNS_RCODE_FORMERR);
	/* An SRV target running past its RDATA; an SOA with a short tail. */
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x21\x00\x01\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x35"
			   "\x01"
			   "a\x00");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_RDATA, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x06\x00\x01\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_RDATA, OV_DNS_RCODE_FORMERR);
	/* The same A of 3 octets in class CH is opaque (other classes, other shapes). */
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x01\x00\x03\x00\x00\x00\x00\x00\x03\x01\x02\x03");
	expect_ok(b, len);
	/* RDLENGTH past the end. */
	len = RAW(b, 0x0100, 1, 0, 0, 1, QNAME QA "\x00" QA "\x00\x00\x00\x00\x00\x09\x01");
	expect_parse(b, len, OV_DNS_PARSE_ERR_TRUNCATED, OV_DNS_RCODE_FORMERR);
	/* OPT asked as a question. */
	len = RAW(b, 0x0100, 1, 0, 0, 0, QNAME "\x00\x29\x00\x01");
	expect_parse(b, len, OV_DNS_PARSE_ERR_QTYPE, OV_DNS_RCODE_FORMERR);
}

#define OPT0 "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" /* OPT 1232, no options */

static void test_malformed_opt(void **state)
{
	uint8_t b[512];
	size_t len;

	(void)state;
	/* Two OPTs (RFC 6891 §6.1.1): FORMERR, and the reply carries an OPT (§7). */
	len = RAW(b, 0x0100, 1, 0, 0, 2, QNAME QA OPT0 OPT0);
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_OPT, OV_DNS_RCODE_FORMERR);
	assert_true(R.m.has_edns);
	/* OPT in the answer section; OPT not owned by the root. */
	len = RAW(b, 0x0100, 1, 1, 0, 0, QNAME QA OPT0);
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_OPT, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x01"
			   "a\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_OPT, OV_DNS_RCODE_FORMERR);
	/* An option longer than the RDATA; half an option header. */
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x06\x00\x0a\x00\x08\x01\x02");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_OPT, OV_DNS_RCODE_FORMERR);
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x02\x00\x0a");
	expect_parse(b, len, OV_DNS_PARSE_ERR_BAD_OPT, OV_DNS_RCODE_FORMERR);
	assert_true(R.m.has_edns);
	/* Unknown and empty options are ignored (§6.1.2). */
	len = RAW(b, 0x0100, 1, 0, 0, 1,
		  QNAME QA
		  "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x08\xfd\xe9\x00\x00\x00\x0a\x00\x00");
	expect_ok(b, len);
	/* BADVERS for any version but 0, here 255. */
	len = RAW(b, 0x0100, 1, 0, 0, 1, QNAME QA "\x00\x00\x29\x04\xd0\x00\xff\x00\x00\x00\x00");
	expect_parse(b, len, OV_DNS_PARSE_BADVERS, OV_DNS_RCODE_BADVERS);
	assert_true(R.m.has_edns);
	assert_int_equal(R.m.edns_ext_rcode, 1);
}

/* Every prefix of every capture: a named error (dropped under 12 bytes), never OK or a crash. */
static void test_every_truncation(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(CAPTURES) / sizeof(CAPTURES[0]); c++) {
		for (size_t len = 0; len < CAPTURES[c].len; len++) {
			uint8_t *copy = malloc(len ? len : 1); /* ASan sees any over-read */
			struct reply *r;

			assert_non_null(copy);
			memcpy(copy, CAPTURES[c].b, len);
			r = serve(copy, len);
			if (len < OV_DNS_HEADER_LEN) {
				assert_int_equal(r->parse, OV_DNS_PARSE_DROP_SHORT);
			} else {
				if (r->parse != OV_DNS_PARSE_ERR_TRUNCATED)
					fail_msg("%s[:%zu]: %s", CAPTURES[c].what, len,
						 ov_dns_parse_result_str(r->parse));
				assert_int_equal(r->rcode, OV_DNS_RCODE_FORMERR);
			}
			free(copy);
		}
	}
}

/* Every value of every byte of every capture: whatever comes back must parse again. */
static void test_every_byte_value(void **state)
{
	unsigned outcomes[OV_DNS_PARSE__COUNT] = {0};

	(void)state;
	for (size_t c = 0; c < sizeof(CAPTURES) / sizeof(CAPTURES[0]); c++) {
		uint8_t *copy = malloc(CAPTURES[c].len);

		assert_non_null(copy);
		for (size_t i = 0; i < CAPTURES[c].len; i++) {
			for (unsigned v = 0; v < 256; v++) {
				memcpy(copy, CAPTURES[c].b, CAPTURES[c].len);
				copy[i] = (uint8_t)v;
				outcomes[serve(copy, CAPTURES[c].len)->parse]++;
			}
		}
		free(copy);
	}
	/* The mutations reach most of the named outcomes. */
	assert_true(outcomes[OV_DNS_PARSE_OK] > 0);
	assert_true(outcomes[OV_DNS_PARSE_DROP_RESPONSE] > 0);
	assert_true(outcomes[OV_DNS_PARSE_NOTIMP_OPCODE] > 0);
	assert_true(outcomes[OV_DNS_PARSE_ERR_QDCOUNT] > 0);
	assert_true(outcomes[OV_DNS_PARSE_ERR_TRUNCATED] > 0);
	assert_true(outcomes[OV_DNS_PARSE_ERR_LABEL_TYPE] > 0);
	assert_true(outcomes[OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD] > 0);
	assert_true(outcomes[OV_DNS_PARSE_ERR_BAD_OPT] > 0);
	assert_true(outcomes[OV_DNS_PARSE_BADVERS] > 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Builder edges, forwarder helpers, TCP                                                    */

static void test_build_edges(void **state)
{
	struct ov_dns_msg q;
	struct ov_dns_answer a;
	struct ov_dns_name bad = {.len = 3, .wire = {5, 'a', 0}};
	uint8_t buf[600];
	size_t len;

	(void)state;
	assert_int_equal(ov_dns_parse_query(DIG_A_NOEDNS, sizeof(DIG_A_NOEDNS), &q),
			 OV_DNS_PARSE_OK);
	memset(&a, 0, sizeof(a));
	/* BADVERS needs an OPT to carry it. */
	a.rcode = OV_DNS_RCODE_BADVERS;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), -EINVAL);
	a.rcode = 0;
	/* A buffer too small for header and question. */
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, 20, &len), -EMSGSIZE);
	/* Records we cannot write. */
	a.an_count = 1;
	a.an[0].name = &q.qname;
	a.an[0].type = OV_DNS_TYPE_TXT;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), -EINVAL);
	a.an[0].type = OV_DNS_TYPE_A;
	a.an[0].name = NULL;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), -EINVAL);
	a.an[0].name = &bad;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), -EINVAL);
	a.an[0].name = &q.qname;
	a.an_count = OV_DNS_ANSWER_MAX + 1;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), -EINVAL);
	/* Forced TC (a forwarded answer too big for UDP): empty answer, TC. */
	a.an_count = 1;
	a.tc = true;
	assert_int_equal(ov_dns_build_response(&q, &a, 512, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(DIG_A_NOEDNS));
	assert_true(buf[2] & (OV_DNS_FLAG_TC >> 8));
	/* No header parsed: nothing to answer to. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(ov_dns_build_error(&q, OV_DNS_RCODE_FORMERR, buf, sizeof(buf), &len),
			 -EINVAL);
}

static void test_upstream(void **state)
{
	struct ov_dns_msg q, m;
	struct ov_dns_answer a;
	struct ov_dns_name other;
	uint8_t up[512], ans[512], bad[512];
	size_t qlen, alen;

	(void)state;
	/* The client's query goes upstream with our ID; the answer comes back with it. */
	assert_int_equal(ov_dns_parse_query(DIG_OUTSIDE, sizeof(DIG_OUTSIDE), &q), OV_DNS_PARSE_OK);
	memcpy(up, DIG_OUTSIDE, sizeof(DIG_OUTSIDE));
	qlen = sizeof(DIG_OUTSIDE);
	assert_int_equal(ov_dns_set_id(up, qlen, 0x7777), 0);
	assert_int_equal(ov_dns_set_id(up, 11, 0x7777), -EINVAL);
	{
		struct ov_dns_msg uq;

		assert_int_equal(ov_dns_parse_query(up, qlen, &uq), OV_DNS_PARSE_OK);
		memset(&a, 0, sizeof(a));
		a.ra = true;
		a.an_count = 1;
		a.an[0].name = &uq.qname;
		a.an[0].type = OV_DNS_TYPE_A;
		a.an[0].ttl = 60;
		memcpy(a.an[0].data.a, "\xcb\x00\x71\x07", 4); /* 203.0.113.7 as in REF's test */
		assert_int_equal(ov_dns_build_response(&uq, &a, 512, ans, sizeof(ans), &alen), 0);
	}
	assert_int_equal(ov_dns_check_upstream(ans, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_OK);
	assert_int_equal(m.ancount, 1);
	assert_int_equal(ov_dns_check_upstream(ans, alen, 0x7778, &q, &m), OV_DNS_UPSTREAM_ID);
	/* Hand it to the client under the client's ID. */
	assert_int_equal(ov_dns_set_id(ans, alen, q.id), 0);
	assert_int_equal(ov_dns_check_upstream(ans, alen, q.id, &q, &m), OV_DNS_UPSTREAM_OK);
	assert_int_equal(ov_dns_set_id(ans, alen, 0x7777), 0);

	memcpy(bad, ans, alen);
	bad[2] &= (uint8_t)~0x80; /* QR clear */
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m),
			 OV_DNS_UPSTREAM_NOT_RESPONSE);
	memcpy(bad, ans, alen);
	bad[2] |= 0x20; /* opcode 4 */
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_OPCODE);
	memcpy(bad, ans, alen);
	bad[13] = 'E'; /* "Example.com": the same name (RFC 4343) */
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_OK);
	bad[14] = 'y';
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_QNAME);
	memcpy(bad, ans, alen);
	bad[26] = OV_DNS_TYPE_AAAA;
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_QTYPE);
	memcpy(bad, ans, alen);
	bad[28] = OV_DNS_CLASS_CH;
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_QCLASS);
	assert_int_equal(ov_dns_check_upstream(ans, alen - 1, 0x7777, &q, &m),
			 OV_DNS_UPSTREAM_MALFORMED);
	/* An upstream FORMERR without a question. */
	memcpy(bad, "\x77\x77\x81\x01\x00\x00\x00\x00\x00\x00\x00\x00", 12);
	assert_int_equal(ov_dns_check_upstream(bad, 12, 0x7777, &q, &m),
			 OV_DNS_UPSTREAM_NO_QUESTION);
	/* A different name entirely. */
	assert_int_equal(ov_dns_name_from_text(&other, "example.org"), 0);
	assert_int_equal(
		ov_dns_build_query(0x7777, &other, OV_DNS_TYPE_A, true, 0, bad, sizeof(bad), &alen),
		0);
	bad[2] |= 0x80;
	assert_int_equal(ov_dns_check_upstream(bad, alen, 0x7777, &q, &m), OV_DNS_UPSTREAM_QNAME);
}

static void test_tcp_framing(void **state)
{
	uint8_t stream[256], two[2];
	const uint8_t *msg;
	size_t mlen, used, n;

	(void)state;
	assert_int_equal(ov_dns_tcp_put_len(two, 0x1234), 0);
	assert_memory_equal(two, "\x12\x34", 2);
	assert_int_equal(ov_dns_tcp_put_len(two, 65536), -EMSGSIZE);
	/* Two of dig's framed queries back to back, fed a byte at a time. */
	n = sizeof(DIG_TCP_ANY);
	memcpy(stream, DIG_TCP_ANY, n);
	memcpy(stream + n, DIG_TCP_AAAA, sizeof(DIG_TCP_AAAA));
	n += sizeof(DIG_TCP_AAAA);
	for (size_t have = 0; have < sizeof(DIG_TCP_ANY); have++)
		assert_int_equal(ov_dns_tcp_next(stream, have, &msg, &mlen), 0);
	used = ov_dns_tcp_next(stream, n, &msg, &mlen);
	assert_int_equal(used, sizeof(DIG_TCP_ANY));
	assert_int_equal(mlen, sizeof(DIG_TCP_ANY) - 2);
	assert_ptr_equal(msg, stream + 2);
	assert_int_equal(ov_dns_tcp_next(stream + used, n - used, &msg, &mlen),
			 sizeof(DIG_TCP_AAAA));
	/* A zero-length frame is a frame; the parser then drops it as too short. */
	assert_int_equal(ov_dns_tcp_next((const uint8_t *)"\x00\x00", 2, &msg, &mlen), 2);
	assert_int_equal(mlen, 0);
}

static void test_names(void **state)
{
	/* RFC 4034 §6.1's example, in canonical order (wire forms, some not from text). */
	static const struct ov_dns_name order[] = {
		{.len = 9,
		 .wire = "\x07"
			 "example"},
		{.len = 11,
		 .wire = "\x01"
			 "a\x07"
			 "example"},
		{.len = 20,
		 .wire = "\x08"
			 "yljkjljk\x01"
			 "a\x07"
			 "example"},
		{.len = 13,
		 .wire = "\x01"
			 "Z\x01"
			 "a\x07"
			 "example"},
		{.len = 16,
		 .wire = "\x04"
			 "zABC\x01"
			 "a\x07"
			 "EXAMPLE"},
		{.len = 11,
		 .wire = "\x01"
			 "z\x07"
			 "example"},
		{.len = 13,
		 .wire = "\x01\x01\x01"
			 "z\x07"
			 "example"},
		{.len = 13,
		 .wire = "\x01*\x01"
			 "z\x07"
			 "example"},
		{.len = 13,
		 .wire = "\x01\xc8\x01"
			 "z\x07"
			 "example"},
	};
	struct ov_dns_name a, b, c;
	char text[OV_DNS_NAME_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			int cmp = ov_dns_name_canon_cmp(&order[i], &order[j]);

			if ((i < j && cmp >= 0) || (i == j && cmp) || (i > j && cmp <= 0))
				fail_msg("canonical order %zu vs %zu: %d", i, j, cmp);
		}
	}
	assert_int_equal(ov_dns_name_from_text(&a, "Web.Zlayer.Local."), 0);
	assert_int_equal(ov_dns_name_from_text(&b, "web.zlayer.local"), 0);
	assert_true(ov_dns_name_equal(&a, &b));
	assert_int_equal(ov_dns_name_from_text(&c, "zlayer.LOCAL"), 0);
	assert_true(ov_dns_name_is_under(&a, &c));
	assert_true(ov_dns_name_is_under(&c, &c));
	assert_false(ov_dns_name_is_under(&c, &a));
	assert_int_equal(ov_dns_name_from_text(&b, "xzlayer.local"), 0);
	assert_false(ov_dns_name_is_under(&b, &c));
	assert_int_equal(ov_dns_name_from_text(&b, "."), 0);
	assert_true(ov_dns_name_is_under(&a, &b)); /* everything is under the root */
	assert_int_equal(ov_dns_name_to_text(&b, text, sizeof(text)), 1);
	assert_string_equal(text, ".");
	assert_int_equal(ov_dns_name_concat(&b, &a, &c), 0);
	ov_dns_name_to_text(&b, text, sizeof(text));
	assert_string_equal(text, "Web.Zlayer.Local.zlayer.LOCAL.");
	/* \200 vs \232: octets compare unsigned; case folds only ASCII letters. */
	a = order[8];
	a.wire[1] = 0xe8; /* not a letter: no folding */
	assert_true(ov_dns_name_canon_cmp(&order[8], &a) < 0);
	assert_false(ov_dns_name_equal(&order[8], &a));
}

/* ---------------------------------------------------------------------------------------- */
/* resolv.conf                                                                              */

static void ns_text(const struct ov_resolv *r, size_t i, char *out)
{
	assert_true(ov_resolv_ns_to_text(&r->ns[i], out, 80) > 0);
}

static void test_resolv(void **state)
{
	struct ov_resolv r;
	char t[80];
	static const char systemd[] = "# This is /run/systemd/resolve/stub-resolv.conf\n"
				      "nameserver 127.0.0.53\n"
				      "options edns0 trust-ad\n"
				      "search .\n";
	static const char mixed[] = "; comment\n"
				    "# nameserver 9.9.9.9\n"
				    "nameserver 127.0.0.1\n"
				    "nameserver ::1\n"
				    "nameserver 0.0.0.0\n"
				    "nameserver ::\n"
				    "nameserver ::ffff:127.0.0.53\n"
				    "nameserver 1.2.3\n"
				    "nameserver1.1.1.1\n"
				    "nameservers 1.0.0.1\n"
				    "nameserver\n"
				    "domain example.com\n"
				    "  nameserver\t10.0.0.2   # the router\r\n"
				    "nameserver 10.0.0.2\n"
				    "nameserver fe80::1%eth0\n"
				    "nameserver 2001:4860:4860::8888\n"
				    "nameserver 8.8.4.4\n";

	(void)state;
	/* The systemd-resolved stub alone: nothing usable, the caller falls back like REF. */
	assert_int_equal(ov_resolv_parse(systemd, strlen(systemd), &r), 0);
	ov_resolv_fallback(&r);
	assert_int_equal(r.count, 2);
	ns_text(&r, 0, t);
	assert_string_equal(t, "1.1.1.1:53");
	ns_text(&r, 1, t);
	assert_string_equal(t, "8.8.8.8:53");

	/* Loopback, unspecified, malformed, duplicates skipped; at most three kept. */
	assert_int_equal(ov_resolv_parse(mixed, strlen(mixed), &r), 3);
	ns_text(&r, 0, t);
	assert_string_equal(t, "10.0.0.2:53");
	ns_text(&r, 1, t);
	assert_string_equal(t, "[fe80::1%eth0]:53");
	assert_string_equal(r.ns[1].scope_ifname, "eth0");
	ns_text(&r, 2, t);
	assert_string_equal(t, "[2001:4860:4860::8888]:53");
	assert_int_equal(r.ns[2].addr_len, sizeof(struct sockaddr_in6));

	/* Numeric scope, no final newline, 127/8 beyond .0.1, v4-mapped loopback. */
	{
		static const char s[] = "nameserver 127.8.8.8\nnameserver ::ffff:127.0.0.1\n"
					"nameserver fe80::2%3\nnameserver fe80::2%3\n"
					"nameserver fe80::2%";
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r.ns[0].addr;

		assert_int_equal(ov_resolv_parse(s, strlen(s), &r), 1);
		assert_int_equal(sin6->sin6_scope_id, 3);
		assert_int_equal(ntohs(sin6->sin6_port), 53);
	}
	/* An embedded NUL neither ends the text nor hides in an address. */
	{
		static const char s[] = "nameserver 1.1.1.1\0x\nnameserver 9.9.9.9\n";

		assert_int_equal(ov_resolv_parse(s, sizeof(s) - 1, &r), 1);
		ns_text(&r, 0, t);
		assert_string_equal(t, "9.9.9.9:53");
	}
	/* Only len bytes are read: the second line is cut into "9.9.9". */
	assert_int_equal(ov_resolv_parse("nameserver 1.2.3.4\nnameserver 9.9.9.9", 35, &r), 1);
	assert_int_equal(ov_resolv_parse("", 0, &r), 0);
	assert_int_equal(ov_resolv_parse(NULL, 0, &r), 0);
	assert_int_equal(ov_resolv_parse(NULL, 1, &r), -EINVAL);
	/* Over-long words and scopes. */
	{
		char s[200];

		snprintf(s, sizeof(s),
			 "nameserver fe80::1%%%s\nnameserver 1.1.1.1%%eth0\n"
			 "nameserver fe80::1%%99999999999\n",
			 "averyveryverylongifname");
		assert_int_equal(ov_resolv_parse(s, strlen(s), &r), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dig_bytes_parse),
		cmocka_unit_test(test_dig_bytes_build),
		cmocka_unit_test_setup_teardown(test_reply_bytes, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_dig_answers, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_answer_kinds, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_case_insensitive, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_compression, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_truncation, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_truncation_additional, zone_setup,
						zone_teardown),
		cmocka_unit_test_setup_teardown(test_unhealthy_withheld, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_zone_changes, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_zone_total_cap, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_pointers, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_names, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_header_and_sections, zone_setup,
						zone_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_opt, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, zone_setup, zone_teardown),
		cmocka_unit_test_setup_teardown(test_every_byte_value, zone_setup, zone_teardown),
		cmocka_unit_test(test_build_edges),
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_tcp_framing),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_resolv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

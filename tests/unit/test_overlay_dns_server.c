/* SPDX-License-Identifier: MIT */
/*
 * The overlay DNS server over real sockets on 127.0.0.1 and ::1 (ephemeral ports), with a
 * stub upstream in a thread (UDP and TCP, answering, dropping, failing or lying on demand):
 * zone answers of every kind, health withholding, zone swaps under load, forwarding (answer
 * and ID restored, fresh ID and port per query), SERVFAIL for a closed, a silent and no
 * upstream, failover to the next upstream, RFC 7766 TCP (pipelining, split writes, idle
 * timeout, client cap), TC over UDP then the full answer over TCP, garbage, and dig.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/util.h"
#include "overlay/dns_codec.h"
#include "overlay/dns_server.h"
#include "overlay/dns_zone.h"

enum { NODE1 = 1, NODE2 = 2 };

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct sockaddr_storage sa(int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	}
	return ss;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* ---- Zone ----------------------------------------------------------------------------------- */

static void add4(struct ov_dns_zone *z, const char *host, const char *ip, uint32_t owner)
{
	uint8_t a[4];

	assert_int_equal(inet_pton(AF_INET, ip, a), 1);
	assert_int_equal(ov_dns_zone_add_addr(z, host, AF_INET, a, owner), 0);
}

static void add6(struct ov_dns_zone *z, const char *host, const char *ip, uint32_t owner)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
	assert_int_equal(ov_dns_zone_add_addr(z, host, AF_INET6, a, owner), 0);
}

/* web: A .10 (node 1), A .11 (node 2), AAAA (node 1), SRV; db: A (node 2 only). */
static struct ov_dns_zone *make_zone(const char *web_a)
{
	struct ov_dns_zone *z = malloc(sizeof(*z));

	assert_non_null(z);
	assert_int_equal(ov_dns_zone_init(z, NULL), 0);
	add4(z, "web", web_a, NODE1);
	add4(z, "web", "10.200.0.11", NODE2);
	add6(z, "web", "fd00::10", NODE1);
	add4(z, "db", "10.200.0.20", NODE2);
	assert_int_equal(ov_dns_zone_add_srv(z, "_http._tcp.web", 0, 10, 8080, "web", NODE1), 0);
	return z;
}

/* ---- Messages ------------------------------------------------------------------------------- */

static size_t mkquery(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type,
		      uint16_t edns)
{
	struct ov_dns_name n;
	size_t len;

	assert_int_equal(ov_dns_name_from_text(&n, name), 0);
	assert_int_equal(ov_dns_build_query(id, &n, type, true, edns, buf, cap, &len), 0);
	return len;
}

struct parsed {
	struct ov_dns_msg m;
	unsigned an, ns, ar;
	char addrs[80][INET6_ADDRSTRLEN]; /* answer A/AAAA, in order */
	unsigned n_addrs;
	uint16_t srv_port;
};

static void parse_reply(const uint8_t *buf, size_t len, struct parsed *p)
{
	struct ov_dns_rr_iter it;
	struct ov_dns_rr_view v;

	memset(p, 0, sizeof(*p));
	assert_int_equal(ov_dns_parse_message(buf, len, &p->m), OV_DNS_PARSE_OK);
	assert_true(p->m.flags & OV_DNS_FLAG_QR);
	ov_dns_rr_iter_init(&it, &p->m);
	while (ov_dns_rr_iter_next(&it, &v)) {
		if (v.section == OV_DNS_SECTION_ANSWER) {
			p->an++;
			if (v.type == OV_DNS_TYPE_A || v.type == OV_DNS_TYPE_AAAA) {
				assert_true(p->n_addrs < ARRAY_SIZE(p->addrs));
				inet_ntop(v.type == OV_DNS_TYPE_A ? AF_INET : AF_INET6,
					  buf + v.rdata_off, p->addrs[p->n_addrs++],
					  INET6_ADDRSTRLEN);
			}
			if (v.type == OV_DNS_TYPE_SRV)
				p->srv_port = get_be16(buf + v.rdata_off + 4);
		} else if (v.section == OV_DNS_SECTION_AUTHORITY) {
			p->ns++;
		} else if (v.type != OV_DNS_TYPE_OPT) {
			p->ar++;
		}
	}
}

static unsigned rcode_of(const struct parsed *p)
{
	return p->m.flags & OV_DNS_RCODE_MASK;
}

static bool has_addr(const struct parsed *p, const char *a)
{
	for (unsigned i = 0; i < p->n_addrs; i++)
		if (!strcmp(p->addrs[i], a))
			return true;
	return false;
}

/* ---- Client side ---------------------------------------------------------------------------- */

static uint8_t RBUF[65536];

/* Sends q over UDP to ip:port and waits up to timeout_ms for a reply; returns its length or -1. */
static ssize_t udp_ask(int family, const char *ip, uint16_t port, const uint8_t *q, size_t qlen,
		       uint8_t *out, size_t cap, int timeout_ms)
{
	struct sockaddr_storage to = sa(family, ip, port);
	struct pollfd pfd;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t n = -1;

	assert_true(fd >= 0);
	assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&to, sa_len(&to)),
			 (ssize_t)qlen);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN, .revents = 0};
	if (poll(&pfd, 1, timeout_ms) == 1)
		n = recv(fd, out, cap, 0);
	close(fd);
	return n;
}

static int tcp_connect(int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage to = sa(family, ip, port);
	struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sa_len(&to)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void write_all(int fd, const uint8_t *b, size_t len)
{
	while (len) {
		ssize_t n = write(fd, b, len);

		assert_true(n > 0);
		b += n;
		len -= (size_t)n;
	}
}

static bool read_full(int fd, uint8_t *b, size_t len)
{
	while (len) {
		ssize_t n = read(fd, b, len);

		if (n <= 0)
			return false;
		b += n;
		len -= (size_t)n;
	}
	return true;
}

/* One framed message from a TCP stream; returns its length. */
static size_t tcp_read_msg(int fd, uint8_t *out)
{
	uint8_t l[2];
	size_t len;

	assert_true(read_full(fd, l, 2));
	len = get_be16(l);
	assert_true(read_full(fd, out, len));
	return len;
}

static void tcp_send_msg(int fd, const uint8_t *q, size_t len)
{
	uint8_t l[2];

	put_be16(l, (uint16_t)len);
	write_all(fd, l, 2);
	write_all(fd, q, len);
}

/* ---- Stub upstream -------------------------------------------------------------------------- */

enum stub_mode {
	STUB_ANSWER,   /* answers: nx.example -> NXDOMAIN, big.example AAAA -> 64 records, else A */
	STUB_DROP,     /* never answers */
	STUB_SERVFAIL, /* answers SERVFAIL */
	STUB_LIE_FIRST, /* first a reply with a wrong ID and one for another name, then the truth */
};

struct stub {
	int udp, tcp;
	uint16_t port;
	pthread_t thread;
	int stop;
	int mode;
	pthread_mutex_t lock;
	unsigned queries;
	uint16_t ids[64];
	uint16_t src_ports[64];
	char last_qname[OV_DNS_NAME_TEXT_MAX];
	uint8_t last_a; /* last octet of the A answer: tells two stubs apart */
};

/* Builds the stub's reply to query q into out; returns its length or 0 for no reply. */
static size_t stub_answer(struct stub *st, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
			  bool tcp, struct sockaddr_storage *from)
{
	static struct ov_dns_answer a;
	struct ov_dns_name nx, big;
	struct ov_dns_msg m;
	size_t len = 0;
	int mode = __atomic_load_n(&st->mode, __ATOMIC_ACQUIRE);

	if (ov_dns_parse_query(q, qlen, &m) != OV_DNS_PARSE_OK)
		return 0;
	pthread_mutex_lock(&st->lock);
	if (st->queries < ARRAY_SIZE(st->ids)) {
		st->ids[st->queries] = m.id;
		st->src_ports[st->queries] =
			from ? ntohs(((struct sockaddr_in *)from)->sin_port) : 0;
	}
	st->queries++;
	ov_dns_name_to_text(&m.qname, st->last_qname, sizeof(st->last_qname));
	pthread_mutex_unlock(&st->lock);
	if (mode == STUB_DROP)
		return 0;
	memset(&a, 0, sizeof(a));
	a.ra = true;
	ov_dns_name_from_text(&nx, "nx.example");
	ov_dns_name_from_text(&big, "big.example");
	if (mode == STUB_SERVFAIL) {
		a.rcode = OV_DNS_RCODE_SERVFAIL;
	} else if (ov_dns_name_equal(&m.qname, &nx)) {
		a.rcode = OV_DNS_RCODE_NXDOMAIN;
	} else if (ov_dns_name_equal(&m.qname, &big) && m.qtype == OV_DNS_TYPE_AAAA) {
		for (unsigned i = 0; i < OV_DNS_ANSWER_MAX; i++) {
			struct ov_dns_rr *rr = &a.an[a.an_count++];

			rr->name = &m.qname;
			rr->type = OV_DNS_TYPE_AAAA;
			rr->ttl = 60;
			rr->data.aaaa[0] = 0x20;
			rr->data.aaaa[1] = 0x01;
			rr->data.aaaa[15] = (uint8_t)i;
		}
	} else if (m.qtype == OV_DNS_TYPE_A) {
		struct ov_dns_rr *rr = &a.an[a.an_count++];

		rr->name = &m.qname;
		rr->type = OV_DNS_TYPE_A;
		rr->ttl = 60;
		rr->data.a[0] = 203;
		rr->data.a[1] = 0;
		rr->data.a[2] = 113;
		rr->data.a[3] = st->last_a;
	}
	/* The stub ignores the query's UDP limit: big answers go out whole, as a lax server's. */
	assert_int_equal(
		ov_dns_build_response(&m, &a, tcp ? OV_DNS_TCP_MAX : 65000, out, cap, &len), 0);
	return len;
}

static void *stub_thread(void *arg)
{
	struct stub *st = arg;
	static uint8_t in[65536], out[65536];

	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[2] = {{.fd = st->udp, .events = POLLIN, .revents = 0},
				      {.fd = st->tcp, .events = POLLIN, .revents = 0}};

		if (poll(p, 2, 20) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t n = recvfrom(st->udp, in, sizeof(in), 0, (struct sockaddr *)&from,
					     &flen);
			size_t len;

			if (n <= 0)
				continue;
			len = stub_answer(st, in, (size_t)n, out, sizeof(out), false, &from);
			if (!len)
				continue;
			if (__atomic_load_n(&st->mode, __ATOMIC_ACQUIRE) == STUB_LIE_FIRST) {
				static uint8_t lie[65536];
				struct ov_dns_name other;

				/* Same answer with a wrong ID. */
				memcpy(lie, out, len);
				put_be16(lie, (uint16_t)(get_be16(out) ^ 0x5555));
				sendto(st->udp, lie, len, 0, (struct sockaddr *)&from, flen);
				/* The right ID but another question. */
				ov_dns_name_from_text(&other, "other.example");
				{
					size_t ql = 0, al = 0;
					struct ov_dns_msg om;
					static struct ov_dns_answer none;

					ov_dns_build_query(get_be16(out), &other, OV_DNS_TYPE_A,
							   true, 0, in, sizeof(in), &ql);
					ov_dns_parse_query(in, ql, &om);
					ov_dns_build_response(&om, &none, 512, lie, sizeof(lie),
							      &al);
					sendto(st->udp, lie, al, 0, (struct sockaddr *)&from, flen);
				}
			}
			sendto(st->udp, out, len, 0, (struct sockaddr *)&from, flen);
		}
		if (p[1].revents & POLLIN) {
			struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
			int c = accept(st->tcp, NULL, NULL);
			uint8_t l[2];

			if (c < 0)
				continue;
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			while (read_full(c, l, 2) && read_full(c, in, get_be16(l))) {
				size_t len = stub_answer(st, in, get_be16(l), out, sizeof(out),
							 true, NULL);
				uint8_t ol[2];

				if (!len)
					continue;
				put_be16(ol, (uint16_t)len);
				if (write(c, ol, 2) != 2 || write(c, out, len) != (ssize_t)len)
					break;
			}
			close(c);
		}
	}
	return NULL;
}

static void stub_start(struct stub *st, uint8_t last_a)
{
	struct sockaddr_storage a = sa(AF_INET, "127.0.0.1", 0);
	socklen_t alen = sizeof(a);
	int one = 1;

	memset(st, 0, sizeof(*st));
	st->last_a = last_a;
	pthread_mutex_init(&st->lock, NULL);
	/* UDP and TCP on one ephemeral port: draw again when TCP finds it taken. */
	for (int tries = 0;; tries++) {
		a = sa(AF_INET, "127.0.0.1", 0);
		alen = sizeof(a);
		st->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(st->udp >= 0);
		assert_int_equal(bind(st->udp, (struct sockaddr *)&a, sizeof(struct sockaddr_in)),
				 0);
		assert_int_equal(getsockname(st->udp, (struct sockaddr *)&a, &alen), 0);
		st->port = ntohs(((struct sockaddr_in *)&a)->sin_port);
		st->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(st->tcp >= 0);
		setsockopt(st->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(st->tcp, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) == 0)
			break;
		assert_true(errno == EADDRINUSE && tries < 16);
		close(st->udp);
		close(st->tcp);
	}
	assert_int_equal(listen(st->tcp, 64), 0);
	assert_int_equal(pthread_create(&st->thread, NULL, stub_thread, st), 0);
}

static void stub_stop(struct stub *st)
{
	__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
	pthread_join(st->thread, NULL);
	close(st->udp);
	close(st->tcp);
	pthread_mutex_destroy(&st->lock);
}

static struct sockaddr_storage stub_addr(const struct stub *st)
{
	return sa(AF_INET, "127.0.0.1", st->port);
}

/* ---- Server fixture ------------------------------------------------------------------------- */

struct fixture {
	struct ov_dns_server *srv;
	uint16_t port4, port6;
};

static void server_up(struct fixture *fx, const struct sockaddr_storage *ups, size_t n_ups,
		      unsigned timeout_ms, struct ov_dns_zone *zone,
		      const struct ov_dns_server_config *extra)
{
	struct sockaddr_storage listen[2] = {sa(AF_INET, "127.0.0.1", 0), sa(AF_INET6, "::1", 0)};
	struct ov_dns_server_config cfg = {
		.listen = listen,
		.n_listen = 2,
		.upstreams = ups,
		.n_upstreams = n_ups,
		.upstream_timeout_ms = timeout_ms,
		.upstream_attempts = 0,
		.max_tcp_clients = extra ? extra->max_tcp_clients : 0,
		.tcp_idle_ms = extra ? extra->tcp_idle_ms : 0,
		.optional_mask = 0,
	};

	assert_int_equal(ov_dns_server_new(&cfg, zone, &fx->srv), 0);
	fx->port4 = ov_dns_server_port(fx->srv, 0);
	fx->port6 = ov_dns_server_port(fx->srv, 1);
	assert_int_not_equal(fx->port4, 0);
	assert_int_not_equal(fx->port6, 0);
	assert_int_equal(ov_dns_server_port(fx->srv, 2), 0);
	assert_int_equal(ov_dns_server_start(fx->srv), 0);
	assert_int_equal(ov_dns_server_start(fx->srv), -EALREADY);
}

static struct ov_dns_server_stats stats(const struct fixture *fx)
{
	struct ov_dns_server_stats st;

	ov_dns_server_get_stats(fx->srv, &st);
	return st;
}

/* Asks over UDP v4 and parses the reply, which must come and carry our ID. */
static void ask4(const struct fixture *fx, uint16_t id, const char *name, uint16_t type,
		 uint16_t edns, struct parsed *p)
{
	uint8_t q[512];
	size_t ql = mkquery(q, sizeof(q), id, name, type, edns);
	ssize_t n = udp_ask(AF_INET, "127.0.0.1", fx->port4, q, ql, RBUF, sizeof(RBUF), 5000);

	assert_true(n > 0);
	parse_reply(RBUF, (size_t)n, p);
	assert_int_equal(p->m.id, id);
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static void test_zone_answers(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct ov_dns_server_stats st;
	uint8_t q[512];
	size_t ql;
	ssize_t n;

	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), NULL);

	ask4(&fx, 0x1001, "web.zlayer.local", OV_DNS_TYPE_A, 1232, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
	assert_true(p.m.flags & OV_DNS_FLAG_AA);
	assert_int_equal(p.an, 2);
	assert_true(has_addr(&p, "10.200.0.10"));
	assert_true(has_addr(&p, "10.200.0.11"));

	/* AAAA over IPv6. */
	ql = mkquery(q, sizeof(q), 0x1002, "web.zlayer.local", OV_DNS_TYPE_AAAA, 0);
	n = udp_ask(AF_INET6, "::1", fx.port6, q, ql, RBUF, sizeof(RBUF), 5000);
	assert_true(n > 0);
	parse_reply(RBUF, (size_t)n, &p);
	assert_int_equal(p.m.id, 0x1002);
	assert_int_equal(p.an, 1);
	assert_string_equal(p.addrs[0], "fd00::10");

	/* SRV with the target's addresses as additional records. */
	ask4(&fx, 0x1003, "_http._tcp.web.zlayer.local", OV_DNS_TYPE_SRV, 1232, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
	assert_int_equal(p.an, 1);
	assert_int_equal(p.srv_port, 8080);
	assert_int_equal(p.ar, 3); /* two A and one AAAA of web */

	/* NXDOMAIN vs NODATA, both with the SOA. */
	ask4(&fx, 0x1004, "missing.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NXDOMAIN);
	assert_int_equal(p.an, 0);
	assert_int_equal(p.ns, 1);
	ask4(&fx, 0x1005, "db.zlayer.local", OV_DNS_TYPE_AAAA, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
	assert_int_equal(p.an, 0);
	assert_int_equal(p.ns, 1);

	/* Outside the zone with no upstream: SERVFAIL. */
	ask4(&fx, 0x1006, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);

	st = stats(&fx);
	assert_int_equal(st.queries_udp, 6);
	assert_int_equal(st.zone_noerror, 3);
	assert_int_equal(st.zone_nxdomain, 1);
	assert_int_equal(st.zone_nodata, 1);
	/* By type (A x3, AAAA x2, SRV x1) and by the rcode of the answer sent. */
	assert_int_equal(st.qtype[OV_DNS_QTYPE_SLOT_A], 3);
	assert_int_equal(st.qtype[OV_DNS_QTYPE_SLOT_AAAA], 2);
	assert_int_equal(st.qtype[OV_DNS_QTYPE_SLOT_SRV], 1);
	assert_int_equal(st.qtype[OV_DNS_QTYPE_SLOT_PTR] + st.qtype[OV_DNS_QTYPE_SLOT_OTHER], 0);
	assert_int_equal(st.rcode[OV_DNS_RCODE_NOERROR], 4);
	assert_int_equal(st.rcode[OV_DNS_RCODE_NXDOMAIN], 1);
	assert_int_equal(st.rcode[OV_DNS_RCODE_SERVFAIL], 1);
	assert_int_equal(st.servfail_no_upstream, 1);
	assert_int_equal(st.parse[OV_DNS_PARSE_OK], 6);
	ov_dns_server_free(fx.srv);
}

static void test_health(void **state)
{
	static struct parsed p;
	struct fixture fx;

	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), NULL);
	assert_int_equal(ov_dns_server_set_healthy(fx.srv, NODE2, false), 0);
	ask4(&fx, 0x2001, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 1);
	assert_string_equal(p.addrs[0], "10.200.0.10");
	/* db has only node 2's record: gone entirely. */
	ask4(&fx, 0x2002, "db.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NXDOMAIN);

	/* Marks survive a zone swap. */
	ov_dns_server_swap_zone(fx.srv, make_zone("10.200.9.9"));
	ask4(&fx, 0x2003, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 1);
	assert_string_equal(p.addrs[0], "10.200.9.9");

	assert_int_equal(ov_dns_server_set_healthy(fx.srv, NODE2, true), 0);
	ask4(&fx, 0x2004, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 2);
	ask4(&fx, 0x2005, "db.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 1);
	ov_dns_server_free(fx.srv);
}

static int add_extra(struct ov_dns_zone *z, void *ctx)
{
	uint8_t a[4] = {10, 200, 7, 7};

	return ov_dns_zone_add_addr(z, ctx, AF_INET, a, NODE1);
}

static void test_edit_zone(void **state)
{
	static struct parsed p;
	struct fixture fx;

	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), NULL);
	ask4(&fx, 0x2101, "new.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NXDOMAIN);
	assert_int_equal(ov_dns_server_edit_zone(fx.srv, add_extra, "new"), 0);
	ask4(&fx, 0x2102, "new.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 1);
	assert_string_equal(p.addrs[0], "10.200.7.7");
	assert_int_equal(ov_dns_server_edit_zone(fx.srv, add_extra, "bad..name"), -EINVAL);
	/* Without a zone every query is forwarded (here: no upstream, so SERVFAIL). */
	ov_dns_server_swap_zone(fx.srv, NULL);
	assert_int_equal(ov_dns_server_edit_zone(fx.srv, add_extra, "new"), -ENOENT);
	assert_int_equal(ov_dns_server_set_healthy(fx.srv, NODE1, false), -ENOENT);
	ask4(&fx, 0x2103, "new.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	ov_dns_server_free(fx.srv);
}

struct hammer {
	uint16_t port;
	int stop;
	unsigned ok, lost, bad;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	static uint8_t buf[4096];
	static struct parsed p;
	uint16_t id = 1;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		uint8_t q[512];
		size_t ql = mkquery(q, sizeof(q), id, "web.zlayer.local", OV_DNS_TYPE_A, 1232);
		ssize_t n = udp_ask(AF_INET, "127.0.0.1", h->port, q, ql, buf, sizeof(buf), 2000);

		id++;
		if (n <= 0) {
			h->lost++;
			continue;
		}
		parse_reply(buf, (size_t)n, &p);
		/* Either zone, whole: web = {.10 or .12} + .11, never a mix or a gap. */
		if (p.an == 2 && has_addr(&p, "10.200.0.11") &&
		    (has_addr(&p, "10.200.0.10") || has_addr(&p, "10.200.0.12")))
			h->ok++;
		else
			h->bad++;
	}
	return NULL;
}

static void test_swap_zone_under_load(void **state)
{
	struct fixture fx;
	struct hammer h = {0};
	pthread_t t;

	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), NULL);
	h.port = fx.port4;
	assert_int_equal(pthread_create(&t, NULL, hammer_thread, &h), 0);
	for (int i = 0; i < 300; i++) {
		ov_dns_server_swap_zone(fx.srv, make_zone(i % 2 ? "10.200.0.10" : "10.200.0.12"));
		usleep(1000);
	}
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_true(h.ok > 50);
	assert_int_equal(h.bad, 0);
	assert_int_equal(h.lost, 0);
	ov_dns_server_free(fx.srv);
}

static void test_forward(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	struct ov_dns_server_stats s;
	bool id_differs = false, port_differs = false;

	stub_start(&st, 7);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 2000, make_zone("10.200.0.10"), NULL);

	for (unsigned i = 0; i < 4; i++) {
		ask4(&fx, (uint16_t)(0x3000 + i), "Example.COM", OV_DNS_TYPE_A, 1232, &p);
		assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
		assert_false(p.m.flags & OV_DNS_FLAG_AA);
		assert_true(p.m.flags & OV_DNS_FLAG_RA);
		assert_int_equal(p.an, 1);
		assert_string_equal(p.addrs[0], "203.0.113.7");
		/* The question as the client sent it (0x20 case kept). */
		assert_int_equal(p.m.qname.wire[1], 'E');
	}
	pthread_mutex_lock(&st.lock);
	assert_int_equal(st.queries, 4);
	assert_string_equal(st.last_qname, "Example.COM.");
	for (unsigned i = 0; i < 4; i++) {
		if (st.ids[i] != 0x3000 + i)
			id_differs = true;
		if (st.src_ports[i] != st.src_ports[0])
			port_differs = true;
		assert_int_not_equal(st.src_ports[i], fx.port4);
	}
	pthread_mutex_unlock(&st.lock);
	assert_true(id_differs);
	assert_true(port_differs);

	/* NXDOMAIN is passed through, not retried. */
	ask4(&fx, 0x3100, "nx.example", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NXDOMAIN);

	/* Zone names never reach the upstream. */
	ask4(&fx, 0x3101, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 2);
	assert_int_equal(st.queries, 5);

	/* Forged replies (wrong ID, wrong question) are ignored; the real one gets through. */
	__atomic_store_n(&st.mode, STUB_LIE_FIRST, __ATOMIC_RELEASE);
	ask4(&fx, 0x3102, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 1);
	assert_string_equal(p.addrs[0], "203.0.113.7");

	s = stats(&fx);
	assert_int_equal(s.fwd_started, 6);
	assert_int_equal(s.fwd_relayed, 6);
	assert_int_equal(s.fwd_nxdomain, 1);
	assert_int_equal(s.fwd_mismatch, 2);
	assert_int_equal(s.servfail_exhausted, 0);
	/* The gauge drops just after the answer leaves. */
	for (int i = 0; i < 100 && stats(&fx).forwards_inflight; i++)
		usleep(10000);
	assert_int_equal(stats(&fx).forwards_inflight, 0);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

static void test_servfail_closed_upstream(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	struct ov_dns_server_stats s;
	uint64_t t0;

	stub_start(&st, 7);
	up = stub_addr(&st);
	stub_stop(&st); /* port closed: ICMP port unreachable */
	server_up(&fx, &up, 1, 3000, make_zone("10.200.0.10"), NULL);
	t0 = mono_ms();
	ask4(&fx, 0x4001, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	assert_true(mono_ms() - t0 < 1500); /* refused at once, no timeout */
	/* The zone still answers. */
	ask4(&fx, 0x4002, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 2);
	s = stats(&fx);
	assert_int_equal(s.servfail_exhausted, 1);
	assert_int_equal(s.fwd_io_errors, 1);
	assert_int_equal(s.fwd_timeouts, 0);
	ov_dns_server_free(fx.srv);
}

static void test_servfail_timeout(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	struct ov_dns_server_stats s;
	uint64_t t0, dt;

	stub_start(&st, 7);
	__atomic_store_n(&st.mode, STUB_DROP, __ATOMIC_RELEASE);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 300, make_zone("10.200.0.10"), NULL);
	t0 = mono_ms();
	{
		/* A zone query sent while the forward waits is answered at once. */
		uint8_t q[512];
		size_t ql = mkquery(q, sizeof(q), 0x4100, "example.com", OV_DNS_TYPE_A, 0);
		struct sockaddr_storage to = sa(AF_INET, "127.0.0.1", fx.port4);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		assert_int_equal(sendto(fd, q, ql, 0, (struct sockaddr *)&to, sa_len(&to)),
				 (ssize_t)ql);
		ask4(&fx, 0x4099, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
		assert_int_equal(p.an, 2);
		assert_true(mono_ms() - t0 < 250);		    /* the forward waits 300 ms */
		assert_true(recv(fd, RBUF, sizeof(RBUF), 0) >= 12); /* SERVFAIL, later */
		assert_int_equal(get_be16(RBUF), 0x4100);
		assert_int_equal(get_be16(RBUF + 2) & OV_DNS_RCODE_MASK, OV_DNS_RCODE_SERVFAIL);
		close(fd);
	}
	t0 = mono_ms();
	ask4(&fx, 0x4101, "example.com", OV_DNS_TYPE_A, 0, &p);
	dt = mono_ms() - t0;
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	assert_true(dt >= 290 && dt < 2000);
	s = stats(&fx);
	assert_int_equal(s.fwd_timeouts, 2);
	assert_int_equal(s.servfail_exhausted, 2);
	assert_int_equal(st.queries, 2);

	/* The upstream's own SERVFAIL also ends in SERVFAIL, without waiting. */
	__atomic_store_n(&st.mode, STUB_SERVFAIL, __ATOMIC_RELEASE);
	t0 = mono_ms();
	ask4(&fx, 0x4102, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	assert_true(mono_ms() - t0 < 290);
	assert_int_equal(stats(&fx).fwd_upstream_fail, 1);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

static void test_failover(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub a, b;
	struct sockaddr_storage ups[2];
	struct ov_dns_server_stats s;
	uint8_t q[512];
	size_t ql;
	int fd;

	stub_start(&a, 1);
	stub_start(&b, 2);
	ups[0] = stub_addr(&a);
	ups[1] = stub_addr(&b);
	server_up(&fx, ups, 2, 250, make_zone("10.200.0.10"), NULL);

	ask4(&fx, 0x5001, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_string_equal(p.addrs[0], "203.0.113.1");
	/* First silent: the second answers after the first's timeout. */
	__atomic_store_n(&a.mode, STUB_DROP, __ATOMIC_RELEASE);
	ask4(&fx, 0x5002, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_string_equal(p.addrs[0], "203.0.113.2");
	/* First REFUSED/SERVFAIL: the second, at once. */
	__atomic_store_n(&a.mode, STUB_SERVFAIL, __ATOMIC_RELEASE);
	ask4(&fx, 0x5003, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_string_equal(p.addrs[0], "203.0.113.2");
	/* Over TCP too. */
	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	ql = mkquery(q, sizeof(q), 0x5004, "example.com", OV_DNS_TYPE_A, 0);
	tcp_send_msg(fd, q, ql);
	ql = tcp_read_msg(fd, RBUF);
	parse_reply(RBUF, ql, &p);
	assert_int_equal(p.m.id, 0x5004);
	assert_string_equal(p.addrs[0], "203.0.113.2");
	close(fd);

	s = stats(&fx);
	assert_int_equal(s.fwd_timeouts, 1);
	assert_int_equal(s.fwd_upstream_fail, 2);
	assert_int_equal(s.fwd_attempts, 1 + 2 + 2 + 2);
	assert_int_equal(s.fwd_relayed, 4);

	/* set_upstreams: only b now; then none at all. */
	assert_int_equal(ov_dns_server_set_upstreams(fx.srv, &ups[1], 1), 0);
	ask4(&fx, 0x5005, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_string_equal(p.addrs[0], "203.0.113.2");
	ups[0] = sa(AF_INET, "127.0.0.1", 0);
	assert_int_equal(ov_dns_server_set_upstreams(fx.srv, ups, 2), -EINVAL); /* port 0 */
	ask4(&fx, 0x5006, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_string_equal(p.addrs[0], "203.0.113.2"); /* unchanged */
	assert_int_equal(ov_dns_server_set_upstreams(fx.srv, NULL, 0), 0);
	ask4(&fx, 0x5007, "example.com", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	ov_dns_server_free(fx.srv);
	stub_stop(&a);
	stub_stop(&b);
}

static void test_tcp_pipeline_and_split(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	uint8_t q1[512], q2[512], q3[512], frame[1100];
	size_t l1, l2, l3, n, off;
	bool got1 = false, got2 = false;
	int fd;

	stub_start(&st, 7);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 2000, make_zone("10.200.0.10"), NULL);

	/* Two queries in one write: a forwarded one and a zone one; answers in either order. */
	fd = tcp_connect(AF_INET6, "::1", fx.port6);
	l1 = mkquery(q1, sizeof(q1), 0x6001, "example.com", OV_DNS_TYPE_A, 0);
	l2 = mkquery(q2, sizeof(q2), 0x6002, "web.zlayer.local", OV_DNS_TYPE_A, 1232);
	put_be16(frame, (uint16_t)l1);
	memcpy(frame + 2, q1, l1);
	put_be16(frame + 2 + l1, (uint16_t)l2);
	memcpy(frame + 4 + l1, q2, l2);
	write_all(fd, frame, 4 + l1 + l2);
	for (int i = 0; i < 2; i++) {
		n = tcp_read_msg(fd, RBUF);
		parse_reply(RBUF, n, &p);
		if (p.m.id == 0x6001) {
			assert_string_equal(p.addrs[0], "203.0.113.7");
			got1 = true;
		} else {
			assert_int_equal(p.m.id, 0x6002);
			assert_int_equal(p.an, 2);
			got2 = true;
		}
	}
	assert_true(got1 && got2);

	/* One query in four writes: half the length, the rest of it, most of the body, the end. */
	l3 = mkquery(q3, sizeof(q3), 0x6003, "_http._tcp.web.zlayer.local", OV_DNS_TYPE_SRV, 0);
	put_be16(frame, (uint16_t)l3);
	memcpy(frame + 2, q3, l3);
	off = 0;
	{
		const size_t cuts[] = {1, 2, 2 + l3 - 3, 2 + l3};

		for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
			write_all(fd, frame + off, cuts[i] - off);
			off = cuts[i];
			usleep(30000);
		}
	}
	n = tcp_read_msg(fd, RBUF);
	parse_reply(RBUF, n, &p);
	assert_int_equal(p.m.id, 0x6003);
	assert_int_equal(p.srv_port, 8080);
	assert_int_equal(p.ar, 3);
	close(fd);
	{
		struct ov_dns_server_stats s = stats(&fx);

		assert_int_equal(s.queries_tcp, 3);
		assert_int_equal(s.tcp_accepted, 1);
	}
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

/* More pipelined queries than may be forwarded at once: flow control, not drops. */
static void test_tcp_pipeline_flow_control(void **state)
{
	enum { N = 3 * OV_DNS_SERVER_TCP_PIPELINE_MAX };
	static struct parsed p;
	static uint8_t stream[N * 64];
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	bool seen[N] = {false};
	size_t len = 0;
	int fd;

	stub_start(&st, 9);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 3000, make_zone("10.200.0.10"), NULL);
	for (unsigned i = 0; i < N; i++) {
		uint8_t q[64];
		/* Every fourth from the zone, the rest forwarded. */
		size_t ql = mkquery(q, sizeof(q), (uint16_t)i,
				    i % 4 ? "example.com" : "web.zlayer.local", OV_DNS_TYPE_A, 0);

		put_be16(stream + len, (uint16_t)ql);
		memcpy(stream + len + 2, q, ql);
		len += 2 + ql;
	}
	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	write_all(fd, stream, len);
	for (unsigned i = 0; i < N; i++) {
		parse_reply(RBUF, tcp_read_msg(fd, RBUF), &p);
		assert_true(p.m.id < N);
		assert_false(seen[p.m.id]);
		seen[p.m.id] = true;
		assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
		if (p.m.id % 4)
			assert_string_equal(p.addrs[0], "203.0.113.9");
		else
			assert_int_equal(p.an, 2);
	}
	close(fd);
	assert_int_equal(stats(&fx).fwd_relayed, N - N / 4);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

/* The forward table is bounded: queries past it get SERVFAIL at once, the rest time out. */
static void test_forward_table_full(void **state)
{
	enum { EXTRA = 20, N = OV_DNS_SERVER_FORWARDS_MAX + EXTRA };
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up, to;
	struct ov_dns_server_stats s;
	unsigned servfail = 0, early = 0;
	uint64_t t0;
	int fd;

	stub_start(&st, 7);
	__atomic_store_n(&st.mode, STUB_DROP, __ATOMIC_RELEASE);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 1500, make_zone("10.200.0.10"), NULL);
	to = sa(AF_INET, "127.0.0.1", fx.port4);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	t0 = mono_ms();
	for (unsigned i = 0; i < N; i++) {
		uint8_t q[64];
		size_t ql = mkquery(q, sizeof(q), (uint16_t)i, "example.com", OV_DNS_TYPE_A, 0);

		assert_int_equal(
			sendto(fd, q, ql, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)),
			(ssize_t)ql);
		if (i % 32 == 31)
			usleep(5000);
	}
	while (servfail < N && mono_ms() - t0 < 6000) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
		ssize_t n;

		if (poll(&pfd, 1, 200) != 1)
			continue;
		n = recv(fd, RBUF, sizeof(RBUF), 0);
		assert_true(n >= 12);
		assert_int_equal(get_be16(RBUF + 2) & OV_DNS_RCODE_MASK, OV_DNS_RCODE_SERVFAIL);
		servfail++;
		if (mono_ms() - t0 < 1000)
			early++;
	}
	close(fd);
	assert_int_equal(servfail, N);
	assert_int_equal(early, EXTRA);
	s = stats(&fx);
	assert_int_equal(s.servfail_full, EXTRA);
	assert_int_equal(s.servfail_exhausted, OV_DNS_SERVER_FORWARDS_MAX);
	assert_int_equal(s.fwd_timeouts, OV_DNS_SERVER_FORWARDS_MAX);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

/* A client that half-closes still gets its answers; one that goes away cancels its forwards. */
static void test_tcp_half_close_and_gone(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	struct ov_dns_server_stats s;
	uint8_t q[512], b;
	size_t ql;
	int fd;

	stub_start(&st, 7);
	__atomic_store_n(&st.mode, STUB_DROP, __ATOMIC_RELEASE);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 400, make_zone("10.200.0.10"), NULL);

	/* Forwarded (to a silent upstream) and zone query, then FIN: both answered, then close. */
	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	ql = mkquery(q, sizeof(q), 0xa001, "example.com", OV_DNS_TYPE_A, 0);
	tcp_send_msg(fd, q, ql);
	ql = mkquery(q, sizeof(q), 0xa002, "web.zlayer.local", OV_DNS_TYPE_A, 0);
	tcp_send_msg(fd, q, ql);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	parse_reply(RBUF, tcp_read_msg(fd, RBUF), &p);
	assert_int_equal(p.m.id, 0xa002);
	parse_reply(RBUF, tcp_read_msg(fd, RBUF), &p);
	assert_int_equal(p.m.id, 0xa001);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_SERVFAIL);
	assert_int_equal(read(fd, &b, 1), 0);
	close(fd);

	/* Gone before the forward ends: the forward is dropped with the connection. */
	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	ql = mkquery(q, sizeof(q), 0xa003, "example.com", OV_DNS_TYPE_A, 0);
	tcp_send_msg(fd, q, ql);
	for (int i = 0; i < 100 && stats(&fx).forwards_inflight == 0; i++)
		usleep(5000);
	assert_int_equal(stats(&fx).forwards_inflight, 1);
	{
		struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with RST */

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
	for (int i = 0; i < 100 && stats(&fx).tcp_clients; i++)
		usleep(5000);
	s = stats(&fx);
	assert_int_equal(s.tcp_clients, 0);
	assert_int_equal(s.forwards_inflight, 0);
	assert_int_equal(s.dropped_client_gone, 1);
	assert_int_equal(s.tcp_closed_eof, 1);
	assert_int_equal(s.tcp_closed_error, 1);
	/* The server carries on. */
	ask4(&fx, 0xa004, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 2);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

static void test_tc_then_tcp(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	uint8_t q[512];
	size_t ql, n;
	int fd;

	stub_start(&st, 7);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 2000, make_zone("10.200.0.10"), NULL);

	/* 64 AAAA records (about 1.8 KB) do not fit the 1232 of EDNS over UDP. */
	ask4(&fx, 0x7001, "big.example", OV_DNS_TYPE_AAAA, 4096, &p);
	assert_true(p.m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(rcode_of(&p), OV_DNS_RCODE_NOERROR);
	assert_int_equal(p.an, 0);
	assert_int_equal(stats(&fx).fwd_relayed_tc, 1);

	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	ql = mkquery(q, sizeof(q), 0x7002, "big.example", OV_DNS_TYPE_AAAA, 4096);
	tcp_send_msg(fd, q, ql);
	n = tcp_read_msg(fd, RBUF);
	assert_true(n > 1232);
	parse_reply(RBUF, n, &p);
	assert_int_equal(p.m.id, 0x7002);
	assert_false(p.m.flags & OV_DNS_FLAG_TC);
	assert_int_equal(p.an, OV_DNS_ANSWER_MAX);
	assert_string_equal(p.addrs[63], "2001::3f");
	close(fd);
	assert_int_equal(stats(&fx).fwd_relayed, 1);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

static void test_garbage(void **state)
{
	static struct parsed p;
	static const uint8_t short_msg[] = {0x12, 0x34, 0x01};
	struct fixture fx;
	struct ov_dns_server_stats s;
	uint8_t q[512], bad[512];
	size_t ql;
	ssize_t n;
	int fd, dg;
	struct sockaddr_storage to;

	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), NULL);
	to = sa(AF_INET, "127.0.0.1", fx.port4);
	dg = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(dg >= 0);

	/* Short: dropped. A response: dropped. Two questions: FORMERR. Pointer loop: FORMERR. */
	assert_int_equal(sendto(dg, short_msg, sizeof(short_msg), 0, (struct sockaddr *)&to,
				sizeof(struct sockaddr_in)),
			 (ssize_t)sizeof(short_msg));
	ql = mkquery(q, sizeof(q), 0x8001, "web.zlayer.local", OV_DNS_TYPE_A, 0);
	memcpy(bad, q, ql);
	bad[2] |= 0x80; /* QR */
	sendto(dg, bad, ql, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in));
	memcpy(bad, q, ql);
	bad[5] = 2; /* QDCOUNT 2 */
	n = udp_ask(AF_INET, "127.0.0.1", fx.port4, bad, ql, RBUF, sizeof(RBUF), 3000);
	assert_true(n >= 12);
	assert_int_equal(get_be16(RBUF), 0x8001);
	assert_int_equal(get_be16(RBUF + 2) & OV_DNS_RCODE_MASK, OV_DNS_RCODE_FORMERR);
	memcpy(bad, q, ql);
	bad[12] = 0xc0; /* the name is a pointer to itself */
	bad[13] = 12;
	n = udp_ask(AF_INET, "127.0.0.1", fx.port4, bad, ql, RBUF, sizeof(RBUF), 3000);
	assert_true(n >= 12);
	assert_int_equal(get_be16(RBUF + 2) & OV_DNS_RCODE_MASK, OV_DNS_RCODE_FORMERR);
	/* Opcode 2 (STATUS): NOTIMP. */
	memcpy(bad, q, ql);
	bad[2] = (uint8_t)(bad[2] | 2 << 3);
	n = udp_ask(AF_INET, "127.0.0.1", fx.port4, bad, ql, RBUF, sizeof(RBUF), 3000);
	assert_true(n >= 12);
	assert_int_equal(get_be16(RBUF + 2) & OV_DNS_RCODE_MASK, OV_DNS_RCODE_NOTIMP);

	/* A few hundred random datagrams of random lengths. */
	srand(42);
	for (int i = 0; i < 300; i++) {
		size_t len = (size_t)rand() % sizeof(bad);

		for (size_t j = 0; j < len; j++)
			bad[j] = (uint8_t)rand();
		sendto(dg, bad, len, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in));
		if (i % 25 == 24)
			usleep(10000); /* stay under the listener's receive buffer */
	}
	/* Garbage and a zero-length frame over TCP, then a good query on the same connection. */
	fd = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	{
		uint8_t junk[] = {0x00, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5};

		write_all(fd, junk, sizeof(junk));
	}
	tcp_send_msg(fd, q, ql);
	n = (ssize_t)tcp_read_msg(fd, RBUF);
	parse_reply(RBUF, (size_t)n, &p);
	assert_int_equal(p.m.id, 0x8001);
	assert_int_equal(p.an, 2);
	close(fd);

	/* Still answering over UDP. */
	ask4(&fx, 0x8002, "web.zlayer.local", OV_DNS_TYPE_A, 0, &p);
	assert_int_equal(p.an, 2);
	s = stats(&fx);
	assert_int_equal(s.queries_udp, 1 + 1 + 1 + 1 + 1 + 300 + 1);
	assert_int_equal(s.queries_tcp, 3);
	assert_true(s.dropped_short >= 3); /* ours, the TCP ones, random short ones */
	assert_true(s.dropped_response >= 1);
	assert_true(s.formerr >= 2);
	assert_true(s.notimp >= 1);
	assert_int_equal(s.parse[OV_DNS_PARSE_ERR_QDCOUNT] >= 1, 1);
	assert_int_equal(s.parse[OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD], 1);
	{
		uint64_t sum = 0;

		for (size_t i = 0; i < OV_DNS_PARSE__COUNT; i++)
			sum += s.parse[i];
		assert_int_equal(sum, s.queries_udp + s.queries_tcp);
	}
	{
		static char text[8192];
		int len = ov_dns_server_stats_format(&s, text, sizeof(text));

		assert_true(len > 0);
		assert_non_null(strstr(text, "queries_udp 306\n"));
		assert_non_null(strstr(text, "formerr "));
		assert_int_equal(ov_dns_server_stats_format(&s, text, 10), -ENOSPC);
	}
	close(dg);
	ov_dns_server_free(fx.srv);
}

static void test_tcp_idle_and_cap(void **state)
{
	static struct parsed p;
	struct fixture fx;
	struct ov_dns_server_config extra = {0};
	struct ov_dns_server_stats s;
	uint8_t q[512], b;
	size_t ql;
	int a, c, d;

	extra.max_tcp_clients = 2;
	extra.tcp_idle_ms = 400;
	server_up(&fx, NULL, 0, 0, make_zone("10.200.0.10"), &extra);
	a = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	c = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	ql = mkquery(q, sizeof(q), 0x9001, "web.zlayer.local", OV_DNS_TYPE_A, 0);
	tcp_send_msg(a, q, ql);
	parse_reply(RBUF, tcp_read_msg(a, RBUF), &p);
	tcp_send_msg(c, q, ql);
	parse_reply(RBUF, tcp_read_msg(c, RBUF), &p);
	/* A third is accepted and closed at once. */
	d = tcp_connect(AF_INET, "127.0.0.1", fx.port4);
	assert_true(read(d, &b, 1) <= 0);
	close(d);
	assert_int_equal(stats(&fx).tcp_refused_full, 1);
	/* Keep c busy; a goes idle and is closed after 400 ms. */
	for (int i = 0; i < 6; i++) {
		usleep(150000);
		tcp_send_msg(c, q, ql);
		parse_reply(RBUF, tcp_read_msg(c, RBUF), &p);
	}
	assert_int_equal(read(a, &b, 1), 0);
	close(a);
	close(c);
	usleep(100000);
	s = stats(&fx);
	assert_int_equal(s.tcp_closed_idle, 1);
	assert_int_equal(s.tcp_closed_eof, 1);
	assert_int_equal(s.tcp_clients, 0);
	ov_dns_server_free(fx.srv);
}

static void test_config(void **state)
{
	struct sockaddr_storage l[2] = {sa(AF_INET, "127.0.0.1", 0), sa(AF_INET, "127.0.0.1", 0)};
	struct sockaddr_storage up = sa(AF_INET, "127.0.0.1", 0);
	struct ov_dns_server_config cfg = {
		.listen = l,
		.n_listen = 1,
		.upstreams = NULL,
		.n_upstreams = 0,
		.upstream_timeout_ms = 0,
		.upstream_attempts = 0,
		.max_tcp_clients = 0,
		.tcp_idle_ms = 0,
		.optional_mask = 0,
	};
	struct ov_dns_server *s = (void *)0x1;
	int fd;
	socklen_t alen = sizeof(l[0]);

	cfg.n_listen = 0;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EINVAL);
	cfg.n_listen = 1;
	l[0].ss_family = AF_UNIX;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EINVAL);
	l[0] = sa(AF_INET, "127.0.0.1", 0);
	cfg.upstreams = &up;
	cfg.n_upstreams = 1;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EINVAL); /* upstream port 0 */
	cfg.n_upstreams = 0;
	cfg.max_tcp_clients = OV_DNS_SERVER_TCP_CLIENTS_MAX + 1;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EINVAL);
	cfg.max_tcp_clients = 0;
	assert_ptr_equal(s, (void *)0x1); /* untouched on failure */

	/* A port already taken. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&l[1], sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&l[1], &alen), 0);
	cfg.n_listen = 2;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EADDRINUSE);
	/* Unless that listener is optional: the server runs on the other and says why. */
	cfg.optional_mask = 1u << 1;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), 0);
	assert_int_not_equal(ov_dns_server_port(s, 0), 0);
	assert_int_equal(ov_dns_server_port(s, 1), 0);
	assert_int_equal(ov_dns_server_listen_error(s, 0), 0);
	assert_int_equal(ov_dns_server_listen_error(s, 1), -EADDRINUSE);
	assert_int_equal(ov_dns_server_listen_error(s, 2), -EINVAL);
	assert_int_equal(ov_dns_server_start(s), 0);
	ov_dns_server_free(s);
	/* Every listener optional and none bound: still an error. */
	l[0] = l[1];
	cfg.optional_mask = 3;
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), -EADDRINUSE);
	l[0] = sa(AF_INET, "127.0.0.1", 0);
	cfg.optional_mask = 0;
	close(fd);

	/* A free-bind address that is not on any interface, and a freshly-freed server. */
	l[1] = sa(AF_INET, "198.18.77.1", 0);
	assert_int_equal(ov_dns_server_new(&cfg, NULL, &s), 0);
	assert_int_not_equal(ov_dns_server_port(s, 1), 0);
	ov_dns_server_free(s);
	ov_dns_server_free(NULL);
}

/*
 * In a private network namespace (root only): a wildcard listener answers a query sent to
 * 127.0.0.2 from 127.0.0.2, so a connected client accepts it. Without IP_PKTINFO the reply
 * would leave from 127.0.0.1, the route's preferred source, and be refused. Runs in a child
 * (no cmocka asserts there); the exit code names the failed step.
 */
static int wildcard_child(void)
{
	struct sockaddr_storage listen[2] = {sa(AF_INET, "0.0.0.0", 0), sa(AF_INET6, "::", 0)};
	struct ov_dns_server_config cfg = {
		.listen = listen,
		.n_listen = 2,
		.upstreams = NULL,
		.n_upstreams = 0,
		.upstream_timeout_ms = 0,
		.upstream_attempts = 0,
		.max_tcp_clients = 0,
		.tcp_idle_ms = 0,
		.optional_mask = 0,
	};
	const char *dsts[] = {"127.0.0.2", "127.0.0.1", "::1"};
	struct ov_dns_server *srv;
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return 77;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return 2;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return 3;
	close(fd);
	if (ov_dns_server_new(&cfg, make_zone("10.200.0.10"), &srv) < 0 ||
	    ov_dns_server_start(srv) < 0)
		return 4;
	for (size_t i = 0; i < ARRAY_SIZE(dsts); i++) {
		int family = strchr(dsts[i], ':') ? AF_INET6 : AF_INET;
		struct sockaddr_storage to =
			sa(family, dsts[i], ov_dns_server_port(srv, family == AF_INET6));
		struct pollfd pfd;
		uint8_t q[512], r[512];
		size_t ql = mkquery(q, sizeof(q), 0xb001, "web.zlayer.local", OV_DNS_TYPE_A, 0);

		fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		/* Connected: only replies from exactly dsts[i] are delivered. */
		if (fd < 0 || connect(fd, (struct sockaddr *)&to, sa_len(&to)) < 0 ||
		    send(fd, q, ql, 0) != (ssize_t)ql)
			return 5;
		pfd = (struct pollfd){.fd = fd, .events = POLLIN, .revents = 0};
		if (poll(&pfd, 1, 3000) != 1 || recv(fd, r, sizeof(r), 0) < 12 ||
		    get_be16(r) != 0xb001)
			return 10 + (int)i;
		close(fd);
	}
	ov_dns_server_free(srv);
	return 0;
}

static void test_wildcard_source(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(wildcard_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip(); /* not root: no private namespace */
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Out of file descriptors (a low RLIMIT_NOFILE in a child process): accept() fails, the
 * server pauses its listener instead of spinning on it, still answers UDP, and serves the
 * waiting TCP client once a descriptor is free again. Exit code names the failed step.
 */
static int emfile_child(void)
{
	struct sockaddr_storage listen = sa(AF_INET, "127.0.0.1", 0);
	struct ov_dns_server_config cfg = {
		.listen = &listen,
		.n_listen = 1,
		.upstreams = NULL,
		.n_upstreams = 0,
		.upstream_timeout_ms = 0,
		.upstream_attempts = 0,
		.max_tcp_clients = 0,
		.tcp_idle_ms = 0,
		.optional_mask = 0,
	};
	struct ov_dns_server *srv;
	struct ov_dns_server_stats st;
	struct sockaddr_storage to;
	struct rlimit rl;
	uint8_t q[512];
	size_t ql = mkquery(q, sizeof(q), 0xc001, "web.zlayer.local", OV_DNS_TYPE_A, 0);
	int udp, c[3], lowest;
	uint64_t paused0;

	if (ov_dns_server_new(&cfg, make_zone("10.200.0.10"), &srv) < 0 ||
	    ov_dns_server_start(srv) < 0)
		return 2;
	to = sa(AF_INET, "127.0.0.1", ov_dns_server_port(srv, 0));
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (udp < 0)
		return 3;
	/* Fill every hole below the highest descriptor: then the next ones are counted. */
	{
		int highest = udp;
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;

		if (!d)
			return 3;
		while ((e = readdir(d)))
			highest = MAX(highest, atoi(e->d_name));
		closedir(d);
		while ((lowest = dup(0)) >= 0 && lowest <= highest)
			;
		if (lowest < 0)
			return 3;
		close(lowest);
	}
	/* Room for two clients and the server's two accepted sockets, plus one client. */
	rl.rlim_cur = rl.rlim_max = (rlim_t)lowest + 5;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 4;
	for (int i = 0; i < 3; i++) {
		struct timeval tv = {.tv_sec = 3, .tv_usec = 0};

		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i] < 0 ||
		    connect(c[i], (struct sockaddr *)&to, sizeof(struct sockaddr_in)) < 0)
			return 10 + i;
		setsockopt(c[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		usleep(50000);
	}
	ov_dns_server_get_stats(srv, &st);
	if (st.tcp_accepted != 2 || st.tcp_accept_paused < 1)
		return 20;
	/* Paused, not spinning: a few failed accepts in 500 ms (one per 100 ms), not thousands. */
	paused0 = st.tcp_accept_paused;
	usleep(500000);
	ov_dns_server_get_stats(srv, &st);
	if (st.tcp_accept_paused - paused0 > 10)
		return 21;
	/* UDP unaffected. */
	if (sendto(udp, q, ql, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)) !=
	    (ssize_t)ql)
		return 22;
	{
		struct pollfd pfd = {.fd = udp, .events = POLLIN, .revents = 0};

		if (poll(&pfd, 1, 3000) != 1 || recv(udp, RBUF, sizeof(RBUF), 0) < 12 ||
		    get_be16(RBUF) != 0xc001)
			return 23;
	}
	/* Free a descriptor: the third client is accepted and answered. */
	close(c[0]);
	tcp_send_msg(c[2], q, ql);
	{
		uint8_t l[2];

		if (!read_full(c[2], l, 2) || !read_full(c[2], RBUF, get_be16(l)) ||
		    get_be16(RBUF) != 0xc001)
			return 24;
	}
	close(c[1]);
	close(c[2]);
	close(udp);
	ov_dns_server_free(srv);
	return 0;
}

static void test_accept_out_of_descriptors(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(emfile_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Runs a shell command and returns its standard output (and exit status in *ret_status). */
static char *run(const char *cmd, int *ret_status)
{
	static char out[8192];
	size_t n;
	FILE *f = popen(cmd, "r");

	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	*ret_status = pclose(f);
	return out;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * dig, when installed, against the running server (dnsutils is optional): zone answers over
 * UDP and TCP, NXDOMAIN over IPv6, and forwarded answers through the stub, including the big
 * one that dig gets with TC over UDP and then retries over TCP by itself.
 */
static void test_dig(void **state)
{
	struct fixture fx;
	struct stub st;
	struct sockaddr_storage up;
	char cmd[256];
	const char *out;
	int status;

	if (access("/usr/bin/dig", X_OK) != 0) {
		skip();
		return;
	}
	stub_start(&st, 7);
	up = stub_addr(&st);
	server_up(&fx, &up, 1, 2000, make_zone("10.200.0.10"), NULL);
	for (int tcp = 0; tcp < 2; tcp++) {
		snprintf(cmd, sizeof(cmd),
			 "/usr/bin/dig @127.0.0.1 -p %u +short +tries=1 +time=3 %s "
			 "web.zlayer.local A",
			 fx.port4, tcp ? "+tcp" : "+notcp");
		out = run(cmd, &status);
		assert_int_equal(status, 0);
		assert_non_null(strstr(out, "10.200.0.10\n"));
		assert_non_null(strstr(out, "10.200.0.11\n"));
		snprintf(cmd, sizeof(cmd),
			 "/usr/bin/dig @127.0.0.1 -p %u +short +tries=1 +time=3 %s example.com A",
			 fx.port4, tcp ? "+tcp" : "+notcp");
		out = run(cmd, &status);
		assert_int_equal(status, 0);
		assert_string_equal(out, "203.0.113.7\n");
	}
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/dig @::1 -p %u +tries=1 +time=3 nothere.zlayer.local A | grep -c "
		 "NXDOMAIN",
		 fx.port6);
	out = run(cmd, &status);
	assert_string_equal(out, "1\n");
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/dig @127.0.0.1 -p %u +short +tries=1 +time=3 big.example AAAA",
		 fx.port4);
	out = run(cmd, &status);
	assert_int_equal(status, 0);
	assert_int_equal(count_lines(out), OV_DNS_ANSWER_MAX);
	assert_int_equal(stats(&fx).fwd_relayed_tc, 1);
	ov_dns_server_free(fx.srv);
	stub_stop(&st);
}

/* A port free for UDP and TCP on ip right now (for device listeners, which need one). */
static uint16_t free_port(int family, const char *ip)
{
	struct sockaddr_storage a = sa(family, ip, 0);
	socklen_t len = sa_len(&a);
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
				       : ((struct sockaddr_in6 *)&a)->sin6_port);
	close(fd);
	return port;
}

static bool answers(int family, const char *ip, uint16_t port)
{
	uint8_t q[512];
	size_t ql = mkquery(q, sizeof(q), 0x5353, "db.zlayer.local", OV_DNS_TYPE_A, 0);
	struct parsed p;
	ssize_t n = udp_ask(family, ip, port, q, ql, RBUF, sizeof(RBUF), 300);

	if (n <= 0)
		return false;
	parse_reply(RBUF, (size_t)n, &p);
	return has_addr(&p, "10.200.0.20");
}

/*
 * Device listeners as (device, address) pairs (a bridge carries the node's overlay address
 * on the DNS port and its gateway on port 53): several addresses on one device, each pair
 * kept, closed or bound as the new set says; duplicates, port 0 and bad families refused
 * without a change; a missing device reported per pair. Needs root (SO_BINDTODEVICE).
 */
static void test_dev_pairs(void **state)
{
	struct sockaddr_storage listen = sa(AF_INET, "127.0.0.1", 0);
	struct ov_dns_server_config cfg = {.listen = &listen, .n_listen = 1};
	struct ov_dns_server *srv;
	struct ov_dns_server_dev d[4];
	uint16_t p1 = free_port(AF_INET, "127.0.0.1"), p2, p6;
	int res[4];

	if (geteuid() != 0) {
		skip();
		return;
	}
	do
		p2 = free_port(AF_INET, "127.0.0.1");
	while (p2 == p1);
	p6 = free_port(AF_INET6, "::1");
	assert_int_equal(ov_dns_server_new(&cfg, make_zone("10.200.0.10"), &srv), 0);
	assert_int_equal(ov_dns_server_start(srv), 0);
	d[0] = (struct ov_dns_server_dev){.ifname = "lo", .addr = sa(AF_INET, "127.0.0.1", p1)};
	d[1] = (struct ov_dns_server_dev){.ifname = "lo", .addr = sa(AF_INET, "127.0.0.1", p2)};
	d[2] = (struct ov_dns_server_dev){.ifname = "lo", .addr = sa(AF_INET6, "::1", p6)};
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 3, res), 0);
	assert_int_equal(res[0] | res[1] | res[2], 0);
	assert_true(answers(AF_INET, "127.0.0.1", p1));
	assert_true(answers(AF_INET, "127.0.0.1", p2));
	assert_true(answers(AF_INET6, "::1", p6));

	/* Refused, nothing changed: a duplicate pair, port 0, a bad family, a bad name. */
	d[3] = d[1];
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 4, res), -EINVAL);
	d[3] = (struct ov_dns_server_dev){.ifname = "lo", .addr = sa(AF_INET, "127.0.0.1", 0)};
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 4, res), -EINVAL);
	d[3].addr.ss_family = AF_UNIX;
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 4, res), -EINVAL);
	d[3] = (struct ov_dns_server_dev){.ifname = "", .addr = sa(AF_INET, "127.0.0.1", p1)};
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 4, res), -EINVAL);
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, OV_DNS_SERVER_DEV_LISTEN_MAX + 1, res),
			 -EINVAL);
	assert_true(answers(AF_INET, "127.0.0.1", p1) && answers(AF_INET, "127.0.0.1", p2));

	/* The same device, one address fewer, and a device that does not exist. */
	d[0] = d[1];
	d[1] = (struct ov_dns_server_dev){.ifname = "wzznodev0", .addr = sa(AF_INET, "127.0.0.1", p1)};
	res[0] = res[1] = 99;
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, d, 2, res), -ENODEV);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1], -ENODEV);
	assert_false(answers(AF_INET, "127.0.0.1", p1));
	assert_true(answers(AF_INET, "127.0.0.1", p2));
	assert_false(answers(AF_INET6, "::1", p6));

	/* The one-address form still works on top (lo at p1), and an empty set closes all. */
	listen = sa(AF_INET, "127.0.0.1", p1);
	assert_int_equal(ov_dns_server_set_dev_listeners(srv, &listen, (const char *const[]){"lo"}, 1,
							 NULL),
			 0);
	assert_true(answers(AF_INET, "127.0.0.1", p1));
	assert_false(answers(AF_INET, "127.0.0.1", p2));
	assert_int_equal(ov_dns_server_set_dev_pairs(srv, NULL, 0, NULL), 0);
	assert_false(answers(AF_INET, "127.0.0.1", p1));
	assert_true(answers(AF_INET, "127.0.0.1", ov_dns_server_port(srv, 0)));
	ov_dns_server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zone_answers),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_edit_zone),
		cmocka_unit_test(test_swap_zone_under_load),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_servfail_closed_upstream),
		cmocka_unit_test(test_servfail_timeout),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_tcp_pipeline_and_split),
		cmocka_unit_test(test_tcp_pipeline_flow_control),
		cmocka_unit_test(test_forward_table_full),
		cmocka_unit_test(test_tcp_half_close_and_gone),
		cmocka_unit_test(test_tc_then_tcp),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_tcp_idle_and_cap),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_wildcard_source),
		cmocka_unit_test(test_accept_out_of_descriptors),
		cmocka_unit_test(test_dig),
		cmocka_unit_test(test_dev_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

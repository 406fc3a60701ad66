/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the running DNS server (overlay/dns_server.c) on 127.0.0.1, fed the same
 * bytes three ways.
 *
 * 1. As a UDP datagram from a client.
 * 2. As the upstream's reply to a forwarded sentinel query: the harness is the server's only
 *    upstream; it answers the sentinel with the input (its first two bytes replaced by the
 *    forwarded ID), then with a correct answer. The sentinel's client must get exactly one
 *    reply with its own ID, whatever the input was (relayed, TC, or SERVFAIL).
 * 3. As a TCP stream (any framing, partial frames included), after which the client
 *    half-closes: the server must answer every whole frame with a message that parses, then
 *    close, within 3 s.
 * After each input the per-reason parse counters must add up to the messages received. A hang
 * or a wrong reply aborts; sanitizers catch the rest. The server lives for the whole run.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "lib/util.h"
#include "overlay/dns_codec.h"
#include "overlay/dns_server.h"
#include "overlay/dns_zone.h"

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

#define SENTINEL "Fz-Sentinel.example"

static struct ov_dns_server *srv;
static struct sockaddr_in srv_addr;
static int up_fd = -1;	  /* the harness as upstream */
static int noise_fd = -1; /* client of the fuzzed datagram */
static uint16_t next_id = 1;
static uint8_t buf[65536];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int udp_socket(struct sockaddr_in *ret_addr)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = 0, .sin_addr = {0}, .sin_zero = {0}};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	if (ret_addr)
		*ret_addr = a;
	return fd;
}

static void setup(void)
{
	static const uint8_t web[4] = {10, 200, 3, 20}, db[4] = {10, 200, 6, 2};
	struct sockaddr_storage listen, up;
	struct sockaddr_in up_addr;
	struct ov_dns_server_config cfg = {
		.listen = &listen,
		.n_listen = 1,
		.upstreams = &up,
		.n_upstreams = 1,
		.upstream_timeout_ms = 100,
		.upstream_attempts = 0,
		.max_tcp_clients = 0,
		.tcp_idle_ms = 0,
		.optional_mask = 0,
	};
	struct ov_dns_zone *z = malloc(sizeof(*z));
	struct sockaddr_in *l = (struct sockaddr_in *)&listen;

	CHECK(z && ov_dns_zone_init(z, NULL) == 0);
	CHECK(ov_dns_zone_add_addr(z, "web", AF_INET, web, 1) == 0);
	CHECK(ov_dns_zone_add_addr(z, "db", AF_INET, db, 2) == 0);
	CHECK(ov_dns_zone_add_srv(z, "_http._tcp.web", 0, 10, 8080, "web", 1) == 0);
	CHECK(ov_dns_zone_set_healthy(z, 2, false) == 0);

	up_fd = udp_socket(&up_addr);
	noise_fd = udp_socket(NULL);
	memset(&up, 0, sizeof(up));
	memcpy(&up, &up_addr, sizeof(up_addr));
	memset(&listen, 0, sizeof(listen));
	l->sin_family = AF_INET;
	l->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(ov_dns_server_new(&cfg, z, &srv) == 0);
	CHECK(ov_dns_server_start(srv) == 0);
	srv_addr = *l;
	srv_addr.sin_port = htons(ov_dns_server_port(srv, 0));
}

/* The harness as upstream: answer the sentinel with the input, then with the truth. */
static void upstream_turn(const uint8_t *data, size_t size)
{
	static struct ov_dns_answer a;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	struct ov_dns_name sentinel;
	struct ov_dns_msg q;
	ssize_t n = recvfrom(up_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	size_t len;

	if (n <= 0)
		return;
	CHECK(ov_dns_name_from_text(&sentinel, SENTINEL) == 0);
	/* Forwarded queries are the clients' bytes: the fuzzed one may be anything. */
	if (ov_dns_parse_query(buf, (size_t)n, &q) != OV_DNS_PARSE_OK ||
	    !ov_dns_name_equal(&q.qname, &sentinel))
		return; /* left to time out */
	if (size <= 65507) {
		static uint8_t reply[65536];

		memcpy(reply, data, size);
		if (size >= 2)
			put_be16(reply, q.id);
		sendto(up_fd, reply, size, 0, (struct sockaddr *)&from, flen);
	}
	memset(&a, 0, sizeof(a));
	a.ra = true;
	a.an_count = 1;
	a.an[0].name = &q.qname;
	a.an[0].type = OV_DNS_TYPE_A;
	a.an[0].ttl = 5;
	a.an[0].data.a[0] = 192;
	a.an[0].data.a[3] = 1;
	CHECK(ov_dns_build_response(&q, &a, OV_DNS_TCP_MAX, buf, sizeof(buf), &len) == 0);
	sendto(up_fd, buf, len, 0, (struct sockaddr *)&from, flen);
}

static void udp_round(const uint8_t *data, size_t size)
{
	struct ov_dns_name sentinel;
	uint8_t q[512];
	size_t ql;
	uint16_t id = next_id++;
	uint64_t t0 = mono_ms();
	int fd = udp_socket(NULL);
	bool done = false;

	/* 1: the input as a query. */
	if (size <= 65507)
		sendto(noise_fd, data, size, 0, (struct sockaddr *)&srv_addr, sizeof(srv_addr));
	/* 2: the sentinel, whose upstream reply is the input. */
	CHECK(ov_dns_name_from_text(&sentinel, SENTINEL) == 0);
	CHECK(ov_dns_build_query(id, &sentinel, OV_DNS_TYPE_A, true,
				 size && (data[0] & 1) ? 1232 : 0, q, sizeof(q), &ql) == 0);
	CHECK(sendto(fd, q, ql, 0, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) == (ssize_t)ql);
	while (!done) {
		struct pollfd p[2] = {{.fd = up_fd, .events = POLLIN, .revents = 0},
				      {.fd = fd, .events = POLLIN, .revents = 0}};
		ssize_t n;

		CHECK(mono_ms() - t0 < 3000);
		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			upstream_turn(data, size);
		if (!(p[1].revents & POLLIN))
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		CHECK(n >= OV_DNS_HEADER_LEN);
		CHECK(get_be16(buf) == id && (get_be16(buf + 2) & OV_DNS_FLAG_QR));
		CHECK((size_t)n <= ((data[0] & 1) ? 1232u : 512u));
		done = true;
	}
	/* Exactly one reply. */
	usleep(1000);
	CHECK(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	close(fd);
	while (recv(noise_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void tcp_round(const uint8_t *data, size_t size)
{
	struct timeval tv = {.tv_sec = 3, .tv_usec = 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t have = 0, off = 0;
	ssize_t n;

	CHECK(fd >= 0);
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(connect(fd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) == 0);
	while (off < size) {
		n = send(fd, data + off, size - off, MSG_NOSIGNAL);
		CHECK(n > 0);
		off += (size_t)n;
	}
	CHECK(shutdown(fd, SHUT_WR) == 0);
	/* Every answer parses; then the server closes (n == 0), never a timeout (n < 0). */
	for (;;) {
		const uint8_t *msg;
		size_t mlen, used;
		struct ov_dns_msg m;

		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		CHECK(n >= 0 || errno == ECONNRESET);
		if (n <= 0)
			break;
		have += (size_t)n;
		while ((used = ov_dns_tcp_next(buf, have, &msg, &mlen))) {
			CHECK(ov_dns_parse_message(msg, mlen, &m) == OV_DNS_PARSE_OK);
			CHECK(m.flags & OV_DNS_FLAG_QR);
			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
	CHECK(have == 0);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ov_dns_server_stats st;
	uint64_t sum = 0;

	if (!srv)
		setup();
	udp_round(data, size);
	tcp_round(data, size);
	ov_dns_server_get_stats(srv, &st);
	for (size_t i = 0; i < OV_DNS_PARSE__COUNT; i++)
		sum += st.parse[i];
	CHECK(sum == st.queries_udp + st.queries_tcp);
	if (getenv("WEFT_FUZZ_DNS_STATS")) {
		static char text[4096];

		if (ov_dns_server_stats_format(&st, text, sizeof(text)) > 0)
			fputs(text, stderr);
	}
	return 0;
}

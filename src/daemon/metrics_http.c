/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics_http — the /metrics server (see metrics_http.h): one thread polling the
 * listener, a stop eventfd and its connections, all non-blocking.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon/metrics_http.h"
#include "lib/http.h"

enum code { C200, C400, C404, C405, C431, C500, C_REFUSED, C_TIMEOUT, C__COUNT };
static const char *const code_names[C__COUNT] = {"200", "400", "404",	  "405",
						 "431", "500", "refused", "timeout"};

struct conn {
	int fd;
	uint64_t deadline_ms;
	char in[HTTP_REQUEST_MAX];
	size_t in_len;
	bool writing, draining; /* draining: answered; reading what is left until EOF, so that
				   closing with unread input does not reset the answer away */
	struct strbuf out;
	size_t out_pos;
};

struct dmn_metrics_http {
	int lfd, stop_fd;
	pthread_t thread;
	struct metrics_registry *reg;
	struct metrics_counter_set requests;
	struct conn conns[DMN_METRICS_HTTP_CONNS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int dmn_metrics_addr_parse(const char *s, struct sockaddr_storage *ret)
{
	char host[64];
	const char *port;
	unsigned long p;
	char *end;
	size_t hl;

	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		port = rb + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p == 0 || p > 65535 || port[0] == '+' || port[0] == '-')
		return -EINVAL;
	if (s[0] != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)ret;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
	}
	return 0;
}

bool dmn_metrics_addr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr)[0] == 127;
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return false;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	strbuf_free(&c->out);
	c->fd = -1;
	c->in_len = 0;
	c->writing = c->draining = false;
	c->out_pos = 0;
}

static void respond(struct dmn_metrics_http *h, struct conn *c, enum code code,
		    const struct http_request *q)
{
	static const char *const status[] = {
		[C200] = "200 OK",
		[C400] = "400 Bad Request",
		[C404] = "404 Not Found",
		[C405] = "405 Method Not Allowed",
		[C431] = "431 Request Header Fields Too Large",
		[C500] = "500 Internal Server Error",
	};
	struct strbuf body;
	bool head = q && !strcmp(q->method, "HEAD");

	strbuf_init(&body, METRICS_EXPOSITION_MAX);
	if (code == C200 && metrics_registry_render(h->reg, &body)) {
		strbuf_free(&body);
		strbuf_init(&body, METRICS_EXPOSITION_MAX);
		code = C500;
	}
	if (code != C200)
		strbuf_appendf(&body, "%s\n", status[code]);
	metrics_counter_set_add(&h->requests, code, 1);
	strbuf_init(&c->out, METRICS_EXPOSITION_MAX + 512);
	strbuf_appendf(&c->out,
		       "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		       "Connection: close\r\n\r\n",
		       status[code],
		       code == C200 ? "text/plain; version=0.0.4; charset=utf-8"
				    : "text/plain; charset=utf-8",
		       body.len, code == C405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		strbuf_append(&c->out, strbuf_str(&body), body.len);
	strbuf_free(&body);
	c->writing = true;
	c->out_pos = 0;
}

static void conn_input(struct dmn_metrics_http *h, struct conn *c)
{
	struct http_request q;
	ssize_t n;
	long r;

	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c); /* closed before a whole request: nothing to answer */
		return;
	}
	c->in_len += (size_t)n;
	r = http_request_parse(c->in, c->in_len, &q);
	if (r == 0 && c->in_len == sizeof(c->in))
		r = -E2BIG;
	if (r == 0)
		return;
	if (r < 0)
		respond(h, c, r == -E2BIG ? C431 : C400, NULL);
	else if (strcmp(q.path, "/metrics"))
		respond(h, c, C404, &q);
	else if (strcmp(q.method, "GET") && strcmp(q.method, "HEAD"))
		respond(h, c, C405, &q);
	else
		respond(h, c, C200, &q);
}

static void conn_output(struct conn *c)
{
	ssize_t n;

	if (c->out.error) {
		conn_close(c);
		return;
	}
	n = write(c->fd, strbuf_str(&c->out) + c->out_pos, c->out.len - c->out_pos);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->out_pos += (size_t)n;
	if (c->out_pos == c->out.len) {
		shutdown(c->fd, SHUT_WR);
		strbuf_free(&c->out);
		c->writing = false;
		c->draining = true;
	}
}

static void conn_drain(struct conn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void accept_all(struct dmn_metrics_http *h)
{
	for (int budget = 0; budget < 64; budget++) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *c = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < DMN_METRICS_HTTP_CONNS && !c; i++)
			if (h->conns[i].fd < 0)
				c = &h->conns[i];
		if (!c) {
			metrics_counter_set_add(&h->requests, C_REFUSED, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->in_len = 0;
		c->writing = c->draining = false;
		c->deadline_ms = now_ms() + DMN_METRICS_HTTP_TIMEOUT_MS;
	}
}

static void *serve_main(void *arg)
{
	struct dmn_metrics_http *h = arg;

	for (;;) {
		struct pollfd p[2 + DMN_METRICS_HTTP_CONNS];
		struct conn *idx[2 + DMN_METRICS_HTTP_CONNS];
		uint64_t now = now_ms(), next = UINT64_MAX;
		nfds_t np = 2;
		int timeout;

		p[0] = (struct pollfd){.fd = h->stop_fd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
		for (size_t i = 0; i < DMN_METRICS_HTTP_CONNS; i++) {
			struct conn *c = &h->conns[i];

			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				if (!c->draining)
					metrics_counter_set_add(&h->requests, C_TIMEOUT, 1);
				conn_close(c);
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			idx[np] = c;
			p[np++] = (struct pollfd){.fd = c->fd,
						  .events = c->writing ? POLLOUT : POLLIN};
		}
		timeout = next == UINT64_MAX ? -1 : (int)(next - now) + 1;
		if (poll(p, np, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (nfds_t i = 2; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (idx[i]->writing)
				conn_output(idx[i]);
			else if (idx[i]->draining)
				conn_drain(idx[i]);
			else
				conn_input(h, idx[i]);
			/* Small answers go out at once, without another trip through poll. */
			if (idx[i]->fd >= 0 && idx[i]->writing)
				conn_output(idx[i]);
		}
		if (p[1].revents & POLLIN)
			accept_all(h);
	}
	return NULL;
}

int dmn_metrics_http_start(const struct sockaddr_storage *addr, struct metrics_registry *reg,
			   struct dmn_metrics_http **ret, char *err, size_t errlen)
{
	struct dmn_metrics_http *h = calloc(1, sizeof(*h));
	char where[INET6_ADDRSTRLEN + 8];
	socklen_t len = addr->ss_family == AF_INET ? sizeof(struct sockaddr_in)
						   : sizeof(struct sockaddr_in6);
	const void *ip = addr->ss_family == AF_INET
				 ? (const void *)&((const struct sockaddr_in *)addr)->sin_addr
				 : (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
	uint16_t port =
		ntohs(addr->ss_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
						 : ((const struct sockaddr_in6 *)addr)->sin6_port);
	char ipbuf[INET6_ADDRSTRLEN];
	int one = 1, r;

	inet_ntop(addr->ss_family, ip, ipbuf, sizeof(ipbuf));
	snprintf(where, sizeof(where), addr->ss_family == AF_INET ? "%s:%u" : "[%s]:%u", ipbuf,
		 port);
	if (!h)
		return -ENOMEM;
	h->reg = reg;
	h->stop_fd = -1;
	for (size_t i = 0; i < DMN_METRICS_HTTP_CONNS; i++)
		h->conns[i].fd = -1;
	metrics_counter_set_init(&h->requests, "weft_metrics_http_requests_total",
				 "Requests to this metrics endpoint by outcome (HTTP status, or "
				 "refused: over the connection cap, timeout: past the deadline).",
				 "code", code_names, C__COUNT);
	h->lfd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->lfd < 0) {
		r = -errno;
		snprintf(err, errlen, "metrics: %s: socket: %s", where, strerror(-r));
		free(h);
		return r;
	}
	setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(h->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(h->lfd, (const struct sockaddr *)addr, len) || listen(h->lfd, 64)) {
		r = -errno;
		snprintf(err, errlen, "metrics: cannot listen on %s: %s", where,
			 r == -EADDRINUSE ? "the port is in use by another process (pick another "
					    "port for --metrics)"
			 : r == -EADDRNOTAVAIL ? "not an address of this host"
			 : r == -EACCES	       ? "permission denied (a port below 1024 needs "
						 "CAP_NET_BIND_SERVICE)"
					       : strerror(-r));
		close(h->lfd);
		free(h);
		return r;
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = h->stop_fd < 0 ? -errno : -pthread_create(&h->thread, NULL, serve_main, h);
	if (r) {
		snprintf(err, errlen, "metrics: %s", strerror(-r));
		if (h->stop_fd >= 0)
			close(h->stop_fd);
		close(h->lfd);
		free(h);
		return r;
	}
	metrics_registry_add(reg, "http", metrics_counter_set_collect, &h->requests);
	*ret = h;
	return 0;
}

void dmn_metrics_http_stop(struct dmn_metrics_http *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	metrics_registry_remove(h->reg, "http");
	if (write(h->stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd write of 1 cannot fail short of a bug */
	}
	pthread_join(h->thread, NULL);
	for (size_t i = 0; i < DMN_METRICS_HTTP_CONNS; i++)
		conn_close(&h->conns[i]);
	close(h->stop_fd);
	close(h->lfd);
	free(h);
}

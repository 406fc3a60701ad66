/* SPDX-License-Identifier: MIT */
/*
 * The overlay's DNS server: sockets, the event thread, TCP clients and the forwarder. The
 * contracts and decisions are in dns_server.h; the message rules live in dns_codec.c and the
 * answers in dns_zone.c.
 *
 * Must not: block the event thread (every socket is non-blocking), log above debug, keep a
 * pointer into the zone after the zone lock is released, or grow a table past its cap.
 *
 * Shape: one epoll thread. Every epoll key carries a kind, a slot index and the slot's
 * generation, bumped whenever the slot's socket changes, so an event already fetched for a
 * socket that was closed in the same batch is recognised and ignored. TCP clients touched
 * during an iteration are marked dirty and settled (queued queries processed, epoll interest
 * updated, closed if done) once at the end of the iteration, so that no callee closes a
 * connection its caller still uses.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "overlay/dns_server.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78 /* Linux 4.15; older glibc headers lack it */
#endif

enum {
	EV_WAKE = 1,
	EV_UDP,
	EV_TCP_LISTEN,
	EV_CONN,
	EV_FWD,
};

enum {
	EPOLL_BATCH = 64,
	TCP_BACKLOG = 64,
	TCP_RBUF_MAX = 2 + OV_DNS_TCP_MAX, /* one whole frame always fits */
	/* Answers queued to one client: pipeline max forwarded ones on top of the high mark. */
	TCP_WBUF_MAX = OV_DNS_SERVER_TCP_WBUF_HIGH +
		       OV_DNS_SERVER_TCP_PIPELINE_MAX * (2 + OV_DNS_TCP_MAX) + (2 + OV_DNS_TCP_MAX),
	BIND_PORT_TRIES = 16, /* ephemeral UDP port also free for TCP */
	/*
	 * Out of descriptors, accept() fails while the connection stays queued, and a
	 * level-triggered listener would wake us at once, forever: stop listening this long.
	 */
	ACCEPT_PAUSE_MS = 100,
	MSG_BUF = 65536,
};

struct listener {
	bool used;		  /* has sockets (or, static, a bind error) */
	bool dev;		  /* a device listener (ov_dns_server_set_dev_listeners) */
	uint32_t gen;		  /* bumped whenever the slot's sockets change */
	char ifname[IF_NAMESIZE]; /* SO_BINDTODEVICE; "" = any device */
	int ifindex;		  /* of ifname when bound */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool wildcard; /* 0.0.0.0 or ::: replies need the query's destination as source */
	int udp_fd, tcp_fd;
	uint16_t port;
	uint64_t accept_resume_ms; /* != 0: accepting paused (out of descriptors) until then */
	int bind_err;		   /* an optional listener that could not bind: no sockets */
};

/* Where an answer goes. */
struct dns_client {
	bool tcp;
	uint32_t conn, conn_gen;	 /* TCP */
	uint32_t listener, listener_gen; /* UDP */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool has_pi;
	struct in_pktinfo pi4;
	struct in6_pktinfo pi6;
};

struct tcp_conn {
	bool used, dirty, dead, rd_closed;
	uint32_t gen;
	int fd;
	uint32_t events; /* current epoll interest */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	unsigned inflight;
	uint64_t last_ms;
};

enum fwd_tcp_state {
	FWD_TCP_SENDING, /* connecting, then writing the framed query */
	FWD_TCP_READING,
};

struct fwd {
	bool used;
	uint32_t gen;
	struct dns_client client;
	uint8_t *query; /* the client's bytes, as received (client's ID) */
	size_t qlen;
	struct ov_dns_msg q; /* parsed from query */
	uint16_t up_id;
	struct sockaddr_storage ups[OV_DNS_SERVER_UPSTREAMS_MAX];
	size_t n_ups;
	unsigned attempt, attempts;
	int fd;
	uint64_t deadline_ms;
	enum fwd_tcp_state tstate;
	uint8_t *tbuf; /* TCP: framed query, then the framed reply */
	size_t tlen, tpos, tcap;
};

/* A change of the device listeners, done by the event thread once it runs. */
struct dev_req {
	bool pending;
	struct sockaddr_storage addrs[OV_DNS_SERVER_DEV_LISTEN_MAX];
	char ifnames[OV_DNS_SERVER_DEV_LISTEN_MAX][IF_NAMESIZE];
	size_t n;
	int *results;
	int result;
};

struct ov_dns_server {
	/* [0, n_listen): cfg.listen; then the device listeners. Owned by the event thread once
	 * it runs (changes go through req). */
	struct listener listeners[OV_DNS_SERVER_LISTEN_MAX + OV_DNS_SERVER_DEV_LISTEN_MAX];
	size_t n_listen;

	pthread_mutex_t req_serial; /* one request at a time */
	pthread_mutex_t req_lock;   /* req, and the thread's liveness for it */
	pthread_cond_t req_cond;
	struct dev_req req;
	bool thread_gone;
	unsigned timeout_ms, attempts, max_tcp, idle_ms;

	pthread_mutex_t lock; /* zone and upstream list */
	struct ov_dns_zone *zone;
	struct sockaddr_storage ups[OV_DNS_SERVER_UPSTREAMS_MAX];
	size_t n_ups;

	int epfd, wakefd;
	pthread_t thread;
	bool started;
	int stop; /* atomic */

	/* Owned by the event thread. */
	struct tcp_conn conns[OV_DNS_SERVER_TCP_CLIENTS_MAX];
	size_t n_conns;
	struct fwd fwds[OV_DNS_SERVER_FORWARDS_MAX];
	size_t n_fwds;
	uint8_t rx[MSG_BUF];
	uint8_t tx[MSG_BUF];
	struct ov_dns_answer ans;

	struct ov_dns_server_stats stats; /* relaxed atomics */
};

#define STAT_INC(s, f) __atomic_fetch_add(&(s)->stats.f, 1, __ATOMIC_RELAXED)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t ev_key(unsigned kind, size_t idx, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(idx & 0xffffff) << 32 | gen;
}

static int ep_set(struct ov_dns_server *s, int op, int fd, uint32_t events, uint64_t key)
{
	struct epoll_event ev = {.events = events, .data = {.u64 = key}};

	return epoll_ctl(s->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static uint16_t sa_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

static int check_upstreams(const struct sockaddr_storage *u, size_t n)
{
	if (n > OV_DNS_SERVER_UPSTREAMS_MAX || (n && !u))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (u[i].ss_family != AF_INET && u[i].ss_family != AF_INET6)
			return -EINVAL;
		if (sa_port(&u[i]) == 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- Listeners ------------------------------------------------------------------------------ */

static int open_listen_socket(const struct sockaddr_storage *addr, const char *ifname, int type,
			      int *ret_fd)
{
	int family = addr->ss_family, one = 1, fd, r;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Device-bound: only packets that arrived on ifname reach the socket (the address
	 * alone would take them from any interface, the underlay's too). Before bind, so that
	 * listeners of one address on several devices do not conflict. */
	if (*ifname &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (family == AF_INET) {
		r = setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	} else {
		r = setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		/* Before 4.15, IP_FREEBIND on an IPv6 socket did the same. */
		if (r < 0 && errno == ENOPROTOOPT)
			r = setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
		if (r == 0)
			r = setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (r == 0 && type == SOCK_STREAM)
		r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (r == 0 && type == SOCK_DGRAM) {
		if (family == AF_INET)
			r = setsockopt(fd, SOL_IP, IP_PKTINFO, &one, sizeof(one));
		else
			r = setsockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (r == 0)
		r = bind(fd, (const struct sockaddr *)addr, sa_len(family));
	if (r == 0 && type == SOCK_STREAM)
		r = listen(fd, TCP_BACKLOG);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int bind_listener(struct listener *l, const struct sockaddr_storage *want,
			 const char *ifname)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	int r = -EADDRINUSE;

	for (int tries = 0; tries < BIND_PORT_TRIES; tries++) {
		int ufd = -1, tfd = -1;

		a = *want;
		r = open_listen_socket(&a, ifname, SOCK_DGRAM, &ufd);
		if (r < 0)
			return r;
		alen = sizeof(a);
		if (getsockname(ufd, (struct sockaddr *)&a, &alen) < 0) {
			r = -errno;
			close(ufd);
			return r;
		}
		r = open_listen_socket(&a, ifname, SOCK_STREAM, &tfd);
		if (r < 0) {
			close(ufd);
			/* The kernel's ephemeral UDP port may be taken for TCP: draw again. */
			if (r == -EADDRINUSE && sa_port(want) == 0)
				continue;
			return r;
		}
		l->addr = a;
		l->addr_len = sa_len(a.ss_family);
		l->udp_fd = ufd;
		l->tcp_fd = tfd;
		l->port = sa_port(&a);
		snprintf(l->ifname, sizeof(l->ifname), "%s", ifname);
		l->ifindex = *ifname ? (int)if_nametoindex(ifname) : 0;
		if (a.ss_family == AF_INET)
			l->wildcard =
				((struct sockaddr_in *)&a)->sin_addr.s_addr == htonl(INADDR_ANY);
		else
			l->wildcard =
				IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a)->sin6_addr);
		return 0;
	}
	return r;
}

/* ---- Sending answers ------------------------------------------------------------------------ */

static void conn_mark(struct tcp_conn *c)
{
	c->dirty = true;
}

static void conn_flush(struct tcp_conn *c)
{
	while (!c->dead && c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			break;
		}
		c->woff += (size_t)n;
		c->last_ms = now_ms();
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
}

static void conn_queue(struct ov_dns_server *s, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	size_t need;

	if (c->dead)
		return;
	if (c->woff) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	need = c->wlen + 2 + len;
	if (len > OV_DNS_TCP_MAX || need > TCP_WBUF_MAX) {
		/* Cannot happen while flow control holds; never queue without bound. */
		STAT_INC(s, dropped_send);
		c->dead = true;
		return;
	}
	if (need > c->wcap) {
		size_t cap = MAX(need, MIN(2 * c->wcap, (size_t)TCP_WBUF_MAX));
		uint8_t *p = realloc(c->wbuf, cap);

		if (!p) {
			STAT_INC(s, dropped_send);
			c->dead = true;
			return;
		}
		c->wbuf = p;
		c->wcap = cap;
	}
	ov_dns_tcp_put_len(c->wbuf + c->wlen, len);
	memcpy(c->wbuf + c->wlen + 2, msg, len);
	c->wlen += 2 + len;
	conn_flush(c);
	conn_mark(c);
}

static struct tcp_conn *client_conn(struct ov_dns_server *s, const struct dns_client *cl)
{
	struct tcp_conn *c = &s->conns[cl->conn];

	return c->used && c->gen == cl->conn_gen ? c : NULL;
}

static void reply(struct ov_dns_server *s, const struct dns_client *cl, const uint8_t *msg,
		  size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	struct msghdr mh = {0};
	const struct listener *l;
	unsigned rc = len >= 4 ? msg[3] & OV_DNS_RCODE_MASK : OV_DNS_RCODE_SLOTS - 1;

	__atomic_fetch_add(&s->stats.rcode[rc < OV_DNS_RCODE_SLOTS - 1 ? rc : OV_DNS_RCODE_SLOTS - 1],
			   1, __ATOMIC_RELAXED);
	if (cl->tcp) {
		struct tcp_conn *c = client_conn(s, cl);

		if (!c)
			STAT_INC(s, dropped_client_gone);
		else
			conn_queue(s, c, msg, len);
		return;
	}
	l = &s->listeners[cl->listener];
	if (!l->used || l->gen != cl->listener_gen || l->udp_fd < 0) {
		STAT_INC(s, dropped_send); /* its listener was closed meanwhile */
		return;
	}
	mh.msg_name = (void *)&cl->peer;
	mh.msg_namelen = cl->peer_len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (l->wildcard && cl->has_pi) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		cm = (struct cmsghdr *)cbuf.buf;
		if (l->addr.ss_family == AF_INET) {
			struct in_pktinfo pi = {0};

			pi.ipi_spec_dst = cl->pi4.ipi_addr;
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
			cm->cmsg_level = SOL_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		} else {
			mh.msg_controllen = CMSG_SPACE(sizeof(cl->pi6));
			cm->cmsg_level = SOL_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(cl->pi6));
			memcpy(CMSG_DATA(cm), &cl->pi6, sizeof(cl->pi6));
		}
	}
	if (sendmsg(l->udp_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		log_debug("dns: udp send: %s", strerror(errno));
		STAT_INC(s, dropped_send);
	}
}

static void reply_error(struct ov_dns_server *s, const struct dns_client *cl,
			const struct ov_dns_msg *q, uint16_t rcode)
{
	size_t n;

	if (ov_dns_build_error(q, rcode, s->tx, sizeof(s->tx), &n) < 0) {
		STAT_INC(s, dropped_send);
		return;
	}
	reply(s, cl, s->tx, n);
}

/* ---- Forwarder ------------------------------------------------------------------------------ */

static void fwd_close_fd(struct ov_dns_server *s, struct fwd *f)
{
	if (f->fd >= 0)
		close(f->fd); /* also leaves the epoll set */
	f->fd = -1;
	free(f->tbuf);
	f->tbuf = NULL;
	f->tlen = f->tpos = f->tcap = 0;
	f->gen++; /* events already fetched for the old socket are now stale */
}

/* Ends a forward (answer sent or not) and frees its slot. */
static void fwd_finish(struct ov_dns_server *s, struct fwd *f)
{
	fwd_close_fd(s, f);
	if (f->client.tcp) {
		struct tcp_conn *c = client_conn(s, &f->client);

		if (c) {
			c->inflight--;
			conn_mark(c);
		}
	}
	free(f->query);
	f->query = NULL;
	f->used = false;
	s->n_fwds--;
	__atomic_store_n(&s->stats.forwards_inflight, s->n_fwds, __ATOMIC_RELAXED);
}

/* Opens one attempt to up: 0 when it is under way. */
static int fwd_open(struct ov_dns_server *s, struct fwd *f, const struct sockaddr_storage *up)
{
	size_t idx = (size_t)(f - s->fwds);
	int type = f->client.tcp ? SOCK_STREAM : SOCK_DGRAM;
	int fd, r;

	r = crypto_random(&f->up_id, sizeof(f->up_id));
	if (r < 0)
		return r;
	fd = socket(up->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	f->fd = fd;
	/*
	 * connect() binds a port the kernel draws at random from the ephemeral range, and from
	 * then on only datagrams from this upstream address and port reach the socket.
	 */
	if (connect(fd, (const struct sockaddr *)up, sa_len(up->ss_family)) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	if (!f->client.tcp) {
		memcpy(s->tx, f->query, f->qlen);
		ov_dns_set_id(s->tx, f->qlen, f->up_id);
		if (send(fd, s->tx, f->qlen, MSG_NOSIGNAL) < 0) {
			r = -errno;
			goto fail;
		}
		r = ep_set(s, EPOLL_CTL_ADD, fd, EPOLLIN, ev_key(EV_FWD, idx, f->gen));
	} else {
		f->tcap = 2 + f->qlen;
		f->tbuf = malloc(f->tcap);
		if (!f->tbuf) {
			r = -ENOMEM;
			goto fail;
		}
		ov_dns_tcp_put_len(f->tbuf, f->qlen);
		memcpy(f->tbuf + 2, f->query, f->qlen);
		ov_dns_set_id(f->tbuf + 2, f->qlen, f->up_id);
		f->tlen = 2 + f->qlen;
		f->tpos = 0;
		f->tstate = FWD_TCP_SENDING;
		r = ep_set(s, EPOLL_CTL_ADD, fd, EPOLLOUT, ev_key(EV_FWD, idx, f->gen));
	}
	if (r < 0)
		goto fail;
	f->deadline_ms = now_ms() + s->timeout_ms;
	return 0;
fail:
	fwd_close_fd(s, f);
	return r;
}

/* Tries the next upstreams until one attempt is under way; SERVFAIL when none is left. */
static void fwd_next(struct ov_dns_server *s, struct fwd *f)
{
	fwd_close_fd(s, f);
	while (f->attempt < f->attempts) {
		const struct sockaddr_storage *up = &f->ups[f->attempt % f->n_ups];
		int r;

		f->attempt++;
		STAT_INC(s, fwd_attempts);
		r = fwd_open(s, f, up);
		if (r == 0)
			return;
		log_debug("dns: forward attempt: %s", strerror(-r));
		STAT_INC(s, fwd_io_errors);
	}
	STAT_INC(s, servfail_exhausted);
	reply_error(s, &f->client, &f->q, OV_DNS_RCODE_SERVFAIL);
	fwd_finish(s, f);
}

static void fwd_start(struct ov_dns_server *s, const struct dns_client *cl,
		      const struct ov_dns_msg *q, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage ups[OV_DNS_SERVER_UPSTREAMS_MAX];
	struct fwd *f = NULL;
	size_t n_ups;

	STAT_INC(s, fwd_started);
	pthread_mutex_lock(&s->lock);
	n_ups = s->n_ups;
	memcpy(ups, s->ups, n_ups * sizeof(ups[0]));
	pthread_mutex_unlock(&s->lock);
	if (!n_ups) {
		STAT_INC(s, servfail_no_upstream);
		reply_error(s, cl, q, OV_DNS_RCODE_SERVFAIL);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++) {
		if (!s->fwds[i].used) {
			f = &s->fwds[i];
			break;
		}
	}
	if (!f) {
		STAT_INC(s, servfail_full);
		reply_error(s, cl, q, OV_DNS_RCODE_SERVFAIL);
		return;
	}
	f->query = malloc(len);
	if (!f->query) {
		STAT_INC(s, servfail_internal);
		reply_error(s, cl, q, OV_DNS_RCODE_SERVFAIL);
		return;
	}
	memcpy(f->query, buf, len);
	f->qlen = len;
	if (ov_dns_parse_query(f->query, len, &f->q) != OV_DNS_PARSE_OK) {
		/* The same bytes parsed a moment ago. */
		free(f->query);
		f->query = NULL;
		STAT_INC(s, servfail_internal);
		reply_error(s, cl, q, OV_DNS_RCODE_SERVFAIL);
		return;
	}
	f->used = true;
	f->client = *cl;
	memcpy(f->ups, ups, n_ups * sizeof(ups[0]));
	f->n_ups = n_ups;
	f->attempt = 0;
	f->attempts = (unsigned)n_ups * s->attempts;
	f->fd = -1;
	s->n_fwds++;
	__atomic_store_n(&s->stats.forwards_inflight, s->n_fwds, __ATOMIC_RELAXED);
	if (cl->tcp) {
		struct tcp_conn *c = client_conn(s, cl);

		if (c)
			c->inflight++;
	}
	fwd_next(s, f);
}

/* buf is a reply that matches the question (m parsed from it). */
static void fwd_reply(struct ov_dns_server *s, struct fwd *f, uint8_t *buf, size_t len,
		      const struct ov_dns_msg *m)
{
	uint16_t rcode = m->flags & OV_DNS_RCODE_MASK;

	if (rcode == OV_DNS_RCODE_SERVFAIL || rcode == OV_DNS_RCODE_REFUSED) {
		STAT_INC(s, fwd_upstream_fail);
		fwd_next(s, f);
		return;
	}
	if (rcode == OV_DNS_RCODE_NXDOMAIN)
		STAT_INC(s, fwd_nxdomain);
	if (!f->client.tcp && len > ov_dns_udp_limit(&f->q)) {
		size_t n;

		memset(&s->ans, 0, sizeof(s->ans));
		s->ans.rcode = rcode;
		s->ans.ra = true;
		s->ans.tc = true;
		if (ov_dns_build_response(&f->q, &s->ans, ov_dns_udp_limit(&f->q), s->tx,
					  sizeof(s->tx), &n) < 0) {
			STAT_INC(s, dropped_send);
		} else {
			STAT_INC(s, fwd_relayed_tc);
			reply(s, &f->client, s->tx, n);
		}
	} else {
		ov_dns_set_id(buf, len, f->q.id);
		STAT_INC(s, fwd_relayed);
		reply(s, &f->client, buf, len);
	}
	fwd_finish(s, f);
}

static void fwd_event_udp(struct ov_dns_server *s, struct fwd *f)
{
	for (;;) {
		struct ov_dns_msg m;
		ssize_t n = recv(f->fd, s->rx, sizeof(s->rx), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_debug("dns: upstream recv: %s", strerror(errno));
			STAT_INC(s, fwd_io_errors);
			fwd_next(s, f);
			return;
		}
		if (ov_dns_check_upstream(s->rx, (size_t)n, f->up_id, &f->q, &m) !=
		    OV_DNS_UPSTREAM_OK) {
			/* Spoofed or stale: keep waiting for the real one (RFC 5452 §9.1). */
			STAT_INC(s, fwd_mismatch);
			continue;
		}
		fwd_reply(s, f, s->rx, (size_t)n, &m);
		return;
	}
}

static void fwd_event_tcp(struct ov_dns_server *s, struct fwd *f)
{
	size_t idx = (size_t)(f - s->fwds);

	if (f->tstate == FWD_TCP_SENDING) {
		while (f->tpos < f->tlen) {
			ssize_t n = send(f->fd, f->tbuf + f->tpos, f->tlen - f->tpos, MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				goto io_error;
			}
			f->tpos += (size_t)n;
		}
		f->tstate = FWD_TCP_READING;
		f->tlen = 0;
		if (ep_set(s, EPOLL_CTL_MOD, f->fd, EPOLLIN, ev_key(EV_FWD, idx, f->gen)) < 0)
			goto io_error;
		return;
	}
	for (;;) {
		/* First the two-byte length, then exactly that many bytes. */
		size_t want = f->tlen < 2 ? 2 : 2 + (size_t)get_be16(f->tbuf);
		ssize_t n;

		if (want > f->tcap) {
			uint8_t *p = realloc(f->tbuf, want);

			if (!p)
				goto io_error;
			f->tbuf = p;
			f->tcap = want;
		}
		if (f->tlen == want) {
			struct ov_dns_msg m;

			if (ov_dns_check_upstream(f->tbuf + 2, want - 2, f->up_id, &f->q, &m) !=
			    OV_DNS_UPSTREAM_OK) {
				/* One question per connection: a wrong answer ends the attempt. */
				STAT_INC(s, fwd_mismatch);
				fwd_next(s, f);
				return;
			}
			fwd_reply(s, f, f->tbuf + 2, want - 2, &m);
			return;
		}
		n = recv(f->fd, f->tbuf + f->tlen, want - f->tlen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			goto io_error;
		}
		if (n == 0) {
			errno = ECONNRESET;
			goto io_error;
		}
		f->tlen += (size_t)n;
	}
io_error:
	log_debug("dns: upstream tcp: %s", strerror(errno));
	STAT_INC(s, fwd_io_errors);
	fwd_next(s, f);
}

/* ---- Queries -------------------------------------------------------------------------------- */

static enum ov_dns_qtype_slot qtype_slot(uint16_t qtype)
{
	switch (qtype) {
	case OV_DNS_TYPE_A:
		return OV_DNS_QTYPE_SLOT_A;
	case OV_DNS_TYPE_AAAA:
		return OV_DNS_QTYPE_SLOT_AAAA;
	case OV_DNS_TYPE_SRV:
		return OV_DNS_QTYPE_SLOT_SRV;
	case OV_DNS_TYPE_PTR:
		return OV_DNS_QTYPE_SLOT_PTR;
	default:
		return OV_DNS_QTYPE_SLOT_OTHER;
	}
}

static void handle_query(struct ov_dns_server *s, const struct dns_client *cl, const uint8_t *buf,
			 size_t len)
{
	enum ov_dns_parse_result pr;
	enum ov_dns_zone_verdict v = OV_DNS_ZONE_FORWARD;
	struct ov_dns_msg q;
	size_t n = 0;
	int r = 0, rcode;

	pr = ov_dns_parse_query(buf, len, &q);
	__atomic_fetch_add(&s->stats.parse[pr], 1, __ATOMIC_RELAXED);
	if (pr != OV_DNS_PARSE_OK) {
		rcode = ov_dns_parse_rcode(pr);
		if (rcode < 0) {
			if (pr == OV_DNS_PARSE_DROP_RESPONSE)
				STAT_INC(s, dropped_response);
			else
				STAT_INC(s, dropped_short);
			return;
		}
		if (rcode == OV_DNS_RCODE_NOTIMP)
			STAT_INC(s, notimp);
		else if (rcode == OV_DNS_RCODE_BADVERS)
			STAT_INC(s, badvers);
		else
			STAT_INC(s, formerr);
		reply_error(s, cl, &q, (uint16_t)rcode);
		return;
	}
	__atomic_fetch_add(&s->stats.qtype[qtype_slot(q.qtype)], 1, __ATOMIC_RELAXED);

	pthread_mutex_lock(&s->lock);
	if (s->zone) {
		v = ov_dns_zone_lookup(s->zone, &q, &s->ans);
		if (v == OV_DNS_ZONE_ANSWERED)
			r = ov_dns_build_response(&q, &s->ans,
						  cl->tcp ? OV_DNS_TCP_MAX : ov_dns_udp_limit(&q),
						  s->tx, sizeof(s->tx), &n);
	}
	pthread_mutex_unlock(&s->lock);

	if (v == OV_DNS_ZONE_FORWARD) {
		fwd_start(s, cl, &q, buf, len);
		return;
	}
	if (r < 0) {
		STAT_INC(s, servfail_internal);
		reply_error(s, cl, &q, OV_DNS_RCODE_SERVFAIL);
		return;
	}
	switch (s->ans.rcode) {
	case OV_DNS_RCODE_NOERROR:
		if (s->ans.an_count)
			STAT_INC(s, zone_noerror);
		else
			STAT_INC(s, zone_nodata);
		break;
	case OV_DNS_RCODE_NXDOMAIN:
		STAT_INC(s, zone_nxdomain);
		break;
	default:
		STAT_INC(s, zone_refused);
		break;
	}
	if (get_be16(s->tx + 2) & OV_DNS_FLAG_TC)
		STAT_INC(s, zone_truncated);
	reply(s, cl, s->tx, n);
}

/* ---- UDP listeners -------------------------------------------------------------------------- */

static void udp_read(struct ov_dns_server *s, size_t li)
{
	struct listener *l = &s->listeners[li];

	for (int i = 0; i < OV_DNS_SERVER_UDP_BATCH; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
			struct cmsghdr align;
		} cbuf;
		struct dns_client cl = {
			.tcp = false, .listener = (uint32_t)li, .listener_gen = l->gen};
		struct iovec iov = {.iov_base = s->rx, .iov_len = sizeof(s->rx)};
		struct msghdr mh = {
			.msg_name = &cl.peer,
			.msg_namelen = sizeof(cl.peer),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = recvmsg(l->udp_fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or an error the next event reports again */
		}
		cl.peer_len = mh.msg_namelen;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_PKTINFO) {
				memcpy(&cl.pi4, CMSG_DATA(cm), sizeof(cl.pi4));
				cl.has_pi = true;
			} else if (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				memcpy(&cl.pi6, CMSG_DATA(cm), sizeof(cl.pi6));
				cl.has_pi = true;
			}
		}
		STAT_INC(s, queries_udp);
		handle_query(s, &cl, s->rx, (size_t)n);
	}
}

/* ---- TCP clients ---------------------------------------------------------------------------- */

static void conn_close(struct ov_dns_server *s, struct tcp_conn *c)
{
	size_t idx = (size_t)(c - s->conns);

	/* Forwards for this client have nobody to answer to. */
	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++) {
		struct fwd *f = &s->fwds[i];

		if (f->used && f->client.tcp && f->client.conn == idx &&
		    f->client.conn_gen == c->gen) {
			STAT_INC(s, dropped_client_gone);
			fwd_finish(s, f);
		}
	}
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	*c = (struct tcp_conn){.gen = c->gen + 1, .fd = -1};
	s->n_conns--;
	__atomic_store_n(&s->stats.tcp_clients, s->n_conns, __ATOMIC_RELAXED);
}

static bool conn_paused(const struct tcp_conn *c)
{
	return c->inflight >= OV_DNS_SERVER_TCP_PIPELINE_MAX ||
	       c->wlen - c->woff >= OV_DNS_SERVER_TCP_WBUF_HIGH;
}

/* Answers the whole queries in the buffer, as far as flow control lets. */
static void conn_process(struct ov_dns_server *s, struct tcp_conn *c)
{
	size_t off = 0, idx = (size_t)(c - s->conns);
	struct dns_client cl = {.tcp = true, .conn = (uint32_t)idx, .conn_gen = c->gen};

	while (!c->dead && !conn_paused(c)) {
		const uint8_t *msg;
		size_t mlen, used = ov_dns_tcp_next(c->rbuf + off, c->rlen - off, &msg, &mlen);

		if (!used)
			break;
		off += used;
		STAT_INC(s, queries_tcp);
		/* msg points into rbuf, which nothing below touches. */
		handle_query(s, &cl, msg, mlen);
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void conn_read(struct tcp_conn *c)
{
	while (!c->dead && !c->rd_closed && c->rlen < TCP_RBUF_MAX) {
		ssize_t n;

		if (c->rlen == c->rcap) {
			size_t cap = MIN(MAX(2 * c->rcap, (size_t)512), (size_t)TCP_RBUF_MAX);
			uint8_t *p = realloc(c->rbuf, cap);

			if (!p) {
				c->dead = true;
				return;
			}
			c->rbuf = p;
			c->rcap = cap;
		}
		n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			return;
		}
		if (n == 0) {
			c->rd_closed = true;
			return;
		}
		c->rlen += (size_t)n;
		c->last_ms = now_ms();
	}
}

/* Processes what is queued, then closes the connection or updates its epoll interest. */
static void conn_settle(struct ov_dns_server *s, struct tcp_conn *c)
{
	size_t idx = (size_t)(c - s->conns);
	uint32_t want = 0;

	c->dirty = false;
	conn_process(s, c);
	if (c->dead) {
		STAT_INC(s, tcp_closed_error);
		conn_close(s, c);
		return;
	}
	if (c->rd_closed && c->woff == c->wlen && c->inflight == 0) {
		STAT_INC(s, tcp_closed_eof);
		conn_close(s, c);
		return;
	}
	if (!c->rd_closed && !conn_paused(c) && c->rlen < TCP_RBUF_MAX)
		want |= EPOLLIN;
	if (c->woff < c->wlen)
		want |= EPOLLOUT;
	if (want != c->events) {
		if (ep_set(s, EPOLL_CTL_MOD, c->fd, want, ev_key(EV_CONN, idx, c->gen)) < 0) {
			STAT_INC(s, tcp_closed_error);
			conn_close(s, c);
			return;
		}
		c->events = want;
	}
	c->dirty = false;
}

static void conn_event(struct tcp_conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
		conn_flush(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
	/* An error, or a hang-up after EOF: nothing more can be written either. */
	if ((events & EPOLLERR) || ((events & EPOLLHUP) && c->rd_closed))
		c->dead = true;
	conn_mark(c);
}

static void tcp_accept(struct ov_dns_server *s, size_t li)
{
	for (;;) {
		struct tcp_conn *c = NULL;
		int fd = accept4(s->listeners[li].tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_debug("dns: accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				STAT_INC(s, tcp_accept_paused);
				if (ep_set(s, EPOLL_CTL_MOD, s->listeners[li].tcp_fd, 0,
					   ev_key(EV_TCP_LISTEN, li, s->listeners[li].gen)) == 0)
					s->listeners[li].accept_resume_ms =
						now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		if (s->n_conns >= s->max_tcp) {
			STAT_INC(s, tcp_refused_full);
			close(fd);
			continue;
		}
		for (size_t i = 0; i < s->max_tcp; i++) {
			if (!s->conns[i].used) {
				c = &s->conns[i];
				break;
			}
		}
		c->gen++;
		if (ep_set(s, EPOLL_CTL_ADD, fd, EPOLLIN,
			   ev_key(EV_CONN, (size_t)(c - s->conns), c->gen)) < 0) {
			STAT_INC(s, tcp_closed_error);
			close(fd);
			continue;
		}
		c->used = true;
		c->fd = fd;
		c->events = EPOLLIN;
		c->last_ms = now_ms();
		s->n_conns++;
		__atomic_store_n(&s->stats.tcp_clients, s->n_conns, __ATOMIC_RELAXED);
		STAT_INC(s, tcp_accepted);
	}
}

/* ---- Device listeners ----------------------------------------------------------------------- */

static bool listener_live(const struct ov_dns_server *s, size_t idx, uint32_t gen)
{
	return idx < ARRAY_SIZE(s->listeners) && s->listeners[idx].used &&
	       s->listeners[idx].gen == gen;
}

/* Register a bound listener's sockets with epoll under its current generation. */
static int listener_watch(struct ov_dns_server *s, size_t i)
{
	struct listener *l = &s->listeners[i];
	int r;

	r = ep_set(s, EPOLL_CTL_ADD, l->udp_fd, EPOLLIN, ev_key(EV_UDP, i, l->gen));
	if (r == 0)
		r = ep_set(s, EPOLL_CTL_ADD, l->tcp_fd, EPOLLIN, ev_key(EV_TCP_LISTEN, i, l->gen));
	return r;
}

/* Close a listener's sockets (they leave the epoll set) and free the slot. */
static void listener_close(struct listener *l)
{
	if (l->udp_fd >= 0)
		close(l->udp_fd);
	if (l->tcp_fd >= 0)
		close(l->tcp_fd);
	l->udp_fd = l->tcp_fd = -1;
	l->used = l->dev = false;
	l->gen++;
	l->accept_resume_ms = 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)b)->sin_addr, 4) &&
		       sa_port(a) == sa_port(b);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, 16) &&
	       sa_port(a) == sa_port(b);
}

/*
 * Make the device listeners exactly the pairs (r->addrs[k], r->ifnames[k]): close those not
 * asked for (a pair no longer listed, or one whose device's ifindex changed: the link was
 * recreated), keep the others, bind the missing ones. Event thread (or before it runs).
 */
static int do_dev_req(struct ov_dns_server *s, struct dev_req *r)
{
	size_t base = s->n_listen;
	int failed = 0;

	for (size_t i = base; i < ARRAY_SIZE(s->listeners); i++) {
		struct listener *l = &s->listeners[i];
		bool keep = false;

		if (!l->used)
			continue;
		for (size_t k = 0; k < r->n && !keep; k++)
			keep = !strcmp(l->ifname, r->ifnames[k]) &&
			       same_addr(&l->addr, &r->addrs[k]) &&
			       l->ifindex == (int)if_nametoindex(r->ifnames[k]);
		if (!keep)
			listener_close(l);
	}
	for (size_t k = 0; k < r->n; k++) {
		size_t free_slot = SIZE_MAX;
		bool have = false;
		int e;

		for (size_t i = base; i < ARRAY_SIZE(s->listeners) && !have; i++) {
			const struct listener *l = &s->listeners[i];

			if (l->used)
				have = !strcmp(l->ifname, r->ifnames[k]) &&
				       same_addr(&l->addr, &r->addrs[k]);
			else if (free_slot == SIZE_MAX)
				free_slot = i;
		}
		e = 0;
		if (!have && free_slot == SIZE_MAX)
			e = -ENOSPC;
		if (!have && free_slot != SIZE_MAX) {
			struct listener *l = &s->listeners[free_slot];

			e = bind_listener(l, &r->addrs[k], r->ifnames[k]);
			if (e == 0) {
				l->used = l->dev = true;
				l->gen++;
				e = listener_watch(s, free_slot);
				if (e < 0)
					listener_close(l);
			}
		}
		if (r->results)
			r->results[k] = e;
		if (e < 0 && !failed)
			failed = e;
	}
	return failed;
}

static void serve_dev_req(struct ov_dns_server *s)
{
	pthread_mutex_lock(&s->req_lock);
	if (s->req.pending) {
		s->req.result = do_dev_req(s, &s->req);
		s->req.pending = false;
		pthread_cond_broadcast(&s->req_cond);
	}
	pthread_mutex_unlock(&s->req_lock);
}

static bool dev_addr_valid(const struct sockaddr_storage *a)
{
	return a && (a->ss_family == AF_INET || a->ss_family == AF_INET6) && sa_port(a) != 0;
}

int ov_dns_server_set_dev_pairs(struct ov_dns_server *s, const struct ov_dns_server_dev *devs,
				size_t n, int *results)
{
	struct dev_req *q;
	uint64_t one = 1;
	int r;

	if (!s || n > OV_DNS_SERVER_DEV_LISTEN_MAX || (n && !devs))
		return -EINVAL;
	for (size_t k = 0; k < n; k++) {
		const char *name = devs[k].ifname;

		if (!name || !*name || strlen(name) >= IF_NAMESIZE || !dev_addr_valid(&devs[k].addr))
			return -EINVAL;
		for (size_t j = 0; j < k; j++)
			if (!strcmp(devs[j].ifname, name) && same_addr(&devs[j].addr, &devs[k].addr))
				return -EINVAL;
	}
	pthread_mutex_lock(&s->req_serial);
	pthread_mutex_lock(&s->req_lock);
	q = &s->req;
	q->n = n;
	for (size_t k = 0; k < n; k++) {
		q->addrs[k] = devs[k].addr;
		snprintf(q->ifnames[k], sizeof(q->ifnames[k]), "%s", devs[k].ifname);
	}
	q->results = results;
	if (!s->started) {
		r = do_dev_req(s, q); /* no event thread yet: ours to do */
	} else if (s->thread_gone) {
		r = -ESHUTDOWN;
	} else {
		q->pending = true;
		if (write(s->wakefd, &one, sizeof(one)) < 0)
			log_debug("dns: eventfd: %s", strerror(errno));
		while (q->pending)
			pthread_cond_wait(&s->req_cond, &s->req_lock);
		r = q->result;
	}
	q->results = NULL;
	pthread_mutex_unlock(&s->req_lock);
	pthread_mutex_unlock(&s->req_serial);
	return r;
}

int ov_dns_server_set_dev_listeners(struct ov_dns_server *s, const struct sockaddr_storage *addr,
				    const char *const *ifnames, size_t n, int *results)
{
	struct ov_dns_server_dev *devs;
	int r;

	if (!s || !dev_addr_valid(addr) || n > OV_DNS_SERVER_DEV_LISTEN_MAX || (n && !ifnames))
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		for (size_t j = 0; j < k; j++)
			if (ifnames[j] && ifnames[k] && !strcmp(ifnames[j], ifnames[k]))
				return -EINVAL;
	devs = calloc(n ? n : 1, sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		devs[k].ifname = ifnames[k];
		devs[k].addr = *addr;
	}
	r = ov_dns_server_set_dev_pairs(s, devs, n, results);
	free(devs);
	return r;
}

/* ---- Event loop ----------------------------------------------------------------------------- */

static int next_timeout(const struct ov_dns_server *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++)
		if (s->fwds[i].used && s->fwds[i].fd >= 0)
			next = MIN(next, s->fwds[i].deadline_ms);
	for (size_t i = 0; i < s->max_tcp; i++)
		if (s->conns[i].used && s->conns[i].inflight == 0)
			next = MIN(next, s->conns[i].last_ms + s->idle_ms);
	for (size_t i = 0; i < ARRAY_SIZE(s->listeners); i++)
		if (s->listeners[i].used && s->listeners[i].accept_resume_ms)
			next = MIN(next, s->listeners[i].accept_resume_ms);
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return (int)MIN(next - now, (uint64_t)60000);
}

static void expire(struct ov_dns_server *s, uint64_t now)
{
	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++) {
		struct fwd *f = &s->fwds[i];

		if (f->used && f->fd >= 0 && f->deadline_ms <= now) {
			STAT_INC(s, fwd_timeouts);
			fwd_next(s, f);
		}
	}
	for (size_t i = 0; i < s->max_tcp; i++) {
		struct tcp_conn *c = &s->conns[i];

		if (c->used && c->inflight == 0 && c->last_ms + s->idle_ms <= now) {
			STAT_INC(s, tcp_closed_idle);
			conn_close(s, c);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(s->listeners); i++) {
		struct listener *l = &s->listeners[i];

		if (l->used && l->accept_resume_ms && l->accept_resume_ms <= now &&
		    ep_set(s, EPOLL_CTL_MOD, l->tcp_fd, EPOLLIN,
			   ev_key(EV_TCP_LISTEN, i, l->gen)) == 0)
			l->accept_resume_ms = 0;
	}
}

static void *server_thread(void *arg)
{
	struct ov_dns_server *s = arg;
	struct epoll_event evs[EPOLL_BATCH];

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(s->epfd, evs, EPOLL_BATCH, next_timeout(s, now_ms()));

		if (n < 0 && errno != EINTR) {
			log_debug("dns: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t key = evs[i].data.u64;
			unsigned kind = (unsigned)(key >> 56);
			size_t idx = (size_t)(key >> 32) & 0xffffff;
			uint32_t gen = (uint32_t)key;

			switch (kind) {
			case EV_WAKE: {
				uint64_t v;

				if (read(s->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("dns: eventfd: %s", strerror(errno));
				serve_dev_req(s);
				break;
			}
			case EV_UDP:
				if (listener_live(s, idx, gen))
					udp_read(s, idx);
				break;
			case EV_TCP_LISTEN:
				if (listener_live(s, idx, gen))
					tcp_accept(s, idx);
				break;
			case EV_CONN:
				if (s->conns[idx].used && s->conns[idx].gen == gen)
					conn_event(&s->conns[idx], evs[i].events);
				break;
			case EV_FWD: {
				struct fwd *f = &s->fwds[idx];

				if (!f->used || f->gen != gen || f->fd < 0)
					break;
				if (f->client.tcp)
					fwd_event_tcp(s, f);
				else
					fwd_event_udp(s, f);
				break;
			}
			default:
				break;
			}
		}
		expire(s, now_ms());
		for (size_t i = 0; i < s->max_tcp; i++)
			if (s->conns[i].used && s->conns[i].dirty)
				conn_settle(s, &s->conns[i]);
	}
	/* A request that came too late is failed, not left waiting. */
	pthread_mutex_lock(&s->req_lock);
	s->thread_gone = true;
	if (s->req.pending) {
		s->req.result = -ESHUTDOWN;
		s->req.pending = false;
		pthread_cond_broadcast(&s->req_cond);
	}
	pthread_mutex_unlock(&s->req_lock);
	return NULL;
}

/* ---- Public API ----------------------------------------------------------------------------- */

static void zone_free(struct ov_dns_zone *z)
{
	if (!z)
		return;
	ov_dns_zone_done(z);
	free(z);
}

int ov_dns_server_new(const struct ov_dns_server_config *cfg, struct ov_dns_zone *zone,
		      struct ov_dns_server **ret)
{
	struct ov_dns_server *s;
	size_t bound = 0;
	int r, first_err = 0;

	if (!cfg || !ret || !cfg->listen || cfg->n_listen == 0 ||
	    cfg->n_listen > OV_DNS_SERVER_LISTEN_MAX ||
	    cfg->upstream_attempts > OV_DNS_SERVER_UPSTREAM_ATTEMPTS_MAX ||
	    cfg->max_tcp_clients > OV_DNS_SERVER_TCP_CLIENTS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (cfg->listen[i].ss_family != AF_INET && cfg->listen[i].ss_family != AF_INET6)
			return -EINVAL;
		if (cfg->listen_ifnames && cfg->listen_ifnames[i] &&
		    strlen(cfg->listen_ifnames[i]) >= IF_NAMESIZE)
			return -EINVAL;
	}
	r = check_upstreams(cfg->upstreams, cfg->n_upstreams);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->epfd = s->wakefd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(s->listeners); i++)
		s->listeners[i].udp_fd = s->listeners[i].tcp_fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(s->conns); i++)
		s->conns[i].fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++)
		s->fwds[i].fd = -1;
	s->timeout_ms = cfg->upstream_timeout_ms ? cfg->upstream_timeout_ms
						 : OV_DNS_SERVER_UPSTREAM_TIMEOUT_MS;
	s->attempts = cfg->upstream_attempts ? cfg->upstream_attempts : 1;
	s->max_tcp = cfg->max_tcp_clients ? cfg->max_tcp_clients : OV_DNS_SERVER_TCP_CLIENTS_MAX;
	s->idle_ms = cfg->tcp_idle_ms ? cfg->tcp_idle_ms : OV_DNS_SERVER_TCP_IDLE_MS;
	if (cfg->n_upstreams)
		memcpy(s->ups, cfg->upstreams, cfg->n_upstreams * sizeof(s->ups[0]));
	s->n_ups = cfg->n_upstreams;
	r = pthread_mutex_init(&s->lock, NULL);
	if (r) {
		free(s);
		return -r;
	}
	pthread_mutex_init(&s->req_serial, NULL);
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_cond_init(&s->req_cond, NULL);

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->wakefd < 0) {
		r = -errno;
		goto fail;
	}
	r = ep_set(s, EPOLL_CTL_ADD, s->wakefd, EPOLLIN, ev_key(EV_WAKE, 0, 0));
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct listener *l = &s->listeners[i];

		s->n_listen++;
		l->used = true; /* a static slot, bound or with its bind error */
		r = bind_listener(l, &cfg->listen[i],
				  cfg->listen_ifnames && cfg->listen_ifnames[i]
					  ? cfg->listen_ifnames[i]
					  : "");
		if (r < 0 && (cfg->optional_mask & 1u << i)) {
			log_debug("dns: optional listener %zu: %s", i, strerror(-r));
			l->bind_err = r;
			if (!first_err)
				first_err = r;
			continue;
		}
		if (r < 0)
			goto fail;
		bound++;
		r = listener_watch(s, i);
		if (r < 0)
			goto fail;
	}
	if (!bound) {
		r = first_err;
		goto fail;
	}
	s->zone = zone;
	*ret = s;
	return 0;
fail:
	ov_dns_server_free(s); /* zone not yet taken: the caller keeps it */
	return r;
}

int ov_dns_server_start(struct ov_dns_server *s)
{
	int r;

	if (!s)
		return -EINVAL;
	if (s->started)
		return -EALREADY;
	r = pthread_create(&s->thread, NULL, server_thread, s);
	if (r)
		return -r;
	s->started = true;
	return 0;
}

void ov_dns_server_free(struct ov_dns_server *s)
{
	if (!s)
		return;
	if (s->started) {
		uint64_t one = 1;

		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		if (write(s->wakefd, &one, sizeof(one)) < 0)
			log_debug("dns: eventfd: %s", strerror(errno));
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(s->fwds); i++)
		if (s->fwds[i].used)
			fwd_finish(s, &s->fwds[i]);
	for (size_t i = 0; i < ARRAY_SIZE(s->conns); i++)
		if (s->conns[i].used)
			conn_close(s, &s->conns[i]);
	for (size_t i = 0; i < ARRAY_SIZE(s->listeners); i++)
		listener_close(&s->listeners[i]);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	zone_free(s->zone);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->req_serial);
	pthread_mutex_destroy(&s->req_lock);
	pthread_cond_destroy(&s->req_cond);
	free(s);
}

int ov_dns_server_listen_error(const struct ov_dns_server *s, size_t i)
{
	if (!s || i >= s->n_listen)
		return -EINVAL;
	return s->listeners[i].bind_err;
}

size_t ov_dns_server_n_listen(const struct ov_dns_server *s)
{
	return s ? s->n_listen : 0;
}

uint16_t ov_dns_server_port(const struct ov_dns_server *s, size_t i)
{
	if (!s || i >= s->n_listen)
		return 0;
	return s->listeners[i].port;
}

void ov_dns_server_swap_zone(struct ov_dns_server *s, struct ov_dns_zone *zone)
{
	struct ov_dns_zone *old;

	if (!s) {
		zone_free(zone);
		return;
	}
	pthread_mutex_lock(&s->lock);
	old = s->zone;
	if (old && zone) {
		for (size_t i = 0; i < old->n_unhealthy; i++)
			if (ov_dns_zone_set_healthy(zone, old->unhealthy[i], false) < 0)
				log_debug("dns: zone swap: too many unhealthy owners");
	}
	s->zone = zone;
	pthread_mutex_unlock(&s->lock);
	zone_free(old);
}

int ov_dns_server_edit_zone(struct ov_dns_server *s, int (*fn)(struct ov_dns_zone *z, void *ctx),
			    void *ctx)
{
	int r = -ENOENT;

	if (!s || !fn)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->zone)
		r = fn(s->zone, ctx);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int ov_dns_server_set_healthy(struct ov_dns_server *s, uint32_t owner, bool healthy)
{
	int r = -ENOENT;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->zone)
		r = ov_dns_zone_set_healthy(s->zone, owner, healthy);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int ov_dns_server_set_upstreams(struct ov_dns_server *s, const struct sockaddr_storage *u, size_t n)
{
	int r;

	if (!s)
		return -EINVAL;
	r = check_upstreams(u, n);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	if (n)
		memcpy(s->ups, u, n * sizeof(s->ups[0]));
	s->n_ups = n;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void ov_dns_server_get_stats(const struct ov_dns_server *s, struct ov_dns_server_stats *ret)
{
#define LOAD(name) ret->name = __atomic_load_n(&s->stats.name, __ATOMIC_RELAXED);
	OV_DNS_SERVER_STATS(LOAD)
#undef LOAD
	for (size_t i = 0; i < ARRAY_SIZE(ret->parse); i++)
		ret->parse[i] = __atomic_load_n(&s->stats.parse[i], __ATOMIC_RELAXED);
	for (size_t i = 0; i < OV_DNS_QTYPE_SLOT__COUNT; i++)
		ret->qtype[i] = __atomic_load_n(&s->stats.qtype[i], __ATOMIC_RELAXED);
	for (size_t i = 0; i < OV_DNS_RCODE_SLOTS; i++)
		ret->rcode[i] = __atomic_load_n(&s->stats.rcode[i], __ATOMIC_RELAXED);
	ret->forwards_inflight = __atomic_load_n(&s->stats.forwards_inflight, __ATOMIC_RELAXED);
	ret->tcp_clients = __atomic_load_n(&s->stats.tcp_clients, __ATOMIC_RELAXED);
}

int ov_dns_server_stats_format(const struct ov_dns_server_stats *st, char *buf, size_t cap)
{
	size_t off = 0;
	int n;

#define FMT(name)                                                                             \
	n = snprintf(buf + off, cap - off, "%s %llu\n", #name, (unsigned long long)st->name); \
	if (n < 0 || (size_t)n >= cap - off)                                                  \
		return -ENOSPC;                                                               \
	off += (size_t)n;
	if (!buf || !cap)
		return -ENOSPC;
	buf[0] = '\0';
	OV_DNS_SERVER_STATS(FMT)
	FMT(forwards_inflight)
	FMT(tcp_clients)
#undef FMT
	for (size_t i = 0; i < ARRAY_SIZE(st->parse); i++) {
		if (!st->parse[i])
			continue;
		n = snprintf(buf + off, cap - off, "parse_%zu %llu # %s\n", i,
			     (unsigned long long)st->parse[i],
			     ov_dns_parse_result_str((enum ov_dns_parse_result)i));
		if (n < 0 || (size_t)n >= cap - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return (int)off;
}

// SPDX-License-Identifier: MIT
/*
 * relay.c — weftd's TURN relay: the sockets and the thread around overlay/turn.c (see relay.h
 * for the design and who can reach which socket).
 *
 * One thread polls the TURN socket, a wake-up, and every loopback forwarder. A datagram from
 * the server goes through ov_turn_input; a peer's payload leaves through that remote's
 * forwarder to 127.0.0.1:wg_port. A datagram the device sends to a forwarder is wrapped by
 * ov_turn_send and goes to the server. After each response, after each batch of datagrams
 * (a first payload to or from a remote asks for its channel) and at each timer, everything
 * ov_turn_output has is sent. When the allocation fails the TURN socket is replaced, so the
 * next attempt comes from a new 5-tuple (an allocation the server still holds for the old
 * one would answer 437).
 *
 * Must not: log per packet (one line per allocation event; drops are counted), block other
 * threads for longer than one datagram's handling (the lock covers the client state, the
 * forwarder table and counters), or hold more than DMN_RELAY_MAX_REMOTES forwarders.
 */
#include "daemon/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "lib/addrfmt.h"
#include "lib/log.h"
#include "overlay/turn.h"
#include "platform/thread.h"
#include "platform/wakeup.h"

enum {
	RELAY_BUF = 65536 + 64, /* a ChannelData or Data indication of the largest datagram */
	RELAY_TICK_MS = 1000,	/* idle expiry resolution */
	RELAY_SOCKBUF = 4 << 20, /* the TURN socket carries every remote's traffic: bursts */
	RELAY_FWD_SOCKBUF = 1 << 20,
};

/* Larger socket buffers, past rmem_max/wmem_max when we may (weftd runs as root); a
 * refusal leaves the default (bursts may then drop). */
static void set_bufs(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

struct relay_remote {
	bool used;
	struct wg_endpoint peer;
	int fd; /* L_P: 127.0.0.1, ephemeral port */
	uint16_t port;
	uint64_t last_ms;
};

struct dmn_relay {
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	struct plat_wakeup *wake;
	bool stop;

	struct dmn_relay_config cfg;
	int sock; /* to the TURN server, connected */
	struct ov_turn turn;
	enum ov_turn_state logged_state;

	struct relay_remote remotes[DMN_RELAY_MAX_REMOTES];
	unsigned nremotes;
	uint64_t bytes_to, bytes_from, pkts_to, pkts_from, dropped_foreign, dropped_server;
	uint64_t full_logged_ms;

	uint8_t in[RELAY_BUF], out[RELAY_BUF];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void turn_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (crypto_random(buf, len) < 0)
		abort(); /* ov_turn_env's contract: must not fail */
}

static socklen_t to_sockaddr(const struct wg_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == WG_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(ep->port);
		memcpy(&s->sin_addr, ep->addr, 4);
		return sizeof(*s);
	}
	if (ep->family == WG_AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(ep->port);
		memcpy(&s->sin6_addr, ep->addr, 16);
		s->sin6_scope_id = ep->scope_id;
		return sizeof(*s);
	}
	return 0;
}

const char *dmn_endpoint_str(const struct wg_endpoint *ep, char out[static DMN_ENDPOINT_STRLEN])
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!ep->family) {
		snprintf(out, DMN_ENDPOINT_STRLEN, "none");
		return out;
	}
	len = to_sockaddr(ep, &ss);
	return addrfmt_sockaddr((struct sockaddr *)&ss, len, true, out);
}

static bool same_endpoint(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, a->family == WG_AF_INET ? 4 : 16);
}

/* A UDP socket connected to the server (the kernel then drops datagrams from anyone else). */
static int open_server_socket(const struct wg_endpoint *server)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(server, &ss);
	int fd;

	if (!len)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_bufs(fd, RELAY_SOCKBUF);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* --- forwarders --- */

static void remote_drop(struct dmn_relay *r, struct relay_remote *rm)
{
	ov_turn_forget(&r->turn, &rm->peer);
	close(rm->fd);
	memset(rm, 0, sizeof(*rm));
	rm->fd = -1;
	r->nremotes--;
}

static struct relay_remote *remote_find(struct dmn_relay *r, const struct wg_endpoint *peer)
{
	size_t i;

	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++)
		if (r->remotes[i].used && same_endpoint(&r->remotes[i].peer, peer))
			return &r->remotes[i];
	return NULL;
}

/* The forwarder of peer, opened on first sight; when the table is full the longest idle one
 * makes room. NULL when no socket could be opened. */
static struct relay_remote *remote_get(struct dmn_relay *r, const struct wg_endpoint *peer,
				       uint64_t now)
{
	struct relay_remote *rm = remote_find(r, peer), *slot = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	size_t i;
	int fd;

	if (rm)
		return rm;
	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++) {
		if (!r->remotes[i].used) {
			slot = &r->remotes[i];
			break;
		}
		if (!slot || r->remotes[i].last_ms < slot->last_ms)
			slot = &r->remotes[i];
	}
	if (slot->used) {
		if (now - r->full_logged_ms > 60000) {
			log_info("relay: %d remotes, the cap: the longest idle one gives way",
				 DMN_RELAY_MAX_REMOTES);
			r->full_logged_ms = now;
		}
		remote_drop(r, slot);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	set_bufs(fd, RELAY_FWD_SOCKBUF);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		close(fd);
		return NULL;
	}
	slot->used = true;
	slot->peer = *peer;
	slot->fd = fd;
	slot->port = ntohs(sa.sin_port);
	slot->last_ms = now;
	r->nremotes++;
	{
		char a[DMN_ENDPOINT_STRLEN];

		log_debug("relay: remote %s on 127.0.0.1:%u", dmn_endpoint_str(peer, a),
			  slot->port);
	}
	return slot;
}

static void remotes_expire(struct dmn_relay *r, uint64_t now)
{
	size_t i;

	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++) {
		struct relay_remote *rm = &r->remotes[i];

		if (rm->used && now - rm->last_ms >= DMN_RELAY_IDLE_MS) {
			char a[DMN_ENDPOINT_STRLEN];

			log_debug("relay: remote %s idle, forwarder closed",
				  dmn_endpoint_str(&rm->peer, a));
			remote_drop(r, rm);
		}
	}
}

/* --- the TURN side --- */

static void flush_output(struct dmn_relay *r, uint64_t now)
{
	int len;

	while ((len = ov_turn_output(&r->turn, now, r->out, sizeof(r->out))) > 0)
		(void)send(r->sock, r->out, (size_t)len, 0); /* lost ones are retransmitted */
}

/* One log line per change of the allocation; a new socket after a failure. */
static void note_state(struct dmn_relay *r)
{
	struct ov_turn_status st;
	char a[DMN_ENDPOINT_STRLEN], b[DMN_ENDPOINT_STRLEN], s[DMN_ENDPOINT_STRLEN];

	ov_turn_status(&r->turn, &st);
	if (st.state == r->logged_state)
		return;
	dmn_endpoint_str(&r->cfg.server, s);
	if (st.state == OV_TURN_ALLOCATED) {
		log_info("relay: allocated %s on %s (our address as the server sees it: %s, "
			 "lifetime %u s)",
			 dmn_endpoint_str(&st.relayed, a), s, dmn_endpoint_str(&st.mapped, b), st.lifetime_s);
	} else if (st.state == OV_TURN_FAILED) {
		uint64_t now = now_ms();
		int fd;

		log_error("relay: %s %s: %s; next attempt in %llu s",
			  r->logged_state == OV_TURN_ALLOCATED ? "lost the allocation on"
							       : "no allocation on",
			  s, st.error,
			  (unsigned long long)((st.retry_at_ms > now ? st.retry_at_ms - now : 0) /
					       1000));
		fd = open_server_socket(&r->cfg.server);
		if (fd >= 0) {
			close(r->sock);
			r->sock = fd;
		}
	}
	r->logged_state = st.state;
}

static void from_server(struct dmn_relay *r)
{
	for (;;) {
		struct ov_turn_data d;
		struct sockaddr_in dev = {.sin_family = AF_INET};
		enum ov_turn_rx rx;
		ssize_t n = recv(r->sock, r->in, sizeof(r->in), 0);
		uint64_t now;

		if (n < 0)
			return; /* EAGAIN, or ICMP unreachable (the timeout will say it) */
		now = now_ms();
		pthread_mutex_lock(&r->lock);
		rx = ov_turn_input(&r->turn, now, r->in, (size_t)n, &d);
		if (rx == OV_TURN_RX_DATA) {
			struct relay_remote *rm = remote_get(r, &d.peer, now);

			if (rm) {
				dev.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				dev.sin_port = htons(r->cfg.wg_port);
				if (sendto(rm->fd, d.data, d.len, 0, (struct sockaddr *)&dev,
					   sizeof(dev)) >= 0) {
					r->bytes_from += d.len;
					r->pkts_from++;
				}
				rm->last_ms = now;
			}
		} else if (rx == OV_TURN_RX_RESPONSE) {
			flush_output(r, now); /* the next request may be due (401, 438) */
			note_state(r);
		} else {
			r->dropped_server++;
		}
		pthread_mutex_unlock(&r->lock);
	}
}

/* What the device sent to one forwarder: to its remote, through the allocation. */
static void from_device(struct dmn_relay *r, struct relay_remote *rm)
{
	for (;;) {
		struct sockaddr_in src;
		socklen_t sl = sizeof(src);
		ssize_t n = recvfrom(rm->fd, r->in, sizeof(r->in), 0, (struct sockaddr *)&src, &sl);
		uint64_t now;
		int len;

		if (n < 0)
			return;
		if (sl != sizeof(src) || src.sin_family != AF_INET ||
		    src.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
		    ntohs(src.sin_port) != r->cfg.wg_port) {
			r->dropped_foreign++; /* only the device may use a forwarder */
			continue;
		}
		now = now_ms();
		len = ov_turn_send(&r->turn, now, &rm->peer, r->in, (size_t)n, r->out,
				   sizeof(r->out));
		if (len > 0 && send(r->sock, r->out, (size_t)len, 0) >= 0) {
			r->bytes_to += (uint64_t)n;
			r->pkts_to++;
		}
		rm->last_ms = now;
	}
}

static void *relay_thread(void *arg)
{
	struct dmn_relay *r = arg;
	struct pollfd pfd[2 + DMN_RELAY_MAX_REMOTES];
	struct relay_remote *owner[2 + DMN_RELAY_MAX_REMOTES];
	uint64_t last_expire = 0;

	for (;;) {
		uint64_t now = now_ms(), next;
		nfds_t n = 0, i;
		int timeout, ret;

		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			/* Deallocate: one Refresh with LIFETIME 0, not awaited (RFC 8656 §8). */
			ov_turn_close(&r->turn, now);
			flush_output(r, now);
			pthread_mutex_unlock(&r->lock);
			break;
		}
		flush_output(r, now);
		note_state(r);
		if (now - last_expire >= RELAY_TICK_MS) {
			remotes_expire(r, now);
			last_expire = now;
		}
		next = ov_turn_next_timer(&r->turn);
		timeout = next <= now		       ? 0
			  : next - now > RELAY_TICK_MS ? RELAY_TICK_MS
						       : (int)(next - now);
		pfd[n] = (struct pollfd){.fd = plat_wakeup_fd(r->wake), .events = POLLIN};
		owner[n++] = NULL;
		pfd[n] = (struct pollfd){.fd = r->sock, .events = POLLIN};
		owner[n++] = NULL;
		for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++) {
			if (!r->remotes[i].used)
				continue;
			pfd[n] = (struct pollfd){.fd = r->remotes[i].fd, .events = POLLIN};
			owner[n++] = &r->remotes[i];
		}
		pthread_mutex_unlock(&r->lock);

		ret = poll(pfd, n, timeout);
		if (ret < 0 && errno != EINTR) {
			log_error("relay: poll: %s", strerror(errno));
			break;
		}
		if (ret <= 0)
			continue;
		if (pfd[0].revents)
			plat_wakeup_wait(r->wake, 0);
		if (pfd[1].revents)
			from_server(r);
		for (i = 2; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			pthread_mutex_lock(&r->lock);
			/* Still the same forwarder (from_server may have made room in the table)?
			 */
			if (owner[i]->used && owner[i]->fd == pfd[i].fd)
				from_device(r, owner[i]);
			pthread_mutex_unlock(&r->lock);
		}
	}
	return NULL;
}

static int start_thread(void *arg)
{
	struct dmn_relay *r = arg;
	int e = pthread_create(&r->thread, NULL, relay_thread, r);

	return -e;
}

/* --- API --- */

int dmn_relay_start(const struct dmn_relay_config *cfg, struct dmn_relay **ret)
{
	struct ov_turn_env env = {.random = turn_random};
	struct dmn_relay *r;
	char s[DMN_ENDPOINT_STRLEN];
	size_t i;
	int e;

	if ((cfg->server.family != WG_AF_INET && cfg->server.family != WG_AF_INET6) ||
	    !cfg->server.port || !cfg->wg_port || !memchr(cfg->user, 0, sizeof(cfg->user)) ||
	    !memchr(cfg->pass, 0, sizeof(cfg->pass)))
		return -EINVAL;
	e = crypto_init();
	if (e < 0)
		return e;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++)
		r->remotes[i].fd = -1;
	r->sock = -1;
	pthread_mutex_init(&r->lock, NULL);
	ov_turn_init(&r->turn, &env, cfg->user, cfg->pass);
	r->logged_state = OV_TURN_IDLE;
	e = plat_wakeup_open(&r->wake);
	if (e < 0)
		goto fail;
	e = r->sock = open_server_socket(&cfg->server);
	if (e < 0)
		goto fail;
	ov_turn_start(&r->turn, now_ms());
	e = plat_with_signals_blocked(start_thread, r);
	if (e < 0)
		goto fail;
	r->thread_started = true;
	log_info("relay: allocating on TURN server %s as %s", dmn_endpoint_str(&cfg->server, s),
		 cfg->user);
	*ret = r;
	return 0;
fail:
	dmn_relay_free(r);
	return e;
}

void dmn_relay_free(struct dmn_relay *r)
{
	size_t i;

	if (!r)
		return;
	if (r->thread_started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_mutex_unlock(&r->lock);
		plat_wakeup_signal(r->wake);
		pthread_join(r->thread, NULL);
	}
	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++)
		if (r->remotes[i].fd >= 0)
			close(r->remotes[i].fd);
	if (r->sock >= 0)
		close(r->sock);
	plat_wakeup_close(r->wake);
	ov_turn_done(&r->turn);
	crypto_wipe(r->cfg.pass, sizeof(r->cfg.pass));
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void dmn_relay_set_credentials(struct dmn_relay *r, const char *user, const char *pass)
{
	pthread_mutex_lock(&r->lock);
	if (ov_turn_set_credentials(&r->turn, user, pass, now_ms()) < 0)
		log_error("relay: credentials too long, ignored");
	pthread_mutex_unlock(&r->lock);
	plat_wakeup_signal(r->wake);
}

int dmn_relay_permit(struct dmn_relay *r, const struct wg_endpoint *addrs, size_t n)
{
	int e;

	pthread_mutex_lock(&r->lock);
	e = ov_turn_permit(&r->turn, addrs, n, now_ms());
	pthread_mutex_unlock(&r->lock);
	plat_wakeup_signal(r->wake);
	return e;
}

void dmn_relay_status(struct dmn_relay *r, struct dmn_relay_status *ret)
{
	struct ov_turn_status st;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&r->lock);
	ov_turn_status(&r->turn, &st);
	ret->state = st.state == OV_TURN_ALLOCATED ? DMN_RELAY_ALLOCATED
		     : st.state == OV_TURN_FAILED || st.state == OV_TURN_CLOSED
			     ? DMN_RELAY_FAILED
			     : DMN_RELAY_CONNECTING;
	ret->relayed = st.relayed;
	ret->mapped = st.mapped;
	snprintf(ret->error, sizeof(ret->error), "%s", st.error);
	ret->since_ms = st.since_ms;
	ret->retry_at_ms = st.retry_at_ms;
	ret->bytes_to_peers = r->bytes_to;
	ret->bytes_from_peers = r->bytes_from;
	ret->packets_to_peers = r->pkts_to;
	ret->packets_from_peers = r->pkts_from;
	ret->remotes = r->nremotes;
	ret->channels_bound = st.channels_bound;
	ret->dropped_foreign = r->dropped_foreign;
	ret->dropped_server = r->dropped_server;
	pthread_mutex_unlock(&r->lock);
}

bool dmn_relay_remote_of(struct dmn_relay *r, const struct wg_endpoint *local,
			 struct wg_endpoint *ret_remote)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};
	bool found = false;
	size_t i;

	if (local->family != WG_AF_INET || memcmp(local->addr, lo, 4))
		return false;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < DMN_RELAY_MAX_REMOTES; i++) {
		if (r->remotes[i].used && r->remotes[i].port == local->port) {
			if (ret_remote)
				*ret_remote = r->remotes[i].peer;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

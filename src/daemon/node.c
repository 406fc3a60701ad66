/* SPDX-License-Identifier: MIT */
/*
 * daemon/node — the life of a weft node: load the state directory, bring up the WireGuard
 * device and the interface, configure peers from the cluster view, serve the control
 * channels, push (leader) or pull (member) the view, and tear everything down.
 *
 * The device is configured through the same UAPI codec that `wg` speaks to, so the daemon
 * cannot put the device in a state `wg set` could not. Peers are changed by difference with
 * what was applied last, so established sessions survive every view change.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "ctl/chan.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/addrfmt.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "platform/firewall.h"
#include "overlay/attach.h"
#include "platform/netif.h"
#include "platform/signals.h"
#include "platform/wakeup.h"

int dmn_node_open(struct dmn_node *n, const struct dmn_options *opt)
{
	char err[OV_STATE_ERR_LEN];
	uint8_t pub[OV_KEY_LEN];
	pthread_condattr_t ca;
	int r;

	memset(n, 0, sizeof(*n));
	n->opt = *opt;
	n->lock_fd = n->join_fd = n->ctl_fd = n->probe_fd = n->local_fd = -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->links_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the pull's timed waits */
	pthread_cond_init(&n->push_cond, &ca);
	pthread_condattr_destroy(&ca);
	ov_state_init(&n->st);
	r = ov_state_lock(opt->dir, &n->lock_fd, err, sizeof(err));
	if (r) {
		log_error("%s%s", err, r == -EBUSY ? " (is weftd already running?)" : "");
		return r;
	}
	r = ov_state_load(opt->dir, &n->st, err, sizeof(err));
	if (r) {
		log_error("%s%s", err,
			  r == -ENOENT ? " (run `weft init` or `weft join` first)"
				       : " (refusing to start; the file is left as it is)");
		return r;
	}
	if (!opt->ifname_set && n->st.ifname[0])
		strcpy(n->opt.ifname, n->st.ifname); /* weft join --interface */
	r = ov_state_key_load(opt->dir, n->private_key, err, sizeof(err));
	if (r) {
		log_error("%s", err);
		return r;
	}
	if (crypto_x25519_public(pub, n->private_key) ||
	    !crypto_equal(pub, n->st.self.public_key, OV_KEY_LEN)) {
		log_error("%s/%s: does not match node.public_key in %s", opt->dir,
			  OV_STATE_KEY_FILE, OV_STATE_FILE);
		return -EINVAL;
	}
	r = dmn_store_load_view(n);
	if (r)
		return r;
	if (n->st.role == OV_ROLE_LEADER) {
		r = dmn_store_load_tokens(n);
		if (r)
			return r;
	}
	return 0;
}

/* --- bring-up ----------------------------------------------------------------------------- */

static int to_plat_addr(const struct ov_prefix *p, uint8_t len, struct plat_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = p->family;
	memcpy(ret->addr, p->addr, 16);
	ret->prefix = len;
	return 0;
}

static int listen_tcp(int family, const void *addr, uint16_t port, const char *dev, int *ret)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, addr, 16);
		len = sizeof(*s);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if ((dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev))) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

static int open_probe(struct dmn_node *n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET))};
	int one = 1;

	memcpy(&sin.sin_addr, n->st.self.ip4.addr, 4);
	n->probe_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->probe_fd < 0)
		return -errno;
	setsockopt(n->probe_fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (setsockopt(n->probe_fd, SOL_SOCKET, SO_BINDTODEVICE, n->opt.ifname,
		       (socklen_t)strlen(n->opt.ifname)) ||
	    bind(n->probe_fd, (struct sockaddr *)&sin, sizeof(sin)))
		return -errno;
	return 0;
}

static int open_local(struct dmn_node *n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int r;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", n->opt.dir, DMN_SOCKET_FILE) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	unlink(sa.sun_path); /* the directory lock says no other weftd owns it */
	n->local_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (n->local_fd < 0)
		return -errno;
	old = umask(0077);
	r = bind(n->local_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r || listen(n->local_fd, 16))
		return -errno;
	return 0;
}

static void *dev_main(void *arg)
{
	struct dmn_node *n = arg;
	int r = dp_device_run(n->dev);

	if (r)
		log_error("%s: device loop ended: %s", n->opt.ifname, strerror(-r));
	else
		log_info("%s: device stopped", n->opt.ifname);
	plat_wakeup_signal(n->wake);
	return NULL;
}

/* --- the seal (platform/firewall.h): installed first at bring-up, removed last at close --- */

static int seal_up(struct dmn_node *n)
{
	struct plat_fw_seal_config cfg = {.wg_ifname = n->opt.ifname,
					  .bridge_prefix = OV_ATTACH_BRIDGE_PREFIX};
	char err[PLAT_FW_SEAL_ERR_LEN];
	int r;

	to_plat_addr(&n->st.cidr4, n->st.cidr4.len, &cfg.cidr4);
	to_plat_addr(&n->st.cidr6, n->st.cidr6.len, &cfg.cidr6);
	r = plat_firewall_seal(&cfg, &n->seal, err, sizeof(err));
	if (r) {
		log_error("%s (the overlay is not started unsealed)", err);
		return r;
	}
	log_info("firewall: table inet %s: only %s and %s* reach the overlay and the containers",
		 PLAT_FW_SEAL_TABLE, n->opt.ifname, OV_ATTACH_BRIDGE_PREFIX);
	return 0;
}

int dmn_node_up(struct dmn_node *n)
{
	struct dp_config cfg = {.ifname = n->opt.ifname, .mtu = n->st.mtu, .uapi_socket = true,
				.uapi_dir = NULL};
	struct plat_addr a4, a6;
	char hex[2 * OV_KEY_LEN + 1], text[256];
	uint16_t ctl_port = (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET);
	int r;

	r = seal_up(n);
	if (r)
		return r;
	r = dp_device_new(&cfg, &n->dev);
	if (r) {
		log_error("%s: cannot create the interface: %s", n->opt.ifname,
			  r == -EEXIST	   ? "a non-TUN link has that name"
			  : r == -EINVAL   ? "invalid interface name"
			  : r == -EADDRINUSE ? "its UAPI socket is in use"
					     : strerror(-r));
		return r;
	}
	n->ifindex = dp_device_ifindex(n->dev);
	dmn_hex(n->private_key, OV_KEY_LEN, hex);
	snprintf(text, sizeof(text), "private_key=%s\nlisten_port=%u\n", hex, n->st.port);
	crypto_wipe(hex, sizeof(hex));
	r = dmn_view_uapi(n, text);
	crypto_wipe(text, sizeof(text));
	if (r) {
		log_error("%s: cannot listen on UDP port %u: %s", n->opt.ifname, n->st.port,
			  strerror(-r));
		return r;
	}
	/* The whole cluster range is on-link through the interface: one route for all nodes,
	 * their slices and their service subnets. */
	to_plat_addr(&n->st.self.ip4, n->st.cidr4.len, &a4);
	to_plat_addr(&n->st.self.ip6, n->st.cidr6.len, &a6);
	if ((r = plat_netif_set_mtu(n->ifindex, n->st.mtu)) ||
	    (r = plat_netif_add_address(n->ifindex, &a4)) ||
	    (r = plat_netif_add_address(n->ifindex, &a6)) ||
	    (r = plat_netif_set_up(n->ifindex, true))) {
		log_error("%s: configuring the interface: %s", n->opt.ifname, strerror(-r));
		return r;
	}
	pthread_mutex_lock(&n->lock);
	if (n->st.role == OV_ROLE_LEADER && n->view.n_paths) {
		/* the paths nodes reported before a restart, until they report again */
		n->lead_paths = calloc(n->view.n_paths, sizeof(*n->lead_paths));
		if (n->lead_paths) {
			memcpy(n->lead_paths, n->view.paths, n->view.n_paths * sizeof(*n->lead_paths));
			n->n_lead_paths = n->view.n_paths;
		}
	}
	if (n->st.role == OV_ROLE_LEADER)
		r = dmn_lead_publish(n);
	else
		r = dmn_view_apply(n);
	pthread_mutex_unlock(&n->lock);
	if (r)
		return r;
	if (n->st.role == OV_ROLE_LEADER) {
		static const uint8_t any6[16];

		r = listen_tcp(AF_INET6, any6, n->st.port, NULL, &n->join_fd);
		if (r == -EAFNOSUPPORT) {
			static const uint8_t any4[4];

			r = listen_tcp(AF_INET, any4, n->st.port, NULL, &n->join_fd);
		}
		if (r) {
			log_error("join listener on TCP port %u: %s", n->st.port, strerror(-r));
			return r;
		}
	}
	r = listen_tcp(AF_INET, n->st.self.ip4.addr, ctl_port, n->opt.ifname, &n->ctl_fd);
	if (r) {
		log_error("control listener on %s TCP port %u: %s", n->opt.ifname, ctl_port,
			  strerror(-r));
		return r;
	}
	r = open_probe(n);
	if (r) {
		log_error("health probe socket on UDP port %u: %s", ctl_port, strerror(-r));
		return r;
	}
	r = open_local(n);
	if (r) {
		log_error("%s/%s: %s", n->opt.dir, DMN_SOCKET_FILE, strerror(-r));
		return r;
	}
	r = dmn_dns_start(n);
	if (r)
		return r;
	n->conns_live = calloc(DMN_CONNS_LIVE_MAX, sizeof(*n->conns_live));
	if (!n->conns_live)
		return -ENOMEM;
	r = plat_wakeup_open(&n->wake);
	if (r)
		return r;
	/* NAT traversal: the device's hook for STUN goes in before its threads start */
	r = dmn_nat_start(n);
	if (r) {
		log_error("NAT traversal: %s", strerror(-r));
		return r;
	}
	r = dp_device_start(n->dev);
	if (r) {
		log_error("%s: cannot start the device threads: %s", n->opt.ifname, strerror(-r));
		return r;
	}
	r = pthread_create(&n->dev_thread, NULL, dev_main, n);
	if (r)
		return -r;
	n->dev_thread_live = true;
	r = pthread_create(&n->view_thread, NULL,
			   n->st.role == OV_ROLE_LEADER ? dmn_lead_push_main : dmn_member_pull_main,
			   n);
	if (r)
		return -r;
	n->view_thread_live = true;
	return dmn_metrics_start(n); /* ops: --metrics (daemon/metrics.c) */
}

/* --- the loop ------------------------------------------------------------------------------ */

enum conn_kind { CONN_LOCAL, CONN_OVERLAY, CONN_JOIN };

static const struct {
	const char *name;
	unsigned max;
} conn_kinds[] = {
	[CONN_LOCAL] = {"local", DMN_CONNS_LOCAL},
	[CONN_OVERLAY] = {"control", DMN_CONNS_OVERLAY},
	[CONN_JOIN] = {"join", DMN_CONNS_JOIN},
};

struct dmn_conn {
	struct dmn_node *n;
	int fd;
	enum conn_kind kind;
	struct sockaddr_storage from;
	bool proven;  /* set (atomically) by the server once the sender proved its key */
	bool evicted; /* shut down to make room; its thread is on its way out */
};

static bool same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)b)->sin_addr, 4);
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return false;
}

/*
 * Takes a place for connection c; false when its budgets are spent. When the channel's
 * budget or its source's is spent, the oldest connection there that has not proven its key
 * yet gives way (it is shut down; a proven one never is): a flood of connections that never
 * finish a handshake cannot keep a real node or joiner out, whose handshake takes
 * milliseconds. Lock held.
 */
static bool conn_take(struct dmn_node *n, struct dmn_conn *c)
{
	struct dmn_conn *victim = NULL;
	size_t same = 0, live = 0;

	if (c->kind == CONN_LOCAL) {
		if (n->conns_local >= conn_kinds[CONN_LOCAL].max)
			return false;
		n->conns_local++;
		return true;
	}
	for (size_t i = 0; i < n->n_conns_live; i++) {
		struct dmn_conn *o = n->conns_live[i];

		if (o->kind != c->kind || o->evicted)
			continue;
		live++;
		same += same_source(&o->from, &c->from);
	}
	if (live >= conn_kinds[c->kind].max || same >= DMN_CONNS_PER_SOURCE) {
		bool by_source = same >= DMN_CONNS_PER_SOURCE;

		/* conns_live is in arrival order: the first match is the oldest. */
		for (size_t i = 0; i < n->n_conns_live && !victim; i++) {
			struct dmn_conn *o = n->conns_live[i];

			if (o->kind == c->kind && !o->evicted &&
			    !__atomic_load_n(&o->proven, __ATOMIC_ACQUIRE) &&
			    (!by_source || same_source(&o->from, &c->from)))
				victim = o;
		}
		/* Evicted ones still hold their place until their thread ends: at most as
		 * many again. */
		if (!victim || n->n_conns_live >= DMN_CONNS_LIVE_MAX)
			return false;
		victim->evicted = true;
		shutdown(victim->fd, SHUT_RDWR);
	}
	n->conns_live[n->n_conns_live++] = c;
	return true;
}

static void conn_release(struct dmn_node *n, struct dmn_conn *c)
{
	if (c->kind == CONN_LOCAL) {
		n->conns_local--;
		return;
	}
	for (size_t i = 0; i < n->n_conns_live; i++)
		if (n->conns_live[i] == c) {
			memmove(&n->conns_live[i], &n->conns_live[i + 1],
				(n->n_conns_live - i - 1) * sizeof(n->conns_live[0]));
			n->n_conns_live--;
			break;
		}
}

static void *conn_main(void *arg)
{
	struct dmn_conn *c = arg;
	struct dmn_node *n = c->n;

	if (c->kind == CONN_LOCAL)
		dmn_serve_local(n, c->fd);
	else if (c->kind == CONN_OVERLAY)
		dmn_serve_overlay(n, c->fd, &c->from, &c->proven);
	else
		dmn_serve_join(n, c->fd, &c->from, &c->proven);
	/* Released before the fd is closed: an eviction never shuts down a reused fd. */
	pthread_mutex_lock(&n->lock);
	conn_release(n, c);
	pthread_mutex_unlock(&n->lock);
	close(c->fd);
	free(c);
	return NULL;
}

static void accept_one(struct dmn_node *n, int lfd, enum conn_kind kind)
{
	struct dmn_conn *c = calloc(1, sizeof(*c));
	socklen_t len = sizeof(c ? c->from : (struct sockaddr_storage){0});
	pthread_attr_t attr;
	pthread_t t;
	bool ok;
	int fd;

	if (!c)
		return;
	fd = accept4(lfd, (struct sockaddr *)&c->from, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		free(c);
		return;
	}
	c->n = n;
	c->fd = fd;
	c->kind = kind;
	pthread_mutex_lock(&n->lock);
	ok = conn_take(n, c);
	pthread_mutex_unlock(&n->lock);
	if (!ok) {
		char who[ADDRFMT_LEN] = "local";

		if (kind != CONN_LOCAL)
			addrfmt_sockaddr((const struct sockaddr *)&c->from, sizeof(c->from), false,
					 who);
		log_debug("%s: connection from %s refused: its budget is spent",
			  conn_kinds[kind].name, who);
		close(fd);
		free(c);
		return;
	}
	/* A small stack: a connection thread holds one frame on the heap at most. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	if (pthread_create(&t, &attr, conn_main, c)) {
		pthread_mutex_lock(&n->lock);
		conn_release(n, c);
		pthread_mutex_unlock(&n->lock);
		close(fd);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

int dmn_node_run(struct dmn_node *n)
{
	struct plat_signals *sig;
	int r;
	uint64_t next_health = 0, next_sweep = 0;

	r = plat_signals_open(&sig);
	if (r)
		return r;
	for (;;) {
		struct pollfd p[6] = {
			{.fd = plat_signals_fd(sig), .events = POLLIN, .revents = 0},
			{.fd = plat_wakeup_fd(n->wake), .events = POLLIN, .revents = 0},
			{.fd = n->local_fd, .events = POLLIN, .revents = 0},
			{.fd = n->ctl_fd, .events = POLLIN, .revents = 0},
			{.fd = n->join_fd, .events = POLLIN, .revents = 0},
			{.fd = n->probe_fd, .events = POLLIN, .revents = 0},
		};
		uint64_t now = dmn_now_ms();

		if (now >= next_health) {
			dmn_health_tick(n);
			next_health = now + n->opt.health_interval_ms / 4 + 1;
		}
		if (now >= next_sweep) {
			dmn_attach_sweep(n);
			next_sweep = now + DMN_SWEEP_INTERVAL_MS;
		}
		if (n->st.role == OV_ROLE_LEADER && __atomic_load_n(&n->paths_publish, __ATOMIC_RELAXED)) {
			/* the leader's own paths changed (nat.c, which is below lead.c) */
			pthread_mutex_lock(&n->lock);
			n->paths_publish = false;
			if (dmn_lead_publish(n))
				n->paths_publish = true;
			pthread_mutex_unlock(&n->lock);
		}
		if (poll(p, 6, 250) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (p[0].revents & POLLIN) {
			int signo = plat_signals_read(sig);

			if (signo > 0)
				log_info("signal %d: shutting down", signo);
			break;
		}
		if (p[1].revents & POLLIN) {
			/* The device loop ended (its signals are ours: dp_config.own_signals is
			 * false): the interface was deleted, or its UAPI socket. */
			if (plat_netif_index(n->opt.ifname) > 0) {
				log_error("%s: the device stopped: shutting down", n->opt.ifname);
				r = -ENODEV;
			} else {
				log_error("%s: the interface was deleted: shutting down",
					  n->opt.ifname);
				r = -ENODEV;
			}
			break;
		}
		if (p[2].revents & POLLIN)
			accept_one(n, n->local_fd, CONN_LOCAL);
		if (p[3].revents & POLLIN)
			accept_one(n, n->ctl_fd, CONN_OVERLAY);
		if (p[4].revents & POLLIN)
			accept_one(n, n->join_fd, CONN_JOIN);
		if (p[5].revents & POLLIN)
			dmn_health_input(n);
	}
	plat_signals_close(sig);
	return r;
}

void dmn_node_close(struct dmn_node *n)
{
	char path[PATH_MAX + 32];

	/* Nothing waits out a peer that is away: calls in progress end now, and connections
	 * being served are shut down (their threads end at their next read). */
	dmn_links_cut(n);
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->push_cond);
	for (size_t i = 0; n->conns_live && i < n->n_conns_live; i++)
		shutdown(n->conns_live[i]->fd, SHUT_RDWR);
	pthread_mutex_unlock(&n->lock);
	dmn_metrics_stop(n); /* ops: its collectors read the device */
	if (n->view_thread_live)
		pthread_join(n->view_thread, NULL);
	dmn_nat_stop(n); /* before the device: it sends through it */
	if (n->dev_thread_live) {
		dp_device_stop(n->dev);
		pthread_join(n->dev_thread, NULL);
	}
	dmn_dns_stop(n);
	/* Connection threads are detached: wait (bounded) for them to finish. */
	unsigned live = 0;

	for (int i = 0; i < 100; i++) {
		unsigned c;

		pthread_mutex_lock(&n->lock);
		c = n->conns_local + (unsigned)n->n_conns_live;
		pthread_mutex_unlock(&n->lock);
		live = c;
		if (!c)
			break;
		usleep(50000);
	}
	dp_device_free(n->dev);
	n->dev = NULL;
	dmn_nat_free(n); /* after the device: its hook ran on the device's threads */
	free(n->lead_paths);
	n->lead_paths = NULL;
	if (n->local_fd >= 0) {
		snprintf(path, sizeof(path), "%s/%s", n->opt.dir, DMN_SOCKET_FILE);
		unlink(path);
	}
	int *fds[] = {&n->join_fd, &n->ctl_fd, &n->probe_fd, &n->local_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	plat_wakeup_close(n->wake);
	ov_state_done(&n->st);
	dmn_view_done(&n->view);
	dmn_view_done(&n->applied);
	free(n->health);
	if (!live) /* else a connection thread still counts its source in it */
		free(n->conns_live);
	crypto_wipe(n->private_key, sizeof(n->private_key));
	crypto_wipe(&n->tokens, sizeof(n->tokens));
	plat_firewall_unseal(n->seal); /* the seal: last, once nothing of the node runs */
	n->seal = NULL;
	ov_state_unlock(n->lock_fd);
}


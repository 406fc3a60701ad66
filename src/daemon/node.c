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
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/io.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "platform/firewall.h"
#include "platform/netif.h"

uint64_t dmn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void dmn_overlay_addr(const struct dmn_node *n, const struct ov_peer *p, uint16_t port,
		      struct sockaddr_storage *ret)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ret;

	(void)n;
	memset(ret, 0, sizeof(*ret));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	memcpy(&sin->sin_addr, p->ip4.addr, 4);
}

/* --- files ---------------------------------------------------------------------------- */

static int save_view(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN];
	json_t *j = dmn_view_to_json(&n->view);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int r;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	r = ov_state_write_file(n->opt.dir, DMN_VIEW_FILE, text, strlen(text), 0, err,
				sizeof(err));
	free(text);
	if (r)
		log_error("%s", err);
	return r;
}

static int save_tokens(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], *text;
	size_t len;
	int r = dmn_tokens_format(&n->tokens, &text, &len);

	if (r)
		return r;
	r = ov_state_write_file(n->opt.dir, DMN_TOKENS_FILE, text, len, 0, err, sizeof(err));
	crypto_wipe(text, len);
	free(text);
	if (r)
		log_error("%s", err);
	return r;
}

static int load_view(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], why[OV_STATE_ERR_LEN];
	size_t len;
	char *buf;
	json_t *j;
	int r;

	r = ov_state_read_file(n->opt.dir, DMN_VIEW_FILE, DMN_CTL_MAX_PAYLOAD, &buf, &len, err,
			       sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r) {
		log_error("%s", err);
		return r;
	}
	j = dmn_ctl_json_parse((const uint8_t *)buf, len, why, sizeof(why));
	free(buf);
	r = j ? dmn_view_from_json(j, &n->st, &n->view, why, sizeof(why)) : -EINVAL;
	json_decref(j);
	if (r)
		log_error("%s/%s: %s (refusing to start; the file is left as it is)", n->opt.dir,
			  DMN_VIEW_FILE, why);
	return r;
}

static int load_tokens(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], why[OV_STATE_ERR_LEN];
	size_t len;
	char *buf;
	int r;

	r = ov_state_read_file(n->opt.dir, DMN_TOKENS_FILE, 1 << 20, &buf, &len, err,
			       sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r) {
		log_error("%s", err);
		return r;
	}
	r = dmn_tokens_parse(buf, len, &n->tokens, why, sizeof(why));
	crypto_wipe(buf, len);
	free(buf);
	if (r)
		log_error("%s/%s: %s (refusing to start; the file is left as it is)", n->opt.dir,
			  DMN_TOKENS_FILE, why);
	return r;
}

int dmn_node_open(struct dmn_node *n, const struct dmn_options *opt)
{
	char err[OV_STATE_ERR_LEN];
	uint8_t pub[OV_KEY_LEN];
	int r;

	memset(n, 0, sizeof(*n));
	n->opt = *opt;
	n->lock_fd = n->join_fd = n->ctl_fd = n->probe_fd = n->local_fd = n->wake_fd = -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->push_cond, NULL);
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
	r = load_view(n);
	if (r)
		return r;
	if (n->st.role == OV_ROLE_LEADER) {
		r = load_tokens(n);
		if (r)
			return r;
	}
	return 0;
}

/* --- the device --------------------------------------------------------------------------- */

static int apply_uapi(struct dmn_node *n, const char *text)
{
	struct uapi_parser p;
	struct uapi_set set;
	const char *line = text;
	int r = 0;

	uapi_parser_init(&p, &set);
	while (*line && !r) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len)
			r = uapi_parser_line(&p, line, len);
		line += len + (nl ? 1 : 0);
	}
	if (!r)
		r = uapi_parser_finish(&p);
	if (r)
		log_error("%s: internal UAPI request refused: %s", n->opt.ifname, p.msg);
	else
		r = dp_device_apply(n->dev, &set);
	uapi_set_free(&set);
	return r;
}

static void key_hex(const uint8_t key[OV_KEY_LEN], char out[2 * OV_KEY_LEN + 1])
{
	dmn_hex(key, OV_KEY_LEN, out);
}

static const struct ov_peer *find_by_key(const struct dmn_view *v, const uint8_t *key)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (!memcmp(v->nodes[i].public_key, key, OV_KEY_LEN))
			return &v->nodes[i];
	return NULL;
}

static void peer_lines(struct dmn_node *n, struct strbuf *sb, const struct ov_peer *p,
		       const struct ov_peer *old)
{
	char hex[2 * OV_KEY_LEN + 1], ep[OV_ENDPOINT_STRLEN], pf[OV_PREFIX_STRLEN];

	key_hex(p->public_key, hex);
	strbuf_appendf(sb, "public_key=%s\n", hex);
	/* The endpoint only when it is new: one learned by roaming is not overwritten. */
	if (p->has_endpoint && (!old || !old->has_endpoint ||
				memcmp(&old->endpoint, &p->endpoint, sizeof(p->endpoint)))) {
		ov_endpoint_format(&p->endpoint, ep);
		strbuf_appendf(sb, "endpoint=%s\n", ep);
	}
	strbuf_appendf(sb, "persistent_keepalive_interval=%u\nreplace_allowed_ips=true\n",
		       n->st.keepalive);
	ov_addr_format(&p->ip4, pf);
	strbuf_appendf(sb, "allowed_ip=%s/32\n", pf);
	ov_addr_format(&p->ip6, pf);
	strbuf_appendf(sb, "allowed_ip=%s/128\n", pf);
	ov_prefix_format(&p->slice, pf);
	strbuf_appendf(sb, "allowed_ip=%s\n", pf);
	for (size_t i = 0; i < n->view.n_subnets; i++)
		if (!strcmp(n->view.subnets[i].node, p->name)) {
			ov_prefix_format(&n->view.subnets[i].subnet, pf);
			strbuf_appendf(sb, "allowed_ip=%s\n", pf);
		}
}

/* Device peers := view nodes other than this one (none once removed). Lock held. */
static int sync_peers(struct dmn_node *n)
{
	struct strbuf sb;
	char hex[2 * OV_KEY_LEN + 1];
	int r;

	strbuf_init(&sb, UAPI_MAX_REPLY);
	for (size_t i = 0; i < n->applied.n_nodes; i++) {
		const struct ov_peer *p = &n->applied.nodes[i];

		if (n->removed || !find_by_key(&n->view, p->public_key)) {
			key_hex(p->public_key, hex);
			strbuf_appendf(&sb, "public_key=%s\nremove=true\n", hex);
		}
	}
	for (size_t i = 0; i < n->view.n_nodes && !n->removed; i++) {
		const struct ov_peer *p = &n->view.nodes[i];

		if (!memcmp(p->public_key, n->st.self.public_key, OV_KEY_LEN))
			continue;
		peer_lines(n, &sb, p, find_by_key(&n->applied, p->public_key));
	}
	r = sb.error;
	if (!r && strbuf_str(&sb)[0])
		r = apply_uapi(n, strbuf_str(&sb));
	strbuf_free(&sb);
	if (r) {
		log_error("%s: configuring peers: %s", n->opt.ifname, strerror(-r));
		return r;
	}
	dmn_view_done(&n->applied);
	return dmn_view_copy(&n->view, &n->applied);
}

int dmn_node_view_changed(struct dmn_node *n)
{
	const struct ov_peer *me = dmn_view_node(&n->view, n->st.self.name);
	int r;

	if (n->st.role == OV_ROLE_MEMBER && n->view.n_nodes && !me) {
		if (!n->removed)
			log_info("this node is no longer in the cluster view (removed by the "
				 "leader): dropping all peers");
		n->removed = true;
	} else if (me && memcmp(me->public_key, n->st.self.public_key, OV_KEY_LEN)) {
		log_error("the cluster view has another key for %s: ignoring it", me->name);
		return -EINVAL;
	}
	r = sync_peers(n);
	dmn_dns_update(n);
	if (save_view(n))
		r = r ? r : -EIO;
	return r;
}

/* The view as the leader's state makes it; services and records carried over. */
int dmn_leader_build_view(struct dmn_node *n, struct dmn_view *v)
{
	const struct ov_alloc *a = &n->st.alloc;

	memset(v, 0, sizeof(*v));
	v->generation = n->view.generation + 1;
	strcpy(v->leader, n->st.self.name);
	v->nodes = calloc(n->st.n_members + 1, sizeof(*v->nodes));
	v->subnets = calloc(a->n_subnets + 1, sizeof(*v->subnets));
	v->services = calloc(n->view.n_services + 1, sizeof(*v->services));
	v->records = calloc(n->view.n_records + 1, sizeof(*v->records));
	if (!v->nodes || !v->subnets || !v->services || !v->records) {
		dmn_view_done(v);
		return -ENOMEM;
	}
	v->nodes[v->n_nodes++] = n->st.self;
	for (size_t i = 0; i < n->st.n_members; i++)
		v->nodes[v->n_nodes++] = n->st.members[i];
	for (size_t i = 0; i < a->n_subnets; i++) {
		struct dmn_subnet *s = &v->subnets[v->n_subnets];

		strcpy(s->service, a->subnets[i].service);
		strcpy(s->node, a->subnets[i].node);
		if (ov_alloc_subnet_get(a, s->service, s->node, &s->subnet) == 0)
			v->n_subnets++;
	}
	/* Services stay only while their node and subnet do. */
	for (size_t i = 0; i < n->view.n_services; i++) {
		const struct dmn_service *s = &n->view.services[i];
		struct ov_prefix sn;

		if (ov_alloc_subnet_get(a, s->service, s->node, &sn) == 0 &&
		    ov_prefix_contains(&sn, &s->addr))
			v->services[v->n_services++] = *s;
	}
	for (size_t i = 0; i < n->view.n_records; i++)
		v->records[v->n_records++] = n->view.records[i];
	return 0;
}

int dmn_leader_publish(struct dmn_node *n)
{
	struct dmn_view v;
	int r = dmn_leader_build_view(n, &v);

	if (r)
		return r;
	dmn_view_done(&n->view);
	n->view = v;
	r = dmn_node_view_changed(n);
	n->push_pending = true;
	pthread_cond_signal(&n->push_cond);
	return r;
}

/* --- leader: push the view to every member ----------------------------------------------- */

static void *push_main(void *arg)
{
	struct dmn_node *n = arg;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct sockaddr_storage *addrs;
		char (*names)[OV_ALLOC_NAME_MAX + 1];
		size_t count;
		json_t *j;

		while (!n->push_pending && !n->stopping)
			pthread_cond_wait(&n->push_cond, &n->lock);
		if (n->stopping)
			break;
		n->push_pending = false;
		j = dmn_view_to_json(&n->view);
		count = n->view.n_nodes;
		addrs = calloc(count + 1, sizeof(*addrs));
		names = calloc(count + 1, sizeof(*names));
		for (size_t i = 0; addrs && names && i < count; i++) {
			dmn_overlay_addr(n, &n->view.nodes[i],
					 (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &addrs[i]);
			strcpy(names[i], n->view.nodes[i].name);
		}
		pthread_mutex_unlock(&n->lock);
		for (size_t i = 0; j && addrs && names && i < count; i++) {
			int fd;

			if (!strcmp(names[i], n->st.self.name))
				continue;
			fd = dmn_io_connect(&addrs[i], 2000, n->opt.ifname);
			if (fd < 0) {
				log_debug("push to %s: %s (it will pull)", names[i],
					  strerror(-fd));
				continue;
			}
			if (dmn_io_send(fd, DMN_CTL_VIEW, j, NULL) == 0)
				log_debug("pushed the view to %s", names[i]);
			close(fd);
		}
		json_decref(j);
		free(addrs);
		free(names);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
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
	uint64_t one = 1;
	int r = dp_device_run(n->dev);

	if (r)
		log_error("%s: device loop ended: %s", n->opt.ifname, strerror(-r));
	else
		log_info("%s: device stopped", n->opt.ifname);
	if (write(n->wake_fd, &one, sizeof(one)) != sizeof(one)) {
		/* the main loop is gone already */
	}
	return NULL;
}

/* --- the seal (platform/firewall.h): installed first at bring-up, removed last at close --- */

#define SEAL_BRIDGE_PREFIX "wb-" /* overlay/attach.h: every service bridge is "wb-..." */

static int seal_up(struct dmn_node *n)
{
	struct plat_fw_seal_config cfg = {.wg_ifname = n->opt.ifname,
					  .bridge_prefix = SEAL_BRIDGE_PREFIX};
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
		 PLAT_FW_SEAL_TABLE, n->opt.ifname, SEAL_BRIDGE_PREFIX);
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
	key_hex(n->private_key, hex);
	snprintf(text, sizeof(text), "private_key=%s\nlisten_port=%u\n", hex, n->st.port);
	crypto_wipe(hex, sizeof(hex));
	r = apply_uapi(n, text);
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
	if (n->st.role == OV_ROLE_LEADER)
		r = dmn_leader_publish(n);
	else
		r = dmn_node_view_changed(n);
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
	n->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->wake_fd < 0)
		return -errno;
	r = dp_device_start(n->dev);
	if (r) {
		log_error("%s: cannot start the device threads: %s", n->opt.ifname, strerror(-r));
		return r;
	}
	r = pthread_create(&n->dev_thread, NULL, dev_main, n);
	if (r)
		return -r;
	n->dev_thread_live = true;
	if (n->st.role == OV_ROLE_LEADER) {
		r = pthread_create(&n->push_thread, NULL, push_main, n);
		if (r)
			return -r;
		n->push_thread_live = true;
	}
	return 0;
}

/* --- the loop ------------------------------------------------------------------------------ */

struct conn {
	struct dmn_node *n;
	int fd;
	int kind; /* 0 local, 1 overlay, 2 join */
	struct sockaddr_storage from;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct dmn_node *n = c->n;

	dmn_io_set_timeout(c->fd, DMN_IO_TIMEOUT_MS);
	if (c->kind == 0)
		dmn_serve_local(n, c->fd);
	else if (c->kind == 1)
		dmn_serve_overlay(n, c->fd, &c->from);
	else
		dmn_serve_join(n, c->fd, &c->from);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&n->lock);
	n->conns--;
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

static void accept_one(struct dmn_node *n, int lfd, int kind)
{
	struct conn *c = calloc(1, sizeof(*c));
	socklen_t len = sizeof(c ? c->from : (struct sockaddr_storage){0});
	pthread_attr_t attr;
	pthread_t t;
	int fd;

	if (!c)
		return;
	fd = accept4(lfd, (struct sockaddr *)&c->from, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		free(c);
		return;
	}
	pthread_mutex_lock(&n->lock);
	if (n->conns >= DMN_MAX_CONNS) {
		pthread_mutex_unlock(&n->lock);
		log_info("control: %d connections already served, refusing one", DMN_MAX_CONNS);
		close(fd);
		free(c);
		return;
	}
	n->conns++;
	pthread_mutex_unlock(&n->lock);
	c->n = n;
	c->fd = fd;
	c->kind = kind;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_main, c)) {
		close(fd);
		free(c);
		pthread_mutex_lock(&n->lock);
		n->conns--;
		pthread_mutex_unlock(&n->lock);
	}
	pthread_attr_destroy(&attr);
}

int dmn_node_run(struct dmn_node *n)
{
	sigset_t mask;
	int sfd, r = 0;
	uint64_t next_pull = 0, next_health = 0, next_sweep = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	for (;;) {
		struct pollfd p[6] = {
			{.fd = sfd, .events = POLLIN, .revents = 0},
			{.fd = n->wake_fd, .events = POLLIN, .revents = 0},
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
		if (n->st.role == OV_ROLE_MEMBER && !n->removed && now >= next_pull) {
			if (next_pull)
				dmn_member_refresh(n);
			next_pull = now + n->opt.pull_interval_ms;
		}
		if (poll(p, 6, 250) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: shutting down", si.ssi_signo);
			break;
		}
		if (p[1].revents & POLLIN) {
			/* The device loop ended: its thread took a SIGTERM meant for us, or the
			 * interface was deleted. */
			if (plat_netif_index(n->opt.ifname) > 0) {
				log_info("signal: shutting down");
			} else {
				log_error("%s: the interface was deleted: shutting down",
					  n->opt.ifname);
				r = -ENODEV;
			}
			break;
		}
		if (p[2].revents & POLLIN)
			accept_one(n, n->local_fd, 0);
		if (p[3].revents & POLLIN)
			accept_one(n, n->ctl_fd, 1);
		if (p[4].revents & POLLIN)
			accept_one(n, n->join_fd, 2);
		if (p[5].revents & POLLIN)
			dmn_health_input(n);
	}
	close(sfd);
	return r;
}

void dmn_node_close(struct dmn_node *n)
{
	char path[PATH_MAX + 32];

	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->push_cond);
	pthread_mutex_unlock(&n->lock);
	if (n->push_thread_live)
		pthread_join(n->push_thread, NULL);
	if (n->dev_thread_live) {
		dp_device_stop(n->dev);
		pthread_join(n->dev_thread, NULL);
	}
	dmn_dns_stop(n);
	/* Connection threads are detached: wait (bounded) for them to finish. */
	for (int i = 0; i < 100; i++) {
		unsigned c;

		pthread_mutex_lock(&n->lock);
		c = n->conns;
		pthread_mutex_unlock(&n->lock);
		if (!c)
			break;
		usleep(50000);
	}
	dp_device_free(n->dev);
	n->dev = NULL;
	if (n->local_fd >= 0) {
		snprintf(path, sizeof(path), "%s/%s", n->opt.dir, DMN_SOCKET_FILE);
		unlink(path);
	}
	int *fds[] = {&n->join_fd, &n->ctl_fd, &n->probe_fd, &n->local_fd, &n->wake_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	ov_state_done(&n->st);
	dmn_view_done(&n->view);
	dmn_view_done(&n->applied);
	free(n->health);
	crypto_wipe(n->private_key, sizeof(n->private_key));
	crypto_wipe(&n->tokens, sizeof(n->tokens));
	plat_firewall_unseal(n->seal); /* the seal: last, once nothing of the node runs */
	n->seal = NULL;
	ov_state_unlock(n->lock_fd);
}

int dmn_node_save_state(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN];
	int r = ov_state_save(n->opt.dir, &n->st, 0, err, sizeof(err));

	if (r)
		log_error("%s", err);
	return r;
}

int dmn_node_save_tokens(struct dmn_node *n)
{
	return save_tokens(n);
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/serve — the handlers of weftd's three control channels (see ctl.h and node.h):
 * the local CLI socket, the overlay channel between members and the leader, and the
 * leader's join listener. Each runs on its own connection thread and takes the node lock
 * only around what it reads or changes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/io.h"
#include "daemon/leader.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/log.h"

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	const void *a = ss->ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)len))
		snprintf(out, len, "?");
}

/* The view node whose overlay IPv4 address sent this (WireGuard vouched for it). */
static const struct ov_peer *node_by_addr(const struct dmn_node *n,
					  const struct sockaddr_storage *from)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)from;

	if (from->ss_family != AF_INET)
		return NULL;
	for (size_t i = 0; i < n->view.n_nodes; i++)
		if (!memcmp(n->view.nodes[i].ip4.addr, &sin->sin_addr, 4))
			return &n->view.nodes[i];
	return NULL;
}

int dmn_ask_leader(struct dmn_node *n, const struct dmn_request *req, uint8_t *ret_type,
		   json_t **ret, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	json_t *j = dmn_request_to_json(req);
	int fd, r;

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	dmn_overlay_addr(n, &n->st.leader, (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &sa);
	pthread_mutex_unlock(&n->lock);
	fd = dmn_io_connect(&sa, 3000, n->opt.ifname);
	if (fd < 0) {
		snprintf(err, errlen, "cannot reach the leader %s over the overlay: %s",
			 n->st.leader.name, strerror(-fd));
		json_decref(j);
		return fd;
	}
	r = dmn_io_call(fd, j, ret_type, ret, err, errlen);
	close(fd);
	json_decref(j);
	return r;
}

void dmn_serve_view_frame(struct dmn_node *n, const json_t *j)
{
	char err[256];
	struct dmn_view v;

	pthread_mutex_lock(&n->lock);
	if (dmn_view_from_json(j, &n->st, &v, err, sizeof(err))) {
		log_error("view from the leader refused: %s", err);
	} else if (strcmp(v.leader, n->st.leader.name)) {
		log_error("view names %s as leader, not %s: refused", v.leader, n->st.leader.name);
		dmn_view_done(&v);
	} else if (v.generation <= n->view.generation) {
		log_debug("view generation %" PRIu64 " is not newer than %" PRIu64, v.generation,
			  n->view.generation);
		dmn_view_done(&v);
	} else {
		log_info("cluster view generation %" PRIu64 ": %zu nodes, %zu services",
			 v.generation, v.n_nodes, v.n_services);
		dmn_view_done(&n->view);
		n->view = v;
		dmn_node_view_changed(n);
	}
	pthread_mutex_unlock(&n->lock);
}

/* --- leader operations: the decisions are daemon/leader.c's; here the saving and the log --- */

static int leader_random(void *buf, size_t len)
{
	return crypto_random(buf, len) ? -EIO : 0;
}

static struct dmn_leader leader_of(struct dmn_node *n)
{
	return (struct dmn_leader){
		.st = &n->st, .view = &n->view, .tokens = &n->tokens, .random = leader_random};
}

/*
 * Saves the files a decision changed, or undoes it: a failed save fails the operation that
 * needed it. Tokens first: should the state then fail, a token use is lost rather than a
 * join allowed twice (and the old count is written back). Lock held.
 */
static int leader_save(struct dmn_node *n, struct dmn_leader *l, struct dmn_leader_change *c,
		       char *err, size_t errlen)
{
	bool tokens = c->effects & DMN_LEADER_SAVE_TOKENS;
	int r = 0;

	if (tokens)
		r = dmn_node_save_tokens(n);
	if (!r && (c->effects & DMN_LEADER_SAVE_STATE)) {
		r = dmn_node_save_state(n);
		if (r && tokens) {
			dmn_leader_rollback(l, c);
			dmn_node_save_tokens(n);
		}
	}
	if (r) {
		dmn_leader_rollback(l, c);
		snprintf(err, errlen, "cannot save the %s (see the daemon log)",
			 tokens ? "tokens or the state" : "state");
	}
	return r;
}

/*
 * After leader_save(): publishes the new view, logs the change and forgets the undo. A change
 * that lives in the view only (services, records: no state to save) is undone when the view
 * cannot be saved; one whose state is saved stands, and the next view carries it. Lock held.
 */
static int leader_publish(struct dmn_node *n, struct dmn_leader *l, struct dmn_leader_change *c,
			  char *err, size_t errlen)
{
	if ((c->effects & DMN_LEADER_PUBLISH) && dmn_leader_publish(n) &&
	    !(c->effects & (DMN_LEADER_SAVE_STATE | DMN_LEADER_SAVE_TOKENS))) {
		dmn_leader_rollback(l, c);
		dmn_leader_publish(n);
		snprintf(err, errlen, "cannot save the cluster view (see the daemon log)");
		return -EIO;
	}
	if (c->what[0])
		log_info("%s", c->what);
	dmn_leader_commit(c);
	return 0;
}

static int leader_node_remove(struct dmn_node *n, const struct dmn_actor *who, const char *name,
			      char *err, size_t errlen)
{
	struct dmn_leader l = leader_of(n);
	struct dmn_leader_change c;
	struct ov_peer gone;
	struct dmn_view v;
	int r;

	pthread_mutex_lock(&n->lock);
	r = dmn_leader_remove(&l, who, name, &gone, &c, err, errlen);
	if (!r)
		r = leader_save(n, &l, &c, err, errlen);
	if (r) {
		pthread_mutex_unlock(&n->lock);
		return r;
	}
	/*
	 * The removed node learns it too: the new view goes to it first, while it is still a
	 * peer (publishing removes it). Bounded by the connect timeout; it may be down.
	 */
	if (dmn_leader_build_view(n, &v) == 0) {
		json_t *j = dmn_view_to_json(&v);
		struct sockaddr_storage sa;
		int fd;

		dmn_overlay_addr(n, &gone, (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &sa);
		fd = j ? dmn_io_connect(&sa, 1000, n->opt.ifname) : -ENOMEM;
		if (fd >= 0) {
			if (dmn_io_send(fd, DMN_CTL_VIEW, j, NULL) == 0)
				dmn_io_finish(fd, 1000);
			close(fd);
		} else {
			log_info("node %s could not be told of its removal: %s", name,
				 strerror(-fd));
		}
		json_decref(j);
		dmn_view_done(&v);
	}
	r = leader_publish(n, &l, &c, err, errlen);
	pthread_mutex_unlock(&n->lock);
	return r;
}

/* A request the leader decides, from who (lock not held). */
static int leader_do(struct dmn_node *n, const struct dmn_actor *who, const struct dmn_request *q,
		     json_t **ret, char *err, size_t errlen)
{
	struct dmn_leader l = leader_of(n);
	struct dmn_leader_change c;
	int r;

	*ret = NULL;
	if (q->op == DMN_OP_NODE_REMOVE)
		return leader_node_remove(n, who, q->name, err, errlen);
	pthread_mutex_lock(&n->lock);
	r = dmn_leader_request(&l, who, q, (uint64_t)time(NULL), ret, &c, err, errlen);
	if (!r)
		r = leader_save(n, &l, &c, err, errlen);
	if (!r)
		r = leader_publish(n, &l, &c, err, errlen);
	pthread_mutex_unlock(&n->lock);
	if (r == -EPERM)
		log_info("%s from %s refused: %s", dmn_op_name(q->op),
			 who->kind == DMN_ACTOR_ADMIN ? "the admin" : who->node, err);
	if (r) {
		json_decref(*ret);
		*ret = NULL;
	}
	return r;
}

/* --- status ------------------------------------------------------------------------------------ */

struct dev_peer {
	uint8_t key[OV_KEY_LEN];
	char endpoint[OV_ENDPOINT_STRLEN];
	uint64_t handshake, rx, tx;
};

/* The device's get reply, peer by peer. */
static size_t device_peers(struct dmn_node *n, struct dev_peer **ret)
{
	struct strbuf sb;
	struct dev_peer *v = NULL;
	size_t count = 0;
	const char *line;

	*ret = NULL;
	strbuf_init(&sb, UAPI_MAX_REPLY);
	if (dp_device_get(n->dev, &sb)) {
		strbuf_free(&sb);
		return 0;
	}
	for (line = strbuf_str(&sb); *line;) {
		const char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char val[128];

		if (eq && eq < line + len && (size_t)(line + len - eq - 1) < sizeof(val)) {
			size_t klen = (size_t)(eq - line);

			memcpy(val, eq + 1, (size_t)(line + len - eq - 1));
			val[line + len - eq - 1] = '\0';
			if (klen == 10 && !memcmp(line, "public_key", 10)) {
				struct dev_peer *nv = realloc(v, (count + 1) * sizeof(*v));

				if (!nv)
					break;
				v = nv;
				memset(&v[count], 0, sizeof(v[count]));
				uapi_parse_key(val, strlen(val), v[count].key);
				count++;
			} else if (count && klen == 8 && !memcmp(line, "endpoint", 8)) {
				if (strlen(val) < OV_ENDPOINT_STRLEN)
					strcpy(v[count - 1].endpoint, val);
			} else if (count && klen == 23 &&
				   !memcmp(line, "last_handshake_time_sec", 23)) {
				v[count - 1].handshake = strtoull(val, NULL, 10);
			} else if (count && klen == 8 && !memcmp(line, "rx_bytes", 8)) {
				v[count - 1].rx = strtoull(val, NULL, 10);
			} else if (count && klen == 8 && !memcmp(line, "tx_bytes", 8)) {
				v[count - 1].tx = strtoull(val, NULL, 10);
			}
		}
		line += len + (nl ? 1 : 0);
	}
	strbuf_free(&sb);
	*ret = v;
	return count;
}

uint64_t dmn_handshake_age(struct dmn_node *n, const uint8_t *key)
{
	struct dev_peer *v;
	size_t count = device_peers(n, &v);
	uint64_t age = UINT64_MAX;

	for (size_t i = 0; i < count; i++)
		if (!memcmp(v[i].key, key, OV_KEY_LEN) && v[i].handshake) {
			uint64_t now = (uint64_t)time(NULL);

			age = now > v[i].handshake ? now - v[i].handshake : 0;
		}
	free(v);
	return age;
}

static json_t *status_json(struct dmn_node *n)
{
	struct dev_peer *dp;
	size_t ndp = device_peers(n, &dp);
	json_t *j = json_object(), *peers = json_array(), *self = json_object(), *svc = json_array();
	char b64[OV_KEY_B64_LEN + 1];
	uint64_t now = (uint64_t)time(NULL);

	pthread_mutex_lock(&n->lock);
	ov_key_to_base64(n->st.self.public_key, b64);
	json_object_set_new(self, "name", json_string(n->st.self.name));
	json_object_set_new(self, "role",
			    json_string(n->st.role == OV_ROLE_LEADER ? "leader" : "member"));
	json_object_set_new(self, "public_key", json_string(b64));
	json_object_set_new(self, "interface", json_string(n->opt.ifname));
	json_object_set_new(self, "listen_port", json_integer(dp_device_port(n->dev)));
	json_object_set_new(self, "ip4", ov_json_prefix_new(&n->st.self.ip4, false));
	json_object_set_new(self, "ip6", ov_json_prefix_new(&n->st.self.ip6, false));
	json_object_set_new(self, "slice", ov_json_prefix_new(&n->st.self.slice, true));
	json_object_set_new(self, "cidr4", ov_json_prefix_new(&n->st.cidr4, true));
	json_object_set_new(self, "cidr6", ov_json_prefix_new(&n->st.cidr6, true));
	json_object_set_new(self, "zone", json_string(n->st.zone));
	json_object_set_new(self, "leader", json_string(n->view.leader));
	json_object_set_new(self, "generation", json_integer((json_int_t)n->view.generation));
	json_object_set_new(self, "removed", json_boolean(n->removed));
	json_object_set_new(j, "node", self);
	for (size_t i = 0; i < n->view.n_nodes; i++) {
		const struct ov_peer *p = &n->view.nodes[i];
		const struct dev_peer *d = NULL;
		json_t *o;

		if (!strcmp(p->name, n->st.self.name))
			continue;
		o = json_object();
		for (size_t k = 0; k < ndp; k++)
			if (!memcmp(dp[k].key, p->public_key, OV_KEY_LEN))
				d = &dp[k];
		ov_key_to_base64(p->public_key, b64);
		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "public_key", json_string(b64));
		json_object_set_new(o, "ip4", ov_json_prefix_new(&p->ip4, false));
		json_object_set_new(o, "ip6", ov_json_prefix_new(&p->ip6, false));
		json_object_set_new(o, "leader", json_boolean(!strcmp(p->name, n->view.leader)));
		json_object_set_new(o, "endpoint", d && d->endpoint[0] ? json_string(d->endpoint)
								       : json_null());
		json_object_set_new(o, "last_handshake",
				    json_integer(d ? (json_int_t)d->handshake : 0));
		json_object_set_new(o, "handshake_age",
				    d && d->handshake ? json_integer((json_int_t)(now > d->handshake ? now - d->handshake : 0))
						      : json_null());
		json_object_set_new(o, "rx_bytes", json_integer(d ? (json_int_t)d->rx : 0));
		json_object_set_new(o, "tx_bytes", json_integer(d ? (json_int_t)d->tx : 0));
		json_t *hj = dmn_health_json(n, p->name);

		json_object_update(o, hj);
		json_decref(hj);
		json_array_append_new(peers, o);
	}
	for (size_t i = 0; i < n->view.n_services; i++) {
		const struct dmn_service *s = &n->view.services[i];

		json_array_append_new(svc, json_pack("{s:s,s:s,s:s,s:o}", "service", s->service,
						     "node", s->node, "container", s->container,
						     "addr", ov_json_prefix_new(&s->addr, false)));
	}
	json_object_set_new(j, "peers", peers);
	json_object_set_new(j, "services", svc);
	if (n->st.role == OV_ROLE_LEADER) {
		json_t *aj = NULL;

		if (ov_alloc_to_json(&n->st.alloc, &aj) == 0)
			json_object_set_new(j, "allocations", aj);
	} else {
		json_t *subnets = json_array();

		for (size_t i = 0; i < n->view.n_subnets; i++)
			json_array_append_new(subnets,
					      json_pack("{s:s,s:s,s:o}", "service",
							n->view.subnets[i].service, "node",
							n->view.subnets[i].node, "subnet",
							ov_json_prefix_new(&n->view.subnets[i].subnet, true)));
		json_object_set_new(j, "allocations", json_pack("{s:o}", "subnets", subnets));
	}
	pthread_mutex_unlock(&n->lock);
	free(dp);
	return j;
}

static json_t *records_json(struct dmn_node *n)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->view.n_records; i++)
		json_array_append_new(arr, json_pack("{s:s,s:o}", "name", n->view.records[i].name,
						     "addr", ov_json_prefix_new(&n->view.records[i].addr, false)));
	pthread_mutex_unlock(&n->lock);
	return json_pack("{s:o,s:s}", "records", arr, "zone", n->st.zone);
}

/* --- the local channel ---------------------------------------------------------------------------- */

void dmn_member_refresh(struct dmn_node *n)
{
	struct dmn_request req = {.op = DMN_OP_GET_VIEW};
	char err[256];
	uint8_t type;
	json_t *j;

	pthread_mutex_lock(&n->lock);
	req.generation = n->view.generation;
	pthread_mutex_unlock(&n->lock);
	if (dmn_ask_leader(n, &req, &type, &j, err, sizeof(err))) {
		log_debug("view pull: %s", err);
		return;
	}
	if (type == DMN_CTL_VIEW)
		dmn_serve_view_frame(n, j);
	json_decref(j);
}

void dmn_serve_local(struct dmn_node *n, int fd)
{
	struct dmn_actor admin; /* the local socket is root's: on the leader, the admin */

	dmn_actor_admin(&admin);
	for (;;) {
		struct dmn_request q;
		char err[512] = "";
		json_t *j, *reply = NULL;
		uint8_t type;
		int r;

		r = dmn_io_recv(fd, &type, &j, NULL, err, sizeof(err));
		if (r)
			return;
		r = type == DMN_CTL_REQUEST ? dmn_request_from_json(j, &q, err, sizeof(err)) : -EPROTO;
		json_decref(j);
		if (r == -EPROTO)
			snprintf(err, sizeof(err), "expected a request");
		if (!r && q.op >= DMN_OP_GET_VIEW) {
			snprintf(err, sizeof(err), "%s is not a local operation", dmn_op_name(q.op));
			r = -EINVAL;
		}
		if (!r && (q.op == DMN_OP_TOKEN_CREATE || q.op == DMN_OP_NODE_REMOVE) &&
		    n->st.role != OV_ROLE_LEADER) {
			snprintf(err, sizeof(err), "%s runs on the leader (%s), this is a member",
				 dmn_op_name(q.op), n->st.leader.name);
			r = -EINVAL;
		}
		if (!r) {
			switch (q.op) {
			case DMN_OP_STATUS:
				reply = status_json(n);
				break;
			case DMN_OP_TOKEN_CREATE:
			case DMN_OP_NODE_REMOVE:
				r = leader_do(n, &admin, &q, &reply, err, sizeof(err));
				break;
			case DMN_OP_DNS_LIST:
				reply = records_json(n);
				break;
			case DMN_OP_DNS_ADD:
			case DMN_OP_DNS_RM:
				r = dmn_cluster_request(n, &q, &reply, err, sizeof(err));
				break;
			case DMN_OP_ATTACH:
				r = dmn_attach(n, &q, &reply, err, sizeof(err));
				break;
			case DMN_OP_DETACH:
				r = dmn_detach(n, q.container, err, sizeof(err));
				break;
			default:
				r = -EINVAL;
			}
		}
		if (r) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", strerror(-r));
			dmn_io_send_error(fd, err, NULL);
		} else {
			dmn_io_send_ok(fd, reply);
		}
		json_decref(reply);
	}
}

/* --- the overlay channel ----------------------------------------------------------------------------- */

/*
 * What a node asks of the leader (the leader asks itself through this too); node is the
 * asking node. GET_VIEW is answered by the caller. 0 and *ret (may stay NULL) or -errno.
 */
int dmn_leader_do(struct dmn_node *n, const struct dmn_request *q, const char *node, json_t **ret,
		  char *err, size_t errlen)
{
	struct dmn_actor who;

	*ret = NULL;
	if (dmn_actor_node(&who, node)) {
		snprintf(err, errlen, "not a node name");
		return -EPERM;
	}
	return leader_do(n, &who, q, ret, err, errlen);
}

int dmn_cluster_request(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
			size_t errlen)
{
	uint8_t type;
	int r;

	*ret = NULL;
	if (n->st.role == OV_ROLE_LEADER) {
		struct dmn_actor admin;

		/* On the leader only its root CLI (and what it started: attach, the sweep of
		 * its containers) asks: the admin, acting as the leader node. */
		dmn_actor_admin(&admin);
		return leader_do(n, &admin, q, ret, err, errlen);
	}
	r = dmn_ask_leader(n, q, &type, ret, err, errlen);
	if (!r)
		dmn_member_refresh(n); /* see the change now, not at the next push */
	return r;
}

static int leader_request(struct dmn_node *n, int fd, const struct dmn_request *q,
			  const char *node, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int r;

	if (q->op == DMN_OP_GET_VIEW) {
		json_t *v;

		pthread_mutex_lock(&n->lock);
		v = dmn_view_to_json(&n->view);
		pthread_mutex_unlock(&n->lock);
		r = v ? dmn_io_send(fd, DMN_CTL_VIEW, v, NULL) : -ENOMEM;
		json_decref(v);
		return r;
	}
	r = dmn_leader_do(n, q, node, &reply, err, errlen);
	if (r) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-r));
		r = dmn_io_send_error(fd, err, NULL);
	} else {
		r = dmn_io_send_ok(fd, reply);
	}
	json_decref(reply);
	return r;
}

void dmn_serve_overlay(struct dmn_node *n, int fd, const struct sockaddr_storage *from)
{
	char err[512] = "", who[INET6_ADDRSTRLEN], name[OV_ALLOC_NAME_MAX + 1] = "";
	const struct ov_peer *p;
	bool from_leader;
	struct dmn_request q;
	uint8_t type;
	json_t *j;

	addr_text(from, who, sizeof(who));
	pthread_mutex_lock(&n->lock);
	p = node_by_addr(n, from);
	if (p)
		strcpy(name, p->name);
	from_leader = p && !strcmp(p->name, n->view.leader);
	if (!p && n->st.role == OV_ROLE_MEMBER &&
	    !memcmp(&((const struct sockaddr_in *)from)->sin_addr, n->st.leader.ip4.addr, 4)) {
		strcpy(name, n->st.leader.name);
		from_leader = true;
	}
	pthread_mutex_unlock(&n->lock);
	if (!name[0]) {
		log_info("control: connection from %s, not a cluster node: closed", who);
		return;
	}
	if (dmn_io_recv(fd, &type, &j, NULL, err, sizeof(err)))
		return;
	if (type == DMN_CTL_VIEW && n->st.role == OV_ROLE_MEMBER && from_leader) {
		dmn_serve_view_frame(n, j);
	} else if (type == DMN_CTL_REQUEST && n->st.role == OV_ROLE_LEADER) {
		if (dmn_request_from_json(j, &q, err, sizeof(err)))
			dmn_io_send_error(fd, err, NULL);
		else
			leader_request(n, fd, &q, name, err, sizeof(err));
	} else {
		log_info("control: unexpected frame type %u from %s (%s)", type, name, who);
	}
	json_decref(j);
}

/* --- the join channel (leader) ------------------------------------------------------------------------ */

void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from)
{
	char err[512] = "", who[INET6_ADDRSTRLEN + 8];
	uint8_t ns[DMN_CTL_NONCE_LEN], type;
	struct dmn_leader l = leader_of(n);
	const struct dmn_token_rec *tok;
	struct dmn_leader_change chg;
	struct dmn_hello hello;
	struct dmn_join m;
	struct dmn_seal seal;
	struct ov_peer lease;
	json_t *j = NULL;
	int r;

	memset(&seal, 0, sizeof(seal));
	addr_text(from, who, sizeof(who));
	if (dmn_io_recv(fd, &type, &j, NULL, err, sizeof(err)))
		goto out;
	if (type != DMN_CTL_HELLO || dmn_hello_from_json(j, &hello, err, sizeof(err))) {
		log_info("join from %s refused: malformed hello%s%s", who, err[0] ? ": " : "", err);
		dmn_io_send_error(fd, "malformed hello", NULL);
		goto out;
	}
	json_decref(j);
	j = NULL;
	pthread_mutex_lock(&n->lock);
	if (dmn_leader_token_find(&l, hello.token_id, (uint64_t)time(NULL), &tok, err,
				  sizeof(err))) {
		pthread_mutex_unlock(&n->lock);
		log_info("join from %s refused: %s", who, err);
		dmn_io_send_error(fd, err, NULL);
		goto out;
	}
	if (crypto_random(ns, sizeof(ns))) {
		pthread_mutex_unlock(&n->lock);
		goto out;
	}
	dmn_join_keys(tok->id, tok->secret, hello.nonce, ns, seal.k_rx, seal.k_tx);
	pthread_mutex_unlock(&n->lock);
	j = dmn_challenge_to_json(ns);
	if (!j || dmn_io_send(fd, DMN_CTL_CHALLENGE, j, NULL))
		goto out;
	json_decref(j);
	j = NULL;
	r = dmn_io_recv(fd, &type, &j, &seal, err, sizeof(err));
	if (r == -EBADMSG) {
		log_info("join from %s refused: the join does not authenticate with the token "
			 "(wrong secret or a replay)",
			 who);
		goto out;
	}
	if (r)
		goto out;
	if (type != DMN_CTL_JOIN || dmn_join_from_json(j, &m, err, sizeof(err))) {
		log_info("join from %s refused: malformed join: %s", who, err);
		dmn_io_send_error(fd, "malformed join", &seal);
		goto out;
	}
	json_decref(j);
	j = NULL;
	pthread_mutex_lock(&n->lock);
	/* The token is checked again (used up by another join meanwhile, expired since the
	 * hello) and loses a use in the same decision as the admission. */
	r = dmn_leader_admit(&l, hello.token_id, &m, (uint64_t)time(NULL), &lease, &chg, err,
			     sizeof(err));
	if (!r)
		r = leader_save(n, &l, &chg, err, sizeof(err));
	if (!r) {
		chg.what[0] = '\0'; /* logged below, with where the join came from */
		r = leader_publish(n, &l, &chg, err, sizeof(err));
	}
	if (r) {
		pthread_mutex_unlock(&n->lock);
		log_info("join of %s from %s refused: %s", m.name, who, err);
		dmn_io_send_error(fd, err, &seal);
		goto out;
	}
	j = dmn_welcome_to_json(&n->st, &lease, &n->view);
	pthread_mutex_unlock(&n->lock);
	if (j && dmn_io_send(fd, DMN_CTL_WELCOME, j, &seal) == 0) {
		char ip[OV_PREFIX_STRLEN];

		ov_addr_format(&lease.ip4, ip);
		log_info("node %s joined from %s: %s", m.name, who, ip);
	}
out:
	json_decref(j);
	crypto_wipe(&seal, sizeof(seal));
}

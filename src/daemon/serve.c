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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "ctl/chan.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/addrfmt.h"
#include "lib/log.h"

/* Connects to node `to` and proves both ends by their keys. fd and *ch, or -errno with err. */
static int overlay_open(struct dmn_node *n, const struct ov_peer *to, struct ctl_chan *ch,
			uint32_t max_rx, unsigned timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	int fd, r;

	dmn_overlay_addr(n, to, (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &sa);
	fd = ctl_connect(&sa, timeout_ms, n->opt.ifname);
	if (fd < 0) {
		snprintf(err, errlen, "cannot reach %s over the overlay: %s", to->name,
			 strerror(-fd));
		return fd;
	}
	ctl_chan_init(ch, fd, timeout_ms, max_rx);
	r = ctl_chan_initiate(ch, CTL_HS_OVERLAY, n->private_key, to->public_key, NULL, NULL,
			      err, errlen);
	if (r) {
		char why[200];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "control channel to %s: %s", to->name, why);
		ctl_chan_done(ch);
		close(fd);
		return r;
	}
	return fd;
}

int dmn_overlay_call(struct dmn_node *n, const struct ov_peer *to, const json_t *req,
		     uint8_t *ret_type, json_t **ret, unsigned timeout_ms, char *err, size_t errlen)
{
	struct ctl_chan ch;
	int fd = overlay_open(n, to, &ch, CTL_CHAN_VIEW_MAX, timeout_ms, err, errlen), r;

	if (fd < 0)
		return fd;
	r = ctl_chan_call(&ch, req, ret_type, ret, err, errlen);
	ctl_chan_done(&ch);
	close(fd);
	return r;
}

int dmn_overlay_send(struct dmn_node *n, const struct ov_peer *to, uint8_t type,
		     const json_t *msg, bool wait_read, unsigned timeout_ms, char *err,
		     size_t errlen)
{
	struct ctl_chan ch;
	int fd = overlay_open(n, to, &ch, CTL_CHAN_PREAUTH_MAX, timeout_ms, err, errlen), r;

	if (fd < 0)
		return fd;
	r = ctl_chan_send(&ch, type, msg);
	if (!r && wait_read)
		r = ctl_chan_finish(&ch);
	if (r)
		snprintf(err, errlen, "%s: %s", to->name, strerror(-r));
	ctl_chan_done(&ch);
	close(fd);
	return r;
}

int dmn_ask_leader(struct dmn_node *n, const struct dmn_request *req, uint8_t *ret_type,
		   json_t **ret, char *err, size_t errlen)
{
	json_t *j = dmn_request_to_json(req);
	struct ov_peer leader;
	int r;

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	leader = n->st.leader;
	pthread_mutex_unlock(&n->lock);
	r = dmn_overlay_call(n, &leader, j, ret_type, ret, 3000, err, errlen);
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
	} else if (!dmn_view_node(&v, v.leader) ||
		   !crypto_equal(dmn_view_node(&v, v.leader)->public_key, n->st.leader.public_key,
				 OV_KEY_LEN)) {
		log_error("view gives the leader %s another key: refused", v.leader);
		dmn_view_done(&v);
	} else if (v.generation <= n->view.generation) {
		log_debug("view generation %" PRIu64 " is not newer than %" PRIu64, v.generation,
			  n->view.generation);
		dmn_view_done(&v);
	} else if (v.generation - n->view.generation > DMN_VIEW_GENERATION_JUMP_MAX) {
		log_error("view generation %" PRIu64 " jumps more than %u past %" PRIu64
			  ": refused",
			  v.generation, DMN_VIEW_GENERATION_JUMP_MAX, n->view.generation);
		dmn_view_done(&v);
	} else {
		struct dmn_view old = n->view;

		log_info("cluster view generation %" PRIu64 ": %zu nodes, %zu services",
			 v.generation, v.n_nodes, v.n_services);
		n->view = v;
		if (dmn_node_view_changed(n) == -EINVAL) {
			/* Our own key replaced: refused as a whole, the old view stays. */
			n->view = old;
			dmn_view_done(&v);
		} else {
			dmn_view_done(&old);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

/* --- leader operations (lock held) --------------------------------------------------------- */

static int leader_subnet(struct dmn_node *n, const char *service, const char *node,
			 struct ov_prefix *ret, char *err, size_t errlen)
{
	int r = ov_alloc_subnet_add(&n->st.alloc, service, node, ret);

	if (r < 0) {
		snprintf(err, errlen, "no subnet for service %s on %s: %s", service, node,
			 r == -ENOSPC ? "the cluster range is full" : strerror(-r));
		return r;
	}
	if (r == 1) {
		char pf[OV_PREFIX_STRLEN];

		if (dmn_node_save_state(n)) {
			ov_alloc_subnet_release(&n->st.alloc, service, node);
			snprintf(err, errlen, "cannot save the state");
			return -EIO;
		}
		ov_prefix_format(ret, pf);
		log_info("subnet %s for service %s on %s", pf, service, node);
		dmn_leader_publish(n);
	}
	return 0;
}

static int leader_service_add(struct dmn_node *n, const struct dmn_request *q, const char *node,
			      char *err, size_t errlen)
{
	struct dmn_service *svc;
	struct ov_prefix sn;

	if (ov_alloc_subnet_get(&n->st.alloc, q->service, node, &sn) ||
	    !ov_prefix_contains(&sn, &q->addr)) {
		snprintf(err, errlen, "address not inside the subnet of service %s on %s",
			 q->service, node);
		return -EINVAL;
	}
	for (size_t i = 0; i < n->view.n_services; i++) {
		const struct dmn_service *s = &n->view.services[i];

		if (!strcmp(s->node, node) && !strcmp(s->container, q->container)) {
			snprintf(err, errlen, "container %s is already attached on %s",
				 q->container, node);
			return -EEXIST;
		}
		if (ov_prefix_equal(&s->addr, &q->addr)) {
			snprintf(err, errlen, "address in use by %s on %s", s->container, s->node);
			return -EEXIST;
		}
	}
	if (n->view.n_services >= DMN_CTL_SERVICES_MAX) {
		snprintf(err, errlen, "%d services attached already", DMN_CTL_SERVICES_MAX);
		return -ENOSPC;
	}
	svc = realloc(n->view.services, (n->view.n_services + 1) * sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	n->view.services = svc;
	svc = &n->view.services[n->view.n_services++];
	memset(svc, 0, sizeof(*svc));
	strcpy(svc->service, q->service);
	strcpy(svc->node, node);
	strcpy(svc->container, q->container);
	svc->addr = q->addr;
	memcpy(svc->ports, q->ports, sizeof(svc->ports));
	svc->n_ports = q->n_ports;
	log_info("service %s: container %s on %s attached", q->service, q->container, node);
	return dmn_leader_publish(n);
}

static int leader_service_del(struct dmn_node *n, const char *container, const char *node,
			      char *err, size_t errlen)
{
	for (size_t i = 0; i < n->view.n_services; i++) {
		struct dmn_service *s = &n->view.services[i];

		if (strcmp(s->node, node) || strcmp(s->container, container))
			continue;
		log_info("service %s: container %s on %s detached", s->service, container, node);
		memmove(s, s + 1, (n->view.n_services - i - 1) * sizeof(*s));
		n->view.n_services--;
		return dmn_leader_publish(n);
	}
	snprintf(err, errlen, "no container %s attached on %s", container, node);
	return -ENOENT;
}

static int leader_dns(struct dmn_node *n, const struct dmn_request *q, char *err, size_t errlen)
{
	size_t kept = 0, before = n->view.n_records;

	if (q->op == DMN_OP_DNS_ADD) {
		struct dmn_record *rec;

		for (size_t i = 0; i < n->view.n_records; i++)
			if (!strcmp(n->view.records[i].name, q->name) &&
			    ov_prefix_equal(&n->view.records[i].addr, &q->addr)) {
				snprintf(err, errlen, "%s already has that address", q->name);
				return -EEXIST;
			}
		if (n->view.n_records >= DMN_CTL_RECORDS_MAX) {
			snprintf(err, errlen, "%d records already", DMN_CTL_RECORDS_MAX);
			return -ENOSPC;
		}
		rec = realloc(n->view.records, (n->view.n_records + 1) * sizeof(*rec));
		if (!rec)
			return -ENOMEM;
		n->view.records = rec;
		rec = &n->view.records[n->view.n_records++];
		memset(rec, 0, sizeof(*rec));
		strcpy(rec->name, q->name);
		rec->addr = q->addr;
		return dmn_leader_publish(n);
	}
	for (size_t i = 0; i < n->view.n_records; i++) {
		const struct dmn_record *rec = &n->view.records[i];

		if (!strcmp(rec->name, q->name) &&
		    (!q->has_addr || ov_prefix_equal(&rec->addr, &q->addr)))
			continue;
		n->view.records[kept++] = *rec;
	}
	n->view.n_records = kept;
	if (kept == before) {
		snprintf(err, errlen, "no record %s%s", q->name, q->has_addr ? " with that address" : "");
		return -ENOENT;
	}
	return dmn_leader_publish(n);
}

static int leader_node_remove(struct dmn_node *n, const char *name, char *err, size_t errlen)
{
	struct ov_peer gone;
	struct dmn_view v;
	size_t i;

	if (!strcmp(name, n->st.self.name)) {
		snprintf(err, errlen, "%s is the leader itself", name);
		return -EINVAL;
	}
	for (i = 0; i < n->st.n_members; i++)
		if (!strcmp(n->st.members[i].name, name))
			break;
	if (i == n->st.n_members) {
		snprintf(err, errlen, "no node named %s", name);
		return -ENOENT;
	}
	gone = n->st.members[i];
	ov_alloc_node_release(&n->st.alloc, name);
	memmove(&n->st.members[i], &n->st.members[i + 1],
		(n->st.n_members - i - 1) * sizeof(n->st.members[0]));
	n->st.n_members--;
	if (dmn_node_save_state(n)) {
		snprintf(err, errlen, "cannot save the state (see the daemon log)");
		return -EIO;
	}
	log_info("node %s removed: its addresses are released and every member is told", name);
	/*
	 * The removed node learns it too: the new view goes to it first, while it is still a
	 * peer (publishing removes it). Bounded by the connect timeout; it may be down.
	 */
	if (dmn_leader_build_view(n, &v) == 0) {
		json_t *j = dmn_view_to_json(&v);
		char why[256];
		/* Waits until it has read it: it is about to stop being a peer. */
		int r = j ? dmn_overlay_send(n, &gone, DMN_CTL_VIEW, j, true, 1000, why,
					     sizeof(why))
			  : -ENOMEM;

		if (r)
			log_info("node %s could not be told of its removal: %s", name,
				 r == -ENOMEM ? strerror(ENOMEM) : why);
		json_decref(j);
		dmn_view_done(&v);
	}
	return dmn_leader_publish(n);
}

static int token_create(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
			size_t errlen)
{
	struct dmn_token_rec rec;
	struct dmn_token t;
	char text[DMN_CTL_TOKEN_STRLEN];
	uint64_t now = (uint64_t)time(NULL);
	size_t kept = 0;
	int r;

	memset(&rec, 0, sizeof(rec));
	if (!n->st.self.has_endpoint) {
		snprintf(err, errlen, "the leader has no advertised endpoint (weft init --endpoint)");
		return -EINVAL;
	}
	if (crypto_random(rec.id, sizeof(rec.id)) || crypto_random(rec.secret, sizeof(rec.secret)))
		return -EIO;
	rec.expires = now + (q->ttl ? q->ttl : DMN_TOKEN_DEFAULT_TTL);
	rec.uses = q->uses ? q->uses : 1;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->tokens.n; i++) /* drop expired ones */
		if (n->tokens.recs[i].expires > now)
			n->tokens.recs[kept++] = n->tokens.recs[i];
	n->tokens.n = kept;
	if (n->tokens.n >= DMN_CTL_TOKENS_MAX) {
		pthread_mutex_unlock(&n->lock);
		snprintf(err, errlen, "%d live tokens already", DMN_CTL_TOKENS_MAX);
		return -ENOSPC;
	}
	n->tokens.recs[n->tokens.n++] = rec;
	r = dmn_node_save_tokens(n);
	if (r)
		n->tokens.n--;
	memcpy(t.id, rec.id, sizeof(t.id));
	memcpy(t.secret, rec.secret, sizeof(t.secret));
	memcpy(t.leader_key, n->st.self.public_key, OV_KEY_LEN);
	t.endpoint = n->st.self.endpoint;
	pthread_mutex_unlock(&n->lock);
	crypto_wipe(&rec, sizeof(rec));
	if (r) {
		snprintf(err, errlen, "cannot save the token (see the daemon log)");
		crypto_wipe(&t, sizeof(t));
		return r;
	}
	dmn_token_format(&t, text);
	crypto_wipe(&t, sizeof(t));
	log_info("join token created (%" PRIu64 " s, %u use%s)", q->ttl ? q->ttl : DMN_TOKEN_DEFAULT_TTL,
		 q->uses ? q->uses : 1, q->uses > 1 ? "s" : "");
	*ret = json_pack("{s:s,s:I}", "token", text, "expires", (json_int_t)(now + (q->ttl ? q->ttl : DMN_TOKEN_DEFAULT_TTL)));
	crypto_wipe(text, sizeof(text));
	return *ret ? 0 : -ENOMEM;
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
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	/* The socket is 0600 in a 0700 directory; the peer's uid is checked too, so a mode
	 * changed by hand does not open the admin operations to every local user. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_info("local: connection from uid %d refused: only root talks to weftd",
			 clen == sizeof(cred) ? (int)cred.uid : -1);
		return;
	}
	for (;;) {
		struct ctl_chan ch;
		struct dmn_request q;
		char err[512] = "";
		json_t *j, *reply = NULL;
		uint8_t type;
		int r;

		/* A request may wait for the leader (attach); the CLI waits as long. */
		ctl_chan_init(&ch, fd, DMN_LOCAL_TIMEOUT_MS, CTL_CHAN_REQUEST_MAX);
		r = ctl_chan_recv(&ch, &type, &j, err, sizeof(err));
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
				reply = dmn_status_json(n);
				break;
			case DMN_OP_TOKEN_CREATE:
				r = token_create(n, &q, &reply, err, sizeof(err));
				break;
			case DMN_OP_NODE_REMOVE:
				pthread_mutex_lock(&n->lock);
				r = leader_node_remove(n, q.name, err, sizeof(err));
				pthread_mutex_unlock(&n->lock);
				break;
			case DMN_OP_DNS_LIST:
				reply = dmn_records_json(n);
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
			ctl_chan_send_error(&ch, err);
		} else {
			ctl_chan_send_ok(&ch, reply);
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
	int r = 0;

	*ret = NULL;
	pthread_mutex_lock(&n->lock);
	switch (q->op) {
	case DMN_OP_SUBNET: {
		struct ov_prefix sn;

		r = leader_subnet(n, q->service, node, &sn, err, errlen);
		if (!r)
			*ret = json_pack("{s:o}", "subnet", ov_json_prefix_new(&sn, true));
		break;
	}
	case DMN_OP_SERVICE_ADD:
		r = leader_service_add(n, q, node, err, errlen);
		break;
	case DMN_OP_SERVICE_DEL:
		r = leader_service_del(n, q->container, node, err, errlen);
		break;
	case DMN_OP_DNS_ADD:
	case DMN_OP_DNS_RM:
		r = leader_dns(n, q, err, errlen);
		break;
	default:
		snprintf(err, errlen, "%s is not a request for the leader", dmn_op_name(q->op));
		r = -EINVAL;
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

int dmn_cluster_request(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
			size_t errlen)
{
	uint8_t type;
	int r;

	*ret = NULL;
	if (n->st.role == OV_ROLE_LEADER)
		return dmn_leader_do(n, q, n->st.self.name, ret, err, errlen);
	r = dmn_ask_leader(n, q, &type, ret, err, errlen);
	if (!r)
		dmn_member_refresh(n); /* see the change now, not at the next push */
	return r;
}

static int leader_request(struct dmn_node *n, struct ctl_chan *ch, const struct dmn_request *q,
			  const char *node, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int r;

	if (q->op == DMN_OP_GET_VIEW) {
		json_t *v;

		pthread_mutex_lock(&n->lock);
		v = dmn_view_to_json(&n->view);
		pthread_mutex_unlock(&n->lock);
		r = v ? ctl_chan_send(ch, DMN_CTL_VIEW, v) : -ENOMEM;
		json_decref(v);
		return r;
	}
	r = dmn_leader_do(n, q, node, &reply, err, errlen);
	if (r) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-r));
		log_info("request %s from %s refused: %s", dmn_op_name(q->op), node, err);
		r = ctl_chan_send_error(ch, err);
	} else {
		r = ctl_chan_send_ok(ch, reply);
	}
	json_decref(reply);
	return r;
}

/* Who may open the overlay channel: the leader takes its members, a member the leader. */
struct overlay_peer {
	struct dmn_node *n;
	char name[OV_ALLOC_NAME_MAX + 1];
	bool leader; /* the other end is this member's leader */
};

static int overlay_accept(void *ctx, const uint8_t remote_static[CTL_HS_KEY_LEN],
			  const uint8_t *payload, uint8_t psk[CTL_HS_KEY_LEN], bool *send_refusal,
			  char *err, size_t errlen)
{
	struct overlay_peer *op = ctx;
	struct dmn_node *n = op->n;
	char b64[OV_KEY_B64_LEN + 1];

	(void)payload;
	(void)psk;
	*send_refusal = false; /* an unknown key learns nothing, not even why */
	pthread_mutex_lock(&n->lock);
	if (n->st.role == OV_ROLE_LEADER) {
		for (size_t i = 0; i < n->st.n_members; i++)
			if (crypto_equal(n->st.members[i].public_key, remote_static, OV_KEY_LEN))
				strcpy(op->name, n->st.members[i].name);
	} else if (crypto_equal(n->st.leader.public_key, remote_static, OV_KEY_LEN)) {
		strcpy(op->name, n->st.leader.name);
		op->leader = true;
	}
	pthread_mutex_unlock(&n->lock);
	if (op->name[0])
		return 0;
	ov_key_to_base64(remote_static, b64);
	snprintf(err, errlen, "key %s is not %s", b64,
		 n->st.role == OV_ROLE_LEADER ? "a member's" : "the leader's");
	return -EACCES;
}

void dmn_serve_overlay(struct dmn_node *n, int fd, const struct sockaddr_storage *from)
{
	char err[512] = "", who[ADDRFMT_LEN];
	struct overlay_peer op = {.n = n};
	struct dmn_request q;
	struct ctl_chan ch;
	uint8_t type;
	json_t *j;
	int r;

	addrfmt_sockaddr((const struct sockaddr *)from, sizeof(*from), false, who);
	/* A member takes views (large) from its leader; the leader takes requests (small). */
	ctl_chan_init(&ch, fd, DMN_OVERLAY_TIMEOUT_MS,
		      n->st.role == OV_ROLE_LEADER ? CTL_CHAN_REQUEST_MAX : CTL_CHAN_VIEW_MAX);
	r = ctl_chan_respond(&ch, CTL_HS_OVERLAY, n->private_key, overlay_accept, &op, err,
			     sizeof(err));
	if (r) {
		if (r != -ECONNRESET)
			log_info("control: connection from %s refused: %s", who, err);
		goto out;
	}
	r = ctl_chan_recv(&ch, &type, &j, err, sizeof(err));
	if (r) {
		if (r == -EBADMSG)
			log_info("control: connection from %s claiming to be %s refused: its "
				 "first message does not open (a replayed handshake?)",
				 who, op.name);
		else if (r != -ECONNRESET)
			log_info("control: %s (%s): %s", op.name, who, err);
		goto out;
	}
	if (type == DMN_CTL_VIEW && n->st.role == OV_ROLE_MEMBER && op.leader) {
		dmn_serve_view_frame(n, j);
	} else if (type == DMN_CTL_REQUEST && n->st.role == OV_ROLE_LEADER) {
		if (dmn_request_from_json(j, &q, err, sizeof(err)))
			ctl_chan_send_error(&ch, err);
		else
			leader_request(n, &ch, &q, op.name, err, sizeof(err));
	} else {
		log_info("control: unexpected frame type %u from %s (%s)", type, op.name, who);
	}
	json_decref(j);
out:
	ctl_chan_done(&ch);
}

/* --- the join channel (leader) ------------------------------------------------------------------------ */

static struct dmn_token_rec *token_find(struct dmn_node *n, const uint8_t *id)
{
	for (size_t i = 0; i < n->tokens.n; i++)
		if (crypto_equal(n->tokens.recs[i].id, id, DMN_CTL_TOKEN_ID_LEN))
			return &n->tokens.recs[i];
	return NULL;
}

static void token_consume(struct dmn_node *n, const uint8_t *id)
{
	struct dmn_token_rec *t = token_find(n, id);

	if (!t)
		return;
	if (--t->uses == 0) {
		size_t i = (size_t)(t - n->tokens.recs);

		memmove(t, t + 1, (n->tokens.n - i - 1) * sizeof(*t));
		n->tokens.n--;
	}
}

/* Admit (or re-admit with the same lease) a node. Lock held. */
static int admit(struct dmn_node *n, const struct dmn_join *m, struct ov_peer *ret, char *err,
		 size_t errlen)
{
	struct ov_alloc_lease lease;
	struct ov_peer p, *members;
	int r;

	if (!strcmp(m->name, n->st.self.name) ||
	    !memcmp(m->public_key, n->st.self.public_key, OV_KEY_LEN)) {
		snprintf(err, errlen, "name or key of the leader");
		return -EEXIST;
	}
	for (size_t i = 0; i < n->st.n_members; i++) {
		struct ov_peer *o = &n->st.members[i];
		bool same_name = !strcmp(o->name, m->name),
		     same_key = !memcmp(o->public_key, m->public_key, OV_KEY_LEN);

		if (same_name && same_key) { /* a retry: the same lease, a new endpoint */
			o->has_endpoint = m->has_endpoint;
			o->endpoint = m->endpoint;
			*ret = *o;
			return dmn_node_save_state(n);
		}
		if (same_name || same_key) {
			snprintf(err, errlen, "%s %s is taken by node %s",
				 same_name ? "name" : "public key", same_name ? m->name : "",
				 o->name);
			return -EEXIST;
		}
	}
	if (n->st.n_members >= OV_STATE_MAX_MEMBERS) {
		snprintf(err, errlen, "the cluster has %d members already", OV_STATE_MAX_MEMBERS);
		return -ENOSPC;
	}
	r = ov_alloc_node_add(&n->st.alloc, m->name, &lease);
	if (r < 0) {
		snprintf(err, errlen, "no address for %s: %s", m->name,
			 r == -ENOSPC ? "the host range is exhausted" : strerror(-r));
		return r;
	}
	members = realloc(n->st.members, (n->st.n_members + 1) * sizeof(*members));
	if (!members) {
		ov_alloc_node_release(&n->st.alloc, m->name);
		return -ENOMEM;
	}
	n->st.members = members;
	memset(&p, 0, sizeof(p));
	strcpy(p.name, m->name);
	memcpy(p.public_key, m->public_key, OV_KEY_LEN);
	p.has_endpoint = m->has_endpoint;
	p.endpoint = m->endpoint;
	p.ip4 = lease.ip4;
	p.ip6 = lease.ip6;
	p.slice = lease.slice;
	n->st.members[n->st.n_members++] = p;
	r = dmn_node_save_state(n);
	if (r) {
		/* Not persisted: the address must not be used (it stays retired in memory only
		 * if saved, so release it and report). */
		n->st.n_members--;
		ov_alloc_node_release(&n->st.alloc, m->name);
		snprintf(err, errlen, "cannot save the state");
		return r;
	}
	*ret = p;
	return 0;
}

struct join_ctx {
	struct dmn_node *n;
	uint8_t token_id[DMN_CTL_TOKEN_ID_LEN];
};

/* After message 1: the token must be live; its secret is the psk the JOIN must open with. */
static int join_accept(void *ctx, const uint8_t remote_static[CTL_HS_KEY_LEN],
		       const uint8_t *payload, uint8_t psk[CTL_HS_KEY_LEN], bool *send_refusal,
		       char *err, size_t errlen)
{
	struct join_ctx *jc = ctx;
	struct dmn_token_rec *tok;
	int r = 0;

	(void)remote_static;
	*send_refusal = true;
	pthread_mutex_lock(&jc->n->lock);
	tok = token_find(jc->n, payload);
	if (!tok) {
		snprintf(err, errlen, "unknown or used-up token");
		r = -EACCES;
	} else if (tok->expires <= (uint64_t)time(NULL)) {
		snprintf(err, errlen, "token expired");
		r = -EACCES;
	} else {
		memcpy(psk, tok->secret, CTL_HS_KEY_LEN);
		memcpy(jc->token_id, payload, DMN_CTL_TOKEN_ID_LEN);
	}
	pthread_mutex_unlock(&jc->n->lock);
	return r;
}

void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from)
{
	char err[512] = "", who[ADDRFMT_LEN];
	struct join_ctx jc = {.n = n};
	struct dmn_tokens *saved = NULL;
	struct dmn_token_rec *tok;
	struct dmn_join m;
	struct ctl_chan ch;
	struct ov_peer lease;
	uint8_t type;
	json_t *j = NULL;
	int r;

	addrfmt_sockaddr((const struct sockaddr *)from, sizeof(*from), false, who);
	ctl_chan_init(&ch, fd, DMN_JOIN_TIMEOUT_MS, CTL_CHAN_PREAUTH_MAX);
	r = ctl_chan_respond(&ch, CTL_HS_JOIN, n->private_key, join_accept, &jc, err,
			     sizeof(err));
	if (r) {
		if (r == -EACCES || r == -EBADMSG)
			log_info("join from %s refused: %s", who, err);
		else
			log_debug("join from %s: %s", who, err);
		goto out;
	}
	/* Proven from here on only if the JOIN opens: psk = the token's secret. */
	ch.max_rx = DMN_JOIN_MAX_PAYLOAD;
	r = ctl_chan_recv(&ch, &type, &j, err, sizeof(err));
	if (r == -EBADMSG) {
		log_info("join from %s refused: it does not authenticate with the token's secret",
			 who);
		goto out;
	}
	if (r == -ECONNRESET) {
		log_info("join from %s refused: it hung up after the handshake (a joiner with a "
			 "wrong token secret stops there)",
			 who);
		goto out;
	}
	if (r) {
		log_info("join from %s refused: %s", who, err);
		goto out;
	}
	if (type != DMN_CTL_JOIN || dmn_join_from_json(j, &m, err, sizeof(err))) {
		log_info("join from %s refused: malformed join: %s", who, err);
		ctl_chan_send_error(&ch, "malformed join");
		goto out;
	}
	json_decref(j);
	j = NULL;
	if (!crypto_equal(m.public_key, ch.remote_static, OV_KEY_LEN)) {
		log_info("join of %s from %s refused: its key is not the one it proved", m.name,
			 who);
		ctl_chan_send_error(&ch, "the join's public key is not the handshake's");
		goto out;
	}
	saved = malloc(sizeof(*saved));
	if (!saved)
		goto out;
	pthread_mutex_lock(&n->lock);
	/* The token may have been used up or have expired since the handshake. */
	tok = token_find(n, jc.token_id);
	if (!tok || tok->expires <= (uint64_t)time(NULL)) {
		pthread_mutex_unlock(&n->lock);
		log_info("join of %s from %s refused: token %s", m.name, who,
			 tok ? "expired" : "used up");
		ctl_chan_send_error(&ch, tok ? "token expired" : "unknown or used-up token");
		goto out;
	}
	/* The use is saved before it is spent: a crash cannot give a token a use back. */
	*saved = n->tokens;
	token_consume(n, jc.token_id);
	r = dmn_node_save_tokens(n);
	if (!r) {
		r = admit(n, &m, &lease, err, sizeof(err));
		if (r) {
			n->tokens = *saved;
			dmn_node_save_tokens(n);
		}
	} else {
		n->tokens = *saved;
		snprintf(err, sizeof(err), "the leader cannot save its tokens");
	}
	if (r) {
		pthread_mutex_unlock(&n->lock);
		log_info("join of %s from %s refused: %s", m.name, who, err);
		ctl_chan_send_error(&ch, err);
		goto out;
	}
	dmn_leader_publish(n);
	j = dmn_welcome_to_json(&n->st, &lease, &n->view);
	pthread_mutex_unlock(&n->lock);
	ch.max_rx = CTL_CHAN_PREAUTH_MAX;
	if (j && ctl_chan_send(&ch, DMN_CTL_WELCOME, j) == 0) {
		char ip[OV_PREFIX_STRLEN];

		ov_addr_format(&lease.ip4, ip);
		log_info("node %s joined from %s: %s", m.name, who, ip);
	}
out:
	if (saved) {
		crypto_wipe(saved, sizeof(*saved));
		free(saved);
	}
	json_decref(j);
	ctl_chan_done(&ch);
}

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
#include "daemon/leader.h"
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
		char why[256];
		/* Waits until it has read it: it is about to stop being a peer. */
		int sent = j ? dmn_overlay_send(n, &gone, DMN_CTL_VIEW, j, true, 1000, why,
						sizeof(why))
			     : -ENOMEM;

		if (sent)
			log_info("node %s could not be told of its removal: %s", name,
				 sent == -ENOMEM ? strerror(ENOMEM) : why);
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
	if (r)
		log_info("%s from %s refused: %s", dmn_op_name(q->op),
			 who->kind == DMN_ACTOR_ADMIN ? "the admin" : who->node, err);
	if (r) {
		json_decref(*ret);
		*ret = NULL;
	}
	return r;
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
	struct dmn_actor admin; /* the local socket is root's: on the leader, the admin */

	dmn_actor_admin(&admin);
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
			case DMN_OP_NODE_REMOVE:
				r = leader_do(n, &admin, &q, &reply, err, sizeof(err));
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
	struct dmn_leader l = leader_of(jc->n);
	const struct dmn_token_rec *tok;
	int r;

	(void)remote_static;
	*send_refusal = true;
	pthread_mutex_lock(&jc->n->lock);
	r = dmn_leader_token_find(&l, payload, (uint64_t)time(NULL), &tok, err, errlen);
	if (!r) {
		memcpy(psk, tok->secret, CTL_HS_KEY_LEN);
		memcpy(jc->token_id, payload, DMN_CTL_TOKEN_ID_LEN);
	}
	pthread_mutex_unlock(&jc->n->lock);
	return r ? -EACCES : 0;
}

void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from)
{
	char err[512] = "", who[ADDRFMT_LEN];
	struct join_ctx jc = {.n = n};
	struct dmn_leader l = leader_of(n);
	struct dmn_leader_change chg;
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
	pthread_mutex_lock(&n->lock);
	/* The token is checked again (used up by another join meanwhile, expired since the
	 * handshake) and loses a use in the same decision as the admission; the use is saved
	 * before the WELCOME is sent. */
	r = dmn_leader_admit(&l, jc.token_id, &m, (uint64_t)time(NULL), &lease, &chg, err,
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
		ctl_chan_send_error(&ch, err);
		goto out;
	}
	j = dmn_welcome_to_json(&n->st, &lease, &n->view);
	pthread_mutex_unlock(&n->lock);
	ch.max_rx = CTL_CHAN_PREAUTH_MAX;
	if (j && ctl_chan_send(&ch, DMN_CTL_WELCOME, j) == 0) {
		char ip[OV_PREFIX_STRLEN];

		ov_addr_format(&lease.ip4, ip);
		log_info("node %s joined from %s: %s", m.name, who, ip);
	}
out:
	json_decref(j);
	ctl_chan_done(&ch);
}

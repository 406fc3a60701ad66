/* SPDX-License-Identifier: MIT */
/*
 * daemon/serve — the handlers of weftd's three control channels (ctl/chan.h says who can
 * reach each and what proves the sender): the local CLI socket (root), the overlay channel
 * between members and the leader (their keys), and the leader's join listener (the token's
 * id and secret, to the leader's key). Each runs on its own connection thread and takes the
 * node lock only around what it reads or changes.
 *
 * Must not: act on a message before its sender is proven, or take a node's identity from
 * anything but the key that opened its channel.
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

void dmn_serve_local(struct dmn_node *n, int fd)
{
	struct dmn_actor admin; /* the local socket is root's: on the leader, the admin */
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
		if (!r && q.op >= DMN_OP_GET_VIEW && q.op != DMN_OP_TIME && q.op != DMN_OP_PEERS) {
			snprintf(err, sizeof(err), "%s is not a local operation", dmn_op_name(q.op));
			r = -EINVAL;
		}
		if (!r &&
		    (q.op == DMN_OP_TOKEN_CREATE || q.op == DMN_OP_NODE_REMOVE ||
		     q.op == DMN_OP_ENDPOINT_SET) &&
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
			case DMN_OP_ENDPOINT_SET:
				r = dmn_lead_do(n, &admin, &q, &reply, err, sizeof(err));
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
			case DMN_OP_PEERS: /* weft peers */
				reply = dmn_nat_peers_json(n);
				if (!reply) {
					snprintf(err, sizeof(err), "NAT traversal is not running");
					r = -ENOTCONN;
				}
				break;
			case DMN_OP_TIME: /* ops: weft doctor */
				r = dmn_cluster_time(n, &reply, err, sizeof(err));
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
	r = dmn_lead_node_request(n, q, node, &reply, err, errlen);
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

void dmn_serve_overlay(struct dmn_node *n, int fd, const struct sockaddr_storage *from,
		       bool *proven)
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
	if (!r) /* it opened under keys only the holder of op.name's key has */
		__atomic_store_n(proven, true, __ATOMIC_RELEASE);
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
		dmn_member_take_view(n, j);
	} else if (type == DMN_CTL_REQUEST && n->st.role == OV_ROLE_MEMBER && op.leader) {
		/* the leader's one order to a member: punch with a node now (nat.c) */
		if (dmn_request_from_json(j, &q, err, sizeof(err))) {
			ctl_chan_send_error(&ch, err);
		} else if (q.op != DMN_OP_PUNCH) {
			ctl_chan_send_error(&ch, "not an order a member takes");
		} else {
			json_t *ok = json_object();

			dmn_nat_punch(n, q.name);
			ctl_chan_send_ok(&ch, ok);
			json_decref(ok);
		}
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
	int r;

	(void)remote_static;
	*send_refusal = true;
	r = dmn_lead_token_psk(jc->n, payload, psk, err, errlen);
	if (!r)
		memcpy(jc->token_id, payload, DMN_CTL_TOKEN_ID_LEN);
	return r ? -EACCES : 0;
}

void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from,
		    bool *proven)
{
	char err[512] = "", who[ADDRFMT_LEN];
	struct join_ctx jc = {.n = n};
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
	if (!r) /* it opened: the joiner holds the token's secret */
		__atomic_store_n(proven, true, __ATOMIC_RELEASE);
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
	r = dmn_lead_admit(n, jc.token_id, &m, &lease, &j, err, sizeof(err));
	if (r) {
		log_info("join of %s from %s refused: %s", m.name, who, err);
		ctl_chan_send_error(&ch, err);
		goto out;
	}
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

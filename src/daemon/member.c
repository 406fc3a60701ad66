/* SPDX-License-Identifier: MIT */
/*
 * daemon/member — a member's side of the cluster: ask the leader (over the overlay channel, to
 * the leader's key), pull its view, and take a view only when it is the leader's, newer than
 * ours and not absurdly far ahead, and leaves our own key alone.
 *
 * Must not: take a view from anyone but the leader's key (the channel servers and the pull
 * are the only callers, and both proved the key).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "daemon/node.h"
#include "lib/log.h"

int dmn_ask_leader(struct dmn_node *n, const struct dmn_request *req, uint8_t *ret_type,
		   json_t **ret, char *err, size_t errlen)
{
	return dmn_ask_leader_within(n, req, 3000, ret_type, ret, err, errlen);
}

int dmn_ask_leader_within(struct dmn_node *n, const struct dmn_request *req, unsigned timeout_ms,
			  uint8_t *ret_type, json_t **ret, char *err, size_t errlen)
{
	json_t *j = dmn_request_to_json(req);
	struct ov_peer leader;
	int r;

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	leader = n->st.leader;
	pthread_mutex_unlock(&n->lock);
	r = dmn_overlay_call(n, &leader, j, ret_type, ret, timeout_ms, err, errlen);
	json_decref(j);
	return r;
}

void dmn_member_take_view(struct dmn_node *n, const json_t *j)
{
	char err[256];
	struct dmn_view v;

	pthread_mutex_lock(&n->lock);
	n->view_heard_ms = dmn_now_ms(); /* ops: the leader was heard (metrics, doctor) */
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
		if (dmn_view_apply(n) == -EINVAL) {
			/* Our own key replaced: refused as a whole, the old view stays. */
			n->view = old;
			dmn_view_done(&v);
		} else {
			dmn_view_done(&old);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

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
		dmn_member_take_view(n, j);
	json_decref(j);
}

void *dmn_member_pull_main(void *arg)
{
	struct dmn_node *n = arg;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping) {
		/* the join brought a view, or the saved one was loaded: the first pull waits too */
		struct timespec until = dmn_deadline_in(n->opt.pull_interval_ms);

		while (!n->stopping &&
		       pthread_cond_timedwait(&n->push_cond, &n->lock, &until) != ETIMEDOUT)
			;
		if (n->stopping)
			break;
		if (n->removed)
			continue;
		pthread_mutex_unlock(&n->lock);
		dmn_member_refresh(n);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

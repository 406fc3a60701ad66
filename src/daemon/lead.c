/* SPDX-License-Identifier: MIT */
/*
 * daemon/lead — the leader's side of a running node: asks the pure decisions of leader.c,
 * persists what they changed (undoing them when a save fails), publishes the new view
 * generation and pushes it to every member over the overlay channel. dmn_cluster_request is
 * where a node's own requests go: decided here on the leader, asked of the leader elsewhere.
 *
 * Must not: decide anything itself (leader.c does), or push a view that is not saved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "daemon/leader.h"
#include "daemon/node.h"
#include "daemon/relay.h"
#include "lib/log.h"

/* The view as the leader's state makes it; services and records carried over. */
int dmn_lead_build_view(struct dmn_node *n, struct dmn_view *v)
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
	/* Records stay only while their owner does (a view naming a gone owner is refused). */
	for (size_t i = 0; i < n->view.n_records; i++)
		if (!n->view.records[i].owner[0] || dmn_view_node(v, n->view.records[i].owner))
			v->records[v->n_records++] = n->view.records[i];
	/* Paths through NATs, as the nodes reported them (nat.c), for nodes still present. */
	if (n->n_lead_paths) {
		v->paths = calloc(n->n_lead_paths, sizeof(*v->paths));
		if (!v->paths) {
			dmn_view_done(v);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n->n_lead_paths; i++)
			if (dmn_view_node(v, n->lead_paths[i].node))
				v->paths[v->n_paths++] = n->lead_paths[i];
	}
	return 0;
}

int dmn_lead_publish(struct dmn_node *n)
{
	struct dmn_view v;
	int r = dmn_lead_build_view(n, &v);

	if (r)
		return r;
	dmn_view_done(&n->view);
	n->view = v;
	r = dmn_view_apply(n);
	n->view_heard_ms = dmn_now_ms(); /* ops: the view's age (metrics, doctor) */
	/* A view is pushed only once it is saved: a restart must not fall behind what members
	 * were told (they would refuse its views as old). */
	if (!r) {
		n->push_pending = true;
		pthread_cond_signal(&n->push_cond);
	}
	return r;
}

/* --- leader: push the view to every member ----------------------------------------------- */

enum { PUSH_THREADS = 8 }; /* pushes in flight at once: a down member costs its connect timeout */

struct push_job {
	struct dmn_node *n;
	const struct ov_peer *to;
	size_t count, first;
	const json_t *view;
};

/* Pushes to every PUSH_THREADS-th member from job->first on. */
static void *push_stripe(void *arg)
{
	struct push_job *job = arg;

	for (size_t i = job->first; i < job->count; i += PUSH_THREADS) {
		char err[256];

		if (!strcmp(job->to[i].name, job->n->st.self.name))
			continue;
		if (dmn_overlay_send(job->n, &job->to[i], DMN_CTL_VIEW, job->view, false, 2000, err,
				     sizeof(err)))
			log_debug("push: %s (it will pull)", err);
		else
			log_debug("pushed the view to %s", job->to[i].name);
	}
	return NULL;
}

void *dmn_lead_push_main(void *arg)
{
	struct dmn_node *n = arg;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct push_job jobs[PUSH_THREADS];
		pthread_t threads[PUSH_THREADS];
		bool started[PUSH_THREADS] = {false};
		struct ov_peer *to;
		size_t count;
		json_t *j;

		while (!n->push_pending && !n->stopping)
			pthread_cond_wait(&n->push_cond, &n->lock);
		if (n->stopping)
			break;
		n->push_pending = false;
		j = dmn_view_to_json(&n->view);
		count = n->view.n_nodes;
		to = calloc(count + 1, sizeof(*to));
		if (to)
			memcpy(to, n->view.nodes, count * sizeof(*to));
		pthread_mutex_unlock(&n->lock);
		/* In parallel stripes, each serial: a view reaches 20 members in about the time of
		 * three. The stripe that runs here needs no thread. */
		for (size_t t = 0; j && to && t < PUSH_THREADS && t < count; t++) {
			jobs[t] = (struct push_job){.n = n, .to = to, .count = count, .first = t,
						    .view = j};
			if (t > 0)
				started[t] = !pthread_create(&threads[t], NULL, push_stripe, &jobs[t]);
			if (t > 0 && !started[t])
				push_stripe(&jobs[t]);
		}
		if (j && to && count)
			push_stripe(&jobs[0]);
		for (size_t t = 1; t < PUSH_THREADS; t++)
			if (started[t])
				pthread_join(threads[t], NULL);
		json_decref(j);
		free(to);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
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
		r = dmn_store_save_tokens(n);
	if (!r && (c->effects & DMN_LEADER_SAVE_STATE)) {
		r = dmn_store_save_state(n);
		if (r && tokens) {
			dmn_leader_rollback(l, c);
			dmn_store_save_tokens(n);
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
	if ((c->effects & DMN_LEADER_PUBLISH) && dmn_lead_publish(n) &&
	    !(c->effects & (DMN_LEADER_SAVE_STATE | DMN_LEADER_SAVE_TOKENS))) {
		dmn_leader_rollback(l, c);
		dmn_lead_publish(n);
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
	if (dmn_lead_build_view(n, &v) == 0) {
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
int dmn_lead_do(struct dmn_node *n, const struct dmn_actor *who, const struct dmn_request *q,
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
	if (r) {
		log_info("%s from %s refused: %s", dmn_op_name(q->op),
			 who->kind == DMN_ACTOR_ADMIN ? "the admin" : who->node, err);
		json_decref(*ret);
		*ret = NULL;
	}
	return r;
}

/* --- NAT traversal: a member's paths, punch orders, STUN and TURN settings ----------------- */

/*
 * PATHS: the node's own candidates (the key proved which node; it cannot speak for another),
 * in the view from the next generation when they changed. PUNCH: tell the other node to
 * check now, at most once per second per (asker, peer) pair (the other end sends at most a round
 * of checks to the asker's published addresses, so a member cannot turn a peer into a
 * flood toward addresses of its choosing). NAT_CONFIG: STUN servers and the node's TURN
 * credentials (REST ones name the node; never the shared secret).
 */
static int lead_nat(struct dmn_node *n, const struct dmn_request *q, const char *node,
		    json_t **ret, char *err, size_t errlen)
{
	if (q->op == DMN_OP_PATHS) {
		struct dmn_paths p = q->paths;
		int r;

		snprintf(p.node, sizeof(p.node), "%s", node);
		r = dmn_nat_lead_paths(n, &p);
		if (r < 0) {
			snprintf(err, errlen, "%s", strerror(-r));
			return r;
		}
		if (r > 0) {
			pthread_mutex_lock(&n->lock);
			r = dmn_lead_publish(n);
			pthread_mutex_unlock(&n->lock);
			if (r < 0) {
				snprintf(err, errlen, "publishing: %s", strerror(-r));
				return r;
			}
		}
		*ret = json_object();
		return *ret ? 0 : -ENOMEM;
	}
	if (q->op == DMN_OP_PUNCH) {
		bool known;
		uint64_t now = dmn_now_ms();

		pthread_mutex_lock(&n->lock);
		known = dmn_view_node(&n->view, q->name) != NULL;
		pthread_mutex_unlock(&n->lock);
		if (!known || !strcmp(q->name, node)) {
			snprintf(err, errlen, "%s is not another node of the cluster", q->name);
			return -EINVAL;
		}
		if (dmn_nat_punch_allowed(n, node, q->name, now))
			dmn_nat_punch_order(n, q->name, node);
		*ret = json_object();
		return *ret ? 0 : -ENOMEM;
	}
	/* NAT_CONFIG */
	{
		struct dmn_nat_config c = {0};
		struct dmn_relay_config t;
		uint64_t expires = 0;

		c.n_stun = n->st.nat.n_stun;
		memcpy(c.stun, n->st.nat.stun, sizeof(c.stun));
		if (!dmn_nat_turn_credentials(n, node, &t, &expires)) {
			c.has_turn = true;
			c.turn = n->st.nat.turn;
			snprintf(c.user, sizeof(c.user), "%s", t.user);
			snprintf(c.password, sizeof(c.password), "%s", t.pass);
			c.expires = expires;
		}
		*ret = dmn_nat_config_to_json(&c);
		crypto_wipe(&t, sizeof(t));
		crypto_wipe(&c, sizeof(c));
		return *ret ? 0 : -ENOMEM;
	}
}

/*
 * What a node asks of the leader (the leader asks itself through this too); node is the
 * asking node. GET_VIEW is answered by the caller. 0 and *ret (may stay NULL) or -errno.
 */
int dmn_lead_node_request(struct dmn_node *n, const struct dmn_request *q, const char *node,
			  json_t **ret, char *err, size_t errlen)
{
	struct dmn_actor who;

	*ret = NULL;
	if (q->op == DMN_OP_TIME) { /* ops: weft doctor's clock check; decides nothing */
		*ret = json_pack("{s:I}", "time_ms", (json_int_t)dmn_wall_ms(n));
		return *ret ? 0 : -ENOMEM;
	}
	if (dmn_actor_node(&who, node)) {
		snprintf(err, errlen, "not a node name");
		return -EPERM;
	}
	if (q->op == DMN_OP_PATHS || q->op == DMN_OP_PUNCH || q->op == DMN_OP_NAT_CONFIG)
		return lead_nat(n, q, node, ret, err, errlen);
	return dmn_lead_do(n, &who, q, ret, err, errlen);
}

/* --- this node's own requests ------------------------------------------------------------ */

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
		return dmn_lead_do(n, &admin, q, ret, err, errlen);
	}
	r = dmn_ask_leader(n, q, &type, ret, err, errlen);
	if (!r)
		dmn_member_refresh(n); /* see the change now, not at the next push */
	return r;
}

/* --- ops: weft doctor's clock check ---------------------------------------------------------- */

int dmn_cluster_time(struct dmn_node *n, json_t **ret, char *err, size_t errlen)
{
	struct dmn_request q = {.op = DMN_OP_TIME};
	json_t *j = NULL, *t;
	int64_t t0, t1, lt;
	uint8_t type;
	int r;

	*ret = NULL;
	t0 = dmn_wall_ms(n);
	if (n->st.role == OV_ROLE_LEADER) {
		*ret = json_pack("{s:s,s:I,s:I,s:I}", "leader", n->st.self.name, "leader_time_ms",
				 (json_int_t)t0, "local_time_ms", (json_int_t)t0, "rtt_ms",
				 (json_int_t)0);
		return *ret ? 0 : -ENOMEM;
	}
	r = dmn_ask_leader(n, &q, &type, &j, err, errlen);
	t1 = dmn_wall_ms(n);
	if (r)
		return r;
	t = json_object_get(j, "time_ms");
	if (!json_is_integer(t)) {
		json_decref(j);
		snprintf(err, errlen, "the leader's reply has no time_ms (an older weftd?)");
		return -EPROTO;
	}
	lt = (int64_t)json_integer_value(t);
	json_decref(j);
	/* The leader read its clock about halfway through the round trip. */
	*ret = json_pack("{s:s,s:I,s:I,s:I}", "leader", n->st.leader.name, "leader_time_ms",
			 (json_int_t)lt, "local_time_ms", (json_int_t)(t0 + (t1 - t0) / 2),
			 "rtt_ms", (json_int_t)(t1 - t0));
	return *ret ? 0 : -ENOMEM;
}

int dmn_lead_token_psk(struct dmn_node *n, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
		       uint8_t psk[static DMN_CTL_SECRET_LEN], char *err, size_t errlen)
{
	struct dmn_leader l = leader_of(n);
	const struct dmn_token_rec *tok;
	int r;

	pthread_mutex_lock(&n->lock);
	r = dmn_leader_token_find(&l, id, (uint64_t)time(NULL), &tok, err, errlen);
	if (!r)
		memcpy(psk, tok->secret, DMN_CTL_SECRET_LEN);
	pthread_mutex_unlock(&n->lock);
	if (r) /* ops: counted for the metrics */
		atomic_fetch_add(&n->joins[DMN_JOIN_REFUSED_TOKEN], 1);
	return r;
}

int dmn_lead_admit(struct dmn_node *n, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
		   const struct dmn_join *m, struct ov_peer *ret_lease, json_t **ret_welcome,
		   char *err, size_t errlen)
{
	struct dmn_leader l = leader_of(n);
	struct dmn_leader_change chg;
	int r;

	pthread_mutex_lock(&n->lock);
	/* The token is checked again (used up by another join meanwhile, expired since the
	 * handshake) and loses a use in the same decision as the admission; the use is saved
	 * before the WELCOME is made. */
	r = dmn_leader_admit(&l, id, m, (uint64_t)time(NULL), ret_lease, &chg, err, errlen);
	if (!r)
		r = leader_save(n, &l, &chg, err, errlen);
	if (!r) {
		chg.what[0] = '\0'; /* the caller logs it, with where the join came from */
		r = leader_publish(n, &l, &chg, err, errlen);
	}
	if (!r) {
		*ret_welcome = dmn_welcome_to_json(&n->st, ret_lease, &n->view);
		if (!*ret_welcome)
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&n->lock);
	atomic_fetch_add(&n->joins[r ? DMN_JOIN_REFUSED : DMN_JOIN_ADMITTED], 1); /* ops */
	return r;
}

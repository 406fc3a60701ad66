/* SPDX-License-Identifier: MIT */
/*
 * daemon/leader — the leader's decisions, without sockets, clock or log (see leader.h). One
 * row per operation in op_table: who may send it and the one handler that decides it. Each
 * handler checks everything, then prepares what may fail (copies of the tables it changes),
 * then changes; from the first change on nothing fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "daemon/leader.h"

enum {
	UNDO_MEMBERS = 1 << 0,	/* old members array in c->members */
	UNDO_SERVICES = 1 << 1, /* old view services */
	UNDO_RECORDS = 1 << 2,	/* old view records */
	UNDO_TOKENS = 1 << 3,	/* old tokens in c->tokens */
	UNDO_ALLOC = 1 << 4,	/* the whole old allocator in c->alloc */
	UNDO_SUBNET = 1 << 5,	/* release (c->service, c->node) */
	UNDO_NODE = 1 << 6,	/* release node c->node */
	UNDO_ENDPOINT = 1 << 7, /* the leader's old endpoint in c->endpoint */
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void change_init(struct dmn_leader_change *c)
{
	memset(c, 0, sizeof(*c));
}

static void tokens_free(struct dmn_tokens *t)
{
	if (!t)
		return;
	crypto_wipe(t, sizeof(*t));
	free(t);
}

void dmn_leader_commit(struct dmn_leader_change *c)
{
	if (!c)
		return;
	if (c->undo & UNDO_MEMBERS)
		free(c->members);
	if (c->undo & UNDO_SERVICES)
		free(c->services);
	if (c->undo & UNDO_RECORDS)
		free(c->records);
	if (c->undo & UNDO_TOKENS)
		tokens_free(c->tokens);
	if (c->undo & UNDO_ALLOC)
		ov_alloc_done(&c->alloc);
	c->undo = 0;
	c->members = NULL;
	c->services = NULL;
	c->records = NULL;
	c->tokens = NULL;
}

void dmn_leader_rollback(struct dmn_leader *l, struct dmn_leader_change *c)
{
	if (!c)
		return;
	if (c->undo & UNDO_SUBNET)
		ov_alloc_subnet_release(&l->st->alloc, c->service, c->node);
	if (c->undo & UNDO_NODE)
		ov_alloc_node_release(&l->st->alloc, c->node);
	if (c->undo & UNDO_ALLOC) {
		ov_alloc_done(&l->st->alloc);
		l->st->alloc = c->alloc;
		memset(&c->alloc, 0, sizeof(c->alloc));
	}
	if (c->undo & UNDO_MEMBERS) {
		free(l->st->members);
		l->st->members = c->members;
		l->st->n_members = c->n_members;
	}
	if (c->undo & UNDO_SERVICES) {
		free(l->view->services);
		l->view->services = c->services;
		l->view->n_services = c->n_services;
	}
	if (c->undo & UNDO_RECORDS) {
		free(l->view->records);
		l->view->records = c->records;
		l->view->n_records = c->n_records;
	}
	if (c->undo & UNDO_TOKENS) {
		*l->tokens = *c->tokens;
		tokens_free(c->tokens);
	}
	if (c->undo & UNDO_ENDPOINT) {
		l->st->self.endpoint = c->endpoint;
		l->st->self.has_endpoint = c->has_endpoint;
	}
	change_init(c);
}

/* A table of n entries of size bytes copied into a new array with room for extra more (and
 * one, as dmn_view arrays always have). NULL on allocation failure. */
static void *table_copy(const void *src, size_t n, size_t size, size_t extra)
{
	void *p = calloc(n + extra + 1, size);

	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

/* --- actors and names ----------------------------------------------------------------------- */

int dmn_actor_node(struct dmn_actor *ret, const char *node)
{
	if (!node || !ov_alloc_name_valid(node))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->kind = DMN_ACTOR_NODE;
	strcpy(ret->node, node);
	return 0;
}

void dmn_actor_admin(struct dmn_actor *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->kind = DMN_ACTOR_ADMIN;
}

static const char *actor_text(const struct dmn_actor *who)
{
	return who->kind == DMN_ACTOR_ADMIN ? "the admin" : who->node;
}

static const struct ov_peer *member(const struct dmn_leader *l, const char *name)
{
	for (size_t i = 0; i < l->st->n_members; i++)
		if (!strcmp(l->st->members[i].name, name))
			return &l->st->members[i];
	return NULL;
}

static bool is_node(const struct dmn_leader *l, const char *name)
{
	return !strcmp(l->st->self.name, name) || member(l, name);
}

/* "leader" names the leader, node-* the IP-derived names of every node (dns.c). */
static bool reserved(const char *label)
{
	return !strcmp(label, "leader") || !strncmp(label, "node-", 5);
}

static bool service_in_use(const struct dmn_leader *l, const char *name)
{
	const struct ov_alloc *a = &l->st->alloc;

	for (size_t i = 0; i < a->n_subnets; i++)
		if (!strcmp(a->subnets[i].service, name))
			return true;
	for (size_t i = 0; i < l->view->n_services; i++)
		if (!strcmp(l->view->services[i].service, name))
			return true;
	return false;
}

/*
 * A record name relative to the zone, as dns.c's zone takes it: "db" stays "db", "db.<zone>"
 * (absolute) becomes "db", the zone itself "". False for an absolute name outside the zone.
 */
static bool record_rel(const char *zone, const char *name, char out[static OV_STATE_ZONE_MAX + 1])
{
	size_t n = strlen(name), z = strlen(zone);

	if (n == 0 || n > OV_STATE_ZONE_MAX)
		return false;
	if (name[n - 1] != '.') {
		memcpy(out, name, n + 1);
		return true;
	}
	if (!strcmp(name, zone)) {
		out[0] = '\0';
		return true;
	}
	if (n > z + 1 && name[n - z - 1] == '.' && !strcmp(name + n - z, zone)) {
		memcpy(out, name, n - z - 1);
		out[n - z - 1] = '\0';
		return true;
	}
	return false;
}

/* The label a relative name sits under ("x.db" -> "db"); "" for the apex. */
static const char *top_label(const char *rel)
{
	const char *dot = strrchr(rel, '.');

	return dot ? dot + 1 : rel;
}

/* The record whose name sits under label, if any (for a node or a service name). */
static const struct dmn_record *record_under(const struct dmn_leader *l, const char *label)
{
	char rel[OV_STATE_ZONE_MAX + 1];

	for (size_t i = 0; i < l->view->n_records; i++)
		if (record_rel(l->st->zone, l->view->records[i].name, rel) &&
		    !strcmp(top_label(rel), label))
			return &l->view->records[i];
	return NULL;
}

static const char *owner_text(const char *owner)
{
	return owner[0] ? owner : "the admin";
}

/* Two record names for the same DNS name ("db" and "db.<zone>"). */
static bool same_record_name(const char *zone, const char *a, const char *b)
{
	char ra[OV_STATE_ZONE_MAX + 1], rb[OV_STATE_ZONE_MAX + 1];

	if (!record_rel(zone, a, ra) || !record_rel(zone, b, rb))
		return !strcmp(a, b);
	return !strcmp(ra, rb);
}

/* --- join tokens ---------------------------------------------------------------------------- */

static struct dmn_token_rec *token_find(const struct dmn_leader *l, const uint8_t *id)
{
	struct dmn_token_rec *found = NULL;

	/* every id compared, in constant time: the position of a match does not leak either */
	for (size_t i = 0; i < l->tokens->n; i++)
		if (crypto_equal(l->tokens->recs[i].id, id, DMN_CTL_TOKEN_ID_LEN))
			found = &l->tokens->recs[i];
	return found;
}

int dmn_leader_token_find(const struct dmn_leader *l, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
			  uint64_t now, const struct dmn_token_rec **ret, char *err, size_t errlen)
{
	const struct dmn_token_rec *t = token_find(l, id);

	if (!t)
		return fail(err, errlen, -ENOENT, "unknown or used-up token");
	if (t->expires <= now)
		return fail(err, errlen, -EKEYEXPIRED, "token expired");
	*ret = t;
	return 0;
}

/* One use of the token at index i (c->tokens holds the old table). A spent token stays
 * (uses 0) until it expires: a joiner it admitted may have to finish its join again. */
static void token_consume(struct dmn_leader *l, size_t i)
{
	l->tokens->recs[i].uses--;
}

static int tokens_snapshot(const struct dmn_leader *l, struct dmn_leader_change *c)
{
	c->tokens = malloc(sizeof(*c->tokens));
	if (!c->tokens)
		return -ENOMEM;
	*c->tokens = *l->tokens;
	c->undo |= UNDO_TOKENS;
	return 0;
}

static int op_token_create(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
			   const struct dmn_request *q, uint64_t now, json_t **ret,
			   struct dmn_leader_change *c, char *err, size_t errlen)
{
	uint64_t ttl = q->ttl ? q->ttl : DMN_LEADER_TOKEN_TTL_DEFAULT;
	uint32_t uses = q->uses ? q->uses : 1;
	struct dmn_token_rec rec;
	char text[DMN_CTL_TOKEN_STRLEN];
	struct dmn_token t;
	size_t live = 0, spent = 0, kept = 0;
	int r;

	(void)who;
	(void)node;
	if (ttl > DMN_CTL_TTL_MAX)
		return fail(err, errlen, -EINVAL, "a token lives at most %d s", DMN_CTL_TTL_MAX);
	if (!l->st->self.has_endpoint)
		return fail(err, errlen, -EINVAL,
			    "the leader has no advertised endpoint (weft init --endpoint)");
	for (size_t i = 0; i < l->tokens->n; i++)
		live += l->tokens->recs[i].expires > now && l->tokens->recs[i].uses;
	if (live >= DMN_CTL_TOKENS_MAX)
		return fail(err, errlen, -ENOSPC, "%d live tokens already", DMN_CTL_TOKENS_MAX);
	if (!l->random)
		return fail(err, errlen, -ENOSYS, "no randomness for a token");
	memset(&rec, 0, sizeof(rec));
	r = l->random(rec.id, sizeof(rec.id));
	if (!r)
		r = l->random(rec.secret, sizeof(rec.secret));
	if (r) {
		crypto_wipe(&rec, sizeof(rec));
		return fail(err, errlen, r < 0 ? r : -EIO, "no randomness for a token");
	}
	rec.expires = now + ttl;
	rec.uses = uses;
	memset(&t, 0, sizeof(t));
	memcpy(t.id, rec.id, sizeof(t.id));
	memcpy(t.secret, rec.secret, sizeof(t.secret));
	memcpy(t.leader_key, l->st->self.public_key, OV_KEY_LEN);
	t.endpoint = l->st->self.endpoint;
	dmn_token_format(&t, text);
	crypto_wipe(&t, sizeof(t));
	*ret = json_pack("{s:s,s:I}", "token", text, "expires", (json_int_t)rec.expires);
	crypto_wipe(text, sizeof(text));
	if (!*ret || tokens_snapshot(l, c)) {
		json_decref(*ret);
		*ret = NULL;
		crypto_wipe(&rec, sizeof(rec));
		change_init(c);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	/* from here on nothing fails: drop the expired ones, and the spent ones too when the
	 * table is full (a retry of their joins then needs a new token), add the new one */
	for (size_t i = 0; i < l->tokens->n; i++)
		spent += l->tokens->recs[i].expires > now && !l->tokens->recs[i].uses;
	for (size_t i = 0; i < l->tokens->n; i++)
		if (l->tokens->recs[i].expires > now &&
		    (l->tokens->recs[i].uses || live + spent < DMN_CTL_TOKENS_MAX))
			l->tokens->recs[kept++] = l->tokens->recs[i];
	crypto_wipe(&l->tokens->recs[kept], (l->tokens->n - kept) * sizeof(rec));
	l->tokens->n = kept;
	l->tokens->recs[l->tokens->n++] = rec;
	crypto_wipe(&rec, sizeof(rec));
	c->effects = DMN_LEADER_SAVE_TOKENS;
	snprintf(c->what, sizeof(c->what), "join token created (%" PRIu64 " s, %" PRIu32 " use%s)",
		 ttl, uses, uses > 1 ? "s" : "");
	return 0;
}

/* The leader's advertised endpoint (issue 12 item 6): what new tokens carry and members
 * find it at, when its underlay address changed. */
static int op_endpoint_set(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
			   const struct dmn_request *q, uint64_t now, json_t **ret,
			   struct dmn_leader_change *c, char *err, size_t errlen)
{
	const struct ov_endpoint *e = &q->endpoint;
	static const uint8_t zero[16];
	char ep[OV_ENDPOINT_STRLEN], old[OV_ENDPOINT_STRLEN];

	(void)who;
	(void)node;
	(void)now;
	(void)ret;
	ov_endpoint_format(e, ep);
	if ((e->family != 4 && e->family != 6) || !e->port ||
	    !memcmp(e->addr, zero, e->family == 4 ? 4 : 16))
		return fail(err, errlen, -EINVAL, "%s is not an address other nodes can reach", ep);
	if (l->st->self.has_endpoint && !memcmp(&l->st->self.endpoint, e, sizeof(*e)))
		return 0; /* nothing changes */
	if (l->st->self.has_endpoint)
		ov_endpoint_format(&l->st->self.endpoint, old);
	else
		strcpy(old, "none");
	c->endpoint = l->st->self.endpoint;
	c->has_endpoint = l->st->self.has_endpoint;
	c->undo |= UNDO_ENDPOINT;
	l->st->self.endpoint = *e;
	l->st->self.has_endpoint = true;
	c->effects = DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH;
	snprintf(c->what, sizeof(c->what), "the leader's endpoint is %s (was %s)", ep, old);
	return 0;
}

/* --- subnets and containers ----------------------------------------------------------------- */

static int op_subnet(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
		     const struct dmn_request *q, uint64_t now, json_t **ret,
		     struct dmn_leader_change *c, char *err, size_t errlen)
{
	const struct ov_alloc *a = &l->st->alloc;
	const struct dmn_record *rec;
	char pf[OV_PREFIX_STRLEN];
	struct ov_prefix sn;
	size_t held = 0;
	int r;

	(void)who;
	(void)now;
	if (!ov_alloc_name_valid(q->service))
		return fail(err, errlen, -EINVAL, "not a service name");
	/* Held already: the same subnet again (an attach after a detach, a retry). */
	if (ov_alloc_subnet_get(a, q->service, node, &sn) == 0) {
		*ret = json_pack("{s:o}", "subnet", ov_json_prefix_new(&sn, true));
		return *ret ? 0 : fail(err, errlen, -ENOMEM, "out of memory");
	}
	if (reserved(q->service))
		return fail(err, errlen, -EINVAL,
			    "service name %s is reserved (leader and node-... are DNS names of "
			    "the nodes)",
			    q->service);
	if (is_node(l, q->service))
		return fail(err, errlen, -EEXIST, "service name %s is the name of a node",
			    q->service);
	rec = record_under(l, q->service);
	if (rec)
		return fail(err, errlen, -EEXIST,
			    "service name %s is taken by the DNS record %s of %s", q->service,
			    rec->name, owner_text(rec->owner));
	for (size_t i = 0; i < a->n_subnets; i++)
		held += !strcmp(a->subnets[i].node, node);
	if (held >= DMN_LEADER_NODE_SUBNETS_MAX)
		return fail(err, errlen, -EDQUOT,
			    "no subnet for service %s on %s: quota of %d service subnets per node "
			    "reached",
			    q->service, node, DMN_LEADER_NODE_SUBNETS_MAX);
	r = ov_alloc_subnet_add(&l->st->alloc, q->service, node, &sn);
	if (r < 0)
		return fail(err, errlen, r, "no subnet for service %s on %s: %s", q->service, node,
			    r == -ENOSPC ? "the cluster range is full" : strerror(-r));
	c->undo = UNDO_SUBNET;
	strcpy(c->service, q->service);
	strcpy(c->node, node);
	*ret = json_pack("{s:o}", "subnet", ov_json_prefix_new(&sn, true));
	if (!*ret) {
		dmn_leader_rollback(l, c);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	ov_prefix_format(&sn, pf);
	c->effects = DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH;
	snprintf(c->what, sizeof(c->what), "subnet %s for service %s on %s", pf, q->service, node);
	return 0;
}

static int op_service_add(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
			  const struct dmn_request *q, uint64_t now, json_t **ret,
			  struct dmn_leader_change *c, char *err, size_t errlen)
{
	struct dmn_view *v = l->view;
	struct dmn_service *svc;
	struct ov_prefix sn;
	size_t held = 0;

	(void)who;
	(void)now;
	(void)ret;
	if (!ov_alloc_name_valid(q->service) || !ov_alloc_name_valid(q->container) ||
	    q->n_ports > DMN_CTL_PORTS_MAX || !q->has_addr)
		return fail(err, errlen, -EINVAL, "malformed service-add");
	/* the subnet was given to this node by SUBNET, which checked the service name */
	if (ov_alloc_subnet_get(&l->st->alloc, q->service, node, &sn) ||
	    !ov_prefix_contains(&sn, &q->addr))
		return fail(err, errlen, -EINVAL,
			    "address not inside the subnet of service %s on %s", q->service, node);
	for (size_t i = 0; i < v->n_services; i++) {
		const struct dmn_service *s = &v->services[i];

		if (!strcmp(s->node, node) && !strcmp(s->container, q->container))
			return fail(err, errlen, -EEXIST, "container %s is already attached on %s",
				    q->container, node);
		if (!strcmp(s->service, q->service) && !strcmp(s->container, q->container))
			return fail(err, errlen, -EEXIST,
				    "service %s has a container %s already (on %s): %s.%s is one "
				    "DNS name",
				    q->service, q->container, s->node, q->container, q->service);
		if (ov_prefix_equal(&s->addr, &q->addr))
			return fail(err, errlen, -EEXIST, "address in use by %s on %s",
				    s->container, s->node);
		held += !strcmp(s->node, node);
	}
	if (held >= DMN_LEADER_NODE_CONTAINERS_MAX)
		return fail(err, errlen, -EDQUOT,
			    "container %s not attached on %s: quota of %d containers per node "
			    "reached",
			    q->container, node, DMN_LEADER_NODE_CONTAINERS_MAX);
	if (v->n_services >= DMN_CTL_SERVICES_MAX)
		return fail(err, errlen, -ENOSPC, "%d services attached already",
			    DMN_CTL_SERVICES_MAX);
	svc = table_copy(v->services, v->n_services, sizeof(*svc), 1);
	if (!svc)
		return fail(err, errlen, -ENOMEM, "out of memory");
	c->undo = UNDO_SERVICES;
	c->services = v->services;
	c->n_services = v->n_services;
	v->services = svc;
	svc = &v->services[v->n_services++];
	memset(svc, 0, sizeof(*svc));
	strcpy(svc->service, q->service);
	strcpy(svc->node, node);
	strcpy(svc->container, q->container);
	svc->addr = q->addr;
	memcpy(svc->ports, q->ports, sizeof(svc->ports));
	svc->n_ports = q->n_ports;
	c->effects = DMN_LEADER_PUBLISH;
	snprintf(c->what, sizeof(c->what), "service %s: container %s on %s attached", q->service,
		 q->container, node);
	return 0;
}

static int op_service_del(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
			  const struct dmn_request *q, uint64_t now, json_t **ret,
			  struct dmn_leader_change *c, char *err, size_t errlen)
{
	struct dmn_view *v = l->view;
	struct dmn_service *svc;
	size_t i;

	(void)who;
	(void)now;
	(void)ret;
	for (i = 0; i < v->n_services; i++)
		if (!strcmp(v->services[i].node, node) &&
		    !strcmp(v->services[i].container, q->container))
			break;
	if (i == v->n_services)
		return fail(err, errlen, -ENOENT, "no container %s attached on %s", q->container,
			    node);
	svc = table_copy(v->services, v->n_services, sizeof(*svc), 0);
	if (!svc)
		return fail(err, errlen, -ENOMEM, "out of memory");
	snprintf(c->what, sizeof(c->what), "service %s: container %s on %s detached",
		 v->services[i].service, q->container, node);
	memmove(&svc[i], &svc[i + 1], (v->n_services - i - 1) * sizeof(*svc));
	c->undo = UNDO_SERVICES;
	c->services = v->services;
	c->n_services = v->n_services;
	v->services = svc;
	v->n_services--;
	c->effects = DMN_LEADER_PUBLISH;
	return 0;
}

/* --- custom records ------------------------------------------------------------------------- */

static int op_dns_add(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
		      const struct dmn_request *q, uint64_t now, json_t **ret,
		      struct dmn_leader_change *c, char *err, size_t errlen)
{
	const char *owner = who->kind == DMN_ACTOR_ADMIN ? "" : who->node, *top;
	char rel[OV_STATE_ZONE_MAX + 1], addr[OV_PREFIX_STRLEN];
	struct dmn_view *v = l->view;
	struct dmn_record *rec;
	size_t owned = 0;

	(void)node;
	(void)now;
	(void)ret;
	if (!dmn_record_name_valid(q->name) || !q->has_addr)
		return fail(err, errlen, -EINVAL, "malformed dns-add");
	if (!record_rel(l->st->zone, q->name, rel))
		return fail(err, errlen, -EINVAL, "%s is outside the zone %s", q->name,
			    l->st->zone);
	top = top_label(rel);
	if (top[0] && reserved(top))
		return fail(err, errlen, -EINVAL,
			    "%s would shadow %s: leader and node-... are DNS names of the nodes",
			    q->name, top);
	if (top[0] && is_node(l, top))
		return fail(err, errlen, -EEXIST, "%s would shadow the node %s", q->name, top);
	if (top[0] && service_in_use(l, top))
		return fail(err, errlen, -EEXIST, "%s would shadow the service %s", q->name, top);
	for (size_t i = 0; i < v->n_records; i++) {
		const struct dmn_record *o = &v->records[i];

		if (!strcmp(o->owner, owner))
			owned++;
		if (!same_record_name(l->st->zone, o->name, q->name))
			continue;
		if (ov_prefix_equal(&o->addr, &q->addr))
			return fail(err, errlen, -EEXIST, "%s already has that address", q->name);
		if (who->kind != DMN_ACTOR_ADMIN && strcmp(o->owner, owner))
			return fail(err, errlen, -EEXIST, "%s is held by records of %s", q->name,
				    owner_text(o->owner));
	}
	if (who->kind != DMN_ACTOR_ADMIN && owned >= DMN_LEADER_NODE_RECORDS_MAX)
		return fail(err, errlen, -EDQUOT,
			    "record %s not added: quota of %d records per node reached by %s",
			    q->name, DMN_LEADER_NODE_RECORDS_MAX, owner);
	if (v->n_records >= DMN_CTL_RECORDS_MAX)
		return fail(err, errlen, -ENOSPC, "%d records already", DMN_CTL_RECORDS_MAX);
	rec = table_copy(v->records, v->n_records, sizeof(*rec), 1);
	if (!rec)
		return fail(err, errlen, -ENOMEM, "out of memory");
	c->undo = UNDO_RECORDS;
	c->records = v->records;
	c->n_records = v->n_records;
	v->records = rec;
	rec = &v->records[v->n_records++];
	memset(rec, 0, sizeof(*rec));
	strcpy(rec->name, q->name);
	rec->addr = q->addr;
	strcpy(rec->owner, owner);
	ov_addr_format(&q->addr, addr);
	c->effects = DMN_LEADER_PUBLISH;
	snprintf(c->what, sizeof(c->what), "record %s %s added by %s", q->name, addr,
		 actor_text(who));
	return 0;
}

static bool record_match(const struct dmn_leader *l, const struct dmn_record *r,
			 const struct dmn_request *q)
{
	return same_record_name(l->st->zone, r->name, q->name) &&
	       (!q->has_addr || ov_prefix_equal(&r->addr, &q->addr));
}

/* The admin removes every matching record; a node those it owns, and only when there are. */
static int op_dns_rm(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
		     const struct dmn_request *q, uint64_t now, json_t **ret,
		     struct dmn_leader_change *c, char *err, size_t errlen)
{
	const char *owner = who->kind == DMN_ACTOR_ADMIN ? NULL : who->node, *other = NULL;
	struct dmn_view *v = l->view;
	struct dmn_record *recs;
	size_t matched = 0, gone = 0, kept = 0;

	(void)node;
	(void)now;
	(void)ret;
	for (size_t i = 0; i < v->n_records; i++) {
		if (!record_match(l, &v->records[i], q))
			continue;
		matched++;
		if (!owner || !strcmp(v->records[i].owner, owner))
			gone++;
		else
			other = v->records[i].owner;
	}
	if (!matched)
		return fail(err, errlen, -ENOENT, "no record %s%s", q->name,
			    q->has_addr ? " with that address" : "");
	if (!gone)
		return fail(err, errlen, -EPERM, "record %s is owned by %s, not by %s", q->name,
			    owner_text(other), owner);
	recs = table_copy(NULL, 0, sizeof(*recs), v->n_records);
	if (!recs)
		return fail(err, errlen, -ENOMEM, "out of memory");
	for (size_t i = 0; i < v->n_records; i++) {
		const struct dmn_record *r = &v->records[i];

		if (record_match(l, r, q) && (!owner || !strcmp(r->owner, owner)))
			continue;
		recs[kept++] = *r;
	}
	c->undo = UNDO_RECORDS;
	c->records = v->records;
	c->n_records = v->n_records;
	v->records = recs;
	v->n_records = kept;
	c->effects = DMN_LEADER_PUBLISH;
	snprintf(c->what, sizeof(c->what), "%zu record%s of %s removed by %s%s", gone,
		 gone == 1 ? "" : "s", q->name, actor_text(who),
		 matched > gone ? " (those of other owners kept)" : "");
	return 0;
}

/* --- membership ------------------------------------------------------------------------------- */

/* A copy of an allocator through its persisted form (it has no other copy). */
static int alloc_copy(const struct ov_alloc *a, struct ov_alloc *ret)
{
	json_t *j = NULL;
	int r = ov_alloc_to_json(a, &j);

	if (r)
		return r;
	r = ov_alloc_from_json(j, ret, NULL, 0);
	json_decref(j);
	return r;
}

static int remove_node(struct dmn_leader *l, const char *name, struct ov_peer *ret_gone,
		       struct dmn_leader_change *c, char *err, size_t errlen)
{
	struct dmn_view *v = l->view;
	struct ov_peer *members = NULL;
	struct dmn_service *svcs = NULL;
	struct dmn_record *recs = NULL;
	struct ov_alloc alloc;
	size_t idx, nm = 0, ns = 0, nr = 0, subnets = 0;
	const struct ov_peer *gone;

	if (!strcmp(name, l->st->self.name))
		return fail(err, errlen, -EINVAL, "%s is the leader itself", name);
	gone = member(l, name);
	if (!gone)
		return fail(err, errlen, -ENOENT, "no node named %s", name);
	idx = (size_t)(gone - l->st->members);
	memset(&alloc, 0, sizeof(alloc));
	members = table_copy(NULL, 0, sizeof(*members), l->st->n_members);
	svcs = table_copy(NULL, 0, sizeof(*svcs), v->n_services);
	recs = table_copy(NULL, 0, sizeof(*recs), v->n_records);
	if (!members || !svcs || !recs || alloc_copy(&l->st->alloc, &alloc)) {
		free(members);
		free(svcs);
		free(recs);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < alloc.n_subnets; i++)
		subnets += !strcmp(alloc.subnets[i].node, name);
	ov_alloc_node_release(&alloc, name);
	for (size_t i = 0; i < l->st->n_members; i++)
		if (i != idx)
			members[nm++] = l->st->members[i];
	for (size_t i = 0; i < v->n_services; i++)
		if (strcmp(v->services[i].node, name))
			svcs[ns++] = v->services[i];
	for (size_t i = 0; i < v->n_records; i++)
		if (strcmp(v->records[i].owner, name))
			recs[nr++] = v->records[i];
	snprintf(c->what, sizeof(c->what),
		 "node %s removed: its addresses released; %zu subnet%s, %zu container%s and "
		 "%zu record%s dropped",
		 name, subnets, subnets == 1 ? "" : "s", v->n_services - ns,
		 v->n_services - ns == 1 ? "" : "s", v->n_records - nr,
		 v->n_records - nr == 1 ? "" : "s");
	if (ret_gone)
		*ret_gone = *gone;
	c->undo = UNDO_ALLOC | UNDO_MEMBERS | UNDO_SERVICES | UNDO_RECORDS;
	c->alloc = l->st->alloc;
	l->st->alloc = alloc;
	c->members = l->st->members;
	c->n_members = l->st->n_members;
	l->st->members = members;
	l->st->n_members = nm;
	c->services = v->services;
	c->n_services = v->n_services;
	v->services = svcs;
	v->n_services = ns;
	c->records = v->records;
	c->n_records = v->n_records;
	v->records = recs;
	v->n_records = nr;
	c->effects = DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH;
	return 0;
}

static int op_node_remove(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
			  const struct dmn_request *q, uint64_t now, json_t **ret,
			  struct dmn_leader_change *c, char *err, size_t errlen)
{
	(void)who;
	(void)node;
	(void)now;
	(void)ret;
	if (!ov_alloc_name_valid(q->name))
		return fail(err, errlen, -EINVAL, "not a node name");
	return remove_node(l, q->name, NULL, c, err, errlen);
}

/* --- the table ------------------------------------------------------------------------------ */

typedef int (*op_fn)(struct dmn_leader *l, const struct dmn_actor *who, const char *node,
		     const struct dmn_request *q, uint64_t now, json_t **ret,
		     struct dmn_leader_change *c, char *err, size_t errlen);

#define ADMIN (1u << DMN_ACTOR_ADMIN)
#define NODE  (1u << DMN_ACTOR_NODE)

/* One row per request the leader decides: who may send it, and its handler. */
static const struct op_row {
	enum dmn_op op;
	unsigned may;
	op_fn fn;
} op_table[] = {
	{DMN_OP_SUBNET, ADMIN | NODE, op_subnet},
	{DMN_OP_SERVICE_ADD, ADMIN | NODE, op_service_add},
	{DMN_OP_SERVICE_DEL, ADMIN | NODE, op_service_del},
	{DMN_OP_DNS_ADD, ADMIN | NODE, op_dns_add},
	{DMN_OP_DNS_RM, ADMIN | NODE, op_dns_rm},
	{DMN_OP_NODE_REMOVE, ADMIN, op_node_remove},
	{DMN_OP_TOKEN_CREATE, ADMIN, op_token_create},
	{DMN_OP_ENDPOINT_SET, ADMIN, op_endpoint_set},
};

static const struct op_row *op_row(enum dmn_op op)
{
	for (size_t i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++)
		if (op_table[i].op == op)
			return &op_table[i];
	return NULL;
}

bool dmn_leader_may(const struct dmn_actor *who, enum dmn_op op)
{
	const struct op_row *row = op_row(op);

	return row && who && (who->kind == DMN_ACTOR_ADMIN || who->kind == DMN_ACTOR_NODE) &&
	       (row->may & (1u << who->kind));
}

/* The node an actor acts as (the admin: the leader node), or a refusal. */
static int actor_node(const struct dmn_leader *l, const struct dmn_actor *who, const char **ret,
		      char *err, size_t errlen)
{
	if (l->st->role != OV_ROLE_LEADER)
		return fail(err, errlen, -EINVAL, "this node is not the leader");
	if (!who || (who->kind != DMN_ACTOR_ADMIN && who->kind != DMN_ACTOR_NODE))
		return fail(err, errlen, -EPERM, "no actor");
	if (who->kind == DMN_ACTOR_ADMIN) {
		*ret = l->st->self.name;
		return 0;
	}
	if (!is_node(l, who->node))
		return fail(err, errlen, -EPERM, "%s is not a node of this cluster", who->node);
	*ret = who->node;
	return 0;
}

static int authorize(const struct dmn_leader *l, const struct dmn_actor *who, enum dmn_op op,
		     const char **ret_node, char *err, size_t errlen)
{
	const struct op_row *row = op_row(op);
	int r;

	if (!row)
		return fail(err, errlen, -EINVAL, "%s is not a request for the leader",
			    dmn_op_name(op));
	r = actor_node(l, who, ret_node, err, errlen);
	if (r)
		return r;
	if (!dmn_leader_may(who, op))
		return fail(err, errlen, -EPERM,
			    "%s may not send %s: only the admin may (the root CLI on the leader)",
			    actor_text(who), dmn_op_name(op));
	return 0;
}

int dmn_leader_request(struct dmn_leader *l, const struct dmn_actor *who,
		       const struct dmn_request *q, uint64_t now, json_t **ret,
		       struct dmn_leader_change *chg, char *err, size_t errlen)
{
	const char *node = NULL; /* set by authorize() when it returns 0 */
	int r;

	change_init(chg);
	*ret = NULL;
	r = authorize(l, who, q->op, &node, err, errlen);
	if (r)
		return r;
	r = op_row(q->op)->fn(l, who, node, q, now, ret, chg, err, errlen);
	if (r) {
		json_decref(*ret);
		*ret = NULL;
	}
	return r;
}

int dmn_leader_remove(struct dmn_leader *l, const struct dmn_actor *who, const char *name,
		      struct ov_peer *ret_gone, struct dmn_leader_change *chg, char *err,
		      size_t errlen)
{
	const char *node;
	int r;

	change_init(chg);
	r = authorize(l, who, DMN_OP_NODE_REMOVE, &node, err, errlen);
	if (r)
		return r;
	if (!name || !ov_alloc_name_valid(name))
		return fail(err, errlen, -EINVAL, "not a node name");
	return remove_node(l, name, ret_gone, chg, err, errlen);
}

int dmn_leader_admit(struct dmn_leader *l, const uint8_t token_id[static DMN_CTL_TOKEN_ID_LEN],
		     const struct dmn_join *m, uint64_t now, struct ov_peer *ret,
		     struct dmn_leader_change *chg, char *err, size_t errlen)
{
	static const uint8_t zero[OV_KEY_LEN];
	const struct dmn_token_rec *tok;
	const struct dmn_record *rec;
	struct ov_alloc_lease lease;
	struct ov_peer *members, *p;
	size_t n = l->st->n_members, i;
	int r;

	change_init(chg);
	if (l->st->role != OV_ROLE_LEADER)
		return fail(err, errlen, -EINVAL, "this node is not the leader");
	r = dmn_leader_token_find(l, token_id, now, &tok, err, errlen);
	if (r)
		return r;
	if (!ov_alloc_name_valid(m->name) || crypto_equal(m->public_key, zero, OV_KEY_LEN))
		return fail(err, errlen, -EINVAL, "malformed join");
	if (!strcmp(m->name, l->st->self.name) ||
	    !memcmp(m->public_key, l->st->self.public_key, OV_KEY_LEN))
		return fail(err, errlen, -EEXIST, "name or key of the leader");
	for (i = 0; i < n; i++) {
		const struct ov_peer *o = &l->st->members[i];
		bool same_name = !strcmp(o->name, m->name),
		     same_key = !memcmp(o->public_key, m->public_key, OV_KEY_LEN);

		if (same_name && same_key)
			break; /* a retry: the same lease, a new endpoint */
		if (same_name)
			return fail(err, errlen, -EEXIST, "name %s is taken by node %s", m->name,
				    o->name);
		if (same_key)
			return fail(err, errlen, -EEXIST, "public key is taken by node %s",
				    o->name);
	}
	if (i == n) {
		if (!tok->uses)
			return fail(err, errlen, -ENOENT, "unknown or used-up token");
		if (reserved(m->name))
			return fail(err, errlen, -EINVAL,
				    "the name %s is reserved (leader and node-... are DNS names "
				    "of the nodes)",
				    m->name);
		if (service_in_use(l, m->name))
			return fail(err, errlen, -EEXIST, "%s is the name of a service", m->name);
		rec = record_under(l, m->name);
		if (rec)
			return fail(err, errlen, -EEXIST, "%s is taken by the DNS record %s of %s",
				    m->name, rec->name, owner_text(rec->owner));
		if (n >= OV_STATE_MAX_MEMBERS)
			return fail(err, errlen, -ENOSPC, "the cluster has %d members already",
				    OV_STATE_MAX_MEMBERS);
	}
	members = table_copy(l->st->members, n, sizeof(*members), 1);
	if (!members || (i == n && tokens_snapshot(l, chg))) {
		free(members);
		change_init(chg);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	if (i == n) {
		r = ov_alloc_node_add(&l->st->alloc, m->name, &lease);
		if (r < 0) {
			free(members);
			dmn_leader_rollback(l, chg);
			return fail(err, errlen, r, "no address for %s: %s", m->name,
				    r == -ENOSPC ? "the host range is exhausted" : strerror(-r));
		}
		chg->undo |= UNDO_NODE;
		strcpy(chg->node, m->name);
		p = &members[n];
		memset(p, 0, sizeof(*p));
		strcpy(p->name, m->name);
		memcpy(p->public_key, m->public_key, OV_KEY_LEN);
		p->ip4 = lease.ip4;
		p->ip6 = lease.ip6;
		p->slice = lease.slice;
	} else {
		p = &members[i];
	}
	p->has_endpoint = m->has_endpoint;
	p->endpoint = m->endpoint;
	chg->undo |= UNDO_MEMBERS;
	chg->members = l->st->members;
	chg->n_members = n;
	l->st->members = members;
	l->st->n_members = i == n ? n + 1 : n;
	/* A retry (the same name and key: the joiner proved that key in the handshake) finishes
	 * the admission it already had and spends nothing (issue 12 item 1). */
	chg->effects = DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH;
	if (i == n) {
		token_consume(l, (size_t)(tok - l->tokens->recs));
		chg->effects |= DMN_LEADER_SAVE_TOKENS;
	}
	*ret = *p;
	if (i == n) {
		char ip[OV_PREFIX_STRLEN];

		ov_addr_format(&p->ip4, ip);
		snprintf(chg->what, sizeof(chg->what), "node %s admitted: %s", m->name, ip);
	} else {
		snprintf(chg->what, sizeof(chg->what), "node %s admitted again (the same lease)",
			 m->name);
	}
	return 0;
}

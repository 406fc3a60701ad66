/* SPDX-License-Identifier: MIT */
/*
 * The leader's decisions (daemon/leader.c), driven directly: no sockets, no files, a fixed
 * clock and a counting random source. A cluster of three (n1 the leader, n2, n3) with a
 * service web on n2 and n3, container c1 of web on n2, the admin's record db and n2's record
 * api is built through the module itself; then every row of a table is one request by one
 * actor, the legitimate operation next to the attack. A refusal must leave every table
 * byte-for-byte as it was and say why; a success must report its effects, and its rollback
 * must restore every table byte-for-byte (the caller's undo when a save fails). Then the
 * sequences a table cannot show: quotas (issue 11 attack 2: 3,837 subnet requests by one
 * member), removal, admission, tokens.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/leader.h"

#define NOW 1700000000ULL

/* --- fixture ---------------------------------------------------------------------------------- */

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static unsigned random_calls;

static int counting_random(void *buf, size_t len)
{
	fill(buf, len, (uint8_t)(0x80 + random_calls++));
	return 0;
}

static int broken_random(void *buf, size_t len)
{
	(void)buf;
	(void)len;
	return -EIO;
}

enum { TOK_LIVE, TOK_ONCE, TOK_EXPIRED, TOK_UNKNOWN };

static void token_id(uint8_t id[static DMN_CTL_TOKEN_ID_LEN], int which)
{
	fill(id, DMN_CTL_TOKEN_ID_LEN, (uint8_t)(0x40 + which));
}

struct fx {
	struct ov_state st;
	struct dmn_view view;
	struct dmn_tokens tokens;
	struct dmn_leader l;
};

enum { A_ADMIN, A_N1, A_N2, A_N3, A_NOBODY, A_NONE };

static struct dmn_actor actor(int which)
{
	static const char *const names[] = {
		[A_N1] = "n1", [A_N2] = "n2", [A_N3] = "n3", [A_NOBODY] = "n9"};
	struct dmn_actor a;

	memset(&a, 0, sizeof(a));
	if (which == A_ADMIN)
		dmn_actor_admin(&a);
	else if (which != A_NONE)
		assert_int_equal(dmn_actor_node(&a, names[which]), 0);
	return a;
}

static void prefix_set(struct ov_prefix *p, const char *s)
{
	assert_int_equal(strchr(s, '/') ? ov_prefix_parse(s, p) : ov_addr_parse(s, 0, p), 0);
}

/* "web/n2#5": host 5 of the subnet of (web, n2); otherwise an address literal. */
static struct ov_prefix addr_of(const struct fx *f, const char *s)
{
	char service[64], node[64];
	struct ov_prefix p;
	int k;

	if (sscanf(s, "%63[^/]/%63[^#]#%d", service, node, &k) == 3) {
		assert_int_equal(ov_alloc_subnet_get(&f->st.alloc, service, node, &p), 0);
		p.len = 32;
		p.addr[3] = (uint8_t)(p.addr[3] + k);
		return p;
	}
	prefix_set(&p, s);
	return p;
}

static void commit_ok(struct fx *f, int r, struct dmn_leader_change *c, const char *err)
{
	(void)f;
	if (r)
		fail_msg("fixture step refused: %s", err);
	dmn_leader_commit(c);
}

static int request(struct fx *f, int who, enum dmn_op op, const char *name, const char *service,
		   const char *container, const char *addr, json_t **ret,
		   struct dmn_leader_change *c, char *err, size_t errlen)
{
	struct dmn_actor a = actor(who);
	struct dmn_request q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	if (name)
		strcpy(q.name, name);
	if (service)
		strcpy(q.service, service);
	if (container)
		strcpy(q.container, container);
	if (addr) {
		q.addr = addr_of(f, addr);
		q.has_addr = true;
	}
	return dmn_leader_request(&f->l, &a, &q, NOW, ret, c, err, errlen);
}

/* A fixture step that must succeed and be kept. */
static void step(struct fx *f, int who, enum dmn_op op, const char *name, const char *service,
		 const char *container, const char *addr)
{
	struct dmn_leader_change c;
	char err[256] = "";
	json_t *ret = NULL;

	commit_ok(f,
		  request(f, who, op, name, service, container, addr, &ret, &c, err, sizeof(err)),
		  &c, err);
	json_decref(ret);
}

static void join_key(uint8_t key[static OV_KEY_LEN], int seed)
{
	fill(key, OV_KEY_LEN, (uint8_t)seed);
}

static int admit(struct fx *f, int tok, const char *name, int key_seed, struct ov_peer *ret,
		 struct dmn_leader_change *c, char *err, size_t errlen)
{
	uint8_t id[DMN_CTL_TOKEN_ID_LEN];
	struct dmn_join m;

	memset(&m, 0, sizeof(m));
	strcpy(m.name, name);
	join_key(m.public_key, key_seed);
	m.has_endpoint = true;
	assert_int_equal(ov_endpoint_parse("198.18.0.77:51420", &m.endpoint), 0);
	token_id(id, tok);
	return dmn_leader_admit(&f->l, id, &m, NOW, ret, c, err, errlen);
}

static void fx_init(struct fx *f)
{
	struct dmn_leader_change c;
	struct ov_alloc_config cfg;
	struct ov_alloc_lease lease;
	struct ov_peer p;
	char err[256] = "";

	memset(f, 0, sizeof(*f));
	ov_state_init(&f->st);
	f->st.role = OV_ROLE_LEADER;
	strcpy(f->st.self.name, "n1");
	join_key(f->st.self.public_key, 1);
	assert_int_equal(ov_endpoint_parse("198.18.0.1:51420", &f->st.self.endpoint), 0);
	f->st.self.has_endpoint = true;
	ov_alloc_config_default(&cfg);
	assert_int_equal(ov_alloc_init(&f->st.alloc, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_node_add(&f->st.alloc, "n1", &lease), 1);
	f->st.self.ip4 = lease.ip4;
	f->st.self.ip6 = lease.ip6;
	f->st.self.slice = lease.slice;
	strcpy(f->view.leader, "n1");
	f->view.generation = 1;
	f->view.services = calloc(1, sizeof(*f->view.services));
	f->view.records = calloc(1, sizeof(*f->view.records));
	assert_true(f->view.services && f->view.records);
	for (int t = TOK_LIVE; t <= TOK_EXPIRED; t++) {
		struct dmn_token_rec *r = &f->tokens.recs[f->tokens.n++];

		token_id(r->id, t);
		fill(r->secret, sizeof(r->secret), (uint8_t)(0x60 + t));
		r->expires = t == TOK_EXPIRED ? NOW : NOW + 600;
		r->uses = t == TOK_LIVE ? 1000 : 1;
	}
	f->l.st = &f->st;
	f->l.view = &f->view;
	f->l.tokens = &f->tokens;
	f->l.random = counting_random;
	commit_ok(f, admit(f, TOK_LIVE, "n2", 2, &p, &c, err, sizeof(err)), &c, err);
	commit_ok(f, admit(f, TOK_LIVE, "n3", 3, &p, &c, err, sizeof(err)), &c, err);
	step(f, A_N2, DMN_OP_SUBNET, NULL, "web", NULL, NULL);
	step(f, A_N3, DMN_OP_SUBNET, NULL, "web", NULL, NULL);
	step(f, A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "c1", "web/n2#2");
	step(f, A_ADMIN, DMN_OP_DNS_ADD, "db", NULL, NULL, "10.200.9.9");
	step(f, A_N2, DMN_OP_DNS_ADD, "api", NULL, NULL, "10.200.9.10");
}

static void fx_done(struct fx *f)
{
	ov_state_done(&f->st);
	dmn_view_done(&f->view);
	memset(&f->tokens, 0, sizeof(f->tokens));
}

/* Every table the module may change, as one JSON value to compare. */
static json_t *snap(const struct fx *f)
{
	json_t *j = json_object(), *m = json_array(), *a = NULL;
	size_t len;
	char *t;

	assert_int_equal(ov_alloc_to_json(&f->st.alloc, &a), 0);
	for (size_t i = 0; i < f->st.n_members; i++)
		json_array_append_new(m, ov_peer_to_json(&f->st.members[i]));
	assert_int_equal(dmn_tokens_format(&f->tokens, &t, &len), 0);
	json_object_set_new(j, "alloc", a);
	json_object_set_new(j, "members", m);
	json_object_set_new(j, "self", ov_peer_to_json(&f->st.self));
	json_object_set_new(j, "view", dmn_view_to_json(&f->view));
	json_object_set_new(j, "tokens", json_stringn(t, len));
	free(t);
	return j;
}

/* Equal, but for the allocator's high-water mark (a host address handed out stays retired). */
static void assert_same(json_t *before, json_t *after, bool but_next_host, const char *what)
{
	if (but_next_host) {
		json_object_del(json_object_get(before, "alloc"), "next_host");
		json_object_del(json_object_get(after, "alloc"), "next_host");
	}
	if (!json_equal(before, after)) {
		char *x = json_dumps(before, JSON_COMPACT), *y = json_dumps(after, JSON_COMPACT);

		fprintf(stderr, "before: %s\nafter:  %s\n", x, y);
		free(x);
		free(y);
		fail_msg("%s: the tables changed", what);
	}
}

static void assert_empty(const struct dmn_leader_change *c)
{
	assert_int_equal(c->effects, 0);
	assert_int_equal(c->undo, 0);
	assert_string_equal(c->what, "");
}

static void err_has(const char *what, const char *err, const char *needle)
{
	if (needle && !strstr(err, needle))
		fail_msg("%s: error \"%s\" does not say \"%s\"", what, err, needle);
}

/* --- the authorization table ------------------------------------------------------------------ */

static void test_may(void **state)
{
	static const struct {
		enum dmn_op op;
		bool admin, node;
	} want[] = {
		{DMN_OP_STATUS, false, false},	   {DMN_OP_TOKEN_CREATE, true, false},
		{DMN_OP_NODE_REMOVE, true, false}, {DMN_OP_DNS_LIST, false, false},
		{DMN_OP_DNS_ADD, true, true},	   {DMN_OP_DNS_RM, true, true},
		{DMN_OP_ATTACH, false, false},	   {DMN_OP_DETACH, false, false},
		{DMN_OP_GET_VIEW, false, false},   {DMN_OP_SUBNET, true, true},
		{DMN_OP_SERVICE_ADD, true, true},  {DMN_OP_SERVICE_DEL, true, true},
		{DMN_OP_ENDPOINT_SET, true, false},
		{DMN_OP_TIME, false, false}, /* answered by daemon/lead.c, changes nothing */
		/* NAT traversal: daemon/lead.c and nat.c (paths are in memory, not state) */
		{DMN_OP_PATHS, false, false},	   {DMN_OP_PUNCH, false, false},
		{DMN_OP_NAT_CONFIG, false, false}, {DMN_OP_PEERS, false, false},
	};
	struct dmn_actor admin = actor(A_ADMIN), node = actor(A_N2), none = actor(A_NONE);

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), DMN_OP__MAX);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(dmn_leader_may(&admin, want[i].op), want[i].admin);
		assert_int_equal(dmn_leader_may(&node, want[i].op), want[i].node);
		assert_false(dmn_leader_may(&none, want[i].op));
		assert_false(dmn_leader_may(NULL, want[i].op));
	}
	assert_false(dmn_leader_may(&admin, (enum dmn_op)0));
	assert_false(dmn_leader_may(&admin, (enum dmn_op)(DMN_OP__MAX + 1)));
	assert_int_equal(dmn_actor_node(&node, "Bad_Name"), -EINVAL);
	assert_int_equal(dmn_actor_node(&node, ""), -EINVAL);
}

/* --- one request per row ---------------------------------------------------------------------- */

struct row {
	const char *what;
	int who;
	enum dmn_op op;
	const char *name, *service, *container, *addr;
	int want;
	const char *needle; /* in err (refusal) or in the change's log line (success) */
	unsigned effects;
};

#define SAVE_PUB (DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH)
#define PUB	 DMN_LEADER_PUBLISH

/* clang-format off */
static const struct row rows[] = {
	/* authorization: who may send what */
	{"member asks a subnet", A_N2, DMN_OP_SUBNET, NULL, "api2", NULL, NULL, 0, "for service api2 on n2", SAVE_PUB},
	{"admin asks a subnet: the leader node's", A_ADMIN, DMN_OP_SUBNET, NULL, "api2", NULL, NULL, 0, "on n1", SAVE_PUB},
	{"the leader node asks a subnet", A_N1, DMN_OP_SUBNET, NULL, "api2", NULL, NULL, 0, "on n1", SAVE_PUB},
	{"a non-member asks a subnet", A_NOBODY, DMN_OP_SUBNET, NULL, "api2", NULL, NULL, -EPERM, "n9 is not a node of this cluster", 0},
	{"no actor", A_NONE, DMN_OP_SUBNET, NULL, "api2", NULL, NULL, -EPERM, "no actor", 0},
	{"admin removes a node", A_ADMIN, DMN_OP_NODE_REMOVE, "n3", NULL, NULL, NULL, 0, "node n3 removed", SAVE_PUB},
	{"member removes a node", A_N2, DMN_OP_NODE_REMOVE, "n3", NULL, NULL, NULL, -EPERM, "n2 may not send node-remove: only the admin", 0},
	{"member removes itself", A_N3, DMN_OP_NODE_REMOVE, "n3", NULL, NULL, NULL, -EPERM, "only the admin", 0},
	{"the leader node removes a node", A_N1, DMN_OP_NODE_REMOVE, "n3", NULL, NULL, NULL, -EPERM, "only the admin", 0},
	{"admin creates a token", A_ADMIN, DMN_OP_TOKEN_CREATE, NULL, NULL, NULL, NULL, 0, "join token created (3600 s, 1 use)", DMN_LEADER_SAVE_TOKENS},
	{"member creates a token", A_N2, DMN_OP_TOKEN_CREATE, NULL, NULL, NULL, NULL, -EPERM, "only the admin", 0},
	{"get-view is not decided here", A_N2, DMN_OP_GET_VIEW, NULL, NULL, NULL, NULL, -EINVAL, "get-view is not a request for the leader", 0},
	{"status is local", A_ADMIN, DMN_OP_STATUS, NULL, NULL, NULL, NULL, -EINVAL, "not a request for the leader", 0},
	{"attach is local", A_ADMIN, DMN_OP_ATTACH, NULL, "web", "x", NULL, -EINVAL, "not a request for the leader", 0},
	/* containers: the node is the actor's, never the request's */
	{"member attaches in its subnet", A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "c2", "web/n2#3", 0, "container c2 on n2 attached", PUB},
	{"member attaches in another node's subnet", A_N3, DMN_OP_SERVICE_ADD, NULL, "web", "c2", "web/n2#3", -EINVAL, "not inside the subnet of service web on n3", 0},
	{"member attaches in its own subnet", A_N3, DMN_OP_SERVICE_ADD, NULL, "web", "c3", "web/n3#2", 0, "container c3 on n3 attached", PUB},
	{"container name twice in a service", A_N3, DMN_OP_SERVICE_ADD, NULL, "web", "c1", "web/n3#2", -EEXIST, "c1.web is one DNS name", 0},
	{"container twice on a node", A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "c1", "web/n2#4", -EEXIST, "container c1 is already attached on n2", 0},
	{"address twice", A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "c9", "web/n2#2", -EEXIST, "address in use by c1 on n2", 0},
	{"attach without a subnet", A_N2, DMN_OP_SERVICE_ADD, NULL, "db2", "c9", "10.200.9.9", -EINVAL, "not inside the subnet of service db2 on n2", 0},
	{"member detaches its container", A_N2, DMN_OP_SERVICE_DEL, NULL, NULL, "c1", NULL, 0, "service web: container c1 on n2 detached", PUB},
	{"member detaches another node's container", A_N3, DMN_OP_SERVICE_DEL, NULL, NULL, "c1", NULL, -ENOENT, "no container c1 attached on n3", 0},
	{"admin detaches: the leader node's containers", A_ADMIN, DMN_OP_SERVICE_DEL, NULL, NULL, "c1", NULL, -ENOENT, "no container c1 attached on n1", 0},
	/* service names */
	{"the same service on another node", A_N1, DMN_OP_SUBNET, NULL, "web", NULL, NULL, 0, "for service web on n1", SAVE_PUB},
	{"a subnet held already", A_N2, DMN_OP_SUBNET, NULL, "web", NULL, NULL, 0, NULL, 0},
	{"service named leader", A_N2, DMN_OP_SUBNET, NULL, "leader", NULL, NULL, -EINVAL, "service name leader is reserved", 0},
	{"service named node-0-3", A_N2, DMN_OP_SUBNET, NULL, "node-0-3", NULL, NULL, -EINVAL, "reserved", 0},
	{"service named node-x", A_N2, DMN_OP_SUBNET, NULL, "node-x", NULL, NULL, -EINVAL, "reserved", 0},
	{"service named like a node", A_N2, DMN_OP_SUBNET, NULL, "n3", NULL, NULL, -EEXIST, "service name n3 is the name of a node", 0},
	{"service named like the leader node", A_N2, DMN_OP_SUBNET, NULL, "n1", NULL, NULL, -EEXIST, "the name of a node", 0},
	{"service named like a record", A_N2, DMN_OP_SUBNET, NULL, "db", NULL, NULL, -EEXIST, "taken by the DNS record db of the admin", 0},
	{"service named like a node's record", A_N3, DMN_OP_SUBNET, NULL, "api", NULL, NULL, -EEXIST, "taken by the DNS record api of n2", 0},
	{"service name malformed", A_N2, DMN_OP_SUBNET, NULL, "Web", NULL, NULL, -EINVAL, "not a service name", 0},
	/* records: owned, and never shadowing */
	{"member adds a record", A_N3, DMN_OP_DNS_ADD, "www", NULL, NULL, "10.1.1.1", 0, "record www 10.1.1.1 added by n3", PUB},
	{"member adds an absolute record", A_N3, DMN_OP_DNS_ADD, "www.weft.local.", NULL, NULL, "fd00::1", 0, "added by n3", PUB},
	{"member adds a record at the apex", A_N3, DMN_OP_DNS_ADD, "weft.local.", NULL, NULL, "10.1.1.1", 0, "added by n3", PUB},
	{"member re-points leader (attack 2)", A_N3, DMN_OP_DNS_ADD, "leader", NULL, NULL, "203.0.113.9", -EINVAL, "leader would shadow leader", 0},
	{"member re-points leader, absolute", A_N3, DMN_OP_DNS_ADD, "leader.weft.local.", NULL, NULL, "203.0.113.9", -EINVAL, "would shadow leader", 0},
	{"record under leader", A_N3, DMN_OP_DNS_ADD, "x.leader", NULL, NULL, "203.0.113.9", -EINVAL, "would shadow leader", 0},
	{"admin re-points leader", A_ADMIN, DMN_OP_DNS_ADD, "leader", NULL, NULL, "203.0.113.9", -EINVAL, "would shadow leader", 0},
	{"record shadows a node", A_N3, DMN_OP_DNS_ADD, "n2", NULL, NULL, "203.0.113.9", -EEXIST, "n2 would shadow the node n2", 0},
	{"record shadows the leader node", A_N3, DMN_OP_DNS_ADD, "n1.weft.local.", NULL, NULL, "203.0.113.9", -EEXIST, "would shadow the node n1", 0},
	{"record under a node", A_ADMIN, DMN_OP_DNS_ADD, "www.n3", NULL, NULL, "203.0.113.9", -EEXIST, "would shadow the node n3", 0},
	{"record shadows node-0-2", A_N3, DMN_OP_DNS_ADD, "node-0-2", NULL, NULL, "203.0.113.9", -EINVAL, "would shadow node-0-2", 0},
	{"record shadows node-0002", A_N3, DMN_OP_DNS_ADD, "node-0002", NULL, NULL, "fd00::9", -EINVAL, "would shadow node-0002", 0},
	{"record shadows a service", A_N3, DMN_OP_DNS_ADD, "web", NULL, NULL, "203.0.113.9", -EEXIST, "web would shadow the service web", 0},
	{"record shadows a container", A_N3, DMN_OP_DNS_ADD, "c1.web", NULL, NULL, "203.0.113.9", -EEXIST, "shadow the service web", 0},
	{"record shadows an SRV name", A_N3, DMN_OP_DNS_ADD, "_http._tcp.web", NULL, NULL, "203.0.113.9", -EEXIST, "shadow the service web", 0},
	{"record outside the zone", A_N3, DMN_OP_DNS_ADD, "x.example.com.", NULL, NULL, "203.0.113.9", -EINVAL, "outside the zone weft.local.", 0},
	{"record suffix-alike outside the zone", A_N3, DMN_OP_DNS_ADD, "xweft.local.", NULL, NULL, "203.0.113.9", -EINVAL, "outside the zone", 0},
	{"member adds to the admin's name", A_N3, DMN_OP_DNS_ADD, "db", NULL, NULL, "203.0.113.9", -EEXIST, "db is held by records of the admin", 0},
	{"member adds to another node's name", A_N3, DMN_OP_DNS_ADD, "api.weft.local.", NULL, NULL, "203.0.113.9", -EEXIST, "held by records of n2", 0},
	{"member adds to its own name", A_N2, DMN_OP_DNS_ADD, "api", NULL, NULL, "203.0.113.9", 0, "record api 203.0.113.9 added by n2", PUB},
	{"admin adds to a node's name", A_ADMIN, DMN_OP_DNS_ADD, "api", NULL, NULL, "203.0.113.9", 0, "added by the admin", PUB},
	{"the same address twice", A_ADMIN, DMN_OP_DNS_ADD, "db.weft.local.", NULL, NULL, "10.200.9.9", -EEXIST, "db.weft.local. already has that address", 0},
	{"dns-add without an address", A_ADMIN, DMN_OP_DNS_ADD, "x", NULL, NULL, NULL, -EINVAL, "malformed", 0},
	{"member removes its record", A_N2, DMN_OP_DNS_RM, "api", NULL, NULL, NULL, 0, "1 record of api removed by n2", PUB},
	{"member removes another node's record", A_N3, DMN_OP_DNS_RM, "api", NULL, NULL, NULL, -EPERM, "record api is owned by n2, not by n3", 0},
	{"member removes the admin's record (attack 2)", A_N3, DMN_OP_DNS_RM, "db", NULL, NULL, NULL, -EPERM, "record db is owned by the admin, not by n3", 0},
	{"member removes the admin's record by address", A_N2, DMN_OP_DNS_RM, "db", NULL, NULL, "10.200.9.9", -EPERM, "owned by the admin", 0},
	{"admin removes a node's record", A_ADMIN, DMN_OP_DNS_RM, "api.weft.local.", NULL, NULL, NULL, 0, "removed by the admin", PUB},
	{"admin removes its record", A_ADMIN, DMN_OP_DNS_RM, "db", NULL, NULL, "10.200.9.9", 0, "1 record of db removed by the admin", PUB},
	{"no such record", A_ADMIN, DMN_OP_DNS_RM, "nope", NULL, NULL, NULL, -ENOENT, "no record nope", 0},
	{"no such address", A_ADMIN, DMN_OP_DNS_RM, "db", NULL, NULL, "10.200.9.8", -ENOENT, "no record db with that address", 0},
	/* removal */
	{"admin removes the leader", A_ADMIN, DMN_OP_NODE_REMOVE, "n1", NULL, NULL, NULL, -EINVAL, "n1 is the leader itself", 0},
	{"admin removes nobody", A_ADMIN, DMN_OP_NODE_REMOVE, "nobody", NULL, NULL, NULL, -ENOENT, "no node named nobody", 0},
	{"admin removes a bad name", A_ADMIN, DMN_OP_NODE_REMOVE, "Bad_Name", NULL, NULL, NULL, -EINVAL, "not a node name", 0},
};
/* clang-format on */

static void run_row(struct fx *f, const struct row *t)
{
	struct dmn_leader_change c;
	char err[256] = "";
	json_t *before = snap(f), *after, *ret = (json_t *)1;
	int r;

	memset(&c, 0xa5, sizeof(c));
	r = request(f, t->who, t->op, t->name, t->service, t->container, t->addr, &ret, &c, err,
		    sizeof(err));
	if (r != t->want)
		fail_msg("%s: returned %d (%s), want %d", t->what, r, err, t->want);
	if (r) {
		err_has(t->what, err, t->needle);
		assert_empty(&c);
		assert_null(ret);
		after = snap(f);
		assert_same(before, after, false, t->what);
	} else {
		if (c.effects != t->effects)
			fail_msg("%s: effects %#x, want %#x", t->what, c.effects, t->effects);
		err_has(t->what, c.what, t->needle);
		if (t->op == DMN_OP_SUBNET)
			assert_true(json_is_string(json_object_get(ret, "subnet")));
		if (t->op == DMN_OP_TOKEN_CREATE)
			assert_memory_equal(json_string_value(json_object_get(ret, "token")),
					    "weft1-", 6);
		json_decref(ret);
		dmn_leader_rollback(&f->l, &c);
		assert_empty(&c);
		after = snap(f);
		assert_same(before, after, false, t->what);
		dmn_leader_rollback(&f->l, &c); /* twice is harmless */
		dmn_leader_commit(&c);
	}
	json_decref(before);
	json_decref(after);
}

static void test_rows(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&f, &rows[i]);
	fx_done(&f);
}

/* Each legitimate row again, committed, in order: the state really changes. */
static void test_rows_commit(void **state)
{
	struct dmn_leader_change c;
	char err[256];
	json_t *ret;
	struct fx f;

	(void)state;
	fx_init(&f);
	assert_int_equal(request(&f, A_N3, DMN_OP_DNS_ADD, "www", NULL, NULL, "10.1.1.1", &ret, &c,
				 err, sizeof(err)),
			 0);
	dmn_leader_commit(&c);
	assert_int_equal(f.view.n_records, 3);
	assert_string_equal(f.view.records[2].name, "www");
	assert_string_equal(f.view.records[2].owner, "n3");
	assert_string_equal(f.view.records[0].owner, "");   /* db, the admin's */
	assert_string_equal(f.view.records[1].owner, "n2"); /* api */
	/* now n3 owns www: n2 may not add to it, n3 may remove it */
	assert_int_equal(request(&f, A_N2, DMN_OP_DNS_ADD, "www", NULL, NULL, "10.1.1.2", &ret, &c,
				 err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(request(&f, A_N3, DMN_OP_DNS_RM, "www", NULL, NULL, NULL, &ret, &c, err,
				 sizeof(err)),
			 0);
	dmn_leader_commit(&c);
	assert_int_equal(f.view.n_records, 2);
	/* a record name blocks a service of that name, and the reverse */
	assert_int_equal(request(&f, A_N2, DMN_OP_SUBNET, NULL, "cache", NULL, NULL, &ret, &c, err,
				 sizeof(err)),
			 0);
	json_decref(ret);
	dmn_leader_commit(&c);
	assert_int_equal(request(&f, A_ADMIN, DMN_OP_DNS_ADD, "cache", NULL, NULL, "10.1.1.3", &ret,
				 &c, err, sizeof(err)),
			 -EEXIST);
	/* partial removal: n2 removes its api, the admin's api address stays */
	step(&f, A_ADMIN, DMN_OP_DNS_ADD, "api", NULL, NULL, "10.1.1.4");
	assert_int_equal(request(&f, A_N2, DMN_OP_DNS_RM, "api", NULL, NULL, NULL, &ret, &c, err,
				 sizeof(err)),
			 0);
	err_has("partial", c.what, "1 record of api removed by n2 (those of other owners kept)");
	dmn_leader_commit(&c);
	assert_int_equal(f.view.n_records, 2);
	assert_string_equal(f.view.records[1].name, "api");
	assert_string_equal(f.view.records[1].owner, "");
	fx_done(&f);
}

/* --- quotas ----------------------------------------------------------------------------------- */

/* Issue 11 attack 2: one member asks 3,837 subnets in a row. */
static void test_quota_subnets(void **state)
{
	struct dmn_leader_change c;
	struct ov_peer p;
	char err[256], name[32];
	size_t ok = 0, quota = 0;
	json_t *ret;
	struct fx f;
	int r;

	(void)state;
	fx_init(&f);
	for (int i = 0; i < 3837; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		r = request(&f, A_N3, DMN_OP_SUBNET, NULL, name, NULL, NULL, &ret, &c, err,
			    sizeof(err));
		if (r == 0) {
			ok++;
			json_decref(ret);
			dmn_leader_commit(&c);
		} else {
			assert_int_equal(r, -EDQUOT);
			err_has("subnet quota", err, "quota of 64 service subnets per node");
			assert_empty(&c);
			quota++;
		}
	}
	assert_int_equal(ok, DMN_LEADER_NODE_SUBNETS_MAX - 1); /* web was the first */
	assert_int_equal(quota, 3837 - ok);
	/* the cluster still works for everyone else: a join, another node's subnet */
	assert_int_equal(admit(&f, TOK_LIVE, "n4", 4, &p, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	assert_int_equal(request(&f, A_N2, DMN_OP_SUBNET, NULL, "svc-1", NULL, NULL, &ret, &c, err,
				 sizeof(err)),
			 0);
	json_decref(ret);
	dmn_leader_commit(&c);
	/* a subnet n3 holds is still handed back to it */
	assert_int_equal(request(&f, A_N3, DMN_OP_SUBNET, NULL, "svc-1", NULL, NULL, &ret, &c, err,
				 sizeof(err)),
			 0);
	assert_int_equal(c.effects, 0);
	json_decref(ret);
	fx_done(&f);
}

static void test_quota_containers(void **state)
{
	char err[256], svc[32], ctr[32], addr[64];
	struct dmn_leader_change c;
	size_t attached = 1; /* c1 */
	json_t *ret;
	struct fx f;

	(void)state;
	fx_init(&f);
	/* 13 containers per /28 (host 2..14) over 20 services */
	for (int s = 0; attached < DMN_LEADER_NODE_CONTAINERS_MAX; s++) {
		snprintf(svc, sizeof(svc), "s%d", s);
		step(&f, A_N2, DMN_OP_SUBNET, NULL, svc, NULL, NULL);
		for (int h = 2; h <= 14 && attached < DMN_LEADER_NODE_CONTAINERS_MAX; h++) {
			snprintf(ctr, sizeof(ctr), "c-%d-%d", s, h);
			snprintf(addr, sizeof(addr), "%s/n2#%d", svc, h);
			step(&f, A_N2, DMN_OP_SERVICE_ADD, NULL, svc, ctr, addr);
			attached++;
		}
	}
	assert_int_equal(request(&f, A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "one-more", "web/n2#9",
				 &ret, &c, err, sizeof(err)),
			 -EDQUOT);
	err_has("container quota", err, "quota of 256 containers per node");
	assert_empty(&c);
	/* another node is not held back by n2's quota */
	assert_int_equal(request(&f, A_N3, DMN_OP_SERVICE_ADD, NULL, "web", "one-more", "web/n3#9",
				 &ret, &c, err, sizeof(err)),
			 0);
	dmn_leader_commit(&c);
	/* detaching frees quota */
	step(&f, A_N2, DMN_OP_SERVICE_DEL, NULL, NULL, "c1", NULL);
	step(&f, A_N2, DMN_OP_SERVICE_ADD, NULL, "web", "c1b", "web/n2#9");
	fx_done(&f);
}

static void test_quota_records(void **state)
{
	struct dmn_leader_change c;
	char err[256], name[32], addr[32];
	json_t *ret;
	struct fx f;
	int i;

	(void)state;
	fx_init(&f);
	for (i = 0; i < DMN_LEADER_NODE_RECORDS_MAX; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		step(&f, A_N3, DMN_OP_DNS_ADD, name, NULL, NULL, "10.1.1.1");
	}
	assert_int_equal(request(&f, A_N3, DMN_OP_DNS_ADD, "r-more", NULL, NULL, "10.1.1.1", &ret,
				 &c, err, sizeof(err)),
			 -EDQUOT);
	err_has("record quota", err, "quota of 64 records per node reached by n3");
	/* another address of a name n3 owns counts too */
	assert_int_equal(request(&f, A_N3, DMN_OP_DNS_ADD, "r1", NULL, NULL, "10.1.1.2", &ret, &c,
				 err, sizeof(err)),
			 -EDQUOT);
	/* n2 has its own quota; the admin none but the cluster's cap */
	step(&f, A_N2, DMN_OP_DNS_ADD, "r-n2", NULL, NULL, "10.1.1.1");
	for (i = (int)f.view.n_records; i < DMN_CTL_RECORDS_MAX; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(addr, sizeof(addr), "10.2.%d.%d", i / 256, i % 256);
		step(&f, A_ADMIN, DMN_OP_DNS_ADD, name, NULL, NULL, addr);
	}
	assert_int_equal(f.view.n_records, DMN_CTL_RECORDS_MAX);
	assert_int_equal(request(&f, A_ADMIN, DMN_OP_DNS_ADD, "a-more", NULL, NULL, "10.1.1.1",
				 &ret, &c, err, sizeof(err)),
			 -ENOSPC);
	err_has("record cap", err, "1024 records already");
	assert_int_equal(request(&f, A_N2, DMN_OP_DNS_ADD, "n2-more", NULL, NULL, "10.1.1.1", &ret,
				 &c, err, sizeof(err)),
			 -ENOSPC);
	/* removing one of its own gives n3 room again */
	step(&f, A_N3, DMN_OP_DNS_RM, "r0", NULL, NULL, NULL);
	step(&f, A_N3, DMN_OP_DNS_ADD, "r-again", NULL, NULL, "10.1.1.1");
	fx_done(&f);
}

/* --- removal ---------------------------------------------------------------------------------- */

static void test_remove(void **state)
{
	struct dmn_actor admin = actor(A_ADMIN), n2 = actor(A_N2);
	struct dmn_leader_change c;
	struct ov_prefix sn;
	struct ov_peer gone;
	char err[256] = "";
	json_t *before, *after, *ret;
	struct fx f;

	(void)state;
	fx_init(&f);
	step(&f, A_N3, DMN_OP_DNS_ADD, "www", NULL, NULL, "10.1.1.1");
	before = snap(&f);
	assert_int_equal(dmn_leader_remove(&f.l, &n2, "n3", &gone, &c, err, sizeof(err)), -EPERM);
	assert_empty(&c);
	assert_int_equal(dmn_leader_remove(&f.l, &admin, "n2", &gone, &c, err, sizeof(err)), 0);
	assert_string_equal(gone.name, "n2");
	assert_int_equal(c.effects, DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH);
	err_has("remove", c.what,
		"node n2 removed: its addresses released; 1 subnet, 1 container and 1 record "
		"dropped");
	assert_int_equal(f.st.n_members, 1);
	assert_int_equal(ov_alloc_node_get(&f.st.alloc, "n2", NULL), -ENOENT);
	assert_int_equal(ov_alloc_subnet_get(&f.st.alloc, "web", "n2", &sn), -ENOENT);
	assert_int_equal(ov_alloc_subnet_get(&f.st.alloc, "web", "n3", &sn), 0);
	assert_int_equal(f.view.n_services, 0);
	assert_int_equal(f.view.n_records, 2); /* db (the admin's) and www (n3's) */
	/* a failed save: everything back, the allocator exactly, next_host included */
	dmn_leader_rollback(&f.l, &c);
	after = snap(&f);
	assert_same(before, after, false, "remove rolled back");
	json_decref(after);
	/* and for real */
	assert_int_equal(dmn_leader_remove(&f.l, &admin, "n2", &gone, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	/* n2 is no one now: its requests are refused, its name is free */
	assert_int_equal(request(&f, A_N2, DMN_OP_DNS_ADD, "x", NULL, NULL, "10.1.1.1", &ret, &c,
				 err, sizeof(err)),
			 -EPERM);
	err_has("removed actor", err, "n2 is not a node of this cluster");
	assert_int_equal(admit(&f, TOK_LIVE, "n2", 22, &gone, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	json_decref(before);
	fx_done(&f);
}

/* --- admission -------------------------------------------------------------------------------- */

struct admit_row {
	const char *what;
	int tok;
	const char *name;
	int key;
	int want;
	const char *needle;
};

/* clang-format off */
static const struct admit_row admit_rows[] = {
	{"a new node", TOK_LIVE, "n4", 4, 0, "node n4 admitted: 10.200.0.4"},
	{"a new node, single-use token", TOK_ONCE, "n4", 4, 0, "admitted"},
	{"a retry: the same lease", TOK_LIVE, "n2", 2, 0, "node n2 admitted again"},
	{"name taken", TOK_LIVE, "n2", 9, -EEXIST, "name n2 is taken by node n2"},
	{"key taken", TOK_LIVE, "n9", 3, -EEXIST, "public key is taken by node n3"},
	{"the leader's name", TOK_LIVE, "n1", 9, -EEXIST, "name or key of the leader"},
	{"the leader's key", TOK_LIVE, "n9", 1, -EEXIST, "name or key of the leader"},
	{"named leader", TOK_LIVE, "leader", 9, -EINVAL, "the name leader is reserved"},
	{"named node-0-9", TOK_LIVE, "node-0-9", 9, -EINVAL, "reserved"},
	{"named node-a", TOK_LIVE, "node-a", 9, -EINVAL, "reserved"},
	{"named like a service", TOK_LIVE, "web", 9, -EEXIST, "web is the name of a service"},
	{"named like a record", TOK_LIVE, "db", 9, -EEXIST, "db is taken by the DNS record db of the admin"},
	{"named like a node's record", TOK_LIVE, "api", 9, -EEXIST, "of n2"},
	{"bad name", TOK_LIVE, "N9", 9, -EINVAL, "malformed join"},
	{"expired token", TOK_EXPIRED, "n4", 4, -EKEYEXPIRED, "token expired"},
	{"unknown token", TOK_UNKNOWN, "n4", 4, -ENOENT, "unknown or used-up token"},
};
/* clang-format on */

static void test_admit(void **state)
{
	struct dmn_leader_change c;
	struct ov_peer p, before_n2;
	char err[256];
	json_t *before, *after;
	struct fx f;
	int r;

	(void)state;
	fx_init(&f);
	before_n2 = f.st.members[0];
	for (size_t i = 0; i < sizeof(admit_rows) / sizeof(admit_rows[0]); i++) {
		const struct admit_row *t = &admit_rows[i];

		before = snap(&f);
		err[0] = '\0';
		memset(&c, 0xa5, sizeof(c));
		r = admit(&f, t->tok, t->name, t->key, &p, &c, err, sizeof(err));
		if (r != t->want)
			fail_msg("%s: returned %d (%s), want %d", t->what, r, err, t->want);
		if (r) {
			err_has(t->what, err, t->needle);
			assert_empty(&c);
		} else {
			err_has(t->what, c.what, t->needle);
			/* a retry spends no token use */
			assert_int_equal(c.effects,
					 DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH |
						 (strcmp(t->name, "n2") ? DMN_LEADER_SAVE_TOKENS : 0));
			assert_string_equal(p.name, t->name);
			if (!strcmp(t->name, "n2")) {
				assert_true(ov_prefix_equal(&p.ip4, &before_n2.ip4));
				assert_true(ov_prefix_equal(&p.slice, &before_n2.slice));
			}
			dmn_leader_rollback(&f.l, &c);
		}
		after = snap(&f);
		assert_same(before, after, r == 0, t->what);
		json_decref(before);
		json_decref(after);
	}
	/* a single-use token is used up by one join, whatever comes later */
	assert_int_equal(admit(&f, TOK_ONCE, "n4", 4, &p, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	assert_int_equal(f.tokens.n, 3);
	assert_int_equal(f.tokens.recs[1].uses, 0);
	assert_int_equal(admit(&f, TOK_ONCE, "n5", 5, &p, &c, err, sizeof(err)), -ENOENT);
	err_has("spent token, a new node", err, "unknown or used-up token");
	/* ... but it finishes the join it admitted (the WELCOME lost, the node failed to
	 * start): the same lease, nothing spent; with another key it is a new node, refused */
	assert_int_equal(admit(&f, TOK_ONCE, "n4", 4, &p, &c, err, sizeof(err)), 0);
	assert_int_equal(c.effects, DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH);
	err_has("retry with a spent token", c.what, "node n4 admitted again");
	dmn_leader_commit(&c);
	assert_int_equal(f.tokens.recs[1].uses, 0);
	assert_int_equal(admit(&f, TOK_ONCE, "n4", 44, &p, &c, err, sizeof(err)), -EEXIST);
	/* the next node gets the next address: the rolled-back ones stay retired */
	assert_int_equal(admit(&f, TOK_LIVE, "n5", 5, &p, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	assert_int_equal(f.st.n_members, 4);
	/* only a leader admits */
	f.st.role = OV_ROLE_MEMBER;
	assert_int_equal(admit(&f, TOK_LIVE, "n6", 6, &p, &c, err, sizeof(err)), -EINVAL);
	f.st.role = OV_ROLE_LEADER;
	fx_done(&f);
}

/* --- the leader moves (issue 12 item 6) ------------------------------------------------------ */

static void test_endpoint_set(void **state)
{
	struct dmn_actor admin = actor(A_ADMIN), n2 = actor(A_N2);
	struct dmn_leader_change c;
	struct dmn_request q = {.op = DMN_OP_ENDPOINT_SET};
	struct ov_endpoint was;
	struct dmn_token tok;
	char err[256];
	json_t *ret, *before, *after;
	struct fx f;

	(void)state;
	fx_init(&f);
	was = f.st.self.endpoint;
	assert_int_equal(ov_endpoint_parse("198.18.0.11:51420", &q.endpoint), 0);
	/* a member may not; nothing changes */
	before = snap(&f);
	assert_int_equal(dmn_leader_request(&f.l, &n2, &q, NOW, &ret, &c, err, sizeof(err)),
			 -EPERM);
	err_has("member endpoint-set", err, "only the admin");
	assert_empty(&c);
	/* an unspecified address or port is refused */
	assert_int_equal(ov_endpoint_parse("0.0.0.0:51420", &q.endpoint), 0);
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -EINVAL);
	err_has("0.0.0.0", err, "not an address other nodes can reach");
	after = snap(&f);
	assert_same(before, after, false, "refused endpoint-set");
	json_decref(after);
	/* the admin: saved and published, undone by a rollback */
	assert_int_equal(ov_endpoint_parse("198.18.0.11:51420", &q.endpoint), 0);
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	assert_null(ret);
	assert_int_equal(c.effects, DMN_LEADER_SAVE_STATE | DMN_LEADER_PUBLISH);
	err_has("endpoint-set", c.what,
		"the leader's endpoint is 198.18.0.11:51420 (was 198.18.0.1:51420)");
	assert_memory_equal(&f.st.self.endpoint, &q.endpoint, sizeof(q.endpoint));
	dmn_leader_rollback(&f.l, &c);
	assert_memory_equal(&f.st.self.endpoint, &was, sizeof(was));
	after = snap(&f);
	assert_same(before, after, false, "endpoint-set rolled back");
	json_decref(after);
	json_decref(before);
	/* committed: the next token carries it; the same endpoint again changes nothing */
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	assert_int_equal(c.effects, 0);
	memset(&q, 0, sizeof(q));
	q.op = DMN_OP_TOKEN_CREATE;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	dmn_leader_commit(&c);
	assert_int_equal(dmn_token_parse(json_string_value(json_object_get(ret, "token")), &tok,
					 err, sizeof(err)),
			 0);
	json_decref(ret);
	assert_int_equal(ov_endpoint_parse("198.18.0.11:51420", &q.endpoint), 0);
	assert_memory_equal(&tok.endpoint, &q.endpoint, sizeof(q.endpoint));
	fx_done(&f);
}

/* --- tokens ----------------------------------------------------------------------------------- */

static void test_tokens(void **state)
{
	struct dmn_actor admin = actor(A_ADMIN);
	const struct dmn_token_rec *t;
	struct dmn_leader_change c;
	struct dmn_request q;
	struct dmn_token tok;
	uint8_t id[DMN_CTL_TOKEN_ID_LEN];
	char err[256];
	json_t *ret, *before, *after;
	struct fx f;

	(void)state;
	fx_init(&f);
	token_id(id, TOK_LIVE);
	assert_int_equal(dmn_leader_token_find(&f.l, id, NOW, &t, err, sizeof(err)), 0);
	assert_memory_equal(t->id, id, sizeof(id));
	token_id(id, TOK_EXPIRED);
	assert_int_equal(dmn_leader_token_find(&f.l, id, NOW, &t, err, sizeof(err)), -EKEYEXPIRED);
	assert_int_equal(dmn_leader_token_find(&f.l, id, NOW - 1, &t, err, sizeof(err)), 0);
	token_id(id, TOK_UNKNOWN);
	assert_int_equal(dmn_leader_token_find(&f.l, id, NOW, &t, err, sizeof(err)), -ENOENT);

	/* create: ttl and uses as asked; the token names the leader; expired ones dropped */
	memset(&q, 0, sizeof(q));
	q.op = DMN_OP_TOKEN_CREATE;
	q.ttl = 60;
	q.uses = 3;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	assert_int_equal(dmn_token_parse(json_string_value(json_object_get(ret, "token")), &tok,
					 err, sizeof(err)),
			 0);
	assert_memory_equal(tok.leader_key, f.st.self.public_key, OV_KEY_LEN);
	assert_int_equal(json_integer_value(json_object_get(ret, "expires")), NOW + 60);
	assert_int_equal(dmn_leader_token_find(&f.l, tok.id, NOW, &t, err, sizeof(err)), 0);
	assert_int_equal(t->uses, 3);
	assert_int_equal(t->expires, NOW + 60);
	assert_int_equal(f.tokens.n, 3); /* live, once, the new one; the expired one gone */
	err_has("create", c.what, "join token created (60 s, 3 uses)");
	json_decref(ret);
	dmn_leader_commit(&c);

	/* the cap counts live tokens only */
	while (f.tokens.n < DMN_CTL_TOKENS_MAX) {
		assert_int_equal(
			dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
		json_decref(ret);
		dmn_leader_commit(&c);
	}
	before = snap(&f);
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -ENOSPC);
	err_has("cap", err, "256 live tokens already");
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW + 61, &ret, &c, err, sizeof(err)),
			 0);
	json_decref(ret);
	dmn_leader_rollback(&f.l, &c);
	after = snap(&f);
	assert_same(before, after, false, "token create rolled back");
	json_decref(after);
	json_decref(before);
	/* spent tokens (kept for their joiners' retries) do not count, and give way to a new
	 * token when the table is full; the live ones stay */
	for (size_t i = 0; i < 10; i++)
		f.tokens.recs[i].uses = 0;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)), 0);
	json_decref(ret);
	dmn_leader_commit(&c);
	assert_int_equal(f.tokens.n, DMN_CTL_TOKENS_MAX - 10 + 1);
	for (size_t i = 0; i < f.tokens.n; i++)
		assert_true(f.tokens.recs[i].uses > 0);

	/* no randomness, no endpoint: refused, nothing changed */
	f.tokens.n = 1;
	before = snap(&f);
	f.l.random = broken_random;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -EIO);
	f.l.random = NULL;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -ENOSYS);
	f.l.random = counting_random;
	f.st.self.has_endpoint = false;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -EINVAL);
	err_has("endpoint", err, "no advertised endpoint");
	f.st.self.has_endpoint = true;
	q.ttl = DMN_CTL_TTL_MAX + 1;
	assert_int_equal(dmn_leader_request(&f.l, &admin, &q, NOW, &ret, &c, err, sizeof(err)),
			 -EINVAL);
	after = snap(&f);
	assert_same(before, after, false, "token refusals");
	json_decref(after);
	json_decref(before);
	fx_done(&f);
}

/*
 * A view-only change rolled back after dmn_leader_publish() rebuilt the view's arrays (its
 * save failed): the caller's undo when view.json cannot be written.
 */
static void test_rollback_after_publish(void **state)
{
	struct dmn_leader_change c;
	struct dmn_view rebuilt;
	char err[256];
	json_t *ret, *before, *after;
	struct fx f;

	(void)state;
	fx_init(&f);
	before = snap(&f);
	assert_int_equal(request(&f, A_N3, DMN_OP_DNS_ADD, "www", NULL, NULL, "10.1.1.1", &ret, &c,
				 err, sizeof(err)),
			 0);
	assert_int_equal(dmn_view_copy(&f.view, &rebuilt), 0); /* what publish does */
	dmn_view_done(&f.view);
	f.view = rebuilt;
	dmn_leader_rollback(&f.l, &c);
	after = snap(&f);
	assert_same(before, after, false, "rollback after publish");
	json_decref(after);
	json_decref(before);
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_may),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_rows_commit),
		cmocka_unit_test(test_quota_subnets),
		cmocka_unit_test(test_quota_containers),
		cmocka_unit_test(test_quota_records),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_admit),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_endpoint_set),
		cmocka_unit_test(test_rollback_after_publish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/leader — the leader's decisions: who may join, who may send which request, what a
 * request may change, which addresses and subnets a node gets, who owns a DNS name, how much
 * one node may hold, what a removal takes away. A state machine without sockets: it reads and
 * changes the leader's state (members, allocator), the authoritative view (services, records)
 * and the live join tokens, and tells the caller what to persist and publish. The channel
 * servers (serve.c) establish *who* asks — the admin on the local root socket, or a member
 * proven by its static key — and do every I/O.
 *
 * Must not: open a socket or a file, read a clock (each entry takes now, Unix seconds), draw
 * randomness except through the caller's callback, log (refusals come back in err, changes as
 * a line in the change for the caller to log), or change anything when it refuses.
 *
 * Transactions. Each entry checks and authorizes everything first, then changes the state and
 * returns 0 with a struct dmn_leader_change: the effects the caller must carry out (save
 * state.json, save tokens.json, publish a new view), a line for the log, and what it takes to
 * undo the change. The caller saves what the effects name and then calls exactly one of
 * dmn_leader_commit() (saved) and dmn_leader_rollback() (a save failed: memory is as it was
 * before the call, so a failed save fails the operation that needed it), with no other entry
 * called in between (weftd holds the node lock throughout). Rollback cannot fail:
 * a changed table is swapped in as a new copy and the old one kept until commit; an allocation
 * is undone by its inverse (a host address handed out stays retired, as the allocator wants);
 * a removal, which the allocator cannot invert, keeps the whole old allocator. Rollback only
 * swaps table pointers back, so it also works after dmn_lead_publish() rebuilt the view's
 * arrays. A refusal returns -errno with err set and an empty change (commit and rollback do
 * nothing with it).
 *
 * Who may send what (the table in leader.c; the node an operation acts on is the actor's,
 * never a field of the request):
 *
 *   op            ADMIN  NODE   acts on
 *   SUBNET        yes    yes    the actor's node (the admin's: the leader node)
 *   SERVICE_ADD   yes    yes    the actor's node's containers
 *   SERVICE_DEL   yes    yes    the actor's node's containers
 *   DNS_ADD       yes    yes    a record the actor owns (the admin's: owner "")
 *   DNS_RM        yes    yes    the admin: any record; a node: only its own
 *   NODE_REMOVE   yes    no     any member (never the leader itself)
 *   TOKEN_CREATE  yes    no     the live tokens
 *   ENDPOINT_SET  yes    no     the leader's advertised endpoint (new tokens, the view)
 *
 * Names share one DNS zone (issue 12 item 5, issue 11 attack 2):
 * - reserved: "leader" and every label starting "node-" (node-<c>-<d>, node-<xxxx>, the
 *   IP-derived names dns.c publishes);
 * - a joining node's name: not reserved, not a service in use, not the top label of a record;
 * - a service name (SUBNET): not reserved, not a node's name, not the top label of a record;
 * - a custom record (relative, or absolute inside the zone) may not equal or sit under a
 *   reserved label, a node's name or a service in use (so neither <container>.<service> nor
 *   _<port>._<proto>.<service>): the last label before the zone decides; and a node may not add
 *   to a name that records of another owner hold (the admin may);
 * - a container name is unique on its node and within its service across nodes
 *   (<container>.<service> is one DNS name).
 * A service is in use while a subnet is allocated to it or a container of it is attached.
 */
#ifndef WEFT_DAEMON_LEADER_H
#define WEFT_DAEMON_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "overlay/state.h"

enum {
	/*
	 * Service subnets one node may hold. Each is a /28 slot of the cluster range (3840 free
	 * with the defaults, shared with node slices) and none is released before its node is
	 * removed: one member took 3,837 in 4 minutes (issue 11, attack 2). 64 distinct
	 * services per host is plenty, and ~58 nodes at the cap still fit the default range.
	 */
	DMN_LEADER_NODE_SUBNETS_MAX = 64,
	/*
	 * Containers attached on one node: above kubelet's default of 110 pods per node, with
	 * headroom; 16 nodes at the cap fill the cluster's DMN_CTL_SERVICES_MAX (4096).
	 */
	DMN_LEADER_NODE_CONTAINERS_MAX = 256,
	/*
	 * Custom records one node may own: 16 nodes at the cap fill DMN_CTL_RECORDS_MAX (1024).
	 * The admin's records count against that cluster cap only.
	 */
	DMN_LEADER_NODE_RECORDS_MAX = 64,
	DMN_LEADER_TOKEN_TTL_DEFAULT = 3600, /* weft token create: one hour */
	DMN_LEADER_WHAT_MAX = 512,	     /* a change's log line: two names and an address */
};

/* Zero is no actor: a zeroed struct dmn_actor is refused, never taken for the admin. */
enum dmn_actor_kind {
	DMN_ACTOR_ADMIN = 1, /* the root CLI on the leader's local socket; for attach-related
				ops it acts as the leader node */
	DMN_ACTOR_NODE = 2,  /* a member proven by its static key, or the leader node itself */
};

struct dmn_actor {
	enum dmn_actor_kind kind;
	char node[OV_ALLOC_NAME_MAX + 1]; /* NODE: its name; ADMIN: "" */
};

/* 0, or -EINVAL for a name that is not a node name. ret only on success. */
int dmn_actor_node(struct dmn_actor *ret, const char *node);
void dmn_actor_admin(struct dmn_actor *ret);

/* The leader's tables, owned by the caller (weftd: its node's st, view and tokens). */
struct dmn_leader {
	struct ov_state *st;	   /* role leader: self, members, allocator */
	struct dmn_view *view;	   /* the authoritative view: services and records live here */
	struct dmn_tokens *tokens; /* live join tokens */
	/* Token ids and secrets (weftd: crypto_random). 0 or -errno. */
	int (*random)(void *buf, size_t len);
};

/* What the caller must do after a change; none when nothing changed. */
enum {
	DMN_LEADER_SAVE_STATE = 1 << 0,	 /* dmn_node_save_state: members or allocator changed */
	DMN_LEADER_SAVE_TOKENS = 1 << 1, /* dmn_node_save_tokens */
	DMN_LEADER_PUBLISH = 1 << 2,	 /* dmn_leader_publish: the view changes (and is saved) */
};

struct dmn_leader_change {
	unsigned effects;		/* DMN_LEADER_SAVE_* | DMN_LEADER_PUBLISH */
	char what[DMN_LEADER_WHAT_MAX]; /* "record db added by n3", or "" */
	/* --- private to leader.c: the undo --- */
	unsigned undo;
	struct ov_peer *members;
	size_t n_members;
	struct dmn_service *services;
	size_t n_services;
	struct dmn_record *records;
	size_t n_records;
	struct dmn_tokens *tokens;
	struct ov_alloc alloc;
	char service[OV_ALLOC_NAME_MAX + 1], node[OV_ALLOC_NAME_MAX + 1];
	struct ov_endpoint endpoint;
	bool has_endpoint;
};

/* Forget the undo: the change is saved. NULL-safe; harmless on an empty change. */
void dmn_leader_commit(struct dmn_leader_change *c);
/* Put back what the change replaced (see the top). NULL-safe; cannot fail. */
void dmn_leader_rollback(struct dmn_leader *l, struct dmn_leader_change *c);

/* True when the table lets this kind of actor send op (see the top). */
bool dmn_leader_may(const struct dmn_actor *who, enum dmn_op op);

/*
 * One request of the table above. 0, *ret (a reply object, or NULL when the reply has no
 * fields: SUBNET {"subnet"}, TOKEN_CREATE {"token", "expires"}) and *chg; or -errno with err
 * and nothing changed: -EPERM not authorized (or an actor that is not a node of the
 * cluster); -EINVAL malformed or reserved; -EEXIST taken; -ENOENT no such thing; -EDQUOT a
 * per-node quota (err names it); -ENOSPC a cluster cap or a full range; -ENOMEM.
 */
int dmn_leader_request(struct dmn_leader *l, const struct dmn_actor *who,
		       const struct dmn_request *q, uint64_t now, json_t **ret,
		       struct dmn_leader_change *chg, char *err, size_t errlen);

/*
 * Admit a joiner that proved the token token_id: the token must not be expired at now
 * (-EKEYEXPIRED) and, for a new node, have a use left (unknown or used up: -ENOENT), which
 * it loses. A retry with the same name and key (a join whose WELCOME was lost, or whose
 * node failed to start; the handshake proved the key) gets the same lease, its endpoint
 * updated, and spends nothing: the token that admitted it finishes it, until it expires.
 * A name or key taken by another node is -EEXIST; the name rules above apply to new nodes.
 * 0, *ret (the joiner's lease) and *chg.
 */
int dmn_leader_admit(struct dmn_leader *l, const uint8_t token_id[static DMN_CTL_TOKEN_ID_LEN],
		     const struct dmn_join *m, uint64_t now, struct ov_peer *ret,
		     struct dmn_leader_change *chg, char *err, size_t errlen);

/*
 * NODE_REMOVE, typed: the admin only (-EPERM); not the leader itself (-EINVAL); a member
 * (-ENOENT otherwise).
 * Releases its addresses and subnets, drops its containers and the records it owns.
 * *ret_gone (may be NULL) is the removed member, for telling it.
 */
int dmn_leader_remove(struct dmn_leader *l, const struct dmn_actor *who, const char *name,
		      struct ov_peer *ret_gone, struct dmn_leader_change *chg, char *err,
		      size_t errlen);

/*
 * The token with this id (ids compared in constant time), for a join's first message:
 * 0 and *ret (points into l->tokens, valid until its next change), a spent one (uses 0)
 * included, for a retry (dmn_leader_admit decides); -ENOENT unknown; -EKEYEXPIRED expired
 * at now. err says which.
 */
int dmn_leader_token_find(const struct dmn_leader *l, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
			  uint64_t now, const struct dmn_token_rec **ret, char *err, size_t errlen);

#endif

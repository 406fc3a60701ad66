/* SPDX-License-Identifier: MIT */
/*
 * ctl/ctl — the weft control protocol codec: frames, join tokens, the messages of the join
 * handshake, the cluster view the leader pushes to its members, and the requests of the CLI
 * and of members. Pure: bytes and JSON in, structs out and back; no sockets, no clock, no
 * logging. ctl/chan.c and the daemon do the I/O; the fuzz target drives every parser here.
 *
 * Frame (all channels): "WF", version (2), type (1), payload length (u32, big endian), then
 * the payload. A frame over DMN_CTL_MAX_PAYLOAD (or the smaller cap its receiver set for the
 * phase, ctl/chan.h), of another version or magic, is refused before its payload is read.
 * Payloads are JSON objects, but for the two handshake messages (ctl/handshake.h):
 *
 * - Join channel (TCP to the leader's advertised endpoint, over the underlay): HS1 (Noise
 *   message 1 to the leader's key from the token, the token id inside), HS2, then JOIN and
 *   WELCOME (or ERROR) sealed. Before HS2 the leader may answer a plain ERROR (unknown or
 *   expired token), which the joiner reports as unauthenticated.
 * - Overlay channel (TCP to a node's overlay address, bound to the WireGuard interface):
 *   HS1 to the other node's key, HS2, then sealed frames. The key, not the source address,
 *   says which node sent a request or a view.
 * - Local channel (the daemon's unix socket, root only): plain frames.
 *
 * Version 2 replaced version 1's token-only join (keys from the token secret and two nonces,
 * which any holder of the token could take over on the path) and the address-trusting overlay
 * channel; a version 1 frame is refused.
 */
#ifndef WEFT_CTL_CTL_H
#define WEFT_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "overlay/alloc.h"
#include "overlay/state.h"

enum {
	DMN_CTL_VERSION = 2,
	DMN_CTL_HDR_LEN = 8,
	DMN_CTL_MAX_PAYLOAD = 4 << 20, /* a view of 1023 nodes and 4096 services fits */
	DMN_CTL_TAG_LEN = 16,
	DMN_CTL_TOKEN_ID_LEN = 16,
	DMN_CTL_SECRET_LEN = 32,
	DMN_CTL_TOKEN_STRLEN = 256,
	DMN_CTL_TOKENS_MAX = 256,     /* live tokens on a leader */
	DMN_CTL_ERROR_MAX = 256,      /* bytes of an error text */
	DMN_CTL_PORTS_MAX = 8,	      /* declared ports per attached container */
	DMN_CTL_PORT_NAME_MAX = 15,   /* an SRV service label without '_' (RFC 6335 §5.1) */
	DMN_CTL_SERVICES_MAX = 4096,  /* attached containers in a cluster */
	DMN_CTL_RECORDS_MAX = 1024,   /* custom host records */
	DMN_CTL_PATH_MAX = 255,       /* a netns path in a request */
	DMN_CTL_TTL_MAX = 30 * 86400, /* a token lives at most 30 days */
};

enum dmn_ctl_type {
	DMN_CTL_HS1 = 1,     /* Noise message 1 (raw bytes, not JSON) */
	DMN_CTL_HS2 = 2,     /* Noise message 2 (raw bytes) */
	DMN_CTL_JOIN = 3,
	DMN_CTL_WELCOME = 4,
	DMN_CTL_ERROR = 5,   /* {"error": text} */
	DMN_CTL_VIEW = 6,    /* a dmn_view */
	DMN_CTL_REQUEST = 7, /* a dmn_request */
	DMN_CTL_REPLY = 8,   /* {"ok": true, ...}, fields per request */
	DMN_CTL__TYPE_MAX = 8,
};

struct dmn_ctl_hdr {
	uint8_t type;
	uint32_t len;
};

/* 0; -EPROTO bad magic, version or type; -EMSGSIZE length over the cap. */
int dmn_ctl_hdr_parse(const uint8_t b[static DMN_CTL_HDR_LEN], struct dmn_ctl_hdr *ret);
void dmn_ctl_hdr_put(uint8_t b[static DMN_CTL_HDR_LEN], uint8_t type, uint32_t len);

/* A payload (len bytes, no NUL needed) as one JSON object, strictly: no duplicate keys, no
 * trailing bytes. NULL with err set otherwise. */
json_t *dmn_ctl_json_parse(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* --- join tokens ------------------------------------------------------------------------ */

struct dmn_token {
	uint8_t id[DMN_CTL_TOKEN_ID_LEN];
	uint8_t secret[DMN_CTL_SECRET_LEN];
	uint8_t leader_key[OV_KEY_LEN];
	struct ov_endpoint endpoint;
};

/* "weft1-<id hex>-<secret hex>-<leader key hex>-<endpoint>" */
void dmn_token_format(const struct dmn_token *t, char out[static DMN_CTL_TOKEN_STRLEN]);
/* 0 or -EINVAL (err says which part); ret only on success. */
int dmn_token_parse(const char *s, struct dmn_token *ret, char *err, size_t errlen);

/* What a leader remembers of a token it issued (tokens.json). */
struct dmn_token_rec {
	uint8_t id[DMN_CTL_TOKEN_ID_LEN];
	uint8_t secret[DMN_CTL_SECRET_LEN];
	uint64_t expires; /* Unix seconds */
	uint32_t uses;	  /* joins left; 0: spent, kept until it expires for retries */
};

struct dmn_tokens {
	struct dmn_token_rec recs[DMN_CTL_TOKENS_MAX];
	size_t n;
};

/* {"version": 1, "tokens": [{"id": hex, "secret": hex, "expires": n, "uses": n}]} */
int dmn_tokens_parse(const char *buf, size_t len, struct dmn_tokens *ret, char *err,
		     size_t errlen);
/* malloc'ed text; 0 or -ENOMEM. */
int dmn_tokens_format(const struct dmn_tokens *t, char **ret, size_t *ret_len);

/* --- the cluster view ---------------------------------------------------------------------- */

struct dmn_port {
	char name[DMN_CTL_PORT_NAME_MAX + 1];
	uint8_t proto; /* 6 tcp, 17 udp */
	uint16_t port;
};

/* One attached container, as the cluster's DNS publishes it. */
struct dmn_service {
	char service[OV_ALLOC_NAME_MAX + 1];
	char node[OV_ALLOC_NAME_MAX + 1];
	char container[OV_ALLOC_NAME_MAX + 1]; /* unique on its node */
	struct ov_prefix addr;		       /* /32 inside the (service, node) subnet */
	struct dmn_port ports[DMN_CTL_PORTS_MAX];
	size_t n_ports;
};

/*
 * A custom host record (weft dns add): absolute name inside the zone, or relative. Owned by
 * the node that added it, or by the admin (the root CLI on the leader): owner "". Only its
 * owner or the admin may remove it; it goes with its owner node (see daemon/leader.h).
 */
struct dmn_record {
	char name[OV_STATE_ZONE_MAX + 1];
	struct ov_prefix addr;		   /* /32 or /128 */
	char owner[OV_ALLOC_NAME_MAX + 1]; /* a node of the view, or "" for the admin */
};

struct dmn_subnet {
	char service[OV_ALLOC_NAME_MAX + 1];
	char node[OV_ALLOC_NAME_MAX + 1];
	struct ov_prefix subnet;
};

/*
 * How to reach one node through NATs (daemon/nat.c): the addresses it can be reached at, as
 * it found them (candidates), and the NAT behaviour it observed. Sent by the node to the
 * leader (PATHS), carried in the view for its peers. Ephemeral: the leader keeps them in
 * memory and a node sends them again when they change or the leader restarts.
 */
enum { DMN_CAND_MAX = 8 };
enum dmn_cand_kind {
	DMN_CAND_HOST = 1, /* an address of a physical interface of the node */
	DMN_CAND_SRFLX,	   /* server-reflexive: its WireGuard socket as a STUN server saw it */
	DMN_CAND_RELAY,	   /* its TURN allocation's relayed address */
};
enum dmn_nat_type {
	DMN_NAT_UNKNOWN = 0, /* fewer than two STUN servers answered */
	DMN_NAT_NONE,	     /* the reflexive address is one of its own */
	DMN_NAT_EIM,	     /* endpoint-independent mapping: one mapping for all servers */
	DMN_NAT_EDM,	     /* endpoint-dependent mapping ("symmetric") */
};
struct dmn_cand {
	enum dmn_cand_kind kind;
	struct ov_endpoint ep;
};
struct dmn_paths {
	char node[OV_ALLOC_NAME_MAX + 1];
	enum dmn_nat_type nat;
	struct dmn_cand cand[DMN_CAND_MAX];
	size_t n_cand;
};
const char *dmn_nat_type_name(enum dmn_nat_type t);
const char *dmn_cand_kind_name(enum dmn_cand_kind k);
/* "host 10.200.1.2:51820" and back. 0 or -EINVAL. */
int dmn_cand_parse(const char *s, struct dmn_cand *ret);
void dmn_cand_format(const struct dmn_cand *c, char out[static OV_ENDPOINT_STRLEN + 8]);
/* Same node, NAT type and candidates (in order). */
bool dmn_paths_equal(const struct dmn_paths *a, const struct dmn_paths *b);

/* NAT_CONFIG's reply: STUN servers, and TURN with the asking node's credentials. */
struct dmn_nat_config {
	struct ov_endpoint stun[OV_NAT_STUN_MAX];
	size_t n_stun;
	bool has_turn;
	struct ov_endpoint turn;
	char user[OV_NAT_SECRET_MAX + 1], password[OV_NAT_SECRET_MAX + 1];
	uint64_t expires; /* wall clock, s; 0 = static credentials */
};
/* Strict, like every payload here; ret only on success. */
int dmn_nat_config_from_json(const json_t *j, struct dmn_nat_config *ret, char *err,
			     size_t errlen);
json_t *dmn_nat_config_to_json(const struct dmn_nat_config *c);

/*
 * What every node needs to know of the cluster, made by the leader, pushed to members on
 * every change and kept by each (view.json) so a node comes up with its peers while the
 * leader is away. generation only grows; a member ignores a view older than its own.
 */
struct dmn_view {
	uint64_t generation;
	char leader[OV_ALLOC_NAME_MAX + 1];
	struct ov_peer *nodes; /* including the leader */
	size_t n_nodes;
	struct dmn_subnet *subnets;
	size_t n_subnets;
	struct dmn_service *services;
	size_t n_services;
	struct dmn_record *records;
	size_t n_records;
	struct dmn_paths *paths; /* "paths" (optional): at most one per node of the view */
	size_t n_paths;
};
/* The node's paths in v, or NULL. */
const struct dmn_paths *dmn_view_paths(const struct dmn_view *v, const char *node);

void dmn_view_done(struct dmn_view *v);
/*
 * Strict: fields, types, names, keys, every address inside the cluster ranges of s, the
 * leader among the nodes, names and keys and addresses unique, subnets and services on known
 * nodes, each service address inside its (service, node) subnet, each record's owner a node
 * or "" (a record without "owner", as view.json files before owners were written, is the
 * admin's), caps. ret only on success.
 */
int dmn_view_from_json(const json_t *j, const struct ov_state *s, struct dmn_view *ret, char *err,
		       size_t errlen);
json_t *dmn_view_to_json(const struct dmn_view *v);
int dmn_view_copy(const struct dmn_view *v, struct dmn_view *ret);
const struct ov_peer *dmn_view_node(const struct dmn_view *v, const char *name);

/* --- join messages -------------------------------------------------------------------------- */

struct dmn_join {
	char name[OV_ALLOC_NAME_MAX + 1];
	uint8_t public_key[OV_KEY_LEN];
	bool has_endpoint;
	struct ov_endpoint endpoint;
};
int dmn_join_from_json(const json_t *j, struct dmn_join *ret, char *err, size_t errlen);
json_t *dmn_join_to_json(const struct dmn_join *m);

/* WELCOME: the cluster config, the joiner's own lease and the view. */
struct dmn_welcome {
	struct ov_state cluster; /* cidr4, cidr6, port, mtu, keepalive, zone; self = the joiner's
				    lease (name, key, endpoint, ip4, ip6, slice); role member */
	struct dmn_view view;
};
int dmn_welcome_from_json(const json_t *j, struct dmn_welcome *ret, char *err, size_t errlen);
json_t *dmn_welcome_to_json(const struct ov_state *cluster, const struct ov_peer *lease,
			    const struct dmn_view *v);
void dmn_welcome_done(struct dmn_welcome *w);

/* --- requests ------------------------------------------------------------------------------- */

enum dmn_op {
	/* local (CLI → its node) */
	DMN_OP_STATUS = 1,   /* {} → reply with the node's status */
	DMN_OP_TOKEN_CREATE, /* {"ttl": s, "uses": n} → {"token": text} (leader) */
	DMN_OP_NODE_REMOVE,  /* {"name"} (leader) */
	DMN_OP_DNS_LIST,     /* {} → {"records": [...]} */
	DMN_OP_DNS_ADD,	     /* {"name", "addr"} (forwarded to the leader by a member) */
	DMN_OP_DNS_RM,	     /* {"name", "addr"?} */
	DMN_OP_ATTACH,	     /* {"service", "netns", "container", "ports"?} */
	DMN_OP_DETACH,	     /* {"container"} */
	DMN_OP_ENDPOINT_SET, /* {"endpoint"}: the leader's advertised endpoint (leader) */
	/* member → leader, over the overlay */
	DMN_OP_GET_VIEW,       /* {"generation"} → a VIEW frame */
	DMN_OP_SUBNET,	       /* {"service"} → {"subnet"} for the asking node */
	DMN_OP_SERVICE_ADD,    /* {"service", "container", "addr", "ports"} */
	DMN_OP_SERVICE_DEL,    /* {"container"} */
	/* both: the CLI asks its node (weft doctor), a member asks the leader */
	DMN_OP_TIME,	       /* {} → {"time_ms"} the leader's wall clock (local: see lead.c) */
	/* NAT traversal (daemon/nat.c) */
	DMN_OP_PATHS,	   /* member → leader {"nat", "candidates"}: the asking node's paths */
	DMN_OP_PUNCH,	   /* member → leader {"name"}: punch with that node now; the leader then
			      sends PUNCH {"name": the other} to both ends */
	DMN_OP_NAT_CONFIG, /* member → leader {} → {"stun": [...], "turn": {"server", "user",
			      "password", "expires"} or absent} */
	DMN_OP_PEERS,	   /* local {} → what `weft peers` shows */
	DMN_OP__MAX = DMN_OP_PEERS,
};

struct dmn_request {
	enum dmn_op op;
	char name[OV_STATE_ZONE_MAX + 1]; /* node name (remove) or record name (dns) */
	char service[OV_ALLOC_NAME_MAX + 1];
	char container[OV_ALLOC_NAME_MAX + 1];
	char netns[DMN_CTL_PATH_MAX + 1];
	bool has_addr;
	struct ov_prefix addr;
	uint64_t ttl, generation;
	uint32_t uses;
	struct ov_endpoint endpoint;
	struct dmn_port ports[DMN_CTL_PORTS_MAX];
	size_t n_ports;
	struct dmn_paths paths; /* PATHS ("node" unused: the sender's key names it) */
};

const char *dmn_op_name(enum dmn_op op);
/* Each op takes exactly its fields (see above); ret only on success. */
int dmn_request_from_json(const json_t *j, struct dmn_request *ret, char *err, size_t errlen);
json_t *dmn_request_to_json(const struct dmn_request *r);
/* "name:port/proto" as the CLI takes it ("http:80/tcp"). */
int dmn_port_parse(const char *s, struct dmn_port *ret);
/* A host record name: relative ("web") or absolute ("web.weft.local."), DNS label chars. */
bool dmn_record_name_valid(const char *s);

/* Hex helpers for fixed-size byte strings. */
void dmn_hex(const uint8_t *b, size_t n, char *out);
int dmn_unhex(const char *s, uint8_t *b, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * overlay/state — a node's state directory (default /var/lib/weft):
 *
 *   state.json    versioned JSON: the cluster config, this node, and either the leader it
 *                 joined (role member) or the members and the allocator (role leader); and,
 *                 optional (files from before it load), "interface": the WireGuard
 *                 interface weftd comes up on when not told (weft join --interface)
 *   private.key   the WireGuard private key, base64 as `wg genkey` prints it, then "\n"
 *   lock          flock(2)ed by the one process using the directory
 *
 * Loading refuses anything it would have to guess about: a missing or unknown field, a
 * wrong type, an unknown version, a bad key, CIDR, address or name, an inconsistency between
 * the node, its members and the allocator, trailing bytes, a duplicate JSON key, a file over
 * OV_STATE_MAX_BYTES. The message names the file and the reason; the file is only read, never
 * repaired or rewritten (REF silently defaults missing fields, inventory §3).
 *
 * Saving writes a temp file in the same directory, fsyncs it, renames it over the old one
 * and fsyncs the directory, so a crash leaves the old file or the new one. Both files are
 * 0600: the key file must be (REF writes its key with the umask, §27 item 26), and the state
 * file has no reader but the daemon. A state is checked by the loader's rules before it is
 * written, so the daemon can never write a file it would refuse to start from.
 *
 * Must not: log, touch the network, or keep key bytes in memory it does not wipe. The node's
 * public key is not checked against the private key here (no crypto/ below overlay/state);
 * the daemon does that after loading both.
 */
#ifndef WEFT_OVERLAY_STATE_H
#define WEFT_OVERLAY_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/alloc.h"

#define OV_STATE_DEFAULT_DIR  "/var/lib/weft"
#define OV_STATE_FILE	      "state.json"
#define OV_STATE_KEY_FILE     "private.key"
#define OV_STATE_LOCK_FILE    "lock"
#define OV_STATE_DEFAULT_ZONE "weft.local." /* REF: "<deployment>.local." */

enum {
	OV_STATE_VERSION = 1,
	OV_STATE_MAX_BYTES = 1 << 20,	 /* state.json cap, read and write */
	OV_STATE_DEFAULT_PORT = 51420,	 /* REF DEFAULT_WG_PORT */
	OV_STATE_DEFAULT_MTU = 1420,	 /* REF OverlayConfig.mtu */
	OV_STATE_DEFAULT_KEEPALIVE = 25, /* REF DEFAULT_KEEPALIVE_SECS */
	OV_STATE_MTU_MIN = 1280,	 /* the overlay carries IPv6: RFC 8200 §5 */
	OV_STATE_MTU_MAX = 9000,	 /* a jumbo frame */
	OV_STATE_ZONE_MAX = 253,	 /* DNS name text without the root dot (RFC 1035 §2.3.4) */
	OV_STATE_MAX_MEMBERS = OV_ALLOC_MAX_NODES - 1,
	OV_STATE_ERR_LEN = 512, /* a comfortable err buffer */
	OV_KEY_LEN = 32,
	OV_KEY_B64_LEN = 44,
	OV_ENDPOINT_STRLEN = 64, /* "[" v6 (<= 45) "]:" port, NUL */
	OV_STATE_IFNAME_MAX = 15, /* IFNAMSIZ - 1 */
};

enum { OV_STATE_CREATE = 1 << 0 }; /* save flag: fail with -EEXIST instead of replacing */

enum ov_role {
	OV_ROLE_LEADER = 1,
	OV_ROLE_MEMBER = 2,
};

/* An IP literal and a port (no host names, no scope ids): "192.0.2.1:51420", "[2001:db8::1]:51420".
 */
struct ov_endpoint {
	int family; /* 4 or 6 */
	uint8_t addr[16];
	uint16_t port; /* 1..65535 */
};

/* This node, the leader a member joined, or a member the leader admitted. */
struct ov_peer {
	char name[OV_ALLOC_NAME_MAX + 1];
	uint8_t public_key[OV_KEY_LEN];
	bool has_endpoint; /* JSON null when false; required for a member's leader */
	struct ov_endpoint endpoint;
	struct ov_prefix ip4, ip6; /* /32 inside cidr4, /128 inside cidr6 */
	struct ov_prefix slice;	   /* IPv4 network inside cidr4 */
};

/*
 * "nat" (optional, the leader's file): how nodes find paths through NATs. STUN servers (each
 * weftd also answers STUN on its WireGuard port, so none is needed) and a TURN server (RFC
 * 8656) for relaying, with the TURN REST shared secret (the leader makes time-limited
 * credentials from it) or static long-term credentials. Members are told what they need
 * over the overlay channel (never the secret).
 */
enum {
	OV_NAT_STUN_MAX = 4,
	OV_NAT_SECRET_MAX = 255, /* bytes of printable ASCII */
};
struct ov_nat_config {
	struct ov_endpoint stun[OV_NAT_STUN_MAX];
	size_t n_stun;
	bool has_turn;
	struct ov_endpoint turn;
	char turn_secret[OV_NAT_SECRET_MAX + 1];   /* "" = none */
	char turn_user[OV_NAT_SECRET_MAX + 1];	   /* static long-term user ("" = none) */
	char turn_password[OV_NAT_SECRET_MAX + 1];
};

struct ov_state {
	/* "cluster" */
	struct ov_prefix cidr4, cidr6;
	uint16_t port, mtu, keepalive; /* keepalive 0 = off */
	char zone[OV_STATE_ZONE_MAX + 1];
	/* "node" */
	enum ov_role role;
	struct ov_peer self;
	/* role member: "leader" */
	struct ov_peer leader;
	/* role leader: "members" (file order; malloc'ed, freed by ov_state_done) and
	 * "allocator", which holds exactly self and each member */
	struct ov_peer *members;
	size_t n_members;
	struct ov_alloc alloc;
	/* "interface": "" when absent (weftd's default) */
	char ifname[OV_STATE_IFNAME_MAX + 1];
	struct ov_nat_config nat; /* "nat": zeroed when absent */
};

/* A TURN or STUN server as a user writes it: "turn:IP:PORT", "stun:IP:PORT" or "IP:PORT"
 * (port 3478 when left out of a scheme'd form). 0 or -EINVAL. */
int ov_nat_server_parse(const char *s, struct ov_endpoint *ret);
/* A secret or credential for "nat": 1..OV_NAT_SECRET_MAX printable ASCII bytes, no ':' in a
 * user name (TURN REST user names use it). */
bool ov_nat_secret_valid(const char *s, bool is_user);

/* An interface name as weftd takes it: 1..15 bytes, printable, no '/', ':' or space. */
bool ov_state_ifname_valid(const char *s);

/* Base64 for exactly 32-byte keys (keyfmt.c). out gets 44 characters and a NUL; always 0. */
int ov_key_to_base64(const uint8_t key[static OV_KEY_LEN], char out[static OV_KEY_B64_LEN + 1]);
/* 0, or -EINVAL unless s is 44 characters of canonical padded base64; key only on success. */
int ov_key_from_base64(const char *s, uint8_t key[static OV_KEY_LEN]);

int ov_endpoint_parse(const char *s, struct ov_endpoint *ret);
void ov_endpoint_format(const struct ov_endpoint *e, char out[static OV_ENDPOINT_STRLEN]);

/* REF's cluster defaults, no role, no members, zeroed allocator. */
void ov_state_init(struct ov_state *s);
/* Frees members and allocator and leaves an init'ed state. NULL-safe. */
void ov_state_done(struct ov_state *s);

/*
 * Parse a state file's bytes (len <= OV_STATE_MAX_BYTES; NULs and trailing bytes refused).
 * 0; -EINVAL with err naming the field ("members[2].ip4: ...") or the JSON position; -EFBIG;
 * -ENOMEM. *ret only on success; ov_state_done() it.
 */
int ov_state_parse(const char *buf, size_t len, struct ov_state *ret, char *err, size_t errlen);
/*
 * The file's bytes (pretty JSON and a newline), checked with ov_state_parse() first. 0;
 * -EINVAL (err says why, as the loader would); -EFBIG past OV_STATE_MAX_BYTES; -ENOMEM.
 * *ret (malloc'ed, NUL-terminated) and *ret_len only on success.
 */
int ov_state_format(const struct ov_state *s, char **ret, size_t *ret_len, char *err,
		    size_t errlen);

/*
 * Take the directory: create it (0700) when missing, check that it is this uid's and that
 * group and others cannot write it, then flock its lock file. 0 and the descriptor, which
 * holds the lock until ov_state_unlock() or exit; -EBUSY when another process (or
 * descriptor) holds it; -EPERM another uid's directory, -EACCES a group- or other-writable
 * one (err says why and the command that fixes it: chmod 700 DIR); -errno. err names the path.
 */
int ov_state_lock(const char *dir, int *ret_fd, char *err, size_t errlen);
void ov_state_unlock(int fd);

/*
 * Read and parse dir/state.json. -ENOENT when it does not exist; err is "<path>: <reason>".
 * Every file read here (state.json, private.key, ov_state_read_file's) must be a regular file
 * of this uid that group and others cannot write: -EPERM / -EACCES otherwise, err saying how
 * to fix it.
 */
int ov_state_load(const char *dir, struct ov_state *ret, char *err, size_t errlen);
/*
 * Write dir/state.json atomically (see above). With OV_STATE_CREATE, -EEXIST if it exists;
 * without, it replaces only a file that loads: one that does not (hand-edited, corrupt, a
 * newer version) is left alone and its load error returned, "(not replaced)" appended.
 */
int ov_state_save(const char *dir, const struct ov_state *s, unsigned flags, char *err,
		  size_t errlen);

/*
 * dir/private.key. Load refuses a file that is not a regular file, is another uid's (-EPERM),
 * is readable or writable by group or others (-EACCES), or is not exactly the key and an
 * optional "\n". key only on success.
 */
int ov_state_key_load(const char *dir, uint8_t key[static OV_KEY_LEN], char *err, size_t errlen);
/* Write it 0600, atomically. flags: OV_STATE_CREATE. */
int ov_state_key_save(const char *dir, const uint8_t key[static OV_KEY_LEN], unsigned flags,
		      char *err, size_t errlen);

/*
 * For the daemon's other files in the state directory (same rules): dir/name := data
 * atomically, 0600 (flags: OV_STATE_CREATE); and read dir/name, a regular file of at most
 * max bytes, into a malloc'ed NUL-terminated buffer. -ENOENT when missing; err names the path.
 */
int ov_state_write_file(const char *dir, const char *name, const char *data, size_t len,
			unsigned flags, char *err, size_t errlen);
int ov_state_read_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
		       char *err, size_t errlen);

/*
 * A peer object as state.json holds members ({"name", "public_key", "endpoint", "ip4", "ip6",
 * "slice"}), for the control protocol. Reading checks it against s's cluster ranges; with
 * need_endpoint a null endpoint is an error. ret only on success.
 */
json_t *ov_peer_to_json(const struct ov_peer *p);
bool ov_json_peer(struct ov_jctx *c, const json_t *o, const char *path, const struct ov_state *s,
		  bool need_endpoint, struct ov_peer *ret);

#endif

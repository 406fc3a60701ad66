/* SPDX-License-Identifier: MIT */
/*
 * The cross-platform UAPI text codec (https://www.wireguard.com/xplatform/, wireguard-go
 * device/uapi.go): parses the body of a "set=1" request into a struct uapi_set and writes the
 * reply of a "get=1" from a snapshot the device fills.
 *
 * Pure: no sockets, no device, no clock, no logging. Unlike wireguard-go, which applies each
 * line as it reads it, the whole request is validated here first, so the device can apply it
 * atomically or not at all. Everything is bounded: UAPI_MAX_LINE per line, UAPI_MAX_PEERS
 * peer sections and UAPI_MAX_ALLOWED_IPS prefixes per request. Keys are wiped when freed.
 *
 * Decisions where wireguard-go is loose or silent:
 * - A public_key line always starts a new, zeroed section, even for a key already seen in
 *   this request: sections are kept separate and must be applied in order (what wireguard-go
 *   effectively does). Nothing of one section leaks into the next.
 * - replace_allowed_ips=true drops the allowed_ip lines already collected in its section, so
 *   that "allowed_ip=A, replace_allowed_ips=true, allowed_ip=B" leaves only B, as in wg-go.
 * - After remove=true the rest of the section is still validated, but the device ignores it.
 * - allowed_ip needs "/cidr" (netip.ParsePrefix does; wg always sends it), cidr in decimal
 *   without leading zeros, <= 32 (IPv4) or 128 (IPv6). Host bits are kept as sent.
 * - Numbers are decimal digits only (no sign, no space, not empty), within the type; leading
 *   zeros are accepted as Go's strconv.ParseUint accepts them.
 * - Endpoint ports 0..65535: Go's netip.ParseAddrPort accepts port 0, and so do we (the
 *   device's send then fails, as wireguard-go's does). IPv6 needs brackets, IPv4 must not
 *   have them; a "%scope" is only accepted inside brackets, as a decimal interface index or
 *   an interface name that exists in the daemon's network namespace (`wg` sends names).
 * - A line without '=' is -EINVAL here (wireguard-go answers EPROTO for it).
 */
#ifndef WEFT_DATAPLANE_UAPI_H
#define WEFT_DATAPLANE_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "wg/wg.h"

enum {
	UAPI_MAX_LINE = 4096,		  /* bytes per line, without the '\n' */
	UAPI_MAX_PEERS = 1 << 16,	  /* = WG_MAX_PEERS; peer sections per request */
	UAPI_MAX_ALLOWED_IPS = 1 << 20,	  /* = WG_ALLOWEDIPS_MAX; per request, all peers */
	UAPI_KEY_HEXLEN = 2 * WG_KEY_LEN, /* 64 hex characters */
	UAPI_ENDPOINT_STRLEN = 64,	  /* "[" v6 (<= 45) "]:" u16, NUL */
	UAPI_PREFIX_STRLEN = 64,	  /* v6 (45) "/128", NUL */
	/*
	 * A reply cap for the device's strbuf: every peer's fixed lines fit in 512 bytes and an
	 * allowed_ip line in 64, so 2^16 * 512 + 2^20 * 64 + device lines < 2^27.
	 */
	UAPI_MAX_REPLY = 1 << 27,
};

struct uapi_allowed_ip {
	enum wg_family family;
	uint8_t addr[16]; /* network order; 4 bytes used for IPv4, the rest zero */
	uint8_t cidr;
	bool remove; /* "allowed_ip=-prefix" */
};

struct uapi_peer {
	uint8_t public_key[WG_KEY_LEN];
	bool remove, update_only, replace_allowed_ips;
	bool has_psk;
	uint8_t psk[WG_KEY_LEN]; /* all zeros = remove the psk */
	bool has_endpoint;
	struct wg_endpoint endpoint;
	bool has_keepalive;
	uint16_t keepalive;
	struct uapi_allowed_ip *allowed_ips;
	size_t n_allowed_ips, cap_allowed_ips;
	uint32_t endpoint_scope_id; /* "[fe80::1%3]:port" → 3; 0 = none */
};

struct uapi_set {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN]; /* all zeros = remove the key; not clamped here */
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct uapi_peer *peers;
	size_t n_peers, cap_peers;
	size_t total_allowed_ips;
};

/*
 * Incremental parser for the body of a "set=1" request (the lines after "set=1", without
 * their '\n', up to but not including the empty line). The first error sticks.
 */
struct uapi_parser {
	struct uapi_set *set;
	struct uapi_peer *cur; /* the section being parsed; NULL in the device section */
	int error;
	size_t line_no;
	char msg[128];
	bool device_section_over;
	unsigned seen; /* keys met in the current section (bit = index in the key table) */
};

/* set is zeroed. The caller owns set and frees it with uapi_set_free() whatever happens. */
void uapi_parser_init(struct uapi_parser *p, struct uapi_set *set);
/*
 * One line, len bytes, no '\n' (an empty line is an error: the caller ends the request
 * there). 0 or the sticky -errno: -EINVAL (malformed), -ENOSPC (a cap), -ENOMEM.
 */
int uapi_parser_line(struct uapi_parser *p, const char *line, size_t len);
/* 0 or -errno; p->msg says what was wrong ("line 7: bad hex in public_key"). */
int uapi_parser_finish(struct uapi_parser *p);
/* NULL-safe; wipes keys; s is left zeroed. */
void uapi_set_free(struct uapi_set *s);

/*
 * "a.b.c.d:port", "[v6]:port", "[v6%scope]:port" (scope: an interface index or name, kept
 * in ret->scope_id) → 0 or -EINVAL. Port 0..65535 (see above). *ret only on success.
 */
int uapi_parse_endpoint(const char *s, size_t len, struct wg_endpoint *ret);
/* The same, also returning the scope id (0 when none) if ret_scope_id is not NULL. */
int uapi_parse_endpoint_scoped(const char *s, size_t len, struct wg_endpoint *ret,
			       uint32_t *ret_scope_id);
/* "1.2.3.4:51820" or "[fd00::1]:51820" into buf; "" for an unset or unknown family. */
void uapi_format_endpoint(const struct wg_endpoint *ep, char buf[UAPI_ENDPOINT_STRLEN]);

/*
 * Exactly 64 hex characters, either case → 0 or -EINVAL. Constant time in the key's value
 * (wireguard-tools key_from_hex style); key is written only on success.
 */
int uapi_parse_key(const char *s, size_t len, uint8_t key[WG_KEY_LEN]);
/* 64 lowercase hex characters and a NUL, constant time. */
void uapi_format_key(const uint8_t key[WG_KEY_LEN], char out[2 * WG_KEY_LEN + 1]);

/* "10.0.0.0/8" or "fd00::/64" (no '-', no scope) → 0 or -EINVAL; remove is set false. */
int uapi_parse_prefix(const char *s, size_t len, struct uapi_allowed_ip *ret);
/* "10.0.0.0/8" into buf (no '-'); "" for a bad family or cidr. */
void uapi_format_prefix(const struct uapi_allowed_ip *aip, char buf[UAPI_PREFIX_STRLEN]);

/* The reply of a "get=1": the device fills this snapshot; the codec writes the text. */
struct uapi_get_peer {
	uint8_t public_key[WG_KEY_LEN], psk[WG_KEY_LEN];
	bool has_endpoint;
	struct wg_endpoint endpoint;
	uint64_t last_handshake_sec, last_handshake_nsec; /* Unix epoch, 0 = never */
	uint64_t rx_bytes, tx_bytes;
	uint16_t keepalive;
	const struct uapi_allowed_ip *allowed_ips; /* remove flag ignored */
	size_t n_allowed_ips;
};

struct uapi_get {
	bool has_private_key;
	uint8_t private_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	const struct uapi_get_peer *peers;
	size_t n_peers;
};

/*
 * Appends the key=value lines in wireguard-go's order (device keys, then per peer:
 * public_key, preshared_key, protocol_version=1, endpoint, last_handshake_time_sec,
 * last_handshake_time_nsec, tx_bytes, rx_bytes, persistent_keepalive_interval,
 * allowed_ip...), then "errno=0\n\n". Omits private_key if none (or all zeros), listen_port
 * and fwmark if 0. 0, or the strbuf's error (-E2BIG, -ENOMEM), or -EINVAL for an endpoint or
 * prefix with a bad family or cidr; on error out holds a partial reply to discard.
 */
int uapi_format_get(struct strbuf *out, const struct uapi_get *g);

/*
 * The inverse of the parser: appends the body lines of a "set=1" request (without "set=1"
 * and without the final empty line) in the order wg sends them. Parsing the output gives
 * back an equal struct uapi_set. Same errors as uapi_format_get().
 */
int uapi_format_set(struct strbuf *out, const struct uapi_set *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The overlay's DNS zone: in-memory A, AAAA and SRV records under one origin (REF's daemon
 * uses "<deployment>.local.", by default "zlayer.local."), each tagged with the node that
 * owns it, and the authoritative answer to a parsed question (RFC 1034 §4.3.2).
 *
 * Must not: do I/O, answer for a name outside the origin (that is the forwarder's, the
 * verdict says so), or grow past the caps below. An answer points into the zone: build the
 * response before the zone changes.
 *
 * Decisions:
 * - Names follow REF: a name ending in '.' is absolute and must lie in the zone; otherwise
 *   the origin is appended ("web" -> "web.zlayer.local."). Records of one name accumulate
 *   (one A per attached container); adding an identical record again only updates its owner.
 * - Every record has a TTL of 300 s (REF). The SOA is synthesized: MNAME is the origin,
 *   RNAME hostmaster.<origin>, the serial counts changes from 1 (REF's counter), and the
 *   negative TTL is 30 s so that a name that appears, or a node that recovers, is seen soon
 *   by caches that remembered its absence (RFC 2308 §5).
 * - Health: while an owner is marked unhealthy its records are withheld, and the zone
 *   answers exactly as if they did not exist: NXDOMAIN if nothing visible remains at or
 *   below the name, NODATA if something does (another type from a healthy node, or a
 *   visible descendant). Owner OV_DNS_ZONE_OWNER_NONE is never withheld.
 * - A name with no records but with descendants (an empty non-terminal, e.g. _tcp.web.<zone>
 *   under _http._tcp.web.<zone>) is NODATA, never NXDOMAIN (RFC 8020 §2).
 * - Answers for types we do not hold (MX, TXT, NS...) are NODATA. ANY returns every visible
 *   record of the name. AXFR/IXFR and classes other than IN/ANY are REFUSED.
 * - SRV answers carry the targets' in-zone A/AAAA in the additional section (RFC 2782).
 */
#ifndef WEFT_OVERLAY_DNS_ZONE_H
#define WEFT_OVERLAY_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/dns_codec.h"

#define OV_DNS_ZONE_DEFAULT_ORIGIN "zlayer.local."

enum {
	OV_DNS_ZONE_TTL = 300,	  /* REF: every record */
	OV_DNS_ZONE_NEG_TTL = 30, /* SOA TTL and MINIMUM: how long an absence is cached */
	OV_DNS_ZONE_SOA_REFRESH = 3600,
	OV_DNS_ZONE_SOA_RETRY = 600,
	OV_DNS_ZONE_SOA_EXPIRE = 86400, /* no secondaries exist; RFC 1912 §2.2 style values */
	OV_DNS_ZONE_RECORDS_MAX = 8192,
	/* One answer slot is kept for the apex SOA of an ANY query. */
	OV_DNS_ZONE_PER_NAME_MAX = OV_DNS_ANSWER_MAX - 1,
	OV_DNS_ZONE_UNHEALTHY_MAX = 1024, /* owners marked unhealthy at once */
	OV_DNS_ZONE_OWNER_NONE = 0,
	OV_DNS_ZONE_NODE_LABEL_MAX = 32, /* "node-255-255", "node-ffff", NUL included */
};

struct ov_dns_zone_rec;

struct ov_dns_zone {
	struct ov_dns_name origin;
	struct ov_dns_name hostmaster; /* SOA RNAME */
	uint32_t serial;
	struct ov_dns_zone_rec *recs; /* sorted: canonical name order (RFC 4034 §6.1), type */
	size_t count, alloc;
	uint32_t unhealthy[OV_DNS_ZONE_UNHEALTHY_MAX];
	size_t n_unhealthy;
};

enum ov_dns_zone_verdict {
	OV_DNS_ZONE_ANSWERED, /* ret holds the answer */
	OV_DNS_ZONE_FORWARD,  /* not our zone (or no question): ask the upstreams */
};

/* origin: NULL for OV_DNS_ZONE_DEFAULT_ORIGIN. */
int ov_dns_zone_init(struct ov_dns_zone *z, const char *origin);
void ov_dns_zone_done(struct ov_dns_zone *z);

/*
 * A (family AF_INET, addr 4 bytes) or AAAA (AF_INET6, 16 bytes). Returns 0; -EINVAL for a
 * bad name or one outside the zone, -EAFNOSUPPORT, -ENOSPC past a cap, -ENOMEM.
 */
int ov_dns_zone_add_addr(struct ov_dns_zone *z, const char *host, int family, const void *addr,
			 uint32_t owner);
/* SRV at name (e.g. "_http._tcp.web"); target is qualified the same way and may be ".". */
int ov_dns_zone_add_srv(struct ov_dns_zone *z, const char *name, uint16_t priority, uint16_t weight,
			uint16_t port, const char *target, uint32_t owner);
/* Each returns how many records went away. */
int ov_dns_zone_remove_name(struct ov_dns_zone *z, const char *host);
int ov_dns_zone_remove_addr(struct ov_dns_zone *z, const char *host, int family, const void *addr);
int ov_dns_zone_remove_owner(struct ov_dns_zone *z, uint32_t owner);
/* Owners are healthy until marked otherwise. */
int ov_dns_zone_set_healthy(struct ov_dns_zone *z, uint32_t owner, bool healthy);
bool ov_dns_zone_is_healthy(const struct ov_dns_zone *z, uint32_t owner);

/*
 * REF's per-node host label: IPv4 "node-<3rd>-<4th octet>" (10.200.3.7 -> "node-3-7"); IPv6
 * "node-" and the last 16-bit group as four lowercase hex digits (fd00:200::ab -> "node-00ab").
 * Returns the length or a negative errno.
 */
int ov_dns_zone_node_label(int family, const void *addr, char *buf, size_t cap);

/* The answer to q (from ov_dns_parse_query); ret is written only for ANSWERED. */
enum ov_dns_zone_verdict ov_dns_zone_lookup(const struct ov_dns_zone *z, const struct ov_dns_msg *q,
					    struct ov_dns_answer *ret);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * resolv.conf(5) reader for the DNS forwarder: the name servers the host itself uses, minus
 * loopback ones. A loopback server is a local stub (systemd-resolved's 127.0.0.53, dnsmasq,
 * a mesh VPN's hijacking resolver) that may forward overlay names back to us or be broken,
 * which is what REF's forwarder exists to get around.
 *
 * Rules (glibc res_init, plus REF's filtering): only "nameserver <address>" lines count, the
 * keyword at the start of the line (leading blanks tolerated) followed by a blank; the address
 * is the next word and the rest of the line is ignored; lines starting with '#' or ';' are
 * comments. IPv4 and IPv6 literals, IPv6 with "%scope" (numeric, or an interface name kept
 * for the caller to resolve). Skipped: unparsable addresses, loopback (127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104), unspecified (0.0.0.0, ::), duplicates. The first OV_RESOLV_NS_MAX
 * survivors are kept, port 53.
 *
 * Must not: open files (the caller reads the text), resolve interface names, read past len.
 */
#ifndef WEFT_OVERLAY_RESOLV_H
#define WEFT_OVERLAY_RESOLV_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/socket.h>

enum {
	OV_RESOLV_NS_MAX = 3, /* glibc MAXNS (resolv.conf(5)) */
	OV_RESOLV_PORT = 53,
	OV_RESOLV_ADDR_TEXT_MAX = 64, /* an address word longer than this is not an address */
};

struct ov_resolv_ns {
	struct sockaddr_storage addr; /* sockaddr_in or sockaddr_in6, port 53 */
	socklen_t addr_len;
	char scope_ifname[IF_NAMESIZE]; /* "%eth0" of a v6 address, for if_nametoindex; or "" */
};

struct ov_resolv {
	struct ov_resolv_ns ns[OV_RESOLV_NS_MAX];
	size_t count;
};

/* Parses len bytes of resolv.conf text (NULs are not terminators). Returns the count kept. */
int ov_resolv_parse(const char *text, size_t len, struct ov_resolv *ret);
/* REF's fallback when nothing usable remains: 1.1.1.1 and 8.8.8.8, port 53. */
void ov_resolv_fallback(struct ov_resolv *ret);
/* "1.2.3.4:53" / "[fe80::1%eth0]:53" into buf; returns the length or a negative errno. */
int ov_resolv_ns_to_text(const struct ov_resolv_ns *ns, char *buf, size_t cap);

#endif

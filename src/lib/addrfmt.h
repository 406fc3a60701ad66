/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses as people write them, for log lines and messages: 198.18.0.2 (not
 * ::ffff:198.18.0.2, which is what a dual-stack AF_INET6 socket reports for an IPv4 peer),
 * 2001:db8::1 in RFC 5952 form, and with a port 198.18.0.2:51420 or [2001:db8::1]:51420.
 *
 * Must not: depend on anything above lib/, allocate, or log. POSIX only (weftd is not built
 * for Windows).
 */
#ifndef WEFT_LIB_ADDRFMT_H
#define WEFT_LIB_ADDRFMT_H

#include <stdbool.h>
#include <sys/socket.h>

enum {
	ADDRFMT_LEN = 64, /* "[" + 45 (INET6_ADDRSTRLEN - 1) + "]:" + 5 + NUL fits */
};

/*
 * Write sa's address (and with_port, its port) into out and return out. A v4-mapped IPv6
 * address is written as the IPv4 address it maps. len is the sockaddr's length (a
 * sockaddr_storage's size is fine); a NULL sa, a short len or a family other than AF_INET
 * and AF_INET6 gives "?".
 */
const char *addrfmt_sockaddr(const struct sockaddr *sa, socklen_t len, bool with_port,
			     char out[static ADDRFMT_LEN]);

#endif

/* SPDX-License-Identifier: MIT */
/* Socket addresses as text people write (addrfmt.h). */
#include "lib/addrfmt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

const char *addrfmt_sockaddr(const struct sockaddr *sa, socklen_t len, bool with_port,
			     char out[static ADDRFMT_LEN])
{
	char a[INET6_ADDRSTRLEN];
	struct in_addr v4;
	unsigned port;
	bool v6;

	if (!sa || len < (socklen_t)sizeof(sa->sa_family))
		goto unknown;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		v4 = sin->sin_addr;
		port = ntohs(sin->sin_port);
		v6 = false;
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		port = ntohs(sin6->sin6_port);
		v6 = !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
		if (v6) {
			if (!inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)))
				goto unknown;
		} else {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
		}
	} else {
		goto unknown;
	}
	if (!v6 && !inet_ntop(AF_INET, &v4, a, sizeof(a)))
		goto unknown;
	if (!with_port)
		snprintf(out, ADDRFMT_LEN, "%s", a);
	else if (v6)
		snprintf(out, ADDRFMT_LEN, "[%s]:%u", a, port);
	else
		snprintf(out, ADDRFMT_LEN, "%s:%u", a, port);
	return out;
unknown:
	snprintf(out, ADDRFMT_LEN, "?");
	return out;
}

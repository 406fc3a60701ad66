/* SPDX-License-Identifier: MIT */
/*
 * Our address types (struct plat_addr, struct wg_endpoint) to and from SOCKADDR_INET, the
 * union IP Helper and Winsock take. Pure conversions: no system calls besides inet_ntop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "platform/windows/win.h"

static int check_addr(const struct plat_addr *a)
{
	if (!a)
		return -EINVAL;
	if (a->family == WG_AF_INET)
		return a->prefix <= 32 ? 0 : -EINVAL;
	if (a->family == WG_AF_INET6)
		return a->prefix <= 128 ? 0 : -EINVAL;
	return -EINVAL;
}

static void fill(int family, const uint8_t *addr, uint16_t port, SOCKADDR_INET *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (family == WG_AF_INET) {
		sa->Ipv4.sin_family = AF_INET;
		sa->Ipv4.sin_port = htons(port);
		memcpy(&sa->Ipv4.sin_addr, addr, 4);
	} else {
		sa->Ipv6.sin6_family = AF_INET6;
		sa->Ipv6.sin6_port = htons(port);
		memcpy(&sa->Ipv6.sin6_addr, addr, 16);
	}
}

int plat_win_addr_to_sockaddr(const struct plat_addr *a, SOCKADDR_INET *ret)
{
	SOCKADDR_INET sa;
	int r = check_addr(a);

	if (r < 0 || !ret)
		return -EINVAL;
	fill(a->family, a->addr, 0, &sa);
	*ret = sa;
	return 0;
}

int plat_win_sockaddr_to_addr(const SOCKADDR_INET *sa, uint8_t prefix, struct plat_addr *ret)
{
	struct plat_addr a = {.family = 0};

	if (!sa || !ret)
		return -EINVAL;
	if (sa->si_family == AF_INET) {
		if (prefix > 32)
			return -EINVAL;
		a.family = WG_AF_INET;
		memcpy(a.addr, &sa->Ipv4.sin_addr, 4);
	} else if (sa->si_family == AF_INET6) {
		if (prefix > 128)
			return -EINVAL;
		a.family = WG_AF_INET6;
		memcpy(a.addr, &sa->Ipv6.sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	a.prefix = prefix;
	*ret = a;
	return 0;
}

int plat_win_endpoint_to_sockaddr(const struct wg_endpoint *ep, SOCKADDR_INET *ret)
{
	SOCKADDR_INET sa;

	if (!ep || !ret || (ep->family != WG_AF_INET && ep->family != WG_AF_INET6))
		return -EINVAL;
	fill(ep->family, ep->addr, ep->port, &sa);
	*ret = sa;
	return 0;
}

int plat_win_sockaddr_to_endpoint(const SOCKADDR_INET *sa, struct wg_endpoint *ret)
{
	struct wg_endpoint ep = {.family = 0};

	if (!sa || !ret)
		return -EINVAL;
	if (sa->si_family == AF_INET) {
		ep.family = WG_AF_INET;
		ep.port = ntohs(sa->Ipv4.sin_port);
		memcpy(ep.addr, &sa->Ipv4.sin_addr, 4);
	} else if (sa->si_family == AF_INET6) {
		ep.family = WG_AF_INET6;
		ep.port = ntohs(sa->Ipv6.sin6_port);
		memcpy(ep.addr, &sa->Ipv6.sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	*ret = ep;
	return 0;
}

void plat_win_addr_str(const struct plat_addr *a, bool with_prefix, char buf[PLAT_WIN_ADDR_STRLEN])
{
	char text[INET6_ADDRSTRLEN];
	const char *p;

	if (check_addr(a) < 0) {
		snprintf(buf, PLAT_WIN_ADDR_STRLEN, "?");
		return;
	}
	p = inet_ntop(a->family == WG_AF_INET ? AF_INET : AF_INET6, a->addr, text, sizeof(text));
	if (!p) {
		snprintf(buf, PLAT_WIN_ADDR_STRLEN, "?");
		return;
	}
	if (with_prefix)
		snprintf(buf, PLAT_WIN_ADDR_STRLEN, "%s/%u", text, a->prefix);
	else
		snprintf(buf, PLAT_WIN_ADDR_STRLEN, "%s", text);
}

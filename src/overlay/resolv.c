/* SPDX-License-Identifier: MIT */
/*
 * resolv.conf reader (see resolv.h for the rules). Each line is read through (pointer,
 * length); the address word is copied, bounded and NUL-terminated, into a small buffer and
 * handed to inet_pton, the only parser of addresses here.
 * Must not: read past len, treat a NUL in the text as the end of it, do any I/O (the scope
 * interface name is left for the caller to resolve), or keep more than OV_RESOLV_NS_MAX.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "overlay/resolv.h"

static const char KEYWORD[] = "nameserver";

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Ends the address word; '\r' too, for files written on Windows. */
static bool is_space(char c)
{
	return is_blank(c) || c == '\r' || c == '\v' || c == '\f';
}

static int parse_scope(const char *s, struct sockaddr_in6 *sin6, struct ov_resolv_ns *ns)
{
	size_t len = strlen(s);
	uint64_t v = 0;
	bool numeric = len > 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len && numeric; i++) {
		numeric = s[i] >= '0' && s[i] <= '9';
		if (!numeric)
			break;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (numeric) {
		sin6->sin6_scope_id = (uint32_t)v;
		return 0;
	}
	if (len >= IF_NAMESIZE || strchr(s, '/'))
		return -EINVAL;
	memcpy(ns->scope_ifname, s, len + 1);
	return 0;
}

/* buf is a NUL-terminated copy of the address word; it is modified. */
static int parse_addr(char *buf, struct ov_resolv_ns *ns)
{
	char *pct = strchr(buf, '%');

	if (!pct) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ns->addr;

		if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(OV_RESOLV_PORT);
			ns->addr_len = sizeof(*sin);
			return 0;
		}
	}
	{
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ns->addr;

		if (pct)
			*pct = '\0';
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return -EINVAL;
		if (pct && parse_scope(pct + 1, sin6, ns) < 0)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(OV_RESOLV_PORT);
		ns->addr_len = sizeof(*sin6);
	}
	return 0;
}

/* Loopback stubs and unspecified addresses: never an upstream for us. */
static bool unusable(const struct ov_resolv_ns *ns)
{
	if (ns->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ns->addr;
		const uint8_t *b = (const uint8_t *)&sin->sin_addr;

		return b[0] == 127 || sin->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ns->addr;
		const struct in6_addr *a = &sin6->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return true;
		/* ::ffff:127.x.y.z and ::ffff:0.0.0.0 reach the same places as their v4 forms. */
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			const uint8_t *v4 = a->s6_addr + 12;

			return v4[0] == 127 || (!v4[0] && !v4[1] && !v4[2] && !v4[3]);
		}
		return false;
	}
}

static bool same_ns(const struct ov_resolv_ns *a, const struct ov_resolv_ns *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
		const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;

		return x->sin_addr.s_addr == y->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;

		return !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) &&
		       x->sin6_scope_id == y->sin6_scope_id &&
		       !strcmp(a->scope_ifname, b->scope_ifname);
	}
}

static void parse_line(const char *s, size_t n, struct ov_resolv *r)
{
	const size_t kwlen = sizeof(KEYWORD) - 1;
	char word[OV_RESOLV_ADDR_TEXT_MAX];
	struct ov_resolv_ns ns;
	size_t i = 0, start, wlen;

	/* Comments ('#', ';') and every other keyword fall out here. */
	while (i < n && is_blank(s[i]))
		i++;
	if (n - i < kwlen || memcmp(s + i, KEYWORD, kwlen))
		return;
	i += kwlen;
	if (i >= n || !is_blank(s[i]))
		return;
	while (i < n && is_blank(s[i]))
		i++;
	start = i;
	while (i < n && !is_space(s[i]))
		i++;
	wlen = i - start;
	if (wlen == 0 || wlen >= sizeof(word) || memchr(s + start, '\0', wlen))
		return;
	memcpy(word, s + start, wlen);
	word[wlen] = '\0';

	memset(&ns, 0, sizeof(ns));
	if (parse_addr(word, &ns) < 0 || unusable(&ns))
		return;
	for (size_t k = 0; k < r->count; k++) {
		if (same_ns(&r->ns[k], &ns))
			return;
	}
	r->ns[r->count++] = ns;
}

int ov_resolv_parse(const char *text, size_t len, struct ov_resolv *ret)
{
	struct ov_resolv r;
	size_t pos = 0;

	if (!ret || (!text && len))
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	while (pos < len && r.count < OV_RESOLV_NS_MAX) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		parse_line(line, llen, &r);
		pos += llen + (nl ? 1 : 0);
	}
	*ret = r;
	return (int)r.count;
}

void ov_resolv_fallback(struct ov_resolv *ret)
{
	static const char *const servers[] = {"1.1.1.1", "8.8.8.8"};

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ret->ns[i].addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(OV_RESOLV_PORT);
		inet_pton(AF_INET, servers[i], &sin->sin_addr);
		ret->ns[i].addr_len = sizeof(*sin);
		ret->count++;
	}
}

int ov_resolv_ns_to_text(const struct ov_resolv_ns *ns, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (ns->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ns->addr;

		if (!inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)))
			return -errno;
		n = snprintf(buf, cap, "%s:%u", a, ntohs(sin->sin_port));
	} else if (ns->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ns->addr;

		if (!inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)))
			return -errno;
		if (ns->scope_ifname[0])
			n = snprintf(buf, cap, "[%s%%%s]:%u", a, ns->scope_ifname,
				     ntohs(sin6->sin6_port));
		else if (sin6->sin6_scope_id)
			n = snprintf(buf, cap, "[%s%%%u]:%u", a, (unsigned)sin6->sin6_scope_id,
				     ntohs(sin6->sin6_port));
		else
			n = snprintf(buf, cap, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

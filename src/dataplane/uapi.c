/* SPDX-License-Identifier: MIT */
/*
 * UAPI text codec (see uapi.h for the grammar and the decisions taken). Every value is read
 * with a tight cursor over (pointer, length): no sscanf, no strtoul, nothing that skips
 * spaces or accepts signs. Addresses go through inet_pton on a bounded, NUL-terminated copy
 * after embedded NULs are refused.
 * Must not: read outside a line, write a ret_ argument on failure, keep a key in memory that
 * is freed or goes out of scope without crypto_wipe, or put a key or value in p->msg.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <net/if.h>
#endif

#include "crypto/crypto.h"
#include "dataplane/uapi.h"

enum {
	ADDR_TEXT_MAX = 64,  /* longest address text we hand to inet_pton, NUL included */
	KEY_NAME_SHOWN = 32, /* an unknown key is quoted in p->msg up to this length */
	PEERS_FIRST_ALLOC = 4,
	AIPS_FIRST_ALLOC = 8,
};

/* ---------------------------------------------------------------------------------------- */
/* Scalars                                                                                  */

/* Decimal digits only, not empty, value <= max. Leading zeros allowed (strconv.ParseUint). */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static bool is_literal(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(s, lit, len);
}

/*
 * One hex digit to its value without branches on the digit (wireguard-tools key_from_hex):
 * *bad gets 0xff ORed in when c is not [0-9a-fA-F].
 */
static uint8_t hex_nibble(uint8_t c, uint8_t *bad)
{
	uint8_t num = c ^ 0x30; /* '0'..'9' → 0..9 */
	uint8_t num_ok = (uint8_t)(((unsigned)num - 10) >> 8);
	uint8_t alpha = (uint8_t)((c & ~0x20u) - 55); /* 'A'..'F' and 'a'..'f' → 10..15 */
	uint8_t alpha_ok = (uint8_t)((((unsigned)alpha - 10) ^ ((unsigned)alpha - 16)) >> 8);

	*bad |= (uint8_t)((((unsigned)num_ok | alpha_ok) - 1) >> 8);
	return (uint8_t)((num_ok & num) | (alpha_ok & alpha));
}

int uapi_parse_key(const char *s, size_t len, uint8_t key[WG_KEY_LEN])
{
	uint8_t tmp[WG_KEY_LEN];
	volatile uint8_t bad = 0;
	uint8_t b = 0;
	size_t i;

	if (!s || len != UAPI_KEY_HEXLEN)
		return -EINVAL;
	for (i = 0; i < WG_KEY_LEN; i++) {
		uint8_t hi = hex_nibble((uint8_t)s[2 * i], &b);
		uint8_t lo = hex_nibble((uint8_t)s[2 * i + 1], &b);

		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	bad = b;
	if (bad) {
		crypto_wipe(tmp, sizeof(tmp));
		return -EINVAL;
	}
	memcpy(key, tmp, WG_KEY_LEN);
	crypto_wipe(tmp, sizeof(tmp));
	return 0;
}

/* 0..15 → '0'..'9', 'a'..'f' without a branch on the value. */
static char hex_digit(unsigned n)
{
	unsigned below10 = ((n - 10) >> 8) & 0xff; /* 0xff when n < 10 */

	return (char)(n + 'a' - 10 - (below10 & ('a' - 10 - '0')));
}

void uapi_format_key(const uint8_t key[WG_KEY_LEN], char out[2 * WG_KEY_LEN + 1])
{
	size_t i;

	for (i = 0; i < WG_KEY_LEN; i++) {
		out[2 * i] = hex_digit(key[i] >> 4);
		out[2 * i + 1] = hex_digit(key[i] & 0xf);
	}
	out[2 * WG_KEY_LEN] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Addresses                                                                                */

/* inet_pton over (s, len): refuses NULs (they would cut the copy short) and overlong text. */
static int parse_addr(int af, const char *s, size_t len, uint8_t out[16])
{
	char text[ADDR_TEXT_MAX];
	uint8_t addr[16] = {0};

	if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(af, text, addr) != 1)
		return -EINVAL;
	memcpy(out, addr, 16);
	return 0;
}

/*
 * The zone of "[fe80::1%zone]:port": a decimal interface index, or an interface name (what
 * `wg` sends: getnameinfo writes the name) looked up in this network namespace.
 */
static int parse_scope(const char *s, size_t len, uint64_t *ret)
{
#ifdef _WIN32
	return parse_uint(s, len, UINT32_MAX, ret); /* names: not on Windows yet */
#else
	char name[IF_NAMESIZE];
	unsigned idx;

	if (len && s[0] >= '0' && s[0] <= '9')
		return parse_uint(s, len, UINT32_MAX, ret);
	if (len == 0 || len >= sizeof(name) || memchr(s, '\0', len) || memchr(s, '/', len))
		return -EINVAL;
	memcpy(name, s, len);
	name[len] = '\0';
	idx = if_nametoindex(name);
	if (!idx)
		return -EINVAL;
	*ret = idx;
	return 0;
#endif
}

int uapi_parse_endpoint_scoped(const char *s, size_t len, struct wg_endpoint *ret,
			       uint32_t *ret_scope_id)
{
	struct wg_endpoint ep = {0};
	const char *host, *port;
	size_t hlen, plen;
	uint64_t v, scope = 0;

	if (!s || len == 0 || len > UAPI_MAX_LINE)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len), *pct;

		if (!rb || (size_t)(rb - s) + 1 >= len || rb[1] != ':')
			return -EINVAL;
		host = s + 1;
		hlen = (size_t)(rb - host);
		port = rb + 2;
		plen = len - (size_t)(port - s);
		pct = memchr(host, '%', hlen);
		if (pct) {
			size_t slen = hlen - (size_t)(pct + 1 - host);

			if (parse_scope(pct + 1, slen, &scope))
				return -EINVAL;
			hlen = (size_t)(pct - host);
		}
		if (parse_addr(AF_INET6, host, hlen, ep.addr))
			return -EINVAL;
		ep.family = WG_AF_INET6;
	} else {
		size_t colon = len;

		while (colon > 0 && s[colon - 1] != ':')
			colon--;
		if (colon == 0)
			return -EINVAL; /* no port */
		host = s;
		hlen = colon - 1;
		port = s + colon;
		plen = len - colon;
		/* An unbracketed IPv6 address: netip.ParseAddrPort refuses it too. */
		if (memchr(host, ':', hlen))
			return -EINVAL;
		if (parse_addr(AF_INET, host, hlen, ep.addr))
			return -EINVAL;
		ep.family = WG_AF_INET;
	}
	if (parse_uint(port, plen, UINT16_MAX, &v))
		return -EINVAL;
	ep.port = (uint16_t)v;
	ep.scope_id = (uint32_t)scope;
	*ret = ep;
	if (ret_scope_id)
		*ret_scope_id = (uint32_t)scope;
	return 0;
}

int uapi_parse_endpoint(const char *s, size_t len, struct wg_endpoint *ret)
{
	return uapi_parse_endpoint_scoped(s, len, ret, NULL);
}

static void format_endpoint_scoped(const struct wg_endpoint *ep, uint32_t scope_id, char *buf,
				   size_t size)
{
	char text[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (ep->family == WG_AF_INET) {
		if (inet_ntop(AF_INET, ep->addr, text, sizeof(text)))
			snprintf(buf, size, "%s:%u", text, (unsigned)ep->port);
	} else if (ep->family == WG_AF_INET6) {
		if (!inet_ntop(AF_INET6, ep->addr, text, sizeof(text)))
			return;
		if (scope_id)
			snprintf(buf, size, "[%s%%%" PRIu32 "]:%u", text, scope_id,
				 (unsigned)ep->port);
		else
			snprintf(buf, size, "[%s]:%u", text, (unsigned)ep->port);
	}
}

void uapi_format_endpoint(const struct wg_endpoint *ep, char buf[UAPI_ENDPOINT_STRLEN])
{
	format_endpoint_scoped(ep, 0, buf, UAPI_ENDPOINT_STRLEN);
}

int uapi_parse_prefix(const char *s, size_t len, struct uapi_allowed_ip *ret)
{
	struct uapi_allowed_ip aip = {0};
	const char *slash;
	size_t alen, clen;
	uint64_t cidr;

	if (!s || len == 0)
		return -EINVAL;
	slash = memchr(s, '/', len);
	if (!slash)
		return -EINVAL; /* wg always sends "/cidr"; netip.ParsePrefix requires it */
	alen = (size_t)(slash - s);
	clen = len - alen - 1;
	aip.family = memchr(s, ':', alen) ? WG_AF_INET6 : WG_AF_INET;
	if (parse_addr(aip.family == WG_AF_INET6 ? AF_INET6 : AF_INET, s, alen, aip.addr))
		return -EINVAL;
	/* No leading zeros, as netip.ParsePrefix: "/08" is not a length. */
	if (clen > 1 && slash[1] == '0')
		return -EINVAL;
	if (parse_uint(slash + 1, clen, aip.family == WG_AF_INET6 ? 128 : 32, &cidr))
		return -EINVAL;
	aip.cidr = (uint8_t)cidr;
	*ret = aip;
	return 0;
}

static bool prefix_valid(const struct uapi_allowed_ip *aip)
{
	return (aip->family == WG_AF_INET && aip->cidr <= 32) ||
	       (aip->family == WG_AF_INET6 && aip->cidr <= 128);
}

void uapi_format_prefix(const struct uapi_allowed_ip *aip, char buf[UAPI_PREFIX_STRLEN])
{
	char text[INET6_ADDRSTRLEN];
	int af = aip->family == WG_AF_INET6 ? AF_INET6 : AF_INET;

	buf[0] = '\0';
	if (!prefix_valid(aip) || !inet_ntop(af, aip->addr, text, sizeof(text)))
		return;
	snprintf(buf, UAPI_PREFIX_STRLEN, "%s/%u", text, (unsigned)aip->cidr);
}

/* ---------------------------------------------------------------------------------------- */
/* The set parser                                                                           */

static int fail(struct uapi_parser *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct uapi_parser *p, int err, const char *fmt, ...)
{
	char reason[sizeof(p->msg) - 32]; /* "line <20 digits>: " fits in the rest */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(p->msg, sizeof(p->msg), "line %zu: %s", p->line_no, reason);
	p->error = err;
	return err;
}

/*
 * Grow an array to hold need elements (capacity doubling, at most max). With wipe, the old
 * block is copied and wiped rather than realloc'ed, because it holds keys.
 */
static int grow(void **arr, size_t *cap, size_t elem, size_t need, size_t first, size_t max,
		bool wipe)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -ENOSPC;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < need)
		ncap = need;
	if (ncap > max)
		ncap = max;
	if (wipe) {
		n = malloc(ncap * elem);
		if (!n)
			return -ENOMEM;
		if (*cap) {
			memcpy(n, *arr, *cap * elem);
			crypto_wipe(*arr, *cap * elem);
		}
		free(*arr);
	} else {
		n = realloc(*arr, ncap * elem);
		if (!n)
			return -ENOMEM;
	}
	*arr = n;
	*cap = ncap;
	return 0;
}

static int expect_true(struct uapi_parser *p, const char *key, const char *v, size_t n)
{
	/* wg-go: any value other than the literal "true" is EINVAL (not "false"). */
	if (!is_literal(v, n, "true"))
		return fail(p, -EINVAL, "%s must be \"true\"", key);
	return 0;
}

static int on_private_key(struct uapi_parser *p, const char *v, size_t n)
{
	if (uapi_parse_key(v, n, p->set->private_key))
		return fail(p, -EINVAL, "bad hex in private_key");
	p->set->has_private_key = true;
	return 0;
}

static int on_listen_port(struct uapi_parser *p, const char *v, size_t n)
{
	uint64_t x;

	if (parse_uint(v, n, UINT16_MAX, &x))
		return fail(p, -EINVAL, "bad number in listen_port");
	p->set->listen_port = (uint16_t)x;
	p->set->has_listen_port = true;
	return 0;
}

static int on_fwmark(struct uapi_parser *p, const char *v, size_t n)
{
	uint64_t x;

	if (parse_uint(v, n, UINT32_MAX, &x))
		return fail(p, -EINVAL, "bad number in fwmark");
	p->set->fwmark = (uint32_t)x;
	p->set->has_fwmark = true;
	return 0;
}

static int on_replace_peers(struct uapi_parser *p, const char *v, size_t n)
{
	if (expect_true(p, "replace_peers", v, n))
		return p->error;
	p->set->replace_peers = true;
	return 0;
}

static int on_public_key(struct uapi_parser *p, const char *v, size_t n)
{
	struct uapi_set *s = p->set;
	uint8_t key[WG_KEY_LEN];
	int ret;

	if (uapi_parse_key(v, n, key))
		return fail(p, -EINVAL, "bad hex in public_key");
	p->device_section_over = true;
	ret = grow((void **)&s->peers, &s->cap_peers, sizeof(*s->peers), s->n_peers + 1,
		   PEERS_FIRST_ALLOC, UAPI_MAX_PEERS, true);
	if (ret == -ENOSPC)
		return fail(p, ret, "more than %d peers", UAPI_MAX_PEERS);
	if (ret)
		return fail(p, ret, "out of memory");
	/* A fresh section: nothing of the previous one carries over (boringtun's bug). */
	p->cur = &s->peers[s->n_peers++];
	memset(p->cur, 0, sizeof(*p->cur));
	memcpy(p->cur->public_key, key, WG_KEY_LEN);
	return 0;
}

static int on_remove(struct uapi_parser *p, const char *v, size_t n)
{
	if (expect_true(p, "remove", v, n))
		return p->error;
	p->cur->remove = true;
	return 0;
}

static int on_update_only(struct uapi_parser *p, const char *v, size_t n)
{
	if (expect_true(p, "update_only", v, n))
		return p->error;
	p->cur->update_only = true;
	return 0;
}

static int on_preshared_key(struct uapi_parser *p, const char *v, size_t n)
{
	if (uapi_parse_key(v, n, p->cur->psk))
		return fail(p, -EINVAL, "bad hex in preshared_key");
	p->cur->has_psk = true;
	return 0;
}

static int on_endpoint(struct uapi_parser *p, const char *v, size_t n)
{
	if (uapi_parse_endpoint_scoped(v, n, &p->cur->endpoint, &p->cur->endpoint_scope_id))
		return fail(p, -EINVAL, "bad endpoint");
	p->cur->has_endpoint = true;
	return 0;
}

static int on_keepalive(struct uapi_parser *p, const char *v, size_t n)
{
	uint64_t x;

	if (parse_uint(v, n, UINT16_MAX, &x))
		return fail(p, -EINVAL, "bad number in persistent_keepalive_interval");
	p->cur->keepalive = (uint16_t)x;
	p->cur->has_keepalive = true;
	return 0;
}

static int on_replace_allowed_ips(struct uapi_parser *p, const char *v, size_t n)
{
	if (expect_true(p, "replace_allowed_ips", v, n))
		return p->error;
	/* wg-go clears the peer's prefixes here, including those added earlier in the section. */
	p->set->total_allowed_ips -= p->cur->n_allowed_ips;
	p->cur->n_allowed_ips = 0;
	p->cur->replace_allowed_ips = true;
	return 0;
}

static int on_allowed_ip(struct uapi_parser *p, const char *v, size_t n)
{
	struct uapi_peer *c = p->cur;
	struct uapi_allowed_ip aip;
	bool remove = false;
	int ret;

	if (n > 0 && v[0] == '-') {
		remove = true;
		v++;
		n--;
	}
	if (uapi_parse_prefix(v, n, &aip))
		return fail(p, -EINVAL, "bad prefix in allowed_ip");
	aip.remove = remove;
	if (p->set->total_allowed_ips >= UAPI_MAX_ALLOWED_IPS)
		return fail(p, -ENOSPC, "more than %d allowed_ip lines", UAPI_MAX_ALLOWED_IPS);
	ret = grow((void **)&c->allowed_ips, &c->cap_allowed_ips, sizeof(*c->allowed_ips),
		   c->n_allowed_ips + 1, AIPS_FIRST_ALLOC, UAPI_MAX_ALLOWED_IPS, false);
	if (ret)
		return fail(p, ret, "out of memory");
	c->allowed_ips[c->n_allowed_ips++] = aip;
	p->set->total_allowed_ips++;
	return 0;
}

static int on_protocol_version(struct uapi_parser *p, const char *v, size_t n)
{
	if (!is_literal(v, n, "1"))
		return fail(p, -EINVAL, "protocol_version must be 1");
	return 0;
}

enum key_scope {
	IN_DEVICE, /* only before the first public_key */
	IN_PEER,   /* only after it */
	ANYWHERE,
};

static const struct uapi_key {
	const char *name;
	enum key_scope scope;
	int (*fn)(struct uapi_parser *p, const char *v, size_t n);
	bool repeatable; /* may appear more than once per section */
} uapi_keys[] = {
	{"private_key", IN_DEVICE, on_private_key, false},
	{"listen_port", IN_DEVICE, on_listen_port, false},
	{"fwmark", IN_DEVICE, on_fwmark, false},
	{"replace_peers", IN_DEVICE, on_replace_peers, false},
	{"public_key", ANYWHERE, on_public_key, true},
	{"remove", IN_PEER, on_remove, false},
	{"update_only", IN_PEER, on_update_only, false},
	{"preshared_key", IN_PEER, on_preshared_key, false},
	{"endpoint", IN_PEER, on_endpoint, false},
	{"persistent_keepalive_interval", IN_PEER, on_keepalive, false},
	{"replace_allowed_ips", IN_PEER, on_replace_allowed_ips, false},
	{"allowed_ip", IN_PEER, on_allowed_ip, true},
	{"protocol_version", IN_PEER, on_protocol_version, false},
};

static bool printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

void uapi_parser_init(struct uapi_parser *p, struct uapi_set *set)
{
	memset(set, 0, sizeof(*set));
	memset(p, 0, sizeof(*p));
	p->set = set;
}

int uapi_parser_line(struct uapi_parser *p, const char *line, size_t len)
{
	const struct uapi_key *k = NULL;
	const char *eq;
	size_t klen, i;

	if (p->error)
		return p->error;
	p->line_no++;
	if (!line || len == 0)
		return fail(p, -EINVAL, "empty line inside the request");
	if (len > UAPI_MAX_LINE)
		return fail(p, -EINVAL, "line longer than %d bytes", UAPI_MAX_LINE);
	if (memchr(line, '\0', len))
		return fail(p, -EINVAL, "NUL byte");
	eq = memchr(line, '=', len);
	if (!eq)
		return fail(p, -EINVAL, "no '=' in line");
	klen = (size_t)(eq - line);
	if (klen == 0)
		return fail(p, -EINVAL, "empty key");
	for (i = 0; i < sizeof(uapi_keys) / sizeof(uapi_keys[0]) && !k; i++)
		if (is_literal(line, klen, uapi_keys[i].name))
			k = &uapi_keys[i];
	if (!k) {
		/* Only the key is quoted, never a value: values can be secrets. */
		if (klen <= KEY_NAME_SHOWN && printable(line, klen))
			return fail(p, -EINVAL, "unknown key \"%.*s\"", (int)klen, line);
		return fail(p, -EINVAL, "unknown key");
	}
	if (k->scope == IN_DEVICE && p->device_section_over)
		return fail(p, -EINVAL, "device key %s after public_key", k->name);
	if (k->scope == IN_PEER && !p->cur)
		return fail(p, -EINVAL, "peer key %s before public_key", k->name);
	/* `wg` never repeats a key within a section; a repeat is a confused or hostile client. */
	if (!k->repeatable && (p->seen & (1u << (k - uapi_keys))))
		return fail(p, -EINVAL, "duplicate key %s", k->name);
	p->seen |= 1u << (k - uapi_keys);
	if (k->fn == on_public_key)
		p->seen = 0; /* a new section */
	return k->fn(p, eq + 1, len - klen - 1);
}

int uapi_parser_finish(struct uapi_parser *p)
{
	if (!p->error)
		p->msg[0] = '\0';
	p->cur = NULL;
	return p->error;
}

void uapi_set_free(struct uapi_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_peers; i++)
		free(s->peers[i].allowed_ips);
	if (s->peers)
		crypto_wipe(s->peers, s->cap_peers * sizeof(*s->peers));
	free(s->peers);
	crypto_wipe(s, sizeof(*s));
}

/* ---------------------------------------------------------------------------------------- */
/* Formatting                                                                               */

/* "name=<hex>\n", with the hex wiped afterwards (it may be a private or preshared key). */
static int append_key(struct strbuf *out, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[UAPI_KEY_HEXLEN + 1];
	int ret;

	uapi_format_key(key, hex);
	ret = strbuf_appendf(out, "%s=%s\n", name, hex);
	crypto_wipe(hex, sizeof(hex));
	return ret;
}

static int append_endpoint(struct strbuf *out, const struct wg_endpoint *ep, uint32_t scope_id)
{
	char buf[UAPI_ENDPOINT_STRLEN + 16];

	if (ep->family != WG_AF_INET && ep->family != WG_AF_INET6)
		return -EINVAL;
	format_endpoint_scoped(ep, scope_id, buf, sizeof(buf));
	if (!buf[0])
		return -EINVAL;
	return strbuf_appendf(out, "endpoint=%s\n", buf);
}

static int append_prefix(struct strbuf *out, const struct uapi_allowed_ip *aip, bool with_remove)
{
	char buf[UAPI_PREFIX_STRLEN];

	uapi_format_prefix(aip, buf);
	if (!buf[0])
		return -EINVAL;
	return strbuf_appendf(out, "allowed_ip=%s%s\n", with_remove && aip->remove ? "-" : "", buf);
}

int uapi_format_get(struct strbuf *out, const struct uapi_get *g)
{
	size_t i, k;
	int ret;

	if (g->has_private_key && !crypto_is_zero(g->private_key, WG_KEY_LEN))
		append_key(out, "private_key", g->private_key);
	if (g->listen_port)
		strbuf_appendf(out, "listen_port=%u\n", (unsigned)g->listen_port);
	if (g->fwmark)
		strbuf_appendf(out, "fwmark=%" PRIu32 "\n", g->fwmark);
	for (i = 0; i < g->n_peers; i++) {
		const struct uapi_get_peer *pe = &g->peers[i];

		append_key(out, "public_key", pe->public_key);
		append_key(out, "preshared_key", pe->psk);
		strbuf_appends(out, "protocol_version=1\n");
		if (pe->has_endpoint) {
			ret = append_endpoint(out, &pe->endpoint, pe->endpoint.scope_id);
			if (ret)
				return ret;
		}
		strbuf_appendf(out,
			       "last_handshake_time_sec=%" PRIu64 "\n"
			       "last_handshake_time_nsec=%" PRIu64 "\n"
			       "tx_bytes=%" PRIu64 "\n"
			       "rx_bytes=%" PRIu64 "\n"
			       "persistent_keepalive_interval=%u\n",
			       pe->last_handshake_sec, pe->last_handshake_nsec, pe->tx_bytes,
			       pe->rx_bytes, (unsigned)pe->keepalive);
		for (k = 0; k < pe->n_allowed_ips; k++) {
			ret = append_prefix(out, &pe->allowed_ips[k], false);
			if (ret)
				return ret;
		}
	}
	strbuf_appends(out, "errno=0\n\n");
	return out->error;
}

int uapi_format_set(struct strbuf *out, const struct uapi_set *s)
{
	size_t i, k;
	int ret;

	if (s->has_private_key)
		append_key(out, "private_key", s->private_key);
	if (s->has_listen_port)
		strbuf_appendf(out, "listen_port=%u\n", (unsigned)s->listen_port);
	if (s->has_fwmark)
		strbuf_appendf(out, "fwmark=%" PRIu32 "\n", s->fwmark);
	if (s->replace_peers)
		strbuf_appends(out, "replace_peers=true\n");
	for (i = 0; i < s->n_peers; i++) {
		const struct uapi_peer *pe = &s->peers[i];

		append_key(out, "public_key", pe->public_key);
		if (pe->remove)
			strbuf_appends(out, "remove=true\n");
		if (pe->update_only)
			strbuf_appends(out, "update_only=true\n");
		if (pe->has_psk)
			append_key(out, "preshared_key", pe->psk);
		if (pe->has_endpoint) {
			ret = append_endpoint(out, &pe->endpoint, pe->endpoint_scope_id);
			if (ret)
				return ret;
		}
		if (pe->has_keepalive)
			strbuf_appendf(out, "persistent_keepalive_interval=%u\n",
				       (unsigned)pe->keepalive);
		if (pe->replace_allowed_ips)
			strbuf_appends(out, "replace_allowed_ips=true\n");
		for (k = 0; k < pe->n_allowed_ips; k++) {
			ret = append_prefix(out, &pe->allowed_ips[k], true);
			if (ret)
				return ret;
		}
	}
	return out->error;
}

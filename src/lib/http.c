/* SPDX-License-Identifier: MIT */
/*
 * lib/http — the HTTP/1.x request head parser (see http.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "lib/http.h"

/* RFC 9110 §5.6.2 tchar */
static bool tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* RFC 9110 §5.5 field-value characters: VCHAR, SP, HTAB, obs-text */
static bool vchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c >= 0x80;
}

/* origin-form (RFC 9112 §3.2.1): "/" then path and query characters (RFC 3986). */
static bool target_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-._~!$&'()*+,;=:@/?%", c);
}

/* The length of the line at p (without CRLF), or -1 without a CRLF within n; -2 a bare CR
 * or LF. */
static long line_len(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= n)
				return -1;
			return p[i + 1] == '\n' ? (long)i : -2;
		}
		if (p[i] == '\n')
			return -2;
	}
	return -1;
}

static bool eq_ci(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && !strncasecmp(a, b, alen);
}

/* The field value without leading and trailing whitespace. */
static void trim(const char **v, size_t *n)
{
	while (*n && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

long http_request_parse(const char *buf, size_t len, struct http_request *ret)
{
	struct http_request r;
	size_t pos, n_host = 0, mlen, tlen;
	const char *p, *sp1, *sp2;
	long ll;

	memset(&r, 0, sizeof(r));
	ll = line_len(buf, len);
	if (ll == -2)
		return -EBADMSG;
	if (ll < 0) {
		/* Incomplete; but bytes that can never start a request line refuse early. */
		size_t i;

		for (i = 0; i < len && buf[i] != ' '; i++)
			if (i >= HTTP_METHOD_MAX || !tchar((unsigned char)buf[i]))
				return -EBADMSG;
		if (i == 0 && len)
			return -EBADMSG;
		return len >= HTTP_REQUEST_MAX ? -E2BIG : 0;
	}
	/* request-line = method SP request-target SP HTTP-version */
	p = buf;
	sp1 = memchr(p, ' ', (size_t)ll);
	if (!sp1)
		return -EBADMSG;
	mlen = (size_t)(sp1 - p);
	if (!mlen || mlen > HTTP_METHOD_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < mlen; i++)
		if (!tchar((unsigned char)p[i]))
			return -EBADMSG;
	memcpy(r.method, p, mlen);
	sp2 = memchr(sp1 + 1, ' ', (size_t)(p + ll - sp1 - 1));
	if (!sp2)
		return -EBADMSG;
	tlen = (size_t)(sp2 - sp1 - 1);
	if (!tlen || sp1[1] != '/')
		return -EBADMSG;
	for (size_t i = 0; i < tlen; i++)
		if (!target_char((unsigned char)sp1[1 + i]))
			return -EBADMSG;
	if (tlen > HTTP_TARGET_MAX)
		return -E2BIG;
	memcpy(r.target, sp1 + 1, tlen);
	memcpy(r.path, r.target, strcspn(r.target, "?"));
	if (p + ll - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EBADMSG;
	r.minor = sp2[8] - '0';
	pos = (size_t)ll + 2;

	/* field-line = field-name ":" OWS field-value OWS */
	for (;;) {
		const char *colon, *v;
		size_t vlen, nlen;

		ll = line_len(buf + pos, len - pos);
		if (ll == -2)
			return -EBADMSG;
		if (ll < 0)
			return len >= HTTP_REQUEST_MAX ? -E2BIG : 0;
		if (ll == 0) {
			pos += 2;
			break;
		}
		p = buf + pos;
		if (r.n_headers == HTTP_HEADERS_MAX)
			return -EBADMSG;
		colon = memchr(p, ':', (size_t)ll);
		if (!colon || colon == p)
			return -EBADMSG; /* also a line starting with SP/HTAB: folding */
		nlen = (size_t)(colon - p);
		for (size_t i = 0; i < nlen; i++)
			if (!tchar((unsigned char)p[i]))
				return -EBADMSG;
		v = colon + 1;
		vlen = (size_t)(p + ll - v);
		for (size_t i = 0; i < vlen; i++)
			if (!vchar((unsigned char)v[i]))
				return -EBADMSG;
		trim(&v, &vlen);
		if (eq_ci(p, nlen, "host"))
			n_host++;
		else if (eq_ci(p, nlen, "transfer-encoding"))
			return -EBADMSG;
		else if (eq_ci(p, nlen, "content-length") && !(vlen == 1 && v[0] == '0'))
			return -EBADMSG;
		r.n_headers++;
		pos += (size_t)ll + 2;
	}
	if (pos > HTTP_REQUEST_MAX)
		return -E2BIG;
	if (n_host > 1 || (r.minor == 1 && n_host != 1))
		return -EBADMSG;
	*ret = r;
	return (long)pos;
}

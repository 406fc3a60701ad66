/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: lib/http's request head parser and the metrics address parser
 * (daemon/metrics_http.c). The first byte selects: even → the HTTP head, odd → the address.
 *
 * HTTP invariants: a verdict is 0, -EBADMSG, -E2BIG or a head length within the input; a
 * parsed head has a method of token characters, an origin-form target whose path is its
 * prefix up to '?', HTTP/1.0 or 1.1; every shorter prefix of a parsed head is incomplete
 * (0), and bytes after the head change nothing; the output is written only on success.
 * Address invariants: a parsed address is AF_INET or AF_INET6 with a non-zero port, and
 * parsing is deterministic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics_http.h"
#include "fuzz.h"
#include "lib/http.h"

static void fuzz_head(const uint8_t *data, size_t size)
{
	struct http_request q, q2;
	char *buf = malloc(size + 16);
	long r, r2;

	if (!buf)
		return;
	memcpy(buf, data, size);
	memset(&q, 0x5a, sizeof(q));
	r = http_request_parse(buf, size, &q);
	if (r != 0 && r != -EBADMSG && r != -E2BIG && (r < 0 || (size_t)r > size))
		abort();
	if (r <= 0) {
		for (size_t i = 0; i < sizeof(q); i++)
			if (((unsigned char *)&q)[i] != 0x5a)
				abort();
		free(buf);
		return;
	}
	if (!q.method[0] || q.target[0] != '/' || (q.minor != 0 && q.minor != 1) ||
	    strncmp(q.target, q.path, strlen(q.path)) ||
	    (q.target[strlen(q.path)] != '\0' && q.target[strlen(q.path)] != '?') ||
	    q.n_headers > HTTP_HEADERS_MAX)
		abort();
	/* shorter prefixes are incomplete (a few of them: all would be quadratic) */
	for (size_t cut = 0; cut < (size_t)r; cut += 1 + (size_t)r / 8)
		if (http_request_parse(buf, cut, &q2) != 0)
			abort();
	if (http_request_parse(buf, (size_t)r - 1, &q2) != 0)
		abort();
	/* a body after the head changes nothing */
	memcpy(buf + size, "\r\n\r\nGET / HTTP", 14);
	r2 = http_request_parse(buf, size + 14, &q2);
	if (r2 != r || memcmp(&q, &q2, sizeof(q)))
		abort();
	free(buf);
}

static void fuzz_addr(const uint8_t *data, size_t size)
{
	struct sockaddr_storage a, b;
	char s[80];
	int r;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	r = dmn_metrics_addr_parse(s, &a);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0) {
		if (a.ss_family != AF_INET && a.ss_family != AF_INET6)
			abort();
		if (dmn_metrics_addr_parse(s, &b) || memcmp(&a, &b, sizeof(a)))
			abort();
		dmn_metrics_addr_is_loopback(&a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_addr(data + 1, size - 1);
	else
		fuzz_head(data + 1, size - 1);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * lib/http — the request head of HTTP/1.x (RFC 9112), as far as a metrics endpoint needs it:
 * the request line and the header fields, strictly. Pure: bytes in, a verdict and the parts
 * out; no sockets, no allocation.
 *
 * Accepted: "METHOD SP origin-form SP HTTP/1.0|HTTP/1.1 CRLF", then up to HTTP_HEADERS_MAX
 * "name: value CRLF" fields (name a token, no space before the colon; value visible
 * characters, spaces, tabs and obs-text), then CRLF. Refused as malformed: a bare LF or CR,
 * control characters, a target that is not origin-form or is longer than HTTP_TARGET_MAX,
 * a field line starting with whitespace (obsolete folding), HTTP/1.1 without exactly one
 * Host, a body (Transfer-Encoding, or a Content-Length other than 0: GET and HEAD carry
 * none here), more than HTTP_HEADERS_MAX fields. The head must fit in HTTP_REQUEST_MAX bytes.
 *
 * Must not: depend on anything above lib/, log.
 */
#ifndef WEFT_LIB_HTTP_H
#define WEFT_LIB_HTTP_H

#include <stddef.h>

enum {
	HTTP_REQUEST_MAX = 4096, /* bytes of a request head */
	HTTP_METHOD_MAX = 16,
	HTTP_TARGET_MAX = 256,
	HTTP_HEADERS_MAX = 32,
};

struct http_request {
	char method[HTTP_METHOD_MAX + 1];
	char target[HTTP_TARGET_MAX + 1]; /* the path and query as sent */
	char path[HTTP_TARGET_MAX + 1];	  /* the target up to '?' */
	int minor;			  /* HTTP/1.minor */
	size_t n_headers;
};

/*
 * Parses the head at the start of buf (len bytes; no NUL needed). Returns the head's length
 * (the body, if any, would start there) and fills *ret; 0 when the head is incomplete (read
 * more, unless len is already HTTP_REQUEST_MAX: then it is too large); -EBADMSG malformed;
 * -E2BIG a complete head over HTTP_REQUEST_MAX or a target over HTTP_TARGET_MAX.
 * *ret is written only on success.
 */
long http_request_parse(const char *buf, size_t len, struct http_request *ret);

#endif

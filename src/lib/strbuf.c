/* SPDX-License-Identifier: MIT */
/*
 * Growable string buffer (see strbuf.h). Grows by doubling up to max + 1 bytes, never by
 * realloc: realloc may leave a copy of the old text in freed memory, and the text may be a
 * key, so growth is malloc + copy + wipe + free. lib/ sits below crypto/, so the wipe here
 * is its own (a memset the compiler must assume is observed).
 * Must not: read or write past cap, leave buf without a NUL, or let an error be forgotten.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

enum {
	STRBUF_MIN_ALLOC = 256,
};

static void strbuf_wipe(void *p, size_t len)
{
	if (!p || !len)
		return;
#if defined(__GNUC__)
	memset(p, 0, len);
	/* The barrier tells the compiler the zeroed memory is read, so the store stays. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
#else
	volatile unsigned char *v = p;

	while (len--)
		*v++ = 0;
#endif
}

static int strbuf_fail(struct strbuf *sb, int err)
{
	if (!sb->error)
		sb->error = err;
	return sb->error;
}

void strbuf_init(struct strbuf *sb, size_t max)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->max = max > STRBUF_MAX ? STRBUF_MAX : max;
	sb->error = 0;
}

/* Make room for extra more bytes of text plus the NUL. The caller checked the cap. */
static int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1, ncap;
	char *n;

	if (need <= sb->cap)
		return 0;
	ncap = sb->cap ? sb->cap : STRBUF_MIN_ALLOC;
	while (ncap < need)
		ncap *= 2; /* cannot overflow: need <= STRBUF_MAX + 1 */
	if (ncap > sb->max + 1)
		ncap = sb->max + 1;
	n = malloc(ncap);
	if (!n)
		return strbuf_fail(sb, -ENOMEM);
	if (sb->buf) {
		memcpy(n, sb->buf, sb->len + 1);
		strbuf_wipe(sb->buf, sb->cap);
		free(sb->buf);
	} else {
		n[0] = '\0';
	}
	sb->buf = n;
	sb->cap = ncap;
	return 0;
}

int strbuf_append(struct strbuf *sb, const char *s, size_t len)
{
	int ret;

	if (sb->error)
		return sb->error;
	if (len > sb->max - sb->len)
		return strbuf_fail(sb, -E2BIG);
	ret = strbuf_reserve(sb, len);
	if (ret)
		return ret;
	if (len)
		memcpy(sb->buf + sb->len, s, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int strbuf_appends(struct strbuf *sb, const char *s)
{
	return strbuf_append(sb, s, strlen(s));
}

int strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap, ap2;
	size_t room;
	int n, ret;

	if (sb->error)
		return sb->error;
	/* Most lines fit in the space already allocated: try once there. */
	room = sb->buf ? sb->cap - sb->len : 0;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		ret = strbuf_fail(sb, -EINVAL);
		goto out;
	}
	if ((size_t)n < room) {
		sb->len += (size_t)n;
		ret = 0;
		goto out;
	}
	if (sb->buf)
		sb->buf[sb->len] = '\0'; /* undo the truncated attempt */
	if ((size_t)n > sb->max - sb->len) {
		ret = strbuf_fail(sb, -E2BIG);
		goto out;
	}
	ret = strbuf_reserve(sb, (size_t)n);
	if (ret)
		goto out;
	if (vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap2) != n) {
		sb->buf[sb->len] = '\0';
		ret = strbuf_fail(sb, -EINVAL);
		goto out;
	}
	sb->len += (size_t)n;
out:
	va_end(ap2);
	return ret;
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

void strbuf_free(struct strbuf *sb)
{
	if (!sb)
		return;
	strbuf_wipe(sb->buf, sb->cap);
	free(sb->buf);
	strbuf_init(sb, sb->max);
}

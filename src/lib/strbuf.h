/* SPDX-License-Identifier: MIT */
/*
 * A small growable, NUL-terminated string buffer with a hard cap, for building text replies
 * (the UAPI "get" answer, control-protocol lines).
 *
 * The first error sticks: once an append fails (-E2BIG past the cap, -ENOMEM, -EINVAL for a
 * bad format), every later append returns that error and changes nothing, so a writer can
 * append a whole reply and check once at the end. A failed append leaves the text as it was.
 * Contents may be secret (a reply can carry a private key): old blocks are wiped when the
 * buffer grows and on free. Must not: depend on anything above lib/, log, or exceed max.
 */
#ifndef WEFT_LIB_STRBUF_H
#define WEFT_LIB_STRBUF_H

#include <stddef.h>

enum {
	STRBUF_MAX = 1 << 30, /* ceiling for any max passed to strbuf_init() */
};

struct strbuf {
	char *buf;  /* NULL until the first append; then always NUL-terminated */
	size_t len; /* bytes of text, without the NUL */
	size_t cap; /* bytes allocated, including room for the NUL */
	size_t max; /* hard cap on len */
	int error;  /* 0 or the first -errno */
};

/* An empty buffer that will refuse to hold more than max bytes (clamped to STRBUF_MAX). */
void strbuf_init(struct strbuf *sb, size_t max);
/* Append len bytes of s (which may contain NULs). 0, -E2BIG, -ENOMEM or the sticky error. */
int strbuf_append(struct strbuf *sb, const char *s, size_t len);
/* Append a NUL-terminated string. */
int strbuf_appends(struct strbuf *sb, const char *s);
/* Append printf-style text. 0, -E2BIG, -ENOMEM, -EINVAL (encoding error) or the sticky error. */
int strbuf_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far; "" before the first append. Valid until the next append or free. */
const char *strbuf_str(const struct strbuf *sb);
/* Wipe and free the text; sb is left empty with the same max and no error. NULL-safe. */
void strbuf_free(struct strbuf *sb);

#endif

/* SPDX-License-Identifier: MIT */
/* The logging hook: a level and a sink; formatting happens only when the level passes. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_ERROR;
static log_sink_fn cur_sink;
static void *cur_ctx;

void log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_sink(log_sink_fn fn, void *ctx)
{
	cur_sink = fn;
	cur_ctx = ctx;
}

int log_level_parse(const char *s)
{
	if (!strcmp(s, "silent"))
		return LOG_LVL_SILENT;
	if (!strcmp(s, "error"))
		return LOG_LVL_ERROR;
	if (!strcmp(s, "info") || !strcmp(s, "verbose"))
		return LOG_LVL_INFO;
	if (!strcmp(s, "debug"))
		return LOG_LVL_DEBUG;
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"", "ERROR", "INFO", "DEBUG"};
	char buf[1024];
	va_list ap;

	if (level > cur_level || level == LOG_LVL_SILENT)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cur_sink) {
		cur_sink(level, buf, cur_ctx);
		return;
	}
	fprintf(stderr, "%s: %s\n", names[level], buf);
}

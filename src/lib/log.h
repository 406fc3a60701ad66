/* SPDX-License-Identifier: MIT */
/*
 * Logging hook. Lower layers never log at info or above (STYLE.md): they return errors.
 * daemon/ and cli/ set the sink and the level; the default sink writes to stderr.
 */
#ifndef WEFT_LIB_LOG_H
#define WEFT_LIB_LOG_H

enum log_level {
	LOG_LVL_SILENT = 0,
	LOG_LVL_ERROR = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

typedef void (*log_sink_fn)(enum log_level level, const char *msg, void *ctx);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_sink(log_sink_fn fn, void *ctx);
/* Parses "silent|error|info|verbose|debug"; returns -1 when unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif

/* SPDX-License-Identifier: MIT */
/*
 * lib/metrics — a small metrics registry and the Prometheus text exposition format (0.0.4)
 * writer, with no dependency (no C client library for it is packaged in Debian).
 *
 * Collection is pull: a source registers a collector (a function and its context) once, and
 * at every scrape the registry calls each collector in registration order to write its
 * families through a metrics_writer. The numbers stay where they already live (the device's
 * atomics, the node's tables); nothing is copied between scrapes. A later source (NAT paths,
 * the etcd store) plugs in with one metrics_registry_add(). Counters a source owns and wants
 * the registry to keep are metrics_counter_set (one label with a fixed set of values).
 *
 * The writer enforces the format and the naming rules promtool checks: metric names
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting "__", a counter's
 * name ends in "_total", every family has # HELP and # TYPE once and its samples right after,
 * no family twice in one exposition, no label twice in one sample, counters never negative;
 * HELP text escapes '\' and newline, label values '\', '"' and newline. The first error
 * sticks: metrics_writer_end() returns it, and the exposition must then not be served.
 *
 * Must not: log, do I/O, or depend on anything above lib/.
 */
#ifndef WEFT_LIB_METRICS_H
#define WEFT_LIB_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

enum {
	METRICS_NAME_MAX = 128,		   /* bytes of a metric or label name */
	METRICS_FAMILIES_MAX = 512,	   /* families in one exposition */
	METRICS_LABELS_MAX = 8,		   /* labels of one sample */
	METRICS_COLLECTORS_MAX = 32,	   /* collectors in a registry */
	METRICS_SET_MAX = 32,		   /* values of a metrics_counter_set's label */
	METRICS_EXPOSITION_MAX = 16 << 20, /* bytes of one scrape's text */
};

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

struct metrics_label {
	const char *name;
	const char *value;
};

struct metrics_writer {
	struct strbuf *out;
	int error; /* 0 or the first -errno */
	char family[METRICS_NAME_MAX + 1];
	enum metrics_type type;
	uint64_t seen[METRICS_FAMILIES_MAX]; /* hashes of the families written */
	size_t n_seen;
};

void metrics_writer_init(struct metrics_writer *w, struct strbuf *out);
/*
 * Starts a family: "# HELP" and "# TYPE" lines. -EINVAL (bad name, a counter not ending in
 * _total, help NULL), -EEXIST (written before), -ENOSPC (too many), or the sticky error.
 */
int metrics_family(struct metrics_writer *w, const char *name, enum metrics_type type,
		   const char *help);
/* One sample of the current family with n labels. -EINVAL (no family, bad or repeated label
 * name, NULL value, a negative or NaN counter), or the sticky error. */
int metrics_sample(struct metrics_writer *w, const struct metrics_label *labels, size_t n,
		   double value);
/* The same for an integer value, written exactly (a double loses integers above 2^53). */
int metrics_sample_u64(struct metrics_writer *w, const struct metrics_label *labels, size_t n,
		       uint64_t value);
/* 0, or the first error of the exposition. */
int metrics_writer_end(struct metrics_writer *w);

/* The text of v as the format writes it ("+Inf", "NaN", shortest round-trip decimal). */
void metrics_format_double(double v, char out[static 32]);
bool metrics_name_valid(const char *name);
bool metrics_label_name_valid(const char *name);

/* --- the registry ------------------------------------------------------------------------- */

typedef void (*metrics_collect_fn)(struct metrics_writer *w, void *ctx);

struct metrics_registry {
	pthread_mutex_t lock; /* collectors added and removed while scrapes run */
	struct {
		char name[32];
		metrics_collect_fn fn;
		void *ctx;
	} c[METRICS_COLLECTORS_MAX];
	size_t n;
};

void metrics_registry_init(struct metrics_registry *r);
void metrics_registry_done(struct metrics_registry *r);
/* 0, -EEXIST (the name is taken), -ENOSPC, -EINVAL (name empty or too long, fn NULL). */
int metrics_registry_add(struct metrics_registry *r, const char *name, metrics_collect_fn fn,
			 void *ctx);
/* 0 or -ENOENT. Returns once no scrape runs the collector any more. */
int metrics_registry_remove(struct metrics_registry *r, const char *name);
/* The exposition of every collector into out (appended). 0 or the writer's first error. */
int metrics_registry_render(struct metrics_registry *r, struct strbuf *out);

/* --- counters the registry keeps: one label, a fixed set of values ------------------------ */

struct metrics_counter_set {
	const char *name, *help, *label;
	const char *const *values; /* n values, each a valid label value */
	size_t n;
	atomic_uint_least64_t v[METRICS_SET_MAX];
};

/* -EINVAL (bad name, label or more than METRICS_SET_MAX values). Values start at 0. */
int metrics_counter_set_init(struct metrics_counter_set *s, const char *name, const char *help,
			     const char *label, const char *const *values, size_t n);
/* Thread-safe, lock-free; an index out of range is ignored. */
void metrics_counter_set_add(struct metrics_counter_set *s, size_t i, uint64_t by);
uint64_t metrics_counter_set_get(const struct metrics_counter_set *s, size_t i);
/* A collector (ctx = the set) writing the family with every value, zeros included. */
void metrics_counter_set_collect(struct metrics_writer *w, void *ctx);

#endif

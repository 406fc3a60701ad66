/* SPDX-License-Identifier: MIT */
/*
 * lib/metrics — the registry and the text exposition writer (see metrics.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/metrics.h"

static bool name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

static bool valid(const char *s, bool colon)
{
	size_t n;

	if (!s || !*s)
		return false;
	for (n = 0; s[n]; n++)
		if (n >= METRICS_NAME_MAX || !name_char(s[n], n == 0, colon))
			return false;
	return true;
}

bool metrics_name_valid(const char *name)
{
	return valid(name, true);
}

bool metrics_label_name_valid(const char *name)
{
	return valid(name, false) && strncmp(name, "__", 2);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static int fail(struct metrics_writer *w, int e)
{
	if (!w->error)
		w->error = e;
	return w->error;
}

void metrics_writer_init(struct metrics_writer *w, struct strbuf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/* '\' and newline escaped (HELP); also '"' for label values. */
static void append_escaped(struct strbuf *out, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'		 ? "\\\\"
				  : *s == '\n'		 ? "\\n"
				  : (quote && *s == '"') ? "\\\""
							 : NULL;

		if (!esc)
			continue;
		strbuf_append(out, run, (size_t)(s - run));
		strbuf_appends(out, esc);
		run = s + 1;
	}
	strbuf_appends(out, run);
}

int metrics_family(struct metrics_writer *w, const char *name, enum metrics_type type,
		   const char *help)
{
	size_t len;
	uint64_t h;

	if (w->error)
		return w->error;
	if (!metrics_name_valid(name) || !help ||
	    (type != METRICS_COUNTER && type != METRICS_GAUGE))
		return fail(w, -EINVAL);
	len = strlen(name);
	if (type == METRICS_COUNTER && (len < 7 || strcmp(name + len - 6, "_total")))
		return fail(w, -EINVAL);
	h = fnv1a(name);
	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] == h)
			return fail(w, -EEXIST);
	if (w->n_seen == METRICS_FAMILIES_MAX)
		return fail(w, -ENOSPC);
	w->seen[w->n_seen++] = h;
	strcpy(w->family, name);
	w->type = type;
	strbuf_appendf(w->out, "# HELP %s ", name);
	append_escaped(w->out, help, false);
	strbuf_appendf(w->out, "\n# TYPE %s %s\n", name,
		       type == METRICS_COUNTER ? "counter" : "gauge");
	return fail(w, w->out->error);
}

static int sample_head(struct metrics_writer *w, const struct metrics_label *labels, size_t n)
{
	if (w->error)
		return w->error;
	if (!w->family[0] || n > METRICS_LABELS_MAX || (n && !labels))
		return fail(w, -EINVAL);
	for (size_t i = 0; i < n; i++) {
		if (!metrics_label_name_valid(labels[i].name) || !labels[i].value)
			return fail(w, -EINVAL);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(labels[i].name, labels[k].name))
				return fail(w, -EINVAL);
	}
	strbuf_appends(w->out, w->family);
	if (n) {
		strbuf_appends(w->out, "{");
		for (size_t i = 0; i < n; i++) {
			strbuf_appendf(w->out, "%s%s=\"", i ? "," : "", labels[i].name);
			append_escaped(w->out, labels[i].value, true);
			strbuf_appends(w->out, "\"");
		}
		strbuf_appends(w->out, "}");
	}
	return 0;
}

void metrics_format_double(double v, char out[static 32])
{
	if (isnan(v)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* The shortest of 15 or 17 significant digits that reads back as v. */
	snprintf(out, 32, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, 32, "%.17g", v);
}

int metrics_sample(struct metrics_writer *w, const struct metrics_label *labels, size_t n,
		   double value)
{
	char num[32];

	if (!w->error && w->type == METRICS_COUNTER && (isnan(value) || value < 0))
		return fail(w, -EINVAL);
	if (sample_head(w, labels, n))
		return w->error;
	metrics_format_double(value, num);
	strbuf_appendf(w->out, " %s\n", num);
	return fail(w, w->out->error);
}

int metrics_sample_u64(struct metrics_writer *w, const struct metrics_label *labels, size_t n,
		       uint64_t value)
{
	if (sample_head(w, labels, n))
		return w->error;
	strbuf_appendf(w->out, " %llu\n", (unsigned long long)value);
	return fail(w, w->out->error);
}

int metrics_writer_end(struct metrics_writer *w)
{
	return w->error ? w->error : w->out->error;
}

/* --- the registry ------------------------------------------------------------------------- */

void metrics_registry_init(struct metrics_registry *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

void metrics_registry_done(struct metrics_registry *r)
{
	pthread_mutex_destroy(&r->lock);
	r->n = 0;
}

int metrics_registry_add(struct metrics_registry *r, const char *name, metrics_collect_fn fn,
			 void *ctx)
{
	int ret = 0;

	if (!name || !*name || strlen(name) >= sizeof(r->c[0].name) || !fn)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->c[i].name, name))
			ret = -EEXIST;
	if (!ret && r->n == METRICS_COLLECTORS_MAX)
		ret = -ENOSPC;
	if (!ret) {
		strcpy(r->c[r->n].name, name);
		r->c[r->n].fn = fn;
		r->c[r->n].ctx = ctx;
		r->n++;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int metrics_registry_remove(struct metrics_registry *r, const char *name)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->c[i].name, name)) {
			memmove(&r->c[i], &r->c[i + 1], (r->n - i - 1) * sizeof(r->c[0]));
			r->n--;
			ret = 0;
			break;
		}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int metrics_registry_render(struct metrics_registry *r, struct strbuf *out)
{
	struct metrics_writer *w = malloc(sizeof(*w)); /* 4 KiB of family hashes: not the stack */
	int ret;

	if (!w)
		return -ENOMEM;
	metrics_writer_init(w, out);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !w->error; i++)
		r->c[i].fn(w, r->c[i].ctx);
	pthread_mutex_unlock(&r->lock);
	ret = metrics_writer_end(w);
	free(w);
	return ret;
}

/* --- counter sets ---------------------------------------------------------------------------- */

int metrics_counter_set_init(struct metrics_counter_set *s, const char *name, const char *help,
			     const char *label, const char *const *values, size_t n)
{
	size_t len = name ? strlen(name) : 0;

	if (!metrics_name_valid(name) || len < 7 || strcmp(name + len - 6, "_total") || !help ||
	    !metrics_label_name_valid(label) || !values || n == 0 || n > METRICS_SET_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!values[i])
			return -EINVAL;
	s->name = name;
	s->help = help;
	s->label = label;
	s->values = values;
	s->n = n;
	for (size_t i = 0; i < METRICS_SET_MAX; i++)
		atomic_init(&s->v[i], 0);
	return 0;
}

void metrics_counter_set_add(struct metrics_counter_set *s, size_t i, uint64_t by)
{
	if (i < s->n)
		atomic_fetch_add_explicit(&s->v[i], by, memory_order_relaxed);
}

uint64_t metrics_counter_set_get(const struct metrics_counter_set *s, size_t i)
{
	return i < s->n ? atomic_load_explicit(&s->v[i], memory_order_relaxed) : 0;
}

void metrics_counter_set_collect(struct metrics_writer *w, void *ctx)
{
	struct metrics_counter_set *s = ctx;

	if (metrics_family(w, s->name, METRICS_COUNTER, s->help))
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct metrics_label l = {s->label, s->values[i]};

		metrics_sample_u64(w, &l, 1, metrics_counter_set_get(s, i));
	}
}

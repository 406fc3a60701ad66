/* SPDX-License-Identifier: MIT */
/*
 * lib/metrics and lib/http: the exposition text byte for byte (HELP/TYPE, escaping of HELP
 * and label values, label sets, integer and float values, +Inf/NaN), every naming rule the
 * writer enforces (and that its first error sticks), the registry (order, add/remove, caps),
 * counter sets under threads; the HTTP request head parser on a table of good, incomplete,
 * oversized and malformed heads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http.h"
#include "lib/metrics.h"

static void test_exposition(void **state)
{
	struct strbuf sb;
	struct metrics_writer w;
	struct metrics_label l2[] = {{"peer", "n\"1\\\n"}, {"direction", "rx"}};
	struct metrics_label l1 = {"peer", "n2"};

	(void)state;
	strbuf_init(&sb, 1 << 20);
	metrics_writer_init(&w, &sb);
	assert_int_equal(metrics_family(&w, "weft_x_bytes_total", METRICS_COUNTER,
					"Line one\nback\\slash \"quoted\""),
			 0);
	assert_int_equal(metrics_sample_u64(&w, l2, 2, 18446744073709551615ULL), 0);
	assert_int_equal(metrics_sample_u64(&w, &l1, 1, 0), 0);
	assert_int_equal(metrics_family(&w, "weft_g", METRICS_GAUGE, ""), 0);
	assert_int_equal(metrics_sample(&w, NULL, 0, 0.25), 0);
	assert_int_equal(metrics_sample(&w, &l1, 1, INFINITY), 0);
	assert_int_equal(metrics_sample(&w, &l2[1], 1, -INFINITY), 0);
	assert_int_equal(metrics_family(&w, "weft:recorded", METRICS_GAUGE, "h"), 0);
	assert_int_equal(metrics_sample(&w, NULL, 0, NAN), 0);
	assert_int_equal(metrics_writer_end(&w), 0);
	assert_string_equal(strbuf_str(&sb),
			    "# HELP weft_x_bytes_total Line one\\nback\\\\slash \"quoted\"\n"
			    "# TYPE weft_x_bytes_total counter\n"
			    "weft_x_bytes_total{peer=\"n\\\"1\\\\\\n\",direction=\"rx\"} "
			    "18446744073709551615\n"
			    "weft_x_bytes_total{peer=\"n2\"} 0\n"
			    "# HELP weft_g \n"
			    "# TYPE weft_g gauge\n"
			    "weft_g 0.25\n"
			    "weft_g{peer=\"n2\"} +Inf\n"
			    "weft_g{direction=\"rx\"} -Inf\n"
			    "# HELP weft:recorded h\n"
			    "# TYPE weft:recorded gauge\n"
			    "weft:recorded NaN\n");
	strbuf_free(&sb);
}

static void test_doubles(void **state)
{
	static const struct {
		double v;
		const char *s;
	} t[] = {
		{0, "0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{1e-9, "1e-09"},
		{1e300, "1e+300"},
		{9007199254740993.0, "9007199254740992"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		metrics_format_double(t[i].v, buf);
		assert_string_equal(buf, t[i].s);
		assert_true(strtod(buf, NULL) == t[i].v);
	}
	/* 17 digits when 15 do not read back */
	metrics_format_double(0.1 + 0.2, buf);
	assert_true(strtod(buf, NULL) == 0.1 + 0.2);
}

/* Each call must fail with want, and the error stick. */
static void bad_family(const char *name, enum metrics_type t, const char *help, int want)
{
	struct strbuf sb;
	struct metrics_writer w;

	strbuf_init(&sb, 1 << 16);
	metrics_writer_init(&w, &sb);
	assert_int_equal(metrics_family(&w, name, t, help), want);
	assert_int_equal(metrics_family(&w, "weft_ok", METRICS_GAUGE, "h"), want);
	assert_int_equal(metrics_writer_end(&w), want);
	assert_int_equal(sb.len, 0);
	strbuf_free(&sb);
}

static void test_names(void **state)
{
	(void)state;
	bad_family("", METRICS_GAUGE, "h", -EINVAL);
	bad_family(NULL, METRICS_GAUGE, "h", -EINVAL);
	bad_family("1weft", METRICS_GAUGE, "h", -EINVAL);
	bad_family("weft-x", METRICS_GAUGE, "h", -EINVAL);
	bad_family("weft x", METRICS_GAUGE, "h", -EINVAL);
	bad_family("weft_é", METRICS_GAUGE, "h", -EINVAL);
	bad_family("weft_bytes", METRICS_COUNTER, "h", -EINVAL); /* counters end in _total */
	bad_family("_total", METRICS_COUNTER, "h", -EINVAL);
	bad_family("weft_ok", METRICS_GAUGE, NULL, -EINVAL);
	bad_family("weft_ok", (enum metrics_type)7, "h", -EINVAL);
	assert_true(metrics_name_valid("a:b_c9"));
	assert_true(metrics_label_name_valid("_a9"));
	assert_false(metrics_label_name_valid("__name"));
	assert_false(metrics_label_name_valid("a:b"));
	assert_false(metrics_label_name_valid("9a"));

	char longname[METRICS_NAME_MAX + 2];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(metrics_name_valid(longname));
	longname[METRICS_NAME_MAX] = '\0';
	assert_true(metrics_name_valid(longname));
}

static void test_samples_refused(void **state)
{
	struct metrics_label dup[] = {{"a", "1"}, {"a", "2"}};
	struct metrics_label bad[] = {{"__x", "1"}};
	struct metrics_label nullv[] = {{"a", NULL}};
	struct metrics_label nine[9];
	struct strbuf sb;
	struct metrics_writer w;

	(void)state;
	for (int i = 0; i < 9; i++)
		nine[i] = (struct metrics_label){"l", "v"};
	/* each case on a fresh writer: no family yet, labels, negative counters, duplicates */
	for (int c = 0; c < 8; c++) {
		int r;

		strbuf_init(&sb, 1 << 16);
		metrics_writer_init(&w, &sb);
		if (c > 0)
			assert_int_equal(metrics_family(&w, "weft_c_total", METRICS_COUNTER, "h"),
					 0);
		switch (c) {
		case 0:
			r = metrics_sample_u64(&w, NULL, 0, 1);
			break;
		case 1:
			r = metrics_sample_u64(&w, dup, 2, 1);
			break;
		case 2:
			r = metrics_sample_u64(&w, bad, 1, 1);
			break;
		case 3:
			r = metrics_sample_u64(&w, nullv, 1, 1);
			break;
		case 4:
			r = metrics_sample(&w, NULL, 0, -1);
			break;
		case 5:
			r = metrics_sample(&w, NULL, 0, NAN);
			break;
		case 6:
			r = metrics_sample_u64(&w, nine, 9, 1);
			break;
		default:
			r = metrics_family(&w, "weft_c_total", METRICS_COUNTER, "again");
			break;
		}
		assert_int_equal(r, c == 7 ? -EEXIST : -EINVAL);
		assert_int_equal(metrics_writer_end(&w), r);
		strbuf_free(&sb);
	}
	/* a gauge may be negative */
	strbuf_init(&sb, 1 << 16);
	metrics_writer_init(&w, &sb);
	assert_int_equal(metrics_family(&w, "weft_g", METRICS_GAUGE, "h"), 0);
	assert_int_equal(metrics_sample(&w, NULL, 0, -1), 0);
	assert_non_null(strstr(strbuf_str(&sb), "\nweft_g -1\n"));
	strbuf_free(&sb);
	/* the output's cap is an error too */
	strbuf_init(&sb, 40);
	metrics_writer_init(&w, &sb);
	assert_int_equal(metrics_family(&w, "weft_g", METRICS_GAUGE, "a help text too long"),
			 -E2BIG);
	strbuf_free(&sb);
}

static void collect_a(struct metrics_writer *w, void *ctx)
{
	if (!metrics_family(w, "weft_a", METRICS_GAUGE, "a"))
		metrics_sample_u64(w, NULL, 0, *(uint64_t *)ctx);
}

static void collect_b(struct metrics_writer *w, void *ctx)
{
	(void)ctx;
	if (!metrics_family(w, "weft_b", METRICS_GAUGE, "b"))
		metrics_sample_u64(w, NULL, 0, 2);
}

static void test_registry(void **state)
{
	struct metrics_registry r;
	struct strbuf sb;
	uint64_t a = 7;
	char name[16];

	(void)state;
	metrics_registry_init(&r);
	assert_int_equal(metrics_registry_add(&r, "b", collect_b, NULL), 0);
	assert_int_equal(metrics_registry_add(&r, "a", collect_a, &a), 0);
	assert_int_equal(metrics_registry_add(&r, "a", collect_b, NULL), -EEXIST);
	assert_int_equal(metrics_registry_add(&r, "", collect_b, NULL), -EINVAL);
	assert_int_equal(metrics_registry_add(&r, "x", NULL, NULL), -EINVAL);
	strbuf_init(&sb, 1 << 16);
	assert_int_equal(metrics_registry_render(&r, &sb), 0);
	assert_string_equal(strbuf_str(&sb), "# HELP weft_b b\n# TYPE weft_b gauge\nweft_b 2\n"
					     "# HELP weft_a a\n# TYPE weft_a gauge\nweft_a 7\n");
	strbuf_free(&sb);
	/* two collectors writing one family: the exposition is refused */
	assert_int_equal(metrics_registry_add(&r, "b2", collect_b, NULL), 0);
	strbuf_init(&sb, 1 << 16);
	assert_int_equal(metrics_registry_render(&r, &sb), -EEXIST);
	strbuf_free(&sb);
	assert_int_equal(metrics_registry_remove(&r, "b2"), 0);
	assert_int_equal(metrics_registry_remove(&r, "b2"), -ENOENT);
	assert_int_equal(metrics_registry_remove(&r, "b"), 0);
	strbuf_init(&sb, 1 << 16);
	assert_int_equal(metrics_registry_render(&r, &sb), 0);
	assert_string_equal(strbuf_str(&sb), "# HELP weft_a a\n# TYPE weft_a gauge\nweft_a 7\n");
	strbuf_free(&sb);
	for (int i = 1; i < METRICS_COLLECTORS_MAX; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(metrics_registry_add(&r, name, collect_b, NULL), 0);
	}
	assert_int_equal(metrics_registry_add(&r, "full", collect_b, NULL), -ENOSPC);
	metrics_registry_done(&r);
}

static struct metrics_counter_set g_set;

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		metrics_counter_set_add(&g_set, (size_t)(i % 3), 1);
	return NULL;
}

static void test_counter_set(void **state)
{
	static const char *const v[] = {"ok", "bad", "x\"y"};
	static const char *too_many[METRICS_SET_MAX + 1];
	struct metrics_registry r;
	struct strbuf sb;
	pthread_t t[4];

	(void)state;
	for (size_t i = 0; i <= METRICS_SET_MAX; i++)
		too_many[i] = "v";
	assert_int_equal(metrics_counter_set_init(&g_set, "weft_j", "h", "result", v, 3), -EINVAL);
	assert_int_equal(metrics_counter_set_init(&g_set, "weft_j_total", "h", "__r", v, 3),
			 -EINVAL);
	assert_int_equal(metrics_counter_set_init(&g_set, "weft_j_total", "h", "r", too_many,
						  METRICS_SET_MAX + 1),
			 -EINVAL);
	assert_int_equal(metrics_counter_set_init(&g_set, "weft_j_total", "h", "result", v, 3), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	metrics_counter_set_add(&g_set, 3, 1); /* out of range: ignored */
	metrics_counter_set_add(&g_set, 2, 5);
	assert_int_equal(metrics_counter_set_get(&g_set, 0), 4 * 33334);
	assert_int_equal(metrics_counter_set_get(&g_set, 1), 4 * 33333);
	assert_int_equal(metrics_counter_set_get(&g_set, 2), 4 * 33333 + 5);
	metrics_registry_init(&r);
	assert_int_equal(metrics_registry_add(&r, "joins", metrics_counter_set_collect, &g_set), 0);
	strbuf_init(&sb, 1 << 16);
	assert_int_equal(metrics_registry_render(&r, &sb), 0);
	assert_string_equal(strbuf_str(&sb), "# HELP weft_j_total h\n# TYPE weft_j_total counter\n"
					     "weft_j_total{result=\"ok\"} 133336\n"
					     "weft_j_total{result=\"bad\"} 133332\n"
					     "weft_j_total{result=\"x\\\"y\"} 133337\n");
	strbuf_free(&sb);
	metrics_registry_done(&r);
}

/* --- lib/http ------------------------------------------------------------------------------ */

static long parse(const char *s, struct http_request *q)
{
	return http_request_parse(s, strlen(s), q);
}

static void test_http_good(void **state)
{
	struct http_request q;
	const char *s = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"
			"User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;q=0.9, */*;q=0.1\r\n"
			"X-Empty:\r\nContent-Length: 0\r\n\r\nBODY";

	(void)state;
	assert_int_equal(parse(s, &q), (long)strlen(s) - 4);
	assert_string_equal(q.method, "GET");
	assert_string_equal(q.target, "/metrics?x=1");
	assert_string_equal(q.path, "/metrics");
	assert_int_equal(q.minor, 1);
	assert_int_equal(q.n_headers, 5);
	/* HTTP/1.0 needs no Host */
	assert_int_equal(parse("HEAD / HTTP/1.0\r\n\r\n", &q), 19);
	assert_string_equal(q.method, "HEAD");
	assert_int_equal(q.minor, 0);
	assert_true(parse("POST /metrics HTTP/1.1\r\nhOsT:  x \r\n\r\n", &q) > 0);
}

static void test_http_incomplete(void **state)
{
	static const char *const t[] = {
		"",
		"G",
		"GET",
		"GET ",
		"GET /metrics HTTP/1.1",
		"GET /metrics HTTP/1.1\r",
		"GET /metrics HTTP/1.1\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r",
	};
	struct http_request q = {.minor = 42};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(parse(t[i], &q), 0);
		assert_int_equal(q.minor, 42); /* untouched */
	}
}

static void test_http_bad(void **state)
{
	static const char *const t[] = {
		" GET / HTTP/1.1\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/1.1\n\r\n", /* bare LF */
		"GET / HTTP/1.1\r\nHost: x\n\r\n",
		"GET / HTTP/1.1\rX\r\n\r\n", /* bare CR */
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
		"GET / http/1.1\r\nHost: x\r\n\r\n",
		"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",   /* not origin-form */
		"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", /* absolute-form: not here */
		"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a\"b HTTP/1.1\r\nHost: x\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",			/* no Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two */
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nA: \x01\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"\x16\x03\x01\x02\x00", /* a TLS ClientHello: refused at its first byte */
		"GETTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT",
	};
	struct http_request q;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (parse(t[i], &q) != -EBADMSG)
			fail_msg("case %zu: %ld", i, parse(t[i], &q));
	}
	/* a NUL anywhere */
	assert_int_equal(http_request_parse("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n", 29, &q),
			 -EBADMSG);
}

static void test_http_sizes(void **state)
{
	char *buf = malloc(HTTP_REQUEST_MAX + 512);
	struct http_request q;
	size_t n;

	(void)state;
	/* target at the cap, and one over */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_TARGET_MAX - 1);
	n += HTTP_TARGET_MAX - 1;
	n += (size_t)sprintf(buf + n, " HTTP/1.0\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &q), (long)n);
	assert_int_equal(strlen(q.target), HTTP_TARGET_MAX);
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_TARGET_MAX);
	n += HTTP_TARGET_MAX;
	n += (size_t)sprintf(buf + n, " HTTP/1.0\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &q), -E2BIG);
	/* 32 fields pass, 33 do not */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 1; i < HTTP_HEADERS_MAX; i++)
		n += (size_t)sprintf(buf + n, "X-%d: y\r\n", i);
	sprintf(buf + n, "\r\n");
	assert_int_equal(http_request_parse(buf, n + 2, &q), (long)n + 2);
	assert_int_equal(q.n_headers, HTTP_HEADERS_MAX);
	n += (size_t)sprintf(buf + n, "X-more: y\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &q), -EBADMSG);
	/* a head that never ends within the cap */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX: ");
	memset(buf + n, 'v', HTTP_REQUEST_MAX - n);
	assert_int_equal(http_request_parse(buf, HTTP_REQUEST_MAX - 1, &q), 0);
	assert_int_equal(http_request_parse(buf, HTTP_REQUEST_MAX, &q), -E2BIG);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition), cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_names),	   cmocka_unit_test(test_samples_refused),
		cmocka_unit_test(test_registry),   cmocka_unit_test(test_counter_set),
		cmocka_unit_test(test_http_good),  cmocka_unit_test(test_http_incomplete),
		cmocka_unit_test(test_http_bad),   cmocka_unit_test(test_http_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the resolv.conf code of overlay/ — the reader of the host's resolv.conf
 * (resolv.c), and a container's resolv.conf (resolv_file.c): the parser of `weft attach`'s
 * namespace path into where its resolv.conf is, and the text weft writes there.
 *
 * Every input is read by ov_resolv_parse whole (NULs included): at most OV_RESOLV_NS_MAX
 * servers, each IPv4 or IPv6 on port 53. The input up to its first NUL is then:
 * - a --netns path: a target found must be /proc/N/root + "etc" (N decimal, the path was
 *   /proc/N/ns/net) or /etc/netns/NAME with NAME the path's last part, one component, not
 *   "." or "..", and shown must end in "/resolv.conf";
 * - split at 0x1f bytes into name servers and a search zone (last part): text that
 *   ov_resolv_file_format accepts must read back through ov_resolv_parse as the same servers
 *   (loopback ones aside) and carry one "search" line.
 * Any mismatch aborts; sanitizers catch the rest.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "overlay/resolv.h"
#include "overlay/resolv_file.h"

enum { INPUT_MAX = 4096 };

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_overlay_resolv: %s\n", what);
		abort();
	}
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

static void check_target(const char *in)
{
	struct ov_resolv_target t;
	const char *name;

	if (ov_resolv_target(0, in, &t) != 0)
		return;
	check(ends_with(t.shown, "/resolv.conf"), "shown");
	if (t.root[0]) {
		check(!strncmp(in, "/proc/", 6) && ends_with(in, "/ns/net"),
		      "pid from a non-proc path");
		check(!strncmp(t.root, "/proc/", 6) && ends_with(t.root, "/root") &&
			      !strcmp(t.dir, "etc") && !t.make_dir,
		      "pid target");
		for (const char *p = t.root + 6; *p != '/'; p++)
			check(*p >= '0' && *p <= '9', "pid digits");
		return;
	}
	check(!strncmp(t.dir, "/etc/netns/", 11) && t.make_dir, "netns target");
	name = t.dir + 11;
	check(*name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, ".."), "netns name");
	check(ends_with(in, name) && in[strlen(in) - strlen(name) - 1] == '/',
	      "name from the path");
}

static void check_format(char *in)
{
	const char *parts[8];
	char text[OV_RESOLV_FILE_TEXT_MAX];
	struct ov_resolv rv;
	size_t n = 0, want = 0;
	char *p = in, *sep;
	int len;

	while (n < 8 && (sep = strchr(p, 0x1f))) {
		*sep = '\0';
		parts[n++] = p;
		p = sep + 1;
	}
	if (n == 0)
		return;
	len = ov_resolv_file_format(parts, n, p, "fuzz", text, sizeof(text));
	if (len < 0)
		return;
	check((size_t)len == strlen(text), "length");
	check(strstr(text, "\nsearch ") && !strstr(strstr(text, "\nsearch ") + 1, "\nsearch "),
	      "one search line");
	ov_resolv_parse(text, (size_t)len, &rv);
	for (size_t i = 0; i < n; i++) {
		uint8_t a[16];
		bool v4 = inet_pton(AF_INET, parts[i], a) == 1, dup = false;

		if ((v4 && a[0] == 127) || (!v4 && inet_pton(AF_INET6, parts[i], a) == 1 &&
					    (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) ||
					     !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f", 13))))
			continue;
		if ((v4 && !memcmp(a, "\0\0\0\0", 4)) ||
		    (!v4 && !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16)))
			continue;
		for (size_t k = 0; k < i; k++)
			dup |= !strcmp(parts[k], parts[i]);
		want += !dup;
	}
	check(rv.count <= want, "more servers read back than written");
	check(want == 0 || rv.count > 0, "servers lost");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[INPUT_MAX + 1];
	struct ov_resolv rv;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	ov_resolv_parse((const char *)data, size, &rv);
	check(rv.count <= OV_RESOLV_NS_MAX, "count");
	for (size_t i = 0; i < rv.count; i++)
		check(rv.ns[i].addr.ss_family == AF_INET || rv.ns[i].addr.ss_family == AF_INET6,
		      "family");
	memcpy(in, data, size);
	in[size] = '\0';
	check_target(in);
	check_format(in);
	return 0;
}

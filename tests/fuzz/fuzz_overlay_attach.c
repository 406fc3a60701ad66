/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the owner alias of a host veth (overlay/attach.c), which the sweep and
 * detach read back from the kernel, where any root user can have written it.
 *
 * The input, up to its first NUL, is offered to ov_attach_alias_parse. A success must format
 * back to exactly the input (the parser accepts only the canonical form) and give names that
 * derive interface names. The input is also split at its first 0x1f byte into a service and a
 * container id: when ov_attach_alias_format accepts them, parsing the result must give them
 * back. Any mismatch aborts; sanitizers catch the rest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "overlay/attach.h"

enum { INPUT_MAX = 512 };

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_overlay_attach: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[INPUT_MAX + 1], alias[OV_ATTACH_ALIAS_MAX], name[OV_ATTACH_IFNAME_MAX];
	struct ov_attach_owner own, again;
	char *sep;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	memcpy(in, data, size);
	in[size] = '\0';

	if (ov_attach_alias_parse(in, &own) == 0) {
		check(ov_attach_alias_format(own.service, own.container, alias) == 0, "format");
		check(!strcmp(alias, in), "parse accepted a non-canonical alias");
		check(ov_attach_bridge_name(own.service, name) == 0 && strlen(name) < 16,
		      "bridge name");
		check(ov_attach_veth_name(own.container, name) == 0 && strlen(name) == 15,
		      "veth name");
	}

	sep = memchr(in, 0x1f, strlen(in));
	if (sep) {
		*sep = '\0';
		if (ov_attach_alias_format(in, sep + 1, alias) == 0) {
			check(ov_attach_alias_parse(alias, &again) == 0, "formatted alias refused");
			check(!strcmp(again.service, in) && !strcmp(again.container, sep + 1),
			      "round trip differs");
		}
	}
	return 0;
}

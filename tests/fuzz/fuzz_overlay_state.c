/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the state file parser (overlay/state.c) and, through it, the allocator's
 * JSON reader (overlay/alloc.c).
 *
 * The input is a state file's bytes. When it parses, it is formatted, parsed again and
 * formatted again: both must succeed and the two texts must be equal. A leader's allocator
 * then goes through its own JSON round trip and a few allocations, which must keep it
 * loadable and never hand out a host address at or below one already seen. When the input
 * does not parse, the message must be set and the output untouched. The bytes are also
 * offered to the key, endpoint and prefix parsers, whose successes must survive a
 * format/parse round trip. Any mismatch aborts; sanitizers catch the rest. Nothing may leak.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "overlay/state.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_overlay_state: %s\n", what);
		abort();
	}
}

static void alloc_round_trip(const struct ov_alloc *a)
{
	struct ov_alloc b;
	json_t *j1, *j2;
	char err[OV_STATE_ERR_LEN];

	check(ov_alloc_to_json(a, &j1) == 0, "alloc to_json");
	check(ov_alloc_from_json(j1, &b, err, sizeof(err)) == 0, "alloc reload");
	check(ov_alloc_to_json(&b, &j2) == 0, "alloc to_json again");
	check(json_equal(j1, j2), "alloc round trip differs");
	json_decref(j1);
	json_decref(j2);
	ov_alloc_done(&b);
}

/* Allocate on a parsed allocator: new hosts come from above everything it held. */
static void alloc_exercise(struct ov_alloc *a)
{
	struct ov_alloc_lease l, old;
	uint32_t left = ov_alloc_hosts_left(a), free_slots = ov_alloc_slots_free(a);
	int r;

	r = ov_alloc_node_add(a, "fuzz-node", &l);
	check(r == 1 || r == 0 || r == -ENOSPC, "node_add result");
	if (r == 1) {
		check(ov_alloc_hosts_left(a) == left - 1, "host not consumed");
		check(ov_alloc_slots_free(a) == free_slots - 1, "slot not consumed");
		for (size_t i = 0; i < a->n_nodes; i++) {
			if (strcmp(a->nodes[i].name, "fuzz-node") &&
			    !ov_alloc_node_get(a, a->nodes[i].name, &old))
				check(memcmp(old.ip4.addr, l.ip4.addr, 4) < 0 &&
					      !ov_prefix_equal(&old.slice, &l.slice),
				      "new lease collides or reuses");
		}
		r = ov_alloc_subnet_add(a, "fuzz-svc", "fuzz-node", NULL);
		check(r == 1 || r == -ENOSPC, "subnet_add result");
		alloc_round_trip(a);
		check(ov_alloc_node_release(a, "fuzz-node") == 0, "release");
		check(ov_alloc_slots_free(a) == free_slots, "slots not returned");
		check(ov_alloc_hosts_left(a) == left - 1, "host returned");
	}
	alloc_round_trip(a);
}

static void other_parsers(const uint8_t *data, size_t size)
{
	char s[OV_PREFIX_STRLEN + OV_ENDPOINT_STRLEN], out[OV_PREFIX_STRLEN + OV_ENDPOINT_STRLEN];
	uint8_t key[OV_KEY_LEN], key2[OV_KEY_LEN];
	struct ov_endpoint e, e2;
	struct ov_prefix p, p2;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ov_key_from_base64(s, key) == 0) {
		ov_key_to_base64(key, out);
		check(!strcmp(out, s), "key text not canonical");
		check(ov_key_from_base64(out, key2) == 0 && !memcmp(key, key2, OV_KEY_LEN),
		      "key round trip");
	}
	if (ov_endpoint_parse(s, &e) == 0) {
		ov_endpoint_format(&e, out);
		check(ov_endpoint_parse(out, &e2) == 0 && !memcmp(&e, &e2, sizeof(e)),
		      "endpoint round trip");
	}
	if (ov_prefix_parse(s, &p) == 0) {
		ov_prefix_format(&p, out);
		check(ov_prefix_parse(out, &p2) == 0 && ov_prefix_equal(&p, &p2),
		      "prefix round trip");
	}
	if (ov_addr_parse(s, 0, &p) == 0) {
		ov_addr_format(&p, out);
		check(ov_addr_parse(out, 0, &p2) == 0 && ov_prefix_equal(&p, &p2),
		      "address round trip");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[OV_STATE_ERR_LEN], err2[OV_STATE_ERR_LEN];
	struct ov_state s, t, sentinel;
	char *text1, *text2;
	size_t len1, len2;
	int r;

	other_parsers(data, size);
	memset(&sentinel, 0xa5, sizeof(sentinel));
	s = sentinel;
	err[0] = '\0';
	r = ov_state_parse((const char *)data, size, &s, err, sizeof(err));
	if (r < 0) {
		check(err[0] != '\0', "failure without a message");
		check(!memcmp(&s, &sentinel, sizeof(s)), "output written on failure");
		return 0;
	}
	r = ov_state_format(&s, &text1, &len1, err, sizeof(err));
	check(r == 0, "a parsed state does not format");
	r = ov_state_parse(text1, len1, &t, err2, sizeof(err2));
	check(r == 0, "a formatted state does not parse");
	r = ov_state_format(&t, &text2, &len2, err2, sizeof(err2));
	check(r == 0 && len1 == len2 && !memcmp(text1, text2, len1), "format is not stable");
	if (s.role == OV_ROLE_LEADER)
		alloc_exercise(&s.alloc);
	free(text1);
	free(text2);
	ov_state_done(&s);
	ov_state_done(&t);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * State directory tests (overlay/state.c, overlay/keyfmt.c): key base64 against known
 * values and a table-driven reference encoder; endpoints; leader and member states through
 * format/parse and save/load; every kind of corrupt state file refused with a message naming
 * the file and the reason, the file byte-identical afterwards; save refusing states its
 * loader would refuse; atomic writes leaving no temp file; the key file's mode; the lock;
 * a state directory or file that group or others can write, or another uid owns, refused
 * with the fix. Works in fresh directories under /tmp; needs no privileges (the ownership
 * cases run only as root, which can chown).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "overlay/state.h"

/* --- helpers --------------------------------------------------------------------------- */

static void key_fill(uint8_t k[OV_KEY_LEN], uint8_t seed)
{
	for (int i = 0; i < OV_KEY_LEN; i++)
		k[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static void peer_from(struct ov_peer *p, const char *name, uint8_t seed, const char *endpoint,
		      const struct ov_alloc_lease *l)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	key_fill(p->public_key, seed);
	if (endpoint) {
		assert_int_equal(ov_endpoint_parse(endpoint, &p->endpoint), 0);
		p->has_endpoint = true;
	}
	p->ip4 = l->ip4;
	p->ip6 = l->ip6;
	p->slice = l->slice;
}

/* A leader "leader" with members node-a (endpoint) and node-b (none), subnet svc-a/node-a. */
static void make_leader(struct ov_state *s)
{
	struct ov_alloc_config cfg;
	struct ov_alloc_lease l;

	ov_state_init(s);
	s->role = OV_ROLE_LEADER;
	ov_alloc_config_default(&cfg);
	assert_int_equal(ov_alloc_init(&s->alloc, &cfg, NULL, 0), 0);
	assert_int_equal(ov_alloc_node_add(&s->alloc, "leader", &l), 1);
	peer_from(&s->self, "leader", 1, "192.0.2.10:51420", &l);
	s->members = calloc(2, sizeof(*s->members));
	assert_non_null(s->members);
	assert_int_equal(ov_alloc_node_add(&s->alloc, "node-a", &l), 1);
	peer_from(&s->members[0], "node-a", 2, "[2001:db8::11]:51420", &l);
	assert_int_equal(ov_alloc_node_add(&s->alloc, "node-b", &l), 1);
	peer_from(&s->members[1], "node-b", 3, NULL, &l);
	s->n_members = 2;
	assert_int_equal(ov_alloc_subnet_add(&s->alloc, "svc-a", "node-a", NULL), 1);
}

/* node-a as its own state file sees it. */
static void make_member(struct ov_state *s)
{
	struct ov_state leader;

	make_leader(&leader);
	ov_state_init(s);
	s->role = OV_ROLE_MEMBER;
	s->self = leader.members[0];
	s->self.has_endpoint = false;
	s->leader = leader.self;
	s->keepalive = 0;
	strcpy(s->zone, "prod.example");
	ov_state_done(&leader);
}

static char *format_ok(const struct ov_state *s, size_t *len)
{
	char err[OV_STATE_ERR_LEN], *text = NULL;

	if (ov_state_format(s, &text, len, err, sizeof(err)))
		fail_msg("format: %s", err);
	return text;
}

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/weft-state-test-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[PATH_MAX];

	(void)state;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static void write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *read_back(const char *name, size_t *len)
{
	char path[PATH_MAX], *buf;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

/* Names in tmpdir other than the expected ones (a temp file left behind would show). */
static void assert_dir_holds(const char *const *names, size_t n)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	size_t count = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		bool ok = false;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (size_t i = 0; i < n; i++)
			ok |= !strcmp(e->d_name, names[i]);
		if (!ok)
			fail_msg("unexpected file %s", e->d_name);
		count++;
	}
	closedir(d);
	assert_int_equal(count, n);
}

static mode_t file_mode(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Set (value NULL: delete) the member at a '/'-separated path; numbers index arrays. */
static void patch(json_t *root, const char *path, const char *value)
{
	char buf[128], *save = NULL, *tok, *next;
	json_t *cur = root, *v = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	if (value) {
		v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(v);
	}
	for (tok = strtok_r(buf, "/", &save); tok; tok = next) {
		next = strtok_r(NULL, "/", &save);
		if (json_is_array(cur)) {
			size_t i = strtoul(tok, NULL, 10);

			if (!next) {
				if (v && i == json_array_size(cur))
					json_array_append_new(cur, v);
				else if (v)
					json_array_set_new(cur, i, v);
				else
					json_array_remove(cur, i);
				return;
			}
			cur = json_array_get(cur, i);
		} else {
			if (!next) {
				if (v)
					json_object_set_new(cur, tok, v);
				else
					json_object_del(cur, tok);
				return;
			}
			cur = json_object_get(cur, tok);
		}
		assert_non_null(cur);
	}
}

/* --- keys ------------------------------------------------------------------------------ */

/* The textbook table encoder, to compare the constant-time one against. */
static void ref_base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			w |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			w |= in[i + 2];
		out[o++] = tab[w >> 18];
		out[o++] = tab[(w >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(w >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[w & 63] : '=';
	}
	out[o] = '\0';
}

static int sextet(int ch)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	return (int)(strchr(tab, ch) - tab);
}

static void test_base64(void **state)
{
	static const char *const bad[] = {
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",	 /* 43 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* 45 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	 /* no padding */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",	 /* bits past the key */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAC=",	 /* bits past the key */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-AAAA=",	 /* url-safe alphabet */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_AAAA=",
		"AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"AAAAAAAAAAAAAAAAAAAA\x80\x41\x41\x41\x41\x41\x41\x41\x41\x41\x41\x41\x41\x41\x41"
		"\x41"
		"\x41\x41\x41\x41\x41\x41\x41=",
		"",
	};
	uint8_t k[OV_KEY_LEN], k2[OV_KEY_LEN], sentinel[OV_KEY_LEN];
	char b64[OV_KEY_B64_LEN + 1], ref[OV_KEY_B64_LEN + 4];

	(void)state;
	for (int i = 0; i < OV_KEY_LEN; i++)
		k[i] = (uint8_t)i;
	ov_key_to_base64(k, b64);
	assert_string_equal(b64, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	memset(k, 0xff, sizeof(k));
	ov_key_to_base64(k, b64);
	assert_string_equal(b64, "//////////////////////////////////////////8=");
	assert_int_equal(ov_key_from_base64(b64, k2), 0);
	assert_memory_equal(k, k2, OV_KEY_LEN);

	srand(7);
	for (int round = 0; round < 20000; round++) {
		for (int i = 0; i < OV_KEY_LEN; i++)
			k[i] = (uint8_t)rand();
		ov_key_to_base64(k, b64);
		ref_base64(k, OV_KEY_LEN, ref);
		assert_string_equal(b64, ref);
		memset(k2, 0, sizeof(k2));
		assert_int_equal(ov_key_from_base64(b64, k2), 0);
		assert_memory_equal(k, k2, OV_KEY_LEN);
	}
	/* every single character outside the alphabet, at every position, is refused */
	memset(k, 0, sizeof(k));
	ov_key_to_base64(k, b64);
	for (int pos = 0; pos < OV_KEY_B64_LEN - 1; pos++) {
		for (int ch = 1; ch < 256; ch++) {
			char t[OV_KEY_B64_LEN + 1];
			bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				     (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';

			memcpy(t, b64, sizeof(t));
			t[pos] = (char)ch;
			if (pos == 42 && alpha) /* the last one must leave its low bits zero */
				alpha = !(sextet(ch) & 3);
			assert_int_equal(ov_key_from_base64(t, k2), alpha ? 0 : -EINVAL);
		}
	}
	memset(sentinel, 0x77, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(k2, sentinel, sizeof(k2));
		assert_int_equal(ov_key_from_base64(bad[i], k2), -EINVAL);
		assert_memory_equal(k2, sentinel, OV_KEY_LEN); /* untouched on failure */
	}
}

static void test_endpoint(void **state)
{
	static const char *const good[] = {"192.0.2.1:51420", "[2001:db8::1]:1", "0.0.0.0:65535",
					   "[::ffff:192.0.2.1]:80"};
	static const char *const bad[] = {
		"192.0.2.1",	     "192.0.2.1:",	  "192.0.2.1:0",
		"192.0.2.1:65536",   "192.0.2.1:051",	  "192.0.2.1:+1",
		"[192.0.2.1]:1",     "2001:db8::1:51420", "[2001:db8::1]",
		"[fe80::1%1]:1",     "host.example:1",	  ":1",
		"192.0.2.1:1 ",	     "[2001:db8::1]:1x",  "",
		"192.0.2.1:1234567",
	};
	struct ov_endpoint e;
	char buf[OV_ENDPOINT_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(ov_endpoint_parse(good[i], &e), 0);
		ov_endpoint_format(&e, buf);
		assert_string_equal(buf, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ov_endpoint_parse(bad[i], &e) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
}

/* --- states in memory ------------------------------------------------------------------ */

static void assert_peer_equal(const struct ov_peer *a, const struct ov_peer *b)
{
	assert_string_equal(a->name, b->name);
	assert_memory_equal(a->public_key, b->public_key, OV_KEY_LEN);
	assert_int_equal(a->has_endpoint, b->has_endpoint);
	if (a->has_endpoint)
		assert_memory_equal(&a->endpoint, &b->endpoint, sizeof(a->endpoint));
	assert_true(ov_prefix_equal(&a->ip4, &b->ip4));
	assert_true(ov_prefix_equal(&a->ip6, &b->ip6));
	assert_true(ov_prefix_equal(&a->slice, &b->slice));
}

static void test_round_trip(void **state)
{
	struct ov_state s, t;
	char err[OV_STATE_ERR_LEN];
	char *text, *text2;
	size_t len, len2;

	(void)state;
	for (int role = 0; role < 2; role++) {
		if (role == 0)
			make_leader(&s);
		else
			make_member(&s);
		text = format_ok(&s, &len);
		assert_int_equal(strlen(text), len);
		assert_int_equal(text[len - 1], '\n');
		if (ov_state_parse(text, len, &t, err, sizeof(err)))
			fail_msg("parse: %s", err);
		text2 = format_ok(&t, &len2);
		assert_string_equal(text, text2);
		assert_int_equal(t.role, s.role);
		assert_int_equal(t.port, 51420);
		assert_int_equal(t.mtu, 1420);
		assert_int_equal(t.keepalive, role == 0 ? 25 : 0);
		assert_string_equal(t.zone, role == 0 ? "weft.local." : "prod.example");
		assert_true(ov_prefix_equal(&t.cidr4, &s.cidr4));
		assert_true(ov_prefix_equal(&t.cidr6, &s.cidr6));
		assert_peer_equal(&t.self, &s.self);
		if (role == 0) {
			assert_int_equal(t.n_members, 2);
			assert_peer_equal(&t.members[0], &s.members[0]);
			assert_peer_equal(&t.members[1], &s.members[1]);
			assert_int_equal(t.alloc.n_nodes, 3);
			assert_int_equal(ov_alloc_subnet_get(&t.alloc, "svc-a", "node-a", NULL), 0);
			assert_non_null(strstr(text, "\"role\": \"leader\""));
			assert_non_null(strstr(text, "\"endpoint\": \"[2001:db8::11]:51420\""));
			assert_non_null(strstr(text, "\"endpoint\": null"));
			assert_non_null(strstr(text, "\"slice\": \"10.200.174.64/28\""));
			/* no "interface": weftd's default, and the file of older builds */
			assert_null(strstr(text, "\"interface\""));
			assert_string_equal(t.ifname, "");
		} else {
			assert_peer_equal(&t.leader, &s.leader);
			assert_null(strstr(text, "allocator"));
		}
		if (role == 1) { /* weft join --interface: remembered */
			char *text3;

			strcpy(t.ifname, "weft-a.1");
			text3 = format_ok(&t, &len2);
			assert_non_null(strstr(text3, "\"interface\": \"weft-a.1\""));
			ov_state_done(&t);
			if (ov_state_parse(text3, len2, &t, err, sizeof(err)))
				fail_msg("parse: %s", err);
			assert_string_equal(t.ifname, "weft-a.1");
			free(text3);
		}
		free(text);
		free(text2);
		ov_state_done(&s);
		ov_state_done(&t);
		ov_state_done(&t); /* safe twice */
	}
	ov_state_done(NULL);
}

/* The writer checks with the loader's rules: a state that would not load is not written. */
static void test_nat_config(void **state)
{
	static const char *const good[] = {"turn:198.18.0.2:3478", "turn:198.18.0.2",
					   "stun:[fd00::2]", "198.18.0.3:3479", "stun:[fd00::2]:9"};
	static const char *const bad[] = {"", "turn:", "turn:host.example", "198.18.0.3",
					  "tcp:198.18.0.3:1", "turn:198.18.0.2:0", "turn:[fd00::2"};
	char err[OV_STATE_ERR_LEN] = "", *text;
	struct ov_state s, t;
	struct ov_endpoint e;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (ov_nat_server_parse(good[i], &e))
			fail_msg("server \"%s\" refused", good[i]);
	assert_int_equal(ov_nat_server_parse("turn:198.18.0.2", &e), 0);
	assert_int_equal(e.port, 3478);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!ov_nat_server_parse(bad[i], &e))
			fail_msg("server \"%s\" taken", bad[i]);
	assert_true(ov_nat_secret_valid("s3cr3t!", false));
	assert_false(ov_nat_secret_valid("a b", false));
	assert_false(ov_nat_secret_valid("", false));
	assert_false(ov_nat_secret_valid("a:b", true));
	assert_true(ov_nat_secret_valid("a:b", false));

	make_leader(&s);
	assert_int_equal(ov_nat_server_parse("198.18.0.3:3479", &s.nat.stun[0]), 0);
	s.nat.n_stun = 1;
	assert_int_equal(ov_nat_server_parse("turn:198.18.0.2", &s.nat.turn), 0);
	s.nat.has_turn = true;
	strcpy(s.nat.turn_secret, "weft-secret");
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(text, "\"turn\": \"turn:198.18.0.2:3478\""));
	if (ov_state_parse(text, len, &t, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(t.nat.n_stun, 1);
	assert_memory_equal(&t.nat.stun[0], &s.nat.stun[0], sizeof(e));
	assert_true(t.nat.has_turn);
	assert_string_equal(t.nat.turn_secret, "weft-secret");
	free(text);
	ov_state_done(&t);
	/* no "nat" when nothing is set (files of older builds stay as they were) */
	memset(&s.nat, 0, sizeof(s.nat));
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), 0);
	assert_null(strstr(text, "\"nat\""));
	free(text);
	ov_state_done(&s);
}

static void test_format_refuses_invalid(void **state)
{
	struct ov_state s;
	char err[OV_STATE_ERR_LEN], *text = (char *)"sentinel";
	size_t len = 7;

	(void)state;
	ov_state_init(&s);
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "node.name: empty");
	make_leader(&s);
	memcpy(s.members[1].public_key, s.members[0].public_key, OV_KEY_LEN);
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is held twice"));
	assert_string_equal(text, "sentinel");
	assert_int_equal(len, 7);
	ov_state_done(&s);

	make_leader(&s);
	s.members[1].ip4 = s.members[0].ip4;
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "members[1].ip4: differs from the allocator's 10.200.0.3");
	ov_state_done(&s);

	make_member(&s);
	s.mtu = 1000;
	assert_int_equal(ov_state_format(&s, &text, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cluster.mtu: 1000 is out of range 1280..9000");
	ov_state_done(&s);
}

/* --- files ----------------------------------------------------------------------------- */

static void test_save_load(void **state)
{
	static const char *const files[] = {"lock", "state.json"};
	static const char *const files_key[] = {"lock", "state.json", "private.key"};
	struct ov_state s, t;
	char err[OV_STATE_ERR_LEN], *before, *after, *want;
	size_t n1, n2, nw;
	uint8_t key[OV_KEY_LEN], key2[OV_KEY_LEN];
	int lock;

	(void)state;
	assert_int_equal(ov_state_lock(tmpdir, &lock, err, sizeof(err)), 0);
	assert_int_equal(ov_state_load(tmpdir, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/state.json: does not exist"));

	make_leader(&s);
	if (ov_state_save(tmpdir, &s, OV_STATE_CREATE, err, sizeof(err)))
		fail_msg("save: %s", err);
	assert_dir_holds(files, 2);
	assert_int_equal(file_mode("state.json"), 0600);
	if (ov_state_load(tmpdir, &t, err, sizeof(err)))
		fail_msg("load: %s", err);
	assert_peer_equal(&t.self, &s.self);
	want = format_ok(&s, &nw);
	before = read_back("state.json", &n1);
	assert_int_equal(n1, nw);
	assert_memory_equal(before, want, nw);
	ov_state_done(&t);

	/* create-only refuses to replace, and changes nothing */
	assert_int_equal(ov_alloc_node_add(&s.alloc, "later", NULL), 1);
	assert_int_equal(ov_state_save(tmpdir, &s, OV_STATE_CREATE, err, sizeof(err)), -EINVAL);
	ov_alloc_node_release(&s.alloc, "later");
	assert_int_equal(ov_state_save(tmpdir, &s, OV_STATE_CREATE, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "state.json: create: File exists"));
	after = read_back("state.json", &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(after);
	assert_dir_holds(files, 2);

	/* a save that replaces; the released address survives the "restart" */
	assert_int_equal(ov_alloc_node_release(&s.alloc, "node-b"), 0);
	s.n_members = 1;
	assert_int_equal(ov_state_save(tmpdir, &s, 0, err, sizeof(err)), 0);
	assert_dir_holds(files, 2);
	ov_state_done(&s);
	assert_int_equal(ov_state_load(tmpdir, &t, err, sizeof(err)), 0);
	{
		struct ov_alloc_lease l;

		assert_int_equal(ov_alloc_node_add(&t.alloc, "node-b", &l), 1);
		/* not node-b's old .3, nor the .4 "later" took before its release */
		assert_int_equal(l.ip4.addr[3], 5);
	}
	ov_state_done(&t);

	/* the key file: 0600, atomic, exact */
	key_fill(key, 9);
	assert_int_equal(ov_state_key_save(tmpdir, key, OV_STATE_CREATE, err, sizeof(err)), 0);
	assert_int_equal(file_mode("private.key"), 0600);
	assert_dir_holds(files_key, 3);
	assert_int_equal(ov_state_key_load(tmpdir, key2, err, sizeof(err)), 0);
	assert_memory_equal(key, key2, OV_KEY_LEN);
	after = read_back("private.key", &n2);
	assert_int_equal(n2, 45);
	assert_int_equal(after[44], '\n');
	free(after);
	assert_int_equal(ov_state_key_save(tmpdir, key, OV_STATE_CREATE, err, sizeof(err)),
			 -EEXIST);
	key_fill(key, 10);
	assert_int_equal(ov_state_key_save(tmpdir, key, 0, err, sizeof(err)), 0);
	assert_int_equal(file_mode("private.key"), 0600);
	assert_int_equal(ov_state_key_load(tmpdir, key2, err, sizeof(err)), 0);
	assert_memory_equal(key, key2, OV_KEY_LEN);
	assert_dir_holds(files_key, 3);

	free(before);
	free(want);
	ov_state_unlock(lock);
}

static void test_key_file_refused(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		int ret;
		const char *msg;
	} v[] = {
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0644, -EACCES,
		 "mode 0644 lets group or others at the key"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0640, -EACCES, "mode 0640"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0602, -EACCES, "mode 0602"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n", 0600, -EFBIG, "over the"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= ", 0600, -EINVAL, "not a 32-byte"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 0600, -EINVAL, "not a 32-byte"},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r", 0600, -EINVAL, "not a 32-byte"},
		{"", 0600, -EINVAL, "not a 32-byte"},
		{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, -EFBIG,
		 "over the"},
	};
	uint8_t key[OV_KEY_LEN], sentinel[OV_KEY_LEN];
	char err[OV_STATE_ERR_LEN], path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/private.key", tmpdir);
	assert_int_equal(ov_state_key_load(tmpdir, key, err, sizeof(err)), -ENOENT);
	memset(sentinel, 0x33, sizeof(sentinel));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		write_file("private.key", v[i].text, strlen(v[i].text), v[i].mode);
		memcpy(key, sentinel, sizeof(key));
		assert_int_equal(ov_state_key_load(tmpdir, key, err, sizeof(err)), v[i].ret);
		assert_int_equal(strncmp(err, path, strlen(path)), 0);
		if (!strstr(err, v[i].msg))
			fail_msg("case %zu: %s", i, err);
		assert_memory_equal(key, sentinel, OV_KEY_LEN);
	}
	/* without the newline is fine */
	write_file("private.key", v[0].text, 44, 0600);
	assert_int_equal(ov_state_key_load(tmpdir, key, err, sizeof(err)), 0);
	assert_int_equal(key[31], 31);
	/* a directory is not a key file */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ov_state_key_load(tmpdir, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(path);
}

static void test_lock(void **state)
{
	char err[OV_STATE_ERR_LEN], sub[PATH_MAX];
	int fd1, fd2;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(ov_state_lock(tmpdir, &fd1, err, sizeof(err)), 0);
	fd2 = -7;
	assert_int_equal(ov_state_lock(tmpdir, &fd2, err, sizeof(err)), -EBUSY);
	assert_int_equal(fd2, -7);
	assert_non_null(strstr(err, "/lock: held by another process"));
	/* another process too */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		_exit(ov_state_lock(tmpdir, &fd, NULL, 0) == -EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ov_state_unlock(fd1);
	assert_int_equal(ov_state_lock(tmpdir, &fd2, err, sizeof(err)), 0);
	ov_state_unlock(fd2);
	assert_int_equal(file_mode("lock"), 0600);

	/* a missing directory is created 0700 */
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	assert_int_equal(ov_state_lock(sub, &fd1, err, sizeof(err)), 0);
	assert_int_equal(file_mode("sub"), 0700);
	ov_state_unlock(fd1);
	snprintf(sub, sizeof(sub), "%s/sub/lock", tmpdir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	rmdir(sub);
}

/* --- corrupt files --------------------------------------------------------------------- */

struct corrupt {
	const char *path, *value; /* a JSON patch on the valid leader state... */
	const char *raw;	  /* ...or these bytes (when path is NULL) */
	int ret;
	const char *msg;
};

static const struct corrupt leader_cases[] = {
	{"version", "2", NULL, -EINVAL, "version: 2 is not supported (this build reads 1)"},
	{"version", "0", NULL, -EINVAL, "version: 0 is not supported"},
	{"version", "\"1\"", NULL, -EINVAL, "version: expected an integer, found a string"},
	{"version", NULL, NULL, -EINVAL, "version: missing"},
	{"extra", "{}", NULL, -EINVAL, "top level: unknown field \"extra\""},
	{"cluster", NULL, NULL, -EINVAL, "cluster: missing"},
	{"cluster/port", NULL, NULL, -EINVAL, "cluster.port: missing"},
	{"cluster/port", "0", NULL, -EINVAL, "cluster.port: 0 is out of range 1..65535"},
	{"cluster/port", "65536", NULL, -EINVAL, "cluster.port: 65536 is out of range"},
	{"cluster/port", "51420.5", NULL, -EINVAL,
	 "cluster.port: expected an integer, found a "
	 "real number"},
	{"cluster/port", "true", NULL, -EINVAL,
	 "cluster.port: expected an integer, found a "
	 "boolean"},
	{"cluster/mtu", "1279", NULL, -EINVAL, "cluster.mtu: 1279 is out of range 1280..9000"},
	{"cluster/keepalive", "-1", NULL, -EINVAL, "cluster.keepalive: -1 is out of range"},
	{"cluster/zone", "\"Weft.Local.\"", NULL, -EINVAL, "cluster.zone: \"Weft.Local.\" is not"},
	{"cluster/zone", "\"weft..local\"", NULL, -EINVAL, "cluster.zone: \"weft..local\" is not"},
	{"cluster/zone", "\".\"", NULL, -EINVAL, "cluster.zone: \".\" is not"},
	{"cluster/cidr4", "\"10.200.0.0/15\"", NULL, -EINVAL,
	 "allocator.cidr4: differs from cluster.cidr4"},
	{"cluster/cidr4", "\"10.200.0.0/33\"", NULL, -EINVAL,
	 "cluster.cidr4: \"10.200.0.0/33\" is not an IPv4 prefix"},
	{"cluster/cidr6", "\"fd00:200::/47\"", NULL, -EINVAL,
	 "allocator.cidr6: differs from cluster.cidr6"},
	{"cluster/cidr6", "\"fd00:200::1/48\"", NULL, -EINVAL,
	 "cluster.cidr6: \"fd00:200::1/48\" has host bits set"},
	{"node", NULL, NULL, -EINVAL, "node: missing"},
	{"node/role", "\"boss\"", NULL, -EINVAL, "node.role: \"boss\" is neither"},
	{"node/role", "\"member\"", NULL, -EINVAL,
	 "members: not allowed when node.role is "
	 "\"member\""},
	{"node/name", "\"leader.x\"", NULL, -EINVAL, "node.name: \"leader.x\" is not a valid"},
	{"node/public_key", "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"", NULL, -EINVAL,
	 "node.public_key: not a 32-byte key in base64"},
	{"node/public_key", "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
	 NULL, -EINVAL, "node.public_key: too long"},
	{"node/public_key", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"", NULL, -EINVAL,
	 "node.public_key: the all-zero key"},
	{"node/endpoint", "\"leader.example:51420\"", NULL, -EINVAL,
	 "node.endpoint: \"leader.example:51420\" is not IPv4:port or [IPv6]:port"},
	{"node/endpoint", NULL, NULL, -EINVAL, "node.endpoint: missing"},
	{"node/ip4", "\"10.201.0.1\"", NULL, -EINVAL, "node.ip4: not inside cluster.cidr4"},
	{"node/ip4", "\"10.200.0.9\"", NULL, -EINVAL,
	 "node.ip4: differs from the allocator's "
	 "10.200.0.1"},
	{"node/ip6", "\"fd00:201::1\"", NULL, -EINVAL, "node.ip6: not inside cluster.cidr6"},
	{"node/slice", "\"10.200.174.80/28\"", NULL, -EINVAL,
	 "node.slice: differs from the allocator's 10.200.174.64/28"},
	{"node/slice", "\"10.200.0.0/24\"", NULL, -EINVAL, "node.slice: holds its own ip4"},
	{"leader", "{}", NULL, -EINVAL, "leader: not allowed when node.role is \"leader\""},
	{"members", NULL, NULL, -EINVAL, "members: missing"},
	{"members", "{}", NULL, -EINVAL, "members: expected an array, found an object"},
	{"members/0/name", "\"node-b\"", NULL, -EINVAL,
	 "members[0].ip4: differs from the "
	 "allocator's 10.200.0.3"},
	{"members/0/name", "\"node-z\"", NULL, -EINVAL,
	 "members[0].name: \"node-z\" is not in "
	 "allocator.nodes"},
	{"members/1", NULL, NULL, -EINVAL,
	 "allocator.nodes: \"node-b\" is neither the node nor a "
	 "member"},
	{"members/1/public_key", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\"", NULL, -EINVAL,
	 "members[1].public_key: not a 32-byte key"},
	{"members/0/endpoint", "\"192.0.2.11:0\"", NULL, -EINVAL, "members[0].endpoint"},
	{"members/0/extra", "1", NULL, -EINVAL, "members[0]: unknown field \"extra\""},
	{"members/0/role", "\"member\"", NULL, -EINVAL, "members[0]: unknown field \"role\""},
	{"interface", "\"a/b\"", NULL, -EINVAL, "interface: \"a/b\" is not an interface name"},
	{"interface", "\"\"", NULL, -EINVAL, "interface"},
	{"interface", "\"sixteen-bytes-xx\"", NULL, -EINVAL, "interface"},
	{"interface", "7", NULL, -EINVAL, "interface"},
	{"nat", "[]", NULL, -EINVAL, "nat: expected an object"},
	{"nat", "{\"stn\": []}", NULL, -EINVAL, "nat: unknown field \"stn\""},
	{"nat", "{\"stun\": [\"stun.example:3478\"]}", NULL, -EINVAL, "nat.stun[0]: not IP:PORT"},
	{"nat", "{\"stun\": [\"198.18.0.3\"]}", NULL, -EINVAL, "nat.stun[0]"},
	{"nat", "{\"stun\": [\"1.1.1.1:1\", \"1.1.1.1:2\", \"1.1.1.1:3\", \"1.1.1.1:4\", \"1.1.1.1:5\"]}",
	 NULL, -EINVAL, "nat.stun: an array of at most 4"},
	{"nat", "{\"turn\": \"turn:host.example\"}", NULL, -EINVAL, "nat.turn: not turn:IP:PORT"},
	{"nat", "{\"turn_secret\": \"s\"}", NULL, -EINVAL, "credentials without a turn server"},
	{"nat", "{\"turn\": \"turn:198.18.0.2\", \"turn_secret\": \"a b\"}", NULL, -EINVAL,
	 "nat.turn_secret: 1 to 255 printable"},
	{"nat", "{\"turn\": \"turn:198.18.0.2\", \"turn_user\": \"u\"}", NULL, -EINVAL,
	 "turn_user and turn_password go together"},
	{"nat", "{\"turn\": \"turn:198.18.0.2\", \"turn_user\": \"a:b\", \"turn_password\": \"p\"}",
	 NULL, -EINVAL, "no ':'"},
	{"nat", "{\"turn\": \"turn:198.18.0.2\", \"turn_secret\": \"s\", \"turn_user\": \"u\", "
		"\"turn_password\": \"p\"}",
	 NULL, -EINVAL, "turn_secret or turn_user, not both"},
	{"allocator", NULL, NULL, -EINVAL, "allocator: missing"},
	{"allocator/next_host", "\"10.200.0.2\"", NULL, -EINVAL,
	 "allocator.nodes[1].ip4: 10.200.0.2 is not below next_host"},
	{"allocator/nodes/0/slice", "\"10.200.181.48/28\"", NULL, -EINVAL,
	 "allocator.nodes[1].slice: 10.200.181.48/28 is already held by leader"},
	{"allocator/subnets/0/node", "\"node-q\"", NULL, -EINVAL,
	 "allocator.subnets[0].node: \"node-q\" is not in nodes"},
	{"allocator/nodes/3",
	 "{\"name\":\"extra\",\"ip4\":\"10.200.0.4\",\"ip6\":\"fd00:200::4\","
	 "\"slice\":\"10.200.99.0/28\"}",
	 NULL, -EINVAL, "allocator.nodes[3].ip4: 10.200.0.4 is not below next_host"},
	{NULL, NULL, "", -EINVAL, "not valid JSON: line 1 column 0"},
	{NULL, NULL, "[]", -EINVAL, "top level: expected an object"},
	{NULL, NULL, "{\"version\": 1, \"version\": 1}", -EINVAL, "duplicate object key"},
	{NULL, NULL, "{\"version\": 1}", -EINVAL, "cluster: missing"},
	{NULL, NULL, "\xef\xbb\xbf{\"version\": 1}", -EINVAL, "not valid JSON"},
	{NULL, NULL, "{\"version\": 99999999999999999999}", -EINVAL, "too big integer"},
	{NULL, NULL, "{\"version\": 1} trailing", -EINVAL, "end of file expected"},
};

/* Applies c to the valid leader text; *len set. */
static char *corrupt_text(const struct corrupt *c, const char *base, size_t *len)
{
	json_t *j;
	char *t;

	if (!c->path) {
		*len = strlen(c->raw);
		return strdup(c->raw);
	}
	j = json_loads(base, 0, NULL);
	assert_non_null(j);
	patch(j, c->path, c->value);
	t = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	*len = strlen(t);
	return t;
}

static void expect_refused(const char *text, size_t len, int ret, const char *msg, size_t i)
{
	char err[OV_STATE_ERR_LEN], path[PATH_MAX], *after;
	struct ov_state s;
	struct stat st1, st2;
	size_t n;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	write_file("state.json", text, len, 0600);
	assert_int_equal(stat(path, &st1), 0);
	memset(&s, 0x5a, sizeof(s));
	err[0] = '\0';
	if (ov_state_load(tmpdir, &s, err, sizeof(err)) != ret ||
	    strncmp(err, path, strlen(path)) || strncmp(err + strlen(path), ": ", 2) ||
	    !strstr(err, msg))
		fail_msg("case %zu: got \"%s\", want \"%s: ...%s...\"", i, err, path, msg);
	assert_int_equal(((uint8_t *)&s)[0], 0x5a);
	/* the file is untouched */
	after = read_back("state.json", &n);
	assert_int_equal(n, len);
	assert_memory_equal(after, text, len);
	free(after);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mode, st2.st_mode);
}

static void test_corrupt_leader(void **state)
{
	struct ov_state s;
	char *base, *t;
	size_t blen, len;
	static const char *const files[] = {"state.json"};

	(void)state;
	make_leader(&s);
	base = format_ok(&s, &blen);
	ov_state_done(&s);
	/* the untouched text loads */
	write_file("state.json", base, blen, 0600);
	assert_int_equal(ov_state_load(tmpdir, &s, NULL, 0), 0);
	ov_state_done(&s);
	for (size_t i = 0; i < sizeof(leader_cases) / sizeof(leader_cases[0]); i++) {
		t = corrupt_text(&leader_cases[i], base, &len);
		expect_refused(t, len, leader_cases[i].ret, leader_cases[i].msg, i);
		free(t);
	}
	/* byte-level damage to the real text */
	t = strndup(base, blen / 2);
	expect_refused(t, strlen(t), -EINVAL, "not valid JSON", 1000);
	free(t);
	t = malloc(blen + 8);
	memcpy(t, base, blen);
	memcpy(t + blen, "x", 1);
	expect_refused(t, blen + 1, -EINVAL, "end of file expected", 1001);
	memcpy(t + blen, "{}", 2);
	expect_refused(t, blen + 2, -EINVAL, "end of file expected", 1002);
	memcpy(t, base, blen);
	t[blen / 3] = '\0';
	expect_refused(t, blen, -EINVAL, "not valid JSON", 1003);
	free(t);
	/* over the cap: a valid state padded with spaces past 1 MiB */
	t = malloc(OV_STATE_MAX_BYTES + 2);
	memset(t, ' ', OV_STATE_MAX_BYTES + 1);
	memcpy(t, base, blen);
	expect_refused(t, OV_STATE_MAX_BYTES + 1, -EFBIG, "over the 1048576-byte cap", 1004);
	/* ...while exactly at the cap it loads */
	write_file("state.json", t, OV_STATE_MAX_BYTES, 0600);
	assert_int_equal(ov_state_load(tmpdir, &s, NULL, 0), 0);
	ov_state_done(&s);
	free(t);
	/* a save never replaces a file that does not load */
	make_leader(&s);
	for (size_t i = 0; i < 3; i++) {
		char err[OV_STATE_ERR_LEN], *after;
		size_t n;

		t = corrupt_text(&leader_cases[i], base, &len);
		write_file("state.json", t, len, 0600);
		assert_int_equal(ov_state_save(tmpdir, &s, 0, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, leader_cases[i].msg));
		assert_non_null(strstr(err, "(not replaced)"));
		after = read_back("state.json", &n);
		assert_int_equal(n, len);
		assert_memory_equal(after, t, len);
		free(after);
		free(t);
	}
	ov_state_done(&s);
	free(base);
	/* no temp files appeared */
	assert_dir_holds(files, 1);
}

static const struct corrupt member_cases[] = {
	{"leader", NULL, NULL, -EINVAL, "leader: missing"},
	{"leader/endpoint", "null", NULL, -EINVAL, "leader.endpoint: required for the leader"},
	{"leader/name", "\"node-a\"", NULL, -EINVAL, "leader.name: same as node.name"},
	{"leader/ip4", "\"10.200.0.2\"", NULL, -EINVAL, "leader: has the node's own address"},
	{"leader/slice", "\"10.200.181.48/28\"", NULL, -EINVAL,
	 "leader.slice: overlaps node.slice"},
	{"leader/slice", "\"10.200.181.0/24\"", NULL, -EINVAL, "leader.slice: overlaps"},
	{"leader/slice", "\"10.200.0.0/24\"", NULL, -EINVAL, "leader.slice: holds its own ip4"},
	{"leader/slice", "\"10.200.0.2/31\"", NULL, -EINVAL,
	 "leader: a slice holds the other's ip4"},
	{"leader/public_key", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\"", NULL, -EINVAL,
	 "leader.public_key: not a 32-byte"},
	{"members", "[]", NULL, -EINVAL, "members: not allowed when node.role is \"member\""},
	{"allocator", "{}", NULL, -EINVAL, "allocator: not allowed when node.role is \"member\""},
	{"node/role", "\"leader\"", NULL, -EINVAL,
	 "leader: not allowed when node.role is "
	 "\"leader\""},
};

static void test_corrupt_member(void **state)
{
	struct ov_state s;
	char *base, *t;
	size_t blen, len;

	(void)state;
	make_member(&s);
	base = format_ok(&s, &blen);
	ov_state_done(&s);
	write_file("state.json", base, blen, 0600);
	assert_int_equal(ov_state_load(tmpdir, &s, NULL, 0), 0);
	ov_state_done(&s);
	for (size_t i = 0; i < sizeof(member_cases) / sizeof(member_cases[0]); i++) {
		t = corrupt_text(&member_cases[i], base, &len);
		expect_refused(t, len, member_cases[i].ret, member_cases[i].msg, i);
		free(t);
	}
	free(base);
}

/* Not a regular file, or unreadable: refused with the path, not followed or created. */
static void test_load_odd_files(void **state)
{
	char err[OV_STATE_ERR_LEN], path[PATH_MAX];
	struct ov_state s;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ov_state_load(tmpdir, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "state.json: not a regular file"));
	rmdir(path);
	snprintf(path, sizeof(path), "%s/nonexistent-dir", tmpdir);
	assert_int_equal(ov_state_load(path, &s, err, sizeof(err)), -ENOENT);
	make_leader(&s);
	assert_int_equal(ov_state_save(path, &s, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nonexistent-dir: open: No such file"));
	ov_state_done(&s);
}

/* A group/other-writable or foreign directory or file is refused, saying why and the fix. */
static void test_private_dir_and_files(void **state)
{
	static const mode_t bad_dir[] = {0777, 0770, 0730, 0702, 01777};
	char err[OV_STATE_ERR_LEN], want[2 * PATH_MAX + 128], path[PATH_MAX], *buf;
	struct ov_state s, t;
	uint8_t key[OV_KEY_LEN];
	size_t len;
	int fd = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_dir) / sizeof(bad_dir[0]); i++) {
		assert_int_equal(chmod(tmpdir, bad_dir[i]), 0);
		assert_int_equal(ov_state_lock(tmpdir, &fd, err, sizeof(err)), -EACCES);
		assert_int_equal(fd, -7);
		snprintf(want, sizeof(want), "%s: mode %04o lets group or others write the state "
			 "directory", tmpdir, (unsigned)bad_dir[i]);
		if (!strstr(err, want))
			fail_msg("mode %04o: %s", (unsigned)bad_dir[i], err);
		snprintf(want, sizeof(want), "fix: chmod 700 %s", tmpdir);
		assert_non_null(strstr(err, want));
		assert_dir_holds(NULL, 0); /* not even the lock file */
	}
	/* group and others may read and enter it; only writing is refused */
	assert_int_equal(chmod(tmpdir, 0755), 0);
	assert_int_equal(ov_state_lock(tmpdir, &fd, err, sizeof(err)), 0);
	ov_state_unlock(fd);
	assert_int_equal(chmod(tmpdir, 0700), 0);

	/* the files: state.json and the daemon's files must not be group/other-writable */
	make_leader(&s);
	assert_int_equal(ov_state_save(tmpdir, &s, OV_STATE_CREATE, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(ov_state_load(tmpdir, &t, err, sizeof(err)), 0);
	ov_state_done(&t);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(ov_state_load(tmpdir, &t, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "%s: mode 0666 lets group or others write it", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "fix: chmod 600 %s", path);
	assert_non_null(strstr(err, want));
	/* ...and a save does not replace a file it would refuse to load */
	assert_int_equal(ov_state_save(tmpdir, &s, 0, err, sizeof(err)), -EACCES);
	assert_int_equal(file_mode("state.json"), 0666);
	assert_int_equal(chmod(path, 0600), 0);
	write_file("view.json", "{}", 2, 0620);
	assert_int_equal(ov_state_read_file(tmpdir, "view.json", 100, &buf, &len, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "view.json: mode 0620"));
	write_file("tokens.json", "{}", 2, 0640);
	assert_int_equal(ov_state_read_file(tmpdir, "tokens.json", 100, &buf, &len, err,
					    sizeof(err)),
			 0);
	free(buf);
	/* the key: not even readable by group or others */
	write_file("private.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 45, 0604);
	assert_int_equal(ov_state_key_load(tmpdir, key, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "mode 0604 lets group or others at the key; fix: chmod 600"));

	/* another uid's directory or file: only root can make one here */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(ov_state_load(tmpdir, &t, err, sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "%s: owned by uid 65534, not by uid 0 that runs weft",
			 path);
		assert_non_null(strstr(err, want));
		snprintf(want, sizeof(want), "fix: chown 0 %s && chmod 600 %s", path, path);
		assert_non_null(strstr(err, want));
		assert_int_equal(chown(path, 0, 0), 0);
		assert_int_equal(chown(tmpdir, 65534, 65534), 0);
		assert_int_equal(ov_state_lock(tmpdir, &fd, err, sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "fix: chown 0 %s && chmod 700 %s", tmpdir, tmpdir);
		assert_non_null(strstr(err, want));
		assert_int_equal(chown(tmpdir, 0, 0), 0);
	} else {
		printf("# not root: the ownership cases are skipped\n");
	}
	ov_state_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_refuses_invalid),
		cmocka_unit_test(test_nat_config),
		cmocka_unit_test_setup_teardown(test_save_load, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_file_refused, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_lock, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_corrupt_leader, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_corrupt_member, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_odd_files, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_private_dir_and_files, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

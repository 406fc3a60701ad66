/* SPDX-License-Identifier: MIT */
/*
 * weft — the command line of a weft node. A command table drives dispatch and help, as in
 * wireguard-tools. `init` and `join` write a state directory for weftd; everything else asks
 * the running weftd over its local socket (<data dir>/weftd.sock), so the daemon stays the
 * only writer of the state it holds locked.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/doctor.h"
#include "crypto/crypto.h"
#include "ctl/ctl.h"
#include "ctl/chan.h"
#include "overlay/alloc.h"
#include "overlay/resolv_file.h"
#include "overlay/state.h"

#define PROG "weft"
#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif
#ifndef WEFT_BINDIR
#define WEFT_BINDIR "/usr/local/bin" /* meson sets the configured one */
#endif

/* weftd answers a local request within its own deadline (an attach may wait for the leader). */
enum { CLI_CALL_TIMEOUT_MS = 125000, CLI_JOIN_TIMEOUT_MS = 10000 };

struct cli_ctx {
	char dir[PATH_MAX];
	bool json;
};

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli_ctx *c, int argc, char **argv);
	const char *args;
	const char *help;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int parse_num(const char *flag, const char *s, unsigned long long min,
		     unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || v < min || v > max) {
		fail("%s: '%s' is not a number from %llu to %llu", flag, s, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* "IP" or "IP:PORT" / "[IPv6]:PORT"; the port defaults to port. */
static int parse_endpoint(const char *flag, const char *s, uint16_t port, struct ov_endpoint *ret)
{
	char buf[OV_ENDPOINT_STRLEN + 8];
	struct ov_prefix a;

	if (ov_endpoint_parse(s, ret) == 0)
		return 0;
	if (ov_addr_parse(s, 0, &a) == 0) {
		if (a.family == 4)
			snprintf(buf, sizeof(buf), "%s:%u", s, port);
		else
			snprintf(buf, sizeof(buf), "[%s]:%u", s, port);
		if (ov_endpoint_parse(buf, ret) == 0)
			return 0;
	}
	fail("%s: '%s' is not IP, IP:PORT or [IPv6]:PORT", flag, s);
	return -EINVAL;
}

/* --- talking to weftd ------------------------------------------------------------------------ */

static int call_opt(struct cli_ctx *c, const struct dmn_request *req, json_t **ret, bool quiet);

static int call(struct cli_ctx *c, const struct dmn_request *req, json_t **ret)
{
	return call_opt(c, req, ret, false);
}

/* A call whose failure the caller handles (an older weftd without the op). */
static int call_quiet(struct cli_ctx *c, const struct dmn_request *req, json_t **ret)
{
	return call_opt(c, req, ret, true);
}

static int call_opt(struct cli_ctx *c, const struct dmn_request *req, json_t **ret, bool quiet)
{
	char path[PATH_MAX + 32], err[512];
	json_t *j = dmn_request_to_json(req);
	struct ctl_chan ch;
	uint8_t type;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", c->dir, "weftd.sock");
	fd = ctl_connect_unix(path);
	if (fd < 0) {
		json_decref(j);
		return fail("cannot reach weftd at %s: %s (is it running?)", path, strerror(-fd));
	}
	ctl_chan_init(&ch, fd, CLI_CALL_TIMEOUT_MS, CTL_CHAN_VIEW_MAX);
	r = j ? ctl_chan_call(&ch, j, &type, ret, err, sizeof(err)) : -ENOMEM;
	close(fd);
	json_decref(j);
	if (r && quiet)
		return 1;
	if (r)
		return fail("%s: %s", dmn_op_name(req->op), r == -ENOMEM ? strerror(ENOMEM) : err);
	return 0;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}

/* --- init -------------------------------------------------------------------------------------- */

/* A secret from its file (one line; the trailing newline dropped), never from argv where
 * every local user can read it. */
static int read_secret_file(const char *flag, const char *path,
			    char out[static OV_NAT_SECRET_MAX + 1])
{
	char buf[OV_NAT_SECRET_MAX + 3];
	size_t n;
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;

	if (!f)
		return fail("%s: %s: %s", flag, path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (!ov_nat_secret_valid(buf, false)) {
		crypto_wipe(buf, sizeof(buf));
		return fail("%s: %s must hold 1 to %d printable characters on one line", flag,
			    path, OV_NAT_SECRET_MAX);
	}
	memcpy(out, buf, n + 1);
	crypto_wipe(buf, sizeof(buf));
	return 0;
}

static int cmd_init(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"data-dir", required_argument, NULL, 'd'}, {"name", required_argument, NULL, 'n'},
		{"endpoint", required_argument, NULL, 'e'}, {"cidr4", required_argument, NULL, '4'},
		{"cidr6", required_argument, NULL, '6'},    {"port", required_argument, NULL, 'p'},
		{"zone", required_argument, NULL, 'z'},	    {"mtu", required_argument, NULL, 'm'},
		{"keepalive", required_argument, NULL, 'k'}, {"stun", required_argument, NULL, 'S'},
		{"turn", required_argument, NULL, 'T'},
		{"turn-secret-file", required_argument, NULL, 'F'},
		{"turn-user", required_argument, NULL, 'U'},
		{"turn-password-file", required_argument, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	struct ov_alloc_config acfg;
	struct ov_alloc_lease lease;
	struct ov_state st;
	const char *name = "leader", *endpoint = NULL;
	char err[OV_STATE_ERR_LEN], ip[OV_PREFIX_STRLEN], sl[OV_PREFIX_STRLEN];
	uint8_t priv[OV_KEY_LEN];
	unsigned long long v;
	int o, r, lock_fd = -1, ret = 1;

	ov_state_init(&st);
	ov_alloc_config_default(&acfg);
	while ((o = getopt_long(argc, argv, "d:", lo, NULL)) != -1) {
		switch (o) {
		case 'd':
			snprintf(c->dir, sizeof(c->dir), "%s", optarg);
			break;
		case 'n':
			name = optarg;
			break;
		case 'e':
			endpoint = optarg;
			break;
		case '4':
			if (ov_prefix_parse(optarg, &acfg.cluster4) || acfg.cluster4.family != 4 ||
			    !ov_prefix_is_network(&acfg.cluster4))
				return fail("--cidr4: '%s' is not an IPv4 network (a.b.c.d/n)",
					    optarg);
			break;
		case '6':
			if (ov_prefix_parse(optarg, &acfg.cluster6) || acfg.cluster6.family != 6 ||
			    !ov_prefix_is_network(&acfg.cluster6))
				return fail("--cidr6: '%s' is not an IPv6 network (x::/n)", optarg);
			break;
		case 'p':
			if (parse_num("--port", optarg, 1, 65534, &v))
				return 1;
			st.port = (uint16_t)v;
			break;
		case 'z': {
			char z[OV_STATE_ZONE_MAX + 2];
			size_t zl = strlen(optarg);

			if (zl == 0 || zl > OV_STATE_ZONE_MAX)
				return fail("--zone: '%s' is empty or too long", optarg);
			strcpy(z, optarg);
			if (z[zl - 1] == '.')
				z[--zl] = '\0';
			if (!zl || zl >= OV_STATE_ZONE_MAX || !dmn_record_name_valid(z))
				return fail("--zone: '%s' is not a lower-case DNS name", optarg);
			/* zl < OV_STATE_ZONE_MAX: the dot and the NUL fit (gcc's ASan build
			 * cannot see that through snprintf and -Werror stopped it). */
			memcpy(st.zone, z, zl);
			st.zone[zl] = '.';
			st.zone[zl + 1] = '\0';
			break;
		}
		case 'm':
			if (parse_num("--mtu", optarg, OV_STATE_MTU_MIN, OV_STATE_MTU_MAX, &v))
				return 1;
			st.mtu = (uint16_t)v;
			break;
		case 'k':
			if (parse_num("--keepalive", optarg, 0, 65535, &v))
				return 1;
			st.keepalive = (uint16_t)v;
			break;
		case 'S':
			if (st.nat.n_stun == OV_NAT_STUN_MAX)
				return fail("--stun: at most %d servers", OV_NAT_STUN_MAX);
			if (ov_nat_server_parse(optarg, &st.nat.stun[st.nat.n_stun]))
				return fail("--stun: '%s' is not IP:PORT or stun:IP[:PORT]", optarg);
			st.nat.n_stun++;
			break;
		case 'T':
			if (ov_nat_server_parse(optarg, &st.nat.turn))
				return fail("--turn: '%s' is not turn:IP[:PORT]", optarg);
			st.nat.has_turn = true;
			break;
		case 'F':
		case 'P':
			if (read_secret_file(o == 'F' ? "--turn-secret-file" : "--turn-password-file",
					     optarg, o == 'F' ? st.nat.turn_secret
							      : st.nat.turn_password))
				return 1;
			break;
		case 'U':
			if (!ov_nat_secret_valid(optarg, true))
				return fail("--turn-user: 1 to %d printable characters, no ':'",
					    OV_NAT_SECRET_MAX);
			snprintf(st.nat.turn_user, sizeof(st.nat.turn_user), "%s", optarg);
			break;
		default:
			return fail("init: bad option (see `weft init --help`)");
		}
	}
	if (optind != argc)
		return fail("init: unexpected argument '%s'", argv[optind]);
	if ((st.nat.turn_secret[0] || st.nat.turn_user[0]) && !st.nat.has_turn)
		return fail("init: TURN credentials without --turn turn:IP[:PORT]");
	if (!st.nat.turn_user[0] != !st.nat.turn_password[0])
		return fail("init: --turn-user and --turn-password-file go together");
	if (st.nat.turn_secret[0] && st.nat.turn_user[0])
		return fail("init: --turn-secret-file (TURN REST) or --turn-user (static), not both");
	if (st.nat.has_turn && !st.nat.turn_secret[0] && !st.nat.turn_user[0])
		return fail("init: --turn needs --turn-secret-file FILE or --turn-user U "
			    "--turn-password-file FILE");
	if (!ov_alloc_name_valid(name))
		return fail("--name: '%s' is not a node name (1-63 of a-z, 0-9, '-')", name);
	/* The zone's node-<...> names are derived from addresses (leader.h): "leader" is the
	 * default name and the alias of the leader node, so it may name the leader itself. */
	if (!strncmp(name, "node-", 5))
		return fail("--name: '%s' is reserved (node-... are the DNS names derived from "
			    "node addresses)",
			    name);
	if (!endpoint)
		return fail("init: --endpoint IP[:PORT] is required: the address other nodes "
			    "reach this one at");
	if (parse_endpoint("--endpoint", endpoint, st.port, &st.self.endpoint))
		return 1;
	/* The allocator's rules in the terms of these flags (its own messages name its
	 * settings, which init does not expose). */
	if (acfg.cluster4.len >= acfg.slice_len)
		return fail("--cidr4: /%u is too small: the cluster range holds node slices and "
			    "service subnets of /%u each, so it must be /%u or larger "
			    "(default /16)",
			    acfg.cluster4.len, acfg.slice_len, acfg.slice_len - 1);
	if (acfg.slice_len - acfg.cluster4.len > OV_ALLOC_MAX_SLOT_BITS)
		return fail("--cidr4: /%u is too large: at most %u /%u slices, so /%u or smaller "
			    "(default /16)",
			    acfg.cluster4.len, 1u << OV_ALLOC_MAX_SLOT_BITS, acfg.slice_len,
			    acfg.slice_len - OV_ALLOC_MAX_SLOT_BITS);
	if (128 - acfg.cluster6.len < 32 - acfg.cluster4.len)
		return fail("--cidr6: /%u has fewer addresses than --cidr4 /%u: every node's IPv6 "
			    "address is derived from its IPv4 one, so it must be /%u or larger",
			    acfg.cluster6.len, acfg.cluster4.len, 96 + acfg.cluster4.len);
	/* The hosts range: the first /20 of the cluster range, as the default layout has it. */
	acfg.hosts = acfg.cluster4;
	acfg.hosts.len = acfg.cluster4.len + 4 <= acfg.slice_len ? acfg.cluster4.len + 4
								 : acfg.slice_len;
	memset(&st.alloc, 0, sizeof(st.alloc));
	r = ov_alloc_init(&st.alloc, &acfg, err, sizeof(err));
	if (r)
		return fail("init: %s", err);
	st.cidr4 = acfg.cluster4;
	st.cidr6 = acfg.cluster6;
	st.role = OV_ROLE_LEADER;
	st.self.has_endpoint = true;
	strcpy(st.self.name, name);
	r = ov_alloc_node_add(&st.alloc, name, &lease);
	if (r < 0) {
		fail("init: %s", strerror(-r));
		goto out;
	}
	st.self.ip4 = lease.ip4;
	st.self.ip6 = lease.ip6;
	st.self.slice = lease.slice;
	if (crypto_x25519_keygen(priv, st.self.public_key)) {
		fail("init: key generation failed");
		goto out;
	}
	/* Checked before anything is created: the loader's rules. */
	{
		char *text;
		size_t len;

		if (ov_state_format(&st, &text, &len, err, sizeof(err))) {
			fail("init: %s", err);
			goto out;
		}
		free(text);
	}
	r = ov_state_lock(c->dir, &lock_fd, err, sizeof(err));
	if (r == -EBUSY) {
		fail("%s is in use by a running weftd: this node is initialised already", c->dir);
		goto out;
	}
	if (r) {
		fail("%s", err);
		goto out;
	}
	if (ov_state_load(c->dir, &(struct ov_state){0}, err, 0) != -ENOENT) {
		fail("%s/%s exists: this node is initialised already", c->dir, OV_STATE_FILE);
		goto out;
	}
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/%s", c->dir, OV_STATE_KEY_FILE);
		if (access(path, F_OK) == 0) {
			fail("%s is left by a join that did not finish: run that join again to "
			     "finish it, or remove the file to create a cluster here",
			     path);
			goto out;
		}
	}
	if (ov_state_key_save(c->dir, priv, OV_STATE_CREATE, err, sizeof(err)) ||
	    ov_state_save(c->dir, &st, OV_STATE_CREATE, err, sizeof(err))) {
		fail("%s", err);
		goto out;
	}
	ov_addr_format(&st.self.ip4, ip);
	ov_prefix_format(&st.self.slice, sl);
	printf("initialised cluster in %s: node %s (leader), overlay %s, slice %s, zone %s\n"
	       "start it with: weftd --data-dir %s\n",
	       c->dir, name, ip, sl, st.zone, c->dir);
	ret = 0;
out:
	crypto_wipe(priv, sizeof(priv));
	ov_state_done(&st);
	ov_state_unlock(lock_fd);
	return ret;
}

/* --- join --------------------------------------------------------------------------------------- */

/*
 * Where weftd is, first found wins: $WEFTD; beside this weft (installed: both in bindir);
 * ../daemon/weftd from this weft (the build tree: build/src/cli/weft, build/src/daemon/weftd);
 * the configured install directory; then PATH. /proc/self/exe, not argv[0], so a symlink or
 * a relative invocation finds the real neighbours. ret gets a path, or "weftd" for PATH.
 */
static void find_weftd(char ret[static PATH_MAX])
{
	char self[PATH_MAX], *slash;
	const char *env = getenv("WEFTD");
	ssize_t n;

	if (env && *env) {
		snprintf(ret, PATH_MAX, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(ret, PATH_MAX, "%s/weftd", self) < PATH_MAX &&
			    access(ret, X_OK) == 0)
				return;
			if (snprintf(ret, PATH_MAX, "%s/../daemon/weftd", self) < PATH_MAX &&
			    access(ret, X_OK) == 0)
				return;
		}
	}
	if (snprintf(ret, PATH_MAX, "%s/weftd", WEFT_BINDIR) < PATH_MAX && access(ret, X_OK) == 0)
		return;
	snprintf(ret, PATH_MAX, "weftd");
}

/* weftd on the state directory and interface ifname. */
static int start_weftd(struct cli_ctx *c, const char *ifname)
{
	char weftd[PATH_MAX], log[PATH_MAX + 16];
	pid_t pid;
	int status;

	find_weftd(weftd);
	/* What this process printed comes before anything weftd prints. */
	fflush(stdout);
	fflush(stderr);
	/* No token or key on weftd's command line or in its environment: it reads the state
	 * directory join wrote. */
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *args[] = {weftd, "--data-dir", c->dir, "--interface", (char *)ifname, NULL};

		if (strchr(weftd, '/'))
			execv(weftd, args);
		else
			execvp(weftd, args);
		fprintf(stderr, PROG ": cannot run %s: %s\n", weftd, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return fail("waiting for weftd: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return fail("weftd not found (looked at $WEFTD, beside weft, in ../daemon from it, "
			    "in " WEFT_BINDIR " and in PATH): set WEFTD=/path/to/weftd");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(log, sizeof(log), "%s/weftd.log", c->dir);
		if (access(log, F_OK) == 0)
			return fail("weftd did not start (its messages are above and in %s)", log);
		return fail("weftd did not start (its messages are above)");
	}
	return 0;
}

/*
 * The token from a file, or from stdin for "-": its first line, blanks around it trimmed, at
 * most DMN_CTL_TOKEN_STRLEN - 1 bytes. On the command line a token is in /proc/PID/cmdline,
 * which every local user can read; a file or a pipe is not. 0 or 1 (told why).
 */
static int read_token(const char *path, char out[static DMN_CTL_TOKEN_STRLEN])
{
	char buf[DMN_CTL_TOKEN_STRLEN + 64];
	const char *what = strcmp(path, "-") ? path : "stdin";
	size_t n = 0, start = 0, end;
	struct stat st;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : STDIN_FILENO;
	int ret = 1;

	if (fd < 0)
		return fail("--token-file: %s: %s", path, strerror(errno));
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 044))
		fprintf(stderr, PROG ": warning: %s is readable by group or others (chmod 600 %s)\n",
			path, path);
	/* One line: stop at the first newline, so a pipe is not read further than that. */
	while (n < sizeof(buf) - 1 && !memchr(buf, '\n', n)) {
		ssize_t k = read(fd, buf + n, fd == STDIN_FILENO ? 1 : sizeof(buf) - 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fail("reading the token from %s: %s", what, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	end = n;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n') {
			end = i;
			break;
		}
	if (end == n && n == sizeof(buf) - 1) {
		fail("the token in %s: longer than a token can be", what);
		goto out;
	}
	while (start < end && strchr(" \t\r\v\f", buf[start]))
		start++;
	while (end > start && strchr(" \t\r\v\f", buf[end - 1]))
		end--;
	if (end == start) {
		fail("no token in %s (expected one line from `weft token create`)", what);
		goto out;
	}
	if (end - start >= DMN_CTL_TOKEN_STRLEN) {
		fail("the token in %s: longer than a token can be", what);
		goto out;
	}
	memcpy(out, buf + start, end - start);
	out[end - start] = '\0';
	ret = 0;
out:
	crypto_wipe(buf, sizeof(buf));
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

static int cmd_join(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"data-dir", required_argument, NULL, 'd'},  {"name", required_argument, NULL, 'n'},
		{"endpoint", required_argument, NULL, 'e'},  {"interface", required_argument, NULL, 'i'},
		{"no-start", no_argument, NULL, 'N'},	     {"token-file", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *name = NULL, *endpoint = NULL, *ifname = "weft0", *token_file = NULL;
	char ifbuf[OV_STATE_IFNAME_MAX + 1];
	char err[OV_STATE_ERR_LEN], host[64], ip[OV_PREFIX_STRLEN], token[DMN_CTL_TOKEN_STRLEN];
	struct dmn_token tok;
	struct dmn_join m;
	struct dmn_welcome w;
	struct ctl_chan ch;
	struct sockaddr_storage sa, local;
	socklen_t llen = sizeof(local);
	uint8_t priv[OV_KEY_LEN], type;
	bool no_start = false, have_w = false, ifname_given = false, new_key = false,
	     admitted = false;
	const struct ov_peer *leader;
	json_t *j = NULL;
	int o, fd = -1, lock_fd = -1, ret = 1, r;

	memset(&m, 0, sizeof(m));
	memset(&ch, 0, sizeof(ch));
	while ((o = getopt_long(argc, argv, "d:", lo, NULL)) != -1) {
		switch (o) {
		case 'd':
			snprintf(c->dir, sizeof(c->dir), "%s", optarg);
			break;
		case 'n':
			name = optarg;
			break;
		case 'e':
			endpoint = optarg;
			break;
		case 'i':
			if (!ov_state_ifname_valid(optarg))
				return fail("--interface: '%s' is not an interface name (1 to 15 "
					    "bytes, no '/', ':' or space)",
					    optarg);
			ifname = optarg;
			ifname_given = true;
			break;
		case 'N':
			no_start = true;
			break;
		case 't':
			token_file = optarg;
			break;
		default:
			return fail("join: bad option (see `weft join --help`)");
		}
	}
	if (token_file && optind != argc)
		return fail("join: --token-file and a TOKEN argument: give one of them");
	if (!token_file && optind + 1 != argc)
		return fail("join: expected --token-file FILE, - (the token on stdin) or TOKEN "
			    "(from `weft token create` on the leader)");
	if (!token_file && !strcmp(argv[optind], "-"))
		token_file = "-";
	if (token_file) {
		if (read_token(token_file, token))
			return 1;
	} else {
		snprintf(token, sizeof(token), "%s", argv[optind]);
		fprintf(stderr, PROG ": warning: a token on the command line is visible to every "
				"local user (/proc/PID/cmdline); use --token-file FILE or - (stdin)\n");
	}
	r = dmn_token_parse(token, &tok, err, sizeof(err));
	crypto_wipe(token, sizeof(token));
	if (r)
		return fail("join: %s", err);
	if (!name) {
		if (gethostname(host, sizeof(host)))
			return fail("join: --name NAME is required");
		host[sizeof(host) - 1] = '\0';
		for (char *p = host; *p; p++)
			*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
		name = host;
	}
	if (!ov_alloc_name_valid(name))
		return fail("--name: '%s' is not a node name (1-63 of a-z, 0-9, '-')", name);
	strcpy(m.name, name);
	if (endpoint) {
		if (parse_endpoint("--endpoint", endpoint, tok.endpoint.port, &m.endpoint))
			return 1;
		m.has_endpoint = true;
	}
	r = ov_state_lock(c->dir, &lock_fd, err, sizeof(err));
	if (r)
		return fail("%s%s", err,
			    r == -EBUSY ? " (weftd is running on it: this node has joined already)"
					: "");
	{
		struct ov_state old;

		ov_state_init(&old);
		r = ov_state_load(c->dir, &old, err, sizeof(err));
		/* A join that got this far before (weft killed while weftd started): the same
		 * name and leader finish it by starting weftd. Should that fail, the state stays:
		 * it may be a node that ran for long, whose token has expired since. */
		if (!r && old.role == OV_ROLE_MEMBER && !strcmp(old.self.name, m.name) &&
		    crypto_equal(old.leader.public_key, tok.leader_key, OV_KEY_LEN)) {
			if (!ifname_given && old.ifname[0]) {
				strcpy(ifbuf, old.ifname); /* the interface that join asked for */
				ifname = ifbuf;
			}
			ov_state_done(&old);
			ov_state_unlock(lock_fd);
			lock_fd = -1;
			printf("%s has joined this cluster as %s already%s\n", c->dir, m.name,
			       no_start ? "" : ": starting weftd");
			if (no_start)
				return 0;
			ret = start_weftd(c, ifname);
			if (!ret)
				printf("weftd started on %s\n", ifname);
			goto out;
		}
		ov_state_done(&old);
		if (r != -ENOENT) {
			if (r)
				fail("%s (not a directory weft join can use)", err);
			else
				fail("%s/%s exists: this node is part of a cluster already", c->dir,
				     OV_STATE_FILE);
			goto out;
		}
	}
	/*
	 * The key first: a join the leader admitted but that did not finish here (the WELCOME
	 * lost, a save failing, weftd not starting) is finished by running it again with the
	 * same key, which the leader takes for the same admission and spends no token use on.
	 * A key left with no state.json is such a join's: reuse it.
	 */
	r = ov_state_key_load(c->dir, priv, err, sizeof(err));
	if (r == 0) {
		if (crypto_x25519_public(m.public_key, priv)) {
			fail("join: %s/%s: not a usable key", c->dir, OV_STATE_KEY_FILE);
			goto out;
		}
		printf("finishing an earlier join with the key in %s/%s\n", c->dir,
		       OV_STATE_KEY_FILE);
	} else if (r != -ENOENT) {
		fail("join: %s", err);
		goto out;
	} else if (crypto_x25519_keygen(priv, m.public_key)) {
		fail("join: key generation failed");
		goto out;
	} else if (ov_state_key_save(c->dir, priv, OV_STATE_CREATE, err, sizeof(err))) {
		fail("join: %s", err);
		goto out;
	} else {
		new_key = true;
	}
	memset(&sa, 0, sizeof(sa));
	if (tok.endpoint.family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&sa;

		s->sin_family = AF_INET;
		s->sin_port = htons(tok.endpoint.port);
		memcpy(&s->sin_addr, tok.endpoint.addr, 4);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&sa;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(tok.endpoint.port);
		memcpy(&s->sin6_addr, tok.endpoint.addr, 16);
	}
	fd = ctl_connect(&sa, 5000, NULL);
	if (fd < 0) {
		char ep[OV_ENDPOINT_STRLEN];

		ov_endpoint_format(&tok.endpoint, ep);
		fail("join: cannot reach the leader at %s: %s", ep, strerror(-fd));
		goto refused;
	}
	/* With no --endpoint, advertise the address this host reaches the leader from. */
	if (!m.has_endpoint && getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
		m.endpoint.port = tok.endpoint.port;
		if (local.ss_family == AF_INET) {
			m.endpoint.family = 4;
			memcpy(m.endpoint.addr, &((struct sockaddr_in *)&local)->sin_addr, 4);
		} else {
			m.endpoint.family = 6;
			memcpy(m.endpoint.addr, &((struct sockaddr_in6 *)&local)->sin6_addr, 16);
		}
		m.has_endpoint = true;
	}
	/*
	 * Noise IKpsk2 to the token's leader key: only that key's owner can answer, and the JOIN
	 * opens for it only with the token's secret (ctl/handshake.h). A party on the path, even
	 * with the token, can neither read the join nor forge the WELCOME.
	 */
	ctl_chan_init(&ch, fd, CLI_JOIN_TIMEOUT_MS, CTL_CHAN_VIEW_MAX);
	r = ctl_chan_initiate(&ch, CTL_HS_JOIN, priv, tok.leader_key, tok.secret, tok.id, err,
			      sizeof(err));
	if (r) {
		fail("join: %s%s", r == -EREMOTEIO ? "" : "the leader at the token's address: ", err);
		goto refused;
	}
	j = dmn_join_to_json(&m);
	if (!j || ctl_chan_send(&ch, DMN_CTL_JOIN, j))
		goto io_fail;
	json_decref(j);
	j = NULL;
	r = ctl_chan_recv(&ch, &type, &j, err, sizeof(err));
	if (r == -ECONNRESET) {
		fail("join refused: the leader closed the connection (wrong token secret?)");
		goto refused;
	}
	if (r)
		goto io_fail;
	if (type == DMN_CTL_ERROR) {
		fail("join refused by the leader: %s",
		     json_string_value(json_object_get(j, "error")) ?: "?");
		goto refused;
	}
	if (type != DMN_CTL_WELCOME || dmn_welcome_from_json(j, &w, err, sizeof(err))) {
		fail("join: bad welcome from the leader: %s", err);
		goto out;
	}
	have_w = true;
	leader = dmn_view_node(&w.view, w.view.leader);
	if (!leader || !crypto_equal(leader->public_key, tok.leader_key, OV_KEY_LEN) ||
	    strcmp(w.cluster.self.name, m.name) ||
	    memcmp(w.cluster.self.public_key, m.public_key, OV_KEY_LEN)) {
		fail("join: the welcome does not match the token's leader or this request");
		goto out;
	}
	w.cluster.leader = *leader;
	if (!w.cluster.leader.has_endpoint) {
		w.cluster.leader.has_endpoint = true;
		w.cluster.leader.endpoint = tok.endpoint;
	}
	w.cluster.role = OV_ROLE_MEMBER;
	if (ifname_given)
		strcpy(w.cluster.ifname, ifname); /* a later plain `weftd -d DIR` comes up on it */
	admitted = true;
	{
		json_t *vj = dmn_view_to_json(&w.view);
		char *text = vj ? json_dumps(vj, JSON_INDENT(2)) : NULL;

		json_decref(vj);
		/* The view, then the state (what weftd looks for). */
		r = !text ? -ENOMEM
			  : ov_state_write_file(c->dir, "view.json", text, strlen(text), 0, err,
						sizeof(err));
		if (!r)
			r = ov_state_save(c->dir, &w.cluster, OV_STATE_CREATE, err, sizeof(err));
		free(text);
		if (r) {
			fail("join: %s", r == -ENOMEM ? strerror(ENOMEM) : err);
			goto undo;
		}
	}
	ov_addr_format(&w.cluster.self.ip4, ip);
	ov_state_unlock(lock_fd);
	lock_fd = -1;
	if (!no_start) {
		if (start_weftd(c, ifname)) {
			/* weftd is not running (it exits when it cannot come up): the lock says so
			 * before anything is removed. */
			if (ov_state_lock(c->dir, &lock_fd, err, sizeof(err)) == 0)
				goto undo;
			goto out;
		}
	}
	printf("joined the cluster of %s as %s: overlay %s, %zu node%s\n", w.view.leader, m.name,
	       ip, w.view.n_nodes, w.view.n_nodes == 1 ? "" : "s");
	if (!no_start)
		printf("weftd started on %s\n", ifname);
	ret = 0;
	goto out;
undo:
	/* All or nothing: what this join wrote goes, but the key the leader admitted stays, so
	 * the same command finishes the join (the token is not spent again). */
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/%s", c->dir, OV_STATE_FILE);
		unlink(path);
		snprintf(path, sizeof(path), "%s/view.json", c->dir);
		unlink(path);
	}
	fprintf(stderr,
		PROG ": join: not joined; the leader admitted %s with the key kept in %s/%s: "
		     "run the same join again (with the same token) to finish it\n",
		m.name, c->dir, OV_STATE_KEY_FILE);
	goto out;
refused:
	/* The leader has not admitted this key: a key made by this call goes too. */
	if (new_key && !admitted) {
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/%s", c->dir, OV_STATE_KEY_FILE);
		unlink(path);
	}
	goto out;
io_fail:
	/* The JOIN went out: the leader may have admitted this key, so it stays. */
	fail("join: talking to the leader: %s (the key stays in %s/%s: run the same join "
	     "again; if the leader admitted %s, that finishes it)",
	     err[0] ? err : "connection failed", c->dir, OV_STATE_KEY_FILE, m.name);
out:
	if (have_w)
		dmn_welcome_done(&w);
	json_decref(j);
	if (fd >= 0)
		close(fd);
	crypto_wipe(priv, sizeof(priv));
	crypto_wipe(&tok, sizeof(tok));
	ctl_chan_done(&ch);
	ov_state_unlock(lock_fd);
	return ret;
}

/* --- commands that ask weftd ---------------------------------------------------------------------- */

/* Options every daemon command takes: -d DIR, --json. Returns the first operand index. */
static int common_opts(struct cli_ctx *c, int argc, char **argv, const char *cmd)
{
	static const struct option lo[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "+d:", lo, NULL)) != -1) {
		if (o == 'd')
			snprintf(c->dir, sizeof(c->dir), "%s", optarg);
		else if (o == 'j')
			c->json = true;
		else
			return -fail("%s: bad option (see `weft %s --help`)", cmd, cmd);
	}
	return optind;
}

static void human_bytes(uint64_t b, char *out, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static void print_peers(const json_t *peers)
{
	size_t i;
	json_t *p;

	printf("%-16s %-15s %-24s %-10s %-10s %-10s %-8s %-9s %s\n", "PEER", "OVERLAY IP",
	       "ENDPOINT", "HANDSHAKE", "RX", "TX", "HEALTH", "RTT", "PATH");
	json_array_foreach(peers, i, p) {
		char rx[16], tx[16], hs[24], rtt[16] = "-";
		json_t *age = json_object_get(p, "handshake_age"), *r = json_object_get(p, "rtt_ms");

		human_bytes((uint64_t)json_integer_value(json_object_get(p, "rx_bytes")), rx,
			    sizeof(rx));
		human_bytes((uint64_t)json_integer_value(json_object_get(p, "tx_bytes")), tx,
			    sizeof(tx));
		if (json_is_integer(age))
			snprintf(hs, sizeof(hs), "%llds ago", (long long)json_integer_value(age));
		else
			snprintf(hs, sizeof(hs), "never");
		if (json_is_real(r))
			snprintf(rtt, sizeof(rtt), "%.2f ms", json_real_value(r));
		printf("%-16s %-15s %-24s %-10s %-10s %-10s %-8s %-9s %s\n", jstr(p, "name"),
		       jstr(p, "ip4"), jstr(p, "endpoint"), hs, rx, tx, jstr(p, "health"), rtt,
		       jstr(p, "path")[0] ? jstr(p, "path") : "-");
	}
}

static int cmd_status(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request q = {.op = DMN_OP_STATUS};
	json_t *j, *node, *svc, *al, *e;
	int i = common_opts(c, argc, argv, "status");
	size_t k;

	if (i < 0)
		return 1;
	if (i != argc)
		return fail("status: unexpected argument '%s'", argv[i]);
	if (call(c, &q, &j))
		return 1;
	if (c->json) {
		json_t *nj = NULL;

		json_object_del(j, "ok");
		/* this node's NAT, reflexive addresses, relay and STUN counters (nat.c) */
		if (!call_quiet(c, &(struct dmn_request){.op = DMN_OP_PEERS}, &nj)) {
			json_object_del(nj, "ok");
			json_object_del(nj, "peers");
			json_object_set_new(j, "nat", nj);
		}
		print_json(j);
		json_decref(j);
		return 0;
	}
	node = json_object_get(j, "node");
	printf("node %s (%s)  overlay %s  %s  slice %s\n", jstr(node, "name"), jstr(node, "role"),
	       jstr(node, "ip4"), jstr(node, "ip6"), jstr(node, "slice"));
	printf("interface %s  port %lld  cluster %s %s  zone %s  leader %s  view %lld%s\n\n",
	       jstr(node, "interface"), (long long)json_integer_value(json_object_get(node, "listen_port")),
	       jstr(node, "cidr4"), jstr(node, "cidr6"), jstr(node, "zone"), jstr(node, "leader"),
	       (long long)json_integer_value(json_object_get(node, "generation")),
	       json_is_true(json_object_get(node, "removed")) ? "  REMOVED from the cluster" : "");
	print_peers(json_object_get(j, "peers"));
	svc = json_object_get(j, "services");
	if (json_array_size(svc)) {
		printf("\n%-16s %-16s %-16s %s\n", "SERVICE", "CONTAINER", "NODE", "ADDRESS");
		json_array_foreach(svc, k, e)
			printf("%-16s %-16s %-16s %s\n", jstr(e, "service"), jstr(e, "container"),
			       jstr(e, "node"), jstr(e, "addr"));
	}
	al = json_object_get(j, "allocations");
	if (al) {
		json_t *nodes = json_object_get(al, "nodes"), *subnets = json_object_get(al, "subnets");

		printf("\nALLOCATIONS");
		if (json_is_string(json_object_get(al, "next_host")))
			printf(" (next host %s)", jstr(al, "next_host"));
		printf("\n");
		json_array_foreach(nodes, k, e)
			printf("  node    %-16s %-15s slice %s\n", jstr(e, "name"), jstr(e, "ip4"),
			       jstr(e, "slice"));
		json_array_foreach(subnets, k, e)
			printf("  subnet  %-16s on %-12s %s\n", jstr(e, "service"), jstr(e, "node"),
			       jstr(e, "subnet"));
	}
	json_decref(j);
	return 0;
}

/* The status's peers with their paths (weftd's nat.c) merged in, as `weft peers` shows them. */
static int cmd_peers(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request q = {.op = DMN_OP_STATUS}, qn = {.op = DMN_OP_PEERS};
	int i = common_opts(c, argc, argv, "peers");
	json_t *j, *nj = NULL, *peers, *np, *p, *e, *relay;
	size_t k, m;

	if (i < 0)
		return 1;
	if (i != argc)
		return fail("peers: unexpected argument '%s'", argv[i]);
	if (call(c, &q, &j))
		return 1;
	if (call_quiet(c, &qn, &nj))
		nj = json_object();
	json_object_del(nj, "ok");
	peers = json_object_get(j, "peers");
	np = json_object_get(nj, "peers");
	json_array_foreach(peers, k, p) {
		json_array_foreach(np, m, e) {
			const char *key;
			json_t *v;

			if (strcmp(jstr(e, "name"), jstr(p, "name")))
				continue;
			json_object_foreach(e, key, v)
				if (!json_object_get(p, key))
					json_object_set(p, key, v);
		}
	}
	if (c->json) { /* the peers, each with its path; the node's NAT is in status --json */
		print_json(peers);
		goto out;
	}
	print_peers(peers);
	printf("\nNAT %s", json_string_value(json_object_get(nj, "type"))
				    ? jstr(nj, "type") : "(not running)");
	json_array_foreach(json_object_get(nj, "reflexive"), k, e)
		printf("%s %s (seen by %s)", k ? "," : "  reflexive", jstr(e, "mapped"),
		       jstr(e, "server"));
	relay = json_object_get(nj, "relay");
	if (relay && strcmp(jstr(relay, "state"), "off")) {
		printf("\nrelay %s: %s", jstr(relay, "server"), jstr(relay, "state"));
		if (jstr(relay, "relayed")[0])
			printf(" at %s", jstr(relay, "relayed"));
		if (jstr(relay, "error")[0])
			printf(" (%s)", jstr(relay, "error"));
	}
	printf("\n");
	json_array_foreach(peers, k, p) {
		bool relayed = !strcmp(jstr(p, "path"), "relay");

		if (!jstr(p, "reason")[0] || !strcmp(jstr(p, "path"), "direct"))
			continue;
		printf("%s: %s%s%s, since %llds: %s\n", jstr(p, "name"), jstr(p, "path"),
		       relayed ? " via " : "", relayed ? jstr(p, "via") : "",
		       (long long)json_integer_value(json_object_get(p, "since_s")),
		       jstr(p, "reason"));
	}
out:
	json_decref(nj);
	json_decref(j);
	return 0;
}

static int cmd_token(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"ttl", required_argument, NULL, 't'},
		{"uses", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	struct dmn_request q = {.op = DMN_OP_TOKEN_CREATE, .ttl = 3600, .uses = 1};
	unsigned long long v;
	json_t *j;
	int o;

	if (argc < 2 || strcmp(argv[1], "create"))
		return fail("token: expected `weft token create [--ttl SECONDS] [--uses N]`");
	argc--;
	argv++;
	while ((o = getopt_long(argc, argv, "d:", lo, NULL)) != -1) {
		if (o == 'd') {
			snprintf(c->dir, sizeof(c->dir), "%s", optarg);
		} else if (o == 't') {
			if (parse_num("--ttl", optarg, 1, DMN_CTL_TTL_MAX, &v))
				return 1;
			q.ttl = v;
		} else if (o == 'u') {
			if (parse_num("--uses", optarg, 1, 1000000, &v))
				return 1;
			q.uses = (uint32_t)v;
		} else {
			return fail("token create: bad option");
		}
	}
	if (optind != argc)
		return fail("token create: unexpected argument '%s'", argv[optind]);
	if (call(c, &q, &j))
		return 1;
	puts(jstr(j, "token"));
	json_decref(j);
	return 0;
}

/* weft endpoint set ADDR[:PORT]: the leader moved (a new underlay address, a NAT). */
static int cmd_endpoint(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request st = {.op = DMN_OP_STATUS}, q = {.op = DMN_OP_ENDPOINT_SET};
	char ep[OV_ENDPOINT_STRLEN];
	json_int_t port;
	json_t *j;
	int i;

	if (argc < 2 || strcmp(argv[1], "set"))
		return fail("endpoint: expected `weft endpoint set IP[:PORT]` (on the leader)");
	i = common_opts(c, argc - 1, argv + 1, "endpoint");
	if (i < 0)
		return 1;
	i += 1;
	if (i + 1 != argc)
		return fail("endpoint set: expected one IP[:PORT]");
	/* A bare address takes the cluster port, which the running node knows. */
	if (call(c, &st, &j))
		return 1;
	port = json_integer_value(json_object_get(json_object_get(j, "node"), "listen_port"));
	json_decref(j);
	if (port < 1 || port > 65535)
		return fail("endpoint set: weftd did not say its port");
	if (parse_endpoint("endpoint set", argv[i], (uint16_t)port, &q.endpoint))
		return 1;
	if (call(c, &q, &j))
		return 1;
	json_decref(j);
	ov_endpoint_format(&q.endpoint, ep);
	printf("the leader's endpoint is %s: new tokens carry it, members learn it from the view\n",
	       ep);
	return 0;
}

static int cmd_node(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request q = {.op = DMN_OP_NODE_REMOVE};
	json_t *j;
	int i;

	if (argc < 2 || strcmp(argv[1], "remove"))
		return fail("node: expected `weft node remove NAME`");
	i = common_opts(c, argc - 1, argv + 1, "node") ;
	if (i < 0)
		return 1;
	i += 1;
	if (i + 1 != argc)
		return fail("node remove: expected one NAME");
	if (!ov_alloc_name_valid(argv[i]))
		return fail("node remove: '%s' is not a node name", argv[i]);
	strcpy(q.name, argv[i]);
	if (call(c, &q, &j))
		return 1;
	printf("node %s removed\n", argv[i]);
	json_decref(j);
	return 0;
}

static int cmd_dns(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request q;
	const char *sub = argc >= 2 ? argv[1] : "";
	json_t *j, *e;
	size_t k;
	int i;

	memset(&q, 0, sizeof(q));
	if (!strcmp(sub, "list"))
		q.op = DMN_OP_DNS_LIST;
	else if (!strcmp(sub, "add"))
		q.op = DMN_OP_DNS_ADD;
	else if (!strcmp(sub, "rm"))
		q.op = DMN_OP_DNS_RM;
	else
		return fail("dns: expected list, add NAME ADDRESS or rm NAME [ADDRESS]");
	i = common_opts(c, argc - 1, argv + 1, "dns");
	if (i < 0)
		return 1;
	i += 1;
	if (q.op != DMN_OP_DNS_LIST) {
		if (i >= argc || argc - i > 2 || (q.op == DMN_OP_DNS_ADD && argc - i != 2))
			return fail("dns %s: expected NAME ADDRESS%s", sub,
				    q.op == DMN_OP_DNS_RM ? " (address optional)" : "");
		if (!dmn_record_name_valid(argv[i]))
			return fail("dns %s: '%s' is not a lower-case DNS name", sub, argv[i]);
		strcpy(q.name, argv[i]);
		if (i + 1 < argc) {
			if (ov_addr_parse(argv[i + 1], 0, &q.addr))
				return fail("dns %s: '%s' is not an IPv4 or IPv6 address", sub,
					    argv[i + 1]);
			q.has_addr = true;
		}
	} else if (i != argc) {
		return fail("dns list: unexpected argument '%s'", argv[i]);
	}
	if (call(c, &q, &j))
		return 1;
	if (q.op == DMN_OP_DNS_LIST) {
		if (c->json) {
			json_object_del(j, "ok");
			print_json(j);
		} else {
			json_array_foreach(json_object_get(j, "records"), k, e)
				printf("%-40s %s\n", jstr(e, "name"), jstr(e, "addr"));
		}
	}
	json_decref(j);
	return 0;
}

/*
 * attach --dns: where the container's resolv.conf is (resolv_file.h) and the temporary file
 * next to it. 0, or 1 after printing why (nothing changed).
 */
static int attach_dns_open(unsigned long long pid, const char *netns, struct ov_resolv_file *f)
{
	struct ov_resolv_target t;
	char err[PATH_MAX + 128];
	int r = ov_resolv_target((unsigned long)pid, netns, &t);

	if (r == -ENOENT)
		return fail("attach --dns: weft does not know which filesystem is the container's "
			    "for --netns %s: give --pid PID, or a namespace of `ip netns` "
			    "(/run/netns/NAME); without --dns, attach prints what to put in its "
			    "resolv.conf",
			    netns);
	if (r)
		return fail("attach --dns: %s: not a namespace name `ip netns` could have made",
			    netns ? netns : "--pid");
	if (ov_resolv_file_open(&t, f, err, sizeof(err)))
		return fail("attach --dns: cannot write %s (nothing attached)", err);
	return 0;
}

/* "nameserver A, nameserver B, search ZONE" and the resolv.conf text from attach's reply.
 * 0, or -ENOENT when the reply has no "dns" (weftd --dns-port 0): line is then "". */
static int attach_dns_line(const json_t *j, char *line, size_t cap, char *text, size_t tcap,
			   const char *cname, const char *service)
{
	const json_t *d = json_object_get(j, "dns"), *ns = json_object_get(d, "nameservers"), *e;
	const char *list[OV_RESOLV_FILE_NS_MAX];
	char note[256];
	size_t n = 0, i, len = 0;

	line[0] = '\0';
	if (!json_is_array(ns) || !json_is_string(json_object_get(d, "search")))
		return -ENOENT;
	json_array_foreach(ns, i, e)
		if (json_is_string(e) && n < OV_RESOLV_FILE_NS_MAX)
			list[n++] = json_string_value(e);
	snprintf(note, sizeof(note),
		 "written by weft attach: the cluster DNS on the gateway of service %s "
		 "(container %s)",
		 service, cname);
	if (ov_resolv_file_format(list, n, jstr(d, "search"), note, text, tcap) < 0)
		return -ENOENT;
	for (size_t k = 0; k < n && len < cap; k++)
		len += (size_t)snprintf(line + len, cap - len, "nameserver %s, ", list[k]);
	if (len < cap)
		snprintf(line + len, cap - len, "search %s", jstr(d, "search"));
	return 0;
}

/* A --dns attach whose resolv.conf could not be written is undone. */
static void attach_undo(struct cli_ctx *c, const char *cname)
{
	struct dmn_request q = {.op = DMN_OP_DETACH};
	json_t *j = NULL;

	strcpy(q.container, cname);
	if (call(c, &q, &j) == 0)
		json_decref(j);
}

static int cmd_attach(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"data-dir", required_argument, NULL, 'd'}, {"service", required_argument, NULL, 's'},
		{"pid", required_argument, NULL, 'p'},	    {"netns", required_argument, NULL, 'n'},
		{"name", required_argument, NULL, 'c'},	    {"port", required_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},	    {"dns", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	struct dmn_request q = {.op = DMN_OP_ATTACH};
	unsigned long long pid = 0;
	const char *netns = NULL, *cname = NULL;
	char path[64], resolv[OV_RESOLV_FILE_TEXT_MAX], ns_line[256];
	struct ov_resolv_file rf = {.dirfd = -1, .tmpfd = -1};
	bool want_dns = false;
	json_t *j;
	int o;

	while ((o = getopt_long(argc, argv, "d:", lo, NULL)) != -1) {
		switch (o) {
		case 'd':
			snprintf(c->dir, sizeof(c->dir), "%s", optarg);
			break;
		case 's':
			if (!ov_alloc_name_valid(optarg))
				return fail("--service: '%s' is not a service name (1-63 of a-z, "
					    "0-9, '-')",
					    optarg);
			strcpy(q.service, optarg);
			break;
		case 'p':
			if (parse_num("--pid", optarg, 1, 4194304, &pid))
				return 1;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'c':
			cname = optarg;
			break;
		case 'P':
			if (q.n_ports >= DMN_CTL_PORTS_MAX)
				return fail("--port: at most %d", DMN_CTL_PORTS_MAX);
			if (dmn_port_parse(optarg, &q.ports[q.n_ports]))
				return fail("--port: '%s' is not NAME:PORT/tcp or NAME:PORT/udp",
					    optarg);
			q.n_ports++;
			break;
		case 'j':
			c->json = true;
			break;
		case 'D':
			want_dns = true;
			break;
		default:
			return fail("attach: bad option (see `weft attach --help`)");
		}
	}
	if (optind != argc)
		return fail("attach: unexpected argument '%s'", argv[optind]);
	if (!q.service[0] || (!pid == !netns))
		return fail("attach: needs --service NAME and one of --pid PID or --netns PATH");
	if (pid) {
		snprintf(path, sizeof(path), "/proc/%llu/ns/net", pid);
		netns = path;
		if (!cname) {
			static char buf[32];

			snprintf(buf, sizeof(buf), "pid-%llu", pid);
			cname = buf;
		}
	}
	if (netns[0] != '/' || strlen(netns) > DMN_CTL_PATH_MAX)
		return fail("--netns: '%s' is not an absolute path", netns);
	if (access(netns, R_OK))
		return fail("attach: %s: %s", netns, strerror(errno));
	if (!cname) {
		const char *base = strrchr(netns, '/') + 1;

		cname = base;
	}
	if (!ov_alloc_name_valid(cname))
		return fail("attach: container name '%s' is not a DNS label (use --name)", cname);
	strcpy(q.netns, netns);
	strcpy(q.container, cname);
	/* --dns: find and prove writable the container's resolv.conf before attaching, so a
	 * place weft cannot write changes nothing. */
	if (want_dns && attach_dns_open(pid, pid ? NULL : netns, &rf))
		return 1;
	if (call(c, &q, &j)) {
		ov_resolv_file_abort(&rf);
		return 1;
	}
	if (attach_dns_line(j, ns_line, sizeof(ns_line), resolv, sizeof(resolv), cname, q.service)) {
		if (want_dns) {
			ov_resolv_file_abort(&rf);
			attach_undo(c, cname);
			json_decref(j);
			return fail("attach --dns: weftd serves no DNS (started with --dns-port 0): "
				    "%s not attached",
				    cname);
		}
	} else if (want_dns) {
		char err[PATH_MAX + 128];

		if (ov_resolv_file_commit(&rf, resolv, strlen(resolv), err, sizeof(err))) {
			attach_undo(c, cname);
			json_decref(j);
			return fail("attach --dns: %s: %s not attached", err, cname);
		}
		json_object_set_new(j, "resolv_conf", json_string(rf.t.shown));
	}
	if (c->json) {
		json_object_del(j, "ok");
		print_json(j);
	} else {
		printf("%s attached to service %s: %s (gateway %s, bridge %s)", cname, q.service,
		       jstr(j, "addr"), jstr(j, "gateway"), jstr(j, "bridge"));
		if (json_is_string(json_object_get(j, "addr6")))
			printf(" and %s", jstr(j, "addr6"));
		printf("\n");
		if (ns_line[0] && want_dns)
			printf("dns: %s: written to %s%s\n", ns_line, rf.t.shown,
			       rf.t.root[0] ? "" : " (`ip netns exec` mounts it on /etc/resolv.conf)");
		else if (ns_line[0])
			printf("dns: %s (give these to the container's runtime, or attach with "
			       "--dns to write its resolv.conf)\n",
			       ns_line);
	}
	json_decref(j);
	return 0;
}

static int cmd_detach(struct cli_ctx *c, int argc, char **argv)
{
	struct dmn_request q = {.op = DMN_OP_DETACH};
	int i = common_opts(c, argc, argv, "detach");
	json_t *j;

	if (i < 0)
		return 1;
	if (i + 1 != argc)
		return fail("detach: expected one container NAME");
	if (!ov_alloc_name_valid(argv[i]))
		return fail("detach: '%s' is not a container name", argv[i]);
	strcpy(q.container, argv[i]);
	if (call(c, &q, &j))
		return 1;
	printf("%s detached\n", argv[i]);
	json_decref(j);
	return 0;
}

static int cmd_doctor(struct cli_ctx *c, int argc, char **argv)
{
	int i = common_opts(c, argc, argv, "doctor");

	if (i < 0)
		return 1;
	if (argc - i > 1)
		return fail("doctor: unexpected argument '%s'", argv[i + 1]);
	return cli_doctor(c->dir, i < argc ? argv[i] : NULL, c->json);
}

static int cmd_help(struct cli_ctx *c, int argc, char **argv);

static const struct cli_cmd commands[] = {
	{"init", cmd_init,
	 "--endpoint IP[:PORT] [--name NAME] [--cidr4 CIDR] [--cidr6 CIDR] [--port PORT] "
	 "[--zone ZONE] [--mtu MTU] [--keepalive SECONDS] [--stun IP:PORT]... "
	 "[--turn turn:IP[:PORT] (--turn-secret-file FILE | --turn-user USER "
	 "--turn-password-file FILE)] [-d DIR]\n"
	 "  Nodes behind NAT: every weftd answers STUN on its WireGuard port; --stun adds a\n"
	 "  server of your own, --turn a TURN server (coturn) to relay through when no direct\n"
	 "  path exists, with its REST shared secret (use-auth-secret) or a static user.\n"
	 "  init only writes the state directory: run weftd on it (`weftd -d DIR`, or a service\n"
	 "  unit) when you are ready. `join` starts weftd itself, because a join is done only\n"
	 "  once the node is up and reachable (its --no-start leaves that to you).",
	 "create a cluster: this node becomes its leader"},
	{"token", cmd_token, "create [--ttl SECONDS] [--uses N] [-d DIR]",
	 "print a join token (leader)"},
	{"join", cmd_join,
	 "(--token-file FILE | -) [--name NAME] [--endpoint IP[:PORT]] [--interface IF] "
	 "[--no-start] [-d DIR]\n"
	 "  The token (from `weft token create` on the leader) is read from FILE, or from stdin\n"
	 "  with -, one line; `weft join TOKEN` works too but shows it to every local user.\n"
	 "  weftd is looked for at $WEFTD, beside weft, in ../daemon from it (the build tree),\n"
	 "  in the install directory (" WEFT_BINDIR "), then in PATH.",
	 "join a cluster and start weftd"},
	{"node", cmd_node, "remove NAME [-d DIR]", "remove a node from the cluster (leader)"},
	{"endpoint", cmd_endpoint,
	 "set IP[:PORT] [-d DIR]\n"
	 "  The address other nodes and new joiners reach the leader at (init --endpoint), when\n"
	 "  it changed; the port defaults to the cluster port.",
	 "change the leader's advertised endpoint (leader)"},
	{"status", cmd_status, "[--json] [-d DIR]", "this node, its peers, services and allocations"},
	{"peers", cmd_peers, "[--json] [-d DIR]", "the peers with handshake, traffic and health"},
	{"dns", cmd_dns, "list | add NAME ADDRESS | rm NAME [ADDRESS]  [--json] [-d DIR]",
	 "the cluster's custom host records"},
	{"attach", cmd_attach,
	 "--service NAME (--pid PID | --netns PATH) [--name NAME] [--port NAME:PORT/PROTO]... [--dns] [-d DIR]",
	 "attach a container's network namespace to a service"},
	{"detach", cmd_detach, "NAME [-d DIR]", "detach a container"},
	{"doctor", cmd_doctor, "[PEER] [--json] [-d DIR]",
	 "check this node and its peers; a verdict and a fix per check"},
	{"help", cmd_help, "[COMMAND]", "this text"},
};

static int cmd_help(struct cli_ctx *c, int argc, char **argv)
{
	(void)c;
	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, argv[1])) {
			printf("Usage: " PROG " %s %s\n  %s\n", commands[i].name, commands[i].args,
			       commands[i].help);
			return 0;
		}
	printf("Usage: " PROG " COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-8s %s\n", commands[i].name, commands[i].help);
	printf("\nThe state directory is %s unless -d DIR or WEFT_DATA_DIR says otherwise.\n"
	       "Join with the token in a file or on stdin, not on the command line:\n"
	       "  " PROG " join --token-file FILE    or    ... | " PROG " join -\n"
	       "WEFTD=PATH names the weftd that `join` starts.\n"
	       "`" PROG " COMMAND --help` shows a command's arguments.\n",
	       OV_STATE_DEFAULT_DIR);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_ctx c = {.json = false};
	const char *env = getenv("WEFT_DATA_DIR");

	snprintf(c.dir, sizeof(c.dir), "%s", env && *env ? env : OV_STATE_DEFAULT_DIR);
	/* A global -d DIR before the command, as well as after it. */
	while (argc >= 3 && (!strcmp(argv[1], "-d") || !strcmp(argv[1], "--data-dir"))) {
		snprintf(c.dir, sizeof(c.dir), "%s", argv[2]);
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return cmd_help(&c, 1, argv), 1;
	if (crypto_init())
		return fail("libcrypto failed to initialise");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, argv[1]))
			continue;
		for (int k = 2; k < argc; k++)
			if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
				char *hv[] = {argv[0], argv[1]};

				return cmd_help(&c, 2, hv);
			}
		return commands[i].fn(&c, argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(&c, 1, argv);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("weft " WEFT_VERSION "\n");
		return 0;
	}
	return fail("unknown command '%s' (see `weft help`)", argv[1]);
}

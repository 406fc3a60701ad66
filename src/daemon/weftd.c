/* SPDX-License-Identifier: MIT */
/*
 * weftd — runs a weft node from its state directory (made by `weft init` or `weft join`):
 * the WireGuard interface with its addresses, MTU and peers, the DNS server, the health
 * checker and the control channels. Daemonizes once everything is up, unless -f.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/metrics_dev.h"
#include "daemon/metrics_http.h"
#include "daemon/node.h"
#include "lib/log.h"
#include "platform/netif.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: weftd [options]\n"
		"Runs a weft node from its state directory.\n\n"
		"  -d, --data-dir DIR         state directory (default " OV_STATE_DEFAULT_DIR ")\n"
		"  -i, --interface NAME       WireGuard interface (default: the one weft join\n"
		"                             --interface saved, else " DMN_DEFAULT_IFNAME ")\n"
		"  -f, --foreground           do not daemonize; log to stderr\n"
		"      --log-file PATH        where a daemonized weftd logs (default DIR/weftd.log)\n"
		"      --log-level LEVEL      error|info|verbose|debug (default info)\n"
		"      --dns-port PORT        DNS service discovery port, 0 = off (default %d)\n"
		"      --resolv-conf PATH     upstream name servers (default /etc/resolv.conf)\n"
		"      --health-interval MS   probe period (default %d)\n"
		"      --health-timeout MS    no reply for this long: down (default %d)\n"
		"      --pull-interval MS     a member's view refresh period (default %d)\n"
		"      --metrics ADDR:PORT    serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                             (loopback or the overlay address; default off)\n"
		"      --metrics-allow-any    let --metrics listen on any address\n"
		"      --metrics-peer-labels=BOOL  per-peer series (default true)\n"
		"  -h, --help\n"
		"      --version\n",
		DMN_DNS_PORT, DMN_HEALTH_INTERVAL_MS, DMN_HEALTH_TIMEOUT_MS, DMN_PULL_INTERVAL_MS);
}

static int parse_uint(const char *flag, const char *s, unsigned long min, unsigned long max,
		      unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max || s[0] == '-' || s[0] == '+') {
		fprintf(stderr, "weftd: %s: '%s' is not a number from %lu to %lu\n", flag, s, min,
			max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int log_fd = -1;
/* Until weftd is up and detached, errors also go to the stderr of whoever started it (weft
 * join, a shell, a unit file), so a failed start is explained where it was asked for. */
static atomic_bool log_tee_stderr;

static void file_sink(enum log_level level, const char *msg, void *ctx)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;

	(void)ctx;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	if (log_fd >= 0)
		dprintf(log_fd, "%s %s %s\n", ts,
			level == LOG_LVL_ERROR	? "error:"
			: level == LOG_LVL_INFO ? "info: "
						: "debug:",
			msg);
	if (atomic_load(&log_tee_stderr) && (level == LOG_LVL_ERROR || log_fd < 0))
		fprintf(stderr, "%s%s\n", strncmp(msg, "weftd: ", 7) ? "weftd: " : "", msg);
}

/* ops: in the foreground under systemd (stderr is the journal's stream: JOURNAL_STREAM is
 * set), each line carries its level as a syslog "<N>" prefix, which journald reads. */
static void journal_sink(enum log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "<%d>%s\n", level == LOG_LVL_ERROR ? 3 : level == LOG_LVL_INFO ? 6 : 7,
		msg);
}

/*
 * The daemon's log file, opened before anything else can fail so that every start-up error
 * is in it. Appended to, created 0600, never through a symlink, and only a regular file of
 * ours: the state directory is checked later (ov_state_lock), and a FIFO or someone else's
 * file planted there must neither block nor receive our log. -1 (said on stderr) when it
 * cannot be used; weftd then still starts and logs start-up errors to stderr.
 */
static int open_log(const char *path)
{
	struct stat st;
	int fd, fl;

	fd = open(path,
		  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
		  0600);
	if (fd < 0) {
		fprintf(stderr, "weftd: log file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		fprintf(stderr, "weftd: log file %s: not a regular file of uid %u: not used\n",
			path, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"interface", required_argument, NULL, 'i'},
		{"foreground", no_argument, NULL, 'f'},
		{"log-file", required_argument, NULL, 'L'},
		{"log-level", required_argument, NULL, 'l'},
		{"dns-port", required_argument, NULL, 'D'},
		{"resolv-conf", required_argument, NULL, 'R'},
		{"health-interval", required_argument, NULL, 'H'},
		{"health-timeout", required_argument, NULL, 'T'},
		{"pull-interval", required_argument, NULL, 'P'},
		{"metrics", required_argument, NULL, 'M'},
		{"metrics-allow-any", no_argument, NULL, 'A'},
		{"metrics-peer-labels", optional_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct dmn_options opt = {
		.metrics_peer_labels = true,
		.dns_port = DMN_DNS_PORT,
		.health_interval_ms = DMN_HEALTH_INTERVAL_MS,
		.health_timeout_ms = DMN_HEALTH_TIMEOUT_MS,
		.pull_interval_ms = DMN_PULL_INTERVAL_MS,
	};
	const char *log_file = NULL;
	char log_path[PATH_MAX + 16];
	struct dmn_node node;
	bool foreground = false;
	int ready[2] = {-1, -1}, c, r;
	unsigned long v;
	sigset_t mask;

	/* The level weftd --help promises. lib/log's own default is error, which is weft-wg's
	 * (as wireguard-go's); weftd never set info, so a daemonized weftd logged nothing but
	 * errors unless started with --log-level. */
	log_set_level(LOG_LVL_INFO);
	strcpy(opt.dir, OV_STATE_DEFAULT_DIR);
	strcpy(opt.ifname, DMN_DEFAULT_IFNAME);
	strcpy(opt.resolv_conf, "/etc/resolv.conf");
	while ((c = getopt_long(argc, argv, "d:i:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (strlen(optarg) >= sizeof(opt.dir) - 32 || optarg[0] == '\0') {
				fprintf(stderr, "weftd: --data-dir: empty or too long\n");
				return 2;
			}
			strcpy(opt.dir, optarg);
			break;
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(opt.ifname) ||
			    strchr(optarg, '/') || strchr(optarg, ' ')) {
				fprintf(stderr,
					"weftd: --interface: '%s' is not an interface name (1 to 15 "
					"bytes, no '/' or space)\n",
					optarg);
				return 2;
			}
			strcpy(opt.ifname, optarg);
			opt.ifname_set = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'L':
			log_file = optarg;
			break;
		case 'l':
			r = log_level_parse(optarg);
			if (r < 0) {
				fprintf(stderr, "weftd: --log-level: unknown level '%s'\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)r);
			break;
		case 'D':
			if (parse_uint("--dns-port", optarg, 0, 65535, &v))
				return 2;
			opt.dns_port = (uint16_t)v;
			break;
		case 'R':
			if (strlen(optarg) >= sizeof(opt.resolv_conf)) {
				fprintf(stderr, "weftd: --resolv-conf: path too long\n");
				return 2;
			}
			strcpy(opt.resolv_conf, optarg);
			break;
		case 'H':
			if (parse_uint("--health-interval", optarg, 100, 3600000, &v))
				return 2;
			opt.health_interval_ms = (unsigned)v;
			break;
		case 'T':
			if (parse_uint("--health-timeout", optarg, 200, 86400000, &v))
				return 2;
			opt.health_timeout_ms = (unsigned)v;
			break;
		case 'P':
			if (parse_uint("--pull-interval", optarg, 100, 86400000, &v))
				return 2;
			opt.pull_interval_ms = (unsigned)v;
			break;
		case 'M': { /* ops: the address is checked against the node's once it is known */
			struct sockaddr_storage sa;

			if (strlen(optarg) >= sizeof(opt.metrics) ||
			    dmn_metrics_addr_parse(optarg, &sa)) {
				fprintf(stderr,
					"weftd: --metrics: '%s' is not IP:PORT or [IPv6]:PORT\n",
					optarg);
				return 2;
			}
			strcpy(opt.metrics, optarg);
			break;
		}
		case 'A':
			opt.metrics_allow_any = true;
			break;
		case 'B':
			r = optarg ? dmn_metrics_parse_bool(optarg) : 1;
			if (r < 0) {
				fprintf(stderr, "weftd: --metrics-peer-labels: '%s' is not true or "
						"false\n",
					optarg);
				return 2;
			}
			opt.metrics_peer_labels = r == 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("weftd " WEFT_VERSION "\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "weftd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* A test hook, not a setting: `weft doctor`'s clock-skew check is tested by shifting the
	 * clock this weftd reports (network namespaces share the host's clock). */
	if (getenv("WEFT_TEST_CLOCK_OFFSET_MS")) {
		const char *s = getenv("WEFT_TEST_CLOCK_OFFSET_MS");
		char *end;

		errno = 0;
		opt.test_clock_offset_ms = strtoll(s, &end, 10);
		if (!*s || *end || errno) {
			fprintf(stderr, "weftd: WEFT_TEST_CLOCK_OFFSET_MS: '%s' is not a number\n", s);
			return 2;
		}
	}
	if (crypto_init()) {
		fprintf(stderr, "weftd: libcrypto failed to initialise\n");
		return 1;
	}
	/* Signals go to the main loop's signalfd; block them before any thread exists. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	if (foreground && getenv("JOURNAL_STREAM"))
		log_set_sink(journal_sink, NULL);
	/* The log first: every later failure, the state directory's included, lands in it. */
	if (!foreground) {
		if (!log_file) {
			snprintf(log_path, sizeof(log_path), "%s/weftd.log", opt.dir);
			log_file = log_path;
		}
		log_fd = open_log(log_file);
		atomic_store(&log_tee_stderr, true);
		log_set_sink(file_sink, NULL);
	}
	if (!foreground) {
		pid_t pid;
		char ch;

		if (pipe2(ready, O_CLOEXEC)) {
			perror("weftd: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("weftd: fork");
			return 1;
		}
		if (pid > 0) {
			close(ready[1]);
			_exit(read(ready[0], &ch, 1) == 1 ? 0 : 1);
		}
		close(ready[0]);
		setsid();
	}
	r = dmn_node_open(&node, &opt);
	if (!r)
		r = dmn_node_up(&node);
	if (r) {
		log_error("weftd: not started");
		dmn_node_close(&node);
		return 1;
	}
	log_info("weftd: node %s (%s) up on %s", node.st.self.name,
		 node.st.role == OV_ROLE_LEADER ? "leader" : "member", node.opt.ifname);
	if (!foreground) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Up: from now on the log only (stderr's owner may be gone). */
		atomic_store(&log_tee_stderr, false);
		if (log_fd < 0)
			log_set_sink(NULL, NULL);
		/* stderr into the log too: sanitizer reports and anything else written there. */
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(log_fd >= 0 ? log_fd : null, STDERR_FILENO);
			close(null);
		}
		if (write(ready[1], "1", 1) != 1) {
			/* the parent is gone; keep serving */
		}
		close(ready[1]);
	}
	r = dmn_node_run(&node);
	dmn_node_close(&node);
	log_info("weftd: stopped");
	return r ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * weft-wg: a userspace WireGuard interface, a drop-in for wireguard-go.
 *
 *   weft-wg [-f|--foreground] IFNAME    create IFNAME and serve its UAPI
 *   weft-wg --stats IFNAME              print the per-reason packet counters of a running one
 *
 * Like wireguard-go it daemonizes once the interface and the socket exist (unless -f or
 * WG_PROCESS_FOREGROUND=1), holding none of its caller's pipes (weft_wg.h), logs to stderr at
 * LOG_LEVEL=error|info|verbose|debug|silent (any case; warn and warning are error; another
 * value is the default, error, with one warning line: the variable is common in containers
 * and must not stop the interface), and exits removing both on SIGINT/SIGTERM, when the
 * socket file is deleted or the interface is.
 * On Windows (weft-wg.exe) it stays in the foreground, serves the UAPI on a named pipe and
 * stops on Ctrl-C or when its console closes (weft_wg_windows.c); the system-specific part
 * is behind weft_wg.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/weft_wg.h"
#include "daemon/weft_wg_metrics.h"
#include "dataplane/device.h"
#include "lib/log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: weft-wg [-f/--foreground] [--metrics ADDR:PORT] INTERFACE-NAME\n"
		"       weft-wg --stats INTERFACE-NAME\n"
		"       weft-wg --version\n"
		"\n"
		"Creates a userspace WireGuard interface driven by `wg` and `wg-quick` through\n"
		"the UAPI at %s.\n"
		"%s"
		"Environment: LOG_LEVEL=error|info|verbose|debug|silent (any case), "
		"WG_PROCESS_FOREGROUND=1,\n"
		"WEFT_CRYPTO_WORKERS=N (-1, the default: one per CPU from 4 CPUs up, else 0;\n"
		"0: crypto inline in the reader threads; N: N workers),\n"
		"WEFT_TUN_QUEUES=N (0, the default: 1 below 4 CPUs, else half the CPUs up to 4;\n"
		"N: N TUN queues, each with a reader thread, 1..8; Linux).\n",
		dmn_wg_uapi_where,
		dmn_wg_foreground_only ? "It always runs in the foreground here; Ctrl-C stops it.\n"
				       : "");
}

/* An integer setting from the environment: 0 (absent or good, *v set) or -1 (told why). */
static int env_int(const char *name, long lo, long hi, const char *what, long *v)
{
	const char *s = getenv(name);
	char *end;
	long n;

	if (!s)
		return 0;
	errno = 0;
	n = strtol(s, &end, 10);
	if (!*s || *end || errno || n < lo || n > hi) {
		fprintf(stderr, "weft-wg: %s must be %s, not '%s'\n", name, what, s);
		return -1;
	}
	*v = n;
	return 0;
}

/*
 * LOG_LEVEL: the level, any case; "warn"/"warning" are error (there is no level between).
 * Anything else is the default level with one warning on stderr (never a refusal to start).
 */
static enum log_level parse_log_level(const char *s)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{"silent", LOG_LVL_SILENT}, {"error", LOG_LVL_ERROR},	{"warn", LOG_LVL_ERROR},
		{"warning", LOG_LVL_ERROR}, {"info", LOG_LVL_INFO},	{"verbose", LOG_LVL_INFO},
		{"debug", LOG_LVL_DEBUG},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].level;
	fprintf(stderr,
		"weft-wg: warning: unknown LOG_LEVEL '%s' (silent, error, info, verbose or debug); "
		"using error\n",
		s);
	return LOG_LVL_ERROR;
}

int main(int argc, char **argv)
{
	struct dp_config cfg = {.uapi_socket = true, .own_signals = true};
	struct dp_device *d;
	bool foreground = false;
	const char *ll = getenv("LOG_LEVEL"), *fg = getenv("WG_PROCESS_FOREGROUND");
	long workers = -2, queues = 0;
	bool keep_log = false;
	int r;

	if (ll && *ll) {
		enum log_level lvl = parse_log_level(ll);

		log_set_level(lvl);
		keep_log = lvl != LOG_LVL_SILENT; /* as wireguard-go: asked for and not silent */
	}
	if (fg && !strcmp(fg, "1"))
		foreground = true;
	if (env_int("WEFT_CRYPTO_WORKERS", -1, 64, "-1 (auto), 0 (inline) or 1..64", &workers) ||
	    env_int("WEFT_TUN_QUEUES", 0, 8, "0 (auto) or 1..8", &queues))
		return 1;
	cfg.tun_queues = (unsigned)queues;
	if (dmn_wg_metrics_args(&argc, argv)) /* --metrics ADDR:PORT (weft_wg_metrics.c) */
		return 1;
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		printf("weft-wg " WEFT_VERSION "\n");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--stats"))
		return dmn_wg_print_stats(argv[2]);
	if (argc == 3 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "--foreground"))) {
		foreground = true;
		cfg.ifname = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		cfg.ifname = argv[1];
	} else {
		usage(stderr);
		return 1;
	}

	r = dp_device_new(&cfg, &d);
	if (r) {
		const char *why = r == -EINVAL	 ? "invalid interface name (1 to 15 bytes)"
				  : r == -EEXIST ? "a link of that name exists and is not a TUN"
				  : r == -EADDRINUSE
					  ? "its UAPI socket is in use by a running daemon"
				  : r == -EBUSY ? "the interface is in use by another process"
						: strerror(-r);

		fprintf(stderr, "weft-wg: cannot create interface %s: %s\n", cfg.ifname, why);
		return 1;
	}

	if (!foreground) {
		r = dmn_wg_daemonize(cfg.ifname, keep_log);
		if (r) {
			fprintf(stderr, "weft-wg: cannot daemonize: %s\n", strerror(-r));
			dp_device_free(d);
			return 1;
		}
	}

	if (workers != -2)
		dp_device_set_crypto_workers(d, (int)workers);
	r = dp_device_start(d);
	if (r) {
		fprintf(stderr, "weft-wg: %s: cannot start threads: %s\n", cfg.ifname,
			strerror(-r));
		dp_device_free(d);
		return 1;
	}
	if (dmn_wg_metrics_start(d)) {
		dp_device_free(d);
		return 1;
	}
	log_info("%s: up, listening on UDP port %u, %u crypto workers", cfg.ifname,
		 dp_device_port(d), dp_device_crypto_workers(d));
	dmn_wg_ready();
	r = dp_device_run(d);
	dmn_wg_metrics_stop();
	dp_device_free(d);
	return r ? 1 : 0;
}

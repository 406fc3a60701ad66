/* SPDX-License-Identifier: MIT */
/*
 * weft-wg: a userspace WireGuard interface, a drop-in for wireguard-go.
 *
 *   weft-wg [-f|--foreground] IFNAME    create IFNAME and serve /var/run/wireguard/IFNAME.sock
 *   weft-wg --stats IFNAME              print the per-reason packet counters of a running one
 *
 * Like wireguard-go it daemonizes once the interface and the socket exist (unless -f or
 * WG_PROCESS_FOREGROUND=1), logs to stderr at LOG_LEVEL=error|info|verbose|debug|silent, and
 * exits removing both on SIGINT/SIGTERM, when the socket file is deleted or the interface is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dataplane/device.h"
#include "lib/log.h"

#define UAPI_DIR "/var/run/wireguard"

static void usage(FILE *f)
{
	fprintf(f, "Usage: weft-wg [-f/--foreground] INTERFACE-NAME\n"
		   "       weft-wg --stats INTERFACE-NAME\n"
		   "       weft-wg --version\n"
		   "\n"
		   "Creates a userspace WireGuard interface driven by `wg` and `wg-quick` through\n"
		   "the UAPI socket " UAPI_DIR "/INTERFACE-NAME.sock.\n"
		   "Environment: LOG_LEVEL=error|info|verbose|debug|silent, "
		   "WG_PROCESS_FOREGROUND=1,\n"
		   "WEFT_CRYPTO_WORKERS=N (-1, the default: one per CPU from 4 CPUs up, else 0;\n"
		   "0: crypto inline in the reader threads; N: N workers).\n");
}

static int print_stats(const char *ifname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	ssize_t n;
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), UAPI_DIR "/%s.sock", ifname) >=
	    (int)sizeof(sa.sun_path)) {
		fprintf(stderr, "weft-wg: interface name too long: %s\n", ifname);
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "weft-wg: cannot reach %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	if (write(fd, "stats=1\n\n", 9) != 9) {
		fprintf(stderr, "weft-wg: %s: %s\n", sa.sun_path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		if (n >= 2 && buf[n - 1] == '\n' && buf[n - 2] == '\n')
			break;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct dp_config cfg = {.uapi_socket = true};
	struct dp_device *d;
	bool foreground = false;
	const char *ll = getenv("LOG_LEVEL"), *fg = getenv("WG_PROCESS_FOREGROUND");
	const char *cw = getenv("WEFT_CRYPTO_WORKERS");
	int ready[2] = {-1, -1}, r, workers = -2;

	if (ll) {
		int lvl = log_level_parse(ll);

		if (lvl < 0) {
			fprintf(stderr, "weft-wg: unknown LOG_LEVEL '%s'\n", ll);
			return 1;
		}
		log_set_level((enum log_level)lvl);
	}
	if (fg && !strcmp(fg, "1"))
		foreground = true;
	if (cw) {
		char *end;
		long v = strtol(cw, &end, 10);

		if (!*cw || *end || v < -1 || v > 64) {
			fprintf(stderr,
				"weft-wg: WEFT_CRYPTO_WORKERS must be -1 (auto), 0 "
				"(inline) or 1..64, not '%s'\n",
				cw);
			return 1;
		}
		workers = (int)v;
	}
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		printf("weft-wg 0.1.0\n");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--stats"))
		return print_stats(argv[2]);
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
		const char *why = r == -EINVAL	     ? "invalid interface name (1 to 15 bytes)"
				  : r == -EEXIST     ? "a link of that name exists and is not a TUN"
				  : r == -EADDRINUSE
					  ? "its UAPI socket is in use by a running daemon"
				  : r == -EBUSY	     ? "the interface is in use by another process"
						     : strerror(-r);

		fprintf(stderr, "weft-wg: cannot create interface %s: %s\n", cfg.ifname, why);
		return 1;
	}

	if (!foreground) {
		pid_t pid;
		char c;

		if (pipe2(ready, O_CLOEXEC)) {
			fprintf(stderr, "weft-wg: pipe: %s\n", strerror(errno));
			dp_device_free(d);
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "weft-wg: fork: %s\n", strerror(errno));
			dp_device_free(d);
			return 1;
		}
		if (pid > 0) {
			/* The parent leaves the interface and socket to the child. */
			close(ready[1]);
			_exit(read(ready[0], &c, 1) == 1 ? 0 : 1);
		}
		close(ready[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			close(null);
		}
	}

	if (workers != -2)
		dp_device_set_crypto_workers(d, workers);
	r = dp_device_start(d);
	if (r) {
		fprintf(stderr, "weft-wg: %s: cannot start threads: %s\n", cfg.ifname,
			strerror(-r));
		dp_device_free(d);
		return 1;
	}
	log_info("%s: up, listening on UDP port %u, %u crypto workers", cfg.ifname,
		 dp_device_port(d), dp_device_crypto_workers(d));
	if (ready[1] >= 0) {
		if (write(ready[1], "1", 1) != 1) {
			/* the parent is gone; keep serving */
		}
		close(ready[1]);
	}
	r = dp_device_run(d);
	dp_device_free(d);
	return r ? 1 : 0;
}

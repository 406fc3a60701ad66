/* SPDX-License-Identifier: MIT */
/* weft_wg.h on Linux: fork with a readiness pipe, stats over the Unix socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/weft_wg.h"

#define UAPI_DIR "/var/run/wireguard"

const char dmn_wg_uapi_where[] = UAPI_DIR "/INTERFACE-NAME.sock";
const bool dmn_wg_foreground_only = false;

static int ready_fd = -1;

int dmn_wg_print_stats(const char *ifname)
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

int dmn_wg_daemonize(void)
{
	int ready[2], null;
	pid_t pid;
	char c;

	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(ready[0]);
		close(ready[1]);
		return r;
	}
	if (pid > 0) {
		/* The parent leaves the interface and socket to the child. */
		close(ready[1]);
		_exit(read(ready[0], &c, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
	ready_fd = ready[1];
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	return 0;
}

void dmn_wg_ready(void)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, "1", 1) != 1) {
		/* the parent is gone; keep serving */
	}
	close(ready_fd);
	ready_fd = -1;
}

/* SPDX-License-Identifier: MIT */
/*
 * weft_wg.h on Linux: fork with a readiness pipe, stats over the Unix socket.
 *
 * Must not: leave the daemon holding a pipe or socket of its caller on fds 0-2 (whoever
 * captures wg-quick's output would wait forever for EOF), or let the waiting parent exit
 * before the child is up (wg-quick configures the interface right after).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/weft_wg.h"
#include "lib/log.h"

#define UAPI_DIR "/var/run/wireguard"
#define DMN_WG_LOG_DIR "/var/log/weft-wg"

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

/* May fd stay open in the daemon? Files and terminals yes; pipes, sockets (and errors) no. */
static bool fd_may_stay(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return false;
	return S_ISREG(st.st_mode) || S_ISCHR(st.st_mode);
}

/* Point fd at /dev/null (open as null, O_RDWR). */
static void to_null(int null, int fd)
{
	if (null >= 0 && null != fd)
		dup2(null, fd);
}

/* The log file's lines carry the time (UTC), which a terminal's reader does not need. */
static void file_sink(enum log_level level, const char *msg, void *ctx)
{
	static const char *const names[] = {"", "ERROR", "INFO", "DEBUG"};
	struct timespec ts;
	struct tm tm;
	char when[32] = "";

	(void)ctx;
	if (!clock_gettime(CLOCK_REALTIME, &ts) && gmtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	fprintf(stderr, "%s%s: %s\n", when, level <= LOG_LVL_DEBUG ? names[level] : "", msg);
}

/*
 * stderr for a daemon that logs while its caller's stderr is a pipe or a socket: the log
 * file, after telling the caller where it is. -errno when it cannot be opened.
 */
static int stderr_to_log_file(const char *ifname)
{
	char path[sizeof(DMN_WG_LOG_DIR) + 64];
	int fd;

	if (snprintf(path, sizeof(path), DMN_WG_LOG_DIR "/%s.log", ifname) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(DMN_WG_LOG_DIR, 0750) && errno != EEXIST)
		return -errno;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	fprintf(stderr, "weft-wg: %s: logging to %s\n", ifname, path);
	fflush(stderr);
	if (dup2(fd, STDERR_FILENO) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	log_set_sink(file_sink, NULL);
	return 0;
}

int dmn_wg_daemonize(const char *ifname, bool keep_log)
{
	int ready[2], null, r;
	pid_t pid;
	char c;

	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(ready[0]);
		close(ready[1]);
		return r;
	}
	if (pid > 0) {
		/* The parent leaves the interface and socket to the child. */
		close(ready[1]);
		if (read(ready[0], &c, 1) == 1)
			_exit(0);
		fprintf(stderr, "weft-wg: %s: the daemon stopped before it was up%s\n", ifname,
			keep_log ? " (see its log)" : "; LOG_LEVEL=error shows why");
		_exit(1);
	}
	close(ready[0]);
	ready_fd = ready[1];
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	to_null(null, STDIN_FILENO);
	to_null(null, STDOUT_FILENO); /* the daemon writes nothing there; stats go to a client */
	if (!keep_log) {
		to_null(null, STDERR_FILENO);
	} else if (!fd_may_stay(STDERR_FILENO)) {
		r = stderr_to_log_file(ifname);
		if (r) {
			fprintf(stderr, "weft-wg: %s: cannot open a log file in %s (%s); not logging\n",
				ifname, DMN_WG_LOG_DIR, strerror(-r));
			to_null(null, STDERR_FILENO);
		}
	}
	if (null > STDERR_FILENO)
		close(null);
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

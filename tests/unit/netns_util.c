/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the namespace tests (netns_util.h). Must not: leave the calling thread in
 * another namespace.
 */
#include "netns_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

enum { ARGS_MAX = 32 };

int tnet_new(void)
{
	int self, fd;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	if (unshare(CLONE_NEWNET) < 0) {
		fd = -errno;
		close(self);
		return fd;
	}
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* stuck in the wrong namespace: no test result would mean anything */
	close(self);
	return fd;
}

int tnet_run(int nsfd, char *out, size_t len, const char *const argv[])
{
	int p[2], status;
	size_t got = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			_exit(126);
		dup2(p[1], 1);
		if (null >= 0)
			dup2(null, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		char sink[256];
		ssize_t n;

		if (out && got + 1 < len)
			n = read(p[0], out + got, len - 1 - got);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && got + 1 < len)
			got += (size_t)n;
	}
	if (out && len)
		out[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tnet_runv(int nsfd, char *out, size_t len, const char *arg0, ...)
{
	const char *argv[ARGS_MAX];
	va_list ap;
	int n = 0;

	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < ARGS_MAX - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return tnet_run(nsfd, out, len, argv);
}

bool tnet_has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

int tnet_read_file(const char *path, char *out, size_t len)
{
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, out, len - 1);
	if (n < 0)
		r = -errno;
	else
		out[n] = '\0';
	close(fd);
	return r;
}

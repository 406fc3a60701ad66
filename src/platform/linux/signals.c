/* SPDX-License-Identifier: MIT */
/* platform/signals.h on Linux: SIGINT, SIGTERM and SIGHUP blocked and read from a signalfd. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "platform/signals.h"

struct plat_signals {
	int fd;
};

int plat_signals_open(struct plat_signals **ret)
{
	struct plat_signals *s = malloc(sizeof(*s));
	sigset_t mask;

	if (!s)
		return -ENOMEM;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	s->fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->fd < 0) {
		int r = -errno;

		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int plat_signals_fd(const struct plat_signals *s)
{
	return s->fd;
}

int plat_signals_read(struct plat_signals *s)
{
	struct signalfd_siginfo si;
	ssize_t n = read(s->fd, &si, sizeof(si));

	if (n == (ssize_t)sizeof(si))
		return (int)si.ssi_signo;
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

void plat_signals_close(struct plat_signals *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

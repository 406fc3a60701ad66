/* SPDX-License-Identifier: MIT */
/* platform/wakeup.h on Linux: an eventfd (non-blocking, close-on-exec). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "platform/wakeup.h"

struct plat_wakeup {
	int fd;
};

int plat_wakeup_open(struct plat_wakeup **ret)
{
	struct plat_wakeup *w = malloc(sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0) {
		int r = -errno;

		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void plat_wakeup_signal(struct plat_wakeup *w)
{
	uint64_t one = 1;

	if (write(w->fd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN (counter saturated) is possible: it is signalled already. */
	}
}

int plat_wakeup_wait(struct plat_wakeup *w, int timeout_ms)
{
	struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
	uint64_t v;
	int r;

	do
		r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

int plat_wakeup_fd(const struct plat_wakeup *w)
{
	return w->fd;
}

void plat_wakeup_close(struct plat_wakeup *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w);
}

/* SPDX-License-Identifier: MIT */
/* platform/thread.h on Linux (glibc). */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "platform/thread.h"

int plat_rwlock_init_writer_first(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t ra;
	int r;

	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	r = pthread_rwlock_init(l, &ra);
	pthread_rwlockattr_destroy(&ra);
	return -r;
}

int plat_with_signals_blocked(int (*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = fn(arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

unsigned plat_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

/* SPDX-License-Identifier: MIT */
/* platform/thread.h on Windows (winpthreads, as the mingw-w64 posix toolchain links it). */
#include <errno.h>

#include "platform/thread.h"
#include "platform/windows/win.h"

int plat_rwlock_init_writer_first(pthread_rwlock_t *l)
{
	/* No pthread_rwlockattr_setkind_np in winpthreads: its default lock (README). */
	return -pthread_rwlock_init(l, NULL);
}

int plat_with_signals_blocked(int (*fn)(void *), void *arg)
{
	return fn(arg);
}

unsigned plat_cpu_count(void)
{
	SYSTEM_INFO si;

	GetSystemInfo(&si);
	return si.dwNumberOfProcessors ? (unsigned)si.dwNumberOfProcessors : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * What threads need from the system beyond pthreads (which both systems have: glibc, and
 * winpthreads on Windows): a reader-writer lock that lets a waiting writer in before new
 * readers, threads that never receive signals, and the CPU count.
 *
 * OS-neutral contract; platform/<os>/thread.c implements it. No logging.
 */
#ifndef WEFT_PLATFORM_THREAD_H
#define WEFT_PLATFORM_THREAD_H

#include <pthread.h>

/*
 * Initialise l so that writers are preferred: a waiting writer is not starved by a stream
 * of readers (a configuration change under a full data path). Linux: glibc's
 * PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP. Windows: winpthreads has no such attribute;
 * its default lock is used. 0 or -errno.
 */
int plat_rwlock_init_writer_first(pthread_rwlock_t *l);

/*
 * Run fn(arg) with every signal blocked on the calling thread, then restore its mask, and
 * return what fn returned: threads fn creates inherit the mask, so signals stay with the
 * thread that waits for them (Linux: the control loop's signalfd). Windows has no signal
 * masks (console events arrive on a thread of their own): fn is just called.
 */
int plat_with_signals_blocked(int (*fn)(void *), void *arg);

/* Online CPUs, >= 1. */
unsigned plat_cpu_count(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A wake-up for a control loop: any thread (or a signal handler, or a console control
 * handler) signals it, the loop waiting on it returns. Level-triggered: a signal before the
 * wait is not lost.
 *
 * OS-neutral contract; platform/<os>/wakeup.c implements it (Linux: an eventfd the loop
 * polls; Windows: an auto-reset event the loop waits on). No OS headers here. No logging.
 */
#ifndef WEFT_PLATFORM_WAKEUP_H
#define WEFT_PLATFORM_WAKEUP_H

struct plat_wakeup;

/* 0 or -errno; *ret only on success. */
int plat_wakeup_open(struct plat_wakeup **ret);
/* Wake the loop. Thread-safe and async-signal-safe. */
void plat_wakeup_signal(struct plat_wakeup *w);
/*
 * Wait up to timeout_ms (-1 = no limit) for a signal and consume it: 1 woken, 0 timeout,
 * -errno. For loops that wait on nothing else (Windows); a loop that polls other fds too
 * polls plat_wakeup_fd instead.
 */
int plat_wakeup_wait(struct plat_wakeup *w, int timeout_ms);
/* The fd to poll for POLLIN (Linux), -1 where there is none (Windows). */
int plat_wakeup_fd(const struct plat_wakeup *w);
/* NULL-safe. */
void plat_wakeup_close(struct plat_wakeup *w);

#endif

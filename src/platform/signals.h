/* SPDX-License-Identifier: MIT */
/*
 * The stop signals of a daemon (SIGINT, SIGTERM, SIGHUP on POSIX; console events where the
 * daemon runs on Windows) as something its loop polls: they never interrupt a thread, they
 * wait in the handle until the loop reads them.
 *
 * OS-neutral contract; platform/<os>/signals.c implements it (Linux: a signalfd; the signals
 * must be blocked in every thread, which plat_signals_open does for the calling thread and
 * every thread created after it). No OS headers here. No logging.
 */
#ifndef WEFT_PLATFORM_SIGNALS_H
#define WEFT_PLATFORM_SIGNALS_H

struct plat_signals;

/* 0 or -errno; *ret only on success. */
int plat_signals_open(struct plat_signals **ret);
/* The fd to poll for POLLIN. */
int plat_signals_fd(const struct plat_signals *s);
/* The next pending signal's number, 0 if none, -errno. */
int plat_signals_read(struct plat_signals *s);
/* NULL-safe. */
void plat_signals_close(struct plat_signals *s);

#endif

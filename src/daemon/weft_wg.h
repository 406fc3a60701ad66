/* SPDX-License-Identifier: MIT */
/*
 * What weft-wg's main (weft_wg.c) needs from its system: detaching from the terminal and
 * reaching a running interface's UAPI. weft_wg_posix.c (fork, the Unix socket) and
 * weft_wg_windows.c (foreground only, the named pipe) implement it.
 */
#ifndef WEFT_DAEMON_WEFT_WG_H
#define WEFT_DAEMON_WEFT_WG_H

#include <stdbool.h>

/* Where the UAPI of INTERFACE-NAME is served, for the usage text. */
extern const char dmn_wg_uapi_where[];
/* True where weft-wg cannot daemonize (it always runs in the foreground). */
extern const bool dmn_wg_foreground_only;

/* "stats=1" to ifname's UAPI, the reply on stdout; the exit status (0 or 1, with a message). */
int dmn_wg_print_stats(const char *ifname);

/*
 * Leave the foreground: returns 0 in the process that carries on (the parent waits until
 * dmn_wg_ready, then exits 0, or 1 if the child died first), or -errno with nothing done.
 * The process that carries on never holds the caller's stdin, stdout or stderr if one of
 * them is a pipe or a socket (a caller capturing the output, `$(wg-quick up x)` or `| tee`,
 * waits for EOF on it): stdin and stdout become /dev/null; stderr too unless keep_log
 * (LOG_LEVEL was given and is not silent, as wireguard-go decides), and then it is kept if
 * it is a file or a terminal, else it becomes the append-only file DMN_WG_LOG_DIR/IFNAME.log,
 * which is said on the caller's stderr first.
 * Where dmn_wg_foreground_only, returns 0 and nothing happens.
 */
int dmn_wg_daemonize(const char *ifname, bool keep_log);
/* The interface is up: let the waiting parent exit. */
void dmn_wg_ready(void);

#endif

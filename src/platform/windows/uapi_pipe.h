/* SPDX-License-Identifier: MIT */
/*
 * The UAPI transport on Windows: the named pipe \\.\pipe\ProtectedPrefix\Administrators\
 * WireGuard\IFNAME, where wireguard-go serves it on Windows and where WireGuard's wg.exe
 * looks for it. Only Administrators can create pipes under ProtectedPrefix\Administrators
 * (no squatting by other users), and the pipe's DACL lets in only SYSTEM and Administrators.
 *
 * This is framing only, like the Unix socket of dataplane/control.c: an operation line
 * ("get=1", "set=1", or weft's "stats=1" when the caller serves it), for set the body lines up to
 * the empty line (or EOF), then a reply ending in "errno=N\n\n", N = -errno as wireguard-go
 * answers (0 on success). What a request means is the caller's (the
 * device's): it plugs in the UAPI codec (dataplane/uapi.c) through struct plat_uapi_ops, so the
 * platform layer does not depend on the dataplane. An unknown operation is hung up on; a set
 * request that ends at EOF is applied and answered (as wireguard-go); one cut by an error or
 * a timeout is dropped; a line longer than PLAT_UAPI_MAX_LINE answers errno=-22 and hangs up.
 * Clients are served one at a time (the next one can already connect and wait); reads and writes
 * time out after PLAT_UAPI_IO_TIMEOUT_MS. Must not log.
 */
#ifndef WEFT_PLATFORM_WINDOWS_UAPI_PIPE_H
#define WEFT_PLATFORM_WINDOWS_UAPI_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/strbuf.h"
#include "platform/windows/win.h"

enum {
	PLAT_UAPI_MAX_LINE = 4096,	/* = UAPI_MAX_LINE */
	PLAT_UAPI_IO_TIMEOUT_MS = 5000, /* per read or write on a connection */
	PLAT_UAPI_MAX_REPLY = 1 << 27,	/* = UAPI_MAX_REPLY */
	PLAT_UAPI_PIPE_PATH_MAX = 128,	/* characters of the pipe path, NUL included */
};

#define PLAT_UAPI_PIPE_PREFIX L"\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\"

struct plat_uapi_ops {
	/* "get=1": append the whole reply, ending "errno=0\n\n" (as dp_device_get does). */
	int (*get)(void *ctx, struct strbuf *out);
	/* "set=1": a new request starts; returns its state (NULL = out of memory: errno=-12). */
	void *(*set_begin)(void *ctx);
	/* One body line, len bytes, no '\n' (may hold keys: the server wipes it afterwards). */
	void (*set_line)(void *state, const char *line, size_t len);
	/*
	 * The request ended: complete is true at its empty line or at EOF (apply it, return 0
	 * or -errno for the errno= reply), false when it was cut by an error (discard it).
	 * Frees state either way.
	 */
	int (*set_finish)(void *state, bool complete);
	/*
	 * "stats=1", weft's extra operation (optional: NULL makes it an unknown operation):
	 * append the whole reply, ending "errno=0\n\n", like get.
	 */
	int (*stats)(void *ctx, struct strbuf *out);
};

struct plat_uapi_pipe;

/* The pipe path for ifname into out. 0 or -EINVAL (empty, too long, or a '\\' or '/'). */
int plat_uapi_pipe_path(const char *ifname, wchar_t out[PLAT_UAPI_PIPE_PATH_MAX]);

/*
 * Create the pipe and start serving on a thread of its own. -EADDRINUSE when another
 * server has the name, -EPERM when not allowed to create it (not Administrator), -EINVAL.
 */
int plat_uapi_pipe_open(const char *ifname, const struct plat_uapi_ops *ops, void *ctx,
			struct plat_uapi_pipe **ret);
/* Stop serving (a connection in progress is cut) and close the pipe. NULL-safe. */
void plat_uapi_pipe_close(struct plat_uapi_pipe *p);

/*
 * A client: connect to ifname's pipe, send request (len bytes, as wg.exe would), read the
 * reply up to and including its "errno=N\n\n" into reply. 0, -ENOENT (no such pipe),
 * -ETIMEDOUT, -EPIPE (the server hung up before a complete reply; reply holds what came).
 */
int plat_uapi_pipe_call(const char *ifname, const char *request, size_t len, struct strbuf *reply);

#endif

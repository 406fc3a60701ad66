/* SPDX-License-Identifier: MIT */
/*
 * The named-pipe UAPI server and client (see uapi_pipe.h). All pipe I/O is overlapped so
 * that every wait can also be cut short by the stop event and bounded by a timeout.
 * Must not: let a client hold the thread forever, keep a request line in memory unwiped, or
 * log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/windows/uapi_pipe.h"

#include <sddl.h> /* after windows.h, which it needs */

/* SYSTEM and Administrators only, no inheritance; high integrity label (as wireguard-go). */
static const wchar_t pipe_sddl[] = L"D:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)";

struct plat_uapi_pipe {
	HANDLE pipe; /* the instance being served or waited on */
	HANDLE stop, thread, io_event;
	PSECURITY_DESCRIPTOR sd;
	wchar_t path[PLAT_UAPI_PIPE_PATH_MAX];
	const struct plat_uapi_ops *ops;
	void *ctx;
};

/*
 * A pipe instance: the first one must be the first of its name (another server, or a
 * squatter, has it otherwise); later ones let the next client connect while one is served,
 * so that a client that does not retry on ERROR_PIPE_BUSY (wg.exe) is never refused.
 */
static HANDLE new_instance(struct plat_uapi_pipe *p, bool first)
{
	SECURITY_ATTRIBUTES sa = {
		.nLength = sizeof(sa), .lpSecurityDescriptor = p->sd, .bInheritHandle = FALSE};

	return CreateNamedPipeW(p->path,
				PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
					(first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
				PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
					PIPE_REJECT_REMOTE_CLIENTS,
				PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, &sa);
}

int plat_uapi_pipe_path(const char *ifname, wchar_t out[PLAT_UAPI_PIPE_PATH_MAX])
{
	wchar_t name[PLAT_UAPI_PIPE_PATH_MAX];
	size_t plen = wcslen(PLAT_UAPI_PIPE_PREFIX);

	if (!ifname || !*ifname || strchr(ifname, '\\') || strchr(ifname, '/'))
		return -EINVAL;
	if (plat_win_utf8_to_wide(ifname, name, PLAT_UAPI_PIPE_PATH_MAX - plen) < 0)
		return -EINVAL;
	memcpy(out, PLAT_UAPI_PIPE_PREFIX, plen * sizeof(wchar_t));
	memcpy(out + plen, name, (wcslen(name) + 1) * sizeof(wchar_t));
	return 0;
}

/*
 * One overlapped read or write of up to len bytes; waits for it, for stop (if not NULL) and
 * for timeout_ms. Bytes moved (0 = the other end closed), -ETIMEDOUT, -ECANCELED, -EPIPE.
 */
static int pipe_io(HANDLE h, HANDLE ev, void *buf, DWORD len, bool write, HANDLE stop,
		   DWORD timeout_ms)
{
	OVERLAPPED ov;
	HANDLE w[2] = {ev, stop};
	DWORD n = 0, e, r;
	BOOL ok;

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	ResetEvent(ev);
	ok = write ? WriteFile(h, buf, len, NULL, &ov) : ReadFile(h, buf, len, NULL, &ov);
	if (!ok && (e = GetLastError()) != ERROR_IO_PENDING)
		return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA || e == ERROR_PIPE_NOT_CONNECTED
			       ? (write ? -EPIPE : 0)
			       : plat_win_errno(e);
	r = WaitForMultipleObjects(stop ? 2 : 1, w, FALSE, timeout_ms);
	if (r != WAIT_OBJECT_0) {
		CancelIoEx(h, &ov);
		GetOverlappedResult(h, &ov, &n, TRUE); /* wait for the cancel to land */
		return r == WAIT_TIMEOUT ? -ETIMEDOUT : -ECANCELED;
	}
	if (!GetOverlappedResult(h, &ov, &n, FALSE)) {
		e = GetLastError();
		if (e == ERROR_MORE_DATA)
			return (int)n;
		return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED
			       ? (write ? -EPIPE : 0)
			       : plat_win_errno(e);
	}
	return (int)n;
}

static int write_all(HANDLE h, HANDLE ev, const char *p, size_t len, HANDLE stop)
{
	while (len) {
		DWORD chunk = len > (1u << 20) ? (1u << 20) : (DWORD)len;
		int n = pipe_io(h, ev, (void *)p, chunk, true, stop, PLAT_UAPI_IO_TIMEOUT_MS);

		if (n <= 0)
			return n < 0 ? n : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct line_reader {
	HANDLE h, ev, stop;
	bool unterminated; /* the last line returned was cut by EOF (no '\n'); 0 comes next */
	bool eof;
	char buf[2 * PLAT_UAPI_MAX_LINE + 2];
	size_t start, end;
};

/*
 * 1 = a line (NUL-terminated in place, no '\n'), 0 = EOF, -E2BIG = too long, -errno. Bytes
 * after the last '\n' at EOF are a line too (lr->unterminated says so), as in wireguard-go.
 */
static int read_line(struct line_reader *lr, char **line, size_t *len)
{
	lr->unterminated = false;
	for (;;) {
		char *nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
		int n;

		if (nl) {
			*line = lr->buf + lr->start;
			*len = (size_t)(nl - *line);
			*nl = 0;
			lr->start = (size_t)(nl - lr->buf) + 1;
			return *len > PLAT_UAPI_MAX_LINE ? -E2BIG : 1;
		}
		if (lr->end - lr->start > PLAT_UAPI_MAX_LINE)
			return -E2BIG;
		if (lr->eof && lr->end > lr->start) {
			*line = lr->buf + lr->start;
			*len = lr->end - lr->start;
			lr->buf[lr->end] = 0; /* reads leave this byte free */
			lr->start = lr->end;
			lr->unterminated = true;
			return 1;
		}
		if (lr->eof)
			return 0;
		if (lr->start) {
			memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
			SecureZeroMemory(lr->buf + lr->end - lr->start, lr->start);
			lr->end -= lr->start;
			lr->start = 0;
		}
		n = pipe_io(lr->h, lr->ev, lr->buf + lr->end,
			    (DWORD)(sizeof(lr->buf) - lr->end - 1), false, lr->stop,
			    PLAT_UAPI_IO_TIMEOUT_MS);
		if (n < 0)
			return n;
		if (n == 0)
			lr->eof = true;
		lr->end += (size_t)n;
	}
}

/*
 * The number an "errno=" reply carries, negated by reply_errno. The protocol's numbers are
 * Linux's, on Windows too: wireguard-go answers -5 (I/O), -71 (protocol), -22 (invalid),
 * -98 (port in use) and -55 for anything else there, while mingw's <errno.h> has other
 * values for some of them (EADDRINUSE is 100, EPROTO 134).
 */
static int uapi_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return 0;
	case EIO:
		return 5;
	case ENOMEM:
		return 12;
	case EINVAL:
		return 22;
	case ENOSPC:
		return 28;
	case EPROTO:
		return 71;
	case EADDRINUSE:
		return 98;
	default:
		return 55;
	}
}

/* "errno=-N", wireguard-go's sign: wg negates N into errno (-98: "Address already in use"). */
static int reply_errno(struct plat_uapi_pipe *p, int err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "errno=%d\n\n", -uapi_errno(err));

	return write_all(p->pipe, p->io_event, buf, (size_t)n, p->stop);
}

/*
 * Returns false when the connection must end. A request cut by EOF (the client closed its
 * end after its last line) is complete there and applied, as wireguard-go does; one cut by
 * an error, a timeout or an overlong line is dropped.
 */
static bool serve_set(struct plat_uapi_pipe *p, struct line_reader *lr)
{
	void *st = p->ops->set_begin(p->ctx);
	char *line;
	size_t len;
	int r, err;

	if (!st) {
		reply_errno(p, ENOMEM);
		return false;
	}
	for (;;) {
		r = read_line(lr, &line, &len);
		if (r <= 0 || len == 0)
			break;
		p->ops->set_line(st, line, len);
		SecureZeroMemory(line, len); /* lines carry private and preshared keys */
	}
	if (r < 0) {
		p->ops->set_finish(st, false);
		if (r == -E2BIG)
			reply_errno(p, EINVAL);
		return false;
	}
	err = p->ops->set_finish(st, true);
	return reply_errno(p, err) == 0 && r == 1;
}

/* get=1 or stats=1: fill appends the whole reply. */
static bool serve_text(struct plat_uapi_pipe *p, struct line_reader *lr,
		       int (*fill)(void *ctx, struct strbuf *out))
{
	struct strbuf out;
	char *line;
	size_t len;
	int r;

	/* The operation line must be followed by the empty line (wireguard-go: else EINVAL). */
	r = read_line(lr, &line, &len);
	if (r != 1 || len != 0) {
		reply_errno(p, EINVAL);
		return false;
	}
	strbuf_init(&out, PLAT_UAPI_MAX_REPLY);
	r = fill(p->ctx, &out);
	if (r)
		r = reply_errno(p, r);
	else
		r = write_all(p->pipe, p->io_event, strbuf_str(&out), out.len, p->stop);
	strbuf_free(&out);
	return r == 0;
}

static void serve_client(struct plat_uapi_pipe *p)
{
	struct line_reader *lr = calloc(1, sizeof(*lr));
	char *line;
	size_t len;

	if (!lr)
		return;
	lr->h = p->pipe;
	lr->ev = p->io_event;
	lr->stop = p->stop;
	for (;;) {
		int r = read_line(lr, &line, &len);
		bool go_on;

		if (r == -E2BIG)
			reply_errno(p, EINVAL);
		if (r != 1 || lr->unterminated)
			break; /* an operation line cut by EOF: nothing to answer, as wireguard-go */
		if (!strcmp(line, "get=1"))
			go_on = serve_text(p, lr, p->ops->get);
		else if (!strcmp(line, "set=1"))
			go_on = serve_set(p, lr);
		else if (!strcmp(line, "stats=1") && p->ops->stats)
			go_on = serve_text(p, lr, p->ops->stats);
		else
			go_on = false; /* unknown operation: hang up, as wireguard-go does */
		if (!go_on)
			break;
	}
	SecureZeroMemory(lr, sizeof(*lr));
	free(lr);
}

static DWORD WINAPI serve_thread(void *arg)
{
	struct plat_uapi_pipe *p = arg;
	HANDLE connected = CreateEventW(NULL, TRUE, FALSE, NULL);

	if (!connected)
		return 1;
	for (;;) {
		OVERLAPPED ov;
		HANDLE w[2] = {connected, p->stop}, next;
		DWORD r, n;
		BOOL ok;

		memset(&ov, 0, sizeof(ov));
		ov.hEvent = connected;
		ResetEvent(connected);
		ok = ConnectNamedPipe(p->pipe, &ov);
		if (!ok && GetLastError() == ERROR_IO_PENDING) {
			r = WaitForMultipleObjects(2, w, FALSE, INFINITE);
			if (r != WAIT_OBJECT_0) {
				CancelIoEx(p->pipe, &ov);
				GetOverlappedResult(p->pipe, &ov, &n, TRUE);
				break;
			}
			ok = GetOverlappedResult(p->pipe, &ov, &n, FALSE);
		} else if (!ok && GetLastError() == ERROR_PIPE_CONNECTED) {
			ok = TRUE; /* the client connected between CreateNamedPipe and here */
		}
		if (WaitForSingleObject(p->stop, 0) == WAIT_OBJECT_0)
			break;
		/* The next client may connect (and wait) while this one is served. */
		next = new_instance(p, false);
		if (ok)
			serve_client(p);
		else
			WaitForSingleObject(p->stop,
					    10); /* no spinning on a pipe that keeps failing */
		FlushFileBuffers(p->pipe);
		DisconnectNamedPipe(p->pipe);
		if (next != INVALID_HANDLE_VALUE) {
			CloseHandle(p->pipe);
			p->pipe = next;
		}
	}
	CloseHandle(connected);
	return 0;
}

int plat_uapi_pipe_open(const char *ifname, const struct plat_uapi_ops *ops, void *ctx,
			struct plat_uapi_pipe **ret)
{
	struct plat_uapi_pipe *p;
	DWORD e;
	int r;

	if (!ops || !ops->get || !ops->set_begin || !ops->set_line || !ops->set_finish || !ret)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->ctx = ctx;
	r = plat_uapi_pipe_path(ifname, p->path);
	if (r < 0) {
		plat_win_set_error("UAPI pipe: bad interface name");
		goto fail;
	}
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(pipe_sddl, SDDL_REVISION_1,
								  &p->sd, NULL)) {
		e = GetLastError();
		plat_win_set_error("ConvertStringSecurityDescriptorToSecurityDescriptorW failed: "
				   "Win32 error %lu",
				   (unsigned long)e);
		r = plat_win_errno(e);
		goto fail;
	}
	/*
	 * FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name in use on Windows, but Wine ignores it:
	 * ask first whether any server has the name (ERROR_FILE_NOT_FOUND means none).
	 */
	if (WaitNamedPipeW(p->path, 1) || GetLastError() != ERROR_FILE_NOT_FOUND) {
		plat_win_set_error("UAPI pipe of '%s' is in use by another server", ifname);
		r = -EADDRINUSE;
		goto fail;
	}
	p->pipe = new_instance(p, true);
	if (p->pipe == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		p->pipe = NULL;
		plat_win_set_error("CreateNamedPipeW(\\\\."
				   "\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\%s) "
				   "failed: Win32 error %lu%s",
				   ifname, (unsigned long)e,
				   e == ERROR_ACCESS_DENIED ? " (in use, or not Administrator)"
				   : e == ERROR_PIPE_BUSY   ? " (in use)"
							    : "");
		r = e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY ? -EADDRINUSE
								     : plat_win_errno(e);
		goto fail;
	}
	p->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	p->io_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!p->stop || !p->io_event) {
		r = plat_win_errno(GetLastError());
		goto fail;
	}
	p->thread = CreateThread(NULL, 0, serve_thread, p, 0, NULL);
	if (!p->thread) {
		r = plat_win_errno(GetLastError());
		goto fail;
	}
	*ret = p;
	return 0;

fail:
	plat_uapi_pipe_close(p);
	return r;
}

void plat_uapi_pipe_close(struct plat_uapi_pipe *p)
{
	if (!p)
		return;
	if (p->thread) {
		SetEvent(p->stop);
		WaitForSingleObject(p->thread, INFINITE);
		CloseHandle(p->thread);
	}
	if (p->pipe)
		CloseHandle(p->pipe);
	if (p->stop)
		CloseHandle(p->stop);
	if (p->io_event)
		CloseHandle(p->io_event);
	if (p->sd)
		LocalFree(p->sd);
	free(p);
}

/* Does the text end with a complete "errno=N\n\n" reply? */
static bool reply_complete(const struct strbuf *sb)
{
	const char *s = strbuf_str(sb), *last;

	if (sb->len < 2 || s[sb->len - 1] != '\n' || s[sb->len - 2] != '\n')
		return false;
	/* The line before the final empty one must be errno=... */
	last = sb->len >= 3 ? s + sb->len - 2 : s;
	while (last > s && last[-1] != '\n')
		last--;
	return !strncmp(last, "errno=", 6);
}

int plat_uapi_pipe_call(const char *ifname, const char *request, size_t len, struct strbuf *reply)
{
	wchar_t path[PLAT_UAPI_PIPE_PATH_MAX];
	char buf[4096];
	HANDLE h, ev;
	DWORD e;
	int r;

	r = plat_uapi_pipe_path(ifname, path);
	if (r < 0)
		return r;
	for (;;) {
		h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
				FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
					SECURITY_IDENTIFICATION,
				NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		e = GetLastError();
		if (e != ERROR_PIPE_BUSY) {
			plat_win_set_error("CreateFileW(UAPI pipe of '%s') failed: Win32 error %lu",
					   ifname, (unsigned long)e);
			return e == ERROR_FILE_NOT_FOUND ? -ENOENT : plat_win_errno(e);
		}
		if (!WaitNamedPipeW(path, PLAT_UAPI_IO_TIMEOUT_MS))
			return -ETIMEDOUT;
	}
	ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!ev) {
		CloseHandle(h);
		return -ENOMEM;
	}
	r = write_all(h, ev, request, len, NULL);
	while (r == 0 && !reply_complete(reply)) {
		int n = pipe_io(h, ev, buf, sizeof(buf), false, NULL, PLAT_UAPI_IO_TIMEOUT_MS);

		if (n < 0)
			r = n;
		else if (n == 0)
			r = -EPIPE;
		else
			r = strbuf_append(reply, buf, (size_t)n);
	}
	CloseHandle(ev);
	CloseHandle(h);
	return r;
}

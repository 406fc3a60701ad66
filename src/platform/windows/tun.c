/* SPDX-License-Identifier: MIT */
/*
 * platform/tun.h over Wintun: one adapter, one session (4 MiB ring), packets copied in and
 * out of the ring. Not available here: virtio-net headers and offloads (-EOPNOTSUPP), more
 * than one queue (-EOPNOTSUPP) and a pollable fd (plat_tun_fd is -1: wait with plat_tun_wait,
 * or call plat_win_tun_recv).
 *
 * Receiving (plat_tun_wait, plat_tun_read, plat_win_tun_recv) belongs to one thread, as the
 * device's TUN reader; sending may come from any thread (Wintun's allocate and send are
 * thread-safe).
 *
 * Must not: truncate a packet, spin while the ring is empty, leave an adapter it created
 * behind on a failed open, or log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/tun.h"
#include "platform/windows/wintun.h"

struct plat_tun {
	struct plat_wintun_api api;
	PLAT_WINTUN_ADAPTER adapter;
	PLAT_WINTUN_SESSION session;
	HANDLE read_event;
	BYTE *held; /* a packet received by plat_tun_wait, not yet read (released on read) */
	DWORD held_len;
	NET_LUID luid;
	bool created;
	char name[PLAT_TUN_NAME_MAX + 1];
};

static int check_name(const char *name)
{
	size_t i, n;

	if (!name)
		return -EINVAL;
	n = strlen(name);
	if (n == 0 || n > PLAT_TUN_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		/* Also refused: what a pipe or file name could not carry. */
		if (c <= ' ' || c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' ||
		    c == '"' || c == '<' || c == '>' || c == '|' || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

int plat_win_tun_open_api(const struct plat_wintun_api *api, const char *name,
			  struct plat_tun **ret)
{
	wchar_t wname[PLAT_TUN_NAME_MAX + 1];
	struct plat_tun *t;
	DWORD e;
	int r;

	if (!api || !ret)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		struct plat_wintun_api tmp = *api;

		plat_wintun_unload(&tmp);
		return -ENOMEM;
	}
	t->api = *api;
	r = check_name(name);
	if (r == 0)
		r = plat_win_utf8_to_wide(name, wname, ARRAYSIZE(wname));
	if (r < 0) {
		plat_win_set_error("Wintun: bad adapter name (1..%d characters, no spaces or / \\ "
				   ": * ? \" < > |)",
				   PLAT_TUN_NAME_MAX);
		r = -EINVAL;
		goto fail;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);

	t->adapter = t->api.open_adapter(wname);
	if (!t->adapter) {
		t->adapter = t->api.create_adapter(wname, PLAT_WINTUN_TUNNEL_TYPE, NULL);
		if (!t->adapter) {
			e = GetLastError();
			if (e == ERROR_ACCESS_DENIED)
				plat_win_set_error(
					"WintunCreateAdapter('%s') refused: creating an adapter "
					"needs Administrator rights (Win32 error %lu)",
					name, (unsigned long)e);
			else
				plat_win_set_error(
					"WintunCreateAdapter('%s') failed: Win32 error %lu", name,
					(unsigned long)e);
			r = e == ERROR_SUCCESS ? -EIO : plat_win_errno(e);
			goto fail;
		}
		t->created = true;
	}
	t->api.get_adapter_luid(t->adapter, &t->luid);

	t->session = t->api.start_session(t->adapter, PLAT_WINTUN_RING_CAPACITY);
	if (!t->session) {
		e = GetLastError();
		plat_win_set_error("WintunStartSession('%s', %u bytes) failed: Win32 error %lu",
				   name, (unsigned)PLAT_WINTUN_RING_CAPACITY, (unsigned long)e);
		r = e == ERROR_SUCCESS ? -EIO : plat_win_errno(e);
		goto fail;
	}
	t->read_event = t->api.get_read_wait_event(t->session);
	if (!t->read_event) {
		plat_win_set_error("WintunGetReadWaitEvent('%s') returned no event", name);
		r = -EIO;
		goto fail;
	}
	*ret = t;
	return 0;

fail:
	plat_tun_close(t);
	return r;
}

int plat_tun_open(const char *name, unsigned flags, struct plat_tun **ret)
{
	struct plat_wintun_api api;
	int r;

	if (flags & ~(unsigned)(PLAT_TUN_VNET_HDR | PLAT_TUN_MULTI_QUEUE))
		return -EINVAL;
	if (flags) {
		plat_win_set_error("Wintun: no virtio-net header and no multi-queue on Windows");
		return -EOPNOTSUPP;
	}
	if (check_name(name) < 0) {
		plat_win_set_error("Wintun: bad adapter name");
		return -EINVAL;
	}
	r = plat_wintun_load(&api);
	if (r < 0)
		return r;
	return plat_win_tun_open_api(&api, name, ret);
}

int plat_tun_open_queue(struct plat_tun *t, int *ret_fd)
{
	return -EOPNOTSUPP;
}

int plat_tun_fd(const struct plat_tun *t)
{
	return -1;
}

const char *plat_tun_name(const struct plat_tun *t)
{
	return t->name;
}

int plat_tun_ifindex(const struct plat_tun *t)
{
	return plat_win_luid_to_index(t->luid.Value);
}

uint64_t plat_win_tun_luid(const struct plat_tun *t)
{
	return t->luid.Value;
}

bool plat_win_tun_created(const struct plat_tun *t)
{
	return t->created;
}

HANDLE plat_win_tun_read_event(const struct plat_tun *t)
{
	return t->read_event;
}

int plat_tun_set_offload(struct plat_tun *t, unsigned offloads)
{
	return -EOPNOTSUPP;
}

/* Take the next packet from the ring (the held one first). 0, -EAGAIN, -ENODEV, -EIO. */
static int take(struct plat_tun *t, BYTE **ret, DWORD *ret_len)
{
	DWORD size = 0, e;
	BYTE *p;

	if (t->held) {
		*ret = t->held;
		*ret_len = t->held_len;
		t->held = NULL;
		return 0;
	}
	p = t->api.receive_packet(t->session, &size);
	if (!p) {
		e = GetLastError();
		if (e == ERROR_NO_MORE_ITEMS)
			return -EAGAIN;
		if (e == ERROR_HANDLE_EOF) {
			plat_win_set_error("WintunReceivePacket('%s'): adapter is gone", t->name);
			return -ENODEV;
		}
		plat_win_set_error("WintunReceivePacket('%s') failed: Win32 error %lu", t->name,
				   (unsigned long)e);
		return e == ERROR_INVALID_DATA ? -EIO : plat_win_errno(e);
	}
	*ret = p;
	*ret_len = size;
	return 0;
}

ssize_t plat_tun_read(struct plat_tun *t, void *buf, size_t len)
{
	DWORD size = 0;
	BYTE *p = NULL;
	int r = take(t, &p, &size);

	if (r < 0)
		return r;
	if (size > len) {
		t->api.release_receive_packet(t->session, p);
		plat_win_set_error("WintunReceivePacket('%s'): a %lu-byte packet does not fit the "
				   "%zu-byte buffer; dropped",
				   t->name, (unsigned long)size, len);
		return -EMSGSIZE;
	}
	memcpy(buf, p, size);
	t->api.release_receive_packet(t->session, p);
	return (ssize_t)size;
}

int plat_tun_wait(struct plat_tun *t, int timeout_ms)
{
	ULONGLONG deadline = GetTickCount64() + (timeout_ms < 0 ? 0 : (ULONGLONG)timeout_ms);

	/*
	 * Wintun signals the read event only once the ring ran empty, so ask the ring first
	 * and wait only when it has nothing; a packet found is held for the next read.
	 */
	for (;;) {
		DWORD w, wait = INFINITE;
		int r;

		if (t->held)
			return 1;
		r = take(t, &t->held, &t->held_len);
		if (r == 0)
			return 1;
		if (r != -EAGAIN)
			return 1; /* the error is plat_tun_read's to report */
		if (timeout_ms >= 0) {
			ULONGLONG now = GetTickCount64();

			if (now >= deadline)
				return 0;
			wait = (DWORD)(deadline - now);
		}
		w = WaitForSingleObject(t->read_event, wait);
		if (w == WAIT_TIMEOUT)
			return 0;
		if (w != WAIT_OBJECT_0) {
			plat_win_set_error(
				"WaitForSingleObject('%s' read event) failed: Win32 error %lu",
				t->name, (unsigned long)GetLastError());
			return -EIO;
		}
	}
}

ssize_t plat_win_tun_recv(struct plat_tun *t, void *buf, size_t len, DWORD timeout_ms,
			  HANDLE cancel)
{
	HANDLE h[2] = {t->read_event, cancel};
	ULONGLONG deadline = GetTickCount64() + timeout_ms;

	for (;;) {
		ssize_t n = plat_tun_read(t, buf, len);
		DWORD w, wait = timeout_ms;

		if (n != -EAGAIN)
			return n;
		if (timeout_ms != INFINITE) {
			ULONGLONG now = GetTickCount64();

			if (now >= deadline)
				return -ETIMEDOUT;
			wait = (DWORD)(deadline - now);
		}
		w = WaitForMultipleObjects(cancel ? 2 : 1, h, FALSE, wait);
		if (w == WAIT_TIMEOUT)
			return -ETIMEDOUT;
		if (w == WAIT_OBJECT_0 + 1)
			return -ECANCELED;
		if (w != WAIT_OBJECT_0) {
			plat_win_set_error("WaitForMultipleObjects('%s' read event) failed: Win32 "
					   "error %lu",
					   t->name, (unsigned long)GetLastError());
			return -EIO;
		}
	}
}

/* Allocate a ring slot for len bytes of an IPv4/IPv6 packet whose first byte is first. */
static ssize_t alloc_send(struct plat_tun *t, size_t len, uint8_t first, BYTE **ret)
{
	BYTE *p;
	DWORD e;

	if (len == 0 || len > PLAT_WINTUN_MAX_PACKET || ((first >> 4) != 4 && (first >> 4) != 6))
		return -EINVAL;
	p = t->api.allocate_send_packet(t->session, (DWORD)len);
	if (!p) {
		e = GetLastError();
		if (e == ERROR_BUFFER_OVERFLOW)
			return -EAGAIN; /* ring full */
		if (e == ERROR_HANDLE_EOF) {
			plat_win_set_error("WintunAllocateSendPacket('%s'): adapter is gone",
					   t->name);
			return -ENODEV;
		}
		plat_win_set_error("WintunAllocateSendPacket('%s', %zu) failed: Win32 error %lu",
				   t->name, len, (unsigned long)e);
		return plat_win_errno(e);
	}
	*ret = p;
	return 0;
}

ssize_t plat_tun_write(struct plat_tun *t, const void *buf, size_t len)
{
	BYTE *p;
	ssize_t r = alloc_send(t, len, len ? *(const uint8_t *)buf : 0, &p);

	if (r < 0)
		return r;
	memcpy(p, buf, len);
	t->api.send_packet(t->session, p);
	return (ssize_t)len;
}

ssize_t plat_tun_writev(struct plat_tun *t, const struct plat_iov *iov, unsigned n)
{
	size_t total = 0, off = 0;
	uint8_t first = 0;
	unsigned i;
	ssize_t r;
	BYTE *p;

	if (n == 0 || n > PLAT_TUN_MAX_IOV)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (iov[i].len > PLAT_WINTUN_MAX_PACKET)
			return -EINVAL;
		if (!total && iov[i].len)
			first = *(const uint8_t *)iov[i].base;
		total += iov[i].len;
	}
	r = alloc_send(t, total, first, &p);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		memcpy(p + off, iov[i].base, iov[i].len);
		off += iov[i].len;
	}
	t->api.send_packet(t->session, p);
	return (ssize_t)total;
}

/* Wintun has one ring pair per adapter: queue 0 is the only one. */
unsigned plat_tun_queues(const struct plat_tun *t)
{
	(void)t;
	return 1;
}

ssize_t plat_tun_read_queue(struct plat_tun *t, unsigned q, void *buf, size_t len)
{
	return q ? -EINVAL : plat_tun_read(t, buf, len);
}

int plat_tun_wait_queue(struct plat_tun *t, unsigned q, int timeout_ms)
{
	return q ? -EINVAL : plat_tun_wait(t, timeout_ms);
}

ssize_t plat_tun_writev_queue(struct plat_tun *t, unsigned q, const struct plat_iov *iov,
			      unsigned n)
{
	return q ? -EINVAL : plat_tun_writev(t, iov, n);
}

/* Wintun's ring is already read without a system call per packet: no batched reader. */
int plat_tun_batch_new(struct plat_tun *t, unsigned q, size_t buf_len, unsigned nbufs,
		       struct plat_tun_batch **ret)
{
	(void)t, (void)q, (void)buf_len, (void)nbufs, (void)ret;
	return -EOPNOTSUPP;
}

int plat_tun_batch_wait(struct plat_tun_batch *b, int timeout_ms)
{
	(void)b, (void)timeout_ms;
	return -EOPNOTSUPP;
}

ssize_t plat_tun_batch_next(struct plat_tun_batch *b, const void **ret_buf)
{
	(void)b, (void)ret_buf;
	return -EAGAIN;
}

void plat_tun_batch_free(struct plat_tun_batch *b)
{
	(void)b;
}

int plat_tun_link_up(struct plat_tun *t)
{
	/* The adapter is up for as long as its session runs. */
	return t->session ? 1 : 0;
}

void plat_tun_close(struct plat_tun *t)
{
	if (!t)
		return;
	if (t->held)
		t->api.release_receive_packet(t->session, t->held);
	if (t->session)
		t->api.end_session(t->session);
	/* Closing an adapter we created also removes it (Wintun 0.14). */
	if (t->adapter)
		t->api.close_adapter(t->adapter);
	plat_wintun_unload(&t->api);
	free(t);
}

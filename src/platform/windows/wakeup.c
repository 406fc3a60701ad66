/* SPDX-License-Identifier: MIT */
/*
 * platform/wakeup.h on Windows: an auto-reset event. SetEvent may be called from any thread,
 * including the thread Windows runs a console control handler on.
 */
#include <errno.h>
#include <stdlib.h>

#include "platform/wakeup.h"
#include "platform/windows/win.h"

struct plat_wakeup {
	HANDLE ev;
};

int plat_wakeup_open(struct plat_wakeup **ret)
{
	struct plat_wakeup *w = malloc(sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->ev = CreateEventW(NULL, FALSE, FALSE, NULL);
	if (!w->ev) {
		DWORD e = GetLastError();

		plat_win_set_error("CreateEvent (wake-up) failed: Win32 error %lu",
				   (unsigned long)e);
		free(w);
		return plat_win_errno(e) ? plat_win_errno(e) : -EIO;
	}
	*ret = w;
	return 0;
}

void plat_wakeup_signal(struct plat_wakeup *w)
{
	SetEvent(w->ev);
}

int plat_wakeup_wait(struct plat_wakeup *w, int timeout_ms)
{
	DWORD r = WaitForSingleObject(w->ev, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);

	if (r == WAIT_OBJECT_0)
		return 1;
	if (r == WAIT_TIMEOUT)
		return 0;
	plat_win_set_error("WaitForSingleObject (wake-up) failed: Win32 error %lu",
			   (unsigned long)GetLastError());
	return -EIO;
}

int plat_wakeup_fd(const struct plat_wakeup *w)
{
	return -1;
}

void plat_wakeup_close(struct plat_wakeup *w)
{
	if (!w)
		return;
	CloseHandle(w->ev);
	free(w);
}

/* SPDX-License-Identifier: MIT */
/*
 * Win32 error codes into the house's negative-errno space, the per-thread last-error
 * sentence, UTF-8/UTF-16 conversion and Wine detection. Must not log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "platform/windows/win.h"

static _Thread_local char last_error[PLAT_WIN_ERR_LEN];

int plat_win_errno(DWORD err)
{
	switch (err) {
	case ERROR_SUCCESS:
		return 0;
	case ERROR_ACCESS_DENIED:
	case ERROR_PRIVILEGE_NOT_HELD:
		return -EPERM;
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_MOD_NOT_FOUND:
		return -ENOENT;
	case ERROR_NOT_FOUND:
	case ERROR_DEV_NOT_EXIST:
	case ERROR_DEVICE_NOT_AVAILABLE:
	case ERROR_HANDLE_EOF:
		return -ENODEV;
	case ERROR_INVALID_PARAMETER:
	case ERROR_INVALID_DATA:
	case ERROR_BAD_FORMAT:
	case ERROR_INVALID_NAME:
		return -EINVAL;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return -ENOMEM;
	case ERROR_OBJECT_ALREADY_EXISTS:
	case ERROR_ALREADY_EXISTS:
	case ERROR_FILE_EXISTS:
		return -EEXIST;
	case ERROR_NOT_SUPPORTED:
	case ERROR_CALL_NOT_IMPLEMENTED:
		return -EOPNOTSUPP;
	case ERROR_BUFFER_OVERFLOW:
	case ERROR_INSUFFICIENT_BUFFER:
		return -ENOSPC;
	case ERROR_PIPE_BUSY:
	case ERROR_BUSY:
		return -EBUSY;
	case ERROR_BROKEN_PIPE:
	case ERROR_NO_DATA:
	case ERROR_PIPE_NOT_CONNECTED:
		return -EPIPE;
	case ERROR_NO_MORE_ITEMS:
		return -EAGAIN;
	case ERROR_SEM_TIMEOUT:
	case WAIT_TIMEOUT:
		return -ETIMEDOUT;
	case ERROR_FILENAME_EXCED_RANGE:
		return -ENAMETOOLONG;
	default:
		return -EIO;
	}
}

const char *plat_win_last_error(void)
{
	return last_error;
}

void plat_win_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

int plat_win_utf8_to_wide(const char *s, wchar_t *out, size_t cap)
{
	int n;

	if (!s || cap == 0 || cap > INT32_MAX)
		return -EINVAL;
	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	if (n <= 0)
		return -EINVAL;
	if ((size_t)n > cap)
		return -ENAMETOOLONG;
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, (int)cap) != n)
		return -EINVAL;
	return 0;
}

int plat_win_wide_to_utf8(const wchar_t *s, char *out, size_t cap)
{
	int n;

	if (!s || cap == 0 || cap > INT32_MAX)
		return -EINVAL;
	n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, NULL, 0, NULL, NULL);
	if (n <= 0)
		return -EINVAL;
	if ((size_t)n > cap)
		return -ENAMETOOLONG;
	if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, out, (int)cap, NULL, NULL) !=
	    n)
		return -EINVAL;
	return 0;
}

bool plat_win_is_wine(void)
{
	HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

	return ntdll && GetProcAddress(ntdll, "wine_get_version");
}

/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for wintun.dll in the loader tests: the twelve documented entry points, each
 * failing with ERROR_NOT_SUPPORTED. It is unsigned, so the real loader must refuse it; the
 * unverified test path checks that every entry point resolves.
 */
#include <windows.h>

#define EXPORT __declspec(dllexport)

EXPORT void *WINAPI WintunCreateAdapter(const WCHAR *name, const WCHAR *type, const GUID *guid);
EXPORT void *WINAPI WintunOpenAdapter(const WCHAR *name);
EXPORT void WINAPI WintunCloseAdapter(void *adapter);
EXPORT void WINAPI WintunGetAdapterLUID(void *adapter, ULONG64 *luid);
EXPORT DWORD WINAPI WintunGetRunningDriverVersion(void);
EXPORT void *WINAPI WintunStartSession(void *adapter, DWORD capacity);
EXPORT void WINAPI WintunEndSession(void *session);
EXPORT HANDLE WINAPI WintunGetReadWaitEvent(void *session);
EXPORT BYTE *WINAPI WintunReceivePacket(void *session, DWORD *size);
EXPORT void WINAPI WintunReleaseReceivePacket(void *session, const BYTE *packet);
EXPORT BYTE *WINAPI WintunAllocateSendPacket(void *session, DWORD size);
EXPORT void WINAPI WintunSendPacket(void *session, const BYTE *packet);

void *WINAPI WintunCreateAdapter(const WCHAR *name, const WCHAR *type, const GUID *guid)
{
	SetLastError(ERROR_NOT_SUPPORTED);
	return NULL;
}

void *WINAPI WintunOpenAdapter(const WCHAR *name)
{
	SetLastError(ERROR_NOT_SUPPORTED);
	return NULL;
}

void WINAPI WintunCloseAdapter(void *adapter)
{
}

void WINAPI WintunGetAdapterLUID(void *adapter, ULONG64 *luid)
{
	*luid = 0;
}

DWORD WINAPI WintunGetRunningDriverVersion(void)
{
	SetLastError(ERROR_FILE_NOT_FOUND);
	return 0;
}

void *WINAPI WintunStartSession(void *adapter, DWORD capacity)
{
	SetLastError(ERROR_NOT_SUPPORTED);
	return NULL;
}

void WINAPI WintunEndSession(void *session)
{
}

HANDLE WINAPI WintunGetReadWaitEvent(void *session)
{
	return NULL;
}

BYTE *WINAPI WintunReceivePacket(void *session, DWORD *size)
{
	SetLastError(ERROR_NO_MORE_ITEMS);
	return NULL;
}

void WINAPI WintunReleaseReceivePacket(void *session, const BYTE *packet)
{
}

BYTE *WINAPI WintunAllocateSendPacket(void *session, DWORD size)
{
	SetLastError(ERROR_HANDLE_EOF);
	return NULL;
}

void WINAPI WintunSendPacket(void *session, const BYTE *packet)
{
}

/* SPDX-License-Identifier: MIT */
/*
 * Finding, verifying and loading wintun.dll (see wintun.h for the search order and the
 * rules). Must not: load anything it did not verify, let LoadLibrary search, or log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "platform/windows/wintun.h"

/* After windows.h (through wintun.h): these two do not include what they use. */
#include <softpub.h>
#include <wintrust.h>

static const char not_found_msg[] =
	"wintun.dll not found: looked in %%ProgramData%%\\weft\\wintun\\wintun.dll, next to the "
	"executable and in the current directory; download it from " PLAT_WINTUN_URL
	" and put it in one of these places";

/* dir + L"\\" + file into a new string, or NULL. */
static wchar_t *join(const wchar_t *dir, const wchar_t *file)
{
	size_t a = wcslen(dir), b = wcslen(file);
	wchar_t *p;

	if (a + b + 2 > PLAT_WINTUN_PATH_MAX)
		return NULL;
	p = malloc((a + b + 2) * sizeof(wchar_t));
	if (!p)
		return NULL;
	memcpy(p, dir, a * sizeof(wchar_t));
	if (a && dir[a - 1] != L'\\' && dir[a - 1] != L'/')
		p[a++] = L'\\';
	memcpy(p + a, file, (b + 1) * sizeof(wchar_t));
	return p;
}

static wchar_t *empty(void)
{
	return calloc(1, sizeof(wchar_t));
}

int plat_wintun_candidates(wchar_t *out[PLAT_WINTUN_CANDIDATES])
{
	wchar_t *buf = malloc(PLAT_WINTUN_PATH_MAX * sizeof(wchar_t));
	DWORD n;
	int i;

	for (i = 0; i < PLAT_WINTUN_CANDIDATES; i++)
		out[i] = NULL;
	if (!buf)
		return -ENOMEM;

	/* 1. %ProgramData%\weft\wintun\wintun.dll */
	n = GetEnvironmentVariableW(L"ProgramData", buf, PLAT_WINTUN_PATH_MAX);
	out[0] = n > 0 && n < PLAT_WINTUN_PATH_MAX ? join(buf, L"weft\\wintun\\wintun.dll")
						   : empty();

	/* 2. next to the executable */
	n = GetModuleFileNameW(NULL, buf, PLAT_WINTUN_PATH_MAX);
	if (n > 0 && n < PLAT_WINTUN_PATH_MAX) {
		wchar_t *slash = wcsrchr(buf, L'\\');
		wchar_t *fwd = wcsrchr(buf, L'/');

		if (fwd && (!slash || fwd > slash))
			slash = fwd;
		if (slash) {
			*slash = 0;
			out[1] = join(buf, L"wintun.dll");
		}
	}
	if (!out[1])
		out[1] = empty();

	/* 3. the current directory, made absolute now */
	n = GetCurrentDirectoryW(PLAT_WINTUN_PATH_MAX, buf);
	out[2] = n > 0 && n < PLAT_WINTUN_PATH_MAX ? join(buf, L"wintun.dll") : empty();

	free(buf);
	for (i = 0; i < PLAT_WINTUN_CANDIDATES; i++) {
		if (!out[i]) {
			plat_wintun_candidates_free(out);
			return -ENOMEM;
		}
	}
	return 0;
}

void plat_wintun_candidates_free(wchar_t *out[PLAT_WINTUN_CANDIDATES])
{
	int i;

	for (i = 0; i < PLAT_WINTUN_CANDIDATES; i++) {
		free(out[i]);
		out[i] = NULL;
	}
}

static bool is_file(const wchar_t *path)
{
	DWORD a;

	if (!path[0])
		return false;
	a = GetFileAttributesW(path);
	return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

int plat_wintun_locate(wchar_t **ret_path)
{
	wchar_t *c[PLAT_WINTUN_CANDIDATES];
	int i, r = plat_wintun_candidates(c);

	if (r < 0) {
		plat_win_set_error("wintun.dll: out of memory forming the search paths");
		return r;
	}
	for (i = 0; i < PLAT_WINTUN_CANDIDATES; i++) {
		if (is_file(c[i])) {
			*ret_path = c[i];
			c[i] = NULL;
			plat_wintun_candidates_free(c);
			return 0;
		}
	}
	plat_wintun_candidates_free(c);
	plat_win_set_error(not_found_msg);
	return -ENOENT;
}

/* The leaf certificate's subject of the first signer, while WinVerifyTrust's state is open. */
static bool signer_name(HANDLE state, wchar_t *out, DWORD cap)
{
	CRYPT_PROVIDER_DATA *prov = WTHelperProvDataFromStateData(state);
	CRYPT_PROVIDER_SGNR *sgnr = prov ? WTHelperGetProvSignerFromChain(prov, 0, FALSE, 0) : NULL;

	if (!sgnr || sgnr->csCertChain == 0 || !sgnr->pasCertChain || !sgnr->pasCertChain[0].pCert)
		return false;
	return CertGetNameStringW(sgnr->pasCertChain[0].pCert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0,
				  NULL, out, cap) > 1;
}

int plat_wintun_verify(HANDLE f, const wchar_t *path)
{
	GUID action = WINTRUST_ACTION_GENERIC_VERIFY_V2;
	WINTRUST_FILE_INFO file = {
		.cbStruct = sizeof(file),
		.pcwszFilePath = path,
		.hFile = f,
		.pgKnownSubject = NULL,
	};
	WINTRUST_DATA data;
	wchar_t signer[128] = L"";
	char u8[MAX_PATH * 3], signer8[3 * 128];
	bool pinned = false;
	LONG st;

	memset(&data, 0, sizeof(data));
	data.cbStruct = sizeof(data);
	data.dwUIChoice = WTD_UI_NONE;
	data.fdwRevocationChecks = WTD_REVOKE_NONE;
	data.dwUnionChoice = WTD_CHOICE_FILE;
	data.pFile = &file;
	data.dwStateAction = WTD_STATEACTION_VERIFY;
	data.dwProvFlags = WTD_SAFER_FLAG;
	st = WinVerifyTrust((HWND)INVALID_HANDLE_VALUE, &action, &data);
	/*
	 * A valid signature is not enough: any signed DLL named wintun.dll would run its
	 * DllMain in our process. Only the one WireGuard LLC signs is loaded.
	 */
	if (st == ERROR_SUCCESS && signer_name(data.hWVTStateData, signer, ARRAYSIZE(signer)))
		pinned = wcscmp(signer, PLAT_WINTUN_SIGNER) == 0;
	/* Release the state WinVerifyTrust kept, whatever the verdict. */
	data.dwStateAction = WTD_STATEACTION_CLOSE;
	WinVerifyTrust((HWND)INVALID_HANDLE_VALUE, &action, &data);
	if (plat_win_wide_to_utf8(path, u8, sizeof(u8)) < 0)
		snprintf(u8, sizeof(u8), "wintun.dll");
	if (st == ERROR_SUCCESS && pinned)
		return 0;
	if (st == ERROR_SUCCESS) {
		if (plat_win_wide_to_utf8(signer, signer8, sizeof(signer8)) < 0 || !signer8[0])
			snprintf(signer8, sizeof(signer8), "(unknown)");
		plat_win_set_error(
			"%s is signed by '%s', not by WireGuard LLC; not loading it. Use the "
			"wintun.dll from " PLAT_WINTUN_URL,
			u8, signer8);
		return -EACCES;
	}
	plat_win_set_error(
		"WinVerifyTrust refused %s: %s (0x%08lx); not loading it. Use the signed "
		"wintun.dll from " PLAT_WINTUN_URL,
		u8,
		st == (LONG)TRUST_E_NOSIGNATURE		? "no Authenticode signature"
		: st == (LONG)TRUST_E_BAD_DIGEST	? "the file does not match its signature"
		: st == (LONG)CERT_E_UNTRUSTEDROOT	? "signed by an untrusted root"
		: st == (LONG)TRUST_E_EXPLICIT_DISTRUST ? "signer explicitly distrusted"
							: "signature not valid",
		(unsigned long)st);
	return -EACCES;
}

#define RESOLVE(api, dll, field, name)                                                       \
	do {                                                                                 \
		FARPROC p_ = GetProcAddress(dll, name);                                      \
		if (!p_) {                                                                   \
			missing = name;                                                      \
			goto out_missing;                                                    \
		}                                                                            \
		_Static_assert(sizeof((api)->field) == sizeof(p_), "function pointer size"); \
		memcpy(&(api)->field, &p_, sizeof(p_));                                      \
	} while (0)

/* Load path (already verified, or a test's fake) and resolve every entry point. */
static int load_path(const wchar_t *path, struct plat_wintun_api *ret)
{
	struct plat_wintun_api api = {.dll = NULL};
	const char *missing = NULL;
	char u8[MAX_PATH * 3];
	HMODULE dll;
	DWORD e;

	if (plat_win_wide_to_utf8(path, u8, sizeof(u8)) < 0)
		snprintf(u8, sizeof(u8), "wintun.dll");
	/* An absolute path and only the DLL's own directory and System32 for its imports. */
	dll = LoadLibraryExW(path, NULL,
			     LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32);
	if (!dll) {
		e = GetLastError();
		plat_win_set_error("LoadLibraryExW(%s) failed: Win32 error %lu", u8,
				   (unsigned long)e);
		return e == ERROR_BAD_EXE_FORMAT ? -ENOEXEC : plat_win_errno(e);
	}
	api.dll = dll;
	RESOLVE(&api, dll, create_adapter, "WintunCreateAdapter");
	RESOLVE(&api, dll, open_adapter, "WintunOpenAdapter");
	RESOLVE(&api, dll, close_adapter, "WintunCloseAdapter");
	RESOLVE(&api, dll, get_adapter_luid, "WintunGetAdapterLUID");
	RESOLVE(&api, dll, get_running_driver_version, "WintunGetRunningDriverVersion");
	RESOLVE(&api, dll, start_session, "WintunStartSession");
	RESOLVE(&api, dll, end_session, "WintunEndSession");
	RESOLVE(&api, dll, get_read_wait_event, "WintunGetReadWaitEvent");
	RESOLVE(&api, dll, receive_packet, "WintunReceivePacket");
	RESOLVE(&api, dll, release_receive_packet, "WintunReleaseReceivePacket");
	RESOLVE(&api, dll, allocate_send_packet, "WintunAllocateSendPacket");
	RESOLVE(&api, dll, send_packet, "WintunSendPacket");
	*ret = api;
	return 0;

out_missing:
	FreeLibrary(dll);
	plat_win_set_error(
		"%s has no entry point %s: not a Wintun DLL (get it from " PLAT_WINTUN_URL ")", u8,
		missing);
	return -ENOEXEC;
}

/* For tests only (declared there): load a DLL by path without the signature check. */
int plat_wintun_load_path_unverified(const wchar_t *path, struct plat_wintun_api *ret);
int plat_wintun_load_path_unverified(const wchar_t *path, struct plat_wintun_api *ret)
{
	return load_path(path, ret);
}

int plat_wintun_load(struct plat_wintun_api *ret)
{
	wchar_t *path = NULL;
	char u8[MAX_PATH * 3];
	HANDLE f;
	DWORD e;
	int r;

	r = plat_wintun_locate(&path);
	if (r < 0)
		return r;
	/*
	 * Hold the file open, denying writers and deletion, from verification until it is
	 * mapped: nobody can swap it in between.
	 */
	f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
			FILE_ATTRIBUTE_NORMAL, NULL);
	if (f == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		if (plat_win_wide_to_utf8(path, u8, sizeof(u8)) < 0)
			snprintf(u8, sizeof(u8), "wintun.dll");
		plat_win_set_error("CreateFileW(%s) failed: Win32 error %lu", u8, (unsigned long)e);
		free(path);
		return plat_win_errno(e);
	}
	r = plat_wintun_verify(f, path);
	if (r == 0)
		r = load_path(path, ret);
	CloseHandle(f);
	free(path);
	return r;
}

void plat_wintun_unload(struct plat_wintun_api *api)
{
	if (!api || !api->dll)
		return;
	FreeLibrary(api->dll);
	api->dll = NULL;
}

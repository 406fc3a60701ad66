/* SPDX-License-Identifier: MIT */
/*
 * Wintun (https://www.wintun.net), loaded at run time: no import library and no header we
 * did not write. The function types below are our own declarations of Wintun's documented
 * API (wintun.h of Wintun 0.14: adapters by name and tunnel type, sessions with a ring).
 *
 * The DLL is looked for, in order, at
 *   1. %ProgramData%\weft\wintun\wintun.dll   (installed location)
 *   2. <directory of the executable>\wintun.dll
 *   3. <current directory>\wintun.dll
 * always by absolute path (LoadLibrary never searches), and its Authenticode signature is
 * verified with WinVerifyTrust (and its signer must be WireGuard LLC) while the file is held
 * open without write or delete sharing, then loaded from that same path. The table of entry points
 * is what tun.c drives; tests may hand tun.c a table of fakes instead (plat_win_tun_open_api).
 *
 * Must not: load a DLL it has not verified, or fall back to the system search path.
 */
#ifndef WEFT_PLATFORM_WINDOWS_WINTUN_H
#define WEFT_PLATFORM_WINDOWS_WINTUN_H

#include "platform/windows/win.h"

enum {
	PLAT_WINTUN_RING_CAPACITY = 4 << 20, /* 4 MiB, wireguard-windows' default */
	PLAT_WINTUN_MAX_PACKET = 0xffff,     /* WINTUN_MAX_IP_PACKET_SIZE */
	PLAT_WINTUN_CANDIDATES = 3,	     /* places the DLL is looked for */
	PLAT_WINTUN_PATH_MAX = 32768,	     /* characters of a long (\\?\) path */
};

#define PLAT_WINTUN_TUNNEL_TYPE L"weft" /* Wintun's "pool" (tunnel type) for our adapters */
#define PLAT_WINTUN_URL		"https://www.wintun.net"
/* Subject of the certificate that signs the official wintun.dll. */
#define PLAT_WINTUN_SIGNER L"WireGuard LLC"

typedef struct plat_wintun_adapter_opaque *PLAT_WINTUN_ADAPTER;
typedef struct plat_wintun_session_opaque *PLAT_WINTUN_SESSION;

/* Our declarations of the documented entry points (WINAPI = __stdcall on x86). */
typedef PLAT_WINTUN_ADAPTER(WINAPI *plat_wintun_create_adapter_fn)(LPCWSTR name,
								   LPCWSTR tunnel_type,
								   const GUID *requested_guid);
typedef PLAT_WINTUN_ADAPTER(WINAPI *plat_wintun_open_adapter_fn)(LPCWSTR name);
typedef void(WINAPI *plat_wintun_close_adapter_fn)(PLAT_WINTUN_ADAPTER adapter);
typedef void(WINAPI *plat_wintun_get_adapter_luid_fn)(PLAT_WINTUN_ADAPTER adapter, NET_LUID *luid);
typedef DWORD(WINAPI *plat_wintun_get_running_driver_version_fn)(void);
typedef PLAT_WINTUN_SESSION(WINAPI *plat_wintun_start_session_fn)(PLAT_WINTUN_ADAPTER adapter,
								  DWORD capacity);
typedef void(WINAPI *plat_wintun_end_session_fn)(PLAT_WINTUN_SESSION session);
typedef HANDLE(WINAPI *plat_wintun_get_read_wait_event_fn)(PLAT_WINTUN_SESSION session);
typedef BYTE *(WINAPI *plat_wintun_receive_packet_fn)(PLAT_WINTUN_SESSION session, DWORD *size);
typedef void(WINAPI *plat_wintun_release_receive_packet_fn)(PLAT_WINTUN_SESSION session,
							    const BYTE *packet);
typedef BYTE *(WINAPI *plat_wintun_allocate_send_packet_fn)(PLAT_WINTUN_SESSION session,
							    DWORD size);
typedef void(WINAPI *plat_wintun_send_packet_fn)(PLAT_WINTUN_SESSION session, const BYTE *packet);

struct plat_wintun_api {
	HMODULE dll; /* NULL for a table of fakes */
	plat_wintun_create_adapter_fn create_adapter;
	plat_wintun_open_adapter_fn open_adapter;
	plat_wintun_close_adapter_fn close_adapter;
	plat_wintun_get_adapter_luid_fn get_adapter_luid;
	plat_wintun_get_running_driver_version_fn get_running_driver_version;
	plat_wintun_start_session_fn start_session;
	plat_wintun_end_session_fn end_session;
	plat_wintun_get_read_wait_event_fn get_read_wait_event;
	plat_wintun_receive_packet_fn receive_packet;
	plat_wintun_release_receive_packet_fn release_receive_packet;
	plat_wintun_allocate_send_packet_fn allocate_send_packet;
	plat_wintun_send_packet_fn send_packet;
};

/*
 * The candidate paths in search order (absolute, UTF-16). A candidate that cannot be formed
 * (no %ProgramData%, a path too long) is an empty string. 0 or -ENOMEM.
 */
int plat_wintun_candidates(wchar_t *out[PLAT_WINTUN_CANDIDATES]);
void plat_wintun_candidates_free(wchar_t *out[PLAT_WINTUN_CANDIDATES]);

/*
 * The first candidate that exists as a file, into ret_path (malloc'd, caller frees).
 * -ENOENT when none does; plat_win_last_error() then names the three places and points to
 * https://www.wintun.net.
 */
int plat_wintun_locate(wchar_t **ret_path);

/*
 * Locate, verify (WinVerifyTrust) and load wintun.dll and resolve every entry point.
 * -ENOENT (absent, see above), -EACCES (signature missing or invalid: refused, not loaded),
 * -ENOEXEC (not a loadable DLL or an entry point missing), other -errno. ret is written only
 * on success; plat_win_last_error() says what failed and where.
 */
int plat_wintun_load(struct plat_wintun_api *ret);
/* Unload (only a loaded DLL; a table of fakes is left alone). NULL-safe. */
void plat_wintun_unload(struct plat_wintun_api *api);

/*
 * Verify the Authenticode signature of the file behind handle f (named path) and that
 * WireGuard LLC signed it. 0 or -EACCES.
 */
int plat_wintun_verify(HANDLE f, const wchar_t *path);

#endif

/* ---------------------------------------------------------------------------------------- */
/* The Windows side of platform/tun.h (tun.c)                                                */

struct plat_tun;

/*
 * Open the adapter called name if it exists, else create it (tunnel type "weft"); start a
 * session with a PLAT_WINTUN_RING_CAPACITY ring. api is copied; the tun owns api->dll from
 * here on (plat_tun_close unloads it) whether this succeeds or not. -EINVAL (bad name),
 * -EPERM (creation refused: not Administrator), -ENODEV, other -errno; nothing is left
 * behind on error (an adapter we created is removed again).
 * plat_tun_open(name, 0, &t) is this with the DLL from plat_wintun_load().
 */
int plat_win_tun_open_api(const struct plat_wintun_api *api, const char *name,
			  struct plat_tun **ret);
/* The adapter's LUID (for IP Helper). */
uint64_t plat_win_tun_luid(const struct plat_tun *t);
/* Whether plat_win_tun_open_api created the adapter (and closing it will remove it). */
bool plat_win_tun_created(const struct plat_tun *t);
/* The session's read event, signalled when packets are waiting (for WaitForMultipleObjects). */
HANDLE plat_win_tun_read_event(const struct plat_tun *t);
/*
 * Receive one packet, waiting on the read event (and cancel, if not NULL) up to timeout_ms
 * (INFINITE allowed): no busy loop. Returns its length, -ETIMEDOUT, -ECANCELED (cancel
 * signalled), -EMSGSIZE (the packet is longer than len: it is consumed and dropped, never
 * truncated), -ENODEV (adapter gone), -EIO (ring corrupt).
 */
ssize_t plat_win_tun_recv(struct plat_tun *t, void *buf, size_t len, DWORD timeout_ms,
			  HANDLE cancel);

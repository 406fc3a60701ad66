/* SPDX-License-Identifier: MIT */
/*
 * platform/windows/ — what the Windows implementations of the platform contracts share, and
 * the Windows-only calls that have no OS-neutral counterpart (LUIDs, SOCKADDR_INET, the read
 * event of a Wintun session, the detail of the last failure).
 *
 * Errors follow the house rule (negative errno, Win32 codes mapped into that space, libuv
 * style); because the platform layer does not log, each failing call also leaves a sentence
 * in a per-thread buffer (plat_win_last_error) that names the API call, the address or
 * prefix, the interface and the Win32 error code, for the caller to log once.
 *
 * Only Windows builds include this header.
 */
#ifndef WEFT_PLATFORM_WINDOWS_WIN_H
#define WEFT_PLATFORM_WINDOWS_WIN_H

#include <winsock2.h>
#include <ws2ipdef.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <iphlpapi.h>
#include <netioapi.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* mingw's errno.h lacks it; the UDP contract returns it after plat_udp_shutdown. */
#ifndef ESHUTDOWN
#define ESHUTDOWN WSAESHUTDOWN
#endif

#include "platform/netif.h"
#include "wg/wg.h"

enum {
	PLAT_WIN_ERR_LEN = 512,	     /* bytes of the last-error sentence, NUL included */
	PLAT_WIN_ADDR_STRLEN = 64,   /* "ffff:...:ffff/128" fits */
	PLAT_WIN_ALIAS_MAX = 255,    /* characters of an interface alias (IF_MAX_STRING_SIZE) */
	PLAT_WIN_ROUTE_METRIC = 256, /* route metric when the caller passes 0 (REF) */
};

/* NL_ROUTE_PROTOCOL value of a manually configured route (netsh, Get-NetRoute "NetMgmt"). */
#define PLAT_WIN_MIB_IPPROTO_NETMGMT 3

/* -errno for a Win32 error code (0 for ERROR_SUCCESS, -EIO for codes without a match). */
int plat_win_errno(DWORD err);

/* The sentence describing this thread's last platform failure ("" if none yet). */
const char *plat_win_last_error(void);
/* Replace this thread's last-error sentence. */
void plat_win_set_error(const char *fmt, ...) __attribute__((format(gnu_printf, 1, 2)));

/* UTF-8 → NUL-terminated UTF-16 in out (cap characters). 0, -EINVAL (not UTF-8), -ENAMETOOLONG. */
int plat_win_utf8_to_wide(const char *s, wchar_t *out, size_t cap);
/* UTF-16 → UTF-8 in out (cap bytes). 0, -EINVAL, -ENAMETOOLONG. */
int plat_win_wide_to_utf8(const wchar_t *s, char *out, size_t cap);

/* Is this process running under Wine? (Tests skip what Wine cannot do.) */
bool plat_win_is_wine(void);

/*
 * SOCKADDR_INET conversions. Port, flow info and scope are zero; the family is always set
 * (IP Helper reads it to pick the arm). -EINVAL for a family other than WG_AF_INET/INET6
 * or a prefix longer than the family allows; -EAFNOSUPPORT for a SOCKADDR_INET whose family
 * is neither AF_INET nor AF_INET6. ret is written only on success.
 */
int plat_win_addr_to_sockaddr(const struct plat_addr *a, SOCKADDR_INET *ret);
int plat_win_sockaddr_to_addr(const SOCKADDR_INET *sa, uint8_t prefix, struct plat_addr *ret);
/* The same with a port (host order in struct wg_endpoint, network order in SOCKADDR_INET). */
int plat_win_endpoint_to_sockaddr(const struct wg_endpoint *ep, SOCKADDR_INET *ret);
int plat_win_sockaddr_to_endpoint(const SOCKADDR_INET *sa, struct wg_endpoint *ret);
/* "10.0.0.1/24" or "fd00::1/64" (prefix omitted when with_prefix is false); "?" when invalid. */
void plat_win_addr_str(const struct plat_addr *a, bool with_prefix, char buf[PLAT_WIN_ADDR_STRLEN]);

/*
 * alias (the name Get-NetAdapter shows, UTF-8) → LUID. -ENODEV when no interface has that
 * alias (distinct from every other failure: callers rely on it for "not there"), -EINVAL for
 * a NULL, empty, too long or non-UTF-8 alias.
 */
int plat_win_luid_from_alias(const char *alias, uint64_t *ret_luid);
/* LUID → ifindex (> 0) or -ENODEV. */
int plat_win_luid_to_index(uint64_t luid);

#endif

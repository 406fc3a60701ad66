/* SPDX-License-Identifier: MIT */
/*
 * Wintun under Wine: the DLL search order and its not-found error (there is no wintun.dll
 * under Wine), an unsigned DLL refused by WinVerifyTrust and never loaded, the entry points
 * of a stand-in DLL resolved, and the TUN logic of tun.c driven through a table of fake
 * entry points (open or create, refusals, receive with waits, oversize packets, send,
 * teardown order). A real adapter is exercised by win_netif on a real Windows host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "platform/tun.h"
#include "platform/windows/wintun.h"

#include <wincrypt.h> /* the test signer's root; after windows.h (through wintun.h) */

int plat_wintun_load_path_unverified(const wchar_t *path, struct plat_wintun_api *ret);

/* ---------------------------------------------------------------------------------------- */
/* Scratch directories for ProgramData and the current directory                             */

static wchar_t tmp_root[MAX_PATH], dir_pd[MAX_PATH], dir_cwd[MAX_PATH], old_cwd[MAX_PATH];
static wchar_t fake_path[MAX_PATH];

static void to_wide(const char *s, wchar_t *out, size_t cap)
{
	assert_int_equal(plat_win_utf8_to_wide(s, out, cap), 0);
}

/* A Unix path from meson as a Windows path under Wine (drive Z: is /). */
static void unix_to_win(const char *s, wchar_t *out)
{
	to_wide(s, out, MAX_PATH);
	for (wchar_t *c = out; *c; c++)
		if (*c == L'/')
			*c = L'\\';
	if (out[0] == L'\\') {
		memmove(out + 2, out, (wcslen(out) + 1) * sizeof(wchar_t));
		out[0] = L'Z';
		out[1] = L':';
	}
}

static int setup_dirs(void **state)
{
	const char *fake = getenv("FAKE_WINTUN");
	wchar_t tmp[MAX_PATH], p[MAX_PATH];

	assert_non_null(fake);
	unix_to_win(fake, fake_path); /* meson hands a Unix path */
	assert_true(GetFileAttributesW(fake_path) != INVALID_FILE_ATTRIBUTES);

	assert_true(GetTempPathW(MAX_PATH, tmp) > 0);
	swprintf(tmp_root, MAX_PATH, L"%lsweft-wintun-test-%lu", tmp, GetCurrentProcessId());
	swprintf(dir_pd, MAX_PATH, L"%ls\\pd", tmp_root);
	swprintf(dir_cwd, MAX_PATH, L"%ls\\cwd", tmp_root);
	assert_true(CreateDirectoryW(tmp_root, NULL));
	assert_true(CreateDirectoryW(dir_pd, NULL));
	swprintf(p, MAX_PATH, L"%ls\\weft", dir_pd);
	assert_true(CreateDirectoryW(p, NULL));
	swprintf(p, MAX_PATH, L"%ls\\weft\\wintun", dir_pd);
	assert_true(CreateDirectoryW(p, NULL));
	assert_true(CreateDirectoryW(dir_cwd, NULL));
	assert_true(GetCurrentDirectoryW(MAX_PATH, old_cwd) > 0);
	assert_true(SetCurrentDirectoryW(dir_cwd));
	assert_true(SetEnvironmentVariableW(L"ProgramData", dir_pd));
	return 0;
}

static int teardown_dirs(void **state)
{
	wchar_t p[MAX_PATH];

	SetCurrentDirectoryW(old_cwd);
	swprintf(p, MAX_PATH, L"%ls\\weft\\wintun\\wintun.dll", dir_pd);
	DeleteFileW(p);
	swprintf(p, MAX_PATH, L"%ls\\weft\\wintun", dir_pd);
	RemoveDirectoryW(p);
	swprintf(p, MAX_PATH, L"%ls\\weft", dir_pd);
	RemoveDirectoryW(p);
	RemoveDirectoryW(dir_pd);
	swprintf(p, MAX_PATH, L"%ls\\wintun.dll", dir_cwd);
	DeleteFileW(p);
	RemoveDirectoryW(dir_cwd);
	RemoveDirectoryW(tmp_root);
	return 0;
}

static void exe_dir_dll(wchar_t *out)
{
	wchar_t exe[MAX_PATH], *slash;

	assert_true(GetModuleFileNameW(NULL, exe, MAX_PATH) > 0);
	slash = wcsrchr(exe, L'\\');
	assert_non_null(slash);
	*slash = 0;
	swprintf(out, MAX_PATH, L"%ls\\wintun.dll", exe);
}

static void test_candidates(void **state)
{
	wchar_t *c[PLAT_WINTUN_CANDIDATES], want[MAX_PATH];

	assert_int_equal(plat_wintun_candidates(c), 0);
	swprintf(want, MAX_PATH, L"%ls\\weft\\wintun\\wintun.dll", dir_pd);
	assert_true(wcscmp(c[0], want) == 0);
	exe_dir_dll(want);
	assert_true(wcscmp(c[1], want) == 0);
	swprintf(want, MAX_PATH, L"%ls\\wintun.dll", dir_cwd);
	assert_true(wcscmp(c[2], want) == 0);
	plat_wintun_candidates_free(c);
	assert_null(c[0]);
}

static void test_not_found(void **state)
{
	struct plat_wintun_api api = {.dll = NULL};
	struct plat_tun *t = (struct plat_tun *)0x1;
	wchar_t *path = NULL, exe_dll[MAX_PATH];
	const char *msg;

	exe_dir_dll(exe_dll);
	if (GetFileAttributesW(exe_dll) != INVALID_FILE_ATTRIBUTES)
		fail_msg("a wintun.dll lies next to the test executable; remove it");
	assert_int_equal(plat_wintun_locate(&path), -ENOENT);
	assert_null(path);
	msg = plat_win_last_error();
	print_message("not found: %s\n", msg);
	assert_non_null(strstr(msg, "%ProgramData%\\weft\\wintun\\wintun.dll"));
	assert_non_null(strstr(msg, "next to the executable"));
	assert_non_null(strstr(msg, "current directory"));
	assert_non_null(strstr(msg, "https://www.wintun.net"));
	assert_int_equal(plat_wintun_load(&api), -ENOENT);
	assert_null(api.dll);
	assert_int_equal(plat_tun_open("weft0", 0, &t), -ENOENT);
	assert_ptr_equal(t, (struct plat_tun *)0x1); /* not written */
	assert_non_null(strstr(plat_win_last_error(), "https://www.wintun.net"));
}

static void put_fake(const wchar_t *dst)
{
	assert_true(CopyFileW(fake_path, dst, FALSE));
}

static void test_search_order(void **state)
{
	wchar_t pd[MAX_PATH], exe[MAX_PATH], cwd[MAX_PATH], *path = NULL;

	swprintf(pd, MAX_PATH, L"%ls\\weft\\wintun\\wintun.dll", dir_pd);
	exe_dir_dll(exe);
	swprintf(cwd, MAX_PATH, L"%ls\\wintun.dll", dir_cwd);

	put_fake(cwd);
	assert_int_equal(plat_wintun_locate(&path), 0);
	assert_true(wcscmp(path, cwd) == 0);
	free(path);

	put_fake(exe);
	assert_int_equal(plat_wintun_locate(&path), 0);
	assert_true(wcscmp(path, exe) == 0);
	free(path);

	put_fake(pd);
	assert_int_equal(plat_wintun_locate(&path), 0);
	assert_true(wcscmp(path, pd) == 0);
	free(path);

	/* A directory called wintun.dll is not a candidate. */
	assert_true(DeleteFileW(pd));
	assert_true(CreateDirectoryW(pd, NULL));
	assert_int_equal(plat_wintun_locate(&path), 0);
	assert_true(wcscmp(path, exe) == 0);
	free(path);
	assert_true(RemoveDirectoryW(pd));

	assert_true(DeleteFileW(exe));
	assert_true(DeleteFileW(cwd));
	assert_int_equal(plat_wintun_locate(&path), -ENOENT);
}

static void test_unsigned_refused(void **state)
{
	struct plat_wintun_api api = {.dll = NULL};
	wchar_t cwd[MAX_PATH];
	const char *msg;

	swprintf(cwd, MAX_PATH, L"%ls\\wintun.dll", dir_cwd);
	put_fake(cwd);
	assert_int_equal(plat_wintun_load(&api), -EACCES);
	msg = plat_win_last_error();
	print_message("unsigned: %s\n", msg);
	assert_non_null(strstr(msg, "WinVerifyTrust"));
	assert_non_null(strstr(msg, "wintun.dll"));
	assert_non_null(strstr(msg, "not loading it"));
	assert_null(api.dll);
	/* refused means never mapped into the process */
	assert_null(GetModuleHandleW(cwd));
	assert_null(GetModuleHandleW(L"wintun.dll"));
	assert_true(DeleteFileW(cwd)); /* and not left locked */
}

/*
 * A validly signed DLL whose signer is not WireGuard LLC: WinVerifyTrust accepts it once its
 * (throwaway) root is trusted, and the signer pin refuses it. Trusting a root on a real
 * Windows host asks the user, so this runs under Wine only.
 */
static void test_wrong_signer_refused(void **state)
{
	const char *signed_dll = getenv("SIGNED_WINTUN"), *cert = getenv("TEST_SIGNER_CERT");
	struct plat_wintun_api api = {.dll = NULL};
	wchar_t src[MAX_PATH], der_path[MAX_PATH], cwd[MAX_PATH];
	const CERT_CONTEXT *added = NULL;
	uint8_t der[8192];
	HCERTSTORE root;
	DWORD n = 0;
	HANDLE f;
	int r;

	if (!plat_win_is_wine()) {
		print_message("SKIP: trusting a test root certificate needs a user's consent on "
			      "Windows; this runs under Wine\n");
		skip();
	}
	assert_non_null(signed_dll);
	assert_non_null(cert);
	unix_to_win(signed_dll, src);
	unix_to_win(cert, der_path);
	f = CreateFileW(der_path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
	assert_true(f != INVALID_HANDLE_VALUE);
	assert_true(ReadFile(f, der, sizeof(der), &n, NULL) && n > 0);
	CloseHandle(f);
	root = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_CURRENT_USER,
			     L"Root");
	assert_non_null(root);
	assert_true(CertAddEncodedCertificateToStore(root, X509_ASN_ENCODING, der, n,
						     CERT_STORE_ADD_REPLACE_EXISTING, &added));

	swprintf(cwd, MAX_PATH, L"%ls\\wintun.dll", dir_cwd);
	assert_true(CopyFileW(src, cwd, FALSE));
	r = plat_wintun_load(&api);
	print_message("wrong signer: %s\n", plat_win_last_error());

	/* leave Wine's trust store as it was before checking anything */
	CertDeleteCertificateFromStore(added);
	CertCloseStore(root, 0);

	assert_int_equal(r, -EACCES);
	assert_non_null(strstr(plat_win_last_error(), "signed by 'weft test signer'"));
	assert_non_null(strstr(plat_win_last_error(), "not by WireGuard LLC"));
	assert_null(api.dll);
	assert_null(GetModuleHandleW(cwd));
	assert_true(DeleteFileW(cwd));
}

static void test_fake_dll_entry_points(void **state)
{
	struct plat_wintun_api api = {.dll = NULL};
	struct plat_tun *t = NULL;

	assert_int_equal(plat_wintun_load_path_unverified(fake_path, &api), 0);
	assert_non_null(api.dll);
	assert_non_null(api.create_adapter);
	assert_non_null(api.open_adapter);
	assert_non_null(api.close_adapter);
	assert_non_null(api.get_adapter_luid);
	assert_non_null(api.get_running_driver_version);
	assert_non_null(api.start_session);
	assert_non_null(api.end_session);
	assert_non_null(api.get_read_wait_event);
	assert_non_null(api.receive_packet);
	assert_non_null(api.release_receive_packet);
	assert_non_null(api.allocate_send_packet);
	assert_non_null(api.send_packet);
	/* The stand-in refuses to create adapters: the open fails and unloads the DLL. */
	assert_int_equal(plat_win_tun_open_api(&api, "weft0", &t), -EOPNOTSUPP);
	assert_null(t);
	assert_non_null(strstr(plat_win_last_error(), "WintunCreateAdapter('weft0')"));
	assert_null(GetModuleHandleW(fake_path));

	/* A DLL without the entry points is not Wintun. */
	memset(&api, 0, sizeof(api));
	assert_int_equal(
		plat_wintun_load_path_unverified(L"C:\\windows\\system32\\version.dll", &api),
		-ENOEXEC);
	assert_non_null(strstr(plat_win_last_error(), "no entry point WintunCreateAdapter"));
	assert_null(api.dll);
}

/* ---------------------------------------------------------------------------------------- */
/* A fake Wintun in process                                                                  */

enum { FAKE_QUEUE = 16 };

static struct fake {
	bool exists, deny_create, fail_session;
	int adapters_open, sessions_open, creates, opens;
	DWORD capacity;
	WCHAR tunnel_type[32];
	HANDLE event;
	/* packets waiting to be received */
	BYTE *rx[FAKE_QUEUE];
	DWORD rx_len[FAKE_QUEUE];
	int rx_head, rx_n, rx_outstanding, receives;
	/* what was sent */
	BYTE sent[4][256];
	DWORD sent_len[4];
	int sent_n, allocs;
	DWORD alloc_error; /* 0 = allocate works */
	char log[64];
} F;

static PLAT_WINTUN_ADAPTER WINAPI f_create(LPCWSTR name, LPCWSTR type, const GUID *g)
{
	F.creates++;
	if (F.deny_create) {
		SetLastError(ERROR_ACCESS_DENIED);
		return NULL;
	}
	wcsncpy(F.tunnel_type, type, 31);
	F.adapters_open++;
	return (PLAT_WINTUN_ADAPTER)&F;
}

static PLAT_WINTUN_ADAPTER WINAPI f_open(LPCWSTR name)
{
	F.opens++;
	if (!F.exists) {
		SetLastError(ERROR_FILE_NOT_FOUND);
		return NULL;
	}
	F.adapters_open++;
	return (PLAT_WINTUN_ADAPTER)&F;
}

static void WINAPI f_close(PLAT_WINTUN_ADAPTER a)
{
	F.adapters_open--;
	strcat(F.log, "C");
}

static void WINAPI f_luid(PLAT_WINTUN_ADAPTER a, NET_LUID *l)
{
	l->Value = 0x0123456789abcdefULL;
}

static DWORD WINAPI f_version(void)
{
	return 0x0e;
}

static PLAT_WINTUN_SESSION WINAPI f_start(PLAT_WINTUN_ADAPTER a, DWORD cap)
{
	F.capacity = cap;
	if (F.fail_session) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	F.sessions_open++;
	return (PLAT_WINTUN_SESSION)&F.event;
}

static void WINAPI f_end(PLAT_WINTUN_SESSION s)
{
	F.sessions_open--;
	strcat(F.log, "E");
}

static HANDLE WINAPI f_event(PLAT_WINTUN_SESSION s)
{
	return F.event;
}

static BYTE *WINAPI f_receive(PLAT_WINTUN_SESSION s, DWORD *size)
{
	BYTE *p;

	F.receives++;
	if (!F.rx_n) {
		ResetEvent(F.event);
		SetLastError(ERROR_NO_MORE_ITEMS);
		return NULL;
	}
	p = F.rx[F.rx_head];
	*size = F.rx_len[F.rx_head];
	F.rx_head = (F.rx_head + 1) % FAKE_QUEUE;
	F.rx_n--;
	F.rx_outstanding++;
	return p;
}

static void WINAPI f_release(PLAT_WINTUN_SESSION s, const BYTE *p)
{
	F.rx_outstanding--;
	free((void *)p);
}

static BYTE *WINAPI f_alloc(PLAT_WINTUN_SESSION s, DWORD size)
{
	if (F.alloc_error) {
		SetLastError(F.alloc_error);
		return NULL;
	}
	F.allocs++;
	assert_true(size <= sizeof(F.sent[0]) && F.sent_n < 4);
	F.sent_len[F.sent_n] = size;
	return F.sent[F.sent_n];
}

static void WINAPI f_send(PLAT_WINTUN_SESSION s, const BYTE *p)
{
	assert_ptr_equal(p, F.sent[F.sent_n]);
	F.sent_n++;
}

static const struct plat_wintun_api fake_api = {
	.dll = NULL,
	.create_adapter = f_create,
	.open_adapter = f_open,
	.close_adapter = f_close,
	.get_adapter_luid = f_luid,
	.get_running_driver_version = f_version,
	.start_session = f_start,
	.end_session = f_end,
	.get_read_wait_event = f_event,
	.receive_packet = f_receive,
	.release_receive_packet = f_release,
	.allocate_send_packet = f_alloc,
	.send_packet = f_send,
};

static void enqueue(const void *pkt, DWORD len)
{
	int tail = (F.rx_head + F.rx_n) % FAKE_QUEUE;

	F.rx[tail] = malloc(len);
	memcpy(F.rx[tail], pkt, len);
	F.rx_len[tail] = len;
	F.rx_n++;
	SetEvent(F.event);
}

static int fake_setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.event = CreateEventW(NULL, TRUE, FALSE, NULL);
	return F.event ? 0 : -1;
}

static int fake_teardown(void **state)
{
	while (F.rx_n) {
		free(F.rx[F.rx_head]);
		F.rx_head = (F.rx_head + 1) % FAKE_QUEUE;
		F.rx_n--;
	}
	CloseHandle(F.event);
	return 0;
}

static void test_open_create_and_teardown(void **state)
{
	struct plat_tun *t = NULL;

	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), 0);
	assert_int_equal(F.opens, 1);
	assert_int_equal(F.creates, 1);
	assert_true(wcscmp(F.tunnel_type, L"weft") == 0);
	assert_int_equal(F.capacity, 4 << 20);
	assert_true(plat_win_tun_created(t));
	assert_true(plat_win_tun_luid(t) == 0x0123456789abcdefULL);
	assert_ptr_equal(plat_win_tun_read_event(t), F.event);
	assert_string_equal(plat_tun_name(t), "weft0");
	assert_int_equal(plat_tun_fd(t), -1);
	assert_int_equal(plat_tun_set_offload(t, PLAT_TUN_OFF_CSUM), -EOPNOTSUPP);
	assert_int_equal(plat_tun_link_up(t), 1);
	assert_int_equal(F.sessions_open, 1);
	plat_tun_close(t);
	assert_string_equal(F.log, "EC"); /* session ended before the adapter closes */
	assert_int_equal(F.sessions_open, 0);
	assert_int_equal(F.adapters_open, 0);
	plat_tun_close(NULL);
}

static void test_open_existing(void **state)
{
	struct plat_tun *t = NULL;

	F.exists = true;
	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), 0);
	assert_int_equal(F.creates, 0);
	assert_false(plat_win_tun_created(t));
	plat_tun_close(t);
	assert_int_equal(F.adapters_open, 0);
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {
		"", "a b", "a/b", "a\\b", "x:y", ".", "..", "sixteen-chars-xx", "tab\there"};
	struct plat_tun *t = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(plat_win_tun_open_api(&fake_api, bad[i], &t), -EINVAL);
		assert_null(t);
	}
	assert_int_equal(plat_win_tun_open_api(&fake_api, NULL, &t), -EINVAL);
	assert_int_equal(F.opens + F.creates, 0); /* refused before Wintun was asked */
	assert_int_equal(plat_tun_open("weft0", PLAT_TUN_VNET_HDR, &t), -EOPNOTSUPP);
	assert_int_equal(plat_tun_open("weft0", 1u << 7, &t), -EINVAL);

	/* Not Administrator: a clear error, nothing left behind. */
	F.deny_create = true;
	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), -EPERM);
	assert_null(t);
	print_message("denied: %s\n", plat_win_last_error());
	assert_non_null(strstr(plat_win_last_error(), "Administrator"));
	assert_non_null(strstr(plat_win_last_error(), "Win32 error 5"));
	assert_int_equal(F.adapters_open, 0);

	/* The session cannot start: the adapter we created is removed again. */
	F.deny_create = false;
	F.fail_session = true;
	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(plat_win_last_error(), "WintunStartSession('weft0'"));
	assert_int_equal(F.adapters_open, 0);
	assert_int_equal(F.sessions_open, 0);
}

static void test_receive(void **state)
{
	uint8_t pkt[1400], buf[1500];
	struct plat_tun *t = NULL;
	size_t i;

	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	pkt[0] = 0x45;
	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), 0);
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), -EAGAIN);

	enqueue(pkt, sizeof(pkt));
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), sizeof(pkt));
	assert_memory_equal(buf, pkt, sizeof(pkt));
	assert_int_equal(F.rx_outstanding, 0);

	/* Larger than the buffer: an error, the packet consumed, nothing truncated or leaked. */
	enqueue(pkt, sizeof(pkt));
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(plat_tun_read(t, buf, sizeof(pkt) - 1), -EMSGSIZE);
	assert_int_equal(buf[0], 0xee);
	assert_int_equal(F.rx_outstanding, 0);
	assert_int_equal(F.rx_n, 0);
	assert_non_null(strstr(plat_win_last_error(), "does not fit"));
	plat_tun_close(t);
}

static DWORD WINAPI late_packet(void *arg)
{
	static const uint8_t pkt[] = {0x60, 0, 0, 0, 0, 0, 59, 64};

	Sleep(300);
	enqueue(pkt, sizeof(pkt));
	return 0;
}

static void test_receive_waits(void **state)
{
	struct plat_tun *t = NULL;
	uint8_t buf[64];
	ULONGLONG t0;
	HANDLE th, cancel;

	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), 0);

	/* Nothing comes: a timeout after ~200 ms, having asked the ring only a few times. */
	t0 = GetTickCount64();
	assert_int_equal(plat_win_tun_recv(t, buf, sizeof(buf), 200, NULL), -ETIMEDOUT);
	assert_true(GetTickCount64() - t0 >= 150);
	assert_true(F.receives <= 3);

	/* A packet arrives 300 ms later: woken by the event, no busy loop. */
	F.receives = 0;
	th = CreateThread(NULL, 0, late_packet, NULL, 0, NULL);
	assert_non_null(th);
	assert_int_equal(plat_win_tun_recv(t, buf, sizeof(buf), 5000, NULL), 8);
	assert_int_equal(buf[0], 0x60);
	assert_true(F.receives <= 3);
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);

	/* plat_tun_wait: the contract's portable wait (the device's TUN thread uses it). */
	F.receives = 0;
	t0 = GetTickCount64();
	assert_int_equal(plat_tun_wait(t, 150), 0);
	assert_true(GetTickCount64() - t0 >= 100);
	assert_true(F.receives <= 3);
	th = CreateThread(NULL, 0, late_packet, NULL, 0, NULL);
	assert_non_null(th);
	assert_int_equal(plat_tun_wait(t, 5000), 1);
	assert_int_equal(F.rx_outstanding, 1);	  /* held for the next read */
	assert_int_equal(plat_tun_wait(t, 0), 1); /* still held, not a second packet */
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), 8);
	assert_int_equal(F.rx_outstanding, 0);
	assert_int_equal(plat_tun_read(t, buf, sizeof(buf)), -EAGAIN);
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);
	/* a held packet is released on close */
	enqueue((const uint8_t[]){0x45, 0}, 2);
	assert_int_equal(plat_tun_wait(t, 0), 1);
	assert_int_equal(F.rx_outstanding, 1);

	/* The cancel event cuts a wait short. */
	cancel = CreateEventW(NULL, TRUE, TRUE, NULL);
	plat_tun_read(t, buf, sizeof(buf)); /* take the held packet: the ring is empty again */
	assert_int_equal(plat_win_tun_recv(t, buf, sizeof(buf), INFINITE, cancel), -ECANCELED);
	CloseHandle(cancel);
	assert_int_equal(plat_tun_wait(t, 0), 0);
	enqueue((const uint8_t[]){0x45, 0}, 2);
	assert_int_equal(plat_tun_wait(t, 0), 1);
	plat_tun_close(t);
	assert_int_equal(F.rx_outstanding, 0);
}

static void test_send(void **state)
{
	static const uint8_t v4[] = {0x45, 0, 0, 20, 1, 2, 3, 4, 64, 17};
	static const uint8_t bad[] = {0x15, 0, 0, 0};
	struct plat_iov iov[3] = {{v4, 3}, {v4 + 3, 0}, {v4 + 3, sizeof(v4) - 3}};
	struct plat_tun *t = NULL;
	uint8_t big[PLAT_WINTUN_MAX_PACKET + 1];

	assert_int_equal(plat_win_tun_open_api(&fake_api, "weft0", &t), 0);
	assert_int_equal(plat_tun_write(t, v4, sizeof(v4)), sizeof(v4));
	assert_int_equal(F.sent_n, 1);
	assert_int_equal(F.sent_len[0], sizeof(v4));
	assert_memory_equal(F.sent[0], v4, sizeof(v4));

	assert_int_equal(plat_tun_writev(t, iov, 3), sizeof(v4));
	assert_int_equal(F.sent_n, 2);
	assert_memory_equal(F.sent[1], v4, sizeof(v4));

	/* Neither IPv4 nor IPv6, empty, too large: refused before the ring is touched. */
	memset(big, 0x45, sizeof(big));
	assert_int_equal(plat_tun_write(t, bad, sizeof(bad)), -EINVAL);
	assert_int_equal(plat_tun_write(t, v4, 0), -EINVAL);
	assert_int_equal(plat_tun_write(t, big, sizeof(big)), -EINVAL);
	assert_int_equal(plat_tun_writev(t, iov, 0), -EINVAL);
	assert_int_equal(F.allocs, 2);

	F.alloc_error = ERROR_BUFFER_OVERFLOW; /* ring full */
	assert_int_equal(plat_tun_write(t, v4, sizeof(v4)), -EAGAIN);
	F.alloc_error = ERROR_HANDLE_EOF; /* adapter gone */
	assert_int_equal(plat_tun_write(t, v4, sizeof(v4)), -ENODEV);
	assert_int_equal(F.sent_n, 2);
	plat_tun_close(t);
}

int main(void)
{
	const struct CMUnitTest loader[] = {
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_search_order),
		cmocka_unit_test(test_unsigned_refused),
		cmocka_unit_test(test_wrong_signer_refused),
		cmocka_unit_test(test_fake_dll_entry_points),
	};
	const struct CMUnitTest tun[] = {
		cmocka_unit_test_setup_teardown(test_open_create_and_teardown, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_open_existing, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_receive, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_receive_waits, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_send, fake_setup, fake_teardown),
	};
	int r = cmocka_run_group_tests_name("wintun loader", loader, setup_dirs, teardown_dirs);

	return r + cmocka_run_group_tests_name("wintun tun", tun, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * IP Helper interface configuration (platform/windows/netif.c) and the firewall rule.
 *
 * Under Wine: LUID lookup of a nonexistent adapter is the distinct -ENODEV, lookups of an
 * interface Wine does list agree with each other, and bad input is refused before any call
 * (nothing changes). What Wine cannot do (create a Wintun adapter, write addresses and
 * routes, the Windows Firewall) skips with a printed reason; on a real Windows host run as
 * Administrator with wintun.dll next to the .exe it runs for real on an adapter "weft-t0".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "platform/firewall.h"
#include "platform/tun.h"
#include "platform/windows/wintun.h"

#include <shlobj.h> /* IsUserAnAdmin; after winsock2.h (through wintun.h) */

static void test_alias_not_found(void **state)
{
	uint64_t luid = 42;
	char longname[300];

	assert_int_equal(plat_win_luid_from_alias("weft-no-such-adapter", &luid), -ENODEV);
	assert_true(luid == 42); /* not written */
	print_message("%s\n", plat_win_last_error());
	assert_non_null(strstr(plat_win_last_error(), "ConvertInterfaceAliasToLuid"));
	assert_non_null(strstr(plat_win_last_error(), "'weft-no-such-adapter' not found"));
	assert_non_null(strstr(plat_win_last_error(), "Win32 error"));
	assert_int_equal(plat_netif_index("weft-no-such-adapter"), -ENODEV);

	/* Malformed names are a different error. */
	assert_int_equal(plat_win_luid_from_alias("", &luid), -EINVAL);
	assert_int_equal(plat_win_luid_from_alias(NULL, &luid), -EINVAL);
	assert_int_equal(plat_win_luid_from_alias("bad\xff\xfe", &luid), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(plat_win_luid_from_alias(longname, &luid), -EINVAL);
	assert_true(luid == 42);
	/* ...which plat_netif_index, like Linux, reports as "no such link". */
	assert_int_equal(plat_netif_index(""), -ENODEV);
}

static void test_unknown_ifindex(void **state)
{
	struct plat_addr a = {.family = WG_AF_INET, .addr = {10, 200, 0, 1}, .prefix = 24};
	struct plat_netif_monitor *m = NULL;
	char kind[PLAT_NETIF_KIND_MAX];

	assert_int_equal(plat_netif_add_address(0, &a), -ENODEV);
	assert_int_equal(plat_netif_add_address(-3, &a), -ENODEV);
	assert_int_equal(plat_netif_add_address(999999, &a), -ENODEV);
	assert_non_null(strstr(plat_win_last_error(), "999999"));
	assert_int_equal(plat_netif_add_route(999999, &a, 0), -ENODEV);
	assert_int_equal(plat_netif_del_route(999999, &a), -ENODEV);
	assert_int_equal(plat_netif_del_address(999999, &a), -ENODEV);
	assert_int_equal(plat_netif_set_mtu(999999, 1420), -ENODEV);
	assert_int_equal(plat_netif_get_mtu(999999), -ENODEV);
	assert_int_equal(plat_netif_set_up(999999, true), -ENODEV);
	assert_int_equal(plat_netif_del_link(999999), -ENODEV);
	assert_int_equal(plat_netif_is_up(999999), -ENODEV);
	assert_int_equal(plat_netif_kind(999999, kind, sizeof(kind)), -ENODEV);
	assert_int_equal(plat_netif_monitor_open(1, &m), -EOPNOTSUPP);
	assert_null(m);
}

static int count_addr(void *ctx, const struct plat_addr *a)
{
	(*(int *)ctx)++;
	return 0;
}

/* An interface Wine (or Windows) lists: its alias, LUID and ifindex agree. */
static void test_listed_interface(void **state)
{
	MIB_IF_TABLE2 *table = NULL;
	struct plat_addr bad = {.family = WG_AF_INET, .addr = {10, 200, 0, 1}, .prefix = 33};
	char alias[PLAT_WIN_ALIAS_MAX * 3 + 1];
	uint64_t luid;
	int idx, before = 0, after = 0;

	assert_int_equal(GetIfTable2(&table), NO_ERROR);
	if (table->NumEntries == 0) {
		FreeMibTable(table);
		skip();
	}
	assert_int_equal(plat_win_wide_to_utf8(table->Table[0].Alias, alias, sizeof(alias)), 0);
	print_message("interface 0: '%s' ifindex %lu\n", alias,
		      (unsigned long)table->Table[0].InterfaceIndex);
	assert_int_equal(plat_win_luid_from_alias(alias, &luid), 0);
	assert_true(luid == table->Table[0].InterfaceLuid.Value);
	idx = plat_netif_index(alias);
	assert_int_equal(idx, (int)table->Table[0].InterfaceIndex);
	assert_int_equal(plat_win_luid_to_index(luid), idx);
	FreeMibTable(table);

	/* Bad input on a real interface: refused before IP Helper is asked, nothing changes. */
	assert_int_equal(plat_netif_list_addresses(idx, count_addr, &before), 0);
	assert_int_equal(plat_netif_add_address(idx, &bad), -EINVAL);
	assert_non_null(strstr(plat_win_last_error(), "CreateUnicastIpAddressEntry: bad address"));
	assert_int_equal(plat_netif_add_address(idx, NULL), -EINVAL);
	bad.family = 2;
	bad.prefix = 8;
	assert_int_equal(plat_netif_add_route(idx, &bad, 0), -EINVAL);
	assert_int_equal(plat_netif_del_route(idx, &bad), -EINVAL);
	assert_int_equal(plat_netif_set_mtu(idx, 100), -EINVAL);
	assert_int_equal(plat_netif_set_mtu(idx, 70000), -EINVAL);
	assert_int_equal(plat_netif_list_addresses(idx, count_addr, &after), 0);
	assert_int_equal(before, after);
}

static void test_firewall_bad_input(void **state)
{
	struct plat_fw_rule *r = NULL;

	assert_int_equal(plat_firewall_allow_udp("wg0", 0, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp("", 51820, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp(NULL, 51820, &r), -EINVAL);
	assert_null(r);
	plat_firewall_remove(NULL);
}

/* What only a real Windows host can do; returns false (after printing why) when skipping. */
static bool real_windows_admin(void)
{
	if (plat_win_is_wine()) {
		print_message(
			"SKIP: Wine has no Wintun driver, IP Helper writes or Windows Firewall; "
			"run this test on Windows as Administrator\n");
		return false;
	}
	if (!IsUserAnAdmin()) {
		print_message("SKIP: needs Administrator rights\n");
		return false;
	}
	return true;
}

static int addr_seen(void *ctx, const struct plat_addr *a)
{
	const struct plat_addr *want = ctx;

	return a->family == want->family && a->prefix == want->prefix &&
	       !memcmp(a->addr, want->addr, a->family == WG_AF_INET ? 4 : 16);
}

static void test_real_adapter(void **state)
{
	struct plat_addr v4 = {.family = WG_AF_INET, .addr = {10, 200, 77, 1}, .prefix = 24};
	struct plat_addr v6 = {
		.family = WG_AF_INET6, .addr = {0xfd, 0, 0, 0x77, [15] = 1}, .prefix = 64};
	struct plat_addr r4 = {.family = WG_AF_INET, .addr = {10, 201, 9, 9}, .prefix = 16};
	struct plat_addr r6 = {.family = WG_AF_INET6, .addr = {0xfd, 0, 0, 0x78}, .prefix = 48};
	struct plat_tun *t = NULL;
	int idx, r;

	if (!real_windows_admin())
		skip();
	r = plat_tun_open("weft-t0", 0, &t);
	if (r == -ENOENT) {
		print_message("SKIP: %s\n", plat_win_last_error());
		skip();
	}
	if (r < 0)
		fail_msg("plat_tun_open: %d: %s", r, plat_win_last_error());
	idx = plat_tun_ifindex(t);
	assert_true(idx > 0);
	assert_int_equal(plat_netif_index("weft-t0"), idx);

	assert_int_equal(plat_netif_add_address(idx, &v4), 0);
	assert_int_equal(plat_netif_add_address(idx, &v4), 0); /* already there: success */
	assert_int_equal(plat_netif_add_address(idx, &v6), 0);
	assert_int_equal(plat_netif_add_address(idx, &v6), 0);
	v6.prefix = 80;
	assert_int_equal(plat_netif_add_address(idx, &v6), -EEXIST); /* another prefix */
	v6.prefix = 64;
	assert_int_equal(plat_netif_list_addresses(idx, addr_seen, &v4), 1);
	assert_int_equal(plat_netif_list_addresses(idx, addr_seen, &v6), 1);

	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0);
	assert_int_equal(plat_netif_add_route(idx, &r4, 0), 0); /* already there: success */
	assert_int_equal(plat_netif_add_route(idx, &r6, 0), 0);
	assert_int_equal(plat_netif_set_mtu(idx, 1380), 0);
	assert_int_equal(plat_netif_get_mtu(idx), 1380);

	assert_int_equal(plat_netif_del_route(idx, &r4), 0);
	assert_int_equal(plat_netif_del_route(idx, &r4), -ESRCH);
	assert_int_equal(plat_netif_del_route(idx, &r6), 0);
	assert_int_equal(plat_netif_del_address(idx, &v4), 0);
	assert_int_equal(plat_netif_del_address(idx, &v4), -EADDRNOTAVAIL);
	assert_int_equal(plat_netif_del_address(idx, &v6), 0);
	plat_tun_close(t);
	assert_int_equal(plat_netif_index("weft-t0"), -ENODEV); /* the adapter went with it */
}

static void test_real_firewall(void **state)
{
	struct plat_fw_rule *r = NULL;
	int e;

	if (!real_windows_admin())
		skip();
	e = plat_firewall_allow_udp("weft-t0", 51999, &r);
	if (e < 0)
		fail_msg("plat_firewall_allow_udp: %d: %s", e, plat_win_last_error());
	plat_firewall_remove(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alias_not_found),	 cmocka_unit_test(test_unknown_ifindex),
		cmocka_unit_test(test_listed_interface), cmocka_unit_test(test_firewall_bad_input),
		cmocka_unit_test(test_real_adapter),	 cmocka_unit_test(test_real_firewall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

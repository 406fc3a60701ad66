/* SPDX-License-Identifier: MIT */
/*
 * platform/firewall.h on Linux: a no-op that reports success and validates its input as
 * Windows does. (The Windows rule is tested by tests/windows/test_win_netif.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "platform/firewall.h"

static void test_noop(void **state)
{
	struct plat_fw_rule *r = NULL;

	assert_int_equal(plat_firewall_allow_udp("wg0", 51820, &r), 0);
	assert_non_null(r);
	plat_firewall_remove(r);
	plat_firewall_remove(NULL);
	r = NULL;
	assert_int_equal(plat_firewall_allow_udp("wg0", 0, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp("", 51820, &r), -EINVAL);
	assert_int_equal(plat_firewall_allow_udp(NULL, 51820, &r), -EINVAL);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_noop)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

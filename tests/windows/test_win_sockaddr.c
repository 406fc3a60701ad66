/* SPDX-License-Identifier: MIT */
/*
 * SOCKADDR_INET conversions (platform/windows/sockaddr.c): both families round trip, the
 * family is always set, ports are in network order, bad input is refused and writes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "platform/windows/win.h"

static void test_v4_round_trip(void **state)
{
	struct plat_addr a = {.family = WG_AF_INET, .addr = {10, 200, 0, 5}, .prefix = 28}, b;
	SOCKADDR_INET sa;
	char text[PLAT_WIN_ADDR_STRLEN];

	memset(&sa, 0xa5, sizeof(sa));
	assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), 0);
	assert_int_equal(sa.si_family, AF_INET);
	assert_int_equal(sa.Ipv4.sin_family, AF_INET);
	assert_memory_equal(&sa.Ipv4.sin_addr, a.addr, 4);
	assert_int_equal(sa.Ipv4.sin_port, 0);
	/* S_addr holds the octets in memory order: 10.200.0.5 reads back as such */
	assert_int_equal(ntohl(sa.Ipv4.sin_addr.S_un.S_addr), 0x0ac80005);
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 28, &b), 0);
	assert_int_equal(b.family, WG_AF_INET);
	assert_int_equal(b.prefix, 28);
	assert_memory_equal(b.addr, a.addr, 4);
	plat_win_addr_str(&b, true, text);
	assert_string_equal(text, "10.200.0.5/28");
}

static void test_v6_round_trip(void **state)
{
	struct plat_addr a = {.family = WG_AF_INET6,
			      .addr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			      .prefix = 64},
			 b;
	SOCKADDR_INET sa;
	char text[PLAT_WIN_ADDR_STRLEN];

	memset(&sa, 0xa5, sizeof(sa));
	assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), 0);
	assert_int_equal(sa.si_family, AF_INET6);
	assert_memory_equal(&sa.Ipv6.sin6_addr, a.addr, 16);
	assert_int_equal(sa.Ipv6.sin6_port, 0);
	assert_int_equal(sa.Ipv6.sin6_flowinfo, 0);
	assert_int_equal(sa.Ipv6.sin6_scope_id, 0);
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 64, &b), 0);
	assert_int_equal(b.family, WG_AF_INET6);
	assert_memory_equal(b.addr, a.addr, 16);
	plat_win_addr_str(&b, true, text);
	assert_string_equal(text, "fd00::1/64");
	plat_win_addr_str(&b, false, text);
	assert_string_equal(text, "fd00::1");
}

static void test_endpoints(void **state)
{
	struct wg_endpoint e4 = {.family = WG_AF_INET, .port = 51820, .addr = {198, 18, 0, 1}};
	struct wg_endpoint e6 = {
		.family = WG_AF_INET6, .port = 443, .addr = {0xfd, 0x00, [15] = 2}};
	struct wg_endpoint back;
	SOCKADDR_INET sa;

	assert_int_equal(plat_win_endpoint_to_sockaddr(&e4, &sa), 0);
	assert_int_equal(sa.si_family, AF_INET);
	assert_int_equal(sa.Ipv4.sin_port, htons(51820));
	assert_int_equal(((uint8_t *)&sa.Ipv4.sin_port)[0], 51820 >> 8); /* network order */
	assert_int_equal(plat_win_sockaddr_to_endpoint(&sa, &back), 0);
	assert_int_equal(back.family, e4.family);
	assert_int_equal(back.port, e4.port);
	assert_memory_equal(back.addr, e4.addr, 4);

	assert_int_equal(plat_win_endpoint_to_sockaddr(&e6, &sa), 0);
	assert_int_equal(sa.si_family, AF_INET6);
	assert_int_equal(ntohs(sa.Ipv6.sin6_port), 443);
	assert_int_equal(plat_win_sockaddr_to_endpoint(&sa, &back), 0);
	assert_int_equal(back.family, e6.family);
	assert_int_equal(back.port, e6.port);
	assert_memory_equal(back.addr, e6.addr, 16);
}

static void test_bad_input(void **state)
{
	struct plat_addr a = {.family = WG_AF_INET, .addr = {10, 0, 0, 1}, .prefix = 33};
	struct plat_addr out, before;
	struct wg_endpoint ep = {.family = 0};
	SOCKADDR_INET sa, sa_before;
	char text[PLAT_WIN_ADDR_STRLEN];

	memset(&sa, 0x5a, sizeof(sa));
	sa_before = sa;
	assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), -EINVAL); /* /33 */
	a.family = WG_AF_INET6;
	a.prefix = 129;
	assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), -EINVAL);
	a.family = 2; /* AF_INET's value, not ours */
	a.prefix = 8;
	assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), -EINVAL);
	assert_int_equal(plat_win_addr_to_sockaddr(NULL, &sa), -EINVAL);
	assert_int_equal(plat_win_endpoint_to_sockaddr(&ep, &sa), -EINVAL);
	assert_memory_equal(&sa, &sa_before, sizeof(sa)); /* nothing written */
	plat_win_addr_str(&a, true, text);
	assert_string_equal(text, "?");

	memset(&out, 0x77, sizeof(out));
	memset(&before, 0x77, sizeof(before));
	memset(&sa, 0, sizeof(sa));
	sa.si_family = AF_UNIX;
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 8, &out), -EAFNOSUPPORT);
	sa.si_family = AF_UNSPEC;
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 8, &out), -EAFNOSUPPORT);
	sa.si_family = AF_INET;
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 33, &out), -EINVAL);
	sa.si_family = AF_INET6;
	assert_int_equal(plat_win_sockaddr_to_addr(&sa, 129, &out), -EINVAL);
	assert_memory_equal(&out, &before, sizeof(out));
	assert_int_equal(plat_win_sockaddr_to_endpoint(&sa, NULL), -EINVAL);
}

/* Every IPv4 address of a sweep and every single-bit IPv6 address survive the round trip. */
static void test_sweep(void **state)
{
	unsigned i;

	for (i = 0; i < 1u << 16; i++) {
		uint32_t v = i * 65537u + 12345u;
		struct plat_addr a = {.family = WG_AF_INET, .prefix = (uint8_t)(i % 33)}, b;
		SOCKADDR_INET sa;

		a.addr[0] = (uint8_t)(v >> 24);
		a.addr[1] = (uint8_t)(v >> 16);
		a.addr[2] = (uint8_t)(v >> 8);
		a.addr[3] = (uint8_t)v;
		assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), 0);
		assert_int_equal(ntohl(sa.Ipv4.sin_addr.S_un.S_addr), v);
		assert_int_equal(plat_win_sockaddr_to_addr(&sa, a.prefix, &b), 0);
		assert_int_equal(a.family, b.family);
		assert_int_equal(a.prefix, b.prefix);
		assert_memory_equal(a.addr, b.addr, sizeof(a.addr));
	}
	for (i = 0; i < 128; i++) {
		struct plat_addr a = {.family = WG_AF_INET6, .prefix = (uint8_t)i}, b;
		SOCKADDR_INET sa;

		a.addr[i / 8] = (uint8_t)(0x80u >> (i % 8));
		assert_int_equal(plat_win_addr_to_sockaddr(&a, &sa), 0);
		assert_int_equal(plat_win_sockaddr_to_addr(&sa, a.prefix, &b), 0);
		assert_int_equal(a.family, b.family);
		assert_int_equal(a.prefix, b.prefix);
		assert_memory_equal(a.addr, b.addr, sizeof(a.addr));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_round_trip), cmocka_unit_test(test_v6_round_trip),
		cmocka_unit_test(test_endpoints),     cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

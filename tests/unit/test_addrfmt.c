/* SPDX-License-Identifier: MIT */
/*
 * lib/addrfmt: addresses as people write them. A v4-mapped IPv6 address (what a dual-stack
 * listener's accept() reports for an IPv4 peer) prints as the IPv4 address; IPv6 in RFC 5952
 * form with brackets when a port follows; anything unusable prints "?".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/addrfmt.h"

static struct sockaddr_storage v4(const char *a, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

static void test_table(void **state)
{
	static const struct {
		int family;
		const char *in;
		uint16_t port;
		const char *addr, *with_port;
	} v[] = {
		{4, "198.18.0.2", 51420, "198.18.0.2", "198.18.0.2:51420"},
		{4, "0.0.0.0", 0, "0.0.0.0", "0.0.0.0:0"},
		{4, "255.255.255.255", 65535, "255.255.255.255", "255.255.255.255:65535"},
		{6, "::ffff:198.18.0.2", 51421, "198.18.0.2", "198.18.0.2:51421"},
		{6, "::ffff:10.200.0.1", 53, "10.200.0.1", "10.200.0.1:53"},
		{6, "fd00:200::1", 51420, "fd00:200::1", "[fd00:200::1]:51420"},
		{6, "2001:0db8:0000:0000:0000:0000:0000:0001", 1, "2001:db8::1", "[2001:db8::1]:1"},
		{6, "::1", 15353, "::1", "[::1]:15353"},
		{6, "::", 0, "::", "[::]:0"},
		/* IPv4-compatible and NAT64 addresses are IPv6 addresses, not mapped ones */
		{6, "64:ff9b::c612:2", 80, "64:ff9b::c612:2", "[64:ff9b::c612:2]:80"},
		{6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
	};
	char out[ADDRFMT_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sockaddr_storage ss =
			v[i].family == 4 ? v4(v[i].in, v[i].port) : v6(v[i].in, v[i].port);
		const struct sockaddr *sa = (const struct sockaddr *)&ss;

		assert_ptr_equal(addrfmt_sockaddr(sa, sizeof(ss), false, out), out);
		assert_string_equal(out, v[i].addr);
		assert_string_equal(addrfmt_sockaddr(sa, sizeof(ss), true, out), v[i].with_port);
		/* the exact sockaddr length is enough */
		assert_string_equal(addrfmt_sockaddr(sa,
						     v[i].family == 4 ? sizeof(struct sockaddr_in)
								      : sizeof(struct sockaddr_in6),
						     true, out),
				    v[i].with_port);
	}
}

static void test_unusable(void **state)
{
	struct sockaddr_storage ss = v4("198.18.0.2", 1), s6 = v6("::1", 1);
	char out[ADDRFMT_LEN];

	(void)state;
	assert_string_equal(addrfmt_sockaddr(NULL, sizeof(ss), true, out), "?");
	assert_string_equal(addrfmt_sockaddr((struct sockaddr *)&ss, 0, true, out), "?");
	assert_string_equal(addrfmt_sockaddr((struct sockaddr *)&ss, sizeof(struct sockaddr_in) - 1,
					     false, out),
			    "?");
	assert_string_equal(addrfmt_sockaddr((struct sockaddr *)&s6,
					     sizeof(struct sockaddr_in6) - 1, false, out),
			    "?");
	ss.ss_family = AF_UNIX;
	assert_string_equal(addrfmt_sockaddr((struct sockaddr *)&ss, sizeof(ss), true, out), "?");
	ss.ss_family = AF_UNSPEC;
	assert_string_equal(addrfmt_sockaddr((struct sockaddr *)&ss, sizeof(ss), false, out), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_unusable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Winsock UDP (platform/windows/udp.c) over loopback under Wine: one port for both
 * families, a taken port refused, datagrams both ways on 127.0.0.1 and ::1 with the local
 * address they arrived on (IP_PKTINFO / IPV6_PKTINFO), replies from that address (sticky
 * source), a source address that is not ours cleared and retried, a blocked receiver woken
 * by plat_udp_shutdown; then two WireGuard engines (the unit tests' harness) exchanging
 * every handshake and data message through these sockets, both directions, both families.
 *
 * This is the UDP half of the Windows packet loop; the device core (dataplane/device.c)
 * does not build for Windows yet (README: Windows).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "engine_harness.h"
#include "platform/udp.h"
#include "platform/windows/win.h"

static const uint8_t lo4[16] = {127, 0, 0, 1};
static const uint8_t lo6[16] = {[15] = 1};

static uint8_t rbuf_mem[PLAT_UDP_BUF_LEN];
static uint8_t *const rbuf[1] = {rbuf_mem};

static void recv_timeout(struct plat_udp *u)
{
	DWORD ms = 5000;

	for (int f = 0; f < 2; f++)
		if (plat_udp_fd(u, f) >= 0)
			setsockopt((SOCKET)plat_udp_fd(u, f), SOL_SOCKET, SO_RCVTIMEO,
				   (const char *)&ms, sizeof(ms));
}

static bool have_v6(struct plat_udp *u)
{
	if (plat_udp_fd(u, PLAT_UDP_V6) >= 0)
		return true;
	print_message("note: no IPv6 socket here; IPv6 parts skipped\n");
	return false;
}

static void test_open(void **state)
{
	struct plat_udp *a = NULL, *b = NULL;

	assert_int_equal(plat_udp_open(0, 0, &a), 0);
	assert_true(plat_udp_port(a) != 0);
	assert_true(plat_udp_fd(a, PLAT_UDP_V4) >= 0);
	assert_false(plat_udp_gso(a));
	assert_false(plat_udp_gro(a));
	assert_int_equal(plat_udp_set_mark(a, 0x51820), 0); /* accepted, no SO_MARK here */
	/* the same port again: taken */
	assert_int_equal(plat_udp_open(plat_udp_port(a), 0, &b), -EADDRINUSE);
	assert_null(b);
	plat_udp_close(a);
	plat_udp_close(NULL);
}

/* Send payload from a to b's port on family f; receive it on b; return what arrived. */
static void exchange(struct plat_udp *a, struct plat_udp *b, bool v6,
		     const struct plat_udp_src *src, struct plat_udp_msg *got)
{
	static const char payload[] = "weft over winsock";
	struct plat_udp_msg m = {.buf = (uint8_t *)payload, .len = sizeof(payload)};
	struct plat_udp_msg out[PLAT_UDP_MAX_SEGMENTS];

	m.peer.family = v6 ? WG_AF_INET6 : WG_AF_INET;
	m.peer.port = plat_udp_port(b);
	memcpy(m.peer.addr, v6 ? lo6 : lo4, 16);
	if (src)
		m.local = *src;
	assert_int_equal(plat_udp_send(a, &m, 1), 1);
	assert_true(m.sent); /* the device counts bytes (and send errors) by it */
	assert_int_equal(plat_udp_recv(b, v6 ? PLAT_UDP_V6 : PLAT_UDP_V4, rbuf, 1, out,
				       PLAT_UDP_MAX_SEGMENTS),
			 1);
	assert_int_equal(out[0].len, sizeof(payload));
	assert_memory_equal(out[0].buf, payload, sizeof(payload));
	assert_int_equal(out[0].peer.family, m.peer.family);
	assert_int_equal(out[0].peer.port, plat_udp_port(a));
	assert_memory_equal(out[0].peer.addr, v6 ? lo6 : lo4, v6 ? 16 : 4);
	*got = out[0];
}

static void test_loopback_both_ways(void **state)
{
	struct plat_udp *a = NULL, *b = NULL;
	struct plat_udp_msg got;
	struct plat_udp_src bogus = {.addr = {198, 18, 0, 77}, .valid = true};

	assert_int_equal(plat_udp_open(0, 0, &a), 0);
	assert_int_equal(plat_udp_open(0, 0, &b), 0);
	recv_timeout(a);
	recv_timeout(b);

	exchange(a, b, false, NULL, &got);
	assert_true(got.local.valid); /* IP_PKTINFO: it came to 127.0.0.1 */
	assert_memory_equal(got.local.addr, lo4, 4);
	/* reply from the address it came to (sticky source) */
	exchange(b, a, false, &got.local, &got);
	/* a source we do not have: cleared and retried without it, still delivered */
	exchange(b, a, false, &bogus, &got);

	if (have_v6(a) && have_v6(b)) {
		exchange(a, b, true, NULL, &got);
		assert_true(got.local.valid);
		assert_memory_equal(got.local.addr, lo6, 16);
		exchange(b, a, true, &got.local, &got);
	}

	/* an unset family is refused, nothing sent */
	{
		struct plat_udp_msg m = {.buf = (uint8_t *)"x", .len = 1, .sent = true};

		assert_int_equal(plat_udp_send(a, &m, 1), -EAFNOSUPPORT);
		assert_false(m.sent);
	}
	plat_udp_close(a);
	plat_udp_close(b);
}

struct rx_arg {
	struct plat_udp *u;
	int r;
};

static DWORD WINAPI blocked_receiver(void *p)
{
	struct rx_arg *a = p;
	static uint8_t mem[PLAT_UDP_BUF_LEN];
	uint8_t *const bufs[1] = {mem};
	struct plat_udp_msg out[PLAT_UDP_MAX_SEGMENTS];

	a->r = plat_udp_recv(a->u, PLAT_UDP_V4, bufs, 1, out, PLAT_UDP_MAX_SEGMENTS);
	return 0;
}

static void test_shutdown_wakes_receiver(void **state)
{
	struct rx_arg arg = {.r = 1};
	HANDLE th;

	assert_int_equal(plat_udp_open(0, 0, &arg.u), 0);
	th = CreateThread(NULL, 0, blocked_receiver, &arg, 0, NULL);
	assert_non_null(th);
	Sleep(200);
	assert_int_equal(WaitForSingleObject(th, 0), WAIT_TIMEOUT); /* blocked */
	plat_udp_shutdown(arg.u);
	assert_int_equal(WaitForSingleObject(th, 5000), WAIT_OBJECT_0);
	assert_int_equal(arg.r, -ESHUTDOWN);
	CloseHandle(th);
	plat_udp_close(arg.u);
}

/* ---------------------------------------------------------------------------------------- */
/* Two engines over these sockets                                                            */

static struct harness H;
static struct plat_udp *sock[2];
static bool use_v6;
static unsigned carried;

/* The harness's wire: every message goes out of one socket and is read back from the other. */
static bool over_udp(struct harness *h, int from, struct h_msg *m)
{
	struct plat_udp_msg out[PLAT_UDP_MAX_SEGMENTS];
	struct plat_udp_msg s = {.buf = m->bytes, .len = m->len};
	int to = !from;

	s.peer.family = use_v6 ? WG_AF_INET6 : WG_AF_INET;
	s.peer.port = plat_udp_port(sock[to]);
	memcpy(s.peer.addr, use_v6 ? lo6 : lo4, 16);
	if (plat_udp_send(sock[from], &s, 1) != 1)
		fail_msg("send %d -> %d failed", from, to);
	if (plat_udp_recv(sock[to], use_v6 ? PLAT_UDP_V6 : PLAT_UDP_V4, rbuf, 1, out,
			  PLAT_UDP_MAX_SEGMENTS) != 1)
		fail_msg("receive on %d failed", to);
	assert_int_equal(out[0].len, m->len);
	assert_int_equal(out[0].peer.port, plat_udp_port(sock[from]));
	memcpy(m->bytes, out[0].buf, out[0].len); /* deliver what the socket delivered */
	carried++;
	return true;
}

static void ping(int i, bool v6_inner, size_t payload, uint8_t fill)
{
	uint8_t pkt[H_MAX_MSG];
	size_t len = h_make_packet(pkt, i, v6_inner, payload, fill);
	struct h_node *dst = &H.node[!i];
	size_t before = dst->ninbox;

	h_send(&H, i, pkt, len);
	h_deliver(&H, 1000);
	assert_int_equal(dst->ninbox, before + 1);
	assert_int_equal(dst->inbox_len[before], len);
	assert_memory_equal(dst->inbox[before], pkt, len);
}

static void run_engines(bool v6)
{
	h_init(&H, 7, NULL);
	assert_int_equal(plat_udp_open(0, 0, &sock[0]), 0);
	assert_int_equal(plat_udp_open(0, 0, &sock[1]), 0);
	recv_timeout(sock[0]);
	recv_timeout(sock[1]);
	if (v6 && !(have_v6(sock[0]) && have_v6(sock[1]))) {
		plat_udp_close(sock[0]);
		plat_udp_close(sock[1]);
		h_done(&H);
		skip();
	}
	use_v6 = v6;
	carried = 0;
	H.filter = over_udp;

	ping(0, false, 100, 0xaa); /* initiation, response, data */
	assert_int_equal(H.node[0].handshakes_done, 1);
	assert_int_equal(H.node[1].rx_count[WG_RX_HANDSHAKE_INIT], 1);
	ping(1, false, 1000, 0x55);
	ping(0, true, 1300, 0x11);
	ping(1, true, 0, 0x00);
	assert_int_equal(H.node[0].initiations_sent, 1);
	assert_int_equal(carried, 2 + 4); /* two handshake messages, four data messages */
	assert_int_equal(H.node[0].peer->tx_bytes, H.node[1].peer->rx_bytes);
	assert_int_equal(H.node[1].peer->tx_bytes, H.node[0].peer->rx_bytes);

	plat_udp_close(sock[0]);
	plat_udp_close(sock[1]);
	h_done(&H);
}

static void test_engines_over_udp_v4(void **state)
{
	run_engines(false);
}

static void test_engines_over_udp_v6(void **state)
{
	run_engines(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_loopback_both_ways),
		cmocka_unit_test(test_shutdown_wakes_receiver),
		cmocka_unit_test(test_engines_over_udp_v4),
		cmocka_unit_test(test_engines_over_udp_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

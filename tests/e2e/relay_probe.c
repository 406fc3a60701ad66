/* SPDX-License-Identifier: MIT */
/*
 * weft-relay-probe: daemon/relay.c against a real TURN server, for tests/e2e/relay_turn.sh.
 * It plays all three parts in one namespace: the relay (dmn_relay), the WireGuard device (a
 * UDP socket on 127.0.0.1 that echoes nothing and checks everything) and the remote peer (a
 * plain UDP socket on PEER_IP that sends straight to the relayed address, as a peer's
 * WireGuard socket would).
 *
 *   weft-relay-probe SERVER PORT data    USER PASS PEER_IP
 *   weft-relay-probe SERVER PORT rest    SECRET PEER_IP
 *   weft-relay-probe SERVER PORT expired SECRET
 *   weft-relay-probe SERVER PORT refused USER BADPASS GOODPASS
 *   weft-relay-probe SERVER PORT down    USER PASS      (prints "failed: ..." then waits)
 *   weft-relay-probe SERVER PORT bench   USER PASS PEER_IP MIB (throughput and the relay
 *                                          thread's CPU, MIB MiB each way in 1,400-byte
 *                                          datagrams, 64 in flight)
 *
 * Prints "ok: ..." lines; exits 0 when every check held, 1 (with "FAIL: ...") otherwise.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/relay.h"
#include "lib/log.h"
#include "overlay/turn.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	exit(1);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct wg_endpoint ep4(const char *ip, uint16_t port)
{
	struct wg_endpoint e = {.family = WG_AF_INET, .port = port};

	if (inet_pton(AF_INET, ip, e.addr) != 1)
		die("bad address %s", ip);
	return e;
}

static const char *ep_text(const struct wg_endpoint *e)
{
	static char buf[4][64];
	static int k;
	char a[INET6_ADDRSTRLEN];

	k = (k + 1) % 4;
	inet_ntop(e->family == WG_AF_INET ? AF_INET : AF_INET6, e->addr, a, sizeof(a));
	snprintf(buf[k], sizeof(buf[k]), "%s:%u", a, e->port);
	return buf[k];
}

static int udp_bound(const char *ip, uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	int big = 4 << 20;

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		die("socket on %s: %s", ip, strerror(errno));
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static void send_to(int fd, const struct wg_endpoint *to, const void *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(to->port)};

	memcpy(&sa.sin_addr, to->addr, 4);
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)len)
		die("sendto %s: %s", ep_text(to), strerror(errno));
}

/* A datagram within timeout_ms, or -1. */
static ssize_t recv_within(int fd, void *buf, size_t cap, struct wg_endpoint *from, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&sa, &sl);
	if (n >= 0 && from) {
		*from = (struct wg_endpoint){.family = WG_AF_INET, .port = ntohs(sa.sin_port)};
		memcpy(from->addr, &sa.sin_addr, 4);
	}
	return n;
}

static void wait_state(struct dmn_relay *r, int state, int timeout_ms, struct dmn_relay_status *st)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		dmn_relay_status(r, st);
		if (st->state == state)
			return;
		if (mono_ms() > end)
			die("state %d after %d ms, wanted %d (error: %s)", st->state, timeout_ms,
			    state, st->error);
		usleep(50000);
	}
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7);
}

static struct dmn_relay *start(const char *server, const char *port, const char *user,
			       const char *pass, uint16_t wg_port)
{
	struct dmn_relay_config cfg;
	struct dmn_relay *r;
	int e;

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = ep4(server, (uint16_t)atoi(port));
	snprintf(cfg.user, sizeof(cfg.user), "%s", user);
	snprintf(cfg.pass, sizeof(cfg.pass), "%s", pass);
	cfg.wg_port = wg_port;
	e = dmn_relay_start(&cfg, &r);
	if (e < 0)
		die("dmn_relay_start: %s", strerror(-e));
	return r;
}

/*
 * Data both ways: the peer sends to the relayed address until the device hears it (the
 * permission takes a round trip), then N exchanges of varied sizes, each checked byte for byte
 * and by source; the channel must be bound within the run (ChannelData from then on).
 */
static void data_test(struct dmn_relay *r, int dev, const char *peer_ip, int rounds)
{
	struct dmn_relay_status st;
	struct wg_endpoint relayed, lp, from, remote, peer_ep;
	uint8_t out[1500], in[2048];
	uint16_t peer_port;
	int peer = udp_bound(peer_ip, &peer_port), i, n, foreign;
	uint64_t t0, bytes = 0;
	bool got = false;
	uint16_t fport;

	peer_ep = ep4(peer_ip, peer_port);
	wait_state(r, DMN_RELAY_ALLOCATED, 10000, &st);
	relayed = st.relayed;
	printf("ok: allocated %s (mapped %s)\n", ep_text(&relayed), ep_text(&st.mapped));
	if (dmn_relay_permit(r, &peer_ep, 1) < 0)
		die("permit");

	/* First contact: the peer's "handshake initiation" reaches the device. */
	t0 = mono_ms();
	fill(out, 148, 1);
	out[0] = 1;
	while (!got && mono_ms() - t0 < 5000) {
		send_to(peer, &relayed, out, 148);
		n = (int)recv_within(dev, in, sizeof(in), &lp, 200);
		got = n == 148 && !memcmp(in, out, 148);
	}
	if (!got)
		die("nothing from the peer reached the device through %s", ep_text(&relayed));
	printf("ok: peer -> device after %" PRIu64 " ms, from forwarder %s\n", mono_ms() - t0,
	       ep_text(&lp));
	if (!dmn_relay_remote_of(r, &lp, &remote) || memcmp(&remote.addr, peer_ep.addr, 4) ||
	    remote.port != peer_port)
		die("remote_of(%s) is not the peer %s", ep_text(&lp), ep_text(&peer_ep));
	printf("ok: remote_of(%s) = %s\n", ep_text(&lp), ep_text(&remote));
	while (recv_within(dev, in, sizeof(in), NULL, 100) >= 0)
		; /* duplicates of the first contact */

	for (i = 0; i < rounds; i++) {
		size_t len = 1 + (size_t)(i * 97) % 1400;

		/* device -> peer: the reply leaves from the relayed address */
		fill(out, len, (unsigned)i);
		send_to(dev, &lp, out, len);
		n = (int)recv_within(peer, in, sizeof(in), &from, 2000);
		if (n != (int)len || memcmp(in, out, len))
			die("round %d: device -> peer: %d bytes, wanted %zu", i, n, len);
		if (memcmp(from.addr, relayed.addr, 4) || from.port != relayed.port)
			die("round %d: reply came from %s, not %s", i, ep_text(&from),
			    ep_text(&relayed));
		/* peer -> device */
		fill(out, len, (unsigned)i + 1000);
		send_to(peer, &relayed, out, len);
		n = (int)recv_within(dev, in, sizeof(in), &from, 2000);
		if (n != (int)len || memcmp(in, out, len))
			die("round %d: peer -> device: %d bytes, wanted %zu", i, n, len);
		if (from.port != lp.port)
			die("round %d: from forwarder %s, not %s", i, ep_text(&from), ep_text(&lp));
		bytes += len;
		if (i == rounds / 2)
			usleep(300000); /* time for the ChannelBind round trip, mid-run */
	}
	dmn_relay_status(r, &st);
	printf("ok: %d rounds both ways, byte for byte; to peers %" PRIu64 " B/%" PRIu64
	       " pkts, from peers %" PRIu64 " B/%" PRIu64 " pkts, %u remote(s), %u channel(s)\n",
	       rounds, st.bytes_to_peers, st.packets_to_peers, st.bytes_from_peers,
	       st.packets_from_peers, st.remotes, st.channels_bound);
	if (st.channels_bound != 1)
		die("the remote's channel is not bound (ChannelData never used)");
	if (st.remotes != 1 || st.bytes_to_peers != bytes ||
	    st.packets_to_peers != (uint64_t)rounds)
		die("counters: %u remotes, %" PRIu64 " bytes to peers (sent %" PRIu64 ")",
		    st.remotes, st.bytes_to_peers, bytes);
	if (st.bytes_from_peers < bytes + 148)
		die("counters: %" PRIu64 " bytes from peers", st.bytes_from_peers);
	/* After the bind: more traffic still flows (now as ChannelData both ways). */
	for (i = 0; i < 20; i++) {
		fill(out, 200, (unsigned)i + 7);
		send_to(dev, &lp, out, 200);
		if (recv_within(peer, in, sizeof(in), NULL, 2000) != 200 || memcmp(in, out, 200))
			die("after bind: device -> peer lost");
		send_to(peer, &relayed, out, 200);
		if (recv_within(dev, in, sizeof(in), NULL, 2000) != 200 || memcmp(in, out, 200))
			die("after bind: peer -> device lost");
	}
	printf("ok: 20 more rounds over the bound channel\n");

	/* Someone else on the host writes to the forwarder: dropped, counted, nothing sent. */
	foreign = udp_bound("127.0.0.1", &fport);
	send_to(foreign, &lp, "spoof", 5);
	usleep(200000);
	dmn_relay_status(r, &st);
	if (st.dropped_foreign != 1)
		die("foreign datagram: dropped_foreign %" PRIu64, st.dropped_foreign);
	if (recv_within(peer, in, sizeof(in), NULL, 300) >= 0)
		die("a foreign datagram reached the peer");
	printf("ok: a datagram to the forwarder from 127.0.0.1:%u dropped and counted\n", fport);
	close(foreign);
	close(peer);
}

/* CPU ms of every thread of this process but the main one (that is, the relay's). */
static uint64_t relay_cpu_ms(void)
{
	char path[300], line[512];
	uint64_t total = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		FILE *f;
		unsigned long ut, st;
		char *p;

		if (e->d_name[0] == '.' || atoi(e->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
			total += (uint64_t)(ut + st) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

/* One direction: n datagrams of len from a to b (b's address to_b), at most 64 in flight. */
static uint64_t pump(int a, const struct wg_endpoint *to_b, int b, size_t n, size_t len,
		     size_t *lost)
{
	uint8_t out[1500], in[2048];
	size_t sent = 0, got = 0;
	uint64_t t0 = mono_ms();

	memset(out, 0x5a, sizeof(out));
	while (got < n) {
		while (sent < n && sent - got < 64) {
			send_to(a, to_b, out, len);
			sent++;
		}
		if (recv_within(b, in, sizeof(in), NULL, 50) != (ssize_t)len)
			(*lost)++; /* a loss (UDP): counted, and the window moves on */
		got++;
	}
	return mono_ms() - t0;
}

static void bench(struct dmn_relay *r, int dev, const char *peer_ip, unsigned mib)
{
	struct dmn_relay_status st;
	struct wg_endpoint lp, relayed;
	uint16_t peer_port;
	int peer = udp_bound(peer_ip, &peer_port), i;
	struct wg_endpoint peer_ep = ep4(peer_ip, peer_port);
	uint8_t buf[2048];
	size_t n = (size_t)mib * 1024 * 1024 / 1400;
	uint64_t c0, ms_in, ms_out, cpu;
	size_t lost_in = 0, lost_out = 0;

	wait_state(r, DMN_RELAY_ALLOCATED, 10000, &st);
	relayed = st.relayed;
	dmn_relay_permit(r, &peer_ep, 1);
	for (i = 0; i < 50; i++) {
		send_to(peer, &relayed, "hello", 5);
		if (recv_within(dev, buf, sizeof(buf), &lp, 200) == 5)
			break;
	}
	if (i == 50)
		die("no first contact");
	for (i = 0; i < 100; i++) { /* wait for the channel */
		dmn_relay_status(r, &st);
		if (st.channels_bound)
			break;
		send_to(dev, &lp, "x", 1);
		recv_within(peer, buf, sizeof(buf), NULL, 100);
	}
	while (recv_within(dev, buf, sizeof(buf), NULL, 100) >= 0)
		;
	c0 = relay_cpu_ms();
	ms_in = pump(peer, &relayed, dev, n, 1400, &lost_in);
	ms_out = pump(dev, &lp, peer, n, 1400, &lost_out);
	cpu = relay_cpu_ms() - c0;
	printf("ok: bench: %zu x 1400 B each way; peer -> device %.1f MiB/s (%zu lost), device -> "
	       "peer %.1f MiB/s (%zu lost); relay thread CPU %" PRIu64
	       " ms for %.1f MiB (%.0f ms per GiB)\n",
	       n, mib * 1000.0 / (double)(ms_in ? ms_in : 1), lost_in,
	       mib * 1000.0 / (double)(ms_out ? ms_out : 1), lost_out, cpu, 2.0 * mib,
	       (double)cpu * 1024.0 / (2.0 * mib));
	close(peer);
}

int main(int argc, char **argv)
{
	struct dmn_relay_status st;
	struct dmn_relay *r;
	uint16_t wg_port;
	int dev;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_level(LOG_LVL_DEBUG);
	if (argc < 4)
		die("usage: SERVER PORT MODE ...");
	if (crypto_init() < 0)
		die("crypto_init");
	dev = udp_bound("127.0.0.1", &wg_port);

	if (!strcmp(argv[3], "data") && argc == 7) {
		r = start(argv[1], argv[2], argv[4], argv[5], wg_port);
		data_test(r, dev, argv[6], 200);
	} else if (!strcmp(argv[3], "bench") && argc == 8) {
		r = start(argv[1], argv[2], argv[4], argv[5], wg_port);
		bench(r, dev, argv[6], (unsigned)atoi(argv[7]));
	} else if (!strcmp(argv[3], "rest") && argc == 6) {
		char user[OV_TURN_CRED_MAX], pass[OV_TURN_CRED_MAX];

		if (ov_turn_rest_credentials(argv[4], "node-a", (uint64_t)time(NULL) + 3600, user,
					     pass) < 0)
			die("rest credentials");
		r = start(argv[1], argv[2], user, pass, wg_port);
		data_test(r, dev, argv[5], 20);
		printf("ok: TURN REST credentials (%s) accepted\n", user);
	} else if (!strcmp(argv[3], "expired") && argc == 5) {
		char user[OV_TURN_CRED_MAX], pass[OV_TURN_CRED_MAX];

		if (ov_turn_rest_credentials(argv[4], "node-a", (uint64_t)time(NULL) - 60, user,
					     pass) < 0)
			die("rest credentials");
		r = start(argv[1], argv[2], user, pass, wg_port);
		wait_state(r, DMN_RELAY_FAILED, 10000, &st);
		if (!strstr(st.error, "401"))
			die("expired credentials: error \"%s\"", st.error);
		printf("ok: expired REST credentials refused: %s\n", st.error);
	} else if (!strcmp(argv[3], "refused") && argc == 7) {
		uint64_t now;

		r = start(argv[1], argv[2], argv[4], argv[5], wg_port);
		wait_state(r, DMN_RELAY_FAILED, 10000, &st);
		now = mono_ms();
		if (!strstr(st.error, "401: credentials refused"))
			die("wrong password: error \"%s\"", st.error);
		if (st.retry_at_ms <= now)
			die("no retry scheduled");
		printf("ok: wrong password: \"%s\", retry in %" PRIu64 " ms\n", st.error,
		       st.retry_at_ms - now);
		dmn_relay_set_credentials(r, argv[4], argv[6]);
		wait_state(r, DMN_RELAY_ALLOCATED, 5000, &st);
		printf("ok: new credentials: allocated %s within %" PRIu64 " ms\n",
		       ep_text(&st.relayed), mono_ms() - now);
	} else if (!strcmp(argv[3], "down") && argc == 6) {
		uint64_t t0 = mono_ms();

		r = start(argv[1], argv[2], argv[4], argv[5], wg_port);
		wait_state(r, DMN_RELAY_FAILED, 60000, &st);
		if (strcmp(st.error, "server did not answer"))
			die("server down: error \"%s\"", st.error);
		printf("failed: \"%s\" after %" PRIu64 " ms, retry at +%" PRIu64 " ms\n", st.error,
		       mono_ms() - t0, st.retry_at_ms - mono_ms());
		/* The script starts the server now; the retries must find it. */
		wait_state(r, DMN_RELAY_ALLOCATED, 90000, &st);
		printf("ok: allocated %s once the server was up (%" PRIu64 " ms after start)\n",
		       ep_text(&st.relayed), mono_ms() - t0);
	} else {
		die("usage: bad mode or arguments");
	}
	dmn_relay_free(r);
	close(dev);
	printf("ok: relay freed\n");
	return 0;
}

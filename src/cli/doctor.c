/* SPDX-License-Identifier: MIT */
/*
 * cli/doctor — `weft doctor`. Checks, in order (a check that cannot run says why: skip):
 *
 *   state directory   owned by us, 0700; state.json, view.json, tokens.json not writable by
 *                     group or others, private.key 0600 (what weftd itself insists on)
 *   weftd             answers on <dir>/weftd.sock; the node is not removed from the cluster
 *   interface         exists and is up (SIOCGIFFLAGS), its MTU
 *   view              the leader publishes it; a member heard a view from the leader
 *                     recently (weft_view_age: push or pull)
 *   clock             this node's wall clock against the leader's (op TIME over the
 *                     authenticated overlay channel; the round trip halved). WireGuard
 *                     refuses an initiation whose TAI64N timestamp is not newer than the last
 *                     one, so a clock stepped back stalls handshakes; tokens expire by the
 *                     leader's clock
 *   dns               the node's DNS server answers leader.<zone> (A) on 127.0.0.1
 *   per peer:
 *     handshake       age of the last handshake and the health checker's verdict (a down
 *                     peer is named with how long it has been silent)
 *     mtu             the underlay's path MTU to the peer's endpoint (IP_MTU of a connected
 *                     UDP socket) against the overlay MTU plus WireGuard's 60 (IPv4) or 80
 *                     (IPv6) bytes; then a DF probe over the overlay: an ICMP echo of the
 *                     overlay MTU with DF set (IP_PMTUDISC_PROBE, raw socket: root), after a
 *                     small one that shows the peer answers at all
 *
 * Must not: change anything (it only reads, and sends the probes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/doctor.h"
#include "ctl/chan.h"
#include "ctl/ctl.h"
#include "overlay/state.h"

enum verdict { PASS, WARN, FAIL, SKIP };
static const char *const verdict_name[] = {"pass", "warn", "fail", "skip"};

enum {
	DOCTOR_CALL_TIMEOUT_MS = 15000,
	DOCTOR_VIEW_STALE_S = 60, /* a member that heard no view for this long: warn */
	DOCTOR_SKEW_WARN_MS = 1000,
	DOCTOR_SKEW_FAIL_MS = 60000,
	DOCTOR_HANDSHAKE_OLD_S = 180, /* REF: healthy while younger (daemon/node.h) */
	DOCTOR_PROBE_TIMEOUT_MS = 1000,
	DOCTOR_PROBE_TRIES = 3,
};

struct report {
	bool json;
	json_t *checks;
	unsigned count[4];
};

static void add(struct report *r, const char *check, const char *peer, enum verdict v,
		const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(struct report *r, const char *check, const char *peer, enum verdict v,
		const char *fix, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->count[v]++;
	o = json_pack("{s:s,s:s,s:s}", "check", check, "verdict", verdict_name[v], "detail",
		      detail);
	if (o && peer)
		json_object_set_new(o, "peer", json_string(peer));
	if (o && fix && v != PASS && v != SKIP)
		json_object_set_new(o, "fix", json_string(fix));
	if (o)
		json_array_append_new(r->checks, o);
	if (r->json)
		return;
	char name[64];

	snprintf(name, sizeof(name), "%s%s%s", check, peer ? " " : "", peer ? peer : "");
	printf("  %-4s  %-22s %s\n",
	       v == PASS   ? "ok"
	       : v == WARN ? "WARN"
	       : v == FAIL ? "FAIL"
			   : "skip",
	       name, detail);
	if (fix && v != PASS && v != SKIP)
		printf("        %-22s fix: %s\n", "", fix);
}

/* --- state directory ---------------------------------------------------------------------------
 */

static void check_state_dir(struct report *r, const char *dir)
{
	static const struct {
		const char *name;
		mode_t forbidden;
		bool required;
	} files[] = {
		{OV_STATE_FILE, 022, true},
		{OV_STATE_KEY_FILE, 077, true},
		{"view.json", 022, false},
		{"tokens.json", 022, false},
	};
	char path[PATH_MAX + 64], fix[PATH_MAX + 128];
	struct stat st;
	uid_t me = geteuid();

	if (stat(dir, &st)) {
		snprintf(fix, sizeof(fix), "run `weft init` or `weft join` (or pass -d DIR)");
		add(r, "state directory", NULL, FAIL, fix, "%s: %s", dir, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		add(r, "state directory", NULL, FAIL, "point -d at the state directory",
		    "%s is not a directory", dir);
		return;
	}
	if (st.st_uid != me) {
		snprintf(fix, sizeof(fix), "chown -R %u %s", (unsigned)me, dir);
		add(r, "state directory", NULL, FAIL, fix, "%s belongs to uid %u, not %u", dir,
		    (unsigned)st.st_uid, (unsigned)me);
		return;
	}
	if (st.st_mode & 077) {
		snprintf(fix, sizeof(fix), "chmod 700 %s", dir);
		add(r, "state directory", NULL, FAIL, fix,
		    "%s is mode %03o: group or others can reach the key; weftd refuses it", dir,
		    (unsigned)(st.st_mode & 0777));
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if (lstat(path, &st)) {
			if (files[i].required || errno != ENOENT) {
				add(r, "state directory", NULL, FAIL,
				    "run `weft init` or `weft join` for a new node", "%s: %s", path,
				    strerror(errno));
				return;
			}
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_uid != me) {
			snprintf(fix, sizeof(fix), "chown %u %s (a regular file of ours)",
				 (unsigned)me, path);
			add(r, "state directory", NULL, FAIL, fix,
			    "%s is not a regular file of uid %u", path, (unsigned)me);
			return;
		}
		if (st.st_mode & files[i].forbidden) {
			snprintf(fix, sizeof(fix), "chmod %s %s",
				 files[i].forbidden == 077 ? "600" : "go-w", path);
			add(r, "state directory", NULL, FAIL, fix, "%s is mode %03o", path,
			    (unsigned)(st.st_mode & 0777));
			return;
		}
	}
	add(r, "state directory", NULL, PASS, NULL,
	    "%s: 0700, its files ours and private (private.key 0600)", dir);
}

/* --- weftd -------------------------------------------------------------------------------------
 */

static int ask(const char *dir, enum dmn_op op, json_t **ret, char *err, size_t errlen)
{
	struct dmn_request q = {.op = op};
	char path[PATH_MAX + 32];
	json_t *j = dmn_request_to_json(&q);
	struct ctl_chan ch;
	uint8_t type;
	int fd, r;

	snprintf(path, sizeof(path), "%s/weftd.sock", dir);
	fd = ctl_connect_unix(path);
	if (fd < 0) {
		json_decref(j);
		snprintf(err, errlen, "cannot reach %.400s: %s", path, strerror(-fd));
		return fd;
	}
	ctl_chan_init(&ch, fd, DOCTOR_CALL_TIMEOUT_MS, CTL_CHAN_VIEW_MAX);
	r = j ? ctl_chan_call(&ch, j, &type, ret, err, errlen) : -ENOMEM;
	close(fd);
	json_decref(j);
	return r;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static long long num(const json_t *o, const char *k, long long def)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

/* --- interface -----------------------------------------------------------------------------------
 */

static int check_interface(struct report *r, const char *ifname, int *ret_mtu)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char fix[128];

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		snprintf(fix, sizeof(fix),
			 "restart weftd (it creates %s; is doctor running in "
			 "weftd's network namespace?)",
			 ifname);
		add(r, "interface", NULL, FAIL, fix, "%s: %s", ifname, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		snprintf(fix, sizeof(fix), "ip link set %s up (or restart weftd)", ifname);
		add(r, "interface", NULL, FAIL, fix, "%s exists but is down", ifname);
		close(fd);
		return -1;
	}
	*ret_mtu = ioctl(fd, SIOCGIFMTU, &ifr) ? 0 : ifr.ifr_mtu;
	close(fd);
	add(r, "interface", NULL, PASS, NULL, "%s is up, MTU %d", ifname, *ret_mtu);
	return 0;
}

/* --- view and clock ------------------------------------------------------------------------------
 */

static void check_view(struct report *r, const json_t *node)
{
	long long age = num(node, "view_age_ms", -1), gen = num(node, "generation", 0);

	if (!strcmp(str(node, "role"), "leader")) {
		add(r, "view", NULL, PASS, NULL,
		    "this node is the leader and publishes the view (generation %lld)", gen);
	} else if (age < 0) {
		add(r, "view", NULL, SKIP, NULL,
		    "weftd does not report the view's age (older weftd)");
	} else if (age / 1000 >= DOCTOR_VIEW_STALE_S) {
		char fix[256];

		snprintf(fix, sizeof(fix),
			 "changes made since are not here: check the leader %s (weft doctor there) "
			 "and this node's peer entry for it below",
			 str(node, "leader"));
		add(r, "view", NULL, WARN, fix,
		    "no view from the leader %s for %lld s (generation %lld here)",
		    str(node, "leader"), age / 1000, gen);
	} else {
		add(r, "view", NULL, PASS, NULL,
		    "generation %lld, heard from the leader %s %.1f s ago", gen,
		    str(node, "leader"), (double)age / 1000.0);
	}
}

static void check_clock(struct report *r, const char *dir, const json_t *node)
{
	char err[512];
	json_t *j = NULL;
	long long skew, rtt;
	int e;

	if (!strcmp(str(node, "role"), "leader")) {
		add(r, "clock", NULL, PASS, NULL, "this node is the leader: the reference clock");
		return;
	}
	e = ask(dir, DMN_OP_TIME, &j, err, sizeof(err));
	if (e) {
		add(r, "clock", NULL, e == -EREMOTEIO ? FAIL : WARN,
		    "see the view and handshake checks: the leader must be reachable over the "
		    "overlay",
		    "cannot ask the leader %s for its time: %s", str(node, "leader"), err);
		return;
	}
	skew = num(j, "local_time_ms", 0) - num(j, "leader_time_ms", 0);
	rtt = num(j, "rtt_ms", 0);
	if (llabs(skew) >= DOCTOR_SKEW_WARN_MS) {
		bool bad = llabs(skew) >= DOCTOR_SKEW_FAIL_MS;

		add(r, "clock", NULL, bad ? FAIL : WARN,
		    "synchronise both clocks (systemd-timesyncd or chrony on every node); a clock "
		    "stepped back stalls WireGuard handshakes until it catches up",
		    "this node's clock is %.1f s %s the leader %s's (round trip %lld ms)%s",
		    (double)llabs(skew) / 1000.0, skew < 0 ? "behind" : "ahead of",
		    str(j, "leader"), rtt,
		    bad ? ": join tokens expire by the leader's clock, logs do not line up, and "
			  "stepping this clock back to correct it stalls its WireGuard handshakes "
			  "until it catches up"
			: "");
	} else {
		add(r, "clock", NULL, PASS, NULL,
		    "within %lld ms of the leader %s's (round trip %lld ms)", llabs(skew),
		    str(j, "leader"), rtt);
	}
	json_decref(j);
}

/* --- the underlay ---------------------------------------------------------------------- */

/*
 * A member reaches the leader over the underlay for joins (TCP, the cluster port) and for
 * WireGuard (UDP, the same port): a TCP connection to the leader's endpoint says whether the
 * path and the port are open. (UDP cannot be told apart from a silent peer without a
 * handshake: the handshake check below is its answer.)
 */
static void check_underlay(struct report *r, const json_t *node, const json_t *peers)
{
	struct sockaddr_storage sa;
	struct ov_endpoint ep;
	const json_t *p, *leader = NULL;
	const char *text;
	size_t i;
	int fd;

	if (!strcmp(str(node, "role"), "leader"))
		return; /* the members check their way to it */
	json_array_foreach(peers, i, p) if (json_is_true(json_object_get(p, "leader"))) leader = p;
	text = leader ? json_string_value(json_object_get(leader, "endpoint")) : NULL;
	if (!text || ov_endpoint_parse(text, &ep)) {
		add(r, "underlay", NULL, SKIP, NULL, "the leader's underlay endpoint is not known");
		return;
	}
	memset(&sa, 0, sizeof(sa));
	if (ep.family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(ep.port);
		memcpy(&s4->sin_addr, ep.addr, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(ep.port);
		memcpy(&s6->sin6_addr, ep.addr, 16);
	}
	fd = ctl_connect(&sa, 2000, NULL);
	if (fd < 0) {
		char fix[256];

		snprintf(fix, sizeof(fix),
			 "open TCP and UDP port %u towards the leader %s (its host firewall, a "
			 "cloud security group, a NAT in between) and check its address with `weft "
			 "status` there",
			 ep.port, str(leader, "name"));
		add(r, "underlay", NULL, fd == -ETIMEDOUT ? FAIL : WARN, fix,
		    "the leader %s at %s: TCP port %u %s", str(leader, "name"), text, ep.port,
		    fd == -ETIMEDOUT	  ? "does not answer within 2 s"
		    : fd == -ECONNREFUSED ? "refused (weftd not listening there?)"
					  : strerror(-fd));
		return;
	}
	close(fd);
	add(r, "underlay", NULL, PASS, NULL, "the leader %s at %s accepts TCP on port %u",
	    str(leader, "name"), text, ep.port);
}

/* --- DNS
 * ------------------------------------------------------------------------------------------ */

static void check_dns(struct report *r, const json_t *node)
{
	long long port = num(node, "dns_port", 15353);
	const char *zone = str(node, "zone");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	uint8_t q[300], a[1500];
	size_t n = 12;
	char name[300];
	int fd;

	if (port == 0) {
		add(r, "dns", NULL, SKIP, NULL, "weftd runs without DNS (--dns-port 0)");
		return;
	}
	snprintf(name, sizeof(name), "leader.%s", zone);
	memset(q, 0, 12);
	q[0] = 0x77;
	q[1] = (uint8_t)(getpid() & 0xff);
	q[5] = 1; /* one question */
	for (char *lab = strtok(name, "."); lab && n < sizeof(q) - 70; lab = strtok(NULL, ".")) {
		size_t l = strlen(lab);

		if (l > 63)
			break;
		q[n++] = (uint8_t)l;
		memcpy(q + n, lab, l);
		n += l;
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1; /* A */
	q[n++] = 0, q[n++] = 1; /* IN */
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int attempt = 0; fd >= 0 && attempt < 2; attempt++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)n)
			break;
		if (poll(&p, 1, 1500) != 1)
			continue;
		got = recv(fd, a, sizeof(a), 0);
		if (got < 12 || a[0] != q[0] || a[1] != q[1])
			continue;
		close(fd);
		if ((a[3] & 15) == 0 && (a[6] << 8 | a[7]) > 0)
			add(r, "dns", NULL, PASS, NULL, "127.0.0.1:%lld answers leader.%s", port,
			    zone);
		else
			add(r, "dns", NULL, FAIL,
			    "see weftd's log (dns:); the zone is built from the view",
			    "127.0.0.1:%lld answered leader.%s with rcode %d and %d answers", port,
			    zone, a[3] & 15, a[6] << 8 | a[7]);
		return;
	}
	if (fd >= 0)
		close(fd);
	add(r, "dns", NULL, FAIL,
	    "check that weftd's DNS server started (weftd's log: \"dns: zone\") and that nothing "
	    "filters 127.0.0.1",
	    "no answer from 127.0.0.1:%lld for leader.%s within 3 s", port, zone);
}

/* --- peers: handshake, MTU
 * ------------------------------------------------------------------------ */

/* true when the peer is reachable enough for the MTU probe to mean something */
static bool check_handshake(struct report *r, const json_t *p)
{
	const char *name = str(p, "name"), *health = str(p, "health");
	json_t *age = json_object_get(p, "handshake_age");
	long long silent = num(p, "last_reply_age_ms", -1) / 1000;
	char fix[512], hs[64];

	snprintf(fix, sizeof(fix),
		 "check that %s's weftd runs (weft doctor there) and that UDP reaches its endpoint "
		 "%s from here (firewall, NAT, a changed address)",
		 name,
		 json_is_string(json_object_get(p, "endpoint")) ? str(p, "endpoint")
								: "(none known)");
	if (json_is_integer(age))
		snprintf(hs, sizeof(hs), "last handshake %lld s ago",
			 (long long)json_integer_value(age));
	else
		snprintf(hs, sizeof(hs), "no handshake yet");
	if (!strcmp(health, "down")) {
		add(r, "handshake", name, FAIL, fix,
		    "%s is down: no health probe reply for %lld s; %s", name, silent, hs);
		return false;
	} else if (!json_is_integer(age)) {
		add(r, "handshake", name, !strcmp(health, "up") ? WARN : FAIL, fix,
		    "%s: no WireGuard session has been made with it yet (health %s)", name, health);
	} else if (json_integer_value(age) >= DOCTOR_HANDSHAKE_OLD_S) {
		add(r, "handshake", name, FAIL, fix,
		    "%s: %s: sessions are renewed every 2 minutes while traffic flows, so it has "
		    "stopped answering (health %s)",
		    name, hs, health);
	} else {
		add(r, "handshake", name, PASS, NULL,
		    "%s (a session renews every 2 minutes), health %s", hs, health);
	}
	return true;
}

static uint16_t icmp_sum(const uint8_t *b, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* One ICMP echo of total_len bytes (IP header included) with DF to dst: 0 answered,
 * -ETIMEDOUT, -EMSGSIZE (larger than the route allows here), -errno. */
static int echo_df(const struct in_addr *dst, size_t total_len, uint16_t seq)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = *dst};
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	int pmtu = IP_PMTUDISC_PROBE, r = -ETIMEDOUT;
	uint16_t id = (uint16_t)(getpid() ^ 0x5746);
	size_t len = total_len - 20;
	uint8_t *pkt, buf[65536];
	struct timespec t0, t;

	if (fd < 0)
		return -errno;
	pkt = calloc(1, len);
	if (!pkt) {
		close(fd);
		return -ENOMEM;
	}
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	pkt[0] = ICMP_ECHO;
	pkt[4] = (uint8_t)(id >> 8), pkt[5] = (uint8_t)id;
	pkt[6] = (uint8_t)(seq >> 8), pkt[7] = (uint8_t)seq;
	for (size_t i = 8; i < len; i++)
		pkt[i] = (uint8_t)i;
	uint16_t sum = icmp_sum(pkt, len);

	pkt[2] = (uint8_t)(sum >> 8), pkt[3] = (uint8_t)sum;
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)len) {
		r = -errno;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = DOCTOR_PROBE_TIMEOUT_MS -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 20 + 8)
			continue;
		size_t ihl = (size_t)(buf[0] & 15) * 4;

		if ((size_t)n < ihl + 8 || memcmp(buf + 12, &dst->s_addr, 4))
			continue;
		if (buf[ihl] == ICMP_ECHOREPLY && (buf[ihl + 4] << 8 | buf[ihl + 5]) == id &&
		    (buf[ihl + 6] << 8 | buf[ihl + 7]) == seq && (size_t)n == total_len) {
			r = 0;
			break;
		}
	}
out:
	free(pkt);
	close(fd);
	return r;
}

static int probe(const struct in_addr *dst, size_t total_len, uint16_t *seq)
{
	int r = -ETIMEDOUT;

	for (int i = 0; i < DOCTOR_PROBE_TRIES && r == -ETIMEDOUT; i++)
		r = echo_df(dst, total_len, (*seq)++);
	return r;
}

/* The underlay's MTU on the path to the endpoint (route and cached PMTU), or -errno. */
static int path_mtu(const char *endpoint, int *family)
{
	struct ov_endpoint ep;
	struct sockaddr_storage ss;
	socklen_t len, olen = sizeof(int);
	int fd, mtu = 0, r;

	if (ov_endpoint_parse(endpoint, &ep))
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	if (ep.family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(ep.port);
		memcpy(&s->sin_addr, ep.addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(ep.port);
		memcpy(&s->sin6_addr, ep.addr, 16);
		len = sizeof(*s);
	}
	*family = ep.family;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) ||
	    getsockopt(fd, ep.family == 4 ? IPPROTO_IP : IPPROTO_IPV6,
		       ep.family == 4 ? IP_MTU : IPV6_MTU, &mtu, &olen))
		r = -errno;
	else
		r = mtu;
	close(fd);
	return r;
}

static void check_mtu(struct report *r, const json_t *p, int mtu, uint16_t *seq)
{
	const char *name = str(p, "name");
	struct in_addr dst;
	char fix[512];
	int family = 4, pm = -ENOENT, small, big;
	bool underlay_short = false;

	if (json_is_string(json_object_get(p, "endpoint")))
		pm = path_mtu(str(p, "endpoint"), &family);
	if (pm > 0) {
		int need = mtu + (family == 4 ? 60 : 80);

		if (pm < need) {
			underlay_short = true;
			snprintf(fix, sizeof(fix),
				 "raise the underlay's MTU to %d or more, or run the cluster with "
				 "an overlay MTU of %d or less (weft init --mtu %d; every node)",
				 need, pm - (family == 4 ? 60 : 80), pm - (family == 4 ? 60 : 80));
			add(r, "mtu", name, FAIL, fix,
			    "the underlay path to %s (%s) carries %d-byte packets, but the overlay "
			    "MTU %d needs %d (%d + %d bytes of WireGuard over IPv%d): larger "
			    "packets are fragmented or lost",
			    str(p, "endpoint"), name, pm, mtu, need, mtu, need - mtu, family);
		}
	}
	if (inet_pton(AF_INET, str(p, "ip4"), &dst) != 1 || mtu < 68) {
		add(r, "mtu", name, SKIP, NULL, "no overlay address or MTU to probe");
		return;
	}
	small = probe(&dst, 84, seq);
	if (small == -EPERM || small == -EACCES) {
		add(r, "mtu", name, SKIP, NULL, "the DF probe needs a raw socket (root)");
		return;
	}
	if (small) {
		add(r, "mtu", name, underlay_short ? SKIP : WARN,
		    "see the handshake check of this peer",
		    "%s does not answer a small ping over the overlay (%s): the MTU cannot be "
		    "probed",
		    name, strerror(-small));
		return;
	}
	big = probe(&dst, (size_t)mtu, seq);
	if (big) {
		snprintf(fix, sizeof(fix),
			 "find the link on the underlay path to %s with a smaller MTU (ip link on "
			 "each hop); raise it, or lower the overlay MTU (weft init --mtu; every "
			 "node)",
			 name);
		add(r, "mtu", name, FAIL, fix,
		    "%d-byte packets with DF set do not cross the overlay to %s (small ones do): "
		    "an underlay link on the way carries less than %d bytes",
		    mtu, name, mtu + (family == 4 ? 60 : 80));
	} else if (!underlay_short) {
		add(r, "mtu", name, PASS, NULL,
		    "%d-byte packets with DF cross the overlay to %s and back%s", mtu, name,
		    pm > 0 ? "" : " (underlay path MTU unknown: no endpoint yet)");
	}
}

int cli_doctor(const char *dir, const char *peer, bool json)
{
	struct report r = {.json = json, .checks = json_array()};
	json_t *st = NULL, *node, *peers, *p;
	char err[512];
	int mtu = 0, e;
	uint16_t seq = 1;
	size_t i;
	bool found = false;

	if (!json)
		printf("weft doctor: %s\n", dir);
	check_state_dir(&r, dir);
	e = ask(dir, DMN_OP_STATUS, &st, err, sizeof(err));
	if (e) {
		add(&r, "weftd", NULL, FAIL,
		    "start it: `systemctl start weftd` or `weftd -d DIR`; a failed start is "
		    "explained in DIR/weftd.log or `journalctl -u weftd`",
		    "not answering: %s", err);
		goto done;
	}
	node = json_object_get(st, "node");
	peers = json_object_get(st, "peers");
	if (peer) {
		json_array_foreach(peers, i, p) found |= !strcmp(str(p, "name"), peer);
		if (!found) {
			fprintf(stderr, "weft: doctor: %s is not a peer of this node\n", peer);
			json_decref(st);
			json_decref(r.checks);
			return 1;
		}
	}
	if (json_is_true(json_object_get(node, "removed")))
		add(&r, "weftd", NULL, FAIL,
		    "this node was removed by the leader: `weft join` it again with a new token",
		    "node %s runs but was removed from the cluster", str(node, "name"));
	else
		add(&r, "weftd", NULL, PASS, NULL, "node %s (%s%s) answers", str(node, "name"),
		    strcmp(str(node, "role"), "leader") ? "member of " : "the leader",
		    strcmp(str(node, "role"), "leader") ? str(node, "leader") : "");
	if (check_interface(&r, str(node, "interface"), &mtu))
		mtu = 0;
	check_view(&r, node);
	check_clock(&r, dir, node);
	check_underlay(&r, node, peers);
	check_dns(&r, node);
	json_array_foreach(peers, i, p)
	{
		if (peer && strcmp(str(p, "name"), peer))
			continue;
		if (!check_handshake(&r, p))
			add(&r, "mtu", str(p, "name"), SKIP, NULL, "%s is down: nothing to probe",
			    str(p, "name"));
		else if (mtu)
			check_mtu(&r, p, mtu, &seq);
	}
done:
	if (json) {
		json_t *o = json_pack("{s:s,s:o,s:i,s:i,s:i,s:i}", "data_dir", dir, "checks",
				      r.checks, "passed", r.count[PASS], "warnings", r.count[WARN],
				      "failed", r.count[FAIL], "skipped", r.count[SKIP]);
		char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("%u passed, %u warnings, %u failed, %u skipped\n", r.count[PASS],
		       r.count[WARN], r.count[FAIL], r.count[SKIP]);
		json_decref(r.checks);
	}
	json_decref(st);
	return r.count[FAIL] ? 1 : 0;
}

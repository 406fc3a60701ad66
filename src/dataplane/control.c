/* SPDX-License-Identifier: MIT */
/*
 * The device's control side: creating the interface and the UAPI socket, the control loop
 * (timers, UAPI connections, signals, lifecycle) and the UAPI protocol on a connection
 * (https://www.wireguard.com/xplatform/: "get=1", "set=1", key=value lines, an empty line
 * ends a request, "errno=N" answers with N = -errno as wireguard-go does, which is what `wg`
 * reads: it negates N into errno, so -98 prints "Address already in use"). A set request is
 * parsed completely and applied only if every line is valid, so a bad line changes nothing.
 * A set request cut by EOF (the client shut down its side, with or without a last '\n')
 * ends there and is applied and answered, as wireguard-go does; one cut by an error or a
 * timeout is dropped.
 *
 * One weft extension, invisible to `wg`: the operation "stats=1" answers with the per-reason
 * counters (weft-wg --stats). It is an operation of its own, never a key of "get".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "dataplane/internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "platform/netif.h"
#include "platform/thread.h"
#include "platform/wakeup.h"

#define DEFAULT_UAPI_DIR "/var/run/wireguard"

enum {
	UAPI_IO_TIMEOUT_S = 5,
	UAPI_READ_CHUNK = 1 << 16,
};

static int uapi_listen(struct dp_device *d, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, r;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	r = snprintf(d->sock_path, sizeof(d->sock_path), "%s/%s.sock", dir, d->name);
	if (r < 0 || (size_t)r >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, d->sock_path, (size_t)r + 1);

	/* An existing socket that answers belongs to a running daemon (wireguard-go). */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		d->sock_path[0] = 0;
		return -EADDRINUSE;
	}
	unlink(d->sock_path);
	old = umask(0077); /* socket 0700: root only */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r || listen(fd, 16)) {
		r = -errno;
		close(fd);
		d->sock_path[0] = 0;
		return r;
	}
	d->uapi_fd = fd;
	/* Deleting the socket file stops the daemon (IN_ATTRIB: the link count dropped). */
	d->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (d->inotify_fd >= 0 &&
	    inotify_add_watch(d->inotify_fd, d->sock_path, IN_ATTRIB | IN_DELETE_SELF) < 0) {
		close(d->inotify_fd);
		d->inotify_fd = -1;
	}
	return 0;
}

static unsigned queues_wanted(const struct dp_config *cfg)
{
	unsigned cpus;

	if (cfg->tun_queues)
		return cfg->tun_queues > DP_MAX_TUN_QUEUES ? DP_MAX_TUN_QUEUES : cfg->tun_queues;
	cpus = plat_cpu_count();
	if (cpus < DP_POOL_MIN_CPUS)
		return 1;
	return cpus / 2 > 4 ? 4 : cpus / 2;
}

/*
 * Prefer a TUN with a virtio-net header and TSO/USO, so the kernel hands over 64 KiB
 * super-packets that we split (offload.c); fall back to plain packets when the kernel
 * refuses it. The queue mode must match an existing TUN's (EINVAL otherwise), so the other
 * mode is tried too before giving up the header. Then the extra queues: fewer (logged) if
 * the kernel will not give them.
 */
static int open_tun(struct dp_device *d, const struct dp_config *cfg)
{
	unsigned want = queues_wanted(cfg);
	unsigned mq = want > 1 ? PLAT_TUN_MULTI_QUEUE : 0;
	const unsigned tries[] = {PLAT_TUN_VNET_HDR | mq,
				  PLAT_TUN_VNET_HDR | (mq ^ PLAT_TUN_MULTI_QUEUE), mq,
				  mq ^ PLAT_TUN_MULTI_QUEUE};
	unsigned flags = 0;
	int r = -EINVAL;

	for (size_t i = 0; i < ARRAY_SIZE(tries) && (r == -EINVAL || r == -EOPNOTSUPP); i++) {
		flags = tries[i];
		r = plat_tun_open(cfg->ifname, flags, &d->tun);
	}
	if (r)
		return r;
	if (flags & PLAT_TUN_VNET_HDR) {
		int off = plat_tun_set_offload(
			d->tun, PLAT_TUN_OFF_CSUM | PLAT_TUN_OFF_TSO4 | PLAT_TUN_OFF_TSO6 |
					PLAT_TUN_OFF_USO4 | PLAT_TUN_OFF_USO6);

		d->vnet_hdr = true;
		d->offloads = off > 0 ? (unsigned)off : 0;
	}
	while ((flags & PLAT_TUN_MULTI_QUEUE) && plat_tun_queues(d->tun) < want) {
		r = plat_tun_open_queue(d->tun, NULL);
		if (r) {
			log_info("%s: %u of %u TUN queues: %s", d->name, plat_tun_queues(d->tun),
				 want, strerror(-r));
			break;
		}
	}
	log_debug("%s: TUN offloads 0x%x (vnet header %s), %u queue(s)", d->name, d->offloads,
		  d->vnet_hdr ? "on" : "off", plat_tun_queues(d->tun));
	return 0;
}

int dp_device_new(const struct dp_config *cfg, struct dp_device **ret)
{
	struct dp_device *d;
	int r = dp_device_alloc(cfg, &d);

	if (r)
		return r;
	r = open_tun(d, cfg);
	if (r)
		goto fail;
	r = plat_netif_set_mtu(plat_tun_ifindex(d->tun), d->mtu);
	if (r)
		goto fail;
	if (cfg->uapi_socket) {
		r = uapi_listen(d, cfg->uapi_dir ? cfg->uapi_dir : DEFAULT_UAPI_DIR);
		if (r)
			goto fail;
	}
	*ret = d;
	return 0;
fail:
	dp_device_free(d);
	return r;
}

void dp_device_free(struct dp_device *d)
{
	if (!d)
		return;
	dp_device_stop_threads(d);
	if (d->uapi_fd >= 0)
		close(d->uapi_fd);
	if (d->sock_path[0])
		unlink(d->sock_path);
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	dp_device_core_done(d);
	plat_tun_close(d->tun);
	crypto_wipe(d, sizeof(*d));
	free(d);
}

/* ---------------------------------------------------------------------------------------- */
/* The UAPI protocol on one connection                                                       */

struct line_reader {
	int fd;
	bool unterminated; /* the last line returned was cut by EOF (no '\n'); 0 comes next */
	bool eof;
	char buf[UAPI_READ_CHUNK];
	size_t start, end;
};

/*
 * Next line without its '\n' (NUL-terminated in place). 1 = line, 0 = EOF,
 * -E2BIG = longer than UAPI_MAX_LINE, -errno on read errors. Bytes after the last '\n' at
 * EOF are a line too (lr->unterminated says so), as bufio.Scanner reads them in wireguard-go.
 */
static int read_line(struct line_reader *lr, char **line, size_t *len)
{
	lr->unterminated = false;
	for (;;) {
		char *nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
		ssize_t n;

		if (nl) {
			*line = lr->buf + lr->start;
			*len = (size_t)(nl - *line);
			*nl = 0;
			lr->start = (size_t)(nl - lr->buf) + 1;
			return *len > UAPI_MAX_LINE ? -E2BIG : 1;
		}
		if (lr->end - lr->start > UAPI_MAX_LINE)
			return -E2BIG;
		if (lr->eof && lr->end > lr->start) {
			*line = lr->buf + lr->start;
			*len = lr->end - lr->start;
			lr->buf[lr->end] = 0; /* read() leaves this byte free */
			lr->start = lr->end;
			lr->unterminated = true;
			return 1;
		}
		if (lr->eof)
			return 0;
		if (lr->start) {
			memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
			lr->end -= lr->start;
			lr->start = 0;
		}
		n = read(lr->fd, lr->buf + lr->end, sizeof(lr->buf) - lr->end - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			lr->eof = true;
		lr->end += (size_t)n;
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "errno=-N" for an error given as -N or N (wireguard-go's sign, which `wg` expects). */
static int reply_errno(int fd, int err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "errno=%d\n\n", err > 0 ? -err : err);

	return write_all(fd, buf, (size_t)n);
}

/* A set request: every line up to the empty one. Returns false if the connection must end. */
static bool serve_set(struct dp_device *d, struct line_reader *lr)
{
	struct uapi_set set;
	struct uapi_parser p;
	char *line;
	size_t len;
	int r, err;

	uapi_parser_init(&p, &set);
	for (;;) {
		r = read_line(lr, &line, &len);
		if (r <= 0 || len == 0)
			break; /* EOF, an error, or the empty line */
		uapi_parser_line(&p, line, len);
		crypto_wipe(line, len); /* lines carry private and preshared keys */
	}
	if (r < 0) {
		/* An overlong line or a read error (timeout) mid-request: drop it. */
		uapi_set_free(&set);
		if (r == -E2BIG)
			reply_errno(lr->fd, EINVAL);
		return false;
	}
	err = uapi_parser_finish(&p);
	if (err)
		log_info("%s: UAPI set refused, nothing changed: %s", d->name, p.msg);
	else
		err = dp_device_apply(d, &set);
	uapi_set_free(&set);
	/* After EOF the client may still read (it shut down only its writing side). */
	return reply_errno(lr->fd, err) == 0 && r == 1;
}

/* A reply of key=value lines; `terminate` adds the final errno=0 the filler does not write. */
static bool serve_text(struct dp_device *d, struct line_reader *lr,
		       int (*fill)(struct dp_device *, struct strbuf *), bool terminate)
{
	struct strbuf out;
	char *line;
	size_t len;
	int r;

	/* The operation line must be followed by the empty line (wireguard-go: else EINVAL). */
	r = read_line(lr, &line, &len);
	if (r != 1 || len != 0) {
		reply_errno(lr->fd, EINVAL);
		return false;
	}
	strbuf_init(&out, UAPI_MAX_REPLY);
	r = fill(d, &out);
	if (terminate && !r)
		r = strbuf_appends(&out, "errno=0\n\n");
	if (r)
		r = reply_errno(lr->fd, r);
	else
		r = write_all(lr->fd, strbuf_str(&out), out.len);
	strbuf_free(&out);
	return r == 0;
}

void dp_device_serve_uapi(struct dp_device *d, int fd)
{
	struct timeval tv = {.tv_sec = UAPI_IO_TIMEOUT_S};
	struct line_reader *lr = malloc(sizeof(*lr));
	char *line;
	size_t len;

	if (!lr)
		return;
	lr->fd = fd;
	lr->start = lr->end = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	lr->unterminated = lr->eof = false;
	while (read_line(lr, &line, &len) == 1 && !lr->unterminated) {
		bool go_on;

		if (!strcmp(line, "get=1"))
			go_on = serve_text(d, lr, dp_device_get, false);
		else if (!strcmp(line, "set=1"))
			go_on = serve_set(d, lr);
		else if (!strcmp(line, "stats=1"))
			go_on = serve_text(d, lr, dp_device_stats, true);
		else
			go_on = false; /* unknown operation: hang up, as wireguard-go does */
		if (!go_on)
			break;
	}
	crypto_wipe(lr, sizeof(*lr));
	free(lr);
}

/* ---------------------------------------------------------------------------------------- */
/* The control loop                                                                          */

static bool socket_deleted(struct dp_device *d)
{
	char buf[4096] __attribute__((aligned(8)));
	struct stat st;

	while (read(d->inotify_fd, buf, sizeof(buf)) > 0)
		;
	return stat(d->sock_path, &st) != 0 || !S_ISSOCK(st.st_mode);
}

int dp_device_run(struct dp_device *d)
{
	sigset_t sigs;
	int timeout = DP_TIMER_TICK_MS;

	/* Blocked either way: a signal for the program is never handled on this thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (d->own_signals && d->signal_fd < 0)
		d->signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	while (!atomic_load(&d->stop)) {
		struct pollfd pfd[4] = {
			{.fd = d->uapi_fd, .events = POLLIN},
			{.fd = d->inotify_fd, .events = POLLIN},
			{.fd = plat_wakeup_fd(d->wake), .events = POLLIN},
			{.fd = d->signal_fd, .events = POLLIN},
		};
		int n = poll(pfd, 4, timeout);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (pfd[3].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(d->signal_fd, &si, sizeof(si)) == sizeof(si))
				log_info("%s: signal %u, shutting down", d->name, si.ssi_signo);
			break;
		}
		if (n > 0 && (pfd[1].revents & POLLIN) && socket_deleted(d)) {
			log_info("%s: UAPI socket %s deleted, shutting down", d->name,
				 d->sock_path);
			d->sock_path[0] = 0;
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			int c = accept4(d->uapi_fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				dp_device_serve_uapi(d, c);
				close(c);
			}
		}
		timeout = dp_device_timers(d);
	}
	if (atomic_load(&d->tun_gone))
		log_info("%s: interface deleted, shutting down", d->name);
	atomic_store(&d->stop, true);
	return 0;
}

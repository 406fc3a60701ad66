/* SPDX-License-Identifier: MIT */
/*
 * Linux UDP sockets for the device: recvmmsg/sendmmsg batches, IP_PKTINFO and IPV6_PKTINFO
 * in both directions (sticky source), SO_MARK, large forced buffers. No protocol knowledge
 * and no allocation per datagram.
 */
#include "platform/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
	SOCKET_BUFFER = 7 << 20, /* wireguard-go asks for 7 MiB */
	MAX_BATCH = 128,
	CMSG_SPACE_MAX = 64,
};

struct plat_udp {
	int fd[2];
	uint16_t port;
	atomic_bool shutting_down;
};

static int set_buffers(int fd)
{
	int size = SOCKET_BUFFER;

	/* FORCE needs CAP_NET_ADMIN; fall back to what the sysctl caps allow. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return 0;
}

static int open_one(int family, uint16_t port, uint32_t mark, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, r;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
		r = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sl = sizeof(*sin6);
		r = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (!r)
			r = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (r)
		goto fail;
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		goto fail;
	set_buffers(fd);
	if (bind(fd, (struct sockaddr *)&ss, sl))
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		goto fail;
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

int plat_udp_open(uint16_t port, uint32_t fwmark, struct plat_udp **ret)
{
	struct plat_udp *u;
	uint16_t got = 0;
	int r = 0;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd[0] = u->fd[1] = -1;
	/* With port 0, let IPv6 pick and make IPv4 follow; retry if IPv4 has that port taken. */
	for (int attempt = 0; attempt < 16; attempt++) {
		int r6 = open_one(AF_INET6, port, fwmark, &u->fd[PLAT_UDP_V6], &got);

		if (r6 == -EADDRINUSE) {
			r = r6;
			goto fail;
		}
		r = open_one(AF_INET, r6 ? port : got, fwmark, &u->fd[PLAT_UDP_V4], &got);
		if (r == 0)
			break;
		if (u->fd[PLAT_UDP_V6] >= 0)
			close(u->fd[PLAT_UDP_V6]);
		u->fd[PLAT_UDP_V6] = -1;
		if (r != -EADDRINUSE || port != 0)
			goto fail;
	}
	if (r)
		goto fail;
	u->port = got;
	*ret = u;
	return 0;
fail:
	free(u);
	return r;
}

void plat_udp_close(struct plat_udp *u)
{
	if (!u)
		return;
	for (int i = 0; i < 2; i++)
		if (u->fd[i] >= 0)
			close(u->fd[i]);
	free(u);
}

uint16_t plat_udp_port(const struct plat_udp *u)
{
	return u->port;
}

int plat_udp_fd(const struct plat_udp *u, enum plat_udp_family f)
{
	return u->fd[f];
}

int plat_udp_set_mark(struct plat_udp *u, uint32_t mark)
{
	for (int i = 0; i < 2; i++)
		if (u->fd[i] >= 0 && setsockopt(u->fd[i], SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
			return -errno;
	return 0;
}

void plat_udp_shutdown(struct plat_udp *u)
{
	atomic_store(&u->shutting_down, true);
	for (int i = 0; i < 2; i++)
		if (u->fd[i] >= 0)
			shutdown(u->fd[i], SHUT_RDWR);
}

static void from_sockaddr(const struct sockaddr_storage *ss, struct wg_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		ep->family = WG_AF_INET;
		ep->port = ntohs(sin->sin_port);
		memcpy(ep->addr, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		ep->family = WG_AF_INET6;
		ep->port = ntohs(sin6->sin6_port);
		memcpy(ep->addr, &sin6->sin6_addr, 16);
	}
}

static socklen_t to_sockaddr(const struct wg_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == WG_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(ep->port);
	memcpy(&sin6->sin6_addr, ep->addr, 16);
	return sizeof(*sin6);
}

static void read_pktinfo(struct msghdr *mh, struct plat_udp_src *src)
{
	memset(src, 0, sizeof(*src));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(src->addr, &pi.ipi_spec_dst, 4);
			src->ifindex = 0; /* routing picks the interface for IPv4 */
			src->valid = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(src->addr, &pi.ipi6_addr, 16);
			src->ifindex = pi.ipi6_ifindex;
			src->valid = true;
		}
	}
}

int plat_udp_recv(struct plat_udp *u, enum plat_udp_family f, struct plat_udp_msg *msgs,
		  unsigned n)
{
	struct mmsghdr mm[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct sockaddr_storage from[MAX_BATCH];
	uint8_t cbuf[MAX_BATCH][CMSG_SPACE_MAX] __attribute__((aligned(8)));
	int got;

	if (u->fd[f] < 0)
		return -EBADF;
	if (n > MAX_BATCH)
		n = MAX_BATCH;
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = msgs[i].buf;
		iov[i].iov_len = msgs[i].len;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = cbuf[i];
		mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
	}
	do
		got = recvmmsg(u->fd[f], mm, n, MSG_WAITFORONE, NULL);
	while (got < 0 && errno == EINTR && !atomic_load(&u->shutting_down));
	if (atomic_load(&u->shutting_down))
		return -ESHUTDOWN;
	if (got < 0)
		return -errno;
	for (int i = 0; i < got; i++) {
		msgs[i].len = mm[i].msg_len;
		if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
			msgs[i].len = 0; /* larger than any WireGuard message: treat as empty */
		from_sockaddr(&from[i], &msgs[i].peer);
		read_pktinfo(&mm[i].msg_hdr, &msgs[i].local);
	}
	return got;
}

static void write_pktinfo(struct msghdr *mh, uint8_t *cbuf, size_t cap, const struct plat_udp_msg *m)
{
	struct cmsghdr *c;

	mh->msg_control = NULL;
	mh->msg_controllen = 0;
	if (!m->local.valid)
		return;
	mh->msg_control = cbuf;
	mh->msg_controllen = cap;
	c = CMSG_FIRSTHDR(mh);
	if (m->peer.family == WG_AF_INET) {
		struct in_pktinfo pi = {0};

		memcpy(&pi.ipi_spec_dst, m->local.addr, 4);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {0};

		memcpy(&pi.ipi6_addr, m->local.addr, 16);
		pi.ipi6_ifindex = m->local.ifindex;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

/* Send msgs[0..n) that all have the same family through one sendmmsg loop. */
static int send_run(struct plat_udp *u, int fd, struct plat_udp_msg *msgs, unsigned n)
{
	struct mmsghdr mm[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct sockaddr_storage to[MAX_BATCH];
	uint8_t cbuf[MAX_BATCH][CMSG_SPACE_MAX] __attribute__((aligned(8)));
	unsigned done = 0;

	(void)u;
	for (unsigned i = 0; i < n; i++) {
		memset(&mm[i], 0, sizeof(mm[i]));
		iov[i].iov_base = msgs[i].buf;
		iov[i].iov_len = msgs[i].len;
		mm[i].msg_hdr.msg_name = &to[i];
		mm[i].msg_hdr.msg_namelen = to_sockaddr(&msgs[i].peer, &to[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		write_pktinfo(&mm[i].msg_hdr, cbuf[i], sizeof(cbuf[i]), &msgs[i]);
	}
	while (done < n) {
		int r = sendmmsg(fd, mm + done, n - done, 0);

		if (r > 0) {
			done += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/*
		 * The sticky source may have vanished (the kernel says EINVAL, EADDRNOTAVAIL or
		 * ENETUNREACH depending on the route): drop it and retry once, as wg-go does.
		 */
		if (r < 0 && errno != EAGAIN && errno != ENOBUFS && msgs[done].local.valid) {
			msgs[done].local.valid = false;
			write_pktinfo(&mm[done].msg_hdr, cbuf[done], sizeof(cbuf[done]), &msgs[done]);
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return (int)done; /* congested: the rest is lost, as on any UDP path */
		if (r < 0) {
			/* Skip the failing datagram (unreachable destination and such). */
			done++;
			continue;
		}
	}
	return (int)done;
}

int plat_udp_send(struct plat_udp *u, struct plat_udp_msg *msgs, unsigned n)
{
	unsigned i = 0, sent = 0;

	while (i < n) {
		enum plat_udp_family f =
			msgs[i].peer.family == WG_AF_INET6 ? PLAT_UDP_V6 : PLAT_UDP_V4;
		unsigned j = i + 1;
		int r;

		while (j < n && j - i < MAX_BATCH &&
		       (msgs[j].peer.family == WG_AF_INET6 ? PLAT_UDP_V6 : PLAT_UDP_V4) == f)
			j++;
		if (u->fd[f] < 0) {
			i = j;
			continue;
		}
		r = send_run(u, u->fd[f], msgs + i, j - i);
		if (r < 0)
			return r;
		sent += (unsigned)r;
		i = j;
	}
	return (int)sent;
}

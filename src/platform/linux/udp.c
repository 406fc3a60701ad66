/* SPDX-License-Identifier: MIT */
/*
 * Linux UDP sockets for the device: recvmmsg/sendmmsg batches, IP_PKTINFO and IPV6_PKTINFO
 * in both directions (sticky source), SO_MARK, large forced buffers. No protocol knowledge
 * and no allocation per datagram.
 */
#include "platform/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
	SOCKET_BUFFER = 7 << 20, /* wireguard-go asks for 7 MiB */
	MAX_BATCH = 128,
	MAX_RECV_BUFS = 32,
	CMSG_SPACE_MAX = 64,
	GSO_MAX_BYTES = 65000, /* a GSO send is one UDP datagram to the stack: < 64 KiB */
};

struct plat_udp {
	int fd[2];
	uint16_t port;
	atomic_bool gso, gro; /* gso is dropped at run time if a send with it fails (EIO) */
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
	/* Offloads where the kernel has them: GSO probed by reading the option, GRO by setting. */
	{
		int one = 1, v = 0;
		socklen_t vl = sizeof(v);
		bool gso = true, gro = true;

		for (int i = 0; i < 2; i++) {
			if (u->fd[i] < 0)
				continue;
			if (getsockopt(u->fd[i], IPPROTO_UDP, UDP_SEGMENT, &v, &vl))
				gso = false;
			if (setsockopt(u->fd[i], IPPROTO_UDP, UDP_GRO, &one, sizeof(one)))
				gro = false;
		}
		atomic_store(&u->gso, gso);
		atomic_store(&u->gro, gro);
	}
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
		ep->scope_id = sin6->sin6_scope_id; /* set by the kernel for link-local sources */
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
	sin6->sin6_scope_id = ep->scope_id;
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

bool plat_udp_gso(const struct plat_udp *u)
{
	return atomic_load(&u->gso);
}

bool plat_udp_gro(const struct plat_udp *u)
{
	return atomic_load(&u->gro);
}

static unsigned gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v > 0 ? (unsigned)v : 0;
		}
	}
	return 0;
}

int plat_udp_recv(struct plat_udp *u, enum plat_udp_family f, uint8_t *const *bufs, unsigned nbufs,
		  struct plat_udp_msg *out, unsigned nout)
{
	struct mmsghdr mm[MAX_RECV_BUFS];
	struct iovec iov[MAX_RECV_BUFS];
	struct sockaddr_storage from[MAX_RECV_BUFS];
	uint8_t cbuf[MAX_RECV_BUFS][CMSG_SPACE_MAX] __attribute__((aligned(8)));
	unsigned n = 0;
	int got;

	if (u->fd[f] < 0)
		return -EBADF;
	nbufs = nbufs < MAX_RECV_BUFS ? nbufs : MAX_RECV_BUFS;
	if (nbufs > nout / PLAT_UDP_MAX_SEGMENTS)
		nbufs = nout / PLAT_UDP_MAX_SEGMENTS;
	if (!nbufs)
		return -EINVAL;
	for (unsigned i = 0; i < nbufs; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = PLAT_UDP_BUF_LEN;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = cbuf[i];
		mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
	}
	do
		got = recvmmsg(u->fd[f], mm, nbufs, MSG_WAITFORONE, NULL);
	while (got < 0 && errno == EINTR && !atomic_load(&u->shutting_down));
	if (atomic_load(&u->shutting_down))
		return -ESHUTDOWN;
	if (got < 0)
		return -errno;
	for (int i = 0; i < got; i++) {
		struct wg_endpoint peer;
		struct plat_udp_src local;
		size_t len = mm[i].msg_len, seg = gro_size(&mm[i].msg_hdr);

		if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
			len = 0; /* larger than any WireGuard message: treat as empty */
		from_sockaddr(&from[i], &peer);
		read_pktinfo(&mm[i].msg_hdr, &local);
		if (!seg || seg >= len)
			seg = len ? len : 1;
		/* A GRO run: same source, equal-sized datagrams but for a shorter last one. */
		for (size_t off = 0; n < nout && (off < len || (len == 0 && off == 0));
		     off += seg) {
			out[n].buf = bufs[i] + off;
			out[n].len = len - off < seg ? len - off : seg;
			out[n].peer = peer;
			out[n].local = local;
			n++;
			if (len == 0)
				break;
		}
	}
	return (int)n;
}

static void write_pktinfo(struct msghdr *mh, uint8_t *cbuf, size_t cap,
			  const struct plat_udp_msg *m)
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

static bool same_path(const struct plat_udp_msg *a, const struct plat_udp_msg *b)
{
	return a->peer.port == b->peer.port && !memcmp(a->peer.addr, b->peer.addr, 16) &&
	       a->peer.scope_id == b->peer.scope_id && a->local.valid == b->local.valid &&
	       (!a->local.valid || (!memcmp(a->local.addr, b->local.addr, 16) &&
				    a->local.ifindex == b->local.ifindex));
}

/* Control messages of a group: the sticky source, and UDP_SEGMENT for a GSO run. */
static void write_control(struct msghdr *mh, uint8_t *cbuf, size_t cap,
			  const struct plat_udp_msg *m, uint16_t gso_size)
{
	write_pktinfo(mh, cbuf, cap, m);
	if (gso_size) {
		struct cmsghdr *c;

		mh->msg_control = cbuf;
		c = (struct cmsghdr *)(cbuf + mh->msg_controllen);
		c->cmsg_level = IPPROTO_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(gso_size));
		memcpy(CMSG_DATA(c), &gso_size, sizeof(gso_size));
		mh->msg_controllen += CMSG_SPACE(sizeof(gso_size));
	}
}

/*
 * Send msgs[0..n) (one family) through one sendmmsg loop, grouping GSO runs. Returns the
 * number of datagrams handed to the kernel.
 */
static int send_run(struct plat_udp *u, int fd, struct plat_udp_msg *msgs, unsigned n)
{
	struct mmsghdr mm[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct sockaddr_storage to[MAX_BATCH];
	uint8_t cbuf[MAX_BATCH][CMSG_SPACE_MAX] __attribute__((aligned(8)));
	unsigned first[MAX_BATCH], count[MAX_BATCH], groups = 0, done = 0, sent = 0;
	bool gso = atomic_load(&u->gso);

	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;
		size_t seg = msgs[i].len, total = seg;
		uint16_t gso_size = 0;

		while (gso && j < n && j - i < PLAT_UDP_MAX_SEGMENTS && msgs[j - 1].len == seg &&
		       msgs[j].len <= seg && total + msgs[j].len <= GSO_MAX_BYTES &&
		       same_path(&msgs[i], &msgs[j]))
			total += msgs[j++].len;
		if (j - i > 1)
			gso_size = (uint16_t)seg;
		for (unsigned k = i; k < j; k++) {
			msgs[k].sent = false;
			iov[k].iov_base = msgs[k].buf;
			iov[k].iov_len = msgs[k].len;
		}
		memset(&mm[groups], 0, sizeof(mm[groups]));
		mm[groups].msg_hdr.msg_name = &to[groups];
		mm[groups].msg_hdr.msg_namelen = to_sockaddr(&msgs[i].peer, &to[groups]);
		mm[groups].msg_hdr.msg_iov = &iov[i];
		mm[groups].msg_hdr.msg_iovlen = j - i;
		write_control(&mm[groups].msg_hdr, cbuf[groups], sizeof(cbuf[groups]), &msgs[i],
			      gso_size);
		first[groups] = i;
		count[groups] = j - i;
		groups++;
		i = j;
	}
	while (done < groups) {
		int r = sendmmsg(fd, mm + done, groups - done, 0);
		unsigned g;

		if (r > 0) {
			for (unsigned k = 0; k < (unsigned)r; k++) {
				sent += count[done + k];
				for (unsigned m = 0; m < count[done + k]; m++)
					msgs[first[done + k] + m].sent = true;
			}
			done += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		g = done;
		/* A kernel or device that cannot segment: never use GSO on these sockets again. */
		if (r < 0 && errno == EIO && count[g] > 1) {
			atomic_store(&u->gso, false);
			return (int)sent + send_run(u, fd, msgs + first[g], n - first[g]);
		}
		/*
		 * The sticky source may have vanished (the kernel says EINVAL, EADDRNOTAVAIL or
		 * ENETUNREACH depending on the route): drop it and retry once, as wg-go does.
		 */
		if (r < 0 && errno != EAGAIN && errno != ENOBUFS && msgs[first[g]].local.valid) {
			for (unsigned k = 0; k < count[g]; k++)
				msgs[first[g] + k].local.valid = false;
			write_control(&mm[g].msg_hdr, cbuf[g], sizeof(cbuf[g]), &msgs[first[g]],
				      count[g] > 1 ? (uint16_t)msgs[first[g]].len : 0);
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return (int)sent; /* congested: the rest is lost, as on any UDP path */
		done++; /* skip the failing group (unreachable destination and such) */
	}
	return (int)sent;
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
			for (unsigned k = i; k < j; k++)
				msgs[k].sent = false;
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

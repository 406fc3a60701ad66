/* SPDX-License-Identifier: MIT */
/*
 * platform/udp.h over Winsock: an IPv4 and an IPv6 (V6ONLY) socket on one port, WSARecvMsg
 * with IP_PKTINFO / IPV6_PKTINFO for the local address a datagram came to, WSASendMsg with
 * the same to leave from it (sticky source). One datagram per receive call and no UDP
 * segmentation or coalescing offload here (plat_udp_gso/gro are false; Windows' USO/URO
 * are not used yet). There is no SO_MARK on Windows: the mark is accepted and ignored, as
 * wireguard-go does. ICMP port-unreachable is kept from failing later receives
 * (SIO_UDP_CONNRESET off). plat_udp_shutdown wakes blocked receivers by sending each socket
 * an empty datagram over loopback. No protocol knowledge, no allocation per datagram, no
 * logging.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "platform/udp.h"
#include "platform/windows/win.h"

#include <mswsock.h> /* WSARecvMsg, SIO_UDP_CONNRESET; after winsock2.h */

enum {
	SOCKET_BUFFER = 7 << 20, /* wireguard-go asks for 7 MiB */
	CMSG_CAP = 64,
};

struct plat_udp {
	SOCKET s[2];
	uint16_t port;
	LPFN_WSARECVMSG recvmsg;
	atomic_bool shutting_down;
	bool wsa_started;
};

static int wsa_errno(int e)
{
	switch (e) {
	case WSAEADDRINUSE:
	case WSAEACCES: /* Windows answers this for a port held exclusively by another socket */
		return -EADDRINUSE;
	case WSAEADDRNOTAVAIL:
		return -EADDRNOTAVAIL;
	case WSAEAFNOSUPPORT:
	case WSAEPROTONOSUPPORT:
		return -EAFNOSUPPORT;
	case WSAEINVAL:
		return -EINVAL;
	case WSAEMSGSIZE:
		return -EMSGSIZE;
	case WSAENETUNREACH:
	case WSAEHOSTUNREACH:
		return -ENETUNREACH;
	case WSAENOBUFS:
		return -ENOBUFS;
	case WSAEWOULDBLOCK:
		return -EAGAIN;
	case WSAESHUTDOWN:
	case WSAENOTSOCK:
	case WSAEINTR:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

static int open_one(int family, uint16_t port, SOCKET *ret, uint16_t *ret_port)
{
	SOCKADDR_INET sa;
	DWORD one = 1, bytes = 0;
	int size = SOCKET_BUFFER, sl = sizeof(sa), r;
	BOOL no = FALSE;
	SOCKET s;

	s = WSASocketW(family, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
	if (s == INVALID_SOCKET)
		return wsa_errno(WSAGetLastError());
	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		sa.Ipv4.sin_family = AF_INET;
		sa.Ipv4.sin_port = htons(port);
		r = setsockopt(s, IPPROTO_IP, IP_PKTINFO, (const char *)&one, sizeof(one));
	} else {
		sa.Ipv6.sin6_family = AF_INET6;
		sa.Ipv6.sin6_port = htons(port);
		r = setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&one, sizeof(one));
		if (!r)
			r = setsockopt(s, IPPROTO_IPV6, IPV6_PKTINFO, (const char *)&one,
				       sizeof(one));
	}
	if (r)
		goto fail;
	/* No one else may bind the port over us (Windows lets SO_REUSEADDR steal it otherwise). */
	setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof(one));
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&size, sizeof(size));
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&size, sizeof(size));
	/* An ICMP port unreachable must not make the next receive fail with WSAECONNRESET. */
	WSAIoctl(s, SIO_UDP_CONNRESET, &no, sizeof(no), NULL, 0, &bytes, NULL, NULL);
	if (bind(s, (struct sockaddr *)&sa, family == AF_INET ? sizeof(sa.Ipv4) : sizeof(sa.Ipv6)))
		goto fail;
	if (getsockname(s, (struct sockaddr *)&sa, &sl))
		goto fail;
	*ret_port = ntohs(family == AF_INET ? sa.Ipv4.sin_port : sa.Ipv6.sin6_port);
	*ret = s;
	return 0;
fail:
	r = wsa_errno(WSAGetLastError());
	closesocket(s);
	return r;
}

int plat_udp_open(uint16_t port, uint32_t fwmark, struct plat_udp **ret)
{
	GUID id = WSAID_WSARECVMSG;
	struct plat_udp *u;
	WSADATA wsa;
	DWORD bytes = 0;
	uint16_t got = 0;
	int r = 0;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->s[0] = u->s[1] = INVALID_SOCKET;
	if (WSAStartup(MAKEWORD(2, 2), &wsa)) {
		free(u);
		return -EIO;
	}
	u->wsa_started = true;
	/* With port 0, let IPv6 pick and make IPv4 follow; retry if IPv4 has that port taken. */
	for (int attempt = 0; attempt < 16; attempt++) {
		int r6 = open_one(AF_INET6, port, &u->s[PLAT_UDP_V6], &got);

		if (r6 == -EADDRINUSE) {
			r = r6;
			goto fail;
		}
		r = open_one(AF_INET, r6 ? port : got, &u->s[PLAT_UDP_V4], &got);
		if (r == 0)
			break;
		if (u->s[PLAT_UDP_V6] != INVALID_SOCKET)
			closesocket(u->s[PLAT_UDP_V6]);
		u->s[PLAT_UDP_V6] = INVALID_SOCKET;
		if (r != -EADDRINUSE || port != 0)
			goto fail;
	}
	if (r)
		goto fail;
	u->port = got;
	if (WSAIoctl(u->s[PLAT_UDP_V4], SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof(id),
		     &u->recvmsg, sizeof(u->recvmsg), &bytes, NULL, NULL)) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	*ret = u;
	return 0;
fail:
	plat_udp_close(u);
	return r;
}

void plat_udp_close(struct plat_udp *u)
{
	if (!u)
		return;
	for (int i = 0; i < 2; i++)
		if (u->s[i] != INVALID_SOCKET)
			closesocket(u->s[i]);
	if (u->wsa_started)
		WSACleanup();
	free(u);
}

uint16_t plat_udp_port(const struct plat_udp *u)
{
	return u->port;
}

int plat_udp_fd(const struct plat_udp *u, enum plat_udp_family f)
{
	/* SOCKET values are kernel handles, which fit in 32 bits (Win64 handle rules). */
	return u->s[f] == INVALID_SOCKET ? -1 : (int)u->s[f];
}

int plat_udp_set_mark(struct plat_udp *u, uint32_t mark)
{
	return 0; /* no SO_MARK on Windows; wireguard-go ignores fwmark there too */
}

void plat_udp_shutdown(struct plat_udp *u)
{
	static const uint8_t lo6[16] = {[15] = 1};
	struct plat_udp_msg m = {.buf = (uint8_t *)"", .len = 0};

	atomic_store(&u->shutting_down, true);
	/* Wake receivers blocked in WSARecvMsg: an empty datagram to each socket. */
	for (int i = 0; i < 2; i++) {
		SOCKADDR_INET sa;

		if (u->s[i] == INVALID_SOCKET)
			continue;
		m.peer.family = i == PLAT_UDP_V4 ? WG_AF_INET : WG_AF_INET6;
		m.peer.port = u->port;
		memset(m.peer.addr, 0, sizeof(m.peer.addr));
		if (i == PLAT_UDP_V4)
			memcpy(m.peer.addr, (const uint8_t[]){127, 0, 0, 1}, 4);
		else
			memcpy(m.peer.addr, lo6, 16);
		plat_win_endpoint_to_sockaddr(&m.peer, &sa);
		sendto(u->s[i], "", 0, 0, (struct sockaddr *)&sa,
		       i == PLAT_UDP_V4 ? sizeof(sa.Ipv4) : sizeof(sa.Ipv6));
	}
}

bool plat_udp_gso(const struct plat_udp *u)
{
	return false;
}

bool plat_udp_gro(const struct plat_udp *u)
{
	return false;
}

static void read_pktinfo(WSAMSG *mh, struct plat_udp_src *src)
{
	memset(src, 0, sizeof(*src));
	for (WSACMSGHDR *c = WSA_CMSG_FIRSTHDR(mh); c; c = WSA_CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			IN_PKTINFO pi;

			memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
			memcpy(src->addr, &pi.ipi_addr, 4);
			src->ifindex = 0; /* routing picks the interface for IPv4 */
			src->valid = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			IN6_PKTINFO pi;

			memcpy(&pi, WSA_CMSG_DATA(c), sizeof(pi));
			memcpy(src->addr, &pi.ipi6_addr, 16);
			src->ifindex = pi.ipi6_ifindex;
			src->valid = true;
		}
	}
}

int plat_udp_recv(struct plat_udp *u, enum plat_udp_family f, uint8_t *const *bufs, unsigned nbufs,
		  struct plat_udp_msg *out, unsigned nout)
{
	uint8_t cbuf[CMSG_CAP] __attribute__((aligned(8)));
	SOCKADDR_INET from;
	WSABUF wb;
	WSAMSG mh;
	DWORD got = 0;
	int e;

	if (u->s[f] == INVALID_SOCKET)
		return -EBADF;
	if (!nbufs || nout < 1)
		return -EINVAL;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		wb.buf = (char *)bufs[0];
		wb.len = PLAT_UDP_BUF_LEN;
		mh.name = (struct sockaddr *)&from;
		mh.namelen = sizeof(from);
		mh.lpBuffers = &wb;
		mh.dwBufferCount = 1;
		mh.Control.buf = (char *)cbuf;
		mh.Control.len = sizeof(cbuf);
		if (u->recvmsg(u->s[f], &mh, &got, NULL, NULL) == 0)
			break;
		e = WSAGetLastError();
		if (atomic_load(&u->shutting_down))
			return -ESHUTDOWN;
		if (e == WSAECONNRESET || e == WSAENETRESET)
			continue; /* a stale ICMP error; the socket is fine */
		if (e == WSAEMSGSIZE) {
			got = 0; /* larger than any WireGuard message: treat as empty */
			break;
		}
		return wsa_errno(e);
	}
	if (atomic_load(&u->shutting_down))
		return -ESHUTDOWN;
	memset(&out[0], 0, sizeof(out[0]));
	out[0].buf = bufs[0];
	out[0].len = got;
	plat_win_sockaddr_to_endpoint(&from, &out[0].peer);
	read_pktinfo(&mh, &out[0].local);
	return 1;
}

/* One datagram, from m->local when valid. 0 or a WSA error code. */
static int send_one(SOCKET s, const struct plat_udp_msg *m)
{
	uint8_t cbuf[CMSG_CAP] __attribute__((aligned(8)));
	SOCKADDR_INET to;
	WSABUF wb = {.len = (ULONG)m->len, .buf = (char *)m->buf};
	WSAMSG mh;
	DWORD sent = 0;

	plat_win_endpoint_to_sockaddr(&m->peer, &to);
	memset(&mh, 0, sizeof(mh));
	mh.name = (struct sockaddr *)&to;
	mh.namelen = m->peer.family == WG_AF_INET ? sizeof(to.Ipv4) : sizeof(to.Ipv6);
	mh.lpBuffers = &wb;
	mh.dwBufferCount = 1;
	if (m->local.valid) {
		WSACMSGHDR *c = (WSACMSGHDR *)cbuf;

		memset(cbuf, 0, sizeof(cbuf));
		if (m->peer.family == WG_AF_INET) {
			IN_PKTINFO pi;

			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi_addr, m->local.addr, 4);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
			memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
			mh.Control.len = WSA_CMSG_SPACE(sizeof(pi));
		} else {
			IN6_PKTINFO pi;

			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi6_addr, m->local.addr, 16);
			pi.ipi6_ifindex = m->local.ifindex;
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = WSA_CMSG_LEN(sizeof(pi));
			memcpy(WSA_CMSG_DATA(c), &pi, sizeof(pi));
			mh.Control.len = WSA_CMSG_SPACE(sizeof(pi));
		}
		mh.Control.buf = (char *)cbuf;
	}
	if (WSASendMsg(s, &mh, 0, &sent, NULL, NULL))
		return WSAGetLastError();
	return 0;
}

int plat_udp_send(struct plat_udp *u, struct plat_udp_msg *msgs, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct plat_udp_msg *m = &msgs[i];
		SOCKET s;
		int e;

		m->sent = false;
		if (m->peer.family != WG_AF_INET && m->peer.family != WG_AF_INET6)
			return i ? (int)i : -EAFNOSUPPORT;
		s = u->s[m->peer.family == WG_AF_INET ? PLAT_UDP_V4 : PLAT_UDP_V6];
		if (s == INVALID_SOCKET)
			return i ? (int)i : -EAFNOSUPPORT;
		e = send_one(s, m);
		if (e && m->local.valid) {
			/* The source address is gone (or refused): clear it and let routing pick.
			 */
			m->local.valid = false;
			e = send_one(s, m);
		}
		if (e)
			return i ? (int)i : wsa_errno(e);
		m->sent = true;
	}
	return (int)n;
}

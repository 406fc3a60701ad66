/* SPDX-License-Identifier: MIT */
/*
 * Internal rtnetlink plumbing of platform/linux (see rtnl.h): each request gets its own
 * NETLINK_ROUTE socket in the calling thread's namespace, closed before returning, so no
 * state is shared between calls or threads.
 *
 * Must not: log, or keep a socket open between calls.
 */
#include "platform/linux/rtnl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>
#include <linux/netlink.h>

struct nlmsghdr *rtnl_header(char *req, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(req, 0, RTNL_REQ_SIZE);
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

int rtnl_request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_socket *nl;
	unsigned portid, seq;
	char *buf;
	ssize_t n;
	int r;

	buf = malloc(RTNL_RECV_SIZE);
	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl) {
		r = -errno;
		goto out_free;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	/* Only has to differ from the previous request on the same socket; each socket is new. */
	seq = (unsigned)time(NULL);
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, RTNL_RECV_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		errno = 0;
		r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r < 0) {
			r = errno ? -errno : -EPROTO;
			goto out;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			goto out;
		}
	}
out:
	mnl_socket_close(nl);
out_free:
	free(buf);
	return r;
}

int rtnl_dump(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, void (*reset)(void *data))
{
	int r, tries;

	for (tries = 0; tries < RTNL_DUMP_RETRIES; tries++) {
		if (reset)
			reset(data);
		r = rtnl_request(nlh, cb, data);
		if (r != -EINTR)
			return r;
	}
	return -EAGAIN;
}

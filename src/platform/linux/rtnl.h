/* SPDX-License-Identifier: MIT */
/*
 * Internal to platform/linux: one rtnetlink request on a fresh socket, acked or dumped.
 * Not a contract; callers outside platform/linux use netif.h and container.h.
 *
 * Must not: keep a socket between calls, log, or touch another namespace than the calling
 * thread's.
 */
#ifndef WEFT_PLATFORM_LINUX_RTNL_H
#define WEFT_PLATFORM_LINUX_RTNL_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

enum {
	RTNL_REQ_SIZE = 1024,	/* requests built here are a few hundred bytes at most */
	RTNL_RECV_SIZE = 32768, /* the kernel sizes dump skbs up to 32 KiB */
	RTNL_DUMP_RETRIES = 5,	/* NLM_F_DUMP_INTR: the table changed under the dump */
};

/* Zero req (RTNL_REQ_SIZE bytes) and put a request header of this type and flags. */
struct nlmsghdr *rtnl_header(char *req, uint16_t type, uint16_t flags);

/*
 * Send nlh and feed every reply to cb (may be NULL) until the ack, the end of a dump, or cb
 * stops. 0 or -errno (the kernel's NLMSG_ERROR, cb's errno, -EINTR for an interrupted dump).
 */
int rtnl_request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* A dump, restarted (after reset(data), if given) when the kernel flags it interrupted. */
int rtnl_dump(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, void (*reset)(void *data));

/*
 * Queues attached to the TUN/TAP link ifindex (active plus disabled ones: fds that are open
 * on it), from its IFLA_INFO_DATA (Linux 4.19+). -ENODEV, -EOPNOTSUPP when the link is not
 * a TUN/TAP or the kernel does not say, other -errno. In netif.c, for tun.c.
 */
int rtnl_tun_queues(int ifindex);

#endif

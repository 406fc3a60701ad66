/* SPDX-License-Identifier: MIT */
/*
 * The TUN device of a WireGuard interface: a layer-3 virtual interface whose packets (bare IP,
 * no packet-information prefix) are read and written through file descriptors, optionally
 * with a virtio-net header in front of each packet for checksum and segmentation offload, and
 * optionally with several queues (one fd per queue) for parallel readers.
 *
 * OS-neutral contract; platform/<os>/tun.c implements it. No OS headers here. Nothing in
 * this module parses packets or logs.
 */
#ifndef WEFT_PLATFORM_TUN_H
#define WEFT_PLATFORM_TUN_H

#include <stddef.h>
#include <sys/types.h>

enum plat_tun_flags {
	PLAT_TUN_VNET_HDR = 1 << 0,    /* each packet is preceded by PLAT_TUN_VNET_HDR_LEN bytes */
	PLAT_TUN_MULTI_QUEUE = 1 << 1, /* plat_tun_open_queue may add queues */
};

enum plat_tun_offload {
	PLAT_TUN_OFF_CSUM = 1 << 0, /* packets may carry a partial checksum; needed by all below */
	PLAT_TUN_OFF_TSO4 = 1 << 1, /* TCP segmentation offload, IPv4 */
	PLAT_TUN_OFF_TSO6 = 1 << 2, /* TCP segmentation offload, IPv6 */
	PLAT_TUN_OFF_USO4 = 1 << 3, /* UDP segmentation offload, IPv4 (only together with USO6) */
	PLAT_TUN_OFF_USO6 = 1 << 4, /* UDP segmentation offload, IPv6 (only together with USO4) */
};

enum {
	PLAT_TUN_NAME_MAX = 15,	    /* bytes of an interface name, without the NUL */
	PLAT_TUN_VNET_HDR_LEN = 10, /* sizeof(struct virtio_net_hdr), no num_buffers field */
	PLAT_TUN_MAX_QUEUES = 256,  /* fds per device, as the kernel's MAX_TAP_QUEUES */
};

struct plat_tun;

/*
 * Create a layer-3 TUN called name, or attach to an existing TUN of that name (as
 * wireguard-go does: typically a persistent one from "ip tuntap add", or another queue of a
 * multi-queue one; the kernel then applies the VNET_HDR flag to the whole device). The fd is
 * non-blocking and close-on-exec.
 *
 * -EINVAL: name NULL, empty, longer than PLAT_TUN_NAME_MAX, "." or "..", or containing '/',
 *          whitespace or ':'; unknown flags; or the existing TUN is a TAP or its queue mode
 *          differs from PLAT_TUN_MULTI_QUEUE.
 * -EEXIST: a link of that name exists and is not a TUN/TAP (veth, bridge, ...).
 * -EBUSY:  the existing TUN is already open (by us or anyone): single-queue, or multi-queue
 *          with queues attached (another reader must not get a share of its packets; the
 *          check and the attach are not atomic).
 * Other -errno from the kernel (-EPERM without CAP_NET_ADMIN, -ENOENT without /dev/net/tun).
 * Nothing is created and nothing is changed on error.
 */
int plat_tun_open(const char *name, unsigned flags, struct plat_tun **ret);

/*
 * Add a queue to a PLAT_TUN_MULTI_QUEUE device and return its fd (non-blocking,
 * close-on-exec). The fd stays owned by t: plat_tun_close closes it, the caller must not.
 * -EOPNOTSUPP without PLAT_TUN_MULTI_QUEUE, -E2BIG past PLAT_TUN_MAX_QUEUES, -ENODEV when
 * the device is gone or was renamed or moved away.
 */
int plat_tun_open_queue(struct plat_tun *t, int *ret_fd);

/* Queues open: 1 plus those plat_tun_open_queue added. */
unsigned plat_tun_queues(const struct plat_tun *t);

/* The first queue's fd, for the caller's poller. */
int plat_tun_fd(const struct plat_tun *t);
/* The name the kernel gave the device at open (a later rename is not tracked). */
const char *plat_tun_name(const struct plat_tun *t);
/* The ifindex at open. */
int plat_tun_ifindex(const struct plat_tun *t);

/*
 * Tell the kernel which offloads we handle, and return the set actually enabled (>= 0) or
 * -errno. The request is first normalised to what the kernel would really enable (nothing
 * without CSUM; USO only as the USO4|USO6 pair); when the kernel refuses it with EINVAL (an
 * older kernel not knowing a bit) USO is dropped, then TSO, then everything.
 * -EOPNOTSUPP without PLAT_TUN_VNET_HDR (segments could not be described), -EINVAL for
 * unknown bits.
 */
int plat_tun_set_offload(struct plat_tun *t, unsigned offloads);

/*
 * Read one packet from the first queue (with its virtio-net header when VNET_HDR). Never
 * blocks: -EAGAIN when nothing is queued. len should hold the largest packet (MTU, or 64 KiB
 * + header with TSO/USO); a longer packet is truncated by the kernel.
 * -ENODEV when the interface is gone (deleted or detached); the caller should stop.
 */
ssize_t plat_tun_read(struct plat_tun *t, void *buf, size_t len);

/*
 * Wait up to timeout_ms (-1 = no limit) until plat_tun_read on the first queue has something
 * to say: 1 (a packet, or an error such as -ENODEV, is ready), 0 on timeout, -errno. The
 * portable way to wait for the TUN: Linux polls the fd; Windows has no fd to poll and waits
 * on the Wintun session's read event (holding on to the packet that ended the wait, which
 * the next plat_tun_read returns).
 */
int plat_tun_wait(struct plat_tun *t, int timeout_ms);

/*
 * Inject one packet (with its virtio-net header when VNET_HDR) into the kernel as if received
 * on the interface. Returns len, -EAGAIN, -ENODEV when the interface is gone, -ENETDOWN when
 * it is administratively down (the packet is dropped; not fatal), -EINVAL for a packet that
 * is neither IPv4 nor IPv6 or has a malformed header.
 */
ssize_t plat_tun_write(struct plat_tun *t, const void *buf, size_t len);

/*
 * Is the interface administratively up, asked through the fd only (useful after the TUN was
 * moved to another namespace, where our netlink sockets no longer see it): 1 up, 0 down,
 * -ENODEV gone.
 *
 * wireguard-go's "TUN status hack" wrote zero bytes and read EINVAL (up) or EIO (down); on
 * current kernels a zero-length write fails the IP version check (EINVAL) before the up
 * check, whatever the state. So this writes a one-byte "IPv4" packet instead: EIO when down;
 * when up the kernel accepts it and the IP layer drops it as truncated, which costs one
 * count in the interface's rx and the namespace's Ip InHdrErrors, and a packet tap (tcpdump)
 * on the interface sees it. Do not call it in a tight loop.
 */
int plat_tun_link_up(struct plat_tun *t);

/*
 * The same on queue q (0 = the first, as above; then those plat_tun_open_queue added, in
 * order). With several queues the kernel spreads the packets it sends by flow, and a flow
 * whose packets we write through queue q is read from queue q from then on (tun.c's flow
 * table: it learns from writes). -EINVAL for q >= plat_tun_queues(t).
 */
ssize_t plat_tun_read_queue(struct plat_tun *t, unsigned q, void *buf, size_t len);
int plat_tun_wait_queue(struct plat_tun *t, unsigned q, int timeout_ms);

/*
 * A batched reader of queue q: the OS reads packets ahead into nbufs buffers of buf_len bytes
 * each that the reader owns, so that one system call hands over many packets (Linux:
 * io_uring, a multishot read into a ring of provided buffers). For a data-plane thread that
 * reads one queue: create, wait, take packets and free it on that one thread.
 *
 * plat_tun_batch_new: nbufs a power of two up to 32768. -EOPNOTSUPP when this OS has no
 * such reader (Windows), -ENOSYS when the kernel lacks what it needs, -EPERM when it is
 * forbidden (kernel.io_uring_disabled, seccomp), other -errno: the caller reads through
 * plat_tun_wait_queue and plat_tun_read_queue instead. The buffers are only reserved: a
 * page costs memory once a packet has been read into it.
 */
struct plat_tun_batch;
int plat_tun_batch_new(struct plat_tun *t, unsigned q, size_t buf_len, unsigned nbufs,
		       struct plat_tun_batch **ret);
/* As plat_tun_wait_queue: 1 when plat_tun_batch_next has something to say, 0 on timeout. */
int plat_tun_batch_wait(struct plat_tun_batch *b, int timeout_ms);
/*
 * The next packet read (with its virtio-net header when VNET_HDR), in the queue's order:
 * its length, with *ret_buf pointing at it until the next call to plat_tun_batch_next or
 * plat_tun_batch_wait (the buffer then goes back to the OS). Never blocks: -EAGAIN when
 * nothing more has been read; -ENODEV when the interface is gone, as plat_tun_read.
 */
ssize_t plat_tun_batch_next(struct plat_tun_batch *b, const void **ret_buf);
/* Stop reading ahead and free everything; packets read but not taken are lost. NULL-safe. */
void plat_tun_batch_free(struct plat_tun_batch *b);

/* One packet gathered from pieces (a coalesced super-packet: header, first packet, payloads). */
struct plat_iov {
	const void *base;
	size_t len;
};
enum { PLAT_TUN_MAX_IOV = 80 };
/* Like plat_tun_write, for one packet given as n <= PLAT_TUN_MAX_IOV pieces. */
ssize_t plat_tun_writev(struct plat_tun *t, const struct plat_iov *iov, unsigned n);
/* The same through queue q (see plat_tun_read_queue); -EINVAL for a bad q. */
ssize_t plat_tun_writev_queue(struct plat_tun *t, unsigned q, const struct plat_iov *iov,
			      unsigned n);

/*
 * Close every fd. The kernel deletes a non-persistent TUN when its last fd closes, so a
 * device that plat_tun_open created disappears here unless someone else holds it open.
 * NULL-safe.
 */
void plat_tun_close(struct plat_tun *t);

#endif

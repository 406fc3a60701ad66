/* SPDX-License-Identifier: MIT */
/*
 * The batched TUN reader of tun.h on io_uring: one multishot read per queue (Linux 6.7) takes
 * its buffers from a ring of provided buffers (5.19) and posts one completion per packet, so
 * that one io_uring_enter reads every packet queued, where read(2) costs a system call each.
 * The ring is single-issuer with deferred task work (6.1): the kernel reads the packets when
 * the reader thread enters it to wait, never by interrupting it.
 *
 * Must not: block outside plat_tun_batch_wait, allocate or make a system call per packet,
 * log, or let the kernel write into a buffer after plat_tun_batch_free returned.
 */
#include "platform/tun.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <liburing.h>

#include "platform/linux/tun_queue.h"

/*
 * Linux 6.7's IORING_OP_READ_MULTISHOT, after IORING_OP_SENDMSG_ZC; Debian 12's liburing (2.3)
 * and kernel headers predate it. The kernel's probe says whether it knows it.
 */
#define TUN_OP_READ_MULTISHOT (IORING_OP_SENDMSG_ZC + 1)
_Static_assert(IORING_OP_SENDMSG_ZC == 48, "io_uring opcode numbering");

enum {
	TUN_RING_SQ = 4,      /* the read, and at the end its cancellation */
	TUN_RING_BGID = 0,    /* the buffer group: one per ring */
	TUN_RING_UD_READ = 1, /* user_data of the multishot read's completions */
	TUN_RING_UD_CANCEL = 2,
	TUN_RING_STOP_MS = 500, /* plat_tun_batch_free's wait for the read's last completion */
};

struct plat_tun_batch {
	struct io_uring ring;
	struct io_uring_buf_ring *br; /* nbufs entries, page-aligned (mmap) */
	uint8_t *bufs;		      /* nbufs * buf_len, mmap: untouched pages cost nothing */
	size_t br_size, bufs_size, buf_len;
	unsigned nbufs;
	int fd;
	int held;   /* the buffer id plat_tun_batch_next last returned, or -1 */
	bool armed; /* the multishot read is in the kernel (its last completion not seen) */
	bool ring_up;
};

static void buf_give(struct plat_tun_batch *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, b->bufs + (size_t)bid * b->buf_len, (unsigned)b->buf_len,
			      (unsigned short)bid, io_uring_buf_ring_mask(b->nbufs), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

static bool multishot_read_supported(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok = p && io_uring_opcode_supported(p, TUN_OP_READ_MULTISHOT);

	io_uring_free_probe(p);
	return ok;
}

int plat_tun_batch_new(struct plat_tun *t, unsigned q, size_t buf_len, unsigned nbufs,
		       struct plat_tun_batch **ret)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_CQSIZE,
		/* room for a completion per buffer and a few more: no overflow list */
		.cq_entries = 2 * nbufs,
	};
	struct io_uring_buf_reg reg = {0};
	struct plat_tun_batch *b;
	int fd = tun_queue_fd(t, q), r;

	if (fd < 0 || !ret || !nbufs || nbufs > 32768 || (nbufs & (nbufs - 1)) || !buf_len ||
	    buf_len > UINT32_MAX)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = fd;
	b->held = -1;
	b->nbufs = nbufs;
	b->buf_len = buf_len;
	b->br = MAP_FAILED;
	b->bufs = MAP_FAILED;
	r = io_uring_queue_init_params(TUN_RING_SQ, &b->ring, &p);
	if (r < 0)
		goto fail; /* -ENOSYS, -EPERM: no io_uring here; -EINVAL: before 6.1 */
	b->ring_up = true;
	if (!multishot_read_supported(&b->ring)) {
		r = -ENOSYS;
		goto fail;
	}
	b->br_size = nbufs * sizeof(struct io_uring_buf);
	b->bufs_size = nbufs * buf_len;
	b->br = mmap(NULL, b->br_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b->bufs = mmap(NULL, b->bufs_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (b->br == MAP_FAILED || b->bufs == MAP_FAILED) {
		r = -ENOMEM;
		goto fail;
	}
	io_uring_buf_ring_init(b->br);
	reg.ring_addr = (uintptr_t)b->br;
	reg.ring_entries = nbufs;
	reg.bgid = TUN_RING_BGID;
	r = io_uring_register_buf_ring(&b->ring, &reg, 0);
	if (r < 0)
		goto fail;
	for (unsigned i = 0; i < nbufs; i++)
		buf_give(b, i);
	*ret = b;
	return 0;
fail:
	plat_tun_batch_free(b);
	return r;
}

/* Queue the multishot read (again: it ends when the buffers ran out, or on an error). */
static int arm(struct plat_tun_batch *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe)
		return -EBUSY; /* cannot happen: at most one is queued */
	/* No address and no length: each read takes a whole buffer of the group. */
	io_uring_prep_rw(TUN_OP_READ_MULTISHOT, sqe, b->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = TUN_RING_BGID;
	io_uring_sqe_set_data64(sqe, TUN_RING_UD_READ);
	b->armed = true;
	return 0;
}

/* Give back the buffer the caller held. */
static void release(struct plat_tun_batch *b)
{
	if (b->held >= 0) {
		buf_give(b, (unsigned)b->held);
		b->held = -1;
	}
}

int plat_tun_batch_wait(struct plat_tun_batch *b, int timeout_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe;
	int r;

	release(b);
	if (io_uring_cq_ready(&b->ring))
		return 1;
	if (!b->armed && (r = arm(b)) < 0)
		return r;
	/* Entering runs the deferred reads: every packet queued by now, up to the buffers. */
	r = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, timeout_ms < 0 ? NULL : &ts, NULL);
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	return io_uring_cq_ready(&b->ring) > 0;
}

ssize_t plat_tun_batch_next(struct plat_tun_batch *b, const void **ret_buf)
{
	struct io_uring_cqe *cqe;

	release(b);
	/* peek_batch, not peek_cqe: with nothing ready the latter may enter the kernel */
	while (io_uring_peek_batch_cqe(&b->ring, &cqe, 1) == 1) {
		int res = cqe->res;
		unsigned flags = cqe->flags;
		bool read = io_uring_cqe_get_data64(cqe) == TUN_RING_UD_READ;

		io_uring_cqe_seen(&b->ring, cqe);
		if (!read)
			continue;
		if (!(flags & IORING_CQE_F_MORE))
			b->armed = false; /* the next wait queues it again */
		if (flags & IORING_CQE_F_BUFFER) {
			unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

			if (res > 0 && bid < b->nbufs) {
				b->held = (int)bid;
				*ret_buf = b->bufs + (size_t)bid * b->buf_len;
				return res;
			}
			if (bid < b->nbufs)
				buf_give(b, bid);
		}
		/* -ENOBUFS: read ahead as far as the buffers go; the rest waits in the TUN. */
		if (res >= 0 || res == -ENOBUFS || res == -EAGAIN || res == -ECANCELED)
			continue;
		/* EBADFD: the device was unregistered and our file detached from it. */
		if (res == -EBADFD || res == -EIO)
			return -ENODEV;
		return res;
	}
	return -EAGAIN;
}

/*
 * Cancel the read and wait for its last completion, so that the kernel is done with our
 * buffers before they are unmapped (the ring's own teardown cancels asynchronously).
 */
static void disarm(struct plat_tun_batch *b)
{
	struct __kernel_timespec ts = {.tv_nsec = TUN_RING_STOP_MS * 1000000LL};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	sqe = io_uring_get_sqe(&b->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, TUN_RING_UD_READ, 0);
	io_uring_sqe_set_data64(sqe, TUN_RING_UD_CANCEL);
	io_uring_submit(&b->ring);
	while (b->armed) {
		if (io_uring_wait_cqe_timeout(&b->ring, &cqe, &ts) < 0)
			break;
		if (io_uring_cqe_get_data64(cqe) == TUN_RING_UD_READ &&
		    !(cqe->flags & IORING_CQE_F_MORE))
			b->armed = false;
		io_uring_cqe_seen(&b->ring, cqe);
	}
}

void plat_tun_batch_free(struct plat_tun_batch *b)
{
	if (!b)
		return;
	if (b->ring_up) {
		if (b->armed)
			disarm(b);
		io_uring_queue_exit(&b->ring);
	}
	/* Still armed after the wait: leave the buffers mapped rather than risk a late write. */
	if (!b->armed) {
		if (b->bufs != MAP_FAILED)
			munmap(b->bufs, b->bufs_size);
		if (b->br != MAP_FAILED)
			munmap(b->br, b->br_size);
	}
	free(b);
}

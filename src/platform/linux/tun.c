/* SPDX-License-Identifier: MIT */
/*
 * Linux TUN devices through /dev/net/tun: IFF_TUN | IFF_NO_PI, optionally IFF_VNET_HDR (with
 * TUNSETOFFLOAD) and IFF_MULTI_QUEUE. Links are looked up through platform/netif (rtnetlink)
 * so that an existing non-TUN link is refused before TUNSETIFF could touch it.
 *
 * Must not: parse or build packets (beyond the one-byte status probe), block, log, or leave a
 * device or an fd behind on an error path.
 */
#include "platform/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "platform/netif.h"
#include "platform/linux/rtnl.h"
#include "platform/linux/tun_queue.h"

/* Since Linux 6.2 (uapi if_tun.h); older headers lack them, older kernels refuse them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

_Static_assert(sizeof(struct virtio_net_hdr) == PLAT_TUN_VNET_HDR_LEN, "virtio_net_hdr size");
_Static_assert(PLAT_TUN_NAME_MAX < IFNAMSIZ, "interface name length");

#define TUN_DEV "/dev/net/tun"

struct plat_tun {
	int fd;
	int ifindex;
	unsigned flags; /* PLAT_TUN_* */
	char name[IFNAMSIZ];
	int *queues; /* extra queue fds from plat_tun_open_queue */
	unsigned nqueues;
};

/* The kernel's dev_valid_name(), whose isspace() also counts Latin-1 NBSP (0xa0). */
static bool name_valid(const char *name)
{
	size_t n;
	const unsigned char *p;

	if (!name)
		return false;
	n = strnlen(name, PLAT_TUN_NAME_MAX + 1);
	if (n == 0 || n > PLAT_TUN_NAME_MAX)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (p = (const unsigned char *)name; *p; p++) {
		if (*p == '/' || *p == ':' || *p == ' ' || (*p >= '\t' && *p <= '\r') || *p == 0xa0)
			return false;
	}
	return true;
}

/*
 * 0 when no link is called name or it is a TUN/TAP; -EEXIST for any other kind. For a
 * multi-queue open also -EBUSY when the TUN has queues attached: the kernel would let us add
 * one, and then hand us a share of another reader's packets.
 */
static int check_link(const char *name, unsigned flags)
{
	char kind[PLAT_NETIF_KIND_MAX];
	int idx, r;

	idx = plat_netif_index(name);
	if (idx == -ENODEV)
		return 0;
	if (idx < 0)
		return idx;
	r = plat_netif_kind(idx, kind, sizeof(kind));
	if (r == -ENODEV)
		return 0; /* deleted meanwhile: TUNSETIFF will create ours */
	if (r == -ENOSPC)
		return -EEXIST;
	if (r < 0)
		return r;
	/* TUN and TAP devices both have kind "tun"; TUNSETIFF refuses a TAP with EINVAL. */
	if (strcmp(kind, "tun"))
		return -EEXIST;
	if (flags & PLAT_TUN_MULTI_QUEUE) {
		r = rtnl_tun_queues(idx);
		if (r > 0)
			return -EBUSY;
		/* Gone meanwhile, or a kernel before 4.19 that does not say: TUNSETIFF decides. */
		if (r < 0 && r != -ENODEV && r != -EOPNOTSUPP)
			return r;
	}
	return 0;
}

static short iff_flags(unsigned flags)
{
	short f = IFF_TUN | IFF_NO_PI;

	if (flags & PLAT_TUN_VNET_HDR)
		f |= IFF_VNET_HDR;
	if (flags & PLAT_TUN_MULTI_QUEUE)
		f |= IFF_MULTI_QUEUE;
	return f;
}

/*
 * Open /dev/net/tun and attach it to (or create) the device name. Returns the fd and the
 * name the kernel used, or -errno with nothing open.
 */
static int attach(const char *name, unsigned flags, char ret_name[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd, r;

	fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = iff_flags(flags);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		close(fd);
		/* A non-TUN link that appeared since the check also gives EINVAL. */
		if (r == -EINVAL && check_link(name, 0) == -EEXIST)
			r = -EEXIST;
		return r;
	}
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	ret_name[IFNAMSIZ - 1] = '\0';
	return fd;
}

int plat_tun_open(const char *name, unsigned flags, struct plat_tun **ret)
{
	struct plat_tun *t;
	int r;

	if (!name_valid(name) || !ret)
		return -EINVAL;
	if (flags & ~(unsigned)(PLAT_TUN_VNET_HDR | PLAT_TUN_MULTI_QUEUE))
		return -EINVAL;
	/* TUNSETIFF on a name taken by another kind of link fails anyway, but with EINVAL;
	 * looking first gives the caller the truthful -EEXIST. */
	r = check_link(name, flags);
	if (r < 0)
		return r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->flags = flags;
	t->fd = attach(name, flags, t->name);
	if (t->fd < 0) {
		r = t->fd;
		free(t);
		return r;
	}
	if (flags & PLAT_TUN_VNET_HDR) {
		int sz = PLAT_TUN_VNET_HDR_LEN;

		/* The default is already 10; set it because an attached device may differ. */
		if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = plat_netif_index(t->name);
	if (r < 0)
		goto fail;
	t->ifindex = r;
	*ret = t;
	return 0;
fail:
	/* Closing the only fd of a device we just created deletes it again. */
	plat_tun_close(t);
	return r;
}

int plat_tun_open_queue(struct plat_tun *t, int *ret_fd)
{
	char name[IFNAMSIZ];
	int *q, fd, idx;

	if (!(t->flags & PLAT_TUN_MULTI_QUEUE))
		return -EOPNOTSUPP;
	if (t->nqueues + 1 >= PLAT_TUN_MAX_QUEUES)
		return -E2BIG;
	q = realloc(t->queues, (t->nqueues + 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	t->queues = q;
	fd = attach(t->name, t->flags, name);
	if (fd < 0)
		return fd == -EEXIST ? -ENODEV : fd;
	/* Attaching goes by name: make sure it is still our device and not one TUNSETIFF just
	 * made because ours was renamed or moved (closing the fd deletes that one again). */
	idx = plat_netif_index(name);
	if (idx != t->ifindex) {
		close(fd);
		return idx < 0 && idx != -ENODEV ? idx : -ENODEV;
	}
	t->queues[t->nqueues++] = fd;
	if (ret_fd)
		*ret_fd = fd;
	return 0;
}

int plat_tun_fd(const struct plat_tun *t)
{
	return t->fd;
}

const char *plat_tun_name(const struct plat_tun *t)
{
	return t->name;
}

int plat_tun_ifindex(const struct plat_tun *t)
{
	return t->ifindex;
}

static unsigned to_kernel(unsigned off)
{
	unsigned k = 0;

	if (off & PLAT_TUN_OFF_CSUM)
		k |= TUN_F_CSUM;
	if (off & PLAT_TUN_OFF_TSO4)
		k |= TUN_F_TSO4;
	if (off & PLAT_TUN_OFF_TSO6)
		k |= TUN_F_TSO6;
	if (off & PLAT_TUN_OFF_USO4)
		k |= TUN_F_USO4;
	if (off & PLAT_TUN_OFF_USO6)
		k |= TUN_F_USO6;
	return k;
}

int plat_tun_set_offload(struct plat_tun *t, unsigned offloads)
{
	const unsigned all = PLAT_TUN_OFF_CSUM | PLAT_TUN_OFF_TSO4 | PLAT_TUN_OFF_TSO6 |
			     PLAT_TUN_OFF_USO4 | PLAT_TUN_OFF_USO6;
	const unsigned uso = PLAT_TUN_OFF_USO4 | PLAT_TUN_OFF_USO6;
	const unsigned tso = PLAT_TUN_OFF_TSO4 | PLAT_TUN_OFF_TSO6;
	unsigned want = offloads;

	if (!(t->flags & PLAT_TUN_VNET_HDR))
		return -EOPNOTSUPP;
	if (offloads & ~all)
		return -EINVAL;
	/* The kernel enables segmentation only under CSUM, and UDP segmentation only for both
	 * families at once; it silently ignores the rest, so we must not claim it. */
	if (!(want & PLAT_TUN_OFF_CSUM))
		want = 0;
	if ((want & uso) != uso)
		want &= ~uso;

	for (;;) {
		if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)to_kernel(want)) == 0)
			return (int)want;
		if (errno != EINVAL || want == 0)
			return -errno;
		/* EINVAL: a bit this kernel does not know. Give up the newest first. */
		if (want & uso)
			want &= ~uso;
		else if (want & tso)
			want &= ~tso;
		else
			want = 0;
	}
}

unsigned plat_tun_queues(const struct plat_tun *t)
{
	return 1 + t->nqueues;
}

int tun_queue_fd(const struct plat_tun *t, unsigned q)
{
	if (q == 0)
		return t->fd;
	return q <= t->nqueues ? t->queues[q - 1] : -1;
}

ssize_t plat_tun_read(struct plat_tun *t, void *buf, size_t len)
{
	return plat_tun_read_queue(t, 0, buf, len);
}

ssize_t plat_tun_read_queue(struct plat_tun *t, unsigned q, void *buf, size_t len)
{
	int fd = tun_queue_fd(t, q);
	ssize_t n;

	if (fd < 0)
		return -EINVAL;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	n = read(fd, buf, len);
	if (n >= 0)
		return n;
	/* EBADFD: the device was unregistered and our file detached from it. */
	if (errno == EBADFD || errno == EIO)
		return -ENODEV;
	return -errno;
}

int plat_tun_wait(struct plat_tun *t, int timeout_ms)
{
	return plat_tun_wait_queue(t, 0, timeout_ms);
}

int plat_tun_wait_queue(struct plat_tun *t, unsigned q, int timeout_ms)
{
	struct pollfd pfd = {.fd = tun_queue_fd(t, q), .events = POLLIN};
	int r;

	if (pfd.fd < 0)
		return -EINVAL;
	do
		r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r > 0; /* POLLERR/POLLHUP too: the read then reports what happened */
}

ssize_t plat_tun_write(struct plat_tun *t, const void *buf, size_t len)
{
	ssize_t n;

	if (len > SSIZE_MAX)
		return -EINVAL;
	n = write(t->fd, buf, len);
	if (n >= 0)
		return n;
	if (errno == EBADFD)
		return -ENODEV;
	/* EIO on write is the kernel's "!(dev->flags & IFF_UP)": down, not gone. */
	if (errno == EIO)
		return -ENETDOWN;
	return -errno;
}

ssize_t plat_tun_writev(struct plat_tun *t, const struct plat_iov *iov, unsigned n)
{
	return plat_tun_writev_queue(t, 0, iov, n);
}

ssize_t plat_tun_writev_queue(struct plat_tun *t, unsigned q, const struct plat_iov *iov,
			      unsigned n)
{
	struct iovec v[PLAT_TUN_MAX_IOV];
	int fd = tun_queue_fd(t, q);
	ssize_t r;

	if (n > PLAT_TUN_MAX_IOV || fd < 0)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		v[i].iov_base = (void *)iov[i].base;
		v[i].iov_len = iov[i].len;
	}
	r = writev(fd, v, (int)n);
	if (r >= 0)
		return r;
	if (errno == EBADFD)
		return -ENODEV;
	if (errno == EIO)
		return -ENETDOWN;
	return -errno;
}

int plat_tun_link_up(struct plat_tun *t)
{
	/* A virtio-net header of zeros (no offload) then one byte whose version nibble is 4:
	 * it passes the IP version check and reaches the IFF_UP test (see tun.h). */
	unsigned char probe[PLAT_TUN_VNET_HDR_LEN + 1] = {0};
	size_t off = t->flags & PLAT_TUN_VNET_HDR ? PLAT_TUN_VNET_HDR_LEN : 0;
	ssize_t n;

	probe[off] = 0x40;
	n = write(t->fd, probe, off + 1);
	if (n >= 0)
		return 1;
	switch (errno) {
	case EINVAL:
		/* Only kernels that test IFF_UP before the packet (where a down link would have
		 * said EIO) can get here: up, as wireguard-go reads it. */
		return 1;
	case EIO:
		return 0;
	case EBADFD:
		return -ENODEV;
	default:
		return -errno;
	}
}

void plat_tun_close(struct plat_tun *t)
{
	unsigned i;

	if (!t)
		return;
	for (i = 0; i < t->nqueues; i++)
		close(t->queues[i]);
	if (t->fd >= 0)
		close(t->fd);
	free(t->queues);
	free(t);
}

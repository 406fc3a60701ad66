/* SPDX-License-Identifier: MIT */
/*
 * Internal to platform/linux: the fd behind a TUN queue, for tun_ring.c's batched reader.
 * Not a contract; callers outside platform/linux use tun.h.
 */
#ifndef WEFT_PLATFORM_LINUX_TUN_QUEUE_H
#define WEFT_PLATFORM_LINUX_TUN_QUEUE_H

struct plat_tun;

/* The fd of queue q (0 = the first), still owned by t; -1 for q >= plat_tun_queues(t). */
int tun_queue_fd(const struct plat_tun *t, unsigned q);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * overlay/attach — plug a container into its service's subnet on this node (Linux).
 *
 *   container netns                    this (the daemon's) netns
 *     lo (up)
 *     eth0 addr/28  <--veth-->  wv<hash of container id>  --port of-->  wb-<service>
 *     default via gateway                                              gateway/28 (first host)
 *                                        IPv4 forwarding on; the overlay routes the rest
 *
 * One bridge per service on this node; it holds the gateway (the subnet's first host) with
 * the subnet's prefix and is created on the first attach. Each container gets a veth pair:
 * the host end is a port of the bridge, the other end is born inside the container's network
 * namespace as eth0 (one request, so it is never visible half-moved), gets the container's
 * address, MTU and the default route via the gateway; lo is brought up too.
 *
 * Names fit IFNAMSIZ-1 (15):
 *   bridge  "wb-" + service when the service has at most 12 characters, else
 *           "wb-" + its first 4 + "_" + 7 hex digits of FNV-1a-64(service) ('_' never occurs
 *           in a service name, so the two forms cannot meet);
 *   veth    "wv" + 13 hex digits of FNV-1a-64(container id).
 * Ownership is recorded in the links' aliases (IFLA_IFALIAS, shown by `ip link`):
 *   bridge  "weft-bridge <service>"        veth  "weft-attach <service> <container>"
 * A link with our name but another kind or alias is someone else's and is never touched.
 *
 * Policies:
 * - Attaching a container that is attached already is -EEXIST (and changes nothing);
 *   detach first to move it. A host veth with our name but no alias is a leftover of a crash
 *   between creating the pair and labelling it: attach deletes it and goes on.
 * - ov_detach deletes the host veth (its peer, eth0, goes with it) and keeps the bridge, as
 *   the service's subnet on this node stays allocated; ov_attach_bridge_remove() removes an
 *   empty bridge when the daemon gives the subnet up.
 * - ov_attach turns IPv4 forwarding on in the caller's namespace
 *   (/proc/sys/net/ipv4/ip_forward), as the last step and only when it is off; it never
 *   turns it off.
 * - On any failure ov_attach deletes what the call created (the veth pair, and the bridge if
 *   this call created it); an existing bridge keeps its state.
 * - Dual stack when the request has an IPv6 subnet (subnet6, addr6: the IPv4 ones'
 *   twins, ov_prefix_derive6): the bridge also holds the IPv6 gateway (subnet6's first
 *   host), eth0 the container's IPv6 address and a default route via it, both without
 *   duplicate address detection (the allocator made them unique; DAD would hold them
 *   unusable for a second or two); and IPv6 forwarding is turned on as IPv4's is (which
 *   makes the kernel stop taking router advertisements on links with accept_ra 1). IPv6
 *   alone is -EAFNOSUPPORT: the allocator's service subnets are IPv4.
 *
 * Calls are serialised by a process-wide lock, so a daemon may call them from any thread;
 * nothing here changes the namespace of the calling thread (platform/container.h runs the
 * in-container steps on a short-lived thread). Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.
 *
 * Must not: log, touch links it does not own, or leave a half-configured veth behind.
 */
#ifndef WEFT_OVERLAY_ATTACH_H
#define WEFT_OVERLAY_ATTACH_H

/* Every service bridge name starts with this (the seal matches bridges by it). */
#define OV_ATTACH_BRIDGE_PREFIX "wb-"

#include <stdbool.h>
#include <stddef.h>

#include "overlay/alloc.h"

#define OV_ATTACH_CONTAINER_IFNAME "eth0"

enum {
	OV_ATTACH_IFNAME_MAX = 16,     /* IFNAMSIZ */
	OV_ATTACH_CONTAINER_MAX = 128, /* container id: 1..128 of [A-Za-z0-9_.-] */
	OV_ATTACH_MTU_MIN = 68,	       /* RFC 791: the smallest IPv4 MTU */
	OV_ATTACH_MTU_MAX = 65535,
	OV_ATTACH_BRIDGE_SHORT_MAX = 12, /* longest service used whole in a bridge name */
	OV_ATTACH_ALIAS_MAX = 256,	 /* IFALIASZ; our aliases need at most 12+63+1+128+1 */
};

struct ov_attach_req {
	const char *service;	 /* DNS label (ov_alloc_name_valid), names the bridge */
	struct ov_prefix subnet; /* IPv4 network, len <= 30, e.g. 10.200.103.32/28 */
	/* The container's address inside subnet: not the network, the gateway (first host) or
	 * the broadcast address. len 32, or subnet.len; eth0 gets it with subnet.len. */
	struct ov_prefix addr;
	/* Optional (family 0: IPv4 only): the IPv6 subnet, len <= 126, and the container's
	 * address in it (len 128 or subnet6.len), not its network, first host or last. */
	struct ov_prefix subnet6, addr6;
	int netns_fd;	       /* the container's network namespace; not the caller's */
	const char *container; /* id naming the host-side veth (see above) */
	unsigned mtu;	       /* OV_ATTACH_MTU_MIN..MAX, e.g. 1420 */
	char *err;	       /* optional: on failure, the step and the reason */
	size_t errlen;
};

struct ov_attach_info {
	char service[OV_ALLOC_NAME_MAX + 1];
	char bridge[OV_ATTACH_IFNAME_MAX]; /* "" when the host veth has lost its bridge */
	char host_veth[OV_ATTACH_IFNAME_MAX];
	int bridge_ifindex; /* 0 with bridge "" */
	int host_ifindex;
	int container_ifindex; /* eth0's ifindex inside the container's namespace */
	bool bridge_created;   /* ov_attach made the bridge in this call */
};

/* True for a container id as described above. */
bool ov_attach_container_valid(const char *id);
/* The interface names derived from a service or a container id. 0 or -EINVAL (bad input). */
int ov_attach_bridge_name(const char *service, char out[static OV_ATTACH_IFNAME_MAX]);
int ov_attach_veth_name(const char *container, char out[static OV_ATTACH_IFNAME_MAX]);

/* The owner recorded in a host veth's alias. */
struct ov_attach_owner {
	char service[OV_ALLOC_NAME_MAX + 1];
	char container[OV_ATTACH_CONTAINER_MAX + 1];
};

/*
 * "weft-attach <service> <container>", both valid: parse is strict (one space each, nothing
 * else) and the inverse of format. 0 or -EINVAL; ret and out only on success.
 */
int ov_attach_alias_parse(const char *alias, struct ov_attach_owner *ret);
int ov_attach_alias_format(const char *service, const char *container,
			   char out[static OV_ATTACH_ALIAS_MAX]);

/*
 * Attach as described above. 0 and *ret (may be NULL) on success. Errors, with r->err
 * saying which step: -EINVAL bad request (a name, prefix, address, MTU, or netns_fd being
 * the caller's own namespace), -EAFNOSUPPORT IPv6, -EBADF netns_fd not open; -EEXIST the
 * container is attached already, the bridge or veth name is taken by a link not ours, eth0
 * exists in the container, or the container has a default route already; -EADDRINUSE the
 * service's bridge holds another IPv4 address (another subnet); -errno from the kernel.
 */
int ov_attach(const struct ov_attach_req *r, struct ov_attach_info *ret);

/*
 * Open path as a container's network namespace for ov_attach's netns_fd, never blocking
 * (plat_ctr_netns_open: a FIFO, a regular file, a device or another kind of namespace is
 * refused without being opened for reading). The fd (O_CLOEXEC), or -errno with err saying
 * "not a network namespace: PATH" (-EINVAL) or "PATH: <strerror>".
 */
int ov_attach_netns_open(const char *path, char *err, size_t errlen);

/* Delete the container's host veth (and with it eth0). 0, -ENOENT when not attached. */
int ov_detach(const char *container);

/* The container's attachment as the kernel has it now. 0, -ENOENT, -errno. */
int ov_attach_lookup(const char *container, struct ov_attach_info *ret);

/*
 * Find containers that are gone, and clean up after them. When a container's network
 * namespace is destroyed the kernel deletes the whole veth pair by itself (a little later,
 * from a work queue), so "gone" is either of:
 *  1. an id in known[] (the daemon's attached containers) with no host veth of ours left;
 *  2. a host veth of ours whose peer is dead: in a namespace being destroyed, back in this
 *     namespace, or missing. It is deleted.
 * gone(ctx, container) is called once per container found in a call (1 is checked first, so
 * an id is never reported twice); the daemon drops its records (DNS) there. Our veths
 * without an alias (a crash mid-attach) are deleted silently. Returns how many containers
 * were reported, or -errno. gone may be NULL; it must not call ov_ functions of this file.
 */
int ov_attach_sweep(const char *const *known, size_t n_known,
		    void (*gone)(void *ctx, const char *container), void *ctx);

/*
 * Delete the service's bridge (its gateway address and subnet route go with it). 0;
 * -ENOENT no bridge of ours; -EBUSY containers are still attached to it; -errno.
 */
int ov_attach_bridge_remove(const char *service);

#endif

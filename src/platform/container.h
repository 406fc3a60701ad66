/* SPDX-License-Identifier: MIT */
/*
 * Container plumbing on Linux: bridges, veth pairs, link aliases and masters, links moved
 * between network namespaces, gateway routes, IPv4 forwarding, and running netif calls
 * inside another network namespace.
 *
 * Linux-only contract (netif.h is the OS-neutral one); platform/linux/container.c implements
 * it over rtnetlink (libmnl). Like netif.h, every call opens its own NETLINK_ROUTE socket and
 * closes it before returning, errors are -errno, nothing is logged, and only the calling
 * thread's network namespace is touched, except by plat_ctr_netns_run() (see there).
 *
 * Every ifindex argument <= 0, or naming no link, gives -ENODEV.
 */
#ifndef WEFT_PLATFORM_CONTAINER_H
#define WEFT_PLATFORM_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/netif.h"

enum {
	PLAT_CTR_NAME_MAX = 16,	    /* IFNAMSIZ: a link name and its NUL */
	PLAT_CTR_ALIAS_MAX = 256,   /* IFALIASZ: an alias and its NUL */
	PLAT_CTR_LINKS_MAX = 65536, /* links one plat_ctr_link_list collects */
};

/* Where a link's peer (a veth's other end) lives, as this namespace sees it. */
enum plat_ctr_peer {
	PLAT_CTR_PEER_NONE = 0, /* no peer: not a veth, or a veth whose pair is going away */
	PLAT_CTR_PEER_HERE,	/* in this namespace */
	PLAT_CTR_PEER_OTHER,	/* in another, live namespace */
	PLAT_CTR_PEER_DEAD,	/* in a namespace being destroyed (the kernel gives it no id) */
};

struct plat_ctr_link {
	int ifindex;
	char name[PLAT_CTR_NAME_MAX];
	char kind[PLAT_NETIF_KIND_MAX]; /* "veth", "bridge", ...; "" for links without one */
	char alias[PLAT_CTR_ALIAS_MAX]; /* IFLA_IFALIAS, "" when unset */
	int master;			/* ifindex of the bridge it is a port of, 0 for none */
	int peer_ifindex;		/* IFLA_LINK, an ifindex in the peer's namespace; 0 none */
	enum plat_ctr_peer peer;
	bool up;      /* administratively (IFF_UP) */
	bool carrier; /* IFF_LOWER_UP */
};

/*
 * The link called name (name != NULL) or with this ifindex. 0, -ENODEV (also for a name no
 * link can have), -errno.
 */
int plat_ctr_link_get(int ifindex, const char *name, struct plat_ctr_link *ret);

/*
 * Call fn for every link of this namespace (collected first, so fn may make netlink calls
 * and delete links). Stops and returns fn's value when it is non-zero; else 0, -E2BIG past
 * PLAT_CTR_LINKS_MAX links, -errno.
 */
int plat_ctr_link_list(int (*fn)(void *ctx, const struct plat_ctr_link *l), void *ctx);

/*
 * Create a bridge: administratively down, STP off (ports forward at once), MTU mtu (0: the
 * kernel's default). -EEXIST when any link has the name; -EINVAL for a name no link can
 * have. ret_ifindex (may be NULL) only on success.
 */
int plat_ctr_bridge_create(const char *name, unsigned mtu, int *ret_ifindex);

struct plat_ctr_veth {
	const char *name;  /* this end, created in the calling thread's namespace */
	const char *peer;  /* the other end's name, in its namespace */
	int peer_netns_fd; /* the other end's namespace; -1 for this one */
	int master;	   /* bridge to enslave this end to at creation; 0 for none */
	unsigned mtu;	   /* both ends; 0 for the kernel's default */
	const char *alias; /* IFLA_IFALIAS of this end, or NULL */
};

/*
 * Create a veth pair, both ends down. One request: the peer is born in its namespace under
 * its final name, so no half-moved end is ever visible. If setting the alias fails the pair
 * is deleted again. -EEXIST when either name is taken in its namespace; -EINVAL for bad
 * names or an alias of PLAT_CTR_ALIAS_MAX bytes or more; -EBADF/-EINVAL for a bad netns fd.
 * ret_ifindex (this end; may be NULL) only on success.
 */
int plat_ctr_veth_create(const struct plat_ctr_veth *v, int *ret_ifindex);

/*
 * Move a link into the namespace netns_fd and, in the same request, rename it (newname
 * NULL keeps the name). The link leaves this namespace. -EEXIST when a name is taken there.
 * Not atomic: the kernel moves, then renames, so when only newname is taken there the link
 * has moved under its old name before -EEXIST comes back. (The veth attach path does not
 * move links: plat_ctr_veth_create makes the peer there under its final name.)
 */
int plat_ctr_link_move(int ifindex, int netns_fd, const char *newname);

/*
 * Enslave the link to a bridge, or release it from its master (master 0). The kernel answers
 * -EINVAL for a master index naming no link, -EOPNOTSUPP for one that takes no ports.
 */
int plat_ctr_set_master(int ifindex, int master);

/* Set the link's alias ("" clears it). -EINVAL for PLAT_CTR_ALIAS_MAX bytes or more. */
int plat_ctr_set_alias(int ifindex, const char *alias);

/*
 * Route dst (host bits cleared) via the gateway gw out of the link, main table, protocol
 * static, scope universe. dst and gw of one family. metric 0 means the family's default. The
 * same route already there is -EEXIST (the caller decides whether that is fine).
 */
int plat_ctr_add_gateway_route(int ifindex, const struct plat_addr *dst, const struct plat_addr *gw,
			       uint32_t metric);

/*
 * Turn IPv4 forwarding on or off in the calling thread's namespace (/proc/sys/net/ipv4/
 * ip_forward). Read first: asking for the state it already has writes nothing, so a
 * read-only /proc/sys is only an error when a change is needed. 0 or -errno.
 */
int plat_ctr_ipv4_forwarding(bool on);
/* The same for IPv6 (/proc/sys/net/ipv6/conf/all/forwarding). */
int plat_ctr_ipv6_forwarding(bool on);

/*
 * Add an IPv6 address (prefix a->prefix; its prefix route with it) to the link without
 * duplicate address detection (IFA_F_NODAD): usable at once, for addresses the allocator
 * made unique. The same address again is no error. -EINVAL not IPv6; 0 or -errno.
 */
int plat_ctr_add_address_nodad(int ifindex, const struct plat_addr *a);

/*
 * Is fd a network namespace, and is it the calling thread's? 1 the same, 0 another one,
 * -EBADF not an open fd, -EINVAL an fd of something else.
 */
int plat_ctr_netns_is_self(int fd);

/*
 * Open path as a network namespace (a /proc/PID/ns/net, a bind mount of one) for
 * plat_ctr_netns_run() and friends, without blocking and without opening anything that is
 * not a namespace file: path is opened O_PATH (a FIFO, a device or a socket is never really
 * opened, so nothing blocks and no driver sees an open), must be on nsfs (fstatfs,
 * NSFS_MAGIC), and is then reopened read-only through /proc/self/fd and asked its type
 * (ioctl NS_GET_NSTYPE must say CLONE_NEWNET; a kernel before 4.11 cannot tell and setns
 * checks it later). An O_CLOEXEC fd, or -errno: -EINVAL not a namespace file or not a
 * network one, -ENOENT, -EACCES, ... from open.
 */
int plat_ctr_netns_open(const char *path);

/*
 * Run fn(ctx) inside the network namespace netns_fd and return its value; -errno when the
 * namespace cannot be entered (-EBADF, -EINVAL not a netns, -EPERM).
 *
 * How: a short-lived thread of our own setns()es into the namespace, runs fn and exits; the
 * caller waits for it. The caller's thread, and so the rest of a multi-threaded daemon,
 * never changes namespace, and nothing can leave a thread behind in the wrong one (a thread
 * that dies takes its namespace membership with it). Every plat_netif_ and plat_ctr_ call
 * fn makes opens its socket inside that namespace. The thread runs with all signals blocked.
 * fn must not keep state that outlives the thread (thread-locals).
 */
int plat_ctr_netns_run(int netns_fd, int (*fn)(void *ctx), void *ctx);

#endif

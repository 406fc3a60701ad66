/* SPDX-License-Identifier: MIT */
/*
 * overlay/resolv_file — a container's resolv.conf: where it is, what weft puts in it, and
 * writing it without harm to anything else. `weft attach --dns` uses it (the CLI, in the
 * caller's mount namespace: weftd runs sandboxed, /etc read-only to it under systemd).
 *
 * Where (ov_resolv_target), from how the container's network namespace was named:
 *   --pid PID, or --netns /proc/PID/ns/net    /proc/PID/root + etc/resolv.conf, resolved
 *                                             inside that root (RESOLVE_IN_ROOT): the
 *                                             container's own /etc, whatever its symlinks say
 *   --netns /run/netns/NAME (/var/run/...)    /etc/netns/NAME/resolv.conf, which
 *                                             `ip netns exec NAME` bind-mounts on /etc/resolv.conf
 *   anything else                             unknown (-ENOENT): weft cannot tell which
 *                                             filesystem is the container's
 * NAME follows iproute2 (is_valid_netns_name): 1..NAME_MAX-1 bytes, no '/', not "." or "..".
 *
 * Writing is two steps so that bad input changes nothing: ov_resolv_file_open() finds the
 * directory (creating /etc/netns/NAME if needed) and creates the temporary file next to
 * resolv.conf, which proves the place is writable before the container is attached;
 * ov_resolv_file_commit() writes, fsyncs and renames it over resolv.conf (a symlink there is
 * replaced, never followed). A resolv.conf that is a mount point (Docker's, a bind mount)
 * cannot be renamed over (EBUSY): it is then rewritten in place, opened with O_NOFOLLOW.
 * ov_resolv_file_abort() removes the temporary file and a directory open created.
 *
 * Must not: follow a symlink out of a container's root, write anywhere but the one
 * resolv.conf, or leave a temporary file behind.
 */
#ifndef WEFT_OVERLAY_RESOLV_FILE_H
#define WEFT_OVERLAY_RESOLV_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	OV_RESOLV_FILE_NS_MAX = 3,	/* resolv.conf(5): MAXNS */
	OV_RESOLV_FILE_TEXT_MAX = 1024, /* what ov_resolv_file_format writes fits in this */
	OV_RESOLV_FILE_SEARCH_MAX = 253,
};

struct ov_resolv_target {
	/* "" or a directory that dir is resolved inside (RESOLVE_IN_ROOT): /proc/PID/root. */
	char root[PATH_MAX];
	/* The directory of resolv.conf: relative to root ("etc"), or absolute. */
	char dir[PATH_MAX];
	bool make_dir;	      /* create dir (and its parent) when missing: /etc/netns/NAME */
	char shown[PATH_MAX]; /* the file's path as people read it, for messages */
};

/*
 * Where the container's resolv.conf is (above): pid > 0 for --pid, else netns (--netns PATH).
 * 0 and *ret; -ENOENT no known place; -EINVAL bad arguments (both, neither, a bad NAME).
 */
int ov_resolv_target(unsigned long pid, const char *netns, struct ov_resolv_target *ret);
/* The same for a target under another base, for tests: "/etc/netns" becomes netns_base. */
int ov_resolv_target_at(unsigned long pid, const char *netns, const char *proc_base,
			const char *netns_base, struct ov_resolv_target *ret);

/*
 * The file's text: a comment line (note, printable ASCII without newlines; may be NULL),
 * "nameserver ADDR" for each of ns[0..n) (1..OV_RESOLV_FILE_NS_MAX IPv4 or IPv6 literals),
 * "search ZONE" (a DNS name of [A-Za-z0-9.-_], a final dot dropped). The length written (NUL
 * excluded), -EINVAL or -ENOSPC.
 */
int ov_resolv_file_format(const char *const *ns, size_t n, const char *search, const char *note,
			  char *buf, size_t cap);

struct ov_resolv_file {
	int dirfd, tmpfd;
	char tmp[64];
	bool made_dir; /* open created t->dir (removed again by abort) */
	struct ov_resolv_target t;
};

/* Step one (above). 0; -errno with err: "PATH: <reason>". Nothing is left on error. */
int ov_resolv_file_open(const struct ov_resolv_target *t, struct ov_resolv_file *f, char *err,
			size_t errlen);
/* Step two: text becomes resolv.conf (0644). 0; -errno with err. f is closed either way. */
int ov_resolv_file_commit(struct ov_resolv_file *f, const char *text, size_t len, char *err,
			  size_t errlen);
/* Undo step one. Safe after a failed commit (then a no-op). */
void ov_resolv_file_abort(struct ov_resolv_file *f);

#endif

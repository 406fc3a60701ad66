/* SPDX-License-Identifier: MIT */
/*
 * A container's resolv.conf (see resolv_file.h). The path parser reads only NUL-terminated
 * strings it was given and writes only into *ret; the writer touches only the temporary file,
 * resolv.conf and the one directory it may create.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "overlay/resolv_file.h"

static const char RESOLV_NAME[] = "resolv.conf";

static void set_err(char *err, size_t errlen, const char *path, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(e));
}

/* "123" into *ret: 1..4194304-ish digits without a leading zero, > 0. */
static bool parse_pid(const char *s, size_t len, unsigned long *ret)
{
	unsigned long v = 0;

	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*ret = v;
	return v > 0 && v <= 0xffffffffUL;
}

/* iproute2's is_valid_netns_name. */
static bool netns_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < NAME_MAX && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

int ov_resolv_target_at(unsigned long pid, const char *netns, const char *proc_base,
			const char *netns_base, struct ov_resolv_target *ret)
{
	static const char *const ipnetns[] = {"/run/netns/", "/var/run/netns/"};
	struct ov_resolv_target t;

	if (!ret || !proc_base || !netns_base || (pid == 0) == (netns == NULL))
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	if (netns) {
		const char *name = NULL;
		size_t len = strlen(netns);

		/* /proc/PID/ns/net: the process's root is the container's. */
		if (len > 13 && !strncmp(netns, "/proc/", 6) &&
		    !strcmp(netns + len - 7, "/ns/net") && !parse_pid(netns + 6, len - 13, &pid))
			return -ENOENT;
		for (size_t i = 0; !pid && i < 2; i++)
			if (!strncmp(netns, ipnetns[i], strlen(ipnetns[i])))
				name = netns + strlen(ipnetns[i]);
		if (!pid && !name)
			return -ENOENT;
		if (name) {
			if (!netns_name_valid(name))
				return -EINVAL;
			if (snprintf(t.dir, sizeof(t.dir), "%s/%s", netns_base, name) >=
				    (int)sizeof(t.dir) ||
			    snprintf(t.shown, sizeof(t.shown), "%s/%s", t.dir, RESOLV_NAME) >=
				    (int)sizeof(t.shown))
				return -EINVAL;
			t.make_dir = true;
			*ret = t;
			return 0;
		}
	}
	if (snprintf(t.root, sizeof(t.root), "%s/%lu/root", proc_base, pid) >= (int)sizeof(t.root))
		return -EINVAL;
	strcpy(t.dir, "etc");
	if (snprintf(t.shown, sizeof(t.shown), "%s/etc/%s", t.root, RESOLV_NAME) >=
	    (int)sizeof(t.shown))
		return -EINVAL;
	*ret = t;
	return 0;
}

int ov_resolv_target(unsigned long pid, const char *netns, struct ov_resolv_target *ret)
{
	return ov_resolv_target_at(pid, netns, "/proc", "/etc/netns", ret);
}

/* ---- The text ------------------------------------------------------------------------------ */

static bool search_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > OV_RESOLV_FILE_SEARCH_MAX || s[0] == '.' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool note_valid(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

int ov_resolv_file_format(const char *const *ns, size_t n, const char *search, const char *note,
			  char *buf, size_t cap)
{
	size_t len = 0, slen;
	int w;

	if (!ns || n == 0 || n > OV_RESOLV_FILE_NS_MAX || !search || !search_valid(search) ||
	    (note && !note_valid(note)) || !buf || cap == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint8_t a[16];

		if (!ns[i] ||
		    (inet_pton(AF_INET, ns[i], a) != 1 && inet_pton(AF_INET6, ns[i], a) != 1))
			return -EINVAL;
	}
	slen = strlen(search);
	if (search[slen - 1] == '.')
		slen--;
	if (note) {
		w = snprintf(buf, cap, "# %s\n", note);
		if (w < 0 || (size_t)w >= cap)
			return -ENOSPC;
		len = (size_t)w;
	}
	for (size_t i = 0; i < n; i++) {
		w = snprintf(buf + len, cap - len, "nameserver %s\n", ns[i]);
		if (w < 0 || (size_t)w >= cap - len)
			return -ENOSPC;
		len += (size_t)w;
	}
	w = snprintf(buf + len, cap - len, "search %.*s\n", (int)slen, search);
	if (w < 0 || (size_t)w >= cap - len)
		return -ENOSPC;
	return (int)(len + (size_t)w);
}

/* ---- Writing ------------------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void close_fds(struct ov_resolv_file *f)
{
	if (f->tmpfd >= 0)
		close(f->tmpfd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	f->tmpfd = f->dirfd = -1;
}

void ov_resolv_file_abort(struct ov_resolv_file *f)
{
	if (!f)
		return;
	if (f->dirfd >= 0 && f->tmp[0])
		(void)unlinkat(f->dirfd, f->tmp, 0);
	f->tmp[0] = '\0';
	close_fds(f);
	if (f->made_dir)
		(void)rmdir(f->t.dir); /* only when still empty */
	f->made_dir = false;
}

static int open_dir(struct ov_resolv_file *f)
{
	const struct ov_resolv_target *t = &f->t;

	if (t->root[0]) {
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		int rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

		if (rootfd < 0)
			return -errno;
		fd = (int)syscall(SYS_openat2, rootfd, t->dir, &how, sizeof(how));
		fd = fd < 0 ? -errno : fd;
		close(rootfd);
		return fd;
	}
	if (t->make_dir) {
		char parent[PATH_MAX];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", t->dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				return -errno;
		}
		if (mkdir(t->dir, 0755) == 0)
			f->made_dir = true;
		else if (errno != EEXIST)
			return -errno;
	}
	{
		int fd = open(t->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		return fd < 0 ? -errno : fd;
	}
}

int ov_resolv_file_open(const struct ov_resolv_target *t, struct ov_resolv_file *f, char *err,
			size_t errlen)
{
	int r;

	if (!t || !f || !t->dir[0])
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->dirfd = f->tmpfd = -1;
	f->t = *t;
	r = open_dir(f);
	if (r < 0) {
		set_err(err, errlen, t->root[0] ? t->shown : t->dir, -r);
		ov_resolv_file_abort(f);
		return r;
	}
	f->dirfd = r;
	snprintf(f->tmp, sizeof(f->tmp), ".resolv.conf.weft-%ld", (long)getpid());
	for (int tries = 0; tries < 2; tries++) {
		f->tmpfd = openat(f->dirfd, f->tmp,
				  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f->tmpfd >= 0 || errno != EEXIST)
			break;
		(void)unlinkat(f->dirfd, f->tmp, 0); /* a crashed run's, same pid */
	}
	if (f->tmpfd < 0) {
		r = -errno;
		f->tmp[0] = '\0';
		set_err(err, errlen, t->shown, -r);
		ov_resolv_file_abort(f);
		return r;
	}
	return 0;
}

int ov_resolv_file_commit(struct ov_resolv_file *f, const char *text, size_t len, char *err,
			  size_t errlen)
{
	int r, fd, dfd;

	if (!f || f->tmpfd < 0 || !text)
		return -EINVAL;
	r = write_all(f->tmpfd, text, len);
	if (r == 0 && (fchmod(f->tmpfd, 0644) < 0 || fsync(f->tmpfd) < 0))
		r = -errno;
	if (r == 0 && close(f->tmpfd) < 0)
		r = -errno;
	f->tmpfd = -1;
	if (r == 0 && renameat(f->dirfd, f->tmp, f->dirfd, RESOLV_NAME) == 0) {
		f->tmp[0] = '\0';
	} else if (r == 0 && errno == EBUSY) {
		/* A mount point (Docker's resolv.conf, a bind mount): rewrite it in place. */
		fd = openat(f->dirfd, RESOLV_NAME, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
		} else {
			r = write_all(fd, text, len);
			if (r == 0 && fsync(fd) < 0)
				r = -errno;
			close(fd);
		}
	} else if (r == 0) {
		r = -errno;
	}
	if (r < 0) {
		set_err(err, errlen, f->t.shown, -r);
		ov_resolv_file_abort(f);
		return r;
	}
	dfd = openat(f->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	f->made_dir = false;	 /* it holds resolv.conf now: ours to keep */
	ov_resolv_file_abort(f); /* removes the temporary file when it is still there */
	return 0;
}

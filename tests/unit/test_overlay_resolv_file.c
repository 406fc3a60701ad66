/* SPDX-License-Identifier: MIT */
/*
 * A container's resolv.conf (overlay/resolv_file): where it is for each way `weft attach`
 * names a namespace (a table, bad names refused), its text (exact, and every bad input
 * refused), and writing it in a scratch tree: an `ip netns` directory created and removed
 * again by abort, a process root whose resolv.conf is a symlink out of it (replaced, the
 * target untouched), an etc that is a symlink out of the root (refused, nothing written
 * outside), no temporary file left, and (root, in a private mount namespace) a resolv.conf
 * that is a mount point, rewritten in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "overlay/resolv_file.h"

static void test_target(void **state)
{
	struct ov_resolv_target t;
	static const struct {
		const char *netns;
		int want;
		const char *dir, *shown;
	} rows[] = {
		{"/run/netns/c1", 0, "/etc/netns/c1", "/etc/netns/c1/resolv.conf"},
		{"/var/run/netns/web-1.x", 0, "/etc/netns/web-1.x",
		 "/etc/netns/web-1.x/resolv.conf"},
		{"/proc/42/ns/net", 0, "etc", "/proc/42/root/etc/resolv.conf"},
		{"/proc/self/ns/net", -ENOENT, NULL, NULL},
		{"/proc/042/ns/net", -ENOENT, NULL, NULL},
		{"/proc/42/ns/mnt", -ENOENT, NULL, NULL},
		{"/tmp/ns", -ENOENT, NULL, NULL},
		{"/run/netnsx/c1", -ENOENT, NULL, NULL},
		{"/run/netns/", -EINVAL, NULL, NULL},
		{"/run/netns/a/b", -EINVAL, NULL, NULL},
		{"/run/netns/.", -EINVAL, NULL, NULL},
		{"/run/netns/..", -EINVAL, NULL, NULL},
	};
	char long_name[300];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&t, 0xaa, sizeof(t));
		assert_int_equal(ov_resolv_target(0, rows[i].netns, &t), rows[i].want);
		if (rows[i].want)
			continue;
		assert_string_equal(t.dir, rows[i].dir);
		assert_string_equal(t.shown, rows[i].shown);
		assert_int_equal(t.make_dir, t.root[0] == '\0');
	}
	assert_int_equal(ov_resolv_target(42, NULL, &t), 0);
	assert_string_equal(t.root, "/proc/42/root");
	assert_string_equal(t.dir, "etc");
	assert_int_equal(ov_resolv_target(42, "/run/netns/c1", &t), -EINVAL);
	assert_int_equal(ov_resolv_target(0, NULL, &t), -EINVAL);
	assert_int_equal(ov_resolv_target(0, "/run/netns/c1", NULL), -EINVAL);
	snprintf(long_name, sizeof(long_name), "/run/netns/%0255d", 7);
	assert_int_equal(ov_resolv_target(0, long_name, &t), -EINVAL);
	long_name[strlen(long_name) - 1] = '\0'; /* 254 bytes: iproute2's limit */
	assert_int_equal(ov_resolv_target(0, long_name, &t), 0);
}

static void test_format(void **state)
{
	const char *ns[] = {"10.200.1.1", "fd00:200::1", "9.9.9.9", "1.1.1.1"};
	char buf[OV_RESOLV_FILE_TEXT_MAX];
	static const char want[] = "# written by weft\n"
				   "nameserver 10.200.1.1\n"
				   "nameserver fd00:200::1\n"
				   "search weft.local\n";

	assert_int_equal(
		ov_resolv_file_format(ns, 2, "weft.local.", "written by weft", buf, sizeof(buf)),
		(int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(ov_resolv_file_format(ns, 1, "z", NULL, buf, sizeof(buf)), 31);
	assert_string_equal(buf, "nameserver 10.200.1.1\nsearch z\n");
	assert_int_equal(ov_resolv_file_format(ns, 3, "z", NULL, buf, sizeof(buf)) > 0, 1);
	/* Refused. */
	assert_int_equal(ov_resolv_file_format(ns, 0, "z", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 4, "z", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(
		ov_resolv_file_format((const char *[]){"10.200.1"}, 1, "z", NULL, buf, sizeof(buf)),
		-EINVAL);
	assert_int_equal(ov_resolv_file_format((const char *[]){"1.2.3.4\nnameserver 6.6.6.6"}, 1,
					       "z", NULL, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, "weft local", NULL, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(
		ov_resolv_file_format(ns, 1, "a\nnameserver 6.6.6.6", NULL, buf, sizeof(buf)),
		-EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, "", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, ".", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, "a..b", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, "z", "two\nlines", buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(ov_resolv_file_format(ns, 1, "z", NULL, buf, 20), -ENOSPC);
	assert_int_equal(ov_resolv_file_format(ns, 1, "z", NULL, NULL, 0), -EINVAL);
}

static char TMP[256];

static void path(char *out, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", TMP, rel);
}

static void mkdir_rel(const char *rel)
{
	char p[PATH_MAX];

	path(p, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void put_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	path(p, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *slurp(const char *rel)
{
	static char buf[4096];
	char p[PATH_MAX];
	FILE *f;
	size_t n;

	path(p, rel);
	f = fopen(p, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t entries(const char *rel)
{
	char cmd[PATH_MAX + 64], p[PATH_MAX];
	FILE *f;
	size_t n = 0;
	int c;

	path(p, rel);
	snprintf(cmd, sizeof(cmd), "ls -A '%s'", p);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

static int setup(void **state)
{
	snprintf(TMP, sizeof(TMP), "/tmp/weft-test-resolv.XXXXXX");
	return mkdtemp(TMP) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", TMP);
	return system(cmd) == 0 ? 0 : -1;
}

static const char TEXT[] = "nameserver 10.200.1.1\nsearch weft.local\n";

static void test_write_netns(void **state)
{
	struct ov_resolv_target t;
	struct ov_resolv_file f;
	char base[PATH_MAX], err[PATH_MAX + 64];
	struct stat st;

	path(base, "netns");
	assert_int_equal(ov_resolv_target_at(0, "/run/netns/c1", "/proc", base, &t), 0);
	/* Opened, then given up: the directory it made and the temporary file go. */
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), 0);
	assert_int_equal(entries("netns/c1"), 1);
	ov_resolv_file_abort(&f);
	assert_int_equal(entries("netns"), 0);
	/* Written. */
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), 0);
	assert_int_equal(ov_resolv_file_commit(&f, TEXT, strlen(TEXT), err, sizeof(err)), 0);
	assert_string_equal(slurp("netns/c1/resolv.conf"), TEXT);
	assert_int_equal(entries("netns/c1"), 1);
	assert_int_equal(stat(t.shown, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	ov_resolv_file_abort(&f); /* after a commit: nothing */
	assert_string_equal(slurp("netns/c1/resolv.conf"), TEXT);
	/* Again over the existing one, in an existing directory. */
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), 0);
	assert_int_equal(ov_resolv_file_commit(&f, "search x\n", 9, err, sizeof(err)), 0);
	assert_string_equal(slurp("netns/c1/resolv.conf"), "search x\n");
	/* A directory in the way of resolv.conf: the commit fails, the directory stays. */
	assert_int_equal(ov_resolv_target_at(0, "/run/netns/c2", "/proc", base, &t), 0);
	mkdir_rel("netns/c2");
	mkdir_rel("netns/c2/resolv.conf");
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), 0);
	assert_true(ov_resolv_file_commit(&f, TEXT, strlen(TEXT), err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "netns/c2/resolv.conf: "));
	assert_int_equal(entries("netns/c2"), 1);
}

static void test_write_root(void **state)
{
	struct ov_resolv_target t;
	struct ov_resolv_file f;
	char proc[PATH_MAX], victim[PATH_MAX], link[PATH_MAX], err[PATH_MAX + 64];
	struct stat st;

	path(proc, "proc");
	path(victim, "victim");
	put_file("victim", "untouched\n");
	mkdir_rel("proc");
	mkdir_rel("proc/42");
	mkdir_rel("proc/42/root");
	mkdir_rel("proc/42/root/etc");
	path(link, "proc/42/root/etc/resolv.conf");
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(ov_resolv_target_at(42, NULL, proc, "/nonexistent", &t), 0);
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), 0);
	assert_int_equal(ov_resolv_file_commit(&f, TEXT, strlen(TEXT), err, sizeof(err)), 0);
	assert_string_equal(slurp("victim"), "untouched\n");
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_string_equal(slurp("proc/42/root/etc/resolv.conf"), TEXT);
	assert_int_equal(entries("proc/42/root/etc"), 1);

	/* etc a symlink out of the root: resolved inside it, never outside. */
	mkdir_rel("outside");
	mkdir_rel("proc/43");
	mkdir_rel("proc/43/root");
	path(link, "proc/43/root/etc");
	assert_int_equal(symlink("../../../outside", link), 0);
	assert_int_equal(ov_resolv_target_at(43, NULL, proc, "/nonexistent", &t), 0);
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/proc/43/root/etc/resolv.conf: "));
	assert_int_equal(entries("outside"), 0);
	assert_int_equal(unlink(link), 0);
	snprintf(victim, sizeof(victim), "%s/outside", TMP);
	assert_int_equal(symlink(victim, link), 0); /* absolute: the root's own <TMP>/outside */
	assert_true(ov_resolv_file_open(&t, &f, err, sizeof(err)) < 0);
	assert_int_equal(entries("outside"), 0);
	/* No such process. */
	assert_int_equal(ov_resolv_target_at(44, NULL, proc, "/nonexistent", &t), 0);
	assert_int_equal(ov_resolv_file_open(&t, &f, err, sizeof(err)), -ENOENT);
}

/* resolv.conf a mount point (a bind mount, as Docker's): rewritten in place. */
static int mounted_child(void)
{
	struct ov_resolv_target t;
	struct ov_resolv_file f;
	char base[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], err[PATH_MAX + 64];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 77;
	path(base, "mnt");
	mkdir_rel("mnt");
	mkdir_rel("mnt/c1");
	put_file("mnt/c1/resolv.conf", "old\n");
	put_file("bound", "nameserver 1.1.1.1\n");
	path(src, "bound");
	path(dst, "mnt/c1/resolv.conf");
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return 2;
	if (ov_resolv_target_at(0, "/run/netns/c1", "/proc", base, &t) ||
	    ov_resolv_file_open(&t, &f, err, sizeof(err)) ||
	    ov_resolv_file_commit(&f, TEXT, strlen(TEXT), err, sizeof(err)))
		return 3;
	if (strcmp(slurp("bound"), TEXT) || entries("mnt/c1") != 1)
		return 4;
	umount(dst);
	return strcmp(slurp("mnt/c1/resolv.conf"), "old\n") ? 5 : 0;
}

static void test_write_mount_point(void **state)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		skip();
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(mounted_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip();
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_format),
		cmocka_unit_test_setup_teardown(test_write_netns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_mount_point, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the namespace tests: private network namespaces held by an fd, and commands
 * (ip, ping) run inside one with their output captured, for checks that do not go through
 * the code under test. Tests only; they abort the test on setup failures.
 */
#ifndef WEFT_TESTS_NETNS_UTIL_H
#define WEFT_TESTS_NETNS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A new, empty network namespace (lo down), held only by the returned fd; the calling
 * thread stays where it was. Closing the fd destroys the namespace (and the veths in it).
 */
int tnet_new(void);

/*
 * Run argv (PATH searched) with its network namespace nsfd (-1: the caller's), stdout into
 * out (NUL-terminated, truncated to len - 1; out may be NULL), stderr to /dev/null. Returns
 * the exit status, or -1 when it did not exit normally.
 */
int tnet_run(int nsfd, char *out, size_t len, const char *const argv[]);

/* The same, with the arguments given inline and NULL-terminated. */
int tnet_runv(int nsfd, char *out, size_t len, const char *arg0, ...);

/* Is the text of needle in hay? (For ip -j output.) */
bool tnet_has(const char *hay, const char *needle);

/* Read a small file into out (NUL-terminated). 0 or -errno. */
int tnet_read_file(const char *path, char *out, size_t len);

#endif

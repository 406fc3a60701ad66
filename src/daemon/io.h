/* SPDX-License-Identifier: MIT */
/*
 * daemon/io — blocking frame I/O for the control protocol (ctl.h) over stream sockets, with
 * a deadline per call, plain or sealed (the join channel). Used by weftd and by the weft CLI.
 * Every receive reads the 8-byte header first and refuses an oversized or foreign frame
 * before reading its payload.
 */
#ifndef WEFT_DAEMON_IO_H
#define WEFT_DAEMON_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "daemon/ctl.h"

/* A sealed channel's keys and counters (one direction each). */
struct dmn_seal {
	uint8_t k_tx[32], k_rx[32];
	uint64_t n_tx, n_rx;
};

enum { DMN_IO_TIMEOUT_MS = 5000 };

/* SO_RCVTIMEO/SO_SNDTIMEO on fd. */
int dmn_io_set_timeout(int fd, unsigned ms);
/*
 * A TCP connection to sa within timeout_ms; bound to device dev when not NULL (the overlay
 * channel goes through the WireGuard interface only). fd or -errno.
 */
int dmn_io_connect(const struct sockaddr_storage *sa, unsigned timeout_ms, const char *dev);
/* The local channel: connect to a unix socket path. fd or -errno. */
int dmn_io_connect_unix(const char *path);

/* Sends one frame with j's compact JSON (j is not consumed); seal may be NULL. 0 or -errno. */
int dmn_io_send(int fd, uint8_t type, const json_t *j, struct dmn_seal *seal);
/* Receives one frame: *ret_type and a new reference *ret. 0; -EPROTO (err says why), -EBADMSG
 * (a sealed frame that does not open), -ECONNRESET (closed), -EAGAIN (timeout), -errno. */
int dmn_io_recv(int fd, uint8_t *ret_type, json_t **ret, struct dmn_seal *seal, char *err,
		size_t errlen);
/* An ERROR frame {"error": msg}. */
int dmn_io_send_error(int fd, const char *msg, struct dmn_seal *seal);
/* A REPLY {"ok": true} merged with extra (not consumed, may be NULL). */
int dmn_io_send_ok(int fd, const json_t *extra);
/*
 * One request → one reply on a plain channel: REPLY returns 0 and *ret, ERROR returns
 * -EREMOTEIO with its text in err, VIEW returns 0 and *ret with *ret_type set.
 */
int dmn_io_call(int fd, const json_t *req, uint8_t *ret_type, json_t **ret, char *err,
		size_t errlen);

/* Ends our side and waits (bounded) until the peer closes: it has read everything. */
int dmn_io_finish(int fd, unsigned timeout_ms);

#endif

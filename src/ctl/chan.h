/* SPDX-License-Identifier: MIT */
/*
 * ctl/chan — one control connection over a stream socket: frames (ctl/ctl.h) with an
 * absolute deadline for the whole exchange, a cap on what a frame may weigh that the caller
 * sets per phase, and, after the handshake of ctl/handshake.h, every frame sealed.
 *
 * Who can reach what (weftd):
 *   local   unix socket <dir>/weftd.sock, 0600 in a 0700 directory, and the peer's uid
 *           checked (SO_PEERCRED): root or weftd's own user. Plain frames.
 *   overlay TCP port+1 on the overlay address, bound to the WireGuard interface. Reachable by
 *           any WireGuard-authenticated peer *and by any local user of any node* (a local
 *           connection carries the node's own overlay address), so the address proves
 *           nothing: the handshake's static key says which node it is, or it is refused.
 *   join    TCP on the cluster port, every address (leader only): anyone on the underlay.
 *           Before the handshake completes nothing is parsed but message 1, whose exact
 *           length is known, and nothing is allocated per connection beyond this struct.
 *
 * Must not: decide who may connect (the accept callback does) or log.
 */
#ifndef WEFT_CTL_CHAN_H
#define WEFT_CTL_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "ctl/handshake.h"
#include "ctl/ctl.h"

struct ctl_chan {
	int fd;
	uint64_t deadline_ms; /* CLOCK_MONOTONIC; every read and write must end by then */
	uint32_t max_rx;      /* largest payload a received frame may carry */
	bool sealed;
	struct ctl_keys keys;
	uint64_t n_tx, n_rx;
	uint8_t remote_static[CTL_HS_KEY_LEN]; /* after a handshake: who is at the other end */
};

/* Payload caps per phase (bytes). */
enum {
	CTL_CHAN_PREAUTH_MAX = 256,	    /* message 1 or 2 or a plain refusal */
	CTL_CHAN_REQUEST_MAX = 64 << 10,    /* a request or a JOIN */
	CTL_CHAN_VIEW_MAX = DMN_CTL_MAX_PAYLOAD, /* a view or a WELCOME from the leader */
};

uint64_t ctl_now_ms(void);

/* fd's deadline is now + timeout_ms; max_rx caps received payloads. fd is not owned. */
void ctl_chan_init(struct ctl_chan *c, int fd, unsigned timeout_ms, uint32_t max_rx);
/* Wipes the keys (does not close fd). */
void ctl_chan_done(struct ctl_chan *c);

/*
 * A TCP connection to sa within timeout_ms; bound to device dev when not NULL (the overlay
 * channel goes through the WireGuard interface only). fd or -errno.
 */
int ctl_connect(const struct sockaddr_storage *sa, unsigned timeout_ms, const char *dev);
/* The same in two steps, for a caller that may cut the wait short (shutdown(2) from another
 * thread ends it): a non-blocking socket whose connection is under way, fd or -errno; then
 * its outcome within timeout_ms, 0 or -errno (fd stays the caller's either way). */
int ctl_connect_begin(const struct sockaddr_storage *sa, const char *dev);
int ctl_connect_wait(int fd, unsigned timeout_ms);
/* The local channel: connect to a unix socket path. fd or -errno. */
int ctl_connect_unix(const char *path);

/* One frame with j's compact JSON (not consumed); sealed after a handshake. 0 or -errno. */
int ctl_chan_send(struct ctl_chan *c, uint8_t type, const json_t *j);
/* An ERROR frame {"error": msg}. */
int ctl_chan_send_error(struct ctl_chan *c, const char *msg);
/* A REPLY {"ok": true} merged with extra (not consumed, may be NULL). */
int ctl_chan_send_ok(struct ctl_chan *c, const json_t *extra);
/*
 * One frame: *ret_type and a new reference *ret. 0; -EPROTO (err says why), -EMSGSIZE (over
 * max_rx; nothing of the payload read), -EBADMSG (a sealed frame that does not open),
 * -ECONNRESET (closed), -ETIMEDOUT (the deadline passed), -errno.
 */
int ctl_chan_recv(struct ctl_chan *c, uint8_t *ret_type, json_t **ret, char *err, size_t errlen);
/*
 * One request, one reply: REPLY returns 0 and *ret, ERROR -EREMOTEIO with its text in err,
 * VIEW 0 and *ret with *ret_type set.
 */
int ctl_chan_call(struct ctl_chan *c, const json_t *req, uint8_t *ret_type, json_t **ret,
		  char *err, size_t errlen);
/* Ends our side and waits (until the deadline) for the peer to close: it read everything. */
int ctl_chan_finish(struct ctl_chan *c);

/*
 * Initiator: the handshake of kind with the responder whose static key is remote_pub; psk
 * NULL for zeros; payload per kind (the token id of a join). On success the channel is
 * sealed. A plain ERROR frame instead of message 2 (a refused join) gives -EREMOTEIO with its
 * text in err, marked as unauthenticated. -EBADMSG: the other end is not remote_pub's owner.
 */
int ctl_chan_initiate(struct ctl_chan *c, enum ctl_hs_kind kind,
		      const uint8_t local_priv[static CTL_HS_KEY_LEN],
		      const uint8_t remote_pub[static CTL_HS_KEY_LEN], const uint8_t *psk,
		      const uint8_t *payload, char *err, size_t errlen);

/*
 * Decides, after message 1, whether to go on: the initiator's claimed static key and the
 * kind's payload in; 0 and psk (32 bytes, zeros by default) to answer, or -errno to refuse
 * with err, which ctl_chan_respond sends as a plain ERROR when send_refusal is set.
 */
typedef int (*ctl_chan_accept_fn)(void *ctx, const uint8_t remote_static[CTL_HS_KEY_LEN],
				  const uint8_t *payload, uint8_t psk[CTL_HS_KEY_LEN],
				  bool *send_refusal, char *err, size_t errlen);

/*
 * Responder: reads message 1 (exactly its length, nothing else is parsed), asks accept,
 * answers. On success the channel is sealed and c->remote_static is the initiator's key —
 * proven only once a sealed frame from it opens (the psk and the key are checked then).
 * -EPROTO (not message 1), -EBADMSG (does not authenticate), -EACCES (refused), -errno.
 */
int ctl_chan_respond(struct ctl_chan *c, enum ctl_hs_kind kind,
		     const uint8_t local_priv[static CTL_HS_KEY_LEN], ctl_chan_accept_fn accept,
		     void *ctx, char *err, size_t errlen);

#endif

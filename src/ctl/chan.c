/* SPDX-License-Identifier: MIT */
/*
 * ctl/chan — control frames over a stream socket with a deadline, plain or sealed (see
 * chan.h). The socket may be blocking: every read and write first polls for the time left.
 *
 * Must not: read a payload before its length passed the caller's cap, or keep a key past
 * ctl_chan_done().
 */
#include "ctl/chan.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"

uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ctl_chan_init(struct ctl_chan *c, int fd, unsigned timeout_ms, uint32_t max_rx)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->deadline_ms = ctl_now_ms() + timeout_ms;
	c->max_rx = max_rx;
}

void ctl_chan_done(struct ctl_chan *c)
{
	crypto_wipe(&c->keys, sizeof(c->keys));
	c->sealed = false;
}

/* Waits until fd is ready for events or the deadline passes. 0, -ETIMEDOUT or -errno. */
static int wait_ready(struct ctl_chan *c, short events)
{
	for (;;) {
		uint64_t now = ctl_now_ms();
		struct pollfd p = {.fd = c->fd, .events = events, .revents = 0};
		int r;

		if (now >= c->deadline_ms)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(c->deadline_ms - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int write_all(struct ctl_chan *c, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n;
		int r = wait_ready(c, POLLOUT);

		if (r)
			return r;
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(struct ctl_chan *c, uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n;
		int r = wait_ready(c, POLLIN);

		if (r)
			return r;
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_connect_begin(const struct sockaddr_storage *sa, const char *dev)
{
	socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6);
	int fd, r;

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev))) {
		r = -errno;
		close(fd);
		return r;
	}
	if (connect(fd, (const struct sockaddr *)sa, len) && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int ctl_connect_wait(int fd, unsigned timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
	socklen_t elen;
	int r, e = 0;

	do
		r = poll(&pfd, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	elen = sizeof(e);
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen))
		return -errno;
	if (e)
		return -e;
	/* cut short by shutdown(2) before the connection came up */
	if (pfd.revents & POLLHUP)
		return -ECONNABORTED;
	return 0;
}

int ctl_connect(const struct sockaddr_storage *sa, unsigned timeout_ms, const char *dev)
{
	int fd = ctl_connect_begin(sa, dev), r;

	if (fd < 0)
		return fd;
	r = ctl_connect_wait(fd, timeout_ms);
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

int ctl_connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* One frame of raw payload bytes. */
static int send_raw(struct ctl_chan *c, uint8_t type, const uint8_t *payload, size_t len)
{
	size_t plen = len + (c->sealed ? DMN_CTL_TAG_LEN : 0);
	uint8_t *buf;
	int r;

	if (plen > DMN_CTL_MAX_PAYLOAD)
		return -EMSGSIZE;
	buf = malloc(DMN_CTL_HDR_LEN + plen);
	if (!buf)
		return -ENOMEM;
	dmn_ctl_hdr_put(buf, type, (uint32_t)plen);
	if (c->sealed) {
		/* The header is the associated data: type and length cannot be changed. */
		r = crypto_aead_seal_once(c->keys.tx, c->n_tx++, buf + DMN_CTL_HDR_LEN, payload,
					  len, buf, DMN_CTL_HDR_LEN);
		if (r)
			goto out;
	} else if (len) {
		memcpy(buf + DMN_CTL_HDR_LEN, payload, len);
	}
	r = write_all(c, buf, DMN_CTL_HDR_LEN + plen);
out:
	crypto_wipe(buf, DMN_CTL_HDR_LEN + plen);
	free(buf);
	return r;
}

/*
 * One frame's header and payload: *ret (malloc'ed, opened when sealed) of *ret_len bytes.
 * A payload over the cap is refused before a byte of it is read.
 */
static int recv_raw(struct ctl_chan *c, uint8_t *ret_type, uint8_t **ret, size_t *ret_len,
		    char *err, size_t errlen)
{
	uint8_t hdr[DMN_CTL_HDR_LEN], *buf;
	struct dmn_ctl_hdr h;
	int r;

	r = read_all(c, hdr, sizeof(hdr));
	if (r)
		return r;
	r = dmn_ctl_hdr_parse(hdr, &h);
	if (r) {
		snprintf(err, errlen, "%s",
			 r == -EMSGSIZE ? "frame over the size cap" : "not a weft v2 frame");
		return -EPROTO;
	}
	if (h.len > c->max_rx) {
		snprintf(err, errlen, "a %u-byte frame where at most %u are taken", h.len,
			 c->max_rx);
		return -EMSGSIZE;
	}
	if (c->sealed && h.len < DMN_CTL_TAG_LEN) {
		snprintf(err, errlen, "sealed frame shorter than its tag");
		return -EPROTO;
	}
	buf = malloc(h.len + 1);
	if (!buf)
		return -ENOMEM;
	r = read_all(c, buf, h.len);
	if (r)
		goto fail;
	*ret_len = h.len;
	if (c->sealed) {
		*ret_len -= DMN_CTL_TAG_LEN;
		if (crypto_aead_open_once(c->keys.rx, c->n_rx++, buf, buf, h.len, hdr,
					  sizeof(hdr))) {
			snprintf(err, errlen, "sealed frame does not authenticate");
			r = -EBADMSG;
			goto fail;
		}
	}
	*ret_type = h.type;
	*ret = buf;
	return 0;
fail:
	crypto_wipe(buf, h.len);
	free(buf);
	return r;
}

int ctl_chan_send(struct ctl_chan *c, uint8_t type, const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	size_t len;
	int r;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	r = send_raw(c, type, (const uint8_t *)text, len);
	crypto_wipe(text, len);
	free(text);
	return r;
}

int ctl_chan_recv(struct ctl_chan *c, uint8_t *ret_type, json_t **ret, char *err, size_t errlen)
{
	uint8_t type, *buf;
	size_t len;
	json_t *j;
	int r;

	r = recv_raw(c, &type, &buf, &len, err, errlen);
	if (r)
		return r;
	if (type == DMN_CTL_HS1 || type == DMN_CTL_HS2) {
		snprintf(err, errlen, "a handshake message where a message was expected");
		r = -EPROTO;
		goto out;
	}
	j = dmn_ctl_json_parse(buf, len, err, errlen);
	if (!j) {
		r = -EPROTO;
		goto out;
	}
	*ret_type = type;
	*ret = j;
out:
	crypto_wipe(buf, len);
	free(buf);
	return r;
}

int ctl_chan_send_error(struct ctl_chan *c, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	int r;

	if (!j)
		return -ENOMEM;
	r = ctl_chan_send(c, DMN_CTL_ERROR, j);
	json_decref(j);
	return r;
}

int ctl_chan_send_ok(struct ctl_chan *c, const json_t *extra)
{
	json_t *j = json_object();
	int r;

	if (!j || json_object_set_new(j, "ok", json_true()) ||
	    (extra && json_object_update(j, (json_t *)extra))) {
		json_decref(j);
		return -ENOMEM;
	}
	r = ctl_chan_send(c, DMN_CTL_REPLY, j);
	json_decref(j);
	return r;
}

int ctl_chan_call(struct ctl_chan *c, const json_t *req, uint8_t *ret_type, json_t **ret,
		  char *err, size_t errlen)
{
	uint8_t type;
	json_t *j;
	int r;

	r = ctl_chan_send(c, DMN_CTL_REQUEST, req);
	if (r) {
		snprintf(err, errlen, "send: %s", strerror(-r));
		return r;
	}
	r = ctl_chan_recv(c, &type, &j, err, errlen);
	if (r) {
		if (r != -EPROTO && r != -EBADMSG && r != -EMSGSIZE)
			snprintf(err, errlen, "receive: %s",
				 r == -ECONNRESET ? "connection closed" : strerror(-r));
		return r;
	}
	if (type == DMN_CTL_ERROR) {
		const char *e = json_string_value(json_object_get(j, "error"));

		snprintf(err, errlen, "%s", e ? e : "error without text");
		json_decref(j);
		return -EREMOTEIO;
	}
	if (type != DMN_CTL_REPLY && type != DMN_CTL_VIEW) {
		snprintf(err, errlen, "unexpected frame type %u", type);
		json_decref(j);
		return -EPROTO;
	}
	*ret_type = type;
	*ret = j;
	return 0;
}

int ctl_chan_finish(struct ctl_chan *c)
{
	uint8_t buf[256];

	if (shutdown(c->fd, SHUT_WR))
		return -errno;
	for (;;) {
		ssize_t n;
		int r = wait_ready(c, POLLIN);

		if (r)
			return r;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
	}
}

/* --- the handshake ------------------------------------------------------------------------ */

int ctl_chan_initiate(struct ctl_chan *c, enum ctl_hs_kind kind,
		      const uint8_t local_priv[static CTL_HS_KEY_LEN],
		      const uint8_t remote_pub[static CTL_HS_KEY_LEN], const uint8_t *psk,
		      const uint8_t *payload, char *err, size_t errlen)
{
	uint8_t msg1[CTL_HS_MSG1_MAX], e_priv[CTL_HS_KEY_LEN], e_pub[CTL_HS_KEY_LEN], type;
	uint8_t *in = NULL;
	uint32_t max = c->max_rx;
	struct ctl_hs hs;
	size_t len = 0;
	int r;

	err[0] = '\0';
	r = ctl_hs_init(&hs, kind, true, local_priv, remote_pub);
	if (!r)
		r = crypto_x25519_keygen(e_priv, e_pub);
	if (!r)
		r = ctl_hs_write1(&hs, e_priv, payload, msg1);
	crypto_wipe(e_priv, sizeof(e_priv));
	if (r) {
		snprintf(err, errlen, "handshake: %s", strerror(-r));
		goto out;
	}
	r = send_raw(c, DMN_CTL_HS1, msg1, ctl_hs_msg1_len(kind));
	if (r) {
		snprintf(err, errlen, "send: %s", strerror(-r));
		goto out;
	}
	c->max_rx = CTL_CHAN_PREAUTH_MAX;
	r = recv_raw(c, &type, &in, &len, err, errlen);
	c->max_rx = max;
	if (r) {
		if (!err[0])
			snprintf(err, errlen, "%s",
				 r == -ECONNRESET ? "the other end closed the connection"
						  : strerror(-r));
		goto out;
	}
	if (type == DMN_CTL_ERROR) {
		char why[DMN_CTL_ERROR_MAX];
		json_t *j = dmn_ctl_json_parse(in, len, why, sizeof(why));
		const char *e = json_string_value(json_object_get(j, "error"));

		snprintf(err, errlen, "refused (unauthenticated reply): %.200s", e ? e : "?");
		json_decref(j);
		r = -EREMOTEIO;
		goto out;
	}
	if (type != DMN_CTL_HS2) {
		snprintf(err, errlen, "expected handshake message 2, got frame type %u", type);
		r = -EPROTO;
		goto out;
	}
	r = ctl_hs_read2(&hs, psk, in, len, &c->keys);
	if (r) {
		snprintf(err, errlen, "the other end does not hold the expected key%s",
			 kind == CTL_HS_JOIN ? " (not the token's leader, or the token secret "
					       "is wrong)"
					     : "");
		r = -EBADMSG;
		goto out;
	}
	memcpy(c->remote_static, remote_pub, CTL_HS_KEY_LEN);
	c->sealed = true;
	c->n_tx = c->n_rx = 0;
out:
	free(in);
	ctl_hs_wipe(&hs);
	return r;
}

int ctl_chan_respond(struct ctl_chan *c, enum ctl_hs_kind kind,
		     const uint8_t local_priv[static CTL_HS_KEY_LEN], ctl_chan_accept_fn accept,
		     void *ctx, char *err, size_t errlen)
{
	uint8_t hdr[DMN_CTL_HDR_LEN], msg1[CTL_HS_MSG1_MAX], msg2[CTL_HS_MSG2_LEN];
	uint8_t payload[CTL_HS_JOIN_PAYLOAD_LEN], psk[CTL_HS_KEY_LEN], e_priv[CTL_HS_KEY_LEN];
	uint8_t e_pub[CTL_HS_KEY_LEN];
	size_t want = ctl_hs_msg1_len(kind);
	bool send_refusal = false;
	struct dmn_ctl_hdr h;
	struct ctl_hs hs;
	int r;

	err[0] = '\0';
	memset(psk, 0, sizeof(psk));
	memset(&hs, 0, sizeof(hs));
	/* Nothing but message 1 of exactly its length is read before the handshake. */
	r = read_all(c, hdr, sizeof(hdr));
	if (r)
		goto out;
	if (dmn_ctl_hdr_parse(hdr, &h) || h.type != DMN_CTL_HS1 || h.len != want) {
		snprintf(err, errlen, "not a weft v2 handshake");
		r = -EPROTO;
		goto out;
	}
	r = read_all(c, msg1, want);
	if (r)
		goto out;
	r = ctl_hs_init(&hs, kind, false, local_priv, NULL);
	if (!r)
		r = ctl_hs_read1(&hs, msg1, want, payload);
	if (r) {
		snprintf(err, errlen, "handshake does not authenticate (not made for this node's "
				      "key)");
		r = -EBADMSG;
		goto out;
	}
	r = accept(ctx, hs.remote_static, payload, psk, &send_refusal, err, errlen);
	if (r) {
		if (send_refusal)
			ctl_chan_send_error(c, err);
		r = -EACCES;
		goto out;
	}
	r = crypto_x25519_keygen(e_priv, e_pub);
	if (!r)
		r = ctl_hs_write2(&hs, e_priv, psk, msg2, &c->keys);
	crypto_wipe(e_priv, sizeof(e_priv));
	if (r) {
		snprintf(err, errlen, "handshake: %s", strerror(-r));
		goto out;
	}
	r = send_raw(c, DMN_CTL_HS2, msg2, sizeof(msg2));
	if (r)
		goto out;
	memcpy(c->remote_static, hs.remote_static, CTL_HS_KEY_LEN);
	c->sealed = true;
	c->n_tx = c->n_rx = 0;
out:
	if (r && !err[0])
		snprintf(err, errlen, "%s",
			 r == -ECONNRESET ? "closed before the handshake" : strerror(-r));
	crypto_wipe(psk, sizeof(psk));
	crypto_wipe(payload, sizeof(payload));
	ctl_hs_wipe(&hs);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/io — control protocol frames over blocking stream sockets (see io.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/io.h"

int dmn_io_set_timeout(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

int dmn_io_connect(const struct sockaddr_storage *sa, unsigned timeout_ms, const char *dev)
{
	socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6);
	struct pollfd pfd;
	int fd, r, e = 0;
	socklen_t elen = sizeof(e);

	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev))) {
		r = -errno;
		goto fail;
	}
	if (connect(fd, (const struct sockaddr *)sa, len) && errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT, .revents = 0};
	do
		r = poll(&pfd, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		r = -ETIMEDOUT;
		goto fail;
	}
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen)) {
		r = -errno;
		goto fail;
	}
	if (e) {
		r = -e;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, 0) || dmn_io_set_timeout(fd, DMN_IO_TIMEOUT_MS)) {
		r = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

int dmn_io_connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    dmn_io_set_timeout(fd, 30000)) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dmn_io_send(int fd, uint8_t type, const json_t *j, struct dmn_seal *seal)
{
	char *text = json_dumps(j, JSON_COMPACT);
	size_t len, plen;
	uint8_t *buf;
	int r;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	plen = len + (seal ? DMN_CTL_TAG_LEN : 0);
	if (plen > DMN_CTL_MAX_PAYLOAD) {
		free(text);
		return -EMSGSIZE;
	}
	buf = malloc(DMN_CTL_HDR_LEN + plen);
	if (!buf) {
		free(text);
		return -ENOMEM;
	}
	dmn_ctl_hdr_put(buf, type, (uint32_t)plen);
	if (seal) {
		r = crypto_aead_seal_once(seal->k_tx, seal->n_tx++, buf + DMN_CTL_HDR_LEN,
					  (const uint8_t *)text, len, buf, DMN_CTL_HDR_LEN);
		if (r)
			goto out;
	} else {
		memcpy(buf + DMN_CTL_HDR_LEN, text, len);
	}
	r = write_all(fd, buf, DMN_CTL_HDR_LEN + plen);
out:
	crypto_wipe(text, len);
	free(text);
	free(buf);
	return r;
}

int dmn_io_recv(int fd, uint8_t *ret_type, json_t **ret, struct dmn_seal *seal, char *err,
		size_t errlen)
{
	uint8_t hdr[DMN_CTL_HDR_LEN], *buf;
	struct dmn_ctl_hdr h;
	size_t len;
	json_t *j;
	int r;

	r = read_all(fd, hdr, sizeof(hdr));
	if (r)
		return r;
	r = dmn_ctl_hdr_parse(hdr, &h);
	if (r) {
		snprintf(err, errlen, "%s",
			 r == -EMSGSIZE ? "frame over the size cap" : "not a weft v1 frame");
		return -EPROTO;
	}
	if (seal && h.len < DMN_CTL_TAG_LEN) {
		snprintf(err, errlen, "sealed frame shorter than its tag");
		return -EPROTO;
	}
	buf = malloc(h.len + 1);
	if (!buf)
		return -ENOMEM;
	r = read_all(fd, buf, h.len);
	if (r)
		goto out;
	len = h.len;
	if (seal) {
		len -= DMN_CTL_TAG_LEN;
		if (crypto_aead_open_once(seal->k_rx, seal->n_rx++, buf, buf, h.len, hdr,
					  sizeof(hdr))) {
			snprintf(err, errlen, "sealed frame does not authenticate");
			r = -EBADMSG;
			goto out;
		}
	}
	j = dmn_ctl_json_parse(buf, len, err, errlen);
	if (!j) {
		r = -EPROTO;
		goto out;
	}
	*ret_type = h.type;
	*ret = j;
	r = 0;
out:
	crypto_wipe(buf, h.len);
	free(buf);
	return r;
}

int dmn_io_send_error(int fd, const char *msg, struct dmn_seal *seal)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	int r;

	if (!j)
		return -ENOMEM;
	r = dmn_io_send(fd, DMN_CTL_ERROR, j, seal);
	json_decref(j);
	return r;
}

int dmn_io_send_ok(int fd, const json_t *extra)
{
	json_t *j = json_object();
	int r;

	if (!j || json_object_set_new(j, "ok", json_true()) ||
	    (extra && json_object_update(j, (json_t *)extra))) {
		json_decref(j);
		return -ENOMEM;
	}
	r = dmn_io_send(fd, DMN_CTL_REPLY, j, NULL);
	json_decref(j);
	return r;
}

int dmn_io_call(int fd, const json_t *req, uint8_t *ret_type, json_t **ret, char *err,
		size_t errlen)
{
	uint8_t type;
	json_t *j;
	int r;

	r = dmn_io_send(fd, DMN_CTL_REQUEST, req, NULL);
	if (r) {
		snprintf(err, errlen, "send: %s", strerror(-r));
		return r;
	}
	r = dmn_io_recv(fd, &type, &j, NULL, err, errlen);
	if (r) {
		if (r != -EPROTO && r != -EBADMSG)
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

int dmn_io_finish(int fd, unsigned timeout_ms)
{
	uint8_t buf[256];

	if (shutdown(fd, SHUT_WR))
		return -errno;
	dmn_io_set_timeout(fd, timeout_ms);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
}

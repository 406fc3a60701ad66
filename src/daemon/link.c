/* SPDX-License-Identifier: MIT */
/*
 * daemon/link — this node's side of the overlay channel to another node: connect through the
 * WireGuard interface to the node's overlay address, prove both ends by their static keys
 * (ctl/handshake.h), then one request and its reply, or one frame.
 *
 * Must not: decide what a reply means, or take the node lock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/chan.h"
#include "daemon/node.h"

void dmn_overlay_addr(const struct dmn_node *n, const struct ov_peer *p, uint16_t port,
		      struct sockaddr_storage *ret)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ret;

	(void)n;
	memset(ret, 0, sizeof(*ret));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	memcpy(&sin->sin_addr, p->ip4.addr, 4);
}

/* Connects to node `to` and proves both ends by their keys. fd and *ch, or -errno with err. */
static int overlay_open(struct dmn_node *n, const struct ov_peer *to, struct ctl_chan *ch,
			uint32_t max_rx, unsigned timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	int fd, r;

	dmn_overlay_addr(n, to, (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &sa);
	fd = ctl_connect(&sa, timeout_ms, n->opt.ifname);
	if (fd < 0) {
		snprintf(err, errlen, "cannot reach %s over the overlay: %s", to->name,
			 strerror(-fd));
		return fd;
	}
	ctl_chan_init(ch, fd, timeout_ms, max_rx);
	r = ctl_chan_initiate(ch, CTL_HS_OVERLAY, n->private_key, to->public_key, NULL, NULL,
			      err, errlen);
	if (r) {
		char why[200];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "control channel to %s: %s", to->name, why);
		ctl_chan_done(ch);
		close(fd);
		return r;
	}
	return fd;
}

int dmn_overlay_call(struct dmn_node *n, const struct ov_peer *to, const json_t *req,
		     uint8_t *ret_type, json_t **ret, unsigned timeout_ms, char *err, size_t errlen)
{
	struct ctl_chan ch;
	int fd = overlay_open(n, to, &ch, CTL_CHAN_VIEW_MAX, timeout_ms, err, errlen), r;

	if (fd < 0)
		return fd;
	r = ctl_chan_call(&ch, req, ret_type, ret, err, errlen);
	ctl_chan_done(&ch);
	close(fd);
	return r;
}

int dmn_overlay_send(struct dmn_node *n, const struct ov_peer *to, uint8_t type,
		     const json_t *msg, bool wait_read, unsigned timeout_ms, char *err,
		     size_t errlen)
{
	struct ctl_chan ch;
	int fd = overlay_open(n, to, &ch, CTL_CHAN_PREAUTH_MAX, timeout_ms, err, errlen), r;

	if (fd < 0)
		return fd;
	r = ctl_chan_send(&ch, type, msg);
	if (!r && wait_read)
		r = ctl_chan_finish(&ch);
	if (r)
		snprintf(err, errlen, "%s: %s", to->name, strerror(-r));
	ctl_chan_done(&ch);
	close(fd);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * daemon/link — this node's side of the overlay channel to another node: connect through the
 * WireGuard interface to the node's overlay address, prove both ends by their static keys
 * (ctl/handshake.h), then one request and its reply, or one frame.
 *
 * Must not: decide what a reply means, or take the node lock (links_lock is its own).
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

/*
 * Every call in progress is on the node's list (its socket), so that dmn_links_cut() can end
 * them all at once: a stopping weftd does not wait out a connect or a reply deadline to a node
 * that is away (up to the callers' 3 s). Taken off the list before its socket is closed, so a
 * cut never shuts down a reused descriptor.
 */
static int link_hold(struct dmn_node *n, struct dmn_link *l, int fd)
{
	int r = 0;

	l->fd = fd;
	pthread_mutex_lock(&n->links_lock);
	if (n->links_cut) {
		r = -ECANCELED;
	} else {
		l->next = n->links;
		n->links = l;
	}
	pthread_mutex_unlock(&n->links_lock);
	return r;
}

static void link_close(struct dmn_node *n, struct dmn_link *l)
{
	pthread_mutex_lock(&n->links_lock);
	for (struct dmn_link **p = &n->links; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&n->links_lock);
	close(l->fd);
}

void dmn_links_cut(struct dmn_node *n)
{
	pthread_mutex_lock(&n->links_lock);
	n->links_cut = true;
	for (struct dmn_link *l = n->links; l; l = l->next)
		shutdown(l->fd, SHUT_RDWR);
	pthread_mutex_unlock(&n->links_lock);
}

/* A failure's message (err) becomes "weftd is stopping" once the calls were cut. */
static void link_why(struct dmn_node *n, char *err, size_t errlen, const char *name)
{
	bool cut;

	pthread_mutex_lock(&n->links_lock);
	cut = n->links_cut;
	pthread_mutex_unlock(&n->links_lock);
	if (cut)
		snprintf(err, errlen, "%s: weftd is stopping", name);
}

/* Connects to node `to` and proves both ends by their keys. 0 with l and *ch, or -errno with
 * err. */
static int overlay_open(struct dmn_node *n, const struct ov_peer *to, struct dmn_link *l,
			struct ctl_chan *ch, uint32_t max_rx, unsigned timeout_ms, char *err,
			size_t errlen)
{
	struct sockaddr_storage sa;
	int fd, r;

	dmn_overlay_addr(n, to, (uint16_t)(n->st.port + DMN_CTL_PORT_OFFSET), &sa);
	fd = ctl_connect_begin(&sa, n->opt.ifname);
	if (fd < 0) {
		snprintf(err, errlen, "cannot reach %s over the overlay: %s", to->name,
			 strerror(-fd));
		return fd;
	}
	r = link_hold(n, l, fd);
	if (r) {
		close(fd);
		snprintf(err, errlen, "%s: weftd is stopping", to->name);
		return r;
	}
	r = ctl_connect_wait(fd, timeout_ms);
	if (r) {
		link_close(n, l);
		snprintf(err, errlen, "cannot reach %s over the overlay: %s", to->name,
			 strerror(-r));
		link_why(n, err, errlen, to->name);
		return r;
	}
	ctl_chan_init(ch, fd, timeout_ms, max_rx);
	r = ctl_chan_initiate(ch, CTL_HS_OVERLAY, n->private_key, to->public_key, NULL, NULL,
			      err, errlen);
	if (r) {
		char why[200];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "control channel to %s: %s", to->name, why);
		link_why(n, err, errlen, to->name);
		ctl_chan_done(ch);
		link_close(n, l);
		return r;
	}
	return 0;
}

int dmn_overlay_call(struct dmn_node *n, const struct ov_peer *to, const json_t *req,
		     uint8_t *ret_type, json_t **ret, unsigned timeout_ms, char *err, size_t errlen)
{
	struct ctl_chan ch;
	struct dmn_link l;
	int r = overlay_open(n, to, &l, &ch, CTL_CHAN_VIEW_MAX, timeout_ms, err, errlen);

	if (r)
		return r;
	r = ctl_chan_call(&ch, req, ret_type, ret, err, errlen);
	if (r)
		link_why(n, err, errlen, to->name);
	ctl_chan_done(&ch);
	link_close(n, &l);
	return r;
}

int dmn_overlay_send(struct dmn_node *n, const struct ov_peer *to, uint8_t type,
		     const json_t *msg, bool wait_read, unsigned timeout_ms, char *err,
		     size_t errlen)
{
	struct ctl_chan ch;
	struct dmn_link l;
	int r = overlay_open(n, to, &l, &ch, CTL_CHAN_PREAUTH_MAX, timeout_ms, err, errlen);

	if (r)
		return r;
	r = ctl_chan_send(&ch, type, msg);
	if (!r && wait_read)
		r = ctl_chan_finish(&ch);
	if (r) {
		snprintf(err, errlen, "%s: %s", to->name, strerror(-r));
		link_why(n, err, errlen, to->name);
	}
	ctl_chan_done(&ch);
	link_close(n, &l);
	return r;
}

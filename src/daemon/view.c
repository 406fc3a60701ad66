/* SPDX-License-Identifier: MIT */
/*
 * daemon/view — turns the cluster view into this node's WireGuard peers (by difference with
 * what was applied last, so sessions survive every change, and through the same UAPI codec
 * that `wg` speaks, so the device is never put in a state `wg set` could not make) and into
 * its DNS zone, and saves it.
 *
 * Must not: accept a view (member.c and lead.c decide which view is current) or talk to
 * other nodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "daemon/node.h"
#include "dataplane/device.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* --- the device --------------------------------------------------------------------------- */

int dmn_view_uapi(struct dmn_node *n, const char *text)
{
	struct uapi_parser p;
	struct uapi_set set;
	const char *line = text;
	int r = 0;

	uapi_parser_init(&p, &set);
	while (*line && !r) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len)
			r = uapi_parser_line(&p, line, len);
		line += len + (nl ? 1 : 0);
	}
	if (!r)
		r = uapi_parser_finish(&p);
	if (r)
		log_error("%s: internal UAPI request refused: %s", n->opt.ifname, p.msg);
	else
		r = dp_device_apply(n->dev, &set);
	uapi_set_free(&set);
	return r;
}

static void key_hex(const uint8_t key[OV_KEY_LEN], char out[2 * OV_KEY_LEN + 1])
{
	dmn_hex(key, OV_KEY_LEN, out);
}

static const struct ov_peer *find_by_key(const struct dmn_view *v, const uint8_t *key)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (!memcmp(v->nodes[i].public_key, key, OV_KEY_LEN))
			return &v->nodes[i];
	return NULL;
}

static void peer_lines(struct dmn_node *n, struct strbuf *sb, const struct ov_peer *p,
		       const struct ov_peer *old)
{
	char hex[2 * OV_KEY_LEN + 1], ep[OV_ENDPOINT_STRLEN], pf[OV_PREFIX_STRLEN];

	key_hex(p->public_key, hex);
	strbuf_appendf(sb, "public_key=%s\n", hex);
	/* The endpoint only when it is new: one learned by roaming is not overwritten. */
	if (p->has_endpoint && (!old || !old->has_endpoint ||
				memcmp(&old->endpoint, &p->endpoint, sizeof(p->endpoint)))) {
		ov_endpoint_format(&p->endpoint, ep);
		strbuf_appendf(sb, "endpoint=%s\n", ep);
	}
	strbuf_appendf(sb, "persistent_keepalive_interval=%u\nreplace_allowed_ips=true\n",
		       n->st.keepalive);
	ov_addr_format(&p->ip4, pf);
	strbuf_appendf(sb, "allowed_ip=%s/32\n", pf);
	ov_addr_format(&p->ip6, pf);
	strbuf_appendf(sb, "allowed_ip=%s/128\n", pf);
	ov_prefix_format(&p->slice, pf);
	strbuf_appendf(sb, "allowed_ip=%s\n", pf);
	for (size_t i = 0; i < n->view.n_subnets; i++)
		if (!strcmp(n->view.subnets[i].node, p->name)) {
			struct ov_prefix s6;

			ov_prefix_format(&n->view.subnets[i].subnet, pf);
			strbuf_appendf(sb, "allowed_ip=%s\n", pf);
			/* its IPv6 twin: containers are dual-stack (alloc.h) */
			if (!ov_prefix_derive6(&n->st.cidr4, &n->st.cidr6,
					       &n->view.subnets[i].subnet, &s6)) {
				ov_prefix_format(&s6, pf);
				strbuf_appendf(sb, "allowed_ip=%s\n", pf);
			}
		}
}

/* Device peers := view nodes other than this one (none once removed). Lock held. */
static int sync_peers(struct dmn_node *n)
{
	struct strbuf sb;
	char hex[2 * OV_KEY_LEN + 1];
	int r;

	strbuf_init(&sb, UAPI_MAX_REPLY);
	for (size_t i = 0; i < n->applied.n_nodes; i++) {
		const struct ov_peer *p = &n->applied.nodes[i];

		if (n->removed || !find_by_key(&n->view, p->public_key)) {
			key_hex(p->public_key, hex);
			strbuf_appendf(&sb, "public_key=%s\nremove=true\n", hex);
		}
	}
	for (size_t i = 0; i < n->view.n_nodes && !n->removed; i++) {
		const struct ov_peer *p = &n->view.nodes[i];

		if (!memcmp(p->public_key, n->st.self.public_key, OV_KEY_LEN))
			continue;
		peer_lines(n, &sb, p, find_by_key(&n->applied, p->public_key));
	}
	r = sb.error;
	if (!r && strbuf_str(&sb)[0])
		r = dmn_view_uapi(n, strbuf_str(&sb));
	strbuf_free(&sb);
	if (r) {
		log_error("%s: configuring peers: %s", n->opt.ifname, strerror(-r));
		return r;
	}
	dmn_view_done(&n->applied);
	return dmn_view_copy(&n->view, &n->applied);
}

int dmn_view_apply(struct dmn_node *n)
{
	const struct ov_peer *me = dmn_view_node(&n->view, n->st.self.name);
	int r;

	if (n->st.role == OV_ROLE_MEMBER && n->view.n_nodes && !me) {
		if (!n->removed)
			log_info("this node is no longer in the cluster view (removed by the "
				 "leader): dropping all peers");
		n->removed = true;
	} else if (me && memcmp(me->public_key, n->st.self.public_key, OV_KEY_LEN)) {
		log_error("the cluster view has another key for %s: ignoring it", me->name);
		return -EINVAL;
	}
	r = sync_peers(n);
	/* The leader moved (weft endpoint set): a member's state follows, so that it finds
	 * the leader at its new address after a restart too. */
	if (n->st.role == OV_ROLE_MEMBER && !n->removed) {
		const struct ov_peer *l = dmn_view_node(&n->view, n->st.leader.name);

		if (l && l->has_endpoint &&
		    !memcmp(l->public_key, n->st.leader.public_key, OV_KEY_LEN) &&
		    memcmp(&l->endpoint, &n->st.leader.endpoint, sizeof(l->endpoint))) {
			char ep[OV_ENDPOINT_STRLEN];

			n->st.leader.endpoint = l->endpoint;
			n->st.leader.has_endpoint = true;
			ov_endpoint_format(&l->endpoint, ep);
			log_info("the leader %s is at %s now", l->name, ep);
			if (dmn_store_save_state(n))
				r = r ? r : -EIO;
		}
	}
	dmn_dns_update(n);
	if (dmn_store_save_view(n))
		r = r ? r : -EIO;
	return r;
}

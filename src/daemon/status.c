/* SPDX-License-Identifier: MIT */
/*
 * daemon/status — what `weft status` and `weft dns list` show: this node, its peers as the
 * device and the health checker see them (typed reads, no UAPI text), services and
 * allocations, and the custom records.
 *
 * Must not: change anything, or hold the node lock while it asks the device.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/node.h"
#include "dataplane/device.h"

json_t *dmn_status_json(struct dmn_node *n)
{
	struct dp_peer_stats *dp = NULL;
	size_t ndp = 0;
	json_t *j = json_object(), *peers = json_array(), *self = json_object(), *svc = json_array();
	char b64[OV_KEY_B64_LEN + 1];
	uint64_t now = (uint64_t)time(NULL);

	if (dp_device_peers_stats(n->dev, &dp, &ndp))
		ndp = 0;
	pthread_mutex_lock(&n->lock);
	ov_key_to_base64(n->st.self.public_key, b64);
	json_object_set_new(self, "name", json_string(n->st.self.name));
	json_object_set_new(self, "role",
			    json_string(n->st.role == OV_ROLE_LEADER ? "leader" : "member"));
	json_object_set_new(self, "public_key", json_string(b64));
	json_object_set_new(self, "interface", json_string(n->opt.ifname));
	json_object_set_new(self, "listen_port", json_integer(dp_device_port(n->dev)));
	json_object_set_new(self, "ip4", ov_json_prefix_new(&n->st.self.ip4, false));
	json_object_set_new(self, "ip6", ov_json_prefix_new(&n->st.self.ip6, false));
	json_object_set_new(self, "slice", ov_json_prefix_new(&n->st.self.slice, true));
	json_object_set_new(self, "cidr4", ov_json_prefix_new(&n->st.cidr4, true));
	json_object_set_new(self, "cidr6", ov_json_prefix_new(&n->st.cidr6, true));
	json_object_set_new(self, "zone", json_string(n->st.zone));
	json_object_set_new(self, "leader", json_string(n->view.leader));
	json_object_set_new(self, "generation", json_integer((json_int_t)n->view.generation));
	json_object_set_new(self, "removed", json_boolean(n->removed));
	/* ops: for weft doctor */
	json_object_set_new(self, "dns_port", json_integer(n->opt.dns_port));
	json_object_set_new(self, "view_age_ms",
			    json_integer((json_int_t)(dmn_now_ms() - n->view_heard_ms)));
	json_object_set_new(j, "node", self);
	for (size_t i = 0; i < n->view.n_nodes; i++) {
		const struct ov_peer *p = &n->view.nodes[i];
		const struct dp_peer_stats *d = NULL;
		char ep[UAPI_ENDPOINT_STRLEN];
		json_t *o;

		if (!strcmp(p->name, n->st.self.name))
			continue;
		o = json_object();
		for (size_t k = 0; k < ndp; k++)
			if (!memcmp(dp[k].public_key, p->public_key, OV_KEY_LEN))
				d = &dp[k];
		ov_key_to_base64(p->public_key, b64);
		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "public_key", json_string(b64));
		json_object_set_new(o, "ip4", ov_json_prefix_new(&p->ip4, false));
		json_object_set_new(o, "ip6", ov_json_prefix_new(&p->ip6, false));
		json_object_set_new(o, "leader", json_boolean(!strcmp(p->name, n->view.leader)));
		if (d && d->has_endpoint)
			uapi_format_endpoint(&d->endpoint, ep);
		json_object_set_new(o, "endpoint",
				    d && d->has_endpoint ? json_string(ep) : json_null());
		json_object_set_new(o, "last_handshake",
				    json_integer(d ? (json_int_t)d->last_handshake_sec : 0));
		json_object_set_new(o, "handshake_age",
				    d && d->last_handshake_sec
					    ? json_integer((json_int_t)(now > d->last_handshake_sec
										? now - d->last_handshake_sec
										: 0))
						      : json_null());
		json_object_set_new(o, "rx_bytes", json_integer(d ? (json_int_t)d->rx_bytes : 0));
		json_object_set_new(o, "tx_bytes", json_integer(d ? (json_int_t)d->tx_bytes : 0));
		json_t *hj = dmn_health_json(n, p->name);

		json_object_update(o, hj);
		json_decref(hj);
		json_array_append_new(peers, o);
	}
	for (size_t i = 0; i < n->view.n_services; i++) {
		const struct dmn_service *s = &n->view.services[i];

		json_array_append_new(svc, json_pack("{s:s,s:s,s:s,s:o}", "service", s->service,
						     "node", s->node, "container", s->container,
						     "addr", ov_json_prefix_new(&s->addr, false)));
	}
	json_object_set_new(j, "peers", peers);
	json_object_set_new(j, "services", svc);
	if (n->st.role == OV_ROLE_LEADER) {
		json_t *aj = NULL;

		if (ov_alloc_to_json(&n->st.alloc, &aj) == 0)
			json_object_set_new(j, "allocations", aj);
	} else {
		json_t *subnets = json_array();

		for (size_t i = 0; i < n->view.n_subnets; i++)
			json_array_append_new(subnets,
					      json_pack("{s:s,s:s,s:o}", "service",
							n->view.subnets[i].service, "node",
							n->view.subnets[i].node, "subnet",
							ov_json_prefix_new(&n->view.subnets[i].subnet, true)));
		json_object_set_new(j, "allocations", json_pack("{s:o}", "subnets", subnets));
	}
	pthread_mutex_unlock(&n->lock);
	free(dp);
	return j;
}

json_t *dmn_records_json(struct dmn_node *n)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->view.n_records; i++)
		json_array_append_new(arr, json_pack("{s:s,s:o}", "name", n->view.records[i].name,
						     "addr", ov_json_prefix_new(&n->view.records[i].addr, false)));
	pthread_mutex_unlock(&n->lock);
	return json_pack("{s:o,s:s}", "records", arr, "zone", n->st.zone);
}

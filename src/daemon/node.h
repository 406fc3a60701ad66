/* SPDX-License-Identifier: MIT */
/*
 * daemon/node — one running weft node (weftd): its state directory, its WireGuard device
 * (the dataplane, in process), the cluster view and what follows from it (peers, DNS), the
 * control listeners and the health checker. Shared by the files of weftd; the lock guards
 * every field below it.
 *
 * Channels (see ctl.h): the leader's join listener on the underlay (TCP, the cluster port on
 * every address); every node's overlay control listener and health prober on TCP and UDP
 * port + 1, bound to the WireGuard interface so that only packets WireGuard authenticated
 * reach them; the local unix socket <data dir>/weftd.sock for the CLI.
 */
#ifndef WEFT_DAEMON_NODE_H
#define WEFT_DAEMON_NODE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/ctl.h"
#include "overlay/state.h"

#define DMN_SOCKET_FILE "weftd.sock"
#define DMN_VIEW_FILE	"view.json"
#define DMN_TOKENS_FILE "tokens.json"
#define DMN_DEFAULT_IFNAME "weft0"

enum {
	DMN_DNS_PORT = 15353,		 /* REF */
	DMN_HANDSHAKE_HEALTHY_S = 180,	 /* REF: a peer is healthy while its handshake is younger */
	DMN_HEALTH_INTERVAL_MS = 5000,	 /* probe period */
	DMN_HEALTH_TIMEOUT_MS = 20000,	 /* no probe reply for this long: down */
	DMN_PULL_INTERVAL_MS = 15000,	 /* a member asks the leader for a newer view */
	DMN_SWEEP_INTERVAL_MS = 2000,	 /* look for containers that died */
	DMN_MAX_CONNS = 32,		 /* control connections served at once */
	DMN_TOKEN_DEFAULT_TTL = 3600,	 /* weft token create: one hour */
	DMN_CTL_PORT_OFFSET = 1,	 /* overlay control and health: cluster port + 1 */
};

struct dmn_options {
	char dir[PATH_MAX];
	char ifname[16];
	char resolv_conf[PATH_MAX];
	uint16_t dns_port;
	unsigned health_interval_ms, health_timeout_ms, pull_interval_ms;
};

/* What the health checker knows of one peer node. */
struct dmn_health {
	char name[OV_ALLOC_NAME_MAX + 1];
	bool healthy, known;
	uint64_t last_reply_ms; /* monotonic; 0 = never */
	uint64_t rtt_us;	/* last probe round trip */
	uint64_t probes, replies;
	uint64_t last_sent_ms;
	uint32_t seq;
};

struct dp_device;
struct ov_dns_server;
struct plat_fw_seal;

struct dmn_node {
	struct dmn_options opt;
	int lock_fd;
	pthread_mutex_t lock;
	pthread_cond_t push_cond;

	struct ov_state st;
	uint8_t private_key[OV_KEY_LEN];
	struct dmn_view view;	 /* leader: authoritative; member: the last one received */
	struct dmn_view applied; /* what the device was last configured from */
	struct dmn_tokens tokens;
	bool removed; /* a member no longer in the leader's view */
	bool push_pending, stopping;

	struct dmn_health *health;
	size_t n_health;

	struct dp_device *dev;
	int ifindex;
	struct ov_dns_server *dns;
	struct plat_fw_seal *seal; /* weft's nftables table, from bring-up to close */
	int join_fd, ctl_fd, probe_fd, local_fd, wake_fd;
	unsigned conns;
	pthread_t dev_thread, push_thread;
	bool dev_thread_live, push_thread_live;
};

/* node.c */
int dmn_node_open(struct dmn_node *n, const struct dmn_options *opt);
int dmn_node_up(struct dmn_node *n);
int dmn_node_run(struct dmn_node *n);
void dmn_node_close(struct dmn_node *n);
uint64_t dmn_now_ms(void);
/* Rebuilds what follows from n->view (peers, DNS) and saves it. Lock held. */
int dmn_node_view_changed(struct dmn_node *n);
/* Leader: a new generation of the view from the state, saved and pushed. Lock held. */
int dmn_leader_publish(struct dmn_node *n);
/* The next view dmn_leader_publish() would make, without making it. Lock held. */
int dmn_leader_build_view(struct dmn_node *n, struct dmn_view *v);
int dmn_node_save_state(struct dmn_node *n);  /* lock held */
int dmn_node_save_tokens(struct dmn_node *n); /* lock held */
void dmn_overlay_addr(const struct dmn_node *n, const struct ov_peer *p, uint16_t port,
		      struct sockaddr_storage *ret);

/* serve.c: the handlers of the three channels, each on its own connection thread. */
void dmn_serve_local(struct dmn_node *n, int fd);
void dmn_serve_overlay(struct dmn_node *n, int fd, const struct sockaddr_storage *from);
void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from);
/* A VIEW frame's payload from the leader: applied when newer. Takes the lock. */
void dmn_serve_view_frame(struct dmn_node *n, const json_t *j);
/* The leader's side of a member's request (lock not held). */
int dmn_leader_do(struct dmn_node *n, const struct dmn_request *q, const char *node, json_t **ret,
		  char *err, size_t errlen);
/* A request for the leader from this node, whatever its role. 0 and *ret or -errno. */
int dmn_cluster_request(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
			size_t errlen);
/* A request to the leader over the overlay (members); 0 and *ret reply or -errno with err. */
int dmn_ask_leader(struct dmn_node *n, const struct dmn_request *req, uint8_t *ret_type,
		   json_t **ret, char *err, size_t errlen);

/* A member pulls the leader's view now (after a change it asked for). */
void dmn_member_refresh(struct dmn_node *n);
/* Seconds since the device's last handshake with key; UINT64_MAX if none. Lock not held. */
uint64_t dmn_handshake_age(struct dmn_node *n, const uint8_t *key);

/* attach.c: containers of this node (local requests). */
int dmn_attach(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
	       size_t errlen);
int dmn_detach(struct dmn_node *n, const char *container, char *err, size_t errlen);
void dmn_attach_sweep(struct dmn_node *n);

/* dns.c */
int dmn_dns_start(struct dmn_node *n);
void dmn_dns_update(struct dmn_node *n); /* lock held */
void dmn_dns_stop(struct dmn_node *n);
void dmn_dns_set_healthy(struct dmn_node *n, uint32_t owner, bool healthy); /* lock held */

/* health.c */
void dmn_health_tick(struct dmn_node *n);
void dmn_health_input(struct dmn_node *n);
json_t *dmn_health_json(struct dmn_node *n, const char *name); /* lock held */

#endif

/* SPDX-License-Identifier: MIT */
/*
 * daemon/node — one running weft node (weftd): its state directory, its WireGuard device
 * (the dataplane, in process), the cluster view and what follows from it (peers, DNS), the
 * control listeners and the health checker. Shared by the files of weftd; the lock guards
 * every field below it.
 *
 * Channels (see ctl/chan.h for who can reach each and what proves the sender): the leader's
 * join listener on the underlay (TCP, the cluster port on every address); every node's
 * overlay control listener and health prober on TCP and UDP port + 1, bound to the WireGuard
 * interface; the local unix socket <data dir>/weftd.sock for the CLI (root). The overlay and
 * join channels authenticate by key (ctl/handshake.h), never by address.
 */
#ifndef WEFT_DAEMON_NODE_H
#define WEFT_DAEMON_NODE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ctl/chan.h"
#include "ctl/ctl.h"
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
	/* Connections served at once, per channel, so a flood of one (the join port is open to
	 * the underlay) never starves another (the CLI's local socket). */
	DMN_CONNS_LOCAL = 16,
	DMN_CONNS_OVERLAY = 64,
	DMN_CONNS_JOIN = 32,
	DMN_CONNS_PER_SOURCE = 4,	 /* join and overlay connections from one address */
	/* Live overlay and join connections, counting those shut down to make room. */
	DMN_CONNS_LIVE_MAX = 2 * (DMN_CONNS_OVERLAY + DMN_CONNS_JOIN),
	/* Absolute deadlines: a whole join or overlay exchange, one local request. */
	DMN_JOIN_TIMEOUT_MS = 10000,
	DMN_OVERLAY_TIMEOUT_MS = 10000,
	DMN_LOCAL_TIMEOUT_MS = 120000,
	DMN_JOIN_MAX_PAYLOAD = 4096,	 /* a JOIN frame: a name, a key, an endpoint */
	/* A member refuses a view that jumps further ahead of its own: generations only grow by
	 * one per change, and a huge jump would shut out every later real view. */
	DMN_VIEW_GENERATION_JUMP_MAX = 1u << 24,
	DMN_CTL_PORT_OFFSET = 1,	 /* overlay control and health: cluster port + 1 */
};

struct dmn_options {
	char dir[PATH_MAX];
	char ifname[16];
	bool ifname_set; /* --interface given; else state.json's "interface", else weft0 */
	char resolv_conf[PATH_MAX];
	uint16_t dns_port;
	unsigned health_interval_ms, health_timeout_ms, pull_interval_ms;
	char metrics[64]; /* --metrics ADDR:PORT; "" = off (daemon/metrics.c) */
	bool metrics_allow_any, metrics_peer_labels;
	int64_t test_clock_offset_ms; /* WEFT_TEST_CLOCK_OFFSET_MS: a test hook (doctor) */
};

/* Joins as the leader decided them (counted in lead.c, exported by metrics.c). */
enum { DMN_JOIN_ADMITTED, DMN_JOIN_REFUSED_TOKEN, DMN_JOIN_REFUSED, DMN_JOIN__COUNT };

/* What the health checker knows of one peer node. */
struct dmn_health {
	char name[OV_ALLOC_NAME_MAX + 1];
	bool healthy, known;
	uint64_t last_reply_ms; /* monotonic; 0 = never */
	uint64_t rtt_us;	/* last probe round trip */
	uint64_t probes, replies;
	uint64_t last_sent_ms;
	uint32_t seq; /* the last probe's nonce (random) */
};

struct dp_device;
struct dmn_conn;
struct plat_wakeup;
struct ov_dns_server;
struct plat_fw_seal;

/* link.c: an overlay call in progress (on the caller's stack). */
struct dmn_link {
	int fd;
	struct dmn_link *next;
};

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
	int join_fd, ctl_fd, probe_fd, local_fd;
	struct plat_wakeup *wake; /* the device thread tells the loop it ended */
	unsigned conns_local; /* local connections served (overlay and join: conns_live) */
	struct dmn_conn **conns_live; /* overlay and join connections, in arrival order */
	size_t n_conns_live;
	struct plat_fw_seal *seal; /* weft's nftables table, from bring-up to close */
	/* overlay calls in progress (link.c), cut at close */
	pthread_mutex_t links_lock;
	struct dmn_link *links;
	bool links_cut;
	/* view_thread: the leader pushes views (lead.c), a member pulls them (member.c) */
	pthread_t dev_thread, view_thread;
	bool dev_thread_live, view_thread_live;

	/* NAT traversal (nat.c): its state; on the leader, every node's paths as they reported
	 * them (in memory; in the view from the next publish) */
	struct dmn_nat *nat;
	struct dmn_paths *lead_paths;
	size_t n_lead_paths;
	bool paths_publish; /* the leader's own paths changed: node.c publishes */

	/* Operations (metrics, doctor) */
	struct dmn_metrics *metrics;
	uint64_t view_heard_ms; /* monotonic: the leader's last publish, a member's last view */
	_Atomic uint64_t joins[DMN_JOIN__COUNT];
};

/*
 * The files of weftd, each depending only on those listed after it (no two call each other):
 *
 *   node.c    the node's life: open, bring up, the loop (accepting on the three channels,
 *             timers), close
 *   metrics.c the --metrics endpoint's collectors (metrics_http.c serves, metrics_dev.c has
 *             the device's series shared with weft-wg); reads the node, calls no file below
 *   serve.c   the three channel servers: local (CLI), overlay (nodes), join (leader)
 *   attach.c  this node's containers
 *   status.c  what `weft status` and `weft dns list` show
 *   lead.c    the leader's side: leader.c's decisions persisted, published and pushed
 *   nat.c     paths through NATs: candidates, STUN on the WireGuard socket, punching, relay
 *   member.c  a member's side: asking the leader, taking its views
 *   leader.c  the leader's decisions, pure (leader.h)
 *   view.c    the view turned into WireGuard peers and the DNS zone
 *   health.c  probes and handshake ages of the peers
 *   link.c    the overlay channel to another node, authenticated by its key
 *   dns.c     the DNS service
 *   store.c   the state directory's files
 *   relay.c   the TURN relay and its loopback forwarders (relay.h)
 */

/* node.c */
int dmn_node_open(struct dmn_node *n, const struct dmn_options *opt);
int dmn_node_up(struct dmn_node *n);
int dmn_node_run(struct dmn_node *n);
void dmn_node_close(struct dmn_node *n);

/* Monotonic milliseconds: the control channels' clock (ctl/chan.h). */
static inline uint64_t dmn_now_ms(void)
{
	return ctl_now_ms();
}

/* CLOCK_MONOTONIC now + ms: the deadline of a pthread_cond_timedwait on a condition made with
 * that clock (the push/pull and NAT conditions). */
static inline struct timespec dmn_deadline_in(uint64_t ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* The wall clock this node reports for `weft doctor`'s skew check, in ms; plus
 * WEFT_TEST_CLOCK_OFFSET_MS, a test hook (a namespace cannot have a clock of its own). */
static inline int64_t dmn_wall_ms(const struct dmn_node *n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + n->opt.test_clock_offset_ms;
}

/* metrics.c: start (after the node is up; a no-op without --metrics) and stop (before the
 * device goes). */
int dmn_metrics_start(struct dmn_node *n);
void dmn_metrics_stop(struct dmn_node *n);

/* serve.c: the handlers of the three channels, each on its own connection thread. */
void dmn_serve_local(struct dmn_node *n, int fd);
/* *proven is set (atomically) once the sender proved its key: from then on the connection
 * never gives way to a new one (node.c). */
void dmn_serve_overlay(struct dmn_node *n, int fd, const struct sockaddr_storage *from,
		       bool *proven);
void dmn_serve_join(struct dmn_node *n, int fd, const struct sockaddr_storage *from,
		    bool *proven);

/* attach.c: containers of this node (local requests). */
int dmn_attach(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
	       size_t errlen);
int dmn_detach(struct dmn_node *n, const char *container, char *err, size_t errlen);
void dmn_attach_sweep(struct dmn_node *n);

/* status.c: the replies of `weft status` and `weft dns list` (lock not held). */
json_t *dmn_status_json(struct dmn_node *n);
json_t *dmn_records_json(struct dmn_node *n);

/* lead.c (lock not held unless said) */
struct dmn_actor;
/* A request decided by the leader for who (the admin on the local socket, or a node). */
int dmn_lead_do(struct dmn_node *n, const struct dmn_actor *who, const struct dmn_request *q,
		json_t **ret, char *err, size_t errlen);
/* A member's request over the overlay channel; node is the member its key proved. */
int dmn_lead_node_request(struct dmn_node *n, const struct dmn_request *q, const char *node,
			  json_t **ret, char *err, size_t errlen);
/* TIME for `weft doctor`: the leader's wall clock against ours ({"leader", "leader_time_ms",
 * "local_time_ms", "rtt_ms"}); asked of the leader over the overlay on a member. */
int dmn_cluster_time(struct dmn_node *n, json_t **ret, char *err, size_t errlen);
/* A request for the leader from this node, whatever its role. 0 and *ret or -errno. */
int dmn_cluster_request(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
			size_t errlen);
/* The join: the token's secret (the psk) while it is live; then the admission, saved and
 * published, and the WELCOME to send. */
int dmn_lead_token_psk(struct dmn_node *n, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
		       uint8_t psk[static DMN_CTL_SECRET_LEN], char *err, size_t errlen);
int dmn_lead_admit(struct dmn_node *n, const uint8_t id[static DMN_CTL_TOKEN_ID_LEN],
		   const struct dmn_join *m, struct ov_peer *ret_lease, json_t **ret_welcome,
		   char *err, size_t errlen);
/* A new generation of the view from the state, saved, then pushed. Lock held. */
int dmn_lead_publish(struct dmn_node *n);
/* The next view dmn_lead_publish() would make, without making it. Lock held. */
int dmn_lead_build_view(struct dmn_node *n, struct dmn_view *v);
/* The push thread (pthread start routine): pushes each new view to every member. */
void *dmn_lead_push_main(void *arg);

/* nat.c: paths through NATs (see the file's header for who can reach what). */
enum { DMN_TURN_CREDENTIAL_TTL_S = 86400 }; /* TURN REST credentials the leader hands out */
struct dmn_relay_config;
/* Start after the device is up (the hook and the thread); stop before the device goes,
 * free after. */
int dmn_nat_start(struct dmn_node *n);
void dmn_nat_stop(struct dmn_node *n);
void dmn_nat_free(struct dmn_node *n);
/* Check peer's candidates now (the leader said so, or it is the leader's own). */
void dmn_nat_punch(struct dmn_node *n, const char *peer);
/* The leader: false when asker asked for a punch with target less than a second ago. */
bool dmn_nat_punch_allowed(struct dmn_node *n, const char *asker, const char *target,
			   uint64_t now_ms);
/* The leader: node `to` is to punch with `about` now (this node itself at once; another
 * told by the NAT thread, so the asker's reply does not wait on it). */
void dmn_nat_punch_order(struct dmn_node *n, const char *to, const char *about);
/* The leader: tell node `to` to punch with `about` now. 0 or -errno. Lock not held. */
int dmn_nat_tell_punch(struct dmn_node *n, const char *to, const char *about);
/* The leader: TURN credentials for node (REST ones made from the secret, or the static
 * ones). 0, -ENOENT without TURN, -errno. */
int dmn_nat_turn_credentials(struct dmn_node *n, const char *node, struct dmn_relay_config *ret,
			     uint64_t *ret_expires);
/* The leader: a node's paths as it reported them. 1 changed, 0 same, -errno. Lock not held. */
int dmn_nat_lead_paths(struct dmn_node *n, const struct dmn_paths *p);
/* What `weft peers` shows (lock not held). NULL when NAT traversal is not running. */
json_t *dmn_nat_peers_json(struct dmn_node *n);

/* member.c */
/* A request to the leader over the overlay (members); 0 and *ret reply or -errno with err. */
int dmn_ask_leader(struct dmn_node *n, const struct dmn_request *req, uint8_t *ret_type,
		   json_t **ret, char *err, size_t errlen);
/* The same with a deadline of the caller's (dmn_ask_leader: 3 s). */
int dmn_ask_leader_within(struct dmn_node *n, const struct dmn_request *req, unsigned timeout_ms,
			  uint8_t *ret_type, json_t **ret, char *err, size_t errlen);
/* A VIEW frame's payload from the leader's key: taken when newer. Takes the lock. */
void dmn_member_take_view(struct dmn_node *n, const json_t *j);
/* A member pulls the leader's view now (after a change it asked for). */
void dmn_member_refresh(struct dmn_node *n);
/* A member's view thread: dmn_member_refresh every pull interval until the node stops. */
void *dmn_member_pull_main(void *arg);

/* view.c: rebuilds what follows from n->view (peers, DNS) and saves it. Lock held.
 * -EINVAL (our own key replaced in the view: nothing applied). */
int dmn_view_apply(struct dmn_node *n);
/* A set request in UAPI text applied to the device (as `wg set` would). 0 or -errno. */
int dmn_view_uapi(struct dmn_node *n, const char *text);

/* health.c */
void dmn_health_tick(struct dmn_node *n);
void dmn_health_input(struct dmn_node *n);
json_t *dmn_health_json(struct dmn_node *n, const char *name); /* lock held */
/* Seconds since the device's last handshake with key; UINT64_MAX if none. Lock not held. */
uint64_t dmn_handshake_age(struct dmn_node *n, const uint8_t *key);

/* link.c: the overlay channel to node `to`, authenticated by its key (not its address): a
 * request and its reply (dmn_overlay_call), or one frame (dmn_overlay_send; wait_read: until
 * the other end has read it and closed). 0 or -errno with err. */
int dmn_overlay_call(struct dmn_node *n, const struct ov_peer *to, const json_t *req,
		     uint8_t *ret_type, json_t **ret, unsigned timeout_ms, char *err, size_t errlen);
int dmn_overlay_send(struct dmn_node *n, const struct ov_peer *to, uint8_t type,
		     const json_t *msg, bool wait_read, unsigned timeout_ms, char *err,
		     size_t errlen);
/* Ends every overlay call in progress (they fail with "weftd is stopping"), and any later
 * one at once: the first step of a close. */
void dmn_links_cut(struct dmn_node *n);
void dmn_overlay_addr(const struct dmn_node *n, const struct ov_peer *p, uint16_t port,
		      struct sockaddr_storage *ret);

/* dns.c */
int dmn_dns_start(struct dmn_node *n);
void dmn_dns_update(struct dmn_node *n); /* lock held */
void dmn_dns_stop(struct dmn_node *n);
void dmn_dns_set_healthy(struct dmn_node *n, uint32_t owner, bool healthy); /* lock held */

/* store.c (lock held, or before the threads start) */
int dmn_store_load_view(struct dmn_node *n);
int dmn_store_load_tokens(struct dmn_node *n);
int dmn_store_save_view(struct dmn_node *n);
int dmn_store_save_state(struct dmn_node *n);
int dmn_store_save_tokens(struct dmn_node *n);

#endif

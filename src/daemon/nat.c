/* SPDX-License-Identifier: MIT */
/*
 * daemon/nat — paths to peers through NATs: this node's candidates (host addresses, the
 * server-reflexive addresses STUN servers see for its WireGuard socket, its TURN relay),
 * published through the leader; connectivity checks with peers, punched from both ends at
 * the same moment when the leader says so; the relay when no check gets through; and back to
 * a direct path as soon as one works. The WireGuard socket itself carries all of it: STUN
 * comes in through the device's hook for datagrams that are not WireGuard and goes out with
 * dp_device_send_raw, so a reflexive address is the mapping WireGuard traffic really uses.
 *
 * Who can reach what, and what proves it:
 * - STUN Binding requests on the WireGuard port (anyone on the underlay): answered with the
 *   source's address, at most 20/s per source with a burst of 5 (wg/ratelimiter.h's bucket)
 *   and NAT_STUN_GLOBAL_PER_S in all, and never with more bytes than the request had: a
 *   spoofed source gains no amplification. A check from a peer this node is checking (its
 *   USERNAME a MAC that only that peer can make, see check_tag) also draws one check back to
 *   its source (ICE's triggered check), at most NAT_TRIGGERED_MAX per round.
 * - Binding responses: taken only for a transaction id this node sent (96 random bits), from
 *   the address it was sent to. A check that succeeds only chooses where the device sends;
 *   WireGuard's handshake proves who answers there. An attacker on the path who forges one
 *   can stall the peer until the next round, which it could anyway by dropping packets.
 * - Candidates, punch orders and TURN credentials travel only over the overlay channel
 *   (daemon/link.c): a member takes them from its leader's key, the leader from members'.
 * - The relay: see daemon/relay.h (its loopback forwarders take only the device's port).
 *
 * Must not: take the node lock while holding nat->lock (the order is node lock, then
 * nat->lock), block in the device's hook, or answer STUN larger than its request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "daemon/node.h"
#include "daemon/relay.h"
#include "dataplane/device.h"
#include "lib/log.h"
#include "overlay/stun.h"
#include "overlay/turn.h"
#include "platform/netif.h"
#include "wg/ratelimiter.h"

enum {
	NAT_TICK_MS = 50,	/* the thread's pass while checks are due (rounds, STUN retries) */
	NAT_IDLE_TICK_MS = 250, /* ... and otherwise (events wake it at once) */
	NAT_REFLEX_INTERVAL_MS = 20000, /* re-ask STUN servers: also keeps the mapping open */
	NAT_REFLEX_FAST_MS = 5000,	/* ... while a peer has no direct path (a NAT may have
					   rebooted with new mappings) */
	NAT_REFLEX_RTO_MS = 500,	/* a request unanswered this long is sent again */
	NAT_REFLEX_TRIES = 4,		/* then the server counts as not answering */
	NAT_HOST_INTERVAL_MS = 10000,	/* host addresses re-read (DHCP, roaming) */
	NAT_CHECK_INTERVAL_MS = 200,	/* checks of one round, to every target */
	NAT_CHECKS_PER_ROUND = 8,
	NAT_ROUND_MS = 2000,		/* a round's verdict */
	NAT_ROUND_MIN_GAP_MS = 1000,	/* rounds for one peer start at most this often */
	NAT_SETTLE_MS = 300,		/* candidates that changed this recently: not known by all */
	NAT_BACKOFF_MIN_MS = 1000,	/* after a failed round; doubles up to the max */
	NAT_BACKOFF_MAX_MS = 8000,
	NAT_TARGETS_MAX = DMN_CAND_MAX + 4, /* a peer's candidates + peer-reflexive sources */
	NAT_TRIGGERED_MAX = 4,		/* triggered checks per peer per round */
	NAT_CONFIG_RETRY_MS = 5000,	/* asking the leader for STUN/TURN settings */
	NAT_CONFIG_REFRESH_MS = 600000, /* and again, before TURN credentials expire */
	NAT_PATHS_RESEND_MS = 300000,	/* our paths to the leader, in case it restarted */
	NAT_PATHS_RETRY_MS = 2000,
	NAT_CLASSIFY_MS = 1000,		/* the device's endpoints read back */
	NAT_STUN_GLOBAL_PER_S = 2000,	/* Binding responses per second, all sources */
	NAT_REFLEX_MAX = OV_NAT_STUN_MAX + 1, /* configured servers and the leader */
	NAT_PUNCH_LOG = 256,  /* the leader's memory of punch orders (rate limit per pair) */
	NAT_CALL_TIMEOUT_MS = 1000, /* one overlay call of this thread (a few per pass at most) */
	NAT_TELLS_MAX = 64,	    /* the leader's punch orders waiting to go out */
	NAT_TELLS_PER_PASS = 4,
};

enum nat_path { NAT_PATH_NONE, NAT_PATH_DIRECT, NAT_PATH_RELAY };
static const char *const path_names[] = {"none", "direct", "relay"};

/* One address a round checks. */
struct nat_target {
	struct wg_endpoint ep;
	enum dmn_cand_kind kind; /* 0 = peer-reflexive (a triggered check's source) */
	uint8_t txid[OV_STUN_TXID_LEN];
};

struct nat_peer {
	char name[OV_ALLOC_NAME_MAX + 1];
	uint8_t key[OV_KEY_LEN];
	struct dmn_paths paths; /* from the view; n_cand 0 when it has none */
	/* The pair's key for naming a check's sender: BLAKE2s of a label and X25519(our key,
	 * its key), which only the two of them can compute (check_tag). */
	uint8_t check_key[CRYPTO_HASH_LEN];
	bool has_check_key;

	/* the round of checks in progress (round_until > now) */
	uint64_t round_start, round_until, next_check;
	unsigned checks_sent, triggered;
	struct nat_target targets[NAT_TARGETS_MAX];
	size_t n_targets;
	bool won;		    /* a check of this round succeeded */
	bool won_new;		    /* ... and the device was not told yet */
	struct wg_endpoint won_ep;  /* the best one */
	int won_prio;
	uint64_t next_round, backoff;
	unsigned failed_rounds; /* since the last direct path */
	bool round_reflexive;	/* this round checks a server-reflexive candidate */
	bool relay_ok;		/* a round that could have punched failed: the relay may serve */
	bool recheck;		/* its candidates or ours changed: a round even on a direct path */
	uint64_t paths_changed_ms; /* its checkable (host, reflexive) candidates last changed */
	bool health_down;	/* the health checker's probes through the tunnel go unanswered */

	/* the path, as the device's endpoint shows it */
	enum nat_path path;
	struct wg_endpoint endpoint;
	bool has_endpoint;
	struct wg_endpoint via; /* the relay's address when relayed */
	uint64_t since;		/* monotonic ms of the last change of path */
	char reason[128];	/* why not direct */
	uint64_t last_handshake_s, rx_bytes, tx_bytes;
	/* direct means: something came in since the device's endpoint last changed */
	struct wg_endpoint seen_ep;
	bool seen_has;
	uint64_t ep_changed_ms, rx_ms;
	uint64_t kick_ms; /* the last kick toward the peer's relay */
};

struct nat_reflex {
	struct wg_endpoint server;
	uint8_t txid[OV_STUN_TXID_LEN];
	uint64_t sent, next;
	unsigned tries;
	bool has_mapped, answered;
	struct wg_endpoint mapped;
};

struct dmn_nat {
	struct dmn_node *n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool live, stop;

	/* settings (the leader's state, or a member's NAT_CONFIG reply) */
	bool have_config;
	uint64_t next_config;
	struct dmn_relay_config turn;
	struct dmn_relay *relay;

	/* reflexive discovery */
	struct nat_reflex reflex[NAT_REFLEX_MAX];
	size_t n_reflex;
	enum dmn_nat_type nat_type;
	bool reflex_fast; /* a peer has no direct path: re-ask every NAT_REFLEX_FAST_MS */
	uint64_t mine_changed_ms; /* our checkable candidates last changed */
	bool permits_stale; /* a peer's path changed: the relay's permissions are made again */

	/* this node's candidates and what the leader has of them */
	struct plat_addr host[DMN_CAND_MAX];
	size_t n_host;
	uint64_t next_host;
	struct dmn_paths mine, sent;
	bool sent_ok;
	uint64_t next_paths, retry_paths, check_paths; /* resend; after a failure; view check */

	/* peers (from the view) */
	uint64_t view_gen;
	bool view_synced;
	struct nat_peer *peers;
	size_t n_peers;
	uint64_t next_classify;

	/* the leader: punch orders asked lately, (asker, target) pairs */
	struct {
		char asker[OV_ALLOC_NAME_MAX + 1], target[OV_ALLOC_NAME_MAX + 1];
		uint64_t ms;
	} punch_log[NAT_PUNCH_LOG];
	size_t punch_next;
	/* ... and those still to be told (the asker is answered first: telling blocks) */
	struct {
		char to[OV_ALLOC_NAME_MAX + 1], about[OV_ALLOC_NAME_MAX + 1];
	} tells[NAT_TELLS_MAX];
	size_t n_tells;

	/* the STUN server */
	struct wg_ratelimiter rl;
	uint64_t global_window, global_count;
	uint64_t stun_answered, stun_refused, stun_bad, checks_sent, checks_won;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- addresses ------------------------------------------------------------------------------ */

static void ep_from_ov(const struct ov_endpoint *o, struct wg_endpoint *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = o->family == 6 ? WG_AF_INET6 : WG_AF_INET;
	ret->port = o->port;
	memcpy(ret->addr, o->addr, o->family == 6 ? 16 : 4);
}

static void ep_to_ov(const struct wg_endpoint *e, struct ov_endpoint *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = e->family == WG_AF_INET6 ? 6 : 4;
	ret->port = e->port;
	memcpy(ret->addr, e->addr, e->family == WG_AF_INET6 ? 16 : 4);
}

static bool ep_equal(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	size_t len = a->family == WG_AF_INET6 ? 16 : 4;

	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, len);
}

static bool ep_same_ip(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, a->family == WG_AF_INET6 ? 16 : 4);
}

static bool ep_is_loopback(const struct wg_endpoint *e)
{
	static const uint8_t lo6[16] = {[15] = 1};

	return (e->family == WG_AF_INET && e->addr[0] == 127) ||
	       (e->family == WG_AF_INET6 && !memcmp(e->addr, lo6, 16));
}

/* --- STUN messages ---------------------------------------------------------------------------- */

static void new_txid(uint8_t txid[OV_STUN_TXID_LEN])
{
	crypto_random(txid, OV_STUN_TXID_LEN);
}

static void send_request(struct dmn_nat *nat, const struct wg_endpoint *to,
			 const uint8_t txid[OV_STUN_TXID_LEN], const char *username)
{
	uint8_t buf[256];
	int len = ov_stun_binding_request(txid, username, buf, sizeof(buf));

	if (len > 0 && nat->n->dev)
		dp_device_send_raw(nat->n->dev, to, buf, (size_t)len);
}

/* --- naming a check's sender ----------------------------------------------------------------- */

/*
 * A check names its sender in USERNAME ("weft:" and 32 hex digits) without saying who it is
 * to anyone else: the tag is a MAC over the transaction id and the sender's public key under
 * a key only the pair can compute (from their static keys' X25519), so an observer on the
 * underlay learns neither node names nor a stable identifier (WireGuard hides static keys
 * and this must not undo it), and nobody else can make a check that draws a triggered check.
 */
enum { CHECK_TAG_HEX = 2 * CRYPTO_MAC_LEN, CHECK_USER_LEN = 5 + CHECK_TAG_HEX };

static int check_key(const struct dmn_node *n, const uint8_t pub[static OV_KEY_LEN],
		     uint8_t out[static CRYPTO_HASH_LEN])
{
	static const char label[] = "weft nat check v1";
	uint8_t ss[CRYPTO_KEY_LEN];
	int r = crypto_x25519(ss, n->private_key, pub);

	if (!r)
		crypto_blake2s(out, label, sizeof(label) - 1, ss, sizeof(ss));
	crypto_wipe(ss, sizeof(ss));
	return r;
}

static void check_tag(const uint8_t key[static CRYPTO_HASH_LEN],
		      const uint8_t txid[static OV_STUN_TXID_LEN],
		      const uint8_t sender[static OV_KEY_LEN], uint8_t out[static CRYPTO_MAC_LEN])
{
	uint8_t in[OV_STUN_TXID_LEN + OV_KEY_LEN];

	memcpy(in, txid, OV_STUN_TXID_LEN);
	memcpy(in + OV_STUN_TXID_LEN, sender, OV_KEY_LEN);
	crypto_blake2s_mac(out, key, CRYPTO_HASH_LEN, in, sizeof(in));
}

/* "weft:<tag>" for a check to p with txid. */
static void check_user(const struct dmn_nat *nat, const struct nat_peer *p,
		       const uint8_t txid[static OV_STUN_TXID_LEN], char out[static CHECK_USER_LEN + 1])
{
	uint8_t tag[CRYPTO_MAC_LEN];

	check_tag(p->check_key, txid, nat->n->st.self.public_key, tag);
	memcpy(out, "weft:", 5);
	dmn_hex(tag, sizeof(tag), out + 5);
}

/* The peer in a round whose tag this is (constant-time compares), or NULL. */
static struct nat_peer *check_sender(struct dmn_nat *nat, const struct ov_stun_msg *m,
				     uint64_t ms)
{
	uint8_t tag[CRYPTO_MAC_LEN], want[CRYPTO_MAC_LEN];
	char hex[CHECK_TAG_HEX + 1];

	if (!m->has_username || m->username_len != CHECK_USER_LEN ||
	    memcmp(m->username, "weft:", 5))
		return NULL;
	memcpy(hex, m->username + 5, CHECK_TAG_HEX);
	hex[CHECK_TAG_HEX] = '\0';
	if (dmn_unhex(hex, tag, sizeof(tag)))
		return NULL;
	for (size_t i = 0; i < nat->n_peers; i++) {
		struct nat_peer *p = &nat->peers[i];

		if (p->round_until <= ms || !p->has_check_key)
			continue;
		check_tag(p->check_key, m->txid, p->key, want);
		if (crypto_equal(tag, want, sizeof(tag)))
			return p;
	}
	return NULL;
}

/* --- the device's hook: STUN on the WireGuard socket ---------------------------------------- */

static struct nat_peer *peer_by_name(struct dmn_nat *nat, const char *name, size_t len)
{
	for (size_t i = 0; i < nat->n_peers; i++)
		if (strlen(nat->peers[i].name) == len && !memcmp(nat->peers[i].name, name, len))
			return &nat->peers[i];
	return NULL;
}

static int cand_prio(enum dmn_cand_kind k)
{
	return k == DMN_CAND_HOST ? 3 : k == DMN_CAND_SRFLX ? 2 : 1; /* peer-reflexive: 1 */
}

/* A request: answer it, and if it is a peer's check during our round, check back. */
static void on_request(struct dmn_nat *nat, const uint8_t *buf, size_t len,
		       const struct ov_stun_msg *m, const struct wg_endpoint *from, uint64_t now)
{
	uint8_t out[OV_STUN_MAX_MSG];
	bool allow;
	int olen;

	if (m->method != OV_STUN_BINDING) {
		pthread_mutex_lock(&nat->lock);
		nat->stun_bad++;
		pthread_mutex_unlock(&nat->lock);
		return;
	}
	pthread_mutex_lock(&nat->lock);
	if (now / 1000000000ull != nat->global_window) {
		nat->global_window = now / 1000000000ull;
		nat->global_count = 0;
	}
	allow = nat->global_count < NAT_STUN_GLOBAL_PER_S &&
		wg_ratelimiter_allow(&nat->rl, from->family, from->addr, now);
	if (allow)
		nat->global_count++;
	else
		nat->stun_refused++;
	if (allow) {
		uint64_t ms = now / 1000000;
		struct nat_peer *p = check_sender(nat, m, ms);

		if (p && p->triggered < NAT_TRIGGERED_MAX) {
			bool known = false;

			for (size_t i = 0; i < p->n_targets; i++)
				known |= ep_equal(&p->targets[i].ep, from);
			if (!known && p->n_targets < NAT_TARGETS_MAX) {
				struct nat_target *t = &p->targets[p->n_targets++];
				char name[CHECK_USER_LEN + 1];

				t->ep = *from;
				t->kind = 0;
				new_txid(t->txid);
				p->triggered++;
				check_user(nat, p, t->txid, name);
				send_request(nat, from, t->txid, name);
				nat->checks_sent++;
			}
		}
	}
	pthread_mutex_unlock(&nat->lock);
	if (!allow)
		return;
	/* never more bytes back than came in: no amplification for a spoofed source */
	olen = ov_stun_binding_answer(buf, len, from, out, sizeof(out));
	if (olen <= 0) {
		pthread_mutex_lock(&nat->lock);
		nat->stun_refused++;
		pthread_mutex_unlock(&nat->lock);
		return;
	}
	dp_device_send_raw(nat->n->dev, from, out, (size_t)olen);
	pthread_mutex_lock(&nat->lock);
	nat->stun_answered++;
	pthread_mutex_unlock(&nat->lock);
}

/* A success response: one of our reflexive requests, or a check. nat->lock held. */
static void on_success(struct dmn_nat *nat, const struct ov_stun_msg *m,
		       const struct wg_endpoint *from, uint64_t ms)
{
	const struct wg_endpoint *mapped =
		m->has_xor_mapped ? &m->xor_mapped : m->has_mapped ? &m->mapped : NULL;

	for (size_t i = 0; i < nat->n_reflex; i++) {
		struct nat_reflex *r = &nat->reflex[i];

		if (!r->sent || memcmp(r->txid, m->txid, OV_STUN_TXID_LEN) ||
		    !ep_equal(&r->server, from) || !mapped)
			continue;
		r->answered = true;
		r->has_mapped = true;
		r->mapped = *mapped;
		r->tries = 0;
		r->sent = 0;
		r->next = ms + (nat->reflex_fast ? NAT_REFLEX_FAST_MS : NAT_REFLEX_INTERVAL_MS);
		new_txid(r->txid); /* the next request is a new transaction */
		pthread_cond_signal(&nat->cond);
		return;
	}
	for (size_t i = 0; i < nat->n_peers; i++) {
		struct nat_peer *p = &nat->peers[i];

		for (size_t k = 0; k < p->n_targets; k++) {
			struct nat_target *t = &p->targets[k];
			int prio;

			if (memcmp(t->txid, m->txid, OV_STUN_TXID_LEN) || !ep_equal(&t->ep, from))
				continue;
			prio = cand_prio(t->kind);
			nat->checks_won++;
			if (!p->won || prio > p->won_prio) {
				p->won = true;
				p->won_new = true;
				p->won_ep = t->ep;
				p->won_prio = prio;
				pthread_cond_signal(&nat->cond);
			}
			return;
		}
	}
}

/* The device's hook: STUN on the WireGuard socket. false for anything else (the device
 * counts it as a drop). */
static bool nat_foreign(void *ctx, const uint8_t *buf, size_t len, const struct wg_endpoint *from)
{
	struct dmn_nat *nat = ctx;
	struct ov_stun_msg m;
	uint64_t now = now_ns();

	if (!ov_stun_is_stun(buf, len) || ov_stun_parse(buf, len, &m, NULL, 0)) {
		pthread_mutex_lock(&nat->lock);
		nat->stun_bad++;
		pthread_mutex_unlock(&nat->lock);
		return false;
	}
	if (m.cls == OV_STUN_REQUEST) {
		on_request(nat, buf, len, &m, from, now);
	} else if (m.cls == OV_STUN_SUCCESS && m.method == OV_STUN_BINDING) {
		pthread_mutex_lock(&nat->lock);
		on_success(nat, &m, from, now / 1000000);
		pthread_mutex_unlock(&nat->lock);
	}
	/* errors and indications: nothing of ours asks for them on this socket */
	return true;
}

/* --- this node's candidates --------------------------------------------------------------------- */

static void reflex_servers(struct dmn_nat *nat, const struct wg_endpoint *stun, size_t n_stun)
{
	struct dmn_node *n = nat->n;
	struct nat_reflex old[NAT_REFLEX_MAX];
	size_t n_old = nat->n_reflex, k = 0;

	memcpy(old, nat->reflex, sizeof(old));
	if (n->st.role == OV_ROLE_MEMBER && n->st.leader.has_endpoint) {
		memset(&nat->reflex[k], 0, sizeof(nat->reflex[k]));
		ep_from_ov(&n->st.leader.endpoint, &nat->reflex[k++].server);
	}
	for (size_t i = 0; i < n_stun && k < NAT_REFLEX_MAX; i++) {
		memset(&nat->reflex[k], 0, sizeof(nat->reflex[k]));
		nat->reflex[k++].server = stun[i];
	}
	/* a server we had keeps what it told us */
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < n_old; j++)
			if (ep_equal(&old[j].server, &nat->reflex[i].server))
				nat->reflex[i] = old[j];
	for (size_t i = 0; i < k; i++)
		if (!nat->reflex[i].sent && !nat->reflex[i].next)
			new_txid(nat->reflex[i].txid);
	nat->n_reflex = k;
}

static bool is_host_addr(const struct dmn_nat *nat, const struct wg_endpoint *e)
{
	for (size_t i = 0; i < nat->n_host; i++)
		if ((int)e->family == nat->host[i].family &&
		    !memcmp(e->addr, nat->host[i].addr, e->family == WG_AF_INET6 ? 16 : 4))
			return true;
	return false;
}

static bool paths_add(struct dmn_paths *p, enum dmn_cand_kind kind, const struct wg_endpoint *e)
{
	struct dmn_cand c = {.kind = kind};

	if (p->n_cand == DMN_CAND_MAX)
		return false;
	ep_to_ov(e, &c.ep);
	for (size_t i = 0; i < p->n_cand; i++)
		if (!memcmp(&p->cand[i].ep, &c.ep, sizeof(c.ep)))
			return false;
	p->cand[p->n_cand++] = c;
	return true;
}

/* The host and reflexive candidates (what checks go to) differ. */
static bool checkable_differ(const struct dmn_paths *a, const struct dmn_paths *b)
{
	size_t na = 0, nb = 0;

	for (size_t i = 0; i < a->n_cand; i++) {
		bool found = false;

		if (a->cand[i].kind == DMN_CAND_RELAY)
			continue;
		na++;
		for (size_t k = 0; k < b->n_cand && !found; k++)
			found = b->cand[k].kind == a->cand[i].kind &&
				!memcmp(&b->cand[k].ep, &a->cand[i].ep, sizeof(b->cand[k].ep));
		if (!found)
			return true;
	}
	for (size_t k = 0; k < b->n_cand; k++)
		nb += b->cand[k].kind != DMN_CAND_RELAY;
	return na != nb;
}

/* A server-reflexive candidate of before is gone (not: one was added to none). */
static bool reflexive_moved(const struct dmn_paths *before, const struct dmn_paths *now)
{
	for (size_t i = 0; i < before->n_cand; i++) {
		bool kept = false;

		if (before->cand[i].kind != DMN_CAND_SRFLX)
			continue;
		for (size_t k = 0; k < now->n_cand && !kept; k++)
			kept = now->cand[k].kind == DMN_CAND_SRFLX &&
			       !memcmp(&now->cand[k].ep, &before->cand[i].ep, sizeof(now->cand[k].ep));
		if (!kept)
			return true;
	}
	return false;
}

/* Our candidates and NAT type from what we know now. nat->lock held. */
static void compute_mine(struct dmn_nat *nat, const struct dmn_relay_status *rs)
{
	struct dmn_paths p = {0};
	uint16_t port = dp_device_port(nat->n->dev);
	size_t answered = 0;
	bool differ = false, none = false;
	const struct wg_endpoint *first = NULL;

	snprintf(p.node, sizeof(p.node), "%s", nat->n->st.self.name);
	for (size_t i = 0; i < nat->n_host; i++) {
		struct wg_endpoint e = {.family = nat->host[i].family, .port = port};

		memcpy(e.addr, nat->host[i].addr, 16);
		paths_add(&p, DMN_CAND_HOST, &e);
	}
	for (size_t i = 0; i < nat->n_reflex; i++) {
		const struct nat_reflex *r = &nat->reflex[i];

		if (!r->has_mapped)
			continue;
		answered++;
		if (is_host_addr(nat, &r->mapped)) {
			none = true;
			continue; /* not behind a NAT toward this server */
		}
		if (first && !ep_equal(first, &r->mapped))
			differ = true;
		if (!first)
			first = &r->mapped;
		paths_add(&p, DMN_CAND_SRFLX, &r->mapped);
	}
	if (rs && rs->state == DMN_RELAY_ALLOCATED)
		paths_add(&p, DMN_CAND_RELAY, &rs->relayed);
	if (none && !first)
		p.nat = DMN_NAT_NONE;
	else if (differ)
		p.nat = DMN_NAT_EDM;
	else if (answered >= 2)
		p.nat = DMN_NAT_EIM;
	else
		p.nat = DMN_NAT_UNKNOWN;
	nat->nat_type = p.nat;
	/* our own public address changed (a NAT rebooted, the uplink moved): every peer is
	 * checked again, as the ones sending to the old one will not find us */
	if (checkable_differ(&nat->mine, &p))
		nat->mine_changed_ms = dmn_now_ms();
	if (reflexive_moved(&nat->mine, &p))
		for (size_t i = 0; i < nat->n_peers; i++) {
			nat->peers[i].recheck = true;
			nat->peers[i].next_round = 0;
		}
	nat->mine = p;
}

/* --- peers ---------------------------------------------------------------------------------- */

/* The peers of the view, with their paths; state kept for those we had. */
static void sync_peers(struct dmn_nat *nat, const struct dmn_view *v, const char *self)
{
	struct nat_peer *np = calloc(v->n_nodes ? v->n_nodes : 1, sizeof(*np));
	size_t k = 0;

	if (!np)
		return;
	for (size_t i = 0; i < v->n_nodes; i++) {
		const struct ov_peer *o = &v->nodes[i];
		const struct dmn_paths *pt = dmn_view_paths(v, o->name);
		struct nat_peer *p = &np[k], *old;

		if (!strcmp(o->name, self))
			continue;
		old = peer_by_name(nat, o->name, strlen(o->name));
		if (old && !memcmp(old->key, o->public_key, OV_KEY_LEN)) {
			bool changed = !pt || !dmn_paths_equal(pt, &old->paths);

			*p = *old;
			/* new candidates (it moved, its NAT rebooted): a round now, whatever
			 * the backoff said, and even on a path that looks direct */
			if (changed && pt) {
				p->next_round = 0;
				p->recheck = true;
				if (checkable_differ(pt, &old->paths))
					p->paths_changed_ms = dmn_now_ms();
			}
		} else {
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "%s", o->name);
			memcpy(p->key, o->public_key, OV_KEY_LEN);
			snprintf(p->reason, sizeof(p->reason), "not checked yet");
			p->paths_changed_ms = dmn_now_ms();
			p->has_check_key = !check_key(nat->n, o->public_key, p->check_key);
		}
		memset(&p->paths, 0, sizeof(p->paths));
		if (pt)
			p->paths = *pt;
		k++;
	}
	free(nat->peers);
	nat->peers = np;
	nat->n_peers = k;
}

static const struct wg_endpoint *relay_of(const struct nat_peer *p, struct wg_endpoint *buf)
{
	for (size_t i = 0; i < p->paths.n_cand; i++)
		if (p->paths.cand[i].kind == DMN_CAND_RELAY) {
			ep_from_ov(&p->paths.cand[i].ep, buf);
			return buf;
		}
	return NULL;
}

static bool peer_has_targets(const struct nat_peer *p)
{
	for (size_t i = 0; i < p->paths.n_cand; i++)
		if (p->paths.cand[i].kind != DMN_CAND_RELAY)
			return true;
	return false;
}

/* Start a round of checks to p's candidates. nat->lock held. */
static void round_start(struct dmn_nat *nat, struct nat_peer *p, uint64_t ms)
{
	p->n_targets = 0;
	p->triggered = 0;
	p->round_reflexive = false;
	p->won = false;
	p->won_new = false;
	p->won_prio = 0;
	/* host candidates first: on one LAN they answer before a hairpin through the NAT */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->paths.n_cand; i++) {
			const struct dmn_cand *c = &p->paths.cand[i];
			struct nat_target *t;

			if (c->kind != (pass ? DMN_CAND_SRFLX : DMN_CAND_HOST) ||
			    p->n_targets == NAT_TARGETS_MAX)
				continue;
			t = &p->targets[p->n_targets++];
			ep_from_ov(&c->ep, &t->ep);
			t->kind = c->kind;
			new_txid(t->txid);
			p->round_reflexive |= c->kind == DMN_CAND_SRFLX;
		}
	log_debug("nat: %s: checking %zu address(es)", p->name, p->n_targets);
	p->round_start = ms;
	p->round_until = ms + NAT_ROUND_MS;
	p->next_check = ms;
	p->checks_sent = 0;
	p->next_round = ms + NAT_ROUND_MIN_GAP_MS;
}

/* Send the round's checks that are due. nat->lock held. */
static void round_checks(struct dmn_nat *nat, struct nat_peer *p, uint64_t ms)
{
	char name[CHECK_USER_LEN + 1];

	if (p->round_until <= ms || p->next_check > ms || p->checks_sent >= NAT_CHECKS_PER_ROUND)
		return;
	for (size_t i = 0; i < p->n_targets; i++) {
		check_user(nat, p, p->targets[i].txid, name);
		send_request(nat, &p->targets[i].ep, p->targets[i].txid,
			     p->has_check_key ? name : NULL);
		nat->checks_sent++;
	}
	p->checks_sent++;
	p->next_check = ms + NAT_CHECK_INTERVAL_MS;
}

/* Why a round found no path, for `weft peers`. */
static void explain(struct dmn_nat *nat, struct nat_peer *p)
{
	if (!peer_has_targets(p))
		snprintf(p->reason, sizeof(p->reason), "%s has published no address to check",
			 p->name);
	else if (p->paths.nat == DMN_NAT_EDM && nat->nat_type == DMN_NAT_EDM)
		snprintf(p->reason, sizeof(p->reason),
			 "endpoint-dependent NAT on both sides (symmetric): no mapping to aim at");
	else if (!nat->n_reflex || nat->nat_type == DMN_NAT_UNKNOWN)
		snprintf(p->reason, sizeof(p->reason),
			 "no checks answered; this node has no reflexive address (UDP blocked?)");
	else
		snprintf(p->reason, sizeof(p->reason),
			 "no checks answered (UDP between the two blocked, or a NAT that filters)");
}

/* --- the thread ----------------------------------------------------------------------------- */

/* A request to the leader with a short deadline: the thread makes at most a few blocking
 * calls per pass, so stopping never waits long for a leader that is away. */
static int nat_ask_leader(struct dmn_node *n, const struct dmn_request *q, uint8_t *ret_type,
			  json_t **ret, char *err, size_t errlen)
{
	return dmn_ask_leader_within(n, q, NAT_CALL_TIMEOUT_MS, ret_type, ret, err, errlen);
}

static void nat_permits(struct dmn_nat *nat);

/* The NAT settings: the leader's own state, or asked of the leader. Lock not held. */
static void fetch_config(struct dmn_nat *nat, uint64_t ms)
{
	struct dmn_node *n = nat->n;
	struct wg_endpoint stun[OV_NAT_STUN_MAX];
	size_t n_stun = 0;
	json_t *reply = NULL;
	char err[256] = "";
	bool ok = false;
	struct dmn_relay_config turn = {0};
	bool turn_set = false;
	uint64_t expires = 0;

	if (n->st.role == OV_ROLE_LEADER) {
		for (size_t i = 0; i < n->st.nat.n_stun; i++)
			ep_from_ov(&n->st.nat.stun[i], &stun[n_stun++]);
		if (n->st.nat.has_turn &&
		    !dmn_nat_turn_credentials(n, n->st.self.name, &turn, &expires)) {
			turn_set = true;
		}
		ok = true;
	} else {
		struct dmn_request q = {.op = DMN_OP_NAT_CONFIG};
		uint8_t type;

		struct dmn_nat_config c;

		if (nat_ask_leader(n, &q, &type, &reply, err, sizeof(err)) ||
		    type != DMN_CTL_REPLY ||
		    dmn_nat_config_from_json(reply, &c, err, sizeof(err))) {
			log_debug("nat: settings from the leader: %s", err[0] ? err : "no reply");
		} else {
			for (size_t i = 0; i < c.n_stun; i++)
				ep_from_ov(&c.stun[i], &stun[n_stun++]);
			if (c.has_turn) {
				ep_from_ov(&c.turn, &turn.server);
				snprintf(turn.user, sizeof(turn.user), "%s", c.user);
				snprintf(turn.pass, sizeof(turn.pass), "%s", c.password);
				expires = c.expires;
				turn_set = true;
			}
			crypto_wipe(&c, sizeof(c));
			ok = true;
		}
		json_decref(reply);
	}
	pthread_mutex_lock(&nat->lock);
	if (ok) {
		nat->have_config = true;
		reflex_servers(nat, stun, n_stun);
		nat->next_config = ms + NAT_CONFIG_REFRESH_MS;
	} else {
		nat->next_config = ms + NAT_CONFIG_RETRY_MS;
	}
	pthread_mutex_unlock(&nat->lock);
	if (!ok)
		goto out;
	turn.wg_port = dp_device_port(n->dev);
	if (turn_set && !nat->relay) {
		char s[DMN_ENDPOINT_STRLEN];
		struct dmn_relay *relay = NULL;
		int r = dmn_relay_start(&turn, &relay);

		if (r)
			log_error("nat: relay through %s: %s", dmn_endpoint_str(&turn.server, s),
				  strerror(-r));
		pthread_mutex_lock(&nat->lock);
		nat->relay = relay;
		nat_permits(nat);
		pthread_mutex_unlock(&nat->lock);
	} else if (turn_set) {
		dmn_relay_set_credentials(nat->relay, turn.user, turn.pass);
	} else if (!turn_set && nat->relay) {
		struct dmn_relay *old = nat->relay;

		pthread_mutex_lock(&nat->lock);
		nat->relay = NULL;
		pthread_mutex_unlock(&nat->lock);
		dmn_relay_free(old);
	}
	nat->turn = turn;
out:
	crypto_wipe(&turn, sizeof(turn));
}

/* STUN to the servers that are due. nat->lock held. */
static void reflex_tick(struct dmn_nat *nat, uint64_t ms)
{
	for (size_t i = 0; i < nat->n_reflex; i++) {
		struct nat_reflex *r = &nat->reflex[i];

		if (r->sent && ms - r->sent >= NAT_REFLEX_RTO_MS) {
			if (++r->tries >= NAT_REFLEX_TRIES) {
				char s[DMN_ENDPOINT_STRLEN];

				if (r->answered || r->has_mapped)
					log_info("nat: STUN server %s stopped answering",
						 dmn_endpoint_str(&r->server, s));
				r->answered = false;
				r->has_mapped = false;
				r->sent = 0;
				r->tries = 0;
				r->next = ms + NAT_REFLEX_INTERVAL_MS / 5;
				new_txid(r->txid);
				continue;
			}
			send_request(nat, &r->server, r->txid, NULL); /* same transaction */
			r->sent = ms;
		} else if (!r->sent && r->next <= ms) {
			send_request(nat, &r->server, r->txid, NULL);
			r->sent = ms;
		}
	}
}

/* Tell the other end to punch now (through the leader, or from it). Lock not held. */
static void ask_punch(struct dmn_nat *nat, const char *peer)
{
	struct dmn_node *n = nat->n;
	struct dmn_request q = {.op = DMN_OP_PUNCH};
	json_t *reply = NULL;
	char err[256] = "";
	uint8_t type;

	snprintf(q.name, sizeof(q.name), "%s", peer);
	if (n->st.role == OV_ROLE_LEADER)
		dmn_nat_punch_order(n, peer, n->st.self.name);
	else if (nat_ask_leader(n, &q, &type, &reply, err, sizeof(err)))
		log_debug("nat: punch with %s through the leader: %s", peer, err);
	json_decref(reply);
}

/*
 * The health checker's verdict per peer (its probes cross the tunnel every few seconds, so a
 * path that stopped carrying is seen long before the handshake ages out). Its table is in
 * view order like ours. Node lock and nat->lock held.
 */
static void health_sync(struct dmn_nat *nat, const struct dmn_node *n)
{
	for (size_t i = 0; i < nat->n_peers; i++) {
		struct nat_peer *p = &nat->peers[i];
		const struct dmn_health *h = NULL;

		if (i < n->n_health && !strcmp(n->health[i].name, p->name))
			h = &n->health[i];
		for (size_t k = 0; !h && k < n->n_health; k++)
			if (!strcmp(n->health[k].name, p->name))
				h = &n->health[k];
		p->health_down = h && !h->healthy;
	}
}

/* The device's endpoint for each peer, read back: which path it is on. nat->lock held. */
static void classify(struct dmn_nat *nat, uint64_t ms)
{
	time_t wall = time(NULL);
	/* persistent keepalives (and health probes) come at least this often on a live path */
	uint64_t rx_window = 1000ull * (nat->n->st.keepalive ? nat->n->st.keepalive + 5u : 60u);
	bool all_direct = true;

	for (size_t i = 0; i < nat->n_peers; i++) {
		struct nat_peer *p = &nat->peers[i];
		struct dp_peer_stats st;
		enum nat_path path = NAT_PATH_NONE;
		struct wg_endpoint via = {0}, rb;
		const struct wg_endpoint *theirs;

		if (dp_device_peer_stats(nat->n->dev, p->key, &st))
			continue;
		if (st.has_endpoint != p->seen_has ||
		    (st.has_endpoint && !ep_equal(&st.endpoint, &p->seen_ep))) {
			p->seen_has = st.has_endpoint;
			p->seen_ep = st.endpoint;
			p->ep_changed_ms = ms;
		}
		if (st.rx_bytes != p->rx_bytes)
			p->rx_ms = ms;
		p->has_endpoint = st.has_endpoint;
		p->endpoint = st.endpoint;
		p->rx_bytes = st.rx_bytes;
		p->tx_bytes = st.tx_bytes;
		p->last_handshake_s = st.last_handshake_sec;
		theirs = relay_of(p, &rb);
		if (st.has_endpoint && ep_is_loopback(&st.endpoint) && nat->relay &&
		    dmn_relay_remote_of(nat->relay, &st.endpoint, NULL)) {
			struct dmn_relay_status rs;

			dmn_relay_status(nat->relay, &rs);
			via = rs.relayed;
			path = NAT_PATH_RELAY;
		} else if (st.has_endpoint && theirs && ep_equal(theirs, &st.endpoint)) {
			/* sent to the peer's relay: relayed once something came back through it */
			via = *theirs;
			if (p->rx_ms && p->rx_ms >= p->ep_changed_ms && ms - p->rx_ms < rx_window)
				path = NAT_PATH_RELAY;
		} else if (st.has_endpoint && st.last_handshake_sec && !p->health_down &&
			   (uint64_t)wall - st.last_handshake_sec < DMN_HANDSHAKE_HEALTHY_S &&
			   p->rx_ms && p->rx_ms >= p->ep_changed_ms && ms - p->rx_ms < rx_window) {
			path = NAT_PATH_DIRECT;
		}
		if (path != p->path) {
			char e[DMN_ENDPOINT_STRLEN], v[DMN_ENDPOINT_STRLEN];

			if (path == NAT_PATH_DIRECT)
				log_info("nat: %s: direct path %s", p->name,
					 dmn_endpoint_str(&st.endpoint, e));
			else if (path == NAT_PATH_RELAY)
				log_info("nat: %s: relayed via %s (%s)", p->name,
					 dmn_endpoint_str(&via, v), p->reason);
			else if (p->path != NAT_PATH_NONE)
				log_info("nat: %s: no working path (%s)", p->name, p->reason);
			p->path = path;
			p->since = ms;
			nat->permits_stale = true;
			if (path == NAT_PATH_DIRECT)
				p->reason[0] = '\0';
		}
		p->via = via;
		all_direct &= path == NAT_PATH_DIRECT;
	}
	/* a path just stopped working: ask the STUN servers now (our own mapping may have
	 * moved: a NAT rebooted, the uplink changed), then every NAT_REFLEX_FAST_MS */
	if (!all_direct && !nat->reflex_fast)
		for (size_t i = 0; i < nat->n_reflex; i++)
			if (!nat->reflex[i].sent)
				nat->reflex[i].next = ms;
	nat->reflex_fast = !all_direct;
}

/*
 * No direct path after a round: the relay. A pair uses the relay of the node with the
 * smaller name among those that have one; the other end sends to it straight from its
 * WireGuard socket, and the owner's device roams to the relay's forwarder when the first
 * packet comes through. Checked on every tick, so a relay published late is taken too.
 * nat->lock held.
 */
static void relay_fallback(struct dmn_nat *nat, struct nat_peer *p, uint64_t ms)
{
	struct wg_endpoint rb;
	const struct wg_endpoint *theirs = relay_of(p, &rb);
	bool mine = false;

	if (nat->relay) {
		struct dmn_relay_status rs;

		dmn_relay_status(nat->relay, &rs);
		mine = rs.state == DMN_RELAY_ALLOCATED;
	}
	if (!theirs || (mine && strcmp(p->name, nat->n->st.self.name) > 0))
		return; /* none, or ours: the peer comes to it */
	/* until packets come back through it, kick once a second: the first initiation may
	 * have met the relay before its owner had permitted our address */
	if (p->has_endpoint && ep_equal(&p->endpoint, theirs) &&
	    (p->path == NAT_PATH_RELAY || ms - p->kick_ms < NAT_ROUND_MIN_GAP_MS))
		return;
	dp_device_peer_endpoint(nat->n->dev, p->key, theirs, true);
	p->kick_ms = ms;
	p->endpoint = *theirs;
	p->has_endpoint = true;
}

/* One peer's rounds and verdicts. nat->lock held; may drop it (returns true then: the
 * caller restarts its walk, the peer array may have changed). */
static bool peer_tick(struct dmn_nat *nat, struct nat_peer *p, uint64_t ms)
{
	bool has_targets = peer_has_targets(p);
	/* a check won: use it now (a better one of the same round may follow) */
	if (p->won_new) {
		char e[DMN_ENDPOINT_STRLEN];

		p->won_new = false;
		log_debug("nat: %s answers at %s", p->name, dmn_endpoint_str(&p->won_ep, e));
		if (!p->has_endpoint || !ep_equal(&p->won_ep, &p->endpoint) ||
		    p->path != NAT_PATH_DIRECT)
			dp_device_peer_endpoint(nat->n->dev, p->key, &p->won_ep, true);
		p->endpoint = p->won_ep;
		p->has_endpoint = true;
		p->backoff = 0;
	}
	if (p->round_until) {
		round_checks(nat, p, ms);
		if (p->round_until > ms)
			return false;
		/* the verdict */
		p->round_until = 0;
		if (p->won) {
			/* the handshake on the new path gets a round's time before another */
			p->backoff = 0;
			p->next_round = ms + NAT_ROUND_MS;
			return false;
		}
		explain(nat, p);
		log_debug("nat: %s: no check answered (%s)", p->name, p->reason);
		p->failed_rounds++;
		/* A round says no direct path exists only if it checked a reflexive address and
		 * both ends had each other's addresses all along: our candidates and the peer's
		 * unchanged since a little before it started (a change makes the other end start
		 * a round of its own, with them). Else the relay after a second failure. */
		if ((p->round_reflexive &&
		     p->round_start >= p->paths_changed_ms + NAT_SETTLE_MS &&
		     p->round_start >= nat->mine_changed_ms + NAT_SETTLE_MS) ||
		    p->failed_rounds >= 2)
			p->relay_ok = true;
		/* endpoint-dependent mapping on both sides: no round can punch it */
		if (p->paths.nat == DMN_NAT_EDM && nat->nat_type == DMN_NAT_EDM)
			p->relay_ok = true;
		p->backoff = p->backoff ? p->backoff * 2 : NAT_BACKOFF_MIN_MS;
		if (p->backoff > NAT_BACKOFF_MAX_MS)
			p->backoff = NAT_BACKOFF_MAX_MS;
		/* candidates changed during the round: the next one at once, with them */
		p->next_round = p->recheck ? ms : ms + p->backoff;
	}
	if (p->path == NAT_PATH_DIRECT) {
		p->failed_rounds = 0;
		p->relay_ok = false;
	} else if (p->relay_ok && !p->won) {
		relay_fallback(nat, p, ms);
	}
	if ((p->path == NAT_PATH_DIRECT && !p->recheck) || !has_targets || ms < p->next_round)
		return false;
	p->recheck = false;
	/* no working direct path: a coordinated round (the other end is told to punch now) */
	p->next_round = ms + NAT_ROUND_MIN_GAP_MS;
	{
		char name[OV_ALLOC_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s", p->name);
		pthread_mutex_unlock(&nat->lock);
		ask_punch(nat, name);
		pthread_mutex_lock(&nat->lock);
		p = peer_by_name(nat, name, strlen(name));
		if (p && !p->round_until) /* the leader's order may have started one meanwhile */
			round_start(nat, p, dmn_now_ms());
	}
	return true;
}

/*
 * The relay lets in what comes from our peers' public (server-reflexive) addresses, those of
 * peers without a direct path first: a TURN allocation holds OV_TURN_MAX_PERMISSIONS IPs.
 * nat->lock held.
 */
static void nat_permits(struct dmn_nat *nat)
{
	struct wg_endpoint ips[OV_TURN_MAX_PERMISSIONS];
	size_t k = 0;

	if (!nat->relay)
		return;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nat->n_peers; i++) {
			const struct nat_peer *p = &nat->peers[i];

			if ((p->path == NAT_PATH_DIRECT) != (pass == 1))
				continue;
			for (size_t c = 0; c < p->paths.n_cand && k < OV_TURN_MAX_PERMISSIONS; c++) {
				struct wg_endpoint e;
				bool dup = false;

				if (p->paths.cand[c].kind != DMN_CAND_SRFLX)
					continue;
				ep_from_ov(&p->paths.cand[c].ep, &e);
				for (size_t j = 0; j < k; j++)
					dup |= ep_same_ip(&ips[j], &e);
				if (!dup)
					ips[k++] = e;
			}
		}
	dmn_relay_permit(nat->relay, ips, k);
}

/* Our paths to the leader when they changed (or it lost them). Lock not held. */
static void publish_mine(struct dmn_nat *nat, uint64_t ms)
{
	struct dmn_node *n = nat->n;
	struct dmn_paths mine;
	bool due, in_view;
	char err[256] = "";
	int r;

	pthread_mutex_lock(&n->lock);
	{
		const struct dmn_paths *v = dmn_view_paths(&n->view, n->st.self.name);

		pthread_mutex_lock(&nat->lock);
		in_view = v && dmn_paths_equal(v, &nat->mine);
		pthread_mutex_unlock(&nat->lock);
	}
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_lock(&nat->lock);
	mine = nat->mine;
	/* at once when they changed (a failed send waits NAT_PATHS_RETRY_MS); again when the
	 * view does not show them after a while; and every NAT_PATHS_RESEND_MS regardless */
	due = ms >= nat->next_paths ||
	      ((!nat->sent_ok || !dmn_paths_equal(&mine, &nat->sent)) && ms >= nat->retry_paths) ||
	      (!in_view && ms >= nat->check_paths);
	pthread_mutex_unlock(&nat->lock);
	if (!due || !nat->have_config)
		return;
	if (n->st.role == OV_ROLE_LEADER) {
		r = dmn_nat_lead_paths(n, &mine);
	} else {
		struct dmn_request q = {.op = DMN_OP_PATHS, .paths = mine};
		json_t *reply = NULL;
		uint8_t type;

		r = nat_ask_leader(n, &q, &type, &reply, err, sizeof(err));
		json_decref(reply);
	}
	pthread_mutex_lock(&nat->lock);
	if (r < 0) {
		log_debug("nat: our candidates to the leader: %s", err[0] ? err : strerror(-r));
		nat->retry_paths = ms + NAT_PATHS_RETRY_MS;
		nat->check_paths = ms + NAT_PATHS_RETRY_MS;
	} else {
		char cs[OV_ENDPOINT_STRLEN + 8], line[512] = "";
		size_t off = 0;

		if (!nat->sent_ok || !dmn_paths_equal(&mine, &nat->sent)) {
			for (size_t i = 0; i < mine.n_cand && off < sizeof(line) - 80; i++) {
				dmn_cand_format(&mine.cand[i], cs);
				off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
							i ? ", " : "", cs);
			}
			log_info("nat: this node's candidates: %s; NAT: %s", off ? line : "none",
				 dmn_nat_type_name(mine.nat));
		}
		nat->sent = mine;
		nat->sent_ok = true;
		nat->retry_paths = 0;
		/* the view shows them once the leader published: look after a while */
		nat->check_paths = ms + NAT_PATHS_RETRY_MS;
		nat->next_paths = ms + NAT_PATHS_RESEND_MS;
	}
	pthread_mutex_unlock(&nat->lock);
}

/* Something is due within an idle tick: a round, a STUN retry, a punch order. nat->lock
 * held. */
static bool nat_busy(const struct dmn_nat *nat, uint64_t ms)
{
	if (nat->n_tells)
		return true;
	for (size_t i = 0; i < nat->n_reflex; i++)
		if (nat->reflex[i].sent || nat->reflex[i].next < ms + NAT_IDLE_TICK_MS)
			return true;
	for (size_t i = 0; i < nat->n_peers; i++) {
		const struct nat_peer *p = &nat->peers[i];

		if (p->round_until || p->won_new ||
		    ((p->path != NAT_PATH_DIRECT || p->recheck) && peer_has_targets(p) &&
		     p->next_round < ms + NAT_IDLE_TICK_MS))
			return true;
	}
	return false;
}

static void *nat_main(void *arg)
{
	struct dmn_nat *nat = arg;
	struct dmn_node *n = nat->n;

	for (;;) {
		uint64_t ms = dmn_now_ms();
		struct dmn_relay_status rs;
		bool have_rs = false;
		struct timespec until;

		if (ms >= nat->next_config && !n->removed && !__atomic_load_n(&nat->stop, __ATOMIC_RELAXED))
			fetch_config(nat, ms);
		if (nat->relay) {
			dmn_relay_status(nat->relay, &rs);
			have_rs = true;
		}
		/* the view's peers */
		pthread_mutex_lock(&n->lock);
		pthread_mutex_lock(&nat->lock);
		if (!nat->view_synced || n->view.generation != nat->view_gen) {
			sync_peers(nat, &n->view, n->st.self.name);
			nat->view_gen = n->view.generation;
			nat->view_synced = true;
			nat_permits(nat);
		}
		if (ms >= nat->next_classify)
			health_sync(nat, n);
		pthread_mutex_unlock(&n->lock);
		if (ms >= nat->next_host) {
			plat_netif_host_addresses(n->opt.ifname, nat->host, DMN_CAND_MAX,
						  &nat->n_host);
			nat->next_host = ms + NAT_HOST_INTERVAL_MS;
		}
		reflex_tick(nat, ms);
		compute_mine(nat, have_rs ? &rs : NULL);
		if (ms >= nat->next_classify) {
			classify(nat, ms);
			nat->next_classify = ms + NAT_CLASSIFY_MS;
		}
		if (nat->permits_stale) {
			nat->permits_stale = false;
			nat_permits(nat);
		}
		/* one punch order per pass (it blocks on the leader): the rest wait a tick */
		for (size_t i = 0; i < nat->n_peers && !nat->stop; i++)
			if (peer_tick(nat, &nat->peers[i], dmn_now_ms()))
				break;
		if (nat->stop) {
			pthread_mutex_unlock(&nat->lock);
			break;
		}
		pthread_mutex_unlock(&nat->lock);
		if (!__atomic_load_n(&nat->stop, __ATOMIC_RELAXED))
			publish_mine(nat, ms);
		for (unsigned k = 0; k < NAT_TELLS_PER_PASS; k++) {
			char to[OV_ALLOC_NAME_MAX + 1], about[OV_ALLOC_NAME_MAX + 1];

			pthread_mutex_lock(&nat->lock);
			if (!nat->n_tells || nat->stop) {
				pthread_mutex_unlock(&nat->lock);
				break;
			}
			snprintf(to, sizeof(to), "%s", nat->tells[0].to);
			snprintf(about, sizeof(about), "%s", nat->tells[0].about);
			memmove(&nat->tells[0], &nat->tells[1], --nat->n_tells * sizeof(nat->tells[0]));
			pthread_mutex_unlock(&nat->lock);
			dmn_nat_tell_punch(n, to, about);
		}
		pthread_mutex_lock(&nat->lock);
		until = dmn_deadline_in(nat_busy(nat, dmn_now_ms()) ? NAT_TICK_MS : NAT_IDLE_TICK_MS);
		if (!nat->stop)
			pthread_cond_timedwait(&nat->cond, &nat->lock, &until);
		if (nat->stop) {
			pthread_mutex_unlock(&nat->lock);
			break;
		}
		pthread_mutex_unlock(&nat->lock);
	}
	return NULL;
}

/* --- the node's interface (node.h) ----------------------------------------------------------- */

int dmn_nat_start(struct dmn_node *n)
{
	struct dmn_nat *nat = calloc(1, sizeof(*nat));
	pthread_condattr_t ca;
	uint8_t seed[16];
	int r;

	if (!nat)
		return -ENOMEM;
	nat->n = n;
	crypto_random(seed, sizeof(seed));
	r = wg_ratelimiter_init(&nat->rl, 4096, seed);
	if (r) {
		free(nat);
		return r;
	}
	pthread_mutex_init(&nat->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nat->cond, &ca);
	pthread_condattr_destroy(&ca);
	n->nat = nat;
	dp_device_set_foreign(n->dev, nat_foreign, nat);
	r = -pthread_create(&nat->thread, NULL, nat_main, nat);
	if (r) {
		dp_device_set_foreign(n->dev, NULL, NULL);
		n->nat = NULL;
		wg_ratelimiter_done(&nat->rl);
		free(nat);
		return r;
	}
	nat->live = true;
	return 0;
}

void dmn_nat_stop(struct dmn_node *n)
{
	struct dmn_nat *nat = n->nat;

	if (!nat)
		return;
	pthread_mutex_lock(&nat->lock);
	nat->stop = true;
	pthread_cond_signal(&nat->cond);
	pthread_mutex_unlock(&nat->lock);
	if (nat->live)
		pthread_join(nat->thread, NULL);
}

/* After the device is gone (its hook may run until then). */
void dmn_nat_free(struct dmn_node *n)
{
	struct dmn_nat *nat = n->nat;

	if (!nat)
		return;
	dmn_relay_free(nat->relay);
	wg_ratelimiter_done(&nat->rl);
	free(nat->peers);
	crypto_wipe(&nat->turn, sizeof(nat->turn));
	pthread_cond_destroy(&nat->cond);
	pthread_mutex_destroy(&nat->lock);
	free(nat);
	n->nat = NULL;
}

void dmn_nat_punch(struct dmn_node *n, const char *peer)
{
	struct dmn_nat *nat = n->nat;
	struct nat_peer *p;
	uint64_t ms = dmn_now_ms();

	if (!nat)
		return;
	pthread_mutex_lock(&nat->lock);
	p = peer_by_name(nat, peer, strlen(peer));
	/* at most one round per NAT_ROUND_MIN_GAP_MS per peer, whoever asks */
	if (p && peer_has_targets(p) && !p->round_until && (!p->round_start || ms - p->round_start >= NAT_ROUND_MIN_GAP_MS)) {
		round_start(nat, p, ms);
		pthread_cond_signal(&nat->cond);
	}
	pthread_mutex_unlock(&nat->lock);
}

int dmn_nat_tell_punch(struct dmn_node *n, const char *to, const char *about)
{
	struct dmn_request q = {.op = DMN_OP_PUNCH};
	struct ov_peer peer;
	const struct ov_peer *p;
	json_t *j, *reply = NULL;
	char err[256] = "";
	uint8_t type;
	int r;

	pthread_mutex_lock(&n->lock);
	p = dmn_view_node(&n->view, to);
	if (p)
		peer = *p;
	pthread_mutex_unlock(&n->lock);
	if (!p)
		return -ENOENT;
	snprintf(q.name, sizeof(q.name), "%s", about);
	j = dmn_request_to_json(&q);
	if (!j)
		return -ENOMEM;
	r = dmn_overlay_call(n, &peer, j, &type, &reply, NAT_CALL_TIMEOUT_MS, err, sizeof(err));
	if (r)
		log_debug("nat: telling %s to punch with %s: %s", to, about, err);
	json_decref(j);
	json_decref(reply);
	return r;
}

int dmn_nat_turn_credentials(struct dmn_node *n, const char *node, struct dmn_relay_config *ret,
			     uint64_t *ret_expires)
{
	const struct ov_nat_config *c = &n->st.nat;

	if (!c->has_turn)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ep_from_ov(&c->turn, &ret->server);
	if (c->turn_secret[0]) {
		uint64_t expires = (uint64_t)time(NULL) + DMN_TURN_CREDENTIAL_TTL_S;
		int r = ov_turn_rest_credentials(c->turn_secret, node, expires, ret->user,
						 ret->pass);

		if (r)
			return r;
		*ret_expires = expires;
	} else {
		snprintf(ret->user, sizeof(ret->user), "%s", c->turn_user);
		snprintf(ret->pass, sizeof(ret->pass), "%s", c->turn_password);
		*ret_expires = 0;
	}
	return 0;
}

json_t *dmn_nat_peers_json(struct dmn_node *n)
{
	struct dmn_nat *nat = n->nat;
	json_t *j = json_object(), *peers = json_array(), *refl = json_array(), *relay;
	char s[DMN_ENDPOINT_STRLEN];
	uint64_t ms = dmn_now_ms();
	int bad = !j || !peers || !refl;

	if (bad || !nat) {
		json_decref(j);
		json_decref(peers);
		json_decref(refl);
		return NULL;
	}
	pthread_mutex_lock(&nat->lock);
	if (nat->relay) {
		struct dmn_relay_status rs;
		char rl[DMN_ENDPOINT_STRLEN] = "";

		dmn_relay_status(nat->relay, &rs);
		if (rs.state == DMN_RELAY_ALLOCATED)
			dmn_endpoint_str(&rs.relayed, rl);
		relay = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "server",
				  dmn_endpoint_str(&nat->turn.server, s), "state",
				  rs.state == DMN_RELAY_ALLOCATED ? "allocated"
				  : rs.state == DMN_RELAY_FAILED  ? "failed"
								  : "connecting",
				  "relayed", rl, "error", rs.error, "bytes_to_peers",
				  (json_int_t)rs.bytes_to_peers, "bytes_from_peers",
				  (json_int_t)rs.bytes_from_peers, "packets_to_peers",
				  (json_int_t)rs.packets_to_peers, "packets_from_peers",
				  (json_int_t)rs.packets_from_peers);
	} else {
		relay = json_pack("{s:s}", "state", "off");
	}
	for (size_t i = 0; i < nat->n_reflex; i++)
		if (nat->reflex[i].has_mapped) {
			char m[DMN_ENDPOINT_STRLEN];

			bad |= json_array_append_new(refl, json_pack("{s:s, s:s}", "server",
					     dmn_endpoint_str(&nat->reflex[i].server, s), "mapped",
					     dmn_endpoint_str(&nat->reflex[i].mapped, m)));
		}
	for (size_t i = 0; i < nat->n_peers && !bad; i++) {
		const struct nat_peer *p = &nat->peers[i];
		char e[DMN_ENDPOINT_STRLEN], v[DMN_ENDPOINT_STRLEN];
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "name", p->name, "path",
			path_names[p->path], "endpoint",
			p->has_endpoint ? dmn_endpoint_str(&p->endpoint, e) : "", "since_s",
			(json_int_t)(p->since ? (ms - p->since) / 1000 : 0), "reason",
			p->path == NAT_PATH_DIRECT ? "" : p->reason, "last_handshake_s",
			(json_int_t)p->last_handshake_s, "rx_bytes", (json_int_t)p->rx_bytes,
			"tx_bytes", (json_int_t)p->tx_bytes);

		if (o && p->path == NAT_PATH_RELAY)
			json_object_set_new(o, "via", json_string(dmn_endpoint_str(&p->via, v)));
		if (o)
			json_object_set_new(o, "peer_nat",
					    json_string(dmn_nat_type_name(p->paths.nat)));
		bad |= json_array_append_new(peers, o);
	}
	bad |= json_object_set_new(j, "type", json_string(dmn_nat_type_name(nat->nat_type)));
	bad |= json_object_set_new(j, "stun", json_pack("{s:I, s:I, s:I, s:I, s:I}", "answered",
		(json_int_t)nat->stun_answered, "refused", (json_int_t)nat->stun_refused, "bad",
		(json_int_t)nat->stun_bad, "checks_sent", (json_int_t)nat->checks_sent,
		"checks_answered", (json_int_t)nat->checks_won));
	pthread_mutex_unlock(&nat->lock);
	bad |= json_object_set_new(j, "reflexive", refl);
	bad |= json_object_set_new(j, "relay", relay);
	bad |= json_object_set_new(j, "peers", peers);
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int dmn_nat_lead_paths(struct dmn_node *n, const struct dmn_paths *p)
{
	struct dmn_paths *a;
	int r = 1;

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->n_lead_paths; i++)
		if (!strcmp(n->lead_paths[i].node, p->node)) {
			r = !dmn_paths_equal(&n->lead_paths[i], p);
			n->lead_paths[i] = *p;
			goto out;
		}
	if (n->n_lead_paths >= OV_ALLOC_MAX_NODES) {
		/* forget those of nodes no longer in the view */
		size_t k = 0;

		for (size_t i = 0; i < n->n_lead_paths; i++)
			if (dmn_view_node(&n->view, n->lead_paths[i].node))
				n->lead_paths[k++] = n->lead_paths[i];
		n->n_lead_paths = k;
		if (k >= OV_ALLOC_MAX_NODES) {
			r = -ENOSPC;
			goto out;
		}
	}
	a = realloc(n->lead_paths, (n->n_lead_paths + 1) * sizeof(*a));
	if (!a) {
		r = -ENOMEM;
		goto out;
	}
	n->lead_paths = a;
	a[n->n_lead_paths++] = *p;
out:
	/* the leader's own: node.c publishes (this file is below lead.c) */
	if (r > 0 && !strcmp(p->node, n->st.self.name))
		n->paths_publish = true;
	pthread_mutex_unlock(&n->lock);
	return r;
}

bool dmn_nat_punch_allowed(struct dmn_node *n, const char *asker, const char *target,
			   uint64_t now_ms)
{
	struct dmn_nat *nat = n->nat;
	bool ok = true;

	if (!nat)
		return false;
	pthread_mutex_lock(&nat->lock);
	for (size_t i = 0; i < NAT_PUNCH_LOG && ok; i++)
		if (nat->punch_log[i].ms && now_ms - nat->punch_log[i].ms < NAT_ROUND_MIN_GAP_MS &&
		    !strcmp(nat->punch_log[i].asker, asker) &&
		    !strcmp(nat->punch_log[i].target, target))
			ok = false;
	if (ok) {
		size_t k = nat->punch_next++ % NAT_PUNCH_LOG;

		snprintf(nat->punch_log[k].asker, sizeof(nat->punch_log[k].asker), "%s", asker);
		snprintf(nat->punch_log[k].target, sizeof(nat->punch_log[k].target), "%s", target);
		nat->punch_log[k].ms = now_ms;
	}
	pthread_mutex_unlock(&nat->lock);
	return ok;
}

void dmn_nat_punch_order(struct dmn_node *n, const char *to, const char *about)
{
	struct dmn_nat *nat = n->nat;

	if (!nat)
		return;
	if (!strcmp(to, n->st.self.name)) {
		dmn_nat_punch(n, about);
		return;
	}
	pthread_mutex_lock(&nat->lock);
	if (nat->n_tells < NAT_TELLS_MAX) {
		snprintf(nat->tells[nat->n_tells].to, sizeof(nat->tells[0].to), "%s", to);
		snprintf(nat->tells[nat->n_tells].about, sizeof(nat->tells[0].about), "%s", about);
		nat->n_tells++;
		pthread_cond_signal(&nat->cond);
	}
	pthread_mutex_unlock(&nat->lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * The overlay's DNS server (REF port 15353): UDP and TCP listeners on each configured address,
 * answers for names in the zone (dns_zone.h) and a forwarder for everything else. weftd
 * embeds one; `weft status` and the tests read its counters.
 *
 * Threads: one event thread (epoll) owns every socket, the TCP clients and the table of
 * outstanding forwards; nothing it does blocks. The zone and the upstream list sit behind a
 * mutex so the daemon can change them while it runs; counters are relaxed atomics.
 *
 * Must not: log above debug (only daemon/ and cli/ do), block the event thread, grow past the
 * named caps below, answer a message the codec says to drop, or forward a query to anything
 * but the configured upstreams.
 *
 * Decisions:
 * - Zone queries are answered under the zone lock: lookup and response building together,
 *   since an answer points into the zone. Over UDP the response is cut to the client's limit
 *   (ov_dns_udp_limit: 512, or its EDNS size capped at 1232), TC set when records do not fit.
 * - Forwarding (RFC 5452): the client's query is sent as it came (EDNS options, DO, CD and
 *   0x20 case kept) but with a fresh random ID, from a fresh socket on a random port that is
 *   connected to the upstream, so only that upstream's datagrams reach it. A reply must
 *   match ID, opcode and question (ov_dns_check_upstream); a UDP reply that does not is
 *   ignored and counted, the attempt keeps waiting. Upstreams are tried in order, each once
 *   per query (cfg.upstream_attempts passes over the list): the next one on timeout, I/O
 *   error (ICMP refused, reset, connect failure), a malformed or mismatched TCP reply, or
 *   rcode SERVFAIL/REFUSED. Every other rcode (NOERROR, NXDOMAIN...) is relayed with the
 *   client's ID restored. When every attempt failed the client gets SERVFAIL.
 * - Transport to the upstream follows the client's: UDP queries are forwarded over UDP, TCP
 *   queries over TCP (one connection per forwarded query). A UDP reply bigger than the
 *   client's UDP limit becomes an empty answer with TC set and the upstream's rcode; the
 *   client then retries over TCP, which we forward over TCP and relay whole (up to 65535).
 *   An upstream's own TC reply over UDP is relayed as it is, with the same effect.
 * - Outstanding forwards are capped (OV_DNS_SERVER_FORWARDS_MAX); a query that finds the
 *   table full gets SERVFAIL at once. Upstream sockets are opened per attempt and closed
 *   when it ends.
 * - TCP (RFC 7766): two-byte framing, any number of queries per connection, pipelined and
 *   answered as each completes (forwarded ones possibly out of order, §6.2.1.1), partial
 *   reads and writes carried across events. At most cfg.max_tcp_clients connections (default
 *   OV_DNS_SERVER_TCP_CLIENTS_MAX): one more is accepted and closed at once. A connection
 *   with nothing in flight that moved no byte for cfg.tcp_idle_ms is closed (§6.2.3). At
 *   most OV_DNS_SERVER_TCP_PIPELINE_MAX forwarded queries per connection are outstanding and
 *   at most OV_DNS_SERVER_TCP_WBUF_HIGH bytes of answers wait for the client to read; past
 *   either, the connection's further queries wait in its buffer (flow control, not drops).
 *   When the client half-closes, its outstanding answers are still sent, then we close.
 *   When accept() fails for lack of descriptors or memory, the listener is paused for
 *   100 ms rather than woken again at once (level-triggered) until a descriptor frees.
 * - Malformed queries: the codec's verdict (ov_dns_parse_rcode) — dropped, or answered with
 *   FORMERR, NOTIMP or BADVERS — each counted by parse reason and by outcome.
 * - Listeners may be bound to a device (SO_BINDTODEVICE, cfg.listen_ifnames): only packets
 *   that arrived on that interface reach them, whatever their destination address says. A
 *   node serves its overlay address on the WireGuard interface, never on the underlay, where
 *   a host that routes the overlay address via the node would otherwise reach the resolver.
 *   Device listeners (ov_dns_server_set_dev_pairs) are a changing set of (device, address)
 *   pairs (a node's local bridges, whose containers ask the node's overlay address on the
 *   DNS port and their gateway on port 53); they are changed by the event thread between
 *   two batches of events, so no event is ever handled for a socket closed in the meantime
 *   (slots carry a generation).
 * - Listeners bind with IP_FREEBIND / IPV6_FREEBIND (the overlay address may not exist yet),
 *   v6 sockets are V6ONLY, and replies on UDP leave from the address the query arrived on
 *   (IP_PKTINFO / IPV6_PKTINFO), so a wildcard listener also answers from the right source.
 *   A listener with port 0 gets one ephemeral port shared by its UDP and TCP sockets.
 */
#ifndef WEFT_OVERLAY_DNS_SERVER_H
#define WEFT_OVERLAY_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "overlay/dns_codec.h"
#include "overlay/dns_zone.h"

enum {
	OV_DNS_SERVER_DEFAULT_PORT = 15353, /* REF DEFAULT_DNS_PORT */
	OV_DNS_SERVER_LISTEN_MAX = 16,	    /* listen addresses */
	/* Device listeners: a node's 64 service bridges (leader.h's quota) times the three each
	 * gets (the overlay address, and the gateway's IPv4 and IPv6 on port 53), and room. */
	OV_DNS_SERVER_DEV_LISTEN_MAX = 256,
	OV_DNS_SERVER_UPSTREAMS_MAX = 8,
	OV_DNS_SERVER_UPSTREAM_TIMEOUT_MS = 2000, /* REF: 2 s per attempt */
	OV_DNS_SERVER_UPSTREAM_ATTEMPTS_MAX = 4,  /* passes over the upstream list */
	OV_DNS_SERVER_FORWARDS_MAX = 256,	  /* outstanding forwarded queries */
	OV_DNS_SERVER_TCP_CLIENTS_MAX = 64,	  /* default and hard cap of TCP clients */
	OV_DNS_SERVER_TCP_IDLE_MS = 30000,	  /* REF: 30 s */
	OV_DNS_SERVER_TCP_PIPELINE_MAX = 16,	  /* forwards in flight per TCP client */
	OV_DNS_SERVER_TCP_WBUF_HIGH = 65536 + 2,  /* answers queued before reading pauses */
	OV_DNS_SERVER_UDP_BATCH = 64, /* datagrams read from one socket per wakeup (fairness) */
};

struct ov_dns_server_config {
	/* Each address and port, AF_INET or AF_INET6; port 0 = ephemeral. 1..LISTEN_MAX. */
	const struct sockaddr_storage *listen;
	size_t n_listen;
	/* NULL, or n_listen entries: listen[i] bound to that device (SO_BINDTODEVICE) when the
	 * entry is neither NULL nor "", e.g. "lo" for 127.0.0.1, "weft0" for the overlay
	 * address. A device that does not exist fails the bind (-ENODEV). */
	const char *const *listen_ifnames;
	/* In the order tried. May be 0: then non-zone queries get SERVFAIL. */
	const struct sockaddr_storage *upstreams;
	size_t n_upstreams;
	unsigned upstream_timeout_ms; /* per attempt; 0 = OV_DNS_SERVER_UPSTREAM_TIMEOUT_MS */
	unsigned upstream_attempts;   /* passes over the list; 0 = 1 */
	unsigned max_tcp_clients;     /* 0 = OV_DNS_SERVER_TCP_CLIENTS_MAX (also the cap) */
	unsigned tcp_idle_ms;	      /* 0 = OV_DNS_SERVER_TCP_IDLE_MS */
	/*
	 * Bit i set: listen[i] may fail to bind (REF's secondary listeners, e.g. <overlay ip>:53
	 * without CAP_NET_BIND_SERVICE); the server runs without it and
	 * ov_dns_server_listen_error(s, i) says why. At least one listener must bind.
	 */
	uint32_t optional_mask;
};

/*
 * Counters, one per reason. Every message received (queries_udp + queries_tcp, which also
 * equals the sum of parse[], indexed by enum ov_dns_parse_result) ends in exactly one of:
 * an answer from the zone (zone_noerror, zone_nodata, zone_nxdomain, zone_refused), a
 * relayed upstream reply (fwd_relayed, fwd_relayed_tc), a SERVFAIL (servfail_*), an error
 * answer (formerr, notimp, badvers) or a drop (dropped_*); a forward still running when
 * the server is freed is the exception. zone_truncated counts zone answers that were also
 * cut with TC. fwd_attempts, fwd_timeouts, fwd_io_errors, fwd_upstream_fail and
 * fwd_mismatch count attempts and upstream replies, not queries; fwd_nxdomain is the share
 * of fwd_relayed that carried NXDOMAIN.
 */
#define OV_DNS_SERVER_STATS(X)                                                                     \
	X(queries_udp)	       /* datagrams received on the listeners */                           \
	X(queries_tcp)	       /* messages framed on TCP connections */                            \
	X(zone_noerror)	       /* answered from the zone with records */                           \
	X(zone_nodata)	       /* answered from the zone: NOERROR without answer records */        \
	X(zone_nxdomain)       /* answered from the zone: NXDOMAIN */                              \
	X(zone_refused)	       /* answered from the zone: REFUSED (AXFR, IXFR, other classes) */   \
	X(zone_truncated)      /* zone answers sent with TC over UDP */                            \
	X(formerr)	       /* FORMERR answers to malformed queries */                          \
	X(notimp)	       /* NOTIMP answers (opcode) */                                       \
	X(badvers)	       /* BADVERS answers (EDNS version) */                                \
	X(dropped_short)       /* under a header: nothing to answer to */                          \
	X(dropped_response)    /* QR set: answers are never answered */                            \
	X(dropped_send)	       /* the answer could not be sent (UDP buffer full, error) */         \
	X(dropped_client_gone) /* forward finished after its TCP client went away */               \
	X(fwd_started)	       /* queries handed to the forwarder */                               \
	X(fwd_relayed)	       /* upstream replies relayed to the client */                        \
	X(fwd_relayed_tc)      /* ... as an empty TC answer: too big for the client's UDP limit */ \
	X(fwd_nxdomain)	       /* relayed replies with NXDOMAIN */                                 \
	X(fwd_attempts)	       /* upstream attempts (one per upstream tried) */                    \
	X(fwd_timeouts)	       /* attempts that timed out */                                       \
	X(fwd_io_errors)       /* attempts ended by socket errors (refused, reset, connect) */     \
	X(fwd_upstream_fail)   /* attempts answered SERVFAIL or REFUSED */                         \
	X(fwd_mismatch)	       /* upstream replies that were not the answer (ignored/failed) */    \
	X(servfail_exhausted)  /* every attempt failed */                                          \
	X(servfail_no_upstream) /* nothing to forward to */                                        \
	X(servfail_full)	/* forward table full */                                           \
	X(servfail_internal)	/* could not build or open what a forward needs */                 \
	X(tcp_accepted)                                                                            \
	X(tcp_refused_full)  /* accepted and closed: too many clients */                           \
	X(tcp_accept_paused) /* accept failed for lack of descriptors/memory: paused 100 ms */     \
	X(tcp_closed_idle)                                                                         \
	X(tcp_closed_eof)   /* client closed (after its answers were sent) */                      \
	X(tcp_closed_error) /* reset, write error */

/* Queries by type and answers by rcode (for metrics): the types a cluster asks most, the rest
 * together; rcodes 0-5 of RFC 1035 §4.1.1 and every other one together. */
enum ov_dns_qtype_slot {
	OV_DNS_QTYPE_SLOT_A,
	OV_DNS_QTYPE_SLOT_AAAA,
	OV_DNS_QTYPE_SLOT_SRV,
	OV_DNS_QTYPE_SLOT_PTR,
	OV_DNS_QTYPE_SLOT_OTHER,
	OV_DNS_QTYPE_SLOT__COUNT,
};
enum { OV_DNS_RCODE_SLOTS = 7 }; /* 0..5, then "other" */

struct ov_dns_server_stats {
	uint64_t qtype[OV_DNS_QTYPE_SLOT__COUNT]; /* well-formed queries, by their question's type */
	uint64_t rcode[OV_DNS_RCODE_SLOTS];	  /* answers sent, by their rcode */
#define OV_DNS_SERVER_STATS_FIELD(name) uint64_t name;
	OV_DNS_SERVER_STATS(OV_DNS_SERVER_STATS_FIELD)
#undef OV_DNS_SERVER_STATS_FIELD
	uint64_t parse[OV_DNS_PARSE__COUNT];
	/* Gauges at the time of the snapshot. */
	uint64_t forwards_inflight;
	uint64_t tcp_clients;
};

struct ov_dns_server;

/*
 * Validates cfg, copies it, and binds every listener (UDP and TCP). zone: heap-allocated
 * with malloc() and ov_dns_zone_init(); ownership moves to the server on success only (it
 * calls ov_dns_zone_done() and free()). NULL = no zone: every query is forwarded. Returns 0;
 * -EINVAL (bad config: no listener, too many, bad family, upstream port 0...), -EADDRINUSE,
 * -EACCES (privileged port) or another bind/socket error of a listener that is not optional
 * (or of the first optional one, when none bound at all). No thread runs yet.
 */
int ov_dns_server_new(const struct ov_dns_server_config *cfg, struct ov_dns_zone *zone,
		      struct ov_dns_server **ret);
/* Starts the event thread. 0, -EALREADY, or the pthread/epoll error. */
int ov_dns_server_start(struct ov_dns_server *s);
/* Stops and joins the thread if running, closes every socket, frees the zone. NULL-safe. */
void ov_dns_server_free(struct ov_dns_server *s);

size_t ov_dns_server_n_listen(const struct ov_dns_server *s);
/* The bound port of cfg.listen[i] (UDP and TCP share it); 0 if i is out of range or unbound. */
uint16_t ov_dns_server_port(const struct ov_dns_server *s, size_t i);
/* 0 if cfg.listen[i] is bound; the bind error of an optional one that is not; -EINVAL. */
int ov_dns_server_listen_error(const struct ov_dns_server *s, size_t i);

/* ---- Thread-safe, callable while running -------------------------------------------------- */

/* One device listener: addr (AF_INET or AF_INET6, port not 0) bound to ifname. */
struct ov_dns_server_dev {
	const char *ifname;
	struct sockaddr_storage addr;
};

/*
 * The device listeners become exactly devs[0..n) (0..OV_DNS_SERVER_DEV_LISTEN_MAX distinct
 * (ifname, addr) pairs; a device may carry several addresses, e.g. a service bridge's
 * gateway on port 53 and the node's overlay address): pairs no longer named, or whose device
 * was recreated (its ifindex changed), are closed; the others are kept as they are; missing
 * ones are bound. results (optional, n entries): 0 or each pair's bind error (-ENODEV when
 * the link does not exist yet, -EACCES for port 53 without CAP_NET_BIND_SERVICE). Returns 0,
 * the first error of results, -EINVAL (bad arguments, nothing changed) or -ESHUTDOWN (the
 * event thread has stopped). Waits for the event thread when it runs; must not be called from
 * the event thread (callbacks of edit_zone).
 */
int ov_dns_server_set_dev_pairs(struct ov_dns_server *s, const struct ov_dns_server_dev *devs,
				size_t n, int *results);

/*
 * The same with one address for every device: addr (its port as given; not 0) bound to
 * each of ifnames[0..n) (0..OV_DNS_SERVER_DEV_LISTEN_MAX distinct names); the other device
 * listeners are closed. Returns as ov_dns_server_set_dev_pairs, or -ENOMEM.
 */
int ov_dns_server_set_dev_listeners(struct ov_dns_server *s, const struct sockaddr_storage *addr,
				    const char *const *ifnames, size_t n, int *results);

/*
 * Replaces the zone atomically (queries see the old or the new one, never a mix) and frees
 * the old one. Owners marked unhealthy in the old zone stay unhealthy in the new one (health
 * comes from the health checker, not from whoever rebuilt the zone); mark them healthy to
 * clear. zone: as for ov_dns_server_new; NULL = no zone.
 */
void ov_dns_server_swap_zone(struct ov_dns_server *s, struct ov_dns_zone *zone);
/*
 * Calls fn(zone, ctx) under the zone lock, for in-place edits (ov_dns_zone_add_addr...).
 * fn must not call back into the server. Returns fn's result, or -ENOENT without a zone.
 */
int ov_dns_server_edit_zone(struct ov_dns_server *s, int (*fn)(struct ov_dns_zone *z, void *ctx),
			    void *ctx);
/* ov_dns_zone_set_healthy() under the lock; -ENOENT without a zone, -ENOSPC past the cap. */
int ov_dns_server_set_healthy(struct ov_dns_server *s, uint32_t owner, bool healthy);
/*
 * Replaces the upstream list (same rules as cfg.upstreams: 0..UPSTREAMS_MAX, AF_INET or
 * AF_INET6, port != 0; -EINVAL changes nothing). Forwards already running keep their list.
 */
int ov_dns_server_set_upstreams(struct ov_dns_server *s, const struct sockaddr_storage *u,
				size_t n);
/* A consistent-enough snapshot (each counter read atomically). */
void ov_dns_server_get_stats(const struct ov_dns_server *s, struct ov_dns_server_stats *ret);
/*
 * The counters as "name value" lines, non-zero parse reasons as "parse_<reason> value";
 * for `weft status`. Returns the length written (NUL excluded), or -ENOSPC.
 */
int ov_dns_server_stats_format(const struct ov_dns_server_stats *st, char *buf, size_t cap);

#endif

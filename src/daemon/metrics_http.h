/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics_http — the metrics endpoint of weftd and weft-wg: a minimal HTTP/1.1 server
 * for GET (and HEAD) /metrics on one address, on a thread of its own, which renders a
 * metrics registry (lib/metrics.h) per request.
 *
 * It never blocks its process and bounds what a client can make it hold: at most
 * DMN_METRICS_HTTP_CONNS connections (more are accepted and closed at once), each with an
 * absolute deadline of DMN_METRICS_HTTP_TIMEOUT_MS from accept for the whole exchange (a
 * client that trickles or never reads is closed then), a request head of at most
 * HTTP_REQUEST_MAX bytes (lib/http.h), one request per connection (Connection: close;
 * after the answer the rest of the input is read and dropped until the client closes, within
 * the same deadline, so that unread input does not turn our close into a reset).
 * Answers: 200 (the exposition), 400 malformed, 404 another path, 405 another method on
 * /metrics, 431 a head too large, 500 the exposition could not be made.
 *
 * Must not: serve anything but the registry, or call back into its owner except through the
 * registry's collectors.
 */
#ifndef WEFT_DAEMON_METRICS_HTTP_H
#define WEFT_DAEMON_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lib/metrics.h"

enum {
	DMN_METRICS_HTTP_CONNS = 16,
	DMN_METRICS_HTTP_TIMEOUT_MS = 5000,
};

struct dmn_metrics_http;

/* "IP:PORT" or "[IPv6]:PORT" (numeric; port 1..65535). 0 or -EINVAL. */
int dmn_metrics_addr_parse(const char *s, struct sockaddr_storage *ret);
bool dmn_metrics_addr_is_loopback(const struct sockaddr_storage *a);

/*
 * Binds addr and starts serving reg (which must outlive the server). Registers its own
 * request counters in reg as collector "http". 0, or -errno with err saying what to do
 * (-EADDRINUSE: another process listens there).
 */
int dmn_metrics_http_start(const struct sockaddr_storage *addr, struct metrics_registry *reg,
			   struct dmn_metrics_http **ret, char *err, size_t errlen);
/* Stops the thread, closes every connection, removes its collector. NULL-safe. */
void dmn_metrics_http_stop(struct dmn_metrics_http *h);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * weft-wg's metrics endpoint (see weft_wg_metrics.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "daemon/metrics_dev.h"
#include "daemon/metrics_http.h"
#include "daemon/weft_wg_metrics.h"

static struct {
	const char *addr;
	bool allow_any;
	struct sockaddr_storage sa;
	struct metrics_registry reg;
	struct dmn_metrics_dev dev;
	struct dmn_metrics_http *http;
} wgm = {.dev = {.program = "weft-wg", .peers_by_key = true, .peer_labels = true}};

int dmn_wg_metrics_args(int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--metrics") || !strncmp(a, "--metrics=", 10)) {
			if (a[9] == '=') {
				wgm.addr = a + 10;
			} else if (i + 1 < *argc) {
				wgm.addr = argv[++i];
			} else {
				fprintf(stderr, "weft-wg: --metrics needs ADDR:PORT\n");
				return -1;
			}
			if (dmn_metrics_addr_parse(wgm.addr, &wgm.sa)) {
				fprintf(stderr,
					"weft-wg: --metrics: '%s' is not IP:PORT or "
					"[IPv6]:PORT\n",
					wgm.addr);
				return -1;
			}
		} else if (!strcmp(a, "--metrics-allow-any")) {
			wgm.allow_any = true;
		} else if (!strncmp(a, "--metrics-peer-labels", 21) &&
			   (a[21] == '\0' || a[21] == '=')) {
			int b = a[21] ? dmn_metrics_parse_bool(a + 22) : 1;

			if (b < 0) {
				fprintf(stderr,
					"weft-wg: --metrics-peer-labels: '%s' is not true or "
					"false\n",
					a + 22);
				return -1;
			}
			wgm.dev.peer_labels = b == 1;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	if (wgm.addr && !wgm.allow_any && !dmn_metrics_addr_is_loopback(&wgm.sa)) {
		fprintf(stderr,
			"weft-wg: --metrics %s: refused: not a loopback address; the metrics name "
			"the peers and their traffic. Use --metrics-allow-any to listen there "
			"anyway.\n",
			wgm.addr);
		return -1;
	}
	return 0;
}

int dmn_wg_metrics_start(struct dp_device *d)
{
	char err[256];

	if (!wgm.addr)
		return 0;
	wgm.dev.dev = d;
	metrics_registry_init(&wgm.reg);
	metrics_registry_add(&wgm.reg, "build", dmn_metrics_collect_build, &wgm.dev);
	metrics_registry_add(&wgm.reg, "device", dmn_metrics_collect_device, &wgm.dev);
	if (dmn_metrics_http_start(&wgm.sa, &wgm.reg, &wgm.http, err, sizeof(err))) {
		fprintf(stderr, "weft-wg: %s\n", err);
		metrics_registry_done(&wgm.reg);
		wgm.addr = NULL;
		return -1;
	}
	return 0;
}

void dmn_wg_metrics_stop(void)
{
	if (!wgm.addr)
		return;
	dmn_metrics_http_stop(wgm.http);
	metrics_registry_done(&wgm.reg);
	wgm.addr = NULL;
}

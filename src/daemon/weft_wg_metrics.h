/* SPDX-License-Identifier: MIT */
/*
 * weft-wg --metrics ADDR:PORT: the Prometheus endpoint of a bare interface (weft_wg.c calls
 * these three; weft_wg_metrics.c implements them on Linux, weft_wg_metrics_none.c refuses the
 * flag where there is no endpoint). Series: daemon/metrics_dev.h, per peer labelled
 * public_key (--metrics-peer-labels=false sums them). The address must be loopback unless
 * --metrics-allow-any: a bare interface has no overlay address to choose at start.
 */
#ifndef WEFT_DAEMON_WEFT_WG_METRICS_H
#define WEFT_DAEMON_WEFT_WG_METRICS_H

struct dp_device;

/* Takes the metrics options out of argv (argc updated); 0, or -1 after saying why. */
int dmn_wg_metrics_args(int *argc, char **argv);
/* After the device started: binds and serves (nothing without --metrics). 0 or -1, said. */
int dmn_wg_metrics_start(struct dp_device *d);
/* Before the device is freed. */
void dmn_wg_metrics_stop(void);

#endif

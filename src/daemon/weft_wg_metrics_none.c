/* SPDX-License-Identifier: MIT */
/*
 * weft-wg where there is no metrics endpoint (Windows): the flag is refused, said plainly.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/weft_wg_metrics.h"

int dmn_wg_metrics_args(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++)
		if (!strncmp(argv[i], "--metrics", 9)) {
			fprintf(stderr, "weft-wg: --metrics is not available on this system\n");
			return -1;
		}
	return 0;
}

int dmn_wg_metrics_start(struct dp_device *d)
{
	(void)d;
	return 0;
}

void dmn_wg_metrics_stop(void)
{
}

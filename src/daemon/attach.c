/* SPDX-License-Identifier: MIT */
/* daemon/attach — TEMPORARY until the attach module lands (not a feature). */
#include <errno.h>
#include <stdio.h>

#include "daemon/node.h"

int dmn_attach(struct dmn_node *n, const struct dmn_request *q, json_t **ret, char *err,
	       size_t errlen)
{
	(void)n;
	(void)q;
	(void)ret;
	snprintf(err, errlen, "container attach is not built yet");
	return -EOPNOTSUPP;
}

int dmn_detach(struct dmn_node *n, const char *container, char *err, size_t errlen)
{
	(void)n;
	(void)container;
	snprintf(err, errlen, "container attach is not built yet");
	return -EOPNOTSUPP;
}

void dmn_attach_sweep(struct dmn_node *n)
{
	(void)n;
}

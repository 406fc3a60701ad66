/* SPDX-License-Identifier: MIT */
/*
 * platform/firewall.h on Linux: a no-op that reports success. The host's nftables belongs to
 * its administrator; weft adds no rules there. Still validates its input like Windows does.
 */
#include <errno.h>
#include <stdlib.h>

#include "platform/firewall.h"

struct plat_fw_rule {
	uint16_t port;
};

int plat_firewall_allow_udp(const char *ifname, uint16_t port, struct plat_fw_rule **ret)
{
	struct plat_fw_rule *r;

	if (!ifname || !*ifname || port == 0 || !ret)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->port = port;
	*ret = r;
	return 0;
}

void plat_firewall_remove(struct plat_fw_rule *r)
{
	free(r);
}

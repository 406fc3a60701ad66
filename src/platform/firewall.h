/* SPDX-License-Identifier: MIT */
/*
 * Host firewall: an inbound allow rule for a WireGuard interface's UDP port while the
 * interface lives. On Windows a Windows Firewall rule through the COM API (INetFwPolicy2),
 * removed again on teardown; on other systems a no-op that reports success (Linux hosts
 * manage their own nftables; we add nothing behind the administrator's back).
 *
 * OS-neutral contract; platform/<os>/firewall.c implements it. No OS headers here. No logging.
 */
#ifndef WEFT_PLATFORM_FIREWALL_H
#define WEFT_PLATFORM_FIREWALL_H

#include <stdint.h>

struct plat_fw_rule;

/*
 * Allow inbound UDP to port (1..65535) for ifname; the rule is named
 * "weft WireGuard (IFNAME)" and a stale rule of that name is replaced. -EINVAL (bad name or
 * port), -EPERM (not Administrator), -EOPNOTSUPP (no firewall service), other -errno.
 * *ret only on success; nothing is left behind on error.
 */
int plat_firewall_allow_udp(const char *ifname, uint16_t port, struct plat_fw_rule **ret);
/* Remove the rule (best effort) and free r. NULL-safe. */
void plat_firewall_remove(struct plat_fw_rule *r);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Host firewall, two mechanisms behind one contract:
 *
 * - plat_firewall_allow_udp: an inbound allow rule for a WireGuard interface's UDP port while
 *   the interface lives. On Windows a Windows Firewall rule through the COM API
 *   (INetFwPolicy2), removed again on teardown; on Linux a no-op that reports success (the
 *   host's own filter policy is its administrator's; weft-wg adds no hole to it).
 *
 * - plat_firewall_seal: the overlay's seal on a weft node (weftd). Nothing may reach the
 *   overlay's addresses or a container except through the WireGuard interface or from the
 *   node itself and its local service bridges, and nothing from outside may carry an
 *   overlay source address. On Linux an nftables table of weft's own ("table inet weft",
 *   described in linux/firewall.c), replaced whole in one transaction (so a restart after a
 *   crash never duplicates it) and deleted on unseal; other tables are never touched. On
 *   Windows -EOPNOTSUPP (weftd is not built there yet).
 *
 * OS-neutral contract; platform/<os>/firewall.c implements it. No OS headers here. No logging
 * (errors come back as -errno and, where asked for, a sentence in err).
 */
#ifndef WEFT_PLATFORM_FIREWALL_H
#define WEFT_PLATFORM_FIREWALL_H

#include <stddef.h>
#include <stdint.h>

#include "platform/netif.h"

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

/* ---- The overlay seal ---------------------------------------------------------------------- */

#define PLAT_FW_SEAL_TABLE "weft" /* nftables: table inet weft */

enum {
	PLAT_FW_SEAL_NAME_MAX = 15, /* IFNAMSIZ - 1: interface names and the bridge prefix */
	PLAT_FW_SEAL_ERR_LEN = 256, /* a buffer this long holds any err sentence */
};

struct plat_fw_seal_config {
	/* The WireGuard interface: 1..15 of [A-Za-z0-9_.-]. Packets arriving on it were
	 * authenticated by WireGuard (allowed IPs checked their source). */
	const char *wg_ifname;
	/* The node's local bridges are the links whose names start with this prefix (1..14 of
	 * the same characters), e.g. "wb-" (overlay/attach.h). */
	const char *bridge_prefix;
	/* The overlay's ranges (host bits are ignored); family 0 leaves that family out. At
	 * least one of them. */
	struct plat_addr cidr4, cidr6;
};

/*
 * Named counters of the seal, one per drop reason (each a named nftables counter, readable
 * with `nft list counter inet weft NAME`).
 */
#define PLAT_FW_SEAL_COUNTERS(X)                                                            \
	X(spoofed_source)      /* an overlay source address on any other interface */       \
	X(underlay_to_overlay) /* to an overlay address, from any other interface */        \
	X(bridge_spoof)	       /* on a local bridge, a source not routed back through it */ \
	X(forward_refused)     /* forwarded into a local bridge from elsewhere, not a reply */

struct plat_fw_seal_stats {
#define PLAT_FW_SEAL_STATS_FIELD(name) uint64_t name;
	PLAT_FW_SEAL_COUNTERS(PLAT_FW_SEAL_STATS_FIELD)
#undef PLAT_FW_SEAL_STATS_FIELD
};

struct plat_fw_seal;

/*
 * Install the seal for cfg in the caller's network namespace, replacing any seal already
 * there (a crashed run's) in the same transaction: either the new seal is in force or the
 * old state is kept. -EINVAL (bad config), -EPERM (no CAP_NET_ADMIN), -EOPNOTSUPP (no
 * nftables in the kernel), -ENOMEM, -EIO (refused otherwise); err (optional, errlen bytes)
 * then says why. *ret only on success.
 */
int plat_firewall_seal(const struct plat_fw_seal_config *cfg, struct plat_fw_seal **ret, char *err,
		       size_t errlen);
/* The seal's counters now. 0, -ENOENT (the table is gone), -EIO. */
int plat_firewall_seal_stats(struct plat_fw_seal *s, struct plat_fw_seal_stats *ret);
/* The rule set as installed, as text (for logs and the README). The length, or -ENOSPC. */
int plat_firewall_seal_format(const struct plat_fw_seal_config *cfg, char *buf, size_t cap);
/* Remove the seal (best effort: a table already gone is fine) and free s. NULL-safe. */
void plat_firewall_unseal(struct plat_fw_seal *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Interface configuration (platform/netif.h) through the IP Helper API: no shell-outs, no
 * netsh, no PowerShell. IP Helper is LUID-based; the contract is ifindex-based, so every call
 * starts by turning the ifindex into a LUID (ConvertInterfaceIndexToLuid).
 *
 * Windows specifics, by design (REF interface/windows.rs, except the MTU, which REF ignores):
 * - "link up" and "delete link" are no-ops: a Wintun adapter is up while its session runs
 *   and disappears with it (plat_tun_close);
 * - an address or route that already exists is success (ERROR_OBJECT_ALREADY_EXISTS), except
 *   an address present with another prefix length (-EEXIST, as on Linux);
 * - routes go through the device: next hop unspecified (its family set), metric 256 when the
 *   caller passes 0, protocol MIB_IPPROTO_NETMGMT;
 * - duplicate-address detection is left at InitializeUnicastIpAddressEntry's default;
 * - the link monitor is not implemented (-EOPNOTSUPP): a removed adapter shows up as
 *   -ENODEV on the Wintun session instead.
 * Every failure leaves a sentence naming the API call, the address or prefix, the interface
 * and the Win32 error code in plat_win_last_error(). Input is checked before any call, so
 * bad input changes nothing. Must not log.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "platform/netif.h"
#include "platform/windows/win.h"

/* A short description of the interface for error sentences: "'wg0' (ifindex 7)". */
static void if_desc(NET_LUID luid, int ifindex, char *buf, size_t len)
{
	wchar_t walias[PLAT_WIN_ALIAS_MAX + 1];
	char alias[3 * PLAT_WIN_ALIAS_MAX + 1];

	if (ConvertInterfaceLuidToAlias(&luid, walias, ARRAYSIZE(walias)) == NO_ERROR &&
	    plat_win_wide_to_utf8(walias, alias, sizeof(alias)) == 0)
		snprintf(buf, len, "'%s' (ifindex %d)", alias, ifindex);
	else
		snprintf(buf, len, "ifindex %d", ifindex);
}

static int luid_of(int ifindex, const char *what, NET_LUID *ret)
{
	NET_LUID luid;
	DWORD e;

	if (ifindex <= 0) {
		plat_win_set_error("%s: no interface with ifindex %d", what, ifindex);
		return -ENODEV;
	}
	e = ConvertInterfaceIndexToLuid((NET_IFINDEX)ifindex, &luid);
	if (e != NO_ERROR) {
		plat_win_set_error(
			"%s: ConvertInterfaceIndexToLuid(ifindex %d) failed: Win32 error %lu", what,
			ifindex, (unsigned long)e);
		return -ENODEV;
	}
	*ret = luid;
	return 0;
}

int plat_win_luid_from_alias(const char *alias, uint64_t *ret_luid)
{
	wchar_t w[PLAT_WIN_ALIAS_MAX + 1];
	NET_LUID luid;
	DWORD e;
	int r;

	if (!alias || !*alias) {
		plat_win_set_error("ConvertInterfaceAliasToLuid: empty interface name");
		return -EINVAL;
	}
	r = plat_win_utf8_to_wide(alias, w, ARRAYSIZE(w));
	if (r < 0) {
		plat_win_set_error("ConvertInterfaceAliasToLuid: interface name is %s",
				   r == -ENAMETOOLONG ? "too long" : "not UTF-8");
		return -EINVAL;
	}
	e = ConvertInterfaceAliasToLuid(w, &luid);
	/* ERROR_INVALID_PARAMETER is what Windows answers for an unknown alias. */
	if (e == ERROR_INVALID_PARAMETER || e == ERROR_NOT_FOUND || e == ERROR_FILE_NOT_FOUND) {
		plat_win_set_error(
			"ConvertInterfaceAliasToLuid: interface '%s' not found (Win32 error %lu)",
			alias, (unsigned long)e);
		return -ENODEV;
	}
	if (e != NO_ERROR) {
		plat_win_set_error("ConvertInterfaceAliasToLuid('%s') failed: Win32 error %lu",
				   alias, (unsigned long)e);
		return plat_win_errno(e);
	}
	*ret_luid = luid.Value;
	return 0;
}

int plat_win_luid_to_index(uint64_t luid)
{
	NET_LUID l = {.Value = luid};
	NET_IFINDEX idx = 0;
	DWORD e = ConvertInterfaceLuidToIndex(&l, &idx);

	if (e != NO_ERROR || idx == 0 || idx > INT32_MAX) {
		plat_win_set_error(
			"ConvertInterfaceLuidToIndex(LUID 0x%016llx) failed: Win32 error %lu",
			(unsigned long long)luid, (unsigned long)e);
		return -ENODEV;
	}
	return (int)idx;
}

int plat_netif_index(const char *name)
{
	uint64_t luid;
	int r = plat_win_luid_from_alias(name, &luid);

	if (r == -EINVAL)
		return -ENODEV; /* as on Linux: a name no link can have */
	if (r < 0)
		return r;
	return plat_win_luid_to_index(luid);
}

static int if_row(int ifindex, const char *what, MIB_IF_ROW2 *ret)
{
	MIB_IF_ROW2 row;
	NET_LUID luid;
	DWORD e;
	int r = luid_of(ifindex, what, &luid);

	if (r < 0)
		return r;
	memset(&row, 0, sizeof(row));
	row.InterfaceLuid = luid;
	e = GetIfEntry2(&row);
	if (e != NO_ERROR) {
		plat_win_set_error("%s: GetIfEntry2(ifindex %d) failed: Win32 error %lu", what,
				   ifindex, (unsigned long)e);
		return e == ERROR_FILE_NOT_FOUND || e == ERROR_NOT_FOUND ? -ENODEV
									 : plat_win_errno(e);
	}
	*ret = row;
	return 0;
}

int plat_netif_kind(int ifindex, char *kind, size_t len)
{
	MIB_IF_ROW2 row;
	const char *k;
	int r = if_row(ifindex, "plat_netif_kind", &row);

	if (r < 0)
		return r;
	/* Wintun adapters are IF_TYPE_PROP_VIRTUAL; everything else has no kind here. */
	k = row.Type == IF_TYPE_PROP_VIRTUAL ? "tun" : "";
	if (!kind || strlen(k) + 1 > len)
		return -ENOSPC;
	memcpy(kind, k, strlen(k) + 1);
	return 0;
}

int plat_netif_set_up(int ifindex, bool up)
{
	NET_LUID luid;

	/* No-op by design: the adapter is up while its Wintun session runs. */
	return luid_of(ifindex, "plat_netif_set_up", &luid);
}

int plat_netif_is_up(int ifindex)
{
	MIB_IF_ROW2 row;
	int r = if_row(ifindex, "plat_netif_is_up", &row);

	if (r < 0)
		return r;
	return row.AdminStatus == NET_IF_ADMIN_STATUS_UP;
}

int plat_netif_del_link(int ifindex)
{
	NET_LUID luid;

	/* No-op by design: the adapter goes away when its session and handle are closed. */
	return luid_of(ifindex, "plat_netif_del_link", &luid);
}

enum {
	WIN_MIN_MTU_V4 = 576,  /* RFC 791: every host must accept 576-byte datagrams */
	WIN_MIN_MTU_V6 = 1280, /* RFC 8200 §5 */
	WIN_MAX_MTU = 65535,
};

static int set_mtu_family(NET_LUID luid, int ifindex, ADDRESS_FAMILY af, unsigned mtu)
{
	MIB_IPINTERFACE_ROW row;
	char desc[PLAT_WIN_ALIAS_MAX * 3 + 32];
	DWORD e;

	InitializeIpInterfaceEntry(&row);
	row.Family = af;
	row.InterfaceLuid = luid;
	e = GetIpInterfaceEntry(&row);
	if (e == ERROR_NOT_FOUND)
		return 1; /* this family is not bound to the interface: nothing to set */
	if_desc(luid, ifindex, desc, sizeof(desc));
	if (e != NO_ERROR) {
		plat_win_set_error("GetIpInterfaceEntry(%s) failed on %s: Win32 error %lu",
				   af == AF_INET ? "IPv4" : "IPv6", desc, (unsigned long)e);
		return plat_win_errno(e);
	}
	row.NlMtu = mtu;
	/* SetIpInterfaceEntry refuses an IPv4 row whose SitePrefixLength is not 0. */
	if (af == AF_INET)
		row.SitePrefixLength = 0;
	e = SetIpInterfaceEntry(&row);
	if (e != NO_ERROR) {
		plat_win_set_error("SetIpInterfaceEntry(%s, MTU %u) failed on %s: Win32 error %lu",
				   af == AF_INET ? "IPv4" : "IPv6", mtu, desc, (unsigned long)e);
		return plat_win_errno(e);
	}
	return 0;
}

int plat_netif_set_mtu(int ifindex, unsigned mtu)
{
	NET_LUID luid;
	int r, r6;

	if (mtu < WIN_MIN_MTU_V4 || mtu > WIN_MAX_MTU) {
		plat_win_set_error("plat_netif_set_mtu: MTU %u outside %u..%u", mtu, WIN_MIN_MTU_V4,
				   WIN_MAX_MTU);
		return -EINVAL;
	}
	r = luid_of(ifindex, "plat_netif_set_mtu", &luid);
	if (r < 0)
		return r;
	r = set_mtu_family(luid, ifindex, AF_INET, mtu);
	if (r < 0)
		return r;
	/* IPv6 cannot run below 1280; Windows then disables it on the interface, as Linux does. */
	if (mtu < WIN_MIN_MTU_V6) {
		if (r == 1) {
			plat_win_set_error(
				"plat_netif_set_mtu: IPv4 is not bound to ifindex %d and "
				"MTU %u is below IPv6's minimum",
				ifindex, mtu);
			return -EINVAL;
		}
		return 0;
	}
	r6 = set_mtu_family(luid, ifindex, AF_INET6, mtu);
	if (r6 < 0)
		return r6;
	if (r == 1 && r6 == 1) {
		plat_win_set_error(
			"plat_netif_set_mtu: neither IPv4 nor IPv6 is bound to ifindex %d",
			ifindex);
		return -ENODEV;
	}
	return 0;
}

int plat_netif_get_mtu(int ifindex)
{
	MIB_IPINTERFACE_ROW row;
	MIB_IF_ROW2 ifrow;
	NET_LUID luid;
	int r = luid_of(ifindex, "plat_netif_get_mtu", &luid);

	if (r < 0)
		return r;
	InitializeIpInterfaceEntry(&row);
	row.Family = AF_INET;
	row.InterfaceLuid = luid;
	if (GetIpInterfaceEntry(&row) == NO_ERROR && row.NlMtu > 0 && row.NlMtu <= INT32_MAX)
		return (int)row.NlMtu;
	r = if_row(ifindex, "plat_netif_get_mtu", &ifrow);
	if (r < 0)
		return r;
	return ifrow.Mtu > 0 && ifrow.Mtu <= INT32_MAX ? (int)ifrow.Mtu : -EIO;
}

/* Check a and convert it; on bad input set the error sentence naming the call. */
static int prepare_addr(const char *what, const struct plat_addr *a, SOCKADDR_INET *sa)
{
	if (plat_win_addr_to_sockaddr(a, sa) < 0) {
		plat_win_set_error("%s: bad address (family %d, prefix %u)", what,
				   a ? a->family : 0, a ? a->prefix : 0);
		return -EINVAL;
	}
	return 0;
}

int plat_netif_add_address(int ifindex, const struct plat_addr *a)
{
	MIB_UNICASTIPADDRESS_ROW row;
	char desc[PLAT_WIN_ALIAS_MAX * 3 + 32], text[PLAT_WIN_ADDR_STRLEN];
	SOCKADDR_INET sa;
	NET_LUID luid;
	DWORD e;
	int r;

	r = prepare_addr("CreateUnicastIpAddressEntry", a, &sa);
	if (r < 0)
		return r;
	r = luid_of(ifindex, "CreateUnicastIpAddressEntry", &luid);
	if (r < 0)
		return r;
	InitializeUnicastIpAddressEntry(&row); /* DAD state and lifetimes: defaults */
	row.InterfaceLuid = luid;
	row.Address = sa;
	row.OnLinkPrefixLength = a->prefix;
	e = CreateUnicastIpAddressEntry(&row);
	plat_win_addr_str(a, true, text);
	if_desc(luid, ifindex, desc, sizeof(desc));
	if (e == ERROR_OBJECT_ALREADY_EXISTS) {
		MIB_UNICASTIPADDRESS_ROW cur;

		memset(&cur, 0, sizeof(cur));
		cur.InterfaceLuid = luid;
		cur.Address = sa;
		if (GetUnicastIpAddressEntry(&cur) == NO_ERROR &&
		    cur.OnLinkPrefixLength != a->prefix) {
			plat_win_set_error(
				"CreateUnicastIpAddressEntry: %s already on %s with prefix %u",
				text, desc, cur.OnLinkPrefixLength);
			return -EEXIST;
		}
		return 0;
	}
	if (e != NO_ERROR) {
		plat_win_set_error("CreateUnicastIpAddressEntry(%s) failed on %s: Win32 error %lu",
				   text, desc, (unsigned long)e);
		return plat_win_errno(e);
	}
	return 0;
}

int plat_netif_del_address(int ifindex, const struct plat_addr *a)
{
	MIB_UNICASTIPADDRESS_ROW row;
	char desc[PLAT_WIN_ALIAS_MAX * 3 + 32], text[PLAT_WIN_ADDR_STRLEN];
	SOCKADDR_INET sa;
	NET_LUID luid;
	DWORD e;
	int r;

	r = prepare_addr("DeleteUnicastIpAddressEntry", a, &sa);
	if (r < 0)
		return r;
	r = luid_of(ifindex, "DeleteUnicastIpAddressEntry", &luid);
	if (r < 0)
		return r;
	plat_win_addr_str(a, true, text);
	if_desc(luid, ifindex, desc, sizeof(desc));
	memset(&row, 0, sizeof(row));
	row.InterfaceLuid = luid;
	row.Address = sa;
	e = GetUnicastIpAddressEntry(&row);
	if (e == NO_ERROR && row.OnLinkPrefixLength != a->prefix)
		e = ERROR_NOT_FOUND; /* exactly addr/prefix, as the contract says */
	if (e == NO_ERROR)
		e = DeleteUnicastIpAddressEntry(&row);
	if (e == ERROR_NOT_FOUND || e == ERROR_FILE_NOT_FOUND) {
		plat_win_set_error("DeleteUnicastIpAddressEntry: %s is not on %s", text, desc);
		return -EADDRNOTAVAIL;
	}
	if (e != NO_ERROR) {
		plat_win_set_error("DeleteUnicastIpAddressEntry(%s) failed on %s: Win32 error %lu",
				   text, desc, (unsigned long)e);
		return plat_win_errno(e);
	}
	return 0;
}

/* The route row for dst through luid, host bits cleared. */
static int route_row(const char *what, NET_LUID luid, const struct plat_addr *dst,
		     MIB_IPFORWARD_ROW2 *row)
{
	struct plat_addr masked;
	SOCKADDR_INET sa;
	unsigned bits, i;
	int r = prepare_addr(what, dst, &sa);

	if (r < 0)
		return r;
	masked = *dst;
	bits = dst->family == WG_AF_INET ? 32 : 128;
	for (i = dst->prefix; i < bits; i++)
		masked.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	if (dst->family == WG_AF_INET)
		memset(masked.addr + 4, 0, 12);
	plat_win_addr_to_sockaddr(&masked, &sa);
	InitializeIpForwardEntry(row);
	row->InterfaceLuid = luid;
	row->DestinationPrefix.Prefix = sa;
	row->DestinationPrefix.PrefixLength = dst->prefix;
	/* Next hop unspecified (on-link through the device), but its family must be set. */
	memset(&row->NextHop, 0, sizeof(row->NextHop));
	row->NextHop.si_family = sa.si_family;
	row->Protocol = (NL_ROUTE_PROTOCOL)PLAT_WIN_MIB_IPPROTO_NETMGMT;
	return 0;
}

int plat_netif_add_route(int ifindex, const struct plat_addr *dst, uint32_t metric)
{
	MIB_IPFORWARD_ROW2 row;
	char desc[PLAT_WIN_ALIAS_MAX * 3 + 32], text[PLAT_WIN_ADDR_STRLEN];
	NET_LUID luid;
	DWORD e;
	int r;

	r = prepare_addr("CreateIpForwardEntry2", dst, &row.DestinationPrefix.Prefix);
	if (r < 0)
		return r;
	r = luid_of(ifindex, "CreateIpForwardEntry2", &luid);
	if (r < 0)
		return r;
	r = route_row("CreateIpForwardEntry2", luid, dst, &row);
	if (r < 0)
		return r;
	row.Metric = metric ? metric : PLAT_WIN_ROUTE_METRIC;
	e = CreateIpForwardEntry2(&row);
	if (e == NO_ERROR || e == ERROR_OBJECT_ALREADY_EXISTS)
		return 0;
	plat_win_addr_str(dst, true, text);
	if_desc(luid, ifindex, desc, sizeof(desc));
	plat_win_set_error("CreateIpForwardEntry2(%s, metric %lu) failed via %s: Win32 error %lu",
			   text, (unsigned long)row.Metric, desc, (unsigned long)e);
	return plat_win_errno(e);
}

int plat_netif_del_route(int ifindex, const struct plat_addr *dst)
{
	MIB_IPFORWARD_ROW2 row;
	char desc[PLAT_WIN_ALIAS_MAX * 3 + 32], text[PLAT_WIN_ADDR_STRLEN];
	NET_LUID luid;
	DWORD e;
	int r;

	r = prepare_addr("DeleteIpForwardEntry2", dst, &row.DestinationPrefix.Prefix);
	if (r < 0)
		return r;
	r = luid_of(ifindex, "DeleteIpForwardEntry2", &luid);
	if (r < 0)
		return r;
	r = route_row("DeleteIpForwardEntry2", luid, dst, &row);
	if (r < 0)
		return r;
	e = DeleteIpForwardEntry2(&row);
	if (e == NO_ERROR)
		return 0;
	plat_win_addr_str(dst, true, text);
	if_desc(luid, ifindex, desc, sizeof(desc));
	if (e == ERROR_NOT_FOUND || e == ERROR_FILE_NOT_FOUND) {
		plat_win_set_error("DeleteIpForwardEntry2: no route to %s via %s", text, desc);
		return -ESRCH;
	}
	plat_win_set_error("DeleteIpForwardEntry2(%s) failed via %s: Win32 error %lu", text, desc,
			   (unsigned long)e);
	return plat_win_errno(e);
}

int plat_netif_list_addresses(int ifindex, int (*fn)(void *ctx, const struct plat_addr *a),
			      void *ctx)
{
	MIB_UNICASTIPADDRESS_TABLE *table = NULL;
	NET_LUID luid;
	DWORD e;
	ULONG i;
	int r = luid_of(ifindex, "GetUnicastIpAddressTable", &luid);

	if (r < 0)
		return r;
	e = GetUnicastIpAddressTable(AF_UNSPEC, &table);
	if (e != NO_ERROR) {
		plat_win_set_error("GetUnicastIpAddressTable failed: Win32 error %lu",
				   (unsigned long)e);
		return plat_win_errno(e);
	}
	r = 0;
	for (i = 0; i < table->NumEntries && r == 0; i++) {
		const MIB_UNICASTIPADDRESS_ROW *row = &table->Table[i];
		struct plat_addr a;

		if (row->InterfaceLuid.Value != luid.Value)
			continue;
		if (plat_win_sockaddr_to_addr(&row->Address, row->OnLinkPrefixLength, &a) < 0)
			continue;
		r = fn(ctx, &a);
	}
	FreeMibTable(table);
	return r;
}

struct plat_netif_monitor {
	int unused;
};

int plat_netif_monitor_open(int ifindex, struct plat_netif_monitor **ret)
{
	plat_win_set_error("plat_netif_monitor_open: not implemented on Windows (a removed adapter "
			   "ends its Wintun session instead)");
	return -EOPNOTSUPP;
}

int plat_netif_monitor_fd(const struct plat_netif_monitor *m)
{
	return -1;
}

int plat_netif_monitor_read(struct plat_netif_monitor *m)
{
	return -EOPNOTSUPP;
}

void plat_netif_monitor_close(struct plat_netif_monitor *m)
{
}

int plat_netif_host_addresses(const char *skip, struct plat_addr *out, size_t max,
			      size_t *ret_n)
{
	(void)skip;
	(void)out;
	(void)max;
	*ret_n = 0;
	return -EOPNOTSUPP; /* weftd (NAT traversal) is not built for Windows yet */
}

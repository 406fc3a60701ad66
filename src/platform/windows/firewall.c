/* SPDX-License-Identifier: MIT */
/*
 * platform/firewall.h on Windows: an inbound "allow UDP to our port" rule in the Windows
 * Firewall through its COM API (INetFwPolicy2 → INetFwRules), all profiles, grouped under
 * "weft", removed by name on teardown. Needs Administrator rights (-EPERM otherwise).
 * Must not: leave a rule behind on a failed add, or log (the detail of a failure is in
 * plat_win_last_error()).
 */
#define COBJMACROS
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "platform/windows/win.h"

#include <initguid.h>
#include <netfw.h>
#include <oleauto.h>

#include "platform/firewall.h"

struct plat_fw_rule {
	wchar_t name[96];
};

/*
 * COM for the duration of one call, on the calling thread (CoUninitialize must run on the
 * thread that initialised): the rule may be added and removed from different threads.
 * RPC_E_CHANGED_MODE means the thread already has COM in another apartment: usable, and
 * not ours to uninitialise.
 */
static bool com_begin(void)
{
	return SUCCEEDED(CoInitializeEx(NULL, COINIT_MULTITHREADED));
}

static void com_end(bool initialised)
{
	if (initialised)
		CoUninitialize();
}

/* -errno for an HRESULT. */
static int hr_errno(HRESULT hr)
{
	if (hr == E_ACCESSDENIED)
		return -EPERM;
	if (hr == E_OUTOFMEMORY)
		return -ENOMEM;
	if (hr == E_NOTIMPL || hr == REGDB_E_CLASSNOTREG)
		return -EOPNOTSUPP;
	if (HRESULT_FACILITY(hr) == FACILITY_WIN32)
		return plat_win_errno(HRESULT_CODE(hr));
	return -EIO;
}

static int get_rules(INetFwRules **ret, const char *ifname)
{
	INetFwPolicy2 *policy = NULL;
	HRESULT hr;

	hr = CoCreateInstance(&CLSID_NetFwPolicy2, NULL, CLSCTX_INPROC_SERVER, &IID_INetFwPolicy2,
			      (void **)&policy);
	if (FAILED(hr)) {
		plat_win_set_error(
			"CoCreateInstance(NetFwPolicy2) for '%s' failed: HRESULT 0x%08lx", ifname,
			(unsigned long)hr);
		return hr_errno(hr);
	}
	hr = INetFwPolicy2_get_Rules(policy, ret);
	INetFwPolicy2_Release(policy);
	if (FAILED(hr)) {
		plat_win_set_error("INetFwPolicy2::get_Rules for '%s' failed: HRESULT 0x%08lx",
				   ifname, (unsigned long)hr);
		return hr_errno(hr);
	}
	return 0;
}

/* Fill in and add the rule. */
static HRESULT add_rule(INetFwRules *rules, const wchar_t *name, uint16_t port, const char **step)
{
	INetFwRule *rule = NULL;
	wchar_t ports[8];
	BSTR b_name = NULL, b_ports = NULL, b_group = NULL, b_desc = NULL;
	HRESULT hr;

	swprintf(ports, ARRAYSIZE(ports), L"%u", (unsigned)port);
	*step = "CoCreateInstance(NetFwRule)";
	hr = CoCreateInstance(&CLSID_NetFwRule, NULL, CLSCTX_INPROC_SERVER, &IID_INetFwRule,
			      (void **)&rule);
	if (FAILED(hr))
		return hr;
	b_name = SysAllocString(name);
	b_ports = SysAllocString(ports);
	b_group = SysAllocString(L"weft");
	b_desc = SysAllocString(L"WireGuard UDP port of a weft interface");
	hr = E_OUTOFMEMORY;
	if (!b_name || !b_ports || !b_group || !b_desc)
		goto out;
	*step = "INetFwRule::put_*";
	if (FAILED(hr = INetFwRule_put_Name(rule, b_name)) ||
	    FAILED(hr = INetFwRule_put_Description(rule, b_desc)) ||
	    FAILED(hr = INetFwRule_put_Grouping(rule, b_group)) ||
	    FAILED(hr = INetFwRule_put_Protocol(rule, NET_FW_IP_PROTOCOL_UDP)) ||
	    FAILED(hr = INetFwRule_put_LocalPorts(rule, b_ports)) ||
	    FAILED(hr = INetFwRule_put_Direction(rule, NET_FW_RULE_DIR_IN)) ||
	    FAILED(hr = INetFwRule_put_Action(rule, NET_FW_ACTION_ALLOW)) ||
	    FAILED(hr = INetFwRule_put_Profiles(rule, NET_FW_PROFILE2_ALL)) ||
	    FAILED(hr = INetFwRule_put_Enabled(rule, VARIANT_TRUE)))
		goto out;
	*step = "INetFwRules::Add";
	hr = INetFwRules_Add(rules, rule);
out:
	SysFreeString(b_name);
	SysFreeString(b_ports);
	SysFreeString(b_group);
	SysFreeString(b_desc);
	INetFwRule_Release(rule);
	return hr;
}

int plat_firewall_allow_udp(const char *ifname, uint16_t port, struct plat_fw_rule **ret)
{
	wchar_t wname[PLAT_WIN_ALIAS_MAX + 1];
	struct plat_fw_rule *fw;
	INetFwRules *rules = NULL;
	const char *step = "";
	bool com;
	BSTR b_name;
	HRESULT hr;
	int r;

	if (!ifname || !*ifname || port == 0 || !ret || strlen(ifname) > 64 ||
	    plat_win_utf8_to_wide(ifname, wname, ARRAYSIZE(wname)) < 0) {
		plat_win_set_error("firewall: bad interface name or port %u", port);
		return -EINVAL;
	}
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	swprintf(fw->name, ARRAYSIZE(fw->name), L"weft WireGuard (%ls)", wname);
	com = com_begin();
	r = get_rules(&rules, ifname);
	if (r < 0)
		goto fail;
	b_name = SysAllocString(fw->name);
	if (!b_name) {
		r = -ENOMEM;
		goto fail;
	}
	INetFwRules_Remove(rules, b_name); /* a stale rule of a crashed run */
	hr = add_rule(rules, fw->name, port, &step);
	if (FAILED(hr)) {
		INetFwRules_Remove(rules, b_name); /* nothing half-added left behind */
		plat_win_set_error("%s for the UDP %u rule of '%s' failed: HRESULT 0x%08lx", step,
				   port, ifname, (unsigned long)hr);
		r = hr_errno(hr);
	}
	SysFreeString(b_name);
	INetFwRules_Release(rules);
	if (r < 0)
		goto fail;
	com_end(com);
	*ret = fw;
	return 0;

fail:
	com_end(com);
	free(fw);
	return r;
}

void plat_firewall_remove(struct plat_fw_rule *fw)
{
	INetFwRules *rules = NULL;
	BSTR b_name;
	bool com;

	if (!fw)
		return;
	com = com_begin();
	if (get_rules(&rules, "teardown") == 0) {
		b_name = SysAllocString(fw->name);
		if (b_name) {
			INetFwRules_Remove(rules, b_name);
			SysFreeString(b_name);
		}
		INetFwRules_Release(rules);
	}
	com_end(com);
	free(fw);
}

/* ---- The overlay seal: weftd is not built for Windows yet ---------------------------------- */

int plat_firewall_seal(const struct plat_fw_seal_config *cfg, struct plat_fw_seal **ret, char *err,
		       size_t errlen)
{
	(void)cfg;
	(void)ret;
	if (err && errlen)
		snprintf(err, errlen, "the overlay seal is not implemented on Windows");
	return -EOPNOTSUPP;
}

int plat_firewall_seal_stats(struct plat_fw_seal *s, struct plat_fw_seal_stats *ret)
{
	(void)s;
	(void)ret;
	return -EOPNOTSUPP;
}

int plat_firewall_seal_format(const struct plat_fw_seal_config *cfg, char *buf, size_t cap)
{
	(void)cfg;
	(void)buf;
	(void)cap;
	return -EOPNOTSUPP;
}

void plat_firewall_unseal(struct plat_fw_seal *s)
{
	(void)s; /* never made here */
}

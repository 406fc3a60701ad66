/* SPDX-License-Identifier: MIT */
/*
 * platform/firewall.h on Linux.
 *
 * plat_firewall_allow_udp: a no-op that reports success. The host's filter policy belongs to
 * its administrator; weft-wg adds no hole to it. Still validates its input like Windows does.
 *
 * plat_firewall_seal: weft's own nftables table, through libnftables (the nft tool's parser
 * and transaction in process: one buffer is one atomic transaction, errors come back in a
 * buffer instead of a child's stderr, no PATH lookup or fork from a root daemon). With the
 * WireGuard interface weft0, bridges wb-*, cidr4 10.200.0.0/16 and cidr6 fd00:200::/48:
 *
 *   table inet weft {
 *     counter spoofed_source, underlay_to_overlay, bridge_spoof, forward_refused
 *     chain prerouting {  hook prerouting, priority raw (before conntrack), policy accept
 *       iifname "weft0" accept             WireGuard checked the source (allowed IPs)
 *       iifname "lo" accept                the node itself
 *       iifname "wb-*" meta nfproto ipv4 fib saddr . iif oif missing  -> bridge_spoof, drop
 *       iifname "wb-*" accept              a container, from its own subnet (strict RPF above)
 *       ip saddr 10.200.0.0/16             -> spoofed_source, drop
 *       ip6 saddr fd00:200::/48            -> spoofed_source, drop
 *       ip daddr 10.200.0.0/16             -> underlay_to_overlay, drop
 *       ip6 daddr fd00:200::/48            -> underlay_to_overlay, drop
 *     }
 *     chain forward {  hook forward, priority filter, policy accept
 *       oifname != "wb-*" accept           only traffic into the local bridges is judged here
 *       ct state established,related accept
 *       iifname "weft0" accept
 *       iifname "wb-*" accept
 *       -> forward_refused, drop
 *     }
 *   }
 *
 * Every other packet (the underlay's own traffic, WireGuard's UDP, the leader's join port) is
 * left to the host's own tables: the chains accept it and policy is decided elsewhere. The
 * bridge check is the strict reverse-path filter (rp_filter=1) done in our table instead of
 * the host's sysctls, and for IPv4 only, as containers are (a container's IPv6 link-local
 * neighbour discovery is not ours to judge). On the WireGuard interface the reverse-path
 * filter is WireGuard's own: a decrypted packet whose source is not in the sending peer's
 * allowed IPs never reaches the interface.
 *
 * One seal per network namespace: the table name is fixed, and a second install replaces the
 * first (one weftd per host).
 *
 * Must not: touch any table but inet weft, leave a half-built table (every change is one
 * transaction), or log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

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

/* ---- The overlay seal ---------------------------------------------------------------------- */

struct plat_fw_seal {
	int unused; /* the table is found by its name */
};

/* Interface names (and the prefix) go into the rule text quoted: only characters that can
 * neither end the string nor mean a wildcard. */
static bool name_valid(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* "10.200.0.0/16": the network of a, host bits cleared. -EINVAL for a bad prefix. */
static int prefix_text(const struct plat_addr *a, char *out, size_t cap)
{
	uint8_t net[16] = {0};
	unsigned bits = a->family == WG_AF_INET ? 32 : 128;
	char text[INET6_ADDRSTRLEN];

	if ((a->family != WG_AF_INET && a->family != WG_AF_INET6) || a->prefix > bits)
		return -EINVAL;
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = a->prefix > i * 8 ? a->prefix - i * 8 : 0;

		net[i] = keep >= 8 ? a->addr[i] : (uint8_t)(a->addr[i] & (0xff00u >> keep));
	}
	if (!inet_ntop(a->family == WG_AF_INET ? AF_INET : AF_INET6, net, text, sizeof(text)))
		return -EINVAL;
	if (snprintf(out, cap, "%s/%u", text, a->prefix) >= (int)cap)
		return -EINVAL;
	return 0;
}

static int check_config(const struct plat_fw_seal_config *c)
{
	if (!c || !name_valid(c->wg_ifname, PLAT_FW_SEAL_NAME_MAX) ||
	    !name_valid(c->bridge_prefix, PLAT_FW_SEAL_NAME_MAX - 1))
		return -EINVAL;
	if (c->cidr4.family == 0 && c->cidr6.family == 0)
		return -EINVAL;
	if (c->cidr4.family != 0 && (c->cidr4.family != WG_AF_INET || c->cidr4.prefix > 32))
		return -EINVAL;
	if (c->cidr6.family != 0 && (c->cidr6.family != WG_AF_INET6 || c->cidr6.prefix > 128))
		return -EINVAL;
	return 0;
}

struct text {
	char *buf;
	size_t cap, len;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->full = true;
		t->len = t->cap - 1;
		return;
	}
	t->len += (size_t)n;
}

/* The table definition (without the add/delete that make it a replacement). */
static int format_table(const struct plat_fw_seal_config *c, char *buf, size_t cap)
{
	struct text t = {.buf = buf, .cap = cap};
	char c4[64] = "", c6[64] = "";
	const char *w = c->wg_ifname, *b = c->bridge_prefix;

	if (check_config(c) < 0)
		return -EINVAL;
	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if ((c->cidr4.family && prefix_text(&c->cidr4, c4, sizeof(c4)) < 0) ||
	    (c->cidr6.family && prefix_text(&c->cidr6, c6, sizeof(c6)) < 0))
		return -EINVAL;
	put(&t, "table inet %s {\n", PLAT_FW_SEAL_TABLE);
#define PUT_COUNTER(name) put(&t, "\tcounter " #name " {\n\t}\n");
	PLAT_FW_SEAL_COUNTERS(PUT_COUNTER)
#undef PUT_COUNTER
	put(&t,
	    "\tchain prerouting {\n"
	    "\t\ttype filter hook prerouting priority raw; policy accept;\n"
	    "\t\tiifname \"%s\" accept\n"
	    "\t\tiifname \"lo\" accept\n"
	    "\t\tiifname \"%s*\" meta nfproto ipv4 fib saddr . iif oif missing "
	    "counter name \"bridge_spoof\" drop\n"
	    "\t\tiifname \"%s*\" accept\n",
	    w, b, b);
	if (*c4)
		put(&t, "\t\tip saddr %s counter name \"spoofed_source\" drop\n", c4);
	if (*c6)
		put(&t, "\t\tip6 saddr %s counter name \"spoofed_source\" drop\n", c6);
	if (*c4)
		put(&t, "\t\tip daddr %s counter name \"underlay_to_overlay\" drop\n", c4);
	if (*c6)
		put(&t, "\t\tip6 daddr %s counter name \"underlay_to_overlay\" drop\n", c6);
	put(&t,
	    "\t}\n"
	    "\tchain forward {\n"
	    "\t\ttype filter hook forward priority filter; policy accept;\n"
	    "\t\toifname != \"%s*\" accept\n"
	    "\t\tct state established,related accept\n"
	    "\t\tiifname \"%s\" accept\n"
	    "\t\tiifname \"%s*\" accept\n"
	    "\t\tcounter name \"forward_refused\" drop\n"
	    "\t}\n"
	    "}\n",
	    b, w, b);
	return t.full ? -ENOSPC : (int)t.len;
}

int plat_firewall_seal_format(const struct plat_fw_seal_config *cfg, char *buf, size_t cap)
{
	if (!buf)
		return -EINVAL;
	return format_table(cfg, buf, cap);
}

/* The errno that libnftables' message stands for, as far as it says. */
static int error_errno(const char *msg)
{
	if (!msg)
		return -EIO;
	if (strstr(msg, "Operation not permitted"))
		return -EPERM;
	if (strstr(msg, "Protocol not supported") || strstr(msg, "Address family not supported"))
		return -EOPNOTSUPP;
	if (strstr(msg, "No such file or directory"))
		return -ENOENT;
	if (strstr(msg, "Cannot allocate memory"))
		return -ENOMEM;
	return -EIO;
}

static void set_err(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t n;

	if (!err || !errlen)
		return;
	snprintf(err, errlen, "%s: %s", what, msg && *msg ? msg : "refused");
	n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (err[i] == '\n')
			err[i] = ' ';
}

/*
 * Run cmds as one transaction. 0, or -errno with the error text in err. ret_out (optional):
 * the output, malloc'ed.
 */
static int run(const char *cmds, const char *what, char **ret_out, char *err, size_t errlen)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int r = 0;

	if (!nft)
		return -ENOMEM;
	if (nft_ctx_buffer_output(nft) || nft_ctx_buffer_error(nft)) {
		nft_ctx_free(nft);
		return -ENOMEM;
	}
	if (nft_run_cmd_from_buffer(nft, cmds) != 0) {
		const char *msg = nft_ctx_get_error_buffer(nft);

		r = error_errno(msg);
		set_err(err, errlen, what, msg);
	} else if (ret_out) {
		const char *out = nft_ctx_get_output_buffer(nft);

		*ret_out = strdup(out ? out : "");
		if (!*ret_out)
			r = -ENOMEM;
	}
	nft_ctx_free(nft);
	return r;
}

int plat_firewall_seal(const struct plat_fw_seal_config *cfg, struct plat_fw_seal **ret, char *err,
		       size_t errlen)
{
	static const char head[] = "add table inet " PLAT_FW_SEAL_TABLE "\n"
				   "delete table inet " PLAT_FW_SEAL_TABLE "\n";
	struct plat_fw_seal *s;
	char *cmds;
	size_t cap = 4096;
	int n, r;

	if (err && errlen)
		err[0] = '\0';
	if (!ret || check_config(cfg) < 0) {
		set_err(err, errlen, "nftables", "bad seal configuration");
		return -EINVAL;
	}
	cmds = malloc(cap);
	s = calloc(1, sizeof(*s));
	if (!cmds || !s) {
		free(cmds);
		free(s);
		return -ENOMEM;
	}
	/* add + delete + define in one buffer: one transaction that replaces the table whether
	 * or not a crashed run left one (nft 1.0.6 has no "destroy"). */
	memcpy(cmds, head, sizeof(head));
	n = format_table(cfg, cmds + sizeof(head) - 1, cap - (sizeof(head) - 1));
	if (n < 0) {
		r = n;
		set_err(err, errlen, "nftables", "rule set does not fit");
		goto fail;
	}
	r = run(cmds, "nftables: table inet " PLAT_FW_SEAL_TABLE, NULL, err, errlen);
	if (r < 0)
		goto fail;
	free(cmds);
	*ret = s;
	return 0;
fail:
	free(cmds);
	free(s);
	return r;
}

/* In nft's listing, "counter NAME {\n\t\tpackets N bytes M": N. */
static int counter_value(const char *listing, const char *name, uint64_t *ret)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "counter %s {", name);
	p = strstr(listing, key);
	if (!p)
		return -ENOENT;
	p = strstr(p + strlen(key), "packets ");
	if (!p || sscanf(p, "packets %" SCNu64, ret) != 1)
		return -EIO;
	return 0;
}

int plat_firewall_seal_stats(struct plat_fw_seal *s, struct plat_fw_seal_stats *ret)
{
	struct plat_fw_seal_stats st;
	char *out = NULL;
	int r;

	if (!s || !ret)
		return -EINVAL;
	r = run("list counters table inet " PLAT_FW_SEAL_TABLE "\n", "nftables", &out, NULL, 0);
	if (r < 0)
		return r; /* -ENOENT: the table is gone */
	memset(&st, 0, sizeof(st));
#define READ_COUNTER(name) \
	if (r == 0)        \
		r = counter_value(out, #name, &st.name);
	PLAT_FW_SEAL_COUNTERS(READ_COUNTER)
#undef READ_COUNTER
	free(out);
	if (r < 0)
		return r;
	*ret = st;
	return 0;
}

void plat_firewall_unseal(struct plat_fw_seal *s)
{
	if (!s)
		return;
	/* A table already gone (deleted by hand, namespace reset) is what we wanted anyway. */
	(void)run("delete table inet " PLAT_FW_SEAL_TABLE "\n", "nftables", NULL, NULL, 0);
	free(s);
}

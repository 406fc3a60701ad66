/* SPDX-License-Identifier: MIT */
/*
 * ctl/ctl — the control protocol codec (see ctl.h). Every reader goes through the
 * overlay's sticky-error JSON helpers, so a message is either read whole or refused with the
 * field named; nothing here touches a socket, a file or the clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "ctl/ctl.h"
#include "overlay/dns_codec.h"
#include "lib/util.h"

static const uint8_t ctl_magic[2] = {'W', 'F'};

int dmn_ctl_hdr_parse(const uint8_t b[static DMN_CTL_HDR_LEN], struct dmn_ctl_hdr *ret)
{
	uint32_t len = get_be32(b + 4);

	if (b[0] != ctl_magic[0] || b[1] != ctl_magic[1] || b[2] != DMN_CTL_VERSION || b[3] == 0 ||
	    b[3] > DMN_CTL__TYPE_MAX)
		return -EPROTO;
	if (len > DMN_CTL_MAX_PAYLOAD)
		return -EMSGSIZE;
	ret->type = b[3];
	ret->len = len;
	return 0;
}

void dmn_ctl_hdr_put(uint8_t b[static DMN_CTL_HDR_LEN], uint8_t type, uint32_t len)
{
	b[0] = ctl_magic[0];
	b[1] = ctl_magic[1];
	b[2] = DMN_CTL_VERSION;
	b[3] = type;
	put_be32(b + 4, len);
}

json_t *dmn_ctl_json_parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "payload contains a NUL byte");
		return NULL;
	}
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "bad JSON at line %d column %d: %s", je.line, je.column,
			 je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "payload is not a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* --- hex ---------------------------------------------------------------------------------- */

void dmn_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2n lower-case hex digits. */
int dmn_unhex(const char *s, uint8_t *b, size_t n)
{
	uint8_t tmp[64];

	if (n > sizeof(tmp) || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			crypto_wipe(tmp, sizeof(tmp));
			return -EINVAL;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(b, tmp, n);
	crypto_wipe(tmp, sizeof(tmp));
	return 0;
}

static bool json_hex(struct ov_jctx *c, const json_t *o, const char *path, const char *key,
		     uint8_t *b, size_t n)
{
	const char *s = ov_json_str(c, o, path, key, 2 * n);
	char p[OV_JSON_PATH_LEN];

	if (!s)
		return false;
	if (dmn_unhex(s, b, n)) {
		ov_json_path(p, path, key);
		ov_jctx_fail(c, -EINVAL, "%s: not %zu bytes of lower-case hex", p, n);
		return false;
	}
	return true;
}

static json_t *jhex(const uint8_t *b, size_t n)
{
	char s[129];
	json_t *j;

	dmn_hex(b, n, s);
	j = json_string(s);
	crypto_wipe(s, sizeof(s));
	return j;
}

/* --- tokens ---------------------------------------------------------------------------------- */

void dmn_token_format(const struct dmn_token *t, char out[static DMN_CTL_TOKEN_STRLEN])
{
	char id[2 * DMN_CTL_TOKEN_ID_LEN + 1], sec[2 * DMN_CTL_SECRET_LEN + 1],
		key[2 * OV_KEY_LEN + 1], ep[OV_ENDPOINT_STRLEN];

	dmn_hex(t->id, sizeof(t->id), id);
	dmn_hex(t->secret, sizeof(t->secret), sec);
	dmn_hex(t->leader_key, sizeof(t->leader_key), key);
	ov_endpoint_format(&t->endpoint, ep);
	snprintf(out, DMN_CTL_TOKEN_STRLEN, "weft1-%s-%s-%s-%s", id, sec, key, ep);
	crypto_wipe(sec, sizeof(sec));
}

int dmn_token_parse(const char *s, struct dmn_token *ret, char *err, size_t errlen)
{
	static const char *const part_names[] = {"id", "secret", "leader key"};
	static const size_t part_lens[] = {DMN_CTL_TOKEN_ID_LEN, DMN_CTL_SECRET_LEN, OV_KEY_LEN};
	struct dmn_token t;
	uint8_t *parts[] = {t.id, t.secret, t.leader_key};
	char buf[DMN_CTL_TOKEN_STRLEN];
	char *p, *dash;
	int r = -EINVAL;

	if (strlen(s) >= sizeof(buf) || strncmp(s, "weft1-", 6)) {
		snprintf(err, errlen, "not a weft token (\"weft1-...\", at most %d characters)",
			 DMN_CTL_TOKEN_STRLEN - 1);
		return -EINVAL;
	}
	strcpy(buf, s + 6);
	p = buf;
	for (size_t i = 0; i < 3; i++) {
		dash = strchr(p, '-');
		if (!dash) {
			snprintf(err, errlen, "token: %s missing", part_names[i]);
			goto out;
		}
		*dash = '\0';
		if (dmn_unhex(p, parts[i], part_lens[i])) {
			snprintf(err, errlen, "token: %s is not %zu bytes of lower-case hex",
				 part_names[i], part_lens[i]);
			goto out;
		}
		p = dash + 1;
	}
	if (ov_endpoint_parse(p, &t.endpoint)) {
		snprintf(err, errlen, "token: endpoint is not IPv4:port or [IPv6]:port");
		goto out;
	}
	if (crypto_is_zero(t.leader_key, OV_KEY_LEN)) {
		snprintf(err, errlen, "token: the all-zero leader key");
		goto out;
	}
	*ret = t;
	r = 0;
out:
	crypto_wipe(&t, sizeof(t));
	crypto_wipe(buf, sizeof(buf));
	return r;
}

int dmn_tokens_parse(const char *buf, size_t len, struct dmn_tokens *ret, char *err,
		     size_t errlen)
{
	static const char *const top[] = {"version", "tokens", NULL};
	static const char *const fields[] = {"id", "secret", "expires", "uses", NULL};
	struct dmn_tokens *t = calloc(1, sizeof(*t));
	struct ov_jctx c;
	json_t *j, *arr;
	long long v;
	char p[64];
	int r;

	if (!t)
		return -ENOMEM;
	j = dmn_ctl_json_parse((const uint8_t *)buf, len, err, errlen);
	if (!j) {
		free(t);
		return -EINVAL;
	}
	ov_jctx_init(&c, err, errlen);
	if (ov_json_fields(&c, j, "", top) && ov_json_int(&c, j, "", "version", 1, 1, &v) &&
	    (arr = ov_json_get(&c, j, "", "tokens", JSON_ARRAY))) {
		if (json_array_size(arr) > DMN_CTL_TOKENS_MAX)
			ov_jctx_fail(&c, -EINVAL, "tokens: more than %d", DMN_CTL_TOKENS_MAX);
		for (size_t i = 0; i < json_array_size(arr) && !c.ret; i++) {
			const json_t *o = json_array_get(arr, i);
			struct dmn_token_rec *rec = &t->recs[i];
			long long exp, uses;

			snprintf(p, sizeof(p), "tokens[%zu]", i);
			if (!json_is_object(o)) {
				ov_jctx_fail(&c, -EINVAL, "%s: not an object", p);
				break;
			}
			if (!ov_json_fields(&c, o, p, fields) ||
			    !json_hex(&c, o, p, "id", rec->id, sizeof(rec->id)) ||
			    !json_hex(&c, o, p, "secret", rec->secret, sizeof(rec->secret)) ||
			    !ov_json_int(&c, o, p, "expires", 0, INT64_MAX, &exp) ||
			    !ov_json_int(&c, o, p, "uses", 0, UINT32_MAX, &uses))
				break;
			rec->expires = (uint64_t)exp;
			rec->uses = (uint32_t)uses;
			for (size_t k = 0; k < i; k++)
				if (!memcmp(t->recs[k].id, rec->id, sizeof(rec->id)))
					ov_jctx_fail(&c, -EINVAL, "%s.id: appears twice", p);
			t->n = i + 1;
		}
	}
	json_decref(j);
	r = c.ret;
	if (!r)
		*ret = *t;
	crypto_wipe(t, sizeof(*t));
	free(t);
	return r;
}

int dmn_tokens_format(const struct dmn_tokens *t, char **ret, size_t *ret_len)
{
	json_t *j = json_object(), *arr = json_array();
	int bad = !j || !arr;
	char *s;

	for (size_t i = 0; i < t->n && !bad; i++) {
		json_t *o = json_object();

		bad |= !o;
		bad |= json_object_set_new(o, "id", jhex(t->recs[i].id, DMN_CTL_TOKEN_ID_LEN));
		bad |= json_object_set_new(o, "secret",
					   jhex(t->recs[i].secret, DMN_CTL_SECRET_LEN));
		bad |= json_object_set_new(o, "expires", json_integer((json_int_t)t->recs[i].expires));
		bad |= json_object_set_new(o, "uses", json_integer(t->recs[i].uses));
		bad |= json_array_append_new(arr, o);
	}
	bad |= json_object_set_new(j, "version", json_integer(1));
	bad |= json_object_set_new(j, "tokens", arr);
	s = bad ? NULL : json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (!s)
		return -ENOMEM;
	*ret_len = strlen(s);
	*ret = s;
	return 0;
}

/* --- ports, records ------------------------------------------------------------------------ */

static bool port_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DMN_CTL_PORT_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int dmn_port_parse(const char *s, struct dmn_port *ret)
{
	const char *colon = strchr(s, ':'), *slash;
	char name[DMN_CTL_PORT_NAME_MAX + 1], *end;
	unsigned long port;
	struct dmn_port p;

	if (!colon || (size_t)(colon - s) > DMN_CTL_PORT_NAME_MAX)
		return -EINVAL;
	memcpy(name, s, (size_t)(colon - s));
	name[colon - s] = '\0';
	if (!port_name_valid(name))
		return -EINVAL;
	slash = strchr(colon, '/');
	if (!slash || colon[1] < '1' || colon[1] > '9')
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (end != slash || port == 0 || port > 65535)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	if (!strcmp(slash + 1, "tcp"))
		p.proto = 6;
	else if (!strcmp(slash + 1, "udp"))
		p.proto = 17;
	else
		return -EINVAL;
	strcpy(p.name, name);
	p.port = (uint16_t)port;
	*ret = p;
	return 0;
}

bool dmn_record_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > OV_STATE_ZONE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_'))
			return false;
		if ((label == 0 && ch == '-') || ++label > OV_DNS_LABEL_MAX)
			return false;
	}
	return s[n - 1] != '-';
}

static void read_ports(struct ov_jctx *c, const json_t *o, const char *path, struct dmn_port *ports,
		       size_t *n_ports)
{
	static const char *const fields[] = {"name", "proto", "port", NULL};
	const json_t *arr = ov_json_get(c, o, path, "ports", JSON_ARRAY);
	char p[OV_JSON_PATH_LEN + 32], base[OV_JSON_PATH_LEN];

	if (!arr)
		return;
	ov_json_path(base, path, "ports"); /* "ports" at the top, not ".ports" */
	if (json_array_size(arr) > DMN_CTL_PORTS_MAX) {
		ov_jctx_fail(c, -EINVAL, "%s: more than %d", base, DMN_CTL_PORTS_MAX);
		return;
	}
	for (size_t i = 0; i < json_array_size(arr) && !c->ret; i++) {
		const json_t *e = json_array_get(arr, i);
		const char *name, *proto;
		long long port;

		snprintf(p, sizeof(p), "%s[%zu]", base, i);
		if (!json_is_object(e)) {
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
			return;
		}
		if (!ov_json_fields(c, e, p, fields) ||
		    !(name = ov_json_str(c, e, p, "name", DMN_CTL_PORT_NAME_MAX)) ||
		    !(proto = ov_json_str(c, e, p, "proto", 3)) ||
		    !ov_json_int(c, e, p, "port", 1, 65535, &port))
			return;
		if (!port_name_valid(name)) {
			ov_jctx_fail(c, -EINVAL, "%s.name: not a lower-case service label", p);
			return;
		}
		if (strcmp(proto, "tcp") && strcmp(proto, "udp")) {
			ov_jctx_fail(c, -EINVAL, "%s.proto: neither \"tcp\" nor \"udp\"", p);
			return;
		}
		memset(&ports[i], 0, sizeof(ports[i]));
		strcpy(ports[i].name, name);
		ports[i].proto = proto[0] == 't' ? 6 : 17;
		ports[i].port = (uint16_t)port;
		*n_ports = i + 1;
	}
}

static json_t *ports_to_json(const struct dmn_port *ports, size_t n)
{
	json_t *arr = json_array();
	int bad = !arr;

	for (size_t i = 0; i < n && !bad; i++) {
		json_t *o = json_object();

		bad |= !o;
		bad |= json_object_set_new(o, "name", json_string(ports[i].name));
		bad |= json_object_set_new(o, "proto",
					   json_string(ports[i].proto == 6 ? "tcp" : "udp"));
		bad |= json_object_set_new(o, "port", json_integer(ports[i].port));
		bad |= json_array_append_new(arr, o);
	}
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static bool json_record_name(struct ov_jctx *c, const json_t *o, const char *path, const char *key,
			     char ret[static OV_STATE_ZONE_MAX + 1])
{
	const char *s = ov_json_str(c, o, path, key, OV_STATE_ZONE_MAX);
	char p[OV_JSON_PATH_LEN];

	if (!s)
		return false;
	if (!dmn_record_name_valid(s)) {
		ov_json_path(p, path, key);
		ov_jctx_fail(c, -EINVAL, "%s: not a lower-case DNS name", p);
		return false;
	}
	strcpy(ret, s);
	return true;
}

/* "owner": a node name, or "" for the admin; missing (files written before owners) is "". */
static bool json_record_owner(struct ov_jctx *c, const json_t *o, const char *path,
			      char ret[static OV_ALLOC_NAME_MAX + 1])
{
	const json_t *s = json_object_get(o, "owner");

	if (!s || (json_is_string(s) && json_string_length(s) == 0)) {
		ret[0] = '\0';
		return !c->ret;
	}
	return ov_json_name(c, o, path, "owner", ret);
}

/* --- view ------------------------------------------------------------------------------------ */

/* --- paths --------------------------------------------------------------------------------------- */

static const char *const nat_names[] = {
	[DMN_NAT_UNKNOWN] = "unknown",
	[DMN_NAT_NONE] = "none",
	[DMN_NAT_EIM] = "endpoint-independent",
	[DMN_NAT_EDM] = "endpoint-dependent",
};
static const char *const cand_names[] = {
	[DMN_CAND_HOST] = "host",
	[DMN_CAND_SRFLX] = "srflx",
	[DMN_CAND_RELAY] = "relay",
};

const char *dmn_nat_type_name(enum dmn_nat_type t)
{
	return (unsigned)t <= DMN_NAT_EDM ? nat_names[t] : "?";
}

const char *dmn_cand_kind_name(enum dmn_cand_kind k)
{
	return k >= DMN_CAND_HOST && k <= DMN_CAND_RELAY ? cand_names[k] : "?";
}

int dmn_cand_parse(const char *s, struct dmn_cand *ret)
{
	for (int k = DMN_CAND_HOST; k <= DMN_CAND_RELAY; k++) {
		size_t n = strlen(cand_names[k]);
		struct ov_endpoint ep;

		if (strncmp(s, cand_names[k], n) || s[n] != ' ' ||
		    strnlen(s + n + 1, OV_ENDPOINT_STRLEN) >= OV_ENDPOINT_STRLEN ||
		    ov_endpoint_parse(s + n + 1, &ep))
			continue;
		ret->kind = (enum dmn_cand_kind)k;
		ret->ep = ep;
		return 0;
	}
	return -EINVAL;
}

void dmn_cand_format(const struct dmn_cand *c, char out[static OV_ENDPOINT_STRLEN + 8])
{
	char ep[OV_ENDPOINT_STRLEN];

	ov_endpoint_format(&c->ep, ep);
	snprintf(out, OV_ENDPOINT_STRLEN + 8, "%s %s", dmn_cand_kind_name(c->kind), ep);
}

bool dmn_paths_equal(const struct dmn_paths *a, const struct dmn_paths *b)
{
	if (strcmp(a->node, b->node) || a->nat != b->nat || a->n_cand != b->n_cand)
		return false;
	for (size_t i = 0; i < a->n_cand; i++)
		if (a->cand[i].kind != b->cand[i].kind ||
		    a->cand[i].ep.family != b->cand[i].ep.family ||
		    a->cand[i].ep.port != b->cand[i].ep.port ||
		    memcmp(a->cand[i].ep.addr, b->cand[i].ep.addr, 16))
			return false;
	return true;
}

/* "nat" and "candidates" of o into p (not "node"). */
static bool paths_read(struct ov_jctx *c, const json_t *o, const char *path, struct dmn_paths *p)
{
	const char *s = ov_json_str(c, o, path, "nat", 32);
	const json_t *a;

	if (!s)
		return false;
	p->nat = (enum dmn_nat_type)-1;
	for (int t = DMN_NAT_UNKNOWN; t <= DMN_NAT_EDM; t++)
		if (!strcmp(s, nat_names[t]))
			p->nat = (enum dmn_nat_type)t;
	if ((int)p->nat < 0) {
		ov_jctx_fail(c, -EINVAL, "%s%snat: not a NAT type", path, path[0] ? "." : "");
		return false;
	}
	a = ov_json_get(c, o, path, "candidates", JSON_ARRAY);
	if (!a)
		return false;
	if (json_array_size(a) > DMN_CAND_MAX) {
		ov_jctx_fail(c, -EINVAL, "%s%scandidates: more than %d", path, path[0] ? "." : "",
			     DMN_CAND_MAX);
		return false;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *e = json_array_get(a, i);

		if (!json_is_string(e) || dmn_cand_parse(json_string_value(e), &p->cand[i])) {
			ov_jctx_fail(c, -EINVAL,
				     "%s%scandidates[%zu]: not \"host|srflx|relay IP:PORT\"", path,
				     path[0] ? "." : "", i);
			return false;
		}
		p->n_cand = i + 1;
	}
	return true;
}

static int paths_put(json_t *o, const struct dmn_paths *p)
{
	char cs[OV_ENDPOINT_STRLEN + 8];
	json_t *a = json_array();
	int bad = !a;

	for (size_t i = 0; i < p->n_cand && !bad; i++) {
		dmn_cand_format(&p->cand[i], cs);
		bad |= json_array_append_new(a, json_string(cs));
	}
	bad |= json_object_set_new(o, "nat", json_string(dmn_nat_type_name(p->nat)));
	bad |= json_object_set_new(o, "candidates", a);
	return bad;
}

int dmn_nat_config_from_json(const json_t *j, struct dmn_nat_config *ret, char *err,
			     size_t errlen)
{
	static const char *const top[] = {"ok", "stun", "turn", NULL};
	static const char *const turn_fields[] = {"server", "user", "password", "expires", NULL};
	struct dmn_nat_config c;
	struct ov_jctx x;
	const json_t *a, *t;
	const char *s;
	long long ex;

	memset(&c, 0, sizeof(c));
	ov_jctx_init(&x, err, errlen);
	if (!ov_json_fields(&x, j, "", top) || !(a = ov_json_get(&x, j, "", "stun", JSON_ARRAY)))
		return x.ret;
	if (json_array_size(a) > OV_NAT_STUN_MAX) {
		ov_jctx_fail(&x, -EINVAL, "stun: more than %d servers", OV_NAT_STUN_MAX);
		return x.ret;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *e = json_array_get(a, i);

		if (!json_is_string(e) || strnlen(json_string_value(e), OV_ENDPOINT_STRLEN) >=
						  OV_ENDPOINT_STRLEN ||
		    ov_endpoint_parse(json_string_value(e), &c.stun[i])) {
			ov_jctx_fail(&x, -EINVAL, "stun[%zu]: not IP:PORT", i);
			return x.ret;
		}
		c.n_stun = i + 1;
	}
	t = json_object_get(j, "turn");
	if (t) {
		if (!json_is_object(t)) {
			ov_jctx_fail(&x, -EINVAL, "turn: not an object");
			return x.ret;
		}
		if (!ov_json_fields(&x, t, "turn", turn_fields) ||
		    !(s = ov_json_str(&x, t, "turn", "server", OV_ENDPOINT_STRLEN)))
			return x.ret;
		if (ov_endpoint_parse(s, &c.turn)) {
			ov_jctx_fail(&x, -EINVAL, "turn.server: not IP:PORT");
			return x.ret;
		}
		if (!(s = ov_json_str(&x, t, "turn", "user", OV_NAT_SECRET_MAX)))
			return x.ret;
		if (!ov_nat_secret_valid(s, false)) {
			ov_jctx_fail(&x, -EINVAL, "turn.user: not 1 to %d printable characters",
				     OV_NAT_SECRET_MAX);
			return x.ret;
		}
		strcpy(c.user, s);
		if (!(s = ov_json_str(&x, t, "turn", "password", OV_NAT_SECRET_MAX)))
			return x.ret;
		if (!ov_nat_secret_valid(s, false)) {
			ov_jctx_fail(&x, -EINVAL, "turn.password: not 1 to %d printable characters",
				     OV_NAT_SECRET_MAX);
			return x.ret;
		}
		strcpy(c.password, s);
		if (!ov_json_int(&x, t, "turn", "expires", 0, INT64_MAX, &ex))
			return x.ret;
		c.expires = (uint64_t)ex;
		c.has_turn = true;
	}
	*ret = c;
	crypto_wipe(&c, sizeof(c));
	return 0;
}

json_t *dmn_nat_config_to_json(const struct dmn_nat_config *c)
{
	char ep[OV_ENDPOINT_STRLEN];
	json_t *j = json_object(), *a = json_array();
	int bad = !j || !a;

	for (size_t i = 0; i < c->n_stun && !bad; i++) {
		ov_endpoint_format(&c->stun[i], ep);
		bad |= json_array_append_new(a, json_string(ep));
	}
	bad |= json_object_set_new(j, "stun", a);
	if (c->has_turn && !bad) {
		ov_endpoint_format(&c->turn, ep);
		bad |= json_object_set_new(j, "turn",
					   json_pack("{s:s, s:s, s:s, s:I}", "server", ep, "user",
						     c->user, "password", c->password, "expires",
						     (json_int_t)c->expires));
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

const struct dmn_paths *dmn_view_paths(const struct dmn_view *v, const char *node)
{
	for (size_t i = 0; i < v->n_paths; i++)
		if (!strcmp(v->paths[i].node, node))
			return &v->paths[i];
	return NULL;
}

void dmn_view_done(struct dmn_view *v)
{
	if (!v)
		return;
	free(v->nodes);
	free(v->subnets);
	free(v->services);
	free(v->records);
	free(v->paths);
	memset(v, 0, sizeof(*v));
}

const struct ov_peer *dmn_view_node(const struct dmn_view *v, const char *name)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (!strcmp(v->nodes[i].name, name))
			return &v->nodes[i];
	return NULL;
}

static const struct dmn_subnet *view_subnet(const struct dmn_view *v, const char *service,
					    const char *node)
{
	for (size_t i = 0; i < v->n_subnets; i++)
		if (!strcmp(v->subnets[i].service, service) && !strcmp(v->subnets[i].node, node))
			return &v->subnets[i];
	return NULL;
}

static void *arr_alloc(struct ov_jctx *c, const json_t *arr, const char *name, size_t max,
		       size_t size)
{
	void *p;

	if (json_array_size(arr) > max) {
		ov_jctx_fail(c, -EINVAL, "%s: more than %zu entries", name, max);
		return NULL;
	}
	p = calloc(json_array_size(arr) + 1, size);
	if (!p)
		ov_jctx_fail(c, -ENOMEM, "%s: out of memory", name);
	return p;
}

static void view_check(struct ov_jctx *c, const struct dmn_view *v)
{
	if (!dmn_view_node(v, v->leader))
		ov_jctx_fail(c, -EINVAL, "leader: not among the nodes");
	for (size_t i = 0; i < v->n_nodes && !c->ret; i++)
		for (size_t k = 0; k < i; k++) {
			const struct ov_peer *a = &v->nodes[i], *b = &v->nodes[k];

			/* slices as state.c holds a member and its leader to: no overlap, and
			 * neither holds the other's address (WireGuard would route it to one) */
			if (!strcmp(a->name, b->name) ||
			    !memcmp(a->public_key, b->public_key, OV_KEY_LEN) ||
			    ov_prefix_equal(&a->ip4, &b->ip4) || ov_prefix_equal(&a->ip6, &b->ip6) ||
			    ov_prefix_contains(&a->slice, &b->slice) ||
			    ov_prefix_contains(&b->slice, &a->slice) ||
			    ov_prefix_contains(&a->slice, &b->ip4) ||
			    ov_prefix_contains(&b->slice, &a->ip4)) {
				ov_jctx_fail(c, -EINVAL,
					     "nodes[%zu]: name, key, address or slice of nodes[%zu]",
					     i, k);
				return;
			}
		}
	for (size_t i = 0; i < v->n_subnets && !c->ret; i++) {
		const struct dmn_subnet *s = &v->subnets[i];

		if (!dmn_view_node(v, s->node))
			ov_jctx_fail(c, -EINVAL, "subnets[%zu].node: not a node", i);
		for (size_t k = 0; k < i && !c->ret; k++)
			if (ov_prefix_contains(&v->subnets[k].subnet, &s->subnet) ||
			    ov_prefix_contains(&s->subnet, &v->subnets[k].subnet) ||
			    (!strcmp(s->service, v->subnets[k].service) &&
			     !strcmp(s->node, v->subnets[k].node)))
				ov_jctx_fail(c, -EINVAL, "subnets[%zu]: overlaps subnets[%zu]", i,
					     k);
	}
	for (size_t i = 0; i < v->n_services && !c->ret; i++) {
		const struct dmn_service *s = &v->services[i];
		const struct dmn_subnet *sn = view_subnet(v, s->service, s->node);

		if (!sn || !ov_prefix_contains(&sn->subnet, &s->addr))
			ov_jctx_fail(c, -EINVAL,
				     "services[%zu].addr: not inside the subnet of its service "
				     "and node",
				     i);
		for (size_t k = 0; k < i && !c->ret; k++)
			if ((!strcmp(s->node, v->services[k].node) &&
			     !strcmp(s->container, v->services[k].container)) ||
			    ov_prefix_equal(&s->addr, &v->services[k].addr))
				ov_jctx_fail(c, -EINVAL,
					     "services[%zu]: container or address of services[%zu]",
					     i, k);
	}
	for (size_t i = 0; i < v->n_records && !c->ret; i++)
		if (v->records[i].owner[0] && !dmn_view_node(v, v->records[i].owner))
			ov_jctx_fail(c, -EINVAL, "records[%zu].owner: not a node", i);
}

static int view_read(struct ov_jctx *c, const json_t *j, const struct ov_state *s,
		     struct dmn_view *v)
{
	static const char *const top[] = {"version",  "generation", "leader",  "nodes",
					  "subnets", "services",   "records", "paths", NULL};
	static const char *const path_fields[] = {"node", "nat", "candidates", NULL};
	const json_t *paths;
	static const char *const sub_fields[] = {"service", "node", "subnet", NULL};
	static const char *const svc_fields[] = {"service", "node", "container", "addr", "ports",
						 NULL};
	static const char *const rec_fields[] = {"name", "addr", "owner", NULL};
	const json_t *nodes, *subnets, *services, *records;
	char p[OV_JSON_PATH_LEN];
	long long ver, gen;

	if (!ov_json_fields(c, j, "", top) || !ov_json_int(c, j, "", "version", 1, 1, &ver) ||
	    !ov_json_int(c, j, "", "generation", 0, INT64_MAX, &gen) ||
	    !ov_json_name(c, j, "", "leader", v->leader) ||
	    !(nodes = ov_json_get(c, j, "", "nodes", JSON_ARRAY)) ||
	    !(subnets = ov_json_get(c, j, "", "subnets", JSON_ARRAY)) ||
	    !(services = ov_json_get(c, j, "", "services", JSON_ARRAY)) ||
	    !(records = ov_json_get(c, j, "", "records", JSON_ARRAY)))
		return c->ret;
	v->generation = (uint64_t)gen;
	v->nodes = arr_alloc(c, nodes, "nodes", OV_ALLOC_MAX_NODES, sizeof(*v->nodes));
	v->subnets = arr_alloc(c, subnets, "subnets", OV_ALLOC_MAX_SUBNETS, sizeof(*v->subnets));
	v->services = arr_alloc(c, services, "services", DMN_CTL_SERVICES_MAX,
				sizeof(*v->services));
	v->records = arr_alloc(c, records, "records", DMN_CTL_RECORDS_MAX, sizeof(*v->records));
	for (size_t i = 0; i < json_array_size(nodes) && !c->ret; i++) {
		const json_t *o = json_array_get(nodes, i);

		snprintf(p, sizeof(p), "nodes[%zu]", i);
		if (!json_is_object(o))
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
		else if (ov_json_peer(c, o, p, s, false, &v->nodes[i]))
			v->n_nodes = i + 1;
	}
	for (size_t i = 0; i < json_array_size(subnets) && !c->ret; i++) {
		const json_t *o = json_array_get(subnets, i);
		struct dmn_subnet *sn = &v->subnets[i];

		snprintf(p, sizeof(p), "subnets[%zu]", i);
		if (!json_is_object(o)) {
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
			break;
		}
		if (!ov_json_fields(c, o, p, sub_fields) ||
		    !ov_json_name(c, o, p, "service", sn->service) ||
		    !ov_json_name(c, o, p, "node", sn->node) ||
		    !ov_json_prefix(c, o, p, "subnet", 4, &sn->subnet))
			break;
		if (!ov_prefix_contains(&s->cidr4, &sn->subnet) || sn->subnet.len <= s->cidr4.len)
			ov_jctx_fail(c, -EINVAL, "%s.subnet: not inside cluster.cidr4", p);
		v->n_subnets = i + 1;
	}
	for (size_t i = 0; i < json_array_size(services) && !c->ret; i++) {
		const json_t *o = json_array_get(services, i);
		struct dmn_service *sv = &v->services[i];

		snprintf(p, sizeof(p), "services[%zu]", i);
		if (!json_is_object(o)) {
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
			break;
		}
		if (!ov_json_fields(c, o, p, svc_fields) ||
		    !ov_json_name(c, o, p, "service", sv->service) ||
		    !ov_json_name(c, o, p, "node", sv->node) ||
		    !ov_json_name(c, o, p, "container", sv->container) ||
		    !ov_json_addr(c, o, p, "addr", 4, &sv->addr))
			break;
		read_ports(c, o, p, sv->ports, &sv->n_ports);
		v->n_services = i + 1;
	}
	for (size_t i = 0; i < json_array_size(records) && !c->ret; i++) {
		const json_t *o = json_array_get(records, i);
		struct dmn_record *rc = &v->records[i];

		snprintf(p, sizeof(p), "records[%zu]", i);
		if (!json_is_object(o)) {
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
			break;
		}
		if (!ov_json_fields(c, o, p, rec_fields) ||
		    !json_record_name(c, o, p, "name", rc->name) ||
		    !ov_json_addr(c, o, p, "addr", 0, &rc->addr) ||
		    !json_record_owner(c, o, p, rc->owner))
			break;
		v->n_records = i + 1;
	}
	paths = json_object_get(j, "paths");
	if (paths && !c->ret) {
		if (!json_is_array(paths))
			ov_jctx_fail(c, -EINVAL, "paths: not an array");
		else
			v->paths = arr_alloc(c, paths, "paths", OV_ALLOC_MAX_NODES,
					     sizeof(*v->paths));
	}
	for (size_t i = 0; paths && i < json_array_size(paths) && !c->ret; i++) {
		const json_t *o = json_array_get(paths, i);
		struct dmn_paths *pt = &v->paths[i];

		snprintf(p, sizeof(p), "paths[%zu]", i);
		if (!json_is_object(o)) {
			ov_jctx_fail(c, -EINVAL, "%s: not an object", p);
			break;
		}
		if (!ov_json_fields(c, o, p, path_fields) || !ov_json_name(c, o, p, "node", pt->node) ||
		    !paths_read(c, o, p, pt))
			break;
		if (!dmn_view_node(v, pt->node) || dmn_view_paths(v, pt->node)) {
			ov_jctx_fail(c, -EINVAL, "%s.node: not a node of the view, or twice", p);
			break;
		}
		v->n_paths = i + 1;
	}
	if (!c->ret)
		view_check(c, v);
	return c->ret;
}

int dmn_view_from_json(const json_t *j, const struct ov_state *s, struct dmn_view *ret, char *err,
		       size_t errlen)
{
	struct dmn_view v;
	struct ov_jctx c;

	memset(&v, 0, sizeof(v));
	ov_jctx_init(&c, err, errlen);
	if (view_read(&c, j, s, &v)) {
		dmn_view_done(&v);
		return c.ret;
	}
	*ret = v;
	return 0;
}

json_t *dmn_view_to_json(const struct dmn_view *v)
{
	json_t *j = json_object(), *nodes = json_array(), *subnets = json_array(),
	       *services = json_array(), *records = json_array();
	int bad = !j || !nodes || !subnets || !services || !records;

	for (size_t i = 0; i < v->n_nodes && !bad; i++)
		bad |= json_array_append_new(nodes, ov_peer_to_json(&v->nodes[i]));
	for (size_t i = 0; i < v->n_subnets && !bad; i++) {
		json_t *o = json_object();

		bad |= !o;
		bad |= json_object_set_new(o, "service", json_string(v->subnets[i].service));
		bad |= json_object_set_new(o, "node", json_string(v->subnets[i].node));
		bad |= json_object_set_new(o, "subnet", ov_json_prefix_new(&v->subnets[i].subnet, true));
		bad |= json_array_append_new(subnets, o);
	}
	for (size_t i = 0; i < v->n_services && !bad; i++) {
		const struct dmn_service *s = &v->services[i];
		json_t *o = json_object();

		bad |= !o;
		bad |= json_object_set_new(o, "service", json_string(s->service));
		bad |= json_object_set_new(o, "node", json_string(s->node));
		bad |= json_object_set_new(o, "container", json_string(s->container));
		bad |= json_object_set_new(o, "addr", ov_json_prefix_new(&s->addr, false));
		bad |= json_object_set_new(o, "ports", ports_to_json(s->ports, s->n_ports));
		bad |= json_array_append_new(services, o);
	}
	for (size_t i = 0; i < v->n_records && !bad; i++) {
		json_t *o = json_object();

		bad |= !o;
		bad |= json_object_set_new(o, "name", json_string(v->records[i].name));
		bad |= json_object_set_new(o, "addr", ov_json_prefix_new(&v->records[i].addr, false));
		bad |= json_object_set_new(o, "owner", json_string(v->records[i].owner));
		bad |= json_array_append_new(records, o);
	}
	bad |= json_object_set_new(j, "version", json_integer(1));
	bad |= json_object_set_new(j, "generation", json_integer((json_int_t)v->generation));
	bad |= json_object_set_new(j, "leader", json_string(v->leader));
	bad |= json_object_set_new(j, "nodes", nodes);
	bad |= json_object_set_new(j, "subnets", subnets);
	bad |= json_object_set_new(j, "services", services);
	bad |= json_object_set_new(j, "records", records);
	if (v->n_paths && !bad) {
		json_t *pa = json_array();

		bad |= !pa;
		for (size_t i = 0; i < v->n_paths && !bad; i++) {
			json_t *o = json_object();

			bad |= !o || json_object_set_new(o, "node", json_string(v->paths[i].node));
			bad |= paths_put(o, &v->paths[i]);
			bad |= json_array_append_new(pa, o);
		}
		bad |= json_object_set_new(j, "paths", pa);
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void *dup_array(const void *src, size_t n, size_t size, int *bad)
{
	void *p = calloc(n + 1, size);

	if (!p)
		*bad = 1;
	else if (n)
		memcpy(p, src, n * size);
	return p;
}

int dmn_view_copy(const struct dmn_view *v, struct dmn_view *ret)
{
	struct dmn_view c = *v;
	int bad = 0;

	c.nodes = dup_array(v->nodes, v->n_nodes, sizeof(*v->nodes), &bad);
	c.subnets = dup_array(v->subnets, v->n_subnets, sizeof(*v->subnets), &bad);
	c.services = dup_array(v->services, v->n_services, sizeof(*v->services), &bad);
	c.records = dup_array(v->records, v->n_records, sizeof(*v->records), &bad);
	c.paths = dup_array(v->paths, v->n_paths, sizeof(*v->paths), &bad);
	if (bad) {
		dmn_view_done(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* --- join messages ------------------------------------------------------------------------------ */

int dmn_join_from_json(const json_t *j, struct dmn_join *ret, char *err, size_t errlen)
{
	static const char *const fields[] = {"name", "public_key", "endpoint", NULL};
	struct dmn_join m;
	struct ov_jctx c;
	const char *s;
	const json_t *ep;

	memset(&m, 0, sizeof(m));
	ov_jctx_init(&c, err, errlen);
	if (!ov_json_fields(&c, j, "", fields) || !ov_json_name(&c, j, "", "name", m.name) ||
	    !(s = ov_json_str(&c, j, "", "public_key", OV_KEY_B64_LEN)))
		return c.ret;
	if (ov_key_from_base64(s, m.public_key) || crypto_is_zero(m.public_key, OV_KEY_LEN)) {
		ov_jctx_fail(&c, -EINVAL, "public_key: not a non-zero 32-byte key in base64");
		return c.ret;
	}
	ep = json_object_get(j, "endpoint");
	if (!json_is_null(ep)) {
		s = ov_json_str(&c, j, "", "endpoint", OV_ENDPOINT_STRLEN);
		if (!s)
			return c.ret;
		if (ov_endpoint_parse(s, &m.endpoint)) {
			ov_jctx_fail(&c, -EINVAL, "endpoint: not IPv4:port or [IPv6]:port");
			return c.ret;
		}
		m.has_endpoint = true;
	} else if (!ep) {
		ov_jctx_fail(&c, -EINVAL, "endpoint: missing");
		return c.ret;
	}
	*ret = m;
	return 0;
}

json_t *dmn_join_to_json(const struct dmn_join *m)
{
	char b64[OV_KEY_B64_LEN + 1], ep[OV_ENDPOINT_STRLEN];
	json_t *j = json_object();
	int bad = !j;

	ov_key_to_base64(m->public_key, b64);
	bad |= json_object_set_new(j, "name", json_string(m->name));
	bad |= json_object_set_new(j, "public_key", json_string(b64));
	if (m->has_endpoint) {
		ov_endpoint_format(&m->endpoint, ep);
		bad |= json_object_set_new(j, "endpoint", json_string(ep));
	} else {
		bad |= json_object_set_new(j, "endpoint", json_null());
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void dmn_welcome_done(struct dmn_welcome *w)
{
	if (!w)
		return;
	ov_state_done(&w->cluster);
	dmn_view_done(&w->view);
}

int dmn_welcome_from_json(const json_t *j, struct dmn_welcome *ret, char *err, size_t errlen)
{
	static const char *const top[] = {"cluster", "lease", "view", NULL};
	static const char *const cl_fields[] = {"cidr4", "cidr6", "port", "zone", "mtu",
						"keepalive", NULL};
	struct dmn_welcome w;
	const json_t *cl, *lease, *view;
	struct ov_jctx c;
	long long port, mtu, ka;
	const char *zone;

	memset(&w, 0, sizeof(w));
	ov_state_init(&w.cluster);
	ov_jctx_init(&c, err, errlen);
	if (!ov_json_fields(&c, j, "", top) ||
	    !(cl = ov_json_get(&c, j, "", "cluster", JSON_OBJECT)) ||
	    !ov_json_fields(&c, cl, "cluster", cl_fields) ||
	    !ov_json_prefix(&c, cl, "cluster", "cidr4", 4, &w.cluster.cidr4) ||
	    !ov_json_prefix(&c, cl, "cluster", "cidr6", 6, &w.cluster.cidr6) ||
	    !ov_json_int(&c, cl, "cluster", "port", 1, 65535, &port) ||
	    !ov_json_int(&c, cl, "cluster", "mtu", OV_STATE_MTU_MIN, OV_STATE_MTU_MAX, &mtu) ||
	    !ov_json_int(&c, cl, "cluster", "keepalive", 0, 65535, &ka) ||
	    !(zone = ov_json_str(&c, cl, "cluster", "zone", OV_STATE_ZONE_MAX)) ||
	    !(lease = ov_json_get(&c, j, "", "lease", JSON_OBJECT)) ||
	    !(view = ov_json_get(&c, j, "", "view", JSON_OBJECT)))
		goto fail;
	/* as the joiner's state file will take it: labels are names, so no '_' */
	if (!dmn_record_name_valid(zone) || zone[strlen(zone) - 1] != '.' || strchr(zone, '_')) {
		ov_jctx_fail(&c, -EINVAL, "cluster.zone: not an absolute lower-case DNS name");
		goto fail;
	}
	strcpy(w.cluster.zone, zone);
	w.cluster.port = (uint16_t)port;
	w.cluster.mtu = (uint16_t)mtu;
	w.cluster.keepalive = (uint16_t)ka;
	w.cluster.role = OV_ROLE_MEMBER;
	if (!ov_json_peer(&c, lease, "lease", &w.cluster, false, &w.cluster.self) ||
	    view_read(&c, view, &w.cluster, &w.view))
		goto fail;
	*ret = w;
	return 0;
fail:
	dmn_welcome_done(&w);
	return c.ret ? c.ret : -EINVAL;
}

json_t *dmn_welcome_to_json(const struct ov_state *cl, const struct ov_peer *lease,
			    const struct dmn_view *v)
{
	json_t *j = json_object(), *o = json_object();
	int bad = !j || !o;

	bad |= json_object_set_new(o, "cidr4", ov_json_prefix_new(&cl->cidr4, true));
	bad |= json_object_set_new(o, "cidr6", ov_json_prefix_new(&cl->cidr6, true));
	bad |= json_object_set_new(o, "port", json_integer(cl->port));
	bad |= json_object_set_new(o, "zone", json_string(cl->zone));
	bad |= json_object_set_new(o, "mtu", json_integer(cl->mtu));
	bad |= json_object_set_new(o, "keepalive", json_integer(cl->keepalive));
	bad |= json_object_set_new(j, "cluster", o);
	bad |= json_object_set_new(j, "lease", ov_peer_to_json(lease));
	bad |= json_object_set_new(j, "view", dmn_view_to_json(v));
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* --- requests ------------------------------------------------------------------------------------ */

/* Per op: its name and the fields it takes besides "op" ("ports" is optional). */
static const struct {
	const char *name;
	const char *fields[6];
} ops[] = {
	[DMN_OP_STATUS] = {"status", {NULL}},
	[DMN_OP_TOKEN_CREATE] = {"token-create", {"ttl", "uses", NULL}},
	[DMN_OP_NODE_REMOVE] = {"node-remove", {"name", NULL}},
	[DMN_OP_DNS_LIST] = {"dns-list", {NULL}},
	[DMN_OP_DNS_ADD] = {"dns-add", {"name", "addr", NULL}},
	[DMN_OP_DNS_RM] = {"dns-rm", {"name", "addr", NULL}},
	[DMN_OP_ATTACH] = {"attach", {"service", "netns", "container", "ports", NULL}},
	[DMN_OP_DETACH] = {"detach", {"container", NULL}},
	[DMN_OP_ENDPOINT_SET] = {"endpoint-set", {"endpoint", NULL}},
	[DMN_OP_GET_VIEW] = {"get-view", {"generation", NULL}},
	[DMN_OP_SUBNET] = {"subnet", {"service", NULL}},
	[DMN_OP_SERVICE_ADD] = {"service-add", {"service", "container", "addr", "ports", NULL}},
	[DMN_OP_SERVICE_DEL] = {"service-del", {"container", NULL}},
	[DMN_OP_TIME] = {"time", {NULL}},
	[DMN_OP_PATHS] = {"paths", {"nat", "candidates", NULL}},
	[DMN_OP_PUNCH] = {"punch", {"name", NULL}},
	[DMN_OP_NAT_CONFIG] = {"nat-config", {NULL}},
	[DMN_OP_PEERS] = {"peers", {NULL}},
};

const char *dmn_op_name(enum dmn_op op)
{
	return op >= 1 && op <= DMN_OP__MAX ? ops[op].name : "?";
}

static bool op_has(enum dmn_op op, const char *field)
{
	for (size_t i = 0; ops[op].fields[i]; i++)
		if (!strcmp(ops[op].fields[i], field))
			return true;
	return false;
}

int dmn_request_from_json(const json_t *j, struct dmn_request *ret, char *err, size_t errlen)
{
	const char *allowed[8] = {"op"};
	struct dmn_request r;
	struct ov_jctx c;
	const char *s;
	long long n;
	size_t k = 1;

	memset(&r, 0, sizeof(r));
	ov_jctx_init(&c, err, errlen);
	s = ov_json_str(&c, j, "", "op", 32);
	if (!s)
		return c.ret;
	for (int op = 1; op <= DMN_OP__MAX; op++)
		if (!strcmp(ops[op].name, s))
			r.op = (enum dmn_op)op;
	if (!r.op) {
		char q[OV_JSON_QUOTE_LEN];

		ov_json_quote(s, q);
		ov_jctx_fail(&c, -EINVAL, "op: unknown operation %s", q);
		return c.ret;
	}
	for (size_t i = 0; ops[r.op].fields[i]; i++)
		allowed[k++] = ops[r.op].fields[i];
	allowed[k] = NULL;
	if (!ov_json_fields(&c, j, "", allowed))
		return c.ret;
	if (op_has(r.op, "ttl") && ov_json_int(&c, j, "", "ttl", 1, DMN_CTL_TTL_MAX, &n))
		r.ttl = (uint64_t)n;
	if (op_has(r.op, "uses") && ov_json_int(&c, j, "", "uses", 1, 1000000, &n))
		r.uses = (uint32_t)n;
	if (op_has(r.op, "generation") &&
	    ov_json_int(&c, j, "", "generation", 0, INT64_MAX, &n))
		r.generation = (uint64_t)n;
	if (op_has(r.op, "name")) {
		if (r.op == DMN_OP_NODE_REMOVE || r.op == DMN_OP_PUNCH) {
			char name[OV_ALLOC_NAME_MAX + 1];

			if (ov_json_name(&c, j, "", "name", name))
				strcpy(r.name, name);
		} else {
			json_record_name(&c, j, "", "name", r.name);
		}
	}
	if (op_has(r.op, "service"))
		ov_json_name(&c, j, "", "service", r.service);
	if (op_has(r.op, "container"))
		ov_json_name(&c, j, "", "container", r.container);
	if (op_has(r.op, "netns") && (s = ov_json_str(&c, j, "", "netns", DMN_CTL_PATH_MAX))) {
		if (s[0] != '/')
			ov_jctx_fail(&c, -EINVAL, "netns: not an absolute path");
		else
			strcpy(r.netns, s);
	}
	if (op_has(r.op, "addr")) {
		/* optional for dns-rm (all addresses of the name) */
		if (r.op != DMN_OP_DNS_RM || json_object_get(j, "addr"))
			r.has_addr = ov_json_addr(&c, j, "",
						  "addr", r.op == DMN_OP_SERVICE_ADD ? 4 : 0,
						  &r.addr);
	}
	if (op_has(r.op, "ports") && json_object_get(j, "ports"))
		read_ports(&c, j, "", r.ports, &r.n_ports);
	if (op_has(r.op, "candidates") && !c.ret)
		paths_read(&c, j, "", &r.paths);
	if (op_has(r.op, "endpoint") &&
	    (s = ov_json_str(&c, j, "", "endpoint", OV_ENDPOINT_STRLEN)) &&
	    ov_endpoint_parse(s, &r.endpoint)) {
		char q[OV_JSON_QUOTE_LEN];

		ov_json_quote(s, q);
		ov_jctx_fail(&c, -EINVAL, "endpoint: %s is not IPv4:port or [IPv6]:port", q);
	}
	if (!c.ret)
		*ret = r;
	return c.ret;
}

json_t *dmn_request_to_json(const struct dmn_request *r)
{
	json_t *j = json_object();
	int bad = !j || r->op < 1 || r->op > DMN_OP__MAX;

	if (bad) {
		json_decref(j);
		return NULL;
	}
	bad |= json_object_set_new(j, "op", json_string(ops[r->op].name));
	if (op_has(r->op, "ttl"))
		bad |= json_object_set_new(j, "ttl", json_integer((json_int_t)r->ttl));
	if (op_has(r->op, "uses"))
		bad |= json_object_set_new(j, "uses", json_integer(r->uses));
	if (op_has(r->op, "generation"))
		bad |= json_object_set_new(j, "generation",
					   json_integer((json_int_t)r->generation));
	if (op_has(r->op, "name"))
		bad |= json_object_set_new(j, "name", json_string(r->name));
	if (op_has(r->op, "service"))
		bad |= json_object_set_new(j, "service", json_string(r->service));
	if (op_has(r->op, "container"))
		bad |= json_object_set_new(j, "container", json_string(r->container));
	if (op_has(r->op, "netns"))
		bad |= json_object_set_new(j, "netns", json_string(r->netns));
	if (op_has(r->op, "addr") && r->has_addr)
		bad |= json_object_set_new(j, "addr", ov_json_prefix_new(&r->addr, false));
	if (op_has(r->op, "ports") && r->n_ports)
		bad |= json_object_set_new(j, "ports", ports_to_json(r->ports, r->n_ports));
	if (op_has(r->op, "endpoint")) {
		char ep[OV_ENDPOINT_STRLEN];

		ov_endpoint_format(&r->endpoint, ep);
		bad |= json_object_set_new(j, "endpoint", json_string(ep));
	}
	if (op_has(r->op, "candidates"))
		bad |= paths_put(j, &r->paths);
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

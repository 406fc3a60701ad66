/* SPDX-License-Identifier: MIT */
/*
 * DNS message codec (see dns_codec.h for the contract and the decisions taken). Every read
 * goes through a bounds-checked cursor whose first error sticks; every write through a
 * writer that refuses to pass its limit and can be rolled back to a mark, which is how
 * truncation drops whole record sets.
 * Must not: read or write outside the buffers given, allocate, or trust a count, length or
 * pointer from the wire before checking it against the bytes that are really there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "overlay/dns_codec.h"

enum {
	PTR_TAG = 0xc0, /* §4.1.4: the two high bits of a pointer */
	LABEL_TYPE_MASK = 0xc0,
	RR_FIXED_LEN = 10,  /* type, class, TTL, RDLENGTH after the owner name */
	SRV_FIXED_LEN = 6,  /* priority, weight, port before the target (RFC 2782) */
	SOA_FIXED_LEN = 20, /* serial, refresh, retry, expire, minimum (§3.3.13) */
	EDNS_OPT_HDR = 4,   /* option code and length (RFC 6891 §6.1.2) */
};

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                    */

static uint8_t fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * Two valid wire names (or suffixes of them), compared without ASCII case. Length octets are
 * at most 63, below 'A', so folding them is harmless and the walk stays label-aligned.
 */
static bool wire_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		uint8_t n = *a;

		if (n != *b)
			return false;
		if (n == 0)
			return true;
		for (uint8_t i = 1; i <= n; i++) {
			if (fold(a[i]) != fold(b[i]))
				return false;
		}
		a += 1 + n;
		b += 1 + n;
	}
}

bool ov_dns_name_equal(const struct ov_dns_name *a, const struct ov_dns_name *b)
{
	return a->len == b->len && a->len != 0 && wire_equal(a->wire, b->wire);
}

unsigned ov_dns_name_labels(const struct ov_dns_name *n)
{
	unsigned count = 0;

	for (size_t pos = 0; pos < n->len && n->wire[pos]; pos += 1 + n->wire[pos])
		count++;
	return count;
}

/* Offsets of each label's length octet; returns the number of labels (root excluded). */
static unsigned label_offsets(const struct ov_dns_name *n, uint8_t off[OV_DNS_NAME_MAX / 2 + 1])
{
	unsigned count = 0;

	for (size_t pos = 0; pos < n->len && n->wire[pos]; pos += 1 + n->wire[pos])
		off[count++] = (uint8_t)pos;
	return count;
}

int ov_dns_name_canon_cmp(const struct ov_dns_name *a, const struct ov_dns_name *b)
{
	uint8_t oa[OV_DNS_NAME_MAX / 2 + 1], ob[OV_DNS_NAME_MAX / 2 + 1];
	unsigned na = label_offsets(a, oa), nb = label_offsets(b, ob);

	/* RFC 4034 §6.1: compare from the rightmost label; a missing label sorts first. */
	while (na && nb) {
		const uint8_t *la = a->wire + oa[--na], *lb = b->wire + ob[--nb];
		uint8_t n = MIN(la[0], lb[0]);

		for (uint8_t i = 1; i <= n; i++) {
			if (fold(la[i]) != fold(lb[i]))
				return fold(la[i]) < fold(lb[i]) ? -1 : 1;
		}
		if (la[0] != lb[0])
			return la[0] < lb[0] ? -1 : 1;
	}
	return na == nb ? 0 : (na < nb ? -1 : 1);
}

bool ov_dns_name_is_under(const struct ov_dns_name *n, const struct ov_dns_name *ancestor)
{
	unsigned nn = ov_dns_name_labels(n), na = ov_dns_name_labels(ancestor);
	size_t pos = 0;

	if (n->len == 0 || ancestor->len == 0 || nn < na)
		return false;
	for (unsigned skip = nn - na; skip; skip--)
		pos += 1 + n->wire[pos];
	return n->len - pos == ancestor->len && wire_equal(n->wire + pos, ancestor->wire);
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int ov_dns_name_from_text(struct ov_dns_name *ret, const char *text)
{
	struct ov_dns_name n = {.len = 0, .wire = {0}};
	size_t tlen = strnlen(text, OV_DNS_NAME_TEXT_MAX);
	size_t i = 0;

	if (tlen == 0 || tlen == OV_DNS_NAME_TEXT_MAX)
		return -EINVAL;
	if (tlen == 1 && text[0] == '.') {
		n.len = 1;
		*ret = n;
		return 0;
	}
	while (i < tlen) {
		size_t j = i, l;

		while (j < tlen && text[j] != '.') {
			if (!is_host_char(text[j]))
				return -EINVAL;
			j++;
		}
		l = j - i;
		if (l == 0 || l > OV_DNS_LABEL_MAX)
			return -EINVAL;
		/* This label, its length octet and the root still to come. */
		if (n.len + 1 + l + 1 > OV_DNS_NAME_MAX)
			return -ENAMETOOLONG;
		n.wire[n.len] = (uint8_t)l;
		memcpy(n.wire + n.len + 1, text + i, l);
		n.len = (uint8_t)(n.len + 1 + l);
		i = j + 1;
	}
	n.wire[n.len++] = 0;
	*ret = n;
	return 0;
}

int ov_dns_name_to_text(const struct ov_dns_name *n, char *buf, size_t cap)
{
	size_t out = 0, pos = 0;

	if (n->len == 0 || cap == 0)
		return -EINVAL;
	if (n->wire[0] == 0) {
		if (cap < 2)
			return -ENOSPC;
		memcpy(buf, ".", 2);
		return 1;
	}
	while (pos < n->len && n->wire[pos]) {
		uint8_t l = n->wire[pos];

		for (uint8_t i = 1; i <= l; i++) {
			uint8_t c = n->wire[pos + i];
			char tmp[5];
			int w;

			if (is_host_char((char)c))
				w = snprintf(tmp, sizeof(tmp), "%c", c);
			else
				w = snprintf(tmp, sizeof(tmp), "\\%03u", c);
			if (w < 0 || (size_t)w >= cap - out)
				return -ENOSPC;
			memcpy(buf + out, tmp, (size_t)w);
			out += (size_t)w;
		}
		if (cap - out < 2)
			return -ENOSPC;
		buf[out++] = '.';
		pos += 1 + l;
	}
	buf[out] = '\0';
	return (int)out;
}

int ov_dns_name_concat(struct ov_dns_name *ret, const struct ov_dns_name *prefix,
		       const struct ov_dns_name *suffix)
{
	size_t plen;

	if (prefix->len == 0 || suffix->len == 0)
		return -EINVAL;
	plen = prefix->len - 1u;
	if (plen + suffix->len > OV_DNS_NAME_MAX)
		return -ENAMETOOLONG;
	/* Copy through a temporary: ret may alias either argument. */
	{
		struct ov_dns_name n = {.len = (uint8_t)(plen + suffix->len), .wire = {0}};

		memcpy(n.wire, prefix->wire, plen);
		memcpy(n.wire + plen, suffix->wire, suffix->len);
		*ret = n;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                  */

struct rcur {
	const uint8_t *buf;
	size_t len, pos; /* pos <= len always */
	enum ov_dns_parse_result err;
};

static void rcur_fail(struct rcur *c, enum ov_dns_parse_result why)
{
	if (c->err == OV_DNS_PARSE_OK)
		c->err = why;
}

static bool rcur_need(struct rcur *c, size_t n)
{
	if (c->err != OV_DNS_PARSE_OK)
		return false;
	if (c->len - c->pos < n) {
		rcur_fail(c, OV_DNS_PARSE_ERR_TRUNCATED);
		return false;
	}
	return true;
}

static uint16_t rcur_u16(struct rcur *c)
{
	uint16_t v;

	if (!rcur_need(c, 2))
		return 0;
	v = get_be16(c->buf + c->pos);
	c->pos += 2;
	return v;
}

static uint32_t rcur_u32(struct rcur *c)
{
	uint32_t v;

	if (!rcur_need(c, 4))
		return 0;
	v = get_be32(c->buf + c->pos);
	c->pos += 4;
	return v;
}

static void rcur_skip(struct rcur *c, size_t n)
{
	if (rcur_need(c, n))
		c->pos += n;
}

/*
 * Decodes the name at start. A pointer must land in the message body and strictly before
 * the piece of name it ends ("seg"): the first piece starts at the name itself, each jump
 * starts a new piece. seg strictly decreases, so no loop is possible, and a pointer back into
 * the labels just read (the classic loop) is refused too.
 */
static enum ov_dns_parse_result decode_name(const uint8_t *buf, size_t len, size_t start,
					    struct ov_dns_name *out, size_t *ret_next)
{
	size_t p = start, seg = start, next = 0, olen = 0;
	unsigned hops = 0;
	bool jumped = false;

	for (;;) {
		uint8_t b;

		if (p >= len)
			return OV_DNS_PARSE_ERR_TRUNCATED;
		b = buf[p];
		if ((b & LABEL_TYPE_MASK) == PTR_TAG) {
			size_t target;

			if (len - p < 2)
				return OV_DNS_PARSE_ERR_TRUNCATED;
			target = (size_t)(b & ~PTR_TAG) << 8 | buf[p + 1];
			if (target < OV_DNS_HEADER_LEN)
				return OV_DNS_PARSE_ERR_PTR_HEADER;
			if (target >= seg)
				return OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD;
			if (++hops > OV_DNS_PTR_HOPS_MAX)
				return OV_DNS_PARSE_ERR_PTR_HOPS;
			if (!jumped) {
				next = p + 2;
				jumped = true;
			}
			p = seg = target;
			continue;
		}
		if (b & LABEL_TYPE_MASK)
			return OV_DNS_PARSE_ERR_LABEL_TYPE;
		if (olen + 1 + b > OV_DNS_NAME_MAX)
			return OV_DNS_PARSE_ERR_NAME_TOO_LONG;
		if (len - p - 1 < b)
			return OV_DNS_PARSE_ERR_TRUNCATED;
		memcpy(out->wire + olen, buf + p, 1u + b);
		olen += 1u + b;
		p += 1u + b;
		if (b == 0)
			break;
	}
	out->len = (uint8_t)olen;
	*ret_next = jumped ? next : p;
	return OV_DNS_PARSE_OK;
}

static void rcur_name(struct rcur *c, struct ov_dns_name *out)
{
	enum ov_dns_parse_result r;
	size_t next;

	if (c->err != OV_DNS_PARSE_OK)
		return;
	r = decode_name(c->buf, c->len, c->pos, out, &next);
	if (r != OV_DNS_PARSE_OK) {
		rcur_fail(c, r);
		return;
	}
	c->pos = next;
}

int ov_dns_read_name(const struct ov_dns_msg *m, size_t off, struct ov_dns_name *ret,
		     size_t *ret_next)
{
	struct ov_dns_name n;
	size_t next;

	if (!m->buf || off >= m->len)
		return -EBADMSG;
	if (decode_name(m->buf, m->len, off, &n, &next) != OV_DNS_PARSE_OK)
		return -EBADMSG;
	*ret = n;
	*ret_next = next;
	return 0;
}

/* EDNS options (RFC 6891 §6.1.2): code, length, data, exactly filling the RDATA. */
static bool opt_options_ok(const uint8_t *p, size_t len)
{
	while (len) {
		uint16_t olen;

		if (len < EDNS_OPT_HDR)
			return false;
		olen = get_be16(p + 2);
		if (len - EDNS_OPT_HDR < olen)
			return false;
		p += EDNS_OPT_HDR + olen;
		len -= EDNS_OPT_HDR + olen;
	}
	return true;
}

/* A name inside RDATA must end within it; returns false when it does not. */
static bool rdata_name(struct rcur *c, size_t end)
{
	struct ov_dns_name n;

	rcur_name(c, &n);
	return c->err == OV_DNS_PARSE_OK && c->pos <= end;
}

static void check_rdata(struct rcur *c, uint16_t type, uint16_t rclass, uint16_t rdlen)
{
	size_t end = c->pos + rdlen; /* rdlen bytes are known to be there */
	bool ok = true;

	if (type == OV_DNS_TYPE_SOA) {
		ok = rdata_name(c, end) && rdata_name(c, end) && end - c->pos == SOA_FIXED_LEN;
	} else if (rclass != OV_DNS_CLASS_IN) {
		/* Other classes give these types other shapes: leave them opaque. */
	} else if (type == OV_DNS_TYPE_A) {
		ok = rdlen == 4;
	} else if (type == OV_DNS_TYPE_AAAA) {
		ok = rdlen == 16;
	} else if (type == OV_DNS_TYPE_SRV) {
		ok = rdlen > SRV_FIXED_LEN;
		if (ok) {
			c->pos += SRV_FIXED_LEN;
			ok = rdata_name(c, end) && c->pos == end;
		}
	}
	if (c->err != OV_DNS_PARSE_OK)
		return;
	if (!ok) {
		rcur_fail(c, OV_DNS_PARSE_ERR_BAD_RDATA);
		return;
	}
	c->pos = end;
}

enum ov_dns_parse_result ov_dns_parse_message(const uint8_t *buf, size_t len, struct ov_dns_msg *m)
{
	struct rcur c = {.buf = buf, .len = len, .pos = 0, .err = OV_DNS_PARSE_OK};
	uint32_t total;

	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->len = len;
	if (!buf || len < OV_DNS_HEADER_LEN)
		return OV_DNS_PARSE_DROP_SHORT;

	m->has_header = true;
	m->id = rcur_u16(&c);
	m->flags = rcur_u16(&c);
	m->qdcount = rcur_u16(&c);
	m->ancount = rcur_u16(&c);
	m->nscount = rcur_u16(&c);
	m->arcount = rcur_u16(&c);
	/* Nobody implements several questions (RFC 9619); one or none, as in error replies. */
	if (m->qdcount > 1)
		return OV_DNS_PARSE_ERR_QDCOUNT;
	if (m->qdcount == 1) {
		rcur_name(&c, &m->qname);
		m->qtype = rcur_u16(&c);
		m->qclass = rcur_u16(&c);
		if (c.err != OV_DNS_PARSE_OK)
			return c.err;
		m->has_question = true;
	}
	m->rr_off = c.pos;

	/* Each record takes at least 11 bytes, so the loop is bounded by len, not the counts. */
	total = (uint32_t)m->ancount + m->nscount + m->arcount;
	for (uint32_t i = 0; i < total && c.err == OV_DNS_PARSE_OK; i++) {
		struct ov_dns_name name;
		uint16_t type, rclass, rdlen;
		uint32_t ttl;

		rcur_name(&c, &name);
		type = rcur_u16(&c);
		rclass = rcur_u16(&c);
		ttl = rcur_u32(&c);
		rdlen = rcur_u16(&c);
		if (!rcur_need(&c, rdlen))
			break;
		if (type != OV_DNS_TYPE_OPT) {
			check_rdata(&c, type, rclass, rdlen);
			continue;
		}
		/* RFC 6891 §6.1.1: one OPT, owned by the root, in the additional section. */
		if (i < (uint32_t)m->ancount + m->nscount || m->has_edns || name.len != 1) {
			rcur_fail(&c, OV_DNS_PARSE_ERR_BAD_OPT);
			break;
		}
		m->has_edns = true;
		m->edns_udp_size = rclass;
		m->edns_ext_rcode = (uint8_t)(ttl >> 24);
		m->edns_version = (uint8_t)(ttl >> 16);
		m->edns_do = ttl & OV_DNS_EDNS_DO;
		/* §7: a malformed option is FORMERR (and the answer still carries an OPT). */
		if (!opt_options_ok(buf + c.pos, rdlen)) {
			rcur_fail(&c, OV_DNS_PARSE_ERR_BAD_OPT);
			break;
		}
		c.pos += rdlen;
	}
	if (c.err != OV_DNS_PARSE_OK)
		return c.err;
	if (c.pos != len)
		return OV_DNS_PARSE_ERR_TRAILING;
	return OV_DNS_PARSE_OK;
}

enum ov_dns_parse_result ov_dns_parse_query(const uint8_t *buf, size_t len, struct ov_dns_msg *q)
{
	enum ov_dns_parse_result r = ov_dns_parse_message(buf, len, q);

	if (r == OV_DNS_PARSE_DROP_SHORT)
		return r;
	if (q->flags & OV_DNS_FLAG_QR)
		return OV_DNS_PARSE_DROP_RESPONSE;
	if ((q->flags >> OV_DNS_OPCODE_SHIFT & OV_DNS_OPCODE_MASK) != OV_DNS_OPCODE_QUERY)
		return OV_DNS_PARSE_NOTIMP_OPCODE;
	if (r != OV_DNS_PARSE_OK)
		return r;
	if (q->qdcount != 1)
		return OV_DNS_PARSE_ERR_QDCOUNT;
	if (q->qtype == OV_DNS_TYPE_OPT)
		return OV_DNS_PARSE_ERR_QTYPE;
	if (q->has_edns && q->edns_version != 0)
		return OV_DNS_PARSE_BADVERS;
	return OV_DNS_PARSE_OK;
}

int ov_dns_parse_rcode(enum ov_dns_parse_result r)
{
	switch (r) {
	case OV_DNS_PARSE_OK:
		return OV_DNS_RCODE_NOERROR;
	case OV_DNS_PARSE_DROP_SHORT:
	case OV_DNS_PARSE_DROP_RESPONSE:
	case OV_DNS_PARSE__COUNT:
		return -1;
	case OV_DNS_PARSE_NOTIMP_OPCODE:
		return OV_DNS_RCODE_NOTIMP;
	case OV_DNS_PARSE_BADVERS:
		return OV_DNS_RCODE_BADVERS;
	default:
		return OV_DNS_RCODE_FORMERR;
	}
}

const char *ov_dns_parse_result_str(enum ov_dns_parse_result r)
{
	static const char *const names[OV_DNS_PARSE__COUNT] = {
		[OV_DNS_PARSE_OK] = "ok",
		[OV_DNS_PARSE_DROP_SHORT] = "shorter than a header",
		[OV_DNS_PARSE_DROP_RESPONSE] = "a response, not a query",
		[OV_DNS_PARSE_NOTIMP_OPCODE] = "opcode not implemented",
		[OV_DNS_PARSE_ERR_QDCOUNT] = "question count not 1",
		[OV_DNS_PARSE_ERR_TRUNCATED] = "truncated",
		[OV_DNS_PARSE_ERR_LABEL_TYPE] = "unknown label type",
		[OV_DNS_PARSE_ERR_NAME_TOO_LONG] = "name longer than 255 octets",
		[OV_DNS_PARSE_ERR_PTR_HEADER] = "compression pointer into the header",
		[OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD] = "compression pointer not backwards",
		[OV_DNS_PARSE_ERR_PTR_HOPS] = "too many compression pointers",
		[OV_DNS_PARSE_ERR_BAD_RDATA] = "malformed RDATA",
		[OV_DNS_PARSE_ERR_BAD_OPT] = "malformed or misplaced OPT",
		[OV_DNS_PARSE_ERR_QTYPE] = "meta type as question",
		[OV_DNS_PARSE_ERR_TRAILING] = "trailing bytes",
		[OV_DNS_PARSE_BADVERS] = "unsupported EDNS version",
	};

	if ((unsigned)r >= OV_DNS_PARSE__COUNT || !names[r])
		return "?";
	return names[r];
}

size_t ov_dns_udp_limit(const struct ov_dns_msg *q)
{
	if (!q->has_edns)
		return OV_DNS_UDP_MIN;
	return MIN(MAX((size_t)q->edns_udp_size, (size_t)OV_DNS_UDP_MIN),
		   (size_t)OV_DNS_EDNS_UDP_SIZE);
}

void ov_dns_rr_iter_init(struct ov_dns_rr_iter *it, const struct ov_dns_msg *m)
{
	it->msg = m;
	it->pos = m->rr_off;
	it->index = 0;
}

bool ov_dns_rr_iter_next(struct ov_dns_rr_iter *it, struct ov_dns_rr_view *ret)
{
	const struct ov_dns_msg *m = it->msg;
	struct rcur c = {.buf = m->buf, .len = m->len, .pos = it->pos, .err = OV_DNS_PARSE_OK};
	uint32_t an = m->ancount, ns = m->nscount;
	struct ov_dns_rr_view v;

	if (!m->buf || it->index >= an + ns + m->arcount || it->pos > m->len)
		return false;
	v.section = it->index < an	  ? OV_DNS_SECTION_ANSWER
		    : it->index < an + ns ? OV_DNS_SECTION_AUTHORITY
					  : OV_DNS_SECTION_ADDITIONAL;
	rcur_name(&c, &v.name);
	v.type = rcur_u16(&c);
	v.rclass = rcur_u16(&c);
	v.ttl = rcur_u32(&c);
	v.rdlength = rcur_u16(&c);
	v.rdata_off = c.pos;
	rcur_skip(&c, v.rdlength);
	if (c.err != OV_DNS_PARSE_OK)
		return false;
	it->pos = c.pos;
	it->index++;
	*ret = v;
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                  */

struct wcur {
	uint8_t *buf;
	size_t cap, len;
	bool full; /* sticks until rolled back */
	/* Suffixes already in the message (RFC 1035 §4.1.4), pointing into caller storage. */
	struct {
		const uint8_t *suffix;
		uint16_t off;
	} names[OV_DNS_COMPRESS_MAX];
	size_t n_names;
};

struct wmark {
	size_t len, n_names;
};

static struct wmark w_mark(const struct wcur *w)
{
	return (struct wmark){.len = w->len, .n_names = w->n_names};
}

static void w_rollback(struct wcur *w, struct wmark m)
{
	w->len = m.len;
	w->n_names = m.n_names;
	w->full = false;
}

static void w_bytes(struct wcur *w, const void *p, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void w_u8(struct wcur *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(struct wcur *w, uint16_t v)
{
	uint8_t b[2];

	put_be16(b, v);
	w_bytes(w, b, 2);
}

static void w_u32(struct wcur *w, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	w_bytes(w, b, 4);
}

/*
 * Writes n, ending in a pointer to the longest suffix already written when compress is set.
 * Its own suffixes are remembered either way: RFC 2782 forbids compressing an SRV target,
 * not pointing at one.
 */
static void w_name(struct wcur *w, const struct ov_dns_name *n, bool compress)
{
	size_t pos = 0;

	while (pos < n->len && n->wire[pos]) {
		const uint8_t *s = n->wire + pos;

		if (compress) {
			for (size_t i = 0; i < w->n_names; i++) {
				if (wire_equal(w->names[i].suffix, s)) {
					w_u16(w, (uint16_t)(PTR_TAG << 8 | w->names[i].off));
					return;
				}
			}
		}
		if (!w->full && w->len <= OV_DNS_PTR_MAX_OFFSET &&
		    w->n_names < OV_DNS_COMPRESS_MAX) {
			w->names[w->n_names].suffix = s;
			w->names[w->n_names].off = (uint16_t)w->len;
			w->n_names++;
		}
		w_bytes(w, s, 1u + s[0]);
		pos += 1u + s[0];
	}
	w_u8(w, 0);
}

/* Labels of at most 63 octets, ending with the root exactly at len: safe to walk. */
static bool name_ok(const struct ov_dns_name *n)
{
	size_t pos = 0;

	if (!n)
		return false;
	while (pos < n->len) {
		uint8_t l = n->wire[pos];

		if (l == 0)
			return pos + 1 == n->len;
		if (l > OV_DNS_LABEL_MAX)
			return false;
		pos += 1u + l;
	}
	return false;
}

static bool rr_ok(const struct ov_dns_rr *rr)
{
	if (!name_ok(rr->name))
		return false;
	switch (rr->type) {
	case OV_DNS_TYPE_A:
	case OV_DNS_TYPE_AAAA:
		return true;
	case OV_DNS_TYPE_SRV:
		return name_ok(rr->data.srv.target);
	case OV_DNS_TYPE_SOA:
		return name_ok(rr->data.soa.mname) && name_ok(rr->data.soa.rname);
	default:
		return false;
	}
}

static void w_rr(struct wcur *w, const struct ov_dns_rr *rr)
{
	size_t rdlen_at, start;

	w_name(w, rr->name, true);
	w_u16(w, rr->type);
	w_u16(w, OV_DNS_CLASS_IN);
	w_u32(w, rr->ttl);
	rdlen_at = w->len;
	w_u16(w, 0);
	start = w->len;
	switch (rr->type) {
	case OV_DNS_TYPE_A:
		w_bytes(w, rr->data.a, sizeof(rr->data.a));
		break;
	case OV_DNS_TYPE_AAAA:
		w_bytes(w, rr->data.aaaa, sizeof(rr->data.aaaa));
		break;
	case OV_DNS_TYPE_SRV:
		w_u16(w, rr->data.srv.priority);
		w_u16(w, rr->data.srv.weight);
		w_u16(w, rr->data.srv.port);
		w_name(w, rr->data.srv.target, false);
		break;
	case OV_DNS_TYPE_SOA:
		w_name(w, rr->data.soa.mname, true);
		w_name(w, rr->data.soa.rname, true);
		w_u32(w, rr->data.soa.serial);
		w_u32(w, rr->data.soa.refresh);
		w_u32(w, rr->data.soa.retry);
		w_u32(w, rr->data.soa.expire);
		w_u32(w, rr->data.soa.minimum);
		break;
	default:
		w->full = true; /* rr_ok() keeps us from here */
		break;
	}
	if (!w->full)
		put_be16(w->buf + rdlen_at, (uint16_t)(w->len - start));
}

/* Writes each record; false (and nothing written) if they do not all fit. */
static bool w_rrset(struct wcur *w, const struct ov_dns_rr *rrs, size_t n)
{
	struct wmark m = w_mark(w);

	for (size_t i = 0; i < n; i++)
		w_rr(w, &rrs[i]);
	if (w->full) {
		w_rollback(w, m);
		return false;
	}
	return true;
}

static void w_opt(struct wcur *w, uint16_t udp_size, uint8_t ext_rcode, bool dnssec_ok)
{
	w_u8(w, 0); /* root */
	w_u16(w, OV_DNS_TYPE_OPT);
	w_u16(w, udp_size);
	w_u32(w, (uint32_t)ext_rcode << 24 | (dnssec_ok ? OV_DNS_EDNS_DO : 0));
	w_u16(w, 0);
}

int ov_dns_build_response(const struct ov_dns_msg *q, const struct ov_dns_answer *a, size_t max_len,
			  uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct wcur w;
	size_t limit = MIN(MIN(cap, max_len), (size_t)OV_DNS_TCP_MAX);
	size_t reserve = q->has_edns ? OV_DNS_OPT_LEN : 0;
	uint16_t an = 0, ns = 0, ar = 0, flags;
	bool tc = a->tc;
	struct wmark body;

	if (!q->has_header || (a->rcode > OV_DNS_RCODE_MASK && !q->has_edns) || a->rcode > 0xfff)
		return -EINVAL;
	if (a->an_count > OV_DNS_ANSWER_MAX || a->ns_count > OV_DNS_AUTHORITY_MAX ||
	    a->ar_count > OV_DNS_ADDITIONAL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < a->an_count; i++)
		if (!rr_ok(&a->an[i]))
			return -EINVAL;
	for (size_t i = 0; i < a->ns_count; i++)
		if (!rr_ok(&a->ns[i]))
			return -EINVAL;
	for (size_t i = 0; i < a->ar_count; i++)
		if (!rr_ok(&a->ar[i]))
			return -EINVAL;
	if (limit < OV_DNS_HEADER_LEN + reserve)
		return -EMSGSIZE;

	/* Everything but the OPT is written below cap - reserve, so the OPT always fits. */
	memset(&w, 0, sizeof(w));
	w.buf = buf;
	w.cap = limit - reserve;
	w.len = OV_DNS_HEADER_LEN;
	if (q->has_question) {
		w_name(&w, &q->qname, true);
		w_u16(&w, q->qtype);
		w_u16(&w, q->qclass);
		if (w.full)
			return -EMSGSIZE;
	}

	body = w_mark(&w);
	if (!tc && w_rrset(&w, a->an, a->an_count))
		an = (uint16_t)a->an_count;
	else
		tc = true;
	if (!tc && w_rrset(&w, a->ns, a->ns_count))
		ns = (uint16_t)a->ns_count;
	else
		tc = true;
	if (tc) {
		/* RFC 2181 §9: the client retries over TCP; half an RRset would mislead it. */
		w_rollback(&w, body);
		an = ns = 0;
	} else {
		for (size_t i = 0; i < a->ar_count; i++) {
			if (!w_rrset(&w, &a->ar[i], 1))
				break; /* missing additional data is not truncation (§9) */
			ar++;
		}
	}
	if (q->has_edns) {
		w.cap = limit;
		w_opt(&w, OV_DNS_EDNS_UDP_SIZE, (uint8_t)(a->rcode >> 4), q->edns_do);
		ar++;
	}
	if (w.full)
		return -EMSGSIZE;

	flags = OV_DNS_FLAG_QR | (q->flags & (OV_DNS_OPCODE_MASK << OV_DNS_OPCODE_SHIFT)) |
		(q->flags & (OV_DNS_FLAG_RD | OV_DNS_FLAG_CD)) | (a->rcode & OV_DNS_RCODE_MASK);
	if (a->aa)
		flags |= OV_DNS_FLAG_AA;
	if (a->ra)
		flags |= OV_DNS_FLAG_RA;
	if (tc)
		flags |= OV_DNS_FLAG_TC;
	put_be16(buf, q->id);
	put_be16(buf + 2, flags);
	put_be16(buf + 4, q->has_question ? 1 : 0);
	put_be16(buf + 6, an);
	put_be16(buf + 8, ns);
	put_be16(buf + 10, ar);
	*ret_len = w.len;
	return 0;
}

int ov_dns_build_error(const struct ov_dns_msg *q, uint16_t rcode, uint8_t *buf, size_t cap,
		       size_t *ret_len)
{
	struct ov_dns_answer a = {.rcode = rcode};

	return ov_dns_build_response(q, &a, OV_DNS_TCP_MAX, buf, cap, ret_len);
}

int ov_dns_build_query(uint16_t id, const struct ov_dns_name *qname, uint16_t qtype, bool rd,
		       uint16_t edns_udp_size, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct wcur w;

	if (!name_ok(qname))
		return -EINVAL;
	memset(&w, 0, sizeof(w));
	w.buf = buf;
	w.cap = MIN(cap, (size_t)OV_DNS_TCP_MAX);
	w_u16(&w, id);
	w_u16(&w, rd ? OV_DNS_FLAG_RD : 0);
	w_u16(&w, 1);
	w_u16(&w, 0);
	w_u16(&w, 0);
	w_u16(&w, edns_udp_size ? 1 : 0);
	w_name(&w, qname, false);
	w_u16(&w, qtype);
	w_u16(&w, OV_DNS_CLASS_IN);
	if (edns_udp_size)
		w_opt(&w, edns_udp_size, 0, false);
	if (w.full)
		return -EMSGSIZE;
	*ret_len = w.len;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Forwarder and TCP                                                                        */

int ov_dns_set_id(uint8_t *msg, size_t len, uint16_t id)
{
	if (!msg || len < OV_DNS_HEADER_LEN)
		return -EINVAL;
	put_be16(msg, id);
	return 0;
}

enum ov_dns_upstream_result ov_dns_check_upstream(const uint8_t *buf, size_t len, uint16_t id,
						  const struct ov_dns_msg *q, struct ov_dns_msg *m)
{
	if (ov_dns_parse_message(buf, len, m) != OV_DNS_PARSE_OK)
		return OV_DNS_UPSTREAM_MALFORMED;
	if (!(m->flags & OV_DNS_FLAG_QR))
		return OV_DNS_UPSTREAM_NOT_RESPONSE;
	if (m->id != id)
		return OV_DNS_UPSTREAM_ID;
	if ((m->flags ^ q->flags) & (OV_DNS_OPCODE_MASK << OV_DNS_OPCODE_SHIFT))
		return OV_DNS_UPSTREAM_OPCODE;
	if (!m->has_question)
		return OV_DNS_UPSTREAM_NO_QUESTION;
	if (!q->has_question || !ov_dns_name_equal(&m->qname, &q->qname))
		return OV_DNS_UPSTREAM_QNAME;
	if (m->qtype != q->qtype)
		return OV_DNS_UPSTREAM_QTYPE;
	if (m->qclass != q->qclass)
		return OV_DNS_UPSTREAM_QCLASS;
	return OV_DNS_UPSTREAM_OK;
}

int ov_dns_tcp_put_len(uint8_t out[static 2], size_t msg_len)
{
	if (msg_len > OV_DNS_TCP_MAX)
		return -EMSGSIZE;
	put_be16(out, (uint16_t)msg_len);
	return 0;
}

size_t ov_dns_tcp_next(const uint8_t *stream, size_t len, const uint8_t **ret_msg,
		       size_t *ret_msg_len)
{
	size_t n;

	if (len < 2)
		return 0;
	n = get_be16(stream);
	if (len - 2 < n)
		return 0;
	*ret_msg = stream + 2;
	*ret_msg_len = n;
	return n + 2;
}

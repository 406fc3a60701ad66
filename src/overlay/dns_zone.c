/* SPDX-License-Identifier: MIT */
/*
 * The overlay's DNS zone (see dns_zone.h for the contract and decisions). Records live in
 * one array kept in RFC 4034 §6.1 canonical order, so a name's records are one run found by
 * binary search, and everything below a name is the run right after it: that is how an
 * empty non-terminal is told from a name that does not exist.
 * Must not: do I/O, hold more than OV_DNS_ZONE_RECORDS_MAX records or
 * OV_DNS_ZONE_PER_NAME_MAX per name, or put a withheld record in an answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "overlay/dns_zone.h"

enum {
	RECS_FIRST_ALLOC = 16,
};

struct ov_dns_zone_rec {
	struct ov_dns_name name;
	uint16_t type;
	uint32_t owner;
	union {
		uint8_t a[4];
		uint8_t aaaa[16];
		struct {
			uint16_t priority, weight, port;
			struct ov_dns_name target;
		} srv;
	} data;
};

int ov_dns_zone_init(struct ov_dns_zone *z, const char *origin)
{
	struct ov_dns_name o, label, hm;
	int r;

	r = ov_dns_name_from_text(&o, origin ? origin : OV_DNS_ZONE_DEFAULT_ORIGIN);
	if (r < 0)
		return r;
	if (o.len == 1)
		return -EINVAL; /* the root would swallow every name: nothing left to forward */
	r = ov_dns_name_from_text(&label, "hostmaster");
	if (r == 0)
		r = ov_dns_name_concat(&hm, &label, &o);
	if (r < 0)
		return r;
	memset(z, 0, sizeof(*z));
	z->origin = o;
	z->hostmaster = hm;
	z->serial = 1;
	return 0;
}

void ov_dns_zone_done(struct ov_dns_zone *z)
{
	if (!z)
		return;
	free(z->recs);
	memset(z, 0, sizeof(*z));
}

/* A name as REF takes it: absolute with a final dot, else relative to the origin. */
static int qualify(const struct ov_dns_zone *z, const char *text, struct ov_dns_name *ret)
{
	struct ov_dns_name n;
	size_t tlen;
	int r;

	if (!text)
		return -EINVAL;
	tlen = strnlen(text, OV_DNS_NAME_TEXT_MAX);
	r = ov_dns_name_from_text(&n, text);
	if (r < 0)
		return r;
	if (text[tlen - 1] != '.') {
		r = ov_dns_name_concat(&n, &n, &z->origin);
		if (r < 0)
			return r;
	}
	*ret = n;
	return 0;
}

/* First record whose name is not before n in canonical order. */
static size_t lower_bound(const struct ov_dns_zone *z, const struct ov_dns_name *n)
{
	size_t lo = 0, hi = z->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ov_dns_name_canon_cmp(&z->recs[mid].name, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool same_data(const struct ov_dns_zone_rec *a, const struct ov_dns_zone_rec *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case OV_DNS_TYPE_A:
		return !memcmp(a->data.a, b->data.a, sizeof(a->data.a));
	case OV_DNS_TYPE_AAAA:
		return !memcmp(a->data.aaaa, b->data.aaaa, sizeof(a->data.aaaa));
	case OV_DNS_TYPE_SRV:
		return a->data.srv.priority == b->data.srv.priority &&
		       a->data.srv.weight == b->data.srv.weight &&
		       a->data.srv.port == b->data.srv.port &&
		       ov_dns_name_equal(&a->data.srv.target, &b->data.srv.target);
	default:
		return false;
	}
}

static int grow(struct ov_dns_zone *z)
{
	struct ov_dns_zone_rec *n;
	size_t want;

	if (z->count < z->alloc)
		return 0;
	want = z->alloc ? MIN(z->alloc * 2, (size_t)OV_DNS_ZONE_RECORDS_MAX) : RECS_FIRST_ALLOC;
	n = realloc(z->recs, want * sizeof(*n));
	if (!n)
		return -ENOMEM;
	z->recs = n;
	z->alloc = want;
	return 0;
}

static int add(struct ov_dns_zone *z, const struct ov_dns_zone_rec *rec)
{
	size_t lo, i, same = 0, at;
	int r;

	if (!ov_dns_name_is_under(&rec->name, &z->origin))
		return -EINVAL;
	lo = lower_bound(z, &rec->name);
	at = lo;
	for (i = lo; i < z->count && ov_dns_name_equal(&z->recs[i].name, &rec->name); i++) {
		if (same_data(&z->recs[i], rec)) {
			z->recs[i].owner = rec->owner;
			return 0;
		}
		if (z->recs[i].type <= rec->type)
			at = i + 1; /* after its type's run: answers keep insertion order */
		same++;
	}
	if (same >= OV_DNS_ZONE_PER_NAME_MAX || z->count >= OV_DNS_ZONE_RECORDS_MAX)
		return -ENOSPC;
	r = grow(z);
	if (r < 0)
		return r;
	memmove(&z->recs[at + 1], &z->recs[at], (z->count - at) * sizeof(z->recs[0]));
	z->recs[at] = *rec;
	z->count++;
	z->serial++;
	return 0;
}

/* The A or AAAA record for host (qualified in the zone) and addr; 0 or -errno. */
static int addr_rec(struct ov_dns_zone *z, const char *host, int family, const void *addr,
		    struct ov_dns_zone_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (!addr)
		return -EINVAL;
	if (family == AF_INET) {
		rec->type = OV_DNS_TYPE_A;
		memcpy(rec->data.a, addr, sizeof(rec->data.a));
	} else if (family == AF_INET6) {
		rec->type = OV_DNS_TYPE_AAAA;
		memcpy(rec->data.aaaa, addr, sizeof(rec->data.aaaa));
	} else {
		return -EAFNOSUPPORT;
	}
	return qualify(z, host, &rec->name);
}

int ov_dns_zone_add_addr(struct ov_dns_zone *z, const char *host, int family, const void *addr,
			 uint32_t owner)
{
	struct ov_dns_zone_rec rec;
	int r = addr_rec(z, host, family, addr, &rec);

	if (r < 0)
		return r;
	rec.owner = owner;
	return add(z, &rec);
}

int ov_dns_zone_add_srv(struct ov_dns_zone *z, const char *name, uint16_t priority, uint16_t weight,
			uint16_t port, const char *target, uint32_t owner)
{
	struct ov_dns_zone_rec rec;
	int r;

	memset(&rec, 0, sizeof(rec));
	rec.type = OV_DNS_TYPE_SRV;
	rec.owner = owner;
	rec.data.srv.priority = priority;
	rec.data.srv.weight = weight;
	rec.data.srv.port = port;
	r = qualify(z, name, &rec.name);
	if (r == 0)
		r = qualify(z, target, &rec.data.srv.target);
	if (r < 0)
		return r;
	return add(z, &rec);
}

/* Drops the records match() selects, keeping the order; returns how many went. */
static int remove_if(struct ov_dns_zone *z,
		     bool (*match)(const struct ov_dns_zone_rec *, const void *), const void *arg)
{
	size_t out = 0, gone;

	for (size_t i = 0; i < z->count; i++) {
		if (match(&z->recs[i], arg))
			continue;
		if (out != i)
			z->recs[out] = z->recs[i];
		out++;
	}
	gone = z->count - out;
	z->count = out;
	if (gone)
		z->serial++;
	return (int)gone;
}

static bool match_name(const struct ov_dns_zone_rec *rec, const void *arg)
{
	return ov_dns_name_equal(&rec->name, arg);
}

static bool match_rec(const struct ov_dns_zone_rec *rec, const void *arg)
{
	const struct ov_dns_zone_rec *want = arg;

	return ov_dns_name_equal(&rec->name, &want->name) && same_data(rec, want);
}

static bool match_owner(const struct ov_dns_zone_rec *rec, const void *arg)
{
	return rec->owner == *(const uint32_t *)arg;
}

int ov_dns_zone_remove_name(struct ov_dns_zone *z, const char *host)
{
	struct ov_dns_name n;
	int r = qualify(z, host, &n);

	if (r < 0)
		return r;
	return remove_if(z, match_name, &n);
}

int ov_dns_zone_remove_addr(struct ov_dns_zone *z, const char *host, int family, const void *addr)
{
	struct ov_dns_zone_rec rec;
	int r = addr_rec(z, host, family, addr, &rec);

	if (r < 0)
		return r;
	return remove_if(z, match_rec, &rec);
}

static size_t unhealthy_index(const struct ov_dns_zone *z, uint32_t owner)
{
	size_t i;

	for (i = 0; i < z->n_unhealthy; i++) {
		if (z->unhealthy[i] == owner)
			break;
	}
	return i;
}

static void unhealthy_drop(struct ov_dns_zone *z, size_t i)
{
	z->unhealthy[i] = z->unhealthy[--z->n_unhealthy];
}

int ov_dns_zone_remove_owner(struct ov_dns_zone *z, uint32_t owner)
{
	size_t i = unhealthy_index(z, owner);

	/* The node is gone: forget its health mark too, so a reused id starts healthy. */
	if (i < z->n_unhealthy)
		unhealthy_drop(z, i);
	return remove_if(z, match_owner, &owner);
}

int ov_dns_zone_set_healthy(struct ov_dns_zone *z, uint32_t owner, bool healthy)
{
	size_t i;

	if (owner == OV_DNS_ZONE_OWNER_NONE)
		return -EINVAL;
	i = unhealthy_index(z, owner);
	if (healthy) {
		if (i < z->n_unhealthy) {
			unhealthy_drop(z, i);
			z->serial++;
		}
		return 0;
	}
	if (i < z->n_unhealthy)
		return 0;
	if (z->n_unhealthy >= OV_DNS_ZONE_UNHEALTHY_MAX)
		return -ENOSPC;
	z->unhealthy[z->n_unhealthy++] = owner;
	z->serial++;
	return 0;
}

bool ov_dns_zone_is_healthy(const struct ov_dns_zone *z, uint32_t owner)
{
	return owner == OV_DNS_ZONE_OWNER_NONE || unhealthy_index(z, owner) == z->n_unhealthy;
}

int ov_dns_zone_node_label(int family, const void *addr, char *buf, size_t cap)
{
	const uint8_t *b = addr;
	int n;

	if (!addr || !buf)
		return -EINVAL;
	if (family == AF_INET)
		n = snprintf(buf, cap, "node-%u-%u", b[2], b[3]);
	else if (family == AF_INET6)
		n = snprintf(buf, cap, "node-%02x%02x", b[14], b[15]);
	else
		return -EAFNOSUPPORT;
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Lookup                                                                                   */

static void put_rec(struct ov_dns_rr *rr, const struct ov_dns_zone_rec *rec)
{
	memset(rr, 0, sizeof(*rr));
	rr->name = &rec->name;
	rr->type = rec->type;
	rr->ttl = OV_DNS_ZONE_TTL;
	switch (rec->type) {
	case OV_DNS_TYPE_A:
		memcpy(rr->data.a, rec->data.a, sizeof(rr->data.a));
		break;
	case OV_DNS_TYPE_AAAA:
		memcpy(rr->data.aaaa, rec->data.aaaa, sizeof(rr->data.aaaa));
		break;
	case OV_DNS_TYPE_SRV:
		rr->data.srv.priority = rec->data.srv.priority;
		rr->data.srv.weight = rec->data.srv.weight;
		rr->data.srv.port = rec->data.srv.port;
		rr->data.srv.target = &rec->data.srv.target;
		break;
	default:
		break;
	}
}

/* RFC 2308 §3: the SOA's TTL is what resolvers cache the absence for, so both are NEG_TTL. */
static void put_soa(const struct ov_dns_zone *z, struct ov_dns_rr *rr)
{
	memset(rr, 0, sizeof(*rr));
	rr->name = &z->origin;
	rr->type = OV_DNS_TYPE_SOA;
	rr->ttl = OV_DNS_ZONE_NEG_TTL;
	rr->data.soa.mname = &z->origin;
	rr->data.soa.rname = &z->hostmaster;
	rr->data.soa.serial = z->serial;
	rr->data.soa.refresh = OV_DNS_ZONE_SOA_REFRESH;
	rr->data.soa.retry = OV_DNS_ZONE_SOA_RETRY;
	rr->data.soa.expire = OV_DNS_ZONE_SOA_EXPIRE;
	rr->data.soa.minimum = OV_DNS_ZONE_NEG_TTL;
}

static bool visible(const struct ov_dns_zone *z, const struct ov_dns_zone_rec *rec)
{
	return ov_dns_zone_is_healthy(z, rec->owner);
}

/*
 * Is anything visible strictly below n? In canonical order every name under n follows n
 * directly, so the run starting at lo (n's own records first) is all there is to scan.
 */
static bool visible_descendant(const struct ov_dns_zone *z, size_t lo, const struct ov_dns_name *n)
{
	for (size_t i = lo; i < z->count && ov_dns_name_is_under(&z->recs[i].name, n); i++) {
		if (visible(z, &z->recs[i]))
			return true;
	}
	return false;
}

/* RFC 2782: the addresses of in-zone SRV targets go in the additional section. */
static void add_srv_glue(const struct ov_dns_zone *z, struct ov_dns_answer *a)
{
	for (size_t i = 0; i < a->an_count; i++) {
		const struct ov_dns_name *t = a->an[i].data.srv.target;
		bool seen = false;

		if (a->an[i].type != OV_DNS_TYPE_SRV || !ov_dns_name_is_under(t, &z->origin))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = a->an[j].type == OV_DNS_TYPE_SRV &&
			       ov_dns_name_equal(a->an[j].data.srv.target, t);
		if (seen)
			continue;
		for (size_t k = lower_bound(z, t);
		     k < z->count && ov_dns_name_equal(&z->recs[k].name, t); k++) {
			const struct ov_dns_zone_rec *rec = &z->recs[k];

			if (a->ar_count == OV_DNS_ADDITIONAL_MAX)
				return;
			if ((rec->type == OV_DNS_TYPE_A || rec->type == OV_DNS_TYPE_AAAA) &&
			    visible(z, rec))
				put_rec(&a->ar[a->ar_count++], rec);
		}
	}
}

enum ov_dns_zone_verdict ov_dns_zone_lookup(const struct ov_dns_zone *z, const struct ov_dns_msg *q,
					    struct ov_dns_answer *ret)
{
	const struct ov_dns_name *qn = &q->qname;
	struct ov_dns_answer *a = ret;
	bool exists = false;
	size_t lo;

	if (!q->has_question || !ov_dns_name_is_under(qn, &z->origin))
		return OV_DNS_ZONE_FORWARD;

	a->rcode = OV_DNS_RCODE_NOERROR;
	a->aa = true;
	a->ra = true; /* the server forwards everything outside the zone */
	a->tc = false;
	a->an_count = a->ns_count = a->ar_count = 0;
	if ((q->qclass != OV_DNS_CLASS_IN && q->qclass != OV_DNS_CLASS_ANY) ||
	    q->qtype == OV_DNS_TYPE_AXFR || q->qtype == OV_DNS_TYPE_IXFR) {
		a->rcode = OV_DNS_RCODE_REFUSED;
		a->aa = false;
		return OV_DNS_ZONE_ANSWERED;
	}

	lo = lower_bound(z, qn);
	/* At most OV_DNS_ZONE_PER_NAME_MAX records per name: an[] cannot overflow. */
	for (size_t i = lo; i < z->count && ov_dns_name_equal(&z->recs[i].name, qn); i++) {
		const struct ov_dns_zone_rec *rec = &z->recs[i];

		if (!visible(z, rec))
			continue;
		exists = true;
		if (q->qtype == rec->type || q->qtype == OV_DNS_TYPE_ANY)
			put_rec(&a->an[a->an_count++], rec);
	}
	if (ov_dns_name_equal(qn, &z->origin)) {
		exists = true; /* the apex holds the SOA */
		if (q->qtype == OV_DNS_TYPE_SOA || q->qtype == OV_DNS_TYPE_ANY)
			put_soa(z, &a->an[a->an_count++]);
	}
	if (a->an_count) {
		add_srv_glue(z, a);
		return OV_DNS_ZONE_ANSWERED;
	}

	/* Negative: NODATA if the name exists or has visible descendants (RFC 8020), else
	 * NXDOMAIN; both carry the SOA so the absence can be cached (RFC 2308 §2). */
	if (!exists)
		exists = visible_descendant(z, lo, qn);
	a->rcode = exists ? OV_DNS_RCODE_NOERROR : OV_DNS_RCODE_NXDOMAIN;
	put_soa(z, &a->ns[0]);
	a->ns_count = 1;
	return OV_DNS_ZONE_ANSWERED;
}

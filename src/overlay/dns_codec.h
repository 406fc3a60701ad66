/* SPDX-License-Identifier: MIT */
/*
 * DNS message codec for the overlay's service-discovery server: RFC 1035 §4 messages with
 * name compression, EDNS(0) (RFC 6891), SRV (RFC 2782) and SOA-bearing negative answers
 * (RFC 2308), plus what the forwarder needs (ID rewrite, matching an upstream answer to its
 * question, RFC 5452 §9.1) and TCP framing (RFC 1035 §4.2.2, RFC 7766 §8).
 *
 * Pure: bytes in, structs out and back. Must not: do I/O, allocate, read outside the buffer
 * it was given, follow a compression pointer that does not point strictly before the name
 * piece that holds it (the rule that makes loops impossible), or write past the caller's
 * limit. A parse error is a named outcome, one per reason, so the server can count them.
 *
 * Decisions:
 * - Queries must carry exactly one question (QDCOUNT 1); anything else is FORMERR. Other
 *   opcodes than QUERY get NOTIMP; messages with QR set, or shorter than a header, are
 *   dropped (answering them would feed reflection and response loops).
 * - Structure is checked end to end: every record of every section, known RDATA shapes (A,
 *   AAAA, SRV, SOA in class IN), OPT placement and options, and no trailing bytes.
 * - Responses echo the question as sent (0x20 case randomisation survives) and an OPT when
 *   the query had one (RFC 6891 §7), copying DO (RFC 3225 §3). Over UDP they are cut to
 *   ov_dns_udp_limit(): when answer or authority records do not fit, all of them are left
 *   out and TC is set; additional records are dropped one by one without TC (RFC 2181 §9).
 * - Name helpers trust their arguments to be well formed (made by ov_dns_name_from_text,
 *   ov_dns_name_concat or a parse); the builder re-checks every name it is handed.
 */
#ifndef WEFT_OVERLAY_DNS_CODEC_H
#define WEFT_OVERLAY_DNS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	OV_DNS_HEADER_LEN = 12,	     /* RFC 1035 §4.1.1 */
	OV_DNS_NAME_MAX = 255,	     /* §2.3.4: octets of a wire name, root label included */
	OV_DNS_LABEL_MAX = 63,	     /* §2.3.4 */
	OV_DNS_NAME_TEXT_MAX = 1024, /* text form, every octet as \DDD at worst, NUL included */
	OV_DNS_UDP_MIN = 512,	     /* §4.2.1: UDP payload without EDNS; RFC 6891 §6.2.5 floor */
	/*
	 * The UDP payload we advertise and the most we ever send over UDP, whatever the client
	 * offers: 1232 fits a 1280-byte IPv6 minimum MTU without fragmentation (DNS Flag Day
	 * 2020), and our overlay MTU is 1420.
	 */
	OV_DNS_EDNS_UDP_SIZE = 1232,
	OV_DNS_TCP_MAX = 65535, /* §4.2.2: two-byte length prefix */
	OV_DNS_OPT_LEN = 11,	/* an OPT record without options: root, type, class, TTL, RDLEN */
	/*
	 * Compression pointers followed while reading one name. A name has at most 127 labels
	 * and no encoder emits a pointer to a pointer, so a longer chain is an attack on our CPU
	 * (each hop already goes strictly backwards, so it cannot loop).
	 */
	OV_DNS_PTR_HOPS_MAX = 127,
	OV_DNS_PTR_MAX_OFFSET = 0x3fff, /* §4.1.4: 14-bit offsets */
	OV_DNS_COMPRESS_MAX = 128,	/* name suffixes remembered for compression per message */
	OV_DNS_ANSWER_MAX = 64,		/* answer records in one ov_dns_answer */
	OV_DNS_AUTHORITY_MAX = 1,	/* the SOA of a negative answer */
	OV_DNS_ADDITIONAL_MAX = 16,	/* addresses of SRV targets */
};

/* RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891, RFC 1995, RFC 5936, RFC 1035 §3.2.3. */
enum ov_dns_type {
	OV_DNS_TYPE_A = 1,
	OV_DNS_TYPE_NS = 2,
	OV_DNS_TYPE_CNAME = 5,
	OV_DNS_TYPE_SOA = 6,
	OV_DNS_TYPE_PTR = 12,
	OV_DNS_TYPE_MX = 15,
	OV_DNS_TYPE_TXT = 16,
	OV_DNS_TYPE_AAAA = 28,
	OV_DNS_TYPE_SRV = 33,
	OV_DNS_TYPE_OPT = 41,
	OV_DNS_TYPE_IXFR = 251,
	OV_DNS_TYPE_AXFR = 252,
	OV_DNS_TYPE_ANY = 255,
};

enum ov_dns_class {
	OV_DNS_CLASS_IN = 1,
	OV_DNS_CLASS_CH = 3,
	OV_DNS_CLASS_ANY = 255,
};

/* RFC 1035 §4.1.1; BADVERS is a 12-bit extended rcode (RFC 6891 §9). */
enum ov_dns_rcode {
	OV_DNS_RCODE_NOERROR = 0,
	OV_DNS_RCODE_FORMERR = 1,
	OV_DNS_RCODE_SERVFAIL = 2,
	OV_DNS_RCODE_NXDOMAIN = 3,
	OV_DNS_RCODE_NOTIMP = 4,
	OV_DNS_RCODE_REFUSED = 5,
	OV_DNS_RCODE_BADVERS = 16,
};

enum {
	OV_DNS_OPCODE_QUERY = 0,
	OV_DNS_OPCODE_SHIFT = 11,
	OV_DNS_OPCODE_MASK = 0xf,
	OV_DNS_FLAG_QR = 0x8000,
	OV_DNS_FLAG_AA = 0x0400,
	OV_DNS_FLAG_TC = 0x0200,
	OV_DNS_FLAG_RD = 0x0100,
	OV_DNS_FLAG_RA = 0x0080,
	OV_DNS_FLAG_AD = 0x0020,
	OV_DNS_FLAG_CD = 0x0010,
	OV_DNS_RCODE_MASK = 0x000f,
	OV_DNS_EDNS_DO = 0x8000, /* RFC 3225: in the low 16 bits of the OPT TTL */
};

enum ov_dns_section {
	OV_DNS_SECTION_ANSWER = 1,
	OV_DNS_SECTION_AUTHORITY = 2,
	OV_DNS_SECTION_ADDITIONAL = 3,
};

/*
 * Why a message was refused, one value per reason. ov_dns_parse_rcode() says what to do:
 * drop, or answer with FORMERR, NOTIMP or BADVERS.
 */
enum ov_dns_parse_result {
	OV_DNS_PARSE_OK = 0,
	OV_DNS_PARSE_DROP_SHORT,    /* under 12 bytes: no ID to answer to */
	OV_DNS_PARSE_DROP_RESPONSE, /* QR set: never answer an answer */
	OV_DNS_PARSE_NOTIMP_OPCODE, /* opcode other than QUERY */
	OV_DNS_PARSE_ERR_QDCOUNT,   /* a query without exactly one question, or a message with >1 */
	OV_DNS_PARSE_ERR_TRUNCATED, /* a field runs past the end */
	OV_DNS_PARSE_ERR_LABEL_TYPE,	   /* 0x40/0x80 label types (RFC 6891 §5 retired them) */
	OV_DNS_PARSE_ERR_NAME_TOO_LONG,	   /* more than 255 octets once decompressed */
	OV_DNS_PARSE_ERR_PTR_HEADER,	   /* compression pointer into the header */
	OV_DNS_PARSE_ERR_PTR_NOT_BACKWARD, /* pointer at or after its own name piece: loops */
	OV_DNS_PARSE_ERR_PTR_HOPS,	   /* more than OV_DNS_PTR_HOPS_MAX pointers in a name */
	OV_DNS_PARSE_ERR_BAD_RDATA,	   /* A/AAAA/SRV/SOA RDATA of the wrong shape */
	OV_DNS_PARSE_ERR_BAD_OPT,  /* OPT not in additional, not at root, twice, bad options */
	OV_DNS_PARSE_ERR_QTYPE,	   /* OPT asked as a question (RFC 6891 §6.1.1) */
	OV_DNS_PARSE_ERR_TRAILING, /* bytes after the last record */
	OV_DNS_PARSE_BADVERS,	   /* EDNS version other than 0 (RFC 6891 §6.1.3) */
	OV_DNS_PARSE__COUNT
};

/* A domain name in uncompressed wire form: length-prefixed labels ending with the root. */
struct ov_dns_name {
	uint8_t len; /* octets used in wire: 1 (the root) to OV_DNS_NAME_MAX; 0 = unset */
	uint8_t wire[OV_DNS_NAME_MAX];
};

/*
 * A parsed message. Filled as far as parsing got: has_header, has_question and has_edns say
 * which parts are valid, so an error answer can still echo the ID, question and OPT.
 */
struct ov_dns_msg {
	bool has_header;
	uint16_t id;
	uint16_t flags; /* QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE as on the wire */
	uint16_t qdcount, ancount, nscount, arcount;

	bool has_question;
	struct ov_dns_name qname; /* case as sent */
	uint16_t qtype, qclass;

	bool has_edns;		/* an OPT record was seen (its options may still be bad) */
	uint16_t edns_udp_size; /* as sent; ov_dns_udp_limit() applies the floor and our cap */
	uint8_t edns_ext_rcode; /* upper 8 bits of a response's 12-bit rcode */
	uint8_t edns_version;
	bool edns_do;

	/* The bytes parsed (not owned) and where the first record after the question starts. */
	const uint8_t *buf;
	size_t len, rr_off;
};

/* One record of a parsed message, as ov_dns_rr_iter_next() yields it. */
struct ov_dns_rr_view {
	enum ov_dns_section section;
	struct ov_dns_name name;
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t rdlength;
	size_t rdata_off; /* offset of the RDATA in msg->buf */
};

struct ov_dns_rr_iter {
	const struct ov_dns_msg *msg;
	size_t pos;
	uint32_t index;
};

/*
 * A record to put in a response (class IN). Names are pointers, not copies: they must stay
 * valid until ov_dns_build_response() returns.
 */
struct ov_dns_rr {
	const struct ov_dns_name *name;
	uint16_t type; /* A, AAAA, SRV or SOA */
	uint32_t ttl;
	union {
		uint8_t a[4];
		uint8_t aaaa[16];
		struct {
			uint16_t priority, weight, port;
			const struct ov_dns_name *target;
		} srv;
		struct {
			const struct ov_dns_name *mname, *rname;
			uint32_t serial, refresh, retry, expire, minimum;
		} soa;
	} data;
};

/* What to answer; the ID, question, RD, CD and OPT come from the query. */
struct ov_dns_answer {
	uint16_t rcode; /* ov_dns_rcode; above 15 only if the query had EDNS */
	bool aa;	/* authoritative (our zone) */
	bool ra;	/* recursion available (we forward what is outside the zone) */
	bool tc; /* force an empty, truncated answer (e.g. a forwarded one too big for UDP) */
	size_t an_count, ns_count, ar_count;
	struct ov_dns_rr an[OV_DNS_ANSWER_MAX];
	struct ov_dns_rr ns[OV_DNS_AUTHORITY_MAX];
	struct ov_dns_rr ar[OV_DNS_ADDITIONAL_MAX];
};

/* Forwarder: why an upstream datagram is not the answer to our question (RFC 5452 §9.1). */
enum ov_dns_upstream_result {
	OV_DNS_UPSTREAM_OK = 0,
	OV_DNS_UPSTREAM_MALFORMED,    /* does not parse */
	OV_DNS_UPSTREAM_NOT_RESPONSE, /* QR clear */
	OV_DNS_UPSTREAM_ID,
	OV_DNS_UPSTREAM_OPCODE,
	OV_DNS_UPSTREAM_NO_QUESTION,
	OV_DNS_UPSTREAM_QNAME, /* compared case-insensitively (RFC 4343) */
	OV_DNS_UPSTREAM_QTYPE,
	OV_DNS_UPSTREAM_QCLASS,
};

/* ---- Parsing ---------------------------------------------------------------------------- */

/* Any message (query or response), checked end to end. m is always written. */
enum ov_dns_parse_result ov_dns_parse_message(const uint8_t *buf, size_t len, struct ov_dns_msg *m);
/* A query for our server: ov_dns_parse_message() plus the query rules above. */
enum ov_dns_parse_result ov_dns_parse_query(const uint8_t *buf, size_t len, struct ov_dns_msg *q);
/* -1: drop silently; otherwise the rcode to answer with (ov_dns_build_error). */
int ov_dns_parse_rcode(enum ov_dns_parse_result r);
const char *ov_dns_parse_result_str(enum ov_dns_parse_result r);
/* The largest UDP response for this query: 512 without EDNS, else its size in [512, 1232]. */
size_t ov_dns_udp_limit(const struct ov_dns_msg *q);

/* Records after the question, in order; only for a message that parsed OK. */
void ov_dns_rr_iter_init(struct ov_dns_rr_iter *it, const struct ov_dns_msg *m);
bool ov_dns_rr_iter_next(struct ov_dns_rr_iter *it, struct ov_dns_rr_view *ret);
/* A possibly compressed name at off in m->buf (e.g. in RDATA); *ret_next = just after it. */
int ov_dns_read_name(const struct ov_dns_msg *m, size_t off, struct ov_dns_name *ret,
		     size_t *ret_next);

/* ---- Names ------------------------------------------------------------------------------ */

/*
 * "web.zlayer.local" or "web.zlayer.local." (always absolute; "." is the root). Labels of
 * letters, digits, '-' and '_' only: these names come from our own config and containers.
 */
int ov_dns_name_from_text(struct ov_dns_name *ret, const char *text);
/* Absolute text with a final dot; octets outside [A-Za-z0-9_-] as \DDD. Returns the length. */
int ov_dns_name_to_text(const struct ov_dns_name *n, char *buf, size_t cap);
/* prefix (without its root) followed by suffix; -ENAMETOOLONG past 255 octets. */
int ov_dns_name_concat(struct ov_dns_name *ret, const struct ov_dns_name *prefix,
		       const struct ov_dns_name *suffix);
unsigned ov_dns_name_labels(const struct ov_dns_name *n); /* root not counted */
/* RFC 4343: ASCII letters compare without case; every other octet exactly. */
bool ov_dns_name_equal(const struct ov_dns_name *a, const struct ov_dns_name *b);
/* n equals ancestor or lies below it. */
bool ov_dns_name_is_under(const struct ov_dns_name *n, const struct ov_dns_name *ancestor);
/* RFC 4034 §6.1 canonical order (labels from the right, case folded): <0, 0, >0. */
int ov_dns_name_canon_cmp(const struct ov_dns_name *a, const struct ov_dns_name *b);

/* ---- Building --------------------------------------------------------------------------- */

/* A query with RD as asked and, when edns_udp_size != 0, an OPT advertising it. */
int ov_dns_build_query(uint16_t id, const struct ov_dns_name *qname, uint16_t qtype, bool rd,
		       uint16_t edns_udp_size, uint8_t *buf, size_t cap, size_t *ret_len);
/*
 * The response to q (parsed at least up to its header) carrying a. max_len is the transport
 * limit: ov_dns_udp_limit(q) for UDP, OV_DNS_TCP_MAX for TCP. Returns 0, -EINVAL for a bad
 * answer (unknown type, missing name, rcode > 15 without EDNS), -EMSGSIZE if not even the
 * header, question and OPT fit in min(cap, max_len).
 */
int ov_dns_build_response(const struct ov_dns_msg *q, const struct ov_dns_answer *a, size_t max_len,
			  uint8_t *buf, size_t cap, size_t *ret_len);
/* An empty answer with rcode (FORMERR, NOTIMP, SERVFAIL, REFUSED, BADVERS...). */
int ov_dns_build_error(const struct ov_dns_msg *q, uint16_t rcode, uint8_t *buf, size_t cap,
		       size_t *ret_len);

/* ---- Forwarder -------------------------------------------------------------------------- */

/* Rewrites the message ID in place (the upstream saw our ID; the client wants its own). */
int ov_dns_set_id(uint8_t *msg, size_t len, uint16_t id);
/*
 * Is buf the answer to q, sent upstream with ID id? m receives the parsed answer (rcode, TC)
 * as far as it parsed.
 */
enum ov_dns_upstream_result ov_dns_check_upstream(const uint8_t *buf, size_t len, uint16_t id,
						  const struct ov_dns_msg *q, struct ov_dns_msg *m);

/* ---- TCP framing (RFC 1035 §4.2.2) ------------------------------------------------------ */

/* Writes the two-byte length; -EMSGSIZE above 65535. */
int ov_dns_tcp_put_len(uint8_t out[static 2], size_t msg_len);
/*
 * The first whole message in a stream buffer: returns the bytes it takes (2 + length) and
 * points ret_msg into stream, or 0 when more bytes are needed.
 */
size_t ov_dns_tcp_next(const uint8_t *stream, size_t len, const uint8_t **ret_msg,
		       size_t *ret_msg_len);

#endif

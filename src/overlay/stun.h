/* SPDX-License-Identifier: MIT */
/*
 * STUN (RFC 8489) and TURN (RFC 8656) message codec: parse a datagram into a struct, build one
 * into a caller's buffer, check MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32), and
 * the ChannelData framing of TURN (RFC 8656 §12.4).
 *
 * Pure: bytes in, structs out and back. Must not: do I/O, allocate, read outside the buffer it
 * was given, or write past the caller's capacity. Cryptography comes from crypto/ (HMAC-SHA1,
 * MD5, CRC-32); nothing here includes a crypto library.
 *
 * Decisions:
 * - ov_stun_is_stun() is the demultiplexer for a socket shared with WireGuard (RFC 8489 §7.3
 *   and RFC 7983): WireGuard messages start with a type byte 1..4 and three zero bytes, so the
 *   magic cookie at bytes 4..7 never matches one of them by itself, and the length checks
 *   make an accidental match of a random datagram (a transport message's counter) unlikely.
 * - A parse checks the whole structure: header, every attribute's length and padding, known
 *   attributes' shapes. A FINGERPRINT present and wrong is an error; FINGERPRINT must be the
 *   last attribute. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored
 *   (RFC 8489 §14.5). Unknown comprehension-optional attributes (0x8000..0xFFFF) are skipped;
 *   unknown comprehension-required ones (0x0000..0x7FFF) are listed, not refused: a server
 *   answers 420 with them, a client treats a response carrying them as failed (§6.3.1, §6.3.4).
 * - Strings and DATA are views into the parsed buffer (pointer + length): they live as long as
 *   the buffer does and are not NUL-terminated.
 * - Passwords are used as given (no SASLprep/OpaqueString): weft's credentials are ASCII.
 * - ChannelData over UDP is built without padding (RFC 8656 §12.5 makes it optional over UDP);
 *   a parse accepts up to 3 trailing padding bytes.
 */
#ifndef WEFT_OVERLAY_STUN_H
#define WEFT_OVERLAY_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/wg.h" /* struct wg_endpoint */

enum {
	OV_STUN_HEADER_LEN = 20,	      /* RFC 8489 §5 */
	OV_STUN_MAGIC_COOKIE = 0x2112A442,    /* RFC 8489 §5 */
	OV_STUN_TXID_LEN = 12,		      /* RFC 8489 §5: 96 bits */
	OV_STUN_INTEGRITY_LEN = 20,	      /* HMAC-SHA1, RFC 8489 §14.5 */
	OV_STUN_LONG_TERM_KEY_LEN = 16,	      /* MD5(user:realm:pass), RFC 8489 §9.2.2 */
	OV_STUN_FINGERPRINT_XOR = 0x5354554e, /* "STUN", RFC 8489 §14.7 */
	OV_STUN_MAX_MSG = 1500,		      /* our cap on a message we parse or build (§6.1) */
	OV_STUN_MAX_ATTRS = 48,		      /* our cap on attributes in one message */
	OV_STUN_MAX_UNKNOWN = 8,	      /* comprehension-required unknowns listed */
	OV_STUN_USERNAME_MAX = 512,	      /* RFC 8489 §14.3: < 513 bytes */
	OV_STUN_REALM_MAX = 763,	      /* RFC 8489 §14.9: < 128 chars, <= 763 bytes */
	OV_STUN_NONCE_MAX = 763,	      /* RFC 8489 §14.10 */
	OV_STUN_REASON_MAX = 763,	      /* RFC 8489 §14.8 */
	OV_STUN_PASSWORD_MAX = 255,	      /* our cap on a password (weft's are short) */
	OV_STUN_CHANNEL_MIN = 0x4000,	      /* RFC 8656 §12: channel numbers 0x4000..0x4FFF */
	OV_STUN_CHANNEL_MAX = 0x4FFF,
	OV_STUN_CHANNEL_HEADER_LEN = 4, /* RFC 8656 §12.4: channel number, length */
};

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
enum ov_stun_method {
	OV_STUN_BINDING = 0x001,	   /* RFC 8489 §3 */
	OV_STUN_ALLOCATE = 0x003,	   /* RFC 8656 §7 */
	OV_STUN_REFRESH = 0x004,	   /* RFC 8656 §8 */
	OV_STUN_SEND = 0x006,		   /* RFC 8656 §11.1 (indication only) */
	OV_STUN_DATA = 0x007,		   /* RFC 8656 §11.3 (indication only) */
	OV_STUN_CREATE_PERMISSION = 0x008, /* RFC 8656 §10 */
	OV_STUN_CHANNEL_BIND = 0x009,	   /* RFC 8656 §12 */
};

/* Classes (RFC 8489 §5: bits C1 C0 of the message type). */
enum ov_stun_class {
	OV_STUN_REQUEST = 0,
	OV_STUN_INDICATION = 1,
	OV_STUN_SUCCESS = 2,
	OV_STUN_ERROR = 3,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18). */
enum ov_stun_attr {
	/* comprehension-required (0x0000..0x7FFF) */
	OV_STUN_ATTR_MAPPED_ADDRESS = 0x0001,		/* RFC 8489 §14.1 */
	OV_STUN_ATTR_USERNAME = 0x0006,			/* RFC 8489 §14.3 */
	OV_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,	/* RFC 8489 §14.5 */
	OV_STUN_ATTR_ERROR_CODE = 0x0009,		/* RFC 8489 §14.8 */
	OV_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,	/* RFC 8489 §14.13 */
	OV_STUN_ATTR_CHANNEL_NUMBER = 0x000C,		/* RFC 8656 §18.1 */
	OV_STUN_ATTR_LIFETIME = 0x000D,			/* RFC 8656 §18.2 */
	OV_STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,		/* RFC 8656 §18.3 */
	OV_STUN_ATTR_DATA = 0x0013,			/* RFC 8656 §18.4 */
	OV_STUN_ATTR_REALM = 0x0014,			/* RFC 8489 §14.9 */
	OV_STUN_ATTR_NONCE = 0x0015,			/* RFC 8489 §14.10 */
	OV_STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,	/* RFC 8656 §18.5 */
	OV_STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017, /* RFC 8656 §18.6 */
	OV_STUN_ATTR_EVEN_PORT = 0x0018,		/* RFC 8656 §18.7 */
	OV_STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,	/* RFC 8656 §18.8 */
	OV_STUN_ATTR_DONT_FRAGMENT = 0x001A,		/* RFC 8656 §18.9 */
	OV_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C, /* RFC 8489 §14.6 */
	OV_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,	/* RFC 8489 §14.12 */
	OV_STUN_ATTR_USERHASH = 0x001E,			/* RFC 8489 §14.4 */
	OV_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,	/* RFC 8489 §14.2 */
	OV_STUN_ATTR_RESERVATION_TOKEN = 0x0022,	/* RFC 8656 §18.10 */
	/* comprehension-optional (0x8000..0xFFFF) */
	OV_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000, /* RFC 8656 §18.11 */
	OV_STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,	 /* RFC 8656 §18.12 */
	OV_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,	 /* RFC 8489 §14.11 */
	OV_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,		 /* RFC 8489 §14.16 */
	OV_STUN_ATTR_ICMP = 0x8004,			 /* RFC 8656 §18.13 */
	OV_STUN_ATTR_SOFTWARE = 0x8022,			 /* RFC 8489 §14.14 */
	OV_STUN_ATTR_ALTERNATE_SERVER = 0x8023,		 /* RFC 8489 §14.15 */
	OV_STUN_ATTR_FINGERPRINT = 0x8028,		 /* RFC 8489 §14.7 */
};

/* Error codes used here (RFC 8489 §14.8, RFC 8656 §18). */
enum ov_stun_error_code {
	OV_STUN_ERR_TRY_ALTERNATE = 300,
	OV_STUN_ERR_BAD_REQUEST = 400,
	OV_STUN_ERR_UNAUTHORIZED = 401,
	OV_STUN_ERR_FORBIDDEN = 403, /* RFC 8656 */
	OV_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
	OV_STUN_ERR_ALLOCATION_MISMATCH = 437, /* RFC 8656 */
	OV_STUN_ERR_STALE_NONCE = 438,
	OV_STUN_ERR_ADDRESS_FAMILY = 440,	 /* RFC 8656 */
	OV_STUN_ERR_WRONG_CREDENTIALS = 441,	 /* RFC 8656 */
	OV_STUN_ERR_UNSUPPORTED_TRANSPORT = 442, /* RFC 8656 */
	OV_STUN_ERR_PEER_ADDRESS_FAMILY = 443,	 /* RFC 8656 */
	OV_STUN_ERR_QUOTA = 486,		 /* RFC 8656: allocation quota reached */
	OV_STUN_ERR_SERVER = 500,
	OV_STUN_ERR_CAPACITY = 508, /* RFC 8656: insufficient capacity */
};

/* REQUESTED-TRANSPORT's protocol number for UDP (RFC 8656 §18.8). */
#define OV_STUN_TRANSPORT_UDP 17

/* A parsed message. Pointers point into the buffer given to ov_stun_parse. */
struct ov_stun_msg {
	uint16_t method; /* enum ov_stun_method (12 bits) */
	uint8_t cls;	 /* enum ov_stun_class */
	uint8_t txid[OV_STUN_TXID_LEN];
	uint16_t length; /* the header's length field */

	bool has_xor_mapped, has_mapped, has_xor_peer, has_xor_relayed;
	struct wg_endpoint xor_mapped, mapped, xor_peer, xor_relayed; /* first of each */

	bool has_error;
	uint16_t error_code; /* 300..699 */
	const char *error_reason;
	size_t error_reason_len;

	bool has_lifetime;
	uint32_t lifetime; /* seconds */
	bool has_channel;
	uint16_t channel;
	bool has_data;
	const uint8_t *data;
	size_t data_len;

	bool has_username, has_realm, has_nonce;
	const char *username, *realm, *nonce;
	size_t username_len, realm_len, nonce_len;

	bool has_integrity;
	size_t integrity_offset; /* offset of the MESSAGE-INTEGRITY attribute's header in buf */
	bool has_fingerprint;	 /* present (a parse only succeeds when it is also valid) */

	/* Comprehension-required attributes this codec does not know, in order. */
	uint16_t unknown[OV_STUN_MAX_UNKNOWN];
	size_t n_unknown; /* entries in unknown[] */
	bool unknown_truncated;
};

/* True when buf looks like a STUN message (see the file header). Reads at most 8 bytes. */
bool ov_stun_is_stun(const uint8_t *buf, size_t len);

/*
 * Parse a STUN message. Returns 0 and fills *ret, or -EBADMSG with a reason in err (errlen may
 * be 0). Integrity is not checked here (the key depends on the transaction): see
 * ov_stun_check_integrity. A FINGERPRINT, when present, is checked.
 */
int ov_stun_parse(const uint8_t *buf, size_t len, struct ov_stun_msg *ret, char *err,
		  size_t errlen);

/* The 16-bit message type of a method and class (RFC 8489 §5), and back. */
uint16_t ov_stun_type(uint16_t method, enum ov_stun_class cls);
static inline uint16_t ov_stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}
static inline enum ov_stun_class ov_stun_type_class(uint16_t type)
{
	return (enum ov_stun_class)(((type >> 4) & 1) | ((type >> 7) & 2));
}

/*
 * Builder. ov_stun_begin writes the header; each add appends one attribute (padded to 4);
 * ov_stun_end returns the message's length or the first error (-ENOSPC when the buffer or
 * OV_STUN_MAX_MSG was too small, -EINVAL for a bad argument; the error sticks and later
 * adds do nothing). ov_stun_add_integrity and ov_stun_add_fingerprint cover everything added
 * before them, so add them last (integrity, then fingerprint).
 */
struct ov_stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

void ov_stun_begin(struct ov_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		   enum ov_stun_class cls, const uint8_t txid[static OV_STUN_TXID_LEN]);
/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (RFC 8489 §14.2). */
void ov_stun_add_xor_addr(struct ov_stun_builder *b, uint16_t type, const struct wg_endpoint *ep);
/* MAPPED-ADDRESS form, not XORed (RFC 8489 §14.1). */
void ov_stun_add_addr(struct ov_stun_builder *b, uint16_t type, const struct wg_endpoint *ep);
void ov_stun_add_bytes(struct ov_stun_builder *b, uint16_t type, const void *p, size_t len);
void ov_stun_add_string(struct ov_stun_builder *b, uint16_t type, const char *s);
void ov_stun_add_u32(struct ov_stun_builder *b, uint16_t type, uint32_t v);
/* CHANNEL-NUMBER: the number, then RFFU 0 (RFC 8656 §18.1). */
void ov_stun_add_channel(struct ov_stun_builder *b, uint16_t channel);
/* REQUESTED-TRANSPORT: protocol, then 3 RFFU bytes (RFC 8656 §18.8). */
void ov_stun_add_transport(struct ov_stun_builder *b, uint8_t protocol);
/* ERROR-CODE: code 300..699 and a reason phrase (RFC 8489 §14.8). */
void ov_stun_add_error(struct ov_stun_builder *b, unsigned code, const char *reason);
/* UNKNOWN-ATTRIBUTES: the types of a 420 answer (RFC 8489 §14.13). */
void ov_stun_add_unknown(struct ov_stun_builder *b, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY over the message so far with key (short-term: the password; long-term:
 * ov_stun_long_term_key's output). */
void ov_stun_add_integrity(struct ov_stun_builder *b, const uint8_t *key, size_t keylen);
void ov_stun_add_fingerprint(struct ov_stun_builder *b);
int ov_stun_end(struct ov_stun_builder *b);

/*
 * True when msg (parsed from buf/len) has a MESSAGE-INTEGRITY that is HMAC-SHA1(key) of the
 * message up to it, with the length field as RFC 8489 §14.5 prescribes. Constant-time compare.
 */
bool ov_stun_check_integrity(const uint8_t *buf, size_t len, const struct ov_stun_msg *msg,
			     const uint8_t *key, size_t keylen);

/* Long-term credential key MD5(user ":" realm ":" pass) (RFC 8489 §9.2.2). realm is not
 * NUL-terminated (as it comes from a parse); user and pass are C strings. 0, or -EINVAL when
 * one is longer than its cap. */
int ov_stun_long_term_key(uint8_t out[static OV_STUN_LONG_TERM_KEY_LEN], const char *user,
			  const char *realm, size_t realm_len, const char *pass);

/* --- ChannelData (RFC 8656 §12.4) --- */

/* True when buf starts with a channel number in 0x4000..0x4FFF and its length fits len
 * (with at most 3 bytes of padding after it). */
bool ov_stun_is_channel_data(const uint8_t *buf, size_t len);
/* 0 with the channel and a view of the application data, or -EBADMSG. */
int ov_stun_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *ret_channel,
			       const uint8_t **ret_data, size_t *ret_len);
/* Writes header + data (unpadded, for UDP). Returns the length or -ENOSPC/-EINVAL.
 * data may already sit at buf + OV_STUN_CHANNEL_HEADER_LEN (then it is not moved). */
int ov_stun_channel_data_build(uint8_t *buf, size_t cap, uint16_t channel, const uint8_t *data,
			       size_t len);

/* --- Binding (RFC 8489 §3), for the WireGuard port that answers and asks --- */

/*
 * The answer to a Binding request req (len bytes, received from src) into out: a success with
 * XOR-MAPPED-ADDRESS src (and FINGERPRINT when the request had one), or 420 with
 * UNKNOWN-ATTRIBUTES when it carries comprehension-required attributes we do not know.
 * Never larger than the request, so answering cannot amplify (issue 14): -EMSGSIZE when it
 * would be (do not answer). -EBADMSG (do not answer) for anything but a well-formed Binding
 * request. MESSAGE-INTEGRITY in the request is not checked: the answer only tells the sender
 * its own address. Returns the answer's length.
 */
int ov_stun_binding_answer(const uint8_t *req, size_t len, const struct wg_endpoint *src,
			   uint8_t *out, size_t cap);
/*
 * A Binding request that ov_stun_binding_answer will answer for either family: padded with a
 * SOFTWARE attribute (comprehension-optional, so any server accepts it) to at least
 * OV_STUN_BINDING_LEN bytes, with FINGERPRINT; with a USERNAME when username is not NULL
 * (weft's connectivity checks name their sender: "weft:NAME"). Returns its length or
 * -ENOSPC.
 */
enum { OV_STUN_BINDING_LEN = 56 };
int ov_stun_binding_request(const uint8_t txid[static OV_STUN_TXID_LEN], const char *username,
			    uint8_t *out, size_t cap);

/* "Binding", "Allocate", ... or "unknown method": names for logs. */
const char *ov_stun_method_name(uint16_t method);

#endif

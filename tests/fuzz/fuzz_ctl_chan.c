/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what an unauthenticated sender can make a control channel parse — the
 * pre-authentication path of ctl/chan.c and ctl/handshake.c.
 *
 * The first input byte (mod 5) selects:
 *   0, 1  the rest as the byte stream a responder reads (overlay, join), through a socket
 *         pair: header checks, exact-length message 1, accept callback, then one frame
 *   2     the rest as message 1, straight to ctl_hs_read1 (both kinds)
 *   3     the rest as message 2, to an initiator that sent a fixed message 1
 *   4     a valid message 1 (fixed keys) with the rest applied as (offset, xor) edits: must
 *         be refused unless no byte changed
 * Nothing may crash or leak, a refusal must leave no channel keys, and an accepted message 1
 * must name the one initiator key that made it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "ctl/chan.h"
#include "ctl/handshake.h"
#include "fuzz.h"

static uint8_t r_priv[32], r_pub[32], i_priv[32], i_pub[32], e_priv[32];
static bool ready;

static void setup(void)
{
	if (ready)
		return;
	if (crypto_init())
		abort();
	memset(r_priv, 0x11, 32);
	memset(i_priv, 0x22, 32);
	memset(e_priv, 0x33, 32);
	crypto_x25519_clamp(r_priv);
	crypto_x25519_clamp(i_priv);
	crypto_x25519_clamp(e_priv);
	if (crypto_x25519_public(r_pub, r_priv) || crypto_x25519_public(i_pub, i_priv))
		abort();
	ready = true;
}

static int accept_known(void *ctx, const uint8_t remote_static[32], const uint8_t *payload,
			uint8_t psk[32], bool *send_refusal, char *err, size_t errlen)
{
	(void)ctx;
	(void)payload;
	(void)psk;
	*send_refusal = true;
	if (memcmp(remote_static, i_pub, 32))
		abort(); /* message 1 cannot authenticate a key that did not make it */
	snprintf(err, errlen, "fuzz");
	return 0;
}

static void stream(enum ctl_hs_kind kind, const uint8_t *data, size_t size)
{
	struct ctl_chan ch;
	char err[256];
	int sv[2];

	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	if (size && write(sv[0], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	ctl_chan_init(&ch, sv[1], 200, CTL_CHAN_PREAUTH_MAX);
	if (ctl_chan_respond(&ch, kind, r_priv, accept_known, NULL, err, sizeof(err)) == 0) {
		uint8_t type;
		json_t *j;

		if (ctl_chan_recv(&ch, &type, &j, err, sizeof(err)) == 0)
			abort(); /* nobody without the initiator's ephemeral key can seal a frame */
	} else if (ch.sealed || !crypto_is_zero(&ch.keys, sizeof(ch.keys))) {
		abort();
	}
	ctl_chan_done(&ch);
	close(sv[0]);
	close(sv[1]);
}

static void read1(const uint8_t *data, size_t size)
{
	uint8_t payload[CTL_HS_JOIN_PAYLOAD_LEN];

	for (int kind = CTL_HS_OVERLAY; kind <= CTL_HS_JOIN; kind++) {
		struct ctl_hs hs;

		if (ctl_hs_init(&hs, kind, false, r_priv, NULL))
			abort();
		if (ctl_hs_read1(&hs, data, size, payload) == 0 && memcmp(hs.remote_static, i_pub, 32))
			abort();
		ctl_hs_wipe(&hs);
	}
}

static void read2(const uint8_t *data, size_t size)
{
	uint8_t m1[CTL_HS_MSG1_MAX];
	struct ctl_keys k;
	struct ctl_hs hs;

	if (ctl_hs_init(&hs, CTL_HS_OVERLAY, true, i_priv, r_pub) || ctl_hs_write1(&hs, e_priv, NULL, m1))
		abort();
	if (ctl_hs_read2(&hs, NULL, data, size, &k) == 0)
		abort(); /* only the responder's key could have made it, with its fresh ephemeral */
	ctl_hs_wipe(&hs);
}

static void edited(const uint8_t *data, size_t size)
{
	static const uint8_t id[CTL_HS_JOIN_PAYLOAD_LEN] = "fuzz-token-id-16";
	uint8_t m1[CTL_HS_MSG1_MAX], m[CTL_HS_MSG1_MAX], payload[CTL_HS_JOIN_PAYLOAD_LEN];
	size_t len = ctl_hs_msg1_len(CTL_HS_JOIN);
	struct ctl_hs i, r;
	bool changed;
	int rc;

	if (ctl_hs_init(&i, CTL_HS_JOIN, true, i_priv, r_pub) || ctl_hs_write1(&i, e_priv, id, m1))
		abort();
	memcpy(m, m1, len);
	for (size_t k = 0; k + 1 < size; k += 2)
		m[data[k] % len] ^= data[k + 1];
	changed = memcmp(m, m1, len) != 0;
	if (ctl_hs_init(&r, CTL_HS_JOIN, false, r_priv, NULL))
		abort();
	rc = ctl_hs_read1(&r, m, len, payload);
	if (changed ? rc == 0 : (rc != 0 || memcmp(payload, id, sizeof(id))))
		abort();
	ctl_hs_wipe(&i);
	ctl_hs_wipe(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		stream(CTL_HS_OVERLAY, data + 1, size - 1);
		break;
	case 1:
		stream(CTL_HS_JOIN, data + 1, size - 1);
		break;
	case 2:
		read1(data + 1, size - 1);
		break;
	case 3:
		read2(data + 1, size - 1);
		break;
	default:
		edited(data + 1, size - 1);
	}
	return 0;
}

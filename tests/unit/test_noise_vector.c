/* SPDX-License-Identifier: MIT */
/*
 * The cacophony Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector (tests/vectors, VECTORS_DIR from
 * meson, so the test reads the repository's own copy whatever the cwd) through the
 * engine's Noise core, byte for byte: both handshake messages, the handshake hash and the
 * four transport messages after the split. Also WireGuard's precomputed C_i / H_i.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wg/noise.h"

struct vec {
	char protocol[64];
	uint8_t prologue[64];
	size_t prologue_len;
	uint8_t psk[32], init_static[32], init_eph[32], resp_static[32], resp_eph[32], hash[32];
	uint8_t payload[6][64], cipher[6][128];
	size_t payload_len[6], cipher_len[6];
};

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void hexfield(json_t *o, const char *key, uint8_t *out, size_t cap, size_t *len)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (json_is_array(v))
		v = json_array_get(v, 0);
	assert_non_null(v);
	assert_true(json_is_string(v));
	n = unhex(out, cap, json_string_value(v));
	if (len)
		*len = n;
	else
		assert_int_equal(n, cap);
}

static void load(struct vec *v)
{
	json_error_t err;
	json_t *root = json_load_file(VECTORS_DIR "/noise-ikpsk2-cacophony.json", 0, &err);
	json_t *o, *msgs;

	if (!root)
		fail_msg("cannot load vector: %s (line %d)", err.text, err.line);
	o = json_array_get(json_object_get(root, "vectors"), 0);
	assert_non_null(o);
	snprintf(v->protocol, sizeof(v->protocol), "%s",
		 json_string_value(json_object_get(o, "protocol_name")));
	hexfield(o, "init_prologue", v->prologue, sizeof(v->prologue), &v->prologue_len);
	hexfield(o, "init_psks", v->psk, 32, NULL);
	hexfield(o, "init_static", v->init_static, 32, NULL);
	hexfield(o, "init_ephemeral", v->init_eph, 32, NULL);
	hexfield(o, "resp_static", v->resp_static, 32, NULL);
	hexfield(o, "resp_ephemeral", v->resp_eph, 32, NULL);
	hexfield(o, "handshake_hash", v->hash, 32, NULL);
	msgs = json_object_get(o, "messages");
	assert_int_equal(json_array_size(msgs), 6);
	for (int i = 0; i < 6; i++) {
		json_t *m = json_array_get(msgs, (size_t)i);

		hexfield(m, "payload", v->payload[i], sizeof(v->payload[i]), &v->payload_len[i]);
		hexfield(m, "ciphertext", v->cipher[i], sizeof(v->cipher[i]), &v->cipher_len[i]);
	}
	json_decref(root);
}

static void test_cacophony(void **state)
{
	struct vec v;
	struct noise_symmetric si, sr;
	uint8_t init_pub[32], resp_pub[32], ie_pub[32], re_pub[32], ss[32];
	uint8_t out[256], got_static[32], got_e[32], payload[64];
	uint8_t ik1[32], ik2[32], rk1[32], rk2[32];

	(void)state;
	memset(&v, 0, sizeof(v));
	load(&v);
	assert_int_equal(crypto_x25519_public(init_pub, v.init_static), 0);
	assert_int_equal(crypto_x25519_public(resp_pub, v.resp_static), 0);
	assert_int_equal(crypto_x25519_public(ie_pub, v.init_eph), 0);
	assert_int_equal(crypto_x25519_public(re_pub, v.resp_eph), 0);

	/* Both sides: InitializeSymmetric(name), MixHash(prologue), pre-message <- s. */
	noise_symmetric_init(&si, v.protocol, v.prologue, v.prologue_len);
	noise_mix_hash(&si, resp_pub, 32);
	noise_symmetric_init(&sr, v.protocol, v.prologue, v.prologue_len);
	noise_mix_hash(&sr, resp_pub, 32);

	/* Message 1: -> e, es, s, ss */
	assert_int_equal(crypto_x25519(ss, v.init_static, resp_pub), 0);
	assert_int_equal(v.cipher_len[0], NOISE_MSG1_LEN(v.payload_len[0]));
	assert_int_equal(noise_write_msg1(&si, v.init_eph, ie_pub, resp_pub, init_pub, ss,
					  v.payload[0], v.payload_len[0], out),
			 0);
	assert_memory_equal(out, v.cipher[0], v.cipher_len[0]);

	assert_int_equal(noise_read_msg1_static(&sr, v.resp_static, v.cipher[0], got_e, got_static),
			 0);
	assert_memory_equal(got_static, init_pub, 32);
	assert_memory_equal(got_e, ie_pub, 32);
	assert_int_equal(crypto_x25519(ss, v.resp_static, got_static), 0);
	assert_int_equal(noise_read_msg1_payload(&sr, ss, v.cipher[0], payload, v.payload_len[0]),
			 0);
	assert_memory_equal(payload, v.payload[0], v.payload_len[0]);

	/* Message 2: <- e, ee, se, psk */
	assert_int_equal(v.cipher_len[1], NOISE_MSG2_LEN(v.payload_len[1]));
	assert_int_equal(noise_write_msg2(&sr, v.resp_eph, re_pub, got_e, got_static, v.psk,
					  v.payload[1], v.payload_len[1], out),
			 0);
	assert_memory_equal(out, v.cipher[1], v.cipher_len[1]);
	assert_int_equal(noise_read_msg2(&si, v.init_eph, v.init_static, v.psk, v.cipher[1],
					 payload, v.payload_len[1], got_e),
			 0);
	assert_memory_equal(payload, v.payload[1], v.payload_len[1]);
	assert_memory_equal(got_e, re_pub, 32);

	/* Handshake hash, both sides. */
	assert_memory_equal(si.h, v.hash, 32);
	assert_memory_equal(sr.h, v.hash, 32);

	/* Transport: initiator sends with k1, responder with k2; nonces count per direction. */
	noise_split(&si, ik1, ik2);
	noise_split(&sr, rk1, rk2);
	assert_memory_equal(ik1, rk1, 32);
	assert_memory_equal(ik2, rk2, 32);
	for (int i = 2; i < 6; i++) {
		const uint8_t *k = (i % 2 == 0) ? ik1 : ik2;
		uint64_t nonce = (uint64_t)(i - 2) / 2;

		assert_int_equal(v.cipher_len[i], v.payload_len[i] + 16);
		assert_int_equal(crypto_aead_seal_once(k, nonce, out, v.payload[i],
						       v.payload_len[i], NULL, 0),
				 0);
		assert_memory_equal(out, v.cipher[i], v.cipher_len[i]);
		assert_int_equal(crypto_aead_open_once(k, nonce, payload, v.cipher[i],
						       v.cipher_len[i], NULL, 0),
				 0);
		assert_memory_equal(payload, v.payload[i], v.payload_len[i]);
	}
}

static void test_wireguard_initial_state(void **state)
{
	static const uint8_t ci[32] = {
		0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0, 0x2e, 0xc3, 0x35,
		0xe2, 0xa0, 0x25, 0xd2, 0xd0, 0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72,
		0x77, 0xf5, 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36};
	static const uint8_t hi[32] = {
		0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66, 0x69, 0x12, 0x43,
		0xdb, 0x45, 0x8a, 0xd5, 0x32, 0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93,
		0xe8, 0xb7, 0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3};
	struct noise_symmetric s;

	(void)state;
	noise_symmetric_init_wireguard(&s);
	assert_memory_equal(s.ck, ci, 32);
	assert_memory_equal(s.h, hi, 32);
}

/* A tampered message 1 must fail authentication at the first part it touches. */
static void test_tampered_msg1(void **state)
{
	struct vec v;
	struct noise_symmetric sr;
	uint8_t resp_pub[32], e[32], st[32], ss[32], payload[64], msg[128];

	(void)state;
	memset(&v, 0, sizeof(v));
	load(&v);
	assert_int_equal(crypto_x25519_public(resp_pub, v.resp_static), 0);
	for (size_t i = 0; i < v.cipher_len[0]; i++) {
		int r;

		memcpy(msg, v.cipher[0], v.cipher_len[0]);
		msg[i] ^= 0x01;
		noise_symmetric_init(&sr, v.protocol, v.prologue, v.prologue_len);
		noise_mix_hash(&sr, resp_pub, 32);
		r = noise_read_msg1_static(&sr, v.resp_static, msg, e, st);
		if (r == 0) {
			assert_true(i >= 80); /* e and s are authenticated by s's tag */
			assert_int_equal(crypto_x25519(ss, v.resp_static, st), 0);
			r = noise_read_msg1_payload(&sr, ss, msg, payload, v.payload_len[0]);
		}
		assert_int_not_equal(r, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cacophony),
		cmocka_unit_test(test_wireguard_initial_state),
		cmocka_unit_test(test_tampered_msg1),
	};

	assert_int_equal(crypto_init(), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * bench-crypto: one-core throughput of the engine's transport encrypt and decrypt for
 * 1420-byte packets (the whole engine path: counter, padding, AEAD, replay window, inner
 * checks), and complete handshakes per second. With `--openssl KBPS` (the figure of
 * `openssl speed -evp chacha20-poly1305 -bytes 1420`, in 1000s of bytes/s) it also prints
 * the engine/OpenSSL ratios. Each figure is the median of 5 runs of about 0.6 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "bench.h"
#include "lib/util.h"
#include "wg/wg.h"

enum { PKT = 1420, BATCH = 64, RUNS = 5 };

static uint64_t fake_now = 1000 * NSEC_PER_SEC;

static void env_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (crypto_random(buf, len))
		abort();
}

static void env_tai64n(void *ctx, uint8_t out[WG_TAI64N_LEN])
{
	(void)ctx;
	put_be64(out, 0x400000000000000aULL + fake_now / NSEC_PER_SEC);
	put_be32(out + 8, (uint32_t)(fake_now % NSEC_PER_SEC));
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

struct pair {
	struct wg_device a, b;
	struct wg_peer *pa, *pb; /* pa: A's peer (B), pb: B's peer (A) */
	uint8_t ka[WG_KEY_LEN], kb[WG_KEY_LEN], pua[WG_KEY_LEN], pub_b[WG_KEY_LEN];
	struct wg_endpoint ea, eb;
};

static void die(const char *what)
{
	fprintf(stderr, "bench-crypto: %s failed\n", what);
	exit(1);
}

static void pair_init(struct pair *p)
{
	const struct wg_env env = {.random = env_random, .tai64n = env_tai64n};
	uint8_t ipa[4] = {10, 200, 0, 1}, ipb[4] = {10, 200, 0, 2};

	memset(p, 0, sizeof(*p));
	if (wg_device_init(&p->a, &env) || wg_device_init(&p->b, &env))
		die("init");
	if (crypto_x25519_keygen(p->ka, p->pua) || crypto_x25519_keygen(p->kb, p->pub_b))
		die("keygen");
	if (wg_device_set_private_key(&p->a, p->ka) || wg_device_set_private_key(&p->b, p->kb))
		die("key");
	if (wg_peer_new(&p->a, p->pub_b, &p->pa) || wg_peer_new(&p->b, p->pua, &p->pb))
		die("peer");
	if (wg_allowedips_insert(&p->a.allowedips, WG_AF_INET, ipb, 32, p->pa) ||
	    wg_allowedips_insert(&p->b.allowedips, WG_AF_INET, ipa, 32, p->pb))
		die("allowedips");
	p->ea.family = p->eb.family = WG_AF_INET;
	p->ea.addr[0] = p->eb.addr[0] = 127;
	p->ea.addr[3] = 1;
	p->eb.addr[3] = 2;
}

/* One complete handshake, A initiating; B confirmed by a keepalive. */
static void handshake(struct pair *p)
{
	uint8_t msg[WG_MAX_HANDSHAKE_LEN], reply[WG_MAX_HANDSHAKE_LEN], ka[64];
	struct wg_rx rx;
	size_t len;
	unsigned act = 0;

	fake_now += 6 * NSEC_PER_SEC; /* past the one-initiation-per-5-s rule */
	if (wg_peer_initiation(p->pa, false, fake_now, msg) != WG_TX_OK)
		die("initiation");
	if (wg_device_receive(&p->b, msg, WG_MSG_INITIATION_LEN, &p->ea, fake_now, reply, &rx) !=
	    WG_RX_HANDSHAKE_INIT)
		die("consume initiation");
	memcpy(msg, reply, WG_MSG_RESPONSE_LEN);
	if (wg_device_receive(&p->a, msg, WG_MSG_RESPONSE_LEN, &p->eb, fake_now, reply, &rx) !=
	    WG_RX_HANDSHAKE_RESP)
		die("consume response");
	if (wg_peer_encrypt(p->pa, ka, 0, PKT, fake_now, &len, &act) != WG_TX_OK ||
	    wg_device_receive(&p->b, ka, len, &p->ea, fake_now, reply, &rx) != WG_RX_KEEPALIVE)
		die("keepalive");
}

static size_t make_packet(uint8_t *buf)
{
	memset(buf, 0x5a, PKT);
	memset(buf, 0, 20);
	buf[0] = 0x45;
	put_be16(buf + 2, PKT);
	buf[12] = 10, buf[13] = 200, buf[15] = 1;
	buf[16] = 10, buf[17] = 200, buf[19] = 2;
	return PKT;
}

int main(int argc, char **argv)
{
	static uint8_t bufs[BATCH][PKT + 64];
	uint8_t pkt[PKT], reply[WG_MAX_HANDSHAKE_LEN];
	double enc[RUNS], dec[RUNS], hs[RUNS], openssl_kbps = 0;
	size_t lens[BATCH];
	struct pair *p = malloc(sizeof(*p));
	struct wg_rx rx;

	if (argc == 3 && !strcmp(argv[1], "--openssl"))
		openssl_kbps = atof(argv[2]);
	if (!p)
		return 1;
	pair_init(p);
	handshake(p);
	make_packet(pkt);

	for (int run = 0; run < RUNS; run++) {
		double t_enc = 0, t_dec = 0, t0;
		size_t n = 0;

		while (t_enc < 0.6) {
			for (int k = 0; k < BATCH; k++)
				memcpy(bufs[k] + WG_DATA_HEADER_LEN, pkt, PKT);
			t0 = now_s();
			for (int k = 0; k < BATCH; k++) {
				unsigned act = 0;

				if (wg_peer_encrypt(p->pa, bufs[k], PKT, PKT, fake_now, &lens[k],
						    &act) != WG_TX_OK)
					die("encrypt");
			}
			t_enc += now_s() - t0;
			t0 = now_s();
			for (int k = 0; k < BATCH; k++)
				if (wg_device_receive(&p->b, bufs[k], lens[k], &p->ea, fake_now,
						      reply, &rx) != WG_RX_DATA)
					die("decrypt");
			t_dec += now_s() - t0;
			n += BATCH;
		}
		enc[run] = (double)n * PKT / t_enc;
		dec[run] = (double)n * PKT / t_dec;
	}

	for (int run = 0; run < RUNS; run++) {
		double t0 = now_s(), t;
		size_t n = 0;

		do {
			handshake(p);
			n++;
			t = now_s() - t0;
		} while (t < 0.6);
		hs[run] = (double)n / t;
	}

	printf("engine transport encrypt, 1420-byte packets, 1 core: %8.1f MB/s\n",
	       median(enc) / 1e6);
	printf("engine transport decrypt, 1420-byte packets, 1 core: %8.1f MB/s\n",
	       median(dec) / 1e6);
	printf("handshakes completed per second, 1 core:           %8.0f\n", median(hs));
	if (openssl_kbps > 0) {
		double ossl = openssl_kbps * 1000;

		printf("openssl speed -evp chacha20-poly1305, 1420 bytes:   %8.1f MB/s\n",
		       ossl / 1e6);
		printf("ratio encrypt/openssl: %.2f   decrypt/openssl: %.2f   (goal >= 0.85)\n",
		       median(enc) / ossl, median(dec) / ossl);
	}
	wg_device_done(&p->a);
	wg_device_done(&p->b);
	free(p);
	return 0;
}

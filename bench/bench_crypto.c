/* SPDX-License-Identifier: MIT */
/*
 * bench-crypto, on one core:
 *  - the per-message ChaCha20-Poly1305 of every provider this build has (crypto/aead.h:
 *    OpenSSL 3.0 EVP, libgcrypt), seal and open at 64, 128, 512 and 1420 bytes, as the data
 *    plane uses them: one context per key, a new nonce per message, no associated data.
 *    Thread CPU nanoseconds per message, the median of AEAD_RUNS runs of AEAD_RUN_S; the
 *    providers and sizes are interleaved within each run, so a loaded machine slows all of
 *    them alike and the ratios stay comparable. `--aead-only` stops after this table;
 *  - the engine's transport encrypt and decrypt for 1420-byte packets (the whole engine path:
 *    counter, padding, AEAD, replay window, inner checks) and complete handshakes per second,
 *    medians of 5 runs of about 0.6 s. With `--openssl KBPS` (the figure of `openssl speed
 *    -evp chacha20-poly1305 -bytes 1420`, in 1000s of bytes/s) also the engine/OpenSSL ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/aead.h"
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

/* --- per-message AEAD, per provider --- */

enum { AEAD_RUNS = 21, AEAD_MSGS = 256, AEAD_MAX = 1420 };
#define AEAD_RUN_S 0.03

/*
 * This thread's CPU time: time the thread was preempted for does not count, which on a shared
 * machine is most of the noise of a wall clock (caches others dirty still count).
 */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const size_t aead_sizes[] = {64, 128, 512, 1420};
#define N_SIZES (sizeof(aead_sizes) / sizeof(aead_sizes[0]))

static const struct crypto_aead_provider *const providers[] = {
	&crypto_aead_openssl,
#if WEFT_HAVE_GCRYPT
	&crypto_aead_gcrypt,
#endif
};
#define N_PROV (sizeof(providers) / sizeof(providers[0]))

static void nonce_of(uint8_t nonce[12], uint64_t c)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(c >> (8 * i));
}

struct aead_bench {
	void *seal, *open;
	uint64_t counter;
	/* AEAD_MSGS sealed messages per size, for open to work on; one output buffer. */
	uint8_t sealed[N_SIZES][AEAD_MSGS][AEAD_MAX + CRYPTO_TAG_LEN];
	uint8_t out[AEAD_MAX + CRYPTO_TAG_LEN];
};

/* ns of CPU per message: messages in rounds of AEAD_MSGS until AEAD_RUN_S of CPU time. */
static double aead_time(const struct crypto_aead_provider *p, struct aead_bench *b, size_t si,
			bool seal, const uint8_t *msg)
{
	size_t len = aead_sizes[si], n = 0;
	uint8_t nonce[12];
	double t0 = cpu_s(), t;

	do {
		for (int k = 0; k < AEAD_MSGS; k++) {
			int r;

			if (seal) {
				nonce_of(nonce, b->counter++);
				r = p->crypt(b->seal, true, nonce, b->out, msg, len, NULL, 0);
			} else {
				nonce_of(nonce, (uint64_t)k);
				r = p->crypt(b->open, false, nonce, b->out, b->sealed[si][k], len,
					     NULL, 0);
			}
			if (r)
				die(seal ? "aead seal" : "aead open");
		}
		n += AEAD_MSGS;
		t = cpu_s() - t0;
	} while (t < AEAD_RUN_S);
	return t * 1e9 / (double)n;
}

static void bench_aead(void)
{
	static double seal_ns[N_PROV][N_SIZES][AEAD_RUNS], open_ns[N_PROV][N_SIZES][AEAD_RUNS];
	static uint8_t msg[AEAD_MAX];
	double med_seal[N_PROV][N_SIZES], med_open[N_PROV][N_SIZES];
	struct aead_bench *b[N_PROV];
	uint8_t key[CRYPTO_KEY_LEN], nonce[12];

	if (crypto_random(key, sizeof(key)) || crypto_random(msg, sizeof(msg)))
		die("random");
	for (size_t pi = 0; pi < N_PROV; pi++) {
		b[pi] = calloc(1, sizeof(*b[pi]));
		if (!b[pi] || providers[pi]->ctx_new(&b[pi]->seal, key, true) ||
		    providers[pi]->ctx_new(&b[pi]->open, key, false))
			die("aead context");
		for (size_t si = 0; si < N_SIZES; si++)
			for (int k = 0; k < AEAD_MSGS; k++) {
				nonce_of(nonce, (uint64_t)k);
				if (providers[pi]->crypt(b[pi]->seal, true, nonce,
							 b[pi]->sealed[si][k], msg, aead_sizes[si],
							 NULL, 0))
					die("aead seal");
			}
	}
	/* Warm-up: one untimed pass of everything (frequency, caches, lazy set-up). */
	for (size_t si = 0; si < N_SIZES; si++)
		for (size_t pi = 0; pi < N_PROV; pi++) {
			aead_time(providers[pi], b[pi], si, true, msg);
			aead_time(providers[pi], b[pi], si, false, msg);
		}
	for (int run = 0; run < AEAD_RUNS; run++)
		for (size_t si = 0; si < N_SIZES; si++)
			for (size_t pi = 0; pi < N_PROV; pi++) {
				seal_ns[pi][si][run] =
					aead_time(providers[pi], b[pi], si, true, msg);
				open_ns[pi][si][run] =
					aead_time(providers[pi], b[pi], si, false, msg);
			}
	for (size_t pi = 0; pi < N_PROV; pi++)
		for (size_t si = 0; si < N_SIZES; si++) {
			qsort(seal_ns[pi][si], AEAD_RUNS, sizeof(double), cmp_double);
			qsort(open_ns[pi][si], AEAD_RUNS, sizeof(double), cmp_double);
			med_seal[pi][si] = seal_ns[pi][si][AEAD_RUNS / 2];
			med_open[pi][si] = open_ns[pi][si][AEAD_RUNS / 2];
		}

	printf("ChaCha20-Poly1305 per message, 1 core: one context per key, a new nonce per "
	       "message, no AD;\nthread CPU ns per message, median of %d runs of %.2f s (sizes and "
	       "providers interleaved;\nmin-max in brackets); x = openssl ns / this ns\n",
	       AEAD_RUNS, AEAD_RUN_S);
	printf("%6s  %-10s %22s %22s %9s %9s %8s %8s\n", "bytes", "provider", "seal ns", "open ns",
	       "seal MB/s", "open MB/s", "seal x", "open x");
	for (size_t si = 0; si < N_SIZES; si++)
		for (size_t pi = 0; pi < N_PROV; pi++) {
			double s = med_seal[pi][si], o = med_open[pi][si];
			char sr[32], or [32];

			snprintf(sr, sizeof(sr), "%.0f [%.0f-%.0f]", s, seal_ns[pi][si][0],
				 seal_ns[pi][si][AEAD_RUNS - 1]);
			snprintf(or, sizeof(or), "%.0f [%.0f-%.0f]", o, open_ns[pi][si][0],
				 open_ns[pi][si][AEAD_RUNS - 1]);
			printf("%6zu  %-10s %22s %22s %9.0f %9.0f %8.2f %8.2f\n", aead_sizes[si],
			       providers[pi]->name, sr, or, (double)aead_sizes[si] * 1e3 / s,
			       (double)aead_sizes[si] * 1e3 / o, med_seal[0][si] / s,
			       med_open[0][si] / o);
		}
	for (size_t pi = 0; pi < N_PROV; pi++) {
		size_t si = N_SIZES - 1;

		printf("seal + open of 1 GB in %zu-byte messages, %-10s %5.2f s\n", aead_sizes[si],
		       providers[pi]->name,
		       (med_seal[pi][si] + med_open[pi][si]) * 1e-9 * 1e9 / (double)aead_sizes[si]);
	}
	printf("crypto_aead_* in this build (meson option aead): %s\n\n", crypto_aead_chosen->name);
	for (size_t pi = 0; pi < N_PROV; pi++) {
		providers[pi]->ctx_free(b[pi]->seal);
		providers[pi]->ctx_free(b[pi]->open);
		crypto_wipe(b[pi], sizeof(*b[pi]));
		free(b[pi]);
	}
	crypto_wipe(key, sizeof(key));
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
	if (!p || crypto_init())
		return 1;
	bench_aead();
	if (argc == 2 && !strcmp(argv[1], "--aead-only")) {
		free(p);
		return 0;
	}
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

/* SPDX-License-Identifier: MIT */
/*
 * weft-engine-demo: two WireGuard engines in one process, real keys, real randomness and
 * the real clock, joined by an in-memory "wire". Prints each step of a handshake and a data
 * round trip: what a device built on the engine does, without sockets or a TUN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "lib/util.h"
#include "wg/wg.h"

struct node {
	const char *name;
	struct wg_device dev;
	struct wg_peer *peer;
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct wg_endpoint ep;
};

static void env_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	if (crypto_random(buf, len)) {
		fprintf(stderr, "CSPRNG failure\n");
		abort();
	}
}

static void env_tai64n(void *ctx, uint8_t out[WG_TAI64N_LEN])
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	put_be64(out, 0x400000000000000aULL + (uint64_t)ts.tv_sec);
	put_be32(out + 8, (uint32_t)ts.tv_nsec & ~0xffffffu);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void hex(const char *label, const uint8_t *p, size_t n)
{
	printf("    %-22s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int setup(struct node *n, const char *name, uint8_t last_octet)
{
	const struct wg_env env = {.random = env_random, .tai64n = env_tai64n};
	int r;

	n->name = name;
	r = wg_device_init(&n->dev, &env);
	if (!r)
		r = crypto_x25519_keygen(n->priv, n->pub);
	if (!r)
		r = wg_device_set_private_key(&n->dev, n->priv);
	n->ep.family = WG_AF_INET;
	n->ep.addr[0] = 198;
	n->ep.addr[1] = 18;
	n->ep.addr[3] = last_octet;
	n->ep.port = 51820;
	return r;
}

static int link_peers(struct node *a, struct node *b, uint8_t b_octet)
{
	uint8_t ip[4] = {10, 200, 0, b_octet};
	int r = wg_peer_new(&a->dev, b->pub, &a->peer);

	if (!r)
		r = wg_allowedips_insert(&a->dev.allowedips, WG_AF_INET, ip, 32, a->peer);
	return r;
}

static size_t make_ping(uint8_t *p, uint8_t src, uint8_t dst, const char *text)
{
	size_t tl = strlen(text), len = 20 + tl;

	memset(p, 0, 20);
	p[0] = 0x45;
	put_be16(p + 2, (uint16_t)len);
	p[8] = 64;
	p[9] = 17;
	p[12] = 10, p[13] = 200, p[15] = src;
	p[16] = 10, p[17] = 200, p[19] = dst;
	memcpy(p + 20, text, tl);
	return len;
}

/* Deliver one wire message to `to`, print the outcome; a reply goes back into msg. */
static enum wg_rx_result deliver(struct node *to, struct node *from, uint8_t *msg, size_t *len,
				 struct wg_rx *rx)
{
	uint8_t reply[WG_MAX_HANDSHAKE_LEN];
	enum wg_rx_result r = wg_device_receive(&to->dev, msg, *len, &from->ep, now_ns(), reply, rx);

	printf("  %s <- %zu bytes: %s\n", to->name, *len, wg_rx_result_name(r));
	if (rx->reply) {
		memcpy(msg, rx->reply, rx->reply_len);
		*len = rx->reply_len;
	}
	return r;
}

static int send_data(struct node *from, struct node *to, uint8_t src, uint8_t dst,
		     const char *text)
{
	uint8_t buf[2048], pkt[256];
	size_t plen = make_ping(pkt, src, dst, text), len;
	unsigned act = 0;
	struct wg_rx rx;

	memcpy(buf + WG_DATA_HEADER_LEN, pkt, plen);
	if (wg_peer_encrypt(from->peer, buf, plen, 1420, now_ns(), &len, &act) != WG_TX_OK)
		return -EIO;
	printf("  %s -> data: %zu-byte inner packet, %zu bytes on the wire (counter %llu)\n",
	       from->name, plen, len, (unsigned long long)get_le64(buf + 8));
	if (deliver(to, from, buf, &len, &rx) != WG_RX_DATA)
		return -EBADMSG;
	printf("    delivered to %s's TUN: \"%.*s\"\n", to->name, (int)(rx.data_len - 20),
	       rx.data + 20);
	return 0;
}

int main(void)
{
	struct node a = {0}, b = {0};
	uint8_t msg[WG_MAX_HANDSHAKE_LEN + 64];
	size_t len;
	struct wg_rx rx;
	int r;

	printf("weft engine demo: two WireGuard engines in memory (Noise_IKpsk2, X25519, "
	       "ChaCha20-Poly1305, BLAKE2s via OpenSSL)\n\n");
	if (setup(&a, "A", 1) || setup(&b, "B", 2) || link_peers(&a, &b, 2) ||
	    link_peers(&b, &a, 1)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	printf("keys:\n");
	hex("A public", a.pub, WG_KEY_LEN);
	hex("B public", b.pub, WG_KEY_LEN);

	printf("\n1. A initiates (type 1)\n");
	if (wg_peer_initiation(a.peer, false, now_ns(), msg) != WG_TX_OK)
		return 1;
	len = WG_MSG_INITIATION_LEN;
	printf("  A -> initiation: %zu bytes, sender index %08x\n", len, get_le32(msg + 4));
	hex("ephemeral", msg + 8, 32);
	hex("mac1", msg + 116, 16);

	printf("\n2. B consumes it and answers (type 2)\n");
	if (deliver(&b, &a, msg, &len, &rx) != WG_RX_HANDSHAKE_INIT)
		return 1;
	printf("  B -> response: %zu bytes, sender index %08x, receiver index %08x\n", len,
	       get_le32(msg + 4), get_le32(msg + 8));

	printf("\n3. A consumes the response: session keys derived\n");
	if (deliver(&a, &b, msg, &len, &rx) != WG_RX_HANDSHAKE_RESP)
		return 1;
	printf("  A sends with index %08x, receives on %08x\n", a.peer->cur->remote_index,
	       a.peer->cur->entry.index);
	printf("  B waits for key confirmation: session in its 'next' slot = %s\n",
	       b.peer->next ? "yes" : "no");

	printf("\n4. Data round trip (type 4)\n");
	r = send_data(&a, &b, 1, 2, "hello from A over weft");
	if (!r) {
		printf("  B confirmed the session: current slot = %s\n", b.peer->cur ? "yes" : "no");
		r = send_data(&b, &a, 2, 1, "hello back from B");
	}
	if (r) {
		fprintf(stderr, "data failed\n");
		return 1;
	}
	printf("\ntransfer: A tx %llu rx %llu bytes, B tx %llu rx %llu bytes\n",
	       (unsigned long long)a.peer->tx_bytes, (unsigned long long)a.peer->rx_bytes,
	       (unsigned long long)b.peer->tx_bytes, (unsigned long long)b.peer->rx_bytes);
	wg_device_done(&a.dev);
	wg_device_done(&b.dev);
	printf("ok\n");
	return 0;
}

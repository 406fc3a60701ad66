/* SPDX-License-Identifier: MIT */
/*
 * The engine's device: static identity, tables, and the receive dispatcher that turns any
 * datagram into exactly one named outcome (kern receive.c wg_receive_handshake_packet and
 * wg_packet_receive). Nothing is allocated after wg_device_init() except peers (and room
 * for them in the timer heap).
 */
#include <errno.h>
#include <string.h>

#include "lib/util.h"
#include "wg/cookie.h"
#include "wg/internal.h"

static const char *const rx_names[WG_RX__COUNT] = {
	[WG_RX_DATA] = "data",
	[WG_RX_KEEPALIVE] = "keepalive",
	[WG_RX_HANDSHAKE_INIT] = "handshake_initiation",
	[WG_RX_HANDSHAKE_RESP] = "handshake_response",
	[WG_RX_COOKIE] = "cookie_reply",
	[WG_RX_SENT_COOKIE] = "sent_cookie_reply",
	[WG_RX_DROP_SHORT] = "drop_short",
	[WG_RX_DROP_TYPE] = "drop_type",
	[WG_RX_DROP_LENGTH] = "drop_length",
	[WG_RX_DROP_NO_KEY] = "drop_no_private_key",
	[WG_RX_DROP_MAC1] = "drop_mac1",
	[WG_RX_DROP_RATELIMIT] = "drop_ratelimit",
	[WG_RX_DROP_HANDSHAKE_AUTH] = "drop_handshake_auth",
	[WG_RX_DROP_UNKNOWN_PEER] = "drop_unknown_peer",
	[WG_RX_DROP_REPLAY_TIMESTAMP] = "drop_replay_timestamp",
	[WG_RX_DROP_FLOOD] = "drop_initiation_flood",
	[WG_RX_DROP_UNKNOWN_INDEX] = "drop_unknown_index",
	[WG_RX_DROP_STATE] = "drop_handshake_state",
	[WG_RX_DROP_COOKIE_AUTH] = "drop_cookie_auth",
	[WG_RX_DROP_KEY_EXPIRED] = "drop_key_expired",
	[WG_RX_DROP_DATA_AUTH] = "drop_data_auth",
	[WG_RX_DROP_REPLAY] = "drop_replay",
	[WG_RX_DROP_INNER_HEADER] = "drop_inner_header",
	[WG_RX_DROP_INNER_SOURCE] = "drop_inner_source",
};

const char *wg_rx_result_name(enum wg_rx_result r)
{
	return (unsigned)r < WG_RX__COUNT && rx_names[r] ? rx_names[r] : "unknown";
}

static const char *const hsf_names[WG_HSF__COUNT] = {
	[WG_HSF_TIMEOUT] = "timeout",
	[WG_HSF_GAVE_UP] = "gave_up",
	[WG_HSF_AUTH] = "auth",
	[WG_HSF_REPLAY_TIMESTAMP] = "replay_timestamp",
	[WG_HSF_FLOOD] = "flood",
};

const char *wg_hs_failure_name(enum wg_hs_failure f)
{
	return (unsigned)f < WG_HSF__COUNT && hsf_names[f] ? hsf_names[f] : "unknown";
}

int wg_device_init(struct wg_device *dev, const struct wg_env *env)
{
	uint8_t seed[16];
	int r;

	memset(dev, 0, sizeof(*dev));
	dev->env = *env;
	r = crypto_init();
	if (r)
		return r;
	env->random(env->ctx, dev->hash_seed, sizeof(dev->hash_seed));
	env->random(env->ctx, seed, sizeof(seed));
	wg_allowedips_init(&dev->allowedips);
	r = wg_index_init(dev);
	if (r)
		return r;
	r = wg_ratelimiter_init(&dev->ratelimiter, 0, seed);
	if (r) {
		wg_index_done(dev);
		return r;
	}
	return 0;
}

void wg_device_done(struct wg_device *dev)
{
	if (!dev || !dev->index_table)
		return;
	while (dev->peers)
		wg_peer_free(dev->peers);
	wg_timers_done(dev);
	wg_allowedips_done(&dev->allowedips);
	wg_ratelimiter_done(&dev->ratelimiter);
	wg_index_done(dev);
	crypto_wipe(dev, sizeof(*dev));
}

int wg_device_set_private_key(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct wg_peer *p, *next;
	int r = 0;

	if (!key || crypto_is_zero(key, WG_KEY_LEN)) {
		crypto_wipe(dev->static_priv, WG_KEY_LEN);
		memset(dev->static_pub, 0, WG_KEY_LEN);
		dev->has_key = false;
	} else {
		memcpy(priv, key, WG_KEY_LEN);
		crypto_x25519_clamp(priv);
		if (dev->has_key && crypto_equal(priv, dev->static_priv, WG_KEY_LEN))
			goto out; /* unchanged: keep sessions */
		r = crypto_x25519_public(pub, priv);
		if (r)
			goto out;
		/* A peer with our own public key would be ourselves (wireguard-go SetPrivateKey). */
		wg_peer_free(wg_peer_lookup(dev, pub));
		memcpy(dev->static_priv, priv, WG_KEY_LEN);
		memcpy(dev->static_pub, pub, WG_KEY_LEN);
		dev->has_key = true;
		wg_cookie_checker_init(&dev->checker, pub);
	}
	for (p = dev->peers; p; p = next) {
		next = p->list_next;
		wg_peer_update_static_static(p);
		wg_handshake_clear(p);
		wg_peer_expire_sessions(p);
	}
out:
	crypto_wipe(priv, sizeof(priv));
	return r;
}

bool wg_device_update_load(struct wg_device *dev, size_t depth, size_t capacity, uint64_t now)
{
	if (capacity && depth >= capacity / 8) {
		dev->last_under_load = now;
		dev->under_load = true;
	} else {
		dev->under_load =
			dev->last_under_load && now - dev->last_under_load < WG_UNDER_LOAD_AFTER;
	}
	return dev->under_load;
}

/*
 * The macs of a handshake message: mac1 always; under load also mac2, or the cookie reply
 * (into reply) for a message without it. WG_RX_DATA: "continue".
 */
static enum wg_rx_result check_macs(struct wg_device *dev, const uint8_t *pkt, size_t len,
				    const struct wg_endpoint *src, bool under_load, uint64_t now,
				    uint8_t *reply)
{
	enum wg_cookie_verdict v = wg_cookie_validate(dev, pkt, len, src, under_load, now);

	if (v == WG_COOKIE_MAC1_INVALID)
		return WG_RX_DROP_MAC1;
	if (!under_load || v == WG_COOKIE_MAC2_VALID)
		return WG_RX_DATA;
	if (wg_cookie_create_reply(dev, pkt, len, get_le32(pkt + 4), src, now, reply))
		return WG_RX_DROP_HANDSHAKE_AUTH;
	return WG_RX_SENT_COOKIE;
}

/* check_macs, and under load the per-source budget of messages that passed mac2. */
static enum wg_rx_result check_handshake_macs(struct wg_device *dev, const uint8_t *pkt,
					      size_t len, const struct wg_endpoint *src,
					      uint64_t now, uint8_t *reply, struct wg_rx *rx)
{
	enum wg_rx_result res = check_macs(dev, pkt, len, src, dev->under_load, now, reply);

	if (res == WG_RX_SENT_COOKIE) {
		rx->reply = reply;
		rx->reply_len = WG_MSG_COOKIE_LEN;
	}
	if (res != WG_RX_DATA || !dev->under_load)
		return res;
	if (!wg_ratelimiter_allow(&dev->ratelimiter, src->family, src->addr, now))
		return WG_RX_DROP_RATELIMIT;
	return WG_RX_DATA;
}

static enum wg_rx_result receive_initiation(struct wg_device *dev, uint8_t *pkt,
					    const struct wg_endpoint *src, uint64_t now,
					    uint8_t *reply, struct wg_rx *rx)
{
	struct wg_peer *peer = NULL;
	enum wg_rx_result res;

	res = check_handshake_macs(dev, pkt, WG_MSG_INITIATION_LEN, src, now, reply, rx);
	if (res != WG_RX_DATA)
		return res;
	res = wg_handshake_consume_initiation(dev, pkt, now, &peer);
	if (res != WG_RX_HANDSHAKE_INIT)
		return res;
	rx->peer = peer;
	rx->roam = true;
	peer->rx_bytes += WG_MSG_INITIATION_LEN;
	peer->counters.rx_packets++;
	peer->counters.initiations_received++;
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now);
	if (wg_handshake_create_response(peer, now, reply) ||
	    wg_handshake_begin_session(peer, &peer->hs, now)) {
		wg_handshake_clear(peer);
		return WG_RX_DROP_HANDSHAKE_AUTH;
	}
	rx->reply = reply;
	rx->reply_len = WG_MSG_RESPONSE_LEN;
	peer->tx_bytes += WG_MSG_RESPONSE_LEN;
	peer->counters.tx_packets++;
	peer->counters.responses_sent++;
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	return WG_RX_HANDSHAKE_INIT;
}

static enum wg_rx_result receive_response(struct wg_device *dev, uint8_t *pkt,
					  const struct wg_endpoint *src, uint64_t now,
					  uint8_t *reply, struct wg_rx *rx)
{
	struct wg_peer *peer = NULL;
	struct wg_handshake *hs = NULL;
	enum wg_rx_result res;

	res = check_handshake_macs(dev, pkt, WG_MSG_RESPONSE_LEN, src, now, reply, rx);
	if (res != WG_RX_DATA)
		return res;
	res = wg_handshake_consume_response(dev, pkt, now, &peer, &hs);
	if (res != WG_RX_HANDSHAKE_RESP)
		return res;
	rx->peer = peer;
	rx->roam = true;
	peer->rx_bytes += WG_MSG_RESPONSE_LEN;
	peer->counters.rx_packets++;
	peer->counters.responses_received++;
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now);
	if (wg_handshake_begin_session(peer, hs, now)) {
		wg_handshake_clear(peer);
		return WG_RX_DROP_HANDSHAKE_AUTH;
	}
	wg_timers_handshake_complete(peer, now);
	/* Confirm the session to the responder: staged packets, or a keepalive. */
	rx->actions |= WG_ACT_SEND_KEEPALIVE | WG_ACT_HANDSHAKE_DONE;
	return WG_RX_HANDSHAKE_RESP;
}

static enum wg_rx_result receive_cookie(struct wg_device *dev, const uint8_t *pkt, uint64_t now,
					struct wg_rx *rx)
{
	uint32_t index = get_le32(pkt + WG_COOKIE_OFF_RECEIVER);
	struct wg_index_entry *e = wg_index_lookup(dev, index, WG_INDEX_HANDSHAKE);

	if (!e)
		e = wg_index_lookup(dev, index, WG_INDEX_KEYPAIR);
	if (!e)
		return WG_RX_DROP_UNKNOWN_INDEX;
	if (wg_cookie_consume_reply(&e->peer->cookie, pkt, now))
		return WG_RX_DROP_COOKIE_AUTH;
	rx->peer = e->peer;
	return WG_RX_COOKIE;
}

static enum wg_rx_result receive_data(struct wg_device *dev, uint8_t *pkt, size_t len,
				      uint64_t now, struct wg_rx *rx)
{
	struct wg_keypair *kp;
	uint64_t counter;
	enum wg_rx_result res = wg_data_rx_begin(dev, pkt, len, now, &kp, &counter);

	if (res != WG_RX_DATA)
		return res;
	if (wg_data_open(&kp->recv, counter, pkt, len))
		return WG_RX_DROP_DATA_AUTH;
	return wg_data_rx_finish(kp, counter, pkt, len, now, rx);
}

enum wg_rx_result wg_device_handshake_overflow(struct wg_device *dev, const uint8_t *pkt,
					      size_t len, const struct wg_endpoint *src,
					      uint64_t now, uint8_t reply[WG_MSG_COOKIE_LEN])
{
	uint32_t type;

	if (len < 4)
		return WG_RX_DROP_SHORT;
	type = get_le32(pkt);
	if (type != WG_MSG_INITIATION && type != WG_MSG_RESPONSE)
		return WG_RX_DROP_TYPE; /* cookie replies carry no macs: nothing to prove */
	if (len != (type == WG_MSG_INITIATION ? WG_MSG_INITIATION_LEN : WG_MSG_RESPONSE_LEN))
		return WG_RX_DROP_LENGTH;
	if (!dev->has_key)
		return WG_RX_DROP_NO_KEY;
	return check_macs(dev, pkt, len, src, true, now, reply);
}

enum wg_rx_result wg_device_receive(struct wg_device *dev, uint8_t *pkt, size_t len,
				    const struct wg_endpoint *src, uint64_t now, uint8_t *reply,
				    struct wg_rx *rx)
{
	static const size_t exact_len[] = {
		[WG_MSG_INITIATION] = WG_MSG_INITIATION_LEN,
		[WG_MSG_RESPONSE] = WG_MSG_RESPONSE_LEN,
		[WG_MSG_COOKIE] = WG_MSG_COOKIE_LEN,
	};
	uint32_t type;

	memset(rx, 0, sizeof(*rx));
	if (len < 4)
		return WG_RX_DROP_SHORT;
	/* The type as a little-endian word: the three reserved bytes must be zero. */
	type = get_le32(pkt);
	if (type < WG_MSG_INITIATION || type > WG_MSG_DATA)
		return WG_RX_DROP_TYPE;
	if (type == WG_MSG_DATA)
		return receive_data(dev, pkt, len, now, rx);
	if (len != exact_len[type])
		return WG_RX_DROP_LENGTH;
	if (type == WG_MSG_COOKIE)
		return receive_cookie(dev, pkt, now, rx);
	if (!dev->has_key)
		return WG_RX_DROP_NO_KEY;
	if (type == WG_MSG_INITIATION)
		return receive_initiation(dev, pkt, src, now, reply, rx);
	return receive_response(dev, pkt, src, now, reply, rx);
}

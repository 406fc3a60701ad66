/* SPDX-License-Identifier: MIT */
/*
 * Transport data (whitepaper §5.4.6): padding, counters, sealing and opening, the receive
 * order of checks (kern receive.c: age, decrypt, replay, key confirmation, timers, inner
 * header, source filter) and the send-side rekey rules (§6.2). No allocation; the caller's
 * buffers are encrypted and decrypted in place.
 */
#include <errno.h>
#include <string.h>

#include "lib/util.h"
#include "wg/internal.h"

size_t wg_data_padded_len(size_t len, size_t mtu)
{
	size_t last = len, padded;

	/* Pad to 16 but never past the MTU (an oversized packet pads its tail only). */
	if (mtu && len > mtu)
		last = len % mtu;
	padded = (last + WG_PADDING_MULTIPLE - 1) & ~(size_t)(WG_PADDING_MULTIPLE - 1);
	if (mtu && padded > mtu)
		padded = mtu;
	if (padded < last)
		padded = last;
	return len + (padded - last);
}

/* Whitepaper §6.2: rekey after REKEY_AFTER_MESSAGES, or as initiator after REKEY_AFTER_TIME. */
static bool needs_rekey_on_send(const struct wg_keypair *kp, uint64_t now)
{
	return kp->send_counter > WG_REKEY_AFTER_MESSAGES ||
	       (kp->initiator && now - kp->birthdate > WG_REKEY_AFTER_TIME);
}

enum wg_tx_result wg_data_tx_begin(struct wg_peer *peer, uint64_t now, struct wg_keypair **ret_kp,
				   uint64_t *ret_counter, unsigned *actions)
{
	struct wg_keypair *kp = peer->cur;

	if (!wg_keypair_usable(kp, now)) {
		*actions |= WG_ACT_SEND_INITIATION;
		return WG_TX_NO_SESSION;
	}
	*ret_counter = kp->send_counter++;
	*ret_kp = kp;
	if (needs_rekey_on_send(kp, now))
		*actions |= WG_ACT_SEND_INITIATION;
	return WG_TX_OK;
}

int wg_data_seal(struct crypto_aead *aead, uint32_t remote_index, uint64_t counter, uint8_t *buf,
		 size_t len, size_t mtu, size_t *out_len)
{
	size_t padded = wg_data_padded_len(len, mtu);
	uint8_t *payload = buf + WG_DATA_OFF_PAYLOAD;
	int r;

	memset(payload + len, 0, padded - len);
	buf[0] = WG_MSG_DATA;
	buf[1] = buf[2] = buf[3] = 0;
	put_le32(buf + WG_DATA_OFF_RECEIVER, remote_index);
	put_le64(buf + WG_DATA_OFF_COUNTER, counter);
	r = crypto_aead_seal(aead, counter, payload, payload, padded, NULL, 0);
	if (r == 0)
		*out_len = WG_DATA_OVERHEAD + padded;
	return r;
}

enum wg_tx_result wg_peer_encrypt(struct wg_peer *peer, uint8_t *buf, size_t len, size_t mtu,
				  uint64_t now, size_t *out_len, unsigned *actions)
{
	struct wg_keypair *kp;
	uint64_t counter;
	enum wg_tx_result res;

	if (len > WG_MAX_MESSAGE_LEN - WG_DATA_OVERHEAD - WG_PADDING_MULTIPLE)
		return WG_TX_TOO_BIG;
	res = wg_data_tx_begin(peer, now, &kp, &counter, actions);
	if (res != WG_TX_OK)
		return res;
	if (wg_data_seal(&kp->send, kp->remote_index, counter, buf, len, mtu, out_len))
		return WG_TX_CRYPTO_FAILED;
	wg_data_tx_finish(peer, *out_len, len == 0, now);
	return WG_TX_OK;
}

void wg_data_tx_finish(struct wg_peer *peer, size_t wire_len, bool keepalive, uint64_t now)
{
	peer->tx_bytes += wire_len;
	peer->counters.tx_packets++;
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	if (!keepalive)
		wg_timers_data_sent(peer, now);
}

enum wg_rx_result wg_data_rx_begin(struct wg_device *dev, const uint8_t *pkt, size_t len,
				   uint64_t now, struct wg_keypair **ret_kp, uint64_t *ret_counter)
{
	struct wg_index_entry *e;
	struct wg_keypair *kp;
	uint64_t counter;

	if (len < WG_DATA_MIN_LEN)
		return WG_RX_DROP_LENGTH;
	e = wg_index_lookup(dev, get_le32(pkt + WG_DATA_OFF_RECEIVER), WG_INDEX_KEYPAIR);
	if (!e)
		return WG_RX_DROP_UNKNOWN_INDEX;
	kp = container_of(e, struct wg_keypair, entry);
	counter = get_le64(pkt + WG_DATA_OFF_COUNTER);
	if (now - kp->birthdate >= WG_REJECT_AFTER_TIME || counter >= WG_REJECT_AFTER_MESSAGES)
		return WG_RX_DROP_KEY_EXPIRED;
	*ret_kp = kp;
	*ret_counter = counter;
	return WG_RX_DATA;
}

int wg_data_open(struct crypto_aead *aead, uint64_t counter, uint8_t *pkt, size_t len)
{
	uint8_t *payload = pkt + WG_DATA_OFF_PAYLOAD;

	return crypto_aead_open(aead, counter, payload, payload, len - WG_DATA_HEADER_LEN, NULL,
				0);
}

/* Trim padding and validate the inner header; returns the inner length or 0 when invalid. */
static size_t inner_packet_len(const uint8_t *p, size_t len, enum wg_family *family,
			       const uint8_t **src)
{
	size_t total;

	if (len < 1)
		return 0;
	switch (p[0] >> 4) {
	case 4:
		if (len < 20 || (p[0] & 0x0f) < 5)
			return 0;
		total = get_be16(p + 2);
		if (total < (size_t)(p[0] & 0x0f) * 4 || total > len)
			return 0;
		*family = WG_AF_INET;
		*src = p + 12;
		return total;
	case 6:
		if (len < 40)
			return 0;
		total = 40 + (size_t)get_be16(p + 4);
		if (total > len)
			return 0;
		*family = WG_AF_INET6;
		*src = p + 8;
		return total;
	default:
		return 0;
	}
}

/* Kern keep_key_fresh on receive: an initiator whose keypair nears REJECT_AFTER_TIME. */
static bool needs_rekey_on_recv(struct wg_peer *peer, uint64_t now)
{
	const struct wg_keypair *kp = peer->cur;

	if (!kp || !kp->in_use || !kp->initiator || peer->timers.sent_lastminute_handshake)
		return false;
	if (now - kp->birthdate <= WG_REKEY_ON_RECV_AGE)
		return false;
	peer->timers.sent_lastminute_handshake = true;
	return true;
}

enum wg_rx_result wg_data_rx_finish(struct wg_keypair *kp, uint64_t counter, uint8_t *pkt,
				    size_t len, uint64_t now, struct wg_rx *rx)
{
	struct wg_peer *peer = kp->entry.peer;
	uint8_t *inner = pkt + WG_DATA_OFF_PAYLOAD;
	size_t inner_len = len - WG_DATA_OVERHEAD, trimmed;
	enum wg_family family;
	const uint8_t *src;

	/* The keypair may have been replaced while the packet was being decrypted. */
	if (!kp->in_use)
		return WG_RX_DROP_UNKNOWN_INDEX;
	/* Only after authentication (the window must not move on forgeries). */
	if (!wg_replay_check(&kp->replay, counter, WG_REJECT_AFTER_MESSAGES))
		return WG_RX_DROP_REPLAY;

	rx->peer = peer;
	rx->roam = true;
	if (wg_peer_received_with_keypair(peer, kp)) {
		wg_timers_handshake_complete(peer, now);
		rx->actions |= WG_ACT_SEND_STAGED | WG_ACT_HANDSHAKE_DONE;
	}
	peer->rx_bytes += len;
	peer->counters.rx_packets++;
	if (needs_rekey_on_recv(peer, now))
		rx->actions |= WG_ACT_SEND_INITIATION;
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now);

	if (inner_len == 0)
		return WG_RX_KEEPALIVE;
	wg_timers_data_received(peer, now);
	trimmed = inner_packet_len(inner, inner_len, &family, &src);
	if (!trimmed)
		return WG_RX_DROP_INNER_HEADER;
	if (wg_allowedips_lookup(&peer->dev->allowedips, family, src) != peer)
		return WG_RX_DROP_INNER_SOURCE;
	rx->data = inner;
	rx->data_len = trimmed;
	return WG_RX_DATA;
}

/* SPDX-License-Identifier: MIT */
/*
 * weft-ctl-probe — the end-to-end tests' hand on the control channels: it speaks the control
 * protocol as a node, a joiner or an attacker would, one exchange per connection.
 *
 *   weft-ctl-probe --connect IP:PORT [--dev IF] (--overlay --remote-key B64 | --token TOKEN)
 *                  [--key-file PATH | (fresh key)] [--delay-ms N] [--count N]
 *                  (--request JSON | --view JSON | --join JSON)
 *   weft-ctl-probe --connect IP:PORT --v1 TYPE JSON      a plain version 1 frame, no handshake
 *
 * Prints one line per exchange: "ok: <reply>", "error: <text>" (the other end refused the
 * message), "refused: <why>" (no channel: handshake refused or failed), "closed: <why>".
 * Exit status of the last exchange: 0 ok, 3 error, 2 refused, 4 closed, 1 usage.
 * Test code: never installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "ctl/chan.h"
#include "ctl/ctl.h"

static int parse_addr(const char *s, struct sockaddr_storage *ret)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ret;
	char host[64];
	const char *colon = strrchr(s, ':');

	memset(ret, 0, sizeof(*ret));
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -EINVAL;
}

static int read_key_file(const char *path, uint8_t key[32])
{
	char buf[128] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return ov_key_from_base64(buf, key) ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"connect", required_argument, NULL, 'c'}, {"dev", required_argument, NULL, 'd'},
		{"overlay", no_argument, NULL, 'o'},	   {"remote-key", required_argument, NULL, 'r'},
		{"token", required_argument, NULL, 't'},   {"key-file", required_argument, NULL, 'k'},
		{"delay-ms", required_argument, NULL, 'D'}, {"count", required_argument, NULL, 'n'},
		{"request", required_argument, NULL, 'R'}, {"view", required_argument, NULL, 'V'},
		{"join", required_argument, NULL, 'J'},	   {"v1", required_argument, NULL, '1'},
		{NULL, 0, NULL, 0},
	};
	const char *connect_to = NULL, *dev = NULL, *body = NULL, *key_file = NULL;
	uint8_t priv[32], pub[32], remote[32], type = 0, v1_type = 0;
	struct dmn_token tok;
	bool overlay = false, have_remote = false, have_token = false;
	struct sockaddr_storage sa;
	unsigned delay_ms = 0, count = 1;
	char err[512];
	int o, rc = 1;

	if (crypto_init())
		return 1;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'c': connect_to = optarg; break;
		case 'd': dev = optarg; break;
		case 'o': overlay = true; break;
		case 'r':
			if (ov_key_from_base64(optarg, remote))
				return fprintf(stderr, "bad --remote-key\n"), 1;
			have_remote = true;
			break;
		case 't':
			if (dmn_token_parse(optarg, &tok, err, sizeof(err)))
				return fprintf(stderr, "bad --token: %s\n", err), 1;
			have_token = true;
			break;
		case 'k': key_file = optarg; break;
		case 'D': delay_ms = (unsigned)atoi(optarg); break;
		case 'n': count = (unsigned)atoi(optarg); break;
		case 'R': body = optarg; type = DMN_CTL_REQUEST; break;
		case 'V': body = optarg; type = DMN_CTL_VIEW; break;
		case 'J': body = optarg; type = DMN_CTL_JOIN; break;
		case '1':
			v1_type = (uint8_t)atoi(optarg);
			if (optind >= argc)
				return 1;
			body = argv[optind++];
			break;
		default: return 1;
		}
	}
	if (!connect_to || !body || parse_addr(connect_to, &sa))
		return fprintf(stderr, "usage: see the top of tests/e2e/ctl_probe.c\n"), 1;
	if (key_file) {
		if (read_key_file(key_file, priv))
			return fprintf(stderr, "cannot read %s\n", key_file), 1;
		crypto_x25519_public(pub, priv);
	} else {
		crypto_x25519_keygen(priv, pub);
	}
	for (unsigned i = 0; i < count; i++) {
		struct ctl_chan ch;
		json_error_t je;
		json_t *j = json_loads(body, 0, &je), *reply = NULL;
		int fd = ctl_connect(&sa, 3000, dev), r;
		uint8_t rtype;

		if (!j)
			return fprintf(stderr, "bad JSON: %s\n", je.text), 1;
		if (fd < 0) {
			printf("closed: connect: %s\n", strerror(-fd));
			json_decref(j);
			rc = 4;
			continue;
		}
		ctl_chan_init(&ch, fd, 8000 + delay_ms, CTL_CHAN_VIEW_MAX);
		if (v1_type) {
			/* What a version 1 peer (or the attacks of issue 11) sent: no handshake. */
			char *text = json_dumps(j, JSON_COMPACT);
			size_t len = strlen(text);
			uint8_t *buf = malloc(DMN_CTL_HDR_LEN + len);

			dmn_ctl_hdr_put(buf, v1_type, (uint32_t)len);
			buf[2] = 1;
			memcpy(buf + DMN_CTL_HDR_LEN, text, len);
			r = write(fd, buf, DMN_CTL_HDR_LEN + len) == (ssize_t)(DMN_CTL_HDR_LEN + len)
				    ? 0
				    : -EIO;
			free(buf);
			free(text);
			r = r ? r : ctl_chan_recv(&ch, &rtype, &reply, err, sizeof(err));
			printf("%s: %s\n", r ? "closed" : "reply", r ? strerror(-r) : "?");
			rc = r ? 4 : 0;
		} else {
			if (have_token)
				r = ctl_chan_initiate(&ch, CTL_HS_JOIN, priv, tok.leader_key, tok.secret,
						      tok.id, err, sizeof(err));
			else if (overlay && have_remote)
				r = ctl_chan_initiate(&ch, CTL_HS_OVERLAY, priv, remote, NULL, NULL, err,
						      sizeof(err));
			else
				return fprintf(stderr, "--overlay --remote-key or --token\n"), 1;
			if (r) {
				printf("refused: %s\n", err);
				rc = 2;
			} else {
				if (delay_ms)
					usleep(delay_ms * 1000);
				if (type == DMN_CTL_JOIN) {
					/* {"name": ...} gets this key and no endpoint. */
					char b64[OV_KEY_B64_LEN + 1];

					ov_key_to_base64(pub, b64);
					if (!json_object_get(j, "public_key"))
						json_object_set_new(j, "public_key", json_string(b64));
					if (!json_object_get(j, "endpoint"))
						json_object_set_new(j, "endpoint", json_null());
				}
				if (type == DMN_CTL_REQUEST) {
					r = ctl_chan_call(&ch, j, &rtype, &reply, err, sizeof(err));
				} else {
					r = ctl_chan_send(&ch, type, j);
					if (!r && type == DMN_CTL_JOIN)
						r = ctl_chan_recv(&ch, &rtype, &reply, err,
								  sizeof(err));
					else if (!r)
						r = ctl_chan_finish(&ch);
					if (!r && reply && rtype == DMN_CTL_ERROR) {
						snprintf(err, sizeof(err), "%s",
							 json_string_value(json_object_get(reply, "error")));
						r = -EREMOTEIO;
					}
				}
				if (r == -EREMOTEIO) {
					printf("error: %s\n", err);
					rc = 3;
				} else if (r) {
					printf("closed: %s\n", r == -ECONNRESET ? "connection closed" : strerror(-r));
					rc = 4;
				} else {
					char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;

					printf("ok: %s\n", text ? text : "{}");
					free(text);
					rc = 0;
				}
			}
		}
		json_decref(reply);
		json_decref(j);
		ctl_chan_done(&ch);
		close(fd);
	}
	crypto_wipe(priv, sizeof(priv));
	return rc;
}

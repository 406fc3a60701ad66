/* SPDX-License-Identifier: MIT */
/*
 * daemon/store — the node's files in its state directory, as weftd keeps them: state.json
 * (the overlay/state codec), view.json (the last cluster view), tokens.json (the leader's live
 * tokens). Every write is atomic; a file that does not load strictly stops weftd, naming the
 * file and the field, and is left as it is.
 *
 * Must not: change the node's state (it reads into it at start and writes it out), or log a
 * token's secret.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "daemon/node.h"
#include "lib/log.h"

/* --- files ---------------------------------------------------------------------------- */

int dmn_store_save_view(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN];
	json_t *j = dmn_view_to_json(&n->view);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int r;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	r = ov_state_write_file(n->opt.dir, DMN_VIEW_FILE, text, strlen(text), 0, err,
				sizeof(err));
	free(text);
	if (r)
		log_error("%s", err);
	return r;
}

static int save_tokens(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], *text;
	size_t len;
	int r = dmn_tokens_format(&n->tokens, &text, &len);

	if (r)
		return r;
	r = ov_state_write_file(n->opt.dir, DMN_TOKENS_FILE, text, len, 0, err, sizeof(err));
	crypto_wipe(text, len);
	free(text);
	if (r)
		log_error("%s", err);
	return r;
}

int dmn_store_load_view(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], why[OV_STATE_ERR_LEN];
	size_t len;
	char *buf;
	json_t *j;
	int r;

	r = ov_state_read_file(n->opt.dir, DMN_VIEW_FILE, DMN_CTL_MAX_PAYLOAD, &buf, &len, err,
			       sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r) {
		log_error("%s", err);
		return r;
	}
	j = dmn_ctl_json_parse((const uint8_t *)buf, len, why, sizeof(why));
	free(buf);
	r = j ? dmn_view_from_json(j, &n->st, &n->view, why, sizeof(why)) : -EINVAL;
	json_decref(j);
	if (r)
		log_error("%s/%s: %s (refusing to start; the file is left as it is)", n->opt.dir,
			  DMN_VIEW_FILE, why);
	return r;
}

int dmn_store_load_tokens(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN], why[OV_STATE_ERR_LEN];
	size_t len;
	char *buf;
	int r;

	r = ov_state_read_file(n->opt.dir, DMN_TOKENS_FILE, 1 << 20, &buf, &len, err,
			       sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r) {
		log_error("%s", err);
		return r;
	}
	r = dmn_tokens_parse(buf, len, &n->tokens, why, sizeof(why));
	crypto_wipe(buf, len);
	free(buf);
	if (r)
		log_error("%s/%s: %s (refusing to start; the file is left as it is)", n->opt.dir,
			  DMN_TOKENS_FILE, why);
	return r;
}

int dmn_store_save_state(struct dmn_node *n)
{
	char err[OV_STATE_ERR_LEN];
	int r = ov_state_save(n->opt.dir, &n->st, 0, err, sizeof(err));

	if (r)
		log_error("%s", err);
	return r;
}

int dmn_store_save_tokens(struct dmn_node *n)
{
	return save_tokens(n);
}


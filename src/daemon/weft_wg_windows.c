/* SPDX-License-Identifier: MIT */
/*
 * weft_wg.h on Windows: no fork, so weft-wg.exe always runs in the foreground (a service
 * wrapper is what detaches a program on Windows); stats through the UAPI pipe client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/weft_wg.h"
#include "lib/strbuf.h"
#include "platform/windows/uapi_pipe.h"

const char dmn_wg_uapi_where[] =
	"\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\INTERFACE-NAME";
const bool dmn_wg_foreground_only = true;

int dmn_wg_print_stats(const char *ifname)
{
	static const char req[] = "stats=1\n\n";
	struct strbuf reply;
	int r;

	strbuf_init(&reply, PLAT_UAPI_MAX_REPLY);
	r = plat_uapi_pipe_call(ifname, req, sizeof(req) - 1, &reply);
	if (r) {
		fprintf(stderr, "weft-wg: cannot reach the UAPI pipe of %s: %s (%s)\n", ifname,
			strerror(-r), plat_win_last_error());
		strbuf_free(&reply);
		return 1;
	}
	fwrite(strbuf_str(&reply), 1, reply.len, stdout);
	strbuf_free(&reply);
	return 0;
}

int dmn_wg_daemonize(const char *ifname, bool keep_log)
{
	(void)ifname;
	(void)keep_log;
	return 0;
}

void dmn_wg_ready(void)
{
}

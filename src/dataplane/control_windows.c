/* SPDX-License-Identifier: MIT */
/*
 * The device's control side on Windows (control.c is the POSIX one): creating the interface
 * (Wintun), the UAPI on the named pipe \\.\pipe\ProtectedPrefix\Administrators\WireGuard\
 * IFNAME (platform/windows/uapi_pipe.c does the framing, on a thread of its own; the codec
 * and the device are plugged in here), the inbound firewall rule for the listen port, and
 * the control loop: timers at DP_TIMER_TICK_MS resolution until dp_device_stop, a console
 * event (Ctrl-C, Ctrl-Break, the console closed, logoff, shutdown) or the adapter's loss.
 *
 * As on Linux, a set request is parsed completely and applied only if every line is valid,
 * and "stats=1" answers with the per-reason counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dataplane/device_windows.h"
#include "dataplane/internal.h"
#include "lib/log.h"
#include "platform/firewall.h"
#include "platform/netif.h"
#include "platform/wakeup.h"
#include "platform/windows/uapi_pipe.h"

enum {
	CTRL_CLOSE_WAIT_MS = 4000, /* Windows ends the process 5 s after a close/shutdown event */
};

struct dp_control {
	struct plat_uapi_pipe *pipe;
	struct plat_fw_rule *fw; /* the rule for fw_port, or NULL */
	uint16_t fw_port;
	pthread_mutex_t fw_lock; /* the pipe thread and teardown both change the rule */
};

/* ---------------------------------------------------------------------------------------- */
/* The firewall rule follows the listen port                                                 */

static void firewall_follow_port(struct dp_device *d)
{
	struct dp_control *c = d->ctl;
	uint16_t port = dp_device_port(d);
	int r;

	pthread_mutex_lock(&c->fw_lock);
	if (c->fw && c->fw_port == port)
		goto out;
	/* Rules are removed by name, and the new one has the same name: old one first. */
	plat_firewall_remove(c->fw);
	c->fw = NULL;
	c->fw_port = 0;
	r = plat_firewall_allow_udp(d->name, port, &c->fw);
	if (r)
		log_error("%s: no inbound firewall rule for UDP port %u (%s): %s", d->name, port,
			  strerror(-r), plat_win_last_error());
	else
		c->fw_port = port;
out:
	pthread_mutex_unlock(&c->fw_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* The UAPI codec behind the pipe                                                            */

struct set_req {
	struct dp_device *d;
	struct uapi_set set;
	struct uapi_parser p;
};

static int op_get(void *ctx, struct strbuf *out)
{
	return dp_device_get(ctx, out);
}

static int op_stats(void *ctx, struct strbuf *out)
{
	int r = dp_device_stats(ctx, out);

	return r ? r : strbuf_appends(out, "errno=0\n\n");
}

static void *op_set_begin(void *ctx)
{
	struct set_req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->d = ctx;
	uapi_parser_init(&q->p, &q->set);
	return q;
}

static void op_set_line(void *state, const char *line, size_t len)
{
	struct set_req *q = state;

	uapi_parser_line(&q->p, line, len);
}

static int op_set_finish(void *state, bool complete)
{
	struct set_req *q = state;
	int err = 0;

	if (complete) {
		err = uapi_parser_finish(&q->p);
		if (err) {
			log_info("%s: UAPI set refused, nothing changed: %s", q->d->name, q->p.msg);
		} else {
			err = dp_device_apply(q->d, &q->set);
			if (!err)
				firewall_follow_port(q->d);
		}
	}
	uapi_set_free(&q->set);
	crypto_wipe(q, sizeof(*q));
	free(q);
	return err;
}

static const struct plat_uapi_ops uapi_ops = {
	.get = op_get,
	.set_begin = op_set_begin,
	.set_line = op_set_line,
	.set_finish = op_set_finish,
	.stats = op_stats,
};

/* ---------------------------------------------------------------------------------------- */
/* Creation and teardown                                                                     */

/* Everything after the TUN: the firewall rule for the random port, then the pipe. */
static int device_finish(struct dp_device *d, const struct dp_config *cfg)
{
	int r;

	firewall_follow_port(d);
	if (cfg->uapi_socket) {
		r = plat_uapi_pipe_open(d->name, &uapi_ops, d, &d->ctl->pipe);
		if (r) {
			log_error("%s: UAPI pipe: %s", d->name, plat_win_last_error());
			return r;
		}
	}
	return 0;
}

static int device_alloc(const struct dp_config *cfg, struct dp_device **ret)
{
	struct dp_device *d;
	int r = dp_device_alloc(cfg, &d);

	if (r)
		return r;
	d->ctl = calloc(1, sizeof(*d->ctl));
	if (!d->ctl) {
		dp_device_free(d);
		return -ENOMEM;
	}
	pthread_mutex_init(&d->ctl->fw_lock, NULL);
	*ret = d;
	return 0;
}

int dp_device_new(const struct dp_config *cfg, struct dp_device **ret)
{
	struct dp_device *d;
	int r = device_alloc(cfg, &d);

	if (r)
		return r;
	/* Wintun: no virtio-net header, no offloads, one queue. */
	r = plat_tun_open(cfg->ifname, 0, &d->tun);
	if (r) {
		log_error("%s: %s", d->name, plat_win_last_error());
		goto fail;
	}
	r = plat_netif_set_mtu(plat_tun_ifindex(d->tun), d->mtu);
	if (r) {
		log_error("%s: MTU %u: %s", d->name, d->mtu, plat_win_last_error());
		goto fail;
	}
	r = device_finish(d, cfg);
	if (r)
		goto fail;
	*ret = d;
	return 0;
fail:
	dp_device_free(d);
	return r;
}

int dp_win_device_new_tun(const struct dp_config *cfg, struct plat_tun *tun, struct dp_device **ret)
{
	struct dp_device *d;
	int r = device_alloc(cfg, &d);

	if (r) {
		plat_tun_close(tun);
		return r;
	}
	d->tun = tun;
	r = device_finish(d, cfg);
	if (r) {
		dp_device_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

/* Set once a device was freed, for a console handler waiting out a close or shutdown. */
static HANDLE freed_event;

void dp_device_free(struct dp_device *d)
{
	if (!d)
		return;
	/* The pipe first: its thread calls into the device. */
	if (d->ctl)
		plat_uapi_pipe_close(d->ctl->pipe);
	dp_device_stop_threads(d);
	if (d->ctl) {
		plat_firewall_remove(d->ctl->fw);
		pthread_mutex_destroy(&d->ctl->fw_lock);
		free(d->ctl);
	}
	dp_device_core_done(d);
	plat_tun_close(d->tun);
	crypto_wipe(d, sizeof(*d));
	free(d);
	if (freed_event)
		SetEvent(freed_event);
}

/* ---------------------------------------------------------------------------------------- */
/* The control loop                                                                          */

/* The device whose dp_device_run is in progress (a console handler has no context). */
static struct dp_device *_Atomic running;

bool dp_win_console_event(unsigned long type)
{
	struct dp_device *d = atomic_load(&running);

	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_LOGOFF_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		break;
	default:
		return false;
	}
	if (!d)
		return false;
	dp_device_stop(d);
	/*
	 * After a close, logoff or shutdown event returns, Windows ends the process: give the
	 * main thread the time to remove the adapter, the pipe and the firewall rule.
	 */
	if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT && freed_event)
		WaitForSingleObject(freed_event, CTRL_CLOSE_WAIT_MS);
	return true;
}

/* Runs on a thread Windows creates for the event. */
static BOOL WINAPI console_event(DWORD type)
{
	return dp_win_console_event(type) ? TRUE : FALSE;
}

int dp_device_run(struct dp_device *d)
{
	int timeout = DP_TIMER_TICK_MS, r = 0;

	if (!freed_event)
		freed_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	else
		ResetEvent(freed_event); /* set by the free of an earlier device */
	atomic_store(&running, d);
	if (d->own_signals && !SetConsoleCtrlHandler(console_event, TRUE))
		log_info("%s: no console control handler (Win32 error %lu)", d->name,
			 (unsigned long)GetLastError());
	while (!atomic_load(&d->stop)) {
		r = plat_wakeup_wait(d->wake, timeout);
		if (r < 0)
			break;
		r = 0;
		timeout = dp_device_timers(d);
	}
	if (d->own_signals)
		SetConsoleCtrlHandler(console_event, FALSE);
	atomic_store(&running, NULL);
	if (atomic_load(&d->tun_gone))
		log_info("%s: adapter gone, shutting down", d->name);
	atomic_store(&d->stop, true);
	return r;
}

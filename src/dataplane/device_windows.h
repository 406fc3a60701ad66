/* SPDX-License-Identifier: MIT */
/*
 * The Windows-only entry points of the device (control_windows.c). Only Windows builds
 * include this header.
 */
#ifndef WEFT_DATAPLANE_DEVICE_WINDOWS_H
#define WEFT_DATAPLANE_DEVICE_WINDOWS_H

#include "dataplane/device.h"

struct plat_tun;

/*
 * dp_device_new around a TUN the caller opened (Wintun over entry points of its choosing:
 * the tests' in-process fake): the device owns tun from here on, and closes it on error
 * too. The interface is not configured (no MTU is set); the rest is as dp_device_new: UDP
 * on a random port, its firewall rule, the UAPI pipe when cfg->uapi_socket.
 */
int dp_win_device_new_tun(const struct dp_config *cfg, struct plat_tun *tun,
			  struct dp_device **ret);

/*
 * What the console control handler that dp_device_run installs does with a console event:
 * Ctrl-C, Ctrl-Break, close, logoff and shutdown stop the running device (true); for the
 * last three, after which Windows ends the process, it also waits (up to 4 s) until a
 * device was freed, so the adapter, the pipe and the firewall rule are gone first. Other
 * events, or no dp_device_run in progress: false (the next handler decides). Called by
 * Windows on a thread of its own; exposed for the tests, which cannot raise console events
 * under Wine.
 */
bool dp_win_console_event(unsigned long type);

#endif

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

#endif

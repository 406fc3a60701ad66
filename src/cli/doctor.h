/* SPDX-License-Identifier: MIT */
/*
 * cli/doctor — `weft doctor [PEER] [--json]`: a report a person reads, one verdict per check
 * (pass, warn, fail, skip) with what was seen and the fix to try. See doctor.c for the checks.
 */
#ifndef WEFT_CLI_DOCTOR_H
#define WEFT_CLI_DOCTOR_H

#include <stdbool.h>

/* The report for the node whose state directory is dir; peer NULL = every peer. The exit
 * status: 0 no check failed, 1 one did (or the arguments were wrong). */
int cli_doctor(const char *dir, const char *peer, bool json);

#endif

/* SPDX-License-Identifier: MIT */
/* Shared by the wg receive fuzzer and its seed generator: the fixed starting state. */
#ifndef WEFT_FUZZ_WG_RECEIVE_H
#define WEFT_FUZZ_WG_RECEIVE_H

#include "engine_harness.h"

#define FUZZ_WG_SEED 4242

/*
 * Two engines with an established session (A initiated) and a rekey initiation from A in
 * flight (its bytes in fuzz_wg_pending_init, not delivered), rebuilt identically every time.
 */
void fuzz_wg_setup(struct harness *h);
extern uint8_t fuzz_wg_pending_init[WG_MSG_INITIATION_LEN];

#endif

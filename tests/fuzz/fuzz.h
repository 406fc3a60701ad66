/* SPDX-License-Identifier: MIT */
/* The libFuzzer entry point every target defines (and replay.c calls). */
#ifndef WEFT_FUZZ_H
#define WEFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

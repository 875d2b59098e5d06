/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every libFuzzer harness shares: the entry point's prototype and a check that aborts (so libFuzzer
 * records the input) when a property of the code under test does not hold. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): it must hold in every build, NDEBUG or not. */
#define fuzz_check(expr)                                                                                  \
        do {                                                                                              \
                if (!(expr)) {                                                                            \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);          \
                        abort();                                                                          \
                }                                                                                         \
        } while (0)

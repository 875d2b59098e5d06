/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection for tests (fault-inject.c): the rules are in COCOON_FAULT. */
#pragma once

/* How many faults were injected since the program started. */
unsigned fault_inject_count(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the host probes: where the TSC frequency comes from, and what is not taken for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "probe.h"

/* A guest on a frequency-scaled AMD host: "cpu MHz" shows the current clock, bogomips the TSC
 * calibration. */
static const char cpuinfo_scaled[] = "processor\t: 0\n"
                                     "vendor_id\t: AuthenticAMD\n"
                                     "cpu MHz\t\t: 1200.000\n"
                                     "flags\t\t: fpu tsc msr pae constant_tsc nonstop_tsc tsc_known_freq\n"
                                     "bogomips\t: 4192.01\n"
                                     "\n"
                                     "processor\t: 1\n"
                                     "cpu MHz\t\t: 3400.000\n"
                                     "flags\t\t: fpu vme tsc msr pae constant_tsc\n"
                                     "bogomips\t: 9999.99\n";

static void test_cpuid_crystal_ratio(void **state) {
        /* Intel: 24 MHz crystal, TSC = crystal * 176 / 2. */
        assert_int_equal(tsc_khz_from_cpuid(2, 176, 24000000, 2100), 2112000);
        /* Crystal not enumerated: the base frequency of leaf 0x16 is the TSC frequency. */
        assert_int_equal(tsc_khz_from_cpuid(2, 176, 0, 2100), 2100000);
        /* No ratio: leaf 0x15 says nothing, whatever 0x16 says. */
        assert_int_equal(tsc_khz_from_cpuid(0, 176, 24000000, 2100), 0);
        assert_int_equal(tsc_khz_from_cpuid(2, 0, 24000000, 2100), 0);
        assert_int_equal(tsc_khz_from_cpuid(2, 176, 0, 0), 0);
}

static void test_cpuinfo_bogomips_not_cpu_mhz(void **state) {
        /* 4192.01 bogomips = 2096005 kHz; the scaled "cpu MHz" (1200) must not be taken, nor a later
         * CPU's. */
        assert_int_equal(tsc_khz_from_cpuinfo(cpuinfo_scaled), 2096005);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t: tsc constant_tsc\nbogomips\t: 5986.00\n"), 2993000);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\nbogomips\t: 5986.5\n"), 2993250);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\nbogomips\t: 5986\n"), 2993000);
}

static void test_cpuinfo_unusable(void **state) {
        /* A TSC that changes with the clock (no constant_tsc), or no TSC: unknown. */
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: fpu tsc msr\nbogomips\t: 4192.01\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: fpu constant_tsc msr\nbogomips\t: 4192.01\n"), 0);
        /* Flags are whole words: "tsc_known_freq" is not "tsc". */
        assert_int_equal(tsc_khz_from_cpuinfo("flags: tsc_known_freq constant_tsc\nbogomips: 4192.01\n"), 0);
        /* No bogomips, or not a number, or only in the second processor's block. */
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\ncpu MHz\t\t: 2096.006\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\nbogomips\t: fast\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\nbogomips\t: -1\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("flags\t\t: tsc constant_tsc\n\nbogomips\t: 4192.01\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("bogomips\t: 4192.01\n"), 0);
        assert_int_equal(tsc_khz_from_cpuinfo("flags: tsc constant_tsc\nbogomips: 9999999999999999999999\n"),
                         0);
        assert_int_equal(tsc_khz_from_cpuinfo(""), 0);
        /* A key that merely starts like another one does not count. */
        assert_int_equal(tsc_khz_from_cpuinfo("flagsx\t: tsc constant_tsc\nbogomips\t: 4192.01\n"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpuid_crystal_ratio),
                cmocka_unit_test(test_cpuinfo_bogomips_not_cpu_mhz),
                cmocka_unit_test(test_cpuinfo_unusable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

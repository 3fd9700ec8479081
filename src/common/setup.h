/* setup.h -- included first by every .c of the project (never by *.bpf.c).
 *
 * It fixes the feature macros and pulls in the libc headers whose functions banned.h
 * redefines, so that later includes of those headers are no-ops (STYLE.md R12).
 */
#ifndef VX_COMMON_SETUP_H
#define VX_COMMON_SETUP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define VX_VERSION      "0.1.0"
#define VX_SERVICE_NAME "premium-vex-service"

#define VX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VX_UNUSED        __attribute__((unused))
#define VX_PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* VX_TESTABLE: static in release builds, external in the module's test library (R22). */
#ifdef VX_UNIT_TESTS
#define VX_TESTABLE
#else
#define VX_TESTABLE static
#endif

#include "common/banned.h"

#endif

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every bdev module unit test includes: test/common/ut_bdev.h (CUnit,
 * the bdev API, the layer on test threads, descriptors, synchronous I/O,
 * ut_run_suites()). Each test binary links the real lib/bdev and the modules
 * under test (through their create functions).
 */
#ifndef BDEV_MODULES_UT_H
#define BDEV_MODULES_UT_H

#include "ut_bdev.h"

#endif /* BDEV_MODULES_UT_H */

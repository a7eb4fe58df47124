/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every bdev module unit test includes: CUnit, the bdev API, and the
 * shared fixtures of test/common (ut_bdev.h: the layer on test threads,
 * descriptors, synchronous I/O; ut_run.h: main()). Each test binary links the
 * real lib/bdev and the modules under test (through their create functions).
 */
#ifndef BDEV_MODULES_UT_H
#define BDEV_MODULES_UT_H

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/thread.h"

#include "ut_bdev.h"
#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

#endif /* BDEV_MODULES_UT_H */

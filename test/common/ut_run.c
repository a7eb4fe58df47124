/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>

#include "ut_run.h"

int
ut_run_suites(void)
{
	unsigned int failures;

	if (CU_get_error() != CUE_SUCCESS) {
		/* A suite or test failed to register: say so rather than run a subset. */
		fprintf(stderr, "CUnit registration failed: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	/* A suite whose init function failed ran none of its tests. */
	failures += CU_get_number_of_suites_failed();
	if (CU_get_error() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit run failed: %s\n", CU_get_error_msg());
		failures++;
	}
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}

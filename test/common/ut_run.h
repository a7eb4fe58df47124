/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One way for a unit test to end: every *_ut.c registers its CUnit suites
 * in main() and returns ut_run_suites(), so every test binary prints the
 * same verbose report and summary and exits 0 when every assertion held,
 * 1 otherwise (test/unit/run.sh reads only that status).
 *
 *	int main(void)
 *	{
 *		CU_pSuite suite;
 *
 *		if (CU_initialize_registry() != CUE_SUCCESS) {
 *			return 1;
 *		}
 *		suite = CU_add_suite("name", NULL, NULL);
 *		CU_ADD_TEST(suite, test_x);
 *		return ut_run_suites();
 *	}
 */
#ifndef OSP_UT_RUN_H
#define OSP_UT_RUN_H

#include <CUnit/Basic.h>

/*
 * Run every registered suite verbosely, print CUnit's summary and free the
 * registry. Returns 0 if no assertion failed and the registry was usable, else
 * 1. A registration error (CU_add_suite or CU_add_test failing) counts as a
 * failure, so a test that was never run cannot pass.
 */
int ut_run_suites(void);

/*
 * main() for a test with a single suite: UT_RUN_SUITE("name",
 * CU_ADD_TEST(suite, test_a); CU_ADD_TEST(suite, test_b);).
 */
#define UT_RUN_SUITE(name, ...) \
	int main(void) \
	{ \
		CU_pSuite suite; \
		if (CU_initialize_registry() != CUE_SUCCESS) { \
			return 1; \
		} \
		suite = CU_add_suite(name, NULL, NULL); \
		__VA_ARGS__ \
		return ut_run_suites(); \
	}

#endif /* OSP_UT_RUN_H */

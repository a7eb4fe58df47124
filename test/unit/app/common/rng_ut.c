/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of app/common/rng.c: the tools' per-thread RNG. */
#include <CUnit/Basic.h>
#include <string.h>

#include "common/rng.c"
#include "ut_run.h"

static void
test_deterministic(void)
{
	struct osp_tool_rng a, b, c;
	int i, same = 0;

	osp_tool_rng_seed(&a, 42, 7);
	osp_tool_rng_seed(&b, 42, 7);
	osp_tool_rng_seed(&c, 42, 8);
	for (i = 0; i < 1000; i++) {
		uint64_t x = osp_tool_rng_next(&a), y = osp_tool_rng_next(&b);

		CU_ASSERT_EQUAL(x, y);
		same += x == osp_tool_rng_next(&c);
	}
	/* Another stream is another sequence. */
	CU_ASSERT(same < 3);
	/* Streams one apart with seeds one apart do not collide either. */
	osp_tool_rng_seed(&a, 43, 6);
	osp_tool_rng_seed(&b, 42, 7);
	CU_ASSERT(a.s != b.s);
}

static void
test_never_zero_state(void)
{
	struct osp_tool_rng r;
	uint64_t seed;
	int i;

	/* Seeds 0 and a stream 0 still give a moving generator. */
	for (seed = 0; seed < 64; seed++) {
		osp_tool_rng_seed(&r, seed, 0);
		CU_ASSERT(r.s != 0);
		for (i = 0; i < 64; i++) {
			osp_tool_rng_next(&r);
			CU_ASSERT(r.s != 0);
		}
	}
	/* The fixed point xorshift has is never installed. */
	r.s = 0;
	osp_tool_rng_seed(&r, 0, 0);
	CU_ASSERT(r.s != 0);
}

static void
test_period_sanity(void)
{
	struct osp_tool_rng r;
	uint64_t first, x;
	uint32_t i, ones = 0;

	/* The period is 2^64 - 1: no short cycle back to the start. */
	osp_tool_rng_seed(&r, 1, 1);
	first = r.s;
	for (i = 0; i < 1000000; i++) {
		x = osp_tool_rng_next(&r);
		CU_ASSERT_FATAL(r.s != first);
		ones += (uint32_t)__builtin_popcountll(x);
	}
	/* Half the bits set, within 0.1 % over 64 M bits. */
	CU_ASSERT(ones > 31968000u && ones < 32032000u);
}

static void
test_below(void)
{
	struct osp_tool_rng r;
	uint32_t counts[10] = {0}, i;

	osp_tool_rng_seed(&r, 99, 0);
	for (i = 0; i < 100000; i++) {
		uint64_t v = osp_tool_rng_below(&r, 10);

		CU_ASSERT_FATAL(v < 10);
		counts[v]++;
	}
	/* Uniform: each of 10 values 10000 +- 5 %. */
	for (i = 0; i < 10; i++) {
		CU_ASSERT(counts[i] > 9500 && counts[i] < 10500);
	}
	CU_ASSERT_EQUAL(osp_tool_rng_below(&r, 1), 0);
	CU_ASSERT_EQUAL(osp_tool_rng_below(&r, 0), 0);
	/* Large ranges reach their top half. */
	for (i = 0; i < 64 && osp_tool_rng_below(&r, UINT64_MAX) < UINT64_MAX / 2; i++) {
	}
	CU_ASSERT(i < 64);
}

static void
test_mix64(void)
{
	/* splitmix64's published first output for state 0. */
	CU_ASSERT_EQUAL(osp_tool_mix64(0), 0xE220A8397B1DCDAFULL);
	CU_ASSERT(osp_tool_mix64(1) != osp_tool_mix64(2));
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("tool_rng", NULL, NULL);
	CU_ADD_TEST(suite, test_deterministic);
	CU_ADD_TEST(suite, test_never_zero_state);
	CU_ADD_TEST(suite, test_period_sanity);
	CU_ADD_TEST(suite, test_below);
	CU_ADD_TEST(suite, test_mix64);
	rc = ut_run_suites();
	return rc;
}

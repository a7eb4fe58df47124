/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of app/common/hist.c: the latency histogram. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.c"
#include "ut_run.h"

static struct osp_tool_hist g_h, g_h2;

static void
test_buckets(void)
{
	uint64_t v;
	uint32_t i, prev = 0;

	/* Small values are exact. */
	for (v = 0; v < 32; v++) {
		CU_ASSERT_EQUAL(osp_tool_hist_index(v), v);
		CU_ASSERT_EQUAL(osp_tool_hist_bucket_start((uint32_t)v), v);
		CU_ASSERT_EQUAL(osp_tool_hist_bucket_end((uint32_t)v), v);
	}
	/* Every value lies in its bucket, buckets grow with the value, within 1/32. */
	for (v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
		i = osp_tool_hist_index(v);
		CU_ASSERT_FATAL(i < OSP_TOOL_HIST_BUCKETS);
		CU_ASSERT(i >= prev);
		CU_ASSERT(osp_tool_hist_bucket_start(i) <= v && v <= osp_tool_hist_bucket_end(i));
		CU_ASSERT(osp_tool_hist_bucket_end(i) - osp_tool_hist_bucket_start(i) <=
			  osp_tool_hist_bucket_start(i) / 32);
		prev = i;
	}
	/* Adjacent buckets leave no gap. */
	for (i = 0; i + 1 < LAST_BUCKET; i++) {
		CU_ASSERT_FATAL(osp_tool_hist_bucket_end(i) + 1 == osp_tool_hist_bucket_start(i + 1));
	}
	/* The largest value has the last bucket, which ends at the top. */
	CU_ASSERT_EQUAL(osp_tool_hist_index(UINT64_MAX), LAST_BUCKET);
	CU_ASSERT_EQUAL(osp_tool_hist_bucket_end(LAST_BUCKET), UINT64_MAX);
	CU_ASSERT(LAST_BUCKET < OSP_TOOL_HIST_BUCKETS);
}

static void
test_percentiles_known_data(void)
{
	uint64_t v;

	memset(&g_h, 0, sizeof(g_h));
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 50), 0);
	/* 1..1000 ns, once each. */
	for (v = 1; v <= 1000; v++) {
		osp_tool_hist_add(&g_h, v);
	}
	CU_ASSERT_EQUAL(osp_tool_hist_count(&g_h), 1000);
	/* Rank 500 is 500, in bucket 496..503; rank 900 is 900 (896..911). */
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 50), 503);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 90), 911);
	/* Ranks 990 and 999: 990 in 976..991, 999 in 992..1007 (the max's bucket). */
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 99), 991);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 99.9), 1007);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 100), 1007);
	/* A tiny percentile is the smallest value. */
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 0.0001), 1);

	/* One outlier among 999 equal values: p99.9 is still the bulk, max the outlier. */
	memset(&g_h, 0, sizeof(g_h));
	for (v = 0; v < 999; v++) {
		osp_tool_hist_add(&g_h, 20);
	}
	osp_tool_hist_add(&g_h, 1000000);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 50), 20);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 99.9), 20);
	CU_ASSERT(osp_tool_hist_percentile(&g_h, 100) >= 1000000 &&
		  osp_tool_hist_percentile(&g_h, 100) <= 1000000 + 1000000 / 32);
}

static void
test_merge(void)
{
	memset(&g_h, 0, sizeof(g_h));
	memset(&g_h2, 0, sizeof(g_h2));
	osp_tool_hist_add(&g_h, 10);
	osp_tool_hist_add(&g_h2, 10);
	osp_tool_hist_add(&g_h2, 5000);
	osp_tool_hist_merge(&g_h, &g_h2);
	CU_ASSERT_EQUAL(osp_tool_hist_count(&g_h), 3);
	CU_ASSERT_EQUAL(g_h.b[10], 2);
	CU_ASSERT_EQUAL(osp_tool_hist_percentile(&g_h, 50), 10);
	CU_ASSERT_EQUAL(osp_tool_hist_count(&g_h2), 2);
}

static char *
print_to_string(void (*fn)(FILE *, const char *, const struct osp_tool_hist *, double))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CU_ASSERT_FATAL(f != NULL);
	fn(f, "dev from core 1", &g_h, 1000.0);
	fclose(f);
	return text;
}

static void
test_print(void)
{
	char *text;
	uint64_t v;

	/* 1000 values 1..1000 us (in ns). */
	memset(&g_h, 0, sizeof(g_h));
	for (v = 1; v <= 1000; v++) {
		osp_tool_hist_add(&g_h, v * 1000);
	}
	text = print_to_string(osp_tool_hist_print_summary);
	CU_ASSERT(strncmp(text, "Summary latency data for dev from core 1:\n====", 46) == 0);
	/* 500 us is in 499.712..507.903; rank 999 (99.99 %) is 999 us, in 983.040..999.423. */
	CU_ASSERT(strstr(text, "\n 50.00000% :      507.903us\n") != NULL);
	CU_ASSERT(strstr(text, "\n 99.99000% :      999.423us\n") != NULL);
	CU_ASSERT(text[strlen(text) - 2] == '\n');
	free(text);

	text = print_to_string(osp_tool_hist_print_buckets);
	CU_ASSERT(strncmp(text, "Latency histogram for dev from core 1:\n", 39) == 0);
	CU_ASSERT(strstr(text, "Range in us     Cumulative    IO count\n") != NULL);
	/* The first bucket (0.992..1.008 us) holds 1 us alone, the last one reaches 100 %. */
	CU_ASSERT(strstr(text, "    0.992 -     1.008:    0.1000%  (        1)\n") != NULL);
	CU_ASSERT(strstr(text, "  100.0000%  (") != NULL);
	free(text);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("tool_hist", NULL, NULL);
	CU_ADD_TEST(suite, test_buckets);
	CU_ADD_TEST(suite, test_percentiles_known_data);
	CU_ADD_TEST(suite, test_merge);
	CU_ADD_TEST(suite, test_print);
	rc = ut_run_suites();
	return rc;
}

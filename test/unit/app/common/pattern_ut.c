/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of app/common/pattern.c: the verify pattern (LBA + seed + generation). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "common/pattern.c"
#include "ut_run.h"

#define BS 512
#define NB 8

static uint64_t g_buf[NB * BS / 8];

static void
test_roundtrip(void)
{
	struct osp_tool_pattern_err err;
	uint32_t bs;

	for (bs = OSP_TOOL_PATTERN_MIN_BLOCK; bs <= BS; bs += 8) {
		osp_tool_pattern_fill(g_buf, 1000, NB * BS / bs, bs, 0xABCDEF, 3);
		CU_ASSERT(osp_tool_pattern_check(g_buf, 1000, NB * BS / bs, bs, 0xABCDEF, 3, &err));
		CU_ASSERT(osp_tool_pattern_check(g_buf, 1000, NB * BS / bs, bs, 0xABCDEF, 3, NULL));
	}
	/* Every word says where and when. */
	osp_tool_pattern_fill(g_buf, 77, NB, BS, 5, 9);
	CU_ASSERT_EQUAL(g_buf[0], 77);
	CU_ASSERT_EQUAL(g_buf[1], 5);
	CU_ASSERT_EQUAL(g_buf[2], 9);
	CU_ASSERT_EQUAL(g_buf[BS / 8 * 3], 80);
	/* Two blocks never hold the same body. */
	CU_ASSERT(memcmp(&g_buf[3], &g_buf[BS / 8 + 3], BS - 24) != 0);
}

static void
test_wrong_lba(void)
{
	struct osp_tool_pattern_err err;
	char msg[256];

	/* Data of LBAs 200.. read where 100.. was expected (misplaced write or read). */
	osp_tool_pattern_fill(g_buf, 200, NB, BS, 1, 1);
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 100, NB, BS, 1, 1, &err));
	CU_ASSERT_EQUAL(err.block, 0);
	CU_ASSERT_EQUAL(err.lba, 100);
	CU_ASSERT_EQUAL(err.exp_lba, 100);
	CU_ASSERT_EQUAL(err.got_lba, 200);
	CU_ASSERT_EQUAL(err.got_seed, 1);
	CU_ASSERT_EQUAL(err.got_gen, 1);
	CU_ASSERT(err.byte < 8);
	osp_tool_pattern_err_fmt(msg, sizeof(msg), &err);
	CU_ASSERT_STRING_EQUAL(msg, "expected lba 100 seed 0x1 gen 1, got lba 200 seed 0x1 gen 1; "
			       "first bad byte 0 of the block: expected 0x64 got 0xc8");

	/* One block in the middle from elsewhere: that block is named. */
	osp_tool_pattern_fill(g_buf, 100, NB, BS, 1, 1);
	osp_tool_pattern_fill((uint8_t *)g_buf + 5 * BS, 300, 1, BS, 1, 1);
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 100, NB, BS, 1, 1, &err));
	CU_ASSERT_EQUAL(err.block, 5);
	CU_ASSERT_EQUAL(err.lba, 105);
	CU_ASSERT_EQUAL(err.got_lba, 300);
}

static void
test_wrong_seed_or_generation(void)
{
	struct osp_tool_pattern_err err;

	/* Another run's data (seed). */
	osp_tool_pattern_fill(g_buf, 0, NB, BS, 0x1111, 4);
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 0, NB, BS, 0x2222, 4, &err));
	CU_ASSERT_EQUAL(err.block, 0);
	CU_ASSERT_EQUAL(err.byte, 8);
	CU_ASSERT_EQUAL(err.exp_seed, 0x2222);
	CU_ASSERT_EQUAL(err.got_seed, 0x1111);
	/* A stale block: an earlier generation of the same LBA. */
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 0, NB, BS, 0x1111, 5, &err));
	CU_ASSERT_EQUAL(err.byte, 16);
	CU_ASSERT_EQUAL(err.exp_gen, 5);
	CU_ASSERT_EQUAL(err.got_gen, 4);
	CU_ASSERT_EQUAL(err.exp_byte, 5);
	CU_ASSERT_EQUAL(err.got_byte, 4);
}

static void
test_corrupt_byte(void)
{
	struct osp_tool_pattern_err err;
	uint8_t *p = (uint8_t *)g_buf;
	uint32_t off;

	/* Any single flipped byte, header or body, is found at its place. */
	for (off = 0; off < NB * BS; off += 37) {
		osp_tool_pattern_fill(g_buf, 5, NB, BS, 0xFEED, 2);
		p[off] ^= 0x10;
		CU_ASSERT_FALSE_FATAL(osp_tool_pattern_check(g_buf, 5, NB, BS, 0xFEED, 2, &err));
		CU_ASSERT_EQUAL(err.block, off / BS);
		CU_ASSERT_EQUAL(err.lba, 5 + off / BS);
		CU_ASSERT_EQUAL(err.byte, off % BS);
		CU_ASSERT_EQUAL(err.exp_byte ^ 0x10, err.got_byte);
	}
	/* The last byte of the last block. */
	osp_tool_pattern_fill(g_buf, 5, NB, BS, 0xFEED, 2);
	p[NB * BS - 1] ^= 1;
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 5, NB, BS, 0xFEED, 2, &err));
	CU_ASSERT_EQUAL(err.block, NB - 1);
	CU_ASSERT_EQUAL(err.byte, BS - 1);
	/* Zeroes (a block never written) are not the pattern. */
	memset(g_buf, 0, sizeof(g_buf));
	CU_ASSERT_FALSE(osp_tool_pattern_check(g_buf, 0, 1, BS, 0, 0, &err));
	CU_ASSERT_EQUAL(err.byte, 24);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("tool_pattern", NULL, NULL);
	CU_ADD_TEST(suite, test_roundtrip);
	CU_ADD_TEST(suite, test_wrong_lba);
	CU_ADD_TEST(suite, test_wrong_seed_or_generation);
	CU_ADD_TEST(suite, test_corrupt_byte);
	rc = ut_run_suites();
	return rc;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the passthru bdev on a malloc base: data goes through to the
 * same blocks of the base, the base is claimed, a passthru configured before
 * its base is built when the base appears, hot removal of the base removes
 * the passthru with its I/O completing, deletion releases the base.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/malloc/bdev_malloc.h"
#include "../../../../../drivers/bdev/passthru/bdev_passthru.h"

#define BS	512
#define NBLK	2048

static void
make_base(const char *name)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = NBLK, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, NULL), 0);
}

static void
test_forwarding(void)
{
	struct ut_desc pt, base;
	struct osp_bdev *ptb, *bb;
	uint8_t *w = ut_buf(8 * BS, 0), *r = ut_buf(8 * BS, 0), *z = ut_buf(8 * BS, 0);

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", NULL), 0);
	ptb = osp_bdev_get_by_name("PT0");
	bb = osp_bdev_get_by_name("M0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ptb);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(ptb), NBLK);
	CU_ASSERT_EQUAL(osp_bdev_get_block_size(ptb), BS);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_module_name(ptb), "passthru");
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_claim_module(bb));
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_claim_module(bb)->name, "passthru");
	CU_ASSERT_EQUAL(osp_uuid_compare(osp_bdev_get_uuid(ptb), osp_bdev_get_uuid(bb)) != 0, 1);
	/* It supports what its base supports. */
	CU_ASSERT_EQUAL(osp_bdev_io_type_supported(ptb, OSP_BDEV_IO_TYPE_UNMAP),
			osp_bdev_io_type_supported(bb, OSP_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT_FALSE(osp_bdev_io_type_supported(ptb, OSP_BDEV_IO_TYPE_NVME_IO));

	/* The claimed base can no longer be opened for writing, but for reading. */
	CU_ASSERT_EQUAL(ut_open("M0", true, 0, &base), -EPERM);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &base), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("PT0", true, 1, &pt), 0);

	ut_pattern(w, 30, 8, BS, 3);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_WRITE, w, 30, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 30, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, 8 * BS), 0);
	memset(r, 0, 8 * BS);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_READ, r, 30, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, 8 * BS), 0);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_COMPARE, w, 30, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	w[0] ^= 0x80;
	CU_ASSERT_EQUAL(ut_do(&pt, UT_COMPARE, w, 30, 8), OSP_BDEV_IO_STATUS_MISCOMPARE);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_UNMAP, NULL, 30, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_WZ, NULL, 34, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 30, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, z, 8 * BS), 0);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_FLUSH, NULL, 0, NBLK), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&pt, UT_RESET, NULL, 0, 0), OSP_BDEV_IO_STATUS_SUCCESS);

	ut_close(&pt);
	ut_close(&base);
	free(w);
	free(r);
	free(z);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_create_checks(void)
{
	int done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_base("M0");
	make_base("M1");
	CU_ASSERT_EQUAL(bdev_passthru_create("", "M0", NULL), -EINVAL);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "", NULL), -EINVAL);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", NULL), 0);
	/* Same name again, a name of another bdev, a second claim of the base. */
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M1", NULL), -EEXIST);
	CU_ASSERT_EQUAL(bdev_passthru_create("M1", "M0", NULL), -EEXIST);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT1", "M0", NULL), -EPERM);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT1"));
	/* The failed one left no config behind: PT1 can be made on M1. */
	CU_ASSERT_EQUAL(bdev_passthru_create("PT1", "M1", NULL), 0);

	CU_ASSERT_EQUAL(bdev_passthru_delete("nope", ut_unreg_cb, &done), -ENODEV);
	CU_ASSERT_EQUAL(bdev_passthru_delete("PT0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0")));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Configured first, built when the base registers (examine_config). */
static void
test_deferred(void)
{
	struct osp_uuid uuid;
	struct osp_bdev *ptb;
	cJSON *array = cJSON_CreateArray();
	const cJSON *params;
	int done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	osp_uuid_generate(&uuid);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", &uuid), 0);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT0"));
	/* Still waiting: the module's config output keeps it. */
	osp_bdev_module_list_find("passthru")->config_json(array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 1);
	params = cJSON_GetObjectItem(cJSON_GetArrayItem(array, 0), "params");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "base_bdev_name"), "M0");
	cJSON_Delete(array);

	make_base("M0");
	ut_poll_threads();
	ptb = osp_bdev_get_by_name("PT0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ptb);
	CU_ASSERT_EQUAL(osp_uuid_compare(osp_bdev_get_uuid(ptb), &uuid), 0);
	array = cJSON_CreateArray();
	osp_bdev_module_list_find("passthru")->config_json(array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 0);	/* written per bdev now */
	cJSON_Delete(array);
	CU_ASSERT_STRING_EQUAL(ut_config_of(ptb, &array, &params), "bdev_passthru_create");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "name"), "PT0");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "base_bdev_name"), "M0");
	cJSON_Delete(array);

	/* Deleting a passthru that waits for its base needs no bdev. */
	CU_ASSERT_EQUAL(bdev_passthru_create("PT1", "Later", NULL), 0);
	CU_ASSERT_EQUAL(bdev_passthru_delete("PT1", ut_unreg_cb, &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	make_base("Later");
	ut_poll_threads();
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT1"));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* The base goes away under I/O: the passthru follows, every I/O completes once. */
static void
test_hot_remove(void)
{
	struct ut_desc pt;
	struct ut_io io[8];
	uint8_t *buf = ut_buf(BS, 7);
	int i, done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("PT0", true, 1, &pt), 0);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(ut_submit(&pt, i % 2 ? UT_READ : UT_WRITE, buf, i, 1, &io[i]), 0);
	}
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(io[i].done, 1);
	}
	CU_ASSERT_EQUAL(pt.removed, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT0"));	/* gone from lookups at once */
	CU_ASSERT_EQUAL(done, 0);	/* the base waits for the passthru to let go */
	ut_close(&pt);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0"));

	/* The config survives: the passthru returns with its base. */
	make_base("M0");
	ut_poll_threads();
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("PT0"));
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Stop with a passthru still on its base: the layer removes both, in order. */
static void
test_shutdown_with_stack(void)
{
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", NULL), 0);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT1", "PT0", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("PT1"));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_passthru",
	     CU_ADD_TEST(suite, test_forwarding);
	     CU_ADD_TEST(suite, test_create_checks);
	     CU_ADD_TEST(suite, test_deferred);
	     CU_ADD_TEST(suite, test_hot_remove);
	     CU_ADD_TEST(suite, test_shutdown_with_stack);
	    )

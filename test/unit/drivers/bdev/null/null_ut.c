/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the null bdev: parameter checks, every supported I/O type
 * succeeds without touching data, reads without a buffer get zeroes,
 * completions are batched, resize notifies openers.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/null/bdev_null.h"

static struct osp_bdev *
make_null(const char *name, uint64_t nblk, uint32_t bs)
{
	struct bdev_null_opts o = { .name = name, .num_blocks = nblk, .block_size = bs };
	struct osp_bdev *bdev = NULL;

	CU_ASSERT_EQUAL_FATAL(bdev_null_create(&o, &bdev), 0);
	return bdev;
}

static void
test_create_checks(void)
{
	struct bdev_null_opts o = { .name = "N", .num_blocks = 8, .block_size = 512 };
	struct osp_bdev *bdev = NULL;
	int done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	o.block_size = 520;
	CU_ASSERT_EQUAL(bdev_null_create(&o, &bdev), -EINVAL);
	o.block_size = 4096;
	o.num_blocks = 0;
	CU_ASSERT_EQUAL(bdev_null_create(&o, &bdev), -EINVAL);
	o.num_blocks = 8;
	o.name = NULL;
	CU_ASSERT_EQUAL(bdev_null_create(&o, &bdev), -EINVAL);
	o.name = "N";
	CU_ASSERT_EQUAL(bdev_null_create(&o, &bdev), 0);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_module_name(bdev), "null");
	CU_ASSERT_EQUAL(bdev_null_create(&o, &bdev), -EEXIST);
	CU_ASSERT_FALSE(osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_NVME_ADMIN));
	CU_ASSERT_TRUE(osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT_EQUAL(bdev_null_delete("nope", ut_unreg_cb, &done), -ENODEV);
	CU_ASSERT_EQUAL(bdev_null_delete("N", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("N"));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_io(void)
{
	struct ut_desc d;
	uint8_t *buf = ut_buf(64 * 1024, 0xaa), *r = ut_buf(64 * 1024, 0x11);
	struct iovec iov = { NULL, 64 * 1024 };
	struct ut_io io;
	size_t i;
	bool zero = true, untouched = true;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_null("N0", 1 << 20, 512);
	CU_ASSERT_EQUAL_FATAL(ut_open("N0", true, 1, &d), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 128), OSP_BDEV_IO_STATUS_SUCCESS);
	/* A read into a user buffer leaves it as it was: no copy at all. */
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, buf, 0, 128), OSP_BDEV_IO_STATUS_SUCCESS);
	for (i = 0; i < 64 * 1024; i++) {
		untouched &= buf[i] == 0xaa;
	}
	CU_ASSERT_TRUE(untouched);
	CU_ASSERT_EQUAL(ut_do(&d, UT_UNMAP, NULL, 5, 100), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WZ, NULL, 5, 100), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_FLUSH, NULL, 0, 1 << 20), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_RESET, NULL, 0, 0), OSP_BDEV_IO_STATUS_SUCCESS);

	/* Without a buffer: zeroes, from the shared zero buffer. */
	memset(&io, 0, sizeof(io));
	io.buf = r;
	io.len = 64 * 1024;
	ut_set_thread(1);
	CU_ASSERT_EQUAL(osp_bdev_readv_blocks(d.desc, d.ch, &iov, 1, 7, 128, ut_io_cb, &io), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_TRUE(io.success);
	CU_ASSERT_PTR_EQUAL(io.thread, ut_thread(1));
	for (i = 0; i < 64 * 1024; i++) {
		zero &= r[i] == 0;
	}
	CU_ASSERT_TRUE(zero);
	ut_close(&d);
	free(buf);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_batched_completions(void)
{
	struct ut_desc d;
	struct ut_io io[128];
	uint8_t *buf = ut_buf(4096, 0);
	int i, done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_null("N0", 1024, 4096);
	CU_ASSERT_EQUAL_FATAL(ut_open("N0", true, 0, &d), 0);
	for (i = 0; i < 128; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, i % 2 ? UT_READ : UT_WRITE, buf, i, 1, &io[i]), 0);
		done += io[i].done;
	}
	CU_ASSERT_EQUAL(done, 0);
	ut_poll_thread(0);
	for (i = 0, done = 0; i < 128; i++) {
		done += io[i].done;
	}
	CU_ASSERT_EQUAL(done, 128);
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_resize(void)
{
	struct ut_desc d;
	struct osp_bdev *bdev;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	bdev = make_null("N0", 2048, 512);	/* 1 MiB */
	CU_ASSERT_EQUAL_FATAL(ut_open("N0", false, 0, &d), 0);
	CU_ASSERT_EQUAL(bdev_null_resize("N0", 4), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 4 * 2048);
	CU_ASSERT_EQUAL(d.resized, 1);
	CU_ASSERT_EQUAL(bdev_null_resize("N0", 0), -EINVAL);
	CU_ASSERT_EQUAL(bdev_null_resize("nope", 4), -ENODEV);
	/* Shrinking an unclaimed bdev is allowed. */
	CU_ASSERT_EQUAL(bdev_null_resize("N0", 1), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 2048);
	ut_close(&d);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_config_json(void)
{
	struct osp_bdev *bdev;
	const cJSON *params;
	cJSON *array;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	bdev = make_null("N0", 300, 4096);
	CU_ASSERT_STRING_EQUAL(ut_config_of(bdev, &array, &params), "bdev_null_create");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "name"), "N0");
	CU_ASSERT_EQUAL(ut_num(params, "num_blocks"), 300);
	CU_ASSERT_EQUAL(ut_num(params, "block_size"), 4096);
	CU_ASSERT_EQUAL(strlen(ut_str(params, "uuid")), 36);
	cJSON_Delete(array);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_null",
	     CU_ADD_TEST(suite, test_create_checks);
	     CU_ADD_TEST(suite, test_io);
	     CU_ADD_TEST(suite, test_batched_completions);
	     CU_ADD_TEST(suite, test_resize);
	     CU_ADD_TEST(suite, test_config_json);
	    )

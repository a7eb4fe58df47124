/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the malloc bdev through the real layer: parameter checks,
 * the data path of every I/O type (patterns across uneven iovecs, unmap and
 * write_zeroes, compare), batched completions on the submitting thread,
 * reads without a buffer, deletion with an open descriptor, config output.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/malloc/bdev_malloc.h"

#define BS	512
#define NBLK	2048	/* 1 MiB */

static struct osp_bdev *
make_disk(const char *name, uint64_t nblk, uint32_t bs)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = nblk, .block_size = bs };
	struct osp_bdev *bdev = NULL;

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &bdev), 0);
	return bdev;
}

static void
test_create_checks(void)
{
	struct bdev_malloc_opts o = { .name = "M", .num_blocks = 8, .block_size = BS };
	struct osp_bdev *bdev = NULL, *b2 = NULL;
	int done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	o.block_size = 1000;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &bdev), -EINVAL);
	o.block_size = 256;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &bdev), -EINVAL);
	o.block_size = BS;
	o.num_blocks = 0;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &bdev), -EINVAL);
	o.num_blocks = 8;
	o.physical_block_size = 256;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &bdev), -EINVAL);
	o.physical_block_size = 4096;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &bdev), 0);
	CU_ASSERT_PTR_EQUAL(osp_bdev_get_by_name("M"), bdev);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(bdev), 8);
	CU_ASSERT_EQUAL(osp_bdev_get_block_size(bdev), BS);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_module_name(bdev), "malloc");
	CU_ASSERT_FALSE(osp_uuid_is_null(osp_bdev_get_uuid(bdev)));
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &b2), -EEXIST);

	/* No name: Malloc<first free N>. */
	o.name = NULL;
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &b2), 0);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_name(b2), "Malloc0");
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, &b2), 0);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_name(b2), "Malloc1");

	CU_ASSERT_EQUAL(bdev_malloc_delete("nope", ut_unreg_cb, &done), -ENODEV);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M"));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Write a pattern in uneven pieces, read it back in other pieces. */
static void
test_data_path(void)
{
	struct ut_desc d;
	uint8_t *w = ut_buf(16 * BS, 0), *r = ut_buf(16 * BS, 0), *z = ut_buf(16 * BS, 0);
	struct iovec wiov[3], riov[4];
	struct ut_io io;
	int rc;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_disk("M0", NBLK, BS);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", true, 1, &d), 0);
	CU_ASSERT_TRUE(osp_bdev_io_type_supported(osp_bdev_desc_get_bdev(d.desc),
			OSP_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT_FALSE(osp_bdev_io_type_supported(osp_bdev_desc_get_bdev(d.desc),
			OSP_BDEV_IO_TYPE_NVME_IO));

	/* A new disk reads back zeroes. */
	memset(r, 0xee, 16 * BS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 100, 16), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, z, 16 * BS), 0);

	ut_pattern(w, 100, 16, BS, 1);
	wiov[0] = (struct iovec) { w, 700 };
	wiov[1] = (struct iovec) { w + 700, 3 * BS };
	wiov[2] = (struct iovec) { w + 700 + 3 * BS, 16 * BS - 700 - 3 * BS };
	ut_set_thread(1);
	memset(&io, 0, sizeof(io));
	rc = osp_bdev_writev_blocks(d.desc, d.ch, wiov, 3, 100, 16, ut_io_cb, &io);
	CU_ASSERT_EQUAL(rc, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_TRUE(io.success);
	/* Completed on the thread that submitted. */
	CU_ASSERT_PTR_EQUAL(io.thread, ut_thread(1));

	memset(r, 0, 16 * BS);
	riov[0] = (struct iovec) { r, BS };
	riov[1] = (struct iovec) { r + BS, 1 };
	riov[2] = (struct iovec) { r + BS + 1, 5 * BS - 1 };
	riov[3] = (struct iovec) { r + 6 * BS, 10 * BS };
	ut_set_thread(1);
	memset(&io, 0, sizeof(io));
	rc = osp_bdev_readv_blocks(d.desc, d.ch, riov, 4, 100, 16, ut_io_cb, &io);
	CU_ASSERT_EQUAL(rc, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_EQUAL(memcmp(r, w, 16 * BS), 0);

	/* Neighbours untouched. */
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 99, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, z, BS), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 116, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, z, BS), 0);

	/* Compare: equal, then one byte off. */
	CU_ASSERT_EQUAL(ut_do(&d, UT_COMPARE, w, 100, 16), OSP_BDEV_IO_STATUS_SUCCESS);
	w[5 * BS + 3] ^= 1;
	CU_ASSERT_EQUAL(ut_do(&d, UT_COMPARE, w, 100, 16), OSP_BDEV_IO_STATUS_MISCOMPARE);
	w[5 * BS + 3] ^= 1;

	/* Unmap and write_zeroes zero their range only. */
	CU_ASSERT_EQUAL(ut_do(&d, UT_UNMAP, NULL, 102, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WZ, NULL, 110, 3), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 100, 16), OSP_BDEV_IO_STATUS_SUCCESS);
	memset(w + 2 * BS, 0, 2 * BS);
	memset(w + 10 * BS, 0, 3 * BS);
	CU_ASSERT_EQUAL(memcmp(r, w, 16 * BS), 0);

	CU_ASSERT_EQUAL(ut_do(&d, UT_FLUSH, NULL, 0, NBLK), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_RESET, NULL, 0, 0), OSP_BDEV_IO_STATUS_SUCCESS);

	/* The last block, and one past the end (refused by the layer). */
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, w, NBLK - 1, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, w, NBLK, 1, &io), -EINVAL);

	ut_close(&d);
	free(w);
	free(r);
	free(z);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* A read without a buffer gets one from the layer and the data in it. */
static void
test_read_without_buffer(void)
{
	struct ut_desc d;
	uint8_t *w = ut_buf(8 * BS, 0), *r = ut_buf(8 * BS, 0);
	struct iovec iov = { NULL, 8 * BS };
	struct ut_io io;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_disk("M0", NBLK, BS);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", true, 0, &d), 0);
	ut_pattern(w, 40, 8, BS, 9);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, w, 40, 8), OSP_BDEV_IO_STATUS_SUCCESS);
	memset(&io, 0, sizeof(io));
	io.buf = r;
	io.len = 8 * BS;
	CU_ASSERT_EQUAL(osp_bdev_readv_blocks(d.desc, d.ch, &iov, 1, 40, 8, ut_io_cb, &io), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_TRUE(io.success);
	CU_ASSERT_EQUAL(memcmp(r, w, 8 * BS), 0);
	ut_close(&d);
	free(w);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Completions come from the channel's poller, all at once, never inline. */
static void
test_batched_completions(void)
{
	struct ut_desc d;
	struct ut_io io[64];
	uint8_t *buf = ut_buf(64 * 4096, 0x5a);
	int i, done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_disk("M0", 256, 4096);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", true, 0, &d), 0);
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf + i * 4096, i, 1, &io[i]), 0);
	}
	for (i = 0; i < 64; i++) {
		done += io[i].done;
	}
	CU_ASSERT_EQUAL(done, 0);
	/* One poll of the thread completes the whole batch. */
	ut_poll_thread(0);
	for (i = 0, done = 0; i < 64; i++) {
		done += io[i].done;
		CU_ASSERT_TRUE(io[i].success);
	}
	CU_ASSERT_EQUAL(done, 64);
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Deleting a malloc bdev with an open descriptor: REMOVE, then gone on close. */
static void
test_delete_while_open(void)
{
	struct ut_desc d;
	uint8_t *buf = ut_buf(BS, 1);
	struct ut_io io;
	int done = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_disk("M0", NBLK, BS);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", true, 1, &d), 0);
	/* An I/O in flight when the delete arrives still completes. */
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &io), 0);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_EQUAL(d.removed, 1);
	CU_ASSERT_EQUAL(done, 0);
	/* New I/O is refused once the bdev is going away. */
	CU_ASSERT_NOT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &io), 0);
	ut_close(&d);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0"));
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_config_json(void)
{
	struct bdev_malloc_opts o = { .name = "MU", .num_blocks = 64, .block_size = 4096,
				      .optimal_io_boundary = 8
				    };
	struct osp_bdev *bdev = NULL;
	const cJSON *params;
	cJSON *array, *info;
	char uuid[OSP_UUID_STRING_LEN];

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	CU_ASSERT_EQUAL(osp_uuid_parse(&o.uuid, "8a3c1e7e-3b2f-4c55-9d6e-0123456789ab"), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &bdev), 0);
	CU_ASSERT_STRING_EQUAL(ut_config_of(bdev, &array, &params), "bdev_malloc_create");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "name"), "MU");
	CU_ASSERT_EQUAL(ut_num(params, "num_blocks"), 64);
	CU_ASSERT_EQUAL(ut_num(params, "block_size"), 4096);
	CU_ASSERT_EQUAL(ut_num(params, "optimal_io_boundary"), 8);
	osp_uuid_fmt_lower(uuid, sizeof(uuid), osp_bdev_get_uuid(bdev));
	CU_ASSERT_STRING_EQUAL(ut_str(params, "uuid"), "8a3c1e7e-3b2f-4c55-9d6e-0123456789ab");
	CU_ASSERT_STRING_EQUAL(uuid, "8a3c1e7e-3b2f-4c55-9d6e-0123456789ab");
	cJSON_Delete(array);
	CU_ASSERT_EQUAL(osp_bdev_get_optimal_io_boundary(bdev), 8);

	info = cJSON_CreateObject();
	bdev->fn_table->dump_info_json(bdev->ctxt, info);
	CU_ASSERT_EQUAL(ut_num(cJSON_GetObjectItem(info, "malloc"), "block_size"), 4096);
	cJSON_Delete(info);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_malloc",
	     CU_ADD_TEST(suite, test_create_checks);
	     CU_ADD_TEST(suite, test_data_path);
	     CU_ADD_TEST(suite, test_read_without_buffer);
	     CU_ADD_TEST(suite, test_batched_completions);
	     CU_ADD_TEST(suite, test_delete_while_open);
	     CU_ADD_TEST(suite, test_config_json);
	    )

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the error bdev on a malloc base: EE_<base> naming, injected
 * failures hit exactly `num` I/Os of the armed type, "all" arms each type,
 * pending I/O is held until a reset (or removal) aborts it, corrupt_data
 * flips the chosen byte on the way in or out, nomem I/O is retried by the
 * layer and then succeeds, queue_depth gating, clear, and bad arguments.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/error/bdev_error.h"
#include "../../../../../drivers/bdev/malloc/bdev_malloc.h"

#define BS	512
#define NBLK	2048

static void
setup(int nthreads)
{
	struct bdev_malloc_opts o = { .name = "M0", .num_blocks = NBLK, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(nthreads), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_error_create("M0", NULL), 0);
}

static int
inject(const char *name, int io_type, enum bdev_error_type type, uint32_t num)
{
	struct bdev_error_inject_opts o = { .io_type = io_type, .error_type = type, .num = num };

	return bdev_error_inject(name, &o);
}

static void
test_failure_counts(void)
{
	struct ut_desc d;
	uint8_t *buf = ut_buf(BS, 3);
	int i;

	setup(2);
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("EE_M0"));
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0"))->name, "error");
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 1, &d), 0);

	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_WRITE, BDEV_ERROR_FAILURE, 2), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);

	/* "all": one of each injectable type, independently counted. */
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_INVALID, BDEV_ERROR_FAILURE, 1), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_FLUSH, NULL, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	CU_ASSERT_EQUAL(ut_do(&d, UT_FLUSH, NULL, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_UNMAP, NULL, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, buf, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_FAILED);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ut_do(&d, UT_READ, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	}
	/* Not injectable: write_zeroes passes whatever is armed. */
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_INVALID, BDEV_ERROR_FAILURE, 5), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WZ, NULL, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	/* num 0 disarms; clear disarms everything. */
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 0), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(bdev_error_clear("EE_M0"), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, buf, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&d, UT_FLUSH, NULL, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/*
 * Pending I/O is held until something releases it. A reset should (SPDK's
 * layer passes resets to the module at once, and the module aborts what it
 * holds); a layer that first waits for the module's I/O to drain never gets
 * there, and then only removing the error bdev releases it. Either way the
 * held I/O completes exactly once, ABORTED, and so does the reset.
 */
static void
test_pending_and_reset(void)
{
	struct ut_desc d;
	struct ut_io rd, wr, rst;
	uint8_t *buf = ut_buf(BS, 3);
	int deleted = 0;

	setup(2);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 1, &d), 0);
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_PENDING, 1), 0);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_READ, buf, 0, 1, &rd), 0);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &wr), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(rd.done, 0);		/* held */
	CU_ASSERT_EQUAL(wr.done, 1);		/* others flow */
	CU_ASSERT_EQUAL(ut_submit(&d, UT_RESET, NULL, 0, 0, &rst), 0);
	ut_poll_threads();
	if (rst.done == 0) {
		CU_ASSERT_EQUAL(rd.done, 0);
		CU_ASSERT_EQUAL(bdev_error_delete("EE_M0", ut_unreg_cb, &deleted), 0);
		ut_poll_threads();
	}
	CU_ASSERT_EQUAL(rd.done, 1);
	CU_ASSERT_FALSE(rd.success);
	CU_ASSERT_EQUAL(rd.status, OSP_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT_EQUAL(rst.done, 1);
	ut_close(&d);
	CU_ASSERT(deleted == 0 || deleted == 1);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* Deleting an error bdev that holds I/O: the I/O is aborted, the delete completes. */
static void
test_pending_then_delete(void)
{
	struct ut_desc d;
	struct ut_io wr;
	uint8_t *buf = ut_buf(BS, 3);
	int done = 0;

	setup(2);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 1, &d), 0);
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_WRITE, BDEV_ERROR_PENDING, 1), 0);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &wr), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(wr.done, 0);
	CU_ASSERT_EQUAL(bdev_error_delete("M0", ut_unreg_cb, &done), -ENODEV);	/* EE_ name */
	CU_ASSERT_EQUAL(bdev_error_delete("EE_M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(wr.done, 1);
	CU_ASSERT_EQUAL(wr.status, OSP_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT_EQUAL(d.removed, 1);
	ut_close(&d);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("EE_M0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0")));
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_corrupt_data(void)
{
	struct ut_desc d, base;
	struct bdev_error_inject_opts o = { .io_type = OSP_BDEV_IO_TYPE_WRITE,
		       .error_type = BDEV_ERROR_CORRUPT_DATA, .num = 1,
		       .corrupt_offset = BS + 3, .corrupt_value = 0xff
	};
	uint8_t *w = ut_buf(2 * BS, 0), *r = ut_buf(2 * BS, 0), *orig = ut_buf(2 * BS, 0);

	setup(1);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 0, &d), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &base), 0);
	ut_pattern(w, 10, 2, BS, 4);
	memcpy(orig, w, 2 * BS);

	/* Write: the base gets byte BS + 3 flipped. */
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, w, 10, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 10, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(r[BS + 3], (uint8_t)(orig[BS + 3] ^ 0xff));
	r[BS + 3] ^= 0xff;
	CU_ASSERT_EQUAL(memcmp(r, orig, 2 * BS), 0);

	/* Read: the base is intact, the reader sees byte 5 flipped, once. */
	CU_ASSERT_EQUAL(ut_do(&d, UT_WRITE, orig, 10, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	o.io_type = OSP_BDEV_IO_TYPE_READ;
	o.corrupt_offset = 5;
	o.corrupt_value = 0x01;
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), 0);
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 10, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(r[5], (uint8_t)(orig[5] ^ 0x01));
	CU_ASSERT_EQUAL(ut_do(&d, UT_READ, r, 10, 2), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, orig, 2 * BS), 0);

	/* A value of 0 would corrupt nothing: refused. */
	o.corrupt_value = 0;
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), -EINVAL);
	ut_close(&d);
	ut_close(&base);
	free(w);
	free(r);
	free(orig);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* NOMEM makes the layer queue and retry the I/O: it succeeds in the end. */
static void
test_nomem_retried(void)
{
	struct ut_desc d, base;
	uint8_t *w = ut_buf(BS, 0x77), *r = ut_buf(BS, 0);
	struct ut_io io;
	uint64_t deadline;

	setup(1);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 0, &d), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &base), 0);
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_WRITE, BDEV_ERROR_NOMEM, 2), 0);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, w, 3, 1, &io), 0);
	/* The layer retries from a timed poller when nothing else is in flight. */
	deadline = osp_get_ticks() + osp_get_ticks_hz();
	while (io.done == 0 && osp_get_ticks() < deadline) {
		ut_poll_threads();
	}
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_TRUE(io.success);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 3, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, BS), 0);
	ut_close(&d);
	ut_close(&base);
	free(w);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* queue_depth 4: only an I/O submitted with 4 or more in flight is hit. */
static void
test_queue_depth(void)
{
	struct ut_desc d;
	struct bdev_error_inject_opts o = { .io_type = OSP_BDEV_IO_TYPE_READ,
		       .error_type = BDEV_ERROR_FAILURE, .num = 1, .queue_depth = 4
	};
	struct ut_io io[4];
	uint8_t *buf = ut_buf(BS, 0);
	int i;

	setup(1);
	CU_ASSERT_EQUAL_FATAL(ut_open("EE_M0", true, 0, &d), 0);
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M0", &o), 0);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, UT_READ, buf, i, 1, &io[i]), 0);
	}
	ut_poll_threads();
	for (i = 0; i < 3; i++) {
		CU_ASSERT_TRUE(io[i].success);
	}
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, UT_READ, buf, i, 1, &io[i]), 0);
	}
	ut_poll_threads();
	CU_ASSERT_TRUE(io[0].success && io[1].success && io[2].success);
	CU_ASSERT_FALSE(io[3].success);
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_create_and_args(void)
{
	struct bdev_malloc_opts o = { .name = "M1", .num_blocks = 8, .block_size = BS };
	const cJSON *params;
	cJSON *array;
	int done = 0;

	setup(1);
	CU_ASSERT_EQUAL(bdev_error_create("M0", NULL), -EEXIST);
	CU_ASSERT_EQUAL(bdev_error_create("", NULL), -EINVAL);
	CU_ASSERT_EQUAL(inject("EE_nope", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1), -ENODEV);
	CU_ASSERT_EQUAL(inject("M0", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1), -ENODEV);
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_RESET, BDEV_ERROR_FAILURE, 1), -EINVAL);
	CU_ASSERT_EQUAL(inject("EE_M0", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_NONE, 1), -EINVAL);
	CU_ASSERT_EQUAL(bdev_error_type_from_name("corrupt_data"), BDEV_ERROR_CORRUPT_DATA);
	CU_ASSERT_EQUAL(bdev_error_type_from_name("explode"), BDEV_ERROR_NONE);

	CU_ASSERT_STRING_EQUAL(ut_config_of(osp_bdev_get_by_name("EE_M0"), &array, &params),
			       "bdev_error_create");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "base_name"), "M0");
	cJSON_Delete(array);

	/* Waiting for its base, then built. */
	CU_ASSERT_EQUAL(bdev_error_create("M1", NULL), 0);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("EE_M1"));
	CU_ASSERT_EQUAL(inject("EE_M1", OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1), -ENODEV);
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, NULL), 0);
	ut_poll_threads();
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("EE_M1"));
	/* Hot remove of the base takes EE_M1 along. */
	CU_ASSERT_EQUAL(bdev_malloc_delete("M1", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("EE_M1"));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_error",
	     CU_ADD_TEST(suite, test_failure_counts);
	     CU_ADD_TEST(suite, test_pending_and_reset);
	     CU_ADD_TEST(suite, test_pending_then_delete);
	     CU_ADD_TEST(suite, test_corrupt_data);
	     CU_ADD_TEST(suite, test_nomem_retried);
	     CU_ADD_TEST(suite, test_queue_depth);
	     CU_ADD_TEST(suite, test_create_and_args);
	    )

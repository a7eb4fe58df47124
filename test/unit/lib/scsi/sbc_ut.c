/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/scsi's SBC-3 emulation (sbc.c) over malloc and error
 * bdevs: READ/WRITE 6/10/12/16 (zero copy, transport buffers, several bdev
 * buffers, residuals), the range, protection and Block Limits checks, READ
 * CAPACITY 10/16, SYNCHRONIZE CACHE, medium errors, bdev_io exhaustion.
 */
#include "scsi_ut.h"

static const uint8_t g_rd[] = { OSP_SCSI_READ_6, OSP_SCSI_READ_10, OSP_SCSI_READ_12, OSP_SCSI_READ_16 };
static const uint8_t g_wr[] = { OSP_SCSI_WRITE_6, OSP_SCSI_WRITE_10, OSP_SCSI_WRITE_12, OSP_SCSI_WRITE_16 };

static void
setup(void)
{
	ut_setup(2, 1);
	ut_clear_ua();
}

/* Write n blocks at lba with pattern seed; returns the status. */
static int
ut_write(uint8_t op, uint64_t lba, uint32_t n, int seed)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, op, lba, n);

	ut_pattern(g_cmd->buf, lba, n, BS, seed);
	return ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, n * BS);
}

static int
ut_read(uint8_t op, uint64_t lba, uint32_t n, uint32_t xfer)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, op, lba, n);

	return ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, xfer);
}

static bool
ut_check_pattern(uint64_t lba, uint32_t n, int seed, const uint8_t *data)
{
	uint8_t *exp = malloc((size_t)n * BS);
	bool ok;

	ut_pattern(exp, lba, n, BS, seed);
	ok = memcmp(exp, data, (size_t)n * BS) == 0;
	free(exp);
	return ok;
}

static void
test_read_write(void)
{
	size_t i;

	setup();
	for (i = 0; i < OSP_COUNTOF(g_rd); i++) {
		CU_ASSERT_EQUAL(ut_write(g_wr[i], 10 * i, 4, (int)i + 1), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4 * BS);
		CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4 * BS);
		CU_ASSERT_EQUAL(ut_read(g_rd[i], 10 * i, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4 * BS);
		CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4 * BS);
		CU_ASSERT(ut_check_pattern(10 * i, 4, (int)i + 1, g_cmd->buf));
	}
	/* READ (6) with 0 blocks reads 256; READ (10) with 0 reads nothing. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_6, 0, 0, 256 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 256 * BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_16, 0, 0, 0), OSP_SCSI_STATUS_GOOD);
	/* Into the transport's buffers, split over three iovecs. */
	ut_write(OSP_SCSI_WRITE_10, 100, 8, 9);
	{
		uint8_t cdb[16];
		struct osp_scsi_task *t;
		int len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 100, 8);

		t = ut_prep(g_cmd, 0, cdb, len, OSP_SCSI_DIR_FROM_DEV, 8 * BS, true);
		t->iov_inline[0].iov_len = 1000;
		t->iov_inline[1].iov_base = g_cmd->buf + 1000;
		t->iov_inline[1].iov_len = 2000;
		t->iov_inline[2].iov_base = g_cmd->buf + 3000;
		t->iov_inline[2].iov_len = 8 * BS - 3000 + 100;	/* longer than needed */
		t->iovcnt = 3;
		t->transfer_len = 8 * BS;
		memset(g_cmd->buf, 0, 8 * BS + 100);
		ut_run_on(g_itn, 1, g_cmd);
		CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_check_pattern(100, 8, 9, g_cmd->buf));
		/* The shortened iovec is given back as it was. */
		CU_ASSERT_EQUAL(t->iov_inline[2].iov_len, 8 * BS - 3000 + 100);
		CU_ASSERT_EQUAL(g_cmd->buf[8 * BS], 0);
		ut_set_thread(1);
		osp_scsi_task_put(t);
	}
	ut_teardown();
}

static void
test_big_zero_copy_read(void)
{
	uint8_t cdb[16];
	struct osp_scsi_task *t;
	int len, i;

	ut_setup(2, 1);
	ut_clear_ua();
	/* 2048 blocks is more than the bdev: use a 4 KiB-block bdev of 1 MiB + . */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M4k",
		.num_blocks = 512, .block_size = 4096 }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL(osp_scsi_dev_add_lun(g_dev, "M4k", 1, NULL), 0);
	ut_poll_threads();
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 256);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	/* 256 x 4 KiB: eight bdev buffers of 128 KiB handed over as eight iovecs. */
	t = ut_prep(g_cmd, 1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 1 << 20, false);
	ut_run_on(g_itn, 1, g_cmd);
	CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(t->iovcnt, 8);
	CU_ASSERT_EQUAL(t->data_transferred, 1 << 20);
	for (i = 0; i < t->iovcnt; i++) {
		CU_ASSERT_EQUAL(t->iovs[i].iov_len, 128 << 10);
	}
	/* Held until put: the LUN counts the task. */
	CU_ASSERT_EQUAL(g_itn->luns[1].ntasks, 1);
	ut_set_thread(1);
	osp_scsi_task_put(t);
	CU_ASSERT_EQUAL(g_itn->luns[1].ntasks, 0);
	/* Over the Block Limits MAXIMUM TRANSFER LENGTH (256 blocks of 4 KiB). */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 257);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 257 * 4096),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT_EQUAL(ut_field() >> 8, 7);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_16, 0, 300);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_TO_DEV, 300 * 4096),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 10);
	ut_teardown();
}

static void
test_range_and_fields(void)
{
	uint8_t cdb[16];
	size_t i;
	int len;

	setup();
	for (i = 0; i < OSP_COUNTOF(g_rd); i++) {
		/* The last block is fine; one past it is not. */
		CU_ASSERT_EQUAL(ut_read(g_rd[i], NBLK - 1, 1, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(g_rd[i], NBLK - 1, 2, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		CU_ASSERT_EQUAL(ut_read(g_rd[i], NBLK, 1, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		CU_ASSERT_EQUAL(ut_write(g_wr[i], NBLK, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
		if (i == 0) {
			continue;
		}
		/* RDPROTECT / WRPROTECT: no protection information here. */
		len = ut_cdb_rw(cdb, g_rd[i], 0, 1);
		cdb[1] = 0x40;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
		len = ut_cdb_rw(cdb, g_wr[i], 0, 1);
		cdb[1] = 0x20;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
		/* DPO and FUA are fine. */
		len = ut_cdb_rw(cdb, g_rd[i], 0, 1);
		cdb[1] = 0x18;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_GOOD);
		len = ut_cdb_rw(cdb, g_wr[i], 0, 1);
		cdb[1] = 0x18;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
		/* A reserved bit of the group number byte. */
		len = ut_cdb_rw(cdb, g_rd[i], 0, 1);
		cdb[len == 10 ? 6 : len == 12 ? 10 : 14] = 0x80;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), (len == 10 ? 6 : len == 12 ? 10 : 14) << 8 | 7);
	}
	/* 64-bit LBA wrap-around. */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_16, UINT64_MAX, 2);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	/* READ with data-out, WRITE with data-in: the direction does not match. */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	ut_teardown();
}

static void
test_residuals(void)
{
	struct osp_scsi_task *t;
	uint8_t cdb[16];
	int len;

	setup();
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 4, 7), OSP_SCSI_STATUS_GOOD);
	/* Overflow: EDTL of 2 blocks for 4. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 4, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 2 * BS);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4 * BS);
	CU_ASSERT(ut_check_pattern(0, 2, 7, g_cmd->buf));
	/* Part of a block, zero copy and into the transport's buffer. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 1, 200), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 200);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_12, 0, 2);
	t = ut_prep(g_cmd, 0, cdb, len, OSP_SCSI_DIR_FROM_DEV, BS + 100, true);
	memset(g_cmd->buf, 0, 2 * BS);
	ut_run_on(g_itn, 1, g_cmd);
	CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(t->data_transferred, BS + 100);
	CU_ASSERT_EQUAL(t->iovs[0].iov_base, g_cmd->buf);
	{
		uint8_t exp[2 * BS];

		ut_pattern(exp, 0, 2, BS, 7);
		CU_ASSERT(memcmp(exp, g_cmd->buf, BS + 100) == 0);
		CU_ASSERT_EQUAL(g_cmd->buf[BS + 100], 0);
	}
	ut_set_thread(1);
	osp_scsi_task_put(t);
	/* EDTL 0: nothing moves, GOOD, the whole length is the residual. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 0, 1, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, BS);
	/* Underflow: EDTL larger than the command's data. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 1, 10000), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, BS);
	/* A write with less data-out than it needs: refused, nothing written (FCP-4 9.4.2). */
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 2);
	memset(g_cmd->buf, 'b', 2 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 2 * BS);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 4, 7, g_cmd->buf));
	/* More data-out than needed: the blocks are written, the rest is the residual. */
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	memset(g_cmd->buf, 'c', 3 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 3 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[BS - 1], 'c');
	CU_ASSERT(ut_check_pattern(1, 1, 7, g_cmd->buf + BS));
	ut_teardown();
}

static void
test_read_capacity(void)
{
	uint8_t cdb10[10] = { OSP_SCSI_READ_CAPACITY_10 };
	uint8_t cdb16[16] = { OSP_SCSI_SERVICE_ACTION_IN_16, OSP_SCSI_SAI_READ_CAPACITY_16 };
	uint8_t *b;

	setup();
	b = g_cmd->buf;
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get32(b), NBLK - 1);
	CU_ASSERT_EQUAL(osp_scsi_get32(&b[4]), BS);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	/* LBA without PMI. */
	cdb10[5] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	cdb10[8] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 8), OSP_SCSI_STATUS_GOOD);
	osp_scsi_put32(&cdb16[10], 32);
	CU_ASSERT_EQUAL(ut_cmd(cdb16, 16, OSP_SCSI_DIR_FROM_DEV, 32), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get64(b), NBLK - 1);
	CU_ASSERT_EQUAL(osp_scsi_get32(&b[8]), BS);
	CU_ASSERT_EQUAL(b[12], 0);	/* no protection */
	CU_ASSERT_EQUAL(b[14], OSP_SCSI_RC16_LBPME | OSP_SCSI_RC16_LBPRZ);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 32);
	/* Allocation length honored. */
	osp_scsi_put32(&cdb16[10], 12);
	CU_ASSERT_EQUAL(ut_cmd(cdb16, 16, OSP_SCSI_DIR_FROM_DEV, 32), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 12);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 12);
	/* Without unmap, no LBPME. */
	g_m0->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_UNMAP);
	osp_scsi_put32(&cdb16[10], 32);
	CU_ASSERT_EQUAL(ut_cmd(cdb16, 16, OSP_SCSI_DIR_FROM_DEV, 32), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(b[14], 0);
	g_m0->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_UNMAP;
	ut_teardown();
}

static void
test_sync_cache(void)
{
	uint8_t cdb[16] = { OSP_SCSI_SYNCHRONIZE_CACHE_10 };
	struct osp_bdev_io_stat st0, st1;

	setup();
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	cdb[1] = 0x02;		/* IMMED */
	osp_scsi_put32(&cdb[2], 10);
	osp_scsi_put16(&cdb[7], 5);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	osp_scsi_put32(&cdb[2], NBLK);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = OSP_SCSI_SYNCHRONIZE_CACHE_16;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	/* With a write cache it flushes; FUA writes flush too. */
	g_m0->write_cache = true;
	ut_set_thread(1);
	osp_bdev_get_io_stat(g_m0, g_itn->luns[0].ch, &st0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	ut_set_thread(1);
	osp_bdev_get_io_stat(g_m0, g_itn->luns[0].ch, &st1);
	CU_ASSERT_EQUAL(st1.num_other_ops, st0.num_other_ops + 1);
	/* WCE is still 0 in this nexus's copy (the LUN started without a cache): flush. */
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 1, 1), OSP_SCSI_STATUS_GOOD);
	ut_set_thread(1);
	osp_bdev_get_io_stat(g_m0, g_itn->luns[0].ch, &st0);
	CU_ASSERT_EQUAL(st0.num_other_ops, st1.num_other_ops + 1);
	g_itn->luns[0].mode.caching.flags2 |= OSP_SCSI_CACHING_WCE;
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 1, 1), OSP_SCSI_STATUS_GOOD);
	ut_set_thread(1);
	osp_bdev_get_io_stat(g_m0, g_itn->luns[0].ch, &st1);
	CU_ASSERT_EQUAL(st1.num_other_ops, st0.num_other_ops);
	{
		uint8_t w[16];
		int len = ut_cdb_rw(w, OSP_SCSI_WRITE_16, 0, 1);

		w[1] = 0x08;	/* FUA */
		CU_ASSERT_EQUAL(ut_cmd(w, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	}
	ut_set_thread(1);
	osp_bdev_get_io_stat(g_m0, g_itn->luns[0].ch, &st0);
	CU_ASSERT_EQUAL(st0.num_other_ops, st1.num_other_ops + 1);
	g_m0->write_cache = false;
	ut_teardown();
}

/* An error bdev over a second malloc bdev: LUN 1 over EE_M2. */
static void
ut_add_error_lun(void)
{
	ut_set_thread(0);
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&(struct bdev_malloc_opts){ .name = "M2",
		.num_blocks = NBLK, .block_size = BS }, &(struct osp_bdev *){ NULL }), 0);
	CU_ASSERT_EQUAL_FATAL(bdev_error_create("M2", NULL), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL_FATAL(osp_scsi_dev_add_lun(g_dev, "EE_M2", 1, NULL), 0);
	ut_poll_threads();
}

static void
ut_inject(int io_type, enum bdev_error_type type, uint32_t num)
{
	struct bdev_error_inject_opts o = { .io_type = io_type, .error_type = type, .num = num };

	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_error_inject("EE_M2", &o), 0);
}

static void
test_medium_errors(void)
{
	uint8_t cdb[16];
	int len;

	ut_setup(2, 1);
	ut_add_error_lun();
	ut_clear_ua();
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 4);
	while (ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 4 * BS) == OSP_SCSI_STATUS_CHECK_CONDITION &&
	       ut_sk() == OSP_SCSI_SK_UNIT_ATTENTION) {
	}
	ut_inject(OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 4 * BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_MEDIUM_ERROR, OSP_SCSI_ASC_UNRECOVERED_READ_ERROR);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(g_itn->luns[1].ntasks, 0);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 4 * BS), OSP_SCSI_STATUS_GOOD);
	/* A big read, one of whose pieces fails. */
	ut_inject(OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_16, 0, 600);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 600 * BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_MEDIUM_ERROR, OSP_SCSI_ASC_UNRECOVERED_READ_ERROR);
	CU_ASSERT_EQUAL(g_itn->luns[1].ntasks, 0);
	/* Read into the transport's buffer. */
	ut_inject(OSP_BDEV_IO_TYPE_READ, BDEV_ERROR_FAILURE, 1);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);
	ut_prep(g_cmd, 1, cdb, len, OSP_SCSI_DIR_FROM_DEV, BS, true);
	ut_run_on(g_itn, 1, g_cmd);
	CHECK_SENSE(OSP_SCSI_SK_MEDIUM_ERROR, OSP_SCSI_ASC_UNRECOVERED_READ_ERROR);
	ut_set_thread(1);
	osp_scsi_task_put(&g_cmd->task);
	/* Writes: WRITE ERROR. */
	ut_inject(OSP_BDEV_IO_TYPE_WRITE, BDEV_ERROR_FAILURE, 1);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_MEDIUM_ERROR, OSP_SCSI_ASC_WRITE_ERROR);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	ut_teardown();
}

/* No bdev_io left: the commands wait for one and then run (no failure, no allocation). */
static void
test_bdev_io_exhaustion(void)
{
	struct osp_bdev_opts o, saved;
	static struct ut_cmd cmds[3];
	struct ut_io fill[64];
	struct ut_desc d;
	uint8_t cdb[16], *buf = ut_buf(64 * BS, 0);
	int total = 0, len, rc, i;

	osp_bdev_get_opts(&saved, sizeof(saved));
	o = saved;
	o.bdev_io_pool_size = 8;
	o.bdev_io_cache_size = 2;
	CU_ASSERT_EQUAL_FATAL(osp_bdev_set_opts(&o), 0);
	ut_setup(2, 1);
	ut_clear_ua();
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 1, &d), 0);
	ut_set_thread(1);
	for (total = 0; total < 64; total++) {
		rc = ut_submit(&d, UT_READ, buf + total * BS, 0, 1, &fill[total]);
		if (rc != 0) {
			CU_ASSERT_EQUAL(rc, -ENOMEM);
			break;
		}
	}
	CU_ASSERT_FATAL(total > 0 && total < 64);
	/* A multi-piece zero-copy read, a write and a read into buffers, all waiting. */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_16, 0, 600);
	ut_prep(&cmds[0], 0, cdb, len, OSP_SCSI_DIR_FROM_DEV, 600 * BS, false);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 5, 1);
	ut_prep(&cmds[1], 0, cdb, len, OSP_SCSI_DIR_TO_DEV, BS, false);
	memset(cmds[1].buf, 0x5a, BS);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 5, 1);
	ut_prep(&cmds[2], 0, cdb, len, OSP_SCSI_DIR_FROM_DEV, BS, true);
	for (i = 0; i < 3; i++) {
		osp_scsi_itn_execute(g_itn, &cmds[i].task);
		CU_ASSERT_EQUAL(cmds[i].done, 0);
	}
	CU_ASSERT(cmds[0].task.state & SCSI_TASK_IOWAIT);
	ut_poll_threads();
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(cmds[i].done, 1);
		CU_ASSERT_EQUAL(cmds[i].task.status, OSP_SCSI_STATUS_GOOD);
	}
	CU_ASSERT_EQUAL(cmds[0].task.data_transferred, 600 * BS);
	CU_ASSERT_EQUAL(cmds[0].task.iovcnt, 3);
	CU_ASSERT_EQUAL(cmds[2].buf[0], 0x5a);
	ut_set_thread(1);
	for (i = 0; i < 3; i++) {
		osp_scsi_task_put(&cmds[i].task);
	}
	for (i = 0; i < total; i++) {
		CU_ASSERT_EQUAL(fill[i].done, 1);
	}
	ut_close(&d);
	ut_teardown();
	CU_ASSERT_EQUAL(osp_bdev_set_opts(&saved), 0);
	free(buf);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("scsi_sbc", NULL, NULL);
	CU_ADD_TEST(suite, test_read_write);
	CU_ADD_TEST(suite, test_big_zero_copy_read);
	CU_ADD_TEST(suite, test_range_and_fields);
	CU_ADD_TEST(suite, test_residuals);
	CU_ADD_TEST(suite, test_read_capacity);
	CU_ADD_TEST(suite, test_sync_cache);
	CU_ADD_TEST(suite, test_medium_errors);
	CU_ADD_TEST(suite, test_bdev_io_exhaustion);
	return ut_run_suites();
}

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
	/* A 4 KiB-block bdev of 2 MiB. */
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
	/* 512 x 4 KiB: more pieces than the task holds, their iovecs in an emulation buffer. */
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_16, 0, 512);
	t = ut_prep(g_cmd, 1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 2 << 20, false);
	ut_run_on(g_itn, 1, g_cmd);
	CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(t->iovcnt, 16);
	CU_ASSERT_PTR_NOT_EQUAL(t->iovs, t->iov_inline);
	CU_ASSERT_EQUAL(osp_iov_len(t->iovs, t->iovcnt), 2 << 20);
	CU_ASSERT_EQUAL(g_itn->nebuf_free, 0);
	ut_set_thread(1);
	osp_scsi_task_put(t);
	CU_ASSERT_EQUAL(g_itn->luns[1].ntasks, 0);
	CU_ASSERT_EQUAL(g_itn->nebuf_free, g_itn->nebuf);
	/* Over the Block Limits MAXIMUM TRANSFER LENGTH (32 MiB: 8192 blocks of 4 KiB). */
	g_itn->luns[1].num_blocks = 1 << 20;
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_16, 0, 8193);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_FROM_DEV, 8193 * 4096),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT_EQUAL(ut_field() >> 8, 10);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_12, 0, 9000);
	CU_ASSERT_EQUAL(ut_cmd_lun(1, cdb, len, OSP_SCSI_DIR_TO_DEV, 4096),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 6);
	g_itn->luns[1].num_blocks = 512;
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
	/*
	 * READ sent with data-out, WRITE with data-in: the direction does not
	 * match, so no data moves; GOOD with the whole length as residual.
	 */
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 1, 2), OSP_SCSI_STATUS_GOOD);
	len = ut_cdb_rw(cdb, OSP_SCSI_READ_10, 0, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, BS);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 1);
	memset(g_cmd->buf, 0x99, BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_FROM_DEV, BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 1, BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 1, 2, g_cmd->buf));
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
	/*
	 * A write with less data-out than it needs: a partial block is refused
	 * and nothing is written (FCP-4 9.4.2 b); whole blocks are written and
	 * the rest is the overflow residual (9.4.2 a); none at all is GOOD.
	 */
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 2);
	memset(g_cmd->buf, 'b', 2 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 200), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 2 * BS);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 4, 7, g_cmd->buf));
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 0, 2);
	memset(g_cmd->buf, 'b', 2 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, BS);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 2 * BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[BS - 1], 'b');
	CU_ASSERT(ut_check_pattern(1, 1, 7, g_cmd->buf + BS));
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

static int
ut_cdb_verify(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n, uint8_t bytchk)
{
	int len = ut_cdb_rw(cdb, op, lba, n);

	cdb[1] |= (uint8_t)(bytchk << 1);
	return len;
}

static void
test_verify(void)
{
	static const uint8_t ops[] = { OSP_SCSI_VERIFY_10, OSP_SCSI_VERIFY_12, OSP_SCSI_VERIFY_16 };
	uint8_t cdb[16];
	size_t i;
	int len;

	setup();
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 20, 8, 3), OSP_SCSI_STATUS_GOOD);
	for (i = 0; i < OSP_COUNTOF(ops); i++) {
		/* BYTCHK 0: the medium is read, nothing is transferred. */
		len = ut_cdb_verify(cdb, ops[i], 20, 8, 0);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 0);
		/* BYTCHK 1: equal data. */
		len = ut_cdb_verify(cdb, ops[i], 20, 8, 1);
		ut_pattern(g_cmd->buf, 20, 8, BS, 3);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 8 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8 * BS);
		/* A difference at byte 3 * BS + 17: MISCOMPARE with the offset in INFORMATION. */
		ut_pattern(g_cmd->buf, 20, 8, BS, 3);
		g_cmd->buf[3 * BS + 17] ^= 0xff;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 8 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_MISCOMPARE, OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY);
		CU_ASSERT(g_cmd->task.sense[0] & 0x80);
		CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->task.sense[3]), 3 * BS + 17);
		/* The same data with BYTCHK 0 passes (no comparison). */
		len = ut_cdb_verify(cdb, ops[i], 20, 8, 0);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
		/* Out of range, VRPROTECT, BYTCHK 10b/11b, too little data-out, zero blocks. */
		len = ut_cdb_verify(cdb, ops[i], NBLK - 1, 2, 0);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		len = ut_cdb_verify(cdb, ops[i], 0, 1, 0);
		cdb[1] |= 0x20;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
		len = ut_cdb_verify(cdb, ops[i], 0, 1, 3);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 2);
		len = ut_cdb_verify(cdb, ops[i], 0, 2, 1);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		len = ut_cdb_verify(cdb, ops[i], 0, 0, 1);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
		/* DPO is fine. */
		len = ut_cdb_verify(cdb, ops[i], 20, 1, 0);
		cdb[1] |= 0x10;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	}
	ut_teardown();
}

static void
test_write_verify(void)
{
	static const uint8_t ops[] = { OSP_SCSI_WRITE_AND_VERIFY_10, OSP_SCSI_WRITE_AND_VERIFY_12,
				       OSP_SCSI_WRITE_AND_VERIFY_16 };
	uint8_t cdb[16];
	size_t i;
	int len;

	setup();
	g_m0->write_cache = true;
	for (i = 0; i < OSP_COUNTOF(ops); i++) {
		len = ut_cdb_verify(cdb, ops[i], 40, 4, (uint8_t)(i & 1));
		ut_pattern(g_cmd->buf, 40, 4, BS, 11 + (int)i);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 4 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4 * BS);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 40, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_check_pattern(40, 4, 11 + (int)i, g_cmd->buf));
		len = ut_cdb_verify(cdb, ops[i], NBLK, 1, 0);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		len = ut_cdb_verify(cdb, ops[i], 0, 1, 0);
		cdb[1] |= 0x40;
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
		len = ut_cdb_verify(cdb, ops[i], 0, 0, 0);
		CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	}
	g_m0->write_cache = false;
	ut_teardown();
}

static void
test_orwrite(void)
{
	uint8_t cdb[16];
	int len, i;

	setup();
	memset(g_cmd->buf, 0x0f, 2 * BS);
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_10, 50, 2);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 2 * BS), OSP_SCSI_STATUS_GOOD);
	len = ut_cdb_rw(cdb, OSP_SCSI_ORWRITE_16, 50, 2);
	memset(g_cmd->buf, 0x30, 2 * BS);
	g_cmd->buf[BS + 1] = 0xc0;
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 2 * BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 50, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	for (i = 0; i < 2 * BS; i++) {
		if (g_cmd->buf[i] != (i == BS + 1 ? 0xcf : 0x3f)) {
			CU_FAIL("ORWRITE data");
			break;
		}
	}
	len = ut_cdb_rw(cdb, OSP_SCSI_ORWRITE_16, NBLK, 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	len = ut_cdb_rw(cdb, OSP_SCSI_ORWRITE_16, 0, 1);
	cdb[1] = 0x20;
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
	len = ut_cdb_rw(cdb, OSP_SCSI_ORWRITE_16, 0, 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	ut_teardown();
}

static void
test_prefetch(void)
{
	uint8_t cdb[16];
	int len;

	setup();
	len = ut_cdb_rw(cdb, OSP_SCSI_PRE_FETCH_10, 0, 10);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	cdb[1] = 0x02;	/* IMMED */
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	len = ut_cdb_rw(cdb, OSP_SCSI_PRE_FETCH_16, NBLK - 1, 2);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	len = ut_cdb_rw(cdb, OSP_SCSI_PRE_FETCH_16, 0, 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	cdb[1] = 0x01;	/* reserved */
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 0);
	ut_teardown();
}

static void
test_compare_and_write(void)
{
	uint8_t cdb[16];
	struct osp_scsi_task *t;
	int len;

	setup();
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 60, 2, 21), OSP_SCSI_STATUS_GOOD);
	len = ut_cdb_rw(cdb, OSP_SCSI_COMPARE_AND_WRITE, 60, 0);
	cdb[13] = 2;
	/* Equal: the second half is written. Data in several iovecs, split mid-block. */
	t = ut_prep(g_cmd, 0, cdb, len, OSP_SCSI_DIR_TO_DEV, 4 * BS, true);
	ut_pattern(g_cmd->buf, 60, 2, BS, 21);
	ut_pattern(g_cmd->buf + 2 * BS, 60, 2, BS, 22);
	t->iov_inline[0].iov_len = BS + 7;
	t->iov_inline[1].iov_base = g_cmd->buf + BS + 7;
	t->iov_inline[1].iov_len = 3 * BS - 7;
	t->iovcnt = 2;
	ut_run_on(g_itn, 1, g_cmd);
	CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(t->data_transferred, 4 * BS);
	ut_set_thread(1);
	osp_scsi_task_put(t);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 60, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(60, 2, 22, g_cmd->buf));
	/* Different at byte BS + 5 of the verify half: MISCOMPARE, offset, nothing written. */
	ut_pattern(g_cmd->buf, 60, 2, BS, 22);
	g_cmd->buf[BS + 5] ^= 1;
	memset(g_cmd->buf + 2 * BS, 0, 2 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 4 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_MISCOMPARE, OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->task.sense[3]), BS + 5);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 60, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(60, 2, 22, g_cmd->buf));
	/* Data-out of the wrong size; too many blocks; out of range; WRPROTECT; 0 blocks. */
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	CU_ASSERT_EQUAL(g_cmd->task.data_wanted, 4 * BS);
	/* Longer than both halves (the count says less than was sent): refused, nothing written. */
	ut_pattern(g_cmd->buf, 60, 2, BS, 22);
	memset(g_cmd->buf + 2 * BS, 0, 4 * BS);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 6 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 60, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(60, 2, 22, g_cmd->buf));
	cdb[13] = 0;
	osp_scsi_put32(&cdb[10], 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	/* 0 blocks with data-out (256 wrapped in the one-byte count): refused. */
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 512 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 13);
	len = ut_cdb_rw(cdb, OSP_SCSI_COMPARE_AND_WRITE, NBLK - 1, 0);
	cdb[13] = 2;
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 4 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	len = ut_cdb_rw(cdb, OSP_SCSI_COMPARE_AND_WRITE, 0, 0);
	cdb[1] = 0x20;
	cdb[13] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
	/* A reserved byte (10-12). */
	cdb[1] = 0;
	cdb[11] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb, len, OSP_SCSI_DIR_TO_DEV, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 11 << 8 | 0);
	ut_teardown();
}

static int
ut_unmap(const uint64_t *lba, const uint32_t *n, int cnt, uint32_t plen_override)
{
	uint8_t cdb[10] = { OSP_SCSI_UNMAP };
	uint8_t *p = g_cmd->buf;
	uint32_t plen = 8 + 16 * (uint32_t)cnt;
	int i;

	memset(p, 0, plen);
	osp_scsi_put16(&p[0], (uint16_t)(plen - 2));
	osp_scsi_put16(&p[2], (uint16_t)(16 * cnt));
	for (i = 0; i < cnt; i++) {
		osp_scsi_put64(&p[8 + 16 * i], lba[i]);
		osp_scsi_put32(&p[8 + 16 * i + 8], n[i]);
	}
	if (plen_override != 0) {
		plen = plen_override;
	}
	osp_scsi_put16(&cdb[7], (uint16_t)plen);
	return ut_cmd(cdb, 10, plen ? OSP_SCSI_DIR_TO_DEV : OSP_SCSI_DIR_NONE, plen);
}

static bool
ut_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

static void
test_unmap(void)
{
	uint64_t lba[SCSI_MAX_UNMAP_DESC + 1];
	uint32_t n[SCSI_MAX_UNMAP_DESC + 1];
	uint8_t cdb[10] = { OSP_SCSI_UNMAP };
	int i;

	setup();
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 16, 5), OSP_SCSI_STATUS_GOOD);
	/* Three descriptors, one of them empty. */
	lba[0] = 1; n[0] = 2;
	lba[1] = 8; n[1] = 0;
	lba[2] = 10; n[2] = 3;
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 3, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 16, 16 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 1, 5, g_cmd->buf));
	CU_ASSERT(ut_zero(g_cmd->buf + BS, 2 * BS));
	CU_ASSERT(ut_check_pattern(3, 7, 5, g_cmd->buf + 3 * BS));
	CU_ASSERT(ut_zero(g_cmd->buf + 10 * BS, 3 * BS));
	CU_ASSERT(ut_check_pattern(13, 3, 5, g_cmd->buf + 13 * BS));
	/* Every descriptor Block Limits allows. */
	for (i = 0; i < SCSI_MAX_UNMAP_DESC; i++) {
		lba[i] = (uint64_t)i;
		n[i] = 1;
	}
	CU_ASSERT_EQUAL(ut_unmap(lba, n, SCSI_MAX_UNMAP_DESC, 0), OSP_SCSI_STATUS_GOOD);
	/* One more is refused. */
	lba[SCSI_MAX_UNMAP_DESC] = 0;
	n[SCSI_MAX_UNMAP_DESC] = 1;
	CU_ASSERT_EQUAL(ut_unmap(lba, n, SCSI_MAX_UNMAP_DESC + 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	/* A range past the end: nothing is unmapped, not even the good descriptor before it. */
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 0, 1, 6), OSP_SCSI_STATUS_GOOD);
	lba[0] = 0; n[0] = 1;
	lba[1] = NBLK - 1; n[1] = 2;
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 2, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 0, 1, BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 1, 6, g_cmd->buf));
	/* A count over MAXIMUM UNMAP LBA COUNT (on a big enough LUN it would fit). */
	g_itn->luns[0].num_blocks = 1ull << 32;
	lba[0] = 0; n[0] = SCSI_MAX_UNMAP_BLOCKS + 1;
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	CU_ASSERT_EQUAL(ut_field() >> 8, 16);
	g_itn->luns[0].num_blocks = NBLK;
	/* Lengths: 0 is a no-op, 1-7 an error, a header that disagrees an error. */
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 0, 0), OSP_SCSI_STATUS_GOOD);
	osp_scsi_put16(&cdb[7], 0);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_NONE, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 1, 6), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	lba[0] = 0; n[0] = 1;
	memset(g_cmd->buf, 0, 24);
	osp_scsi_put16(&g_cmd->buf[2], 32);	/* more descriptors than sent */
	osp_scsi_put16(&cdb[7], 24);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_TO_DEV, 24), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* ANCHOR; data-out shorter than the list. */
	cdb[1] = 0x01;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_TO_DEV, 24), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 0);
	cdb[1] = 0;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 10, OSP_SCSI_DIR_TO_DEV, 10), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	/* Without unmap in the bdev the command does not exist (LBPU 0). */
	g_m0->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_UNMAP);
	CU_ASSERT_EQUAL(ut_unmap(lba, n, 1, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_COMMAND_OPCODE);
	g_m0->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_UNMAP;
	ut_teardown();
}

static int
ut_write_same(uint8_t op, uint64_t lba, uint32_t n, uint8_t flags, uint32_t xfer)
{
	uint8_t cdb[16];
	int len = ut_cdb_rw(cdb, op, lba, n);

	cdb[1] = flags;
	return ut_cmd(cdb, len, xfer ? OSP_SCSI_DIR_TO_DEV : OSP_SCSI_DIR_NONE, xfer);
}

static void
test_write_same(void)
{
	static const uint8_t ops[] = { OSP_SCSI_WRITE_SAME_10, OSP_SCSI_WRITE_SAME_16 };
	struct osp_scsi_task *t;
	uint8_t cdb[16];
	size_t i;
	int j, len;

	setup();
	for (i = 0; i < OSP_COUNTOF(ops); i++) {
		/* A pattern block repeated over 600 blocks (several writes of up to 512). */
		memset(g_cmd->buf, 0xa0 + (int)i, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 100, 600, 0, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->task.data_transferred, BS);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 99, 602, 602 * BS), OSP_SCSI_STATUS_GOOD);
		for (j = BS; j < 601 * BS; j++) {
			if (g_cmd->buf[j] != 0xa0 + (int)i) {
				CU_FAIL("WRITE SAME data");
				break;
			}
		}
		/* Zeroes, with UNMAP: the blocks are unmapped and read back as zeroes. */
		memset(g_cmd->buf, 0, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 100, 10, 0x08, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 100, 11, 11 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_zero(g_cmd->buf, 10 * BS));
		CU_ASSERT_EQUAL(g_cmd->buf[10 * BS], 0xa0 + (int)i);
		/* Non-zero data with UNMAP: unmapped all the same (reads zeroes, LBPRZ). */
		memset(g_cmd->buf, 0x11, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 100, 2, 0, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 100, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(g_cmd->buf[2 * BS - 1], 0x11);
		memset(g_cmd->buf, 0x11, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 100, 2, 0x08, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 100, 2, 2 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_zero(g_cmd->buf, 2 * BS));
		/* Zero blocks (WSNZ 0): from the LBA to the last block. */
		memset(g_cmd->buf, 0x5a, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], NBLK - 3, 0, 0, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, NBLK - 4, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_NOT_EQUAL(g_cmd->buf[BS - 1], 0x5a);
		CU_ASSERT_EQUAL(g_cmd->buf[BS], 0x5a);
		CU_ASSERT_EQUAL(g_cmd->buf[4 * BS - 1], 0x5a);
		memset(g_cmd->buf, 0, BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], NBLK - 3, 0, 0x08, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, NBLK - 3, 3, 3 * BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_zero(g_cmd->buf, 3 * BS));
		/* ... but not from past the last block. */
		CU_ASSERT_EQUAL(ut_write_same(ops[i], NBLK, 0, 0, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], NBLK + 1, 0, 0, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		/* Data-out longer than the block: refused, nothing written. */
		memset(g_cmd->buf, 0x66, 2 * BS);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 100, 1, 0, 2 * BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 100, 1, BS), OSP_SCSI_STATUS_GOOD);
		CU_ASSERT(ut_zero(g_cmd->buf, BS));
		/* ANCHOR, range, WRPROTECT, short data-out. */
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 0, 1, 0x10, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 4);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], NBLK - 1, 2, 0, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 0, 1, 0x20, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
		CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
		CU_ASSERT_EQUAL(ut_write_same(ops[i], 0, 1, 0, BS - 1), OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	}
	/* NDOB (16 only): zeroes without data-out; NDOB in WRITE SAME (10) is a reserved bit. */
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_10, 200, 4, 8), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_write_same(OSP_SCSI_WRITE_SAME_16, 200, 3, 0x09, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_write_same(OSP_SCSI_WRITE_SAME_16, 203, 1, 0x01, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 200, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_zero(g_cmd->buf, 4 * BS));
	CU_ASSERT_EQUAL(ut_write_same(OSP_SCSI_WRITE_SAME_10, 200, 3, 0x01, BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 0);
	/* More blocks than the Block Limits WRITE SAME limit. */
	g_itn->luns[0].num_blocks = 1ull << 32;
	CU_ASSERT_EQUAL(ut_write_same(OSP_SCSI_WRITE_SAME_16, 0, SCSI_MAX_WRITE_SAME_BLOCKS + 1, 0, BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 10);
	g_itn->luns[0].num_blocks = NBLK;
	/* The block in pieces over several iovecs. */
	len = ut_cdb_rw(cdb, OSP_SCSI_WRITE_SAME_10, 300, 5);
	t = ut_prep(g_cmd, 0, cdb, len, OSP_SCSI_DIR_TO_DEV, BS, true);
	memset(g_cmd->buf, 0x77, BS);
	t->iov_inline[0].iov_len = 100;
	t->iov_inline[1].iov_base = g_cmd->buf + 100;
	t->iov_inline[1].iov_len = BS - 100;
	t->iovcnt = 2;
	ut_run_on(g_itn, 1, g_cmd);
	CU_ASSERT_EQUAL(t->status, OSP_SCSI_STATUS_GOOD);
	ut_set_thread(1);
	osp_scsi_task_put(t);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_10, 300, 5, 5 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[5 * BS - 1], 0x77);
	CU_ASSERT_EQUAL(g_cmd->buf[0], 0x77);
	/* UNMAP without unmap support is a field error (LBPWS 0). */
	g_m0->internal->supported_types &= ~(1u << OSP_BDEV_IO_TYPE_UNMAP);
	memset(g_cmd->buf, 0, BS);
	CU_ASSERT_EQUAL(ut_write_same(OSP_SCSI_WRITE_SAME_16, 0, 1, 0x08, BS),
			OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 3);
	g_m0->internal->supported_types |= 1u << OSP_BDEV_IO_TYPE_UNMAP;
	ut_teardown();
}

static void
test_get_lba_status(void)
{
	uint8_t cdb[16] = { OSP_SCSI_SERVICE_ACTION_IN_16, OSP_SCSI_SAI_GET_LBA_STATUS };

	setup();
	osp_scsi_put64(&cdb[2], 100);
	osp_scsi_put32(&cdb[10], 24);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_FROM_DEV, 24), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 24);
	CU_ASSERT_EQUAL(osp_scsi_get32(g_cmd->buf), 20);
	CU_ASSERT_EQUAL(osp_scsi_get64(&g_cmd->buf[8]), 100);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[16]), NBLK - 100);
	CU_ASSERT_EQUAL(g_cmd->buf[20] & 0x0f, 0);
	osp_scsi_put64(&cdb[2], NBLK);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_FROM_DEV, 24), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	osp_scsi_put64(&cdb[2], 0);
	osp_scsi_put32(&cdb[10], 8);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_FROM_DEV, 24), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	ut_teardown();
}

static int
ut_write_atomic(uint64_t lba, uint32_t n, uint32_t xfer, int seed)
{
	uint8_t cdb[16] = { OSP_SCSI_WRITE_ATOMIC_16 };

	osp_scsi_put64(&cdb[2], lba);
	osp_scsi_put16(&cdb[12], (uint16_t)n);
	ut_pattern(g_cmd->buf, lba, n, BS, seed);
	return ut_cmd(cdb, 16, xfer ? OSP_SCSI_DIR_TO_DEV : OSP_SCSI_DIR_NONE, xfer);
}

static void
test_write_atomic(void)
{
	uint32_t max = scsi_max_atomic_blocks(g_m0, BS);
	uint8_t cdb[16] = { OSP_SCSI_WRITE_ATOMIC_16 };

	setup();
	CU_ASSERT_EQUAL(max, (128u << 10) / BS);
	/* Up to MAXIMUM ATOMIC TRANSFER LENGTH, in one bdev write. */
	CU_ASSERT_EQUAL(ut_write_atomic(10, max, max * BS, 31), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, max * BS);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 10, max, max * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(10, max, 31, g_cmd->buf));
	CU_ASSERT_EQUAL(ut_write_atomic(NBLK - 1, 1, BS, 32), OSP_SCSI_STATUS_GOOD);
	/* 0 blocks: nothing; past the end (even with 0 blocks): LBA OUT OF RANGE. */
	CU_ASSERT_EQUAL(ut_write_atomic(0, 0, 0, 0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_write_atomic(NBLK + 1, 0, 0, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	CU_ASSERT_EQUAL(ut_write_atomic(NBLK - 1, 2, 2 * BS, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
	/* Over the atomic limit: INVALID FIELD IN CDB at TRANSFER LENGTH. */
	CU_ASSERT_EQUAL(ut_write_atomic(0, max + 1, (max + 1) * BS, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 12);
	/* A short data-out is not written in part. */
	CU_ASSERT_EQUAL(ut_write_atomic(10, 4, 2 * BS, 33), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 10, 4, 4 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(10, 4, 31, g_cmd->buf));
	/* ATOMIC BOUNDARY (not supported), WRPROTECT, the group number's reserved bits. */
	osp_scsi_put16(&cdb[10], 1);
	osp_scsi_put16(&cdb[12], 1);
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 10);
	osp_scsi_put16(&cdb[10], 0);
	cdb[1] = 0x20;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 7);
	cdb[1] = 0x18;	/* DPO, FUA: fine */
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_GOOD);
	cdb[14] = 0x20;
	CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_TO_DEV, BS), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 14 << 8 | 5);
	/* A split boundary in the bdev: the limit and the alignment follow it. */
	g_m0->optimal_io_boundary = 8;
	CU_ASSERT_EQUAL(scsi_max_atomic_blocks(g_m0, BS), 8);
	CU_ASSERT_EQUAL(ut_write_atomic(3, 1, BS, 0), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 2);
	CU_ASSERT_EQUAL(ut_write_atomic(8, 8, 8 * BS, 0), OSP_SCSI_STATUS_GOOD);
	g_m0->optimal_io_boundary = 0;
	ut_teardown();
}

/* An EXTENDED COPY parameter list: ncscd identification CSCDs of LUN 0, segments of n blocks. */
static uint32_t
ut_xcopy_list(uint8_t *p, uint8_t list_id, uint8_t usage, int ncscd, int nseg, uint16_t n,
	      uint64_t src, uint64_t dst)
{
	uint8_t naa[16];
	uint32_t off = 16;
	int i;

	scsi_lun_naa(g_m0, naa);
	memset(p, 0, 16 + 32 * ncscd + 28 * nseg);
	p[0] = list_id;
	p[1] = (uint8_t)(usage << 3);
	osp_scsi_put16(&p[2], (uint16_t)(32 * ncscd));
	osp_scsi_put32(&p[8], (uint32_t)(28 * nseg));
	for (i = 0; i < ncscd; i++, off += 32) {
		p[off] = 0xe4;
		p[off + 4] = 0x01;		/* binary */
		p[off + 5] = 0x03;		/* LU, NAA */
		p[off + 7] = 16;
		memcpy(&p[off + 8], naa, 16);
		osp_scsi_put24(&p[off + 29], BS);
	}
	for (i = 0; i < nseg; i++, off += 28) {
		p[off] = 0x02;
		osp_scsi_put16(&p[off + 2], 0x18);
		osp_scsi_put16(&p[off + 10], n);
		osp_scsi_put64(&p[off + 12], src + (uint64_t)i * n);
		osp_scsi_put64(&p[off + 20], dst + (uint64_t)i * n);
	}
	return off;
}

static int
ut_xcopy(uint32_t plen)
{
	uint8_t cdb[16] = { OSP_SCSI_EXTENDED_COPY };

	osp_scsi_put32(&cdb[10], plen);
	return ut_cmd(cdb, 16, plen ? OSP_SCSI_DIR_TO_DEV : OSP_SCSI_DIR_NONE, plen);
}

static int
ut_rcr(uint8_t sa, uint8_t list_id, uint32_t alloc)
{
	uint8_t cdb[16] = { OSP_SCSI_RECEIVE_COPY_RESULTS, sa, list_id };

	osp_scsi_put32(&cdb[10], alloc);
	return ut_cmd(cdb, 16, OSP_SCSI_DIR_FROM_DEV, alloc);
}

static void
test_extended_copy(void)
{
	uint8_t *p = malloc(4096);
	uint32_t plen;

	setup();
	/* Operating parameters: the limits the checks below enforce. */
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_OPERATING_PARAMS, 0, 255), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 46);
	CU_ASSERT_EQUAL(osp_scsi_get16(&g_cmd->buf[8]), SCSI_XCOPY_MAX_CSCD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&g_cmd->buf[10]), SCSI_XCOPY_MAX_SEGS);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[12]), SCSI_XCOPY_MAX_LIST);
	CU_ASSERT_EQUAL(g_cmd->buf[43], 2);
	CU_ASSERT_EQUAL(g_cmd->buf[44], 0x02);
	CU_ASSERT_EQUAL(g_cmd->buf[45], 0xe4);
	/* No copy held for list 7 yet. */
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_COPY_STATUS, 7, 12), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 2 << 8 | 8);
	/* One segment of 400 blocks (copied in two pieces), 0..399 -> 600..999. */
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_16, 0, 424, 41), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_write(OSP_SCSI_WRITE_16, 424, 600, 42), OSP_SCSI_STATUS_GOOD);
	plen = ut_xcopy_list(p, 7, 0, 1, 1, 400, 0, 600);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 600, 400, 400 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 400, 41, g_cmd->buf));
	/* Around the destination: untouched. */
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 424, 176, 176 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(424, 176, 42, g_cmd->buf));
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 1000, 24, 24 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(1000, 24, 42, g_cmd->buf));
	/* Its status is held (LIST ID USAGE 00b), once. */
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_COPY_STATUS, 7, 12), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->buf[4], 0x01);
	CU_ASSERT_EQUAL(osp_scsi_get16(&g_cmd->buf[5]), 1);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[8]), 400 * BS);
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_COPY_STATUS, 7, 12), OSP_SCSI_STATUS_CHECK_CONDITION);
	/* Two segments, one after the other: 0..4 -> 1000..1004, 5..9 -> 1005..1009. */
	plen = ut_xcopy_list(p, 9, 0, 2, 2, 5, 0, 1000);
	osp_scsi_put16(&p[16 + 64 + 28 + 6], 1);	/* second segment: to CSCD 1 (the same LU) */
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_read(OSP_SCSI_READ_16, 1000, 10, 10 * BS), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_check_pattern(0, 10, 41, g_cmd->buf));
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_COPY_STATUS, 9, 12), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(osp_scsi_get16(&g_cmd->buf[5]), 2);
	/* LIST ID USAGE 10b: nothing held. */
	plen = ut_xcopy_list(p, 8, 2, 1, 1, 1, 0, 1);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_rcr(OSP_SCSI_RCR_COPY_STATUS, 8, 12), OSP_SCSI_STATUS_CHECK_CONDITION);
	/* No parameter list: nothing to do. Shorter than the header; a truncated list. */
	CU_ASSERT_EQUAL(ut_xcopy(0), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(ut_xcopy(8), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 1, 0, 1);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen - 1), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* Too many CSCD / segment descriptors; lists over MAXIMUM DESCRIPTOR LIST LENGTH. */
	plen = ut_xcopy_list(p, 1, 0, SCSI_XCOPY_MAX_CSCD + 1, 1, 1, 0, 1);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_TOO_MANY_TARGET_DESCRIPTORS);
	plen = ut_xcopy_list(p, 1, 0, 1, SCSI_XCOPY_MAX_SEGS + 1, 1, 0, 100);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_TOO_MANY_SEGMENT_DESCRIPTORS);
	plen = ut_xcopy_list(p, 1, 0, 1, 40, 1, 0, 100);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* Unsupported descriptor types (field pointer at the descriptor). */
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 1, 0, 1);
	p[16] = 0xe0;
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE);
	CU_ASSERT_EQUAL(ut_field() >> 8, 16);
	p[16] = 0xe4;
	p[48] = 0x03;
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE);
	CU_ASSERT_EQUAL(ut_field() >> 8, 48);
	/* A CSCD index with no descriptor; a CSCD of another LU; past the end: COPY ABORTED. */
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 1, 0, 1);
	osp_scsi_put16(&p[48 + 6], 1);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_COPY_ABORTED, OSP_SCSI_ASC_UNREACHABLE_COPY_TARGET);
	CU_ASSERT_EQUAL(ut_field() >> 8, 48 + 6);
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 1, 0, 1);
	p[16 + 8 + 15] ^= 1;
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_COPY_ABORTED, OSP_SCSI_ASC_UNREACHABLE_COPY_TARGET);
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 2, 0, NBLK - 1);
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_COPY_ABORTED, OSP_SCSI_ASC_NO_ADDITIONAL_SENSE);
	CU_ASSERT_EQUAL(ut_field() >> 8, 48 + 20);
	/* Data-out shorter than the parameter list; a reserved LIST ID USAGE; inline data. */
	plen = ut_xcopy_list(p, 1, 0, 1, 1, 1, 0, 1);
	memcpy(g_cmd->buf, p, plen);
	{
		uint8_t cdb[16] = { OSP_SCSI_EXTENDED_COPY };

		osp_scsi_put32(&cdb[10], plen);
		CU_ASSERT_EQUAL(ut_cmd(cdb, 16, OSP_SCSI_DIR_TO_DEV, plen - 4),
				OSP_SCSI_STATUS_CHECK_CONDITION);
		CHECK_SENSE(OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	}
	g_cmd->buf[1] = 1 << 3;
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 1 << 8 | 4);
	memcpy(g_cmd->buf, p, plen);
	osp_scsi_put32(&g_cmd->buf[12], 4);
	CU_ASSERT_EQUAL(ut_xcopy(plen + 4), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 12);
	/* Write protected (SWP): nothing copied. */
	g_itn->luns[0].mode.control.flags4 |= OSP_SCSI_CONTROL_SWP;
	memcpy(g_cmd->buf, p, plen);
	CU_ASSERT_EQUAL(ut_xcopy(plen), OSP_SCSI_STATUS_CHECK_CONDITION);
	CHECK_SENSE(OSP_SCSI_SK_DATA_PROTECT, OSP_SCSI_ASC_WRITE_PROTECTED);
	g_itn->luns[0].mode.control.flags4 &= (uint8_t)~OSP_SCSI_CONTROL_SWP;
	/* An unknown RECEIVE COPY RESULTS service action. */
	CU_ASSERT_EQUAL(ut_rcr(0x05, 0, 12), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field() >> 8, 1);
	free(p);
	ut_teardown();
}

static void
test_read_defect_data(void)
{
	uint8_t cdb10[10] = { OSP_SCSI_READ_DEFECT_DATA_10, 0, 0x18 | 5 };
	uint8_t cdb12[12] = { OSP_SCSI_READ_DEFECT_DATA_12, 0x08 | 4 };

	setup();
	/* No defects: the header, PLISTV/GLISTV and the format echoed, an empty list. */
	osp_scsi_put16(&cdb10[7], 32);
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 32), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 4);
	CU_ASSERT_EQUAL(g_cmd->buf[1], 0x18 | 5);
	CU_ASSERT_EQUAL(osp_scsi_get16(&g_cmd->buf[2]), 0);
	osp_scsi_put16(&cdb10[7], 2);
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 2), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 2);
	osp_scsi_put32(&cdb12[6], 64);
	CU_ASSERT_EQUAL(ut_cmd(cdb12, 12, OSP_SCSI_DIR_FROM_DEV, 64), OSP_SCSI_STATUS_GOOD);
	CU_ASSERT_EQUAL(g_cmd->task.data_transferred, 8);
	CU_ASSERT_EQUAL(g_cmd->buf[1], 0x08 | 4);
	CU_ASSERT_EQUAL(osp_scsi_get32(&g_cmd->buf[4]), 0);
	/* Reserved bits. */
	cdb10[2] = 0x20;
	CU_ASSERT_EQUAL(ut_cmd(cdb10, 10, OSP_SCSI_DIR_FROM_DEV, 2), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 2 << 8 | 5);
	cdb12[10] = 1;
	CU_ASSERT_EQUAL(ut_cmd(cdb12, 12, OSP_SCSI_DIR_FROM_DEV, 64), OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_EQUAL(ut_field(), 10 << 8 | 0);
	ut_teardown();
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
	CU_ADD_TEST(suite, test_verify);
	CU_ADD_TEST(suite, test_write_verify);
	CU_ADD_TEST(suite, test_orwrite);
	CU_ADD_TEST(suite, test_prefetch);
	CU_ADD_TEST(suite, test_compare_and_write);
	CU_ADD_TEST(suite, test_unmap);
	CU_ADD_TEST(suite, test_write_same);
	CU_ADD_TEST(suite, test_get_lba_status);
	CU_ADD_TEST(suite, test_read_defect_data);
	CU_ADD_TEST(suite, test_write_atomic);
	CU_ADD_TEST(suite, test_extended_copy);
	return ut_run_suites();
}

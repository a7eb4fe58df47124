/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SBC-3 block commands over the bdev layer: READ/WRITE 6/10/12/16, READ
 * CAPACITY 10/16, SYNCHRONIZE CACHE, and the bdev I/O plumbing they share
 * (zero-copy reads in up to OSP_SCSI_TASK_INLINE_IOVS bdev buffers, -ENOMEM
 * retries, bdev status to sense).
 *
 * CDB reserved bits are checked against the command table (spc.c) before a
 * handler runs; handlers check field values (protection, ranges, lengths).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"

#include "scsi_internal.h"

OSP_STATIC_ASSERT(sizeof(((struct osp_scsi_task *)0)->priv_wait) >=
		  sizeof(struct osp_bdev_io_wait_entry), "task wait room");

/* priv_u64 use by the I/O commands. */
#define T_STEP		0	/* retry function after -ENOMEM */
#define T_PENDING	1	/* bdev I/Os in flight */
#define T_DONE		2	/* blocks submitted so far / progress */
#define T_ERR		3	/* first failure: bdev status (negative) or -errno of submit */

typedef int (*sbc_step_fn)(struct osp_scsi_task *task);

uint32_t
scsi_max_xfer_blocks(uint32_t block_size)
{
	uint64_t n = (uint64_t)OSP_SCSI_TASK_INLINE_IOVS * SCSI_MAX_XFER_BYTES / block_size;

	return n == 0 ? 1 : (uint32_t)n;
}

bool
scsi_bdev_unmap_zeroes(struct osp_bdev *bdev)
{
	/*
	 * The bdev API does not say whether unmapped blocks read back as zeroes;
	 * the RAM-backed modules free or zero them. Others: claim nothing.
	 */
	const char *mod = osp_bdev_get_module_name(bdev);

	return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP) && mod != NULL &&
	       (strcmp(mod, "malloc") == 0 || strcmp(mod, "null") == 0);
}

static struct osp_bdev_desc *
sbc_desc(struct osp_scsi_task *task)
{
	return task->lun->desc;
}

static struct osp_io_channel *
sbc_ch(struct osp_scsi_task *task)
{
	return scsi_task_itn_lun(task)->ch;
}

/* ---- bdev status to sense ---- */

static void
sbc_set_io_error(struct osp_scsi_task *task, int status, bool write)
{
	switch (status) {
	case OSP_BDEV_IO_STATUS_MISCOMPARE:
		scsi_task_sense(task, OSP_SCSI_SK_MISCOMPARE, OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY);
		return;
	case OSP_BDEV_IO_STATUS_ABORTED:
		scsi_task_sense(task, OSP_SCSI_SK_ABORTED_COMMAND, OSP_SCSI_ASC_NO_ADDITIONAL_SENSE);
		return;
	case -ENODEV:
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
		return;
	case -EINVAL:
		/* The range was checked against our view: the bdev shrank meanwhile. */
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		return;
	case -ENOTSUP:
		scsi_task_invalid_opcode(task);
		return;
	case -EBADF:
		scsi_task_sense(task, OSP_SCSI_SK_DATA_PROTECT, OSP_SCSI_ASC_WRITE_PROTECTED);
		return;
	default:
		break;
	}
	/* Anything else is the medium's failure as far as the initiator can tell. */
	scsi_task_sense(task, OSP_SCSI_SK_MEDIUM_ERROR, write ? OSP_SCSI_ASC_WRITE_ERROR :
			OSP_SCSI_ASC_UNRECOVERED_READ_ERROR);
}

/* ---- submission with -ENOMEM retry ---- */

static void sbc_step_run(struct osp_scsi_task *task);

static void
sbc_io_wait_cb(void *arg)
{
	struct osp_scsi_task *task = arg;

	task->state &= ~SCSI_TASK_IOWAIT;
	sbc_step_run(task);
}

/*
 * Run the task's step (task->priv_u64[T_STEP]). A step submits bdev I/O and
 * handles its own failures; it returns -ENOMEM when the layer had no
 * bdev_io, and runs again once one is free.
 */
static void
sbc_step_run(struct osp_scsi_task *task)
{
	sbc_step_fn fn = (sbc_step_fn)(uintptr_t)task->priv_u64[T_STEP];
	struct osp_bdev_io_wait_entry *w = (struct osp_bdev_io_wait_entry *)task->priv_wait;

	if (fn(task) != -ENOMEM) {
		return;
	}
	/* Until the step runs again, it alone may end the task. */
	task->state |= SCSI_TASK_IOWAIT;
	w->bdev = task->lun->bdev;
	w->cb_fn = sbc_io_wait_cb;
	w->cb_arg = task;
	if (osp_bdev_queue_io_wait(task->lun->bdev, sbc_ch(task), w) != 0) {
		/* bdev_ios are available after all: try again on the next poll. */
		osp_thread_send_msg(osp_get_thread(), sbc_io_wait_cb, task);
	}
}

static void
sbc_start(struct osp_scsi_task *task, sbc_step_fn fn, uint64_t done)
{
	task->priv_u64[T_STEP] = (uint64_t)(uintptr_t)fn;
	task->priv_u64[T_PENDING] = 0;
	task->priv_u64[T_DONE] = done;
	task->priv_u64[T_ERR] = 0;
	sbc_step_run(task);
}

static void
sbc_next(struct osp_scsi_task *task, sbc_step_fn fn)
{
	task->priv_u64[T_STEP] = (uint64_t)(uintptr_t)fn;
	sbc_step_run(task);
}

/* A failed bdev I/O as the code sbc_set_io_error() maps. */
static int
sbc_bdev_status(struct osp_bdev_io *bdev_io)
{
	int status = osp_bdev_io_get_status(bdev_io);
	int sct = 0, sc = 0;
	uint32_t cdw0;

	if (status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		osp_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		if (sct == 0 && sc == 0x80) {		/* LBA out of range */
			return -EINVAL;
		}
		if (sct == 2 && sc == 0x85) {		/* compare failure */
			return OSP_BDEV_IO_STATUS_MISCOMPARE;
		}
		return OSP_BDEV_IO_STATUS_FAILED;
	}
	return status >= 0 ? OSP_BDEV_IO_STATUS_FAILED : status;
}

/*
 * Shorten task->iovs to len bytes (the bdev layer moves what the iovecs
 * describe): returns how many iovecs cover len, -1 when they hold less. The
 * shortened iovec is restored when the task completes.
 */
static int
sbc_iov_trim(struct osp_scsi_task *task, size_t len)
{
	size_t off = 0;
	int i;

	for (i = 0; i < task->iovcnt; i++) {
		if (off + task->iovs[i].iov_len >= len) {
			if (off + task->iovs[i].iov_len > len) {
				task->trim_idx = i;
				task->trim_len = task->iovs[i].iov_len;
				task->iovs[i].iov_len = len - off;
			}
			return i + 1;
		}
		off += task->iovs[i].iov_len;
	}
	return -1;
}

/* ---- CDB decoding ---- */

struct sbc_rw {
	uint64_t lba;
	uint32_t nblocks;
	uint8_t flags;		/* byte 1: protect 7:5, DPO 4, FUA 3 */
	int len_byte;		/* where the transfer length is, for the field pointer */
};

static void
sbc_decode(const uint8_t *cdb, struct sbc_rw *rw)
{
	memset(rw, 0, sizeof(*rw));
	switch (cdb[0] >> 5) {
	case 0:		/* 6-byte */
		rw->lba = osp_scsi_get24(&cdb[1]) & 0x1fffff;
		rw->nblocks = cdb[4];
		rw->len_byte = 4;
		break;
	case 1:		/* 10-byte */
	case 2:
		rw->lba = osp_scsi_get32(&cdb[2]);
		rw->nblocks = osp_scsi_get16(&cdb[7]);
		rw->flags = cdb[1];
		rw->len_byte = 7;
		break;
	case 4:		/* 16-byte */
		rw->lba = osp_scsi_get64(&cdb[2]);
		rw->nblocks = osp_scsi_get32(&cdb[10]);
		rw->flags = cdb[1];
		rw->len_byte = 10;
		break;
	case 5:		/* 12-byte */
		rw->lba = osp_scsi_get32(&cdb[2]);
		rw->nblocks = osp_scsi_get32(&cdb[6]);
		rw->flags = cdb[1];
		rw->len_byte = 6;
		break;
	}
}

/*
 * Checks shared by the commands that address blocks: protection information
 * (not supported: PROTECT 0 in INQUIRY, so a non-zero RDPROTECT/WRPROTECT/
 * VRPROTECT is an invalid field), the range, and Block Limits. Sets sense
 * and returns false on failure.
 */
static bool
sbc_check_range(struct osp_scsi_task *task, const struct sbc_rw *rw, uint32_t max_blocks)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);

	if (rw->flags & 0xe0) {
		scsi_task_invalid_cdb(task, 1, 7);
		return false;
	}
	if (rw->lba > il->num_blocks || rw->nblocks > il->num_blocks - rw->lba) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	if (max_blocks != 0 && rw->nblocks > max_blocks) {
		scsi_task_invalid_cdb(task, rw->len_byte, -1);
		return false;
	}
	return true;
}

static bool
sbc_write_protected(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);

	if (il->mode.control.flags4 & OSP_SCSI_CONTROL_SWP) {
		scsi_task_sense(task, OSP_SCSI_SK_DATA_PROTECT, OSP_SCSI_ASC_WRITE_PROTECTED);
		return true;
	}
	return false;
}


static bool
sbc_is_write(const struct osp_scsi_task *task)
{
	switch (task->cdb[0]) {
	case OSP_SCSI_WRITE_6:
	case OSP_SCSI_WRITE_10:
	case OSP_SCSI_WRITE_12:
	case OSP_SCSI_WRITE_16:
	case OSP_SCSI_WRITE_AND_VERIFY_10:
	case OSP_SCSI_WRITE_AND_VERIFY_12:
	case OSP_SCSI_WRITE_AND_VERIFY_16:
	case OSP_SCSI_WRITE_SAME_10:
	case OSP_SCSI_WRITE_SAME_16:
	case OSP_SCSI_ORWRITE_16:
	case OSP_SCSI_COMPARE_AND_WRITE:
	case OSP_SCSI_UNMAP:
	case OSP_SCSI_SYNCHRONIZE_CACHE_10:
	case OSP_SCSI_SYNCHRONIZE_CACHE_16:
		return true;
	default:
		return false;
	}
}

/* End the task with the failure recorded in T_ERR (or TASK ABORTED). */
static void
sbc_fail(struct osp_scsi_task *task)
{
	if (!(task->state & SCSI_TASK_ABORTED)) {
		sbc_set_io_error(task, (int)(int64_t)task->priv_u64[T_ERR], sbc_is_write(task));
	}
	task->data_transferred = 0;
	scsi_task_complete(task);
}

/* Completion of a single bdev I/O that ends the command. */
static void
sbc_io_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_task *task = arg;

	if (!success) {
		task->priv_u64[T_ERR] = (uint64_t)(int64_t)sbc_bdev_status(bdev_io);
	}
	osp_bdev_free_io(bdev_io);
	if (!success || task->state & SCSI_TASK_ABORTED) {
		sbc_fail(task);
		return;
	}
	scsi_task_complete(task);
}

/* A step's submit failed with rc (not -ENOMEM): end the task. */
static int
sbc_submit_failed(struct osp_scsi_task *task, int rc)
{
	if (rc == -ENOMEM) {
		return rc;
	}
	task->priv_u64[T_ERR] = (uint64_t)(int64_t)rc;
	sbc_fail(task);
	return 0;
}

/* ---- READ ---- */

static void
sbc_zcopy_release(struct osp_scsi_task *task)
{
	int i;

	for (i = 0; i < OSP_SCSI_TASK_INLINE_IOVS; i++) {
		if (task->bdev_ios[i] != NULL) {
			osp_bdev_free_io(task->bdev_ios[i]);
			task->bdev_ios[i] = NULL;
		}
	}
	task->state &= ~SCSI_TASK_ZCOPY;
}

void
scsi_sbc_put(struct osp_scsi_task *task)
{
	if (task->state & SCSI_TASK_ZCOPY) {
		sbc_zcopy_release(task);
	}
}

uint32_t
sbc_piece_blocks(uint32_t bs)
{
	uint32_t per = SCSI_MAX_XFER_BYTES / bs;

	return per == 0 ? 1 : per;
}

/* Every piece of a zero-copy read is back: hand the buffers over, or copy them out. */
static void
sbc_zread_finish(struct osp_scsi_task *task)
{
	uint32_t left = task->data_transferred, off = 0, n;
	struct iovec *iov;
	int i, cnt;

	if (task->state & SCSI_TASK_ABORTED || task->priv_u64[T_ERR] != 0) {
		sbc_zcopy_release(task);
		sbc_fail(task);
		return;
	}
	if (task->iovcnt > 0) {
		/* Into the transport's buffers (its EDTL cut a block short). */
		for (i = 0; i < OSP_SCSI_TASK_INLINE_IOVS && left > 0; i++) {
			osp_bdev_io_get_iovec(task->bdev_ios[i], &iov, &cnt);
			n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
			osp_iov_copy_from_buf(iov[0].iov_base, n, task->iovs, task->iovcnt, off);
			off += n;
			left -= n;
		}
		sbc_zcopy_release(task);
		scsi_task_complete(task);
		return;
	}
	task->iovs = task->iov_inline;
	task->iovcnt = 0;
	for (i = 0; i < OSP_SCSI_TASK_INLINE_IOVS && left > 0; i++) {
		osp_bdev_io_get_iovec(task->bdev_ios[i], &iov, &cnt);
		n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
		task->iov_inline[i].iov_base = iov[0].iov_base;
		task->iov_inline[i].iov_len = n;
		task->iovcnt++;
		left -= n;
	}
	task->state |= SCSI_TASK_ZCOPY;
	scsi_task_complete(task);
}

static uint32_t
sbc_zread_nblocks(struct osp_scsi_task *task)
{
	uint32_t bs = scsi_task_itn_lun(task)->block_size;

	return (uint32_t)osp_divide_round_up(task->data_transferred, bs);
}

/*
 * cb_arg of each piece is its slot in task->bdev_ios, holding the task until
 * the piece completes (the slot says where the piece's data goes).
 */
static void
sbc_zread_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_bdev_io **slot = arg;
	struct osp_scsi_task *task = (struct osp_scsi_task *)(void *)*slot;

	*slot = bdev_io;
	if (!success && task->priv_u64[T_ERR] == 0) {
		task->priv_u64[T_ERR] = (uint64_t)(int64_t)sbc_bdev_status(bdev_io);
	}
	task->priv_u64[T_PENDING]--;
	if (task->priv_u64[T_PENDING] != 0 || task->state & SCSI_TASK_IOWAIT) {
		return;
	}
	if (task->priv_u64[T_DONE] == sbc_zread_nblocks(task) || task->priv_u64[T_ERR] != 0 ||
	    task->state & SCSI_TASK_ABORTED) {
		sbc_zread_finish(task);
	}
	/* Else a submit is waiting for a bdev_io: the step finishes the rest. */
}

static int
sbc_zread_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t nblk = sbc_zread_nblocks(task), per = sbc_piece_blocks(il->block_size);
	struct iovec iov;
	struct sbc_rw rw;
	uint32_t done, n;
	int rc, i;

	sbc_decode(task->cdb, &rw);
	while ((done = (uint32_t)task->priv_u64[T_DONE]) < nblk) {
		if (task->state & SCSI_TASK_ABORTED) {
			break;
		}
		i = (int)(done / per);
		n = OSP_MIN(per, nblk - done);
		iov.iov_base = NULL;
		iov.iov_len = (size_t)n * il->block_size;
		task->bdev_ios[i] = (struct osp_bdev_io *)(void *)task;
		rc = osp_bdev_readv_blocks(sbc_desc(task), il->ch, &iov, 1, rw.lba + done, n,
					   sbc_zread_done, &task->bdev_ios[i]);
		if (rc != 0) {
			task->bdev_ios[i] = NULL;
			if (rc == -ENOMEM) {
				return rc;
			}
			task->priv_u64[T_ERR] = (uint64_t)(int64_t)rc;
			break;
		}
		task->priv_u64[T_PENDING]++;
		task->priv_u64[T_DONE] = done + n;
	}
	if (task->priv_u64[T_PENDING] == 0) {
		sbc_zread_finish(task);
	}
	return 0;
}

static int
sbc_readv_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	rc = osp_bdev_readv_blocks(sbc_desc(task), il->ch, task->iovs, (int)task->priv_u64[T_DONE],
				   rw.lba, task->data_transferred / il->block_size, sbc_io_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

/* Data-out shorter than the command's, or in the wrong direction (FCP-4 9.4.2 b). */
static void
sbc_bad_xfer(struct osp_scsi_task *task)
{
	task->data_transferred = 0;
	scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
	scsi_task_complete(task);
}

void
scsi_sbc_read(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t bs = il->block_size, xfer;
	struct sbc_rw rw;
	int cnt;

	sbc_decode(task->cdb, &rw);
	if (task->cdb[0] == OSP_SCSI_READ_6 && rw.nblocks == 0) {
		rw.nblocks = 256;	/* SBC-3 5.10: 0 means 256 blocks */
	}
	if (!sbc_check_range(task, &rw, scsi_max_xfer_blocks(bs))) {
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = rw.nblocks * bs;
	if (rw.nblocks == 0) {
		scsi_task_complete(task);
		return;
	}
	if (task->dir == OSP_SCSI_DIR_TO_DEV) {
		sbc_bad_xfer(task);
		return;
	}
	/* Data-in stops at the transport's expected length (overflow residual). */
	xfer = OSP_MIN(task->data_wanted, task->transfer_len);
	if (xfer == 0) {
		scsi_task_complete(task);
		return;
	}
	task->data_transferred = xfer;
	if (task->iovcnt > 0 && xfer % bs == 0) {
		cnt = sbc_iov_trim(task, xfer);
		if (cnt < 0) {
			sbc_bad_xfer(task);
			return;
		}
		sbc_start(task, sbc_readv_step, (uint64_t)cnt);
		return;
	}
	sbc_start(task, sbc_zread_step, 0);
}

/* ---- WRITE ---- */

static bool
sbc_needs_flush(struct osp_scsi_task *task, const struct sbc_rw *rw)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);

	/* FUA, or the write cache turned off in the caching mode page (WCE 0). */
	return osp_bdev_has_write_cache(task->lun->bdev) &&
	       ((rw->flags & 0x08) || !(il->mode.caching.flags2 & OSP_SCSI_CACHING_WCE));
}

static int
sbc_flush_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	rc = osp_bdev_flush_blocks(sbc_desc(task), il->ch, rw.lba, rw.nblocks, sbc_io_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

static void
sbc_write_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_task *task = arg;
	struct sbc_rw rw;

	if (!success) {
		task->priv_u64[T_ERR] = (uint64_t)(int64_t)sbc_bdev_status(bdev_io);
	}
	osp_bdev_free_io(bdev_io);
	if (!success || task->state & SCSI_TASK_ABORTED) {
		sbc_fail(task);
		return;
	}
	sbc_decode(task->cdb, &rw);
	if (sbc_needs_flush(task, &rw)) {
		sbc_next(task, sbc_flush_step);
		return;
	}
	scsi_task_complete(task);
}

static int
sbc_writev_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	if (task->cdb[0] == OSP_SCSI_WRITE_6 && rw.nblocks == 0) {
		rw.nblocks = 256;
	}
	rc = osp_bdev_writev_blocks(sbc_desc(task), il->ch, task->iovs, (int)task->priv_u64[T_DONE],
				    rw.lba, rw.nblocks, sbc_write_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

/*
 * The checks before data-out is taken: range, Block Limits, write protect,
 * then the data the transport received (all of it must be there).
 */
static bool
sbc_write_prepare(struct osp_scsi_task *task, struct sbc_rw *rw, uint32_t max_blocks)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	int cnt;

	if (!sbc_check_range(task, rw, max_blocks)) {
		scsi_task_complete(task);
		return false;
	}
	task->data_wanted = rw->nblocks * il->block_size;
	if (sbc_write_protected(task)) {
		scsi_task_complete(task);
		return false;
	}
	if (rw->nblocks == 0) {
		scsi_task_complete(task);
		return false;
	}
	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len < task->data_wanted) {
		sbc_bad_xfer(task);
		return false;
	}
	cnt = sbc_iov_trim(task, task->data_wanted);
	if (cnt < 0) {
		sbc_bad_xfer(task);
		return false;
	}
	task->data_transferred = task->data_wanted;
	task->priv_u64[T_DONE] = (uint64_t)cnt;
	return true;
}

void
scsi_sbc_write(struct osp_scsi_task *task)
{
	struct sbc_rw rw;

	sbc_decode(task->cdb, &rw);
	if (task->cdb[0] == OSP_SCSI_WRITE_6 && rw.nblocks == 0) {
		rw.nblocks = 256;
	}
	if (!sbc_write_prepare(task, &rw, scsi_max_xfer_blocks(scsi_task_itn_lun(task)->block_size))) {
		return;
	}
	sbc_start(task, sbc_writev_step, task->priv_u64[T_DONE]);
}

/* ---- SYNCHRONIZE CACHE (SBC-3 5.22, 5.23) ---- */

void
scsi_sbc_sync_cache(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;

	sbc_decode(task->cdb, &rw);
	rw.flags = 0;		/* IMMED and SYNC_NV, not protection bits */
	if (!sbc_check_range(task, &rw, 0)) {
		scsi_task_complete(task);
		return;
	}
	if (!osp_bdev_has_write_cache(task->lun->bdev)) {
		scsi_task_complete(task);
		return;
	}
	(void)il;
	sbc_start(task, sbc_flush_step, 0);
}

/* ---- READ CAPACITY (SBC-3 5.15, 5.16) ---- */

void
scsi_sbc_read_capacity10(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct osp_scsi_read_cap10_data *d;
	uint64_t last = il->num_blocks - 1;

	/* PMI 0 requires LBA 0 (SBC-3 5.15.1). */
	if (!(task->cdb[8] & 1) && osp_scsi_get32(&task->cdb[2]) != 0) {
		scsi_task_invalid_cdb(task, 2, -1);
		scsi_task_complete(task);
		return;
	}
	d = scsi_task_ebuf(task);
	if (d == NULL) {
		scsi_task_complete(task);
		return;
	}
	osp_scsi_put32(d->last_lba, last > UINT32_MAX ? UINT32_MAX : (uint32_t)last);
	osp_scsi_put32(d->block_len, il->block_size);
	scsi_task_data_in(task, d, sizeof(*d));
	scsi_task_complete(task);
}

void
scsi_sbc_read_capacity16(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct osp_scsi_read_cap16_data *d;
	uint32_t alloc = osp_scsi_get32(&task->cdb[10]);
	struct osp_bdev *bdev = task->lun->bdev;

	if (!(task->cdb[14] & 1) && osp_scsi_get64(&task->cdb[2]) != 0) {
		scsi_task_invalid_cdb(task, 2, -1);
		scsi_task_complete(task);
		return;
	}
	d = scsi_task_ebuf(task);
	if (d == NULL) {
		scsi_task_complete(task);
		return;
	}
	osp_scsi_put64(d->last_lba, il->num_blocks - 1);
	osp_scsi_put32(d->block_len, il->block_size);
	if (osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP)) {
		d->lbp_lowest[0] = OSP_SCSI_RC16_LBPME;
		if (scsi_bdev_unmap_zeroes(bdev)) {
			d->lbp_lowest[0] |= OSP_SCSI_RC16_LBPRZ;
		}
	}
	scsi_task_data_in(task, d, OSP_MIN(alloc, (uint32_t)sizeof(*d)));
	scsi_task_complete(task);
}

/* ---- not yet implemented ---- */

static void
sbc_unsupported(struct osp_scsi_task *task)
{
	scsi_task_invalid_opcode(task);
	scsi_task_complete(task);
}

void scsi_sbc_write_verify(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_verify(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_prefetch(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_write_same(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_unmap(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_compare_and_write(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_orwrite(struct osp_scsi_task *task) { sbc_unsupported(task); }
void scsi_sbc_get_lba_status(struct osp_scsi_task *task) { sbc_unsupported(task); }

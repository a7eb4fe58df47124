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
#define T_LBA		4	/* multi-piece read: first block */
#define T_LEN		5	/* multi-piece read: bytes */
#define T_FINISH	6	/* multi-piece read: what to do with the data */
#define T_AUX		7	/* per command */

typedef void (*sbc_finish_fn)(struct osp_scsi_task *task);

typedef int (*sbc_step_fn)(struct osp_scsi_task *task);

uint32_t
scsi_max_xfer_blocks(uint32_t block_size)
{
	uint64_t n = (uint64_t)SCSI_MAX_PIECES * SCSI_MAX_XFER_BYTES / block_size;

	return n == 0 ? 1 : (uint32_t)n;
}

bool
scsi_bdev_unmap_zeroes(struct osp_bdev *bdev)
{
	/* LBPRZ: the module says unmapped blocks read back as zeroes. */
	return osp_bdev_unmap_reads_zeroes(bdev);
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
	case OSP_SCSI_WRITE_ATOMIC_16:
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

OSP_STATIC_ASSERT(SCSI_MAX_PIECES * (sizeof(void *) + sizeof(struct iovec)) <= SCSI_EBUF_SIZE,
		  "the pieces of a big read fit an emulation buffer");

/*
 * The bdev_io slots of a multi-piece read (*n of them): the task's own, or
 * the first part of the emulation buffer when the read needs more.
 */
static struct osp_bdev_io **
sbc_pieces(struct osp_scsi_task *task, int *n)
{
	if (task->state & SCSI_TASK_BIGREAD) {
		*n = SCSI_MAX_PIECES;
		return task->priv;
	}
	*n = OSP_SCSI_TASK_INLINE_IOVS;
	return task->bdev_ios;
}

/* Where a big read's iovecs go for the transport (after the slots in the ebuf). */
static struct iovec *
sbc_piece_iovs(struct osp_scsi_task *task)
{
	if (task->state & SCSI_TASK_BIGREAD) {
		return (struct iovec *)(void *)((uint8_t *)task->priv +
						SCSI_MAX_PIECES * sizeof(void *));
	}
	return task->iov_inline;
}

static void
sbc_zcopy_release(struct osp_scsi_task *task)
{
	struct osp_bdev_io **ios;
	int i, n;

	ios = sbc_pieces(task, &n);
	for (i = 0; i < n; i++) {
		if (ios[i] != NULL) {
			osp_bdev_free_io(ios[i]);
			ios[i] = NULL;
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

/* Hand the read's buffers to the transport (or copy them into its own). */
static void
sbc_read_handover(struct osp_scsi_task *task)
{
	uint32_t left = (uint32_t)task->priv_u64[T_LEN], off = 0, n;
	struct osp_bdev_io **ios;
	struct iovec *iov, *out;
	int i, cnt, npieces;

	ios = sbc_pieces(task, &npieces);
	if (task->iovcnt > 0) {
		/* Into the transport's buffers (its EDTL cut a block short). */
		for (i = 0; i < npieces && left > 0; i++) {
			osp_bdev_io_get_iovec(ios[i], &iov, &cnt);
			n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
			osp_iov_copy_from_buf(iov[0].iov_base, n, task->iovs, task->iovcnt, off);
			off += n;
			left -= n;
		}
		sbc_zcopy_release(task);
		scsi_task_complete(task);
		return;
	}
	out = sbc_piece_iovs(task);
	task->iovs = out;
	task->iovcnt = 0;
	for (i = 0; i < npieces && left > 0; i++) {
		osp_bdev_io_get_iovec(ios[i], &iov, &cnt);
		n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
		out[i].iov_base = iov[0].iov_base;
		out[i].iov_len = n;
		task->iovcnt++;
		left -= n;
	}
	task->state |= SCSI_TASK_ZCOPY;
	scsi_task_complete(task);
}

/* Every piece of a multi-piece read is back: fail, or pass the data on. */
static void
sbc_zread_finish(struct osp_scsi_task *task)
{
	sbc_finish_fn fn = (sbc_finish_fn)(uintptr_t)task->priv_u64[T_FINISH];

	if (task->state & SCSI_TASK_ABORTED || task->priv_u64[T_ERR] != 0) {
		sbc_zcopy_release(task);
		sbc_fail(task);
		return;
	}
	fn(task);
}

static uint32_t
sbc_zread_nblocks(struct osp_scsi_task *task)
{
	uint32_t bs = scsi_task_itn_lun(task)->block_size;

	return (uint32_t)osp_divide_round_up(task->priv_u64[T_LEN], bs);
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
	struct osp_bdev_io **ios;
	struct iovec iov;
	uint32_t done, n;
	int rc, i, npieces;

	ios = sbc_pieces(task, &npieces);
	while ((done = (uint32_t)task->priv_u64[T_DONE]) < nblk) {
		if (task->state & SCSI_TASK_ABORTED) {
			break;
		}
		i = (int)(done / per);
		n = OSP_MIN(per, nblk - done);
		iov.iov_base = NULL;
		iov.iov_len = (size_t)n * il->block_size;
		ios[i] = (struct osp_bdev_io *)(void *)task;
		rc = osp_bdev_readv_blocks(sbc_desc(task), il->ch, &iov, 1,
					   task->priv_u64[T_LBA] + done, n, sbc_zread_done, &ios[i]);
		if (rc != 0) {
			ios[i] = NULL;
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

/*
 * Read len bytes from lba into bdev buffers (pieces of SCSI_MAX_XFER_BYTES,
 * in task->bdev_ios or, beyond OSP_SCSI_TASK_INLINE_IOVS of them, in an
 * emulation buffer), then finish(task); failures end the task.
 */
static void
sbc_zread(struct osp_scsi_task *task, uint64_t lba, uint32_t len, sbc_finish_fn finish)
{
	uint32_t bs = scsi_task_itn_lun(task)->block_size;
	uint64_t pieces = osp_divide_round_up(osp_divide_round_up(len, bs), sbc_piece_blocks(bs));

	if (pieces > OSP_SCSI_TASK_INLINE_IOVS && !(task->state & SCSI_TASK_BIGREAD)) {
		if (task->state & SCSI_TASK_EBUF || scsi_task_ebuf(task) == NULL) {
			/* No room for the pieces (BUSY is set when no buffer was left). */
			if (task->status == OSP_SCSI_STATUS_GOOD) {
				scsi_task_sense(task, OSP_SCSI_SK_HARDWARE_ERROR,
						OSP_SCSI_ASC_INTERNAL_TARGET_FAILURE);
			}
			task->data_transferred = 0;
			scsi_task_complete(task);
			return;
		}
		task->state |= SCSI_TASK_BIGREAD;
	}
	task->priv_u64[T_LBA] = lba;
	task->priv_u64[T_LEN] = len;
	task->priv_u64[T_FINISH] = (uint64_t)(uintptr_t)finish;
	sbc_start(task, sbc_zread_step, 0);
}

/*
 * Compare the read pieces with the task's data-out from byte data_off on;
 * returns -1 when equal, else the offset in the data-out of the first
 * difference.
 */
static int64_t
sbc_zread_compare(struct osp_scsi_task *task, size_t data_off)
{
	uint32_t left = (uint32_t)task->priv_u64[T_LEN], n;
	struct osp_bdev_io **ios;
	size_t off = 0, diff;
	struct iovec *iov;
	int i, cnt, npieces;

	ios = sbc_pieces(task, &npieces);
	for (i = 0; i < npieces && left > 0; i++) {
		osp_bdev_io_get_iovec(ios[i], &iov, &cnt);
		n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
		if (osp_iov_cmp_buf(task->iovs, task->iovcnt, data_off + off, iov[0].iov_base, n,
				    &diff) != 0) {
			return (int64_t)(off + diff);
		}
		off += n;
		left -= n;
	}
	return -1;
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
	/*
	 * Data-in stops at the transport's expected length (overflow residual);
	 * a command sent as a write has no data-in buffer at all.
	 */
	xfer = task->dir == OSP_SCSI_DIR_TO_DEV ? 0 : OSP_MIN(task->data_wanted, task->transfer_len);
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
	sbc_zread(task, rw.lba, xfer, sbc_read_handover);
}

/* ---- WRITE ---- */

static bool
sbc_is_write_verify(const struct osp_scsi_task *task)
{
	return task->cdb[0] == OSP_SCSI_WRITE_AND_VERIFY_10 ||
	       task->cdb[0] == OSP_SCSI_WRITE_AND_VERIFY_12 ||
	       task->cdb[0] == OSP_SCSI_WRITE_AND_VERIFY_16;
}


static bool
sbc_needs_flush(struct osp_scsi_task *task, const struct sbc_rw *rw)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);

	/*
	 * FUA, the write cache turned off in the caching mode page (WCE 0), or a
	 * WRITE AND VERIFY (which verifies what is on the medium).
	 */
	return osp_bdev_has_write_cache(task->lun->bdev) &&
	       ((rw->flags & 0x08) || !(il->mode.caching.flags2 & OSP_SCSI_CACHING_WCE) ||
		sbc_is_write_verify(task));
}

static void sbc_verify_written(struct osp_scsi_task *task);

/* The data is on the medium: done, or (WRITE AND VERIFY) read it back. */
static void
sbc_written(struct osp_scsi_task *task)
{
	if (sbc_is_write_verify(task)) {
		sbc_verify_written(task);
		return;
	}
	scsi_task_complete(task);
}

static void
sbc_flush_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
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
	sbc_written(task);
}

static int
sbc_flush_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	if (task->cdb[0] == OSP_SCSI_UNMAP ||
	    ((task->cdb[0] == OSP_SCSI_WRITE_SAME_10 || task->cdb[0] == OSP_SCSI_WRITE_SAME_16) &&
	     rw.nblocks == 0)) {
		/* Many ranges, or WRITE SAME to the end: the whole bdev. */
		rw.lba = 0;
		rw.nblocks = 0;
	}
	rc = osp_bdev_flush_blocks(sbc_desc(task), il->ch, rw.lba, rw.nblocks, sbc_flush_done, task);
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
	sbc_written(task);
}

static int
sbc_writev_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	rc = osp_bdev_writev_blocks(sbc_desc(task), il->ch, task->iovs, (int)task->priv_u64[T_DONE],
				    rw.lba, task->data_transferred / il->block_size, sbc_write_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

/*
 * The checks before data-out is taken: range, Block Limits, write protect,
 * then the data the transport received. Data-out shorter than the command's
 * (iSCSI EDTL overflow) writes the whole blocks that arrived and reports the
 * rest as residual (FCP-4 9.4.2 a); a partial block cannot be written and
 * ends the command with INVALID FIELD IN COMMAND INFORMATION UNIT (9.4.2 b).
 * task->data_transferred is then the bytes to write.
 */
static bool
sbc_write_prepare(struct osp_scsi_task *task, struct sbc_rw *rw, uint32_t max_blocks)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t avail;
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
	avail = task->dir == OSP_SCSI_DIR_TO_DEV ? task->transfer_len : 0;
	if (avail < task->data_wanted) {
		if (avail % il->block_size != 0) {
			sbc_bad_xfer(task);
			return false;
		}
		task->data_transferred = avail;
	} else {
		task->data_transferred = task->data_wanted;
	}
	if (task->data_transferred == 0) {
		scsi_task_complete(task);
		return false;
	}
	cnt = sbc_iov_trim(task, task->data_transferred);
	if (cnt < 0) {
		sbc_bad_xfer(task);
		return false;
	}
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

/* ---- WRITE ATOMIC (16) (SBC-4 5.48) ---- */

/*
 * MAXIMUM ATOMIC TRANSFER LENGTH: what goes to the bdev layer as one write
 * that neither this layer nor the bdev layer splits (one bdev buffer's worth,
 * within the module's largest I/O and its split boundary).
 */
uint32_t
scsi_max_atomic_blocks(struct osp_bdev *bdev, uint32_t block_size)
{
	uint32_t n = sbc_piece_blocks(block_size);
	uint32_t max_rw = osp_bdev_get_max_rw_size(bdev);
	uint32_t boundary = osp_bdev_get_optimal_io_boundary(bdev);

	if (max_rw != 0 && max_rw < n) {
		n = max_rw;
	}
	if (boundary != 0 && boundary < n) {
		n = boundary;
	}
	return n;
}

/* ATOMIC ALIGNMENT: a split boundary must not fall inside an atomic write. */
uint32_t
scsi_atomic_align(struct osp_bdev *bdev)
{
	return osp_bdev_get_optimal_io_boundary(bdev);
}

/* The write of WRITE ATOMIC: with the block range locked in the bdev layer. */
static int
sbc_write_atomic_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	rc = osp_bdev_writev_blocks_locked(sbc_desc(task), il->ch, task->iovs,
					   (int)task->priv_u64[T_DONE], rw.lba,
					   task->data_transferred / il->block_size, sbc_write_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

void
scsi_sbc_write_atomic(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct osp_bdev *bdev = task->lun->bdev;
	uint32_t align = scsi_atomic_align(bdev);
	struct sbc_rw rw;

	/* ATOMIC BOUNDARY: MAXIMUM ATOMIC BOUNDARY SIZE is 0, only 0 is valid. */
	if (osp_scsi_get16(&task->cdb[10]) != 0) {
		scsi_task_invalid_cdb(task, 10, -1);
		scsi_task_complete(task);
		return;
	}
	/* With bytes 10-11 zero, the 16-byte decode reads TRANSFER LENGTH (12-13). */
	sbc_decode(task->cdb, &rw);
	rw.len_byte = 12;
	if (align > 1 && rw.nblocks != 0 && rw.lba < il->num_blocks && rw.lba % align != 0) {
		scsi_task_invalid_cdb(task, 2, -1);
		scsi_task_complete(task);
		return;
	}
	if (!sbc_write_prepare(task, &rw, scsi_max_atomic_blocks(bdev, il->block_size))) {
		return;
	}
	if (task->data_transferred != task->data_wanted) {
		/* All or nothing: a short data-out cannot be written in part. */
		task->data_transferred = 0;
		sbc_bad_xfer(task);
		return;
	}
	sbc_start(task, sbc_write_atomic_step, task->priv_u64[T_DONE]);
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
	/*
	 * LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 0: one logical block per
	 * physical block (the bdev API has no physical block size).
	 */
	if (osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP)) {
		d->lbp_lowest[0] = OSP_SCSI_RC16_LBPME;
		if (scsi_bdev_unmap_zeroes(bdev)) {
			d->lbp_lowest[0] |= OSP_SCSI_RC16_LBPRZ;
		}
	}
	scsi_task_data_in(task, d, OSP_MIN(alloc, (uint32_t)sizeof(*d)));
	scsi_task_complete(task);
}


/* ---- VERIFY, WRITE AND VERIFY (SBC-3 5.29-5.34) ---- */

/* BYTCHK (byte 1, bits 2:1): 00b medium only, 01b compare; 10b reserved, 11b unsupported. */
static bool
sbc_check_bytchk(struct osp_scsi_task *task)
{
	uint8_t bytchk = (task->cdb[1] >> 1) & 3;

	if (bytchk > 1) {
		scsi_task_invalid_cdb(task, 1, 2);
		scsi_task_complete(task);
		return false;
	}
	return true;
}

/* The blocks were read: compare them with the data-out (or only check they could be read). */
static void
sbc_verify_finish(struct osp_scsi_task *task)
{
	int64_t diff = -1;

	if (task->priv_u64[T_AUX] != 0) {
		diff = sbc_zread_compare(task, 0);
	}
	sbc_zcopy_release(task);
	if (diff >= 0) {
		/* SBC-3 5.29: INFORMATION is the offset of the first byte that differs. */
		scsi_task_set_sense_ext(task, OSP_SCSI_SK_MISCOMPARE,
					OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY, NULL, true,
					(uint64_t)diff);
	}
	scsi_task_complete(task);
}

static void
sbc_verify_written(struct osp_scsi_task *task)
{
	struct sbc_rw rw;

	sbc_decode(task->cdb, &rw);
	task->priv_u64[T_AUX] = 1;
	sbc_zread(task, rw.lba, task->data_transferred, sbc_verify_finish);
}

void
scsi_sbc_verify(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	bool bytchk = (task->cdb[1] >> 1) & 1;
	struct sbc_rw rw;
	int cnt;

	if (!sbc_check_bytchk(task)) {
		return;
	}
	sbc_decode(task->cdb, &rw);
	rw.flags &= 0xe0;	/* VRPROTECT; DPO and BYTCHK are fine */
	if (!sbc_check_range(task, &rw, scsi_max_xfer_blocks(il->block_size))) {
		scsi_task_complete(task);
		return;
	}
	if (rw.nblocks == 0) {
		scsi_task_complete(task);
		return;
	}
	task->priv_u64[T_AUX] = bytchk;
	if (bytchk) {
		task->data_wanted = rw.nblocks * il->block_size;
		if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len < task->data_wanted) {
			sbc_bad_xfer(task);
			return;
		}
		cnt = sbc_iov_trim(task, task->data_wanted);
		if (cnt < 0) {
			sbc_bad_xfer(task);
			return;
		}
		task->data_transferred = task->data_wanted;
	}
	sbc_zread(task, rw.lba, rw.nblocks * il->block_size, sbc_verify_finish);
}

void
scsi_sbc_write_verify(struct osp_scsi_task *task)
{
	struct sbc_rw rw;

	if (!sbc_check_bytchk(task)) {
		return;
	}
	sbc_decode(task->cdb, &rw);
	rw.flags &= 0xe0;
	if (!sbc_write_prepare(task, &rw, scsi_max_xfer_blocks(scsi_task_itn_lun(task)->block_size))) {
		return;
	}
	sbc_start(task, sbc_writev_step, task->priv_u64[T_DONE]);
}

/* ---- ORWRITE (SBC-3 5.9): read, OR the data-out in, write ---- */

static void
sbc_orwrite_read(struct osp_scsi_task *task)
{
	uint32_t left = (uint32_t)task->priv_u64[T_LEN], n, j, done;
	struct osp_bdev_io **ios;
	size_t off = 0, eoff;
	struct iovec *iov;
	int i, cnt, e, npieces;
	uint8_t *src;

	ios = sbc_pieces(task, &npieces);
	/* The data-out buffers take the OR: they are the command's own until it completes. */
	for (i = 0; i < npieces && left > 0; i++) {
		osp_bdev_io_get_iovec(ios[i], &iov, &cnt);
		n = OSP_MIN(left, (uint32_t)iov[0].iov_len);
		src = iov[0].iov_base;
		for (done = 0; done < n;) {
			e = osp_iov_seek(task->iovs, task->iovcnt, off + done, &eoff);
			if (e >= task->iovcnt) {
				break;
			}
			for (j = 0; j < n - done && eoff + j < task->iovs[e].iov_len; j++) {
				((uint8_t *)task->iovs[e].iov_base)[eoff + j] |= src[done + j];
			}
			done += j;
		}
		off += n;
		left -= n;
	}
	sbc_zcopy_release(task);
	task->priv_u64[T_DONE] = task->priv_u64[T_AUX];
	sbc_next(task, sbc_writev_step);
}

void
scsi_sbc_orwrite(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct sbc_rw rw;

	sbc_decode(task->cdb, &rw);
	if (!sbc_write_prepare(task, &rw, scsi_max_xfer_blocks(il->block_size))) {
		return;
	}
	task->priv_u64[T_AUX] = task->priv_u64[T_DONE];
	/* sbc_writev_step reads the iovec count from T_DONE: restore it after the read. */
	sbc_zread(task, rw.lba, task->data_transferred, sbc_orwrite_read);
}

/* ---- PRE-FETCH (SBC-3 5.8) ---- */

void
scsi_sbc_prefetch(struct osp_scsi_task *task)
{
	struct sbc_rw rw;

	sbc_decode(task->cdb, &rw);
	rw.flags = 0;		/* IMMED */
	if (!sbc_check_range(task, &rw, 0)) {
		scsi_task_complete(task);
		return;
	}
	/* There is no cache to load: GOOD says the blocks were not all cached (SBC-3 5.8). */
	scsi_task_complete(task);
}

/* ---- COMPARE AND WRITE (SBC-3 5.2) ---- */

static void
sbc_caw_located(struct osp_scsi_task *task)
{
	int64_t diff = sbc_zread_compare(task, 0);

	sbc_zcopy_release(task);
	scsi_task_set_sense_ext(task, OSP_SCSI_SK_MISCOMPARE, OSP_SCSI_ASC_MISCOMPARE_DURING_VERIFY,
				NULL, true, diff < 0 ? 0 : (uint64_t)diff);
	task->data_transferred = 0;
	scsi_task_complete(task);
}

static void
sbc_caw_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_task *task = arg;
	int status = success ? 0 : sbc_bdev_status(bdev_io);
	struct sbc_rw rw;

	osp_bdev_free_io(bdev_io);
	if (task->state & SCSI_TASK_ABORTED) {
		sbc_fail(task);
		return;
	}
	if (status == OSP_BDEV_IO_STATUS_MISCOMPARE) {
		/* Where? Read the blocks again and compare (the bdev says only that). */
		sbc_decode(task->cdb, &rw);
		sbc_zread(task, rw.lba, task->data_wanted / 2, sbc_caw_located);
		return;
	}
	if (status != 0) {
		task->priv_u64[T_ERR] = (uint64_t)(int64_t)status;
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
sbc_caw_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct iovec *v = task->priv;
	uint32_t half = task->data_wanted / 2, ncmp, nwr;
	struct sbc_rw rw;
	int rc;

	sbc_decode(task->cdb, &rw);
	ncmp = (uint32_t)(task->priv_u64[T_AUX] & 0xffff);
	nwr = (uint32_t)(task->priv_u64[T_AUX] >> 16);
	(void)half;
	rc = osp_bdev_comparev_and_writev_blocks(sbc_desc(task), il->ch, v, (int)ncmp, v + ncmp,
			(int)nwr, rw.lba, rw.nblocks, sbc_caw_done, task);
	return rc == 0 ? 0 : sbc_submit_failed(task, rc);
}

void
scsi_sbc_compare_and_write(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	size_t maxv = SCSI_EBUF_SIZE / sizeof(struct iovec) / 2;
	struct iovec *v;
	struct sbc_rw rw;
	int ncmp, nwr;

	sbc_decode(task->cdb, &rw);
	if (!sbc_check_range(task, &rw, 0)) {
		scsi_task_complete(task);
		return;
	}
	if (rw.nblocks > SCSI_MAX_CAW_BLOCKS) {
		scsi_task_invalid_cdb(task, 13, -1);
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = 2 * rw.nblocks * il->block_size;
	if (sbc_write_protected(task)) {
		scsi_task_complete(task);
		return;
	}
	if (rw.nblocks == 0) {
		/*
		 * No blocks, but data-out: the count did not fit the one-byte field
		 * (256 wraps to 0); refuse it rather than drop the data silently.
		 */
		if (task->transfer_len != 0) {
			scsi_task_invalid_cdb(task, 13, -1);
		}
		scsi_task_complete(task);
		return;
	}
	/* Exactly the verify and write halves: a longer data-out means another count. */
	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len != task->data_wanted) {
		sbc_bad_xfer(task);
		return;
	}
	/* The verify half and the write half of the data-out, as two iovec lists in an ebuf. */
	v = scsi_task_ebuf(task);
	if (v == NULL) {
		scsi_task_complete(task);
		return;
	}
	ncmp = osp_iov_slice(v, (int)maxv, task->iovs, task->iovcnt, 0, task->data_wanted / 2);
	nwr = osp_iov_slice(v + maxv, (int)maxv, task->iovs, task->iovcnt, task->data_wanted / 2,
			    task->data_wanted / 2);
	if (ncmp <= 0 || nwr <= 0) {
		sbc_bad_xfer(task);
		return;
	}
	memmove(v + ncmp, v + maxv, (size_t)nwr * sizeof(*v));
	task->data_transferred = task->data_wanted;
	task->priv_u64[T_AUX] = (uint64_t)ncmp | (uint64_t)nwr << 16;
	sbc_start(task, sbc_caw_step, 0);
}

/* ---- UNMAP (SBC-3 5.28) ---- */

static void
sbc_unmap_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_task *task = arg;

	if (!success && task->priv_u64[T_ERR] == 0) {
		task->priv_u64[T_ERR] = (uint64_t)(int64_t)sbc_bdev_status(bdev_io);
	}
	osp_bdev_free_io(bdev_io);
	task->priv_u64[T_PENDING]--;
	if (task->priv_u64[T_PENDING] != 0 || task->state & SCSI_TASK_IOWAIT) {
		return;
	}
	if (task->priv_u64[T_ERR] != 0 || task->state & SCSI_TASK_ABORTED) {
		sbc_fail(task);
		return;
	}
	if (task->priv_u64[T_DONE] == task->priv_u64[T_AUX]) {
		scsi_task_complete(task);
	}
}

/* Submit the unmaps of the descriptors in the ebuf, T_DONE onwards. */
static int
sbc_unmap_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	const struct osp_scsi_unmap_desc *d = (const struct osp_scsi_unmap_desc *)
					      ((uint8_t *)task->priv + 8);
	uint64_t i;
	uint32_t n;
	int rc;

	for (i = task->priv_u64[T_DONE]; i < task->priv_u64[T_AUX]; i++) {
		if (task->state & SCSI_TASK_ABORTED || task->priv_u64[T_ERR] != 0) {
			break;
		}
		n = osp_scsi_get32(d[i].num_blocks);
		if (n != 0) {
			rc = osp_bdev_unmap_blocks(sbc_desc(task), il->ch, osp_scsi_get64(d[i].lba), n,
						   sbc_unmap_done, task);
			if (rc == -ENOMEM) {
				return rc;
			}
			if (rc != 0) {
				task->priv_u64[T_ERR] = (uint64_t)(int64_t)rc;
				break;
			}
			task->priv_u64[T_PENDING]++;
		}
		task->priv_u64[T_DONE] = i + 1;
	}
	if (task->priv_u64[T_PENDING] == 0) {
		if (task->priv_u64[T_ERR] != 0 || task->state & SCSI_TASK_ABORTED) {
			sbc_fail(task);
		} else {
			scsi_task_complete(task);
		}
	}
	return 0;
}

void
scsi_sbc_unmap(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t plen = osp_scsi_get16(&task->cdb[7]), dlen, ndesc, i, n;
	const struct osp_scsi_unmap_desc *d;
	uint64_t lba;
	uint8_t *p;

	if (!osp_bdev_io_type_supported(task->lun->bdev, OSP_BDEV_IO_TYPE_UNMAP)) {
		/* LBPU 0 in the Logical Block Provisioning page. */
		scsi_task_invalid_opcode(task);
		scsi_task_complete(task);
		return;
	}
	if (task->cdb[1] & 0x01) {
		/* ANCHOR: anchored blocks are not supported (ANC_SUP 0). */
		scsi_task_invalid_cdb(task, 1, 0);
		scsi_task_complete(task);
		return;
	}
	if (sbc_write_protected(task)) {
		scsi_task_complete(task);
		return;
	}
	if (plen == 0) {
		scsi_task_complete(task);
		return;
	}
	if (plen < 8) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = plen;
	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len < plen) {
		sbc_bad_xfer(task);
		return;
	}
	if (plen > 8 + SCSI_MAX_UNMAP_DESC * sizeof(*d)) {
		/* More descriptors than Block Limits allows, whatever the header says. */
		plen = 8 + SCSI_MAX_UNMAP_DESC * sizeof(*d) + sizeof(*d);
		if (plen > SCSI_EBUF_SIZE) {
			plen = SCSI_EBUF_SIZE;
		}
	}
	p = scsi_task_ebuf(task);
	if (p == NULL) {
		scsi_task_complete(task);
		return;
	}
	scsi_task_data_out(task, p, plen);
	task->data_transferred = task->data_wanted;
	dlen = osp_scsi_get16(&p[2]);
	if (osp_scsi_get16(&p[0]) < 6 || dlen > plen - 8) {
		/* The lengths in the header disagree with the list's. */
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	ndesc = dlen / sizeof(*d);
	if (ndesc > SCSI_MAX_UNMAP_DESC) {
		scsi_task_invalid_param(task, 2, -1);
		scsi_task_complete(task);
		return;
	}
	/* Check every descriptor before unmapping anything. */
	d = (const struct osp_scsi_unmap_desc *)(p + 8);
	for (i = 0; i < ndesc; i++) {
		lba = osp_scsi_get64(d[i].lba);
		n = osp_scsi_get32(d[i].num_blocks);
		if (lba > il->num_blocks || n > il->num_blocks - lba) {
			scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
			scsi_task_complete(task);
			return;
		}
		if (n > SCSI_MAX_UNMAP_BLOCKS) {
			scsi_task_invalid_param(task, (int)(8 + i * sizeof(*d) + 8), -1);
			scsi_task_complete(task);
			return;
		}
	}
	task->priv_u64[T_AUX] = ndesc;
	sbc_start(task, sbc_unmap_step, 0);
}

/* ---- WRITE SAME (SBC-3 5.41, 5.42) ---- */

#define WS_UNMAP	1
#define WS_ZEROES	2

/*
 * WRITE SAME's range: a NUMBER OF LOGICAL BLOCKS of 0 means from the LBA to
 * the last block (SBC-3 5.41, WSNZ 0 in Block Limits).
 */
static void
sbc_ws_decode(struct osp_scsi_task *task, struct sbc_rw *rw)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);

	sbc_decode(task->cdb, rw);
	if (rw->nblocks == 0 && rw->lba < il->num_blocks &&
	    il->num_blocks - rw->lba <= SCSI_MAX_WRITE_SAME_BLOCKS) {
		rw->nblocks = (uint32_t)(il->num_blocks - rw->lba);
	}
}

static void
sbc_ws_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
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
	sbc_step_run(task);
}

/*
 * One piece of the WRITE SAME per step: an unmap or write zeroes of the
 * whole range, or writes of the block repeated through an iovec list in the
 * ebuf (the block itself stays in the transport's buffers).
 */
static int
sbc_ws_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t kind = (uint32_t)(task->priv_u64[T_AUX] & 0xff);
	uint32_t per_blk = (uint32_t)(task->priv_u64[T_AUX] >> 8 & 0xffff);
	uint32_t per_io = (uint32_t)(task->priv_u64[T_AUX] >> 24);
	uint64_t done = task->priv_u64[T_DONE], n;
	struct sbc_rw rw;
	int rc;

	sbc_ws_decode(task, &rw);
	if (done >= rw.nblocks) {
		if (sbc_needs_flush(task, &rw)) {
			sbc_next(task, sbc_flush_step);
		} else {
			scsi_task_complete(task);
		}
		return 0;
	}
	if (kind == WS_UNMAP || kind == WS_ZEROES) {
		n = rw.nblocks;
		rc = kind == WS_UNMAP ?
		     osp_bdev_unmap_blocks(sbc_desc(task), il->ch, rw.lba, n, sbc_ws_done, task) :
		     osp_bdev_write_zeroes_blocks(sbc_desc(task), il->ch, rw.lba, n, sbc_ws_done, task);
	} else {
		n = OSP_MIN((uint64_t)per_io, rw.nblocks - done);
		rc = osp_bdev_writev_blocks(sbc_desc(task), il->ch, task->priv, (int)(n * per_blk),
					    rw.lba + done, n, sbc_ws_done, task);
	}
	if (rc != 0) {
		return sbc_submit_failed(task, rc);
	}
	task->priv_u64[T_DONE] = done + n;
	return 0;
}

void
scsi_sbc_write_same(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct osp_bdev *bdev = task->lun->bdev;
	bool ndob = task->cdb[0] == OSP_SCSI_WRITE_SAME_16 && (task->cdb[1] & 0x01);
	bool unmap = task->cdb[1] & 0x08, zero;
	uint32_t bs = il->block_size, kind, per_blk, per_io;
	size_t maxv = SCSI_EBUF_SIZE / sizeof(struct iovec), off;
	struct iovec blk[16], *v;
	struct sbc_rw rw;
	int nblk, i;

	sbc_ws_decode(task, &rw);
	if (task->cdb[1] & 0x10) {
		/* ANCHOR: anchored blocks are not supported (ANC_SUP 0). */
		scsi_task_invalid_cdb(task, 1, 4);
		scsi_task_complete(task);
		return;
	}
	if (unmap && !osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP)) {
		/* LBPWS/LBPWS10 are 0 without unmap. */
		scsi_task_invalid_cdb(task, 1, 3);
		scsi_task_complete(task);
		return;
	}
	rw.flags &= 0xe0;
	if (!sbc_check_range(task, &rw, SCSI_MAX_WRITE_SAME_BLOCKS)) {
		scsi_task_complete(task);
		return;
	}
	if (rw.nblocks == 0) {
		/*
		 * 0 (to the end) left as it was: the LBA is past the last block, or
		 * the rest of the LUN is more than MAXIMUM WRITE SAME LENGTH.
		 */
		if (osp_scsi_get64(&task->cdb[2]) >= il->num_blocks ||
		    (task->cdb[0] == OSP_SCSI_WRITE_SAME_10 && osp_scsi_get32(&task->cdb[2]) >= il->num_blocks)) {
			scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		} else {
			scsi_task_invalid_cdb(task, rw.len_byte, -1);
		}
		scsi_task_complete(task);
		return;
	}
	if (sbc_write_protected(task)) {
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = ndob ? 0 : bs;
	/* The data-out is one block, exactly (none with NDOB). */
	if (ndob ? task->transfer_len != 0 && task->dir == OSP_SCSI_DIR_TO_DEV :
	    (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len != bs || task->iovcnt <= 0)) {
		sbc_bad_xfer(task);
		return;
	}
	task->data_transferred = task->data_wanted;
	zero = ndob;
	if (!ndob) {
		nblk = osp_iov_slice(blk, (int)OSP_COUNTOF(blk), task->iovs, task->iovcnt, 0, bs);
		if (nblk <= 0) {
			/* The block is scattered over more iovecs than this takes. */
			sbc_bad_xfer(task);
			return;
		}
		zero = true;
		for (i = 0; i < nblk && zero; i++) {
			for (off = 0; off < blk[i].iov_len; off++) {
				if (((const uint8_t *)blk[i].iov_base)[off] != 0) {
					zero = false;
					break;
				}
			}
		}
		per_blk = (uint32_t)nblk;
	} else {
		per_blk = 0;
	}
	/*
	 * UNMAP 1 asks for the blocks to be unmapped (SBC-3 5.45, 4.7.3.4.3),
	 * whatever the data-out block holds: they then read back as LBPRZ says.
	 */
	if (unmap) {
		kind = WS_UNMAP;
	} else if (zero) {
		kind = WS_ZEROES;
	} else {
		kind = 0;
	}
	per_io = 0;
	if (kind == 0) {
		v = scsi_task_ebuf(task);
		if (v == NULL) {
			scsi_task_complete(task);
			return;
		}
		per_io = (uint32_t)(maxv / per_blk);
		for (i = 0; i < (int)(per_io * per_blk); i++) {
			v[i] = blk[i % per_blk];
		}
	}
	task->priv_u64[T_AUX] = kind | (uint64_t)per_blk << 8 | (uint64_t)per_io << 24;
	sbc_start(task, sbc_ws_step, 0);
}

/* ---- GET LBA STATUS (SBC-3 5.7) ---- */

void
scsi_sbc_get_lba_status(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint64_t lba = osp_scsi_get64(&task->cdb[2]), n;
	uint32_t alloc = osp_scsi_get32(&task->cdb[10]);
	struct osp_scsi_lba_status_desc *d;
	uint8_t *buf;

	if (lba >= il->num_blocks) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LBA_OUT_OF_RANGE);
		scsi_task_complete(task);
		return;
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	/*
	 * The bdev layer does not tell which blocks are allocated: one extent to
	 * the end, reported mapped (a read returns what was written, or zeroes).
	 */
	n = OSP_MIN(il->num_blocks - lba, (uint64_t)UINT32_MAX);
	osp_scsi_put32(buf, 4 + sizeof(*d));
	d = (struct osp_scsi_lba_status_desc *)&buf[8];
	osp_scsi_put64(d->lba, lba);
	osp_scsi_put32(d->num_blocks, (uint32_t)n);
	d->status = 0;
	scsi_task_data_in(task, buf, OSP_MIN(alloc, (uint32_t)(8 + sizeof(*d))));
	scsi_task_complete(task);
}

/* ---- READ DEFECT DATA 10/12 (SBC-3 5.12, 5.13) ---- */

/*
 * There is no medium to have defects: the header alone, with an empty list
 * in the format asked for, PLISTV/GLISTV echoing REQ_PLIST/REQ_GLIST (the
 * lists asked for are valid, and empty).
 */
void
scsi_sbc_read_defect_data(struct osp_scsi_task *task)
{
	bool ten = task->cdb[0] == OSP_SCSI_READ_DEFECT_DATA_10;
	uint8_t req = ten ? task->cdb[2] : task->cdb[1];
	uint32_t alloc = ten ? osp_scsi_get16(&task->cdb[7]) : osp_scsi_get32(&task->cdb[6]);
	uint8_t *buf;

	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	memset(buf, 0, 8);
	buf[1] = req & 0x1f;	/* PLISTV 4, GLISTV 3, DEFECT LIST FORMAT 2:0 */
	/* DEFECT LIST LENGTH 0 (bytes 2-3; 12: generation code 2-3, 0 = not supported, length 4-7). */
	scsi_task_data_in(task, buf, OSP_MIN(alloc, ten ? 4u : 8u));
	scsi_task_complete(task);
}

/*
 * ---- EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 6.4, 6.21) ----
 *
 * The copy manager copies between logical units named by identification
 * CSCD descriptors (E4h, the NAA designator of VPD page 83h), with block
 * device to block device segment descriptors (02h). This one copies within
 * the addressed LU: a CSCD naming another LU is unreachable. The whole
 * parameter list is checked before anything is copied; each segment is then
 * copied in pieces of one bdev buffer (read into the bdev's buffer, written
 * from it). The copy's state and the descriptors live in the task's ebuf.
 */

#define XC_HDR		16
#define XC_CSCD_LEN	32
#define XC_SEG_LEN	28	/* block to block: 4-byte header + DESCRIPTOR LENGTH 18h */

struct xc_state {
	uint32_t nsegs;
	uint32_t seg;		/* segment being copied */
	uint32_t done;		/* its blocks copied */
	uint32_t piece;		/* blocks of the piece in flight */
	uint64_t bytes;		/* copied so far */
	uint8_t list_id;
	uint8_t usage;		/* LIST ID USAGE */
	uint8_t segs[SCSI_XCOPY_MAX_SEGS][XC_SEG_LEN];
};
OSP_STATIC_ASSERT(sizeof(struct xc_state) <= SCSI_EBUF_SIZE, "copy state fits an ebuf");

static struct xc_state *
xc_state(struct osp_scsi_task *task)
{
	return task->priv;
}

static void
xc_hold(struct osp_scsi_task *task, uint8_t status)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct xc_state *x = xc_state(task);
	struct scsi_xcopy_held *h = NULL;
	int i;

	if (x->usage != 0) {
		return;		/* 10b, 11b: nothing held for RECEIVE COPY RESULTS */
	}
	for (i = 0; i < SCSI_XCOPY_HELD; i++) {
		if (il->xc_held[i].used && il->xc_held[i].list_id == x->list_id) {
			h = &il->xc_held[i];
			break;
		}
	}
	for (i = 0; h == NULL && i < SCSI_XCOPY_HELD; i++) {
		if (!il->xc_held[i].used) {
			h = &il->xc_held[i];
		}
	}
	if (h == NULL) {
		/* No room: the oldest held data goes (SPC-4 6.21.1 lets it be discarded). */
		memmove(&il->xc_held[0], &il->xc_held[1],
			sizeof(il->xc_held[0]) * (SCSI_XCOPY_HELD - 1));
		h = &il->xc_held[SCSI_XCOPY_HELD - 1];
	}
	h->used = true;
	h->list_id = x->list_id;
	h->status = status;
	h->segments = (uint16_t)(status == 0x01 ? x->nsegs : x->seg);
	h->bytes = x->bytes;
}

/* COPY ABORTED, with a field pointer into the parameter list (byte < 0: none). */
static void
xc_abort(struct osp_scsi_task *task, uint16_t asc, int byte)
{
	uint8_t sks[3];

	if (byte < 0) {
		scsi_task_sense(task, OSP_SCSI_SK_COPY_ABORTED, asc);
		return;
	}
	sks[0] = OSP_SCSI_SKS_VALID;
	osp_scsi_put16(&sks[1], (uint16_t)byte);
	scsi_task_set_sense_ext(task, OSP_SCSI_SK_COPY_ABORTED, asc, sks, false, 0);
}

static void xc_next_piece(struct osp_scsi_task *task);

static void
xc_end(struct osp_scsi_task *task, bool ok)
{
	xc_hold(task, ok ? 0x01 : 0x02);
	scsi_task_complete(task);
}

static void
xc_write_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_task *task = arg;
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct xc_state *x = xc_state(task);

	if (!success) {
		sbc_set_io_error(task, sbc_bdev_status(bdev_io), true);
	}
	osp_bdev_free_io(bdev_io);
	sbc_zcopy_release(task);
	if (!success || task->state & SCSI_TASK_ABORTED) {
		xc_end(task, false);
		return;
	}
	x->done += x->piece;
	x->bytes += (uint64_t)x->piece * il->block_size;
	xc_next_piece(task);
}

/* The piece is in the bdev's buffer: write it to the destination. */
static int
xc_write_step(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct xc_state *x = xc_state(task);
	struct osp_bdev_io **ios;
	struct iovec *iov;
	int cnt, npieces, rc;

	ios = sbc_pieces(task, &npieces);
	osp_bdev_io_get_iovec(ios[0], &iov, &cnt);
	rc = osp_bdev_writev_blocks(sbc_desc(task), il->ch, iov, cnt,
				    osp_scsi_get64(&x->segs[x->seg][20]) + x->done, x->piece,
				    xc_write_done, task);
	if (rc != 0) {
		if (rc == -ENOMEM) {
			return rc;
		}
		sbc_set_io_error(task, rc, true);
		sbc_zcopy_release(task);
		xc_end(task, false);
	}
	return 0;
}

static void
xc_read_done(struct osp_scsi_task *task)
{
	sbc_next(task, xc_write_step);
}

static void
xc_next_piece(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	struct xc_state *x = xc_state(task);

	while (x->seg < x->nsegs && x->done >= osp_scsi_get16(&x->segs[x->seg][10])) {
		x->seg++;
		x->done = 0;
	}
	if (x->seg >= x->nsegs || task->state & SCSI_TASK_ABORTED) {
		xc_end(task, x->seg >= x->nsegs);
		return;
	}
	x->piece = OSP_MIN(osp_scsi_get16(&x->segs[x->seg][10]) - x->done,
			   sbc_piece_blocks(il->block_size));
	sbc_zread(task, osp_scsi_get64(&x->segs[x->seg][12]) + x->done,
		  x->piece * il->block_size, xc_read_done);
}

/* Does the CSCD descriptor at d name this LU (its NAA designator, any code set)? */
static bool
xc_cscd_is_lu(struct osp_scsi_task *task, const uint8_t *d)
{
	uint8_t naa[16];

	scsi_lun_naa(task->lun->bdev, naa);
	return (d[5] & 0x0f) == OSP_SCSI_DESIG_NAA && (d[5] >> 4 & 3) == OSP_SCSI_ASSOC_LU &&
	       d[7] == sizeof(naa) && memcmp(&d[8], naa, sizeof(naa)) == 0;
}

void
scsi_sbc_extended_copy(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t plen = osp_scsi_get32(&task->cdb[10]), cscd_len, seg_len, inl_len;
	uint32_t ncscd, nsegs, off, dlen, i, src, dst, n;
	uint8_t hdr[XC_HDR], list[SCSI_XCOPY_MAX_LIST], *d;
	struct xc_state *x;
	int at;

	if (plen == 0) {
		/* No parameter list: nothing to do, not an error (SPC-4 6.4.1). */
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = plen;
	if (plen < XC_HDR) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len < plen) {
		sbc_bad_xfer(task);
		return;
	}
	task->data_transferred = plen;
	osp_iov_copy_to_buf(hdr, XC_HDR, task->iovs, task->iovcnt, 0);
	cscd_len = osp_scsi_get16(&hdr[2]);
	seg_len = osp_scsi_get32(&hdr[8]);
	inl_len = osp_scsi_get32(&hdr[12]);
	/* The lists must be in the data sent, and within MAXIMUM DESCRIPTOR LIST LENGTH. */
	if ((uint64_t)XC_HDR + cscd_len + seg_len + inl_len > plen ||
	    (uint64_t)cscd_len + seg_len > SCSI_XCOPY_MAX_LIST) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	if (((hdr[1] >> 3) & 3) == 1) {
		/* LIST ID USAGE 01b is reserved. */
		scsi_task_invalid_param(task, 1, 4);
		scsi_task_complete(task);
		return;
	}
	if (inl_len != 0) {
		/* No segment descriptor type that takes inline data is supported. */
		scsi_task_invalid_param(task, 12, -1);
		scsi_task_complete(task);
		return;
	}
	osp_iov_copy_to_buf(list, cscd_len + seg_len, task->iovs, task->iovcnt, XC_HDR);
	/* CSCD descriptors: 32 bytes each; count, then type. */
	if (cscd_len % XC_CSCD_LEN != 0) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	ncscd = cscd_len / XC_CSCD_LEN;
	if (ncscd > SCSI_XCOPY_MAX_CSCD) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_TOO_MANY_TARGET_DESCRIPTORS);
		scsi_task_complete(task);
		return;
	}
	/* Segment descriptors: variable length (DESCRIPTOR LENGTH + 4). */
	for (nsegs = 0, off = cscd_len; off < cscd_len + seg_len; nsegs++) {
		if (off + 4 > cscd_len + seg_len) {
			break;
		}
		dlen = osp_scsi_get16(&list[off + 2]) + 4u;
		off += dlen;
	}
	if (off != cscd_len + seg_len) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	if (nsegs > SCSI_XCOPY_MAX_SEGS) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_TOO_MANY_SEGMENT_DESCRIPTORS);
		scsi_task_complete(task);
		return;
	}
	for (i = 0; i < ncscd; i++) {
		d = &list[i * XC_CSCD_LEN];
		at = (int)(XC_HDR + i * XC_CSCD_LEN);
		if (d[0] != OSP_SCSI_XCOPY_CSCD_IDENT) {
			scsi_task_param_sense(task, OSP_SCSI_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE, at);
			scsi_task_complete(task);
			return;
		}
		if ((d[1] & 0x1f) != OSP_SCSI_TYPE_DISK) {
			/* Only block devices (PERIPHERAL DEVICE TYPE 00h). */
			scsi_task_invalid_param(task, at + 1, 4);
			scsi_task_complete(task);
			return;
		}
		if (osp_scsi_get24(&d[29]) != il->block_size) {
			/* DISK BLOCK LENGTH of the block device parameters. */
			scsi_task_invalid_param(task, at + 29, -1);
			scsi_task_complete(task);
			return;
		}
	}
	for (i = 0, off = cscd_len; i < nsegs; i++, off += XC_SEG_LEN) {
		d = &list[off];
		at = (int)(XC_HDR + off);
		if (d[0] != OSP_SCSI_XCOPY_SEG_BLOCK_TO_BLOCK) {
			scsi_task_param_sense(task, OSP_SCSI_ASC_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE, at);
			scsi_task_complete(task);
			return;
		}
		if (osp_scsi_get16(&d[2]) != XC_SEG_LEN - 4) {
			scsi_task_invalid_param(task, at + 2, -1);
			scsi_task_complete(task);
			return;
		}
	}
	/* Each segment: CSCDs that exist and are this LU, blocks within it. */
	for (i = 0, off = cscd_len; i < nsegs; i++, off += XC_SEG_LEN) {
		d = &list[off];
		at = (int)(XC_HDR + off);
		src = osp_scsi_get16(&d[4]);
		dst = osp_scsi_get16(&d[6]);
		if (src >= ncscd || dst >= ncscd) {
			/* No such CSCD descriptor: the copy target cannot be reached. */
			xc_abort(task, OSP_SCSI_ASC_UNREACHABLE_COPY_TARGET, src >= ncscd ? at + 4 : at + 6);
			scsi_task_complete(task);
			return;
		}
		if (!xc_cscd_is_lu(task, &list[src * XC_CSCD_LEN]) ||
		    !xc_cscd_is_lu(task, &list[dst * XC_CSCD_LEN])) {
			xc_abort(task, OSP_SCSI_ASC_UNREACHABLE_COPY_TARGET, -1);
			scsi_task_complete(task);
			return;
		}
		/*
		 * Blocks past the end of the source or destination: COPY ABORTED
		 * (the copy target's LBA OUT OF RANGE is not passed on), the field
		 * pointer at the LBA that does not fit.
		 */
		n = osp_scsi_get16(&d[10]);
		if (osp_scsi_get64(&d[12]) > il->num_blocks || n > il->num_blocks - osp_scsi_get64(&d[12])) {
			xc_abort(task, OSP_SCSI_ASC_NO_ADDITIONAL_SENSE, at + 12);
			scsi_task_complete(task);
			return;
		}
		if (osp_scsi_get64(&d[20]) > il->num_blocks || n > il->num_blocks - osp_scsi_get64(&d[20])) {
			xc_abort(task, OSP_SCSI_ASC_NO_ADDITIONAL_SENSE, at + 20);
			scsi_task_complete(task);
			return;
		}
	}
	if (sbc_write_protected(task)) {
		scsi_task_complete(task);
		return;
	}
	x = scsi_task_ebuf(task);
	if (x == NULL) {
		scsi_task_complete(task);
		return;
	}
	x->nsegs = nsegs;
	x->list_id = hdr[0];
	x->usage = (hdr[1] >> 3) & 3;
	memcpy(x->segs, &list[cscd_len], (size_t)nsegs * XC_SEG_LEN);
	xc_next_piece(task);
}

void
scsi_sbc_receive_copy_results(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint32_t alloc = osp_scsi_get32(&task->cdb[10]);
	struct scsi_xcopy_held *h = NULL;
	uint8_t *buf;
	int i;

	if ((task->cdb[1] & 0x1f) == OSP_SCSI_RCR_COPY_STATUS) {
		for (i = 0; i < SCSI_XCOPY_HELD; i++) {
			if (il->xc_held[i].used && il->xc_held[i].list_id == task->cdb[2]) {
				h = &il->xc_held[i];
			}
		}
		if (h == NULL) {
			/* No copy with this LIST IDENTIFIER (SPC-4 6.21.3). */
			scsi_task_invalid_cdb(task, 2, -1);
			scsi_task_complete(task);
			return;
		}
	}
	buf = scsi_task_ebuf(task);
	if (buf == NULL) {
		scsi_task_complete(task);
		return;
	}
	if (h != NULL) {
		osp_scsi_put32(&buf[0], 8);		/* AVAILABLE DATA */
		buf[4] = h->status;			/* HDD 0, COPY MANAGER STATUS */
		osp_scsi_put16(&buf[5], h->segments);
		if (h->bytes <= UINT32_MAX) {
			buf[7] = 0x00;			/* TRANSFER COUNT in bytes */
			osp_scsi_put32(&buf[8], (uint32_t)h->bytes);
		} else {
			buf[7] = 0xf1;			/* in KiB */
			osp_scsi_put32(&buf[8], (uint32_t)OSP_MIN(h->bytes >> 10, UINT32_MAX));
		}
		/* The copy is over: its held data goes once reported (SPC-4 6.21.3). */
		h->used = false;
		scsi_task_data_in(task, buf, OSP_MIN(alloc, 12u));
		scsi_task_complete(task);
		return;
	}
	/* OPERATING PARAMETERS (SPC-4 6.21.4). */
	buf[4] = 0x01;					/* SNLID: LIST ID USAGE 11b supported */
	osp_scsi_put16(&buf[8], SCSI_XCOPY_MAX_CSCD);
	osp_scsi_put16(&buf[10], SCSI_XCOPY_MAX_SEGS);
	osp_scsi_put32(&buf[12], SCSI_XCOPY_MAX_LIST);
	osp_scsi_put32(&buf[16], (uint32_t)OSP_MIN((uint64_t)UINT16_MAX * il->block_size, UINT32_MAX));
	osp_scsi_put32(&buf[20], 0);			/* MAXIMUM INLINE DATA LENGTH */
	osp_scsi_put32(&buf[24], 0);			/* HELD DATA LIMIT: no RECEIVE DATA */
	osp_scsi_put16(&buf[34], 1);			/* TOTAL CONCURRENT COPIES */
	buf[36] = 1;					/* MAXIMUM CONCURRENT COPIES */
	buf[37] = (uint8_t)osp_u32log2(il->block_size);	/* DATA SEGMENT GRANULARITY */
	buf[43] = 2;					/* IMPLEMENTED DESCRIPTOR LIST LENGTH */
	buf[44] = OSP_SCSI_XCOPY_SEG_BLOCK_TO_BLOCK;
	buf[45] = OSP_SCSI_XCOPY_CSCD_IDENT;
	osp_scsi_put32(&buf[0], 46 - 4);
	scsi_task_data_in(task, buf, OSP_MIN(alloc, 46u));
	scsi_task_complete(task);
}

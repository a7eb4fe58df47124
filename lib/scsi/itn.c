/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I_T nexus: the per-thread side of a SCSI device. Opening and closing a
 * nexus, command admission (LUN lookup, unit attentions, reservation
 * conflicts), task completion, sense data, emulation buffers, task
 * management, and the message plumbing between the owner and the nexuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"

#include "scsi_internal.h"

/* ---- sense ---- */

void
scsi_task_set_sense_ext(struct osp_scsi_task *task, uint8_t sk, uint16_t asc,
			const uint8_t *sks, bool info_valid, uint64_t info)
{
	struct scsi_itn_lun *il = scsi_task_itn_lun(task);
	uint8_t *s = task->sense;
	bool desc = il != NULL && (il->mode.control.flags2 & OSP_SCSI_CONTROL_D_SENSE);
	uint8_t len;

	memset(s, 0, 64);
	task->status = OSP_SCSI_STATUS_CHECK_CONDITION;
	if (desc) {
		/* Descriptor format (SPC-4 4.5.2). */
		s[0] = OSP_SCSI_SENSE_DESC_CURRENT;
		s[1] = sk & 0xf;
		s[2] = OSP_SCSI_ASC(asc);
		s[3] = OSP_SCSI_ASCQ(asc);
		len = 8;
		if (info_valid) {
			s[len] = 0x00;		/* information descriptor */
			s[len + 1] = 0x0a;
			s[len + 2] = 0x80;	/* VALID */
			osp_scsi_put64(&s[len + 4], info);
			len += 12;
		}
		if (sks != NULL) {
			s[len] = 0x02;		/* sense key specific descriptor */
			s[len + 1] = 0x06;
			memcpy(&s[len + 4], sks, 3);
			len += 8;
		}
		s[7] = (uint8_t)(len - 8);
		task->sense_len = len;
		return;
	}
	s[0] = OSP_SCSI_SENSE_FIXED_CURRENT;
	if (info_valid && info <= UINT32_MAX) {
		s[0] |= OSP_SCSI_SENSE_VALID;
		osp_scsi_put32(&s[3], (uint32_t)info);
	}
	s[2] = sk & 0xf;
	s[7] = 10;
	s[12] = OSP_SCSI_ASC(asc);
	s[13] = OSP_SCSI_ASCQ(asc);
	if (sks != NULL) {
		memcpy(&s[15], sks, 3);
	}
	task->sense_len = 18;
}

void
osp_scsi_task_set_sense(struct osp_scsi_task *task, uint8_t sk, uint8_t asc, uint8_t ascq)
{
	scsi_task_set_sense_ext(task, sk, (uint16_t)(asc << 8 | ascq), NULL, false, 0);
}

static void
scsi_task_field_pointer(struct osp_scsi_task *task, uint16_t asc, bool cdb, int byte, int bit)
{
	uint8_t sks[3];

	if (byte < 0) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, asc);
		return;
	}
	sks[0] = OSP_SCSI_SKS_VALID | (cdb ? OSP_SCSI_SKS_CD : 0);
	if (bit >= 0) {
		sks[0] |= OSP_SCSI_SKS_BPV | (uint8_t)(bit & 7);
	}
	osp_scsi_put16(&sks[1], (uint16_t)byte);
	scsi_task_set_sense_ext(task, OSP_SCSI_SK_ILLEGAL_REQUEST, asc, sks, false, 0);
}

void
scsi_task_invalid_cdb(struct osp_scsi_task *task, int byte, int bit)
{
	scsi_task_field_pointer(task, OSP_SCSI_ASC_INVALID_FIELD_IN_CDB, true, byte, bit);
}

void
scsi_task_invalid_param(struct osp_scsi_task *task, int byte, int bit)
{
	scsi_task_field_pointer(task, OSP_SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST, false, byte, bit);
}

void
scsi_task_param_sense(struct osp_scsi_task *task, uint16_t asc, int byte)
{
	scsi_task_field_pointer(task, asc, false, byte, -1);
}

void
scsi_task_invalid_opcode(struct osp_scsi_task *task)
{
	/* The field pointer names byte 0: the operation code itself. */
	scsi_task_field_pointer(task, OSP_SCSI_ASC_INVALID_COMMAND_OPCODE, true, 0, -1);
}

/* ---- tasks ---- */

void
osp_scsi_task_init(struct osp_scsi_task *task, osp_scsi_task_cpl cpl_fn, void *cb_arg)
{
	memset(task, 0, sizeof(*task));
	task->iovs = task->iov_inline;
	task->cpl_fn = cpl_fn;
	task->cb_arg = cb_arg;
}

struct scsi_itn_lun *
scsi_task_itn_lun(struct osp_scsi_task *task)
{
	if (task->itn == NULL || task->lun == NULL) {
		return NULL;
	}
	return &task->itn->luns[task->lun->id];
}

void *
scsi_task_ebuf(struct osp_scsi_task *task)
{
	struct osp_scsi_itn *itn = task->itn;
	void *buf;

	if (task->state & SCSI_TASK_EBUF) {
		memset(task->priv, 0, SCSI_EBUF_SIZE);
		return task->priv;
	}
	if (itn->nebuf_free > 0) {
		buf = itn->ebufs[--itn->nebuf_free];
	} else if (itn->nebuf < SCSI_EBUF_MAX) {
		/* Grown on demand: most nexuses never run many emulated commands at once. */
		buf = aligned_alloc(4096, SCSI_EBUF_SIZE);
		if (buf == NULL) {
			task->status = OSP_SCSI_STATUS_BUSY;
			return NULL;
		}
		itn->nebuf++;
	} else {
		task->status = OSP_SCSI_STATUS_BUSY;
		return NULL;
	}
	memset(buf, 0, SCSI_EBUF_SIZE);
	task->priv = buf;
	task->state |= SCSI_TASK_EBUF;
	return buf;
}

static void
scsi_task_ebuf_put(struct osp_scsi_task *task)
{
	struct osp_scsi_itn *itn = task->itn;

	if (!(task->state & SCSI_TASK_EBUF)) {
		return;
	}
	task->state &= ~SCSI_TASK_EBUF;
	if (itn->nebuf_free < SCSI_EBUF_MAX) {
		itn->ebufs[itn->nebuf_free++] = task->priv;
	} else {
		free(task->priv);
	}
	task->priv = NULL;
}

void
scsi_task_data_in(struct osp_scsi_task *task, const void *buf, uint32_t len)
{
	uint32_t n = OSP_MIN(len, task->transfer_len);

	task->data_wanted = len;
	if (task->dir != OSP_SCSI_DIR_FROM_DEV) {
		n = 0;
	}
	if (task->iovcnt > 0) {
		n = (uint32_t)osp_iov_copy_from_buf(buf, n, task->iovs, task->iovcnt, 0);
	} else if (n > 0) {
		task->iov_inline[0].iov_base = (void *)(uintptr_t)buf;
		task->iov_inline[0].iov_len = n;
		task->iovs = task->iov_inline;
		task->iovcnt = 1;
	}
	task->data_transferred = n;
}

uint32_t
scsi_task_data_out(struct osp_scsi_task *task, void *buf, uint32_t len)
{
	uint32_t n = OSP_MIN(len, task->transfer_len);

	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->iovcnt <= 0) {
		return 0;
	}
	n = (uint32_t)osp_iov_copy_to_buf(buf, n, task->iovs, task->iovcnt, 0);
	task->data_transferred = n;
	return n;
}

static void scsi_itn_tmf_check(struct osp_scsi_itn *itn);
static void scsi_itn_lun_drained(struct osp_scsi_itn *itn, struct scsi_itn_lun *il);

/* A task stops counting against its LUN (completed, or put when it held a bdev_io). */
static void
scsi_task_lun_release(struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il;

	if (task->state & SCSI_TASK_NOLUN) {
		return;
	}
	task->state |= SCSI_TASK_NOLUN;
	il = scsi_task_itn_lun(task);
	if (il == NULL) {
		return;
	}
	il->ntasks--;
	if (il->draining && il->ntasks == 0) {
		scsi_itn_lun_drained(task->itn, il);
	}
}

void
scsi_task_complete(struct osp_scsi_task *task)
{
	struct osp_scsi_itn *itn = task->itn;
	bool aborted = task->state & SCSI_TASK_ABORTED;

	if (aborted) {
		task->status = OSP_SCSI_STATUS_TASK_ABORTED;
		task->sense_len = 0;
		itn->naborted--;
	}
	if (!(task->state & SCSI_TASK_TMF)) {
		TAILQ_REMOVE(&itn->tasks, task, link);
	}
	itn->ntasks--;
	task->state &= ~SCSI_TASK_ACTIVE;
	if (task->trim_idx >= 0) {
		task->iovs[task->trim_idx].iov_len = task->trim_len;
		task->trim_idx = -1;
	}
	/* A zero-copy read keeps its bdev_ios (and the channel they came from) until put. */
	if (!(task->state & SCSI_TASK_ZCOPY)) {
		scsi_task_lun_release(task);
	}
	task->cpl_fn(task);
	if (aborted) {
		scsi_itn_tmf_check(itn);
	}
}

void
osp_scsi_task_put(struct osp_scsi_task *task)
{
	if (task->itn == NULL) {
		return;
	}
	scsi_sbc_put(task);
	scsi_task_ebuf_put(task);
	scsi_task_lun_release(task);
}

/* ---- unit attentions ---- */

static const uint16_t g_ua_asc[SCSI_UA_COUNT] = {
	[SCSI_UA_POWER_ON] = OSP_SCSI_ASC_POWER_ON_OCCURRED,
	[SCSI_UA_RESET] = OSP_SCSI_ASC_POWER_ON_OR_RESET,
	[SCSI_UA_LUN_RESET] = OSP_SCSI_ASC_BUS_DEVICE_RESET_FUNCTION,
	[SCSI_UA_NEXUS_LOSS] = OSP_SCSI_ASC_I_T_NEXUS_LOSS,
	[SCSI_UA_RES_PREEMPTED] = OSP_SCSI_ASC_RESERVATIONS_PREEMPTED,
	[SCSI_UA_RES_RELEASED] = OSP_SCSI_ASC_RESERVATIONS_RELEASED,
	[SCSI_UA_REG_PREEMPTED] = OSP_SCSI_ASC_REGISTRATIONS_PREEMPTED,
	[SCSI_UA_MODE_CHANGED] = OSP_SCSI_ASC_MODE_PARAMETERS_CHANGED,
	[SCSI_UA_CAPACITY_CHANGED] = OSP_SCSI_ASC_CAPACITY_DATA_CHANGED,
	[SCSI_UA_LUNS_CHANGED] = OSP_SCSI_ASC_REPORTED_LUNS_CHANGED,
};

/* Report (and clear) the highest-priority pending UA of il into task's sense. */
void
scsi_itn_report_ua(struct osp_scsi_task *task, struct scsi_itn_lun *il)
{
	int ua = __builtin_ctz(il->ua);

	/* A reset UA subsumes the lesser resets queued with it (SAM-5 5.14). */
	if (ua <= SCSI_UA_NEXUS_LOSS) {
		il->ua &= ~(SCSI_UA_BIT(SCSI_UA_POWER_ON) | SCSI_UA_BIT(SCSI_UA_RESET) |
			    SCSI_UA_BIT(SCSI_UA_LUN_RESET) | SCSI_UA_BIT(SCSI_UA_NEXUS_LOSS));
	} else {
		il->ua &= ~SCSI_UA_BIT(ua);
	}
	scsi_task_sense(task, OSP_SCSI_SK_UNIT_ATTENTION, g_ua_asc[ua]);
}

void
scsi_itn_set_ua_all(struct osp_scsi_itn *itn, uint32_t ua_bits)
{
	int i;

	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		if (itn->luns[i].lun != NULL && !itn->luns[i].gone) {
			itn->luns[i].ua |= ua_bits;
		}
	}
}

/* ---- command admission ---- */

static void
scsi_execute_nolun(struct osp_scsi_task *task)
{
	switch (task->cdb[0]) {
	case OSP_SCSI_INQUIRY:
		scsi_spc_inquiry_nolun(task);
		break;
	case OSP_SCSI_REPORT_LUNS:
		scsi_spc_report_luns(task);
		break;
	case OSP_SCSI_REQUEST_SENSE:
		scsi_spc_request_sense(task, NULL);
		break;
	default:
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_LU_NOT_SUPPORTED);
		break;
	}
	scsi_task_complete(task);
}

void
osp_scsi_itn_execute(struct osp_scsi_itn *itn, struct osp_scsi_task *task)
{
	struct scsi_itn_lun *il = NULL;
	uint8_t op = task->cdb[0];

	task->itn = itn;
	task->lun = NULL;
	task->bdev_io = NULL;
	task->priv = NULL;
	task->state = SCSI_TASK_ACTIVE | SCSI_TASK_NOLUN;
	task->status = OSP_SCSI_STATUS_GOOD;
	task->sense_len = 0;
	task->data_transferred = 0;
	task->data_wanted = 0;
	task->trim_idx = -1;
	if (task->iovs == NULL) {
		task->iovs = task->iov_inline;
		task->iovcnt = 0;
	}
	TAILQ_INSERT_TAIL(&itn->tasks, task, link);
	itn->ntasks++;

	if (task->lun_id < OSP_SCSI_DEV_MAX_LUN) {
		il = &itn->luns[task->lun_id];
		if (il->lun == NULL || il->gone) {
			il = NULL;
		}
	}
	if (il == NULL) {
		scsi_execute_nolun(task);
		return;
	}
	task->lun = il->lun;
	task->state &= ~SCSI_TASK_NOLUN;
	il->ntasks++;

	if (task->cdb_len < scsi_cdb_len(op)) {
		/* The transport's CDB is shorter than the opcode's: the last byte is missing. */
		scsi_task_invalid_cdb(task, task->cdb_len, -1);
		scsi_task_complete(task);
		return;
	}
	/* SAM-5 5.14: INQUIRY, REPORT LUNS and REQUEST SENSE pass a pending UA. */
	if (il->ua != 0 && op != OSP_SCSI_INQUIRY && op != OSP_SCSI_REPORT_LUNS &&
	    op != OSP_SCSI_REQUEST_SENSE) {
		scsi_itn_report_ua(task, il);
		scsi_task_complete(task);
		return;
	}
	if (scsi_pr_check(task, il)) {
		scsi_task_complete(task);
		return;
	}
	scsi_spc_execute(task);
}

uint32_t
osp_scsi_itn_outstanding(const struct osp_scsi_itn *itn)
{
	return itn->ntasks;
}

/* ---- owner <-> nexus messages ---- */

struct scsi_bc {
	struct osp_scsi_dev *dev;
	scsi_itn_fn fn;
	void *arg;
	void (*done)(struct osp_scsi_dev *dev, void *arg);
	uint32_t pending;
};

struct scsi_bc_msg {
	struct scsi_bc *bc;
	struct osp_scsi_itn *itn;
	TAILQ_ENTRY(scsi_bc_msg) link;
};

static void
scsi_bc_reply_owner(void *ctx)
{
	struct scsi_bc *bc = ctx;

	if (--bc->pending == 0) {
		bc->done(bc->dev, bc->arg);
		free(bc);
	}
}

void
scsi_bc_itn_done(struct scsi_bc_msg *m)
{
	struct scsi_bc *bc = m->bc;

	free(m);
	osp_thread_send_msg(bc->dev->owner, scsi_bc_reply_owner, bc);
}

static void
scsi_bc_on_itn(void *ctx)
{
	struct scsi_bc_msg *m = ctx;

	/* The handler replies itself (scsi_bc_itn_done), now or once it has waited. */
	m->bc->fn(m->itn, m->bc->arg, m);
}

void
scsi_dev_broadcast(struct osp_scsi_dev *dev, scsi_itn_fn fn, void *arg,
		   void (*done)(struct osp_scsi_dev *dev, void *arg))
{
	struct scsi_bc *bc = calloc(1, sizeof(*bc));
	struct osp_scsi_itn *itn;
	struct scsi_bc_msg *m;

	if (bc == NULL) {
		OSP_ERRLOG("scsi %s: out of memory telling the nexuses of a change\n", dev->name);
		done(dev, arg);
		return;
	}
	bc->dev = dev;
	bc->fn = fn;
	bc->arg = arg;
	bc->done = done;
	bc->pending = 1;
	TAILQ_FOREACH(itn, &dev->itns, link) {
		m = calloc(1, sizeof(*m));
		if (m == NULL) {
			OSP_ERRLOG("scsi %s: out of memory telling a nexus of a change\n", dev->name);
			continue;
		}
		m->bc = bc;
		m->itn = itn;
		bc->pending++;
		osp_thread_send_msg(itn->thread, scsi_bc_on_itn, m);
	}
	/* done() never runs inside the call, even with no nexus to ask. */
	osp_thread_send_msg(dev->owner, scsi_bc_reply_owner, bc);
}

static void
scsi_owner_reply_msg(void *ctx)
{
	struct osp_scsi_task *task = ctx;

	task->state &= ~SCSI_TASK_REMOTE;
	scsi_task_complete(task);
}

void
scsi_owner_reply(struct osp_scsi_task *task)
{
	osp_thread_send_msg(task->itn->thread, scsi_owner_reply_msg, task);
}

static void
scsi_task_on_owner(void *ctx)
{
	struct osp_scsi_task *task = ctx;
	void (*fn)(struct osp_scsi_task *) = (void (*)(struct osp_scsi_task *))(uintptr_t)
					     task->priv_u64[3];

	fn(task);
}

void
scsi_task_to_owner(struct osp_scsi_task *task, void (*fn)(struct osp_scsi_task *task))
{
	task->state |= SCSI_TASK_REMOTE;
	task->priv_u64[3] = (uint64_t)(uintptr_t)fn;
	osp_thread_send_msg(task->itn->dev->owner, scsi_task_on_owner, task);
}

/* ---- LUN changes pushed by the owner ---- */

static void
scsi_itn_lun_drained(struct osp_scsi_itn *itn, struct scsi_itn_lun *il)
{
	struct scsi_bc_msg *m = il->drain_msg;

	(void)itn;
	il->draining = false;
	il->drain_msg = NULL;
	if (il->ch != NULL) {
		osp_put_io_channel(il->ch);
		il->ch = NULL;
	}
	il->lun = NULL;
	il->gone = false;
	il->ua = 0;
	if (m != NULL) {
		scsi_bc_itn_done(m);
	}
}

/* arg: the LUN going away. */
void
scsi_itn_lun_remove(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct osp_scsi_lun *lun = arg;
	struct scsi_itn_lun *il = &itn->luns[lun->id];

	if (il->lun != lun) {
		scsi_bc_itn_done(m);
		return;
	}
	il->gone = true;
	scsi_itn_set_ua_all(itn, SCSI_UA_BIT(SCSI_UA_LUNS_CHANGED));
	il->drain_msg = m;
	if (il->ntasks == 0) {
		scsi_itn_lun_drained(itn, il);
	} else {
		il->draining = true;
	}
}

/* Fill il from the owner's LUN (owner thread: at open; nexus thread: LUN added). */
static void
scsi_itn_lun_snapshot(struct osp_scsi_itn *itn, struct scsi_itn_lun *il, struct osp_scsi_lun *lun)
{
	il->lun = lun;
	il->num_blocks = lun->num_blocks;
	il->block_size = lun->block_size;
	il->mode = lun->mode;
	il->ntasks = 0;
	il->gone = false;
	scsi_pr_view(lun, itn->iport_name, itn->tport_id, &il->res);
}

struct scsi_lun_add {
	struct osp_scsi_lun *lun;
	struct scsi_itn_lun view;	/* taken on the owner when the broadcast starts */
};

void
scsi_itn_lun_add(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct osp_scsi_lun *lun = arg;
	struct scsi_itn_lun *il = &itn->luns[lun->id];

	if (!itn->closing && il->lun == NULL) {
		il->lun = lun;
		il->num_blocks = lun->num_blocks;
		il->block_size = lun->block_size;
		il->ntasks = 0;
		il->gone = false;
		/* Mode pages and reservations of a new LUN are its defaults. */
		il->mode = lun->mode;
		memset(&il->res, 0, sizeof(il->res));
		il->ch = osp_bdev_get_io_channel(lun->desc);
		if (il->ch == NULL) {
			OSP_ERRLOG("scsi %s: no I/O channel for LUN %d\n", itn->dev->name, lun->id);
			il->lun = NULL;
		}
		scsi_itn_set_ua_all(itn, SCSI_UA_BIT(SCSI_UA_LUNS_CHANGED));
	}
	scsi_bc_itn_done(m);
}

/* arg: the LUN resized (its num_blocks is the new size). */
void
scsi_itn_lun_resize(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct osp_scsi_lun *lun = arg;
	struct scsi_itn_lun *il = &itn->luns[lun->id];

	if (il->lun == lun && !il->gone) {
		il->num_blocks = __atomic_load_n(&lun->num_blocks, __ATOMIC_RELAXED);
		il->ua |= SCSI_UA_BIT(SCSI_UA_CAPACITY_CHANGED);
	}
	scsi_bc_itn_done(m);
}

/* ---- open / close ---- */

static void
scsi_itn_open_done(void *ctx)
{
	struct osp_scsi_itn *itn = ctx;
	struct scsi_itn_lun *il;
	int i;

	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		il = &itn->luns[i];
		if (il->lun == NULL) {
			continue;
		}
		il->ch = osp_bdev_get_io_channel(il->lun->desc);
		if (il->ch == NULL) {
			OSP_ERRLOG("scsi %s: no I/O channel for LUN %d\n", itn->dev->name, i);
			il->lun = NULL;
			continue;
		}
		il->ua |= SCSI_UA_BIT(SCSI_UA_POWER_ON);
	}
	itn->open_cb(itn->open_cb_arg, itn, 0);
}

static void
scsi_itn_open_failed(void *ctx)
{
	struct osp_scsi_itn *itn = ctx;

	itn->open_cb(itn->open_cb_arg, NULL, -ENODEV);
	free(itn);
}

static void
scsi_itn_open_on_owner(void *ctx)
{
	struct osp_scsi_itn *itn = ctx;
	struct osp_scsi_dev *dev = itn->dev;
	struct osp_scsi_lun *lun;
	int i;

	if (dev->destroying || osp_scsi_dev_find_port(dev, itn->tport_id) == NULL) {
		osp_thread_send_msg(itn->thread, scsi_itn_open_failed, itn);
		return;
	}
	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		lun = dev->luns[i];
		if (lun != NULL && !lun->removing) {
			scsi_itn_lun_snapshot(itn, &itn->luns[i], lun);
		}
	}
	scsi_dev_itn_linked(dev, itn);
	osp_thread_send_msg(itn->thread, scsi_itn_open_done, itn);
}

int
osp_scsi_itn_open(struct osp_scsi_dev *dev, struct osp_scsi_port *initiator_port,
		  uint16_t target_rel_port_id,
		  void (*cb)(void *cb_arg, struct osp_scsi_itn *itn, int rc), void *cb_arg)
{
	struct osp_scsi_itn *itn;

	if (dev == NULL || initiator_port == NULL || cb == NULL) {
		return -EINVAL;
	}
	if (osp_get_thread() == NULL) {
		return -EINVAL;
	}
	itn = calloc(1, sizeof(*itn));
	if (itn == NULL) {
		return -ENOMEM;
	}
	itn->dev = dev;
	itn->thread = osp_get_thread();
	itn->iport = initiator_port;
	snprintf(itn->iport_name, sizeof(itn->iport_name), "%s", initiator_port->name);
	itn->tport_id = target_rel_port_id;
	TAILQ_INIT(&itn->tasks);
	TAILQ_INIT(&itn->tmfs);
	TAILQ_INIT(&itn->waiters);
	itn->open_cb = cb;
	itn->open_cb_arg = cb_arg;
	osp_thread_send_msg(dev->owner, scsi_itn_open_on_owner, itn);
	return 0;
}

static void
scsi_itn_free(void *ctx)
{
	struct osp_scsi_itn *itn = ctx;

	while (itn->nebuf_free > 0) {
		free(itn->ebufs[--itn->nebuf_free]);
	}
	free(itn);
}

static void
scsi_itn_close_on_owner(void *ctx)
{
	struct osp_scsi_itn *itn = ctx;
	struct osp_scsi_dev *dev = itn->dev;

	scsi_pr_nexus_gone(dev, itn->iport_name, itn->tport_id);
	TAILQ_REMOVE(&dev->itns, itn, link);
	/* Messages the owner sent to the nexus before this one arrive before the free. */
	osp_thread_send_msg(itn->thread, scsi_itn_free, itn);
	scsi_dev_itn_unlinked(dev);
}

void
osp_scsi_itn_close(struct osp_scsi_itn *itn)
{
	int i;

	if (itn == NULL) {
		return;
	}
	if (itn->ntasks != 0) {
		OSP_ERRLOG("scsi %s: nexus of %s closed with %u commands outstanding\n",
			   itn->dev->name, itn->iport_name, itn->ntasks);
	}
	itn->closing = true;
	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		if (itn->luns[i].draining) {
			/* Tasks never put: do not keep the LUN's removal waiting for them. */
			scsi_itn_lun_drained(itn, &itn->luns[i]);
		}
		if (itn->luns[i].ch != NULL) {
			osp_put_io_channel(itn->luns[i].ch);
			itn->luns[i].ch = NULL;
		}
	}
	osp_thread_send_msg(itn->dev->owner, scsi_itn_close_on_owner, itn);
}

/* ---- task management ---- */

/* Mark a task aborted: it completes with TASK ABORTED once its work is back. */
static void
scsi_task_abort(struct osp_scsi_task *task)
{
	if (task->state & (SCSI_TASK_ABORTED | SCSI_TASK_TMF)) {
		return;
	}
	task->state |= SCSI_TASK_ABORTED;
	task->itn->naborted++;
}

void
scsi_itn_abort_lun(struct osp_scsi_itn *itn, int lun_id)
{
	struct osp_scsi_task *t;

	TAILQ_FOREACH(t, &itn->tasks, link) {
		if (lun_id < 0 || (t->lun != NULL && t->lun->id == lun_id)) {
			scsi_task_abort(t);
		}
	}
}

/*
 * TMFs and owner messages waiting for this nexus's aborted tasks (and the
 * bdev resets it started): released once none is left.
 */
static void
scsi_itn_tmf_check(struct osp_scsi_itn *itn)
{
	struct osp_scsi_task *tmf;
	struct scsi_bc_msg *m;

	if (itn->naborted != 0 || itn->nresets != 0) {
		return;
	}
	while ((m = TAILQ_FIRST(&itn->waiters)) != NULL) {
		TAILQ_REMOVE(&itn->waiters, m, link);
		scsi_bc_itn_done(m);
	}
	while ((tmf = TAILQ_FIRST(&itn->tmfs)) != NULL) {
		TAILQ_REMOVE(&itn->tmfs, tmf, link);
		scsi_task_complete(tmf);
	}
}

static void
scsi_itn_bdev_reset_done(struct osp_bdev_io *bdev_io, bool success, void *arg)
{
	struct osp_scsi_itn *itn = arg;

	(void)success;
	osp_bdev_free_io(bdev_io);
	itn->nresets--;
	scsi_itn_tmf_check(itn);
}

/*
 * Reset the bdevs under this nexus's aborted tasks of lun_id (-1: any LUN):
 * I/O stuck in a module comes back (aborted), so a reset never waits forever.
 * The reset of one channel covers every nexus's I/O on that bdev.
 */
static void
scsi_itn_reset_bdevs(struct osp_scsi_itn *itn, int lun_id)
{
	uint64_t todo = 0;
	struct osp_scsi_task *t;
	struct scsi_itn_lun *il;
	int i;

	TAILQ_FOREACH(t, &itn->tasks, link) {
		if ((t->state & SCSI_TASK_ABORTED) && t->lun != NULL &&
		    (lun_id < 0 || t->lun->id == lun_id)) {
			todo |= 1ull << t->lun->id;
		}
	}
	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		il = &itn->luns[i];
		if (!(todo & (1ull << i)) || il->lun == NULL || il->ch == NULL) {
			continue;
		}
		if (osp_bdev_reset(il->lun->desc, il->ch, scsi_itn_bdev_reset_done, itn) == 0) {
			itn->nresets++;
		}
	}
}

/* A LUN or target reset, as it goes over every nexus (owner thread). */
struct scsi_reset_arg {
	struct osp_scsi_task *tmf;
	int lun_id;			/* -1: every LUN (target reset) */
	uint32_t ua;
};

/* First pass: every nexus marks the tasks aborted before any bdev is reset. */
static void
scsi_reset_mark(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct scsi_reset_arg *ra = arg;

	/*
	 * Every I_T nexus gets the unit attention, the one that asked too
	 * (SAM-5 6.3.2, 6.3.3: "for the initiator port associated with every
	 * I_T nexus"); a multipath initiator learns of it on each path.
	 */
	if (ra->lun_id >= 0) {
		if (itn->luns[ra->lun_id].lun != NULL) {
			itn->luns[ra->lun_id].ua |= ra->ua;
		}
	} else {
		scsi_itn_set_ua_all(itn, ra->ua);
	}
	scsi_itn_abort_lun(itn, ra->lun_id);
	scsi_bc_itn_done(m);
}

/* Second pass: reset what the aborted tasks wait on and answer when they are done. */
static void
scsi_reset_wait(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct scsi_reset_arg *ra = arg;

	scsi_itn_reset_bdevs(itn, ra->lun_id);
	TAILQ_INSERT_TAIL(&itn->waiters, m, link);
	scsi_itn_tmf_check(itn);
}

static void
scsi_reset_waited(struct osp_scsi_dev *dev, void *arg)
{
	struct scsi_reset_arg *ra = arg;
	struct osp_scsi_task *tmf = ra->tmf;

	(void)dev;
	free(ra);
	scsi_owner_reply(tmf);
}

static void
scsi_reset_marked(struct osp_scsi_dev *dev, void *arg)
{
	scsi_dev_broadcast(dev, scsi_reset_wait, arg, scsi_reset_waited);
}

static void
scsi_tmf_reset_on_owner(struct osp_scsi_task *tmf)
{
	struct osp_scsi_dev *dev = tmf->itn->dev;
	struct scsi_reset_arg *ra = calloc(1, sizeof(*ra));
	int i;

	if (ra == NULL) {
		tmf->tmf_resp = OSP_SCSI_TMF_RESP_FAILED;
		scsi_owner_reply(tmf);
		return;
	}
	ra->tmf = tmf;
	ra->lun_id = (int)(int64_t)tmf->priv_u64[1];
	ra->ua = (uint32_t)tmf->priv_u64[2];
	/* Resets release SPC-2 reservations; persistent ones survive (SPC-4 5.12.11). */
	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		if (dev->luns[i] != NULL && (ra->lun_id < 0 || ra->lun_id == i)) {
			scsi_pr_spc2_reset(dev->luns[i]);
		}
	}
	scsi_dev_broadcast(dev, scsi_reset_mark, ra, scsi_reset_marked);
}

static struct osp_scsi_task *
scsi_itn_find_task(struct osp_scsi_itn *itn, uint64_t lun_id, uint64_t tag)
{
	struct osp_scsi_task *t;

	TAILQ_FOREACH(t, &itn->tasks, link) {
		if (t->tag == tag && t->lun_id == lun_id) {
			return t;
		}
	}
	return NULL;
}

void
osp_scsi_itn_tmf(struct osp_scsi_itn *itn, struct osp_scsi_task *task,
		 enum osp_scsi_tmf fn, uint64_t lun_id, uint64_t ref_tag)
{
	struct scsi_itn_lun *il = NULL;
	struct osp_scsi_task *t;
	bool wait = false;

	task->itn = itn;
	task->lun = NULL;
	task->bdev_io = NULL;
	task->state = SCSI_TASK_ACTIVE | SCSI_TASK_TMF | SCSI_TASK_NOLUN;
	task->status = OSP_SCSI_STATUS_GOOD;
	task->sense_len = 0;
	task->tmf_resp = OSP_SCSI_TMF_RESP_COMPLETE;
	task->trim_idx = -1;
	task->lun_id = lun_id;
	memset(task->priv_u64, 0, sizeof(task->priv_u64));
	/* Not in itn->tasks (nothing aborts a TMF); in itn->tmfs while it waits. */
	itn->ntasks++;

	if (lun_id < OSP_SCSI_DEV_MAX_LUN && itn->luns[lun_id].lun != NULL &&
	    !itn->luns[lun_id].gone) {
		il = &itn->luns[lun_id];
	}
	switch (fn) {
	case OSP_SCSI_TMF_ABORT_TASK:
		t = scsi_itn_find_task(itn, lun_id, ref_tag);
		if (t != NULL) {
			scsi_task_abort(t);
			wait = true;
		}
		break;
	case OSP_SCSI_TMF_ABORT_TASK_SET:
	case OSP_SCSI_TMF_CLEAR_TASK_SET:
		/* One task set per I_T_L nexus (QUEUE ALGORITHM MODIFIER aside): ours only. */
		if (il == NULL) {
			task->tmf_resp = OSP_SCSI_TMF_RESP_INVALID_LUN;
			break;
		}
		scsi_itn_abort_lun(itn, (int)lun_id);
		wait = true;
		break;
	case OSP_SCSI_TMF_I_T_NEXUS_RESET:
		scsi_itn_abort_lun(itn, -1);
		scsi_itn_reset_bdevs(itn, -1);
		scsi_itn_set_ua_all(itn, SCSI_UA_BIT(SCSI_UA_NEXUS_LOSS));
		wait = true;
		break;
	case OSP_SCSI_TMF_LUN_RESET:
		if (il == NULL) {
			task->tmf_resp = OSP_SCSI_TMF_RESP_INVALID_LUN;
			break;
		}
		task->priv_u64[1] = lun_id;
		task->priv_u64[2] = SCSI_UA_BIT(SCSI_UA_LUN_RESET);
		scsi_task_to_owner(task, scsi_tmf_reset_on_owner);
		return;
	case OSP_SCSI_TMF_TARGET_WARM_RESET:
	case OSP_SCSI_TMF_TARGET_COLD_RESET:
		task->priv_u64[1] = (uint64_t)(int64_t)-1;
		task->priv_u64[2] = SCSI_UA_BIT(fn == OSP_SCSI_TMF_TARGET_COLD_RESET ?
						SCSI_UA_POWER_ON : SCSI_UA_RESET);
		scsi_task_to_owner(task, scsi_tmf_reset_on_owner);
		return;
	case OSP_SCSI_TMF_QUERY_TASK:
		t = scsi_itn_find_task(itn, lun_id, ref_tag);
		task->tmf_resp = t != NULL ? OSP_SCSI_TMF_RESP_SUCCEEDED : OSP_SCSI_TMF_RESP_COMPLETE;
		break;
	case OSP_SCSI_TMF_QUERY_TASK_SET:
		if (il == NULL) {
			task->tmf_resp = OSP_SCSI_TMF_RESP_INVALID_LUN;
			break;
		}
		task->tmf_resp = il->ntasks != 0 ? OSP_SCSI_TMF_RESP_SUCCEEDED :
				 OSP_SCSI_TMF_RESP_COMPLETE;
		break;
	case OSP_SCSI_TMF_QUERY_ASYNC_EVENT:
		if (il == NULL) {
			task->tmf_resp = OSP_SCSI_TMF_RESP_INVALID_LUN;
			break;
		}
		task->tmf_resp = il->ua != 0 ? OSP_SCSI_TMF_RESP_SUCCEEDED :
				 OSP_SCSI_TMF_RESP_COMPLETE;
		break;
	case OSP_SCSI_TMF_CLEAR_ACA:
	default:
		/* NACA is not supported (standard INQUIRY NORMACA 0): there is no ACA to clear. */
		task->tmf_resp = OSP_SCSI_TMF_RESP_REJECTED;
		break;
	}
	if (!wait) {
		scsi_task_complete(task);
		return;
	}
	TAILQ_INSERT_TAIL(&itn->tmfs, task, link);
	scsi_itn_tmf_check(itn);
}

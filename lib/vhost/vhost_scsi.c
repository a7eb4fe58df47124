/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user-scsi controllers (virtio 1.x section 5.6) over lib/scsi.
 *
 * A controller holds up to VSCSI_MAX_TARGETS targets; each is a lib/scsi
 * device with LUN 0 on a bdev and one target port (the guest is the one
 * initiator). Queue 0 is the controlq (task management, asynchronous
 * notification query/subscribe), queue 1 the eventq (buffers the driver
 * lends us for hot plug and parameter change events), queues 2.. the request
 * queues. A request's data buffers are the guest's own memory (the chain's
 * iovecs become the SCSI task's).
 *
 * Everything in a chain is guest-controlled: the header, the LUN field, the
 * CDB, the lengths of the readable and writable parts. Each is checked
 * before use; a request that cannot be served gets the virtio-scsi response
 * code that says why (BAD_TARGET, INCORRECT_LUN, FAILURE), and a chain
 * without room for a response is given back with nothing written.
 *
 * Threads. The controller thread (the app thread: RPCs, bdev events, the
 * rte_vhost callbacks' messages) owns the targets, their SCSI devices and
 * the watch descriptors. The queues are served by the controller's poll
 * groups (vhost.c: one on the app thread, or one per core of the cpumask,
 * queue i on poll group i % npgs). A lib/scsi nexus is used on one thread,
 * so a target has one I_T nexus per poll group, opened on that poll group's
 * thread, which holds that thread's bdev channels: a command runs wholly on
 * the thread of the queue it came from. Each poll group has its own view of
 * the targets (struct vscsi_pg), changed by messages from the controller
 * thread when a target comes or goes; nothing on the I/O path locks.
 * Reservations and unit attentions are kept by lib/scsi per nexus names
 * (the same initiator and target port names on every poll group), so the
 * guest is one initiator to them; a unit attention (a reset, a capacity
 * change) is reported once per poll group, as it would be once per path.
 * A TMF that lib/scsi does not spread itself (ABORT TASK, ABORT TASK SET,
 * CLEAR TASK SET, I_T NEXUS RESET, QUERY TASK (SET)) goes to the nexus of
 * every poll group (the request it names may be on any queue); LUN RESET
 * goes to the controlq's nexus, and lib/scsi resets every nexus of the LUN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "osprey/bdev.h"
#include "osprey/event.h"
#include "osprey/iov.h"
#include "osprey/log.h"
#include "osprey/scsi.h"
#include "osprey/thread.h"
#include "osprey/util.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

/* Feature bits (virtio 1.x 5.6.3). F_INOUT and F_T10_PI are not offered. */
#define VSCSI_F_INOUT		0
#define VSCSI_F_HOTPLUG		1
#define VSCSI_F_CHANGE		2

/* Response codes (5.6.6.1). */
#define VSCSI_S_OK			0
#define VSCSI_S_OVERRUN			1
#define VSCSI_S_ABORTED			2
#define VSCSI_S_BAD_TARGET		3
#define VSCSI_S_RESET			4
#define VSCSI_S_BUSY			5
#define VSCSI_S_TRANSPORT_FAILURE	6
#define VSCSI_S_TARGET_FAILURE		7
#define VSCSI_S_NEXUS_FAILURE		8
#define VSCSI_S_FAILURE			9
#define VSCSI_S_FUNCTION_SUCCEEDED	10
#define VSCSI_S_FUNCTION_REJECTED	11
#define VSCSI_S_INCORRECT_LUN		12

/* controlq request types and TMF subtypes (5.6.6.2). */
#define VSCSI_T_TMF			0
#define VSCSI_T_AN_QUERY		1
#define VSCSI_T_AN_SUBSCRIBE		2
#define VSCSI_T_TMF_ABORT_TASK		0
#define VSCSI_T_TMF_ABORT_TASK_SET	1
#define VSCSI_T_TMF_CLEAR_ACA		2
#define VSCSI_T_TMF_CLEAR_TASK_SET	3
#define VSCSI_T_TMF_I_T_NEXUS_RESET	4
#define VSCSI_T_TMF_LUN_RESET		5
#define VSCSI_T_TMF_QUERY_TASK		6
#define VSCSI_T_TMF_QUERY_TASK_SET	7

/* eventq events (5.6.6.3). */
#define VSCSI_T_NO_EVENT		0
#define VSCSI_T_TRANSPORT_RESET		1
#define VSCSI_T_ASYNC_NOTIFY		2
#define VSCSI_T_PARAM_CHANGE		3
#define VSCSI_T_EVENTS_MISSED		0x80000000u
#define VSCSI_EVT_RESET_HARD		0
#define VSCSI_EVT_RESET_RESCAN		1
#define VSCSI_EVT_RESET_REMOVED		2

/* vhost-user protocol feature "device status" (SET_STATUS / GET_STATUS). */
#define VHOST_USER_PROTOCOL_F_STATUS_BIT	16

/* What we offer in the config space; the request layout follows from them. */
#define VSCSI_MAX_TARGETS	8
#define VSCSI_CDB_SIZE		32
#define VSCSI_SENSE_SIZE	96
#define VSCSI_EVENT_SIZE	16
/* virtio_scsi_req_cmd: lun[8], id, task_attr, prio, crn, cdb[cdb_size]. */
#define VSCSI_CMD_HDR		(19 + VSCSI_CDB_SIZE)
/* virtio_scsi_resp_cmd before sense: sense_len, residual, status_qualifier, status, response. */
#define VSCSI_RESP_FIXED	12
#define VSCSI_RESP_LEN		(VSCSI_RESP_FIXED + VSCSI_SENSE_SIZE)
#define VSCSI_TMF_REQ		24
#define VSCSI_AN_REQ		16
#define VSCSI_AN_RESP		5
#define VSCSI_CONFIG_LEN	36
/* Request queues we announce (num_queues): the controller's queues minus control and event. */
#define VSCSI_NUM_REQ_QUEUES	(VHOST_MAX_QUEUES - 2)
/* max_target in the config: the slots a target may take. */
#define VSCSI_MAX_LUN		(OSP_SCSI_DEV_MAX_LUN - 1)
#define VSCSI_SEG_MAX		(VHOST_IOV_MAX - 4)

enum vscsi_target_state {
	VSCSI_TARGET_OPENING,	/* the poll groups' nexuses are being opened */
	VSCSI_TARGET_READY,
	VSCSI_TARGET_REMOVING,	/* no new commands; the poll groups drain and close their nexus */
	VSCSI_TARGET_CLOSING,	/* every nexus closed, the device being destroyed */
};

struct vhost_scsi_ctrlr;
struct vscsi_target;

struct vscsi_remove_waiter {
	osp_vhost_ctrlr_cb cb;
	void *cb_arg;
};

/* A target as poll group idx sees it: that poll group's thread only. */
struct vscsi_tpg {
	struct vscsi_target *t;
	uint16_t idx;
	int rc;				/* the open's outcome, for the controller thread */
	struct osp_scsi_itn *itn;
	/*
	 * A channel of the target's io_device on this thread: the thread (a
	 * cpumask thread ends with its controller) stays until lib/scsi's last
	 * message to the nexus ran and the target is gone.
	 */
	struct osp_io_channel *keep;
	uint32_t inflight;		/* commands and TMFs of this poll group on itn */
	bool ready;			/* new commands accepted */
	bool closing;			/* close itn once inflight is 0, then answer */
};

struct vscsi_target {
	struct vhost_scsi_ctrlr *vs;
	struct osp_thread *owner;	/* the controller thread (outlives the controller) */
	int num;
	enum vscsi_target_state state;	/* controller thread */
	bool hot_removed;		/* the bdev went away while the nexuses were opening */
	bool pgs_used;			/* messages went to the poll groups (teardown goes there too) */
	bool keep_registered;		/* the io_device of the tpg's keep channels */
	char name[32];			/* "Target N" */
	char *bdev_name;
	struct osp_scsi_dev *dev;
	struct osp_scsi_port *iport;
	/* A read-only descriptor of the bdev for its remove and resize events. */
	struct osp_bdev_desc *watch;
	uint16_t npgs;
	uint16_t pending;		/* poll groups yet to answer (controller thread) */
	int open_rc;
	/* add_target's answer, once every nexus is open. */
	osp_vhost_scsi_target_cb add_cb;
	void *add_cb_arg;
	/* remove_target callers (RPCs) waiting for the end. */
	struct vscsi_remove_waiter waiters[4];
	int nwaiters;
	struct vscsi_tpg pg[VHOST_MAX_QUEUES];
};

struct vhost_scsi_task {
	struct vhost_task base;
	struct osp_scsi_task scsi;
	struct vscsi_tpg *tp;			/* the target's nexus the task runs on */
	TAILQ_ENTRY(vhost_scsi_task) link;	/* held eventq buffers */
	struct iovec data[VHOST_IOV_MAX];
};

/* A controller's poll group as the back end sees it: that poll group's thread only. */
struct vscsi_pg {
	struct vhost_scsi_ctrlr *vs;
	struct osp_thread *thread;	/* copied: outlives the controller while targets do */
	uint16_t idx;
	struct vscsi_target *targets[VSCSI_MAX_TARGETS];	/* ready on this poll group */
	TAILQ_HEAD(, vhost_scsi_task) events;	/* eventq buffers held (the eventq's group) */
	bool events_missed;
	uint64_t stat_events;
	uint64_t stat_events_missed;
};

struct vhost_scsi_ctrlr {
	struct vhost_ctrlr *ctrlr;		/* NULL once the controller is gone */
	struct vscsi_target *targets[VSCSI_MAX_TARGETS];	/* controller thread */
	/* 1 for the controller plus 1 per target not yet freed: freed at 0. */
	uint32_t refs;
	uint16_t npgs;
	struct vscsi_pg pgs[VHOST_MAX_QUEUES];
};

/* An event for the eventq's poll group (controller thread -> its thread). */
struct vscsi_event_msg {
	struct vscsi_pg *vp;
	uint32_t event;
	int target;
	uint32_t reason;
};

/* Targets not yet freed (of live and deleted controllers): shutdown waits for them. */
static uint32_t g_targets_alive;
static void (*g_targets_gone_fn)(void);

static void vscsi_target_remove_start(struct vscsi_target *t);
static void vscsi_tpg_close(struct vscsi_tpg *tp);

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

static void
vscsi_fill_config(struct vhost_ctrlr *ctrlr)
{
	uint8_t *c = ctrlr->config;

	memset(c, 0, VSCSI_CONFIG_LEN);
	put_le32(c + 0, VSCSI_NUM_REQ_QUEUES);		/* num_queues */
	put_le32(c + 4, VSCSI_SEG_MAX);			/* seg_max */
	put_le32(c + 8, OSP_SCSI_MAX_TRANSFER_BYTES / 512);	/* max_sectors */
	put_le32(c + 12, VHOST_TASKS_MAX);		/* cmd_per_lun */
	put_le32(c + 16, VSCSI_EVENT_SIZE);		/* event_info_size */
	put_le32(c + 20, VSCSI_SENSE_SIZE);		/* sense_size */
	put_le32(c + 24, VSCSI_CDB_SIZE);		/* cdb_size */
	put_le16(c + 28, 0);				/* max_channel */
	put_le16(c + 30, VSCSI_MAX_TARGETS - 1);	/* max_target */
	put_le32(c + 32, VSCSI_MAX_LUN);		/* max_lun */
	ctrlr->config_len = VSCSI_CONFIG_LEN;
}

/* The back end's view of the poll group a task's queue belongs to (that group's thread). */
static struct vscsi_pg *
vscsi_task_pg(struct vhost_scsi_ctrlr *vs, struct vhost_scsi_task *task)
{
	return &vs->pgs[task->base.q->pg - task->base.q->ctrlr->pgs];
}

/*
 * The 8-byte LUN field (5.6.6.1): 1, target, a single-level LUN (flat space
 * 01b or peripheral 00b addressing, bus 0), four zero bytes. Returns the
 * virtio-scsi response code that refuses it, or VSCSI_S_OK with the target's
 * nexus of poll group vp (present and ready there) and the LUN.
 */
static int
vscsi_decode_lun(struct vscsi_pg *vp, const uint8_t *lun, struct vscsi_tpg **tpp,
		 uint64_t *lun_id)
{
	struct vscsi_target *t;

	if (lun[0] != 1 || lun[1] >= VSCSI_MAX_TARGETS) {
		return VSCSI_S_BAD_TARGET;
	}
	t = vp->targets[lun[1]];
	if (t == NULL || !t->pg[vp->idx].ready) {
		return VSCSI_S_BAD_TARGET;
	}
	if (lun[4] != 0 || lun[5] != 0 || lun[6] != 0 || lun[7] != 0) {
		return VSCSI_S_INCORRECT_LUN;
	}
	switch (lun[2] >> 6) {
	case 0:
		if (lun[2] != 0) {	/* a bus number: one bus only */
			return VSCSI_S_INCORRECT_LUN;
		}
		*lun_id = lun[3];
		break;
	case 1:
		*lun_id = (uint64_t)(lun[2] & 0x3f) << 8 | lun[3];
		break;
	default:
		return VSCSI_S_INCORRECT_LUN;
	}
	*tpp = &t->pg[vp->idx];
	return VSCSI_S_OK;
}

static void
vscsi_task_give_back(struct vhost_scsi_task *task, uint32_t used_len, bool error)
{
	if (error) {
		task->base.q->pg->stat_errors++;
	}
	vhost_task_complete(&task->base, used_len);
}

/* A command that ends before lib/scsi: the response header alone (in_len >= VSCSI_RESP_FIXED). */
static void
vscsi_cmd_respond(struct vhost_scsi_task *task, uint8_t response, uint32_t residual)
{
	struct osp_vring_req *req = &task->base.req;
	uint8_t resp[VSCSI_RESP_FIXED] = {};

	put_le32(resp + 4, residual);
	resp[11] = response;
	osp_iov_copy_from_buf(resp, sizeof(resp), task->base.iov + req->out_cnt, req->in_cnt, 0);
	vscsi_task_give_back(task, sizeof(resp), response != VSCSI_S_OK);
}

/* The nexus's work for a task is over (its thread): let a removal in progress go on. */
static void
vscsi_tpg_task_done(struct vscsi_tpg *tp)
{
	tp->inflight--;
	if (tp->inflight == 0 && tp->closing) {
		vscsi_tpg_close(tp);
	}
}

static void
vscsi_cmd_cpl(struct osp_scsi_task *st)
{
	struct vhost_scsi_task *task = st->cb_arg;
	struct osp_vring_req *req = &task->base.req;
	struct vscsi_tpg *tp = task->tp;
	uint8_t resp[VSCSI_RESP_LEN] = {};
	uint32_t sense_len = st->sense_len < VSCSI_SENSE_SIZE ? st->sense_len : VSCSI_SENSE_SIZE;
	uint32_t done = st->data_transferred <= st->transfer_len ? st->data_transferred :
			st->transfer_len;
	uint32_t used = VSCSI_RESP_LEN;
	bool aborted = st->status == OSP_SCSI_STATUS_TASK_ABORTED;

	put_le32(resp + 0, sense_len);
	put_le32(resp + 4, st->transfer_len - done);
	resp[10] = st->status;
	/* A command ended by ABORT TASK (SET) or a reset: the driver must see it cancelled. */
	resp[11] = aborted ? VSCSI_S_ABORTED : VSCSI_S_OK;
	memcpy(resp + VSCSI_RESP_FIXED, st->sense, sense_len);
	osp_iov_copy_from_buf(resp, sizeof(resp), task->base.iov + req->out_cnt, req->in_cnt, 0);
	if (st->dir == OSP_SCSI_DIR_FROM_DEV) {
		used += done;
	}
	osp_scsi_task_put(st);
	vscsi_task_give_back(task, used, aborted || st->status == OSP_SCSI_STATUS_BUSY);
	vscsi_tpg_task_done(tp);
}

/* A request queue's chain: virtio_scsi_req_cmd + data-out / virtio_scsi_resp_cmd + data-in. */
static void
vscsi_cmd_start(struct vscsi_pg *vp, struct vhost_scsi_task *task)
{
	struct osp_vring_req *req = &task->base.req;
	struct osp_scsi_task *st = &task->scsi;
	uint8_t hdr[VSCSI_CMD_HDR];
	struct vscsi_tpg *tp = NULL;
	uint64_t lun_id = 0;
	uint32_t out_data, in_data;
	enum osp_scsi_dir dir = OSP_SCSI_DIR_NONE, cdb_dir;
	int n = 0, rc;

	if (req->error != 0 || req->in_len < VSCSI_RESP_FIXED) {
		/* No response area we can trust: back with nothing written. */
		vscsi_task_give_back(task, 0, true);
		return;
	}
	if (req->in_len < VSCSI_RESP_LEN || req->out_len < VSCSI_CMD_HDR) {
		/* Shorter than the layout we offered (cdb_size, sense_size). */
		vscsi_cmd_respond(task, VSCSI_S_FAILURE, 0);
		return;
	}
	osp_iov_copy_to_buf(hdr, sizeof(hdr), task->base.iov, req->out_cnt, 0);
	rc = vscsi_decode_lun(vp, hdr, &tp, &lun_id);
	out_data = req->out_len - VSCSI_CMD_HDR;
	in_data = req->in_len - VSCSI_RESP_LEN;
	if (rc != VSCSI_S_OK) {
		vscsi_cmd_respond(task, (uint8_t)rc, out_data + in_data);
		return;
	}
	if (out_data != 0 && in_data != 0) {
		/* Bidirectional needs VIRTIO_SCSI_F_INOUT, which we do not offer. */
		vscsi_cmd_respond(task, VSCSI_S_FAILURE, out_data + in_data);
		return;
	}
	osp_scsi_task_init(st, vscsi_cmd_cpl, task);
	st->lun_id = lun_id;
	st->tag = get_le64(hdr + 8);
	memcpy(st->cdb, hdr + 19, VSCSI_CDB_SIZE);
	st->cdb_len = VSCSI_CDB_SIZE;
	if (out_data != 0) {
		dir = OSP_SCSI_DIR_TO_DEV;
		n = osp_iov_slice(task->data, VHOST_IOV_MAX, task->base.iov, req->out_cnt,
				  VSCSI_CMD_HDR, out_data);
	} else if (in_data != 0) {
		dir = OSP_SCSI_DIR_FROM_DEV;
		n = osp_iov_slice(task->data, VHOST_IOV_MAX, task->base.iov + req->out_cnt,
				  req->in_cnt, VSCSI_RESP_LEN, in_data);
	}
	if (n < 0) {
		vscsi_cmd_respond(task, VSCSI_S_FAILURE, out_data + in_data);
		return;
	}
	st->dir = dir;
	st->transfer_len = out_data + in_data;
	st->iovs = task->data;
	st->iovcnt = n;
	task->tp = tp;
	tp->inflight++;
	cdb_dir = osp_scsi_cdb_data_dir(st->cdb);
	if (cdb_dir == OSP_SCSI_DIR_TO_DEV && dir == OSP_SCSI_DIR_FROM_DEV) {
		/*
		 * A data-out command with a data-in buffer: refused before it runs
		 * (as iSCSI refuses R=1 on a write). The other mismatch, a data-in
		 * command with data-out, lib/scsi ends GOOD with nothing moved.
		 */
		osp_scsi_task_set_sense(st, 0x05, 0x0e, 0x03);
		st->data_transferred = 0;
		vscsi_cmd_cpl(st);
		return;
	}
	osp_scsi_itn_execute(tp->itn, st);
}

/* ---- controlq ---- */

static void
vscsi_ctrl_respond(struct vhost_scsi_task *task, const void *resp, uint32_t len)
{
	struct osp_vring_req *req = &task->base.req;

	osp_iov_copy_from_buf(resp, len, task->base.iov + req->out_cnt, req->in_cnt, 0);
	vscsi_task_give_back(task, len, false);
}

static uint8_t
vscsi_tmf_response(enum osp_scsi_tmf_resp tr)
{
	switch (tr) {
	case OSP_SCSI_TMF_RESP_COMPLETE:
		return VSCSI_S_OK;	/* FUNCTION COMPLETE */
	case OSP_SCSI_TMF_RESP_SUCCEEDED:
		return VSCSI_S_FUNCTION_SUCCEEDED;
	case OSP_SCSI_TMF_RESP_REJECTED:
		return VSCSI_S_FUNCTION_REJECTED;
	case OSP_SCSI_TMF_RESP_INVALID_LUN:
	case OSP_SCSI_TMF_RESP_INCORRECT_LUN:
		return VSCSI_S_INCORRECT_LUN;
	default:
		return VSCSI_S_FAILURE;
	}
}

/* A TMF on the controlq's own nexus (LUN RESET: lib/scsi goes over every nexus itself). */
static void
vscsi_tmf_cpl(struct osp_scsi_task *st)
{
	struct vhost_scsi_task *task = st->cb_arg;
	struct vscsi_tpg *tp = task->tp;
	uint8_t r = vscsi_tmf_response(st->tmf_resp);

	osp_scsi_task_put(st);
	vscsi_ctrl_respond(task, &r, 1);
	vscsi_tpg_task_done(tp);
}

/*
 * A TMF for every poll group's nexus of a target: the request it names may
 * be on any queue. Control path, allocated per TMF. The controlq's nexus
 * holds an inflight count meanwhile, so the target (and its other nexuses'
 * state) stays until every part answered.
 */
struct vscsi_tmf_part {
	struct vscsi_tmf *tmf;
	uint16_t idx;
	enum osp_scsi_tmf_resp resp;
	struct osp_scsi_task st;
};

struct vscsi_tmf {
	struct vhost_scsi_task *task;	/* the controlq's */
	struct vscsi_tpg *home;		/* the controlq's nexus of the target */
	struct osp_thread *home_thread;
	enum osp_scsi_tmf fn;
	uint64_t lun_id;
	uint64_t tag;
	uint16_t pending;
	uint16_t nparts;
	struct vscsi_tmf_part parts[];
};

/*
 * The parts' answers as one: an error any nexus gave (REJECTED, INCORRECT
 * LUN, FAILED) wins, then SUCCEEDED (QUERY TASK found it somewhere), else
 * FUNCTION COMPLETE.
 */
static enum osp_scsi_tmf_resp
vscsi_tmf_merge(const struct vscsi_tmf *tmf)
{
	bool succeeded = false;

	for (uint16_t i = 0; i < tmf->nparts; i++) {
		switch (tmf->parts[i].resp) {
		case OSP_SCSI_TMF_RESP_COMPLETE:
			break;
		case OSP_SCSI_TMF_RESP_SUCCEEDED:
			succeeded = true;
			break;
		default:
			return tmf->parts[i].resp;
		}
	}
	return succeeded ? OSP_SCSI_TMF_RESP_SUCCEEDED : OSP_SCSI_TMF_RESP_COMPLETE;
}

/* The controlq's thread: one part answered. */
static void
vscsi_tmf_part_done_msg(void *arg)
{
	struct vscsi_tmf *tmf = arg;
	struct vscsi_tpg *home = tmf->home;
	uint8_t r;

	if (--tmf->pending > 0) {
		return;
	}
	r = vscsi_tmf_response(vscsi_tmf_merge(tmf));
	vscsi_ctrl_respond(tmf->task, &r, 1);
	free(tmf);
	vscsi_tpg_task_done(home);
}

static void
vscsi_tmf_part_answer(struct vscsi_tmf_part *part)
{
	struct vscsi_tmf *tmf = part->tmf;

	if (osp_get_thread() == tmf->home_thread) {
		vscsi_tmf_part_done_msg(tmf);
	} else if (osp_thread_send_msg(tmf->home_thread, vscsi_tmf_part_done_msg, tmf) != 0) {
		OSP_ERRLOG("vhost-scsi: cannot answer a task management part\n");
	}
}

static void
vscsi_tmf_part_cpl(struct osp_scsi_task *st)
{
	struct vscsi_tmf_part *part = st->cb_arg;
	struct vscsi_tpg *tp = &part->tmf->home->t->pg[part->idx];

	part->resp = st->tmf_resp;
	osp_scsi_task_put(st);
	vscsi_tmf_part_answer(part);
	vscsi_tpg_task_done(tp);
}

/* Poll group part->idx's thread: run the TMF on its nexus (if it still has one). */
static void
vscsi_tmf_part_msg(void *arg)
{
	struct vscsi_tmf_part *part = arg;
	struct vscsi_tmf *tmf = part->tmf;
	struct vscsi_tpg *tp = &tmf->home->t->pg[part->idx];

	if (tp->itn == NULL) {
		/* Closed (or never opened) here: no request of it on this group's queues. */
		part->resp = OSP_SCSI_TMF_RESP_COMPLETE;
		vscsi_tmf_part_answer(part);
		return;
	}
	tp->inflight++;
	osp_scsi_task_init(&part->st, vscsi_tmf_part_cpl, part);
	osp_scsi_itn_tmf(tp->itn, &part->st, tmf->fn, tmf->lun_id, tmf->tag);
}

static void
vscsi_tmf_spread(struct vscsi_pg *vp, struct vhost_scsi_task *task, struct vscsi_tpg *tp,
		 enum osp_scsi_tmf fn, uint64_t lun_id, uint64_t tag)
{
	struct vhost_scsi_ctrlr *vs = vp->vs;
	uint16_t n = tp->t->npgs;
	struct vscsi_tmf *tmf = calloc(1, sizeof(*tmf) + n * sizeof(tmf->parts[0]));
	uint8_t r = VSCSI_S_FAILURE;

	if (tmf == NULL) {
		vscsi_ctrl_respond(task, &r, 1);
		return;
	}
	tmf->task = task;
	tmf->home = tp;
	tmf->home_thread = osp_get_thread();
	tmf->fn = fn;
	tmf->lun_id = lun_id;
	tmf->tag = tag;
	tmf->nparts = n;
	/* One count for ourselves: the answer waits until every part went out. */
	tmf->pending = (uint16_t)(n + 1);
	task->tp = tp;
	tp->inflight++;
	for (uint16_t i = 0; i < n; i++) {
		struct vscsi_tmf_part *part = &tmf->parts[i];

		part->tmf = tmf;
		part->idx = i;
		if (i == vp->idx) {
			vscsi_tmf_part_msg(part);
		} else if (osp_thread_send_msg(vs->pgs[i].thread, vscsi_tmf_part_msg, part) != 0) {
			part->resp = OSP_SCSI_TMF_RESP_FAILED;
			tmf->pending--;
		}
	}
	vscsi_tmf_part_done_msg(tmf);
}

static void
vscsi_ctrl_start(struct vscsi_pg *vp, struct vhost_scsi_task *task)
{
	struct osp_vring_req *req = &task->base.req;
	uint8_t buf[VSCSI_TMF_REQ];
	struct vscsi_tpg *tp = NULL;
	enum osp_scsi_tmf fn;
	uint64_t lun_id = 0;
	uint32_t type;
	uint8_t r;
	int rc;

	if (req->error != 0 || req->out_len < 4 || req->in_len < 1) {
		vscsi_task_give_back(task, 0, true);
		return;
	}
	osp_iov_copy_to_buf(buf, 4, task->base.iov, req->out_cnt, 0);
	type = get_le32(buf);
	if (type == VSCSI_T_AN_QUERY || type == VSCSI_T_AN_SUBSCRIBE) {
		uint8_t resp[VSCSI_AN_RESP] = {};

		if (req->out_len < VSCSI_AN_REQ || req->in_len < VSCSI_AN_RESP) {
			vscsi_task_give_back(task, 0, true);
			return;
		}
		osp_iov_copy_to_buf(buf, VSCSI_AN_REQ, task->base.iov, req->out_cnt, 0);
		/*
		 * No asynchronous notification class is supported: event_actual 0
		 * (the events we would report of those requested), and the LUN
		 * field checked as for any request.
		 */
		resp[4] = (uint8_t)vscsi_decode_lun(vp, buf + 4, &tp, &lun_id);
		vscsi_ctrl_respond(task, resp, sizeof(resp));
		return;
	}
	if (type != VSCSI_T_TMF || req->out_len < VSCSI_TMF_REQ) {
		/* Unknown request: we cannot know where its response goes. */
		vscsi_task_give_back(task, 0, true);
		return;
	}
	osp_iov_copy_to_buf(buf, VSCSI_TMF_REQ, task->base.iov, req->out_cnt, 0);
	rc = vscsi_decode_lun(vp, buf + 8, &tp, &lun_id);
	if (rc != VSCSI_S_OK) {
		r = (uint8_t)rc;
		vscsi_ctrl_respond(task, &r, 1);
		return;
	}
	switch (get_le32(buf + 4)) {
	case VSCSI_T_TMF_ABORT_TASK:
		fn = OSP_SCSI_TMF_ABORT_TASK;
		break;
	case VSCSI_T_TMF_ABORT_TASK_SET:
		fn = OSP_SCSI_TMF_ABORT_TASK_SET;
		break;
	case VSCSI_T_TMF_CLEAR_ACA:
		fn = OSP_SCSI_TMF_CLEAR_ACA;
		break;
	case VSCSI_T_TMF_CLEAR_TASK_SET:
		fn = OSP_SCSI_TMF_CLEAR_TASK_SET;
		break;
	case VSCSI_T_TMF_I_T_NEXUS_RESET:
		fn = OSP_SCSI_TMF_I_T_NEXUS_RESET;
		break;
	case VSCSI_T_TMF_LUN_RESET:
		fn = OSP_SCSI_TMF_LUN_RESET;
		break;
	case VSCSI_T_TMF_QUERY_TASK:
		fn = OSP_SCSI_TMF_QUERY_TASK;
		break;
	case VSCSI_T_TMF_QUERY_TASK_SET:
		fn = OSP_SCSI_TMF_QUERY_TASK_SET;
		break;
	default:
		r = VSCSI_S_FUNCTION_REJECTED;
		vscsi_ctrl_respond(task, &r, 1);
		return;
	}
	if (fn != OSP_SCSI_TMF_LUN_RESET && fn != OSP_SCSI_TMF_CLEAR_ACA && tp->t->npgs > 1) {
		vscsi_tmf_spread(vp, task, tp, fn, lun_id, get_le64(buf + 16));
		return;
	}
	osp_scsi_task_init(&task->scsi, vscsi_tmf_cpl, task);
	task->scsi.lun_id = lun_id;
	task->tp = tp;
	tp->inflight++;
	osp_scsi_itn_tmf(tp->itn, &task->scsi, fn, lun_id, get_le64(buf + 16));
}

/* ---- eventq (its poll group's thread) ---- */

static void
vscsi_event_write(struct vscsi_pg *vp, struct vhost_scsi_task *task, uint32_t event,
		  int target, uint32_t reason)
{
	struct osp_vring_req *req = &task->base.req;
	uint8_t ev[VSCSI_EVENT_SIZE] = {};

	if (vp->events_missed) {
		event |= VSCSI_T_EVENTS_MISSED;
		vp->events_missed = false;
	}
	put_le32(ev, event);
	if (target >= 0) {
		/*
		 * LUN 0 as bytes 2-3 = 0 (peripheral addressing): Linux reads the
		 * event's LUN as a plain 16-bit number (flat-space 0x4000 would be
		 * LUN 16384 to it), as QEMU's own virtio-scsi sends it.
		 */
		ev[4] = 1;
		ev[5] = (uint8_t)target;
	}
	put_le32(ev + 12, reason);
	osp_iov_copy_from_buf(ev, sizeof(ev), task->base.iov + req->out_cnt, req->in_cnt, 0);
	vp->stat_events++;
	vscsi_task_give_back(task, sizeof(ev), false);
}

static void
vscsi_event_start(struct vscsi_pg *vp, struct vhost_scsi_task *task)
{
	struct osp_vring_req *req = &task->base.req;

	if (req->error != 0 || req->out_len != 0 || req->in_len < VSCSI_EVENT_SIZE) {
		vscsi_task_give_back(task, 0, true);
		return;
	}
	if (vp->events_missed) {
		/* Say at once that events were lost: the driver rescans. */
		vscsi_event_write(vp, task, VSCSI_T_NO_EVENT, -1, 0);
		return;
	}
	TAILQ_INSERT_TAIL(&vp->events, task, link);
}

/* The eventq's poll group's thread: report an event in a buffer the driver lent us. */
static void
vscsi_event_msg(void *arg)
{
	struct vscsi_event_msg *m = arg;
	struct vscsi_pg *vp = m->vp;
	struct vhost_scsi_task *task = TAILQ_FIRST(&vp->events);

	if (task == NULL) {
		vp->events_missed = true;
		vp->stat_events_missed++;
	} else {
		TAILQ_REMOVE(&vp->events, task, link);
		vscsi_event_write(vp, task, m->event, m->target, m->reason);
	}
	free(m);
}

/*
 * Report an event to the driver if it negotiated the feature (feature bit
 * fbit), through the eventq's poll group (controller thread). The message
 * goes before any stop of the device (a later message of ours), so the
 * group still serves the eventq when it runs.
 */
static void
vscsi_send_event(struct vhost_scsi_ctrlr *vs, int fbit, uint32_t event, int target,
		 uint32_t reason)
{
	struct vhost_ctrlr *ctrlr = vs->ctrlr;
	struct vscsi_event_msg *m;
	struct vhost_queue *evq = NULL;

	if (ctrlr == NULL || !ctrlr->started || ctrlr->stopping ||
	    !(ctrlr->neg_features & (1ull << fbit))) {
		return;
	}
	for (uint16_t i = 0; i < ctrlr->nqueues; i++) {
		if (ctrlr->queues[i].idx == 1) {
			evq = &ctrlr->queues[i];
		}
	}
	if (evq == NULL) {
		return;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		OSP_ERRLOG("vhost %s: out of memory: event %u lost\n", ctrlr->name, event);
		return;
	}
	m->vp = &vs->pgs[evq->pg - ctrlr->pgs];
	m->event = event;
	m->target = target;
	m->reason = reason;
	if (osp_thread_send_msg(m->vp->thread, vscsi_event_msg, m) != 0) {
		free(m);
	}
}

/* ---- the back end's hooks ---- */

static void
vscsi_task_start(struct vhost_ctrlr *ctrlr, struct vhost_task *vtask)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;
	struct vhost_scsi_task *task = (struct vhost_scsi_task *)vtask;
	struct vscsi_pg *vp = vscsi_task_pg(vs, task);

	vtask->q->pg->stat_requests++;
	task->tp = NULL;
	switch (vtask->q->idx) {
	case 0:
		vscsi_ctrl_start(vp, task);
		break;
	case 1:
		vscsi_event_start(vp, task);
		break;
	default:
		vscsi_cmd_start(vp, task);
		break;
	}
}

/* A poll group starts serving its queues (its thread). */
static int
vscsi_pg_start(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;

	vs->pgs[pg - ctrlr->pgs].events_missed = false;
	return 0;
}

/*
 * A poll group stops (its thread, its poller gone): the eventq buffers it
 * holds go back unused, since the device stops only when every chain is back.
 */
static void
vscsi_pg_stopping(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;
	struct vscsi_pg *vp = &vs->pgs[pg - ctrlr->pgs];
	struct vhost_scsi_task *task;

	while ((task = TAILQ_FIRST(&vp->events)) != NULL) {
		TAILQ_REMOVE(&vp->events, task, link);
		vscsi_task_give_back(task, 0, false);
	}
}

/* ---- targets ---- */

static void
vscsi_vs_put(struct vhost_scsi_ctrlr *vs)
{
	if (--vs->refs == 0) {
		free(vs);
	}
}

/* Controller thread: nothing of the target is left anywhere. */
static void
vscsi_target_free(struct vscsi_target *t)
{
	free(t->bdev_name);
	if (t->iport != NULL) {
		osp_scsi_port_free(t->iport);
	}
	vscsi_vs_put(t->vs);
	free(t);
	g_targets_alive--;
	if (g_targets_alive == 0 && g_targets_gone_fn != NULL) {
		void (*fn)(void) = g_targets_gone_fn;

		g_targets_gone_fn = NULL;
		fn();
	}
}

static void
vscsi_target_unregistered(void *io_device)
{
	vscsi_target_free(io_device);
}

static void
vscsi_target_release_done(struct vscsi_target *t)
{
	if (--t->pending > 0) {
		return;
	}
	if (t->keep_registered) {
		osp_io_device_unregister(t, vscsi_target_unregistered);
	} else {
		vscsi_target_free(t);
	}
}

static void
vscsi_tpg_released_msg(void *arg)
{
	vscsi_target_release_done(((struct vscsi_tpg *)arg)->t);
}

/* A poll group's thread: lib/scsi's last message to its nexus ran; the thread may go. */
static void
vscsi_tpg_release_msg(void *arg)
{
	struct vscsi_tpg *tp = arg;

	if (tp->keep != NULL) {
		osp_put_io_channel(tp->keep);
		tp->keep = NULL;
	}
	if (osp_thread_send_msg(tp->t->owner, vscsi_tpg_released_msg, tp) != 0) {
		OSP_ERRLOG("vhost-scsi: %s: cannot answer its release\n", tp->t->name);
	}
}

static void
vscsi_target_destroyed(void *arg)
{
	struct vscsi_target *t = arg;
	struct vhost_scsi_ctrlr *vs = t->vs;

	if (vs->targets[t->num] == t) {
		vs->targets[t->num] = NULL;
		OSP_NOTICELOG("vhost %s: target %d removed\n",
			      vs->ctrlr != NULL ? vs->ctrlr->name : "(deleted)", t->num);
	}
	for (int i = 0; i < t->nwaiters; i++) {
		t->waiters[i].cb(t->waiters[i].cb_arg, 0, NULL);
	}
	t->nwaiters = 0;
	if (t->add_cb != NULL) {
		t->add_cb(t->add_cb_arg, -ENODEV, "The target went away while being added");
		t->add_cb = NULL;
	}
	/*
	 * The nexuses' frees were sent to their threads before the device
	 * could go: a message after them lets each thread drop its hold.
	 */
	t->pending = 1;
	if (t->pgs_used) {
		for (uint16_t i = 0; i < t->npgs; i++) {
			if (osp_thread_send_msg(vs->pgs[i].thread, vscsi_tpg_release_msg,
						&t->pg[i]) == 0) {
				t->pending++;
			}
		}
	}
	vscsi_target_release_done(t);
}

/* Once every nexus is closed, the device goes (again later while lib/scsi says busy). */
static void
vscsi_target_destroy_msg(void *arg)
{
	struct vscsi_target *t = arg;
	int rc;

	if (t->dev == NULL) {
		vscsi_target_destroyed(t);
		return;
	}
	rc = osp_scsi_dev_destroy(t->dev, vscsi_target_destroyed, t);
	if (rc == -EBUSY) {
		osp_thread_send_msg(osp_get_thread(), vscsi_target_destroy_msg, t);
	} else if (rc != 0) {
		OSP_ERRLOG("target %s: cannot destroy its SCSI device: %d\n", t->name, rc);
		vscsi_target_destroyed(t);
	}
}

/* Controller thread: no nexus left: close the watch descriptor, then destroy the device. */
static void
vscsi_target_closed(struct vscsi_target *t)
{
	t->state = VSCSI_TARGET_CLOSING;
	if (t->watch != NULL) {
		osp_bdev_close(t->watch);
		t->watch = NULL;
	}
	osp_thread_send_msg(osp_get_thread(), vscsi_target_destroy_msg, t);
}

static void
vscsi_target_close_done(struct vscsi_target *t)
{
	if (--t->pending == 0) {
		vscsi_target_closed(t);
	}
}

static void
vscsi_tpg_closed_msg(void *arg)
{
	vscsi_target_close_done(((struct vscsi_tpg *)arg)->t);
}

/* A poll group's thread: nothing of the target in flight here: close the nexus, answer. */
static void
vscsi_tpg_close(struct vscsi_tpg *tp)
{
	tp->closing = false;
	if (tp->itn != NULL) {
		osp_scsi_itn_close(tp->itn);
		tp->itn = NULL;
	}
	if (osp_thread_send_msg(tp->t->owner, vscsi_tpg_closed_msg, tp) != 0) {
		OSP_ERRLOG("vhost-scsi: %s: cannot answer its close\n", tp->t->name);
	}
}

/* A poll group's thread: no new command for the target; close once its work is back. */
static void
vscsi_tpg_close_msg(void *arg)
{
	struct vscsi_tpg *tp = arg;
	struct vscsi_target *t = tp->t;
	struct vscsi_pg *vp = &t->vs->pgs[tp->idx];

	tp->ready = false;
	if (vp->targets[t->num] == t) {
		vp->targets[t->num] = NULL;
	}
	if (tp->inflight == 0) {
		vscsi_tpg_close(tp);
	} else {
		tp->closing = true;
	}
}

/* Controller thread: every poll group drains and closes its nexus. */
static void
vscsi_target_close_pgs(struct vscsi_target *t)
{
	t->state = VSCSI_TARGET_REMOVING;
	t->pending = 1;
	for (uint16_t i = 0; i < t->npgs; i++) {
		if (osp_thread_send_msg(t->vs->pgs[i].thread, vscsi_tpg_close_msg, &t->pg[i]) == 0) {
			t->pending++;
		}
	}
	vscsi_target_close_done(t);
}

/* Start a removal: new commands get BAD_TARGET, the guest is told. */
static void
vscsi_target_remove_start(struct vscsi_target *t)
{
	if (t->state != VSCSI_TARGET_READY) {
		return;	/* OPENING: the end of the open removes it; the others: on their way */
	}
	vscsi_send_event(t->vs, VSCSI_F_HOTPLUG, VSCSI_T_TRANSPORT_RESET, t->num,
			 VSCSI_EVT_RESET_REMOVED);
	vscsi_target_close_pgs(t);
}

static void
vscsi_watch_event(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct vscsi_target *t = ctx;

	(void)bdev;
	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		OSP_NOTICELOG("vhost: bdev %s of %s removed: removing the target\n", t->bdev_name,
			      t->name);
		if (t->state == VSCSI_TARGET_OPENING) {
			t->hot_removed = true;
		} else {
			vscsi_target_remove_start(t);
		}
		break;
	case OSP_BDEV_EVENT_RESIZE:
		/* lib/scsi raises CAPACITY DATA HAS CHANGED; the event makes the driver look now. */
		if (t->state == VSCSI_TARGET_READY) {
			vscsi_send_event(t->vs, VSCSI_F_CHANGE, VSCSI_T_PARAM_CHANGE, t->num,
					 0x2a | 0x09 << 8);
		}
		break;
	}
}

/* Controller thread: every poll group answered the open. */
static void
vscsi_target_opened(struct vscsi_target *t)
{
	osp_vhost_scsi_target_cb cb = t->add_cb;
	void *cb_arg = t->add_cb_arg;
	struct vhost_scsi_ctrlr *vs = t->vs;

	t->add_cb = NULL;
	if (t->open_rc != 0 || vs->ctrlr == NULL) {
		if (cb != NULL) {
			cb(cb_arg, t->open_rc != 0 ? t->open_rc : -ENODEV, t->open_rc != 0 ?
			   "Cannot open the SCSI nexus" : "The controller was deleted");
		}
		vscsi_target_close_pgs(t);
		return;
	}
	t->state = VSCSI_TARGET_READY;
	OSP_NOTICELOG("vhost %s: target %d on bdev %s (%u poll group(s))\n", vs->ctrlr->name,
		      t->num, t->bdev_name, t->npgs);
	if (cb != NULL) {
		cb(cb_arg, t->num, NULL);
	}
	if (t->hot_removed) {
		vscsi_target_remove_start(t);
		return;
	}
	vscsi_send_event(vs, VSCSI_F_HOTPLUG, VSCSI_T_TRANSPORT_RESET, t->num,
			 VSCSI_EVT_RESET_RESCAN);
}

static void
vscsi_target_open_done(struct vscsi_target *t, int rc)
{
	if (rc != 0 && t->open_rc == 0) {
		t->open_rc = rc;
	}
	if (--t->pending == 0) {
		vscsi_target_opened(t);
	}
}

static void
vscsi_tpg_open_ack(void *arg)
{
	struct vscsi_tpg *tp = arg;

	vscsi_target_open_done(tp->t, tp->rc);
}

/* A poll group's thread: its nexus is open (or not); new commands are taken at once. */
static void
vscsi_tpg_opened(void *arg, struct osp_scsi_itn *itn, int rc)
{
	struct vscsi_tpg *tp = arg;
	struct vscsi_target *t = tp->t;

	tp->rc = rc;
	tp->itn = rc == 0 ? itn : NULL;
	if (rc == 0) {
		tp->ready = true;
		t->vs->pgs[tp->idx].targets[t->num] = t;
	}
	if (osp_thread_send_msg(t->owner, vscsi_tpg_open_ack, tp) != 0) {
		OSP_ERRLOG("vhost-scsi: %s: cannot answer its open\n", t->name);
	}
}

/* A poll group's thread: open the target's nexus for the queues polled here. */
static void
vscsi_tpg_open_msg(void *arg)
{
	struct vscsi_tpg *tp = arg;
	struct vscsi_target *t = tp->t;
	int rc = -ENOMEM;

	tp->keep = osp_get_io_channel(t);
	if (tp->keep != NULL) {
		rc = osp_scsi_itn_open(t->dev, t->iport, 1, vscsi_tpg_opened, tp);
	}
	if (rc != 0) {
		tp->rc = rc;
		osp_thread_send_msg(t->owner, vscsi_tpg_open_ack, tp);
	}
}

void
osp_vhost_scsi_ctrlr_add_target(const char *name, int num, const char *bdev_name,
				osp_vhost_scsi_target_cb cb, void *cb_arg)
{
	struct vhost_ctrlr *ctrlr = vhost_ctrlr_find(name);
	struct vhost_scsi_ctrlr *vs;
	struct vscsi_target *t;
	char pname[96];
	int rc;

	if (ctrlr == NULL || strcmp(ctrlr->ops->type, "scsi") != 0 || ctrlr->deleting) {
		cb(cb_arg, -ENODEV, ctrlr == NULL ? "No such controller" :
		   ctrlr->deleting ? "The controller is being deleted" : "Not a vhost-scsi controller");
		return;
	}
	vs = ctrlr->be;
	if (num == -1) {
		for (num = 0; num < VSCSI_MAX_TARGETS && vs->targets[num] != NULL; num++) {
		}
		if (num == VSCSI_MAX_TARGETS) {
			cb(cb_arg, -ENOSPC, "Every target slot (0..7) is taken");
			return;
		}
	} else if (num < 0 || num >= VSCSI_MAX_TARGETS) {
		cb(cb_arg, -EINVAL, "scsi_target_num must be 0..7 (or -1: the first free slot)");
		return;
	}
	if (vs->targets[num] != NULL) {
		cb(cb_arg, -EEXIST, vs->targets[num]->state == VSCSI_TARGET_READY ?
		   "That target number is taken" : "That target is being added or removed");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->bdev_name = strdup(bdev_name)) == NULL) {
		free(t);
		cb(cb_arg, -ENOMEM, "Out of memory");
		return;
	}
	g_targets_alive++;
	vs->refs++;
	t->vs = vs;
	t->num = num;
	t->owner = osp_get_thread();
	t->state = VSCSI_TARGET_OPENING;
	t->npgs = vs->npgs;
	for (uint16_t i = 0; i < t->npgs; i++) {
		t->pg[i].t = t;
		t->pg[i].idx = i;
	}
	snprintf(t->name, sizeof(t->name), "Target %d", num);
	rc = osp_bdev_open_ext(bdev_name, false, vscsi_watch_event, t, &t->watch);
	if (rc != 0) {
		t->watch = NULL;
		cb(cb_arg, rc, rc == -ENODEV ? "No such bdev (see bdev_get_bdevs)" :
		   "Cannot open the bdev");
		vscsi_target_closed(t);
		return;
	}
	rc = osp_scsi_dev_create(t->name, &t->dev);
	if (rc == 0) {
		rc = osp_scsi_dev_add_lun(t->dev, bdev_name, 0, NULL);
		if (rc == 0) {
			snprintf(pname, sizeof(pname), "vhost.%s.%d", ctrlr->name, num);
			rc = osp_scsi_dev_add_port(t->dev, 1, pname);
		}
		if (rc == 0) {
			snprintf(pname, sizeof(pname), "vhost.%s.initiator", ctrlr->name);
			t->iport = osp_scsi_port_create(pname, 0);
			rc = t->iport != NULL ? 0 : -ENOMEM;
		}
		if (rc == 0) {
			osp_io_device_register(t, NULL, NULL, 0, "vhost_scsi_target");
			t->keep_registered = osp_io_device_get_name(t) != NULL;
			rc = t->keep_registered ? 0 : -ENOMEM;
		}
	}
	if (rc != 0) {
		cb(cb_arg, rc, rc == -EPERM ? "The bdev is claimed by another module" :
		   "Cannot create the SCSI device over the bdev");
		vscsi_target_closed(t);
		return;
	}
	/* Each poll group opens a nexus on its thread; vscsi_target_opened() answers. */
	vs->targets[num] = t;
	t->add_cb = cb;
	t->add_cb_arg = cb_arg;
	t->pgs_used = true;
	t->pending = 1;
	for (uint16_t i = 0; i < t->npgs; i++) {
		if (osp_thread_send_msg(vs->pgs[i].thread, vscsi_tpg_open_msg, &t->pg[i]) == 0) {
			t->pending++;
		} else {
			t->open_rc = -EIO;
		}
	}
	vscsi_target_open_done(t, 0);
}

void
osp_vhost_scsi_ctrlr_remove_target(const char *name, int num, osp_vhost_ctrlr_cb cb,
				   void *cb_arg)
{
	struct vhost_ctrlr *ctrlr = vhost_ctrlr_find(name);
	struct vhost_scsi_ctrlr *vs;
	struct vscsi_target *t;

	if (ctrlr == NULL || strcmp(ctrlr->ops->type, "scsi") != 0) {
		cb(cb_arg, -ENODEV, ctrlr == NULL ? "No such controller" : "Not a vhost-scsi controller");
		return;
	}
	vs = ctrlr->be;
	if (num < 0 || num >= VSCSI_MAX_TARGETS || vs->targets[num] == NULL) {
		cb(cb_arg, -ENODEV, "No such target");
		return;
	}
	t = vs->targets[num];
	if (t->state == VSCSI_TARGET_OPENING) {
		cb(cb_arg, -EBUSY, "The target is being added");
		return;
	}
	if (t->nwaiters == (int)OSP_COUNTOF(t->waiters)) {
		cb(cb_arg, -EBUSY, "The target is being removed");
		return;
	}
	t->waiters[t->nwaiters].cb = cb;
	t->waiters[t->nwaiters].cb_arg = cb_arg;
	t->nwaiters++;
	vscsi_target_remove_start(t);
}

/* ---- controller ---- */

static void
vscsi_destroy(struct vhost_ctrlr *ctrlr)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;

	if (vs == NULL) {
		return;
	}
	/*
	 * The device is stopped: nothing is in flight, no eventq buffer held.
	 * The targets go on their own (their poll groups' threads wait for
	 * them); vs stays until the last one is freed.
	 */
	vs->ctrlr = NULL;
	ctrlr->be = NULL;
	for (int i = 0; i < VSCSI_MAX_TARGETS; i++) {
		struct vscsi_target *t = vs->targets[i];

		if (t != NULL && t->state == VSCSI_TARGET_READY) {
			vscsi_target_remove_start(t);
		}
		/* OPENING: vscsi_target_opened closes it; the others: on their way. */
	}
	vscsi_vs_put(vs);
}

static void
vscsi_info_json(struct vhost_ctrlr *ctrlr, cJSON *backend_specific)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;
	cJSON *arr = cJSON_AddArrayToObject(backend_specific, "scsi");

	for (int i = 0; i < VSCSI_MAX_TARGETS; i++) {
		struct vscsi_target *t = vs->targets[i];
		cJSON *o;

		if (t == NULL || t->dev == NULL || t->state != VSCSI_TARGET_READY) {
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "target_name", t->name);
		cJSON_AddNumberToObject(o, "id", i);
		cJSON_AddNumberToObject(o, "scsi_dev_num", i);
		osp_scsi_dev_luns_json(t->dev, cJSON_AddArrayToObject(o, "luns"));
		cJSON_AddItemToArray(arr, o);
	}
}

static void
vscsi_write_config_json(struct vhost_ctrlr *ctrlr, cJSON *config)
{
	struct vhost_scsi_ctrlr *vs = ctrlr->be;
	cJSON *o = cJSON_CreateObject();
	cJSON *p = cJSON_AddObjectToObject(o, "params");

	cJSON_AddStringToObject(o, "method", "vhost_create_scsi_controller");
	cJSON_AddStringToObject(p, "ctrlr", ctrlr->name);
	if (ctrlr->has_cpumask) {
		char mask[300];

		snprintf(mask, sizeof(mask), "0x%s", osp_cpuset_fmt(&ctrlr->cpumask));
		cJSON_AddStringToObject(p, "cpumask", mask);
	}
	cJSON_AddItemToArray(config, o);
	for (int i = 0; i < VSCSI_MAX_TARGETS; i++) {
		struct vscsi_target *t = vs->targets[i];

		if (t == NULL || t->state != VSCSI_TARGET_READY) {
			continue;
		}
		o = cJSON_CreateObject();
		p = cJSON_AddObjectToObject(o, "params");
		cJSON_AddStringToObject(o, "method", "vhost_scsi_controller_add_target");
		cJSON_AddStringToObject(p, "ctrlr", ctrlr->name);
		cJSON_AddNumberToObject(p, "scsi_target_num", i);
		cJSON_AddStringToObject(p, "bdev_name", t->bdev_name);
		cJSON_AddItemToArray(config, o);
	}
}

const struct vhost_backend_ops g_vhost_scsi_ops = {
	.type = "scsi",
	.task_size = sizeof(struct vhost_scsi_task),
	/*
	 * Not VHOST_USER_PROTOCOL_F_STATUS: with it rte_vhost starts the device
	 * only after SET_STATUS(DRIVER_OK), which QEMU 7.2's vhost-user-scsi-pci
	 * never sends (it sends it for vhost-user-blk): the guest's first
	 * command would wait forever.
	 */
	.protocol_features_off = 1ull << VHOST_USER_PROTOCOL_F_STATUS_BIT,
	.task_start = vscsi_task_start,
	.info_json = vscsi_info_json,
	.write_config_json = vscsi_write_config_json,
	.destroy = vscsi_destroy,
	.pg_start = vscsi_pg_start,
	.pg_stopping = vscsi_pg_stopping,
};

int
osp_vhost_scsi_ctrlr_create(const char *name, const char *cpumask, char *err, size_t errlen)
{
	struct vhost_ctrlr *ctrlr;
	struct vhost_scsi_ctrlr *vs;
	int rc;

	ctrlr = vhost_ctrlr_new(name, &g_vhost_scsi_ops, &rc, err, errlen);
	if (ctrlr == NULL) {
		return rc;
	}
	vs = calloc(1, sizeof(*vs));
	if (vs == NULL) {
		snprintf(err, errlen, "Out of memory");
		vhost_ctrlr_free(ctrlr);
		return -ENOMEM;
	}
	vs->ctrlr = ctrlr;
	vs->refs = 1;
	ctrlr->be = vs;
	if (cpumask != NULL) {
		rc = vhost_ctrlr_set_cpumask(ctrlr, cpumask, err, errlen);
		if (rc != 0) {
			vhost_ctrlr_free(ctrlr);
			return rc;
		}
	}
	vs->npgs = ctrlr->npgs;
	for (uint16_t i = 0; i < vs->npgs; i++) {
		vs->pgs[i].vs = vs;
		vs->pgs[i].idx = i;
		vs->pgs[i].thread = ctrlr->pgs[i].thread;
		TAILQ_INIT(&vs->pgs[i].events);
	}
	vscsi_fill_config(ctrlr);
	rc = vhost_ctrlr_register(ctrlr, (1ull << VSCSI_F_HOTPLUG) | (1ull << VSCSI_F_CHANGE), err,
				  errlen);
	if (rc != 0) {
		return rc;
	}
	OSP_NOTICELOG("vhost %s: scsi controller at %s%s%s\n", name, ctrlr->path,
		      cpumask != NULL ? ", cpumask " : "", cpumask != NULL ? cpumask : "");
	return 0;
}

/* ---- subsystem "vhost_scsi": save_config, and the controllers go before vhost_blk's fini ---- */

static void vscsi_fini_next(void *arg, int rc, const char *msg);

static void
vscsi_fini_retry(void *arg)
{
	vscsi_fini_next(arg, 0, NULL);
}

static void
vscsi_fini_done(void)
{
	osp_subsystem_fini_next();
}

static void
vscsi_fini_next(void *arg, int rc, const char *msg)
{
	struct vhost_ctrlr *c;

	(void)arg;
	(void)rc;
	(void)msg;
	for (c = vhost_ctrlr_first(); c != NULL; c = vhost_ctrlr_next(c)) {
		if (strcmp(c->ops->type, "scsi") == 0 && !c->deleting) {
			osp_vhost_ctrlr_delete(c->name, vscsi_fini_next, NULL);
			return;
		}
	}
	for (c = vhost_ctrlr_first(); c != NULL; c = vhost_ctrlr_next(c)) {
		if (strcmp(c->ops->type, "scsi") == 0) {
			/* Being deleted by an RPC: look again once it is gone. */
			osp_thread_send_msg(osp_get_thread(), vscsi_fini_retry, NULL);
			return;
		}
	}
	/* The targets' devices are destroyed in messages: their bdevs close before bdev's fini. */
	if (g_targets_alive == 0) {
		vscsi_fini_done();
	} else {
		g_targets_gone_fn = vscsi_fini_done;
	}
}

static void
vscsi_subsystem_fini(void)
{
	vscsi_fini_next(NULL, 0, NULL);
}

static void
vscsi_subsystem_write_config_json(cJSON *config)
{
	vhost_write_config_json_type(config, "scsi");
}

static struct osp_subsystem g_vhost_scsi_subsystem = {
	.name = "vhost_scsi",
	.fini = vscsi_subsystem_fini,
	.write_config_json = vscsi_subsystem_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_vhost_scsi_subsystem)
OSP_SUBSYSTEM_DEPEND(vhost_scsi, bdev)
OSP_SUBSYSTEM_DEPEND(vhost_scsi, vhost_blk)

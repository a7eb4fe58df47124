/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reservations: SPC-2 RESERVE/RELEASE (6/10) and SPC-4 persistent
 * reservations (PERSISTENT RESERVE IN/OUT, SPC-4 5.12, 6.15, 6.16).
 *
 * A LUN's state (struct scsi_pr: registrations by initiator port name and
 * relative target port, the reservation, the SPC-2 holder) lives on the
 * dev's owner thread. The commands go there in a message; every change is
 * pushed to each nexus as its own view (struct scsi_res_view, computed on
 * the owner) together with the unit attentions the change raises, before the
 * command's completion goes back. Admission (scsi_pr_check) reads only the
 * nexus's view.
 *
 * Not supported, and refused cleanly: APTPL (nothing persists across power
 * loss: PTPL_C 0), ALL_TG_PT and SPEC_I_PT (ATP_C, SIP_C 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scsi_internal.h"

/* ---- state helpers (owner thread) ---- */

static int
pr_find(const struct scsi_pr *pr, const char *iport, uint16_t tport)
{
	uint32_t i;

	for (i = 0; i < pr->nregs; i++) {
		if (pr->regs[i].rel_port_id == tport && strcasecmp(pr->regs[i].iport, iport) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static bool
pr_type_all_regs(uint8_t type)
{
	return type == OSP_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS ||
	       type == OSP_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS;
}

static bool
pr_type_regs_only(uint8_t type)
{
	return type == OSP_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY ||
	       type == OSP_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY;
}

static bool
pr_type_valid(uint8_t type)
{
	switch (type) {
	case OSP_SCSI_PR_WRITE_EXCLUSIVE:
	case OSP_SCSI_PR_EXCLUSIVE_ACCESS:
	case OSP_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY:
	case OSP_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY:
	case OSP_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS:
	case OSP_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS:
		return true;
	default:
		return false;
	}
}

/* Whether registration i holds the reservation. */
static bool
pr_is_holder(const struct scsi_pr *pr, int i)
{
	if (pr->type == 0 || i < 0) {
		return false;
	}
	return pr_type_all_regs(pr->type) || pr->holder == i;
}

static void
pr_remove(struct scsi_pr *pr, int i)
{
	if (pr->holder == i) {
		pr->holder = -1;
	} else if (pr->holder > i) {
		pr->holder--;
	}
	memmove(&pr->regs[i], &pr->regs[i + 1], (pr->nregs - (uint32_t)i - 1) * sizeof(pr->regs[0]));
	pr->nregs--;
	/* A reservation without holder is gone (all-registrants: with the last one). */
	if (pr->type != 0 && (pr_type_all_regs(pr->type) ? pr->nregs == 0 : pr->holder < 0)) {
		pr->type = 0;
		pr->holder = -1;
	}
}

void
scsi_pr_view(const struct osp_scsi_lun *lun, const char *iport, uint16_t tport,
	     struct scsi_res_view *view)
{
	const struct scsi_pr *pr = &lun->pr;
	int i = pr_find(pr, iport, tport);

	memset(view, 0, sizeof(*view));
	view->pr_type = pr->type;
	view->pr_registered = i >= 0;
	view->pr_holder = pr_is_holder(pr, i);
	view->spc2_reserved = pr->spc2;
	view->spc2_mine = pr->spc2 && pr->spc2_port == tport &&
			  strcasecmp(pr->spc2_iport, iport) == 0;
}

/* ---- pushing the views to the nexuses ---- */

struct pr_push_entry {
	struct osp_scsi_itn *itn;
	struct scsi_res_view view;
	uint32_t ua;
};

struct pr_push {
	struct osp_scsi_lun *lun;
	struct osp_scsi_task *task;	/* to complete when every nexus has its view; may be NULL */
	bool abort;			/* PREEMPT AND ABORT: the preempted lose their tasks */
	uint32_t n;
	struct pr_push_entry e[];
};

/* UAs a change raises, per initiator port / target port, collected before the push. */
struct pr_ua {
	uint32_t n;
	struct {
		char iport[OSP_SCSI_PORT_MAX_NAME + 1];
		uint16_t tport;
		uint32_t ua;
	} e[SCSI_MAX_REGISTRANTS + 1];
};

static void
pr_ua_add(struct pr_ua *u, const char *iport, uint16_t tport, enum scsi_ua ua)
{
	if (u == NULL || u->n == OSP_COUNTOF(u->e)) {
		return;
	}
	snprintf(u->e[u->n].iport, sizeof(u->e[u->n].iport), "%s", iport);
	u->e[u->n].tport = tport;
	u->e[u->n].ua = SCSI_UA_BIT(ua);
	u->n++;
}

static void
pr_push_on_itn(struct osp_scsi_itn *itn, void *arg, struct scsi_bc_msg *m)
{
	struct pr_push *p = arg;
	struct scsi_itn_lun *il = &itn->luns[p->lun->id];
	uint32_t i;

	for (i = 0; i < p->n; i++) {
		if (p->e[i].itn == itn && il->lun == p->lun) {
			il->res = p->e[i].view;
			il->ua |= p->e[i].ua;
			/* SPC-4 5.12.11.4.4: as if by ABORT TASK SET (they end TASK ABORTED). */
			if (p->abort && (p->e[i].ua & SCSI_UA_BIT(SCSI_UA_REG_PREEMPTED))) {
				scsi_itn_abort_lun(itn, p->lun->id);
			}
		}
	}
	scsi_bc_itn_done(m);
}

static void
pr_push_done(struct osp_scsi_dev *dev, void *arg)
{
	struct pr_push *p = arg;

	(void)dev;
	if (p->task != NULL) {
		scsi_owner_reply(p->task);
	}
	free(p);
}

/*
 * Give every nexus its view of lun's reservations and the UAs in u, then
 * complete task (if any) on its nexus.
 */
static void
pr_push(struct osp_scsi_lun *lun, const struct pr_ua *u, struct osp_scsi_task *task, bool abort)
{
	struct osp_scsi_dev *dev = lun->dev;
	struct osp_scsi_itn *itn;
	struct pr_push *p;
	uint32_t i, k = 0;

	p = calloc(1, sizeof(*p) + dev->nitns * sizeof(p->e[0]));
	if (p == NULL) {
		OSP_ERRLOG("scsi %s: out of memory telling the nexuses of a reservation change\n",
			   dev->name);
		if (task != NULL) {
			scsi_owner_reply(task);
		}
		return;
	}
	p->lun = lun;
	p->task = task;
	p->abort = abort;
	TAILQ_FOREACH(itn, &dev->itns, link) {
		if (k == dev->nitns) {
			break;
		}
		p->e[k].itn = itn;
		scsi_pr_view(lun, itn->iport_name, itn->tport_id, &p->e[k].view);
		for (i = 0; u != NULL && i < u->n; i++) {
			if (u->e[i].tport == itn->tport_id &&
			    strcasecmp(u->e[i].iport, itn->iport_name) == 0) {
				p->e[k].ua |= u->e[i].ua;
			}
		}
		k++;
	}
	p->n = k;
	scsi_dev_broadcast(dev, pr_push_on_itn, p, pr_push_done);
}

/* ---- admission (nexus thread) ---- */

enum pr_class {
	PR_ALWAYS,	/* allowed whatever the reservations */
	PR_READ,	/* allowed under the write-exclusive types */
	PR_WRITE,	/* allowed to the holder (and registrants of the registrants types) */
};

static enum pr_class
pr_class(uint8_t op, uint8_t sa)
{
	switch (op) {
	case OSP_SCSI_INQUIRY:
	case OSP_SCSI_REPORT_LUNS:
	case OSP_SCSI_REQUEST_SENSE:
	case OSP_SCSI_MAINTENANCE_IN:
	case OSP_SCSI_PERSISTENT_RESERVE_IN:
	case OSP_SCSI_PERSISTENT_RESERVE_OUT:
	case OSP_SCSI_TEST_UNIT_READY:
	case OSP_SCSI_READ_CAPACITY_10:
		return PR_ALWAYS;
	case OSP_SCSI_SERVICE_ACTION_IN_16:
		return sa == OSP_SCSI_SAI_READ_CAPACITY_16 ? PR_ALWAYS : PR_READ;
	case OSP_SCSI_READ_6:
	case OSP_SCSI_READ_10:
	case OSP_SCSI_READ_12:
	case OSP_SCSI_READ_16:
	case OSP_SCSI_VERIFY_10:
	case OSP_SCSI_VERIFY_12:
	case OSP_SCSI_VERIFY_16:
	case OSP_SCSI_PRE_FETCH_10:
	case OSP_SCSI_PRE_FETCH_16:
	case OSP_SCSI_MODE_SENSE_6:
	case OSP_SCSI_MODE_SENSE_10:
	case OSP_SCSI_READ_DEFECT_DATA_10:
	case OSP_SCSI_READ_DEFECT_DATA_12:
	case OSP_SCSI_RECEIVE_COPY_RESULTS:
		return PR_READ;
	default:
		return PR_WRITE;
	}
}

static void
pr_conflict(struct osp_scsi_task *task)
{
	task->status = OSP_SCSI_STATUS_RESERVATION_CONFLICT;
	task->sense_len = 0;
}

bool
scsi_pr_check(struct osp_scsi_task *task, struct scsi_itn_lun *il)
{
	const struct scsi_res_view *v = &il->res;
	uint8_t op = task->cdb[0];
	enum pr_class cls = pr_class(op, task->cdb[1] & 0x1f);

	if (v->spc2_reserved && !v->spc2_mine) {
		/* SPC-2 reservations are exclusive; a RELEASE from another nexus does nothing. */
		if (cls == PR_ALWAYS && op != OSP_SCSI_PERSISTENT_RESERVE_IN &&
		    op != OSP_SCSI_PERSISTENT_RESERVE_OUT && op != OSP_SCSI_TEST_UNIT_READY) {
			return false;
		}
		if (op == OSP_SCSI_RELEASE_6 || op == OSP_SCSI_RELEASE_10) {
			return false;
		}
		pr_conflict(task);
		return true;
	}
	if (v->pr_type == 0) {
		return false;
	}
	/* SPC-4 5.12.3: RESERVE / RELEASE (6/10) meet a persistent reservation with a conflict. */
	if (op == OSP_SCSI_RESERVE_6 || op == OSP_SCSI_RESERVE_10 || op == OSP_SCSI_RELEASE_6 ||
	    op == OSP_SCSI_RELEASE_10) {
		pr_conflict(task);
		return true;
	}
	if (cls == PR_ALWAYS || v->pr_holder) {
		return false;
	}
	if (v->pr_registered && pr_type_regs_only(v->pr_type)) {
		return false;
	}
	if (cls == PR_READ && (v->pr_type == OSP_SCSI_PR_WRITE_EXCLUSIVE ||
			       v->pr_type == OSP_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY ||
			       v->pr_type == OSP_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS)) {
		return false;
	}
	pr_conflict(task);
	return true;
}

/* ---- SPC-2 RESERVE / RELEASE ---- */

static void
pr_reserve_on_owner(struct osp_scsi_task *task)
{
	struct scsi_pr *pr = &task->lun->pr;
	struct osp_scsi_itn *itn = task->itn;

	if (pr->type != 0) {
		pr_conflict(task);
		scsi_owner_reply(task);
		return;
	}
	if (pr->spc2) {
		if (pr->spc2_port != itn->tport_id || strcasecmp(pr->spc2_iport, itn->iport_name) != 0) {
			pr_conflict(task);
		}
		scsi_owner_reply(task);
		return;
	}
	pr->spc2 = true;
	pr->spc2_port = itn->tport_id;
	snprintf(pr->spc2_iport, sizeof(pr->spc2_iport), "%s", itn->iport_name);
	pr_push(task->lun, NULL, task, false);
}

static void
pr_release_on_owner(struct osp_scsi_task *task)
{
	struct scsi_pr *pr = &task->lun->pr;
	struct osp_scsi_itn *itn = task->itn;

	if (!pr->spc2 || pr->spc2_port != itn->tport_id ||
	    strcasecmp(pr->spc2_iport, itn->iport_name) != 0) {
		/* Not the holder: nothing to release, GOOD (SPC-2 7.17). */
		scsi_owner_reply(task);
		return;
	}
	pr->spc2 = false;
	pr_push(task->lun, NULL, task, false);
}

void
scsi_pr_reserve(struct osp_scsi_task *task)
{
	/* Third-party reservations and extents are not supported (the usage masks say so). */
	scsi_task_to_owner(task, pr_reserve_on_owner);
}

void
scsi_pr_release(struct osp_scsi_task *task)
{
	scsi_task_to_owner(task, pr_release_on_owner);
}

void
scsi_pr_spc2_reset(struct osp_scsi_lun *lun)
{
	if (lun->pr.spc2) {
		lun->pr.spc2 = false;
		pr_push(lun, NULL, NULL, false);
	}
}

void
scsi_pr_nexus_gone(struct osp_scsi_dev *dev, const char *iport, uint16_t tport)
{
	struct osp_scsi_lun *lun;
	int i;

	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		lun = dev->luns[i];
		if (lun != NULL && lun->pr.spc2 && lun->pr.spc2_port == tport &&
		    strcasecmp(lun->pr.spc2_iport, iport) == 0) {
			lun->pr.spc2 = false;
			pr_push(lun, NULL, NULL, false);
		}
	}
}

/* ---- PERSISTENT RESERVE IN (SPC-4 6.15) ---- */

/* An iSCSI TransportID of format 01b for a port name (SPC-4 7.6.4.6); returns its length. */
static uint32_t
pr_tid(uint8_t *p, const char *name)
{
	uint32_t len = (uint32_t)strnlen(name, OSP_SCSI_PORT_MAX_NAME) + 1;

	len = (len + 3) & ~3u;
	if (len < 20) {
		len = 20;
	}
	p[0] = OSP_SCSI_TID_FMT_ISCSI_PORT | OSP_SCSI_TID_ISCSI;
	osp_scsi_put16(&p[2], (uint16_t)len);
	memcpy(&p[4], name, strnlen(name, OSP_SCSI_PORT_MAX_NAME));
	return 4 + len;
}

static void
pr_in_on_owner(struct osp_scsi_task *task)
{
	const struct scsi_pr *pr = &task->lun->pr;
	uint32_t alloc = osp_scsi_get16(&task->cdb[7]), off = 8, i, dl;
	uint8_t *b = task->priv, *d;

	osp_scsi_put32(b, pr->generation);
	switch (task->cdb[1] & 0x1f) {
	case OSP_SCSI_PR_IN_READ_KEYS:
		for (i = 0; i < pr->nregs; i++) {
			osp_scsi_put64(&b[off], pr->regs[i].key);
			off += 8;
		}
		break;
	case OSP_SCSI_PR_IN_READ_RESERVATION:
		if (pr->type != 0) {
			/* The all-registrants types report key 0 (SPC-4 6.15.3.3). */
			osp_scsi_put64(&b[off], pr_type_all_regs(pr->type) ? 0 : pr->regs[pr->holder].key);
			b[off + 13] = pr->type;
			off += 16;
		}
		break;
	case OSP_SCSI_PR_IN_REPORT_CAPABILITIES:
		osp_scsi_put16(b, 8);
		b[2] = 0x10;		/* CRH: RESERVE/RELEASE meet PRs per SPC-4 5.12.3 */
		b[3] = 0x80;		/* TMV */
		b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;	/* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
		b[5] = 0x01;		/* EX_AC_AR */
		scsi_task_data_in(task, b, OSP_MIN(alloc, 8u));
		scsi_owner_reply(task);
		return;
	case OSP_SCSI_PR_IN_READ_FULL_STATUS:
		for (i = 0; i < pr->nregs && off + 24 + 4 + OSP_SCSI_PORT_MAX_NAME + 4 <= SCSI_EBUF_SIZE;
		     i++) {
			d = &b[off];
			osp_scsi_put64(d, pr->regs[i].key);
			if (pr_is_holder(pr, (int)i)) {
				d[12] = 0x01;	/* R_HOLDER */
				d[13] = pr->type;
			}
			osp_scsi_put16(&d[18], pr->regs[i].rel_port_id);
			dl = pr_tid(&d[24], pr->regs[i].iport);
			osp_scsi_put32(&d[20], dl);
			off += 24 + dl;
		}
		break;
	default:
		scsi_task_invalid_cdb(task, 1, 4);
		scsi_owner_reply(task);
		return;
	}
	osp_scsi_put32(&b[4], off - 8);
	scsi_task_data_in(task, b, OSP_MIN(alloc, off));
	scsi_owner_reply(task);
}

void
scsi_pr_in(struct osp_scsi_task *task)
{
	if ((task->cdb[1] & 0x1f) > OSP_SCSI_PR_IN_READ_FULL_STATUS) {
		scsi_task_invalid_cdb(task, 1, 4);
		scsi_task_complete(task);
		return;
	}
	if (scsi_task_ebuf(task) == NULL) {
		scsi_task_complete(task);
		return;
	}
	scsi_task_to_owner(task, pr_in_on_owner);
}

/* ---- PERSISTENT RESERVE OUT (SPC-4 6.16, 5.12.6-5.12.11) ---- */

/* Remove the registrations with key (but not the one at keep); UA to those removed. */
static uint32_t
pr_remove_key(struct scsi_pr *pr, uint64_t key, int *keep, struct pr_ua *u)
{
	uint32_t n = 0;
	int i;

	for (i = (int)pr->nregs - 1; i >= 0; i--) {
		if (pr->regs[i].key != key || i == *keep) {
			continue;
		}
		pr_ua_add(u, pr->regs[i].iport, pr->regs[i].rel_port_id, SCSI_UA_REG_PREEMPTED);
		pr_remove(pr, i);
		if (*keep > i) {
			(*keep)--;
		}
		n++;
	}
	return n;
}

static void
pr_release_ua(struct scsi_pr *pr, int except, struct pr_ua *u)
{
	uint32_t i;

	for (i = 0; i < pr->nregs; i++) {
		if ((int)i != except) {
			pr_ua_add(u, pr->regs[i].iport, pr->regs[i].rel_port_id, SCSI_UA_RES_RELEASED);
		}
	}
}

/* REGISTER AND MOVE's TransportID: an iSCSI port name (format 01b); NULL if not one. */
static const char *
pr_parse_tid(const uint8_t *tid, uint32_t len, char *name, size_t namelen)
{
	uint32_t alen;

	if (len < 24 || (tid[0] & 0x0f) != OSP_SCSI_TID_ISCSI ||
	    (tid[0] & 0xc0) != OSP_SCSI_TID_FMT_ISCSI_PORT) {
		return NULL;
	}
	alen = osp_scsi_get16(&tid[2]);
	if (alen + 4 > len || alen == 0 || alen > namelen - 1) {
		return NULL;
	}
	memcpy(name, &tid[4], alen);
	name[alen] = 0;
	if (strnlen(name, alen) == 0 || strnlen(name, alen) == alen) {
		return NULL;	/* must be NUL-terminated inside its length */
	}
	return name;
}

static void
pr_out_on_owner(struct osp_scsi_task *task)
{
	struct osp_scsi_lun *lun = task->lun;
	struct scsi_pr *pr = &lun->pr;
	struct osp_scsi_itn *itn = task->itn;
	const uint8_t *p = task->priv;
	uint8_t sa = task->cdb[1] & 0x1f, type = task->cdb[2] & 0x0f;
	uint64_t key = osp_scsi_get64(p), sa_key = osp_scsi_get64(p + 8);
	int me = pr_find(pr, itn->iport_name, itn->tport_id), dst;
	struct pr_ua *u;
	bool changed = false, gen = false;
	char name[OSP_SCSI_PORT_MAX_NAME + 1];
	uint16_t relport;
	uint32_t tidlen;

	/* PERSISTENT RESERVE OUT is control path: its bookkeeping may allocate. */
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		scsi_task_sense(task, OSP_SCSI_SK_HARDWARE_ERROR, OSP_SCSI_ASC_INTERNAL_TARGET_FAILURE);
		scsi_owner_reply(task);
		return;
	}
	switch (sa) {
	case OSP_SCSI_PR_OUT_REGISTER:
	case OSP_SCSI_PR_OUT_REGISTER_AND_IGNORE:
		if (me < 0) {
			if (sa == OSP_SCSI_PR_OUT_REGISTER && key != 0) {
				pr_conflict(task);
				break;
			}
			if (sa_key == 0) {
				break;
			}
			if (pr->nregs == SCSI_MAX_REGISTRANTS) {
				scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST,
						OSP_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
				break;
			}
			pr->regs[pr->nregs].key = sa_key;
			pr->regs[pr->nregs].rel_port_id = itn->tport_id;
			snprintf(pr->regs[pr->nregs].iport, sizeof(pr->regs[0].iport), "%s",
				 itn->iport_name);
			pr->nregs++;
			changed = gen = true;
			break;
		}
		if (sa == OSP_SCSI_PR_OUT_REGISTER && key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		if (sa_key != 0) {
			pr->regs[me].key = sa_key;
			changed = gen = true;
			break;
		}
		/* Unregister: a registrants-only reservation it held is released (SPC-4 5.12.11.2). */
		if (pr_is_holder(pr, me) && pr_type_regs_only(pr->type)) {
			pr_release_ua(pr, me, u);
		}
		pr_remove(pr, me);
		changed = gen = true;
		break;
	case OSP_SCSI_PR_OUT_RESERVE:
		if (me < 0 || key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		if (pr->type != 0) {
			if (!pr_is_holder(pr, me) || pr->type != type) {
				pr_conflict(task);
			}
			break;
		}
		pr->type = type;
		pr->holder = me;
		changed = true;
		break;
	case OSP_SCSI_PR_OUT_RELEASE:
		if (me < 0 || key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		if (pr->type == 0 || !pr_is_holder(pr, me)) {
			break;
		}
		if (pr->type != type) {
			scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_RELEASE_OF_PR);
			break;
		}
		if (pr_type_regs_only(pr->type) || pr_type_all_regs(pr->type)) {
			pr_release_ua(pr, me, u);
		}
		pr->type = 0;
		pr->holder = -1;
		changed = true;
		break;
	case OSP_SCSI_PR_OUT_CLEAR:
		if (me < 0 || key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		while (pr->nregs > 0) {
			if ((int)pr->nregs - 1 != me) {
				pr_ua_add(u, pr->regs[pr->nregs - 1].iport,
					  pr->regs[pr->nregs - 1].rel_port_id, SCSI_UA_RES_PREEMPTED);
			}
			pr->nregs--;
		}
		pr->type = 0;
		pr->holder = -1;
		changed = gen = true;
		break;
	case OSP_SCSI_PR_OUT_PREEMPT:
	case OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT:
		if (me < 0 || key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		if (pr->type != 0 && pr_type_all_regs(pr->type) && sa_key == 0) {
			/* Everyone else out; the reservation is the preempter's, of the new type. */
			while ((int)pr->nregs > 1) {
				dst = me == 0 ? 1 : 0;
				pr_ua_add(u, pr->regs[dst].iport, pr->regs[dst].rel_port_id,
					  SCSI_UA_REG_PREEMPTED);
				pr_remove(pr, dst);
				if (me > dst) {
					me--;
				}
			}
			pr->type = type;
			pr->holder = me;
			changed = gen = true;
			break;
		}
		if (sa_key == 0) {
			scsi_task_invalid_param(task, 8, -1);
			break;
		}
		if (pr->type != 0 && !pr_type_all_regs(pr->type) &&
		    pr->regs[pr->holder].key == sa_key) {
			/* Preempting the holder: its reservation becomes ours (SPC-4 5.12.11.4.3). */
			pr_remove_key(pr, sa_key, &me, u);
			pr->type = type;
			pr->holder = me;
			changed = gen = true;
			break;
		}
		if (pr_remove_key(pr, sa_key, &me, u) == 0) {
			pr_conflict(task);
			break;
		}
		changed = gen = true;
		break;
	case OSP_SCSI_PR_OUT_REGISTER_AND_MOVE:
		if (me < 0 || key != pr->regs[me].key) {
			pr_conflict(task);
			break;
		}
		if (pr->type == 0 || !pr_is_holder(pr, me)) {
			pr_conflict(task);
			break;
		}
		if (pr_type_all_regs(pr->type)) {
			scsi_task_invalid_cdb(task, 2, 3);
			break;
		}
		if (sa_key == 0) {
			scsi_task_invalid_param(task, 8, -1);
			break;
		}
		relport = osp_scsi_get16(p + 18);
		tidlen = osp_scsi_get32(p + 20);
		if (osp_scsi_dev_find_port(lun->dev, relport) == NULL) {
			scsi_task_invalid_param(task, 18, -1);
			break;
		}
		if (tidlen > task->priv_u64[2] - 24 ||
		    pr_parse_tid(p + 24, tidlen, name, sizeof(name)) == NULL) {
			scsi_task_invalid_param(task, 24, -1);
			break;
		}
		if (relport == itn->tport_id && strcasecmp(name, itn->iport_name) == 0) {
			/* Moving to itself (SPC-4 5.12.8). */
			scsi_task_invalid_param(task, 24, -1);
			break;
		}
		dst = pr_find(pr, name, relport);
		if (dst < 0) {
			if (pr->nregs == SCSI_MAX_REGISTRANTS) {
				scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST,
						OSP_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
				break;
			}
			dst = (int)pr->nregs++;
			pr->regs[dst].rel_port_id = relport;
			snprintf(pr->regs[dst].iport, sizeof(pr->regs[0].iport), "%s", name);
		}
		pr->regs[dst].key = sa_key;
		pr->holder = dst;
		if (p[17] & OSP_SCSI_PR_MOVE_UNREG) {
			pr_remove(pr, me);
		}
		changed = gen = true;
		break;
	}
	if (gen) {
		pr->generation++;
	}
	if (changed) {
		pr_push(lun, u, task, sa == OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT);
	} else {
		scsi_owner_reply(task);
	}
	free(u);
}

void
scsi_pr_out(struct osp_scsi_task *task)
{
	uint8_t sa = task->cdb[1] & 0x1f, scope = task->cdb[2] >> 4, type = task->cdb[2] & 0x0f;
	uint32_t plen = osp_scsi_get32(&task->cdb[5]);
	uint8_t *p;

	if (sa > OSP_SCSI_PR_OUT_REGISTER_AND_MOVE) {
		scsi_task_invalid_cdb(task, 1, 4);
		scsi_task_complete(task);
		return;
	}
	if ((sa == OSP_SCSI_PR_OUT_RESERVE || sa == OSP_SCSI_PR_OUT_RELEASE ||
	     sa == OSP_SCSI_PR_OUT_PREEMPT || sa == OSP_SCSI_PR_OUT_PREEMPT_AND_ABORT ||
	     sa == OSP_SCSI_PR_OUT_REGISTER_AND_MOVE)) {
		if (scope != 0) {
			/* LU_SCOPE only. */
			scsi_task_invalid_cdb(task, 2, 7);
			scsi_task_complete(task);
			return;
		}
		if (!pr_type_valid(type) && sa != OSP_SCSI_PR_OUT_REGISTER_AND_MOVE) {
			scsi_task_invalid_cdb(task, 2, 3);
			scsi_task_complete(task);
			return;
		}
	}
	/* SPC-4 6.16.2: 24 bytes, except REGISTER AND MOVE (24 + TransportID). */
	if ((sa != OSP_SCSI_PR_OUT_REGISTER_AND_MOVE && plen != 24) ||
	    (sa == OSP_SCSI_PR_OUT_REGISTER_AND_MOVE && (plen < 24 + 24 || plen > SCSI_EBUF_SIZE / 2))) {
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_complete(task);
		return;
	}
	task->data_wanted = plen;
	if (task->dir != OSP_SCSI_DIR_TO_DEV || task->transfer_len < plen) {
		task->data_transferred = 0;
		scsi_task_sense(task, OSP_SCSI_SK_ILLEGAL_REQUEST, OSP_SCSI_ASC_INVALID_FIELD_IN_CMD_IU);
		scsi_task_complete(task);
		return;
	}
	p = scsi_task_ebuf(task);
	if (p == NULL) {
		scsi_task_complete(task);
		return;
	}
	scsi_task_data_out(task, p, plen);
	if (sa == OSP_SCSI_PR_OUT_REGISTER_AND_MOVE) {
		if (p[17] & OSP_SCSI_PR_OUT_APTPL) {
			scsi_task_invalid_param(task, 17, 0);
			scsi_task_complete(task);
			return;
		}
	} else {
		if (p[20] & OSP_SCSI_PR_OUT_APTPL) {
			/* Persist through power loss: not supported (PTPL_C 0). */
			scsi_task_invalid_param(task, 20, 0);
			scsi_task_complete(task);
			return;
		}
		if (p[20] & (OSP_SCSI_PR_OUT_SPEC_I_PT | OSP_SCSI_PR_OUT_ALL_TG_PT)) {
			scsi_task_invalid_param(task, 20, p[20] & OSP_SCSI_PR_OUT_SPEC_I_PT ? 3 : 2);
			scsi_task_complete(task);
			return;
		}
	}
	task->priv_u64[2] = plen;
	scsi_task_to_owner(task, pr_out_on_owner);
}

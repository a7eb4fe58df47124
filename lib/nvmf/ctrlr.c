/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF controllers (NVMe Base Specification 2.0, NVMe-oF 1.1): their life
 * cycle (teardown, keep alive timer) and the dispatch of a qpair's commands:
 * Fabrics commands to fabrics.c, admin commands to admin.c, I/O commands to
 * the bdev back end (ctrlr_bdev.c). The files split as the Linux kernel's
 * drivers/nvme/target does (core, fabrics-cmd, admin-cmd).
 *
 * Threads: a controller lives on the thread of its admin qpair's poll
 * group. Connect (fabrics.c) starts on the qpair's thread, looks the
 * subsystem up on the target's thread (which owns the subsystem's controller
 * list) and, for an I/O queue, asks the controller's thread to attach it. A
 * controller is freed in three hops (its thread, the target's, its thread
 * again) so that every message the target thread sent it earlier still
 * finds it.
 *
 * Command paths answer with NVMe status in req->rsp; nothing here returns
 * -errno to a host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/iov.h"
#include "osprey/log.h"
#include "osprey/nvmf_transport.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "nvmf_bdev.h"
#include "nvmf_internal.h"

/* ---- helpers ---- */

void
nvmf_req_status(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	osp_nvme_cpl_set_status(&req->rsp, sct, sc, false);
}

/* Every completion of a controller command: count down the subsystem gate, then the qpair. */
void
nvmf_ctrlr_req_done(struct osp_nvmf_request *req)
{
	struct nvmf_subsystem_pg *sg = req->core_ctx;
	struct nvmf_pg_iter *it;

	req->core_ctx = NULL;
	if (sg != NULL) {
		sg->io_outstanding--;
		if (sg->io_outstanding == 0 && sg->pause_it != NULL) {
			it = sg->pause_it;
			sg->pause_it = NULL;
			nvmf_pg_iter_next(it, 0);
		}
	}
	nvmf_request_complete(req);
}

void
nvmf_req_fail(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	nvmf_req_status(req, sct, sc);
	nvmf_ctrlr_req_done(req);
}

/* Copy len bytes of buf into the request's data buffer (at most req->length). */
void
nvmf_req_copy_to(struct osp_nvmf_request *req, const void *buf, size_t len)
{
	osp_iov_copy_from_buf(buf, OSP_MIN(len, (size_t)req->length), req->iov,
			      (int)OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS), 0);
}

/* Copy up to len bytes of the request's data into buf; returns the bytes copied. */
size_t
nvmf_req_copy_from(struct osp_nvmf_request *req, void *buf, size_t len)
{
	return osp_iov_copy_to_buf(buf, OSP_MIN(len, (size_t)req->length), req->iov,
				   (int)OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS), 0);
}

uint64_t
nvmf_ctrlr_now(void)
{
	return osp_thread_get_last_tsc(NULL);
}

bool
nvmf_ctrlr_is_discovery(const struct nvmf_ctrlr *ctrlr)
{
	return ctrlr->subsys->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY;
}

/* ---- controller teardown ---- */

struct qpair_ref {
	struct nvmf_poll_group *pg;
	uint64_t id;
};

static void
disconnect_qpair_msg(void *arg)
{
	struct qpair_ref *r = arg;

	nvmf_qpair_disconnect_by_id(r->pg, r->id);
	free(r);
}

/* Disconnect every qpair of ctrlr (controller's thread). */
void
nvmf_ctrlr_disconnect_all(struct nvmf_ctrlr *ctrlr)
{
	struct qpair_ref *r;
	uint16_t qid;

	for (qid = 1; qid < ctrlr->max_qpairs; qid++) {
		if (ctrlr->qpair_ids[qid] == 0) {
			continue;
		}
		r = calloc(1, sizeof(*r));
		if (r == NULL) {
			continue;
		}
		r->pg = ctrlr->qpair_groups[qid];
		r->id = ctrlr->qpair_ids[qid];
		osp_thread_send_msg(r->pg->thread, disconnect_qpair_msg, r);
	}
	if (ctrlr->admin != NULL) {
		osp_nvmf_qpair_disconnect(ctrlr->admin->qpair);
	}
}

/* Only I/O queues go (controller reset or shutdown through CC). */
void
nvmf_ctrlr_disconnect_io(struct nvmf_ctrlr *ctrlr)
{
	struct nvmf_qpair *admin = ctrlr->admin;

	ctrlr->admin = NULL;
	nvmf_ctrlr_disconnect_all(ctrlr);
	ctrlr->admin = admin;
}

static void
ctrlr_gone_on_tgt(void *arg)
{
	struct osp_nvmf_subsystem *s = arg;
	struct osp_nvmf_tgt *tgt = s->tgt;

	s->num_ctrlrs--;
	tgt->num_ctrlrs--;
	nvmf_subsystem_maybe_free(s);
	nvmf_tgt_check_idle(tgt);
}

static void
ctrlr_free(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;
	struct osp_nvmf_subsystem *s = ctrlr->subsys;

	free(ctrlr->qpair_ids);
	free(ctrlr->qpair_groups);
	free(ctrlr);
	osp_thread_send_msg(s->tgt->thread, ctrlr_gone_on_tgt, s);
}

static void
ctrlr_remove_on_tgt(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;

	TAILQ_REMOVE(&ctrlr->subsys->ctrlrs, ctrlr, link);
	/* After every message this thread sent the controller before. */
	osp_thread_send_msg(ctrlr->thread, ctrlr_free, ctrlr);
}

static void
ctrlr_destroy(struct nvmf_ctrlr *ctrlr)
{
	if (ctrlr->destroying) {
		return;
	}
	ctrlr->destroying = true;
	osp_poller_unregister(&ctrlr->ka_poller);
	osp_thread_send_msg(ctrlr->subsys->tgt->thread, ctrlr_remove_on_tgt, ctrlr);
}

struct io_detach_ctx {
	struct nvmf_ctrlr *ctrlr;
	uint16_t qid;
	uint64_t id;
};

static void
io_detach_on_ctrlr(void *arg)
{
	struct io_detach_ctx *d = arg;
	struct nvmf_ctrlr *ctrlr = d->ctrlr;

	if (d->qid < ctrlr->max_qpairs && ctrlr->qpair_ids[d->qid] == d->id) {
		ctrlr->qpair_ids[d->qid] = 0;
		ctrlr->qpair_groups[d->qid] = NULL;
		ctrlr->num_io_qpairs--;
	}
	if (ctrlr->admin_gone && ctrlr->num_io_qpairs == 0) {
		ctrlr_destroy(ctrlr);
	}
	free(d);
}

void
nvmf_ctrlr_qpair_detach(struct nvmf_qpair *qp)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;
	struct io_detach_ctx *d;

	qp->ctrlr = NULL;
	if (qp->qpair->qid == 0) {
		ctrlr->admin = NULL;
		ctrlr->admin_gone = true;
		osp_poller_unregister(&ctrlr->ka_poller);
		nvmf_ctrlr_disconnect_all(ctrlr);
		if (ctrlr->num_io_qpairs == 0) {
			ctrlr_destroy(ctrlr);
		}
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		OSP_ERRLOG("out of memory detaching qpair %u of controller %u\n", qp->qpair->qid,
			   ctrlr->cntlid);
		return;
	}
	d->ctrlr = ctrlr;
	d->qid = qp->qpair->qid;
	d->id = qp->id;
	osp_thread_send_msg(ctrlr->thread, io_detach_on_ctrlr, d);
}

void
nvmf_ctrlr_qpair_disconnecting(struct nvmf_qpair *qp)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;
	struct osp_nvmf_request *req;

	if (qp->qpair->qid != 0 || ctrlr->admin != qp) {
		return;
	}
	while (ctrlr->num_aer > 0) {
		req = ctrlr->aer[--ctrlr->num_aer];
		ctrlr->aer[ctrlr->num_aer] = NULL;
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
	}
}

int
nvmf_ctrlr_keep_alive_poll(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;
	uint64_t now = nvmf_ctrlr_now();
	uint64_t limit = (uint64_t)ctrlr->kato * osp_get_ticks_hz() / 1000;

	/* A clock behind the last Keep Alive (fake time in tests) is not a timeout. */
	if (now <= ctrlr->last_keep_alive || now - ctrlr->last_keep_alive <= limit) {
		return OSP_POLLER_IDLE;
	}
	OSP_NOTICELOG("controller %u of %s (host %s): keep alive timeout (%u ms), disconnecting\n",
		      ctrlr->cntlid, ctrlr->subsys->nqn, ctrlr->hostnqn, ctrlr->kato);
	osp_poller_unregister(&ctrlr->ka_poller);
	nvmf_ctrlr_disconnect_all(ctrlr);
	return OSP_POLLER_BUSY;
}

/* ---- dispatch ---- */

/* Hold req while its subsystem is not active; count it while it runs. */
static bool
ctrlr_gate(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;
	struct nvmf_subsystem_pg *sg;

	if (nvmf_ctrlr_is_discovery(ctrlr)) {
		return true;
	}
	sg = nvmf_sgroup(qp->group, ctrlr->subsys);
	if (sg == NULL) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return false;
	}
	if (sg->state != OSP_NVMF_SUBSYSTEM_ACTIVE) {
		if (qp->fused_first != NULL) {
			/*
			 * A held first half would keep the pause waiting for a
			 * second half that the pause holds back: end it.
			 */
			struct osp_nvmf_request *first = qp->fused_first;

			qp->fused_first = NULL;
			nvmf_req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
		}
		TAILQ_INSERT_TAIL(&sg->queued, req, link);
		return false;
	}
	sg->io_outstanding++;
	req->core_ctx = sg;
	return true;
}

static void
ctrlr_admin(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;

	switch (req->cmd.opc) {
	case OSP_NVME_OPC_IDENTIFY:
		nvmf_admin_identify(ctrlr, req);
		break;
	case OSP_NVME_OPC_GET_LOG_PAGE:
		nvmf_admin_get_log_page(ctrlr, req);
		break;
	case OSP_NVME_OPC_GET_FEATURES:
		nvmf_admin_get_features(ctrlr, req);
		break;
	case OSP_NVME_OPC_SET_FEATURES:
		nvmf_admin_set_features(ctrlr, req);
		break;
	default:
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
		break;
	}
}

static void
ctrlr_io_done(struct osp_nvmf_request *req)
{
	nvmf_ctrlr_req_done(req);
}

static struct nvmf_sg_ns *
ctrlr_io_ns(struct nvmf_qpair *qp, uint32_t nsid)
{
	struct nvmf_subsystem_pg *sg = nvmf_sgroup(qp->group, qp->ctrlr->subsys);

	if (sg == NULL || nsid == 0 || nsid > sg->num_ns || sg->ns[nsid - 1].ns == NULL ||
	    sg->ns[nsid - 1].ch == NULL) {
		return NULL;
	}
	return &sg->ns[nsid - 1];
}

static void
ctrlr_io(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	struct osp_nvmf_request *first = qp->fused_first;
	struct nvmf_sg_ns *ns;
	uint8_t fuse = req->cmd.fuse;

	if (first != NULL) {
		qp->fused_first = NULL;
		if (fuse != 2 || req->cmd.opc != OSP_NVME_OPC_WRITE ||
		    req->cmd.nsid != first->cmd.nsid) {
			/* §3.4.2: both halves end when the second is not there. */
			nvmf_req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
			return;
		}
		ns = ctrlr_io_ns(qp, req->cmd.nsid);
		if (ns == NULL) {
			nvmf_req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			return;
		}
		if (nvmf_bdev_exec_compare_and_write(first, req, ns->desc, ns->ch, ctrlr_io_done) ==
		    NVMF_BDEV_DONE) {
			nvmf_ctrlr_req_done(first);
			nvmf_ctrlr_req_done(req);
		}
		return;
	}
	if (fuse == 1) {
		if (req->cmd.opc != OSP_NVME_OPC_COMPARE) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		qp->fused_first = req;	/* waits for its second half */
		return;
	}
	if (fuse != 0) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
		return;
	}
	ns = ctrlr_io_ns(qp, req->cmd.nsid);
	if (ns == NULL) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	if (nvmf_bdev_exec_io(req, ns->desc, ns->ch, ctrlr_io_done) == NVMF_BDEV_DONE) {
		nvmf_ctrlr_req_done(req);
	}
}

void
nvmf_ctrlr_exec_gated(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	if (qp->ctrlr == NULL || qp->disconnecting) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
		return;
	}
	if (!ctrlr_gate(qp, req)) {
		return;
	}
	if (qp->qpair->qid == 0) {
		ctrlr_admin(qp, req);
	} else {
		ctrlr_io(qp, req);
	}
}

void
nvmf_ctrlr_exec(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;
	union osp_nvme_cc_register cc;

	if (req->cmd.opc == OSP_NVMF_FABRIC_OPCODE) {
		nvmf_fabrics_exec(qp, req);
		return;
	}
	if (!qp->connected || ctrlr == NULL) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	cc.raw = ctrlr->cc;
	if (qp->qpair->qid != 0) {
		nvmf_ctrlr_exec_gated(qp, req);
		return;
	}
	if (!cc.bits.en) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (req->cmd.fuse != 0) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	/* Commands that never touch namespaces are not held by a pause. */
	switch (req->cmd.opc) {
	case OSP_NVME_OPC_KEEP_ALIVE:
		ctrlr->last_keep_alive = nvmf_ctrlr_now();
		nvmf_ctrlr_req_done(req);
		return;
	case OSP_NVME_OPC_ASYNC_EVENT_REQUEST:
		nvmf_admin_aer(ctrlr, req);
		return;
	case OSP_NVME_OPC_ABORT:
		nvmf_admin_abort(ctrlr, req);
		return;
	default:
		nvmf_ctrlr_exec_gated(qp, req);
		return;
	}
}

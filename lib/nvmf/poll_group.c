/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target data plane plumbing: poll groups (one per thread serving
 * connections), the acceptor, the queue pair life cycle of
 * include/osprey/nvmf_transport.h, and the per-group copy of each
 * subsystem's state (active/paused, namespace channels, requests held while
 * paused).
 *
 * Threads: the target's lists (subsystems, poll groups, transports) belong
 * to the target's thread; a poll group, its qpairs and its subsystem copies
 * belong to the group's thread. Changes reach the groups through
 * nvmf_pg_for_each(), which visits them one after the other by message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/log.h"
#include "osprey/nvmf_transport.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "nvmf_internal.h"

#define NVMF_DEFAULT_ACCEPTOR_POLL_RATE 10000 /* µs */

/*
 * Poll group of each thread. A group is registered on its own thread before
 * it receives any qpair and removed on it at the end, so a reader only ever
 * looks for its own thread's entry; slots are claimed with a CAS.
 */
#define NVMF_MAX_PG_SLOTS 1024
static struct {
	struct osp_thread *thread;
	struct nvmf_poll_group *pg;
} g_pg_slots[NVMF_MAX_PG_SLOTS];

static void
pg_slot_set(struct osp_thread *thread, struct nvmf_poll_group *pg)
{
	struct osp_thread *expected;
	size_t i;

	for (i = 0; i < NVMF_MAX_PG_SLOTS; i++) {
		expected = NULL;
		if (__atomic_compare_exchange_n(&g_pg_slots[i].thread, &expected, thread, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&g_pg_slots[i].pg, pg, __ATOMIC_RELEASE);
			return;
		}
	}
	OSP_ERRLOG("too many nvmf poll groups\n");
}

static void
pg_slot_clear(struct osp_thread *thread)
{
	size_t i;

	for (i = 0; i < NVMF_MAX_PG_SLOTS; i++) {
		if (__atomic_load_n(&g_pg_slots[i].thread, __ATOMIC_ACQUIRE) == thread) {
			__atomic_store_n(&g_pg_slots[i].pg, NULL, __ATOMIC_RELEASE);
			__atomic_store_n(&g_pg_slots[i].thread, NULL, __ATOMIC_RELEASE);
			return;
		}
	}
}

struct nvmf_poll_group *
nvmf_get_poll_group(void)
{
	struct osp_thread *thread = osp_get_thread();
	size_t i;

	if (thread == NULL) {
		return NULL;
	}
	for (i = 0; i < NVMF_MAX_PG_SLOTS; i++) {
		if (__atomic_load_n(&g_pg_slots[i].thread, __ATOMIC_ACQUIRE) == thread) {
			return __atomic_load_n(&g_pg_slots[i].pg, __ATOMIC_ACQUIRE);
		}
	}
	return NULL;
}

/* ---- iteration over poll groups ---- */

struct nvmf_pg_iter {
	struct osp_nvmf_tgt *tgt;
	struct osp_thread *orig;
	nvmf_pg_fn fn;
	nvmf_pg_done_fn cpl;
	void *ctx;
	struct nvmf_poll_group *cur;
	int status;
};

static void pg_iter_step(void *arg);

static void
pg_iter_run(void *arg)
{
	struct nvmf_pg_iter *it = arg;

	it->fn(it->cur, it);
}

/* On the originating thread: go to the next group or finish. */
static void
pg_iter_step(void *arg)
{
	struct nvmf_pg_iter *it = arg;

	it->cur = it->cur == NULL ? TAILQ_FIRST(&it->tgt->poll_groups) :
		  TAILQ_NEXT(it->cur, link);
	if (it->cur == NULL || it->status != 0) {
		if (it->cpl != NULL) {
			it->cpl(it->ctx, it->status);
		}
		free(it);
		return;
	}
	osp_thread_send_msg(it->cur->thread, pg_iter_run, it);
}

void
nvmf_pg_for_each(struct osp_nvmf_tgt *tgt, nvmf_pg_fn fn, void *ctx, nvmf_pg_done_fn cpl)
{
	struct nvmf_pg_iter *it;

	if (TAILQ_EMPTY(&tgt->poll_groups)) {
		if (cpl != NULL) {
			cpl(ctx, 0);
		}
		return;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		OSP_ERRLOG("out of memory iterating poll groups\n");
		if (cpl != NULL) {
			cpl(ctx, -ENOMEM);
		}
		return;
	}
	it->tgt = tgt;
	it->orig = osp_get_thread();
	it->fn = fn;
	it->cpl = cpl;
	it->ctx = ctx;
	pg_iter_step(it);
}

void
nvmf_pg_iter_next(struct nvmf_pg_iter *it, int status)
{
	if (status != 0) {
		it->status = status;
	}
	osp_thread_send_msg(it->orig, pg_iter_step, it);
}

void *
nvmf_pg_iter_ctx(struct nvmf_pg_iter *it)
{
	return it->ctx;
}

/* ---- poll groups ---- */

static int sg_sync_ns(struct nvmf_subsystem_pg *sg, struct osp_nvmf_subsystem *s, bool keep);

static int
pg_poll(void *arg)
{
	struct nvmf_poll_group *pg = arg;
	struct osp_nvmf_transport_poll_group *tg;
	int rc, busy = 0;

	TAILQ_FOREACH(tg, &pg->tgroups, link) {
		rc = tg->transport->ops->poll_group_poll(tg);
		if (rc > 0) {
			busy = 1;
		}
	}
	return busy ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

static struct osp_nvmf_transport_poll_group *
pg_tgroup_create(struct nvmf_poll_group *pg, struct osp_nvmf_transport *t)
{
	struct osp_nvmf_transport_poll_group *tg;

	TAILQ_FOREACH(tg, &pg->tgroups, link) {
		if (tg->transport == t) {
			return tg;
		}
	}
	if (t->ops->poll_group_create == NULL || t->ops->poll_group_poll == NULL) {
		return NULL;
	}
	tg = t->ops->poll_group_create(t);
	if (tg == NULL) {
		OSP_ERRLOG("transport %s: cannot create its poll group on %s\n", t->ops->name,
			   osp_thread_get_name(pg->thread));
		return NULL;
	}
	tg->transport = t;
	TAILQ_INSERT_TAIL(&pg->tgroups, tg, link);
	return tg;
}

struct pg_create_ctx {
	struct nvmf_poll_group *pg;
	void (*cb)(void *arg, int rc);
	void *arg;
	int rc;
};

static void
pg_create_done(void *arg)
{
	struct pg_create_ctx *c = arg;
	struct osp_nvmf_tgt *tgt = c->pg->tgt;

	if (c->rc == 0) {
		TAILQ_INSERT_TAIL(&tgt->poll_groups, c->pg, link);
		tgt->num_poll_groups++;
	} else {
		free(c->pg->sgroups);
		free(c->pg);
	}
	if (c->cb != NULL) {
		c->cb(c->arg, c->rc);
	}
	free(c);
}

static void
pg_create_on_thread(void *arg)
{
	struct pg_create_ctx *c = arg;
	struct nvmf_poll_group *pg = c->pg;
	struct osp_nvmf_transport *t;
	struct osp_nvmf_subsystem *s;
	uint32_t i;

	pg->poller = osp_poller_register_named(pg_poll, pg, 0, "nvmf_poll_group_poll");
	if (pg->poller == NULL) {
		c->rc = -ENOMEM;
	} else {
		for (i = 0; i < pg->num_sgroups; i++) {
			TAILQ_INIT(&pg->sgroups[i].queued);
			pg->sgroups[i].state = OSP_NVMF_SUBSYSTEM_INACTIVE;
		}
		/*
		 * The target's lists are read here while its thread waits for us
		 * (groups are created at start-up, before any RPC runs).
		 */
		TAILQ_FOREACH(t, &pg->tgt->transports, link) {
			pg_tgroup_create(pg, t);
		}
		TAILQ_FOREACH(s, &pg->tgt->subsystems, link) {
			struct nvmf_subsystem_pg *sg = nvmf_sgroup(pg, s);

			if (sg != NULL && s->state == OSP_NVMF_SUBSYSTEM_ACTIVE) {
				sg_sync_ns(sg, s, true);
				sg->state = OSP_NVMF_SUBSYSTEM_ACTIVE;
			}
		}
		pg_slot_set(pg->thread, pg);
	}
	osp_thread_send_msg(pg->tgt->thread, pg_create_done, c);
}

int
nvmf_tgt_add_poll_group(struct osp_nvmf_tgt *tgt, struct osp_thread *thread, bool own_thread,
			void (*cb)(void *arg, int rc), void *arg)
{
	struct pg_create_ctx *c = calloc(1, sizeof(*c));
	struct nvmf_poll_group *pg = calloc(1, sizeof(*pg));

	if (c == NULL || pg == NULL) {
		free(c);
		free(pg);
		return -ENOMEM;
	}
	if (tgt->thread == NULL) {
		tgt->thread = osp_get_thread();
	}
	pg->tgt = tgt;
	pg->thread = thread;
	pg->own_thread = own_thread;
	TAILQ_INIT(&pg->tgroups);
	TAILQ_INIT(&pg->qpairs);
	pg->num_sgroups = tgt->max_subsystems + 1;
	pg->sgroups = calloc(pg->num_sgroups, sizeof(*pg->sgroups));
	if (pg->sgroups == NULL) {
		free(pg);
		free(c);
		return -ENOMEM;
	}
	c->pg = pg;
	c->cb = cb;
	c->arg = arg;
	return osp_thread_send_msg(thread, pg_create_on_thread, c);
}

static void
pg_add_transport(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	pg_tgroup_create(pg, nvmf_pg_iter_ctx(it));
	nvmf_pg_iter_next(it, 0);
}

/* ---- the acceptor and new qpairs ---- */

struct new_qpair_ctx {
	struct osp_nvmf_tgt *tgt;
	struct nvmf_poll_group *pg;
	struct osp_nvmf_qpair *qpair;
	uint64_t id;
};

static void
new_qpair_failed(void *arg)
{
	struct osp_nvmf_tgt *tgt = arg;

	tgt->num_pending_qpairs--;
	nvmf_tgt_check_idle(tgt);
}

static void
new_qpair_on_group(void *arg)
{
	struct new_qpair_ctx *c = arg;
	struct nvmf_poll_group *pg = c->pg;
	struct osp_nvmf_qpair *qpair = c->qpair;
	struct osp_nvmf_transport_poll_group *tg;
	struct nvmf_qpair *qp = calloc(1, sizeof(*qp));
	int rc = -ENOMEM;

	TAILQ_FOREACH(tg, &pg->tgroups, link) {
		if (tg->transport == qpair->transport) {
			break;
		}
	}
	if (tg == NULL) {
		rc = -ENODEV;
	}
	if (qp != NULL && tg != NULL) {
		qp->qpair = qpair;
		qp->group = pg;
		qp->tgroup = tg;
		qp->id = c->id;
		qpair->group = tg;
		qpair->core_ctx = qp;
		qpair->disconnecting = false;
		TAILQ_INSERT_TAIL(&pg->qpairs, qp, link);
		rc = tg->transport->ops->poll_group_add(tg, qpair);
		if (rc != 0) {
			TAILQ_REMOVE(&pg->qpairs, qp, link);
		}
	}
	if (rc != 0) {
		OSP_ERRLOG("cannot add a new %s qpair to poll group %s: %s\n",
			   qpair->transport->ops->name, osp_thread_get_name(pg->thread),
			   strerror(-rc));
		free(qp);
		if (qpair->transport->ops->qpair_fini != NULL) {
			qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		}
	}
	osp_thread_send_msg(c->tgt->thread, new_qpair_failed, c->tgt);
	free(c);
}

static void
new_qpair(struct osp_nvmf_qpair *qpair, void *cb_arg)
{
	struct osp_nvmf_tgt *tgt = cb_arg;
	struct new_qpair_ctx *c = calloc(1, sizeof(*c));
	struct nvmf_poll_group *pg = tgt->next_pg;

	if (pg == NULL) {
		pg = TAILQ_FIRST(&tgt->poll_groups);
	}
	if (c == NULL || pg == NULL) {
		free(c);
		OSP_ERRLOG("no poll group for a new %s connection\n", qpair->transport->ops->name);
		if (qpair->transport->ops->qpair_fini != NULL) {
			qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		}
		return;
	}
	tgt->next_pg = TAILQ_NEXT(pg, link);
	c->tgt = tgt;
	c->pg = pg;
	c->qpair = qpair;
	c->id = ++tgt->next_qpair_id;
	tgt->num_pending_qpairs++;
	osp_thread_send_msg(pg->thread, new_qpair_on_group, c);
}

static int
acceptor_poll(void *arg)
{
	struct osp_nvmf_tgt *tgt = arg;
	struct osp_nvmf_transport *t;
	uint32_t n = 0;

	TAILQ_FOREACH(t, &tgt->transports, link) {
		if (t->ops->accept != NULL) {
			n += t->ops->accept(t, new_qpair, tgt);
		}
	}
	return n > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

void
nvmf_tgt_transport_added(struct osp_nvmf_tgt *tgt, struct osp_nvmf_transport *transport)
{
	uint32_t rate = transport->opts.acceptor_poll_rate;

	if (tgt->thread == NULL) {
		tgt->thread = osp_get_thread();
	}
	if (tgt->acceptor == NULL && osp_get_thread() != NULL) {
		tgt->acceptor = osp_poller_register_named(acceptor_poll, tgt,
				rate != 0 ? rate : NVMF_DEFAULT_ACCEPTOR_POLL_RATE,
				"nvmf_tgt_accept");
	}
	nvmf_pg_for_each(tgt, pg_add_transport, transport, NULL);
}

/* ---- qpair life cycle ---- */

struct nvmf_qpair *
nvmf_qpair_lookup(struct osp_nvmf_qpair *qpair)
{
	/* Set when the qpair joined its group; valid until its fini completes. */
	return qpair->core_ctx;
}

static void
qpair_fini_done(void *arg)
{
	struct nvmf_qpair *qp = arg;
	struct nvmf_poll_group *pg = qp->group;
	struct nvmf_pg_iter *it;

	TAILQ_REMOVE(&pg->qpairs, qp, link);
	free(qp);
	if (TAILQ_EMPTY(&pg->qpairs) && pg->drain_it != NULL) {
		it = pg->drain_it;
		pg->drain_it = NULL;
		nvmf_pg_iter_next(it, 0);
	}
}

/* Step 4 of the life cycle: nothing is held any more. */
static void
qpair_teardown(void *arg)
{
	struct nvmf_qpair *qp = arg;
	struct osp_nvmf_qpair *qpair = qp->qpair;
	const struct osp_nvmf_transport_ops *ops = qpair->transport->ops;

	if (qp->ctrlr != NULL) {
		if (qpair->qid == 0) {
			qp->group->current_admin_qpairs--;
		} else {
			qp->group->current_io_qpairs--;
		}
		nvmf_ctrlr_qpair_detach(qp);
	}
	if (ops->poll_group_remove != NULL) {
		ops->poll_group_remove(qp->tgroup, qpair);
	}
	if (ops->qpair_fini != NULL) {
		ops->qpair_fini(qpair, qpair_fini_done, qp);
	} else {
		qpair_fini_done(qp);
	}
}

static void
qpair_check_drained(struct nvmf_qpair *qp)
{
	if (qp->disconnecting && qp->outstanding == 0 && !qp->fini_scheduled) {
		qp->fini_scheduled = true;
		/* By message: the caller may be deep in the transport's own stack. */
		osp_thread_send_msg(qp->group->thread, qpair_teardown, qp);
	}
}

/* Complete req with a status; the request had been counted. */
static void
pg_req_fail(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	osp_nvme_cpl_set_status(&req->rsp, sct, sc, false);
	nvmf_request_complete(req);
}

/* Tell the transport, which stops receiving on qpair (ops->qpair_disconnect). */
static void
nvmf_qpair_notify_disconnect(struct osp_nvmf_qpair *qpair)
{
	if (qpair->transport != NULL && qpair->transport->ops->qpair_disconnect != NULL) {
		qpair->transport->ops->qpair_disconnect(qpair);
	}
}

void
osp_nvmf_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	struct nvmf_qpair *qp = nvmf_qpair_lookup(qpair);
	struct nvmf_poll_group *pg;
	struct osp_nvmf_request *req, *tmp;
	uint32_t i;

	if (qp == NULL || qp->disconnecting) {
		qpair->disconnecting = true;
		nvmf_qpair_notify_disconnect(qpair);
		return;
	}
	qp->disconnecting = true;
	qpair->disconnecting = true;
	nvmf_qpair_notify_disconnect(qpair);
	pg = qp->group;
	/* Requests the core parks (paused subsystem, fused first half, AERs) end now. */
	for (i = 0; i < pg->num_sgroups; i++) {
		TAILQ_FOREACH_SAFE(req, &pg->sgroups[i].queued, link, tmp) {
			if (req->qpair == qpair) {
				TAILQ_REMOVE(&pg->sgroups[i].queued, req, link);
				pg_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
			}
		}
	}
	if (qp->fused_first != NULL) {
		req = qp->fused_first;
		qp->fused_first = NULL;
		pg_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
	}
	if (qp->ctrlr != NULL) {
		nvmf_ctrlr_qpair_disconnecting(qp);
	}
	qpair_check_drained(qp);
}

void
nvmf_qpair_disconnect_by_id(struct nvmf_poll_group *pg, uint64_t id)
{
	struct nvmf_qpair *qp;

	TAILQ_FOREACH(qp, &pg->qpairs, link) {
		if (qp->id == id) {
			osp_nvmf_qpair_disconnect(qp->qpair);
			return;
		}
	}
}

void
nvmf_request_complete(struct osp_nvmf_request *req)
{
	struct osp_nvmf_qpair *qpair = req->qpair;
	struct nvmf_qpair *qp = nvmf_qpair_lookup(qpair);

	req->rsp.cid = req->cmd.cid;
	req->rsp.sqid = qpair->qid;
	/*
	 * The command's entry is consumed: the host may reuse it once it sees
	 * the new head (NVMe-oF 1.1 §3.3: SQHD in every response).
	 */
	if (qpair->sq_size != 0) {
		qpair->sq_head = (uint16_t)((qpair->sq_head + 1) % qpair->sq_size);
	}
	/* FFFFh tells a host that asked for it that SQ flow control is off (NVMe-oF 1.1 §3.3.1). */
	req->rsp.sqhd = qp != NULL && qp->sq_fc_disabled ? 0xffff : qpair->sq_head;
	if (qp != NULL && qp->outstanding > 0) {
		qp->outstanding--;
		if (qpair->qid != 0) {
			qp->group->completed_nvme_io++;
		}
	}
	if (qpair->transport->ops->req_complete != NULL) {
		qpair->transport->ops->req_complete(req);
	}
	if (qp != NULL) {
		qpair_check_drained(qp);
	}
}

void
osp_nvmf_request_exec(struct osp_nvmf_request *req)
{
	struct osp_nvmf_qpair *qpair = req->qpair;
	struct nvmf_qpair *qp = qpair != NULL ? nvmf_qpair_lookup(qpair) : NULL;

	memset(&req->rsp, 0, sizeof(req->rsp));
	req->core_ctx = NULL;
	if (qp == NULL) {
		/* Not a qpair the core knows: answer, never crash. */
		req->rsp.cid = req->cmd.cid;
		osp_nvme_cpl_set_status(&req->rsp, OSP_NVME_SCT_GENERIC,
					OSP_NVME_SC_COMMAND_SEQUENCE_ERROR, false);
		if (qpair != NULL && qpair->transport->ops->req_complete != NULL) {
			qpair->transport->ops->req_complete(req);
		}
		return;
	}
	qp->outstanding++;
	if (qp->disconnecting) {
		pg_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
		return;
	}
	nvmf_ctrlr_exec(qp, req);
}

/* ---- per-group subsystem state ---- */

struct sg_update_ctx {
	struct osp_nvmf_subsystem *s;
	enum osp_nvmf_subsystem_state state;
	nvmf_pg_done_fn cpl;
	void *ctx;
};

/* Make sg's namespace channels match s's namespace list (empty when inactive). */
static int
sg_sync_ns(struct nvmf_subsystem_pg *sg, struct osp_nvmf_subsystem *s, bool keep)
{
	struct nvmf_sg_ns *old = sg->ns, *nw = NULL;
	uint32_t old_num = sg->num_ns, num = 0, i;
	struct osp_nvmf_ns *ns;
	int rc = 0;

	if (keep) {
		TAILQ_FOREACH(ns, &s->namespaces, link) {
			num = OSP_MAX(num, ns->nsid);
		}
	}
	if (num > 0) {
		nw = calloc(num, sizeof(*nw));
		if (nw == NULL) {
			return -ENOMEM;
		}
		TAILQ_FOREACH(ns, &s->namespaces, link) {
			struct nvmf_sg_ns *e = &nw[ns->nsid - 1];

			e->ns = ns;
			e->desc = ns->desc;
			if (ns->nsid <= old_num && old[ns->nsid - 1].ns == ns) {
				e->ch = old[ns->nsid - 1].ch;
				old[ns->nsid - 1].ch = NULL;
			} else {
				e->ch = osp_bdev_get_io_channel(ns->desc);
				if (e->ch == NULL) {
					OSP_ERRLOG("no I/O channel for namespace %u of %s\n",
						   ns->nsid, s->nqn);
					rc = -ENOMEM;
				}
			}
		}
	}
	for (i = 0; i < old_num; i++) {
		if (old[i].ch != NULL) {
			osp_put_io_channel(old[i].ch);
		}
	}
	free(old);
	sg->ns = nw;
	sg->num_ns = num;
	return rc;
}

static void
sg_resubmit(struct nvmf_poll_group *pg, struct nvmf_subsystem_pg *sg)
{
	TAILQ_HEAD(, osp_nvmf_request) q;
	struct osp_nvmf_request *req;
	struct nvmf_qpair *qp;

	TAILQ_INIT(&q);
	TAILQ_CONCAT(&q, &sg->queued, link);
	while ((req = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, req, link);
		qp = nvmf_qpair_lookup(req->qpair);
		(void)pg;
		if (qp != NULL) {
			nvmf_ctrlr_exec_gated(qp, req);
		}
	}
}

static void
pg_subsystem_update(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct sg_update_ctx *c = nvmf_pg_iter_ctx(it);
	struct nvmf_subsystem_pg *sg = nvmf_sgroup(pg, c->s);
	int rc;

	if (sg == NULL) {
		nvmf_pg_iter_next(it, 0);
		return;
	}
	if (c->state == OSP_NVMF_SUBSYSTEM_PAUSED) {
		sg->state = OSP_NVMF_SUBSYSTEM_PAUSED;
		if (sg->io_outstanding > 0) {
			sg->pause_it = it;	/* continued by the last completion */
			return;
		}
		nvmf_pg_iter_next(it, 0);
		return;
	}
	rc = sg_sync_ns(sg, c->s, c->state == OSP_NVMF_SUBSYSTEM_ACTIVE && !c->s->destroying);
	sg->state = c->state;
	if (c->state == OSP_NVMF_SUBSYSTEM_ACTIVE) {
		sg_resubmit(pg, sg);
	}
	nvmf_pg_iter_next(it, rc);
}

static void
subsystem_update_done(void *arg, int status)
{
	struct sg_update_ctx *c = arg;

	if (c->cpl != NULL) {
		c->cpl(c->ctx, status);
	}
	free(c);
}

void
nvmf_subsystem_update_groups(struct osp_nvmf_subsystem *s, enum osp_nvmf_subsystem_state state,
			     nvmf_pg_done_fn cpl, void *ctx)
{
	struct sg_update_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		if (cpl != NULL) {
			cpl(ctx, -ENOMEM);
		}
		return;
	}
	c->s = s;
	c->state = state;
	c->cpl = cpl;
	c->ctx = ctx;
	nvmf_pg_for_each(s->tgt, pg_subsystem_update, c, subsystem_update_done);
}

struct disconnect_ctx {
	struct osp_nvmf_subsystem *s;
	bool any_addr;
	struct osp_nvmf_listen_addr addr;
};

static void
pg_disconnect_subsystem(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct disconnect_ctx *c = nvmf_pg_iter_ctx(it);
	struct osp_nvmf_listen_addr local;
	struct nvmf_qpair *qp, *tmp;

	TAILQ_FOREACH_SAFE(qp, &pg->qpairs, link, tmp) {
		const struct osp_nvmf_transport_ops *ops = qp->qpair->transport->ops;

		if (qp->ctrlr == NULL || qp->ctrlr->subsys != c->s) {
			continue;
		}
		if (!c->any_addr) {
			if (ops->qpair_get_local_addr == NULL ||
			    ops->qpair_get_local_addr(qp->qpair, &local) != 0 ||
			    !osp_nvmf_listen_addr_equal(&local, &c->addr)) {
				continue;
			}
		}
		osp_nvmf_qpair_disconnect(qp->qpair);
	}
	nvmf_pg_iter_next(it, 0);
}

static void
disconnect_done(void *arg, int status)
{
	(void)status;
	free(arg);
}

void
nvmf_subsystem_disconnect_qpairs(struct osp_nvmf_subsystem *s,
				 const struct osp_nvmf_listen_addr *addr)
{
	struct disconnect_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return;
	}
	c->s = s;
	c->any_addr = addr == NULL;
	if (addr != NULL) {
		c->addr = *addr;
	}
	nvmf_pg_for_each(s->tgt, pg_disconnect_subsystem, c, disconnect_done);
}

/* ---- target shutdown ---- */

struct shutdown_ctx {
	struct osp_nvmf_tgt *tgt;
	void (*cb)(void *arg);
	void *arg;
};

static void
pg_destroy_on_thread(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct osp_nvmf_transport_poll_group *tg;
	uint32_t i;

	for (i = 0; i < pg->num_sgroups; i++) {
		sg_sync_ns(&pg->sgroups[i], NULL, false);
	}
	while ((tg = TAILQ_FIRST(&pg->tgroups)) != NULL) {
		TAILQ_REMOVE(&pg->tgroups, tg, link);
		if (tg->transport->ops->poll_group_destroy != NULL) {
			tg->transport->ops->poll_group_destroy(tg);
		}
	}
	osp_poller_unregister(&pg->poller);
	pg_slot_clear(pg->thread);
	nvmf_pg_iter_next(it, 0);
	if (pg->own_thread) {
		osp_thread_exit(pg->thread);
	}
}

static void
shutdown_groups_destroyed(void *arg, int status)
{
	struct shutdown_ctx *c = arg;
	struct osp_nvmf_tgt *tgt = c->tgt;
	struct nvmf_poll_group *pg;

	(void)status;
	while ((pg = TAILQ_FIRST(&tgt->poll_groups)) != NULL) {
		TAILQ_REMOVE(&tgt->poll_groups, pg, link);
		free(pg->sgroups);
		free(pg);
	}
	tgt->num_poll_groups = 0;
	tgt->next_pg = NULL;
	c->cb(c->arg);
	free(c);
}

static void
shutdown_ctrlrs_gone(struct osp_nvmf_tgt *tgt)
{
	struct shutdown_ctx *c = tgt->shutdown_ctx;

	tgt->shutdown_ctx = NULL;
	/* The groups' lists are stable now: destroy them one after the other. */
	nvmf_pg_for_each(c->tgt, pg_destroy_on_thread, c, shutdown_groups_destroyed);
}

void
nvmf_tgt_check_idle(struct osp_nvmf_tgt *tgt)
{
	void (*cb)(struct osp_nvmf_tgt *tgt) = tgt->ctrlrs_gone_cb;

	if (cb != NULL && tgt->num_ctrlrs == 0 && tgt->num_pending_qpairs == 0) {
		tgt->ctrlrs_gone_cb = NULL;
		cb(tgt);
	}
}

static void
pg_drain(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct nvmf_qpair *qp, *tmp;

	TAILQ_FOREACH_SAFE(qp, &pg->qpairs, link, tmp) {
		osp_nvmf_qpair_disconnect(qp->qpair);
	}
	if (TAILQ_EMPTY(&pg->qpairs)) {
		nvmf_pg_iter_next(it, 0);
	} else {
		pg->drain_it = it;
	}
}

static void
shutdown_drained(void *arg, int status)
{
	struct shutdown_ctx *c = arg;

	(void)status;
	/* Controllers are freed through the target's thread after their queues. */
	c->tgt->shutdown_ctx = c;
	c->tgt->ctrlrs_gone_cb = shutdown_ctrlrs_gone;
	nvmf_tgt_check_idle(c->tgt);
}

void
nvmf_tgt_shutdown(struct osp_nvmf_tgt *tgt, void (*cb)(void *arg), void *arg)
{
	struct shutdown_ctx *c = calloc(1, sizeof(*c));

	osp_poller_unregister(&tgt->acceptor);
	if (c == NULL) {
		cb(arg);
		return;
	}
	c->tgt = tgt;
	c->cb = cb;
	c->arg = arg;
	nvmf_pg_for_each(tgt, pg_drain, c, shutdown_drained);
}

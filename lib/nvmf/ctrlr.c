/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF controllers (NVMe Base Specification 2.0, NVMe-oF 1.1): the
 * Fabrics commands (Connect, Property Get/Set), the admin command set a
 * fabrics controller needs (Identify, Get Log Page, Get/Set Features,
 * Asynchronous Event Request, Keep Alive, Abort), the discovery controller,
 * and the I/O queue's dispatch to the bdev back end (ctrlr_bdev.c).
 *
 * Threads: a controller lives on the thread of its admin qpair's poll
 * group. Connect starts on the qpair's thread, looks the subsystem up on
 * the target's thread (which owns the subsystem's controller list) and, for
 * an I/O queue, asks the controller's thread to attach it. A controller is
 * freed in three hops (its thread, the target's, its thread again) so that
 * every message the target thread sent it earlier still finds it.
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

#define NVMF_FW_REVISION "0.1"
#define NVMF_VERSION OSP_NVME_VERSION(1, 3, 0)
#define NVMF_CAP_TO 30		/* CAP.TO, 500 ms units: 15 s */
#define NVMF_KAS 10		/* KAS, 100 ms units */

/* The controller keeps KATO in KAS granularity, rounded up (NVMe Base 2.0 §3.9). */
static uint32_t
kato_round(uint32_t kato_ms)
{
	const uint64_t g = NVMF_KAS * 100;

	return (uint32_t)OSP_MIN((((uint64_t)kato_ms + g - 1) / g) * g, UINT32_MAX / g * g);
}
#define NVMF_ELPE 127
#define NVMF_OAES_NS_ATTR (1u << 8)
#define NVMF_OAES_DISCOVERY_LOG (1u << 31)
#define NVMF_AEC_NS_ATTR (1u << 8)
#define NVMF_AEC_DISCOVERY_LOG (1u << 31)
#define NVMF_DEFAULT_TEMP_THRESHOLD 0x157 /* 343 K */

/* ---- helpers ---- */

static void
req_status(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	osp_nvme_cpl_set_status(&req->rsp, sct, sc, false);
}

/* Every completion of this file: count down the subsystem gate, then the qpair. */
static void
ctrlr_req_done(struct osp_nvmf_request *req)
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

static void
req_fail(struct osp_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	req_status(req, sct, sc);
	ctrlr_req_done(req);
}

/* Copy len bytes of buf into the request's data buffer (at most req->length). */
static void
req_copy_to(struct osp_nvmf_request *req, const void *buf, size_t len)
{
	osp_iov_copy_from_buf(buf, OSP_MIN(len, (size_t)req->length), req->iov,
			      (int)OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS), 0);
}

/* Copy up to len bytes of the request's data into buf; returns the bytes copied. */
static size_t
req_copy_from(struct osp_nvmf_request *req, void *buf, size_t len)
{
	return osp_iov_copy_to_buf(buf, OSP_MIN(len, (size_t)req->length), req->iov,
				   (int)OSP_MIN(req->iovcnt, (uint32_t)OSP_NVMF_MAX_REQ_IOVS), 0);
}

static uint64_t
ctrlr_now(void)
{
	return osp_thread_get_last_tsc(NULL);
}

/* ---- Connect (NVMe Base 2.0 §6.3) ---- */

struct connect_ctx {
	struct osp_nvmf_request *req;
	struct nvmf_qpair *qp;
	struct nvmf_poll_group *pg;
	struct osp_nvmf_tgt *tgt;
	struct osp_nvmf_connect_data data;
	uint16_t qid;
	uint16_t sqsize;
	uint32_t kato;
	bool sq_fc_disabled;
	struct nvmf_ctrlr *ctrlr;
	uint8_t sct;
	uint8_t sc;
	uint32_t cdw0;
	/* Why the Connect is refused, for the log (NULL while it is accepted). */
	const char *why;
};

/* Copy an untrusted NQN field for a log line: printable ASCII only, bounded. */
static void
connect_log_str(char *dst, size_t size, const char *src, size_t src_size)
{
	size_t i, n = strnlen(src, src_size);

	for (i = 0; i < n && i + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[i] = '\0';
}

/*
 * Every refused Connect is logged with its reason, the peer, the queue and
 * both NQNs: the host only sees a status code (often reported as "failed to
 * initialize"), so the target's log is where a person finds out why.
 */
static void
connect_log_refusal(const struct connect_ctx *c)
{
	const struct osp_nvmf_transport_ops *ops = c->qp->qpair->transport->ops;
	struct osp_nvmf_listen_addr a;
	char sub[OSP_NVMF_NQN_FIELD_SIZE], host[OSP_NVMF_NQN_FIELD_SIZE];

	memset(&a, 0, sizeof(a));
	if (ops->qpair_get_peer_addr == NULL || ops->qpair_get_peer_addr(c->qp->qpair, &a) != 0) {
		snprintf(a.traddr, sizeof(a.traddr), "?");
		snprintf(a.trsvcid, sizeof(a.trsvcid), "?");
	}
	connect_log_str(sub, sizeof(sub), c->data.subnqn, sizeof(c->data.subnqn));
	connect_log_str(host, sizeof(host), c->data.hostnqn, sizeof(c->data.hostnqn));
	OSP_NOTICELOG("Connect refused (sct %u sc 0x%02x): %s; peer %s:%s, qid %u, subnqn '%s', "
		      "hostnqn '%s'\n", c->sct, c->sc, c->why != NULL ? c->why : "refused",
		      a.traddr, a.trsvcid, c->qid, sub, host);
}

static void
connect_invalid_param(struct connect_ctx *c, bool in_data, uint16_t offset)
{
	c->sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
	c->sc = OSP_NVMF_SC_INVALID_PARAM;
	c->cdw0 = (in_data ? 1u : 0u) | ((uint32_t)offset << 16);
}

static int ctrlr_keep_alive_poll(void *arg);
static void ctrlr_disconnect_all(struct nvmf_ctrlr *ctrlr);

/* Back on the qpair's thread: finish the Connect. */
static void
connect_finish(void *arg)
{
	struct connect_ctx *c = arg;
	struct nvmf_qpair *qp = c->qp;
	struct osp_nvmf_request *req = c->req;
	struct nvmf_ctrlr *ctrlr = c->ctrlr;

	qp->connecting = false;
	if (c->sct != 0 || c->sc != 0) {
		connect_log_refusal(c);
	}
	osp_nvme_cpl_set_status(&req->rsp, c->sct, c->sc, false);
	req->rsp.cdw0 = c->cdw0;
	if (c->sct == 0 && c->sc == 0) {
		qp->ctrlr = ctrlr;
		qp->connected = true;
		qp->qpair->ctrlr = qp;
		qp->qpair->qid = c->qid;
		qp->qpair->sq_size = (uint32_t)c->sqsize + 1;
		qp->sq_fc_disabled = c->sq_fc_disabled;
		req->rsp.cdw0 = ctrlr->cntlid;
		if (c->qid == 0) {
			ctrlr->admin = qp;
			ctrlr->group = qp->group;
			ctrlr->thread = osp_get_thread();
			ctrlr->last_keep_alive = ctrlr_now();
			if (ctrlr->kato != 0) {
				ctrlr->ka_poller = osp_poller_register_named(ctrlr_keep_alive_poll,
						   ctrlr, (uint64_t)ctrlr->kato * 1000 / 2,
						   "nvmf_ctrlr_keep_alive");
			}
			qp->group->admin_qpairs++;
			qp->group->current_admin_qpairs++;
		} else {
			qp->group->io_qpairs++;
			qp->group->current_io_qpairs++;
		}
	}
	nvmf_request_complete(req);
	/* A subsystem being deleted keeps no new connection. */
	if (qp->connected && ctrlr->subsys->destroying) {
		osp_nvmf_qpair_disconnect(qp->qpair);
	}
	free(c);
}

static void
connect_reply(struct connect_ctx *c)
{
	osp_thread_send_msg(c->pg->thread, connect_finish, c);
}

/* On the controller's thread: attach an I/O queue. */
static void
connect_io_on_ctrlr(void *arg)
{
	struct connect_ctx *c = arg;
	struct nvmf_ctrlr *ctrlr = c->ctrlr;
	union osp_nvme_cc_register cc = { .raw = ctrlr->cc };

	if (ctrlr->destroying || ctrlr->admin_gone) {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, cntlid));
		c->why = "the controller is going away";
	} else if (!cc.bits.en) {
		c->sct = OSP_NVME_SCT_GENERIC;
		c->sc = OSP_NVME_SC_COMMAND_SEQUENCE_ERROR;
		c->why = "I/O queue before the controller was enabled (CC.EN)";
	} else if (c->qid >= ctrlr->max_qpairs) {
		connect_invalid_param(c, false, offsetof(struct osp_nvmf_connect_cmd, qid));
		c->why = "qid above the number of queues granted";
	} else if (ctrlr->qpair_ids[c->qid] != 0) {
		connect_invalid_param(c, false, offsetof(struct osp_nvmf_connect_cmd, qid));
		c->why = "qid already connected";
	} else {
		ctrlr->qpair_ids[c->qid] = c->qp->id;
		ctrlr->qpair_groups[c->qid] = c->pg;
		ctrlr->num_io_qpairs++;
		ctrlr->io_queues_created = true;
	}
	connect_reply(c);
}

static bool
ctrlr_cntlid_used(struct osp_nvmf_subsystem *s, uint16_t cntlid)
{
	struct nvmf_ctrlr *ctrlr;

	TAILQ_FOREACH(ctrlr, &s->ctrlrs, link) {
		if (ctrlr->cntlid == cntlid) {
			return true;
		}
	}
	return false;
}

static struct nvmf_ctrlr *
ctrlr_create(struct connect_ctx *c, struct osp_nvmf_subsystem *s)
{
	struct osp_nvmf_transport *t = c->qp->qpair->transport;
	struct nvmf_ctrlr *ctrlr;
	uint32_t n = (uint32_t)s->max_cntlid - s->min_cntlid + 1, i;
	uint16_t id = 0;

	if (s->next_cntlid < s->min_cntlid || s->next_cntlid > s->max_cntlid) {
		s->next_cntlid = s->min_cntlid;
	}
	for (i = 0; i < n; i++) {
		uint16_t cand = s->next_cntlid;

		s->next_cntlid = cand >= s->max_cntlid ? s->min_cntlid : cand + 1;
		if (!ctrlr_cntlid_used(s, cand)) {
			id = cand;
			break;
		}
	}
	if (id == 0) {
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		return NULL;
	}
	ctrlr->max_qpairs = t->opts.max_qpairs_per_ctrlr;
	ctrlr->qpair_ids = calloc(ctrlr->max_qpairs, sizeof(*ctrlr->qpair_ids));
	ctrlr->qpair_groups = calloc(ctrlr->max_qpairs, sizeof(*ctrlr->qpair_groups));
	if (ctrlr->qpair_ids == NULL || ctrlr->qpair_groups == NULL) {
		free(ctrlr->qpair_ids);
		free(ctrlr->qpair_groups);
		free(ctrlr);
		return NULL;
	}
	ctrlr->cntlid = id;
	ctrlr->subsys = s;
	ctrlr->transport = t;
	ctrlr->kato = kato_round(c->kato);
	memcpy(ctrlr->hostid, c->data.hostid, sizeof(ctrlr->hostid));
	/* Checked to be NUL terminated; longer than an NQN may be is cut. */
	memcpy(ctrlr->hostnqn, c->data.hostnqn, sizeof(ctrlr->hostnqn) - 1);
	ctrlr->hostnqn[sizeof(ctrlr->hostnqn) - 1] = '\0';
	ctrlr->feat.temperature_threshold = NVMF_DEFAULT_TEMP_THRESHOLD;
	ctrlr->feat.write_atomicity = 0;
	ctrlr->feat.volatile_write_cache = 1;
	TAILQ_INSERT_TAIL(&s->ctrlrs, ctrlr, link);
	s->num_ctrlrs++;
	s->tgt->num_ctrlrs++;
	return ctrlr;
}

/* On the target's thread: subsystem, host and controller checks. */
static void
connect_on_tgt(void *arg)
{
	struct connect_ctx *c = arg;
	struct osp_nvmf_subsystem *s = osp_nvmf_tgt_find_subsystem(c->tgt, c->data.subnqn);
	struct nvmf_ctrlr *ctrlr;

	if (s == NULL || s->destroying ||
	    (s->type == OSP_NVMF_SUBTYPE_KIND_NVME && s->state == OSP_NVMF_SUBSYSTEM_INACTIVE)) {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, subnqn));
		c->why = s == NULL ? "no such subsystem" : "the subsystem is not active";
		connect_reply(c);
		return;
	}
	if (!osp_nvmf_subsystem_host_allowed(s, c->data.hostnqn)) {
		c->sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
		c->sc = OSP_NVMF_SC_INVALID_HOST;
		c->why = c->data.hostnqn[0] == '\0' ?
			 "empty host NQN, and the subsystem has a host list" :
			 "host NQN not on the subsystem's host list";
		connect_reply(c);
		return;
	}
	if (c->qid == 0) {
		if (c->data.cntlid != OSP_NVMF_CNTLID_DYNAMIC &&
		    c->data.cntlid != OSP_NVMF_CNTLID_STATIC_ANY) {
			connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, cntlid));
			c->why = "admin queue Connect must ask for a dynamic controller (cntlid 0xffff)";
			connect_reply(c);
			return;
		}
		c->ctrlr = ctrlr_create(c, s);
		if (c->ctrlr == NULL) {
			c->sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
			c->sc = OSP_NVMF_SC_CONTROLLER_BUSY;
			c->why = "no controller available (cntlid range or memory)";
		}
		connect_reply(c);
		return;
	}
	TAILQ_FOREACH(ctrlr, &s->ctrlrs, link) {
		if (ctrlr->cntlid == c->data.cntlid) {
			break;
		}
	}
	if (ctrlr == NULL || ctrlr->destroying || ctrlr->thread == NULL) {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, cntlid));
		c->why = "no such controller (cntlid) for an I/O queue";
		connect_reply(c);
		return;
	}
	if (strcmp(ctrlr->hostnqn, c->data.hostnqn) != 0) {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, hostnqn));
		c->why = "host NQN differs from the controller's";
		connect_reply(c);
		return;
	}
	if (memcmp(ctrlr->hostid, c->data.hostid, sizeof(ctrlr->hostid)) != 0) {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, hostid));
		c->why = "host identifier differs from the controller's";
		connect_reply(c);
		return;
	}
	c->ctrlr = ctrlr;
	osp_thread_send_msg(ctrlr->thread, connect_io_on_ctrlr, c);
}

static void
ctrlr_connect(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_connect_cmd *cmd = (const void *)&req->cmd;
	const struct osp_nvmf_transport_opts *o = &qp->qpair->transport->opts;
	struct connect_ctx *c;

	if (qp->connected || qp->connecting) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	c->req = req;
	c->qp = qp;
	c->pg = qp->group;
	c->tgt = qp->group->tgt;
	c->qid = cmd->qid;
	c->sqsize = cmd->sqsize;
	c->kato = cmd->kato;
	c->sq_fc_disabled = (cmd->cattr & OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL) != 0;
	if (cmd->recfmt != 0) {
		c->sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
		c->sc = OSP_NVMF_SC_INCOMPATIBLE_FORMAT;
		c->why = "unsupported record format (recfmt)";
	} else if (req->length < sizeof(c->data) ||
		   req_copy_from(req, &c->data, sizeof(c->data)) != sizeof(c->data)) {
		c->sct = OSP_NVME_SCT_GENERIC;
		c->sc = OSP_NVME_SC_DATA_SGL_LENGTH_INVALID;
		c->why = "Connect data shorter than 1024 bytes";
	} else if (strnlen(c->data.subnqn, sizeof(c->data.subnqn)) > OSP_NVMF_NQN_MAX_LEN ||
		   c->data.subnqn[0] == '\0') {
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, subnqn));
		c->why = "subsystem NQN empty or longer than 223 bytes";
	} else if (c->data.hostnqn[0] != '\0' &&
		   (strnlen(c->data.hostnqn, sizeof(c->data.hostnqn)) > OSP_NVMF_NQN_MAX_LEN ||
		    osp_nqn_check(c->data.hostnqn, NULL, 0) != 0)) {
		/*
		 * Also keeps bytes that are not an NQN out of logs and RPC output.
		 * An empty host NQN (SPDK's perf sends one when given none) is let
		 * through: subsystems that allow any host accept it, those with a
		 * host list refuse it as an invalid host.
		 */
		connect_invalid_param(c, true, offsetof(struct osp_nvmf_connect_data, hostnqn));
		c->why = "host NQN is not a valid NQN";
	} else if (cmd->sqsize == 0 ||
		   (cmd->qid == 0 && (uint32_t)cmd->sqsize + 1 > o->max_aq_depth) ||
		   (cmd->qid != 0 && (uint32_t)cmd->sqsize + 1 > o->max_queue_depth)) {
		/* SQSIZE is 0's based; 0 (a one-entry queue) is not a valid size. */
		connect_invalid_param(c, false, offsetof(struct osp_nvmf_connect_cmd, sqsize));
		c->why = "queue size (sqsize) 0 or above the transport's maximum";
	} else {
		qp->connecting = true;
		osp_thread_send_msg(c->tgt->thread, connect_on_tgt, c);
		return;
	}
	connect_log_refusal(c);
	req->rsp.cdw0 = c->cdw0;
	req_status(req, c->sct, c->sc);
	free(c);
	ctrlr_req_done(req);
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
static void
ctrlr_disconnect_all(struct nvmf_ctrlr *ctrlr)
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
static void
ctrlr_disconnect_io(struct nvmf_ctrlr *ctrlr)
{
	struct nvmf_qpair *admin = ctrlr->admin;

	ctrlr->admin = NULL;
	ctrlr_disconnect_all(ctrlr);
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
		ctrlr_disconnect_all(ctrlr);
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
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
	}
}

static int
ctrlr_keep_alive_poll(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;
	uint64_t now = ctrlr_now();
	uint64_t limit = (uint64_t)ctrlr->kato * osp_get_ticks_hz() / 1000;

	/* A clock behind the last Keep Alive (fake time in tests) is not a timeout. */
	if (now <= ctrlr->last_keep_alive || now - ctrlr->last_keep_alive <= limit) {
		return OSP_POLLER_IDLE;
	}
	OSP_NOTICELOG("controller %u of %s (host %s): keep alive timeout (%u ms), disconnecting\n",
		      ctrlr->cntlid, ctrlr->subsys->nqn, ctrlr->hostnqn, ctrlr->kato);
	osp_poller_unregister(&ctrlr->ka_poller);
	ctrlr_disconnect_all(ctrlr);
	return OSP_POLLER_BUSY;
}

/* ---- asynchronous events ---- */

static bool
ctrlr_is_discovery(const struct nvmf_ctrlr *ctrlr)
{
	return ctrlr->subsys->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY;
}

/* Complete an outstanding AER with a pending notice, if both exist. */
static void
ctrlr_aen_flush(struct nvmf_ctrlr *ctrlr)
{
	union osp_nvme_async_event_completion ev = { .raw = 0 };
	struct osp_nvmf_request *req;

	if (ctrlr->num_aer == 0) {
		return;
	}
	if (ctrlr->ns_notice_pending && !ctrlr->ns_notice_masked) {
		ctrlr->ns_notice_pending = false;
		ctrlr->ns_notice_masked = true;
		ev.bits.async_event_type = OSP_NVME_ASYNC_EVENT_TYPE_NOTICE;
		ev.bits.async_event_info = OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED;
		ev.bits.log_page_identifier = OSP_NVME_LOG_CHANGED_NS_LIST;
	} else if (ctrlr->disc_notice_pending && !ctrlr->disc_notice_masked) {
		ctrlr->disc_notice_pending = false;
		ctrlr->disc_notice_masked = true;
		ev.bits.async_event_type = OSP_NVME_ASYNC_EVENT_TYPE_NOTICE;
		ev.bits.async_event_info = OSP_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE;
		ev.bits.log_page_identifier = OSP_NVME_LOG_DISCOVERY;
	} else {
		return;
	}
	req = ctrlr->aer[0];
	memmove(&ctrlr->aer[0], &ctrlr->aer[1], (ctrlr->num_aer - 1) * sizeof(ctrlr->aer[0]));
	ctrlr->aer[--ctrlr->num_aer] = NULL;
	req->rsp.cdw0 = ev.raw;
	ctrlr_req_done(req);
}

struct ns_event {
	struct nvmf_ctrlr *ctrlr;
	uint32_t nsid;
};

static void
ctrlr_ns_changed_msg(void *arg)
{
	struct ns_event *e = arg;
	struct nvmf_ctrlr *ctrlr = e->ctrlr;
	uint32_t i;

	if (!ctrlr->destroying) {
		for (i = 0; i < ctrlr->num_changed_ns; i++) {
			if (ctrlr->changed_ns[i] == e->nsid) {
				break;
			}
		}
		if (i == ctrlr->num_changed_ns) {
			if (ctrlr->num_changed_ns < NVMF_MAX_CHANGED_NS) {
				ctrlr->changed_ns[ctrlr->num_changed_ns++] = e->nsid;
			} else {
				/* Overflow: the log reports FFFFFFFFh alone (Figure 210). */
				ctrlr->changed_ns[0] = 0xffffffffu;
				ctrlr->num_changed_ns = 1;
			}
		}
		if (ctrlr->feat.async_event_config & NVMF_AEC_NS_ATTR) {
			ctrlr->ns_notice_pending = true;
			ctrlr_aen_flush(ctrlr);
		}
	}
	free(e);
}

void
nvmf_subsystem_ns_changed(struct osp_nvmf_subsystem *s, uint32_t nsid)
{
	struct nvmf_ctrlr *ctrlr;
	struct ns_event *e;

	TAILQ_FOREACH(ctrlr, &s->ctrlrs, link) {
		if (ctrlr->thread == NULL || ctrlr->destroying) {
			continue;
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			continue;
		}
		e->ctrlr = ctrlr;
		e->nsid = nsid;
		osp_thread_send_msg(ctrlr->thread, ctrlr_ns_changed_msg, e);
	}
}

static void
ctrlr_discovery_changed_msg(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;

	if (!ctrlr->destroying && (ctrlr->feat.async_event_config & NVMF_AEC_DISCOVERY_LOG)) {
		ctrlr->disc_notice_pending = true;
		ctrlr_aen_flush(ctrlr);
	}
}

void
nvmf_tgt_discovery_aen(struct osp_nvmf_tgt *tgt)
{
	struct nvmf_ctrlr *ctrlr;

	if (tgt->discovery == NULL) {
		return;
	}
	TAILQ_FOREACH(ctrlr, &tgt->discovery->ctrlrs, link) {
		if (ctrlr->thread != NULL && !ctrlr->destroying) {
			osp_thread_send_msg(ctrlr->thread, ctrlr_discovery_changed_msg, ctrlr);
		}
	}
}

/* ---- Property Get / Set (§6.5, §6.6) ---- */

static uint64_t
ctrlr_cap(const struct nvmf_ctrlr *ctrlr)
{
	union osp_nvme_cap_register cap = { .raw = 0 };
	const struct osp_nvmf_transport_opts *o = &ctrlr->transport->opts;

	cap.bits.mqes = (uint16_t)(o->max_queue_depth - 1);
	cap.bits.cqr = 1;
	cap.bits.to = NVMF_CAP_TO;
	cap.bits.dstrd = 0;
	cap.bits.css = 1;	/* NVM command set */
	cap.bits.mpsmin = 0;	/* 4 KiB */
	cap.bits.mpsmax = 0;
	return cap.raw;
}

static void
ctrlr_property_get(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_property_get_cmd *cmd = (const void *)&req->cmd;
	uint8_t size = cmd->attrib & 0x7;
	uint64_t value;
	bool eight;

	switch (cmd->ofst) {
	case OSP_NVME_REG_CAP:
		value = ctrlr_cap(ctrlr);
		eight = true;
		break;
	case OSP_NVME_REG_VS:
		value = NVMF_VERSION;
		eight = false;
		break;
	case OSP_NVME_REG_CC:
		value = ctrlr->cc;
		eight = false;
		break;
	case OSP_NVME_REG_CSTS:
		value = ctrlr->csts;
		eight = false;
		break;
	default:
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if ((eight && size != OSP_NVMF_PROP_SIZE_8) || (!eight && size != OSP_NVMF_PROP_SIZE_4)) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	req->rsp.cdw0 = (uint32_t)value;
	req->rsp.cdw1 = (uint32_t)(value >> 32);
	ctrlr_req_done(req);
}

static void
ctrlr_property_set(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_property_set_cmd *cmd = (const void *)&req->cmd;
	union osp_nvme_cc_register old = { .raw = ctrlr->cc }, cc;
	union osp_nvme_csts_register csts = { .raw = ctrlr->csts };

	if (cmd->ofst != OSP_NVME_REG_CC || (cmd->attrib & 0x7) != OSP_NVMF_PROP_SIZE_4) {
		/* CAP, VS and CSTS are read-only; other properties do not exist here. */
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	cc.raw = (uint32_t)cmd->value;
	if (cc.bits.en && !old.bits.en) {
		csts.bits.rdy = 1;
		csts.bits.shst = OSP_NVME_SHST_NORMAL;
	} else if (!cc.bits.en && old.bits.en) {
		/* Controller reset: I/O queues are deleted (§3.7.2). */
		csts.bits.rdy = 0;
		ctrlr_disconnect_io(ctrlr);
		ctrlr->io_queues_created = false;
	}
	if (cc.bits.shn != OSP_NVME_SHN_NONE && old.bits.shn == OSP_NVME_SHN_NONE) {
		ctrlr_disconnect_io(ctrlr);
		csts.bits.shst = OSP_NVME_SHST_COMPLETE;
	} else if (cc.bits.shn == OSP_NVME_SHN_NONE) {
		if (csts.bits.shst == OSP_NVME_SHST_COMPLETE && cc.bits.en && !old.bits.en) {
			csts.bits.shst = OSP_NVME_SHST_NORMAL;
		}
	}
	ctrlr->cc = cc.raw;
	ctrlr->csts = csts.raw;
	ctrlr_req_done(req);
}

static void
ctrlr_fabrics(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_capsule_cmd *cmd = (const void *)&req->cmd;

	if (cmd->fctype == OSP_NVMF_FCTYPE_CONNECT) {
		ctrlr_connect(qp, req);
		return;
	}
	if (!qp->connected) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (qp->qpair->qid != 0) {
		/* Properties are reached through the admin queue only. */
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	switch (cmd->fctype) {
	case OSP_NVMF_FCTYPE_PROPERTY_GET:
		ctrlr_property_get(qp->ctrlr, req);
		break;
	case OSP_NVMF_FCTYPE_PROPERTY_SET:
		ctrlr_property_set(qp->ctrlr, req);
		break;
	default:
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
		break;
	}
}

/* ---- Identify (§5.17) ---- */

static uint32_t
ctrlr_nn(const struct osp_nvmf_subsystem *s)
{
	const struct osp_nvmf_ns *ns;
	uint32_t nn = s->max_namespaces != 0 ? s->max_namespaces : 1024;

	TAILQ_FOREACH(ns, &s->namespaces, link) {
		nn = OSP_MAX(nn, ns->nsid);
	}
	return nn;
}

static void
ctrlr_identify_ctrlr(struct nvmf_ctrlr *ctrlr, struct osp_nvme_ctrlr_data *cd)
{
	const struct osp_nvmf_subsystem *s = ctrlr->subsys;
	const struct osp_nvmf_transport_opts *o = &ctrlr->transport->opts;
	const struct osp_nvmf_ns *ns;
	uint32_t pages;

	memset(cd, 0, sizeof(*cd));
	cd->vid = 0x1b36;	/* the same ids as the emulated controllers of QEMU */
	cd->ssvid = 0x1af4;
	osp_strcpy_pad(cd->sn, s->sn, sizeof(cd->sn), ' ');
	osp_strcpy_pad(cd->mn, s->mn, sizeof(cd->mn), ' ');
	osp_strcpy_pad(cd->fr, NVMF_FW_REVISION, sizeof(cd->fr), ' ');
	cd->rab = 6;
	cd->ieee[0] = 0x00;
	cd->ieee[1] = 0x54;
	cd->ieee[2] = 0x52;
	cd->cmic = OSP_NVME_CTRLR_CMIC_MULTI_PORT | OSP_NVME_CTRLR_CMIC_MULTI_CTRLR;
	/* MDTS in units of CAP.MPSMIN (4 KiB), as a power of two. */
	pages = o->max_io_size / 4096;
	cd->mdts = pages > 0 ? (uint8_t)osp_u32log2(pages) : 0;
	cd->cntlid = ctrlr->cntlid;
	cd->ver = NVMF_VERSION;
	cd->ctratt = OSP_NVME_CTRLR_CTRATT_HOST_ID_128;
	cd->acl = 3;
	cd->aerl = NVMF_AERL;
	cd->frmw = 1 | (1u << 1);	/* slot 1 read-only, one slot */
	cd->lpa = OSP_NVME_CTRLR_LPA_EXTENDED_DATA;
	cd->elpe = NVMF_ELPE;
	cd->kas = NVMF_KAS;
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->maxcmd = (uint16_t)o->max_queue_depth;
	/* Bit 18: a data SGL longer than the transfer is accepted (ctrlr_bdev.c). */
	cd->sgls = 1 | OSP_NVME_CTRLR_SGLS_ADDRESS_AS_OFFSET |
		   OSP_NVME_CTRLR_SGLS_TRANSPORT_DATA_BLOCK |
		   OSP_NVME_CTRLR_SGLS_LENGTH_LARGER_THAN_DATA;
	snprintf(cd->subnqn, sizeof(cd->subnqn), "%s", s->nqn);
	cd->ioccsz = (uint32_t)(sizeof(struct osp_nvme_cmd) + o->in_capsule_data_size) / 16;
	cd->iorcsz = sizeof(struct osp_nvme_cpl) / 16;
	cd->icdoff = 0;
	cd->fcatt = 0;		/* dynamic controller model */
	cd->msdbd = 1;
	if (ctrlr_is_discovery(ctrlr)) {
		cd->cntrltype = OSP_NVME_CTRLR_TYPE_DISCOVERY;
		cd->oaes = NVMF_OAES_DISCOVERY_LOG;
		return;
	}
	cd->cntrltype = OSP_NVME_CTRLR_TYPE_IO;
	cd->oaes = NVMF_OAES_NS_ATTR;
	cd->nn = ctrlr_nn(s);
	cd->oncs = OSP_NVME_CTRLR_ONCS_COMPARE | OSP_NVME_CTRLR_ONCS_DSM |
		   OSP_NVME_CTRLR_ONCS_WRITE_ZEROES;
	cd->fuses = OSP_NVME_CTRLR_FUSES_COMPARE_WRITE;
	TAILQ_FOREACH(ns, &s->namespaces, link) {
		if (ns->desc != NULL && osp_bdev_has_write_cache(osp_bdev_desc_get_bdev(ns->desc))) {
			cd->vwc = OSP_NVME_CTRLR_VWC_PRESENT;
		}
	}
}

static void
ctrlr_identify(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t cns = req->cmd.cdw10 & 0xff;
	uint32_t nsid = req->cmd.nsid;
	struct osp_nvmf_ns *ns;
	uint8_t *buf;
	uint32_t n = 0;

	if (req->length < 4096) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return;
	}
	buf = calloc(1, 4096);
	if (buf == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (cns == OSP_NVME_IDENTIFY_CTRLR) {
		ctrlr_identify_ctrlr(ctrlr, (struct osp_nvme_ctrlr_data *)buf);
	} else if (ctrlr_is_discovery(ctrlr)) {
		req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else if (cns == OSP_NVME_IDENTIFY_NS) {
		if (nsid == 0 || nsid == 0xffffffffu || nsid > ctrlr_nn(ctrlr->subsys)) {
			/* Not a valid nsid at all (above NN), as opposed to a valid inactive one. */
			req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else if ((ns = osp_nvmf_subsystem_get_ns(ctrlr->subsys, nsid)) != NULL) {
			nvmf_bdev_identify_ns(ns, osp_bdev_desc_get_bdev(ns->desc),
					      (struct osp_nvme_ns_data *)buf);
		}
		/* An inactive nsid reads as zeroes (§5.17.2.1). */
	} else if (cns == OSP_NVME_IDENTIFY_ACTIVE_NS_LIST) {
		if (nsid >= 0xfffffffeu) {
			req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else {
			TAILQ_FOREACH(ns, &ctrlr->subsys->namespaces, link) {
				if (ns->nsid > nsid && n < 1024) {
					((uint32_t *)buf)[n++] = ns->nsid;
				}
			}
		}
	} else if (cns == OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST) {
		ns = osp_nvmf_subsystem_get_ns(ctrlr->subsys, nsid);
		if (ns == NULL) {
			req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else {
			nvmf_bdev_ns_id_desc_list(ns, osp_bdev_desc_get_bdev(ns->desc), buf, 4096);
		}
	} else {
		req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	}
	if (!osp_nvme_cpl_is_error(&req->rsp)) {
		req_copy_to(req, buf, 4096);
	}
	free(buf);
	ctrlr_req_done(req);
}

/* ---- Get Log Page (§5.16) ---- */

struct disc_log_ctx {
	struct osp_nvmf_request *req;
	struct nvmf_poll_group *pg;
	struct osp_nvmf_tgt *tgt;
	struct nvmf_ctrlr *ctrlr;
	uint64_t offset;
	uint32_t len;
	uint8_t *buf;
	size_t size;
};

static void
disc_log_done(void *arg)
{
	struct disc_log_ctx *c = arg;

	if (c->size == 0) {
		req_status(c->req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
	} else if (c->offset > c->size) {
		req_status(c->req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else {
		req_copy_to(c->req, c->buf, c->len);
	}
	free(c->buf);
	ctrlr_req_done(c->req);
	free(c);
}

/* The subsystem lists belong to the target's thread: build the page there. */
static void
disc_log_on_tgt(void *arg)
{
	struct disc_log_ctx *c = arg;

	c->size = osp_nvmf_get_discovery_log_page(c->tgt, c->ctrlr->hostnqn, c->buf, c->offset,
			c->len);
	osp_thread_send_msg(c->pg->thread, disc_log_done, c);
}

static void
ctrlr_get_log_page(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint32_t cdw10 = req->cmd.cdw10;
	uint8_t lid = cdw10 & OSP_NVME_GET_LOG_LID_MASK;
	bool rae = (cdw10 & OSP_NVME_GET_LOG_RAE) != 0;
	uint64_t numd = ((uint64_t)(cdw10 >> 16) | ((uint64_t)(req->cmd.cdw11 & 0xffff) << 16)) + 1;
	uint64_t len = numd * 4;
	uint64_t offset = req->cmd.cdw12 | ((uint64_t)req->cmd.cdw13 << 32);
	union {
		struct osp_nvme_health_information_page health;
		struct osp_nvme_firmware_page fw;
		struct osp_nvme_ns_list nslist;
		uint8_t raw[4096];
	} *page;
	size_t page_size = 0;

	if (len > req->length || (offset & 3) != 0) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if (lid == OSP_NVME_LOG_DISCOVERY) {
		struct disc_log_ctx *c;

		if (!ctrlr_is_discovery(ctrlr)) {
			req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_LOG_PAGE);
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL) {
			c->buf = calloc(1, (size_t)len);
		}
		if (c == NULL || c->buf == NULL) {
			free(c);
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
			return;
		}
		if (!rae) {
			ctrlr->disc_notice_masked = false;
		}
		c->req = req;
		c->pg = ctrlr->group;
		c->tgt = ctrlr->subsys->tgt;
		c->ctrlr = ctrlr;
		c->offset = offset;
		c->len = (uint32_t)len;
		osp_thread_send_msg(c->tgt->thread, disc_log_on_tgt, c);
		return;
	}
	page = calloc(1, sizeof(*page));
	if (page == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	switch (lid) {
	case OSP_NVME_LOG_ERROR:
		/* No error is recorded: every entry reads as zero (error count 0). */
		page_size = (size_t)(NVMF_ELPE + 1) * sizeof(struct osp_nvme_error_information_entry);
		break;
	case OSP_NVME_LOG_HEALTH_INFORMATION:
		if (ctrlr_is_discovery(ctrlr)) {
			break;
		}
		page->health.temperature = 311;	/* 38 °C */
		page->health.available_spare = 100;
		page->health.available_spare_threshold = 10;
		page_size = sizeof(page->health);
		break;
	case OSP_NVME_LOG_FIRMWARE_SLOT:
		if (ctrlr_is_discovery(ctrlr)) {
			break;
		}
		page->fw.afi = 1;
		osp_strcpy_pad(page->fw.frs[0], NVMF_FW_REVISION, sizeof(page->fw.frs[0]), ' ');
		page_size = sizeof(page->fw);
		break;
	case OSP_NVME_LOG_CHANGED_NS_LIST:
		if (ctrlr_is_discovery(ctrlr)) {
			break;
		}
		memcpy(page->nslist.ns_list, ctrlr->changed_ns,
		       ctrlr->num_changed_ns * sizeof(uint32_t));
		page_size = sizeof(page->nslist);
		if (!rae) {
			ctrlr->num_changed_ns = 0;
			ctrlr->ns_notice_masked = false;
		}
		break;
	default:
		break;
	}
	if (page_size == 0) {
		req_status(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_LOG_PAGE);
	} else if (offset > page_size) {
		req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else {
		uint8_t *out = calloc(1, (size_t)len);

		if (out == NULL) {
			req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		} else {
			/* The error log is all zero and may be longer than the scratch page. */
			if (lid != OSP_NVME_LOG_ERROR) {
				memcpy(out, page->raw + offset,
				       OSP_MIN((size_t)len, page_size - (size_t)offset));
			}
			req_copy_to(req, out, (size_t)len);
			free(out);
		}
	}
	free(page);
	ctrlr_req_done(req);
}

/* ---- Get / Set Features (§5.21, §5.27) ---- */

static uint32_t
ctrlr_num_queues(const struct nvmf_ctrlr *ctrlr)
{
	union osp_nvme_feat_number_of_queues nq = { .raw = 0 };
	/* I/O queues (admin excluded), 0's based. */
	uint16_t n = (uint16_t)(ctrlr->max_qpairs >= 2 ? ctrlr->max_qpairs - 2 : 0);

	nq.bits.nsqr = n;
	nq.bits.ncqr = n;
	return nq.raw;
}

static bool
ctrlr_has_vwc(const struct nvmf_ctrlr *ctrlr)
{
	const struct osp_nvmf_ns *ns;

	TAILQ_FOREACH(ns, &ctrlr->subsys->namespaces, link) {
		if (ns->desc != NULL && osp_bdev_has_write_cache(osp_bdev_desc_get_bdev(ns->desc))) {
			return true;
		}
	}
	return false;
}

static void
ctrlr_get_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t fid = req->cmd.cdw10 & OSP_NVME_FEAT_FID_MASK;
	uint8_t sel = (req->cmd.cdw10 >> OSP_NVME_FEAT_SEL_SHIFT) & OSP_NVME_FEAT_SEL_MASK;
	bool dflt = sel == OSP_NVME_FEAT_SEL_DEFAULT;
	uint32_t v;

	if (sel > OSP_NVME_FEAT_SEL_SUPPORTED_CAPS) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	switch (fid) {
	case OSP_NVME_FEAT_ARBITRATION:
		v = dflt ? 0 : ctrlr->feat.arbitration;
		break;
	case OSP_NVME_FEAT_POWER_MANAGEMENT:
		v = dflt ? 0 : ctrlr->feat.power_management;
		break;
	case OSP_NVME_FEAT_TEMPERATURE_THRESHOLD:
		v = dflt ? NVMF_DEFAULT_TEMP_THRESHOLD : ctrlr->feat.temperature_threshold;
		break;
	case OSP_NVME_FEAT_ERROR_RECOVERY:
		v = dflt ? 0 : ctrlr->feat.error_recovery;
		break;
	case OSP_NVME_FEAT_VOLATILE_WRITE_CACHE:
		if (ctrlr_is_discovery(ctrlr)) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		v = dflt ? 1 : ctrlr->feat.volatile_write_cache;
		v = ctrlr_has_vwc(ctrlr) ? (v & 1) : 0;
		break;
	case OSP_NVME_FEAT_NUMBER_OF_QUEUES:
		v = ctrlr_num_queues(ctrlr);
		break;
	case OSP_NVME_FEAT_INTERRUPT_COALESCING:
		v = dflt ? 0 : ctrlr->feat.interrupt_coalescing;
		break;
	case OSP_NVME_FEAT_WRITE_ATOMICITY:
		v = dflt ? 0 : ctrlr->feat.write_atomicity;
		break;
	case OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		v = dflt ? 0 : ctrlr->feat.async_event_config;
		break;
	case OSP_NVME_FEAT_KEEP_ALIVE_TIMER:
		v = dflt ? 0 : ctrlr->kato;
		break;
	case OSP_NVME_FEAT_HOST_IDENTIFIER:
		/* Only the 128-bit form exists over fabrics (EXHID must be 1). */
		if ((req->cmd.cdw11 & 1) == 0) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		if (req->length < sizeof(ctrlr->hostid)) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
		req_copy_to(req, ctrlr->hostid, sizeof(ctrlr->hostid));
		v = 0;
		break;
	default:
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if (sel == OSP_NVME_FEAT_SEL_SUPPORTED_CAPS) {
		/* Not saveable, not namespace specific, changeable (except the read-only ones). */
		v = fid == OSP_NVME_FEAT_HOST_IDENTIFIER ? 0 : (1u << 2);
	}
	req->rsp.cdw0 = v;
	ctrlr_req_done(req);
}

static void
ctrlr_set_kato(struct nvmf_ctrlr *ctrlr, uint32_t kato)
{
	osp_poller_unregister(&ctrlr->ka_poller);
	kato = kato_round(kato);
	ctrlr->kato = kato;
	ctrlr->last_keep_alive = ctrlr_now();
	if (kato != 0) {
		ctrlr->ka_poller = osp_poller_register_named(ctrlr_keep_alive_poll, ctrlr,
				   (uint64_t)kato * 1000 / 2, "nvmf_ctrlr_keep_alive");
	}
}

static void
ctrlr_set_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t fid = req->cmd.cdw10 & OSP_NVME_FEAT_FID_MASK;
	uint32_t v = req->cmd.cdw11;

	if (req->cmd.cdw10 & OSP_NVME_FEAT_SV) {
		req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
		return;
	}
	switch (fid) {
	case OSP_NVME_FEAT_ARBITRATION:
		ctrlr->feat.arbitration = v;
		break;
	case OSP_NVME_FEAT_POWER_MANAGEMENT:
		if ((v & 0x1f) != 0) {
			/* Only power state 0 exists (NPSS 0). */
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		ctrlr->feat.power_management = v;
		break;
	case OSP_NVME_FEAT_TEMPERATURE_THRESHOLD:
		ctrlr->feat.temperature_threshold = v & 0xffff;
		break;
	case OSP_NVME_FEAT_ERROR_RECOVERY:
		ctrlr->feat.error_recovery = v;
		break;
	case OSP_NVME_FEAT_VOLATILE_WRITE_CACHE:
		if (ctrlr_is_discovery(ctrlr) || !ctrlr_has_vwc(ctrlr)) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		ctrlr->feat.volatile_write_cache = v & 1;
		break;
	case OSP_NVME_FEAT_NUMBER_OF_QUEUES:
		if (ctrlr->io_queues_created) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
			return;
		}
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		req->rsp.cdw0 = ctrlr_num_queues(ctrlr);
		break;
	case OSP_NVME_FEAT_INTERRUPT_COALESCING:
		ctrlr->feat.interrupt_coalescing = v & 0xffff;
		break;
	case OSP_NVME_FEAT_WRITE_ATOMICITY:
		ctrlr->feat.write_atomicity = v & 1;
		break;
	case OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		ctrlr->feat.async_event_config = v;
		ctrlr_aen_flush(ctrlr);
		break;
	case OSP_NVME_FEAT_KEEP_ALIVE_TIMER:
		ctrlr_set_kato(ctrlr, v);
		break;
	case OSP_NVME_FEAT_HOST_IDENTIFIER:
		/* The host identifier comes with Connect over fabrics. */
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	default:
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	ctrlr_req_done(req);
}

/* ---- AER, Abort, Keep Alive ---- */

static void
ctrlr_aer(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	if (ctrlr->num_aer > NVMF_AERL) {
		req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC,
			 OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		return;
	}
	ctrlr->aer[ctrlr->num_aer++] = req;
	ctrlr_aen_flush(ctrlr);
}

static void
ctrlr_abort(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint16_t sqid = req->cmd.cdw10 & 0xffff;
	uint16_t cid = req->cmd.cdw10 >> 16;
	struct osp_nvmf_request *aer;
	uint32_t i;

	req->rsp.cdw0 = 1;	/* not aborted */
	if (sqid == 0) {
		for (i = 0; i < ctrlr->num_aer; i++) {
			if (ctrlr->aer[i]->cmd.cid == cid) {
				aer = ctrlr->aer[i];
				memmove(&ctrlr->aer[i], &ctrlr->aer[i + 1],
					(ctrlr->num_aer - i - 1) * sizeof(ctrlr->aer[0]));
				ctrlr->aer[--ctrlr->num_aer] = NULL;
				req_fail(aer, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_BY_REQUEST);
				req->rsp.cdw0 = 0;
				break;
			}
		}
	}
	ctrlr_req_done(req);
}

/* ---- dispatch ---- */

/* Hold req while its subsystem is not active; count it while it runs. */
static bool
ctrlr_gate(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = qp->ctrlr;
	struct nvmf_subsystem_pg *sg;

	if (ctrlr_is_discovery(ctrlr)) {
		return true;
	}
	sg = nvmf_sgroup(qp->group, ctrlr->subsys);
	if (sg == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
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
			req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
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
		ctrlr_identify(ctrlr, req);
		break;
	case OSP_NVME_OPC_GET_LOG_PAGE:
		ctrlr_get_log_page(ctrlr, req);
		break;
	case OSP_NVME_OPC_GET_FEATURES:
		ctrlr_get_features(ctrlr, req);
		break;
	case OSP_NVME_OPC_SET_FEATURES:
		ctrlr_set_features(ctrlr, req);
		break;
	default:
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
		break;
	}
}

static void
ctrlr_io_done(struct osp_nvmf_request *req)
{
	ctrlr_req_done(req);
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
			req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
			return;
		}
		ns = ctrlr_io_ns(qp, req->cmd.nsid);
		if (ns == NULL) {
			req_fail(first, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			return;
		}
		if (nvmf_bdev_exec_compare_and_write(first, req, ns->desc, ns->ch, ctrlr_io_done) ==
		    NVMF_BDEV_DONE) {
			ctrlr_req_done(first);
			ctrlr_req_done(req);
		}
		return;
	}
	if (fuse == 1) {
		if (req->cmd.opc != OSP_NVME_OPC_COMPARE) {
			req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		qp->fused_first = req;	/* waits for its second half */
		return;
	}
	if (fuse != 0) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_MISSING_FUSED);
		return;
	}
	ns = ctrlr_io_ns(qp, req->cmd.nsid);
	if (ns == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	if (nvmf_bdev_exec_io(req, ns->desc, ns->ch, ctrlr_io_done) == NVMF_BDEV_DONE) {
		ctrlr_req_done(req);
	}
}

void
nvmf_ctrlr_exec_gated(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	if (qp->ctrlr == NULL || qp->disconnecting) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
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
		ctrlr_fabrics(qp, req);
		return;
	}
	if (!qp->connected || ctrlr == NULL) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	cc.raw = ctrlr->cc;
	if (qp->qpair->qid != 0) {
		nvmf_ctrlr_exec_gated(qp, req);
		return;
	}
	if (!cc.bits.en) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (req->cmd.fuse != 0) {
		req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	/* Commands that never touch namespaces are not held by a pause. */
	switch (req->cmd.opc) {
	case OSP_NVME_OPC_KEEP_ALIVE:
		ctrlr->last_keep_alive = ctrlr_now();
		ctrlr_req_done(req);
		return;
	case OSP_NVME_OPC_ASYNC_EVENT_REQUEST:
		ctrlr_aer(ctrlr, req);
		return;
	case OSP_NVME_OPC_ABORT:
		ctrlr_abort(ctrlr, req);
		return;
	default:
		nvmf_ctrlr_exec_gated(qp, req);
		return;
	}
}

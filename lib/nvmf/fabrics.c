/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF Fabrics commands (NVMe-oF 1.1 §3): Connect, which creates a
 * controller or attaches an I/O queue to one (qpair's thread, then the
 * target's, then the controller's), and Property Get/Set (CAP, VS, CC,
 * CSTS): enabling and shutting a controller down through CC.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/log.h"
#include "osprey/nvmf_transport.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "nvmf_bdev.h"
#include "nvmf_internal.h"

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
/*
 * At most NVMF_CONNECT_LOG_PER_S lines a second, process-wide: a peer that
 * repeats a bad Connect must not flood the log. The next line logged says
 * how many were left out. Any poll group thread: atomics only.
 */
#define NVMF_CONNECT_LOG_PER_S	50
static _Atomic uint64_t g_connect_log_window;	/* second (in ticks / hz) of the current window */
static atomic_uint g_connect_log_count;		/* lines in that window */
static atomic_uint g_connect_log_dropped;	/* refusals not logged since the last line */

static bool
connect_log_allowed(unsigned int *dropped)
{
	uint64_t now = osp_get_ticks() / osp_get_ticks_hz();
	uint64_t win = atomic_load_explicit(&g_connect_log_window, memory_order_relaxed);

	if (now != win &&
	    atomic_compare_exchange_strong(&g_connect_log_window, &win, now)) {
		atomic_store(&g_connect_log_count, 0);
	}
	if (atomic_fetch_add(&g_connect_log_count, 1) >= NVMF_CONNECT_LOG_PER_S) {
		atomic_fetch_add(&g_connect_log_dropped, 1);
		return false;
	}
	*dropped = atomic_exchange(&g_connect_log_dropped, 0);
	return true;
}

static void
connect_log_refusal(const struct connect_ctx *c)
{
	const struct osp_nvmf_transport_ops *ops = c->qp->qpair->transport->ops;
	struct osp_nvmf_listen_addr a;
	char sub[OSP_NVMF_NQN_FIELD_SIZE], host[OSP_NVMF_NQN_FIELD_SIZE];
	unsigned int dropped = 0;

	if (!connect_log_allowed(&dropped)) {
		return;
	}

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
	if (dropped != 0) {
		OSP_NOTICELOG("%u refused Connects were not logged (over %u a second)\n", dropped,
			      NVMF_CONNECT_LOG_PER_S);
	}
}

static void
connect_invalid_param(struct connect_ctx *c, bool in_data, uint16_t offset)
{
	c->sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
	c->sc = OSP_NVMF_SC_INVALID_PARAM;
	/* Connect Invalid Parameters: IPO in bits 15:0, IATTR in bits 23:16. */
	c->cdw0 = (uint32_t)offset | ((in_data ? 1u : 0u) << 16);
}


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
		qp->qpair->qid = c->qid;
		qp->qpair->cntlid = ctrlr->cntlid;
		qp->qpair->sq_size = (uint32_t)c->sqsize + 1;
		qp->sq_fc_disabled = c->sq_fc_disabled;
		req->rsp.cdw0 = ctrlr->cntlid;
		if (c->qid == 0) {
			ctrlr->admin = qp;
			ctrlr->group = qp->group;
			ctrlr->thread = osp_get_thread();
			ctrlr->last_keep_alive = nvmf_ctrlr_now();
			if (ctrlr->kato != 0) {
				ctrlr->ka_poller = osp_poller_register_named(nvmf_ctrlr_keep_alive_poll,
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
	ctrlr->kato = nvmf_ctrlr_kato_round(c->kato);
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
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
		   nvmf_req_copy_from(req, &c->data, sizeof(c->data)) != sizeof(c->data)) {
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
	nvmf_req_status(req, c->sct, c->sc);
	free(c);
	nvmf_ctrlr_req_done(req);
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if ((eight && size != OSP_NVMF_PROP_SIZE_8) || (!eight && size != OSP_NVMF_PROP_SIZE_4)) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	req->rsp.cdw0 = (uint32_t)value;
	req->rsp.cdw1 = (uint32_t)(value >> 32);
	nvmf_ctrlr_req_done(req);
}

static void
ctrlr_property_set(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_property_set_cmd *cmd = (const void *)&req->cmd;
	union osp_nvme_cc_register old = { .raw = ctrlr->cc }, cc;
	union osp_nvme_csts_register csts = { .raw = ctrlr->csts };

	if (cmd->ofst != OSP_NVME_REG_CC || (cmd->attrib & 0x7) != OSP_NVMF_PROP_SIZE_4) {
		/* CAP, VS and CSTS are read-only; other properties do not exist here. */
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	cc.raw = (uint32_t)cmd->value;
	if (cc.bits.en && !old.bits.en) {
		csts.bits.rdy = 1;
		csts.bits.shst = OSP_NVME_SHST_NORMAL;
	} else if (!cc.bits.en && old.bits.en) {
		/* Controller reset: I/O queues are deleted (§3.7.2). */
		csts.bits.rdy = 0;
		nvmf_ctrlr_disconnect_io(ctrlr);
		ctrlr->io_queues_created = false;
	}
	if (cc.bits.shn != OSP_NVME_SHN_NONE && old.bits.shn == OSP_NVME_SHN_NONE) {
		nvmf_ctrlr_disconnect_io(ctrlr);
		csts.bits.shst = OSP_NVME_SHST_COMPLETE;
	} else if (cc.bits.shn == OSP_NVME_SHN_NONE) {
		if (csts.bits.shst == OSP_NVME_SHST_COMPLETE && cc.bits.en && !old.bits.en) {
			csts.bits.shst = OSP_NVME_SHST_NORMAL;
		}
	}
	ctrlr->cc = cc.raw;
	ctrlr->csts = csts.raw;
	nvmf_ctrlr_req_done(req);
}

void
nvmf_fabrics_exec(struct nvmf_qpair *qp, struct osp_nvmf_request *req)
{
	const struct osp_nvmf_capsule_cmd *cmd = (const void *)&req->cmd;

	if (cmd->fctype == OSP_NVMF_FCTYPE_CONNECT) {
		ctrlr_connect(qp, req);
		return;
	}
	if (!qp->connected) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (qp->qpair->qid != 0) {
		/* Properties are reached through the admin queue only. */
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
		break;
	}
}

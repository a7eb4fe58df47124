/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme controller: the Fabrics initialization state machine (NVMe Base
 * 2.0 §3.5.2 "Memory-based / Message-based Controller Initialization":
 * Connect, CAP, VS, CC.EN, CSTS.RDY, Identify, Number of Queues, namespaces),
 * namespace scans, asynchronous events, keep alive, reset, admin commands
 * and the discovery log page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_internal.h"

void
nvme_ctrlr_lock(struct osp_nvme_ctrlr *ctrlr)
{
	pthread_mutex_lock(&ctrlr->lock);
}

void
nvme_ctrlr_unlock(struct osp_nvme_ctrlr *ctrlr)
{
	pthread_mutex_unlock(&ctrlr->lock);
}

/* For log messages: the subsystem NQN, or the PCI address of a local controller. */
static const char *
ctrlr_name(const struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->trid.subnqn[0] != '\0' ? ctrlr->trid.subnqn : ctrlr->trid.traddr;
}

/* ------------------------------------------------------------ allocation */

struct osp_nvme_ctrlr *
nvme_ctrlr_alloc(const struct osp_nvme_transport_id *trid, const struct osp_nvme_ctrlr_opts *opts,
		 size_t opts_size, int *rc)
{
	struct osp_nvme_ctrlr *ctrlr;
	const struct nvme_transport_ops *ops;
	pthread_mutexattr_t attr;

	ops = nvme_transport_get(trid->trtype);
	if (ops == NULL) {
		OSP_ERRLOG("transport %s is not supported\n",
			   osp_nvme_transport_id_trtype_str(trid->trtype) ?: "(unknown)");
		*rc = -ENOTSUP;
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	ctrlr->trid = *trid;
	ctrlr->ops = ops;
	osp_nvme_ctrlr_opts_init(&ctrlr->opts, sizeof(ctrlr->opts));
	if (opts != NULL) {
		memcpy(&ctrlr->opts, opts, OSP_MIN(opts_size, sizeof(ctrlr->opts)));
		ctrlr->opts.opts_size = sizeof(ctrlr->opts);
	}
	ctrlr->opts.hostnqn[sizeof(ctrlr->opts.hostnqn) - 1] = '\0';
	ctrlr->opts.src_addr[sizeof(ctrlr->opts.src_addr) - 1] = '\0';
	ctrlr->opts.src_svcid[sizeof(ctrlr->opts.src_svcid) - 1] = '\0';
	if (ctrlr->opts.admin_queue_size < 2 || ctrlr->opts.admin_queue_size > 4096 ||
	    ctrlr->opts.io_queue_size < 2 || ctrlr->opts.io_queue_size > 65536 ||
	    ctrlr->opts.maxr2t == 0 || osp_nqn_check(ctrlr->opts.hostnqn, NULL, 0) != 0 ||
	    (!(ops->local_bus && trid->subnqn[0] == '\0') &&
	     osp_nqn_check(trid->subnqn, NULL, 0) != 0)) {
		OSP_ERRLOG("invalid controller options (queue sizes, maxr2t or NQNs)\n");
		free(ctrlr);
		*rc = -EINVAL;
		return NULL;
	}
	if (ops->ctrlr_check != NULL && (*rc = ops->ctrlr_check(trid, &ctrlr->opts)) != 0) {
		free(ctrlr);
		return NULL;
	}
	ctrlr->is_discovery = !ops->local_bus && strcmp(trid->subnqn, OSP_NVMF_DISCOVERY_NQN) == 0;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ctrlr->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	TAILQ_INIT(&ctrlr->io_qpairs);
	errno = 0;
	ctrlr->adminq = ops->qpair_create(ctrlr, 0, ctrlr->opts.admin_queue_size);
	if (ctrlr->adminq == NULL) {
		/* A transport may say why (PCIe: the device cannot be attached). */
		*rc = errno > 0 ? -errno : -ENOMEM;
		pthread_mutex_destroy(&ctrlr->lock);
		free(ctrlr);
		return NULL;
	}
	ctrlr->max_xfer_size = OSP_NVME_MAX_XFER_SIZE;
	*rc = 0;
	return ctrlr;
}

void
nvme_ctrlr_free(struct osp_nvme_ctrlr *ctrlr)
{
	struct nvme_qpair *qpair;
	uint32_t i;

	if (ctrlr == NULL) {
		return;
	}
	nvme_ctrlr_lock(ctrlr);
	while ((qpair = TAILQ_FIRST(&ctrlr->io_qpairs)) != NULL) {
		TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, link);
		nvme_qpair_disconnect(qpair, NVME_QPAIR_DISCONNECTED);
		qpair->ops->qpair_destroy(qpair);
	}
	if (ctrlr->adminq != NULL) {
		nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_DISCONNECTED);
		ctrlr->ops->qpair_destroy(ctrlr->adminq);
		ctrlr->adminq = NULL;
	}
	for (i = 0; i < ctrlr->num_ns_objs; i++) {
		free(ctrlr->ns[i]);
	}
	free(ctrlr->ns);
	free(ctrlr->active_list);
	free(ctrlr->qid_bitmap);
	nvme_ctrlr_unlock(ctrlr);
	pthread_mutex_destroy(&ctrlr->lock);
	free(ctrlr);
}

/* ------------------------------------------------------------ namespaces */

static int
ns_find_idx(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid, bool *found)
{
	uint32_t lo = 0, hi = ctrlr->num_ns_objs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ctrlr->ns[mid]->id < nsid) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = lo < ctrlr->num_ns_objs && ctrlr->ns[lo]->id == nsid;
	return (int)lo;
}

static struct osp_nvme_ns *
ns_get_or_create(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	struct osp_nvme_ns **arr, *ns;
	bool found;
	int idx = ns_find_idx(ctrlr, nsid, &found);

	if (found) {
		return ctrlr->ns[idx];
	}
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL) {
		return NULL;
	}
	arr = realloc(ctrlr->ns, (ctrlr->num_ns_objs + 1) * sizeof(*arr));
	if (arr == NULL) {
		free(ns);
		return NULL;
	}
	ctrlr->ns = arr;
	memmove(&arr[idx + 1], &arr[idx], (ctrlr->num_ns_objs - (uint32_t)idx) * sizeof(*arr));
	arr[idx] = ns;
	ctrlr->num_ns_objs++;
	ns->ctrlr = ctrlr;
	ns->id = nsid;
	return ns;
}

static struct osp_nvme_ns *
ns_lookup(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	bool found;
	int idx = ns_find_idx(ctrlr, nsid, &found);

	return found ? ctrlr->ns[idx] : NULL;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

/* Parse a Namespace Identification Descriptor list (Base §5.17.2.3); untrusted. */
static void
ns_parse_id_descs(struct osp_nvme_ns *ns, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off + sizeof(struct osp_nvme_ns_id_desc) <= len) {
		const struct osp_nvme_ns_id_desc *d = (const void *)(buf + off);
		size_t total = sizeof(*d) + d->nidl;

		if (d->nidt == 0 || d->nidl == 0 || off + total > len) {
			break;
		}
		switch (d->nidt) {
		case OSP_NVME_NIDT_EUI64:
			if (d->nidl == OSP_NVME_NIDT_EUI64_LEN) {
				memcpy(ns->eui64, d->nid, 8);
				ns->has_eui64 = !all_zero(ns->eui64, 8);
			}
			break;
		case OSP_NVME_NIDT_NGUID:
			if (d->nidl == OSP_NVME_NIDT_NGUID_LEN) {
				memcpy(ns->nguid, d->nid, 16);
				ns->has_nguid = !all_zero(ns->nguid, 16);
			}
			break;
		case OSP_NVME_NIDT_UUID:
			if (d->nidl == OSP_NVME_NIDT_UUID_LEN) {
				memcpy(ns->uuid.u, d->nid, 16);
				ns->has_uuid = !all_zero(ns->uuid.u, 16);
			}
			break;
		case OSP_NVME_NIDT_CSI:
			if (d->nidl == OSP_NVME_NIDT_CSI_LEN) {
				ns->csi = d->nid[0];
			}
			break;
		default:
			break;
		}
		off += total;
	}
}

/* ------------------------------------------------------------ init state machine */

static const char *
state_step(enum nvme_ctrlr_state s)
{
	switch (s) {
	case NVME_CTRLR_STATE_CONNECT_ADMINQ: return "admin queue connect";
	case NVME_CTRLR_STATE_READ_CAP: return "property get CAP";
	case NVME_CTRLR_STATE_READ_VS: return "property get VS";
	case NVME_CTRLR_STATE_ENABLE: return "property set CC (enable)";
	case NVME_CTRLR_STATE_WAIT_RDY: return "wait for CSTS.RDY";
	case NVME_CTRLR_STATE_IDENTIFY: return "identify controller";
	case NVME_CTRLR_STATE_TRANSPORT_INIT: return "transport setup (doorbell buffer config)";
	case NVME_CTRLR_STATE_SET_NUM_QUEUES: return "set features number of queues";
	case NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS: return "identify active namespace list";
	case NVME_CTRLR_STATE_IDENTIFY_NS: return "identify namespace";
	case NVME_CTRLR_STATE_IDENTIFY_NS_DESC: return "identify namespace id descriptors";
	case NVME_CTRLR_STATE_CONFIGURE_AER: return "set features async event config";
	case NVME_CTRLR_STATE_READ_CHANGED_NS_LOG: return "get log page changed namespaces";
	case NVME_CTRLR_STATE_READY: return "ready";
	case NVME_CTRLR_STATE_FAILED: return "failed";
	}
	return "?";
}

static void
ctrlr_fail(struct osp_nvme_ctrlr *ctrlr, int rc, const struct osp_nvme_cpl *cpl)
{
	if (ctrlr->rescan_only && ctrlr->adminq->state == NVME_QPAIR_CONNECTED &&
	    rc != -ETIMEDOUT) {
		/*
		 * A refused rescan command leaves the controller usable with what it
		 * knew. (A timed-out one fails it: the command would still be
		 * outstanding, and its late completion must not be mistaken for the
		 * next one's.)
		 */
		OSP_WARNLOG("namespace rescan: %s failed (%d)\n", state_step(ctrlr->state), rc);
		ctrlr->rescan_only = false;
		ctrlr->state = NVME_CTRLR_STATE_READY;
		return;
	}
	nvme_set_connect_error(&ctrlr->err, rc, state_step(ctrlr->state), cpl);
	OSP_ERRLOG("controller %s: %s failed: %s%s%s\n", ctrlr_name(ctrlr),
		   state_step(ctrlr->state), strerror(-rc), cpl ? ", status " : "",
		   cpl ? osp_nvme_cpl_status_string(cpl) : "");
	ctrlr->state = NVME_CTRLR_STATE_FAILED;
	ctrlr->init_waiting = false;
	ctrlr->init_have_cpl = false;
	if (ctrlr->adminq->state != NVME_QPAIR_FAILED &&
	    ctrlr->adminq->state != NVME_QPAIR_DISCONNECTED) {
		nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_FAILED);
	}
}

static void
init_cmd_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct osp_nvme_ctrlr *ctrlr = arg;

	ctrlr->init_cpl = *cpl;
	ctrlr->init_waiting = false;
	ctrlr->init_have_cpl = true;
}

static int
init_submit(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cmd *cmd, void *buf, uint32_t len)
{
	int rc;

	ctrlr->init_waiting = true;
	ctrlr->init_have_cpl = false;
	if (ctrlr->state != NVME_CTRLR_STATE_WAIT_RDY || ctrlr->state_deadline_us == 0) {
		ctrlr->state_deadline_us = nvme_now_us() + (uint64_t)ctrlr->opts.admin_timeout_ms * 1000;
	}
	rc = nvme_qpair_submit(ctrlr->adminq, cmd, NULL, 0, buf, len, init_cmd_cb, ctrlr, false);
	if (rc != 0) {
		ctrlr->init_waiting = false;
	}
	return rc;
}

static void
prop_get_cmd(struct osp_nvme_cmd *cmd, uint32_t ofst, bool size8)
{
	struct osp_nvmf_property_get_cmd *c = (struct osp_nvmf_property_get_cmd *)cmd;

	memset(c, 0, sizeof(*c));
	c->opcode = OSP_NVMF_FABRIC_OPCODE;
	c->fctype = OSP_NVMF_FCTYPE_PROPERTY_GET;
	c->attrib = size8 ? OSP_NVMF_PROP_SIZE_8 : OSP_NVMF_PROP_SIZE_4;
	c->ofst = ofst;
}

static void
identify_cmd(struct osp_nvme_cmd *cmd, uint8_t cns, uint32_t nsid)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = OSP_NVME_OPC_IDENTIFY;
	cmd->nsid = nsid;
	cmd->cdw10 = cns;
}

static void
get_log_cmd(struct osp_nvme_cmd *cmd, uint8_t lid, uint32_t nsid, uint32_t size, uint64_t offset)
{
	uint32_t numd = size / 4 - 1;

	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = OSP_NVME_OPC_GET_LOG_PAGE;
	cmd->nsid = nsid;
	cmd->cdw10 = lid | ((numd & 0xffffu) << OSP_NVME_GET_LOG_NUMDL_SHIFT);
	cmd->cdw11 = numd >> 16;
	cmd->cdw12 = (uint32_t)offset;
	cmd->cdw13 = (uint32_t)(offset >> 32);
}

static void aer_cb(void *arg, const struct osp_nvme_cpl *cpl);

static void
submit_aers(struct osp_nvme_ctrlr *ctrlr)
{
	struct osp_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_ASYNC_EVENT_REQUEST;
	while (ctrlr->aers_outstanding < ctrlr->num_aers) {
		if (nvme_qpair_submit(ctrlr->adminq, &cmd, NULL, 0, NULL, 0, aer_cb, ctrlr,
				      false) != 0) {
			break;
		}
		ctrlr->aers_outstanding++;
	}
}

static void
scan_begin(struct osp_nvme_ctrlr *ctrlr)
{
	uint32_t i;

	for (i = 0; i < ctrlr->num_ns_objs; i++) {
		struct osp_nvme_ns *ns = ctrlr->ns[i];

		ns->was_active = ns->active;
		ns->old_nsze = ns->data.nsze;
		ns->old_flbas = ns->data.flbas;
		ns->in_list = false;
	}
	ctrlr->active_count = 0;
	ctrlr->active_page = 0;
	ctrlr->scan_idx = 0;
}

/* The scan is over: update active flags and report what changed. */
static void
scan_end(struct osp_nvme_ctrlr *ctrlr)
{
	uint32_t i;

	for (i = 0; i < ctrlr->num_ns_objs; i++) {
		struct osp_nvme_ns *ns = ctrlr->ns[i];
		enum osp_nvme_ns_event ev = 0;

		ns->active = ns->in_list;
		if (ns->was_active && !ns->active) {
			ev = OSP_NVME_NS_EVENT_REMOVED;
		} else if (!ns->was_active && ns->active) {
			ev = OSP_NVME_NS_EVENT_ADDED;
		} else if (ns->active && (ns->old_nsze != ns->data.nsze ||
					  ns->old_flbas != ns->data.flbas)) {
			ev = OSP_NVME_NS_EVENT_CHANGED;
		}
		if (ev != 0 && ctrlr->ns_change_cb != NULL) {
			ctrlr->ns_change_cb(ctrlr->ns_change_cb_arg, ctrlr, ns->id, ev);
		}
	}
}

static void
next_scan_ns(struct osp_nvme_ctrlr *ctrlr)
{
	ctrlr->scan_idx++;
	if (ctrlr->scan_idx < ctrlr->active_count) {
		ctrlr->state = NVME_CTRLR_STATE_IDENTIFY_NS;
		return;
	}
	scan_end(ctrlr);
	if (ctrlr->rescan_only) {
		ctrlr->rescan_only = false;
		ctrlr->state = NVME_CTRLR_STATE_READY;
	} else {
		ctrlr->state = NVME_CTRLR_STATE_CONFIGURE_AER;
	}
}

static struct osp_nvme_ns *
scan_cur_ns(struct osp_nvme_ctrlr *ctrlr)
{
	return ns_lookup(ctrlr, ctrlr->active_list[ctrlr->scan_idx]);
}

/* Submit the command of the current state (or move on when it needs none). */
static int
state_submit(struct osp_nvme_ctrlr *ctrlr)
{
	struct osp_nvme_cmd cmd;
	struct osp_nvme_ns *ns;

	switch (ctrlr->state) {
	case NVME_CTRLR_STATE_READ_CAP:
		prop_get_cmd(&cmd, OSP_NVME_REG_CAP, true);
		return init_submit(ctrlr, &cmd, NULL, 0);
	case NVME_CTRLR_STATE_READ_VS:
		prop_get_cmd(&cmd, OSP_NVME_REG_VS, false);
		return init_submit(ctrlr, &cmd, NULL, 0);
	case NVME_CTRLR_STATE_ENABLE: {
		struct osp_nvmf_property_set_cmd *c = (struct osp_nvmf_property_set_cmd *)&cmd;
		union osp_nvme_cc_register cc;

		cc.raw = 0;
		cc.bits.en = 1;
		cc.bits.iosqes = 6; /* 64-byte SQEs */
		cc.bits.iocqes = 4; /* 16-byte CQEs */
		cc.bits.mps = 0;    /* 4 KiB: CAP.MPSMIN is 0 over fabrics in practice */
		if (ctrlr->cap.bits.css & (1u << 7)) {
			cc.bits.css = 0x7; /* admin command set only */
		} else if (ctrlr->cap.bits.css & (1u << 6)) {
			cc.bits.css = 0x6; /* all supported I/O command sets */
		}
		if (ctrlr->cap.bits.mpsmin > 0) {
			cc.bits.mps = ctrlr->cap.bits.mpsmin;
		}
		memset(c, 0, sizeof(*c));
		c->opcode = OSP_NVMF_FABRIC_OPCODE;
		c->fctype = OSP_NVMF_FCTYPE_PROPERTY_SET;
		c->attrib = OSP_NVMF_PROP_SIZE_4;
		c->ofst = OSP_NVME_REG_CC;
		c->value = cc.raw;
		return init_submit(ctrlr, &cmd, NULL, 0);
	}
	case NVME_CTRLR_STATE_WAIT_RDY:
		prop_get_cmd(&cmd, OSP_NVME_REG_CSTS, false);
		return init_submit(ctrlr, &cmd, NULL, 0);
	case NVME_CTRLR_STATE_IDENTIFY:
		identify_cmd(&cmd, OSP_NVME_IDENTIFY_CTRLR, 0);
		return init_submit(ctrlr, &cmd, ctrlr->scratch, sizeof(ctrlr->scratch));
	case NVME_CTRLR_STATE_TRANSPORT_INIT:
		if (ctrlr->ops->ctrlr_init_cmd == NULL || ctrlr->ops->ctrlr_init_cmd(ctrlr, &cmd) != 1) {
			ctrlr->state = NVME_CTRLR_STATE_SET_NUM_QUEUES;
			return state_submit(ctrlr);
		}
		return init_submit(ctrlr, &cmd, NULL, 0);
	case NVME_CTRLR_STATE_SET_NUM_QUEUES: {
		uint32_t n = OSP_MIN(OSP_MAX(ctrlr->opts.num_io_queues, 1u), 65535u);

		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = OSP_NVME_OPC_SET_FEATURES;
		cmd.cdw10 = OSP_NVME_FEAT_NUMBER_OF_QUEUES;
		cmd.cdw11 = (n - 1) | ((n - 1) << 16);
		return init_submit(ctrlr, &cmd, NULL, 0);
	}
	case NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS: {
		uint32_t start = ctrlr->active_count ? ctrlr->active_list[ctrlr->active_count - 1] : 0;

		identify_cmd(&cmd, OSP_NVME_IDENTIFY_ACTIVE_NS_LIST, start);
		return init_submit(ctrlr, &cmd, ctrlr->scratch, sizeof(ctrlr->scratch));
	}
	case NVME_CTRLR_STATE_IDENTIFY_NS:
		ns = scan_cur_ns(ctrlr);
		identify_cmd(&cmd, OSP_NVME_IDENTIFY_NS, ns->id);
		return init_submit(ctrlr, &cmd, ctrlr->scratch, sizeof(ctrlr->scratch));
	case NVME_CTRLR_STATE_IDENTIFY_NS_DESC:
		ns = scan_cur_ns(ctrlr);
		identify_cmd(&cmd, OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, ns->id);
		return init_submit(ctrlr, &cmd, ctrlr->scratch, sizeof(ctrlr->scratch));
	case NVME_CTRLR_STATE_CONFIGURE_AER: {
		union osp_nvme_feat_async_event_config cfg;

		cfg.raw = 0;
		if (ctrlr->cdata.oaes & (1u << 8)) {
			cfg.bits.ns_attr_notice = 1;
		}
		if (ctrlr->is_discovery && (ctrlr->cdata.oaes & (1u << 31))) {
			cfg.bits.discovery_log_change_notice = 1;
		}
		if (cfg.raw == 0) {
			/* Nothing to enable: AERs still report errors and SMART events. */
			ctrlr->init_have_cpl = true;
			memset(&ctrlr->init_cpl, 0, sizeof(ctrlr->init_cpl));
			return 0;
		}
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = OSP_NVME_OPC_SET_FEATURES;
		cmd.cdw10 = OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION;
		cmd.cdw11 = cfg.raw;
		return init_submit(ctrlr, &cmd, NULL, 0);
	}
	case NVME_CTRLR_STATE_READ_CHANGED_NS_LOG:
		get_log_cmd(&cmd, OSP_NVME_LOG_CHANGED_NS_LIST, 0xffffffffu,
			    sizeof(ctrlr->changed_ns_log), 0);
		return init_submit(ctrlr, &cmd, &ctrlr->changed_ns_log,
				   sizeof(ctrlr->changed_ns_log));
	default:
		return -EINVAL;
	}
}

/* Limits from CAP (read over fabrics, or by a local-bus transport). */
static int
apply_cap(struct osp_nvme_ctrlr *ctrlr)
{
	if (ctrlr->opts.io_queue_size > (uint32_t)ctrlr->cap.bits.mqes + 1) {
		ctrlr->opts.io_queue_size = (uint32_t)ctrlr->cap.bits.mqes + 1;
	}
	if (ctrlr->opts.io_queue_size < 2) {
		return -EPROTO; /* MQES 0 is invalid */
	}
	return 0;
}

/* Handle the completion of the current state's command; 0 or -errno to fail. */
static int
state_complete(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cpl *cpl,
	       const struct osp_nvme_cpl **fail_cpl)
{
	bool err = osp_nvme_cpl_is_error(cpl);
	struct osp_nvme_ns *ns;

	*fail_cpl = cpl;
	switch (ctrlr->state) {
	case NVME_CTRLR_STATE_READ_CAP:
		if (err) {
			return -EIO;
		}
		ctrlr->cap.raw = (uint64_t)cpl->cdw0 | ((uint64_t)cpl->cdw1 << 32);
		if (apply_cap(ctrlr) != 0) {
			*fail_cpl = NULL;
			return -EPROTO; /* MQES 0 is invalid */
		}
		ctrlr->state = NVME_CTRLR_STATE_READ_VS;
		return 0;
	case NVME_CTRLR_STATE_READ_VS:
		if (err) {
			return -EIO;
		}
		ctrlr->vs.raw = cpl->cdw0;
		ctrlr->state = NVME_CTRLR_STATE_ENABLE;
		return 0;
	case NVME_CTRLR_STATE_ENABLE: {
		uint64_t to_ms = (uint64_t)OSP_MAX(ctrlr->cap.bits.to, 1u) * 500;

		if (err) {
			return -EIO;
		}
		ctrlr->state = NVME_CTRLR_STATE_WAIT_RDY;
		ctrlr->state_deadline_us = nvme_now_us() + to_ms * 1000;
		return 0;
	}
	case NVME_CTRLR_STATE_WAIT_RDY: {
		union osp_nvme_csts_register csts;

		if (err) {
			return -EIO;
		}
		csts.raw = cpl->cdw0;
		if (csts.bits.cfs) {
			*fail_cpl = NULL;
			return -ENODEV;
		}
		if (!csts.bits.rdy) {
			if (nvme_now_us() > ctrlr->state_deadline_us) {
				*fail_cpl = NULL;
				return -ETIMEDOUT;
			}
			/* ask again in a millisecond, not in a tight loop */
			ctrlr->next_poll_us = nvme_now_us() + 1000;
			return 0;
		}
		ctrlr->state_deadline_us = 0;
		ctrlr->state = NVME_CTRLR_STATE_IDENTIFY;
		return 0;
	}
	case NVME_CTRLR_STATE_IDENTIFY: {
		uint64_t mdts_bytes;
		uint32_t tmax;

		if (err) {
			return -EIO;
		}
		memcpy(&ctrlr->cdata, ctrlr->scratch, sizeof(ctrlr->cdata));
		ctrlr->cdata.subnqn[sizeof(ctrlr->cdata.subnqn) - 1] = '\0';
		if (ctrlr->cdata.cntrltype == OSP_NVME_CTRLR_TYPE_DISCOVERY) {
			ctrlr->is_discovery = true;
		}
		tmax = ctrlr->ops->ctrlr_max_xfer_size ? ctrlr->ops->ctrlr_max_xfer_size(ctrlr) :
		       OSP_NVME_MAX_XFER_SIZE;
		tmax = OSP_MIN(tmax, OSP_NVME_MAX_XFER_SIZE);
		mdts_bytes = tmax;
		if (ctrlr->cdata.mdts != 0 && ctrlr->cdata.mdts < 32) {
			mdts_bytes = (1ull << ctrlr->cdata.mdts) *
				     (4096ull << ctrlr->cap.bits.mpsmin);
		}
		ctrlr->max_xfer_size = (uint32_t)OSP_MIN(mdts_bytes, (uint64_t)tmax);
		ctrlr->num_aers = OSP_MIN((uint32_t)ctrlr->cdata.aerl + 1, (uint32_t)NVME_MAX_AERS);
		if (ctrlr->is_discovery) {
			ctrlr->num_io_queues = 0;
			ctrlr->state = NVME_CTRLR_STATE_CONFIGURE_AER;
		} else {
			ctrlr->state = NVME_CTRLR_STATE_TRANSPORT_INIT;
		}
		return 0;
	}
	case NVME_CTRLR_STATE_TRANSPORT_INIT:
		if (err) {
			OSP_WARNLOG("controller %s: %s refused: %s (going on without)\n",
				    ctrlr->trid.traddr, state_step(ctrlr->state),
				    osp_nvme_cpl_status_string(cpl));
		}
		if (ctrlr->ops->ctrlr_init_cmd_done != NULL) {
			ctrlr->ops->ctrlr_init_cmd_done(ctrlr, cpl);
		}
		ctrlr->state = NVME_CTRLR_STATE_SET_NUM_QUEUES;
		return 0;
	case NVME_CTRLR_STATE_SET_NUM_QUEUES: {
		uint32_t nsqa, ncqa, n, words;

		if (err) {
			return -EIO;
		}
		nsqa = (cpl->cdw0 & 0xffffu) + 1;
		ncqa = (cpl->cdw0 >> 16) + 1;
		n = OSP_MIN(OSP_MIN(nsqa, ncqa), OSP_MAX(ctrlr->opts.num_io_queues, 1u));
		words = n / 64 + 1;
		if (words > ctrlr->qid_bitmap_words) {
			uint64_t *bm = realloc(ctrlr->qid_bitmap, words * sizeof(*bm));

			if (bm == NULL) {
				*fail_cpl = NULL;
				return -ENOMEM;
			}
			memset(bm + ctrlr->qid_bitmap_words, 0,
			       (words - ctrlr->qid_bitmap_words) * sizeof(*bm));
			ctrlr->qid_bitmap = bm;
			ctrlr->qid_bitmap_words = words;
		}
		ctrlr->num_io_queues = n;
		scan_begin(ctrlr);
		ctrlr->state = NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS;
		return 0;
	}
	case NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS: {
		const uint32_t *list = (const uint32_t *)ctrlr->scratch;
		uint32_t i, n = 0, prev;
		uint32_t *nl;

		if (err) {
			return -EIO;
		}
		prev = ctrlr->active_count ? ctrlr->active_list[ctrlr->active_count - 1] : 0;
		while (n < 1024 && list[n] != 0) {
			n++;
		}
		nl = realloc(ctrlr->active_list, (ctrlr->active_count + n + 1) * sizeof(*nl));
		if (nl == NULL) {
			*fail_cpl = NULL;
			return -ENOMEM;
		}
		ctrlr->active_list = nl;
		for (i = 0; i < n; i++) {
			/* The list is increasing; anything else is ignored from there on. */
			if (list[i] <= prev || list[i] >= 0xfffffffeu) {
				OSP_WARNLOG("active namespace list is not increasing at %u\n", list[i]);
				n = 1024 + 1; /* stop paging */
				break;
			}
			nl[ctrlr->active_count++] = list[i];
			prev = list[i];
		}
		ctrlr->active_page++;
		if (n == 1024 && ctrlr->active_page < NVME_MAX_ACTIVE_NS_PAGES) {
			return 0; /* next page, starting after the last NSID */
		}
		for (i = 0; i < ctrlr->active_count; i++) {
			if (ns_get_or_create(ctrlr, ctrlr->active_list[i]) == NULL) {
				*fail_cpl = NULL;
				return -ENOMEM;
			}
		}
		ctrlr->scan_idx = 0;
		if (ctrlr->active_count == 0) {
			ctrlr->scan_idx = 0;
			ctrlr->active_count = 0;
			/* next_scan_ns increments first: start from "one before" */
			ctrlr->scan_idx = UINT32_MAX;
			next_scan_ns(ctrlr);
			return 0;
		}
		ctrlr->state = NVME_CTRLR_STATE_IDENTIFY_NS;
		return 0;
	}
	case NVME_CTRLR_STATE_IDENTIFY_NS: {
		const struct osp_nvme_ns_data *nd = (const void *)ctrlr->scratch;
		struct osp_nvme_lbaf lbaf;
		unsigned idx;

		ns = scan_cur_ns(ctrlr);
		idx = osp_nvme_ns_flbas_index(nd->flbas);
		if (err || nd->nsze == 0 || idx > nd->nlbaf || idx >= 64) {
			/* Listed but not usable: leave it out. */
			next_scan_ns(ctrlr);
			return 0;
		}
		lbaf = nd->lbaf[idx];
		if (lbaf.lbads < 9 || lbaf.lbads > 24) {
			OSP_WARNLOG("namespace %u: LBA data size 2^%u not supported\n", ns->id,
				    lbaf.lbads);
			next_scan_ns(ctrlr);
			return 0;
		}
		memcpy(&ns->data, nd, sizeof(ns->data));
		ns->sector_size = 1u << lbaf.lbads;
		ns->md_size = lbaf.ms;
		ns->csi = OSP_NVME_CSI_NVM;
		ns->has_nguid = !all_zero(nd->nguid, 16);
		memcpy(ns->nguid, nd->nguid, 16);
		ns->has_eui64 = !all_zero(nd->eui64, 8);
		memcpy(ns->eui64, nd->eui64, 8);
		ns->has_uuid = false;
		ns->in_list = true;
		if (ctrlr->vs.raw >= OSP_NVME_VERSION(1, 3, 0)) {
			ctrlr->state = NVME_CTRLR_STATE_IDENTIFY_NS_DESC;
		} else {
			next_scan_ns(ctrlr);
		}
		return 0;
	}
	case NVME_CTRLR_STATE_IDENTIFY_NS_DESC:
		ns = scan_cur_ns(ctrlr);
		if (!err) {
			ns_parse_id_descs(ns, ctrlr->scratch, sizeof(ctrlr->scratch));
		}
		next_scan_ns(ctrlr);
		return 0;
	case NVME_CTRLR_STATE_CONFIGURE_AER:
		if (err) {
			OSP_WARNLOG("async event configuration refused: %s\n",
				    osp_nvme_cpl_status_string(cpl));
		}
		submit_aers(ctrlr);
		ctrlr->next_keep_alive_us = nvme_now_us() +
					    (uint64_t)ctrlr->opts.keep_alive_timeout_ms * 500;
		ctrlr->state = NVME_CTRLR_STATE_READY;
		return 0;
	case NVME_CTRLR_STATE_READ_CHANGED_NS_LOG:
		/* Only read to clear the event; the full list is re-read anyway. */
		scan_begin(ctrlr);
		ctrlr->state = NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS;
		return 0;
	default:
		*fail_cpl = NULL;
		return -EINVAL;
	}
}

int
nvme_ctrlr_start_init(struct osp_nvme_ctrlr *ctrlr)
{
	int rc;

	memset(&ctrlr->err, 0, sizeof(ctrlr->err));
	ctrlr->state = NVME_CTRLR_STATE_CONNECT_ADMINQ;
	ctrlr->rescan_only = false;
	ctrlr->init_waiting = false;
	ctrlr->init_have_cpl = false;
	ctrlr->state_deadline_us = 0;
	ctrlr->next_poll_us = 0;
	rc = nvme_qpair_connect_start(ctrlr->adminq, ctrlr->opts.transport_connect_timeout_ms +
				      ctrlr->opts.admin_timeout_ms);
	if (rc != 0) {
		ctrlr->err = ctrlr->adminq->connect_err;
		ctrlr->state = NVME_CTRLR_STATE_FAILED;
		return rc;
	}
	return 0;
}

int
nvme_ctrlr_init_poll(struct osp_nvme_ctrlr *ctrlr)
{
	const struct osp_nvme_cpl *fail_cpl;
	int rc;

	for (;;) {
		switch (ctrlr->state) {
		case NVME_CTRLR_STATE_READY:
			return 0;
		case NVME_CTRLR_STATE_FAILED:
			return ctrlr->err.rc != 0 ? ctrlr->err.rc : -EIO;
		case NVME_CTRLR_STATE_CONNECT_ADMINQ:
			rc = nvme_qpair_connect_poll(ctrlr->adminq);
			if (rc == -EAGAIN) {
				return -EAGAIN;
			}
			if (rc != 0) {
				ctrlr->err = ctrlr->adminq->connect_err;
				if (ctrlr->err.rc == 0) {
					ctrlr->err.rc = rc;
				}
				OSP_ERRLOG("controller %s: %s failed: %s%s%s\n", ctrlr_name(ctrlr),
					   ctrlr->err.step ? ctrlr->err.step : "connect",
					   strerror(-ctrlr->err.rc),
					   ctrlr->err.has_cpl ? ", status " : "",
					   ctrlr->err.has_cpl ?
					   osp_nvme_cpl_status_string(&ctrlr->err.cpl) : "");
				ctrlr->state = NVME_CTRLR_STATE_FAILED;
				continue;
			}
			if (ctrlr->ops->local_bus) {
				/* The transport read CAP and VS and enabled the controller. */
				rc = apply_cap(ctrlr);
				if (rc != 0) {
					ctrlr_fail(ctrlr, rc, NULL);
					continue;
				}
				ctrlr->state = NVME_CTRLR_STATE_IDENTIFY;
				continue;
			}
			ctrlr->state = NVME_CTRLR_STATE_READ_CAP;
			continue;
		default:
			break;
		}
		if (ctrlr->init_waiting) {
			int32_t n = nvme_qpair_process(ctrlr->adminq, 0);

			if (ctrlr->init_waiting) {
				if (n < 0) {
					ctrlr_fail(ctrlr, -ECONNRESET, NULL);
					continue;
				}
				if (nvme_now_us() > ctrlr->state_deadline_us) {
					ctrlr_fail(ctrlr, -ETIMEDOUT, NULL);
					continue;
				}
				return -EAGAIN;
			}
		}
		if (ctrlr->init_have_cpl) {
			struct osp_nvme_cpl cpl = ctrlr->init_cpl;

			ctrlr->init_have_cpl = false;
			rc = state_complete(ctrlr, &cpl, &fail_cpl);
			if (rc != 0) {
				ctrlr_fail(ctrlr, rc, fail_cpl);
			}
			continue;
		}
		if (ctrlr->next_poll_us != 0) {
			if (nvme_now_us() < ctrlr->next_poll_us) {
				return -EAGAIN;
			}
			ctrlr->next_poll_us = 0;
		}
		rc = state_submit(ctrlr);
		if (rc != 0) {
			ctrlr_fail(ctrlr, rc == -ENOMEM ? -EIO : rc, NULL);
		}
	}
}

/* ------------------------------------------------------------ AER, keep alive */

static void
aer_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct osp_nvme_ctrlr *ctrlr = arg;
	union osp_nvme_async_event_completion ev;

	ctrlr->aers_outstanding--;
	if (osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION)) {
		return; /* the admin queue went away */
	}
	if (osp_nvme_cpl_is_error(cpl)) {
		/* e.g. AER limit exceeded: do not resubmit that one */
		OSP_WARNLOG("AER completed with %s\n", osp_nvme_cpl_status_string(cpl));
		if (ctrlr->num_aers > 0) {
			ctrlr->num_aers--;
		}
		return;
	}
	if (ctrlr->aer_cb != NULL) {
		ctrlr->aer_cb(ctrlr->aer_cb_arg, cpl);
	}
	ev.raw = cpl->cdw0;
	if (ev.bits.async_event_type == OSP_NVME_ASYNC_EVENT_TYPE_NOTICE &&
	    ev.bits.async_event_info == OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED) {
		ctrlr->rescan_pending = true;
	}
	submit_aers(ctrlr);
}

static void
keep_alive_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct osp_nvme_ctrlr *ctrlr = arg;

	ctrlr->keep_alive_outstanding = false;
	if (osp_nvme_cpl_is_error(cpl) &&
	    !osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION)) {
		OSP_WARNLOG("keep alive failed: %s\n", osp_nvme_cpl_status_string(cpl));
	}
}

/*
 * Send Keep Alive every KATO/2. A Keep Alive the controller has not answered
 * within KATO means the association is dead (a hung or unreachable target
 * whose TCP connection stays up): fail the controller so that I/O qpairs
 * abort their commands instead of waiting forever. Returns -ENXIO then.
 */
static int
keep_alive(struct osp_nvme_ctrlr *ctrlr)
{
	struct osp_nvme_cmd cmd;
	uint64_t now;

	if (ctrlr->opts.keep_alive_timeout_ms == 0 || ctrlr->ops->local_bus) {
		/* PCIe: no Keep Alive Timer was set (KATO is a fabrics Connect field). */
		return 0;
	}
	now = nvme_now_us();
	if (ctrlr->keep_alive_outstanding) {
		if (now - ctrlr->keep_alive_sent_us <=
		    (uint64_t)ctrlr->opts.keep_alive_timeout_ms * 1000) {
			return 0;
		}
		OSP_ERRLOG("controller %s: no answer to Keep Alive within %u ms: failing it\n",
			   ctrlr->trid.subnqn, ctrlr->opts.keep_alive_timeout_ms);
		nvme_set_connect_error(&ctrlr->err, -ETIMEDOUT, "keep alive", NULL);
		ctrlr->state = NVME_CTRLR_STATE_FAILED;
		/* I/O qpairs of this association notice it on their next poll. */
		__atomic_add_fetch(&ctrlr->reset_gen, 1, __ATOMIC_RELEASE);
		nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_FAILED);
		return -ENXIO;
	}
	if (now < ctrlr->next_keep_alive_us) {
		return 0;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_KEEP_ALIVE;
	if (nvme_qpair_submit(ctrlr->adminq, &cmd, NULL, 0, NULL, 0, keep_alive_cb, ctrlr,
			      false) == 0) {
		ctrlr->keep_alive_outstanding = true;
		ctrlr->keep_alive_sent_us = now;
		ctrlr->next_keep_alive_us = now + (uint64_t)ctrlr->opts.keep_alive_timeout_ms * 500;
		return 1;
	}
	return 0;
}

int32_t
osp_nvme_ctrlr_process_admin_completions(struct osp_nvme_ctrlr *ctrlr)
{
	int32_t n = 0;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->resetting) {
		nvme_ctrlr_unlock(ctrlr);
		return 0;
	}
	if (ctrlr->state == NVME_CTRLR_STATE_FAILED) {
		nvme_ctrlr_unlock(ctrlr);
		return -ENXIO;
	}
	if (ctrlr->state == NVME_CTRLR_STATE_READY && ctrlr->rescan_pending) {
		ctrlr->rescan_pending = false;
		ctrlr->rescan_only = true;
		ctrlr->state = NVME_CTRLR_STATE_READ_CHANGED_NS_LOG;
	}
	if (ctrlr->state != NVME_CTRLR_STATE_READY) {
		/* a namespace rescan in progress: it polls the admin queue itself */
		nvme_ctrlr_init_poll(ctrlr);
	} else {
		n = nvme_qpair_process(ctrlr->adminq, 0);
	}
	if (ctrlr->adminq->state == NVME_QPAIR_FAILED) {
		if (ctrlr->state != NVME_CTRLR_STATE_FAILED) {
			OSP_ERRLOG("controller %s: admin queue failed\n", ctrlr_name(ctrlr));
			nvme_set_connect_error(&ctrlr->err, -ENXIO, "admin queue", NULL);
			ctrlr->state = NVME_CTRLR_STATE_FAILED;
		}
		nvme_ctrlr_unlock(ctrlr);
		return -ENXIO;
	}
	if (ctrlr->state == NVME_CTRLR_STATE_READY && keep_alive(ctrlr) < 0) {
		nvme_ctrlr_unlock(ctrlr);
		return -ENXIO;
	}
	nvme_ctrlr_unlock(ctrlr);
	return n < 0 ? 0 : n;
}

/* ------------------------------------------------------------ admin commands */

int
osp_nvme_ctrlr_cmd_admin_raw(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cmd *cmd,
			     void *buf, uint32_t len, osp_nvme_cmd_cb cb_fn, void *cb_arg)
{
	int rc;

	if (ctrlr == NULL || cmd == NULL || (len > 0 && buf == NULL) ||
	    len > ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->resetting || ctrlr->state == NVME_CTRLR_STATE_FAILED) {
		nvme_ctrlr_unlock(ctrlr);
		return -ENXIO;
	}
	rc = nvme_qpair_submit(ctrlr->adminq, cmd, NULL, 0, buf, len, cb_fn, cb_arg, false);
	nvme_ctrlr_unlock(ctrlr);
	return rc;
}

int
osp_nvme_ctrlr_cmd_get_log_page(struct osp_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				void *payload, uint32_t size, uint64_t offset,
				osp_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct osp_nvme_cmd cmd;

	if (size == 0 || (size % 4) != 0 || (offset % 4) != 0) {
		return -EINVAL;
	}
	get_log_cmd(&cmd, lid, nsid, size, offset);
	return osp_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, size, cb_fn, cb_arg);
}

struct sync_cmd {
	bool done;
	struct osp_nvme_cpl cpl;
};

static void
sync_cmd_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct sync_cmd *s = arg;

	s->cpl = *cpl;
	s->done = true;
}

/* Run one admin command to completion, polling; called with the lock held. */
static int
admin_cmd_sync(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cmd *cmd, void *buf,
	       uint32_t len, struct osp_nvme_cpl *cpl)
{
	struct sync_cmd s = { .done = false };
	uint64_t deadline = nvme_now_us() + (uint64_t)ctrlr->opts.admin_timeout_ms * 1000;
	int rc;

	for (;;) {
		rc = osp_nvme_ctrlr_cmd_admin_raw(ctrlr, cmd, buf, len, sync_cmd_cb, &s);
		if (rc != -ENOMEM) {
			break;
		}
		if (osp_nvme_ctrlr_process_admin_completions(ctrlr) < 0) {
			return -ENXIO;
		}
		if (nvme_now_us() > deadline) {
			return -ETIMEDOUT;
		}
		nvme_poll_pause();
	}
	if (rc != 0) {
		return rc;
	}
	while (!s.done) {
		if (osp_nvme_ctrlr_process_admin_completions(ctrlr) < 0 && !s.done) {
			return -ENXIO;
		}
		if (s.done) {
			break;
		}
		if (nvme_now_us() > deadline) {
			/* The request would outlive s: end the association (aborts it). */
			OSP_ERRLOG("admin command 0x%02x timed out: failing the controller\n",
				   cmd->opc);
			nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_FAILED);
			nvme_set_connect_error(&ctrlr->err, -ETIMEDOUT, "admin command", NULL);
			ctrlr->state = NVME_CTRLR_STATE_FAILED;
			return -ETIMEDOUT;
		}
		nvme_poll_pause();
	}
	*cpl = s.cpl;
	return osp_nvme_cpl_is_error(&s.cpl) ? -EIO : 0;
}

/*
 * Normal shutdown notification (Base 2.0 §3.6.1): read CC, write it back
 * with CC.SHN = 01b, then poll CSTS until SHST says complete, for up to
 * admin_timeout_ms. Fabrics controllers that are ready only (PCIe and failed
 * controllers just disconnect); every failure is logged and detach goes on.
 */
void
nvme_ctrlr_shutdown(struct osp_nvme_ctrlr *ctrlr)
{
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_property_set_cmd *c = (struct osp_nvmf_property_set_cmd *)&cmd;
	struct osp_nvme_cpl cpl;
	union osp_nvme_cc_register cc;
	union osp_nvme_csts_register csts;
	uint64_t deadline;
	int rc;

	if (!ctrlr->opts.shutdown_notification || ctrlr->ops->local_bus) {
		return;
	}
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->state != NVME_CTRLR_STATE_READY ||
	    ctrlr->adminq->state != NVME_QPAIR_CONNECTED) {
		nvme_ctrlr_unlock(ctrlr);
		return;
	}
	prop_get_cmd(&cmd, OSP_NVME_REG_CC, false);
	rc = admin_cmd_sync(ctrlr, &cmd, NULL, 0, &cpl);
	if (rc == 0) {
		cc.raw = cpl.cdw0;
		cc.bits.shn = OSP_NVME_SHN_NORMAL;
		memset(c, 0, sizeof(*c));
		c->opcode = OSP_NVMF_FABRIC_OPCODE;
		c->fctype = OSP_NVMF_FCTYPE_PROPERTY_SET;
		c->attrib = OSP_NVMF_PROP_SIZE_4;
		c->ofst = OSP_NVME_REG_CC;
		c->value = cc.raw;
		rc = admin_cmd_sync(ctrlr, &cmd, NULL, 0, &cpl);
	}
	deadline = nvme_now_us() + (uint64_t)ctrlr->opts.admin_timeout_ms * 1000;
	while (rc == 0) {
		prop_get_cmd(&cmd, OSP_NVME_REG_CSTS, false);
		rc = admin_cmd_sync(ctrlr, &cmd, NULL, 0, &cpl);
		csts.raw = cpl.cdw0;
		if (rc != 0 || csts.bits.shst == OSP_NVME_SHST_COMPLETE) {
			break;
		}
		if (nvme_now_us() > deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		nvme_poll_pause();
	}
	if (rc != 0) {
		OSP_NOTICELOG("controller %s: shutdown notification not completed: %s\n",
			      ctrlr_name(ctrlr), strerror(-rc));
	}
	nvme_ctrlr_unlock(ctrlr);
}

#define DISCOVERY_MAX_ENTRIES 65536u
#define DISCOVERY_MAX_RETRIES 10

static int
discovery_read(struct osp_nvme_ctrlr *ctrlr, void *buf, uint32_t size, uint64_t offset)
{
	struct osp_nvme_cmd cmd;
	struct osp_nvme_cpl cpl;
	uint32_t chunk, done = 0;
	int rc;

	while (done < size) {
		chunk = OSP_MIN(size - done, OSP_MIN(ctrlr->max_xfer_size, 65536u));
		get_log_cmd(&cmd, OSP_NVME_LOG_DISCOVERY, 0, chunk, offset + done);
		rc = admin_cmd_sync(ctrlr, &cmd, (uint8_t *)buf + done, chunk, &cpl);
		if (rc != 0) {
			if (rc == -EIO) {
				OSP_ERRLOG("discovery log page read failed: %s\n",
					   osp_nvme_cpl_status_string(&cpl));
			}
			return rc;
		}
		done += chunk;
	}
	return 0;
}

int
osp_nvme_ctrlr_get_discovery_log(struct osp_nvme_ctrlr *ctrlr,
				 struct osp_nvmf_discovery_log_page **log, size_t *size)
{
	struct osp_nvmf_discovery_log_page hdr, *page = NULL;
	uint64_t genctr;
	size_t len;
	int attempt, rc;

	if (ctrlr == NULL || log == NULL || size == NULL) {
		return -EINVAL;
	}
	nvme_ctrlr_lock(ctrlr);
	if (!ctrlr->is_discovery) {
		nvme_ctrlr_unlock(ctrlr);
		return -EINVAL;
	}
	for (attempt = 0; attempt < DISCOVERY_MAX_RETRIES; attempt++) {
		rc = discovery_read(ctrlr, &hdr, sizeof(hdr), 0);
		if (rc != 0) {
			goto out;
		}
		genctr = hdr.genctr;
		if (hdr.numrec > DISCOVERY_MAX_ENTRIES) {
			OSP_ERRLOG("discovery log: %" PRIu64 " records is more than we accept\n",
				   (uint64_t)hdr.numrec);
			rc = -EPROTO;
			goto out;
		}
		len = sizeof(hdr) + (size_t)hdr.numrec * sizeof(struct osp_nvmf_discovery_log_page_entry);
		free(page);
		page = malloc(len);
		if (page == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(page, &hdr, sizeof(hdr));
		if (len > sizeof(hdr)) {
			rc = discovery_read(ctrlr, page->entries, (uint32_t)(len - sizeof(hdr)),
					    sizeof(hdr));
			if (rc != 0) {
				goto out;
			}
		}
		/* The header again: a changed genctr means the entries may be torn. */
		rc = discovery_read(ctrlr, &hdr, sizeof(hdr), 0);
		if (rc != 0) {
			goto out;
		}
		if (hdr.genctr == genctr && hdr.numrec == page->numrec) {
			*log = page;
			*size = len;
			nvme_ctrlr_unlock(ctrlr);
			return 0;
		}
		OSP_NOTICELOG("discovery log changed while reading (genctr %" PRIu64 " -> %" PRIu64
			      "): reading again\n", genctr, (uint64_t)hdr.genctr);
	}
	rc = -EAGAIN;
out:
	free(page);
	nvme_ctrlr_unlock(ctrlr);
	return rc;
}

/* ------------------------------------------------------------ callbacks, reset */

void
osp_nvme_ctrlr_register_aer_callback(struct osp_nvme_ctrlr *ctrlr, osp_nvme_aer_cb cb,
				     void *arg)
{
	nvme_ctrlr_lock(ctrlr);
	ctrlr->aer_cb = cb;
	ctrlr->aer_cb_arg = arg;
	nvme_ctrlr_unlock(ctrlr);
}

void
osp_nvme_ctrlr_register_ns_change_callback(struct osp_nvme_ctrlr *ctrlr,
					   osp_nvme_ns_change_cb cb, void *arg)
{
	nvme_ctrlr_lock(ctrlr);
	ctrlr->ns_change_cb = cb;
	ctrlr->ns_change_cb_arg = arg;
	nvme_ctrlr_unlock(ctrlr);
}

int
osp_nvme_ctrlr_reset_async(struct osp_nvme_ctrlr *ctrlr)
{
	int rc;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->resetting) {
		nvme_ctrlr_unlock(ctrlr);
		return -EBUSY;
	}
	ctrlr->resetting = true;
	__atomic_add_fetch(&ctrlr->reset_gen, 1, __ATOMIC_RELEASE);
	OSP_NOTICELOG("resetting controller %s\n", ctrlr_name(ctrlr));
	nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_DISCONNECTED);
	ctrlr->aers_outstanding = 0;
	ctrlr->keep_alive_outstanding = false;
	ctrlr->rescan_pending = false;
	rc = nvme_ctrlr_start_init(ctrlr);
	if (rc != 0) {
		ctrlr->resetting = false;
	}
	nvme_ctrlr_unlock(ctrlr);
	return rc;
}

int
osp_nvme_ctrlr_reset_poll_async(struct osp_nvme_ctrlr *ctrlr)
{
	int rc;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	nvme_ctrlr_lock(ctrlr);
	if (!ctrlr->resetting) {
		nvme_ctrlr_unlock(ctrlr);
		return -EINVAL;
	}
	rc = nvme_ctrlr_init_poll(ctrlr);
	if (rc != -EAGAIN) {
		ctrlr->resetting = false;
	}
	nvme_ctrlr_unlock(ctrlr);
	return rc;
}

int
osp_nvme_ctrlr_reset(struct osp_nvme_ctrlr *ctrlr)
{
	int rc;

	rc = osp_nvme_ctrlr_reset_async(ctrlr);
	if (rc != 0) {
		return rc;
	}
	while ((rc = osp_nvme_ctrlr_reset_poll_async(ctrlr)) == -EAGAIN) {
		nvme_poll_pause();
	}
	return rc;
}

/* ------------------------------------------------------------ getters */

const struct osp_nvme_ctrlr_data *
osp_nvme_ctrlr_get_data(struct osp_nvme_ctrlr *ctrlr)
{
	return &ctrlr->cdata;
}

union osp_nvme_cap_register
osp_nvme_ctrlr_get_regs_cap(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->cap;
}

union osp_nvme_vs_register
osp_nvme_ctrlr_get_regs_vs(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

const struct osp_nvme_transport_id *
osp_nvme_ctrlr_get_transport_id(struct osp_nvme_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

const struct osp_nvme_ctrlr_opts *
osp_nvme_ctrlr_get_opts(struct osp_nvme_ctrlr *ctrlr)
{
	return &ctrlr->opts;
}

uint16_t
osp_nvme_ctrlr_get_cntlid(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->cntlid;
}

bool
osp_nvme_ctrlr_is_discovery(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->is_discovery;
}

uint32_t
osp_nvme_ctrlr_get_num_io_queues(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

uint32_t
osp_nvme_ctrlr_get_max_xfer_size(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

bool
osp_nvme_ctrlr_is_failed(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->state == NVME_CTRLR_STATE_FAILED;
}

uint32_t
osp_nvme_ctrlr_get_num_ns(struct osp_nvme_ctrlr *ctrlr)
{
	return ctrlr->cdata.nn;
}

struct osp_nvme_ns *
osp_nvme_ctrlr_get_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	return nsid == 0 ? NULL : ns_lookup(ctrlr, nsid);
}

bool
osp_nvme_ctrlr_is_active_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	struct osp_nvme_ns *ns = osp_nvme_ctrlr_get_ns(ctrlr, nsid);

	return ns != NULL && ns->active;
}

uint32_t
osp_nvme_ctrlr_get_next_active_ns(struct osp_nvme_ctrlr *ctrlr, uint32_t prev_nsid)
{
	bool found;
	uint32_t i;

	if (prev_nsid == UINT32_MAX) {
		return 0;
	}
	i = (uint32_t)ns_find_idx(ctrlr, prev_nsid + 1, &found);
	for (; i < ctrlr->num_ns_objs; i++) {
		if (ctrlr->ns[i]->active) {
			return ctrlr->ns[i]->id;
		}
	}
	return 0;
}

uint32_t
osp_nvme_ctrlr_get_first_active_ns(struct osp_nvme_ctrlr *ctrlr)
{
	return osp_nvme_ctrlr_get_next_active_ns(ctrlr, 0);
}

uint32_t
osp_nvme_ctrlr_get_num_active_ns(struct osp_nvme_ctrlr *ctrlr)
{
	uint32_t i, n = 0;

	for (i = 0; i < ctrlr->num_ns_objs; i++) {
		n += ctrlr->ns[i]->active;
	}
	return n;
}

uint32_t
osp_nvme_ns_get_id(struct osp_nvme_ns *ns)
{
	return ns->id;
}

struct osp_nvme_ctrlr *
osp_nvme_ns_get_ctrlr(struct osp_nvme_ns *ns)
{
	return ns->ctrlr;
}

bool
osp_nvme_ns_is_active(struct osp_nvme_ns *ns)
{
	return ns->active;
}

const struct osp_nvme_ns_data *
osp_nvme_ns_get_data(struct osp_nvme_ns *ns)
{
	return &ns->data;
}

uint32_t
osp_nvme_ns_get_sector_size(struct osp_nvme_ns *ns)
{
	return ns->sector_size;
}

uint32_t
osp_nvme_ns_get_md_size(struct osp_nvme_ns *ns)
{
	return ns->md_size;
}

uint64_t
osp_nvme_ns_get_num_sectors(struct osp_nvme_ns *ns)
{
	return ns->data.nsze;
}

uint64_t
osp_nvme_ns_get_size(struct osp_nvme_ns *ns)
{
	return ns->data.nsze * ns->sector_size;
}

uint32_t
osp_nvme_ns_get_max_io_xfer_size(struct osp_nvme_ns *ns)
{
	return ns->ctrlr->max_xfer_size;
}

const uint8_t *
osp_nvme_ns_get_nguid(struct osp_nvme_ns *ns)
{
	return ns->has_nguid ? ns->nguid : NULL;
}

const uint8_t *
osp_nvme_ns_get_eui64(struct osp_nvme_ns *ns)
{
	return ns->has_eui64 ? ns->eui64 : NULL;
}

const struct osp_uuid *
osp_nvme_ns_get_uuid(struct osp_nvme_ns *ns)
{
	return ns->has_uuid ? &ns->uuid : NULL;
}

uint8_t
osp_nvme_ns_get_csi(struct osp_nvme_ns *ns)
{
	return ns->csi;
}

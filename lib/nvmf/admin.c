/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin command set a fabrics controller needs (NVMe Base 2.0 §5):
 * Identify, Get Log Page (with the discovery log), Get/Set Features,
 * Asynchronous Event Request and the events that complete it, Abort. Keep
 * Alive is answered by the dispatch in ctrlr.c. Runs on the controller's
 * thread.
 */
#include <errno.h>
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

/* ---- asynchronous events ---- */

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
	nvmf_ctrlr_req_done(req);
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
	if (ctrlr->transport->ops->type == OSP_NVMF_TRTYPE_RDMA) {
		/*
		 * RDMA moves data against the host's keyed SGL data blocks (the host
		 * refuses a controller without them), up to 16 per command as a
		 * last-segment list in the capsule (lib/nvmf/rdma.c).
		 */
		cd->sgls = (cd->sgls & ~OSP_NVME_CTRLR_SGLS_TRANSPORT_DATA_BLOCK) |
			   OSP_NVME_CTRLR_SGLS_KEYED_DATA_BLOCK;
		cd->msdbd = 16;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr)) {
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

void
nvmf_admin_identify(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t cns = req->cmd.cdw10 & 0xff;
	uint32_t nsid = req->cmd.nsid;
	struct osp_nvmf_ns *ns;
	uint8_t *buf;
	uint32_t n = 0;

	if (req->length < 4096) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return;
	}
	buf = calloc(1, 4096);
	if (buf == NULL) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (cns == OSP_NVME_IDENTIFY_CTRLR) {
		ctrlr_identify_ctrlr(ctrlr, (struct osp_nvme_ctrlr_data *)buf);
	} else if (nvmf_ctrlr_is_discovery(ctrlr)) {
		nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else if (cns == OSP_NVME_IDENTIFY_NS) {
		if (nsid == 0 || nsid == 0xffffffffu || nsid > ctrlr_nn(ctrlr->subsys)) {
			/* Not a valid nsid at all (above NN), as opposed to a valid inactive one. */
			nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else if ((ns = osp_nvmf_subsystem_get_ns(ctrlr->subsys, nsid)) != NULL) {
			nvmf_bdev_identify_ns(ns, osp_bdev_desc_get_bdev(ns->desc),
					      (struct osp_nvme_ns_data *)buf);
		}
		/* An inactive nsid reads as zeroes (§5.17.2.1). */
	} else if (cns == OSP_NVME_IDENTIFY_ACTIVE_NS_LIST) {
		if (nsid >= 0xfffffffeu) {
			nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
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
			nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else {
			nvmf_bdev_ns_id_desc_list(ns, osp_bdev_desc_get_bdev(ns->desc), buf, 4096);
		}
	} else {
		nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	}
	if (!osp_nvme_cpl_is_error(&req->rsp)) {
		nvmf_req_copy_to(req, buf, 4096);
	}
	free(buf);
	nvmf_ctrlr_req_done(req);
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
		nvmf_req_status(c->req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
	} else if (c->offset > c->size) {
		nvmf_req_status(c->req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else {
		nvmf_req_copy_to(c->req, c->buf, c->len);
	}
	free(c->buf);
	nvmf_ctrlr_req_done(c->req);
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

void
nvmf_admin_get_log_page(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if (lid == OSP_NVME_LOG_DISCOVERY) {
		struct disc_log_ctx *c;

		if (!nvmf_ctrlr_is_discovery(ctrlr)) {
			nvmf_req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_LOG_PAGE);
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL) {
			c->buf = calloc(1, (size_t)len);
		}
		if (c == NULL || c->buf == NULL) {
			free(c);
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	switch (lid) {
	case OSP_NVME_LOG_ERROR:
		/* No error is recorded: every entry reads as zero (error count 0). */
		page_size = (size_t)(NVMF_ELPE + 1) * sizeof(struct osp_nvme_error_information_entry);
		break;
	case OSP_NVME_LOG_HEALTH_INFORMATION:
		if (nvmf_ctrlr_is_discovery(ctrlr)) {
			break;
		}
		page->health.temperature = 311;	/* 38 °C */
		page->health.available_spare = 100;
		page->health.available_spare_threshold = 10;
		page_size = sizeof(page->health);
		break;
	case OSP_NVME_LOG_FIRMWARE_SLOT:
		if (nvmf_ctrlr_is_discovery(ctrlr)) {
			break;
		}
		page->fw.afi = 1;
		osp_strcpy_pad(page->fw.frs[0], NVMF_FW_REVISION, sizeof(page->fw.frs[0]), ' ');
		page_size = sizeof(page->fw);
		break;
	case OSP_NVME_LOG_CHANGED_NS_LIST:
		if (nvmf_ctrlr_is_discovery(ctrlr)) {
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
		nvmf_req_status(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_LOG_PAGE);
	} else if (offset > page_size) {
		nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	} else {
		uint8_t *out = calloc(1, (size_t)len);

		if (out == NULL) {
			nvmf_req_status(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
		} else {
			/* The error log is all zero and may be longer than the scratch page. */
			if (lid != OSP_NVME_LOG_ERROR) {
				memcpy(out, page->raw + offset,
				       OSP_MIN((size_t)len, page_size - (size_t)offset));
			}
			nvmf_req_copy_to(req, out, (size_t)len);
			free(out);
		}
	}
	free(page);
	nvmf_ctrlr_req_done(req);
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

void
nvmf_admin_get_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t fid = req->cmd.cdw10 & OSP_NVME_FEAT_FID_MASK;
	uint8_t sel = (req->cmd.cdw10 >> OSP_NVME_FEAT_SEL_SHIFT) & OSP_NVME_FEAT_SEL_MASK;
	bool dflt = sel == OSP_NVME_FEAT_SEL_DEFAULT;
	uint32_t v;

	if (sel > OSP_NVME_FEAT_SEL_SUPPORTED_CAPS) {
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
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
		if (nvmf_ctrlr_is_discovery(ctrlr)) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
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
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		if (req->length < sizeof(ctrlr->hostid)) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
		nvmf_req_copy_to(req, ctrlr->hostid, sizeof(ctrlr->hostid));
		v = 0;
		break;
	default:
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if (sel == OSP_NVME_FEAT_SEL_SUPPORTED_CAPS) {
		/* Not saveable, not namespace specific, changeable (except the read-only ones). */
		v = fid == OSP_NVME_FEAT_HOST_IDENTIFIER ? 0 : (1u << 2);
	}
	req->rsp.cdw0 = v;
	nvmf_ctrlr_req_done(req);
}

static void
ctrlr_set_kato(struct nvmf_ctrlr *ctrlr, uint32_t kato)
{
	osp_poller_unregister(&ctrlr->ka_poller);
	kato = nvmf_ctrlr_kato_round(kato);
	ctrlr->kato = kato;
	ctrlr->last_keep_alive = nvmf_ctrlr_now();
	if (kato != 0) {
		ctrlr->ka_poller = osp_poller_register_named(nvmf_ctrlr_keep_alive_poll, ctrlr,
				   (uint64_t)kato * 1000 / 2, "nvmf_ctrlr_keep_alive");
	}
}

void
nvmf_admin_set_features(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	uint8_t fid = req->cmd.cdw10 & OSP_NVME_FEAT_FID_MASK;
	uint32_t v = req->cmd.cdw11;

	if (req->cmd.cdw10 & OSP_NVME_FEAT_SV) {
		nvmf_req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
		return;
	}
	switch (fid) {
	case OSP_NVME_FEAT_ARBITRATION:
		ctrlr->feat.arbitration = v;
		break;
	case OSP_NVME_FEAT_POWER_MANAGEMENT:
		if ((v & 0x1f) != 0) {
			/* Only power state 0 exists (NPSS 0). */
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
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
		if (nvmf_ctrlr_is_discovery(ctrlr) || !ctrlr_has_vwc(ctrlr)) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
			return;
		}
		ctrlr->feat.volatile_write_cache = v & 1;
		break;
	case OSP_NVME_FEAT_NUMBER_OF_QUEUES:
		if (ctrlr->io_queues_created) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
			return;
		}
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
			nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
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
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	default:
		nvmf_req_fail(req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	nvmf_ctrlr_req_done(req);
}

/* ---- AER, Abort, Keep Alive ---- */

void
nvmf_admin_aer(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
{
	if (ctrlr->num_aer > NVMF_AERL) {
		nvmf_req_fail(req, OSP_NVME_SCT_COMMAND_SPECIFIC,
			 OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		return;
	}
	ctrlr->aer[ctrlr->num_aer++] = req;
	ctrlr_aen_flush(ctrlr);
}

void
nvmf_admin_abort(struct nvmf_ctrlr *ctrlr, struct osp_nvmf_request *req)
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
				nvmf_req_fail(aer, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_BY_REQUEST);
				req->rsp.cdw0 = 0;
				break;
			}
		}
	}
	nvmf_ctrlr_req_done(req);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the controller code (lib/nvme/nvme_ctrlr.c, nvme_qpair.c):
 * the Fabrics init state machine driven against a scripted fake controller
 * behind a fake transport ops table (no sockets), its failure paths,
 * namespace scans and AER-driven rescans, keep alive, the discovery log
 * page with a changing generation counter, reset, and command id exhaustion.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey_internal/sock_module.h"
#include "nvme/nvme.c"
#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_qpair.c"
#include "nvme/tcp.c"
#include "nvme/pcie.c"
#include "ut_run.h"

#define NQN1 "nqn.2016-06.io.osprey:cnode1"
#define MAX_NS 8

/* ---- the scripted controller ---- */

struct fake_ctrlr {
	uint64_t cap;
	uint32_t vs;
	uint32_t cc;
	int rdy_after;		/* CSTS reads with RDY=0 before RDY=1 */
	bool cfs;
	bool never_ready;
	uint16_t connect_sc;	/* != 0: refuse the admin Connect (SCT 1) */
	uint8_t fail_opc;	/* admin opcode to fail with INVALID FIELD (0 = none) */
	uint8_t fail_cns;	/* with fail_opc = identify: only this CNS */
	bool drop_opc_enabled;
	uint8_t drop_opc;	/* admin opcode never answered */
	uint32_t nn;
	uint32_t active[MAX_NS];
	uint32_t nactive;
	uint64_t nsze[MAX_NS + 1];
	uint16_t nsq_granted;
	uint8_t aerl;
	bool discovery;
	uint64_t genctr;
	uint64_t numrec;
	int bump_genctr_reads;	/* change genctr after this many entry reads (0 = never) */
	int entry_reads;
	/* counters */
	int connects;
	int keep_alives;
	bool hold_keep_alive;	/* leave Keep Alive unanswered (a hung target) */
	int aers_held;
	int log_reads;
	int changed_ns_reads;
	int cmds[256];
	uint32_t last_kato;
	uint16_t last_sqsize;
};

static struct fake_ctrlr g_fc;

struct fake_qpair {
	struct nvme_qpair q;
	struct nvme_request *pending[256];
	int npending;
	struct nvme_request *held_aers[8];
	int nheld;
	bool connected;
	bool complete_io; /* complete I/O commands on process */
	int connect_rc;
};

static int g_fake_connect_rc;
static int g_fake_qpairs;

static void
copy_to_req(struct nvme_request *req, const void *data, size_t len)
{
	size_t off = 0;
	int i;

	len = OSP_MIN(len, (size_t)req->payload_size);
	for (i = 0; i < req->iovcnt && off < len; i++) {
		size_t n = OSP_MIN(req->iov[i].iov_len, len - off);

		memcpy(req->iov[i].iov_base, (const uint8_t *)data + off, n);
		off += n;
	}
}

static void
fill_discovery(struct nvme_request *req, uint64_t offset, uint32_t len)
{
	uint8_t *buf = calloc(1, len);
	uint64_t o;

	for (o = 0; o < len; o += 8) {
		uint64_t abs = offset + o;

		if (abs == 0) {
			memcpy(buf + o, &g_fc.genctr, 8);
		} else if (abs == 8) {
			memcpy(buf + o, &g_fc.numrec, 8);
		}
	}
	if (offset + len > 1024) {
		/* entries: stamp each 1024-byte record's portid with its index and genctr in traddr */
		uint64_t e;

		for (e = 0; e < g_fc.numrec; e++) {
			uint64_t start = 1024 + e * 1024;

			if (start >= offset && start + 1024 <= offset + len) {
				struct osp_nvmf_discovery_log_page_entry *ent = (void *)(buf + (start - offset));

				ent->trtype = OSP_NVMF_TRTYPE_TCP;
				ent->portid = (uint16_t)e;
				snprintf(ent->traddr, sizeof(ent->traddr), "gen%lu",
					 (unsigned long)g_fc.genctr);
			}
		}
		g_fc.entry_reads++;
		if (g_fc.bump_genctr_reads && g_fc.entry_reads == g_fc.bump_genctr_reads) {
			g_fc.genctr++;
		}
	}
	copy_to_req(req, buf, len);
	free(buf);
}

/* Answer one command like a controller would; false = hold it (AER). */
static bool
fake_handle(struct fake_qpair *fq, struct nvme_request *req, struct osp_nvme_cpl *cpl)
{
	struct osp_nvme_cmd *cmd = &req->cmd;

	memset(cpl, 0, sizeof(*cpl));
	cpl->cid = cmd->cid;
	cpl->sqid = fq->q.id;
	g_fc.cmds[cmd->opc]++;
	if (g_fc.drop_opc_enabled && cmd->opc == g_fc.drop_opc) {
		return false;
	}
	if (g_fc.fail_opc != 0 && cmd->opc == g_fc.fail_opc &&
	    (cmd->opc != OSP_NVME_OPC_IDENTIFY || (cmd->cdw10 & 0xff) == g_fc.fail_cns)) {
		cpl->status.sc = OSP_NVME_SC_INVALID_FIELD;
		return true;
	}
	if (cmd->opc == OSP_NVMF_FABRIC_OPCODE) {
		struct osp_nvmf_capsule_cmd *fc = (void *)cmd;

		switch (fc->fctype) {
		case OSP_NVMF_FCTYPE_CONNECT: {
			struct osp_nvmf_connect_cmd *c = (void *)cmd;
			struct osp_nvmf_connect_data d;

			CU_ASSERT(req->payload_size == sizeof(d));
			CU_ASSERT(req->host_to_ctrlr);
			memcpy(&d, req->iov[0].iov_base, sizeof(d));
			CU_ASSERT(d.cntlid == (c->qid == 0 ? 0xffff : 5));
			CU_ASSERT(osp_nqn_check(d.hostnqn, NULL, 0) == 0);
			g_fc.connects++;
			g_fc.last_kato = c->kato;
			g_fc.last_sqsize = c->sqsize;
			if (g_fc.connect_sc && c->qid == 0) {
				cpl->status.sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
				cpl->status.sc = g_fc.connect_sc;
				return true;
			}
			cpl->cdw0 = 5; /* cntlid */
			return true;
		}
		case OSP_NVMF_FCTYPE_PROPERTY_GET: {
			struct osp_nvmf_property_get_cmd *p = (void *)cmd;
			uint64_t v = 0;

			if (p->ofst == OSP_NVME_REG_CAP) {
				v = g_fc.cap;
			} else if (p->ofst == OSP_NVME_REG_VS) {
				v = g_fc.vs;
			} else if (p->ofst == OSP_NVME_REG_CSTS) {
				union osp_nvme_csts_register csts = { .raw = 0 };

				csts.bits.cfs = g_fc.cfs;
				if ((g_fc.cc & 1) && !g_fc.never_ready) {
					if (g_fc.rdy_after > 0) {
						g_fc.rdy_after--;
					} else {
						csts.bits.rdy = 1;
					}
				}
				v = csts.raw;
			}
			cpl->cdw0 = (uint32_t)v;
			cpl->cdw1 = (uint32_t)(v >> 32);
			return true;
		}
		case OSP_NVMF_FCTYPE_PROPERTY_SET: {
			struct osp_nvmf_property_set_cmd *p = (void *)cmd;

			if (p->ofst == OSP_NVME_REG_CC) {
				g_fc.cc = (uint32_t)p->value;
			}
			return true;
		}
		default:
			cpl->status.sc = OSP_NVME_SC_INVALID_OPCODE;
			return true;
		}
	}
	if (fq->q.id != 0) {
		return fq->complete_io;
	}
	switch (cmd->opc) {
	case OSP_NVME_OPC_IDENTIFY: {
		uint8_t buf[4096];
		uint8_t cns = cmd->cdw10 & 0xff;
		uint32_t i, n = 0;

		memset(buf, 0, sizeof(buf));
		if (cns == OSP_NVME_IDENTIFY_CTRLR) {
			struct osp_nvme_ctrlr_data *cd = (void *)buf;

			osp_strcpy_pad(cd->sn, "SN1", sizeof(cd->sn), ' ');
			cd->cntlid = 5;
			cd->nn = g_fc.nn;
			cd->mdts = 5;
			cd->aerl = g_fc.aerl;
			cd->oaes = (1u << 8) | (1u << 31);
			cd->kas = 10;
			cd->ioccsz = 4;
			cd->cntrltype = g_fc.discovery ? OSP_NVME_CTRLR_TYPE_DISCOVERY :
					OSP_NVME_CTRLR_TYPE_IO;
			strcpy(cd->subnqn, NQN1);
		} else if (cns == OSP_NVME_IDENTIFY_ACTIVE_NS_LIST) {
			uint32_t *list = (void *)buf;

			for (i = 0; i < g_fc.nactive; i++) {
				if (g_fc.active[i] > cmd->nsid) {
					list[n++] = g_fc.active[i];
				}
			}
		} else if (cns == OSP_NVME_IDENTIFY_NS) {
			struct osp_nvme_ns_data *nd = (void *)buf;

			if (cmd->nsid <= MAX_NS) {
				nd->nsze = nd->ncap = g_fc.nsze[cmd->nsid];
				nd->lbaf[0].lbads = 12;
				nd->nguid[0] = (uint8_t)cmd->nsid;
			}
		} else if (cns == OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST) {
			struct osp_nvme_ns_id_desc *d = (void *)buf;

			d->nidt = OSP_NVME_NIDT_UUID;
			d->nidl = 16;
			memset(d->nid, 0x40 + (int)cmd->nsid, 16);
			/* then a descriptor claiming to run past the buffer: ignored */
			d = (void *)(buf + 20);
			d->nidt = OSP_NVME_NIDT_EUI64;
			d->nidl = 8;
			memset(d->nid, 0x11, 8);
			d = (void *)(buf + 32);
			d->nidt = OSP_NVME_NIDT_NGUID;
			d->nidl = 255;
		}
		copy_to_req(req, buf, sizeof(buf));
		return true;
	}
	case OSP_NVME_OPC_SET_FEATURES:
		if ((cmd->cdw10 & 0xff) == OSP_NVME_FEAT_NUMBER_OF_QUEUES) {
			cpl->cdw0 = (uint32_t)(g_fc.nsq_granted - 1) |
				    ((uint32_t)(g_fc.nsq_granted - 1) << 16);
		}
		return true;
	case OSP_NVME_OPC_ASYNC_EVENT_REQUEST:
		g_fc.aers_held++;
		return false;
	case OSP_NVME_OPC_KEEP_ALIVE:
		g_fc.keep_alives++;
		return !g_fc.hold_keep_alive;
	case OSP_NVME_OPC_GET_LOG_PAGE: {
		uint8_t lid = cmd->cdw10 & 0xff;
		uint32_t numd = ((cmd->cdw10 >> 16) | (cmd->cdw11 << 16)) + 1;
		uint64_t off = cmd->cdw12 | ((uint64_t)cmd->cdw13 << 32);

		CU_ASSERT(numd * 4 == req->payload_size);
		g_fc.log_reads++;
		if (lid == OSP_NVME_LOG_DISCOVERY) {
			fill_discovery(req, off, req->payload_size);
		} else if (lid == OSP_NVME_LOG_CHANGED_NS_LIST) {
			g_fc.changed_ns_reads++;
		}
		return true;
	}
	default:
		cpl->status.sc = OSP_NVME_SC_INVALID_OPCODE;
		return true;
	}
}

static struct fake_qpair *
fq_of(struct nvme_qpair *q)
{
	return (struct fake_qpair *)q;
}

static struct nvme_qpair *
fake_qpair_create(struct osp_nvme_ctrlr *ctrlr, uint16_t qid, uint32_t qsize)
{
	struct fake_qpair *fq = calloc(1, sizeof(*fq));

	if (nvme_qpair_init(&fq->q, ctrlr, ctrlr->ops, qid, qsize) != 0) {
		free(fq);
		return NULL;
	}
	g_fake_qpairs++;
	return &fq->q;
}

static void
fake_qpair_destroy(struct nvme_qpair *q)
{
	g_fake_qpairs--;
	nvme_qpair_fini(q);
	free(q);
}

static int
fake_qpair_connect(struct nvme_qpair *q)
{
	fq_of(q)->npending = 0;
	fq_of(q)->nheld = 0;
	fq_of(q)->connected = g_fake_connect_rc == 0;
	return 0;
}

static int
fake_qpair_connect_poll(struct nvme_qpair *q)
{
	return g_fake_connect_rc;
}

static void
fake_qpair_disconnect(struct nvme_qpair *q)
{
	fq_of(q)->connected = false;
	fq_of(q)->npending = 0;
	fq_of(q)->nheld = 0;
}

static int
fake_qpair_submit(struct nvme_qpair *q, struct nvme_request *req)
{
	struct fake_qpair *fq = fq_of(q);

	if (!fq->connected) {
		return -ENXIO;
	}
	CU_ASSERT_FATAL(fq->npending < 256);
	fq->pending[fq->npending++] = req;
	return 0;
}

static int32_t
fake_qpair_process(struct nvme_qpair *q, uint32_t max)
{
	struct fake_qpair *fq = fq_of(q);
	struct nvme_request *batch[256];
	int n = fq->npending, i, done = 0, keep = 0;
	struct osp_nvme_cpl cpl;

	if (!fq->connected) {
		return -ENXIO;
	}
	memcpy(batch, fq->pending, sizeof(batch[0]) * (size_t)n);
	fq->npending = 0;
	for (i = 0; i < n; i++) {
		if (fake_handle(fq, batch[i], &cpl)) {
			nvme_request_complete(batch[i], &cpl);
			done++;
		} else if (batch[i]->cmd.opc == OSP_NVME_OPC_ASYNC_EVENT_REQUEST && q->id == 0) {
			fq->held_aers[fq->nheld++] = batch[i];
		} else {
			fq->pending[fq->npending++] = batch[i];
			keep++;
		}
	}
	return done;
}

static struct nvme_transport_ops g_fake_ops = {
	.name = "fake",
	.trtype = OSP_NVME_TRANSPORT_RDMA,
	.qpair_create = fake_qpair_create,
	.qpair_destroy = fake_qpair_destroy,
	.qpair_connect = fake_qpair_connect,
	.qpair_connect_poll = fake_qpair_connect_poll,
	.qpair_disconnect = fake_qpair_disconnect,
	.qpair_submit_request = fake_qpair_submit,
	.qpair_process_completions = fake_qpair_process,
};

/* ---- helpers ---- */

static void
fc_reset(void)
{
	union osp_nvme_cap_register cap = { .raw = 0 };

	memset(&g_fc, 0, sizeof(g_fc));
	cap.bits.mqes = 127;
	cap.bits.to = 1;
	g_fc.cap = cap.raw;
	g_fc.vs = OSP_NVME_VERSION(1, 3, 0);
	g_fc.nn = 32;
	g_fc.nactive = 2;
	g_fc.active[0] = 1;
	g_fc.active[1] = 3;
	g_fc.nsze[1] = 1000;
	g_fc.nsze[3] = 3000;
	g_fc.nsq_granted = 4;
	g_fc.aerl = 1;
	g_fake_connect_rc = 0;
}

static struct osp_nvme_ctrlr *
connect_fake(const char *subnqn, struct osp_nvme_connect_error *err)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_ctrlr_opts o;
	char s[256];

	snprintf(s, sizeof(s), "trtype:rdma traddr:127.0.0.1 trsvcid:4420 subnqn:%s", subnqn);
	CU_ASSERT_FATAL(osp_nvme_transport_id_parse(&t, s) == 0);
	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	o.num_io_queues = 8;
	o.admin_timeout_ms = 200;
	o.keep_alive_timeout_ms = 100;
	return osp_nvme_connect_ext(&t, &o, sizeof(o), err);
}

/* ---- tests ---- */

static void
test_init_ok(void)
{
	struct osp_nvme_connect_error err;
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_ns *ns;

	fc_reset();
	g_fc.rdy_after = 3;
	ctrlr = connect_fake(NQN1, &err);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(g_fc.connects == 1);
	CU_ASSERT(g_fc.last_kato == 100);
	CU_ASSERT(g_fc.last_sqsize == 31);
	/* CC: enabled with 64/16-byte entries */
	CU_ASSERT((g_fc.cc & 1) == 1);
	CU_ASSERT(((g_fc.cc >> 16) & 0xf) == 6);
	CU_ASSERT(((g_fc.cc >> 20) & 0xf) == 4);
	CU_ASSERT(osp_nvme_ctrlr_get_cntlid(ctrlr) == 5);
	CU_ASSERT(!osp_nvme_ctrlr_is_discovery(ctrlr));
	CU_ASSERT(osp_nvme_ctrlr_get_num_io_queues(ctrlr) == 4);
	CU_ASSERT(osp_nvme_ctrlr_get_num_ns(ctrlr) == 32);
	CU_ASSERT(osp_nvme_ctrlr_get_max_xfer_size(ctrlr) == 32 * 4096);
	CU_ASSERT(osp_nvme_ctrlr_get_regs_vs(ctrlr).raw == OSP_NVME_VERSION(1, 3, 0));
	CU_ASSERT(osp_nvme_ctrlr_get_first_active_ns(ctrlr) == 1);
	CU_ASSERT(osp_nvme_ctrlr_get_next_active_ns(ctrlr, 1) == 3);
	CU_ASSERT(osp_nvme_ctrlr_get_next_active_ns(ctrlr, 3) == 0);
	CU_ASSERT(osp_nvme_ctrlr_get_num_active_ns(ctrlr) == 2);
	CU_ASSERT(osp_nvme_ctrlr_get_ns(ctrlr, 2) == NULL);
	CU_ASSERT(!osp_nvme_ctrlr_is_active_ns(ctrlr, 2));
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 3);
	CU_ASSERT_FATAL(ns != NULL);
	CU_ASSERT(osp_nvme_ns_get_id(ns) == 3);
	CU_ASSERT(osp_nvme_ns_get_sector_size(ns) == 4096);
	CU_ASSERT(osp_nvme_ns_get_num_sectors(ns) == 3000);
	CU_ASSERT(osp_nvme_ns_get_size(ns) == 3000ull * 4096);
	/* identifiers: NGUID from Identify NS, UUID and EUI64 from the descriptors */
	CU_ASSERT(osp_nvme_ns_get_nguid(ns) != NULL && osp_nvme_ns_get_nguid(ns)[0] == 3);
	CU_ASSERT(osp_nvme_ns_get_uuid(ns) != NULL && osp_nvme_ns_get_uuid(ns)->u[0] == 0x43);
	CU_ASSERT(osp_nvme_ns_get_eui64(ns) != NULL && osp_nvme_ns_get_eui64(ns)[0] == 0x11);
	/* AERs outstanding: AERL + 1 (the fake sees them on the next poll) */
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) >= 0);
	CU_ASSERT(g_fc.aers_held == 2);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_fake_qpairs == 0);
}

static void
test_init_failures(void)
{
	struct osp_nvme_connect_error err;

	/* host not allowed: the Connect status comes back */
	fc_reset();
	g_fc.connect_sc = OSP_NVMF_SC_INVALID_HOST;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -EACCES);
	CU_ASSERT(err.has_cpl);
	CU_ASSERT(err.cpl.status.sct == OSP_NVME_SCT_COMMAND_SPECIFIC);
	CU_ASSERT(err.cpl.status.sc == OSP_NVMF_SC_INVALID_HOST);
	CU_ASSERT_STRING_EQUAL(err.step, "fabrics connect");
	CU_ASSERT(g_fake_qpairs == 0);

	/* transport failure */
	fc_reset();
	g_fake_connect_rc = -ECONNREFUSED;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -ECONNREFUSED);
	CU_ASSERT(g_fake_qpairs == 0);

	/* controller fatal status */
	fc_reset();
	g_fc.cfs = true;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -ENODEV);
	CU_ASSERT_STRING_EQUAL(err.step, "wait for CSTS.RDY");

	/* never ready: CAP.TO (500 ms) */
	fc_reset();
	g_fc.never_ready = true;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -ETIMEDOUT);

	/* identify controller refused */
	fc_reset();
	g_fc.fail_opc = OSP_NVME_OPC_IDENTIFY;
	g_fc.fail_cns = OSP_NVME_IDENTIFY_CTRLR;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -EIO);
	CU_ASSERT(err.has_cpl && err.cpl.status.sc == OSP_NVME_SC_INVALID_FIELD);
	CU_ASSERT_STRING_EQUAL(err.step, "identify controller");

	/* a command never answered: admin timeout */
	fc_reset();
	g_fc.drop_opc_enabled = true;
	g_fc.drop_opc = OSP_NVME_OPC_SET_FEATURES;
	CU_ASSERT(connect_fake(NQN1, &err) == NULL);
	CU_ASSERT(err.rc == -ETIMEDOUT);
	CU_ASSERT_STRING_EQUAL(err.step, "set features number of queues");
	CU_ASSERT(g_fake_qpairs == 0);

	/* no ID descriptor support: still fine */
	fc_reset();
	g_fc.fail_opc = OSP_NVME_OPC_IDENTIFY;
	g_fc.fail_cns = OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST;
	{
		struct osp_nvme_ctrlr *c = connect_fake(NQN1, &err);

		CU_ASSERT_FATAL(c != NULL);
		CU_ASSERT(osp_nvme_ns_get_uuid(osp_nvme_ctrlr_get_ns(c, 1)) == NULL);
		osp_nvme_detach(c);
	}
}

struct attach_res {
	int calls;
	struct osp_nvme_ctrlr *ctrlr;
	int rc;
};

static void
attach_cb(void *cb_ctx, const struct osp_nvme_transport_id *trid, struct osp_nvme_ctrlr *ctrlr,
	  const struct osp_nvme_connect_error *err)
{
	struct attach_res *r = cb_ctx;

	r->calls++;
	r->ctrlr = ctrlr;
	r->rc = err ? err->rc : 0;
}

static void
test_async_connect(void)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_probe_ctx *ctx;
	struct attach_res r = { 0 };
	int polls = 0;

	fc_reset();
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:rdma traddr:1.2.3.4 subnqn:" NQN1) == 0);
	ctx = osp_nvme_connect_async(&t, NULL, 0, attach_cb, &r);
	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT(r.calls == 0); /* never from connect_async itself */
	while (osp_nvme_probe_poll_async(ctx) == -EAGAIN) {
		polls++;
		CU_ASSERT_FATAL(polls < 100000);
	}
	CU_ASSERT(r.calls == 1);
	CU_ASSERT_FATAL(r.ctrlr != NULL);
	osp_nvme_detach(r.ctrlr);

	/* cancel in the middle */
	fc_reset();
	memset(&r, 0, sizeof(r));
	ctx = osp_nvme_connect_async(&t, NULL, 0, attach_cb, &r);
	CU_ASSERT_FATAL(ctx != NULL);
	osp_nvme_probe_ctx_cancel(ctx);
	CU_ASSERT(r.calls == 0);
	CU_ASSERT(g_fake_qpairs == 0);
}

struct ns_events {
	int n;
	uint32_t nsid[16];
	enum osp_nvme_ns_event ev[16];
	int aers;
};

static void
ns_change_cb(void *arg, struct osp_nvme_ctrlr *ctrlr, uint32_t nsid, enum osp_nvme_ns_event ev)
{
	struct ns_events *e = arg;

	if (e->n < 16) {
		e->nsid[e->n] = nsid;
		e->ev[e->n] = ev;
		e->n++;
	}
}

static void
user_aer_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	((struct ns_events *)arg)->aers++;
}

static void
fire_aer(struct osp_nvme_ctrlr *ctrlr, uint32_t cdw0)
{
	struct fake_qpair *fq = fq_of(ctrlr->adminq);
	struct nvme_request *req;
	struct osp_nvme_cpl cpl;

	CU_ASSERT_FATAL(fq->nheld > 0);
	req = fq->held_aers[--fq->nheld];
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = req->cmd.cid;
	cpl.cdw0 = cdw0;
	nvme_request_complete(req, &cpl);
}

static void
test_aer_rescan(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_ns *ns1;
	struct ns_events e;
	int i;

	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	memset(&e, 0, sizeof(e));
	osp_nvme_ctrlr_register_ns_change_callback(ctrlr, ns_change_cb, &e);
	osp_nvme_ctrlr_register_aer_callback(ctrlr, user_aer_cb, &e);
	ns1 = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) >= 0);

	/* ns 1 grows, ns 3 goes, ns 5 comes */
	g_fc.nsze[1] = 2000;
	g_fc.active[1] = 5;
	g_fc.nsze[5] = 500;
	fire_aer(ctrlr, OSP_NVME_ASYNC_EVENT_TYPE_NOTICE |
		 (OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED << 8) | (OSP_NVME_LOG_CHANGED_NS_LIST << 16));
	for (i = 0; i < 50; i++) {
		CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) >= 0);
	}
	CU_ASSERT(e.aers == 1);
	CU_ASSERT(g_fc.changed_ns_reads == 1);
	CU_ASSERT(e.n == 3);
	CU_ASSERT(e.nsid[0] == 1 && e.ev[0] == OSP_NVME_NS_EVENT_CHANGED);
	CU_ASSERT(e.nsid[1] == 3 && e.ev[1] == OSP_NVME_NS_EVENT_REMOVED);
	CU_ASSERT(e.nsid[2] == 5 && e.ev[2] == OSP_NVME_NS_EVENT_ADDED);
	CU_ASSERT(osp_nvme_ctrlr_get_ns(ctrlr, 1) == ns1); /* same object */
	CU_ASSERT(osp_nvme_ns_get_num_sectors(ns1) == 2000);
	CU_ASSERT(!osp_nvme_ctrlr_is_active_ns(ctrlr, 3));
	CU_ASSERT(osp_nvme_ctrlr_get_ns(ctrlr, 3) != NULL); /* kept, inactive */
	CU_ASSERT(osp_nvme_ctrlr_is_active_ns(ctrlr, 5));
	/* the AER was re-armed */
	CU_ASSERT(fq_of(ctrlr->adminq)->nheld == 2);

	/* keep alive every KATO/2 (50 ms) */
	{
		uint64_t end = nvme_now_us() + 260000;

		g_fc.keep_alives = 0;
		while (nvme_now_us() < end) {
			osp_nvme_ctrlr_process_admin_completions(ctrlr);
			usleep(1000);
		}
		CU_ASSERT(g_fc.keep_alives >= 2 && g_fc.keep_alives <= 7);
	}
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_fake_qpairs == 0);
}

static void
test_discovery_log(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvmf_discovery_log_page *log;
	size_t size;

	fc_reset();
	g_fc.discovery = true;
	g_fc.genctr = 7;
	g_fc.numrec = 100; /* 100 KiB: read in chunks of the max transfer size */
	ctrlr = connect_fake(OSP_NVMF_DISCOVERY_NQN, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(osp_nvme_ctrlr_is_discovery(ctrlr));
	CU_ASSERT(osp_nvme_ctrlr_get_num_io_queues(ctrlr) == 0);
	CU_ASSERT(g_fc.cmds[OSP_NVME_OPC_SET_FEATURES] == 1); /* only the AER config */
	CU_ASSERT(osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0) == NULL);
	CU_ASSERT(errno == EINVAL);

	CU_ASSERT(osp_nvme_ctrlr_get_discovery_log(ctrlr, &log, &size) == 0);
	CU_ASSERT(size == 1024 + 100 * 1024);
	CU_ASSERT(log->genctr == 7 && log->numrec == 100);
	CU_ASSERT(log->entries[99].portid == 99);
	CU_ASSERT_STRING_EQUAL(log->entries[0].traddr, "gen7");
	free(log);

	/* genctr changes while the entries are read: read again */
	g_fc.entry_reads = 0;
	g_fc.bump_genctr_reads = 1;
	g_fc.numrec = 3;
	CU_ASSERT(osp_nvme_ctrlr_get_discovery_log(ctrlr, &log, &size) == 0);
	CU_ASSERT(log->genctr == 8);
	CU_ASSERT_STRING_EQUAL(log->entries[2].traddr, "gen8");
	CU_ASSERT(g_fc.entry_reads == 2);
	free(log);

	/* an absurd numrec is refused, not allocated */
	g_fc.bump_genctr_reads = 0;
	g_fc.numrec = 1ull << 40;
	CU_ASSERT(osp_nvme_ctrlr_get_discovery_log(ctrlr, &log, &size) == -EPROTO);
	osp_nvme_detach(ctrlr);

	/* not on an I/O controller */
	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(osp_nvme_ctrlr_get_discovery_log(ctrlr, &log, &size) == -EINVAL);
	osp_nvme_detach(ctrlr);
}

static int g_io_done;
static struct osp_nvme_cpl g_io_cpl;

static void
io_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	g_io_done++;
	g_io_cpl = *cpl;
}

static void
test_io_qpair_and_cid_exhaustion(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp, *qps[4];
	struct osp_nvme_io_qpair_opts qo;
	struct osp_nvme_ns *ns;
	struct iovec iov[OSP_NVME_MAX_IOVS + 1];
	static uint8_t buf[4096 * 4];
	int i, rc;

	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);

	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &qo, sizeof(qo));
	qo.io_queue_size = 8;
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &qo, sizeof(qo));
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT(osp_nvme_qpair_get_id(qp) == 1);
	CU_ASSERT(osp_nvme_qpair_is_connected(qp));

	/* qsize 8: 7 commands outstanding, the 8th gets -ENOMEM */
	g_io_done = 0;
	for (i = 0; i < 7; i++) {
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, (uint64_t)i, 1, io_cb, NULL, 0) == 0);
	}
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == -ENOMEM);
	CU_ASSERT(osp_nvme_ns_cmd_flush(ns, qp, io_cb, NULL) == -ENOMEM);
	CU_ASSERT(osp_nvme_qpair_get_num_outstanding(qp) == 7);
	/* all cids distinct */
	{
		struct fake_qpair *fq = fq_of((struct nvme_qpair *)qp);
		int j;

		CU_ASSERT(fq->npending == 7);
		for (i = 0; i < fq->npending; i++) {
			for (j = i + 1; j < fq->npending; j++) {
				CU_ASSERT(fq->pending[i]->cmd.cid != fq->pending[j]->cmd.cid);
			}
		}
		fq->complete_io = true;
	}
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 7);
	CU_ASSERT(g_io_done == 7);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 1);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	/*
	 * the qpair's counters: the Fabrics Connect and 8 I/Os submitted, 2 refused
	 * (queue full), 3 polls, 1 idle
	 */
	{
		struct osp_nvme_qpair_stats st;

		CU_ASSERT(osp_nvme_qpair_get_stats(qp, &st) == 0);
		CU_ASSERT_EQUAL(st.submitted, 9);
		CU_ASSERT_EQUAL(st.queue_full, 2);
		CU_ASSERT_EQUAL(st.polls, 3);
		CU_ASSERT_EQUAL(st.idle_polls, 1);
		CU_ASSERT_EQUAL(st.completions, 8);
		CU_ASSERT_EQUAL(st.max_completions_per_poll, 7);
		CU_ASSERT(osp_nvme_qpair_get_stats(NULL, &st) == -EINVAL);
		CU_ASSERT(osp_nvme_qpair_get_stats(qp, NULL) == -EINVAL);
	}
	{
		/* the fake transport keeps no counters of its own */
		struct osp_nvme_qpair_transport_stats ts;

		CU_ASSERT(osp_nvme_qpair_get_transport_stats(qp, &ts) == -ENOTSUP);
		CU_ASSERT(ts.pdus_received == 0 && ts.bytes_sent == 0);
		CU_ASSERT(osp_nvme_qpair_get_transport_stats(NULL, &ts) == -EINVAL);
	}

	/* argument checks */
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 999, 2, io_cb, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 0, io_cb, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, UINT64_MAX, 1, io_cb, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, NULL, 0, 1, io_cb, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 33, io_cb, NULL, 0) == -EINVAL); /* > MDTS */
	CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, 0, 1, io_cb, NULL, 1u << 3) == -EINVAL);
	for (i = 0; i < OSP_NVME_MAX_IOVS + 1; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 128;
	}
	CU_ASSERT(osp_nvme_ns_cmd_readv(ns, qp, iov, OSP_NVME_MAX_IOVS + 1, 0, 1, io_cb, NULL,
					0) == -EINVAL);
	CU_ASSERT(osp_nvme_ns_cmd_readv(ns, qp, iov, 2, 0, 1, io_cb, NULL, 0) == -EINVAL); /* short */
	CU_ASSERT(osp_nvme_ns_cmd_readv(ns, qp, iov, OSP_NVME_MAX_IOVS, 0, 1, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_ns_cmd_dataset_management(ns, qp, 0, NULL, 1, io_cb, NULL) == -EINVAL);
	rc = osp_nvme_qpair_process_completions(qp, 0);
	CU_ASSERT(rc == 1);

	/* QIDs: 4 granted */
	for (i = 0; i < 3; i++) {
		qps[i] = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
		CU_ASSERT_FATAL(qps[i] != NULL);
		CU_ASSERT(osp_nvme_qpair_get_id(qps[i]) == i + 2);
	}
	CU_ASSERT(osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0) == NULL);
	CU_ASSERT(errno == EBUSY);
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qps[1]) == 0);
	qps[1] = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	CU_ASSERT_FATAL(qps[1] != NULL);
	CU_ASSERT(osp_nvme_qpair_get_id(qps[1]) == 3);

	/* outstanding commands are aborted by free */
	g_io_done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_write_zeroes(ns, qps[0], 0, 8, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qps[0]) == 0);
	CU_ASSERT(g_io_done == 1);
	CU_ASSERT(g_io_cpl.status.sc == OSP_NVME_SC_ABORTED_SQ_DELETION);

	/* reset: qpairs of the old association fail with -ENXIO, then reconnect */
	g_io_done = 0;
	fq_of((struct nvme_qpair *)qp)->complete_io = false;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_ctrlr_reset(ctrlr) == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	CU_ASSERT(g_io_done == 1);
	CU_ASSERT(g_io_cpl.status.sc == OSP_NVME_SC_ABORTED_SQ_DELETION);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == -ENXIO);
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == 0);
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == -EBUSY);
	fq_of((struct nvme_qpair *)qp)->complete_io = true;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 1);
	CU_ASSERT(g_io_done == 2 && !osp_nvme_cpl_is_error(&g_io_cpl));

	/* the same with the non-blocking reset */
	{
		int polls = 0, rc2;

		CU_ASSERT(osp_nvme_ctrlr_reset_poll_async(ctrlr) == -EINVAL); /* none running */
		CU_ASSERT(osp_nvme_ctrlr_reset_async(ctrlr) == 0);
		CU_ASSERT(osp_nvme_ctrlr_reset_async(ctrlr) == -EBUSY);
		CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == -EAGAIN);
		CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == 0);
		while ((rc2 = osp_nvme_ctrlr_reset_poll_async(ctrlr)) == -EAGAIN) {
			CU_ASSERT_FATAL(++polls < 100000);
		}
		CU_ASSERT(rc2 == 0);
		CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
		CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == 0);
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);
		CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 1);
	}

	/* detach frees what is left */
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_fake_qpairs == 0);
}

/* A controller that stops answering Keep Alive is failed after KATO; its I/O is aborted. */
static void
test_keep_alive_timeout(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	static uint8_t buf[4096];
	uint64_t start, end;
	int32_t rc = 0;

	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);	/* KATO 100 ms */
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	CU_ASSERT_FATAL(qp != NULL);
	g_io_done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);

	g_fc.hold_keep_alive = true;
	start = nvme_now_us();
	end = start + 2000000;
	while (nvme_now_us() < end &&
	       (rc = osp_nvme_ctrlr_process_admin_completions(ctrlr)) >= 0) {
		usleep(1000);
	}
	CU_ASSERT(rc == -ENXIO);
	/* Not before KATO has passed without an answer. */
	CU_ASSERT(nvme_now_us() - start >= 100000);
	CU_ASSERT(g_fc.keep_alives >= 1);
	CU_ASSERT(osp_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
	/* The I/O qpair notices on its next poll: the read completes, aborted. */
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	CU_ASSERT(g_io_done == 1);
	CU_ASSERT(g_io_cpl.status.sct == OSP_NVME_SCT_GENERIC &&
		  g_io_cpl.status.sc == OSP_NVME_SC_ABORTED_SQ_DELETION);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) != 0);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_fake_qpairs == 0);
}

static void
test_io_qpair_async(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_io_qpair_opts qo;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	static uint8_t buf[4096];
	int polls = 0;

	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &qo, sizeof(qo));
	qo.async_mode = true;
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &qo, sizeof(qo));
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT(!osp_nvme_qpair_is_connected(qp));
	/* not connected yet: retry later */
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == -ENOMEM);
	while (!osp_nvme_qpair_is_connected(qp)) {
		CU_ASSERT_FATAL(osp_nvme_qpair_process_completions(qp, 0) >= 0);
		CU_ASSERT_FATAL(++polls < 100);
	}
	CU_ASSERT(g_fc.connects == 2);
	fq_of((struct nvme_qpair *)qp)->complete_io = true;
	g_io_done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 1);
	CU_ASSERT(g_io_done == 1);
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp) == 0);

	/* the transport connection fails: -ENXIO, and submits say so */
	g_fake_connect_rc = -ECONNREFUSED;
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &qo, sizeof(qo));
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, NULL, 0) == -ENXIO);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	/* a blocking alloc reports the error itself */
	CU_ASSERT(osp_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0) == NULL);
	CU_ASSERT(errno == ECONNREFUSED);
	g_fake_connect_rc = 0;
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == 0);
	while (!osp_nvme_qpair_is_connected(qp)) {
		CU_ASSERT_FATAL(osp_nvme_qpair_process_completions(qp, 0) >= 0);
	}
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp) == 0);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_fake_qpairs == 0);
}

static void
test_admin_cid_exhaustion(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_cmd cmd;
	int i, ok = 0;

	fc_reset();
	ctrlr = connect_fake(NQN1, NULL);
	CU_ASSERT_FATAL(ctrlr != NULL);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_GET_FEATURES;
	cmd.cdw10 = OSP_NVME_FEAT_NUMBER_OF_QUEUES;
	/* 31 slots, 2 held by AERs */
	for (i = 0; i < 40; i++) {
		int rc = osp_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, NULL, 0, io_cb, NULL);

		if (rc == 0) {
			ok++;
		} else {
			CU_ASSERT(rc == -ENOMEM);
		}
	}
	CU_ASSERT(ok == 29);
	g_io_done = 0;
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == 29);
	CU_ASSERT(g_io_done == 29);
	/* bidirectional opcode refused */
	cmd.opc = 0x03;
	CU_ASSERT(osp_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, NULL, 0, io_cb, NULL) == -EINVAL);
	osp_nvme_detach(ctrlr);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	g_osp_sock_posix_sendmsg_calls = 0;
	nvme_transport_register(&g_fake_ops);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme_ctrlr", NULL, NULL);
	CU_ADD_TEST(suite, test_init_ok);
	CU_ADD_TEST(suite, test_keep_alive_timeout);
	CU_ADD_TEST(suite, test_init_failures);
	CU_ADD_TEST(suite, test_async_connect);
	CU_ADD_TEST(suite, test_aer_rescan);
	CU_ADD_TEST(suite, test_discovery_log);
	CU_ADD_TEST(suite, test_io_qpair_and_cid_exhaustion);
	CU_ADD_TEST(suite, test_io_qpair_async);
	CU_ADD_TEST(suite, test_admin_cid_exhaustion);
	rc = ut_run_suites();
	return rc;
}

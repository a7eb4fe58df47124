/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe PCIe transport (lib/nvme/pcie.c) against a
 * simulated controller in memory: BAR0 registers (CAP, VS, CC, CSTS, AQA,
 * ASQ, ACQ, doorbells), queues in the driver's DMA memory, a completer
 * stepped from the test loop (no threads) that runs admin commands
 * (Identify, Set Features, Create/Delete I/O queues, Doorbell Buffer Config,
 * AERs held) and reads/writes a RAM disk through the PRPs, so data really
 * moves. Fault injection: a controller that never becomes ready, CFS, reset
 * and hot remove under I/O, completions for commands that are not
 * outstanding.
 *
 * The env's PCI functions are replaced by the simulator's (renamed before
 * any header), so the test never links lib/env_dpdk/pci.c; DMA memory is
 * the real env's.
 */
#define osp_pci_device_attach ut_pci_device_attach
#define osp_pci_device_detach ut_pci_device_detach
#define osp_pci_device_map_bar ut_pci_device_map_bar
#define osp_pci_device_unmap_bar ut_pci_device_unmap_bar
#define osp_pci_device_cfg_read ut_pci_device_cfg_read
#define osp_pci_device_cfg_write ut_pci_device_cfg_write
#define osp_pci_device_set_remove_cb ut_pci_device_set_remove_cb
#define osp_pci_device_is_removed ut_pci_device_is_removed

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/env.h"
#include "osprey/nvme_spec.h"

/* Blocking waits inside the library step the simulator instead of sleeping. */
#define nvme_poll_pause real_nvme_poll_pause
#include "nvme/nvme.c"
#undef nvme_poll_pause
void nvme_poll_pause(void);
#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_qpair.c"
#include "nvme/tcp.c"
#include "nvme/pcie.c"
#include "ut_env.h"
#include "ut_run.h"

#define BDF "0000:00:04.0"
#define SIM_BAR_SIZE 0x2000u
#define SIM_NQ 8		/* queue ids 0..7 */
#define SIM_NS 2
#define SIM_NSZE 1024u		/* 512-byte blocks per namespace */
#define SIM_DB_IDLE 0xdead0000u /* a doorbell the simulator has read (driver values are < 65536) */

struct sim_q {
	bool exists;
	uint64_t base;
	uint32_t size;
	uint16_t head, tail;	/* SQ: head consumed, tail from the doorbell; CQ: tail produced, head from doorbell */
	uint16_t cqid;
	uint8_t phase;
};

struct sim {
	uint8_t *bar;
	bool attached;
	bool attach_fail;
	uint16_t pci_cmd;
	osp_pci_remove_cb remove_cb;
	void *remove_ctx;
	bool removed;
	/* behaviour */
	bool never_ready;
	bool cfs_on_enable;
	bool support_dbbuf;
	bool hold_io;		/* leave I/O submissions unprocessed */
	uint32_t ready_delay;
	/* state */
	bool enabled;
	uint32_t en_steps;
	struct sim_q sq[SIM_NQ], cq[SIM_NQ];
	uint64_t dbbuf, eventidx;
	uint16_t aer_cids[8];
	uint32_t num_aers;
	uint8_t disk[SIM_NS][SIM_NSZE * 512];
	/* counters */
	uint32_t sq_db_writes[SIM_NQ];
	uint32_t creates, deletes, dbbuf_cmds, enables, disables, io_cmds, bad_opcodes;
};

static struct sim g_sim;
static bool g_sim_identity = true;

static inline void *
sim_va(uint64_t iova)
{
	return (void *)(uintptr_t)iova;
}

static uint32_t *
sim_reg(uint32_t off)
{
	return (uint32_t *)(g_sim.bar + off);
}

static uint32_t *
sim_db(uint16_t qid, bool cq)
{
	return sim_reg(0x1000 + (2u * qid + (cq ? 1u : 0u)) * 4u);
}

static void
sim_reset_state(void)
{
	memset(g_sim.sq, 0, sizeof(g_sim.sq));
	memset(g_sim.cq, 0, sizeof(g_sim.cq));
	g_sim.dbbuf = g_sim.eventidx = 0;
	g_sim.num_aers = 0;
	g_sim.enabled = false;
	g_sim.en_steps = 0;
	*sim_reg(OSP_NVME_REG_CSTS) = 0;
}

static void
sim_init(void)
{
	union osp_nvme_cap_register cap;
	uint32_t q;
	uint8_t *bar = g_sim.bar;

	memset(&g_sim, 0, sizeof(g_sim));
	g_sim.bar = bar != NULL ? bar : aligned_alloc(4096, SIM_BAR_SIZE);
	memset(g_sim.bar, 0, SIM_BAR_SIZE);
	cap.raw = 0;
	cap.bits.mqes = 255;
	cap.bits.cqr = 1;
	cap.bits.to = 1;	/* 500 ms */
	cap.bits.dstrd = 0;
	cap.bits.css = 1;	/* NVM */
	*(uint64_t *)sim_reg(OSP_NVME_REG_CAP) = cap.raw;
	*sim_reg(OSP_NVME_REG_VS) = OSP_NVME_VERSION(1, 4, 0);
	for (q = 0; q < SIM_NQ; q++) {
		*sim_db((uint16_t)q, false) = SIM_DB_IDLE;
		*sim_db((uint16_t)q, true) = SIM_DB_IDLE;
	}
	g_sim.support_dbbuf = true;
	g_sim.ready_delay = 2;
}

/* ---- the env's PCI functions, over the simulator ---- */

static struct osp_pci_device *g_sim_dev = (struct osp_pci_device *)&g_sim;

int
ut_pci_device_attach(const struct osp_pci_addr *addr, uint32_t class_code, osp_pci_enum_cb cb,
		     void *ctx)
{
	if (g_sim.attach_fail || addr->bus != 0 || addr->dev != 4 || addr->func != 0 ||
	    class_code != OSP_PCI_CLASS_NVME || g_sim.attached) {
		return -ENODEV;
	}
	g_sim.attached = true;
	return cb(ctx, g_sim_dev) < 0 ? -EIO : 0;
}

void
ut_pci_device_detach(struct osp_pci_device *dev)
{
	CU_ASSERT(dev == g_sim_dev);
	g_sim.attached = false;
	g_sim.remove_cb = NULL;
}

int
ut_pci_device_map_bar(struct osp_pci_device *dev, uint32_t bar, void **addr, uint64_t *phys,
		      uint64_t *size)
{
	if (bar != 0) {
		return -EINVAL;
	}
	*addr = g_sim.bar;
	*phys = 0xfe000000u;
	*size = SIM_BAR_SIZE;
	return 0;
}

int
ut_pci_device_unmap_bar(struct osp_pci_device *dev, uint32_t bar, void *addr)
{
	return 0;
}

int
ut_pci_device_cfg_read(struct osp_pci_device *dev, void *buf, uint32_t len, uint32_t offset)
{
	if (offset == 4 && len == 2) {
		memcpy(buf, &g_sim.pci_cmd, 2);
		return 0;
	}
	return -EINVAL;
}

int
ut_pci_device_cfg_write(struct osp_pci_device *dev, const void *buf, uint32_t len,
			uint32_t offset)
{
	if (offset == 4 && len == 2) {
		memcpy(&g_sim.pci_cmd, buf, 2);
		return 0;
	}
	return -EINVAL;
}

void
ut_pci_device_set_remove_cb(struct osp_pci_device *dev, osp_pci_remove_cb cb, void *ctx)
{
	g_sim.remove_cb = cb;
	g_sim.remove_ctx = ctx;
}

bool
ut_pci_device_is_removed(const struct osp_pci_device *dev)
{
	return g_sim.removed;
}

/* Surprise removal: every register reads all ones from now on. */
static void
sim_hot_remove(bool with_callback)
{
	memset(g_sim.bar, 0xff, SIM_BAR_SIZE);
	if (with_callback) {
		g_sim.removed = true;
		if (g_sim.remove_cb != NULL) {
			g_sim.remove_cb(g_sim.remove_ctx, g_sim_dev);
		}
	}
}

/* ---- the completer ---- */

/* Move len bytes between buf and the PRPs of cmd; false on a malformed PRP. */
static bool
sim_prp_xfer(const struct osp_nvme_cmd *cmd, uint8_t *buf, uint32_t len, bool to_host)
{
	uint64_t addr = cmd->prp1;
	uint32_t off = 0, chunk, idx = 0;
	const uint64_t *list = NULL;
	uint64_t prp2;
	uint32_t pages;

	if (cmd->psdt != 0 || (addr & 3) != 0) {
		return false;
	}
	chunk = OSP_MIN(len, 4096u - (uint32_t)(addr & 4095));
	pages = 1 + (len - chunk + 4095) / 4096;
	if (pages == 2) {
		prp2 = cmd->prp2;
		list = &prp2;
	} else if (pages > 2) {
		if ((cmd->prp2 & 7) != 0) {
			return false;
		}
		list = sim_va(cmd->prp2);
	}
	while (off < len) {
		if (to_host) {
			memcpy(sim_va(addr), buf + off, chunk);
		} else {
			memcpy(buf + off, sim_va(addr), chunk);
		}
		off += chunk;
		if (off < len) {
			addr = list[idx++];
			if ((addr & 4095) != 0) {
				return false; /* later entries must be page aligned */
			}
			chunk = OSP_MIN(len - off, 4096u);
		}
	}
	return true;
}

static void
sim_post(uint16_t cqid, const struct osp_nvme_cpl *src)
{
	struct sim_q *cq = &g_sim.cq[cqid];
	struct osp_nvme_cpl *e = (struct osp_nvme_cpl *)sim_va(cq->base) + cq->tail;
	struct osp_nvme_cpl c = *src;

	c.status.p = cq->phase;
	/* Everything but the status first, then the status with its phase tag. */
	memcpy(e, &c, 14);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->raw = c.raw;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
}

static void
sim_status(struct osp_nvme_cpl *c, uint8_t sct, uint8_t sc)
{
	c->status.sct = sct;
	c->status.sc = sc;
}

static void
sim_identify(const struct osp_nvme_cmd *cmd, struct osp_nvme_cpl *c)
{
	static uint8_t buf[4096];
	uint8_t cns = cmd->cdw10 & 0xff;

	memset(buf, 0, sizeof(buf));
	if (cns == OSP_NVME_IDENTIFY_CTRLR) {
		struct osp_nvme_ctrlr_data *cd = (void *)buf;

		cd->vid = 0x1b36;
		memcpy(cd->sn, "SIM0001             ", 20);
		memcpy(cd->mn, "Osprey simulated NVMe                   ", 40);
		cd->mdts = 5; /* 128 KiB */
		cd->aerl = 3;
		cd->nn = SIM_NS;
		cd->oacs = g_sim.support_dbbuf ? (1u << 8) : 0;
		cd->sqes = 0x66;
		cd->cqes = 0x44;
	} else if (cns == OSP_NVME_IDENTIFY_NS) {
		struct osp_nvme_ns_data *nd = (void *)buf;

		if (cmd->nsid == 0 || cmd->nsid > SIM_NS) {
			sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			return;
		}
		nd->nsze = nd->ncap = nd->nuse = SIM_NSZE;
		nd->nlbaf = 0;
		nd->lbaf[0].lbads = 9;
	} else if (cns == OSP_NVME_IDENTIFY_ACTIVE_NS_LIST) {
		uint32_t *l = (void *)buf, n = 0, id;

		for (id = cmd->nsid + 1; id <= SIM_NS; id++) {
			l[n++] = id;
		}
	} else if (cns != OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST) {
		sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		return;
	}
	if (!sim_prp_xfer(cmd, buf, 4096, true)) {
		sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
	}
}

/* Returns false when the command completes later (AER). */
static bool
sim_admin(const struct osp_nvme_cmd *cmd, struct osp_nvme_cpl *c)
{
	uint16_t qid = cmd->cdw10 & 0xffff;
	uint32_t size = (cmd->cdw10 >> 16) + 1;

	switch (cmd->opc) {
	case OSP_NVME_OPC_IDENTIFY:
		sim_identify(cmd, c);
		break;
	case OSP_NVME_OPC_SET_FEATURES:
		if ((cmd->cdw10 & 0xff) == OSP_NVME_FEAT_NUMBER_OF_QUEUES) {
			c->cdw0 = (SIM_NQ - 2) | ((SIM_NQ - 2) << 16);
		}
		break;
	case OSP_NVME_OPC_GET_FEATURES:
		break;
	case OSP_NVME_OPC_GET_LOG_PAGE: {
		static uint8_t zero[4096];
		uint32_t len = ((cmd->cdw10 >> 16) + 1) * 4;

		if (len > sizeof(zero) || !sim_prp_xfer(cmd, zero, len, true)) {
			sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD);
		}
		break;
	}
	case OSP_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (g_sim.num_aers == 4) {
			sim_status(c, OSP_NVME_SCT_COMMAND_SPECIFIC,
				   OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
			break;
		}
		g_sim.aer_cids[g_sim.num_aers++] = cmd->cid;
		return false;
	case OSP_NVME_OPC_CREATE_IO_CQ:
		if (qid == 0 || qid >= SIM_NQ || g_sim.cq[qid].exists || size < 2 ||
		    size > 256 || !(cmd->cdw11 & 1)) {
			sim_status(c, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_QUEUE_IDENTIFIER);
			break;
		}
		g_sim.cq[qid] = (struct sim_q) { .exists = true, .base = cmd->prp1, .size = size,
			.phase = 1 };
		g_sim.creates++;
		break;
	case OSP_NVME_OPC_CREATE_IO_SQ: {
		uint16_t cqid = cmd->cdw11 >> 16;

		if (qid == 0 || qid >= SIM_NQ || g_sim.sq[qid].exists || cqid >= SIM_NQ ||
		    !g_sim.cq[cqid].exists || size < 2 || size > 256) {
			sim_status(c, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_QUEUE_IDENTIFIER);
			break;
		}
		g_sim.sq[qid] = (struct sim_q) { .exists = true, .base = cmd->prp1, .size = size,
			.cqid = cqid };
		g_sim.creates++;
		break;
	}
	case OSP_NVME_OPC_DELETE_IO_SQ:
	case OSP_NVME_OPC_DELETE_IO_CQ: {
		struct sim_q *q = cmd->opc == OSP_NVME_OPC_DELETE_IO_SQ ? g_sim.sq : g_sim.cq;

		if (qid == 0 || qid >= SIM_NQ || !q[qid].exists) {
			sim_status(c, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVME_SC_INVALID_QUEUE_IDENTIFIER);
			break;
		}
		q[qid].exists = false;
		g_sim.deletes++;
		break;
	}
	case OSP_NVME_OPC_DOORBELL_BUFFER_CONFIG:
		if (!g_sim.support_dbbuf || (cmd->prp1 & 4095) || (cmd->prp2 & 4095)) {
			sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
			break;
		}
		g_sim.dbbuf = cmd->prp1;
		g_sim.eventidx = cmd->prp2;
		g_sim.dbbuf_cmds++;
		break;
	default:
		g_sim.bad_opcodes++;
		sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
		break;
	}
	return true;
}

static void
sim_io(const struct osp_nvme_cmd *cmd, struct osp_nvme_cpl *c)
{
	uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	uint32_t nlb = (cmd->cdw12 & 0xffff) + 1;

	g_sim.io_cmds++;
	if (cmd->nsid == 0 || cmd->nsid > SIM_NS) {
		sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	switch (cmd->opc) {
	case OSP_NVME_OPC_READ:
	case OSP_NVME_OPC_WRITE:
		if (slba + nlb > SIM_NSZE) {
			sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_LBA_OUT_OF_RANGE);
			return;
		}
		if (!sim_prp_xfer(cmd, &g_sim.disk[cmd->nsid - 1][slba * 512], nlb * 512,
				  cmd->opc == OSP_NVME_OPC_READ)) {
			sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_TRANSFER_ERROR);
		}
		return;
	case OSP_NVME_OPC_FLUSH:
		return;
	default:
		sim_status(c, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_OPCODE);
	}
}

/* Shadow doorbell slot (dbbuf or eventidx page) of a queue. */
static uint32_t *
sim_shadow(uint64_t page, uint16_t qid, bool cq)
{
	return (uint32_t *)sim_va(page) + 2u * qid + (cq ? 1u : 0u);
}

/* A doorbell register written since the last read? Returns its value or -1. */
static int
sim_take_db(uint16_t qid, bool cq)
{
	uint32_t v = *sim_db(qid, cq);

	if (v == SIM_DB_IDLE) {
		return -1;
	}
	*sim_db(qid, cq) = SIM_DB_IDLE;
	if (!cq) {
		g_sim.sq_db_writes[qid]++;
	}
	return (int)v;
}

static void sim_step(void);

void
nvme_poll_pause(void)
{
	sim_step();
}

static void
sim_step(void)
{
	union osp_nvme_cc_register cc;
	uint32_t qid;

	if (g_sim.bar == NULL || *sim_reg(OSP_NVME_REG_CSTS) == 0xffffffffu) {
		return; /* removed */
	}
	cc.raw = *sim_reg(OSP_NVME_REG_CC);
	if (!cc.bits.en) {
		if (g_sim.enabled || g_sim.en_steps) {
			g_sim.disables++;
			sim_reset_state();
		}
		return;
	}
	if (!g_sim.enabled) {
		union osp_nvme_aqa_register aqa;

		if (g_sim.never_ready || ++g_sim.en_steps < g_sim.ready_delay) {
			return;
		}
		if (g_sim.cfs_on_enable) {
			*sim_reg(OSP_NVME_REG_CSTS) = 2; /* CFS */
			return;
		}
		CU_ASSERT(cc.bits.iosqes == 6 && cc.bits.iocqes == 4 && cc.bits.mps == 0);
		aqa.raw = *sim_reg(OSP_NVME_REG_AQA);
		g_sim.sq[0] = (struct sim_q) { .exists = true, .size = aqa.bits.asqs + 1u,
			.base = *(uint64_t *)sim_reg(OSP_NVME_REG_ASQ) };
		g_sim.cq[0] = (struct sim_q) { .exists = true, .size = aqa.bits.acqs + 1u,
			.base = *(uint64_t *)sim_reg(OSP_NVME_REG_ACQ), .phase = 1 };
		g_sim.enabled = true;
		g_sim.enables++;
		*sim_reg(OSP_NVME_REG_CSTS) = 1; /* RDY */
		(void)sim_take_db(0, false);
		(void)sim_take_db(0, true);
	}
	for (qid = 0; qid < SIM_NQ; qid++) {
		struct sim_q *sq = &g_sim.sq[qid], *cq = &g_sim.cq[qid];
		int v;

		if (cq->exists) {
			v = sim_take_db((uint16_t)qid, true);
			if (qid != 0 && g_sim.dbbuf != 0) {
				v = (int)*sim_shadow(g_sim.dbbuf, (uint16_t)qid, true);
			}
			if (v >= 0) {
				cq->head = (uint16_t)v;
			}
		}
		if (!sq->exists) {
			continue;
		}
		v = sim_take_db((uint16_t)qid, false);
		if (qid != 0 && g_sim.dbbuf != 0) {
			/* I/O queues with shadow doorbells: the shadow is the truth. */
			v = (int)*sim_shadow(g_sim.dbbuf, (uint16_t)qid, false);
		}
		if (v >= 0) {
			CU_ASSERT((uint32_t)v < sq->size);
			sq->tail = (uint16_t)v;
		}
		if (qid != 0 && g_sim.hold_io) {
			continue;
		}
		while (sq->head != sq->tail && g_sim.cq[sq->cqid].exists) {
			const struct osp_nvme_cmd *cmd = (const struct osp_nvme_cmd *)sim_va(sq->base) +
							 sq->head;
			struct osp_nvme_cpl c;
			bool post = true;

			if (++sq->head == sq->size) {
				sq->head = 0;
			}
			memset(&c, 0, sizeof(c));
			c.cid = cmd->cid;
			c.sqid = (uint16_t)qid;
			c.sqhd = sq->head;
			if (qid == 0) {
				post = sim_admin(cmd, &c);
			} else {
				sim_io(cmd, &c);
			}
			if (post) {
				sim_post(sq->cqid, &c);
			}
		}
		if (qid != 0 && g_sim.dbbuf != 0) {
			*sim_shadow(g_sim.eventidx, (uint16_t)qid, false) = sq->tail;
		}
	}
}

/* Complete one held AER with an event (cdw0). */
static void
sim_fire_aer(uint32_t cdw0)
{
	struct osp_nvme_cpl c;

	if (g_sim.num_aers == 0) {
		return;
	}
	memset(&c, 0, sizeof(c));
	c.cid = g_sim.aer_cids[--g_sim.num_aers];
	c.cdw0 = cdw0;
	sim_post(0, &c);
}

/* ---- helpers ---- */

struct io_ctx {
	int done;
	int errors;
	struct osp_nvme_cpl cpl;
};

static void
io_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct io_ctx *c = arg;

	c->done++;
	c->cpl = *cpl;
	if (osp_nvme_cpl_is_error(cpl)) {
		c->errors++;
	}
}

struct attach_res {
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_connect_error err;
	bool done;
};

static void
attach_done(void *cb_ctx, const struct osp_nvme_transport_id *trid, struct osp_nvme_ctrlr *ctrlr,
	    const struct osp_nvme_connect_error *err)
{
	struct attach_res *r = cb_ctx;

	r->done = true;
	r->ctrlr = ctrlr;
	if (err != NULL) {
		r->err = *err;
	}
}

static struct osp_nvme_ctrlr *
connect_sim(struct osp_nvme_connect_error *err, uint32_t timeout_ms)
{
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr_opts opts;
	struct osp_nvme_probe_ctx *probe;
	struct attach_res r;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_FATAL(osp_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:" BDF) == 0);
	osp_nvme_ctrlr_opts_init(&opts, sizeof(opts));
	opts.num_io_queues = 4;
	opts.io_queue_size = 64;
	if (timeout_ms != 0) {
		opts.transport_connect_timeout_ms = timeout_ms;
		opts.admin_timeout_ms = timeout_ms;
	}
	probe = osp_nvme_connect_async(&trid, &opts, sizeof(opts), attach_done, &r);
	if (probe == NULL) {
		if (err != NULL) {
			err->rc = -errno;
		}
		return NULL;
	}
	while (osp_nvme_probe_poll_async(probe) == -EAGAIN) {
		sim_step();
	}
	CU_ASSERT(r.done);
	if (err != NULL) {
		*err = r.err;
	}
	return r.ctrlr;
}

static struct osp_nvme_qpair *
alloc_qpair(struct osp_nvme_ctrlr *ctrlr, uint32_t qsize)
{
	struct osp_nvme_io_qpair_opts o;
	struct osp_nvme_qpair *qp;
	int i;

	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &o, sizeof(o));
	o.async_mode = true;
	if (qsize != 0) {
		o.io_queue_size = qsize;
	}
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &o, sizeof(o));
	if (qp == NULL) {
		return NULL;
	}
	for (i = 0; i < 1000 && !osp_nvme_qpair_is_connected(qp); i++) {
		sim_step();
		if (osp_nvme_qpair_process_completions(qp, 0) < 0) {
			break;
		}
	}
	return qp;
}

/* Step and poll until *done reaches want (bounded). */
static void
poll_until(struct osp_nvme_ctrlr *ctrlr, struct osp_nvme_qpair *qp, int *done, int want)
{
	int i;

	for (i = 0; i < 1000 && *done < want; i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
		if (qp != NULL) {
			osp_nvme_qpair_process_completions(qp, 0);
		}
	}
}

/* ---- tests ---- */

static void
test_trid(void)
{
	struct osp_nvme_transport_id t;
	char buf[256];

	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:0000:00:04.0") == 0);
	CU_ASSERT(t.trtype == OSP_NVME_TRANSPORT_PCIE);
	CU_ASSERT_STRING_EQUAL(t.traddr, "0000:00:04.0");
	CU_ASSERT_STRING_EQUAL(t.subnqn, "");
	CU_ASSERT(osp_nvme_transport_id_fmt(&t, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "trtype:PCIe traddr:0000:00:04.0");
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:pcie traddr:3:0A.1") == 0);
	CU_ASSERT_STRING_EQUAL(t.traddr, "0000:03:0a.1");
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:1:00:1f.7") == 0);
	CU_ASSERT_STRING_EQUAL(t.traddr, "0001:00:1f.7");
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:00:20.0") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:00:04.8") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:100:04.0") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:127.0.0.1") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:00:04.0 trsvcid:4420") ==
		  -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:0000:00:04.0x") == -EINVAL);
}

static void
test_init_and_io(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns1, *ns2;
	struct io_ctx c = { 0 };
	uint8_t *buf, *rbuf;
	struct iovec iov[3];
	uint64_t pattern;
	uint32_t i;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(g_sim.enables == 1);
	CU_ASSERT((g_sim.pci_cmd & 0x6) == 0x6); /* memory space + bus master */
	CU_ASSERT(osp_nvme_ctrlr_get_regs_vs(ctrlr).raw == OSP_NVME_VERSION(1, 4, 0));
	CU_ASSERT(osp_nvme_ctrlr_get_num_io_queues(ctrlr) == 4);
	CU_ASSERT(osp_nvme_ctrlr_get_max_xfer_size(ctrlr) == 128 * 1024);
	CU_ASSERT(osp_nvme_ctrlr_get_num_active_ns(ctrlr) == 2);
	CU_ASSERT(!osp_nvme_ctrlr_is_discovery(ctrlr));
	CU_ASSERT(g_sim.dbbuf_cmds == 1);
	CU_ASSERT(pctrlr_of(ctrlr)->dbbuf_enabled);
	sim_step();
	CU_ASSERT(g_sim.num_aers == 4); /* AERL 3: four held */
	ns1 = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	ns2 = osp_nvme_ctrlr_get_ns(ctrlr, 2);
	CU_ASSERT_FATAL(ns1 != NULL && ns2 != NULL);
	CU_ASSERT(osp_nvme_ns_get_sector_size(ns1) == 512);
	CU_ASSERT(osp_nvme_ns_get_num_sectors(ns2) == SIM_NSZE);

	qp = alloc_qpair(ctrlr, 32);
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT(osp_nvme_qpair_is_connected(qp));
	CU_ASSERT(g_sim.creates == 2);
	/* Idle: nothing outstanding, the poll reports no work. */
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);

	buf = osp_dma_zmalloc(128 * 1024 + 8192, 4096, NULL);
	rbuf = osp_dma_zmalloc(128 * 1024 + 8192, 4096, NULL);
	CU_ASSERT_FATAL(buf != NULL && rbuf != NULL);
	for (i = 0; i < 128 * 1024 / 8; i++) {
		pattern = 0x0123456789abcdefull ^ i;
		memcpy(buf + i * 8, &pattern, 8);
	}
	/* One block (PRP1 only), on both namespaces. */
	CU_ASSERT(osp_nvme_ns_cmd_write(ns1, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	CU_ASSERT(osp_nvme_ns_cmd_write(ns2, qp, buf + 512, 0, 1, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 2);
	CU_ASSERT(c.done == 2 && c.errors == 0);
	CU_ASSERT(memcmp(g_sim.disk[0], buf, 512) == 0);
	CU_ASSERT(memcmp(g_sim.disk[1], buf + 512, 512) == 0);
	/* 8 KiB from an unaligned start: three pages, a PRP list. */
	c.done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_write(ns1, qp, buf + 1024, 8, 16, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && memcmp(&g_sim.disk[0][8 * 512], buf + 1024, 8192) == 0);
	/* 8 KiB page aligned: PRP1 + PRP2. */
	c.done = 0;
	memset(rbuf, 0, 8192);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns1, qp, rbuf + 4096, 8, 16, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && memcmp(rbuf + 4096, buf + 1024, 8192) == 0);
	/* 128 KiB (the largest): 32 pages. */
	c.done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_write(ns2, qp, buf, 256, 256, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	memset(rbuf, 0, 128 * 1024 + 8192);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns2, qp, rbuf + 512, 256, 256, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 2);
	CU_ASSERT(c.errors == 0 && memcmp(rbuf + 512, buf, 128 * 1024) == 0);
	/* Too large for one command. */
	CU_ASSERT(osp_nvme_ns_cmd_read(ns2, qp, rbuf, 0, 257, io_cb, &c, 0) == -EINVAL);
	/* iovecs: unaligned head, whole pages, short tail. */
	c.done = 0;
	iov[0].iov_base = buf + 4096 - 1024;
	iov[0].iov_len = 1024;
	iov[1].iov_base = buf + 16384;
	iov[1].iov_len = 4096;
	iov[2].iov_base = buf + 32768;
	iov[2].iov_len = 1024;
	CU_ASSERT(osp_nvme_ns_cmd_writev(ns1, qp, iov, 3, 100, 12, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0);
	CU_ASSERT(memcmp(&g_sim.disk[0][100 * 512], buf + 3072, 1024) == 0);
	CU_ASSERT(memcmp(&g_sim.disk[0][102 * 512], buf + 16384, 4096) == 0);
	CU_ASSERT(memcmp(&g_sim.disk[0][110 * 512], buf + 32768, 1024) == 0);
	/* A hole PRPs cannot express (second iovec not page aligned): refused, nothing sent. */
	iov[1].iov_base = buf + 16384 + 512;
	CU_ASSERT(osp_nvme_ns_cmd_writev(ns1, qp, iov, 3, 100, 12, io_cb, &c, 0) == -EINVAL);
	/* Memory the env cannot translate. */
	{
		uint8_t *heap = malloc(8192);

		CU_ASSERT(osp_nvme_ns_cmd_read(ns1, qp, heap, 0, 1, io_cb, &c, 0) == -EFAULT);
		free(heap);
	}
	CU_ASSERT(osp_nvme_qpair_get_num_outstanding(qp) == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	/* Out of range LBA: the controller's error comes back. */
	c.done = c.errors = 0;
	CU_ASSERT(osp_nvme_ns_cmd_flush(ns1, qp, io_cb, &c) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0);

	/* Freeing the qpair deletes its queues on the controller. */
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp) == 0);
	CU_ASSERT(g_sim.deletes == 2);
	/* A second qpair reuses the QID and works. */
	qp = alloc_qpair(ctrlr, 0);
	CU_ASSERT_FATAL(qp != NULL && osp_nvme_qpair_is_connected(qp));
	c.done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns1, qp, rbuf, 0, 1, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && memcmp(rbuf, buf, 512) == 0);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(!g_sim.attached);
	sim_step();
	CU_ASSERT(g_sim.disables == 1); /* detach disabled it */
	osp_dma_free(buf);
	osp_dma_free(rbuf);
}

struct batch_ctx {
	struct osp_nvme_ns *ns;
	struct osp_nvme_qpair *qp;
	uint8_t *buf;
	int submitted;
	int done;
	uint32_t db_during;
};

static void
batch_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct batch_ctx *b = arg;
	struct pcie_qpair *pqp = (struct pcie_qpair *)b->qp;
	int i;

	b->done++;
	if (b->submitted == 1) {
		/* From a completion: eight more, no doorbell until the poll ends. */
		for (i = 0; i < 8; i++) {
			CU_ASSERT(osp_nvme_ns_cmd_read(b->ns, b->qp, b->buf + i * 512, (uint64_t)i, 1,
						       batch_cb, b, 0) == 0);
			b->submitted++;
		}
		b->db_during = *pqp->sq_tdbl;
		CU_ASSERT(*sim_shadow(g_sim.dbbuf, b->qp->q.id, false) != pqp->sq_tail);
	}
}

static void
test_doorbell_batching(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct batch_ctx b = { 0 };
	struct pcie_qpair *pqp;
	uint32_t before;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	b.ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	b.qp = alloc_qpair(ctrlr, 32);
	CU_ASSERT_FATAL(b.qp != NULL);
	pqp = (struct pcie_qpair *)b.qp;
	CU_ASSERT(pqp->sq_shadow != NULL);
	b.buf = osp_dma_zmalloc(8192, 4096, NULL);
	CU_ASSERT(osp_nvme_ns_cmd_read(b.ns, b.qp, b.buf, 0, 1, batch_cb, &b, 0) == 0);
	b.submitted = 1;
	/* Outside a poll the submit told the controller at once (shadow + EventIdx rule). */
	CU_ASSERT(*sim_shadow(g_sim.dbbuf, b.qp->q.id, false) == 1);
	sim_step();
	before = g_sim.sq_db_writes[b.qp->q.id];
	CU_ASSERT(osp_nvme_qpair_process_completions(b.qp, 0) == 1);
	CU_ASSERT(b.db_during == SIM_DB_IDLE); /* nothing rung inside the callback */
	CU_ASSERT(*sim_shadow(g_sim.dbbuf, b.qp->q.id, false) == pqp->sq_tail);
	sim_step();
	/* Eight submissions, at most one register write. */
	CU_ASSERT(g_sim.sq_db_writes[b.qp->q.id] - before <= 1);
	CU_ASSERT(osp_nvme_qpair_process_completions(b.qp, 0) == 8);
	CU_ASSERT(b.done == 9);
	/* max_completions bounds one poll. */
	b.submitted = 100;
	CU_ASSERT(osp_nvme_ns_cmd_read(b.ns, b.qp, b.buf, 0, 1, batch_cb, &b, 0) == 0);
	CU_ASSERT(osp_nvme_ns_cmd_read(b.ns, b.qp, b.buf, 0, 1, batch_cb, &b, 0) == 0);
	sim_step();
	CU_ASSERT(osp_nvme_qpair_process_completions(b.qp, 1) == 1);
	CU_ASSERT(osp_nvme_qpair_process_completions(b.qp, 1) == 1);
	CU_ASSERT(osp_nvme_qpair_process_completions(b.qp, 1) == 0);
	osp_nvme_ctrlr_free_io_qpair(b.qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(b.buf);
}

static void
test_no_dbbuf_and_wrap(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	uint8_t *buf;
	int i;

	sim_init();
	g_sim.support_dbbuf = false;
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(!pctrlr_of(ctrlr)->dbbuf_enabled);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 2);
	qp = alloc_qpair(ctrlr, 4); /* 3 commands at once: the rings wrap often */
	CU_ASSERT_FATAL(qp != NULL && osp_nvme_qpair_is_connected(qp));
	CU_ASSERT(((struct pcie_qpair *)qp)->sq_shadow == NULL);
	buf = osp_dma_zmalloc(4096, 4096, NULL);
	for (i = 0; i < 50; i++) {
		int want = c.done + 3;

		CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, (uint64_t)i, 1, io_cb, &c, 0) == 0);
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, (uint64_t)i, 1, io_cb, &c, 0) == 0);
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, (uint64_t)i, 1, io_cb, &c, 0) == 0);
		/* The pool is per qpair: the fourth waits for a slot. */
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == -ENOMEM);
		poll_until(ctrlr, qp, &c.done, want);
	}
	CU_ASSERT(c.done == 150 && c.errors == 0);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(buf);
}

static void
test_init_failures(void)
{
	struct osp_nvme_connect_error err;
	struct osp_nvme_ctrlr *ctrlr;
	uint64_t t0;

	/* Nothing at that address. */
	sim_init();
	g_sim.attach_fail = true;
	memset(&err, 0, sizeof(err));
	ctrlr = connect_sim(&err, 0);
	CU_ASSERT(ctrlr == NULL && err.rc == -ENODEV);
	CU_ASSERT(!g_sim.attached);

	/* Never ready: bounded by the timeout, the device is let go. */
	sim_init();
	g_sim.never_ready = true;
	t0 = nvme_now_us();
	ctrlr = connect_sim(&err, 40);
	CU_ASSERT(ctrlr == NULL && err.rc == -ETIMEDOUT);
	CU_ASSERT(nvme_now_us() - t0 < 1000000);
	CU_ASSERT(!g_sim.attached);

	/* Fatal status while enabling. */
	sim_init();
	g_sim.cfs_on_enable = true;
	ctrlr = connect_sim(&err, 0);
	CU_ASSERT(ctrlr == NULL && err.rc == -EIO);
	CU_ASSERT(!g_sim.attached);

	/* Registers read all ones from the start: gone. */
	sim_init();
	memset(g_sim.bar, 0xff, SIM_BAR_SIZE);
	ctrlr = connect_sim(&err, 0);
	CU_ASSERT(ctrlr == NULL && (err.rc == -ENODEV || err.rc == -ENOMEM));
	CU_ASSERT(!g_sim.attached);

	/* Enabled already (a previous owner): disabled first, then set up. */
	sim_init();
	*sim_reg(OSP_NVME_REG_CC) = 1;
	*sim_reg(OSP_NVME_REG_CSTS) = 1;
	g_sim.en_steps = 1;
	ctrlr = connect_sim(&err, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(g_sim.disables == 1 && g_sim.enables == 1);
	osp_nvme_detach(ctrlr);
}

static void
test_reset_during_io(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	uint8_t *buf;
	int i, rc;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = alloc_qpair(ctrlr, 16);
	CU_ASSERT_FATAL(qp != NULL);
	buf = osp_dma_zmalloc(4096, 4096, NULL);
	g_sim.hold_io = true;
	for (i = 0; i < 5; i++) {
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	}
	sim_step();
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	CU_ASSERT(osp_nvme_ctrlr_reset_async(ctrlr) == 0);
	CU_ASSERT(g_sim.num_aers == 4); /* held until the controller is disabled */
	do {
		sim_step();
		rc = osp_nvme_ctrlr_reset_poll_async(ctrlr);
	} while (rc == -EAGAIN);
	CU_ASSERT(rc == 0);
	CU_ASSERT(g_sim.enables == 2 && g_sim.disables == 1);
	CU_ASSERT(g_sim.dbbuf_cmds == 2); /* shadow doorbells set up again */
	/* The old queues are gone: the qpair fails and its commands are aborted. */
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	CU_ASSERT(c.done == 5 && c.errors == 5);
	CU_ASSERT(osp_nvme_cpl_is_status(&c.cpl, OSP_NVME_SCT_GENERIC,
					 OSP_NVME_SC_ABORTED_SQ_DELETION));
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == -ENXIO);
	/* Reconnected: new queues, I/O again. */
	g_sim.hold_io = false;
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == 0); /* async qpair: starts it */
	for (i = 0; i < 100 && !osp_nvme_qpair_is_connected(qp); i++) {
		sim_step();
		osp_nvme_qpair_process_completions(qp, 0);
	}
	CU_ASSERT_FATAL(osp_nvme_qpair_is_connected(qp));
	c.done = c.errors = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.done == 1 && c.errors == 0);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(buf);
}

static void
test_hot_remove(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	uint8_t *buf;
	int i, pass;

	buf = osp_dma_zmalloc(4096, 4096, NULL);
	for (pass = 0; pass < 2; pass++) {
		/* pass 0: registers turn to all ones; pass 1: the env's remove callback. */
		sim_init();
		ctrlr = connect_sim(NULL, 0);
		CU_ASSERT_FATAL(ctrlr != NULL);
		ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
		qp = alloc_qpair(ctrlr, 16);
		CU_ASSERT_FATAL(qp != NULL);
		memset(&c, 0, sizeof(c));
		g_sim.hold_io = true;
		for (i = 0; i < 7; i++) {
			CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, (uint64_t)i, 1, io_cb, &c, 0) == 0);
		}
		sim_step();
		sim_hot_remove(pass == 1);
		if (pass == 0) {
			/* The admin poller notices (one CSTS read). */
			CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
			CU_ASSERT(osp_nvme_ctrlr_is_failed(ctrlr));
		}
		CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
		CU_ASSERT(c.done == 7 && c.errors == 7);
		CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, 0, 1, io_cb, &c, 0) == -ENXIO);
		CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
		/* Teardown touches no register and does not wait for the dead device. */
		CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp) == 0);
		osp_nvme_detach(ctrlr);
		CU_ASSERT(!g_sim.attached);
	}

	/* Removed while I/O is only polled (no admin poller): noticed within bounded polls. */
	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = alloc_qpair(ctrlr, 16);
	memset(&c, 0, sizeof(c));
	g_sim.hold_io = true;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	sim_step();
	sim_hot_remove(false);
	for (i = 0; i < (int)PCIE_REMOVE_CHECK_POLLS + 1; i++) {
		if (osp_nvme_qpair_process_completions(qp, 0) < 0) {
			break;
		}
	}
	CU_ASSERT(i <= (int)PCIE_REMOVE_CHECK_POLLS);
	CU_ASSERT(c.done == 1 && c.errors == 1);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(buf);
}

static void
test_malformed_completions(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	struct osp_nvme_cpl bogus;
	uint8_t *buf;
	uint16_t qid;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = alloc_qpair(ctrlr, 16);
	CU_ASSERT_FATAL(qp != NULL);
	qid = osp_nvme_qpair_get_id(qp);
	buf = osp_dma_zmalloc(4096, 4096, NULL);
	memset(&bogus, 0, sizeof(bogus));
	/* A cid beyond the pool, and one that is idle. */
	bogus.cid = 5000;
	sim_post(qid, &bogus);
	bogus.cid = 3;
	sim_post(qid, &bogus);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	CU_ASSERT(osp_nvme_qpair_is_connected(qp));
	/* On the admin queue too. */
	bogus.cid = 4000;
	sim_post(0, &bogus);
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == 0);
	/* A real command after them completes normally. */
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.done == 1 && c.errors == 0);
	/* A duplicate completion for a finished command: ignored. */
	bogus.cid = c.cpl.cid;
	sim_post(qid, &bogus);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	CU_ASSERT(c.done == 1);
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(buf);
}

static void
test_admin_and_aer(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct io_ctx c = { 0 };
	struct osp_nvme_cmd cmd;
	struct osp_nvme_ctrlr_data cd;
	uint32_t rescans_before;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	/* A raw admin command with data into plain heap memory (bounced). */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_IDENTIFY;
	cmd.cdw10 = OSP_NVME_IDENTIFY_CTRLR;
	memset(&cd, 0, sizeof(cd));
	CU_ASSERT(osp_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, &cd, sizeof(cd), io_cb, &c) == 0);
	poll_until(ctrlr, NULL, &c.done, 1);
	CU_ASSERT(c.errors == 0 && cd.vid == 0x1b36 && cd.nn == SIM_NS);
	/* Keep alive is never sent over PCIe. */
	CU_ASSERT(osp_nvme_ctrlr_get_opts(ctrlr)->keep_alive_timeout_ms != 0);
	/* A namespace-attribute-changed event makes the core rescan (Identify again). */
	rescans_before = g_sim.num_aers;
	sim_fire_aer(OSP_NVME_ASYNC_EVENT_TYPE_NOTICE | (OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED << 8) |
		     ((uint32_t)OSP_NVME_LOG_CHANGED_NS_LIST << 16));
	for (int i = 0; i < 50; i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT(g_sim.num_aers == rescans_before); /* resubmitted */
	CU_ASSERT(osp_nvme_ctrlr_get_num_active_ns(ctrlr) == 2);
	CU_ASSERT(g_sim.bad_opcodes == 0); /* no Keep Alive or fabrics command reached it */
	osp_nvme_detach(ctrlr);
}

int
main(void)
{
	CU_pSuite suite;
	void *probe;

	ut_env_init();
	probe = osp_dma_zmalloc(4096, 4096, NULL);
	g_sim_identity = probe != NULL && osp_vtophys(probe, NULL) == (uint64_t)(uintptr_t)probe;
	osp_dma_free(probe);
	if (!g_sim_identity) {
		/* The simulator reads the driver's queues through IO addresses as pointers. */
		printf("pcie_ut: IO addresses are not virtual addresses here; skipped\n");
		return 0;
	}
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme_pcie", NULL, NULL);
	CU_ADD_TEST(suite, test_trid);
	CU_ADD_TEST(suite, test_init_and_io);
	CU_ADD_TEST(suite, test_doorbell_batching);
	CU_ADD_TEST(suite, test_no_dbbuf_and_wrap);
	CU_ADD_TEST(suite, test_init_failures);
	CU_ADD_TEST(suite, test_reset_during_io);
	CU_ADD_TEST(suite, test_hot_remove);
	CU_ADD_TEST(suite, test_malformed_completions);
	CU_ADD_TEST(suite, test_admin_and_aer);
	return ut_run_suites();
}

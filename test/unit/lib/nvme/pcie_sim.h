/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A simulated NVMe PCIe controller in memory, for the PCIe transport's unit
 * test (pcie_ut.c) and its microbenchmark (bench/nvme_pcie): BAR0 registers
 * (CAP, VS, CC, CSTS, AQA, ASQ, ACQ, doorbells), the env's PCI functions
 * over it (ut_pci_*: the includer renames osp_pci_* to them before any
 * header), and a completer stepped by the caller (sim_step(), no threads)
 * that reads the queues in the driver's DMA memory through IO addresses
 * (IOVA = VA in the unit-test env), runs admin commands (Identify, Set/Get
 * Features, Get Log Page, Create/Delete I/O SQ/CQ, Doorbell Buffer Config,
 * AERs held) and reads/writes RAM-disk namespaces through the PRPs.
 *
 * The includer defines SIM_CHECK(cond) (an assertion) and includes
 * lib/nvme's sources first; nvme_poll_pause() (the library's blocking
 * waits) is defined here and steps the simulator.
 */
#ifndef OSP_PCIE_SIM_H
#define OSP_PCIE_SIM_H

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
	uint32_t sgls;		/* Identify SGLS (0: PRPs only) */
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
	uint32_t creates, deletes, dbbuf_cmds, enables, disables, io_cmds, bad_opcodes, shutdowns, sgl_cmds;
	bool in_shutdown;
	/* Controller memory buffer (sim_enable_cmb): BAR2, its bus address = its address. */
	uint8_t *cmb;
	uint32_t cmb_pages;
	uint32_t cmb_sqs;	/* I/O SQs created in the CMB */
	uint32_t cmb_bad;	/* SQs in the CMB while CMBMSC did not enable it */
	uint32_t cmb_bar_maps, cmb_bar_unmaps;
};

static struct sim g_sim;

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

	free(g_sim.cmb);
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

/*
 * A CMB of pages 4 KiB pages in BAR2 that takes submission queues, NVMe 1.4
 * style (CAP.CMBS: the host enables it through CMBMSC). CMBLOC/CMBSZ are
 * readable at once (the simulator cannot react to the CRE write in time).
 */
static __attribute__((unused)) void
sim_enable_cmb(uint32_t pages)
{
	union osp_nvme_cap_register cap;

	g_sim.cmb = aligned_alloc(4096, (size_t)pages * 4096);
	memset(g_sim.cmb, 0, (size_t)pages * 4096);
	g_sim.cmb_pages = pages;
	cap.raw = *(uint64_t *)sim_reg(OSP_NVME_REG_CAP);
	cap.bits.cmbs = 1;
	*(uint64_t *)sim_reg(OSP_NVME_REG_CAP) = cap.raw;
	*sim_reg(OSP_NVME_REG_CMBLOC) = 2;			/* BIR 2, offset 0 */
	*sim_reg(OSP_NVME_REG_CMBSZ) = (pages << 12) | 0x1;	/* 4 KiB units, SQS */
}

/* Is [base, base + len) in the CMB? Counts SQs placed there without CMBMSC enabling it. */
static bool
sim_in_cmb(uint64_t base, uint64_t len)
{
	uint64_t lo = (uint64_t)(uintptr_t)g_sim.cmb, msc;

	if (g_sim.cmb == NULL || base < lo || base + len > lo + (uint64_t)g_sim.cmb_pages * 4096) {
		return false;
	}
	msc = *(uint64_t *)sim_reg(0x50);
	if ((msc & 3) != 3 || (msc & ~0xfffull) != lo) {
		g_sim.cmb_bad++;
	}
	return true;
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
	SIM_CHECK(dev == g_sim_dev);
	g_sim.attached = false;
	g_sim.remove_cb = NULL;
}

int
ut_pci_device_map_bar(struct osp_pci_device *dev, uint32_t bar, void **addr, uint64_t *phys,
		      uint64_t *size)
{
	if (bar == 2 && g_sim.cmb != NULL) {
		*addr = g_sim.cmb;
		*phys = (uint64_t)(uintptr_t)g_sim.cmb;
		*size = (uint64_t)g_sim.cmb_pages * 4096;
		g_sim.cmb_bar_maps++;
		return 0;
	}
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
	if (bar == 2) {
		SIM_CHECK(addr == g_sim.cmb);
		g_sim.cmb_bar_unmaps++;
	}
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
__attribute__((unused)) static void
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

/* Move len bytes between buf and the SGL of cmd (Data Block or Last Segment of them). */
static bool
sim_sgl_xfer(const struct osp_nvme_cmd *cmd, uint8_t *buf, uint32_t len, bool to_host)
{
	struct osp_nvme_sgl_descriptor d;
	const struct osp_nvme_sgl_descriptor *list;
	uint32_t n, i, off = 0, chunk;

	memcpy(&d, (const uint8_t *)cmd + offsetof(struct osp_nvme_cmd, prp1), sizeof(d));
	if (d.unkeyed.type == OSP_NVME_SGL_TYPE_DATA_BLOCK) {
		list = &d;
		n = 1;
	} else if (d.unkeyed.type == OSP_NVME_SGL_TYPE_LAST_SEGMENT && d.unkeyed.length > 0 &&
		   d.unkeyed.length % sizeof(d) == 0 && d.unkeyed.length <= 4096) {
		list = sim_va(d.address);
		n = d.unkeyed.length / (uint32_t)sizeof(d);
	} else {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (list[i].unkeyed.type != OSP_NVME_SGL_TYPE_DATA_BLOCK || off == len) {
			return false;
		}
		chunk = OSP_MIN(list[i].unkeyed.length, len - off);
		if (to_host) {
			memcpy(sim_va(list[i].address), buf + off, chunk);
		} else {
			memcpy(buf + off, sim_va(list[i].address), chunk);
		}
		off += chunk;
	}
	g_sim.sgl_cmds++;
	return off == len;
}

/* Move len bytes between buf and the PRPs of cmd; false on a malformed PRP. */
static bool
sim_prp_xfer(const struct osp_nvme_cmd *cmd, uint8_t *buf, uint32_t len, bool to_host)
{
	uint64_t addr = cmd->prp1;
	uint32_t off = 0, chunk, idx = 0;
	const uint64_t *list = NULL;
	uint64_t prp2;
	uint32_t pages;

	if (cmd->psdt == OSP_NVME_PSDT_SGL_MPTR_CONTIG && g_sim.sgls != 0) {
		return sim_sgl_xfer(cmd, buf, len, to_host);
	}
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
		cd->sgls = g_sim.sgls;
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
		if (sim_in_cmb(cmd->prp1, (uint64_t)size * 64)) {
			g_sim.cmb_sqs++;
		}
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
	if (g_sim.enabled && cc.bits.shn != 0) {
		/* Shutdown: done at once (SHST complete), queues stop. */
		*sim_reg(OSP_NVME_REG_CSTS) = 1 | (OSP_NVME_SHST_COMPLETE << 2);
		if (!g_sim.in_shutdown) {
			g_sim.shutdowns++;
		}
		g_sim.in_shutdown = true;
		return;
	}
	g_sim.in_shutdown = false;
	if (!g_sim.enabled) {
		union osp_nvme_aqa_register aqa;

		if (g_sim.never_ready || ++g_sim.en_steps < g_sim.ready_delay) {
			return;
		}
		if (g_sim.cfs_on_enable) {
			*sim_reg(OSP_NVME_REG_CSTS) = 2; /* CFS */
			return;
		}
		SIM_CHECK(cc.bits.iosqes == 6 && cc.bits.iocqes == 4 && cc.bits.mps == 0);
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
			SIM_CHECK((uint32_t)v < sq->size);
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
__attribute__((unused)) static void
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

#endif /* OSP_PCIE_SIM_H */

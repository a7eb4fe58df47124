/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe PCIe host transport (NVM Express Base 2.0 and the NVMe over PCIe
 * Transport Specification 1.0): a controller reached through the env's PCI
 * layer (BAR0 mapped into the process), queues in DMA memory, PRP lists
 * built from the caller's buffers (zero copy), completions found by their
 * phase tag, one doorbell write per batch, shadow doorbells when the
 * controller offers Doorbell Buffer Config. Polled only: no interrupts.
 *
 * The controller's enable sequence runs inside the admin qpair's connect
 * (the core's state machine polls it); I/O queues are created and deleted
 * with admin commands. A device that disappears (all-ones reads or the
 * env's hot-remove callback) fails every queue; outstanding commands then
 * complete with ABORTED_SQ_DELETION through the core.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"

#include "pcie_internal.h"

/*
 * The env's PCI functions (lib/env_dpdk/pci.c) are weak references: a build
 * of the env without them still links, and attaching a PCIe controller then
 * fails with -ENOTSUP.
 */
extern int osp_pci_device_attach(const struct osp_pci_addr *addr, uint32_t class_code,
				 osp_pci_enum_cb cb, void *ctx) __attribute__((weak));
extern void osp_pci_device_detach(struct osp_pci_device *dev) __attribute__((weak));
extern int osp_pci_device_map_bar(struct osp_pci_device *dev, uint32_t bar, void **addr,
				  uint64_t *phys, uint64_t *size) __attribute__((weak));
extern int osp_pci_device_unmap_bar(struct osp_pci_device *dev, uint32_t bar, void *addr)
__attribute__((weak));
extern int osp_pci_device_cfg_read(struct osp_pci_device *dev, void *buf, uint32_t len,
				   uint32_t offset) __attribute__((weak));
extern int osp_pci_device_cfg_write(struct osp_pci_device *dev, const void *buf, uint32_t len,
				    uint32_t offset) __attribute__((weak));
extern void osp_pci_device_set_remove_cb(struct osp_pci_device *dev, osp_pci_remove_cb cb,
		void *ctx) __attribute__((weak));
extern bool osp_pci_device_is_removed(const struct osp_pci_device *dev) __attribute__((weak));

/*
 * Admin commands carry the core's own buffers (Identify data inside the
 * controller struct, a caller's log page): not DMA memory. They go through a
 * bounce buffer, allocated per command (admin path only; I/O is zero copy).
 */
struct pcie_req_ctx {
	void *bounce;
};
_Static_assert(sizeof(struct pcie_req_ctx) <= NVME_REQUEST_TRANSPORT_CTX, "fits the request");

static inline struct pcie_req_ctx *
preq_of(struct nvme_request *req)
{
	return (struct pcie_req_ctx *)req->transport_ctx;
}

static void pcie_admin_data_done(struct nvme_request *req, const struct osp_nvme_cpl *cpl);

/* ------------------------------------------------------------ barriers, registers */

#if defined(__x86_64__) || defined(__i386__)
/* x86: stores are not reordered with stores, loads not with loads (UC/WB). */
#define pcie_wmb() __asm__ volatile("" ::: "memory")
#define pcie_rmb() __asm__ volatile("" ::: "memory")
#elif defined(__aarch64__)
#define pcie_wmb() __asm__ volatile("dmb oshst" ::: "memory")
#define pcie_rmb() __asm__ volatile("dmb oshld" ::: "memory")
#else
#define pcie_wmb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define pcie_rmb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
/* Store then load (shadow doorbell, then EventIdx): a full fence. */
#define pcie_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline uint32_t
pcie_reg_read4(struct pcie_ctrlr *pc, uint32_t off)
{
	return *(volatile uint32_t *)(pc->regs + off);
}

static inline void
pcie_reg_write4(struct pcie_ctrlr *pc, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(pc->regs + off) = v;
}

/* 64-bit registers as two 32-bit accesses, low half first (allowed by §3.1.3). */
static uint64_t
pcie_reg_read8(struct pcie_ctrlr *pc, uint32_t off)
{
	uint64_t lo = pcie_reg_read4(pc, off);

	return lo | ((uint64_t)pcie_reg_read4(pc, off + 4) << 32);
}

static void
pcie_reg_write8(struct pcie_ctrlr *pc, uint32_t off, uint64_t v)
{
	pcie_reg_write4(pc, off, (uint32_t)v);
	pcie_reg_write4(pc, off + 4, (uint32_t)(v >> 32));
}

static inline struct pcie_qpair *
pqp_of(struct nvme_qpair *q)
{
	return (struct pcie_qpair *)q;
}

static inline struct pcie_ctrlr *
pctrlr_of(struct osp_nvme_ctrlr *ctrlr)
{
	return &((struct pcie_admin_qpair *)ctrlr->adminq)->pc;
}

static void
pcie_mark_removed(struct pcie_ctrlr *pc)
{
	if (!__atomic_load_n(&pc->removed, __ATOMIC_RELAXED)) {
		OSP_ERRLOG("NVMe PCIe controller %s is gone (surprise removal): failing it\n",
			   pc->ctrlr->trid.traddr);
		__atomic_store_n(&pc->removed, true, __ATOMIC_RELEASE);
		__atomic_store_n(&pc->dead, true, __ATOMIC_RELEASE);
	}
}

static void
pcie_set_fatal(struct pcie_ctrlr *pc, bool fatal)
{
	__atomic_store_n(&pc->fatal, fatal, __ATOMIC_RELEASE);
	__atomic_store_n(&pc->dead, fatal || __atomic_load_n(&pc->removed, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

static inline bool
pcie_dead(struct pcie_ctrlr *pc)
{
	return __atomic_load_n(&pc->dead, __ATOMIC_ACQUIRE);
}

/* Read CSTS; false when the device is gone (all ones) or reports a fatal status. */
static bool
pcie_check_csts(struct pcie_ctrlr *pc, union osp_nvme_csts_register *out)
{
	union osp_nvme_csts_register csts;

	if (__atomic_load_n(&pc->removed, __ATOMIC_ACQUIRE)) {
		return false;
	}
	if (pc->dev != NULL && osp_pci_device_is_removed != NULL &&
	    osp_pci_device_is_removed(pc->dev)) {
		pcie_mark_removed(pc);
		return false;
	}
	csts.raw = pcie_reg_read4(pc, OSP_NVME_REG_CSTS);
	if (csts.raw == 0xffffffffu) {
		pcie_mark_removed(pc);
		return false;
	}
	if (out != NULL) {
		*out = csts;
	}
	return true;
}

static void
pcie_remove_cb(void *ctx, struct osp_pci_device *dev)
{
	struct pcie_ctrlr *pc = ctx;

	OSP_NOTICELOG("NVMe PCIe controller %s: hot remove reported by the env\n",
		      pc->ctrlr->trid.traddr);
	pcie_mark_removed(pc);
}

/* ------------------------------------------------------------ doorbells */

/*
 * Shadow doorbell rule (Base 2.0 §5.8, Doorbell Buffer Config): write the
 * new value to the shadow slot, then ring the register only when the
 * controller's EventIdx lies in [old, new): (new - eventidx - 1) < (new - old)
 * in 16-bit arithmetic.
 */
static inline bool
pcie_need_mmio(uint16_t eventidx, uint16_t new_val, uint16_t old_val)
{
	return (uint16_t)(new_val - eventidx - 1) < (uint16_t)(new_val - old_val);
}

static inline void
pcie_ring_sq(struct pcie_qpair *pqp)
{
	uint16_t tail = pqp->sq_tail, old = pqp->sq_tail_rung;

	pqp->sq_tail_rung = tail;
	if (pqp->sq_shadow != NULL) {
		pcie_wmb();
		__atomic_store_n(pqp->sq_shadow, tail, __ATOMIC_RELAXED);
		pcie_mb();
		if (!pcie_need_mmio((uint16_t)*pqp->sq_eventidx, tail, old)) {
			return;
		}
	} else if (pqp->admin_sq_shadow != NULL) {
		__atomic_store_n(pqp->admin_sq_shadow, tail, __ATOMIC_RELAXED);
	}
	pcie_wmb();
	*pqp->sq_tdbl = tail;
}

static inline void
pcie_ring_cq(struct pcie_qpair *pqp, uint16_t old)
{
	uint16_t head = pqp->cq_head;

	if (pqp->cq_shadow != NULL) {
		__atomic_store_n(pqp->cq_shadow, head, __ATOMIC_RELAXED);
		pcie_mb();
		if (!pcie_need_mmio((uint16_t)*pqp->cq_eventidx, head, old)) {
			return;
		}
	} else if (pqp->admin_cq_shadow != NULL) {
		__atomic_store_n(pqp->admin_cq_shadow, head, __ATOMIC_RELAXED);
	}
	pcie_wmb();
	*pqp->cq_hdbl = head;
}

/* ------------------------------------------------------------ queue memory */

static void *
pcie_dma_contig_zmalloc(size_t size, uint64_t *iova)
{
	uint64_t len = size;
	void *p = osp_dma_zmalloc(size, PCIE_PAGE_SIZE, NULL);

	if (p == NULL) {
		return NULL;
	}
	*iova = osp_vtophys(p, &len);
	if (*iova == OSP_VTOPHYS_ERROR || len < size) {
		OSP_ERRLOG("NVMe PCIe: %zu bytes of DMA memory are not contiguous in IO space\n", size);
		osp_dma_free(p);
		return NULL;
	}
	return p;
}

/* ------------------------------------------------------------ controller memory buffer */

/*
 * A CMB that can hold submission queues (CMBSZ.SQS): map its BAR. With
 * CAP.CMBS (NVMe 1.4 and later, QEMU's default) CMBLOC/CMBSZ read zero until
 * CMBMSC.CRE is set, and the controller recognizes CMB addresses only once
 * CMBMSC.CMSE is set with a base (CBA): the BAR's bus address is used, so
 * both kinds of controller see the same addresses. Any problem only means
 * no CMB (queues stay in host memory).
 */
static void
pcie_cmb_probe(struct pcie_ctrlr *pc)
{
	const char *traddr = pc->ctrlr->trid.traddr;
	uint32_t sz, loc, bir, szu;
	uint64_t unit, size, ofst, phys = 0, bar_size = 0;
	void *va = NULL;

	pc->cmb_msc = pc->cap.bits.cmbs != 0;
	if (pc->cmb_msc) {
		pcie_reg_write4(pc, PCIE_REG_CMBMSC + 4, 0);
		pcie_reg_write4(pc, PCIE_REG_CMBMSC, PCIE_CMBMSC_CRE);
	}
	sz = pcie_reg_read4(pc, OSP_NVME_REG_CMBSZ);
	loc = pcie_reg_read4(pc, OSP_NVME_REG_CMBLOC);
	if (sz == 0 || sz == 0xffffffffu) {
		return;
	}
	bir = loc & 0x7u;
	szu = (sz >> 8) & 0xfu;
	if (!(sz & PCIE_CMBSZ_SQS) || szu > 6 || bir == 0 || bir > 5 ||
	    osp_pci_device_map_bar == NULL) {
		OSP_NOTICELOG("NVMe PCIe %s: controller memory buffer not used (CMBSZ 0x%x CMBLOC "
			      "0x%x: no submission queue support, or in BAR0 or an unknown BAR)\n",
			      traddr, sz, loc);
		return;
	}
	unit = 4096ull << (4 * szu);
	size = (uint64_t)(sz >> 12) * unit;
	ofst = (uint64_t)(loc >> 12) * unit;
	if (osp_pci_device_map_bar(pc->dev, bir, &va, &phys, &bar_size) != 0 || va == NULL ||
	    ofst >= bar_size || size > bar_size - ofst || ((phys + ofst) & (PCIE_PAGE_SIZE - 1))) {
		OSP_NOTICELOG("NVMe PCIe %s: controller memory buffer in BAR%u cannot be mapped "
			      "or lies outside it: not used\n", traddr, bir);
		if (va != NULL && osp_pci_device_unmap_bar != NULL) {
			osp_pci_device_unmap_bar(pc->dev, bir, va);
		}
		return;
	}
	pc->cmb_bar = bir;
	pc->cmb_bar_va = va;
	pc->cmb = (uint8_t *)va + ofst;
	pc->cmb_bus = phys + ofst;
	pc->cmb_pages = (uint32_t)OSP_MIN(size / PCIE_PAGE_SIZE, (uint64_t)PCIE_CMB_MAX_PAGES);
	memset(pc->cmb_used, 0, sizeof(pc->cmb_used));
	OSP_NOTICELOG("NVMe PCIe %s: controller memory buffer of %" PRIu64 " KiB in BAR%u: I/O "
		      "submission queues go there (%u KiB used at most)\n", traddr, size / 1024, bir,
		      pc->cmb_pages * 4);
}

/* While the controller is disabled: let it recognize the CMB's addresses (CMBMSC). */
static void
pcie_cmb_enable(struct pcie_ctrlr *pc)
{
	uint64_t msc = pc->cmb_bus | PCIE_CMBMSC_CRE | PCIE_CMBMSC_CMSE;

	if (pc->cmb == NULL || !pc->cmb_msc) {
		return;
	}
	/* High half first: a controller may act on the low half's write. */
	pcie_reg_write4(pc, PCIE_REG_CMBMSC + 4, (uint32_t)(msc >> 32));
	pcie_reg_write4(pc, PCIE_REG_CMBMSC, (uint32_t)msc);
}

static void
pcie_cmb_unmap(struct pcie_ctrlr *pc)
{
	if (pc->cmb_bar_va != NULL && osp_pci_device_unmap_bar != NULL) {
		osp_pci_device_unmap_bar(pc->dev, pc->cmb_bar, pc->cmb_bar_va);
	}
	pc->cmb_bar_va = NULL;
	pc->cmb = NULL;
}

static bool
pcie_cmb_page_used(const struct pcie_ctrlr *pc, uint32_t i)
{
	return (pc->cmb_used[i / 64] >> (i % 64)) & 1u;
}

static void
pcie_cmb_mark(struct pcie_ctrlr *pc, uint32_t first, uint32_t n, bool used)
{
	uint32_t i;

	for (i = first; i < first + n; i++) {
		if (used) {
			pc->cmb_used[i / 64] |= 1ull << (i % 64);
		} else {
			pc->cmb_used[i / 64] &= ~(1ull << (i % 64));
		}
	}
}

/* First fit of an I/O SQ in the CMB; false when there is none or no room (host memory then). */
static bool
pcie_cmb_alloc_sq(struct pcie_qpair *pqp, size_t bytes)
{
	struct pcie_ctrlr *pc = pqp->pc;
	uint32_t n = (uint32_t)((bytes + PCIE_PAGE_SIZE - 1) / PCIE_PAGE_SIZE), first, run = 0, i;

	if (pc->cmb == NULL || pqp->q.id == 0 || n == 0 || n > pc->cmb_pages) {
		return false;
	}
	for (i = 0, first = 0; i < pc->cmb_pages; i++) {
		if (pcie_cmb_page_used(pc, i)) {
			run = 0;
			first = i + 1;
			continue;
		}
		if (++run == n) {
			pcie_cmb_mark(pc, first, n, true);
			pqp->sq = (struct osp_nvme_cmd *)(pc->cmb + (size_t)first * PCIE_PAGE_SIZE);
			pqp->sq_iova = pc->cmb_bus + (uint64_t)first * PCIE_PAGE_SIZE;
			pqp->sq_in_cmb = true;
			pqp->sq_cmb_page = first;
			pqp->sq_cmb_npages = n;
			return true;
		}
	}
	return false;
}

static void
pcie_qpair_free_mem(struct pcie_qpair *pqp)
{
	if (pqp->sq_in_cmb) {
		pcie_cmb_mark(pqp->pc, pqp->sq_cmb_page, pqp->sq_cmb_npages, false);
		pqp->sq_in_cmb = false;
	} else {
		osp_dma_free(pqp->sq);
	}
	osp_dma_free(pqp->cq);
	osp_dma_free(pqp->prp_lists);
	free(pqp->prp_iova);
	pqp->sq = NULL;
	pqp->cq = NULL;
	pqp->prp_lists = NULL;
	pqp->prp_iova = NULL;
}

static int
pcie_qpair_alloc_mem(struct pcie_qpair *pqp)
{
	uint32_t i, n = pqp->q.num_reqs;

	if (!pcie_cmb_alloc_sq(pqp, (size_t)pqp->entries * sizeof(struct osp_nvme_cmd))) {
		pqp->sq = pcie_dma_contig_zmalloc((size_t)pqp->entries * sizeof(struct osp_nvme_cmd),
					     &pqp->sq_iova);
	}
	pqp->cq = pcie_dma_contig_zmalloc((size_t)pqp->entries * sizeof(struct osp_nvme_cpl),
				     &pqp->cq_iova);
	pqp->prp_lists = osp_dma_zmalloc((size_t)n * PCIE_PRP_LIST_BYTES, PCIE_PAGE_SIZE, NULL);
	pqp->prp_iova = calloc(n, sizeof(*pqp->prp_iova));
	if (pqp->sq == NULL || pqp->cq == NULL || pqp->prp_lists == NULL || pqp->prp_iova == NULL) {
		pcie_qpair_free_mem(pqp);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		uint64_t len = PCIE_PRP_LIST_BYTES;

		pqp->prp_iova[i] = osp_vtophys(&pqp->prp_lists[(size_t)i * PCIE_PRP_LIST_ENTRIES], &len);
		if (pqp->prp_iova[i] == OSP_VTOPHYS_ERROR || len < PCIE_PRP_LIST_BYTES) {
			pcie_qpair_free_mem(pqp);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Empty queues, phase 1; the doorbell pointers for qid (checked against the BAR). */
static int
pcie_qpair_reset_rings(struct pcie_qpair *pqp)
{
	struct pcie_ctrlr *pc = pqp->pc;
	uint64_t sq_off = OSP_NVME_REG_DOORBELL_BASE + (uint64_t)(2u * pqp->q.id) * pc->db_stride;
	uint64_t cq_off = sq_off + pc->db_stride;

	if (cq_off + 4 > pc->regs_size) {
		OSP_ERRLOG("NVMe PCIe: queue %u's doorbells lie outside BAR0 (%" PRIu64 " bytes)\n",
			   pqp->q.id, pc->regs_size);
		return -EINVAL;
	}
	pqp->sq_tdbl = (volatile uint32_t *)(pc->regs + sq_off);
	pqp->cq_hdbl = (volatile uint32_t *)(pc->regs + cq_off);
	pqp->sq_tail = 0;
	pqp->sq_tail_rung = 0;
	pqp->cq_head = 0;
	pqp->phase = 1;
	pqp->empty_polls = 0;
	memset(pqp->cq, 0, (size_t)pqp->entries * sizeof(struct osp_nvme_cpl));
	pqp->sq_shadow = pqp->cq_shadow = NULL;
	pqp->sq_eventidx = pqp->cq_eventidx = NULL;
	pqp->admin_sq_shadow = pqp->admin_cq_shadow = NULL;
	return 0;
}

/* Point the queue at its shadow doorbell slots (after Doorbell Buffer Config). */
static void
pcie_qpair_use_shadow(struct pcie_qpair *pqp)
{
	struct pcie_ctrlr *pc = pqp->pc;
	size_t sq_idx = (size_t)(2u * pqp->q.id) * (pc->db_stride / 4);
	size_t cq_idx = sq_idx + pc->db_stride / 4;

	if (!pc->dbbuf_enabled || (cq_idx + 1) * 4 > PCIE_PAGE_SIZE) {
		return;
	}
	if (pqp->q.id == 0) {
		pqp->admin_sq_shadow = &pc->dbbuf[sq_idx];
		pqp->admin_cq_shadow = &pc->dbbuf[cq_idx];
		*pqp->admin_sq_shadow = pqp->sq_tail;
		*pqp->admin_cq_shadow = pqp->cq_head;
		return;
	}
	pc->dbbuf[sq_idx] = 0;
	pc->dbbuf[cq_idx] = 0;
	pc->eventidx[sq_idx] = 0;
	pc->eventidx[cq_idx] = 0;
	pqp->sq_shadow = &pc->dbbuf[sq_idx];
	pqp->cq_shadow = &pc->dbbuf[cq_idx];
	pqp->sq_eventidx = &pc->eventidx[sq_idx];
	pqp->cq_eventidx = &pc->eventidx[cq_idx];
}

/* ------------------------------------------------------------ attach */

struct pcie_attach_ctx {
	struct osp_pci_device *dev;
};

static int
pcie_attach_cb(void *ctx, struct osp_pci_device *dev)
{
	((struct pcie_attach_ctx *)ctx)->dev = dev;
	return 0;
}

static int
pcie_parse_bdf(const char *s, struct osp_pci_addr *a)
{
	unsigned dom, bus, dev, fn;
	char tail;

	if (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4 || bus > 0xff ||
	    dev > 0x1f || fn > 7) {
		return -EINVAL;
	}
	a->domain = dom;
	a->bus = (uint8_t)bus;
	a->dev = (uint8_t)dev;
	a->func = (uint8_t)fn;
	return 0;
}

static void
pcie_detach(struct pcie_ctrlr *pc)
{
	if (pc->dev == NULL) {
		return;
	}
	pcie_cmb_unmap(pc);
	if (pc->regs != NULL && osp_pci_device_unmap_bar != NULL) {
		osp_pci_device_unmap_bar(pc->dev, 0, (void *)(uintptr_t)pc->regs);
	}
	pc->regs = NULL;
	if (osp_pci_device_detach != NULL) {
		osp_pci_device_detach(pc->dev);
	}
	pc->dev = NULL;
}

/* Attach the device at the controller's traddr, map BAR0, enable bus mastering. */
static int
pcie_attach(struct pcie_ctrlr *pc)
{
	struct osp_nvme_ctrlr *ctrlr = pc->ctrlr;
	struct pcie_attach_ctx actx = { NULL };
	struct osp_pci_addr addr;
	void *bar = NULL;
	uint64_t phys, size;
	uint16_t cmd;
	int rc;

	if (osp_pci_device_attach == NULL || osp_pci_device_map_bar == NULL) {
		OSP_ERRLOG("NVMe PCIe: this build's env has no PCI support\n");
		return -ENOTSUP;
	}
	if (pcie_parse_bdf(ctrlr->trid.traddr, &addr) != 0) {
		OSP_ERRLOG("NVMe PCIe: '%s' is not a PCI address\n", ctrlr->trid.traddr);
		return -EINVAL;
	}
	rc = osp_pci_device_attach(&addr, OSP_PCI_CLASS_NVME, pcie_attach_cb, &actx);
	if (rc == 0 && actx.dev == NULL) {
		rc = -ENODEV;
	}
	if (rc != 0) {
		OSP_ERRLOG("NVMe PCIe: cannot attach %s: %s (is it bound to vfio-pci or "
			   "uio_pci_generic, and the env started with PCI enabled?)\n",
			   ctrlr->trid.traddr, strerror(-rc));
		return rc;
	}
	pc->dev = actx.dev;
	rc = osp_pci_device_map_bar(pc->dev, 0, &bar, &phys, &size);
	if (rc != 0 || bar == NULL || size < OSP_NVME_REG_DOORBELL_BASE + 8) {
		OSP_ERRLOG("NVMe PCIe: %s: BAR0 cannot be mapped (%d) or is too small\n",
			   ctrlr->trid.traddr, rc);
		pcie_detach(pc);
		return rc != 0 ? rc : -EINVAL;
	}
	pc->regs = bar;
	pc->regs_size = size;
	/* vfio-pci clears Bus Master Enable; DMA needs it (and memory space). */
	if (osp_pci_device_cfg_read != NULL && osp_pci_device_cfg_write != NULL &&
	    osp_pci_device_cfg_read(pc->dev, &cmd, 2, 0x04) == 0) {
		uint16_t want = cmd | 0x0006u;

		if (want != cmd) {
			osp_pci_device_cfg_write(pc->dev, &want, 2, 0x04);
		}
	}
	if (osp_pci_device_set_remove_cb != NULL) {
		osp_pci_device_set_remove_cb(pc->dev, pcie_remove_cb, pc);
	}
	pc->cap.raw = pcie_reg_read8(pc, OSP_NVME_REG_CAP);
	if (pc->cap.raw == UINT64_MAX) {
		pcie_mark_removed(pc);
		return -ENODEV;
	}
	if (pc->cap.bits.mpsmin > 0) {
		OSP_ERRLOG("NVMe PCIe: %s needs pages of %u bytes (only 4 KiB supported)\n",
			   ctrlr->trid.traddr, 4096u << pc->cap.bits.mpsmin);
		return -ENOTSUP;
	}
	pc->db_stride = 4u << pc->cap.bits.dstrd;
	ctrlr->cap = pc->cap;
	ctrlr->vs.raw = pcie_reg_read4(pc, OSP_NVME_REG_VS);
	pcie_cmb_probe(pc);
	return 0;
}

/* ------------------------------------------------------------ ops: controller */

static int
pcie_ctrlr_check(const struct osp_nvme_transport_id *trid, const struct osp_nvme_ctrlr_opts *opts)
{
	struct osp_pci_addr a;

	if (pcie_parse_bdf(trid->traddr, &a) != 0) {
		OSP_ERRLOG("NVMe PCIe needs traddr as a PCI address (0000:00:04.0)\n");
		return -EINVAL;
	}
	return 0;
}

static uint32_t
pcie_ctrlr_max_xfer_size(struct osp_nvme_ctrlr *ctrlr)
{
	return PCIE_MAX_XFER_SIZE;
}

static int
pcie_ctrlr_init_cmd(struct osp_nvme_ctrlr *ctrlr, struct osp_nvme_cmd *cmd)
{
	struct pcie_ctrlr *pc = pctrlr_of(ctrlr);

	pc->dbbuf_enabled = false;
	if (!(ctrlr->cdata.oacs & (1u << 8))) {
		return 0; /* no Doorbell Buffer Config */
	}
	if (pc->dbbuf == NULL) {
		pc->dbbuf = pcie_dma_contig_zmalloc(PCIE_PAGE_SIZE, &pc->dbbuf_iova);
		pc->eventidx = pcie_dma_contig_zmalloc(PCIE_PAGE_SIZE, &pc->eventidx_iova);
		if (pc->dbbuf == NULL || pc->eventidx == NULL) {
			osp_dma_free(pc->dbbuf);
			osp_dma_free(pc->eventidx);
			pc->dbbuf = NULL;
			pc->eventidx = NULL;
			return 0;
		}
	}
	memset(pc->dbbuf, 0, PCIE_PAGE_SIZE);
	memset(pc->eventidx, 0, PCIE_PAGE_SIZE);
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = OSP_NVME_OPC_DOORBELL_BUFFER_CONFIG;
	cmd->prp1 = pc->dbbuf_iova;
	cmd->prp2 = pc->eventidx_iova;
	return 1;
}

static void
pcie_ctrlr_init_cmd_done(struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_cpl *cpl)
{
	struct pcie_ctrlr *pc = pctrlr_of(ctrlr);

	if (osp_nvme_cpl_is_error(cpl)) {
		return;
	}
	pc->dbbuf_enabled = true;
	pcie_qpair_use_shadow(pqp_of(ctrlr->adminq));
}

/* ------------------------------------------------------------ ops: qpairs */

static struct nvme_qpair *
pcie_qpair_create(struct osp_nvme_ctrlr *ctrlr, uint16_t qid, uint32_t qsize)
{
	struct pcie_qpair *pqp;
	struct pcie_admin_qpair *apq = NULL;
	int rc;

	if (qid == 0) {
		apq = calloc(1, sizeof(*apq));
		if (apq == NULL) {
			return NULL;
		}
		pqp = &apq->qp;
		pqp->pc = &apq->pc;
		apq->pc.ctrlr = ctrlr;
		/* CAP bounds the admin queue: the device is needed now. */
		rc = pcie_attach(&apq->pc);
		if (rc != 0) {
			pcie_detach(&apq->pc);
			free(apq);
			errno = -rc;
			return NULL;
		}
		qsize = OSP_MIN(qsize, OSP_MIN((uint32_t)apq->pc.cap.bits.mqes + 1,
					       PCIE_ADMIN_QUEUE_MAX));
	} else {
		pqp = calloc(1, sizeof(*pqp));
		if (pqp == NULL) {
			return NULL;
		}
		pqp->pc = pctrlr_of(ctrlr);
	}
	pqp->entries = qsize;
	rc = nvme_qpair_init(&pqp->q, ctrlr, ctrlr->ops, qid, qsize);
	if (rc == 0) {
		rc = pcie_qpair_alloc_mem(pqp);
		if (rc != 0) {
			nvme_qpair_fini(&pqp->q);
		}
	}
	if (rc != 0) {
		if (apq != NULL) {
			pcie_detach(&apq->pc);
		}
		free(apq != NULL ? (void *)apq : (void *)pqp);
		errno = -rc;
		return NULL;
	}
	return &pqp->q;
}

/*
 * Detach: a normal shutdown notification (CC.SHN, wait for CSTS.SHST
 * complete, bounded by RTD3E or 10 s when the controller gives none), so
 * the SSD flushes its caches as for a clean power off; then CC.EN 0, so
 * the next owner finds it reset. Nothing when the device is gone.
 */
static void
pcie_shutdown(struct pcie_ctrlr *pc)
{
	union osp_nvme_cc_register cc;
	union osp_nvme_csts_register csts;
	uint64_t wait_us, deadline;

	if (pc->regs == NULL || __atomic_load_n(&pc->removed, __ATOMIC_ACQUIRE)) {
		return;
	}
	cc.raw = pcie_reg_read4(pc, OSP_NVME_REG_CC);
	if (cc.raw == 0xffffffffu) {
		pcie_mark_removed(pc);
		return;
	}
	if (!cc.bits.en) {
		return;
	}
	if (pcie_check_csts(pc, &csts) && csts.bits.rdy && !csts.bits.cfs) {
		wait_us = pc->ctrlr->cdata.rtd3e != 0 ? pc->ctrlr->cdata.rtd3e : 10000000u;
		wait_us = OSP_MIN(OSP_MAX(wait_us, 100000u), 10000000u);
		cc.bits.shn = OSP_NVME_SHN_NORMAL;
		pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
		deadline = nvme_now_us() + wait_us;
		while (pcie_check_csts(pc, &csts) && csts.bits.shst != OSP_NVME_SHST_COMPLETE) {
			if (nvme_now_us() > deadline) {
				OSP_WARNLOG("NVMe PCIe %s: shutdown not complete after %" PRIu64
					    " ms: disabling\n", pc->ctrlr->trid.traddr, wait_us / 1000);
				break;
			}
			nvme_poll_pause();
		}
		if (__atomic_load_n(&pc->removed, __ATOMIC_ACQUIRE)) {
			return;
		}
		cc.bits.shn = OSP_NVME_SHN_NONE;
	}
	cc.bits.en = 0;
	pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
}

static void
pcie_qpair_destroy(struct nvme_qpair *q)
{
	struct pcie_qpair *pqp = pqp_of(q);

	if (q->id == 0) {
		/* Before the queue memory goes: the controller may still write to it. */
		pcie_shutdown(pqp->pc);
	}
	pcie_qpair_free_mem(pqp);
	nvme_qpair_fini(q);
	if (q->id == 0) {
		struct pcie_admin_qpair *apq = (struct pcie_admin_qpair *)pqp;

		osp_dma_free(apq->pc.dbbuf);
		osp_dma_free(apq->pc.eventidx);
		pcie_detach(&apq->pc);
		free(apq);
	} else {
		free(pqp);
	}
}

static uint64_t
pcie_cap_timeout_us(struct pcie_ctrlr *pc)
{
	return (uint64_t)OSP_MAX(pc->cap.bits.to, 1u) * 500u * 1000u;
}

static int
pcie_admin_connect(struct pcie_qpair *pqp)
{
	struct pcie_ctrlr *pc = pqp->pc;
	union osp_nvme_cc_register cc;
	union osp_nvme_csts_register csts;

	if (pc->dev == NULL || pc->regs == NULL) {
		return -ENODEV;
	}
	if (!pcie_check_csts(pc, &csts)) {
		return -ENODEV;
	}
	/* No doorbell and no submission until the rings are set up again. */
	pqp->hw_ready = false;
	pcie_set_fatal(pc, false);
	pc->dbbuf_enabled = false;
	cc.raw = pcie_reg_read4(pc, OSP_NVME_REG_CC);
	pc->init_deadline_us = nvme_now_us() + pcie_cap_timeout_us(pc);
	if (cc.bits.en && !csts.bits.rdy) {
		/* Enabling is in progress: clearing EN now is undefined (§3.5.1). */
		pc->init_state = PCIE_INIT_WAIT_RDY_BEFORE_DISABLE;
		return 0;
	}
	if (cc.bits.en) {
		cc.bits.en = 0;
		pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
	}
	pc->hw_gen++;
	pc->init_state = PCIE_INIT_WAIT_DISABLED;
	return 0;
}

static int
pcie_admin_connect_poll(struct pcie_qpair *pqp)
{
	struct pcie_ctrlr *pc = pqp->pc;
	struct osp_nvme_ctrlr *ctrlr = pqp->q.ctrlr;
	union osp_nvme_cc_register cc;
	union osp_nvme_csts_register csts;
	union osp_nvme_aqa_register aqa;
	int rc;

	for (;;) {
		if (!pcie_check_csts(pc, &csts)) {
			nvme_set_connect_error(&pqp->q.connect_err, -ENODEV, "PCIe controller enable",
					       NULL);
			return -ENODEV;
		}
		switch (pc->init_state) {
		case PCIE_INIT_WAIT_RDY_BEFORE_DISABLE:
			if (!csts.bits.rdy && !csts.bits.cfs) {
				break;
			}
			cc.raw = pcie_reg_read4(pc, OSP_NVME_REG_CC);
			cc.bits.en = 0;
			pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
			pc->hw_gen++;
			pc->init_state = PCIE_INIT_WAIT_DISABLED;
			pc->init_deadline_us = nvme_now_us() + pcie_cap_timeout_us(pc);
			continue;
		case PCIE_INIT_WAIT_DISABLED:
			if (csts.bits.rdy) {
				break;
			}
			/*
			 * Disabled: the rings are emptied only now (a running controller
			 * could still have posted into them), then the admin queue is
			 * programmed and the controller enabled (§3.5.1 steps 2-5).
			 */
			/* No DMA for the queues of before from here on. */
			__atomic_store_n(&pc->quiesced_gen, pc->hw_gen, __ATOMIC_RELEASE);
			rc = pcie_qpair_reset_rings(pqp);
			if (rc != 0) {
				return rc;
			}
			aqa.raw = 0;
			aqa.bits.asqs = pqp->entries - 1;
			aqa.bits.acqs = pqp->entries - 1;
			pcie_reg_write4(pc, OSP_NVME_REG_AQA, aqa.raw);
			pcie_reg_write8(pc, OSP_NVME_REG_ASQ, pqp->sq_iova);
			pcie_reg_write8(pc, OSP_NVME_REG_ACQ, pqp->cq_iova);
			pcie_cmb_enable(pc);
			cc.raw = 0;
			cc.bits.iosqes = 6; /* 64-byte SQEs */
			cc.bits.iocqes = 4; /* 16-byte CQEs */
			cc.bits.mps = 0;    /* 4 KiB */
			cc.bits.ams = 0;    /* round robin */
			/* CAP.CSS bit 6: I/O command sets (the NVM set among them); else NVM. */
			cc.bits.css = (pc->cap.bits.css & (1u << 6)) ? 0x6 : 0x0;
			pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
			pcie_wmb();
			cc.bits.en = 1;
			pcie_reg_write4(pc, OSP_NVME_REG_CC, cc.raw);
			pc->init_state = PCIE_INIT_WAIT_READY;
			pc->init_deadline_us = nvme_now_us() + pcie_cap_timeout_us(pc);
			continue;
		case PCIE_INIT_WAIT_READY:
			if (csts.bits.cfs) {
				OSP_ERRLOG("NVMe PCIe %s: controller fatal status while enabling\n",
					   ctrlr->trid.traddr);
				nvme_set_connect_error(&pqp->q.connect_err, -EIO,
						       "PCIe controller enable (CSTS.CFS)", NULL);
				return -EIO;
			}
			if (!csts.bits.rdy) {
				break;
			}
			pc->init_state = PCIE_INIT_READY;
			pqp->hw_ready = true;
			pqp->hw_gen = pc->hw_gen;
			return 0;
		case PCIE_INIT_READY:
			return 0;
		case PCIE_INIT_IDLE:
		default:
			return -ENXIO;
		}
		/* Still waiting. */
		if (nvme_now_us() > pc->init_deadline_us) {
			OSP_ERRLOG("NVMe PCIe %s: CSTS.RDY did not reach %d within CAP.TO (%u ms)\n",
				   ctrlr->trid.traddr, pc->init_state == PCIE_INIT_WAIT_READY,
				   (unsigned)(pcie_cap_timeout_us(pc) / 1000));
			nvme_set_connect_error(&pqp->q.connect_err, -ETIMEDOUT,
					       pc->init_state == PCIE_INIT_WAIT_READY ?
					       "PCIe controller enable (wait CSTS.RDY 1)" :
					       "PCIe controller disable (wait CSTS.RDY 0)", NULL);
			return -ETIMEDOUT;
		}
		return -EAGAIN;
	}
}

static void
pcie_io_op_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct pcie_qpair *pqp = arg;

	pqp->op_cpl = *cpl;
	__atomic_store_n(&pqp->op_done, true, __ATOMIC_RELEASE);
}

static int
pcie_io_op_submit(struct pcie_qpair *pqp, uint8_t opc, uint32_t cdw10, uint32_t cdw11, uint64_t prp1)
{
	struct osp_nvme_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.cdw10 = cdw10;
	cmd.cdw11 = cdw11;
	cmd.prp1 = prp1;
	pqp->op_done = false;
	rc = osp_nvme_ctrlr_cmd_admin_raw(pqp->q.ctrlr, &cmd, NULL, 0, pcie_io_op_cb, pqp);
	pqp->op_outstanding = rc == 0;
	return rc;
}

/*
 * Progress of the outstanding admin command: -EAGAIN, 0 done (op_cpl), -ENXIO.
 * poll_admin: process the admin queue from this thread. An async qpair (a
 * reactor's, bdev_nvme) does not: the admin poller completes its commands,
 * so admin callbacks (AERs, namespace changes) keep running on the admin
 * thread. A blocking connect or a teardown polls it itself.
 */
static int
pcie_io_op_poll_admin(struct pcie_qpair *pqp, bool poll_admin)
{
	if (!__atomic_load_n(&pqp->op_done, __ATOMIC_ACQUIRE)) {
		if (!poll_admin) {
			if (osp_nvme_ctrlr_is_failed(pqp->q.ctrlr)) {
				return -ENXIO;
			}
			return -EAGAIN;
		}
		if (osp_nvme_ctrlr_process_admin_completions(pqp->q.ctrlr) < 0 &&
		    !__atomic_load_n(&pqp->op_done, __ATOMIC_ACQUIRE)) {
			return -ENXIO;
		}
		if (!__atomic_load_n(&pqp->op_done, __ATOMIC_ACQUIRE)) {
			return -EAGAIN;
		}
	}
	pqp->op_outstanding = false;
	return 0;
}

static int
pcie_io_op_poll(struct pcie_qpair *pqp)
{
	return pcie_io_op_poll_admin(pqp, !pqp->q.async_mode);
}

/*
 * Wait (blocking, bounded by the admin timeout) for the outstanding admin
 * command of this qpair. If it does not complete, the admin queue is failed:
 * that completes it (aborted), so its callback never runs after we return.
 */
static int
pcie_io_op_wait(struct pcie_qpair *pqp)
{
	struct osp_nvme_ctrlr *ctrlr = pqp->q.ctrlr;
	uint64_t deadline = nvme_now_us() + (uint64_t)ctrlr->opts.admin_timeout_ms * 1000;
	int rc;

	while (pqp->op_outstanding) {
		rc = pcie_io_op_poll_admin(pqp, true);
		if (rc == 0) {
			return 0;
		}
		if (rc == -EAGAIN && nvme_now_us() <= deadline) {
			nvme_poll_pause();
			continue;
		}
		OSP_ERRLOG("NVMe PCIe %s: queue %u create/delete command did not complete: failing "
			   "the controller\n", ctrlr->trid.traddr, pqp->q.id);
		nvme_ctrlr_lock(ctrlr);
		if (ctrlr->adminq->state != NVME_QPAIR_FAILED &&
		    ctrlr->adminq->state != NVME_QPAIR_DISCONNECTED) {
			nvme_qpair_disconnect(ctrlr->adminq, NVME_QPAIR_FAILED);
		}
		nvme_set_connect_error(&ctrlr->err, -ETIMEDOUT, "PCIe queue command", NULL);
		ctrlr->state = NVME_CTRLR_STATE_FAILED;
		nvme_ctrlr_unlock(ctrlr);
		pqp->op_outstanding = false;
		return -ETIMEDOUT;
	}
	return 0;
}

static int
pcie_io_connect(struct pcie_qpair *pqp)
{
	struct pcie_ctrlr *pc = pqp->pc;
	int rc;

	if (pcie_dead(pc)) {
		return -ENXIO;
	}
	if (pqp->op_outstanding && pcie_io_op_wait(pqp) != 0) {
		return -ENXIO;
	}
	rc = pcie_qpair_reset_rings(pqp);
	if (rc != 0) {
		return rc;
	}
	pcie_qpair_use_shadow(pqp);
	pqp->hw_ready = false;
	pqp->hw_gen = pc->hw_gen;
	/* Create I/O CQ: QSIZE 0's based, QID; PC=1, no interrupts (IEN=0). */
	rc = pcie_io_op_submit(pqp, OSP_NVME_OPC_CREATE_IO_CQ,
			  ((pqp->entries - 1) << 16) | pqp->q.id, 0x1, pqp->cq_iova);
	if (rc != 0) {
		return rc;
	}
	pqp->io_state = PCIE_IO_CREATING_CQ;
	return 0;
}

static int
pcie_io_connect_poll(struct pcie_qpair *pqp)
{
	const char *step;
	int rc;

	if (pcie_dead(pqp->pc)) {
		return -ENXIO;
	}
	rc = pcie_io_op_poll(pqp);
	if (rc != 0) {
		return rc;
	}
	step = pqp->io_state == PCIE_IO_CREATING_CQ ? "create I/O completion queue" :
	       "create I/O submission queue";
	if (osp_nvme_cpl_is_error(&pqp->op_cpl)) {
		OSP_ERRLOG("NVMe PCIe %s: %s %u failed: %s\n", pqp->q.ctrlr->trid.traddr, step,
			   pqp->q.id, osp_nvme_cpl_status_string(&pqp->op_cpl));
		nvme_set_connect_error(&pqp->q.connect_err, -EIO, step, &pqp->op_cpl);
		if (pqp->io_state == PCIE_IO_CREATING_SQ) {
			/* The CQ exists: delete it so the QID can be used again. */
			if (pcie_io_op_submit(pqp, OSP_NVME_OPC_DELETE_IO_CQ, pqp->q.id, 0, 0) == 0) {
				pcie_io_op_wait(pqp);
			}
		}
		pqp->io_state = PCIE_IO_IDLE;
		return -EIO;
	}
	if (pqp->io_state == PCIE_IO_CREATING_CQ) {
		/* Create I/O SQ: CQID in CDW11 31:16, PC=1, priority unused (round robin). */
		rc = pcie_io_op_submit(pqp, OSP_NVME_OPC_CREATE_IO_SQ,
				  ((pqp->entries - 1) << 16) | pqp->q.id,
				  ((uint32_t)pqp->q.id << 16) | 0x1, pqp->sq_iova);
		if (rc != 0) {
			nvme_set_connect_error(&pqp->q.connect_err, rc, step, NULL);
			return rc;
		}
		pqp->io_state = PCIE_IO_CREATING_SQ;
		return -EAGAIN;
	}
	pqp->io_state = PCIE_IO_READY;
	pqp->hw_ready = true;
	return 0;
}

static int
pcie_qpair_connect(struct nvme_qpair *q)
{
	return q->id == 0 ? pcie_admin_connect(pqp_of(q)) : pcie_io_connect(pqp_of(q));
}

static int
pcie_qpair_connect_poll(struct nvme_qpair *q)
{
	return q->id == 0 ? pcie_admin_connect_poll(pqp_of(q)) : pcie_io_connect_poll(pqp_of(q));
}

static void
pcie_qpair_disconnect(struct nvme_qpair *q)
{
	struct pcie_qpair *pqp = pqp_of(q);
	struct pcie_ctrlr *pc = pqp->pc;
	struct osp_nvme_ctrlr *ctrlr = q->ctrlr;

	if (q->id == 0) {
		/*
		 * Reset or failure. The controller stays enabled here: the next
		 * connect (a reset) disables it first, which deletes every I/O
		 * queue; a detach shuts it down (pcie_shutdown). Queues of this
		 * generation are stale from now on.
		 */
		pc->hw_gen++;
		pc->dbbuf_enabled = false;
		pc->init_state = PCIE_INIT_IDLE;
		pqp->hw_ready = false;
		/* The core aborts the outstanding commands next: their bounce buffers go now. */
		for (uint32_t i = 0; i < q->num_reqs; i++) {
			if (q->reqs[i].active && preq_of(&q->reqs[i])->bounce != NULL) {
				pcie_admin_data_done(&q->reqs[i], NULL);
			}
		}
		return;
	}
	/* A create/delete in flight must end before the queue memory can go. */
	if (pqp->op_outstanding) {
		pcie_io_op_wait(pqp);
		if (pqp->io_state == PCIE_IO_CREATING_SQ || pqp->io_state == PCIE_IO_CREATING_CQ) {
			/* Whatever it created is deleted below if the controller still runs. */
			pqp->hw_ready = !osp_nvme_cpl_is_error(&pqp->op_cpl) &&
					pqp->io_state == PCIE_IO_CREATING_SQ;
		}
	}
	if (pqp->io_state != PCIE_IO_IDLE && pqp->hw_gen == pc->hw_gen && !pcie_dead(pc) &&
	    !ctrlr->resetting && ctrlr->state == NVME_CTRLR_STATE_READY) {
		/* Delete I/O SQ (aborts what it holds), then its CQ. */
		if (pqp->io_state == PCIE_IO_READY || pqp->hw_ready) {
			if (pcie_io_op_submit(pqp, OSP_NVME_OPC_DELETE_IO_SQ, q->id, 0, 0) == 0) {
				pcie_io_op_wait(pqp);
			}
		}
		if (!pcie_dead(pc) && ctrlr->state == NVME_CTRLR_STATE_READY &&
		    pcie_io_op_submit(pqp, OSP_NVME_OPC_DELETE_IO_CQ, q->id, 0, 0) == 0) {
			pcie_io_op_wait(pqp);
		}
	}
	pqp->io_state = PCIE_IO_IDLE;
	pqp->hw_ready = false;
}

/* ------------------------------------------------------------ submission */

/*
 * PRPs (Base 2.0 §4.1.1): PRP1 is the first byte (any dword offset); every
 * later entry is a page start. So each iovec after the first must start on a
 * page, and each before the last must end on one. Two pages: PRP2 is the
 * second page; more: PRP2 points at the request's PRP list.
 */
/*
 * IO address of [va, va + *len): the page cache first (identity mappings
 * only), else the env. *len is clamped to what is contiguous.
 */
static inline uint64_t
pcie_vtophys(struct pcie_qpair *pqp, uintptr_t va, uint64_t *len)
{
	uint64_t vpn = va >> 12;
	uint64_t *slot = &pqp->va_cache[vpn % PCIE_VA_CACHE_SIZE];
	uint64_t pa;

	if (*slot == vpn && vpn != 0) {
		/* Contiguous to the end of this page at least. */
		*len = OSP_MIN(*len, (uint64_t)PCIE_PAGE_SIZE - (va & (PCIE_PAGE_SIZE - 1)));
		return va;
	}
	pa = osp_vtophys((const void *)va, len);
	if (pa == (uint64_t)va) {
		*slot = vpn;
	}
	return pa;
}

static int
pcie_build_prps(struct pcie_qpair *pqp, uint16_t cid, const struct iovec *iov, int iovcnt,
		uint32_t payload_size, struct osp_nvme_cmd *sqe)
{
	uint64_t *list = &pqp->prp_lists[(size_t)cid * PCIE_PRP_LIST_ENTRIES];
	uint32_t remaining = payload_size, nent = 0;
	uint64_t prp1 = 0;
	int i;


	for (i = 0; i < iovcnt && remaining > 0; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t len = OSP_MIN((uint64_t)iov[i].iov_len, (uint64_t)remaining);

		if (len == 0) {
			continue;
		}
		if (nent > 0 && (va & (PCIE_PAGE_SIZE - 1)) != 0) {
			return -EINVAL; /* a hole in the middle: PRPs cannot express it */
		}
		if ((va & 3) != 0) {
			return -EINVAL; /* PRP1 must be dword aligned */
		}
		remaining -= (uint32_t)len;
		if (remaining > 0 && ((va + len) & (PCIE_PAGE_SIZE - 1)) != 0) {
			return -EINVAL;
		}
		while (len > 0) {
			uint64_t seg = len;
			uint64_t pa = pcie_vtophys(pqp, va, &seg);
			uint64_t off, chunk;

			if (pa == OSP_VTOPHYS_ERROR || seg == 0) {
				return -EFAULT;
			}
			seg = OSP_MIN(seg, len);
			/* One entry per page touched by [pa, pa + seg). */
			off = pa & (PCIE_PAGE_SIZE - 1);
			while (seg > 0) {
				chunk = OSP_MIN(seg, (uint64_t)PCIE_PAGE_SIZE - off);
				if (nent == 0) {
					prp1 = pa;
				} else {
					if (nent > PCIE_PRP_LIST_ENTRIES) {
						return -EINVAL;
					}
					list[nent - 1] = pa;
				}
				nent++;
				pa += chunk;
				va += chunk;
				seg -= chunk;
				len -= chunk;
				off = 0;
			}
		}
	}
	if (remaining > 0 || nent == 0) {
		return -EINVAL;
	}
	sqe->prp1 = prp1;
	if (nent == 1) {
		sqe->prp2 = 0;
	} else if (nent == 2) {
		sqe->prp2 = list[0];
	} else {
		sqe->prp2 = pqp->prp_iova[cid];
	}
	return 0;
}

static int
pcie_admin_data(struct pcie_qpair *pqp, struct nvme_request *req, struct osp_nvme_cmd *sqe)
{
	struct pcie_req_ctx *ctx = preq_of(req);
	struct iovec iov;
	int rc;

	ctx->bounce = osp_dma_zmalloc(req->payload_size, PCIE_PAGE_SIZE, NULL);
	if (ctx->bounce == NULL) {
		return -ENOMEM;
	}
	if (req->host_to_ctrlr) {
		osp_iov_copy_to_buf(ctx->bounce, req->payload_size, req->iov, req->iovcnt, 0);
	}
	iov.iov_base = ctx->bounce;
	iov.iov_len = req->payload_size;
	rc = pcie_build_prps(pqp, req->cmd.cid, &iov, 1, req->payload_size, sqe);
	if (rc != 0) {
		osp_dma_free(ctx->bounce);
		ctx->bounce = NULL;
	}
	return rc;
}

static void
pcie_admin_data_done(struct nvme_request *req, const struct osp_nvme_cpl *cpl)
{
	struct pcie_req_ctx *ctx = preq_of(req);

	if (cpl != NULL && !req->host_to_ctrlr && !osp_nvme_cpl_is_error(cpl)) {
		osp_iov_copy_from_buf(ctx->bounce, req->payload_size, (struct iovec *)req->iov,
				      req->iovcnt, 0);
	}
	osp_dma_free(ctx->bounce);
	ctx->bounce = NULL;
}

/*
 * SGLs (Base 2.0 §4.1.2), for I/O payloads PRPs cannot express (a buffer
 * after the first that does not start on a page, ...), when Identify SGLS
 * says the controller takes them. One segment: a Data Block descriptor in
 * the command; more: SGL1 is a Last Segment descriptor pointing at the
 * request's list (the same 512-byte slot as its PRP list: 32 descriptors),
 * physically adjacent pieces merged.
 */
#define PCIE_SGL_MAX_DESCS (PCIE_PRP_LIST_BYTES / sizeof(struct osp_nvme_sgl_descriptor))

static int
pcie_build_sgl(struct pcie_qpair *pqp, uint16_t cid, const struct iovec *iov, int iovcnt,
	       uint32_t payload_size, struct osp_nvme_cmd *sqe)
{
	struct osp_nvme_sgl_descriptor *list =
		(struct osp_nvme_sgl_descriptor *)&pqp->prp_lists[(size_t)cid * PCIE_PRP_LIST_ENTRIES];
	struct osp_nvme_sgl_descriptor sgl1;
	bool dword = (pqp->q.ctrlr->cdata.sgls & OSP_NVME_CTRLR_SGLS_SUPPORTED_MASK) == 2;
	uint32_t remaining = payload_size, n = 0;
	int i;

	for (i = 0; i < iovcnt && remaining > 0; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t len = OSP_MIN((uint64_t)iov[i].iov_len, (uint64_t)remaining);

		if (len == 0) {
			continue;
		}
		if (dword && ((va & 3) != 0 || (len & 3) != 0)) {
			return -EINVAL;
		}
		remaining -= (uint32_t)len;
		while (len > 0) {
			uint64_t seg = len;
			uint64_t pa = pcie_vtophys(pqp, va, &seg);

			if (pa == OSP_VTOPHYS_ERROR || seg == 0) {
				return -EFAULT;
			}
			seg = OSP_MIN(seg, len);
			if (n > 0 && list[n - 1].address + list[n - 1].unkeyed.length == pa) {
				list[n - 1].unkeyed.length += (uint32_t)seg;
			} else {
				if (n == PCIE_SGL_MAX_DESCS) {
					return -EINVAL;
				}
				memset(&list[n], 0, sizeof(list[n]));
				list[n].address = pa;
				list[n].unkeyed.length = (uint32_t)seg;
				list[n].unkeyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
				list[n].unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_ADDRESS;
				n++;
			}
			va += seg;
			len -= seg;
		}
	}
	if (remaining > 0 || n == 0) {
		return -EINVAL;
	}
	if (n == 1) {
		sgl1 = list[0];
	} else {
		memset(&sgl1, 0, sizeof(sgl1));
		sgl1.address = pqp->prp_iova[cid];
		sgl1.unkeyed.length = n * (uint32_t)sizeof(*list);
		sgl1.unkeyed.type = OSP_NVME_SGL_TYPE_LAST_SEGMENT;
		sgl1.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_ADDRESS;
	}
	/* SGL1 occupies the DPTR field, bytes 24-39 of the SQE. */
	memcpy((uint8_t *)sqe + offsetof(struct osp_nvme_cmd, prp1), &sgl1, sizeof(sgl1));
	sqe->psdt = OSP_NVME_PSDT_SGL_MPTR_CONTIG;
	return 0;
}

/*
 * A payload the env cannot translate (not its DMA memory: a heap or mmap
 * buffer, e.g. buffer pools that did not fit in the hugepages): the I/O is
 * refused (-EFAULT), never handed to the device. Said once per qpair, with
 * the fix, since every such I/O would repeat it.
 */
static __attribute__((noinline, cold)) int
pcie_not_dma(struct pcie_qpair *pqp, uintptr_t va)
{
	if (!pqp->not_dma_logged) {
		pqp->not_dma_logged = true;
		OSP_ERRLOG("NVMe PCIe %s: queue %u: I/O buffer %p is not DMA memory of the env "
			   "(no IO address): I/O refused (-EFAULT); buffers for a PCIe device must "
			   "come from osp_dma_malloc(): give the process enough hugepages (-s / "
			   "HUGEMEM) for its buffer pools (logged once per queue)\n",
			   pqp->q.ctrlr->trid.traddr, pqp->q.id, (void *)va);
	}
	return -EFAULT;
}

static int
pcie_qpair_submit_request(struct nvme_qpair *q, struct nvme_request *req)
{
	struct pcie_qpair *pqp = pqp_of(q);
	struct osp_nvme_cmd *sqe;
	uint16_t tail = pqp->sq_tail;
	int rc;

	if (!pqp->hw_ready || pcie_dead(pqp->pc)) {
		return -ENXIO;
	}
	sqe = &pqp->sq[tail];
	*sqe = req->cmd;
	sqe->psdt = OSP_NVME_PSDT_PRP;
	if (req->payload_size > 0) {
		uintptr_t va = (uintptr_t)req->iov[0].iov_base;

		if (req->iovcnt == 1 && q->id != 0 && (va & 3) == 0 &&
		    (va & (PCIE_PAGE_SIZE - 1)) + req->payload_size <= PCIE_PAGE_SIZE) {
			/* The common case: one buffer within one page, PRP1 alone. */
			uint64_t seg = req->payload_size;
			uint64_t pa = pcie_vtophys(pqp, va, &seg);

			if (pa == OSP_VTOPHYS_ERROR || seg < req->payload_size) {
				return pcie_not_dma(pqp, va);
			}
			sqe->prp1 = pa;
			sqe->prp2 = 0;
		} else {
			rc = q->id == 0 ? pcie_admin_data(pqp, req, sqe) :
			     pcie_build_prps(pqp, req->cmd.cid, req->iov, req->iovcnt,
					     req->payload_size, sqe);
			if (rc == -EINVAL && q->id != 0 &&
			    (q->ctrlr->cdata.sgls & OSP_NVME_CTRLR_SGLS_SUPPORTED_MASK) != 0) {
				/* Not expressible as PRPs: the controller takes SGLs. */
				rc = pcie_build_sgl(pqp, req->cmd.cid, req->iov, req->iovcnt,
						    req->payload_size, sqe);
			}
			if (rc == -EFAULT) {
				return pcie_not_dma(pqp, va);
			}
			if (rc != 0) {
				return rc; /* the slot is reused by the next command */
			}
		}
	}
	if (++tail == pqp->entries) {
		tail = 0;
	}
	pqp->sq_tail = tail;
	if (!q->in_completions) {
		pcie_ring_sq(pqp);
	}
	/* Inside a poll the doorbell is rung once, at its end. */
	return 0;
}

/* ------------------------------------------------------------ completion */

static int32_t
pcie_qpair_process_completions(struct nvme_qpair *q, uint32_t max)
{
	struct pcie_qpair *pqp = pqp_of(q);
	struct pcie_ctrlr *pc = pqp->pc;
	uint16_t head = pqp->cq_head, old_head = head;
	uint8_t phase = pqp->phase;
	int32_t n = 0;

	if (pcie_dead(pc) || !pqp->hw_ready) {
		return -ENXIO;
	}
	if (q->id == 0) {
		union osp_nvme_csts_register csts;

		/* The admin poll watches the controller (slow path, one register read). */
		if (!pcie_check_csts(pc, &csts)) {
			return -ENXIO;
		}
		if (csts.bits.cfs || !csts.bits.rdy) {
			/*
			 * CFS, or RDY gone while we run it (reset by someone else, or a
			 * removed device whose BAR the env replaced with zeroes).
			 */
			OSP_ERRLOG("NVMe PCIe %s: controller %s\n", q->ctrlr->trid.traddr,
				   csts.bits.cfs ? "fatal status (CSTS.CFS)" :
				   "no longer ready (CSTS.RDY 0)");
			pcie_set_fatal(pc, true);
			return -ENXIO;
		}
	} else if (pqp->hw_gen != pc->hw_gen) {
		return -ENXIO; /* the controller was disabled under this queue */
	}

	for (;;) {
		struct osp_nvme_cpl *cpl = &pqp->cq[head];
		struct nvme_request *req;

		if (cpl->status.p != phase) {
			break;
		}
		pcie_rmb(); /* the rest of the entry after its phase tag */
		if (++head == pqp->entries) {
			head = 0;
			phase ^= 1;
		}
		req = nvme_qpair_get_active_request(q, cpl->cid);
		if (req == NULL) {
			OSP_ERRLOG("NVMe PCIe %s: queue %u: completion for cid %u which is not "
				   "outstanding: ignored\n", q->ctrlr->trid.traddr, q->id, cpl->cid);
			continue;
		}
		pqp->cq_head = head;
		pqp->phase = phase;
		if (q->id == 0 && preq_of(req)->bounce != NULL) {
			pcie_admin_data_done(req, cpl);
		}
		nvme_request_complete(req, cpl);
		if (pcie_dead(pc)) {
			break;
		}
		if (++n == (int32_t)max) {
			break;
		}
	}
	pqp->cq_head = head;
	pqp->phase = phase;
	if (head != old_head && !pcie_dead(pc)) {
		pcie_ring_cq(pqp, old_head);
	}
	if (pqp->sq_tail != pqp->sq_tail_rung && !pcie_dead(pc)) {
		pcie_ring_sq(pqp);
	}
	if (n == 0 && q->id != 0 && q->num_outstanding > 0 &&
	    ++pqp->empty_polls >= PCIE_REMOVE_CHECK_POLLS) {
		/* Nothing completes: is the device still there? (cheap, rare) */
		pqp->empty_polls = 0;
		if (!pcie_check_csts(pc, NULL)) {
			return -ENXIO;
		}
	} else if (n != 0) {
		pqp->empty_polls = 0;
	}
	return n;
}

/*
 * After a reset, the old I/O commands are failed only once the controller
 * has reported CSTS.RDY 0 (it then no longer touches their buffers), or is
 * gone, or the reset failed (nothing better can be known then).
 */
static bool
pcie_qpair_stale_quiesced(struct nvme_qpair *q)
{
	struct pcie_qpair *pqp = pqp_of(q);
	struct pcie_ctrlr *pc = pqp->pc;

	return pcie_dead(pc) ||
	       (int32_t)(__atomic_load_n(&pc->quiesced_gen, __ATOMIC_ACQUIRE) - pqp->hw_gen) > 0 ||
	       __atomic_load_n(&q->ctrlr->state, __ATOMIC_ACQUIRE) == NVME_CTRLR_STATE_FAILED;
}

struct nvme_transport_ops g_nvme_pcie_ops = {
	.name = "PCIe",
	.trtype = OSP_NVME_TRANSPORT_PCIE,
	.local_bus = true,
	.ctrlr_check = pcie_ctrlr_check,
	.ctrlr_max_xfer_size = pcie_ctrlr_max_xfer_size,
	.qpair_create = pcie_qpair_create,
	.qpair_destroy = pcie_qpair_destroy,
	.qpair_connect = pcie_qpair_connect,
	.qpair_connect_poll = pcie_qpair_connect_poll,
	.qpair_disconnect = pcie_qpair_disconnect,
	.qpair_submit_request = pcie_qpair_submit_request,
	.qpair_process_completions = pcie_qpair_process_completions,
	.ctrlr_init_cmd = pcie_ctrlr_init_cmd,
	.ctrlr_init_cmd_done = pcie_ctrlr_init_cmd_done,
	.qpair_stale_quiesced = pcie_qpair_stale_quiesced,
};

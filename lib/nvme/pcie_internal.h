/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe PCIe transport internals (pcie.c): the controller's register window,
 * queue memory and the per-qpair state. Private to lib/nvme and its tests.
 */
#ifndef OSP_NVME_PCIE_INTERNAL_H
#define OSP_NVME_PCIE_INTERNAL_H

#include "osprey/env.h"
#include "nvme_internal.h"

/* Host memory page size: CC.MPS 0 (4 KiB); controllers with MPSMIN > 0 are refused. */
#define PCIE_PAGE_SIZE 4096u
/* Largest transfer of one command: 32 pages, one PRP list of at most 33 entries. */
#define PCIE_MAX_XFER_SIZE (128u * 1024)
/* PRP list bytes per request: 33 entries rounded up so a list never crosses a page. */
#define PCIE_PRP_LIST_BYTES 512u
#define PCIE_PRP_LIST_ENTRIES (PCIE_PRP_LIST_BYTES / 8)
/* Admin queue entries at most (AQA: 12-bit sizes). */
#define PCIE_ADMIN_QUEUE_MAX 4096u
/*
 * Pages known to be DMA memory with IO address = virtual address (the env in
 * IOVA-as-VA mode): a direct-mapped cache in front of osp_vtophys(), which
 * costs about a hundred instructions. Only identity translations are cached,
 * so a stale entry can never redirect DMA to another physical page.
 */
#define PCIE_VA_CACHE_SIZE 64u

/* Empty polls with I/O outstanding between two checks for a vanished device. */
#define PCIE_REMOVE_CHECK_POLLS 4096u

/*
 * Controller Memory Buffer (NVMe Base 2.0 §3.1.3.12-13, §8.2.1): registers
 * this driver reads and writes (nvme_spec.h names CMBLOC and CMBSZ only).
 */
#define PCIE_REG_CMBMSC 0x50u		/* 8 bytes: CRE bit 0, CMSE bit 1, CBA 63:12 */
#define PCIE_CMBMSC_CRE 0x1u
#define PCIE_CMBMSC_CMSE 0x2u
#define PCIE_CMBSZ_SQS 0x1u		/* submission queues may live in the CMB */
/* CMB pages (4 KiB) used for I/O submission queues at most (the rest is left unused). */
#define PCIE_CMB_MAX_PAGES 1024u

/* The admin qpair's connect: enabling the controller (NVMe Base 2.0 §3.5.1). */
enum pcie_init_state {
	PCIE_INIT_IDLE = 0,
	PCIE_INIT_WAIT_RDY_BEFORE_DISABLE, /* CC.EN 1, CSTS.RDY 0: let it finish first */
	PCIE_INIT_WAIT_DISABLED,	   /* CC.EN 0 written: wait CSTS.RDY 0 */
	PCIE_INIT_WAIT_READY,		   /* CC.EN 1 written: wait CSTS.RDY 1 */
	PCIE_INIT_READY,
};

/* An I/O qpair's connect: Create I/O CQ, then Create I/O SQ, on the admin queue. */
enum pcie_io_state {
	PCIE_IO_IDLE = 0,
	PCIE_IO_CREATING_CQ,
	PCIE_IO_CREATING_SQ,
	PCIE_IO_READY,
};

struct pcie_ctrlr {
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_pci_device *dev;
	volatile uint8_t *regs; /* BAR0 */
	uint64_t regs_size;
	uint32_t db_stride; /* bytes between doorbells: 4 << CAP.DSTRD */
	union osp_nvme_cap_register cap;
	/* Set by the hot-remove callback or an all-ones register read: never touch the BAR. */
	bool removed;
	/* CSTS.CFS seen: every queue is dead until a reset. */
	bool fatal;
	/* removed || fatal: the one flag the I/O path reads. */
	bool dead;
	enum pcie_init_state init_state;
	uint64_t init_deadline_us;
	/* Bumped each time the controller is disabled: I/O queues of an older one are gone. */
	uint32_t hw_gen;
	/* hw_gen when CSTS.RDY was last seen 0 after a disable: older queues are quiet. */
	uint32_t quiesced_gen;
	/* Shadow doorbells (Doorbell Buffer Config): one page each, DSTRD layout. */
	uint32_t *dbbuf;
	uint64_t dbbuf_iova;
	uint32_t *eventidx;
	uint64_t eventidx_iova;
	bool dbbuf_enabled;
	/*
	 * Controller Memory Buffer holding I/O submission queues (CMBSZ.SQS),
	 * NULL without one: cmb is where it is mapped (in BAR cmb_bar), cmb_bus
	 * the address the controller knows it by (the SQ base in Create I/O SQ;
	 * CMBMSC.CBA when CAP.CMBS says the controller needs it set), a page
	 * bitmap for the queues in it.
	 */
	uint8_t *cmb;
	void *cmb_bar_va;
	uint32_t cmb_bar;
	uint64_t cmb_bus;
	uint32_t cmb_pages;
	bool cmb_msc;
	uint64_t cmb_used[PCIE_CMB_MAX_PAGES / 64];
};

struct pcie_qpair {
	struct nvme_qpair q; /* first: the core casts */
	struct pcie_ctrlr *pc;
	uint32_t entries;
	struct osp_nvme_cmd *sq;
	uint64_t sq_iova;
	/* The SQ lies in the controller memory buffer: pages [sq_cmb_page, + sq_cmb_npages). */
	bool sq_in_cmb;
	uint32_t sq_cmb_page, sq_cmb_npages;
	struct osp_nvme_cpl *cq;
	uint64_t cq_iova;
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	/* Shadow doorbell and EventIdx slots (I/O queues, when enabled; else NULL). */
	uint32_t *sq_shadow, *cq_shadow;
	volatile uint32_t *sq_eventidx, *cq_eventidx;
	/* Admin queue: the shadow is kept in step but the register is always written. */
	uint32_t *admin_sq_shadow, *admin_cq_shadow;
	uint16_t sq_tail;
	uint16_t sq_tail_rung; /* last tail told to the controller */
	uint16_t cq_head;
	uint8_t phase;
	bool hw_ready;	/* the queues exist on the controller */
	bool not_dma_logged;	/* a payload without an IO address was reported */
	uint32_t hw_gen;
	uint32_t empty_polls;
	/* Page numbers (va >> 12) of identity-mapped DMA pages; 0 = empty. */
	uint64_t va_cache[PCIE_VA_CACHE_SIZE];
	/* PRP lists: one PCIE_PRP_LIST_BYTES slot per request (cid), and their IO addresses. */
	uint64_t *prp_lists;
	uint64_t *prp_iova;
	/* I/O qpair create/delete commands on the admin queue. */
	enum pcie_io_state io_state;
	bool op_outstanding;
	bool op_done;
	struct osp_nvme_cpl op_cpl;
};

/* The admin qpair carries the controller's PCIe state. */
struct pcie_admin_qpair {
	struct pcie_qpair qp;
	struct pcie_ctrlr pc;
};

#endif /* OSP_NVME_PCIE_INTERNAL_H */

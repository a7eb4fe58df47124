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

#define SIM_CHECK(cond) CU_ASSERT(cond)
#include "pcie_sim.h"

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
		/* An async qpair's create commands complete through the admin poller. */
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
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
	CU_ASSERT(g_sim.shutdowns == 1); /* detach: shutdown notification, then disabled */
	CU_ASSERT(g_sim.disables == 1);
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
test_sgl(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	struct iovec iov[3];
	uint8_t *buf, *rbuf;
	uint32_t i;

	sim_init();
	g_sim.sgls = 1; /* SGLs, no alignment requirement */
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = alloc_qpair(ctrlr, 16);
	CU_ASSERT_FATAL(qp != NULL);
	buf = osp_dma_zmalloc(65536, 4096, NULL);
	rbuf = osp_dma_zmalloc(65536, 4096, NULL);
	for (i = 0; i < 65536; i++) {
		buf[i] = (uint8_t)(i * 7 + 3);
	}
	/* PRPs would do: PRPs are used. */
	CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, 0, 8, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && g_sim.sgl_cmds == 0);
	/* Three pieces PRPs cannot express: a Last Segment of Data Blocks. */
	iov[0].iov_base = buf + 100;
	iov[0].iov_len = 1000;
	iov[1].iov_base = buf + 5000;
	iov[1].iov_len = 3000;
	iov[2].iov_base = buf + 20000;
	iov[2].iov_len = 1120;
	c.done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_writev(ns, qp, iov, 3, 40, 10, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && g_sim.sgl_cmds == 1);
	CU_ASSERT(memcmp(&g_sim.disk[0][40 * 512], buf + 100, 1000) == 0);
	CU_ASSERT(memcmp(&g_sim.disk[0][40 * 512 + 1000], buf + 5000, 3000) == 0);
	CU_ASSERT(memcmp(&g_sim.disk[0][40 * 512 + 4000], buf + 20000, 1120) == 0);
	/* Read back into an odd address (no dword alignment): one Data Block. */
	c.done = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, rbuf + 1, 40, 10, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.errors == 0 && g_sim.sgl_cmds == 2);
	CU_ASSERT(memcmp(rbuf + 1, buf + 100, 1000) == 0);
	CU_ASSERT(memcmp(rbuf + 1001, buf + 5000, 3000) == 0);
	/* 32 pieces, none page aligned: a full descriptor list. */
	{
		struct iovec many[33];

		for (i = 0; i < 33; i++) {
			many[i].iov_base = buf + i * 1024 + 8;
			many[i].iov_len = i < 32 ? 512 : 0;
		}
		CU_ASSERT(osp_nvme_ns_cmd_writev(ns, qp, many, 32, 0, 32, io_cb, &c, 0) == 0);
		poll_until(ctrlr, qp, &c.done, 2);
		CU_ASSERT(c.errors == 0 && g_sim.sgl_cmds == 3);
	}
	osp_nvme_ctrlr_free_io_qpair(qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(buf);
	osp_dma_free(rbuf);
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
test_qpair_connect_modes(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_io_qpair_opts o;
	struct osp_nvme_qpair *qp, *qp2;
	int i;

	sim_init();
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	/* Blocking: the caller's thread polls the admin queue for Create CQ/SQ. */
	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &o, sizeof(o));
	o.async_mode = false;
	qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &o, sizeof(o));
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT(osp_nvme_qpair_is_connected(qp));
	/* Async: the admin poller completes them (admin callbacks stay on its thread). */
	o.async_mode = true;
	qp2 = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &o, sizeof(o));
	CU_ASSERT_FATAL(qp2 != NULL);
	for (i = 0; i < 20; i++) {
		sim_step();
		CU_ASSERT(osp_nvme_qpair_process_completions(qp2, 0) == 0);
	}
	CU_ASSERT(!osp_nvme_qpair_is_connected(qp2));
	for (i = 0; i < 20 && !osp_nvme_qpair_is_connected(qp2); i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
		osp_nvme_qpair_process_completions(qp2, 0);
	}
	CU_ASSERT(osp_nvme_qpair_is_connected(qp2));
	CU_ASSERT(osp_nvme_qpair_get_id(qp) != osp_nvme_qpair_get_id(qp2));
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp2) == 0);
	CU_ASSERT(osp_nvme_ctrlr_free_io_qpair(qp) == 0);
	CU_ASSERT(g_sim.creates == 4 && g_sim.deletes == 4);
	osp_nvme_detach(ctrlr);
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
	/* A completion the old controller posts while being disabled must not survive. */
	sim_fire_aer(0);
	sim_fire_aer(0);
	/* Not disabled yet (RDY still 1): the old commands are held, not failed. */
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == 0);
	CU_ASSERT(c.done == 0);
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
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
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
test_cfs_then_reset(void)
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
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 2);
	qp = alloc_qpair(ctrlr, 8);
	CU_ASSERT_FATAL(qp != NULL);
	buf = osp_dma_zmalloc(4096, 4096, NULL);
	g_sim.hold_io = true;
	for (i = 0; i < 3; i++) {
		CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp, buf, 0, 1, io_cb, &c, 0) == 0);
	}
	sim_step();
	/* Controller Fatal Status while running: the admin poll sees it, I/O fails. */
	*sim_reg(OSP_NVME_REG_CSTS) |= 2;
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
	CU_ASSERT(osp_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
	CU_ASSERT(c.done == 3 && c.errors == 3);
	/* A reset brings it back. */
	g_sim.hold_io = false;
	CU_ASSERT(osp_nvme_ctrlr_reset_async(ctrlr) == 0);
	do {
		sim_step();
		rc = osp_nvme_ctrlr_reset_poll_async(ctrlr);
	} while (rc == -EAGAIN);
	CU_ASSERT(rc == 0);
	CU_ASSERT(!osp_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp) == 0);
	for (i = 0; i < 100 && !osp_nvme_qpair_is_connected(qp); i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
		osp_nvme_qpair_process_completions(qp, 0);
	}
	CU_ASSERT_FATAL(osp_nvme_qpair_is_connected(qp));
	c.done = c.errors = 0;
	CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp, buf, 5, 1, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp, &c.done, 1);
	CU_ASSERT(c.done == 1 && c.errors == 0);
	/* RDY dropping to 0 under us (a BAR the env replaced with zeroes): failed too. */
	*sim_reg(OSP_NVME_REG_CSTS) = 0;
	CU_ASSERT(osp_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp, 0) == -ENXIO);
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

/* I/O submission queues in the controller memory buffer (CMBSZ.SQS, CMBMSC). */
static void
test_cmb(void)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_qpair *qp1, *qp2, *qp3, *qp4;
	struct osp_nvme_ns *ns;
	struct io_ctx c = { 0 };
	uint8_t *wbuf, *rbuf;
	int i, rc;

	sim_init();
	sim_enable_cmb(8); /* 32 KiB */
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	CU_ASSERT(g_sim.cmb_bar_maps == 1);
	ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	qp1 = alloc_qpair(ctrlr, 64);	/* 4 KiB of SQ: 1 page */
	qp2 = alloc_qpair(ctrlr, 256);	/* 16 KiB: 4 pages */
	qp3 = alloc_qpair(ctrlr, 256);	/* 3 pages left: host memory */
	CU_ASSERT_FATAL(qp1 != NULL && qp2 != NULL && qp3 != NULL);
	CU_ASSERT(osp_nvme_qpair_is_connected(qp3));
	CU_ASSERT(g_sim.cmb_sqs == 2);
	CU_ASSERT(g_sim.cmb_bad == 0);
	/* Data moves through a queue in the CMB and through one in host memory. */
	wbuf = osp_dma_zmalloc(8192, 4096, NULL);
	rbuf = osp_dma_zmalloc(8192, 4096, NULL);
	CU_ASSERT_FATAL(wbuf != NULL && rbuf != NULL);
	for (i = 0; i < 8192; i++) {
		wbuf[i] = (uint8_t)(i * 7 + 3);
	}
	CU_ASSERT(osp_nvme_ns_cmd_write(ns, qp1, wbuf, 16, 16, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp1, &c.done, 1);
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp3, rbuf, 16, 16, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp3, &c.done, 2);
	CU_ASSERT(c.done == 2 && c.errors == 0);
	CU_ASSERT(memcmp(wbuf, rbuf, 8192) == 0);
	/* Freed pages are used again. */
	osp_nvme_ctrlr_free_io_qpair(qp2);
	qp4 = alloc_qpair(ctrlr, 256);
	CU_ASSERT_FATAL(qp4 != NULL);
	CU_ASSERT(g_sim.cmb_sqs == 3);
	/* A reset: the controller forgot CMBMSC; the enable sets it again. */
	*(uint64_t *)sim_reg(0x50) = 0;
	CU_ASSERT(osp_nvme_ctrlr_reset_async(ctrlr) == 0);
	do {
		sim_step();
		rc = osp_nvme_ctrlr_reset_poll_async(ctrlr);
	} while (rc == -EAGAIN);
	CU_ASSERT(rc == 0);
	CU_ASSERT(osp_nvme_qpair_process_completions(qp1, 0) == -ENXIO);
	CU_ASSERT(osp_nvme_ctrlr_reconnect_io_qpair(qp1) == 0);
	for (i = 0; i < 100 && !osp_nvme_qpair_is_connected(qp1); i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
		osp_nvme_qpair_process_completions(qp1, 0);
	}
	CU_ASSERT_FATAL(osp_nvme_qpair_is_connected(qp1));
	CU_ASSERT(g_sim.cmb_sqs == 4 && g_sim.cmb_bad == 0);
	memset(rbuf, 0, 8192);
	c.done = c.errors = 0;
	CU_ASSERT(osp_nvme_ns_cmd_read(ns, qp1, rbuf, 16, 16, io_cb, &c, 0) == 0);
	poll_until(ctrlr, qp1, &c.done, 1);
	CU_ASSERT(c.done == 1 && c.errors == 0);
	CU_ASSERT(memcmp(wbuf, rbuf, 8192) == 0);
	osp_nvme_ctrlr_free_io_qpair(qp1);
	osp_nvme_ctrlr_free_io_qpair(qp3);
	osp_nvme_ctrlr_free_io_qpair(qp4);
	osp_nvme_detach(ctrlr);
	CU_ASSERT(g_sim.cmb_bar_unmaps == 1);
	osp_dma_free(wbuf);
	osp_dma_free(rbuf);
	/* Without SQS the CMB is left alone. */
	sim_init();
	sim_enable_cmb(8);
	*sim_reg(OSP_NVME_REG_CMBSZ) &= ~0x1u;
	ctrlr = connect_sim(NULL, 0);
	CU_ASSERT_FATAL(ctrlr != NULL);
	qp1 = alloc_qpair(ctrlr, 64);
	CU_ASSERT(qp1 != NULL && g_sim.cmb_sqs == 0 && g_sim.cmb_bar_maps == 0);
	osp_nvme_ctrlr_free_io_qpair(qp1);
	osp_nvme_detach(ctrlr);
}

int
main(void)
{
	CU_pSuite suite;
	bool g_sim_identity;
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
	CU_ADD_TEST(suite, test_sgl);
	CU_ADD_TEST(suite, test_doorbell_batching);
	CU_ADD_TEST(suite, test_no_dbbuf_and_wrap);
	CU_ADD_TEST(suite, test_qpair_connect_modes);
	CU_ADD_TEST(suite, test_init_failures);
	CU_ADD_TEST(suite, test_reset_during_io);
	CU_ADD_TEST(suite, test_cfs_then_reset);
	CU_ADD_TEST(suite, test_hot_remove);
	CU_ADD_TEST(suite, test_malformed_completions);
	CU_ADD_TEST(suite, test_admin_and_aer);
	CU_ADD_TEST(suite, test_cmb);
	return ut_run_suites();
}

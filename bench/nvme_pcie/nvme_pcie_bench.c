/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_pcie_bench: the NVMe PCIe driver's own cost per I/O, on the simulated
 * controller of the unit test (test/unit/lib/nvme/pcie_sim.h), so that no
 * device and no kernel is involved: 4 KiB reads at a fixed queue depth,
 * each completion resubmitting from its callback (the steady state of
 * nvme_perf and bdev_nvme). The driver's part, submission plus completion,
 * runs inside bench_poll() and bench_submit(); the simulator's work
 * (sim_step) is outside them. Under callgrind with
 *   --toggle-collect=bench_poll --toggle-collect=bench_submit
 * the instructions counted are the driver's alone: bench/nvme_pcie/run.sh
 * does that and divides by the I/O count. Natively it prints the time per
 * I/O including the simulator (a rough figure; the instruction count is
 * the stable one on a noisy machine).
 *
 * lib/nvme's sources are compiled in (as in the unit test) with the env's
 * PCI functions renamed to the simulator's; DMA memory is the real env's.
 */
#define osp_pci_device_attach ut_pci_device_attach
#define osp_pci_device_detach ut_pci_device_detach
#define osp_pci_device_map_bar ut_pci_device_map_bar
#define osp_pci_device_unmap_bar ut_pci_device_unmap_bar
#define osp_pci_device_cfg_read ut_pci_device_cfg_read
#define osp_pci_device_cfg_write ut_pci_device_cfg_write
#define osp_pci_device_set_remove_cb ut_pci_device_set_remove_cb
#define osp_pci_device_is_removed ut_pci_device_is_removed

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osprey/env.h"

#define nvme_poll_pause real_nvme_poll_pause
#include "../../lib/nvme/nvme.c"
#undef nvme_poll_pause
void nvme_poll_pause(void);
#include "../../lib/nvme/nvme_ctrlr.c"
#include "../../lib/nvme/nvme_qpair.c"
#include "../../lib/nvme/tcp.c"
#include "../../lib/nvme/pcie.c"

static int g_sim_failures;
#define SIM_CHECK(cond) do { if (!(cond)) { g_sim_failures++; } } while (0)
#include "../../test/unit/lib/nvme/pcie_sim.h"

struct bench {
	struct osp_nvme_ns *ns;
	struct osp_nvme_qpair *qp;
	uint8_t *bufs;
	uint64_t done;
	uint64_t target;
	uint64_t submitted;
	uint64_t errors;
	uint32_t qd;
};

static void bench_cb(void *arg, const struct osp_nvme_cpl *cpl);
/* Global and never inlined: callgrind counts what runs inside them. */
int bench_submit(struct bench *b, uint32_t slot);
int32_t bench_poll(struct bench *b);

__attribute__((noinline)) int
bench_submit(struct bench *b, uint32_t slot)
{
	return osp_nvme_ns_cmd_read(b->ns, b->qp, b->bufs + (size_t)slot * 4096,
				    (uint64_t)(slot * 8) % (SIM_NSZE - 8), 8, bench_cb,
				    (void *)(uintptr_t)slot, 0);
}

__attribute__((noinline)) int32_t
bench_poll(struct bench *b)
{
	return osp_nvme_qpair_process_completions(b->qp, 0);
}

static struct bench g_b;

static void
bench_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	uint32_t slot = (uint32_t)(uintptr_t)arg;

	g_b.done++;
	if (osp_nvme_cpl_is_error(cpl)) {
		g_b.errors++;
	}
	if (g_b.submitted < g_b.target) {
		g_b.submitted++;
		/* From the callback: the doorbell goes once, at the end of the poll. */
		if (osp_nvme_ns_cmd_read(g_b.ns, g_b.qp, g_b.bufs + (size_t)slot * 4096,
					 (uint64_t)(slot * 8) % (SIM_NSZE - 8), 8, bench_cb, arg,
					 0) != 0) {
			g_b.errors++;
		}
	}
}

static void
attach_done(void *cb_ctx, const struct osp_nvme_transport_id *trid, struct osp_nvme_ctrlr *ctrlr,
	    const struct osp_nvme_connect_error *err)
{
	*(struct osp_nvme_ctrlr **)cb_ctx = ctrlr;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	/* CPU time of this thread: the machine may be shared. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
usage(void)
{
	printf("usage: nvme_pcie_bench [-n IOS] [-q DEPTH] [--no-dbbuf]\n"
	       "  4 KiB reads on the simulated NVMe PCIe controller; run under callgrind\n"
	       "  (bench/nvme_pcie/run.sh) for the driver's instructions per I/O.\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"no-dbbuf", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct osp_env_opts eo;
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr_opts copts;
	struct osp_nvme_io_qpair_opts qo;
	struct osp_nvme_probe_ctx *probe;
	struct osp_nvme_ctrlr *ctrlr = NULL;
	uint64_t n = 200000, t0, t1, warm;
	uint32_t qd = 32, i;
	bool dbbuf = true;
	void *probe_buf;
	int opt;

	while ((opt = getopt_long(argc, argv, "n:q:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			qd = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'D':
			dbbuf = false;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 1;
		}
	}
	if (n == 0 || qd == 0 || qd > 255) {
		usage();
		return 1;
	}
	osp_log_set_print_level(OSP_LOG_ERROR);
	osp_env_opts_init(&eo);
	eo.name = "nvme_pcie_bench";
	eo.core_mask = "0x1";
	eo.mem_size_mb = 64;
	eo.no_huge = true;
	if (osp_env_init(&eo) != 0) {
		fprintf(stderr, "nvme_pcie_bench: cannot start the env\n");
		return 1;
	}
	probe_buf = osp_dma_zmalloc(4096, 4096, NULL);
	if (probe_buf == NULL || osp_vtophys(probe_buf, NULL) != (uint64_t)(uintptr_t)probe_buf) {
		fprintf(stderr, "nvme_pcie_bench: the simulator needs IO addresses = virtual "
			"addresses (the env's --no-huge mode)\n");
		return 1;
	}
	osp_dma_free(probe_buf);

	sim_init();
	g_sim.support_dbbuf = dbbuf;
	osp_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:" BDF);
	osp_nvme_ctrlr_opts_init(&copts, sizeof(copts));
	copts.num_io_queues = 1;
	probe = osp_nvme_connect_async(&trid, &copts, sizeof(copts), attach_done, &ctrlr);
	while (probe != NULL && osp_nvme_probe_poll_async(probe) == -EAGAIN) {
		sim_step();
	}
	if (ctrlr == NULL) {
		fprintf(stderr, "nvme_pcie_bench: the simulated controller did not attach\n");
		return 1;
	}
	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &qo, sizeof(qo));
	qo.io_queue_size = 256;
	qo.async_mode = true;
	g_b.qp = osp_nvme_ctrlr_alloc_io_qpair(ctrlr, &qo, sizeof(qo));
	for (i = 0; g_b.qp != NULL && i < 100 && !osp_nvme_qpair_is_connected(g_b.qp); i++) {
		sim_step();
		osp_nvme_ctrlr_process_admin_completions(ctrlr);
		osp_nvme_qpair_process_completions(g_b.qp, 0);
	}
	if (g_b.qp == NULL || !osp_nvme_qpair_is_connected(g_b.qp)) {
		fprintf(stderr, "nvme_pcie_bench: no I/O qpair\n");
		return 1;
	}
	g_b.ns = osp_nvme_ctrlr_get_ns(ctrlr, 1);
	g_b.qd = qd;
	g_b.bufs = osp_dma_zmalloc((size_t)qd * 4096, 4096, NULL);
	if (g_b.ns == NULL || g_b.bufs == NULL) {
		return 1;
	}

	/* Warm up (caches, branch predictors), then the measured run. */
	warm = OSP_MIN(n / 10 + qd, 10000);
	g_b.target = warm + n;
	for (i = 0; i < qd; i++) {
		g_b.submitted++;
		if (bench_submit(&g_b, i) != 0) {
			g_b.errors++;
		}
	}
	while (g_b.done < warm) {
		sim_step();
		bench_poll(&g_b);
	}
	t0 = now_ns();
	while (g_b.done < g_b.target) {
		sim_step();
		bench_poll(&g_b);
	}
	t1 = now_ns();
	printf("%-28s %10s %6s %17s %8s\n", "bench", "I/Os", "depth", "cpu ns/IO (+sim)", "errors");
	printf("%-28s %10" PRIu64 " %6u %17.1f %8" PRIu64 "\n",
	       dbbuf ? "nvme_pcie 4k read dbbuf" : "nvme_pcie 4k read", g_b.done - warm, qd,
	       (double)(t1 - t0) / (double)(g_b.done - warm), g_b.errors + (uint64_t)g_sim_failures);
	printf("{\"bench\":\"nvme_pcie\",\"op\":\"read\",\"io_size\":4096,\"qd\":%u,\"shadow_doorbells\":%s,"
	       "\"ios\":%" PRIu64 ",\"total_ios\":%" PRIu64 ",\"ns_per_io_with_sim\":%.1f,\"errors\":%" PRIu64 "}\n", qd,
	       dbbuf ? "true" : "false", g_b.done - warm, g_b.done, (double)(t1 - t0) / (double)(g_b.done - warm),
	       g_b.errors + (uint64_t)g_sim_failures);
	osp_nvme_ctrlr_free_io_qpair(g_b.qp);
	osp_nvme_detach(ctrlr);
	osp_dma_free(g_b.bufs);
	return g_b.errors != 0 || g_sim_failures != 0;
}

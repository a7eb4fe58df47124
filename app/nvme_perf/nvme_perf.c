/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_perf: drive NVMe controllers (NVMe/TCP today) with a fixed queue
 * depth from one pinned pthread per core and report IOPS, throughput and
 * latency in the layout of SPDK's perf tool. See doc/nvme_perf.md.
 *
 * It is a plain program on lib/nvme: no reactor; the env (DPDK) is started
 * only for PCIe controllers (DMA memory, the PCI bus), TCP needs none. Each worker thread owns its qpairs and polls them; completions
 * resubmit from the callback, so the I/O path takes no lock and makes no
 * allocation. The main thread connects the controllers, then polls their
 * admin queues (keep alive, namespace change events) while the workers run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/nvme.h"
#include "osprey/queue.h"
#include "osprey/sock.h"
#include "osprey/util.h"

#include "osp_tool.h"

#define MAX_TRIDS OSP_TOOL_INITIATOR_MAX_TRIDS
#define MAX_CORES 128
/* Verify I/O stays in the first VERIFY_REGION bytes so that the prefill stays short. */
#define VERIFY_REGION (1ull << 30)

enum pattern { PAT_READ, PAT_WRITE, PAT_RANDREAD, PAT_RANDWRITE, PAT_RW, PAT_RANDRW };

struct perf_ctrlr {
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr *ctrlr;
	/* ns: of its -r (0: every active namespace). */
	uint32_t only_nsid;
};

struct perf_ns {
	struct perf_ctrlr *pc;
	struct osp_nvme_ns *ns;
	uint32_t nsid;
	uint32_t sector_size;
	uint64_t num_io;	/* I/O units of io_size in the namespace (or the verify region) */
	uint32_t lbas_per_io;
	char name[400];
	/* Set by the admin thread when the namespace went away (AER). */
	atomic_bool removed;
	bool announced;
};

struct ns_worker;

struct task {
	struct ns_worker *nw;
	struct osp_nvme_qpair *qp;
	void *buf;
	uint64_t lba;
	uint64_t submit_tick;	/* lat_ticks() at submission; prefill: 1 while in flight */
	bool is_read;
	/* Verify: this read checks the data of the write that just completed. */
	bool readback;
	STAILQ_ENTRY(task) link;
};

struct ns_worker {
	struct perf_ns *pns;
	struct worker *w;
	struct osp_nvme_qpair *qpairs[64];
	/* --transport-stats: each qpair's counters, read before it is freed. */
	struct osp_nvme_qpair_stats qstats[64];
	struct osp_nvme_qpair_transport_stats tstats[64];
	bool has_tstats[64];
	uint16_t qids[64];
	uint32_t num_qpairs;
	struct task *tasks;
	uint32_t num_tasks;
	uint64_t seq_next;
	uint32_t outstanding;
	bool dead;	/* namespace gone or qpair failed: no more submissions */
	STAILQ_HEAD(, task) retry;
	/* statistics (latencies in lat_ticks() units) */
	uint64_t io_completed;
	uint64_t lat_total;
	uint64_t lat_min;
	uint64_t lat_max;
	uint64_t errors;
	uint64_t miscompares;
	uint64_t ns_gone_errors;
	struct osp_tool_hist hist;
};

struct worker {
	uint32_t core;
	pthread_t tid;
	struct ns_worker *nws;
	uint32_t num_nws;
	struct osp_tool_rng rng;
	volatile bool stop;
	int rc;
	uint64_t run_ns;
	atomic_bool ready;
	atomic_bool done;
};

static struct {
	uint32_t qd;
	uint32_t io_size;
	enum pattern pattern;
	int rwmix_read;
	int seconds;
	char *core_mask;
	uint32_t qpairs_per_ns;
	/* -a: warm-up seconds before the counted run */
	uint32_t warmup_seconds;
	/* -C: completions per qpair poll (0: no limit) */
	uint32_t max_completions;
	/* -N: no shutdown notification (see usage) */
	bool no_shn;
	/* --zerocopy-threshold; --zerocopy-threshold-sock-impl */
	bool zcopy_set;
	uint32_t zcopy_threshold;
	const char *zcopy_impl;
	bool transport_stats;
	/* -L: percentiles; -LL: also the histogram's buckets */
	uint32_t latency;
	bool verify;
	bool json;
	uint64_t seed;
	bool seed_set;
	bool no_prefill;
	/* -r, -H, -I, -k, --hostnqn, --io-queue-size, --disable-sq-fc */
	struct osp_tool_initiator_opts conn;
} g_opts = {
	.qd = 0, .io_size = 0, .rwmix_read = -1, .seconds = 0, .qpairs_per_ns = 1,
};

static struct perf_ctrlr g_ctrlrs[MAX_TRIDS];
static uint32_t g_num_ctrlrs;
static struct perf_ns *g_ns;
static uint32_t g_num_ns;
static struct worker g_workers[MAX_CORES];
static uint32_t g_num_workers;
static atomic_bool g_go;
static volatile sig_atomic_t g_interrupted;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Per-I/O latency clock. Two clock_gettime() per I/O were 1-2 % of the
 * initiator's CPU per 4 KiB I/O (vDSO, ~17 ns each here); the TSC is read
 * with one instruction. It is used only when the CPU says it is invariant
 * (constant rate, runs in every C-state; CPUID 8000_0007h EDX bit 8), and
 * converted to time with the rate measured over the whole run (TSC ticks
 * against CLOCK_MONOTONIC between start-up and the report), so no
 * calibration delay and no assumed frequency. A task is submitted and
 * completed by the same pinned worker thread: one core's TSC. Otherwise
 * (no invariant TSC, not x86) the ticks are nanoseconds.
 */
static bool g_use_tsc;
static uint64_t g_tick0, g_tick0_ns;
static double g_ticks_per_us = 1000.0;

static inline uint64_t
lat_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (g_use_tsc) {
		return __rdtsc();
	}
#endif
	return now_ns();
}

static void
lat_clock_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8))) {
		g_use_tsc = true;
	}
#endif
	g_tick0_ns = now_ns();
	g_tick0 = lat_ticks();
}

/* Ticks per microsecond over the run so far (called once, for the report). */
static void
lat_clock_calibrate(void)
{
	uint64_t ns = now_ns() - g_tick0_ns;
	uint64_t ticks = lat_ticks() - g_tick0;

	if (g_use_tsc && ns > 0 && ticks > 0) {
		g_ticks_per_us = (double)ticks * 1000.0 / (double)ns;
	}
}

/*
 * Verify data: osp_tool_pattern_fill() with generation 0, so that a block's
 * data depends only on the seed and its LBA (several slots may write one LBA
 * at once, and --no-prefill reads what an earlier run wrote).
 */
static void
pattern_fill(void *buf, uint64_t lba, uint32_t lbas, uint32_t sector_size)
{
	osp_tool_pattern_fill(buf, lba, lbas, sector_size, g_opts.seed, 0);
}

/* ------------------------------------------------------------ I/O path */

static void io_complete(void *arg, const struct osp_nvme_cpl *cpl);

static bool
pattern_is_random(void)
{
	return g_opts.pattern == PAT_RANDREAD || g_opts.pattern == PAT_RANDWRITE ||
	       g_opts.pattern == PAT_RANDRW;
}

static bool
choose_read(struct worker *w)
{
	switch (g_opts.pattern) {
	case PAT_READ:
	case PAT_RANDREAD:
		return true;
	case PAT_WRITE:
	case PAT_RANDWRITE:
		return false;
	default:
		return (int)osp_tool_rng_below(&w->rng, 100) < g_opts.rwmix_read;
	}
}

static int
task_submit_raw(struct task *t)
{
	struct perf_ns *pns = t->nw->pns;
	uint64_t lba = t->lba * pns->lbas_per_io;

	t->submit_tick = lat_ticks();
	if (t->is_read) {
		return osp_nvme_ns_cmd_read(pns->ns, t->qp, t->buf, lba, pns->lbas_per_io,
					    io_complete, t, 0);
	}
	return osp_nvme_ns_cmd_write(pns->ns, t->qp, t->buf, lba, pns->lbas_per_io, io_complete,
				     t, 0);
}

static void
task_fail_submit(struct task *t, int rc)
{
	struct ns_worker *nw = t->nw;

	if (atomic_load(&nw->pns->removed)) {
		/* The namespace went away between the check and the submit. */
		nw->dead = true;
		return;
	}
	if (!nw->dead) {
		fprintf(stderr, "%s from core %u: submit failed: %s\n", nw->pns->name,
			nw->w->core, strerror(-rc));
	}
	nw->errors++;
	nw->dead = true;
}

/* Submit t (a fresh I/O or a verify read-back); queue it when the qpair is full. */
static void
task_submit(struct task *t)
{
	int rc = task_submit_raw(t);

	if (rc == 0) {
		t->nw->outstanding++;
	} else if (rc == -ENOMEM) {
		STAILQ_INSERT_TAIL(&t->nw->retry, t, link);
	} else {
		task_fail_submit(t, rc);
	}
}

static void
task_start_new(struct task *t)
{
	struct ns_worker *nw = t->nw;
	struct perf_ns *pns = nw->pns;

	if (nw->w->stop || nw->dead) {
		return;
	}
	if (atomic_load_explicit(&pns->removed, memory_order_relaxed)) {
		nw->dead = true;
		return;
	}
	if (pattern_is_random()) {
		t->lba = osp_tool_rng_below(&nw->w->rng, pns->num_io);
	} else {
		t->lba = nw->seq_next++;
		if (nw->seq_next >= pns->num_io) {
			nw->seq_next = 0;
		}
	}
	t->is_read = choose_read(nw->w);
	t->readback = false;
	if (g_opts.verify && !t->is_read) {
		pattern_fill(t->buf, t->lba * pns->lbas_per_io, pns->lbas_per_io,
			     pns->sector_size);
	}
	task_submit(t);
}

/* Status of a command to a namespace that no longer exists. */
static bool
cpl_ns_gone(const struct osp_nvme_cpl *cpl)
{
	return osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC,
				      OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
}

static void
io_complete(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct task *t = arg;
	struct ns_worker *nw = t->nw;
	struct perf_ns *pns = nw->pns;
	uint64_t now = lat_ticks();
	uint64_t lat = now > t->submit_tick ? now - t->submit_tick : 0;

	nw->outstanding--;
	if (osp_nvme_cpl_is_error(cpl)) {
		if (cpl_ns_gone(cpl) || atomic_load(&pns->removed)) {
			/* The namespace was removed on the target: stop using it (not an error). */
			nw->ns_gone_errors++;
			if (!nw->dead) {
				fprintf(stderr, "%s from core %u: namespace gone (%s): stopping I/O to it\n",
					pns->name, nw->w->core, osp_nvme_cpl_status_string(cpl));
			}
			nw->dead = true;
			return;
		}
		if (!nw->w->stop ||
		    !osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC,
					    OSP_NVME_SC_ABORTED_SQ_DELETION)) {
			if (nw->errors < 5) {
				fprintf(stderr, "%s from core %u: %s LBA %" PRIu64 " failed: %s (sct %u sc 0x%02x)\n",
					pns->name, nw->w->core, t->is_read ? "read" : "write",
					t->lba * pns->lbas_per_io, osp_nvme_cpl_status_string(cpl),
					cpl->status.sct, cpl->status.sc);
			}
			nw->errors++;
		}
		task_start_new(t);
		return;
	}

	nw->io_completed++;
	nw->lat_total += lat;
	if (lat < nw->lat_min) {
		nw->lat_min = lat;
	}
	if (lat > nw->lat_max) {
		nw->lat_max = lat;
	}
	osp_tool_hist_add(&nw->hist, lat);

	if (g_opts.verify) {
		if (t->is_read) {
			struct osp_tool_pattern_err err;
			char what[256];

			if (!osp_tool_pattern_check(t->buf, t->lba * pns->lbas_per_io, pns->lbas_per_io,
						    pns->sector_size, g_opts.seed, 0, &err)) {
				if (nw->miscompares < 5) {
					osp_tool_pattern_err_fmt(what, sizeof(what), &err);
					fprintf(stderr, "%s from core %u: MISCOMPARE at LBA %" PRIu64 "%s: %s\n",
						pns->name, nw->w->core, err.lba,
						t->readback ? " (reading back a write)" : "", what);
				}
				nw->miscompares++;
			}
		} else if (!nw->w->stop && !nw->dead) {
			/* Read back what was just written, into the same buffer. */
			memset(t->buf, 0, (size_t)pns->lbas_per_io * pns->sector_size);
			t->is_read = true;
			t->readback = true;
			task_submit(t);
			return;
		}
	}
	task_start_new(t);
}

/* --transport-stats: keep qpair j's counters before it is freed. */
static void
qpair_stats_keep(struct ns_worker *nw, uint32_t j)
{
	osp_nvme_qpair_get_stats(nw->qpairs[j], &nw->qstats[j]);
	nw->has_tstats[j] = osp_nvme_qpair_get_transport_stats(nw->qpairs[j],
							      &nw->tstats[j]) == 0;
}

static int
worker_poll_once(struct worker *w)
{
	uint32_t i, j;
	int total = 0;

	for (i = 0; i < w->num_nws; i++) {
		struct ns_worker *nw = &w->nws[i];

		for (j = 0; j < nw->num_qpairs; j++) {
			int32_t rc;

			if (nw->qpairs[j] == NULL) {
				continue;
			}
			rc = osp_nvme_qpair_process_completions(nw->qpairs[j],
								 g_opts.max_completions);
			if (rc < 0) {
				if (!w->stop) {
					fprintf(stderr, "%s from core %u: qpair %u failed: %s\n",
						nw->pns->name, w->core,
						osp_nvme_qpair_get_id(nw->qpairs[j]), strerror(-rc));
					if (!atomic_load(&nw->pns->removed)) {
						nw->errors++;
					}
				}
				nw->dead = true;
				qpair_stats_keep(nw, j);
				osp_nvme_ctrlr_free_io_qpair(nw->qpairs[j]);
				nw->qpairs[j] = NULL;
				continue;
			}
			total += rc;
		}
		/* Resubmit what found the queue full, now that completions made room. */
		while (!STAILQ_EMPTY(&nw->retry)) {
			struct task *t = STAILQ_FIRST(&nw->retry);
			int rc;

			if (w->stop || nw->dead || t->qp == NULL) {
				STAILQ_REMOVE_HEAD(&nw->retry, link);
				continue;
			}
			rc = task_submit_raw(t);
			if (rc == -ENOMEM) {
				break;
			}
			STAILQ_REMOVE_HEAD(&nw->retry, link);
			if (rc == 0) {
				nw->outstanding++;
			} else {
				task_fail_submit(t, rc);
			}
		}
	}
	return total;
}

static void
pin_to_core(uint32_t core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "warning: cannot pin to core %u\n", core);
	}
}

static int
worker_alloc(struct worker *w)
{
	struct osp_nvme_io_qpair_opts qo;
	uint32_t i, j, k;

	for (i = 0; i < w->num_nws; i++) {
		struct ns_worker *nw = &w->nws[i];
		struct perf_ns *pns = nw->pns;
		size_t buf_len = (size_t)pns->lbas_per_io * pns->sector_size;

		osp_nvme_ctrlr_get_default_io_qpair_opts(pns->pc->ctrlr, &qo, sizeof(qo));
		if (g_opts.conn.io_queue_size) {
			qo.io_queue_size = g_opts.conn.io_queue_size;
		}
		for (j = 0; j < nw->num_qpairs; j++) {
			nw->qpairs[j] = osp_nvme_ctrlr_alloc_io_qpair(pns->pc->ctrlr, &qo, sizeof(qo));
			if (nw->qpairs[j] == NULL) {
				fprintf(stderr, "%s from core %u: cannot allocate I/O qpair: %s\n",
					pns->name, w->core, strerror(errno));
				return -1;
			}
			nw->qids[j] = osp_nvme_qpair_get_id(nw->qpairs[j]);
		}
		nw->tasks = calloc(nw->num_tasks, sizeof(*nw->tasks));
		if (nw->tasks == NULL) {
			return -1;
		}
		for (k = 0; k < nw->num_tasks; k++) {
			struct task *t = &nw->tasks[k];

			t->nw = nw;
			t->qp = nw->qpairs[k % nw->num_qpairs];
			/* DMA memory when the env runs (PCIe: the controller reads it directly). */
			t->buf = osp_tool_io_buf_alloc(buf_len);
			if (t->buf == NULL) {
				return -1;
			}
		}
	}
	return 0;
}

static void
worker_drain(struct worker *w, uint64_t timeout_ns)
{
	uint64_t end = now_ns() + timeout_ns;
	uint32_t i, outstanding;

	do {
		worker_poll_once(w);
		outstanding = 0;
		for (i = 0; i < w->num_nws; i++) {
			outstanding += w->nws[i].outstanding;
		}
	} while (outstanding > 0 && now_ns() < end);
}

static void
prefill_complete(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct task *t = arg;

	t->nw->outstanding--;
	t->submit_tick = 0;
	if (osp_nvme_cpl_is_error(cpl)) {
		if (cpl_ns_gone(cpl) || atomic_load(&t->nw->pns->removed)) {
			t->nw->dead = true;
		} else {
			t->nw->errors++;
		}
	}
}

/*
 * Verify with reads: write the pattern over the verify region first
 * (untimed), so that every read has known data to check. Worker 0 does it
 * for every namespace; the others wait for the start signal.
 */
static int
worker_prefill(struct worker *w)
{
	uint32_t i, k;

	if (w != &g_workers[0]) {
		return 0;
	}
	for (i = 0; i < w->num_nws; i++) {
		struct ns_worker *nw = &w->nws[i];
		struct perf_ns *pns = nw->pns;
		uint64_t next = 0;

		while ((next < pns->num_io || nw->outstanding > 0) && nw->errors == 0 &&
		       !g_interrupted) {
			if (nw->dead || atomic_load(&pns->removed)) {
				/* Removed on the target: no more prefill; the run skips it too. */
				nw->dead = true;
				next = pns->num_io;
			}
			for (k = 0; k < nw->num_tasks && next < pns->num_io; k++) {
				struct task *t = &nw->tasks[k];
				int rc;

				if (t->submit_tick != 0) {
					continue;
				}
				pattern_fill(t->buf, next * pns->lbas_per_io, pns->lbas_per_io,
					     pns->sector_size);
				t->submit_tick = 1;
				rc = osp_nvme_ns_cmd_write(pns->ns, t->qp, t->buf, next * pns->lbas_per_io,
							   pns->lbas_per_io, prefill_complete, t, 0);
				if (rc != 0) {
					t->submit_tick = 0;
					if (rc != -ENOMEM) {
						nw->errors++;
					}
					break;
				}
				next++;
				nw->outstanding++;
			}
			for (k = 0; k < nw->num_qpairs; k++) {
				if (osp_nvme_qpair_process_completions(nw->qpairs[k], 0) < 0) {
					nw->errors++;
					break;
				}
			}
		}
		if (nw->errors) {
			fprintf(stderr, "%s: prefill (writing the verify pattern) failed\n", pns->name);
			return -1;
		}
	}
	return 0;
}

static bool g_prefilling;

/* Nothing left to drive (every namespace gone or failed): end the run early. */
static bool
worker_all_dead(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < w->num_nws; i++) {
		if (!w->nws[i].dead || w->nws[i].outstanding > 0) {
			return false;
		}
	}
	return true;
}

/*
 * End of the warm-up (-a): the I/O and latency counters start again from
 * zero (errors and miscompares stay: a warm-up failure still fails the run).
 */
static void
worker_reset_counters(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < w->num_nws; i++) {
		struct ns_worker *nw = &w->nws[i];

		nw->io_completed = 0;
		nw->lat_total = 0;
		nw->lat_min = UINT64_MAX;
		nw->lat_max = 0;
		memset(&nw->hist, 0, sizeof(nw->hist));
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t start, end, now, warm_end;
	uint32_t i, k, iter = 0;
	bool warming;

	pin_to_core(w->core);
	if (worker_alloc(w) != 0) {
		w->rc = 1;
		atomic_store(&w->ready, true);
		atomic_store(&w->done, true);
		return NULL;
	}
	if (g_prefilling && worker_prefill(w) != 0) {
		w->rc = 1;
	}
	atomic_store(&w->ready, true);
	while (!atomic_load(&g_go)) {
		if (w->rc != 0) {
			break;
		}
		sched_yield();
	}

	if (w->rc == 0) {
		for (i = 0; i < w->num_nws; i++) {
			for (k = 0; k < w->nws[i].num_tasks; k++) {
				task_start_new(&w->nws[i].tasks[k]);
			}
		}
		start = now_ns();
		warm_end = start + (uint64_t)g_opts.warmup_seconds * 1000000000ull;
		warming = g_opts.warmup_seconds > 0;
		end = warm_end + (uint64_t)g_opts.seconds * 1000000000ull;
		for (;;) {
			worker_poll_once(w);
			if ((++iter & 63) == 0) {
				now = now_ns();
				if (warming && now >= warm_end) {
					/* Warm-up over: what completed so far is not counted. */
					worker_reset_counters(w);
					start = now;
					/* The counted run is -t seconds from here, however late. */
					end = now + (uint64_t)g_opts.seconds * 1000000000ull;
					warming = false;
				}
				if (now >= end || g_interrupted || worker_all_dead(w)) {
					break;
				}
			}
		}
		w->run_ns = now_ns() - start;
		w->stop = true;
		worker_drain(w, 5000000000ull);
		for (i = 0; i < w->num_nws; i++) {
			struct ns_worker *nw = &w->nws[i];

			if (nw->outstanding > 0 && !atomic_load(&nw->pns->removed)) {
				/* Lost: they are aborted when the qpairs are freed below. */
				fprintf(stderr, "%s from core %u: %u I/Os did not complete within 5 s\n",
					nw->pns->name, w->core, nw->outstanding);
				nw->errors += nw->outstanding;
			}
		}
	}
	for (i = 0; i < w->num_nws; i++) {
		for (k = 0; k < w->nws[i].num_qpairs; k++) {
			if (w->nws[i].qpairs[k] != NULL) {
				qpair_stats_keep(&w->nws[i], k);
				osp_nvme_ctrlr_free_io_qpair(w->nws[i].qpairs[k]);
				w->nws[i].qpairs[k] = NULL;
			}
		}
	}
	atomic_store(&w->done, true);
	return NULL;
}

/* ------------------------------------------------------------ admin side */

static void
ns_change_cb(void *cb_arg, struct osp_nvme_ctrlr *ctrlr, uint32_t nsid,
	     enum osp_nvme_ns_event event)
{
	uint32_t i;

	for (i = 0; i < g_num_ns; i++) {
		struct perf_ns *pns = &g_ns[i];

		if (pns->pc->ctrlr != ctrlr || pns->nsid != nsid) {
			continue;
		}
		if (event == OSP_NVME_NS_EVENT_REMOVED) {
			atomic_store(&pns->removed, true);
		}
		return;
	}
	if (event == OSP_NVME_NS_EVENT_ADDED) {
		/* Namespaces are chosen at start: a new one is reported, not used. */
		printf("Note: NSID %u was added to %s during the run (not used)\n", nsid,
		       ((struct perf_ctrlr *)cb_arg)->trid.subnqn);
	}
}

static void
poll_admin(void)
{
	uint32_t i;

	/* PCIe hot remove: the env calls the driver back from here (a no-op without the env). */
	osp_pci_event_poll();
	for (i = 0; i < g_num_ctrlrs; i++) {
		if (g_ctrlrs[i].ctrlr != NULL) {
			osp_nvme_ctrlr_process_admin_completions(g_ctrlrs[i].ctrlr);
		}
	}
	for (i = 0; i < g_num_ns; i++) {
		if (atomic_load(&g_ns[i].removed) && !g_ns[i].announced) {
			g_ns[i].announced = true;
			fprintf(stderr, "%s: namespace removed on the target: stopping I/O to it\n",
				g_ns[i].name);
		}
	}
}

/* ------------------------------------------------------------ set-up */

static void
usage(const char *prog)
{
	printf("Usage: %s -q <depth> -o <bytes> -w <pattern> -t <seconds> -r <trid> [options]\n"
	       "  -q, --io-depth <n>        outstanding I/Os per namespace per core\n"
	       "  -o, --io-size <bytes>     I/O size (a multiple of the sector size)\n"
	       "  -w, --io-pattern <p>      read, write, randread, randwrite, rw, randrw\n"
	       "  -M, --rwmixread <0-100>   read percentage of rw/randrw (default 50)\n"
	       "  -t, --time <sec>          run time\n"
	       "  -c, --core-mask <mask>    cores for the workers: a hex mask (0x6) or a list\n"
	       "                            ([1,2] or [1-2]) (default 0x1)\n"
	       "  -P, --num-qpairs <n>      I/O qpairs per namespace per core (default 1)\n"
	       "  -a, --warmup-time <sec>   warm-up before the run: I/O runs, is not counted\n"
	       "  -C, --max-completion-per-poll <n>  completions handled per qpair poll\n"
	       "                            (1..65536, default no limit)\n"
	       "  -N, --no-shst-notification  at the end, disconnect without the shutdown\n"
	       "                            notification (CC.SHN) sent by default\n"
	       "      --zerocopy-threshold <bytes>  send with MSG_ZEROCOPY the socket flushes of\n"
	       "                            at least that many bytes (0: all)\n"
	       "      --zerocopy-threshold-sock-impl <impl>  socket implementation to set it on\n"
	       "                            (default: the default one, posix)\n"
	       "      --transport-stats     print each I/O qpair's counters at the end (polls,\n"
	       "                            idle polls, completions, submits, queue full; PDUs\n"
	       "                            received, socket sends and receives, bytes)\n"
	       "  -L, --latency             print latency percentiles (-LL: and the histogram;\n"
	       "                            also --enable-sw-latency-tracking)\n"
	       "  -V, --verify              write a pattern (LBA + seed), read back and check\n"
	       "      --seed <n>            verify pattern seed (default: random)\n"
	       "      --no-prefill          verify reads against data an earlier run wrote\n"
	       "                            with the same --seed (no pattern prefill)\n"
	       "      --json                also print one JSON line per result\n"
	       "Connection (-r may be repeated for several controllers):\n", prog);
	osp_tool_initiator_usage(stdout);
	printf("Exit status: 0 when every I/O succeeded and verified, 1 otherwise.\n"
	       "A namespace removed on the target during the run is reported and no longer\n"
	       "used; its failed I/Os are not counted as errors.\n");
}

static int
parse_pattern(const char *s)
{
	static const char *names[] = {"read", "write", "randread", "randwrite", "rw", "randrw"};
	uint32_t i;

	for (i = 0; i < OSP_COUNTOF(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			g_opts.pattern = (enum pattern)i;
			return 0;
		}
	}
	return -1;
}

/* "[0,2-3]": SPDK's core list form of -c. Returns the number of cores or -1. */
static int
parse_core_list(const char *list, uint32_t *cores, uint32_t max)
{
	bool seen[MAX_CORES] = { false };
	const char *p = list + 1;
	uint32_t n = 0, i;

	while (*p != ']') {
		char *end;
		unsigned long lo, hi;

		if (*p < '0' || *p > '9') {
			return -1;
		}
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9') {
				return -1;
			}
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo > hi || hi >= MAX_CORES) {
			return -1;
		}
		for (i = (uint32_t)lo; i <= (uint32_t)hi; i++) {
			seen[i] = true;
		}
		if (*end == ',') {
			end++;
			if (*end < '0' || *end > '9') {
				return -1;
			}
		} else if (*end != ']') {
			return -1;
		}
		p = end;
	}
	if (p[1] != '\0') {
		return -1;
	}
	for (i = 0; i < MAX_CORES && n < max; i++) {
		if (seen[i]) {
			cores[n++] = i;
		}
	}
	return (int)n;
}

static int
parse_cores(const char *mask, uint32_t *cores, uint32_t max)
{
	uint32_t n = 0, bit = 0;
	const char *p;
	size_t len;

	if (mask[0] == '[') {
		return parse_core_list(mask, cores, max);
	}

	if (strncmp(mask, "0x", 2) == 0 || strncmp(mask, "0X", 2) == 0) {
		mask += 2;
	}
	len = strlen(mask);
	if (len == 0) {
		return -1;
	}
	for (p = mask + len; p > mask; p--) {
		char c = p[-1];
		int v, b;

		if (c >= '0' && c <= '9') {
			v = c - '0';
		} else if (c >= 'a' && c <= 'f') {
			v = c - 'a' + 10;
		} else if (c >= 'A' && c <= 'F') {
			v = c - 'A' + 10;
		} else {
			return -1;
		}
		for (b = 0; b < 4; b++, bit++) {
			if ((v & (1 << b)) && n < max) {
				cores[n++] = bit;
			}
		}
	}
	return (int)n;
}

static const char *
pattern_name(void)
{
	static const char *names[] = {"read", "write", "randread", "randwrite", "rw", "randrw"};

	return names[g_opts.pattern];
}

static int
connect_all(void)
{
	const struct osp_tool_initiator_opts *conn = &g_opts.conn;
	struct osp_nvme_ctrlr_opts copts;
	uint32_t i, total_qpairs;

	if (osp_tool_initiator_env_init(&g_opts.conn, "nvme_perf") < 0) {
		fprintf(stderr, "nvme_perf: %s\n", g_opts.conn.errmsg);
		return -1;
	}
	for (i = 0; i < conn->num_trids; i++) {
		struct perf_ctrlr *pc = &g_ctrlrs[i];
		struct osp_nvme_connect_error err = {};

		osp_nvme_ctrlr_opts_init(&copts, sizeof(copts));
		/* Namespaces are not known yet: room for up to 32 per core. */
		total_qpairs = g_num_workers * g_opts.qpairs_per_ns * 32;
		copts.num_io_queues = total_qpairs > 1024 ? 1024 : total_qpairs;
		osp_tool_initiator_apply(conn, &copts);
		/* SPDK's perf notifies the shutdown at detach unless -N. */
		copts.shutdown_notification = !g_opts.no_shn;
		if (conn->io_queue_size == 0 &&
		    g_opts.qd / g_opts.qpairs_per_ns + 2 > copts.io_queue_size) {
			copts.io_queue_size = g_opts.qd / g_opts.qpairs_per_ns + 2;
		}
		pc->only_nsid = conn->exts[i].nsid;
		pc->ctrlr = osp_tool_initiator_connect(conn, i, &copts, &pc->trid, &err);
		if (pc->ctrlr == NULL) {
			fprintf(stderr, "Cannot connect to '%s': %s at step '%s'%s%s\n", conn->trid_strs[i],
				strerror(-err.rc), err.step ? err.step : "?",
				err.has_cpl ? ": " : "",
				err.has_cpl ? osp_nvme_cpl_status_string(&err.cpl) : "");
			return -1;
		}
		g_num_ctrlrs++;
		osp_nvme_ctrlr_register_ns_change_callback(pc->ctrlr, ns_change_cb, pc);
	}
	return 0;
}

static int
collect_namespaces(void)
{
	uint32_t i, nsid, total = 0;

	for (i = 0; i < g_num_ctrlrs; i++) {
		total += osp_nvme_ctrlr_get_num_active_ns(g_ctrlrs[i].ctrlr);
		if (g_ctrlrs[i].only_nsid != 0 &&
		    osp_nvme_ctrlr_get_ns(g_ctrlrs[i].ctrlr, g_ctrlrs[i].only_nsid) == NULL) {
			fprintf(stderr, "Namespace %u (ns: of -r '%s') is not active on the controller\n",
				g_ctrlrs[i].only_nsid, g_opts.conn.trid_strs[i]);
			return -1;
		}
	}
	g_ns = calloc(total ? total : 1, sizeof(*g_ns));
	if (g_ns == NULL) {
		return -1;
	}
	for (i = 0; i < g_num_ctrlrs; i++) {
		struct perf_ctrlr *pc = &g_ctrlrs[i];

		for (nsid = osp_nvme_ctrlr_get_first_active_ns(pc->ctrlr);
		     nsid != 0 && g_num_ns < total;
		     nsid = osp_nvme_ctrlr_get_next_active_ns(pc->ctrlr, nsid)) {
			struct perf_ns *pns = &g_ns[g_num_ns];
			uint64_t size;

			if (pc->only_nsid != 0 && nsid != pc->only_nsid) {
				continue;	/* ns: of the -r names another one */
			}
			pns->pc = pc;
			pns->nsid = nsid;
			pns->ns = osp_nvme_ctrlr_get_ns(pc->ctrlr, nsid);
			if (pns->ns == NULL) {
				continue;
			}
			pns->sector_size = osp_nvme_ns_get_sector_size(pns->ns);
			if (pc->trid.trtype == OSP_NVME_TRANSPORT_PCIE) {
				snprintf(pns->name, sizeof(pns->name), "PCIe (addr:%s) NSID %u",
					 pc->trid.traddr, nsid);
			} else {
				snprintf(pns->name, sizeof(pns->name), "%s (addr:%s subnqn:%s) NSID %u",
					 osp_nvme_transport_id_trtype_str(pc->trid.trtype),
					 pc->trid.traddr, pc->trid.subnqn, nsid);
			}
			if (pns->sector_size == 0 || g_opts.io_size % pns->sector_size != 0) {
				fprintf(stderr, "Skipping %s: I/O size %u is not a multiple of its sector size %u\n",
					pns->name, g_opts.io_size, pns->sector_size);
				continue;
			}
			if (osp_nvme_ns_get_md_size(pns->ns) != 0) {
				fprintf(stderr, "Skipping %s: namespaces with metadata are not supported\n",
					pns->name);
				continue;
			}
			if (g_opts.io_size > osp_nvme_ns_get_max_io_xfer_size(pns->ns)) {
				fprintf(stderr, "Skipping %s: I/O size %u is above its max transfer size %u\n",
					pns->name, g_opts.io_size,
					osp_nvme_ns_get_max_io_xfer_size(pns->ns));
				continue;
			}
			size = osp_nvme_ns_get_size(pns->ns);
			if (g_opts.verify && size > VERIFY_REGION) {
				size = VERIFY_REGION;
			}
			pns->lbas_per_io = g_opts.io_size / pns->sector_size;
			pns->num_io = size / g_opts.io_size;
			if (pns->num_io == 0) {
				fprintf(stderr, "Skipping %s: smaller than one I/O\n", pns->name);
				continue;
			}
			g_num_ns++;
		}
	}
	return g_num_ns > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ report */

struct result {
	uint64_t ios, lat_total, lat_min, lat_max;
	double secs;
	struct osp_tool_hist hist;
};

static void
print_json(const char *device, int core, const struct result *r)
{
	double iops = r->secs > 0 ? (double)r->ios / r->secs : 0;
	double avg = r->ios ? (double)r->lat_total / (double)r->ios / g_ticks_per_us : 0;

	printf("{\"tool\":\"nvme_perf\",\"device\":\"%s\",\"core\":%d,\"pattern\":\"%s\","
	       "\"io_size\":%u,\"queue_depth\":%u,\"ios\":%" PRIu64 ",\"iops\":%.2f,\"mibps\":%.2f,"
	       "\"avg_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
	       "\"p99_us\":%.2f,\"p99_9_us\":%.2f}\n",
	       device, core, pattern_name(), g_opts.io_size, g_opts.qd, r->ios, iops,
	       iops * g_opts.io_size / (1024.0 * 1024.0), avg,
	       r->ios ? (double)r->lat_min / g_ticks_per_us : 0,
	       (double)r->lat_max / g_ticks_per_us,
	       osp_tool_hist_percentile(&r->hist, 50) / g_ticks_per_us,
	       osp_tool_hist_percentile(&r->hist, 90) / g_ticks_per_us,
	       osp_tool_hist_percentile(&r->hist, 99) / g_ticks_per_us,
	       osp_tool_hist_percentile(&r->hist, 99.9) / g_ticks_per_us);
}

static void
print_line(int width, const char *label, const struct result *r)
{
	double iops = r->secs > 0 ? (double)r->ios / r->secs : 0;

	printf("%-*s: %10.2f %10.2f %10.2f %10.2f %10.2f\n", width, label, iops,
	       iops * g_opts.io_size / (1024.0 * 1024.0),
	       r->ios ? (double)r->lat_total / (double)r->ios / g_ticks_per_us : 0,
	       r->ios ? (double)r->lat_min / g_ticks_per_us : 0,
	       (double)r->lat_max / g_ticks_per_us);
}

/*
 * --transport-stats: each I/O qpair's counters (lib/nvme's, kept by the
 * transport-independent layer), then their sums.
 */
static void
print_transport_stats(void)
{
	struct osp_nvme_qpair_stats sum = {};
	struct osp_nvme_qpair_transport_stats tsum = {};
	uint32_t i, j, k;

	printf("Transport statistics (per I/O qpair):\n");
	for (i = 0; i < g_num_workers; i++) {
		for (j = 0; j < g_workers[i].num_nws; j++) {
			struct ns_worker *nw = &g_workers[i].nws[j];

			for (k = 0; k < nw->num_qpairs; k++) {
				const struct osp_nvme_qpair_stats *st = &nw->qstats[k];

				printf("%s from core %u qpair %u: polls %" PRIu64 ", idle_polls %" PRIu64
				       ", completions %" PRIu64 ", max_completions_per_poll %" PRIu64
				       ", submitted %" PRIu64 ", queue_full %" PRIu64 "\n",
				       nw->pns->name, g_workers[i].core, nw->qids[k], st->polls,
				       st->idle_polls, st->completions, st->max_completions_per_poll,
				       st->submitted, st->queue_full);
				sum.polls += st->polls;
				sum.idle_polls += st->idle_polls;
				sum.completions += st->completions;
				sum.max_completions_per_poll = OSP_MAX(sum.max_completions_per_poll,
								       st->max_completions_per_poll);
				sum.submitted += st->submitted;
				sum.queue_full += st->queue_full;
				if (nw->has_tstats[k]) {
					const struct osp_nvme_qpair_transport_stats *t = &nw->tstats[k];

					printf("    transport: pdus_received %" PRIu64 ", send_requests %"
					       PRIu64 ", sends %" PRIu64 ", bytes_sent %" PRIu64
					       ", receives %" PRIu64 ", bytes_received %" PRIu64 "\n",
					       t->pdus_received, t->send_requests, t->sends, t->bytes_sent,
					       t->receives, t->bytes_received);
					tsum.pdus_received += t->pdus_received;
					tsum.send_requests += t->send_requests;
					tsum.sends += t->sends;
					tsum.bytes_sent += t->bytes_sent;
					tsum.receives += t->receives;
					tsum.bytes_received += t->bytes_received;
				}
			}
		}
	}
	printf("Total: polls %" PRIu64 ", idle_polls %" PRIu64 ", completions %" PRIu64
	       ", max_completions_per_poll %" PRIu64 ", submitted %" PRIu64 ", queue_full %" PRIu64
	       "\n", sum.polls, sum.idle_polls, sum.completions, sum.max_completions_per_poll,
	       sum.submitted, sum.queue_full);
	printf("    transport: pdus_received %" PRIu64 ", send_requests %" PRIu64 ", sends %"
	       PRIu64 ", bytes_sent %" PRIu64 ", receives %" PRIu64 ", bytes_received %" PRIu64
	       "\n\n", tsum.pdus_received, tsum.send_requests, tsum.sends, tsum.bytes_sent,
	       tsum.receives, tsum.bytes_received);
}

static int
report(void)
{
	struct result total = {.lat_min = UINT64_MAX};
	char label[512];
	int width = 69, rc = 0;
	uint32_t i, j;
	uint64_t errors = 0, miscompares = 0;
	double max_secs = 0;

	for (i = 0; i < g_num_workers; i++) {
		for (j = 0; j < g_workers[i].num_nws; j++) {
			int n = snprintf(label, sizeof(label), "%s from core %2u",
					 g_workers[i].nws[j].pns->name, g_workers[i].core);

			width = OSP_MAX(width, n);
		}
	}
	printf("========================================================\n");
	printf("%*s\n", width + 34, "Latency(us)");
	printf("%-*s: %10s %10s %10s %10s %10s\n", width, "Device Information", "IOPS", "MiB/s",
	       "Average", "min", "max");
	for (i = 0; i < g_num_workers; i++) {
		struct worker *w = &g_workers[i];
		double secs = (double)w->run_ns / 1e9;

		max_secs = OSP_MAX(max_secs, secs);
		for (j = 0; j < w->num_nws; j++) {
			struct ns_worker *nw = &w->nws[j];
			struct result r = {
				.ios = nw->io_completed, .lat_total = nw->lat_total,
				.lat_min = nw->lat_min, .lat_max = nw->lat_max, .secs = secs,
			};

			r.hist = nw->hist;
			snprintf(label, sizeof(label), "%s from core %2u", nw->pns->name, w->core);
			print_line(width, label, &r);
			total.ios += r.ios;
			total.lat_total += r.lat_total;
			total.lat_min = OSP_MIN(total.lat_min, r.lat_min);
			total.lat_max = OSP_MAX(total.lat_max, r.lat_max);
			/* Total IOPS is the sum of the per-line rates. */
			total.secs += secs > 0 ? (double)r.ios / secs : 0;
			osp_tool_hist_merge(&total.hist, &nw->hist);
			errors += nw->errors;
			miscompares += nw->miscompares;
		}
	}
	printf("========================================================\n");
	/* print_line() divides ios by secs: give it the time that yields the summed rate. */
	total.secs = total.secs > 0 ? (double)total.ios / total.secs : 0;
	print_line(width, "Total", &total);
	printf("\n");

	if (g_opts.latency) {
		for (i = 0; i < g_num_workers; i++) {
			for (j = 0; j < g_workers[i].num_nws; j++) {
				struct ns_worker *nw = &g_workers[i].nws[j];

				snprintf(label, sizeof(label), "%s from core %u", nw->pns->name,
					 g_workers[i].core);
				osp_tool_hist_print_summary(stdout, label, &nw->hist, g_ticks_per_us);
				if (g_opts.latency > 1) {
					osp_tool_hist_print_buckets(stdout, label, &nw->hist, g_ticks_per_us);
				}
			}
		}
	}
	if (g_opts.transport_stats) {
		print_transport_stats();
	}
	if (g_opts.json) {
		for (i = 0; i < g_num_workers; i++) {
			for (j = 0; j < g_workers[i].num_nws; j++) {
				struct ns_worker *nw = &g_workers[i].nws[j];
				struct result r = {
					.ios = nw->io_completed, .lat_total = nw->lat_total,
					.lat_min = nw->lat_min, .lat_max = nw->lat_max,
					.secs = (double)g_workers[i].run_ns / 1e9,
				};

				r.hist = nw->hist;
				print_json(nw->pns->name, (int)g_workers[i].core, &r);
			}
		}
		print_json("Total", -1, &total);
	}
	if (g_opts.verify) {
		printf("Verify: seed 0x%016" PRIx64 ", %" PRIu64 " miscompares\n", g_opts.seed,
		       miscompares);
	}
	if (errors || miscompares) {
		fprintf(stderr, "nvme_perf: %" PRIu64 " I/O errors, %" PRIu64 " miscompares\n", errors,
			miscompares);
		rc = 1;
	}
	for (i = 0; i < g_num_workers; i++) {
		if (g_workers[i].rc) {
			rc = 1;
		}
	}
	return rc;
}

/* A getopt value's spelling for messages: "-q" or "--zerocopy-threshold". */
static const char *
opt_name(int opt, const struct option *longopts)
{
	static char buf[64];

	if (opt < 256) {
		snprintf(buf, sizeof(buf), "-%c", opt);
		return buf;
	}
	for (; longopts->name != NULL; longopts++) {
		if (longopts->val == opt) {
			snprintf(buf, sizeof(buf), "--%s", longopts->name);
			return buf;
		}
	}
	return "an option";
}

/*
 * --zerocopy-threshold N: the sends of the host's sockets (connected
 * sockets: the posix implementation's enable_zerocopy_send_client) use
 * MSG_ZEROCOPY when a flush carries at least N bytes (0: every flush).
 */
static int
set_zcopy_threshold(void)
{
	struct osp_sock_impl_opts so;
	const char *impl = g_opts.zcopy_impl ? g_opts.zcopy_impl : osp_sock_get_default_impl();
	size_t len = sizeof(so);
	int rc;

	rc = impl != NULL ? osp_sock_impl_get_opts(impl, &so, &len) : -ENODEV;
	if (rc == 0) {
		so.enable_zerocopy_send_client = true;
		so.zerocopy_threshold = g_opts.zcopy_threshold;
		rc = osp_sock_impl_set_opts(impl, &so, sizeof(so));
	}
	if (rc != 0) {
		fprintf(stderr, "nvme_perf: cannot set the zero-copy threshold of socket "
			"implementation '%s': %s\n", impl ? impl : "(none)", strerror(-rc));
		return -1;
	}
	return 0;
}

static void
on_signal(int sig)
{
	g_interrupted = 1;
}

int
main(int argc, char **argv)
{
	enum {
		OPT_SEED = 1000, OPT_JSON, OPT_NO_PREFILL, OPT_ZCOPY_THRESHOLD, OPT_ZCOPY_IMPL,
		OPT_TRANSPORT_STATS
	};
	static const struct option longopts[] = {
		{"io-depth", required_argument, NULL, 'q'},
		{"io-size", required_argument, NULL, 'o'},
		{"io-pattern", required_argument, NULL, 'w'},
		{"rwmixread", required_argument, NULL, 'M'},
		{"time", required_argument, NULL, 't'},
		{"core-mask", required_argument, NULL, 'c'},
		{"num-qpairs", required_argument, NULL, 'P'},
		{"latency", no_argument, NULL, 'L'},
		{"enable-sw-latency-tracking", no_argument, NULL, 'L'},
		{"warmup-time", required_argument, NULL, 'a'},
		{"max-completion-per-poll", required_argument, NULL, 'C'},
		{"no-shst-notification", no_argument, NULL, 'N'},
		{"zerocopy-threshold", required_argument, NULL, OPT_ZCOPY_THRESHOLD},
		{"zerocopy-threshold-sock-impl", required_argument, NULL, OPT_ZCOPY_IMPL},
		{"transport-stats", no_argument, NULL, OPT_TRANSPORT_STATS},
		{"verify", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{"seed", required_argument, NULL, OPT_SEED},
		{"json", no_argument, NULL, OPT_JSON},
		{"no-prefill", no_argument, NULL, OPT_NO_PREFILL},
		OSP_TOOL_INITIATOR_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	uint32_t cores[MAX_CORES], i, j;
	int opt, n, rc;
	uint64_t v;
	bool all_done;

	osp_tool_initiator_opts_init(&g_opts.conn, MAX_TRIDS);
	while ((opt = getopt_long(argc, argv, "q:o:w:M:t:c:P:a:C:NLlVh" OSP_TOOL_INITIATOR_SHORTOPTS,
				  longopts, NULL)) != -1) {
		rc = osp_tool_initiator_parse(&g_opts.conn, opt, optarg);
		if (rc < 0) {
			fprintf(stderr, "nvme_perf: %s\n", g_opts.conn.errmsg);
			return 1;
		}
		if (rc == 0) {
			continue;
		}
		switch (opt) {
		case 'q':
		case 'o':
		case 'M':
		case 't':
		case 'P':
		case 'a':
		case 'C':
		case OPT_ZCOPY_THRESHOLD:
		case OPT_SEED:
			if (osp_parse_u64(optarg, 0, &v) != 0 || (opt != OPT_SEED && v > UINT32_MAX)) {
				fprintf(stderr, "nvme_perf: invalid number '%s' for %s (a whole number "
					"from 0%s)\n", optarg, opt_name(opt, longopts),
					opt == OPT_SEED ? "" : " to 4294967295");
				return 1;
			}
			if (opt == 'q') {
				g_opts.qd = (uint32_t)v;
			} else if (opt == 'o') {
				g_opts.io_size = (uint32_t)v;
			} else if (opt == 'M') {
				g_opts.rwmix_read = (int)OSP_MIN(v, 1000);
			} else if (opt == 't') {
				g_opts.seconds = (int)OSP_MIN(v, 100000);
			} else if (opt == 'P') {
				g_opts.qpairs_per_ns = (uint32_t)v;
			} else if (opt == 'a') {
				if (v > 100000) {
					fprintf(stderr, "nvme_perf: invalid warm-up time '%s' (-a: "
						"seconds from 0 to 100000)\n", optarg);
					return 1;
				}
				g_opts.warmup_seconds = (uint32_t)v;
			} else if (opt == 'C') {
				if (v == 0 || v > 65536) {
					fprintf(stderr, "nvme_perf: invalid max completions per poll "
						"'%s' (-C: 1 to 65536)\n", optarg);
					return 1;
				}
				g_opts.max_completions = (uint32_t)v;
			} else if (opt == OPT_ZCOPY_THRESHOLD) {
				g_opts.zcopy_set = true;
				g_opts.zcopy_threshold = (uint32_t)v;
			} else {
				g_opts.seed = v;
				g_opts.seed_set = true;
			}
			break;
		case 'w':
			if (parse_pattern(optarg) != 0) {
				fprintf(stderr, "Invalid I/O pattern '%s'\n", optarg);
				return 1;
			}
			break;
		case 'c':
			g_opts.core_mask = optarg;
			break;
		case 'L':
		case 'l':
			g_opts.latency++;
			break;
		case 'V':
			g_opts.verify = true;
			break;
		case 'N':
			g_opts.no_shn = true;
			break;
		case OPT_ZCOPY_IMPL:
			g_opts.zcopy_impl = optarg;
			break;
		case OPT_TRANSPORT_STATS:
			g_opts.transport_stats = true;
			break;
		case OPT_JSON:
			g_opts.json = true;
			break;
		case OPT_NO_PREFILL:
			g_opts.no_prefill = true;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (g_opts.qd == 0 || g_opts.io_size == 0 || g_opts.seconds == 0 ||
	    g_opts.conn.num_trids == 0) {
		fprintf(stderr, "-q, -o, -t and -r are required (and not 0)\n");
		usage(argv[0]);
		return 1;
	}
	if (g_opts.pattern == PAT_RW || g_opts.pattern == PAT_RANDRW) {
		if (g_opts.rwmix_read < 0) {
			g_opts.rwmix_read = 50;
		}
		if (g_opts.rwmix_read > 100) {
			fprintf(stderr, "-M must be 0..100\n");
			return 1;
		}
	}
	if (g_opts.qpairs_per_ns == 0 || g_opts.qpairs_per_ns > 64) {
		fprintf(stderr, "-P must be 1..64\n");
		return 1;
	}
	if (g_opts.io_size % 512 != 0) {
		fprintf(stderr, "-o must be a multiple of 512\n");
		return 1;
	}
	n = parse_cores(g_opts.core_mask ? g_opts.core_mask : "0x1", cores, MAX_CORES);
	if (n <= 0) {
		fprintf(stderr, "nvme_perf: invalid core mask '%s' (-c: a hex mask like 0x3 or a "
			"list like [0,1] or [0-1])\n", g_opts.core_mask);
		return 1;
	}
	g_num_workers = (uint32_t)n;
	lat_clock_init();
	if (!g_opts.seed_set) {
		g_opts.seed = now_ns() ^ ((uint64_t)getpid() << 32);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (g_opts.zcopy_impl != NULL && !g_opts.zcopy_set) {
		fprintf(stderr, "nvme_perf: --zerocopy-threshold-sock-impl needs --zerocopy-threshold\n");
		return 1;
	}
	if (g_opts.zcopy_set && set_zcopy_threshold() != 0) {
		return 1;
	}

	if (connect_all() != 0 || collect_namespaces() != 0) {
		if (g_num_ns == 0 && g_num_ctrlrs == g_opts.conn.num_trids) {
			fprintf(stderr, "No usable namespace found\n");
		}
		for (i = 0; i < g_num_ctrlrs; i++) {
			osp_nvme_detach(g_ctrlrs[i].ctrlr);
		}
		return 1;
	}
	/* Queue depth is per namespace per core, spread over its qpairs. */
	g_prefilling = g_opts.verify && !g_opts.no_prefill && g_opts.pattern != PAT_WRITE &&
		       g_opts.pattern != PAT_RANDWRITE;
	for (i = 0; i < g_num_workers; i++) {
		struct worker *w = &g_workers[i];

		w->core = cores[i];
		osp_tool_rng_seed(&w->rng, g_opts.seed, i);
		w->num_nws = g_num_ns;
		w->nws = calloc(g_num_ns, sizeof(*w->nws));
		if (w->nws == NULL) {
			return 1;
		}
		for (j = 0; j < g_num_ns; j++) {
			struct ns_worker *nw = &w->nws[j];

			nw->pns = &g_ns[j];
			nw->w = w;
			nw->num_qpairs = g_opts.qpairs_per_ns;
			nw->num_tasks = g_opts.qd;
			nw->lat_min = UINT64_MAX;
			STAILQ_INIT(&nw->retry);
		}
	}
	printf("Initializing NVMe Controllers\n");
	for (i = 0; i < g_num_ctrlrs; i++) {
		printf("Attached to NVMe over Fabrics controller at %s:%s: %s\n",
		       g_ctrlrs[i].trid.traddr, g_ctrlrs[i].trid.trsvcid, g_ctrlrs[i].trid.subnqn);
	}
	for (i = 0; i < g_num_ns; i++) {
		printf("Associating %s with lcore %u%s\n", g_ns[i].name, cores[0],
		       g_num_workers > 1 ? " (and every other core of the mask)" : "");
	}
	if (g_opts.warmup_seconds > 0) {
		printf("Warming up for %u seconds (I/O not counted), then running for %d seconds\n",
		       g_opts.warmup_seconds, g_opts.seconds);
	}
	printf("Initialization complete. Launching workers.\n");
	fflush(stdout);

	for (i = 0; i < g_num_workers; i++) {
		if (pthread_create(&g_workers[i].tid, NULL, worker_main, &g_workers[i]) != 0) {
			fprintf(stderr, "Cannot start worker thread\n");
			return 1;
		}
	}
	/* Keep the admin queues polled while workers connect and prefill. */
	do {
		all_done = true;
		for (i = 0; i < g_num_workers; i++) {
			all_done &= atomic_load(&g_workers[i].ready);
		}
		poll_admin();
		usleep(1000);
	} while (!all_done);
	atomic_store(&g_go, true);
	do {
		all_done = true;
		for (i = 0; i < g_num_workers; i++) {
			all_done &= atomic_load(&g_workers[i].done);
		}
		poll_admin();
		usleep(1000);
	} while (!all_done);
	for (i = 0; i < g_num_workers; i++) {
		pthread_join(g_workers[i].tid, NULL);
	}

	lat_clock_calibrate();
	rc = report();
	for (i = 0; i < g_num_ctrlrs; i++) {
		osp_nvme_detach(g_ctrlrs[i].ctrlr);
	}
	fflush(stdout);
	return rc;
}

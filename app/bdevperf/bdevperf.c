/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdevperf: drive bdevs at a fixed queue depth and report IOPS, bandwidth and
 * latency in the table layout SPDK's bdevperf prints (see doc/bdevperf.md).
 *
 * One job per bdev (or, with -C, one per bdev and core), each on its own
 * osp_thread pinned to its core. A job owns qd tasks, each with its own DMA
 * buffer; it never allocates on the I/O path and makes no system call.
 *
 * The I/O loop: a completion callback records the latency, prepares the
 * task's next I/O and pushes it on the job's pending stack; job_kick() issues
 * pending tasks. A module that completes inside submit_request would recurse
 * through the callback: job_kick() is not reentrant (the nested call only
 * pushes) and issues at most a budget of tasks per call, the job's poller
 * issuing the rest on the next pass, so neither the stack nor the reactor
 * loop can be starved. One rdtsc per I/O: the completion time of one I/O is
 * the submission time of the next.
 *
 * Threads: the app thread opens and closes descriptors, starts and collects
 * jobs and prints; job threads own their channel and tasks. They talk only
 * through osp_thread_send_msg().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/nvme_spec.h"
#include "osprey/rpc.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "osp_tool.h"

#define BDEVPERF_RESET_PERIOD_US	1000000ULL
#define BDEVPERF_MAX_MISCOMPARE_REPORTS	8
#define BDEVPERF_MIN_KICK_BUDGET	64

enum workload {
	WL_READ,
	WL_WRITE,
	WL_RANDREAD,
	WL_RANDWRITE,
	WL_RW,
	WL_RANDRW,
	WL_VERIFY,
	WL_RESET,
	WL_UNMAP,
	WL_FLUSH,
	WL_WRITE_ZEROES,
	WL_COUNT
};

static const char *const g_workload_names[WL_COUNT] = {
	"read", "write", "randread", "randwrite", "rw", "randrw", "verify", "reset", "unmap",
	"flush", "write_zeroes",
};

struct bdevperf_params {
	uint32_t queue_depth;		/* 0 = unset */
	uint64_t io_size;		/* 0 = unset */
	int workload;			/* -1 = unset */
	int rw_percentage;		/* -1 = unset */
	uint64_t time_sec;		/* 0 = unset */
};

struct job_stats {
	uint64_t completed;
	uint64_t failed;
	uint64_t lat_ticks;
	uint64_t lat_min;
	uint64_t lat_max;
};

struct job;

struct task {
	struct job *job;
	struct task *next;
	void *buf;
	/* verify: the data read back */
	void *rbuf;
	uint64_t offset_blocks;
	uint64_t submit_tsc;
	/* verify: the I/O slot this task holds in the job's range */
	uint64_t slot;
	uint8_t op;
	bool verify_read;
	bool slot_held;
	/*
	 * verify: the generation of the pattern the task wrote (32 bits: it fits
	 * in the padding before wait, so a task keeps its size on the hot path)
	 */
	uint32_t gen;
	struct osp_bdev_io_wait_entry wait;
};

struct run;

struct job {
	/* ---- I/O path (job thread) ---- */
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	struct task *pending;
	/* reset workload: tasks whose I/O the reset aborted wait here for it to end */
	struct task *parked;
	uint64_t last_tsc;
	struct osp_tool_rng rng;
	uint64_t next_seq;
	uint64_t ios_base;		/* first I/O slot of the job's range */
	uint64_t size_in_ios;		/* slots in the range */
	uint32_t io_blocks;
	uint32_t block_size;
	uint32_t outstanding;		/* tasks not idle: pending, waiting or in flight */
	uint32_t kick_budget;
	int workload;
	int rw_percentage;
	bool in_kick;
	bool draining;
	bool finishing;
	bool verify;
	bool random;
	bool reset_mode;
	struct job_stats st;
	uint64_t errors;		/* failures that fail the run */
	uint64_t miscompares;
	uint64_t aborted;		/* reset workload: I/O a reset aborted */
	uint64_t write_gen;
	uint64_t seed;
	uint64_t *slot_map;
	uint32_t reset_inflight;
	uint64_t resets;
	uint32_t miscompare_reports;
	bool submit_error_logged;

	/* ---- set up by the app thread ---- */
	struct run *run;
	char *name;
	struct osp_bdev *bdev;
	struct osp_thread *thread;
	uint32_t core;
	struct osp_cpuset mask;
	uint32_t qd;
	uint64_t io_size;
	struct task *tasks;
	void *buf_region;
	struct osp_poller *poller;
	struct osp_poller *end_timer;
	struct osp_poller *reset_timer;
	uint64_t start_tsc;
	uint64_t end_tsc;
	int init_rc;
	bool removed;
	bool stop_requested;
	bool write_open;
	/* progress (-S): values at the previous report, read racily by the app thread */
	uint64_t prev_completed;
	uint64_t prev_failed;
	uint64_t prev_lat_ticks;
	TAILQ_ENTRY(job) link;
};

struct run {
	struct bdevperf_params p;
	TAILQ_HEAD(, job) jobs;
	uint32_t njobs;
	uint32_t nready;
	uint32_t ndone;
	bool aborting;
	int rc;
	char errmsg[256];
	uint64_t start_tsc;
	uint64_t seed;
	/* perform_tests being answered (NULL once answered), and whether the run has one. */
	struct osp_jsonrpc_request *request;
	bool from_rpc;
	struct osp_poller *progress_poller;
	uint64_t progress_prev_tsc;
};

static struct osp_app_opts g_opts;
static struct bdevperf_params g_params = { .workload = -1, .rw_percentage = -1 };
static bool g_every_core;		/* -C */
static bool g_wait_for_rpc;		/* -z */
static uint64_t g_show_period_sec;	/* -S */
static const char *g_json_out;		/* -j */
static const char *g_target_bdev;	/* -T */
static struct osp_thread *g_main_thread;
static struct run *g_run;

static void job_kick(struct job *job);
static void job_drain(struct job *job);
static void job_finish(struct job *job);
static void run_job_done(void *arg);

/* ---- small helpers ---- */

static double
ticks_to_us(uint64_t ticks)
{
	return (double)ticks * 1000000.0 / (double)osp_get_ticks_hz();
}

static int
workload_from_name(const char *name)
{
	int i;

	for (i = 0; i < WL_COUNT; i++) {
		if (strcmp(name, g_workload_names[i]) == 0) {
			return i;
		}
	}
	return -1;
}

static void
print_workload_error(const char *name)
{
	int i;

	fprintf(stderr, "bdevperf: unknown workload '%s': use one of", name);
	for (i = 0; i < WL_COUNT; i++) {
		fprintf(stderr, " %s", g_workload_names[i]);
	}
	fprintf(stderr, "\n");
}

static bool
workload_writes(int wl)
{
	return wl != WL_READ && wl != WL_RANDREAD;
}

static bool
workload_mixed(int wl)
{
	return wl == WL_RW || wl == WL_RANDRW;
}

/* ---- verify (the pattern: osp_tool_pattern_fill, LBA + seed + generation) ---- */

static bool
verify_compare(struct job *job, struct task *t)
{
	struct osp_tool_pattern_err err;
	char what[256];

	if (osp_likely(osp_tool_pattern_check(t->rbuf, t->offset_blocks, job->io_blocks,
					      job->block_size, job->seed, t->gen, &err))) {
		return true;
	}
	job->miscompares++;
	if (job->miscompare_reports >= BDEVPERF_MAX_MISCOMPARE_REPORTS) {
		return false;
	}
	job->miscompare_reports++;
	osp_tool_pattern_err_fmt(what, sizeof(what), &err);
	printf("bdevperf: %s: miscompare at offset 0x%" PRIx64 " (block %" PRIu64 "): %s\n",
	       job->name, err.lba * job->block_size, err.lba, what);
	fflush(stdout);
	return false;
}

/* ---- the I/O loop (job thread) ---- */

static void
slot_release(struct job *job, struct task *t)
{
	if (t->slot_held) {
		job->slot_map[t->slot / 64] &= ~(1ULL << (t->slot % 64));
		t->slot_held = false;
	}
}

/* Choose the next I/O of t: type and offset. */
static inline void
task_prepare(struct job *job, struct task *t)
{
	uint64_t slot;

	if (job->verify) {
		if (t->verify_read) {
			t->op = OSP_BDEV_IO_TYPE_READ;
			return;
		}
		/* Sequential over the range, skipping slots other tasks hold (at most qd). */
		for (;;) {
			slot = job->next_seq;
			job->next_seq = slot + 1 == job->size_in_ios ? 0 : slot + 1;
			if ((job->slot_map[slot / 64] & (1ULL << (slot % 64))) == 0) {
				break;
			}
		}
		job->slot_map[slot / 64] |= 1ULL << (slot % 64);
		t->slot = slot;
		t->slot_held = true;
		t->offset_blocks = (job->ios_base + slot) * job->io_blocks;
		t->op = OSP_BDEV_IO_TYPE_WRITE;
		t->gen = (uint32_t)++job->write_gen;
		osp_tool_pattern_fill(t->buf, t->offset_blocks, job->io_blocks, job->block_size,
				      job->seed, t->gen);
		return;
	}
	if (job->random) {
		slot = osp_tool_rng_below(&job->rng, job->size_in_ios);
	} else {
		slot = job->next_seq;
		job->next_seq = slot + 1 == job->size_in_ios ? 0 : slot + 1;
	}
	t->offset_blocks = (job->ios_base + slot) * job->io_blocks;
	switch (job->workload) {
	case WL_READ:
	case WL_RANDREAD:
		t->op = OSP_BDEV_IO_TYPE_READ;
		break;
	case WL_WRITE:
	case WL_RANDWRITE:
		t->op = OSP_BDEV_IO_TYPE_WRITE;
		break;
	case WL_RW:
	case WL_RANDRW:
		t->op = (int)osp_tool_rng_below(&job->rng, 100) < job->rw_percentage ?
			OSP_BDEV_IO_TYPE_READ : OSP_BDEV_IO_TYPE_WRITE;
		break;
	case WL_UNMAP:
		t->op = OSP_BDEV_IO_TYPE_UNMAP;
		break;
	case WL_FLUSH:
		t->op = OSP_BDEV_IO_TYPE_FLUSH;
		break;
	default:
		t->op = OSP_BDEV_IO_TYPE_WRITE_ZEROES;
		break;
	}
}

/* A task leaves the loop (draining, or its I/O cannot be submitted at all). */
static void
task_retire(struct job *job, struct task *t)
{
	slot_release(job, t);
	t->verify_read = false;
	job->outstanding--;
	if (job->draining && job->outstanding == 0 && job->reset_inflight == 0) {
		job_finish(job);
	}
}

static void io_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg);

static inline int
task_issue(struct job *job, struct task *t)
{
	t->submit_tsc = job->last_tsc;
	switch (t->op) {
	case OSP_BDEV_IO_TYPE_READ:
		return osp_bdev_read_blocks(job->desc, job->ch, t->verify_read ? t->rbuf : t->buf,
					    t->offset_blocks, job->io_blocks, io_done, t);
	case OSP_BDEV_IO_TYPE_WRITE:
		return osp_bdev_write_blocks(job->desc, job->ch, t->buf, t->offset_blocks,
					     job->io_blocks, io_done, t);
	case OSP_BDEV_IO_TYPE_UNMAP:
		return osp_bdev_unmap_blocks(job->desc, job->ch, t->offset_blocks, job->io_blocks,
					     io_done, t);
	case OSP_BDEV_IO_TYPE_FLUSH:
		return osp_bdev_flush_blocks(job->desc, job->ch, t->offset_blocks, job->io_blocks,
					     io_done, t);
	default:
		return osp_bdev_write_zeroes_blocks(job->desc, job->ch, t->offset_blocks,
						    job->io_blocks, io_done, t);
	}
}

static void
task_wait_done(void *arg)
{
	struct task *t = arg;
	struct job *job = t->job;

	t->next = job->pending;
	job->pending = t;
	job->last_tsc = osp_get_ticks();
	job_kick(job);
}

static void
task_issue_failed(struct job *job, struct task *t, int rc)
{
	if (rc == -ENOMEM) {
		/* No bdev_io: the layer calls us back when one is free. */
		t->wait.bdev = job->bdev;
		t->wait.cb_fn = task_wait_done;
		t->wait.cb_arg = t;
		if (osp_bdev_queue_io_wait(job->bdev, job->ch, &t->wait) == 0) {
			return;
		}
		/* bdev_ios are available again after all: the poller retries. */
		t->next = job->pending;
		job->pending = t;
		return;
	}
	if (rc == -ENODEV) {
		/* The bdev is going away (its REMOVE event is on its way): stop quietly. */
		task_retire(job, t);
		job_drain(job);
		return;
	}
	if (!job->submit_error_logged) {
		job->submit_error_logged = true;
		printf("bdevperf: %s: submitting a %s failed: %s\n", job->name,
		       osp_bdev_io_type_name((enum osp_bdev_io_type)t->op), strerror(-rc));
		fflush(stdout);
	}
	job->st.failed++;
	job->errors++;
	task_retire(job, t);
}

static void
job_kick(struct job *job)
{
	uint32_t budget = job->kick_budget;
	struct task *t;
	int rc;

	if (job->in_kick) {
		return;
	}
	job->in_kick = true;
	while ((t = job->pending) != NULL && budget-- > 0) {
		job->pending = t->next;
		if (osp_unlikely(job->draining)) {
			task_retire(job, t);
			continue;
		}
		rc = task_issue(job, t);
		if (osp_unlikely(rc != 0)) {
			task_issue_failed(job, t, rc);
		}
	}
	job->in_kick = false;
}

/*
 * Aborted rather than failed: the layer's ABORTED, or the NVMe statuses a
 * controller reset gives (bdev_nvme fails the I/O of every namespace of the
 * controller, including those of another job on the same controller, with
 * Command Aborted due to SQ Deletion).
 */
static bool
io_was_aborted(const struct osp_bdev_io *bdev_io)
{
	uint32_t cdw0;
	int sct, sc;

	switch (osp_bdev_io_get_status(bdev_io)) {
	case OSP_BDEV_IO_STATUS_ABORTED:
		return true;
	case OSP_BDEV_IO_STATUS_NVME_ERROR:
		osp_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		return sct == OSP_NVME_SCT_GENERIC && (sc == OSP_NVME_SC_ABORTED_BY_REQUEST ||
						       sc == OSP_NVME_SC_ABORTED_SQ_DELETION);
	default:
		return false;
	}
}

static void
io_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct task *t = cb_arg;
	struct job *job = t->job;
	uint64_t now = osp_get_ticks(), lat = now - t->submit_tsc;
	/* A reset aborts what is in flight: expected in the reset workload, nowhere else. */
	bool aborted = !success && io_was_aborted(bdev_io);

	osp_bdev_free_io(bdev_io);
	job->last_tsc = now;
	job->st.lat_ticks += lat;
	if (osp_unlikely(lat < job->st.lat_min)) {
		job->st.lat_min = lat;
	}
	if (osp_unlikely(lat > job->st.lat_max)) {
		job->st.lat_max = lat;
	}
	if (osp_likely(!job->verify)) {
		if (osp_likely(success)) {
			job->st.completed++;
		} else {
			job->st.failed++;
			job->errors++;
		}
	} else if (!success) {
		job->st.failed++;
		if (job->reset_mode && aborted) {
			job->aborted++;
		} else {
			job->errors++;
		}
		slot_release(job, t);
		t->verify_read = false;
	} else if (!t->verify_read) {
		job->st.completed++;
		t->verify_read = true;
	} else {
		if (verify_compare(job, t)) {
			job->st.completed++;
		} else {
			job->st.failed++;
			job->errors++;
		}
		slot_release(job, t);
		t->verify_read = false;
	}
	if (osp_unlikely(job->draining)) {
		task_retire(job, t);
		return;
	}
	task_prepare(job, t);
	if (osp_unlikely(!success && job->reset_inflight > 0)) {
		/* Resubmitting now would only be aborted again: wait for the reset. */
		t->next = job->parked;
		job->parked = t;
		return;
	}
	t->next = job->pending;
	job->pending = t;
	job_kick(job);
}

static int
job_poll(void *arg)
{
	struct job *job = arg;

	if (job->pending == NULL) {
		return OSP_POLLER_IDLE;
	}
	job->last_tsc = osp_get_ticks();
	job_kick(job);
	return OSP_POLLER_BUSY;
}

static void
reset_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct job *job = cb_arg;

	struct task *t;

	osp_bdev_free_io(bdev_io);
	job->reset_inflight--;
	job->resets++;
	if (!success) {
		printf("bdevperf: %s: reset failed\n", job->name);
		fflush(stdout);
		job->errors++;
	}
	while ((t = job->parked) != NULL) {
		job->parked = t->next;
		t->next = job->pending;
		job->pending = t;
	}
	if (job->pending != NULL) {
		job->last_tsc = osp_get_ticks();
		job_kick(job);
	} else if (job->draining && job->outstanding == 0 && job->reset_inflight == 0) {
		job_finish(job);
	}
}

static int
job_reset_timer(void *arg)
{
	struct job *job = arg;

	if (job->draining || job->reset_inflight > 0) {
		return OSP_POLLER_IDLE;
	}
	if (osp_bdev_reset(job->desc, job->ch, reset_done, job) == 0) {
		job->reset_inflight++;
	}
	return OSP_POLLER_BUSY;
}

/* Stop issuing I/O; finish once what is in flight has come back. */
static void
job_drain(struct job *job)
{
	if (job->draining) {
		return;
	}
	job->draining = true;
	osp_poller_unregister(&job->end_timer);
	osp_poller_unregister(&job->reset_timer);
	if (job->outstanding == 0 && job->reset_inflight == 0) {
		job_finish(job);
	}
}

static int
job_end_timer(void *arg)
{
	job_drain(arg);
	return OSP_POLLER_BUSY;
}

static void
job_release(struct job *job)
{
	osp_poller_unregister(&job->poller);
	osp_poller_unregister(&job->end_timer);
	osp_poller_unregister(&job->reset_timer);
	if (job->ch != NULL) {
		osp_put_io_channel(job->ch);
		job->ch = NULL;
	}
	if (job->buf_region != NULL) {
		osp_dma_free(job->buf_region);
		job->buf_region = NULL;
	}
	free(job->tasks);
	job->tasks = NULL;
	free(job->slot_map);
	job->slot_map = NULL;
}

static void
job_finish_msg(void *arg)
{
	struct job *job = arg;

	job->end_tsc = osp_get_ticks();
	job_release(job);
	if (osp_thread_send_msg(g_main_thread, run_job_done, job) != 0) {
		OSP_ERRLOG("cannot report the end of job %s\n", job->name);
	}
	osp_thread_exit(osp_get_thread());
}

static void
job_finish(struct job *job)
{
	if (job->finishing) {
		return;
	}
	job->finishing = true;
	/* From a message: we may be deep inside a completion callback here. */
	if (osp_thread_send_msg(job->thread, job_finish_msg, job) != 0) {
		job_finish_msg(job);
	}
}

static void
job_run_msg(void *arg)
{
	struct job *job = arg;
	uint32_t i;

	job->start_tsc = osp_get_ticks();
	job->last_tsc = job->start_tsc;
	job->poller = OSP_POLLER_REGISTER(job_poll, job, 0);
	job->end_timer = osp_poller_register_named(job_end_timer, job,
			 job->run->p.time_sec * 1000000ULL, "bdevperf_end");
	if (job->reset_mode) {
		job->reset_timer = osp_poller_register_named(job_reset_timer, job,
				   BDEVPERF_RESET_PERIOD_US, "bdevperf_reset");
	}
	if (job->poller == NULL || job->end_timer == NULL) {
		printf("bdevperf: %s: cannot register pollers\n", job->name);
		job->errors++;
		job_drain(job);
		return;
	}
	if (job->stop_requested) {
		/* The bdev went away before the run started. */
		job_drain(job);
		return;
	}
	for (i = 0; i < job->qd; i++) {
		struct task *t = &job->tasks[i];

		task_prepare(job, t);
		t->next = job->pending;
		job->pending = t;
		job->outstanding++;
	}
	job_kick(job);
}

static void
job_stop_msg(void *arg)
{
	struct job *job = arg;

	job->stop_requested = true;
	if (job->start_tsc != 0) {
		job_drain(job);
	}
}

static void run_job_ready(void *arg);

static int
job_setup(struct job *job)
{
	size_t align = OSP_MAX(osp_bdev_get_buf_align(job->bdev), (size_t)64);
	size_t per_task = job->io_size * (job->verify ? 2 : 1);
	uint32_t i;

	job->ch = osp_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		return -ENOMEM;
	}
	job->tasks = calloc(job->qd, sizeof(*job->tasks));
	job->buf_region = osp_dma_malloc(per_task * job->qd, align, NULL);
	if (job->tasks == NULL || job->buf_region == NULL) {
		return -ENOMEM;
	}
	if (job->verify) {
		job->slot_map = calloc((job->size_in_ios + 63) / 64, sizeof(uint64_t));
		if (job->slot_map == NULL) {
			return -ENOMEM;
		}
	}
	for (i = 0; i < job->qd; i++) {
		struct task *t = &job->tasks[i];

		t->job = job;
		t->buf = (uint8_t *)job->buf_region + per_task * i;
		t->rbuf = job->verify ? (uint8_t *)t->buf + job->io_size : NULL;
		if (!job->verify && workload_writes(job->workload)) {
			/* Something other than zeroes, written once. */
			osp_tool_pattern_fill(t->buf, i, job->io_blocks, job->block_size, job->seed, 0);
		}
	}
	return 0;
}

static void
job_init_msg(void *arg)
{
	struct job *job = arg;

	job->init_rc = job_setup(job);
	if (job->init_rc != 0) {
		job_release(job);
	}
	if (osp_thread_send_msg(g_main_thread, run_job_ready, job) != 0) {
		OSP_ERRLOG("cannot report job %s ready\n", job->name);
	}
}

static void
job_abort_msg(void *arg)
{
	struct job *job = arg;

	job_release(job);
	job->end_tsc = osp_get_ticks();
	if (osp_thread_send_msg(g_main_thread, run_job_done, job) != 0) {
		OSP_ERRLOG("cannot report the end of job %s\n", job->name);
	}
	osp_thread_exit(osp_get_thread());
}

/* ---- results (app thread) ---- */

struct report_row {
	double runtime;
	double iops;
	double mibps;
	double fail_ps;
	double to_ps;
	double avg_us;
	double min_us;
	double max_us;
	uint64_t ios;
	uint64_t lat_ticks;
};

static void
job_row(const struct job *job, double runtime, uint64_t completed, uint64_t failed,
	uint64_t lat_ticks, struct report_row *r)
{
	uint64_t ios = completed + failed;

	memset(r, 0, sizeof(*r));
	r->runtime = runtime;
	if (runtime > 0) {
		r->iops = (double)completed / runtime;
		r->fail_ps = (double)failed / runtime;
	}
	r->mibps = r->iops * (double)job->io_size / (1024.0 * 1024.0);
	r->ios = ios;
	r->lat_ticks = lat_ticks;
	if (ios > 0) {
		r->avg_us = ticks_to_us(lat_ticks) / (double)ios;
		r->min_us = ticks_to_us(job->st.lat_min);
		r->max_us = ticks_to_us(job->st.lat_max);
	}
}

static void
print_header(void)
{
	printf("\n%107s\n", "Latency(us)");
	printf(" %-28s: %10s %10s %10s %10s %8s %10s %10s %10s\n", "Device Information",
	       "runtime(s)", "IOPS", "MiB/s", "Fail/s", "TO/s", "Average", "min", "max");
}

static void
print_job(const struct run *run, const struct job *job, const struct report_row *r)
{
	if (workload_mixed(run->p.workload)) {
		printf("Job: %s (Core Mask 0x%s, workload: %s, percentage: %d, depth: %u, "
		       "IO size: %" PRIu64 ")\n", job->name, osp_cpuset_fmt(&job->mask),
		       g_workload_names[run->p.workload], run->p.rw_percentage, job->qd,
		       job->io_size);
	} else {
		printf("Job: %s (Core Mask 0x%s, workload: %s, depth: %u, IO size: %" PRIu64 ")\n",
		       job->name, osp_cpuset_fmt(&job->mask), g_workload_names[run->p.workload],
		       job->qd, job->io_size);
	}
	if (job->verify) {
		printf("\t Verification LBA range: start 0x%" PRIx64 " length 0x%" PRIx64 "\n",
		       job->ios_base * job->io_blocks, job->size_in_ios * job->io_blocks);
	}
	printf("\t %-20s: %10.2f %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", job->name,
	       r->runtime, r->iops, r->mibps, r->fail_ps, r->to_ps, r->avg_us, r->min_us, r->max_us);
}

static void
print_total(const struct report_row *t)
{
	printf(" ==================================================================================="
	       "================================\n");
	printf(" %-28s: %10s %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", "Total", "",
	       t->iops, t->mibps, t->fail_ps, t->to_ps, t->avg_us, t->min_us, t->max_us);
}

static void
total_add(struct report_row *t, const struct report_row *r, bool first)
{
	t->iops += r->iops;
	t->mibps += r->mibps;
	t->fail_ps += r->fail_ps;
	t->to_ps += r->to_ps;
	t->ios += r->ios;
	t->lat_ticks += r->lat_ticks;
	if (r->ios > 0) {
		t->min_us = first || t->min_us == 0 ? r->min_us : OSP_MIN(t->min_us, r->min_us);
		t->max_us = OSP_MAX(t->max_us, r->max_us);
	}
}

static int
progress_poll(void *arg)
{
	struct run *run = arg;
	uint64_t now = osp_get_ticks();
	double period = (double)(now - run->progress_prev_tsc) / (double)osp_get_ticks_hz();
	struct report_row r, total;
	struct job *job;
	bool first = true;

	run->progress_prev_tsc = now;
	memset(&total, 0, sizeof(total));
	print_header();
	TAILQ_FOREACH(job, &run->jobs, link) {
		uint64_t c = __atomic_load_n(&job->st.completed, __ATOMIC_RELAXED);
		uint64_t f = __atomic_load_n(&job->st.failed, __ATOMIC_RELAXED);
		uint64_t l = __atomic_load_n(&job->st.lat_ticks, __ATOMIC_RELAXED);

		job_row(job, period, c - job->prev_completed, f - job->prev_failed,
			l - job->prev_lat_ticks, &r);
		/* Runtime column: time since the start; rates: over the last period. */
		r.runtime = (double)(now - run->start_tsc) / (double)osp_get_ticks_hz();
		job->prev_completed = c;
		job->prev_failed = f;
		job->prev_lat_ticks = l;
		print_job(run, job, &r);
		total_add(&total, &r, first);
		first = false;
	}
	if (total.ios > 0) {
		total.avg_us = ticks_to_us(total.lat_ticks) / (double)total.ios;
	}
	print_total(&total);
	fflush(stdout);
	return OSP_POLLER_BUSY;
}

static cJSON *
run_results_json(struct run *run, uint32_t *core_count)
{
	cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
	struct osp_cpuset cores;
	struct job *job;

	osp_cpuset_zero(&cores);
	TAILQ_FOREACH(job, &run->jobs, link) {
		cJSON *o = cJSON_CreateObject();
		double runtime = (double)(job->end_tsc - job->start_tsc) / (double)osp_get_ticks_hz();
		struct report_row r;

		osp_cpuset_set_cpu(&cores, job->core, true);
		job_row(job, job->start_tsc != 0 ? runtime : 0, job->st.completed, job->st.failed,
			job->st.lat_ticks, &r);
		cJSON_AddStringToObject(o, "job", job->name);
		osp_json_add_string_fmt(o, "core_mask", "0x%s", osp_cpuset_fmt(&job->mask));
		cJSON_AddStringToObject(o, "workload", g_workload_names[run->p.workload]);
		if (workload_mixed(run->p.workload)) {
			cJSON_AddNumberToObject(o, "percentage", run->p.rw_percentage);
		}
		cJSON_AddStringToObject(o, "status", job->removed ? "terminated" :
					job->errors > 0 ? "failed" : "finished");
		if (job->verify) {
			cJSON *vr = cJSON_AddObjectToObject(o, "verify_range");

			osp_json_add_uint64(vr, "start", job->ios_base * job->io_blocks);
			osp_json_add_uint64(vr, "length", job->size_in_ios * job->io_blocks);
		}
		cJSON_AddNumberToObject(o, "queue_depth", job->qd);
		osp_json_add_uint64(o, "io_size", job->io_size);
		cJSON_AddNumberToObject(o, "runtime", r.runtime);
		cJSON_AddNumberToObject(o, "iops", r.iops);
		cJSON_AddNumberToObject(o, "mibps", r.mibps);
		osp_json_add_uint64(o, "io_completed", job->st.completed);
		osp_json_add_uint64(o, "io_failed", job->st.failed);
		osp_json_add_uint64(o, "io_timeout", 0);
		osp_json_add_uint64(o, "miscompares", job->miscompares);
		if (job->reset_mode) {
			osp_json_add_uint64(o, "resets", job->resets);
			osp_json_add_uint64(o, "io_aborted", job->aborted);
		}
		cJSON_AddNumberToObject(o, "avg_latency_us", r.avg_us);
		cJSON_AddNumberToObject(o, "min_latency_us", r.min_us);
		cJSON_AddNumberToObject(o, "max_latency_us", r.max_us);
		cJSON_AddItemToArray(arr, o);
	}
	*core_count = osp_cpuset_count(&cores);
	cJSON_AddNumberToObject(root, "core_count", *core_count);
	return root;
}

static void
run_free(struct run *run)
{
	struct job *job;

	while ((job = TAILQ_FIRST(&run->jobs)) != NULL) {
		TAILQ_REMOVE(&run->jobs, job, link);
		if (job->desc != NULL) {
			osp_bdev_close(job->desc);
		}
		free(job->name);
		free(job);
	}
	free(run);
}

/*
 * End of a run: answer the RPC or stop the app. A run whose I/O failed ends
 * the app even under -z (as SPDK's bdevperf does: scripts see the exit
 * status); one that could not start only fails its perform_tests.
 */
static void
run_end(struct run *run, int rc, const char *errmsg, bool io_failed)
{
	struct osp_jsonrpc_request *request = run->request;
	bool from_rpc = run->from_rpc;

	if (run == g_run) {
		g_run = NULL;
	}
	run_free(run);
	if (!from_rpc) {
		osp_app_stop(rc);
		return;
	}
	if (rc != 0 && request != NULL) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "bdevperf failed: %s", errmsg ? errmsg : strerror(-rc));
	}
	if (rc != 0 && io_failed) {
		osp_app_stop(rc);
	}
}

static void
run_report(struct run *run)
{
	struct report_row r, total;
	struct job *job;
	uint64_t errors = 0, miscompares = 0, failed = 0, aborted = 0;
	uint32_t core_count;
	bool first = true;
	char msg[256];
	cJSON *json;
	int rc = 0;

	osp_poller_unregister(&run->progress_poller);
	memset(&total, 0, sizeof(total));
	print_header();
	TAILQ_FOREACH(job, &run->jobs, link) {
		double runtime = (double)(job->end_tsc - job->start_tsc) / (double)osp_get_ticks_hz();

		job_row(job, runtime, job->st.completed, job->st.failed, job->st.lat_ticks, &r);
		print_job(run, job, &r);
		total_add(&total, &r, first);
		first = false;
		errors += job->errors;
		miscompares += job->miscompares;
		failed += job->st.failed;
		aborted += job->aborted;
	}
	if (total.ios > 0) {
		total.avg_us = ticks_to_us(total.lat_ticks) / (double)total.ios;
	}
	print_total(&total);
	fflush(stdout);

	json = run_results_json(run, &core_count);
	if (g_json_out != NULL) {
		char *text = osp_json_print(json);
		FILE *f = fopen(g_json_out, "w");

		if (f == NULL || text == NULL || fprintf(f, "%s\n", text) < 0) {
			fprintf(stderr, "bdevperf: cannot write %s: %s\n", g_json_out, strerror(errno));
			rc = -EIO;
		}
		if (f != NULL) {
			fclose(f);
		}
		free(text);
	}
	snprintf(msg, sizeof(msg), "%" PRIu64 " I/O(s) failed (%" PRIu64 " miscompares, %" PRIu64
		 " aborted by resets)", failed, miscompares, aborted);
	if (errors > 0) {
		printf("bdevperf: %s\n", msg);
		fflush(stdout);
		rc = -EIO;
	}
	if (run->request != NULL && rc == 0) {
		osp_jsonrpc_send_result(run->request, json);
		json = NULL;
		run->request = NULL;
	}
	cJSON_Delete(json);
	run_end(run, rc, msg, errors > 0);
}

static void
run_job_done(void *arg)
{
	struct job *job = arg;
	struct run *run = job->run;

	if (++run->ndone < run->njobs) {
		return;
	}
	if (run->aborting) {
		run_end(run, run->rc ? run->rc : -EIO,
			run->errmsg[0] ? run->errmsg : "could not set up the jobs", false);
		return;
	}
	run_report(run);
}

static void
run_job_ready(void *arg)
{
	struct job *job = arg;
	struct run *run = job->run;
	struct job *j;

	if (job->init_rc != 0) {
		fprintf(stderr, "bdevperf: cannot set up job %s on core %u: %s\n", job->name,
			job->core, strerror(-job->init_rc));
		run->aborting = true;
		run->rc = job->init_rc;
		snprintf(run->errmsg, sizeof(run->errmsg), "cannot set up job %s on core %u: %s",
			 job->name, job->core, strerror(-job->init_rc));
	}
	if (++run->nready < run->njobs) {
		return;
	}
	if (run->aborting) {
		TAILQ_FOREACH(j, &run->jobs, link) {
			osp_thread_send_msg(j->thread, job_abort_msg, j);
		}
		return;
	}
	printf("Running I/O for %" PRIu64 " seconds...\n", run->p.time_sec);
	fflush(stdout);
	run->start_tsc = osp_get_ticks();
	run->progress_prev_tsc = run->start_tsc;
	if (g_show_period_sec > 0) {
		run->progress_poller = osp_poller_register_named(progress_poll, run,
				       g_show_period_sec * 1000000ULL, "bdevperf_progress");
	}
	TAILQ_FOREACH(j, &run->jobs, link) {
		osp_thread_send_msg(j->thread, job_run_msg, j);
	}
}

static void
bdev_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct job *job = ctx;

	if (type != OSP_BDEV_EVENT_REMOVE || job->removed) {
		return;
	}
	job->removed = true;
	printf("bdevperf: bdev %s is being removed: stopping its job\n", job->name);
	fflush(stdout);
	osp_thread_send_msg(job->thread, job_stop_msg, job);
}

static bool
bdev_supports(struct osp_bdev *bdev, int wl)
{
	switch (wl) {
	case WL_READ:
	case WL_RANDREAD:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_READ);
	case WL_WRITE:
	case WL_RANDWRITE:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE);
	case WL_RESET:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_RESET) &&
		       osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_READ) &&
		       osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE);
	case WL_UNMAP:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP);
	case WL_FLUSH:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_FLUSH);
	case WL_WRITE_ZEROES:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES);
	default:
		return osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_READ) &&
		       osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE);
	}
}

/* Add the jobs of bdev (one, or one per core with -C). */
static int
run_add_bdev(struct run *run, struct osp_bdev *bdev, uint32_t *next_core, char *err,
	     size_t errlen)
{
	const char *name = osp_bdev_get_name(bdev);
	uint32_t bs = osp_bdev_get_block_size(bdev), njobs = 0, i, core;
	uint64_t io_blocks, total_ios;
	uint32_t cores[1024];
	int rc;

	if (run->p.io_size % bs != 0) {
		snprintf(err, errlen, "I/O size %" PRIu64 " is not a multiple of the block size %u "
			 "of bdev %s", run->p.io_size, bs, name);
		return -EINVAL;
	}
	io_blocks = run->p.io_size / bs;
	total_ios = osp_bdev_get_num_blocks(bdev) / io_blocks;
	if (total_ios == 0) {
		snprintf(err, errlen, "bdev %s (%" PRIu64 " blocks) is smaller than one I/O of %"
			 PRIu64 " bytes", name, osp_bdev_get_num_blocks(bdev), run->p.io_size);
		return -EINVAL;
	}
	if (!bdev_supports(bdev, run->p.workload)) {
		printf("bdevperf: skipping bdev %s: it does not support the %s workload\n", name,
		       g_workload_names[run->p.workload]);
		return 0;
	}
	if (g_every_core) {
		OSP_ENV_FOREACH_CORE(core) {
			cores[njobs++] = core;
		}
	} else {
		cores[njobs++] = *next_core;
		*next_core = osp_env_get_next_core(*next_core);
		if (*next_core == UINT32_MAX) {
			*next_core = osp_env_get_first_core();
		}
	}
	for (i = 0; i < njobs; i++) {
		struct job *job = calloc(1, sizeof(*job));
		char tname[OSP_THREAD_NAME_MAX];

		if (job == NULL || (job->name = strdup(name)) == NULL) {
			free(job);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		TAILQ_INSERT_TAIL(&run->jobs, job, link);
		run->njobs++;
		job->run = run;
		job->bdev = bdev;
		job->core = cores[i];
		osp_cpuset_zero(&job->mask);
		osp_cpuset_set_cpu(&job->mask, job->core, true);
		job->workload = run->p.workload;
		job->rw_percentage = run->p.rw_percentage;
		job->verify = run->p.workload == WL_VERIFY || run->p.workload == WL_RESET;
		job->reset_mode = run->p.workload == WL_RESET;
		job->random = run->p.workload == WL_RANDREAD || run->p.workload == WL_RANDWRITE ||
			      run->p.workload == WL_RANDRW;
		job->block_size = bs;
		job->io_blocks = (uint32_t)io_blocks;
		job->io_size = run->p.io_size;
		job->qd = run->p.queue_depth;
		job->seed = run->seed;
		osp_tool_rng_seed(&job->rng, run->seed, run->njobs);
		job->st.lat_min = UINT64_MAX;
		if (job->verify) {
			/* Jobs on one bdev verify disjoint ranges. */
			job->size_in_ios = total_ios / njobs;
			job->ios_base = job->size_in_ios * i;
			if (job->size_in_ios == 0) {
				snprintf(err, errlen, "bdev %s is too small for %u verify jobs", name,
					 njobs);
				return -EINVAL;
			}
			if (job->qd > job->size_in_ios) {
				job->qd = (uint32_t)job->size_in_ios;
			}
		} else {
			job->size_in_ios = total_ios;
		}
		job->kick_budget = OSP_MAX(job->qd * 2, (uint32_t)BDEVPERF_MIN_KICK_BUDGET);
		job->write_open = workload_writes(run->p.workload);
		rc = osp_bdev_open_ext(name, job->write_open, bdev_event_cb, job, &job->desc);
		if (rc != 0) {
			snprintf(err, errlen, "cannot open bdev %s: %s", name, strerror(-rc));
			return rc;
		}
		snprintf(tname, sizeof(tname), "bdevperf_%s_%u", name, job->core);
		job->thread = osp_thread_create(tname, &job->mask);
		if (job->thread == NULL) {
			snprintf(err, errlen, "cannot create a thread for bdev %s", name);
			return -ENOMEM;
		}
	}
	return 0;
}

static void
run_fail_setup(struct run *run, int rc, const char *err)
{
	struct job *job;
	bool threads = false;

	fprintf(stderr, "bdevperf: %s\n", err);
	/* Threads were created but never started: let them exit. */
	TAILQ_FOREACH(job, &run->jobs, link) {
		if (job->thread != NULL) {
			threads = true;
			break;
		}
	}
	if (!threads) {
		run_end(run, rc, err, false);
		return;
	}
	run->aborting = true;
	run->rc = rc;
	snprintf(run->errmsg, sizeof(run->errmsg), "%s", err);
	run->nready = run->njobs;
	TAILQ_FOREACH(job, &run->jobs, link) {
		if (job->thread != NULL) {
			osp_thread_send_msg(job->thread, job_abort_msg, job);
		} else {
			run->ndone++;
		}
	}
}

static void
run_examined(void *arg)
{
	struct run *run = arg;
	struct osp_bdev *bdev;
	uint32_t next_core = osp_env_get_first_core();
	struct job *job;
	char err[256] = "";
	int rc = 0;

	if (g_target_bdev != NULL) {
		bdev = osp_bdev_get_by_name(g_target_bdev);
		if (bdev == NULL) {
			snprintf(err, sizeof(err), "no bdev named %s (-T)", g_target_bdev);
			rc = -ENODEV;
		} else {
			rc = run_add_bdev(run, bdev, &next_core, err, sizeof(err));
		}
	} else {
		for (bdev = osp_bdev_first(); bdev != NULL && rc == 0; bdev = osp_bdev_next(bdev)) {
			if (osp_bdev_get_claim_module(bdev) != NULL) {
				continue;
			}
			rc = run_add_bdev(run, bdev, &next_core, err, sizeof(err));
		}
	}
	if (rc == 0 && run->njobs == 0) {
		snprintf(err, sizeof(err), "no bdev to test: create one with --json or over RPC "
			 "(and check that it supports the %s workload)", g_workload_names[run->p.workload]);
		rc = -ENODEV;
	}
	if (rc != 0) {
		run_fail_setup(run, rc, err);
		return;
	}
	TAILQ_FOREACH(job, &run->jobs, link) {
		osp_thread_send_msg(job->thread, job_init_msg, job);
	}
}

/* Check the parameters of a run; NULL or a message. */
static const char *
params_check(const struct bdevperf_params *p, char *buf, size_t len)
{
	if (p->queue_depth == 0 || p->io_size == 0 || p->workload < 0 || p->time_sec == 0) {
		snprintf(buf, len, "missing %s%s%s%s(a run needs -q, -o, -w and -t, or the same "
			 "in perform_tests)", p->queue_depth == 0 ? "queue depth (-q) " : "",
			 p->io_size == 0 ? "I/O size (-o) " : "", p->workload < 0 ? "workload (-w) " : "",
			 p->time_sec == 0 ? "time (-t) " : "");
		return buf;
	}
	if (workload_mixed(p->workload) && p->rw_percentage < 0) {
		snprintf(buf, len, "the %s workload needs a read percentage (-M 0..100)",
			 g_workload_names[p->workload]);
		return buf;
	}
	if (p->io_size > (1ULL << 30)) {
		snprintf(buf, len, "I/O size %" PRIu64 " is too large (at most 1 GiB)", p->io_size);
		return buf;
	}
	return NULL;
}

static int
run_start(const struct bdevperf_params *p, struct osp_jsonrpc_request *request)
{
	struct run *run;
	char buf[256];
	const char *err = params_check(p, buf, sizeof(buf));
	int rc;

	if (err != NULL) {
		fprintf(stderr, "bdevperf: %s\n", err);
		if (request != NULL) {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS, err);
		}
		return -EINVAL;
	}
	run = calloc(1, sizeof(*run));
	if (run == NULL) {
		return -ENOMEM;
	}
	TAILQ_INIT(&run->jobs);
	run->p = *p;
	run->request = request;
	run->from_rpc = request != NULL;
	run->seed = (osp_get_ticks() * 0x9E3779B97F4A7C15ULL) | 1;
	g_run = run;
	rc = osp_bdev_wait_for_examine(run_examined, run);
	if (rc != 0) {
		g_run = NULL;
		free(run);
		fprintf(stderr, "bdevperf: waiting for bdev examine failed: %s\n", strerror(-rc));
		if (request != NULL) {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
							"waiting for bdev examine failed");
		}
	}
	return rc;
}

/* ---- perform_tests RPC (-z) ---- */

struct rpc_perform_tests {
	uint32_t queue_depth;
	uint64_t time_in_sec;
	char *workload_type;
	const cJSON *io_size;
	int32_t rw_percentage;
};

static const struct osp_json_object_decoder g_perform_tests_decoders[] = {
	{"queue_depth", offsetof(struct rpc_perform_tests, queue_depth), osp_json_decode_uint32, true},
	{"time_in_sec", offsetof(struct rpc_perform_tests, time_in_sec), osp_json_decode_uint64, true},
	{"workload_type", offsetof(struct rpc_perform_tests, workload_type), osp_json_decode_string, true},
	{"io_size", offsetof(struct rpc_perform_tests, io_size), osp_json_decode_raw, true},
	{"rw_percentage", offsetof(struct rpc_perform_tests, rw_percentage), osp_json_decode_int32, true},
};

static void
rpc_perform_tests(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_perform_tests req = { .rw_percentage = -1 };
	struct bdevperf_params p = g_params;
	uint64_t v;

	if (!osp_rpc_decode_params(request, params, g_perform_tests_decoders,
				   OSP_COUNTOF(g_perform_tests_decoders), &req)) {
		return;
	}
	if (g_run != NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_STATE,
						"A test is already running");
		goto out;
	}
	if (req.queue_depth != 0) {
		p.queue_depth = req.queue_depth;
	}
	if (req.time_in_sec != 0) {
		p.time_sec = req.time_in_sec;
	}
	if (req.workload_type != NULL) {
		p.workload = workload_from_name(req.workload_type);
		if (p.workload < 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'workload_type': unknown workload '%s'",
				req.workload_type);
			goto out;
		}
	}
	if (req.io_size != NULL) {
		if (cJSON_IsNumber(req.io_size) && req.io_size->valuedouble >= 1 &&
		    req.io_size->valuedouble <= (double)(1ULL << 40)) {
			p.io_size = (uint64_t)req.io_size->valuedouble;
		} else if (cJSON_IsString(req.io_size) &&
			   osp_parse_capacity(req.io_size->valuestring, &v) == 0 && v > 0) {
			p.io_size = v;
		} else {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'io_size': expected bytes (4096 or \"4k\")");
			goto out;
		}
	}
	if (req.rw_percentage != -1) {
		if (req.rw_percentage < 0 || req.rw_percentage > 100) {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'rw_percentage': expected 0..100");
			goto out;
		}
		p.rw_percentage = req.rw_percentage;
	}
	/* Later runs start from these values, as in SPDK. */
	g_params = p;
	run_start(&p, request);
out:
	osp_json_free_object(g_perform_tests_decoders, OSP_COUNTOF(g_perform_tests_decoders), &req);
}
OSP_RPC_REGISTER("perform_tests", rpc_perform_tests, OSP_RPC_RUNTIME)

/* ---- start-up ---- */

static void
bdevperf_started(void *ctx)
{
	g_main_thread = osp_get_thread();
	if (g_wait_for_rpc) {
		printf("bdevperf: waiting for perform_tests on %s\n",
		       osp_rpc_get_listen_addr() ? osp_rpc_get_listen_addr() : "(no RPC socket)");
		fflush(stdout);
		return;
	}
	if (run_start(&g_params, NULL) != 0) {
		osp_app_stop(-EINVAL);
	}
}

static void
bdevperf_usage(void)
{
	int i;

	printf("bdevperf options:\n");
	printf(" -q <depth>          I/Os in flight per job\n");
	printf(" -o <size>           I/O size in bytes (4096, 4k, 128K, 1M)\n");
	printf(" -w <workload>       one of");
	for (i = 0; i < WL_COUNT; i++) {
		printf(" %s", g_workload_names[i]);
	}
	printf("\n -M <percent>        reads in %% of the I/Os for rw and randrw\n");
	printf(" -t <seconds>        run time\n");
	printf(" -C                  every core drives every bdev (default: one job per bdev,\n"
	       "                     jobs spread over the cores of -m)\n");
	printf(" -T <bdev>           test only this bdev (default: every bdev nobody claimed)\n");
	printf(" -z                  wait for the perform_tests RPC (scripts/bdevperf.py)\n");
	printf(" -S <seconds>        print progress every so many seconds\n");
	printf(" -j <file>           also write the results as JSON to file\n");
	printf("Bdevs come from the JSON config (--json) or, with -z, from RPCs.\n");
}

static int
bdevperf_parse_arg(int ch, char *arg)
{
	uint64_t v;

	switch (ch) {
	case 'q':
		if (osp_parse_u64(arg, 10, &v) != 0 || v == 0 || v > 65536) {
			fprintf(stderr, "bdevperf: invalid queue depth '%s' (-q 1..65536)\n", arg);
			return -EINVAL;
		}
		g_params.queue_depth = (uint32_t)v;
		return 0;
	case 'o':
		if (osp_parse_capacity(arg, &v) != 0 || v == 0) {
			fprintf(stderr, "bdevperf: invalid I/O size '%s' (-o 4096, 4k, 128k, 1M)\n", arg);
			return -EINVAL;
		}
		g_params.io_size = v;
		return 0;
	case 'w':
		g_params.workload = workload_from_name(arg);
		if (g_params.workload < 0) {
			print_workload_error(arg);
			return -EINVAL;
		}
		return 0;
	case 'M':
		if (osp_parse_u64(arg, 10, &v) != 0 || v > 100) {
			fprintf(stderr, "bdevperf: invalid read percentage '%s' (-M 0..100)\n", arg);
			return -EINVAL;
		}
		g_params.rw_percentage = (int)v;
		return 0;
	case 't':
		if (osp_parse_u64(arg, 10, &v) != 0 || v == 0 || v > 1000000) {
			fprintf(stderr, "bdevperf: invalid time '%s' (-t seconds, at least 1)\n", arg);
			return -EINVAL;
		}
		g_params.time_sec = v;
		return 0;
	case 'S':
		if (osp_parse_u64(arg, 10, &v) != 0 || v == 0 || v > 1000000) {
			fprintf(stderr, "bdevperf: invalid progress period '%s' (-S seconds)\n", arg);
			return -EINVAL;
		}
		g_show_period_sec = v;
		return 0;
	case 'C':
		g_every_core = true;
		return 0;
	case 'z':
		g_wait_for_rpc = true;
		return 0;
	case 'j':
		g_json_out = arg;
		return 0;
	case 'T':
		g_target_bdev = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

int
main(int argc, char **argv)
{
	const char *err;
	char buf[256];
	int rc;

	osp_app_opts_init(&g_opts, sizeof(g_opts));
	g_opts.name = "bdevperf";
	/* Listen only with -z or an explicit -r: runs side by side need no socket. */
	g_opts.rpc_addr = NULL;
	rc = osp_app_parse_args(argc, argv, &g_opts, "q:o:w:M:t:S:j:T:Cz", NULL,
				bdevperf_parse_arg, bdevperf_usage);
	if (rc != OSP_APP_PARSE_ARGS_SUCCESS) {
		return rc == OSP_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	if (g_wait_for_rpc && g_opts.rpc_addr == NULL) {
		g_opts.rpc_addr = OSP_DEFAULT_RPC_ADDR;
	}
	if (!g_wait_for_rpc) {
		err = params_check(&g_params, buf, sizeof(buf));
		if (err != NULL) {
			fprintf(stderr, "bdevperf: %s\n", err);
			return 1;
		}
	} else if (g_params.rw_percentage >= 0 && g_params.workload >= 0 &&
		   !workload_mixed(g_params.workload)) {
		/* -M with a workload that has no mix: accepted and ignored, as SPDK does. */
	}
	rc = osp_app_start(&g_opts, bdevperf_started, NULL);
	osp_app_fini();
	return rc == 0 ? 0 : 1;
}

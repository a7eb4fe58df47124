/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null_direct: the null bdev module driven without the bdev layer, to price
 * the layer. The program is linked with the null module's library but not
 * with lib/bdev: the few layer functions the module calls are provided here
 * (a "shim": register, complete...), so an I/O costs exactly the module's
 * submit_request + its completion poller + this loop's resubmission, the
 * same loop bdevperf runs (per-I/O xorshift offset, no allocation).
 *
 * Compare its IOPS with bdevperf's on a null bdev (bench/bdev/run_bdev.sh):
 * 1e9/IOPS(bdevperf) - 1e9/IOPS(null_direct) is what the layer and
 * bdevperf's own bookkeeping add per I/O, in ns.
 *
 * Usage: null_direct [-t seconds] [-q depth] [-o io_size]
 * Prints one line: "null_direct: <iops> IOPS, <ns> ns/IO (qd Q, io_size O)".
 * Not built by the Makefile (it must not link lib/bdev): run_bdev.sh builds it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "../../../drivers/bdev/null/bdev_null.h"

/* ---- the shim: what the null module needs from the layer ---- */

static TAILQ_HEAD(, osp_bdev_module) g_modules = TAILQ_HEAD_INITIALIZER(g_modules);
static struct osp_bdev *g_bdev;

void
osp_bdev_module_list_add(struct osp_bdev_module *module)
{
	TAILQ_INSERT_TAIL(&g_modules, module, internal.link);
}

struct osp_bdev_module *
osp_bdev_module_list_find(const char *name)
{
	struct osp_bdev_module *m;

	TAILQ_FOREACH(m, &g_modules, internal.link) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

void osp_bdev_module_init_done(struct osp_bdev_module *module) {}
void osp_bdev_module_fini_done(void) {}
void osp_bdev_module_examine_done(struct osp_bdev_module *module) {}
void osp_bdev_destruct_done(struct osp_bdev *bdev, int bdeverrno) {}

int
osp_bdev_register(struct osp_bdev *bdev)
{
	if (g_bdev != NULL) {
		return -EEXIST;
	}
	g_bdev = bdev;
	return 0;
}

int
osp_bdev_unregister(struct osp_bdev *bdev, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	g_bdev = NULL;
	bdev->fn_table->destruct(bdev->ctxt);
	if (cb_fn != NULL) {
		cb_fn(cb_arg, 0);
	}
	return 0;
}

int
osp_bdev_unregister_by_name(const char *name, struct osp_bdev_module *module,
			    osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	if (g_bdev == NULL || strcmp(g_bdev->name, name) != 0) {
		return -ENODEV;
	}
	return osp_bdev_unregister(g_bdev, cb_fn, cb_arg);
}

/* The module's RPCs are registered but never called here. */
int
osp_bdev_name_check(const char *name, char *err, size_t errlen)
{
	abort();
}

void
osp_bdev_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
		    const char *param, osp_bdev_delete_fn delete_fn, const char *what,
		    const char *not_found_fmt)
{
	abort();
}

/* The layer's completion batching, as lib/bdev does it: one poller per list. */
static int
cpl_list_poll(void *arg)
{
	struct osp_bdev_cpl_list *list = arg;
	struct osp_bdev_cpl_entry *entry;
	STAILQ_HEAD(, osp_bdev_cpl_entry) batch = STAILQ_HEAD_INITIALIZER(batch);

	if (STAILQ_EMPTY(&list->done)) {
		return OSP_POLLER_IDLE;
	}
	STAILQ_CONCAT(&batch, &list->done);
	while ((entry = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		osp_bdev_io_complete(osp_bdev_io_from_ctx(entry), entry->status);
	}
	return OSP_POLLER_BUSY;
}

int
osp_bdev_cpl_list_init(struct osp_bdev_cpl_list *list, const char *poller_name)
{
	STAILQ_INIT(&list->done);
	list->poller = osp_poller_register_named(cpl_list_poll, list, 0, poller_name);
	return list->poller != NULL ? 0 : -ENOMEM;
}

void
osp_bdev_cpl_list_fini(struct osp_bdev_cpl_list *list)
{
	cpl_list_poll(list);
	osp_poller_unregister(&list->poller);
}

struct osp_bdev *
osp_bdev_get_by_name(const char *name)
{
	return g_bdev != NULL && strcmp(g_bdev->name, name) == 0 ? g_bdev : NULL;
}

const char *
osp_bdev_get_name(const struct osp_bdev *bdev)
{
	return bdev->name;
}

int
osp_bdev_notify_blockcnt_change(struct osp_bdev *bdev, uint64_t size)
{
	bdev->blockcnt = size;
	return 0;
}

struct osp_bdev_module *
osp_bdev_get_claim_module(struct osp_bdev *bdev)
{
	return NULL;
}

void
osp_bdev_io_get_buf(struct osp_bdev_io *bdev_io, osp_bdev_io_get_buf_cb cb, uint64_t len)
{
	/* Every I/O here comes with a buffer. */
	cb(NULL, bdev_io, true);
}

/* ---- the loop ---- */

struct bench_io {
	struct bench_io *next;
	struct iovec iov;
	struct osp_bdev_io *bdev_io;
};

static struct osp_io_channel *g_ch;
static struct bench_io *g_pending;
static bool g_in_kick;
static bool g_stop;
static uint64_t g_completed, g_failed, g_rng = 0x9E3779B97F4A7C15ULL, g_nblocks_io, g_range;

static inline uint64_t
rng_below(uint64_t n)
{
	uint64_t x = g_rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g_rng = x;
	return (uint64_t)(((unsigned __int128)(x * 0x2545F4914F6CDD1DULL) * n) >> 64);
}

static inline void
bench_submit(struct bench_io *bio)
{
	struct osp_bdev_io *io = bio->bdev_io;

	io->u.bdev.offset_blocks = rng_below(g_range) * g_nblocks_io;
	g_bdev->fn_table->submit_request(g_ch, io);
}

/* Same trampoline as bdevperf: a completion inside submit only queues. */
static void
bench_kick(void)
{
	struct bench_io *bio;

	if (g_in_kick) {
		return;
	}
	g_in_kick = true;
	while ((bio = g_pending) != NULL && !g_stop) {
		g_pending = bio->next;
		bench_submit(bio);
	}
	g_in_kick = false;
}

void
osp_bdev_io_complete(struct osp_bdev_io *bdev_io, enum osp_bdev_io_status status)
{
	struct bench_io *bio = (struct bench_io *)bdev_io->internal.cb_arg;

	if (osp_likely(status == OSP_BDEV_IO_STATUS_SUCCESS)) {
		g_completed++;
	} else {
		g_failed++;
	}
	bio->next = g_pending;
	g_pending = bio;
	bench_kick();
}

int
main(int argc, char **argv)
{
	struct osp_env_opts env;
	struct bdev_null_opts nopts;
	struct osp_bdev_module *m;
	struct osp_thread *thread;
	struct bench_io *ios;
	uint64_t secs = 5, qd = 128, io_size = 4096, t0, t1, end, hz;
	size_t io_bytes;
	uint8_t *bufs;
	double iops;
	int ch, rc;
	uint64_t i;

	while ((ch = getopt(argc, argv, "t:q:o:")) != -1) {
		uint64_t v;

		if (osp_parse_capacity(optarg, &v) != 0 || v == 0) {
			fprintf(stderr, "null_direct: bad value '%s'\n", optarg);
			return 1;
		}
		if (ch == 't') {
			secs = v;
		} else if (ch == 'q') {
			qd = v;
		} else if (ch == 'o') {
			io_size = v;
		} else {
			fprintf(stderr, "usage: null_direct [-t seconds] [-q depth] [-o io_size]\n");
			return 1;
		}
	}
	osp_env_opts_init(&env);
	env.name = "null_direct";
	env.core_mask = "0x1";
	env.no_huge = true;
	env.mem_size_mb = 256;
	if (osp_env_init(&env) != 0) {
		fprintf(stderr, "null_direct: env init failed\n");
		return 1;
	}
	osp_log_set_print_level(OSP_LOG_WARN);
	if (osp_thread_lib_init(NULL, 0) != 0 || (thread = osp_thread_create("bench", NULL)) == NULL) {
		fprintf(stderr, "null_direct: thread init failed\n");
		return 1;
	}
	osp_set_thread(thread);
	m = osp_bdev_module_list_find("null");
	if (m == NULL) {
		fprintf(stderr, "null_direct: the null module is not linked in\n");
		return 1;
	}
	if (m->module_init != NULL && m->module_init() != 0) {
		fprintf(stderr, "null_direct: null module init failed\n");
		return 1;
	}
	memset(&nopts, 0, sizeof(nopts));
	nopts.name = "NullDirect0";
	nopts.block_size = 4096;
	nopts.num_blocks = 262144;
	rc = bdev_null_create(&nopts, &g_bdev);
	if (rc != 0 || g_bdev == NULL) {
		fprintf(stderr, "null_direct: bdev_null_create: %s\n", strerror(-rc));
		return 1;
	}
	if (io_size % g_bdev->blocklen != 0) {
		fprintf(stderr, "null_direct: -o must be a multiple of %u\n", g_bdev->blocklen);
		return 1;
	}
	g_nblocks_io = io_size / g_bdev->blocklen;
	g_range = g_bdev->blockcnt / g_nblocks_io;
	g_ch = g_bdev->fn_table->get_io_channel(g_bdev->ctxt);
	if (g_ch == NULL) {
		fprintf(stderr, "null_direct: no channel\n");
		return 1;
	}
	io_bytes = (sizeof(struct osp_bdev_io) + (size_t)(m->get_ctx_size ? m->get_ctx_size() : 0) +
		    63) & ~(size_t)63;
	ios = calloc(qd, sizeof(*ios));
	bufs = osp_dma_malloc(qd * io_size, 4096, NULL);
	if (ios == NULL || bufs == NULL) {
		fprintf(stderr, "null_direct: out of memory\n");
		return 1;
	}
	for (i = 0; i < qd; i++) {
		struct osp_bdev_io *io = aligned_alloc(64, io_bytes);

		memset(io, 0, io_bytes);
		ios[i].bdev_io = io;
		ios[i].iov.iov_base = bufs + i * io_size;
		ios[i].iov.iov_len = io_size;
		io->bdev = g_bdev;
		io->type = OSP_BDEV_IO_TYPE_READ;
		io->u.bdev.iovs = &ios[i].iov;
		io->u.bdev.iovcnt = 1;
		io->u.bdev.num_blocks = g_nblocks_io;
		/* The layer's private area is ours here: it leads back to the bench_io. */
		io->internal.cb_arg = &ios[i];
		ios[i].next = g_pending;
		g_pending = &ios[i];
	}
	hz = osp_get_ticks_hz();
	t0 = osp_get_ticks();
	end = t0 + secs * hz;
	bench_kick();
	do {
		for (i = 0; i < 1024; i++) {
			osp_thread_poll(thread, 0, 0);
		}
		t1 = osp_get_ticks();
	} while (t1 < end);
	g_stop = true;
	iops = (double)g_completed * (double)hz / (double)(t1 - t0);
	printf("null_direct: %.0f IOPS, %.2f ns/IO (qd %" PRIu64 ", io_size %" PRIu64
	       ", %" PRIu64 " failed)\n", iops, 1e9 / iops, qd, io_size, g_failed);
	return g_failed == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The block device layer: options, the bdev_io pool and the management
 * channel, per-thread bdev channels, the submit/complete path (NOMEM
 * retries, resets, the channel drain), initialization, teardown and the
 * "bdev" subsystem. Beside it: bdev_register.c (modules, lookup,
 * registration, examine, descriptors, claims, unregistration), bdev_emul.c
 * (split, bounce, compare and compare-and-write emulation, LBA range
 * locks), bdev_qos.c (QoS), bdev_stat.c (statistics), bdev_buf.c (data
 * buffers over the iobuf pools), bdev_rpc.c (RPCs) and vbdev.c (virtual
 * bdev helpers); bdev_internal.h holds what they share, with the fast
 * path's helpers inline.
 *
 * The I/O path
 * ------------
 * Each thread has a management channel (the io_device &g_bdev) holding the
 * thread's bdev_io cache (a LIFO array over a global ring), its data buffer
 * caches, the io_wait queue and a list of deferred completions drained by a
 * poller. Each bdev is an io_device whose per-thread channel holds the
 * module's channel, statistics, and the per-channel state of the slow paths.
 *
 * A read or write on a channel whose flags are 0 (no QoS, no locked range,
 * no reset, no NOMEM backlog, no split/bounce/write-unit checks needed by
 * the bdev) takes a bdev_io from the cache, counts it, reads the TSC and
 * calls the module: no lock, atomic, syscall, allocation or message.
 * A module that completes an I/O from a poller gets the user's callback
 * called directly; one that completes inside submit_request (counted by
 * mgmt->in_submit) has the completion queued on the thread's deferred list,
 * which the management poller drains on the next iteration, so callbacks
 * never run inside the submit call and recursion stays bounded.
 *
 * Slow paths, in the order a user I/O meets them:
 *  - reset in progress (channel frozen): the I/O completes with ABORTED;
 *  - LBA range locks (compare-and-write emulation): a write overlapping a
 *    range locked on this channel waits on the channel's locked_io list;
 *  - the I/O is then counted in the channel's current generation
 *    (gen_outstanding[gen]);
 *  - QoS: the I/O is sent to the bdev's QoS thread, queued there and
 *    started when the time slice has credit; its completion is sent back;
 *  - execution: split (max_rw_size, optimal_io_boundary, bounce size),
 *    emulation (write zeroes with writes of a zero buffer, compare with a
 *    read and memcmp), bounce through an aligned buffer, then the module.
 *
 * Range locks: a compare-and-write on a bdev that has no native one locks
 * its LBA range. The lock is recorded per bdev (conflicting locks wait) and
 * propagated to every channel with osp_for_each_channel(). On each channel
 * the lock flips the generation counter and waits until every I/O counted
 * in the previous generation has completed, so no write that started before
 * the lock can still be running; writes that overlap the range and arrive
 * later wait on the channel until the lock is released (again on every
 * channel). I/O is counted only once past the lock stage, so a write
 * waiting for one lock never holds up the draining of another. Why two
 * generations: see "draining a channel" below.
 *
 * Reset: the reset freezes every channel (new I/O completes with ABORTED,
 * I/O queued in the layer for NOMEM, QoS or a range lock is aborted), waits
 * for the I/O running on every channel to complete, submits the reset to
 * the module and unfreezes the channels when it completes. Resets arriving
 * meanwhile complete with the status of the running one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/iobuf.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_internal.h"

OSP_LOG_REGISTER_COMPONENT(bdev)

#define BDEV_DEFAULT_IO_POOL_SIZE		65535
#define BDEV_DEFAULT_IO_CACHE_SIZE		256
#define BDEV_DEFAULT_SMALL_CACHE_SIZE		128
#define BDEV_DEFAULT_LARGE_CACHE_SIZE		16

struct bdev_globals g_bdev = {
	.opts = {
		.opts_size = sizeof(struct osp_bdev_opts),
		.bdev_io_pool_size = BDEV_DEFAULT_IO_POOL_SIZE,
		.bdev_io_cache_size = BDEV_DEFAULT_IO_CACHE_SIZE,
		.bdev_auto_examine = true,
		.small_buf_pool_size = OSP_IOBUF_SMALL_POOL_COUNT_DEFAULT,
		.large_buf_pool_size = OSP_IOBUF_LARGE_POOL_COUNT_DEFAULT,
		.iobuf_small_cache_size = BDEV_DEFAULT_SMALL_CACHE_SIZE,
		.iobuf_large_cache_size = BDEV_DEFAULT_LARGE_CACHE_SIZE,
	},
	.modules = TAILQ_HEAD_INITIALIZER(g_bdev.modules),
	.bdevs = TAILQ_HEAD_INITIALIZER(g_bdev.bdevs),
	.removing = TAILQ_HEAD_INITIALIZER(g_bdev.removing),
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.examine_waiters = TAILQ_HEAD_INITIALIZER(g_bdev.examine_waiters),
	.examine_allow = TAILQ_HEAD_INITIALIZER(g_bdev.examine_allow),
};

/* A variable so that tests can shorten it. */
static uint64_t g_bdev_reset_drain_timeout_us = BDEV_RESET_DRAIN_TIMEOUT_US;

static const char *const g_io_type_names[OSP_BDEV_NUM_IO_TYPES] = {
	[OSP_BDEV_IO_TYPE_INVALID] = "invalid",
	[OSP_BDEV_IO_TYPE_READ] = "read",
	[OSP_BDEV_IO_TYPE_WRITE] = "write",
	[OSP_BDEV_IO_TYPE_UNMAP] = "unmap",
	[OSP_BDEV_IO_TYPE_FLUSH] = "flush",
	[OSP_BDEV_IO_TYPE_RESET] = "reset",
	[OSP_BDEV_IO_TYPE_NVME_ADMIN] = "nvme_admin",
	[OSP_BDEV_IO_TYPE_NVME_IO] = "nvme_io",
	[OSP_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
	[OSP_BDEV_IO_TYPE_COMPARE] = "compare",
	[OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE] = "compare_and_write",
};

static const char *const g_qos_limit_names[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {
	"rw_ios_per_sec", "rw_mbytes_per_sec", "r_mbytes_per_sec", "w_mbytes_per_sec",
};


const char *
osp_bdev_io_type_name(enum osp_bdev_io_type type)
{
	if ((int)type < 0 || type >= OSP_BDEV_NUM_IO_TYPES) {
		return "invalid";
	}
	return g_io_type_names[type];
}

enum osp_bdev_io_type
osp_bdev_io_type_from_name(const char *name)
{
	int i;

	for (i = 1; name != NULL && i < OSP_BDEV_NUM_IO_TYPES; i++) {
		if (strcmp(name, g_io_type_names[i]) == 0) {
			return (enum osp_bdev_io_type)i;
		}
	}
	return OSP_BDEV_IO_TYPE_INVALID;
}

/* ---- options ---- */

void
osp_bdev_get_opts(struct osp_bdev_opts *opts, size_t opts_size)
{
	struct osp_bdev_opts tmp = g_bdev.opts;
	struct osp_iobuf_opts io;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	/* The buffer pool sizes are the iobuf global pools' (kept here for SPDK configs). */
	osp_iobuf_get_opts(&io, sizeof(io));
	tmp.small_buf_pool_size = (uint32_t)io.small_pool_count;
	tmp.large_buf_pool_size = (uint32_t)io.large_pool_count;
	tmp.opts_size = opts_size;
	memcpy(opts, &tmp, OSP_MIN(opts_size, sizeof(tmp)));
}

void
bdev_get_opts_internal(struct osp_bdev_opts *opts)
{
	*opts = g_bdev.opts;
}

int
osp_bdev_set_opts(const struct osp_bdev_opts *opts)
{
	struct osp_bdev_opts tmp = g_bdev.opts;

	if (opts == NULL || opts->opts_size == 0) {
		return -EINVAL;
	}
	if (g_bdev.init_started) {
		OSP_ERRLOG("bdev options can only be changed before the bdev layer starts\n");
		return -EPERM;
	}
	memcpy(&tmp, opts, OSP_MIN(opts->opts_size, sizeof(tmp)));
	tmp.opts_size = sizeof(tmp);
	if (tmp.bdev_io_pool_size == 0 || tmp.small_buf_pool_size == 0 ||
	    tmp.large_buf_pool_size == 0) {
		OSP_ERRLOG("bdev_io_pool_size, small_buf_pool_size and large_buf_pool_size "
			   "must be at least 1\n");
		return -EINVAL;
	}
	if (tmp.bdev_io_cache_size > tmp.bdev_io_pool_size) {
		OSP_ERRLOG("bdev_io_cache_size %" PRIu32 " exceeds bdev_io_pool_size %" PRIu32
			   "\n", tmp.bdev_io_cache_size, tmp.bdev_io_pool_size);
		return -EINVAL;
	}
	if ((uint64_t)tmp.bdev_io_pool_size > (1u << 26) ||
	    (uint64_t)tmp.small_buf_pool_size > (1u << 24) ||
	    (uint64_t)tmp.large_buf_pool_size > (1u << 22)) {
		OSP_ERRLOG("pool size too large\n");
		return -EINVAL;
	}
	{
		struct osp_iobuf_opts io;
		char err[160];
		int rc;

		osp_iobuf_get_opts(&io, sizeof(io));
		if (io.small_pool_count != tmp.small_buf_pool_size ||
		    io.large_pool_count != tmp.large_buf_pool_size) {
			io.small_pool_count = tmp.small_buf_pool_size;
			io.large_pool_count = tmp.large_buf_pool_size;
			rc = osp_iobuf_set_opts(&io, err, sizeof(err));
			if (rc != 0) {
				OSP_ERRLOG("%s\n", err);
				return rc;
			}
		}
	}
	g_bdev.opts = tmp;
	return 0;
}

bool
bdev_is_initialized(void)
{
	return g_bdev.initialized;
}

/* ---- pools ---- */

static int
bdev_ring_fill(struct osp_ring **ringp, uint8_t *region, size_t stride, uint32_t count)
{
	void *batch[64];
	uint32_t i, n = 0;

	*ringp = osp_ring_create(OSP_RING_TYPE_MP_MC, osp_align64pow2((uint64_t)count + 1),
				 OSP_ENV_SOCKET_ID_ANY);
	if (*ringp == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		batch[n++] = region + (size_t)i * stride;
		if (n == OSP_COUNTOF(batch) || i + 1 == count) {
			if (osp_ring_enqueue(*ringp, batch, n, NULL) != n) {
				return -ENOMEM;
			}
			n = 0;
		}
	}
	return 0;
}

static void
bdev_pools_free(void)
{
	if (g_bdev.io_ring != NULL) {
		osp_ring_free(g_bdev.io_ring);
		g_bdev.io_ring = NULL;
	}
	if (g_bdev.io_region != NULL) {
		munmap(g_bdev.io_region, g_bdev.io_region_len);
		g_bdev.io_region = NULL;
	}
	if (g_bdev.iobuf_ref) {
		osp_iobuf_finish();
		g_bdev.iobuf_ref = false;
	}
	g_bdev.small = g_bdev.large = NULL;
	if (g_bdev.zero_buf != NULL) {
		osp_dma_free(g_bdev.zero_buf);
		g_bdev.zero_buf = NULL;
	}
}

static int
bdev_pools_create(void)
{
	struct osp_bdev_module *m;
	size_t ctx = 0;
	int rc, sz;

	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->get_ctx_size != NULL) {
			sz = m->get_ctx_size();
			if (sz > 0 && (size_t)sz > ctx) {
				ctx = (size_t)sz;
			}
		}
	}
	g_bdev.io_size = (sizeof(struct osp_bdev_io) + ctx + OSP_CACHE_LINE_SIZE - 1) &
			 ~(size_t)(OSP_CACHE_LINE_SIZE - 1);
	g_bdev.io_count = g_bdev.opts.bdev_io_pool_size;
	g_bdev.io_region_len = g_bdev.io_size * g_bdev.io_count;
	/* bdev_ios need no DMA memory: anonymous memory is committed only as it is touched. */
	g_bdev.io_region = mmap(NULL, g_bdev.io_region_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_bdev.io_region == MAP_FAILED) {
		g_bdev.io_region = NULL;
		OSP_ERRLOG("cannot allocate the bdev_io pool (%zu bytes)\n", g_bdev.io_region_len);
		return -ENOMEM;
	}
	rc = bdev_ring_fill(&g_bdev.io_ring, g_bdev.io_region, g_bdev.io_size, g_bdev.io_count);
	/* Data buffers come from the iobuf global pools (sized by iobuf_set_options). */
	rc = rc ?: osp_iobuf_initialize();
	if (rc == 0 && !g_bdev.iobuf_ref) {
		g_bdev.iobuf_ref = true;
		g_bdev.small = osp_iobuf_get_pool(OSP_BDEV_SMALL_BUF_MAX_SIZE);
		g_bdev.large = osp_iobuf_get_pool(OSP_BDEV_LARGE_BUF_MAX_SIZE);
	}
	if (rc == 0) {
		g_bdev.zero_buf = osp_dma_zmalloc(OSP_BDEV_LARGE_BUF_MAX_SIZE, BDEV_BUF_ALIGN, NULL);
		if (g_bdev.zero_buf == NULL) {
			rc = -ENOMEM;
		}
	}
	if (rc != 0) {
		OSP_ERRLOG("cannot create the bdev pools: %s\n", strerror(-rc));
		bdev_pools_free();
	}
	return rc;
}

/* ---- management channel: bdev_io and buffer caches ---- */

static int
bdev_mgmt_poll(void *arg);

static int
bdev_mgmt_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;

	mgmt->thread = osp_get_thread();
	mgmt->io_cache_size = g_bdev.opts.bdev_io_cache_size;
	mgmt->io_cache = calloc(mgmt->io_cache_size + 1, sizeof(*mgmt->io_cache));
	STAILQ_INIT(&mgmt->deferred);
	TAILQ_INIT(&mgmt->io_wait_queue);
	mgmt->poller = OSP_POLLER_REGISTER(bdev_mgmt_poll, mgmt, 0);
	if (mgmt->io_cache == NULL || mgmt->poller == NULL ||
	    osp_iobuf_channel_init(&mgmt->small, g_bdev.small,
				   g_bdev.opts.iobuf_small_cache_size) != 0) {
		osp_poller_unregister(&mgmt->poller);
		free(mgmt->io_cache);
		return -ENOMEM;
	}
	if (osp_iobuf_channel_init(&mgmt->large, g_bdev.large,
				   g_bdev.opts.iobuf_large_cache_size) != 0) {
		osp_iobuf_channel_fini(&mgmt->small);
		osp_poller_unregister(&mgmt->poller);
		free(mgmt->io_cache);
		return -ENOMEM;
	}
	return 0;
}

static void
bdev_mgmt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;

	if (!STAILQ_EMPTY(&mgmt->deferred)) {
		/* Only if a user released its channel with I/O still outstanding. */
		OSP_ERRLOG("thread %s: deferred completions pending at channel release\n",
			   osp_thread_get_name(mgmt->thread));
		bdev_mgmt_poll(mgmt);
	}
	if (!TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		OSP_ERRLOG("thread %s: io_wait entries left at channel release\n",
			   osp_thread_get_name(mgmt->thread));
	}
	if (mgmt->io_cache_count > 0) {
		osp_ring_enqueue(g_bdev.io_ring, (void **)mgmt->io_cache, mgmt->io_cache_count, NULL);
	}
	osp_iobuf_channel_fini(&mgmt->small);
	osp_iobuf_channel_fini(&mgmt->large);
	osp_poller_unregister(&mgmt->poller);
	free(mgmt->io_cache);
}

void
bdev_io_run_waiters(struct bdev_mgmt_channel *mgmt)
{
	struct osp_bdev_io_wait_entry *entry;

	while (mgmt->io_cache_count > 0 && (entry = TAILQ_FIRST(&mgmt->io_wait_queue)) != NULL) {
		TAILQ_REMOVE(&mgmt->io_wait_queue, entry, link);
		entry->cb_fn(entry->cb_arg);
	}
}

struct osp_bdev_io *
bdev_io_get_slow(struct bdev_mgmt_channel *mgmt)
{
	void *one;
	size_t n, want;

	want = OSP_MIN((size_t)BDEV_IO_CACHE_BATCH, (size_t)mgmt->io_cache_size);
	if (want > 1) {
		n = osp_ring_dequeue(g_bdev.io_ring, (void **)mgmt->io_cache, want);
		if (n > 0) {
			mgmt->io_cache_count = (uint32_t)n - 1;
			return mgmt->io_cache[n - 1];
		}
		return NULL;
	}
	return osp_ring_dequeue(g_bdev.io_ring, &one, 1) == 1 ? one : NULL;
}

void
bdev_io_put_slow(struct bdev_mgmt_channel *mgmt, struct osp_bdev_io *bdev_io)
{
	uint32_t keep;

	if (mgmt->io_cache_size == 0) {
		osp_ring_enqueue(g_bdev.io_ring, (void **)&bdev_io, 1, NULL);
		return;
	}
	/* Cache full: hand the older half back to the pool. */
	keep = mgmt->io_cache_size / 2;
	osp_ring_enqueue(g_bdev.io_ring, (void **)mgmt->io_cache, mgmt->io_cache_count - keep, NULL);
	memmove(mgmt->io_cache, mgmt->io_cache + (mgmt->io_cache_count - keep),
		keep * sizeof(*mgmt->io_cache));
	mgmt->io_cache_count = keep;
	mgmt->io_cache[mgmt->io_cache_count++] = bdev_io;
}

/* Run deferred completions; a completion queued by a callback waits for the next round. */
static int
bdev_mgmt_run_deferred(struct bdev_mgmt_channel *mgmt)
{
	struct bdev_io_stailq list;
	struct osp_bdev_io *bdev_io;
	int n = 0;

	if (STAILQ_EMPTY(&mgmt->deferred)) {
		return 0;
	}
	STAILQ_INIT(&list);
	STAILQ_CONCAT(&list, &mgmt->deferred);
	while ((bdev_io = STAILQ_FIRST(&list)) != NULL) {
		STAILQ_REMOVE_HEAD(&list, internal.link.stq);
		n++;
		if (osp_unlikely(bdev_io->internal.flags & BDEV_IO_DEFER_DONE)) {
			bdev_io->internal.flags &= ~BDEV_IO_DEFER_DONE;
			bdev_io_done(bdev_io);
		} else {
			bdev_io->internal.cb(bdev_io,
					     bdev_io->internal.status == OSP_BDEV_IO_STATUS_SUCCESS,
					     bdev_io->internal.cb_arg);
		}
	}
	return n;
}

/*
 * bdev_ios freed on other threads go back to the global pool: waiters of
 * this thread retry those here (buffer waiters are the iobuf channels' business).
 */
static int
bdev_mgmt_retry_waiters(struct bdev_mgmt_channel *mgmt)
{
	int busy = 0;

	if (!TAILQ_EMPTY(&mgmt->io_wait_queue) && mgmt->io_cache_count == 0) {
		struct osp_bdev_io *bdev_io = bdev_io_get_slow(mgmt);

		if (bdev_io != NULL) {
			mgmt->io_cache[mgmt->io_cache_count++] = bdev_io;
			bdev_io_run_waiters(mgmt);
			busy = 1;
		}
	}
	return busy;
}

static int
bdev_mgmt_poll(void *arg)
{
	struct bdev_mgmt_channel *mgmt = arg;
	int busy = 0;

	if (bdev_mgmt_run_deferred(mgmt) > 0) {
		busy = 1;
	}
	if (osp_unlikely(!TAILQ_EMPTY(&mgmt->io_wait_queue))) {
		busy |= bdev_mgmt_retry_waiters(mgmt);
	}
	return busy ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

/* ---- properties ---- */

const char *
osp_bdev_get_name(const struct osp_bdev *bdev)
{
	return bdev->name;
}

const char *
osp_bdev_get_product_name(const struct osp_bdev *bdev)
{
	return bdev->product_name != NULL ? bdev->product_name : "";
}

const char *
osp_bdev_get_module_name(const struct osp_bdev *bdev)
{
	return bdev->module->name;
}

uint32_t
osp_bdev_get_block_size(const struct osp_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t
osp_bdev_get_num_blocks(const struct osp_bdev *bdev)
{
	return bdev->blockcnt;
}

const struct osp_uuid *
osp_bdev_get_uuid(const struct osp_bdev *bdev)
{
	return &bdev->uuid;
}

uint32_t
osp_bdev_get_write_unit_size(const struct osp_bdev *bdev)
{
	return bdev->write_unit_size ? bdev->write_unit_size : 1;
}

uint32_t
osp_bdev_get_optimal_io_boundary(const struct osp_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t
osp_bdev_get_max_rw_size(const struct osp_bdev *bdev)
{
	return bdev->max_rw_size;
}

size_t
osp_bdev_get_buf_align(const struct osp_bdev *bdev)
{
	return (size_t)1 << bdev->required_alignment;
}

bool
osp_bdev_has_write_cache(const struct osp_bdev *bdev)
{
	return bdev->write_cache;
}

bool
osp_bdev_unmap_reads_zeroes(struct osp_bdev *bdev)
{
	return bdev->unmap_reads_zeroes && osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_UNMAP);
}

bool
osp_bdev_io_type_supported(struct osp_bdev *bdev, enum osp_bdev_io_type io_type)
{
	uint32_t mask;

	if (bdev == NULL || (int)io_type <= 0 || io_type >= OSP_BDEV_NUM_IO_TYPES) {
		return false;
	}
	mask = bdev->internal != NULL ? bdev->internal->supported_types : 0;
	if (mask & (1u << io_type)) {
		return true;
	}
	/* What the layer emulates. */
	switch (io_type) {
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return (mask & (1u << OSP_BDEV_IO_TYPE_WRITE)) != 0;
	case OSP_BDEV_IO_TYPE_COMPARE:
		return (mask & (1u << OSP_BDEV_IO_TYPE_READ)) != 0;
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return (mask & (1u << OSP_BDEV_IO_TYPE_READ)) != 0 &&
		       (mask & (1u << OSP_BDEV_IO_TYPE_WRITE)) != 0;
	default:
		return false;
	}
}

void
osp_bdev_dump_info_json(struct osp_bdev *bdev, cJSON *obj)
{
	struct osp_bdev_internal *in = bdev->internal;
	struct osp_bdev_alias *a;
	cJSON *arr, *o;
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	int t;

	cJSON_AddStringToObject(obj, "name", bdev->name);
	arr = cJSON_AddArrayToObject(obj, "aliases");
	pthread_mutex_lock(&g_bdev.mutex);
	TAILQ_FOREACH(a, &bdev->aliases, link) {
		cJSON_AddItemToArray(arr, cJSON_CreateString(a->alias));
	}
	pthread_mutex_unlock(&g_bdev.mutex);
	cJSON_AddStringToObject(obj, "product_name", osp_bdev_get_product_name(bdev));
	osp_json_add_uint64(obj, "block_size", bdev->blocklen);
	osp_json_add_uint64(obj, "num_blocks", bdev->blockcnt);
	cJSON_AddStringToObject(obj, "uuid", in->uuid_str);
	if (bdev->write_unit_size > 1) {
		osp_json_add_uint64(obj, "write_unit_size", bdev->write_unit_size);
	}
	if (bdev->optimal_io_boundary != 0) {
		osp_json_add_uint64(obj, "optimal_io_boundary", bdev->optimal_io_boundary);
	}
	if (bdev->max_rw_size != 0) {
		osp_json_add_uint64(obj, "max_rw_size", bdev->max_rw_size);
	}
	if (bdev->required_alignment != 0) {
		osp_json_add_uint64(obj, "required_alignment", bdev->required_alignment);
	}
	cJSON_AddBoolToObject(obj, "write_cache", bdev->write_cache);
	o = cJSON_AddObjectToObject(obj, "assigned_rate_limits");
	osp_bdev_get_qos_rate_limits(bdev, limits);
	osp_json_add_uint64(o, g_qos_limit_names[0], limits[0]);
	for (t = 1; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		osp_json_add_uint64(o, g_qos_limit_names[t], limits[t] / (1024 * 1024));
	}
	pthread_mutex_lock(&in->mutex);
	cJSON_AddBoolToObject(obj, "claimed", in->claim_module != NULL);
	if (in->claim_module != NULL) {
		cJSON_AddStringToObject(obj, "claim_type", "exclusive_write");
		cJSON_AddStringToObject(obj, "claim_module", in->claim_module->name);
	}
	pthread_mutex_unlock(&in->mutex);
	cJSON_AddBoolToObject(obj, "zoned", false);
	o = cJSON_AddObjectToObject(obj, "supported_io_types");
	for (t = 1; t < OSP_BDEV_NUM_IO_TYPES; t++) {
		cJSON_AddBoolToObject(o, g_io_type_names[t],
				      osp_bdev_io_type_supported(bdev, (enum osp_bdev_io_type)t));
	}
	o = cJSON_AddObjectToObject(obj, "driver_specific");
	if (bdev->fn_table->dump_info_json != NULL) {
		bdev->fn_table->dump_info_json(bdev->ctxt, o);
	}
}

/* ---- bdev channels ---- */

int
bdev_channel_create(void *io_device, void *ctx_buf)
{
	struct osp_bdev *bdev = io_device;
	struct osp_bdev_internal *in = bdev->internal;
	struct osp_bdev_channel *ch = ctx_buf;
	struct osp_bdev_io *lock;

	ch->bdev = bdev;
	ch->thread = osp_get_thread();
	ch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (ch->module_ch == NULL) {
		OSP_ERRLOG("bdev %s: the module gave no I/O channel\n", bdev->name);
		return -ENOMEM;
	}
	ch->mgmt_ioch = osp_get_io_channel(&g_bdev);
	if (ch->mgmt_ioch == NULL) {
		osp_put_io_channel(ch->module_ch);
		return -ENOMEM;
	}
	ch->mgmt = osp_io_channel_get_ctx(ch->mgmt_ioch);
	bdev_stat_init(&ch->stat);
	TAILQ_INIT(&ch->nomem_io);
	TAILQ_INIT(&ch->locked_io);
	STAILQ_INIT(&ch->drain_waiters);
	ch->direct_types = in->direct_types;

	pthread_mutex_lock(&in->mutex);
	ch->flags = in->ch_flags;
	if (in->reset_frozen) {
		ch->flags |= BDEV_CH_FROZEN;
	}
	if (in->qos != NULL && !in->qos->disabling) {
		ch->qos = in->qos;
		ch->flags |= BDEV_CH_QOS;
	}
	TAILQ_FOREACH(lock, &in->locked_ranges, internal.u.lock.link) {
		if (lock->internal.u.lock.releasing) {
			continue;
		}
		if (ch->nranges == ch->ranges_cap) {
			uint32_t cap = ch->ranges_cap ? ch->ranges_cap * 2 : 4;
			struct osp_bdev_io **r = realloc(ch->ranges, cap * sizeof(*r));

			if (r == NULL) {
				break;
			}
			ch->ranges = r;
			ch->ranges_cap = cap;
		}
		ch->ranges[ch->nranges++] = lock;
		ch->flags |= BDEV_CH_LOCKED;
	}
	pthread_mutex_unlock(&in->mutex);
	return 0;
}

void
bdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct osp_bdev *bdev = io_device;
	struct osp_bdev_internal *in = bdev->internal;
	struct osp_bdev_channel *ch = ctx_buf;

	if (ch->io_outstanding != 0 || !TAILQ_EMPTY(&ch->nomem_io)) {
		OSP_ERRLOG("bdev %s: channel released with %" PRIu64 " I/O outstanding\n",
			   bdev->name, ch->io_outstanding);
	}
	pthread_mutex_lock(&in->mutex);
	bdev_stat_add(&in->stat_closed, &ch->stat);
	pthread_mutex_unlock(&in->mutex);
	osp_poller_unregister(&ch->nomem_poller);
	free(ch->ranges);
	osp_put_io_channel(ch->module_ch);
	osp_put_io_channel(ch->mgmt_ioch);
}

/* ---- the I/O path: completion ---- */

static void bdev_reset_start(struct osp_bdev_io *bdev_io);
static void bdev_reset_module_done(struct osp_bdev_io *bdev_io);

static inline void
stat_account(uint64_t *bytes, uint64_t *ops, uint64_t *lat, uint64_t *max_lat, uint64_t *min_lat,
	     uint64_t nbytes, uint64_t ticks)
{
	*bytes += nbytes;
	(*ops)++;
	*lat += ticks;
	if (ticks > *max_lat) {
		*max_lat = ticks;
	}
	if (ticks < *min_lat) {
		*min_lat = ticks;
	}
}

static inline void
bdev_io_stat_update(struct osp_bdev_channel *ch, struct osp_bdev_io *bdev_io, uint64_t now)
{
	struct osp_bdev_io_stat *s = &ch->stat;
	uint64_t ticks = now - bdev_io->internal.submit_tsc;
	uint64_t bytes = bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen;

	if (osp_unlikely(bdev_io->internal.status != OSP_BDEV_IO_STATUS_SUCCESS)) {
		s->num_io_errors++;
		return;
	}
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		stat_account(&s->bytes_read, &s->num_read_ops, &s->read_latency_ticks,
			     &s->max_read_latency_ticks, &s->min_read_latency_ticks, bytes, ticks);
		break;
	case OSP_BDEV_IO_TYPE_WRITE:
		stat_account(&s->bytes_written, &s->num_write_ops, &s->write_latency_ticks,
			     &s->max_write_latency_ticks, &s->min_write_latency_ticks, bytes, ticks);
		break;
	case OSP_BDEV_IO_TYPE_UNMAP:
		stat_account(&s->bytes_unmapped, &s->num_unmap_ops, &s->unmap_latency_ticks,
			     &s->max_unmap_latency_ticks, &s->min_unmap_latency_ticks, bytes, ticks);
		break;
	default:
		s->num_other_ops++;
		break;
	}
}

/* A user's I/O is complete: account for it on its channel and call back. */
void
bdev_io_complete_user(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.user_ch;

	bdev_io_stat_update(ch, bdev_io, osp_get_ticks());
	if (osp_likely(bdev_io->internal.flags & BDEV_IO_GEN)) {
		ch->gen_outstanding[bdev_io->internal.gen]--;
		if (osp_unlikely(ch->flags & BDEV_CH_DRAIN)) {
			bdev_channel_drain_check(ch);
		}
	}
	if (osp_unlikely(bdev_io->internal.flags & BDEV_IO_LOCKED)) {
		bdev_lock_release(bdev_io);
		return;
	}
	bdev_io_finish(bdev_io);
}

static void
bdev_bounce_finish(struct osp_bdev_io *bdev_io)
{
	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ &&
	    bdev_io->internal.status == OSP_BDEV_IO_STATUS_SUCCESS) {
		osp_iov_copy_from_buf(bdev_io->internal.bounce_buf, bdev_io->internal.bounce_len,
				      bdev_io->internal.orig_iovs, bdev_io->internal.orig_iovcnt, 0);
	}
	bdev_io->u.bdev.iovs = bdev_io->internal.orig_iovs;
	bdev_io->u.bdev.iovcnt = bdev_io->internal.orig_iovcnt;
	bdev_buf_put(bdev_io->internal.ch->mgmt, bdev_io->internal.bounce_buf,
		     bdev_io->internal.bounce_len);
	bdev_io->internal.bounce_buf = NULL;
	bdev_io->internal.flags &= ~BDEV_IO_BOUNCED;
}

/* bdev_io (status set) has left the module, or never reached it: finish it. */
void
bdev_io_done(struct osp_bdev_io *bdev_io)
{
	uint16_t flags = bdev_io->internal.flags;

	if (flags & BDEV_IO_BOUNCED) {
		bdev_bounce_finish(bdev_io);
	}
	if (flags & BDEV_IO_CHILD) {
		bdev_io_finish(bdev_io);
		return;
	}
	if (flags & BDEV_IO_RESET) {
		bdev_reset_module_done(bdev_io);
		return;
	}
	if (flags & BDEV_IO_FUNNELED) {
		bdev_qos_io_done(bdev_io);
		return;
	}
	bdev_io_complete_user(bdev_io);
}

/* Complete bdev_io (which is not in the module) with status on a later poll. */
void
bdev_io_fail_deferred(struct osp_bdev_io *bdev_io, int8_t status)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	bdev_io->internal.status = status;
	bdev_io->internal.flags |= BDEV_IO_DEFER_DONE;
	STAILQ_INSERT_TAIL(&mgmt->deferred, bdev_io, internal.link.stq);
}

static void
bdev_nomem_resubmit(struct osp_bdev_channel *ch);

static int
bdev_nomem_poll(void *arg)
{
	struct osp_bdev_channel *ch = arg;

	bdev_nomem_resubmit(ch);
	return OSP_POLLER_BUSY;
}

static void
bdev_nomem_resubmit(struct osp_bdev_channel *ch)
{
	struct osp_bdev_io *bdev_io;

	ch->flags &= ~BDEV_CH_NOMEM;
	while (!(ch->flags & BDEV_CH_NOMEM) && (bdev_io = TAILQ_FIRST(&ch->nomem_io)) != NULL) {
		TAILQ_REMOVE(&ch->nomem_io, bdev_io, internal.link.tq);
		bdev_io_submit_module(bdev_io);
	}
	if (TAILQ_EMPTY(&ch->nomem_io)) {
		ch->flags &= ~BDEV_CH_NOMEM;
		osp_poller_unregister(&ch->nomem_poller);
	} else {
		ch->flags |= BDEV_CH_NOMEM;
		if (ch->io_outstanding == 0 && ch->nomem_poller == NULL) {
			ch->nomem_poller = OSP_POLLER_REGISTER(bdev_nomem_poll, ch, BDEV_NOMEM_RETRY_US);
		}
	}
}

static void
bdev_io_nomem(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;
	uint64_t out = ch->io_outstanding;

	TAILQ_INSERT_HEAD(&ch->nomem_io, bdev_io, internal.link.tq);
	ch->flags |= BDEV_CH_NOMEM;
	/* Retry once the module has worked off part of what it holds. */
	ch->nomem_threshold = out > BDEV_NOMEM_THRESHOLD_COUNT ?
			      OSP_MAX(out / 2, out - BDEV_NOMEM_THRESHOLD_COUNT) : 0;
	if (out == 0 && ch->nomem_poller == NULL) {
		ch->nomem_poller = OSP_POLLER_REGISTER(bdev_nomem_poll, ch, BDEV_NOMEM_RETRY_US);
	}
}

void
osp_bdev_io_complete(struct osp_bdev_io *bdev_io, enum osp_bdev_io_status status)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;

	ch->io_outstanding--;
	if (osp_unlikely(status == OSP_BDEV_IO_STATUS_NOMEM)) {
		bdev_io_nomem(bdev_io);
		return;
	}
	bdev_io->internal.status = (int8_t)status;
	if (osp_likely(!(bdev_io->internal.flags & BDEV_IO_DONE_SLOW))) {
		bdev_io_complete_user(bdev_io);
	} else {
		bdev_io_done(bdev_io);
	}
	if (osp_unlikely(ch->flags & BDEV_CH_NOMEM) && ch->io_outstanding <= ch->nomem_threshold) {
		bdev_nomem_resubmit(ch);
	}
}

void
osp_bdev_io_complete_nvme_status(struct osp_bdev_io *bdev_io, uint32_t cdw0, int sct, int sc)
{
	bdev_io->internal.nvme_cdw0 = cdw0;
	bdev_io->internal.nvme_sct = (uint8_t)sct;
	bdev_io->internal.nvme_sc = (uint8_t)sc;
	osp_bdev_io_complete(bdev_io, sct == 0 && sc == 0 ? OSP_BDEV_IO_STATUS_SUCCESS :
			     OSP_BDEV_IO_STATUS_NVME_ERROR);
}

void
osp_bdev_io_get_nvme_status(const struct osp_bdev_io *bdev_io, uint32_t *cdw0, int *sct, int *sc)
{
	int t = OSP_NVME_SCT_GENERIC, c;

	switch (bdev_io->internal.status) {
	case OSP_BDEV_IO_STATUS_SUCCESS:
		c = OSP_NVME_SC_SUCCESS;
		break;
	case OSP_BDEV_IO_STATUS_NVME_ERROR:
		t = bdev_io->internal.nvme_sct;
		c = bdev_io->internal.nvme_sc;
		break;
	case OSP_BDEV_IO_STATUS_MISCOMPARE:
		t = OSP_NVME_SCT_MEDIA_ERROR;
		c = OSP_NVME_SC_COMPARE_FAILURE;
		break;
	case OSP_BDEV_IO_STATUS_ABORTED:
		c = OSP_NVME_SC_ABORTED_BY_REQUEST;
		break;
	default:
		c = OSP_NVME_SC_INTERNAL_DEVICE_ERROR;
		break;
	}
	if (cdw0 != NULL) {
		*cdw0 = (bdev_io->type == OSP_BDEV_IO_TYPE_NVME_ADMIN ||
			 bdev_io->type == OSP_BDEV_IO_TYPE_NVME_IO) ? bdev_io->internal.nvme_cdw0 : 0;
	}
	if (sct != NULL) {
		*sct = t;
	}
	if (sc != NULL) {
		*sc = c;
	}
}

int
osp_bdev_io_get_status(const struct osp_bdev_io *bdev_io)
{
	return bdev_io->internal.status;
}

enum osp_bdev_io_type
osp_bdev_io_get_type(const struct osp_bdev_io *bdev_io)
{
	return (enum osp_bdev_io_type)bdev_io->type;
}

void
osp_bdev_io_get_iovec(struct osp_bdev_io *bdev_io, struct iovec **iovp, int *iovcntp)
{
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_COMPARE:
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		if (iovp != NULL) {
			*iovp = bdev_io->u.bdev.iovs;
		}
		if (iovcntp != NULL) {
			*iovcntp = bdev_io->u.bdev.iovcnt;
		}
		break;
	default:
		if (iovp != NULL) {
			*iovp = NULL;
		}
		if (iovcntp != NULL) {
			*iovcntp = 0;
		}
		break;
	}
}

struct osp_io_channel *
osp_bdev_io_get_io_channel(struct osp_bdev_io *bdev_io)
{
	return osp_io_channel_from_ctx(bdev_io->internal.ch);
}

struct osp_thread *
osp_bdev_io_get_thread(struct osp_bdev_io *bdev_io)
{
	return bdev_io->internal.ch->thread;
}

void
osp_bdev_free_io(struct osp_bdev_io *bdev_io)
{
	if (bdev_io == NULL) {
		return;
	}
	bdev_io_release(bdev_io);
}

/* ---- the I/O path: submission ---- */

void
bdev_io_submit_module(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;
	struct bdev_mgmt_channel *mgmt = ch->mgmt;

	if (osp_unlikely(ch->flags & BDEV_CH_NOMEM)) {
		TAILQ_INSERT_TAIL(&ch->nomem_io, bdev_io, internal.link.tq);
		return;
	}
	ch->io_outstanding++;
	mgmt->in_submit++;
	bdev_io->bdev->fn_table->submit_request(ch->module_ch, bdev_io);
	mgmt->in_submit--;
}

bool
bdev_io_needs_bounce(const struct osp_bdev_io *bdev_io)
{
	uintptr_t mask;
	int i;

	if (bdev_io->bdev->required_alignment == 0) {
		return false;
	}
	mask = ((uintptr_t)1 << bdev_io->bdev->required_alignment) - 1;
	for (i = 0; i < bdev_io->u.bdev.iovcnt; i++) {
		if ((uintptr_t)bdev_io->u.bdev.iovs[i].iov_base & mask) {
			return true;
		}
	}
	return false;
}

static bool
bdev_io_needs_split(const struct osp_bdev_io *bdev_io)
{
	const struct osp_bdev *bdev = bdev_io->bdev;
	uint64_t off = bdev_io->u.bdev.offset_blocks, n = bdev_io->u.bdev.num_blocks;

	if (bdev->max_rw_size != 0 && n > bdev->max_rw_size) {
		return true;
	}
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0 &&
	    off / bdev->optimal_io_boundary != (off + n - 1) / bdev->optimal_io_boundary) {
		return true;
	}
	if (n * bdev->blocklen > OSP_BDEV_LARGE_BUF_MAX_SIZE && n > 1) {
		if (bdev_io->type == OSP_BDEV_IO_TYPE_COMPARE &&
		    !bdev_ch_native(bdev_io->internal.ch, OSP_BDEV_IO_TYPE_COMPARE)) {
			return true;
		}
		if (bdev_io_needs_bounce(bdev_io)) {
			return true;
		}
	}
	return false;
}

void
bdev_child_init(struct osp_bdev_io *child, struct osp_bdev_io *parent, uint8_t type,
		uint64_t offset, uint64_t num_blocks, osp_bdev_io_completion_cb cb)
{
	child->bdev = parent->bdev;
	child->type = type;
	child->u.bdev.iovs = child->internal.child_iovs;
	child->u.bdev.iovcnt = 0;
	child->u.bdev.fused_iovs = NULL;
	child->u.bdev.fused_iovcnt = 0;
	child->u.bdev.offset_blocks = offset;
	child->u.bdev.num_blocks = num_blocks;
	child->internal.cb = cb;
	child->internal.cb_arg = parent;
	child->internal.ch = parent->internal.ch;
	child->internal.user_ch = parent->internal.user_ch;
	child->internal.desc = parent->internal.desc;
	child->internal.submit_tsc = parent->internal.submit_tsc;
	child->internal.status = OSP_BDEV_IO_STATUS_PENDING;
	child->internal.flags = BDEV_IO_CHILD;
	child->internal.parent = parent;
}

void
bdev_io_wait_internal(struct osp_bdev_io *bdev_io, osp_bdev_io_wait_cb cb)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	bdev_io->internal.waitq.bdev = bdev_io->bdev;
	bdev_io->internal.waitq.cb_fn = cb;
	bdev_io->internal.waitq.cb_arg = bdev_io;
	TAILQ_INSERT_TAIL(&mgmt->io_wait_queue, &bdev_io->internal.waitq, link);
}

/* ---- execution ---- */

static void
bdev_io_exec_got_buf(struct osp_bdev_io *bdev_io, void *buf)
{
	bdev_io->internal.buf = buf;
	bdev_io->internal.buf_len = bdev_io->internal.buf_wait_len;
	bdev_io->u.bdev.iovs[0].iov_base = buf;
	bdev_io->u.bdev.iovs[0].iov_len = bdev_io->internal.buf_len;
	bdev_io_exec(bdev_io);
}

/* Run bdev_io on its channel (the user's or the QoS thread's); user I/O or child. */
void
bdev_io_exec(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;

	if (osp_unlikely(ch->flags & BDEV_CH_FROZEN)) {
		bdev_io_fail_deferred(bdev_io, OSP_BDEV_IO_STATUS_ABORTED);
		return;
	}
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
	case OSP_BDEV_IO_TYPE_COMPARE:
		if (!(ch->flags & BDEV_CH_CHECK_IO) && bdev_ch_native(ch, bdev_io->type)) {
			break;
		}
		if (bdev_io->type == OSP_BDEV_IO_TYPE_READ && bdev_io->u.bdev.iovcnt == 1 &&
		    bdev_io->u.bdev.iovs[0].iov_base == NULL) {
			/* The module gets the buffer itself, unless the layer splits. */
			if (bdev_io_needs_split(bdev_io)) {
				bdev_buf_get(bdev_io, bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen,
					     bdev_io_exec_got_buf);
				return;
			}
			break;
		}
		if (bdev_io_needs_split(bdev_io)) {
			bdev_split_start(bdev_io, 0, bdev_io->type);
			return;
		}
		if (bdev_io->type == OSP_BDEV_IO_TYPE_COMPARE &&
		    !bdev_ch_native(ch, OSP_BDEV_IO_TYPE_COMPARE)) {
			bdev_compare_emulate(bdev_io);
			return;
		}
		if (bdev_io_needs_bounce(bdev_io)) {
			bdev_bounce_start(bdev_io);
			return;
		}
		break;
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		if (!bdev_ch_native(ch, OSP_BDEV_IO_TYPE_WRITE_ZEROES)) {
			bdev_split_start(bdev_io, BDEV_SPLIT_ZEROES, OSP_BDEV_IO_TYPE_WRITE);
			return;
		}
		break;
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		if (!bdev_ch_native(ch, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE)) {
			bdev_cw_exec(bdev_io);
			return;
		}
		break;
	default:
		break;
	}
	bdev_io_submit_module(bdev_io);
}

static bool
bdev_io_type_writes(uint8_t type)
{
	return type == OSP_BDEV_IO_TYPE_WRITE || type == OSP_BDEV_IO_TYPE_WRITE_ZEROES ||
	       type == OSP_BDEV_IO_TYPE_UNMAP;
}

bool
bdev_io_blocked_by_lock(const struct osp_bdev_channel *ch, const struct osp_bdev_io *bdev_io)
{
	uint32_t i;

	if (!bdev_io_type_writes(bdev_io->type)) {
		return false;
	}
	for (i = 0; i < ch->nranges; i++) {
		const struct osp_bdev_io *l = ch->ranges[i];

		if (bdev_ranges_overlap(bdev_io->u.bdev.offset_blocks, bdev_io->u.bdev.num_blocks,
					l->u.bdev.offset_blocks, l->u.bdev.num_blocks)) {
			return true;
		}
	}
	return false;
}

/* A user I/O past the lock stage: count it and send it on. */
void
bdev_io_dispatch(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.user_ch;

	if ((bdev_io->type == OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE &&
	     !bdev_ch_native(ch, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE)) ||
	    (bdev_io->internal.flags & BDEV_IO_RANGE_LOCK)) {
		bdev_cw_lock(bdev_io);
		return;
	}
	bdev_io->internal.flags |= BDEV_IO_GEN;
	bdev_io->internal.gen = ch->gen;
	ch->gen_outstanding[ch->gen]++;
	if (ch->flags & BDEV_CH_QOS) {
		bdev_qos_submit(bdev_io);
		return;
	}
	bdev_io_exec(bdev_io);
}

static void
bdev_io_submit_slow(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;

	if (bdev_io->type == OSP_BDEV_IO_TYPE_RESET) {
		bdev_reset_start(bdev_io);
		return;
	}
	if (ch->flags & BDEV_CH_FROZEN) {
		bdev_io_fail_deferred(bdev_io, OSP_BDEV_IO_STATUS_ABORTED);
		return;
	}
	if ((ch->flags & BDEV_CH_LOCKED) && bdev_io_blocked_by_lock(ch, bdev_io)) {
		TAILQ_INSERT_TAIL(&ch->locked_io, bdev_io, internal.link.tq);
		return;
	}
	bdev_io_dispatch(bdev_io);
}

/* Entry point of every user I/O, on the thread of its channel. */
static inline void
bdev_io_submit(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_channel *ch = bdev_io->internal.ch;
	struct bdev_mgmt_channel *mgmt;

	bdev_io->internal.submit_tsc = osp_get_ticks();
	if (osp_likely((ch->flags & BDEV_CH_SUBMIT_SLOW) == 0 &&
		       (ch->direct_types & (1u << bdev_io->type)))) {
		mgmt = ch->mgmt;
		bdev_io->internal.flags = BDEV_IO_GEN;
		bdev_io->internal.gen = ch->gen;
		ch->gen_outstanding[ch->gen]++;
		ch->io_outstanding++;
		mgmt->in_submit++;
		bdev_io->bdev->fn_table->submit_request(ch->module_ch, bdev_io);
		mgmt->in_submit--;
		return;
	}
	bdev_io->internal.flags = 0;
	mgmt = ch->mgmt;
	/* Layer work may complete children inline: keep callbacks out of this call. */
	mgmt->in_submit++;
	bdev_io_submit_slow(bdev_io);
	mgmt->in_submit--;
}

static inline struct osp_bdev_io *
bdev_io_alloc(struct osp_bdev_desc *desc, struct osp_bdev_channel *ch, uint8_t type,
	      osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev_io *bdev_io = bdev_io_get(ch->mgmt);

	if (osp_unlikely(bdev_io == NULL)) {
		return NULL;
	}
	bdev_io->bdev = desc->bdev;
	bdev_io->type = type;
	bdev_io->internal.cb = cb;
	bdev_io->internal.cb_arg = cb_arg;
	bdev_io->internal.ch = ch;
	bdev_io->internal.user_ch = ch;
	bdev_io->internal.desc = desc;
	bdev_io->internal.status = OSP_BDEV_IO_STATUS_PENDING;
	return bdev_io;
}

static inline int
bdev_check_range(const struct osp_bdev *bdev, uint64_t offset, uint64_t num, bool allow_zero)
{
	if (osp_unlikely(offset + num < offset || offset + num > bdev->blockcnt ||
			 (num == 0 && !allow_zero))) {
		return -EINVAL;
	}
	return 0;
}

static inline int
bdev_check_desc(const struct osp_bdev_desc *desc, bool write)
{
	if (osp_unlikely(__atomic_load_n(&desc->removed, __ATOMIC_RELAXED))) {
		return -ENODEV;
	}
	if (osp_unlikely(write && !desc->write)) {
		return -EBADF;
	}
	return 0;
}

static inline int
bdev_rw_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ioch, uint8_t type,
	       void *buf, struct iovec *iov, int iovcnt, uint64_t offset, uint64_t num,
	       osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev *bdev = desc->bdev;
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_io *bdev_io;
	int rc;

	rc = bdev_check_range(bdev, offset, num, false);
	rc = rc ?: bdev_check_desc(desc, type != OSP_BDEV_IO_TYPE_READ &&
				   type != OSP_BDEV_IO_TYPE_COMPARE);
	if (osp_unlikely(rc != 0)) {
		return rc;
	}
	if (osp_unlikely(bdev->write_unit_size > 1) && type == OSP_BDEV_IO_TYPE_WRITE &&
	    (offset % bdev->write_unit_size != 0 || num % bdev->write_unit_size != 0)) {
		return -EINVAL;
	}
	if (osp_unlikely(!(ch->direct_types & (1u << type))) &&
	    !osp_bdev_io_type_supported(bdev, (enum osp_bdev_io_type)type)) {
		return -ENOTSUP;
	}
	bdev_io = bdev_io_alloc(desc, ch, type, cb, cb_arg);
	if (osp_unlikely(bdev_io == NULL)) {
		return -ENOMEM;
	}
	if (iov == NULL || (iovcnt == 1 && iov[0].iov_base == NULL)) {
		if (osp_unlikely(buf == NULL && iov == NULL && type != OSP_BDEV_IO_TYPE_READ)) {
			bdev_io_put(ch->mgmt, bdev_io);
			return -EINVAL;
		}
		bdev_io->u.bdev.iov.iov_base = iov != NULL ? NULL : buf;
		bdev_io->u.bdev.iov.iov_len = num * bdev->blocklen;
		bdev_io->u.bdev.iovs = &bdev_io->u.bdev.iov;
		bdev_io->u.bdev.iovcnt = 1;
		if (bdev_io->u.bdev.iov.iov_base == NULL &&
		    (type != OSP_BDEV_IO_TYPE_READ ||
		     bdev_io->u.bdev.iov.iov_len > OSP_BDEV_LARGE_BUF_MAX_SIZE)) {
			/* The layer's buffers are no larger than that. */
			bdev_io_put(ch->mgmt, bdev_io);
			return -EINVAL;
		}
	} else {
		if (osp_unlikely(iovcnt <= 0)) {
			bdev_io_put(ch->mgmt, bdev_io);
			return -EINVAL;
		}
		bdev_io->u.bdev.iovs = iov;
		bdev_io->u.bdev.iovcnt = iovcnt;
	}
	bdev_io->u.bdev.offset_blocks = offset;
	bdev_io->u.bdev.num_blocks = num;
	bdev_io_submit(bdev_io);
	return 0;
}

int
osp_bdev_writev_blocks_locked(struct osp_bdev_desc *desc, struct osp_io_channel *ioch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev *bdev = desc->bdev;
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_io *bdev_io;
	struct bdev_mgmt_channel *mgmt;
	int rc;

	if (iov == NULL || iovcnt <= 0 || iov[0].iov_base == NULL) {
		return -EINVAL;
	}
	rc = bdev_check_range(bdev, offset_blocks, num_blocks, false);
	rc = rc ?: bdev_check_desc(desc, true);
	if (rc != 0) {
		return rc;
	}
	if (bdev->write_unit_size > 1 && (offset_blocks % bdev->write_unit_size != 0 ||
					  num_blocks % bdev->write_unit_size != 0)) {
		return -EINVAL;
	}
	if (!osp_bdev_io_type_supported(bdev, OSP_BDEV_IO_TYPE_WRITE)) {
		return -ENOTSUP;
	}
	bdev_io = bdev_io_alloc(desc, ch, OSP_BDEV_IO_TYPE_WRITE, cb, cb_arg);
	if (bdev_io == NULL) {
		return -ENOMEM;
	}
	bdev_io->u.bdev.iovs = iov;
	bdev_io->u.bdev.iovcnt = iovcnt;
	bdev_io->u.bdev.offset_blocks = offset_blocks;
	bdev_io->u.bdev.num_blocks = num_blocks;
	/* Never the fast path: it goes through the lock stage (bdev_io_dispatch). */
	bdev_io->internal.submit_tsc = osp_get_ticks();
	bdev_io->internal.flags = BDEV_IO_RANGE_LOCK;
	mgmt = ch->mgmt;
	mgmt->in_submit++;
	bdev_io_submit_slow(bdev_io);
	mgmt->in_submit--;
	return 0;
}

int
osp_bdev_read_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
		     uint64_t offset_blocks, uint64_t num_blocks,
		     osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_READ, buf, NULL, 0, offset_blocks,
			      num_blocks, cb, cb_arg);
}

int
osp_bdev_readv_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
		      uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_READ, NULL, iov, iovcnt, offset_blocks,
			      num_blocks, cb, cb_arg);
}

int
osp_bdev_write_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
		      uint64_t offset_blocks, uint64_t num_blocks,
		      osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_WRITE, buf, NULL, 0, offset_blocks,
			      num_blocks, cb, cb_arg);
}

int
osp_bdev_writev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		       struct iovec *iov, int iovcnt, uint64_t offset_blocks,
		       uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL || (iovcnt == 1 && iov[0].iov_base == NULL)) {
		return -EINVAL;
	}
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_WRITE, NULL, iov, iovcnt, offset_blocks,
			      num_blocks, cb, cb_arg);
}

int
osp_bdev_compare_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
			uint64_t offset_blocks, uint64_t num_blocks,
			osp_bdev_io_completion_cb cb, void *cb_arg)
{
	if (buf == NULL || !osp_bdev_io_type_supported(desc->bdev, OSP_BDEV_IO_TYPE_COMPARE)) {
		return buf == NULL ? -EINVAL : -ENOTSUP;
	}
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_COMPARE, buf, NULL, 0, offset_blocks,
			      num_blocks, cb, cb_arg);
}

int
osp_bdev_comparev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			 struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			 uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL || (iovcnt == 1 && iov[0].iov_base == NULL)) {
		return -EINVAL;
	}
	if (!osp_bdev_io_type_supported(desc->bdev, OSP_BDEV_IO_TYPE_COMPARE)) {
		return -ENOTSUP;
	}
	return bdev_rw_blocks(desc, ch, OSP_BDEV_IO_TYPE_COMPARE, NULL, iov, iovcnt,
			      offset_blocks, num_blocks, cb, cb_arg);
}

/* I/O without data (write zeroes, unmap, flush, reset). */
static int
bdev_nodata_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ioch, uint8_t type,
		   uint64_t offset, uint64_t num, osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_io *bdev_io;
	int rc;

	rc = bdev_check_range(desc->bdev, offset, num, type == OSP_BDEV_IO_TYPE_FLUSH ||
			      type == OSP_BDEV_IO_TYPE_RESET);
	rc = rc ?: bdev_check_desc(desc, type != OSP_BDEV_IO_TYPE_RESET);
	if (rc != 0) {
		return rc;
	}
	if (type != OSP_BDEV_IO_TYPE_RESET && !osp_bdev_io_type_supported(desc->bdev, type)) {
		return -ENOTSUP;
	}
	if (type == OSP_BDEV_IO_TYPE_WRITE_ZEROES &&
	    !(desc->bdev->internal->supported_types & (1u << OSP_BDEV_IO_TYPE_WRITE_ZEROES)) &&
	    desc->bdev->blocklen > OSP_BDEV_LARGE_BUF_MAX_SIZE) {
		return -ENOTSUP;
	}
	bdev_io = bdev_io_alloc(desc, ch, type, cb, cb_arg);
	if (bdev_io == NULL) {
		return -ENOMEM;
	}
	bdev_io->u.bdev.iovs = NULL;
	bdev_io->u.bdev.iovcnt = 0;
	bdev_io->u.bdev.fused_iovs = NULL;
	bdev_io->u.bdev.fused_iovcnt = 0;
	bdev_io->u.bdev.offset_blocks = offset;
	bdev_io->u.bdev.num_blocks = num;
	bdev_io_submit(bdev_io);
	return 0;
}

int
osp_bdev_write_zeroes_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nodata_blocks(desc, ch, OSP_BDEV_IO_TYPE_WRITE_ZEROES, offset_blocks,
				  num_blocks, cb, cb_arg);
}

int
osp_bdev_unmap_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		      uint64_t offset_blocks, uint64_t num_blocks,
		      osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nodata_blocks(desc, ch, OSP_BDEV_IO_TYPE_UNMAP, offset_blocks, num_blocks,
				  cb, cb_arg);
}

int
osp_bdev_flush_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		      uint64_t offset_blocks, uint64_t num_blocks,
		      osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nodata_blocks(desc, ch, OSP_BDEV_IO_TYPE_FLUSH, offset_blocks, num_blocks,
				  cb, cb_arg);
}

int
osp_bdev_reset(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
	       osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nodata_blocks(desc, ch, OSP_BDEV_IO_TYPE_RESET, 0, 0, cb, cb_arg);
}

int
osp_bdev_comparev_and_writev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ioch,
				    struct iovec *compare_iov, int compare_iovcnt,
				    struct iovec *write_iov, int write_iovcnt,
				    uint64_t offset_blocks, uint64_t num_blocks,
				    osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_io *bdev_io;
	int rc;

	if (compare_iov == NULL || write_iov == NULL || compare_iovcnt <= 0 || write_iovcnt <= 0) {
		return -EINVAL;
	}
	rc = bdev_check_range(desc->bdev, offset_blocks, num_blocks, false);
	rc = rc ?: bdev_check_desc(desc, true);
	if (rc != 0) {
		return rc;
	}
	if (!osp_bdev_io_type_supported(desc->bdev, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE)) {
		return -ENOTSUP;
	}
	bdev_io = bdev_io_alloc(desc, ch, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE, cb, cb_arg);
	if (bdev_io == NULL) {
		return -ENOMEM;
	}
	bdev_io->u.bdev.iovs = compare_iov;
	bdev_io->u.bdev.iovcnt = compare_iovcnt;
	bdev_io->u.bdev.fused_iovs = write_iov;
	bdev_io->u.bdev.fused_iovcnt = write_iovcnt;
	bdev_io->u.bdev.offset_blocks = offset_blocks;
	bdev_io->u.bdev.num_blocks = num_blocks;
	bdev_io_submit(bdev_io);
	return 0;
}

static int
bdev_nvme_passthru(struct osp_bdev_desc *desc, struct osp_io_channel *ioch, uint8_t type,
		   const struct osp_nvme_cmd *cmd, void *buf, size_t nbytes,
		   osp_bdev_io_completion_cb cb, void *cb_arg)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_io *bdev_io;
	int rc;

	if (cmd == NULL || (nbytes > 0 && buf == NULL)) {
		return -EINVAL;
	}
	rc = bdev_check_desc(desc, true);
	if (rc != 0) {
		return rc;
	}
	if (!osp_bdev_io_type_supported(desc->bdev, type)) {
		return -ENOTSUP;
	}
	bdev_io = bdev_io_alloc(desc, ch, type, cb, cb_arg);
	if (bdev_io == NULL) {
		return -ENOMEM;
	}
	bdev_io->u.nvme_passthru.cmd = (struct osp_nvme_cmd *)(uintptr_t)cmd;
	bdev_io->u.nvme_passthru.buf = buf;
	bdev_io->u.nvme_passthru.nbytes = nbytes;
	bdev_io->internal.nvme_cdw0 = 0;
	bdev_io_submit(bdev_io);
	return 0;
}

int
osp_bdev_nvme_admin_passthru(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			     const struct osp_nvme_cmd *cmd, void *buf, size_t nbytes,
			     osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nvme_passthru(desc, ch, OSP_BDEV_IO_TYPE_NVME_ADMIN, cmd, buf, nbytes, cb,
				  cb_arg);
}

int
osp_bdev_nvme_io_passthru(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			  const struct osp_nvme_cmd *cmd, void *buf, size_t nbytes,
			  osp_bdev_io_completion_cb cb, void *cb_arg)
{
	return bdev_nvme_passthru(desc, ch, OSP_BDEV_IO_TYPE_NVME_IO, cmd, buf, nbytes, cb,
				  cb_arg);
}

int
osp_bdev_queue_io_wait(struct osp_bdev *bdev, struct osp_io_channel *ioch,
		       struct osp_bdev_io_wait_entry *entry)
{
	struct osp_bdev_channel *ch;
	struct bdev_mgmt_channel *mgmt;

	if (bdev == NULL || ioch == NULL || entry == NULL || entry->cb_fn == NULL) {
		return -EINVAL;
	}
	ch = osp_io_channel_get_ctx(ioch);
	mgmt = ch->mgmt;
	if (mgmt->io_cache_count > 0 || osp_ring_count(g_bdev.io_ring) > 0) {
		return -EINVAL;
	}
	entry->bdev = bdev;
	TAILQ_INSERT_TAIL(&mgmt->io_wait_queue, entry, link);
	return 0;
}

/* ---- resubmission for virtual bdevs ---- */

static void
bdev_resubmit_buf_cb(struct osp_io_channel *mch, struct osp_bdev_io *bdev_io, bool success)
{
	__typeof__(bdev_io->internal.u.resubmit) r = bdev_io->internal.u.resubmit;
	int rc;

	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	rc = osp_bdev_readv_blocks(r.desc, r.ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
				   bdev_io->u.bdev.offset_blocks + r.offset_shift,
				   bdev_io->u.bdev.num_blocks, r.cb, r.cb_arg);
	if (rc != 0) {
		osp_bdev_io_complete(bdev_io, rc == -ENOMEM ? OSP_BDEV_IO_STATUS_NOMEM :
				     OSP_BDEV_IO_STATUS_FAILED);
	}
}

int
osp_bdev_io_resubmit_to(struct osp_bdev_io *bdev_io, struct osp_bdev_desc *base_desc,
			struct osp_io_channel *base_ch, uint64_t offset_shift,
			osp_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t off = bdev_io->u.bdev.offset_blocks + offset_shift;
	uint64_t n = bdev_io->u.bdev.num_blocks;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		if (bdev_io->u.bdev.iovcnt == 1 && bdev_io->u.bdev.iovs[0].iov_base == NULL) {
			/* The data must land in this I/O's buffer, not the base I/O's. */
			bdev_io->internal.u.resubmit.desc = base_desc;
			bdev_io->internal.u.resubmit.ch = base_ch;
			bdev_io->internal.u.resubmit.offset_shift = offset_shift;
			bdev_io->internal.u.resubmit.cb = cb;
			bdev_io->internal.u.resubmit.cb_arg = cb_arg;
			osp_bdev_io_get_buf(bdev_io, bdev_resubmit_buf_cb, n * bdev_io->bdev->blocklen);
			return 0;
		}
		return osp_bdev_readv_blocks(base_desc, base_ch, bdev_io->u.bdev.iovs,
					     bdev_io->u.bdev.iovcnt, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_WRITE:
		return osp_bdev_writev_blocks(base_desc, base_ch, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_COMPARE:
		return osp_bdev_comparev_blocks(base_desc, base_ch, bdev_io->u.bdev.iovs,
						bdev_io->u.bdev.iovcnt, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return osp_bdev_comparev_and_writev_blocks(base_desc, base_ch, bdev_io->u.bdev.iovs,
				bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.fused_iovs,
				bdev_io->u.bdev.fused_iovcnt, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return osp_bdev_write_zeroes_blocks(base_desc, base_ch, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_UNMAP:
		return osp_bdev_unmap_blocks(base_desc, base_ch, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_FLUSH:
		return osp_bdev_flush_blocks(base_desc, base_ch, off, n, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_RESET:
		return osp_bdev_reset(base_desc, base_ch, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_NVME_ADMIN:
		return osp_bdev_nvme_admin_passthru(base_desc, base_ch, bdev_io->u.nvme_passthru.cmd,
						    bdev_io->u.nvme_passthru.buf,
						    bdev_io->u.nvme_passthru.nbytes, cb, cb_arg);
	case OSP_BDEV_IO_TYPE_NVME_IO:
		return osp_bdev_nvme_io_passthru(base_desc, base_ch, bdev_io->u.nvme_passthru.cmd,
						 bdev_io->u.nvme_passthru.buf,
						 bdev_io->u.nvme_passthru.nbytes, cb, cb_arg);
	default:
		return -EINVAL;
	}
}

/* ---- draining a channel: the two generations ---- */

/*
 * Why two generations. A range lock (compare-and-write emulation) must not
 * start its compare while a write that overlaps its range, and that was
 * submitted before the lock reached this channel, is still running; writes
 * submitted after the lock reached the channel are checked against it at
 * submission (bdev_io_blocked_by_lock) and wait. The channel cannot tell
 * "running I/O from before" from "running I/O from after" with a single
 * counter of outstanding I/O: new, unrelated I/O keeps it above zero forever
 * on a busy channel, and the lock would starve.
 *
 * So every I/O past the lock stage is counted in the channel's current
 * generation (bdev_io->internal.gen = ch->gen; ch->gen_outstanding[gen]++ in
 * bdev_io_dispatch, bdev_lock_add_done and the fast path of bdev_io_submit),
 * and uncounted from that same generation when it completes
 * (bdev_io_complete_user). To drain, a lock flips ch->gen (generation 0 ->
 * 1 or 1 -> 0): I/O from now on is counted in the other generation, and
 * the lock waits only until the old one, ch->drain_gen, reaches zero. That
 * count can only go down, so the wait ends once the I/O that was running when
 * the lock arrived has completed, however busy the channel is.
 *
 * Two generations are enough because one drain runs at a time per channel:
 * a lock that arrives while another drains waits on ch->drain_waiters and
 * flips the generation only when the previous drain has finished (its old
 * generation is then at zero, so it can be reused). A reset drains
 * everything, both generations (ch->reset_iter). BDEV_CH_DRAIN keeps the
 * completion path's check (bdev_channel_drain_check) off the fast path when
 * nobody waits.
 */

/* Wait for the I/O counted in ch's current generation; new I/O goes to the other one. */
void
bdev_lock_drain_begin(struct osp_bdev_channel *ch, struct osp_bdev_io *lock)
{
	if (ch->gen_outstanding[ch->gen] == 0) {
		osp_for_each_channel_continue(lock->internal.u.lock.iter, 0);
		return;
	}
	ch->drain_gen = ch->gen;
	ch->gen ^= 1;
	ch->drain_owner = lock;
	ch->flags |= BDEV_CH_DRAIN;
}

void
bdev_channel_drain_check(struct osp_bdev_channel *ch)
{
	struct osp_bdev_io *lock;
	struct osp_io_channel_iter *it;

	for (;;) {
		if (ch->drain_owner != NULL) {
			if (ch->gen_outstanding[ch->drain_gen] != 0) {
				break;
			}
			lock = ch->drain_owner;
			ch->drain_owner = NULL;
			osp_for_each_channel_continue(lock->internal.u.lock.iter, 0);
		}
		lock = STAILQ_FIRST(&ch->drain_waiters);
		if (lock == NULL) {
			break;
		}
		STAILQ_REMOVE_HEAD(&ch->drain_waiters, internal.u.lock.drain_link);
		bdev_lock_drain_begin(ch, lock);
	}
	if (ch->reset_iter != NULL && ch->gen_outstanding[0] + ch->gen_outstanding[1] == 0) {
		it = ch->reset_iter;
		ch->reset_iter = NULL;
		osp_for_each_channel_continue(it, 0);
	}
	if (ch->drain_owner == NULL && ch->reset_iter == NULL &&
	    STAILQ_EMPTY(&ch->drain_waiters)) {
		ch->flags &= ~BDEV_CH_DRAIN;
	}
}

/* ---- reset ---- */

static void
bdev_abort_list(struct bdev_io_tailq *list)
{
	struct osp_bdev_io *bdev_io;

	while ((bdev_io = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, bdev_io, internal.link.tq);
		bdev_io->internal.status = OSP_BDEV_IO_STATUS_ABORTED;
		bdev_io_done(bdev_io);
	}
}

static void
bdev_reset_freeze_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));
	struct bdev_io_tailq list;

	ch->flags |= BDEV_CH_FROZEN;
	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &ch->nomem_io, internal.link.tq);
	ch->flags &= ~BDEV_CH_NOMEM;
	osp_poller_unregister(&ch->nomem_poller);
	bdev_abort_list(&list);
	TAILQ_CONCAT(&list, &ch->locked_io, internal.link.tq);
	bdev_abort_list(&list);
	if (ch->qos_owned != NULL) {
		TAILQ_CONCAT(&list, &ch->qos_owned->queued, internal.link.tq);
		bdev_abort_list(&list);
	}
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_reset_drain_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	if (ch->gen_outstanding[0] + ch->gen_outstanding[1] == 0) {
		osp_for_each_channel_continue(i, 0);
		return;
	}
	ch->reset_iter = i;
	ch->flags |= BDEV_CH_DRAIN;
}

static void bdev_reset_finish(struct osp_bdev_io *bdev_io);

/* Release a drain parked on this channel (the drain iteration is always ahead of us). */
static void
bdev_reset_force_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));
	struct osp_io_channel_iter *it = ch->reset_iter;

	if (it != NULL && osp_io_channel_iter_get_ctx(it) == osp_io_channel_iter_get_ctx(i)) {
		ch->reset_iter = NULL;
		if (ch->drain_owner == NULL && STAILQ_EMPTY(&ch->drain_waiters)) {
			ch->flags &= ~BDEV_CH_DRAIN;
		}
		osp_for_each_channel_continue(it, 0);
	}
	osp_for_each_channel_continue(i, 0);
}

static int
bdev_reset_drain_timeout(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	OSP_WARNLOG("bdev %s: I/O still outstanding %u s into a reset: resetting anyway\n",
		    bdev_io->bdev->name, BDEV_RESET_DRAIN_TIMEOUT_US / 1000000);
	osp_poller_unregister(&bdev_io->internal.u.reset.drain_timer);
	osp_for_each_channel(bdev_io->bdev, bdev_reset_force_step, bdev_io, NULL);
	return OSP_POLLER_BUSY;
}

static void
bdev_reset_drain_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i);

	osp_poller_unregister(&bdev_io->internal.u.reset.drain_timer);
	bdev_io->internal.ch = bdev_io->internal.user_ch;
	if (status != 0) {
		bdev_io->internal.status = OSP_BDEV_IO_STATUS_FAILED;
		bdev_reset_finish(bdev_io);
		return;
	}
	if (!(bdev_io->bdev->internal->supported_types & (1u << OSP_BDEV_IO_TYPE_RESET))) {
		/* Nothing to reset in the module: aborting and draining was the reset. */
		bdev_io->internal.status = OSP_BDEV_IO_STATUS_SUCCESS;
		bdev_reset_finish(bdev_io);
		return;
	}
	bdev_io_submit_module(bdev_io);
}

static void
bdev_reset_freeze_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i);

	if (status != 0) {
		bdev_io->internal.status = OSP_BDEV_IO_STATUS_FAILED;
		bdev_reset_finish(bdev_io);
		return;
	}
	bdev_io->internal.u.reset.drain_timer = OSP_POLLER_REGISTER(bdev_reset_drain_timeout,
						bdev_io, g_bdev_reset_drain_timeout_us);
	osp_for_each_channel(bdev_io->bdev, bdev_reset_drain_step, bdev_io, bdev_reset_drain_done);
}

static void
bdev_reset_queued_complete(void *arg)
{
	bdev_io_complete_user(arg);
}

static void
bdev_reset_unfreeze_step(struct osp_io_channel_iter *i)
{
	struct osp_bdev_channel *ch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));

	ch->flags &= ~BDEV_CH_FROZEN;
	osp_for_each_channel_continue(i, 0);
}

static void
bdev_reset_unfreeze_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i), *q;
	struct osp_bdev_internal *in = bdev_io->bdev->internal;
	struct bdev_io_tailq queued;

	TAILQ_INIT(&queued);
	pthread_mutex_lock(&in->mutex);
	in->reset_in_progress = NULL;
	TAILQ_CONCAT(&queued, &in->queued_resets, internal.link.tq);
	pthread_mutex_unlock(&in->mutex);
	while ((q = TAILQ_FIRST(&queued)) != NULL) {
		TAILQ_REMOVE(&queued, q, internal.link.tq);
		q->internal.status = bdev_io->internal.status;
		if (osp_thread_send_msg(q->internal.user_ch->thread, bdev_reset_queued_complete,
					q) != 0) {
			OSP_ERRLOG("cannot complete a queued reset of bdev %s\n", q->bdev->name);
		}
	}
	bdev_io_complete_user(bdev_io);
}

static void
bdev_reset_finish(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_internal *in = bdev_io->bdev->internal;

	pthread_mutex_lock(&in->mutex);
	in->reset_frozen = false;
	pthread_mutex_unlock(&in->mutex);
	osp_for_each_channel(bdev_io->bdev, bdev_reset_unfreeze_step, bdev_io,
			     bdev_reset_unfreeze_done);
}

static void
bdev_reset_module_done(struct osp_bdev_io *bdev_io)
{
	bdev_reset_finish(bdev_io);
}

static void
bdev_reset_start(struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_internal *in = bdev_io->bdev->internal;

	bdev_io->internal.flags = BDEV_IO_RESET;
	pthread_mutex_lock(&in->mutex);
	if (in->reset_in_progress != NULL) {
		TAILQ_INSERT_TAIL(&in->queued_resets, bdev_io, internal.link.tq);
		pthread_mutex_unlock(&in->mutex);
		return;
	}
	in->reset_in_progress = bdev_io;
	in->reset_frozen = true;
	pthread_mutex_unlock(&in->mutex);
	osp_for_each_channel(bdev_io->bdev, bdev_reset_freeze_step, bdev_io,
			     bdev_reset_freeze_done);
}

/* ---- initialization and teardown ---- */

static void
bdev_init_complete(int rc)
{
	struct osp_bdev_module *m;
	void (*cb)(void *, int) = g_bdev.init_cb;

	if (rc == 0) {
		TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
			if (m->init_complete != NULL) {
				m->init_complete();
			}
		}
		g_bdev.initialized = true;
	}
	g_bdev.init_cb = NULL;
	if (cb != NULL) {
		cb(g_bdev.init_cb_arg, rc);
	}
}

static void
bdev_init_check_done(void)
{
	if (g_bdev.init_pending == 0 && g_bdev.init_cb != NULL) {
		bdev_init_complete(g_bdev.init_rc);
	}
}

void
osp_bdev_module_init_done(struct osp_bdev_module *module)
{
	if (g_bdev.init_pending == 0) {
		OSP_ERRLOG("module %s: init_done without a pending init\n",
			   module ? module->name : "?");
		return;
	}
	g_bdev.init_pending--;
	bdev_init_check_done();
}

void
osp_bdev_initialize(void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct osp_bdev_module *m;
	int rc;

	if (g_bdev.init_started) {
		cb(cb_arg, -EALREADY);
		return;
	}
	g_bdev.init_started = true;
	g_bdev.finishing = false;
	g_bdev.init_rc = 0;
	rc = bdev_pools_create();
	if (rc != 0) {
		g_bdev.init_started = false;
		cb(cb_arg, rc);
		return;
	}
	osp_io_device_register(&g_bdev, bdev_mgmt_channel_create, bdev_mgmt_channel_destroy,
			       sizeof(struct bdev_mgmt_channel), "bdev_mgmt");
	g_bdev.init_cb = cb;
	g_bdev.init_cb_arg = cb_arg;
	/* Held while the modules start so an early init_done cannot finish the init. */
	g_bdev.init_pending = 1;
	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->module_init == NULL) {
			continue;
		}
		if (m->async_init) {
			g_bdev.init_pending++;
		}
		rc = m->module_init();
		if (rc != 0) {
			OSP_ERRLOG("bdev module %s failed to initialize: %s\n", m->name, strerror(-rc));
			if (m->async_init) {
				g_bdev.init_pending--;
			}
			g_bdev.init_rc = rc;
			break;
		}
	}
	g_bdev.init_pending--;
	bdev_init_check_done();
}

static void
bdev_mgmt_unregistered(void *io_device)
{
	void (*cb)(void *) = g_bdev.fini_cb;

	bdev_pools_free();
	g_bdev.init_started = false;
	g_bdev.initialized = false;
	g_bdev.finishing = false;
	g_bdev.fini_cb = NULL;
	if (cb != NULL) {
		cb(g_bdev.fini_cb_arg);
	}
}

static void bdev_finish_modules(void *ctx);

void
osp_bdev_module_fini_done(void)
{
	if (osp_get_thread() == g_bdev.fini_thread) {
		bdev_finish_modules(NULL);
	} else if (osp_thread_send_msg(g_bdev.fini_thread, bdev_finish_modules, NULL) != 0) {
		OSP_ERRLOG("cannot continue the bdev layer teardown\n");
	}
}

/* Finish modules in reverse registration order, waiting for async ones. */
static void
bdev_finish_modules(void *ctx)
{
	struct osp_bdev_module *m;

	m = g_bdev.fini_module == NULL ? TAILQ_LAST(&g_bdev.modules, osp_bdev_module_tailq) :
	    TAILQ_PREV(g_bdev.fini_module, osp_bdev_module_tailq, internal.link);
	for (; m != NULL; m = TAILQ_PREV(m, osp_bdev_module_tailq, internal.link)) {
		g_bdev.fini_module = m;
		if (m->module_fini == NULL) {
			continue;
		}
		m->module_fini();
		if (m->async_fini) {
			return;	/* osp_bdev_module_fini_done() continues */
		}
	}
	g_bdev.fini_module = NULL;
	if (g_bdev.init_started) {
		osp_io_device_unregister(&g_bdev, bdev_mgmt_unregistered);
	} else {
		bdev_mgmt_unregistered(NULL);
	}
}

static void
bdev_finish_unregistered(void *cb_arg, int rc)
{
	if (osp_thread_send_msg(g_bdev.fini_thread, bdev_finish_next, NULL) != 0) {
		bdev_finish_next(NULL);
	}
}

/*
 * Unregister bdevs one at a time from the most recently registered, skipping
 * those still claimed (a claimed base goes after the bdevs built on it).
 */
void
bdev_finish_next(void *ctx)
{
	struct osp_bdev_internal *in, *pick = NULL;

	pthread_mutex_lock(&g_bdev.mutex);
	TAILQ_FOREACH_REVERSE(in, &g_bdev.bdevs, osp_bdev_internal_tailq, link) {
		if (in->claim_module == NULL) {
			pick = in;
			break;
		}
	}
	if (pick == NULL) {
		pick = TAILQ_LAST(&g_bdev.bdevs, osp_bdev_internal_tailq);
		if (pick != NULL) {
			OSP_WARNLOG("bdev %s is still claimed by %s at shutdown: removing it anyway\n",
				    pick->bdev->name, pick->claim_module->name);
		}
	}
	if (pick == NULL && !TAILQ_EMPTY(&g_bdev.removing)) {
		/* Removals started by others: wait for them. */
		g_bdev.fini_waiting_removal = true;
		pthread_mutex_unlock(&g_bdev.mutex);
		return;
	}
	pthread_mutex_unlock(&g_bdev.mutex);
	if (pick != NULL) {
		if (osp_bdev_unregister(pick->bdev, bdev_finish_unregistered, NULL) != 0) {
			/* Someone else started removing it since: pick again. */
			osp_thread_send_msg(osp_get_thread(), bdev_finish_next, NULL);
		}
		return;
	}
	g_bdev.fini_module = NULL;
	bdev_finish_modules(NULL);
}

void
osp_bdev_finish(void (*cb)(void *cb_arg), void *cb_arg)
{
	struct osp_bdev_module *m;

	if (g_bdev.finishing) {
		OSP_ERRLOG("bdev layer teardown already in progress\n");
		return;
	}
	g_bdev.finishing = true;
	bdev_rpc_cancel_waits();
	g_bdev.fini_cb = cb;
	g_bdev.fini_cb_arg = cb_arg;
	g_bdev.fini_thread = osp_get_thread();
	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->fini_start != NULL) {
			m->fini_start();
		}
	}
	bdev_finish_next(NULL);
}

/* ---- JSON configuration ---- */

void
bdev_write_config_json(cJSON *array)
{
	struct osp_bdev_internal *in;
	struct osp_bdev_module *m;
	struct osp_bdev_opts opts, *o = &opts;
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	cJSON *params;
	int t;
	bool any;

	osp_bdev_get_opts(&opts, sizeof(opts));
	params = cJSON_CreateObject();
	osp_json_add_uint64(params, "bdev_io_pool_size", o->bdev_io_pool_size);
	osp_json_add_uint64(params, "bdev_io_cache_size", o->bdev_io_cache_size);
	cJSON_AddBoolToObject(params, "bdev_auto_examine", o->bdev_auto_examine);
	if (o->small_buf_pool_size != OSP_IOBUF_SMALL_POOL_COUNT_DEFAULT) {
		osp_json_add_uint64(params, "small_buf_pool_size", o->small_buf_pool_size);
	}
	if (o->large_buf_pool_size != OSP_IOBUF_LARGE_POOL_COUNT_DEFAULT) {
		osp_json_add_uint64(params, "large_buf_pool_size", o->large_buf_pool_size);
	}
	osp_json_add_uint64(params, "iobuf_small_cache_size", o->iobuf_small_cache_size);
	osp_json_add_uint64(params, "iobuf_large_cache_size", o->iobuf_large_cache_size);
	osp_json_add_rpc_call(array, "bdev_set_options", params);

	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->config_json != NULL) {
			m->config_json(array);
		}
	}
	/* Registration order: bases come before the virtual bdevs built on them. */
	pthread_mutex_lock(&g_bdev.mutex);
	TAILQ_FOREACH(in, &g_bdev.bdevs, link) {
		if (in->bdev->fn_table->write_config_json != NULL) {
			in->bdev->fn_table->write_config_json(in->bdev, array);
		}
	}
	TAILQ_FOREACH(in, &g_bdev.bdevs, link) {
		pthread_mutex_lock(&in->mutex);
		memcpy(limits, in->qos_limits, sizeof(limits));
		pthread_mutex_unlock(&in->mutex);
		any = false;
		for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
			any |= limits[t] != 0;
		}
		if (!any) {
			continue;
		}
		params = cJSON_CreateObject();
		cJSON_AddStringToObject(params, "name", in->bdev->name);
		for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
			if (limits[t] != 0) {
				osp_json_add_uint64(params, g_qos_limit_names[t],
						    t == 0 ? limits[t] : limits[t] / (1024 * 1024));
			}
		}
		osp_json_add_rpc_call(array, "bdev_set_qos_limit", params);
	}
	pthread_mutex_unlock(&g_bdev.mutex);
	osp_json_add_rpc_call(array, "bdev_wait_for_examine", NULL);
}

/* ---- the "bdev" subsystem ---- */

static void
bdev_subsystem_init_done(void *cb_arg, int rc)
{
	osp_subsystem_init_next(rc);
}

static void
bdev_subsystem_init(void)
{
	osp_bdev_initialize(bdev_subsystem_init_done, NULL);
}

static void
bdev_subsystem_fini_done(void *cb_arg)
{
	osp_subsystem_fini_next();
}

static void
bdev_subsystem_fini(void)
{
	osp_bdev_finish(bdev_subsystem_fini_done, NULL);
}

static struct osp_subsystem g_bdev_subsystem = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.write_config_json = bdev_write_config_json,
};

OSP_SUBSYSTEM_REGISTER(g_bdev_subsystem)

/* ---- per-channel completion lists of the modules ---- */

static int
bdev_cpl_list_poll(void *arg)
{
	struct osp_bdev_cpl_list *list = arg;
	STAILQ_HEAD(, osp_bdev_cpl_entry) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct osp_bdev_cpl_entry *entry;

	if (STAILQ_EMPTY(&list->done)) {
		return OSP_POLLER_IDLE;
	}
	/* Take the whole list: callbacks may submit (and queue) new I/O meanwhile. */
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
	list->poller = osp_poller_register_named(bdev_cpl_list_poll, list, 0, poller_name);
	return list->poller != NULL ? 0 : -ENOMEM;
}

void
osp_bdev_cpl_list_fini(struct osp_bdev_cpl_list *list)
{
	/* The layer releases a channel only when its I/O is done; be safe anyway. */
	bdev_cpl_list_poll(list);
	osp_poller_unregister(&list->poller);
}

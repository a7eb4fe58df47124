/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private structures of the block device layer (lib/bdev). Only the files of
 * lib/bdev and their unit tests include this header.
 */
#ifndef OSPREY_BDEV_INTERNAL_H
#define OSPREY_BDEV_INTERNAL_H

#include <pthread.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/iobuf.h"
#include "osprey/queue.h"
#include "osprey/thread.h"

/* Length of the QoS time slice: credits are refilled this often. */
#define BDEV_QOS_TIMESLICE_US		1000
/* Children of one split I/O in flight at once. */
#define BDEV_SPLIT_MAX_INFLIGHT		8
/* A channel whose module said NOMEM with nothing outstanding retries this often. */
#define BDEV_NOMEM_RETRY_US		100
/* Resubmit NOMEM-queued I/O once the module's queue fell this far below where it failed. */
#define BDEV_NOMEM_THRESHOLD_COUNT	8
/* bdev_ios moved between a thread's cache and the global pool at once. */
#define BDEV_IO_CACHE_BATCH		32
/*
 * A reset waits this long for the I/O outstanding on every channel; then it
 * goes to the module anyway (whose reset must abort what it still holds), so
 * that a hung device is reset rather than waited for.
 */
#define BDEV_RESET_DRAIN_TIMEOUT_US	(2 * 1000 * 1000)
/* How long bdev_get_bdevs re-checks for a bdev to appear. */
#define BDEV_GET_BDEVS_POLL_US		1000
/* Buffers of the pools are aligned to this (the largest required_alignment we bounce to). */
#define BDEV_BUF_ALIGN			4096
#define BDEV_MAX_REQUIRED_ALIGNMENT	12

/* ---- bdev channel flags ---- */
/* A reset is in progress: new I/O completes with ABORTED. */
#define BDEV_CH_FROZEN		(1u << 0)
/* QoS limits are set: I/O is funneled to the QoS thread. */
#define BDEV_CH_QOS		(1u << 1)
/* LBA ranges are locked (compare-and-write): writes check for overlaps. */
#define BDEV_CH_LOCKED		(1u << 2)
/* The module said NOMEM: I/O queues behind the retried ones. */
#define BDEV_CH_NOMEM		(1u << 3)
/* The bdev needs per-I/O checks (split, bounce, write unit). */
#define BDEV_CH_CHECK_IO	(1u << 4)
/* Somebody waits for I/O of this channel to drain (range lock, reset). */
#define BDEV_CH_DRAIN		(1u << 5)
/* Any of these sends a user's I/O down the slow submit path. */
#define BDEV_CH_SUBMIT_SLOW	(BDEV_CH_FROZEN | BDEV_CH_QOS | BDEV_CH_LOCKED | \
				 BDEV_CH_NOMEM | BDEV_CH_CHECK_IO)

/* ---- bdev_io internal flags ---- */
/* Counted in its user channel's outstanding generation counters. */
#define BDEV_IO_GEN		(1u << 0)
/* A child of another I/O of the layer (split, emulation): no stats, no checks. */
#define BDEV_IO_CHILD		(1u << 1)
/* Executed on the QoS thread: completion goes back by message. */
#define BDEV_IO_FUNNELED	(1u << 2)
/* Module works on a bounce buffer. */
#define BDEV_IO_BOUNCED		(1u << 3)
/* A reset being carried out. */
#define BDEV_IO_RESET		(1u << 4)
/* Holds an LBA range lock to release at completion. */
#define BDEV_IO_LOCKED		(1u << 5)
/* Queued on the deferred list to run bdev_io_done() rather than its callback. */
#define BDEV_IO_DEFER_DONE	(1u << 6)
/* A write that takes the LBA range lock first (osp_bdev_writev_blocks_locked). */
#define BDEV_IO_RANGE_LOCK	(1u << 7)
/* Completion needs more than the plain user completion. */
#define BDEV_IO_DONE_SLOW	(BDEV_IO_CHILD | BDEV_IO_FUNNELED | BDEV_IO_BOUNCED | \
				 BDEV_IO_RESET)

struct bdev_qos;

STAILQ_HEAD(bdev_io_stailq, osp_bdev_io);
TAILQ_HEAD(bdev_io_tailq, osp_bdev_io);

/* Per thread: the bdev_io cache, the iobuf channels (buffer caches) and the io_wait queue. */
struct bdev_mgmt_channel {
	/* Module submit_request calls on the stack: completions are deferred meanwhile. */
	uint32_t in_submit;
	uint32_t io_cache_count;
	uint32_t io_cache_size;
	struct osp_bdev_io **io_cache;
	struct bdev_io_stailq deferred;
	TAILQ_HEAD(, osp_bdev_io_wait_entry) io_wait_queue;
	struct osp_iobuf_channel small;
	struct osp_iobuf_channel large;
	struct osp_poller *poller;
	struct osp_thread *thread;
};

/* Per bdev and thread (the context of the bdev's io_device channel). */
struct osp_bdev_channel {
	/* Hot: read on every I/O. */
	uint32_t flags;
	/* I/O types the module takes as they are (bit per enum osp_bdev_io_type). */
	uint32_t direct_types;
	uint8_t gen;
	uint8_t drain_gen;
	/* User I/O past the lock stage and not yet completed, per generation. */
	uint64_t gen_outstanding[2];
	/* I/O inside the module. */
	uint64_t io_outstanding;
	struct osp_bdev *bdev;
	struct osp_io_channel *module_ch;
	struct bdev_mgmt_channel *mgmt;
	struct osp_bdev_io_stat stat;

	/* Slow paths. */
	struct bdev_io_tailq nomem_io;
	uint64_t nomem_threshold;
	struct osp_poller *nomem_poller;
	/* Writes waiting for a locked range to be released. */
	struct bdev_io_tailq locked_io;
	/* Locked ranges (the compare-and-write I/O holding each). */
	struct osp_bdev_io **ranges;
	uint32_t nranges;
	uint32_t ranges_cap;
	/* The lock waiting for generation drain_gen to drain, and those behind it. */
	struct osp_bdev_io *drain_owner;
	struct bdev_io_stailq drain_waiters;
	/* A reset waits for everything to drain here. */
	struct osp_io_channel_iter *reset_iter;
	/* QoS of the bdev when limits are set; qos_owned on the QoS thread's channel. */
	struct bdev_qos *qos;
	struct bdev_qos *qos_owned;
	struct osp_io_channel *mgmt_ioch;
	struct osp_thread *thread;
};

enum bdev_status {
	BDEV_STATUS_READY,
	BDEV_STATUS_REMOVING,
};

struct osp_bdev_desc {
	struct osp_bdev *bdev;
	bool write;
	/* Set (relaxed) by unregister: new I/O fails with -ENODEV. */
	bool removed;
	bool closed;
	/* Event messages in flight to the desc's thread. */
	uint32_t refs;
	osp_bdev_event_cb_t event_cb;
	void *event_ctx;
	struct osp_thread *thread;
	TAILQ_ENTRY(osp_bdev_desc) link;
};

struct bdev_qos {
	/* Per second; 0 = no limit. */
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	/* Credit in (units x ticks_hz); an I/O may start while every credit it uses is > 0. */
	int64_t credit[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	uint64_t last_tsc;
	uint64_t slice_ticks;
	struct osp_bdev *bdev;
	struct osp_thread *thread;
	struct osp_io_channel *ioch;
	struct osp_bdev_channel *ch;
	struct osp_poller *poller;
	struct bdev_io_tailq queued;
	/* Funneled I/O received and not yet sent back. */
	uint64_t inflight;
	bool disabling;
	bool torn_down;
};

struct osp_bdev_internal {
	struct osp_bdev *bdev;
	/* Protects descs, claim, status, qos pointer, lock lists, reset state. */
	pthread_mutex_t mutex;
	enum bdev_status status;
	TAILQ_HEAD(, osp_bdev_desc) open_descs;
	struct osp_bdev_module *claim_module;
	struct osp_bdev_desc *claim_desc;
	char uuid_str[OSP_UUID_STRING_LEN];
	/* Types the module supports (cached at registration). */
	uint32_t supported_types;
	uint32_t direct_types;
	uint32_t ch_flags;
	/* Unregistration. */
	osp_bdev_unregister_cb unregister_cb;
	void *unregister_ctx;
	struct osp_thread *unregister_thread;
	/* QoS: configured limits and the active state. */
	uint64_t qos_limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct bdev_qos *qos;
	bool qos_changing;
	/* Statistics of channels already destroyed. */
	struct osp_bdev_io_stat stat_closed;
	/* Range locks held (or being propagated) and those waiting for a conflict. */
	struct bdev_io_tailq locked_ranges;
	struct bdev_io_tailq pending_locks;
	/* Reset. */
	struct osp_bdev_io *reset_in_progress;
	bool reset_frozen;
	struct bdev_io_tailq queued_resets;
	bool examined;
	/* Examine messages in flight (g_bdev.mutex); destroyed: freed by the last one. */
	uint32_t examine_msgs;
	bool destroyed;
	TAILQ_ENTRY(osp_bdev_internal) link;
};

struct bdev_examine_waiter {
	void (*cb)(void *cb_arg);
	void *cb_arg;
	TAILQ_ENTRY(bdev_examine_waiter) link;
};

struct bdev_examine_allow {
	char *name;
	TAILQ_ENTRY(bdev_examine_allow) link;
};

/* The layer's globals (defined in bdev.c). */
struct bdev_globals {
	struct osp_bdev_opts opts;
	TAILQ_HEAD(osp_bdev_module_tailq, osp_bdev_module) modules;
	/* Registered bdevs in registration order, and those being removed. */
	TAILQ_HEAD(osp_bdev_internal_tailq, osp_bdev_internal) bdevs;
	struct osp_bdev_internal_tailq removing;
	pthread_mutex_t mutex;
	bool init_started;
	bool initialized;
	bool finishing;
	/* bdev_io pool: a lazily touched region and a ring of free elements. */
	size_t io_size;
	uint32_t io_count;
	uint8_t *io_region;
	size_t io_region_len;
	struct osp_ring *io_ring;
	/* The iobuf global pools the channels below use (small, large). */
	struct osp_iobuf_pool *small;
	struct osp_iobuf_pool *large;
	bool iobuf_ref;
	void *zero_buf;
	/* Examine actions in progress (including examines not yet started). */
	uint32_t examine_in_progress;
	TAILQ_HEAD(, bdev_examine_waiter) examine_waiters;
	TAILQ_HEAD(, bdev_examine_allow) examine_allow;
	/* Initialization and teardown. */
	uint32_t init_pending;
	void (*init_cb)(void *cb_arg, int rc);
	void *init_cb_arg;
	int init_rc;
	void (*fini_cb)(void *cb_arg);
	void *fini_cb_arg;
	struct osp_bdev_module *fini_module;
	struct osp_thread *fini_thread;
	bool fini_waiting_removal;
};
extern struct bdev_globals g_bdev;

/* Split modes (bdev_split_start). */
#define BDEV_SPLIT_ZEROES	0x1
#define BDEV_SPLIT_CLAMP	0x2

/*
 * Shared by bdev.c, bdev_register.c, bdev_emul.c, bdev_qos.c, bdev_stat.c
 * and bdev_buf.c; all run on the thread of the channel they are given unless
 * said otherwise.
 */

/* bdev.c: the bdev_io cache of the management channel; bdev_buf.c: data buffers */
struct osp_bdev_io *bdev_io_get_slow(struct bdev_mgmt_channel *mgmt);
void bdev_io_put_slow(struct bdev_mgmt_channel *mgmt, struct osp_bdev_io *bdev_io);
void bdev_io_run_waiters(struct bdev_mgmt_channel *mgmt);
void bdev_buf_get(struct osp_bdev_io *bdev_io, size_t len,
	     void (*done)(struct osp_bdev_io *bdev_io, void *buf));
void bdev_buf_put(struct bdev_mgmt_channel *mgmt, void *buf, size_t len);

/* bdev.c: channels and the I/O path */
int bdev_channel_create(void *io_device, void *ctx_buf);
void bdev_channel_destroy(void *io_device, void *ctx_buf);
void bdev_io_complete_user(struct osp_bdev_io *bdev_io);
void bdev_io_done(struct osp_bdev_io *bdev_io);
void bdev_io_fail_deferred(struct osp_bdev_io *bdev_io, int8_t status);
void bdev_io_submit_module(struct osp_bdev_io *bdev_io);
bool bdev_io_needs_bounce(const struct osp_bdev_io *bdev_io);
void bdev_child_init(struct osp_bdev_io *child, struct osp_bdev_io *parent, uint8_t type,
		uint64_t offset, uint64_t num_blocks, osp_bdev_io_completion_cb cb);
void bdev_io_wait_internal(struct osp_bdev_io *bdev_io, osp_bdev_io_wait_cb cb);
void bdev_io_exec(struct osp_bdev_io *bdev_io);
bool bdev_io_blocked_by_lock(const struct osp_bdev_channel *ch, const struct osp_bdev_io *bdev_io);
/* Two-generation drain (see bdev.c): lock waits for the I/O counted in ch's current generation. */
void bdev_lock_drain_begin(struct osp_bdev_channel *ch, struct osp_bdev_io *lock);
/* A counted I/O completed while somebody drains ch: let waiting locks and resets go on. */
void bdev_channel_drain_check(struct osp_bdev_channel *ch);
void bdev_io_dispatch(struct osp_bdev_io *bdev_io);
void bdev_finish_next(void *ctx);

/* bdev_emul.c: split, bounce, compare and compare-and-write emulation, LBA range locks */
void bdev_split_start(struct osp_bdev_io *bdev_io, uint8_t mode, uint8_t child_type);
void bdev_bounce_start(struct osp_bdev_io *bdev_io);
void bdev_compare_emulate(struct osp_bdev_io *bdev_io);
void bdev_cw_lock(struct osp_bdev_io *bdev_io);
void bdev_cw_exec(void *arg);
void bdev_lock_release(struct osp_bdev_io *bdev_io);

/* bdev_qos.c */
void bdev_qos_submit(struct osp_bdev_io *bdev_io);
void bdev_qos_io_done(struct osp_bdev_io *bdev_io);
void bdev_qos_release(struct bdev_qos *qos);

/* bdev_stat.c */
void bdev_stat_init(struct osp_bdev_io_stat *s);
void bdev_stat_add(struct osp_bdev_io_stat *to, const struct osp_bdev_io_stat *from);

/*
 * Fast-path helpers used by bdev.c and the emulation: inline here so that
 * moving the emulation out of bdev.c costs the submit/complete path nothing.
 */
static inline struct osp_bdev_io *
bdev_io_get(struct bdev_mgmt_channel *mgmt)
{
	if (osp_likely(mgmt->io_cache_count > 0)) {
		return mgmt->io_cache[--mgmt->io_cache_count];
	}
	return bdev_io_get_slow(mgmt);
}

static inline void
bdev_io_put(struct bdev_mgmt_channel *mgmt, struct osp_bdev_io *bdev_io)
{
	if (osp_likely(mgmt->io_cache_count < mgmt->io_cache_size)) {
		mgmt->io_cache[mgmt->io_cache_count++] = bdev_io;
	} else {
		bdev_io_put_slow(mgmt, bdev_io);
	}
	if (osp_unlikely(!TAILQ_EMPTY(&mgmt->io_wait_queue))) {
		if (mgmt->io_cache_count == 0) {
			struct osp_bdev_io *io = bdev_io_get_slow(mgmt);

			if (io != NULL) {
				mgmt->io_cache[mgmt->io_cache_count++] = io;
			}
		}
		bdev_io_run_waiters(mgmt);
	}
}

/* Call the completion callback, or defer it when a submit_request is on the stack. */
static inline void
bdev_io_finish(struct osp_bdev_io *bdev_io)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	if (osp_unlikely(mgmt->in_submit != 0)) {
		STAILQ_INSERT_TAIL(&mgmt->deferred, bdev_io, internal.link.stq);
		return;
	}
	bdev_io->internal.cb(bdev_io, bdev_io->internal.status == OSP_BDEV_IO_STATUS_SUCCESS,
			     bdev_io->internal.cb_arg);
}

/* Release a bdev_io of the layer (a child) or of a user. */
static inline void
bdev_io_release(struct osp_bdev_io *bdev_io)
{
	struct bdev_mgmt_channel *mgmt = bdev_io->internal.ch->mgmt;

	if (osp_unlikely(bdev_io->internal.buf != NULL)) {
		void *buf = bdev_io->internal.buf;

		bdev_io->internal.buf = NULL;
		bdev_buf_put(mgmt, buf, bdev_io->internal.buf_len);
	}
	bdev_io_put(mgmt, bdev_io);
}

static inline bool
bdev_ch_native(const struct osp_bdev_channel *ch, uint8_t type)
{
	return (ch->direct_types & (1u << type)) != 0;
}

static inline bool
bdev_ranges_overlap(uint64_t o1, uint64_t n1, uint64_t o2, uint64_t n2)
{
	return o1 < o2 + n2 && o2 < o1 + n1;
}

/* Used by bdev_rpc.c. */
bool bdev_is_initialized(void);
void bdev_get_opts_internal(struct osp_bdev_opts *opts);
struct osp_bdev_desc *bdev_desc_first(struct osp_bdev *bdev);
void bdev_get_channel_stats(struct osp_bdev *bdev,
			    void (*fn)(struct osp_bdev_channel *ch, void *ctx), void *ctx,
			    void (*cpl)(void *ctx, int status));
void bdev_stat_finalize(struct osp_bdev_io_stat *stat);
void bdev_stat_to_json(const struct osp_bdev_io_stat *stat, cJSON *obj);
void bdev_write_config_json(cJSON *array);
/* Answer bdev_get_bdevs requests still waiting for a bdev to appear (teardown). */
void bdev_rpc_cancel_waits(void);

#endif /* OSPREY_BDEV_INTERNAL_H */

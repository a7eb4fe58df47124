/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O buffers: pools of fixed-size, 4 KiB-aligned data buffers shared by all
 * threads, and a per-thread channel over a pool that caches buffers and
 * queues the requests that find none. Running out of buffers never fails an
 * I/O: the caller's waiter entry is called back on its own thread when
 * buffers come back.
 *
 * Two global pools (small and large, sized by osp_iobuf_set_opts() /
 * iobuf_set_options) serve the bdev layer and any module that wants them;
 * a transport whose options fix its own buffer size and count (NVMe/TCP's
 * io_unit_size and num_shared_buffers) creates a pool of its own with
 * osp_iobuf_pool_create(). Either way the same channel code runs.
 *
 * The invariant that keeps a waiting thread from starving forever:
 *   the caches of all channels of a pool together hold at most
 *   count - reserve buffers.
 * osp_iobuf_channel_init() clamps the cache size it is asked for so that
 * the sum of the granted cache sizes never exceeds count - reserve. At least
 * `reserve` buffers are therefore always outside every cache: in the shared
 * pool or held by an I/O that will complete and put them back. In addition,
 * a put on a thread with no waiter of its own while another thread of the
 * pool waits goes to the shared pool (with the rest of that cache), so busy
 * threads hand buffers back to starving ones instead of caching them.
 * A request asks for at most `reserve` buffers at once, all or nothing, so
 * no two requests can each hold half of what both need.
 *
 * Fast path (cache hit and cache put): no lock, no atomic write, no
 * allocation; one relaxed atomic load on put.
 */
#ifndef OSPREY_IOBUF_H
#define OSPREY_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every buffer starts on a 4 KiB boundary (bufsize is rounded up to it). */
#define OSP_IOBUF_ALIGN			4096
/* Global pool defaults; the bufsizes are also their minimums (the bdev layer relies on them). */
#define OSP_IOBUF_SMALL_BUFSIZE_DEFAULT	8192
#define OSP_IOBUF_LARGE_BUFSIZE_DEFAULT	(128 * 1024)
#define OSP_IOBUF_SMALL_POOL_COUNT_DEFAULT	8191
#define OSP_IOBUF_LARGE_POOL_COUNT_DEFAULT	1023
#define OSP_IOBUF_SMALL_POOL_COUNT_MAX	(1u << 24)
#define OSP_IOBUF_LARGE_POOL_COUNT_MAX	(1u << 22)
#define OSP_IOBUF_BUFSIZE_MAX		(16u << 20)

struct osp_iobuf_opts {
	/* Size of this struct, for ABI compatibility: set by osp_iobuf_get_opts(). */
	size_t opts_size;
	uint64_t small_pool_count;	/* buffers in the small pool (default 8191) */
	uint64_t large_pool_count;	/* buffers in the large pool (default 1023) */
	uint32_t small_bufsize;		/* bytes per small buffer (default and minimum 8 KiB) */
	uint32_t large_bufsize;		/* bytes per large buffer (default and minimum 128 KiB) */
};

/* Current options of the global pools (opts_size: the caller's sizeof). */
void osp_iobuf_get_opts(struct osp_iobuf_opts *opts, size_t opts_size);

/*
 * Set the options of the global pools; only before osp_iobuf_initialize()
 * (-EPERM after). -EINVAL for a count of 0 or above the maximum, a bufsize
 * below the default or above OSP_IOBUF_BUFSIZE_MAX, or small > large; err
 * (may be NULL) receives a message a person can act on. Any thread.
 */
int osp_iobuf_set_opts(const struct osp_iobuf_opts *opts, char *err, size_t errlen);

/*
 * Create the global small and large pools (first call) or take one more
 * reference on them. Returns 0 or -ENOMEM. Control path, any thread.
 */
int osp_iobuf_initialize(void);
/* Drop a reference; the last one frees the global pools. */
void osp_iobuf_finish(void);
/*
 * The global pool whose buffers hold len bytes (small if it fits, else
 * large), or NULL when len exceeds large_bufsize or the pools do not exist.
 */
struct osp_iobuf_pool *osp_iobuf_get_pool(size_t len);

/* ---- pools ---- */
struct osp_iobuf_pool;

/*
 * A pool of count buffers of bufsize bytes (rounded up to OSP_IOBUF_ALIGN),
 * DMA-safe memory when the env runs on hugepages (ordinary memory otherwise,
 * committed as it is first used; IOVA = VA then). reserve (>= 1) is the
 * largest number of buffers one request asks for at once: channel caches
 * never pin more than count - reserve. name is shown by iobuf_get_stats.
 * Returns NULL (and logs why) if reserve is 0 or above count, or memory
 * is short. Control path, any thread.
 */
struct osp_iobuf_pool *osp_iobuf_pool_create(const char *name, uint32_t bufsize, uint32_t count,
		uint32_t reserve);
/* Free a pool; every channel must be gone. Logs buffers still out. NULL is a no-op. */
void osp_iobuf_pool_free(struct osp_iobuf_pool *pool);
const char *osp_iobuf_pool_get_name(const struct osp_iobuf_pool *pool);
uint32_t osp_iobuf_pool_get_bufsize(const struct osp_iobuf_pool *pool);
uint32_t osp_iobuf_pool_get_count(const struct osp_iobuf_pool *pool);
/* Buffers in the shared part of the pool (not in a cache, not in use); approximate. */
size_t osp_iobuf_pool_get_free(const struct osp_iobuf_pool *pool);
/* Sum of the cache sizes granted to the pool's channels. */
uint64_t osp_iobuf_pool_get_cache_granted(const struct osp_iobuf_pool *pool);
/*
 * One buffer straight from the shared part, without a channel: any thread,
 * NULL when empty (nobody is queued). For control-path scratch buffers.
 */
void *osp_iobuf_pool_get(struct osp_iobuf_pool *pool);
/* Give back a buffer of osp_iobuf_pool_get() (or of any channel), any thread. */
void osp_iobuf_pool_put(struct osp_iobuf_pool *pool, void *buf);

/* Call the callback for each pool (global and private), in creation order. */
void osp_iobuf_pool_foreach(void (*cb)(struct osp_iobuf_pool *pool, void *arg), void *arg);

/* Pool-wide counters for iobuf_get_stats (relaxed atomics, slow paths only). */
struct osp_iobuf_pool_stats {
	uint64_t waits;		/* times a request was queued for lack of buffers */
	uint64_t shared_gets;	/* times a channel refilled from the shared part */
	uint32_t waiting_channels;	/* channels with queued requests now */
};
void osp_iobuf_pool_get_stats(const struct osp_iobuf_pool *pool, struct osp_iobuf_pool_stats *st);

/* ---- channels and waiters ---- */
struct osp_iobuf_entry;

/* Buffers arrived for a queued entry: bufs (entry->bufs) holds entry->count of them. */
typedef void (*osp_iobuf_get_cb)(struct osp_iobuf_entry *entry, void **bufs);

/* A queued request; caller-provided (embedded in its request), never allocated. */
struct osp_iobuf_entry {
	osp_iobuf_get_cb cb_fn;
	void **bufs;
	uint32_t count;
	void *one;	/* storage for osp_iobuf_get()'s single buffer */
	STAILQ_ENTRY(osp_iobuf_entry) link;
};

/* One thread's view of a pool; embed it in a per-thread structure. */
struct osp_iobuf_channel {
	struct osp_iobuf_pool *pool;
	void **cache;
	uint32_t cache_count;
	uint32_t cache_size;	/* granted, may be below what was asked */
	bool waiting;		/* counted in the pool's waiting channels */
	STAILQ_HEAD(, osp_iobuf_entry) waitq;
	struct osp_poller *poller;	/* runs only while requests wait */
	struct osp_thread *thread;
};

/*
 * Set up ch over pool with a cache of up to cache_size buffers (clamped by
 * the pool's invariant; a clamp is logged once per pool). Registers a
 * paused poller: call on the thread that will use ch. The cache fills as
 * buffers are used, never ahead. Returns 0 or -ENOMEM.
 */
int osp_iobuf_channel_init(struct osp_iobuf_channel *ch, struct osp_iobuf_pool *pool,
			   uint32_t cache_size);
/*
 * Return the cache to the pool and release the poller, on ch's thread. Queued
 * entries must have been served or aborted (they are dropped with an error log).
 */
void osp_iobuf_channel_fini(struct osp_iobuf_channel *ch);

/*
 * count buffers, all or nothing, on ch's thread. Returns 0 with bufs[0..count)
 * filled. Otherwise, when entry is not NULL, entry is queued behind any
 * earlier one of this channel (first come, first served) and -EAGAIN is
 * returned; cb_fn(entry, bufs) runs later on this thread, from the
 * channel's poller, never from inside a get, put or abort; bufs must stay valid until
 * then. With entry NULL nothing is queued and nothing is held: -EAGAIN means
 * try again later. -EINVAL if count is 0 or above the pool's reserve.
 */
int osp_iobuf_get_bulk(struct osp_iobuf_channel *ch, void **bufs, uint32_t count,
		       struct osp_iobuf_entry *entry, osp_iobuf_get_cb cb_fn);

/*
 * One buffer: returned at once, or NULL after queueing entry (if not NULL);
 * cb_fn(entry, &entry->one) runs when one is free.
 */
void *osp_iobuf_get(struct osp_iobuf_channel *ch, struct osp_iobuf_entry *entry,
		    osp_iobuf_get_cb cb_fn);

/*
 * Give a buffer back on ch's thread. While entries of this channel wait, it
 * stays on this thread (cache, or the shared part if the cache is full) and
 * the channel's poller hands it to the oldest entry on its next run (never a
 * callback from inside the put). Otherwise it goes to the cache, or to the
 * shared part when the cache is full or another thread of the pool waits.
 */
void osp_iobuf_put(struct osp_iobuf_channel *ch, void *buf);

/* Remove a queued entry (its owner goes away); no-op if not queued on ch. */
void osp_iobuf_entry_abort(struct osp_iobuf_channel *ch, struct osp_iobuf_entry *entry);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_IOBUF_H */

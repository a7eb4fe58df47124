/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O buffer pools and per-thread channels (include/osprey/iobuf.h).
 *
 * It lives in lib/thread because a channel is per-thread state with a
 * poller, and every library that moves data (bdev, nvmf, and next iscsi,
 * vhost, rdma) already sits above lib/thread; a library of its own would be
 * one more archive for each of them to declare and link for ~400 lines.
 *
 * A pool is a region of buffers and an MP/MC ring of the free ones (the
 * "shared part"). A channel keeps a LIFO cache of buffers of its thread and
 * a FIFO of waiting entries. The invariant (see the header): granted cache
 * sizes sum to at most count - reserve, so `reserve` buffers always circulate
 * outside caches; and while any channel waits, puts of other channels go to
 * the ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "osprey/env.h"
#include "osprey/iobuf.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

/* Buffers moved between a cache and the ring at once. */
#define IOBUF_BATCH	32

struct osp_iobuf_pool {
	char name[64];
	uint32_t bufsize;
	uint32_t count;
	uint32_t reserve;
	size_t stride;
	uint8_t *region;
	size_t region_len;
	bool mmapped;
	struct osp_ring *ring;
	/* Written only on slow paths; read (relaxed) by every put. */
	_Atomic uint32_t waiting;
	_Atomic uint64_t cache_granted;
	_Atomic uint64_t waits;
	_Atomic uint64_t shared_gets;
	_Atomic bool clamp_logged;
	TAILQ_ENTRY(osp_iobuf_pool) link;
};

static struct {
	pthread_mutex_t mutex;
	TAILQ_HEAD(, osp_iobuf_pool) pools;
	struct osp_iobuf_opts opts;
	uint32_t refs;
	struct osp_iobuf_pool *small;
	struct osp_iobuf_pool *large;
} g_iobuf = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.pools = TAILQ_HEAD_INITIALIZER(g_iobuf.pools),
	.opts = {
		.opts_size = sizeof(struct osp_iobuf_opts),
		.small_pool_count = OSP_IOBUF_SMALL_POOL_COUNT_DEFAULT,
		.large_pool_count = OSP_IOBUF_LARGE_POOL_COUNT_DEFAULT,
		.small_bufsize = OSP_IOBUF_SMALL_BUFSIZE_DEFAULT,
		.large_bufsize = OSP_IOBUF_LARGE_BUFSIZE_DEFAULT,
	},
};

/* ---------------------------------------------------------------- options */

void
osp_iobuf_get_opts(struct osp_iobuf_opts *opts, size_t opts_size)
{
	struct osp_iobuf_opts cur;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	pthread_mutex_lock(&g_iobuf.mutex);
	cur = g_iobuf.opts;
	pthread_mutex_unlock(&g_iobuf.mutex);
	cur.opts_size = opts_size;
	memcpy(opts, &cur, OSP_MIN(opts_size, sizeof(cur)));
}

int
osp_iobuf_set_opts(const struct osp_iobuf_opts *opts, char *err, size_t errlen)
{
	struct osp_iobuf_opts tmp;
	char dummy[8];
	int rc = 0;

	if (err == NULL) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (opts == NULL || opts->opts_size == 0) {
		snprintf(err, errlen, "no options");
		return -EINVAL;
	}
	pthread_mutex_lock(&g_iobuf.mutex);
	tmp = g_iobuf.opts;
	memcpy(&tmp, opts, OSP_MIN(opts->opts_size, sizeof(tmp)));
	tmp.opts_size = sizeof(tmp);
	if (g_iobuf.refs > 0) {
		snprintf(err, errlen, "iobuf options can only be changed at start-up, before the "
			 "buffer pools exist (--wait-for-rpc or the JSON config)");
		rc = -EPERM;
	} else if (tmp.small_pool_count == 0 || tmp.small_pool_count > OSP_IOBUF_SMALL_POOL_COUNT_MAX) {
		snprintf(err, errlen, "small_pool_count %" PRIu64 " must be between 1 and %u",
			 tmp.small_pool_count, OSP_IOBUF_SMALL_POOL_COUNT_MAX);
		rc = -EINVAL;
	} else if (tmp.large_pool_count == 0 || tmp.large_pool_count > OSP_IOBUF_LARGE_POOL_COUNT_MAX) {
		snprintf(err, errlen, "large_pool_count %" PRIu64 " must be between 1 and %u",
			 tmp.large_pool_count, OSP_IOBUF_LARGE_POOL_COUNT_MAX);
		rc = -EINVAL;
	} else if (tmp.small_bufsize < OSP_IOBUF_SMALL_BUFSIZE_DEFAULT ||
		   tmp.large_bufsize < OSP_IOBUF_LARGE_BUFSIZE_DEFAULT ||
		   tmp.large_bufsize > OSP_IOBUF_BUFSIZE_MAX || tmp.small_bufsize > tmp.large_bufsize) {
		snprintf(err, errlen, "small_bufsize %u / large_bufsize %u: need %u <= small_bufsize "
			 "<= large_bufsize and %u <= large_bufsize <= %u", tmp.small_bufsize,
			 tmp.large_bufsize, OSP_IOBUF_SMALL_BUFSIZE_DEFAULT,
			 OSP_IOBUF_LARGE_BUFSIZE_DEFAULT, OSP_IOBUF_BUFSIZE_MAX);
		rc = -EINVAL;
	} else {
		g_iobuf.opts = tmp;
	}
	pthread_mutex_unlock(&g_iobuf.mutex);
	return rc;
}

/* ---------------------------------------------------------------- pools */

static void *
iobuf_region_alloc(size_t len, bool *mmapped)
{
	void *p;

	/*
	 * DMA memory only pays off on hugepages: without them the env's memory
	 * is anonymous memory with IOVA = VA too, and a DPDK allocation of the
	 * default pools (192 MiB) would be zeroed page by page when freed.
	 * Anonymous memory is committed only as buffers are first used.
	 */
	*mmapped = false;
	if (osp_env_uses_hugepages()) {
		p = osp_dma_malloc(len, OSP_IOBUF_ALIGN, NULL);
		if (p != NULL) {
			return p;
		}
		OSP_NOTICELOG("buffer pool (%zu MiB) does not fit in DMA memory: using ordinary "
			      "memory\n", len >> 20);
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		return NULL;
	}
	*mmapped = true;
	return p;
}

static void
iobuf_region_free(void *p, size_t len, bool mmapped)
{
	if (p == NULL) {
		return;
	}
	if (mmapped) {
		munmap(p, len);
	} else {
		osp_dma_free(p);
	}
}

struct osp_iobuf_pool *
osp_iobuf_pool_create(const char *name, uint32_t bufsize, uint32_t count, uint32_t reserve)
{
	struct osp_iobuf_pool *pool;
	void *batch[64];
	uint32_t i, n = 0;
	uint64_t size;

	if (count == 0 || reserve == 0 || reserve > count || bufsize == 0 ||
	    bufsize > OSP_IOBUF_BUFSIZE_MAX) {
		OSP_ERRLOG("iobuf pool %s: invalid count %u, reserve %u or bufsize %u\n",
			   name != NULL ? name : "", count, reserve, bufsize);
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		return NULL;
	}
	snprintf(pool->name, sizeof(pool->name), "%s", name != NULL ? name : "iobuf");
	size = ((uint64_t)bufsize + OSP_IOBUF_ALIGN - 1) & ~(uint64_t)(OSP_IOBUF_ALIGN - 1);
	pool->bufsize = (uint32_t)size;
	pool->count = count;
	pool->reserve = reserve;
	/*
	 * Large buffers a power-of-two apart would all start in the same cache
	 * sets (a 4 KiB read touches the first page of each): one extra page
	 * per buffer shifts each one, as DPDK's mempool spreads its objects.
	 */
	pool->stride = size >= 32768 ? size + OSP_IOBUF_ALIGN : size;
	pool->region_len = pool->stride * count;
	pool->region = iobuf_region_alloc(pool->region_len, &pool->mmapped);
	pool->ring = osp_ring_create(OSP_RING_TYPE_MP_MC, osp_align64pow2((uint64_t)count + 1),
				     OSP_ENV_SOCKET_ID_ANY);
	if (pool->region == NULL || pool->ring == NULL) {
		OSP_ERRLOG("cannot allocate buffer pool %s (%u buffers of %u bytes, %zu MiB)\n",
			   pool->name, count, pool->bufsize, pool->region_len >> 20);
		goto fail;
	}
	for (i = 0; i < count; i++) {
		batch[n++] = pool->region + (size_t)i * pool->stride;
		if (n == OSP_COUNTOF(batch) || i + 1 == count) {
			if (osp_ring_enqueue(pool->ring, batch, n, NULL) != n) {
				goto fail;
			}
			n = 0;
		}
	}
	pthread_mutex_lock(&g_iobuf.mutex);
	TAILQ_INSERT_TAIL(&g_iobuf.pools, pool, link);
	pthread_mutex_unlock(&g_iobuf.mutex);
	return pool;
fail:
	if (pool->ring != NULL) {
		osp_ring_free(pool->ring);
	}
	iobuf_region_free(pool->region, pool->region_len, pool->mmapped);
	free(pool);
	return NULL;
}

void
osp_iobuf_pool_free(struct osp_iobuf_pool *pool)
{
	size_t left;

	if (pool == NULL) {
		return;
	}
	pthread_mutex_lock(&g_iobuf.mutex);
	TAILQ_REMOVE(&g_iobuf.pools, pool, link);
	pthread_mutex_unlock(&g_iobuf.mutex);
	left = osp_ring_count(pool->ring);
	if (left != pool->count) {
		OSP_ERRLOG("buffer pool %s freed with %zu of %u buffers in use\n", pool->name,
			   pool->count - left, pool->count);
	}
	if (atomic_load(&pool->cache_granted) != 0) {
		OSP_ERRLOG("buffer pool %s freed with channels\n", pool->name);
	}
	osp_ring_free(pool->ring);
	iobuf_region_free(pool->region, pool->region_len, pool->mmapped);
	free(pool);
}

const char *
osp_iobuf_pool_get_name(const struct osp_iobuf_pool *pool)
{
	return pool->name;
}

uint32_t
osp_iobuf_pool_get_bufsize(const struct osp_iobuf_pool *pool)
{
	return pool->bufsize;
}

uint32_t
osp_iobuf_pool_get_count(const struct osp_iobuf_pool *pool)
{
	return pool->count;
}

size_t
osp_iobuf_pool_get_free(const struct osp_iobuf_pool *pool)
{
	return osp_ring_count(pool->ring);
}

uint64_t
osp_iobuf_pool_get_cache_granted(const struct osp_iobuf_pool *pool)
{
	return atomic_load_explicit(&pool->cache_granted, memory_order_relaxed);
}

void *
osp_iobuf_pool_get(struct osp_iobuf_pool *pool)
{
	void *buf;

	return osp_ring_dequeue(pool->ring, &buf, 1) == 1 ? buf : NULL;
}

void
osp_iobuf_pool_put(struct osp_iobuf_pool *pool, void *buf)
{
	if (buf != NULL) {
		osp_ring_enqueue(pool->ring, &buf, 1, NULL);
	}
}

void
osp_iobuf_pool_foreach(void (*cb)(struct osp_iobuf_pool *pool, void *arg), void *arg)
{
	struct osp_iobuf_pool *pool;

	pthread_mutex_lock(&g_iobuf.mutex);
	TAILQ_FOREACH(pool, &g_iobuf.pools, link) {
		cb(pool, arg);
	}
	pthread_mutex_unlock(&g_iobuf.mutex);
}

void
osp_iobuf_pool_get_stats(const struct osp_iobuf_pool *pool, struct osp_iobuf_pool_stats *st)
{
	st->waits = atomic_load_explicit(&pool->waits, memory_order_relaxed);
	st->shared_gets = atomic_load_explicit(&pool->shared_gets, memory_order_relaxed);
	st->waiting_channels = atomic_load_explicit(&pool->waiting, memory_order_relaxed);
}

/* ---------------------------------------------------------------- global pools */

int
osp_iobuf_initialize(void)
{
	int rc = 0;

	pthread_mutex_lock(&g_iobuf.mutex);
	if (g_iobuf.refs++ > 0) {
		pthread_mutex_unlock(&g_iobuf.mutex);
		return 0;
	}
	pthread_mutex_unlock(&g_iobuf.mutex);
	/* Pool creation takes the mutex itself; refs > 0 already keeps options fixed. */
	g_iobuf.small = osp_iobuf_pool_create("iobuf_small", g_iobuf.opts.small_bufsize,
					      (uint32_t)g_iobuf.opts.small_pool_count, 1);
	g_iobuf.large = osp_iobuf_pool_create("iobuf_large", g_iobuf.opts.large_bufsize,
					      (uint32_t)g_iobuf.opts.large_pool_count, 1);
	if (g_iobuf.small == NULL || g_iobuf.large == NULL) {
		osp_iobuf_pool_free(g_iobuf.small);
		osp_iobuf_pool_free(g_iobuf.large);
		g_iobuf.small = g_iobuf.large = NULL;
		pthread_mutex_lock(&g_iobuf.mutex);
		g_iobuf.refs--;
		pthread_mutex_unlock(&g_iobuf.mutex);
		rc = -ENOMEM;
	}
	return rc;
}

void
osp_iobuf_finish(void)
{
	struct osp_iobuf_pool *small, *large;

	pthread_mutex_lock(&g_iobuf.mutex);
	if (g_iobuf.refs == 0 || --g_iobuf.refs > 0) {
		pthread_mutex_unlock(&g_iobuf.mutex);
		return;
	}
	small = g_iobuf.small;
	large = g_iobuf.large;
	g_iobuf.small = g_iobuf.large = NULL;
	pthread_mutex_unlock(&g_iobuf.mutex);
	osp_iobuf_pool_free(small);
	osp_iobuf_pool_free(large);
}

struct osp_iobuf_pool *
osp_iobuf_get_pool(size_t len)
{
	if (g_iobuf.small == NULL) {
		return NULL;
	}
	if (len <= g_iobuf.small->bufsize) {
		return g_iobuf.small;
	}
	return len <= g_iobuf.large->bufsize ? g_iobuf.large : NULL;
}

/* ---------------------------------------------------------------- channels */

static int iobuf_channel_poll(void *arg);

int
osp_iobuf_channel_init(struct osp_iobuf_channel *ch, struct osp_iobuf_pool *pool,
		       uint32_t cache_size)
{
	uint64_t cur, want, room;

	memset(ch, 0, sizeof(*ch));
	if (pool == NULL) {
		return -EINVAL;
	}
	/* Grant what the invariant leaves: sum of caches <= count - reserve. */
	cur = atomic_load(&pool->cache_granted);
	do {
		room = pool->count - pool->reserve;
		room = cur < room ? room - cur : 0;
		want = OSP_MIN((uint64_t)cache_size, room);
	} while (!atomic_compare_exchange_weak(&pool->cache_granted, &cur, cur + want));
	if (want < cache_size && !atomic_exchange(&pool->clamp_logged, true)) {
		OSP_WARNLOG("buffer pool %s (%u buffers): a per-thread cache of %u would let the "
			    "caches pin the pool; this thread caches %" PRIu64 " (raise the pool's "
			    "count or lower the cache size)\n", pool->name, pool->count, cache_size,
			    want);
	}
	ch->pool = pool;
	ch->cache_size = (uint32_t)want;
	ch->thread = osp_get_thread();
	STAILQ_INIT(&ch->waitq);
	ch->cache = calloc(ch->cache_size + 1, sizeof(void *));
	ch->poller = OSP_POLLER_REGISTER(iobuf_channel_poll, ch, 0);
	if (ch->cache == NULL || ch->poller == NULL) {
		osp_poller_unregister(&ch->poller);
		free(ch->cache);
		atomic_fetch_sub(&pool->cache_granted, want);
		memset(ch, 0, sizeof(*ch));
		return -ENOMEM;
	}
	osp_poller_pause(ch->poller);
	return 0;
}

static void
iobuf_stop_waiting(struct osp_iobuf_channel *ch)
{
	if (ch->waiting) {
		ch->waiting = false;
		atomic_fetch_sub_explicit(&ch->pool->waiting, 1, memory_order_relaxed);
		osp_poller_pause(ch->poller);
	}
}

void
osp_iobuf_channel_fini(struct osp_iobuf_channel *ch)
{
	struct osp_iobuf_entry *e;

	if (ch->pool == NULL) {
		return;
	}
	while ((e = STAILQ_FIRST(&ch->waitq)) != NULL) {
		OSP_ERRLOG("buffer pool %s: a request still waits at channel release\n",
			   ch->pool->name);
		STAILQ_REMOVE_HEAD(&ch->waitq, link);
	}
	iobuf_stop_waiting(ch);
	if (ch->cache_count > 0) {
		osp_ring_enqueue(ch->pool->ring, ch->cache, ch->cache_count, NULL);
	}
	atomic_fetch_sub(&ch->pool->cache_granted, ch->cache_size);
	osp_poller_unregister(&ch->poller);
	free(ch->cache);
	memset(ch, 0, sizeof(*ch));
}

/* Refill the cache from the ring, unless another thread starves. */
static void
iobuf_refill(struct osp_iobuf_channel *ch)
{
	uint32_t want = OSP_MIN((uint32_t)IOBUF_BATCH, ch->cache_size - ch->cache_count);
	uint32_t waiting = atomic_load_explicit(&ch->pool->waiting, memory_order_relaxed);
	size_t got;

	if (want == 0 || waiting > (ch->waiting ? 1u : 0u)) {
		return;
	}
	got = osp_ring_dequeue(ch->pool->ring, ch->cache + ch->cache_count, want);
	if (got > 0) {
		ch->cache_count += (uint32_t)got;
		atomic_fetch_add_explicit(&ch->pool->shared_gets, 1, memory_order_relaxed);
	}
}

/* All or nothing: count buffers from the cache, then the ring. */
static bool
iobuf_take(struct osp_iobuf_channel *ch, void **bufs, uint32_t count)
{
	uint32_t have, need;
	size_t got;

	if (ch->cache_count < count) {
		iobuf_refill(ch);
	}
	if (osp_likely(ch->cache_count >= count)) {
		ch->cache_count -= count;
		memcpy(bufs, ch->cache + ch->cache_count, count * sizeof(void *));
		return true;
	}
	/* The cache (maybe of size 0) cannot cover it: the rest straight from the ring. */
	have = ch->cache_count;
	need = count - have;
	got = osp_ring_dequeue(ch->pool->ring, bufs + have, need);
	if (got < need) {
		if (got > 0) {
			osp_ring_enqueue(ch->pool->ring, bufs + have, got, NULL);
		}
		return false;
	}
	memcpy(bufs, ch->cache, have * sizeof(void *));
	ch->cache_count = 0;
	return true;
}

/* Serve queued entries, oldest first, as long as buffers last. Returns how many. */
static int
iobuf_serve(struct osp_iobuf_channel *ch)
{
	struct osp_iobuf_entry *e;
	int n = 0;

	while ((e = STAILQ_FIRST(&ch->waitq)) != NULL && iobuf_take(ch, e->bufs, e->count)) {
		STAILQ_REMOVE_HEAD(&ch->waitq, link);
		n++;
		e->cb_fn(e, e->bufs);
	}
	if (STAILQ_EMPTY(&ch->waitq)) {
		iobuf_stop_waiting(ch);
	}
	return n;
}

/*
 * Runs only while entries wait (paused otherwise): buffers put back by
 * other threads land in the ring. It reports busy while anyone waits so
 * that the reactor does not sleep on a starving thread; nothing would wake it.
 */
static int
iobuf_channel_poll(void *arg)
{
	struct osp_iobuf_channel *ch = arg;

	iobuf_serve(ch);
	return STAILQ_EMPTY(&ch->waitq) ? OSP_POLLER_IDLE : OSP_POLLER_BUSY;
}

int
osp_iobuf_get_bulk(struct osp_iobuf_channel *ch, void **bufs, uint32_t count,
		   struct osp_iobuf_entry *entry, osp_iobuf_get_cb cb_fn)
{
	if (osp_unlikely(count == 0 || count > ch->pool->reserve)) {
		return -EINVAL;
	}
	/* First come, first served: nobody overtakes an entry already waiting. */
	if (osp_likely(STAILQ_EMPTY(&ch->waitq)) && iobuf_take(ch, bufs, count)) {
		return 0;
	}
	if (entry == NULL) {
		return -EAGAIN;
	}
	entry->cb_fn = cb_fn;
	entry->bufs = bufs;
	entry->count = count;
	STAILQ_INSERT_TAIL(&ch->waitq, entry, link);
	atomic_fetch_add_explicit(&ch->pool->waits, 1, memory_order_relaxed);
	if (!ch->waiting) {
		ch->waiting = true;
		atomic_fetch_add_explicit(&ch->pool->waiting, 1, memory_order_relaxed);
		osp_poller_resume(ch->poller);
	}
	return -EAGAIN;
}

void *
osp_iobuf_get(struct osp_iobuf_channel *ch, struct osp_iobuf_entry *entry, osp_iobuf_get_cb cb_fn)
{
	void *buf;

	if (osp_likely(STAILQ_EMPTY(&ch->waitq) && ch->cache_count > 0)) {
		return ch->cache[--ch->cache_count];
	}
	if (entry != NULL) {
		entry->one = NULL;
		return osp_iobuf_get_bulk(ch, &entry->one, 1, entry, cb_fn) == 0 ? entry->one : NULL;
	}
	return osp_iobuf_get_bulk(ch, &buf, 1, NULL, NULL) == 0 ? buf : NULL;
}

static void
iobuf_put_slow(struct osp_iobuf_channel *ch, void *buf)
{
	struct osp_iobuf_pool *pool = ch->pool;
	uint32_t keep;

	if (!STAILQ_EMPTY(&ch->waitq)) {
		/*
		 * Kept on this thread for our own oldest waiter, which the poller
		 * serves on its next run: a callback from inside a put would run a
		 * request in the middle of whatever completed the last one.
		 */
		if (ch->cache_count < ch->cache_size) {
			ch->cache[ch->cache_count++] = buf;
		} else {
			osp_ring_enqueue(pool->ring, &buf, 1, NULL);
		}
		return;
	}
	if (atomic_load_explicit(&pool->waiting, memory_order_relaxed) > 0) {
		/* Another thread starves: this buffer and our cache go to the shared part. */
		ch->cache[ch->cache_count++] = buf;
		osp_ring_enqueue(pool->ring, ch->cache, ch->cache_count, NULL);
		ch->cache_count = 0;
		return;
	}
	if (ch->cache_size == 0) {
		osp_ring_enqueue(pool->ring, &buf, 1, NULL);
		return;
	}
	/* Cache full: hand the older half back to the shared part. */
	keep = ch->cache_size / 2;
	osp_ring_enqueue(pool->ring, ch->cache, ch->cache_count - keep, NULL);
	memmove(ch->cache, ch->cache + (ch->cache_count - keep), keep * sizeof(void *));
	ch->cache_count = keep;
	ch->cache[ch->cache_count++] = buf;
}

void
osp_iobuf_put(struct osp_iobuf_channel *ch, void *buf)
{
	if (osp_likely(STAILQ_EMPTY(&ch->waitq) && ch->cache_count < ch->cache_size &&
		       atomic_load_explicit(&ch->pool->waiting, memory_order_relaxed) == 0)) {
		ch->cache[ch->cache_count++] = buf;
		return;
	}
	iobuf_put_slow(ch, buf);
}

void
osp_iobuf_entry_abort(struct osp_iobuf_channel *ch, struct osp_iobuf_entry *entry)
{
	struct osp_iobuf_entry *e;

	STAILQ_FOREACH(e, &ch->waitq, link) {
		if (e == entry) {
			STAILQ_REMOVE(&ch->waitq, entry, osp_iobuf_entry, link);
			break;
		}
	}
	/* Others still queued are served by the poller, not from inside this call. */
	if (STAILQ_EMPTY(&ch->waitq)) {
		iobuf_stop_waiting(ch);
	}
}

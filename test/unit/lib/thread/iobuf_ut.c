/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/thread/iobuf.c: pools, per-thread channels, the cache
 * clamp that keeps caches from pinning a pool, waiters (first come, first
 * served, all or nothing, called back from the channel's poller only), and
 * a starving thread getting buffers back from another thread's cache.
 * Threads are the deterministic test harness (test/common/ut_thread.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "thread/thread.c"
#include "thread/iobuf.c"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"

struct waiter {
	struct osp_iobuf_entry entry;
	void *bufs[8];
	int calls;
	int order;
};

static int g_order;

static void
waiter_cb(struct osp_iobuf_entry *entry, void **bufs)
{
	struct waiter *w = OSP_CONTAINEROF(entry, struct waiter, entry);

	CU_ASSERT(bufs == w->bufs || bufs == &entry->one);
	w->calls++;
	w->order = ++g_order;
}

static void
test_pool_create_invalid(void)
{
	struct osp_iobuf_pool *pool;

	CU_ASSERT(osp_iobuf_pool_create("bad", 4096, 0, 1) == NULL);
	CU_ASSERT(osp_iobuf_pool_create("bad", 4096, 4, 0) == NULL);
	CU_ASSERT(osp_iobuf_pool_create("bad", 4096, 4, 5) == NULL);
	CU_ASSERT(osp_iobuf_pool_create("bad", 0, 4, 1) == NULL);
	pool = osp_iobuf_pool_create("ok", 1000, 4, 4);
	CU_ASSERT_FATAL(pool != NULL);
	/* Rounded up to the alignment. */
	CU_ASSERT(osp_iobuf_pool_get_bufsize(pool) == 4096);
	CU_ASSERT(osp_iobuf_pool_get_count(pool) == 4);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 4);
	osp_iobuf_pool_free(pool);
}

static void
test_get_put_cache(void)
{
	struct osp_iobuf_pool *pool;
	struct osp_iobuf_channel ch;
	void *b[16];
	int i, j;

	CU_ASSERT_FATAL(ut_allocate_threads(1) == 0);
	ut_set_thread(0);
	pool = osp_iobuf_pool_create("cache", 8192, 16, 1);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch, pool, 4) == 0);
	CU_ASSERT(ch.cache_size == 4 && ch.cache_count == 0);
	/* The cache fills as buffers are used, never ahead. */
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 16);
	for (i = 0; i < 16; i++) {
		b[i] = osp_iobuf_get(&ch, NULL, NULL);
		CU_ASSERT_FATAL(b[i] != NULL);
		CU_ASSERT(((uintptr_t)b[i] & (OSP_IOBUF_ALIGN - 1)) == 0);
		memset(b[i], i, 8192);
		for (j = 0; j < i; j++) {
			CU_ASSERT(b[i] != b[j]);
		}
	}
	CU_ASSERT(osp_iobuf_get(&ch, NULL, NULL) == NULL);
	CU_ASSERT(osp_iobuf_get_bulk(&ch, b, 1, NULL, NULL) == -EAGAIN);
	for (i = 0; i < 16; i++) {
		osp_iobuf_put(&ch, b[i]);
	}
	CU_ASSERT(ch.cache_count <= ch.cache_size);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) + ch.cache_count == 16);
	/* A cache hit: the last buffer put comes back first. */
	b[0] = osp_iobuf_get(&ch, NULL, NULL);
	osp_iobuf_put(&ch, b[0]);
	CU_ASSERT(osp_iobuf_get(&ch, NULL, NULL) == b[0]);
	osp_iobuf_put(&ch, b[0]);
	osp_iobuf_channel_fini(&ch);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 16);
	CU_ASSERT(osp_iobuf_pool_get_cache_granted(pool) == 0);
	osp_iobuf_pool_free(pool);
	ut_free_threads();
}

static void
test_cache_clamp(void)
{
	struct osp_iobuf_pool *pool;
	struct osp_iobuf_channel ch0, ch1, ch2;

	CU_ASSERT_FATAL(ut_allocate_threads(1) == 0);
	ut_set_thread(0);
	pool = osp_iobuf_pool_create("clamp", 4096, 64, 2);
	CU_ASSERT_FATAL(pool != NULL);
	/* Caches together leave at least reserve buffers: 64 - 2. */
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch0, pool, 40) == 0);
	CU_ASSERT(ch0.cache_size == 40);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch1, pool, 64) == 0);
	CU_ASSERT(ch1.cache_size == 22);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch2, pool, 8) == 0);
	CU_ASSERT(ch2.cache_size == 0);
	CU_ASSERT(osp_iobuf_pool_get_cache_granted(pool) == 62);
	osp_iobuf_channel_fini(&ch0);
	CU_ASSERT(osp_iobuf_pool_get_cache_granted(pool) == 22);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch0, pool, 8) == 0);
	CU_ASSERT(ch0.cache_size == 8);
	osp_iobuf_channel_fini(&ch0);
	osp_iobuf_channel_fini(&ch1);
	osp_iobuf_channel_fini(&ch2);
	CU_ASSERT(osp_iobuf_pool_get_cache_granted(pool) == 0);
	osp_iobuf_pool_free(pool);
	ut_free_threads();
}

/*
 * The issue 7 hang, at the unit level: two threads, a pool of 8, each asking
 * for a cache of 8. Thread 0 uses every buffer; thread 1 waits. Thread 0's
 * caches may not keep them: thread 1 is served when thread 0 puts them back.
 */
static void
test_starving_thread_served(void)
{
	struct osp_iobuf_pool *pool;
	struct osp_iobuf_channel ch0, ch1;
	struct waiter w = {};
	void *b[8];
	int i;

	CU_ASSERT_FATAL(ut_allocate_threads(2) == 0);
	pool = osp_iobuf_pool_create("starve", 4096, 8, 1);
	CU_ASSERT_FATAL(pool != NULL);
	ut_set_thread(0);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch0, pool, 8) == 0);
	ut_set_thread(1);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch1, pool, 8) == 0);
	CU_ASSERT(ch0.cache_size + ch1.cache_size <= 8 - 1);

	/* Thread 0 cycles every buffer once while nobody waits: its cache stays bounded. */
	ut_set_thread(0);
	for (i = 0; i < 8; i++) {
		b[i] = osp_iobuf_get(&ch0, NULL, NULL);
		CU_ASSERT_FATAL(b[i] != NULL);
	}
	for (i = 0; i < 8; i++) {
		osp_iobuf_put(&ch0, b[i]);
	}
	CU_ASSERT(ch0.cache_count <= ch0.cache_size);
	/* Thread 0 idle with a full cache: thread 1 still finds a buffer at once. */
	ut_set_thread(1);
	b[0] = osp_iobuf_get(&ch1, NULL, NULL);
	CU_ASSERT_FATAL(b[0] != NULL);
	osp_iobuf_put(&ch1, b[0]);

	/* Now thread 0 holds all 8 in I/O; thread 1 must wait. */
	CU_ASSERT(ch1.cache_count == 0);
	ut_set_thread(0);
	for (i = 0; i < 8; i++) {
		b[i] = osp_iobuf_get(&ch0, NULL, NULL);
		CU_ASSERT_FATAL(b[i] != NULL);
	}
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_iobuf_get(&ch1, &w.entry, waiter_cb) == NULL);
	CU_ASSERT(w.calls == 0);
	CU_ASSERT(ch1.waiting && atomic_load(&pool->waiting) == 1);
	ut_poll_thread(1);
	CU_ASSERT(w.calls == 0);
	/* Thread 0 completes its I/O: with a waiter elsewhere, nothing stays in its cache. */
	ut_set_thread(0);
	for (i = 0; i < 8; i++) {
		osp_iobuf_put(&ch0, b[i]);
	}
	CU_ASSERT(ch0.cache_count == 0);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 8);
	ut_poll_thread(1);
	CU_ASSERT(w.calls == 1 && w.entry.one != NULL);
	CU_ASSERT(!ch1.waiting && atomic_load(&pool->waiting) == 0);
	ut_set_thread(1);
	osp_iobuf_put(&ch1, w.entry.one);
	osp_iobuf_channel_fini(&ch1);
	ut_set_thread(0);
	osp_iobuf_channel_fini(&ch0);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) == 8);
	osp_iobuf_pool_free(pool);
	ut_free_threads();
}

static void
test_waiters_fifo_bulk(void)
{
	struct osp_iobuf_pool *pool;
	struct osp_iobuf_channel ch;
	struct waiter a = {}, b = {}, c = {};
	void *held[4];

	CU_ASSERT_FATAL(ut_allocate_threads(1) == 0);
	ut_set_thread(0);
	pool = osp_iobuf_pool_create("fifo", 4096, 4, 3);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch, pool, 4) == 0);
	CU_ASSERT(ch.cache_size == 1);
	/* More than reserve can never be guaranteed; 0 is meaningless. */
	CU_ASSERT(osp_iobuf_get_bulk(&ch, held, 4, &a.entry, waiter_cb) == -EINVAL);
	CU_ASSERT(osp_iobuf_get_bulk(&ch, held, 0, &a.entry, waiter_cb) == -EINVAL);

	CU_ASSERT(osp_iobuf_get_bulk(&ch, held, 3, NULL, NULL) == 0);
	/* All or nothing: 2 wanted, 1 free: queued, nothing taken. */
	CU_ASSERT(osp_iobuf_get_bulk(&ch, a.bufs, 2, &a.entry, waiter_cb) == -EAGAIN);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) + ch.cache_count == 1);
	/* First come, first served: one is free but b queues behind a. */
	CU_ASSERT(osp_iobuf_get_bulk(&ch, b.bufs, 1, &b.entry, waiter_cb) == -EAGAIN);
	CU_ASSERT(osp_iobuf_get(&ch, &c.entry, waiter_cb) == NULL);
	CU_ASSERT(osp_iobuf_get(&ch, NULL, NULL) == NULL);
	ut_poll_thread(0);
	CU_ASSERT(a.calls == 0 && b.calls == 0 && c.calls == 0);
	/* A put never calls back from inside itself: the poller does. */
	osp_iobuf_put(&ch, held[0]);
	CU_ASSERT(a.calls == 0);
	ut_poll_thread(0);
	CU_ASSERT(a.calls == 1 && b.calls == 0);
	CU_ASSERT(a.bufs[0] != NULL && a.bufs[1] != NULL && a.bufs[0] != a.bufs[1]);
	osp_iobuf_put(&ch, held[1]);
	osp_iobuf_put(&ch, held[2]);
	ut_poll_thread(0);
	CU_ASSERT(b.calls == 1 && c.calls == 1 && b.order < c.order);
	CU_ASSERT(!ch.waiting);
	osp_iobuf_put(&ch, a.bufs[0]);
	osp_iobuf_put(&ch, a.bufs[1]);
	osp_iobuf_put(&ch, b.bufs[0]);
	osp_iobuf_put(&ch, c.entry.one);
	CU_ASSERT(osp_iobuf_pool_get_free(pool) + ch.cache_count == 4);
	osp_iobuf_channel_fini(&ch);
	osp_iobuf_pool_free(pool);
	ut_free_threads();
}

static void
test_abort(void)
{
	struct osp_iobuf_pool *pool;
	struct osp_iobuf_channel ch;
	struct waiter a = {}, b = {};
	void *held;

	CU_ASSERT_FATAL(ut_allocate_threads(1) == 0);
	ut_set_thread(0);
	pool = osp_iobuf_pool_create("abort", 4096, 1, 1);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT_FATAL(osp_iobuf_channel_init(&ch, pool, 4) == 0);
	CU_ASSERT(ch.cache_size == 0);
	held = osp_iobuf_get(&ch, NULL, NULL);
	CU_ASSERT_FATAL(held != NULL);
	CU_ASSERT(osp_iobuf_get(&ch, &a.entry, waiter_cb) == NULL);
	CU_ASSERT(osp_iobuf_get(&ch, &b.entry, waiter_cb) == NULL);
	CU_ASSERT(osp_thread_has_active_pollers(ut_thread(0)) == 1);
	osp_iobuf_entry_abort(&ch, &a.entry);
	/* Aborting what is not queued is harmless. */
	osp_iobuf_entry_abort(&ch, &a.entry);
	CU_ASSERT(ch.waiting);
	osp_iobuf_put(&ch, held);
	ut_poll_thread(0);
	CU_ASSERT(a.calls == 0 && b.calls == 1);
	CU_ASSERT(!ch.waiting && atomic_load(&pool->waiting) == 0);
	/* Nobody waits: the poller is paused, the thread can sleep. */
	CU_ASSERT(osp_thread_has_active_pollers(ut_thread(0)) == 0);
	CU_ASSERT(osp_iobuf_get(&ch, &a.entry, waiter_cb) == NULL);
	osp_iobuf_entry_abort(&ch, &a.entry);
	CU_ASSERT(!ch.waiting && atomic_load(&pool->waiting) == 0);
	CU_ASSERT(osp_thread_has_active_pollers(ut_thread(0)) == 0);
	osp_iobuf_put(&ch, b.entry.one);
	osp_iobuf_channel_fini(&ch);
	osp_iobuf_pool_free(pool);
	ut_free_threads();
}

static void
test_global_opts(void)
{
	struct osp_iobuf_opts o, saved;
	struct osp_iobuf_pool *small, *large;
	char err[256];

	osp_iobuf_get_opts(&saved, sizeof(saved));
	CU_ASSERT(saved.small_pool_count == OSP_IOBUF_SMALL_POOL_COUNT_DEFAULT);
	CU_ASSERT(saved.large_bufsize == OSP_IOBUF_LARGE_BUFSIZE_DEFAULT);
	o = saved;
	o.small_pool_count = 0;
	CU_ASSERT(osp_iobuf_set_opts(&o, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "small_pool_count") != NULL);
	o = saved;
	o.large_pool_count = (uint64_t)OSP_IOBUF_LARGE_POOL_COUNT_MAX + 1;
	CU_ASSERT(osp_iobuf_set_opts(&o, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "large_pool_count") != NULL);
	o = saved;
	o.large_bufsize = 65536;
	CU_ASSERT(osp_iobuf_set_opts(&o, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "large_bufsize") != NULL);
	o = saved;
	o.small_bufsize = 256 * 1024;
	CU_ASSERT(osp_iobuf_set_opts(&o, NULL, 0) == -EINVAL);

	o = saved;
	o.small_pool_count = 32;
	o.large_pool_count = 4;
	o.small_bufsize = 16384;
	CU_ASSERT(osp_iobuf_set_opts(&o, err, sizeof(err)) == 0);
	CU_ASSERT(osp_iobuf_get_pool(4096) == NULL);
	CU_ASSERT(osp_iobuf_initialize() == 0);
	CU_ASSERT(osp_iobuf_initialize() == 0);
	/* Fixed while the pools exist. */
	CU_ASSERT(osp_iobuf_set_opts(&saved, err, sizeof(err)) == -EPERM);
	small = osp_iobuf_get_pool(1);
	large = osp_iobuf_get_pool(16385);
	CU_ASSERT_FATAL(small != NULL && large != NULL && small != large);
	CU_ASSERT(osp_iobuf_get_pool(16384) == small);
	CU_ASSERT(osp_iobuf_get_pool(128 * 1024) == large);
	CU_ASSERT(osp_iobuf_get_pool(128 * 1024 + 1) == NULL);
	CU_ASSERT(osp_iobuf_pool_get_count(small) == 32 && osp_iobuf_pool_get_bufsize(small) == 16384);
	CU_ASSERT(osp_iobuf_pool_get_count(large) == 4);
	osp_iobuf_finish();
	CU_ASSERT(osp_iobuf_get_pool(1) == small);
	osp_iobuf_finish();
	CU_ASSERT(osp_iobuf_get_pool(1) == NULL);
	CU_ASSERT(osp_iobuf_set_opts(&saved, err, sizeof(err)) == 0);
}

int
main(int argc, char **argv)
{
	CU_pSuite suite;
	int rc;

	(void)argc;
	(void)argv;
	ut_env_init();
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("iobuf", NULL, NULL);
	CU_ADD_TEST(suite, test_pool_create_invalid);
	CU_ADD_TEST(suite, test_get_put_cache);
	CU_ADD_TEST(suite, test_cache_clamp);
	CU_ADD_TEST(suite, test_starving_thread_served);
	CU_ADD_TEST(suite, test_waiters_fifo_bulk);
	CU_ADD_TEST(suite, test_abort);
	CU_ADD_TEST(suite, test_global_opts);

	rc = ut_run_suites();
	return rc;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey threads: message rings, pollers, I/O devices and channels.
 *
 * Hot paths (osp_thread_send_msg(), osp_thread_poll()) take no lock, make no
 * system call and never call malloc. The only exception is the eventfd write
 * that wakes a thread whose owner is asleep in epoll. Everything that crosses
 * threads goes through the MP/SC message ring of the destination thread.
 *
 * Control-path state (the thread list, the io_device list and every thread's
 * channel list, which other threads read during osp_for_each_channel()) is
 * protected by g_lock. A thread's pollers are touched only by the thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <bsd/sys/tree.h>

#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "thread_internal.h"

OSP_LOG_REGISTER_COMPONENT(thread)

enum thread_state {
	THREAD_STATE_RUNNING,
	THREAD_STATE_EXITING,
	THREAD_STATE_EXITED,
};

/*
 * Poller life cycle. A poller that has to leave the list the poll loop is
 * walking (unregistered or paused from inside a poller) is only marked; the
 * loop unlinks it when it reaches it, so the loop never follows a freed link.
 */
enum poller_state {
	POLLER_STATE_WAITING,		/* registered, waits for its turn */
	POLLER_STATE_RUNNING,		/* its fn is on the stack */
	POLLER_STATE_PAUSING,		/* paused, still linked where it ran */
	POLLER_STATE_PAUSED,		/* on the paused list */
	POLLER_STATE_UNREGISTERED,	/* to be freed by the poll loop */
};

struct osp_msg {
	osp_msg_fn fn;
	void *arg;
};

struct osp_poller {
	/* Hot: read on every call. */
	osp_poller_fn fn;
	void *arg;
	uint64_t next_run_tick;
	uint64_t period_ticks;
	uint64_t run_count;
	uint64_t busy_count;
	enum poller_state state;
	TAILQ_ENTRY(osp_poller) link;	/* active or paused list */
	RB_ENTRY(osp_poller) node;	/* timed tree */

	/* Cold. */
	struct osp_thread *thread;
	uint64_t id;
	char name[OSP_POLLER_NAME_MAX];
};

TAILQ_HEAD(poller_list, osp_poller);
RB_HEAD(timed_poller_tree, osp_poller);

struct io_device {
	void *io_device;
	osp_io_channel_create_cb create_cb;
	osp_io_channel_destroy_cb destroy_cb;
	osp_io_device_unregister_cb unregister_cb;
	struct osp_thread *unregister_thread;
	uint32_t ctx_size;
	/* Channels alive (including those waiting for their deferred destroy). */
	uint32_t channel_count;
	/* osp_for_each_channel() iterations in flight. */
	uint32_t for_each_count;
	bool unregistered;
	TAILQ_ENTRY(io_device) link;
	char name[OSP_IO_DEVICE_NAME_MAX];
};

struct osp_io_channel {
	struct osp_thread *thread;
	struct io_device *dev;
	uint32_t ref;
	bool destroy_pending;
	TAILQ_ENTRY(osp_io_channel) link;
	alignas(16) uint8_t ctx[];
};

struct osp_io_channel_iter {
	void *io_device;
	struct io_device *dev;
	osp_channel_msg fn;
	void *ctx;
	osp_channel_for_each_cpl cpl;
	struct osp_thread *orig_thread;
	struct osp_thread *cur_thread;
	struct osp_io_channel *ch;
	int status;
};

struct osp_thread {
	/*
	 * Cache line read by every sender. It is written rarely: sleeping only
	 * when the owner goes to sleep or a sender wakes it, critical_msg by
	 * the rare critical sender.
	 */
	alignas(OSP_CACHE_LINE_SIZE) struct osp_ring *messages;
	int wake_efd;			/* eventfd written to wake a sleeper */
	atomic_int state;		/* enum thread_state */
	atomic_int sleeping;
	_Atomic(osp_msg_fn) critical_msg;

	/* Owner-only hot state. */
	alignas(OSP_CACHE_LINE_SIZE) uint64_t tsc_last;
	uint64_t next_timed_tick;	/* expiration of first_timed, UINT64_MAX if none */
	struct osp_poller *first_timed;
	struct poller_list active_pollers;
	struct timed_poller_tree timed_pollers;
	uint32_t msg_cache_count;
	uint32_t active_count;		/* active pollers not paused or unregistered */
	uint32_t timed_count;		/* timed pollers not paused or unregistered */
	uint32_t paused_count;
	struct osp_thread_stats stats;

	/* Owner-only, less hot. */
	struct poller_list paused_pollers;
	/* Modified under g_lock (others read it in for_each_channel). */
	TAILQ_HEAD(, osp_io_channel) io_channels;
	/* for_each_* and io_device unregistrations started here, not completed. */
	uint32_t pending_ops;
	uint64_t next_poller_id;
	uint64_t exit_deadline;

	/* Cold. */
	uint64_t id;
	int epfd;
	TAILQ_ENTRY(osp_thread) link;	/* g_threads, under g_lock */
	struct osp_cpuset cpumask;
	char name[OSP_THREAD_NAME_MAX];

	void *msg_cache[THREAD_MSG_CACHE_SIZE];

	/* Scheduler context (g_ctx_sz bytes). */
	alignas(OSP_CACHE_LINE_SIZE) uint8_t ctx[];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, osp_thread) g_threads = TAILQ_HEAD_INITIALIZER(g_threads);
static TAILQ_HEAD(, io_device) g_io_devices = TAILQ_HEAD_INITIALIZER(g_io_devices);
static uint32_t g_thread_count;
static uint64_t g_next_thread_id = 1;
static struct osp_thread *g_app_thread;

static struct osp_mempool *g_msg_mempool;
static size_t g_msg_mempool_size;
static size_t g_ctx_sz;
static int (*g_new_thread_fn)(struct osp_thread *thread);
static osp_thread_op_fn g_thread_op_fn;
static osp_thread_op_supported_fn g_thread_op_supported_fn;

static __thread struct osp_thread *tls_thread;

static int
timed_poller_cmp(struct osp_poller *a, struct osp_poller *b)
{
	if (a->next_run_tick != b->next_run_tick) {
		return a->next_run_tick < b->next_run_tick ? -1 : 1;
	}
	/* Ids are unique, so equal deadlines never collide in the tree. */
	return a->id < b->id ? -1 : (a->id > b->id ? 1 : 0);
}

RB_GENERATE_INTERNAL(timed_poller_tree, osp_poller, node, timed_poller_cmp,
		     static __attribute__((unused)))

static inline int
thread_state(const struct osp_thread *thread)
{
	return atomic_load_explicit(&thread->state, memory_order_relaxed);
}

static const char *
thread_log_name(void)
{
	struct osp_thread *thread = tls_thread;

	return thread != NULL ? thread->name : NULL;
}

/* ---- library ---- */

int
osp_thread_lib_init(int (*new_thread_fn)(struct osp_thread *thread), size_t ctx_sz)
{
	int rc;

	rc = osp_thread_lib_init_ext(NULL, NULL, ctx_sz, OSP_DEFAULT_MSG_MEMPOOL_SIZE);
	if (rc == 0) {
		g_new_thread_fn = new_thread_fn;
	}
	return rc;
}

int
osp_thread_lib_init_ext(osp_thread_op_fn thread_op_fn,
			osp_thread_op_supported_fn thread_op_supported_fn,
			size_t ctx_sz, size_t msg_mempool_size)
{
	if (g_msg_mempool != NULL) {
		OSP_ERRLOG("thread library already initialized\n");
		return -EALREADY;
	}
	if ((thread_op_fn == NULL) != (thread_op_supported_fn == NULL)) {
		OSP_ERRLOG("thread_op_fn and thread_op_supported_fn go together\n");
		return -EINVAL;
	}
	if (msg_mempool_size == 0) {
		msg_mempool_size = OSP_DEFAULT_MSG_MEMPOOL_SIZE;
	}
	/*
	 * No per-core cache in the pool: each osp_thread keeps its own free
	 * list, which also serves threads that move between cores.
	 */
	g_msg_mempool = osp_mempool_create("osp_msgpool", msg_mempool_size,
					   sizeof(struct osp_msg), 0, OSP_ENV_SOCKET_ID_ANY);
	if (g_msg_mempool == NULL) {
		OSP_ERRLOG("cannot create the message pool (%zu messages)\n", msg_mempool_size);
		return -ENOMEM;
	}
	g_msg_mempool_size = msg_mempool_size;
	g_new_thread_fn = NULL;
	g_thread_op_fn = thread_op_fn;
	g_thread_op_supported_fn = thread_op_supported_fn;
	g_ctx_sz = ctx_sz;
	osp_log_set_thread_name_fn(thread_log_name);
	return 0;
}

void
osp_thread_lib_fini(void)
{
	struct io_device *dev;
	bool threads_left;

	pthread_mutex_lock(&g_lock);
	threads_left = !TAILQ_EMPTY(&g_threads);
	while ((dev = TAILQ_FIRST(&g_io_devices)) != NULL) {
		OSP_WARNLOG("io_device %s (%p) still registered at shutdown\n", dev->name,
			    dev->io_device);
		TAILQ_REMOVE(&g_io_devices, dev, link);
		if (dev->channel_count == 0) {
			free(dev);
		}
	}
	pthread_mutex_unlock(&g_lock);

	if (threads_left) {
		/* Their message caches still point into the pool: keep it. */
		OSP_ERRLOG("%" PRIu32 " threads still exist; leaking the message pool\n",
			   g_thread_count);
	} else if (g_msg_mempool != NULL) {
		osp_mempool_free(g_msg_mempool);
	}
	g_msg_mempool = NULL;
	g_new_thread_fn = NULL;
	g_thread_op_fn = NULL;
	g_thread_op_supported_fn = NULL;
	g_ctx_sz = 0;
	osp_log_set_thread_name_fn(NULL);
}

/* ---- threads ---- */

static void
thread_cpumask_all(struct osp_cpuset *set)
{
	uint32_t core;

	osp_cpuset_zero(set);
	OSP_ENV_FOREACH_CORE(core) {
		osp_cpuset_set_cpu(set, core, true);
	}
}

static void
thread_free(struct osp_thread *thread)
{
	if (thread->messages != NULL) {
		osp_ring_free(thread->messages);
	}
	if (thread->epfd >= 0) {
		close(thread->epfd);
	}
	if (thread->wake_efd >= 0) {
		close(thread->wake_efd);
	}
	free(thread);
}

struct osp_thread *
osp_thread_create(const char *name, const struct osp_cpuset *cpumask)
{
	struct osp_thread *thread;
	struct epoll_event ev = { .events = EPOLLIN };
	size_t size;
	int rc;

	if (g_msg_mempool == NULL) {
		OSP_ERRLOG("thread library not initialized\n");
		return NULL;
	}

	size = sizeof(*thread) + g_ctx_sz;
	size = (size + OSP_CACHE_LINE_SIZE - 1) & ~(size_t)(OSP_CACHE_LINE_SIZE - 1);
	thread = aligned_alloc(OSP_CACHE_LINE_SIZE, size);
	if (thread == NULL) {
		return NULL;
	}
	memset(thread, 0, size);
	thread->epfd = -1;
	thread->wake_efd = -1;
	atomic_init(&thread->state, THREAD_STATE_RUNNING);
	atomic_init(&thread->sleeping, 0);
	atomic_init(&thread->critical_msg, NULL);
	TAILQ_INIT(&thread->active_pollers);
	TAILQ_INIT(&thread->paused_pollers);
	RB_INIT(&thread->timed_pollers);
	TAILQ_INIT(&thread->io_channels);
	thread->next_timed_tick = UINT64_MAX;
	thread->next_poller_id = 1;
	thread->tsc_last = osp_get_ticks();

	thread->messages = osp_ring_create(OSP_RING_TYPE_MP_SC, THREAD_MSG_RING_SIZE,
					   OSP_ENV_SOCKET_ID_ANY);
	if (thread->messages == NULL) {
		OSP_ERRLOG("cannot create a message ring\n");
		thread_free(thread);
		return NULL;
	}

	/* Without the fds the thread works but can never sleep. */
	thread->epfd = epoll_create1(EPOLL_CLOEXEC);
	thread->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (thread->epfd < 0 || thread->wake_efd < 0 ||
	    epoll_ctl(thread->epfd, EPOLL_CTL_ADD, thread->wake_efd, &ev) != 0) {
		OSP_WARNLOG("no interrupt fd for a new thread: %s\n", strerror(errno));
		if (thread->epfd >= 0) {
			close(thread->epfd);
			thread->epfd = -1;
		}
		if (thread->wake_efd >= 0) {
			close(thread->wake_efd);
			thread->wake_efd = -1;
		}
	}

	/* A warm free list; failure only means the first sends use the pool. */
	if (osp_mempool_get_bulk(g_msg_mempool, thread->msg_cache, THREAD_MSG_CACHE_REFILL) == 0) {
		thread->msg_cache_count = THREAD_MSG_CACHE_REFILL;
	}

	if (cpumask != NULL) {
		thread->cpumask = *cpumask;
	} else {
		thread_cpumask_all(&thread->cpumask);
	}

	pthread_mutex_lock(&g_lock);
	thread->id = g_next_thread_id++;
	if (name != NULL) {
		snprintf(thread->name, sizeof(thread->name), "%s", name);
	} else {
		snprintf(thread->name, sizeof(thread->name), "osp_thread%" PRIu64, thread->id);
	}
	TAILQ_INSERT_TAIL(&g_threads, thread, link);
	g_thread_count++;
	if (g_app_thread == NULL) {
		g_app_thread = thread;
	}
	pthread_mutex_unlock(&g_lock);

	OSP_DEBUGLOG(thread, "created thread %s (id %" PRIu64 ")\n", thread->name, thread->id);

	rc = 0;
	if (g_new_thread_fn != NULL) {
		rc = g_new_thread_fn(thread);
	} else if (g_thread_op_fn != NULL) {
		rc = g_thread_op_fn(thread, OSP_THREAD_OP_NEW);
	}
	if (rc != 0) {
		OSP_ERRLOG("scheduler refused thread %s: %d\n", thread->name, rc);
		atomic_store(&thread->state, THREAD_STATE_EXITED);
		osp_thread_destroy(thread);
		return NULL;
	}
	return thread;
}

void
osp_set_thread(struct osp_thread *thread)
{
	tls_thread = thread;
}

struct osp_thread *
osp_get_thread(void)
{
	return tls_thread;
}

int
osp_thread_exit(struct osp_thread *thread)
{
	uint64_t hz;

	if (thread == NULL) {
		return -EINVAL;
	}
	if (tls_thread != thread) {
		OSP_ERRLOG("thread %s must exit on itself (current: %s)\n", thread->name,
			   tls_thread != NULL ? tls_thread->name : "none");
		return -EINVAL;
	}
	if (thread_state(thread) != THREAD_STATE_RUNNING) {
		return 0;
	}
	hz = osp_get_ticks_hz();
	thread->exit_deadline = thread->tsc_last + THREAD_EXIT_TIMEOUT_SEC * hz;
	atomic_store_explicit(&thread->state, THREAD_STATE_EXITING, memory_order_release);
	OSP_DEBUGLOG(thread, "thread %s exiting\n", thread->name);
	return 0;
}

bool
osp_thread_is_running(struct osp_thread *thread)
{
	return thread_state(thread) == THREAD_STATE_RUNNING;
}

bool
osp_thread_is_exited(struct osp_thread *thread)
{
	return thread_state(thread) == THREAD_STATE_EXITED;
}

static void io_device_finish_unregister(struct io_device *dev);

static bool
io_device_unregister_ready(const struct io_device *dev)
{
	return dev->unregistered && dev->channel_count == 0 && dev->for_each_count == 0;
}

static void
msg_cache_put(struct osp_thread *thread, struct osp_msg *msg)
{
	if (osp_unlikely(thread->msg_cache_count == THREAD_MSG_CACHE_SIZE)) {
		/* Give half back at once so the pool is touched rarely. */
		osp_mempool_put_bulk(g_msg_mempool,
				     &thread->msg_cache[THREAD_MSG_CACHE_SIZE / 2],
				     THREAD_MSG_CACHE_SIZE / 2);
		thread->msg_cache_count = THREAD_MSG_CACHE_SIZE / 2;
	}
	thread->msg_cache[thread->msg_cache_count++] = msg;
}

void
osp_thread_destroy(struct osp_thread *thread)
{
	struct osp_poller *poller;
	struct osp_io_channel *ch;
	TAILQ_HEAD(, osp_io_channel) channels = TAILQ_HEAD_INITIALIZER(channels);
	/* Unregistered devices are off g_io_devices, so their link is free to use. */
	TAILQ_HEAD(, io_device) done = TAILQ_HEAD_INITIALIZER(done);
	struct io_device *dev;
	void *msgs[THREAD_MSG_BURST];
	size_t n;

	if (thread == NULL) {
		return;
	}
	if (thread_state(thread) != THREAD_STATE_EXITED) {
		OSP_ERRLOG("destroying thread %s which has not exited\n", thread->name);
		atomic_store(&thread->state, THREAD_STATE_EXITED);
	}
	if (tls_thread == thread) {
		tls_thread = NULL;
	}

	while ((poller = TAILQ_FIRST(&thread->active_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->active_pollers, poller, link);
		free(poller);
	}
	while ((poller = TAILQ_FIRST(&thread->paused_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		free(poller);
	}
	while ((poller = RB_MIN(timed_poller_tree, &thread->timed_pollers)) != NULL) {
		RB_REMOVE(timed_poller_tree, &thread->timed_pollers, poller);
		free(poller);
	}

	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&g_threads, thread, link);
	g_thread_count--;
	if (g_app_thread == thread) {
		g_app_thread = NULL;
	}
	/* Channels left by a forced exit: their destroy_cb can no longer run. */
	while ((ch = TAILQ_FIRST(&thread->io_channels)) != NULL) {
		TAILQ_REMOVE(&thread->io_channels, ch, link);
		TAILQ_INSERT_TAIL(&channels, ch, link);
		ch->dev->channel_count--;
		if (io_device_unregister_ready(ch->dev)) {
			TAILQ_INSERT_TAIL(&done, ch->dev, link);
		}
	}
	pthread_mutex_unlock(&g_lock);

	while ((ch = TAILQ_FIRST(&channels)) != NULL) {
		TAILQ_REMOVE(&channels, ch, link);
		OSP_ERRLOG("thread %s destroyed with a channel to %s: leaking its context\n",
			   thread->name, ch->dev->name);
		free(ch);
	}
	while ((dev = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, dev, link);
		io_device_finish_unregister(dev);
	}

	/* Messages that arrived too late are dropped, not run. */
	while ((n = osp_ring_dequeue(thread->messages, msgs, OSP_COUNTOF(msgs))) > 0) {
		osp_mempool_put_bulk(g_msg_mempool, msgs, n);
	}
	if (thread->msg_cache_count > 0) {
		osp_mempool_put_bulk(g_msg_mempool, thread->msg_cache, thread->msg_cache_count);
		thread->msg_cache_count = 0;
	}
	OSP_DEBUGLOG(thread, "destroyed thread %s\n", thread->name);
	thread_free(thread);
}

void *
osp_thread_get_ctx(struct osp_thread *thread)
{
	if (thread == NULL || g_ctx_sz == 0) {
		return NULL;
	}
	return thread->ctx;
}

struct osp_thread *
osp_thread_get_from_ctx(void *ctx)
{
	if (ctx == NULL) {
		return NULL;
	}
	return OSP_CONTAINEROF(ctx, struct osp_thread, ctx);
}

const struct osp_cpuset *
osp_thread_get_cpumask(struct osp_thread *thread)
{
	return &thread->cpumask;
}

int
osp_thread_set_cpumask(struct osp_cpuset *cpumask)
{
	struct osp_thread *thread = tls_thread;

	if (thread == NULL || cpumask == NULL) {
		return -EINVAL;
	}
	if (g_thread_op_supported_fn == NULL ||
	    !g_thread_op_supported_fn(OSP_THREAD_OP_RESCHED)) {
		return -ENOTSUP;
	}
	if (osp_cpuset_count(cpumask) == 0) {
		return -EINVAL;
	}
	thread->cpumask = *cpumask;
	return g_thread_op_fn(thread, OSP_THREAD_OP_RESCHED);
}

/* ---- messages ---- */

static void
thread_wake(struct osp_thread *thread)
{
	uint64_t one = 1;

	/*
	 * Pairs with the fence in osp_thread_prepare_sleep(): either the owner
	 * sees our message in the ring, or we see its sleeping flag. Whoever
	 * swaps the flag back to 0 writes the eventfd, so one wake-up per sleep.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (osp_unlikely(atomic_load_explicit(&thread->sleeping, memory_order_relaxed) != 0) &&
	    atomic_exchange(&thread->sleeping, 0) != 0) {
		if (write(thread->wake_efd, &one, sizeof(one)) < 0) {
			/* EAGAIN means the counter is saturated: already awake. */
		}
	}
}

static struct osp_msg *
msg_get_slow(struct osp_thread *local)
{
	if (local != NULL) {
		if (osp_mempool_get_bulk(g_msg_mempool, local->msg_cache,
					 THREAD_MSG_CACHE_REFILL) == 0) {
			local->msg_cache_count = THREAD_MSG_CACHE_REFILL - 1;
			return local->msg_cache[THREAD_MSG_CACHE_REFILL - 1];
		}
	}
	return osp_mempool_get(g_msg_mempool);
}

/*
 * The message budget (pool size at init, ring size per thread) is an
 * invariant of the configuration, not a load condition: every sender is a
 * continuation (a Connect's next hop, an I/O's completion, a teardown step)
 * that no caller can sensibly retry. Losing one hangs or leaks silently, so
 * breaking the budget stops the process here, naming both threads, where a
 * core dump shows who flooded whom.
 */
static void __attribute__((noreturn, cold))
msg_budget_broken(const struct osp_thread *target, const char *what)
{
	struct osp_thread *local = tls_thread;

	OSP_ERRLOG("message budget broken: %s sending from thread %s to thread %s "
		   "(%zu messages pending on the target, %zu of %zu free in the pool, "
		   "ring of %u per thread); aborting rather than losing a continuation\n", what,
		   local != NULL ? local->name : "(not an osp_thread)", target->name,
		   osp_ring_count(target->messages), osp_mempool_count(g_msg_mempool),
		   g_msg_mempool_size, (unsigned)THREAD_MSG_RING_SIZE);
	abort();
}

/* Send to a thread that may have exited (for_each_*): -EIO then, nothing logged. */
static inline __attribute__((always_inline)) int
thread_send_msg(const struct osp_thread *thread, osp_msg_fn fn, void *ctx)
{
	struct osp_thread *target = (struct osp_thread *)(uintptr_t)thread;
	struct osp_thread *local = tls_thread;
	struct osp_msg *msg;

	if (osp_unlikely(thread_state(target) == THREAD_STATE_EXITED)) {
		return -EIO;
	}

	if (osp_likely(local != NULL && local->msg_cache_count > 0)) {
		msg = local->msg_cache[--local->msg_cache_count];
	} else {
		msg = msg_get_slow(local);
		if (osp_unlikely(msg == NULL)) {
			msg_budget_broken(target, "message pool exhausted");
		}
	}
	msg->fn = fn;
	msg->arg = ctx;

	if (osp_unlikely(osp_ring_enqueue(target->messages, (void **)&msg, 1, NULL) != 1)) {
		msg_budget_broken(target, "message ring full");
	}
	thread_wake(target);
	return 0;
}

int
osp_thread_send_msg(const struct osp_thread *thread, osp_msg_fn fn, void *ctx)
{
	int rc = thread_send_msg(thread, fn, ctx);

	if (osp_unlikely(rc != 0)) {
		/* The caller's bug (see thread.h), but never a silent one. */
		OSP_ERRLOG("message %p(%p) from thread %s to exited thread %s dropped\n",
			   (void *)(uintptr_t)fn, ctx,
			   tls_thread != NULL ? tls_thread->name : "(not an osp_thread)",
			   thread->name);
	}
	return rc;
}

int
osp_thread_send_critical_msg(struct osp_thread *thread, osp_msg_fn fn)
{
	osp_msg_fn expected = NULL;

	if (thread == NULL || fn == NULL) {
		return -EINVAL;
	}
	if (!atomic_compare_exchange_strong(&thread->critical_msg, &expected, fn)) {
		return -EIO;
	}
	thread_wake(thread);
	return 0;
}

static uint32_t
thread_run_msgs(struct osp_thread *thread, uint32_t max_msgs)
{
	void *msgs[THREAD_MSG_BURST];
	uint32_t total = 0, want, n, i;

	if (max_msgs == 0) {
		max_msgs = THREAD_MSG_BURST;
	}
	while (total < max_msgs) {
		want = OSP_MIN(max_msgs - total, (uint32_t)THREAD_MSG_BURST);
		n = (uint32_t)osp_ring_dequeue(thread->messages, msgs, want);
		if (n == 0) {
			break;
		}
		for (i = 0; i < n; i++) {
			__builtin_prefetch(msgs[i]);
		}
		for (i = 0; i < n; i++) {
			struct osp_msg *msg = msgs[i];
			osp_msg_fn fn = msg->fn;
			void *arg = msg->arg;

			/* Recycle first: fn's own sends can reuse this message. */
			msg_cache_put(thread, msg);
			fn(arg);
		}
		total += n;
		if (n < want) {
			break;
		}
	}
	return total;
}

/* ---- pollers ---- */

static inline void
timed_poller_insert(struct osp_thread *thread, struct osp_poller *poller)
{
	RB_INSERT(timed_poller_tree, &thread->timed_pollers, poller);
	if (thread->first_timed == NULL || timed_poller_cmp(poller, thread->first_timed) < 0) {
		thread->first_timed = poller;
		thread->next_timed_tick = poller->next_run_tick;
	}
}

static inline void
timed_poller_remove(struct osp_thread *thread, struct osp_poller *poller)
{
	if (thread->first_timed == poller) {
		thread->first_timed = RB_NEXT(timed_poller_tree, &thread->timed_pollers, poller);
		thread->next_timed_tick = thread->first_timed != NULL ?
					  thread->first_timed->next_run_tick : UINT64_MAX;
	}
	RB_REMOVE(timed_poller_tree, &thread->timed_pollers, poller);
}

static inline int
poller_call(struct osp_poller *poller)
{
	int rc;

	poller->state = POLLER_STATE_RUNNING;
	rc = poller->fn(poller->arg);
	poller->run_count++;
	if (rc > 0) {
		poller->busy_count++;
	}
	return rc;
}

static int
thread_run_active_pollers(struct osp_thread *thread)
{
	struct osp_poller *poller, *next;
	int rc = 0;

	/*
	 * next stays valid: pollers only leave this list right here; calls
	 * that want one gone mark it and we unlink it when we get to it.
	 */
	for (poller = TAILQ_FIRST(&thread->active_pollers); poller != NULL; poller = next) {
		next = TAILQ_NEXT(poller, link);
		if (osp_likely(poller->state == POLLER_STATE_WAITING)) {
			if (poller_call(poller) > 0) {
				rc = 1;
			}
			if (osp_likely(poller->state == POLLER_STATE_RUNNING)) {
				poller->state = POLLER_STATE_WAITING;
				continue;
			}
		}
		switch (poller->state) {
		case POLLER_STATE_UNREGISTERED:
			TAILQ_REMOVE(&thread->active_pollers, poller, link);
			free(poller);
			break;
		case POLLER_STATE_PAUSING:
			TAILQ_REMOVE(&thread->active_pollers, poller, link);
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
			break;
		default:
			/* WAITING after a resume from inside fn. */
			break;
		}
	}
	return rc;
}

static int
thread_run_timed_pollers(struct osp_thread *thread, uint64_t now)
{
	struct osp_poller *poller;
	int rc = 0;

	while (thread->next_timed_tick <= now) {
		poller = thread->first_timed;
		/* Off the tree while it runs: it may unregister anything, itself included. */
		timed_poller_remove(thread, poller);
		if (poller_call(poller) > 0) {
			rc = 1;
		}
		switch (poller->state) {
		case POLLER_STATE_UNREGISTERED:
			free(poller);
			break;
		case POLLER_STATE_PAUSING:
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
			break;
		default:
			/* Always in the future, so the loop ends. */
			poller->state = POLLER_STATE_WAITING;
			poller->next_run_tick = now + poller->period_ticks;
			timed_poller_insert(thread, poller);
			break;
		}
	}
	return rc;
}

static uint64_t
period_us_to_ticks(uint64_t us)
{
	uint64_t hz = osp_get_ticks_hz();
	uint64_t ticks;

	if (us == 0) {
		return 0;
	}
	ticks = (us / 1000000) * hz + (us % 1000000) * hz / 1000000;
	return ticks > 0 ? ticks : 1;
}

struct osp_poller *
osp_poller_register_named(osp_poller_fn fn, void *arg, uint64_t period_microseconds,
			  const char *name)
{
	struct osp_thread *thread = tls_thread;
	struct osp_poller *poller;

	if (thread == NULL) {
		OSP_ERRLOG("no current thread\n");
		return NULL;
	}
	if (fn == NULL) {
		return NULL;
	}
	if (thread_state(thread) == THREAD_STATE_EXITED) {
		OSP_ERRLOG("thread %s has exited\n", thread->name);
		return NULL;
	}
	poller = calloc(1, sizeof(*poller));
	if (poller == NULL) {
		return NULL;
	}
	poller->fn = fn;
	poller->arg = arg;
	poller->thread = thread;
	poller->id = thread->next_poller_id++;
	poller->period_ticks = period_us_to_ticks(period_microseconds);
	if (name != NULL) {
		snprintf(poller->name, sizeof(poller->name), "%s", name);
	} else {
		snprintf(poller->name, sizeof(poller->name), "%p", (void *)(uintptr_t)fn);
	}
	poller->state = POLLER_STATE_WAITING;
	if (poller->period_ticks == 0) {
		TAILQ_INSERT_TAIL(&thread->active_pollers, poller, link);
		thread->active_count++;
	} else {
		/* Relative to this poll iteration's clock, so fake time in tests works. */
		poller->next_run_tick = thread->tsc_last + poller->period_ticks;
		timed_poller_insert(thread, poller);
		thread->timed_count++;
	}
	return poller;
}

struct osp_poller *
osp_poller_register(osp_poller_fn fn, void *arg, uint64_t period_microseconds)
{
	return osp_poller_register_named(fn, arg, period_microseconds, NULL);
}

static bool
poller_check_thread(struct osp_poller *poller, const char *what)
{
	if (osp_unlikely(poller->thread != tls_thread)) {
		OSP_ERRLOG("%s of poller %s from thread %s, it belongs to %s\n", what,
			   poller->name, tls_thread != NULL ? tls_thread->name : "none",
			   poller->thread->name);
		return false;
	}
	return true;
}

static inline void
poller_count_dec(struct osp_thread *thread, struct osp_poller *poller)
{
	if (poller->period_ticks != 0) {
		thread->timed_count--;
	} else {
		thread->active_count--;
	}
}

static inline void
poller_count_inc(struct osp_thread *thread, struct osp_poller *poller)
{
	if (poller->period_ticks != 0) {
		thread->timed_count++;
	} else {
		thread->active_count++;
	}
}

void
osp_poller_unregister(struct osp_poller **ppoller)
{
	struct osp_poller *poller;
	struct osp_thread *thread;

	if (ppoller == NULL || *ppoller == NULL) {
		return;
	}
	poller = *ppoller;
	*ppoller = NULL;
	if (!poller_check_thread(poller, "unregister")) {
		return;
	}
	thread = poller->thread;

	switch (poller->state) {
	case POLLER_STATE_WAITING:
		poller_count_dec(thread, poller);
		if (poller->period_ticks != 0) {
			timed_poller_remove(thread, poller);
			free(poller);
		} else {
			poller->state = POLLER_STATE_UNREGISTERED;
		}
		break;
	case POLLER_STATE_RUNNING:
		poller_count_dec(thread, poller);
		poller->state = POLLER_STATE_UNREGISTERED;
		break;
	case POLLER_STATE_PAUSING:
		thread->paused_count--;
		poller->state = POLLER_STATE_UNREGISTERED;
		break;
	case POLLER_STATE_PAUSED:
		thread->paused_count--;
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		free(poller);
		break;
	case POLLER_STATE_UNREGISTERED:
		OSP_ERRLOG("poller %s unregistered twice\n", poller->name);
		break;
	}
}

void
osp_poller_pause(struct osp_poller *poller)
{
	struct osp_thread *thread;

	if (poller == NULL || !poller_check_thread(poller, "pause")) {
		return;
	}
	thread = poller->thread;

	switch (poller->state) {
	case POLLER_STATE_WAITING:
		poller_count_dec(thread, poller);
		thread->paused_count++;
		if (poller->period_ticks != 0) {
			timed_poller_remove(thread, poller);
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
		} else {
			poller->state = POLLER_STATE_PAUSING;
		}
		break;
	case POLLER_STATE_RUNNING:
		poller_count_dec(thread, poller);
		thread->paused_count++;
		poller->state = POLLER_STATE_PAUSING;
		break;
	default:
		break;
	}
}

void
osp_poller_resume(struct osp_poller *poller)
{
	struct osp_thread *thread;

	if (poller == NULL || !poller_check_thread(poller, "resume")) {
		return;
	}
	thread = poller->thread;

	switch (poller->state) {
	case POLLER_STATE_PAUSING:
		/* Still linked where it was (or running): just cancel the pause. */
		thread->paused_count--;
		poller_count_inc(thread, poller);
		poller->state = POLLER_STATE_WAITING;
		break;
	case POLLER_STATE_PAUSED:
		thread->paused_count--;
		poller_count_inc(thread, poller);
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		poller->state = POLLER_STATE_WAITING;
		if (poller->period_ticks != 0) {
			poller->next_run_tick = thread->tsc_last + poller->period_ticks;
			timed_poller_insert(thread, poller);
		} else {
			TAILQ_INSERT_TAIL(&thread->active_pollers, poller, link);
		}
		break;
	default:
		break;
	}
}

static void
poller_fill_info(const struct osp_poller *poller, struct osp_poller_info *info)
{
	info->name = poller->name;
	info->id = poller->id;
	info->period_ticks = poller->period_ticks;
	info->run_count = poller->run_count;
	info->busy_count = poller->busy_count;
	info->paused = poller->state == POLLER_STATE_PAUSING ||
		       poller->state == POLLER_STATE_PAUSED;
	info->timed = poller->period_ticks != 0;
}

void
osp_thread_foreach_poller(struct osp_thread *thread,
			  void (*cb)(const struct osp_poller_info *info, void *arg), void *arg)
{
	struct osp_poller_info info;
	struct osp_poller *poller;

	if (thread == NULL || cb == NULL) {
		return;
	}
	TAILQ_FOREACH(poller, &thread->active_pollers, link) {
		if (poller->state != POLLER_STATE_UNREGISTERED) {
			poller_fill_info(poller, &info);
			cb(&info, arg);
		}
	}
	RB_FOREACH(poller, timed_poller_tree, &thread->timed_pollers) {
		poller_fill_info(poller, &info);
		cb(&info, arg);
	}
	TAILQ_FOREACH(poller, &thread->paused_pollers, link) {
		poller_fill_info(poller, &info);
		cb(&info, arg);
	}
}

/* ---- polling and exit ---- */

static bool
thread_has_leftovers(struct osp_thread *thread)
{
	return thread->active_count + thread->timed_count + thread->paused_count > 0 ||
	       !TAILQ_EMPTY(&thread->io_channels) || thread->pending_ops > 0 ||
	       osp_ring_count(thread->messages) > 0 ||
	       atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) != NULL;
}

static void
thread_log_leftovers(struct osp_thread *thread)
{
	struct osp_poller *poller;
	struct osp_io_channel *ch;

	TAILQ_FOREACH(poller, &thread->active_pollers, link) {
		if (poller->state != POLLER_STATE_UNREGISTERED) {
			OSP_ERRLOG("  thread %s: active poller %s still registered\n",
				   thread->name, poller->name);
		}
	}
	RB_FOREACH(poller, timed_poller_tree, &thread->timed_pollers) {
		OSP_ERRLOG("  thread %s: timed poller %s still registered\n", thread->name,
			   poller->name);
	}
	TAILQ_FOREACH(poller, &thread->paused_pollers, link) {
		OSP_ERRLOG("  thread %s: paused poller %s still registered\n", thread->name,
			   poller->name);
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_FOREACH(ch, &thread->io_channels, link) {
		OSP_ERRLOG("  thread %s: channel to %s still held (%" PRIu32 " refs)\n",
			   thread->name, ch->dev->name, ch->ref);
	}
	pthread_mutex_unlock(&g_lock);
	if (thread->pending_ops > 0) {
		OSP_ERRLOG("  thread %s: %" PRIu32 " for_each/unregister operations pending\n",
			   thread->name, thread->pending_ops);
	}
	if (osp_ring_count(thread->messages) > 0) {
		OSP_ERRLOG("  thread %s: %zu messages dropped\n", thread->name,
			   osp_ring_count(thread->messages));
	}
}

static void
thread_exit_check(struct osp_thread *thread, uint64_t now)
{
	if (!thread_has_leftovers(thread)) {
		OSP_DEBUGLOG(thread, "thread %s exited\n", thread->name);
		atomic_store_explicit(&thread->state, THREAD_STATE_EXITED, memory_order_release);
		return;
	}
	if (now >= thread->exit_deadline) {
		OSP_ERRLOG("thread %s did not release its resources within %d s: forcing exit\n",
			   thread->name, THREAD_EXIT_TIMEOUT_SEC);
		thread_log_leftovers(thread);
		atomic_store_explicit(&thread->state, THREAD_STATE_EXITED, memory_order_release);
	}
}

int
osp_thread_poll(struct osp_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct osp_thread *orig = tls_thread;
	uint64_t end;
	int rc = 0;

	if (osp_unlikely(thread_state(thread) == THREAD_STATE_EXITED)) {
		return -1;
	}
	tls_thread = thread;
	if (now == 0) {
		now = osp_get_ticks();
	}
	thread->tsc_last = now;

	if (thread_run_msgs(thread, max_msgs) > 0) {
		rc = 1;
	}
	if (osp_unlikely(atomic_load_explicit(&thread->critical_msg,
					      memory_order_relaxed) != NULL)) {
		osp_msg_fn fn = atomic_exchange(&thread->critical_msg, NULL);

		if (fn != NULL) {
			fn(NULL);
			rc = 1;
		}
	}
	if (thread_run_active_pollers(thread) > 0) {
		rc = 1;
	}
	if (thread->next_timed_tick <= now && thread_run_timed_pollers(thread, now) > 0) {
		rc = 1;
	}
	if (osp_unlikely(thread_state(thread) == THREAD_STATE_EXITING)) {
		thread_exit_check(thread, now);
	}

	/* Ticks of this iteration; fake clocks in the past of the TSC count as 0. */
	end = osp_get_ticks();
	if (end > now) {
		if (rc > 0) {
			thread->stats.busy_tsc += end - now;
		} else {
			thread->stats.idle_tsc += end - now;
		}
	}
	tls_thread = orig;
	return rc;
}

uint64_t
osp_thread_next_poller_expiration(struct osp_thread *thread)
{
	uint64_t next = thread->next_timed_tick;

	/* An exiting thread must be polled again by its forced-exit deadline. */
	if (thread_state(thread) == THREAD_STATE_EXITING && thread->exit_deadline < next) {
		next = thread->exit_deadline;
	}
	return next == UINT64_MAX ? 0 : next;
}

int
osp_thread_has_active_pollers(struct osp_thread *thread)
{
	return (int)thread->active_count;
}

bool
osp_thread_has_pollers(struct osp_thread *thread)
{
	return thread->active_count + thread->timed_count + thread->paused_count > 0;
}

bool
osp_thread_is_idle(struct osp_thread *thread)
{
	return osp_ring_count(thread->messages) == 0 && thread->active_count == 0 &&
	       atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) == NULL;
}

/* ---- sleep support ---- */

bool
osp_thread_prepare_sleep(struct osp_thread *thread)
{
	if (thread->wake_efd < 0) {
		return false;
	}
	if (thread_state(thread) == THREAD_STATE_EXITED) {
		return true;
	}
	atomic_store(&thread->sleeping, 1);
	/* Pairs with the fence in thread_wake(). */
	atomic_thread_fence(memory_order_seq_cst);
	if (osp_ring_count(thread->messages) > 0 ||
	    atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) != NULL) {
		atomic_store_explicit(&thread->sleeping, 0, memory_order_relaxed);
		return false;
	}
	return true;
}

void
osp_thread_end_sleep(struct osp_thread *thread)
{
	uint64_t val;

	atomic_store_explicit(&thread->sleeping, 0, memory_order_relaxed);
	if (thread->wake_efd >= 0) {
		/* Non-blocking: clears a wake-up (even a late one) or fails with EAGAIN. */
		if (read(thread->wake_efd, &val, sizeof(val)) < 0) {
			/* nothing was pending */
		}
	}
}

int
osp_thread_get_interrupt_fd(struct osp_thread *thread)
{
	return thread != NULL ? thread->epfd : -1;
}

static int
thread_wake_fd_ctl(int op, int fd, uint32_t events)
{
	struct osp_thread *thread = tls_thread;
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (thread == NULL || thread->epfd < 0 || fd < 0) {
		return -EINVAL;
	}
	if (epoll_ctl(thread->epfd, op, fd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

int
osp_thread_add_wake_fd(int fd, uint32_t events)
{
	return thread_wake_fd_ctl(EPOLL_CTL_ADD, fd, events);
}

int
osp_thread_mod_wake_fd(int fd, uint32_t events)
{
	return thread_wake_fd_ctl(EPOLL_CTL_MOD, fd, events);
}

void
osp_thread_remove_wake_fd(int fd)
{
	thread_wake_fd_ctl(EPOLL_CTL_DEL, fd, 0);
}

/* ---- lookups and stats ---- */

uint32_t
osp_thread_get_count(void)
{
	uint32_t count;

	pthread_mutex_lock(&g_lock);
	count = g_thread_count;
	pthread_mutex_unlock(&g_lock);
	return count;
}

struct osp_thread *
osp_thread_get_app_thread(void)
{
	return g_app_thread;
}

bool
osp_thread_is_app_thread(struct osp_thread *thread)
{
	if (thread == NULL) {
		thread = tls_thread;
	}
	return thread != NULL && thread == g_app_thread;
}

const char *
osp_thread_get_name(const struct osp_thread *thread)
{
	return thread->name;
}

uint64_t
osp_thread_get_id(const struct osp_thread *thread)
{
	return thread->id;
}

struct osp_thread *
osp_thread_get_by_id(uint64_t id)
{
	struct osp_thread *thread;

	pthread_mutex_lock(&g_lock);
	TAILQ_FOREACH(thread, &g_threads, link) {
		if (thread->id == id) {
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return thread;
}

struct osp_thread *
osp_thread_get_first(void)
{
	struct osp_thread *thread;

	pthread_mutex_lock(&g_lock);
	thread = TAILQ_FIRST(&g_threads);
	pthread_mutex_unlock(&g_lock);
	return thread;
}

struct osp_thread *
osp_thread_get_next(struct osp_thread *prev)
{
	struct osp_thread *thread;

	if (prev == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_lock);
	thread = TAILQ_NEXT(prev, link);
	pthread_mutex_unlock(&g_lock);
	return thread;
}

int
osp_thread_get_stats(struct osp_thread_stats *stats)
{
	if (tls_thread == NULL || stats == NULL) {
		return -EINVAL;
	}
	*stats = tls_thread->stats;
	return 0;
}

void
osp_thread_get_stats_of(struct osp_thread *thread, struct osp_thread_stats *stats)
{
	stats->busy_tsc = thread->stats.busy_tsc;
	stats->idle_tsc = thread->stats.idle_tsc;
}

uint64_t
osp_thread_get_last_tsc(struct osp_thread *thread)
{
	if (thread == NULL) {
		thread = tls_thread;
	}
	return thread != NULL ? thread->tsc_last : osp_get_ticks();
}

/* ---- for_each_thread ---- */

struct for_each_thread_ctx {
	osp_msg_fn fn;
	void *ctx;
	osp_msg_fn cpl;
	struct osp_thread *orig_thread;
	struct osp_thread *cur_thread;
};

static void for_each_thread_call(void *arg);

static void
for_each_thread_done(void *arg)
{
	struct for_each_thread_ctx *it = arg;

	it->orig_thread->pending_ops--;
	if (it->cpl != NULL) {
		it->cpl(it->ctx);
	}
	free(it);
}

/* Send the iteration to the first live thread after `after` (NULL: from the first). */
static void
for_each_thread_send(struct for_each_thread_ctx *it, struct osp_thread *after)
{
	struct osp_thread *thread;

	/* Holding g_lock keeps the target from being destroyed under us. */
	pthread_mutex_lock(&g_lock);
	thread = after != NULL ? TAILQ_NEXT(after, link) : TAILQ_FIRST(&g_threads);
	for (; thread != NULL; thread = TAILQ_NEXT(thread, link)) {
		it->cur_thread = thread;
		if (thread_send_msg(thread, for_each_thread_call, it) == 0) {
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (thread == NULL &&
	    osp_thread_send_msg(it->orig_thread, for_each_thread_done, it) != 0) {
		OSP_ERRLOG("cannot complete for_each_thread on thread %s\n",
			   it->orig_thread->name);
	}
}

static void
for_each_thread_call(void *arg)
{
	struct for_each_thread_ctx *it = arg;

	it->fn(it->ctx);
	for_each_thread_send(it, it->cur_thread);
}

/*
 * An iteration's completion is a continuation nobody could retry: rather than
 * return without ever calling it, a misuse (no current thread) or a failed
 * allocation of a few dozen bytes on the control path stops the process.
 */
static void *
for_each_alloc(struct osp_thread *thread, size_t size, const char *what)
{
	void *it;

	if (thread == NULL) {
		OSP_ERRLOG("%s called outside an osp_thread: its completion could never run\n",
			   what);
		abort();
	}
	it = calloc(1, size);
	if (it == NULL) {
		OSP_ERRLOG("%s on thread %s: out of memory for the iterator\n", what, thread->name);
		abort();
	}
	return it;
}

void
osp_for_each_thread(osp_msg_fn fn, void *ctx, osp_msg_fn cpl)
{
	struct osp_thread *thread = tls_thread;
	struct for_each_thread_ctx *it;

	it = for_each_alloc(thread, sizeof(*it), "osp_for_each_thread");
	it->fn = fn;
	it->ctx = ctx;
	it->cpl = cpl;
	it->orig_thread = thread;
	thread->pending_ops++;
	for_each_thread_send(it, NULL);
}

/* ---- I/O devices ---- */

static struct io_device *
io_device_find(void *io_device)
{
	struct io_device *dev;

	TAILQ_FOREACH(dev, &g_io_devices, link) {
		if (dev->io_device == io_device) {
			return dev;
		}
	}
	return NULL;
}

void
osp_io_device_register(void *io_device, osp_io_channel_create_cb create_cb,
		       osp_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
		       const char *name)
{
	struct io_device *dev;

	if (io_device == NULL) {
		OSP_ERRLOG("NULL io_device\n");
		return;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		OSP_ERRLOG("out of memory registering io_device %p\n", io_device);
		return;
	}
	dev->io_device = io_device;
	dev->create_cb = create_cb;
	dev->destroy_cb = destroy_cb;
	dev->ctx_size = ctx_size;
	if (name != NULL) {
		snprintf(dev->name, sizeof(dev->name), "%s", name);
	} else {
		snprintf(dev->name, sizeof(dev->name), "%p", io_device);
	}

	pthread_mutex_lock(&g_lock);
	if (io_device_find(io_device) != NULL) {
		pthread_mutex_unlock(&g_lock);
		OSP_ERRLOG("io_device %s (%p) already registered\n", dev->name, io_device);
		free(dev);
		return;
	}
	TAILQ_INSERT_TAIL(&g_io_devices, dev, link);
	pthread_mutex_unlock(&g_lock);
	OSP_DEBUGLOG(thread, "registered io_device %s (%p)\n", dev->name, io_device);
}

static void
io_device_unregister_done(void *arg)
{
	struct io_device *dev = arg;

	dev->unregister_thread->pending_ops--;
	OSP_DEBUGLOG(thread, "io_device %s (%p) unregistered\n", dev->name, dev->io_device);
	if (dev->unregister_cb != NULL) {
		dev->unregister_cb(dev->io_device);
	}
	free(dev);
}

/* Called without g_lock once io_device_unregister_ready() turned true. */
static void
io_device_finish_unregister(struct io_device *dev)
{
	if (osp_thread_send_msg(dev->unregister_thread, io_device_unregister_done, dev) != 0) {
		OSP_ERRLOG("cannot complete unregistration of %s on thread %s\n", dev->name,
			   dev->unregister_thread->name);
		free(dev);
	}
}

void
osp_io_device_unregister(void *io_device, osp_io_device_unregister_cb unregister_cb)
{
	struct osp_thread *thread = tls_thread;
	struct io_device *dev;
	bool ready;

	if (thread == NULL) {
		OSP_ERRLOG("no current thread\n");
		return;
	}
	pthread_mutex_lock(&g_lock);
	dev = io_device_find(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_lock);
		OSP_ERRLOG("io_device %p not registered\n", io_device);
		return;
	}
	/* Gone from the list: no new channels or iterations from here on. */
	TAILQ_REMOVE(&g_io_devices, dev, link);
	dev->unregistered = true;
	dev->unregister_cb = unregister_cb;
	dev->unregister_thread = thread;
	thread->pending_ops++;
	ready = io_device_unregister_ready(dev);
	pthread_mutex_unlock(&g_lock);

	OSP_DEBUGLOG(thread, "unregistering io_device %s: %" PRIu32 " channels left\n",
		     dev->name, dev->channel_count);
	if (ready) {
		io_device_finish_unregister(dev);
	}
}

const char *
osp_io_device_get_name(void *io_device)
{
	struct io_device *dev;

	pthread_mutex_lock(&g_lock);
	dev = io_device_find(io_device);
	pthread_mutex_unlock(&g_lock);
	return dev != NULL ? dev->name : NULL;
}

/* ---- I/O channels ---- */

static struct osp_io_channel *
thread_find_channel(struct osp_thread *thread, struct io_device *dev)
{
	struct osp_io_channel *ch;

	TAILQ_FOREACH(ch, &thread->io_channels, link) {
		if (ch->dev == dev) {
			return ch;
		}
	}
	return NULL;
}

/* Unlink ch, account for it in its device and free it; destroy_cb already ran. */
static void
channel_free(struct osp_io_channel *ch)
{
	struct io_device *dev = ch->dev;
	bool ready;

	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&ch->thread->io_channels, ch, link);
	dev->channel_count--;
	ready = io_device_unregister_ready(dev);
	pthread_mutex_unlock(&g_lock);
	free(ch);
	if (ready) {
		io_device_finish_unregister(dev);
	}
}

struct osp_io_channel *
osp_get_io_channel(void *io_device)
{
	struct osp_thread *thread = tls_thread;
	struct io_device *dev;
	struct osp_io_channel *ch;
	int rc;

	if (thread == NULL) {
		OSP_ERRLOG("no current thread\n");
		return NULL;
	}
	if (thread_state(thread) == THREAD_STATE_EXITED) {
		OSP_ERRLOG("thread %s has exited\n", thread->name);
		return NULL;
	}

	pthread_mutex_lock(&g_lock);
	dev = io_device_find(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_lock);
		OSP_ERRLOG("io_device %p not registered\n", io_device);
		return NULL;
	}
	ch = thread_find_channel(thread, dev);
	if (ch != NULL) {
		/* Also revives a channel whose deferred destroy has not run yet. */
		ch->ref++;
		pthread_mutex_unlock(&g_lock);
		return ch;
	}
	ch = calloc(1, sizeof(*ch) + dev->ctx_size);
	if (ch == NULL) {
		pthread_mutex_unlock(&g_lock);
		OSP_ERRLOG("out of memory for a channel to %s\n", dev->name);
		return NULL;
	}
	ch->thread = thread;
	ch->dev = dev;
	ch->ref = 1;
	TAILQ_INSERT_TAIL(&thread->io_channels, ch, link);
	dev->channel_count++;
	pthread_mutex_unlock(&g_lock);

	/* Outside the lock: create_cb may get channels to other devices. */
	rc = dev->create_cb != NULL ? dev->create_cb(io_device, ch->ctx) : 0;
	if (rc != 0) {
		OSP_ERRLOG("create_cb of %s failed on thread %s: %d\n", dev->name, thread->name,
			   rc);
		channel_free(ch);
		return NULL;
	}
	OSP_DEBUGLOG(thread, "channel %p to %s created on thread %s\n", (void *)ch, dev->name,
		     thread->name);
	return ch;
}

static void
channel_release(void *arg)
{
	struct osp_io_channel *ch = arg;

	ch->destroy_pending = false;
	if (ch->ref > 0) {
		/* Somebody got it again meanwhile. */
		return;
	}
	OSP_DEBUGLOG(thread, "channel %p to %s destroyed on thread %s\n", (void *)ch,
		     ch->dev->name, ch->thread->name);
	if (ch->dev->destroy_cb != NULL) {
		ch->dev->destroy_cb(ch->dev->io_device, ch->ctx);
	}
	channel_free(ch);
}

void
osp_put_io_channel(struct osp_io_channel *ch)
{
	if (ch == NULL) {
		return;
	}
	if (osp_unlikely(ch->thread != tls_thread)) {
		OSP_ERRLOG("channel to %s put on thread %s, it belongs to %s\n", ch->dev->name,
			   tls_thread != NULL ? tls_thread->name : "none", ch->thread->name);
		return;
	}
	if (osp_unlikely(ch->ref == 0)) {
		OSP_ERRLOG("channel to %s put more times than it was got\n", ch->dev->name);
		return;
	}
	ch->ref--;
	if (ch->ref == 0 && !ch->destroy_pending) {
		/* Deferred: the caller's call chain may still use the channel. */
		ch->destroy_pending = true;
		if (osp_thread_send_msg(ch->thread, channel_release, ch) != 0) {
			ch->destroy_pending = false;
			OSP_ERRLOG("cannot defer the release of a channel to %s\n", ch->dev->name);
		}
	}
}

void *
osp_io_channel_get_ctx(struct osp_io_channel *ch)
{
	return ch->ctx;
}

struct osp_io_channel *
osp_io_channel_from_ctx(void *ctx)
{
	return OSP_CONTAINEROF(ctx, struct osp_io_channel, ctx);
}

struct osp_thread *
osp_io_channel_get_thread(struct osp_io_channel *ch)
{
	return ch->thread;
}

void *
osp_io_channel_get_io_device(struct osp_io_channel *ch)
{
	return ch->dev->io_device;
}

uint32_t
osp_io_channel_get_ref_count(struct osp_io_channel *ch)
{
	return ch->ref;
}

/* ---- for_each_channel ---- */

static void for_each_channel_call(void *arg);

static void
for_each_channel_done(void *arg)
{
	struct osp_io_channel_iter *i = arg;
	struct io_device *dev;
	bool ready = false;

	if (i->dev != NULL) {
		pthread_mutex_lock(&g_lock);
		i->dev->for_each_count--;
		ready = io_device_unregister_ready(i->dev);
		pthread_mutex_unlock(&g_lock);
	}
	i->orig_thread->pending_ops--;
	i->ch = NULL;
	if (i->cpl != NULL) {
		i->cpl(i, i->status);
	}
	dev = i->dev;
	free(i);
	if (ready) {
		io_device_finish_unregister(dev);
	}
}

static void
for_each_channel_complete(struct osp_io_channel_iter *i)
{
	if (osp_thread_send_msg(i->orig_thread, for_each_channel_done, i) != 0) {
		OSP_ERRLOG("cannot complete for_each_channel on thread %s\n", i->orig_thread->name);
	}
}

/* Send the iteration to the next thread after `after` (NULL: the first) with a channel. */
static void
for_each_channel_next(struct osp_io_channel_iter *i, struct osp_thread *after)
{
	struct osp_thread *thread;

	pthread_mutex_lock(&g_lock);
	thread = after != NULL ? TAILQ_NEXT(after, link) : TAILQ_FIRST(&g_threads);
	for (; thread != NULL; thread = TAILQ_NEXT(thread, link)) {
		if (thread_find_channel(thread, i->dev) == NULL) {
			continue;
		}
		i->cur_thread = thread;
		/* Under g_lock, so thread cannot be destroyed before the send. */
		if (thread_send_msg(thread, for_each_channel_call, i) == 0) {
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (thread == NULL) {
		for_each_channel_complete(i);
	}
}

static void
for_each_channel_call(void *arg)
{
	struct osp_io_channel_iter *i = arg;
	struct osp_io_channel *ch;

	/* Look again: the channel may have been destroyed since it was seen. */
	ch = thread_find_channel(i->cur_thread, i->dev);
	if (ch != NULL && ch->ref > 0) {
		i->ch = ch;
		i->fn(i);
	} else {
		for_each_channel_next(i, i->cur_thread);
	}
}

void
osp_for_each_channel(void *io_device, osp_channel_msg fn, void *ctx,
		     osp_channel_for_each_cpl cpl)
{
	struct osp_thread *thread = tls_thread;
	struct osp_io_channel_iter *i;
	struct io_device *dev;

	i = for_each_alloc(thread, sizeof(*i), "osp_for_each_channel");
	i->io_device = io_device;
	i->fn = fn;
	i->ctx = ctx;
	i->cpl = cpl;
	i->orig_thread = thread;
	thread->pending_ops++;

	pthread_mutex_lock(&g_lock);
	dev = io_device_find(io_device);
	if (dev != NULL) {
		dev->for_each_count++;
		i->dev = dev;
	}
	pthread_mutex_unlock(&g_lock);

	if (dev == NULL) {
		OSP_ERRLOG("for_each_channel on unregistered io_device %p\n", io_device);
		i->status = -ENODEV;
		for_each_channel_complete(i);
		return;
	}
	for_each_channel_next(i, NULL);
}

void
osp_for_each_channel_continue(struct osp_io_channel_iter *i, int status)
{
	if (osp_unlikely(tls_thread != i->cur_thread)) {
		OSP_ERRLOG("for_each_channel continued on thread %s instead of %s\n",
			   tls_thread != NULL ? tls_thread->name : "none", i->cur_thread->name);
	}
	i->ch = NULL;
	if (status != 0) {
		i->status = status;
		for_each_channel_complete(i);
		return;
	}
	for_each_channel_next(i, i->cur_thread);
}

void *
osp_io_channel_iter_get_io_device(struct osp_io_channel_iter *i)
{
	return i->io_device;
}

struct osp_io_channel *
osp_io_channel_iter_get_channel(struct osp_io_channel_iter *i)
{
	return i->ch;
}

void *
osp_io_channel_iter_get_ctx(struct osp_io_channel_iter *i)
{
	return i->ctx;
}

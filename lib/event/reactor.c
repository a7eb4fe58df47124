/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reactors: one pinned OS thread per core of the core mask. Each runs the
 * osp_threads placed on it and the events other reactors send it. When every
 * thread on a reactor is idle for a while, the reactor blocks in epoll on its
 * event eventfd and on the interrupt fds of its threads (messages, timers and
 * the fds its pollers registered) until there is work again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "osprey/queue.h"
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "event_internal.h"
#include "osprey/log.h"
#include "osprey/util.h"

OSP_LOG_REGISTER_COMPONENT(reactor)

#define REACTOR_EVENT_BATCH	32
#define REACTOR_EVENT_RING_SIZE	65536
#define EVENT_POOL_SIZE		(262144 - 1)
/* Idle this long before sleeping, so that short gaps under load never pay a wake-up. */
#define REACTOR_IDLE_BEFORE_SLEEP_US	200

struct osp_event {
	uint32_t lcore;
	osp_event_fn fn;
	void *arg1;
	void *arg2;
};

struct reactor;

/* Per-thread context the thread library reserves for us. */
struct lw_thread {
	TAILQ_ENTRY(lw_thread) link;
	struct reactor *reactor;
	uint64_t tsc_start;
	bool resched;
	bool last_busy;
};

struct reactor {
	uint32_t lcore;
	pid_t tid;
	struct osp_ring *events;
	int epfd;
	int evfd;
	atomic_int sleeping;
	bool in_interrupt;
	bool exiting;
	TAILQ_HEAD(, lw_thread) threads;
	uint32_t thread_count;
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t last_busy_tsc;
	uint64_t sleep_count;
} __attribute__((aligned(OSP_CACHE_LINE_SIZE)));

enum reactor_state {
	REACTOR_STATE_INVALID,
	REACTOR_STATE_INITIALIZED,
	REACTOR_STATE_RUNNING,
	REACTOR_STATE_EXITING,
	REACTOR_STATE_SHUTDOWN,
};

static struct reactor *g_reactors;
static uint32_t g_reactor_count_max;
static _Atomic enum reactor_state g_reactor_state = REACTOR_STATE_INVALID;
static struct osp_mempool *g_event_pool;
static bool g_interrupt_mode = true;
static __thread struct reactor *tls_reactor;
static atomic_uint g_next_core;

static struct reactor *
reactor_get(uint32_t lcore)
{
	if (g_reactors == NULL || lcore >= g_reactor_count_max || g_reactors[lcore].events == NULL) {
		return NULL;
	}
	return &g_reactors[lcore];
}

uint32_t
reactor_current_lcore(void)
{
	return tls_reactor ? tls_reactor->lcore : OSP_ENV_LCORE_ID_ANY;
}

void
osp_reactor_set_interrupt_mode(bool enabled)
{
	g_interrupt_mode = enabled;
}

bool
osp_reactor_get_interrupt_mode(void)
{
	return g_interrupt_mode;
}

static void
reactor_wake(struct reactor *r)
{
	uint64_t one = 1;

	/* Pairs with the fence in reactor_sleep(): either it sees our event or we see it sleeping. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed)) {
		if (write(r->evfd, &one, sizeof(one)) < 0) {
			/* EAGAIN means the counter is already non-zero: it is awake anyway. */
		}
	}
}

struct osp_event *
osp_event_allocate(uint32_t lcore, osp_event_fn fn, void *arg1, void *arg2)
{
	struct osp_event *ev;

	if (reactor_get(lcore) == NULL) {
		OSP_ERRLOG("no reactor on core %u\n", lcore);
		return NULL;
	}
	ev = osp_mempool_get(g_event_pool);
	if (ev == NULL) {
		return NULL;
	}
	ev->lcore = lcore;
	ev->fn = fn;
	ev->arg1 = arg1;
	ev->arg2 = arg2;
	return ev;
}

void
osp_event_call(struct osp_event *event)
{
	struct reactor *r = reactor_get(event->lcore);
	void *obj = event;

	if (osp_ring_enqueue(r->events, &obj, 1, NULL) != 1) {
		OSP_ERRLOG("event ring of core %u is full\n", event->lcore);
		abort();
	}
	reactor_wake(r);
}

static int
reactor_process_events(struct reactor *r)
{
	void *evs[REACTOR_EVENT_BATCH];
	size_t n, i;

	n = osp_ring_dequeue(r->events, evs, REACTOR_EVENT_BATCH);
	if (n == 0) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct osp_event *ev = evs[i];

		ev->fn(ev->arg1, ev->arg2);
	}
	osp_mempool_put_bulk(g_event_pool, evs, n);
	return (int)n;
}

/* ---- placing threads ---- */

static void
reactor_add_thread_event(void *arg1, void *arg2)
{
	struct osp_thread *thread = arg1;
	struct reactor *r = tls_reactor;
	struct lw_thread *lw = osp_thread_get_ctx(thread);
	int fd = osp_thread_get_interrupt_fd(thread);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = lw };

	lw->reactor = r;
	lw->resched = false;
	lw->tsc_start = osp_get_ticks();
	if (fd >= 0 && epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		OSP_ERRLOG("cannot watch thread %s's interrupt fd: %s\n",
			   osp_thread_get_name(thread), strerror(errno));
	}
	TAILQ_INSERT_TAIL(&r->threads, lw, link);
	r->thread_count++;
	OSP_DEBUGLOG(reactor, "thread %s placed on core %u\n", osp_thread_get_name(thread), r->lcore);
}

static void
reactor_remove_thread(struct reactor *r, struct lw_thread *lw)
{
	struct osp_thread *thread = osp_thread_get_from_ctx(lw);
	int fd = osp_thread_get_interrupt_fd(thread);

	TAILQ_REMOVE(&r->threads, lw, link);
	r->thread_count--;
	if (fd >= 0) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
	}
	lw->reactor = NULL;
}

/* Pick a core for thread: round robin over reactors in its cpumask. */
static uint32_t
reactor_pick_core(struct osp_thread *thread)
{
	const struct osp_cpuset *mask = osp_thread_get_cpumask(thread);
	uint32_t i, n = g_reactor_count_max, start = atomic_fetch_add(&g_next_core, 1);

	for (i = 0; i < n; i++) {
		uint32_t c = (start + i) % n;

		if (reactor_get(c) == NULL) {
			continue;
		}
		if (mask == NULL || osp_cpuset_count(mask) == 0 || osp_cpuset_get_cpu(mask, c)) {
			return c;
		}
	}
	return osp_env_get_main_core();
}

static int
reactor_schedule_thread(struct osp_thread *thread)
{
	struct lw_thread *lw = osp_thread_get_ctx(thread);
	struct osp_event *ev;
	uint32_t core;

	memset(lw, 0, sizeof(*lw));
	/* The first thread is the app thread: it always lives on the main core. */
	core = osp_thread_is_app_thread(thread) ? osp_env_get_main_core() : reactor_pick_core(thread);
	ev = osp_event_allocate(core, reactor_add_thread_event, thread, NULL);
	if (ev == NULL) {
		return -ENOMEM;
	}
	osp_event_call(ev);
	return 0;
}

static int
reactor_thread_op(struct osp_thread *thread, enum osp_thread_op op)
{
	struct lw_thread *lw;

	switch (op) {
	case OSP_THREAD_OP_NEW:
		return reactor_schedule_thread(thread);
	case OSP_THREAD_OP_RESCHED:
		lw = osp_thread_get_ctx(thread);
		lw->resched = true;
		return 0;
	default:
		return -ENOTSUP;
	}
}

static bool
reactor_thread_op_supported(enum osp_thread_op op)
{
	return op == OSP_THREAD_OP_NEW || op == OSP_THREAD_OP_RESCHED;
}

/* ---- the loop ---- */

/* Block until there is work. Returns false if it found work before sleeping. */
static bool
reactor_sleep(struct reactor *r, uint64_t now)
{
	struct epoll_event evs[16];
	struct lw_thread *lw, *prepared_end = NULL;
	uint64_t next = 0, exp, hz = osp_get_ticks_hz(), val;
	struct timespec ts, *tsp = NULL;
	bool ok = true;
	int n = 0;

	atomic_store(&r->sleeping, 1);
	atomic_thread_fence(memory_order_seq_cst);
	/* reactors_stop() may have run on this very reactor: it could not wake us. */
	if (osp_ring_count(r->events) > 0 || (r->exiting && TAILQ_EMPTY(&r->threads)) ||
	    (!r->exiting && atomic_load(&g_reactor_state) != REACTOR_STATE_RUNNING)) {
		atomic_store(&r->sleeping, 0);
		return false;
	}
	TAILQ_FOREACH(lw, &r->threads, link) {
		struct osp_thread *t = osp_thread_get_from_ctx(lw);

		if (osp_thread_get_interrupt_fd(t) < 0 || !osp_thread_prepare_sleep(t)) {
			prepared_end = lw;
			ok = false;
			break;
		}
		exp = osp_thread_next_poller_expiration(t);
		if (exp != 0 && (next == 0 || exp < next)) {
			next = exp;
		}
	}
	if (ok && next != 0) {
		if (next <= now) {
			ok = false;
		} else {
			uint64_t ns = (next - now) * 1000000000ULL / hz;

			ts.tv_sec = ns / 1000000000ULL;
			ts.tv_nsec = ns % 1000000000ULL;
			tsp = &ts;
		}
	}
	if (ok) {
		r->in_interrupt = true;
		r->sleep_count++;
		n = epoll_pwait2(r->epfd, evs, OSP_COUNTOF(evs), tsp, NULL);
		if (n < 0 && errno != EINTR) {
			OSP_ERRLOG("epoll_pwait2: %s\n", strerror(errno));
		}
		r->in_interrupt = false;
	}
	atomic_store(&r->sleeping, 0);
	/*
	 * Drain the event fd only when epoll reported it (a syscall is ~1 µs
	 * here). A write that raced with an aborted sleep is drained on the
	 * next sleep, which it merely cuts short.
	 */
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			if (read(r->evfd, &val, sizeof(val)) < 0) {
				/* EAGAIN: already drained. */
			}
			break;
		}
	}
	TAILQ_FOREACH(lw, &r->threads, link) {
		if (lw == prepared_end) {
			break;
		}
		osp_thread_end_sleep(osp_thread_get_from_ctx(lw));
	}
	return ok;
}

static void
reactor_run_once(struct reactor *r)
{
	struct lw_thread *lw, *tmp;
	uint64_t now = osp_get_ticks(), end;
	bool busy;
	int rc;

	busy = reactor_process_events(r) > 0;
	TAILQ_FOREACH_SAFE(lw, &r->threads, link, tmp) {
		struct osp_thread *thread = osp_thread_get_from_ctx(lw);

		osp_set_thread(thread);
		rc = osp_thread_poll(thread, 0, now);
		osp_set_thread(NULL);
		lw->last_busy = rc > 0;
		busy |= rc > 0;

		if (osp_unlikely(lw->resched)) {
			struct osp_event *ev;
			uint32_t core;

			reactor_remove_thread(r, lw);
			core = reactor_pick_core(thread);
			ev = osp_event_allocate(core, reactor_add_thread_event, thread, NULL);
			if (ev == NULL) {
				OSP_ERRLOG("cannot move thread %s\n", osp_thread_get_name(thread));
				reactor_add_thread_event(thread, NULL);
			} else {
				osp_event_call(ev);
			}
			continue;
		}
		if (osp_unlikely(osp_thread_is_exited(thread))) {
			reactor_remove_thread(r, lw);
			osp_thread_destroy(thread);
		}
	}
	end = osp_get_ticks();
	if (busy) {
		r->busy_tsc += end - now;
		r->last_busy_tsc = end;
		return;
	}
	r->idle_tsc += end - now;
	if (g_interrupt_mode &&
	    end - r->last_busy_tsc > REACTOR_IDLE_BEFORE_SLEEP_US * osp_get_ticks_hz() / 1000000) {
		uint64_t t0 = end;

		reactor_sleep(r, end);
		r->idle_tsc += osp_get_ticks() - t0;
	}
}

static void
reactor_exit_threads(struct reactor *r)
{
	struct lw_thread *lw;

	TAILQ_FOREACH(lw, &r->threads, link) {
		struct osp_thread *thread = osp_thread_get_from_ctx(lw);

		if (osp_thread_is_running(thread)) {
			osp_set_thread(thread);
			osp_thread_exit(thread);
			osp_set_thread(NULL);
		}
	}
}

static int
reactor_run(void *arg)
{
	struct reactor *r = arg;

	tls_reactor = r;
	r->tid = (pid_t)syscall(SYS_gettid);
	r->last_busy_tsc = osp_get_ticks();
	OSP_DEBUGLOG(reactor, "reactor on core %u running\n", r->lcore);
	while (atomic_load_explicit(&g_reactor_state, memory_order_relaxed) == REACTOR_STATE_RUNNING) {
		reactor_run_once(r);
	}
	/* Exiting: ask every thread here to exit and poll them until they have. */
	r->exiting = true;
	reactor_exit_threads(r);
	while (!TAILQ_EMPTY(&r->threads)) {
		reactor_run_once(r);
		/* Threads moved here while exiting must exit too. */
		reactor_exit_threads(r);
	}
	tls_reactor = NULL;
	return 0;
}

int
reactors_init(void)
{
	uint32_t i;
	int rc;

	g_reactor_count_max = osp_env_get_last_core() + 1;
	g_reactors = calloc(g_reactor_count_max, sizeof(*g_reactors));
	if (g_reactors == NULL) {
		return -ENOMEM;
	}
	g_event_pool = osp_mempool_create("evtpool", EVENT_POOL_SIZE, sizeof(struct osp_event),
					  OSP_MEMPOOL_DEFAULT_CACHE_SIZE, OSP_ENV_SOCKET_ID_ANY);
	if (g_event_pool == NULL) {
		OSP_ERRLOG("cannot create the event pool\n");
		free(g_reactors);
		g_reactors = NULL;
		return -ENOMEM;
	}
	OSP_ENV_FOREACH_CORE(i) {
		struct reactor *r = &g_reactors[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		r->lcore = i;
		TAILQ_INIT(&r->threads);
		r->epfd = epoll_create1(EPOLL_CLOEXEC);
		r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		r->events = osp_ring_create(OSP_RING_TYPE_MP_SC, REACTOR_EVENT_RING_SIZE,
					    osp_env_get_socket_id(i));
		if (r->epfd < 0 || r->evfd < 0 || r->events == NULL ||
		    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0) {
			OSP_ERRLOG("cannot set up the reactor of core %u\n", i);
			reactors_fini();
			return -ENOMEM;
		}
	}
	rc = osp_thread_lib_init_ext(reactor_thread_op, reactor_thread_op_supported,
				     sizeof(struct lw_thread), OSP_DEFAULT_MSG_MEMPOOL_SIZE);
	if (rc != 0) {
		OSP_ERRLOG("thread library init failed: %d\n", rc);
		reactors_fini();
		return rc;
	}
	g_reactor_state = REACTOR_STATE_INITIALIZED;
	return 0;
}

void
reactors_fini(void)
{
	uint32_t i;

	if (g_reactor_state != REACTOR_STATE_INVALID) {
		osp_thread_lib_fini();
	}
	for (i = 0; g_reactors != NULL && i < g_reactor_count_max; i++) {
		struct reactor *r = &g_reactors[i];

		if (r->events != NULL) {
			osp_ring_free(r->events);
		}
		if (r->epfd > 0) {
			close(r->epfd);
		}
		if (r->evfd > 0) {
			close(r->evfd);
		}
	}
	free(g_reactors);
	g_reactors = NULL;
	if (g_event_pool != NULL) {
		osp_mempool_free(g_event_pool);
		g_event_pool = NULL;
	}
	g_reactor_state = REACTOR_STATE_INVALID;
}

/* Run the reactors: the main core's on the caller, the others on pinned threads. */
void
reactors_start(void)
{
	uint32_t i, main_core = osp_env_get_main_core();

	g_reactor_state = REACTOR_STATE_RUNNING;
	OSP_ENV_FOREACH_CORE(i) {
		if (i != main_core) {
			if (osp_env_thread_launch_pinned(i, reactor_run, &g_reactors[i]) != 0) {
				OSP_ERRLOG("cannot launch the reactor of core %u\n", i);
				abort();
			}
		}
	}
	reactor_run(&g_reactors[main_core]);
	osp_env_thread_wait_all();
	g_reactor_state = REACTOR_STATE_SHUTDOWN;
}

void
reactors_stop(void)
{
	uint32_t i;

	g_reactor_state = REACTOR_STATE_EXITING;
	OSP_ENV_FOREACH_CORE(i) {
		reactor_wake(&g_reactors[i]);
	}
}

/* ---- for each reactor ---- */

struct for_each_reactor_ctx {
	osp_event_fn fn;
	void *arg1;
	void *arg2;
	osp_event_fn cpl;
	uint32_t orig_core;
	uint32_t cur_core;
};

static void
for_each_reactor_step(void *arg1, void *arg2)
{
	struct for_each_reactor_ctx *ctx = arg1;
	struct osp_event *ev;
	uint32_t next;

	ctx->fn(ctx->arg1, ctx->arg2);
	next = osp_env_get_next_core(ctx->cur_core);
	while (next != UINT32_MAX && reactor_get(next) == NULL) {
		next = osp_env_get_next_core(next);
	}
	if (next == UINT32_MAX) {
		ev = osp_event_allocate(ctx->orig_core, ctx->cpl, ctx->arg1, ctx->arg2);
		free(ctx);
	} else {
		ctx->cur_core = next;
		ev = osp_event_allocate(next, for_each_reactor_step, ctx, NULL);
	}
	if (ev == NULL) {
		OSP_ERRLOG("event pool exhausted in for_each_reactor\n");
		abort();
	}
	osp_event_call(ev);
}

void
osp_for_each_reactor(osp_event_fn fn, void *arg1, void *arg2, osp_event_fn cpl)
{
	struct for_each_reactor_ctx *ctx = calloc(1, sizeof(*ctx));
	struct osp_event *ev;

	if (ctx == NULL) {
		/* cpl could never run: see osp_for_each_reactor() in event.h. */
		OSP_ERRLOG("for_each_reactor: out of memory for the iterator\n");
		abort();
	}
	ctx->fn = fn;
	ctx->arg1 = arg1;
	ctx->arg2 = arg2;
	ctx->cpl = cpl;
	ctx->orig_core = tls_reactor ? tls_reactor->lcore : osp_env_get_main_core();
	ctx->cur_core = osp_env_get_first_core();
	ev = osp_event_allocate(ctx->cur_core, for_each_reactor_step, ctx, NULL);
	if (ev == NULL) {
		OSP_ERRLOG("event pool exhausted in for_each_reactor\n");
		abort();
	}
	osp_event_call(ev);
}

/* ---- introspection for framework_get_reactors (runs on the reactor itself) ---- */

void
reactor_dump_current(cJSON *array)
{
	struct reactor *r = tls_reactor;
	struct lw_thread *lw;
	cJSON *obj, *threads;

	if (r == NULL) {
		return;
	}
	obj = cJSON_CreateObject();
	cJSON_AddNumberToObject(obj, "lcore", r->lcore);
	cJSON_AddNumberToObject(obj, "tid", r->tid);
	cJSON_AddNumberToObject(obj, "busy", (double)r->busy_tsc);
	cJSON_AddNumberToObject(obj, "idle", (double)r->idle_tsc);
	cJSON_AddBoolToObject(obj, "in_interrupt", g_interrupt_mode);
	cJSON_AddNumberToObject(obj, "sleep_count", (double)r->sleep_count);
	threads = cJSON_AddArrayToObject(obj, "lw_threads");
	TAILQ_FOREACH(lw, &r->threads, link) {
		struct osp_thread *t = osp_thread_get_from_ctx(lw);
		cJSON *th = cJSON_CreateObject();

		cJSON_AddStringToObject(th, "name", osp_thread_get_name(t));
		cJSON_AddNumberToObject(th, "id", (double)osp_thread_get_id(t));
		cJSON_AddStringToObject(th, "cpumask", osp_thread_get_cpumask(t) ?
					osp_cpuset_fmt(osp_thread_get_cpumask(t)) : "");
		cJSON_AddNumberToObject(th, "elapsed", (double)(osp_get_ticks() - lw->tsc_start));
		cJSON_AddItemToArray(threads, th);
	}
	cJSON_AddItemToArray(array, obj);
}

/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fcntl.h>
#include <setjmp.h>

#include <CUnit/Basic.h>

/*
 * A broken message budget calls abort(): here it jumps back into the test,
 * which checks what was logged. Only the budget check in thread.c aborts.
 */
static jmp_buf g_abort_jmp;
static bool g_abort_armed;

static void __attribute__((noreturn))
ut_abort(void)
{
	if (g_abort_armed) {
		g_abort_armed = false;
		longjmp(g_abort_jmp, 1);
	}
	abort();
}
#define abort() ut_abort()
#include "thread/thread.c"
#undef abort

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"
#include "osprey_internal/mock.h"

/* ---- helpers ---- */

static bool
fd_readable(int fd)
{
	struct epoll_event ev;

	return epoll_wait(fd, &ev, 1, 0) == 1;
}

/* ---- threads ---- */

static void
test_thread_create(void)
{
	struct osp_thread *t0, *t1, *t;
	int n = 0;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	t0 = ut_thread(0);
	t1 = ut_thread(1);
	CU_ASSERT_EQUAL(osp_thread_get_count(), 2);
	CU_ASSERT_PTR_EQUAL(osp_thread_get_app_thread(), t0);
	CU_ASSERT(osp_thread_is_app_thread(t0));
	CU_ASSERT(!osp_thread_is_app_thread(t1));
	CU_ASSERT_STRING_EQUAL(osp_thread_get_name(t1), "ut_thread1");
	CU_ASSERT_NOT_EQUAL(osp_thread_get_id(t0), osp_thread_get_id(t1));
	CU_ASSERT_PTR_EQUAL(osp_thread_get_by_id(osp_thread_get_id(t1)), t1);
	CU_ASSERT_PTR_NULL(osp_thread_get_by_id(UINT64_MAX));
	for (t = osp_thread_get_first(); t != NULL; t = osp_thread_get_next(t)) {
		CU_ASSERT(t == (n == 0 ? t0 : t1));
		n++;
	}
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT(osp_thread_is_running(t0));
	CU_ASSERT(!osp_thread_is_exited(t0));
	CU_ASSERT(osp_thread_is_idle(t0));
	CU_ASSERT_PTR_NULL(osp_get_thread());
	ut_set_thread(1);
	CU_ASSERT_PTR_EQUAL(osp_get_thread(), t1);
	CU_ASSERT_EQUAL(ut_get_thread_index(), 1);
	CU_ASSERT(osp_thread_get_interrupt_fd(t0) >= 0);
	CU_ASSERT_EQUAL(osp_thread_set_cpumask((struct osp_cpuset *)osp_thread_get_cpumask(t1)),
			-ENOTSUP);
	/* ctx_sz 0: no scheduler context */
	CU_ASSERT_PTR_NULL(osp_thread_get_ctx(t0));
	ut_free_threads();
	CU_ASSERT_PTR_NULL(osp_get_thread());
}

static int g_sched_calls;
static enum osp_thread_op g_sched_last_op;

static int
sched_op(struct osp_thread *thread, enum osp_thread_op op)
{
	uint64_t *ctx = osp_thread_get_ctx(thread);

	g_sched_calls++;
	g_sched_last_op = op;
	CU_ASSERT_PTR_NOT_NULL(ctx);
	CU_ASSERT_PTR_EQUAL(osp_thread_get_from_ctx(ctx), thread);
	CU_ASSERT_EQUAL(((uintptr_t)ctx) % OSP_CACHE_LINE_SIZE, 0);
	if (ctx != NULL) {
		ctx[0] = 0xabcd;
	}
	return 0;
}

OSP_DEFINE_STUB(sched_supported, bool, (enum osp_thread_op op), true)
OSP_DEFINE_STUB(refuse_thread, int, (struct osp_thread *thread), -EPERM)

static void
test_thread_lib_ext(void)
{
	struct osp_thread *t;
	struct osp_cpuset mask;

	g_sched_calls = 0;
	CU_ASSERT_EQUAL(osp_thread_lib_init_ext(sched_op, sched_supported, 128, 1023), 0);
	CU_ASSERT_EQUAL(osp_thread_lib_init_ext(sched_op, sched_supported, 128, 1023), -EALREADY);
	t = osp_thread_create(NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(g_sched_calls, 1);
	CU_ASSERT_EQUAL(g_sched_last_op, OSP_THREAD_OP_NEW);
	CU_ASSERT_EQUAL(*(uint64_t *)osp_thread_get_ctx(t), 0xabcd);
	CU_ASSERT(strncmp(osp_thread_get_name(t), "osp_thread", 10) == 0);
	/* Default cpumask: every core of the env. */
	CU_ASSERT(osp_cpuset_get_cpu(osp_thread_get_cpumask(t), osp_env_get_first_core()));

	osp_set_thread(t);
	osp_cpuset_zero(&mask);
	CU_ASSERT_EQUAL(osp_thread_set_cpumask(&mask), -EINVAL);
	osp_cpuset_set_cpu(&mask, 0, true);
	CU_ASSERT_EQUAL(osp_thread_set_cpumask(&mask), 0);
	CU_ASSERT_EQUAL(g_sched_calls, 2);
	CU_ASSERT_EQUAL(g_sched_last_op, OSP_THREAD_OP_RESCHED);

	CU_ASSERT_EQUAL(osp_thread_exit(t), 0);
	CU_ASSERT_EQUAL(osp_thread_poll(t, 0, 0), 0);
	CU_ASSERT(osp_thread_is_exited(t));
	CU_ASSERT_EQUAL(osp_thread_poll(t, 0, 0), -1);
	osp_set_thread(NULL);
	osp_thread_destroy(t);
	CU_ASSERT_EQUAL(osp_thread_get_count(), 0);
	osp_thread_lib_fini();

	/* A scheduler that refuses the thread makes the create fail cleanly. */
	CU_ASSERT_EQUAL(osp_thread_lib_init(refuse_thread, 0), 0);
	UT_MOCK_CALLS(refuse_thread) = 0;
	CU_ASSERT_PTR_NULL(osp_thread_create("refused", NULL));
	CU_ASSERT_EQUAL(UT_MOCK_CALLS(refuse_thread), 1);
	CU_ASSERT_EQUAL(osp_thread_get_count(), 0);
	osp_thread_lib_fini();
	CU_ASSERT_PTR_NULL(osp_thread_create("no lib", NULL));
}

/* ---- messages ---- */

#define MSG_LOG_MAX 4096
static int g_msg_log[MSG_LOG_MAX];
static int g_msg_log_len;
static struct osp_thread *g_msg_thread[MSG_LOG_MAX];

static void
log_msg(void *ctx)
{
	if (g_msg_log_len < MSG_LOG_MAX) {
		g_msg_thread[g_msg_log_len] = osp_get_thread();
		g_msg_log[g_msg_log_len++] = (int)(uintptr_t)ctx;
	}
}

static void
send_back_msg(void *ctx)
{
	log_msg(ctx);
	/* Reply to thread 0 from thread 1. */
	CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(0), log_msg, (void *)(uintptr_t)100), 0);
}

static void
test_send_msg(void)
{
	int i, rc;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	g_msg_log_len = 0;

	/* Order is kept, and messages run on the target thread only. */
	ut_set_thread(0);
	for (i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(1), log_msg, (void *)(uintptr_t)i), 0);
	}
	CU_ASSERT(!osp_thread_is_idle(ut_thread(1)));
	CU_ASSERT_EQUAL(ut_poll_thread(0), 0);
	CU_ASSERT_EQUAL(g_msg_log_len, 0);
	CU_ASSERT_EQUAL(ut_poll_thread(1), 1);
	CU_ASSERT_EQUAL(g_msg_log_len, 10);
	for (i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(g_msg_log[i], i);
		CU_ASSERT_PTR_EQUAL(g_msg_thread[i], ut_thread(1));
	}
	CU_ASSERT(osp_thread_is_idle(ut_thread(1)));
	/* The poll restored the current thread. */
	CU_ASSERT_PTR_EQUAL(osp_get_thread(), ut_thread(0));

	/* Round trip. */
	g_msg_log_len = 0;
	CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(1), send_back_msg, (void *)(uintptr_t)7), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_msg_log_len, 2);
	CU_ASSERT_EQUAL(g_msg_log[0], 7);
	CU_ASSERT_PTR_EQUAL(g_msg_thread[0], ut_thread(1));
	CU_ASSERT_EQUAL(g_msg_log[1], 100);
	CU_ASSERT_PTR_EQUAL(g_msg_thread[1], ut_thread(0));

	/* From no osp_thread at all (any OS thread may send). */
	ut_set_thread(-1);
	g_msg_log_len = 0;
	CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(0), log_msg, (void *)(uintptr_t)3), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_msg_log_len, 1);

	/* Bursts: more messages than a burst and than the free-list cache. */
	ut_set_thread(0);
	g_msg_log_len = 0;
	for (i = 0; i < 3 * THREAD_MSG_CACHE_SIZE; i++) {
		rc = osp_thread_send_msg(ut_thread(1), log_msg, (void *)(uintptr_t)i);
		CU_ASSERT_EQUAL(rc, 0);
	}
	/* max_msgs bounds one poll. */
	CU_ASSERT_EQUAL(osp_thread_poll(ut_thread(1), 5, 0), 1);
	CU_ASSERT_EQUAL(g_msg_log_len, 5);
	CU_ASSERT_EQUAL(osp_thread_poll(ut_thread(1), 100, 0), 1);
	CU_ASSERT_EQUAL(g_msg_log_len, 105);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_msg_log_len, 3 * THREAD_MSG_CACHE_SIZE);
	for (i = 0; i < g_msg_log_len; i++) {
		if (g_msg_log[i] != i) {
			CU_FAIL("message order");
			break;
		}
	}
	CU_ASSERT(ut_thread(1)->msg_cache_count <= THREAD_MSG_CACHE_SIZE);

	/* A thread that has exited refuses messages. */
	ut_set_thread(1);
	CU_ASSERT_EQUAL(osp_thread_exit(ut_thread(1)), 0);
	CU_ASSERT(!osp_thread_is_running(ut_thread(1)));
	/* Exiting is not exited: messages are still accepted and drained. */
	g_msg_log_len = 0;
	CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(1), log_msg, (void *)(uintptr_t)1), 0);
	ut_poll_thread(1);
	CU_ASSERT_EQUAL(g_msg_log_len, 1);
	CU_ASSERT(osp_thread_is_exited(ut_thread(1)));
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_thread_send_msg(ut_thread(1), log_msg, NULL), -EIO);
	CU_ASSERT_EQUAL(osp_thread_poll(ut_thread(1), 0, 0), -1);

	/* Exit must be called on the thread itself. */
	CU_ASSERT_EQUAL(osp_thread_exit(ut_thread(1)), -EINVAL);
	ut_free_threads();
}


/*
 * Send up to max_sends messages to t (from t itself or from no thread) and
 * expect the budget to break: abort() reached, the reason and the thread
 * names on stderr.
 */
static void
expect_send_abort(struct osp_thread *t, bool from_thread, size_t max_sends, const char *why)
{
	static char out[8192];
	volatile size_t i = 0;
	volatile bool aborted = false;
	int pfd[2], saved;
	ssize_t n;

	CU_ASSERT_EQUAL_FATAL(pipe2(pfd, O_NONBLOCK), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(pfd[1], STDERR_FILENO);
	osp_set_thread(from_thread ? t : NULL);
	g_abort_armed = true;
	if (setjmp(g_abort_jmp) == 0) {
		for (i = 0; i < max_sends; i++) {
			osp_thread_send_msg(t, log_msg, NULL);
		}
	} else {
		aborted = true;
	}
	g_abort_armed = false;
	osp_set_thread(NULL);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(pfd[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	close(pfd[1]);
	CU_ASSERT(aborted);
	CU_ASSERT(i < max_sends);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, why));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, osp_thread_get_name(t)));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, from_thread ? osp_thread_get_name(t) :
				      "(not an osp_thread)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "aborting rather than losing a continuation"));
}

static void
test_send_msg_budget(void)
{
	struct osp_thread *t;

	/* A tiny pool: the send that finds it empty aborts; it never returns -ENOMEM. */
	CU_ASSERT_EQUAL(osp_thread_lib_init_ext(NULL, NULL, 0, 127), 0);
	t = osp_thread_create("tiny", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	expect_send_abort(t, false, 1000, "message pool exhausted");
	osp_set_thread(t);
	osp_thread_exit(t);
	while (osp_thread_poll(t, 0, 0) >= 0) {
	}
	osp_set_thread(NULL);
	/* Exited: the send is refused with -EIO (and logged), nothing queued. */
	CU_ASSERT_EQUAL(osp_thread_send_msg(t, log_msg, NULL), -EIO);
	osp_thread_destroy(t);
	osp_thread_lib_fini();

	/* A big pool: a thread that never polls fills its ring first. */
	CU_ASSERT_EQUAL(osp_thread_lib_init_ext(NULL, NULL, 0, 2 * THREAD_MSG_RING_SIZE), 0);
	t = osp_thread_create("flooded", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	expect_send_abort(t, true, THREAD_MSG_RING_SIZE + 1, "message ring full");
	osp_set_thread(t);
	osp_thread_exit(t);
	while (osp_thread_poll(t, 0, 0) >= 0) {
	}
	osp_set_thread(NULL);
	osp_thread_destroy(t);
	osp_thread_lib_fini();
	g_msg_log_len = 0;
}

static int g_critical_calls;
static void *g_critical_arg = (void *)1;

static void
critical_fn(void *ctx)
{
	g_critical_calls++;
	g_critical_arg = ctx;
}

static void
test_critical_msg(void)
{
	CU_ASSERT_EQUAL(ut_allocate_threads(1), 0);
	g_critical_calls = 0;
	CU_ASSERT_EQUAL(osp_thread_send_critical_msg(ut_thread(0), critical_fn), 0);
	/* One slot only. */
	CU_ASSERT_EQUAL(osp_thread_send_critical_msg(ut_thread(0), critical_fn), -EIO);
	CU_ASSERT(!osp_thread_is_idle(ut_thread(0)));
	CU_ASSERT(!osp_thread_prepare_sleep(ut_thread(0)));
	CU_ASSERT_EQUAL(ut_poll_thread(0), 1);
	CU_ASSERT_EQUAL(g_critical_calls, 1);
	CU_ASSERT_PTR_NULL(g_critical_arg);
	CU_ASSERT_EQUAL(ut_poll_thread(0), 0);
	CU_ASSERT_EQUAL(g_critical_calls, 1);
	CU_ASSERT_EQUAL(osp_thread_send_critical_msg(ut_thread(0), critical_fn), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_critical_calls, 2);
	ut_free_threads();
}

/* ---- pollers ---- */

struct poller_ctx {
	int calls;
	int ret;
	struct osp_poller *poller;
	struct osp_poller *other;	/* unregistered or paused by this poller */
	bool unregister_self;
	bool unregister_other;
	bool pause_self;
	bool pause_other;
	bool resume_other;
	struct osp_thread *thread;
};

static int
test_poller_fn(void *arg)
{
	struct poller_ctx *ctx = arg;

	ctx->calls++;
	ctx->thread = osp_get_thread();
	if (ctx->unregister_other) {
		ctx->unregister_other = false;
		osp_poller_unregister(&ctx->other);
	}
	if (ctx->pause_other) {
		ctx->pause_other = false;
		osp_poller_pause(ctx->other);
	}
	if (ctx->resume_other) {
		ctx->resume_other = false;
		osp_poller_resume(ctx->other);
	}
	if (ctx->pause_self) {
		ctx->pause_self = false;
		osp_poller_pause(ctx->poller);
	}
	if (ctx->unregister_self) {
		ctx->unregister_self = false;
		osp_poller_unregister(&ctx->poller);
	}
	return ctx->ret;
}

struct info_count {
	int n;
	struct osp_poller_info last[8];
};

static void
collect_info(const struct osp_poller_info *info, void *arg)
{
	struct info_count *c = arg;

	if (c->n < 8) {
		c->last[c->n] = *info;
	}
	c->n++;
}

static void
test_active_pollers(void)
{
	struct poller_ctx a = {0}, b = {0};
	struct osp_thread_stats stats;
	struct info_count info = {0};

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	ut_set_thread(0);
	CU_ASSERT_PTR_NULL(osp_poller_register(NULL, NULL, 0));
	a.ret = OSP_POLLER_BUSY;
	b.ret = OSP_POLLER_IDLE;
	a.poller = osp_poller_register_named(test_poller_fn, &a, 0, "poller_a");
	b.poller = OSP_POLLER_REGISTER(test_poller_fn, &b, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.poller);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.poller);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 2);
	CU_ASSERT(osp_thread_has_pollers(ut_thread(0)));
	CU_ASSERT(!osp_thread_is_idle(ut_thread(0)));
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(1)));
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), 0);

	/* Both run every iteration; one busy poller makes the iteration busy. */
	CU_ASSERT_EQUAL(ut_poll_thread(0), 1);
	CU_ASSERT_EQUAL(ut_poll_thread(0), 1);
	CU_ASSERT_EQUAL(a.calls, 2);
	CU_ASSERT_EQUAL(b.calls, 2);
	CU_ASSERT_PTR_EQUAL(a.thread, ut_thread(0));
	CU_ASSERT_EQUAL(ut_poll_thread(1), 0);
	CU_ASSERT_EQUAL(a.calls, 2);

	a.ret = OSP_POLLER_IDLE;
	CU_ASSERT_EQUAL(ut_poll_thread(0), 0);
	CU_ASSERT_EQUAL(osp_thread_get_stats(&stats), 0);
	CU_ASSERT(stats.busy_tsc > 0);
	CU_ASSERT(stats.idle_tsc > 0);
	ut_set_thread(-1);
	CU_ASSERT_EQUAL(osp_thread_get_stats(&stats), -EINVAL);
	ut_set_thread(0);

	osp_thread_foreach_poller(ut_thread(0), collect_info, &info);
	CU_ASSERT_EQUAL(info.n, 2);
	CU_ASSERT_STRING_EQUAL(info.last[0].name, "poller_a");
	CU_ASSERT_EQUAL(info.last[0].run_count, 3);
	CU_ASSERT_EQUAL(info.last[0].busy_count, 2);
	CU_ASSERT(!info.last[0].timed);
	CU_ASSERT(!info.last[0].paused);
	CU_ASSERT_STRING_EQUAL(info.last[1].name, "test_poller_fn");
	CU_ASSERT_EQUAL(info.last[1].busy_count, 0);
	CU_ASSERT_NOT_EQUAL(info.last[0].id, info.last[1].id);

	/* Unregister from another thread is refused (and only logged). */
	ut_set_thread(1);
	{
		struct osp_poller *p = a.poller;

		osp_poller_unregister(&p);
		CU_ASSERT_PTR_NULL(p);
	}
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 2);

	ut_set_thread(0);
	osp_poller_unregister(&a.poller);
	CU_ASSERT_PTR_NULL(a.poller);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 1);
	ut_poll_thread(0);
	CU_ASSERT_EQUAL(a.calls, 3);
	CU_ASSERT_EQUAL(b.calls, 4);
	osp_poller_unregister(&b.poller);
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(0)));
	CU_ASSERT(osp_thread_is_idle(ut_thread(0)));
	osp_poller_unregister(&b.poller); /* NULL: no-op */
	ut_free_threads();
}

static void
test_timed_pollers(void)
{
	struct poller_ctx a = {0}, b = {0};
	uint64_t hz = osp_get_ticks_hz();
	uint64_t t0 = 1000, pa, pb;
	struct info_count info = {0};

	CU_ASSERT_EQUAL(ut_allocate_threads(1), 0);
	ut_set_thread(0);
	/* Start the fake clock; pollers are timed from the last poll's tick. */
	ut_poll_thread_at(0, t0);
	CU_ASSERT_EQUAL(osp_thread_get_last_tsc(ut_thread(0)), t0);
	a.ret = OSP_POLLER_BUSY;
	a.poller = osp_poller_register_named(test_poller_fn, &a, 1000, "a");	/* 1 ms */
	b.poller = osp_poller_register_named(test_poller_fn, &b, 2500, "b");	/* 2.5 ms */
	pa = hz / 1000;
	pb = hz * 25 / 10000;
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 0);
	CU_ASSERT(osp_thread_has_pollers(ut_thread(0)));
	CU_ASSERT(osp_thread_is_idle(ut_thread(0)));
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), t0 + pa);

	osp_thread_foreach_poller(ut_thread(0), collect_info, &info);
	CU_ASSERT_EQUAL(info.n, 2);
	CU_ASSERT(info.last[0].timed);
	CU_ASSERT_EQUAL(info.last[0].period_ticks, pa);
	CU_ASSERT_EQUAL(info.last[1].period_ticks, pb);

	CU_ASSERT_EQUAL(ut_poll_thread_at(0, t0 + pa - 1), 0);
	CU_ASSERT_EQUAL(a.calls, 0);
	CU_ASSERT_EQUAL(ut_poll_thread_at(0, t0 + pa), 1);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(b.calls, 0);
	/* Rescheduled one period after the run. */
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), t0 + 2 * pa);
	CU_ASSERT_EQUAL(ut_poll_thread_at(0, t0 + pa + 1), 0);
	CU_ASSERT_EQUAL(a.calls, 1);
	/* Both expired: each runs once per iteration, idle b does not make it busy. */
	a.ret = OSP_POLLER_IDLE;
	CU_ASSERT_EQUAL(ut_poll_thread_at(0, t0 + 10 * pa), 0);
	CU_ASSERT_EQUAL(a.calls, 2);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), t0 + 11 * pa);

	/* Unregistering the first timed poller updates the cached expiration. */
	osp_poller_unregister(&a.poller);
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), t0 + 10 * pa + pb);
	osp_poller_unregister(&b.poller);
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), 0);
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(0)));
	ut_free_threads();
}

static void
test_poller_pause_resume(void)
{
	struct poller_ctx a = {0}, t = {0};
	uint64_t hz = osp_get_ticks_hz(), now = 5000;
	struct info_count info = {0};

	CU_ASSERT_EQUAL(ut_allocate_threads(1), 0);
	ut_set_thread(0);
	ut_poll_thread_at(0, now);
	a.poller = osp_poller_register(test_poller_fn, &a, 0);
	t.poller = osp_poller_register(test_poller_fn, &t, 100);

	/* Pause from outside. */
	osp_poller_pause(a.poller);
	osp_poller_pause(a.poller);	/* twice is fine */
	osp_poller_pause(t.poller);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 0);
	CU_ASSERT(osp_thread_has_pollers(ut_thread(0)));
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), 0);
	now += hz;
	ut_poll_thread_at(0, now);
	ut_poll_thread_at(0, now + 1);
	CU_ASSERT_EQUAL(a.calls, 0);
	CU_ASSERT_EQUAL(t.calls, 0);
	osp_thread_foreach_poller(ut_thread(0), collect_info, &info);
	CU_ASSERT_EQUAL(info.n, 2);
	CU_ASSERT(info.last[0].paused && info.last[1].paused);

	/* Resume: the timed one starts a fresh period from now. */
	osp_poller_resume(a.poller);
	osp_poller_resume(t.poller);
	osp_poller_resume(t.poller);	/* twice is fine */
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 1);
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)),
			now + 1 + hz / 10000);
	ut_poll_thread_at(0, now + 2);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(t.calls, 0);
	ut_poll_thread_at(0, now + 1 + hz / 10000);
	CU_ASSERT_EQUAL(a.calls, 2);
	CU_ASSERT_EQUAL(t.calls, 1);

	/* Pause from inside itself, active and timed. */
	a.pause_self = true;
	t.pause_self = true;
	now += hz;
	ut_poll_thread_at(0, now);
	CU_ASSERT_EQUAL(a.calls, 3);
	CU_ASSERT_EQUAL(t.calls, 2);
	ut_poll_thread_at(0, now + hz);
	CU_ASSERT_EQUAL(a.calls, 3);
	CU_ASSERT_EQUAL(t.calls, 2);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 0);

	/* A paused poller resumed by another poller; then paused by it. */
	osp_poller_resume(t.poller);
	t.other = a.poller;
	t.resume_other = true;
	now += 2 * hz;
	ut_poll_thread_at(0, now);
	CU_ASSERT_EQUAL(t.calls, 3);
	/* a is appended after the active pass: it runs from the next iteration */
	ut_poll_thread_at(0, now + 1);
	CU_ASSERT_EQUAL(a.calls, 4);

	/* Paused from inside itself, resumed from outside. */
	a.pause_self = true;
	ut_poll_thread_at(0, now + 2);
	CU_ASSERT_EQUAL(a.calls, 5);
	osp_poller_resume(a.poller);
	ut_poll_thread_at(0, now + 3);
	CU_ASSERT_EQUAL(a.calls, 6);

	/* Unregister while paused. */
	osp_poller_pause(a.poller);
	osp_poller_pause(t.poller);
	osp_poller_unregister(&a.poller);
	osp_poller_unregister(&t.poller);
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(0)));
	ut_poll_thread_at(0, now + 4 * hz);
	CU_ASSERT_EQUAL(a.calls, 6);
	ut_free_threads();
}

static void
test_poller_unregister_in_poller(void)
{
	struct poller_ctx a = {0}, b = {0}, c = {0}, t1 = {0}, t2 = {0};
	uint64_t hz = osp_get_ticks_hz(), now = 100;

	CU_ASSERT_EQUAL(ut_allocate_threads(1), 0);
	ut_set_thread(0);
	ut_poll_thread_at(0, now);

	/* Self-unregister. */
	a.poller = osp_poller_register(test_poller_fn, &a, 0);
	a.unregister_self = true;
	ut_poll_thread_at(0, ++now);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_PTR_NULL(a.poller);
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(0)));
	ut_poll_thread_at(0, ++now);
	CU_ASSERT_EQUAL(a.calls, 1);

	/* b unregisters c, which comes right after it in the list; then pauses... */
	b.poller = osp_poller_register(test_poller_fn, &b, 0);
	c.poller = osp_poller_register(test_poller_fn, &c, 0);
	b.other = c.poller;
	b.unregister_other = true;
	ut_poll_thread_at(0, ++now);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 1);
	ut_poll_thread_at(0, ++now);
	CU_ASSERT_EQUAL(c.calls, 0);

	/* ... the next one, which is then skipped too. */
	c.poller = osp_poller_register(test_poller_fn, &c, 0);
	b.other = c.poller;
	b.pause_other = true;
	ut_poll_thread_at(0, ++now);
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT_EQUAL(b.calls, 3);
	osp_poller_unregister(&c.poller);

	/* Timed: self-unregister and unregistering the next timed poller. */
	t1.poller = osp_poller_register(test_poller_fn, &t1, 10);
	t2.poller = osp_poller_register(test_poller_fn, &t2, 20);
	t1.unregister_self = true;
	t1.other = t2.poller;
	t1.unregister_other = true;
	now += hz;
	ut_poll_thread_at(0, now);
	CU_ASSERT_EQUAL(t1.calls, 1);
	CU_ASSERT_EQUAL(t2.calls, 0);
	CU_ASSERT_PTR_NULL(t1.poller);
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(ut_thread(0)), 0);

	/* An active poller unregisters a timed one; a timed one an active one. */
	t2.poller = osp_poller_register(test_poller_fn, &t2, 20);
	b.other = t2.poller;
	b.unregister_other = true;
	ut_poll_thread_at(0, now + hz);
	CU_ASSERT_EQUAL(t2.calls, 0);
	t1.poller = osp_poller_register(test_poller_fn, &t1, 10);
	t1.other = b.poller;
	t1.unregister_other = true;
	ut_poll_thread_at(0, now + 3 * hz);
	CU_ASSERT_EQUAL(t1.calls, 2);
	CU_ASSERT_EQUAL(osp_thread_has_active_pollers(ut_thread(0)), 0);
	osp_poller_unregister(&t1.poller);
	b.poller = NULL;
	CU_ASSERT(!osp_thread_has_pollers(ut_thread(0)));
	ut_free_threads();
}

/* ---- io_devices and channels ---- */

static int g_dev1, g_dev2;
static int g_create_calls, g_destroy_calls, g_unregister_calls;
static struct osp_thread *g_destroy_thread, *g_unregister_thread;
static int g_create_rc;

struct dev_ctx {
	uint64_t magic;
	struct osp_thread *thread;
};

static int
create_cb(void *io_device, void *ctx_buf)
{
	struct dev_ctx *ctx = ctx_buf;

	g_create_calls++;
	if (g_create_rc != 0) {
		return g_create_rc;
	}
	ctx->magic = 0x1234;
	ctx->thread = osp_get_thread();
	return 0;
}

static void
destroy_cb(void *io_device, void *ctx_buf)
{
	struct dev_ctx *ctx = ctx_buf;

	CU_ASSERT_EQUAL(ctx->magic, 0x1234);
	CU_ASSERT_PTR_EQUAL(ctx->thread, osp_get_thread());
	g_destroy_calls++;
	g_destroy_thread = osp_get_thread();
}

static void
unregister_cb(void *io_device)
{
	g_unregister_calls++;
	g_unregister_thread = osp_get_thread();
}

static void
reset_dev_counters(void)
{
	g_create_calls = g_destroy_calls = g_unregister_calls = 0;
	g_destroy_thread = g_unregister_thread = NULL;
	g_create_rc = 0;
}

static void
test_channel_refcount(void)
{
	struct osp_io_channel *ch1, *ch2, *ch3;
	struct dev_ctx *ctx;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	reset_dev_counters();
	ut_set_thread(0);
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), "dev1");
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), "dup");
	CU_ASSERT_STRING_EQUAL(osp_io_device_get_name(&g_dev1), "dev1");
	CU_ASSERT_PTR_NULL(osp_io_device_get_name(&g_dev2));
	CU_ASSERT_PTR_NULL(osp_get_io_channel(&g_dev2));

	ch1 = osp_get_io_channel(&g_dev1);
	ch2 = osp_get_io_channel(&g_dev1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ch1);
	CU_ASSERT_PTR_EQUAL(ch1, ch2);
	CU_ASSERT_EQUAL(g_create_calls, 1);
	CU_ASSERT_EQUAL(osp_io_channel_get_ref_count(ch1), 2);
	CU_ASSERT_PTR_EQUAL(osp_io_channel_get_thread(ch1), ut_thread(0));
	CU_ASSERT_PTR_EQUAL(osp_io_channel_get_io_device(ch1), &g_dev1);
	ctx = osp_io_channel_get_ctx(ch1);
	CU_ASSERT_EQUAL(ctx->magic, 0x1234);
	CU_ASSERT_PTR_EQUAL(osp_io_channel_from_ctx(ctx), ch1);
	CU_ASSERT_EQUAL(((uintptr_t)ctx) % 16, 0);

	/* Another thread gets its own channel. */
	ut_set_thread(1);
	ch3 = osp_get_io_channel(&g_dev1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ch3);
	CU_ASSERT_PTR_NOT_EQUAL(ch3, ch1);
	CU_ASSERT_EQUAL(g_create_calls, 2);
	/* Putting a channel of another thread is refused. */
	osp_put_io_channel(ch1);
	CU_ASSERT_EQUAL(osp_io_channel_get_ref_count(ch1), 2);

	/* The put at zero is deferred: the channel lives until the thread polls. */
	ut_set_thread(0);
	osp_put_io_channel(ch1);
	CU_ASSERT_EQUAL(osp_io_channel_get_ref_count(ch1), 1);
	osp_put_io_channel(ch2);
	CU_ASSERT_EQUAL(osp_io_channel_get_ref_count(ch1), 0);
	CU_ASSERT_EQUAL(g_destroy_calls, 0);
	CU_ASSERT_EQUAL(((struct dev_ctx *)osp_io_channel_get_ctx(ch1))->magic, 0x1234);
	/* Got again before the deferred destroy: revived, not destroyed. */
	ch2 = osp_get_io_channel(&g_dev1);
	CU_ASSERT_PTR_EQUAL(ch2, ch1);
	CU_ASSERT_EQUAL(g_create_calls, 2);
	osp_put_io_channel(ch2);	/* zero again, destroy already pending */
	ch2 = osp_get_io_channel(&g_dev1);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_destroy_calls, 0);
	CU_ASSERT_EQUAL(osp_io_channel_get_ref_count(ch2), 1);
	ut_set_thread(0);
	osp_put_io_channel(ch2);
	ut_poll_thread(1);
	CU_ASSERT_EQUAL(g_destroy_calls, 0);
	ut_poll_thread(0);
	CU_ASSERT_EQUAL(g_destroy_calls, 1);
	CU_ASSERT_PTR_EQUAL(g_destroy_thread, ut_thread(0));

	/* Thread 1's channel is destroyed on thread 1. */
	ut_set_thread(1);
	osp_put_io_channel(ch3);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_destroy_calls, 2);
	CU_ASSERT_PTR_EQUAL(g_destroy_thread, ut_thread(1));

	/* create_cb failure: NULL, nothing left behind. */
	g_create_rc = -ENOMEM;
	CU_ASSERT_PTR_NULL(osp_get_io_channel(&g_dev1));
	g_create_rc = 0;

	osp_io_device_unregister(&g_dev1, unregister_cb);
	CU_ASSERT_PTR_NULL(osp_io_device_get_name(&g_dev1));
	CU_ASSERT_EQUAL(g_unregister_calls, 0);	/* always deferred */
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_unregister_calls, 1);
	CU_ASSERT_PTR_EQUAL(g_unregister_thread, ut_thread(1));
	osp_io_device_unregister(&g_dev1, unregister_cb);	/* unknown: logged */
	ut_free_threads();
}

static void
test_io_device_unregister_waits(void)
{
	struct osp_io_channel *ch0, *ch1;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	reset_dev_counters();
	ut_set_thread(0);
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), NULL);
	ch0 = osp_get_io_channel(&g_dev1);
	ut_set_thread(1);
	ch1 = osp_get_io_channel(&g_dev1);

	/* Unregister from thread 0 while both channels exist. */
	ut_set_thread(0);
	osp_io_device_unregister(&g_dev1, unregister_cb);
	/* No new channels once unregistering. */
	CU_ASSERT_PTR_NULL(osp_get_io_channel(&g_dev1));
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_unregister_calls, 0);

	osp_put_io_channel(ch0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_destroy_calls, 1);
	CU_ASSERT_EQUAL(g_unregister_calls, 0);

	ut_set_thread(1);
	osp_put_io_channel(ch1);
	ut_poll_thread(1);	/* destroys the channel, sends the completion */
	CU_ASSERT_EQUAL(g_destroy_calls, 2);
	CU_ASSERT_EQUAL(g_unregister_calls, 0);
	ut_poll_thread(0);
	CU_ASSERT_EQUAL(g_unregister_calls, 1);
	CU_ASSERT_PTR_EQUAL(g_unregister_thread, ut_thread(0));

	/* The same pointer can be registered again afterwards. */
	osp_io_device_register(&g_dev1, NULL, NULL, 0, "again");
	ch1 = osp_get_io_channel(&g_dev1);
	CU_ASSERT_PTR_NOT_NULL(ch1);
	osp_put_io_channel(ch1);
	osp_io_device_unregister(&g_dev1, NULL);
	ut_poll_threads();
	ut_free_threads();
}

struct fe_ctx {
	int visits;
	struct osp_thread *visited[8];
	struct osp_io_channel *channels[8];
	int fail_at;		/* visit index that returns an error, -1: none */
	bool async;		/* continue later from a message */
	int cpl_calls;
	int cpl_status;
	struct osp_thread *cpl_thread;
};

static void
fe_continue_msg(void *arg)
{
	struct osp_io_channel_iter *i = arg;

	osp_for_each_channel_continue(i, 0);
}

static void
fe_fn(struct osp_io_channel_iter *i)
{
	struct fe_ctx *ctx = osp_io_channel_iter_get_ctx(i);
	struct osp_io_channel *ch = osp_io_channel_iter_get_channel(i);
	int idx = ctx->visits++;

	CU_ASSERT_PTR_EQUAL(osp_io_channel_iter_get_io_device(i), &g_dev1);
	CU_ASSERT_PTR_NOT_NULL(ch);
	if (idx < 8) {
		ctx->visited[idx] = osp_get_thread();
		ctx->channels[idx] = ch;
	}
	CU_ASSERT_PTR_EQUAL(osp_io_channel_get_thread(ch), osp_get_thread());
	if (ctx->async) {
		/* Asynchronous work on the channel's thread, then continue. */
		CU_ASSERT_EQUAL(osp_thread_send_msg(osp_get_thread(), fe_continue_msg, i), 0);
		return;
	}
	osp_for_each_channel_continue(i, idx == ctx->fail_at ? -EAGAIN : 0);
}

static void
fe_cpl(struct osp_io_channel_iter *i, int status)
{
	struct fe_ctx *ctx = osp_io_channel_iter_get_ctx(i);

	ctx->cpl_calls++;
	ctx->cpl_status = status;
	ctx->cpl_thread = osp_get_thread();
}

static void
test_for_each_channel(void)
{
	struct osp_io_channel *ch0, *ch2, *ch3;
	struct fe_ctx ctx;

	CU_ASSERT_EQUAL(ut_allocate_threads(4), 0);
	reset_dev_counters();
	ut_set_thread(0);
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), "fe");
	ch0 = osp_get_io_channel(&g_dev1);
	ut_set_thread(2);
	ch2 = osp_get_io_channel(&g_dev1);
	ut_set_thread(3);
	ch3 = osp_get_io_channel(&g_dev1);

	/* From thread 1 (no channel): visits 0, 2, 3 in order, completes on 1. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = -1;
	ut_set_thread(1);
	osp_for_each_channel(&g_dev1, fe_fn, &ctx, fe_cpl);
	CU_ASSERT_EQUAL(ctx.visits, 0);	/* nothing runs synchronously */
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.visits, 3);
	CU_ASSERT_PTR_EQUAL(ctx.visited[0], ut_thread(0));
	CU_ASSERT_PTR_EQUAL(ctx.visited[1], ut_thread(2));
	CU_ASSERT_PTR_EQUAL(ctx.visited[2], ut_thread(3));
	CU_ASSERT_PTR_EQUAL(ctx.channels[0], ch0);
	CU_ASSERT_PTR_EQUAL(ctx.channels[1], ch2);
	CU_ASSERT_PTR_EQUAL(ctx.channels[2], ch3);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_EQUAL(ctx.cpl_status, 0);
	CU_ASSERT_PTR_EQUAL(ctx.cpl_thread, ut_thread(1));

	/* One thread at a time: the second thread is not visited before the first continues. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = -1;
	ctx.async = true;
	ut_set_thread(3);
	osp_for_each_channel(&g_dev1, fe_fn, &ctx, fe_cpl);
	ut_poll_thread(3);
	ut_poll_thread(0);
	CU_ASSERT_EQUAL(ctx.visits, 1);
	ut_poll_thread(2);
	CU_ASSERT_EQUAL(ctx.visits, 1);
	ut_poll_thread(0);	/* continue */
	ut_poll_thread(2);
	CU_ASSERT_EQUAL(ctx.visits, 2);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.visits, 3);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_PTR_EQUAL(ctx.cpl_thread, ut_thread(3));

	/* A non-zero status stops the iteration and reaches cpl. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = 1;
	ut_set_thread(0);
	osp_for_each_channel(&g_dev1, fe_fn, &ctx, fe_cpl);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.visits, 2);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_EQUAL(ctx.cpl_status, -EAGAIN);
	CU_ASSERT_PTR_EQUAL(ctx.cpl_thread, ut_thread(0));

	/* A channel released while the iteration is under way is skipped. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = -1;
	ut_set_thread(0);
	osp_for_each_channel(&g_dev1, fe_fn, &ctx, fe_cpl);
	ut_set_thread(2);
	osp_put_io_channel(ch2);
	ut_poll_thread(2);	/* destroyed before the iteration gets there */
	CU_ASSERT_EQUAL(g_destroy_calls, 1);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.visits, 2);
	CU_ASSERT_PTR_EQUAL(ctx.visited[0], ut_thread(0));
	CU_ASSERT_PTR_EQUAL(ctx.visited[1], ut_thread(3));
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);

	/* Unregister during an iteration completes after both the iteration and the channels. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = -1;
	ctx.async = true;
	ut_set_thread(1);
	osp_for_each_channel(&g_dev1, fe_fn, &ctx, fe_cpl);
	osp_io_device_unregister(&g_dev1, unregister_cb);
	ut_set_thread(0);
	osp_put_io_channel(ch0);
	ut_set_thread(3);
	osp_put_io_channel(ch3);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_EQUAL(g_unregister_calls, 1);
	CU_ASSERT_PTR_EQUAL(g_unregister_thread, ut_thread(1));

	/* Unknown device: cpl with -ENODEV, still asynchronously. */
	memset(&ctx, 0, sizeof(ctx));
	osp_for_each_channel(&g_dev2, fe_fn, &ctx, fe_cpl);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_EQUAL(ctx.cpl_status, -ENODEV);
	CU_ASSERT_EQUAL(ctx.visits, 0);
	ut_free_threads();
}

static void
test_for_each_channel_none(void)
{
	struct fe_ctx ctx;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	ut_set_thread(1);
	osp_io_device_register(&g_dev2, NULL, NULL, 0, "empty");
	memset(&ctx, 0, sizeof(ctx));
	osp_for_each_channel(&g_dev2, fe_fn, &ctx, fe_cpl);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ctx.visits, 0);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT_EQUAL(ctx.cpl_status, 0);
	CU_ASSERT_PTR_EQUAL(ctx.cpl_thread, ut_thread(1));
	osp_io_device_unregister(&g_dev2, NULL);
	ut_poll_threads();
	ut_free_threads();
}

static struct osp_thread *g_fet_visited[8];
static int g_fet_visits;
static int g_fet_cpl;
static struct osp_thread *g_fet_cpl_thread;

static void
fet_fn(void *ctx)
{
	CU_ASSERT_PTR_EQUAL(ctx, &g_fet_visits);
	if (g_fet_visits < 8) {
		g_fet_visited[g_fet_visits] = osp_get_thread();
	}
	g_fet_visits++;
}

static void
fet_cpl(void *ctx)
{
	g_fet_cpl++;
	g_fet_cpl_thread = osp_get_thread();
}

static void
test_for_each_thread(void)
{
	int i;

	CU_ASSERT_EQUAL(ut_allocate_threads(3), 0);
	g_fet_visits = 0;
	g_fet_cpl = 0;
	ut_set_thread(2);
	osp_for_each_thread(fet_fn, &g_fet_visits, fet_cpl);
	CU_ASSERT_EQUAL(g_fet_visits, 0);
	/* One after the other: thread 1 is not visited before thread 0. */
	ut_poll_thread(1);
	CU_ASSERT_EQUAL(g_fet_visits, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_fet_visits, 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_PTR_EQUAL(g_fet_visited[i], ut_thread(i));
	}
	CU_ASSERT_EQUAL(g_fet_cpl, 1);
	CU_ASSERT_PTR_EQUAL(g_fet_cpl_thread, ut_thread(2));

	/* Exited threads are skipped. */
	ut_set_thread(1);
	osp_thread_exit(ut_thread(1));
	ut_poll_thread(1);
	CU_ASSERT(osp_thread_is_exited(ut_thread(1)));
	g_fet_visits = 0;
	ut_set_thread(0);
	osp_for_each_thread(fet_fn, &g_fet_visits, fet_cpl);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_fet_visits, 2);
	CU_ASSERT_PTR_EQUAL(g_fet_visited[1], ut_thread(2));
	CU_ASSERT_EQUAL(g_fet_cpl, 2);
	ut_free_threads();
}

/* ---- exit ---- */

static void
test_thread_exit(void)
{
	struct poller_ctx a = {0};
	struct osp_io_channel *ch;
	struct osp_thread *t;
	struct fe_ctx ctx;
	int i;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	reset_dev_counters();
	t = ut_thread(1);
	ut_set_thread(1);
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), "exit");
	a.poller = osp_poller_register(test_poller_fn, &a, 0);
	ch = osp_get_io_channel(&g_dev1);

	CU_ASSERT_EQUAL(osp_thread_exit(t), 0);
	CU_ASSERT_EQUAL(osp_thread_exit(t), 0);	/* twice is fine */
	for (i = 0; i < 3; i++) {
		ut_poll_thread(1);
	}
	/* Still polled: pollers run and messages are drained while exiting. */
	CU_ASSERT_EQUAL(a.calls, 3);
	CU_ASSERT(!osp_thread_is_exited(t));
	CU_ASSERT(!osp_thread_is_running(t));

	osp_poller_unregister(&a.poller);
	ut_poll_thread(1);
	CU_ASSERT(!osp_thread_is_exited(t));	/* the channel is still held */

	/* A poller registered while exiting also holds the exit. */
	a.poller = osp_poller_register(test_poller_fn, &a, 1000);
	CU_ASSERT_PTR_NOT_NULL(a.poller);
	osp_put_io_channel(ch);
	ut_poll_thread(1);
	CU_ASSERT_EQUAL(g_destroy_calls, 1);
	CU_ASSERT(!osp_thread_is_exited(t));
	osp_poller_unregister(&a.poller);

	/* A pending io_device unregistration started here holds it too. */
	osp_io_device_unregister(&g_dev1, unregister_cb);
	CU_ASSERT_EQUAL(t->pending_ops, 1);
	ut_poll_thread(1);
	CU_ASSERT_EQUAL(g_unregister_calls, 1);
	CU_ASSERT(osp_thread_is_exited(t));
	CU_ASSERT_EQUAL(ut_poll_thread(1), -1);
	CU_ASSERT_PTR_NULL(osp_poller_register(test_poller_fn, &a, 0));

	/* A thread waiting for a for_each_channel completion does not exit yet. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.fail_at = -1;
	ut_set_thread(0);
	osp_io_device_register(&g_dev2, NULL, NULL, 0, "exit2");
	osp_for_each_channel(&g_dev2, fe_fn, &ctx, fe_cpl);
	osp_thread_exit(ut_thread(0));
	CU_ASSERT(!osp_thread_is_exited(ut_thread(0)));
	osp_io_device_unregister(&g_dev2, NULL);
	ut_poll_thread(0);
	ut_poll_thread(0);
	CU_ASSERT_EQUAL(ctx.cpl_calls, 1);
	CU_ASSERT(osp_thread_is_exited(ut_thread(0)));
	ut_free_threads();
}

static void
test_thread_exit_timeout(void)
{
	struct poller_ctx a = {0};
	struct osp_io_channel *ch;
	uint64_t hz = osp_get_ticks_hz(), now = 1000;
	struct osp_thread *t, *other;

	/* Threads made by hand: this test destroys one the harness would. */
	CU_ASSERT_EQUAL_FATAL(osp_thread_lib_init(NULL, 0), 0);
	t = osp_thread_create("leaky", NULL);
	other = osp_thread_create("other", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	reset_dev_counters();
	osp_set_thread(t);
	osp_thread_poll(t, 0, now);
	osp_io_device_register(&g_dev1, create_cb, destroy_cb, sizeof(struct dev_ctx), "leaky");
	a.poller = osp_poller_register_named(test_poller_fn, &a, 0, "leaky_poller");
	ch = osp_get_io_channel(&g_dev1);
	CU_ASSERT_PTR_NOT_NULL(ch);

	osp_thread_exit(t);
	/* The owner wakes up for the deadline even without timed pollers. */
	CU_ASSERT_EQUAL(osp_thread_next_poller_expiration(t), now + THREAD_EXIT_TIMEOUT_SEC * hz);
	osp_thread_poll(t, 0, now + THREAD_EXIT_TIMEOUT_SEC * hz - 1);
	CU_ASSERT(!osp_thread_is_exited(t));
	printf("\n  (errors about thread leaky below are expected)\n");
	osp_thread_poll(t, 0, now + THREAD_EXIT_TIMEOUT_SEC * hz);
	CU_ASSERT(osp_thread_is_exited(t));
	CU_ASSERT_EQUAL(osp_thread_poll(t, 0, 0), -1);

	/* The device's unregistration completes when the leaky thread is destroyed. */
	osp_set_thread(other);
	osp_io_device_unregister(&g_dev1, unregister_cb);
	osp_set_thread(NULL);
	osp_thread_destroy(t);	/* frees the channel; its destroy_cb cannot run */
	CU_ASSERT_EQUAL(g_destroy_calls, 0);
	CU_ASSERT_EQUAL(g_unregister_calls, 0);
	osp_thread_poll(other, 0, 0);
	CU_ASSERT_EQUAL(g_unregister_calls, 1);
	CU_ASSERT_PTR_EQUAL(g_unregister_thread, other);
	CU_ASSERT_EQUAL(osp_thread_get_count(), 1);

	osp_set_thread(other);
	osp_thread_exit(other);
	osp_thread_poll(other, 0, 0);
	CU_ASSERT(osp_thread_is_exited(other));
	osp_set_thread(NULL);
	osp_thread_destroy(other);
	osp_thread_lib_fini();
}

/* ---- sleep / interrupt ---- */

OSP_DEFINE_STUB_V(nop_msg, (void *ctx))

static void
test_sleep_protocol(void)
{
	struct osp_thread *t;
	int fd, efd;
	uint64_t one = 1;

	CU_ASSERT_EQUAL(ut_allocate_threads(2), 0);
	t = ut_thread(1);
	fd = osp_thread_get_interrupt_fd(t);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(!fd_readable(fd));

	/* Idle: may sleep. A message to a thread that is not asleep writes no eventfd. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_thread_send_msg(t, nop_msg, NULL), 0);
	CU_ASSERT(!fd_readable(fd));
	/* Work pending: may not sleep. */
	CU_ASSERT(!osp_thread_prepare_sleep(t));
	CU_ASSERT_EQUAL(ut_poll_thread(1), 1);
	CU_ASSERT(osp_thread_prepare_sleep(t));

	/* Asleep: a message makes the interrupt fd readable. */
	CU_ASSERT(!fd_readable(fd));
	CU_ASSERT_EQUAL(osp_thread_send_msg(t, nop_msg, NULL), 0);
	CU_ASSERT(fd_readable(fd));
	/* Further senders need not write again. */
	CU_ASSERT_EQUAL(osp_thread_send_msg(t, nop_msg, NULL), 0);
	osp_thread_end_sleep(t);
	CU_ASSERT(!fd_readable(fd));
	CU_ASSERT_EQUAL(ut_poll_thread(1), 1);

	/* end_sleep without a wake-up is harmless. */
	CU_ASSERT(osp_thread_prepare_sleep(t));
	osp_thread_end_sleep(t);
	CU_ASSERT(!fd_readable(fd));

	/* A critical message wakes it too. */
	CU_ASSERT(osp_thread_prepare_sleep(t));
	CU_ASSERT_EQUAL(osp_thread_send_critical_msg(t, critical_fn), 0);
	CU_ASSERT(fd_readable(fd));
	osp_thread_end_sleep(t);
	CU_ASSERT(!osp_thread_prepare_sleep(t));
	ut_poll_thread(1);

	/* Wake fds: the current thread's interrupt fd follows them. */
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(efd >= 0);
	ut_set_thread(-1);
	CU_ASSERT_EQUAL(osp_thread_add_wake_fd(efd, EPOLLIN), -EINVAL);
	ut_set_thread(1);
	CU_ASSERT_EQUAL(osp_thread_add_wake_fd(efd, EPOLLIN), 0);
	CU_ASSERT_EQUAL(osp_thread_add_wake_fd(efd, EPOLLIN), -EEXIST);
	CU_ASSERT(!fd_readable(fd));
	CU_ASSERT_EQUAL(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	CU_ASSERT(fd_readable(fd));
	CU_ASSERT(!fd_readable(osp_thread_get_interrupt_fd(ut_thread(0))));
	CU_ASSERT_EQUAL(osp_thread_mod_wake_fd(efd, EPOLLOUT), 0);
	CU_ASSERT(fd_readable(fd));	/* an eventfd is always writable */
	CU_ASSERT_EQUAL(osp_thread_mod_wake_fd(efd, 0), 0);
	CU_ASSERT(!fd_readable(fd));
	CU_ASSERT_EQUAL(osp_thread_mod_wake_fd(efd, EPOLLIN), 0);
	CU_ASSERT(fd_readable(fd));
	osp_thread_remove_wake_fd(efd);
	CU_ASSERT(!fd_readable(fd));
	CU_ASSERT_EQUAL(osp_thread_mod_wake_fd(efd, EPOLLIN), -ENOENT);
	close(efd);
	ut_free_threads();
}

/*
 * Real OS threads: two senders, one owner that sleeps in epoll whenever it
 * is idle. A lost wake-up would leave the owner asleep until its 5 s
 * epoll timeout, which the test notices.
 */
#define STRESS_MSGS	20000
static atomic_int g_stress_count;
static struct osp_thread *g_stress_target;

static void
stress_msg(void *ctx)
{
	atomic_fetch_add_explicit(&g_stress_count, 1, memory_order_relaxed);
}

static void *
stress_sender(void *arg)
{
	int i, rc;

	for (i = 0; i < STRESS_MSGS; i++) {
		do {
			rc = osp_thread_send_msg(g_stress_target, stress_msg, NULL);
		} while (rc == -ENOMEM);
		if (rc != 0) {
			break;
		}
		if ((i & 255) == 0) {
			usleep(50);	/* let the owner fall asleep now and then */
		}
	}
	return NULL;
}

static void
test_sleep_stress(void)
{
	pthread_t senders[2];
	struct epoll_event ev;
	int fd, i, sleeps = 0, timeouts = 0;

	CU_ASSERT_EQUAL(ut_allocate_threads(1), 0);
	g_stress_target = ut_thread(0);
	atomic_store(&g_stress_count, 0);
	fd = osp_thread_get_interrupt_fd(g_stress_target);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(pthread_create(&senders[i], NULL, stress_sender, NULL), 0);
	}
	while (atomic_load(&g_stress_count) < 2 * STRESS_MSGS) {
		if (ut_poll_thread(0) > 0) {
			continue;
		}
		if (osp_thread_prepare_sleep(g_stress_target)) {
			sleeps++;
			if (epoll_wait(fd, &ev, 1, 5000) == 0) {
				timeouts++;
			}
			osp_thread_end_sleep(g_stress_target);
		}
		if (timeouts > 0) {
			break;
		}
	}
	for (i = 0; i < 2; i++) {
		pthread_join(senders[i], NULL);
	}
	CU_ASSERT_EQUAL(timeouts, 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(atomic_load(&g_stress_count), 2 * STRESS_MSGS);
	CU_ASSERT(sleeps > 0);
	ut_free_threads();
}

int
main(int argc, char **argv)
{
	CU_pSuite suite;
	int rc;

	ut_env_init();
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("thread", NULL, NULL);
	CU_ADD_TEST(suite, test_thread_create);
	CU_ADD_TEST(suite, test_thread_lib_ext);
	CU_ADD_TEST(suite, test_send_msg);
	CU_ADD_TEST(suite, test_send_msg_budget);
	CU_ADD_TEST(suite, test_critical_msg);
	CU_ADD_TEST(suite, test_active_pollers);
	CU_ADD_TEST(suite, test_timed_pollers);
	CU_ADD_TEST(suite, test_poller_pause_resume);
	CU_ADD_TEST(suite, test_poller_unregister_in_poller);
	CU_ADD_TEST(suite, test_channel_refcount);
	CU_ADD_TEST(suite, test_io_device_unregister_waits);
	CU_ADD_TEST(suite, test_for_each_channel);
	CU_ADD_TEST(suite, test_for_each_channel_none);
	CU_ADD_TEST(suite, test_for_each_thread);
	CU_ADD_TEST(suite, test_thread_exit);
	CU_ADD_TEST(suite, test_thread_exit_timeout);
	CU_ADD_TEST(suite, test_sleep_protocol);
	CU_ADD_TEST(suite, test_sleep_stress);

	rc = ut_run_suites();
	return rc;
}

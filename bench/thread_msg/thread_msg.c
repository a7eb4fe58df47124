/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * thread_msg: what the daemon's spine costs.
 *
 * Two osp_threads on two reactors (A on the first core of -m, B on the
 * second) measure:
 *   single    messages/s A -> B, one osp_thread_send_msg() per poll of A
 *   burst     the same with 32 sends per poll of A
 *   rtt       round trip A -> B -> A (B's handler answers): p50 / p99 / max
 *   poller    ns per call of active pollers returning BUSY on B (1 and 10)
 *   wake      latency of a message sent to B while B's reactor sleeps
 *             (A sends one 2-5 ms after the previous one was answered,
 *             from a one-shot timed poller, so both reactors sleep between)
 *   floor     the same wake-up done by two plain pthreads on the same cores
 *             (eventfd + epoll, no Osprey): what the OS and the hypervisor
 *             cost, run before the reactors start, so that "wake" can be
 *             read as floor + Osprey's own share
 *
 * Everything is driven by messages and pollers on A: no locks, no sleeps.
 * A and B each hold an idle keep-alive poller until the bench's subsystem
 * fini (normal end or SIGINT) has stopped every test, so that neither thread
 * can be destroyed while the other may still send to it.
 * Counters written by one side and read by the other are single-writer
 * atomics on their own cache lines. Results are printed as a table and as
 * one JSON line each (also appended to the file given with -j).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "osp_tool.h"

/*
 * Messages A may have in flight towards B. Far below the ring size, so a
 * send never fails (the library would log every failure) and the ring's
 * footprint stays in cache: we measure the spine, not memory bandwidth.
 */
#define MSG_WINDOW		8192
/*
 * B publishes its count every this many messages: were it published on every
 * message, A's reads of the counter would steal the line from B each time and
 * slow B down for a reason that is the benchmark's, not the spine's.
 */
#define B_PUBLISH_EVERY		256
#define BURST_SIZE		32
#define WARMUP_US		200000
#define DRAIN_TIMEOUT_US	5000000
#define RTT_MAX_SAMPLES		(4u * 1024 * 1024)
#define WAKE_GAP_MIN_US		2000	/* gap between a wake-up's answer and the next send */
#define WAKE_GAP_SPAN_US	3000
#define WAKE_DISCARD		5	/* first wake-ups: cold caches, not steady state */
#ifndef POLLERS_MANY
#define POLLERS_MANY		10
#endif
#define MAX_RESULTS		32
#define KEEPALIVE_US		(3600ULL * 1000000)

enum {
	TEST_SINGLE = 1 << 0,
	TEST_BURST = 1 << 1,
	TEST_RTT = 1 << 2,
	TEST_POLLER = 1 << 3,
	TEST_WAKE = 1 << 4,
	TEST_FLOOR = 1 << 5,
	TEST_ALL = (1 << 6) - 1,
};

struct result {
	char metric[48];
	double value;
	const char *unit;
	double shown;		/* value in the table's unit */
	const char *shown_unit;
};

static struct {
	/* Options. */
	double duration_s;
	uint32_t wake_samples;
	const char *json_path;
	unsigned tests;
	const char *mode;

	uint64_t hz;
	uint32_t core_a, core_b;
	struct osp_thread *app, *a, *b;
	int rc;

	/* Written by A, read by the app thread after A is done. */
	struct result results[MAX_RESULTS];
	int nresults;
	bool printed;		/* app thread only */

	/* Preallocated (and touched) before the reactors start. */
	uint32_t *samples;
	uint32_t max_samples;
} g = {
	.duration_s = 3.0,
	.wake_samples = 500,
	.tests = TEST_ALL,
};

/* Written by B only; A reads recv and marker for flow control and to count. */
static struct {
	alignas(OSP_CACHE_LINE_SIZE) _Atomic uint64_t recv;
	_Atomic uint64_t marker;
	alignas(OSP_CACHE_LINE_SIZE) uint64_t count;		/* B-private */
	uint64_t poller_calls;					/* B-private */
} g_b;

/* A's state (touched only on A). */
static struct {
	int test_idx;
	struct osp_poller *poller;
	int phase;
	uint32_t burst;
	uint64_t phase_end;
	uint64_t sent;
	uint64_t seen;		/* last value of g_b.recv read by A */
	uint64_t iters;		/* sender polls while measuring */
	uint64_t throttled;	/* of which found the window full */
	uint64_t send_errors;
	uint64_t t0, recv0;
	uint64_t marker;	/* last marker sent to B */
	uint32_t nsamples;
	bool waking;		/* wake-up test running */
	struct osp_tool_rng rng;
	bool aborted;		/* shutting down: start nothing, answer nothing */
	struct osp_poller *keepalive;
} s;

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN };

static void next_test(void *arg);

static uint64_t
us_to_ticks(uint64_t us)
{
	return us * g.hz / 1000000;
}

static double
ticks_to_us(double ticks)
{
	return ticks * 1e6 / (double)g.hz;
}

static void
add_result(const char *metric, double value, const char *unit, double shown,
	   const char *shown_unit)
{
	struct result *r;

	if (g.nresults >= MAX_RESULTS) {
		return;
	}
	r = &g.results[g.nresults++];
	snprintf(r->metric, sizeof(r->metric), "%s", metric);
	r->value = value;
	r->unit = unit;
	r->shown = shown;
	r->shown_unit = shown_unit;
}

static void
fail(const char *what)
{
	fprintf(stderr, "thread_msg: %s\n", what);
	g.rc = 1;
}

/* Runs fn on A after us microseconds (a one-shot timed poller). */
struct one_shot {
	osp_msg_fn fn;
	struct osp_poller *poller;
};

static struct one_shot s_timer;

static int
one_shot_fire(void *arg)
{
	struct one_shot *t = arg;

	osp_poller_unregister(&t->poller);
	t->fn(NULL);
	return OSP_POLLER_BUSY;
}

static void
run_after(uint64_t us, osp_msg_fn fn)
{
	s_timer.fn = fn;
	s_timer.poller = osp_poller_register(one_shot_fire, &s_timer, us);
	if (s_timer.poller == NULL) {
		fail("cannot register a timed poller");
		fn(NULL);
	}
}

/* The wake-up gaps: random, but the same in every run (a fixed seed). */
#define WAKE_GAP_SEED 0x9e3779b9u

static int
cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

/* q-quantile (nearest rank) of n sorted samples. */
static uint32_t
quantile(uint32_t *v, uint32_t n, double q)
{
	uint32_t idx;

	if (n == 0) {
		return 0;
	}
	idx = (uint32_t)(q * n);
	if (idx >= n) {
		idx = n - 1;
	}
	return v[idx];
}

/* ---- throughput: A sends, B counts ---- */

static void
b_count(void *arg)
{
	uint64_t c = ++g_b.count;

	if (osp_unlikely((c & (B_PUBLISH_EVERY - 1)) == 0)) {
		atomic_store_explicit(&g_b.recv, c, memory_order_relaxed);
	}
}

/* Sent after the last counted message: publishes the exact count. */
static void
b_marker(void *arg)
{
	atomic_store_explicit(&g_b.recv, g_b.count, memory_order_relaxed);
	atomic_store_explicit(&g_b.marker, (uint64_t)(uintptr_t)arg, memory_order_release);
}

static void
tput_finish(uint64_t t1, uint64_t recv1)
{
	double secs = (double)(t1 - s.t0) / (double)g.hz;
	double rate = (double)(recv1 - s.recv0) / secs;
	double full = s.iters ? 100.0 * (double)s.throttled / (double)s.iters : 0;
	char name[24], metric[48];

	if (s.burst == 1) {
		snprintf(name, sizeof(name), "single");
	} else {
		snprintf(name, sizeof(name), "burst%u", s.burst);
	}
	snprintf(metric, sizeof(metric), "msgs_per_s_%s", name);
	add_result(metric, rate, "msg/s", rate / 1e6, "Mmsg/s");
	/* Above 0, B (the receiver) was the bottleneck some of the time; else A. */
	snprintf(metric, sizeof(metric), "window_full_pct_%s", name);
	add_result(metric, full, "%", full, "%");
}

static int
tput_poll(void *arg)
{
	uint64_t now = osp_thread_get_last_tsc(g.a);
	uint32_t i;
	int rc;

	if (osp_unlikely(now >= s.phase_end)) {
		uint64_t t = osp_get_ticks();
		uint64_t recv = atomic_load_explicit(&g_b.recv, memory_order_relaxed);

		switch (s.phase) {
		case PHASE_WARMUP:
			s.phase = PHASE_MEASURE;
			s.t0 = t;
			s.recv0 = recv;
			s.iters = 0;
			s.throttled = 0;
			s.phase_end = t + (uint64_t)(g.duration_s * (double)g.hz);
			break;
		case PHASE_MEASURE:
			tput_finish(t, recv);
			s.phase = PHASE_DRAIN;
			s.phase_end = t + us_to_ticks(DRAIN_TIMEOUT_US);
			if (osp_thread_send_msg(g.b, b_marker, (void *)(uintptr_t)++s.marker) != 0) {
				s.send_errors++;
			}
			return OSP_POLLER_BUSY;
		default:
			fail("B did not receive every message in time");
			osp_poller_unregister(&s.poller);
			osp_thread_send_msg(g.a, next_test, NULL);
			return OSP_POLLER_BUSY;
		}
	}
	if (s.phase == PHASE_DRAIN) {
		if (atomic_load_explicit(&g_b.marker, memory_order_acquire) == s.marker) {
			if (atomic_load_explicit(&g_b.recv, memory_order_relaxed) != s.sent) {
				fail("B did not count every message");
			}
			if (s.send_errors != 0) {
				fail("some sends failed (message pool or ring exhausted)");
			}
			osp_poller_unregister(&s.poller);
			osp_thread_send_msg(g.a, next_test, NULL);
		}
		return OSP_POLLER_BUSY;
	}
	s.iters++;
	for (i = 0; i < s.burst; i++) {
		if (osp_unlikely(s.sent - s.seen >= MSG_WINDOW)) {
			s.seen = atomic_load_explicit(&g_b.recv, memory_order_relaxed);
			if (s.sent - s.seen >= MSG_WINDOW) {
				s.throttled++;
				break;
			}
		}
		rc = osp_thread_send_msg(g.b, b_count, NULL);
		if (osp_unlikely(rc != 0)) {
			s.send_errors++;
			break;
		}
		s.sent++;
	}
	return OSP_POLLER_BUSY;
}

static void
tput_start(uint32_t burst)
{
	s.burst = burst;
	s.phase = PHASE_WARMUP;
	s.phase_end = osp_get_ticks() + us_to_ticks(WARMUP_US);
	s.sent = atomic_load_explicit(&g_b.recv, memory_order_relaxed);
	s.seen = s.sent;
	s.throttled = 0;
	s.send_errors = 0;
	s.poller = osp_poller_register(tput_poll, NULL, 0);
	if (s.poller == NULL) {
		fail("cannot register the sender poller");
		osp_thread_send_msg(g.a, next_test, NULL);
	}
}

static void
test_single(void)
{
	tput_start(1);
}

static void
test_burst(void)
{
	tput_start(BURST_SIZE);
}

/* ---- round trip ---- */

static void rtt_a(void *arg);

static void
rtt_b(void *arg)
{
	if (osp_unlikely(osp_thread_send_msg(g.a, rtt_a, arg) != 0)) {
		fail("B cannot answer");
	}
}

static void
rtt_ping(void)
{
	uint64_t now = osp_get_ticks();

	if (osp_thread_send_msg(g.b, rtt_b, (void *)(uintptr_t)now) != 0) {
		fail("A cannot send a ping");
		osp_thread_send_msg(g.a, next_test, NULL);
	}
}

static void
rtt_a(void *arg)
{
	uint64_t now = osp_get_ticks();
	uint64_t lat = now - (uint64_t)(uintptr_t)arg;

	if (s.aborted) {
		return;
	}
	if (s.phase == PHASE_MEASURE) {
		g.samples[s.nsamples++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	}
	if (osp_unlikely(now >= s.phase_end || s.nsamples == g.max_samples)) {
		if (s.phase == PHASE_WARMUP) {
			s.phase = PHASE_MEASURE;
			s.phase_end = now + (uint64_t)(g.duration_s * (double)g.hz);
		} else {
			uint32_t n = s.nsamples;

			qsort(g.samples, n, sizeof(*g.samples), cmp_u32);
			add_result("rtt_p50_us", ticks_to_us(quantile(g.samples, n, 0.50)), "us",
				   ticks_to_us(quantile(g.samples, n, 0.50)), "us");
			add_result("rtt_p99_us", ticks_to_us(quantile(g.samples, n, 0.99)), "us",
				   ticks_to_us(quantile(g.samples, n, 0.99)), "us");
			add_result("rtt_max_us", ticks_to_us(n ? g.samples[n - 1] : 0), "us",
				   ticks_to_us(n ? g.samples[n - 1] : 0), "us");
			add_result("rtt_samples", n, "count", n, "");
			osp_thread_send_msg(g.a, next_test, NULL);
			return;
		}
	}
	rtt_ping();
}

static void
test_rtt(void)
{
	s.phase = PHASE_WARMUP;
	s.nsamples = 0;
	s.phase_end = osp_get_ticks() + us_to_ticks(WARMUP_US);
	rtt_ping();
}

/* ---- poller overhead (on B) ---- */

struct poller_run {
	uint32_t npollers;
	struct osp_poller *pollers[POLLERS_MANY];
	uint64_t t0, calls0;
	uint64_t t1, calls1;
};

static struct poller_run s_prun;	/* touched by B between start and stop */
static struct osp_poller *s_b_keepalive;

static int
b_busy_poller(void *arg)
{
	g_b.poller_calls++;
	return OSP_POLLER_BUSY;
}

static void
b_pollers_start(void *arg)
{
	struct poller_run *pr = arg;
	uint32_t i;

	for (i = 0; i < pr->npollers; i++) {
		pr->pollers[i] = osp_poller_register(b_busy_poller, NULL, 0);
		if (pr->pollers[i] == NULL) {
			fail("cannot register a poller on B");
		}
	}
}

static void
b_pollers_mark(void *arg)
{
	struct poller_run *pr = arg;

	pr->t0 = osp_get_ticks();
	pr->calls0 = g_b.poller_calls;
}

static void poller_done(void *arg);

static void
b_pollers_stop(void *arg)
{
	struct poller_run *pr = arg;
	uint32_t i;

	pr->t1 = osp_get_ticks();
	pr->calls1 = g_b.poller_calls;
	for (i = 0; i < pr->npollers; i++) {
		if (pr->pollers[i] != NULL) {
			osp_poller_unregister(&pr->pollers[i]);
		}
	}
	osp_thread_send_msg(g.a, poller_done, pr);
}

static double s_ns_one;

static void
poller_done(void *arg)
{
	struct poller_run *pr = arg;
	uint64_t calls = pr->calls1 - pr->calls0;
	double ns = calls ? ticks_to_us((double)(pr->t1 - pr->t0)) * 1000.0 / (double)calls : 0;
	char metric[48];

	if (s.aborted) {
		return;
	}
	snprintf(metric, sizeof(metric), "poller_ns_per_call_%u", pr->npollers);
	add_result(metric, ns, "ns", ns, "ns");
	if (pr->npollers == 1) {
		s_ns_one = ns;
		osp_thread_send_msg(g.a, next_test, NULL);
		return;
	}
	/*
	 * One call per poller per iteration: the iteration costs ns * n with n
	 * pollers and s_ns_one with one, so each extra poller costs the
	 * difference divided by n - 1.
	 */
	if (s_ns_one > 0) {
		double marginal = (ns * pr->npollers - s_ns_one) / (pr->npollers - 1);

		add_result("poller_ns_marginal", marginal, "ns", marginal, "ns");
	}
	osp_thread_send_msg(g.a, next_test, NULL);
}

static void
poller_stop_timer(void *arg)
{
	osp_thread_send_msg(g.b, b_pollers_stop, &s_prun);
}

static void
poller_mark_timer(void *arg)
{
	osp_thread_send_msg(g.b, b_pollers_mark, &s_prun);
	run_after((uint64_t)(g.duration_s * 1e6), poller_stop_timer);
}

static void
poller_start(uint32_t n)
{
	memset(&s_prun, 0, sizeof(s_prun));
	s_prun.npollers = n;
	osp_thread_send_msg(g.b, b_pollers_start, &s_prun);
	run_after(WARMUP_US, poller_mark_timer);
}

static void
test_poller_one(void)
{
	poller_start(1);
}

static void
test_poller_many(void)
{
	poller_start(POLLERS_MANY);
}

/* ---- wake-up of a sleeping reactor ---- */

static void wake_arm(void);

static void
wake_a(void *arg)
{
	uint64_t lat = (uint64_t)(uintptr_t)arg;
	uint32_t n, *v = g.samples + WAKE_DISCARD;

	if (!s.waking || s.aborted) {
		return;
	}
	g.samples[s.nsamples++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	if (s.nsamples < g.wake_samples + WAKE_DISCARD) {
		wake_arm();
		return;
	}
	s.waking = false;
	n = s.nsamples - WAKE_DISCARD;
	qsort(v, n, sizeof(*v), cmp_u32);
	add_result("wakeup_p50_us", ticks_to_us(quantile(v, n, 0.50)), "us",
		   ticks_to_us(quantile(v, n, 0.50)), "us");
	add_result("wakeup_p99_us", ticks_to_us(quantile(v, n, 0.99)), "us",
		   ticks_to_us(quantile(v, n, 0.99)), "us");
	add_result("wakeup_max_us", ticks_to_us(v[n - 1]), "us", ticks_to_us(v[n - 1]), "us");
	osp_thread_send_msg(g.a, next_test, NULL);
}

static void
wake_b(void *arg)
{
	uint64_t lat = osp_get_ticks() - (uint64_t)(uintptr_t)arg;

	if ((int64_t)lat < 0) {
		lat = 0;	/* TSCs of the two cores disagree: counted as 0 */
	}
	osp_thread_send_msg(g.a, wake_a, (void *)(uintptr_t)lat);
}

static void
wake_send(void *arg)
{
	if (s.aborted) {
		return;
	}
	if (osp_thread_send_msg(g.b, wake_b, (void *)(uintptr_t)osp_get_ticks()) != 0) {
		fail("A cannot send a wake-up message");
		s.waking = false;
		osp_thread_send_msg(g.a, next_test, NULL);
	}
}

static void
wake_arm(void)
{
	run_after(WAKE_GAP_MIN_US + osp_tool_rng_below(&s.rng, WAKE_GAP_SPAN_US), wake_send);
}

static void
test_wake(void)
{
	s.nsamples = 0;
	osp_tool_rng_seed(&s.rng, WAKE_GAP_SEED, 0);
	s.waking = true;
	wake_arm();
}

/* ---- wake-up floor: two plain pthreads, eventfd + epoll, no Osprey ---- */

struct floor_ctx {
	uint32_t core_a, core_b;
	uint32_t n;		/* samples wanted, WAKE_DISCARD included */
	uint32_t *lat_ns;
	int wake_efd;		/* sender -> waiter */
	int ack_efd;		/* waiter -> sender, so that gaps start after each wake-up */
	int epfd;
	_Atomic uint64_t sent_ns;
	atomic_int err;		/* either thread sets it; both stop */
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
pin_self(uint32_t core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
floor_waiter(void *arg)
{
	struct floor_ctx *f = arg;
	struct epoll_event ev;
	uint64_t val, one = 1, t, lat;
	uint32_t i;

	if (pin_self(f->core_b) != 0) {
		f->err = 1;
	}
	for (i = 0; i < f->n; i++) {
		/* Bounded: a lost wake-up must not hang the benchmark. */
		if (epoll_wait(f->epfd, &ev, 1, 5000) != 1) {
			f->err = 1;
			break;
		}
		t = mono_ns();
		if (read(f->wake_efd, &val, sizeof(val)) < 0) {
			/* level-triggered epoll said readable: cannot be empty */
		}
		lat = t - atomic_load(&f->sent_ns);
		f->lat_ns[i] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
		if (write(f->ack_efd, &one, sizeof(one)) < 0) {
			f->err = 1;
			break;
		}
	}
	return NULL;
}

static void *
floor_sender(void *arg)
{
	struct floor_ctx *f = arg;
	struct pollfd pfd = { .fd = f->ack_efd, .events = POLLIN };
	struct osp_tool_rng rng;
	uint64_t one = 1, val;
	uint32_t i;

	osp_tool_rng_seed(&rng, WAKE_GAP_SEED, 0);
	if (pin_self(f->core_a) != 0) {
		f->err = 1;
	}
	for (i = 0; i < f->n && !f->err; i++) {
		struct timespec gap = {
			0, (long)(WAKE_GAP_MIN_US + osp_tool_rng_below(&rng, WAKE_GAP_SPAN_US)) * 1000L
		};

		nanosleep(&gap, NULL);
		atomic_store(&f->sent_ns, mono_ns());
		if (write(f->wake_efd, &one, sizeof(one)) < 0 || poll(&pfd, 1, 5000) != 1) {
			f->err = 1;
			break;
		}
		if (read(f->ack_efd, &val, sizeof(val)) < 0) {
			f->err = 1;
		}
	}
	return NULL;
}

/* Runs before the reactors exist, on the cores they will use. */
static void
wake_floor(const char *reactor_mask)
{
	struct floor_ctx f = { .wake_efd = -1, .ack_efd = -1, .epfd = -1 };
	struct epoll_event ev = { .events = EPOLLIN };
	struct osp_cpuset set;
	pthread_t tw, ts;
	uint32_t c, found = 0, n;
	uint32_t *v;

	if (osp_cpuset_parse(&set, reactor_mask) != 0) {
		fail("floor: cannot parse the core mask");
		return;
	}
	for (c = 0; c < 1024 && found < 2; c++) {
		if (osp_cpuset_get_cpu(&set, c)) {
			if (found++ == 0) {
				f.core_a = c;
			} else {
				f.core_b = c;
			}
		}
	}
	if (found < 2) {
		return;		/* bench_start reports it */
	}
	f.n = g.wake_samples + WAKE_DISCARD;
	f.lat_ns = g.samples;
	f.wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f.ack_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f.wake_efd < 0 || f.ack_efd < 0 || f.epfd < 0 ||
	    epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.wake_efd, &ev) != 0 ||
	    pthread_create(&tw, NULL, floor_waiter, &f) != 0) {
		fail("floor: cannot set up");
		goto out;
	}
	if (pthread_create(&ts, NULL, floor_sender, &f) != 0) {
		f.err = 1;
		/* The waiter gives up after its 5 s epoll timeout. */
	} else {
		pthread_join(ts, NULL);
	}
	pthread_join(tw, NULL);
	if (f.err) {
		fail("floor: a wake-up was lost or a thread could not be pinned");
		goto out;
	}
	n = f.n - WAKE_DISCARD;
	v = g.samples + WAKE_DISCARD;
	qsort(v, n, sizeof(*v), cmp_u32);
	add_result("wakeup_floor_p50_us", quantile(v, n, 0.50) / 1000.0, "us",
		   quantile(v, n, 0.50) / 1000.0, "us");
	add_result("wakeup_floor_p99_us", quantile(v, n, 0.99) / 1000.0, "us",
		   quantile(v, n, 0.99) / 1000.0, "us");
	add_result("wakeup_floor_max_us", v[n - 1] / 1000.0, "us", v[n - 1] / 1000.0, "us");
out:
	if (f.wake_efd >= 0) {
		close(f.wake_efd);
	}
	if (f.ack_efd >= 0) {
		close(f.ack_efd);
	}
	if (f.epfd >= 0) {
		close(f.epfd);
	}
}

/* ---- driver ---- */

static const struct {
	unsigned flag;
	void (*fn)(void);
} g_tests[] = {
	{ TEST_SINGLE, test_single },
	{ TEST_BURST, test_burst },
	{ TEST_RTT, test_rtt },
	{ TEST_POLLER, test_poller_one },
	{ TEST_POLLER, test_poller_many },
	{ TEST_WAKE, test_wake },
};

static void
print_results(void)
{
	FILE *jf = NULL;
	int i;

	printf("\nthread_msg: A on core %u -> B on core %u, mode %s, %.1f s per test\n",
	       g.core_a, g.core_b, g.mode, g.duration_s);
	printf("%-26s %14s  %s\n", "metric", "value", "unit");
	for (i = 0; i < g.nresults; i++) {
		struct result *r = &g.results[i];

		printf("%-26s %14.3f  %s\n", r->metric, r->shown, r->shown_unit);
	}
	if (g.json_path != NULL) {
		jf = fopen(g.json_path, "a");
		if (jf == NULL) {
			fprintf(stderr, "thread_msg: cannot open %s: %s\n", g.json_path, strerror(errno));
			g.rc = 1;
		}
	}
	for (i = 0; i < g.nresults; i++) {
		struct result *r = &g.results[i];
		char line[256];

		snprintf(line, sizeof(line),
			 "{\"bench\":\"thread_msg\",\"metric\":\"%s\",\"mode\":\"%s\","
			 "\"value\":%.3f,\"unit\":\"%s\",\"duration_s\":%.1f}",
			 r->metric, g.mode, r->value, r->unit, g.duration_s);
		printf("%s\n", line);
		if (jf != NULL) {
			fprintf(jf, "%s\n", line);
		}
	}
	if (jf != NULL) {
		fclose(jf);
	}
	fflush(stdout);
}

static void
all_done(void *arg)
{
	print_results();
	g.printed = true;
	osp_app_stop(g.rc);
}

static int
keepalive_poll(void *arg)
{
	return OSP_POLLER_IDLE;
}

static void
b_init(void *arg)
{
	s_b_keepalive = osp_poller_register(keepalive_poll, NULL, KEEPALIVE_US);
	osp_thread_send_msg(g.a, next_test, NULL);
}

static void
a_init(void *arg)
{
	s.keepalive = osp_poller_register(keepalive_poll, NULL, KEEPALIVE_US);
	osp_thread_send_msg(g.b, b_init, NULL);
}

/* ---- shutdown: app thread -> A -> B -> A -> app thread ---- */

static void
fini_done(void *arg)
{
	if (!g.printed) {
		fprintf(stderr, "thread_msg: interrupted, results so far:\n");
		g.rc = 1;
		print_results();
	}
	osp_subsystem_fini_next();
}

static void
a_release(void *arg)
{
	/* B sent this last: nothing from B can reach A any more. */
	osp_poller_unregister(&s.keepalive);
	osp_thread_send_msg(g.app, fini_done, NULL);
}

static void
b_abort(void *arg)
{
	uint32_t i;

	for (i = 0; i < s_prun.npollers; i++) {
		if (s_prun.pollers[i] != NULL) {
			osp_poller_unregister(&s_prun.pollers[i]);
		}
	}
	if (s_b_keepalive != NULL) {
		osp_poller_unregister(&s_b_keepalive);
	}
	osp_thread_send_msg(g.a, a_release, NULL);
}

static void
a_abort(void *arg)
{
	s.aborted = true;
	if (s.poller != NULL) {
		osp_poller_unregister(&s.poller);
	}
	if (s_timer.poller != NULL) {
		osp_poller_unregister(&s_timer.poller);
	}
	/* Messages A sent before are ahead of this one in B's ring. */
	osp_thread_send_msg(g.b, b_abort, NULL);
}

static void
bench_fini(void)
{
	if (g.a == NULL || g.b == NULL) {
		osp_subsystem_fini_next();
		return;
	}
	osp_thread_send_msg(g.a, a_abort, NULL);
}

static struct osp_subsystem g_bench_subsystem = {
	.name = "thread_msg_bench",
	.fini = bench_fini,
};
OSP_SUBSYSTEM_REGISTER(g_bench_subsystem)

static void
next_test(void *arg)
{
	if (s.aborted) {
		return;
	}
	while (s.test_idx < (int)OSP_COUNTOF(g_tests)) {
		int i = s.test_idx++;

		if (g.tests & g_tests[i].flag) {
			g_tests[i].fn();
			return;
		}
	}
	osp_thread_send_msg(g.app, all_done, NULL);
}

static void
bench_start(void *arg)
{
	struct osp_cpuset mask;

	g.hz = osp_get_ticks_hz();
	g.app = osp_get_thread();
	g.core_a = osp_env_get_first_core();
	g.core_b = osp_env_get_next_core(g.core_a);
	if (g.core_b == UINT32_MAX) {
		fprintf(stderr, "thread_msg: needs two cores (-m 0x3)\n");
		osp_app_stop(1);
		return;
	}
	osp_cpuset_zero(&mask);
	osp_cpuset_set_cpu(&mask, g.core_a, true);
	g.a = osp_thread_create("bench_a", &mask);
	osp_cpuset_zero(&mask);
	osp_cpuset_set_cpu(&mask, g.core_b, true);
	g.b = osp_thread_create("bench_b", &mask);
	if (g.a == NULL || g.b == NULL) {
		fprintf(stderr, "thread_msg: cannot create the threads\n");
		osp_app_stop(1);
		return;
	}
	osp_thread_send_msg(g.a, a_init, NULL);
}

static int
parse_tests(char *arg)
{
	char *save = NULL, *tok;

	g.tests = 0;
	for (tok = strtok_r(arg, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "single") == 0) {
			g.tests |= TEST_SINGLE;
		} else if (strcmp(tok, "burst") == 0) {
			g.tests |= TEST_BURST;
		} else if (strcmp(tok, "rtt") == 0) {
			g.tests |= TEST_RTT;
		} else if (strcmp(tok, "poller") == 0) {
			g.tests |= TEST_POLLER;
		} else if (strcmp(tok, "wake") == 0) {
			g.tests |= TEST_WAKE;
		} else if (strcmp(tok, "floor") == 0) {
			g.tests |= TEST_FLOOR;
		} else if (strcmp(tok, "all") == 0) {
			g.tests |= TEST_ALL;
		} else {
			fprintf(stderr, "unknown test '%s'\n", tok);
			return -EINVAL;
		}
	}
	return g.tests != 0 ? 0 : -EINVAL;
}

static int
app_parse(int ch, char *arg)
{
	uint64_t v;
	char *end;

	switch (ch) {
	case 't':
		g.duration_s = strtod(arg, &end);
		if (*end != '\0' || !(g.duration_s >= 0.1 && g.duration_s <= 3600)) {
			fprintf(stderr, "invalid duration '%s' (seconds, 0.1 to 3600)\n", arg);
			return -EINVAL;
		}
		return 0;
	case 'j':
		g.json_path = arg;
		return 0;
	case 'W':
		if (osp_parse_u64(arg, 10, &v) != 0 || v < 10 || v > 100000) {
			fprintf(stderr, "invalid sample count '%s' (10 to 100000)\n", arg);
			return -EINVAL;
		}
		g.wake_samples = (uint32_t)v;
		return 0;
	case 'T':
		return parse_tests(arg);
	default:
		return -EINVAL;
	}
}

static void
app_usage(void)
{
	printf("thread_msg options:\n");
	printf(" -t <seconds>    duration of each measurement (default 3)\n");
	printf(" -W <samples>    wake-up latency samples (default 500)\n");
	printf(" -T <tests>      comma list of single,burst,rtt,poller,wake,floor\n"
	       "                 (default all)\n");
	printf(" -j <file>       also append the JSON lines to file\n");
	printf("RPC is off unless -r is given. Run with and without --polling.\n");
}

int
main(int argc, char **argv)
{
	struct osp_app_opts opts;
	int rc;

	osp_app_opts_init(&opts, sizeof(opts));
	opts.name = "thread_msg";
	opts.rpc_addr = NULL;
	opts.reactor_mask = "0x3";
	opts.print_level = OSP_LOG_WARN;
	rc = osp_app_parse_args(argc, argv, &opts, "t:j:W:T:", NULL, app_parse, app_usage);
	if (rc != OSP_APP_PARSE_ARGS_SUCCESS) {
		return rc == OSP_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	g.mode = opts.polling ? "polling" : "interrupt";

	/* Touch every sample slot now so that no page fault lands in a measurement. */
	g.max_samples = RTT_MAX_SAMPLES;
	if (g.wake_samples + WAKE_DISCARD > g.max_samples) {
		g.max_samples = g.wake_samples + WAKE_DISCARD;
	}
	g.samples = calloc(g.max_samples, sizeof(*g.samples));
	if (g.samples == NULL) {
		fprintf(stderr, "thread_msg: out of memory\n");
		return 1;
	}
	memset(g.samples, 0xff, (size_t)g.max_samples * sizeof(*g.samples));

	if (g.tests & TEST_FLOOR) {
		wake_floor(opts.reactor_mask);
	}

	rc = osp_app_start(&opts, bench_start, NULL);
	osp_app_fini();
	free(g.samples);
	if (rc == 0 && g.nresults == 0) {
		rc = 1;
	}
	return rc == 0 ? 0 : 1;
}

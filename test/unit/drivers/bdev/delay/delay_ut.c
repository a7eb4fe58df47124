/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the delay bdev on a malloc base, on a fake clock: reads and
 * writes complete exactly when their latency has passed and not a tick
 * before, about 1% take the p99 latency, other I/O types are not delayed,
 * latency updates apply to later I/O, a reset releases what waits, the
 * poller is paused when nothing waits, hot removal and config output.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/delay/bdev_delay.h"
#include "../../../../../drivers/bdev/malloc/bdev_malloc.h"

#define BS	512
#define NBLK	4096

static uint64_t g_hz;
static uint64_t g_t0;
static uint64_t g_tmax;

static uint64_t
us(uint64_t n)
{
	return n * g_hz / 1000000;
}

/*
 * The delay poller is a timed poller with a 1 us period: an I/O completes
 * at the first run at or after its deadline, so within 1 us of it.
 */
#define SLACK	us(1)

static void
poll_at(uint64_t t)
{
	g_tmax = OSP_MAX(g_tmax, t);
	ut_poll_threads_at(t);
}

/* Let the real clock pass the fake one before polling with real time again. */
static void
back_to_real_time(void)
{
	while (osp_get_ticks() <= g_tmax) {
	}
}

static void
setup(const char *delay_name, uint64_t r_avg, uint64_t r_p99, uint64_t w_avg, uint64_t w_p99)
{
	struct bdev_malloc_opts o = { .name = "M0", .num_blocks = NBLK, .block_size = BS };
	uint64_t lat[BDEV_DELAY_NUM_LATENCIES];

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	g_hz = osp_get_ticks_hz();
	/* Fake time starts at the real clock and only moves forward (a few ms in all). */
	g_t0 = osp_get_ticks();
	g_tmax = g_t0;
	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, NULL), 0);
	lat[BDEV_DELAY_AVG_READ] = r_avg;
	lat[BDEV_DELAY_P99_READ] = r_p99;
	lat[BDEV_DELAY_AVG_WRITE] = w_avg;
	lat[BDEV_DELAY_P99_WRITE] = w_p99;
	CU_ASSERT_EQUAL_FATAL(bdev_delay_create(delay_name, "M0", NULL, lat), 0);
	poll_at(g_t0);
}

static void
test_latency(void)
{
	struct ut_desc d;
	struct ut_io io;
	uint8_t *w = ut_buf(4 * BS, 0), *r = ut_buf(4 * BS, 0);
	uint64_t t = 0;

	setup("D0", 100, 100, 300, 300);
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0"))->name, "delay");
	CU_ASSERT_EQUAL_FATAL(ut_open("D0", true, 1, &d), 0);
	ut_pattern(w, 0, 4, BS, 5);

	t = g_t0 + us(10);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, w, 8, 4, &io), 0);
	poll_at(t);			/* the base completes now; the write waits 300 us */
	CU_ASSERT_EQUAL(io.done, 0);
	poll_at(t + us(300) - 1);
	CU_ASSERT_EQUAL(io.done, 0);
	poll_at(t + us(300) + SLACK);
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_TRUE(io.success);
	CU_ASSERT_PTR_EQUAL(io.thread, ut_thread(1));

	t += us(1000);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_READ, r, 8, 4, &io), 0);
	poll_at(t);
	CU_ASSERT_EQUAL(io.done, 0);
	poll_at(t + us(100) - 1);
	CU_ASSERT_EQUAL(io.done, 0);
	poll_at(t + us(100) + SLACK);
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_EQUAL(memcmp(r, w, 4 * BS), 0);

	/* Not delayed: flush, unmap. */
	t += us(1000);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_FLUSH, NULL, 0, NBLK, &io), 0);
	poll_at(t);
	CU_ASSERT_EQUAL(io.done, 1);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_UNMAP, NULL, 8, 1, &io), 0);
	poll_at(t);
	CU_ASSERT_EQUAL(io.done, 1);
	back_to_real_time();
	ut_close(&d);
	free(w);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* ~1% of reads get the p99 latency. */
static void
test_p99_fraction(void)
{
	enum { N = 2000 };
	struct ut_desc d;
	struct ut_io *io = calloc(N, sizeof(*io));
	uint8_t *buf = ut_buf(BS, 0);
	uint64_t t;
	int i, done = 0;

	setup("D0", 10, 1000, 10, 1000);
	CU_ASSERT_EQUAL_FATAL(ut_open("D0", true, 0, &d), 0);
	t = g_t0 + us(5);
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, UT_READ, buf, i % NBLK, 1, &io[i]), 0);
	}
	poll_at(t);
	poll_at(t + us(10));
	for (i = 0; i < N; i++) {
		done += io[i].done;
	}
	/* Binomial(2000, 1%): mean 20, sd 4.4. */
	CU_ASSERT(N - done >= 3 && N - done <= 50);
	poll_at(t + us(999));
	for (i = 0, done = 0; i < N; i++) {
		done += io[i].done;
	}
	CU_ASSERT(done < N);
	poll_at(t + us(1000) + SLACK);
	for (i = 0, done = 0; i < N; i++) {
		done += io[i].done;
	}
	CU_ASSERT_EQUAL(done, N);
	back_to_real_time();
	ut_close(&d);
	free(io);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
find_delay_poller(const struct osp_poller_info *info, void *arg)
{
	if (strcmp(info->name, "delay_poller") == 0) {
		*(int *)arg = info->paused ? 1 : 2;
	}
}

static int
delay_poller_state(int thread)
{
	int state = 0;

	ut_set_thread(thread);
	osp_thread_foreach_poller(ut_thread(thread), find_delay_poller, &state);
	ut_set_thread(0);
	return state;
}

static void
test_update_and_idle(void)
{
	struct ut_desc d;
	struct ut_io io;
	uint8_t *buf = ut_buf(BS, 1);
	uint64_t t;

	setup("D0", 100, 100, 100, 100);
	CU_ASSERT_EQUAL_FATAL(ut_open("D0", true, 1, &d), 0);
	CU_ASSERT_EQUAL(bdev_delay_latency_from_name("p99_write"), BDEV_DELAY_P99_WRITE);
	CU_ASSERT_EQUAL(bdev_delay_latency_from_name("median"), -1);
	CU_ASSERT_EQUAL(bdev_delay_update_latency("nope", BDEV_DELAY_AVG_WRITE, 5), -ENODEV);
	CU_ASSERT_EQUAL(bdev_delay_update_latency("D0", BDEV_DELAY_AVG_WRITE,
			BDEV_DELAY_MAX_LATENCY_US + 1), -EINVAL);
	CU_ASSERT_EQUAL(bdev_delay_update_latency("D0", BDEV_DELAY_AVG_WRITE, 40), 0);
	CU_ASSERT_EQUAL(bdev_delay_update_latency("D0", BDEV_DELAY_P99_WRITE, 40), 0);

	t = g_t0 + us(10);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &io), 0);
	poll_at(t);
	CU_ASSERT_EQUAL(delay_poller_state(1), 2);	/* polling while something waits */
	poll_at(t + us(40) - 1);
	CU_ASSERT_EQUAL(io.done, 0);
	poll_at(t + us(40) + SLACK);
	CU_ASSERT_EQUAL(io.done, 1);
	poll_at(t + us(42));
	CU_ASSERT_EQUAL(delay_poller_state(1), 1);	/* paused when idle */
	back_to_real_time();
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/*
 * A reset with I/O waiting: everything completes once and the reset
 * succeeds. The layer drains the I/O a module holds before it passes the
 * reset down, so the waiting I/O finishes at its deadline; if the layer
 * passed the reset down at once, the module would release it early
 * (delay_flush_channel). Both are checked against the deadline.
 */
static void
test_reset(void)
{
	struct ut_desc d;
	struct ut_io io[4], rst;
	uint8_t *buf = ut_buf(BS, 1);
	uint64_t t;
	int i;

	setup("D0", 1000, 1000, 1000, 1000);
	CU_ASSERT_EQUAL_FATAL(ut_open("D0", true, 1, &d), 0);
	t = g_t0 + us(10);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ut_submit(&d, i % 2 ? UT_READ : UT_WRITE, buf, i, 1, &io[i]), 0);
	}
	poll_at(t);
	CU_ASSERT_EQUAL(io[0].done + io[1].done + io[2].done + io[3].done, 0);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_RESET, NULL, 0, 0, &rst), 0);
	poll_at(t + us(20));
	if (rst.done == 0) {
		/* Drain first: nothing completes before the deadline... */
		CU_ASSERT_EQUAL(io[0].done + io[1].done + io[2].done + io[3].done, 0);
		poll_at(t + us(1000) + SLACK);
	}
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(io[i].done, 1);
	}
	CU_ASSERT_EQUAL(rst.done, 1);
	CU_ASSERT_TRUE(rst.success);
	/* ...and the bdev works on after the reset. */
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &io[0]), 0);
	poll_at(t + us(2100));
	poll_at(t + us(3100) + SLACK);
	CU_ASSERT_EQUAL(io[0].done, 1);
	CU_ASSERT_TRUE(io[0].success);
	back_to_real_time();
	ut_close(&d);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_hot_remove_and_config(void)
{
	struct ut_desc d;
	struct ut_io io;
	uint8_t *buf = ut_buf(BS, 1);
	uint64_t lat[BDEV_DELAY_NUM_LATENCIES] = { 1, 2, 3, 4 };
	const cJSON *params;
	cJSON *array;
	uint64_t t;
	int done = 0;

	setup("D0", 50, 60, 70, 80);
	CU_ASSERT_STRING_EQUAL(ut_config_of(osp_bdev_get_by_name("D0"), &array, &params),
			       "bdev_delay_create");
	CU_ASSERT_STRING_EQUAL(ut_str(params, "base_bdev_name"), "M0");
	CU_ASSERT_EQUAL(ut_num(params, "avg_read_latency"), 50);
	CU_ASSERT_EQUAL(ut_num(params, "p99_read_latency"), 60);
	CU_ASSERT_EQUAL(ut_num(params, "avg_write_latency"), 70);
	CU_ASSERT_EQUAL(ut_num(params, "p99_write_latency"), 80);
	cJSON_Delete(array);
	CU_ASSERT_EQUAL(bdev_delay_create("D0", "M0", NULL, lat), -EEXIST);
	CU_ASSERT_EQUAL(bdev_delay_create("D1", "M0", NULL, lat), -EPERM);
	/* Waiting for a base: configured, written by the module's config_json. */
	CU_ASSERT_EQUAL(bdev_delay_create("D2", "Later", NULL, lat), 0);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("D2"));
	array = cJSON_CreateArray();
	osp_bdev_module_list_find("delay")->config_json(array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 1);
	cJSON_Delete(array);

	CU_ASSERT_EQUAL_FATAL(ut_open("D0", true, 1, &d), 0);
	t = g_t0 + us(10);
	CU_ASSERT_EQUAL(ut_submit(&d, UT_WRITE, buf, 0, 1, &io), 0);
	poll_at(t);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	poll_at(t + us(1));
	CU_ASSERT_EQUAL(d.removed, 1);
	CU_ASSERT_EQUAL(io.done, 0);		/* still waiting out its latency */
	poll_at(t + us(80) + SLACK);
	CU_ASSERT_EQUAL(io.done, 1);
	back_to_real_time();
	ut_close(&d);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("D0"));
	CU_ASSERT_EQUAL(bdev_delay_delete("D2", ut_unreg_cb, &done), 0);
	CU_ASSERT_EQUAL(bdev_delay_delete("D2", ut_unreg_cb, &done), -ENODEV);
	free(buf);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_delay",
	     CU_ADD_TEST(suite, test_latency);
	     CU_ADD_TEST(suite, test_p99_fraction);
	     CU_ADD_TEST(suite, test_update_and_idle);
	     CU_ADD_TEST(suite, test_reset);
	     CU_ADD_TEST(suite, test_hot_remove_and_config);
	    )

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost queues' interrupt mode (lib/vhost/vhost_intr.c):
 * the test is the driver. It publishes buffers on a split ring in memory and
 * kicks a real eventfd exactly when virtio 1.x says a driver must (2.7.10:
 * NO_NOTIFY, or with EVENT_IDX whether avail_event was crossed), so a lost
 * wake-up shows up as an armed queue with buffers and no kick.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vhost/mem.c"
#include "vhost/vring.c"
#include "vhost/vhost_intr.c"
#include "ut_run.h"

#define QSIZE		8
#define MEM_SIZE	(1u << 16)

struct drv {
	uint8_t *mem;			/* guest memory: desc 0, avail 0x1000, used 0x2000 */
	struct osp_vhost_mem table;
	struct vhost_queue q;
	uint16_t avail_idx;		/* driver's next avail index */
	bool event_idx;
	int kicks;
};

static struct virtq_avail *
drv_avail(struct drv *d)
{
	return (struct virtq_avail *)(d->mem + 0x1000);
}

static struct virtq_used *
drv_used(struct drv *d)
{
	return (struct virtq_used *)(d->mem + 0x2000);
}

static void
drv_init(struct drv *d, bool event_idx, int kick_flags)
{
	struct osp_vhost_mem_region r;
	uint64_t features = event_idx ? (1ull << OSP_VIRTIO_F_EVENT_IDX) : 0;

	memset(d, 0, sizeof(*d));
	d->mem = aligned_alloc(4096, MEM_SIZE);
	CU_ASSERT_FATAL(d->mem != NULL);
	memset(d->mem, 0, MEM_SIZE);
	r = (struct osp_vhost_mem_region){ 0, MEM_SIZE, d->mem };
	CU_ASSERT_FATAL(osp_vhost_mem_init(&d->table, &r, 1) == 0);
	for (int i = 0; i < QSIZE; i++) {
		struct virtq_desc *desc = (struct virtq_desc *)d->mem + i;

		desc->addr = 0x8000 + (uint64_t)i * 512;
		desc->len = 512;
	}
	CU_ASSERT_FATAL(osp_vring_init_split(&d->q.vq, &d->table, QSIZE, d->mem, d->mem + 0x1000,
					     d->mem + 0x2000, features, 0, 0) == 0);
	d->event_idx = event_idx;
	d->q.kickfd = eventfd(0, kick_flags | EFD_CLOEXEC);
	d->q.callfd = -1;
	CU_ASSERT_FATAL(d->q.kickfd >= 0);
	/* As queue_add() leaves it: polling, no kicks wanted. */
	osp_vring_set_kick(&d->q.vq, false);
}

static void
drv_fini(struct drv *d)
{
	close(d->q.kickfd);
	if (d->q.callfd >= 0) {
		close(d->q.callfd);
	}
	free(d->mem);
}

/* Make one buffer available and kick if the device asked for it (2.7.10 / 2.7.13.4). */
static void
drv_publish(struct drv *d)
{
	struct virtq_avail *avail = drv_avail(d);
	uint16_t old = d->avail_idx, new = (uint16_t)(old + 1);
	bool kick;

	avail->ring[old % QSIZE] = old % QSIZE;
	__atomic_store_n(&avail->idx, new, __ATOMIC_RELEASE);
	d->avail_idx = new;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (d->event_idx) {
		uint16_t ev = *(volatile uint16_t *)&drv_used(d)->ring[QSIZE];

		kick = (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
	} else {
		kick = !(*(volatile uint16_t *)&drv_used(d)->flags & VIRTQ_USED_F_NO_NOTIFY);
	}
	if (kick) {
		uint64_t one = 1;

		if (d->q.kickfd >= 0) {
			CU_ASSERT(write(d->q.kickfd, &one, sizeof(one)) == sizeof(one));
		}
		d->kicks++;
	}
}

static bool
fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The device's side of a pass: pop everything, push it back. */
static int
dev_drain_ring(struct drv *d)
{
	struct iovec iov[4];
	struct osp_vring_req req = { .iov = iov, .iov_max = 4 };
	int n = 0;

	while (osp_vring_pop(&d->q.vq, &req) == 1) {
		CU_ASSERT(req.error == 0);
		osp_vring_push(&d->q.vq, &req, 0);
		n++;
	}
	return n;
}

static void
test_arm_wake(bool event_idx)
{
	struct drv d;
	struct vhost_queue *qs[1];

	drv_init(&d, event_idx, EFD_NONBLOCK);
	qs[0] = &d.q;
	/*
	 * Under load: no kicks. (With EVENT_IDX the ring starts with avail_event
	 * 0, so the very first buffer kicks once: a stale kick, drained later.)
	 */
	drv_publish(&d);
	CU_ASSERT(d.kicks == (event_idx ? 1 : 0));
	d.kicks = 0;
	CU_ASSERT(vhost_queues_have_avail(qs, 1));
	/* Arming with a buffer waiting: refused, still no kicks wanted. */
	CU_ASSERT(vhost_queues_arm(qs, 1) == 0);
	drv_publish(&d);
	CU_ASSERT(d.kicks == 0);
	CU_ASSERT(dev_drain_ring(&d) == 2);
	/* Idle: armed; the next buffer kicks, the eventfd wakes the thread. */
	CU_ASSERT(vhost_queues_arm(qs, 1) == 1);
	CU_ASSERT(!vhost_queues_have_avail(qs, 1));
	drv_publish(&d);
	CU_ASSERT(d.kicks == 1);
	CU_ASSERT(fd_readable(d.q.kickfd));
	CU_ASSERT(vhost_queues_have_avail(qs, 1));
	/* Awake: kicks off, the eventfd drained, then the ring polled. */
	vhost_queues_disarm(qs, 1);
	CU_ASSERT(!fd_readable(d.q.kickfd));
	CU_ASSERT(dev_drain_ring(&d) == 1);
	drv_publish(&d);
	CU_ASSERT(d.kicks == 1);
	CU_ASSERT(dev_drain_ring(&d) == 1);
	drv_fini(&d);
}

static void
test_arm_wake_split(void)
{
	test_arm_wake(false);
}

static void
test_arm_wake_event_idx(void)
{
	test_arm_wake(true);
}

/*
 * The lost wake-up of an earlier attempt: with EVENT_IDX, buffers popped
 * while kicks were wanted leave avail_event behind, and the driver's
 * "crossed avail_event?" test stays false for 65536 buffers. Every arm must
 * ask for the next buffer; run across the 16-bit index wrap.
 */
static void
test_every_sleep_gets_its_kick(void)
{
	for (int ei = 0; ei < 2; ei++) {
		struct drv d;
		struct vhost_queue *qs[1];
		int lost = 0;

		drv_init(&d, ei == 1, EFD_NONBLOCK);
		qs[0] = &d.q;
		for (int cycle = 0; cycle < 70000; cycle++) {
			int kicks = d.kicks;
			int burst = 1 + cycle % 5;

			if (vhost_queues_arm(qs, 1) != 1) {
				lost++;
				break;
			}
			drv_publish(&d);
			if (d.kicks != kicks + 1 || !fd_readable(d.q.kickfd)) {
				lost++;
				break;
			}
			vhost_queues_disarm(qs, 1);
			/* Busy for a while: more buffers, no kicks needed, popped as they come. */
			for (int i = 1; i < burst; i++) {
				drv_publish(&d);
			}
			if (dev_drain_ring(&d) != burst) {
				lost++;
				break;
			}
		}
		CU_ASSERT(lost == 0);
		drv_fini(&d);
	}
}

/* A buffer published between our "nothing there" and the kick request is seen by the re-check. */
static void
test_race_before_arm(void)
{
	struct drv d;
	struct vhost_queue *qs[1];

	drv_init(&d, true, EFD_NONBLOCK);
	qs[0] = &d.q;
	CU_ASSERT(!vhost_queues_have_avail(qs, 1));	/* the poller's last empty look */
	drv_publish(&d);				/* the driver, before our avail_event */
	CU_ASSERT(vhost_queues_arm(qs, 1) == 0);	/* not asleep: the re-check saw it */
	CU_ASSERT(dev_drain_ring(&d) == 1);
	drv_fini(&d);
}

/* Stale kicks are drained when arming; a blocking eventfd is never read when empty. */
static void
test_drain(void)
{
	struct drv d;
	struct vhost_queue *qs[1];
	uint64_t one = 1;

	drv_init(&d, false, 0);		/* a blocking eventfd, as a driver may pass */
	qs[0] = &d.q;
	CU_ASSERT(vhost_kickfds_drain(qs, 1) == 0);	/* returns: poll() first */
	CU_ASSERT(write(d.q.kickfd, &one, sizeof(one)) == sizeof(one));
	CU_ASSERT(vhost_queues_arm(qs, 1) == 1);
	CU_ASSERT(!fd_readable(d.q.kickfd));
	CU_ASSERT(vhost_kickfds_drain(qs, 1) == 0);
	vhost_queues_disarm(qs, 1);
	drv_fini(&d);
}

/* A live queue without a kick fd keeps the poller polling; a paused one does not count. */
static void
test_cannot_sleep(void)
{
	struct drv a, b;
	struct vhost_queue *qs[2];

	drv_init(&a, true, EFD_NONBLOCK);
	drv_init(&b, true, EFD_NONBLOCK);
	qs[0] = &a.q;
	qs[1] = &b.q;
	close(b.q.kickfd);
	b.q.kickfd = -1;
	CU_ASSERT(!vhost_queues_can_sleep(qs, 2));
	CU_ASSERT(vhost_queues_arm(qs, 2) == -1);
	b.q.paused = true;
	CU_ASSERT(vhost_queues_can_sleep(qs, 2));
	CU_ASSERT(vhost_queues_arm(qs, 2) == 1);
	/* A paused queue's buffers do not wake us (it is not served). */
	drv_publish(&b);
	CU_ASSERT(!vhost_queues_have_avail(qs, 2));
	drv_publish(&a);
	CU_ASSERT(a.kicks == 1 && vhost_queues_have_avail(qs, 2));
	vhost_queues_disarm(qs, 2);
	b.q.kickfd = eventfd(0, EFD_CLOEXEC);
	drv_fini(&a);
	drv_fini(&b);
}

static void
test_coalesce_delay(void)
{
	CU_ASSERT(vhost_coalesce_delay(0, 1000000, 1000) == 0);		/* disabled */
	CU_ASSERT(vhost_coalesce_delay(5000, 1000000, 0) == 0);		/* no threshold */
	CU_ASSERT(vhost_coalesce_delay(5000, 1000, 1000) == 0);		/* at the threshold */
	CU_ASSERT(vhost_coalesce_delay(5000, 999, 1000) == 0);
	CU_ASSERT(vhost_coalesce_delay(5000, 1500, 1000) == 2500);	/* linear above */
	CU_ASSERT(vhost_coalesce_delay(5000, 2000, 1000) == 5000);	/* twice: the base */
	CU_ASSERT(vhost_coalesce_delay(5000, 1000000, 1000) == 5000);	/* capped */
	CU_ASSERT(vhost_coalesce_delay(UINT64_MAX / 2, UINT64_MAX, UINT64_MAX / 4) == UINT64_MAX / 2);
}

static uint64_t
calls(int fd)
{
	uint64_t v = 0;

	if (!fd_readable(fd) || read(fd, &v, sizeof(v)) != sizeof(v)) {
		return 0;
	}
	return v;
}

static void
test_signal(void)
{
	struct drv d;
	struct iovec iov[4];
	struct osp_vring_req req = { .iov = iov, .iov_max = 4 };

	drv_init(&d, false, EFD_NONBLOCK);
	d.q.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(d.q.callfd >= 0);
	/* Nothing pending: nothing written. */
	CU_ASSERT(!vhost_queue_signal(&d.q, 100));
	CU_ASSERT(calls(d.q.callfd) == 0);
	/* Three completions in one pass: one call. */
	for (int i = 0; i < 3; i++) {
		drv_publish(&d);
		CU_ASSERT(osp_vring_pop(&d.q.vq, &req) == 1);
		osp_vring_push(&d.q.vq, &req, 0);
		d.q.signal_pending = true;
	}
	CU_ASSERT(!vhost_queue_signal(&d.q, 100));
	CU_ASSERT(calls(d.q.callfd) == 1);
	CU_ASSERT(d.q.stat_calls == 1);
	/* Coalescing: held back until the delay ran out, then one call for all. */
	d.q.irq_delay = 50;
	for (int i = 0; i < 2; i++) {
		drv_publish(&d);
		CU_ASSERT(osp_vring_pop(&d.q.vq, &req) == 1);
		osp_vring_push(&d.q.vq, &req, 0);
		d.q.signal_pending = true;
		CU_ASSERT(vhost_queue_signal(&d.q, 1000 + (uint64_t)i * 10));
		CU_ASSERT(calls(d.q.callfd) == 0);
	}
	CU_ASSERT(vhost_queue_signal(&d.q, 1049));
	CU_ASSERT(!vhost_queue_signal(&d.q, 1050));
	CU_ASSERT(calls(d.q.callfd) == 1);
	/* The driver asked for no interrupts: decided, nothing written. */
	d.q.irq_delay = 0;
	drv_avail(&d)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	drv_publish(&d);
	CU_ASSERT(osp_vring_pop(&d.q.vq, &req) == 1);
	osp_vring_push(&d.q.vq, &req, 0);
	d.q.signal_pending = true;
	CU_ASSERT(!vhost_queue_signal(&d.q, 2000));
	CU_ASSERT(calls(d.q.callfd) == 0 && !d.q.signal_pending);
	drv_fini(&d);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("vhost_intr", NULL, NULL);
	CU_ADD_TEST(suite, test_arm_wake_split);
	CU_ADD_TEST(suite, test_arm_wake_event_idx);
	CU_ADD_TEST(suite, test_every_sleep_gets_its_kick);
	CU_ADD_TEST(suite, test_race_before_arm);
	CU_ADD_TEST(suite, test_drain);
	CU_ADD_TEST(suite, test_cannot_sleep);
	CU_ADD_TEST(suite, test_coalesce_delay);
	CU_ADD_TEST(suite, test_signal);
	return ut_run_suites();
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupt mode of the vhost queues (doc/vhost.md, "Interrupt mode"): the
 * parts that touch only the rings and eventfds, so that a unit test can play
 * the driver (test/unit/lib/vhost/vhost_intr_ut.c). vhost.c decides when.
 *
 * Kicks (driver -> us): under load the driver is told not to kick (used
 * flags NO_NOTIFY, or with EVENT_IDX an avail_event left behind) and we
 * poll. After a quiet while the queues are armed: stale kicks drained, kick
 * notifications enabled, the rings looked at once more after a full fence
 * (osp_vring_set_kick). The driver publishes, fences, then reads our wish;
 * we publish our wish, fence, then read its index: one of the two sees the
 * other, so either the re-check finds the buffer (no sleep) or the driver
 * kicks, and the kick eventfd (a wake fd of the polling thread, level
 * triggered) stays readable until we drain it after waking.
 *
 * Two ways to lose a wake-up, both avoided here:
 * - with EVENT_IDX, popping while armed without moving avail_event leaves
 *   it behind last_avail: the driver's "did I cross avail_event" test then
 *   fails for the next 65536 buffers. So any pop disarms first and arming
 *   always writes the current last_avail;
 * - draining a kick whose buffer was not looked at afterwards. A kick is
 *   drained only before a ring check (arming) or when leaving the armed
 *   state to poll.
 *
 * Calls (us -> driver): a push marks its queue signal_pending; the poller
 * decides once per pass (osp_vring_need_notify over everything pushed since
 * the last decision) and writes the call eventfd, at once or, with
 * coalescing, after the queue's current delay.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "vhost_internal.h"

int
vhost_kickfds_drain(struct vhost_queue *const *qs, int n)
{
	struct pollfd pfd[VHOST_MAX_QUEUES];
	int k = 0, drained = 0;

	for (int i = 0; i < n && k < VHOST_MAX_QUEUES; i++) {
		if (qs[i]->kickfd >= 0) {
			pfd[k].fd = qs[i]->kickfd;
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
			k++;
		}
	}
	/*
	 * rte_vhost hands over the driver's eventfd as it came: it may be a
	 * blocking one, so read only what poll() says is there.
	 */
	if (k == 0 || poll(pfd, (nfds_t)k, 0) <= 0) {
		return 0;
	}
	for (int i = 0; i < k; i++) {
		uint64_t val;

		if ((pfd[i].revents & POLLIN) && read(pfd[i].fd, &val, sizeof(val)) == sizeof(val)) {
			drained++;
		}
	}
	return drained;
}

/* A queue the poller serves (and so must be able to wake us). */
static inline bool
queue_live(const struct vhost_queue *q)
{
	return !q->paused && !q->vq.broken;
}

bool
vhost_queues_can_sleep(struct vhost_queue *const *qs, int n)
{
	for (int i = 0; i < n; i++) {
		if (queue_live(qs[i]) && qs[i]->kickfd < 0) {
			return false;	/* the driver was given no kick fd: it expects polling */
		}
	}
	return true;
}

bool
vhost_queues_have_avail(struct vhost_queue *const *qs, int n)
{
	for (int i = 0; i < n; i++) {
		if (queue_live(qs[i]) && osp_vring_has_avail(&qs[i]->vq)) {
			return true;
		}
	}
	return false;
}

int
vhost_queues_arm(struct vhost_queue *const *qs, int n)
{
	int i;

	if (!vhost_queues_can_sleep(qs, n)) {
		return -1;
	}
	/* Buffers waiting (e.g. every task busy): no need to ask, nor to pay the syscalls. */
	if (vhost_queues_have_avail(qs, n)) {
		return 0;
	}
	/* Kicks so far were for buffers the re-check below sees anyway. */
	vhost_kickfds_drain(qs, n);
	for (i = 0; i < n; i++) {
		if (queue_live(qs[i]) && osp_vring_set_kick(&qs[i]->vq, true)) {
			break;
		}
	}
	if (i == n) {
		return 1;
	}
	/* Work arrived: stay polling, and ask the driver for no more kicks. */
	for (int j = 0; j <= i; j++) {
		if (queue_live(qs[j])) {
			osp_vring_set_kick(&qs[j]->vq, false);
		}
	}
	return 0;
}

void
vhost_queues_disarm(struct vhost_queue *const *qs, int n)
{
	for (int i = 0; i < n; i++) {
		if (queue_live(qs[i])) {
			osp_vring_set_kick(&qs[i]->vq, false);
		}
	}
	/* The caller polls every ring next: nothing these kicks announced is missed. */
	vhost_kickfds_drain(qs, n);
}


uint64_t
vhost_coalesce_delay(uint64_t base_ticks, uint64_t iops, uint64_t threshold)
{
	/*
	 * SPDK's rule (vhost_controller_set_coalescing): no delay below the
	 * threshold, then delay_base * (iops - threshold) / threshold. We cap
	 * it at delay_base, reached at twice the threshold, so that
	 * delay_base_us is the most latency coalescing ever adds.
	 */
	if (base_ticks == 0 || threshold == 0 || iops <= threshold) {
		return 0;
	}
	if (iops - threshold >= threshold) {
		return base_ticks;
	}
	return (uint64_t)((unsigned __int128)base_ticks * (iops - threshold) / threshold);
}

bool
vhost_queue_signal(struct vhost_queue *q, uint64_t now)
{
	if (!q->signal_pending) {
		return false;
	}
	if (q->irq_delay != 0) {
		if (q->signal_since == 0) {
			q->signal_since = now != 0 ? now : 1;
			return true;
		}
		if (now - q->signal_since < q->irq_delay) {
			return true;
		}
	}
	q->signal_pending = false;
	q->signal_since = 0;
	/* Everything pushed since the last decision is judged at once. */
	if (osp_vring_need_notify(&q->vq) && q->callfd >= 0) {
		uint64_t one = 1;

		if (write(q->callfd, &one, sizeof(one)) == sizeof(one)) {
			q->stat_calls++;
		}
	}
	return false;
}

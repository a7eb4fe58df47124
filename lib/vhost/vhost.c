/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost target's rte_vhost glue and controller lifecycle (doc/vhost.md).
 *
 * rte_vhost runs the vhost-user dialogue on its own pthread and calls us
 * back there (new_connection, new_device, destroy_device, and the GET_CONFIG
 * pre-handler). Those callbacks only use rte_vhost's API and the
 * controller's immutable fields (name, path, config); the rest is done on
 * the controller's Osprey thread, reached with osp_thread_send_msg, while the
 * callback waits on a semaphore for the answer.
 *
 * A controller's lifecycle runs on the app thread; its queues are polled by
 * its poll groups (struct vhost_pg): the app thread too without a cpumask,
 * else one thread per core of the mask (doc/vhost.md, "cpumask").
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_vhost.h>

#include "cJSON.h"
#include "osprey/event.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

#define VHOST_USER_F_PROTOCOL_FEATURES_BIT	30
#define VHOST_USER_PROTOCOL_F_SLAVE_REQ_BIT	5
#define VHOST_USER_PROTOCOL_F_CONFIG_BIT	9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_BIT	12
#define VHOST_USER_RESET_OWNER_REQ		4
#define VHOST_USER_SET_MEM_TABLE_REQ		5
#define VHOST_USER_GET_VRING_BASE_REQ		11
#define VHOST_USER_SET_VRING_KICK_REQ		12
#define VHOST_USER_GET_CONFIG_REQ		24
#define VHOST_USER_GET_INFLIGHT_FD_REQ		31
#define VHOST_USER_SET_INFLIGHT_FD_REQ		32
/* Inflight regions we accept: queues and entries per queue (virtio's largest ring). */
#define VHOST_INFLIGHT_MAX_QUEUES		64
#define VHOST_USER_MAX_CONFIG			256
#define VHOST_BURST				32

/* The vhost-user message as rte_vhost hands it to a pre-handler (its head). */
struct vhu_config_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint32_t offset;
	uint32_t cfg_size;
	uint32_t cfg_flags;
	uint8_t region[VHOST_USER_MAX_CONFIG];
} __attribute__((packed));

/*
 * VhostUserInflight (vhost-user, GET_INFLIGHT_FD / SET_INFLIGHT_FD) after the
 * 12-byte header: a naturally aligned C struct, so its size (the message's
 * size field) is 24 with the tail padding.
 */
#define VHU_INFLIGHT_PAYLOAD	24
struct vhu_inflight_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
} __attribute__((packed));
#define VHOST_CPUSET_BITS	(sizeof(((struct osp_cpuset *)0)->bits) * 8)

/*
 * What rte_vhost 22.11 hands a message hook: the message (12-byte header,
 * then its payload union of 632 bytes, packed) followed by the file
 * descriptors that came with it (struct vhu_msg_context of DPDK's
 * lib/vhost/vhost_user.h, which that header declares fixed for external
 * handlers). Only the memory table and the fds are read here.
 */
#define VHU_PAYLOAD_SIZE	632
#define VHU_MAX_FDS		8
struct vhu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};
struct vhu_msg_ctx {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		struct {
			uint32_t nregions;
			uint32_t padding;
			struct vhu_mem_region regions[VHU_MAX_FDS];
		} mem;
		uint8_t raw[VHU_PAYLOAD_SIZE];
	} payload;
	int fds[VHU_MAX_FDS];
	int fd_num;
} __attribute__((packed));
_Static_assert(sizeof(struct vhu_msg_ctx) == 12 + VHU_PAYLOAD_SIZE + 4 * VHU_MAX_FDS + 4,
	       "rte_vhost 22.11's vhu_msg_context");

static TAILQ_HEAD(, vhost_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
/* Guards g_ctrlrs for the rte_vhost thread's lookups (control path only). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_socket_dir[PATH_MAX - 80];

int
osp_vhost_set_socket_dir(const char *dir)
{
	if (dir == NULL) {
		dir = "";
	}
	if (strlen(dir) >= sizeof(g_socket_dir)) {
		return -ENAMETOOLONG;
	}
	snprintf(g_socket_dir, sizeof(g_socket_dir), "%s", dir);
	return 0;
}

const char *
vhost_get_socket_dir(void)
{
	return g_socket_dir;
}

struct vhost_ctrlr *
vhost_ctrlr_find(const char *name)
{
	struct vhost_ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

struct vhost_ctrlr *
vhost_ctrlr_first(void)
{
	return TAILQ_FIRST(&g_ctrlrs);
}

struct vhost_ctrlr *
vhost_ctrlr_next(struct vhost_ctrlr *c)
{
	return TAILQ_NEXT(c, link);
}

/* rte_vhost thread: the controller behind a vid (by socket path), under g_lock. */
static struct vhost_ctrlr *
ctrlr_by_vid_locked(int vid)
{
	char path[PATH_MAX];
	struct vhost_ctrlr *c;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0) {
		return NULL;
	}
	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->path, path) == 0) {
			return c;
		}
	}
	return NULL;
}

/* ---- the poller (the poll group's thread) ---- */

/*
 * Resubmit the heads the previous back end left in flight (oldest first),
 * as far as tasks allow; the ring itself is polled once they are all back
 * in flight. Returns how many were started.
 */
static int
queue_resubmit(struct vhost_ctrlr *ctrlr, struct vhost_queue *q)
{
	int started = 0;

	while (q->resubmit_pos < q->nresubmit && q->nfree > 0) {
		struct vhost_task *task = q->free[q->nfree - 1];
		uint16_t head = q->resubmit[q->resubmit_pos++];

		task->req.iov = task->iov;
		task->req.iov_max = VHOST_IOV_MAX;
		if (osp_vring_pop_head(&q->vq, head, &task->req) != 1) {
			OSP_ERRLOG("vhost %s: queue %u: inflight head %u cannot be resubmitted\n",
				   ctrlr->name, q->idx, head);
			continue;
		}
		q->nfree--;
		q->pg->inflight++;
		started++;
		ctrlr->ops->task_start(ctrlr, task);
	}
	if (q->resubmit_pos == q->nresubmit) {
		OSP_NOTICELOG("vhost %s: queue %u: %u request(s) in flight at the last stop resubmitted\n",
			      ctrlr->name, q->idx, q->nresubmit);
		free(q->resubmit);
		q->resubmit = NULL;
		q->nresubmit = 0;
	}
	return started;
}

/*
 * Interrupt mode (doc/vhost.md): a poll group whose rings stayed empty this
 * long arms kick notifications and reports idle, so the reactor may sleep
 * (after its own 200 µs). Short enough to be ~0 % CPU when idle, long enough
 * that the gaps of a queue-depth-1 workload (one request's round trip) never
 * pay a kick. OSPREY_VHOST_IDLE_US overrides it (tests use 0: arm at once).
 */
#define VHOST_IDLE_US_DEFAULT		300
/* While armed, spurious kicks (nothing in the rings) are drained this often. */
#define VHOST_SPURIOUS_DRAIN_US		100
/* Coalescing: how often each queue's request rate (and so its call delay) is re-computed. */
#define VHOST_RATE_CHECK_US		10000

/* The three delays in ticks, computed once (vhost_ctrlr_new). */
static uint64_t g_idle_ticks = UINT64_MAX;
static uint64_t g_drain_ticks;
static uint64_t g_rate_ticks;

static uint64_t
us_to_ticks(uint64_t us)
{
	return us * osp_get_ticks_hz() / 1000000ull;
}

static void
pg_update_rates(struct vhost_pg *pg, uint64_t now)
{
	struct vhost_ctrlr *ctrlr = pg->ctrlr;
	uint64_t elapsed = now - pg->rate_tsc;
	uint32_t delay_us = __atomic_load_n(&ctrlr->coalesce_delay_us, __ATOMIC_RELAXED);
	uint32_t threshold = __atomic_load_n(&ctrlr->coalesce_iops_threshold, __ATOMIC_RELAXED);
	uint64_t base = us_to_ticks(delay_us), hz = osp_get_ticks_hz();

	pg->rate_tsc = now;
	for (uint16_t i = 0; i < pg->nqueues; i++) {
		struct vhost_queue *q = pg->queues[i];
		uint64_t iops = elapsed != 0 ? q->rate_reqs * hz / elapsed : 0;

		q->irq_delay = vhost_coalesce_delay(base, iops, threshold);
		q->rate_reqs = 0;
	}
}

/* Pop and start what the rings hold; the number of chains started. */
static int
pg_pop(struct vhost_pg *pg)
{
	struct vhost_ctrlr *ctrlr = pg->ctrlr;
	int work = 0;

	for (uint16_t i = 0; i < pg->nqueues; i++) {
		struct vhost_queue *q = pg->queues[i];
		struct osp_vring_req reqs[VHOST_BURST];
		struct vhost_task *tasks[VHOST_BURST];
		int n = q->nfree < VHOST_BURST ? (int)q->nfree : VHOST_BURST;

		if (n == 0 || q->vq.broken || q->paused) {
			continue;
		}
		if (q->resubmit != NULL) {
			work += queue_resubmit(ctrlr, q);
			continue;
		}
		for (int j = 0; j < n; j++) {
			tasks[j] = q->free[q->nfree - 1 - (uint32_t)j];
			reqs[j].iov = tasks[j]->iov;
			reqs[j].iov_max = VHOST_IOV_MAX;
		}
		n = osp_vring_pop_burst(&q->vq, reqs, n);
		if (n < 0) {
			OSP_ERRLOG("vhost %s: queue %u is broken: stopped\n", ctrlr->name, q->idx);
			continue;
		}
		q->nfree -= (uint32_t)n;
		q->rate_reqs += (uint32_t)n;
		pg->inflight += (uint32_t)n;
		for (int j = 0; j < n; j++) {
			tasks[j]->req = reqs[j];
			ctrlr->ops->task_start(ctrlr, tasks[j]);
		}
		work += n;
	}
	return work;
}

static void queue_unwatch_kick(struct vhost_queue *q);

/*
 * The SIGBUS guard redirected a fault somewhere (vhost_guard.c): if it was in
 * this device's guest memory (or inflight region), the front end shrank a file
 * under us. Its pages past the fault read as zeroes now; stop this poll
 * group's queues (nothing more is popped, nothing armed: requests in flight
 * still complete, into the zeroes). The connection is closed at the front
 * end's next message (pre_msg_handle). Returns true when stopped.
 */
static bool
pg_guard_check(struct vhost_pg *pg)
{
	struct vhost_ctrlr *ctrlr = pg->ctrlr;
	uintptr_t addr = 0;

	pg->guard_seen = vhost_guard_hits();
	if (pg->mem_lost || (!vhost_guard_was_hit(ctrlr, pg->vid, &addr) &&
			     !vhost_guard_was_hit(VHOST_GUARD_INFLIGHT_KEY(ctrlr), pg->vid, &addr))) {
		return pg->mem_lost;
	}
	pg->mem_lost = true;
	if (pg->armed) {
		vhost_queues_disarm(pg->queues, pg->nqueues);
		pg->armed = false;
	}
	for (uint16_t i = 0; i < pg->nqueues; i++) {
		pg->queues[i]->vq.broken = true;
		/* Its kicks no longer wake us (a kick fd stays readable until drained). */
		queue_unwatch_kick(pg->queues[i]);
	}
	OSP_ERRLOG("vhost %s: guest memory went away under the device (SIGBUS at 0x%" PRIxPTR
		   ": the front end shrank its memory file): %u queue(s) stopped, the connection "
		   "is closed at its next message\n", ctrlr->name, addr, pg->nqueues);
	return true;
}

static int
pg_poll(void *arg)
{
	struct vhost_pg *pg = arg;
	uint64_t now = osp_thread_get_last_tsc(pg->thread);
	bool pending = false;
	int work;

	if (osp_unlikely(vhost_guard_hits() != pg->guard_seen) && pg_guard_check(pg)) {
		/* Stopped: nothing to poll; completions of requests in flight still come. */
		for (uint16_t i = 0; i < pg->nqueues; i++) {
			pending |= vhost_queue_signal(pg->queues[i], now);
		}
		pg->completed = false;
		return pending ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
	}
	if (pg->armed) {
		if (!pg->completed && !vhost_queues_have_avail(pg->queues, pg->nqueues)) {
			/* Woken for something else, or by a kick we already served: stay asleep. */
			if (now - pg->last_drain_tsc > g_drain_ticks) {
				pg->last_drain_tsc = now;
				vhost_kickfds_drain(pg->queues, pg->nqueues);
			}
			return OSP_POLLER_IDLE;
		}
		/* Before any pop: popping while armed would leave avail_event behind. */
		vhost_queues_disarm(pg->queues, pg->nqueues);
		pg->armed = false;
		pg->stat_wakeups++;
		pg->last_work_tsc = now;
	}
	work = pg_pop(pg);
	for (uint16_t i = 0; i < pg->nqueues; i++) {
		pending |= vhost_queue_signal(pg->queues[i], now);
	}
	if (osp_unlikely(now - pg->rate_tsc >= g_rate_ticks)) {
		pg_update_rates(pg, now);
	}
	if (work > 0 || pg->completed || pending) {
		pg->completed = false;
		pg->last_work_tsc = now;
		return OSP_POLLER_BUSY;
	}
	if (now - pg->last_work_tsc < g_idle_ticks) {
		/* Not idle long enough to pay for kicks: keep the reactor polling. */
		return OSP_POLLER_BUSY;
	}
	switch (vhost_queues_arm(pg->queues, pg->nqueues)) {
	case 1:
		pg->armed = true;
		pg->last_drain_tsc = now;
		pg->stat_sleeps++;
		return OSP_POLLER_IDLE;
	case 0:
		pg->last_work_tsc = now;
		return OSP_POLLER_BUSY;
	default:
		if (!pg->cannot_sleep_logged) {
			pg->cannot_sleep_logged = true;
			OSP_NOTICELOG("vhost %s: a queue has no kick eventfd: polling only\n",
				      pg->ctrlr->name);
		}
		pg->last_work_tsc = now;
		return OSP_POLLER_BUSY;
	}
}

/* Watch q's kick eventfd from the current thread (pg's), or give up sleeping on it. */
static void
queue_watch_kick(struct vhost_queue *q, int kickfd)
{
	int rc;

	q->kickfd = -1;
	q->kick_watched = false;
	if (kickfd < 0) {
		return;
	}
	rc = osp_thread_add_wake_fd(kickfd, EPOLLIN);
	if (rc != 0) {
		OSP_ERRLOG("vhost %s: queue %u: cannot watch its kick eventfd (%s): polling only\n",
			   q->ctrlr->name, q->idx, strerror(-rc));
		return;
	}
	q->kickfd = kickfd;
	q->kick_watched = true;
}

/* Stop watching q's kick eventfd (before rte_vhost may close it). */
static void
queue_unwatch_kick(struct vhost_queue *q)
{
	if (q->kick_watched) {
		osp_thread_remove_wake_fd(q->kickfd);
		q->kick_watched = false;
	}
	q->kickfd = -1;
}

/* The queues changed: poll (kicks off) until the poller re-arms over the new set. */
static void
pg_wake(struct vhost_pg *pg)
{
	if (pg->armed) {
		vhost_queues_disarm(pg->queues, pg->nqueues);
		pg->armed = false;
	}
	pg->last_work_tsc = osp_thread_get_last_tsc(NULL);
}

static void
ctrlr_free_queues(struct vhost_ctrlr *ctrlr)
{
	for (uint16_t i = 0; i < ctrlr->nqueues; i++) {
		free(ctrlr->queues[i].tasks);
		free(ctrlr->queues[i].free);
		free(ctrlr->queues[i].resubmit);
		ctrlr->queues[i].tasks = NULL;
		ctrlr->queues[i].free = NULL;
		ctrlr->queues[i].resubmit = NULL;
	}
	ctrlr->nqueues = 0;
	__atomic_store_n(&ctrlr->inflight_live, 0, __ATOMIC_RELEASE);
}

static void dev_start_finish(struct vhost_ctrlr *ctrlr);

/* Every poll group stopped (controller thread): the device is stopped. */
static void
ctrlr_stopped(struct vhost_ctrlr *ctrlr)
{
	void (*fn)(void *) = ctrlr->stopped_fn;

	if (ctrlr->start_failed) {
		ctrlr_free_queues(ctrlr);
		dev_start_finish(ctrlr);
		return;
	}
	/* Where the rings stand, for GET_VRING_BASE (rte_vhost answers it after destroy_device). */
	for (uint16_t i = 0; i < ctrlr->nqueues; i++) {
		struct vhost_queue *q = &ctrlr->queues[i];

		rte_vhost_set_vring_base(ctrlr->vid, q->idx, osp_vring_last_avail(&q->vq),
					 osp_vring_last_used(&q->vq));
	}
	ctrlr_free_queues(ctrlr);
	__atomic_store_n(&ctrlr->running_vid, -1, __ATOMIC_RELEASE);
	ctrlr->started = false;
	ctrlr->stopping = false;
	ctrlr->vid = -1;
	ctrlr->stopped_fn = NULL;
	if (fn != NULL) {
		fn(ctrlr->stopped_arg);
	}
}

/* ---- poll groups: started and stopped by the controller thread, by message ---- */

static void
pg_stop_ack(void *arg)
{
	struct vhost_pg *pg = arg;
	struct vhost_ctrlr *ctrlr = pg->ctrlr;

	if (--ctrlr->pg_pending == 0) {
		ctrlr_stopped(ctrlr);
	}
}

/* pg's thread: nothing in flight any more. */
static void
pg_stopped(struct vhost_pg *pg)
{
	struct vhost_ctrlr *ctrlr = pg->ctrlr;

	for (uint16_t i = 0; i < pg->nqueues; i++) {
		/* A call still held back by coalescing goes now. */
		pg->queues[i]->irq_delay = 0;
		vhost_queue_signal(pg->queues[i], 0);
	}
	if (ctrlr->ops->pg_stop != NULL) {
		ctrlr->ops->pg_stop(ctrlr, pg);
	}
	pg->nqueues = 0;
	pg->running = false;
	pg->stopping = false;
	osp_thread_send_msg(ctrlr->thread, pg_stop_ack, pg);
}

static void
pg_stop_msg(void *arg)
{
	struct vhost_pg *pg = arg;

	if (!pg->running) {
		osp_thread_send_msg(pg->ctrlr->thread, pg_stop_ack, pg);
		return;
	}
	osp_poller_unregister(&pg->poller);
	/* rte_vhost closes the kick eventfds once destroy_device returns. */
	for (uint16_t i = 0; i < pg->nqueues; i++) {
		queue_unwatch_kick(pg->queues[i]);
	}
	pg->armed = false;
	if (pg->ctrlr->ops->pg_stopping != NULL) {
		pg->ctrlr->ops->pg_stopping(pg->ctrlr, pg);
	}
	pg->stopping = true;
	if (pg->inflight == 0) {
		pg_stopped(pg);
	}
}

/* Controller thread: stop every poll group; ctrlr_stopped() once all did. */
static void
ctrlr_stop_pgs(struct vhost_ctrlr *ctrlr)
{
	ctrlr->pg_pending = ctrlr->npgs;
	for (uint16_t i = 0; i < ctrlr->npgs; i++) {
		osp_thread_send_msg(ctrlr->pgs[i].thread, pg_stop_msg, &ctrlr->pgs[i]);
	}
}

static void
pg_start_ack(void *arg)
{
	struct vhost_pg *pg = arg;
	struct vhost_ctrlr *ctrlr = pg->ctrlr;

	if (pg->start_rc != 0 && ctrlr->start_rc == 0) {
		ctrlr->start_rc = pg->start_rc;
	}
	if (--ctrlr->pg_pending > 0) {
		return;
	}
	if (ctrlr->start_rc != 0) {
		/* Undo: stop those that started, then answer new_device. */
		ctrlr->start_failed = true;
		ctrlr_stop_pgs(ctrlr);
		return;
	}
	dev_start_finish(ctrlr);
}

/* pg's thread: take over the queues the controller thread assigned to pg. */
static void
pg_start_msg(void *arg)
{
	struct vhost_pg *pg = arg;
	struct vhost_ctrlr *ctrlr = pg->ctrlr;
	int rc = 0;

	pg->nqueues = 0;
	pg->inflight = 0;
	pg->armed = false;
	pg->completed = false;
	pg->stopping = false;
	pg->vid = ctrlr->vid;
	pg->guard_seen = 0;	/* look once at start: a fault may predate it */
	pg->mem_lost = false;
	for (uint16_t i = 0; i < ctrlr->nqueues; i++) {
		struct vhost_queue *q = &ctrlr->queues[i];

		if (q->pg == pg) {
			pg->queues[pg->nqueues++] = q;
		}
	}
	if (ctrlr->ops->pg_start != NULL) {
		rc = ctrlr->ops->pg_start(ctrlr, pg);
	}
	if (rc == 0) {
		pg->poller = osp_poller_register_named(pg_poll, pg, 0, "vhost_poll");
		if (pg->poller == NULL) {
			if (ctrlr->ops->pg_stop != NULL) {
				ctrlr->ops->pg_stop(ctrlr, pg);
			}
			rc = -ENOMEM;
		}
	}
	if (rc == 0) {
		for (uint16_t i = 0; i < pg->nqueues; i++) {
			queue_watch_kick(pg->queues[i], pg->queues[i]->kickfd);
		}
		pg->last_work_tsc = osp_thread_get_last_tsc(NULL);
		pg->rate_tsc = pg->last_work_tsc;
		pg->running = true;
	} else {
		pg->nqueues = 0;
	}
	pg->start_rc = rc;
	osp_thread_send_msg(ctrlr->thread, pg_start_ack, pg);
}

void
vhost_task_complete(struct vhost_task *task, uint32_t used_len)
{
	struct vhost_queue *q = task->q;

	osp_vring_push(&q->vq, &task->req, used_len);
	/* The poller decides on the call once per pass (batching, coalescing). */
	q->signal_pending = true;
	q->pg->completed = true;
	q->free[q->nfree++] = task;
	vhost_pg_task_released(q->pg);
}

void
vhost_pg_task_released(struct vhost_pg *pg)
{
	pg->inflight--;
	if (pg->stopping && pg->inflight == 0) {
		pg_stopped(pg);
	}
}

/* ---- new_device / destroy_device: gathered on the rte_vhost thread, applied here ---- */

struct dev_msg {
	struct vhost_ctrlr *ctrlr;
	int vid;
	uint64_t features;
	struct rte_vhost_memory *mem;
	uint16_t nvrings;
	struct rte_vhost_vring vr[VHOST_MAX_QUEUES];
	uint16_t last_avail[VHOST_MAX_QUEUES];
	uint16_t last_used[VHOST_MAX_QUEUES];
	bool have_inflight[VHOST_MAX_QUEUES];
	struct rte_vhost_ring_inflight inflight[VHOST_MAX_QUEUES];
	sem_t done;
	int rc;
};

/*
 * Track queue q's requests in rte_vhost's inflight region (split rings; the
 * front end negotiated INFLIGHT_SHMFD and shared a region) and take the heads
 * the previous back end left in flight, oldest first: rte_vhost lists them
 * (newest first) and already counted them in last_avail. A listed head must be
 * inside the ring and still flagged in the region; anything else is skipped.
 */
static int
queue_inflight_setup(struct vhost_ctrlr *ctrlr, struct vhost_queue *q,
		     const struct rte_vhost_ring_inflight *inf)
{
	struct osp_vring_inflight_split *region = (void *)inf->inflight_split;
	const struct rte_vhost_resubmit_info *rs = inf->resubmit_inflight;
	uint16_t desc_num, size = q->vq.size;
	uint64_t counter = 0;

	if (region == NULL) {
		return 0;
	}
	desc_num = __atomic_load_n(&region->desc_num, __ATOMIC_RELAXED);
	if (osp_vring_set_inflight(&q->vq, region, desc_num, 0) != 0) {
		OSP_ERRLOG("vhost %s: queue %u: inflight region of %u entries for a ring of %u: "
			   "requests in flight are not tracked\n", ctrlr->name, q->idx, desc_num, size);
		return 0;
	}
	if (rs != NULL && rs->resubmit_list != NULL && rs->resubmit_num > 0) {
		q->resubmit = calloc(rs->resubmit_num, sizeof(*q->resubmit));
		if (q->resubmit == NULL) {
			return -ENOMEM;
		}
		for (uint32_t i = rs->resubmit_num; i-- > 0;) {
			const struct rte_vhost_resubmit_desc *e = &rs->resubmit_list[i];

			if (e->counter >= counter) {
				counter = e->counter + 1;
			}
			if (e->index >= size || region->desc[e->index].inflight != 1) {
				continue;
			}
			q->resubmit[q->nresubmit++] = e->index;
		}
		if (q->nresubmit == 0) {
			free(q->resubmit);
			q->resubmit = NULL;
		} else {
			OSP_NOTICELOG("vhost %s: queue %u: %u request(s) in flight at the last stop "
				      "to resubmit\n", ctrlr->name, q->idx, q->nresubmit);
		}
	}
	q->vq.inflight_counter = counter;
	return 0;
}

/*
 * Packed rings: track queue q's requests in the packed layout of the inflight
 * region (vring.c). A region that SET_VRING_KICK found used by a previous back
 * end (inflight_kick_pre ran the reconnect steps on it) gives the ring's
 * positions, which QEMU cannot know for a packed ring after losing its back
 * end, and the chains to resubmit, oldest first; any other is initialised
 * from the positions the front end gave. The region's entries must cover the
 * ring, inside the per-queue area the front end's message announced.
 */
static int
queue_inflight_setup_packed(struct vhost_ctrlr *ctrlr, struct vhost_queue *q,
			    const struct rte_vhost_ring_inflight *inf)
{
	struct osp_vring_inflight_packed *region = (void *)inf->inflight_packed;
	uint64_t area = __atomic_load_n(&ctrlr->inflight_area, __ATOMIC_ACQUIRE);
	uint64_t bit = q->idx < 64 ? 1ull << q->idx : 0;
	bool resume = (__atomic_fetch_and(&ctrlr->inflight_resume, ~bit, __ATOMIC_ACQ_REL) & bit) != 0;
	uint16_t size = q->vq.size, avail0 = osp_vring_last_avail(&q->vq);
	uint16_t used0 = osp_vring_last_used(&q->vq);
	uint64_t nent = area >= 32 ? (area - 32) / 32 : 0;
	struct osp_vring_resubmit *rs = NULL;
	uint16_t desc_num;
	int n;

	if (region == NULL) {
		return 0;
	}
	desc_num = __atomic_load_n(&region->desc_num, __ATOMIC_RELAXED);
	if (desc_num < nent) {
		nent = desc_num;
	}
	if (nent < size) {
		OSP_ERRLOG("vhost %s: queue %u: packed inflight region of %" PRIu64 " entries for a ring "
			   "of %u: requests in flight are not tracked\n", ctrlr->name, q->idx, nent, size);
		return 0;
	}
	if (resume) {
		rs = calloc(size, sizeof(*rs));
		if (rs == NULL) {
			return -ENOMEM;
		}
	}
	n = osp_vring_set_inflight_packed(&q->vq, region, (uint16_t)nent, resume, rs, size);
	if (n < 0) {
		OSP_ERRLOG("vhost %s: queue %u: the packed inflight region is inconsistent: requests in "
			   "flight at the last stop are lost, not tracked\n", ctrlr->name, q->idx);
		free(rs);
		return 0;
	}
	if (resume && (osp_vring_last_avail(&q->vq) != avail0 || osp_vring_last_used(&q->vq) != used0)) {
		OSP_NOTICELOG("vhost %s: queue %u: ring position from the inflight region: avail 0x%x "
			      "used 0x%x (the front end gave 0x%x 0x%x)\n", ctrlr->name, q->idx,
			      osp_vring_last_avail(&q->vq), osp_vring_last_used(&q->vq), avail0, used0);
	}
	if (n > 0) {
		q->resubmit = calloc((size_t)n, sizeof(*q->resubmit));
		if (q->resubmit == NULL) {
			free(rs);
			return -ENOMEM;
		}
		for (int i = 0; i < n; i++) {
			q->resubmit[i] = rs[i].slot;
		}
		q->nresubmit = (uint16_t)n;
		OSP_NOTICELOG("vhost %s: queue %u: %u request(s) in flight at the last stop "
			      "to resubmit\n", ctrlr->name, q->idx, q->nresubmit);
	}
	free(rs);
	return 0;
}

/* Start serving queue idx (controller thread). */
static int
queue_add(struct vhost_ctrlr *ctrlr, uint16_t idx, const struct rte_vhost_vring *vr,
	  uint16_t last_avail, uint16_t last_used, const struct rte_vhost_ring_inflight *inf)
{
	struct vhost_queue *q;
	int rc;

	if (ctrlr->nqueues == VHOST_MAX_QUEUES) {
		return -ENOSPC;
	}
	q = &ctrlr->queues[ctrlr->nqueues];
	memset(q, 0, sizeof(*q));
	if (ctrlr->neg_features & (1ull << OSP_VIRTIO_F_RING_PACKED)) {
		/* rte_vhost reports packed indexes with the wrap counter in bit 15, as the ring layer takes them. */
		rc = osp_vring_init_packed(&q->vq, &ctrlr->mem, vr->size, vr->desc_packed,
					   vr->driver_event, vr->device_event, ctrlr->neg_features,
					   last_avail, last_used);
	} else {
		rc = osp_vring_init_split(&q->vq, &ctrlr->mem, vr->size, vr->desc, vr->avail,
					  vr->used, ctrlr->neg_features, last_avail, last_used);
	}
	if (rc != 0) {
		return -EINVAL;
	}
	q->ctrlr = ctrlr;
	/* Queues spread over the poll groups (the cores of the cpumask). */
	q->pg = &ctrlr->pgs[ctrlr->nqueues % ctrlr->npgs];
	q->idx = idx;
	if (inf != NULL && (q->vq.packed ? queue_inflight_setup_packed(ctrlr, q, inf) :
			    queue_inflight_setup(ctrlr, q, inf)) != 0) {
		return -ENOMEM;
	}
	q->callfd = vr->callfd;
	q->kickfd = vr->kickfd;	/* watched by q->pg's thread once it takes the queue */
	/* At most VHOST_TASKS_MAX requests in flight per queue, whatever the ring size. */
	q->ntasks = vr->size < VHOST_TASKS_MAX ? vr->size : VHOST_TASKS_MAX;
	q->tasks = calloc(q->ntasks, ctrlr->ops->task_size);
	q->free = calloc(q->ntasks, sizeof(*q->free));
	if (q->tasks == NULL || q->free == NULL) {
		free(q->tasks);
		free(q->free);
		free(q->resubmit);
		q->resubmit = NULL;
		return -ENOMEM;
	}
	for (uint32_t t = 0; t < q->ntasks; t++) {
		struct vhost_task *task = (struct vhost_task *)(q->tasks + t * ctrlr->ops->task_size);

		task->q = q;
		q->free[t] = task;
	}
	q->nfree = q->ntasks;
	/* We poll: the driver need not kick until the poller arms (interrupt mode). */
	osp_vring_set_kick(&q->vq, false);
	ctrlr->nqueues++;
	if (idx < 64) {
		__atomic_fetch_or(&ctrlr->inflight_live, 1ull << idx, __ATOMIC_RELEASE);
	}
	return 0;
}

static void
dev_start_msg(void *arg)
{
	struct dev_msg *m = arg;
	struct vhost_ctrlr *ctrlr = m->ctrlr;
	struct osp_vhost_mem_region regions[OSP_VHOST_MEM_MAX_REGIONS];
	int rc = -EINVAL;

	if (ctrlr->deleting || ctrlr->started) {
		rc = -EBUSY;
		goto out;
	}
	if (m->mem->nregions == 0 || m->mem->nregions > OSP_VHOST_MEM_MAX_REGIONS) {
		goto out;
	}
	if (vhost_guard_was_hit(ctrlr, m->vid, NULL) ||
	    vhost_guard_was_hit(VHOST_GUARD_INFLIGHT_KEY(ctrlr), m->vid, NULL)) {
		OSP_ERRLOG("vhost %s: device not started: its guest memory went away (SIGBUS)\n",
			   ctrlr->name);
		rc = -EIO;
		goto out;
	}
	for (uint32_t i = 0; i < m->mem->nregions; i++) {
		regions[i].gpa = m->mem->regions[i].guest_phys_addr;
		regions[i].size = m->mem->regions[i].size;
		regions[i].host = (void *)(uintptr_t)m->mem->regions[i].host_user_addr;
	}
	if (osp_vhost_mem_init(&ctrlr->mem, regions, m->mem->nregions) != 0) {
		goto out;
	}
	if ((m->features & (1ull << OSP_VIRTIO_F_RING_PACKED)) &&
	    !(ctrlr->features & (1ull << OSP_VIRTIO_F_RING_PACKED))) {
		goto out;	/* not offered */
	}
	ctrlr->nqueues = 0;
	ctrlr->neg_features = m->features;
	for (uint16_t i = 0; i < m->nvrings; i++) {
		if (m->vr[i].desc == NULL || m->vr[i].size == 0) {
			continue;
		}
		rc = queue_add(ctrlr, i, &m->vr[i], m->last_avail[i], m->last_used[i],
			       m->have_inflight[i] ? &m->inflight[i] : NULL);
		if (rc != 0) {
			goto fail;
		}
	}
	rc = -EINVAL;
	if (ctrlr->nqueues == 0) {
		goto out;
	}
	/* Each poll group's thread takes its queues; dev_start_finish() answers. */
	ctrlr->vid = m->vid;
	ctrlr->start_msg = m;
	ctrlr->start_rc = 0;
	ctrlr->start_failed = false;
	ctrlr->pg_pending = ctrlr->npgs;
	for (uint16_t i = 0; i < ctrlr->npgs; i++) {
		osp_thread_send_msg(ctrlr->pgs[i].thread, pg_start_msg, &ctrlr->pgs[i]);
	}
	return;
fail:
	ctrlr_free_queues(ctrlr);
out:
	m->rc = rc;
	sem_post(&m->done);
}

/* Every poll group answered the start (controller thread): answer new_device. */
static void
dev_start_finish(struct vhost_ctrlr *ctrlr)
{
	struct dev_msg *m = ctrlr->start_msg;

	ctrlr->start_msg = NULL;
	if (ctrlr->start_failed) {
		OSP_ERRLOG("vhost %s: device not started: %s\n", ctrlr->name,
			   strerror(-ctrlr->start_rc));
		ctrlr->start_failed = false;
		ctrlr->vid = -1;
		m->rc = ctrlr->start_rc;
		sem_post(&m->done);
		return;
	}
	ctrlr->started = true;
	__atomic_store_n(&ctrlr->running_vid, m->vid, __ATOMIC_RELEASE);
	if (ctrlr->ops->dev_started != NULL) {
		ctrlr->ops->dev_started(ctrlr);
	}
	OSP_NOTICELOG("vhost %s: device started (%u queue(s) on %u thread(s), features 0x%" PRIx64
		      ")\n", ctrlr->name, ctrlr->nqueues,
		      ctrlr->nqueues < ctrlr->npgs ? ctrlr->nqueues : ctrlr->npgs, m->features);
	m->rc = 0;
	sem_post(&m->done);
}

/*
 * The inflight areas (the front end's file too: it may shrink it) go under the
 * SIGBUS guard: each queue's area, page-rounded (it lies inside rte_vhost's
 * mapping of the region, whose size inflight_msg_check compared with the
 * queues). rte_vhost thread.
 */
static void
inflight_guard(struct vhost_ctrlr *c, const struct dev_msg *m)
{
	const void *key = VHOST_GUARD_INFLIGHT_KEY(c);

	vhost_guard_del(key, m->vid);
	for (uint16_t i = 0; i < m->nvrings; i++) {
		uintptr_t a = (uintptr_t)m->inflight[i].inflight_split;
		uintptr_t start, end;
		int rc;

		if (!m->have_inflight[i] || a == 0 || c->inflight_area == 0) {
			continue;
		}
		start = a & ~(uintptr_t)4095;
		end = (a + c->inflight_area + 4095) & ~(uintptr_t)4095;
		rc = vhost_guard_add(key, m->vid, (void *)start, end - start, 4096);
		if (rc != 0) {
			OSP_ERRLOG("vhost %s: queue %u: cannot guard its inflight area: %s\n", c->name, i,
				   strerror(-rc));
		}
	}
}

static int
cb_new_device(int vid)
{
	struct dev_msg *m;
	struct vhost_ctrlr *ctrlr;
	uint16_t n;
	int rc;

	/*
	 * A device we started ourselves (vhost_self_start) that rte_vhost now
	 * finds ready, every queue set up: it runs already, with the queues added
	 * as they came; from now on rte_vhost stops it (destroy_device).
	 */
	pthread_mutex_lock(&g_lock);
	ctrlr = ctrlr_by_vid_locked(vid);
	if (ctrlr != NULL && ctrlr->self_vid == vid &&
	    __atomic_load_n(&ctrlr->running_vid, __ATOMIC_ACQUIRE) == vid) {
		ctrlr->self_vid = -1;
		pthread_mutex_unlock(&g_lock);
		return 0;
	}
	pthread_mutex_unlock(&g_lock);
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return -1;
	}
	m->vid = vid;
	if (rte_vhost_get_negotiated_features(vid, &m->features) != 0 ||
	    rte_vhost_get_mem_table(vid, &m->mem) != 0) {
		free(m);
		return -1;
	}
	n = rte_vhost_get_vring_num(vid);
	m->nvrings = n < VHOST_MAX_QUEUES ? n : VHOST_MAX_QUEUES;
	for (uint16_t i = 0; i < m->nvrings; i++) {
		if (rte_vhost_get_vhost_vring(vid, i, &m->vr[i]) != 0 ||
		    rte_vhost_get_vring_base(vid, i, &m->last_avail[i], &m->last_used[i]) != 0) {
			memset(&m->vr[i], 0, sizeof(m->vr[i]));
		}
		/* Fails when the front end shared no inflight region: not tracked then. */
		m->have_inflight[i] = rte_vhost_get_vhost_ring_inflight(vid, i, &m->inflight[i]) == 0;
	}
	sem_init(&m->done, 0, 0);
	pthread_mutex_lock(&g_lock);
	ctrlr = ctrlr_by_vid_locked(vid);
	m->ctrlr = ctrlr;
	if (ctrlr != NULL) {
		inflight_guard(ctrlr, m);
	}
	rc = ctrlr != NULL ? osp_thread_send_msg(ctrlr->thread, dev_start_msg, m) : -ENODEV;
	pthread_mutex_unlock(&g_lock);
	if (rc == 0) {
		while (sem_wait(&m->done) != 0) {
		}
		rc = m->rc;
	}
	sem_destroy(&m->done);
	free(m->mem);
	free(m);
	return rc == 0 ? 0 : -1;
}

static void
dev_stop_done(void *arg)
{
	sem_post(&((struct dev_msg *)arg)->done);
}

static void
dev_stop_msg(void *arg)
{
	struct dev_msg *m = arg;
	struct vhost_ctrlr *ctrlr = m->ctrlr;
	uint32_t inflight = 0;

	if (!ctrlr->started || ctrlr->vid != m->vid) {
		sem_post(&m->done);
		return;
	}
	ctrlr->stopped_fn = dev_stop_done;
	ctrlr->stopped_arg = m;
	ctrlr->stopping = true;
	if (ctrlr->ops->dev_stopping != NULL) {
		ctrlr->ops->dev_stopping(ctrlr);
	}
	for (uint16_t i = 0; i < ctrlr->npgs; i++) {
		/* Another group's count is read racily: for the log line only. */
		inflight += __atomic_load_n(&ctrlr->pgs[i].inflight, __ATOMIC_RELAXED);
	}
	OSP_NOTICELOG("vhost %s: device stopping (%u request(s) in flight)\n", ctrlr->name,
		      inflight);
	/* Each poll group stops polling, drains its I/O, lets go of its queues. */
	ctrlr_stop_pgs(ctrlr);
}

static void
cb_destroy_device(int vid)
{
	struct dev_msg m = { .vid = vid };
	int rc;

	sem_init(&m.done, 0, 0);
	pthread_mutex_lock(&g_lock);
	m.ctrlr = ctrlr_by_vid_locked(vid);
	rc = m.ctrlr != NULL ? osp_thread_send_msg(m.ctrlr->thread, dev_stop_msg, &m) : -ENODEV;
	pthread_mutex_unlock(&g_lock);
	if (rc == 0) {
		while (sem_wait(&m.done) != 0) {
		}
	}
	sem_destroy(&m.done);
}

/* Stop a device we started ourselves (rte_vhost thread), before rte_vhost stops its rings. */
static void
vhost_self_stop(struct vhost_ctrlr *c, int vid)
{
	if (c->self_vid != vid) {
		return;
	}
	c->self_vid = -1;
	cb_destroy_device(vid);
}

/* GET_CONFIG (rte_vhost 22.11 serves it only for vDPA devices): answered here from the snapshot. */
/*
 * GET_INFLIGHT_FD / SET_INFLIGHT_FD, before rte_vhost handles them: rte_vhost
 * sizes the region from the message (and zeroes all of it for GET) and maps
 * what SET names without comparing its size with the queues, and replaces a
 * region under a running device. Refused (the connection is dropped): a
 * region for more than 64 queues or rings above 32768 entries, a SET whose
 * mapping is smaller than its queues' areas (vhost-user, "Inflight I/O
 * tracking": each queue's area is its header and entries rounded up to 64
 * bytes), and either message while this connection's device runs (the
 * poller writes into the current region).
 */
static enum rte_vhost_msg_result
inflight_msg_check(int vid, const struct vhu_inflight_msg *m)
{
	struct vhost_ctrlr *c;
	uint64_t features = 0, entry, head, per_queue;
	bool running;

	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	running = c != NULL && __atomic_load_n(&c->running_vid, __ATOMIC_ACQUIRE) == vid;
	pthread_mutex_unlock(&g_lock);
	if (c == NULL || running) {
		OSP_ERRLOG("vhost: %s refused: %s\n", m->request == VHOST_USER_GET_INFLIGHT_FD_REQ ?
			   "GET_INFLIGHT_FD" : "SET_INFLIGHT_FD",
			   c == NULL ? "unknown connection" : "the device is running");
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	if (m->size != VHU_INFLIGHT_PAYLOAD || m->num_queues == 0 ||
	    m->num_queues > VHOST_INFLIGHT_MAX_QUEUES || m->queue_size == 0 ||
	    m->queue_size > OSP_VRING_MAX_SIZE) {
		OSP_ERRLOG("vhost %s: inflight region for %u queue(s) of %u refused\n", c->name,
			   m->num_queues, m->queue_size);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	rte_vhost_get_negotiated_features(vid, &features);
	if (features & (1ull << OSP_VIRTIO_F_RING_PACKED)) {
		entry = 32;
		head = 29;
	} else {
		entry = 16;
		head = 16;
	}
	per_queue = (entry * m->queue_size + head + 63) & ~63ull;
	/* rte_vhost replaces (unmaps) the current region: its guard goes (new_device guards the new one). */
	vhost_guard_del(VHOST_GUARD_INFLIGHT_KEY(c), vid);
	c->inflight_area = per_queue;
	if (m->request == VHOST_USER_SET_INFLIGHT_FD_REQ) {
		if (m->mmap_size < per_queue * m->num_queues) {
			OSP_ERRLOG("vhost %s: inflight region of %" PRIu64 " bytes for %u queue(s) of %u "
				   "refused (too small)\n", c->name, m->mmap_size, m->num_queues,
				   m->queue_size);
			return RTE_VHOST_MSG_RESULT_ERR;
		}
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/*
 * SET_VRING_KICK, before rte_vhost handles it (rte_vhost runs its own
 * reconnect check of the inflight region there, which for packed rings does
 * not look at the ring): on a packed queue whose region a back end used
 * before (version set), run the specification's reconnect steps
 * (osp_vring_inflight_packed_recover: commit or roll back the update in
 * progress, clear the free list's flags), so that rte_vhost finds a
 * consistent region, and mark the queue to resume from it (queue_add). A
 * queue the running device tracks is left alone.
 */
static void
inflight_kick_pre(int vid, struct vhost_ctrlr *c, uint32_t qid)
{
	struct rte_vhost_ring_inflight inf;
	struct osp_vring_inflight_packed *region;
	struct rte_vhost_vring vr;
	uint64_t features = 0, bit, area, nent;
	uint16_t desc_num;
	bool live;

	if (qid >= 64) {
		return;
	}
	bit = 1ull << qid;
	__atomic_fetch_and(&c->inflight_resume, ~bit, __ATOMIC_ACQ_REL);
	if (rte_vhost_get_negotiated_features(vid, &features) != 0 ||
	    !(features & (1ull << OSP_VIRTIO_F_RING_PACKED))) {
		return;
	}
	live = __atomic_load_n(&c->running_vid, __ATOMIC_ACQUIRE) == vid &&
	       (__atomic_load_n(&c->inflight_live, __ATOMIC_ACQUIRE) & bit) != 0;
	if (live || rte_vhost_get_vhost_ring_inflight(vid, (uint16_t)qid, &inf) != 0 ||
	    inf.inflight_packed == NULL || rte_vhost_get_vhost_vring(vid, (uint16_t)qid, &vr) != 0) {
		return;
	}
	region = (void *)inf.inflight_packed;
	area = c->inflight_area;
	nent = area >= 32 ? (area - 32) / 32 : 0;
	desc_num = __atomic_load_n(&region->desc_num, __ATOMIC_RELAXED);
	if (desc_num < nent) {
		nent = desc_num;
	}
	if (nent == 0 || nent < vr.size || __atomic_load_n(&region->version, __ATOMIC_ACQUIRE) == 0) {
		return;	/* a new region (queue_add initialises it) or one we cannot use */
	}
	if (osp_vring_inflight_packed_recover(region, (uint16_t)nent, vr.desc_packed, vr.size) == 0) {
		__atomic_fetch_or(&c->inflight_resume, bit, __ATOMIC_ACQ_REL);
	}
}

/*
 * Each region of a new memory table must lie inside its file: rte_vhost maps
 * mmap_offset + size bytes of it and touches the rings there, and a page past
 * the end of the file is a SIGBUS that kills the daemon. Refused (the
 * connection is dropped) when a region overflows or runs past its file's
 * end. (A front end that shrinks its file later is not caught here.)
 */
static bool
mem_table_files_ok(const struct vhu_msg_ctx *ctx)
{
	uint32_t n = ctx->payload.mem.nregions;

	if (n == 0 || n > VHU_MAX_FDS || ctx->fd_num != (int)n) {
		return true;	/* malformed: rte_vhost refuses it itself */
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vhu_mem_region reg = ctx->payload.mem.regions[i];
		const struct vhu_mem_region *r = &reg;
		struct stat st;

		if (fstat(ctx->fds[i], &st) != 0) {
			return false;
		}
		if (r->mmap_offset + r->size < r->mmap_offset) {
			OSP_ERRLOG("vhost: SET_MEM_TABLE refused: region %u wraps around\n", i);
			return false;
		}
		if ((S_ISREG(st.st_mode) || st.st_size > 0) &&
		    r->mmap_offset + r->size > (uint64_t)st.st_size) {
			OSP_ERRLOG("vhost: SET_MEM_TABLE refused: region %u (offset %" PRIu64 ", %" PRIu64
				   " bytes) runs past the end of its file (%" PRIu64 " bytes)\n", i,
				   r->mmap_offset, r->size, (uint64_t)st.st_size);
			return false;
		}
	}
	return true;
}

/*
 * SET_MEM_TABLE under a running device (memory hot plug is legal): rte_vhost
 * unmaps the old regions and moves the rings when it handles it, while our
 * pollers still use them. So the device stops first (its I/O drains, the
 * ring positions are saved) and starts again on the new table once
 * rte_vhost has handled the message (post_msg_handle).
 */
static void
mem_table_pre(int vid)
{
	struct vhost_ctrlr *c;
	bool running;

	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	running = c != NULL && __atomic_load_n(&c->running_vid, __ATOMIC_ACQUIRE) == vid;
	pthread_mutex_unlock(&g_lock);
	if (!running) {
		return;
	}
	OSP_NOTICELOG("vhost %s: new memory table while the device runs: restarting it\n", c->name);
	cb_destroy_device(vid);
	c->remap_vid = vid;
}

/*
 * The regions rte_vhost mapped for vid's memory table go under the SIGBUS
 * guard (vhost_guard.c), so that a front end shrinking a file under us stops
 * its own device only. Each mapping as rte_vhost made it (mmap_addr,
 * mmap_size), at its file's block size (hugetlbfs: the huge page size).
 * rte_vhost thread; false if the table is full.
 */
static bool
mem_table_guard(struct vhost_ctrlr *c, int vid)
{
	struct rte_vhost_memory *mem = NULL;
	bool ok = true;

	vhost_guard_del(c, vid);
	if (rte_vhost_get_mem_table(vid, &mem) != 0) {
		return true;	/* no table: nothing mapped */
	}
	for (uint32_t i = 0; i < mem->nregions && ok; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		struct stat st;
		uint64_t align = 4096;
		int rc;

		if (r->mmap_addr == NULL || r->mmap_size == 0) {
			continue;
		}
		if (r->fd >= 0 && fstat(r->fd, &st) == 0 && st.st_blksize > 0 &&
		    (st.st_blksize & (st.st_blksize - 1)) == 0) {
			align = (uint64_t)st.st_blksize;
		}
		rc = vhost_guard_add(c, vid, r->mmap_addr, r->mmap_size, align);
		if (rc != 0) {
			OSP_ERRLOG("vhost %s: cannot guard guest memory region %u: %s\n", c->name, i,
				   strerror(-rc));
			ok = false;
		}
	}
	free(mem);
	if (!ok) {
		vhost_guard_del(c, vid);
	}
	return ok;
}

static enum rte_vhost_msg_result
post_msg_handle(int vid, void *msg)
{
	struct vhu_config_msg *m = msg;
	struct vhost_ctrlr *c;
	bool restart;

	if (m->request != VHOST_USER_SET_MEM_TABLE_REQ) {
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	restart = c != NULL && c->remap_vid == vid;
	if (restart) {
		c->remap_vid = -1;
	}
	pthread_mutex_unlock(&g_lock);
	if (c != NULL && !mem_table_guard(c, vid)) {
		return RTE_VHOST_MSG_RESULT_ERR;	/* the connection is closed */
	}
	if (restart && cb_new_device(vid) != 0) {
		OSP_ERRLOG("vhost %s: the device did not start again on the new memory table\n",
			   c->name);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static enum rte_vhost_msg_result
pre_msg_handle(int vid, void *msg)
{
	struct vhu_config_msg *m = msg;
	struct vhost_ctrlr *c;
	enum rte_vhost_msg_result res;

	/*
	 * A connection whose guest memory went away (the SIGBUS guard redirected
	 * a fault into it) is closed at its next message: refused, rte_vhost
	 * drops it (destroy_device, destroy_connection, unmaps).
	 */
	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	pthread_mutex_unlock(&g_lock);
	if (c != NULL && (vhost_guard_was_hit(c, vid, NULL) ||
			  vhost_guard_was_hit(VHOST_GUARD_INFLIGHT_KEY(c), vid, NULL))) {
		OSP_ERRLOG("vhost %s: message %u refused, connection closed: its guest memory went "
			   "away (SIGBUS)\n", c->name, m->request);
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	if (m->request == VHOST_USER_GET_VRING_BASE_REQ && c != NULL) {
		/* The front end stops the device: rte_vhost does that only for one it started. */
		vhost_self_stop(c, vid);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (m->request == VHOST_USER_RESET_OWNER_REQ && c != NULL) {
		vhost_self_stop(c, vid);
		/* rte_vhost unmaps the regions: stop the device, then unguard them. */
		if (__atomic_load_n(&c->running_vid, __ATOMIC_ACQUIRE) == vid) {
			cb_destroy_device(vid);
		}
		vhost_guard_del(c, vid);
		vhost_guard_del(VHOST_GUARD_INFLIGHT_KEY(c), vid);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (m->request == VHOST_USER_GET_INFLIGHT_FD_REQ ||
	    m->request == VHOST_USER_SET_INFLIGHT_FD_REQ) {
		return inflight_msg_check(vid, msg);
	}
	if (m->request == VHOST_USER_SET_VRING_KICK_REQ && c != NULL && m->size >= 8) {
		/* Payload: u64, the queue index in bits 0-7 (its low half is the "offset" field here). */
		inflight_kick_pre(vid, c, m->offset & 0xff);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (m->request == VHOST_USER_SET_MEM_TABLE_REQ) {
		if (!mem_table_files_ok(msg)) {
			return RTE_VHOST_MSG_RESULT_ERR;
		}
		mem_table_pre(vid);
		/* rte_vhost may unmap the old regions now: guarded again in post_msg_handle. */
		if (c != NULL) {
			vhost_guard_del(c, vid);
		}
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (m->request != VHOST_USER_GET_CONFIG_REQ) {
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	if (c == NULL) {
		res = RTE_VHOST_MSG_RESULT_ERR;
	} else if (m->size < 12 || m->cfg_size > VHOST_USER_MAX_CONFIG ||
		   m->size != 12 + m->cfg_size || m->offset > c->config_len ||
		   m->cfg_size > c->config_len - m->offset) {
		/* Refused: a reply without payload. */
		m->size = 0;
		res = RTE_VHOST_MSG_RESULT_REPLY;
	} else {
		memcpy(m->region, c->config + m->offset, m->cfg_size);
		res = RTE_VHOST_MSG_RESULT_REPLY;
	}
	pthread_mutex_unlock(&g_lock);
	return res;
}

static const struct rte_vhost_user_extern_ops g_extern_ops = {
	.pre_msg_handle = pre_msg_handle,
	.post_msg_handle = post_msg_handle,
};

static int
cb_new_connection(int vid)
{
	return rte_vhost_extern_callback_register(vid, &g_extern_ops, NULL) == 0 ? 0 : -1;
}

/* rte_vhost unmaps the connection's regions after this: unguard them. */
static void
cb_destroy_connection(int vid)
{
	struct vhost_ctrlr *c;

	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	pthread_mutex_unlock(&g_lock);
	if (c != NULL) {
		/* rte_vhost calls destroy_device only for a device it started. */
		vhost_self_stop(c, vid);
		vhost_guard_del(c, vid);
		vhost_guard_del(VHOST_GUARD_INFLIGHT_KEY(c), vid);
	}
}

/*
 * A queue disabled or enabled while the device runs (rte_vhost reports it
 * when, e.g., SET_VRING_CALL replaces the call eventfd: disable before it
 * closes the old fd, enable after). Disabled: not polled and no call writes;
 * enabled again: the current callfd is taken.
 */
struct state_msg {
	struct vhost_ctrlr *ctrlr;
	int vid;
	uint16_t qid;
	int enable;
	int callfd;
	bool have_vr;
	bool have_base;
	struct rte_vhost_vring vr;
	uint16_t last_avail;
	uint16_t last_used;
	bool have_inflight;
	struct rte_vhost_ring_inflight inflight;
	struct vhost_queue *q;		/* the queue, found or added by the controller thread */
	bool added;
	sem_t done;
};

/* The queue's poll group thread: apply the change (state_msg.q set). */
static void
pg_state_msg(void *arg)
{
	struct state_msg *m = arg;
	struct vhost_queue *q = m->q;
	struct vhost_pg *pg = q->pg;

	/* Kicks off everywhere first: the armed set is about to change. */
	pg_wake(pg);
	if (m->added) {
		pg->queues[pg->nqueues++] = q;
		queue_watch_kick(q, q->kickfd);
	} else {
		q->paused = !m->enable;
		q->callfd = m->enable ? m->callfd : -1;
		/* Disabled: rte_vhost may close the kick fd next (SET_VRING_KICK); enabled: maybe a new one. */
		queue_unwatch_kick(q);
		if (m->enable && m->have_vr) {
			queue_watch_kick(q, m->vr.kickfd);
		}
		/*
		 * Requests completed while the queue was disabled (QEMU swaps the
		 * call fd with SET_VRING_CALL while the guest driver already runs,
		 * e.g. at MSI-X set-up) were pushed without a call: one call on the
		 * new fd, or the driver waits for them forever (a spurious call is
		 * harmless).
		 */
		if (m->enable && q->callfd >= 0) {
			uint64_t one = 1;

			if (write(q->callfd, &one, sizeof(one)) == sizeof(one)) {
				q->stat_calls++;
			}
		}
	}
	sem_post(&m->done);
}

static void
vring_state_msg(void *arg)
{
	struct state_msg *m = arg;
	struct vhost_ctrlr *ctrlr = m->ctrlr;

	if (!ctrlr->started || ctrlr->stopping || ctrlr->vid != m->vid) {
		sem_post(&m->done);
		return;
	}
	for (uint16_t i = 0; i < ctrlr->nqueues; i++) {
		if (ctrlr->queues[i].idx == m->qid) {
			m->q = &ctrlr->queues[i];
			osp_thread_send_msg(m->q->pg->thread, pg_state_msg, m);
			return;
		}
	}
	/* A queue that became ready after the device started (multi-queue). */
	if (m->enable && m->have_vr && m->have_base && m->vr.desc != NULL && m->vr.size != 0 &&
	    queue_add(ctrlr, m->qid, &m->vr, m->last_avail, m->last_used,
		      m->have_inflight ? &m->inflight : NULL) == 0) {
		m->q = &ctrlr->queues[ctrlr->nqueues - 1];
		m->added = true;
		OSP_NOTICELOG("vhost %s: queue %u started (%u queue(s))\n", ctrlr->name, m->qid,
			      ctrlr->nqueues);
		osp_thread_send_msg(m->q->pg->thread, pg_state_msg, m);
		return;
	}
	sem_post(&m->done);
}

/*
 * A queue became ready (it has its addresses, kick and call fds and is
 * enabled) and the device is not running: start it with the queues ready so
 * far. rte_vhost 22.11 starts a device only when every queue the front end
 * ever named is ready, but a front end may use only some (vhost-user: a ring
 * is started when it has its kick fd and is enabled; SeaBIOS's virtio-scsi
 * driver sets up one request queue of a vhost-user-scsi-pci device, QEMU
 * named them all at its init): the device must work with the rings it has.
 * Queues that become ready later are added as before (vring_state_msg).
 * rte_vhost will not stop a device it did not start: GET_VRING_BASE,
 * RESET_OWNER and the end of the connection do (self_vid).
 */
static void
vhost_self_start(int vid)
{
	struct vhost_ctrlr *c;
	bool skip;

	pthread_mutex_lock(&g_lock);
	c = ctrlr_by_vid_locked(vid);
	skip = c == NULL || c->remap_vid == vid ||
	       __atomic_load_n(&c->running_vid, __ATOMIC_ACQUIRE) == vid;
	pthread_mutex_unlock(&g_lock);
	if (skip) {
		return;
	}
	if (cb_new_device(vid) == 0) {
		uint16_t named = rte_vhost_get_vring_num(vid);
		uint16_t started = __atomic_load_n(&c->nqueues, __ATOMIC_RELAXED);

		c->self_vid = vid;
		if (started < named) {
			OSP_NOTICELOG("vhost %s: device started with the %u queue(s) its front end set up "
				      "of the %u it named\n", c->name, started, named);
		}
	}
}

static int
cb_vring_state_changed(int vid, uint16_t qid, int enable)
{
	struct state_msg m = { .vid = vid, .qid = qid, .enable = enable, .callfd = -1 };
	struct rte_vhost_vring vr;
	int rc;

	if (enable) {
		vhost_self_start(vid);
	}

	if (enable && rte_vhost_get_vhost_vring(vid, qid, &vr) == 0) {
		m.callfd = vr.callfd;
		m.vr = vr;
		m.have_vr = true;
		m.have_base = rte_vhost_get_vring_base(vid, qid, &m.last_avail, &m.last_used) == 0;
		m.have_inflight = rte_vhost_get_vhost_ring_inflight(vid, qid, &m.inflight) == 0;
	}
	sem_init(&m.done, 0, 0);
	pthread_mutex_lock(&g_lock);
	m.ctrlr = ctrlr_by_vid_locked(vid);
	rc = m.ctrlr != NULL ? osp_thread_send_msg(m.ctrlr->thread, vring_state_msg, &m) : -ENODEV;
	pthread_mutex_unlock(&g_lock);
	if (rc == 0) {
		while (sem_wait(&m.done) != 0) {
		}
	}
	sem_destroy(&m.done);
	return 0;
}

static const struct rte_vhost_device_ops g_dev_ops = {
	.new_device = cb_new_device,
	.vring_state_changed = cb_vring_state_changed,
	.destroy_device = cb_destroy_device,
	.new_connection = cb_new_connection,
	.destroy_connection = cb_destroy_connection,
};

void
vhost_ctrlr_config_update(struct vhost_ctrlr *ctrlr, uint32_t offset, const void *data,
			  uint32_t len)
{
	int rc;

	if (offset > sizeof(ctrlr->config) || len > sizeof(ctrlr->config) - offset) {
		return;
	}
	pthread_mutex_lock(&g_lock);
	memcpy(ctrlr->config + offset, data, len);
	pthread_mutex_unlock(&g_lock);
	if (!ctrlr->started || ctrlr->stopping) {
		return;
	}
	/*
	 * The driver (QEMU) answers by reading the config again (GET_CONFIG on the
	 * main channel, served by the rte_vhost thread): no reply is waited for
	 * here, this thread must not block on the front end.
	 */
	rc = rte_vhost_slave_config_change(ctrlr->vid, false);
	if (rc != 0) {
		OSP_NOTICELOG("vhost %s: config change not notified (%d): the front end did not "
			      "negotiate the back-end channel\n", ctrlr->name, rc);
	}
}

/* ---- create / delete (app thread) ---- */

static void
pg_thread_exit(void *arg)
{
	(void)arg;
	osp_thread_exit(osp_get_thread());
}

void
vhost_ctrlr_free(struct vhost_ctrlr *ctrlr)
{
	if (ctrlr->ops->destroy != NULL) {
		ctrlr->ops->destroy(ctrlr);
	}
	/* The cpumask's threads: no device, so no poller and no channel left on them. */
	for (uint16_t i = 0; i < ctrlr->npgs; i++) {
		if (ctrlr->pgs[i].own_thread) {
			osp_thread_send_msg(ctrlr->pgs[i].thread, pg_thread_exit, NULL);
		}
	}
	free(ctrlr);
}

int
vhost_ctrlr_set_cpumask(struct vhost_ctrlr *ctrlr, const char *mask, char *err, size_t errlen)
{
	struct osp_cpuset set, app;
	uint32_t core;
	uint16_t n = 0;

	if (osp_cpuset_parse(&set, mask) != 0 || osp_cpuset_count(&set) == 0) {
		snprintf(err, errlen, "Invalid cpumask '%s' (a mask like 0x3 or a list like [0-1])",
			 mask);
		return -EINVAL;
	}
	osp_cpuset_zero(&app);
	OSP_ENV_FOREACH_CORE(core) {
		osp_cpuset_set_cpu(&app, core, true);
	}
	for (core = 0; core < VHOST_CPUSET_BITS; core++) {
		if (osp_cpuset_get_cpu(&set, core) && !osp_cpuset_get_cpu(&app, core)) {
			snprintf(err, errlen, "cpumask %s has core %u, which this app does not run on "
				 "(its cores: %s)", mask, core, osp_cpuset_fmt(&app));
			return -EINVAL;
		}
	}
	for (core = 0; core < VHOST_CPUSET_BITS && n < VHOST_MAX_QUEUES; core++) {
		struct osp_cpuset one;
		char name[OSP_THREAD_NAME_MAX];
		struct vhost_pg *pg = &ctrlr->pgs[n];

		if (!osp_cpuset_get_cpu(&set, core)) {
			continue;
		}
		osp_cpuset_zero(&one);
		osp_cpuset_set_cpu(&one, core, true);
		snprintf(name, sizeof(name), "vhost_%.40s_%u", ctrlr->name, core);
		pg->thread = osp_thread_create(name, &one);
		if (pg->thread == NULL) {
			snprintf(err, errlen, "Cannot create a thread on core %u", core);
			ctrlr->npgs = n;	/* vhost_ctrlr_free() ends those made */
			return -ENOMEM;
		}
		pg->ctrlr = ctrlr;
		pg->own_thread = true;
		n++;
	}
	ctrlr->npgs = n;
	ctrlr->cpumask = set;
	ctrlr->has_cpumask = true;
	return 0;
}

struct vhost_ctrlr *
vhost_ctrlr_new(const char *name, const struct vhost_backend_ops *ops, int *rcp, char *err,
		size_t errlen)
{
	struct vhost_ctrlr *ctrlr;
	int rc;

	if (name[0] == '\0' || strlen(name) >= sizeof(ctrlr->name) || strchr(name, '/') != NULL) {
		snprintf(err, errlen, "Invalid ctrlr '%s': 1..63 characters, no '/'", name);
		*rcp = -EINVAL;
		return NULL;
	}
	if (vhost_ctrlr_find(name) != NULL) {
		snprintf(err, errlen, "Controller '%s' already exists", name);
		*rcp = -EEXIST;
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		snprintf(err, errlen, "Out of memory");
		*rcp = -ENOMEM;
		return NULL;
	}
	snprintf(ctrlr->name, sizeof(ctrlr->name), "%s", name);
	rc = snprintf(ctrlr->path, sizeof(ctrlr->path), "%s%s%s", g_socket_dir,
		      g_socket_dir[0] != '\0' ? "/" : "", name);
	if (rc < 0 || (size_t)rc >= sizeof(ctrlr->path) || (size_t)rc >= 108) {
		snprintf(err, errlen, "Socket path '%s%s%s' is too long for a Unix socket",
			 g_socket_dir, g_socket_dir[0] != '\0' ? "/" : "", name);
		free(ctrlr);
		*rcp = -ENAMETOOLONG;
		return NULL;
	}
	ctrlr->ops = ops;
	ctrlr->vid = -1;
	ctrlr->running_vid = -1;
	ctrlr->remap_vid = -1;
	ctrlr->self_vid = -1;
	ctrlr->thread = osp_get_thread();
	/* Without a cpumask: one poll group, on the controller (app) thread. */
	ctrlr->npgs = 1;
	ctrlr->pgs[0].ctrlr = ctrlr;
	ctrlr->pgs[0].thread = ctrlr->thread;
	if (g_idle_ticks == UINT64_MAX) {
		const char *e = getenv("OSPREY_VHOST_IDLE_US");
		uint64_t us = VHOST_IDLE_US_DEFAULT;

		if (e != NULL && *e != '\0') {
			us = strtoull(e, NULL, 10);
		}
		g_idle_ticks = us_to_ticks(us);
		g_drain_ticks = us_to_ticks(VHOST_SPURIOUS_DRAIN_US);
		g_rate_ticks = us_to_ticks(VHOST_RATE_CHECK_US);
	}
	return ctrlr;
}

/*
 * Protocol features we need on top of rte_vhost's defaults: CONFIG (GET_CONFIG,
 * answered by pre_msg_handle), BACKEND_REQ (the back-end channel, for
 * CONFIG_CHANGE_MSG on a resize) and INFLIGHT_SHMFD (requests in flight survive
 * a back-end restart: doc/vhost.md).
 */
#define VHOST_PROTOCOL_FEATURES ((1ull << VHOST_USER_PROTOCOL_F_CONFIG_BIT) | \
				 (1ull << VHOST_USER_PROTOCOL_F_SLAVE_REQ_BIT) | \
				 (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_BIT))

int
vhost_ctrlr_register(struct vhost_ctrlr *ctrlr, uint64_t features, char *err, size_t errlen)
{
	uint64_t pf;
	int rc;

	features |= (1ull << OSP_VIRTIO_F_VERSION_1) | (1ull << OSP_VIRTIO_F_EVENT_IDX) |
		    (1ull << OSP_VIRTIO_F_INDIRECT_DESC) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES_BIT);
	/*
	 * Packed rings: offered by vhost-user-blk controllers created with
	 * packed_ring, and always by vhost-user-scsi ones (as SPDK's vhost-scsi
	 * does; its RPC has no such parameter). The front end chooses (QEMU:
	 * packed=on on the device, off by default).
	 */
	if (ctrlr->packed_ring || strcmp(ctrlr->ops->type, "scsi") == 0) {
		features |= 1ull << OSP_VIRTIO_F_RING_PACKED;
	}
	ctrlr->features = features;
	/* A socket file left by an earlier run would make the bind fail. */
	unlink(ctrlr->path);
	pthread_mutex_lock(&g_lock);
	TAILQ_INSERT_TAIL(&g_ctrlrs, ctrlr, link);
	pthread_mutex_unlock(&g_lock);
	if (rte_vhost_driver_register(ctrlr->path, 0) != 0) {
		snprintf(err, errlen, "Cannot create vhost-user socket '%s'", ctrlr->path);
		rc = -EIO;
		goto fail;
	}
	ctrlr->registered = true;
	if (rte_vhost_driver_set_features(ctrlr->path, features) != 0 ||
	    rte_vhost_driver_get_protocol_features(ctrlr->path, &pf) != 0 ||
	    rte_vhost_driver_set_protocol_features(ctrlr->path,
			    (pf | VHOST_PROTOCOL_FEATURES) & ~ctrlr->ops->protocol_features_off) != 0 ||
	    rte_vhost_driver_callback_register(ctrlr->path, &g_dev_ops) != 0 ||
	    rte_vhost_driver_start(ctrlr->path) != 0) {
		snprintf(err, errlen, "Cannot start vhost-user socket '%s'", ctrlr->path);
		rc = -EIO;
		goto fail;
	}
	return 0;
fail:
	if (ctrlr->registered) {
		rte_vhost_driver_unregister(ctrlr->path);
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&g_ctrlrs, ctrlr, link);
	pthread_mutex_unlock(&g_lock);
	unlink(ctrlr->path);
	vhost_ctrlr_free(ctrlr);
	return rc;
}

/* The longest call delay we accept: beyond it a guest would see timeouts, not coalescing. */
#define VHOST_COALESCE_MAX_US	1000000u

int
vhost_ctrlr_set_coalescing(struct vhost_ctrlr *ctrlr, uint32_t delay_base_us,
			   uint32_t iops_threshold, char *err, size_t errlen)
{
	if (delay_base_us > VHOST_COALESCE_MAX_US) {
		snprintf(err, errlen, "delay_base_us %u is too large (at most %u)", delay_base_us,
			 VHOST_COALESCE_MAX_US);
		return -EINVAL;
	}
	if (delay_base_us != 0 && iops_threshold == 0) {
		snprintf(err, errlen, "iops_threshold must be at least 1 when delay_base_us is set");
		return -EINVAL;
	}
	/* Read by the pollers at their next rate check (every 10 ms). */
	__atomic_store_n(&ctrlr->coalesce_iops_threshold, iops_threshold, __ATOMIC_RELAXED);
	__atomic_store_n(&ctrlr->coalesce_delay_us, delay_base_us, __ATOMIC_RELAXED);
	return 0;
}

struct del_ctx {
	struct vhost_ctrlr *ctrlr;
	osp_vhost_ctrlr_cb cb;
	void *cb_arg;
	pthread_t tid;
};

static void
del_finish(void *arg)
{
	struct del_ctx *d = arg;
	struct vhost_ctrlr *ctrlr = d->ctrlr;

	pthread_join(d->tid, NULL);
	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&g_ctrlrs, ctrlr, link);
	pthread_mutex_unlock(&g_lock);
	unlink(ctrlr->path);
	OSP_NOTICELOG("vhost %s: deleted\n", ctrlr->name);
	vhost_ctrlr_free(ctrlr);
	if (d->cb != NULL) {
		d->cb(d->cb_arg, 0, NULL);
	}
	free(d);
}

/*
 * rte_vhost_driver_unregister closes the connection and calls destroy_device
 * on the calling thread; that waits for the controller thread, so it must
 * not be the controller thread: a short-lived pthread does it.
 */
static void *
del_thread(void *arg)
{
	struct del_ctx *d = arg;

	for (int tries = 0; rte_vhost_driver_unregister(d->ctrlr->path) != 0 && errno == EBUSY &&
	     tries < 5000; tries++) {
		usleep(1000);
	}
	/* Its connections are closed and their regions unmapped (no destroy_connection then). */
	vhost_guard_del(d->ctrlr, -1);
	vhost_guard_del(VHOST_GUARD_INFLIGHT_KEY(d->ctrlr), -1);
	osp_thread_send_msg(d->ctrlr->thread, del_finish, d);
	return NULL;
}

void
osp_vhost_ctrlr_delete(const char *name, osp_vhost_ctrlr_cb cb, void *cb_arg)
{
	struct vhost_ctrlr *ctrlr = vhost_ctrlr_find(name);
	struct del_ctx *d;

	if (ctrlr == NULL || ctrlr->deleting) {
		if (cb != NULL) {
			cb(cb_arg, -ENODEV, ctrlr == NULL ? "No such controller" :
			   "The controller is being deleted");
		}
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		if (cb != NULL) {
			cb(cb_arg, -ENOMEM, "Out of memory");
		}
		return;
	}
	d->ctrlr = ctrlr;
	d->cb = cb;
	d->cb_arg = cb_arg;
	ctrlr->deleting = true;
	if (pthread_create(&d->tid, NULL, del_thread, d) != 0) {
		ctrlr->deleting = false;
		free(d);
		if (cb != NULL) {
			cb(cb_arg, -ENOMEM, "Cannot start a thread");
		}
	}
}

/* ---- subsystem: every controller is deleted at shutdown ---- */

static void
fini_next(void *arg, int rc, const char *msg)
{
	struct vhost_ctrlr *c;

	(void)arg;
	(void)rc;
	(void)msg;
	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (!c->deleting) {
			osp_vhost_ctrlr_delete(c->name, fini_next, NULL);
			return;
		}
	}
	if (TAILQ_EMPTY(&g_ctrlrs)) {
		osp_subsystem_fini_next();
	}
}

static void
vhost_subsystem_fini(void)
{
	fini_next(NULL, 0, NULL);
}

void
vhost_write_config_json_type(cJSON *config, const char *type)
{
	struct vhost_ctrlr *c;

	TAILQ_FOREACH(c, &g_ctrlrs, link) {
		if (strcmp(c->ops->type, type) != 0) {
			continue;
		}
		c->ops->write_config_json(c, config);
		if (c->coalesce_delay_us != 0) {
			cJSON *o = cJSON_CreateObject();
			cJSON *p = cJSON_AddObjectToObject(o, "params");

			cJSON_AddStringToObject(o, "method", "vhost_controller_set_coalescing");
			cJSON_AddStringToObject(p, "ctrlr", c->name);
			cJSON_AddNumberToObject(p, "delay_base_us", c->coalesce_delay_us);
			cJSON_AddNumberToObject(p, "iops_threshold", c->coalesce_iops_threshold);
			cJSON_AddItemToArray(config, o);
		}
	}
}

static void
vhost_write_config_json(cJSON *config)
{
	vhost_write_config_json_type(config, "blk");
}

static struct osp_subsystem g_vhost_subsystem = {
	.name = "vhost_blk",
	.fini = vhost_subsystem_fini,
	.write_config_json = vhost_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_vhost_subsystem)
OSP_SUBSYSTEM_DEPEND(vhost_blk, bdev)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the vhost target: a controller (one vhost-user socket served
 * through rte_vhost) and its queues, common to every back end, and the
 * back ends (virtio-blk here, virtio-scsi) that handle the popped chains.
 *
 * Threads: rte_vhost calls us back on its own pthread; those callbacks only
 * gather what rte_vhost reports and hand it to the controller's Osprey thread
 * (osp_thread_send_msg) and wait for the answer. Everything in struct
 * vhost_ctrlr below "controller thread only" is touched by that thread alone.
 */
#ifndef OSPREY_VHOST_INTERNAL_H
#define OSPREY_VHOST_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "osprey/bdev.h"
#include "osprey/env.h"
#include "osprey/thread.h"
#include "osprey/vhost_ring.h"

/* virtio-blk (virtio 1.x section 5.2) */
#define VBLK_F_SIZE_MAX		1
#define VBLK_F_SEG_MAX		2
#define VBLK_F_RO		5
#define VBLK_F_BLK_SIZE		6
#define VBLK_F_FLUSH		9
#define VBLK_F_MQ		12
#define VBLK_F_DISCARD		13
#define VBLK_F_WRITE_ZEROES	14

#define VBLK_T_IN		0
#define VBLK_T_OUT		1
#define VBLK_T_FLUSH		4
#define VBLK_T_GET_ID		8
#define VBLK_T_DISCARD		11
#define VBLK_T_WRITE_ZEROES	13

#define VBLK_S_OK		0
#define VBLK_S_IOERR		1
#define VBLK_S_UNSUPP		2

#define VBLK_ID_BYTES		20
/* Data segments per request we accept (seg_max) and the largest request (size_max per segment). */
#define VHOST_BLK_SEG_MAX	126
#define VHOST_BLK_SIZE_MAX	(128u * 1024)
/* iovecs per chain: header + seg_max + status, plus room for a region split each. */
#define VHOST_IOV_MAX		256
#define VHOST_MAX_QUEUES	8
/* Tasks (requests in flight) per queue: ring entries beyond this wait in the ring. */
#define VHOST_TASKS_MAX		256
/* The config space we serve: struct virtio_blk_config up to the write-zeroes fields. */
#define VBLK_CONFIG_LEN		60
/* The largest device config space of any back end (vhost-user GET_CONFIG payload limit). */
#define VHOST_CONFIG_MAX	256

struct vhost_queue;
struct vhost_pg;
struct vhost_ctrlr;
struct cJSON;

/* One popped descriptor chain: the head of every back end's task. */
struct vhost_task {
	struct vhost_queue *q;
	struct osp_vring_req req;
	struct iovec iov[VHOST_IOV_MAX];
};

struct vhost_queue {
	struct osp_vring vq;
	struct vhost_ctrlr *ctrlr;
	struct vhost_pg *pg;	/* the poller (thread) that serves this queue */
	int callfd;		/* -1 while paused */
	int kickfd;		/* rte_vhost's kick eventfd; -1: none (paused, NOFD, not watchable) */
	bool paused;		/* disabled by the driver while the device runs */
	bool kick_watched;	/* kickfd is a wake fd of pg's thread */
	bool signal_pending;	/* pushed since the last notification decision */
	uint16_t idx;		/* virtqueue index */
	uint32_t ntasks;
	uint32_t nfree;
	uint8_t *tasks;		/* ntasks tasks of ops->task_size bytes each */
	struct vhost_task **free;
	/*
	 * Heads in flight when the previous back end died (inflight region), in
	 * the order they were popped: resubmitted before the ring is polled.
	 */
	uint16_t *resubmit;
	uint16_t nresubmit;
	uint16_t resubmit_pos;
	/* Coalescing: the current call delay (ticks) and the request rate behind it. */
	uint64_t irq_delay;
	uint64_t signal_since;	/* tick the pending decision was first deferred (0: not yet) */
	uint64_t rate_reqs;	/* requests popped since the last rate check */
	uint64_t stat_calls;	/* call eventfd writes */
};

/*
 * A poll group: the queues of one controller that one Osprey thread polls,
 * with that thread's interrupt-mode state. Without a cpumask a controller
 * has one, on the app thread; with one, a poll group per core of the mask,
 * each on a thread of its own pinned there, and queue i goes to poll group
 * i % npgs. Everything below `thread` belongs to that thread while the
 * device runs (the controller thread hands queues over by message).
 */
struct vhost_pg {
	struct vhost_ctrlr *ctrlr;
	struct osp_thread *thread;
	bool own_thread;	/* created for the cpumask (exits with the controller) */
	int start_rc;
	struct osp_poller *poller;
	void *be_ch;		/* the back end's per-thread state (blk: the bdev channel) */
	bool running;		/* started: poller registered, pg_start done */
	bool stopping;
	uint32_t inflight;	/* tasks popped here and not yet completed */
	uint64_t stat_requests;
	uint64_t stat_errors;
	uint16_t nqueues;
	struct vhost_queue *queues[VHOST_MAX_QUEUES];
	bool armed;		/* kicks enabled and the poller reporting idle */
	bool completed;		/* a task completed since the last pass */
	bool cannot_sleep_logged;
	uint64_t last_work_tsc;
	uint64_t last_drain_tsc;
	uint64_t rate_tsc;
	uint64_t stat_sleeps;	/* times armed (the thread allowed to sleep) */
	uint64_t stat_wakeups;	/* times work found while armed */
	int vid;		/* the device served (set at start) */
	uint32_t guard_seen;	/* vhost_guard_hits() when last looked at */
	bool mem_lost;		/* guest memory vanished (SIGBUS guard): queues stopped */
};

/* What a controller type (blk, scsi) adds to the common controller. */
struct vhost_backend_ops {
	const char *type;	/* "blk", "scsi" */
	size_t task_size;	/* >= sizeof(struct vhost_task), which it starts with */
	/* vhost-user protocol features (bit mask) this type must not offer. */
	uint64_t protocol_features_off;
	/*
	 * A chain popped from queue task->q (controller thread): handle it, now
	 * or later, and end it with vhost_task_complete().
	 */
	void (*task_start)(struct vhost_ctrlr *ctrlr, struct vhost_task *task);
	/* Optional: the device started (all its queues set up), controller thread. */
	void (*dev_started)(struct vhost_ctrlr *ctrlr);
	/* Optional: the device is stopping; tasks it holds itself must complete (controller thread). */
	void (*dev_stopping)(struct vhost_ctrlr *ctrlr);
	/* vhost_get_controllers: fill the "backend_specific" object. */
	void (*info_json)(struct vhost_ctrlr *ctrlr, struct cJSON *backend_specific);
	/* save_config: append the RPCs that re-create this controller. */
	void (*write_config_json)(struct vhost_ctrlr *ctrlr, struct cJSON *config);
	/* Release ctrlr->be (app thread, the device stopped). */
	void (*destroy)(struct vhost_ctrlr *ctrlr);
	/*
	 * Optional: poll group pg starts serving queues on its thread (called
	 * there): take what the back end needs per thread (pg->be_ch).
	 */
	int (*pg_start)(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg);
	/*
	 * Optional: pg is stopping (its thread, its poller gone, before it waits
	 * for its tasks): complete the tasks the back end holds on its own.
	 */
	void (*pg_stopping)(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg);
	/* Optional: pg stopped (its thread, no task in flight): release what pg_start took. */
	void (*pg_stop)(struct vhost_ctrlr *ctrlr, struct vhost_pg *pg);
};

struct vhost_ctrlr {
	char name[64];
	char path[PATH_MAX];
	const struct vhost_backend_ops *ops;
	void *be;				/* the back end's state */
	uint64_t features;			/* offered */
	bool packed_ring;			/* offer VIRTIO_F_RING_PACKED (set before register) */
	uint8_t config[VHOST_CONFIG_MAX];	/* GET_CONFIG answers (read under the list lock) */
	uint32_t config_len;
	struct osp_thread *thread;		/* lifecycle (rte_vhost callbacks): the app thread */
	TAILQ_ENTRY(vhost_ctrlr) link;
	bool registered;			/* rte_vhost_driver_register done */
	/*
	 * The vid of the started device, -1 if none: written by the controller
	 * thread while the rte_vhost thread waits for it (new/destroy_device),
	 * read by the rte_vhost thread's message hook (atomic accesses).
	 */
	int running_vid;
	/* rte_vhost thread only: bytes per queue of the inflight region last accepted (GET/SET_INFLIGHT_FD). */
	uint64_t inflight_area;
	/*
	 * Packed inflight regions (bit = queue index, atomic accesses):
	 * inflight_resume, set by the rte_vhost thread when SET_VRING_KICK found a
	 * region a back end used before and ran the reconnect steps on it (the
	 * queue then resumes from the region), taken by queue_add; inflight_live,
	 * the queues a started device serves (controller thread), so that a kick
	 * for one of them leaves its region alone.
	 */
	uint64_t inflight_resume;
	uint64_t inflight_live;
	/* rte_vhost thread only: the vid whose device a SET_MEM_TABLE stopped, to start again. */
	int remap_vid;
	/*
	 * rte_vhost thread only: the vid of a device we started ourselves with
	 * the queues its front end set up (rte_vhost waits for all of them, and
	 * then neither starts nor stops it), -1 if none: we stop it ourselves.
	 */
	int self_vid;
	bool has_cpumask;
	struct osp_cpuset cpumask;		/* the cores of its poll groups (has_cpumask) */
	uint16_t npgs;
	struct vhost_pg pgs[VHOST_MAX_QUEUES];

	/* controller thread only */
	bool deleting;
	int vid;				/* -1: no device */
	bool started;
	bool stopping;
	bool start_failed;
	int start_rc;
	void *start_msg;			/* the new_device request being answered */
	uint16_t pg_pending;			/* poll groups yet to answer a start / stop */
	void (*stopped_fn)(void *arg);
	void *stopped_arg;
	uint16_t nqueues;
	uint64_t neg_features;
	struct osp_vhost_mem mem;
	struct vhost_queue queues[VHOST_MAX_QUEUES];
	uint64_t stat_requests;
	uint64_t stat_errors;

	/* Coalescing (vhost_controller_set_coalescing): set on the app thread, read by pollers. */
	uint32_t coalesce_delay_us;
	uint32_t coalesce_iops_threshold;
};

/* ---- vhost.c: the controller common to every back end ---- */

/*
 * A new controller of this type named name (socket in the -S directory), not
 * yet serving; NULL with *rc and err set when the name is bad or taken.
 */
struct vhost_ctrlr *vhost_ctrlr_new(const char *name, const struct vhost_backend_ops *ops,
				    int *rc, char *err, size_t errlen);
/*
 * Offer features (VERSION_1, INDIRECT_DESC, EVENT_IDX and protocol features
 * are added) and start serving the socket. On failure the controller is
 * destroyed (ops->destroy) and freed.
 */
int vhost_ctrlr_register(struct vhost_ctrlr *ctrlr, uint64_t features, char *err, size_t errlen);
/*
 * The device config space changed (e.g. a resize): copy len bytes at offset
 * into the GET_CONFIG snapshot (under the lock the rte_vhost thread reads it
 * with) and, if a driver is connected, send it CONFIG_CHANGE_MSG so that it
 * reads the config again. Controller thread.
 */
void vhost_ctrlr_config_update(struct vhost_ctrlr *ctrlr, uint32_t offset, const void *data,
			       uint32_t len);
/* Free a controller vhost_ctrlr_register never saw (ops->destroy is called). */
void vhost_ctrlr_free(struct vhost_ctrlr *ctrlr);
/*
 * Place the controller's queues on threads pinned to the cores of mask
 * (before vhost_ctrlr_register): one poll group per core of the mask (at
 * most VHOST_MAX_QUEUES). -EINVAL with err set for a bad mask or one with a
 * core the app does not run on; -ENOMEM if a thread cannot be created.
 */
int vhost_ctrlr_set_cpumask(struct vhost_ctrlr *ctrlr, const char *mask, char *err,
			    size_t errlen);
/* Give the chain back to the driver (used length written) and its task back to its queue. */
void vhost_task_complete(struct vhost_task *task, uint32_t used_len);
/* A task of pg ended without vhost_task_complete (its thread). */
void vhost_pg_task_released(struct vhost_pg *pg);
struct vhost_ctrlr *vhost_ctrlr_find(const char *name);
struct vhost_ctrlr *vhost_ctrlr_first(void);
struct vhost_ctrlr *vhost_ctrlr_next(struct vhost_ctrlr *c);
const char *vhost_get_socket_dir(void);
/* save_config: the controllers of one type, in creation order. */
void vhost_write_config_json_type(struct cJSON *config, const char *type);

/*
 * vhost_controller_set_coalescing: delay calls by up to delay_base_us when a
 * queue does more than iops_threshold requests/s (0 disables). -EINVAL with
 * err set for out-of-range values.
 */
int vhost_ctrlr_set_coalescing(struct vhost_ctrlr *ctrlr, uint32_t delay_base_us,
			       uint32_t iops_threshold, char *err, size_t errlen);

/* ---- vhost_guard.c: guest memory that vanishes under us (SIGBUS) ---- */

/* The owner key of a controller's inflight areas (its guest memory regions: the controller). */
#define VHOST_GUARD_INFLIGHT_KEY(ctrlr)	((const void *)&(ctrlr)->remap_vid)

/* Install the SIGBUS handler (once, for the process); 0 or -errno. */
int vhost_guard_init(void);
/*
 * Guard the mapping [addr, addr + len) of (owner, vid): a SIGBUS inside it
 * maps zero pages over the rest of it (from the faulting page, rounded down to
 * align, a power of two: the mapping's page size) and flags it. Register a
 * mapping after mapping it, unregister it before unmapping it. -ENOSPC when
 * the table is full, -EINVAL for a bad range.
 */
int vhost_guard_add(const void *owner, int vid, void *addr, uint64_t len, uint64_t align);
/* Forget owner's mappings of vid (vid < 0: all of owner's). */
void vhost_guard_del(const void *owner, int vid);
/* How many faults the handler redirected so far (any owner): cheap, for pollers. */
uint32_t vhost_guard_hits(void);
/* A fault was redirected in a mapping of (owner, vid); *addr (if not NULL): where. */
bool vhost_guard_was_hit(const void *owner, int vid, uintptr_t *addr);

/* ---- vhost_intr.c: interrupt mode and call coalescing (rings and eventfds only) ---- */

/* Read (without blocking) what is pending on the queues' kick eventfds; how many had some. */
int vhost_kickfds_drain(struct vhost_queue *const *qs, int n);
/* Every live (not paused, not broken) queue has a kick fd to wake us. */
bool vhost_queues_can_sleep(struct vhost_queue *const *qs, int n);
/*
 * Drain stale kicks, ask the driver to kick on every live queue, look at the
 * rings again. 1: armed, the thread may sleep; 0: buffers were there (kicks
 * are off again, keep polling); -1: a live queue has no kick fd.
 */
int vhost_queues_arm(struct vhost_queue *const *qs, int n);
/* Back to polling: kicks off, kick eventfds drained (poll every ring next). */
void vhost_queues_disarm(struct vhost_queue *const *qs, int n);
bool vhost_queues_have_avail(struct vhost_queue *const *qs, int n);
/* The call delay for a queue doing iops requests/s (SPDK's rule, capped at base_ticks). */
uint64_t vhost_coalesce_delay(uint64_t base_ticks, uint64_t iops, uint64_t threshold);
/*
 * Decide on q's pending notification at tick now: write the call eventfd if
 * the driver wants one, unless its coalescing delay has not run out. Returns
 * true while a decision stays pending.
 */
bool vhost_queue_signal(struct vhost_queue *q, uint64_t now);

/* ---- vhost_blk.c: virtio-blk ---- */

struct vhost_blk_dev {
	char bdev_name[64];
	bool readonly;
	/*
	 * Hot removed (atomic: read by the poll groups): every new request fails
	 * with IOERR; each poll group puts its channel once its bdev I/O is back
	 * and acknowledges; the last acknowledgement closes desc (app thread).
	 */
	bool removed;
	uint16_t remove_acks;			/* poll groups yet to acknowledge */
	bool destroyed;				/* the controller is gone: the last ack frees this */
	struct osp_bdev_desc *desc;
	struct osp_bdev *bdev;
	uint32_t block_size;
	uint64_t num_blocks;
};

struct vhost_blk_task {
	struct vhost_task base;
	uint8_t *status;
	uint32_t used_len;
	struct iovec data[VHOST_IOV_MAX];
};

extern const struct vhost_backend_ops g_vhost_blk_ops;

/* A poll group's blk state (pg->be_ch), its thread only. */
struct vhost_blk_pg {
	struct osp_io_channel *ch;	/* NULL when removed */
	uint32_t ios;			/* bdev I/Os submitted on ch, not yet completed */
	bool release;			/* hot removed: put ch once ios is 0, then acknowledge */
	bool acked;
};

/* vhost_blk_ctrlr.c: a hot-removed poll group's last bdev I/O is back (its thread). */
void vhost_blk_pg_release(struct vhost_pg *pg);

/* vhost_blk.c: the request path */
void vhost_blk_fill_config(struct vhost_ctrlr *ctrlr, struct osp_bdev *bdev, bool discard,
			   bool write_zeroes);
/* Handle one popped chain; it completes (now or later) through vhost_blk_task_finish. */
void vhost_blk_task_start(struct vhost_ctrlr *ctrlr, struct vhost_task *task);
/* Give the task back to the driver with its status and return it to its queue. */
void vhost_blk_task_finish(struct vhost_blk_task *task, uint8_t status);
/* Copy up to len bytes from iov[0..cnt) skipping `skip` bytes; returns bytes copied. */
size_t vhost_iov_gather(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t len);
/* Set out to the part of iov[0..cnt) from byte skip, len bytes long; returns out's count or -1. */
int vhost_iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t len, struct iovec *out,
		    int out_max);

#endif /* OSPREY_VHOST_INTERNAL_H */

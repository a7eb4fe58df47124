/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the vhost target: a controller (one vhost-user socket served
 * through rte_vhost), its queues and the virtio-blk request path.
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
#define VHOST_BLK_IOV_MAX	256
#define VHOST_MAX_QUEUES	8
/* Tasks (requests in flight) per queue: ring entries beyond this wait in the ring. */
#define VHOST_TASKS_MAX		256
/* The config space we serve: struct virtio_blk_config up to the write-zeroes fields. */
#define VBLK_CONFIG_LEN		60

struct vhost_blk_queue;

struct vhost_blk_task {
	struct vhost_blk_queue *q;
	struct osp_vring_req req;
	uint8_t *status;
	uint32_t used_len;
	struct iovec iov[VHOST_BLK_IOV_MAX];
	struct iovec data[VHOST_BLK_IOV_MAX];
};

struct vhost_blk_queue {
	struct osp_vring vq;
	struct vhost_ctrlr *ctrlr;
	int callfd;		/* -1 while paused */
	bool paused;		/* disabled by the driver while the device runs */
	uint16_t idx;
	uint32_t ntasks;
	uint32_t nfree;
	struct vhost_blk_task *tasks;
	struct vhost_blk_task **free;
};

struct vhost_ctrlr {
	char name[64];
	char path[PATH_MAX];
	char bdev_name[64];
	bool readonly;
	uint64_t features;			/* offered */
	uint8_t config[VBLK_CONFIG_LEN];	/* immutable after create */
	struct osp_thread *thread;
	TAILQ_ENTRY(vhost_ctrlr) link;
	bool registered;			/* rte_vhost_driver_register done */

	/* controller thread only */
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch;
	struct osp_bdev *bdev;
	uint32_t block_size;
	uint64_t num_blocks;
	bool deleting;
	int vid;				/* -1: no device */
	bool started;
	bool stopping;
	uint32_t inflight;
	void (*stopped_fn)(void *arg);
	void *stopped_arg;
	struct osp_poller *poller;
	uint16_t nqueues;
	uint64_t neg_features;
	struct osp_vhost_mem mem;
	struct vhost_blk_queue queues[VHOST_MAX_QUEUES];
	uint64_t stat_requests;
	uint64_t stat_errors;
};

/* vhost_blk.c: the request path */
void vhost_blk_fill_config(struct vhost_ctrlr *ctrlr, struct osp_bdev *bdev, bool discard,
			   bool write_zeroes);
/* Handle one popped chain; it completes (now or later) through vhost_blk_task_done. */
void vhost_blk_task_start(struct vhost_ctrlr *ctrlr, struct vhost_blk_task *task);
/* Give the task back to the driver with its status and return it to its queue. */
void vhost_blk_task_finish(struct vhost_blk_task *task, uint8_t status);
/* Copy up to len bytes from iov[0..cnt) skipping `skip` bytes; returns bytes copied. */
size_t vhost_iov_gather(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t len);
/* Set out to the part of iov[0..cnt) from byte skip, len bytes long; returns out's count or -1. */
int vhost_iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t len, struct iovec *out,
		    int out_max);

/* vhost.c */
void vhost_ctrlr_task_released(struct vhost_ctrlr *ctrlr);
struct vhost_ctrlr *vhost_ctrlr_find(const char *name);
struct vhost_ctrlr *vhost_ctrlr_first(void);
struct vhost_ctrlr *vhost_ctrlr_next(struct vhost_ctrlr *c);
const char *vhost_get_socket_dir(void);

#endif /* OSPREY_VHOST_INTERNAL_H */

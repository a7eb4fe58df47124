/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev_virtio: Osprey's bdevs over a vhost-user back end (the vhost-user
 * front end / virtio driver side): virtio-blk ("-t user -d blk", one bdev)
 * and virtio-scsi ("-t user -d scsi", one bdev per target with a LUN 0).
 * PCI devices are not done.
 */
#ifndef OSP_BDEV_VIRTIO_H
#define OSP_BDEV_VIRTIO_H

#include "osprey/bdev_module.h"
#include "osprey/thread.h"
#include "osprey/virtio_user.h"

#define BDEV_VIRTIO_DEFAULT_VQ_COUNT	1
#define BDEV_VIRTIO_DEFAULT_VQ_SIZE	512
#define BDEV_VIRTIO_MAX_VQ_COUNT	62
/* Targets of a virtio-scsi controller that are scanned (and bdevs it can have). */
#define BDEV_VIRTIO_MAX_BDEVS		64

struct bdev_virtio_opts {
	const char *name;	/* the controller's name; blk: also the bdev's */
	const char *path;	/* the back end's vhost-user socket */
	uint16_t vq_count;	/* request queues wanted (capped by the back end's) */
	uint16_t vq_size;	/* entries per queue, power of two */
};

/*
 * The end of an attach (app thread): rc 0 and the bdevs' names, or -errno
 * and a reason a person can act on.
 */
typedef void (*bdev_virtio_attach_cb)(void *cb_arg, int rc, const char *err,
				      const char *const *bdev_names, int nbdevs);

/*
 * Connect to the back end, negotiate, set up the queues and register the
 * bdev(s). The vhost-user dialogue runs on a pthread of its own (it blocks
 * on the socket, 5 s timeout per reply); cb_fn runs later on the calling
 * (app) thread. Returns 0 (cb_fn will run), or at once -EINVAL, -EEXIST,
 * -ENOMEM with err set (cb_fn not called).
 */
int bdev_virtio_blk_attach(const struct bdev_virtio_opts *opts, bdev_virtio_attach_cb cb_fn,
			   void *cb_arg, char *err, size_t errlen);
int bdev_virtio_scsi_attach(const struct bdev_virtio_opts *opts, bdev_virtio_attach_cb cb_fn,
			    void *cb_arg, char *err, size_t errlen);
/*
 * Detach a controller by name: unregister its bdev(s) and close the
 * connection. -ENODEV if no such controller.
 */
int bdev_virtio_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
int bdev_virtio_scsi_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/* bdev_virtio_scsi_get_devices: one object per virtio-scsi controller. */
struct cJSON;
void bdev_virtio_scsi_dump_devices(struct cJSON *array);

/* ---- shared by the blk and scsi controllers (bdev_virtio_common.c) ---- */
/* The attach options are usable (err cleared, or set to "invalid parameters"). */
bool bdev_virtio_opts_ok(const struct bdev_virtio_opts *opts, bool have_cb, char *err,
			 size_t errlen);
struct bdev_virtio_attach_ops {
	/* On the attach pthread: connect, negotiate, set up. 0 or -errno with err. */
	int (*connect)(void *ctrlr, char *err, size_t errlen);
	/*
	 * App thread, after connect succeeded: register the bdevs, set names[]
	 * (at most BDEV_VIRTIO_MAX_BDEVS, valid until the callback returns) and
	 * *n. Owns the controller from then on (frees it on failure).
	 */
	int (*register_bdevs)(void *ctrlr, const char **names, int *n, char *err, size_t errlen);
	/* Free a controller that never registered (app thread). */
	void (*free)(void *ctrlr);
};

int bdev_virtio_attach_start(const char *name, void *ctrlr, const struct bdev_virtio_attach_ops *ops,
			     bdev_virtio_attach_cb cb_fn, void *cb_arg, char *err, size_t errlen);
/* A controller of this name is being attached. */
bool bdev_virtio_attaching(const char *name);
/* Module fini: end every attach in progress (-ECANCELED to its callback). */
void bdev_virtio_attach_cancel_all(void);
/* Claim a free queue in [first, first + count) of the mask (atomic); the queue or -EBUSY. */
int bdev_virtio_claim_queue(uint64_t *used_mask, uint16_t first, uint16_t count);
void bdev_virtio_release_queue(uint64_t *used_mask, uint16_t q);

/*
 * A request channel (one per thread): one virtqueue, its data area cut in
 * nslots slots of stride bytes, a stack of free slots (no allocation per
 * I/O) and the I/O in each slot.
 */
struct bdev_virtio_channel {
	struct osp_virtq *vq;
	uint8_t *data;
	size_t stride;
	uint16_t qidx;
	uint16_t nslots;
	uint16_t nfree;
	uint16_t *free_slots;
	struct osp_bdev_io **slot_io;
	struct osp_poller *poller;
	bool failed;		/* its I/O was failed: the queue is not used any more */
	/* The driver's submit (the channel is the first member of the driver's). */
	void (*submit)(void *drv_ch, struct osp_bdev_io *bdev_io);
};

/*
 * fn_table->submit_request of both drivers: a read without buffers gets
 * them first, then ch->submit.
 */
void bdev_virtio_submit_request(struct osp_io_channel *_ch, struct osp_bdev_io *bdev_io);

static inline uint8_t *
bdev_virtio_slot(const struct bdev_virtio_channel *ch, uint16_t slot)
{
	return ch->data + (size_t)slot * ch->stride;
}

/*
 * Claim a free queue of dev in [first, first + count) of used_mask and set
 * it up with its slots and a poller poll(arg): 0, -EBUSY (every queue has a
 * channel) or -ENOMEM. Close gives the queue back.
 */
int bdev_virtio_channel_open(struct bdev_virtio_channel *ch, struct osp_vu_dev *dev,
			     uint64_t *used_mask, uint16_t first, uint16_t count, uint16_t nslots,
			     size_t stride, osp_poller_fn poll, void *arg);
void bdev_virtio_channel_close(struct bdev_virtio_channel *ch, uint64_t *used_mask);
/* Fail every I/O in flight; the queue is not used again. */
void bdev_virtio_channel_fail_all(struct bdev_virtio_channel *ch);

/*
 * Post the chain of n buffers for bdev_io (in slot), publish it and kick the
 * back end if it wants: 0, -EAGAIN (ring full) or -errno.
 */
int bdev_virtio_channel_post(struct bdev_virtio_channel *ch, struct osp_vu_dev *dev, uint16_t n,
			     const uint64_t *addrs, const uint32_t *lens, const bool *wr,
			     uint16_t slot, struct osp_bdev_io *bdev_io);

/* Post bdev_io in the slot the caller's *slot names: 0, -EAGAIN (ring full) or -errno. */
typedef int (*bdev_virtio_post_fn)(void *drv_ch, struct osp_bdev_io *bdev_io);
/*
 * Take a free slot into *slot (the I/O's driver context) and post; the I/O
 * completes at once with FAILED (dead device, post error) or NOMEM (no slot,
 * ring full: the bdev layer retries it).
 */
void bdev_virtio_submit(struct bdev_virtio_channel *ch, bool dead, struct osp_bdev_io *bdev_io,
			uint16_t *slot, bdev_virtio_post_fn post, void *drv_ch);
/*
 * Reap up to max used chains (their cookies: the bdev I/Os); -1 when the
 * device is dead or broke its ring (then every I/O was failed and *dead
 * set; what/name for the log).
 */
int bdev_virtio_channel_reap(struct bdev_virtio_channel *ch, bool *dead, const char *what,
			     const char *name, void **cookies, int max);
/* The I/O in slot is over: free the slot, complete the I/O. */
void bdev_virtio_channel_done(struct bdev_virtio_channel *ch, uint16_t slot,
			      struct osp_bdev_io *bdev_io, bool ok);

/* ---- virtio-scsi eventq (virtio 1.x 5.6.6.3; bdev_virtio_scsi_event.c) ---- */
#define BDEV_VIRTIO_SCSI_EVENT_SIZE		16
#define BDEV_VIRTIO_SCSI_T_NO_EVENT		0
#define BDEV_VIRTIO_SCSI_T_TRANSPORT_RESET	1
#define BDEV_VIRTIO_SCSI_T_ASYNC_NOTIFY		2
#define BDEV_VIRTIO_SCSI_T_PARAM_CHANGE		3
#define BDEV_VIRTIO_SCSI_T_EVENTS_MISSED	0x80000000u
#define BDEV_VIRTIO_SCSI_EVT_RESET_HARD		0
#define BDEV_VIRTIO_SCSI_EVT_RESET_RESCAN	1
#define BDEV_VIRTIO_SCSI_EVT_RESET_REMOVED	2

enum bdev_virtio_scsi_evt_action {
	BDEV_VIRTIO_SCSI_EVT_NONE,		/* nothing to do */
	BDEV_VIRTIO_SCSI_EVT_RESCAN,		/* scan evt->target again (added, resized) */
	BDEV_VIRTIO_SCSI_EVT_REMOVE,		/* evt->target is gone */
	BDEV_VIRTIO_SCSI_EVT_RESCAN_ALL,	/* events were lost: scan every target */
	BDEV_VIRTIO_SCSI_EVT_BAD,		/* malformed or unknown: ignored (why says why) */
};

struct bdev_virtio_scsi_evt {
	enum bdev_virtio_scsi_evt_action action;
	uint8_t target;
	uint32_t event;
	uint32_t reason;
};

/*
 * What the len bytes the device wrote into an event buffer ask for, for a
 * controller whose targets 0..ntargets-1 are scanned. Never reads past len
 * (nor past 16 bytes); why (may be NULL) gets the reason of a BAD event.
 * len 0 is a buffer the device gave back unused (NONE).
 */
enum bdev_virtio_scsi_evt_action bdev_virtio_scsi_event_parse(const void *buf, uint32_t len,
		uint32_t ntargets, struct bdev_virtio_scsi_evt *evt, char *why, size_t whylen);

#endif /* OSP_BDEV_VIRTIO_H */

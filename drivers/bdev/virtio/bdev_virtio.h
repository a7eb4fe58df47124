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

/* ---- shared by the blk and scsi controllers (bdev_virtio_attach.c) ---- */
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

#endif /* OSP_BDEV_VIRTIO_H */

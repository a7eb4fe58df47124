/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev_virtio: Osprey's bdevs over a vhost-user back end (the vhost-user
 * front end / virtio driver side). First milestone: virtio-blk over
 * vhost-user ("-t user -d blk"); virtio-scsi and PCI are not done yet.
 */
#ifndef OSP_BDEV_VIRTIO_H
#define OSP_BDEV_VIRTIO_H

#include "osprey/bdev_module.h"

#define BDEV_VIRTIO_DEFAULT_VQ_COUNT	1
#define BDEV_VIRTIO_DEFAULT_VQ_SIZE	512
#define BDEV_VIRTIO_MAX_VQ_COUNT	64

struct bdev_virtio_blk_opts {
	const char *name;	/* the controller's name, also the bdev's */
	const char *path;	/* the back end's vhost-user socket */
	uint16_t vq_count;	/* queues wanted (capped by the back end's) */
	uint16_t vq_size;	/* entries per queue, power of two */
};

/* The end of an attach: rc 0 and the bdev's name, or -errno and a reason. App thread. */
typedef void (*bdev_virtio_attach_cb)(void *cb_arg, int rc, const char *err,
				      const char *bdev_name);

/*
 * Connect to the back end, negotiate, set up the queues and register the
 * bdev. The vhost-user dialogue runs on a pthread of its own (it blocks on
 * the socket, 5 s timeout per reply); cb_fn runs later on the calling
 * (app) thread. Returns 0 (cb_fn will run), or at once -EINVAL, -EEXIST,
 * -ENOMEM with err set (cb_fn not called).
 */
int bdev_virtio_blk_attach(const struct bdev_virtio_blk_opts *opts, bdev_virtio_attach_cb cb_fn,
			   void *cb_arg, char *err, size_t errlen);
/* Detach: unregister the bdev and close the connection. -ENODEV if no such controller. */
int bdev_virtio_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);

#endif /* OSP_BDEV_VIRTIO_H */

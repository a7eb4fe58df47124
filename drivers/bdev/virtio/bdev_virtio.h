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

/*
 * Connect to the back end, negotiate, set up the queues and register the
 * bdev. Blocking on the socket (a few round trips, 5 s timeout per reply):
 * call it on the app thread. err gets a reason a person can act on.
 * Returns 0, -EINVAL, -EEXIST, -ENOMEM, or the connection's -errno.
 */
int bdev_virtio_blk_attach(const struct bdev_virtio_blk_opts *opts, struct osp_bdev **bdev,
			   char *err, size_t errlen);
/* Detach: unregister the bdev and close the connection. -ENODEV if no such controller. */
int bdev_virtio_detach(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);

#endif /* OSP_BDEV_VIRTIO_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Null bdev: discards writes and completes every I/O at once without
 * touching data (reads into a user buffer leave it as it is; reads without
 * a buffer get a shared zero-filled one). The fastest bdev there is: the
 * per-I/O work is a list insert, completions are batched by a poller.
 */
#ifndef OSP_BDEV_NULL_H
#define OSP_BDEV_NULL_H

#include "osprey/bdev_module.h"

struct bdev_null_opts {
	const char *name;		/* required */
	struct osp_uuid uuid;		/* all zero: random */
	uint64_t num_blocks;
	uint32_t block_size;		/* power of two, >= 512 */
	uint32_t physical_block_size;	/* 0: block_size (informational) */
};

/* Returns 0, -EINVAL, -EEXIST, -ENOMEM. App thread. */
int bdev_null_create(const struct bdev_null_opts *opts, struct osp_bdev **bdev);
/* -ENODEV (cb not called) if name is not a null bdev. */
int bdev_null_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/*
 * Change the size to new_size_mb MiB (rounded down to whole blocks).
 * Returns 0, -ENODEV, -EINVAL (zero blocks), or the layer's error
 * (-EBUSY: shrinking a claimed bdev).
 */
int bdev_null_resize(const char *name, uint64_t new_size_mb);

#endif /* OSP_BDEV_NULL_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* The uring bdev module: files and block devices through io_uring (liburing). */
#ifndef OSP_BDEV_URING_H
#define OSP_BDEV_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/bdev_module.h"

struct bdev_uring_opts {
	const char *filename;
	const char *name;
	/* 0: detect (logical block size of a block device, 512 for a file). */
	uint32_t block_size;
	/* NULL: generated. */
	const struct osp_uuid *uuid;
};

/*
 * Create and register a uring bdev (app thread). Returns 0 and the bdev, or
 * -EEXIST, -EINVAL, -ENOTSUP (built without liburing or io_uring refused by
 * the kernel), -errno of open(); err receives a message.
 */
int bdev_uring_create(const struct bdev_uring_opts *opts, struct osp_bdev **bdev, char *err,
		      size_t errlen);
/* Unregister; cb(cb_arg, rc) once it is gone. -ENODEV if no such uring bdev. */
int bdev_uring_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg);
/* Re-read the size of the file or device and announce a change. */
int bdev_uring_rescan(const char *name);

#endif

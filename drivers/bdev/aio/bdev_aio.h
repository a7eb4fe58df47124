/* SPDX-License-Identifier: BSD-3-Clause */
/* The aio bdev module: files and block devices through Linux AIO (libaio). */
#ifndef OSP_BDEV_AIO_H
#define OSP_BDEV_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/bdev_module.h"

struct bdev_aio_opts {
	const char *filename;
	const char *name;
	/* 0: detect (logical block size of a block device, 512 for a file). */
	uint32_t block_size;
	bool readonly;
	/* Implement unmap and write_zeroes with fallocate(). */
	bool fallocate;
	/* NULL: generated. */
	const struct osp_uuid *uuid;
};

/*
 * Create and register an aio bdev (app thread). Returns 0 and the bdev, or
 * -EEXIST (name taken), -EINVAL (bad block size, file too small), -errno of
 * open(); err receives a message naming the problem.
 */
int bdev_aio_create(const struct bdev_aio_opts *opts, struct osp_bdev **bdev, char *err,
		    size_t errlen);
/* Unregister; cb(cb_arg, rc) once it is gone. -ENODEV if no such aio bdev. */
int bdev_aio_delete(const char *name, osp_bdev_unregister_cb cb, void *cb_arg);
/* Re-read the size of the file or device and announce a change. -ENODEV, -errno. */
int bdev_aio_rescan(const char *name);

#endif

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error bdev: EE_<base>, a passthru on <base> that makes chosen I/Os fail,
 * hang, get corrupted or report "no memory", for testing the error paths of
 * whatever sits above it.
 */
#ifndef OSP_BDEV_ERROR_H
#define OSP_BDEV_ERROR_H

#include "osprey/bdev_module.h"

#define BDEV_ERROR_PREFIX	"EE_"

enum bdev_error_type {
	BDEV_ERROR_NONE = 0,
	/* Complete with failure, without reaching the base. */
	BDEV_ERROR_FAILURE,
	/* Never complete (until a reset or the bdev's removal aborts it). */
	BDEV_ERROR_PENDING,
	/* Reach the base with the byte at corrupt_offset XORed with corrupt_value
	 * (writes), or return the data read so corrupted (reads). */
	BDEV_ERROR_CORRUPT_DATA,
	/* Complete with NOMEM: the layer queues the I/O and retries it. */
	BDEV_ERROR_NOMEM,
};

struct bdev_error_inject_opts {
	/* enum osp_bdev_io_type (READ, WRITE, UNMAP, FLUSH), or INVALID for all of them. */
	int io_type;
	enum bdev_error_type error_type;
	/* How many I/Os to hit; 0 turns this injection off. */
	uint32_t num;
	/* Only hit I/Os submitted while this many or more are in flight on the channel. */
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
};

/*
 * Create EE_<base_name> now, or when base_name appears. App thread.
 * Returns 0, -EINVAL, -EEXIST, -EPERM (base claimed), -ENOMEM.
 */
int bdev_error_create(const char *base_name, const struct osp_uuid *uuid);
/* name is "EE_<base>". -ENODEV (cb not called) if there is no such error bdev. */
int bdev_error_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/* Returns 0, -ENODEV (no such built error bdev), -EINVAL. */
int bdev_error_inject(const char *name, const struct bdev_error_inject_opts *opts);
/* Turn every injection of name off. Returns 0 or -ENODEV. */
int bdev_error_clear(const char *name);
/* "failure", "pending", "corrupt_data", "nomem" -> enum, or BDEV_ERROR_NONE. */
enum bdev_error_type bdev_error_type_from_name(const char *name);

#endif /* OSP_BDEV_ERROR_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malloc bdev: a RAM disk in DMA-safe memory. Every I/O is served by a
 * memcpy in submit_request; completions are batched per channel and
 * delivered by a poller on the submitting thread.
 */
#ifndef OSP_BDEV_MALLOC_H
#define OSP_BDEV_MALLOC_H

#include "osprey/bdev_module.h"

struct bdev_malloc_opts {
	/* NULL: "Malloc<N>" with the first free N. */
	const char *name;
	/* All zero: a random UUID. */
	struct osp_uuid uuid;
	uint64_t num_blocks;
	/* Power of two, >= 512. */
	uint32_t block_size;
	/* 0: block_size. Else a power of two multiple of block_size (informational). */
	uint32_t physical_block_size;
	/* In blocks; 0 = none. When set, the layer splits I/O on this boundary. */
	uint32_t optimal_io_boundary;
};

/*
 * Create and register a malloc bdev (app thread). *bdev receives it.
 * Returns 0, -EINVAL (bad geometry), -EEXIST (name taken), -ENOMEM.
 */
int bdev_malloc_create(const struct bdev_malloc_opts *opts, struct osp_bdev **bdev);
/*
 * Unregister a malloc bdev; cb_fn(cb_arg, rc) when it is gone.
 * Returns -ENODEV (cb not called) if name is not a malloc bdev.
 */
int bdev_malloc_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);

#endif /* OSP_BDEV_MALLOC_H */

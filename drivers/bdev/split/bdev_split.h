/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split bdev: cuts a base bdev into split_count equal parts named
 * <base>p0 .. <base>p<n-1>. The base is claimed while split.
 */
#ifndef OSP_BDEV_SPLIT_H
#define OSP_BDEV_SPLIT_H

#include "osprey/bdev_module.h"

/* Most parts one base may be split into. */
#define BDEV_SPLIT_MAX_PARTS	1024

/*
 * Split base_name into split_count parts of split_size_mb MiB each
 * (0: base size / split_count, rounded down to whole blocks). If the base
 * does not exist yet, the split is remembered and done when it appears.
 * App thread. Returns 0 (done or waiting), -EINVAL (bad count or size),
 * -EEXIST (already split, or a part's name is taken), -EPERM (base claimed),
 * -ENOMEM. err (if not NULL) receives a reason a person can act on.
 */
int bdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		      char *err, size_t errlen);
/*
 * Undo the split of base_name: unregister its parts and release the base;
 * cb_fn(cb_arg, rc) once that is done (at once if it was waiting for its
 * base). -ENODEV (cb not called) if base_name is not split.
 */
int bdev_split_delete(const char *base_name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/*
 * Call fn(name, ctx) for each part of base_name's split, in order. Returns
 * the number of parts (0 if not split or waiting for its base).
 */
uint32_t bdev_split_foreach_part(const char *base_name, void (*fn)(const char *name, void *ctx),
				 void *ctx);

#endif /* OSP_BDEV_SPLIT_H */

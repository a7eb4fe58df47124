/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Passthru bdev: a virtual bdev that forwards every I/O to its base bdev
 * unchanged. It does nothing useful by itself; it is the smallest complete
 * example of a virtual bdev (see bdev_passthru.c) and a test vehicle for the
 * layer's claim, examine and hot-remove paths.
 */
#ifndef OSP_BDEV_PASSTHRU_H
#define OSP_BDEV_PASSTHRU_H

#include "osprey/bdev_module.h"

/*
 * Configure passthru `name` on `base_name` and build it now if the base
 * exists, else as soon as the base appears (examine). uuid NULL or all
 * zero: a random one. App thread.
 * Returns 0 (built or waiting for its base), -EINVAL, -EEXIST (a passthru
 * or a bdev with that name exists), -EPERM (base claimed by another module),
 * -ENOMEM, or the layer's error from registering.
 */
int bdev_passthru_create(const char *name, const char *base_name, const struct osp_uuid *uuid);
/*
 * Forget passthru `name` and unregister its bdev if built; cb_fn(cb_arg, rc)
 * once it is gone (at once if it was never built). -ENODEV (cb not called)
 * if no passthru has that name.
 */
int bdev_passthru_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);

#endif /* OSP_BDEV_PASSTHRU_H */

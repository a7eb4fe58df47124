/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost target: vhost-user-blk controllers over bdevs, served through
 * DPDK's rte_vhost (lib/vhost/vhost.c). See doc/vhost.md.
 */
#ifndef OSPREY_VHOST_H
#define OSPREY_VHOST_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Directory the controllers' sockets are created in (the vhost app's -S).
 * NULL or "" means the current directory. Call before any controller exists.
 * Returns 0 or -ENAMETOOLONG.
 */
int osp_vhost_set_socket_dir(const char *dir);

/* Controller operations (app thread). cb gets 0 or a negative errno and a message. */
typedef void (*osp_vhost_ctrlr_cb)(void *cb_arg, int rc, const char *msg);

/*
 * A vhost-user-blk controller on bdev_name. packed_ring: also offer
 * VIRTIO_F_RING_PACKED (the driver chooses). The bdev may later be hot
 * removed (the controller stays, its requests fail) or resized (the driver
 * is told through a config change).
 */
int osp_vhost_blk_ctrlr_create(const char *name, const char *bdev_name, bool readonly,
			       bool packed_ring, char *err, size_t errlen);
void osp_vhost_ctrlr_delete(const char *name, osp_vhost_ctrlr_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* OSPREY_VHOST_H */

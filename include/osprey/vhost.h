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
 * A vhost-user-blk controller on bdev_name. cpumask NULL: the controller's
 * queues are polled on the app thread; else one thread per core of the mask
 * (cores of this app only), queue i on the (i % cores)-th. packed_ring: also
 * offer VIRTIO_F_RING_PACKED (the driver chooses). The bdev may later be hot
 * removed (the controller stays, its requests fail) or resized (the driver is
 * told through a config change).
 */
int osp_vhost_blk_ctrlr_create(const char *name, const char *bdev_name, bool readonly,
			       const char *cpumask, bool packed_ring, char *err, size_t errlen);
void osp_vhost_ctrlr_delete(const char *name, osp_vhost_ctrlr_cb cb, void *cb_arg);

/*
 * vhost-user-scsi (lib/vhost/vhost_scsi.c): a controller with no targets;
 * cpumask (NULL: the app thread) spreads its queues over threads pinned to
 * those cores, as for blk. 0 or -errno with a message in err.
 */
int osp_vhost_scsi_ctrlr_create(const char *name, const char *cpumask, char *err,
				size_t errlen);
/*
 * Target callbacks get the target number (>= 0) or a negative errno and a
 * message.
 */
typedef void (*osp_vhost_scsi_target_cb)(void *cb_arg, int num_or_rc, const char *msg);
/*
 * Add target num (0..7, -1: the first free slot) with LUN 0 on bdev_name; cb
 * runs (possibly before the call returns) once it serves commands. A
 * connected driver that negotiated VIRTIO_SCSI_F_HOTPLUG gets a rescan event.
 */
void osp_vhost_scsi_ctrlr_add_target(const char *name, int num, const char *bdev_name,
				     osp_vhost_scsi_target_cb cb, void *cb_arg);
/*
 * Remove target num: new commands get BAD_TARGET, the driver gets a removed
 * event, commands in flight finish, then the SCSI device is destroyed and cb
 * runs.
 */
void osp_vhost_scsi_ctrlr_remove_target(const char *name, int num, osp_vhost_ctrlr_cb cb,
					void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* OSPREY_VHOST_H */

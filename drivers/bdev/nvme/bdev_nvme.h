/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe bdev module (drivers/bdev/nvme): a controller attached with
 * bdev_nvme_attach_controller becomes one bdev per active namespace,
 * "<name>n<nsid>". See doc/bdev_nvme.md.
 */
#ifndef OSP_BDEV_NVME_H
#define OSP_BDEV_NVME_H

#include "osprey/bdev_module.h"
#include "osprey/nvme.h"

#define BDEV_NVME_NAME_MAX 64

struct bdev_nvme_attach_opts {
	/* Controller name, the prefix of its bdev names. */
	char name[BDEV_NVME_NAME_MAX];
	struct osp_nvme_transport_id trid;
	struct osp_nvme_ctrlr_opts ctrlr_opts;
	/* Accepted and remembered (save_config); not used by the TCP transport yet. */
	char hostaddr[OSP_NVME_TRADDR_MAX_LEN + 1];
	char hostsvcid[OSP_NVME_TRSVCID_MAX_LEN + 1];
	bool prchk_reftag;
	bool prchk_guard;
	/* The caller set hostnqn (so save_config writes it back). */
	bool hostnqn_given;
};

/*
 * Result of bdev_nvme_attach(): rc 0 and the names of the bdevs created
 * (valid during the call), or rc < 0 and a message a person can act on.
 */
typedef void (*bdev_nvme_attach_cb)(void *cb_arg, int rc, const char *msg,
				    const char **names, size_t num_names);

/*
 * Connect without blocking the reactor (the connection advances from a
 * poller) and create the bdevs. Call on the thread that will own the
 * controller's admin queue (the app thread). Returns 0 (cb_fn runs later),
 * -EEXIST (name in use), -EINVAL, -ENOMEM, or the -errno of the connect's
 * start; cb_fn is then not called.
 */
int bdev_nvme_attach(const struct bdev_nvme_attach_opts *opts, bdev_nvme_attach_cb cb_fn,
		     void *cb_arg);

/*
 * Delete the controller's bdevs, free its qpairs and disconnect. cb_fn(cb_arg,
 * rc) when done. Returns 0, or -ENODEV (no such controller), -EBUSY (being
 * deleted already).
 */
int bdev_nvme_detach(const char *name, void (*cb_fn)(void *cb_arg, int rc), void *cb_arg);

/*
 * Reset the controller (reconnect it: a new association) and let every
 * channel reconnect its qpair; cb_fn(cb_arg, rc) when done. On the
 * controller's thread. Returns 0, -ENODEV (no such controller), -EBUSY
 * (being attached or deleted), -ENOMEM.
 */
int bdev_nvme_reset_controller(const char *name, void (*cb_fn)(void *cb_arg, int rc),
			       void *cb_arg);

/* Append the controller(s) to array in bdev_nvme_get_controllers' format (name NULL: all). */
int bdev_nvme_get_controllers_json(const char *name, cJSON *array);

#endif /* OSP_BDEV_NVME_H */

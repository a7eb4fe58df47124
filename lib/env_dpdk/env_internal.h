/* SPDX-License-Identifier: BSD-3-Clause */
/* What the files of lib/env_dpdk share (not part of the public env.h). */
#ifndef OSP_ENV_INTERNAL_H
#define OSP_ENV_INTERNAL_H

#include <stdbool.h>

#include "osprey/env.h"

/*
 * Before rte_eal_init, when opts->pci_enabled: check and keep the allow and
 * block lists, and choose the IOVA mode the devices need. *iova_mode is set
 * to "pa" when a usable device is bound to uio_pci_generic and hugepages are
 * in use (physical addresses exist only then), "va" otherwise. Returns 0 or
 * -EINVAL (a bad address in a list, already printed).
 */
int env_pci_pre_init(const struct osp_env_opts *opts, bool hugepages, const char **iova_mode);
/* After rte_eal_init succeeded. */
void env_pci_post_init(void);
/* Detach what is still attached, stop the hot-plug monitor (before rte_eal_cleanup). */
void env_pci_fini(void);

/* Where the PCI devices are in sysfs (tests point it elsewhere). */
void env_pci_set_sysfs_root(const char *path);

#endif /* OSP_ENV_INTERNAL_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit-test environment: DPDK without hugepages, PCI or shared files. */
#ifndef OSP_UT_ENV_H
#define OSP_UT_ENV_H

/* Initialize the env once per process (idempotent). Aborts on failure. */
void ut_env_init(void);

#endif

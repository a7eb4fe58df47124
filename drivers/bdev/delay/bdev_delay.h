/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Delay bdev: forwards I/O to a base bdev and holds each read and write
 * completion back by a configured latency (average, or p99 for ~1% of
 * them), to emulate a slower device. Other I/O types are not delayed.
 */
#ifndef OSP_BDEV_DELAY_H
#define OSP_BDEV_DELAY_H

#include "osprey/bdev_module.h"

enum bdev_delay_latency {
	BDEV_DELAY_AVG_READ,
	BDEV_DELAY_P99_READ,
	BDEV_DELAY_AVG_WRITE,
	BDEV_DELAY_P99_WRITE,
	BDEV_DELAY_NUM_LATENCIES
};

/* Largest latency accepted, in microseconds (one hour). */
#define BDEV_DELAY_MAX_LATENCY_US	(3600ULL * 1000 * 1000)

/*
 * Configure delay bdev `name` on `base_name` with latencies_us[] indexed by
 * enum bdev_delay_latency; built now if the base exists, else when it
 * appears. uuid NULL or all zero: random. App thread.
 * Returns 0 (built or waiting), -EINVAL, -EEXIST, -EPERM (base claimed),
 * -ENOMEM.
 */
int bdev_delay_create(const char *name, const char *base_name, const struct osp_uuid *uuid,
		      const uint64_t latencies_us[BDEV_DELAY_NUM_LATENCIES]);
/* -ENODEV (cb not called) if no delay bdev has that name. */
int bdev_delay_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/*
 * Change one latency; I/O already waiting keeps its old deadline.
 * Returns 0, -ENODEV (no such delay bdev), -EINVAL (latency too large).
 */
int bdev_delay_update_latency(const char *name, enum bdev_delay_latency which, uint64_t latency_us);
/* "avg_read" ... -> enum value, or -1 if unknown. */
int bdev_delay_latency_from_name(const char *name);

#endif /* OSP_BDEV_DELAY_H */

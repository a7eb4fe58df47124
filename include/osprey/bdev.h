/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The block device layer, as seen by its users (targets, bdevperf, virtual
 * bdev modules acting as users of their base bdev).
 *
 * A user opens a descriptor, gets a per-thread I/O channel with
 * osp_bdev_get_io_channel() and submits I/O on the thread that owns the
 * channel. Every submitted I/O completes exactly once, through cb on that
 * same thread; the callback must release it with osp_bdev_free_io(). The
 * callback never runs inside the submit call: an I/O the module completes at
 * once is called back on the thread's next poll (so a poller that submits
 * I/O must report itself busy).
 *
 * Submission returns 0, -EINVAL (bad range or arguments, including
 * num_blocks 0 except for flush), -EBADF (write on a read-only descriptor),
 * -ENODEV (bdev being removed), -ENOTSUP (type neither supported by the
 * module nor emulated by the layer) or -ENOMEM (no bdev_io available: wait
 * with osp_bdev_queue_io_wait() and resubmit). Any other trouble, including
 * running out of data buffers, is handled by the layer (the I/O waits) or
 * reported through the callback.
 *
 * The layer emulates what a module lacks: write zeroes (writes of a zero
 * buffer), compare (a read and memcmp) and compare-and-write (under an LBA
 * range lock); it splits I/O larger than the module's max_rw_size or crossing
 * its optimal_io_boundary, and bounces buffers that miss the module's
 * required alignment.
 */
#ifndef OSPREY_BDEV_H
#define OSPREY_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cJSON.h>

#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_bdev;
struct osp_bdev_desc;
struct osp_bdev_io;
struct osp_nvme_cmd;

#define OSP_BDEV_SMALL_BUF_MAX_SIZE	8192
#define OSP_BDEV_LARGE_BUF_MAX_SIZE	(128 * 1024)

enum osp_bdev_io_type {
	OSP_BDEV_IO_TYPE_INVALID = 0,
	OSP_BDEV_IO_TYPE_READ,
	OSP_BDEV_IO_TYPE_WRITE,
	OSP_BDEV_IO_TYPE_UNMAP,
	OSP_BDEV_IO_TYPE_FLUSH,
	OSP_BDEV_IO_TYPE_RESET,
	OSP_BDEV_IO_TYPE_NVME_ADMIN,
	OSP_BDEV_IO_TYPE_NVME_IO,
	OSP_BDEV_IO_TYPE_WRITE_ZEROES,
	OSP_BDEV_IO_TYPE_COMPARE,
	OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE,
	OSP_BDEV_NUM_IO_TYPES
};

/* Name used in RPCs and JSON ("read", "write", "unmap", ...). */
const char *osp_bdev_io_type_name(enum osp_bdev_io_type type);
/* Inverse of osp_bdev_io_type_name; OSP_BDEV_IO_TYPE_INVALID if unknown. */
enum osp_bdev_io_type osp_bdev_io_type_from_name(const char *name);

enum osp_bdev_event_type {
	OSP_BDEV_EVENT_REMOVE,
	OSP_BDEV_EVENT_RESIZE,
};

/*
 * Called on the thread that opened the descriptor. On REMOVE the user must
 * stop submitting and close the descriptor (outstanding I/O still completes).
 */
typedef void (*osp_bdev_event_cb_t)(enum osp_bdev_event_type type, struct osp_bdev *bdev,
				    void *event_ctx);
typedef void (*osp_bdev_io_completion_cb)(struct osp_bdev_io *bdev_io, bool success,
		void *cb_arg);

/* ---- options and library ---- */

struct osp_bdev_opts {
	size_t opts_size;
	/* bdev_io objects in the global pool (default 65535). */
	uint32_t bdev_io_pool_size;
	/* bdev_ios cached per thread (default 256). */
	uint32_t bdev_io_cache_size;
	/* Examine new bdevs automatically (default true). */
	bool bdev_auto_examine;
	/* Buffers of OSP_BDEV_SMALL/LARGE_BUF_MAX_SIZE for reads without a buffer and bounces. */
	uint32_t small_buf_pool_size;	/* default 8191 */
	uint32_t large_buf_pool_size;	/* default 1023 */
	/* Buffers of each size cached per thread (default 128 and 16). */
	uint32_t iobuf_small_cache_size;
	uint32_t iobuf_large_cache_size;
};

void osp_bdev_get_opts(struct osp_bdev_opts *opts, size_t opts_size);
/* Only before the bdev subsystem is initialized (RPC bdev_set_options at startup). */
int osp_bdev_set_opts(const struct osp_bdev_opts *opts);

/*
 * Start the layer on the current thread (what the "bdev" subsystem does):
 * create the pools and run every module's module_init in registration order.
 * cb(cb_arg, rc) once every (async) init finished.
 */
void osp_bdev_initialize(void (*cb)(void *cb_arg, int rc), void *cb_arg);
/*
 * Stop the layer: unregister every bdev (virtual ones before their bases),
 * run every module's module_fini and free the pools; then cb(cb_arg).
 */
void osp_bdev_finish(void (*cb)(void *cb_arg), void *cb_arg);

/* ---- lookup ---- */

/* By name or alias; NULL if none. */
struct osp_bdev *osp_bdev_get_by_name(const char *bdev_name);

/* Longest bdev name or alias, in bytes without the NUL. */
#define OSP_BDEV_MAX_NAME_LEN 255

/*
 * Check a bdev name or alias: 1 to OSP_BDEV_MAX_NAME_LEN bytes, no control
 * characters (bytes below 0x20 and 0x7f). Returns 0, or -EINVAL with the
 * reason in err (err may be NULL). osp_bdev_register() and
 * osp_bdev_alias_add() refuse names that fail it; RPCs call it first to
 * answer with the reason.
 */
int osp_bdev_name_check(const char *name, char *err, size_t errlen);
struct osp_bdev *osp_bdev_first(void);
struct osp_bdev *osp_bdev_next(struct osp_bdev *prev);

/* ---- descriptors ---- */

/*
 * Open bdev_name (name or alias). event_cb is required. Returns 0, -ENODEV
 * (no such bdev or being removed), -EPERM (write open of a bdev claimed by
 * a module), -ENOMEM.
 */
int osp_bdev_open_ext(const char *bdev_name, bool write, osp_bdev_event_cb_t event_cb,
		      void *event_ctx, struct osp_bdev_desc **desc);
/* Close on the thread that opened it. */
void osp_bdev_close(struct osp_bdev_desc *desc);
struct osp_bdev *osp_bdev_desc_get_bdev(struct osp_bdev_desc *desc);
/*
 * The current thread's channel for this bdev (release with osp_put_io_channel,
 * only once the I/O submitted on it has completed).
 */
struct osp_io_channel *osp_bdev_get_io_channel(struct osp_bdev_desc *desc);

/* ---- properties ---- */

const char *osp_bdev_get_name(const struct osp_bdev *bdev);
const char *osp_bdev_get_product_name(const struct osp_bdev *bdev);
const char *osp_bdev_get_module_name(const struct osp_bdev *bdev);
uint32_t osp_bdev_get_block_size(const struct osp_bdev *bdev);
uint64_t osp_bdev_get_num_blocks(const struct osp_bdev *bdev);
const struct osp_uuid *osp_bdev_get_uuid(const struct osp_bdev *bdev);
uint32_t osp_bdev_get_write_unit_size(const struct osp_bdev *bdev);
uint32_t osp_bdev_get_optimal_io_boundary(const struct osp_bdev *bdev);
/* Largest I/O the module takes in one piece, in blocks (0 = no limit). */
uint32_t osp_bdev_get_max_rw_size(const struct osp_bdev *bdev);
/* Required buffer alignment in bytes (1 = none). */
size_t osp_bdev_get_buf_align(const struct osp_bdev *bdev);
bool osp_bdev_has_write_cache(const struct osp_bdev *bdev);
/* The bdev unmaps, and unmapped blocks read back as zeroes. */
bool osp_bdev_unmap_reads_zeroes(struct osp_bdev *bdev);
bool osp_bdev_io_type_supported(struct osp_bdev *bdev, enum osp_bdev_io_type io_type);
/* Add bdev_get_bdevs-style info about bdev to obj. */
void osp_bdev_dump_info_json(struct osp_bdev *bdev, cJSON *obj);

/* ---- I/O ---- */

int osp_bdev_read_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
			 uint64_t offset_blocks, uint64_t num_blocks,
			 osp_bdev_io_completion_cb cb, void *cb_arg);
/* iov[0].iov_base NULL with iovcnt 1: the layer provides a buffer (see osp_bdev_io_get_iovec). */
int osp_bdev_readv_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			  struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			  uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_write_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_writev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg);
/*
 * A write that holds its block range locked while it runs, as an emulated
 * compare-and-write does: no other write, write zeroes, unmap or
 * compare-and-write of these blocks through this layer (any thread, any
 * channel) runs at the same time; it waits for those already running. Reads
 * are not held back. For SCSI WRITE ATOMIC; slower than a plain write (the
 * lock visits every channel of the bdev).
 */
int osp_bdev_writev_blocks_locked(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
				  struct iovec *iov, int iovcnt, uint64_t offset_blocks,
				  uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_write_zeroes_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks,
				 osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_unmap_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_flush_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  osp_bdev_io_completion_cb cb, void *cb_arg);
/*
 * Reset the bdev: every channel is frozen (I/O submitted meanwhile completes
 * with status ABORTED), I/O queued in the layer (NOMEM retries, QoS, range
 * locks) completes ABORTED, the I/O inside the module on every channel is
 * waited for (at most 2 s, then the module's reset must abort it), the
 * module's reset runs, and the channels are unfrozen. Resets arriving
 * meanwhile complete with the status of the one running. cb on this thread.
 */
int osp_bdev_reset(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		   osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_compare_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch, void *buf,
			    uint64_t offset_blocks, uint64_t num_blocks,
			    osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_comparev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			     struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			     uint64_t num_blocks, osp_bdev_io_completion_cb cb, void *cb_arg);
/*
 * Compare, and write only if equal, atomically with respect to other writes,
 * write zeroes, unmaps and compare-and-writes of the same blocks through this
 * layer, on any thread (reads are not held back). Without a native one in
 * the module the layer locks the block range on every channel for the
 * duration. A mismatch completes with success == false and status
 * MISCOMPARE (NVMe: media error / compare failure).
 */
int osp_bdev_comparev_and_writev_blocks(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
		struct iovec *compare_iov, int compare_iovcnt, struct iovec *write_iov,
		int write_iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
		osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_nvme_admin_passthru(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
				 const struct osp_nvme_cmd *cmd, void *buf, size_t nbytes,
				 osp_bdev_io_completion_cb cb, void *cb_arg);
int osp_bdev_nvme_io_passthru(struct osp_bdev_desc *desc, struct osp_io_channel *ch,
			      const struct osp_nvme_cmd *cmd, void *buf, size_t nbytes,
			      osp_bdev_io_completion_cb cb, void *cb_arg);

/* Release a completed bdev_io (from or after its completion callback). */
void osp_bdev_free_io(struct osp_bdev_io *bdev_io);
/* Data buffers of an I/O (e.g. the buffer the layer provided for a read). */
void osp_bdev_io_get_iovec(struct osp_bdev_io *bdev_io, struct iovec **iovp, int *iovcntp);
enum osp_bdev_io_type osp_bdev_io_get_type(const struct osp_bdev_io *bdev_io);
/* NVMe completion of the I/O (generic success/failure maps to NVMe status). */
void osp_bdev_io_get_nvme_status(const struct osp_bdev_io *bdev_io, uint32_t *cdw0, int *sct,
				 int *sc);
/* How a bdev I/O ended (osp_bdev_io_get_status()). */
enum osp_bdev_io_status {
	OSP_BDEV_IO_STATUS_ABORTED = -6,
	OSP_BDEV_IO_STATUS_MISCOMPARE = -5,
	/* The module ran out of resources: the layer queues and resubmits the I/O. */
	OSP_BDEV_IO_STATUS_NOMEM = -4,
	OSP_BDEV_IO_STATUS_NVME_ERROR = -3,
	OSP_BDEV_IO_STATUS_FAILED = -1,
	OSP_BDEV_IO_STATUS_PENDING = 0,
	OSP_BDEV_IO_STATUS_SUCCESS = 1,
};

/* Status code of a completed I/O (enum osp_bdev_io_status above). */
int osp_bdev_io_get_status(const struct osp_bdev_io *bdev_io);

/* ---- waiting for resources ---- */

typedef void (*osp_bdev_io_wait_cb)(void *cb_arg);

struct osp_bdev_io_wait_entry {
	struct osp_bdev *bdev;
	osp_bdev_io_wait_cb cb_fn;
	void *cb_arg;
	TAILQ_ENTRY(osp_bdev_io_wait_entry) link;
};

/*
 * After a submit returned -ENOMEM: call entry->cb_fn(entry->cb_arg) on this
 * thread when a bdev_io is free again (entry->bdev is set to bdev). entry must
 * stay valid until then. Returns -EINVAL if bdev_ios are in fact available.
 */
int osp_bdev_queue_io_wait(struct osp_bdev *bdev, struct osp_io_channel *ch,
			   struct osp_bdev_io_wait_entry *entry);

/* ---- statistics and QoS ---- */

struct osp_bdev_io_stat {
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	uint64_t num_other_ops;		/* flush, reset, write_zeroes, compare, passthru */
	uint64_t num_io_errors;
	uint64_t read_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t min_read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t min_write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t max_unmap_latency_ticks;
	uint64_t min_unmap_latency_ticks;
	uint64_t ticks_rate;
};

typedef void (*osp_bdev_get_device_stat_cb)(struct osp_bdev *bdev,
		struct osp_bdev_io_stat *stat, void *cb_arg, int rc);
/*
 * Sum of every channel's stats plus those of closed channels; cb on this
 * thread, later. Returns 0, or -EINVAL / -ENOMEM at once (cb not called).
 */
int osp_bdev_get_device_stat(struct osp_bdev *bdev, struct osp_bdev_io_stat *stat,
			      osp_bdev_get_device_stat_cb cb, void *cb_arg);
/* Stats of one channel (this thread). */
void osp_bdev_get_io_stat(struct osp_bdev *bdev, struct osp_io_channel *ch,
			  struct osp_bdev_io_stat *stat);

enum osp_bdev_qos_rate_limit_type {
	OSP_BDEV_QOS_RW_IOPS_RATE_LIMIT = 0,
	OSP_BDEV_QOS_RW_BPS_RATE_LIMIT,
	OSP_BDEV_QOS_R_BPS_RATE_LIMIT,
	OSP_BDEV_QOS_W_BPS_RATE_LIMIT,
	OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES
};

/*
 * limits[type]: IOPS or bytes per second; 0 = no limit, UINT64_MAX = leave
 * as is. Returns 0 when the change was accepted, then cb(cb_arg, status) on
 * the calling thread, later; or at once, without cb: -EINVAL (no bdev or
 * limits, no current thread), -ENOMEM, -EAGAIN (another change is in
 * progress), -ENODEV (the bdev is being removed). The limits hold for the bdev as a whole: while any
 * is set, I/O of every thread goes through the calling thread (the QoS
 * thread), which starts it as the 1 ms time slices give credit (reads,
 * writes, compares, unmaps and write zeroes count; flush, reset and
 * passthru do not).
 */
int osp_bdev_set_qos_rate_limits(struct osp_bdev *bdev, const uint64_t *limits,
				 void (*cb)(void *cb_arg, int status), void *cb_arg);
void osp_bdev_get_qos_rate_limits(struct osp_bdev *bdev, uint64_t *limits);

/* ---- examine ---- */

/* cb(cb_arg) once no examine is in progress. */
int osp_bdev_wait_for_examine(void (*cb)(void *cb_arg), void *cb_arg);
/* Examine bdev_name now (when auto examine is off). */
int osp_bdev_examine(const char *bdev_name);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_BDEV_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the file-backed bdev modules (aio and uring) share, in
 * drivers/bdev/file (a library both modules link; not part of lib/bdev):
 * opening a file or block device (O_DIRECT with a fallback, size and logical
 * block size detection, block size validation), the bdev on it (create,
 * register, destruct, rescan, submit dispatch, info and config output), the
 * per-thread group of an I/O engine (poller, eventfd wake with lazy drain,
 * submit/reap batching), the per-bdev channel that counts I/O in flight for
 * reset, and the bodies of their create/delete/rescan RPCs. Each module
 * keeps only its engine: how to queue, submit and reap its I/O.
 */
#ifndef OSP_BDEV_FILE_H
#define OSP_BDEV_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osprey/bdev_module.h"
#include "osprey/thread.h"
#include "osprey/util.h"

struct osp_jsonrpc_request;

struct osp_bdev_file {
	int fd;
	/* Opened with O_DIRECT: buffers and offsets must be block aligned. */
	bool direct;
	bool is_blockdev;
	/* Size in bytes. */
	uint64_t size;
	/*
	 * Smallest block size the file takes: the logical block size of a block
	 * device, the O_DIRECT offset alignment of a file (statx DIOALIGN), or
	 * 512 when nothing better is known.
	 */
	uint32_t min_block_size;
};

/* Size in bytes of an open file or block device; 0 or -errno. */
int osp_bdev_file_get_size(int fd, uint64_t *size);

/*
 * Open path read-write (or read-only) with O_DIRECT; where the file system
 * refuses O_DIRECT (tmpfs: EINVAL) open it through the page cache and warn.
 * Fills f. On failure writes a message a person can act on into err.
 */
int osp_bdev_file_open(struct osp_bdev_file *f, const char *path, bool readonly,
		       const char *bdev_name, char *err, size_t errlen);

/*
 * Pick the block size: requested (0 = detect) must be a power of two of at
 * least 512 and at least the device's logical block size.
 */
int osp_bdev_file_block_size(const struct osp_bdev_file *f, const char *path, uint32_t requested,
			     uint32_t *block_size, char *err, size_t errlen);

/*
 * The checks of a create before anything is allocated: name and filename
 * given, name not taken. 0, -EINVAL or -EEXIST with a message in err.
 */
int osp_bdev_file_check_create(const char *name, const char *filename, char *err, size_t errlen);

/*
 * Open filename into f (f->fd is -1 on failure) and fill in the geometry of
 * bdev on it: block size (block_size, 0 = detect), block count, write cache,
 * alignment (O_DIRECT needs block-aligned buffers: the layer bounces the
 * others) and uuid (NULL: generated at registration).
 */
int osp_bdev_file_setup(struct osp_bdev *bdev, struct osp_bdev_file *f, const char *filename,
			bool readonly, uint32_t block_size, const struct osp_uuid *uuid,
			char *err, size_t errlen);

/* Size the bdev again from its file: 0 (also when unchanged) or -errno. */
int osp_bdev_file_rescan(struct osp_bdev *bdev, const struct osp_bdev_file *f);

struct osp_bdev_file_channel;
struct osp_bdev_file_engine;

/* ---- the per-thread group of an I/O engine ---- */

/*
 * Per thread, shared by every bdev of a module: the engine's context (ring,
 * io_context) in the module's struct that starts with this one. queued and
 * inflight are kept by the engine: queued by its per-I/O functions and
 * submit, inflight by submit and reap (osp_bdev_file_group_reaped).
 */
struct osp_bdev_file_group {
	const struct osp_bdev_file_engine *engine;
	/* Signalled by the kernel on completion: a wake fd of the thread. */
	int efd;
	/* Completions were reaped since the eventfd was last drained. */
	bool efd_dirty;
	uint32_t idle_passes;
	struct osp_poller *poller;
	/* I/O waiting for the next submit, and I/O the kernel holds. */
	uint32_t queued;
	uint32_t inflight;
};

/* Idle poller passes before the eventfd is drained (so the reactor can sleep). */
#define OSP_BDEV_FILE_DRAIN_IDLE_PASSES	64

/*
 * An I/O engine (aio, uring). The module's static instance is also the
 * io_device of its per-thread groups.
 */
struct osp_bdev_file_engine {
	const char *name;
	/* Size of the module's group struct (starts with struct osp_bdev_file_group). */
	size_t group_size;
	/* Most completions reap handles at once. */
	uint32_t reap_batch;
	/* Set up / tear down the engine on this thread; g->efd exists already. 0 or -errno. */
	int (*group_init)(struct osp_bdev_file_group *g);
	void (*group_fini)(struct osp_bdev_file_group *g);
	/* Hand the queued I/O to the kernel: how many went (0 when it is out of room). */
	int (*submit)(struct osp_bdev_file_group *g);
	/* Complete up to reap_batch finished I/O: how many. */
	int (*reap)(struct osp_bdev_file_group *g);
	/* Queue a READ (with a buffer) or WRITE / a FLUSH of ch's bdev. */
	void (*rw)(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io);
	void (*flush)(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io);
	/* Any other I/O type (may be NULL): false if not supported (completed FAILED). */
	bool (*submit_other)(struct osp_bdev_file_channel *ch, struct osp_bdev_io *bdev_io);
};

/* reap took n completions from the kernel (before completing them). */
static inline void
osp_bdev_file_group_reaped(struct osp_bdev_file_group *g, uint32_t n)
{
	g->inflight -= n;
	g->efd_dirty = true;
}

/* module_init / module_fini: the per-thread groups of engine. */
void osp_bdev_file_engine_register(struct osp_bdev_file_engine *engine);
void osp_bdev_file_engine_unregister(struct osp_bdev_file_engine *engine);

/* ---- the bdev ---- */

/* A file bdev; the first member of the module's struct (bdev.ctxt points to both). */
struct osp_bdev_file_disk {
	struct osp_bdev bdev;
	struct osp_bdev_file file;
	struct osp_bdev_file_engine *engine;
	/* Our per-thread channels' io_device: not the bdev, which the layer registers. */
	int io_dev;
	char *filename;
	bool block_size_given;
};

struct osp_bdev_file_disk_opts {
	struct osp_bdev_module *module;
	const struct osp_bdev_fn_table *fn_table;
	struct osp_bdev_file_engine *engine;
	const char *product_name;
	const char *name;
	const char *filename;
	bool readonly;
	/* 0: detect. */
	uint32_t block_size;
	/* NULL: generated. */
	const struct osp_uuid *uuid;
};

/*
 * Allocate the module's disk (size bytes, zeroed), open the file and fill in
 * the bdev; the caller sets its own fields, then calls
 * osp_bdev_file_disk_register(). 0 or -errno with a message in err.
 */
int osp_bdev_file_disk_open(struct osp_bdev_file_disk **diskp, size_t size,
			    const struct osp_bdev_file_disk_opts *opts, char *err, size_t errlen);
/* Register disk's bdev; on failure disk is freed. 0 or -errno with a message in err. */
int osp_bdev_file_disk_register(struct osp_bdev_file_disk *disk, char *err, size_t errlen);
/* fn_table members for a struct osp_bdev_file_disk bdev. */
int osp_bdev_file_disk_destruct(void *ctx);
struct osp_io_channel *osp_bdev_file_disk_get_io_channel(void *ctx);
void osp_bdev_file_submit_request(struct osp_io_channel *ioch, struct osp_bdev_io *bdev_io);
/* Add "<key>": {filename, block_size, ...} to obj; the object, for the module's fields. */
cJSON *osp_bdev_file_disk_dump_info(struct osp_bdev_file_disk *disk, cJSON *obj,
				    const char *key);
/* The params of the create call: name, filename, block_size if given. NULL if out of memory. */
cJSON *osp_bdev_file_disk_config_params(struct osp_bdev_file_disk *disk);
/* Add the uuid to params and append the call of method with them to array. */
void osp_bdev_file_disk_write_config(struct osp_bdev_file_disk *disk, cJSON *array,
				     const char *method, cJSON *params);
/* Rescan the bdev named name of module: -ENODEV if there is none. */
int osp_bdev_file_rescan_by_name(const char *name, struct osp_bdev_module *module);

/*
 * Per-thread channel of a file bdev: a reference to the module's per-thread
 * group channel (ring, eventfd, poller), and the bdev's own I/O in flight so
 * that a reset (kernel I/O cannot be aborted) waits for it.
 */
struct osp_bdev_file_channel {
	/* This thread's group (the module's struct). */
	void *group;
	struct osp_io_channel *group_ch;
	uint64_t inflight;
	/* A reset waiting for this channel's I/O to drain. */
	struct osp_io_channel_iter *reset_iter;
};


/* One I/O of ch finished (before it is completed): a reset may go on. */
static inline void
osp_bdev_file_channel_io_done(struct osp_bdev_file_channel *ch)
{
	if (--ch->inflight == 0 && osp_unlikely(ch->reset_iter != NULL)) {
		struct osp_io_channel_iter *iter = ch->reset_iter;

		ch->reset_iter = NULL;
		osp_for_each_channel_continue(iter, 0);
	}
}

/* Complete the reset bdev_io once no channel of io_dev has I/O in flight. */
void osp_bdev_file_reset(void *io_dev, struct osp_bdev_io *bdev_io);

/*
 * Bodies of the bdev_<module>_create/delete/rescan RPCs. create decodes
 * filename, name, block_size (refused if explicitly 0) and uuid, with
 * file_options also readonly and fallocate (refused as unknown without),
 * calls create_fn and answers the bdev's name or an error.
 */
struct osp_bdev_file_create_req {
	char *filename;
	char *name;
	uint32_t block_size;
	char *uuid_str;
	bool readonly;
	bool fallocate;
	/* Parsed from uuid_str, NULL if none was given. */
	const struct osp_uuid *uuid;
};
typedef int (*osp_bdev_file_create_fn)(const struct osp_bdev_file_create_req *req,
				       struct osp_bdev **bdev, char *err, size_t errlen);
void osp_bdev_file_rpc_create(struct osp_jsonrpc_request *request, const cJSON *params,
			      bool file_options, osp_bdev_file_create_fn create_fn);
void osp_bdev_file_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
			      const char *module, osp_bdev_delete_fn delete_fn);
void osp_bdev_file_rpc_rescan(struct osp_jsonrpc_request *request, const cJSON *params,
			      const char *module, int (*rescan_fn)(const char *name));

#endif /* OSP_BDEV_FILE_H */

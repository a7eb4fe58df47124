/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the file-backed bdev modules (aio and uring) share, in lib/bdev:
 * opening a file or block device (O_DIRECT with a fallback, size and logical
 * block size detection, block size validation), setting up and rescanning
 * the bdev on it, the per-bdev channel that counts I/O in flight for reset,
 * and the bodies of their create/delete/rescan RPCs.
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

/*
 * Per-thread channel of a file bdev: a reference to the module's per-thread
 * group channel (ring, eventfd, poller), and the bdev's own I/O in flight so
 * that a reset (kernel I/O cannot be aborted) waits for it.
 */
struct osp_bdev_file_channel {
	void *group;
	struct osp_io_channel *group_ch;
	uint64_t inflight;
	/* A reset waiting for this channel's I/O to drain. */
	struct osp_io_channel_iter *reset_iter;
};

/* Take the channel of group_dev on this thread. 0 or -ENOMEM. */
int osp_bdev_file_channel_create(struct osp_bdev_file_channel *ch, void *group_dev);
void osp_bdev_file_channel_destroy(struct osp_bdev_file_channel *ch);

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
 * Bodies of the bdev_<module>_create/delete/rescan RPCs. check_create_params
 * parses the uuid parameter into *uuid (*uuidp = uuid, or NULL if absent) and
 * refuses an explicit block_size of 0; false: the request was answered.
 */
bool osp_bdev_file_rpc_check_create_params(struct osp_jsonrpc_request *request,
		const cJSON *params, const char *uuid_str, uint32_t block_size,
		struct osp_uuid *uuid, const struct osp_uuid **uuidp);
/* Answer a create: the bdev's name, or an error from rc and err. */
void osp_bdev_file_rpc_create_done(struct osp_jsonrpc_request *request, int rc, const char *err,
				   struct osp_bdev *bdev);
void osp_bdev_file_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
			      const char *module, osp_bdev_delete_fn delete_fn);
void osp_bdev_file_rpc_rescan(struct osp_jsonrpc_request *request, const cJSON *params,
			      const char *module, int (*rescan_fn)(const char *name));

#endif /* OSP_BDEV_FILE_H */

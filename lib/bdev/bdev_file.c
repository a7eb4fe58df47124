/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared code of the file-backed bdev modules (aio, uring): see osprey/bdev_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osprey/bdev_file.h"
#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/rpc.h"

/* ---- the file ---- */

int
osp_bdev_file_get_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;

		if (ioctl(fd, BLKGETSIZE64, &sz) != 0) {
			return -errno;
		}
		*size = sz;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		return -ENOTSUP;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int
osp_bdev_file_open(struct osp_bdev_file *f, const char *path, bool readonly,
		   const char *bdev_name, char *err, size_t errlen)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = open(path, flags | O_DIRECT);
	if (f->fd >= 0) {
		f->direct = true;
	} else if (errno == EINVAL) {
		f->fd = open(path, flags);
		if (f->fd >= 0) {
			OSP_WARNLOG("bdev %s: %s does not support O_DIRECT; using the page cache "
				    "(I/O is buffered, flush is what makes writes durable)\n",
				    bdev_name, path);
		}
	}
	if (f->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "Could not open '%s': %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(f->fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "Could not stat '%s': %s", path, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "'%s' is neither a regular file nor a block device", path);
		goto fail;
	}
	f->is_blockdev = S_ISBLK(st.st_mode);
	f->min_block_size = 512;
	if (f->is_blockdev) {
		int lbs = 0;

		if (ioctl(f->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
			f->min_block_size = (uint32_t)lbs;
		}
	}
#ifdef STATX_DIOALIGN
	else if (f->direct) {
		struct statx stx;

		if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 512) {
			f->min_block_size = stx.stx_dio_offset_align;
		}
	}
#endif
	rc = osp_bdev_file_get_size(f->fd, &f->size);
	if (rc != 0) {
		snprintf(err, errlen, "Could not get the size of '%s': %s", path, strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	close(f->fd);
	f->fd = -1;
	return rc;
}

int
osp_bdev_file_block_size(const struct osp_bdev_file *f, const char *path, uint32_t requested,
			 uint32_t *block_size, char *err, size_t errlen)
{
	uint32_t bs = requested != 0 ? requested : f->min_block_size;

	if (bs < 512 || !osp_is_pow2_64(bs)) {
		snprintf(err, errlen, "Invalid block_size %u: it must be a power of two of at "
			 "least 512", bs);
		return -EINVAL;
	}
	if (bs < f->min_block_size) {
		snprintf(err, errlen, "Invalid block_size %u: '%s' has a logical block size of "
			 "%u bytes", bs, path, f->min_block_size);
		return -EINVAL;
	}
	if (f->size / bs == 0) {
		snprintf(err, errlen, "'%s' is smaller than one block (%" PRIu64 " bytes, block "
			 "size %u)", path, f->size, bs);
		return -EINVAL;
	}
	*block_size = bs;
	return 0;
}

/* ---- the bdev ---- */

int
osp_bdev_file_check_create(const char *name, const char *filename, char *err, size_t errlen)
{
	if (name == NULL || name[0] == '\0') {
		snprintf(err, errlen, "A bdev name is required");
		return -EINVAL;
	}
	if (filename == NULL || filename[0] == '\0') {
		snprintf(err, errlen, "A filename is required");
		return -EINVAL;
	}
	if (osp_bdev_get_by_name(name) != NULL) {
		snprintf(err, errlen, "A bdev named '%s' already exists", name);
		return -EEXIST;
	}
	return 0;
}

int
osp_bdev_file_setup(struct osp_bdev *bdev, struct osp_bdev_file *f, const char *filename,
		    bool readonly, uint32_t block_size, const struct osp_uuid *uuid,
		    char *err, size_t errlen)
{
	uint32_t bs;
	int rc;

	rc = osp_bdev_file_open(f, filename, readonly, bdev->name, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = osp_bdev_file_block_size(f, filename, block_size, &bs, err, errlen);
	if (rc != 0) {
		return rc;
	}
	bdev->blocklen = bs;
	bdev->blockcnt = f->size / bs;
	bdev->write_cache = true;
	bdev->write_unit_size = 1;
	bdev->required_alignment = f->direct ? (uint8_t)osp_u32log2(bs) : 0;
	if (uuid != NULL) {
		bdev->uuid = *uuid;
	}
	return 0;
}

int
osp_bdev_file_rescan(struct osp_bdev *bdev, const struct osp_bdev_file *f)
{
	uint64_t size, blockcnt;
	int rc;

	rc = osp_bdev_file_get_size(f->fd, &size);
	if (rc != 0) {
		return rc;
	}
	blockcnt = size / bdev->blocklen;
	if (blockcnt == bdev->blockcnt) {
		return 0;
	}
	if (blockcnt == 0) {
		return -EINVAL;
	}
	OSP_NOTICELOG("%s bdev %s: size changed from %" PRIu64 " to %" PRIu64 " blocks\n",
		      bdev->module->name, bdev->name, bdev->blockcnt, blockcnt);
	return osp_bdev_notify_blockcnt_change(bdev, blockcnt);
}

/* ---- per-bdev channels ---- */

int
osp_bdev_file_channel_create(struct osp_bdev_file_channel *ch, void *group_dev)
{
	ch->group_ch = osp_get_io_channel(group_dev);
	if (ch->group_ch == NULL) {
		return -ENOMEM;
	}
	ch->group = osp_io_channel_get_ctx(ch->group_ch);
	return 0;
}

void
osp_bdev_file_channel_destroy(struct osp_bdev_file_channel *ch)
{
	osp_put_io_channel(ch->group_ch);
}

static void
bdev_file_reset_channel(struct osp_io_channel_iter *iter)
{
	struct osp_bdev_file_channel *ch =
		osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(iter));

	if (ch->inflight == 0) {
		osp_for_each_channel_continue(iter, 0);
	} else if (ch->reset_iter != NULL) {
		/* The layer runs one reset at a time; a second one has nothing to wait on. */
		osp_for_each_channel_continue(iter, -EBUSY);
	} else {
		ch->reset_iter = iter;
	}
}

static void
bdev_file_reset_done(struct osp_io_channel_iter *iter, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(iter);

	osp_bdev_io_complete(bdev_io, status == 0 ? OSP_BDEV_IO_STATUS_SUCCESS :
			     OSP_BDEV_IO_STATUS_FAILED);
}

void
osp_bdev_file_reset(void *io_dev, struct osp_bdev_io *bdev_io)
{
	osp_for_each_channel(io_dev, bdev_file_reset_channel, bdev_io, bdev_file_reset_done);
}

/* ---- RPCs ---- */

bool
osp_bdev_file_rpc_check_create_params(struct osp_jsonrpc_request *request, const cJSON *params,
				      const char *uuid_str, uint32_t block_size,
				      struct osp_uuid *uuid, const struct osp_uuid **uuidp)
{
	*uuidp = NULL;
	if (uuid_str != NULL) {
		if (osp_uuid_parse(uuid, uuid_str) != 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid parameter 'uuid': '%s' is not a UUID",
							    uuid_str);
			return false;
		}
		*uuidp = uuid;
	}
	if (block_size == 0 && cJSON_GetObjectItemCaseSensitive(params, "block_size") != NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid block_size 0: omit it to detect the block size");
		return false;
	}
	return true;
}

void
osp_bdev_file_rpc_create_done(struct osp_jsonrpc_request *request, int rc, const char *err,
			      struct osp_bdev *bdev)
{
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc == -ENOMEM ?
						OSP_JSONRPC_ERROR_INTERNAL_ERROR :
						OSP_JSONRPC_ERROR_INVALID_PARAMS,
						err[0] ? err : strerror(-rc));
		return;
	}
	osp_jsonrpc_send_result(request, cJSON_CreateString(osp_bdev_get_name(bdev)));
}

struct rpc_file_name {
	char *name;
};

static const struct osp_json_object_decoder g_file_name_decoders[] = {
	{"name", offsetof(struct rpc_file_name, name), osp_json_decode_string, false},
};

static void
rpc_file_delete_done(void *cb_arg, int rc)
{
	struct osp_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Could not delete the bdev: %s", strerror(-rc));
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}

void
osp_bdev_file_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
			 const char *module, osp_bdev_delete_fn delete_fn)
{
	struct rpc_file_name req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_file_name_decoders,
				   OSP_COUNTOF(g_file_name_decoders), &req)) {
		return;
	}
	rc = delete_fn(req.name, rpc_file_delete_done, request);
	if (rc == -ENODEV) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "No %s bdev named '%s'", module, req.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Could not delete %s bdev '%s'", module,
						    req.name);
	}
	osp_json_free_object(g_file_name_decoders, OSP_COUNTOF(g_file_name_decoders), &req);
}

void
osp_bdev_file_rpc_rescan(struct osp_jsonrpc_request *request, const cJSON *params,
			 const char *module, int (*rescan_fn)(const char *name))
{
	struct rpc_file_name req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_file_name_decoders,
				   OSP_COUNTOF(g_file_name_decoders), &req)) {
		return;
	}
	rc = rescan_fn(req.name);
	if (rc == -ENODEV) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "No %s bdev named '%s'", module, req.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Could not rescan %s bdev '%s': %s", module,
						    req.name, strerror(-rc));
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_file_name_decoders, OSP_COUNTOF(g_file_name_decoders), &req);
}

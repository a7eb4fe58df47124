/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared code of the file-backed bdev modules (aio, uring): see osprey/bdev_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osprey_internal/bdev_file.h"
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

/* ---- the per-thread group of an engine ---- */

static int
bdev_file_group_poll(void *arg)
{
	struct osp_bdev_file_group *g = arg;
	const struct osp_bdev_file_engine *e = g->engine;
	int n = 0, r;

	/*
	 * Submit what was queued since the last pass, reap, then submit what
	 * the completion callbacks queued: it shares the system call.
	 */
	if (g->queued > 0) {
		n += e->submit(g);
	}
	if (g->inflight > 0) {
		while ((r = e->reap(g)) > 0) {
			n += r;
			if ((uint32_t)r < e->reap_batch) {
				break;
			}
		}
		if (g->queued > 0) {
			n += e->submit(g);
		}
	}
	if (n > 0) {
		g->idle_passes = 0;
		return OSP_POLLER_BUSY;
	}
	if (g->efd_dirty && ++g->idle_passes >= OSP_BDEV_FILE_DRAIN_IDLE_PASSES) {
		uint64_t val;

		/*
		 * Reset the counter so that the reactor can sleep, then look at the
		 * completions again: one that came before the read is there, one
		 * after it signals the eventfd again. Under load this never runs.
		 */
		if (read(g->efd, &val, sizeof(val)) < 0) {
			/* EAGAIN: already zero. */
		}
		g->efd_dirty = false;
		g->idle_passes = 0;
		if (g->inflight > 0 && e->reap(g) > 0) {
			if (g->queued > 0) {
				e->submit(g);
			}
			return OSP_POLLER_BUSY;
		}
	}
	return OSP_POLLER_IDLE;
}

static int
bdev_file_group_create(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_engine *e = io_device;
	struct osp_bdev_file_group *g = ctx_buf;
	int rc;

	g->engine = e;
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		return -errno;
	}
	rc = e->group_init(g);
	if (rc != 0) {
		close(g->efd);
		return rc;
	}
	rc = osp_thread_add_wake_fd(g->efd, EPOLLIN);
	if (rc != 0) {
		OSP_ERRLOG("cannot watch the %s eventfd: %s\n", e->name, strerror(-rc));
		goto fail;
	}
	g->poller = OSP_POLLER_REGISTER(bdev_file_group_poll, g, 0);
	if (g->poller == NULL) {
		osp_thread_remove_wake_fd(g->efd);
		rc = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	e->group_fini(g);
	close(g->efd);
	return rc;
}

static void
bdev_file_group_destroy(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_engine *e = io_device;
	struct osp_bdev_file_group *g = ctx_buf;

	if (g->inflight > 0 || g->queued > 0) {
		OSP_ERRLOG("%s channel destroyed with %u I/O in flight and %u queued\n", e->name,
			   g->inflight, g->queued);
	}
	osp_poller_unregister(&g->poller);
	osp_thread_remove_wake_fd(g->efd);
	/* Waits for what the kernel still holds: nothing, unless the line above fired. */
	e->group_fini(g);
	close(g->efd);
}

void
osp_bdev_file_engine_register(struct osp_bdev_file_engine *engine)
{
	char name[32];

	snprintf(name, sizeof(name), "%s_group", engine->name);
	osp_io_device_register(engine, bdev_file_group_create, bdev_file_group_destroy,
			       engine->group_size, name);
}

void
osp_bdev_file_engine_unregister(struct osp_bdev_file_engine *engine)
{
	osp_io_device_unregister(engine, NULL);
}

/* ---- per-bdev channels ---- */

static int
bdev_file_channel_create(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_disk *disk = OSP_CONTAINEROF(io_device, struct osp_bdev_file_disk,
					  io_dev);
	struct osp_bdev_file_channel *ch = ctx_buf;

	ch->group_ch = osp_get_io_channel(disk->engine);
	if (ch->group_ch == NULL) {
		return -ENOMEM;
	}
	ch->group = osp_io_channel_get_ctx(ch->group_ch);
	return 0;
}

static void
bdev_file_channel_destroy(void *io_device, void *ctx_buf)
{
	struct osp_bdev_file_channel *ch = ctx_buf;

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

/* ---- the bdev's life ---- */

static void
bdev_file_disk_free(struct osp_bdev_file_disk *disk)
{
	if (disk->file.fd >= 0) {
		close(disk->file.fd);
	}
	free(disk->bdev.name);
	free(disk->filename);
	free(disk);
}

int
osp_bdev_file_disk_open(struct osp_bdev_file_disk **diskp, size_t size,
			const struct osp_bdev_file_disk_opts *opts, char *err, size_t errlen)
{
	struct osp_bdev_file_disk *disk;
	int rc;

	rc = osp_bdev_file_check_create(opts->name, opts->filename, err, errlen);
	if (rc != 0) {
		return rc;
	}
	disk = calloc(1, size);
	if (disk == NULL) {
		snprintf(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	disk->file.fd = -1;
	disk->filename = strdup(opts->filename);
	disk->bdev.name = strdup(opts->name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		snprintf(err, errlen, "Out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = osp_bdev_file_setup(&disk->bdev, &disk->file, opts->filename, opts->readonly,
				 opts->block_size, opts->uuid, err, errlen);
	if (rc != 0) {
		goto fail;
	}
	disk->block_size_given = opts->block_size != 0;
	disk->engine = opts->engine;
	disk->bdev.product_name = (char *)opts->product_name;
	disk->bdev.ctxt = disk;
	disk->bdev.module = opts->module;
	disk->bdev.fn_table = opts->fn_table;
	*diskp = disk;
	return 0;
fail:
	bdev_file_disk_free(disk);
	return rc;
}

static void
bdev_file_disk_free_cb(void *io_device)
{
	bdev_file_disk_free(OSP_CONTAINEROF(io_device, struct osp_bdev_file_disk, io_dev));
}

int
osp_bdev_file_disk_register(struct osp_bdev_file_disk *disk, char *err, size_t errlen)
{
	int rc;

	osp_io_device_register(&disk->io_dev, bdev_file_channel_create, bdev_file_channel_destroy,
			       sizeof(struct osp_bdev_file_channel), disk->bdev.name);
	rc = osp_bdev_register(&disk->bdev);
	if (rc != 0) {
		snprintf(err, errlen, "Could not register bdev '%s': %s", disk->bdev.name,
			 rc == -EEXIST ? "the name is taken" : strerror(-rc));
		/* Nothing uses the io_device yet: free once it is gone. */
		osp_io_device_unregister(&disk->io_dev, bdev_file_disk_free_cb);
		return rc;
	}
	OSP_NOTICELOG("%s bdev %s on %s: %" PRIu64 " blocks of %u bytes%s\n",
		      disk->bdev.module->name, disk->bdev.name, disk->filename, disk->bdev.blockcnt,
		      disk->bdev.blocklen, disk->file.direct ? "" : " (buffered)");
	return 0;
}

static void
bdev_file_disk_free_msg(void *arg)
{
	bdev_file_disk_free(arg);
}

static void
bdev_file_disk_unregistered(void *io_device)
{
	struct osp_bdev_file_disk *disk = OSP_CONTAINEROF(io_device, struct osp_bdev_file_disk,
					  io_dev);

	osp_bdev_destruct_done(&disk->bdev, 0);
	/* From a message: the layer may still look at the bdev on the way out. */
	if (osp_thread_send_msg(osp_get_thread(), bdev_file_disk_free_msg, disk) != 0) {
		bdev_file_disk_free(disk);
	}
}

int
osp_bdev_file_disk_destruct(void *ctx)
{
	struct osp_bdev_file_disk *disk = ctx;

	osp_io_device_unregister(&disk->io_dev, bdev_file_disk_unregistered);
	return 1;
}

struct osp_io_channel *
osp_bdev_file_disk_get_io_channel(void *ctx)
{
	struct osp_bdev_file_disk *disk = ctx;

	return osp_get_io_channel(&disk->io_dev);
}

static void
bdev_file_get_buf_cb(struct osp_io_channel *ioch, struct osp_bdev_io *bdev_io, bool success)
{
	struct osp_bdev_file_disk *disk = bdev_io->bdev->ctxt;

	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	disk->engine->rw(osp_io_channel_get_ctx(ioch), bdev_io);
}

void
osp_bdev_file_submit_request(struct osp_io_channel *ioch, struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_file_channel *ch = osp_io_channel_get_ctx(ioch);
	struct osp_bdev_file_disk *disk = bdev_io->bdev->ctxt;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		if (osp_unlikely(bdev_io->u.bdev.iovs == NULL ||
				 bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
			osp_bdev_io_get_buf(bdev_io, bdev_file_get_buf_cb,
					    bdev_io->u.bdev.num_blocks * disk->bdev.blocklen);
			return;
		}
		disk->engine->rw(ch, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_WRITE:
		disk->engine->rw(ch, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_FLUSH:
		disk->engine->flush(ch, bdev_io);
		return;
	case OSP_BDEV_IO_TYPE_RESET:
		/* Kernel I/O cannot be aborted: a reset waits for what is in flight. */
		osp_bdev_file_reset(&disk->io_dev, bdev_io);
		return;
	default:
		if (disk->engine->submit_other != NULL && disk->engine->submit_other(ch, bdev_io)) {
			return;
		}
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
}

cJSON *
osp_bdev_file_disk_dump_info(struct osp_bdev_file_disk *disk, cJSON *obj, const char *key)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);

	if (o == NULL) {
		return NULL;
	}
	cJSON_AddStringToObject(o, "filename", disk->filename);
	cJSON_AddNumberToObject(o, "block_size", disk->bdev.blocklen);
	cJSON_AddBoolToObject(o, "block_size_override", disk->block_size_given);
	cJSON_AddBoolToObject(o, "direct_io", disk->file.direct);
	cJSON_AddBoolToObject(o, "block_device", disk->file.is_blockdev);
	return o;
}

cJSON *
osp_bdev_file_disk_config_params(struct osp_bdev_file_disk *disk)
{
	cJSON *params = cJSON_CreateObject();

	if (params == NULL) {
		return NULL;
	}
	cJSON_AddStringToObject(params, "name", disk->bdev.name);
	cJSON_AddStringToObject(params, "filename", disk->filename);
	if (disk->block_size_given) {
		cJSON_AddNumberToObject(params, "block_size", disk->bdev.blocklen);
	}
	return params;
}

void
osp_bdev_file_disk_write_config(struct osp_bdev_file_disk *disk, cJSON *array,
				const char *method, cJSON *params)
{
	char uuid[OSP_UUID_STRING_LEN];

	if (osp_uuid_fmt_lower(uuid, sizeof(uuid), &disk->bdev.uuid) == 0) {
		cJSON_AddStringToObject(params, "uuid", uuid);
	}
	osp_json_add_rpc_call(array, method, params);
}

int
osp_bdev_file_rescan_by_name(const char *name, struct osp_bdev_module *module)
{
	struct osp_bdev *bdev = name != NULL ? osp_bdev_get_by_name(name) : NULL;
	struct osp_bdev_file_disk *disk;

	if (bdev == NULL || bdev->module != module || strcmp(bdev->name, name) != 0) {
		return -ENODEV;
	}
	disk = bdev->ctxt;
	return osp_bdev_file_rescan(&disk->bdev, &disk->file);
}

/* ---- RPCs ---- */

/* Parse uuid_str into *uuid (*uuidp = uuid, or NULL); refuse an explicit block_size 0. */
static bool
bdev_file_rpc_check_create_params(struct osp_jsonrpc_request *request, const cJSON *params,
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

/* Answer a create: the bdev's name, or an error from rc and err. */
static void
bdev_file_rpc_create_done(struct osp_jsonrpc_request *request, int rc, const char *err,
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

/* readonly and fallocate last: only modules with file_options decode them. */
static const struct osp_json_object_decoder g_file_create_decoders[] = {
	{"filename", offsetof(struct osp_bdev_file_create_req, filename), osp_json_decode_string, false},
	{"name", offsetof(struct osp_bdev_file_create_req, name), osp_json_decode_string, false},
	{"block_size", offsetof(struct osp_bdev_file_create_req, block_size), osp_json_decode_uint32, true},
	{"uuid", offsetof(struct osp_bdev_file_create_req, uuid_str), osp_json_decode_string, true},
	{"readonly", offsetof(struct osp_bdev_file_create_req, readonly), osp_json_decode_bool, true},
	{"fallocate", offsetof(struct osp_bdev_file_create_req, fallocate), osp_json_decode_bool, true},
};

void
osp_bdev_file_rpc_create(struct osp_jsonrpc_request *request, const cJSON *params,
			 bool file_options, osp_bdev_file_create_fn create_fn)
{
	size_t ndecoders = OSP_COUNTOF(g_file_create_decoders) - (file_options ? 0 : 2);
	struct osp_bdev_file_create_req req = {};
	struct osp_uuid uuid;
	struct osp_bdev *bdev = NULL;
	char err[512] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_file_create_decoders, ndecoders, &req)) {
		return;
	}
	if (bdev_file_rpc_check_create_params(request, params, req.uuid_str, req.block_size, &uuid,
					      &req.uuid)) {
		rc = create_fn(&req, &bdev, err, sizeof(err));
		bdev_file_rpc_create_done(request, rc, err, bdev);
	}
	osp_json_free_object(g_file_create_decoders, ndecoders, &req);
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

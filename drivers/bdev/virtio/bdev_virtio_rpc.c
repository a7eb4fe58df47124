/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of bdev_virtio: bdev_virtio_attach_controller, bdev_virtio_detach_controller (SPDK's names). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_virtio.h"

struct rpc_virtio_attach {
	char *name;
	char *trtype;
	char *traddr;
	char *dev_type;
	uint32_t vq_count;
	uint32_t vq_size;
};

static const struct osp_json_object_decoder g_attach_decoders[] = {
	{"name", offsetof(struct rpc_virtio_attach, name), osp_json_decode_string},
	{"trtype", offsetof(struct rpc_virtio_attach, trtype), osp_json_decode_string},
	{"traddr", offsetof(struct rpc_virtio_attach, traddr), osp_json_decode_string},
	{"dev_type", offsetof(struct rpc_virtio_attach, dev_type), osp_json_decode_string},
	{"vq_count", offsetof(struct rpc_virtio_attach, vq_count), osp_json_decode_uint32, true},
	{"vq_size", offsetof(struct rpc_virtio_attach, vq_size), osp_json_decode_uint32, true},
};

struct rpc_attach_ctx {
	struct osp_jsonrpc_request *request;
	char name[256];
	char traddr[256];
	char dev_type[8];
};

static void
rpc_attach_done(void *cb_arg, int rc, const char *err, const char *const *bdev_names, int n)
{
	struct rpc_attach_ctx *ctx = cb_arg;
	cJSON *names;

	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(ctx->request, rc,
						    "Cannot attach virtio-%s controller '%s' at %s: %s",
						    ctx->dev_type, ctx->name, ctx->traddr, err);
	} else {
		names = cJSON_CreateArray();
		for (int i = 0; names != NULL && i < n; i++) {
			cJSON_AddItemToArray(names, cJSON_CreateString(bdev_names[i]));
		}
		osp_jsonrpc_send_result(ctx->request, names);
	}
	free(ctx);
}

static void
rpc_bdev_virtio_attach_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_virtio_attach req = {
		.vq_count = BDEV_VIRTIO_DEFAULT_VQ_COUNT,
		.vq_size = BDEV_VIRTIO_DEFAULT_VQ_SIZE,
	};
	struct bdev_virtio_opts opts = {};
	bool scsi;
	struct rpc_attach_ctx *ctx;
	char err[256];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_attach_decoders,
				   OSP_COUNTOF(g_attach_decoders), &req)) {
		return;
	}
	if (osp_bdev_name_check(req.name, err, sizeof(err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL, "Invalid name: %s", err);
		goto out;
	}
	if (strcasecmp(req.trtype, "user") != 0) {
		osp_jsonrpc_send_error_response_fmt(request, strcasecmp(req.trtype, "pci") == 0 ?
						    -ENOTSUP : -EINVAL,
						    "Invalid trtype '%s': only \"user\" (a vhost-user socket) "
						    "is supported", req.trtype);
		goto out;
	}
	if (strcasecmp(req.dev_type, "blk") != 0 && strcasecmp(req.dev_type, "scsi") != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid dev_type '%s': \"blk\" or \"scsi\"",
						    req.dev_type);
		goto out;
	}
	scsi = strcasecmp(req.dev_type, "scsi") == 0;
	if (req.traddr[0] == '\0') {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"Invalid traddr: the path of the vhost-user socket is empty");
		goto out;
	}
	if (req.vq_count == 0 || req.vq_count > BDEV_VIRTIO_MAX_VQ_COUNT) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid vq_count %" PRIu32 ": must be 1 to %d",
						    req.vq_count, BDEV_VIRTIO_MAX_VQ_COUNT);
		goto out;
	}
	if (req.vq_size < 4 || req.vq_size > 32768 || (req.vq_size & (req.vq_size - 1)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid vq_size %" PRIu32 ": must be a power of two "
						    "from 4 to 32768", req.vq_size);
		goto out;
	}
	opts.name = req.name;
	opts.path = req.traddr;
	opts.vq_count = (uint16_t)req.vq_count;
	opts.vq_size = (uint16_t)req.vq_size;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, -ENOMEM, "Out of memory");
		goto out;
	}
	ctx->request = request;
	snprintf(ctx->name, sizeof(ctx->name), "%s", req.name);
	snprintf(ctx->traddr, sizeof(ctx->traddr), "%s", req.traddr);
	snprintf(ctx->dev_type, sizeof(ctx->dev_type), "%s", scsi ? "scsi" : "blk");
	rc = scsi ? bdev_virtio_scsi_attach(&opts, rpc_attach_done, ctx, err, sizeof(err)) :
	     bdev_virtio_blk_attach(&opts, rpc_attach_done, ctx, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot attach virtio-%s controller '%s' at %s: %s",
						    ctx->dev_type, req.name, req.traddr,
						    err[0] ? err : strerror(-rc));
		free(ctx);
	}
out:
	osp_json_free_object(g_attach_decoders, OSP_COUNTOF(g_attach_decoders), &req);
}
OSP_RPC_REGISTER("bdev_virtio_attach_controller", rpc_bdev_virtio_attach_controller, OSP_RPC_RUNTIME)

/* A virtio-blk controller (named as its bdev) or a virtio-scsi one. */
static int
detach_any(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	int rc = bdev_virtio_detach(name, cb_fn, cb_arg);

	return rc == -ENODEV ? bdev_virtio_scsi_detach(name, cb_fn, cb_arg) : rc;
}

static void
rpc_bdev_virtio_detach_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, detach_any, "virtio controller",
			    "No virtio controller named '%s' (see bdev_get_bdevs, "
			    "bdev_virtio_scsi_get_devices)");
}
OSP_RPC_REGISTER("bdev_virtio_detach_controller", rpc_bdev_virtio_detach_controller, OSP_RPC_RUNTIME)

static void
rpc_bdev_virtio_scsi_get_devices(struct osp_jsonrpc_request *request, const cJSON *params)
{
	cJSON *arr;

	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"bdev_virtio_scsi_get_devices takes no parameters");
		return;
	}
	arr = cJSON_CreateArray();
	bdev_virtio_scsi_dump_devices(arr);
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("bdev_virtio_scsi_get_devices", rpc_bdev_virtio_scsi_get_devices, OSP_RPC_RUNTIME)

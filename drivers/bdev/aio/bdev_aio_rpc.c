/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the aio bdev module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_aio.h"
#include "osprey/json.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

struct rpc_aio_create {
	char *filename;
	char *name;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
	char *uuid;
};

static const struct osp_json_object_decoder g_aio_create_decoders[] = {
	{"filename", offsetof(struct rpc_aio_create, filename), osp_json_decode_string, false},
	{"name", offsetof(struct rpc_aio_create, name), osp_json_decode_string, false},
	{"block_size", offsetof(struct rpc_aio_create, block_size), osp_json_decode_uint32, true},
	{"readonly", offsetof(struct rpc_aio_create, readonly), osp_json_decode_bool, true},
	{"fallocate", offsetof(struct rpc_aio_create, fallocate), osp_json_decode_bool, true},
	{"uuid", offsetof(struct rpc_aio_create, uuid), osp_json_decode_string, true},
};

static void
rpc_bdev_aio_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_aio_create req = {};
	struct bdev_aio_opts opts = {};
	struct osp_uuid uuid;
	struct osp_bdev *bdev;
	char err[512];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_aio_create_decoders,
				   OSP_COUNTOF(g_aio_create_decoders), &req)) {
		return;
	}
	if (req.uuid != NULL) {
		if (osp_uuid_parse(&uuid, req.uuid) != 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid parameter 'uuid': '%s' is not a UUID",
							    req.uuid);
			goto out;
		}
		opts.uuid = &uuid;
	}
	if (req.block_size == 0 && params != NULL &&
	    cJSON_GetObjectItemCaseSensitive(params, "block_size") != NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid block_size 0: omit it to detect the block size");
		goto out;
	}
	opts.filename = req.filename;
	opts.name = req.name;
	opts.block_size = req.block_size;
	opts.readonly = req.readonly;
	opts.fallocate = req.fallocate;
	err[0] = '\0';
	rc = bdev_aio_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc == -ENOMEM ?
						OSP_JSONRPC_ERROR_INTERNAL_ERROR :
						OSP_JSONRPC_ERROR_INVALID_PARAMS,
						err[0] ? err : strerror(-rc));
		goto out;
	}
	osp_jsonrpc_send_result(request, cJSON_CreateString(osp_bdev_get_name(bdev)));
out:
	osp_json_free_object(g_aio_create_decoders, OSP_COUNTOF(g_aio_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, OSP_RPC_RUNTIME)

struct rpc_aio_name {
	char *name;
};

static const struct osp_json_object_decoder g_aio_name_decoders[] = {
	{"name", offsetof(struct rpc_aio_name, name), osp_json_decode_string, false},
};

static void
aio_delete_done(void *cb_arg, int rc)
{
	struct osp_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Could not delete the bdev: %s", strerror(-rc));
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}

static void
rpc_bdev_aio_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_aio_name req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_aio_name_decoders,
				   OSP_COUNTOF(g_aio_name_decoders), &req)) {
		return;
	}
	rc = bdev_aio_delete(req.name, aio_delete_done, request);
	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    rc == -ENODEV ? "No aio bdev named '%s'" :
						    "Could not delete aio bdev '%s'", req.name);
	}
	osp_json_free_object(g_aio_name_decoders, OSP_COUNTOF(g_aio_name_decoders), &req);
}
OSP_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, OSP_RPC_RUNTIME)

static void
rpc_bdev_aio_rescan(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_aio_name req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_aio_name_decoders,
				   OSP_COUNTOF(g_aio_name_decoders), &req)) {
		return;
	}
	rc = bdev_aio_rescan(req.name);
	if (rc == -ENODEV) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "No aio bdev named '%s'", req.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Could not rescan aio bdev '%s': %s", req.name,
						    strerror(-rc));
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_aio_name_decoders, OSP_COUNTOF(g_aio_name_decoders), &req);
}
OSP_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, OSP_RPC_RUNTIME)

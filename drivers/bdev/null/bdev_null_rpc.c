/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the null bdev: bdev_null_create, bdev_null_delete, bdev_null_resize. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_null.h"

struct rpc_null_create {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t physical_block_size;
	/* Accepted for compatibility with SPDK's clients; only "none" is supported. */
	uint32_t md_size;
	int32_t dif_type;
	bool dif_is_head_of_md;
	int32_t dif_pi_format;
};

static const struct osp_json_object_decoder g_null_create_decoders[] = {
	{"name", offsetof(struct rpc_null_create, name), osp_json_decode_string},
	{"uuid", offsetof(struct rpc_null_create, uuid), osp_json_decode_string, true},
	{"num_blocks", offsetof(struct rpc_null_create, num_blocks), osp_json_decode_uint64},
	{"block_size", offsetof(struct rpc_null_create, block_size), osp_json_decode_uint32},
	{"physical_block_size", offsetof(struct rpc_null_create, physical_block_size), osp_json_decode_uint32, true},
	{"md_size", offsetof(struct rpc_null_create, md_size), osp_json_decode_uint32, true},
	{"dif_type", offsetof(struct rpc_null_create, dif_type), osp_json_decode_int32, true},
	{"dif_is_head_of_md", offsetof(struct rpc_null_create, dif_is_head_of_md), osp_json_decode_bool, true},
	{"dif_pi_format", offsetof(struct rpc_null_create, dif_pi_format), osp_json_decode_int32, true},
};

static void
rpc_bdev_null_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_null_create req = {};
	struct bdev_null_opts opts = {};
	struct osp_bdev *bdev = NULL;
	char name_err[128];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_null_create_decoders,
				   OSP_COUNTOF(g_null_create_decoders), &req)) {
		return;
	}
	if (osp_bdev_name_check(req.name, name_err, sizeof(name_err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL, "Invalid name: %s", name_err);
		goto out;
	}
	if (req.block_size < 512 || !osp_is_pow2_64(req.block_size)) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid block_size %" PRIu32 ": must be a power of two, 512 or more",
						    req.block_size);
		goto out;
	}
	if (req.num_blocks == 0) {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"Invalid num_blocks 0: the disk needs at least one block");
		goto out;
	}
	if (req.num_blocks > UINT64_MAX / req.block_size) {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"Invalid size: num_blocks * block_size overflows 64 bits");
		goto out;
	}
	if (req.physical_block_size != 0 && (!osp_is_pow2_64(req.physical_block_size) ||
					     req.physical_block_size < req.block_size)) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid physical_block_size %" PRIu32 ": must be a power of two, at least block_size (%" PRIu32 ")",
						    req.physical_block_size, req.block_size);
		goto out;
	}
	if (req.md_size != 0 || req.dif_type != 0 || req.dif_is_head_of_md || req.dif_pi_format != 0) {
		osp_jsonrpc_send_error_response(request, -ENOTSUP,
						"Metadata and protection information (md_size, dif_*) are not "
						"supported by this null bdev");
		goto out;
	}
	if (req.uuid != NULL && osp_uuid_parse(&opts.uuid, req.uuid) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid uuid '%s': expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
						    req.uuid);
		goto out;
	}
	opts.name = req.name;
	opts.num_blocks = req.num_blocks;
	opts.block_size = req.block_size;
	opts.physical_block_size = req.physical_block_size;
	rc = bdev_null_create(&opts, &bdev);
	if (rc == 0) {
		osp_jsonrpc_send_result(request, cJSON_CreateString(bdev->name));
	} else if (rc == -EEXIST) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create null bdev: a bdev named '%s' already exists",
						    req.name);
	} else {
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot create null bdev '%s': %s",
						    req.name, strerror(-rc));
	}
out:
	osp_json_free_object(g_null_create_decoders, OSP_COUNTOF(g_null_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_null_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, bdev_null_delete, "null bdev",
			    "No null bdev named '%s' (see bdev_get_bdevs)");
}
OSP_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, OSP_RPC_RUNTIME)

struct rpc_null_resize {
	char *name;
	uint64_t new_size;
};

static const struct osp_json_object_decoder g_null_resize_decoders[] = {
	{"name", offsetof(struct rpc_null_resize, name), osp_json_decode_string},
	{"new_size", offsetof(struct rpc_null_resize, new_size), osp_json_decode_uint64},
};

static void
rpc_bdev_null_resize(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_null_resize req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_null_resize_decoders,
				   OSP_COUNTOF(g_null_resize_decoders), &req)) {
		return;
	}
	rc = bdev_null_resize(req.name, req.new_size);
	switch (rc) {
	case 0:
		osp_jsonrpc_send_bool_response(request, true);
		break;
	case -ENODEV:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "No null bdev named '%s' (see bdev_get_bdevs)", req.name);
		break;
	case -EINVAL:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Invalid new_size %" PRIu64 " MiB: must hold at least one block",
						    req.new_size);
		break;
	case -EBUSY:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot shrink '%s' while a module has claimed it", req.name);
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot resize '%s': %s", req.name,
						    strerror(-rc));
		break;
	}
	osp_json_free_object(g_null_resize_decoders, OSP_COUNTOF(g_null_resize_decoders), &req);
}
OSP_RPC_REGISTER("bdev_null_resize", rpc_bdev_null_resize, OSP_RPC_RUNTIME)

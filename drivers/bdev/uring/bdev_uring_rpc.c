/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the uring bdev module: bdev_uring_create, bdev_uring_delete, bdev_uring_rescan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_uring.h"
#include "osprey/bdev_file.h"
#include "osprey/json.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

struct rpc_uring_create {
	char *filename;
	char *name;
	uint32_t block_size;
	char *uuid;
};

static const struct osp_json_object_decoder g_uring_create_decoders[] = {
	{"filename", offsetof(struct rpc_uring_create, filename), osp_json_decode_string, false},
	{"name", offsetof(struct rpc_uring_create, name), osp_json_decode_string, false},
	{"block_size", offsetof(struct rpc_uring_create, block_size), osp_json_decode_uint32, true},
	{"uuid", offsetof(struct rpc_uring_create, uuid), osp_json_decode_string, true},
};

static void
rpc_bdev_uring_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_uring_create req = {};
	struct bdev_uring_opts opts = {};
	struct osp_uuid uuid;
	struct osp_bdev *bdev = NULL;
	char err[512] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_uring_create_decoders,
				   OSP_COUNTOF(g_uring_create_decoders), &req)) {
		return;
	}
	if (osp_bdev_file_rpc_check_create_params(request, params, req.uuid, req.block_size, &uuid,
						  &opts.uuid)) {
		opts.filename = req.filename;
		opts.name = req.name;
		opts.block_size = req.block_size;
		rc = bdev_uring_create(&opts, &bdev, err, sizeof(err));
		osp_bdev_file_rpc_create_done(request, rc, err, bdev);
	}
	osp_json_free_object(g_uring_create_decoders, OSP_COUNTOF(g_uring_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_uring_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_delete(request, params, "uring", bdev_uring_delete);
}
OSP_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, OSP_RPC_RUNTIME)

static void
rpc_bdev_uring_rescan(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_rescan(request, params, "uring", bdev_uring_rescan);
}
OSP_RPC_REGISTER("bdev_uring_rescan", rpc_bdev_uring_rescan, OSP_RPC_RUNTIME)

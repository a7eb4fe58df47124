/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the uring bdev module: bdev_uring_create, bdev_uring_delete, bdev_uring_rescan. */
#include "bdev_uring.h"
#include "osprey_internal/bdev_file.h"
#include "osprey/rpc.h"

static int
rpc_uring_create(const struct osp_bdev_file_create_req *req, struct osp_bdev **bdev, char *err,
		 size_t errlen)
{
	struct bdev_uring_opts opts = {
		.filename = req->filename,
		.name = req->name,
		.block_size = req->block_size,
		.uuid = req->uuid,
	};

	return bdev_uring_create(&opts, bdev, err, errlen);
}

/* No readonly or fallocate: like SPDK's bdev_uring_create, they are refused. */
static void
rpc_bdev_uring_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_create(request, params, false, rpc_uring_create);
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

/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the aio bdev module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include "bdev_aio.h"
#include "osprey_internal/bdev_file.h"
#include "osprey/rpc.h"

static int
rpc_aio_create(const struct osp_bdev_file_create_req *req, struct osp_bdev **bdev, char *err,
	       size_t errlen)
{
	struct bdev_aio_opts opts = {
		.filename = req->filename,
		.name = req->name,
		.block_size = req->block_size,
		.readonly = req->readonly,
		.fallocate = req->fallocate,
		.uuid = req->uuid,
	};

	return bdev_aio_create(&opts, bdev, err, errlen);
}

static void
rpc_bdev_aio_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_create(request, params, true, rpc_aio_create);
}
OSP_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_aio_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_delete(request, params, "aio", bdev_aio_delete);
}
OSP_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, OSP_RPC_RUNTIME)

static void
rpc_bdev_aio_rescan(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_file_rpc_rescan(request, params, "aio", bdev_aio_rescan);
}
OSP_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, OSP_RPC_RUNTIME)

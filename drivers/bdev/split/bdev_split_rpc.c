/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the split bdev: bdev_split_create, bdev_split_delete. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_split.h"

struct rpc_split_create {
	char *base_bdev;
	uint32_t split_count;
	uint64_t split_size_mb;
};

static const struct osp_json_object_decoder g_split_create_decoders[] = {
	{"base_bdev", offsetof(struct rpc_split_create, base_bdev), osp_json_decode_string},
	{"split_count", offsetof(struct rpc_split_create, split_count), osp_json_decode_uint32},
	{"split_size_mb", offsetof(struct rpc_split_create, split_size_mb), osp_json_decode_uint64, true},
};

static void
add_name(const char *name, void *ctx)
{
	cJSON_AddItemToArray(ctx, cJSON_CreateString(name));
}

static void
rpc_bdev_split_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_split_create req = {};
	char err[256];
	cJSON *names;
	int rc;

	if (!osp_rpc_decode_params(request, params, g_split_create_decoders,
				   OSP_COUNTOF(g_split_create_decoders), &req)) {
		return;
	}
	rc = bdev_split_create(req.base_bdev, req.split_count, req.split_size_mb, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot split '%s': %s", req.base_bdev,
						    err[0] != '\0' ? err : strerror(-rc));
		goto out;
	}
	/* The parts' names; empty while the base does not exist yet (as in SPDK). */
	names = cJSON_CreateArray();
	if (names == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	bdev_split_foreach_part(req.base_bdev, add_name, names);
	osp_jsonrpc_send_result(request, names);
out:
	osp_json_free_object(g_split_create_decoders, OSP_COUNTOF(g_split_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_split_create", rpc_bdev_split_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_split_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, "base_bdev", bdev_split_delete, "split",
			    "Bdev '%s' is not split (bdev_split_delete takes the base bdev's name)");
}
OSP_RPC_REGISTER("bdev_split_delete", rpc_bdev_split_delete, OSP_RPC_RUNTIME)

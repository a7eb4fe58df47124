/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the passthru bdev: bdev_passthru_create, bdev_passthru_delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_passthru.h"

struct rpc_pt_create {
	char *base_bdev_name;
	char *name;
	char *uuid;
};

static const struct osp_json_object_decoder g_pt_create_decoders[] = {
	{"base_bdev_name", offsetof(struct rpc_pt_create, base_bdev_name), osp_json_decode_string},
	{"name", offsetof(struct rpc_pt_create, name), osp_json_decode_string},
	{"uuid", offsetof(struct rpc_pt_create, uuid), osp_json_decode_string, true},
};

static void
rpc_bdev_passthru_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_pt_create req = {};
	struct osp_uuid uuid = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_pt_create_decoders,
				   OSP_COUNTOF(g_pt_create_decoders), &req)) {
		return;
	}
	if (!osp_vbdev_rpc_check_create(request, req.name, "base_bdev_name", req.base_bdev_name,
					req.uuid, &uuid)) {
		goto out;
	}
	rc = bdev_passthru_create(req.name, req.base_bdev_name, &uuid);
	if (rc == 0) {
		osp_jsonrpc_send_result(request, cJSON_CreateString(req.name));
	} else {
		osp_vbdev_rpc_create_error(request, rc, "passthru", req.name, req.base_bdev_name);
	}
out:
	osp_json_free_object(g_pt_create_decoders, OSP_COUNTOF(g_pt_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_passthru_create", rpc_bdev_passthru_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_passthru_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, bdev_passthru_delete, "passthru bdev",
			    "No passthru bdev named '%s' (see bdev_get_bdevs)");
}
OSP_RPC_REGISTER("bdev_passthru_delete", rpc_bdev_passthru_delete, OSP_RPC_RUNTIME)

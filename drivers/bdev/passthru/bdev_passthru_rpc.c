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
	if (req.name[0] == '\0' || req.base_bdev_name[0] == '\0') {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"Invalid name or base_bdev_name: must not be empty");
		goto out;
	}
	if (req.uuid != NULL && osp_uuid_parse(&uuid, req.uuid) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid uuid '%s': expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
						    req.uuid);
		goto out;
	}
	rc = bdev_passthru_create(req.name, req.base_bdev_name, &uuid);
	switch (rc) {
	case 0:
		osp_jsonrpc_send_result(request, cJSON_CreateString(req.name));
		break;
	case -EEXIST:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create passthru: a bdev or passthru named '%s' already exists",
						    req.name);
		break;
	case -EPERM:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create passthru '%s': base bdev '%s' is already claimed by module '%s'",
						    req.name, req.base_bdev_name, osp_bdev_claimer_name(req.base_bdev_name));
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot create passthru '%s' on '%s': %s",
						    req.name, req.base_bdev_name, strerror(-rc));
		break;
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

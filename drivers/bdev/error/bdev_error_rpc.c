/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the error bdev: bdev_error_create, bdev_error_inject_error, bdev_error_delete. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_error.h"

struct rpc_error_create {
	char *base_name;
	char *uuid;
};

static const struct osp_json_object_decoder g_error_create_decoders[] = {
	{"base_name", offsetof(struct rpc_error_create, base_name), osp_json_decode_string},
	{"uuid", offsetof(struct rpc_error_create, uuid), osp_json_decode_string, true},
};

static void
rpc_bdev_error_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_error_create req = {};
	struct osp_uuid uuid = {};
	char *name;
	int rc;

	if (!osp_rpc_decode_params(request, params, g_error_create_decoders,
				   OSP_COUNTOF(g_error_create_decoders), &req)) {
		return;
	}
	if (!osp_vbdev_rpc_check_create(request, NULL, "base_name", req.base_name, req.uuid,
					&uuid)) {
		goto out;
	}
	rc = bdev_error_create(req.base_name, &uuid);
	if (rc == 0) {
		/* SPDK answers true here (the name is always EE_<base_name>). */
		osp_jsonrpc_send_bool_response(request, true);
	} else {
		name = osp_sprintf_alloc(BDEV_ERROR_PREFIX "%s", req.base_name);
		osp_vbdev_rpc_create_error(request, rc, "error bdev", name != NULL ? name :
					   req.base_name, req.base_name);
		free(name);
	}
out:
	osp_json_free_object(g_error_create_decoders, OSP_COUNTOF(g_error_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, OSP_RPC_RUNTIME)

struct rpc_error_inject {
	char *name;
	char *io_type;
	char *error_type;
	uint32_t num;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
};

static const struct osp_json_object_decoder g_error_inject_decoders[] = {
	{"name", offsetof(struct rpc_error_inject, name), osp_json_decode_string},
	{"io_type", offsetof(struct rpc_error_inject, io_type), osp_json_decode_string},
	{"error_type", offsetof(struct rpc_error_inject, error_type), osp_json_decode_string},
	{"num", offsetof(struct rpc_error_inject, num), osp_json_decode_uint32, true},
	{"queue_depth", offsetof(struct rpc_error_inject, queue_depth), osp_json_decode_uint32, true},
	{"corrupt_offset", offsetof(struct rpc_error_inject, corrupt_offset), osp_json_decode_uint64, true},
	{"corrupt_value", offsetof(struct rpc_error_inject, corrupt_value), osp_json_decode_uint32, true},
};

static void
rpc_bdev_error_inject_error(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_error_inject req = { .num = 1 };
	struct bdev_error_inject_opts opts = {};
	bool clear = false;
	int rc;

	if (!osp_rpc_decode_params(request, params, g_error_inject_decoders,
				   OSP_COUNTOF(g_error_inject_decoders), &req)) {
		return;
	}
	if (strcmp(req.io_type, "clear") == 0) {
		clear = true;
	} else if (strcmp(req.io_type, "all") == 0) {
		opts.io_type = OSP_BDEV_IO_TYPE_INVALID;
	} else if (strcmp(req.io_type, "read") == 0) {
		opts.io_type = OSP_BDEV_IO_TYPE_READ;
	} else if (strcmp(req.io_type, "write") == 0) {
		opts.io_type = OSP_BDEV_IO_TYPE_WRITE;
	} else if (strcmp(req.io_type, "unmap") == 0) {
		opts.io_type = OSP_BDEV_IO_TYPE_UNMAP;
	} else if (strcmp(req.io_type, "flush") == 0) {
		opts.io_type = OSP_BDEV_IO_TYPE_FLUSH;
	} else {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Unsupported io_type '%s': use read, write, unmap, flush, all or clear",
						    req.io_type);
		goto out;
	}
	opts.error_type = bdev_error_type_from_name(req.error_type);
	if (!clear && opts.error_type == BDEV_ERROR_NONE) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Unsupported error_type '%s': use failure, pending, corrupt_data or nomem",
						    req.error_type);
		goto out;
	}
	if (opts.error_type == BDEV_ERROR_CORRUPT_DATA && !clear &&
	    (req.corrupt_value == 0 || req.corrupt_value > 255)) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid corrupt_value %" PRIu32 ": corrupt_data needs a value from 1 to 255",
						    req.corrupt_value);
		goto out;
	}
	opts.num = req.num;
	opts.queue_depth = req.queue_depth;
	opts.corrupt_offset = req.corrupt_offset;
	opts.corrupt_value = (uint8_t)req.corrupt_value;
	rc = clear ? bdev_error_clear(req.name) : bdev_error_inject(req.name, &opts);
	switch (rc) {
	case 0:
		osp_jsonrpc_send_bool_response(request, true);
		break;
	case -ENODEV:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "No error bdev named '%s' (create it with bdev_error_create; "
						    "it is named " BDEV_ERROR_PREFIX "<base> and needs its base to exist)",
						    req.name);
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot inject into '%s': %s",
						    req.name, strerror(-rc));
		break;
	}
out:
	osp_json_free_object(g_error_inject_decoders, OSP_COUNTOF(g_error_inject_decoders), &req);
}
OSP_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, OSP_RPC_RUNTIME)

static void
rpc_bdev_error_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, bdev_error_delete, "error bdev",
			    "No error bdev named '%s' (see bdev_get_bdevs)");
}
OSP_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, OSP_RPC_RUNTIME)

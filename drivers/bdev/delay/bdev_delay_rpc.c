/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the delay bdev: bdev_delay_create, bdev_delay_update_latency, bdev_delay_delete. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_delay.h"

struct rpc_delay_create {
	char *base_bdev_name;
	char *name;
	char *uuid;
	uint64_t avg_read_latency;
	uint64_t p99_read_latency;
	uint64_t avg_write_latency;
	uint64_t p99_write_latency;
};

static const struct osp_json_object_decoder g_delay_create_decoders[] = {
	{"base_bdev_name", offsetof(struct rpc_delay_create, base_bdev_name), osp_json_decode_string},
	{"name", offsetof(struct rpc_delay_create, name), osp_json_decode_string},
	{"uuid", offsetof(struct rpc_delay_create, uuid), osp_json_decode_string, true},
	{"avg_read_latency", offsetof(struct rpc_delay_create, avg_read_latency), osp_json_decode_uint64},
	{"p99_read_latency", offsetof(struct rpc_delay_create, p99_read_latency), osp_json_decode_uint64},
	{"avg_write_latency", offsetof(struct rpc_delay_create, avg_write_latency), osp_json_decode_uint64},
	{"p99_write_latency", offsetof(struct rpc_delay_create, p99_write_latency), osp_json_decode_uint64},
};

static void
rpc_bdev_delay_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_delay_create req = {};
	struct osp_uuid uuid = {};
	uint64_t lat[BDEV_DELAY_NUM_LATENCIES];
	int rc, i;

	if (!osp_rpc_decode_params(request, params, g_delay_create_decoders,
				   OSP_COUNTOF(g_delay_create_decoders), &req)) {
		return;
	}
	if (!osp_vbdev_rpc_check_create(request, req.name, "base_bdev_name", req.base_bdev_name,
					req.uuid, &uuid)) {
		goto out;
	}
	lat[BDEV_DELAY_AVG_READ] = req.avg_read_latency;
	lat[BDEV_DELAY_P99_READ] = req.p99_read_latency;
	lat[BDEV_DELAY_AVG_WRITE] = req.avg_write_latency;
	lat[BDEV_DELAY_P99_WRITE] = req.p99_write_latency;
	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (lat[i] > BDEV_DELAY_MAX_LATENCY_US) {
			osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
							    "Invalid latency %" PRIu64 " us: at most %llu us (one hour)",
							    lat[i], BDEV_DELAY_MAX_LATENCY_US);
			goto out;
		}
	}
	rc = bdev_delay_create(req.name, req.base_bdev_name, &uuid, lat);
	if (rc == 0) {
		osp_jsonrpc_send_result(request, cJSON_CreateString(req.name));
	} else {
		osp_vbdev_rpc_create_error(request, rc, "delay bdev", req.name, req.base_bdev_name);
	}
out:
	osp_json_free_object(g_delay_create_decoders, OSP_COUNTOF(g_delay_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_delay_create", rpc_bdev_delay_create, OSP_RPC_RUNTIME)

struct rpc_delay_update {
	char *delay_bdev_name;
	char *latency_type;
	uint64_t latency_us;
};

static const struct osp_json_object_decoder g_delay_update_decoders[] = {
	{"delay_bdev_name", offsetof(struct rpc_delay_update, delay_bdev_name), osp_json_decode_string},
	{"latency_type", offsetof(struct rpc_delay_update, latency_type), osp_json_decode_string},
	{"latency_us", offsetof(struct rpc_delay_update, latency_us), osp_json_decode_uint64},
};

static void
rpc_bdev_delay_update_latency(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_delay_update req = {};
	int which, rc;

	if (!osp_rpc_decode_params(request, params, g_delay_update_decoders,
				   OSP_COUNTOF(g_delay_update_decoders), &req)) {
		return;
	}
	which = bdev_delay_latency_from_name(req.latency_type);
	if (which < 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid latency_type '%s': use avg_read, avg_write, p99_read or p99_write",
						    req.latency_type);
		goto out;
	}
	rc = bdev_delay_update_latency(req.delay_bdev_name, which, req.latency_us);
	switch (rc) {
	case 0:
		osp_jsonrpc_send_bool_response(request, true);
		break;
	case -ENODEV:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "No delay bdev named '%s' (see bdev_get_bdevs)",
						    req.delay_bdev_name);
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Invalid latency_us %" PRIu64 ": at most %llu us (one hour)",
						    req.latency_us, BDEV_DELAY_MAX_LATENCY_US);
		break;
	}
out:
	osp_json_free_object(g_delay_update_decoders, OSP_COUNTOF(g_delay_update_decoders), &req);
}
OSP_RPC_REGISTER("bdev_delay_update_latency", rpc_bdev_delay_update_latency, OSP_RPC_RUNTIME)

static void
rpc_bdev_delay_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, bdev_delay_delete, "delay bdev",
			    "No delay bdev named '%s' (see bdev_get_bdevs)");
}
OSP_RPC_REGISTER("bdev_delay_delete", rpc_bdev_delay_delete, OSP_RPC_RUNTIME)

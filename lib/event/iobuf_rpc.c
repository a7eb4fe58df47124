/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "iobuf" subsystem: JSON-RPC methods of the I/O buffer pools
 * (include/osprey/iobuf.h) with SPDK's names, iobuf_set_options and
 * iobuf_get_stats, and their save_config entry. The global pools themselves
 * are created by their first user (the bdev layer) and freed by the last,
 * so an app that moves no data through them pays nothing; this subsystem
 * only orders the configuration before the bdev layer's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/event.h"
#include "osprey/iobuf.h"
#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

static const struct osp_json_object_decoder g_iobuf_opts_decoders[] = {
	{"small_pool_count", offsetof(struct osp_iobuf_opts, small_pool_count), osp_json_decode_uint64, true},
	{"large_pool_count", offsetof(struct osp_iobuf_opts, large_pool_count), osp_json_decode_uint64, true},
	{"small_bufsize", offsetof(struct osp_iobuf_opts, small_bufsize), osp_json_decode_uint32, true},
	{"large_bufsize", offsetof(struct osp_iobuf_opts, large_bufsize), osp_json_decode_uint32, true},
};

static void
rpc_iobuf_set_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct osp_iobuf_opts opts;
	char err[256];
	int rc;

	osp_iobuf_get_opts(&opts, sizeof(opts));
	if (!osp_rpc_decode_params(request, params, g_iobuf_opts_decoders,
				   OSP_COUNTOF(g_iobuf_opts_decoders), &opts)) {
		return;
	}
	rc = osp_iobuf_set_opts(&opts, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc == -EPERM ?
						OSP_JSONRPC_ERROR_INVALID_STATE :
						OSP_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iobuf_set_options", rpc_iobuf_set_options, OSP_RPC_STARTUP)

static void
iobuf_stats_one(struct osp_iobuf_pool *pool, void *arg)
{
	cJSON *o = cJSON_CreateObject();
	struct osp_iobuf_pool_stats st;

	osp_iobuf_pool_get_stats(pool, &st);
	cJSON_AddStringToObject(o, "name", osp_iobuf_pool_get_name(pool));
	osp_json_add_uint64(o, "bufsize", osp_iobuf_pool_get_bufsize(pool));
	osp_json_add_uint64(o, "count", osp_iobuf_pool_get_count(pool));
	osp_json_add_uint64(o, "free", osp_iobuf_pool_get_free(pool));
	osp_json_add_uint64(o, "cache_granted", osp_iobuf_pool_get_cache_granted(pool));
	osp_json_add_uint64(o, "shared_gets", st.shared_gets);
	osp_json_add_uint64(o, "waits", st.waits);
	osp_json_add_uint64(o, "waiting_channels", st.waiting_channels);
	cJSON_AddItemToArray(arg, o);
}

static void
rpc_iobuf_get_stats(struct osp_jsonrpc_request *request, const cJSON *params)
{
	cJSON *arr;

	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"iobuf_get_stats takes no parameters");
		return;
	}
	arr = cJSON_CreateArray();
	osp_iobuf_pool_foreach(iobuf_stats_one, arr);
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("iobuf_get_stats", rpc_iobuf_get_stats, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
iobuf_write_config_json(cJSON *config)
{
	struct osp_iobuf_opts opts;
	cJSON *p = cJSON_CreateObject();

	osp_iobuf_get_opts(&opts, sizeof(opts));
	osp_json_add_uint64(p, "small_pool_count", opts.small_pool_count);
	osp_json_add_uint64(p, "large_pool_count", opts.large_pool_count);
	osp_json_add_uint64(p, "small_bufsize", opts.small_bufsize);
	osp_json_add_uint64(p, "large_bufsize", opts.large_bufsize);
	osp_json_add_rpc_call(config, "iobuf_set_options", p);
}

static struct osp_subsystem g_subsystem_iobuf = {
	.name = "iobuf",
	.write_config_json = iobuf_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_subsystem_iobuf)
OSP_SUBSYSTEM_DEPEND(bdev, iobuf)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log RPCs (log_set_level, log_get_level, log_set_print_level,
 * log_get_print_level, log_set_flag, log_clear_flag, log_get_flags) and the
 * "log" subsystem that writes the current settings into save_config.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "osprey/json.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

struct rpc_log_level {
	char *level;
};

static const struct osp_json_object_decoder g_level_decoders[] = {
	{"level", offsetof(struct rpc_log_level, level), osp_json_decode_string},
};

static void
log_level_set(struct osp_jsonrpc_request *request, const cJSON *params, bool print)
{
	struct rpc_log_level req = {};
	int level;

	if (!osp_rpc_decode_params(request, params, g_level_decoders,
				   OSP_COUNTOF(g_level_decoders), &req)) {
		goto out;
	}
	level = osp_log_level_from_name(req.level);
	if (level < OSP_LOG_DISABLED) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'level': '%s' is not one of ERROR, WARNING, NOTICE, INFO, DEBUG",
			req.level);
		goto out;
	}
	if (print) {
		osp_log_set_print_level(level);
	} else {
		osp_log_set_level(level);
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_level_decoders, OSP_COUNTOF(g_level_decoders), &req);
}

static void
rpc_log_set_level(struct osp_jsonrpc_request *request, const cJSON *params)
{
	log_level_set(request, params, false);
}
OSP_RPC_REGISTER("log_set_level", rpc_log_set_level, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_log_set_print_level(struct osp_jsonrpc_request *request, const cJSON *params)
{
	log_level_set(request, params, true);
}
OSP_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_log_get_level(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (app_rpc_no_params(request, params)) {
		osp_jsonrpc_send_result(request,
					cJSON_CreateString(osp_log_level_name(osp_log_get_level())));
	}
}
OSP_RPC_REGISTER("log_get_level", rpc_log_get_level, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_log_get_print_level(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (app_rpc_no_params(request, params)) {
		osp_jsonrpc_send_result(request,
			cJSON_CreateString(osp_log_level_name(osp_log_get_print_level())));
	}
}
OSP_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

struct rpc_log_flag {
	char *flag;
};

static const struct osp_json_object_decoder g_flag_decoders[] = {
	{"flag", offsetof(struct rpc_log_flag, flag), osp_json_decode_string},
};

static void
log_flag_change(struct osp_jsonrpc_request *request, const cJSON *params, bool set)
{
	struct rpc_log_flag req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_flag_decoders, OSP_COUNTOF(g_flag_decoders),
				   &req)) {
		goto out;
	}
	rc = set ? osp_log_set_flag(req.flag) : osp_log_clear_flag(req.flag);
	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'flag': unknown log flag '%s' (log_get_flags lists them)",
			req.flag);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_flag_decoders, OSP_COUNTOF(g_flag_decoders), &req);
}

static void
rpc_log_set_flag(struct osp_jsonrpc_request *request, const cJSON *params)
{
	log_flag_change(request, params, true);
}
OSP_RPC_REGISTER("log_set_flag", rpc_log_set_flag, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_log_clear_flag(struct osp_jsonrpc_request *request, const cJSON *params)
{
	log_flag_change(request, params, false);
}
OSP_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_log_get_flags(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct osp_log_flag *f;
	cJSON *obj;

	if (!app_rpc_no_params(request, params)) {
		return;
	}
	obj = cJSON_CreateObject();
	for (f = osp_log_get_first_flag(); f != NULL; f = osp_log_get_next_flag(f)) {
		cJSON_AddBoolToObject(obj, f->name, f->enabled);
	}
	osp_jsonrpc_send_result(request, obj);
}
OSP_RPC_REGISTER("log_get_flags", rpc_log_get_flags, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

/* save_config: the levels and every enabled flag. */
static void
log_write_config_json(cJSON *config)
{
	struct osp_log_flag *f;
	cJSON *p;

	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "level", osp_log_level_name(osp_log_get_level()));
	osp_json_add_rpc_call(config, "log_set_level", p);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "level", osp_log_level_name(osp_log_get_print_level()));
	osp_json_add_rpc_call(config, "log_set_print_level", p);
	for (f = osp_log_get_first_flag(); f != NULL; f = osp_log_get_next_flag(f)) {
		if (f->enabled) {
			p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "flag", f->name);
			osp_json_add_rpc_call(config, "log_set_flag", p);
		}
	}
}

static struct osp_subsystem g_subsystem_log = {
	.name = "log",
	.write_config_json = log_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_subsystem_log)

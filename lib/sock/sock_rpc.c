/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket RPCs with SPDK's names and parameters: sock_impl_get_options,
 * sock_impl_set_options, sock_set_default_impl, sock_get_default_impl; and
 * the "sock" subsystem, whose save_config entries rebuild these settings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/event.h"
#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/rpc.h"
#include "osprey/sock.h"
#include "osprey/util.h"

static void
rpc_sock_no_impl(struct osp_jsonrpc_request *request, const char *name)
{
	char known[256] = "";
	const char *n;
	size_t off = 0;

	for (n = osp_sock_get_first_impl(); n != NULL; n = osp_sock_get_next_impl(n)) {
		off += (size_t)snprintf(known + off, sizeof(known) - OSP_MIN(off, sizeof(known)),
					"%s%s", off > 0 ? ", " : "", n);
		if (off >= sizeof(known)) {
			break;
		}
	}
	osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
					    "Invalid parameter 'impl_name': no socket "
					    "implementation '%s' (known: %s)", name, known);
}

struct rpc_impl_name {
	char *impl_name;
};

static const struct osp_json_object_decoder g_impl_name_decoders[] = {
	{"impl_name", offsetof(struct rpc_impl_name, impl_name), osp_json_decode_string},
};

static cJSON *
sock_opts_to_json(const char *name, const struct osp_sock_impl_opts *o, bool with_name)
{
	cJSON *p = cJSON_CreateObject();

	if (p == NULL) {
		return NULL;
	}
	if (with_name) {
		cJSON_AddStringToObject(p, "impl_name", name);
	}
	osp_json_add_uint64(p, "recv_buf_size", o->recv_buf_size);
	osp_json_add_uint64(p, "send_buf_size", o->send_buf_size);
	cJSON_AddBoolToObject(p, "enable_recv_pipe", o->enable_recv_pipe);
	cJSON_AddBoolToObject(p, "enable_quickack", o->enable_quickack);
	osp_json_add_uint64(p, "enable_placement_id", o->enable_placement_id);
	cJSON_AddBoolToObject(p, "enable_zerocopy_send_server", o->enable_zerocopy_send_server);
	cJSON_AddBoolToObject(p, "enable_zerocopy_send_client", o->enable_zerocopy_send_client);
	osp_json_add_uint64(p, "zerocopy_threshold", o->zerocopy_threshold);
	osp_json_add_uint64(p, "tls_version", o->tls_version);
	cJSON_AddBoolToObject(p, "enable_ktls", o->enable_ktls);
	return p;
}

static void
rpc_sock_impl_get_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_impl_name req = {};
	struct osp_sock_impl_opts opts;
	size_t len = sizeof(opts);

	if (!osp_rpc_decode_params(request, params, g_impl_name_decoders,
				   OSP_COUNTOF(g_impl_name_decoders), &req)) {
		goto out;
	}
	if (osp_sock_impl_get_opts(req.impl_name, &opts, &len) != 0) {
		rpc_sock_no_impl(request, req.impl_name);
		goto out;
	}
	osp_jsonrpc_send_result(request, sock_opts_to_json(req.impl_name, &opts, false));
out:
	osp_json_free_object(g_impl_name_decoders, OSP_COUNTOF(g_impl_name_decoders), &req);
}
OSP_RPC_REGISTER("sock_impl_get_options", rpc_sock_impl_get_options,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

struct rpc_impl_set_opts {
	char *impl_name;
	struct osp_sock_impl_opts opts;
	/* Accepted for compatibility with older SPDK configs; TLS is not supported. */
	char *psk_key;
	char *psk_identity;
};

#define SET_OPT(name, fn) \
	{#name, offsetof(struct rpc_impl_set_opts, opts.name), fn, true}

static const struct osp_json_object_decoder g_set_opts_decoders[] = {
	{"impl_name", offsetof(struct rpc_impl_set_opts, impl_name), osp_json_decode_string},
	SET_OPT(recv_buf_size, osp_json_decode_uint32),
	SET_OPT(send_buf_size, osp_json_decode_uint32),
	SET_OPT(enable_recv_pipe, osp_json_decode_bool),
	SET_OPT(enable_quickack, osp_json_decode_bool),
	SET_OPT(enable_placement_id, osp_json_decode_uint32),
	SET_OPT(enable_zerocopy_send_server, osp_json_decode_bool),
	SET_OPT(enable_zerocopy_send_client, osp_json_decode_bool),
	SET_OPT(zerocopy_threshold, osp_json_decode_uint32),
	SET_OPT(tls_version, osp_json_decode_uint32),
	SET_OPT(enable_ktls, osp_json_decode_bool),
	{"psk_key", offsetof(struct rpc_impl_set_opts, psk_key), osp_json_decode_string, true},
	{"psk_identity", offsetof(struct rpc_impl_set_opts, psk_identity), osp_json_decode_string, true},
};

static void
rpc_sock_impl_set_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_impl_set_opts req = {};
	const cJSON *name;
	size_t len = sizeof(req.opts);
	int rc;

	/* Start from the current values so that only given options change. */
	name = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "impl_name") : NULL;
	if (cJSON_IsString(name) && osp_sock_impl_get_opts(name->valuestring, &req.opts, &len) != 0) {
		rpc_sock_no_impl(request, name->valuestring);
		return;
	}
	if (!osp_rpc_decode_params(request, params, g_set_opts_decoders,
				   OSP_COUNTOF(g_set_opts_decoders), &req)) {
		goto out;
	}
	if (req.opts.tls_version != 0 || req.opts.enable_ktls ||
	    (req.psk_key != NULL && req.psk_key[0] != '\0')) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"TLS is not supported: tls_version must be 0, "
						"enable_ktls false and psk_key empty");
		goto out;
	}
	if (req.opts.recv_buf_size > INT32_MAX || req.opts.send_buf_size > INT32_MAX) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"recv_buf_size and send_buf_size must not exceed "
						"2147483647");
		goto out;
	}
	if (req.opts.enable_placement_id > 2) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'enable_placement_id': expected "
						"0 (disabled), 1 (incoming NAPI) or 2 (incoming CPU)");
		goto out;
	}
	rc = osp_sock_impl_set_opts(req.impl_name, &req.opts, sizeof(req.opts));
	if (rc == -ENODEV) {
		rpc_sock_no_impl(request, req.impl_name);
		goto out;
	}
	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Cannot set the options of '%s': %s",
						    req.impl_name, strerror(-rc));
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_set_opts_decoders, OSP_COUNTOF(g_set_opts_decoders), &req);
}
/* Options apply to sockets created afterwards, so changing them at run time is safe. */
OSP_RPC_REGISTER("sock_impl_set_options", rpc_sock_impl_set_options,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_sock_set_default_impl(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_impl_name req = {};

	if (!osp_rpc_decode_params(request, params, g_impl_name_decoders,
				   OSP_COUNTOF(g_impl_name_decoders), &req)) {
		goto out;
	}
	if (osp_sock_set_default_impl(req.impl_name) != 0) {
		rpc_sock_no_impl(request, req.impl_name);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_impl_name_decoders, OSP_COUNTOF(g_impl_name_decoders), &req);
}
OSP_RPC_REGISTER("sock_set_default_impl", rpc_sock_set_default_impl,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_sock_get_default_impl(struct osp_jsonrpc_request *request, const cJSON *params)
{
	const char *name = osp_sock_get_default_impl();
	cJSON *res;

	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"sock_get_default_impl takes no parameters");
		return;
	}
	res = cJSON_CreateObject();
	if (name != NULL) {
		cJSON_AddStringToObject(res, "impl_name", name);
	} else {
		cJSON_AddNullToObject(res, "impl_name");
	}
	osp_jsonrpc_send_result(request, res);
}
OSP_RPC_REGISTER("sock_get_default_impl", rpc_sock_get_default_impl,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

/* ---- the "sock" subsystem ---- */

static void
sock_write_config_json(cJSON *config)
{
	struct osp_sock_impl_opts opts;
	const char *name;
	size_t len;
	cJSON *p;

	name = osp_sock_get_default_impl();
	if (name != NULL) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "impl_name", name);
		osp_json_add_rpc_call(config, "sock_set_default_impl", p);
	}
	for (name = osp_sock_get_first_impl(); name != NULL; name = osp_sock_get_next_impl(name)) {
		len = sizeof(opts);
		if (osp_sock_impl_get_opts(name, &opts, &len) != 0) {
			continue;
		}
		osp_json_add_rpc_call(config, "sock_impl_set_options",
				      sock_opts_to_json(name, &opts, true));
	}
}

static struct osp_subsystem g_subsystem_sock = {
	.name = "sock",
	.write_config_json = sock_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_subsystem_sock)

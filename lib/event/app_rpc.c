/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framework RPC methods (names and parameters as SPDK's):
 * framework_start_init, framework_wait_init, framework_get_subsystems,
 * framework_get_config, framework_get_reactors, thread_get_stats,
 * thread_get_pollers, thread_set_cpumask, save_config, spdk_kill_instance.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_internal.h"
#include "osprey/json.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

/* Methods without parameters accept none, null or {}; anything else is -32602. */
bool
app_rpc_no_params(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "%s takes no parameters",
						    osp_jsonrpc_request_get_method(request));
		return false;
	}
	return true;
}

static void
start_init_done(int rc, void *ctx)
{
	struct osp_jsonrpc_request *request = ctx;

	if (rc == -EALREADY) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_STATE,
						"Subsystems are already initialized");
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Subsystem initialization failed: %s",
						    strerror(-rc));
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
}

static void
rpc_framework_start_init(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (!app_rpc_no_params(request, params)) {
		return;
	}
	app_start_init(start_init_done, request);
}
OSP_RPC_REGISTER("framework_start_init", rpc_framework_start_init, OSP_RPC_STARTUP)

static void
wait_init_done(void *ctx)
{
	osp_jsonrpc_send_bool_response(ctx, true);
}

static void
rpc_framework_wait_init(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (!app_rpc_no_params(request, params)) {
		return;
	}
	app_wait_init(wait_init_done, request);
}
OSP_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)


static void
rpc_framework_get_subsystems(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct osp_subsystem *s;
	cJSON *arr;

	if (!app_rpc_no_params(request, params)) {
		return;
	}
	if (subsystems_sort() != 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Subsystem dependencies are broken");
		return;
	}
	arr = cJSON_CreateArray();
	for (s = subsystem_first(); s != NULL; s = subsystem_next(s)) {
		cJSON *obj = cJSON_CreateObject();

		cJSON_AddStringToObject(obj, "subsystem", s->name);
		cJSON_AddItemToObject(obj, "depends_on", subsystem_depends_json(s->name));
		cJSON_AddItemToArray(arr, obj);
	}
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

struct rpc_get_config {
	char *name;
};

static const struct osp_json_object_decoder g_get_config_decoders[] = {
	{"name", offsetof(struct rpc_get_config, name), osp_json_decode_string},
};

static void
rpc_framework_get_config(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_config req = {};
	struct osp_subsystem *s;
	cJSON *cfg;

	if (!osp_rpc_decode_params(request, params, g_get_config_decoders,
				   OSP_COUNTOF(g_get_config_decoders), &req)) {
		goto out;
	}
	s = osp_subsystem_find(req.name);
	if (s == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Subsystem '%s' not found", req.name);
		goto out;
	}
	cfg = cJSON_CreateArray();
	subsystem_write_config(s, cfg);
	osp_jsonrpc_send_result(request, cfg);
out:
	osp_json_free_object(g_get_config_decoders, OSP_COUNTOF(g_get_config_decoders), &req);
}
OSP_RPC_REGISTER("framework_get_config", rpc_framework_get_config, OSP_RPC_RUNTIME)

static void
rpc_save_config(struct osp_jsonrpc_request *request, const cJSON *params)
{
	cJSON *cfg;

	if (!app_rpc_no_params(request, params)) {
		return;
	}
	cfg = subsystems_get_config();
	if (cfg == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	osp_jsonrpc_send_result(request, cfg);
}
OSP_RPC_REGISTER("save_config", rpc_save_config, OSP_RPC_RUNTIME)

/* ---- reactors ---- */

struct get_reactors_ctx {
	struct osp_jsonrpc_request *request;
	struct osp_thread *orig_thread;
	cJSON *reactors;
};

static void
get_reactors_one(void *arg1, void *arg2)
{
	struct get_reactors_ctx *ctx = arg1;

	reactor_dump_current(ctx->reactors);
}

static void
get_reactors_reply(void *arg)
{
	struct get_reactors_ctx *ctx = arg;
	cJSON *res = cJSON_CreateObject();

	cJSON_AddNumberToObject(res, "tick_rate", (double)osp_get_ticks_hz());
	cJSON_AddNumberToObject(res, "pid", getpid());
	cJSON_AddItemToObject(res, "reactors", ctx->reactors);
	osp_jsonrpc_send_result(ctx->request, res);
	free(ctx);
}

static void
get_reactors_done(void *arg1, void *arg2)
{
	struct get_reactors_ctx *ctx = arg1;

	/* Events run outside any osp_thread: hop back to the thread that asked. */
	osp_thread_send_msg(ctx->orig_thread, get_reactors_reply, ctx);
}

static void
rpc_framework_get_reactors(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct get_reactors_ctx *ctx;

	if (!app_rpc_no_params(request, params)) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	ctx->request = request;
	ctx->orig_thread = osp_get_thread();
	ctx->reactors = cJSON_CreateArray();
	osp_for_each_reactor(get_reactors_one, ctx, NULL, get_reactors_done);
}
OSP_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, OSP_RPC_RUNTIME)

/* ---- threads ---- */

struct thread_walk_ctx {
	struct osp_jsonrpc_request *request;
	cJSON *threads;
	bool pollers;
};

struct poller_counts {
	int active;
	int timed;
	int paused;
	cJSON *active_arr;
	cJSON *timed_arr;
	cJSON *paused_arr;
};

static void
poller_visit(const struct osp_poller_info *info, void *arg)
{
	struct poller_counts *c = arg;
	cJSON *arr, *p;

	if (info->paused) {
		c->paused++;
		arr = c->paused_arr;
	} else if (info->timed) {
		c->timed++;
		arr = c->timed_arr;
	} else {
		c->active++;
		arr = c->active_arr;
	}
	if (arr == NULL) {
		return;
	}
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", info->name ? info->name : "");
	cJSON_AddNumberToObject(p, "id", (double)info->id);
	cJSON_AddStringToObject(p, "state", info->paused ? "paused" : "waiting");
	cJSON_AddNumberToObject(p, "run_count", (double)info->run_count);
	cJSON_AddNumberToObject(p, "busy_count", (double)info->busy_count);
	if (info->timed) {
		cJSON_AddNumberToObject(p, "period_ticks", (double)info->period_ticks);
	}
	cJSON_AddItemToArray(arr, p);
}

static void
thread_walk_one(void *arg)
{
	struct thread_walk_ctx *ctx = arg;
	struct osp_thread *t = osp_get_thread();
	const struct osp_cpuset *mask = osp_thread_get_cpumask(t);
	struct osp_thread_stats st = {};
	struct poller_counts c = {};
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "name", osp_thread_get_name(t));
	cJSON_AddNumberToObject(obj, "id", (double)osp_thread_get_id(t));
	if (ctx->pollers) {
		c.active_arr = cJSON_AddArrayToObject(obj, "active_pollers");
		c.timed_arr = cJSON_AddArrayToObject(obj, "timed_pollers");
		c.paused_arr = cJSON_AddArrayToObject(obj, "paused_pollers");
		osp_thread_foreach_poller(t, poller_visit, &c);
	} else {
		osp_thread_get_stats(&st);
		osp_thread_foreach_poller(t, poller_visit, &c);
		cJSON_AddStringToObject(obj, "cpumask", mask ? osp_cpuset_fmt(mask) : "");
		cJSON_AddNumberToObject(obj, "busy", (double)st.busy_tsc);
		cJSON_AddNumberToObject(obj, "idle", (double)st.idle_tsc);
		cJSON_AddNumberToObject(obj, "active_pollers_count", c.active);
		cJSON_AddNumberToObject(obj, "timed_pollers_count", c.timed);
		cJSON_AddNumberToObject(obj, "paused_pollers_count", c.paused);
	}
	cJSON_AddItemToArray(ctx->threads, obj);
}

static void
thread_walk_done(void *arg)
{
	struct thread_walk_ctx *ctx = arg;
	cJSON *res = cJSON_CreateObject();

	cJSON_AddNumberToObject(res, "tick_rate", (double)osp_get_ticks_hz());
	cJSON_AddItemToObject(res, "threads", ctx->threads);
	osp_jsonrpc_send_result(ctx->request, res);
	free(ctx);
}

static void
thread_walk(struct osp_jsonrpc_request *request, const cJSON *params, bool pollers)
{
	struct thread_walk_ctx *ctx;

	if (!app_rpc_no_params(request, params)) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	ctx->request = request;
	ctx->pollers = pollers;
	ctx->threads = cJSON_CreateArray();
	osp_for_each_thread(thread_walk_one, ctx, thread_walk_done);
}

static void
rpc_thread_get_stats(struct osp_jsonrpc_request *request, const cJSON *params)
{
	thread_walk(request, params, false);
}
OSP_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, OSP_RPC_RUNTIME)

static void
rpc_thread_get_pollers(struct osp_jsonrpc_request *request, const cJSON *params)
{
	thread_walk(request, params, true);
}
OSP_RPC_REGISTER("thread_get_pollers", rpc_thread_get_pollers, OSP_RPC_RUNTIME)

struct rpc_set_cpumask {
	uint64_t id;
	char *cpumask;
	struct osp_jsonrpc_request *request;
	struct osp_cpuset set;
	struct osp_thread *orig;
	int rc;
};

static const struct osp_json_object_decoder g_set_cpumask_decoders[] = {
	{"id", offsetof(struct rpc_set_cpumask, id), osp_json_decode_uint64},
	{"cpumask", offsetof(struct rpc_set_cpumask, cpumask), osp_json_decode_string},
};

static void
set_cpumask_reply(void *arg)
{
	struct rpc_set_cpumask *ctx = arg;

	if (ctx->rc != 0) {
		osp_jsonrpc_send_error_response_fmt(ctx->request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Cannot move thread %" PRIu64 ": %s", ctx->id,
						    strerror(-ctx->rc));
	} else {
		osp_jsonrpc_send_bool_response(ctx->request, true);
	}
	osp_json_free_object(g_set_cpumask_decoders, OSP_COUNTOF(g_set_cpumask_decoders), ctx);
	free(ctx);
}

static void
set_cpumask_on_thread(void *arg)
{
	struct rpc_set_cpumask *ctx = arg;

	ctx->rc = osp_thread_set_cpumask(&ctx->set);
	osp_thread_send_msg(ctx->orig, set_cpumask_reply, ctx);
}

static void
rpc_thread_set_cpumask(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_set_cpumask *ctx = calloc(1, sizeof(*ctx));
	struct osp_thread *t;
	uint32_t i, ok = 0;

	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	if (!osp_rpc_decode_params(request, params, g_set_cpumask_decoders,
				   OSP_COUNTOF(g_set_cpumask_decoders), ctx)) {
		goto err;
	}
	if (osp_cpuset_parse(&ctx->set, ctx->cpumask) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameter 'cpumask': '%s' is not a core mask",
						    ctx->cpumask);
		goto err;
	}
	OSP_ENV_FOREACH_CORE(i) {
		ok += osp_cpuset_get_cpu(&ctx->set, i);
	}
	if (ok == 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameter 'cpumask': no reactor runs on %s",
						    ctx->cpumask);
		goto err;
	}
	t = osp_thread_get_by_id(ctx->id);
	if (t == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameter 'id': no thread %" PRIu64, ctx->id);
		goto err;
	}
	if (osp_thread_is_app_thread(t)) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"The app thread cannot be moved");
		goto err;
	}
	ctx->request = request;
	ctx->orig = osp_get_thread();
	if (osp_thread_send_msg(t, set_cpumask_on_thread, ctx) != 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Thread is exiting");
		goto err;
	}
	return;
err:
	osp_json_free_object(g_set_cpumask_decoders, OSP_COUNTOF(g_set_cpumask_decoders), ctx);
	free(ctx);
}
OSP_RPC_REGISTER("thread_set_cpumask", rpc_thread_set_cpumask, OSP_RPC_RUNTIME)

/* ---- spdk_kill_instance ---- */

struct rpc_kill {
	char *sig_name;
};

static const struct osp_json_object_decoder g_kill_decoders[] = {
	{"sig_name", offsetof(struct rpc_kill, sig_name), osp_json_decode_string},
};

static void
rpc_spdk_kill_instance(struct osp_jsonrpc_request *request, const cJSON *params)
{
	static const struct {
		const char *name;
		int signo;
	} sigs[] = {
		{"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT},
		{"SIGHUP", SIGHUP}, {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1},
	};
	struct rpc_kill req = {};
	size_t i;

	if (!osp_rpc_decode_params(request, params, g_kill_decoders, OSP_COUNTOF(g_kill_decoders),
				   &req)) {
		goto out;
	}
	for (i = 0; i < OSP_COUNTOF(sigs); i++) {
		const char *n = req.sig_name;

		if (strcmp(n, sigs[i].name) == 0 || strcmp(n, sigs[i].name + 3) == 0) {
			break;
		}
	}
	if (i == OSP_COUNTOF(sigs)) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameter 'sig_name': unsupported signal '%s'",
						    req.sig_name);
		goto out;
	}
	/* Answer first: the signal may end the process before the reply is flushed. */
	osp_jsonrpc_send_bool_response(request, true);
	if (sigs[i].signo == SIGINT || sigs[i].signo == SIGTERM) {
		osp_app_start_shutdown();
	} else {
		kill(getpid(), sigs[i].signo);
	}
out:
	osp_json_free_object(g_kill_decoders, OSP_COUNTOF(g_kill_decoders), &req);
}
OSP_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC methods of the bdev layer, with SPDK's names and parameters:
 * bdev_set_options, bdev_get_bdevs, bdev_get_iostat, bdev_set_qos_limit,
 * bdev_examine, bdev_wait_for_examine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/rpc.h"
#include "osprey/thread.h"

#include "bdev_internal.h"

#define MIB (1024ULL * 1024ULL)

static void
rpc_bdev_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	/* Descriptors of these RPCs live only while the request runs. */
}

static void
rpc_send_no_bdev(struct osp_jsonrpc_request *request, const char *name)
{
	osp_jsonrpc_send_error_response_fmt(request, -ENODEV,
					    "No bdev named '%s' (see bdev_get_bdevs)", name);
}

/* ---- bdev_set_options ---- */

struct rpc_set_options {
	uint32_t bdev_io_pool_size;
	uint32_t bdev_io_cache_size;
	bool bdev_auto_examine;
	uint32_t small_buf_pool_size;
	uint32_t large_buf_pool_size;
	uint32_t iobuf_small_cache_size;
	uint32_t iobuf_large_cache_size;
};

static const struct osp_json_object_decoder g_set_options_decoders[] = {
	{"bdev_io_pool_size", offsetof(struct rpc_set_options, bdev_io_pool_size), osp_json_decode_uint32, true},
	{"bdev_io_cache_size", offsetof(struct rpc_set_options, bdev_io_cache_size), osp_json_decode_uint32, true},
	{"bdev_auto_examine", offsetof(struct rpc_set_options, bdev_auto_examine), osp_json_decode_bool, true},
	{"small_buf_pool_size", offsetof(struct rpc_set_options, small_buf_pool_size), osp_json_decode_uint32, true},
	{"large_buf_pool_size", offsetof(struct rpc_set_options, large_buf_pool_size), osp_json_decode_uint32, true},
	{"iobuf_small_cache_size", offsetof(struct rpc_set_options, iobuf_small_cache_size), osp_json_decode_uint32, true},
	{"iobuf_large_cache_size", offsetof(struct rpc_set_options, iobuf_large_cache_size), osp_json_decode_uint32, true},
};

static void
rpc_bdev_set_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct osp_bdev_opts opts;
	struct rpc_set_options p;
	int rc;

	osp_bdev_get_opts(&opts, sizeof(opts));
	p.bdev_io_pool_size = opts.bdev_io_pool_size;
	p.bdev_io_cache_size = opts.bdev_io_cache_size;
	p.bdev_auto_examine = opts.bdev_auto_examine;
	p.small_buf_pool_size = opts.small_buf_pool_size;
	p.large_buf_pool_size = opts.large_buf_pool_size;
	p.iobuf_small_cache_size = opts.iobuf_small_cache_size;
	p.iobuf_large_cache_size = opts.iobuf_large_cache_size;
	if (!osp_rpc_decode_params(request, params, g_set_options_decoders,
				   OSP_COUNTOF(g_set_options_decoders), &p)) {
		return;
	}
	if (p.bdev_io_pool_size == 0 || p.small_buf_pool_size == 0 || p.large_buf_pool_size == 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"bdev_io_pool_size, small_buf_pool_size and "
						"large_buf_pool_size must be at least 1");
		return;
	}
	if (p.bdev_io_cache_size > p.bdev_io_pool_size) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "bdev_io_cache_size (%" PRIu32 ") must not exceed "
						    "bdev_io_pool_size (%" PRIu32 ")",
						    p.bdev_io_cache_size, p.bdev_io_pool_size);
		return;
	}
	opts.bdev_io_pool_size = p.bdev_io_pool_size;
	opts.bdev_io_cache_size = p.bdev_io_cache_size;
	opts.bdev_auto_examine = p.bdev_auto_examine;
	opts.small_buf_pool_size = p.small_buf_pool_size;
	opts.large_buf_pool_size = p.large_buf_pool_size;
	opts.iobuf_small_cache_size = p.iobuf_small_cache_size;
	opts.iobuf_large_cache_size = p.iobuf_large_cache_size;
	rc = osp_bdev_set_opts(&opts);
	if (rc == -EPERM) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_STATE,
						"bdev_set_options may only be called before the bdev "
						"subsystem starts (use --wait-for-rpc)");
		return;
	}
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid bdev options: a pool size is too large");
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("bdev_set_options", rpc_bdev_set_options, OSP_RPC_STARTUP)

/* ---- bdev_get_bdevs ---- */

struct rpc_get_bdevs {
	char *name;
	uint64_t timeout;
	uint64_t timeout_ms;
};

static const struct osp_json_object_decoder g_get_bdevs_decoders[] = {
	{"name", offsetof(struct rpc_get_bdevs, name), osp_json_decode_string, true},
	{"timeout", offsetof(struct rpc_get_bdevs, timeout), osp_json_decode_uint64, true},
	{"timeout_ms", offsetof(struct rpc_get_bdevs, timeout_ms), osp_json_decode_uint64, true},
};

struct rpc_get_bdevs_wait {
	struct osp_jsonrpc_request *request;
	char *name;
	uint64_t deadline;
	struct osp_poller *poller;
	TAILQ_ENTRY(rpc_get_bdevs_wait) link;
};

/* Requests waiting for a bdev to appear (all on the RPC thread). */
static TAILQ_HEAD(, rpc_get_bdevs_wait) g_get_bdevs_waits =
	TAILQ_HEAD_INITIALIZER(g_get_bdevs_waits);

static void
rpc_get_bdevs_wait_free(struct rpc_get_bdevs_wait *w)
{
	TAILQ_REMOVE(&g_get_bdevs_waits, w, link);
	osp_poller_unregister(&w->poller);
	free(w->name);
	free(w);
}

void
bdev_rpc_cancel_waits(void)
{
	struct rpc_get_bdevs_wait *w;

	while ((w = TAILQ_FIRST(&g_get_bdevs_waits)) != NULL) {
		osp_jsonrpc_send_error_response(w->request, -ESHUTDOWN,
						"The bdev layer is shutting down");
		rpc_get_bdevs_wait_free(w);
	}
}

/* Answer with the bdevs named (or all). Returns false if name was given and is unknown. */
static bool
rpc_get_bdevs_answer(struct osp_jsonrpc_request *request, const char *name)
{
	struct osp_bdev_desc **descs = NULL;
	struct osp_bdev *bdev;
	size_t n = 0, cap = 0, i;
	cJSON *arr;

	if (name != NULL) {
		bdev = osp_bdev_get_by_name(name);
		if (bdev == NULL) {
			return false;
		}
		descs = calloc(1, sizeof(*descs));
		if (descs != NULL && osp_bdev_open_ext(name, false, rpc_bdev_event_cb, NULL,
						       &descs[0]) == 0) {
			n = 1;
		}
	} else {
		/* A descriptor on each keeps it alive while it is described. */
		for (bdev = osp_bdev_first(); bdev != NULL; bdev = osp_bdev_next(bdev)) {
			if (n == cap) {
				struct osp_bdev_desc **d;

				cap = cap ? cap * 2 : 16;
				d = realloc(descs, cap * sizeof(*d));
				if (d == NULL) {
					break;
				}
				descs = d;
			}
			if (osp_bdev_open_ext(bdev->name, false, rpc_bdev_event_cb, NULL,
					      &descs[n]) == 0) {
				n++;
			}
		}
	}
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		osp_bdev_dump_info_json(osp_bdev_desc_get_bdev(descs[i]), o);
		cJSON_AddItemToArray(arr, o);
		osp_bdev_close(descs[i]);
	}
	free(descs);
	osp_jsonrpc_send_result(request, arr);
	return true;
}

static int
rpc_get_bdevs_poll(void *arg)
{
	struct rpc_get_bdevs_wait *w = arg;

	if (rpc_get_bdevs_answer(w->request, w->name)) {
		/* answered */
	} else if (osp_get_ticks() >= w->deadline) {
		rpc_send_no_bdev(w->request, w->name);
	} else {
		return OSP_POLLER_IDLE;
	}
	rpc_get_bdevs_wait_free(w);
	return OSP_POLLER_BUSY;
}

static void
rpc_bdev_get_bdevs(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_bdevs p = {};
	struct rpc_get_bdevs_wait *w;
	uint64_t timeout;

	if (!osp_rpc_decode_params(request, params, g_get_bdevs_decoders,
				   OSP_COUNTOF(g_get_bdevs_decoders), &p)) {
		return;
	}
	timeout = p.timeout ? p.timeout : p.timeout_ms;
	if (rpc_get_bdevs_answer(request, p.name)) {
		free(p.name);
		return;
	}
	if (timeout == 0) {
		rpc_send_no_bdev(request, p.name);
		free(p.name);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		free(p.name);
		return;
	}
	w->request = request;
	w->name = p.name;
	w->deadline = osp_get_ticks() + timeout * osp_get_ticks_hz() / 1000;
	w->poller = OSP_POLLER_REGISTER(rpc_get_bdevs_poll, w, BDEV_GET_BDEVS_POLL_US);
	TAILQ_INSERT_TAIL(&g_get_bdevs_waits, w, link);
	if (w->poller == NULL) {
		rpc_send_no_bdev(request, w->name);
		rpc_get_bdevs_wait_free(w);
	}
}
OSP_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, OSP_RPC_RUNTIME)

/* ---- bdev_get_iostat ---- */

struct rpc_get_iostat {
	char *name;
	bool per_channel;
};

static const struct osp_json_object_decoder g_get_iostat_decoders[] = {
	{"name", offsetof(struct rpc_get_iostat, name), osp_json_decode_string, true},
	{"per_channel", offsetof(struct rpc_get_iostat, per_channel), osp_json_decode_bool, true},
};

struct rpc_iostat_ctx {
	struct osp_jsonrpc_request *request;
	struct osp_bdev_desc **descs;
	size_t n;
	size_t next;
	struct osp_bdev_io_stat stat;
	cJSON *result;
	cJSON *list;
};

static void
rpc_iostat_free(struct rpc_iostat_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->n; i++) {
		osp_bdev_close(ctx->descs[i]);
	}
	free(ctx->descs);
	free(ctx);
}

static cJSON *
rpc_iostat_header(void)
{
	cJSON *o = cJSON_CreateObject();

	osp_json_add_uint64(o, "tick_rate", osp_get_ticks_hz());
	osp_json_add_uint64(o, "ticks", osp_get_ticks());
	return o;
}

static void rpc_iostat_next(struct rpc_iostat_ctx *ctx);

static void
rpc_iostat_one_done(struct osp_bdev *bdev, struct osp_bdev_io_stat *stat, void *cb_arg, int rc)
{
	struct rpc_iostat_ctx *ctx = cb_arg;
	cJSON *o;

	if (rc == 0) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", osp_bdev_get_name(bdev));
		bdev_stat_to_json(stat, o);
		osp_json_add_uint64(o, "queue_depth_polling_period", 0);
		osp_json_add_uint64(o, "queue_depth", 0);
		osp_json_add_uint64(o, "io_time", 0);
		osp_json_add_uint64(o, "weighted_io_time", 0);
		cJSON_AddItemToArray(ctx->list, o);
	}
	rpc_iostat_next(ctx);
}

static void
rpc_iostat_next(struct rpc_iostat_ctx *ctx)
{
	struct osp_bdev *bdev;
	int rc;

	if (ctx->next < ctx->n) {
		bdev = osp_bdev_desc_get_bdev(ctx->descs[ctx->next++]);
		rc = osp_bdev_get_device_stat(bdev, &ctx->stat, rpc_iostat_one_done, ctx);
		if (rc != 0) {
			rpc_iostat_one_done(bdev, &ctx->stat, ctx, rc);
		}
		return;
	}
	osp_jsonrpc_send_result(ctx->request, ctx->result);
	rpc_iostat_free(ctx);
}

static void
rpc_iostat_channel(struct osp_bdev_channel *ch, void *arg)
{
	struct rpc_iostat_ctx *ctx = arg;
	struct osp_bdev_io_stat s = ch->stat;
	cJSON *o = cJSON_CreateObject();

	bdev_stat_finalize(&s);
	osp_json_add_uint64(o, "thread_id", osp_thread_get_id(ch->thread));
	cJSON_AddStringToObject(o, "thread_name", osp_thread_get_name(ch->thread));
	bdev_stat_to_json(&s, o);
	cJSON_AddItemToArray(ctx->list, o);
}

static void
rpc_iostat_channels_done(void *arg, int status)
{
	struct rpc_iostat_ctx *ctx = arg;

	osp_jsonrpc_send_result(ctx->request, ctx->result);
	rpc_iostat_free(ctx);
}

static void
rpc_bdev_get_iostat(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_iostat p = {};
	struct rpc_iostat_ctx *ctx;
	struct osp_bdev *bdev;
	size_t cap = 0;

	if (!osp_rpc_decode_params(request, params, g_get_iostat_decoders,
				   OSP_COUNTOF(g_get_iostat_decoders), &p)) {
		return;
	}
	if (p.per_channel && p.name == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"per_channel needs a bdev name");
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		free(p.name);
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	ctx->request = request;
	if (p.name != NULL) {
		ctx->descs = calloc(1, sizeof(*ctx->descs));
		if (ctx->descs == NULL ||
		    osp_bdev_open_ext(p.name, false, rpc_bdev_event_cb, NULL, &ctx->descs[0]) != 0) {
			rpc_send_no_bdev(request, p.name);
			free(p.name);
			rpc_iostat_free(ctx);
			return;
		}
		ctx->n = 1;
	} else {
		for (bdev = osp_bdev_first(); bdev != NULL; bdev = osp_bdev_next(bdev)) {
			if (ctx->n == cap) {
				struct osp_bdev_desc **d;

				cap = cap ? cap * 2 : 16;
				d = realloc(ctx->descs, cap * sizeof(*d));
				if (d == NULL) {
					break;
				}
				ctx->descs = d;
			}
			if (osp_bdev_open_ext(bdev->name, false, rpc_bdev_event_cb, NULL,
					      &ctx->descs[ctx->n]) == 0) {
				ctx->n++;
			}
		}
	}
	ctx->result = rpc_iostat_header();
	if (p.per_channel) {
		bdev = osp_bdev_desc_get_bdev(ctx->descs[0]);
		cJSON_AddStringToObject(ctx->result, "name", osp_bdev_get_name(bdev));
		ctx->list = cJSON_AddArrayToObject(ctx->result, "channels");
		free(p.name);
		bdev_get_channel_stats(bdev, rpc_iostat_channel, ctx, rpc_iostat_channels_done);
		return;
	}
	free(p.name);
	ctx->list = cJSON_AddArrayToObject(ctx->result, "bdevs");
	rpc_iostat_next(ctx);
}
OSP_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, OSP_RPC_RUNTIME)

/* ---- bdev_set_qos_limit ---- */

struct rpc_set_qos {
	char *name;
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
};

static const struct osp_json_object_decoder g_set_qos_decoders[] = {
	{"name", offsetof(struct rpc_set_qos, name), osp_json_decode_string},
	{"rw_ios_per_sec", offsetof(struct rpc_set_qos, limits[OSP_BDEV_QOS_RW_IOPS_RATE_LIMIT]), osp_json_decode_uint64, true},
	{"rw_mbytes_per_sec", offsetof(struct rpc_set_qos, limits[OSP_BDEV_QOS_RW_BPS_RATE_LIMIT]), osp_json_decode_uint64, true},
	{"r_mbytes_per_sec", offsetof(struct rpc_set_qos, limits[OSP_BDEV_QOS_R_BPS_RATE_LIMIT]), osp_json_decode_uint64, true},
	{"w_mbytes_per_sec", offsetof(struct rpc_set_qos, limits[OSP_BDEV_QOS_W_BPS_RATE_LIMIT]), osp_json_decode_uint64, true},
};

struct rpc_set_qos_ctx {
	struct osp_jsonrpc_request *request;
	struct osp_bdev_desc *desc;
};

static void
rpc_set_qos_done(void *cb_arg, int status)
{
	struct rpc_set_qos_ctx *ctx = cb_arg;

	if (status == 0) {
		osp_jsonrpc_send_bool_response(ctx->request, true);
	} else if (status == -EAGAIN) {
		osp_jsonrpc_send_error_response(ctx->request, -EAGAIN,
						"A QoS change of this bdev is in progress: try again");
	} else {
		osp_jsonrpc_send_error_response_fmt(ctx->request, status,
						    "Cannot set QoS limits: %s", strerror(-status));
	}
	osp_bdev_close(ctx->desc);
	free(ctx);
}

static void
rpc_bdev_set_qos_limit(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_set_qos p;
	struct rpc_set_qos_ctx *ctx;
	int t, rc;
	bool any = false;

	memset(&p, 0, sizeof(p));
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		p.limits[t] = UINT64_MAX;
	}
	if (!osp_rpc_decode_params(request, params, g_set_qos_decoders,
				   OSP_COUNTOF(g_set_qos_decoders), &p)) {
		return;
	}
	for (t = 0; t < OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES; t++) {
		if (p.limits[t] == UINT64_MAX) {
			continue;
		}
		any = true;
		if (t != OSP_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
			if (p.limits[t] > UINT64_MAX / MIB / 2) {
				osp_jsonrpc_send_error_response_fmt(request,
								    OSP_JSONRPC_ERROR_INVALID_PARAMS,
								    "Invalid parameter '%s': too large",
								    g_set_qos_decoders[t + 1].name);
				free(p.name);
				return;
			}
			p.limits[t] *= MIB;
		} else if (p.limits[t] > (1ULL << 40)) {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							"Invalid parameter 'rw_ios_per_sec': too large");
			free(p.name);
			return;
		}
	}
	if (!any) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"Give at least one of rw_ios_per_sec, rw_mbytes_per_sec, "
						"r_mbytes_per_sec, w_mbytes_per_sec (0 = unlimited)");
		free(p.name);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		free(p.name);
		return;
	}
	ctx->request = request;
	if (osp_bdev_open_ext(p.name, false, rpc_bdev_event_cb, NULL, &ctx->desc) != 0) {
		rpc_send_no_bdev(request, p.name);
		free(p.name);
		free(ctx);
		return;
	}
	free(p.name);
	rc = osp_bdev_set_qos_rate_limits(osp_bdev_desc_get_bdev(ctx->desc), p.limits,
					  rpc_set_qos_done, ctx);
	if (rc != 0) {
		rpc_set_qos_done(ctx, rc);
	}
}
OSP_RPC_REGISTER("bdev_set_qos_limit", rpc_bdev_set_qos_limit, OSP_RPC_RUNTIME)

/* ---- examine ---- */

struct rpc_examine {
	char *name;
};

static const struct osp_json_object_decoder g_examine_decoders[] = {
	{"name", offsetof(struct rpc_examine, name), osp_json_decode_string},
};

static void
rpc_bdev_examine(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_examine p = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_examine_decoders,
				   OSP_COUNTOF(g_examine_decoders), &p)) {
		return;
	}
	rc = osp_bdev_examine(p.name);
	if (rc == -EINVAL) {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"bdev_examine is for bdev_auto_examine false "
						"(bdev_set_options): with auto examine every bdev is "
						"examined already");
	} else if (rc == -EEXIST) {
		osp_jsonrpc_send_error_response_fmt(request, -EEXIST,
						    "bdev '%s' is already set to be examined", p.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot examine '%s': %s", p.name,
						    strerror(-rc));
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	free(p.name);
}
OSP_RPC_REGISTER("bdev_examine", rpc_bdev_examine, OSP_RPC_RUNTIME)

static void
rpc_wait_for_examine_done(void *arg)
{
	osp_jsonrpc_send_bool_response(arg, true);
}

static void
rpc_bdev_wait_for_examine(struct osp_jsonrpc_request *request, const cJSON *params)
{
	if (!osp_rpc_decode_params(request, params, NULL, 0, NULL)) {
		return;
	}
	if (osp_bdev_wait_for_examine(rpc_wait_for_examine_done, request) != 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
	}
}
OSP_RPC_REGISTER("bdev_wait_for_examine", rpc_bdev_wait_for_examine, OSP_RPC_RUNTIME)

/* ---- the modules' delete RPCs ---- */

struct rpc_delete_ctx {
	struct osp_jsonrpc_request *request;
	const char *what;
};

static void
rpc_bdev_delete_done(void *cb_arg, int rc)
{
	struct rpc_delete_ctx *ctx = cb_arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(ctx->request, rc, "Deleting the %s failed: %s",
						    ctx->what, strerror(-rc));
	} else {
		osp_jsonrpc_send_bool_response(ctx->request, true);
	}
	free(ctx);
}

void
osp_bdev_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
		    const char *param, osp_bdev_delete_fn delete_fn, const char *what,
		    const char *not_found_fmt)
{
	const struct osp_json_object_decoder decoder = {
		param != NULL ? param : "name", 0, osp_json_decode_string, false
	};
	struct rpc_delete_ctx *ctx;
	char *name = NULL;
	int rc;

	if (!osp_rpc_decode_params(request, params, &decoder, 1, &name)) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	ctx->request = request;
	ctx->what = what;
	rc = delete_fn(name, rpc_bdev_delete_done, ctx);
	if (rc != 0) {
		free(ctx);
		/* not_found_fmt is checked at the callers (format attribute). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		osp_jsonrpc_send_error_response_fmt(request, rc, not_found_fmt, name);
#pragma GCC diagnostic pop
	}
out:
	osp_json_free_object(&decoder, 1, &name);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPCs of the vhost target: vhost_create_blk_controller, vhost_delete_controller,
 * vhost_get_controllers, vhost_controller_set_coalescing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/rpc.h"
#include "osprey/util.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

struct rpc_blk_create {
	char *ctrlr;
	char *dev_name;
	char *cpumask;
	bool readonly;
	bool packed_ring;
};

static const struct osp_json_object_decoder g_blk_create_decoders[] = {
	{"ctrlr", offsetof(struct rpc_blk_create, ctrlr), osp_json_decode_string},
	{"dev_name", offsetof(struct rpc_blk_create, dev_name), osp_json_decode_string},
	{"cpumask", offsetof(struct rpc_blk_create, cpumask), osp_json_decode_string, true},
	{"readonly", offsetof(struct rpc_blk_create, readonly), osp_json_decode_bool, true},
	{"packed_ring", offsetof(struct rpc_blk_create, packed_ring), osp_json_decode_bool, true},
};

static void
rpc_vhost_create_blk_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_blk_create req = {};
	char err[256];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_blk_create_decoders,
				   OSP_COUNTOF(g_blk_create_decoders), &req)) {
		return;
	}
	rc = osp_vhost_blk_ctrlr_create(req.ctrlr, req.dev_name, req.readonly, req.cpumask,
					req.packed_ring, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_blk_create_decoders, OSP_COUNTOF(g_blk_create_decoders), &req);
}
OSP_RPC_REGISTER("vhost_create_blk_controller", rpc_vhost_create_blk_controller, OSP_RPC_RUNTIME)

struct rpc_ctrlr_name {
	char *ctrlr;
};

static const struct osp_json_object_decoder g_name_decoders[] = {
	{"ctrlr", offsetof(struct rpc_ctrlr_name, ctrlr), osp_json_decode_string},
};

static const struct osp_json_object_decoder g_name_opt_decoders[] = {
	{"name", offsetof(struct rpc_ctrlr_name, ctrlr), osp_json_decode_string, true},
};

static void
delete_done(void *arg, int rc, const char *msg)
{
	struct osp_jsonrpc_request *request = arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc, msg);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
}

static void
rpc_vhost_delete_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_ctrlr_name req = {};

	if (!osp_rpc_decode_params(request, params, g_name_decoders, OSP_COUNTOF(g_name_decoders),
				   &req)) {
		return;
	}
	if (vhost_ctrlr_find(req.ctrlr) == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "No vhost controller named '%s' (see vhost_get_controllers)",
						    req.ctrlr);
	} else {
		osp_vhost_ctrlr_delete(req.ctrlr, delete_done, request);
	}
	osp_json_free_object(g_name_decoders, OSP_COUNTOF(g_name_decoders), &req);
}
OSP_RPC_REGISTER("vhost_delete_controller", rpc_vhost_delete_controller, OSP_RPC_RUNTIME)

static void
rpc_vhost_get_controllers(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_ctrlr_name req = {};
	struct vhost_ctrlr *c;
	cJSON *arr;

	if (!osp_rpc_decode_params(request, params, g_name_opt_decoders,
				   OSP_COUNTOF(g_name_opt_decoders), &req)) {
		return;
	}
	if (req.ctrlr != NULL && vhost_ctrlr_find(req.ctrlr) == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, -ENODEV, "No vhost controller named '%s'",
						    req.ctrlr);
		goto out;
	}
	arr = cJSON_CreateArray();
	for (c = vhost_ctrlr_first(); c != NULL; c = vhost_ctrlr_next(c)) {
		uint64_t requests = c->stat_requests, errors = c->stat_errors, sleeps = 0, wakeups = 0;
		cJSON *o, *b, *threads;
		char mask[300];

		if (req.ctrlr != NULL && strcmp(req.ctrlr, c->name) != 0) {
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "ctrlr", c->name);
		cJSON_AddStringToObject(o, "socket", c->path);
		snprintf(mask, sizeof(mask), "0x%s", osp_cpuset_fmt(c->has_cpumask ? &c->cpumask :
			 osp_thread_get_cpumask(c->thread)));
		cJSON_AddStringToObject(o, "cpumask", mask);
		cJSON_AddNumberToObject(o, "delay_base_us", c->coalesce_delay_us);
		cJSON_AddNumberToObject(o, "iops_threshold", c->coalesce_iops_threshold);
		b = cJSON_AddObjectToObject(o, "backend_specific");
		c->ops->info_json(c, b);
		cJSON_AddBoolToObject(o, "connected", c->started);
		cJSON_AddNumberToObject(o, "queues", c->nqueues);
		/* Per poll group (thread): which queues it polls; read racily (statistics). */
		threads = cJSON_AddArrayToObject(o, "threads");
		for (uint16_t i = 0; i < c->npgs; i++) {
			struct vhost_pg *pg = &c->pgs[i];
			cJSON *t = cJSON_CreateObject(), *qs = cJSON_AddArrayToObject(t, "queues");

			cJSON_AddStringToObject(t, "name", osp_thread_get_name(pg->thread));
			for (uint16_t k = 0; k < c->nqueues; k++) {
				if (c->queues[k].pg == pg) {
					cJSON_AddItemToArray(qs, cJSON_CreateNumber(c->queues[k].idx));
				}
			}
			cJSON_AddItemToArray(threads, t);
			requests += pg->stat_requests;
			errors += pg->stat_errors;
			sleeps += pg->stat_sleeps;
			wakeups += pg->stat_wakeups;
		}
		cJSON_AddNumberToObject(o, "requests", (double)requests);
		cJSON_AddNumberToObject(o, "errors", (double)errors);
		/* Interrupt mode: times a poller let its thread sleep, and woke to work. */
		cJSON_AddNumberToObject(o, "sleeps", (double)sleeps);
		cJSON_AddNumberToObject(o, "wakeups", (double)wakeups);
		cJSON_AddItemToArray(arr, o);
	}
	osp_jsonrpc_send_result(request, arr);
out:
	osp_json_free_object(g_name_opt_decoders, OSP_COUNTOF(g_name_opt_decoders), &req);
}
OSP_RPC_REGISTER("vhost_get_controllers", rpc_vhost_get_controllers, OSP_RPC_RUNTIME)

struct rpc_coalescing {
	char *ctrlr;
	uint32_t delay_base_us;
	uint32_t iops_threshold;
};

static const struct osp_json_object_decoder g_coalescing_decoders[] = {
	{"ctrlr", offsetof(struct rpc_coalescing, ctrlr), osp_json_decode_string},
	{"delay_base_us", offsetof(struct rpc_coalescing, delay_base_us), osp_json_decode_uint32},
	{"iops_threshold", offsetof(struct rpc_coalescing, iops_threshold), osp_json_decode_uint32},
};

static void
rpc_vhost_controller_set_coalescing(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_coalescing req = {};
	struct vhost_ctrlr *c;
	char err[128];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_coalescing_decoders,
				   OSP_COUNTOF(g_coalescing_decoders), &req)) {
		return;
	}
	c = vhost_ctrlr_find(req.ctrlr);
	if (c == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "No vhost controller named '%s' (see vhost_get_controllers)",
						    req.ctrlr);
		goto out;
	}
	rc = vhost_ctrlr_set_coalescing(c, req.delay_base_us, req.iops_threshold, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
out:
	osp_json_free_object(g_coalescing_decoders, OSP_COUNTOF(g_coalescing_decoders), &req);
}
OSP_RPC_REGISTER("vhost_controller_set_coalescing", rpc_vhost_controller_set_coalescing,
		 OSP_RPC_RUNTIME)

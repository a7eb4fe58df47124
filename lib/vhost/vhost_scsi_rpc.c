/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPCs of vhost-user-scsi controllers (SPDK's names and parameters):
 * vhost_create_scsi_controller, vhost_scsi_controller_add_target,
 * vhost_scsi_controller_remove_target. vhost_delete_controller and
 * vhost_get_controllers (vhost_rpc.c) serve every controller type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "osprey/rpc.h"
#include "osprey/util.h"
#include "osprey/vhost.h"

#include "vhost_internal.h"

struct rpc_scsi_create {
	char *ctrlr;
	char *cpumask;
	bool delay;
};

static const struct osp_json_object_decoder g_scsi_create_decoders[] = {
	{"ctrlr", offsetof(struct rpc_scsi_create, ctrlr), osp_json_decode_string},
	{"cpumask", offsetof(struct rpc_scsi_create, cpumask), osp_json_decode_string, true},
	{"delay", offsetof(struct rpc_scsi_create, delay), osp_json_decode_bool, true},
};

static void
rpc_vhost_create_scsi_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_scsi_create req = {};
	char err[256];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_scsi_create_decoders,
				   OSP_COUNTOF(g_scsi_create_decoders), &req)) {
		return;
	}
	if (req.delay) {
		osp_jsonrpc_send_error_response(request, -ENOTSUP,
						"delay is not supported: the controller serves its socket at once");
		goto out;
	}
	rc = osp_vhost_scsi_ctrlr_create(req.ctrlr, req.cpumask, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
out:
	osp_json_free_object(g_scsi_create_decoders, OSP_COUNTOF(g_scsi_create_decoders), &req);
}
OSP_RPC_REGISTER("vhost_create_scsi_controller", rpc_vhost_create_scsi_controller, OSP_RPC_RUNTIME)

struct rpc_scsi_target {
	char *ctrlr;
	int32_t scsi_target_num;
	char *bdev_name;
};

static const struct osp_json_object_decoder g_add_target_decoders[] = {
	{"ctrlr", offsetof(struct rpc_scsi_target, ctrlr), osp_json_decode_string},
	{"scsi_target_num", offsetof(struct rpc_scsi_target, scsi_target_num), osp_json_decode_int32},
	{"bdev_name", offsetof(struct rpc_scsi_target, bdev_name), osp_json_decode_string},
};

static const struct osp_json_object_decoder g_remove_target_decoders[] = {
	{"ctrlr", offsetof(struct rpc_scsi_target, ctrlr), osp_json_decode_string},
	{"scsi_target_num", offsetof(struct rpc_scsi_target, scsi_target_num), osp_json_decode_int32},
};

struct rpc_target_ctx {
	struct osp_jsonrpc_request *request;
	char ctrlr[64];
	char bdev[64];
	int num;
};

/* The request's context for the asynchronous answer; NULL (error answered) if out of memory. */
static struct rpc_target_ctx *
target_ctx_new(struct osp_jsonrpc_request *request, const struct rpc_scsi_target *req)
{
	struct rpc_target_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		osp_jsonrpc_send_error_response(request, -ENOMEM, "Out of memory");
		return NULL;
	}
	c->request = request;
	c->num = req->scsi_target_num;
	snprintf(c->ctrlr, sizeof(c->ctrlr), "%s", req->ctrlr);
	snprintf(c->bdev, sizeof(c->bdev), "%s", req->bdev_name != NULL ? req->bdev_name : "");
	return c;
}

static void
add_target_done(void *arg, int num_or_rc, const char *msg)
{
	struct rpc_target_ctx *c = arg;

	if (num_or_rc < 0) {
		osp_jsonrpc_send_error_response_fmt(c->request, num_or_rc,
						    "vhost %s: cannot add target %d on bdev '%s': %s",
						    c->ctrlr, c->num, c->bdev, msg);
	} else {
		osp_jsonrpc_send_result(c->request, cJSON_CreateNumber(num_or_rc));
	}
	free(c);
}

static void
rpc_vhost_scsi_controller_add_target(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_scsi_target req = {};
	struct rpc_target_ctx *c;

	if (!osp_rpc_decode_params(request, params, g_add_target_decoders,
				   OSP_COUNTOF(g_add_target_decoders), &req)) {
		return;
	}
	c = target_ctx_new(request, &req);
	if (c != NULL) {
		osp_vhost_scsi_ctrlr_add_target(req.ctrlr, req.scsi_target_num, req.bdev_name,
						add_target_done, c);
	}
	osp_json_free_object(g_add_target_decoders, OSP_COUNTOF(g_add_target_decoders), &req);
}
OSP_RPC_REGISTER("vhost_scsi_controller_add_target", rpc_vhost_scsi_controller_add_target,
		 OSP_RPC_RUNTIME)

static void
remove_target_done(void *arg, int rc, const char *msg)
{
	struct rpc_target_ctx *c = arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(c->request, rc,
						    "vhost %s: cannot remove target %d: %s",
						    c->ctrlr, c->num, msg);
	} else {
		osp_jsonrpc_send_bool_response(c->request, true);
	}
	free(c);
}

static void
rpc_vhost_scsi_controller_remove_target(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_scsi_target req = {};
	struct rpc_target_ctx *c;

	if (!osp_rpc_decode_params(request, params, g_remove_target_decoders,
				   OSP_COUNTOF(g_remove_target_decoders), &req)) {
		return;
	}
	c = target_ctx_new(request, &req);
	if (c != NULL) {
		osp_vhost_scsi_ctrlr_remove_target(req.ctrlr, req.scsi_target_num,
						   remove_target_done, c);
	}
	osp_json_free_object(g_remove_target_decoders, OSP_COUNTOF(g_remove_target_decoders), &req);
}
OSP_RPC_REGISTER("vhost_scsi_controller_remove_target", rpc_vhost_scsi_controller_remove_target,
		 OSP_RPC_RUNTIME)

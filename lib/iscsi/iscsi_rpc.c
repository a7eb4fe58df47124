/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iscsi_* JSON-RPC methods, with SPDK's method and parameter names and
 * output shapes, so that SPDK's scripts/rpc.py and existing automation
 * drive Osprey's target unchanged. All run on the app thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

#define INVALID OSP_JSONRPC_ERROR_INVALID_PARAMS
#define ERRLEN 512

static int
rpc_errcode(int rc)
{
	return rc == -ENOMEM ? OSP_JSONRPC_ERROR_INTERNAL_ERROR : INVALID;
}

static void
rpc_fail(struct osp_jsonrpc_request *request, int rc, const char *err)
{
	osp_jsonrpc_send_error_response(request, rpc_errcode(rc),
					err[0] != '\0' ? err : strerror(-rc));
}

/* A JSON integer in [min, max]. */
static bool
json_int(const cJSON *v, long min, long max, int *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
	    v->valuedouble < (double)min || v->valuedouble > (double)max) {
		return false;
	}
	*out = (int)v->valuedouble;
	return true;
}

/* An array of strings (at most max) into a malloc'd const char * array. */
static int
json_str_array(const cJSON *arr, const char *name, int max, const char ***out, int *n,
	       char *err, size_t errlen)
{
	const cJSON *e;
	const char **v;
	int i = 0;

	*out = NULL;
	*n = 0;
	if (arr == NULL) {
		return 0;
	}
	if (!cJSON_IsArray(arr)) {
		osp_seterr(err, errlen, "Invalid parameter '%s': expected an array of strings", name);
		return -EINVAL;
	}
	v = calloc((size_t)max + 1, sizeof(*v));
	if (v == NULL) {
		return -ENOMEM;
	}
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e) || i >= max) {
			free(v);
			osp_seterr(err, errlen, "Invalid parameter '%s': expected at most %d strings",
				   name, max);
			return -EINVAL;
		}
		v[i++] = e->valuestring;
	}
	*out = v;
	*n = i;
	return 0;
}

/* pg_ig_maps: [{"pg_tag": n, "ig_tag": n}, ...] */
static int
json_maps(const cJSON *arr, int **pgs, int **igs, int *n, char *err, size_t errlen)
{
	const cJSON *e;
	int i = 0, cnt;

	*pgs = *igs = NULL;
	*n = 0;
	if (arr == NULL) {
		return 0;
	}
	if (!cJSON_IsArray(arr)) {
		osp_seterr(err, errlen, "Invalid parameter 'pg_ig_maps': expected an array");
		return -EINVAL;
	}
	cnt = cJSON_GetArraySize(arr);
	if (cnt > OSP_ISCSI_MAX_PG_IG_MAPS) {
		osp_seterr(err, errlen, "Invalid parameter 'pg_ig_maps': at most %d maps",
			   OSP_ISCSI_MAX_PG_IG_MAPS);
		return -EINVAL;
	}
	*pgs = calloc((size_t)cnt + 1, sizeof(int));
	*igs = calloc((size_t)cnt + 1, sizeof(int));
	if (*pgs == NULL || *igs == NULL) {
		free(*pgs);
		free(*igs);
		*pgs = *igs = NULL;
		return -ENOMEM;
	}
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsObject(e) || cJSON_GetArraySize(e) != 2 ||
		    !json_int(cJSON_GetObjectItemCaseSensitive(e, "pg_tag"), 1, 65535, &(*pgs)[i]) ||
		    !json_int(cJSON_GetObjectItemCaseSensitive(e, "ig_tag"), 1, 65535, &(*igs)[i])) {
			free(*pgs);
			free(*igs);
			*pgs = *igs = NULL;
			osp_seterr(err, errlen, "Invalid parameter 'pg_ig_maps': element %d must be "
				   "{\"pg_tag\": 1-65535, \"ig_tag\": 1-65535}", i);
			return -EINVAL;
		}
		i++;
	}
	*n = i;
	return 0;
}

/* ---- options ---- */

struct rpc_opts {
	char *auth_file;
	char *node_base;
	struct osp_iscsi_opts o;
};

#define OPT(name, field, fn) {name, offsetof(struct rpc_opts, o.field), fn, true}
static const struct osp_json_object_decoder g_opts_decoders[] = {
	{"auth_file", offsetof(struct rpc_opts, auth_file), osp_json_decode_string, true},
	{"node_base", offsetof(struct rpc_opts, node_base), osp_json_decode_string, true},
	OPT("nop_timeout", nop_timeout, osp_json_decode_uint32),
	OPT("nop_in_interval", nop_in_interval, osp_json_decode_uint32),
	OPT("disable_chap", disable_chap, osp_json_decode_bool),
	OPT("require_chap", require_chap, osp_json_decode_bool),
	OPT("mutual_chap", mutual_chap, osp_json_decode_bool),
	OPT("chap_group", chap_group, osp_json_decode_int32),
	OPT("max_sessions", max_sessions, osp_json_decode_uint32),
	OPT("max_queue_depth", max_queue_depth, osp_json_decode_uint32),
	OPT("max_connections_per_session", max_connections_per_session, osp_json_decode_uint32),
	OPT("default_time2wait", default_time2wait, osp_json_decode_uint32),
	OPT("default_time2retain", default_time2retain, osp_json_decode_uint32),
	OPT("first_burst_length", first_burst_length, osp_json_decode_uint32),
	OPT("max_burst_length", max_burst_length, osp_json_decode_uint32),
	OPT("max_recv_data_segment_length", max_recv_data_segment_length, osp_json_decode_uint32),
	OPT("immediate_data", immediate_data, osp_json_decode_bool),
	OPT("error_recovery_level", error_recovery_level, osp_json_decode_uint32),
	OPT("allow_duplicated_isid", allow_duplicated_isid, osp_json_decode_bool),
	OPT("max_large_datain_per_connection", max_large_datain_per_connection,
	    osp_json_decode_uint32),
	OPT("max_r2t_per_connection", max_r2t_per_connection, osp_json_decode_uint32),
	OPT("pdu_pool_size", pdu_pool_size, osp_json_decode_uint32),
	OPT("immediate_data_pool_size", immediate_data_pool_size, osp_json_decode_uint32),
	OPT("data_out_pool_size", data_out_pool_size, osp_json_decode_uint32),
};

static void
rpc_iscsi_set_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_opts req = {};
	char err[ERRLEN] = "";
	int rc;

	osp_iscsi_get_opts(&req.o, sizeof(req.o));
	if (!osp_rpc_decode_params(request, params, g_opts_decoders, OSP_COUNTOF(g_opts_decoders),
				   &req)) {
		return;
	}
	if (req.auth_file != NULL) {
		if (strlen(req.auth_file) >= sizeof(req.o.auth_file)) {
			osp_jsonrpc_send_error_response(request, INVALID, "auth_file path too long");
			goto out;
		}
		snprintf(req.o.auth_file, sizeof(req.o.auth_file), "%s", req.auth_file);
	}
	if (req.node_base != NULL) {
		if (strlen(req.node_base) >= sizeof(req.o.node_base)) {
			osp_jsonrpc_send_error_response(request, INVALID, "node_base too long");
			goto out;
		}
		snprintf(req.o.node_base, sizeof(req.o.node_base), "%s", req.node_base);
	}
	rc = osp_iscsi_set_opts(&req.o, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_opts_decoders, OSP_COUNTOF(g_opts_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_set_options", rpc_iscsi_set_options, OSP_RPC_STARTUP)

static void
rpc_iscsi_get_options(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct osp_iscsi_opts o;
	cJSON *r;

	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"iscsi_get_options takes no parameters");
		return;
	}
	osp_iscsi_get_opts(&o, sizeof(o));
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "auth_file", o.auth_file);
	cJSON_AddStringToObject(r, "node_base", o.node_base);
	osp_json_add_uint64(r, "nop_timeout", o.nop_timeout);
	osp_json_add_uint64(r, "nop_in_interval", o.nop_in_interval);
	cJSON_AddBoolToObject(r, "disable_chap", g_iscsi_disc_disable_chap);
	cJSON_AddBoolToObject(r, "require_chap", g_iscsi_disc_require_chap);
	cJSON_AddBoolToObject(r, "mutual_chap", g_iscsi_disc_mutual_chap);
	cJSON_AddNumberToObject(r, "chap_group", g_iscsi_disc_chap_group);
	osp_json_add_uint64(r, "max_sessions", o.max_sessions);
	osp_json_add_uint64(r, "max_connections_per_session", o.max_connections_per_session);
	osp_json_add_uint64(r, "max_queue_depth", o.max_queue_depth);
	osp_json_add_uint64(r, "default_time2wait", o.default_time2wait);
	osp_json_add_uint64(r, "default_time2retain", o.default_time2retain);
	osp_json_add_uint64(r, "first_burst_length", o.first_burst_length);
	osp_json_add_uint64(r, "max_burst_length", o.max_burst_length);
	osp_json_add_uint64(r, "max_recv_data_segment_length", o.max_recv_data_segment_length);
	cJSON_AddBoolToObject(r, "immediate_data", o.immediate_data);
	cJSON_AddBoolToObject(r, "allow_duplicated_isid", o.allow_duplicated_isid);
	osp_json_add_uint64(r, "error_recovery_level", o.error_recovery_level);
	osp_json_add_uint64(r, "max_large_datain_per_connection",
			    o.max_large_datain_per_connection);
	osp_json_add_uint64(r, "max_r2t_per_connection", o.max_r2t_per_connection);
	osp_json_add_uint64(r, "pdu_pool_size", o.pdu_pool_size);
	osp_json_add_uint64(r, "immediate_data_pool_size", o.immediate_data_pool_size);
	osp_json_add_uint64(r, "data_out_pool_size", o.data_out_pool_size);
	osp_jsonrpc_send_result(request, r);
}
OSP_RPC_REGISTER("iscsi_get_options", rpc_iscsi_get_options, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static bool
no_params(struct osp_jsonrpc_request *request, const cJSON *params, const char *method)
{
	if (params != NULL && !(cJSON_IsObject(params) && params->child == NULL)) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "%s takes no parameters",
						    method);
		return false;
	}
	return true;
}

/* ---- portal groups ---- */

struct rpc_pg {
	int32_t tag;
	const cJSON *portals;
	bool is_private;
	bool wait;
};

static const struct osp_json_object_decoder g_pg_decoders[] = {
	{"tag", offsetof(struct rpc_pg, tag), osp_json_decode_int32},
	{"portals", offsetof(struct rpc_pg, portals), osp_json_decode_raw},
	{"private", offsetof(struct rpc_pg, is_private), osp_json_decode_bool, true},
	{"wait", offsetof(struct rpc_pg, wait), osp_json_decode_bool, true},
};

static void
rpc_iscsi_create_portal_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_pg req = {};
	const char *hosts[OSP_ISCSI_MAX_PORTALS_PER_PG], *ports[OSP_ISCSI_MAX_PORTALS_PER_PG];
	char portbuf[OSP_ISCSI_MAX_PORTALS_PER_PG][16];
	const cJSON *e, *h, *p;
	char err[ERRLEN] = "";
	int n = 0, rc;

	if (!osp_rpc_decode_params(request, params, g_pg_decoders, OSP_COUNTOF(g_pg_decoders),
				   &req)) {
		return;
	}
	if (!cJSON_IsArray(req.portals) || cJSON_GetArraySize(req.portals) == 0) {
		osp_jsonrpc_send_error_response(request, INVALID, "Invalid parameter 'portals': "
						"expected a non-empty array of {\"host\", \"port\"}");
		return;
	}
	cJSON_ArrayForEach(e, req.portals) {
		h = cJSON_GetObjectItemCaseSensitive(e, "host");
		p = cJSON_GetObjectItemCaseSensitive(e, "port");
		if (n >= OSP_ISCSI_MAX_PORTALS_PER_PG || !cJSON_IsString(h) ||
		    !(cJSON_IsString(p) || cJSON_IsNumber(p))) {
			osp_jsonrpc_send_error_response_fmt(request, INVALID,
							    "Invalid parameter 'portals': element %d "
							    "must be {\"host\": string, \"port\": string}"
							    " (at most %d)", n,
							    OSP_ISCSI_MAX_PORTALS_PER_PG);
			return;
		}
		hosts[n] = h->valuestring;
		if (cJSON_IsString(p)) {
			ports[n] = p->valuestring;
		} else {
			snprintf(portbuf[n], sizeof(portbuf[n]), "%d", (int)p->valuedouble);
			ports[n] = portbuf[n];
		}
		n++;
	}
	rc = osp_iscsi_portal_grp_create(req.tag, hosts, ports, n, req.is_private, req.wait, err,
					 sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_create_portal_group", rpc_iscsi_create_portal_group, OSP_RPC_RUNTIME)

struct rpc_tag {
	int32_t tag;
};

static const struct osp_json_object_decoder g_tag_decoders[] = {
	{"tag", offsetof(struct rpc_tag, tag), osp_json_decode_int32},
};

static void
rpc_iscsi_start_portal_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tag req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_tag_decoders, 1, &req)) {
		return;
	}
	rc = osp_iscsi_portal_grp_start(req.tag, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_start_portal_group", rpc_iscsi_start_portal_group, OSP_RPC_RUNTIME)

static void
rpc_iscsi_delete_portal_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tag req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_tag_decoders, 1, &req)) {
		return;
	}
	rc = osp_iscsi_portal_grp_delete(req.tag, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_delete_portal_group", rpc_iscsi_delete_portal_group, OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_portal_groups(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	cJSON *arr, *o, *ps, *po;

	if (!no_params(request, params, "iscsi_get_portal_groups")) {
		return;
	}
	arr = cJSON_CreateArray();
	iscsi_lock();
	TAILQ_FOREACH(pg, &g_iscsi.pgs, link) {
		o = cJSON_CreateObject();
		ps = cJSON_AddArrayToObject(o, "portals");
		TAILQ_FOREACH(p, &pg->portals, link) {
			po = cJSON_CreateObject();
			cJSON_AddStringToObject(po, "host", p->host);
			if (strcmp(p->port, "0") == 0 && p->bound_port != 0) {
				osp_json_add_string_fmt(po, "port", "%u", p->bound_port);
			} else {
				cJSON_AddStringToObject(po, "port", p->port);
			}
			cJSON_AddItemToArray(ps, po);
		}
		osp_json_add_uint64(o, "tag", (uint64_t)pg->tag);
		cJSON_AddBoolToObject(o, "private", pg->is_private);
		cJSON_AddItemToArray(arr, o);
	}
	iscsi_unlock();
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("iscsi_get_portal_groups", rpc_iscsi_get_portal_groups, OSP_RPC_RUNTIME)

/* ---- initiator groups ---- */

struct rpc_ig {
	int32_t tag;
	const cJSON *initiators;
	const cJSON *netmasks;
};

static const struct osp_json_object_decoder g_ig_decoders[] = {
	{"tag", offsetof(struct rpc_ig, tag), osp_json_decode_int32},
	{"initiators", offsetof(struct rpc_ig, initiators), osp_json_decode_raw, true},
	{"netmasks", offsetof(struct rpc_ig, netmasks), osp_json_decode_raw, true},
};

enum ig_op { IG_CREATE, IG_ADD, IG_REMOVE };

static void
rpc_ig_common(struct osp_jsonrpc_request *request, const cJSON *params, enum ig_op op)
{
	struct rpc_ig req = {};
	const char **names = NULL, **masks = NULL;
	int nn = 0, nm = 0, rc;
	char err[ERRLEN] = "";

	if (!osp_rpc_decode_params(request, params, g_ig_decoders, OSP_COUNTOF(g_ig_decoders),
				   &req)) {
		return;
	}
	rc = json_str_array(req.initiators, "initiators", OSP_ISCSI_MAX_INITIATORS, &names, &nn,
			    err, sizeof(err));
	if (rc == 0) {
		rc = json_str_array(req.netmasks, "netmasks", OSP_ISCSI_MAX_INITIATORS, &masks, &nm,
				    err, sizeof(err));
	}
	if (rc == 0) {
		switch (op) {
		case IG_CREATE:
			rc = osp_iscsi_init_grp_create(req.tag, names, nn, masks, nm, err,
						       sizeof(err));
			break;
		case IG_ADD:
			rc = osp_iscsi_init_grp_add(req.tag, names, nn, masks, nm, err, sizeof(err));
			break;
		case IG_REMOVE:
			rc = osp_iscsi_init_grp_remove(req.tag, names, nn, masks, nm, err,
						       sizeof(err));
			break;
		}
	}
	free(names);
	free(masks);
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}

static void
rpc_iscsi_create_initiator_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_ig_common(request, params, IG_CREATE);
}
OSP_RPC_REGISTER("iscsi_create_initiator_group", rpc_iscsi_create_initiator_group,
		 OSP_RPC_RUNTIME)

static void
rpc_iscsi_initiator_group_add_initiators(struct osp_jsonrpc_request *request,
		const cJSON *params)
{
	rpc_ig_common(request, params, IG_ADD);
}
OSP_RPC_REGISTER("iscsi_initiator_group_add_initiators", rpc_iscsi_initiator_group_add_initiators,
		 OSP_RPC_RUNTIME)

static void
rpc_iscsi_initiator_group_remove_initiators(struct osp_jsonrpc_request *request,
		const cJSON *params)
{
	rpc_ig_common(request, params, IG_REMOVE);
}
OSP_RPC_REGISTER("iscsi_initiator_group_remove_initiators",
		 rpc_iscsi_initiator_group_remove_initiators, OSP_RPC_RUNTIME)

static void
rpc_iscsi_delete_initiator_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tag req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_tag_decoders, 1, &req)) {
		return;
	}
	rc = osp_iscsi_init_grp_delete(req.tag, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_delete_initiator_group", rpc_iscsi_delete_initiator_group,
		 OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_initiator_groups(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct iscsi_init_grp *ig;
	cJSON *arr, *o, *a;
	int i;

	if (!no_params(request, params, "iscsi_get_initiator_groups")) {
		return;
	}
	arr = cJSON_CreateArray();
	iscsi_lock();
	TAILQ_FOREACH(ig, &g_iscsi.igs, link) {
		o = cJSON_CreateObject();
		a = cJSON_AddArrayToObject(o, "initiators");
		for (i = 0; i < ig->nnames; i++) {
			cJSON_AddItemToArray(a, cJSON_CreateString(ig->names[i]));
		}
		osp_json_add_uint64(o, "tag", (uint64_t)ig->tag);
		a = cJSON_AddArrayToObject(o, "netmasks");
		for (i = 0; i < ig->nmasks; i++) {
			cJSON_AddItemToArray(a, cJSON_CreateString(ig->masks[i]));
		}
		cJSON_AddItemToArray(arr, o);
	}
	iscsi_unlock();
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("iscsi_get_initiator_groups", rpc_iscsi_get_initiator_groups, OSP_RPC_RUNTIME)

/* ---- target nodes ---- */

struct rpc_tgt {
	char *name;
	char *alias_name;
	const cJSON *luns;
	const cJSON *pg_ig_maps;
	uint32_t queue_depth;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;
	bool data_digest;
};

static const struct osp_json_object_decoder g_tgt_decoders[] = {
	{"name", offsetof(struct rpc_tgt, name), osp_json_decode_string},
	{"alias_name", offsetof(struct rpc_tgt, alias_name), osp_json_decode_string, true},
	{"luns", offsetof(struct rpc_tgt, luns), osp_json_decode_raw},
	{"pg_ig_maps", offsetof(struct rpc_tgt, pg_ig_maps), osp_json_decode_raw},
	{"queue_depth", offsetof(struct rpc_tgt, queue_depth), osp_json_decode_uint32, true},
	{"disable_chap", offsetof(struct rpc_tgt, disable_chap), osp_json_decode_bool, true},
	{"require_chap", offsetof(struct rpc_tgt, require_chap), osp_json_decode_bool, true},
	{"mutual_chap", offsetof(struct rpc_tgt, mutual_chap), osp_json_decode_bool, true},
	{"chap_group", offsetof(struct rpc_tgt, chap_group), osp_json_decode_int32, true},
	{"header_digest", offsetof(struct rpc_tgt, header_digest), osp_json_decode_bool, true},
	{"data_digest", offsetof(struct rpc_tgt, data_digest), osp_json_decode_bool, true},
};

static void
rpc_iscsi_create_target_node(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tgt req = {};
	struct osp_iscsi_tgt_node_opts o = {};
	const char *bdevs[OSP_SCSI_DEV_MAX_LUN];
	int lun_ids[OSP_SCSI_DEV_MAX_LUN];
	int *pgs = NULL, *igs = NULL, nmaps = 0, n = 0, rc;
	const cJSON *e, *b, *l;
	char err[ERRLEN] = "";

	if (!osp_rpc_decode_params(request, params, g_tgt_decoders, OSP_COUNTOF(g_tgt_decoders),
				   &req)) {
		return;
	}
	if (!cJSON_IsArray(req.luns) || cJSON_GetArraySize(req.luns) == 0) {
		osp_jsonrpc_send_error_response(request, INVALID, "Invalid parameter 'luns': "
						"expected a non-empty array of {\"bdev_name\", \"lun_id\"}");
		goto out;
	}
	cJSON_ArrayForEach(e, req.luns) {
		b = cJSON_GetObjectItemCaseSensitive(e, "bdev_name");
		l = cJSON_GetObjectItemCaseSensitive(e, "lun_id");
		if (n >= OSP_SCSI_DEV_MAX_LUN || !cJSON_IsString(b) ||
		    (l != NULL && !json_int(l, 0, OSP_SCSI_DEV_MAX_LUN - 1, &lun_ids[n]))) {
			osp_jsonrpc_send_error_response_fmt(request, INVALID,
							    "Invalid parameter 'luns': element %d must be "
							    "{\"bdev_name\": string, \"lun_id\": 0-%d} "
							    "(at most %d LUNs)", n,
							    OSP_SCSI_DEV_MAX_LUN - 1, OSP_SCSI_DEV_MAX_LUN);
			goto out;
		}
		if (l == NULL) {
			lun_ids[n] = -1;
		}
		bdevs[n++] = b->valuestring;
	}
	rc = json_maps(req.pg_ig_maps, &pgs, &igs, &nmaps, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		goto out;
	}
	o.name = req.name;
	o.alias = req.alias_name;
	o.bdev_names = bdevs;
	o.lun_ids = lun_ids;
	o.nluns = n;
	o.pg_tags = pgs;
	o.ig_tags = igs;
	o.nmaps = nmaps;
	if (cJSON_GetObjectItemCaseSensitive(params, "queue_depth") != NULL && req.queue_depth == 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "Invalid parameter 'queue_depth': "
						    "expected 1 to max_queue_depth (%u), or leave it "
						    "out for max_queue_depth", g_iscsi.opts.max_queue_depth);
		goto out;
	}
	o.queue_depth = req.queue_depth;
	o.disable_chap = req.disable_chap;
	o.require_chap = req.require_chap;
	o.mutual_chap = req.mutual_chap;
	o.chap_group = req.chap_group;
	o.header_digest = req.header_digest;
	o.data_digest = req.data_digest;
	rc = osp_iscsi_tgt_node_create(&o, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	free(pgs);
	free(igs);
	osp_json_free_object(g_tgt_decoders, OSP_COUNTOF(g_tgt_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_create_target_node", rpc_iscsi_create_target_node, OSP_RPC_RUNTIME)

struct rpc_name {
	char *name;
};

static const struct osp_json_object_decoder g_name_decoders[] = {
	{"name", offsetof(struct rpc_name, name), osp_json_decode_string},
};

static void
rpc_node_deleted(void *cb_arg, int rc)
{
	struct osp_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rpc_errcode(rc), strerror(-rc));
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}

static void
rpc_iscsi_delete_target_node(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_name req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_name_decoders, 1, &req)) {
		return;
	}
	rc = osp_iscsi_tgt_node_delete(req.name, rpc_node_deleted, request, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
	}
	osp_json_free_object(g_name_decoders, 1, &req);
}
OSP_RPC_REGISTER("iscsi_delete_target_node", rpc_iscsi_delete_target_node, OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_target_nodes(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct iscsi_tgt_node *node;
	struct osp_scsi_lun *lun;
	cJSON *arr, *o, *a, *m;
	int i;

	if (!no_params(request, params, "iscsi_get_target_nodes")) {
		return;
	}
	arr = cJSON_CreateArray();
	iscsi_lock();
	TAILQ_FOREACH(node, &g_iscsi.nodes, link) {
		if (node->removing) {
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", node->name);
		if (node->alias[0] != '\0') {
			cJSON_AddStringToObject(o, "alias_name", node->alias);
		}
		a = cJSON_AddArrayToObject(o, "pg_ig_maps");
		for (i = 0; i < node->nmaps; i++) {
			m = cJSON_CreateObject();
			osp_json_add_uint64(m, "pg_tag", (uint64_t)node->maps[i].pg_tag);
			osp_json_add_uint64(m, "ig_tag", (uint64_t)node->maps[i].ig_tag);
			cJSON_AddItemToArray(a, m);
		}
		a = cJSON_AddArrayToObject(o, "luns");
		for (lun = osp_scsi_dev_first_lun(node->dev); lun != NULL;
		     lun = osp_scsi_dev_next_lun(node->dev, lun)) {
			m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "bdev_name", osp_scsi_lun_get_bdev_name(lun));
			osp_json_add_uint64(m, "lun_id", (uint64_t)osp_scsi_lun_get_id(lun));
			cJSON_AddItemToArray(a, m);
		}
		osp_json_add_uint64(o, "queue_depth", node->queue_depth);
		cJSON_AddBoolToObject(o, "disable_chap", node->disable_chap);
		cJSON_AddBoolToObject(o, "require_chap", node->require_chap);
		cJSON_AddBoolToObject(o, "mutual_chap", node->mutual_chap);
		cJSON_AddNumberToObject(o, "chap_group", node->chap_group);
		cJSON_AddBoolToObject(o, "header_digest", node->header_digest);
		cJSON_AddBoolToObject(o, "data_digest", node->data_digest);
		cJSON_AddItemToArray(arr, o);
	}
	iscsi_unlock();
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("iscsi_get_target_nodes", rpc_iscsi_get_target_nodes, OSP_RPC_RUNTIME)

struct rpc_add_lun {
	char *name;
	char *bdev_name;
	int32_t lun_id;
};

static const struct osp_json_object_decoder g_add_lun_decoders[] = {
	{"name", offsetof(struct rpc_add_lun, name), osp_json_decode_string},
	{"bdev_name", offsetof(struct rpc_add_lun, bdev_name), osp_json_decode_string},
	{"lun_id", offsetof(struct rpc_add_lun, lun_id), osp_json_decode_int32, true},
};

static void
rpc_iscsi_target_node_add_lun(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_add_lun req = {.lun_id = -1};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_add_lun_decoders,
				   OSP_COUNTOF(g_add_lun_decoders), &req)) {
		return;
	}
	rc = osp_iscsi_tgt_node_add_lun(req.name, req.bdev_name, req.lun_id, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_add_lun_decoders, OSP_COUNTOF(g_add_lun_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_target_node_add_lun", rpc_iscsi_target_node_add_lun, OSP_RPC_RUNTIME)

struct rpc_maps {
	char *name;
	const cJSON *pg_ig_maps;
};

static const struct osp_json_object_decoder g_maps_decoders[] = {
	{"name", offsetof(struct rpc_maps, name), osp_json_decode_string},
	{"pg_ig_maps", offsetof(struct rpc_maps, pg_ig_maps), osp_json_decode_raw},
};

static void
rpc_maps_common(struct osp_jsonrpc_request *request, const cJSON *params, bool add)
{
	struct rpc_maps req = {};
	int *pgs = NULL, *igs = NULL, n = 0, rc;
	char err[ERRLEN] = "";

	if (!osp_rpc_decode_params(request, params, g_maps_decoders, OSP_COUNTOF(g_maps_decoders),
				   &req)) {
		return;
	}
	rc = json_maps(req.pg_ig_maps, &pgs, &igs, &n, err, sizeof(err));
	if (rc == 0 && n == 0) {
		osp_seterr(err, sizeof(err), "Invalid parameter 'pg_ig_maps': empty");
		rc = -EINVAL;
	}
	if (rc == 0) {
		rc = add ? osp_iscsi_tgt_node_add_maps(req.name, pgs, igs, n, err, sizeof(err)) :
		     osp_iscsi_tgt_node_remove_maps(req.name, pgs, igs, n, err, sizeof(err));
	}
	if (rc != 0) {
		rpc_fail(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	free(pgs);
	free(igs);
	osp_json_free_object(g_maps_decoders, OSP_COUNTOF(g_maps_decoders), &req);
}

static void
rpc_iscsi_target_node_add_pg_ig_maps(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_maps_common(request, params, true);
}
OSP_RPC_REGISTER("iscsi_target_node_add_pg_ig_maps", rpc_iscsi_target_node_add_pg_ig_maps,
		 OSP_RPC_RUNTIME)

static void
rpc_iscsi_target_node_remove_pg_ig_maps(struct osp_jsonrpc_request *request,
					const cJSON *params)
{
	rpc_maps_common(request, params, false);
}
OSP_RPC_REGISTER("iscsi_target_node_remove_pg_ig_maps", rpc_iscsi_target_node_remove_pg_ig_maps,
		 OSP_RPC_RUNTIME)

struct rpc_auth {
	char *name;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
};

static const struct osp_json_object_decoder g_set_auth_decoders[] = {
	{"name", offsetof(struct rpc_auth, name), osp_json_decode_string},
	{"disable_chap", offsetof(struct rpc_auth, disable_chap), osp_json_decode_bool, true},
	{"require_chap", offsetof(struct rpc_auth, require_chap), osp_json_decode_bool, true},
	{"mutual_chap", offsetof(struct rpc_auth, mutual_chap), osp_json_decode_bool, true},
	{"chap_group", offsetof(struct rpc_auth, chap_group), osp_json_decode_int32, true},
};

static void
rpc_iscsi_target_node_set_auth(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_auth req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_set_auth_decoders,
				   OSP_COUNTOF(g_set_auth_decoders), &req)) {
		return;
	}
	rc = osp_iscsi_tgt_node_set_auth(req.name, req.disable_chap, req.require_chap,
					 req.mutual_chap, req.chap_group, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_set_auth_decoders, OSP_COUNTOF(g_set_auth_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_target_node_set_auth", rpc_iscsi_target_node_set_auth, OSP_RPC_RUNTIME)

/* ---- discovery auth ---- */

static const struct osp_json_object_decoder g_disc_auth_decoders[] = {
	{"disable_chap", offsetof(struct rpc_auth, disable_chap), osp_json_decode_bool, true},
	{"require_chap", offsetof(struct rpc_auth, require_chap), osp_json_decode_bool, true},
	{"mutual_chap", offsetof(struct rpc_auth, mutual_chap), osp_json_decode_bool, true},
	{"chap_group", offsetof(struct rpc_auth, chap_group), osp_json_decode_int32, true},
};

static void
rpc_iscsi_set_discovery_auth(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_auth req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_disc_auth_decoders,
				   OSP_COUNTOF(g_disc_auth_decoders), &req)) {
		return;
	}
	rc = osp_iscsi_set_discovery_auth(req.disable_chap, req.require_chap, req.mutual_chap,
					  req.chap_group, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_set_discovery_auth", rpc_iscsi_set_discovery_auth,
		 OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_discovery_auth(struct osp_jsonrpc_request *request, const cJSON *params)
{
	cJSON *r;

	if (!no_params(request, params, "iscsi_get_discovery_auth")) {
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "disable_chap", g_iscsi_disc_disable_chap);
	cJSON_AddBoolToObject(r, "require_chap", g_iscsi_disc_require_chap);
	cJSON_AddBoolToObject(r, "mutual_chap", g_iscsi_disc_mutual_chap);
	cJSON_AddNumberToObject(r, "chap_group", g_iscsi_disc_chap_group);
	osp_jsonrpc_send_result(request, r);
}
OSP_RPC_REGISTER("iscsi_get_discovery_auth", rpc_iscsi_get_discovery_auth, OSP_RPC_RUNTIME)

/* ---- auth groups ---- */

struct rpc_ag {
	int32_t tag;
	const cJSON *secrets;
};

static const struct osp_json_object_decoder g_ag_decoders[] = {
	{"tag", offsetof(struct rpc_ag, tag), osp_json_decode_int32},
	{"secrets", offsetof(struct rpc_ag, secrets), osp_json_decode_raw, true},
};

static const char *
obj_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
rpc_iscsi_create_auth_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_ag req = {};
	const cJSON *e;
	char err[ERRLEN] = "";
	int rc, i = 0;

	if (!osp_rpc_decode_params(request, params, g_ag_decoders, OSP_COUNTOF(g_ag_decoders),
				   &req)) {
		return;
	}
	if (req.secrets != NULL && !cJSON_IsArray(req.secrets)) {
		osp_jsonrpc_send_error_response(request, INVALID, "Invalid parameter 'secrets': "
						"expected an array of {\"user\", \"secret\"}");
		return;
	}
	cJSON_ArrayForEach(e, req.secrets) {
		const cJSON *k;

		if (!cJSON_IsObject(e) || obj_str(e, "user") == NULL ||
		    obj_str(e, "secret") == NULL) {
			osp_jsonrpc_send_error_response_fmt(request, INVALID,
							    "Invalid parameter 'secrets': element %d "
							    "needs \"user\" and \"secret\" strings", i);
			return;
		}
		cJSON_ArrayForEach(k, e) {
			if (strcmp(k->string, "user") != 0 && strcmp(k->string, "secret") != 0 &&
			    strcmp(k->string, "muser") != 0 && strcmp(k->string, "msecret") != 0) {
				osp_jsonrpc_send_error_response_fmt(request, INVALID,
								    "Invalid parameter 'secrets': element %d "
								    "has an unknown key '%s' (expected user, "
								    "secret, muser, msecret)", i, k->string);
				return;
			}
		}
		i++;
	}
	rc = osp_iscsi_auth_grp_create(req.tag, err, sizeof(err));
	cJSON_ArrayForEach(e, req.secrets) {
		if (rc != 0) {
			break;
		}
		rc = osp_iscsi_auth_grp_add_secret(req.tag, obj_str(e, "user"), obj_str(e, "secret"),
						   obj_str(e, "muser"), obj_str(e, "msecret"), err,
						   sizeof(err));
		if (rc != 0) {
			osp_iscsi_auth_grp_delete(req.tag, NULL, 0);
		}
	}
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_create_auth_group", rpc_iscsi_create_auth_group, OSP_RPC_RUNTIME)

static void
rpc_iscsi_delete_auth_group(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tag req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_tag_decoders, 1, &req)) {
		return;
	}
	rc = osp_iscsi_auth_grp_delete(req.tag, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
		return;
	}
	osp_jsonrpc_send_bool_response(request, true);
}
OSP_RPC_REGISTER("iscsi_delete_auth_group", rpc_iscsi_delete_auth_group, OSP_RPC_RUNTIME)

struct rpc_secret {
	int32_t tag;
	char *user;
	char *secret;
	char *muser;
	char *msecret;
};

static const struct osp_json_object_decoder g_secret_decoders[] = {
	{"tag", offsetof(struct rpc_secret, tag), osp_json_decode_int32},
	{"user", offsetof(struct rpc_secret, user), osp_json_decode_string},
	{"secret", offsetof(struct rpc_secret, secret), osp_json_decode_string},
	{"muser", offsetof(struct rpc_secret, muser), osp_json_decode_string, true},
	{"msecret", offsetof(struct rpc_secret, msecret), osp_json_decode_string, true},
};

static void
rpc_iscsi_auth_group_add_secret(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_secret req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_secret_decoders,
				   OSP_COUNTOF(g_secret_decoders), &req)) {
		return;
	}
	rc = osp_iscsi_auth_grp_add_secret(req.tag, req.user, req.secret, req.muser, req.msecret,
					   err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_secret_decoders, OSP_COUNTOF(g_secret_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_auth_group_add_secret", rpc_iscsi_auth_group_add_secret, OSP_RPC_RUNTIME)

static const struct osp_json_object_decoder g_rm_secret_decoders[] = {
	{"tag", offsetof(struct rpc_secret, tag), osp_json_decode_int32},
	{"user", offsetof(struct rpc_secret, user), osp_json_decode_string},
};

static void
rpc_iscsi_auth_group_remove_secret(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_secret req = {};
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_rm_secret_decoders,
				   OSP_COUNTOF(g_rm_secret_decoders), &req)) {
		return;
	}
	rc = osp_iscsi_auth_grp_remove_secret(req.tag, req.user, err, sizeof(err));
	if (rc != 0) {
		rpc_fail(request, rc, err);
	} else {
		osp_jsonrpc_send_bool_response(request, true);
	}
	osp_json_free_object(g_rm_secret_decoders, OSP_COUNTOF(g_rm_secret_decoders), &req);
}
OSP_RPC_REGISTER("iscsi_auth_group_remove_secret", rpc_iscsi_auth_group_remove_secret,
		 OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_auth_groups(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct iscsi_auth_grp *ag;
	struct iscsi_secret *s;
	cJSON *arr, *o, *a, *so;

	if (!no_params(request, params, "iscsi_get_auth_groups")) {
		return;
	}
	arr = cJSON_CreateArray();
	iscsi_lock();
	TAILQ_FOREACH(ag, &g_iscsi.auth_groups, link) {
		o = cJSON_CreateObject();
		osp_json_add_uint64(o, "tag", (uint64_t)ag->tag);
		a = cJSON_AddArrayToObject(o, "secrets");
		TAILQ_FOREACH(s, &ag->secrets, link) {
			so = cJSON_CreateObject();
			cJSON_AddStringToObject(so, "user", s->s.user);
			cJSON_AddStringToObject(so, "secret", s->s.secret);
			if (s->s.muser[0] != '\0') {
				cJSON_AddStringToObject(so, "muser", s->s.muser);
				cJSON_AddStringToObject(so, "msecret", s->s.msecret);
			}
			cJSON_AddItemToArray(a, so);
		}
		cJSON_AddItemToArray(arr, o);
	}
	iscsi_unlock();
	osp_jsonrpc_send_result(request, arr);
}
OSP_RPC_REGISTER("iscsi_get_auth_groups", rpc_iscsi_get_auth_groups, OSP_RPC_RUNTIME)

/* ---- connections and stats ---- */

struct conn_walk {
	struct osp_jsonrpc_request *request;
	cJSON *arr;
	uint32_t i;
};

static void conn_walk_next(void *arg);

static void
conn_walk_on_pg(void *arg)
{
	struct conn_walk *w = arg;
	struct iscsi_poll_group *pg = g_iscsi.pgroups[w->i];
	struct iscsi_conn *conn;
	cJSON *o;

	TAILQ_FOREACH(conn, &pg->conns, pg_link) {
		if (conn->state == ISCSI_CONN_EXITING) {
			continue;
		}
		o = cJSON_CreateObject();
		iscsi_conn_json(conn, o);
		cJSON_AddItemToArray(w->arr, o);
	}
	w->i++;
	osp_thread_send_msg(g_iscsi.app_thread, conn_walk_next, w);
}

static void
conn_walk_next(void *arg)
{
	struct conn_walk *w = arg;

	if (w->i >= g_iscsi.npgroups || g_iscsi.shutting_down) {
		osp_jsonrpc_send_result(w->request, w->arr);
		free(w);
		return;
	}
	osp_thread_send_msg(g_iscsi.pgroups[w->i]->thread, conn_walk_on_pg, w);
}

static void
rpc_iscsi_get_connections(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct conn_walk *w;

	if (!no_params(request, params, "iscsi_get_connections")) {
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"out of memory");
		return;
	}
	w->request = request;
	w->arr = cJSON_CreateArray();
	conn_walk_next(w);
}
OSP_RPC_REGISTER("iscsi_get_connections", rpc_iscsi_get_connections, OSP_RPC_RUNTIME)

static void
rpc_iscsi_get_stats(struct osp_jsonrpc_request *request, const cJSON *params)
{
	cJSON *r;

	if (!no_params(request, params, "iscsi_get_stats")) {
		return;
	}
	r = cJSON_CreateObject();
	osp_json_add_uint64(r, "invalid", __atomic_load_n(&g_iscsi.nconns_login,
			    __ATOMIC_RELAXED));
	osp_json_add_uint64(r, "running", __atomic_load_n(&g_iscsi.nconns_running,
			    __ATOMIC_RELAXED));
	osp_json_add_uint64(r, "exiting", __atomic_load_n(&g_iscsi.nconns_exiting,
			    __ATOMIC_RELAXED));
	osp_json_add_uint64(r, "exited", __atomic_load_n(&g_iscsi.nconns_exited,
			    __ATOMIC_RELAXED));
	osp_jsonrpc_send_result(request, r);
}
OSP_RPC_REGISTER("iscsi_get_stats", rpc_iscsi_get_stats, OSP_RPC_RUNTIME)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target RPCs with SPDK's names, parameters and reply shapes, and the
 * "nvmf" subsystem: it creates the default target at start-up, destroys it
 * at shutdown, and writes the calls that rebuild transports, subsystems,
 * hosts, namespaces and listeners into save_config.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <strings.h>

#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/json.h"
#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "nvmf_internal.h"

#define INVALID OSP_JSONRPC_ERROR_INVALID_PARAMS
#define ERRLEN 512

/* ---- helpers ---- */

static struct osp_nvmf_tgt *
rpc_get_tgt(struct osp_jsonrpc_request *request, const char *tgt_name)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_get_tgt(tgt_name);

	if (tgt == NULL) {
		if (tgt_name != NULL) {
			osp_jsonrpc_send_error_response_fmt(request, INVALID,
							    "No NVMe-oF target named '%s'", tgt_name);
		} else {
			osp_jsonrpc_send_error_response(request, INVALID,
							"The NVMe-oF target is not running");
		}
	}
	return tgt;
}

static struct osp_nvmf_subsystem *
rpc_get_subsystem(struct osp_jsonrpc_request *request, const char *tgt_name, const char *nqn)
{
	struct osp_nvmf_tgt *tgt = rpc_get_tgt(request, tgt_name);
	struct osp_nvmf_subsystem *s;

	if (tgt == NULL) {
		return NULL;
	}
	s = osp_nvmf_tgt_find_subsystem(tgt, nqn);
	if (s == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID,
						    "No subsystem with NQN '%s'", nqn);
	}
	return s;
}

static int
rpc_errcode(int rc)
{
	return rc == -ENOMEM ? OSP_JSONRPC_ERROR_INTERNAL_ERROR : INVALID;
}

/* Hex digits, optionally separated by '-', into exactly len bytes. */
static int
parse_hex_id(const char *str, uint8_t *out, size_t len)
{
	size_t n = 0;
	int hi = -1, v;

	for (; *str != '\0'; str++) {
		if (*str == '-') {
			continue;
		}
		if (!isxdigit((unsigned char)*str)) {
			return -EINVAL;
		}
		v = isdigit((unsigned char)*str) ? *str - '0' : (tolower((unsigned char)*str) - 'a' + 10);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == len) {
			return -EINVAL;
		}
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return n == len && hi < 0 ? 0 : -EINVAL;
}

static void
fmt_hex_id(char *buf, const uint8_t *id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		sprintf(buf + 2 * i, "%02X", id[i]);
	}
}

static bool
rpc_bytes_zero(const uint8_t *b, size_t n)
{
	while (n-- > 0) {
		if (*b++ != 0) {
			return false;
		}
	}
	return true;
}

static cJSON *
listen_addr_json(const struct osp_nvmf_listen_addr *a)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "trtype", osp_nvmf_trtype_str(a->trtype));
	cJSON_AddStringToObject(o, "adrfam", osp_nvmf_adrfam_str(a->adrfam));
	cJSON_AddStringToObject(o, "traddr", a->traddr);
	cJSON_AddStringToObject(o, "trsvcid", a->trsvcid);
	return o;
}

static cJSON *
ns_json(const struct osp_nvmf_ns *ns, bool for_config)
{
	const struct osp_nvmf_ns_opts *o = osp_nvmf_ns_get_opts(ns);
	char buf[64];
	cJSON *j = cJSON_CreateObject();

	osp_json_add_uint64(j, "nsid", osp_nvmf_ns_get_id(ns));
	cJSON_AddStringToObject(j, "bdev_name", osp_nvmf_ns_get_bdev_name(ns));
	if (!for_config) {
		cJSON_AddStringToObject(j, "name", osp_nvmf_ns_get_bdev_name(ns));
	}
	if (!rpc_bytes_zero(o->nguid, sizeof(o->nguid))) {
		fmt_hex_id(buf, o->nguid, sizeof(o->nguid));
		cJSON_AddStringToObject(j, "nguid", buf);
	}
	if (!rpc_bytes_zero(o->eui64, sizeof(o->eui64))) {
		fmt_hex_id(buf, o->eui64, sizeof(o->eui64));
		cJSON_AddStringToObject(j, "eui64", buf);
	}
	if (!osp_uuid_is_null(&o->uuid)) {
		osp_uuid_fmt_lower(buf, sizeof(buf), &o->uuid);
		cJSON_AddStringToObject(j, "uuid", buf);
	}
	return j;
}

/* ---- transports ---- */

struct rpc_create_transport {
	char *trtype;
	char *tgt_name;
	struct osp_nvmf_transport_opts opts;
	uint16_t max_io_qpairs_per_ctrlr;
	bool has_io_qpairs;
	const cJSON *raw[10];
};

#define TOPT(name, fn) {#name, offsetof(struct rpc_create_transport, opts.name), fn, true}
#define TRAW(name, i) {#name, offsetof(struct rpc_create_transport, raw[i]), osp_json_decode_raw, true}

static const struct osp_json_object_decoder g_create_transport_decoders[] = {
	{"trtype", offsetof(struct rpc_create_transport, trtype), osp_json_decode_string},
	{"tgt_name", offsetof(struct rpc_create_transport, tgt_name), osp_json_decode_string, true},
	TOPT(max_queue_depth, osp_json_decode_uint16),
	{"max_io_qpairs_per_ctrlr", offsetof(struct rpc_create_transport, max_io_qpairs_per_ctrlr),
	 osp_json_decode_uint16, true},
	{"max_qpairs_per_ctrlr", offsetof(struct rpc_create_transport, opts.max_qpairs_per_ctrlr),
	 osp_json_decode_uint16, true},
	TOPT(in_capsule_data_size, osp_json_decode_uint32),
	TOPT(max_io_size, osp_json_decode_uint32),
	TOPT(io_unit_size, osp_json_decode_uint32),
	TOPT(max_aq_depth, osp_json_decode_uint32),
	TOPT(num_shared_buffers, osp_json_decode_uint32),
	TOPT(buf_cache_size, osp_json_decode_uint32),
	TOPT(dif_insert_or_strip, osp_json_decode_bool),
	TOPT(zcopy, osp_json_decode_bool),
	TOPT(abort_timeout_sec, osp_json_decode_uint32),
	TOPT(acceptor_poll_rate, osp_json_decode_uint32),
	/* Transport specific: passed to the transport, which checks them. */
	TRAW(c2h_success, 0),
	TRAW(sock_priority, 1),
	TRAW(control_msg_num, 2),
	TRAW(num_cqe, 3),
	TRAW(max_srq_depth, 4),
	TRAW(no_srq, 5),
	TRAW(acceptor_backlog, 6),
	TRAW(no_wr_batching, 7),
	TRAW(ack_timeout, 8),
	TRAW(data_wr_pool_size, 9),
};

static void
rpc_nvmf_create_transport(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_create_transport req = {};
	const cJSON *trtype = cJSON_IsObject(params) ?
			      cJSON_GetObjectItemCaseSensitive(params, "trtype") : NULL;
	struct osp_nvmf_tgt *tgt;
	char err[ERRLEN] = "";
	int rc;

	/* Say first whether the transport exists at all: its defaults seed the options. */
	if (!cJSON_IsString(trtype)) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"Missing parameter 'trtype' (TCP or RDMA)");
		return;
	}
	if (osp_nvmf_transport_opts_init(trtype->valuestring, &req.opts, sizeof(req.opts)) != 0) {
		char up[32];
		size_t i;

		for (i = 0; trtype->valuestring[i] != '\0' && i < sizeof(up) - 1; i++) {
			up[i] = (char)toupper((unsigned char)trtype->valuestring[i]);
		}
		up[i] = '\0';
		osp_jsonrpc_send_error_response_fmt(request, INVALID,
						    "transport %s is not available in this build",
						    up);
		return;
	}
	req.max_io_qpairs_per_ctrlr = (uint16_t)(req.opts.max_qpairs_per_ctrlr - 1);
	if (!osp_rpc_decode_params(request, params, g_create_transport_decoders,
				   OSP_COUNTOF(g_create_transport_decoders), &req)) {
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(params, "max_io_qpairs_per_ctrlr") != NULL) {
		req.opts.max_qpairs_per_ctrlr = (uint16_t)(req.max_io_qpairs_per_ctrlr + 1);
	}
	req.opts.transport_specific = params;
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	rc = osp_nvmf_transport_create(tgt, req.trtype, &req.opts, NULL, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rpc_errcode(rc), err);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_create_transport_decoders, OSP_COUNTOF(g_create_transport_decoders),
			     &req);
}
OSP_RPC_REGISTER("nvmf_create_transport", rpc_nvmf_create_transport, OSP_RPC_RUNTIME)

static cJSON *
transport_json(struct osp_nvmf_transport *t, bool for_config)
{
	const struct osp_nvmf_transport_opts *o = &t->opts;
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "trtype", t->ops->name);
	osp_json_add_uint64(j, "max_queue_depth", o->max_queue_depth);
	osp_json_add_uint64(j, "max_io_qpairs_per_ctrlr", o->max_qpairs_per_ctrlr - 1u);
	osp_json_add_uint64(j, "in_capsule_data_size", o->in_capsule_data_size);
	osp_json_add_uint64(j, "max_io_size", o->max_io_size);
	osp_json_add_uint64(j, "io_unit_size", o->io_unit_size);
	osp_json_add_uint64(j, "max_aq_depth", o->max_aq_depth);
	osp_json_add_uint64(j, "num_shared_buffers", o->num_shared_buffers);
	osp_json_add_uint64(j, "buf_cache_size", o->buf_cache_size);
	cJSON_AddBoolToObject(j, "dif_insert_or_strip", o->dif_insert_or_strip);
	cJSON_AddBoolToObject(j, "zcopy", o->zcopy);
	osp_json_add_uint64(j, "abort_timeout_sec", o->abort_timeout_sec);
	if (!for_config) {
		osp_json_add_uint64(j, "acceptor_poll_rate", o->acceptor_poll_rate);
	}
	if (t->ops->dump_opts != NULL) {
		t->ops->dump_opts(t, j);
	}
	return j;
}

struct rpc_get_transports {
	char *trtype;
	char *tgt_name;
};

static const struct osp_json_object_decoder g_get_transports_decoders[] = {
	{"trtype", offsetof(struct rpc_get_transports, trtype), osp_json_decode_string, true},
	{"tgt_name", offsetof(struct rpc_get_transports, tgt_name), osp_json_decode_string, true},
};

static void
rpc_nvmf_get_transports(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_transports req = {};
	struct osp_nvmf_transport *t;
	struct osp_nvmf_tgt *tgt;
	cJSON *arr;

	if (!osp_rpc_decode_params(request, params, g_get_transports_decoders,
				   OSP_COUNTOF(g_get_transports_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.trtype != NULL && osp_nvmf_tgt_get_transport(tgt, req.trtype) == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID,
						    "No transport %s has been created", req.trtype);
		goto out;
	}
	arr = cJSON_CreateArray();
	for (t = osp_nvmf_transport_first(tgt); t != NULL; t = osp_nvmf_transport_next(t)) {
		if (req.trtype == NULL || strcasecmp(req.trtype, t->ops->name) == 0) {
			cJSON_AddItemToArray(arr, transport_json(t, false));
		}
	}
	osp_jsonrpc_send_result(request, arr);
out:
	osp_json_free_object(g_get_transports_decoders, OSP_COUNTOF(g_get_transports_decoders),
			     &req);
}
OSP_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, OSP_RPC_RUNTIME)

struct rpc_tgt_only {
	char *tgt_name;
};

static const struct osp_json_object_decoder g_tgt_only_decoders[] = {
	{"tgt_name", offsetof(struct rpc_tgt_only, tgt_name), osp_json_decode_string, true},
};

/* State of a data-plane RPC that visits every poll group. */
struct rpc_pg_ctx {
	struct osp_jsonrpc_request *request;
	struct osp_nvmf_subsystem *subsystem;
	cJSON *res;
	cJSON *arr;
};

static void
rpc_pg_stats(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct rpc_pg_ctx *c = nvmf_pg_iter_ctx(it);
	struct osp_nvmf_transport_poll_group *tg;
	struct nvmf_subsystem_pg *sg;
	cJSON *g = cJSON_CreateObject(), *ta = cJSON_CreateArray(), *t;
	uint64_t pending = 0;
	struct osp_nvmf_request *req;
	uint32_t i;

	for (i = 0; i < pg->num_sgroups; i++) {
		sg = &pg->sgroups[i];
		TAILQ_FOREACH(req, &sg->queued, link) {
			pending++;
		}
	}
	cJSON_AddStringToObject(g, "name", osp_thread_get_name(pg->thread));
	osp_json_add_uint64(g, "admin_qpairs", pg->admin_qpairs);
	osp_json_add_uint64(g, "io_qpairs", pg->io_qpairs);
	osp_json_add_uint64(g, "current_admin_qpairs", pg->current_admin_qpairs);
	osp_json_add_uint64(g, "current_io_qpairs", pg->current_io_qpairs);
	osp_json_add_uint64(g, "pending_bdev_io", pending);
	osp_json_add_uint64(g, "completed_nvme_io", pg->completed_nvme_io);
	TAILQ_FOREACH(tg, &pg->tgroups, link) {
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "trtype", tg->transport->ops->name);
		if (tg->transport->ops->poll_group_dump_stat != NULL) {
			tg->transport->ops->poll_group_dump_stat(tg, t);
		}
		cJSON_AddItemToArray(ta, t);
	}
	cJSON_AddItemToObject(g, "transports", ta);
	cJSON_AddItemToArray(c->arr, g);
	nvmf_pg_iter_next(it, 0);
}

static void
rpc_pg_done(void *ctx, int status)
{
	struct rpc_pg_ctx *c = ctx;

	if (status != 0) {
		cJSON_Delete(c->res);
		osp_jsonrpc_send_error_response_fmt(c->request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Poll group iteration failed: %s",
						    strerror(-status));
	} else {
		osp_jsonrpc_send_result(c->request, c->res);
	}
	free(c);
}

static void
rpc_nvmf_get_stats(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_tgt_only req = {};
	struct osp_nvmf_tgt *tgt;
	struct rpc_pg_ctx *c;

	if (!osp_rpc_decode_params(request, params, g_tgt_only_decoders,
				   OSP_COUNTOF(g_tgt_only_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	c->request = request;
	c->res = cJSON_CreateObject();
	osp_json_add_uint64(c->res, "tick_rate", osp_get_ticks_hz());
	c->arr = cJSON_CreateArray();
	cJSON_AddItemToObject(c->res, "poll_groups", c->arr);
	nvmf_pg_for_each(tgt, rpc_pg_stats, c, rpc_pg_done);
out:
	osp_json_free_object(g_tgt_only_decoders, OSP_COUNTOF(g_tgt_only_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, OSP_RPC_RUNTIME)

/* ---- subsystems ---- */

struct rpc_create_subsystem {
	char *nqn;
	char *tgt_name;
	char *serial_number;
	char *model_number;
	bool allow_any_host;
	uint32_t max_namespaces;
	bool ana_reporting;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
};

static const struct osp_json_object_decoder g_create_subsystem_decoders[] = {
	{"nqn", offsetof(struct rpc_create_subsystem, nqn), osp_json_decode_string},
	{"tgt_name", offsetof(struct rpc_create_subsystem, tgt_name), osp_json_decode_string, true},
	{"serial_number", offsetof(struct rpc_create_subsystem, serial_number),
	 osp_json_decode_string, true},
	{"model_number", offsetof(struct rpc_create_subsystem, model_number),
	 osp_json_decode_string, true},
	{"allow_any_host", offsetof(struct rpc_create_subsystem, allow_any_host),
	 osp_json_decode_bool, true},
	{"max_namespaces", offsetof(struct rpc_create_subsystem, max_namespaces),
	 osp_json_decode_uint32, true},
	{"ana_reporting", offsetof(struct rpc_create_subsystem, ana_reporting),
	 osp_json_decode_bool, true},
	{"min_cntlid", offsetof(struct rpc_create_subsystem, min_cntlid), osp_json_decode_uint16,
	 true},
	{"max_cntlid", offsetof(struct rpc_create_subsystem, max_cntlid), osp_json_decode_uint16,
	 true},
};

static void
rpc_subsystem_started(struct osp_nvmf_subsystem *s, void *cb_arg, int status)
{
	(void)s;
	(void)status;
	osp_jsonrpc_send_bool_response(cb_arg, true);
}

static void
rpc_nvmf_create_subsystem(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_create_subsystem req = {};
	struct osp_nvmf_subsystem_opts opts;
	struct osp_nvmf_subsystem *s;
	struct osp_nvmf_tgt *tgt;
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_create_subsystem_decoders,
				   OSP_COUNTOF(g_create_subsystem_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.ana_reporting) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"ana_reporting is not supported yet");
		goto out;
	}
	osp_nvmf_subsystem_opts_init(&opts, sizeof(opts));
	opts.serial_number = req.serial_number;
	opts.model_number = req.model_number;
	opts.allow_any_host = req.allow_any_host;
	opts.max_namespaces = req.max_namespaces;
	opts.min_cntlid = req.min_cntlid;
	opts.max_cntlid = req.max_cntlid;
	rc = osp_nvmf_subsystem_create(tgt, req.nqn, &opts, &s, err, sizeof(err));
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rpc_errcode(rc), err);
		goto out;
	}
	/* As in SPDK, a new subsystem is active at once (on every poll group). */
	if (osp_nvmf_subsystem_start(s, rpc_subsystem_started, request) != 0) {
		osp_jsonrpc_send_bool_response(request, true);
	}
out:
	osp_json_free_object(g_create_subsystem_decoders, OSP_COUNTOF(g_create_subsystem_decoders),
			     &req);
}
OSP_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, OSP_RPC_RUNTIME)

struct rpc_nqn {
	char *nqn;
	char *tgt_name;
};

static const struct osp_json_object_decoder g_nqn_decoders[] = {
	{"nqn", offsetof(struct rpc_nqn, nqn), osp_json_decode_string},
	{"tgt_name", offsetof(struct rpc_nqn, tgt_name), osp_json_decode_string, true},
};

static void
rpc_subsystem_deleted(void *cb_arg)
{
	osp_jsonrpc_send_bool_response(cb_arg, true);
}

static void
rpc_nvmf_delete_subsystem(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_nqn req = {};
	struct osp_nvmf_subsystem *s;

	if (!osp_rpc_decode_params(request, params, g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders),
				   &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	/* Answer once its connections are gone and it is freed, as SPDK does. */
	if (osp_nvmf_subsystem_destroy_ext(s, rpc_subsystem_deleted, request) != 0) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"The discovery subsystem cannot be deleted");
		goto out;
	}
out:
	osp_json_free_object(g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, OSP_RPC_RUNTIME)

static cJSON *
subsystem_json(struct osp_nvmf_subsystem *s)
{
	const struct osp_nvmf_listen_addr *a;
	struct osp_nvmf_ns *ns;
	const char *h;
	cJSON *j = cJSON_CreateObject(), *arr, *o;
	bool nvme = osp_nvmf_subsystem_get_type(s) == OSP_NVMF_SUBTYPE_KIND_NVME;

	cJSON_AddStringToObject(j, "nqn", osp_nvmf_subsystem_get_nqn(s));
	cJSON_AddStringToObject(j, "subtype", nvme ? "NVMe" : "Discovery");
	arr = cJSON_AddArrayToObject(j, "listen_addresses");
	for (a = osp_nvmf_subsystem_listener_first(s); a != NULL;
	     a = osp_nvmf_subsystem_listener_next(s, a)) {
		cJSON_AddItemToArray(arr, listen_addr_json(a));
	}
	cJSON_AddBoolToObject(j, "allow_any_host", osp_nvmf_subsystem_get_allow_any_host(s));
	arr = cJSON_AddArrayToObject(j, "hosts");
	for (h = osp_nvmf_subsystem_host_first(s); h != NULL;
	     h = osp_nvmf_subsystem_host_next(s, h)) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "nqn", h);
		cJSON_AddItemToArray(arr, o);
	}
	if (nvme) {
		cJSON_AddStringToObject(j, "serial_number", osp_nvmf_subsystem_get_sn(s));
		cJSON_AddStringToObject(j, "model_number", osp_nvmf_subsystem_get_mn(s));
		osp_json_add_uint64(j, "max_namespaces", osp_nvmf_subsystem_get_max_namespaces(s));
		osp_json_add_uint64(j, "min_cntlid", osp_nvmf_subsystem_get_min_cntlid(s));
		osp_json_add_uint64(j, "max_cntlid", osp_nvmf_subsystem_get_max_cntlid(s));
		arr = cJSON_AddArrayToObject(j, "namespaces");
		for (ns = osp_nvmf_subsystem_ns_first(s); ns != NULL;
		     ns = osp_nvmf_subsystem_ns_next(s, ns)) {
			cJSON_AddItemToArray(arr, ns_json(ns, false));
		}
	}
	return j;
}

struct rpc_get_subsystems {
	char *nqn;
	char *tgt_name;
};

static const struct osp_json_object_decoder g_get_subsystems_decoders[] = {
	{"nqn", offsetof(struct rpc_get_subsystems, nqn), osp_json_decode_string, true},
	{"tgt_name", offsetof(struct rpc_get_subsystems, tgt_name), osp_json_decode_string, true},
};

static void
rpc_nvmf_get_subsystems(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_subsystems req = {};
	struct osp_nvmf_subsystem *s;
	struct osp_nvmf_tgt *tgt;
	cJSON *arr;

	if (!osp_rpc_decode_params(request, params, g_get_subsystems_decoders,
				   OSP_COUNTOF(g_get_subsystems_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.nqn != NULL && osp_nvmf_tgt_find_subsystem(tgt, req.nqn) == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "No subsystem with NQN '%s'",
						    req.nqn);
		goto out;
	}
	arr = cJSON_CreateArray();
	for (s = osp_nvmf_subsystem_first(tgt); s != NULL; s = osp_nvmf_subsystem_next(s)) {
		if (req.nqn == NULL || strcmp(req.nqn, osp_nvmf_subsystem_get_nqn(s)) == 0) {
			cJSON_AddItemToArray(arr, subsystem_json(s));
		}
	}
	osp_jsonrpc_send_result(request, arr);
out:
	osp_json_free_object(g_get_subsystems_decoders, OSP_COUNTOF(g_get_subsystems_decoders),
			     &req);
}
OSP_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, OSP_RPC_RUNTIME)

/* ---- listeners ---- */

struct rpc_listener {
	char *nqn;
	char *tgt_name;
	const cJSON *listen_address;
	bool secure_channel;
	char *ana_state;
	uint32_t anagrpid;
};

static const struct osp_json_object_decoder g_listener_decoders[] = {
	{"nqn", offsetof(struct rpc_listener, nqn), osp_json_decode_string},
	{"listen_address", offsetof(struct rpc_listener, listen_address), osp_json_decode_raw},
	{"tgt_name", offsetof(struct rpc_listener, tgt_name), osp_json_decode_string, true},
	{"secure_channel", offsetof(struct rpc_listener, secure_channel), osp_json_decode_bool, true},
	{"ana_state", offsetof(struct rpc_listener, ana_state), osp_json_decode_string, true},
	{"anagrpid", offsetof(struct rpc_listener, anagrpid), osp_json_decode_uint32, true},
};

struct rpc_address {
	char *trtype;
	char *adrfam;
	char *traddr;
	char *trsvcid;
};

static const struct osp_json_object_decoder g_address_decoders[] = {
	{"trtype", offsetof(struct rpc_address, trtype), osp_json_decode_string},
	{"adrfam", offsetof(struct rpc_address, adrfam), osp_json_decode_string, true},
	{"traddr", offsetof(struct rpc_address, traddr), osp_json_decode_string},
	{"trsvcid", offsetof(struct rpc_address, trsvcid), osp_json_decode_string, true},
};

/* Decode listen_address into addr; on failure answers request and returns false. */
static bool
rpc_decode_address(struct osp_jsonrpc_request *request, const cJSON *val,
		   struct osp_nvmf_listen_addr *addr)
{
	struct rpc_address a = {};
	char err[ERRLEN];
	bool ok = false;

	if (!cJSON_IsObject(val)) {
		osp_jsonrpc_send_error_response(request, INVALID, "Invalid parameter "
						"'listen_address': expected an object with trtype, "
						"adrfam, traddr, trsvcid");
		return false;
	}
	if (osp_json_decode_object(val, g_address_decoders, OSP_COUNTOF(g_address_decoders), &a,
				   err, sizeof(err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "listen_address: %s", err);
		goto out;
	}
	if (osp_nvmf_listen_addr_parse(addr, a.trtype, a.adrfam, a.traddr, a.trsvcid, err,
				       sizeof(err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "listen_address: %s", err);
		goto out;
	}
	ok = true;
out:
	osp_json_free_object(g_address_decoders, OSP_COUNTOF(g_address_decoders), &a);
	return ok;
}

static void
rpc_nvmf_listener(struct osp_jsonrpc_request *request, const cJSON *params, bool add)
{
	struct rpc_listener req = {};
	struct osp_nvmf_listen_addr addr;
	struct osp_nvmf_subsystem *s;
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_listener_decoders,
				   OSP_COUNTOF(g_listener_decoders), &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL || !rpc_decode_address(request, req.listen_address, &addr)) {
		goto out;
	}
	if (req.secure_channel) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"secure_channel (TLS) is not supported");
		goto out;
	}
	if (add) {
		rc = osp_nvmf_subsystem_add_listener(s, &addr, err, sizeof(err));
	} else {
		rc = osp_nvmf_subsystem_remove_listener(s, &addr);
		if (rc == -ENOENT) {
			snprintf(err, sizeof(err), "Subsystem %s has no listener %s %s:%s",
				 req.nqn, osp_nvmf_trtype_str(addr.trtype), addr.traddr,
				 addr.trsvcid);
		}
	}
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rpc_errcode(rc), err);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_listener_decoders, OSP_COUNTOF(g_listener_decoders), &req);
}

static void
rpc_nvmf_subsystem_add_listener(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_nvmf_listener(request, params, true);
}
OSP_RPC_REGISTER("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener, OSP_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_remove_listener(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_nvmf_listener(request, params, false);
}
OSP_RPC_REGISTER("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener,
		 OSP_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_listeners(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_nqn req = {};
	const struct osp_nvmf_listen_addr *a;
	struct osp_nvmf_subsystem *s;
	cJSON *arr, *o;

	if (!osp_rpc_decode_params(request, params, g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders),
				   &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	arr = cJSON_CreateArray();
	for (a = osp_nvmf_subsystem_listener_first(s); a != NULL;
	     a = osp_nvmf_subsystem_listener_next(s, a)) {
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "address", listen_addr_json(a));
		cJSON_AddItemToArray(arr, o);
	}
	osp_jsonrpc_send_result(request, arr);
out:
	osp_json_free_object(g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners,
		 OSP_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_controllers(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_nqn req = {};
	struct osp_nvmf_subsystem *s;
	struct nvmf_ctrlr *ctrlr;
	struct osp_uuid hostid;
	char buf[64];
	cJSON *arr, *o;

	if (!osp_rpc_decode_params(request, params, g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders),
				   &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	arr = cJSON_CreateArray();
	/* The list and these fields belong to this (the target's) thread. */
	TAILQ_FOREACH(ctrlr, &s->ctrlrs, link) {
		if (ctrlr->destroying || ctrlr->thread == NULL) {
			continue;
		}
		o = cJSON_CreateObject();
		osp_json_add_uint64(o, "cntlid", ctrlr->cntlid);
		cJSON_AddStringToObject(o, "hostnqn", ctrlr->hostnqn);
		memcpy(&hostid, ctrlr->hostid, sizeof(hostid));
		osp_uuid_fmt_lower(buf, sizeof(buf), &hostid);
		cJSON_AddStringToObject(o, "hostid", buf);
		osp_json_add_uint64(o, "num_io_qpairs",
				    __atomic_load_n(&ctrlr->num_io_qpairs, __ATOMIC_RELAXED));
		cJSON_AddItemToArray(arr, o);
	}
	osp_jsonrpc_send_result(request, arr);
out:
	osp_json_free_object(g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		 OSP_RPC_RUNTIME)

static void
rpc_pg_qpairs(struct nvmf_poll_group *pg, struct nvmf_pg_iter *it)
{
	struct rpc_pg_ctx *c = nvmf_pg_iter_ctx(it);
	struct osp_nvmf_listen_addr a;
	struct nvmf_qpair *qp;
	cJSON *o;

	TAILQ_FOREACH(qp, &pg->qpairs, link) {
		const struct osp_nvmf_transport_ops *ops = qp->qpair->transport->ops;

		if (qp->ctrlr == NULL || qp->ctrlr->subsys != c->subsystem) {
			continue;
		}
		o = cJSON_CreateObject();
		osp_json_add_uint64(o, "cntlid", qp->ctrlr->cntlid);
		osp_json_add_uint64(o, "qid", qp->qpair->qid);
		cJSON_AddStringToObject(o, "hostnqn", qp->ctrlr->hostnqn);
		cJSON_AddStringToObject(o, "state", qp->disconnecting ? "deactivating" : "active");
		cJSON_AddStringToObject(o, "thread", osp_thread_get_name(pg->thread));
		if (ops->qpair_get_local_addr != NULL && ops->qpair_get_local_addr(qp->qpair, &a) == 0) {
			cJSON_AddItemToObject(o, "listen_address", listen_addr_json(&a));
		}
		if (ops->qpair_get_peer_addr != NULL && ops->qpair_get_peer_addr(qp->qpair, &a) == 0) {
			cJSON_AddItemToObject(o, "peer_address", listen_addr_json(&a));
		}
		cJSON_AddItemToArray(c->arr, o);
	}
	nvmf_pg_iter_next(it, 0);
}

static void
rpc_nvmf_subsystem_get_qpairs(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_nqn req = {};
	struct osp_nvmf_subsystem *s;
	struct rpc_pg_ctx *c;

	if (!osp_rpc_decode_params(request, params, g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders),
				   &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	c->request = request;
	c->subsystem = s;
	c->arr = cJSON_CreateArray();
	c->res = c->arr;
	nvmf_pg_for_each(s->tgt, rpc_pg_qpairs, c, rpc_pg_done);
out:
	osp_json_free_object(g_nqn_decoders, OSP_COUNTOF(g_nqn_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, OSP_RPC_RUNTIME)

/* ---- namespaces ---- */

struct rpc_add_ns {
	char *nqn;
	char *tgt_name;
	const cJSON *namespace;
};

static const struct osp_json_object_decoder g_add_ns_decoders[] = {
	{"nqn", offsetof(struct rpc_add_ns, nqn), osp_json_decode_string},
	{"namespace", offsetof(struct rpc_add_ns, namespace), osp_json_decode_raw},
	{"tgt_name", offsetof(struct rpc_add_ns, tgt_name), osp_json_decode_string, true},
};

struct rpc_ns_params {
	char *bdev_name;
	uint32_t nsid;
	char *uuid;
	char *nguid;
	char *eui64;
	char *ptpl_file;
	uint32_t anagrpid;
	bool no_auto_visible;
};

static const struct osp_json_object_decoder g_ns_decoders[] = {
	{"bdev_name", offsetof(struct rpc_ns_params, bdev_name), osp_json_decode_string},
	{"nsid", offsetof(struct rpc_ns_params, nsid), osp_json_decode_uint32, true},
	{"uuid", offsetof(struct rpc_ns_params, uuid), osp_json_decode_string, true},
	{"nguid", offsetof(struct rpc_ns_params, nguid), osp_json_decode_string, true},
	{"eui64", offsetof(struct rpc_ns_params, eui64), osp_json_decode_string, true},
	{"ptpl_file", offsetof(struct rpc_ns_params, ptpl_file), osp_json_decode_string, true},
	{"anagrpid", offsetof(struct rpc_ns_params, anagrpid), osp_json_decode_uint32, true},
	{"no_auto_visible", offsetof(struct rpc_ns_params, no_auto_visible), osp_json_decode_bool,
	 true},
};

/* A namespace change through the RPC: pause an active subsystem, change, resume. */
struct rpc_ns_change {
	struct osp_jsonrpc_request *request;
	bool add;
	bool was_active;
	char *bdev_name;
	struct osp_nvmf_ns_opts opts;
	uint32_t nsid;
	int rc;
	char err[ERRLEN];
};

static void
rpc_ns_change_reply(struct rpc_ns_change *c)
{
	if (c->rc < 0) {
		osp_jsonrpc_send_error_response(c->request, rpc_errcode(c->rc), c->err);
	} else if (c->add) {
		osp_jsonrpc_send_result(c->request, cJSON_CreateNumber(c->rc));
	} else {
		osp_jsonrpc_send_bool_response(c->request, true);
	}
	free(c->bdev_name);
	free(c);
}

static void
rpc_ns_change_resumed(struct osp_nvmf_subsystem *s, void *cb_arg, int status)
{
	(void)s;
	(void)status;
	rpc_ns_change_reply(cb_arg);
}

static void
rpc_ns_change_apply(struct osp_nvmf_subsystem *s, void *cb_arg, int status)
{
	struct rpc_ns_change *c = cb_arg;

	(void)status;
	if (c->add) {
		c->rc = osp_nvmf_subsystem_add_ns(s, c->bdev_name, &c->opts, c->err, sizeof(c->err));
	} else {
		c->rc = osp_nvmf_subsystem_remove_ns(s, c->nsid);
		snprintf(c->err, sizeof(c->err), "Subsystem %s has no namespace %u",
			 osp_nvmf_subsystem_get_nqn(s), c->nsid);
	}
	if (c->was_active && osp_nvmf_subsystem_resume(s, rpc_ns_change_resumed, c) == 0) {
		return;
	}
	rpc_ns_change_reply(c);
}

static void
rpc_ns_change_start(struct osp_nvmf_subsystem *s, struct rpc_ns_change *c)
{
	int rc;

	if (osp_nvmf_subsystem_get_state(s) == OSP_NVMF_SUBSYSTEM_ACTIVE) {
		c->was_active = true;
		rc = osp_nvmf_subsystem_pause(s, rpc_ns_change_apply, c);
		if (rc != 0) {
			c->rc = rc;
			snprintf(c->err, sizeof(c->err), "Subsystem %s is changing state: try again",
				 osp_nvmf_subsystem_get_nqn(s));
			rpc_ns_change_reply(c);
		}
		return;
	}
	rpc_ns_change_apply(s, c, 0);
}

static void
rpc_nvmf_subsystem_add_ns(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_add_ns req = {};
	struct rpc_ns_params nsp = {};
	struct osp_nvmf_ns_opts opts;
	struct osp_nvmf_subsystem *s;
	struct rpc_ns_change *c;
	char err[ERRLEN] = "";

	if (!osp_rpc_decode_params(request, params, g_add_ns_decoders,
				   OSP_COUNTOF(g_add_ns_decoders), &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	if (!cJSON_IsObject(req.namespace)) {
		osp_jsonrpc_send_error_response(request, INVALID, "Invalid parameter 'namespace': "
						"expected an object with bdev_name and optional "
						"nsid, uuid, nguid, eui64");
		goto out;
	}
	if (osp_json_decode_object(req.namespace, g_ns_decoders, OSP_COUNTOF(g_ns_decoders), &nsp,
				   err, sizeof(err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "namespace: %s", err);
		goto out;
	}
	osp_nvmf_ns_opts_init(&opts, sizeof(opts));
	opts.nsid = nsp.nsid;
	if (nsp.uuid != NULL && osp_uuid_parse(&opts.uuid, nsp.uuid) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "Invalid uuid '%s': expected "
						    "8-4-4-4-12 hex digits", nsp.uuid);
		goto out;
	}
	if (nsp.nguid != NULL && parse_hex_id(nsp.nguid, opts.nguid, sizeof(opts.nguid)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "Invalid nguid '%s': expected "
						    "32 hex digits", nsp.nguid);
		goto out;
	}
	if (nsp.eui64 != NULL && parse_hex_id(nsp.eui64, opts.eui64, sizeof(opts.eui64)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "Invalid eui64 '%s': expected "
						    "16 hex digits", nsp.eui64);
		goto out;
	}
	if (nsp.ptpl_file != NULL || nsp.no_auto_visible || nsp.anagrpid != 0) {
		osp_jsonrpc_send_error_response(request, INVALID, "ptpl_file, anagrpid and "
						"no_auto_visible are not supported yet");
		goto out;
	}
	/* The namespace set changes only while no I/O is being started: pause around it. */
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->bdev_name = strdup(nsp.bdev_name)) == NULL) {
		free(c);
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	c->request = request;
	c->opts = opts;
	c->add = true;
	rpc_ns_change_start(s, c);
out:
	osp_json_free_object(g_ns_decoders, OSP_COUNTOF(g_ns_decoders), &nsp);
	osp_json_free_object(g_add_ns_decoders, OSP_COUNTOF(g_add_ns_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns, OSP_RPC_RUNTIME)

struct rpc_remove_ns {
	char *nqn;
	char *tgt_name;
	uint32_t nsid;
};

static const struct osp_json_object_decoder g_remove_ns_decoders[] = {
	{"nqn", offsetof(struct rpc_remove_ns, nqn), osp_json_decode_string},
	{"nsid", offsetof(struct rpc_remove_ns, nsid), osp_json_decode_uint32},
	{"tgt_name", offsetof(struct rpc_remove_ns, tgt_name), osp_json_decode_string, true},
};

static void
rpc_nvmf_subsystem_remove_ns(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_remove_ns req = {};
	struct osp_nvmf_subsystem *s;
	struct rpc_ns_change *c;

	if (!osp_rpc_decode_params(request, params, g_remove_ns_decoders,
				   OSP_COUNTOF(g_remove_ns_decoders), &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	if (osp_nvmf_subsystem_get_ns(s, req.nsid) == NULL) {
		osp_jsonrpc_send_error_response_fmt(request, INVALID, "Subsystem %s has no "
						    "namespace %u", req.nqn, req.nsid);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		goto out;
	}
	c->request = request;
	c->nsid = req.nsid;
	rpc_ns_change_start(s, c);
out:
	osp_json_free_object(g_remove_ns_decoders, OSP_COUNTOF(g_remove_ns_decoders), &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns, OSP_RPC_RUNTIME)

/* ---- hosts ---- */

struct rpc_host {
	char *nqn;
	char *host;
	char *tgt_name;
};

static const struct osp_json_object_decoder g_host_decoders[] = {
	{"nqn", offsetof(struct rpc_host, nqn), osp_json_decode_string},
	{"host", offsetof(struct rpc_host, host), osp_json_decode_string},
	{"tgt_name", offsetof(struct rpc_host, tgt_name), osp_json_decode_string, true},
};

static void
rpc_nvmf_host(struct osp_jsonrpc_request *request, const cJSON *params, bool add)
{
	struct rpc_host req = {};
	struct osp_nvmf_subsystem *s;
	char err[ERRLEN] = "";
	int rc;

	if (!osp_rpc_decode_params(request, params, g_host_decoders,
				   OSP_COUNTOF(g_host_decoders), &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	if (add) {
		rc = osp_nvmf_subsystem_add_host(s, req.host, err, sizeof(err));
	} else {
		rc = osp_nvmf_subsystem_remove_host(s, req.host);
		snprintf(err, sizeof(err), "Host %s is not on the allow list of %s", req.host,
			 req.nqn);
	}
	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rpc_errcode(rc), err);
		goto out;
	}
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_host_decoders, OSP_COUNTOF(g_host_decoders), &req);
}

static void
rpc_nvmf_subsystem_add_host(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_nvmf_host(request, params, true);
}
OSP_RPC_REGISTER("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host, OSP_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_remove_host(struct osp_jsonrpc_request *request, const cJSON *params)
{
	rpc_nvmf_host(request, params, false);
}
OSP_RPC_REGISTER("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host, OSP_RPC_RUNTIME)

struct rpc_allow_any_host {
	char *nqn;
	char *tgt_name;
	bool allow_any_host;
};

static const struct osp_json_object_decoder g_allow_any_host_decoders[] = {
	{"nqn", offsetof(struct rpc_allow_any_host, nqn), osp_json_decode_string},
	{"allow_any_host", offsetof(struct rpc_allow_any_host, allow_any_host),
	 osp_json_decode_bool},
	{"tgt_name", offsetof(struct rpc_allow_any_host, tgt_name), osp_json_decode_string, true},
};

static void
rpc_nvmf_subsystem_allow_any_host(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_allow_any_host req = {};
	struct osp_nvmf_subsystem *s;

	if (!osp_rpc_decode_params(request, params, g_allow_any_host_decoders,
				   OSP_COUNTOF(g_allow_any_host_decoders), &req)) {
		goto out;
	}
	s = rpc_get_subsystem(request, req.tgt_name, req.nqn);
	if (s == NULL) {
		goto out;
	}
	if (osp_nvmf_subsystem_get_type(s) == OSP_NVMF_SUBTYPE_KIND_DISCOVERY) {
		osp_jsonrpc_send_error_response(request, INVALID,
						"The discovery subsystem always allows any host");
		goto out;
	}
	osp_nvmf_subsystem_set_allow_any_host(s, req.allow_any_host);
	osp_jsonrpc_send_bool_response(request, true);
out:
	osp_json_free_object(g_allow_any_host_decoders, OSP_COUNTOF(g_allow_any_host_decoders),
			     &req);
}
OSP_RPC_REGISTER("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host,
		 OSP_RPC_RUNTIME)

/* ---- the "nvmf" subsystem ---- */

static void
nvmf_write_config_json(cJSON *config)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_get_tgt(NULL);
	const struct osp_nvmf_listen_addr *a;
	struct osp_nvmf_transport *t;
	struct osp_nvmf_subsystem *s;
	struct osp_nvmf_ns *ns;
	const char *h;
	cJSON *p;

	if (tgt == NULL) {
		return;
	}
	for (t = osp_nvmf_transport_first(tgt); t != NULL; t = osp_nvmf_transport_next(t)) {
		osp_json_add_rpc_call(config, "nvmf_create_transport", transport_json(t, true));
	}
	for (s = osp_nvmf_subsystem_first(tgt); s != NULL; s = osp_nvmf_subsystem_next(s)) {
		const char *nqn = osp_nvmf_subsystem_get_nqn(s);

		if (osp_nvmf_subsystem_get_type(s) == OSP_NVMF_SUBTYPE_KIND_NVME) {
			p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "nqn", nqn);
			cJSON_AddBoolToObject(p, "allow_any_host",
					      osp_nvmf_subsystem_get_allow_any_host(s));
			cJSON_AddStringToObject(p, "serial_number", osp_nvmf_subsystem_get_sn(s));
			cJSON_AddStringToObject(p, "model_number", osp_nvmf_subsystem_get_mn(s));
			osp_json_add_uint64(p, "max_namespaces",
					    osp_nvmf_subsystem_get_max_namespaces(s));
			osp_json_add_uint64(p, "min_cntlid", osp_nvmf_subsystem_get_min_cntlid(s));
			osp_json_add_uint64(p, "max_cntlid", osp_nvmf_subsystem_get_max_cntlid(s));
			cJSON_AddBoolToObject(p, "ana_reporting",
					      osp_nvmf_subsystem_get_ana_reporting(s));
			osp_json_add_rpc_call(config, "nvmf_create_subsystem", p);
			for (h = osp_nvmf_subsystem_host_first(s); h != NULL;
			     h = osp_nvmf_subsystem_host_next(s, h)) {
				p = cJSON_CreateObject();
				cJSON_AddStringToObject(p, "nqn", nqn);
				cJSON_AddStringToObject(p, "host", h);
				osp_json_add_rpc_call(config, "nvmf_subsystem_add_host", p);
			}
			for (ns = osp_nvmf_subsystem_ns_first(s); ns != NULL;
			     ns = osp_nvmf_subsystem_ns_next(s, ns)) {
				p = cJSON_CreateObject();
				cJSON_AddStringToObject(p, "nqn", nqn);
				cJSON_AddItemToObject(p, "namespace", ns_json(ns, true));
				osp_json_add_rpc_call(config, "nvmf_subsystem_add_ns", p);
			}
		}
		for (a = osp_nvmf_subsystem_listener_first(s); a != NULL;
		     a = osp_nvmf_subsystem_listener_next(s, a)) {
			p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "nqn", nqn);
			cJSON_AddItemToObject(p, "listen_address", listen_addr_json(a));
			osp_json_add_rpc_call(config, "nvmf_subsystem_add_listener", p);
		}
	}
}

static uint32_t g_pg_pending;
static int g_pg_rc;

static void
nvmf_poll_group_created(void *arg, int rc)
{
	(void)arg;
	if (rc != 0) {
		g_pg_rc = rc;
	}
	if (--g_pg_pending == 0) {
		if (g_pg_rc != 0) {
			OSP_ERRLOG("cannot create the NVMe-oF poll groups: %s\n", strerror(-g_pg_rc));
		}
		osp_subsystem_init_next(g_pg_rc);
	}
}

/* One poll group thread per core of the app, pinned to it. */
static void
nvmf_subsystem_init(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_tgt_create(NULL, 0);
	struct osp_cpuset mask;
	struct osp_thread *thread;
	char name[OSP_THREAD_NAME_MAX];
	uint32_t core;
	int rc;

	if (tgt == NULL) {
		OSP_ERRLOG("cannot create the NVMe-oF target: out of memory\n");
		osp_subsystem_init_next(-ENOMEM);
		return;
	}
	nvmf_set_default_tgt(tgt);
	g_pg_pending = 1;	/* held until every group was asked for */
	g_pg_rc = 0;
	OSP_ENV_FOREACH_CORE(core) {
		osp_cpuset_zero(&mask);
		osp_cpuset_set_cpu(&mask, core, true);
		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%03u", core);
		thread = osp_thread_create(name, &mask);
		if (thread == NULL) {
			g_pg_rc = -ENOMEM;
			break;
		}
		g_pg_pending++;
		rc = nvmf_tgt_add_poll_group(tgt, thread, true, nvmf_poll_group_created, NULL);
		if (rc != 0) {
			g_pg_pending--;
			g_pg_rc = rc;
			break;
		}
	}
	nvmf_poll_group_created(NULL, 0);
}

static void
nvmf_tgt_shut_down(void *arg)
{
	struct osp_nvmf_tgt *tgt = arg;

	osp_nvmf_tgt_destroy(tgt);
	nvmf_set_default_tgt(NULL);
	osp_subsystem_fini_next();
}

/* Connections may be open: disconnect them and wait before freeing the target. */
static void
nvmf_subsystem_fini(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_get_tgt(NULL);

	if (tgt == NULL) {
		osp_subsystem_fini_next();
		return;
	}
	nvmf_tgt_shutdown(tgt, nvmf_tgt_shut_down, tgt);
}

static struct osp_subsystem g_nvmf_subsystem = {
	.name = "nvmf",
	.init = nvmf_subsystem_init,
	.fini = nvmf_subsystem_fini,
	.write_config_json = nvmf_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_nvmf_subsystem)
OSP_SUBSYSTEM_DEPEND(nvmf, bdev)
OSP_SUBSYSTEM_DEPEND(nvmf, sock)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPCs of the NVMe bdev module, with SPDK's names and parameters:
 * bdev_nvme_attach_controller, bdev_nvme_detach_controller,
 * bdev_nvme_get_controllers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_nvme.h"

struct rpc_attach {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostnqn;
	char *hostaddr;
	char *hostsvcid;
	bool prchk_reftag;
	bool prchk_guard;
	bool hdgst;
	bool ddgst;
	uint64_t fabrics_connect_timeout_us;
	uint32_t num_io_queues;
	/* Accepted for SPDK clients, not used (single path, no reconnect policy yet). */
	cJSON *priority;
	char *multipath;
	int64_t ctrlr_loss_timeout_sec;
	int64_t reconnect_delay_sec;
	int64_t fast_io_fail_timeout_sec;
};

static int
decode_any(const cJSON *val, void *out, char *err, size_t errlen)
{
	return 0;
}

static int
decode_int64(const cJSON *val, void *out, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(val)) {
		snprintf(err, errlen, "expected a number");
		return -EINVAL;
	}
	*(int64_t *)out = (int64_t)val->valuedouble;
	return 0;
}

static const struct osp_json_object_decoder g_attach_decoders[] = {
	{"name", offsetof(struct rpc_attach, name), osp_json_decode_string},
	{"trtype", offsetof(struct rpc_attach, trtype), osp_json_decode_string},
	{"traddr", offsetof(struct rpc_attach, traddr), osp_json_decode_string},
	{"adrfam", offsetof(struct rpc_attach, adrfam), osp_json_decode_string, true},
	{"trsvcid", offsetof(struct rpc_attach, trsvcid), osp_json_decode_string, true},
	{"subnqn", offsetof(struct rpc_attach, subnqn), osp_json_decode_string, true},
	{"hostnqn", offsetof(struct rpc_attach, hostnqn), osp_json_decode_string, true},
	{"hostaddr", offsetof(struct rpc_attach, hostaddr), osp_json_decode_string, true},
	{"hostsvcid", offsetof(struct rpc_attach, hostsvcid), osp_json_decode_string, true},
	{"prchk_reftag", offsetof(struct rpc_attach, prchk_reftag), osp_json_decode_bool, true},
	{"prchk_guard", offsetof(struct rpc_attach, prchk_guard), osp_json_decode_bool, true},
	{"hdgst", offsetof(struct rpc_attach, hdgst), osp_json_decode_bool, true},
	{"ddgst", offsetof(struct rpc_attach, ddgst), osp_json_decode_bool, true},
	{"fabrics_connect_timeout_us", offsetof(struct rpc_attach, fabrics_connect_timeout_us), osp_json_decode_uint64, true},
	{"num_io_queues", offsetof(struct rpc_attach, num_io_queues), osp_json_decode_uint32, true},
	{"priority", offsetof(struct rpc_attach, priority), decode_any, true},
	{"multipath", offsetof(struct rpc_attach, multipath), osp_json_decode_string, true},
	{"ctrlr_loss_timeout_sec", offsetof(struct rpc_attach, ctrlr_loss_timeout_sec), decode_int64, true},
	{"reconnect_delay_sec", offsetof(struct rpc_attach, reconnect_delay_sec), decode_int64, true},
	{"fast_io_fail_timeout_sec", offsetof(struct rpc_attach, fast_io_fail_timeout_sec), decode_int64, true},
};

static void
rpc_attach_done(void *cb_arg, int rc, const char *msg, const char **names, size_t num_names)
{
	struct osp_jsonrpc_request *request = cb_arg;
	cJSON *arr;
	size_t i;

	if (rc != 0) {
		osp_jsonrpc_send_error_response(request, rc, msg);
		return;
	}
	arr = cJSON_CreateArray();
	for (i = 0; arr != NULL && i < num_names; i++) {
		cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
	}
	osp_jsonrpc_send_result(request, arr);
}

static bool
copy_field(struct osp_jsonrpc_request *request, char *dst, size_t size, const char *src,
	   const char *what)
{
	if (src == NULL) {
		return true;
	}
	if (strlen(src) >= size) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid %s: longer than %zu characters", what,
						    size - 1);
		return false;
	}
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static void
rpc_bdev_nvme_attach_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_attach req = {};
	struct bdev_nvme_attach_opts *opts;
	char nqn_err[256];
	int rc;

	if (!osp_rpc_decode_params(request, params, g_attach_decoders,
				   OSP_COUNTOF(g_attach_decoders), &req)) {
		return;
	}
	opts = calloc(1, sizeof(*opts));
	if (opts == NULL) {
		osp_jsonrpc_send_error_response(request, -ENOMEM, "Out of memory");
		goto out;
	}
	if (req.name[0] == '\0' || strlen(req.name) >= sizeof(opts->name) - 12 ||
	    strchr(req.name, ' ') != NULL) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid name '%s': 1 to %zu characters, no spaces",
						    req.name, sizeof(opts->name) - 13);
		goto out;
	}
	snprintf(opts->name, sizeof(opts->name), "%s", req.name);
	if (osp_nvme_transport_id_parse_trtype(&opts->trid.trtype, req.trtype) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid trtype '%s': expected tcp, rdma or pcie",
						    req.trtype);
		goto out;
	}
	if (opts->trid.trtype == OSP_NVME_TRANSPORT_PCIE) {
		/* A local controller: traddr is its PCI address; no adrfam, port or NQN. */
		char s[64 + OSP_NVME_TRADDR_MAX_LEN];

		if (req.adrfam != NULL || req.trsvcid != NULL || req.hdgst || req.ddgst ||
		    req.hostaddr != NULL || req.hostsvcid != NULL) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "adrfam, trsvcid, hostaddr, hostsvcid and "
							    "digests do not apply to pcie");
			goto out;
		}
		snprintf(s, sizeof(s), "trtype:PCIe traddr:%s", req.traddr);
		if (strchr(req.traddr, ' ') != NULL ||
		    osp_nvme_transport_id_parse(&opts->trid, s) != 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid traddr '%s': expected a PCI "
							    "address such as 0000:00:04.0", req.traddr);
			goto out;
		}
		goto ctrlr_opts;
	}
	if (opts->trid.trtype != OSP_NVME_TRANSPORT_TCP &&
	    opts->trid.trtype != OSP_NVME_TRANSPORT_RDMA) {
		osp_jsonrpc_send_error_response_fmt(request, -ENOTSUP,
						    "Transport '%s' is not supported: only tcp, rdma and "
						    "pcie", req.trtype);
		goto out;
	}
	if (opts->trid.trtype == OSP_NVME_TRANSPORT_RDMA && (req.hdgst || req.ddgst)) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "hdgst and ddgst are NVMe/TCP digests: they do not "
						    "apply to rdma");
		goto out;
	}
	snprintf(opts->trid.trstring, sizeof(opts->trid.trstring), "%s",
		 opts->trid.trtype == OSP_NVME_TRANSPORT_RDMA ? "RDMA" : "TCP");
	if (req.adrfam != NULL) {
		if (osp_nvme_transport_id_parse_adrfam(&opts->trid.adrfam, req.adrfam) != 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid adrfam '%s': expected ipv4 or ipv6",
							    req.adrfam);
			goto out;
		}
	} else {
		opts->trid.adrfam = strchr(req.traddr, ':') ? OSP_NVMF_ADRFAM_IPV6 :
				    OSP_NVMF_ADRFAM_IPV4;
	}
	if (!copy_field(request, opts->trid.traddr, sizeof(opts->trid.traddr), req.traddr,
			"traddr") ||
	    !copy_field(request, opts->trid.trsvcid, sizeof(opts->trid.trsvcid),
			req.trsvcid ? req.trsvcid : "4420", "trsvcid") ||
	    !copy_field(request, opts->trid.subnqn, sizeof(opts->trid.subnqn),
			req.subnqn ? req.subnqn : OSP_NVMF_DISCOVERY_NQN, "subnqn") ||
	    !copy_field(request, opts->hostaddr, sizeof(opts->hostaddr), req.hostaddr,
			"hostaddr") ||
	    !copy_field(request, opts->hostsvcid, sizeof(opts->hostsvcid), req.hostsvcid,
			"hostsvcid")) {
		goto out;
	}
	if (osp_nqn_check(opts->trid.subnqn, nqn_err, sizeof(nqn_err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid subnqn: %s", nqn_err);
		goto out;
	}
	{
		uint64_t port;

		if (osp_parse_u64(opts->trid.trsvcid, 10, &port) != 0 || port == 0 || port > 65535) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid trsvcid '%s': expected a port number 1-65535",
							    opts->trid.trsvcid);
			goto out;
		}
	}
ctrlr_opts:
	osp_nvme_ctrlr_opts_init(&opts->ctrlr_opts, sizeof(opts->ctrlr_opts));
	if (req.hostnqn != NULL) {
		if (osp_nqn_check(req.hostnqn, nqn_err, sizeof(nqn_err)) != 0) {
			osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
							    "Invalid hostnqn: %s", nqn_err);
			goto out;
		}
		snprintf(opts->ctrlr_opts.hostnqn, sizeof(opts->ctrlr_opts.hostnqn), "%s",
			 req.hostnqn);
		opts->hostnqn_given = true;
	}
	opts->ctrlr_opts.header_digest = req.hdgst;
	opts->ctrlr_opts.data_digest = req.ddgst;
	if (req.num_io_queues != 0) {
		opts->ctrlr_opts.num_io_queues = req.num_io_queues;
	}
	if (req.fabrics_connect_timeout_us != 0) {
		uint64_t ms = (req.fabrics_connect_timeout_us + 999) / 1000;

		opts->ctrlr_opts.transport_connect_timeout_ms = (uint32_t)OSP_MIN(ms, 600000);
		opts->ctrlr_opts.admin_timeout_ms = (uint32_t)OSP_MIN(ms, 600000);
	}
	opts->prchk_reftag = req.prchk_reftag;
	opts->prchk_guard = req.prchk_guard;

	rc = bdev_nvme_attach(opts, rpc_attach_done, request);
	switch (rc) {
	case 0:
		break;
	case -EEXIST:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "A controller named '%s' already exists (see bdev_nvme_get_controllers)",
						    req.name);
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot attach controller %s to %s%s%s: %s",
						    req.name, req.traddr,
						    opts->trid.trsvcid[0] ? ":" : "",
						    opts->trid.trsvcid, strerror(-rc));
		break;
	}
out:
	free(opts);
	osp_json_free_object(g_attach_decoders, OSP_COUNTOF(g_attach_decoders), &req);
}
OSP_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller, OSP_RPC_RUNTIME)

struct rpc_detach {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostaddr;
	char *hostsvcid;
};

static const struct osp_json_object_decoder g_detach_decoders[] = {
	{"name", offsetof(struct rpc_detach, name), osp_json_decode_string},
	{"trtype", offsetof(struct rpc_detach, trtype), osp_json_decode_string, true},
	{"traddr", offsetof(struct rpc_detach, traddr), osp_json_decode_string, true},
	{"adrfam", offsetof(struct rpc_detach, adrfam), osp_json_decode_string, true},
	{"trsvcid", offsetof(struct rpc_detach, trsvcid), osp_json_decode_string, true},
	{"subnqn", offsetof(struct rpc_detach, subnqn), osp_json_decode_string, true},
	{"hostaddr", offsetof(struct rpc_detach, hostaddr), osp_json_decode_string, true},
	{"hostsvcid", offsetof(struct rpc_detach, hostsvcid), osp_json_decode_string, true},
};

static void
rpc_detach_done(void *cb_arg, int rc)
{
	struct osp_jsonrpc_request *request = cb_arg;

	if (rc == 0) {
		osp_jsonrpc_send_bool_response(request, true);
	} else {
		osp_jsonrpc_send_error_response_fmt(request, rc, "Detaching the controller failed: %s",
						    strerror(-rc));
	}
}

static void
rpc_bdev_nvme_detach_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_detach req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_detach_decoders,
				   OSP_COUNTOF(g_detach_decoders), &req)) {
		return;
	}
	/* One path per controller: the path filters only have to match it (not checked). */
	rc = bdev_nvme_detach(req.name, rpc_detach_done, request);
	if (rc == -ENODEV) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "No NVMe controller named '%s' (see bdev_nvme_get_controllers)",
						    req.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Controller '%s' is busy (being attached or deleted): try again",
						    req.name);
	}
	osp_json_free_object(g_detach_decoders, OSP_COUNTOF(g_detach_decoders), &req);
}
OSP_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller, OSP_RPC_RUNTIME)

struct rpc_get_ctrlrs {
	char *name;
};

static const struct osp_json_object_decoder g_get_decoders[] = {
	{"name", offsetof(struct rpc_get_ctrlrs, name), osp_json_decode_string, true},
};

static void
rpc_bdev_nvme_get_controllers(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_ctrlrs req = {};
	cJSON *arr;

	if (!osp_rpc_decode_params(request, params, g_get_decoders, OSP_COUNTOF(g_get_decoders),
				   &req)) {
		return;
	}
	arr = cJSON_CreateArray();
	if (bdev_nvme_get_controllers_json(req.name, arr) != 0) {
		cJSON_Delete(arr);
		osp_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "No NVMe controller named '%s'", req.name);
	} else {
		osp_jsonrpc_send_result(request, arr);
	}
	osp_json_free_object(g_get_decoders, OSP_COUNTOF(g_get_decoders), &req);
}
OSP_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, OSP_RPC_RUNTIME)

struct rpc_reset {
	char *name;
};

static const struct osp_json_object_decoder g_reset_decoders[] = {
	{"name", offsetof(struct rpc_reset, name), osp_json_decode_string},
};

static void
rpc_reset_done(void *cb_arg, int rc)
{
	struct osp_jsonrpc_request *request = cb_arg;

	if (rc == 0) {
		osp_jsonrpc_send_bool_response(request, true);
	} else {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Controller reset failed: %s (the controller stays failed; "
						    "try again once the target is reachable)", strerror(-rc));
	}
}

static void
rpc_bdev_nvme_reset_controller(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_reset req = {};
	int rc;

	if (!osp_rpc_decode_params(request, params, g_reset_decoders,
				   OSP_COUNTOF(g_reset_decoders), &req)) {
		return;
	}
	rc = bdev_nvme_reset_controller(req.name, rpc_reset_done, request);
	if (rc == -ENODEV) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "No NVMe controller named '%s' (see bdev_nvme_get_controllers)",
						    req.name);
	} else if (rc != 0) {
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot reset controller '%s': %s", req.name,
						    rc == -EBUSY ? "it is being attached or deleted" :
						    strerror(-rc));
	}
	osp_json_free_object(g_reset_decoders, OSP_COUNTOF(g_reset_decoders), &req);
}
OSP_RPC_REGISTER("bdev_nvme_reset_controller", rpc_bdev_nvme_reset_controller, OSP_RPC_RUNTIME)

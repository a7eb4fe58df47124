/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the malloc bdev: bdev_malloc_create, bdev_malloc_delete (SPDK's names and params). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/rpc.h"
#include "osprey/util.h"

#include "bdev_malloc.h"

struct rpc_malloc_create {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t physical_block_size;
	uint32_t optimal_io_boundary;
	/* Accepted for compatibility with SPDK's clients; only "none" is supported. */
	uint32_t md_size;
	bool md_interleave;
	int32_t dif_type;
	bool dif_is_head_of_md;
	int32_t dif_pi_format;
};

static const struct osp_json_object_decoder g_malloc_create_decoders[] = {
	{"name", offsetof(struct rpc_malloc_create, name), osp_json_decode_string, true},
	{"uuid", offsetof(struct rpc_malloc_create, uuid), osp_json_decode_string, true},
	{"num_blocks", offsetof(struct rpc_malloc_create, num_blocks), osp_json_decode_uint64},
	{"block_size", offsetof(struct rpc_malloc_create, block_size), osp_json_decode_uint32},
	{"physical_block_size", offsetof(struct rpc_malloc_create, physical_block_size), osp_json_decode_uint32, true},
	{"optimal_io_boundary", offsetof(struct rpc_malloc_create, optimal_io_boundary), osp_json_decode_uint32, true},
	{"md_size", offsetof(struct rpc_malloc_create, md_size), osp_json_decode_uint32, true},
	{"md_interleave", offsetof(struct rpc_malloc_create, md_interleave), osp_json_decode_bool, true},
	{"dif_type", offsetof(struct rpc_malloc_create, dif_type), osp_json_decode_int32, true},
	{"dif_is_head_of_md", offsetof(struct rpc_malloc_create, dif_is_head_of_md), osp_json_decode_bool, true},
	{"dif_pi_format", offsetof(struct rpc_malloc_create, dif_pi_format), osp_json_decode_int32, true},
};

static void
rpc_bdev_malloc_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_malloc_create req = {};
	struct bdev_malloc_opts opts = {};
	struct osp_bdev *bdev = NULL;
	char name_err[128];
	uint32_t pbs;
	int rc;

	if (!osp_rpc_decode_params(request, params, g_malloc_create_decoders,
				   OSP_COUNTOF(g_malloc_create_decoders), &req)) {
		return;
	}
	if (req.block_size < 512 || !osp_is_pow2_64(req.block_size)) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid block_size %" PRIu32 ": must be a power of two, 512 or more",
						    req.block_size);
		goto out;
	}
	if (req.num_blocks == 0) {
		osp_jsonrpc_send_error_response(request, -EINVAL,
						"Invalid num_blocks 0: the disk needs at least one block");
		goto out;
	}
	if (req.num_blocks > SIZE_MAX / req.block_size) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid size: %" PRIu64 " blocks of %" PRIu32 " bytes do not fit in memory",
						    req.num_blocks, req.block_size);
		goto out;
	}
	pbs = req.physical_block_size;
	if (pbs != 0 && (!osp_is_pow2_64(pbs) || pbs < req.block_size)) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid physical_block_size %" PRIu32 ": must be a power of two, at least block_size (%" PRIu32 ")",
						    pbs, req.block_size);
		goto out;
	}
	if (req.md_size != 0 || req.md_interleave || req.dif_type != 0 || req.dif_is_head_of_md ||
	    req.dif_pi_format != 0) {
		osp_jsonrpc_send_error_response(request, -ENOTSUP,
						"Separate or interleaved metadata and protection information "
						"(md_size, md_interleave, dif_*) are not supported by this malloc bdev");
		goto out;
	}
	if (req.uuid != NULL && osp_uuid_parse(&opts.uuid, req.uuid) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid uuid '%s': expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
						    req.uuid);
		goto out;
	}
	if (req.name != NULL && osp_bdev_name_check(req.name, name_err, sizeof(name_err)) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL, "Invalid name: %s", name_err);
		goto out;
	}

	opts.name = req.name;
	opts.num_blocks = req.num_blocks;
	opts.block_size = req.block_size;
	opts.physical_block_size = pbs;
	opts.optimal_io_boundary = req.optimal_io_boundary;
	rc = bdev_malloc_create(&opts, &bdev);
	switch (rc) {
	case 0:
		osp_jsonrpc_send_result(request, cJSON_CreateString(bdev->name));
		break;
	case -EEXIST:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create malloc bdev: a bdev named '%s' already exists",
						    req.name);
		break;
	case -ENOMEM:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot allocate %" PRIu64 " MiB for the malloc bdev: not enough "
						    "memory (start the daemon with a larger -s/--mem-size)",
						    (req.num_blocks * req.block_size + (1 << 20) - 1) >> 20);
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot create malloc bdev: %s",
						    strerror(-rc));
		break;
	}
out:
	osp_json_free_object(g_malloc_create_decoders, OSP_COUNTOF(g_malloc_create_decoders), &req);
}
OSP_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, OSP_RPC_RUNTIME)

static void
rpc_bdev_malloc_delete(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_bdev_rpc_delete(request, params, NULL, bdev_malloc_delete, "malloc bdev",
			    "No malloc bdev named '%s' (see bdev_get_bdevs)");
}
OSP_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, OSP_RPC_RUNTIME)

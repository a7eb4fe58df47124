/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 requests as seen by a method handler. A request may come from
 * a socket client or from inside the process (osp_rpc_call(), used to load a
 * JSON configuration); handlers cannot tell the difference.
 *
 * A handler must answer each request exactly once, either before returning or
 * later from the same thread it ran on (the app thread).
 */
#ifndef OSPREY_JSONRPC_H
#define OSPREY_JSONRPC_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_JSONRPC_ERROR_PARSE_ERROR		-32700
#define OSP_JSONRPC_ERROR_INVALID_REQUEST	-32600
#define OSP_JSONRPC_ERROR_METHOD_NOT_FOUND	-32601
#define OSP_JSONRPC_ERROR_INVALID_PARAMS	-32602
#define OSP_JSONRPC_ERROR_INTERNAL_ERROR	-32603
/* Method exists but may not run in the current state (SPDK uses -1 with a message). */
#define OSP_JSONRPC_ERROR_INVALID_STATE		-1

/* Largest request accepted on a connection, in bytes. */
#define OSP_JSONRPC_MAX_REQUEST_SIZE	(32 * 1024 * 1024)

struct osp_jsonrpc_request;

/* Answer with result (ownership taken; NULL answers true). */
void osp_jsonrpc_send_result(struct osp_jsonrpc_request *request, cJSON *result);
void osp_jsonrpc_send_bool_response(struct osp_jsonrpc_request *request, bool value);
void osp_jsonrpc_send_error_response(struct osp_jsonrpc_request *request, int error_code,
				     const char *msg);
void osp_jsonrpc_send_error_response_fmt(struct osp_jsonrpc_request *request, int error_code,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Name of the method being answered. */
const char *osp_jsonrpc_request_get_method(const struct osp_jsonrpc_request *request);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_JSONRPC_H */

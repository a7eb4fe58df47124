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

/*
 * ---- Server side (used by lib/rpc) ----
 *
 * A JSON-RPC 2.0 server on a stream socket. Clients send one JSON value
 * (a request object or a batch array) after another, with no delimiter
 * required; responses are written in request order per connection, each
 * followed by a newline. A parse error (or nesting deeper than
 * OSP_JSON_MAX_DEPTH, or a request larger than OSP_JSONRPC_MAX_REQUEST_SIZE)
 * is answered with an error and the connection is closed once the answers
 * before it are sent: a byte stream cannot be resynchronized after bad JSON.
 * Only objects and arrays are accepted at the top level. An id is echoed as
 * it came, except that numeric ids are doubles (exact up to 2^53).
 * Numbers in answers are written exactly (osp_json_print()).
 */
struct osp_jsonrpc_server;

/*
 * Called once per valid request. params is an object, an array or NULL and
 * stays valid until the request is answered. The handler must answer the
 * request exactly once (notifications too: their answer is dropped), now or
 * later on the same thread.
 */
typedef void (*osp_jsonrpc_handle_request_fn)(struct osp_jsonrpc_request *request,
		const char *method, const cJSON *params);

/*
 * Listen on the Unix socket path (mode 0600). A stale socket file nobody
 * listens on is replaced; a live one gives -EADDRINUSE, and so does
 * "<path>.lock" being held by another process (it is flock()ed while the
 * socket exists and removed with it). -ENAMETOOLONG if path does not fit
 * a sockaddr_un. At most 64 clients are served at once. The listen fd and
 * client fds are registered as wake fds of the current thread, which must
 * be the one calling osp_jsonrpc_server_poll(). Returns 0 or -errno.
 */
int osp_jsonrpc_server_listen_unix(const char *path, osp_jsonrpc_handle_request_fn handler,
				   struct osp_jsonrpc_server **server);
/*
 * Accept connections, read and dispatch requests, write pending answers.
 * Never blocks. Returns > 0 if anything was done, 0 if idle.
 */
int osp_jsonrpc_server_poll(struct osp_jsonrpc_server *server);
/*
 * Close every connection and the listening socket and remove the socket
 * file. Requests still being handled may be answered later: their answers
 * are dropped. Safe to call from a handler.
 */
void osp_jsonrpc_server_shutdown(struct osp_jsonrpc_server *server);

/*
 * Run a request inside the process: handler(request, method, params) is
 * called as for a socket request (params is copied; NULL for none; it must
 * be an object or an array) and the whole response object goes to cb, which
 * does not own it. cb may run before this function returns (if the handler
 * answers at once). Only on out of memory while building the response does
 * cb get NULL. Returns 0 or -ENOMEM (then cb is never called).
 */
typedef void (*osp_jsonrpc_local_cb)(void *cb_arg, const cJSON *response);
int osp_jsonrpc_call_local(const char *method, const cJSON *params,
			   osp_jsonrpc_handle_request_fn handler, osp_jsonrpc_local_cb cb,
			   void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_JSONRPC_H */

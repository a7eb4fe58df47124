/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC method registry and the JSON-RPC server on a Unix socket.
 *
 * Methods register at start-up (OSP_RPC_REGISTER) with the states in which
 * they may run. The server is polled by a poller on the thread that called
 * osp_rpc_listen() (the app thread), and wakes that thread when a client
 * connects or sends data.
 */
#ifndef OSPREY_RPC_H
#define OSPREY_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include "osprey/json.h"
#include "osprey/jsonrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_DEFAULT_RPC_ADDR "/var/tmp/osprey.sock"

/* States (bits of a method's state mask). */
#define OSP_RPC_STARTUP	0x1	/* before subsystems are initialized (--wait-for-rpc) */
#define OSP_RPC_RUNTIME	0x2	/* after initialization */

/*
 * params is NULL when the request had none, else an object or an array; it
 * stays valid until the request is answered (see jsonrpc.h).
 */
typedef void (*osp_rpc_method_handler)(struct osp_jsonrpc_request *request,
				       const cJSON *params);

void osp_rpc_register_method(const char *method, osp_rpc_method_handler func,
			     uint32_t state_mask);
/* Register alias as a deprecated name of method. */
void osp_rpc_register_alias_deprecated(const char *method, const char *alias);
/*
 * 0 if method (or an alias of it) exists and may run in every state of
 * state_mask, -ENOENT if unknown, -EPERM if not allowed.
 */
int osp_rpc_is_method_allowed(const char *method, uint32_t state_mask);

#define OSP_RPC_REGISTER(method, func, state_mask) \
	__attribute__((constructor)) static void rpc_register_##func(void) \
	{ osp_rpc_register_method(method, func, state_mask); }

/* Register alias as a deprecated name of method from a constructor. */
#define OSP_RPC_REGISTER_ALIAS_DEPRECATED(method, alias) \
	__attribute__((constructor)) static void rpc_register_alias_##alias(void) \
	{ osp_rpc_register_alias_deprecated(#method, #alias); }

/*
 * False if a registration failed (duplicate name, out of memory) or an alias
 * names no method; the reasons were logged. osp_rpc_listen() checks it too.
 */
bool osp_rpc_verify_methods(void);

/*
 * Current state: one of OSP_RPC_STARTUP (the default) or OSP_RPC_RUNTIME.
 * A method runs only if its state mask contains the current state; else
 * the request gets error -1 "Method may only be called ...".
 */
void osp_rpc_set_state(uint32_t state);
uint32_t osp_rpc_get_state(void);

/*
 * Listen on a Unix socket path (mode 0600; a stale socket file is replaced,
 * a live one is an error: -EADDRINUSE; "<path>.lock" is held meanwhile).
 * Must be called on the thread that will serve requests: it registers a
 * poller named "rpc" (every iteration, reporting IDLE when nothing happened)
 * and the sockets as that thread's wake fds. Returns 0, -EBUSY if already
 * listening, -EINVAL if osp_rpc_verify_methods() fails, or -errno.
 */
int osp_rpc_listen(const char *listen_addr);
/*
 * Stop serving, close every connection and remove the socket file. Call on
 * the thread that listened; safe from inside a method handler. Answers to
 * requests still in progress are dropped.
 */
void osp_rpc_close(void);
/* Path being served, or NULL. */
const char *osp_rpc_get_listen_addr(void);

/*
 * Call a method from inside the process, as if a client had sent it
 * (the state check applies). cb gets the whole response object
 * ({"jsonrpc","id","result"} or {"jsonrpc","id","error"}) on the calling
 * thread; it does not own it. params may be NULL (it is copied).
 * cb runs before osp_rpc_call() returns when the method answers at once,
 * later otherwise; it gets NULL only if memory ran out building the answer.
 * Returns 0 or -ENOMEM; every other failure reaches cb as an error response.
 */
typedef void (*osp_rpc_call_cb)(void *cb_arg, const cJSON *response);
int osp_rpc_call(const char *method, const cJSON *params, osp_rpc_call_cb cb, void *cb_arg);

/*
 * Decode params into out with decoders; on failure answer request with
 * -32602 naming the bad parameter ("Invalid parameter 'x': expected uint32",
 * "Missing parameter 'x'", "Unknown parameter 'x'"), free the strings
 * decoded so far (osp_json_free_object(), so freeing again is harmless) and
 * return false. params NULL counts as {}.
 */
bool osp_rpc_decode_params(struct osp_jsonrpc_request *request, const cJSON *params,
			   const struct osp_json_object_decoder *decoders, size_t num_decoders,
			   void *out);

/* Iterate over registered method names (rpc_get_methods). */
const char *osp_rpc_get_first_method(uint32_t *state_mask);
const char *osp_rpc_get_next_method(const char *prev, uint32_t *state_mask);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_RPC_H */

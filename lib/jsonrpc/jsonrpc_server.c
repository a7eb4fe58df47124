/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 server: framing of a byte stream into JSON values, request
 * validation and dispatch, ordered answers, and the connections' I/O.
 *
 * Framing: SPDK's protocol sends one JSON value after another with no
 * delimiter, so the end of a value is found by counting brackets outside
 * strings. Only objects and arrays are accepted at the top level (a bare
 * number has no end in a stream). The scan resumes where the previous read
 * stopped, so a large request costs linear time however it is split.
 *
 * Lifetime: a request lives until its handler answers it, even if its
 * connection is gone by then; the connection only owns the queue of answer
 * slots (units), and closing it detaches the pending units so late answers
 * are dropped. Nothing is freed while the server's code is on the stack
 * (server->busy), which lets handlers answer or shut the server down from
 * anywhere on the thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/thread.h"

#include "jsonrpc_internal.h"

OSP_LOG_REGISTER_COMPONENT(rpc)

static size_t g_max_request_size = OSP_JSONRPC_MAX_REQUEST_SIZE;
static uint32_t g_max_connections = JSONRPC_MAX_CONNECTIONS;
static uint64_t g_idle_timeout_ms = JSONRPC_IDLE_TIMEOUT_MS;
static uint64_t g_evict_idle_ms = JSONRPC_EVICT_IDLE_MS;

/* Written when even an error response cannot be built. */
static const char g_oom_response[] =
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"Out of memory\"}}";

void
jsonrpc_set_max_request_size(size_t size)
{
	g_max_request_size = size != 0 ? size : OSP_JSONRPC_MAX_REQUEST_SIZE;
}

size_t
jsonrpc_get_max_request_size(void)
{
	return g_max_request_size;
}

void
jsonrpc_set_max_connections(uint32_t count)
{
	g_max_connections = count != 0 ? count : JSONRPC_MAX_CONNECTIONS;
}

uint32_t
jsonrpc_get_max_connections(void)
{
	return g_max_connections;
}

void
jsonrpc_set_idle_limits(uint64_t timeout_ms, uint64_t evict_ms)
{
	g_idle_timeout_ms = timeout_ms != 0 ? timeout_ms : JSONRPC_IDLE_TIMEOUT_MS;
	g_evict_idle_ms = evict_ms != 0 ? evict_ms : JSONRPC_EVICT_IDLE_MS;
}

static uint64_t
ms_to_ticks(uint64_t ms)
{
	return ms * osp_get_ticks_hz() / 1000;
}

/* ---- responses ---- */

/* {"jsonrpc":"2.0","id":id}; takes id (NULL means null). NULL on ENOMEM. */
static cJSON *
response_new(cJSON *id)
{
	cJSON *resp;

	if (id == NULL) {
		id = cJSON_CreateNull();
		if (id == NULL) {
			return NULL;
		}
	}
	resp = cJSON_CreateObject();
	if (resp == NULL || cJSON_AddStringToObject(resp, "jsonrpc", "2.0") == NULL ||
	    !cJSON_AddItemToObject(resp, "id", id)) {
		cJSON_Delete(resp);
		cJSON_Delete(id);
		return NULL;
	}
	return resp;
}

static cJSON *
error_response_new(cJSON *id, int code, const char *msg)
{
	cJSON *resp, *err;

	resp = response_new(id);
	if (resp == NULL) {
		return NULL;
	}
	err = cJSON_AddObjectToObject(resp, "error");
	if (err == NULL || cJSON_AddNumberToObject(err, "code", code) == NULL ||
	    cJSON_AddStringToObject(err, "message", msg != NULL ? msg : "") == NULL) {
		cJSON_Delete(resp);
		return NULL;
	}
	return resp;
}

/* ---- output ---- */

static int
conn_append(struct jsonrpc_conn *conn, const char *data, size_t len)
{
	size_t need, cap;
	char *buf;

	if (conn->send_off == conn->send_len) {
		conn->send_off = conn->send_len = 0;
	}
	need = conn->send_len + len;
	if (need > conn->send_cap) {
		if (conn->send_off > 0) {
			memmove(conn->send_buf, conn->send_buf + conn->send_off,
				conn->send_len - conn->send_off);
			conn->send_len -= conn->send_off;
			conn->send_off = 0;
			need = conn->send_len + len;
		}
		if (need > conn->send_cap) {
			cap = conn->send_cap != 0 ? conn->send_cap : 4096;
			while (cap < need) {
				cap *= 2;
			}
			buf = realloc(conn->send_buf, cap);
			if (buf == NULL) {
				return -ENOMEM;
			}
			conn->send_buf = buf;
			conn->send_cap = cap;
		}
	}
	memcpy(conn->send_buf + conn->send_len, data, len);
	conn->send_len += len;
	return 0;
}

static int
conn_append_json(struct jsonrpc_conn *conn, const cJSON *resp)
{
	char *text = resp != NULL ? osp_json_print(resp) : NULL;
	int rc;

	if (text == NULL) {
		return conn_append(conn, g_oom_response, sizeof(g_oom_response) - 1);
	}
	rc = conn_append(conn, text, strlen(text));
	free(text);
	return rc;
}

/* Serialize a completed unit: one response, or "[r1,r2,...]"; nothing if empty. */
static int
conn_write_unit(struct jsonrpc_conn *conn, struct jsonrpc_unit *unit)
{
	uint32_t i;
	int rc = 0;

	if (unit->num_slots == 0) {
		return 0;
	}
	if (!unit->is_batch) {
		rc = conn_append_json(conn, unit->slots[0]);
	} else {
		rc = conn_append(conn, "[", 1);
		for (i = 0; rc == 0 && i < unit->num_slots; i++) {
			if (i > 0) {
				rc = conn_append(conn, ",", 1);
			}
			if (rc == 0) {
				rc = conn_append_json(conn, unit->slots[i]);
			}
		}
		if (rc == 0) {
			rc = conn_append(conn, "]", 1);
		}
	}
	if (rc == 0) {
		rc = conn_append(conn, "\n", 1);
	}
	return rc;
}

static bool
conn_output_pending(const struct jsonrpc_conn *conn)
{
	return conn->send_off < conn->send_len;
}

/* Too much is owed to the client: take no new request from it for now. */
static bool
conn_backlogged(const struct jsonrpc_conn *conn)
{
	return conn->send_len - conn->send_off >= JSONRPC_SEND_HIGH_WATER ||
	       conn->num_units >= JSONRPC_MAX_PENDING_UNITS;
}

static bool
conn_wants_input(const struct jsonrpc_conn *conn)
{
	return !conn->eof && !conn->dead && !conn->input_paused && !conn_backlogged(conn);
}

/* Nothing in progress and nothing to write: may be timed out or evicted. */
static bool
conn_is_idle(const struct jsonrpc_conn *conn)
{
	return TAILQ_EMPTY(&conn->units) && !conn->input_paused &&
	       conn->send_off == conn->send_len && !conn->closing;
}

/*
 * Keep the thread's wake set in line with what the connection waits for:
 * input while it reads, writability only while output is pending. A
 * connection waiting for nothing (answers still being computed after the
 * client stopped sending) leaves the set, so a hung-up peer cannot keep a
 * sleeping reactor awake.
 */
static void
conn_update_wake(struct jsonrpc_conn *conn)
{
	uint32_t want = 0;
	int rc;

	if (conn->fd < 0) {
		return;
	}
	if (!conn->dead) {
		if (conn_wants_input(conn)) {
			want |= EPOLLIN;
		}
		if (conn_output_pending(conn)) {
			want |= EPOLLOUT;
		}
	}
	if (conn->wake_registered && want == conn->wake_events) {
		return;
	}
	if (want == 0) {
		if (conn->wake_registered) {
			osp_thread_remove_wake_fd(conn->fd);
			conn->wake_registered = false;
		}
	} else if (!conn->wake_registered) {
		rc = osp_thread_add_wake_fd(conn->fd, want);
		if (rc != 0) {
			/* No interrupt support: the poller still polls every iteration. */
			OSP_DEBUGLOG(rpc, "cannot add wake fd %d: %d\n", conn->fd, rc);
			return;
		}
		conn->wake_registered = true;
	} else {
		rc = osp_thread_mod_wake_fd(conn->fd, want);
		if (rc != 0) {
			OSP_DEBUGLOG(rpc, "cannot modify wake fd %d: %d\n", conn->fd, rc);
		}
	}
	conn->wake_events = want;
}

/* Write what the socket takes now. Returns bytes written. */
static size_t
conn_flush(struct jsonrpc_conn *conn)
{
	size_t total = 0;
	ssize_t n;

	if (conn->fd < 0) {
		return 0;
	}
	while (!conn->dead && conn_output_pending(conn)) {
		n = send(conn->fd, conn->send_buf + conn->send_off, conn->send_len - conn->send_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			conn->send_off += (size_t)n;
			total += (size_t)n;
			conn->last_active = osp_get_ticks();
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		}
		OSP_DEBUGLOG(rpc, "send on fd %d failed: %s\n", conn->fd,
			     n < 0 ? strerror(errno) : "no progress");
		conn->dead = true;
	}
	if (conn->send_off == conn->send_len) {
		conn->send_off = conn->send_len = 0;
		if (conn->send_cap > JSONRPC_SEND_KEEP) {
			free(conn->send_buf);
			conn->send_buf = NULL;
			conn->send_cap = 0;
		}
	}
	conn_update_wake(conn);
	return total;
}

static bool
conn_finished(const struct jsonrpc_conn *conn)
{
	if (conn->dead) {
		return true;
	}
	/* A hand-fed test connection is closed only by the test. */
	return conn->fd >= 0 && (conn->closing || conn->eof) && TAILQ_EMPTY(&conn->units) &&
	       !conn_output_pending(conn);
}

/* ---- units ---- */

static void
unit_free(struct jsonrpc_unit *unit)
{
	uint32_t i;

	for (i = 0; i < unit->num_slots; i++) {
		cJSON_Delete(unit->slots[i]);
	}
	if (unit->slots != &unit->single_slot) {
		free(unit->slots);
	}
	free(unit);
}

static struct jsonrpc_unit *
unit_alloc(bool is_batch, uint32_t capacity)
{
	struct jsonrpc_unit *unit;

	unit = calloc(1, sizeof(*unit));
	if (unit == NULL) {
		return NULL;
	}
	unit->is_batch = is_batch;
	if (is_batch && capacity > 0) {
		unit->slots = calloc(capacity, sizeof(*unit->slots));
		if (unit->slots == NULL) {
			free(unit);
			return NULL;
		}
		unit->slots_cap = capacity;
	} else {
		unit->slots = &unit->single_slot;
		unit->slots_cap = 1;
	}
	return unit;
}

static void
unit_enqueue(struct jsonrpc_conn *conn, struct jsonrpc_unit *unit)
{
	unit->conn = conn;
	TAILQ_INSERT_TAIL(&conn->units, unit, link);
	conn->num_units++;
}

/* Write every completed unit at the head of the queue. */
static void
conn_collect(struct jsonrpc_conn *conn)
{
	struct jsonrpc_unit *unit;

	while ((unit = TAILQ_FIRST(&conn->units)) != NULL && unit->outstanding == 0) {
		TAILQ_REMOVE(&conn->units, unit, link);
		conn->num_units--;
		if (!conn->dead && conn_write_unit(conn, unit) != 0) {
			OSP_ERRLOG("out of memory queueing an RPC response; closing connection\n");
			conn->dead = true;
		}
		unit_free(unit);
	}
}

static void server_maybe_reap(struct osp_jsonrpc_server *server, struct jsonrpc_conn *conn);
static void server_free(struct osp_jsonrpc_server *server);

static void
unit_done(struct jsonrpc_unit *unit)
{
	struct jsonrpc_conn *conn = unit->conn;

	if (unit->is_local) {
		unit->local_cb(unit->local_cb_arg, unit->slots[0]);
		unit_free(unit);
		return;
	}
	if (conn == NULL) {
		/* The connection went away: nobody to answer. */
		unit_free(unit);
		return;
	}
	conn_collect(conn);
	conn_flush(conn);
	server_maybe_reap(conn->server, conn);
}

static void
unit_release(struct jsonrpc_unit *unit)
{
	if (unit->outstanding == 0) {
		OSP_ERRLOG("JSON-RPC unit released too many times\n");
		return;
	}
	if (--unit->outstanding == 0) {
		unit_done(unit);
	}
}

/* ---- requests ---- */

static void
request_free(struct osp_jsonrpc_request *request)
{
	cJSON_Delete(request->id);
	cJSON_Delete(request->params);
	free(request->method);
	free(request);
}

/* Store the response of request (NULL: out of memory) and free the request. */
static void
request_complete(struct osp_jsonrpc_request *request, cJSON *resp)
{
	struct jsonrpc_unit *unit = request->unit;

	if (unit == NULL) {
		/* Notification: no answer goes out. */
		cJSON_Delete(resp);
		request_free(request);
		return;
	}
	unit->slots[request->slot] = resp;
	request_free(request);
	unit_release(unit);
}

void
osp_jsonrpc_send_result(struct osp_jsonrpc_request *request, cJSON *result)
{
	cJSON *resp;

	if (result == NULL) {
		result = cJSON_CreateTrue();
	}
	if (request->unit == NULL) {
		cJSON_Delete(result);
		request_complete(request, NULL);
		return;
	}
	resp = response_new(request->id);
	request->id = NULL;
	if (resp == NULL || result == NULL || !cJSON_AddItemToObject(resp, "result", result)) {
		cJSON_Delete(result);
		cJSON_Delete(resp);
		resp = error_response_new(NULL, OSP_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
	}
	request_complete(request, resp);
}

void
osp_jsonrpc_send_bool_response(struct osp_jsonrpc_request *request, bool value)
{
	osp_jsonrpc_send_result(request, cJSON_CreateBool(value));
}

void
osp_jsonrpc_send_error_response(struct osp_jsonrpc_request *request, int error_code,
				const char *msg)
{
	cJSON *resp;

	if (request->unit == NULL) {
		OSP_DEBUGLOG(rpc, "error %d for notification %s: %s\n", error_code,
			     request->method, msg != NULL ? msg : "");
		request_complete(request, NULL);
		return;
	}
	resp = error_response_new(request->id, error_code, msg);
	request->id = NULL;
	request_complete(request, resp);
}

void
osp_jsonrpc_send_error_response_fmt(struct osp_jsonrpc_request *request, int error_code,
				    const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	osp_jsonrpc_send_error_response(request, error_code, rc >= 0 ? msg : "Out of memory");
	if (rc >= 0) {
		free(msg);
	}
}

const char *
osp_jsonrpc_request_get_method(const struct osp_jsonrpc_request *request)
{
	return request->method;
}

/* ---- dispatch ---- */

struct request_parts {
	cJSON *id;		/* NULL: notification */
	const char *method;
	cJSON *params;		/* NULL: none */
};

/*
 * Check one request object (JSON-RPC 2.0 section 4). Returns NULL if valid,
 * else the reason; *id_ok tells whether its id may be echoed.
 */
static const char *
request_validate(cJSON *obj, struct request_parts *parts, bool *id_ok)
{
	cJSON *version, *method, *id, *params;

	*id_ok = false;
	memset(parts, 0, sizeof(*parts));
	if (!cJSON_IsObject(obj)) {
		return "Invalid request: not an object";
	}
	id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	if (id != NULL) {
		if (!cJSON_IsNumber(id) && !cJSON_IsString(id) && !cJSON_IsNull(id)) {
			return "Invalid request: id must be a number, a string or null";
		}
		parts->id = id;
		*id_ok = true;
	}
	version = cJSON_GetObjectItemCaseSensitive(obj, "jsonrpc");
	if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
		return "Invalid request: \"jsonrpc\" must be \"2.0\"";
	}
	method = cJSON_GetObjectItemCaseSensitive(obj, "method");
	if (!cJSON_IsString(method) || method->valuestring == NULL) {
		return "Invalid request: method must be a string";
	}
	parts->method = method->valuestring;
	params = cJSON_GetObjectItemCaseSensitive(obj, "params");
	/* "params": null is taken as no params. */
	if (params != NULL && !cJSON_IsNull(params)) {
		if (!cJSON_IsObject(params) && !cJSON_IsArray(params)) {
			return "Invalid request: params must be an object or an array";
		}
		parts->params = params;
	}
	return NULL;
}

/* Reserve the next answer slot of unit. */
static uint32_t
unit_take_slot(struct jsonrpc_unit *unit)
{
	return unit->num_slots++;
}

/*
 * Validate obj and hand it to the handler, answering into unit (a slot is
 * taken for every request that gets an answer). obj's id and params move
 * into the request.
 */
static void
dispatch_one(struct osp_jsonrpc_server *server, struct jsonrpc_unit *unit, cJSON *obj)
{
	struct osp_jsonrpc_request *request;
	struct request_parts parts;
	const char *invalid;
	bool id_ok;
	uint32_t slot;

	invalid = request_validate(obj, &parts, &id_ok);
	if (invalid != NULL) {
		cJSON *id = id_ok ? cJSON_Duplicate(parts.id, 1) : NULL;

		OSP_DEBUGLOG(rpc, "%s\n", invalid);
		slot = unit_take_slot(unit);
		unit->slots[slot] = error_response_new(id, OSP_JSONRPC_ERROR_INVALID_REQUEST, invalid);
		return;
	}

	request = calloc(1, sizeof(*request));
	if (request != NULL) {
		request->method = strdup(parts.method);
	}
	if (request == NULL || request->method == NULL) {
		free(request);
		if (parts.id != NULL) {
			slot = unit_take_slot(unit);
			unit->slots[slot] = error_response_new(cJSON_Duplicate(parts.id, 1),
							       OSP_JSONRPC_ERROR_INTERNAL_ERROR,
							       "Out of memory");
		}
		return;
	}
	if (parts.params != NULL) {
		request->params = cJSON_DetachItemViaPointer(obj, parts.params);
	}
	if (parts.id != NULL) {
		request->id = cJSON_DetachItemViaPointer(obj, parts.id);
		request->unit = unit;
		request->slot = unit_take_slot(unit);
		unit->outstanding++;
	}
	OSP_DEBUGLOG(rpc, "request %s%s\n", request->method,
		     parts.id == NULL ? " (notification)" : "");
	server->handler(request, request->method, request->params);
}

static void
conn_queue_error(struct jsonrpc_conn *conn, int code, const char *msg)
{
	struct jsonrpc_unit *unit;

	unit = unit_alloc(false, 1);
	if (unit == NULL) {
		OSP_ERRLOG("out of memory answering a JSON-RPC error; closing connection\n");
		conn->dead = true;
		return;
	}
	unit->num_slots = 1;
	unit->slots[0] = error_response_new(NULL, code, msg);
	unit_enqueue(conn, unit);
	conn_collect(conn);
}

/* Answer with an error and stop reading: the stream cannot be trusted after it. */
static void
conn_fail(struct jsonrpc_conn *conn, int code, const char *msg)
{
	OSP_DEBUGLOG(rpc, "closing connection after error %d: %s\n", code, msg);
	conn_queue_error(conn, code, msg);
	conn->closing = true;
}

static void
conn_handle_value(struct jsonrpc_conn *conn, const char *text, size_t len)
{
	struct jsonrpc_unit *unit;
	cJSON *root, *elem, *next;
	int count;

	conn->last_active = osp_get_ticks();
	root = osp_json_parse(text, len);
	if (root == NULL) {
		conn_fail(conn, OSP_JSONRPC_ERROR_PARSE_ERROR, "Parse error");
		return;
	}
	if (cJSON_IsArray(root)) {
		count = cJSON_GetArraySize(root);
		if (count == 0) {
			cJSON_Delete(root);
			conn_queue_error(conn, OSP_JSONRPC_ERROR_INVALID_REQUEST,
					 "Invalid request: empty batch");
			return;
		}
		unit = unit_alloc(true, (uint32_t)count);
	} else {
		unit = unit_alloc(false, 1);
	}
	if (unit == NULL) {
		cJSON_Delete(root);
		conn_fail(conn, OSP_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		return;
	}
	/* Hold the unit while dispatching: handlers may answer at once. */
	unit->outstanding = 1;
	unit_enqueue(conn, unit);
	if (unit->is_batch) {
		for (elem = root->child; elem != NULL; elem = next) {
			next = elem->next;
			dispatch_one(conn->server, unit, elem);
		}
	} else {
		dispatch_one(conn->server, unit, root);
	}
	cJSON_Delete(root);
	unit_release(unit);
}

/*
 * Find complete top-level values in the receive buffer and dispatch them.
 * Bytes of a value still incomplete stay buffered.
 */
static void
conn_process(struct jsonrpc_conn *conn)
{
	size_t i = conn->scan_pos, consumed = 0, len;
	char *buf = conn->recv_buf;
	char c;

	/* Bytes before value_start (or before i outside a value) are done. */
	consumed = conn->in_value ? conn->value_start : i;
	while (i < conn->recv_len && !conn->closing && !conn->dead &&
	       !conn->server->shutdown_pending) {
		c = buf[i];
		if (!conn->in_value) {
			if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				consumed = ++i;
				continue;
			}
			if (conn_backlogged(conn)) {
				/*
				 * The client is not reading its answers (or they
				 * are still being computed): leave the rest of its
				 * requests buffered until it catches up.
				 */
				conn->input_paused = true;
				break;
			}
			if (c != '{' && c != '[') {
				conn_fail(conn, OSP_JSONRPC_ERROR_PARSE_ERROR, "Parse error");
				break;
			}
			conn->in_value = true;
			conn->value_start = i;
			conn->depth = 1;
			conn->in_string = conn->escape = false;
			i++;
			continue;
		}
		i++;
		if (conn->in_string) {
			if (conn->escape) {
				conn->escape = false;
			} else if (c == '\\') {
				conn->escape = true;
			} else if (c == '"') {
				conn->in_string = false;
			}
			continue;
		}
		switch (c) {
		case '"':
			conn->in_string = true;
			break;
		case '{':
		case '[':
			if (++conn->depth > OSP_JSON_MAX_DEPTH) {
				conn_fail(conn, OSP_JSONRPC_ERROR_PARSE_ERROR,
					  "Parse error: nesting too deep");
			}
			break;
		case '}':
		case ']':
			if (--conn->depth > 0) {
				break;
			}
			conn->in_value = false;
			len = i - conn->value_start;
			consumed = i;
			if (len > g_max_request_size) {
				conn_fail(conn, OSP_JSONRPC_ERROR_INVALID_REQUEST,
					  "Invalid request: request too large");
				break;
			}
			conn_handle_value(conn, buf + conn->value_start, len);
			break;
		default:
			break;
		}
	}

	if (conn->closing || conn->dead) {
		/* Nothing more is read from this stream. */
		conn->recv_len = conn->scan_pos = 0;
		conn->in_value = false;
		return;
	}
	if (conn->in_value && conn->recv_len - conn->value_start > g_max_request_size) {
		conn_fail(conn, OSP_JSONRPC_ERROR_INVALID_REQUEST,
			  "Invalid request: request too large");
		conn->recv_len = conn->scan_pos = 0;
		conn->in_value = false;
		return;
	}
	if (consumed > 0) {
		memmove(buf, buf + consumed, conn->recv_len - consumed);
		conn->recv_len -= consumed;
		i -= consumed;
		if (conn->in_value) {
			conn->value_start -= consumed;
		}
	}
	conn->scan_pos = i;
	if (conn->recv_len == 0 && conn->recv_cap > JSONRPC_RECV_KEEP) {
		/* Do not keep a huge request's buffer for the connection's lifetime. */
		free(conn->recv_buf);
		conn->recv_buf = NULL;
		conn->recv_cap = 0;
	}
}

static int
conn_reserve_recv(struct jsonrpc_conn *conn, size_t extra)
{
	size_t cap;
	char *buf;

	if (conn->recv_cap - conn->recv_len >= extra) {
		return 0;
	}
	cap = conn->recv_cap != 0 ? conn->recv_cap : JSONRPC_RECV_CHUNK;
	while (cap - conn->recv_len < extra) {
		cap *= 2;
	}
	buf = realloc(conn->recv_buf, cap);
	if (buf == NULL) {
		return -ENOMEM;
	}
	conn->recv_buf = buf;
	conn->recv_cap = cap;
	return 0;
}

int
jsonrpc_conn_feed(struct jsonrpc_conn *conn, const void *data, size_t len)
{
	struct osp_jsonrpc_server *server = conn->server;

	if (conn->closing || conn->dead) {
		return 0;
	}
	if (conn_reserve_recv(conn, len) != 0) {
		return -ENOMEM;
	}
	memcpy(conn->recv_buf + conn->recv_len, data, len);
	conn->recv_len += len;
	server->busy++;
	conn_process(conn);
	conn_flush(conn);
	server->busy--;
	if (server->shutdown_pending) {
		if (server->busy == 0) {
			server_free(server);
		}
		return 0;
	}
	server_maybe_reap(server, conn);
	return 0;
}

/* Read what the socket has (bounded per poll) and dispatch it. */
static int
conn_read(struct jsonrpc_conn *conn)
{
	int did = 0, budget;
	char discard[4096];
	ssize_t n;

	if (conn->fd < 0) {
		return 0;
	}
	for (budget = 0; budget < JSONRPC_RECV_PER_POLL && conn_wants_input(conn); budget++) {
		if (conn->closing) {
			/* Drain and ignore, only to see the client hang up. */
			n = recv(conn->fd, discard, sizeof(discard), MSG_DONTWAIT);
		} else {
			if (conn_reserve_recv(conn, JSONRPC_RECV_CHUNK) != 0) {
				conn_fail(conn, OSP_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
				break;
			}
			n = recv(conn->fd, conn->recv_buf + conn->recv_len,
				 conn->recv_cap - conn->recv_len, MSG_DONTWAIT);
		}
		if (n > 0) {
			did = 1;
			if (!conn->closing) {
				conn->recv_len += (size_t)n;
				conn_process(conn);
			}
			continue;
		}
		if (n == 0) {
			/*
			 * The client sent all it will. It may still read answers
			 * (half-close), so finish the ones owed, then close.
			 */
			OSP_DEBUGLOG(rpc, "client on fd %d closed its side\n", conn->fd);
			conn->eof = true;
			did = 1;
			break;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			OSP_DEBUGLOG(rpc, "recv on fd %d failed: %s\n", conn->fd, strerror(errno));
			conn->dead = true;
			did = 1;
		}
		break;
	}
	return did;
}

/*
 * Dispatch the requests left buffered by a backlog once the client has read
 * enough. Returns 1 if it did.
 */
static int
conn_resume(struct jsonrpc_conn *conn)
{
	if (!conn->input_paused || conn_backlogged(conn)) {
		return 0;
	}
	conn->input_paused = false;
	if (!conn->closing && !conn->dead) {
		conn_process(conn);
		conn_flush(conn);
	}
	return 1;
}

/* ---- connections and server ---- */

struct osp_jsonrpc_server *
jsonrpc_server_alloc(osp_jsonrpc_handle_request_fn handler)
{
	struct osp_jsonrpc_server *server;

	server = calloc(1, sizeof(*server));
	if (server == NULL) {
		return NULL;
	}
	server->handler = handler;
	server->listen_fd = -1;
	server->lock_fd = -1;
	TAILQ_INIT(&server->conns);
	return server;
}

struct jsonrpc_conn *
jsonrpc_conn_create(struct osp_jsonrpc_server *server, int fd)
{
	struct jsonrpc_conn *conn;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		return NULL;
	}
	conn->server = server;
	conn->fd = fd;
	conn->last_active = osp_get_ticks();
	TAILQ_INIT(&conn->units);
	TAILQ_INSERT_TAIL(&server->conns, conn, link);
	server->num_conns++;
	conn_update_wake(conn);
	OSP_DEBUGLOG(rpc, "new connection fd %d (%u open)\n", fd, server->num_conns);
	return conn;
}

void
jsonrpc_conn_close(struct jsonrpc_conn *conn)
{
	struct osp_jsonrpc_server *server = conn->server;
	struct jsonrpc_unit *unit;

	OSP_DEBUGLOG(rpc, "closing connection fd %d\n", conn->fd);
	while ((unit = TAILQ_FIRST(&conn->units)) != NULL) {
		TAILQ_REMOVE(&conn->units, unit, link);
		conn->num_units--;
		unit->conn = NULL;
		if (unit->outstanding == 0) {
			unit_free(unit);
		}
		/* Otherwise the unit is freed by its last answer, which is dropped. */
	}
	if (conn->fd >= 0) {
		if (conn->wake_registered) {
			osp_thread_remove_wake_fd(conn->fd);
		}
		close(conn->fd);
	}
	TAILQ_REMOVE(&server->conns, conn, link);
	server->num_conns--;
	/* A descriptor was freed: accepting may work again. */
	jsonrpc_server_resume_accept(server);
	free(conn->recv_buf);
	free(conn->send_buf);
	free(conn);
}

static void
server_free(struct osp_jsonrpc_server *server)
{
	struct jsonrpc_conn *conn;

	while ((conn = TAILQ_FIRST(&server->conns)) != NULL) {
		jsonrpc_conn_close(conn);
	}
	jsonrpc_server_close_listener(server);
	free(server);
}

struct jsonrpc_conn *
jsonrpc_conn_evictable(struct osp_jsonrpc_server *server)
{
	struct jsonrpc_conn *conn, *oldest = NULL;
	uint64_t now = osp_get_ticks();

	TAILQ_FOREACH(conn, &server->conns, link) {
		if (conn->fd >= 0 && conn_is_idle(conn) &&
		    (oldest == NULL || conn->last_active < oldest->last_active)) {
			oldest = conn;
		}
	}
	if (oldest == NULL || now - oldest->last_active < ms_to_ticks(g_evict_idle_ms)) {
		return NULL;
	}
	return oldest;
}

static bool
conn_timed_out(const struct jsonrpc_conn *conn, uint64_t now)
{
	return conn->fd >= 0 && conn_is_idle(conn) &&
	       now - conn->last_active >= ms_to_ticks(g_idle_timeout_ms);
}

static void
server_maybe_reap(struct osp_jsonrpc_server *server, struct jsonrpc_conn *conn)
{
	if (server->busy == 0 && !server->shutdown_pending && conn_finished(conn)) {
		jsonrpc_conn_close(conn);
	}
}

int
osp_jsonrpc_server_poll(struct osp_jsonrpc_server *server)
{
	struct jsonrpc_conn *conn, *next;
	uint64_t now;
	int did = 0;

	if (server->shutdown_pending) {
		return 0;
	}
	server->busy++;
	did += jsonrpc_server_accept(server);
	for (conn = TAILQ_FIRST(&server->conns); conn != NULL && !server->shutdown_pending;
	     conn = TAILQ_NEXT(conn, link)) {
		did += conn_read(conn);
		if (conn_flush(conn) > 0) {
			did++;
		}
		did += conn_resume(conn);
	}
	server->busy--;
	if (server->shutdown_pending) {
		if (server->busy == 0) {
			server_free(server);
		}
		return 1;
	}
	now = osp_get_ticks();
	for (conn = TAILQ_FIRST(&server->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, link);
		if (conn_finished(conn)) {
			jsonrpc_conn_close(conn);
			did++;
		} else if (conn_timed_out(conn, now)) {
			OSP_NOTICELOG("closing RPC connection fd %d: idle for %" PRIu64 " s\n",
				      conn->fd, g_idle_timeout_ms / 1000);
			jsonrpc_conn_close(conn);
			did++;
		}
	}
	return did;
}

void
osp_jsonrpc_server_shutdown(struct osp_jsonrpc_server *server)
{
	if (server == NULL || server->shutdown_pending) {
		return;
	}
	if (server->busy > 0) {
		/* Called from a handler: finish when the server's code unwinds. */
		server->shutdown_pending = true;
		return;
	}
	server_free(server);
}

/* ---- in-process requests ---- */

static uint64_t g_local_id;

int
osp_jsonrpc_call_local(const char *method, const cJSON *params,
		       osp_jsonrpc_handle_request_fn handler, osp_jsonrpc_local_cb cb,
		       void *cb_arg)
{
	struct osp_jsonrpc_request *request;
	struct jsonrpc_unit *unit;

	unit = unit_alloc(false, 1);
	request = calloc(1, sizeof(*request));
	if (unit == NULL || request == NULL) {
		goto nomem;
	}
	unit->is_local = true;
	unit->local_cb = cb;
	unit->local_cb_arg = cb_arg;
	unit->num_slots = 1;
	request->id = cJSON_CreateNumber((double)++g_local_id);
	request->method = strdup(method != NULL ? method : "");
	if (request->id == NULL || request->method == NULL) {
		goto nomem;
	}
	if (params != NULL && !cJSON_IsNull(params)) {
		if (!cJSON_IsObject(params) && !cJSON_IsArray(params)) {
			unit->slots[0] = error_response_new(request->id,
							    OSP_JSONRPC_ERROR_INVALID_REQUEST,
							    "Invalid request: params must be an object or an array");
			request->id = NULL;
			request_free(request);
			cb(cb_arg, unit->slots[0]);
			unit_free(unit);
			return 0;
		}
		request->params = cJSON_Duplicate(params, 1);
		if (request->params == NULL) {
			goto nomem;
		}
	}
	request->unit = unit;
	request->slot = 0;
	unit->outstanding = 2;	/* the request, and our hold while calling the handler */
	handler(request, request->method, request->params);
	unit_release(unit);
	return 0;
nomem:
	if (request != NULL) {
		request_free(request);
	}
	free(unit);
	return -ENOMEM;
}

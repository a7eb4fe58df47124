/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to lib/jsonrpc (and its unit tests). */
#ifndef OSP_JSONRPC_INTERNAL_H
#define OSP_JSONRPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "osprey/json.h"
#include "osprey/jsonrpc.h"

/* Connections beyond this are accepted and closed at once. */
#define JSONRPC_MAX_CONNECTIONS		64
/* Bytes asked of recv() at a time, and reads per connection per poll. */
#define JSONRPC_RECV_CHUNK		(64 * 1024)
#define JSONRPC_RECV_PER_POLL		16
/*
 * Stop reading and dispatching a connection's requests while this much output
 * waits for the client (checked before each request, so pipelined requests
 * cannot pile up answers), or while this many answers are still owed to it.
 * Its buffered requests run once the client reads.
 */
#define JSONRPC_SEND_HIGH_WATER		(4 * 1024 * 1024)
#define JSONRPC_MAX_PENDING_UNITS	64
/*
 * A connection with no request in progress and nothing to write is idle: it
 * is closed after JSONRPC_IDLE_TIMEOUT_MS, and when all connections are taken
 * a new client replaces the one idle longest if that one has been idle for
 * at least JSONRPC_EVICT_IDLE_MS (so idle clients cannot lock out rpc.py).
 */
#define JSONRPC_IDLE_TIMEOUT_MS		(30 * 60 * 1000)
#define JSONRPC_EVICT_IDLE_MS		1000
#define JSONRPC_ACCEPT_PER_POLL		16
/* Idle buffers larger than this are freed rather than kept. */
#define JSONRPC_RECV_KEEP		(4 * JSONRPC_RECV_CHUNK)
#define JSONRPC_SEND_KEEP		(1024 * 1024)

struct jsonrpc_conn;

/*
 * What one top-level value on a connection (or one local call) answers
 * with: a single response, or a batch's responses in order. Units queue on
 * their connection in arrival order and are written once complete and at
 * the head, which keeps answers in request order.
 */
struct jsonrpc_unit {
	TAILQ_ENTRY(jsonrpc_unit) link;
	/* NULL for a local call, or once the connection is gone (answers dropped). */
	struct jsonrpc_conn *conn;
	bool is_batch;
	bool is_local;
	osp_jsonrpc_local_cb local_cb;
	void *local_cb_arg;
	/* Requests not answered yet, plus one while the unit is being dispatched. */
	uint32_t outstanding;
	/* Responses in order; a NULL slot stands for an out-of-memory error. */
	uint32_t num_slots;
	uint32_t slots_cap;
	cJSON **slots;
	cJSON *single_slot;
};

struct osp_jsonrpc_request {
	/* NULL for a notification: the answer is dropped. */
	struct jsonrpc_unit *unit;
	uint32_t slot;
	cJSON *id;
	char *method;
	cJSON *params;
};

struct jsonrpc_conn {
	TAILQ_ENTRY(jsonrpc_conn) link;
	struct osp_jsonrpc_server *server;
	int fd;			/* -1 for a test connection fed by hand */
	bool wake_registered;
	uint32_t wake_events;

	char *recv_buf;
	size_t recv_len;
	size_t recv_cap;
	/* Framing scanner, resumed where the last read stopped. */
	size_t scan_pos;
	size_t value_start;
	uint32_t depth;
	bool in_value;
	bool in_string;
	bool escape;

	TAILQ_HEAD(, jsonrpc_unit) units;
	uint32_t num_units;
	/* Requests are left unread/unprocessed until the client catches up. */
	bool input_paused;
	/* osp_get_ticks() of the last request or completed write. */
	uint64_t last_active;

	char *send_buf;
	size_t send_off;
	size_t send_len;
	size_t send_cap;

	bool closing;		/* no more requests: close once answers are written */
	bool eof;		/* the client will send nothing more */
	bool dead;		/* socket unusable: close at the next chance */
};

struct osp_jsonrpc_server {
	osp_jsonrpc_handle_request_fn handler;
	int listen_fd;
	bool listen_wake_registered;
	bool accept_paused;	/* accept() failed for lack of resources */
	char *path;
	char *lock_path;
	int lock_fd;
	bool lock_held;
	TAILQ_HEAD(, jsonrpc_conn) conns;
	uint32_t num_conns;
	/* > 0 while the server's own code is on the stack: defer frees. */
	uint32_t busy;
	bool shutdown_pending;
};

/* Test hooks: lower the request size limit / connection cap (0 restores the default). */
void jsonrpc_set_max_request_size(size_t size);
size_t jsonrpc_get_max_request_size(void);
void jsonrpc_set_max_connections(uint32_t count);
uint32_t jsonrpc_get_max_connections(void);
/* Test hook: idle timeout and eviction age in ms (0 restores the defaults). */
void jsonrpc_set_idle_limits(uint64_t timeout_ms, uint64_t evict_ms);

/* jsonrpc_server.c */
struct osp_jsonrpc_server *jsonrpc_server_alloc(osp_jsonrpc_handle_request_fn handler);
/* Create a connection on fd (already non-blocking), or a hand-fed one with fd -1. */
struct jsonrpc_conn *jsonrpc_conn_create(struct osp_jsonrpc_server *server, int fd);
/* Append bytes as if received, then frame and dispatch them. */
int jsonrpc_conn_feed(struct jsonrpc_conn *conn, const void *data, size_t len);
/* Close fd, drop pending answers (their requests stay valid) and free conn. */
void jsonrpc_conn_close(struct jsonrpc_conn *conn);
/* The idle connection to give up for a new client when all are taken, or NULL. */
struct jsonrpc_conn *jsonrpc_conn_evictable(struct osp_jsonrpc_server *server);

/* jsonrpc_server_unix.c */
/* Accept pending connections; returns how many. */
int jsonrpc_server_accept(struct osp_jsonrpc_server *server);
/* Wake on the listen fd again after accept() ran out of resources. */
void jsonrpc_server_resume_accept(struct osp_jsonrpc_server *server);
/* Close the listening socket and remove its files. */
void jsonrpc_server_close_listener(struct osp_jsonrpc_server *server);

#endif /* OSP_JSONRPC_INTERNAL_H */

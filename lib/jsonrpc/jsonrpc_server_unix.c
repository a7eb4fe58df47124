/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The listening Unix socket of the JSON-RPC server.
 *
 * "<path>.lock" is held (flock) while the socket exists, so two daemons
 * started on the same path cannot both decide that the socket file is stale
 * and replace each other's. A socket file nobody accepts on (a crashed
 * daemon's) is replaced; one with a live listener makes listening fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "osprey/log.h"
#include "osprey/thread.h"

#include "jsonrpc_internal.h"

/*
 * 0 if a stale socket file at path was removed (or is gone), -EADDRINUSE
 * if something is listening on it or it is not a socket.
 */
static int
unix_remove_stale(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		OSP_ERRLOG("RPC listen path %s exists and is not a socket\n", path);
		return -EADDRINUSE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		/* Someone accepts (or has a full backlog): it is alive. */
		close(fd);
		return -EADDRINUSE;
	}
	rc = errno;
	close(fd);
	if (rc == ENOENT) {
		return 0;
	}
	if (rc != ECONNREFUSED) {
		return -EADDRINUSE;
	}
	OSP_NOTICELOG("removing stale RPC socket %s\n", path);
	if (unlink(path) != 0 && errno != ENOENT) {
		return -errno;
	}
	return 0;
}

int
osp_jsonrpc_server_listen_unix(const char *path, osp_jsonrpc_handle_request_fn handler,
			       struct osp_jsonrpc_server **out)
{
	struct osp_jsonrpc_server *server;
	struct sockaddr_un addr;
	int rc, fd;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || handler == NULL) {
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(addr.sun_path)) {
		OSP_ERRLOG("RPC listen path %s is too long\n", path);
		return -ENAMETOOLONG;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path) + 1);

	server = jsonrpc_server_alloc(handler);
	if (server == NULL) {
		return -ENOMEM;
	}
	if (asprintf(&server->lock_path, "%s.lock", path) < 0) {
		server->lock_path = NULL;
		rc = -ENOMEM;
		goto err;
	}
	server->lock_fd = open(server->lock_path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (server->lock_fd < 0) {
		rc = -errno;
		OSP_ERRLOG("cannot open RPC lock file %s: %s\n", server->lock_path, strerror(-rc));
		goto err;
	}
	if (flock(server->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		OSP_ERRLOG("RPC socket %s is in use by another process\n", path);
		goto err;
	}
	server->lock_held = true;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto err;
	}
	server->listen_fd = fd;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		if (errno != EADDRINUSE) {
			rc = -errno;
			OSP_ERRLOG("cannot bind RPC socket %s: %s\n", path, strerror(-rc));
			goto err;
		}
		rc = unix_remove_stale(path, &addr);
		if (rc != 0) {
			OSP_ERRLOG("RPC socket %s is in use\n", path);
			goto err;
		}
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			rc = -errno;
			OSP_ERRLOG("cannot bind RPC socket %s: %s\n", path, strerror(-rc));
			goto err;
		}
	}
	server->path = strdup(path);
	if (server->path == NULL) {
		unlink(path);
		rc = -ENOMEM;
		goto err;
	}
	/* Before listen(): until then nobody can connect with the default mode. */
	if (chmod(path, 0600) != 0 || listen(fd, 128) != 0) {
		rc = -errno;
		OSP_ERRLOG("cannot set up RPC socket %s: %s\n", path, strerror(-rc));
		goto err;
	}
	rc = osp_thread_add_wake_fd(fd, EPOLLIN);
	if (rc == 0) {
		server->listen_wake_registered = true;
	} else {
		OSP_DEBUGLOG(rpc, "RPC listen fd not added to the wake set: %d\n", rc);
	}
	*out = server;
	return 0;
err:
	jsonrpc_server_close_listener(server);
	free(server);
	return rc;
}

int
jsonrpc_server_accept(struct osp_jsonrpc_server *server)
{
	int fd, n, count = 0;

	if (server->listen_fd < 0) {
		return 0;
	}
	for (n = 0; n < JSONRPC_ACCEPT_PER_POLL; n++) {
		fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && !server->accept_paused) {
				/*
				 * Out of descriptors or memory: the pending connection
				 * keeps the listen fd readable, so stop waking on it
				 * until a connection closes (or an accept succeeds).
				 */
				OSP_ERRLOG("cannot accept RPC connections: %s; retrying later\n",
					   strerror(errno));
				server->accept_paused = true;
				if (server->listen_wake_registered) {
					osp_thread_remove_wake_fd(server->listen_fd);
					server->listen_wake_registered = false;
				}
			}
			break;
		}
		count++;
		jsonrpc_server_resume_accept(server);
		if (server->num_conns >= jsonrpc_get_max_connections()) {
			struct jsonrpc_conn *victim = jsonrpc_conn_evictable(server);

			if (victim == NULL) {
				OSP_ERRLOG("too many RPC connections (%u), all busy; refusing a "
					   "new one\n", server->num_conns);
				close(fd);
				continue;
			}
			/* Idle clients must not lock out the operator's rpc.py. */
			OSP_NOTICELOG("too many RPC connections (%u); closing idle fd %d for a "
				      "new client\n", server->num_conns, victim->fd);
			jsonrpc_conn_close(victim);
		}
		if (jsonrpc_conn_create(server, fd) == NULL) {
			OSP_ERRLOG("out of memory accepting an RPC connection\n");
			close(fd);
		}
	}
	return count;
}

void
jsonrpc_server_resume_accept(struct osp_jsonrpc_server *server)
{
	if (!server->accept_paused || server->listen_fd < 0) {
		return;
	}
	server->accept_paused = false;
	if (!server->listen_wake_registered &&
	    osp_thread_add_wake_fd(server->listen_fd, EPOLLIN) == 0) {
		server->listen_wake_registered = true;
	}
}

void
jsonrpc_server_close_listener(struct osp_jsonrpc_server *server)
{
	if (server->listen_fd >= 0) {
		if (server->listen_wake_registered) {
			osp_thread_remove_wake_fd(server->listen_fd);
			server->listen_wake_registered = false;
		}
		close(server->listen_fd);
		server->listen_fd = -1;
	}
	if (server->path != NULL) {
		unlink(server->path);
		free(server->path);
		server->path = NULL;
	}
	if (server->lock_fd >= 0) {
		/* Unlink while still holding the lock, then release it. */
		if (server->lock_held && server->lock_path != NULL) {
			unlink(server->lock_path);
		}
		close(server->lock_fd);
		server->lock_fd = -1;
		server->lock_held = false;
	}
	free(server->lock_path);
	server->lock_path = NULL;
}

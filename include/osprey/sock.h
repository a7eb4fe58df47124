/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey sockets: non-blocking TCP sockets behind an implementation ops
 * table ("posix" today), polled in per-thread socket groups (epoll), with
 * queued asynchronous writes that the group's poller flushes in batches
 * (one sendmsg covers as many queued requests as fit in IOV_MAX iovecs).
 * Used by the NVMe/TCP target and initiator and by the iSCSI target.
 *
 * Threading: a socket belongs to the thread that created or accepted it (or
 * to the thread of the group it was added to); every function on a socket
 * or group must be called on that thread. Nothing here blocks except
 * osp_sock_connect(), which waits for the TCP handshake (see below).
 *
 * Error convention: functions return 0 / a byte count or a negative errno
 * and never rely on errno, except the constructors that return a pointer
 * (listen, connect, accept, group_create), which return NULL with errno set.
 *
 * Write completions (osp_sock_request.cb_fn) run only from
 * osp_sock_flush(), osp_sock_group_poll*() or osp_sock_close(), never from
 * inside osp_sock_writev_async(), always on the socket's thread, exactly
 * once per request, in the order the requests were queued.
 */
#ifndef OSPREY_SOCK_H
#define OSPREY_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "osprey/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_sock;
struct osp_sock_group;

/* Longest address string written by osp_sock_getaddr() (IPv6 + NUL). */
#define OSP_SOCK_ADDR_STRLEN	46

/*
 * An asynchronous write. The caller owns the memory of the request and of
 * the iovecs and the data they point to until cb_fn runs. err is 0 when
 * every byte was handed to the kernel (and, for a zero-copy send, when the
 * kernel has released the pages), else a negative errno: the socket failed
 * (-EPIPE, -ECONNRESET, ...) or was closed first (-ECANCELED).
 */
struct osp_sock_request {
	void (*cb_fn)(void *cb_arg, int err);
	void *cb_arg;
	struct iovec *iov;
	int iovcnt;

	/* Owned by the socket layer while the request is queued. */
	struct {
		TAILQ_ENTRY(osp_sock_request) link;
		/* Bytes of this request already sent. */
		size_t offset;
		/* Zero-copy notification sequence number that releases it. */
		uint32_t zcopy_seq;
		/* Still waiting for that notification. */
		bool zcopy;
	} internal;
};

/* Per-socket options for listen/connect. */
struct osp_sock_opts {
	/* Set by osp_sock_get_default_opts(). */
	size_t opts_size;
	/*
	 * Allow MSG_ZEROCOPY on this socket (default true). Zero copy is used
	 * only if the implementation's enable_zerocopy_send_server (accepted
	 * sockets) or enable_zerocopy_send_client (connected sockets) is set too.
	 */
	bool zcopy;
	/*
	 * How long osp_sock_connect() waits for the handshake, in ms
	 * (default 10000). 0 returns as soon as connect() has started; the
	 * socket is then usable once osp_sock_is_connected() says so.
	 */
	uint32_t connect_timeout_ms;
	/*
	 * SO_PRIORITY of the socket's packets (Linux: 0-6 without
	 * CAP_NET_ADMIN; default 0 = leave the kernel's default). Accepted
	 * sockets take their listener's.
	 */
	int priority;
	/*
	 * Connecting sockets only: the local address ("" = the kernel's
	 * choice; numeric, of the destination's family) and port (0 = any)
	 * bound before connect(). Default "" and 0.
	 */
	char src_addr[OSP_SOCK_ADDR_STRLEN + 2];
	uint16_t src_port;
	/*
	 * Let small reads go through the implementation's receive pipe, if it
	 * has one enabled (default true). A caller that reads into its own
	 * buffer (the NVMe/TCP host) turns it off: the pipe would only copy
	 * everything once more.
	 */
	bool recv_pipe;
};

/* Fill opts with the defaults; opts_size is the caller's sizeof(*opts). */
void osp_sock_get_default_opts(struct osp_sock_opts *opts, size_t opts_size);

/*
 * Listen on ip ("127.0.0.1", "::1", "0.0.0.0", "::", a host name is not
 * accepted) and port (0 picks an ephemeral port: read it back with
 * osp_sock_getaddr()). impl_name NULL uses the default implementation;
 * opts NULL the defaults. Returns NULL with errno EINVAL (bad address or
 * port > 65535, logged), ENODEV (unknown implementation) or the errno of
 * socket/bind/listen (EADDRINUSE, ...).
 */
struct osp_sock *osp_sock_listen(const char *ip, int port, const char *impl_name,
				 const struct osp_sock_opts *opts);
/*
 * Connect to ip:port (1..65535). Blocking by default: it waits up to
 * opts->connect_timeout_ms for the handshake, which suits the initiator's
 * control path (a qpair connects once). Errors as for listen, plus
 * ECONNREFUSED, ETIMEDOUT, ...
 */
struct osp_sock *osp_sock_connect(const char *ip, int port, const char *impl_name,
				  const struct osp_sock_opts *opts);
/*
 * Accept one pending connection on a listening socket, non-blocking.
 * Returns NULL with errno EAGAIN when none is pending. The new socket
 * belongs to the calling thread.
 */
struct osp_sock *osp_sock_accept(struct osp_sock *sock);
/*
 * Close *sock and set it to NULL. The socket is removed from its group if
 * still in one; queued writes complete with -ECANCELED (writes already
 * handed to the kernel with zero copy complete with 0). Returns 0 or
 * -EBADF when *sock is NULL.
 */
int osp_sock_close(struct osp_sock **sock);

/*
 * Local (saddr, sport) and peer (caddr, cport) addresses as strings; any
 * pointer may be NULL. slen/clen are buffer sizes (OSP_SOCK_ADDR_STRLEN
 * is enough). IPv4-mapped IPv6 addresses are shown as IPv4.
 * Returns 0 or -errno.
 */
/*
 * Counters of a socket since it was created, kept by the generic layer:
 * plain increments on the socket's thread, read them there.
 */
struct osp_sock_stats {
	uint64_t send_requests;	 /* osp_sock_writev_async() requests queued */
	uint64_t sends;		 /* flushes that handed bytes to the kernel */
	uint64_t bytes_sent;
	uint64_t receives;	 /* osp_sock_recv()/readv() calls that returned data */
	uint64_t bytes_received;
	uint64_t zcopy_sends;	 /* sendmsg() calls with MSG_ZEROCOPY */
	uint64_t zcopy_copied;	 /* of those, completions the kernel reported as copied */
};
/* Copy sock's counters into *stats. 0, or -EINVAL for NULL. */
int osp_sock_get_stats(struct osp_sock *sock, struct osp_sock_stats *stats);

int osp_sock_getaddr(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport,
		     char *caddr, int clen, uint16_t *cport);

/*
 * Receive into buf / iov, non-blocking. Returns the number of bytes read
 * (> 0), 0 when the peer closed the connection, -EAGAIN when nothing is
 * available, or another -errno (-ECONNRESET, ...).
 */
ssize_t osp_sock_recv(struct osp_sock *sock, void *buf, size_t len);
ssize_t osp_sock_readv(struct osp_sock *sock, struct iovec *iov, int iovcnt);

/*
 * Queue req for sending. It is sent by the next osp_sock_flush() or
 * osp_sock_group_poll*() of the socket's group. Returns 0, or -EINVAL for
 * a request with no cb_fn or a bad iovec count (then nothing was queued
 * and cb_fn will not run).
 */
int osp_sock_writev_async(struct osp_sock *sock, struct osp_sock_request *req);
/*
 * Send what is queued now, as far as the kernel takes it, and run the
 * completions of the requests that finished. Returns the number of bytes
 * sent (0 if nothing was queued or the send buffer is full) or the -errno
 * that failed the queued requests.
 */
ssize_t osp_sock_flush(struct osp_sock *sock);

/* SO_RCVBUF / SO_SNDBUF. Returns 0 or -errno. */
int osp_sock_set_recvbuf(struct osp_sock *sock, int sz);
int osp_sock_set_sendbuf(struct osp_sock *sock, int sz);
/* True while the connection is established (not for listening sockets). */
bool osp_sock_is_connected(struct osp_sock *sock);
/* Name of the implementation behind sock ("posix"). */
const char *osp_sock_get_impl_name(struct osp_sock *sock);

/* ---- groups ---- */

/* Called when sock has data to read, the peer closed, or it failed. */
typedef void (*osp_sock_cb)(void *cb_arg, struct osp_sock_group *group, struct osp_sock *sock);

/*
 * Create a group on the current thread. Its epoll fds are registered as
 * wake fds of the thread (osp_thread_add_wake_fd()), so a sleeping reactor
 * wakes when a socket of the group becomes readable (or writable while
 * writes wait). ctx is returned by osp_sock_group_get_ctx(). NULL with
 * errno on failure.
 */
struct osp_sock_group *osp_sock_group_create(void *ctx);
void *osp_sock_group_get_ctx(struct osp_sock_group *group);
/*
 * Add sock to group: cb_fn(cb_arg, group, sock) runs from the group's poll
 * whenever sock is readable (level triggered: read until -EAGAIN or it is
 * called again). -EINVAL if cb_fn is NULL, -EBUSY if sock is in a group.
 */
int osp_sock_group_add_sock(struct osp_sock_group *group, struct osp_sock *sock,
			    osp_sock_cb cb_fn, void *cb_arg);
/* Remove sock (queued writes stay queued). -ENOENT if not in group. */
int osp_sock_group_remove_sock(struct osp_sock_group *group, struct osp_sock *sock);
/*
 * Flush the queued writes of the group's sockets, then look for ready
 * sockets (epoll_wait with timeout 0, at most max_events of them) and run
 * their callbacks. Callbacks may close or remove any socket of the group.
 * Returns the number of read callbacks run plus write requests completed,
 * so 0 means idle; or a negative errno if epoll failed.
 * osp_sock_group_poll() uses max_events = OSP_SOCK_GROUP_DEFAULT_EVENTS.
 */
#define OSP_SOCK_GROUP_DEFAULT_EVENTS	32
#define OSP_SOCK_GROUP_MAX_EVENTS	128	/* larger max_events are capped */
int osp_sock_group_poll(struct osp_sock_group *group);
int osp_sock_group_poll_count(struct osp_sock_group *group, int max_events);
/* Destroy an empty group and set *group to NULL. -EBUSY if it has sockets. */
int osp_sock_group_close(struct osp_sock_group **group);

/* ---- implementations and their options ---- */

/*
 * Options of an implementation, the parameters of the sock_impl_set_options
 * RPC. They apply to sockets created afterwards.
 */
struct osp_sock_impl_opts {
	/* SO_RCVBUF / SO_SNDBUF for new sockets (bytes, 0 = kernel default). */
	uint32_t recv_buf_size;
	uint32_t send_buf_size;
	/* Batch small reads through a per-socket buffer. */
	bool enable_recv_pipe;
	/* TCP_QUICKACK on new sockets. */
	bool enable_quickack;
	/* Accepted for compatibility; no effect (no placement-id grouping). */
	uint32_t enable_placement_id;
	/* MSG_ZEROCOPY for accepted (server) and connected (client) sockets. */
	bool enable_zerocopy_send_server;
	bool enable_zerocopy_send_client;
	/* A flush of fewer bytes than this is copied (0 = any size uses zero copy). */
	uint32_t zerocopy_threshold;
	/* TLS is not supported: only 0 / false are accepted. */
	uint32_t tls_version;
	bool enable_ktls;
};

/*
 * Copy the options of impl_name into opts: *len is the caller's
 * sizeof(*opts) on entry and the number of bytes written on return.
 * -EINVAL for NULL arguments, -ENODEV for an unknown implementation.
 */
int osp_sock_impl_get_opts(const char *impl_name, struct osp_sock_impl_opts *opts, size_t *len);
/*
 * Set them (len as above; a shorter struct leaves the rest unchanged).
 * -EINVAL for bad values (TLS requested), -ENODEV for an unknown name.
 */
int osp_sock_impl_set_opts(const char *impl_name, const struct osp_sock_impl_opts *opts,
			   size_t len);
/* Implementation used when impl_name is NULL. -ENODEV if unknown. */
int osp_sock_set_default_impl(const char *impl_name);
const char *osp_sock_get_default_impl(void);
/* Iterate over the registered implementations' names (NULL ends). */
const char *osp_sock_get_first_impl(void);
const char *osp_sock_get_next_impl(const char *prev);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_SOCK_H */

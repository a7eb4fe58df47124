/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "posix" socket implementation: non-blocking kernel TCP sockets,
 * groups on one epoll fd each, batched sendmsg with optional MSG_ZEROCOPY
 * (completions read from the socket's error queue) and an optional receive
 * pipe that turns many small reads into one recv.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osprey/iov.h"
#include "osprey/log.h"
#include "osprey/sock.h"
#include "osprey_internal/sock_module.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

/* Reads shorter than this go through the pipe (when enabled). */
#define POSIX_RECV_PIPE_SIZE	(32 * 1024)
#define POSIX_LISTEN_BACKLOG	512

uint64_t g_osp_sock_posix_sendmsg_calls;
uint64_t g_osp_sock_posix_epoll_wait_calls;

struct posix_sock {
	struct osp_sock base;
	int fd;
	bool listening;
	/* SO_ZEROCOPY is on: sends of zerocopy_threshold bytes or more use it. */
	bool zcopy;
	/* EPOLLOUT is in the epoll interest set (writes wait for space). */
	bool epollout;
	/* Sequence number the kernel gives the next zero-copy sendmsg. */
	uint32_t zcopy_next;
	uint32_t zcopy_threshold;
	/* Receive pipe: pipe[pipe_off .. pipe_off + pipe_len) is unread data. */
	uint8_t *pipe;
	uint32_t pipe_off;
	uint32_t pipe_len;
	bool in_pipe_list;
	/* A read since the group's last poll returned data: on the group's hot list. */
	bool hot;
	uint64_t ready_gen;
	TAILQ_ENTRY(posix_sock) pipe_link;
	TAILQ_ENTRY(posix_sock) hot_link;
};

struct posix_group {
	struct osp_sock_group_impl base;
	int epfd;
	bool wake_fd;
	uint64_t gen;
	/* Sockets whose pipe holds data: readable though epoll cannot tell. */
	TAILQ_HEAD(, posix_sock) pipe_socks;
	/*
	 * Busy polling: sockets whose last read returned data are likely to
	 * have more by the next poll, which then hands them to their callback
	 * without asking epoll (one system call less per poll while the
	 * connections are busy). A socket stays on the list only while reads
	 * keep returning data; epoll is still asked at least every
	 * POSIX_HOT_POLLS_MAX polls (other sockets, EPOLLOUT), and whenever the
	 * list is empty, so idle sockets cost what they did and an idle group
	 * still lets the reactor sleep.
	 */
	TAILQ_HEAD(, posix_sock) hot_socks;
	uint32_t hot_polls;
	/* Sockets waiting for EPOLLOUT: only epoll_wait can tell, so no busy polling then. */
	uint32_t num_epollout;
};

#define POSIX_HOT_POLLS_MAX 16

static struct osp_sock_impl_opts g_posix_opts = {
	.recv_buf_size = 2 * 1024 * 1024,
	.send_buf_size = 2 * 1024 * 1024,
	.enable_recv_pipe = true,
	.enable_quickack = false,
	.enable_placement_id = 0,
	.enable_zerocopy_send_server = false,
	.enable_zerocopy_send_client = false,
	.zerocopy_threshold = 0,
};

static struct osp_sock_net_impl g_posix_net_impl;

static inline struct posix_sock *
__posix(struct osp_sock *sock)
{
	return OSP_CONTAINEROF(sock, struct posix_sock, base);
}

static inline struct posix_group *
__posix_group(struct osp_sock_group_impl *gi)
{
	return OSP_CONTAINEROF(gi, struct posix_group, base);
}

static int
posix_get_opts(struct osp_sock_impl_opts *opts, size_t *len)
{
	*len = OSP_MIN(*len, sizeof(g_posix_opts));
	memcpy(opts, &g_posix_opts, *len);
	return 0;
}

static int
posix_set_opts(const struct osp_sock_impl_opts *opts, size_t len)
{
	memcpy(&g_posix_opts, opts, OSP_MIN(len, sizeof(g_posix_opts)));
	return 0;
}

static int
posix_setsockopt_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) == 0 ? 0 : -errno;
}

/* Options of a connected socket (accepted or connecting). */
static void
posix_sock_setup(struct posix_sock *ps, bool server)
{
	const struct osp_sock_impl_opts *o = &g_posix_opts;
	bool want_zcopy;

	/* Best effort: the kernel caps buffer sizes at net.core.[rw]mem_max. */
	if (o->recv_buf_size != 0) {
		posix_setsockopt_int(ps->fd, SOL_SOCKET, SO_RCVBUF, (int)o->recv_buf_size);
	}
	if (o->send_buf_size != 0) {
		posix_setsockopt_int(ps->fd, SOL_SOCKET, SO_SNDBUF, (int)o->send_buf_size);
	}
	posix_setsockopt_int(ps->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (ps->base.opts.priority != 0 &&
	    posix_setsockopt_int(ps->fd, SOL_SOCKET, SO_PRIORITY, ps->base.opts.priority) != 0) {
		OSP_ERRLOG("SO_PRIORITY %d refused: %s (above 6 needs CAP_NET_ADMIN)\n",
			   ps->base.opts.priority, strerror(errno));
	}
	if (o->enable_quickack) {
		posix_setsockopt_int(ps->fd, IPPROTO_TCP, TCP_QUICKACK, 1);
	}
	want_zcopy = ps->base.opts.zcopy &&
		     (server ? o->enable_zerocopy_send_server : o->enable_zerocopy_send_client);
	if (want_zcopy) {
		if (posix_setsockopt_int(ps->fd, SOL_SOCKET, SO_ZEROCOPY, 1) == 0) {
			ps->zcopy = true;
			ps->zcopy_threshold = o->zerocopy_threshold;
		} else {
			OSP_DEBUGLOG(sock, "SO_ZEROCOPY unavailable: copying sends\n");
		}
	}
	if (o->enable_recv_pipe && ps->base.opts.recv_pipe) {
		/* Allocated once per connection, not per I/O; no pipe if memory is short. */
		ps->pipe = malloc(POSIX_RECV_PIPE_SIZE);
	}
}

static struct posix_sock *
posix_sock_alloc(int fd, const struct osp_sock_opts *opts)
{
	struct posix_sock *ps;

	ps = calloc(1, sizeof(*ps));
	if (ps == NULL) {
		return NULL;
	}
	osp_sock_init_base(&ps->base, &g_posix_net_impl, opts);
	ps->fd = fd;
	return ps;
}

static struct osp_sock *
posix_listen(const char *ip, int port, const struct osp_sock_opts *opts)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	struct posix_sock *ps;
	int fd, rc;

	rc = osp_sock_parse_addr(ip, port, true, &sa, &salen);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return NULL;
	}
	posix_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (sa.ss_family == AF_INET6) {
		/* "::" and "0.0.0.0" listeners on one port must be able to coexist. */
		posix_setsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	}
	/* Accepted sockets inherit it, and the window scale is fixed at SYN time. */
	if (g_posix_opts.recv_buf_size != 0) {
		posix_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, (int)g_posix_opts.recv_buf_size);
	}
	if (bind(fd, (struct sockaddr *)&sa, salen) != 0 ||
	    listen(fd, POSIX_LISTEN_BACKLOG) != 0) {
		rc = errno;
		OSP_ERRLOG("cannot listen on %s port %d: %s\n", ip, port, strerror(rc));
		close(fd);
		errno = rc;
		return NULL;
	}
	ps = posix_sock_alloc(fd, opts);
	if (ps == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	ps->listening = true;
	return &ps->base;
}

/* Wait for a non-blocking connect; returns 0 or -errno. */
static int
posix_wait_connect(int fd, uint32_t timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int rc, err = 0;

	do {
		rc = poll(&pfd, 1, timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		return -errno;
	}
	if (rc == 0) {
		return -ETIMEDOUT;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		return -errno;
	}
	return -err;
}

/* Bind a connecting socket to opts' source address/port, if any. 0 or -errno. */
static int
posix_bind_source(int fd, const struct sockaddr_storage *dst, const struct osp_sock_opts *opts)
{
	struct sockaddr_storage src;
	socklen_t srclen;
	int rc;

	if (opts->src_addr[0] == '\0' && opts->src_port == 0) {
		return 0;
	}
	if (opts->src_addr[0] != '\0') {
		rc = osp_sock_parse_addr(opts->src_addr, opts->src_port, true, &src, &srclen);
		if (rc != 0) {
			return rc;
		}
		if (src.ss_family != dst->ss_family) {
			OSP_ERRLOG("source address %s is not of the destination's family\n",
				   opts->src_addr);
			return -EINVAL;
		}
	} else {
		/* A port alone: the wildcard address of the destination's family. */
		rc = osp_sock_parse_addr(dst->ss_family == AF_INET6 ? "::" : "0.0.0.0",
					 opts->src_port, true, &src, &srclen);
		if (rc != 0) {
			return rc;
		}
	}
	/* A port of an earlier connection may still be in TIME_WAIT. */
	posix_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(fd, (struct sockaddr *)&src, srclen) != 0) {
		rc = -errno;
		OSP_ERRLOG("cannot bind the source address %s port %u: %s\n",
			   opts->src_addr[0] ? opts->src_addr : "(any)", opts->src_port,
			   strerror(-rc));
		return rc;
	}
	return 0;
}

static struct osp_sock *
posix_connect(const char *ip, int port, const struct osp_sock_opts *opts)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	struct posix_sock *ps;
	int fd, rc;

	rc = osp_sock_parse_addr(ip, port, false, &sa, &salen);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return NULL;
	}
	ps = posix_sock_alloc(fd, opts);
	if (ps == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	/* Before connect(): buffer sizes decide the window scale in the SYN. */
	posix_sock_setup(ps, false);
	rc = posix_bind_source(fd, &sa, &ps->base.opts);
	if (rc == 0) {
		rc = connect(fd, (struct sockaddr *)&sa, salen) == 0 ? 0 : -errno;
	}
	if (rc == -EINPROGRESS) {
		rc = ps->base.opts.connect_timeout_ms == 0 ? 0 :
		     posix_wait_connect(fd, ps->base.opts.connect_timeout_ms);
	}
	if (rc != 0) {
		OSP_ERRLOG("cannot connect to %s port %d: %s\n", ip, port, strerror(-rc));
		free(ps->pipe);
		free(ps);
		close(fd);
		errno = -rc;
		return NULL;
	}
	return &ps->base;
}

static struct osp_sock *
posix_accept(struct osp_sock *sock)
{
	struct posix_sock *lps = __posix(sock), *ps;
	int fd;

	if (!lps->listening) {
		errno = EINVAL;
		return NULL;
	}
	fd = accept4(lps->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EWOULDBLOCK) {
			errno = EAGAIN;
		}
		return NULL;
	}
	ps = posix_sock_alloc(fd, &sock->opts);
	if (ps == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	posix_sock_setup(ps, true);
	return &ps->base;
}

static int
posix_close(struct osp_sock *sock)
{
	struct posix_sock *ps = __posix(sock);
	int rc;

	rc = close(ps->fd) == 0 ? 0 : -errno;
	free(ps->pipe);
	free(ps);
	return rc;
}

static int
posix_addr_str(const struct sockaddr_storage *sa, char *buf, int len, uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	struct in_addr v4;

	if (sa->ss_family == AF_INET) {
		if (buf != NULL && inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len) == NULL) {
			return -errno;
		}
		if (port != NULL) {
			*port = ntohs(sin->sin_port);
		}
		return 0;
	}
	if (sa->ss_family != AF_INET6) {
		return -EAFNOSUPPORT;
	}
	if (buf != NULL) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			if (inet_ntop(AF_INET, &v4, buf, (socklen_t)len) == NULL) {
				return -errno;
			}
		} else if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)len) == NULL) {
			return -errno;
		}
	}
	if (port != NULL) {
		*port = ntohs(sin6->sin6_port);
	}
	return 0;
}

static int
posix_getaddr(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport,
	      char *caddr, int clen, uint16_t *cport)
{
	struct posix_sock *ps = __posix(sock);
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc;

	if (saddr != NULL || sport != NULL) {
		salen = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		if (getsockname(ps->fd, (struct sockaddr *)&sa, &salen) != 0) {
			return -errno;
		}
		rc = posix_addr_str(&sa, saddr, slen, sport);
		if (rc != 0) {
			return rc;
		}
	}
	if (caddr != NULL || cport != NULL) {
		salen = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		if (getpeername(ps->fd, (struct sockaddr *)&sa, &salen) != 0) {
			return -errno;
		}
		rc = posix_addr_str(&sa, caddr, clen, cport);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* ---- receive, with the optional pipe ---- */

static void
posix_pipe_update(struct posix_sock *ps)
{
	struct posix_group *pg;

	if (ps->base.group_impl == NULL) {
		return;
	}
	pg = __posix_group(ps->base.group_impl);
	if (ps->pipe_len > 0 && !ps->in_pipe_list) {
		TAILQ_INSERT_TAIL(&pg->pipe_socks, ps, pipe_link);
		ps->in_pipe_list = true;
	} else if (ps->pipe_len == 0 && ps->in_pipe_list) {
		TAILQ_REMOVE(&pg->pipe_socks, ps, pipe_link);
		ps->in_pipe_list = false;
	}
}

static size_t
posix_pipe_copy(struct posix_sock *ps, struct iovec *iov, int iovcnt)
{
	size_t copied;

	copied = osp_iov_copy_from_buf(ps->pipe + ps->pipe_off, ps->pipe_len, iov, iovcnt, 0);
	ps->pipe_off += (uint32_t)copied;
	ps->pipe_len -= (uint32_t)copied;
	if (ps->pipe_len == 0) {
		ps->pipe_off = 0;
	}
	return copied;
}

/* A read returned data: the next poll of the group hands the socket over without epoll. */
static inline void
posix_mark_hot(struct posix_sock *ps)
{
	if (!ps->hot && ps->base.group_impl != NULL) {
		TAILQ_INSERT_TAIL(&__posix_group(ps->base.group_impl)->hot_socks, ps, hot_link);
		ps->hot = true;
	}
}

static void
posix_unmark_hot(struct posix_sock *ps)
{
	if (ps->hot) {
		TAILQ_REMOVE(&__posix_group(ps->base.group_impl)->hot_socks, ps, hot_link);
		ps->hot = false;
	}
}

static ssize_t
posix_readv(struct osp_sock *sock, struct iovec *iov, int iovcnt)
{
	struct posix_sock *ps = __posix(sock);
	size_t total;
	ssize_t rc;

	if (ps->pipe != NULL) {
		total = osp_iov_len(iov, iovcnt);
		if (ps->pipe_len == 0 && total > 0 && total < POSIX_RECV_PIPE_SIZE) {
			/* One recv for this small read and the ones that follow. */
			rc = recv(ps->fd, ps->pipe, POSIX_RECV_PIPE_SIZE, 0);
			if (rc <= 0) {
				return rc < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : 0;
			}
			posix_mark_hot(ps);
			ps->pipe_off = 0;
			ps->pipe_len = (uint32_t)rc;
		}
		if (ps->pipe_len > 0) {
			rc = (ssize_t)posix_pipe_copy(ps, iov, iovcnt);
			posix_pipe_update(ps);
			return rc;
		}
	}
	rc = readv(ps->fd, iov, iovcnt);
	if (rc < 0) {
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	if (rc > 0) {
		posix_mark_hot(ps);
	}
	return rc;
}

static ssize_t
posix_recv(struct osp_sock *sock, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return posix_readv(sock, &iov, 1);
}

/* ---- send ---- */

/* Read zero-copy notifications from the error queue. */
static void
posix_zcopy_reap(struct posix_sock *ps)
{
	char control[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
	struct sock_extended_err *serr;
	struct msghdr msg;
	struct cmsghdr *cm;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(ps->fd, &msg, MSG_ERRQUEUE) < 0) {
			return;	/* EAGAIN: drained */
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR))) {
				continue;
			}
			serr = (struct sock_extended_err *)(void *)CMSG_DATA(cm);
			if (serr->ee_errno != 0 || serr->ee_origin != SO_EE_ORIGIN_ZEROCOPY) {
				continue;
			}
			/*
			 * ee_info..ee_data: the range of sends whose pages are released;
			 * SO_EE_CODE_ZEROCOPY_COPIED: the kernel copied them after all
			 * (always on loopback, whose receiver would hold the pages).
			 */
			if (serr->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) {
				ps->base.stats.zcopy_copied += (uint32_t)(serr->ee_data - serr->ee_info) + 1;
			}
			osp_sock_zcopy_release(&ps->base, serr->ee_info, serr->ee_data);
		}
	}
}

static void
posix_set_epollout(struct posix_sock *ps, bool on)
{
	struct posix_group *pg;
	struct epoll_event ev = {};

	if (ps->base.group_impl == NULL || ps->epollout == on) {
		return;
	}
	pg = __posix_group(ps->base.group_impl);
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = ps;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_MOD, ps->fd, &ev) == 0) {
		ps->epollout = on;
		if (on) {
			pg->num_epollout++;
		} else {
			pg->num_epollout--;
		}
	}
}

static size_t
posix_req_left(const struct osp_sock_request *req)
{
	return osp_iov_len(req->iov, req->iovcnt) - req->internal.offset;
}

static ssize_t
posix_flush(struct osp_sock *sock)
{
	struct posix_sock *ps = __posix(sock);
	struct iovec iovs[IOV_MAX];
	struct osp_sock_request *req;
	struct msghdr msg;
	size_t bytes, sliced, left, rem;
	ssize_t rc, total = 0;
	bool zc, all_whole;
	int n, i, nwhole;

	if (ps->zcopy && !TAILQ_EMPTY(&sock->pending_reqs)) {
		posix_zcopy_reap(ps);
	}
	while (!TAILQ_EMPTY(&sock->queued_reqs)) {
		/* Gather as many queued requests as fit in one sendmsg. */
		n = 0;
		bytes = 0;
		nwhole = 0;
		all_whole = true;
		TAILQ_FOREACH(req, &sock->queued_reqs, internal.link) {
			if (req->internal.offset == 0 && req->iovcnt <= IOV_MAX - n) {
				/* Nothing of it sent yet and it fits whole: its iovecs as they are. */
				for (i = 0; i < req->iovcnt; i++) {
					iovs[n++] = req->iov[i];
					bytes += req->iov[i].iov_len;
				}
				nwhole++;
			} else {
				all_whole = false;
				/* The unsent rest of req, as much of it as fits. */
				n += osp_iov_slice_partial(&iovs[n], IOV_MAX - n, req->iov, req->iovcnt,
							   req->internal.offset, SIZE_MAX, &sliced);
				bytes += sliced;
			}
			if (n == IOV_MAX) {
				break;
			}
		}
		zc = ps->zcopy && bytes >= ps->zcopy_threshold && bytes > 0;
		rc = 0;
		if (bytes > 0) {
			memset(&msg, 0, sizeof(msg));
			msg.msg_iov = iovs;
			msg.msg_iovlen = (size_t)n;
			g_osp_sock_posix_sendmsg_calls++;
			rc = sendmsg(ps->fd, &msg, MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
			if (rc < 0 && errno == ENOBUFS && zc) {
				/* Out of option memory for notifications: copy this one. */
				zc = false;
				g_osp_sock_posix_sendmsg_calls++;
				rc = sendmsg(ps->fd, &msg, MSG_NOSIGNAL);
			}
			if (rc < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					break;
				}
				rc = -errno;
				/* Everything queued fails now: nothing left to wait for. */
				posix_set_epollout(ps, false);
				return rc;
			}
		}
		left = (size_t)rc;
		if (all_whole && left == bytes) {
			/* All sent, and all of them whole: no need to measure each one. */
			while (nwhole-- > 0) {
				osp_sock_request_sent(sock, TAILQ_FIRST(&sock->queued_reqs), zc,
						      ps->zcopy_next);
			}
			left = 0;
		}
		while ((req = TAILQ_FIRST(&sock->queued_reqs)) != NULL) {
			rem = posix_req_left(req);
			if (rem > left) {
				req->internal.offset += left;
				break;
			}
			left -= rem;
			osp_sock_request_sent(sock, req, zc, ps->zcopy_next);
		}
		if (zc) {
			ps->zcopy_next++;
			sock->stats.zcopy_sends++;
		}
		total += rc;
		if ((size_t)rc < bytes) {
			break;	/* the send buffer is full */
		}
	}
	/* Wake up (EPOLLOUT) when the kernel has room for what is left. */
	posix_set_epollout(ps, !TAILQ_EMPTY(&sock->queued_reqs));
	return total;
}

static int
posix_set_recvbuf(struct osp_sock *sock, int sz)
{
	if (sz <= 0) {
		return -EINVAL;
	}
	return posix_setsockopt_int(__posix(sock)->fd, SOL_SOCKET, SO_RCVBUF, sz);
}

static int
posix_set_sendbuf(struct osp_sock *sock, int sz)
{
	if (sz <= 0) {
		return -EINVAL;
	}
	return posix_setsockopt_int(__posix(sock)->fd, SOL_SOCKET, SO_SNDBUF, sz);
}

static bool
posix_is_connected(struct osp_sock *sock)
{
	struct posix_sock *ps = __posix(sock);
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (ps->listening) {
		return false;
	}
	memset(&info, 0, sizeof(info));
	if (getsockopt(ps->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
		return false;
	}
	/* After the peer's FIN (CLOSE_WAIT) the connection is going away. */
	return info.tcpi_state == TCP_ESTABLISHED;
}

/* ---- groups ---- */

static struct osp_sock_group_impl *
posix_group_create(void)
{
	struct posix_group *pg;
	int rc;

	pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	TAILQ_INIT(&pg->pipe_socks);
	TAILQ_INIT(&pg->hot_socks);
	pg->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pg->epfd < 0) {
		rc = errno;
		free(pg);
		errno = rc;
		return NULL;
	}
	if (osp_get_thread() != NULL) {
		/* A sleeping reactor wakes when any socket of the group is ready. */
		rc = osp_thread_add_wake_fd(pg->epfd, EPOLLIN);
		if (rc != 0 && rc != -EINVAL) {
			close(pg->epfd);
			free(pg);
			errno = -rc;
			return NULL;
		}
		pg->wake_fd = rc == 0;
	}
	return &pg->base;
}

static int
posix_group_add_sock(struct osp_sock_group_impl *gi, struct osp_sock *sock)
{
	struct posix_group *pg = __posix_group(gi);
	struct posix_sock *ps = __posix(sock);
	struct epoll_event ev = {};

	ps->epollout = !TAILQ_EMPTY(&sock->queued_reqs);
	ev.events = EPOLLIN | (ps->epollout ? EPOLLOUT : 0);
	ev.data.ptr = ps;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, ps->fd, &ev) != 0) {
		ps->epollout = false;
		return -errno;
	}
	if (ps->epollout) {
		pg->num_epollout++;
	}
	posix_pipe_update(ps);
	return 0;
}

static int
posix_group_remove_sock(struct osp_sock_group_impl *gi, struct osp_sock *sock)
{
	struct posix_group *pg = __posix_group(gi);
	struct posix_sock *ps = __posix(sock);
	int rc;

	if (ps->in_pipe_list) {
		TAILQ_REMOVE(&pg->pipe_socks, ps, pipe_link);
		ps->in_pipe_list = false;
	}
	posix_unmark_hot(ps);
	if (ps->epollout) {
		pg->num_epollout--;
	}
	ps->epollout = false;
	rc = epoll_ctl(pg->epfd, EPOLL_CTL_DEL, ps->fd, NULL);
	return rc == 0 ? 0 : -errno;
}

static int
posix_group_poll(struct osp_sock_group_impl *gi, int max_events, struct osp_sock **socks)
{
	struct posix_group *pg = __posix_group(gi);
	struct epoll_event events[OSP_SOCK_GROUP_MAX_EVENTS];
	struct posix_sock *ps;
	uint64_t gen = ++pg->gen;
	int n = 0, rc, i;
	uint32_t ev;

	/* Data left in a pipe: the kernel socket may be empty, so epoll won't say. */
	TAILQ_FOREACH(ps, &pg->pipe_socks, pipe_link) {
		if (n == max_events) {
			break;
		}
		ps->ready_gen = gen;
		socks[n++] = &ps->base;
	}
	/*
	 * Busy sockets: handed over without epoll (their reads put them back
	 * on the list if they still get data), for up to POSIX_HOT_POLLS_MAX
	 * polls in a row.
	 */
	if (!TAILQ_EMPTY(&pg->hot_socks) && pg->hot_polls < POSIX_HOT_POLLS_MAX &&
	    pg->num_epollout == 0) {
		pg->hot_polls++;
		while (n < max_events && (ps = TAILQ_FIRST(&pg->hot_socks)) != NULL) {
			TAILQ_REMOVE(&pg->hot_socks, ps, hot_link);
			ps->hot = false;
			if (ps->ready_gen != gen) {
				ps->ready_gen = gen;
				socks[n++] = &ps->base;
			}
		}
		return n;
	}
	pg->hot_polls = 0;
	/* epoll reports whatever is readable, busy sockets included. */
	while ((ps = TAILQ_FIRST(&pg->hot_socks)) != NULL) {
		TAILQ_REMOVE(&pg->hot_socks, ps, hot_link);
		ps->hot = false;
	}
	if (n == max_events) {
		return n;
	}
	g_osp_sock_posix_epoll_wait_calls++;
	rc = epoll_wait(pg->epfd, events, max_events - n, 0);
	if (rc < 0) {
		return errno == EINTR ? n : -errno;
	}
	for (i = 0; i < rc; i++) {
		ps = events[i].data.ptr;
		ev = events[i].events;
		if ((ev & EPOLLERR) && ps->zcopy) {
			posix_zcopy_reap(ps);
		}
		if (ev & EPOLLOUT) {
			osp_sock_request_flush(&ps->base);
		}
		/*
		 * With zero copy, EPOLLERR mostly means notifications; a real
		 * failure (reset, timeout) also shuts the socket down, which
		 * reports EPOLLIN/EPOLLHUP.
		 */
		if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && !((ev & EPOLLERR) && !ps->zcopy)) {
			continue;
		}
		if (ps->ready_gen != gen) {
			ps->ready_gen = gen;
			socks[n++] = &ps->base;
		}
	}
	return n;
}

static int
posix_group_close(struct osp_sock_group_impl *gi)
{
	struct posix_group *pg = __posix_group(gi);
	int rc;

	if (pg->wake_fd) {
		osp_thread_remove_wake_fd(pg->epfd);
	}
	rc = close(pg->epfd) == 0 ? 0 : -errno;
	free(pg);
	return rc;
}

static struct osp_sock_net_impl g_posix_net_impl = {
	.name = "posix",
	.priority = 0,
	.get_opts = posix_get_opts,
	.set_opts = posix_set_opts,
	.listen = posix_listen,
	.connect = posix_connect,
	.accept = posix_accept,
	.close = posix_close,
	.getaddr = posix_getaddr,
	.recv = posix_recv,
	.readv = posix_readv,
	.flush = posix_flush,
	.set_recvbuf = posix_set_recvbuf,
	.set_sendbuf = posix_set_sendbuf,
	.is_connected = posix_is_connected,
	.group_impl_create = posix_group_create,
	.group_impl_add_sock = posix_group_add_sock,
	.group_impl_remove_sock = posix_group_remove_sock,
	.group_impl_poll = posix_group_poll,
	.group_impl_close = posix_group_close,
};

OSP_NET_IMPL_REGISTER(posix, &g_posix_net_impl)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The generic socket layer: implementation registry, address checks, the
 * per-socket write queue and its completions, and socket groups (one
 * group_impl per registered implementation, polled together).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/log.h"
#include "osprey/sock.h"
#include "osprey_internal/sock_module.h"
#include "osprey/util.h"

OSP_LOG_REGISTER_COMPONENT(sock)

struct osp_sock_group {
	void *ctx;
	TAILQ_HEAD(, osp_sock_group_impl) impls;
	/* Sockets with writes to send or completions to run. */
	TAILQ_HEAD(, osp_sock) flush_list;
	/* Sockets found ready by the current poll; removal NULLs their entry. */
	struct osp_sock *ready[OSP_SOCK_GROUP_MAX_EVENTS];
	int nready;
	int nsocks;
};

static STAILQ_HEAD(, osp_sock_net_impl) g_net_impls = STAILQ_HEAD_INITIALIZER(g_net_impls);
static struct osp_sock_net_impl *g_default_impl;

void
osp_net_impl_register(struct osp_sock_net_impl *impl)
{
	struct osp_sock_net_impl *cur, *prev = NULL;

	/* Keep the list sorted by priority: the first one is the default. */
	STAILQ_FOREACH(cur, &g_net_impls, link) {
		if (impl->priority < cur->priority) {
			break;
		}
		prev = cur;
	}
	if (prev == NULL) {
		STAILQ_INSERT_HEAD(&g_net_impls, impl, link);
	} else {
		STAILQ_INSERT_AFTER(&g_net_impls, prev, impl, link);
	}
}

static struct osp_sock_net_impl *
sock_find_impl(const char *name)
{
	struct osp_sock_net_impl *impl;

	if (name == NULL) {
		return g_default_impl != NULL ? g_default_impl : STAILQ_FIRST(&g_net_impls);
	}
	STAILQ_FOREACH(impl, &g_net_impls, link) {
		if (strcmp(impl->name, name) == 0) {
			return impl;
		}
	}
	return NULL;
}

int
osp_sock_set_default_impl(const char *impl_name)
{
	struct osp_sock_net_impl *impl;

	if (impl_name == NULL) {
		return -EINVAL;
	}
	impl = sock_find_impl(impl_name);
	if (impl == NULL) {
		OSP_ERRLOG("no socket implementation named '%s'\n", impl_name);
		return -ENODEV;
	}
	g_default_impl = impl;
	return 0;
}

const char *
osp_sock_get_default_impl(void)
{
	struct osp_sock_net_impl *impl = sock_find_impl(NULL);

	return impl != NULL ? impl->name : NULL;
}

const char *
osp_sock_get_first_impl(void)
{
	struct osp_sock_net_impl *impl = STAILQ_FIRST(&g_net_impls);

	return impl != NULL ? impl->name : NULL;
}

const char *
osp_sock_get_next_impl(const char *prev)
{
	struct osp_sock_net_impl *impl = sock_find_impl(prev);

	if (prev == NULL || impl == NULL) {
		return NULL;
	}
	impl = STAILQ_NEXT(impl, link);
	return impl != NULL ? impl->name : NULL;
}

int
osp_sock_impl_get_opts(const char *impl_name, struct osp_sock_impl_opts *opts, size_t *len)
{
	struct osp_sock_net_impl *impl;
	struct osp_sock_impl_opts cur = {};
	size_t full = sizeof(cur);
	int rc;

	if (impl_name == NULL || opts == NULL || len == NULL) {
		return -EINVAL;
	}
	impl = sock_find_impl(impl_name);
	if (impl == NULL) {
		return -ENODEV;
	}
	if (impl->get_opts == NULL) {
		return -ENOTSUP;
	}
	rc = impl->get_opts(&cur, &full);
	if (rc != 0) {
		return rc;
	}
	*len = OSP_MIN(*len, sizeof(cur));
	memcpy(opts, &cur, *len);
	return 0;
}

int
osp_sock_impl_set_opts(const char *impl_name, const struct osp_sock_impl_opts *opts, size_t len)
{
	struct osp_sock_net_impl *impl;
	struct osp_sock_impl_opts cur = {};
	size_t full = sizeof(cur);
	int rc;

	if (impl_name == NULL || opts == NULL) {
		return -EINVAL;
	}
	impl = sock_find_impl(impl_name);
	if (impl == NULL) {
		return -ENODEV;
	}
	if (impl->get_opts == NULL || impl->set_opts == NULL) {
		return -ENOTSUP;
	}
	rc = impl->get_opts(&cur, &full);
	if (rc != 0) {
		return rc;
	}
	memcpy(&cur, opts, OSP_MIN(len, sizeof(cur)));
	if (cur.tls_version != 0 || cur.enable_ktls) {
		OSP_ERRLOG("socket implementation '%s': TLS is not supported\n", impl_name);
		return -EINVAL;
	}
	if (cur.recv_buf_size > INT_MAX || cur.send_buf_size > INT_MAX) {
		OSP_ERRLOG("socket buffer sizes must not exceed %d bytes\n", INT_MAX);
		return -EINVAL;
	}
	return impl->set_opts(&cur, sizeof(cur));
}

void
osp_sock_get_default_opts(struct osp_sock_opts *opts, size_t opts_size)
{
	struct osp_sock_opts d = {
		.opts_size = opts_size,
		.zcopy = true,
		.connect_timeout_ms = 10000,
		.recv_pipe = true,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, &d, OSP_MIN(opts_size, sizeof(d)));
	opts->opts_size = opts_size;
}

/* Copy caller opts of any (older, shorter) size over the defaults. */
static void
sock_opts_resolve(struct osp_sock_opts *out, const struct osp_sock_opts *in)
{
	osp_sock_get_default_opts(out, sizeof(*out));
	if (in != NULL && in->opts_size != 0) {
		memcpy(out, in, OSP_MIN(in->opts_size, sizeof(*out)));
		out->opts_size = sizeof(*out);
	}
}

int
osp_sock_parse_addr(const char *ip, int port, bool listen, struct sockaddr_storage *sa,
		socklen_t *salen)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len;
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

	if (ip == NULL) {
		OSP_ERRLOG("no address given\n");
		return -EINVAL;
	}
	if (port < (listen ? 0 : 1) || port > 65535) {
		OSP_ERRLOG("port %d of %s is out of range (%d..65535)\n", port, ip, listen ? 0 : 1);
		return -EINVAL;
	}
	len = strlen(ip);
	/* "[::1]" as in URLs and SPDK's traddr strings. */
	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']' && len - 2 < sizeof(buf)) {
		memcpy(buf, ip + 1, len - 2);
		buf[len - 2] = '\0';
	} else if (len < sizeof(buf)) {
		memcpy(buf, ip, len + 1);
	} else {
		OSP_ERRLOG("'%.64s...' is not an IPv4 or IPv6 address\n", ip);
		return -EINVAL;
	}
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*salen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*sin6);
		return 0;
	}
	OSP_ERRLOG("'%s' is not an IPv4 or IPv6 address (host names are not resolved)\n", ip);
	return -EINVAL;
}

static struct osp_sock *
sock_create(const char *ip, int port, const char *impl_name, const struct osp_sock_opts *opts,
	    bool listen)
{
	struct osp_sock_net_impl *impl;
	struct sockaddr_storage sa;
	socklen_t salen;
	struct osp_sock_opts o;
	struct osp_sock *sock;
	int rc;

	rc = osp_sock_parse_addr(ip, port, listen, &sa, &salen);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	impl = sock_find_impl(impl_name);
	if (impl == NULL) {
		OSP_ERRLOG("no socket implementation named '%s'\n",
			   impl_name != NULL ? impl_name : "(default)");
		errno = ENODEV;
		return NULL;
	}
	sock_opts_resolve(&o, opts);
	sock = listen ? impl->listen(ip, port, &o) : impl->connect(ip, port, &o);
	if (sock == NULL) {
		return NULL;
	}
	OSP_DEBUGLOG(sock, "%s %s port %d (%s)\n", listen ? "listening on" : "connected to",
		     ip, port, impl->name);
	return sock;
}

struct osp_sock *
osp_sock_listen(const char *ip, int port, const char *impl_name, const struct osp_sock_opts *opts)
{
	return sock_create(ip, port, impl_name, opts, true);
}

struct osp_sock *
osp_sock_connect(const char *ip, int port, const char *impl_name,
		 const struct osp_sock_opts *opts)
{
	return sock_create(ip, port, impl_name, opts, false);
}

void
osp_sock_init_base(struct osp_sock *sock, struct osp_sock_net_impl *impl,
		   const struct osp_sock_opts *opts)
{
	memset(sock, 0, sizeof(*sock));
	sock->net_impl = impl;
	sock_opts_resolve(&sock->opts, opts);
	TAILQ_INIT(&sock->queued_reqs);
	TAILQ_INIT(&sock->pending_reqs);
	TAILQ_INIT(&sock->done_reqs);
}

struct osp_sock *
osp_sock_accept(struct osp_sock *sock)
{
	if (sock == NULL || sock->closing) {
		errno = EBADF;
		return NULL;
	}
	return sock->net_impl->accept(sock);
}

int
osp_sock_getaddr(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport,
		 char *caddr, int clen, uint16_t *cport)
{
	if (sock == NULL) {
		return -EBADF;
	}
	return sock->net_impl->getaddr(sock, saddr, slen, sport, caddr, clen, cport);
}

ssize_t
osp_sock_recv(struct osp_sock *sock, void *buf, size_t len)
{
	ssize_t n;

	if (sock == NULL || sock->closing) {
		return -EBADF;
	}
	n = sock->net_impl->recv(sock, buf, len);
	if (n > 0) {
		sock->stats.receives++;
		sock->stats.bytes_received += (uint64_t)n;
	}
	return n;
}

ssize_t
osp_sock_readv(struct osp_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t n;

	if (sock == NULL || sock->closing) {
		return -EBADF;
	}
	if (iov == NULL || iovcnt <= 0 || iovcnt > IOV_MAX) {
		return -EINVAL;
	}
	n = sock->net_impl->readv(sock, iov, iovcnt);
	if (n > 0) {
		sock->stats.receives++;
		sock->stats.bytes_received += (uint64_t)n;
	}
	return n;
}

int
osp_sock_get_stats(struct osp_sock *sock, struct osp_sock_stats *stats)
{
	if (sock == NULL || stats == NULL) {
		return -EINVAL;
	}
	*stats = sock->stats;
	return 0;
}

int
osp_sock_set_recvbuf(struct osp_sock *sock, int sz)
{
	if (sock == NULL) {
		return -EBADF;
	}
	return sock->net_impl->set_recvbuf(sock, sz);
}

int
osp_sock_set_sendbuf(struct osp_sock *sock, int sz)
{
	if (sock == NULL) {
		return -EBADF;
	}
	return sock->net_impl->set_sendbuf(sock, sz);
}

bool
osp_sock_is_connected(struct osp_sock *sock)
{
	return sock != NULL && !sock->closing && sock->net_impl->is_connected(sock);
}

const char *
osp_sock_get_impl_name(struct osp_sock *sock)
{
	return sock != NULL ? sock->net_impl->name : NULL;
}

/* ---- the write queue ---- */

void
osp_sock_request_flush(struct osp_sock *sock)
{
	struct osp_sock_group *group;

	if (sock->group_impl == NULL || sock->in_flush_list) {
		return;
	}
	group = sock->group_impl->group;
	TAILQ_INSERT_TAIL(&group->flush_list, sock, flush_link);
	sock->in_flush_list = true;
}

int
osp_sock_writev_async(struct osp_sock *sock, struct osp_sock_request *req)
{
	if (sock == NULL || sock->closing) {
		return -EBADF;
	}
	if (req == NULL || req->cb_fn == NULL || req->iovcnt <= 0 || req->iovcnt > IOV_MAX ||
	    req->iov == NULL) {
		return -EINVAL;
	}
	req->internal.offset = 0;
	req->internal.zcopy = false;
	req->internal.zcopy_seq = 0;
	TAILQ_INSERT_TAIL(&sock->queued_reqs, req, internal.link);
	sock->queued_iovcnt += (uint32_t)req->iovcnt;
	sock->stats.send_requests++;
	osp_sock_request_flush(sock);
	return 0;
}

void
osp_sock_request_sent(struct osp_sock *sock, struct osp_sock_request *req, bool zcopy,
		      uint32_t seq)
{
	TAILQ_REMOVE(&sock->queued_reqs, req, internal.link);
	sock->queued_iovcnt -= (uint32_t)req->iovcnt;
	req->internal.zcopy = zcopy;
	req->internal.zcopy_seq = seq;
	if (zcopy || !TAILQ_EMPTY(&sock->pending_reqs)) {
		TAILQ_INSERT_TAIL(&sock->pending_reqs, req, internal.link);
	} else {
		TAILQ_INSERT_TAIL(&sock->done_reqs, req, internal.link);
	}
}

void
osp_sock_zcopy_release(struct osp_sock *sock, uint32_t lo, uint32_t hi)
{
	struct osp_sock_request *req;

	TAILQ_FOREACH(req, &sock->pending_reqs, internal.link) {
		if (req->internal.zcopy && (uint32_t)(req->internal.zcopy_seq - lo) <=
		    (uint32_t)(hi - lo)) {
			req->internal.zcopy = false;
		}
	}
	/* Requests complete in queue order: only a released head may go. */
	while ((req = TAILQ_FIRST(&sock->pending_reqs)) != NULL && !req->internal.zcopy) {
		TAILQ_REMOVE(&sock->pending_reqs, req, internal.link);
		TAILQ_INSERT_TAIL(&sock->done_reqs, req, internal.link);
	}
	osp_sock_request_flush(sock);
}

typedef TAILQ_HEAD(sock_req_list, osp_sock_request) sock_req_list_t;

/* Run callbacks of a detached list; the socket may be gone meanwhile. */
static int
sock_complete_list(sock_req_list_t *list, int err)
{
	struct osp_sock_request *req;
	int n = 0;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, internal.link);
		req->cb_fn(req->cb_arg, err);
		n++;
	}
	return n;
}

/*
 * Detach what completes now: done_reqs (status 0), and with fail also
 * pending_reqs (0: the kernel has the data) and queued_reqs (err).
 */
static void
sock_detach(struct osp_sock *sock, sock_req_list_t *ok, sock_req_list_t *failed, bool fail)
{
	TAILQ_INIT(ok);
	TAILQ_INIT(failed);
	TAILQ_CONCAT(ok, &sock->done_reqs, internal.link);
	if (fail) {
		TAILQ_CONCAT(ok, &sock->pending_reqs, internal.link);
		TAILQ_CONCAT(failed, &sock->queued_reqs, internal.link);
		sock->queued_iovcnt = 0;
	}
}

/*
 * Send and complete. Returns bytes sent or -errno; *completed counts the
 * callbacks run. The socket must not be touched after this returns if a
 * callback may have closed it: callers only use the return values.
 */
static ssize_t
sock_flush_internal(struct osp_sock *sock, int *completed)
{
	sock_req_list_t ok, failed;
	ssize_t rc = 0;
	bool fail;

	*completed = 0;
	if (!TAILQ_EMPTY(&sock->queued_reqs) || !TAILQ_EMPTY(&sock->pending_reqs)) {
		rc = sock->net_impl->flush(sock);
	}
	if (rc > 0) {
		sock->stats.sends++;
		sock->stats.bytes_sent += (uint64_t)rc;
	}
	fail = rc < 0 && rc != -EAGAIN;
	if (fail) {
		OSP_DEBUGLOG(sock, "send failed: %s; failing the queued writes\n",
			     strerror((int)-rc));
	} else if (rc == -EAGAIN) {
		rc = 0;
	}
	sock_detach(sock, &ok, &failed, fail);
	*completed += sock_complete_list(&ok, 0);
	*completed += sock_complete_list(&failed, (int)rc);
	return rc;
}

ssize_t
osp_sock_flush(struct osp_sock *sock)
{
	int completed;

	if (sock == NULL || sock->closing) {
		return -EBADF;
	}
	return sock_flush_internal(sock, &completed);
}

/* ---- groups ---- */

struct osp_sock_group *
osp_sock_group_create(void *ctx)
{
	struct osp_sock_group *group;
	struct osp_sock_group_impl *gi, *tmp;
	struct osp_sock_net_impl *impl;

	group = calloc(1, sizeof(*group));
	if (group == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	group->ctx = ctx;
	TAILQ_INIT(&group->impls);
	TAILQ_INIT(&group->flush_list);
	STAILQ_FOREACH(impl, &g_net_impls, link) {
		gi = impl->group_impl_create();
		if (gi == NULL) {
			int err = errno;

			OSP_ERRLOG("cannot create a %s socket group: %s\n", impl->name,
				   strerror(err));
			TAILQ_FOREACH_SAFE(gi, &group->impls, link, tmp) {
				TAILQ_REMOVE(&group->impls, gi, link);
				gi->net_impl->group_impl_close(gi);
			}
			free(group);
			errno = err;
			return NULL;
		}
		gi->net_impl = impl;
		gi->group = group;
		TAILQ_INIT(&gi->socks);
		TAILQ_INSERT_TAIL(&group->impls, gi, link);
	}
	return group;
}

void *
osp_sock_group_get_ctx(struct osp_sock_group *group)
{
	return group != NULL ? group->ctx : NULL;
}

int
osp_sock_group_add_sock(struct osp_sock_group *group, struct osp_sock *sock,
			osp_sock_cb cb_fn, void *cb_arg)
{
	struct osp_sock_group_impl *gi;
	int rc;

	if (group == NULL || sock == NULL || cb_fn == NULL || sock->closing) {
		return -EINVAL;
	}
	if (sock->group_impl != NULL) {
		return -EBUSY;
	}
	TAILQ_FOREACH(gi, &group->impls, link) {
		if (gi->net_impl == sock->net_impl) {
			break;
		}
	}
	if (gi == NULL) {
		return -ENODEV;
	}
	sock->cb_fn = cb_fn;
	sock->cb_arg = cb_arg;
	sock->group_impl = gi;
	rc = gi->net_impl->group_impl_add_sock(gi, sock);
	if (rc != 0) {
		sock->group_impl = NULL;
		sock->cb_fn = NULL;
		sock->cb_arg = NULL;
		return rc;
	}
	TAILQ_INSERT_TAIL(&gi->socks, sock, link);
	group->nsocks++;
	if (!TAILQ_EMPTY(&sock->queued_reqs) || !TAILQ_EMPTY(&sock->done_reqs)) {
		osp_sock_request_flush(sock);
	}
	return 0;
}

int
osp_sock_group_remove_sock(struct osp_sock_group *group, struct osp_sock *sock)
{
	struct osp_sock_group_impl *gi;
	int i, rc;

	if (group == NULL || sock == NULL) {
		return -EINVAL;
	}
	gi = sock->group_impl;
	if (gi == NULL || gi->group != group) {
		return -ENOENT;
	}
	rc = gi->net_impl->group_impl_remove_sock(gi, sock);
	if (rc != 0) {
		OSP_ERRLOG("removing a socket from its group: %s\n", strerror(-rc));
	}
	TAILQ_REMOVE(&gi->socks, sock, link);
	group->nsocks--;
	if (sock->in_flush_list) {
		TAILQ_REMOVE(&group->flush_list, sock, flush_link);
		sock->in_flush_list = false;
	}
	for (i = 0; i < group->nready; i++) {
		if (group->ready[i] == sock) {
			group->ready[i] = NULL;
		}
	}
	sock->group_impl = NULL;
	sock->cb_fn = NULL;
	sock->cb_arg = NULL;
	return 0;
}

/*
 * Flush as many sockets as are on the flush list now: sockets a callback
 * queues again wait for the next poll, so a callback that always writes
 * more cannot keep this loop going.
 */
static int
sock_group_flush(struct osp_sock_group *group)
{
	struct osp_sock *sock;
	int completed, events = 0, budget = 0;
	ssize_t rc;

	TAILQ_FOREACH(sock, &group->flush_list, flush_link) {
		budget++;
	}
	while (budget-- > 0 && (sock = TAILQ_FIRST(&group->flush_list)) != NULL) {
		TAILQ_REMOVE(&group->flush_list, sock, flush_link);
		sock->in_flush_list = false;
		rc = sock_flush_internal(sock, &completed);
		events += completed;
		if (completed == 0 && rc > 0) {
			events++;	/* progress on a partial write is work too */
		}
	}
	return events;
}

int
osp_sock_group_poll_count(struct osp_sock_group *group, int max_events)
{
	struct osp_sock_group_impl *gi;
	struct osp_sock *sock;
	int events = 0, n, nready = 0, i;

	if (group == NULL || max_events < 1) {
		return -EINVAL;
	}
	max_events = OSP_MIN(max_events, OSP_SOCK_GROUP_MAX_EVENTS);
	TAILQ_FOREACH(gi, &group->impls, link) {
		if (TAILQ_EMPTY(&gi->socks) || nready == max_events) {
			continue;
		}
		n = gi->net_impl->group_impl_poll(gi, max_events - nready, &group->ready[nready]);
		if (n < 0) {
			OSP_ERRLOG("polling %s socket group: %s\n", gi->net_impl->name,
				   strerror(-n));
			group->nready = nready;
			events = n;
			goto run;
		}
		nready += n;
	}
	group->nready = nready;
	events = sock_group_flush(group);
run:
	for (i = 0; i < group->nready; i++) {
		sock = group->ready[i];
		if (sock == NULL) {
			continue;	/* removed or closed by an earlier callback */
		}
		group->ready[i] = NULL;
		sock->cb_fn(sock->cb_arg, group, sock);
		if (events >= 0) {
			events++;
		}
	}
	group->nready = 0;
	return events;
}

int
osp_sock_group_poll(struct osp_sock_group *group)
{
	return osp_sock_group_poll_count(group, OSP_SOCK_GROUP_DEFAULT_EVENTS);
}

int
osp_sock_group_close(struct osp_sock_group **pgroup)
{
	struct osp_sock_group *group;
	struct osp_sock_group_impl *gi, *tmp;

	if (pgroup == NULL || *pgroup == NULL) {
		return -EINVAL;
	}
	group = *pgroup;
	if (group->nsocks != 0) {
		OSP_ERRLOG("socket group still has %d sockets\n", group->nsocks);
		return -EBUSY;
	}
	TAILQ_FOREACH_SAFE(gi, &group->impls, link, tmp) {
		TAILQ_REMOVE(&group->impls, gi, link);
		gi->net_impl->group_impl_close(gi);
	}
	free(group);
	*pgroup = NULL;
	return 0;
}

int
osp_sock_close(struct osp_sock **psock)
{
	struct osp_sock *sock;
	sock_req_list_t ok, failed;

	if (psock == NULL || *psock == NULL) {
		return -EBADF;
	}
	sock = *psock;
	*psock = NULL;
	if (sock->closing) {
		return -EBADF;	/* closed from one of its own completions */
	}
	sock->closing = true;
	if (sock->group_impl != NULL) {
		osp_sock_group_remove_sock(sock->group_impl->group, sock);
	}
	/* Completions see a closing socket: writev_async on it fails with -EBADF. */
	sock_detach(sock, &ok, &failed, true);
	sock_complete_list(&ok, 0);
	sock_complete_list(&failed, -ECANCELED);
	return sock->net_impl->close(sock);
}

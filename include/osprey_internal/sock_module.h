/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef OSPREY_INTERNAL_SOCK_MODULE_H
#define OSPREY_INTERNAL_SOCK_MODULE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "osprey/queue.h"
#include "osprey/sock.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The interface of a socket implementation (what drivers/sock/<name>
 * implements), for lib/sock and its implementations only: not installed.
 *
 * An implementation embeds struct osp_sock at the start of its socket and
 * struct osp_sock_group_impl at the start of its per-group state. The
 * generic layer owns the write queue (queued_reqs) and group membership;
 * the implementation moves requests through osp_sock_request_*().
 */
struct osp_sock_group_impl;
struct osp_sock_net_impl;

struct osp_sock {
	struct osp_sock_net_impl *net_impl;
	struct osp_sock_opts opts;
	/* Group membership (generic layer). */
	struct osp_sock_group_impl *group_impl;
	osp_sock_cb cb_fn;
	void *cb_arg;
	/* Requests queued and not yet fully sent, in order. */
	TAILQ_HEAD(, osp_sock_request) queued_reqs;
	/* Fully sent, waiting for a zero-copy notification (or behind one). */
	TAILQ_HEAD(, osp_sock_request) pending_reqs;
	/* Fully sent and released: completed with 0 at the end of the flush. */
	TAILQ_HEAD(, osp_sock_request) done_reqs;
	uint32_t queued_iovcnt;
	/* osp_sock_get_stats() */
	struct osp_sock_stats stats;
	/* On the group's flush list. */
	bool in_flush_list;
	bool closing;
	TAILQ_ENTRY(osp_sock) flush_link;
	TAILQ_ENTRY(osp_sock) link;	/* in group_impl->socks */
};

struct osp_sock_group_impl {
	struct osp_sock_net_impl *net_impl;
	struct osp_sock_group *group;
	TAILQ_HEAD(, osp_sock) socks;
	TAILQ_ENTRY(osp_sock_group_impl) link;
};

struct osp_sock_net_impl {
	const char *name;
	/* Lower values are preferred as the default implementation. */
	int priority;

	int (*get_opts)(struct osp_sock_impl_opts *opts, size_t *len);
	int (*set_opts)(const struct osp_sock_impl_opts *opts, size_t len);

	/* Return NULL with errno set; ip/port already validated. */
	struct osp_sock *(*listen)(const char *ip, int port, const struct osp_sock_opts *opts);
	struct osp_sock *(*connect)(const char *ip, int port, const struct osp_sock_opts *opts);
	struct osp_sock *(*accept)(struct osp_sock *sock);
	/* Release the socket; queues are already empty. */
	int (*close)(struct osp_sock *sock);
	int (*getaddr)(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport,
		       char *caddr, int clen, uint16_t *cport);
	ssize_t (*recv)(struct osp_sock *sock, void *buf, size_t len);
	ssize_t (*readv)(struct osp_sock *sock, struct iovec *iov, int iovcnt);
	/*
	 * Send queued_reqs; take fully sent requests off with
	 * osp_sock_request_sent(). Returns bytes sent
	 * or -errno (the generic layer then fails what is queued).
	 */
	ssize_t (*flush)(struct osp_sock *sock);
	int (*set_recvbuf)(struct osp_sock *sock, int sz);
	int (*set_sendbuf)(struct osp_sock *sock, int sz);
	bool (*is_connected)(struct osp_sock *sock);

	struct osp_sock_group_impl *(*group_impl_create)(void);
	int (*group_impl_add_sock)(struct osp_sock_group_impl *group, struct osp_sock *sock);
	int (*group_impl_remove_sock)(struct osp_sock_group_impl *group, struct osp_sock *sock);
	/*
	 * Fill socks[] with up to max_events sockets whose callback should
	 * run; handle write readiness and zero-copy notifications itself.
	 * Returns the count or -errno.
	 */
	int (*group_impl_poll)(struct osp_sock_group_impl *group, int max_events,
			       struct osp_sock **socks);
	int (*group_impl_close)(struct osp_sock_group_impl *group);

	STAILQ_ENTRY(osp_sock_net_impl) link;
};

void osp_net_impl_register(struct osp_sock_net_impl *impl);

#define OSP_NET_IMPL_REGISTER(name, impl) \
	__attribute__((constructor)) static void osp_net_impl_register_##name(void) \
	{ osp_net_impl_register(impl); }

/*
 * Parse a numeric IPv4 or IPv6 address ("[::1]" too) and a port (0..65535
 * when listen, else 1..65535) into sa. Returns 0 or -EINVAL (logged).
 */
int osp_sock_parse_addr(const char *ip, int port, bool listen, struct sockaddr_storage *sa,
			socklen_t *salen);
/* Called by an implementation for each new socket (links net_impl, opts, queues). */
void osp_sock_init_base(struct osp_sock *sock, struct osp_sock_net_impl *impl,
			const struct osp_sock_opts *opts);
/*
 * The first queued request was fully sent: take it off queued_reqs. With
 * zcopy it waits on pending_reqs until osp_sock_zcopy_release() covers seq;
 * else it completes at the end of the flush (after earlier zero-copy
 * requests, so completions stay in order).
 */
void osp_sock_request_sent(struct osp_sock *sock, struct osp_sock_request *req, bool zcopy,
			   uint32_t seq);
/* The kernel released zero-copy sends lo..hi (inclusive, wrapping). */
void osp_sock_zcopy_release(struct osp_sock *sock, uint32_t lo, uint32_t hi);
/* Ask the group to flush sock (and run its completions) on its next poll. */
void osp_sock_request_flush(struct osp_sock *sock);

/* Test hook: sendmsg/writev calls made by the posix implementation. */
extern uint64_t g_osp_sock_posix_sendmsg_calls;

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_INTERNAL_SOCK_MODULE_H */

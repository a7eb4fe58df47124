/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the socket layer (lib/sock) and its posix implementation
 * (drivers/sock/posix), compiled in, on real loopback sockets: listen /
 * connect / accept, data both ways, batched writev, partial writes, write
 * completion order and errors, peer close, the group's wake fd, the receive
 * pipe, zero copy, implementation options and the RPCs.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sock/sock.c"
#include "sock/sock_rpc.c"
#include "../../../../drivers/sock/posix/posix.c"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"

static struct osp_sock_impl_opts g_saved_opts;

static void
save_opts(void)
{
	size_t len = sizeof(g_saved_opts);

	CU_ASSERT_EQUAL(osp_sock_impl_get_opts("posix", &g_saved_opts, &len), 0);
}

static void
restore_opts(void)
{
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &g_saved_opts, sizeof(g_saved_opts)), 0);
}

struct pair {
	struct osp_sock *listen;
	struct osp_sock *client;
	struct osp_sock *server;
	uint16_t port;
};

static int
pair_open_opts(struct pair *p, const char *ip, const struct osp_sock_opts *opts)
{
	char addr[OSP_SOCK_ADDR_STRLEN];
	int i;

	memset(p, 0, sizeof(*p));
	p->listen = osp_sock_listen(ip, 0, NULL, opts);
	if (p->listen == NULL) {
		return -errno;
	}
	CU_ASSERT_EQUAL(osp_sock_getaddr(p->listen, addr, sizeof(addr), &p->port, NULL, 0, NULL), 0);
	CU_ASSERT(p->port != 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(osp_sock_accept(p->listen));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	p->client = osp_sock_connect(ip, p->port, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->client);
	/* The handshake is done on loopback; the accept queue fills at once. */
	for (i = 0; i < 1000 && p->server == NULL; i++) {
		p->server = osp_sock_accept(p->listen);
		if (p->server == NULL) {
			CU_ASSERT_EQUAL(errno, EAGAIN);
			usleep(1000);
		}
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->server);
	return 0;
}

static int
pair_open(struct pair *p, const char *ip)
{
	return pair_open_opts(p, ip, NULL);
}

static void
pair_close(struct pair *p)
{
	if (p->server != NULL) {
		CU_ASSERT_EQUAL(osp_sock_close(&p->server), 0);
	}
	if (p->client != NULL) {
		CU_ASSERT_EQUAL(osp_sock_close(&p->client), 0);
	}
	CU_ASSERT_EQUAL(osp_sock_close(&p->listen), 0);
	CU_ASSERT_PTR_NULL(p->listen);
}

/* Read exactly len bytes (polling with short sleeps), or fail. */
static int
recv_all(struct osp_sock *sock, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t rc;
	int spins = 0;

	while (got < len) {
		rc = osp_sock_recv(sock, (uint8_t *)buf + got, len - got);
		if (rc == -EAGAIN) {
			if (++spins > 5000) {
				return -ETIMEDOUT;
			}
			usleep(200);
			continue;
		}
		if (rc <= 0) {
			return rc == 0 ? -ENOTCONN : (int)rc;
		}
		got += (size_t)rc;
	}
	return 0;
}

struct wreq {
	struct osp_sock_request req;
	struct iovec iov[4];
	int *order;
	int *count;
	int idx;
	int err;
	bool done;
};

static void
wreq_cb(void *arg, int err)
{
	struct wreq *w = arg;

	CU_ASSERT_FALSE(w->done);
	w->done = true;
	w->err = err;
	if (w->order != NULL) {
		w->order[(*w->count)++] = w->idx;
	}
}

static void
wreq_init(struct wreq *w, int idx, int *order, int *count)
{
	memset(w, 0, sizeof(*w));
	w->idx = idx;
	w->order = order;
	w->count = count;
	w->req.cb_fn = wreq_cb;
	w->req.cb_arg = w;
	w->req.iov = w->iov;
}

/* ---- tests ---- */

/* SO_PRIORITY from the options, inherited by accepted sockets; 0 leaves the default. */
static void
test_priority(void)
{
	struct osp_sock_opts opts;
	struct pair p;
	int v = -1;
	socklen_t len = sizeof(v);

	osp_sock_get_default_opts(&opts, sizeof(opts));
	CU_ASSERT_EQUAL(opts.priority, 0);
	opts.priority = 3;
	CU_ASSERT_EQUAL_FATAL(pair_open_opts(&p, "127.0.0.1", &opts), 0);
	CU_ASSERT_EQUAL(getsockopt(__posix(p.server)->fd, SOL_SOCKET, SO_PRIORITY, &v, &len), 0);
	CU_ASSERT_EQUAL(v, 3);
	v = -1;
	CU_ASSERT_EQUAL(getsockopt(__posix(p.client)->fd, SOL_SOCKET, SO_PRIORITY, &v, &len), 0);
	CU_ASSERT_EQUAL(v, 0);
	pair_close(&p);
}

static void
test_bad_addresses(void)
{
	static const char *bad[] = {"999.1.1.1", "localhost", "1.2.3", "", "::1::2", "[::1",
				    "127.0.0.1 ", "fe80::1%nope%x"};
	size_t i;

	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		errno = 0;
		CU_ASSERT_PTR_NULL(osp_sock_listen(bad[i], 0, NULL, NULL));
		CU_ASSERT_EQUAL(errno, EINVAL);
		errno = 0;
		CU_ASSERT_PTR_NULL(osp_sock_connect(bad[i], 4420, NULL, NULL));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	errno = 0;
	CU_ASSERT_PTR_NULL(osp_sock_listen(NULL, 0, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(osp_sock_listen("127.0.0.1", -1, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(osp_sock_listen("127.0.0.1", 65536, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", 0, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", 70000, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(osp_sock_listen("127.0.0.1", 0, "nope", NULL));
	CU_ASSERT_EQUAL(errno, ENODEV);
	CU_ASSERT_EQUAL(osp_sock_close(NULL), -EBADF);
	CU_ASSERT_EQUAL(osp_sock_recv(NULL, NULL, 0), -EBADF);
}

static void
test_connect_refused(void)
{
	struct osp_sock *l, *c;
	uint16_t port;

	/* A port that was just free: nobody listens on it any more. */
	l = osp_sock_listen("127.0.0.1", 0, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(osp_sock_getaddr(l, NULL, 0, &port, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(osp_sock_close(&l), 0);
	errno = 0;
	c = osp_sock_connect("127.0.0.1", port, NULL, NULL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
}

static void
stats_write_cb(void *arg, int err)
{
	CU_ASSERT_EQUAL(err, 0);
}

/* src_addr / src_port: the connection leaves from the address and port asked for. */
static void
test_connect_source(void)
{
	struct osp_sock *l, *c, *srv = NULL;
	struct osp_sock_opts so;
	char saddr[OSP_SOCK_ADDR_STRLEN], caddr[OSP_SOCK_ADDR_STRLEN];
	uint16_t port, sport, cport, src_port;
	int i;

	l = osp_sock_listen("127.0.0.1", 0, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(osp_sock_getaddr(l, NULL, 0, &port, NULL, 0, NULL), 0);
	/* A free port for the source: listen on 0, read it, close. */
	c = osp_sock_listen("127.0.0.5", 0, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(osp_sock_getaddr(c, NULL, 0, &src_port, NULL, 0, NULL), 0);
	osp_sock_close(&c);

	osp_sock_get_default_opts(&so, sizeof(so));
	snprintf(so.src_addr, sizeof(so.src_addr), "127.0.0.5");
	so.src_port = src_port;
	c = osp_sock_connect("127.0.0.1", port, NULL, &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(osp_sock_getaddr(c, saddr, sizeof(saddr), &sport, caddr, sizeof(caddr),
					 &cport), 0);
	CU_ASSERT_STRING_EQUAL(saddr, "127.0.0.5");
	CU_ASSERT_EQUAL(sport, src_port);
	for (i = 0; i < 1000 && srv == NULL; i++) {
		srv = osp_sock_accept(l);
		if (srv == NULL) {
			usleep(1000);
		}
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	CU_ASSERT_EQUAL(osp_sock_getaddr(srv, NULL, 0, NULL, caddr, sizeof(caddr), &cport), 0);
	CU_ASSERT_STRING_EQUAL(caddr, "127.0.0.5");
	CU_ASSERT_EQUAL(cport, src_port);
	/* The counters of osp_sock_get_stats(): one request, one flush, one read. */
	{
		static char msg[] = "0123456789";
		struct iovec iov = { .iov_base = msg, .iov_len = 10 };
		struct osp_sock_request req = { .iov = &iov, .iovcnt = 1 };
		struct osp_sock_stats st;
		char rbuf[32];
		ssize_t n = -EAGAIN;

		req.cb_fn = stats_write_cb;
		CU_ASSERT_EQUAL(osp_sock_writev_async(c, &req), 0);
		CU_ASSERT_EQUAL(osp_sock_flush(c), 10);
		for (i = 0; i < 1000 && n == -EAGAIN; i++) {
			n = osp_sock_recv(srv, rbuf, sizeof(rbuf));
			if (n == -EAGAIN) {
				usleep(1000);
			}
		}
		CU_ASSERT_EQUAL(n, 10);
		CU_ASSERT_EQUAL(osp_sock_get_stats(c, &st), 0);
		CU_ASSERT_EQUAL(st.send_requests, 1);
		CU_ASSERT_EQUAL(st.sends, 1);
		CU_ASSERT_EQUAL(st.bytes_sent, 10);
		CU_ASSERT_EQUAL(st.receives, 0);
		CU_ASSERT_EQUAL(osp_sock_get_stats(srv, &st), 0);
		CU_ASSERT_EQUAL(st.receives, 1);
		CU_ASSERT_EQUAL(st.bytes_received, 10);
		CU_ASSERT_EQUAL(st.sends, 0);
		CU_ASSERT_EQUAL(osp_sock_get_stats(NULL, &st), -EINVAL);
	}
	/* The same 4-tuple again cannot be: the second connect fails, cleanly. */
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", port, NULL, &so));
	osp_sock_close(&srv);
	osp_sock_close(&c);

	/* An address alone: any port. Of another family, or not numeric: refused. */
	so.src_port = 0;
	c = osp_sock_connect("127.0.0.1", port, NULL, &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(osp_sock_getaddr(c, saddr, sizeof(saddr), NULL, NULL, 0, NULL), 0);
	CU_ASSERT_STRING_EQUAL(saddr, "127.0.0.5");
	osp_sock_close(&c);
	snprintf(so.src_addr, sizeof(so.src_addr), "::1");
	errno = 0;
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", port, NULL, &so));
	CU_ASSERT_EQUAL(errno, EINVAL);
	snprintf(so.src_addr, sizeof(so.src_addr), "nohost");
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", port, NULL, &so));
	/* An address this host does not have: bind fails with EADDRNOTAVAIL. */
	snprintf(so.src_addr, sizeof(so.src_addr), "192.0.2.1");
	errno = 0;
	CU_ASSERT_PTR_NULL(osp_sock_connect("127.0.0.1", port, NULL, &so));
	CU_ASSERT_EQUAL(errno, EADDRNOTAVAIL);
	osp_sock_close(&l);
}

static void
test_listen_connect_data(void)
{
	struct pair p;
	char saddr[OSP_SOCK_ADDR_STRLEN], caddr[OSP_SOCK_ADDR_STRLEN];
	uint16_t sport, cport, cport2;
	char buf[64];
	struct wreq w;
	int count = 0;

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	CU_ASSERT_STRING_EQUAL(osp_sock_get_impl_name(p.client), "posix");
	CU_ASSERT_EQUAL(osp_sock_getaddr(p.server, saddr, sizeof(saddr), &sport, caddr,
					 sizeof(caddr), &cport), 0);
	CU_ASSERT_STRING_EQUAL(saddr, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(caddr, "127.0.0.1");
	CU_ASSERT_EQUAL(sport, p.port);
	CU_ASSERT_EQUAL(osp_sock_getaddr(p.client, NULL, 0, &cport2, NULL, 0, &sport), 0);
	CU_ASSERT_EQUAL(cport2, cport);
	CU_ASSERT_EQUAL(sport, p.port);
	CU_ASSERT_TRUE(osp_sock_is_connected(p.client));
	CU_ASSERT_TRUE(osp_sock_is_connected(p.server));
	CU_ASSERT_FALSE(osp_sock_is_connected(p.listen));

	CU_ASSERT_EQUAL(osp_sock_recv(p.server, buf, sizeof(buf)), -EAGAIN);

	/* client -> server through the write queue of a socket in no group */
	wreq_init(&w, 0, NULL, &count);
	w.iov[0].iov_base = "hello ";
	w.iov[0].iov_len = 6;
	w.iov[1].iov_base = "world";
	w.iov[1].iov_len = 5;
	w.req.iovcnt = 2;
	CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w.req), 0);
	CU_ASSERT_FALSE(w.done);	/* never completes inside writev_async */
	CU_ASSERT_EQUAL(osp_sock_flush(p.client), 11);
	CU_ASSERT_TRUE(w.done);
	CU_ASSERT_EQUAL(w.err, 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(recv_all(p.server, buf, 11), 0);
	CU_ASSERT_STRING_EQUAL(buf, "hello world");

	/* server -> client, read with readv */
	wreq_init(&w, 0, NULL, &count);
	w.iov[0].iov_base = "pong";
	w.iov[0].iov_len = 4;
	w.req.iovcnt = 1;
	CU_ASSERT_EQUAL(osp_sock_writev_async(p.server, &w.req), 0);
	CU_ASSERT_EQUAL(osp_sock_flush(p.server), 4);
	{
		char a[2], b[2];
		struct iovec iov[2] = {{a, 2}, {b, 2}};
		int spins = 0;
		ssize_t rc;

		while ((rc = osp_sock_readv(p.client, iov, 2)) == -EAGAIN && spins++ < 1000) {
			usleep(100);
		}
		CU_ASSERT_EQUAL(rc, 4);
		CU_ASSERT(memcmp(a, "po", 2) == 0 && memcmp(b, "ng", 2) == 0);
	}
	/* Bad requests are refused and never completed. */
	w.req.iovcnt = 0;
	CU_ASSERT_EQUAL(osp_sock_writev_async(p.server, &w.req), -EINVAL);
	w.req.iovcnt = 1;
	w.req.cb_fn = NULL;
	CU_ASSERT_EQUAL(osp_sock_writev_async(p.server, &w.req), -EINVAL);
	CU_ASSERT_EQUAL(osp_sock_set_recvbuf(p.server, 65536), 0);
	CU_ASSERT_EQUAL(osp_sock_set_sendbuf(p.server, 65536), 0);
	CU_ASSERT_EQUAL(osp_sock_set_sendbuf(p.server, 0), -EINVAL);
	pair_close(&p);
}

static void
test_ipv6(void)
{
	struct pair p;
	char saddr[OSP_SOCK_ADDR_STRLEN];
	char buf[4];
	struct wreq w;
	int count = 0, rc;

	rc = pair_open(&p, "::1");
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
		printf("(no IPv6 loopback here: skipped) ");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(osp_sock_getaddr(p.server, saddr, sizeof(saddr), NULL, NULL, 0, NULL), 0);
	CU_ASSERT_STRING_EQUAL(saddr, "::1");
	wreq_init(&w, 0, NULL, &count);
	w.iov[0].iov_base = "v6!";
	w.iov[0].iov_len = 3;
	w.req.iovcnt = 1;
	CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w.req), 0);
	CU_ASSERT_EQUAL(osp_sock_flush(p.client), 3);
	CU_ASSERT_EQUAL(recv_all(p.server, buf, 3), 0);
	CU_ASSERT(memcmp(buf, "v6!", 3) == 0);
	pair_close(&p);

	/* The bracketed form, as in traddr strings. */
	p.listen = osp_sock_listen("[::1]", 0, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL(p.listen);
	osp_sock_close(&p.listen);
}

struct readable {
	int calls;
	struct osp_sock *sock;
	struct osp_sock_group *group;
	bool close_on_eof;
	bool eof;
	uint8_t buf[256];
	size_t got;
};

static void
readable_cb(void *arg, struct osp_sock_group *group, struct osp_sock *sock)
{
	struct readable *r = arg;
	ssize_t rc;

	r->calls++;
	CU_ASSERT_PTR_EQUAL(sock, r->sock);
	CU_ASSERT_PTR_EQUAL(group, r->group);
	/* Small reads on purpose: the receive pipe serves the rest. */
	rc = osp_sock_recv(sock, r->buf + r->got, OSP_MIN((size_t)4, sizeof(r->buf) - r->got));
	if (rc > 0) {
		r->got += (size_t)rc;
	} else if (rc == 0 || (rc < 0 && rc != -EAGAIN)) {
		r->eof = true;
		if (r->close_on_eof) {
			CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, sock), 0);
			CU_ASSERT_EQUAL(osp_sock_close(&r->sock), 0);
		}
	}
}

static int
poll_until(struct osp_sock_group *group, bool *flag, int max_rounds)
{
	int i, events = 0;

	for (i = 0; i < max_rounds && !*flag; i++) {
		events += osp_sock_group_poll(group);
		if (!*flag) {
			usleep(100);
		}
	}
	return events;
}

static void
test_group_batching_and_order(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct wreq w[5];
	struct readable r = {};
	char expect[64], buf[64];
	int order[5], count = 0, i, rc;
	uint64_t calls;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	group = osp_sock_group_create(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	CU_ASSERT_PTR_EQUAL(osp_sock_group_get_ctx(group), &r);
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, NULL, NULL), -EINVAL);
	r.sock = p.client;
	r.group = group;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, readable_cb, &r), 0);
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, readable_cb, &r), -EBUSY);
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);	/* idle */

	for (i = 0; i < 5; i++) {
		wreq_init(&w[i], i, order, &count);
		w[i].iov[0].iov_base = "req";
		w[i].iov[0].iov_len = 3;
		w[i].iov[1].iov_base = (char *)"0123456789" + i;
		w[i].iov[1].iov_len = 1;
		w[i].req.iovcnt = 2;
		memcpy(expect + len, "req", 3);
		expect[len + 3] = (char)('0' + i);
		len += 4;
		CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w[i].req), 0);
	}
	calls = g_osp_sock_posix_sendmsg_calls;
	rc = osp_sock_group_poll(group);
	CU_ASSERT_EQUAL(rc, 5);	/* five write completions, nothing to read */
	CU_ASSERT_EQUAL(g_osp_sock_posix_sendmsg_calls - calls, 1);	/* one syscall */
	CU_ASSERT_EQUAL(count, 5);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(order[i], i);
		CU_ASSERT_EQUAL(w[i].err, 0);
	}
	CU_ASSERT_EQUAL(recv_all(p.server, buf, len), 0);
	CU_ASSERT(memcmp(buf, expect, len) == 0);
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);

	CU_ASSERT_EQUAL(osp_sock_group_close(&group), -EBUSY);
	CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, p.client), 0);
	CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, p.client), -ENOENT);
	CU_ASSERT_EQUAL(osp_sock_group_close(&group), 0);
	CU_ASSERT_PTR_NULL(group);
	pair_close(&p);
}

/*
 * Busy polling: a socket whose read returned data is handed to its callback
 * by the next poll without epoll_wait, until a read finds nothing; idle
 * polls go through epoll_wait every time.
 */
static void
test_busy_polling(void)
{
	struct osp_sock_opts opts;
	struct osp_sock_group *group;
	struct readable r = {};
	struct pair p;
	uint64_t ep;
	int i, calls;

	osp_sock_get_default_opts(&opts, sizeof(opts));
	opts.recv_pipe = false;	/* accepted sockets inherit it: no pipe in the way */
	CU_ASSERT_EQUAL_FATAL(pair_open_opts(&p, "127.0.0.1", &opts), 0);
	CU_ASSERT_PTR_NULL(__posix(p.server)->pipe);
	group = osp_sock_group_create(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	r.sock = p.server;
	r.group = group;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.server, readable_cb, &r), 0);

	ep = g_osp_sock_posix_epoll_wait_calls;
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(g_osp_sock_posix_epoll_wait_calls - ep, 1);	/* idle: epoll */

	CU_ASSERT_EQUAL(send(__posix(p.client)->fd, "abcdefgh", 8, 0), 8);
	for (i = 0; i < 1000 && r.got == 0; i++) {
		osp_sock_group_poll(group);
		usleep(100);
	}
	CU_ASSERT_EQUAL_FATAL(r.got, 4);	/* the callback reads 4 bytes at a time */
	/* Hot: called again without epoll, reads the rest. */
	ep = g_osp_sock_posix_epoll_wait_calls;
	calls = r.calls;
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(r.calls, calls + 1);
	CU_ASSERT_EQUAL(r.got, 8);
	CU_ASSERT_EQUAL(g_osp_sock_posix_epoll_wait_calls - ep, 0);
	/* Still hot: called once more without epoll; its read finds nothing. */
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(r.calls, calls + 2);
	CU_ASSERT_EQUAL(g_osp_sock_posix_epoll_wait_calls - ep, 0);
	CU_ASSERT(!r.eof);
	/* Cold: back to epoll, which finds nothing; no callback. */
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(r.calls, calls + 2);
	CU_ASSERT_EQUAL(g_osp_sock_posix_epoll_wait_calls - ep, 1);
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(g_osp_sock_posix_epoll_wait_calls - ep, 2);

	CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, p.server), 0);
	CU_ASSERT_EQUAL(osp_sock_group_close(&group), 0);
	pair_close(&p);
}

static void
test_partial_writes(void)
{
	struct pair p;
	struct osp_sock_group *group;
	enum { NREQ = 8, CHUNK = 512 * 1024 };
	struct wreq w[NREQ];
	uint8_t *src, *dst;
	size_t got = 0, total = (size_t)NREQ * CHUNK;
	int order[NREQ], count = 0, i, rounds = 0;
	uint64_t calls;
	bool saw_epollout = false;
	ssize_t rc;

	save_opts();
	{
		struct osp_sock_impl_opts o = g_saved_opts;

		o.recv_buf_size = 4096;
		o.send_buf_size = 4096;
		o.enable_recv_pipe = false;
		CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), 0);
	}
	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	CU_ASSERT_EQUAL(osp_sock_set_sendbuf(p.client, 4096), 0);
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	src = malloc(total);
	dst = malloc(total);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	for (i = 0; i < (int)total; i++) {
		src[i] = (uint8_t)(i * 7 + (i >> 12));
	}
	{
		struct readable r = {.sock = p.client, .group = group};

		CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, readable_cb, &r), 0);
		for (i = 0; i < NREQ; i++) {
			wreq_init(&w[i], i, order, &count);
			/* Uneven iovecs so partial writes end mid-iovec. */
			w[i].iov[0].iov_base = src + (size_t)i * CHUNK;
			w[i].iov[0].iov_len = 1000;
			w[i].iov[1].iov_base = src + (size_t)i * CHUNK + 1000;
			w[i].iov[1].iov_len = CHUNK - 1000;
			w[i].req.iovcnt = 2;
			CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w[i].req), 0);
		}
		calls = g_osp_sock_posix_sendmsg_calls;
		while ((count < NREQ || got < total) && rounds++ < 200000) {
			osp_sock_group_poll(group);
			saw_epollout |= __posix(p.client)->epollout;
			rc = osp_sock_recv(p.server, dst + got, OSP_MIN((size_t)65536, total - got));
			if (rc > 0) {
				got += (size_t)rc;
			} else {
				CU_ASSERT_EQUAL(rc, -EAGAIN);
			}
		}
		CU_ASSERT_EQUAL(count, NREQ);
		CU_ASSERT_EQUAL(got, total);
		CU_ASSERT(memcmp(src, dst, total) == 0);
		CU_ASSERT(g_osp_sock_posix_sendmsg_calls - calls > NREQ);	/* partial writes */
		CU_ASSERT_TRUE(saw_epollout);
		CU_ASSERT_FALSE(__posix(p.client)->epollout);	/* drained: EPOLLOUT off */
		for (i = 0; i < NREQ; i++) {
			CU_ASSERT_EQUAL(order[i], i);
			CU_ASSERT_EQUAL(w[i].err, 0);
		}
		CU_ASSERT_EQUAL(r.calls, 0);
		osp_sock_group_remove_sock(group, p.client);
	}
	osp_sock_group_close(&group);
	pair_close(&p);
	free(src);
	free(dst);
	restore_opts();
}

static void
test_close_cancels_queued(void)
{
	struct pair p;
	struct wreq w[3];
	int order[3], count = 0, i;

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	for (i = 0; i < 3; i++) {
		wreq_init(&w[i], i, order, &count);
		w[i].iov[0].iov_base = "x";
		w[i].iov[0].iov_len = 1;
		w[i].req.iovcnt = 1;
		CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w[i].req), 0);
	}
	CU_ASSERT_EQUAL(osp_sock_close(&p.client), 0);
	CU_ASSERT_EQUAL(count, 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(order[i], i);
		CU_ASSERT_EQUAL(w[i].err, -ECANCELED);
	}
	pair_close(&p);
}

static void
test_peer_close(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct readable r = {};
	struct wreq w[64];
	int count = 0, i, failed = 0;

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	r.sock = p.server;
	r.group = group;
	r.close_on_eof = true;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.server, readable_cb, &r), 0);
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(osp_sock_close(&p.client), 0);
	poll_until(group, &r.eof, 1000);
	CU_ASSERT_TRUE(r.eof);
	CU_ASSERT_PTR_NULL(r.sock);	/* closed from its callback */
	p.server = NULL;
	CU_ASSERT_EQUAL(osp_sock_group_close(&group), 0);
	CU_ASSERT_EQUAL(osp_sock_close(&p.listen), 0);

	/* Writing to a peer that went away fails the requests with -errno. */
	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	CU_ASSERT_EQUAL(osp_sock_close(&p.client), 0);
	for (i = 0; i < 64 && failed == 0; i++) {
		wreq_init(&w[i], i, NULL, &count);
		w[i].iov[0].iov_base = "data";
		w[i].iov[0].iov_len = 4;
		w[i].req.iovcnt = 1;
		CU_ASSERT_EQUAL(osp_sock_writev_async(p.server, &w[i].req), 0);
		osp_sock_flush(p.server);
		CU_ASSERT_TRUE(w[i].done);
		if (w[i].err != 0) {
			CU_ASSERT(w[i].err == -EPIPE || w[i].err == -ECONNRESET);
			failed++;
		}
		usleep(1000);
	}
	CU_ASSERT_EQUAL(failed, 1);
	CU_ASSERT_FALSE(osp_sock_is_connected(p.server));
	pair_close(&p);
}

static bool
fd_readable(int fd)
{
	struct epoll_event ev;

	return epoll_wait(fd, &ev, 1, 0) == 1;
}

/* The socket itself has room to write (poll POLLOUT). */
static bool
sock_fd_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT) != 0;
}

static void
test_group_wakes_thread(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct readable r = {};
	int ifd, i;

	ut_env_init();
	CU_ASSERT_EQUAL_FATAL(ut_allocate_threads(1), 0);
	ut_set_thread(0);
	ifd = osp_thread_get_interrupt_fd(ut_thread(0));
	CU_ASSERT_FATAL(ifd >= 0);
	ut_poll_threads();

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	r.sock = p.server;
	r.group = group;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.server, readable_cb, &r), 0);
	CU_ASSERT_FALSE(fd_readable(ifd));

	CU_ASSERT_EQUAL(write(__posix(p.client)->fd, "wake", 4), 4);
	for (i = 0; i < 1000 && !fd_readable(ifd); i++) {
		usleep(100);
	}
	CU_ASSERT_TRUE(fd_readable(ifd));
	/* The callback reads 4 bytes: the socket is drained and the fd quiet again. */
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(r.got, 4);
	CU_ASSERT(memcmp(r.buf, "wake", 4) == 0);
	CU_ASSERT_FALSE(fd_readable(ifd));

	CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, p.server), 0);
	CU_ASSERT_EQUAL(osp_sock_group_close(&group), 0);
	pair_close(&p);
	ut_set_thread(-1);
	ut_free_threads();
}

/*
 * A slow reader must not stall queued writes while the thread sleeps: once
 * the send buffer is full the socket waits for EPOLLOUT, and the thread's
 * interrupt fd (what a sleeping reactor blocks on) must become readable as
 * soon as the peer reads, with nothing arriving from it. (SPDK's iscsi_tgt
 * stalled 1 MiB reads until the initiator's next NOP-Out through a slow
 * link: a send path that only resumed when something new arrived.)
 */
static void
test_writable_wakes_thread(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct wreq w;
	enum { TOTAL = 1024 * 1024 };
	uint8_t *src, *dst;
	size_t got = 0;
	int ifd, i, wakes = 0, spins;
	ssize_t rc;

	save_opts();
	{
		struct osp_sock_impl_opts o = g_saved_opts;

		o.recv_buf_size = 4096;
		o.send_buf_size = 4096;
		o.enable_recv_pipe = false;
		CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), 0);
	}
	ut_env_init();
	CU_ASSERT_EQUAL_FATAL(ut_allocate_threads(1), 0);
	ut_set_thread(0);
	ifd = osp_thread_get_interrupt_fd(ut_thread(0));
	CU_ASSERT_FATAL(ifd >= 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	src = malloc(TOTAL);
	dst = malloc(TOTAL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	for (i = 0; i < TOTAL; i++) {
		src[i] = (uint8_t)(i * 11 + (i >> 10));
	}
	{
		struct readable r = {.sock = p.client, .group = group};

		CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, readable_cb, &r), 0);
		wreq_init(&w, 0, NULL, NULL);
		w.iov[0].iov_base = src;
		w.iov[0].iov_len = TOTAL;
		w.req.iovcnt = 1;
		CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w.req), 0);
		while (!w.done && got < TOTAL) {
			/* Send until the kernel's buffers are full; the reader has not read yet. */
			osp_sock_group_poll(group);
			osp_sock_group_poll(group);
			CU_ASSERT_FATAL(__posix(p.client)->epollout || w.done);
			if (w.done) {
				break;
			}
			/* Asleep now: nothing would wake the thread but writability. */
			usleep(1000);
			/*
			 * No wake-up unless the socket really became writable: on a
			 * loaded machine the kernel may grow its buffers by itself.
			 */
			CU_ASSERT(!fd_readable(ifd) || sock_fd_writable(__posix(p.client)->fd));
			/* The slow reader takes a little. */
			rc = recv(__posix(p.server)->fd, dst + got, 16384, MSG_DONTWAIT);
			CU_ASSERT_FATAL(rc > 0);
			got += (size_t)rc;
			/* Up to 2 s: a loaded machine may take a while to open the window. */
			for (spins = 0; spins < 20000 && !fd_readable(ifd); spins++) {
				usleep(100);
			}
			if (fd_readable(ifd)) {
				wakes++;
			}
		}
		/* Drain the rest. */
		for (spins = 0; got < TOTAL && spins < 200000; spins++) {
			osp_sock_group_poll(group);
			rc = recv(__posix(p.server)->fd, dst + got, TOTAL - got, MSG_DONTWAIT);
			if (rc > 0) {
				got += (size_t)rc;
			}
		}
		for (spins = 0; !w.done && spins < 1000; spins++) {
			osp_sock_group_poll(group);
		}
		CU_ASSERT_TRUE(w.done);
		CU_ASSERT_EQUAL(w.err, 0);
		CU_ASSERT_EQUAL(got, (size_t)TOTAL);
		CU_ASSERT(memcmp(src, dst, TOTAL) == 0);
		/* Every time the reader made room, the sleeping thread was woken. */
		CU_ASSERT(wakes > 2);
		osp_sock_group_remove_sock(group, p.client);
	}
	osp_sock_group_close(&group);
	pair_close(&p);
	free(src);
	free(dst);
	restore_opts();
	ut_set_thread(-1);
	ut_free_threads();
}

static void
test_recv_pipe(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct readable r = {};
	static const char msg[] = "0123456789abcdefghij";	/* 20 bytes */
	uint64_t before;
	int i;

	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	CU_ASSERT_PTR_NOT_NULL(__posix(p.server)->pipe);	/* on by default */
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	r.sock = p.server;
	r.group = group;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.server, readable_cb, &r), 0);
	CU_ASSERT_EQUAL(write(__posix(p.client)->fd, msg, 20), 20);
	for (i = 0; i < 1000 && r.calls == 0; i++) {
		osp_sock_group_poll(group);
		usleep(100);
	}
	/* One recv filled the pipe; epoll sees nothing, yet the callbacks go on. */
	CU_ASSERT_EQUAL(r.got, 4);
	CU_ASSERT_EQUAL(__posix(p.server)->pipe_len, 16);
	before = (uint64_t)r.calls;
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(osp_sock_group_poll(group), 1);
	}
	CU_ASSERT_EQUAL((uint64_t)r.calls, before + 4);
	CU_ASSERT_EQUAL(r.got, 20);
	CU_ASSERT(memcmp(r.buf, msg, 20) == 0);
	CU_ASSERT_FALSE(__posix(p.server)->in_pipe_list);
	CU_ASSERT_EQUAL(osp_sock_group_poll(group), 0);
	CU_ASSERT_EQUAL(osp_sock_group_remove_sock(group, p.server), 0);
	CU_ASSERT_EQUAL(osp_sock_group_close(&group), 0);
	pair_close(&p);
}

static void
test_zerocopy(void)
{
	struct pair p;
	struct osp_sock_group *group;
	struct readable r = {};
	enum { NREQ = 4, CHUNK = 64 * 1024 };
	struct wreq w[NREQ];
	uint8_t *src, *dst;
	size_t got = 0, total = (size_t)NREQ * CHUNK;
	int order[NREQ], count = 0, i, rounds = 0;
	ssize_t rc;

	save_opts();
	{
		struct osp_sock_impl_opts o = g_saved_opts;

		o.enable_zerocopy_send_client = true;
		o.zerocopy_threshold = 4096;
		CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), 0);
	}
	CU_ASSERT_EQUAL_FATAL(pair_open(&p, "127.0.0.1"), 0);
	if (!__posix(p.client)->zcopy) {
		printf("(no SO_ZEROCOPY here: skipped) ");
		pair_close(&p);
		restore_opts();
		return;
	}
	CU_ASSERT_FALSE(__posix(p.server)->zcopy);	/* server side stays off */
	group = osp_sock_group_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	r.sock = p.client;
	r.group = group;
	CU_ASSERT_EQUAL(osp_sock_group_add_sock(group, p.client, readable_cb, &r), 0);
	src = malloc(total);
	dst = malloc(total);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	for (i = 0; i < (int)total; i++) {
		src[i] = (uint8_t)(i * 13);
	}
	for (i = 0; i < NREQ; i++) {
		wreq_init(&w[i], i, order, &count);
		w[i].iov[0].iov_base = src + (size_t)i * CHUNK;
		w[i].iov[0].iov_len = CHUNK;
		w[i].req.iovcnt = 1;
		CU_ASSERT_EQUAL(osp_sock_writev_async(p.client, &w[i].req), 0);
		if (i == 0) {
			/* The first goes alone, the others in one batch. */
			osp_sock_group_poll(group);
		}
	}
	while ((count < NREQ || got < total) && rounds++ < 100000) {
		osp_sock_group_poll(group);
		rc = osp_sock_recv(p.server, dst + got, total - got);
		if (rc > 0) {
			got += (size_t)rc;
		}
		if (count < NREQ) {
			usleep(50);
		}
	}
	CU_ASSERT_EQUAL(count, NREQ);
	CU_ASSERT_EQUAL(got, total);
	CU_ASSERT(memcmp(src, dst, total) == 0);
	for (i = 0; i < NREQ; i++) {
		CU_ASSERT_EQUAL(order[i], i);
		CU_ASSERT_EQUAL(w[i].err, 0);
	}
	CU_ASSERT(__posix(p.client)->zcopy_next > 0);
	CU_ASSERT_EQUAL(r.calls, 0);	/* notifications are not "readable" */
	CU_ASSERT_TRUE(TAILQ_EMPTY(&p.client->pending_reqs));
	osp_sock_group_remove_sock(group, p.client);
	osp_sock_group_close(&group);
	pair_close(&p);
	free(src);
	free(dst);
	restore_opts();
}

static void
test_zcopy_release_order(void)
{
	/* Pure bookkeeping: a copied request queued behind zero-copy ones waits. */
	struct osp_sock s;
	struct wreq w[3];
	int order[3], count = 0, i;
	sock_req_list_t ok, failed;

	osp_sock_init_base(&s, &g_posix_net_impl, NULL);
	for (i = 0; i < 3; i++) {
		wreq_init(&w[i], i, order, &count);
		w[i].iov[0].iov_base = "z";
		w[i].iov[0].iov_len = 1;
		w[i].req.iovcnt = 1;
		CU_ASSERT_EQUAL(osp_sock_writev_async(&s, &w[i].req), 0);
	}
	osp_sock_request_sent(&s, &w[0].req, true, 0xffffffffu);
	osp_sock_request_sent(&s, &w[1].req, true, 0);
	osp_sock_request_sent(&s, &w[2].req, false, 0);
	CU_ASSERT_TRUE(TAILQ_EMPTY(&s.done_reqs));
	osp_sock_zcopy_release(&s, 0, 0);	/* the second: still behind the first */
	CU_ASSERT_TRUE(TAILQ_EMPTY(&s.done_reqs));
	osp_sock_zcopy_release(&s, 0xffffffffu, 0xffffffffu);	/* wrapping range */
	CU_ASSERT_TRUE(TAILQ_EMPTY(&s.pending_reqs));
	sock_detach(&s, &ok, &failed, false);
	CU_ASSERT_EQUAL(sock_complete_list(&ok, 0), 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(order[i], i);
	}
}

static void
test_impl_opts(void)
{
	struct osp_sock_impl_opts o, o2;
	size_t len = sizeof(o);

	save_opts();
	CU_ASSERT_STRING_EQUAL(osp_sock_get_default_impl(), "posix");
	CU_ASSERT_STRING_EQUAL(osp_sock_get_first_impl(), "posix");
	CU_ASSERT_PTR_NULL(osp_sock_get_next_impl("posix"));
	CU_ASSERT_EQUAL(osp_sock_set_default_impl("nope"), -ENODEV);
	CU_ASSERT_EQUAL(osp_sock_set_default_impl("posix"), 0);

	CU_ASSERT_EQUAL(osp_sock_impl_get_opts("posix", &o, &len), 0);
	CU_ASSERT_EQUAL(len, sizeof(o));
	CU_ASSERT_TRUE(o.enable_recv_pipe);
	CU_ASSERT_FALSE(o.enable_zerocopy_send_server);
	CU_ASSERT_EQUAL(osp_sock_impl_get_opts("nope", &o, &len), -ENODEV);
	CU_ASSERT_EQUAL(osp_sock_impl_get_opts(NULL, &o, &len), -EINVAL);

	o.recv_buf_size = 123456;
	o.enable_quickack = true;
	o.zerocopy_threshold = 8192;
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), 0);
	len = sizeof(o2);
	CU_ASSERT_EQUAL(osp_sock_impl_get_opts("posix", &o2, &len), 0);
	CU_ASSERT(memcmp(&o, &o2, sizeof(o)) == 0);
	/* A shorter (older) struct changes only its prefix. */
	o.recv_buf_size = 777;
	o.send_buf_size = 888;
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(uint32_t)), 0);
	len = sizeof(uint32_t);
	memset(&o2, 0, sizeof(o2));
	CU_ASSERT_EQUAL(osp_sock_impl_get_opts("posix", &o2, &len), 0);
	CU_ASSERT_EQUAL(len, sizeof(uint32_t));
	CU_ASSERT_EQUAL(o2.recv_buf_size, 777);
	CU_ASSERT_EQUAL(o2.send_buf_size, 0);	/* not copied */
	CU_ASSERT_EQUAL(g_posix_opts.send_buf_size, g_saved_opts.send_buf_size);
	o.enable_ktls = true;
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), -EINVAL);
	o.enable_ktls = false;
	o.tls_version = 13;
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("posix", &o, sizeof(o)), -EINVAL);
	CU_ASSERT_EQUAL(osp_sock_impl_set_opts("nope", &o, sizeof(o)), -ENODEV);
	restore_opts();
}

/* ---- RPCs ---- */

static cJSON *g_resp;

static void
rpc_cb(void *arg, const cJSON *resp)
{
	cJSON_Delete(g_resp);
	g_resp = cJSON_Duplicate(resp, 1);
}

static const cJSON *
call(const char *method, const char *params_text)
{
	cJSON *params = params_text != NULL ? cJSON_Parse(params_text) : NULL;

	CU_ASSERT(params_text == NULL || params != NULL);
	cJSON_Delete(g_resp);
	g_resp = NULL;
	CU_ASSERT(osp_rpc_call(method, params, rpc_cb, NULL) == 0);
	cJSON_Delete(params);
	CU_ASSERT_PTR_NOT_NULL(g_resp);
	return g_resp;
}

static int
resp_error(const cJSON *resp)
{
	const cJSON *err = cJSON_GetObjectItem(resp, "error");

	return err != NULL ? (int)cJSON_GetObjectItem(err, "code")->valuedouble : 0;
}

static const cJSON *
resp_result(const cJSON *resp)
{
	return cJSON_GetObjectItem(resp, "result");
}

static void
test_rpc(void)
{
	const cJSON *res;
	cJSON *config, *e, *params;
	int n_set = 0, n_default = 0;

	save_opts();
	res = resp_result(call("sock_impl_get_options", "{\"impl_name\": \"posix\"}"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(res, "recv_buf_size")->valuedouble,
			g_posix_opts.recv_buf_size);
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(res, "enable_recv_pipe")));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(res, "enable_zerocopy_send_client"));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(res, "zerocopy_threshold"));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(res, "enable_placement_id"));

	CU_ASSERT_EQUAL(resp_error(call("sock_impl_get_options", "{\"impl_name\": \"nope\"}")),
			OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(resp_error(call("sock_impl_get_options", NULL)),
			OSP_JSONRPC_ERROR_INVALID_PARAMS);

	/* Only the given options change. */
	CU_ASSERT_TRUE(cJSON_IsTrue(resp_result(call("sock_impl_set_options",
		"{\"impl_name\": \"posix\", \"recv_buf_size\": 65536, "
		"\"enable_zerocopy_send_server\": true, \"zerocopy_threshold\": 16384}"))));
	CU_ASSERT_EQUAL(g_posix_opts.recv_buf_size, 65536);
	CU_ASSERT_EQUAL(g_posix_opts.send_buf_size, g_saved_opts.send_buf_size);
	CU_ASSERT_TRUE(g_posix_opts.enable_zerocopy_send_server);
	CU_ASSERT_EQUAL(g_posix_opts.zerocopy_threshold, 16384);
	CU_ASSERT_EQUAL(g_posix_opts.enable_recv_pipe, g_saved_opts.enable_recv_pipe);

	CU_ASSERT_EQUAL(resp_error(call("sock_impl_set_options",
		"{\"impl_name\": \"posix\", \"enable_ktls\": true}")), OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(resp_error(call("sock_impl_set_options",
		"{\"impl_name\": \"posix\", \"recv_buf_size\": -1}")), OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(resp_error(call("sock_impl_set_options",
		"{\"impl_name\": \"posix\", \"bogus\": 1}")), OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(resp_error(call("sock_impl_set_options",
		"{\"impl_name\": \"uring\"}")), OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(resp_error(call("sock_impl_set_options",
		"{\"impl_name\": \"posix\", \"enable_placement_id\": 3}")),
		OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_EQUAL(g_posix_opts.recv_buf_size, 65536);	/* failures changed nothing */

	CU_ASSERT_TRUE(cJSON_IsTrue(resp_result(call("sock_set_default_impl",
		"{\"impl_name\": \"posix\"}"))));
	CU_ASSERT_EQUAL(resp_error(call("sock_set_default_impl", "{\"impl_name\": \"x\"}")),
			OSP_JSONRPC_ERROR_INVALID_PARAMS);
	res = resp_result(call("sock_get_default_impl", NULL));
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(res, "impl_name")->valuestring, "posix");

	/* save_config: every entry is a call that load_config can replay. */
	config = cJSON_CreateArray();
	sock_write_config_json(config);
	cJSON_ArrayForEach(e, config) {
		const char *method = cJSON_GetObjectItem(e, "method")->valuestring;
		char *text;

		params = cJSON_GetObjectItem(e, "params");
		if (strcmp(method, "sock_impl_set_options") == 0) {
			n_set++;
			CU_ASSERT_EQUAL(cJSON_GetObjectItem(params, "recv_buf_size")->valuedouble,
					65536);
		} else if (strcmp(method, "sock_set_default_impl") == 0) {
			n_default++;
		}
		text = cJSON_PrintUnformatted(params);
		restore_opts();
		CU_ASSERT_EQUAL(resp_error(call(method, text)), 0);
		free(text);
	}
	CU_ASSERT_EQUAL(g_posix_opts.recv_buf_size, 65536);	/* replayed */
	CU_ASSERT_EQUAL(n_set, 1);
	CU_ASSERT_EQUAL(n_default, 1);
	cJSON_Delete(config);
	CU_ASSERT_PTR_NOT_NULL(osp_subsystem_find("sock"));
	cJSON_Delete(g_resp);
	g_resp = NULL;
	restore_opts();
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("sock", NULL, NULL);
	CU_ADD_TEST(suite, test_bad_addresses);
	CU_ADD_TEST(suite, test_priority);
	CU_ADD_TEST(suite, test_connect_refused);
	CU_ADD_TEST(suite, test_connect_source);
	CU_ADD_TEST(suite, test_listen_connect_data);
	CU_ADD_TEST(suite, test_ipv6);
	CU_ADD_TEST(suite, test_group_batching_and_order);
	CU_ADD_TEST(suite, test_partial_writes);
	CU_ADD_TEST(suite, test_close_cancels_queued);
	CU_ADD_TEST(suite, test_peer_close);
	CU_ADD_TEST(suite, test_group_wakes_thread);
	CU_ADD_TEST(suite, test_writable_wakes_thread);
	CU_ADD_TEST(suite, test_recv_pipe);
	CU_ADD_TEST(suite, test_zerocopy);
	CU_ADD_TEST(suite, test_zcopy_release_order);
	CU_ADD_TEST(suite, test_impl_opts);
	CU_ADD_TEST(suite, test_busy_polling);
	CU_ADD_TEST(suite, test_rpc);

	rc = ut_run_suites();
	return rc;
}

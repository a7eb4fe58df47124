/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target core (lib/nvmf/ctrlr.c, poll_group.c with
 * nvmf.c, transport.c, nvmf_rpc.c and the real bdev back end compiled in):
 * a fake transport whose req_complete records every completion, a target
 * with two poll groups on test threads (thread 0 is the target's), malloc
 * bdevs as namespaces. Everything is driven by hand: ut_poll_threads() and
 * fake tick counts for the keep alive timer, no sleeps.
 */
#include "ut_bdev.h"

#include "../../../../drivers/bdev/malloc/bdev_malloc.h"

#include "osprey/rpc.h"

#include "nvmf/nvmf.c"
#include "nvmf/subsystem.c"
#include "nvmf/discovery.c"
#include "nvmf/transport.c"
#include "nvmf/nvmf_rpc.c"
#include "nvmf/poll_group.c"
#include "nvmf/ctrlr.c"
#include "nvmf/fabrics.c"
#include "nvmf/admin.c"
#include "nvmf/ctrlr_bdev.c"
#include "ut_run.h"
#include "osprey_internal/mock.h"

#define HOST1 "nqn.2014-08.org.nvmexpress:uuid:11111111-1111-1111-1111-111111111111"
#define HOST2 "nqn.2014-08.org.nvmexpress:uuid:22222222-2222-2222-2222-222222222222"
#define SUBNQN "nqn.2016-06.io.spdk:cnode1"
#define NTHREADS 3

/* ---- the fake transport ---- */

struct fake_tgroup {
	struct osp_nvmf_transport_poll_group tg;
	struct osp_thread *thread;
	int nqpairs;
};

struct fake_req {
	struct osp_nvmf_request req;
	int completions;
	uint8_t buf[8192];
};

#define FAKE_REQS 16

struct fake_qpair {
	struct osp_nvmf_qpair q;
	struct fake_req reqs[FAKE_REQS];
	int added;
	int removed;
	int finied;
	int thread;		/* index of the test thread of its group */
	TAILQ_ENTRY(fake_qpair) link;
};

static struct osp_nvmf_transport *g_transport;
static TAILQ_HEAD(, fake_qpair) g_accept_queue = TAILQ_HEAD_INITIALIZER(g_accept_queue);
static int g_completions;
static int g_double_completions;

static void
fake_opts_init(struct osp_nvmf_transport_opts *opts)
{
	opts->max_queue_depth = 32;
	opts->max_aq_depth = 16;
	opts->max_qpairs_per_ctrlr = 4;
	opts->in_capsule_data_size = 4096;
	opts->max_io_size = 131072;
}

static int
fake_create(const struct osp_nvmf_transport_opts *opts, struct osp_nvmf_transport **out,
	    char *err, size_t errlen)
{
	g_transport = calloc(1, sizeof(*g_transport));
	*out = g_transport;
	return g_transport != NULL ? 0 : -ENOMEM;
}

static int
fake_destroy(struct osp_nvmf_transport *t, osp_nvmf_transport_destroy_done_cb cb, void *arg)
{
	free(t);
	g_transport = NULL;
	cb(arg);
	return 0;
}

static uint32_t
fake_accept(struct osp_nvmf_transport *t, osp_nvmf_new_qpair_fn new_qp, void *cb_arg)
{
	struct fake_qpair *fq;
	uint32_t n = 0;

	while ((fq = TAILQ_FIRST(&g_accept_queue)) != NULL) {
		TAILQ_REMOVE(&g_accept_queue, fq, link);
		new_qp(&fq->q, cb_arg);
		n++;
	}
	return n;
}

static struct osp_nvmf_transport_poll_group *
fake_pg_create(struct osp_nvmf_transport *t)
{
	struct fake_tgroup *g = calloc(1, sizeof(*g));

	g->thread = osp_get_thread();
	return &g->tg;
}

static void
fake_pg_destroy(struct osp_nvmf_transport_poll_group *tg)
{
	struct fake_tgroup *g = (struct fake_tgroup *)tg;

	CU_ASSERT_EQUAL(g->nqpairs, 0);
	free(g);
}

static int
fake_pg_add(struct osp_nvmf_transport_poll_group *tg, struct osp_nvmf_qpair *q)
{
	struct fake_tgroup *g = (struct fake_tgroup *)tg;
	struct fake_qpair *fq = (struct fake_qpair *)q;
	int i;

	CU_ASSERT_EQUAL(g->thread, osp_get_thread());
	for (i = 0; i < ut_thread_count(); i++) {
		if (ut_thread(i) == g->thread) {
			fq->thread = i;
		}
	}
	fq->added++;
	g->nqpairs++;
	return 0;
}

static int
fake_pg_remove(struct osp_nvmf_transport_poll_group *tg, struct osp_nvmf_qpair *q)
{
	((struct fake_tgroup *)tg)->nqpairs--;
	((struct fake_qpair *)q)->removed++;
	return 0;
}

OSP_DEFINE_STUB(fake_pg_poll, int, (struct osp_nvmf_transport_poll_group *tg), 0)

static int
fake_req_complete(struct osp_nvmf_request *req)
{
	struct fake_req *fr = (struct fake_req *)req;

	if (fr->completions++ > 0) {
		g_double_completions++;
	}
	g_completions++;
	return 0;
}

static void
fake_qpair_fini(struct osp_nvmf_qpair *q, osp_nvmf_qpair_fini_cb cb, void *arg)
{
	((struct fake_qpair *)q)->finied++;
	if (cb != NULL) {
		cb(arg);
	}
}

static int
fake_local_addr(struct osp_nvmf_qpair *q, struct osp_nvmf_listen_addr *addr)
{
	char err[64];

	return osp_nvmf_listen_addr_parse(addr, "rdma", "ipv4", "127.0.0.1", "4400", err,
					  sizeof(err));
}

static const struct osp_nvmf_transport_ops g_fake_ops = {
	.name = "RDMA",
	.type = OSP_NVMF_TRTYPE_RDMA,
	.opts_init = fake_opts_init,
	.create = fake_create,
	.destroy = fake_destroy,
	.accept = fake_accept,
	.poll_group_create = fake_pg_create,
	.poll_group_destroy = fake_pg_destroy,
	.poll_group_add = fake_pg_add,
	.poll_group_remove = fake_pg_remove,
	.poll_group_poll = fake_pg_poll,
	.req_complete = fake_req_complete,
	.qpair_fini = fake_qpair_fini,
	.qpair_get_local_addr = fake_local_addr,
	.qpair_get_peer_addr = fake_local_addr,
};
OSP_NVMF_TRANSPORT_REGISTER(fake, &g_fake_ops)

/* ---- the test target ---- */

static struct osp_nvmf_tgt *g_tgt;
static struct osp_nvmf_subsystem *g_subsys;

static void
pg_created(void *arg, int rc)
{
	CU_ASSERT_EQUAL(rc, 0);
	(*(int *)arg)++;
}

static void
mk_disk(const char *name, uint64_t blocks)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = blocks, .block_size = 512 };
	struct osp_bdev *bdev = NULL;

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &bdev), 0);
}

static void
state_done(struct osp_nvmf_subsystem *s, void *arg, int status)
{
	CU_ASSERT_EQUAL(status, 0);
	(*(int *)arg)++;
}

static void
setup(void)
{
	struct osp_nvmf_subsystem_opts o;
	char err[256];
	int n = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(NTHREADS), 0);
	ut_set_thread(0);
	g_tgt = osp_nvmf_tgt_create("t", 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_tgt);
	nvmf_set_default_tgt(g_tgt);
	CU_ASSERT_EQUAL(nvmf_tgt_add_poll_group(g_tgt, ut_thread(1), false, pg_created, &n), 0);
	CU_ASSERT_EQUAL(nvmf_tgt_add_poll_group(g_tgt, ut_thread(2), false, pg_created, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL_FATAL(osp_nvmf_transport_create(g_tgt, "rdma", NULL, NULL, err,
			      sizeof(err)), 0);
	ut_poll_threads();
	mk_disk("M0", 1024);
	mk_disk("M1", 1024);
	osp_nvmf_subsystem_opts_init(&o, sizeof(o));
	o.min_cntlid = 5;
	o.max_cntlid = 6;
	o.serial_number = "SN123";
	CU_ASSERT_EQUAL_FATAL(osp_nvmf_subsystem_create(g_tgt, SUBNQN, &o, &g_subsys, err,
			      sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(osp_nvmf_subsystem_add_host(g_subsys, HOST1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(g_subsys, "M0", NULL, err, sizeof(err)), 1);
	n = 0;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_start(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(g_subsys), OSP_NVMF_SUBSYSTEM_ACTIVE);
	g_completions = 0;
	g_double_completions = 0;
}

static void
shutdown_done(void *arg)
{
	*(int *)arg = 1;
}

static void
teardown(void)
{
	int done = 0;

	ut_set_thread(0);
	nvmf_tgt_shutdown(g_tgt, shutdown_done, &done);
	ut_poll_threads();
	CU_ASSERT_EQUAL_FATAL(done, 1);
	CU_ASSERT_EQUAL(g_tgt->num_ctrlrs, 0);
	osp_nvmf_tgt_destroy(g_tgt);
	g_tgt = NULL;
	g_subsys = NULL;
	CU_ASSERT_EQUAL(g_double_completions, 0);
	done = 0;
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	done = 0;
	bdev_malloc_delete("M1", ut_unreg_cb, &done);
	ut_poll_threads();
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* A new connection, placed by the acceptor (round robin over threads 1 and 2). */
static struct fake_qpair *
new_conn(void)
{
	struct fake_qpair *fq = calloc(1, sizeof(*fq));
	int i;

	fq->q.transport = g_transport;
	for (i = 0; i < FAKE_REQS; i++) {
		fq->reqs[i].req.qpair = &fq->q;
	}
	TAILQ_INSERT_TAIL(&g_accept_queue, fq, link);
	ut_set_thread(0);
	acceptor_poll(g_tgt);
	ut_poll_threads();
	CU_ASSERT_EQUAL(fq->added, 1);
	return fq;
}

static struct fake_req *
get_req(struct fake_qpair *fq, int i)
{
	struct fake_req *fr = &fq->reqs[i];

	memset(&fr->req.cmd, 0, sizeof(fr->req.cmd));
	memset(fr->buf, 0, sizeof(fr->buf));
	fr->completions = 0;
	fr->req.iov[0].iov_base = fr->buf;
	fr->req.iov[0].iov_len = sizeof(fr->buf);
	fr->req.iovcnt = 1;
	fr->req.length = 4096;
	fr->req.xfer = OSP_NVMF_XFER_CONTROLLER_TO_HOST;
	fr->req.cmd.cid = (uint16_t)(i + 1);
	return fr;
}

/* Submit on the qpair's thread and run everything. */
static void
submit(struct fake_qpair *fq, struct fake_req *fr)
{
	ut_set_thread(fq->thread);
	osp_nvmf_request_exec(&fr->req);
	ut_poll_threads();
}

static uint16_t
status(const struct fake_req *fr)
{
	return (uint16_t)(fr->req.rsp.status.sct << 8 | fr->req.rsp.status.sc);
}

#define ST(sct, sc) ((uint16_t)((sct) << 8 | (sc)))
#define OK ST(0, 0)

static struct fake_req *
connect_req(struct fake_qpair *fq, int slot, uint16_t qid, uint16_t sqsize, uint16_t cntlid,
	    const char *subnqn, const char *hostnqn, uint32_t kato)
{
	struct fake_req *fr = get_req(fq, slot);
	struct osp_nvmf_connect_cmd *cmd = (struct osp_nvmf_connect_cmd *)&fr->req.cmd;
	struct osp_nvmf_connect_data *d = (struct osp_nvmf_connect_data *)fr->buf;

	cmd->opcode = OSP_NVMF_FABRIC_OPCODE;
	cmd->cid = (uint16_t)(slot + 1);
	cmd->fctype = OSP_NVMF_FCTYPE_CONNECT;
	cmd->qid = qid;
	cmd->sqsize = sqsize;
	cmd->kato = kato;
	memset(d->hostid, 0xab, sizeof(d->hostid));
	d->cntlid = cntlid;
	snprintf(d->subnqn, sizeof(d->subnqn), "%s", subnqn);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", hostnqn);
	fr->req.length = 1024;
	fr->req.xfer = OSP_NVMF_XFER_HOST_TO_CONTROLLER;
	submit(fq, fr);
	CU_ASSERT_EQUAL(fr->completions, 1);
	return fr;
}

static void
prop_set_cc(struct fake_qpair *fq, uint32_t cc)
{
	struct fake_req *fr = get_req(fq, 0);
	struct osp_nvmf_property_set_cmd *cmd = (struct osp_nvmf_property_set_cmd *)&fr->req.cmd;

	cmd->opcode = OSP_NVMF_FABRIC_OPCODE;
	cmd->fctype = OSP_NVMF_FCTYPE_PROPERTY_SET;
	cmd->attrib = OSP_NVMF_PROP_SIZE_4;
	cmd->ofst = OSP_NVME_REG_CC;
	cmd->value = cc;
	fr->req.length = 0;
	submit(fq, fr);
	CU_ASSERT_EQUAL(status(fr), OK);
}

static uint64_t
prop_get(struct fake_qpair *fq, uint32_t ofst, uint8_t size, uint16_t *st)
{
	struct fake_req *fr = get_req(fq, 0);
	struct osp_nvmf_property_get_cmd *cmd = (struct osp_nvmf_property_get_cmd *)&fr->req.cmd;

	cmd->opcode = OSP_NVMF_FABRIC_OPCODE;
	cmd->fctype = OSP_NVMF_FCTYPE_PROPERTY_GET;
	cmd->attrib = size;
	cmd->ofst = ofst;
	fr->req.length = 0;
	submit(fq, fr);
	*st = status(fr);
	return fr->req.rsp.cdw0 | (uint64_t)fr->req.rsp.cdw1 << 32;
}

/* An enabled controller on a new admin qpair; returns the qpair and its cntlid. */
static struct fake_qpair *
admin_conn(const char *subnqn, uint32_t kato, uint16_t *cntlid)
{
	struct fake_qpair *fq = new_conn();
	struct fake_req *fr = connect_req(fq, 0, 0, 15, 0xffff, subnqn, HOST1, kato);

	CU_ASSERT_EQUAL(status(fr), OK);
	if (cntlid != NULL) {
		*cntlid = (uint16_t)fr->req.rsp.cdw0;
	}
	prop_set_cc(fq, 1 | (6u << 16) | (4u << 20));
	return fq;
}

static struct fake_req *
admin_cmd(struct fake_qpair *fq, int slot, uint8_t opc, uint32_t nsid, uint32_t cdw10,
	  uint32_t cdw11)
{
	struct fake_req *fr = get_req(fq, slot);

	fr->req.cmd.opc = opc;
	fr->req.cmd.nsid = nsid;
	fr->req.cmd.cdw10 = cdw10;
	fr->req.cmd.cdw11 = cdw11;
	submit(fq, fr);
	return fr;
}

/* Let every qpair go and check each was finished exactly once. */
static void
free_conn(struct fake_qpair *fq)
{
	if (fq->finied == 0) {
		ut_set_thread(fq->thread);
		osp_nvmf_qpair_disconnect(&fq->q);
		ut_poll_threads();
	}
	CU_ASSERT_EQUAL(fq->finied, 1);
	CU_ASSERT_EQUAL(fq->removed, 1);
	free(fq);
}

/* ---- tests ---- */

static void
test_connect(void)
{
	struct fake_qpair *a, *b, *io, *io2;
	struct fake_req *fr;
	uint16_t cntlid;

	setup();
	a = new_conn();
	/* Anything but Connect first: Command Sequence Error. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, 1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	/* Unknown subsystem: Invalid Parameters pointing at SUBNQN in the data. */
	fr = connect_req(a, 0, 0, 15, 0xffff, "nqn.2016-06.io.spdk:nope", HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 256u | (1u << 16));
	/* Host not on the allow list. */
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, HOST2, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_HOST));
	/* SQSIZE 0 and beyond max_aq_depth. */
	fr = connect_req(a, 0, 0, 0, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 44u);
	fr = connect_req(a, 0, 0, 16, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	/* A static cntlid is refused: the model is dynamic. */
	fr = connect_req(a, 0, 0, 15, 7, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 16u | (1u << 16));
	/* Success: the first id of the range. */
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 5);
	CU_ASSERT_EQUAL(a->q.qid, 0);
	CU_ASSERT_EQUAL(a->q.sq_size, 16);
	/* A second Connect on the same queue is out of sequence. */
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	/* Second controller gets 6, a third finds the range exhausted. */
	b = new_conn();
	fr = connect_req(b, 0, 0, 15, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 6);
	io = new_conn();
	fr = connect_req(io, 0, 0, 15, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_CONTROLLER_BUSY));
	cntlid = 5;
	/* I/O queue: unknown controller, then before CC.EN, then fine. */
	fr = connect_req(io, 0, 1, 31, 9, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 16u | (1u << 16));
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	prop_set_cc(a, 1);
	fr = connect_req(io, 0, 1, 32, cntlid, SUBNQN, HOST1, 0);	/* > max_queue_depth - 1 */
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	fr = connect_req(io, 0, 4, 31, cntlid, SUBNQN, HOST1, 0);	/* qid >= max_qpairs */
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 42u);
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(io->q.qid, 1);
	/* The same qid twice. */
	io2 = new_conn();
	fr = connect_req(io2, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	/* Different host NQN for the controller. */
	fr = connect_req(io2, 0, 2, 31, cntlid, SUBNQN, HOST2, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_HOST));
	CU_ASSERT_EQUAL(g_subsys->ctrlrs.tqh_first->num_io_qpairs, 1);

	/* The admin queue going away takes the I/O queue with it. */
	free_conn(a);
	CU_ASSERT_EQUAL(io->finied, 1);
	free_conn(io);
	free_conn(io2);
	free_conn(b);
	CU_ASSERT_TRUE(TAILQ_EMPTY(&g_subsys->ctrlrs));
	teardown();
}

/*
 * SPDK's perf sends Connect with an empty host NQN when given none: a
 * subsystem that allows any host accepts it (admin and I/O queues), one with
 * a host list refuses it as an invalid host (84h), never as 82h.
 */
static void
test_connect_empty_hostnqn(void)
{
	struct fake_qpair *a, *io, *bad;
	struct fake_req *fr;
	uint16_t cntlid;

	setup();
	a = new_conn();
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, "", 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_HOST));
	/* A host NQN that is not an NQN is still an invalid parameter. */
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, "nqn.2016-06.io.spdk:a b", 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 512u | (1u << 16));

	osp_nvmf_subsystem_set_allow_any_host(g_subsys, true);
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, "", 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	cntlid = (uint16_t)fr->req.rsp.cdw0;
	prop_set_cc(a, 1 | (6u << 16) | (4u << 20));
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, "", 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	/* The I/O queue must still come from the same (empty) host NQN. */
	bad = new_conn();
	fr = connect_req(bad, 0, 2, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVMF_SC_INVALID_PARAM));

	free_conn(a);
	free_conn(io);
	free_conn(bad);
	teardown();
}

static int g_refusal_lines, g_refusal_summaries;

static void
count_refusal_log(int level, const char *file, int line, const char *func, const char *format,
		  va_list args)
{
	if (strstr(format, "Connect refused") != NULL) {
		g_refusal_lines++;
	} else if (strstr(format, "refused Connects were not logged") != NULL) {
		g_refusal_summaries++;
	}
}

/* A peer repeating a refused Connect does not flood the log: 50 lines a second at most. */
static void
test_connect_refusal_log_limit(void)
{
	struct fake_qpair *a;
	struct fake_req *fr;
	int i, refused = 0;

	setup();
	a = new_conn();
	g_refusal_lines = g_refusal_summaries = 0;
	/* A fresh window: earlier tests' refusals in this second do not count. */
	atomic_store(&g_connect_log_window, 0);
	atomic_store(&g_connect_log_count, 0);
	atomic_store(&g_connect_log_dropped, 0);
	osp_log_open(count_refusal_log);
	for (i = 0; i < 500; i++) {
		fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, "", 0);
		refused += status(fr) == ST(1, OSP_NVMF_SC_INVALID_HOST);
	}
	osp_log_close();
	CU_ASSERT_EQUAL(refused, 500);
	/* One or two one-second windows may have been crossed during the loop. */
	CU_ASSERT(g_refusal_lines >= NVMF_CONNECT_LOG_PER_S &&
		  g_refusal_lines <= 3 * NVMF_CONNECT_LOG_PER_S);
	free_conn(a);
	teardown();
}

static void
test_properties(void)
{
	struct fake_qpair *a;
	struct fake_req *fr;
	union osp_nvme_cap_register cap;
	union osp_nvme_csts_register csts;
	uint16_t st;

	setup();
	a = new_conn();
	fr = connect_req(a, 0, 0, 15, 0xffff, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	cap.raw = prop_get(a, OSP_NVME_REG_CAP, OSP_NVMF_PROP_SIZE_8, &st);
	CU_ASSERT_EQUAL(st, OK);
	CU_ASSERT_EQUAL(cap.bits.mqes, 31);
	CU_ASSERT_EQUAL(cap.bits.cqr, 1);
	CU_ASSERT_EQUAL(cap.bits.css, 1);
	CU_ASSERT_NOT_EQUAL(cap.bits.to, 0);
	prop_get(a, OSP_NVME_REG_CAP, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(st, ST(0, OSP_NVME_SC_INVALID_FIELD));
	CU_ASSERT_EQUAL(prop_get(a, OSP_NVME_REG_VS, OSP_NVMF_PROP_SIZE_4, &st), 0x10300);
	prop_get(a, 0x50, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(st, ST(0, OSP_NVME_SC_INVALID_FIELD));
	csts.raw = (uint32_t)prop_get(a, OSP_NVME_REG_CSTS, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(csts.bits.rdy, 0);
	/* Admin commands wait for CC.EN; Keep Alive too. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, 1, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	prop_set_cc(a, 1 | (6u << 16) | (4u << 20));
	csts.raw = (uint32_t)prop_get(a, OSP_NVME_REG_CSTS, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(csts.bits.rdy, 1);
	CU_ASSERT_EQUAL(prop_get(a, OSP_NVME_REG_CC, OSP_NVMF_PROP_SIZE_4, &st) & 1, 1);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, 1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	/* Shutdown notification: SHST complete. */
	prop_set_cc(a, 1 | (OSP_NVME_SHN_NORMAL << 14));
	csts.raw = (uint32_t)prop_get(a, OSP_NVME_REG_CSTS, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(csts.bits.shst, OSP_NVME_SHST_COMPLETE);
	/* Reset: RDY back to 0. */
	prop_set_cc(a, 0);
	csts.raw = (uint32_t)prop_get(a, OSP_NVME_REG_CSTS, OSP_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT_EQUAL(csts.bits.rdy, 0);
	/* CSTS cannot be written. */
	fr = get_req(a, 0);
	((struct osp_nvmf_property_set_cmd *)&fr->req.cmd)->opcode = OSP_NVMF_FABRIC_OPCODE;
	((struct osp_nvmf_property_set_cmd *)&fr->req.cmd)->fctype = OSP_NVMF_FCTYPE_PROPERTY_SET;
	((struct osp_nvmf_property_set_cmd *)&fr->req.cmd)->ofst = OSP_NVME_REG_CSTS;
	submit(a, fr);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	free_conn(a);
	teardown();
}

static void
test_identify(void)
{
	struct fake_qpair *a;
	struct fake_req *fr;
	struct osp_nvme_ctrlr_data *cd;
	struct osp_nvme_ns_data *nd;
	uint32_t *list;
	uint16_t cntlid;
	char err[256];
	int n = 0;

	setup();
	/* Namespaces 1 and 3 (pause around the change, as the RPC does). */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(g_subsys, "M1", &(struct osp_nvmf_ns_opts) {
		.opts_size = sizeof(struct osp_nvmf_ns_opts), .nsid = 3 }, err, sizeof(err)), 3);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(n, 2);

	a = admin_conn(SUBNQN, 0, &cntlid);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, OSP_NVME_IDENTIFY_CTRLR, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	cd = (struct osp_nvme_ctrlr_data *)fr->buf;
	CU_ASSERT_EQUAL(cd->cntlid, cntlid);
	CU_ASSERT_EQUAL(memcmp(cd->sn, "SN123     ", 10), 0);
	CU_ASSERT_EQUAL(memcmp(cd->mn, OSP_NVMF_DEFAULT_MN, strlen(OSP_NVMF_DEFAULT_MN)), 0);
	CU_ASSERT_STRING_EQUAL(cd->subnqn, SUBNQN);
	CU_ASSERT_EQUAL(cd->ver, 0x10300);
	CU_ASSERT_EQUAL(cd->mdts, 5);		/* 128 KiB / 4 KiB = 2^5 */
	CU_ASSERT_EQUAL(cd->aerl, NVMF_AERL);
	CU_ASSERT_EQUAL(cd->kas, NVMF_KAS);
	CU_ASSERT_EQUAL(cd->sqes, 0x66);
	CU_ASSERT_EQUAL(cd->cqes, 0x44);
	CU_ASSERT_EQUAL(cd->maxcmd, 32);
	CU_ASSERT_EQUAL(cd->nn, 1024);
	CU_ASSERT_EQUAL(cd->cntrltype, OSP_NVME_CTRLR_TYPE_IO);
	CU_ASSERT_TRUE(cd->oncs & OSP_NVME_CTRLR_ONCS_COMPARE);
	CU_ASSERT_TRUE(cd->oncs & OSP_NVME_CTRLR_ONCS_WRITE_ZEROES);
	CU_ASSERT_TRUE(cd->oncs & OSP_NVME_CTRLR_ONCS_DSM);
	CU_ASSERT_EQUAL(cd->fuses, 1);
	CU_ASSERT_TRUE(cd->oaes & NVMF_OAES_NS_ATTR);
	CU_ASSERT_EQUAL(cd->ioccsz, (64 + 4096) / 16);
	CU_ASSERT_EQUAL(cd->iorcsz, 1);
	/* The fake transport registers as RDMA: keyed SGLs, 16 descriptors (lib/nvmf/rdma.c). */
	CU_ASSERT_EQUAL(cd->msdbd, 16);
	CU_ASSERT_TRUE(cd->sgls & OSP_NVME_CTRLR_SGLS_KEYED_DATA_BLOCK);
	CU_ASSERT_FALSE(cd->sgls & OSP_NVME_CTRLR_SGLS_TRANSPORT_DATA_BLOCK);
	CU_ASSERT_EQUAL(cd->cmic & 3, 3);
	CU_ASSERT_EQUAL(cd->ctratt & 1, 1);

	/* Identify Namespace: active, inactive (zeroes), broadcast (invalid). */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 1, OSP_NVME_IDENTIFY_NS, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	nd = (struct osp_nvme_ns_data *)fr->buf;
	CU_ASSERT_EQUAL(nd->nsze, 1024);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 2, OSP_NVME_IDENTIFY_NS, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(nd->nsze, 0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0xffffffff, OSP_NVME_IDENTIFY_NS, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, OSP_NVME_IDENTIFY_NS, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));

	/* Active namespace list: nsids greater than CDW1.NSID. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, OSP_NVME_IDENTIFY_ACTIVE_NS_LIST, 0);
	list = (uint32_t *)fr->buf;
	CU_ASSERT_EQUAL(list[0], 1);
	CU_ASSERT_EQUAL(list[1], 3);
	CU_ASSERT_EQUAL(list[2], 0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 1, OSP_NVME_IDENTIFY_ACTIVE_NS_LIST, 0);
	CU_ASSERT_EQUAL(list[0], 3);
	CU_ASSERT_EQUAL(list[1], 0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0xfffffffe, OSP_NVME_IDENTIFY_ACTIVE_NS_LIST, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));

	/* Descriptor list: the UUID descriptor at least. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 3, OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_NOT_EQUAL(fr->buf[0], 0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 2, OSP_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	/* Unknown CNS and a too short buffer. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_IDENTIFY, 0, 0x55, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = get_req(a, 1);
	fr->req.cmd.opc = OSP_NVME_OPC_IDENTIFY;
	fr->req.cmd.cdw10 = 1;
	fr->req.length = 100;
	submit(a, fr);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID));
	/* Unknown admin opcode. */
	fr = admin_cmd(a, 1, 0xc5, 0, 0, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_OPCODE));
	free_conn(a);
	teardown();
}

static struct fake_req *
get_log(struct fake_qpair *fq, int slot, uint8_t lid, uint32_t len, uint64_t offset, bool rae)
{
	struct fake_req *fr = get_req(fq, slot);
	uint32_t numd = len / 4 - 1;

	fr->req.cmd.opc = OSP_NVME_OPC_GET_LOG_PAGE;
	fr->req.cmd.cdw10 = lid | (rae ? OSP_NVME_GET_LOG_RAE : 0) | ((numd & 0xffff) << 16);
	fr->req.cmd.cdw11 = numd >> 16;
	fr->req.cmd.cdw12 = (uint32_t)offset;
	fr->req.cmd.cdw13 = (uint32_t)(offset >> 32);
	memset(fr->buf, 0xee, sizeof(fr->buf));
	submit(fq, fr);
	return fr;
}

static void
test_log_pages(void)
{
	struct fake_qpair *a;
	struct fake_req *fr;
	struct osp_nvme_health_information_page *h;

	setup();
	a = admin_conn(SUBNQN, 0, NULL);
	fr = get_log(a, 1, OSP_NVME_LOG_HEALTH_INFORMATION, 512, 0, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	h = (struct osp_nvme_health_information_page *)fr->buf;
	CU_ASSERT_EQUAL(h->available_spare, 100);
	CU_ASSERT_EQUAL(fr->buf[512], 0xee);	/* nothing past the length */
	/* Offset into the page, bytes past its end read as zero. */
	fr = get_log(a, 1, OSP_NVME_LOG_HEALTH_INFORMATION, 64, 508, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[10], 0);
	fr = get_log(a, 1, OSP_NVME_LOG_HEALTH_INFORMATION, 64, 516, false);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = get_log(a, 1, OSP_NVME_LOG_HEALTH_INFORMATION, 64, 2, false);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = get_log(a, 1, OSP_NVME_LOG_HEALTH_INFORMATION, 8192, 0, false);	/* > length */
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = get_log(a, 1, OSP_NVME_LOG_ERROR, 4096, 0, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[0], 0);
	fr = get_log(a, 1, OSP_NVME_LOG_FIRMWARE_SLOT, 512, 0, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[0], 1);
	CU_ASSERT_EQUAL(memcmp(fr->buf + 8, NVMF_FW_REVISION, 3), 0);
	fr = get_log(a, 1, OSP_NVME_LOG_DISCOVERY, 1024, 0, false);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVME_SC_INVALID_LOG_PAGE));
	fr = get_log(a, 1, 0x42, 512, 0, false);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVME_SC_INVALID_LOG_PAGE));
	fr = get_log(a, 1, OSP_NVME_LOG_CHANGED_NS_LIST, 4096, 0, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(((uint32_t *)fr->buf)[0], 0);
	free_conn(a);
	teardown();
}

static void
test_features(void)
{
	struct fake_qpair *a, *io;
	struct fake_req *fr;
	uint16_t cntlid;

	setup();
	a = admin_conn(SUBNQN, 10000, &cntlid);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_NUMBER_OF_QUEUES, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 2u | (2u << 16));	/* 3 I/O queues, 0's based */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_NUMBER_OF_QUEUES,
		       (7u << 16) | 7u);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 2u | (2u << 16));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 10000);
	/* KATO is kept in KAS (1 s) granularity, rounded up. */
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_KEEP_ALIVE_TIMER, 1500);
	CU_ASSERT_EQUAL(status(fr), OK);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 2000);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_KEEP_ALIVE_TIMER, 10000);
	CU_ASSERT_EQUAL(status(fr), OK);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_ARBITRATION, 0x3);
	CU_ASSERT_EQUAL(status(fr), OK);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_ARBITRATION, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 3);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0,
		       OSP_NVME_FEAT_ARBITRATION | (OSP_NVME_FEAT_SEL_DEFAULT << 8), 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_TEMPERATURE_THRESHOLD, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, NVMF_DEFAULT_TEMP_THRESHOLD);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0,
		       OSP_NVME_FEAT_ARBITRATION | OSP_NVME_FEAT_SV, 0);
	CU_ASSERT_EQUAL(status(fr), ST(1, OSP_NVME_SC_FEATURE_ID_NOT_SAVEABLE));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_HOST_IDENTIFIER, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_HOST_IDENTIFIER, 1);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[0], 0xab);
	CU_ASSERT_EQUAL(fr->buf[15], 0xab);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_HOST_IDENTIFIER, 1);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, 0x7a, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		       NVMF_AEC_NS_ATTR);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_GET_FEATURES, 0, OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, NVMF_AEC_NS_ATTR);
	/* Number of Queues is fixed once an I/O queue exists. */
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_NUMBER_OF_QUEUES, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_COMMAND_SEQUENCE_ERROR));
	free_conn(io);
	free_conn(a);
	teardown();
}

static void
ns_changed_done(struct osp_nvmf_subsystem *s, void *arg, int status)
{
	CU_ASSERT_EQUAL(status, 0);
	(*(int *)arg)++;
}

/* Add or remove a namespace the way the RPC does: pause, change, resume. */
static void
change_ns(bool add, const char *bdev, uint32_t nsid)
{
	char err[256];
	int n = 0;

	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(g_subsys, ns_changed_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(n, 1);
	if (add) {
		struct osp_nvmf_ns_opts o;

		osp_nvmf_ns_opts_init(&o, sizeof(o));
		o.nsid = nsid;
		CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(g_subsys, bdev, &o, err, sizeof(err)),
				(int)nsid);
	} else {
		CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(g_subsys, nsid), 0);
	}
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(g_subsys, ns_changed_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(n, 2);
}

static void
test_aer(void)
{
	struct fake_qpair *a;
	struct fake_req *aer[5], *fr;
	union osp_nvme_async_event_completion ev;
	uint32_t *list;
	int i;

	setup();
	a = admin_conn(SUBNQN, 0, NULL);
	admin_cmd(a, 9, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		  NVMF_AEC_NS_ATTR);
	for (i = 0; i < 5; i++) {
		aer[i] = admin_cmd(a, 1 + i, OSP_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0);
	}
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(aer[i]->completions, 0);
	}
	CU_ASSERT_EQUAL(status(aer[4]), ST(1, OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED));

	/* Namespace 2 appears: one AER completes, the changed list names it. */
	change_ns(true, "M1", 2);
	CU_ASSERT_EQUAL(aer[0]->completions, 1);
	CU_ASSERT_EQUAL(aer[1]->completions, 0);
	ev.raw = aer[0]->req.rsp.cdw0;
	CU_ASSERT_EQUAL(ev.bits.async_event_type, OSP_NVME_ASYNC_EVENT_TYPE_NOTICE);
	CU_ASSERT_EQUAL(ev.bits.async_event_info, OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED);
	CU_ASSERT_EQUAL(ev.bits.log_page_identifier, OSP_NVME_LOG_CHANGED_NS_LIST);

	/* Masked until the log is read: a second change sends nothing. */
	change_ns(false, NULL, 2);
	CU_ASSERT_EQUAL(aer[1]->completions, 0);
	/* Read with RAE: the list stays, the mask too. */
	fr = get_log(a, 8, OSP_NVME_LOG_CHANGED_NS_LIST, 4096, 0, true);
	list = (uint32_t *)fr->buf;
	CU_ASSERT_EQUAL(list[0], 2);
	CU_ASSERT_EQUAL(list[1], 0);
	fr = get_log(a, 8, OSP_NVME_LOG_CHANGED_NS_LIST, 4096, 0, false);
	CU_ASSERT_EQUAL(list[0], 2);
	/* Cleared on read; the pending event is sent now that it is unmasked. */
	fr = get_log(a, 8, OSP_NVME_LOG_CHANGED_NS_LIST, 4096, 0, false);
	CU_ASSERT_EQUAL(list[0], 0);
	change_ns(true, "M1", 4);
	CU_ASSERT_EQUAL(aer[1]->completions, 1);

	/* Abort: an outstanding AER is aborted, an unknown command is not. */
	fr = admin_cmd(a, 8, OSP_NVME_OPC_ABORT, 0, 0 | ((uint32_t)aer[2]->req.cmd.cid << 16), 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 0);
	CU_ASSERT_EQUAL(status(aer[2]), ST(0, OSP_NVME_SC_ABORTED_BY_REQUEST));
	fr = admin_cmd(a, 8, OSP_NVME_OPC_ABORT, 0, 0 | (77u << 16), 0);
	CU_ASSERT_EQUAL(fr->req.rsp.cdw0, 1);

	/* The remaining AER ends when the queue goes. */
	ut_set_thread(a->thread);
	osp_nvmf_qpair_disconnect(&a->q);
	ut_poll_threads();
	CU_ASSERT_EQUAL(status(aer[3]), ST(0, OSP_NVME_SC_ABORTED_SQ_DELETION));
	CU_ASSERT_EQUAL(aer[3]->completions, 1);
	free_conn(a);
	teardown();
}

static struct fake_req *
io_cmd(struct fake_qpair *fq, int slot, uint8_t opc, uint32_t nsid, uint64_t lba,
       uint32_t nlb, uint8_t fuse, uint8_t fill, bool run)
{
	struct fake_req *fr = get_req(fq, slot);

	fr->req.cmd.opc = opc;
	fr->req.cmd.nsid = nsid;
	fr->req.cmd.fuse = fuse & 3;
	fr->req.cmd.cdw10 = (uint32_t)lba;
	fr->req.cmd.cdw11 = (uint32_t)(lba >> 32);
	fr->req.cmd.cdw12 = nlb - 1;
	fr->req.length = nlb * 512;
	fr->req.iov[0].iov_len = fr->req.length;
	if (opc == OSP_NVME_OPC_WRITE || opc == OSP_NVME_OPC_COMPARE) {
		memset(fr->buf, fill, fr->req.length);
		fr->req.xfer = OSP_NVMF_XFER_HOST_TO_CONTROLLER;
	}
	if (run) {
		submit(fq, fr);
	} else {
		ut_set_thread(fq->thread);
		osp_nvmf_request_exec(&fr->req);
	}
	return fr;
}

static void
test_io(void)
{
	struct fake_qpair *a, *io;
	struct fake_req *fr, *fr2;
	uint16_t cntlid;
	int n = 0;

	setup();
	a = admin_conn(SUBNQN, 0, &cntlid);
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);

	fr = io_cmd(io, 1, OSP_NVME_OPC_WRITE, 1, 8, 2, 0, 0x5a, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 8, 2, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[0], 0x5a);
	CU_ASSERT_EQUAL(fr->buf[1023], 0x5a);
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 2, 0, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));

	/* Paused: the I/O waits (not failed) and runs on resume. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 8, 1, 0, 0, true);
	CU_ASSERT_EQUAL(fr->completions, 0);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(fr->completions, 1);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(fr->buf[0], 0x5a);

	/* Pausing waits for the I/O in flight. */
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 8, 1, 0, 0, false);
	ut_set_thread(0);
	n = 0;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(fr->completions, 1);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(g_subsys, state_done, &n), 0);
	ut_poll_threads();

	/* Fused Compare and Write: match writes, mismatch does not. */
	fr = io_cmd(io, 1, OSP_NVME_OPC_COMPARE, 1, 8, 1, 1, 0x5a, true);
	CU_ASSERT_EQUAL(fr->completions, 0);
	fr2 = io_cmd(io, 2, OSP_NVME_OPC_WRITE, 1, 8, 1, 2, 0x77, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	CU_ASSERT_EQUAL(status(fr2), OK);
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 8, 1, 0, 0, true);
	CU_ASSERT_EQUAL(fr->buf[0], 0x77);
	fr = io_cmd(io, 1, OSP_NVME_OPC_COMPARE, 1, 8, 1, 1, 0x5a, true);
	fr2 = io_cmd(io, 2, OSP_NVME_OPC_WRITE, 1, 8, 1, 2, 0x11, true);
	CU_ASSERT_EQUAL(status(fr), ST(OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE));
	CU_ASSERT_NOT_EQUAL(status(fr2), OK);
	/* The second half missing: both fail. */
	fr = io_cmd(io, 1, OSP_NVME_OPC_COMPARE, 1, 8, 1, 1, 0x77, true);
	fr2 = io_cmd(io, 2, OSP_NVME_OPC_READ, 1, 8, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_ABORTED_MISSING_FUSED));
	CU_ASSERT_EQUAL(status(fr2), ST(0, OSP_NVME_SC_ABORTED_MISSING_FUSED));
	fr = io_cmd(io, 1, OSP_NVME_OPC_WRITE, 1, 8, 1, 2, 0x11, true);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_ABORTED_MISSING_FUSED));

	/* Disconnect with a request held by a pause: it ends, the qpair goes. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 8, 1, 0, 0, true);
	CU_ASSERT_EQUAL(fr->completions, 0);
	ut_set_thread(io->thread);
	osp_nvmf_qpair_disconnect(&io->q);
	ut_poll_threads();
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_ABORTED_SQ_DELETION));
	CU_ASSERT_EQUAL(io->finied, 1);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(g_subsys, state_done, &n), 0);
	ut_poll_threads();
	free_conn(io);
	free_conn(a);
	teardown();
}

static void
test_keep_alive(void)
{
	struct fake_qpair *a, *io;
	struct fake_req *fr;
	uint64_t hz = osp_get_ticks_hz(), t0;
	uint16_t cntlid;

	setup();
	a = admin_conn(SUBNQN, 1000, &cntlid);	/* 1 s */
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	t0 = osp_get_ticks() + hz / 2;
	ut_poll_threads_at(t0);
	fr = admin_cmd(a, 1, OSP_NVME_OPC_KEEP_ALIVE, 0, 0, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	/* The last Keep Alive was at t0 (the thread's clock): 0.8 s later all is well. */
	ut_poll_threads_at(t0 + hz * 8 / 10);
	CU_ASSERT_EQUAL(a->finied, 0);
	CU_ASSERT_EQUAL(io->finied, 0);
	/* Silence for more than KATO: every queue of the controller goes. */
	ut_poll_threads_at(t0 + hz * 3);
	ut_poll_threads_at(t0 + hz * 3);
	CU_ASSERT_EQUAL(a->finied, 1);
	CU_ASSERT_EQUAL(io->finied, 1);
	ut_poll_threads();
	CU_ASSERT_TRUE(TAILQ_EMPTY(&g_subsys->ctrlrs));
	free_conn(io);
	free_conn(a);
	teardown();
}

static void
test_discovery(void)
{
	struct fake_qpair *d;
	struct fake_req *fr, *aer;
	struct osp_nvme_ctrlr_data *cd;
	struct osp_nvmf_discovery_log_page *page;
	struct osp_nvmf_listen_addr addr;
	char err[256];

	setup();
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&addr, "rdma", "ipv4", "127.0.0.1", "4400", err,
			sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(g_subsys, &addr, err, sizeof(err)), 0);
	d = admin_conn(OSP_NVMF_DISCOVERY_NQN, 0, NULL);
	fr = admin_cmd(d, 1, OSP_NVME_OPC_IDENTIFY, 0, OSP_NVME_IDENTIFY_CTRLR, 0);
	cd = (struct osp_nvme_ctrlr_data *)fr->buf;
	CU_ASSERT_EQUAL(cd->cntrltype, OSP_NVME_CTRLR_TYPE_DISCOVERY);
	CU_ASSERT_STRING_EQUAL(cd->subnqn, OSP_NVMF_DISCOVERY_NQN);
	CU_ASSERT_TRUE(cd->oaes & NVMF_OAES_DISCOVERY_LOG);
	fr = get_log(d, 2, OSP_NVME_LOG_DISCOVERY, 2048, 0, false);
	CU_ASSERT_EQUAL(status(fr), OK);
	page = (struct osp_nvmf_discovery_log_page *)fr->buf;
	CU_ASSERT_EQUAL(page->numrec, 1);
	CU_ASSERT_STRING_EQUAL(page->entries[0].subnqn, SUBNQN);
	CU_ASSERT_EQUAL(page->genctr, osp_nvmf_tgt_get_discovery_genctr(g_tgt));
	/* Discovery log change notice. */
	admin_cmd(d, 3, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		  NVMF_AEC_DISCOVERY_LOG);
	aer = admin_cmd(d, 4, OSP_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0);
	CU_ASSERT_EQUAL(aer->completions, 0);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(g_subsys, HOST2, err, sizeof(err)), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(aer->completions, 1);
	CU_ASSERT_EQUAL((aer->req.rsp.cdw0 >> 8) & 0xff, OSP_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE);
	/* No I/O command set for a discovery controller. */
	fr = admin_cmd(d, 1, OSP_NVME_OPC_IDENTIFY, 1, OSP_NVME_IDENTIFY_NS, 0);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_FIELD));
	free_conn(d);
	teardown();
}

static cJSON *g_rpc_resp;

static void
rpc_resp_cb(void *arg, const cJSON *resp)
{
	(void)arg;
	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = resp != NULL ? cJSON_Duplicate(resp, true) : NULL;
}

/* Call an RPC on the target thread and run the threads until it answered. */
static const cJSON *
rpc(const char *method, const char *params_text)
{
	cJSON *params = params_text != NULL ? cJSON_Parse(params_text) : NULL;

	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = NULL;
	ut_set_thread(0);
	CU_ASSERT(osp_rpc_call(method, params, rpc_resp_cb, NULL) == 0);
	cJSON_Delete(params);
	ut_poll_threads();
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_rpc_resp);
	return cJSON_GetObjectItem(g_rpc_resp, "result");
}

static void
test_rpcs(void)
{
	struct fake_qpair *a, *io;
	struct fake_req *fr;
	const cJSON *r, *g, *item;
	uint16_t cntlid;
	int i, admin = 0, iox = 0;

	setup();
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	a = admin_conn(SUBNQN, 0, &cntlid);
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	io_cmd(io, 1, OSP_NVME_OPC_READ, 1, 0, 1, 0, 0, true);

	r = rpc("nvmf_subsystem_get_controllers", "{\"nqn\":\"" SUBNQN "\"}");
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(r), 1);
	item = cJSON_GetArrayItem(r, 0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(item, "cntlid")->valueint, cntlid);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "hostnqn")->valuestring, HOST1);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "hostid")->valuestring,
			       "abababab-abab-abab-abab-abababababab");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(item, "num_io_qpairs")->valueint, 1);

	r = rpc("nvmf_subsystem_get_qpairs", "{\"nqn\":\"" SUBNQN "\"}");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(r), 2);
	for (i = 0; i < cJSON_GetArraySize(r); i++) {
		item = cJSON_GetArrayItem(r, i);
		CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "state")->valuestring, "active");
		CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(item, "thread"));
		CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(item,
				       "listen_address"), "trsvcid")->valuestring, "4400");
		CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(item, "peer_address"));
	}

	r = rpc("nvmf_get_stats", NULL);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(r, "tick_rate"));
	g = cJSON_GetObjectItem(r, "poll_groups");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(g), 2);
	for (i = 0; i < cJSON_GetArraySize(g); i++) {
		item = cJSON_GetArrayItem(g, i);
		admin += cJSON_GetObjectItem(item, "current_admin_qpairs")->valueint;
		iox += cJSON_GetObjectItem(item, "current_io_qpairs")->valueint;
		CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(item, "transports")), 1);
	}
	CU_ASSERT_EQUAL(admin, 1);
	CU_ASSERT_EQUAL(iox, 1);

	/* A namespace added and removed through the RPC with the host connected. */
	r = rpc("nvmf_subsystem_add_ns", "{\"nqn\":\"" SUBNQN "\",\"namespace\":"
		"{\"bdev_name\":\"M1\"}}");
	CU_ASSERT_EQUAL(r != NULL ? r->valueint : -1, 2);
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 2, 0, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	r = rpc("nvmf_subsystem_remove_ns", "{\"nqn\":\"" SUBNQN "\",\"nsid\":2}");
	CU_ASSERT_TRUE(cJSON_IsTrue(r));
	fr = io_cmd(io, 1, OSP_NVME_OPC_READ, 2, 0, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));

	/* Deleting answers once the connections are gone. */
	r = rpc("nvmf_delete_subsystem", "{\"nqn\":\"" SUBNQN "\"}");
	CU_ASSERT_TRUE(cJSON_IsTrue(r));
	CU_ASSERT_EQUAL(a->finied, 1);
	CU_ASSERT_EQUAL(io->finied, 1);
	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = NULL;
	free_conn(a);
	free_conn(io);
	teardown();
}

static void
test_subsystem_delete_and_shutdown(void)
{
	struct fake_qpair *a, *b, *io;
	struct fake_req *fr;
	uint16_t cntlid;

	setup();
	a = admin_conn(SUBNQN, 0, &cntlid);
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	/* Deleting the subsystem disconnects its queues, then frees it. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_destroy(g_subsys), 0);
	CU_ASSERT_PTR_NULL(osp_nvmf_tgt_find_subsystem(g_tgt, SUBNQN));
	ut_poll_threads();
	CU_ASSERT_EQUAL(a->finied, 1);
	CU_ASSERT_EQUAL(io->finied, 1);
	CU_ASSERT_EQUAL(g_tgt->num_ctrlrs, 0);
	free_conn(a);
	free_conn(io);
	/* Shutdown with a live connection (on the discovery controller). */
	b = admin_conn(OSP_NVMF_DISCOVERY_NQN, 0, NULL);
	teardown();
	CU_ASSERT_EQUAL(b->finied, 1);
	free(b);
}

static void
test_hot_remove_and_listener(void)
{
	struct fake_qpair *a, *io;
	struct fake_req *fr, *aer;
	struct osp_nvmf_listen_addr addr;
	uint16_t cntlid;
	uint32_t *list;
	char err[256];
	int done = 0;

	setup();
	change_ns(true, "M1", 2);
	a = admin_conn(SUBNQN, 0, &cntlid);
	io = new_conn();
	fr = connect_req(io, 0, 1, 31, cntlid, SUBNQN, HOST1, 0);
	CU_ASSERT_EQUAL(status(fr), OK);
	admin_cmd(a, 9, OSP_NVME_OPC_SET_FEATURES, 0, OSP_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		  NVMF_AEC_NS_ATTR);
	aer = admin_cmd(a, 1, OSP_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0);
	fr = io_cmd(io, 2, OSP_NVME_OPC_WRITE, 2, 0, 1, 0, 0x33, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	/* The bdev goes away under a live subsystem: namespace 2 is removed and announced. */
	ut_set_thread(0);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M1", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_nvmf_subsystem_get_ns(g_subsys, 2));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(g_subsys), OSP_NVMF_SUBSYSTEM_ACTIVE);
	CU_ASSERT_EQUAL(aer->completions, 1);
	fr = get_log(a, 3, OSP_NVME_LOG_CHANGED_NS_LIST, 4096, 0, false);
	list = (uint32_t *)fr->buf;
	CU_ASSERT_EQUAL(list[0], 2);
	fr = io_cmd(io, 2, OSP_NVME_OPC_READ, 2, 0, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), ST(0, OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	fr = io_cmd(io, 2, OSP_NVME_OPC_READ, 1, 0, 1, 0, 0, true);
	CU_ASSERT_EQUAL(status(fr), OK);
	mk_disk("M1", 1024);	/* teardown deletes it */

	/* Removing the listener the queues came through disconnects them. */
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&addr, "rdma", "ipv4", "127.0.0.1", "4400", err,
			sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(g_subsys, &addr, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_listener(g_subsys, &addr), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(a->finied, 1);
	CU_ASSERT_EQUAL(io->finied, 1);
	free_conn(a);
	free_conn(io);
	teardown();
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("nvmf_ctrlr", NULL, NULL);
	CU_ADD_TEST(suite, test_connect);
	CU_ADD_TEST(suite, test_connect_empty_hostnqn);
	CU_ADD_TEST(suite, test_connect_refusal_log_limit);
	CU_ADD_TEST(suite, test_properties);
	CU_ADD_TEST(suite, test_identify);
	CU_ADD_TEST(suite, test_log_pages);
	CU_ADD_TEST(suite, test_features);
	CU_ADD_TEST(suite, test_aer);
	CU_ADD_TEST(suite, test_io);
	CU_ADD_TEST(suite, test_keep_alive);
	CU_ADD_TEST(suite, test_discovery);
	CU_ADD_TEST(suite, test_subsystem_delete_and_shutdown);
	CU_ADD_TEST(suite, test_hot_remove_and_listener);
	CU_ADD_TEST(suite, test_rpcs);

	rc = ut_run_suites();
	return rc;
}

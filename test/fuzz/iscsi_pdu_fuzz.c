/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the iSCSI target's PDU receive path: lib/iscsi's
 * connection, login, session and full-feature code (compiled in) with fake
 * sockets, threads, buffers and a fake SCSI layer (a 256 KiB RAM disk). The
 * fuzz input is what an initiator sends on one connection.
 *
 * Input layout: byte 0 = mode, byte 1 = PRNG seed, the rest = the stream.
 *   mode bit 0: prepend a valid login (normal session, no digests) so that
 *               the stream lands in the full feature phase (else: login)
 *   mode bit 1: the socket returns the stream in random pieces (else at once)
 *   mode bit 2: the SCSI layer holds commands and completes them later
 *   mode bit 3: writes to the socket fail now and then (the peer vanished)
 *   mode bit 4: ImmediateData=No, InitialR2T=No in the prefix login
 *
 * Invariants (abort() on violation; ASan/UBSan catch memory errors):
 * - every byte the target sends is a sequence of whole PDUs with target
 *   opcodes, each data segment within the initiator's MaxRecvDataSegmentLength;
 * - once the peer is gone and the SCSI layer has finished, the connection,
 *   its session and every data buffer are released (LeakSanitizer checks
 *   the rest), and no command reaches the SCSI layer after its nexus closed.
 *
 * Build (test/fuzz/run.sh does it):
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -msse4.2 -fno-omit-frame-pointer -I include \
 *     -I /usr/include/cjson -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined test/fuzz/iscsi_pdu_fuzz.c lib/util/util.c \
 *     lib/util/iov.c lib/util/md5.c -lcjson -o build/fuzz/iscsi_pdu_fuzz
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/iscsi/conn.c"
#include "../../lib/iscsi/login.c"
#include "../../lib/iscsi/session.c"
#include "../../lib/iscsi/ffp.c"
#include "../../lib/iscsi/tgt_node.c"
#include "../../lib/iscsi/init_grp.c"
#include "../../lib/iscsi/auth.c"
#include "../../lib/iscsi/param.c"
#include "../../lib/iscsi/chap.c"
#include "../../lib/scsi/cdb.c"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define TGT_NAME "iqn.2016-06.io.spdk:fuzz"

static struct {
	uint8_t mode;
	uint32_t rng;
	const uint8_t *in;
	size_t in_len;
	size_t in_off;
	bool closed;			/* the target closed the socket */
	/* what the target sent, for the framing check */
	uint8_t out[1 << 20];
	size_t out_len;
	bool out_overflow;
	TAILQ_HEAD(, osp_sock_request) queued;
	/* fake SCSI layer */
	struct osp_scsi_task *held[64];
	int nheld;
	int itns;
	int bufs_out;
} g;

static uint32_t
rnd(void)
{
	g.rng = g.rng * 1103515245u + 12345u;
	return g.rng >> 16;
}

/* ---------------------------------------------------------------- lib/iscsi glue */

struct iscsi_globals g_iscsi = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.pgs = TAILQ_HEAD_INITIALIZER(g_iscsi.pgs),
	.igs = TAILQ_HEAD_INITIALIZER(g_iscsi.igs),
	.nodes = TAILQ_HEAD_INITIALIZER(g_iscsi.nodes),
	.auth_groups = TAILQ_HEAD_INITIALIZER(g_iscsi.auth_groups),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
};
struct osp_log_flag OSP_LOG_iscsi = { .name = "iscsi" };

void
iscsi_lock(void)
{
}

void
iscsi_unlock(void)
{
}

void
iscsi_stat_move(uint32_t *from, uint32_t *to)
{
	if (from != NULL) {
		(*from)--;
	}
	if (to != NULL) {
		(*to)++;
	}
}

bool
iscsi_name_valid(const char *name)
{
	return name != NULL && name[0] != '\0' && strlen(name) <= ISCSI_NAME_MAX_LEN;
}

bool
iscsi_target_name_valid(const char *name)
{
	return iscsi_name_valid(name);
}

static struct iscsi_portal_grp g_pg1 = {.tag = 1};

struct iscsi_portal_grp *
iscsi_portal_grp_find(int tag)
{
	return tag == 1 ? &g_pg1 : NULL;
}

void
osp_log(enum osp_log_level level, const char *file, int line, const char *func,
	const char *fmt, ...)
{
	(void)level;
	(void)file;
	(void)line;
	(void)func;
	(void)fmt;
}

/* ---------------------------------------------------------------- threads */

struct msg {
	osp_msg_fn fn;
	void *ctx;
};
static struct msg g_msgs[4096];
static int g_nmsgs;
static int g_fake_thread;

struct osp_thread *
osp_get_thread(void)
{
	return (struct osp_thread *)&g_fake_thread;
}

int
osp_thread_send_msg(const struct osp_thread *thread, osp_msg_fn fn, void *ctx)
{
	(void)thread;
	CHECK(g_nmsgs < (int)OSP_COUNTOF(g_msgs));
	g_msgs[g_nmsgs].fn = fn;
	g_msgs[g_nmsgs].ctx = ctx;
	g_nmsgs++;
	return 0;
}

static int
run_msgs(void)
{
	int n = 0;

	while (g_nmsgs > 0) {
		struct msg m = g_msgs[0];

		memmove(g_msgs, g_msgs + 1, sizeof(g_msgs[0]) * (size_t)(--g_nmsgs));
		m.fn(m.ctx);
		n++;
	}
	return n;
}

static uint64_t g_ticks;

uint64_t
osp_get_ticks(void)
{
	return g_ticks;
}

uint64_t
osp_get_ticks_hz(void)
{
	return 1000;
}

/* ---------------------------------------------------------------- sockets */

struct osp_sock {
	int dummy;
};
static struct osp_sock g_sock;
static struct osp_sock_group *g_fake_group = (struct osp_sock_group *)&g_sock;

int
osp_sock_getaddr(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		 int clen, uint16_t *cport)
{
	(void)sock;
	snprintf(saddr, (size_t)slen, "127.0.0.1");
	snprintf(caddr, (size_t)clen, "127.0.0.1");
	*sport = 3260;
	*cport = 40000;
	return 0;
}

int
osp_sock_group_add_sock(struct osp_sock_group *group, struct osp_sock *sock, osp_sock_cb cb_fn,
			void *cb_arg)
{
	(void)group;
	(void)sock;
	(void)cb_fn;
	(void)cb_arg;
	return 0;
}

int
osp_sock_group_remove_sock(struct osp_sock_group *group, struct osp_sock *sock)
{
	(void)group;
	(void)sock;
	return 0;
}

int
osp_sock_group_poll(struct osp_sock_group *group)
{
	(void)group;
	return 0;
}

ssize_t
osp_sock_recv(struct osp_sock *sock, void *buf, size_t len)
{
	size_t left = g.in_len - g.in_off;

	(void)sock;
	if (left == 0) {
		return 0;	/* the peer closed */
	}
	if (g.mode & 0x02) {
		size_t piece = 1 + rnd() % 64;

		if (rnd() % 8 == 0) {
			return -EAGAIN;
		}
		len = OSP_MIN(len, piece);
	}
	len = OSP_MIN(len, left);
	memcpy(buf, g.in + g.in_off, len);
	g.in_off += len;
	return (ssize_t)len;
}

int
osp_sock_writev_async(struct osp_sock *sock, struct osp_sock_request *req)
{
	(void)sock;
	CHECK(!g.closed);
	CHECK(req->cb_fn != NULL && req->iovcnt > 0);
	TAILQ_INSERT_TAIL(&g.queued, req, internal.link);
	return 0;
}

static void
complete_all(int err)
{
	struct osp_sock_request *req;
	TAILQ_HEAD(, osp_sock_request) list = TAILQ_HEAD_INITIALIZER(list);

	TAILQ_CONCAT(&list, &g.queued, internal.link);
	while ((req = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, req, internal.link);
		if (err == 0) {
			size_t len = osp_iov_len(req->iov, req->iovcnt);

			if (g.out_len + len <= sizeof(g.out)) {
				osp_iov_copy_to_buf(g.out + g.out_len, len, req->iov, req->iovcnt, 0);
				g.out_len += len;
			} else {
				g.out_overflow = true;
			}
		}
		req->cb_fn(req->cb_arg, err);
	}
}

ssize_t
osp_sock_flush(struct osp_sock *sock)
{
	(void)sock;
	if (TAILQ_EMPTY(&g.queued)) {
		return 0;
	}
	complete_all((g.mode & 0x08) && rnd() % 16 == 0 ? -EPIPE : 0);
	return 1;
}

int
osp_sock_close(struct osp_sock **sock)
{
	*sock = NULL;
	g.closed = true;
	complete_all(-ECANCELED);
	return 0;
}

/* ---------------------------------------------------------------- buffers */

int
osp_iobuf_get_bulk(struct osp_iobuf_channel *ch, void **bufs, uint32_t count,
		   struct osp_iobuf_entry *entry, osp_iobuf_get_cb cb_fn)
{
	uint32_t i;

	(void)ch;
	(void)entry;
	(void)cb_fn;
	if (g.bufs_out + (int)count > 16) {
		return -EAGAIN;
	}
	for (i = 0; i < count; i++) {
		bufs[i] = malloc(g_iscsi.data_bufsize);
		CHECK(bufs[i] != NULL);
	}
	g.bufs_out += (int)count;
	return 0;
}

void
osp_iobuf_put(struct osp_iobuf_channel *ch, void *buf)
{
	(void)ch;
	free(buf);
	g.bufs_out--;
}

/* ---------------------------------------------------------------- fake SCSI layer */

#define RAM_BLOCKS 512
static uint8_t g_ram[RAM_BLOCKS * 512];

struct osp_scsi_dev {
	int nluns;
};
struct osp_scsi_lun {
	int id;
};
struct osp_scsi_port {
	int dummy;
};
struct osp_scsi_itn {
	uint32_t outstanding;
	bool closed;
};
static struct osp_scsi_lun g_lun0;

void
osp_scsi_task_init(struct osp_scsi_task *task, osp_scsi_task_cpl cpl_fn, void *cb_arg)
{
	memset(task, 0, sizeof(*task));
	task->cpl_fn = cpl_fn;
	task->cb_arg = cb_arg;
	task->iovs = task->iov_inline;
}

void
osp_scsi_task_put(struct osp_scsi_task *task)
{
	(void)task;
}

void
osp_scsi_task_set_sense(struct osp_scsi_task *task, uint8_t sk, uint8_t asc, uint8_t ascq)
{
	memset(task->sense, 0, 18);
	task->sense[0] = 0x70;
	task->sense[2] = sk;
	task->sense[7] = 10;
	task->sense[12] = asc;
	task->sense[13] = ascq;
	task->sense_len = 18;
	task->status = OSP_SCSI_STATUS_CHECK_CONDITION;
}

int
osp_scsi_dev_create(const char *name, struct osp_scsi_dev **dev)
{
	(void)name;
	*dev = calloc(1, sizeof(**dev));
	return *dev != NULL ? 0 : -ENOMEM;
}

int
osp_scsi_dev_add_lun(struct osp_scsi_dev *dev, const char *bdev_name, int lun_id, int *out)
{
	(void)bdev_name;
	(void)lun_id;
	(void)out;
	dev->nluns = 1;
	return 0;
}

struct osp_scsi_lun *
osp_scsi_dev_first_lun(struct osp_scsi_dev *dev)
{
	return dev->nluns ? &g_lun0 : NULL;
}

struct osp_scsi_lun *
osp_scsi_dev_next_lun(struct osp_scsi_dev *dev, struct osp_scsi_lun *prev)
{
	(void)dev;
	(void)prev;
	return NULL;
}

int
osp_scsi_lun_get_id(const struct osp_scsi_lun *lun)
{
	return lun->id;
}

const char *
osp_scsi_lun_get_bdev_name(const struct osp_scsi_lun *lun)
{
	(void)lun;
	return "Ram0";
}

int
osp_scsi_dev_add_port(struct osp_scsi_dev *dev, uint16_t rel_port_id, const char *name)
{
	(void)dev;
	(void)rel_port_id;
	(void)name;
	return 0;
}

struct osp_scsi_port *
osp_scsi_dev_find_port(struct osp_scsi_dev *dev, uint16_t rel_port_id)
{
	(void)dev;
	(void)rel_port_id;
	return NULL;
}

int
osp_scsi_dev_destroy(struct osp_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg)
{
	free(dev);
	cb(cb_arg);
	return 0;
}

struct osp_scsi_port *
osp_scsi_port_create(const char *name, uint16_t rel_port_id)
{
	(void)name;
	(void)rel_port_id;
	return calloc(1, sizeof(struct osp_scsi_port));
}

void
osp_scsi_port_free(struct osp_scsi_port *port)
{
	free(port);
}

int
osp_scsi_itn_open(struct osp_scsi_dev *dev, struct osp_scsi_port *iport, uint16_t rel_port,
		  void (*cb)(void *cb_arg, struct osp_scsi_itn *itn, int rc), void *cb_arg)
{
	struct osp_scsi_itn *itn = calloc(1, sizeof(*itn));

	(void)dev;
	(void)iport;
	(void)rel_port;
	CHECK(itn != NULL);
	g.itns++;
	cb(cb_arg, itn, 0);
	return 0;
}

static void
fake_exec(struct osp_scsi_task *t)
{
	static uint8_t inq[36] = {0, 0, 6, 2, 31};
	uint32_t lba, nblk, len;

	t->status = OSP_SCSI_STATUS_GOOD;
	if (t->lun_id != 0) {
		osp_scsi_task_set_sense(t, 0x05, 0x25, 0x00);
		return;
	}
	switch (t->cdb[0]) {
	case 0x00:
		return;
	case 0x12:
		t->data_wanted = OSP_MIN(((uint32_t)t->cdb[3] << 8) | t->cdb[4], sizeof(inq));
		t->iov_inline[0].iov_base = inq;
		t->iov_inline[0].iov_len = OSP_MIN(t->data_wanted, t->transfer_len);
		t->iovs = t->iov_inline;
		t->iovcnt = 1;
		t->data_transferred = (uint32_t)t->iov_inline[0].iov_len;
		return;
	case 0x28:
	case 0x2a:
		lba = ((uint32_t)t->cdb[2] << 24) | ((uint32_t)t->cdb[3] << 16) |
		      ((uint32_t)t->cdb[4] << 8) | t->cdb[5];
		nblk = ((uint32_t)t->cdb[7] << 8) | t->cdb[8];
		if ((uint64_t)lba + nblk > RAM_BLOCKS) {
			osp_scsi_task_set_sense(t, 0x05, 0x21, 0x00);
			return;
		}
		len = nblk * 512;
		t->data_wanted = len;
		if (t->cdb[0] == 0x28 && t->dir == OSP_SCSI_DIR_FROM_DEV) {
			t->iov_inline[0].iov_base = &g_ram[lba * 512];
			t->iov_inline[0].iov_len = OSP_MIN(len, t->transfer_len);
			t->iovs = t->iov_inline;
			t->iovcnt = 1;
			t->data_transferred = (uint32_t)t->iov_inline[0].iov_len;
		} else if (t->cdb[0] == 0x2a && t->dir == OSP_SCSI_DIR_TO_DEV) {
			t->data_transferred = (uint32_t)osp_iov_copy_to_buf(&g_ram[lba * 512],
					      OSP_MIN(len, t->transfer_len), t->iovs, t->iovcnt, 0);
		} else if (len > 0) {
			osp_scsi_task_set_sense(t, 0x05, 0x24, 0x00);
		}
		return;
	default:
		osp_scsi_task_set_sense(t, 0x05, 0x20, 0x00);
		return;
	}
}

void
osp_scsi_itn_execute(struct osp_scsi_itn *itn, struct osp_scsi_task *task)
{
	CHECK(!itn->closed);
	task->itn = itn;
	if ((g.mode & 0x04) && g.nheld < (int)OSP_COUNTOF(g.held) && rnd() % 2) {
		itn->outstanding++;
		g.held[g.nheld++] = task;
		return;
	}
	fake_exec(task);
	task->cpl_fn(task);
}

static void
release_held(bool all)
{
	while (g.nheld > 0 && (all || rnd() % 2)) {
		struct osp_scsi_task *t = g.held[0];

		memmove(g.held, g.held + 1, sizeof(g.held[0]) * (size_t)(--g.nheld));
		t->itn->outstanding--;
		fake_exec(t);
		t->cpl_fn(t);
	}
}

void
osp_scsi_itn_tmf(struct osp_scsi_itn *itn, struct osp_scsi_task *task, enum osp_scsi_tmf fn,
		 uint64_t lun_id, uint64_t ref_tag)
{
	int i;

	(void)lun_id;
	task->tmf_resp = OSP_SCSI_TMF_RESP_COMPLETE;
	for (i = 0; i < g.nheld; i++) {
		struct osp_scsi_task *t = g.held[i];

		if (t->itn == itn && (fn != OSP_SCSI_TMF_ABORT_TASK || t->tag == ref_tag)) {
			memmove(&g.held[i], &g.held[i + 1], sizeof(g.held[0]) * (size_t)(g.nheld - i - 1));
			g.nheld--;
			i--;
			itn->outstanding--;
			t->status = OSP_SCSI_STATUS_TASK_ABORTED;
			t->cpl_fn(t);
		}
	}
	task->cpl_fn(task);
}

uint32_t
osp_scsi_itn_outstanding(const struct osp_scsi_itn *itn)
{
	return itn->outstanding;
}

void
osp_scsi_itn_close(struct osp_scsi_itn *itn)
{
	int i;

	CHECK(itn->outstanding == 0);
	for (i = 0; i < g.nheld; i++) {
		CHECK(g.held[i]->itn != itn);
	}
	g.itns--;
	free(itn);
}

void
osp_scsi_dev_luns_json(struct osp_scsi_dev *dev, struct cJSON *array)
{
	(void)dev;
	(void)array;
}

/* JSON output of iscsi_conn_json (RPC only). */
cJSON *
osp_json_add_uint64(cJSON *obj, const char *name, uint64_t val)
{
	return cJSON_AddNumberToObject(obj, name, (double)val);
}

/* ---------------------------------------------------------------- the run */

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A one-PDU login to TGT_NAME (operational stage to full feature). */
static size_t
build_login(uint8_t *out)
{
	const char *keys = (g.mode & 0x10) ?
			   "InitiatorName=iqn.2024-01.org.example:fuzz\0TargetName=" TGT_NAME
			   "\0ImmediateData=No\0InitialR2T=No\0MaxRecvDataSegmentLength=4096\0"
			   "FirstBurstLength=8192\0MaxBurstLength=16384\0" :
			   "InitiatorName=iqn.2024-01.org.example:fuzz\0TargetName=" TGT_NAME
			   "\0ImmediateData=Yes\0InitialR2T=Yes\0MaxRecvDataSegmentLength=4096\0"
			   "FirstBurstLength=8192\0MaxBurstLength=16384\0";
	size_t klen = 0, padded;

	while (keys[klen] != '\0' || keys[klen + 1] != '\0') {
		klen++;
	}
	klen += 1;
	padded = (klen + 3) & ~(size_t)3;
	memset(out, 0, 48 + padded);
	out[0] = 0x43;
	out[1] = 0x80 | (1 << 2) | 3;
	out[5] = (uint8_t)(klen >> 16);
	out[6] = (uint8_t)(klen >> 8);
	out[7] = (uint8_t)klen;
	out[8] = 0x80;
	out[13] = 1;
	put32(&out[16], 1);
	memcpy(out + 48, keys, klen);
	return 48 + padded;
}

/* Every byte sent parses as whole target PDUs within the initiator's limit. */
static void
check_output(void)
{
	size_t off = 0;

	if (g.out_overflow) {
		return;
	}
	while (off < g.out_len) {
		uint8_t op;
		uint32_t dsl;

		CHECK(g.out_len - off >= 48);
		op = g.out[off] & 0x3f;
		CHECK(op == ISCSI_OP_NOPIN || op == ISCSI_OP_SCSI_RSP || op == ISCSI_OP_TMF_RSP ||
		      op == ISCSI_OP_LOGIN_RSP || op == ISCSI_OP_TEXT_RSP || op == ISCSI_OP_DATA_IN ||
		      op == ISCSI_OP_LOGOUT_RSP || op == ISCSI_OP_R2T || op == ISCSI_OP_ASYNC ||
		      op == ISCSI_OP_REJECT);
		dsl = ((uint32_t)g.out[off + 5] << 16) | ((uint32_t)g.out[off + 6] << 8) |
		      g.out[off + 7];
		/* Login answers follow the login limit; afterwards the initiator's 4096 or 8192. */
		CHECK(dsl <= 8192);
		off += 48 + ((dsl + 3) & ~3u);
	}
	CHECK(off == g.out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t stream[1024 + 65536];
	static struct iscsi_poll_group pg;
	static bool once;
	struct iscsi_conn *conn;
	size_t plen = 0;
	int i;

	if (size < 2 || size - 2 > 65536) {
		return 0;
	}
	if (!once) {
		const char *any = "ANY", *bdev = "Ram0";
		int lun = 0, tag = 1;
		struct osp_iscsi_tgt_node_opts o = {};
		char err[256];

		once = true;
		memset(&g_iscsi.opts, 0, sizeof(g_iscsi.opts));
		snprintf(g_iscsi.opts.node_base, sizeof(g_iscsi.opts.node_base), "iqn.2016-06.io.spdk");
		g_iscsi.opts.nop_timeout = 60;
		g_iscsi.opts.max_sessions = 16;
		g_iscsi.opts.max_queue_depth = 8;
		g_iscsi.opts.max_connections_per_session = 2;
		g_iscsi.opts.max_recv_data_segment_length = 8192;
		iscsi_param_defaults_init(&g_iscsi.param_defaults);
		g_iscsi.param_defaults.max_recv_data_segment_length = 8192;
		g_iscsi.param_defaults.max_outstanding_r2t = 2;
		g_iscsi.data_bufsize = 16384;
		g_iscsi.data_reserve = 8;
		g_iscsi.next_tsih = 1;
		TAILQ_INIT(&g_pg1.portals);
		CHECK(osp_iscsi_init_grp_create(1, &any, 1, &any, 1, err, sizeof(err)) == 0);
		o.name = "fuzz";
		o.bdev_names = &bdev;
		o.lun_ids = &lun;
		o.nluns = 1;
		o.pg_tags = &tag;
		o.ig_tags = &tag;
		o.nmaps = 1;
		o.queue_depth = 8;
		CHECK(osp_iscsi_tgt_node_create(&o, err, sizeof(err)) == 0);
		TAILQ_INIT(&pg.conns);
		TAILQ_INIT(&pg.flush_list);
		pg.sock_group = g_fake_group;
		pg.thread = osp_get_thread();
		g_iscsi.app_thread = osp_get_thread();
	}
	g.mode = data[0];
	g.rng = data[1];
	g.in_off = 0;
	g.closed = false;
	g.out_len = 0;
	g.out_overflow = false;
	g.nheld = 0;
	TAILQ_INIT(&g.queued);
	if (g.mode & 0x01) {
		plen = build_login(stream);
	}
	memcpy(stream + plen, data + 2, size - 2);
	g.in = stream;
	g.in_len = plen + size - 2;

	iscsi_conn_accepted(&pg, &g_sock, 1);
	conn = TAILQ_FIRST(&pg.conns);
	CHECK(conn != NULL);
	for (i = 0; i < 100000 && !TAILQ_EMPTY(&pg.conns); i++) {
		conn = TAILQ_FIRST(&pg.conns);
		if (!g.closed && conn->state != ISCSI_CONN_EXITING && !conn->moving) {
			iscsi_conn_sock_cb(conn, g_fake_group, &g_sock);
		}
		run_msgs();
		if (g.mode & 0x04) {
			release_held(g.in_off == g.in_len);
		}
		iscsi_pg_poll(&pg);
		g_ticks += 10;
		if (g.in_off == g.in_len && g.nheld == 0 && g_nmsgs == 0 && TAILQ_EMPTY(&g.queued) &&
		    i > 2) {
			/* Everything said; the peer is gone: the next read sees EOF. */
			if (!TAILQ_EMPTY(&pg.conns)) {
				conn = TAILQ_FIRST(&pg.conns);
				if (conn->state != ISCSI_CONN_EXITING) {
					iscsi_conn_drop(conn, NULL);
				}
			}
		}
	}
	release_held(true);
	run_msgs();
	CHECK(TAILQ_EMPTY(&pg.conns));
	CHECK(TAILQ_EMPTY(&g_iscsi.sessions));
	CHECK(g.itns == 0);
	CHECK(g.bufs_out == 0);
	check_output();
	return 0;
}

#ifdef ISCSI_PDU_FUZZ_GEN_SEEDS
/* Seed files: a login alone, and logins followed by a few valid PDUs. */
int
main(int argc, char **argv)
{
	static const uint8_t modes[] = {0x00, 0x01, 0x03, 0x05, 0x11, 0x19};
	uint8_t buf[4096];
	char path[4096];
	size_t n;
	FILE *f;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <dir>\n", argv[0]);
		return 1;
	}
	for (i = 0; i < (int)sizeof(modes); i++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = modes[i];
		buf[1] = (uint8_t)i;
		n = 2;
		g.mode = modes[i] & ~0x01;
		if (!(modes[i] & 0x01)) {
			n += build_login(buf + 2);
		} else {
			/* READ(10) 1 block, then a WRITE(10) with 512 immediate bytes, NOP-Out, Logout. */
			uint8_t *p = buf + n;

			p[0] = 0x01;
			p[1] = 0xc0;
			put32(&p[16], 2);
			put32(&p[20], 512);
			p[32] = 0x28;
			p[40] = 1;
			p += 48;
			p[0] = 0x01;
			p[1] = 0xa0;
			p[7] = 0x00;
			p[6] = 0x02;	/* 512 bytes of immediate data */
			put32(&p[16], 3);
			put32(&p[20], 1024);
			put32(&p[24], 1);
			p[32] = 0x2a;
			p[40] = 2;
			p += 48 + 512;
			p[0] = 0x40;
			p[1] = 0x80;
			put32(&p[16], 4);
			put32(&p[20], 0xffffffff);
			put32(&p[24], 2);
			p += 48;
			p[0] = 0x46;
			p[1] = 0x80;
			put32(&p[16], 5);
			put32(&p[24], 2);
			p += 48;
			n = (size_t)(p - buf);
		}
		snprintf(path, sizeof(path), "%s/seed_%d", argv[1], i);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(buf, 1, n, f) != n) {
			perror(path);
			return 1;
		}
		fclose(f);
	}
	return 0;
}
#endif

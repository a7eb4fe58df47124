/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the iSCSI target (lib/iscsi compiled in: connections, login,
 * sessions, full feature phase, configuration objects) over real loopback
 * TCP connections, with a hand-written initiator that builds and parses PDUs
 * byte by byte, and a fake SCSI layer (a 1 MiB RAM disk answering INQUIRY,
 * TEST UNIT READY, READ CAPACITY(10), READ(10), WRITE(10)) so that the
 * transport is tested alone. Thread 0 is the app thread (acceptor), thread 1
 * the poll group; both are polled by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "osprey_internal/sock_module.h"
#include "iscsi/iscsi.c"
#include "iscsi/portal_grp.c"
#include "iscsi/init_grp.c"
#include "iscsi/tgt_node.c"
#include "iscsi/auth.c"
#include "iscsi/conn.c"
#include "iscsi/login.c"
#include "iscsi/session.c"
#include "iscsi/ffp.c"
#include "iscsi/param.c"
#include "iscsi/chap.c"

#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

/* ---------------------------------------------------------------- fake SCSI layer */

#define RAM_BLOCK	512
#define RAM_BLOCKS	2048

static uint8_t g_ram[RAM_BLOCK * RAM_BLOCKS];

struct osp_scsi_dev {
	char name[256];
	int nluns;
	uint16_t ports[4];
	int nports;
};

struct osp_scsi_lun {
	int id;
	char bdev[64];
};

struct osp_scsi_port {
	char name[300];
};

struct osp_scsi_itn {
	struct osp_scsi_dev *dev;
	uint32_t outstanding;
};

static struct osp_scsi_lun g_lun0 = {.id = 0, .bdev = "Ram0"};
static int g_itns_open;
/* Hold commands instead of completing them (for abort tests). */
static bool g_hold;
static struct osp_scsi_task *g_held[8];
static int g_nheld;

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
	*dev = calloc(1, sizeof(**dev));
	snprintf((*dev)->name, sizeof((*dev)->name), "%s", name);
	return 0;
}

const char *
osp_scsi_dev_get_name(const struct osp_scsi_dev *dev)
{
	return dev->name;
}

int
osp_scsi_dev_add_lun(struct osp_scsi_dev *dev, const char *bdev_name, int lun_id, int *out)
{
	if (strcmp(bdev_name, "Ram0") != 0) {
		return -ENODEV;
	}
	if (dev->nluns > 0) {
		return -EEXIST;
	}
	dev->nluns = 1;
	if (out != NULL) {
		*out = lun_id < 0 ? 0 : lun_id;
	}
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
	return lun->bdev;
}

int
osp_scsi_dev_add_port(struct osp_scsi_dev *dev, uint16_t rel_port_id, const char *name)
{
	(void)name;
	if (dev->nports == 4) {
		return -ENOSPC;
	}
	dev->ports[dev->nports++] = rel_port_id;
	return 0;
}

struct osp_scsi_port *
osp_scsi_dev_find_port(struct osp_scsi_dev *dev, uint16_t rel_port_id)
{
	static struct osp_scsi_port p;
	int i;

	for (i = 0; i < dev->nports; i++) {
		if (dev->ports[i] == rel_port_id) {
			return &p;
		}
	}
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
	struct osp_scsi_port *p = calloc(1, sizeof(*p));

	(void)rel_port_id;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
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

	(void)iport;
	CU_ASSERT(osp_scsi_dev_find_port(dev, rel_port) != NULL);
	itn->dev = dev;
	g_itns_open++;
	cb(cb_arg, itn, 0);
	return 0;
}

static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
fake_exec(struct osp_scsi_task *t)
{
	static uint8_t inq[36] = {0x00, 0x00, 0x06, 0x02, 31, 0, 0, 0x02, 'O', 'S', 'P', 'R',
				  'E', 'Y', ' ', ' '
				 };
	static uint8_t cap[8];
	uint32_t lba, nblk, len;

	t->status = OSP_SCSI_STATUS_GOOD;
	if (t->lun_id != 0) {
		osp_scsi_task_set_sense(t, 0x05, 0x25, 0x00);
		return;
	}
	switch (t->cdb[0]) {
	case 0x00:	/* TEST UNIT READY */
		return;
	case 0x12:	/* INQUIRY */
		len = ((uint32_t)t->cdb[3] << 8) | t->cdb[4];
		t->data_wanted = OSP_MIN(len, sizeof(inq));
		t->iov_inline[0].iov_base = inq;
		t->iov_inline[0].iov_len = OSP_MIN(t->data_wanted, t->transfer_len);
		t->iovcnt = 1;
		t->data_transferred = (uint32_t)t->iov_inline[0].iov_len;
		return;
	case 0x25:	/* READ CAPACITY (10) */
		cap[0] = 0, cap[1] = 0, cap[2] = (RAM_BLOCKS - 1) >> 8, cap[3] = (RAM_BLOCKS - 1) & 0xff;
		cap[4] = 0, cap[5] = 0, cap[6] = RAM_BLOCK >> 8, cap[7] = 0;
		t->data_wanted = 8;
		t->iov_inline[0].iov_base = cap;
		t->iov_inline[0].iov_len = OSP_MIN(8u, t->transfer_len);
		t->iovcnt = 1;
		t->data_transferred = (uint32_t)t->iov_inline[0].iov_len;
		return;
	case 0x28:	/* READ (10) */
	case 0x2a:	/* WRITE (10) */
		lba = be32(&t->cdb[2]);
		nblk = ((uint32_t)t->cdb[7] << 8) | t->cdb[8];
		if ((uint64_t)lba + nblk > RAM_BLOCKS) {
			osp_scsi_task_set_sense(t, 0x05, 0x21, 0x00);
			return;
		}
		len = nblk * RAM_BLOCK;
		t->data_wanted = len;
		if (t->cdb[0] == 0x28) {
			if (t->dir != OSP_SCSI_DIR_FROM_DEV && len > 0) {
				osp_scsi_task_set_sense(t, 0x05, 0x24, 0x00);
				return;
			}
			/* Zero copy: the "bdev buffer" is the RAM disk itself. */
			t->iov_inline[0].iov_base = &g_ram[lba * RAM_BLOCK];
			t->iov_inline[0].iov_len = OSP_MIN(len, t->transfer_len);
			t->iovs = t->iov_inline;
			t->iovcnt = 1;
			t->data_transferred = (uint32_t)t->iov_inline[0].iov_len;
		} else {
			if (t->dir != OSP_SCSI_DIR_TO_DEV && len > 0) {
				osp_scsi_task_set_sense(t, 0x05, 0x24, 0x00);
				return;
			}
			t->data_transferred = (uint32_t)osp_iov_copy_to_buf(&g_ram[lba * RAM_BLOCK],
					      OSP_MIN(len, t->transfer_len), t->iovs, t->iovcnt, 0);
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
	task->itn = itn;
	if (g_hold && g_nheld < 8) {
		itn->outstanding++;
		g_held[g_nheld++] = task;
		return;
	}
	fake_exec(task);
	task->cpl_fn(task);
}

void
osp_scsi_itn_tmf(struct osp_scsi_itn *itn, struct osp_scsi_task *task, enum osp_scsi_tmf fn,
		 uint64_t lun_id, uint64_t ref_tag)
{
	int i, j;

	(void)lun_id;
	task->tmf_resp = OSP_SCSI_TMF_RESP_COMPLETE;
	for (i = 0; i < g_nheld; i++) {
		if (fn != OSP_SCSI_TMF_ABORT_TASK || g_held[i]->tag == ref_tag) {
			struct osp_scsi_task *t = g_held[i];

			for (j = i; j < g_nheld - 1; j++) {
				g_held[j] = g_held[j + 1];
			}
			g_nheld--;
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
	CU_ASSERT(itn->outstanding == 0);
	g_itns_open--;
	free(itn);
}

void
osp_scsi_dev_luns_json(struct osp_scsi_dev *dev, struct cJSON *array)
{
	(void)dev;
	(void)array;
}

/* ---------------------------------------------------------------- the target */

#define TGT_NAME	"iqn.2016-06.io.spdk:disk1"
#define INI_NAME	"iqn.2024-01.org.example:host1"

static uint16_t g_port;

static void
poll_some(int rounds)
{
	int i;

	for (i = 0; i < rounds; i++) {
		ut_poll_thread(0);
		ut_poll_thread(1);
	}
}

static int
suite_init(void)
{
	struct iscsi_poll_group *pg;
	const char *host = "127.0.0.1", *port = "0", *any = "ANY";
	const char *bdev = "Ram0";
	int lun = 0, pgt = 1, igt = 1;
	struct osp_iscsi_tgt_node_opts o = {};
	char err[256] = "";
	int rc;

	ut_env_init();
	/* Pull in the posix socket implementation (registered by its constructor). */
	g_osp_sock_posix_sendmsg_calls = 0;
	if (ut_allocate_threads(2) != 0) {
		return -1;
	}
	ut_set_thread(0);
	osp_iscsi_opts_init(&g_iscsi.opts, sizeof(g_iscsi.opts));
	g_opts_set = true;
	g_iscsi.opts.nop_in_interval = 0;
	g_iscsi.app_thread = ut_thread(0);
	iscsi_param_defaults_from_opts(&g_iscsi.param_defaults);
	g_iscsi.next_tsih = 1;
	g_iscsi.data_bufsize = 128 * 1024;
	g_iscsi.data_reserve = 8;
	g_iscsi.data_pool = osp_iobuf_pool_create("ut_iscsi", g_iscsi.data_bufsize, 64, 8);
	if (g_iscsi.data_pool == NULL) {
		return -1;
	}
	pg = calloc(1, sizeof(*pg));
	pg->thread = ut_thread(1);
	g_iscsi.pgroups = calloc(1, sizeof(pg));
	g_iscsi.pgroups[0] = pg;
	g_iscsi.npgroups = 1;
	osp_thread_send_msg(pg->thread, pg_create_on_thread, pg);
	/* pg_created_on_app would start the subsystem chain: poll thread 1 only. */
	ut_poll_thread(1);
	if (pg->poller == NULL) {
		return -1;
	}
	ut_set_thread(0);
	rc = osp_iscsi_portal_grp_create(pgt, &host, &port, 1, false, false, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "portal group: %s\n", err);
		return -1;
	}
	g_port = TAILQ_FIRST(&iscsi_portal_grp_find(1)->portals)->bound_port;
	rc = osp_iscsi_init_grp_create(igt, &any, 1, &any, 1, err, sizeof(err));
	if (rc != 0) {
		return -1;
	}
	o.name = "disk1";
	o.bdev_names = &bdev;
	o.lun_ids = &lun;
	o.nluns = 1;
	o.pg_tags = &pgt;
	o.ig_tags = &igt;
	o.nmaps = 1;
	o.queue_depth = 4;
	rc = osp_iscsi_tgt_node_create(&o, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "target node: %s\n", err);
		return -1;
	}
	ut_set_thread(-1);
	return 0;
}

static int
suite_fini(void)
{
	struct iscsi_poll_group *pg = g_iscsi.pgroups[0];

	poll_some(10);
	ut_set_thread(0);
	iscsi_acceptor_stop();
	iscsi_tgt_node_delete_all();
	poll_some(10);
	ut_set_thread(0);
	iscsi_portal_grp_delete_all();
	iscsi_init_grp_delete_all();
	iscsi_auth_grp_delete_all();
	ut_set_thread(1);
	osp_poller_unregister(&pg->poller);
	osp_poller_unregister(&pg->timer);
	osp_sock_group_close(&pg->sock_group);
	osp_iobuf_channel_fini(&pg->iobuf);
	ut_set_thread(-1);
	free(pg);
	free(g_iscsi.pgroups);
	osp_iobuf_pool_free(g_iscsi.data_pool);
	ut_free_threads();
	return 0;
}

/* ---------------------------------------------------------------- the initiator */

struct cli {
	int fd;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint32_t itt;
	uint16_t tsih;
	uint16_t cid;
	bool hd;		/* header digests in use (after login) */
	bool dd;		/* data digests */
	bool corrupt_hd;	/* send the next header digest wrong */
	bool corrupt_dd;
};

static uint32_t
crc_of(const void *a, size_t alen, const void *b, size_t blen)
{
	uint32_t crc = osp_crc32c_update(a, alen, 0xffffffffu);

	return osp_crc32c_update(b, blen, crc) ^ 0xffffffffu;
}

struct rpdu {
	uint8_t bhs[48];
	uint8_t data[300 * 1024];
	uint32_t dsl;
};

static struct rpdu g_rp;

static int
cli_connect(struct cli *c)
{
	struct sockaddr_in sa = {};
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(g_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		return -errno;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->itt = 0x100;
	poll_some(20);
	return 0;
}

static void
cli_close(struct cli *c)
{
	close(c->fd);
	c->fd = -1;
	poll_some(50);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
cli_send(struct cli *c, uint8_t *bhs, const void *data, uint32_t len)
{
	static const uint8_t pad[4];
	static uint8_t padded[65536 + 4];
	uint32_t crc, plen = (len + 3) & ~3u;
	ssize_t rc;

	bhs[5] = (uint8_t)(len >> 16);
	bhs[6] = (uint8_t)(len >> 8);
	bhs[7] = (uint8_t)len;
	rc = send(c->fd, bhs, 48, MSG_NOSIGNAL);
	CU_ASSERT(rc == 48);
	if (c->hd) {
		crc = crc_of(bhs, 48, NULL, 0) ^ (c->corrupt_hd ? 1u : 0u);
		c->corrupt_hd = false;
		CU_ASSERT(send(c->fd, &crc, 4, MSG_NOSIGNAL) == 4);
	}
	if (len > 0) {
		rc = send(c->fd, data, len, MSG_NOSIGNAL);
		CU_ASSERT(rc == (ssize_t)len);
		if (len & 3) {
			rc = send(c->fd, pad, 4 - (len & 3), MSG_NOSIGNAL);
		}
		if (c->dd) {
			CU_ASSERT_FATAL(plen <= sizeof(padded));
			memset(padded, 0, plen);
			memcpy(padded, data, len);
			crc = crc_of(padded, plen, NULL, 0) ^ (c->corrupt_dd ? 1u : 0u);
			c->corrupt_dd = false;
			CU_ASSERT(send(c->fd, &crc, 4, MSG_NOSIGNAL) == 4);
		}
	}
	poll_some(5);
}

/* Read n bytes, polling the target while waiting. 0, or -1 on EOF / timeout. */
static int
cli_read(struct cli *c, void *buf, size_t n)
{
	size_t got = 0;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int spins = 0;
	ssize_t rc;

	while (got < n) {
		poll_some(2);
		if (poll(&pfd, 1, spins > 1000 ? 1 : 0) <= 0) {
			if (++spins > 3000) {
				return -1;
			}
			continue;
		}
		rc = recv(c->fd, (uint8_t *)buf + got, n - got, 0);
		if (rc <= 0) {
			return -1;
		}
		got += (size_t)rc;
	}
	return 0;
}

/* Receive a PDU into g_rp (digests checked): 0, or -1 (closed / nothing). */
static int
cli_recv(struct cli *c)
{
	uint32_t dsl, padded, crc;

	if (cli_read(c, g_rp.bhs, 48) != 0) {
		return -1;
	}
	if (c->hd) {
		if (cli_read(c, &crc, 4) != 0) {
			return -1;
		}
		CU_ASSERT(crc == crc_of(g_rp.bhs, 48, NULL, 0));
	}
	dsl = ((uint32_t)g_rp.bhs[5] << 16) | ((uint32_t)g_rp.bhs[6] << 8) | g_rp.bhs[7];
	padded = (dsl + 3) & ~3u;
	CU_ASSERT_FATAL(padded <= sizeof(g_rp.data));
	g_rp.dsl = dsl;
	if (padded > 0 && cli_read(c, g_rp.data, padded) != 0) {
		return -1;
	}
	if (padded > 0 && c->dd) {
		if (cli_read(c, &crc, 4) != 0) {
			return -1;
		}
		CU_ASSERT(crc == crc_of(g_rp.data, padded, NULL, 0));
	}
	if ((g_rp.bhs[0] & 0x3f) != ISCSI_OP_R2T && (g_rp.bhs[0] & 0x3f) != ISCSI_OP_DATA_IN) {
		c->exp_statsn = be32(&g_rp.bhs[24]) + 1;
	} else if ((g_rp.bhs[0] & 0x3f) == ISCSI_OP_DATA_IN && (g_rp.bhs[1] & 1)) {
		c->exp_statsn = be32(&g_rp.bhs[24]) + 1;
	}
	return 0;
}

/* Whether the target closed the connection (EOF within the polling budget). */
static bool
cli_closed(struct cli *c)
{
	uint8_t b[48];

	while (cli_read(c, b, 1) == 0) {
		/* drain (a Reject may come first) */
	}
	return true;
}

static bool
data_has(const char *key_val)
{
	size_t kl = strlen(key_val);
	uint32_t i = 0;

	while (i < g_rp.dsl) {
		const char *s = (const char *)&g_rp.data[i];
		size_t l = strnlen(s, g_rp.dsl - i);

		if (l == kl && memcmp(s, key_val, kl) == 0) {
			return true;
		}
		i += (uint32_t)l + 1;
	}
	return false;
}

static void
login_bhs(struct cli *c, uint8_t *bhs, uint8_t flags)
{
	memset(bhs, 0, 48);
	bhs[0] = 0x43;
	bhs[1] = flags;
	bhs[8] = 0x80;	/* ISID: random format */
	bhs[9] = 0x12;
	bhs[13] = 0x01;
	bhs[14] = (uint8_t)(c->tsih >> 8);
	bhs[15] = (uint8_t)c->tsih;
	bhs[20] = (uint8_t)(c->cid >> 8);
	bhs[21] = (uint8_t)c->cid;
	put32(&bhs[16], c->itt);
	put32(&bhs[24], c->cmdsn);
	put32(&bhs[28], c->exp_statsn);
}

static int
text_kv(char *buf, const char *const *kv)
{
	int len = 0;

	for (; *kv != NULL; kv++) {
		len += sprintf(buf + len, "%s", *kv) + 1;
	}
	return len;
}

/* One-PDU login (CSG 1 -> FFP) with extra keys; returns class << 8 | detail. */
static int
cli_login(struct cli *c, const char *target, bool discovery, const char *const *extra)
{
	uint8_t bhs[48];
	char data[2048];
	const char *kv[32];
	char tn[300], in[300], sent[2048];
	int n = 0, len, sent_len;

	snprintf(in, sizeof(in), "InitiatorName=%s", INI_NAME);
	kv[n++] = in;
	if (discovery) {
		kv[n++] = "SessionType=Discovery";
	} else if (target != NULL) {
		snprintf(tn, sizeof(tn), "TargetName=%s", target);
		kv[n++] = tn;
	}
	while (extra != NULL && *extra != NULL) {
		kv[n++] = *extra++;
	}
	kv[n] = NULL;
	len = text_kv(data, kv);
	memcpy(sent, data, (size_t)len);
	sent_len = len;
	login_bhs(c, bhs, 0x80 | (1 << 2) | 3);
	cli_send(c, bhs, data, (uint32_t)len);
	if (cli_recv(c) != 0) {
		return -1;
	}
	/*
	 * The target may answer T=0 with offers of its own (its settings are
	 * stricter than the RFC defaults): accept them by echoing their values,
	 * and ask to transit again.
	 */
	while ((g_rp.bhs[0] & 0x3f) == ISCSI_OP_LOGIN_RSP && g_rp.bhs[36] == 0 &&
	       !(g_rp.bhs[1] & 0x80)) {
		uint32_t i = 0;

		len = 0;
		while (i < g_rp.dsl) {
			const char *s = (const char *)&g_rp.data[i];
			size_t l = strnlen(s, g_rp.dsl - i);

			const char *eq = strchr(s, '=');
			bool mine = false;
			int j = 0;

			/* Answers to our own keys are not offers. */
			while (eq != NULL && j < sent_len) {
				if (strncmp(&sent[j], s, (size_t)(eq - s + 1)) == 0) {
					mine = true;
				}
				j += (int)strlen(&sent[j]) + 1;
			}
			if (!mine && strncmp(s, "MaxRecvDataSegmentLength=", 25) != 0 &&
			    strncmp(s, "TargetPortalGroupTag=", 21) != 0 &&
			    strncmp(s, "TargetAlias=", 12) != 0) {
				memcpy(data + len, s, l + 1);
				len += (int)l + 1;
			}
			i += (uint32_t)l + 1;
		}
		login_bhs(c, bhs, 0x80 | (1 << 2) | 3);
		put32(&bhs[28], c->exp_statsn);
		cli_send(c, bhs, data, (uint32_t)len);
		if (cli_recv(c) != 0) {
			return -1;
		}
	}
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_LOGIN_RSP);
	if (g_rp.bhs[36] == 0) {
		c->tsih = (uint16_t)((g_rp.bhs[14] << 8) | g_rp.bhs[15]);
		c->cmdsn = be32(&g_rp.bhs[28]);
	}
	return (g_rp.bhs[36] << 8) | g_rp.bhs[37];
}

static void
scsi_bhs(struct cli *c, uint8_t *bhs, uint8_t flags, uint32_t edtl, const uint8_t *cdb,
	 bool immediate)
{
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_SCSI_CMD | (immediate ? 0x40 : 0);
	bhs[1] = 0x80 | flags;
	put32(&bhs[16], ++c->itt);
	put32(&bhs[20], edtl);
	put32(&bhs[24], c->cmdsn);
	if (!immediate) {
		c->cmdsn++;
	}
	put32(&bhs[28], c->exp_statsn);
	memcpy(&bhs[32], cdb, 16);
}

static void
rw10_cdb(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t nblk)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	put32(&cdb[2], lba);
	cdb[7] = (uint8_t)(nblk >> 8);
	cdb[8] = (uint8_t)nblk;
}

/* ---------------------------------------------------------------- tests */

static void
test_name_and_netmask(void)
{
	CU_ASSERT(iscsi_name_valid("iqn.2016-06.io.spdk:disk1"));
	CU_ASSERT(iscsi_name_valid("eui.0123456789ABCDEF"));
	CU_ASSERT(iscsi_name_valid("naa.0123456789abcdef0123456789abcdef"));
	CU_ASSERT(!iscsi_name_valid("iqn.16-06.io:x"));
	CU_ASSERT(!iscsi_name_valid("eui.0123"));
	CU_ASSERT(!iscsi_name_valid("disk1"));
	CU_ASSERT(!iscsi_name_valid("iqn.2016-06.io spdk"));
	CU_ASSERT(iscsi_netmask_match("ANY", "10.0.0.1"));
	CU_ASSERT(iscsi_netmask_match("10.0.0.0/8", "10.1.2.3"));
	CU_ASSERT(!iscsi_netmask_match("10.0.0.0/8", "11.1.2.3"));
	CU_ASSERT(iscsi_netmask_match("192.168.1.0/23", "192.168.0.7"));
	CU_ASSERT(!iscsi_netmask_match("192.168.1.0/24", "192.168.0.7"));
	CU_ASSERT(iscsi_netmask_match("[::1]/128", "::1"));
	CU_ASSERT(!iscsi_netmask_match("10.0.0.0/8", "::1"));
	CU_ASSERT(iscsi_netmask_valid("!10.0.0.0/8"));
	CU_ASSERT(!iscsi_netmask_valid("10.0.0.0/33"));
	CU_ASSERT(!iscsi_netmask_valid("host.example"));
}

static void
test_init_grp_check(void)
{
	struct iscsi_init_grp ig = {};
	char *names[] = {"ANY", "!iqn.2024-01.org.example:bad"};
	char *masks[] = {"127.0.0.0/8", "!127.0.0.9"};

	ig.nnames = 2;
	ig.names[0] = names[0];
	ig.names[1] = names[1];
	ig.nmasks = 2;
	ig.masks[0] = masks[0];
	ig.masks[1] = masks[1];
	CU_ASSERT(iscsi_init_grp_check(&ig, INI_NAME, "127.0.0.1") == 1);
	CU_ASSERT(iscsi_init_grp_check(&ig, "iqn.2024-01.org.example:bad", "127.0.0.1") == -1);
	CU_ASSERT(iscsi_init_grp_check(&ig, INI_NAME, "127.0.0.9") == -1);
	CU_ASSERT(iscsi_init_grp_check(&ig, INI_NAME, "10.0.0.1") == 0);
}

static void
test_cmdsn_window(void)
{
	struct iscsi_session s = {};

	s.exp_cmdsn = 10;
	s.queue_depth = 4;
	CU_ASSERT(iscsi_session_max_cmdsn(&s) == 13);
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 9, false) == -1);	/* too low */
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 14, false) == -1);	/* beyond MaxCmdSN */
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 12, false) == 0);	/* ahead, in window */
	CU_ASSERT(s.exp_cmdsn == 10);
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 12, false) == -1);	/* duplicate */
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 10, false) == 0);
	CU_ASSERT(s.exp_cmdsn == 11);
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 11, false) == 0);
	CU_ASSERT(s.exp_cmdsn == 13);	/* 12 had arrived */
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 99, true) == 0);	/* immediate */
	CU_ASSERT(s.exp_cmdsn == 13);
	s.window_used = 4;	/* all slots busy: the window closes */
	CU_ASSERT(iscsi_session_max_cmdsn(&s) == 12);
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 13, false) == -1);
	/* Serial arithmetic across the wrap. */
	s.exp_cmdsn = 0xffffffff;
	s.window_used = 0;
	s.ahead = 0;
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 0xffffffff, false) == 0);
	CU_ASSERT(s.exp_cmdsn == 0);
	CU_ASSERT(iscsi_session_check_cmdsn(&s, 0, false) == 0);
}

static void
test_lun_decode(void)
{
	uint8_t l0[8] = {}, l5[8] = {0, 5}, flat[8] = {0x41, 0x02}, bad[8] = {0, 1, 0, 0, 0, 0, 0, 1};

	CU_ASSERT(lun_decode(l0) == 0);
	CU_ASSERT(lun_decode(l5) == 5);
	CU_ASSERT(lun_decode(flat) == 0x102);
	CU_ASSERT(lun_decode(bad) == UINT64_MAX);
}

static void
test_login_ok(void)
{
	struct cli c;
	const char *extra[] = {"MaxRecvDataSegmentLength=65536", "ImmediateData=Yes",
			       "InitialR2T=No", NULL
			      };

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT(cli_login(&c, TGT_NAME, false, extra) == 0);
	CU_ASSERT(g_rp.bhs[1] == (0x80 | (1 << 2) | 3));	/* T, CSG 1, NSG 3 */
	CU_ASSERT(c.tsih != 0);
	CU_ASSERT(g_itns_open == 1);
	cli_close(&c);
	CU_ASSERT(g_itns_open == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.sessions));
}

static void
test_login_errors(void)
{
	struct cli c;
	uint8_t bhs[48];
	const char *kv[] = {"TargetName=" TGT_NAME, NULL};
	char data[256];
	int len;

	/* Unknown target: 02/03. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT(cli_login(&c, "iqn.2016-06.io.spdk:nothere", false, NULL) == 0x0203);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	/* No InitiatorName: 02/07. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	len = text_kv(data, kv);
	login_bhs(&c, bhs, 0x80 | (1 << 2) | 3);
	cli_send(&c, bhs, data, (uint32_t)len);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT(g_rp.bhs[36] == 2 && g_rp.bhs[37] == 7);
	cli_close(&c);
	/* Unsupported version: 02/05. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	login_bhs(&c, bhs, 0x80 | (1 << 2) | 3);
	bhs[2] = 2;
	bhs[3] = 1;
	cli_send(&c, bhs, data, (uint32_t)len);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT(g_rp.bhs[36] == 2 && g_rp.bhs[37] == 5);
	cli_close(&c);
	/* A session that does not exist (TSIH 0x7777): 02/0a. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	c.tsih = 0x7777;
	CU_ASSERT(cli_login(&c, TGT_NAME, false, NULL) == 0x020a);
	cli_close(&c);
	/* T and C together: initiator error. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	login_bhs(&c, bhs, 0xc0 | (1 << 2) | 3);
	cli_send(&c, bhs, data, (uint32_t)len);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT(g_rp.bhs[36] == 2 && g_rp.bhs[37] == 0);
	cli_close(&c);
	/* A SCSI command before login: refused, closed. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_SCSI_CMD;
	bhs[1] = 0x80;
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_LOGIN_RSP && g_rp.bhs[36] == 2);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.sessions));
}

static void
test_login_continued_text(void)
{
	struct cli c;
	uint8_t bhs[48];
	char data[512];
	const char *kv[] = {"InitiatorName=" INI_NAME, "TargetName=" TGT_NAME, NULL};
	int len;

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	len = text_kv(data, kv);
	/* First half with C=1: an empty answer asks for the rest. */
	login_bhs(&c, bhs, 0x40 | (1 << 2));
	cli_send(&c, bhs, data, 10);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT(g_rp.bhs[36] == 0 && g_rp.dsl == 0 && !(g_rp.bhs[1] & 0x80));
	login_bhs(&c, bhs, 0x80 | (1 << 2) | 3);
	cli_send(&c, bhs, data + 10, (uint32_t)len - 10);
	CU_ASSERT(cli_recv(&c) == 0);
	CU_ASSERT(g_rp.bhs[36] == 0);
	CU_ASSERT(data_has("TargetPortalGroupTag=1"));
	cli_close(&c);
}

static void
test_read_write(void)
{
	struct cli c;
	uint8_t bhs[48], cdb[16], buf[8192];
	const char *extra[] = {"ImmediateData=Yes", "InitialR2T=Yes", "MaxRecvDataSegmentLength=4096",
			       NULL
			      };
	uint32_t i, got = 0, r2t_off, r2t_len, ttt;

	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i * 13 + 1);
	}
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, extra) == 0);

	/* WRITE(10) 16 blocks: 1 KiB immediate data, the rest through R2T. */
	rw10_cdb(cdb, 0x2a, 100, 16);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_WRITE, 8192, cdb, false);
	cli_send(&c, bhs, buf, 1024);
	while (true) {
		CU_ASSERT_FATAL(cli_recv(&c) == 0);
		if ((g_rp.bhs[0] & 0x3f) != ISCSI_OP_R2T) {
			break;
		}
		r2t_off = be32(&g_rp.bhs[40]);
		r2t_len = be32(&g_rp.bhs[44]);
		ttt = be32(&g_rp.bhs[20]);
		CU_ASSERT(r2t_off == 1024 && r2t_len == 7168);
		/* Two Data-Outs, the target's MaxRecvDataSegmentLength allowing. */
		for (i = 0; i < 2; i++) {
			uint32_t seg = i == 0 ? 4096 : r2t_len - 4096;

			memset(bhs, 0, 48);
			bhs[0] = ISCSI_OP_DATA_OUT;
			bhs[1] = i == 1 ? 0x80 : 0;
			put32(&bhs[16], c.itt);
			put32(&bhs[20], ttt);
			put32(&bhs[28], c.exp_statsn);
			put32(&bhs[36], i);
			put32(&bhs[40], r2t_off + i * 4096);
			cli_send(&c, bhs, buf + r2t_off + i * 4096, seg);
		}
	}
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP);
	CU_ASSERT(g_rp.bhs[3] == OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(memcmp(&g_ram[100 * RAM_BLOCK], buf, sizeof(buf)) == 0);

	/* READ(10) of the same 16 blocks: Data-In of at most 4096 bytes, status in the last. */
	rw10_cdb(cdb, 0x28, 100, 16);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 8192, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	memset(buf, 0, sizeof(buf));
	for (i = 0; got < 8192; i++) {
		CU_ASSERT_FATAL(cli_recv(&c) == 0);
		CU_ASSERT_FATAL((g_rp.bhs[0] & 0x3f) == ISCSI_OP_DATA_IN);
		CU_ASSERT(be32(&g_rp.bhs[36]) == i);	/* DataSN */
		CU_ASSERT(be32(&g_rp.bhs[40]) == got);	/* buffer offset */
		CU_ASSERT(g_rp.dsl <= 4096);
		memcpy(buf + got, g_rp.data, g_rp.dsl);
		got += g_rp.dsl;
	}
	CU_ASSERT(g_rp.bhs[1] & 0x01);	/* S: phase collapse */
	CU_ASSERT(g_rp.bhs[3] == OSP_SCSI_STATUS_GOOD);
	CU_ASSERT(memcmp(&g_ram[100 * RAM_BLOCK], buf, sizeof(buf)) == 0);

	/* READ(10) 2 blocks into a 512-byte buffer: overflow residual 512. */
	rw10_cdb(cdb, 0x28, 0, 2);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 512, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_DATA_IN && g_rp.dsl == 512);
	CU_ASSERT((g_rp.bhs[1] & 0x05) == 0x05);	/* O and S */
	CU_ASSERT(be32(&g_rp.bhs[44]) == 512);

	/* Out of range: CHECK CONDITION with sense, in a SCSI Response. */
	rw10_cdb(cdb, 0x28, RAM_BLOCKS, 1);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 512, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP);
	CU_ASSERT(g_rp.bhs[3] == OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT(g_rp.dsl == 20 && g_rp.data[1] == 18 && g_rp.data[2 + 12] == 0x21);
	CU_ASSERT((g_rp.bhs[1] & ISCSI_RSP_FLAG_UNDERFLOW) && be32(&g_rp.bhs[44]) == 512);
	cli_close(&c);
	CU_ASSERT(g_itns_open == 0);
}

static void
test_unsolicited_data(void)
{
	struct cli c;
	uint8_t bhs[48], cdb[16], buf[4096];
	const char *extra[] = {"ImmediateData=No", "InitialR2T=No", "FirstBurstLength=2048", NULL};

	memset(buf, 0x5a, sizeof(buf));
	g_iscsi.param_defaults.initial_r2t = false;
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, extra) == 0);
	g_iscsi.param_defaults.initial_r2t = true;
	/* 4 KiB write: 2 KiB unsolicited Data-Out (TTT ffffffff), then an R2T. */
	rw10_cdb(cdb, 0x2a, 300, 8);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_WRITE, 4096, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = 0x80;
	put32(&bhs[16], c.itt);
	put32(&bhs[20], 0xffffffff);
	cli_send(&c, bhs, buf, 2048);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT_FATAL((g_rp.bhs[0] & 0x3f) == ISCSI_OP_R2T);
	CU_ASSERT(be32(&g_rp.bhs[40]) == 2048 && be32(&g_rp.bhs[44]) == 2048);
	memcpy(&bhs[20], &g_rp.bhs[20], 4);
	put32(&bhs[40], 2048);
	cli_send(&c, bhs, buf, 2048);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && g_rp.bhs[3] == 0);
	CU_ASSERT(memcmp(&g_ram[300 * RAM_BLOCK], buf, sizeof(buf)) == 0);
	cli_close(&c);
}

static void
test_bad_data_out(void)
{
	struct cli c;
	uint8_t bhs[48], cdb[16], buf[1024] = {};
	const char *extra[] = {"ImmediateData=No", NULL};

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, extra) == 0);
	/* Data-Out for a tag nobody knows: Reject, the connection goes on. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = 0x80;
	put32(&bhs[16], 0x4242);
	put32(&bhs[20], 0x17);
	cli_send(&c, bhs, buf, 512);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT && g_rp.bhs[2] == ISCSI_REJECT_INVALID_PDU_FIELD);
	CU_ASSERT(g_rp.dsl == 48 && be32(&g_rp.data[16]) == 0x4242);
	/* A wrong DataSN for an R2T: the command fails, the connection goes on. */
	rw10_cdb(cdb, 0x2a, 0, 2);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_WRITE, 1024, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT_FATAL((g_rp.bhs[0] & 0x3f) == ISCSI_OP_R2T);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = 0x80;
	put32(&bhs[16], c.itt);
	memcpy(&bhs[20], &g_rp.bhs[20], 4);
	put32(&bhs[36], 27);
	cli_send(&c, bhs, buf, 1024);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && be32(&g_rp.bhs[16]) == c.itt);
	CU_ASSERT(g_rp.bhs[3] == OSP_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT(g_rp.dsl == 20 && g_rp.data[2 + 2] == 0x0b && g_rp.data[2 + 12] == 0x4b);
	/* READ(10) with W=1: no R2T, not executed, GOOD with the whole EDTL as underflow. */
	rw10_cdb(cdb, 0x28, 0, 2);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_WRITE, 1024, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && be32(&g_rp.bhs[16]) == c.itt);
	CU_ASSERT(g_rp.bhs[3] == OSP_SCSI_STATUS_GOOD && g_rp.dsl == 0);
	CU_ASSERT((g_rp.bhs[1] & 0x02) && be32(&g_rp.bhs[44]) == 1024);
	/* WRITE(10) with R=1: refused with sense before any R2T, never executed. */
	rw10_cdb(cdb, 0x2a, 0, 2);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 1024, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && g_rp.bhs[3] == OSP_SCSI_STATUS_CHECK_CONDITION);
	/* Still serving: a TEST UNIT READY works. */
	rw10_cdb(cdb, 0x00, 0, 0);
	scsi_bhs(&c, bhs, 0, 0, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && g_rp.bhs[3] == 0);
	cli_close(&c);
	CU_ASSERT(g_itns_open == 0);
}

static void
test_oversized_and_unknown(void)
{
	struct cli c;
	uint8_t bhs[48];
	static uint8_t big[70000];

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, NULL) == 0);
	/* An unknown opcode: Reject "command not supported", the connection stays. */
	memset(bhs, 0, 48);
	bhs[0] = 0x1c;
	bhs[1] = 0x80;
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT && g_rp.bhs[2] == ISCSI_REJECT_CMD_NOT_SUPPORTED);
	/* A data segment over MaxRecvDataSegmentLength: Reject, connection dropped. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_NOPOUT | 0x40;
	bhs[1] = 0x80;
	put32(&bhs[16], 7);
	put32(&bhs[20], 0xffffffff);
	cli_send(&c, bhs, big, sizeof(big));
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT && g_rp.bhs[2] == ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
}

static void
test_nop_cmdsn_tmf(void)
{
	struct cli c;
	uint8_t bhs[48], cdb[16];
	const char ping[] = "ping data";
	uint32_t held_itt;

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, NULL) == 0);
	/* NOP-Out with a tag: NOP-In echoing the data. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_NOPOUT | 0x40;
	bhs[1] = 0x80;
	put32(&bhs[16], 0x77);
	put32(&bhs[20], 0xffffffff);
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, ping, sizeof(ping));
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_NOPIN && be32(&g_rp.bhs[16]) == 0x77);
	CU_ASSERT(g_rp.dsl == sizeof(ping) && memcmp(g_rp.data, ping, sizeof(ping)) == 0);
	/* A command beyond MaxCmdSN is dropped silently; the next good one is answered. */
	rw10_cdb(cdb, 0x00, 0, 0);
	scsi_bhs(&c, bhs, 0, 0, cdb, false);
	put32(&bhs[24], c.cmdsn + 100);
	cli_send(&c, bhs, NULL, 0);
	c.cmdsn--;
	scsi_bhs(&c, bhs, 0, 0, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && be32(&g_rp.bhs[16]) == c.itt);
	CU_ASSERT(be32(&g_rp.bhs[28]) == c.cmdsn);	/* ExpCmdSN */
	/* ABORT TASK of a command held in the SCSI layer: no SCSI Response, TMF complete. */
	g_hold = true;
	rw10_cdb(cdb, 0x28, 0, 1);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 512, cdb, false);
	held_itt = c.itt;
	cli_send(&c, bhs, NULL, 0);
	g_hold = false;
	CU_ASSERT(g_nheld == 1);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_TMF_REQ | 0x40;
	bhs[1] = 0x80 | ISCSI_TMF_ABORT_TASK;
	put32(&bhs[16], ++c.itt);
	put32(&bhs[20], held_itt);
	put32(&bhs[24], c.cmdsn);
	put32(&bhs[32], c.cmdsn - 1);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_TMF_RSP && g_rp.bhs[2] == ISCSI_TMF_RSP_COMPLETE);
	CU_ASSERT(g_nheld == 0);
	/* ABORT TASK of a tag that never existed, RefCmdSN outside the window. */
	put32(&bhs[16], ++c.itt);
	put32(&bhs[20], 0x9999);
	put32(&bhs[32], c.cmdsn + 1000);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_TMF_RSP && g_rp.bhs[2] == ISCSI_TMF_RSP_NO_TASK);
	cli_close(&c);
	CU_ASSERT(g_itns_open == 0);
}

static void
test_discovery_and_logout(void)
{
	struct cli c;
	uint8_t bhs[48];
	char expect[128];
	const char st[] = "SendTargets=All";

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, NULL, true, NULL) == 0);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_TEXT_REQ | 0x40;
	bhs[1] = 0x80;
	put32(&bhs[16], 0x31);
	put32(&bhs[20], 0xffffffff);
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, st, sizeof(st));
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_TEXT_RSP && (g_rp.bhs[1] & 0x80));
	CU_ASSERT(data_has("TargetName=" TGT_NAME));
	snprintf(expect, sizeof(expect), "TargetAddress=127.0.0.1:%u,1", g_port);
	CU_ASSERT(data_has(expect));
	/* The same request in two PDUs (C=1, then F=1 with the target's TTT). */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_TEXT_REQ | 0x40;
	bhs[1] = ISCSI_TEXT_FLAG_CONTINUE;
	put32(&bhs[16], 0x33);
	put32(&bhs[20], 0xffffffff);
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, st, 8);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_TEXT_RSP && g_rp.bhs[1] == 0 && g_rp.dsl == 0);
	CU_ASSERT(be32(&g_rp.bhs[16]) == 0x33 && be32(&g_rp.bhs[20]) != 0xffffffff);
	bhs[1] = 0x80;
	memcpy(&bhs[20], &g_rp.bhs[20], 4);
	cli_send(&c, bhs, st + 8, sizeof(st) - 8);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_TEXT_RSP && (g_rp.bhs[1] & 0x80));
	CU_ASSERT(data_has("TargetName=" TGT_NAME));
	/* C=1 with F=1 is a protocol error: Reject. */
	bhs[1] = 0x80 | ISCSI_TEXT_FLAG_CONTINUE;
	put32(&bhs[20], 0xffffffff);
	cli_send(&c, bhs, st, 8);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT);
	/* SCSI commands have no place in a discovery session. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_SCSI_CMD;
	bhs[1] = 0x80;
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT);
	/* Logout: response, then the target closes. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_LOGOUT_REQ | 0x40;
	bhs[1] = 0x80 | ISCSI_LOGOUT_CLOSE_SESSION;
	put32(&bhs[16], 0x32);
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_LOGOUT_RSP && g_rp.bhs[2] == 0);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.sessions));
}

static void
test_reinstatement_and_mcs(void)
{
	struct cli a, b, m;
	uint8_t bhs[48], cdb[16];
	const char *two[] = {"MaxConnections=2", NULL};
	uint16_t first;

	CU_ASSERT_FATAL(cli_connect(&a) == 0);
	CU_ASSERT_FATAL(cli_login(&a, TGT_NAME, false, two) == 0);
	first = a.tsih;
	/* A second connection of the session (same ISID, its TSIH, CID 1). */
	CU_ASSERT_FATAL(cli_connect(&m) == 0);
	m.tsih = first;
	m.cid = 1;
	CU_ASSERT(cli_login(&m, TGT_NAME, false, NULL) == 0);
	CU_ASSERT(m.tsih == first);
	/* A command on it works and shares the session's CmdSN. */
	m.cmdsn = a.cmdsn;
	rw10_cdb(cdb, 0x00, 0, 0);
	scsi_bhs(&m, bhs, 0, 0, cdb, false);
	cli_send(&m, bhs, NULL, 0);
	CU_ASSERT_FATAL(cli_recv(&m) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && g_rp.bhs[3] == 0);
	/* Same initiator port, TSIH 0: the old session is reinstated (dropped). */
	CU_ASSERT_FATAL(cli_connect(&b) == 0);
	CU_ASSERT(cli_login(&b, TGT_NAME, false, NULL) == 0);
	poll_some(50);
	CU_ASSERT(b.tsih != first);
	CU_ASSERT(cli_closed(&a));
	CU_ASSERT(cli_closed(&m));
	CU_ASSERT(g_itns_open == 1);
	cli_close(&a);
	cli_close(&m);
	cli_close(&b);
	CU_ASSERT(g_itns_open == 0);
}

static void
test_digests(void)
{
	struct cli c;
	uint8_t bhs[48], cdb[16], buf[4096];
	const char *extra[] = {"HeaderDigest=CRC32C", "DataDigest=CRC32C", "ImmediateData=Yes",
			       NULL
			      };
	uint32_t i, got = 0;

	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i * 3 + 7);
	}
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, extra) == 0);
	CU_ASSERT(TAILQ_FIRST(&g_iscsi.pgroups[0]->conns)->hdigest);
	CU_ASSERT(TAILQ_FIRST(&g_iscsi.pgroups[0]->conns)->ddigest);
	c.hd = c.dd = true;
	/* A write of immediate data and a read back, every PDU digested both ways. */
	rw10_cdb(cdb, 0x2a, 40, 1);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_WRITE, 512, cdb, false);
	cli_send(&c, bhs, buf, 200);	/* 200 of 512 bytes: not a multiple of 4 after */
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT_FATAL((g_rp.bhs[0] & 0x3f) == ISCSI_OP_R2T);
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = 0x80;
	put32(&bhs[16], c.itt);
	memcpy(&bhs[20], &g_rp.bhs[20], 4);
	put32(&bhs[40], 200);
	cli_send(&c, bhs, buf + 200, 312);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_SCSI_RSP && g_rp.bhs[3] == 0);
	rw10_cdb(cdb, 0x28, 40, 1);
	scsi_bhs(&c, bhs, ISCSI_CMD_FLAG_READ, 512, cdb, false);
	cli_send(&c, bhs, NULL, 0);
	while (got < 512) {
		CU_ASSERT_FATAL(cli_recv(&c) == 0);
		CU_ASSERT_FATAL((g_rp.bhs[0] & 0x3f) == ISCSI_OP_DATA_IN);
		got += g_rp.dsl;
	}
	CU_ASSERT(memcmp(&g_ram[40 * RAM_BLOCK], buf, 512) == 0);
	/* A bad data digest: Reject (data digest error), then the connection ends. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_NOPOUT | 0x40;
	bhs[1] = 0x80;
	put32(&bhs[16], 0x55);
	put32(&bhs[20], 0xffffffff);
	put32(&bhs[24], c.cmdsn);
	c.corrupt_dd = true;
	cli_send(&c, bhs, "abcd", 4);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_REJECT && g_rp.bhs[2] == ISCSI_REJECT_DATA_DIGEST);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	/* A bad header digest: the connection ends at once. */
	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, extra) == 0);
	c.hd = c.dd = true;
	rw10_cdb(cdb, 0x00, 0, 0);
	scsi_bhs(&c, bhs, 0, 0, cdb, false);
	c.corrupt_hd = true;
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	CU_ASSERT(g_itns_open == 0);
}

/* Target NOP-In pings: sent on an idle connection, answered, and a silent peer is dropped. */
static void
test_nopin_ping(void)
{
	struct cli c;
	struct iscsi_conn *conn;
	uint8_t bhs[48];
	uint64_t hz = osp_get_ticks_hz();

	CU_ASSERT_FATAL(cli_connect(&c) == 0);
	CU_ASSERT_FATAL(cli_login(&c, TGT_NAME, false, NULL) == 0);
	conn = TAILQ_FIRST(&g_iscsi.pgroups[0]->conns);
	CU_ASSERT_FATAL(conn != NULL && conn->state == ISCSI_CONN_FFP);
	g_iscsi.opts.nop_in_interval = 5;
	g_iscsi.opts.nop_timeout = 10;
	/* Idle for 6 s: a ping with a TTT and no ITT. */
	conn->last_activity_tsc -= 6 * hz;
	ut_set_thread(1);
	iscsi_pg_timer(g_iscsi.pgroups[0]);
	ut_set_thread(-1);
	CU_ASSERT_FATAL(cli_recv(&c) == 0);
	CU_ASSERT((g_rp.bhs[0] & 0x3f) == ISCSI_OP_NOPIN && be32(&g_rp.bhs[16]) == 0xffffffff);
	CU_ASSERT(be32(&g_rp.bhs[20]) != 0xffffffff);
	CU_ASSERT(conn->nop_outstanding);
	/* The answer: NOP-Out, ITT ffffffff, the ping's TTT, immediate. */
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_NOPOUT | 0x40;
	bhs[1] = 0x80;
	put32(&bhs[16], 0xffffffff);
	memcpy(&bhs[20], &g_rp.bhs[20], 4);
	put32(&bhs[24], c.cmdsn);
	cli_send(&c, bhs, NULL, 0);
	CU_ASSERT(!conn->nop_outstanding);
	/* Another ping left unanswered past nop_timeout: the connection is dropped. */
	conn->last_activity_tsc -= 6 * hz;
	ut_set_thread(1);
	iscsi_pg_timer(g_iscsi.pgroups[0]);
	CU_ASSERT(conn->nop_outstanding);
	conn->nop_sent_tsc -= 11 * hz;
	iscsi_pg_timer(g_iscsi.pgroups[0]);
	ut_set_thread(-1);
	CU_ASSERT(cli_closed(&c));
	cli_close(&c);
	g_iscsi.opts.nop_in_interval = 0;
	CU_ASSERT(g_itns_open == 0);
}

int
main(void)
{
	CU_pSuite pure, tgt;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	pure = CU_add_suite("iscsi_pure", NULL, NULL);
	CU_ADD_TEST(pure, test_name_and_netmask);
	CU_ADD_TEST(pure, test_init_grp_check);
	CU_ADD_TEST(pure, test_cmdsn_window);
	CU_ADD_TEST(pure, test_lun_decode);
	tgt = CU_add_suite("iscsi_target", suite_init, suite_fini);
	CU_ADD_TEST(tgt, test_login_ok);
	CU_ADD_TEST(tgt, test_login_errors);
	CU_ADD_TEST(tgt, test_login_continued_text);
	CU_ADD_TEST(tgt, test_read_write);
	CU_ADD_TEST(tgt, test_unsolicited_data);
	CU_ADD_TEST(tgt, test_bad_data_out);
	CU_ADD_TEST(tgt, test_oversized_and_unknown);
	CU_ADD_TEST(tgt, test_nop_cmdsn_tmf);
	CU_ADD_TEST(tgt, test_discovery_and_logout);
	CU_ADD_TEST(tgt, test_reinstatement_and_mcs);
	CU_ADD_TEST(tgt, test_digests);
	CU_ADD_TEST(tgt, test_nopin_ping);
	return ut_run_suites();
}

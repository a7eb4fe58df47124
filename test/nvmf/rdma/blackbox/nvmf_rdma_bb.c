/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvmf_rdma_bb: a black-box conformance and hostile-input client for an
 * NVMe over Fabrics target on RDMA, written from the specifications only
 * (NVMe over Fabrics 1.1 with its RDMA transport binding, NVMe base 2.0,
 * the libibverbs/librdmacm man pages), not from any target's code. It talks
 * to the target directly through librdmacm and libibverbs: the RDMA CM
 * private data, the command and response capsules, the SGL descriptors and
 * the RDMA operations are built here byte by byte, so that each can be
 * broken on purpose.
 *
 * Each case prints one line:  CASE <name>: PASS|FAIL|XFAIL|SKIP - <reason>
 * After every hostile case a fresh good client must connect and move data
 * (liveness): a target that hangs or dies fails the case.
 *
 *   nvmf_rdma_bb -a ADDR [-s PORT] -n SUBNQN [-c CASE,...] [-x CASE=REASON]...
 *                [-k CASE=REASON]... [-t COMMAND_TIMEOUT_MS] [-I ORD] [-l] [-v]
 * -I sets the initiator depth (RDMA READs we would issue) of our connect
 * requests: 0 by default, what hosts send (they issue no RDMA READs).
 * -k does not run a case against this target (it would take the target's
 * machine down, so no later case could run): SKIP with the reason.
 * -x marks a case as an expected failure of this target (with the reason):
 * it then prints XFAIL instead of FAIL, and a pass prints FAIL (XPASS), so
 * the list is kept true. Exit 0 when no case failed.
 *
 * Wire formats used (the sections of the NVMe-oF 1.1 RDMA binding):
 *  - RDMA_CM_REQUEST private data, 32 bytes: RECFMT(2) QID(2) HRQSIZE(2)
 *    HSQSIZE(2) CNTLID(2) reserved(22); RDMA_CM_ACCEPT: RECFMT(2) CRQSIZE(2)
 *    reserved(28); RDMA_CM_REJECT: RECFMT(2) STS(2) reserved(28) with STS
 *    01h invalid private data length, 02h invalid RECFMT, 03h invalid QID,
 *    04h invalid HSQSIZE, 05h invalid HRQSIZE, 06h no resources, 07h
 *    invalid IRD, 08h invalid ORD, 09h invalid CNTLID.
 *  - command capsule = 64-byte SQE (+ in-capsule data) in one RDMA SEND;
 *    response capsule = the 16-byte CQE in one RDMA SEND.
 *  - data: in-capsule (SGL Data Block, subtype Offset) or Keyed SGL Data
 *    Block (type 4h, subtype 0h Address / Fh Invalidate): the target RDMA
 *    READs host-to-controller data and RDMA WRITEs controller-to-host data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* Reasons are nested into each other's messages: a cut-off one is fine. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- wire constants -------------------------------------------------------- */
#define SQE_SIZE	64
#define CQE_SIZE	16
#define PD_LEN		32	/* RDMA CM private data of the binding */

#define OPC_FABRICS	0x7f
#define FCTYPE_PROP_SET	0x00
#define FCTYPE_CONNECT	0x01
#define FCTYPE_PROP_GET	0x04
#define OPC_ADM_IDENTIFY 0x06
#define OPC_ADM_SET_FEAT 0x09
#define OPC_ADM_GET_FEAT 0x0a
#define OPC_WRITE	0x01
#define OPC_READ	0x02
#define FID_NUM_QUEUES	0x07
#define PSDT_SGL	0x40	/* CDW0 bits 15:14 = 01b: SGLs for data */

#define SGL_DATA_BLOCK	0x0
#define SGL_KEYED	0x4
#define SGL_SUB_ADDRESS	0x0
#define SGL_SUB_OFFSET	0x1
#define SGL_SUB_INVALIDATE 0xf

#define PROP_CAP	0x00
#define PROP_VS		0x08
#define PROP_CC		0x14
#define PROP_CSTS	0x1c

/* Generic command status values (NVMe base 2.0, "Generic Command Status"). */
static const char *status_name(uint16_t sct, uint16_t sc)
{
	if (sct == 0) {
		switch (sc) {
		case 0x00: return "Successful Completion";
		case 0x01: return "Invalid Command Opcode";
		case 0x02: return "Invalid Field in Command";
		case 0x03: return "Command ID Conflict";
		case 0x04: return "Data Transfer Error";
		case 0x06: return "Internal Error";
		case 0x07: return "Command Abort Requested";
		case 0x08: return "Command Aborted due to SQ Deletion";
		case 0x0b: return "Invalid Namespace or Format";
		case 0x0c: return "Command Sequence Error";
		case 0x0d: return "Invalid SGL Segment Descriptor";
		case 0x0e: return "Invalid Number of SGL Descriptors";
		case 0x0f: return "Data SGL Length Invalid";
		case 0x11: return "SGL Descriptor Type Invalid";
		case 0x16: return "SGL Offset Invalid";
		case 0x80: return "LBA Out of Range";
		}
	} else if (sct == 1) {
		switch (sc) {
		case 0x01: return "Invalid Queue Identifier";
		case 0x02: return "Invalid Queue Size";
		case 0x80: return "Connect Incompatible Format";
		case 0x81: return "Connect Controller Busy";
		case 0x82: return "Connect Invalid Parameters";
		case 0x83: return "Connect Restart Discovery";
		case 0x84: return "Connect Invalid Host";
		}
	}
	return "?";
}

static const char *rej_sts_name(unsigned sts)
{
	static const char *n[] = { "?", "Invalid Private Data Length", "Invalid RECFMT",
		"Invalid QID", "Invalid HSQSIZE", "Invalid HRQSIZE", "No Resources",
		"Invalid IRD", "Invalid ORD", "Invalid CNTLID" };
	return sts < sizeof(n) / sizeof(n[0]) ? n[sts] : "?";
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* SGL descriptors (NVMe base 2.0 "SGL Descriptor", NVMe-oF Keyed SGL Data Block). */
static void sgl_keyed(uint8_t *d, uint64_t addr, uint32_t len, uint32_t key, uint8_t subtype)
{
	put64(d, addr);
	d[8] = len; d[9] = len >> 8; d[10] = len >> 16;
	put32(d + 11, key);
	d[15] = SGL_KEYED << 4 | subtype;
}

static void sgl_icd(uint8_t *d, uint64_t offset, uint32_t len)
{
	memset(d, 0, 16);
	put64(d, offset);
	put32(d + 8, len);
	d[15] = SGL_DATA_BLOCK << 4 | SGL_SUB_OFFSET;
}

/* ---- configuration and results ---------------------------------------------- */
static struct {
	const char *addr, *port, *subnqn;
	char hostnqn[96];
	int timeout_ms;
	int verbose;
	int initiator_depth;
} g = { .port = "4420", .timeout_ms = 10000 };

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!g.verbose)
		return;
	va_start(ap, fmt);
	fputs("  . ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a good client learned about the target (first good connect). */
static struct {
	uint64_t cap;
	uint32_t vs;
	uint32_t ioccsz;	/* bytes: the whole I/O command capsule */
	uint32_t iorcsz;
	uint8_t icdoff, msdbd, mdts;
	uint32_t sgls;
	uint16_t maxcmd;
	uint32_t lba_size;
	uint64_t nsze;
	uint32_t max_xfer;	/* bytes, from MDTS (CAP.MPSMIN), capped */
	uint16_t nsqa;		/* I/O queues allocated (1's based) */
	bool known;
} tgt;

/* ---- one queue pair -------------------------------------------------------- */
#define NSLOTS		64
#define NRECV		128
#define RECV_SIZE	64	/* room for a too-long response: checked == 16 */
#define DATA_SIZE	(2u << 20)
#define MAX_PENDING	512

struct conn {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	bool qp_made;
	uint8_t *buf;
	size_t buflen, slot_size;
	uint8_t *slots, *rsps, *data;
	uint16_t qid, cid;
	uint16_t cntlid;
	uint16_t crqsize;
	/* completions received and not yet claimed */
	uint8_t pending[MAX_PENDING][CQE_SIZE];
	int npending;
	int sends_out;
	bool broken;		/* an error completion, a disconnect */
	char why[200];
	int bad_rsp_len;	/* a response capsule that is not 16 bytes */
	int with_inv;		/* responses that came as Send with Invalidate */
	uint32_t inv_rkey;
	unsigned inv_flags;
};

/* Parameters of one connection attempt. */
struct conn_opts {
	uint16_t qid;
	uint16_t sqsize;	/* 0's based, Connect SQSIZE */
	/* private data: when raw is set it is sent as given (hostile cases) */
	const uint8_t *raw_pd;
	int raw_pd_len;
	uint16_t recfmt, hrqsize, hsqsize, pd_cntlid;
	bool pd_set;		/* use recfmt/hrqsize/hsqsize above */
};

/* The result of a connection attempt at the RDMA CM level. */
struct cm_result {
	enum { CM_ESTABLISHED, CM_REJECTED, CM_ERROR } kind;
	int status;		/* event status (IB CM reject reason) */
	bool rej_pd;		/* the reject carried the binding's private data */
	uint16_t rej_recfmt, rej_sts;
	char what[160];
};

static int cm_wait(struct conn *c, int timeout_ms, struct rdma_cm_event **ev)
{
	struct pollfd pfd = { .fd = c->ec->fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	if (rdma_get_cm_event(c->ec, ev))
		return -errno;
	return 0;
}

static void set_broken(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_broken(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->broken)
		return;
	c->broken = true;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	vlog("qid %u broken: %s", c->qid, c->why);
}

static int post_recv(struct conn *c, int i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(c->rsps + (size_t)i * RECV_SIZE),
		.length = RECV_SIZE,
		.lkey = c->mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(c->id->qp, &wr, &bad);
}

static void conn_close(struct conn *c, bool disconnect)
{
	struct rdma_cm_event *ev;

	if (c->id && disconnect && c->qp_made) {
		rdma_disconnect(c->id);
		/* the DISCONNECTED event, briefly */
		if (cm_wait(c, 500, &ev) == 0)
			rdma_ack_cm_event(ev);
	}
	if (c->id && c->qp_made)
		rdma_destroy_qp(c->id);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ec)
		rdma_destroy_event_channel(c->ec);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

/* Resolve, create the QP and buffers, connect with the given private data. */
static int conn_open(struct conn *c, const struct conn_opts *o, size_t icd_room, struct cm_result *r)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct rdma_cm_event *ev;
	struct ibv_qp_init_attr qa;
	struct ibv_device_attr da;
	struct rdma_conn_param cp;
	uint8_t pd[PD_LEN];
	int rc, i, ev_type;

	memset(c, 0, sizeof(*c));
	memset(r, 0, sizeof(*r));
	r->kind = CM_ERROR;
	c->qid = o->qid;
	c->ec = rdma_create_event_channel();
	if (!c->ec) {
		snprintf(r->what, sizeof(r->what), "rdma_create_event_channel: %s", strerror(errno));
		return -1;
	}
	fcntl(c->ec->fd, F_SETFL, fcntl(c->ec->fd, F_GETFL) | O_NONBLOCK);
	if (rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP)) {
		snprintf(r->what, sizeof(r->what), "rdma_create_id: %s", strerror(errno));
		return -1;
	}
	if (getaddrinfo(g.addr, g.port, &hints, &ai) || !ai) {
		snprintf(r->what, sizeof(r->what), "cannot resolve %s:%s", g.addr, g.port);
		return -1;
	}
	rc = rdma_resolve_addr(c->id, NULL, ai->ai_addr, 2000);
	freeaddrinfo(ai);
	if (rc) {
		snprintf(r->what, sizeof(r->what), "rdma_resolve_addr: %s", strerror(errno));
		return -1;
	}
	for (int step = 0; step < 2; step++) {
		int want = step ? RDMA_CM_EVENT_ROUTE_RESOLVED : RDMA_CM_EVENT_ADDR_RESOLVED;

		if (cm_wait(c, 5000, &ev)) {
			snprintf(r->what, sizeof(r->what), "no %s event", rdma_event_str(want));
			return -1;
		}
		ev_type = ev->event;
		rc = ev->status;
		rdma_ack_cm_event(ev);
		if (ev_type != want) {
			snprintf(r->what, sizeof(r->what), "%s (status %d) instead of %s",
				 rdma_event_str(ev_type), rc, rdma_event_str(want));
			return -1;
		}
		if (!step && rdma_resolve_route(c->id, 2000)) {
			snprintf(r->what, sizeof(r->what), "rdma_resolve_route: %s", strerror(errno));
			return -1;
		}
	}
	c->pd = ibv_alloc_pd(c->id->verbs);
	c->cq = c->pd ? ibv_create_cq(c->id->verbs, 2 * NRECV + 4 * NSLOTS, NULL, NULL, 0) : NULL;
	c->slot_size = (SQE_SIZE + icd_room + 63) & ~(size_t)63;
	c->buflen = NSLOTS * c->slot_size + NRECV * RECV_SIZE + DATA_SIZE;
	c->buf = aligned_alloc(4096, (c->buflen + 4095) & ~(size_t)4095);
	if (!c->cq || !c->buf) {
		snprintf(r->what, sizeof(r->what), "pd/cq/buffer allocation failed");
		return -1;
	}
	memset(c->buf, 0, c->buflen);
	c->slots = c->buf;
	c->rsps = c->slots + NSLOTS * c->slot_size;
	c->data = c->rsps + NRECV * RECV_SIZE;
	c->mr = ibv_reg_mr(c->pd, c->buf, c->buflen,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	if (!c->mr) {
		snprintf(r->what, sizeof(r->what), "ibv_reg_mr(%zu): %s", c->buflen, strerror(errno));
		return -1;
	}
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 2 * NSLOTS;
	qa.cap.max_recv_wr = NRECV;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->pd, &qa)) {
		snprintf(r->what, sizeof(r->what), "rdma_create_qp: %s", strerror(errno));
		return -1;
	}
	c->qp_made = true;
	for (i = 0; i < NRECV; i++) {
		if (post_recv(c, i)) {
			snprintf(r->what, sizeof(r->what), "ibv_post_recv failed");
			return -1;
		}
	}
	memset(pd, 0, sizeof(pd));
	put16(pd, o->recfmt);
	put16(pd + 2, o->qid);
	put16(pd + 4, o->pd_set ? o->hrqsize : o->sqsize + 1);
	put16(pd + 6, o->pd_set ? o->hsqsize : o->sqsize);
	put16(pd + 8, o->pd_cntlid);
	memset(&cp, 0, sizeof(cp));
	if (o->raw_pd_len < 0) {	/* no private data at all */
		cp.private_data = NULL;
		cp.private_data_len = 0;
	} else if (o->raw_pd) {		/* as given */
		cp.private_data = o->raw_pd;
		cp.private_data_len = (uint8_t)o->raw_pd_len;
	} else {
		cp.private_data = pd;
		cp.private_data_len = PD_LEN;
	}
	/* The target RDMA READs from us: allow it as many reads as the device does. */
	cp.responder_resources = 16;
	if (ibv_query_device(c->id->verbs, &da) == 0 && da.max_qp_rd_atom < 16)
		cp.responder_resources = da.max_qp_rd_atom;
	/* A host issues no RDMA READs: initiator depth (our ORD) 0, as hosts send. */
	cp.initiator_depth = (uint8_t)g.initiator_depth;
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	if (rdma_connect(c->id, &cp)) {
		snprintf(r->what, sizeof(r->what), "rdma_connect: %s", strerror(errno));
		return -1;
	}
	if (cm_wait(c, g.timeout_ms, &ev)) {
		snprintf(r->what, sizeof(r->what), "no answer to the RDMA CM connect request within %d ms", g.timeout_ms);
		return -1;
	}
	r->status = ev->status;
	switch (ev->event) {
	case RDMA_CM_EVENT_ESTABLISHED:
		r->kind = CM_ESTABLISHED;
		if (ev->param.conn.private_data && ev->param.conn.private_data_len >= 4) {
			const uint8_t *a = ev->param.conn.private_data;

			c->crqsize = get16(a + 2);
			snprintf(r->what, sizeof(r->what), "accepted (RECFMT %u, CRQSIZE %u)", get16(a), c->crqsize);
		} else {
			snprintf(r->what, sizeof(r->what), "accepted without the binding's private data (%u bytes)",
				 ev->param.conn.private_data_len);
		}
		break;
	case RDMA_CM_EVENT_REJECTED:
		r->kind = CM_REJECTED;
		if (ev->param.conn.private_data && ev->param.conn.private_data_len >= 4) {
			r->rej_pd = true;
			r->rej_recfmt = get16(ev->param.conn.private_data);
			r->rej_sts = get16((const uint8_t *)ev->param.conn.private_data + 2);
			snprintf(r->what, sizeof(r->what), "rejected (reason %d), STS %02xh %s", r->status,
				 r->rej_sts, rej_sts_name(r->rej_sts));
		} else {
			snprintf(r->what, sizeof(r->what), "rejected (reason %d) without the binding's private data",
				 r->status);
		}
		break;
	default:
		snprintf(r->what, sizeof(r->what), "%s (status %d)", rdma_event_str(ev->event), ev->status);
		break;
	}
	rdma_ack_cm_event(ev);
	vlog("qid %u: %s", o->qid, r->what);
	return r->kind == CM_ESTABLISHED ? 0 : -1;
}

/* Process completions and CM events for up to wait_ms. */
static void pump(struct conn *c, int wait_ms)
{
	struct ibv_wc wc[32];
	struct rdma_cm_event *ev;
	uint64_t end = now_ms() + wait_ms;
	int n, i;

	do {
		n = ibv_poll_cq(c->cq, 32, wc);
		for (i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				set_broken(c, "%s completion: %s", wc[i].opcode & IBV_WC_RECV ? "receive" :
					   "send", ibv_wc_status_str(wc[i].status));
				if (!(wc[i].opcode & IBV_WC_RECV) && c->sends_out)
					c->sends_out--;
				continue;
			}
			if (wc[i].opcode == IBV_WC_SEND) {
				c->sends_out--;
				continue;
			}
			if (wc[i].opcode == IBV_WC_RECV) {
				int k = (int)wc[i].wr_id;

				if (wc[i].byte_len != CQE_SIZE)
					c->bad_rsp_len = wc[i].byte_len;
				/* rxe (Linux 6.1) writes the kernel's IB_WC_WITH_INVALIDATE
				 * (bit 2) into user CQEs, where bit 2 reads as
				 * IBV_WC_IP_CSUM_OK: take either, with the rkey */
				if (wc[i].wc_flags & (IBV_WC_WITH_INV | IBV_WC_IP_CSUM_OK)) {
					c->with_inv++;
					c->inv_rkey = wc[i].invalidated_rkey;
					c->inv_flags = wc[i].wc_flags;
				}
				if (c->npending < MAX_PENDING)
					memcpy(c->pending[c->npending++], c->rsps + (size_t)k * RECV_SIZE, CQE_SIZE);
				post_recv(c, k);
			}
		}
		if (n > 0)
			continue;
		while (!c->broken && rdma_get_cm_event(c->ec, &ev) == 0) {
			if (ev->event == RDMA_CM_EVENT_DISCONNECTED || ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL ||
			    ev->event == RDMA_CM_EVENT_TIMEWAIT_EXIT)
				set_broken(c, "RDMA CM %s from the target", rdma_event_str(ev->event));
			rdma_ack_cm_event(ev);
		}
		if (now_ms() >= end)
			break;
		usleep(200);
	} while (1);
}

static uint8_t *slot(struct conn *c, uint16_t cid)
{
	return c->slots + (size_t)(cid % NSLOTS) * c->slot_size;
}

/* Send len bytes of the capsule in cid's slot. */
static int send_capsule(struct conn *c, uint16_t cid, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)slot(c, cid), .length = len, .lkey = c->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = cid, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;

	if (c->broken)
		return -EPIPE;
	if (ibv_post_send(c->id->qp, &wr, &bad)) {
		set_broken(c, "ibv_post_send: %s", strerror(errno));
		return -EPIPE;
	}
	c->sends_out++;
	return 0;
}

/* A new SQE in a free slot: returns its CID. */
static uint8_t *new_cmd(struct conn *c, uint8_t opc, uint16_t *cid)
{
	uint8_t *s;

	*cid = c->cid++;
	s = slot(c, *cid);
	memset(s, 0, SQE_SIZE);
	s[0] = opc;
	/* SGLs for every command over Fabrics, Fabrics commands too: PSDT 01b
	 * (NVMe base 1.3+, CDW0 PSDT; the psdt_prp case sends 00b). */
	s[1] = PSDT_SGL;
	put16(s + 2, *cid);
	/* No data: a keyed SGL of length 0 (what hosts send; an all-zero SGL1
	 * is its own case, nodata_sgl_zero). */
	sgl_keyed(s + 24, 0, 0, 0, SGL_SUB_ADDRESS);
	return s;
}

/* Wait for the CQE of cid: 0, -ETIMEDOUT, or -EPIPE (the connection broke). */
static int wait_cqe(struct conn *c, uint16_t cid, int timeout_ms, uint8_t *cqe)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		for (int i = 0; i < c->npending; i++) {
			if (get16(c->pending[i] + 12) == cid) {
				memcpy(cqe, c->pending[i], CQE_SIZE);
				memmove(c->pending[i], c->pending[i + 1], (size_t)(c->npending - i - 1) * CQE_SIZE);
				c->npending--;
				return 0;
			}
		}
		if (c->broken)
			return -EPIPE;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		pump(c, 5);
	}
}

static uint16_t cqe_status(const uint8_t *cqe) { return get16(cqe + 14) >> 1; }
static uint16_t st_sc(uint16_t st) { return st & 0xff; }
static uint16_t st_sct(uint16_t st) { return (st >> 8) & 7; }

static void fmt_status(char *b, size_t n, uint16_t st)
{
	snprintf(b, n, "SCT %xh SC %02xh (%s)", st_sct(st), st_sc(st), status_name(st_sct(st), st_sc(st)));
}

/* Submit and wait: 0 with the CQE, else -ETIMEDOUT / -EPIPE. */
static int exec(struct conn *c, uint16_t cid, uint32_t len, uint8_t *cqe)
{
	int rc = send_capsule(c, cid, len);

	return rc ? rc : wait_cqe(c, cid, g.timeout_ms, cqe);
}

/* ---- the Fabrics and admin commands ----------------------------------------- */
static uint8_t g_hostid[16];

/* Fabrics Connect on c (its data through a keyed SGL: the target RDMA READs it). */
static int fabrics_connect(struct conn *c, uint16_t qid, uint16_t sqsize, uint16_t cntlid,
			   uint8_t *cqe, char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t *s = new_cmd(c, OPC_FABRICS, &cid);
	uint8_t *d = c->data;
	int rc;

	s[4] = FCTYPE_CONNECT;
	put16(s + 40, 0);	/* RECFMT */
	put16(s + 42, qid);
	put16(s + 44, sqsize);
	s[46] = 0;		/* CATTR */
	put32(s + 48, 0);	/* KATO: no keep alive */
	memset(d, 0, 1024);
	memcpy(d, g_hostid, 16);
	put16(d + 16, cntlid);
	snprintf((char *)d + 256, 256, "%s", g.subnqn);
	snprintf((char *)d + 512, 256, "%s", g.hostnqn);
	sgl_keyed(s + 24, (uintptr_t)d, 1024, c->mr->rkey, SGL_SUB_ADDRESS);
	rc = exec(c, cid, SQE_SIZE, cqe);
	if (rc) {
		snprintf(err, errlen, "Connect qid %u: %s", qid, rc == -EPIPE ? c->why : "no response");
		return -1;
	}
	if (cqe_status(cqe)) {
		char st[96];

		fmt_status(st, sizeof(st), cqe_status(cqe));
		snprintf(err, errlen, "Connect qid %u failed: %s (IATTR/IPO dword0 %08x)", qid, st, get32(cqe));
		return -1;
	}
	c->cntlid = get16(cqe);
	return 0;
}

static int prop_get(struct conn *c, uint32_t off, int size8, uint64_t *val, char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t *s = new_cmd(c, OPC_FABRICS, &cid), cqe[16];
	int rc;

	s[4] = FCTYPE_PROP_GET;
	s[40] = size8 ? 1 : 0;
	put32(s + 44, off);
	rc = exec(c, cid, SQE_SIZE, cqe);
	if (rc || cqe_status(cqe)) {
		snprintf(err, errlen, "Property Get %#x: %s", off, rc ? (rc == -EPIPE ? c->why : "no response") :
			 status_name(st_sct(cqe_status(cqe)), st_sc(cqe_status(cqe))));
		return -1;
	}
	*val = size8 ? get64(cqe) : get32(cqe);
	return 0;
}

static int prop_set(struct conn *c, uint32_t off, uint32_t val, char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t *s = new_cmd(c, OPC_FABRICS, &cid), cqe[16];
	int rc;

	s[4] = FCTYPE_PROP_SET;
	s[40] = 0;
	put32(s + 44, off);
	put64(s + 48, val);
	rc = exec(c, cid, SQE_SIZE, cqe);
	if (rc || cqe_status(cqe)) {
		snprintf(err, errlen, "Property Set %#x: %s", off, rc ? (rc == -EPIPE ? c->why : "no response") :
			 status_name(st_sct(cqe_status(cqe)), st_sc(cqe_status(cqe))));
		return -1;
	}
	return 0;
}

/* Identify into c->data + off (4 KiB) through a keyed SGL: the target RDMA WRITEs. */
static int identify(struct conn *c, uint32_t nsid, uint8_t cns, size_t off, char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t *s = new_cmd(c, OPC_ADM_IDENTIFY, &cid), cqe[16];
	int rc;

	put32(s + 4, nsid);
	put32(s + 40, cns);
	memset(c->data + off, 0xa5, 4096);
	sgl_keyed(s + 24, (uintptr_t)(c->data + off), 4096, c->mr->rkey, SGL_SUB_ADDRESS);
	rc = exec(c, cid, SQE_SIZE, cqe);
	if (rc || cqe_status(cqe)) {
		snprintf(err, errlen, "Identify CNS %u: %s", cns, rc ? (rc == -EPIPE ? c->why : "no response") :
			 status_name(st_sct(cqe_status(cqe)), st_sc(cqe_status(cqe))));
		return -1;
	}
	return 0;
}

static int set_num_queues(struct conn *c, uint16_t want, uint16_t *got, char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t *s = new_cmd(c, OPC_ADM_SET_FEAT, &cid), cqe[16];
	int rc;

	put32(s + 40, FID_NUM_QUEUES);
	put32(s + 44, (uint32_t)(want - 1) << 16 | (want - 1));
	rc = exec(c, cid, SQE_SIZE, cqe);
	if (rc || cqe_status(cqe)) {
		snprintf(err, errlen, "Set Features Number of Queues: %s", rc ? (rc == -EPIPE ? c->why : "no response") :
			 status_name(st_sct(cqe_status(cqe)), st_sc(cqe_status(cqe))));
		return -1;
	}
	*got = (get32(cqe) & 0xffff) + 1;
	return 0;
}

/* A controller: the admin queue connected, enabled, identified. */
struct ctrl {
	struct conn adm;
	struct conn io;
	bool io_up;
};

static void ctrl_close(struct ctrl *k)
{
	if (k->io_up)
		conn_close(&k->io, true);
	if (k->adm.id)
		conn_close(&k->adm, true);
	k->io_up = false;
}

static size_t io_icd_room(void)
{
	size_t room = tgt.ioccsz > SQE_SIZE ? tgt.ioccsz - SQE_SIZE : 0;

	return room + 8192;	/* so that an oversized capsule fits our slot */
}

static int ctrl_admin_up(struct ctrl *k, char *err, size_t errlen, bool learn)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31 };
	struct cm_result r;
	uint8_t cqe[16];
	uint64_t cap, vs, csts = 0, ms;
	uint8_t *id;

	memset(k, 0, sizeof(*k));
	if (conn_open(&k->adm, &o, 8192, &r)) {
		snprintf(err, errlen, "admin queue: %s", r.what);
		return -1;
	}
	if (fabrics_connect(&k->adm, 0, 31, 0xffff, cqe, err, errlen))
		return -1;
	if (prop_get(&k->adm, PROP_CAP, 1, &cap, err, errlen) || prop_get(&k->adm, PROP_VS, 0, &vs, err, errlen))
		return -1;
	/* CC: IOSQES 6 (64 B), IOCQES 4 (16 B), EN. */
	if (prop_set(&k->adm, PROP_CC, 6u << 16 | 4u << 20 | 1, err, errlen))
		return -1;
	ms = ((cap >> 24) & 0xff) * 500 + 1000;
	for (uint64_t end = now_ms() + ms; now_ms() < end;) {
		if (prop_get(&k->adm, PROP_CSTS, 0, &csts, err, errlen))
			return -1;
		if (csts & 1)
			break;
		usleep(20000);
	}
	if (!(csts & 1)) {
		snprintf(err, errlen, "CSTS.RDY not set %" PRIu64 " ms after CC.EN (CSTS %#" PRIx64 ")", ms, csts);
		return -1;
	}
	if (identify(&k->adm, 0, 1, 0, err, errlen))
		return -1;
	if (learn) {
		id = k->adm.data;
		tgt.cap = cap;
		tgt.vs = (uint32_t)vs;
		tgt.mdts = id[77];
		tgt.maxcmd = get16(id + 514);
		tgt.sgls = get32(id + 536);
		tgt.ioccsz = get32(id + 1792) * 16;
		tgt.iorcsz = get32(id + 1796) * 16;
		/* NVMe-oF Identify Controller: ICDOFF 1801:1800, FCATT 1802, MSDBD 1803 */
		tgt.icdoff = (uint8_t)get16(id + 1800);
		tgt.msdbd = id[1803];
		if (identify(&k->adm, 1, 0, 4096, err, errlen))
			return -1;
		id = k->adm.data + 4096;
		tgt.nsze = get64(id);
		tgt.lba_size = 1u << id[128 + 4 * (id[26] & 0xf) + 2];
		tgt.max_xfer = 1u << 20;
		if (tgt.mdts) {
			uint64_t m = (1ull << tgt.mdts) << (12 + ((cap >> 48) & 0xf));

			if (m < tgt.max_xfer)
				tgt.max_xfer = (uint32_t)m;
		}
		if (set_num_queues(&k->adm, 4, &tgt.nsqa, err, errlen))
			return -1;
		tgt.known = true;
	} else if (set_num_queues(&k->adm, 4, &(uint16_t){0}, err, errlen)) {
		return -1;
	}
	return 0;
}

static int ctrl_io_up(struct ctrl *k, uint16_t sqsize, char *err, size_t errlen)
{
	struct conn_opts o = { .qid = 1, .sqsize = sqsize };
	struct cm_result r;
	uint8_t cqe[16];

	if (conn_open(&k->io, &o, io_icd_room(), &r)) {
		snprintf(err, errlen, "I/O queue: %s", r.what);
		conn_close(&k->io, false);
		return -1;
	}
	k->io_up = true;
	return fabrics_connect(&k->io, 1, sqsize, k->adm.cntlid, cqe, err, errlen);
}

static int ctrl_up(struct ctrl *k, char *err, size_t errlen)
{
	if (ctrl_admin_up(k, err, errlen, false) || ctrl_io_up(k, 31, err, errlen)) {
		ctrl_close(k);
		return -1;
	}
	return 0;
}

/* Read or write nlb blocks at slba; data at c->data + off; icd: write in-capsule. */
static uint8_t *rw_cmd(struct conn *c, uint8_t opc, uint64_t slba, uint32_t len, size_t off, bool icd,
		       uint16_t *cid)
{
	uint8_t *s = new_cmd(c, opc, cid);

	put32(s + 4, 1);
	put64(s + 40, slba);
	put32(s + 48, len / tgt.lba_size - 1);
	if (icd) {
		sgl_icd(s + 24, 0, len);
		memcpy(s + SQE_SIZE, c->data + off, len);
	} else {
		sgl_keyed(s + 24, (uintptr_t)(c->data + off), len, c->mr->rkey, SGL_SUB_ADDRESS);
	}
	return s;
}

static int do_rw(struct conn *c, uint8_t opc, uint64_t slba, uint32_t len, size_t off, bool icd,
		 char *err, size_t errlen)
{
	uint16_t cid;
	uint8_t cqe[16];
	int rc;

	rw_cmd(c, opc, slba, len, off, icd, &cid);
	rc = exec(c, cid, SQE_SIZE + (icd ? len : 0), cqe);
	if (rc || cqe_status(cqe)) {
		char st[96] = "";

		if (!rc)
			fmt_status(st, sizeof(st), cqe_status(cqe));
		snprintf(err, errlen, "%s of %u bytes at LBA %" PRIu64 " (%s): %s", opc == OPC_WRITE ? "Write" : "Read",
			 len, slba, icd ? "in-capsule" : "keyed SGL", rc ? (rc == -EPIPE ? c->why : "no response") : st);
		return -1;
	}
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i += 4) {
		seed = seed * 1103515245u + 12345u;
		memcpy(p + i, &seed, n - i < 4 ? n - i : 4);
	}
}

static uint32_t g_seed = 1;
static uint64_t g_lba_next;

/* Write (icd or keyed) then read back keyed, compare. */
static int write_read_check(struct conn *c, uint32_t len, bool icd, char *err, size_t errlen)
{
	uint64_t blocks = len / tgt.lba_size, slba;

	if (g_lba_next + blocks > tgt.nsze)
		g_lba_next = 0;
	slba = g_lba_next;
	g_lba_next += blocks;
	fill(c->data, len, g_seed++);
	memset(c->data + len, 0x5a, len);
	if (do_rw(c, OPC_WRITE, slba, len, 0, icd, err, errlen) ||
	    do_rw(c, OPC_READ, slba, len, len, false, err, errlen))
		return -1;
	if (memcmp(c->data, c->data + len, len)) {
		size_t i = 0;

		while (c->data[i] == c->data[len + i])
			i++;
		snprintf(err, errlen, "read back of %u bytes at LBA %" PRIu64 " differs at byte %zu", len, slba, i);
		return -1;
	}
	return 0;
}

/* A fresh good client: controller, I/O queue, 4 KiB write and read back. */
static int liveness(char *err, size_t errlen)
{
	struct ctrl k;
	char e[300];
	int rc;

	if (ctrl_up(&k, e, sizeof(e))) {
		snprintf(err, errlen, "liveness: a fresh good client failed: %s", e);
		return -1;
	}
	rc = write_read_check(&k.io, 4096 < tgt.max_xfer ? 4096 : tgt.lba_size, false, e, sizeof(e));
	ctrl_close(&k);
	if (rc)
		snprintf(err, errlen, "liveness: %s", e);
	return rc;
}

/* ---- cases ----------------------------------------------------------------- */
enum verdict { V_PASS, V_FAIL, V_SKIP };

struct result {
	enum verdict v;
	char why[600];
};

#define PASS(...) do { r->v = V_PASS; snprintf(r->why, sizeof(r->why), __VA_ARGS__); } while (0)
#define FAILR(...) do { r->v = V_FAIL; snprintf(r->why, sizeof(r->why), __VA_ARGS__); } while (0)
/* A failed liveness check after a case that passed: the case fails. */
static void fail_after(struct result *r, const char *e)
{
	char prev[sizeof(r->why)];

	memcpy(prev, r->why, sizeof(prev));
	r->v = V_FAIL;
	snprintf(r->why, sizeof(r->why), "%.300s; then %s", prev, e);
}

#define SKIPR(...) do { r->v = V_SKIP; snprintf(r->why, sizeof(r->why), __VA_ARGS__); } while (0)

static void then_liveness(struct result *r)
{
	char e[300];

	if (r->v == V_PASS && liveness(e, sizeof(e)))
		fail_after(r, e);
}

static void case_connect_admin(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31 };
	struct cm_result cr;
	struct conn c;
	uint8_t cqe[16];
	char e[300];

	if (conn_open(&c, &o, 8192, &cr)) {
		FAILR("admin queue (QID 0, HRQSIZE 32, HSQSIZE 31): %s", cr.what);
		conn_close(&c, false);
		return;
	}
	if (c.crqsize < 32)
		FAILR("accepted with CRQSIZE %u < the 32 commands HSQSIZE 31 announces", c.crqsize);
	else if (fabrics_connect(&c, 0, 31, 0xffff, cqe, e, sizeof(e)))
		FAILR("%s", e);
	else if (c.bad_rsp_len)
		FAILR("a response capsule of %d bytes (16 expected)", c.bad_rsp_len);
	else
		PASS("%s; Connect: CNTLID %u, SQHD %u", cr.what, c.cntlid, get16(cqe + 8));
	conn_close(&c, true);
}

static void case_property_identify(struct result *r)
{
	struct ctrl k;
	char e[300];
	const uint8_t *id;
	char sn[21] = "", nqn[257] = "";

	if (ctrl_admin_up(&k, e, sizeof(e), true)) {
		FAILR("%s", e);
		ctrl_close(&k);
		return;
	}
	id = k.adm.data;
	memcpy(sn, id + 4, 20);
	memcpy(nqn, id + 768, 256);
	if (!((tgt.vs >> 16) >= 1 && (tgt.vs >> 16) < 3))
		FAILR("VS %#x is not NVMe 1.x/2.x", tgt.vs);
	else if ((tgt.cap & 0xffff) == 0)
		FAILR("CAP.MQES 0");
	else if (strcmp(nqn, g.subnqn))
		FAILR("Identify (RDMA WRITE into our keyed buffer): SUBNQN '%s', expected '%s'", nqn, g.subnqn);
	else if (tgt.ioccsz < SQE_SIZE)
		FAILR("IOCCSZ %u bytes < 64", tgt.ioccsz);
	else if (tgt.iorcsz != CQE_SIZE)
		FAILR("IORCSZ %u bytes (RDMA response capsules carry no data: 16)", tgt.iorcsz);
	else if (!(tgt.sgls & 0x4))
		FAILR("SGLS %#x: no Keyed SGL Data Block support", tgt.sgls);
	else if (k.adm.bad_rsp_len)
		FAILR("a response capsule of %d bytes (16 expected)", k.adm.bad_rsp_len);
	else
		PASS("CAP %#" PRIx64 " (MQES %u) VS %u.%u; Identify via keyed SGL: SN '%.20s' SUBNQN ok, "
		     "IOCCSZ %u B, IORCSZ %u B, ICDOFF %u, MSDBD %u, SGLS %#x, MDTS %u, MAXCMD %u; ns 1: %" PRIu64
		     " x %u B; %u I/O queues",
		     tgt.cap, (unsigned)(tgt.cap & 0xffff) + 1, tgt.vs >> 16, (tgt.vs >> 8) & 0xff, sn,
		     tgt.ioccsz, tgt.iorcsz, tgt.icdoff, tgt.msdbd, tgt.sgls, tgt.mdts, tgt.maxcmd,
		     tgt.nsze, tgt.lba_size, tgt.nsqa);
	ctrl_close(&k);
}

/* Property Get with SGL1 all zero: bytes 05-39 of Property Get are reserved
 * (NVMe-oF 1.1 Property Get), and a zero SGL1 reads as a Data Block of
 * length 0 (no data) anyway: it must succeed. */
static void case_nodata_sgl_zero(struct result *r)
{
	struct ctrl k;
	char e[300], st[96];
	uint16_t cid;
	uint8_t *s, cqe[16];
	int rc;

	if (ctrl_admin_up(&k, e, sizeof(e), false)) {
		FAILR("%s", e);
		ctrl_close(&k);
		return;
	}
	s = new_cmd(&k.adm, OPC_FABRICS, &cid);
	s[4] = FCTYPE_PROP_GET;
	s[40] = 0;
	put32(s + 44, PROP_VS);
	memset(s + 24, 0, 16);
	rc = exec(&k.adm, cid, SQE_SIZE, cqe);
	if (rc) {
		FAILR("Property Get VS with SGL1 all zero: %s", rc == -EPIPE ? k.adm.why : "no response");
	} else if (cqe_status(cqe)) {
		fmt_status(st, sizeof(st), cqe_status(cqe));
		FAILR("Property Get VS with SGL1 all zero (reserved bytes): %s", st);
	} else if (get32(cqe) != tgt.vs) {
		FAILR("Property Get VS with SGL1 all zero: %#x, %#x before", get32(cqe), tgt.vs);
	} else {
		PASS("Property Get VS with SGL1 all zero (reserved in Property Get): %#x", get32(cqe));
	}
	ctrl_close(&k);
	then_liveness(r);
}

static void case_connect_io(struct result *r)
{
	struct ctrl k;
	char e[300];

	if (ctrl_admin_up(&k, e, sizeof(e), false) || ctrl_io_up(&k, 31, e, sizeof(e)))
		FAILR("%s", e);
	else
		PASS("I/O queue QID 1 (HRQSIZE 32, HSQSIZE 31): CRQSIZE %u, Connect to CNTLID %u ok",
		     k.io.crqsize, k.adm.cntlid);
	ctrl_close(&k);
}

static void case_io_incapsule(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint32_t room = tgt.ioccsz - SQE_SIZE, len;

	len = room >= 4096 ? 4096 : room / tgt.lba_size * tgt.lba_size;
	if (len == 0) {
		SKIPR("IOCCSZ %u: no room for one block of in-capsule data", tgt.ioccsz);
		return;
	}
	if (ctrl_up(&k, e, sizeof(e)))
		FAILR("%s", e);
	else if (write_read_check(&k.io, len, true, e, sizeof(e)))
		FAILR("%s", e);
	else
		PASS("write of %u bytes in the capsule (SGL Data Block, Offset 0), keyed read back: equal", len);
	ctrl_close(&k);
}

static void case_io_keyed(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint32_t len = tgt.max_xfer < 131072 ? tgt.max_xfer : 131072;

	if (ctrl_up(&k, e, sizeof(e)))
		FAILR("%s", e);
	else if (write_read_check(&k.io, 4096, false, e, sizeof(e)) ||
		 write_read_check(&k.io, len, false, e, sizeof(e)))
		FAILR("%s", e);
	else
		PASS("writes of 4096 and %u bytes through keyed SGLs (target RDMA READs), read back (RDMA WRITEs): equal",
		     len);
	ctrl_close(&k);
}

/*
 * Keyed SGL Data Block with subtype Invalidate Key (Fh): the host asks the
 * controller to invalidate the key when the command is done, by answering
 * with RDMA Send with Invalidate. The key must be one the remote side may
 * invalidate: a type 2 memory window bound over our buffer.
 */
static void case_keyed_invalidate(struct result *r)
{
	struct ctrl k;
	char e[300];
	struct ibv_mr *mr = NULL;
	struct ibv_mw *mw = NULL;
	uint8_t *buf = NULL, cqe[16];
	uint32_t len = 4096 < tgt.max_xfer ? 4096 : tgt.lba_size, rkey;
	uint16_t cid;
	uint8_t *s;
	int rc;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	if (write_read_check(&k.io, len, false, e, sizeof(e))) {
		FAILR("%s", e);
		goto out;
	}
	/* k.io.data + len holds the block just read back: read it again through the window */
	buf = aligned_alloc(4096, len);
	mr = buf ? ibv_reg_mr(k.io.pd, buf, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			      IBV_ACCESS_REMOTE_READ | IBV_ACCESS_MW_BIND) : NULL;
	mw = mr ? ibv_alloc_mw(k.io.pd, IBV_MW_TYPE_2) : NULL;
	if (!mw) {
		SKIPR("this RDMA device cannot give a remotely invalidatable key (memory window type 2: %s)",
		      strerror(errno));
		goto out;
	}
	{
		struct ibv_send_wr wr = { .wr_id = 0xb1d, .opcode = IBV_WR_BIND_MW, .send_flags = IBV_SEND_SIGNALED },
			*bad;

		rkey = ibv_inc_rkey(mw->rkey);
		wr.bind_mw.mw = mw;
		wr.bind_mw.rkey = rkey;
		wr.bind_mw.bind_info.mr = mr;
		wr.bind_mw.bind_info.addr = (uintptr_t)buf;
		wr.bind_mw.bind_info.length = len;
		wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
		if (ibv_post_send(k.io.id->qp, &wr, &bad)) {
			SKIPR("ibv_post_send(BIND_MW): %s", strerror(errno));
			goto out;
		}
		k.io.sends_out++;
		pump(&k.io, 200);
		if (k.io.broken) {
			SKIPR("binding a type 2 memory window failed: %s", k.io.why);
			goto out;
		}
	}
	memset(buf, 0, len);
	s = rw_cmd(&k.io, OPC_READ, g_lba_next - len / tgt.lba_size, len, 0, false, &cid);
	sgl_keyed(s + 24, (uintptr_t)buf, len, rkey, SGL_SUB_INVALIDATE);
	k.io.with_inv = 0;
	rc = exec(&k.io, cid, SQE_SIZE, cqe);
	if (rc) {
		FAILR("Read with a keyed SGL of subtype Invalidate Key: %s", rc == -EPIPE ? k.io.why : "no response");
	} else if (cqe_status(cqe)) {
		char st[96];

		fmt_status(st, sizeof(st), cqe_status(cqe));
		FAILR("Read with a keyed SGL of subtype Invalidate Key: %s", st);
	} else if (memcmp(buf, k.io.data + len, len)) {
		FAILR("Read with a keyed SGL of subtype Invalidate Key: the data differs from the block written");
	} else if (k.io.with_inv != 1 || k.io.inv_rkey != rkey) {
		FAILR("Read with subtype Invalidate Key: data right, but the response came as a plain Send "
		      "(%d Send with Invalidate; key %#x)", k.io.with_inv, rkey);
	} else {
		PASS("Read through a memory window key %#x with subtype Invalidate Key: data right, the response came "
		     "as Send with Invalidate of that key (wc_flags %#x)", rkey, k.io.inv_flags);
	}
out:
	ctrl_close(&k);
	if (mw)
		ibv_dealloc_mw(mw);
	if (mr)
		ibv_dereg_mr(mr);
	free(buf);
}

/*
 * An I/O queue whose Fabrics Connect names a controller that does not exist
 * (Connect data CNTLID 0xfff0; the CM private data names the real one): the
 * Connect must fail (Connect Invalid Parameters, IATTR 1 / IPO 16), and the
 * queue pair the target accepted for it must go away cleanly.
 */
static void case_connect_bad_cntlid(struct result *r)
{
	struct ctrl k;
	struct conn_opts o = { .qid = 1, .sqsize = 31 };
	struct cm_result cr;
	uint8_t cqe[16];
	char e[300];

	if (ctrl_admin_up(&k, e, sizeof(e), false)) {
		FAILR("%s", e);
		ctrl_close(&k);
		return;
	}
	o.pd_cntlid = k.adm.cntlid;
	if (conn_open(&k.io, &o, io_icd_room(), &cr)) {
		PASS("I/O queue for a Connect to CNTLID 0xfff0: %s at the RDMA CM level", cr.what);
		conn_close(&k.io, false);
	} else {
		k.io_up = true;
		memset(cqe, 0, sizeof(cqe));
		if (fabrics_connect(&k.io, 1, 31, 0xfff0, cqe, e, sizeof(e)) == 0)
			FAILR("I/O queue Connect to CNTLID 0xfff0 (we hold CNTLID %u) succeeded", k.adm.cntlid);
		else if (k.io.broken || (cqe_status(cqe) & 0x7ff) != 0x182)
			PASS("I/O queue Connect to CNTLID 0xfff0: %s", e);
		/* Connect Invalid Parameters: dword 0 bits 15:0 IPO (offset of the
		 * bad field), bits 23:16 IATTR (1: in the Connect data); CNTLID is
		 * at offset 16 of the data. (Linux's nvmet and host, SPDK's
		 * nvmf_spec.h and FreeBSD's nvmf_proto.h agree on that layout.) */
		else if ((get32(cqe) & 0xffff) != 16 || ((get32(cqe) >> 16) & 0xff) != 1)
			FAILR("I/O queue Connect to CNTLID 0xfff0: Connect Invalid Parameters, but dword 0 %08x: IPO %u, "
			      "IATTR %u (IPO 16 in bits 15:0, IATTR 1 in bits 23:16 expected)", get32(cqe),
			      get32(cqe) & 0xffff, (get32(cqe) >> 16) & 0xff);
		else
			PASS("I/O queue Connect to CNTLID 0xfff0: %s: IATTR 1 (Connect data), IPO 16 (CNTLID)", e);
	}
	ctrl_close(&k);
	then_liveness(r);
}

static void judge_error(struct result *r, const char *what, struct conn *c, uint16_t cid, const uint16_t *want,
			int nwant);

/*
 * A queue pair that the target accepted, then a command before the Fabrics
 * Connect: only Connect may come first (NVMe-oF: Command Sequence Error for
 * anything else), or the target drops the connection; never a success.
 */
static void case_cmd_before_connect(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31 };
	const uint16_t want[] = { 0x0c };
	struct cm_result cr;
	struct conn c;
	uint16_t cid;
	uint8_t *s;

	if (conn_open(&c, &o, 8192, &cr)) {
		FAILR("admin queue: %s", cr.what);
		conn_close(&c, false);
		return;
	}
	s = new_cmd(&c, OPC_FABRICS, &cid);
	s[4] = FCTYPE_PROP_GET;
	s[40] = 1;
	put32(s + 44, PROP_CAP);
	if (send_capsule(&c, cid, SQE_SIZE) == 0)
		judge_error(r, "Property Get CAP before the Connect", &c, cid, want, 1);
	else
		FAILR("could not post the send: %s", c.why);
	conn_close(&c, true);
	then_liveness(r);
}

/* Private data cases: a connect that the binding says must be rejected. */
static void expect_reject(struct result *r, const char *what, struct conn_opts *o, unsigned want_sts,
			  bool io_queue_ok_if_connect_fails, uint32_t ipo)
{
	struct ctrl k = { 0 };
	struct cm_result cr;
	struct conn c;
	uint8_t cqe[16];
	char e[300];

	if (o->qid) {
		/* I/O queue: a live controller to attach to */
		if (ctrl_admin_up(&k, e, sizeof(e), false)) {
			FAILR("could not set up the admin queue first: %s", e);
			ctrl_close(&k);
			return;
		}
		o->pd_cntlid = k.adm.cntlid;
	}
	if (conn_open(&c, o, 8192, &cr) == 0) {
		/* Accepted: the Connect command must fail then (else the target took it). */
		if (!io_queue_ok_if_connect_fails) {
			FAILR("%s: %s, the binding's reject STS %02xh (%s) expected", what, cr.what, want_sts,
			      rej_sts_name(want_sts));
		} else if (fabrics_connect(&c, o->qid, o->sqsize, o->qid ? k.adm.cntlid : 0xffff, cqe, e, sizeof(e)) == 0) {
			FAILR("%s: %s and the Connect command succeeded (CNTLID %u)", what, cr.what, c.cntlid);
		} else if (!c.broken && (cqe_status(cqe) & 0x7ff) == 0x182 && ipo &&
			   (get32(cqe) & 0xffffff) != ipo) {
			/* Connect Invalid Parameters: IPO bits 15:0, IATTR bits 23:16 (0: the command) */
			FAILR("%s: %s, then %s: IPO %u IATTR %u, expected IPO %u (the command's field) IATTR 0", what,
			      cr.what, e, get32(cqe) & 0xffff, (get32(cqe) >> 16) & 0xff, ipo);
		} else {
			PASS("%s: %s at the RDMA CM level (not STS %02xh), then %s", what, cr.what, want_sts, e);
		}
		conn_close(&c, true);
	} else if (cr.kind == CM_REJECTED && cr.rej_pd && cr.rej_sts == want_sts && cr.rej_recfmt == 0) {
		PASS("%s: %s", what, cr.what);
		conn_close(&c, false);
	} else if (cr.kind == CM_REJECTED) {
		/* Rejected, not with the status the binding names: conformance failure. */
		FAILR("%s: %s; the binding's STS is %02xh (%s)", what, cr.what, want_sts, rej_sts_name(want_sts));
		conn_close(&c, false);
	} else {
		FAILR("%s: %s (no reject)", what, cr.what);
		conn_close(&c, false);
	}
	ctrl_close(&k);
	if (r->v == V_PASS && liveness(e, sizeof(e)))
		fail_after(r, e);
}

static void case_pd_recfmt(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31, .pd_set = true, .recfmt = 1, .hrqsize = 32, .hsqsize = 31 };

	expect_reject(r, "RECFMT 1", &o, 0x02, false, 0);
}

static void case_pd_qid_beyond(struct result *r)
{
	uint16_t q = tgt.nsqa + 1;
	struct conn_opts o = { .qid = q, .sqsize = 31, .pd_set = true, .hrqsize = 32, .hsqsize = 31 };
	char what[64];

	snprintf(what, sizeof(what), "QID %u (the controller allocated %u I/O queues)", q, tgt.nsqa);
	/* The CM request names no controller that the target must know of by
	 * then: a reject 03h, or the Connect failing (Invalid Parameters /
	 * Invalid Queue Identifier) are both read as conformant. */
	expect_reject(r, what, &o, 0x03, true, 42);	/* Connect QID */
}

static void case_pd_hrqsize0(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31, .pd_set = true, .hrqsize = 0, .hsqsize = 31 };

	expect_reject(r, "HRQSIZE 0", &o, 0x05, false, 0);
}

static void case_pd_hrqsize_big(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31, .pd_set = true, .hrqsize = 0xffff, .hsqsize = 31 };

	expect_reject(r, "HRQSIZE 65535 (admin queue)", &o, 0x05, false, 0);
}

static void case_pd_hsqsize0(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 0, .pd_set = true, .hrqsize = 32, .hsqsize = 0 };

	/* 0's based: one entry; a queue has at least two (NVMe base). */
	expect_reject(r, "HSQSIZE 0 (one entry)", &o, 0x04, true, 44);	/* Connect SQSIZE */
}

static void case_pd_hsqsize_big(struct result *r)
{
	uint32_t mqes = tgt.cap & 0xffff;
	struct conn_opts o = { .qid = 0, .pd_set = true, .hrqsize = 32 };
	char what[64];

	if (mqes == 0xffff) {
		SKIPR("CAP.MQES is 65535: no HSQSIZE above it");
		return;
	}
	o.hsqsize = o.sqsize = mqes + 1;
	o.hrqsize = mqes + 2;
	snprintf(what, sizeof(what), "HSQSIZE %u > CAP.MQES %u (admin queue)", mqes + 1, mqes);
	expect_reject(r, what, &o, 0x04, true, 44);	/* Connect SQSIZE */
}

static void case_pd_short(struct result *r)
{
	static const uint8_t pd[4] = { 0, 0, 0, 0 };	/* RECFMT 0, QID 0, nothing more */
	struct conn_opts o = { .qid = 0, .sqsize = 31, .raw_pd = pd, .raw_pd_len = 4 };
	struct cm_result cr;
	struct conn c;
	char e[300];

	/* Over IB/RoCE the CM pads the private data to its fixed size with
	 * zeros, so the target sees HRQSIZE/HSQSIZE 0: 01h, 04h or 05h. */
	if (conn_open(&c, &o, 8192, &cr) == 0)
		FAILR("4 bytes of private data: %s", cr.what);
	else if (cr.kind == CM_REJECTED && cr.rej_pd && (cr.rej_sts == 1 || cr.rej_sts == 4 || cr.rej_sts == 5))
		PASS("4 bytes of private data: %s", cr.what);
	else
		FAILR("4 bytes of private data: %s; STS 01h (or 04h/05h for the zero padding) expected", cr.what);
	conn_close(&c, false);
	if (r->v == V_PASS && liveness(e, sizeof(e)))
		fail_after(r, e);
}

static void case_pd_none(struct result *r)
{
	struct conn_opts o = { .qid = 0, .sqsize = 31, .raw_pd_len = -1 };
	struct cm_result cr;
	struct conn c;
	char e[300];

	if (conn_open(&c, &o, 8192, &cr) == 0)
		FAILR("no private data: %s", cr.what);
	else if (cr.kind == CM_REJECTED && cr.rej_pd && (cr.rej_sts == 1 || cr.rej_sts == 4 || cr.rej_sts == 5))
		PASS("no private data: %s", cr.what);
	else
		FAILR("no private data: %s; STS 01h (or 04h/05h for the zero padding) expected", cr.what);
	conn_close(&c, false);
	if (r->v == V_PASS && liveness(e, sizeof(e)))
		fail_after(r, e);
}

/*
 * Capsule cases: one hostile command on a fresh controller's I/O queue. The
 * target must answer it with an error status or drop the connection (a
 * transport error), never succeed, never hang; then a fresh client works.
 */
static void judge_error(struct result *r, const char *what, struct conn *c, uint16_t cid, const uint16_t *want,
			int nwant)
{
	uint8_t cqe[16];
	int rc = wait_cqe(c, cid, g.timeout_ms, cqe);
	char st[96];

	if (rc == -ETIMEDOUT) {
		FAILR("%s: no response and no disconnect within %d ms", what, g.timeout_ms);
		return;
	}
	if (rc == -EPIPE) {
		PASS("%s: the connection was dropped (%s)", what, c->why);
		return;
	}
	fmt_status(st, sizeof(st), cqe_status(cqe));
	if (cqe_status(cqe) == 0) {
		FAILR("%s: completed successfully", what);
		return;
	}
	for (int i = 0; i < nwant; i++) {
		if ((cqe_status(cqe) & 0x7ff) == want[i]) {	/* SCT and SC, not CRD/M/DNR */
			PASS("%s: %s", what, st);
			return;
		}
	}
	/* an error, not the one the spec names: report, but it is safe */
	PASS("%s: %s (the spec's status would be %s)", what, st,
	     nwant ? status_name(st_sct(want[0]), st_sc(want[0])) : "?");
}


static void case_cap_oversize(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	uint32_t len = tgt.ioccsz - SQE_SIZE + 4096;
	const uint16_t want[] = { 0x0f, 0x16 };

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	fill(k.io.data, len, 7);
	len = len / tgt.lba_size * tgt.lba_size;
	rw_cmd(&k.io, OPC_WRITE, 0, len, 0, true, &cid);
	if (send_capsule(&k.io, cid, SQE_SIZE + len) == 0) {
		snprintf(e, sizeof(e), "a %u-byte command capsule (IOCCSZ %u)", SQE_SIZE + len, tgt.ioccsz);
		judge_error(r, e, &k.io, cid, want, 2);
	} else {
		FAILR("could not post the send: %s", k.io.why);
	}
	ctrl_close(&k);
	then_liveness(r);
}

static void case_cap_icd_len_over(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	uint32_t room = tgt.ioccsz - SQE_SIZE;
	uint32_t len = (room / tgt.lba_size + 1) * tgt.lba_size;
	const uint16_t want[] = { 0x0f, 0x16 };
	uint8_t *s;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	s = rw_cmd(&k.io, OPC_WRITE, 0, len, 0, false, &cid);
	sgl_icd(s + 24, 0, len);	/* claims more than the capsule may carry */
	if (send_capsule(&k.io, cid, SQE_SIZE + (room / tgt.lba_size) * tgt.lba_size) == 0) {
		snprintf(e, sizeof(e), "in-capsule data descriptor of %u bytes (IOCCSZ allows %u)", len, room);
		judge_error(r, e, &k.io, cid, want, 2);
	} else {
		FAILR("could not post the send: %s", k.io.why);
	}
	ctrl_close(&k);
	then_liveness(r);
}

static void case_cap_icd_offset_over(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	uint32_t room = tgt.ioccsz - SQE_SIZE;
	const uint16_t want[] = { 0x16, 0x0f };
	uint8_t *s;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	s = rw_cmd(&k.io, OPC_WRITE, 0, tgt.lba_size, 0, false, &cid);
	sgl_icd(s + 24, 0xfffffff0ull, tgt.lba_size);
	if (send_capsule(&k.io, cid, SQE_SIZE + (room >= tgt.lba_size ? tgt.lba_size : 0)) == 0)
		judge_error(r, "in-capsule data at offset 0xfffffff0", &k.io, cid, want, 2);
	else
		FAILR("could not post the send: %s", k.io.why);
	ctrl_close(&k);
	then_liveness(r);
}

static void case_sgl_type(struct result *r, uint8_t type_byte, const char *what)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	const uint16_t want[] = { 0x11, 0x02 };
	uint8_t *s;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	s = rw_cmd(&k.io, OPC_READ, 0, tgt.lba_size, 0, false, &cid);
	s[24 + 15] = type_byte;
	if (send_capsule(&k.io, cid, SQE_SIZE) == 0)
		judge_error(r, what, &k.io, cid, want, 2);
	else
		FAILR("could not post the send: %s", k.io.why);
	ctrl_close(&k);
	then_liveness(r);
}

/*
 * A keyed SGL whose length disagrees with the command's NLB: shorter (the
 * target must not RDMA WRITE past it), 0, and longer. Shorter and 0: Data
 * SGL Length Invalid (0Fh) or another error. Longer: an error unless the
 * controller sets SGLS bit 18 (SGLs longer than the data allowed), then a
 * success; either way nothing may land past the NLB's bytes (a canary).
 */
static void case_sgl_len_mismatch(struct result *r)
{
	struct ctrl k;
	char e[300], what[200], st[96];
	uint16_t cid;
	uint8_t *s, cqe[16];
	uint32_t nlb_bytes = 8 * tgt.lba_size, i;
	bool longer_ok = tgt.sgls & (1u << 18);
	struct { uint32_t sgl_len, nlb_bytes; bool ok; const char *name; } t[] = {
		{ tgt.lba_size, nlb_bytes, false, "Read of 8 blocks into a keyed SGL of 1 block" },
		{ 0, tgt.lba_size, false, "Write of 1 block from a keyed SGL of length 0" },
		{ 2 * nlb_bytes, nlb_bytes, longer_ok, longer_ok ?
		  "Read of 8 blocks into a keyed SGL of 16 blocks (SGLS bit 18 set: allowed)" :
		  "Read of 8 blocks into a keyed SGL of 16 blocks (SGLS bit 18 clear)" },
	};
	int rc, bad = 0;
	char out[600] = "";

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]) && !bad; i++) {
		uint8_t opc = t[i].sgl_len == 0 ? OPC_WRITE : OPC_READ;
		uint32_t end = t[i].sgl_len < t[i].nlb_bytes ? t[i].nlb_bytes : t[i].sgl_len;
		uint32_t from = t[i].sgl_len < t[i].nlb_bytes ? t[i].sgl_len : t[i].nlb_bytes;

		memset(k.io.data, 0x5a, DATA_SIZE);
		s = rw_cmd(&k.io, opc, 0, t[i].nlb_bytes, 0, false, &cid);
		sgl_keyed(s + 24, (uintptr_t)k.io.data, t[i].sgl_len, k.io.mr->rkey, SGL_SUB_ADDRESS);
		rc = exec(&k.io, cid, SQE_SIZE, cqe);
		if (rc == -ETIMEDOUT) {
			snprintf(what, sizeof(what), "%s: no response within %d ms", t[i].name, g.timeout_ms);
			bad = 1;
		} else if (rc) {
			snprintf(what, sizeof(what), "%s: dropped (%s)", t[i].name, k.io.why);
			bad = t[i].ok ? 1 : 2;	/* 2: fine, but the queue is gone */
		} else if (cqe_status(cqe) == 0) {
			snprintf(what, sizeof(what), "%s: completed successfully", t[i].name);
			if (!t[i].ok)
				bad = 1;
		} else {
			fmt_status(st, sizeof(st), cqe_status(cqe));
			snprintf(what, sizeof(what), "%s: %s", t[i].name, st);
			if (t[i].ok)
				bad = 1;
		}
		/* nothing past the smaller of the SGL and the NLB may change */
		if (opc == OPC_READ) {
			for (uint32_t j = from; j < end; j++) {
				if (k.io.data[j] != 0x5a) {
					snprintf(what + strlen(what), sizeof(what) - strlen(what),
						 "; and it wrote past byte %u (byte %u changed)", from, j);
					bad = 1;
					break;
				}
			}
		}
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? "; " : "", what);
	}
	if (bad == 1)
		FAILR("%s", out);
	else
		PASS("%s", out);
	ctrl_close(&k);
	then_liveness(r);
}

/* A Read one block longer than MDTS allows: Invalid Field in Command (NVMe
 * base: a command that exceeds the maximum data transfer size). */
static void case_xfer_over_mdts(struct result *r)
{
	struct ctrl k;
	char e[300], what[120];
	uint16_t cid;
	uint32_t len = tgt.max_xfer + tgt.lba_size;
	const uint16_t want[] = { 0x02 };

	if (!tgt.mdts || len > DATA_SIZE || len / tgt.lba_size > 0x10000) {
		SKIPR("MDTS %u (%u bytes): beyond what this client can offer", tgt.mdts, tgt.max_xfer);
		return;
	}
	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	rw_cmd(&k.io, OPC_READ, 0, len, 0, false, &cid);
	snprintf(what, sizeof(what), "Read of %u bytes (MDTS %u: %u bytes)", len, tgt.mdts, tgt.max_xfer);
	if (send_capsule(&k.io, cid, SQE_SIZE) == 0) {
		judge_error(r, what, &k.io, cid, want, 1);
	} else {
		FAILR("could not post the send: %s", k.io.why);
	}
	ctrl_close(&k);
	then_liveness(r);
}

/*
 * Several data descriptors: SGL1 is a Last Segment descriptor (offset into
 * the capsule) whose list, in the capsule, holds two keyed descriptors of
 * half the data each. MSDBD 0 (no limit) or >= 2: the write must land and
 * read back; MSDBD 1: an error (0Eh Invalid Number of SGL Descriptors, or
 * another), never a success.
 */
static void case_sgl_multi(struct result *r)
{
	struct ctrl k;
	char e[300], st[96];
	uint16_t cid;
	uint8_t *s, cqe[16];
	uint32_t len = 4096 < tgt.max_xfer ? 4096 : 2 * tgt.lba_size, half = len / 2;
	bool supported = tgt.msdbd == 0 || tgt.msdbd >= 2;
	uint64_t slba;
	int rc;

	if (tgt.ioccsz < SQE_SIZE + 32) {
		SKIPR("IOCCSZ %u: no room in the capsule for a descriptor list", tgt.ioccsz);
		return;
	}
	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	slba = g_lba_next;
	g_lba_next += len / tgt.lba_size;
	fill(k.io.data, half, g_seed);
	fill(k.io.data + 65536, half, g_seed + 1);	/* the second half elsewhere */
	g_seed += 2;
	s = rw_cmd(&k.io, OPC_WRITE, slba, len, 0, false, &cid);
	/* SGL1: Last Segment (3h), subtype Offset (1h): 32 bytes at capsule offset 0 */
	memset(s + 24, 0, 16);
	put64(s + 24, 0);
	put32(s + 24 + 8, 32);
	s[24 + 15] = 0x3 << 4 | SGL_SUB_OFFSET;
	sgl_keyed(s + SQE_SIZE, (uintptr_t)k.io.data, half, k.io.mr->rkey, SGL_SUB_ADDRESS);
	sgl_keyed(s + SQE_SIZE + 16, (uintptr_t)(k.io.data + 65536), half, k.io.mr->rkey, SGL_SUB_ADDRESS);
	rc = exec(&k.io, cid, SQE_SIZE + 32, cqe);
	if (rc == -ETIMEDOUT) {
		FAILR("Write by two keyed descriptors in a Last Segment list (MSDBD %u): no response within %d ms",
		      tgt.msdbd, g.timeout_ms);
	} else if (rc) {
		if (supported)
			FAILR("Write by two keyed descriptors in a Last Segment list (MSDBD %u): dropped (%s)",
			      tgt.msdbd, k.io.why);
		else
			PASS("Write by two keyed descriptors with MSDBD %u: dropped (%s)", tgt.msdbd, k.io.why);
	} else if (cqe_status(cqe)) {
		fmt_status(st, sizeof(st), cqe_status(cqe));
		if (supported)
			FAILR("Write by two keyed descriptors in a Last Segment list (MSDBD %u%s): %s", tgt.msdbd,
			      tgt.msdbd ? "" : " = no limit", st);
		else
			PASS("Write by two keyed descriptors with MSDBD %u: %s", tgt.msdbd, st);
	} else if (!supported) {
		FAILR("Write by two keyed descriptors succeeded although MSDBD is %u", tgt.msdbd);
	} else {
		memcpy(k.io.data + len, k.io.data + 65536, half);	/* expected: both halves in a row */
		memmove(k.io.data + half, k.io.data + len, half);
		memset(k.io.data + len, 0xa5, len);
		if (do_rw(&k.io, OPC_READ, slba, len, len, false, e, sizeof(e)))
			FAILR("%s", e);
		else if (memcmp(k.io.data, k.io.data + len, len))
			FAILR("Write by two keyed descriptors (Last Segment list): the data read back differs");
		else
			PASS("Write of %u bytes by two keyed descriptors in a Last Segment list (MSDBD %u%s): read back equal",
			     len, tgt.msdbd, tgt.msdbd ? "" : " = no limit");
	}
	ctrl_close(&k);
	then_liveness(r);
}

/* PSDT 00b (PRPs) on an I/O command: over Fabrics only SGLs exist. */
static void case_psdt_prp(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	const uint16_t want[] = { 0x02 };
	uint8_t *s;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	s = rw_cmd(&k.io, OPC_READ, 0, tgt.lba_size, 0, false, &cid);
	s[1] = 0;
	if (send_capsule(&k.io, cid, SQE_SIZE) == 0)
		judge_error(r, "Read with PSDT 00b (PRPs)", &k.io, cid, want, 1);
	else
		FAILR("could not post the send: %s", k.io.why);
	ctrl_close(&k);
	then_liveness(r);
}

static void case_sgl_type_unknown(struct result *r)
{
	case_sgl_type(r, 0x70, "SGL descriptor type 7h (reserved)");
}

static void case_sgl_subtype_unknown(struct result *r)
{
	case_sgl_type(r, SGL_KEYED << 4 | 0x5, "Keyed SGL Data Block with subtype 5h (reserved)");
}

/* Keyed SGL that points where the target may not go. */
static void case_keyed_bad(struct result *r, uint8_t opc, bool bad_key)
{
	struct ctrl k;
	char e[300], what[160];
	uint16_t cid;
	const uint16_t want[] = { 0x04 };
	uint8_t *s;
	uint32_t len = 4096 < tgt.max_xfer ? 4096 : tgt.lba_size;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	s = rw_cmd(&k.io, opc, 0, len, 0, false, &cid);
	if (bad_key) {
		sgl_keyed(s + 24, (uintptr_t)k.io.data, len, k.io.mr->rkey ^ 0x00abcd00u, SGL_SUB_ADDRESS);
		snprintf(what, sizeof(what), "%s with a keyed SGL of a bad rkey (target RDMA %s)",
			 opc == OPC_WRITE ? "Write" : "Read", opc == OPC_WRITE ? "READ" : "WRITE");
	} else {
		sgl_keyed(s + 24, (uintptr_t)(k.io.buf + k.io.buflen + 4096), len, k.io.mr->rkey, SGL_SUB_ADDRESS);
		snprintf(what, sizeof(what), "%s with a keyed SGL past the end of our MR (target RDMA %s)",
			 opc == OPC_WRITE ? "Write" : "Read", opc == OPC_WRITE ? "READ" : "WRITE");
	}
	if (send_capsule(&k.io, cid, SQE_SIZE) == 0)
		judge_error(r, what, &k.io, cid, want, 1);
	else
		FAILR("could not post the send: %s", k.io.why);
	ctrl_close(&k);
	then_liveness(r);
}

static void case_keyed_badkey_write(struct result *r) { case_keyed_bad(r, OPC_WRITE, true); }
static void case_keyed_badkey_read(struct result *r) { case_keyed_bad(r, OPC_READ, true); }
static void case_keyed_outside_write(struct result *r) { case_keyed_bad(r, OPC_WRITE, false); }
static void case_keyed_outside_read(struct result *r) { case_keyed_bad(r, OPC_READ, false); }

/* Two commands with one CID while the first is outstanding. */
static void case_cid_reuse(struct result *r)
{
	struct ctrl k;
	char e[300];
	uint16_t cid, cid2;
	uint8_t *s, cqe[16];
	uint32_t len = tgt.max_xfer < 131072 ? tgt.max_xfer : 131072;
	int got = 0, ok = 0, conflict = 0, other = 0;
	uint64_t end;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	fill(k.io.data, 2 * len, 11);
	rw_cmd(&k.io, OPC_WRITE, 0, len, 0, false, &cid);
	/* the same CID in the next slot */
	s = rw_cmd(&k.io, OPC_WRITE, len / tgt.lba_size, len, len, false, &cid2);
	put16(s + 2, cid);
	if (send_capsule(&k.io, cid, SQE_SIZE) || send_capsule(&k.io, cid2, SQE_SIZE)) {
		FAILR("could not post the sends: %s", k.io.why);
		ctrl_close(&k);
		return;
	}
	end = now_ms() + g.timeout_ms;
	while (got < 2 && now_ms() < end) {
		if (wait_cqe(&k.io, cid, 200, cqe) == 0) {
			got++;
			if (cqe_status(cqe) == 0)
				ok++;
			else if ((cqe_status(cqe) & 0x7ff) == 0x03)
				conflict++;
			else
				other++;
		} else if (k.io.broken) {
			break;
		}
	}
	pump(&k.io, 300);
	if (k.io.npending) {
		FAILR("CID %u used twice: %d unexpected completion(s) for other CIDs", cid, k.io.npending);
	} else if (k.io.broken && got < 2) {
		PASS("CID %u used twice while outstanding: %d completion(s) (%d ok, %d Command ID Conflict, %d other), "
		     "then the connection was dropped (%s)", cid, got, ok, conflict, other, k.io.why);
	} else if (got == 2) {
		PASS("CID %u used twice while outstanding: 2 completions (%d ok, %d Command ID Conflict, %d other)",
		     cid, ok, conflict, other);
	} else if (got == 1) {
		/* The second completion may be swallowed? Then the host can never tell. */
		FAILR("CID %u used twice while outstanding: only %d completion and the connection stays up", cid, got);
	} else {
		FAILR("CID %u used twice while outstanding: no completion within %d ms", cid, g.timeout_ms);
	}
	ctrl_close(&k);
	then_liveness(r);
}

/* More commands in flight than HSQSIZE announced. */
static void case_over_sqsize(struct result *r)
{
	struct ctrl k;
	char e[300];
	const uint16_t sqsize = 7;	/* 8 entries */
	const int n = 40;
	uint16_t first = 0, cid;
	uint8_t cqe[16];
	int i, got = 0, ok = 0, errs = 0;
	uint64_t end;

	if (ctrl_admin_up(&k, e, sizeof(e), false) || ctrl_io_up(&k, sqsize, e, sizeof(e))) {
		FAILR("%s", e);
		ctrl_close(&k);
		return;
	}
	for (i = 0; i < n; i++) {
		rw_cmd(&k.io, OPC_READ, (uint64_t)i, tgt.lba_size, (size_t)i * tgt.lba_size, false, &cid);
		if (i == 0)
			first = cid;
		if (send_capsule(&k.io, cid, SQE_SIZE))
			break;
	}
	end = now_ms() + g.timeout_ms * 2;
	for (cid = first; cid != (uint16_t)(first + n) && now_ms() < end; cid++) {
		if (wait_cqe(&k.io, cid, (int)(end - now_ms()), cqe))
			break;
		got++;
		if (cqe_status(cqe))
			errs++;
		else
			ok++;
	}
	if (got == n)
		PASS("%d commands at once on a queue of HSQSIZE %u (%u entries): all completed (%d ok, %d errors)",
		     n, sqsize, sqsize + 1, ok, errs);
	else if (k.io.broken)
		PASS("%d commands at once on a queue of %u entries: %d completed, then the connection was dropped (%s)",
		     n, sqsize + 1, got, k.io.why);
	else
		FAILR("%d commands at once on a queue of %u entries: %d completed, then nothing for %d ms",
		      n, sqsize + 1, got, 2 * g.timeout_ms);
	ctrl_close(&k);
	then_liveness(r);
}

/* The host goes away with commands outstanding. */
static void case_disc(struct result *r, bool destroy_qp_only)
{
	struct ctrl k;
	char e[300];
	uint16_t cid;
	uint32_t len = tgt.max_xfer < 131072 ? tgt.max_xfer : 131072;
	int i, n = 16;

	if (ctrl_up(&k, e, sizeof(e))) {
		FAILR("%s", e);
		return;
	}
	if ((size_t)len * n > DATA_SIZE)
		n = DATA_SIZE / len;
	for (i = 0; i < n; i++) {
		rw_cmd(&k.io, OPC_WRITE, (uint64_t)i * (len / tgt.lba_size), len, (size_t)i * len, false, &cid);
		if (send_capsule(&k.io, cid, SQE_SIZE))
			break;
	}
	if (destroy_qp_only) {
		/* the target's RDMA READs find no QP (and no MR) on our side */
		rdma_destroy_qp(k.io.id);
		k.io.qp_made = false;
		ibv_dereg_mr(k.io.mr);
		k.io.mr = NULL;
		conn_close(&k.io, false);
		k.io_up = false;
	} else {
		rdma_disconnect(k.io.id);
		conn_close(&k.io, false);
		k.io_up = false;
	}
	ctrl_close(&k);
	PASS("%d writes of %u bytes posted, then %s", i, len,
	     destroy_qp_only ? "QP and MR destroyed at once (RDMA READs in flight)" : "rdma_disconnect at once");
	/* let the target notice before the good client */
	usleep(500000);
	then_liveness(r);
}

static void case_disc_outstanding(struct result *r) { case_disc(r, false); }
static void case_disc_read_inflight(struct result *r) { case_disc(r, true); }

static const struct tcase {
	const char *name;
	void (*fn)(struct result *);
	const char *about;
} g_cases[] = {
	/* the good cases first; from pd_recfmt on every case is hostile */
	{ "connect_admin", case_connect_admin, "admin queue: CM private data, accept, Fabrics Connect" },
	{ "property_identify", case_property_identify, "Property Get CAP/VS, enable, Identify via keyed SGL" },
	{ "nodata_sgl_zero", case_nodata_sgl_zero, "Property Get with SGL1 (reserved there) all zero" },
	{ "connect_io", case_connect_io, "an I/O queue connect to the controller" },
	{ "io_incapsule", case_io_incapsule, "write with in-capsule data, read back, compare" },
	{ "io_keyed", case_io_keyed, "write with keyed SGLs (target RDMA READ), read back, compare" },
	{ "keyed_invalidate", case_keyed_invalidate, "keyed SGL subtype Invalidate Key: Send with Invalidate" },
	{ "pd_recfmt", case_pd_recfmt, "private data RECFMT 1: reject 02h" },
	{ "pd_qid_beyond", case_pd_qid_beyond, "QID beyond the allocated queues: reject 03h / Connect fails" },
	{ "pd_hrqsize0", case_pd_hrqsize0, "HRQSIZE 0: reject 05h" },
	{ "pd_hrqsize_big", case_pd_hrqsize_big, "HRQSIZE 65535: reject 05h" },
	{ "pd_hsqsize0", case_pd_hsqsize0, "HSQSIZE 0: reject 04h / Connect fails" },
	{ "pd_hsqsize_big", case_pd_hsqsize_big, "HSQSIZE above CAP.MQES: reject 04h / Connect fails" },
	{ "pd_short", case_pd_short, "4 bytes of private data: reject" },
	{ "pd_none", case_pd_none, "no private data: reject" },
	{ "cmd_before_connect", case_cmd_before_connect, "a Property Get before the Fabrics Connect" },
	{ "connect_bad_cntlid", case_connect_bad_cntlid, "I/O queue Connect to a controller that does not exist" },
	{ "cap_oversize", case_cap_oversize, "a command capsule larger than IOCCSZ" },
	{ "cap_icd_len_over", case_cap_icd_len_over, "in-capsule data length above IOCCSZ" },
	{ "cap_icd_offset_over", case_cap_icd_offset_over, "in-capsule data offset beyond the capsule" },
	{ "sgl_len_mismatch", case_sgl_len_mismatch, "keyed SGL length against NLB: shorter, longer, 0" },
	{ "xfer_over_mdts", case_xfer_over_mdts, "a Read one block beyond MDTS" },
	{ "sgl_multi", case_sgl_multi, "two keyed descriptors in a Last Segment list (MSDBD)" },
	{ "psdt_prp", case_psdt_prp, "an I/O command with PSDT 00b (PRPs)" },
	{ "sgl_type_unknown", case_sgl_type_unknown, "an SGL descriptor of a reserved type" },
	{ "sgl_subtype_unknown", case_sgl_subtype_unknown, "a keyed SGL of a reserved subtype" },
	{ "keyed_badkey_write", case_keyed_badkey_write, "write, keyed SGL with a bad rkey" },
	{ "keyed_badkey_read", case_keyed_badkey_read, "read, keyed SGL with a bad rkey" },
	{ "keyed_outside_write", case_keyed_outside_write, "write, keyed SGL past our MR" },
	{ "keyed_outside_read", case_keyed_outside_read, "read, keyed SGL past our MR" },
	{ "cid_reuse", case_cid_reuse, "a CID reused while outstanding" },
	{ "over_sqsize", case_over_sqsize, "more commands outstanding than HSQSIZE" },
	{ "disc_outstanding", case_disc_outstanding, "rdma_disconnect with commands outstanding" },
	{ "disc_read_inflight", case_disc_read_inflight, "QP destroyed with RDMA READs in flight" },
};
#define NCASES (sizeof(g_cases) / sizeof(g_cases[0]))

static const char *g_xfail[NCASES];
static const char *g_notrun[NCASES];
static size_t g_first_hostile;

/* The guest's free memory in verbose mode: a target that leaks shows here. */
static long mem_available_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

static void usage(void)
{
	printf("usage: nvmf_rdma_bb -a ADDR [-s PORT] -n SUBNQN [-c CASE,...] [-x CASE=REASON]... "
	       "[-k CASE=REASON]... [-t TIMEOUT_MS] [-I ORD] [-l] [-v]\ncases:\n");
	for (size_t i = 0; i < NCASES; i++)
		printf("  %-20s %s\n", g_cases[i].name, g_cases[i].about);
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int opt, npass = 0, nfail = 0, nxfail = 0, nskip = 0;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "a:s:n:c:x:k:t:I:lvh")) != -1) {
		switch (opt) {
		case 'a': g.addr = optarg; break;
		case 's': g.port = optarg; break;
		case 'n': g.subnqn = optarg; break;
		case 'c': only = optarg; break;
		case 't': g.timeout_ms = atoi(optarg); break;
		case 'I': g.initiator_depth = atoi(optarg); break;
		case 'v': g.verbose = 1; break;
		case 'l': usage(); return 0;
		case 'k':
		case 'x': {
			const char **list = opt == 'x' ? g_xfail : g_notrun;
			const char *eq = strchr(optarg, '=');
			size_t n = eq ? (size_t)(eq - optarg) : strlen(optarg);
			size_t i;

			for (i = 0; i < NCASES; i++) {
				if (strlen(g_cases[i].name) == n && !strncmp(g_cases[i].name, optarg, n)) {
					list[i] = eq ? eq + 1 : "known failure";
					break;
				}
			}
			if (i == NCASES) {
				fprintf(stderr, "nvmf_rdma_bb: -%c %s: no such case\n", opt, optarg);
				return 2;
			}
			break;
		}
		default: usage(); return 2;
		}
	}
	if (!g.addr || !g.subnqn) {
		usage();
		return 2;
	}
	for (const char *p = only; p && *p;) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < NCASES; i++) {
			if (strlen(g_cases[i].name) == n && !strncmp(g_cases[i].name, p, n))
				break;
		}
		if (n && i == NCASES) {
			fprintf(stderr, "nvmf_rdma_bb: -c: no case '%.*s' (nvmf_rdma_bb -l)\n", (int)n, p);
			return 2;
		}
		p += n + (p[n] == ',');
	}
	f = fopen("/dev/urandom", "rb");
	if (!f || fread(g_hostid, 1, 16, f) != 16) {
		fprintf(stderr, "nvmf_rdma_bb: /dev/urandom\n");
		return 2;
	}
	fclose(f);
	g_hostid[6] = (g_hostid[6] & 0x0f) | 0x40;
	g_hostid[8] = (g_hostid[8] & 0x3f) | 0x80;
	snprintf(g.hostnqn, sizeof(g.hostnqn),
		 "nqn.2014-08.org.nvmexpress:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 g_hostid[0], g_hostid[1], g_hostid[2], g_hostid[3], g_hostid[4], g_hostid[5], g_hostid[6],
		 g_hostid[7], g_hostid[8], g_hostid[9], g_hostid[10], g_hostid[11], g_hostid[12], g_hostid[13],
		 g_hostid[14], g_hostid[15]);
	g_seed = (uint32_t)time(NULL);

	/* The target's parameters first: every later case needs them. */
	{
		struct ctrl k;
		char e[300];

		if (ctrl_admin_up(&k, e, sizeof(e), true)) {
			printf("nvmf_rdma_bb: cannot reach a working controller at %s:%s (%s): %s\n",
			       g.addr, g.port, g.subnqn, e);
			ctrl_close(&k);
			printf("SUMMARY pass=0 fail=1 xfail=0 skip=0\n");
			return 1;
		}
		ctrl_close(&k);
	}
	for (size_t i = 0; i < NCASES; i++) {
		if (!strcmp(g_cases[i].name, "pd_recfmt"))
			g_first_hostile = i;
	}
	for (size_t i = 0; i < NCASES; i++) {
		struct result r = { .v = V_FAIL, .why = "no verdict" };
		struct ctrl by;
		bool bystander;
		char e[300];
		const char *tag;
		uint64_t t0 = now_ms();

		if (only) {
			const char *p = strstr(only, g_cases[i].name);
			size_t n = strlen(g_cases[i].name);

			if (!p || (p != only && p[-1] != ',') || (p[n] && p[n] != ','))
				continue;
		}
		vlog("case %s starts (MemAvailable %ld kB)", g_cases[i].name, mem_available_kb());
		if (g_notrun[i]) {
			printf("CASE %s: SKIP - not run against this target: %s\n", g_cases[i].name, g_notrun[i]);
			nskip++;
			continue;
		}
		bystander = g_first_hostile && i >= g_first_hostile;
		if (bystander && (ctrl_up(&by, e, sizeof(e)) || write_read_check(&by.io, tgt.lba_size, false, e, sizeof(e)))) {
			printf("CASE %s: FAIL - a good controller could not be set up before the case: %s\n",
			       g_cases[i].name, e);
			ctrl_close(&by);
			nfail++;
			continue;
		}
		g_cases[i].fn(&r);
		/* A controller connected before the hostile case must still work:
		 * the target tears down only the bad association. */
		if (bystander) {
			if (r.v == V_PASS && write_read_check(&by.io, tgt.lba_size, false, e, sizeof(e))) {
				char m[400];

				snprintf(m, sizeof(m), "a bystander controller connected before the case failed: %s", e);
				fail_after(&r, m);
			}
			ctrl_close(&by);
		}
		if (r.v == V_SKIP) {
			tag = "SKIP";
			nskip++;
		} else if (g_xfail[i] && r.v == V_FAIL) {
			tag = "XFAIL";
			nxfail++;
		} else if (g_xfail[i]) {
			tag = "FAIL";
			nfail++;
		} else if (r.v == V_PASS) {
			tag = "PASS";
			npass++;
		} else {
			tag = "FAIL";
			nfail++;
		}
		printf("CASE %s: %s - %s%s%s%s (%.1f s)\n", g_cases[i].name, tag, r.why,
		       g_xfail[i] ? (r.v == V_FAIL ? " [known: " : " [XPASS: expected to fail: ") : "",
		       g_xfail[i] ? g_xfail[i] : "", g_xfail[i] ? "]" : "", (now_ms() - t0) / 1000.0);
	}
	printf("SUMMARY pass=%d fail=%d xfail=%d skip=%d\n", npass, nfail, nxfail, nskip);
	return nfail ? 1 : 0;
}

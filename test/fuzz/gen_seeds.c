/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Seed corpus for nvme_tcp_recv_fuzz: valid PDU streams made with the codec's
 * own builders. Each file is <mode byte> <seed byte> <stream>; see the
 * harness for the mode bits. Usage: gen_seeds <output dir>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey_internal/nvme_tcp_codec.h"

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "gen_seeds: %s failed\n", #c); \
			exit(1);                                          \
		}                                                         \
	} while (0)

static uint8_t stream[1 << 16];
static size_t slen;
static uint8_t data[4096];

static void
put(const struct osp_nvme_tcp_pdu *pdu)
{
	for (int i = 0; i < pdu->iovcnt; i++) {
		CHECK(slen + pdu->iov[i].iov_len <= sizeof(stream));
		memcpy(stream + slen, pdu->iov[i].iov_base, pdu->iov[i].iov_len);
		slen += pdu->iov[i].iov_len;
	}
}

static void
save(const char *dir, const char *name, const uint8_t *modes, int nmodes)
{
	char path[512];

	for (int m = 0; m < nmodes; m++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s_m%02x", dir, name, modes[m]);
		f = fopen(path, "wb");
		CHECK(f != NULL);
		fputc(modes[m], f);
		fputc(0x5a, f);
		CHECK(fwrite(stream, 1, slen, f) == slen);
		CHECK(fclose(f) == 0);
	}
	slen = 0;
}

/* Host -> target: ICReq, CapsuleCmd with in-capsule data, CapsuleCmd without,
 * H2CData (two PDUs), then an H2CTermReq. */
static void
target_stream(bool hd, bool dd)
{
	struct osp_nvme_tcp_send_params p = { .hdgst = hd, .ddgst = dd, .pda = 0 };
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct iovec iov[2];
	uint8_t err[24];

	CHECK(osp_nvme_tcp_build_ic_req(&pdu, 0, (hd ? 1 : 0) | (dd ? 2 : 0), 0) == 0);
	put(&pdu);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = 0x7f; /* Fabrics (Connect) with 1024 bytes of in-capsule data */
	cmd.cid = 1;
	iov[0].iov_base = data;
	iov[0].iov_len = 1024;
	CHECK(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, iov, 1) == 0);
	put(&pdu);
	cmd.opc = 0x06; /* Identify, no data */
	cmd.cid = 2;
	CHECK(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0) == 0);
	put(&pdu);
	cmd.opc = 0x01; /* Write; data follows in H2CData */
	cmd.cid = 3;
	CHECK(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0) == 0);
	put(&pdu);
	iov[0].iov_base = data;
	iov[0].iov_len = 300;
	iov[1].iov_base = data + 300;
	iov[1].iov_len = 212;
	CHECK(osp_nvme_tcp_build_h2c_data(&pdu, &p, 3, 7, 0, iov, 2, false) == 0);
	put(&pdu);
	CHECK(osp_nvme_tcp_build_h2c_data(&pdu, &p, 3, 7, 512, iov, 1, true) == 0);
	put(&pdu);
	memset(err, 0xab, sizeof(err));
	CHECK(osp_nvme_tcp_build_term_req(&pdu, OSP_NVME_TCP_ROLE_HOST, 1, 4, err, sizeof(err)) == 0);
	put(&pdu);
}

/* Target -> host: ICResp, R2T, CapsuleResp, C2HData (last+success), C2HTermReq. */
static void
host_stream(bool hd, bool dd)
{
	struct osp_nvme_tcp_send_params p = { .hdgst = hd, .ddgst = dd, .pda = 0 };
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cpl cpl;
	struct iovec iov[1];

	CHECK(osp_nvme_tcp_build_ic_resp(&pdu, 0, (hd ? 1 : 0) | (dd ? 2 : 0), 8192) == 0);
	put(&pdu);
	CHECK(osp_nvme_tcp_build_r2t(&pdu, &p, 3, 7, 0, 4096) == 0);
	put(&pdu);
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = 3;
	CHECK(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	put(&pdu);
	iov[0].iov_base = data;
	iov[0].iov_len = 700;
	CHECK(osp_nvme_tcp_build_c2h_data(&pdu, &p, 4, 0, iov, 1, false, false) == 0);
	put(&pdu);
	CHECK(osp_nvme_tcp_build_c2h_data(&pdu, &p, 4, 700, iov, 1, true, true) == 0);
	put(&pdu);
	CHECK(osp_nvme_tcp_build_term_req(&pdu, OSP_NVME_TCP_ROLE_TARGET, 2, 0, NULL, 0) == 0);
	put(&pdu);
}

int
main(int argc, char **argv)
{
	/* target modes: whole, split, zero-copy split, chaos split, short bufs */
	static const uint8_t tmodes[] = { 0x00, 0x02, 0x06, 0x4a, 0x82 };
	static const uint8_t hmodes[] = { 0x01, 0x03, 0x07, 0x4b, 0x83 };

	if (argc != 2) {
		fprintf(stderr, "usage: %s <dir>\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 31 + 7);
	}
	target_stream(true, true);
	save(argv[1], "target_dgst", tmodes, sizeof(tmodes));
	target_stream(false, false);
	save(argv[1], "target_nodgst", tmodes, 2);
	target_stream(true, false);
	save(argv[1], "target_hdgst", tmodes, 2);
	host_stream(true, true);
	save(argv[1], "host_dgst", hmodes, sizeof(hmodes));
	host_stream(false, false);
	save(argv[1], "host_nodgst", hmodes, 2);
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe/TCP PDU codec shared by the NVMe-oF TCP target (lib/nvmf) and the
 * NVMe/TCP host (lib/nvme): PDU builders and a validating receive state
 * machine over the wire formats of osprey/nvme_tcp_spec.h. Internal to
 * Osprey's libraries (not installed).
 *
 * The codec does no I/O: the receiver consumes bytes the caller read from
 * wherever (or tells the caller where to read them to, for zero copy), and
 * the builders produce an iovec list for the caller to write. See
 * doc/nvme_tcp.md. None of it is thread-safe: one receiver per connection,
 * used on the connection's thread.
 */
#ifndef OSPREY_INTERNAL_NVME_TCP_CODEC_H
#define OSPREY_INTERNAL_NVME_TCP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "osprey/nvme_tcp_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact HLEN for a PDU type, or 0 for an unknown type. */
uint8_t osp_nvme_tcp_pdu_hlen(uint8_t pdu_type);

/* Which end of the connection this codec instance is. */
enum osp_nvme_tcp_role {
	OSP_NVME_TCP_ROLE_TARGET = 0, /* controller: receives H2C PDUs */
	OSP_NVME_TCP_ROLE_HOST = 1,   /* host: receives C2H PDUs */
};

/* ---------------------------------------------------------------- builders */

/*
 * What the sender negotiated: digests on or off, and the PDA the peer asked
 * for (the target sends C2H PDUs aligned to the host's HPDA; the host sends
 * H2C PDUs aligned to the controller's CPDA).
 */
struct osp_nvme_tcp_send_params {
	bool hdgst;
	bool ddgst;
	uint8_t pda; /* 0..31 */
};

/* Data iovecs one PDU may reference; the caller splits larger transfers. */
#define OSP_NVME_TCP_PDU_MAX_DATA_IOV 32
/* header (+digest +padding), data iovecs, data digest */
#define OSP_NVME_TCP_PDU_MAX_IOV (OSP_NVME_TCP_PDU_MAX_DATA_IOV + 2)

/*
 * A PDU ready to send: pdu->iov[0..iovcnt) is what goes on the wire, plen
 * bytes in total. The header, header digest, padding and data digest live in
 * the struct; data iovecs point at the caller's memory, which must stay put
 * until the PDU is written. Data is digested when the PDU is built.
 */
struct osp_nvme_tcp_pdu {
	union {
		union osp_nvme_tcp_pdu_hdr hdr;
		uint8_t raw[256]; /* header, header digest and padding up to PDO (<= 255) */
	};
	uint8_t ddgst[OSP_NVME_TCP_DIGEST_LEN];
	int iovcnt;
	uint32_t plen;
	struct iovec iov[OSP_NVME_TCP_PDU_MAX_IOV];
};

/*
 * Builders. Each fills *pdu completely (no need to zero it first) and
 * returns 0, or -EINVAL for arguments that cannot make a valid PDU (PDA or
 * DGST out of range, too many iovecs, SUCCESS without LAST_PDU, data length
 * 0 where data is required or above UINT32_MAX). The multi-byte arguments
 * are host values; the builders store them little-endian.
 */
int osp_nvme_tcp_build_ic_req(struct osp_nvme_tcp_pdu *pdu, uint8_t hpda, uint8_t dgst,
			      uint32_t maxr2t);
int osp_nvme_tcp_build_ic_resp(struct osp_nvme_tcp_pdu *pdu, uint8_t cpda, uint8_t dgst,
			       uint32_t maxh2cdata);
/*
 * TermReq from sender (TARGET sends C2HTermReq, HOST sends H2CTermReq).
 * err_data is the header of the offending PDU (osp_nvme_tcp_recv_error()
 * gives it); at most 128 bytes are kept. fei as returned by the receiver.
 */
int osp_nvme_tcp_build_term_req(struct osp_nvme_tcp_pdu *pdu, enum osp_nvme_tcp_role sender,
				uint16_t fes, uint32_t fei, const void *err_data, size_t err_len);
/* CapsuleCmd with optional in-capsule data (iovcnt 0 for none). */
int osp_nvme_tcp_build_capsule_cmd(struct osp_nvme_tcp_pdu *pdu,
				   const struct osp_nvme_tcp_send_params *params,
				   const struct osp_nvme_cmd *cmd, const struct iovec *data, int iovcnt);
int osp_nvme_tcp_build_capsule_resp(struct osp_nvme_tcp_pdu *pdu,
				    const struct osp_nvme_tcp_send_params *params,
				    const struct osp_nvme_cpl *cpl);
int osp_nvme_tcp_build_h2c_data(struct osp_nvme_tcp_pdu *pdu,
				const struct osp_nvme_tcp_send_params *params, uint16_t cccid,
				uint16_t ttag, uint32_t datao, const struct iovec *data, int iovcnt,
				bool last);
int osp_nvme_tcp_build_c2h_data(struct osp_nvme_tcp_pdu *pdu,
				const struct osp_nvme_tcp_send_params *params, uint16_t cccid,
				uint32_t datao, const struct iovec *data, int iovcnt, bool last,
				bool success);
int osp_nvme_tcp_build_r2t(struct osp_nvme_tcp_pdu *pdu,
			   const struct osp_nvme_tcp_send_params *params, uint16_t cccid,
			   uint16_t ttag, uint32_t r2to, uint32_t r2tl);

/* ---------------------------------------------------------------- receiver */

struct osp_nvme_tcp_recv;

/*
 * Header of a PDU with data received and validated (header digest included).
 * Fill iov[0..*iovcnt) (at most *iovcnt entries, OSP_NVME_TCP_RECV_MAX_IOV on
 * entry) with where its data_len data bytes go, set *iovcnt, and return 0.
 * The iovecs may hold more than data_len; fewer is a "data transfer out of
 * range" fatal error (e.g. an H2CData beyond its R2T). Return -EAGAIN to
 * pause (no buffer now; the callback is asked again on the next feed or
 * next_iov call), or osp_nvme_tcp_recv_fail()'s value to end the connection
 * with a chosen FES/FEI (unknown TTAG, too many R2Ts, ...).
 * Not called for PDUs without data, nor for TermReq (their error data is
 * kept inside the header passed to the done callback).
 */
typedef int (*osp_nvme_tcp_recv_hdr_fn)(struct osp_nvme_tcp_recv *r, void *cb_arg,
					const union osp_nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
					struct iovec *iov, int *iovcnt);
/*
 * A whole PDU received. hdr is valid until the callback returns; for a
 * TermReq, data_len bytes of error data follow the 24-byte header in hdr->raw
 * (hdr then spans up to 152 bytes). ddgst_ok is false when the data digest
 * did not match: that is not fatal for the connection (TCP spec: the command
 * completes with Transient Transport Error), so the receiver goes on.
 * After an ICReq (target) or ICResp (host) the callback must call
 * osp_nvme_tcp_recv_set_params(), or the receiver consumes nothing more until
 * it is called. After a TermReq the receiver accepts nothing more.
 * Return 0, -EAGAIN to pause after this PDU, or another negative value to
 * make the receiver fail with it.
 */
typedef int (*osp_nvme_tcp_recv_done_fn)(struct osp_nvme_tcp_recv *r, void *cb_arg,
					 const union osp_nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
					 bool ddgst_ok);

struct osp_nvme_tcp_recv_opts {
	enum osp_nvme_tcp_role role;
	/* Target: largest in-capsule data accepted (IOCCSZ * 16 - 64; the admin
	 * queue needs at least the 1024-byte Connect data). */
	uint32_t max_icd;
	/* Target: the MAXH2CDATA it advertised in its ICResp. */
	uint32_t maxh2cdata;
	/* Host: largest DATAL accepted in one C2HData PDU. */
	uint32_t max_c2h_data;
	osp_nvme_tcp_recv_hdr_fn hdr_fn;
	osp_nvme_tcp_recv_done_fn done_fn;
	void *cb_arg;
};

#define OSP_NVME_TCP_RECV_MAX_IOV 32
/* header buffer: a TermReq with error data is the largest thing kept whole */
#define OSP_NVME_TCP_RECV_HDR_BUF OSP_NVME_TCP_TERM_REQ_PLEN_MAX

/* Receiver state for one connection. Embed it; fields are private. */
struct osp_nvme_tcp_recv {
	struct osp_nvme_tcp_recv_opts opts;
	/* negotiated */
	bool hdgst;
	bool ddgst;
	uint32_t pda_align;
	/* progress */
	int state;
	bool ic_done; /* the IC PDU has been received */
	uint32_t got;	    /* bytes received in the current region */
	uint32_t hdr_total; /* header region: hlen + header digest (plen for TermReq) */
	uint32_t pad_len;
	uint32_t data_len;
	bool has_ddgst;
	int iovcnt;
	int iov_idx;
	size_t iov_off;
	uint32_t crc;
	int err;
	uint16_t fes;
	uint32_t fei;
	uint32_t err_hdr_len;
	union {
		union osp_nvme_tcp_pdu_hdr hdr;
		uint8_t raw[OSP_NVME_TCP_RECV_HDR_BUF + 8];
	} buf;
	uint8_t ddgst_buf[OSP_NVME_TCP_DIGEST_LEN];
	uint8_t pad_scratch[256];
	struct iovec iov[OSP_NVME_TCP_RECV_MAX_IOV];
};

/*
 * Set up a receiver. Until the IC exchange completes, no digests are
 * expected and only the IC PDU (ICReq for a target, ICResp for a host) or a
 * TermReq is accepted. Returns 0 or -EINVAL (missing callbacks, bad role).
 */
int osp_nvme_tcp_recv_init(struct osp_nvme_tcp_recv *r, const struct osp_nvme_tcp_recv_opts *opts);

/*
 * Apply the IC exchange's outcome: whether PDUs from the peer carry header
 * and data digests, and the PDA this end asked for (target: the CPDA it sent
 * in ICResp; host: the HPDA it sent in ICReq). Call it from the done
 * callback of the ICReq/ICResp, or later. -EINVAL if pda > 31 or the
 * receiver is not waiting for it.
 */
int osp_nvme_tcp_recv_set_params(struct osp_nvme_tcp_recv *r, bool hdgst, bool ddgst, uint8_t pda);

/* Change the data limits (e.g. after Connect tells an admin from an I/O queue). */
void osp_nvme_tcp_recv_set_limits(struct osp_nvme_tcp_recv *r, uint32_t max_icd,
				  uint32_t maxh2cdata, uint32_t max_c2h_data);

/*
 * Consume up to len bytes from the stream, in any split. Callbacks run from
 * inside. Returns the number of bytes consumed, fewer than len only when a
 * callback paused (-EAGAIN) or the receiver waits for set_params; call
 * again with the rest (len 0 is fine to resume). On a protocol violation
 * returns -EPROTO: osp_nvme_tcp_recv_error() gives the FES and FEI for the
 * TermReq to send, and the receiver stays failed. Bytes after a received
 * TermReq give -ESHUTDOWN. A callback's own error is returned as is.
 */
ssize_t osp_nvme_tcp_recv_feed(struct osp_nvme_tcp_recv *r, const void *buf, size_t len);

/*
 * Zero-copy alternative to feed: where the next bytes of the stream belong
 * (never past the end of the current PDU region: header, padding, data, data
 * digest). Returns the number of iovecs filled (at most max), 0 when paused,
 * or a negative error as feed. Data regions point straight at the caller's
 * buffers, so readv() into them avoids a copy.
 */
int osp_nvme_tcp_recv_next_iov(struct osp_nvme_tcp_recv *r, struct iovec *iov, int max);
/* n bytes were written where next_iov said (n <= their total). Runs callbacks;
 * returns 0 or a negative error as feed. */
int osp_nvme_tcp_recv_commit(struct osp_nvme_tcp_recv *r, size_t n);
/*
 * True when the receiver waits for the first byte of a PDU (nothing of the
 * next one received, not paused, not failed): next_iov would ask for the
 * 8-byte common header, so a caller that reads into its own buffer may skip
 * asking (an idle poll's cost).
 */
bool osp_nvme_tcp_recv_at_pdu_start(const struct osp_nvme_tcp_recv *r);

/*
 * For a callback to end the connection with a fatal error it found (unknown
 * TTAG, R2T limit, ...): records fes/fei and returns -EPROTO for the callback
 * to return.
 */
int osp_nvme_tcp_recv_fail(struct osp_nvme_tcp_recv *r, uint16_t fes, uint32_t fei);

/*
 * After -EPROTO: the FES and FEI to send in a TermReq, and the header bytes
 * received of the offending PDU (for the TermReq's error data; *hdr_len may
 * be less than HLEN if the error was found in the common header). Returns
 * 0, or -ENOENT when the receiver has not failed with a protocol error.
 */
int osp_nvme_tcp_recv_error(const struct osp_nvme_tcp_recv *r, uint16_t *fes, uint32_t *fei,
			    const void **hdr, size_t *hdr_len);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_INTERNAL_NVME_TCP_CODEC_H */

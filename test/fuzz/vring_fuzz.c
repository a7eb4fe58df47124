/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the virtqueue layer (lib/vhost/vring.c, mem.c):
 * random ring contents over a fixed guest memory table of three regions
 * (R0 and R1 adjacent, a gap, R2), each its own exact-size allocation so that
 * ASan reports any access outside them. The harness pops chains, reads every
 * device-readable byte and writes every device-writable byte the library hands
 * out, pushes them back and asks for notification decisions.
 *
 * Input: an 8-byte header, then the bytes of R0, R1 and R2 in order.
 *   [0] bit 0 packed, bit 1 INDIRECT_DESC, bit 2 EVENT_IDX, bit 3 use pop_burst
 *   [1] queue size: split 1 << (b % 9), packed 1 + b
 *   [2..3] last_avail, [4..5] used index at start, [6] pops (0..63),
 *   [7] bit 0: track in flight in an inflight region of exactly the ring size
 *       (split: zeroed; packed: the bytes of R1 taken as a region left by a
 *       previous back end, run through the reconnect steps and resumed from,
 *       its chains in flight resubmitted, else initialised); bits 1-7:
 *       resubmissions (osp_vring_pop_head) of heads made from the header
 *       bytes, in range or not, before the pops
 * Descriptor-sized slots of R0 and R2 whose address has bit 63 clear get the
 * address masked to 17 bits, so most land in or near guest memory.
 *
 * Built with -DVRING_FUZZ_GEN_SEEDS it instead writes seed inputs (valid
 * split and packed chains, direct and indirect) into the directory given.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/vhost_ring.h"
#include "vhost/virtio_ring_spec.h"

#define R0_GPA	0x0ull
#define R0_SIZE	0x4000u
#define R1_GPA	0x4000ull
#define R1_SIZE	0x2000u
#define R2_GPA	0x10000ull
#define R2_SIZE	0x1000u
#define HDR	8u

#define RING_DESC	0x0000u
#define RING_DRV	0x2000u
#define RING_DEV	0x3000u

static void __attribute__((unused))
mask_addrs(uint8_t *p, size_t len)
{
	size_t off;

	for (off = 0; off + 16 <= len; off += 16) {
		uint64_t a;

		memcpy(&a, p + off, 8);
		if ((a >> 63) == 0) {
			a &= 0x1ffff;
			memcpy(p + off, &a, 8);
		}
	}
}

#ifndef VRING_FUZZ_GEN_SEEDS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct osp_vhost_mem_region r[3];
	struct osp_vhost_mem mem;
	struct osp_vring vq;
	struct iovec iov[4][16];
	struct osp_vring_req reqs[4];
	uint8_t *r0, *r1, *r2;
	uint64_t features = 0;
	uint16_t qsize, last_avail, used;
	size_t off;
	int rc, i, k, npop, popped = 0;
	volatile uint8_t sink = 0;
	struct osp_vring_inflight_split *inflight = NULL;
	struct osp_vring_inflight_packed *pin = NULL;
	struct osp_vring_resubmit rs[256];

	if (size < HDR) {
		return 0;
	}
	r0 = calloc(1, R0_SIZE);
	r1 = calloc(1, R1_SIZE);
	r2 = calloc(1, R2_SIZE);
	if (r0 == NULL || r1 == NULL || r2 == NULL) {
		abort();
	}
	off = HDR;
	memcpy(r0, data + off, size - off < R0_SIZE ? size - off : R0_SIZE);
	off += size - off < R0_SIZE ? size - off : R0_SIZE;
	memcpy(r1, data + off, size - off < R1_SIZE ? size - off : R1_SIZE);
	off += size - off < R1_SIZE ? size - off : R1_SIZE;
	memcpy(r2, data + off, size - off < R2_SIZE ? size - off : R2_SIZE);
	mask_addrs(r0, RING_DRV);	/* the descriptor table area only */
	mask_addrs(r2, R2_SIZE);

	r[0] = (struct osp_vhost_mem_region){ R0_GPA, R0_SIZE, r0 };
	r[1] = (struct osp_vhost_mem_region){ R1_GPA, R1_SIZE, r1 };
	r[2] = (struct osp_vhost_mem_region){ R2_GPA, R2_SIZE, r2 };
	if (osp_vhost_mem_init(&mem, r, 3) != 0) {
		abort();
	}
	if (data[0] & 2) {
		features |= 1ull << OSP_VIRTIO_F_INDIRECT_DESC;
	}
	if (data[0] & 4) {
		features |= 1ull << OSP_VIRTIO_F_EVENT_IDX;
	}
	last_avail = (uint16_t)(data[2] | (data[3] << 8));
	used = (uint16_t)(data[4] | (data[5] << 8));
	if (data[0] & 1) {
		qsize = (uint16_t)(1 + data[1]);
		last_avail = (uint16_t)((last_avail & 0x8000) | ((last_avail & 0x7fff) % qsize));
		used = (uint16_t)((used & 0x8000) | ((used & 0x7fff) % qsize));
		rc = osp_vring_init_packed(&vq, &mem, qsize, r0 + RING_DESC, r0 + RING_DRV,
					   r0 + RING_DEV, features, last_avail, used);
	} else {
		qsize = (uint16_t)(1u << (data[1] % 9));
		rc = osp_vring_init_split(&vq, &mem, qsize, r0 + RING_DESC, r0 + RING_DRV,
					  r0 + RING_DEV, features, last_avail, used);
	}
	if (rc != 0) {
		abort();
	}
	for (i = 0; i < 4; i++) {
		reqs[i] = (struct osp_vring_req){ .iov = iov[i], .iov_max = 16 };
	}
	if ((data[7] & 1) && !vq.packed) {
		inflight = calloc(1, sizeof(*inflight) + (size_t)qsize * sizeof(inflight->desc[0]));
		if (inflight == NULL || osp_vring_set_inflight(&vq, inflight, qsize, 7) != 0) {
			abort();
		}
	}
	if ((data[7] & 1) && vq.packed) {
		/* Exactly the region's size: ASan reports any access past it. */
		size_t psz = (size_t)OSP_VRING_INFLIGHT_PACKED_SIZE(qsize);

		pin = malloc(psz);
		if (pin == NULL) {
			abort();
		}
		memcpy(pin, r1, psz < R1_SIZE ? psz : R1_SIZE);
		if (psz > R1_SIZE) {
			memset((uint8_t *)pin + R1_SIZE, 0, psz - R1_SIZE);
		}
		if (osp_vring_inflight_packed_recover(pin, qsize, r0 + RING_DESC, qsize) != 0) {
			abort();
		}
		rc = osp_vring_set_inflight_packed(&vq, pin, qsize, true, rs, qsize);
		if (rc < 0 && (rc != -EBADMSG ||
			       osp_vring_set_inflight_packed(&vq, pin, qsize, false, NULL, 0) != 0)) {
			abort();
		}
		for (k = 0; k < rc; k++) {
			int prc = osp_vring_pop_head(&vq, rs[k].slot, &reqs[0]);

			if (prc == 1) {
				osp_vring_push(&vq, &reqs[0], 0);
			} else if (prc != -EINVAL && prc != -EIO && prc != -ENOTSUP) {
				abort();
			}
		}
	}
	for (i = 0; i < (data[7] >> 1); i++) {
		uint16_t head = (uint16_t)(data[2 + i % 5] * 257u + (unsigned)i * 13u);

		rc = osp_vring_pop_head(&vq, head, &reqs[0]);
		if (vq.packed ? (vq.pinflight == NULL ? rc != -ENOTSUP && rc != -EIO :
				 rc != 1 && rc != -EINVAL && rc != -EIO) :
		    (head >= qsize ? rc != -EINVAL && rc != -EIO : rc != 1 && rc != -EIO)) {
			abort();
		}
		if (rc == 1 && vq.packed) {
			osp_vring_push(&vq, &reqs[0], 0);
			continue;
		}
		if (rc == 1) {
			if (reqs[0].id != head || (inflight != NULL && inflight->desc[head].inflight != 1)) {
				abort();
			}
			osp_vring_push(&vq, &reqs[0], 0);
			if (inflight != NULL && (inflight->desc[head].inflight != 0 ||
						 inflight->last_batch_head != head)) {
				abort();
			}
		}
	}
	npop = data[6] & 63;
	while (popped < npop) {
		int n;

		if (data[0] & 8) {
			n = osp_vring_pop_burst(&vq, reqs, 4);
		} else {
			n = osp_vring_pop(&vq, &reqs[0]);
		}
		if (n <= 0) {
			break;
		}
		for (i = 0; i < n; i++) {
			struct osp_vring_req *q = &reqs[i];
			uint64_t out = 0, in = 0;

			if (q->error == 0) {
				if (q->out_cnt + q->in_cnt > q->iov_max) {
					abort();
				}
				for (k = 0; k < q->out_cnt; k++) {
					const uint8_t *b = q->iov[k].iov_base;
					size_t j;

					for (j = 0; j < q->iov[k].iov_len; j++) {
						sink ^= b[j];
					}
					out += q->iov[k].iov_len;
				}
				for (k = q->out_cnt; k < q->out_cnt + q->in_cnt; k++) {
					memset(q->iov[k].iov_base, 0x5a, q->iov[k].iov_len);
					in += q->iov[k].iov_len;
				}
				if (out != q->out_len || in != q->in_len) {
					abort();
				}
			}
#ifdef VRING_FUZZ_VERBOSE
			fprintf(stderr, "id %u error %d out %u/%u in %u/%u\n", q->id, q->error,
				q->out_cnt, q->out_len, q->in_cnt, q->in_len);
#endif
			osp_vring_push(&vq, q, q->error == 0 ? q->in_len : 0);
			popped++;
		}
		(void)osp_vring_need_notify(&vq);
	}
	(void)osp_vring_set_kick(&vq, true);
	(void)osp_vring_set_kick(&vq, false);
	(void)osp_vring_has_avail(&vq);
	(void)sink;
	free(inflight);
	free(pin);
	free(r0);
	free(r1);
	free(r2);
	return 0;
}

#else /* VRING_FUZZ_GEN_SEEDS */

static uint8_t g_in[HDR + R0_SIZE + R1_SIZE + R2_SIZE];

static void
write_seed(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(g_in, 1, sizeof(g_in), f) != sizeof(g_in) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void *
r0(uint32_t off)
{
	return g_in + HDR + off;
}

static void *
r2(uint32_t off)
{
	return g_in + HDR + R0_SIZE + R1_SIZE + off;
}

int
main(int argc, char **argv)
{
	struct virtq_desc *sd = r0(RING_DESC), *st = r2(0);
	struct virtq_avail *av = r0(RING_DRV);
	struct pvirtq_desc *pd = r0(RING_DESC), *pt = r2(0);

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	/* Split, 16 entries, indirect + event idx: a 3-descriptor blk chain over R0/R1, then an indirect one. */
	memset(g_in, 0, sizeof(g_in));
	g_in[0] = 2 | 4;
	g_in[1] = 4;
	g_in[6] = 8;
	sd[0] = (struct virtq_desc){ 0x3800, 16, VIRTQ_DESC_F_NEXT, 1 };
	sd[1] = (struct virtq_desc){ 0x3f00, 0x200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	sd[2] = (struct virtq_desc){ 0x10010, 1, VIRTQ_DESC_F_WRITE, 0 };
	sd[3] = (struct virtq_desc){ 0x10100, 48, VIRTQ_DESC_F_INDIRECT, 0 };
	st[16] = (struct virtq_desc){ 0x3800, 16, VIRTQ_DESC_F_NEXT, 1 };
	st[17] = (struct virtq_desc){ 0x4100, 0x100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	st[18] = (struct virtq_desc){ 0x10020, 1, VIRTQ_DESC_F_WRITE, 0 };
	av->idx = 2;
	av->ring[0] = 0;
	av->ring[1] = 3;
	write_seed(argv[1], "split_blk_indirect");
	g_in[0] |= 8;
	write_seed(argv[1], "split_blk_indirect_burst");

	/* Packed, 8 entries, indirect + event idx: the same two requests. */
	memset(g_in, 0, sizeof(g_in));
	g_in[0] = 1 | 2 | 4;
	g_in[1] = 7;
	g_in[3] = 0x80;
	g_in[5] = 0x80;
	g_in[6] = 8;
	pd[0] = (struct pvirtq_desc){ 0x3800, 16, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_AVAIL };
	pd[1] = (struct pvirtq_desc){ 0x3f00, 0x200, 0,
				      VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_AVAIL };
	pd[2] = (struct pvirtq_desc){ 0x10010, 1, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_AVAIL };
	pd[3] = (struct pvirtq_desc){ 0x10100, 48, 5, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_AVAIL };
	pt[16] = (struct pvirtq_desc){ 0x3800, 16, 0, 0 };
	pt[17] = (struct pvirtq_desc){ 0x4100, 0x100, 0, VIRTQ_DESC_F_WRITE };
	pt[18] = (struct pvirtq_desc){ 0x10020, 1, 0, VIRTQ_DESC_F_WRITE };
	write_seed(argv[1], "packed_blk_indirect");
	g_in[0] |= 8;
	write_seed(argv[1], "packed_blk_indirect_burst");
	return 0;
}

#endif

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk requests (virtio 1.x section 5.2.6) over bdev I/O. A chain is
 * header (16 bytes, device-readable) / data / status (1 byte, device-writable);
 * the data iovecs point straight into guest memory (zero copy). Everything in
 * the chain is guest-controlled: lengths and sectors are checked before any
 * bdev call, and a bad request completes with IOERR or UNSUPP.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include "osprey/bdev.h"
#include "osprey/log.h"

#include "vhost_internal.h"

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct vblk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

void
vhost_blk_fill_config(struct vhost_ctrlr *ctrlr, struct osp_bdev *bdev, bool discard,
		      bool write_zeroes)
{
	uint8_t *c = ctrlr->config;

	ctrlr->config_len = VBLK_CONFIG_LEN;
	uint32_t bs = osp_bdev_get_block_size(bdev);
	uint64_t sectors = osp_bdev_get_num_blocks(bdev) * (bs / 512);
	uint32_t max_sectors = UINT32_MAX;

	memset(c, 0, VBLK_CONFIG_LEN);
	put_le64(c + 0, sectors);
	put_le32(c + 8, VHOST_BLK_SIZE_MAX);
	put_le32(c + 12, VHOST_BLK_SEG_MAX);
	put_le32(c + 20, bs);
	put_le16(c + 34, VHOST_MAX_QUEUES);
	/* One segment per request, as large as a 32-bit sector count allows, block aligned. */
	max_sectors -= max_sectors % (bs / 512);
	if (discard) {
		put_le32(c + 36, max_sectors);
		put_le32(c + 40, 1);
		put_le32(c + 44, bs / 512);
	}
	if (write_zeroes) {
		put_le32(c + 48, max_sectors);
		put_le32(c + 52, 1);
	}
}

size_t
vhost_iov_gather(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done) {
			l = len - done;
		}
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, l);
		done += l;
		skip = 0;
	}
	return done;
}

int
vhost_iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t len, struct iovec *out,
		int out_max)
{
	int n = 0;

	for (int i = 0; i < cnt && len > 0; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len) {
			l = len;
		}
		if (n == out_max) {
			return -1;
		}
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l;
		n++;
		len -= l;
		skip = 0;
	}
	return len == 0 ? n : -1;
}

void
vhost_blk_task_finish(struct vhost_blk_task *task, uint8_t status)
{
	if (task->status != NULL) {
		*task->status = status;
	}
	if (status != VBLK_S_OK) {
		task->base.q->pg->stat_errors++;
	}
	vhost_task_complete(&task->base, task->status != NULL ? task->used_len : 0);
}

static void
bdev_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct vhost_blk_task *task = cb_arg;
	struct vhost_pg *pg = task->base.q->pg;
	struct vhost_blk_pg *bp = pg->be_ch;

	osp_bdev_free_io(bdev_io);
	bp->ios--;
	/*
	 * Before the task goes back: the last task of a stopping poll group
	 * ends the stop, which frees bp.
	 */
	if (bp->release && bp->ios == 0) {
		vhost_blk_pg_release(pg);
	}
	vhost_blk_task_finish(task, success ? VBLK_S_OK : VBLK_S_IOERR);
}

/* Check a byte range in 512-byte sectors against the bdev; block numbers out. */
static bool
range_ok(const struct vhost_blk_dev *ctrlr, uint64_t sector, uint64_t bytes, uint64_t *lba,
	 uint64_t *nblocks)
{
	uint64_t spb = ctrlr->block_size / 512;
	/* A resize stores it on the app thread. */
	uint64_t num_blocks = __atomic_load_n(&ctrlr->num_blocks, __ATOMIC_RELAXED);

	if (sector % spb != 0 || bytes % ctrlr->block_size != 0 || bytes == 0) {
		return false;
	}
	*lba = sector / spb;
	*nblocks = bytes / ctrlr->block_size;
	return *lba < num_blocks && *nblocks <= num_blocks - *lba;
}

void
vhost_blk_task_start(struct vhost_ctrlr *vc, struct vhost_task *vtask)
{
	struct vhost_blk_dev *ctrlr = vc->be;
	/* The poll group's thread's channel: the task runs and completes there. */
	struct vhost_blk_pg *bp = vtask->q->pg->be_ch;
	struct vhost_blk_task *task = (struct vhost_blk_task *)vtask;
	struct osp_vring_req *req = &vtask->req;
	struct iovec *in = vtask->iov + req->out_cnt;
	struct vblk_hdr hdr;
	struct vblk_seg seg;
	uint64_t lba, nblocks;
	uint32_t data_len;
	int n, rc;

	vtask->q->pg->stat_requests++;
	task->status = NULL;
	task->used_len = 0;
	if (req->error != 0 || req->in_cnt == 0 || req->in_len == 0) {
		/* No status byte we can trust: give the chain back with nothing written. */
		vhost_blk_task_finish(task, VBLK_S_IOERR);
		return;
	}
	/* The status byte is the last writable byte. */
	task->status = (uint8_t *)in[req->in_cnt - 1].iov_base + in[req->in_cnt - 1].iov_len - 1;
	task->used_len = 1;
	if (vhost_iov_gather(task->base.iov, req->out_cnt, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		vhost_blk_task_finish(task, VBLK_S_IOERR);
		return;
	}
	if (__atomic_load_n(&ctrlr->removed, __ATOMIC_ACQUIRE) || bp == NULL || bp->ch == NULL) {
		/* Hot removed: the controller stays, its requests fail. */
		vhost_blk_task_finish(task, VBLK_S_IOERR);
		return;
	}
	/* bp->ios counts each bdev call from before it is made until bdev_done. */
	switch (hdr.type) {
	case VBLK_T_IN:
		data_len = req->in_len - 1;
		if (req->out_len != sizeof(hdr) || !range_ok(ctrlr, hdr.sector, data_len, &lba, &nblocks)) {
			break;
		}
		n = vhost_iov_slice(in, req->in_cnt, 0, data_len, task->data, VHOST_IOV_MAX);
		if (n < 0) {
			break;
		}
		task->used_len = req->in_len;
		bp->ios++;
		rc = osp_bdev_readv_blocks(ctrlr->desc, bp->ch, task->data, n, lba, nblocks,
					   bdev_done, task);
		if (rc == 0) {
			return;
		}
		bp->ios--;
		task->used_len = 1;
		break;
	case VBLK_T_OUT:
		if (ctrlr->readonly || req->in_len != 1) {
			break;
		}
		data_len = req->out_len - (uint32_t)sizeof(hdr);
		if (!range_ok(ctrlr, hdr.sector, data_len, &lba, &nblocks)) {
			break;
		}
		n = vhost_iov_slice(task->base.iov, req->out_cnt, sizeof(hdr), data_len, task->data,
				    VHOST_IOV_MAX);
		if (n < 0) {
			break;
		}
		bp->ios++;
		rc = osp_bdev_writev_blocks(ctrlr->desc, bp->ch, task->data, n, lba, nblocks,
					    bdev_done, task);
		if (rc == 0) {
			return;
		}
		bp->ios--;
		break;
	case VBLK_T_FLUSH:
		if (ctrlr->readonly) {
			break;
		}
		if (!osp_bdev_io_type_supported(ctrlr->bdev, OSP_BDEV_IO_TYPE_FLUSH)) {
			vhost_blk_task_finish(task, VBLK_S_OK);
			return;
		}
		bp->ios++;
		rc = osp_bdev_flush_blocks(ctrlr->desc, bp->ch, 0,
					   __atomic_load_n(&ctrlr->num_blocks, __ATOMIC_RELAXED),
					   bdev_done, task);
		if (rc == 0) {
			return;
		}
		bp->ios--;
		break;
	case VBLK_T_GET_ID: {
		char id[VBLK_ID_BYTES] = {};
		size_t len = strlen(ctrlr->bdev_name);

		memcpy(id, ctrlr->bdev_name, len < sizeof(id) ? len : sizeof(id));
		data_len = req->in_len - 1;
		n = vhost_iov_slice(in, req->in_cnt, 0, data_len < sizeof(id) ? data_len : sizeof(id),
				    task->data, VHOST_IOV_MAX);
		if (n < 0) {
			break;
		}
		for (int i = 0, off = 0; i < n; off += (int)task->data[i].iov_len, i++) {
			memcpy(task->data[i].iov_base, id + off, task->data[i].iov_len);
		}
		task->used_len = req->in_len;
		vhost_blk_task_finish(task, VBLK_S_OK);
		return;
	}
	case VBLK_T_DISCARD:
	case VBLK_T_WRITE_ZEROES: {
		bool dis = hdr.type == VBLK_T_DISCARD;
		uint64_t fbit = dis ? VBLK_F_DISCARD : VBLK_F_WRITE_ZEROES;

		if (!(vc->features & (1ull << fbit))) {
			vhost_blk_task_finish(task, VBLK_S_UNSUPP);
			return;
		}
		if (ctrlr->readonly || req->in_len != 1 || req->out_len != sizeof(hdr) + sizeof(seg) ||
		    vhost_iov_gather(task->base.iov, req->out_cnt, sizeof(hdr), &seg, sizeof(seg)) != sizeof(seg)) {
			break;
		}
		if (dis && (seg.flags & 1u) != 0) {
			/* virtio 1.x 5.2.6.2: the unmap flag on a DISCARD is UNSUPP. */
			vhost_blk_task_finish(task, VBLK_S_UNSUPP);
			return;
		}
		if ((seg.flags & ~1u) != 0 ||
		    !range_ok(ctrlr, seg.sector, (uint64_t)seg.num_sectors * 512, &lba, &nblocks)) {
			break;
		}
		bp->ios++;
		rc = dis ? osp_bdev_unmap_blocks(ctrlr->desc, bp->ch, lba, nblocks, bdev_done, task) :
		     osp_bdev_write_zeroes_blocks(ctrlr->desc, bp->ch, lba, nblocks, bdev_done, task);
		if (rc == 0) {
			return;
		}
		bp->ios--;
		break;
	}
	default:
		vhost_blk_task_finish(task, VBLK_S_UNSUPP);
		return;
	}
	vhost_blk_task_finish(task, VBLK_S_IOERR);
}

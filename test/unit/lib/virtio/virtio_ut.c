/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/virtio: vhost-user message encode/decode, the driver-side
 * split virtqueue against a device simulated in the test (including a device
 * that lies in its used ring), and the connection set-up against a fake
 * vhost-user back end on a real Unix socket (GET_CONFIG size, malformed
 * replies, a back end that hangs up).
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/virtq.c"
#include "virtio/vhost_user.c"
#include "ut_run.h"

/* ---- messages ---- */

static void
test_msg_encode(void)
{
	struct osp_vu_msg msg;
	uint64_t v = 0x1234;
	uint8_t big[sizeof(msg.payload) + 1] = {0};

	CU_ASSERT_EQUAL(osp_vu_msg_encode(&msg, OSP_VU_SET_FEATURES, false, &v, sizeof(v)), 20);
	CU_ASSERT_EQUAL(msg.hdr.request, OSP_VU_SET_FEATURES);
	CU_ASSERT_EQUAL(msg.hdr.flags, OSP_VU_FLAG_VERSION);
	CU_ASSERT_EQUAL(msg.hdr.size, 8);
	CU_ASSERT_EQUAL(msg.payload.u64, 0x1234);
	CU_ASSERT_EQUAL(osp_vu_msg_encode(&msg, OSP_VU_SET_OWNER, true, NULL, 0), 12);
	CU_ASSERT_EQUAL(msg.hdr.flags, OSP_VU_FLAG_VERSION | OSP_VU_FLAG_NEED_REPLY);
	CU_ASSERT_EQUAL(osp_vu_msg_encode(&msg, OSP_VU_GET_CONFIG, false, big, sizeof(big)), -EINVAL);
	CU_ASSERT_EQUAL(osp_vu_msg_encode(&msg, OSP_VU_GET_CONFIG, false, NULL, 4), -EINVAL);
	CU_ASSERT_EQUAL(sizeof(struct osp_vu_vring_addr), 40);
	CU_ASSERT_EQUAL(offsetof(struct osp_vu_msg, payload), 12);
}

static void
test_msg_check_reply(void)
{
	struct osp_vu_msg m = {};

	m.hdr.request = OSP_VU_GET_FEATURES;
	m.hdr.flags = OSP_VU_FLAG_VERSION | OSP_VU_FLAG_REPLY;
	m.hdr.size = 8;
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_FEATURES, 8), 0);
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_FEATURES, 0), 0);
	/* wrong request, length, expected size, flags, version */
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_PROTOCOL_FEATURES, 8), -EPROTO);
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 19, OSP_VU_GET_FEATURES, 8), -EPROTO);
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 11, OSP_VU_GET_FEATURES, 8), -EPROTO);
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_FEATURES, 4), -EPROTO);
	m.hdr.flags = OSP_VU_FLAG_VERSION;
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_FEATURES, 8), -EPROTO);
	m.hdr.flags = 2 | OSP_VU_FLAG_REPLY;
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 20, OSP_VU_GET_FEATURES, 8), -EPROTO);
	m.hdr.flags = OSP_VU_FLAG_VERSION | OSP_VU_FLAG_REPLY;
	m.hdr.size = sizeof(m.payload) + 1;
	CU_ASSERT_EQUAL(osp_vu_msg_check_reply(&m, 12 + m.hdr.size, OSP_VU_GET_FEATURES, 0), -EPROTO);

	/* GET_CONFIG: header echoes the request, payload exactly size bytes */
	m.hdr.request = OSP_VU_GET_CONFIG;
	m.hdr.size = OSP_VU_CONFIG_HDR_SIZE + 60;
	m.payload.config.offset = 0;
	m.payload.config.size = 60;
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 0, 60), 0);
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 0, 36), -EPROTO);
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 4, 60), -EPROTO);
	m.payload.config.size = 36;
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 0, 60), -EPROTO);
	m.hdr.size = 0;
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 0, 60), -ENOTSUP);
	m.hdr.size = OSP_VU_CONFIG_HDR_SIZE + 300;
	m.payload.config.size = 300;
	CU_ASSERT_EQUAL(osp_vu_msg_check_config_reply(&m, 0, 300), -EPROTO);
}

/* ---- split virtqueue ---- */

#define QSZ 8

struct vq_env {
	struct osp_virtq vq;
	void *ring;
	uint16_t meta[2 * QSZ];
	void *cookies[QSZ];
	uint16_t dev_last_avail;
};

static void
vq_env_init(struct vq_env *e)
{
	memset(e, 0, sizeof(*e));
	CU_ASSERT_EQUAL(posix_memalign(&e->ring, 4096, osp_virtq_ring_size(QSZ)), 0);
	CU_ASSERT_EQUAL(osp_virtq_init(&e->vq, QSZ, e->ring, e->meta, e->cookies), 0);
}

/* The simulated device: take the next available chain, walk it, complete it. */
static int
dev_complete_one(struct vq_env *e, uint32_t written)
{
	uint16_t head, idx, n = 0;

	if (e->dev_last_avail == e->vq.avail->idx) {
		return -1;
	}
	head = e->vq.avail->ring[e->dev_last_avail % QSZ];
	idx = head;
	while (e->vq.desc[idx].flags & OSP_VIRTQ_DESC_F_NEXT) {
		idx = e->vq.desc[idx].next;
		if (++n > QSZ) {
			return -1;
		}
	}
	e->dev_last_avail++;
	e->vq.used->ring[e->vq.used->idx % QSZ].id = head;
	e->vq.used->ring[e->vq.used->idx % QSZ].len = written;
	e->vq.used->idx++;
	return n + 1;
}

static void
test_virtq_layout(void)
{
	struct osp_virtq vq;
	uint16_t meta[2 * QSZ];
	void *cookies[QSZ];
	void *ring = NULL;

	CU_ASSERT_EQUAL(osp_virtq_ring_size(QSZ), 3 * 4096);
	CU_ASSERT_EQUAL(posix_memalign(&ring, 4096, osp_virtq_ring_size(256)), 0);
	CU_ASSERT_EQUAL(osp_virtq_init(&vq, 6, ring, meta, cookies), -EINVAL);
	CU_ASSERT_EQUAL(osp_virtq_init(&vq, 0, ring, meta, cookies), -EINVAL);
	CU_ASSERT_EQUAL(osp_virtq_init(&vq, QSZ, (uint8_t *)ring + 8, meta, cookies), -EINVAL);
	CU_ASSERT_EQUAL(osp_virtq_init(&vq, QSZ, ring, meta, cookies), 0);
	CU_ASSERT_EQUAL((uint8_t *)vq.avail - (uint8_t *)ring, 4096);
	CU_ASSERT_EQUAL((uint8_t *)vq.used - (uint8_t *)ring, 8192);
	free(ring);
}

static void
test_virtq_post_reap(void)
{
	struct vq_env e;
	uint64_t addrs[3] = {0x1000, 0x2000, 0x3000};
	uint32_t lens[3] = {16, 4096, 1};
	bool wr[3] = {false, true, true};
	void *cookies[QSZ];
	uint32_t rl[QSZ];
	int head, i, n;

	vq_env_init(&e);
	head = osp_virtq_post(&e.vq, 3, addrs, lens, wr, (void *)0x11);
	CU_ASSERT(head >= 0);
	CU_ASSERT_EQUAL(e.vq.desc[head].addr, 0x1000);
	CU_ASSERT_EQUAL(e.vq.desc[head].flags, OSP_VIRTQ_DESC_F_NEXT);
	CU_ASSERT_EQUAL(e.vq.num_free, QSZ - 3);
	/* not published yet: the device sees nothing */
	CU_ASSERT_EQUAL(e.vq.avail->idx, 0);
	CU_ASSERT_TRUE(osp_virtq_publish(&e.vq));
	CU_ASSERT_EQUAL(e.vq.avail->idx, 1);
	/* nothing new: no notification */
	CU_ASSERT_FALSE(osp_virtq_publish(&e.vq));
	CU_ASSERT_EQUAL(osp_virtq_post(&e.vq, 3, addrs, lens, wr, (void *)0x22) >= 0, 1);
	/* only 2 descriptors left */
	CU_ASSERT_EQUAL(osp_virtq_post(&e.vq, 3, addrs, lens, wr, (void *)0x33), -EAGAIN);
	CU_ASSERT_EQUAL(osp_virtq_post(&e.vq, 0, addrs, lens, wr, NULL), -EINVAL);
	e.vq.used->flags = OSP_VIRTQ_USED_F_NO_NOTIFY;
	CU_ASSERT_FALSE(osp_virtq_publish(&e.vq));
	CU_ASSERT_EQUAL(osp_virtq_in_flight(&e.vq), 2);
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), 0);
	CU_ASSERT_EQUAL(dev_complete_one(&e, 4097), 3);
	CU_ASSERT_EQUAL(dev_complete_one(&e, 1), 3);
	n = osp_virtq_reap(&e.vq, cookies, rl, QSZ);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(cookies[0], (void *)0x11);
	CU_ASSERT_EQUAL(rl[0], 4097);
	CU_ASSERT_EQUAL(cookies[1], (void *)0x22);
	CU_ASSERT_EQUAL(e.vq.num_free, QSZ);
	CU_ASSERT_EQUAL(osp_virtq_in_flight(&e.vq), 0);
	/* many rounds, wrapping the 16-bit indexes and the ring, out of order completions too */
	for (i = 0; i < 70000; i++) {
		CU_ASSERT_FATAL(osp_virtq_post(&e.vq, 2, addrs, lens, wr, (void *)(uintptr_t)(i + 1)) >= 0);
		CU_ASSERT_FATAL(osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)(uintptr_t)(i + 2)) >= 0);
		osp_virtq_publish(&e.vq);
		CU_ASSERT_FATAL(dev_complete_one(&e, 0) == 2);
		CU_ASSERT_FATAL(dev_complete_one(&e, 0) == 1);
		CU_ASSERT_FATAL(osp_virtq_reap(&e.vq, cookies, rl, 1) == 1);
		CU_ASSERT_FATAL(osp_virtq_reap(&e.vq, cookies + 1, rl, QSZ) == 1);
		CU_ASSERT_FATAL(cookies[0] == (void *)(uintptr_t)(i + 1));
		CU_ASSERT_FATAL(e.vq.num_free == QSZ);
	}
	free(e.ring);
}

static void
test_virtq_hostile_device(void)
{
	struct vq_env e;
	uint64_t addrs[2] = {0x1000, 0x2000};
	uint32_t lens[2] = {16, 1};
	bool wr[2] = {false, true};
	void *cookies[QSZ];
	uint32_t rl[QSZ];
	int head;

	/* used entry naming a descriptor that is not a chain head */
	vq_env_init(&e);
	head = osp_virtq_post(&e.vq, 2, addrs, lens, wr, (void *)1);
	osp_virtq_publish(&e.vq);
	e.vq.used->ring[0].id = (uint32_t)head + 1;
	e.vq.used->idx = 1;
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), -EIO);
	/* out of range id */
	e.vq.used->ring[0].id = 1000;
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), -EIO);
	/* used index running ahead of what was made available */
	e.vq.used->ring[0].id = (uint32_t)head;
	e.vq.used->idx = 5;
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), -EIO);
	/* the device completing the same chain twice */
	e.vq.used->idx = 1;
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), 1);
	osp_virtq_post(&e.vq, 2, addrs, lens, wr, (void *)2);
	osp_virtq_publish(&e.vq);
	e.vq.used->ring[1].id = 7;	/* never a head */
	e.vq.used->idx = 2;
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), -EIO);
	/* the device scribbling over the shared next links does not steer our free list */
	e.vq.used->ring[1].id = e.vq.avail->ring[1];
	for (int i = 0; i < QSZ; i++) {
		e.vq.desc[i].next = 0xffff;
	}
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), 1);
	CU_ASSERT_EQUAL(e.vq.num_free, QSZ);
	CU_ASSERT(e.vq.free_head < QSZ);
	free(e.ring);
}

static void
test_virtq_event_idx(void)
{
	struct vq_env e;
	uint64_t addrs[1] = {1};
	uint32_t lens[1] = {16};
	bool wr[1] = {false};
	void *cookies[QSZ];
	uint32_t rl[QSZ];
	uint16_t *avail_event, *used_event;

	vq_env_init(&e);
	osp_virtq_enable_event_idx(&e.vq);
	avail_event = (uint16_t *)&e.vq.used->ring[QSZ];
	used_event = &e.vq.avail->ring[QSZ];
	CU_ASSERT_EQUAL(*used_event, 0x8000);
	/* the device waits for entry 0: publishing 0 kicks */
	*avail_event = 0;
	osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)1);
	CU_ASSERT_TRUE(osp_virtq_publish(&e.vq));
	/* the device has not consumed entry 0 yet (still waits for 0): 1 and 2 need no kick */
	osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)2);
	osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)3);
	CU_ASSERT_FALSE(osp_virtq_publish(&e.vq));
	/* the device caught up and waits for entry 3 */
	*avail_event = 3;
	osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)4);
	CU_ASSERT_TRUE(osp_virtq_publish(&e.vq));
	/* the NO_NOTIFY flag is not what counts with event idx */
	e.vq.used->flags = OSP_VIRTQ_USED_F_NO_NOTIFY;
	*avail_event = 4;
	osp_virtq_post(&e.vq, 1, addrs, lens, wr, (void *)5);
	CU_ASSERT_TRUE(osp_virtq_publish(&e.vq));
	/* reaping moves used_event half the index space ahead */
	CU_ASSERT_EQUAL(dev_complete_one(&e, 0), 1);
	CU_ASSERT_EQUAL(dev_complete_one(&e, 0), 1);
	CU_ASSERT_EQUAL(osp_virtq_reap(&e.vq, cookies, rl, QSZ), 2);
	CU_ASSERT_EQUAL(*used_event, (uint16_t)(2 + 0x8000));
	free(e.ring);
}

/*
 * A device writing random used entries and indexes: every reap either
 * returns chains that really were in flight (each once) or -EIO; the free
 * list never loses or duplicates a descriptor while the device behaves.
 */
static void
test_virtq_random_used(void)
{
	uint64_t addrs[3] = {1, 2, 3};
	uint32_t lens[3] = {16, 512, 1};
	bool wr[3] = {false, true, true};
	void *cookies[QSZ];
	uint32_t rl[QSZ];
	unsigned seed = 12345;
	int round, broken = 0;

	for (round = 0; round < 2000; round++) {
		struct vq_env e;
		int posted = 0, reaped = 0, rc, i;
		bool seen[QSZ + 1] = {false};

		vq_env_init(&e);
		while (osp_virtq_post(&e.vq, (uint16_t)(1 + rand_r(&seed) % 3), addrs, lens, wr,
				      (void *)(uintptr_t)(posted + 1)) >= 0) {
			posted++;
		}
		osp_virtq_publish(&e.vq);
		for (i = 0; i < QSZ; i++) {
			e.vq.used->ring[i].id = (uint32_t)(rand_r(&seed) % 2 ? e.vq.avail->ring[rand_r(&seed) % QSZ] :
						       (uint32_t)rand_r(&seed));
			e.vq.used->ring[i].len = (uint32_t)rand_r(&seed);
		}
		e.vq.used->idx = (uint16_t)(rand_r(&seed) % 2 ? rand_r(&seed) % (posted + 1) : rand_r(&seed));
		rc = osp_virtq_reap(&e.vq, cookies, rl, QSZ);
		if (rc < 0) {
			CU_ASSERT_EQUAL(rc, -EIO);
			broken++;
		} else {
			reaped = rc;
			for (i = 0; i < reaped; i++) {
				uintptr_t c = (uintptr_t)cookies[i];

				CU_ASSERT_FATAL(c >= 1 && c <= (uintptr_t)posted);
				CU_ASSERT_FATAL(!seen[c]);
				seen[c] = true;
			}
			CU_ASSERT(osp_virtq_in_flight(&e.vq) == posted - reaped);
		}
		free(e.ring);
	}
	CU_ASSERT(broken > 0 && broken < 2000);
}

/* ---- the connection, against a fake back end ---- */

enum fake_mode { FAKE_OK, FAKE_HANGUP_AFTER_FEATURES, FAKE_BAD_CONFIG_SIZE, FAKE_REFUSE_BIG_CONFIG };

struct fake {
	char path[108];
	int lsock;
	enum fake_mode mode;
	uint32_t config_req_size[4];	/* hdr.size of the GET_CONFIG requests seen */
	int nconfig;
	int nfds;
	uint32_t seen[64];
	int nseen;
	int connections;
};

static int
fake_reply(int s, uint32_t req, const void *payload, uint32_t len)
{
	struct osp_vu_msg m = {};

	m.hdr.request = req;
	m.hdr.flags = OSP_VU_FLAG_VERSION | OSP_VU_FLAG_REPLY;
	m.hdr.size = len;
	memcpy(&m.payload, payload, len);
	return send(s, &m, 12 + len, MSG_NOSIGNAL) == (ssize_t)(12 + len) ? 0 : -1;
}

static void
fake_serve(struct fake *f, int s)
{
	for (;;) {
		struct osp_vu_msg m;
		char ctrl[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = { .iov_base = &m.hdr, .iov_len = 12 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
				     .msg_controllen = sizeof(ctrl) };
		struct cmsghdr *c;
		uint64_t v;

		if (recvmsg(s, &mh, MSG_WAITALL) != 12) {
			return;
		}
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *fds = (int *)CMSG_DATA(c);

			for (int i = 0; i < nfd; i++) {
				close(fds[i]);
				f->nfds++;
			}
		}
		if (m.hdr.size > sizeof(m.payload) ||
		    (m.hdr.size && recv(s, &m.payload, m.hdr.size, MSG_WAITALL) != (ssize_t)m.hdr.size)) {
			return;
		}
		if (f->nseen < 64) {
			f->seen[f->nseen++] = m.hdr.request;
		}
		switch (m.hdr.request) {
		case OSP_VU_GET_FEATURES:
			if (f->mode == FAKE_HANGUP_AFTER_FEATURES) {
				return;
			}
			v = (1ull << OSP_VU_F_PROTOCOL_FEATURES) | (1ull << OSP_VIRTIO_F_VERSION_1) |
			    (1ull << OSP_VIRTIO_BLK_F_MQ) | (1ull << OSP_VIRTIO_BLK_F_FLUSH);
			fake_reply(s, m.hdr.request, &v, 8);
			break;
		case OSP_VU_GET_PROTOCOL_FEATURES:
			v = (1ull << OSP_VU_PROTOCOL_F_CONFIG) | (1ull << OSP_VU_PROTOCOL_F_MQ) |
			    (1ull << OSP_VU_PROTOCOL_F_REPLY_ACK) | (1ull << 10);
			fake_reply(s, m.hdr.request, &v, 8);
			break;
		case OSP_VU_GET_QUEUE_NUM:
			v = 2;
			fake_reply(s, m.hdr.request, &v, 8);
			break;
		case OSP_VU_GET_CONFIG: {
			struct osp_vu_config cfg = {};
			struct osp_virtio_blk_config *bc = (void *)cfg.payload;
			uint32_t size = m.payload.config.size;

			if (f->nconfig < 4) {
				f->config_req_size[f->nconfig++] = m.hdr.size;
			}
			/* Like qemu-storage-daemon: the message must be header + size, size <= its config. */
			if (m.hdr.size != OSP_VU_CONFIG_HDR_SIZE + size || size > 256 ||
			    (f->mode == FAKE_REFUSE_BIG_CONFIG && size > 36)) {
				fake_reply(s, m.hdr.request, &cfg, 0);
				break;
			}
			cfg.size = size;
			bc->capacity = 2048;
			bc->num_queues = 2;
			if (f->mode == FAKE_BAD_CONFIG_SIZE) {
				cfg.size = size - 4;
			}
			fake_reply(s, m.hdr.request, &cfg, OSP_VU_CONFIG_HDR_SIZE + size);
			break;
		}
		default:
			if (m.hdr.flags & OSP_VU_FLAG_NEED_REPLY) {
				v = 0;
				fake_reply(s, m.hdr.request, &v, 8);
			}
			break;
		}
	}
}

static void *
fake_thread(void *arg)
{
	struct fake *f = arg;
	int s = accept(f->lsock, NULL, NULL);

	if (s >= 0) {
		f->connections++;
		fake_serve(f, s);
		close(s);
	}
	return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode, pthread_t *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	snprintf(f->path, sizeof(f->path), "/tmp/virtio_ut_%d.sock", getpid());
	unlink(f->path);
	f->lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	CU_ASSERT_FATAL(bind(f->lsock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(f->lsock, 1) == 0);
	pthread_create(t, NULL, fake_thread, f);
}

static void
fake_stop(struct fake *f, pthread_t t)
{
	pthread_join(t, NULL);
	close(f->lsock);
	unlink(f->path);
}

static void
test_dev_connect_start(void)
{
	struct fake f;
	pthread_t t;
	struct osp_vu_dev *dev = NULL;
	struct osp_vu_dev_opts o = { .wanted_features = (1ull << OSP_VIRTIO_F_VERSION_1) |
				     (1ull << OSP_VIRTIO_BLK_F_MQ), .config_size = 60, .max_queues = 4,
				     .queue_size = 64, .data_size_per_queue = 8192, .timeout_ms = 2000 };
	char err[256] = "";
	const struct osp_virtio_blk_config *cfg;

	fake_start(&f, FAKE_OK, &t);
	o.path = f.path;
	CU_ASSERT_EQUAL_FATAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), 0);
	/* the GET_CONFIG request is the config header plus the bytes asked for */
	CU_ASSERT_EQUAL(f.config_req_size[0], OSP_VU_CONFIG_HDR_SIZE + 60);
	/* only known protocol features are accepted; FLUSH was not wanted */
	CU_ASSERT_EQUAL(osp_vu_dev_features(dev), (1ull << OSP_VU_F_PROTOCOL_FEATURES) |
			(1ull << OSP_VIRTIO_F_VERSION_1) | (1ull << OSP_VIRTIO_BLK_F_MQ));
	CU_ASSERT_EQUAL(osp_vu_dev_num_queues(dev), 2);	/* GET_QUEUE_NUM caps the 4 asked */
	cfg = osp_vu_dev_config(dev);
	CU_ASSERT_EQUAL(cfg->capacity, 2048);
	CU_ASSERT_EQUAL(osp_vu_dev_start(dev, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(osp_vu_dev_queue(dev, 1));
	CU_ASSERT_PTR_NULL(osp_vu_dev_queue(dev, 2));
	CU_ASSERT_PTR_NOT_NULL(osp_vu_dev_queue_data(dev, 1));
	CU_ASSERT_TRUE(osp_vu_dev_check_alive(dev));
	osp_vu_dev_close(dev);
	fake_stop(&f, t);
	/* memfd + kick and call for each of the 2 queues */
	CU_ASSERT_EQUAL(f.nfds, 5);
	CU_ASSERT_EQUAL(f.seen[0], OSP_VU_SET_OWNER);
	CU_ASSERT_EQUAL(f.seen[f.nseen - 1], OSP_VU_SET_VRING_ENABLE);
}

static void
test_dev_connect_errors(void)
{
	struct fake f;
	pthread_t t;
	struct osp_vu_dev *dev = NULL;
	struct osp_vu_dev_opts o = { .config_size = 60, .max_queues = 1, .queue_size = 64,
				     .data_size_per_queue = 4096, .timeout_ms = 2000 };
	char err[256] = "";

	/* no back end */
	o.path = "/tmp/virtio_ut_nonexistent.sock";
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -ENOENT);
	CU_ASSERT(strstr(err, "cannot connect") != NULL);

	fake_start(&f, FAKE_HANGUP_AFTER_FEATURES, &t);
	o.path = f.path;
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -ECONNRESET);
	CU_ASSERT(strstr(err, "GET_FEATURES") != NULL);
	fake_stop(&f, t);

	fake_start(&f, FAKE_BAD_CONFIG_SIZE, &t);
	o.path = f.path;
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -EPROTO);
	CU_ASSERT(strstr(err, "GET_CONFIG") != NULL);
	fake_stop(&f, t);

	fake_start(&f, FAKE_REFUSE_BIG_CONFIG, &t);
	o.path = f.path;
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT(strstr(err, "refused") != NULL);
	fake_stop(&f, t);

	/* invalid options */
	o.queue_size = 48;
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -EINVAL);
	o.queue_size = 64;
	o.config_size = 300;
	CU_ASSERT_EQUAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), -EINVAL);
}

static void
test_dev_dead_backend(void)
{
	struct fake f;
	pthread_t t;
	struct osp_vu_dev *dev = NULL;
	struct osp_vu_dev_opts o = { .config_size = 36, .max_queues = 1, .queue_size = 16,
				     .data_size_per_queue = 4096, .timeout_ms = 2000 };
	char err[256] = "";

	fake_start(&f, FAKE_OK, &t);
	o.path = f.path;
	CU_ASSERT_EQUAL_FATAL(osp_vu_dev_connect(&o, &dev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_vu_dev_start(dev, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(osp_vu_dev_check_alive(dev));
	/* the fake serves until the socket closes: shut it from our side of the fake */
	shutdown(osp_vu_dev_socket(dev), SHUT_WR);
	fake_stop(&f, t);
	CU_ASSERT_FALSE(osp_vu_dev_check_alive(dev));
	CU_ASSERT_FALSE(osp_vu_dev_check_alive(dev));
	osp_vu_dev_close(dev);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("virtio", NULL, NULL);
	CU_ADD_TEST(suite, test_msg_encode);
	CU_ADD_TEST(suite, test_msg_check_reply);
	CU_ADD_TEST(suite, test_virtq_layout);
	CU_ADD_TEST(suite, test_virtq_post_reap);
	CU_ADD_TEST(suite, test_virtq_hostile_device);
	CU_ADD_TEST(suite, test_virtq_random_used);
	CU_ADD_TEST(suite, test_virtq_event_idx);
	CU_ADD_TEST(suite, test_dev_connect_start);
	CU_ADD_TEST(suite, test_dev_connect_errors);
	CU_ADD_TEST(suite, test_dev_dead_backend);
	return ut_run_suites();
}

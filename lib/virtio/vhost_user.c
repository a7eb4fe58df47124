/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user front end (QEMU's docs/interop/vhost-user.rst): Osprey
 * plays the part QEMU plays for a VM. The set-up dialogue is a sequence of
 * request/reply pairs on a Unix socket, run on the app thread at attach time
 * with a timeout per reply (control plane; the I/O path never touches the
 * socket). The "guest memory" is one memfd mapping per device, shared with
 * the back end by SET_MEM_TABLE; its guest-physical addresses are our own
 * virtual addresses, so descriptors carry plain pointers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "osprey/virtio_user.h"

/* ---- message encode / decode ---- */

int
osp_vu_msg_encode(struct osp_vu_msg *msg, uint32_t request, bool need_reply, const void *payload,
		  uint32_t payload_len)
{
	if (payload_len > sizeof(msg->payload) || (payload_len > 0 && payload == NULL)) {
		return -EINVAL;
	}
	memset(msg, 0, sizeof(*msg));
	msg->hdr.request = request;
	msg->hdr.flags = OSP_VU_FLAG_VERSION | (need_reply ? OSP_VU_FLAG_NEED_REPLY : 0);
	msg->hdr.size = payload_len;
	if (payload_len > 0) {
		memcpy(&msg->payload, payload, payload_len);
	}
	return (int)(sizeof(msg->hdr) + payload_len);
}

int
osp_vu_msg_check_reply(const struct osp_vu_msg *msg, size_t len, uint32_t request,
		       uint32_t expect_size)
{
	if (len < sizeof(msg->hdr) || (msg->hdr.flags & OSP_VU_FLAG_VERSION_MASK) != OSP_VU_FLAG_VERSION ||
	    (msg->hdr.flags & OSP_VU_FLAG_REPLY) == 0 || msg->hdr.request != request ||
	    msg->hdr.size > sizeof(msg->payload) || len != sizeof(msg->hdr) + msg->hdr.size) {
		return -EPROTO;
	}
	if (expect_size != 0 && msg->hdr.size != expect_size) {
		return -EPROTO;
	}
	return 0;
}

int
osp_vu_msg_check_config_reply(const struct osp_vu_msg *msg, uint32_t offset, uint32_t size)
{
	if (msg->hdr.size == 0) {
		return -ENOTSUP;
	}
	if (size > OSP_VU_CONFIG_MAX_SIZE || msg->hdr.size != OSP_VU_CONFIG_HDR_SIZE + size ||
	    msg->payload.config.offset != offset || msg->payload.config.size != size) {
		return -EPROTO;
	}
	return 0;
}

/* ---- the connection ---- */

struct vu_queue {
	struct osp_virtq vq;
	uint16_t *meta;
	void **cookies;
	int kick_fd;
	int call_fd;
	void *ring;
	void *data;
};

struct osp_vu_dev {
	struct osp_vu_dev_opts opts;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock;
	bool dead;
	bool reply_ack;
	uint64_t features;		/* device features agreed */
	uint64_t protocol_features;
	uint16_t num_queues;
	uint8_t config[OSP_VU_CONFIG_MAX_SIZE];
	int mem_fd;
	void *mem;
	size_t mem_size;
	size_t queue_stride;
	struct vu_queue *queues;
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *
req_name(uint32_t r)
{
	switch (r) {
	case OSP_VU_GET_FEATURES: return "GET_FEATURES";
	case OSP_VU_SET_FEATURES: return "SET_FEATURES";
	case OSP_VU_SET_OWNER: return "SET_OWNER";
	case OSP_VU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case OSP_VU_SET_VRING_NUM: return "SET_VRING_NUM";
	case OSP_VU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case OSP_VU_SET_VRING_BASE: return "SET_VRING_BASE";
	case OSP_VU_SET_VRING_KICK: return "SET_VRING_KICK";
	case OSP_VU_SET_VRING_CALL: return "SET_VRING_CALL";
	case OSP_VU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case OSP_VU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case OSP_VU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case OSP_VU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case OSP_VU_GET_CONFIG: return "GET_CONFIG";
	default: return "?";
	}
}

static int
vu_send(struct osp_vu_dev *dev, const struct osp_vu_msg *msg, int len, const int *fds, int nfds)
{
	char ctrl[CMSG_SPACE(sizeof(int) * OSP_VU_MAX_MEM_REGIONS)];
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = (size_t)len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t rc;

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		rc = sendmsg(dev->sock, &mh, MSG_NOSIGNAL);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		return -errno;
	}
	return rc == len ? 0 : -EIO;
}

/* Read exactly len bytes, waiting at most the reply timeout for each part. */
static int
vu_recv_all(struct osp_vu_dev *dev, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = dev->sock, .events = POLLIN };
		ssize_t rc;
		int prc = poll(&pfd, 1, (int)dev->opts.timeout_ms);

		if (prc == 0) {
			return -ETIMEDOUT;
		}
		if (prc < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		rc = recv(dev->sock, (uint8_t *)buf + got, len - got, 0);
		if (rc == 0) {
			dev->dead = true;
			return -ECONNRESET;
		}
		if (rc < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return -errno;
		}
		got += (size_t)rc;
	}
	return 0;
}

static int
vu_recv_reply(struct osp_vu_dev *dev, struct osp_vu_msg *reply, uint32_t request,
	      uint32_t expect_size)
{
	int rc;

	memset(reply, 0, sizeof(*reply));
	rc = vu_recv_all(dev, &reply->hdr, sizeof(reply->hdr));
	if (rc != 0) {
		return rc;
	}
	/* Never read a payload larger than the union: a bad size is a broken peer. */
	if (reply->hdr.size > sizeof(reply->payload)) {
		return -EPROTO;
	}
	rc = vu_recv_all(dev, &reply->payload, reply->hdr.size);
	if (rc != 0) {
		return rc;
	}
	return osp_vu_msg_check_reply(reply, sizeof(reply->hdr) + reply->hdr.size, request,
				      expect_size);
}

/*
 * One request. reply != NULL: the request has a reply of its own (GET_*),
 * checked for expect_size bytes (0: any). Otherwise, with REPLY_ACK, ask for
 * the ack and fail if the back end reports an error.
 */
static int
vu_request(struct osp_vu_dev *dev, uint32_t request, const void *payload, uint32_t len,
	   const int *fds, int nfds, struct osp_vu_msg *reply, uint32_t expect_size, char *err,
	   size_t errlen)
{
	struct osp_vu_msg msg, ack;
	bool want_ack = reply == NULL && dev->reply_ack;
	int mlen, rc;

	mlen = osp_vu_msg_encode(&msg, request, want_ack, payload, len);
	if (mlen < 0) {
		seterr(err, errlen, "%s: payload too large", req_name(request));
		return mlen;
	}
	rc = vu_send(dev, &msg, mlen, fds, nfds);
	if (rc != 0) {
		seterr(err, errlen, "%s: send failed: %s", req_name(request), strerror(-rc));
		return rc;
	}
	if (reply != NULL) {
		rc = vu_recv_reply(dev, reply, request, expect_size);
	} else if (want_ack) {
		rc = vu_recv_reply(dev, &ack, request, sizeof(uint64_t));
		if (rc == 0 && ack.payload.u64 != 0) {
			seterr(err, errlen, "%s: the back end refused it (status %llu)", req_name(request),
			       (unsigned long long)ack.payload.u64);
			return -EIO;
		}
	} else {
		return 0;
	}
	if (rc != 0) {
		seterr(err, errlen, "%s: %s", req_name(request),
		       rc == -EPROTO ? "malformed reply from the back end" :
		       rc == -ETIMEDOUT ? (request == OSP_VU_GET_FEATURES ?
					   "no reply from the back end (timed out; a vhost-user back end "
					   "such as qemu-storage-daemon serves one front end at a time: "
					   "is another one connected?)" :
					   "no reply from the back end (timed out)") :
		       rc == -ECONNRESET ? "the back end closed the connection" : strerror(-rc));
	}
	return rc;
}

static int
vu_get_u64(struct osp_vu_dev *dev, uint32_t request, uint64_t *val, char *err, size_t errlen)
{
	struct osp_vu_msg reply;
	int rc = vu_request(dev, request, NULL, 0, NULL, 0, &reply, sizeof(uint64_t), err, errlen);

	if (rc == 0) {
		*val = reply.payload.u64;
	}
	return rc;
}

static int
vu_set_u64(struct osp_vu_dev *dev, uint32_t request, uint64_t val, const int *fds, int nfds,
	   char *err, size_t errlen)
{
	return vu_request(dev, request, &val, sizeof(val), fds, nfds, NULL, 0, err, errlen);
}

static int
vu_get_config(struct osp_vu_dev *dev, uint32_t size, char *err, size_t errlen)
{
	struct osp_virtio_cfg_req {
		uint32_t offset, size, flags;
	} req = { .offset = 0, .size = size, .flags = 0 };
	struct osp_vu_msg reply;
	uint8_t payload[OSP_VU_CONFIG_HDR_SIZE + OSP_VU_CONFIG_MAX_SIZE];
	int rc;

	/*
	 * The request carries the config header and size bytes of (ignored)
	 * payload, as the specification lays out GET_CONFIG: a back end checks
	 * the message size against the size field (qemu-storage-daemon does).
	 */
	memset(payload, 0, sizeof(payload));
	memcpy(payload, &req, sizeof(req));
	rc = vu_request(dev, OSP_VU_GET_CONFIG, payload, OSP_VU_CONFIG_HDR_SIZE + size, NULL, 0,
			&reply, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = osp_vu_msg_check_config_reply(&reply, 0, size);
	if (rc != 0) {
		seterr(err, errlen, "GET_CONFIG: %s", rc == -ENOTSUP ?
		       "the back end refused to return the device config" :
		       "reply does not match the request (offset/size)");
		return rc;
	}
	memcpy(dev->config, reply.payload.config.payload, size);
	return 0;
}

int
osp_vu_dev_connect(const struct osp_vu_dev_opts *opts, struct osp_vu_dev **pdev, char *err,
		   size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct osp_vu_dev *dev;
	uint64_t feat, pfeat = 0, qnum;
	int rc;

	if (opts == NULL || opts->path == NULL || opts->max_queues == 0 ||
	    opts->config_size == 0 || opts->config_size > OSP_VU_CONFIG_MAX_SIZE ||
	    opts->queue_size == 0 || (opts->queue_size & (opts->queue_size - 1)) != 0 ||
	    opts->queue_size > OSP_VIRTQ_MAX_SIZE) {
		seterr(err, errlen, "invalid options");
		return -EINVAL;
	}
	if (strlen(opts->path) >= sizeof(sa.sun_path)) {
		seterr(err, errlen, "socket path is longer than %zu bytes", sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->opts = *opts;
	if (dev->opts.timeout_ms == 0) {
		dev->opts.timeout_ms = 5000;
	}
	snprintf(dev->path, sizeof(dev->path), "%s", opts->path);
	dev->opts.path = dev->path;
	dev->mem_fd = -1;
	dev->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (dev->sock < 0) {
		rc = -errno;
		seterr(err, errlen, "socket: %s", strerror(-rc));
		free(dev);
		return rc;
	}
	memcpy(sa.sun_path, dev->path, strlen(dev->path) + 1);
	if (connect(dev->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		seterr(err, errlen, "cannot connect to %s: %s", dev->path, strerror(-rc));
		goto fail;
	}
	rc = vu_request(dev, OSP_VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0, err, errlen);
	if (rc == 0) {
		rc = vu_get_u64(dev, OSP_VU_GET_FEATURES, &feat, err, errlen);
	}
	if (rc != 0) {
		goto fail;
	}
	if ((feat & (1ull << OSP_VU_F_PROTOCOL_FEATURES)) == 0) {
		seterr(err, errlen, "the back end does not offer VHOST_USER_F_PROTOCOL_FEATURES "
		       "(needed to read the device config)");
		rc = -ENOTSUP;
		goto fail;
	}
	rc = vu_get_u64(dev, OSP_VU_GET_PROTOCOL_FEATURES, &pfeat, err, errlen);
	if (rc != 0) {
		goto fail;
	}
	if ((pfeat & (1ull << OSP_VU_PROTOCOL_F_CONFIG)) == 0) {
		seterr(err, errlen, "the back end does not offer VHOST_USER_PROTOCOL_F_CONFIG");
		rc = -ENOTSUP;
		goto fail;
	}
	dev->protocol_features = pfeat & ((1ull << OSP_VU_PROTOCOL_F_MQ) |
					  (1ull << OSP_VU_PROTOCOL_F_REPLY_ACK) |
					  (1ull << OSP_VU_PROTOCOL_F_CONFIG));
	rc = vu_set_u64(dev, OSP_VU_SET_PROTOCOL_FEATURES, dev->protocol_features, NULL, 0, err, errlen);
	if (rc != 0) {
		goto fail;
	}
	dev->reply_ack = (dev->protocol_features & (1ull << OSP_VU_PROTOCOL_F_REPLY_ACK)) != 0;
	dev->features = (feat & opts->wanted_features) | (1ull << OSP_VU_F_PROTOCOL_FEATURES);
	dev->num_queues = 1;
	if (dev->protocol_features & (1ull << OSP_VU_PROTOCOL_F_MQ)) {
		rc = vu_get_u64(dev, OSP_VU_GET_QUEUE_NUM, &qnum, err, errlen);
		if (rc != 0) {
			goto fail;
		}
		if (qnum == 0) {
			seterr(err, errlen, "GET_QUEUE_NUM: the back end has no queues");
			rc = -EPROTO;
			goto fail;
		}
		dev->num_queues = (uint16_t)(qnum < opts->max_queues ? qnum : opts->max_queues);
	}
	rc = vu_get_config(dev, opts->config_size, err, errlen);
	if (rc != 0) {
		goto fail;
	}
	*pdev = dev;
	return 0;
fail:
	close(dev->sock);
	free(dev);
	return rc;
}

uint64_t
osp_vu_dev_features(const struct osp_vu_dev *dev)
{
	return dev->features;
}

const void *
osp_vu_dev_config(const struct osp_vu_dev *dev)
{
	return dev->config;
}

uint16_t
osp_vu_dev_num_queues(const struct osp_vu_dev *dev)
{
	return dev->num_queues;
}

void
osp_vu_dev_limit_queues(struct osp_vu_dev *dev, uint16_t num)
{
	if (num > 0 && num < dev->num_queues) {
		dev->num_queues = num;
	}
}

static int
vu_setup_queue(struct osp_vu_dev *dev, uint16_t idx, char *err, size_t errlen)
{
	struct vu_queue *q = &dev->queues[idx];
	struct osp_vu_vring_state st = { .index = idx, .num = dev->opts.queue_size };
	struct osp_vu_vring_addr addr = { .index = idx };
	int rc;

	q->ring = (uint8_t *)dev->mem + (size_t)idx * dev->queue_stride;
	q->data = (uint8_t *)q->ring + osp_virtq_ring_size(dev->opts.queue_size);
	q->meta = calloc(2 * (size_t)dev->opts.queue_size, sizeof(uint16_t));
	q->cookies = calloc(dev->opts.queue_size, sizeof(void *));
	if (q->meta == NULL || q->cookies == NULL) {
		return -ENOMEM;
	}
	rc = osp_virtq_init(&q->vq, dev->opts.queue_size, q->ring, q->meta, q->cookies);
	if (rc != 0) {
		return rc;
	}
	/* The driver polls the used ring: the device need not interrupt us. */
	q->vq.avail->flags = OSP_VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (dev->features & (1ull << OSP_VIRTIO_F_EVENT_IDX)) {
		osp_virtq_enable_event_idx(&q->vq);
	}
	q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kick_fd < 0 || q->call_fd < 0) {
		return -errno;
	}
	rc = vu_request(dev, OSP_VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0, NULL, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	st.num = 0;
	rc = vu_request(dev, OSP_VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0, NULL, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	/* Ring addresses are in the front end's address space (user addresses). */
	addr.desc_user_addr = (uint64_t)(uintptr_t)q->vq.desc;
	addr.avail_user_addr = (uint64_t)(uintptr_t)q->vq.avail;
	addr.used_user_addr = (uint64_t)(uintptr_t)q->vq.used;
	rc = vu_request(dev, OSP_VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = vu_set_u64(dev, OSP_VU_SET_VRING_CALL, idx, &q->call_fd, 1, err, errlen);
	if (rc != 0) {
		return rc;
	}
	rc = vu_set_u64(dev, OSP_VU_SET_VRING_KICK, idx, &q->kick_fd, 1, err, errlen);
	if (rc != 0) {
		return rc;
	}
	/* With VHOST_USER_F_PROTOCOL_FEATURES negotiated, rings start disabled. */
	st.num = 1;
	return vu_request(dev, OSP_VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0, NULL, 0, err, errlen);
}

int
osp_vu_dev_start(struct osp_vu_dev *dev, char *err, size_t errlen)
{
	struct osp_vu_mem_table mt = {};
	size_t ring = osp_virtq_ring_size(dev->opts.queue_size);
	size_t data = (dev->opts.data_size_per_queue + 4095) & ~(size_t)4095;
	uint16_t i;
	int rc;

	dev->queue_stride = ring + data;
	dev->mem_size = dev->queue_stride * dev->num_queues;
	dev->queues = calloc(dev->num_queues, sizeof(*dev->queues));
	if (dev->queues == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < dev->num_queues; i++) {
		dev->queues[i].kick_fd = -1;
		dev->queues[i].call_fd = -1;
	}
	dev->mem_fd = memfd_create("osp_virtio", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (dev->mem_fd < 0 || ftruncate(dev->mem_fd, (off_t)dev->mem_size) != 0) {
		rc = -errno;
		seterr(err, errlen, "cannot create the shared memory (memfd, %zu bytes): %s",
		       dev->mem_size, strerror(-rc));
		return rc;
	}
	/*
	 * Its size is final: sealed, so that a back end can rely on it (a file
	 * that shrinks under a back end's mapping is a SIGBUS there), as QEMU
	 * seals its memfd guest RAM. Not fatal: the back end does without.
	 */
	(void)fcntl(dev->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	dev->mem = mmap(NULL, dev->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->mem_fd, 0);
	if (dev->mem == MAP_FAILED) {
		rc = -errno;
		dev->mem = NULL;
		seterr(err, errlen, "cannot map the shared memory: %s", strerror(-rc));
		return rc;
	}
	rc = vu_set_u64(dev, OSP_VU_SET_FEATURES, dev->features, NULL, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	mt.nregions = 1;
	mt.regions[0].guest_phys_addr = (uint64_t)(uintptr_t)dev->mem;
	mt.regions[0].userspace_addr = (uint64_t)(uintptr_t)dev->mem;
	mt.regions[0].memory_size = dev->mem_size;
	mt.regions[0].mmap_offset = 0;
	/* The payload is the header and the regions actually used. */
	rc = vu_request(dev, OSP_VU_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &dev->mem_fd, 1,
			NULL, 0, err, errlen);
	if (rc != 0) {
		return rc;
	}
	for (i = 0; i < dev->num_queues; i++) {
		rc = vu_setup_queue(dev, i, err, errlen);
		if (rc != 0) {
			if (err != NULL && err[0] == '\0') {
				seterr(err, errlen, "queue %u: %s", i, strerror(-rc));
			}
			return rc;
		}
	}
	return 0;
}

struct osp_virtq *
osp_vu_dev_queue(struct osp_vu_dev *dev, uint16_t idx)
{
	return idx < dev->num_queues && dev->queues != NULL ? &dev->queues[idx].vq : NULL;
}

void *
osp_vu_dev_queue_data(struct osp_vu_dev *dev, uint16_t idx)
{
	return idx < dev->num_queues && dev->queues != NULL ? dev->queues[idx].data : NULL;
}

void
osp_vu_dev_kick(struct osp_vu_dev *dev, uint16_t idx)
{
	uint64_t one = 1;

	/* EAGAIN (counter full) still leaves the eventfd readable: nothing is lost. */
	if (write(dev->queues[idx].kick_fd, &one, sizeof(one)) < 0) {
		return;
	}
}

int
osp_vu_dev_socket(const struct osp_vu_dev *dev)
{
	return dev->sock;
}

bool
osp_vu_dev_check_alive(struct osp_vu_dev *dev)
{
	struct pollfd pfd = { .fd = dev->sock, .events = POLLIN | POLLRDHUP };
	char c;

	if (dev->dead) {
		return false;
	}
	if (poll(&pfd, 1, 0) <= 0) {
		return true;
	}
	if (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) {
		dev->dead = true;
	} else if (pfd.revents & POLLIN) {
		/*
		 * The back end sends nothing unasked on this socket (we offer no
		 * back-end channel): readable means closed, or a broken peer.
		 */
		ssize_t rc = recv(dev->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

		if (rc == 0 || (rc < 0 && errno != EAGAIN && errno != EINTR) || rc > 0) {
			dev->dead = true;
		}
	}
	return !dev->dead;
}

void
osp_vu_dev_close(struct osp_vu_dev *dev)
{
	uint16_t i;

	if (dev == NULL) {
		return;
	}
	if (dev->sock >= 0) {
		close(dev->sock);
	}
	if (dev->queues != NULL) {
		for (i = 0; i < dev->num_queues; i++) {
			struct vu_queue *q = &dev->queues[i];

			if (q->kick_fd >= 0) {
				close(q->kick_fd);
			}
			if (q->call_fd >= 0) {
				close(q->call_fd);
			}
			free(q->meta);
			free(q->cookies);
		}
		free(dev->queues);
	}
	if (dev->mem != NULL) {
		munmap(dev->mem, dev->mem_size);
	}
	if (dev->mem_fd >= 0) {
		close(dev->mem_fd);
	}
	free(dev);
}

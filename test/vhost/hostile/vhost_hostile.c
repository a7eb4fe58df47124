/*
 * vhost_hostile: a hostile vhost-user-blk front end (black-box test of a
 * vhost-user back end such as Osprey's vhost app).
 *
 * Written from the vhost-user protocol specification (QEMU docs) and the
 * virtio 1.x specification (split virtqueues, virtio-blk); it links nothing but
 * libc. It speaks vhost-user itself over the Unix socket, passes a memfd it
 * owns as guest memory (SCM_RIGHTS), builds split rings in that memfd and
 * submits virtio-blk requests, well formed or not.
 *
 *   vhost_hostile SOCKET CASE     run one case (see "list")
 *   vhost_hostile SOCKET good     well-behaved client: write, read back, compare
 *   vhost_hostile - list          the case names, one a line
 *
 * Exit status: 0 the back end behaved acceptably in this case; 1 a FINDING
 * (printed as "FINDING: ..."): a request that had to fail completed OK, a
 * strict status was wrong, a byte changed in guest memory the back end had no
 * right to write (guard areas, readable buffers, ring areas it does not own),
 * a good request failed or read back wrong data; 2 the harness itself could
 * not run (socket, memfd, ...).
 *
 * Guest memory: one memfd, two regions in the table with guard areas around
 * them that the back end maps (they lie in the same file, below/between the
 * regions' mmap offsets) but that are not guest memory. Before each submission
 * the whole file is snapshotted; afterwards every byte that differs must lie in
 * the used ring or in a buffer the client offered as device-writable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- vhost-user protocol ---- */
enum {
	U_GET_FEATURES = 1, U_SET_FEATURES = 2, U_SET_OWNER = 3, U_RESET_OWNER = 4,
	U_SET_MEM_TABLE = 5, U_SET_LOG_BASE = 6, U_SET_LOG_FD = 7, U_SET_VRING_NUM = 8,
	U_SET_VRING_ADDR = 9, U_SET_VRING_BASE = 10, U_GET_VRING_BASE = 11,
	U_SET_VRING_KICK = 12, U_SET_VRING_CALL = 13, U_SET_VRING_ERR = 14,
	U_GET_PROTOCOL_FEATURES = 15, U_SET_PROTOCOL_FEATURES = 16, U_GET_QUEUE_NUM = 17,
	U_SET_VRING_ENABLE = 18, U_GET_CONFIG = 24, U_SET_CONFIG = 25,
};
#define U_VERSION 0x1u
#define U_REPLY (1u << 2)
#define U_NEED_REPLY (1u << 3)
#define U_VRING_NOFD (1ull << 8)

#define F_PROTOCOL_FEATURES 30
#define PF_MQ 0
#define PF_REPLY_ACK 3
#define PF_CONFIG 9

/* ---- virtio ---- */
#define F_INDIRECT_DESC 28
#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define F_RING_PACKED 34
#define BLK_F_SIZE_MAX 1
#define BLK_F_SEG_MAX 2
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_MQ 12
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13

#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct blk_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct mem_region {
	uint64_t gpa, size, uaddr, offset;
};

/* ---- guest memory layout ---- */
#define GUARD 0x10000ull
#define A_SIZE 0x200000ull               /* region A: rings, headers, data */
#define B_SIZE 0x100000ull               /* region B: more data */
#define A_FOFF GUARD                     /* file offsets */
#define B_FOFF (A_FOFF + A_SIZE + GUARD)
#define FILE_SIZE (B_FOFF + B_SIZE + GUARD)
#define GPA_A 0x40000000ull
#define GPA_B (GPA_A + A_SIZE + 0x100000ull) /* a 1 MiB hole between A and B */
/* inside A */
#define OFF_DESC 0x0000ull
#define OFF_AVAIL 0x1000ull
#define OFF_USED 0x2000ull
#define OFF_HDR 0x4000ull                /* 64 bytes per slot: header at 0, status at 32 */
#define OFF_IND 0x8000ull                /* indirect tables */
#define OFF_DATA 0x10000ull
#define QSIZE 256

static const char *g_sock;
static const char *g_case = "?";
static bool g_event_idx; /* a case name ending in "@eidx": negotiate VIRTIO_F_EVENT_IDX too */
static int g_findings;

static void finding(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FINDING [%s]: ", g_case);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	g_findings++;
}

static void info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  [%s] ", g_case);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("HARNESS ERROR [%s]: ", g_case);
	vprintf(fmt, ap);
	printf(" (errno %d %s)\n", errno, strerror(errno));
	fflush(stdout);
	va_end(ap);
	exit(2);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct range {
	uint64_t off, len; /* file offsets */
};

struct conn {
	int sock;
	bool dead;             /* the back end closed the connection */
	int memfd;
	uint8_t *mem;          /* the whole file, mapped here */
	uint8_t *shadow;
	struct range allowed[1024];
	int nallowed;
	uint64_t features, pfeatures;
	unsigned qsize;
	int kickfd, callfd;
	int kick_alt;          /* if >= 0: kick by writing 8 bytes here (a non-eventfd kick fd's peer) */
	uint16_t avail_idx;    /* next avail index we publish */
	uint16_t used_seen;    /* used entries we consumed */
	uint64_t capacity;     /* sectors, from GET_CONFIG */
	uint32_t blk_size;
	bool have_config;
	uint8_t status_of[QSIZE]; /* per head: the status seen */
};

static uint8_t *ha(struct conn *c, uint64_t off) { return c->mem + A_FOFF + off; }
static uint64_t ga(uint64_t off) { return GPA_A + off; }
static uint8_t *hb(struct conn *c, uint64_t off) { return c->mem + B_FOFF + off; }
static uint64_t gb(uint64_t off) { return GPA_B + off; }
static struct vdesc *descs(struct conn *c) { return (struct vdesc *)ha(c, OFF_DESC); }
static volatile uint16_t *avail_flags(struct conn *c) { return (volatile uint16_t *)ha(c, OFF_AVAIL); }
static volatile uint16_t *avail_idx(struct conn *c) { return (volatile uint16_t *)ha(c, OFF_AVAIL + 2); }
static volatile uint16_t *avail_ring(struct conn *c) { return (volatile uint16_t *)ha(c, OFF_AVAIL + 4); }
static volatile uint16_t *used_idx(struct conn *c) { return (volatile uint16_t *)ha(c, OFF_USED + 2); }
static volatile uint32_t *used_ring(struct conn *c) { return (volatile uint32_t *)ha(c, OFF_USED + 4); }
static uint8_t *slot_hdr(struct conn *c, unsigned s) { return ha(c, OFF_HDR + 64ull * s); }
static uint64_t slot_hdr_gpa(unsigned s) { return ga(OFF_HDR + 64ull * s); }
static uint8_t *slot_status(struct conn *c, unsigned s) { return ha(c, OFF_HDR + 64ull * s + 32); }
static uint64_t slot_status_gpa(unsigned s) { return ga(OFF_HDR + 64ull * s + 32); }

/* file offset of a guest physical address (only for addresses in A or B) */
static bool gpa_foff(uint64_t gpa, uint64_t *foff)
{
	if (gpa >= GPA_A && gpa < GPA_A + A_SIZE) {
		*foff = A_FOFF + (gpa - GPA_A);
		return true;
	}
	if (gpa >= GPA_B && gpa < GPA_B + B_SIZE) {
		*foff = B_FOFF + (gpa - GPA_B);
		return true;
	}
	return false;
}

/* the back end may write [gpa, gpa+len) (clipped to A and B) */
static void allow(struct conn *c, uint64_t gpa, uint64_t len)
{
	uint64_t f;
	if (!gpa_foff(gpa, &f) || c->nallowed == (int)(sizeof(c->allowed) / sizeof(c->allowed[0])))
		return;
	uint64_t end = gpa < GPA_B ? A_FOFF + A_SIZE : B_FOFF + B_SIZE;
	if (len > end - f)
		len = end - f;
	c->allowed[c->nallowed++] = (struct range){ f, len };
}

static void snap(struct conn *c)
{
	memcpy(c->shadow, c->mem, FILE_SIZE);
}

/* every byte that changed since snap() must be in an allowed range */
static void check_mem(struct conn *c, const char *when)
{
	uint64_t bad = 0, first = 0, last = 0;
	for (uint64_t i = 0; i < FILE_SIZE; i++) {
		if (c->mem[i] == c->shadow[i])
			continue;
		bool ok = false;
		for (int r = 0; r < c->nallowed && !ok; r++)
			ok = i >= c->allowed[r].off && i < c->allowed[r].off + c->allowed[r].len;
		if (!ok) {
			if (!bad)
				first = i;
			last = i;
			bad++;
		}
	}
	if (bad) {
		const char *where = first < A_FOFF ? "guard below region A" :
				    first < A_FOFF + A_SIZE ? "region A" :
				    first < B_FOFF ? "guard between A and B" :
				    first < B_FOFF + B_SIZE ? "region B" : "guard above B";
		finding("%s: %" PRIu64 " byte(s) changed where the back end may not write: "
			"file offsets 0x%" PRIx64 "..0x%" PRIx64 " (first in %s, A+0x%" PRIx64 ")",
			when, bad, first, last, where, first - A_FOFF);
	}
}

/* ---- socket messages ---- */

/* send a raw message: header fields as given (size may lie), payload of plen bytes */
static int send_raw(struct conn *c, uint32_t req, uint32_t flags, uint32_t size, const void *payload,
		    size_t plen, const int *fds, int nfds)
{
	uint8_t buf[12 + 4096];
	uint32_t h[3] = { req, flags, size };
	if (plen > 4096)
		plen = 4096;
	memcpy(buf, h, 12);
	if (plen)
		memcpy(buf + 12, payload, plen);
	struct iovec iov = { buf, 12 + plen };
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t n = sendmsg(c->sock, &mh, MSG_NOSIGNAL);
	if (n != (ssize_t)(12 + plen)) {
		c->dead = true;
		return -1;
	}
	return 0;
}

static int send_msg(struct conn *c, uint32_t req, const void *payload, size_t plen, const int *fds,
		    int nfds)
{
	return send_raw(c, req, U_VERSION, (uint32_t)plen, payload, plen, fds, nfds);
}

static int recv_all(struct conn *c, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { c->sock, POLLIN, 0 };
		int r = poll(&p, 1, timeout_ms);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : -errno;
		ssize_t n = recv(c->sock, (uint8_t *)buf + got, len - got, 0);
		if (n <= 0) {
			c->dead = true;
			return -EPIPE;
		}
		got += (size_t)n;
	}
	return 0;
}

/* receive a reply to req; payload into out (up to outlen); returns payload size or <0 */
static int recv_reply(struct conn *c, uint32_t req, void *out, size_t outlen, int timeout_ms)
{
	uint32_t h[3];
	int rc = recv_all(c, h, 12, timeout_ms);
	if (rc)
		return rc;
	if (h[0] != req || !(h[1] & U_REPLY) || h[2] > 4096) {
		info("odd reply: request %u flags 0x%x size %u (wanted reply to %u)", h[0], h[1], h[2], req);
		c->dead = true;
		return -EPROTO;
	}
	uint8_t tmp[4096];
	rc = recv_all(c, tmp, h[2], timeout_ms);
	if (rc)
		return rc;
	memcpy(out, tmp, h[2] < outlen ? h[2] : outlen);
	return (int)h[2];
}

static int get_u64(struct conn *c, uint32_t req, uint64_t *v)
{
	if (send_msg(c, req, NULL, 0, NULL, 0))
		return -EPIPE;
	int n = recv_reply(c, req, v, 8, 10000);
	return n == 8 ? 0 : (n < 0 ? n : -EPROTO);
}

/* is the connection still open and answering? (GET_FEATURES round trip) */
static bool conn_alive(struct conn *c)
{
	uint64_t f;
	if (c->dead)
		return false;
	return get_u64(c, U_GET_FEATURES, &f) == 0;
}

/* a set-type message with NEED_REPLY when REPLY_ACK was negotiated:
 * returns 0 accepted, 1 refused, -1 connection gone / no answer */
static int set_msg(struct conn *c, uint32_t req, const void *payload, size_t plen, const int *fds, int nfds)
{
	bool ack = c->pfeatures & (1ull << PF_REPLY_ACK);
	if (send_raw(c, req, U_VERSION | (ack ? U_NEED_REPLY : 0), (uint32_t)plen, payload, plen, fds, nfds))
		return -1;
	if (!ack)
		return conn_alive(c) ? 0 : -1;
	uint64_t v = 0;
	int n = recv_reply(c, req, &v, 8, 10000);
	if (n < 0)
		return -1;
	return v ? 1 : 0;
}

static int set_u64(struct conn *c, uint32_t req, uint64_t v)
{
	return set_msg(c, req, &v, 8, NULL, 0);
}

static int set_state(struct conn *c, uint32_t req, uint32_t idx, uint32_t num)
{
	uint32_t s[2] = { idx, num };
	return set_msg(c, req, s, 8, NULL, 0);
}

/* ---- connection setup ---- */

static void conn_open(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->kickfd = c->callfd = -1;
	c->kick_alt = -1;
	c->sock = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_sock);
	uint64_t t0 = now_ms();
	while (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		if (now_ms() - t0 > 5000)
			die("connect %s", g_sock);
		usleep(20000);
	}
	c->memfd = memfd_create("vhost_hostile", 0);
	if (c->memfd < 0 || ftruncate(c->memfd, FILE_SIZE))
		die("memfd");
	c->mem = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	c->shadow = malloc(FILE_SIZE);
	if (c->mem == MAP_FAILED || !c->shadow)
		die("mmap");
	/* a pattern everywhere: the back end's stray writes show as differences */
	for (uint64_t i = 0; i < FILE_SIZE; i++)
		c->mem[i] = (uint8_t)(0xa5 ^ (i * 7));
	memset(ha(c, OFF_DESC), 0, OFF_HDR);
	c->qsize = QSIZE;
	allow(c, ga(OFF_USED), 4 + 8 * QSIZE + 2);
	snap(c);
}

static void conn_close(struct conn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	if (c->kickfd >= 0)
		close(c->kickfd);
	if (c->callfd >= 0)
		close(c->callfd);
	c->kickfd = c->callfd = -1;
	/* the back end may still be finishing: give it a moment, then look at memory again */
	usleep(100000);
	check_mem(c, "after close");
	munmap(c->mem, FILE_SIZE);
	close(c->memfd);
	free(c->shadow);
}

static uint64_t wanted_features(void)
{
	return (1ull << F_VERSION_1) | (1ull << F_INDIRECT_DESC) | (1ull << F_PROTOCOL_FEATURES) |
	       (1ull << BLK_F_SIZE_MAX) | (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) |
	       (1ull << BLK_F_FLUSH) | (1ull << BLK_F_MQ) | (1ull << BLK_F_DISCARD) |
	       (1ull << BLK_F_WRITE_ZEROES) | (g_event_idx ? 1ull << F_EVENT_IDX : 0);
}

/* features, owner, protocol features; 0 or -1 */
static int neg_features(struct conn *c)
{
	uint64_t f, pf;
	int rc;
	if (send_msg(c, U_SET_OWNER, NULL, 0, NULL, 0)) {
		info("SET_OWNER: send failed");
		return -1;
	}
	if ((rc = get_u64(c, U_GET_FEATURES, &f))) {
		info("GET_FEATURES: %s", strerror(-rc));
		return -1;
	}
	c->features = f & wanted_features();
	if (c->features & (1ull << F_PROTOCOL_FEATURES)) {
		if ((rc = get_u64(c, U_GET_PROTOCOL_FEATURES, &pf))) {
			info("GET_PROTOCOL_FEATURES: %s", strerror(-rc));
			return -1;
		}
		c->pfeatures = pf & ((1ull << PF_MQ) | (1ull << PF_REPLY_ACK) | (1ull << PF_CONFIG));
		if (send_msg(c, U_SET_PROTOCOL_FEATURES, &c->pfeatures, 8, NULL, 0))
			return -1;
	}
	rc = set_u64(c, U_SET_FEATURES, c->features);
	if (rc)
		info("SET_FEATURES 0x%" PRIx64 ": %s", c->features, rc == 1 ? "refused" : "no answer");
	return rc ? -1 : 0;
}

static int get_config(struct conn *c)
{
	if (!(c->pfeatures & (1ull << PF_CONFIG)))
		return -1;
	uint8_t msg[12 + 60] = { 0 };
	uint32_t hdr[3] = { 0, 60, 0 };
	memcpy(msg, hdr, 12);
	if (send_msg(c, U_GET_CONFIG, msg, sizeof(msg), NULL, 0))
		return -1;
	uint8_t rep[12 + 60];
	int n = recv_reply(c, U_GET_CONFIG, rep, sizeof(rep), 3000);
	if (n != (int)sizeof(rep))
		return -1;
	memcpy(&c->capacity, rep + 12, 8);
	memcpy(&c->blk_size, rep + 12 + 20, 4);
	if (!(c->features & (1ull << BLK_F_BLK_SIZE)) || !c->blk_size)
		c->blk_size = 512;
	c->have_config = true;
	return 0;
}

static int set_mem_table(struct conn *c, const struct mem_region *r, uint32_t n, const int *fds, int nfds)
{
	uint8_t buf[8 + 8 * 32];
	uint32_t hdr[2] = { n, 0 };
	uint32_t send_n = n > 8 ? 8 : n;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, hdr, 8);
	memcpy(buf + 8, r, sizeof(*r) * send_n);
	return set_msg(c, U_SET_MEM_TABLE, buf, 8 + sizeof(*r) * 8, fds, nfds);
}

static int std_mem_table(struct conn *c)
{
	struct mem_region r[2] = {
		{ GPA_A, A_SIZE, (uint64_t)(uintptr_t)(c->mem + A_FOFF), A_FOFF },
		{ GPA_B, B_SIZE, (uint64_t)(uintptr_t)(c->mem + B_FOFF), B_FOFF },
	};
	int fds[2] = { c->memfd, c->memfd };
	return set_mem_table(c, r, 2, fds, 2);
}

static int set_vring_addr(struct conn *c, uint32_t idx, uint64_t desc, uint64_t used, uint64_t avail)
{
	uint64_t a[5];
	uint32_t h[2] = { idx, 0 };
	memcpy(a, h, 8);
	a[1] = desc;
	a[2] = used;
	a[3] = avail;
	a[4] = 0;
	return set_msg(c, U_SET_VRING_ADDR, a, sizeof(a), NULL, 0);
}

static int set_vring_fd(struct conn *c, uint32_t req, uint32_t idx, int fd)
{
	uint64_t v = idx;
	if (fd < 0)
		v |= U_VRING_NOFD;
	return set_msg(c, req, &v, 8, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

/* queue 0: num, base, addr, kick, call, enable */
static int setup_vring(struct conn *c, unsigned qsize)
{
	c->qsize = qsize;
	*avail_flags(c) = 0;
	*avail_idx(c) = 0;
	if (set_state(c, U_SET_VRING_NUM, 0, qsize) || set_state(c, U_SET_VRING_BASE, 0, 0))
		return -1;
	uintptr_t u = (uintptr_t)c->mem + A_FOFF;
	if (set_vring_addr(c, 0, u + OFF_DESC, u + OFF_USED, u + OFF_AVAIL))
		return -1;
	if (c->kickfd < 0)
		c->kickfd = eventfd(0, EFD_NONBLOCK);
	if (c->callfd < 0)
		c->callfd = eventfd(0, EFD_NONBLOCK);
	if (set_vring_fd(c, U_SET_VRING_CALL, 0, c->callfd) || set_vring_fd(c, U_SET_VRING_KICK, 0, c->kickfd))
		return -1;
	if ((c->features & (1ull << F_PROTOCOL_FEATURES)) && set_state(c, U_SET_VRING_ENABLE, 0, 1))
		return -1;
	return 0;
}

/* the whole dialogue of a well-behaved front end */
static void full_setup(struct conn *c)
{
	conn_open(c);
	if (neg_features(c))
		die("feature negotiation");
	if (get_config(c))
		die("GET_CONFIG");
	if (std_mem_table(c))
		die("SET_MEM_TABLE");
	if (setup_vring(c, QSIZE))
		die("vring setup");
	snap(c);
}

/* ---- requests ---- */

static void kick(struct conn *c)
{
	uint64_t one = 1;
	if (write(c->kick_alt >= 0 ? c->kick_alt : c->kickfd, &one, 8) != 8) {
		/* a kick the eventfd cannot take is harmless: the back end polls */
	}
}

/* our own writes to the avail ring are not the back end's: refresh the snapshot there */
static void sync_avail(struct conn *c)
{
	memcpy(c->shadow + A_FOFF + OFF_AVAIL, c->mem + A_FOFF + OFF_AVAIL, 4 + 2 * QSIZE + 2);
}

/* publish head as the next avail entry (no kick) */
static void post(struct conn *c, uint16_t head)
{
	avail_ring(c)[c->avail_idx % c->qsize] = head;
	c->avail_idx++;
	__atomic_store_n(avail_idx(c), c->avail_idx, __ATOMIC_RELEASE);
	sync_avail(c);
}

/* wait until used idx reaches our count + n; returns the number of new entries seen */
static int wait_used(struct conn *c, unsigned n, int timeout_ms)
{
	uint64_t t0 = now_ms();
	for (;;) {
		uint16_t u = __atomic_load_n(used_idx(c), __ATOMIC_ACQUIRE);
		uint16_t got = (uint16_t)(u - c->used_seen);
		if (got >= n || (int)(now_ms() - t0) > timeout_ms)
			return got;
		usleep(200);
	}
}

struct done {
	uint32_t id, len;
};

/* consume up to max used entries */
static int reap(struct conn *c, struct done *d, int max)
{
	uint16_t u = __atomic_load_n(used_idx(c), __ATOMIC_ACQUIRE);
	int k = 0;
	while (c->used_seen != u && k < max) {
		unsigned i = c->used_seen % c->qsize;
		d[k].id = used_ring(c)[2 * i];
		d[k].len = used_ring(c)[2 * i + 1];
		k++;
		c->used_seen++;
	}
	return k;
}

/* a descriptor; the back end may write its buffer if D_WRITE */
static void setd(struct conn *c, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	descs(c)[i] = (struct vdesc){ addr, len, flags, next };
	if (flags & D_WRITE)
		allow(c, addr, len);
}

static void set_hdr(struct conn *c, unsigned slot, uint32_t type, uint64_t sector)
{
	struct blk_hdr h = { type, 0, sector };
	memcpy(slot_hdr(c, slot), &h, sizeof(h));
	*slot_status(c, slot) = 0xee;
}

/* outcome of one request */
enum outcome { O_STATUS, O_LEN0, O_NONE, O_DEAD };
struct result {
	enum outcome o;
	uint8_t status;
	uint32_t len;
};

static const char *res_str(const struct result *r, char *buf, size_t n)
{
	switch (r->o) {
	case O_STATUS:
		snprintf(buf, n, "status %u (%s), used len %u", r->status,
			 r->status == 0 ? "OK" : r->status == 1 ? "IOERR" : r->status == 2 ? "UNSUPP" : "?",
			 r->len);
		break;
	case O_LEN0:
		snprintf(buf, n, "given back with used len %u, status byte untouched", r->len);
		break;
	case O_NONE:
		snprintf(buf, n, "no completion (queue stopped)");
		break;
	default:
		snprintf(buf, n, "connection closed by the back end");
	}
	return buf;
}

static unsigned lost_wakeups;

/* post head (status byte at status_ptr, may be NULL), kick, wait for it */
static struct result submit(struct conn *c, uint16_t head, uint8_t *status_ptr, int timeout_ms)
{
	struct result r = { O_NONE, 0, 0 };
	snap(c);
	post(c, head);
	kick(c);
	uint64_t t0 = now_ms();
	int got = wait_used(c, 1, timeout_ms);
	if (got == 0 && !c->dead) {
		/* nothing yet: kick once more. A completion that follows at once means the
		 * device slept through the first kick (a lost wake-up) */
		kick(c);
		if (wait_used(c, 1, 200) > 0) {
			/* not a finding by itself: on this shared VM even a polling daemon shows
			 * outliers near 1 s (the client or the daemon not scheduled) */
			lost_wakeups++;
			info("LATE: a request completed only after a second kick (%d ms after the first)",
			     (int)(now_ms() - t0));
			got = 1;
		}
	}
	if (got == 0) {
		r.o = (c->dead || !conn_alive(c)) ? O_DEAD : O_NONE;
		/* a late completion is looked for once more */
		if (r.o == O_NONE && wait_used(c, 1, 50) == 0)
			return r;
		if (r.o == O_DEAD)
			return r;
	}
	struct done d[8];
	int k = reap(c, d, 8);
	if (k < 1)
		return r;
	if (d[0].id != head)
		finding("used id %u, the head posted was %u", d[0].id, head);
	r.len = d[0].len;
	if (status_ptr && *status_ptr != 0xee) {
		r.o = O_STATUS;
		r.status = *status_ptr;
	} else {
		r.o = O_LEN0;
	}
	check_mem(c, "after the request");
	return r;
}

/* a 3-descriptor request at descriptors base..base+2 with slot base's header/status */
static struct result blk_req3(struct conn *c, unsigned base, uint32_t type, uint64_t sector,
			      uint64_t data_gpa, uint32_t data_len, bool data_write)
{
	set_hdr(c, base, type, sector);
	setd(c, base, slot_hdr_gpa(base), 16, D_NEXT, base + 1);
	setd(c, base + 1, data_gpa, data_len, D_NEXT | (data_write ? D_WRITE : 0), base + 2);
	setd(c, base + 2, slot_status_gpa(base), 1, D_WRITE, 0);
	return submit(c, base, slot_status(c, base), 1000);
}

/* expectations */
enum expect { E_FAIL, E_IOERR, E_UNSUPP, E_OK, E_ANY };

static void judge(const struct result *r, enum expect e, const char *what)
{
	char b[128];
	res_str(r, b, sizeof(b));
	info("%s: %s", what, b);
	switch (e) {
	case E_OK:
		if (r->o != O_STATUS || r->status != S_OK)
			finding("%s: expected status OK, got %s", what, b);
		break;
	case E_IOERR:
	case E_UNSUPP: {
		uint8_t want = e == E_IOERR ? S_IOERR : S_UNSUPP;
		if (r->o == O_STATUS && r->status != want)
			finding("%s: expected %s, got %s", what, want == S_IOERR ? "IOERR" : "UNSUPP", b);
		else if (r->o != O_STATUS)
			finding("%s: a well-formed request expected to complete with %s, got %s", what,
				want == S_IOERR ? "IOERR" : "UNSUPP", b);
		break;
	}
	case E_FAIL:
		if (r->o == O_STATUS && r->status == S_OK)
			finding("%s: a request that cannot be served completed OK", what);
		break;
	case E_ANY:
		break;
	}
}

/* after a bad request: does the queue still serve a good one? (information) */
static void follow_up(struct conn *c)
{
	if (c->dead)
		return;
	unsigned s = 100;
	memset(ha(c, OFF_DATA), 0, 4096);
	struct result r = blk_req3(c, s, T_IN, 0, ga(OFF_DATA), 4096, true);
	char b[128];
	info("queue afterwards, a good read: %s", res_str(&r, b, sizeof(b)));
	if (r.o == O_STATUS && r.status != S_OK)
		finding("a good read after the bad request completed with status %u", r.status);
}

/* ---- the good client ---- */

static uint32_t rnd32(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)*s;
}

static int case_good(void)
{
	struct conn c;
	full_setup(&c);
	if (c.capacity < 2048)
		die("capacity %" PRIu64 " sectors: too small", c.capacity);
	uint64_t seed = ((uint64_t)now_ms() ^ ((uint64_t)getpid() << 20)) | 1;
	for (int round = 0; round < 4; round++) {
		uint64_t sector = (rnd32(&seed) % (c.capacity / 8 - 16)) * 8;
		/* write 16 KiB: 4 data descriptors, two in region B */
		uint8_t *src = ha(&c, OFF_DATA);
		for (int i = 0; i < 16384; i++)
			src[i] = (uint8_t)rnd32(&seed);
		memcpy(hb(&c, 0), src + 8192, 8192);
		set_hdr(&c, 0, T_OUT, sector);
		setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
		setd(&c, 1, ga(OFF_DATA), 4096, D_NEXT, 2);
		setd(&c, 2, ga(OFF_DATA + 4096), 4096, D_NEXT, 3);
		setd(&c, 3, gb(0), 4096, D_NEXT, 4);
		setd(&c, 4, gb(4096), 4096, D_NEXT, 5);
		setd(&c, 5, slot_status_gpa(0), 1, D_WRITE, 0);
		struct result r = submit(&c, 0, slot_status(&c, 0), 5000);
		judge(&r, E_OK, "write 16 KiB");
		/* read it back through an indirect table into another buffer */
		uint64_t dst = OFF_DATA + 0x10000;
		memset(ha(&c, dst), 0, 16384);
		set_hdr(&c, 1, T_IN, sector);
		struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
		ind[0] = (struct vdesc){ slot_hdr_gpa(1), 16, D_NEXT, 1 };
		ind[1] = (struct vdesc){ ga(dst), 12288, D_NEXT | D_WRITE, 2 };
		ind[2] = (struct vdesc){ ga(dst + 12288), 4096, D_NEXT | D_WRITE, 3 };
		ind[3] = (struct vdesc){ slot_status_gpa(1), 1, D_WRITE, 0 };
		allow(&c, ga(dst), 16384);
		allow(&c, slot_status_gpa(1), 1);
		setd(&c, 10, ga(OFF_IND), 4 * 16, D_INDIRECT, 0);
		r = submit(&c, 10, slot_status(&c, 1), 5000);
		judge(&r, E_OK, "read 16 KiB (indirect)");
		if (r.o == O_STATUS && r.status == S_OK) {
			if (memcmp(ha(&c, dst), src, 8192) || memcmp(ha(&c, dst + 8192), hb(&c, 0), 8192))
				finding("data read back differs from data written (sector %" PRIu64 ")", sector);
			if (r.len < 16385)
				finding("used len %u for a 16 KiB read (at least 16385 expected)", r.len);
		}
	}
	struct result r;
	set_hdr(&c, 2, T_FLUSH, 0);
	setd(&c, 20, slot_hdr_gpa(2), 16, D_NEXT, 21);
	setd(&c, 21, slot_status_gpa(2), 1, D_WRITE, 0);
	r = submit(&c, 20, slot_status(&c, 2), 5000);
	judge(&r, (c.features & (1ull << BLK_F_FLUSH)) ? E_OK : E_ANY, "flush");
	r = blk_req3(&c, 30, T_GET_ID, 0, ga(OFF_DATA + 0x20000), 20, true);
	judge(&r, E_OK, "GET_ID");
	conn_close(&c);
	return g_findings ? 1 : 0;
}

/* ---- hostile cases: descriptors and requests ---- */

/* one bad request on a good connection, then the follow-up */
#define ONE_BAD(expect, what, ...)                                 \
	do {                                                       \
		struct conn c;                                     \
		full_setup(&c);                                    \
		struct result r = __VA_ARGS__;                     \
		judge(&r, expect, what);                           \
		follow_up(&c);                                     \
		conn_close(&c);                                    \
	} while (0)

static struct result req_with_data_desc(struct conn *c, uint32_t type, uint64_t addr, uint32_t len, bool w)
{
	return blk_req3(c, 0, type, 0, addr, len, w);
}

static void case_desc_oob(void)
{
	/* above everything, in the hole between A and B, below A, ending past B */
	ONE_BAD(E_FAIL, "read into a buffer above all regions", req_with_data_desc(&c, T_IN, GPA_B + B_SIZE + 0x100000, 4096, true));
	ONE_BAD(E_FAIL, "write from a buffer in the hole between regions", req_with_data_desc(&c, T_OUT, GPA_A + A_SIZE + 0x1000, 4096, false));
	ONE_BAD(E_FAIL, "read into a buffer below region A (GPA 0)", req_with_data_desc(&c, T_IN, 0, 4096, true));
	ONE_BAD(E_FAIL, "read into a buffer just below region A", req_with_data_desc(&c, T_IN, GPA_A - 4096, 4096, true));
	ONE_BAD(E_FAIL, "read into a buffer ending 512 bytes past region B", req_with_data_desc(&c, T_IN, GPA_B + B_SIZE - 3584, 4096, true));
}

static void case_desc_straddle(void)
{
	ONE_BAD(E_FAIL, "read straddling the end of region A", req_with_data_desc(&c, T_IN, GPA_A + A_SIZE - 2048, 4096, true));
	ONE_BAD(E_FAIL, "write straddling the start of region B", req_with_data_desc(&c, T_OUT, GPA_B - 512, 4096, false));
}

static void case_desc_len_wrap(void)
{
	ONE_BAD(E_FAIL, "read at addr 2^64-4096, len 8192 (wraps)", req_with_data_desc(&c, T_IN, 0xfffffffffffff000ull, 8192, true));
	ONE_BAD(E_FAIL, "read at addr in A, len 0xfffffe00 (runs far past)", req_with_data_desc(&c, T_IN, ga(OFF_DATA), 0xfffffe00u, true));
	ONE_BAD(E_FAIL, "write at addr 2^64-512, len 1024", req_with_data_desc(&c, T_OUT, 0xfffffffffffffe00ull, 1024, false));
}

static void case_status_oob(void)
{
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, D_NEXT | D_WRITE, 2);
	setd(&c, 2, GPA_A - 1, 1, D_WRITE, 0); /* status byte just below A */
	struct result r = submit(&c, 0, NULL, 1000);
	judge(&r, E_ANY, "status descriptor outside memory");
	follow_up(&c);
	conn_close(&c);
}

static void case_chain_loop(void)
{
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2);
	setd(&c, 2, ga(OFF_DATA + 512), 512, D_NEXT | D_WRITE, 1); /* back to 1 */
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "chain 0->1->2->1 (loop)");
	follow_up(&c);
	conn_close(&c);

	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 0); /* itself */
	r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "descriptor whose next is itself");
	follow_up(&c);
	conn_close(&c);

	/* a loop inside an indirect table */
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
	ind[0] = (struct vdesc){ slot_hdr_gpa(0), 16, D_NEXT, 1 };
	ind[1] = (struct vdesc){ ga(OFF_DATA), 512, D_NEXT | D_WRITE, 0 };
	allow(&c, ga(OFF_DATA), 512);
	setd(&c, 0, ga(OFF_IND), 32, D_INDIRECT, 0);
	r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "indirect table 0->1->0 (loop)");
	follow_up(&c);
	conn_close(&c);
}

static void case_next_oob(void)
{
	uint16_t nexts[] = { QSIZE, QSIZE + 1, 0x7fff, 0xffff };
	for (unsigned k = 0; k < sizeof(nexts) / sizeof(nexts[0]); k++) {
		struct conn c;
		full_setup(&c);
		set_hdr(&c, 0, T_IN, 0);
		setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
		setd(&c, 1, ga(OFF_DATA), 512, D_NEXT | D_WRITE, nexts[k]);
		char w[64];
		snprintf(w, sizeof(w), "next = %u (queue size %u)", nexts[k], QSIZE);
		struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
		judge(&r, E_FAIL, w);
		follow_up(&c);
		conn_close(&c);
	}
	/* next out of an indirect table of 3 */
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
	ind[0] = (struct vdesc){ slot_hdr_gpa(0), 16, D_NEXT, 1 };
	ind[1] = (struct vdesc){ ga(OFF_DATA), 512, D_NEXT | D_WRITE, 3 };
	ind[2] = (struct vdesc){ slot_status_gpa(0), 1, D_WRITE, 0 };
	ind[3] = (struct vdesc){ slot_status_gpa(0), 1, D_WRITE, 0 }; /* lies beyond len */
	allow(&c, ga(OFF_DATA), 512);
	allow(&c, slot_status_gpa(0), 1);
	setd(&c, 0, ga(OFF_IND), 3 * 16, D_INDIRECT, 0);
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "indirect table of 3, next = 3");
	follow_up(&c);
	conn_close(&c);
}

static void case_chain_too_long(void)
{
	/* an indirect table of 300 data descriptors (queue size 256): a read of 150 KiB */
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
	unsigned n = 302;
	ind[0] = (struct vdesc){ slot_hdr_gpa(0), 16, D_NEXT, 1 };
	for (unsigned i = 1; i < n - 1; i++)
		ind[i] = (struct vdesc){ ga(OFF_DATA + 512ull * i), 512, D_NEXT | D_WRITE, (uint16_t)(i + 1) };
	ind[n - 1] = (struct vdesc){ slot_status_gpa(0), 1, D_WRITE, 0 };
	allow(&c, ga(OFF_DATA), 512ull * n);
	allow(&c, slot_status_gpa(0), 1);
	setd(&c, 0, ga(OFF_IND), n * 16, D_INDIRECT, 0);
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_ANY, "indirect chain of 302 descriptors (queue size 256)");
	follow_up(&c);
	conn_close(&c);

	/* a direct chain over the whole table, the last pointing back to the first */
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	for (unsigned i = 1; i < QSIZE; i++)
		setd(&c, i, ga(OFF_DATA + 512ull * i), 512, D_NEXT | D_WRITE, (uint16_t)((i + 1) % QSIZE));
	r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "a chain through all 256 descriptors and back to 0");
	follow_up(&c);
	conn_close(&c);
}

static void case_indirect_bad(void)
{
	struct { uint64_t off; uint32_t len; uint16_t flags; bool in_mem; const char *what; } t[] = {
		{ OFF_IND, 24, D_INDIRECT, true, "indirect length 24 (not a multiple of 16)" },
		{ OFF_IND, 0, D_INDIRECT, true, "indirect length 0" },
		{ OFF_IND, 17, D_INDIRECT, true, "indirect length 17" },
		{ 0, 48, D_INDIRECT, false, "indirect table outside memory (hole)" },
		{ A_SIZE - 16, 48, D_INDIRECT, true, "indirect table straddling the end of region A" },
		{ OFF_IND, 48, D_INDIRECT | D_NEXT, true, "indirect with NEXT" },
		/* 2.7.5.3.2: the device MUST ignore WRITE on a descriptor that refers to a table */
		{ OFF_IND, 48, D_INDIRECT | D_WRITE, true, "indirect with WRITE (the device must ignore it)" },
		{ OFF_IND, 0xfffffff0u, D_INDIRECT, true, "indirect length 0xfffffff0" },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct conn c;
		full_setup(&c);
		set_hdr(&c, 0, T_IN, 0);
		struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
		ind[0] = (struct vdesc){ slot_hdr_gpa(0), 16, D_NEXT, 1 };
		ind[1] = (struct vdesc){ ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2 };
		ind[2] = (struct vdesc){ slot_status_gpa(0), 1, D_WRITE, 0 };
		allow(&c, ga(OFF_DATA), 512);
		allow(&c, slot_status_gpa(0), 1);
		uint64_t addr = t[k].in_mem ? ga(t[k].off) : GPA_A + A_SIZE + 0x1000;
		if (t[k].off == A_SIZE - 16)
			memcpy(ha(&c, A_SIZE - 16), ind, 16);
		setd(&c, 0, addr, t[k].len, t[k].flags, 1);
		setd(&c, 1, slot_status_gpa(0), 1, D_WRITE, 0);
		struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
		judge(&r, t[k].flags & D_NEXT ? E_ANY : t[k].flags & D_WRITE ? E_OK : E_FAIL, t[k].what);
		follow_up(&c);
		conn_close(&c);
	}
	/* nested indirect */
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
	struct vdesc *ind2 = (struct vdesc *)ha(&c, OFF_IND + 0x1000);
	ind2[0] = (struct vdesc){ slot_hdr_gpa(0), 16, D_NEXT, 1 };
	ind2[1] = (struct vdesc){ ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2 };
	ind2[2] = (struct vdesc){ slot_status_gpa(0), 1, D_WRITE, 0 };
	ind[0] = (struct vdesc){ ga(OFF_IND + 0x1000), 48, D_INDIRECT, 0 };
	allow(&c, ga(OFF_DATA), 512);
	allow(&c, slot_status_gpa(0), 1);
	setd(&c, 0, ga(OFF_IND), 16, D_INDIRECT, 0);
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "nested indirect table");
	follow_up(&c);
	conn_close(&c);
	/* indirect table pointing at itself */
	full_setup(&c);
	ind = (struct vdesc *)ha(&c, OFF_IND);
	ind[0] = (struct vdesc){ ga(OFF_IND), 16, D_INDIRECT, 0 };
	setd(&c, 0, ga(OFF_IND), 16, D_INDIRECT, 0);
	r = submit(&c, 0, NULL, 1000);
	judge(&r, E_FAIL, "indirect table whose entry is itself (indirect)");
	follow_up(&c);
	conn_close(&c);
}

static void case_avail_jump(void)
{
	uint16_t jumps[] = { QSIZE + 1, 1000, 0x8000, 0xffff };
	for (unsigned k = 0; k < sizeof(jumps) / sizeof(jumps[0]); k++) {
		struct conn c;
		full_setup(&c);
		set_hdr(&c, 0, T_IN, 0);
		setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
		setd(&c, 1, ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2);
		setd(&c, 2, slot_status_gpa(0), 1, D_WRITE, 0);
		for (unsigned i = 0; i < QSIZE; i++)
			avail_ring(&c)[i] = 0;
		/* every avail slot names head 0: the back end may serve some of them */
		allow(&c, ga(OFF_HDR), 64ull * QSIZE);
		snap(&c);
		c.avail_idx = jumps[k];
		__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
		sync_avail(&c);
		kick(&c);
		int got = wait_used(&c, 1, 500);
		char w[80];
		snprintf(w, sizeof(w), "avail idx 0 -> %u (queue size %u)", jumps[k], QSIZE);
		bool alive = conn_alive(&c);
		info("%s: %d used entries, connection %s", w, got, alive ? "open" : "closed");
		if (got > QSIZE)
			finding("%s: %d used entries published for a ring of %u", w, got, QSIZE);
		check_mem(&c, w);
		conn_close(&c);
	}
}

static void case_head_oob(void)
{
	uint16_t heads[] = { QSIZE, 0x7fff, 0xffff };
	for (unsigned k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
		struct conn c;
		full_setup(&c);
		char w[64];
		snprintf(w, sizeof(w), "avail entry names head %u", heads[k]);
		struct result r = submit(&c, heads[k], NULL, 800);
		judge(&r, E_ANY, w);
		follow_up(&c);
		conn_close(&c);
	}
}

static void case_unknown_type(void)
{
	uint32_t types[] = { 2, 3, 5, 7, 9, 0x1234, 0xffffffff, 0x80000000 };
	struct conn c;
	full_setup(&c);
	for (unsigned k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		char w[64];
		snprintf(w, sizeof(w), "request type 0x%x", types[k]);
		struct result r = blk_req3(&c, 0, types[k], 0, ga(OFF_DATA), 512, true);
		judge(&r, E_UNSUPP, w);
		if (c.dead)
			break;
	}
	follow_up(&c);
	conn_close(&c);
}

static void case_hdr_short(void)
{
	uint32_t lens[] = { 0, 8, 15 };
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct conn c;
		full_setup(&c);
		set_hdr(&c, 0, T_IN, 0);
		setd(&c, 0, slot_hdr_gpa(0), lens[k], D_NEXT, 1);
		setd(&c, 1, ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2);
		setd(&c, 2, slot_status_gpa(0), 1, D_WRITE, 0);
		char w[64];
		snprintf(w, sizeof(w), "header of %u bytes", lens[k]);
		struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
		judge(&r, E_FAIL, w);
		follow_up(&c);
		conn_close(&c);
	}
	/* only a header: no data, no status */
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 8, 0, 0);
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_FAIL, "a lone 8-byte header");
	follow_up(&c);
	conn_close(&c);
}

static void case_hdr_split(void)
{
	/* virtio 1.x 2.6.4 message framing: the header over two descriptors is valid */
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 8);
	setd(&c, 0, slot_hdr_gpa(0), 8, D_NEXT, 1);
	setd(&c, 1, slot_hdr_gpa(0) + 8, 8, D_NEXT, 2);
	setd(&c, 2, ga(OFF_DATA), 4096, D_NEXT | D_WRITE, 3);
	setd(&c, 3, slot_status_gpa(0), 1, D_WRITE, 0);
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_ANY, "header split 8+8 over two descriptors (valid framing)");
	if (r.o != O_STATUS || r.status != S_OK)
		info("NOTE: framing-independent header not supported (virtio 1.x 2.6.4 says the device must not assume the layout)");
	/* data and status in one writable descriptor */
	set_hdr(&c, 1, T_IN, 8);
	setd(&c, 4, slot_hdr_gpa(1), 16, D_NEXT, 5);
	setd(&c, 5, ga(OFF_DATA + 8192), 513, D_WRITE, 0);
	*ha(&c, OFF_DATA + 8192 + 512) = 0xee;
	r = submit(&c, 4, ha(&c, OFF_DATA + 8192 + 512), 1000);
	judge(&r, E_ANY, "512 bytes of data and the status byte in one descriptor (valid framing)");
	if (r.o != O_STATUS || r.status != S_OK)
		info("NOTE: framing-independent data/status not supported");
	conn_close(&c);
}

static void case_no_status(void)
{
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, D_WRITE, 0); /* ends with data */
	struct result r = submit(&c, 0, NULL, 1000);
	judge(&r, E_ANY, "read with no status descriptor (data last)");
	follow_up(&c);
	conn_close(&c);

	full_setup(&c);
	set_hdr(&c, 0, T_OUT, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, 0, 0); /* write, no writable descriptor at all */
	r = submit(&c, 0, NULL, 1000);
	judge(&r, E_ANY, "write with no status descriptor");
	follow_up(&c);
	conn_close(&c);

	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, D_NEXT | D_WRITE, 2);
	setd(&c, 2, slot_status_gpa(0), 0, D_WRITE, 0);
	r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_ANY, "status descriptor of length 0");
	if (r.o == O_STATUS)
		finding("the back end wrote a status byte into a zero-length descriptor");
	follow_up(&c);
	conn_close(&c);
}

static void case_status_readonly(void)
{
	struct conn c;
	full_setup(&c);
	set_hdr(&c, 0, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, D_NEXT | D_WRITE, 2);
	setd(&c, 2, slot_status_gpa(0), 1, 0, 0); /* device-readable */
	/* a device-readable after a device-writable descriptor is itself invalid */
	struct result r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_ANY, "read whose status descriptor is device-readable");
	if (r.o == O_STATUS)
		finding("the back end wrote the status into a device-readable descriptor");
	follow_up(&c);
	conn_close(&c);

	full_setup(&c);
	set_hdr(&c, 0, T_OUT, 0);
	setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
	setd(&c, 1, ga(OFF_DATA), 4096, D_NEXT, 2);
	setd(&c, 2, slot_status_gpa(0), 1, 0, 0);
	r = submit(&c, 0, slot_status(&c, 0), 1000);
	judge(&r, E_ANY, "write whose status descriptor is device-readable");
	if (r.o == O_STATUS)
		finding("the back end wrote the status into a device-readable descriptor");
	follow_up(&c);
	conn_close(&c);
}

static void case_data_direction(void)
{
	/* read (IN) whose data buffer is device-readable: must not be written */
	ONE_BAD(E_FAIL, "read into a device-readable data buffer", req_with_data_desc(&c, T_IN, ga(OFF_DATA), 4096, false));
	/* write (OUT) whose data buffer is device-writable */
	ONE_BAD(E_FAIL, "write from a device-writable data buffer", req_with_data_desc(&c, T_OUT, ga(OFF_DATA), 4096, true));
}

static void case_beyond_capacity(void)
{
	struct conn c;
	full_setup(&c);
	uint64_t cap = c.capacity;
	info("capacity %" PRIu64 " sectors", cap);
	struct { uint32_t type; uint64_t sector; uint32_t len; const char *what; } t[] = {
		{ T_IN, cap, 512, "read 1 sector at capacity" },
		{ T_IN, cap - 1, 1024, "read 2 sectors at capacity-1" },
		{ T_OUT, cap, 512, "write 1 sector at capacity" },
		{ T_OUT, cap - 4, 4096, "write 8 sectors at capacity-4" },
		{ T_IN, 1ull << 55, 512, "read at sector 2^55 (byte offset overflows)" },
		{ T_IN, 0xffffffffffffffffull, 512, "read at sector 2^64-1" },
		{ T_OUT, 0xfffffffffffffff8ull, 4096, "write at sector 2^64-8 (sector+count wraps)" },
		{ T_IN, 0, 100, "read of 100 bytes (not a multiple of 512)" },
		{ T_OUT, 0, 513, "write of 513 bytes" },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct result r = blk_req3(&c, 0, t[k].type, t[k].sector, ga(OFF_DATA), t[k].len, t[k].type == T_IN);
		judge(&r, E_IOERR, t[k].what);
		if (c.dead)
			break;
	}
	follow_up(&c);
	conn_close(&c);
}

static void case_get_id_short(void)
{
	struct conn c;
	full_setup(&c);
	uint32_t lens[] = { 0, 1, 8, 19 };
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		char w[64];
		snprintf(w, sizeof(w), "GET_ID into a %u-byte buffer", lens[k]);
		struct result r = blk_req3(&c, 0, T_GET_ID, 0, ga(OFF_DATA), lens[k], true);
		judge(&r, E_ANY, w); /* check_mem catches any byte written past the buffer */
		if (c.dead)
			break;
	}
	/* GET_ID with the 20-byte buffer device-readable */
	struct result r = blk_req3(&c, 0, T_GET_ID, 0, ga(OFF_DATA), 20, false);
	/* no writable byte for the ID: like a 0-byte buffer (QEMU answers OK there too) */
	judge(&r, E_ANY, "GET_ID with its 20-byte buffer device-readable");
	follow_up(&c);
	conn_close(&c);
}

static void case_discard_bad(void)
{
	struct conn c;
	full_setup(&c);
	if (!(c.features & (1ull << BLK_F_DISCARD))) {
		info("DISCARD not offered: skipped");
		conn_close(&c);
		return;
	}
	struct seg { uint64_t sector; uint32_t num; uint32_t flags; } __attribute__((packed));
	struct seg *s = (struct seg *)ha(&c, OFF_DATA);
	s[0] = (struct seg){ c.capacity - 8, 16, 0 };
	struct result r = blk_req3(&c, 0, T_DISCARD, 0, ga(OFF_DATA), 16, false);
	judge(&r, E_IOERR, "discard past capacity");
	s[0] = (struct seg){ 0, 8, 1 }; /* UNMAP flag on a discard */
	r = blk_req3(&c, 0, T_DISCARD, 0, ga(OFF_DATA), 16, false);
	judge(&r, E_UNSUPP, "discard with the unmap flag");
	s[0] = (struct seg){ 0, 8, 0 };
	r = blk_req3(&c, 0, T_DISCARD, 0, ga(OFF_DATA), 12, false);
	judge(&r, E_FAIL, "discard with a 12-byte segment buffer");
	s[0] = (struct seg){ 0xfffffffffffffff0ull, 0x20, 0 };
	r = blk_req3(&c, 0, T_DISCARD, 0, ga(OFF_DATA), 16, false);
	judge(&r, E_IOERR, "discard whose sector+count wraps");
	if (c.features & (1ull << BLK_F_WRITE_ZEROES)) {
		s[0] = (struct seg){ c.capacity, 1, 0 };
		r = blk_req3(&c, 0, T_WRITE_ZEROES, 0, ga(OFF_DATA), 16, false);
		judge(&r, E_IOERR, "write zeroes at capacity");
	}
	follow_up(&c);
	conn_close(&c);
}

/* ---- hostile cases: vhost-user messages ---- */

/* after a bad message: report whether the connection lives, then try to finish a normal setup and
 * run a request on it (any outcome is fine but memory corruption) */
static void after_bad_msg(struct conn *c, int rc, const char *what, bool try_io)
{
	bool alive = !c->dead && conn_alive(c);
	info("%s: %s; connection %s", what, rc == 0 ? "accepted" : rc == 1 ? "refused (REPLY_ACK)" : "no answer",
	     alive ? "open" : "closed");
	if (alive && try_io) {
		memset(ha(c, OFF_DATA), 0, 4096);
		struct result r = blk_req3(c, 50, T_IN, 0, ga(OFF_DATA), 4096, true);
		char b[128];
		info("  then a read: %s", res_str(&r, b, sizeof(b)));
	}
}

static void case_msg_bad_size(void)
{
	uint32_t sizes[] = { 0x1000000, 0xffffffff, 4096, 7 };
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct conn c;
		conn_open(&c);
		if (neg_features(&c))
			die("negotiation");
		uint64_t f = c.features;
		/* SET_FEATURES claiming sizes[k] bytes, sending 8 */
		send_raw(&c, U_SET_FEATURES, U_VERSION, sizes[k], &f, 8, NULL, 0);
		char w[64];
		snprintf(w, sizeof(w), "SET_FEATURES with size field %u (8 sent)", sizes[k]);
		if (sizes[k] == 4096) {
			/* the back end waits for the rest: send garbage to complete it */
			uint8_t junk[4088];
			memset(junk, 0x5a, sizeof(junk));
			send(c.sock, junk, sizeof(junk), MSG_NOSIGNAL);
		}
		after_bad_msg(&c, -1, w, false);
		conn_close(&c);
	}
	/* SET_MEM_TABLE with a size field shorter than its payload and a lying region count */
	struct conn c;
	conn_open(&c);
	neg_features(&c);
	uint8_t buf[8 + 32];
	uint32_t hdr[2] = { 8, 0 };
	struct mem_region r = { GPA_A, A_SIZE, (uintptr_t)(c.mem + A_FOFF), A_FOFF };
	memcpy(buf, hdr, 8);
	memcpy(buf + 8, &r, 32);
	int rc = set_msg(&c, U_SET_MEM_TABLE, buf, sizeof(buf), &c.memfd, 1);
	after_bad_msg(&c, rc, "SET_MEM_TABLE with 8 regions claimed, 1 sent (size 40)", false);
	conn_close(&c);
	/* a truncated header, then close */
	conn_open(&c);
	uint32_t h2[2] = { U_GET_FEATURES, U_VERSION };
	send(c.sock, h2, 6, MSG_NOSIGNAL);
	conn_close(&c);
	info("6-byte header then close: done");
	/* wrong version in flags */
	conn_open(&c);
	send_raw(&c, U_GET_FEATURES, 0x7, 0, NULL, 0, NULL, 0);
	after_bad_msg(&c, -1, "GET_FEATURES with version 7 in flags", false);
	conn_close(&c);
}

static void case_msg_unknown(void)
{
	uint32_t codes[] = { 0, 99, 1000, 0x7fffffff, 0xffffffff, 26, 40 };
	for (unsigned k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
		struct conn c;
		conn_open(&c);
		if (neg_features(&c))
			die("negotiation");
		uint64_t v = 0;
		int rc = set_msg(&c, codes[k], &v, 8, NULL, 0);
		char w[64];
		snprintf(w, sizeof(w), "request code %u", codes[k]);
		after_bad_msg(&c, rc, w, false);
		conn_close(&c);
	}
	/* a message before SET_OWNER / features: vring message first */
	struct conn c;
	conn_open(&c);
	uint32_t s[2] = { 0, 128 };
	send_msg(&c, U_SET_VRING_NUM, s, 8, NULL, 0);
	after_bad_msg(&c, -1, "SET_VRING_NUM as the first message", false);
	conn_close(&c);
}

static void case_memtable_bad(void)
{
	struct conn c;
	int rc;
	/* too many regions */
	uint32_t counts[] = { 9, 64, 0xffffffff, 0 };
	for (unsigned k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		conn_open(&c);
		neg_features(&c);
		struct mem_region r[8];
		int fds[8];
		for (int i = 0; i < 8; i++) {
			r[i] = (struct mem_region){ GPA_A + A_SIZE * (uint64_t)i, 0x1000, (uintptr_t)c.mem, 0 };
			fds[i] = c.memfd;
		}
		rc = set_mem_table(&c, r, counts[k], fds, 8);
		char w[64];
		snprintf(w, sizeof(w), "SET_MEM_TABLE with %u regions", counts[k]);
		after_bad_msg(&c, rc, w, false);
		conn_close(&c);
	}
	struct { const char *what; struct mem_region r[2]; int n; } t[] = {
		{ "a zero-size region", { { GPA_A, 0, 0, A_FOFF } }, 1 },
		{ "overlapping regions (same GPA range twice)",
		  { { GPA_A, A_SIZE, 0, A_FOFF }, { GPA_A + 0x1000, A_SIZE, 0, A_FOFF } }, 2 },
		{ "a region whose GPA + size wraps", { { 0xfffffffffff00000ull, A_SIZE, 0, A_FOFF } }, 1 },
		{ "a region whose offset + size wraps", { { GPA_A, 0x1000, 0, 0xfffffffffffff000ull } }, 1 },
		{ "a region of size 2^64-4096", { { GPA_A, 0xfffffffffffff000ull, 0, 0 } }, 1 },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		conn_open(&c);
		neg_features(&c);
		for (int i = 0; i < t[k].n; i++)
			t[k].r[i].uaddr = (uintptr_t)c.mem + A_FOFF + 0x100000ull * i;
		int fds[2] = { c.memfd, c.memfd };
		rc = set_mem_table(&c, t[k].r, t[k].n, fds, t[k].n);
		char w[96];
		snprintf(w, sizeof(w), "SET_MEM_TABLE with %s", t[k].what);
		/* continue with the rings as usual; any outcome but a crash or stray write is fine */
		if (!c.dead && conn_alive(&c))
			setup_vring(&c, QSIZE);
		after_bad_msg(&c, rc, w, true);
		conn_close(&c);
	}
	/* fd counts */
	int fdsets[][3] = { { 0 }, { 1 }, { 3 } };
	const char *fdw[] = { "2 regions, no fd", "2 regions, 1 fd", "2 regions, 3 fds" };
	for (unsigned k = 0; k < 3; k++) {
		conn_open(&c);
		neg_features(&c);
		struct mem_region r[2] = {
			{ GPA_A, A_SIZE, (uintptr_t)(c.mem + A_FOFF), A_FOFF },
			{ GPA_B, B_SIZE, (uintptr_t)(c.mem + B_FOFF), B_FOFF },
		};
		int fds[3] = { c.memfd, c.memfd, c.memfd };
		rc = set_mem_table(&c, r, 2, fds, fdsets[k][0]);
		if (!c.dead && conn_alive(&c))
			setup_vring(&c, QSIZE);
		char w[64];
		snprintf(w, sizeof(w), "SET_MEM_TABLE %s", fdw[k]);
		after_bad_msg(&c, rc, w, true);
		conn_close(&c);
	}
	/* a non-memfd fd: a pipe */
	conn_open(&c);
	neg_features(&c);
	int p[2];
	if (pipe(p))
		die("pipe");
	struct mem_region r1 = { GPA_A, A_SIZE, (uintptr_t)(c.mem + A_FOFF), 0 };
	rc = set_mem_table(&c, &r1, 1, &p[0], 1);
	after_bad_msg(&c, rc, "SET_MEM_TABLE with a pipe as the region's fd", false);
	close(p[0]);
	close(p[1]);
	conn_close(&c);
}

/* a thread that keeps reads in flight on queue 0 (the device polling) until told to stop */
struct busy {
	struct conn *c;
	volatile bool stop;
	unsigned posted;
};

/* 32 reads, each one ring descriptor pointing at its own indirect table (before snap()) */
static void busy_prepare(struct conn *c)
{
	for (unsigned i = 0; i < 32; i++) {
		unsigned s = 128 + i;
		set_hdr(c, s, T_IN, 8ull * i);
		struct vdesc *ind = (struct vdesc *)ha(c, OFF_IND + 0x2000 + 48ull * i);
		ind[0] = (struct vdesc){ slot_hdr_gpa(s), 16, D_NEXT, 1 };
		ind[1] = (struct vdesc){ ga(OFF_DATA + 0x40000 + 0x1000ull * i), 4096, D_NEXT | D_WRITE, 2 };
		ind[2] = (struct vdesc){ slot_status_gpa(s), 1, D_WRITE, 0 };
		descs(c)[128 + i] = (struct vdesc){ ga(OFF_IND + 0x2000 + 48ull * i), 48, D_INDIRECT, 0 };
	}
	allow(c, ga(OFF_HDR), 64ull * QSIZE);
	allow(c, ga(OFF_DATA + 0x40000), 0x1000ull * 32);
	/* the thread writes the avail ring without refreshing the snapshot */
	allow(c, ga(OFF_AVAIL), 4 + 2 * QSIZE + 2);
}

static void *busy_main(void *arg)
{
	struct busy *b = arg;
	struct conn *c = b->c;
	unsigned next = 0;
	uint64_t t0 = now_ms();
	while (!b->stop && now_ms() - t0 < 3000) {
		uint16_t u = __atomic_load_n(used_idx(c), __ATOMIC_ACQUIRE);
		if ((uint16_t)(c->avail_idx - u) < 32) {
			avail_ring(c)[c->avail_idx % c->qsize] = (uint16_t)(128 + next++ % 32);
			c->avail_idx++;
			__atomic_store_n(avail_idx(c), c->avail_idx, __ATOMIC_RELEASE);
			kick(c);
			b->posted++;
		} else {
			usleep(20);
		}
	}
	return NULL;
}

/* the memory table replaced while the device runs */
static void case_memtable_live(void)
{
	struct conn c;
	/* the same table again: legal (QEMU does this on memory hotplug), must go on working */
	full_setup(&c);
	struct result res = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&res, E_OK, "a read before the table is sent again");
	int rc = std_mem_table(&c);
	after_bad_msg(&c, rc, "SET_MEM_TABLE (same table) while running", false);
	if (!c.dead) {
		res = blk_req3(&c, 1, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&res, E_ANY, "a read after the same table was sent again");
	}
	conn_close(&c);
	/* memory hotplug: the same two regions plus a third one (legal): must go on working */
	full_setup(&c);
	res = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&res, E_OK, "a read before a region is added");
	{
		struct mem_region r3[3] = {
			{ GPA_A, A_SIZE, (uint64_t)(uintptr_t)(c.mem + A_FOFF), A_FOFF },
			{ GPA_B, B_SIZE, (uint64_t)(uintptr_t)(c.mem + B_FOFF), B_FOFF },
			{ GPA_B + B_SIZE + 0x100000, 0x10000, (uint64_t)(uintptr_t)c.mem, 0 },
		};
		int fds[3] = { c.memfd, c.memfd, c.memfd };
		rc = set_mem_table(&c, r3, 3, fds, 3);
		after_bad_msg(&c, rc, "SET_MEM_TABLE adding a third region while running (hotplug)", false);
		if (!c.dead) {
			res = blk_req3(&c, 1, T_IN, 0, ga(OFF_DATA), 4096, true);
			judge(&res, E_ANY, "a read after a region was added");
		}
	}
	conn_close(&c);
	/* a table that no longer holds the rings */
	full_setup(&c);
	res = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&res, E_OK, "a read before the table changes");
	struct mem_region rb = { GPA_B, B_SIZE, (uintptr_t)(c.mem + B_FOFF), B_FOFF };
	rc = set_mem_table(&c, &rb, 1, &c.memfd, 1);
	after_bad_msg(&c, rc, "SET_MEM_TABLE without the region holding the rings, while running", true);
	conn_close(&c);
	/* hotplug again, this time with reads streaming while the table changes (the device polling) */
	for (int round = 0; round < 5; round++) {
		full_setup(&c);
		busy_prepare(&c);
		snap(&c);
		struct busy b = { &c, false, 0 };
		pthread_t th;
		pthread_create(&th, NULL, busy_main, &b);
		usleep(50000);
		struct mem_region r3[3] = {
			{ GPA_A, A_SIZE, (uint64_t)(uintptr_t)(c.mem + A_FOFF), A_FOFF },
			{ GPA_B, B_SIZE, (uint64_t)(uintptr_t)(c.mem + B_FOFF), B_FOFF },
			{ GPA_B + B_SIZE + 0x100000 * (round + 1), 0x10000, (uint64_t)(uintptr_t)c.mem, 0 },
		};
		int fds[3] = { c.memfd, c.memfd, c.memfd };
		rc = set_mem_table(&c, r3, 3, fds, 3);
		usleep(50000);
		b.stop = true;
		pthread_join(th, NULL);
		bool alive = conn_alive(&c);
		info("round %d: SET_MEM_TABLE adding a region with %u reads posted around it: %s, connection %s",
		     round, b.posted, rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer",
		     alive ? "open" : "closed");
		conn_close(&c);
		if (!alive)
			break;
	}
}

/* regions the memfd does not back: offset past the end of the file, or larger than the file.
 * mmap() of a file succeeds beyond its end; touching such a page raises SIGBUS. */
static void case_memtable_past_eof(void)
{
	struct { const char *what; struct mem_region r; } t[] = {
		{ "a region whose mmap offset is 1 TiB beyond the file", { GPA_A, A_SIZE, 0, 1ull << 40 } },
		{ "a region whose mmap offset is just past the end of the file", { GPA_A, A_SIZE, 0, FILE_SIZE } },
		{ "a region larger than the file (1 TiB)", { GPA_A, 1ull << 40, 0, A_FOFF } },
		{ "a region 1 MiB larger than the file", { GPA_A, FILE_SIZE, 0, A_FOFF } },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct conn c;
		conn_open(&c);
		neg_features(&c);
		t[k].r.uaddr = (uintptr_t)c.mem + A_FOFF;
		int rc = set_mem_table(&c, &t[k].r, 1, &c.memfd, 1);
		char w[96];
		snprintf(w, sizeof(w), "SET_MEM_TABLE with %s", t[k].what);
		if (!c.dead && conn_alive(&c))
			setup_vring(&c, QSIZE);
		after_bad_msg(&c, rc, w, true);
		conn_close(&c);
	}
}

/* a valid table, then the front end shrinks its memfd under the running device, with 32
 * reads just posted (on a slow bdev they are in flight in the back end when it happens:
 * their data and status land past the new end of the file) */
static void case_memfd_shrink(void)
{
	struct conn c;
	full_setup(&c);
	struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "a read before the shrink");
	busy_prepare(&c);
	for (unsigned i = 0; i < 32; i++)
		avail_ring(&c)[(c.avail_idx + i) % c.qsize] = (uint16_t)(128 + i);
	c.avail_idx += 32;
	__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
	kick(&c);
	usleep(5000);	/* taken by now; a 20 ms bdev still holds them */
	if (ftruncate(c.memfd, A_FOFF))
		die("ftruncate");
	/* the rings are now past the end of the file for everyone (we cannot post: our own
	 * mapping faults there too); kick, so that a sleeping device looks at its rings */
	kick(&c);
	usleep(300000);
	bool alive = conn_alive(&c);
	info("memfd shrunk to 64 KiB under a running device with 32 reads posted: connection %s",
	     alive ? "open" : "closed");
	if (ftruncate(c.memfd, FILE_SIZE))
		die("ftruncate back");
	close(c.sock);
	c.sock = -1;
	munmap(c.mem, FILE_SIZE);
	close(c.memfd);
	free(c.shadow);
	if (c.kickfd >= 0)
		close(c.kickfd);
	if (c.callfd >= 0)
		close(c.callfd);
}

static void case_vring_bad(void)
{
	struct conn c;
	int rc;
	uint32_t nums[] = { 100, 0, 3, 32769, 65536, 0xffffffff, 1u << 20 };
	for (unsigned k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		conn_open(&c);
		neg_features(&c);
		std_mem_table(&c);
		rc = set_state(&c, U_SET_VRING_NUM, 0, nums[k]);
		char w[64];
		snprintf(w, sizeof(w), "SET_VRING_NUM %u", nums[k]);
		info("%s: %s", w, rc == 0 ? "accepted" : rc == 1 ? "refused" : "connection closed");
		if (rc >= 0) {
			/* go on without a valid size: base, addr, fds, enable */
			uintptr_t u = (uintptr_t)c.mem + A_FOFF;
			set_state(&c, U_SET_VRING_BASE, 0, 0);
			set_vring_addr(&c, 0, u + OFF_DESC, u + OFF_USED, u + OFF_AVAIL);
			c.kickfd = eventfd(0, EFD_NONBLOCK);
			c.callfd = eventfd(0, EFD_NONBLOCK);
			set_vring_fd(&c, U_SET_VRING_CALL, 0, c.callfd);
			set_vring_fd(&c, U_SET_VRING_KICK, 0, c.kickfd);
			set_state(&c, U_SET_VRING_ENABLE, 0, 1);
			/* the back end may believe either size; ours is 256-sized areas */
			c.qsize = nums[k] && nums[k] <= QSIZE ? nums[k] : QSIZE;
		}
		after_bad_msg(&c, rc, w, true);
		conn_close(&c);
	}
	uint32_t idxs[] = { 8, 200, 255, 256, 0xffffffff };
	for (unsigned k = 0; k < sizeof(idxs) / sizeof(idxs[0]); k++) {
		conn_open(&c);
		neg_features(&c);
		std_mem_table(&c);
		uint32_t i = idxs[k];
		uintptr_t u = (uintptr_t)c.mem + A_FOFF;
		int r1 = set_state(&c, U_SET_VRING_NUM, i, 128);
		int r2 = c.dead ? -1 : set_state(&c, U_SET_VRING_BASE, i, 0);
		int r3 = c.dead ? -1 : set_vring_addr(&c, i, u + OFF_DESC, u + OFF_USED, u + OFF_AVAIL);
		int efd = eventfd(0, 0);
		int r4 = c.dead ? -1 : set_vring_fd(&c, U_SET_VRING_KICK, i & 0xff, efd);
		int r5 = c.dead ? -1 : set_vring_fd(&c, U_SET_VRING_CALL, i & 0xff, efd);
		int r6 = c.dead ? -1 : set_state(&c, U_SET_VRING_ENABLE, i, 1);
		uint32_t gb_[2] = { i, 0 };
		int r7 = -1;
		if (!c.dead && send_msg(&c, U_GET_VRING_BASE, gb_, 8, NULL, 0) == 0) {
			uint32_t rep[2];
			int n = recv_reply(&c, U_GET_VRING_BASE, rep, 8, 1000);
			r7 = n;
		}
		close(efd);
		char w[64];
		snprintf(w, sizeof(w), "vring index %u in NUM/BASE/ADDR/KICK/CALL/ENABLE/GET_BASE", i);
		info("%s: answers %d %d %d %d %d %d %d", w, r1, r2, r3, r4, r5, r6, r7);
		after_bad_msg(&c, -1, w, false);
		conn_close(&c);
	}
}

/* ring areas outside or partly outside the memory table, misaligned */
static void case_vring_addr_bad(void)
{
	struct conn c;
	int rc;
	/* ring addresses outside the memory table, misaligned, and a used ring in the guard */
	struct { const char *what; int64_t dd, du, da; } t[] = {
		{ "ring addresses not in the memory table", 0x7f000000000, 0x7f000001000, 0x7f000002000 },
		{ "misaligned descriptor table (+1)", 1, 0, 0 },
		{ "avail ring in the guard below A", 0, 0, -(int64_t)(OFF_AVAIL + 0x1000) },
	};
	for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		conn_open(&c);
		neg_features(&c);
		std_mem_table(&c);
		uintptr_t u = (uintptr_t)c.mem + A_FOFF;
		set_state(&c, U_SET_VRING_NUM, 0, QSIZE);
		set_state(&c, U_SET_VRING_BASE, 0, 0);
		uint64_t d = u + OFF_DESC, us = u + OFF_USED, a = u + OFF_AVAIL;
		if (k == 0) {
			d = (uint64_t)t[k].dd;
			us = (uint64_t)t[k].du;
			a = (uint64_t)t[k].da;
		} else {
			d += (uint64_t)t[k].dd;
			us += (uint64_t)t[k].du;
			a += (uint64_t)t[k].da;
			/* the used ring, wherever it is, is the back end's to write */
			allow(&c, ga(OFF_USED) + (uint64_t)t[k].du, 4 + 8 * QSIZE + 2);
		}
		rc = set_vring_addr(&c, 0, d, us, a);
		c.kickfd = eventfd(0, EFD_NONBLOCK);
		c.callfd = eventfd(0, EFD_NONBLOCK);
		set_vring_fd(&c, U_SET_VRING_CALL, 0, c.callfd);
		set_vring_fd(&c, U_SET_VRING_KICK, 0, c.kickfd);
		set_state(&c, U_SET_VRING_ENABLE, 0, 1);
		/* give a moving avail idx so a device that started reads something */
		*avail_idx(&c) = 1;
		sync_avail(&c);
		kick(&c);
		usleep(200000);
		after_bad_msg(&c, rc, t[k].what, false);
		conn_close(&c);
	}
}

/* a ring area that starts inside region A and runs past its end (sub: which ring) */
static void case_vring_area_partial(int sub)
{
	struct { const char *what; uint64_t off; } t[] = {
		{ "descriptor table starting 16 bytes before the end of region A", A_SIZE - 16 },
		{ "avail ring starting 4 bytes before the end of region A", A_SIZE - 4 },
		{ "used ring starting 8 bytes before the end of region A", A_SIZE - 8 },
	};
	for (int k = 0; k < 3; k++) {
		if (sub >= 0 && k != sub)
			continue;
		struct conn c;
		conn_open(&c);
		neg_features(&c);
		std_mem_table(&c);
		uintptr_t u = (uintptr_t)c.mem + A_FOFF;
		uint64_t d = u + OFF_DESC, us = u + OFF_USED, a = u + OFF_AVAIL;
		if (k == 0) {
			d = u + t[k].off;
			memcpy(ha(&c, t[k].off), ha(&c, OFF_DESC), 16);
		} else if (k == 1) {
			a = u + t[k].off;
		} else {
			us = u + t[k].off;
			allow(&c, ga(t[k].off), 8);
		}
		/* one request in the normal places (the moved ring's first bytes are in A) */
		set_hdr(&c, 0, T_IN, 0);
		setd(&c, 0, slot_hdr_gpa(0), 16, D_NEXT, 1);
		setd(&c, 1, ga(OFF_DATA), 512, D_NEXT | D_WRITE, 2);
		setd(&c, 2, slot_status_gpa(0), 1, D_WRITE, 0);
		if (k == 0)
			memcpy(ha(&c, t[k].off), ha(&c, OFF_DESC), 16);
		memset(c.mem + (a - (uintptr_t)c.mem), 0, 4); /* avail flags and idx */
		if (k == 2)
			memset(ha(&c, t[k].off), 0, 8);
		snap(&c);
		set_state(&c, U_SET_VRING_NUM, 0, QSIZE);
		set_state(&c, U_SET_VRING_BASE, 0, 0);
		int rc = set_vring_addr(&c, 0, d, us, a);
		c.kickfd = eventfd(0, EFD_NONBLOCK);
		c.callfd = eventfd(0, EFD_NONBLOCK);
		set_vring_fd(&c, U_SET_VRING_CALL, 0, c.callfd);
		set_vring_fd(&c, U_SET_VRING_KICK, 0, c.kickfd);
		set_state(&c, U_SET_VRING_ENABLE, 0, 1);
		/* publish one request through whatever avail ring the back end uses */
		uint8_t *av = c.mem + (a - (uintptr_t)c.mem);
		if (k == 1) {
			uint16_t one = 1;
			memcpy(av + 2, &one, 2); /* idx is inside A; ring[0] is past its end */
		} else {
			avail_ring(&c)[0] = 0;
			*avail_idx(&c) = 1;
		}
		memcpy(c.shadow + (av - c.mem), av, 4);
		sync_avail(&c);
		kick(&c);
		usleep(300000);
		after_bad_msg(&c, rc, t[k].what, false);
		check_mem(&c, t[k].what);
		conn_close(&c);
	}
}

static void case_vring_fd_bad(void)
{
	struct conn c;
	int rc;
	uint64_t v;
	/* kick without an fd and without the NOFD flag; call with NOFD; 1000 call fds */
	full_setup(&c);
	v = 0;
	rc = set_msg(&c, U_SET_VRING_KICK, &v, 8, NULL, 0);
	after_bad_msg(&c, rc, "SET_VRING_KICK without an fd and without the no-fd flag", true);
	conn_close(&c);
	full_setup(&c);
	rc = set_vring_fd(&c, U_SET_VRING_CALL, 0, -1);
	after_bad_msg(&c, rc, "SET_VRING_CALL with the no-fd flag while running", true);
	conn_close(&c);
	full_setup(&c);
	int two[2] = { eventfd(0, 0), eventfd(0, 0) };
	v = 0;
	rc = set_msg(&c, U_SET_VRING_CALL, &v, 8, two, 2);
	close(two[0]);
	close(two[1]);
	after_bad_msg(&c, rc, "SET_VRING_CALL with 2 fds", true);
	conn_close(&c);
	/* features never offered */
	conn_open(&c);
	neg_features(&c);
	rc = set_u64(&c, U_SET_FEATURES, ~0ull);
	after_bad_msg(&c, rc, "SET_FEATURES with every bit set", false);
	conn_close(&c);
	/* GET_CONFIG beyond the config space */
	conn_open(&c);
	neg_features(&c);
	if (c.pfeatures & (1ull << PF_CONFIG)) {
		uint32_t cfg[3 + 64] = { 0 };
		struct { uint32_t off, size, msgsize; const char *what; } g[] = {
			{ 0, 256, 12 + 256, "GET_CONFIG size 256" },
			{ 0xfffffff0, 32, 12 + 32, "GET_CONFIG offset 0xfffffff0" },
			{ 0, 60, 12, "GET_CONFIG size 60 in a 12-byte message" },
			{ 0, 0xffffffff, 12 + 60, "GET_CONFIG size 0xffffffff" },
		};
		for (unsigned k = 0; k < 4 && !c.dead; k++) {
			cfg[0] = g[k].off;
			cfg[1] = g[k].size;
			send_msg(&c, U_GET_CONFIG, cfg, g[k].msgsize, NULL, 0);
			uint8_t rep[4096];
			int n = recv_reply(&c, U_GET_CONFIG, rep, sizeof(rep), 1000);
			info("%s: reply of %d bytes", g[k].what, n);
		}
		after_bad_msg(&c, -1, "GET_CONFIG out of range", false);
	}
	conn_close(&c);
}

static void case_call_flood(void)
{
	/* 1000 SET_VRING_CALL with new eventfds: the back end must close the old ones */
	struct conn c;
	full_setup(&c);
	for (int i = 0; i < 1000 && !c.dead; i++) {
		int fd = eventfd(0, 0);
		uint64_t v = 0;
		send_raw(&c, U_SET_VRING_CALL, U_VERSION, 8, &v, 8, &fd, 1);
		close(fd);
		if (i % 100 == 99)
			conn_alive(&c);
	}
	after_bad_msg(&c, -1, "1000 SET_VRING_CALL with fresh eventfds", true);
	for (int i = 0; i < 200 && !c.dead; i++)
		std_mem_table(&c);
	after_bad_msg(&c, -1, "200 SET_MEM_TABLE repeats", true);
	conn_close(&c);
}

/* two front ends on one controller socket at once */
static void case_two_conns(void)
{
	struct conn a, b;
	full_setup(&a);
	struct result r = blk_req3(&a, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "first connection: a read");
	conn_open(&b);
	int rc = neg_features(&b);
	if (rc == 0 && get_config(&b) == 0 && std_mem_table(&b) == 0 && setup_vring(&b, QSIZE) == 0) {
		snap(&b);
		r = blk_req3(&b, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_ANY, "second connection at the same time: a read");
	} else {
		info("second connection at the same time: refused during setup");
	}
	r = blk_req3(&a, 1, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_ANY, "first connection again");
	conn_close(&b);
	r = blk_req3(&a, 2, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_ANY, "first connection after the second left");
	conn_close(&a);
}

/* GET_VRING_BASE stops a ring (vhost-user spec); then the ring is set up again, as QEMU does
 * when a guest resets its device: must work */
static void case_vring_restart(void)
{
	struct conn c;
	full_setup(&c);
	struct result r;
	for (unsigned i = 0; i < 5; i++) {
		r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_OK, "a read before the ring stops");
	}
	uint32_t st[2] = { 0, 0 };
	if (send_msg(&c, U_GET_VRING_BASE, st, 8, NULL, 0) || recv_reply(&c, U_GET_VRING_BASE, st, 8, 3000) != 8) {
		info("GET_VRING_BASE: no answer; connection %s", conn_alive(&c) ? "open" : "closed");
		conn_close(&c);
		return;
	}
	info("GET_VRING_BASE: index %u, base %u (we published %u)", st[0], st[1], c.avail_idx);
	if (st[1] != c.avail_idx)
		finding("GET_VRING_BASE answered %u, but %u requests were posted and completed", st[1], c.avail_idx);
	/* the ring is stopped: a request posted now must not be served */
	set_hdr(&c, 5, T_IN, 0);
	setd(&c, 50, slot_hdr_gpa(5), 16, D_NEXT, 51);
	setd(&c, 51, ga(OFF_DATA), 512, D_NEXT | D_WRITE, 52);
	setd(&c, 52, slot_status_gpa(5), 1, D_WRITE, 0);
	r = submit(&c, 50, slot_status(&c, 5), 300);
	if (r.o == O_STATUS || r.o == O_LEN0)
		finding("a request posted after GET_VRING_BASE (ring stopped) was served");
	/* start again from where we are (the stray request is taken back: base = what we published - 1) */
	c.avail_idx--;
	__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
	c.used_seen = *used_idx(&c);
	sync_avail(&c);
	/* the back end dropped both eventfds at GET_VRING_BASE: new ones, as QEMU sends */
	close(c.kickfd);
	close(c.callfd);
	c.kickfd = eventfd(0, EFD_NONBLOCK);
	c.callfd = eventfd(0, EFD_NONBLOCK);
	if (set_state(&c, U_SET_VRING_NUM, 0, QSIZE) || set_state(&c, U_SET_VRING_BASE, 0, c.avail_idx)) {
		info("re-setup refused");
		conn_close(&c);
		return;
	}
	uintptr_t u = (uintptr_t)c.mem + A_FOFF;
	set_vring_addr(&c, 0, u + OFF_DESC, u + OFF_USED, u + OFF_AVAIL);
	set_vring_fd(&c, U_SET_VRING_KICK, 0, c.kickfd);
	set_vring_fd(&c, U_SET_VRING_CALL, 0, c.callfd);
	set_state(&c, U_SET_VRING_ENABLE, 0, 1);
	for (unsigned i = 0; i < 5; i++) {
		r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_OK, "a read after the ring was set up again");
		if (c.dead)
			break;
	}
	conn_close(&c);
}

/* ring addresses changed, and RESET_OWNER, while the device runs */
static void case_vring_live_change(void)
{
	struct conn c;
	full_setup(&c);
	struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "a read before the ring moves");
	/* new rings in region B (zeroed), without stopping the ring first */
	memset(hb(&c, 0), 0, 0x4000);
	allow(&c, gb(0x2000), 4 + 8 * QSIZE + 2);
	snap(&c);
	uintptr_t ub = (uintptr_t)c.mem + B_FOFF;
	int rc = set_vring_addr(&c, 0, ub, ub + 0x2000, ub + 0x1000);
	after_bad_msg(&c, rc, "SET_VRING_ADDR to new rings while running", false);
	usleep(100000);
	check_mem(&c, "after SET_VRING_ADDR while running");
	conn_close(&c);

	full_setup(&c);
	r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "a read before RESET_OWNER");
	send_msg(&c, U_RESET_OWNER, NULL, 0, NULL, 0);
	after_bad_msg(&c, -1, "RESET_OWNER while running", true);
	conn_close(&c);

	full_setup(&c);
	r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "a read before SET_FEATURES changes");
	rc = set_u64(&c, U_SET_FEATURES, c.features | (1ull << F_EVENT_IDX));
	after_bad_msg(&c, rc, "SET_FEATURES adding EVENT_IDX while running", true);
	conn_close(&c);
}

/* queue 0 running, then queues 1..9 and 200 set up and enabled (the back end offers 8) */
static void case_many_queues(void)
{
	struct conn c;
	full_setup(&c);
	struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
	judge(&r, E_OK, "queue 0: a read");
	uint32_t qs[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 200 };
	int efds[20];
	int ne = 0;
	for (unsigned k = 0; k < sizeof(qs) / sizeof(qs[0]) && !c.dead; k++) {
		uint32_t q = qs[k];
		uint64_t off = 0x1000ull * k;
		memset(hb(&c, off), 0, 0x1000);
		allow(&c, gb(off + 0x800), 4 + 8 * 16 + 2);
		uintptr_t u = (uintptr_t)c.mem + B_FOFF + off;
		set_state(&c, U_SET_VRING_NUM, q, 16);
		set_state(&c, U_SET_VRING_BASE, q, 0);
		set_vring_addr(&c, q, u, u + 0x800, u + 0x400);
		efds[ne] = eventfd(0, EFD_NONBLOCK);
		efds[ne + 1] = eventfd(0, EFD_NONBLOCK);
		set_vring_fd(&c, U_SET_VRING_CALL, q, efds[ne + 1]);
		set_vring_fd(&c, U_SET_VRING_KICK, q, efds[ne]);
		int rc = set_state(&c, U_SET_VRING_ENABLE, q, 1);
		info("queue %u set up and enabled: %s", q, rc == 0 ? "accepted" : rc == 1 ? "refused" : "connection closed");
		ne += 2;
	}
	snap(&c);
	usleep(200000);
	check_mem(&c, "after enabling queues 1..9 and 200");
	if (!c.dead) {
		r = blk_req3(&c, 1, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_OK, "queue 0 after the others were enabled: a read");
	}
	for (int i = 0; i < ne; i++)
		close(efds[i]);
	conn_close(&c);
}

/* a read whose data lands on the rings themselves (guest memory: the device may write it, and
 * must survive what it then finds there) */
static void case_read_into_rings(void)
{
	struct { const char *what; uint64_t off; uint32_t len; } t[] = {
		{ "a read into the descriptor table", OFF_DESC, 4096 },
		{ "a read into the avail ring", OFF_AVAIL, 4096 },
		{ "a read into the used ring", OFF_USED, 4096 },
	};
	for (unsigned k = 0; k < 3; k++) {
		struct conn c;
		full_setup(&c);
		/* first fill sector 8.. with a pattern that makes bad rings: 0xff everywhere */
		memset(ha(&c, OFF_DATA), 0xff, 4096);
		struct result r = blk_req3(&c, 0, T_OUT, 8, ga(OFF_DATA), 4096, false);
		judge(&r, E_OK, "write 0xff x 4096 at sector 8");
		/* the chain itself in an indirect table, so that it survives being overwritten */
		set_hdr(&c, 1, T_IN, 8);
		struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND);
		ind[0] = (struct vdesc){ slot_hdr_gpa(1), 16, D_NEXT, 1 };
		ind[1] = (struct vdesc){ ga(t[k].off), t[k].len, D_NEXT | D_WRITE, 2 };
		ind[2] = (struct vdesc){ slot_status_gpa(1), 1, D_WRITE, 0 };
		allow(&c, ga(t[k].off), t[k].len);
		allow(&c, slot_status_gpa(1), 1);
		setd(&c, 10, ga(OFF_IND), 48, D_INDIRECT, 0);
		r = submit(&c, 10, slot_status(&c, 1), 1000);
		judge(&r, E_ANY, t[k].what);
		/* whatever the rings hold now, post one more request and see the daemon live on */
		if (!c.dead) {
			post(&c, 10);
			kick(&c);
			usleep(100000);
		}
		info("afterwards: connection %s", conn_alive(&c) ? "open" : "closed");
		conn_close(&c);
	}
}

/* requests beyond the advertised limits (SEG_MAX, SIZE_MAX) and a full ring */
static void case_oversize(void)
{
	struct conn c;
	full_setup(&c);
	/* one 1 MiB read in a single descriptor (SIZE_MAX is per segment) */
	struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 0x100000, true);
	judge(&r, E_ANY, "a 1 MiB read in one descriptor");
	/* 200 segments of 512 bytes (SEG_MAX 126), direct */
	set_hdr(&c, 1, T_IN, 0);
	setd(&c, 0, slot_hdr_gpa(1), 16, D_NEXT, 1);
	for (unsigned i = 1; i <= 200; i++)
		setd(&c, i, ga(OFF_DATA + 512ull * i), 512, D_NEXT | D_WRITE, (uint16_t)(i + 1));
	setd(&c, 201, slot_status_gpa(1), 1, D_WRITE, 0);
	r = submit(&c, 0, slot_status(&c, 1), 1000);
	judge(&r, E_ANY, "a read of 200 segments (SEG_MAX is 126)");
	conn_close(&c);

	/* a full ring: 256 reads at once, each one ring descriptor pointing to a table */
	full_setup(&c);
	for (unsigned i = 0; i < QSIZE; i++) {
		set_hdr(&c, i, T_IN, 8ull * i);
		struct vdesc *ind = (struct vdesc *)ha(&c, OFF_IND + 48ull * (i % 64));
		if (i < 64) {
			ind[0] = (struct vdesc){ slot_hdr_gpa(i), 16, D_NEXT, 1 };
			ind[1] = (struct vdesc){ ga(OFF_DATA + 0x1000ull * i), 4096, D_NEXT | D_WRITE, 2 };
			ind[2] = (struct vdesc){ slot_status_gpa(i), 1, D_WRITE, 0 };
		}
	}
	/* 64 distinct tables; requests i and i+64.. share one (same header, data, status): fine for reads */
	allow(&c, ga(OFF_DATA), 0x1000ull * 64);
	allow(&c, ga(OFF_HDR), 64ull * QSIZE);
	for (unsigned i = 0; i < QSIZE; i++) {
		setd(&c, i, ga(OFF_IND + 48ull * (i % 64)), 48, D_INDIRECT, 0);
		avail_ring(&c)[i] = (uint16_t)i;
	}
	snap(&c);
	c.avail_idx = QSIZE;
	__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
	sync_avail(&c);
	kick(&c);
	int got = wait_used(&c, QSIZE, 5000);
	info("a full ring of 256 reads: %d completed", got);
	if (got != QSIZE)
		finding("a full ring of 256 valid reads: only %d completed in 5 s", got);
	struct done d[QSIZE];
	int n = reap(&c, d, QSIZE);
	unsigned bad = 0;
	for (int i = 0; i < n; i++)
		if (d[i].len != 4097)
			bad++;
	if (bad)
		finding("%u of %d reads completed with a used length other than 4097", bad, n);
	check_mem(&c, "after a full ring");
	conn_close(&c);
}

/* messages for features the back end does not offer or use, on a running device: the
 * inflight region, the dirty log, device status, the back-end request channel, error fd;
 * fds attached to messages that take none */
static void case_misc_msgs(int sub)
{
	struct conn c;
	full_setup(&c);
	int rc;
#define SUB(k) (sub < 0 || sub == (k))
	struct { uint64_t size, off; uint16_t nq, qs; uint8_t pad[4]; } __attribute__((packed)) inf = { 0, 0, 8, 256, { 0 } };
	if (SUB(0)) {
	rc = set_msg(&c, 31 /* GET_INFLIGHT_FD */, &inf, sizeof(inf), NULL, 0);
	info("GET_INFLIGHT_FD (8 queues of 256; INFLIGHT_SHMFD not negotiated): %s",
	     rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
	/* our side may have received an fd or a reply: drain whatever is there */
	if (!c.dead) {
		uint8_t junk[256];
		struct pollfd p = { c.sock, POLLIN, 0 };
		while (poll(&p, 1, 100) > 0 && recv(c.sock, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	}
	}
	int small = memfd_create("vh_small", 0);
	if (small < 0 || ftruncate(small, 4096))
		die("memfd");
	inf = (typeof(inf)){ 1ull << 40, 0, 8, 256, { 0 } };
	if (!c.dead && SUB(1)) {
		rc = set_msg(&c, 32 /* SET_INFLIGHT_FD */, &inf, sizeof(inf), &small, 1);
		info("SET_INFLIGHT_FD, a 4 KiB memfd claimed as 1 TiB: %s", rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
	}
	uint64_t logm[2] = { 1ull << 40, 0 };
	if (!c.dead && SUB(2)) {
		rc = set_msg(&c, U_SET_LOG_BASE, logm, sizeof(logm), &small, 1);
		info("SET_LOG_BASE, a 4 KiB memfd claimed as 1 TiB: %s", rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
		/* SET_LOG_BASE is answered with a reply (log fd protocol): drain */
		uint8_t junk[256];
		struct pollfd p = { c.sock, POLLIN, 0 };
		while (poll(&p, 1, 100) > 0 && recv(c.sock, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	}
	if (!c.dead && SUB(2)) {
		struct result r = blk_req3(&c, 0, T_OUT, 0, ga(OFF_DATA), 4096, false);
		judge(&r, E_ANY, "a write after a dirty log was offered");
	}
	uint64_t st[] = { 0, 0xff, 0x80, 0x40 };
	for (unsigned k = 0; k < 4 && !c.dead && SUB(3); k++) {
		rc = set_u64(&c, 39 /* SET_STATUS */, st[k]);
		info("SET_STATUS 0x%" PRIx64 ": %s", st[k], rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
	}
	if (!c.dead && SUB(3)) {
		struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_ANY, "a read after SET_STATUS 0 / 0xff / FAILED / NEEDS_RESET");
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		die("socketpair");
	if (!c.dead && SUB(4)) {
		rc = set_msg(&c, 21 /* SET_BACKEND_REQ_FD */, NULL, 0, &sp[1], 1);
		info("SET_BACKEND_REQ_FD (a socket nobody reads): %s", rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
	}
	close(sp[1]);
	int efd = eventfd(0, 0);
	if (!c.dead && SUB(4)) {
		rc = set_vring_fd(&c, U_SET_VRING_ERR, 0, efd);
		info("SET_VRING_ERR: %s", rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
	}
	/* 50 messages that take no fd, each carrying 8 */
	int fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = eventfd(0, 0);
	for (int i = 0; i < 50 && !c.dead && SUB(4); i++) {
		send_raw(&c, U_GET_FEATURES, U_VERSION, 0, NULL, 0, fds, 8);
		uint64_t f;
		if (recv_reply(&c, U_GET_FEATURES, &f, 8, 10000) < 0)
			break;
	}
	if (SUB(4))
		info("50 GET_FEATURES carrying 8 fds each: connection %s", conn_alive(&c) ? "open" : "closed");
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	if (!c.dead) {
		struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
		judge(&r, E_ANY, "a read at the end");
	}
	close(efd);
	close(small);
	conn_close(&c);
	close(sp[0]);
#undef SUB
}

/* the daemon's CPU time in clock ticks (HOSTILE_DAEMON_PID), or -1 */
static long daemon_ticks(void)
{
	const char *pid = getenv("HOSTILE_DAEMON_PID");
	if (!pid)
		return -1;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	long ut = 0, st = 0;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

/* kick "eventfds" that are not eventfds: a regular file (epoll refuses it), a pipe whose
 * writer is gone (always readable, reads return 0), a socket, /dev/null */
static void case_kick_fd_kinds(int sub)
{
	const char *what[] = { "a memfd (regular file)", "a pipe whose write end is closed",
			       "a connected socket with 1 byte pending", "/dev/null", "a new eventfd (control)" };
	for (int k = 0; k < 5; k++) {
		if (sub >= 0 && k != sub)
			continue;
		int fd = -1, other = -1;
		if (k == 0) {
			fd = memfd_create("vh_kick", 0);
		} else if (k == 1) {
			int p[2];
			if (pipe(p))
				die("pipe");
			fd = p[0];
			close(p[1]);
		} else if (k == 2) {
			int sp[2];
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
				die("socketpair");
			fd = sp[0];
			other = sp[1];
			if (write(other, "x", 1) != 1)
				die("write");
		} else if (k == 3) {
			fd = open("/dev/null", O_RDWR);
		} else {
			fd = eventfd(0, EFD_NONBLOCK);
		}
		struct conn c;
		full_setup(&c);
		int rc = set_vring_fd(&c, U_SET_VRING_KICK, 0, fd);
		if (k == 4)
			c.kick_alt = fd;
		if (k == 2)
			c.kick_alt = other; /* kicks now go through the socket */
		char w[96];
		snprintf(w, sizeof(w), "SET_VRING_KICK with %s while running", what[k]);
		info("%s: %s", w, rc == 0 ? "accepted" : rc == 1 ? "refused" : "no answer");
		if (!c.dead) {
			struct result r = blk_req3(&c, 0, T_IN, 0, ga(OFF_DATA), 4096, true);
			judge(&r, E_ANY, "a read after it");
		}
		/* idle, connected: does the daemon sleep? */
		long t0 = daemon_ticks();
		usleep(1000000);
		long t1 = daemon_ticks();
		if (t0 >= 0 && t1 >= 0) {
			double pct = 100.0 * (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK);
			info("daemon CPU over 1 s idle with this kick fd: %.0f%% of a core", pct);
			/* information only: a kick fd that is always readable or cannot be watched
			 * makes the controller poll, which is the daemon's choice, not a fault */
		}
		if (!c.dead) {
			struct result r = blk_req3(&c, 1, T_IN, 0, ga(OFF_DATA), 4096, true);
			judge(&r, E_ANY, "a read after 1 s idle");
		}
		conn_close(&c);
		close(fd);
		if (other >= 0)
			close(other);
	}
}

/* a front end that posts 64 reads, then holds the connection for secs seconds without
 * looking at anything (for the driver script: delete the controller meanwhile);
 * mid = 1: stop in the middle of the dialogue instead (after SET_MEM_TABLE) */
static void case_hold(int secs, int mid)
{
	struct conn c;
	if (mid) {
		conn_open(&c);
		neg_features(&c);
		std_mem_table(&c);
		/* and half a message */
		uint32_t h[3] = { U_SET_VRING_NUM, U_VERSION, 8 };
		send(c.sock, h, 12, MSG_NOSIGNAL);
		send(c.sock, h, 2, MSG_NOSIGNAL);
	} else {
		full_setup(&c);
		for (unsigned i = 0; i < 64; i++) {
			unsigned d = 3 * i;
			set_hdr(&c, i, T_IN, 8ull * i);
			setd(&c, d, slot_hdr_gpa(i), 16, D_NEXT, d + 1);
			setd(&c, d + 1, ga(OFF_DATA + 0x4000ull * i), 0x4000, D_NEXT | D_WRITE, d + 2);
			setd(&c, d + 2, slot_status_gpa(i), 1, D_WRITE, 0);
			avail_ring(&c)[i] = (uint16_t)d;
		}
		c.avail_idx = 64;
		snap(&c);
		__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
		sync_avail(&c);
		kick(&c);
		usleep(300000); /* on a slow bdev the reads are now in flight */
	}
	printf("holding (used idx %u)\n", *used_idx(&c));
	fflush(stdout);
	uint64_t t0 = now_ms();
	while ((int)(now_ms() - t0) < secs * 1000) {
		struct pollfd p = { c.sock, POLLIN, 0 };
		if (poll(&p, 1, 100) > 0) {
			uint8_t junk[256];
			if (recv(c.sock, junk, sizeof(junk), MSG_DONTWAIT) == 0)
				break; /* the back end closed the connection */
		}
	}
	info("held %d ms; used idx %u", (int)(now_ms() - t0), *used_idx(&c));
	check_mem(&c, "while held");
	conn_close(&c);
}

/* interrupt mode under a trickle: requests one at a time with random idle gaps of 0-2 ms
 * (the device arms and sleeps between many of them); each must complete within 1 s of
 * its kick */
static void case_kick_trickle(int n)
{
	struct conn c;
	full_setup(&c);
	uint64_t seed = ((uint64_t)now_ms() << 16) | 7;
	unsigned slow = 0, worst = 0;
	for (int i = 0; i < n && !c.dead; i++) {
		uint64_t t0 = now_ms();
		struct result r = blk_req3(&c, i % 64, T_IN, 8ull * (i % 64), ga(OFF_DATA + 0x1000ull * (i % 64)),
					   4096, true);
		unsigned ms = (unsigned)(now_ms() - t0);
		if (ms > worst)
			worst = ms;
		if (ms > 100)
			slow++;
		if (r.o != O_STATUS || r.status != S_OK) {
			char b[128];
			finding("request %d: %s", i, res_str(&r, b, sizeof(b)));
			break;
		}
		usleep(rnd32(&seed) % 2000);
	}
	info("%d requests one at a time with 0-2 ms gaps: %u took > 100 ms, worst %u ms, %u needed a second kick",
	     n, slow, worst, lost_wakeups);
	conn_close(&c);
}

/* what the back end offers (information) */
static void case_features(void)
{
	struct conn c;
	conn_open(&c);
	uint64_t f = 0, pf = 0;
	send_msg(&c, U_SET_OWNER, NULL, 0, NULL, 0);
	get_u64(&c, U_GET_FEATURES, &f);
	info("features offered 0x%" PRIx64, f);
	if (f & (1ull << F_PROTOCOL_FEATURES)) {
		get_u64(&c, U_GET_PROTOCOL_FEATURES, &pf);
		info("protocol features offered 0x%" PRIx64, pf);
	}
	conn_close(&c);
}

/* requests in flight, then the socket closes; n times */
static void case_vanish(int times)
{
	for (int t = 0; t < times; t++) {
		struct conn c;
		if (t % 10 == 9) {
			/* gone in the middle of the dialogue: after the memory table */
			conn_open(&c);
			neg_features(&c);
			std_mem_table(&c);
			conn_close(&c);
			continue;
		}
		full_setup(&c);
		/* 64 reads of 64 KiB, 8 writes, all at once */
		for (unsigned i = 0; i < 72; i++) {
			unsigned d = 3 * i;
			bool w = i >= 64;
			set_hdr(&c, i, w ? T_OUT : T_IN, (uint64_t)i * 128);
			setd(&c, d, slot_hdr_gpa(i), 16, D_NEXT, d + 1);
			setd(&c, d + 1, ga(OFF_DATA + 0x4000ull * (i % 64)), 0x4000, D_NEXT | (w ? 0 : D_WRITE), d + 2);
			setd(&c, d + 2, slot_status_gpa(i), 1, D_WRITE, 0);
			avail_ring(&c)[i] = (uint16_t)d;
		}
		c.avail_idx = 72;
		snap(&c);
		__atomic_store_n(avail_idx(&c), c.avail_idx, __ATOMIC_RELEASE);
		sync_avail(&c);
		kick(&c);
		if (t % 3 == 1)
			usleep(200); /* some complete, some in flight */
		conn_close(&c);
	}
	info("%d connections closed with requests in flight", times);
}

static const char *cases[] = {
	"desc_oob", "desc_straddle", "desc_len_wrap", "status_oob", "chain_loop", "next_oob",
	"chain_too_long", "indirect_bad", "avail_jump", "head_oob", "unknown_type", "hdr_short",
	"hdr_split", "no_status", "status_readonly", "data_direction", "beyond_capacity",
	"get_id_short", "discard_bad", "msg_bad_size", "msg_unknown", "memtable_bad", "memtable_live", "memtable_past_eof", "memfd_shrink", "vring_bad", "vring_addr_bad", "vring_area_partial:0", "vring_area_partial:1", "vring_area_partial:2", "vring_fd_bad",
	"good@eidx", "desc_oob@eidx", "chain_loop@eidx", "indirect_bad@eidx", "avail_jump@eidx",
	"beyond_capacity@eidx", "vring_restart@eidx", "oversize@eidx",
	"call_flood", "two_conns", "vring_restart", "vring_live_change", "many_queues", "read_into_rings", "oversize", "misc_msgs:0", "misc_msgs:1", "misc_msgs:2", "misc_msgs:3", "misc_msgs:4", "kick_fd_kinds:0", "kick_fd_kinds:1", "kick_fd_kinds:2", "kick_fd_kinds:3", "kick_fd_kinds:4", "kick_trickle", "kick_trickle@eidx", "features", "vanish",
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr, "usage: %s SOCKET CASE [N]   (CASE: good, list, or one of the cases)\n", argv[0]);
		return 2;
	}
	g_sock = argv[1];
	g_case = argv[2];
	static char name[64];
	snprintf(name, sizeof(name), "%s", argv[2]);
	char *at = strstr(name, "@eidx");
	if (at) {
		*at = 0;
		g_event_idx = true;
	}
	const char *n = name;
	if (!strcmp(n, "list")) {
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%s\n", cases[i]);
		return 0;
	}
	if (!strcmp(n, "good"))
		return case_good();
	int times = argc > 3 ? atoi(argv[3]) : 1;
	if (!strcmp(n, "desc_oob")) case_desc_oob();
	else if (!strcmp(n, "desc_straddle")) case_desc_straddle();
	else if (!strcmp(n, "desc_len_wrap")) case_desc_len_wrap();
	else if (!strcmp(n, "status_oob")) case_status_oob();
	else if (!strcmp(n, "chain_loop")) case_chain_loop();
	else if (!strcmp(n, "next_oob")) case_next_oob();
	else if (!strcmp(n, "chain_too_long")) case_chain_too_long();
	else if (!strcmp(n, "indirect_bad")) case_indirect_bad();
	else if (!strcmp(n, "avail_jump")) case_avail_jump();
	else if (!strcmp(n, "head_oob")) case_head_oob();
	else if (!strcmp(n, "unknown_type")) case_unknown_type();
	else if (!strcmp(n, "hdr_short")) case_hdr_short();
	else if (!strcmp(n, "hdr_split")) case_hdr_split();
	else if (!strcmp(n, "no_status")) case_no_status();
	else if (!strcmp(n, "status_readonly")) case_status_readonly();
	else if (!strcmp(n, "data_direction")) case_data_direction();
	else if (!strcmp(n, "beyond_capacity")) case_beyond_capacity();
	else if (!strcmp(n, "get_id_short")) case_get_id_short();
	else if (!strcmp(n, "discard_bad")) case_discard_bad();
	else if (!strcmp(n, "msg_bad_size")) case_msg_bad_size();
	else if (!strcmp(n, "msg_unknown")) case_msg_unknown();
	else if (!strcmp(n, "memtable_bad")) case_memtable_bad();
	else if (!strcmp(n, "memtable_past_eof")) case_memtable_past_eof();
	else if (!strcmp(n, "memtable_live")) case_memtable_live();
	else if (!strcmp(n, "memfd_shrink")) case_memfd_shrink();
	else if (!strcmp(n, "vring_bad")) case_vring_bad();
	else if (!strcmp(n, "vring_addr_bad")) case_vring_addr_bad();
	else if (!strncmp(n, "vring_area_partial", 18)) case_vring_area_partial(n[18] == ':' ? atoi(n + 19) : -1);
	else if (!strcmp(n, "vring_fd_bad")) case_vring_fd_bad();
	else if (!strcmp(n, "call_flood")) case_call_flood();
	else if (!strcmp(n, "two_conns")) case_two_conns();
	else if (!strcmp(n, "vring_restart")) case_vring_restart();
	else if (!strcmp(n, "vring_live_change")) case_vring_live_change();
	else if (!strcmp(n, "many_queues")) case_many_queues();
	else if (!strcmp(n, "read_into_rings")) case_read_into_rings();
	else if (!strcmp(n, "oversize")) case_oversize();
	else if (!strncmp(n, "misc_msgs", 9)) case_misc_msgs(n[9] == ':' ? atoi(n + 10) : -1);
	else if (!strncmp(n, "kick_fd_kinds", 13)) case_kick_fd_kinds(n[13] == ':' ? atoi(n + 14) : -1);
	else if (!strcmp(n, "features")) case_features();
	else if (!strcmp(n, "kick_trickle")) case_kick_trickle(argc > 3 ? times : 1000);
	else if (!strcmp(n, "hold")) case_hold(times, 0);
	else if (!strcmp(n, "hold_mid")) case_hold(times, 1);
	else if (!strcmp(n, "vanish")) case_vanish(times);
	else {
		fprintf(stderr, "unknown case %s\n", n);
		return 2;
	}
	printf("case %s: %s\n", n, g_findings ? "FINDINGS" : "ok");
	return g_findings ? 1 : 0;
}

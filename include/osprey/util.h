/* SPDX-License-Identifier: BSD-3-Clause */
/* Osprey utilities: small helpers shared by every library. */
#ifndef OSPREY_UTIL_H
#define OSPREY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_COUNTOF(arr) (sizeof(arr) / sizeof((arr)[0]))
#define OSP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define OSP_MAX(a, b) ((a) > (b) ? (a) : (b))
#define OSP_CONTAINEROF(ptr, type, member) ((type *)((uintptr_t)(ptr) - offsetof(type, member)))
#define osp_likely(x) __builtin_expect(!!(x), 1)
#define osp_unlikely(x) __builtin_expect(!!(x), 0)
#define OSP_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

static inline bool osp_is_pow2_64(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }
static inline uint64_t osp_align64pow2(uint64_t x)
{
	return x <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(x - 1));
}
static inline uint32_t osp_u32log2(uint32_t x) { return x == 0 ? 0 : 31 - __builtin_clz(x); }
static inline uint64_t osp_divide_round_up(uint64_t num, uint64_t div)
{
	return (num + div - 1) / div;
}

/* CRC-32C (Castagnoli), as used by NVMe/TCP and iSCSI digests. Seed with ~0 and invert. */
uint32_t osp_crc32c_update(const void *buf, size_t len, uint32_t crc);
uint32_t osp_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc);

/* strtol/strtoull wrappers: whole string must parse; return 0 or -EINVAL/-ERANGE. */
int osp_parse_u64(const char *str, int base, uint64_t *out);
int osp_parse_i64(const char *str, int base, int64_t *out);
/* "64M", "1G", "512" (bytes) -> bytes. */
int osp_parse_capacity(const char *str, uint64_t *out);

/* snprintf into a fresh malloc'd string; NULL on failure. */
char *osp_sprintf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strip leading/trailing whitespace in place; returns str. */
char *osp_str_trim(char *str);
/* Copy a string into a fixed field, padded with pad (NVMe/SCSI ASCII fields). */
void osp_strcpy_pad(void *dst, const char *src, size_t size, int pad);
/* Length of a field padded with pad. */
size_t osp_strlen_pad(const void *str, size_t size, int pad);

/*
 * Format an error message into err (errlen bytes, always NUL-terminated);
 * does nothing when err is NULL or errlen is 0. The one helper every
 * "(..., char *err, size_t errlen)" function uses to explain a refusal.
 */
void osp_seterr(char *err, size_t errlen, const char *fmt, ...)
__attribute__((format(printf, 3, 4)));

/*
 * Check an NVMe Qualified Name (NVMe Base Specification 2.0 §4.5): valid
 * UTF-8 of 1 to 223 bytes with no spaces or control characters, and one of
 * the discovery NQN (nqn.2014-08.org.nvmexpress.discovery),
 * "nqn.2014-08.org.nvmexpress:uuid:" followed by an 8-4-4-4-12 hex UUID, or
 * "nqn.yyyy-mm." (month 01-12) + a reverse domain name (dot-separated labels
 * of letters, digits and '-', not starting or ending with '-') + ':' + a
 * non-empty name. nqn must be NUL-terminated (bound a fixed-size wire field
 * with strnlen first). Returns 0, or -EINVAL with the failed rule in err (err
 * may be NULL). Used by the target's RPCs and Connect, and by the initiator.
 */
int osp_nqn_check(const char *nqn, char *err, size_t errlen);

/* UUIDs (RFC 4122), 16 raw bytes. */
struct osp_uuid {
	uint8_t u[16];
};
#define OSP_UUID_STRING_LEN 37 /* 36 chars + NUL */
int osp_uuid_parse(struct osp_uuid *uuid, const char *str);
int osp_uuid_fmt_lower(char *buf, size_t sz, const struct osp_uuid *uuid);
void osp_uuid_generate(struct osp_uuid *uuid);
bool osp_uuid_is_null(const struct osp_uuid *uuid);
int osp_uuid_compare(const struct osp_uuid *a, const struct osp_uuid *b);

/*
 * MD5 (RFC 1321), for iSCSI CHAP (RFC 1994) only. init, update any number of
 * times, final (which also wipes the context).
 */
#define OSP_MD5_DIGEST_LEN 16
struct osp_md5_ctx {
	uint32_t state[4];
	uint64_t len;
	uint8_t block[64];
};
void osp_md5_init(struct osp_md5_ctx *ctx);
void osp_md5_update(struct osp_md5_ctx *ctx, const void *data, size_t len);
void osp_md5_final(struct osp_md5_ctx *ctx, uint8_t digest[OSP_MD5_DIGEST_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_UTIL_H */

/* util.h -- small helpers shared by every module: time, ids, hex, hashes, numbers. */
#ifndef VX_COMMON_UTIL_H
#define VX_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct vx_err;

/* Wall clock in milliseconds since the epoch. */
int64_t vx_now_ms(void);
/* Monotonic clock in milliseconds, for durations and deadlines. */
int64_t vx_mono_ms(void);
/* Formats ms-since-epoch as RFC 3339 UTC with milliseconds ("2026-11-28T17:20:01.123Z").
 * 'out' needs 25 bytes. Returns out. */
char *vx_time_iso8601(int64_t ms, char *out, size_t outlen);
/* "YYYY-MM" of ms in UTC, for monthly quotas. 'out' needs 8 bytes. */
char *vx_time_month(int64_t ms, char *out, size_t outlen);

/* Fills buf with cryptographically random bytes (getrandom(2)); aborts if the kernel
 * cannot provide them, since every caller needs unguessable values. */
void vx_random_bytes(void *buf, size_t len);
/* Writes a random RFC 4122 version-4 UUID, lowercase, into out[37]. */
void vx_uuid4(char out[37]);
/* true if s is a UUID in 8-4-4-4-12 hex form (any case). */
bool vx_uuid_valid(const char *s);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void vx_hex(const void *data, size_t len, char *out);
/* SHA-256 of data as 64 lowercase hex chars into out[65]. */
void vx_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC-SHA256 (key, data) as 64 lowercase hex chars into out[65]. */
void vx_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65]);
/* Constant-time comparison of two NUL-terminated strings. */
bool vx_streq_ct(const char *a, const char *b);

/* Parses a whole decimal integer in [min, max]; returns 0 or -1 (trailing junk, range). */
int vx_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* true if s is "sha256:" followed by exactly 64 lowercase hex digits. */
bool vx_digest_valid(const char *s);

#endif

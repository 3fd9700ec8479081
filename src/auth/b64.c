/* b64.c -- unpadded base64url (RFC 4648 section 5), strict on input.
 *
 * JWT segments and API key secrets use this alphabet without padding. The decoder is the
 * first thing an untrusted token meets, so it accepts exactly one spelling of each byte
 * string: no padding, no whitespace, no non-zero bits left over in the last character
 * (otherwise "a tampered token that still verifies" becomes a question of alphabet).
 */
#include "common/setup.h"

#include <limits.h>

#include "auth/auth_int.h"
#include "common/alloc.h" /* for vx_xmalloc() */

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *vx_b64url_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t full = len / 3, rest = len % 3;
    char *out = vx_xmalloc(full * 4 + (rest ? rest + 1 : 0) + 1);
    char *o = out;

    for (size_t i = 0; i < full; i++, p += 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (rest) {
        uint32_t v = (uint32_t)p[0] << 16 | (rest == 2 ? (uint32_t)p[1] << 8 : 0);

        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        if (rest == 2)
            *o++ = alphabet[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long vx_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t max)
{
    size_t rest = inlen % 4, outlen = inlen / 4 * 3 + (rest ? rest - 1 : 0);
    uint32_t acc = 0;
    size_t o = 0;

    if (rest == 1)
        return -1;
    if (outlen > max || outlen > (size_t)LONG_MAX)
        return -2;
    for (size_t i = 0; i < inlen; i++) {
        int s = sextet((unsigned char)in[i]);

        if (s < 0)
            return -1;
        acc = acc << 6 | (uint32_t)s;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (rest == 2) {
        if (acc & 0xf) /* 12 bits carry 8: the low 4 must be zero */
            return -1;
        out[o++] = (unsigned char)(acc >> 4);
    } else if (rest == 3) {
        if (acc & 0x3) /* 18 bits carry 16: the low 2 must be zero */
            return -1;
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    return (long)o;
}

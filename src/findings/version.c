/* version.c -- version ordering per ecosystem, for binding ("1:2.3-4" is "2.3-4" with epoch
 * 1) and for "is the installed version below the fix" checks.
 *
 * deb: epoch:upstream-revision, each part compared dpkg-style (runs of non-digits by
 *      character with '~' before everything, even the end, letters before other
 *      characters; then runs of digits numerically).
 * rpm: epoch:version-release, each compared rpmvercmp-style (alphanumeric segments, numeric
 *      beats alphabetic, '~' sorts before and '^' after the end of a version).
 * apk: numbers, a letter, then suffixes _alpha < _beta < _pre < _rc < (none) < _cvs < _svn <
 *      _git < _hg < _p, then -rN.
 * otherwise (semver-ish): a leading 'v' ignored, dot-separated parts numeric where both are
 *      numbers, a pre-release ("-rc.1") before its release, "+build" ignored.
 * No allocation: these run inside binding loops.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include <ctype.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- dpkg -------------------------------------------------------------------------------- */

static int deb_order(char c)
{
    if (c == '~')
        return -1;
    if (c == '\0' || is_digit(c))
        return 0;
    if (is_alpha(c))
        return (unsigned char)c;
    return (unsigned char)c + 256;
}

/* compares [a, ae) with [b, be) the dpkg way */
static int deb_part(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        int diff = 0;
        while ((a < ae && !is_digit(*a)) || (b < be && !is_digit(*b))) {
            int ac = a < ae ? deb_order(*a) : 0, bc = b < be ? deb_order(*b) : 0;
            if (ac != bc)
                return ac < bc ? -1 : 1;
            if (a < ae)
                a++;
            if (b < be)
                b++;
        }
        while (a < ae && *a == '0')
            a++;
        while (b < be && *b == '0')
            b++;
        while (a < ae && b < be && is_digit(*a) && is_digit(*b)) {
            if (!diff)
                diff = *a - *b;
            a++;
            b++;
        }
        if (a < ae && is_digit(*a))
            return 1;
        if (b < be && is_digit(*b))
            return -1;
        if (diff)
            return diff < 0 ? -1 : 1;
    }
    return 0;
}

/* epoch (0 when absent or not a number) and the rest after "E:" */
static unsigned long epoch_of(const char *v, const char **rest)
{
    const char *c = v;
    unsigned long e = 0;

    while (is_digit(*c)) {
        e = e * 10 + (unsigned long)(*c - '0');
        if (e > 1000000000UL)
            break;
        c++;
    }
    if (*c == ':' && c > v) {
        *rest = c + 1;
        return e;
    }
    *rest = v;
    return 0;
}

static int deb_cmp(const char *a, const char *b)
{
    const char *ra, *rb, *da, *db;
    unsigned long ea = epoch_of(a, &ra), eb = epoch_of(b, &rb);
    int c;

    if (ea != eb)
        return ea < eb ? -1 : 1;
    da = strrchr(ra, '-');
    db = strrchr(rb, '-');
    c = deb_part(ra, da ? da : ra + strlen(ra), rb, db ? db : rb + strlen(rb));
    if (c)
        return c;
    return deb_part(da ? da + 1 : "", da ? da + 1 + strlen(da + 1) : "", db ? db + 1 : "",
                    db ? db + 1 + strlen(db + 1) : "");
}

/* ---- rpm --------------------------------------------------------------------------------- */

static int rpm_part(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        while (a < ae && !isalnum((unsigned char)*a) && *a != '~' && *a != '^')
            a++;
        while (b < be && !isalnum((unsigned char)*b) && *b != '~' && *b != '^')
            b++;
        if ((a < ae && *a == '~') || (b < be && *b == '~')) {
            if (!(a < ae && *a == '~'))
                return 1;
            if (!(b < be && *b == '~'))
                return -1;
            a++;
            b++;
            continue;
        }
        if ((a < ae && *a == '^') || (b < be && *b == '^')) {
            if (a >= ae)
                return -1;
            if (b >= be)
                return 1;
            if (*a != '^')
                return 1;
            if (*b != '^')
                return -1;
            a++;
            b++;
            continue;
        }
        if (a >= ae || b >= be)
            break;
        const char *sa = a, *sb = b;
        bool num = is_digit(*a);
        if (num) {
            while (a < ae && is_digit(*a))
                a++;
            while (b < be && is_digit(*b))
                b++;
        } else {
            while (a < ae && is_alpha(*a))
                a++;
            while (b < be && is_alpha(*b))
                b++;
        }
        if (sb == b)
            return num ? 1 : -1; /* numeric segment beats alphabetic */
        if (num) {
            while (sa < a && *sa == '0')
                sa++;
            while (sb < b && *sb == '0')
                sb++;
            if (a - sa != b - sb)
                return a - sa < b - sb ? -1 : 1;
        }
        size_t la = (size_t)(a - sa), lb = (size_t)(b - sb);
        int c = memcmp(sa, sb, la < lb ? la : lb);
        if (c)
            return c < 0 ? -1 : 1;
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    if (a >= ae && b >= be)
        return 0;
    return a >= ae ? -1 : 1;
}

static int rpm_cmp(const char *a, const char *b)
{
    const char *ra, *rb, *da, *db;
    unsigned long ea = epoch_of(a, &ra), eb = epoch_of(b, &rb);
    int c;

    if (ea != eb)
        return ea < eb ? -1 : 1;
    da = strrchr(ra, '-');
    db = strrchr(rb, '-');
    c = rpm_part(ra, da ? da : ra + strlen(ra), rb, db ? db : rb + strlen(rb));
    if (c)
        return c;
    /* a missing release matches any release (rpm's rule for a version-only comparison) */
    if (!da || !db)
        return 0;
    return rpm_part(da + 1, da + 1 + strlen(da + 1), db + 1, db + 1 + strlen(db + 1));
}

/* ---- apk --------------------------------------------------------------------------------- */

static int apk_suffix_rank(const char *s, size_t n)
{
    static const char *const pre[] = {"alpha", "beta", "pre", "rc"};
    static const char *const post[] = {"cvs", "svn", "git", "hg", "p"};

    for (size_t i = 0; i < VX_ARRAY_SIZE(pre); i++)
        if (strlen(pre[i]) == n && strncmp(s, pre[i], n) == 0)
            return -4 + (int)i;
    for (size_t i = 0; i < VX_ARRAY_SIZE(post); i++)
        if (strlen(post[i]) == n && strncmp(s, post[i], n) == 0)
            return 1 + (int)i;
    return 0;
}

static unsigned long long num_at(const char **p)
{
    unsigned long long v = 0;

    while (is_digit(**p)) {
        if (v < 100000000000000000ULL)
            v = v * 10 + (unsigned)(**p - '0');
        (*p)++;
    }
    return v;
}

static int apk_cmp(const char *a, const char *b)
{
    const char *ra = strstr(a, "-r"), *rb = strstr(b, "-r");
    const char *ae = ra ? ra : a + strlen(a), *be = rb ? rb : b + strlen(b);

    while (a < ae || b < be) {
        if (a < ae && b < be && is_digit(*a) && is_digit(*b)) {
            unsigned long long x = num_at(&a), y = num_at(&b);
            if (x != y)
                return x < y ? -1 : 1;
            continue;
        }
        if (a < ae && b < be && *a == '.' && *b == '.') {
            a++;
            b++;
            continue;
        }
        if (a < ae && b < be && is_alpha(*a) && is_alpha(*b)) {
            if (*a != *b)
                return *a < *b ? -1 : 1;
            a++;
            b++;
            continue;
        }
        /* suffixes: "_rc1" vs end or another suffix */
        int sa = 0, sb = 0;
        const char *na = a, *nb = b;
        if (a < ae && *a == '_') {
            na = a + 1;
            while (na < ae && is_alpha(*na))
                na++;
            sa = apk_suffix_rank(a + 1, (size_t)(na - a - 1));
        }
        if (b < be && *b == '_') {
            nb = b + 1;
            while (nb < be && is_alpha(*nb))
                nb++;
            sb = apk_suffix_rank(b + 1, (size_t)(nb - b - 1));
        }
        if (a < ae && *a == '.' && b >= be)
            return 1; /* more components */
        if (b < be && *b == '.' && a >= ae)
            return -1;
        if (sa != sb)
            return sa < sb ? -1 : 1;
        if (na == a && nb == b) {
            /* anything else: by byte, longer wins */
            if (a >= ae)
                return -1;
            if (b >= be)
                return 1;
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
            continue;
        }
        a = na;
        b = nb;
    }
    if (ra || rb) {
        const char *pa = ra ? ra + 2 : "0", *pb = rb ? rb + 2 : "0";
        unsigned long long x = num_at(&pa), y = num_at(&pb);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* ---- semver-ish ------------------------------------------------------------------------ */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* dot-separated identifiers: numbers numerically (and below words), words by bytes */
static int dotted(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        if (a >= ae)
            return -1;
        if (b >= be)
            return 1;
        const char *ea = memchr(a, '.', (size_t)(ae - a)), *eb = memchr(b, '.', (size_t)(be - b));
        if (!ea)
            ea = ae;
        if (!eb)
            eb = be;
        size_t la = (size_t)(ea - a), lb = (size_t)(eb - b);
        bool na = all_digits(a, la), nb = all_digits(b, lb);
        if (na && nb) {
            while (la > 1 && *a == '0')
                a++, la--;
            while (lb > 1 && *b == '0')
                b++, lb--;
            if (la != lb)
                return la < lb ? -1 : 1;
        } else if (na != nb) {
            return na ? -1 : 1;
        }
        int c = memcmp(a, b, la < lb ? la : lb);
        if (c)
            return c < 0 ? -1 : 1;
        if (la != lb)
            return la < lb ? -1 : 1;
        a = ea < ae ? ea + 1 : ea;
        b = eb < be ? eb + 1 : eb;
    }
    return 0;
}

static int generic_cmp(const char *a, const char *b)
{
    const char *ae, *be, *pa, *pb;

    if (*a == 'v' && is_digit(a[1]))
        a++;
    if (*b == 'v' && is_digit(b[1]))
        b++;
    ae = a + strcspn(a, "+");
    be = b + strcspn(b, "+");
    pa = memchr(a, '-', (size_t)(ae - a));
    pb = memchr(b, '-', (size_t)(be - b));
    int c = dotted(a, pa ? pa : ae, b, pb ? pb : be);
    if (c)
        return c;
    if (!pa && !pb)
        return 0;
    if (!pa)
        return 1; /* a release is above its pre-releases */
    if (!pb)
        return -1;
    return dotted(pa + 1, ae, pb + 1, be);
}

int vx_version_cmp(const char *type, const char *a, const char *b)
{
    if (!a || !b)
        return a == b ? 0 : (!a ? -1 : 1);
    if (type && strcmp(type, "deb") == 0)
        return deb_cmp(a, b);
    if (type && strcmp(type, "rpm") == 0)
        return rpm_cmp(a, b);
    if (type && strcmp(type, "apk") == 0)
        return apk_cmp(a, b);
    return generic_cmp(a, b);
}

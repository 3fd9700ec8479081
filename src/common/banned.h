/* banned.h -- libc calls that are compile errors in project code (STYLE.md R12).
 *
 * Included last by common/setup.h. The allocation family is allowed only in
 * common/alloc.c, which defines VX_ALLOC_IMPL before including setup.h.
 */
#ifndef VX_COMMON_BANNED_H
#define VX_COMMON_BANNED_H

#define VX_BANNED(f) sorry_##f##_is_banned_use_the_vx_helper

#undef strcpy
#define strcpy(d, s) VX_BANNED(strcpy)
#undef strcat
#define strcat(d, s) VX_BANNED(strcat)
#undef strncpy
#define strncpy(d, s, n) VX_BANNED(strncpy)
#undef sprintf
#define sprintf(...) VX_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) VX_BANNED(vsprintf)
#undef gets
#define gets(s) VX_BANNED(gets)
#undef strtok
#define strtok(s, d) VX_BANNED(strtok)
#undef gmtime
#define gmtime(t) VX_BANNED(gmtime)
#undef localtime
#define localtime(t) VX_BANNED(localtime)
#undef ctime
#define ctime(t) VX_BANNED(ctime)
#undef asctime
#define asctime(t) VX_BANNED(asctime)

#ifndef VX_ALLOC_IMPL
#undef malloc
#define malloc(n) VX_BANNED(malloc)
#undef calloc
#define calloc(n, s) VX_BANNED(calloc)
#undef realloc
#define realloc(p, n) VX_BANNED(realloc)
#undef strdup
#define strdup(s) VX_BANNED(strdup)
#undef strndup
#define strndup(s, n) VX_BANNED(strndup)
#endif

#endif

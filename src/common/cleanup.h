/* cleanup.h -- scope-bound cleanup for function-local fds and temporaries (STYLE.md R7).
 *
 * Use only for locals that never escape except through vx_steal_fd()/vx_steal_ptr();
 * do not mix with 'goto out' for the same variable.
 */
#ifndef VX_COMMON_CLEANUP_H
#define VX_COMMON_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

static inline void vx_cleanup_free(void *p)
{
    free(*(void **)p);
}

static inline void vx_cleanup_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_(fn)   __attribute__((cleanup(fn)))
#define _cleanup_free_  _cleanup_(vx_cleanup_free)
#define _cleanup_close_ _cleanup_(vx_cleanup_close)

static inline int vx_steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

static inline void *vx_steal_ptr(void *pp)
{
    void **p = pp;
    void *r = *p;
    *p = NULL;
    return r;
}

#endif

/* job.c -- the one function that changes a job's state (STYLE.md R16).
 *
 * The store does the compare-and-set; this layer validates the transition first (so a
 * programming error is named here, not as a mysterious CAS conflict) and logs every
 * change as "job <id>: running -> failed".
 */
#include "common/setup.h"

#include "queue/queue.h"
#include "common/err.h" /* for vx_err_set() */
#include "common/log.h" /* for vx_info() */

int vx_job_set_state(struct vx_store *s, const char *id, const char *worker_id,
                     enum vx_job_state from, enum vx_job_state to, const struct vx_job_update *upd,
                     int64_t backoff_ms, struct vx_err **err)
{
    struct vx_job_update none = VX_JOB_UPDATE_INIT;
    int rc;

    if (!vx_job_transition_ok(from, to))
        return vx_err_set(err, VX_E_INTERNAL, 0, "job '%s': transition %s -> %s is not allowed", id,
                          vx_job_state_str(from), vx_job_state_str(to));
    rc = vx_store_job_transition(s, id, worker_id, from, to, upd ? upd : &none, backoff_ms, err);
    if (rc < 0)
        return vx_err_wrap(err, "job '%s': %s -> %s", id, vx_job_state_str(from),
                           vx_job_state_str(to));
    vx_info("job %s: %s -> %s%s%s", id, vx_job_state_str(from), vx_job_state_str(to),
            upd && upd->error_message ? ": " : "",
            upd && upd->error_message ? upd->error_message : "");
    return 0;
}

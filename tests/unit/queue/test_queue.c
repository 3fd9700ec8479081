/* test_queue.c -- the worker pool against a real SQLite store: every job ends exactly once,
 * a job whose registry is not allowed fails at the image phase without retries, cancellation reaches a
 * running job, a graceful stop hands the job back, and an expired lease is reclaimed. */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

#include "queue/queue.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

struct fx {
    char dir[64];
    char *url;
    struct vx_store *store;
};

static int setup(void **state)
{
    struct fx *f = vx_xcalloc(1, sizeof(*f));
    struct vx_err *err = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/vx-queue-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->url = vx_xasprintf("sqlite:%s/q.db", f->dir);
    if (vx_store_open(f->url, NULL, &f->store, &err) < 0) {
        fprintf(stderr, "%s\n", err->msg);
        vx_err_free(&err);
        return -1;
    }
    if (vx_store_org_ensure(f->store, "org-a", "free", -1, NULL, &err) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = vx_xasprintf("rm -rf '%s'", f->dir);

    vx_store_close(f->store);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", f->dir);
    free(cmd);
    free(f->url);
    free(f);
    return 0;
}

static char *submit(struct fx *f, int priority)
{
    struct vx_job_rec job = {0}, *out = NULL;
    enum vx_submit_outcome oc;
    struct vx_err *err = NULL;
    char id[37], key[65];
    char *ret;

    vx_uuid4(id);
    vx_sha256_hex(id, strlen(id), key);
    job.id = id;
    job.org_id = "org-a";
    job.image_ref = "nginx:latest";
    job.image_digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    job.profile = "standard";
    job.priority = priority;
    job.config_json = "{}";
    job.cache_key = key;
    job.max_retries = 2;
    assert_int_equal(vx_store_job_submit(f->store, &job, NULL, false, &out, &oc, &err), 0);
    assert_int_equal(oc, VX_SUBMIT_CREATED);
    ret = vx_xstrdup(out->id);
    vx_job_rec_free(out);
    return ret;
}

static struct vx_job_rec *get(struct fx *f, const char *id)
{
    struct vx_job_rec *j = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(vx_store_job_get(f->store, NULL, id, &j, &err), 0);
    return j;
}

/* Polls until the job reaches state s or the deadline passes; returns the final row. */
static struct vx_job_rec *wait_state(struct fx *f, const char *id, enum vx_job_state s,
                                     int64_t deadline_ms)
{
    int64_t end = vx_mono_ms() + deadline_ms;

    for (;;) {
        struct vx_job_rec *j = get(f, id);

        if (j->state == s || vx_mono_ms() > end)
            return j;
        vx_job_rec_free(j);
        usleep(20000);
    }
}

static void test_phases_in_order(void **state)
{
    static const char *const names[] = {"image", "inventory", "sandbox", "trace", "reach", "vex"};
    const struct vx_phase *p;
    size_t n;

    p = vx_pipeline_phases(&n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(p[i].name, names[i]);
        assert_true(i == 0 || p[i].progress_end > p[i - 1].progress_end);
    }
    assert_int_equal(p[n - 1].progress_end, 100);
}

static void test_transition_validated(void **state)
{
    struct fx *f = *state;
    struct vx_err *err = NULL;
    char *id = submit(f, 0);

    assert_int_equal(
        vx_job_set_state(f->store, id, NULL, VX_JOB_QUEUED, VX_JOB_COMPLETE, NULL, 0, &err),
        -VX_E_INTERNAL);
    assert_non_null(strstr(err->msg, "not allowed"));
    vx_err_free(&err);
    assert_int_equal(
        vx_job_set_state(f->store, id, NULL, VX_JOB_RUNNING, VX_JOB_FAILED, NULL, 0, &err),
        -VX_E_CONFLICT);
    vx_err_free(&err);
    assert_int_equal(
        vx_job_set_state(f->store, id, NULL, VX_JOB_QUEUED, VX_JOB_CANCELLED, NULL, 0, &err), 0);
    free(id);
}

static void test_disallowed_registry_fails_job(void **state)
{
    struct fx *f = *state;
    struct vx_workers_config cfg = {.threads = 2,
                                    .data_dir = f->dir,
                                    .pipeline.allowed_registries = "127.0.0.1",
                                    .poll_ms = 20};
    struct vx_workers *w = NULL;
    struct vx_err *err = NULL;
    char *ids[10];

    for (int i = 0; i < 10; i++)
        ids[i] = submit(f, 0);
    assert_int_equal(vx_workers_start(&cfg, f->store, &w, &err), 0);
    for (int i = 0; i < 10; i++) {
        struct vx_job_rec *j = wait_state(f, ids[i], VX_JOB_FAILED, 10000);

        assert_int_equal(j->state, VX_JOB_FAILED);
        assert_non_null(
            strstr(j->error_message, "registry 'docker.io' is not in the allowed registries"));
        assert_null(j->results_json);
        assert_int_equal(j->retry_count, 0); /* a missing phase is not retried */
        assert_true(j->completed_at >= j->started_at && j->started_at > 0);
        vx_job_rec_free(j);
        free(ids[i]);
    }
    vx_workers_stop(w);
}

static void test_cancel_reaches_running_job(void **state)
{
    struct fx *f = *state;
    struct vx_workers_config cfg = {.threads = 1,
                                    .data_dir = f->dir,
                                    .pipeline.allowed_registries = "127.0.0.1",
                                    .poll_ms = 20,
                                    .lease_ms = 3000,
                                    .debug_phase_delay_ms = 60000};
    struct vx_workers *w = NULL;
    struct vx_job_rec *j, *after = NULL;
    struct vx_err *err = NULL;
    char *id = submit(f, 0);
    int64_t t0;

    assert_int_equal(vx_workers_start(&cfg, f->store, &w, &err), 0);
    j = wait_state(f, id, VX_JOB_RUNNING, 5000);
    assert_int_equal(j->state, VX_JOB_RUNNING);
    /* the claim and the first progress write are two statements: wait for the phase too */
    for (int64_t end = vx_mono_ms() + 5000; !j->current_phase && vx_mono_ms() < end;) {
        vx_job_rec_free(j);
        usleep(20000);
        j = get(f, id);
    }
    assert_non_null(j->current_phase);
    assert_string_equal(j->current_phase, "image");
    vx_job_rec_free(j);
    t0 = vx_mono_ms();
    assert_int_equal(vx_store_job_cancel(f->store, "org-a", id, &after, &err), 0);
    assert_true(after->cancel_requested);
    vx_job_rec_free(after);
    j = wait_state(f, id, VX_JOB_CANCELLED, 5000);
    assert_int_equal(j->state, VX_JOB_CANCELLED);
    assert_true(vx_mono_ms() - t0 < 3000); /* within about one heartbeat */
    vx_job_rec_free(j);
    vx_workers_stop(w);
    free(id);
}

static void test_graceful_stop_requeues(void **state)
{
    struct fx *f = *state;
    struct vx_workers_config cfg = {.threads = 1,
                                    .data_dir = f->dir,
                                    .pipeline.allowed_registries = "127.0.0.1",
                                    .poll_ms = 20,
                                    .debug_phase_delay_ms = 60000,
                                    .reap_interval_ms = -1};
    struct vx_workers *w = NULL;
    struct vx_job_rec *j;
    struct vx_err *err = NULL;
    char *id = submit(f, 0);

    assert_int_equal(vx_workers_start(&cfg, f->store, &w, &err), 0);
    j = wait_state(f, id, VX_JOB_RUNNING, 5000);
    assert_int_equal(j->state, VX_JOB_RUNNING);
    vx_job_rec_free(j);
    vx_workers_stop(w);
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_QUEUED);
    assert_null(j->worker_id);
    vx_job_rec_free(j);
    /* clean up for the next tests */
    assert_int_equal(
        vx_job_set_state(f->store, id, NULL, VX_JOB_QUEUED, VX_JOB_CANCELLED, NULL, 0, &err), 0);
    free(id);
}

static void test_expired_lease_is_reclaimed(void **state)
{
    struct fx *f = *state;
    struct vx_workers_config cfg = {.threads = 1,
                                    .data_dir = f->dir,
                                    .pipeline.allowed_registries = "127.0.0.1",
                                    .poll_ms = 20,
                                    .reap_interval_ms = 50,
                                    .retry_backoff_ms = 10};
    struct vx_workers *w = NULL;
    struct vx_job_rec *j = NULL;
    struct vx_err *err = NULL;
    char *id = submit(f, 5);

    /* a "worker" claims with a 100 ms lease and dies without a heartbeat */
    assert_int_equal(vx_store_job_claim(f->store, "dead-worker", 100, &j, &err), 0);
    assert_non_null(j);
    assert_string_equal(j->id, id);
    vx_job_rec_free(j);
    usleep(150000);
    assert_int_equal(vx_workers_start(&cfg, f->store, &w, &err), 0);
    j = wait_state(f, id, VX_JOB_FAILED, 10000);
    assert_int_equal(j->state, VX_JOB_FAILED);
    assert_int_equal(j->retry_count, 1);
    assert_non_null(strstr(j->error_message, "not in the allowed registries"));
    vx_job_rec_free(j);
    /* the dead worker's late write is refused: the job ended exactly once */
    assert_int_equal(vx_job_set_state(f->store, id, "dead-worker", VX_JOB_RUNNING, VX_JOB_COMPLETE,
                                      NULL, 0, &err),
                     -VX_E_CONFLICT);
    vx_err_free(&err);
    vx_workers_stop(w);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases_in_order),
        cmocka_unit_test_setup_teardown(test_transition_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disallowed_registry_fails_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_reaches_running_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graceful_stop_requeues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_lease_is_reclaimed, setup, teardown),
    };

    vx_log_set_level(VX_LOG_WARN);
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}

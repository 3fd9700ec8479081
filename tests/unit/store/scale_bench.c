/* scale_bench.c -- claim latency of the job queue under a deep backlog:
 * `scale_bench URL N_QUEUED N_CLAIMS` opens the store at URL (sqlite:PATH or postgres://...),
 * inserts N_QUEUED queued jobs through vx_store_job_submit (4 threads, so PostgreSQL's pool
 * is used; SQLite serializes them anyway), then times N_CLAIMS vx_store_job_claim calls one
 * after the other, each a real claim with a 30 s lease (queued -> running in one
 * transaction), and prints one line:
 *   "insert_ms CLAIMED p50_us p90_us p99_us max_us"
 * The queue shrinks by N_CLAIMS during the run, so keep N_CLAIMS well under N_QUEUED.
 * Not a test; bench/bench-scale.sh runs it.
 */
#include "common/setup.h"

#include <pthread.h> /* for the insert threads */
#include <time.h>    /* for clock_gettime (microsecond timing) */

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "store/store.h"

#define INSERT_THREADS 4

struct inserter {
    struct vx_store *s;
    int64_t from, to; /* job numbers [from, to) */
    int rc;
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A job like the API would write for a 'tiny' analysis; priorities 0..3 so the claim's
 * ordering (priority desc, created_at) has something to sort. */
static void *insert_main(void *arg)
{
    struct inserter *in = arg;
    static const char digest[] =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    for (int64_t i = in->from; i < in->to; i++) {
        struct vx_job_rec job = {0}, *out = NULL;
        enum vx_submit_outcome oc;
        struct vx_err *err = NULL;
        char id[37], key[65];

        vx_uuid4(id);
        vx_sha256_hex(id, strlen(id), key);
        /* the record's fields are not const; submit only reads them */
        job.id = id;
        job.org_id = (char *)"bench";
        job.image_ref = (char *)"127.0.0.1:5000/vexxy-test/tiny:latest";
        job.image_digest = (char *)digest;
        job.profile = (char *)"minimal";
        job.priority = (int)(i % 4);
        job.config_json = (char *)"{\"analysis_duration\":1,\"test_timeout\":60}";
        job.cache_key = key;
        job.max_retries = 3;
        if (vx_store_job_submit(in->s, &job, NULL, true, &out, &oc, &err) < 0) {
            fprintf(stderr, "scale_bench: submit: %s\n", err->msg);
            vx_err_free(&err);
            in->rc = -1;
            return NULL;
        }
        vx_job_rec_free(out);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct vx_store_opts so = {.pool_size = INSERT_THREADS + 2, .busy_timeout_ms = 0};
    struct inserter ins[INSERT_THREADS];
    pthread_t th[INSERT_THREADS];
    struct vx_store *s = NULL;
    struct vx_err *err = NULL;
    int64_t nq, nc, t0, insert_ms, *lat = NULL;
    size_t claimed = 0;
    int rc = 2;

    if (argc != 4 || vx_parse_i64(argv[2], 1, 10000000, &nq) < 0 ||
        vx_parse_i64(argv[3], 1, 10000000, &nc) < 0) {
        fprintf(stderr, "usage: scale_bench URL N_QUEUED N_CLAIMS\n");
        return 2;
    }
    if (vx_store_open(argv[1], &so, &s, &err) < 0 ||
        vx_store_org_ensure(s, "bench", "enterprise", -1, NULL, &err) < 0) {
        fprintf(stderr, "scale_bench: %s\n", err->msg);
        goto out;
    }
    t0 = vx_mono_ms();
    for (int i = 0; i < INSERT_THREADS; i++) {
        ins[i] = (struct inserter){s, nq * i / INSERT_THREADS, nq * (i + 1) / INSERT_THREADS, 0};
        if (pthread_create(&th[i], NULL, insert_main, &ins[i]) != 0) {
            fprintf(stderr, "scale_bench: pthread_create failed\n");
            goto out; /* exit without joining: the process ends */
        }
    }
    for (int i = 0; i < INSERT_THREADS; i++) {
        pthread_join(th[i], NULL);
        if (ins[i].rc < 0)
            goto out;
    }
    insert_ms = vx_mono_ms() - t0;

    lat = vx_xcalloc((size_t)nc, sizeof(*lat));
    for (int64_t i = 0; i < nc; i++) {
        struct vx_job_rec *job = NULL;
        int64_t c0 = mono_us();

        if (vx_store_job_claim(s, "bench-claimer", 30000, &job, &err) < 0) {
            fprintf(stderr, "scale_bench: claim: %s\n", err->msg);
            goto out;
        }
        lat[claimed] = mono_us() - c0;
        if (!job)
            break; /* the queue ran dry: report what was claimed */
        claimed++;
        vx_job_rec_free(job);
    }
    if (!claimed) {
        fprintf(stderr, "scale_bench: nothing was claimable\n");
        goto out;
    }
    qsort(lat, claimed, sizeof(*lat), cmp_i64);
    printf("%" PRId64 " %zu %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", insert_ms, claimed,
           lat[claimed * 50 / 100], lat[claimed * 90 / 100], lat[claimed * 99 / 100],
           lat[claimed - 1]);
    rc = 0;
out:
    free(lat);
    vx_err_free(&err);
    vx_store_close(s);
    return rc;
}

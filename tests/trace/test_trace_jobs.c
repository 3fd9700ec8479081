/* test_trace_jobs.c -- several jobs traced at once on the engine's one loaded eBPF object
 * (issue 6: "load it once per process and add or remove jobs through a filter map").
 *
 * Each job is what the sandbox gives the tracer: a workload in a cgroup v2 of its own (made
 * here below our own cgroup), target {root "/", cgroup_v2, pid 0}, --tracer ebpf. A job runs
 * `/bin/sh -c` over the probe (tests/trace/probe.c): markers opened, `probe openmany` files
 * created, each job with names of its own. Every job is attached, run, waited for and stopped
 * in a thread of its own, like the worker's job threads:
 *  - shared: jobs a and b attached (a barrier: both before either starts) and run at the same
 *    time; b is stopped (its filter entries removed, the ring drained) while a still runs, and
 *    job c is attached, run and stopped while a still runs; a opens its last marker after b's
 *    stop. Each profile has every file of its own job and no file of another, complete.
 *  - private ring: a job with a ring of its own (opts.queue_size, a second loaded object) next
 *    to a job on the shared object: the same.
 * Needs root, the eBPF backend loading here and a cgroup v2 mount; exits 77 (skip) otherwise.
 */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "trace/trace.h"

#define N_FILES 1000

struct env {
    struct vx_trace_engine *e;
    const char *probe;
    char *cg_parent; /* our own cgroup v2 directory */
    char tmp[64];
};

struct job {
    struct env *env;
    char name;    /* 'a', 'b', ... */
    char *script; /* for /bin/sh -c */
    char *dir, *marker1, *marker2;
    int n_files;
    int64_t queue_size;       /* 0: the shared object */
    pthread_barrier_t *start; /* wait here after attach (NULL: none) */
    char *cgroup;
    /* results, read by the main thread after the join */
    atomic_bool done;
    int exit_code;
    char *error;
    struct vx_trace_profile *prof;
};

/* The cgroup v2 mount point (hybrid hosts: /sys/fs/cgroup/unified) + our cgroup, or NULL. */
static char *own_cgroup(void)
{
    char line[4096], *mnt = NULL, *own = NULL, *out = NULL;
    FILE *f = fopen("/proc/self/mountinfo", "re");

    while (f && !mnt && fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, " - "), *mp = line;
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
            continue;
        for (int k = 0; k < 4 && mp; k++)
            mp = strchr(mp, ' ') ? strchr(mp, ' ') + 1 : NULL;
        if (mp && strchr(mp, ' '))
            mnt = vx_xstrndup(mp, (size_t)(strchr(mp, ' ') - mp));
    }
    if (f)
        fclose(f);
    f = fopen("/proc/self/cgroup", "re");
    while (f && !own && fgets(line, sizeof(line), f))
        if (!strncmp(line, "0::/", 4)) {
            line[strcspn(line, "\n")] = '\0';
            own = vx_xstrdup(line + 3);
        }
    if (f)
        fclose(f);
    if (mnt && own)
        out = vx_xasprintf("%s%s", mnt, strcmp(own, "/") ? own : "");
    free(mnt);
    free(own);
    return out;
}

static void remove_cgroup(const char *dir)
{
    for (int k = 0; k < 200; k++) {
        if (rmdir(dir) == 0 || errno != EBUSY)
            return;
        usleep(10000);
    }
}

static void job_fail(struct job *j, const char *what, struct vx_err **err)
{
    if (!j->error)
        j->error = vx_xasprintf("job %c: %s: %s", j->name, what,
                                err && *err && (*err)->msg ? (*err)->msg : strerror(errno));
    vx_err_free(err);
}

/* The job thread: fork the workload (held on a pipe), move it into its cgroup, attach, let it
 * go, wait for it, stop. Never asserts (cmocka's failures are for the main thread). */
static void *job_run(void *arg)
{
    struct job *j = arg;
    struct vx_trace_opts opts = {.backends = "ebpf", .queue_size = j->queue_size};
    struct vx_tracer *t = NULL;
    struct vx_err *err = NULL;
    int go[2] = {-1, -1}, status = 0, fd = -1;
    bool waited = false;
    pid_t pid = -1;
    char num[32];

    j->cgroup = vx_xasprintf("%s/vx-trace-jobs-%d-%c", j->env->cg_parent, (int)getpid(), j->name);
    if (mkdir(j->cgroup, 0700) < 0) {
        job_fail(j, "mkdir cgroup", NULL);
        goto out;
    }
    if (pipe2(go, O_CLOEXEC) < 0) {
        job_fail(j, "pipe", NULL);
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        job_fail(j, "fork", NULL);
        goto out;
    }
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) /* no go: never run untraced */
            _exit(126);
        execl("/bin/sh", "sh", "-c", j->script, (char *)NULL);
        _exit(127);
    }
    close(go[0]);
    go[0] = -1;
    snprintf(num, sizeof(num), "%d", (int)pid);
    char *procs = vx_xasprintf("%s/cgroup.procs", j->cgroup);
    fd = open(procs, O_WRONLY | O_CLOEXEC);
    free(procs);
    if (fd < 0 || write(fd, num, strlen(num)) != (ssize_t)strlen(num)) {
        job_fail(j, "move into the cgroup", NULL);
        goto out;
    }
    struct vx_trace_target target = {.root = "/", .cgroup_v2 = j->cgroup, .pid = 0};
    if (vx_tracer_attach(j->env->e, &opts, &target, &t, &err) < 0) {
        job_fail(j, "attach", &err);
        goto out;
    }
    if (j->start) {
        pthread_barrier_wait(j->start);
        waited = true;
    }
    if (write(go[1], "g", 1) != 1) {
        job_fail(j, "go", NULL);
        goto out;
    }
    close(go[1]);
    go[1] = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    j->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (vx_tracer_stop(t, &j->prof, &err) < 0)
        job_fail(j, "stop", &err);
    t = NULL;
out:
    if (j->start && !waited) /* failed before it: never leave the partner waiting */
        pthread_barrier_wait(j->start);
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (t) {
        struct vx_trace_profile *p = NULL;
        (void)vx_tracer_stop(t, &p, NULL);
        vx_trace_profile_free(p);
    }
    for (int i = 0; i < 2; i++)
        if (go[i] >= 0)
            close(go[i]);
    if (fd >= 0)
        close(fd);
    if (j->cgroup)
        remove_cgroup(j->cgroup); /* here, not in job_free: a failed check skips that */
    atomic_store(&j->done, true);
    return NULL;
}

static void job_init(struct job *j, struct env *env, char name, int n_files, bool late_marker)
{
    memset(j, 0, sizeof(*j));
    j->env = env;
    j->name = name;
    j->n_files = n_files;
    j->dir = vx_xasprintf("%s/dir-%c", env->tmp, name);
    j->marker1 = vx_xasprintf("%s/marker-%c-1", env->tmp, name);
    j->marker2 = vx_xasprintf("%s/marker-%c-2", env->tmp, name);
    for (int k = 0; k < 2; k++) {
        int fd = open(k ? j->marker2 : j->marker1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(mkdir(j->dir, 0755), 0);
    /* late_marker: the second marker is opened after a pause, when the other jobs are done */
    j->script = vx_xasprintf("%s open %s && %s openmany %s %d && %s%s open %s", env->probe,
                             j->marker1, env->probe, j->dir, n_files,
                             late_marker ? "sleep 2 && " : "", env->probe, j->marker2);
}

static void job_free(struct job *j)
{
    free(j->cgroup);
    if (j->dir)
        rmdir(j->dir);
    if (j->marker1)
        unlink(j->marker1);
    if (j->marker2)
        unlink(j->marker2);
    free(j->dir);
    free(j->marker1);
    free(j->marker2);
    free(j->script);
    free(j->error);
    vx_trace_profile_free(j->prof);
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/';
}

/* j's profile: complete, every file of j, none of the others (files and argv). */
static void check_job(const struct job *j, const struct job *const *others, size_t n_others)
{
    const struct vx_trace_profile *p = j->prof;
    int own = 0;

    if (j->error)
        fail_msg("%s", j->error);
    assert_int_equal(j->exit_code, 0);
    assert_non_null(p);
    assert_int_equal(p->n_backends, 1);
    assert_string_equal(p->backends[0].name, "ebpf");
    assert_true(p->backends[0].ran);
    if (p->backends[0].lost != 0 || !p->complete)
        fail_msg("job %c: %" PRId64 " events lost", j->name, p->backends[0].lost);
    if (!vx_trace_profile_file(p, j->marker1) || !vx_trace_profile_file(p, j->marker2))
        fail_msg("job %c: its own markers missing", j->name);
    for (size_t i = 0; i < p->n_files; i++) {
        const char *path = p->files[i].path;
        if (under(path, j->dir))
            own++;
        for (size_t k = 0; k < n_others; k++) {
            const struct job *o = others[k];
            if (under(path, o->dir) || !strcmp(path, o->marker1) || !strcmp(path, o->marker2))
                fail_msg("job %c's profile has job %c's file %s", j->name, o->name, path);
        }
    }
    if (own != j->n_files)
        fail_msg("job %c: %d of its %d files in its profile", j->name, own, j->n_files);
    for (size_t i = 0; i < p->n_procs; i++)
        for (size_t a = 0; a < p->procs[i].argc; a++)
            for (size_t k = 0; k < n_others; k++)
                if (strstr(p->procs[i].argv[a], others[k]->dir) ||
                    strstr(p->procs[i].argv[a], others[k]->marker1))
                    fail_msg("job %c's profile has job %c's process %d (%s)", j->name,
                             others[k]->name, (int)p->procs[i].pid, p->procs[i].argv[a]);
    printf("job %c: %zu files (%d of its own), %zu processes, %" PRId64 " events, 0 lost\n",
           j->name, p->n_files, own, p->n_procs, p->backends[0].events);
}

static void test_shared_object(void **state)
{
    struct env *env = *state;
    struct job a, b, c;
    pthread_barrier_t start;
    pthread_t ta, tb, tc;

    job_init(&a, env, 'a', N_FILES, true);
    job_init(&b, env, 'b', N_FILES, false);
    job_init(&c, env, 'c', N_FILES / 4, false);
    pthread_barrier_init(&start, NULL, 2);
    a.start = b.start = &start;
    assert_int_equal(pthread_create(&ta, NULL, job_run, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, job_run, &b), 0);
    pthread_join(tb, NULL); /* b stopped: its filter entries are gone */
    bool a_ran_past_b = !atomic_load(&a.done);
    assert_int_equal(pthread_create(&tc, NULL, job_run, &c), 0);
    pthread_join(tc, NULL);
    bool a_ran_past_c = !atomic_load(&a.done);
    pthread_join(ta, NULL);
    pthread_barrier_destroy(&start);

    const struct job *not_a[] = {&b, &c}, *not_b[] = {&a, &c}, *not_c[] = {&a, &b};
    check_job(&a, not_a, 2);
    check_job(&b, not_b, 2);
    check_job(&c, not_c, 2);
    /* the point of the test: a was traced across b's and c's whole lives */
    if (!a_ran_past_b || !a_ran_past_c)
        fail_msg("job a ended before b/c were stopped (%d, %d): no overlap to test", a_ran_past_b,
                 a_ran_past_c);
    job_free(&a);
    job_free(&b);
    job_free(&c);
}

static void test_private_ring(void **state)
{
    struct env *env = *state;
    struct job d, e;
    pthread_barrier_t start;
    pthread_t td, te;

    job_init(&d, env, 'd', N_FILES / 2, false);
    job_init(&e, env, 'e', N_FILES / 2, false);
    d.queue_size = 1 << 22; /* an object of its own */
    pthread_barrier_init(&start, NULL, 2);
    d.start = e.start = &start;
    assert_int_equal(pthread_create(&td, NULL, job_run, &d), 0);
    assert_int_equal(pthread_create(&te, NULL, job_run, &e), 0);
    pthread_join(td, NULL);
    pthread_join(te, NULL);
    pthread_barrier_destroy(&start);

    const struct job *not_d[] = {&e}, *not_e[] = {&d};
    check_job(&d, not_d, 1);
    check_job(&e, not_e, 1);
    job_free(&d);
    job_free(&e);
}

static int group_setup(void **state)
{
    struct env *env = vx_xcalloc(1, sizeof(*env));
    struct vx_err *err = NULL;

    env->probe = getenv("VX_PROBE");
    env->cg_parent = own_cgroup();
    snprintf(env->tmp, sizeof(env->tmp), "/tmp/vx-trace-jobs-XXXXXX");
    if (!mkdtemp(env->tmp) || vx_trace_engine_new(&env->e, &err) < 0) {
        vx_err_free(&err);
        free(env->cg_parent);
        free(env);
        return -1;
    }
    *state = env;
    return 0;
}

static int group_teardown(void **state)
{
    struct env *env = *state;

    DIR *d = opendir(env->tmp);
    struct dirent *de;

    /* what a failed check left behind (the probe removes its openmany files itself) */
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0)
            (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
    }
    if (d)
        closedir(d);
    vx_trace_engine_free(env->e);
    rmdir(env->tmp);
    free(env->cg_parent);
    free(env);
    return 0;
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_object),
        cmocka_unit_test(test_private_ring),
    };
    struct vx_trace_engine *e = NULL;
    struct vx_err *err = NULL;
    const char *probe = getenv("VX_PROBE");
    char *cg = NULL;
    const char *why;
    int skip = 0;

    if (geteuid() != 0) {
        printf("skip: needs root (bpf, cgroups)\n");
        return 77;
    }
    if (!probe || !*probe) {
        printf("skip: VX_PROBE not set\n");
        return 77;
    }
    cg = own_cgroup();
    if (!cg) {
        printf("skip: no cgroup v2 mount\n");
        return 77;
    }
    free(cg);
    if (vx_trace_engine_new(&e, &err) < 0) {
        printf("skip: %s\n", err && err->msg ? err->msg : "no trace engine");
        vx_err_free(&err);
        return 77;
    }
    why = vx_trace_engine_why(e, "ebpf");
    if (why) {
        printf("skip: the eBPF backend does not load here: %s\n", why);
        skip = 1;
    }
    vx_trace_engine_free(e);
    if (skip)
        return 77;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

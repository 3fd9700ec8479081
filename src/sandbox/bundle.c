/* bundle.c -- config.json of a sandbox's OCI bundle (runtime-spec 1.0), written with jansson.
 *
 * What goes in, and why:
 *   process    Entrypoint+Cmd (or the analysis command), image Env then analysis env (a
 *              later K= replaces an earlier one), WorkingDir, the image User resolved
 *              through the image's own /etc/passwd and /etc/group; no terminal;
 *              noNewPrivileges; Docker's default capability set without NET_RAW as
 *              bounding = effective = permitted (nothing inheritable or ambient); no
 *              rlimits: the workload inherits the service's, never higher (raising needs
 *              CAP_SYS_RESOURCE, which the service does not have and must not need).
 *   root       the merged overlay, writable: the image files are protected by being the
 *              overlay's lower dir, changes land in the job's upper dir.
 *   mounts     proc; a minimal tmpfs /dev (the runtime adds null, zero, full, random,
 *              urandom, tty; devpts, shm, mqueue); sysfs and cgroup read-only; tmpfs /tmp
 *              and /run; the caller's read-only binds (nosuid, nodev).
 *   linux      user namespace (container ids 0..id_range-1 = host uid_shift..), pid, mount,
 *              ipc, uts, cgroup and network namespaces (new = loopback only; the runtime
 *              brings lo up), memory (swap = the same, so no swap), CPU quota per 100 ms
 *              period and pids limits under cgroupsPath, the seccomp allow-list
 *              (seccomp.c), the runtime-spec's usual masked and read-only /proc paths
 *              (/proc/sys among them).
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/buf.h"   /* passwd reads */
#include "common/err.h"
#include "common/json.h" /* vx_json_dump */
#include "common/util.h" /* vx_parse_i64 */
#include "image/image.h" /* struct vx_image_config */

static const char *const caps[] = {
    "CAP_CHOWN",       "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",       "CAP_SETGID",       "CAP_SETUID",           "CAP_SETFCAP",
    "CAP_SETPCAP",     "CAP_SYS_CHROOT",   "CAP_NET_BIND_SERVICE", "CAP_KILL",
    "CAP_AUDIT_WRITE",
};

static const char *const masked[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};

static const char *const readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* ---- the image User ----------------------------------------------------------------------- */

/* Reads <rootfs>/<rel> with every path component resolved inside rootfs (an image's
 * /etc/passwd may be a symlink to anywhere). NULL if absent; capped at 1 MiB. */
static char *read_in_root(const char *rootfs, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;
    struct vx_buf b = VX_BUF_INIT(1 << 20);
    char chunk[4096];
    ssize_t n;

    if (root < 0)
        return NULL;
    fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
    close(root);
    if (fd < 0)
        return NULL;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (vx_buf_add(&b, chunk, (size_t)n) < 0)
            break;
    close(fd);
    return vx_buf_detach(&b, NULL);
}

static bool parse_id(const char *s, uint32_t *out)
{
    int64_t v;

    if (vx_parse_i64(s, 0, UINT32_MAX - 1, &v) < 0)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Looks 'name' up in a passwd/group text: field 3 (id) and, for passwd, field 4 (gid). */
static bool db_lookup(const char *text, const char *name, uint32_t *id, uint32_t *gid)
{
    const char *line = text;
    size_t nl = strlen(name);

    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);

        if (len > nl && !strncmp(line, name, nl) && line[nl] == ':') {
            char buf[512], *f[5] = {0}, *p;
            int k = 0;

            if (len >= sizeof(buf))
                return false;
            memcpy(buf, line, len);
            buf[len] = '\0';
            for (p = buf; k < 5 && p; k++) {
                f[k] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            if (!f[2] || !parse_id(f[2], id))
                return false;
            if (gid && (!f[3] || !parse_id(f[3], gid)))
                return false;
            return true;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

int vx_sbx_resolve_user(const char *rootfs, const char *user, uint32_t *uid, uint32_t *gid,
                        struct vx_err **err)
{
    char *u = NULL, *g, *passwd = NULL, *group = NULL;
    uint32_t pgid = 0;
    int rc = 0;

    *uid = 0;
    *gid = 0;
    if (!user || !*user)
        return 0;
    u = vx_xstrdup(user);
    g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    if (parse_id(u, uid)) {
        /* numeric uid: its passwd entry (if any) gives the primary group */
        passwd = read_in_root(rootfs, "etc/passwd");
        *gid = 0;
        if (passwd) {
            for (const char *line = passwd; line && *line;) {
                const char *end = strchr(line, '\n');
                char buf[512];
                unsigned long lu, lg;
                size_t len = end ? (size_t)(end - line) : strlen(line);

                if (len < sizeof(buf)) {
                    memcpy(buf, line, len);
                    buf[len] = '\0';
                    if (sscanf(buf, "%*[^:]:%*[^:]:%lu:%lu", &lu, &lg) == 2 && lu == *uid) {
                        *gid = (uint32_t)lg;
                        break;
                    }
                }
                line = end ? end + 1 : NULL;
            }
        }
    } else {
        passwd = read_in_root(rootfs, "etc/passwd");
        if (!passwd || !db_lookup(passwd, u, uid, &pgid)) {
            rc = vx_err_field(err, VX_E_INVALID, "config.user",
                              "user '%s' is not in the image's /etc/passwd", u);
            goto out;
        }
        *gid = pgid;
    }
    if (g && *g && !parse_id(g, gid)) {
        group = read_in_root(rootfs, "etc/group");
        if (!group || !db_lookup(group, g, gid, NULL)) {
            rc = vx_err_field(err, VX_E_INVALID, "config.user",
                              "group '%s' is not in the image's /etc/group", g);
            goto out;
        }
    }
out:
    free(u);
    free(passwd);
    free(group);
    return rc;
}

/* ---- the document ------------------------------------------------------------------------- */

static json_t *mount(const char *dest, const char *type, const char *source,
                     const char *const *opts, size_t n)
{
    json_t *m = json_object();

    json_object_set_new(m, "destination", json_string(dest));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "source", json_string(source));
    json_object_set_new(m, "options", str_array(opts, n));
    return m;
}

#define MOUNT(dest, type, source, ...)                                                             \
    do {                                                                                           \
        const char *const o_[] = {__VA_ARGS__};                                                    \
        json_array_append_new(mounts, mount(dest, type, source, o_, VX_ARRAY_SIZE(o_)));           \
    } while (0)

static json_t *mounts_json(const struct vx_sandbox_config *cfg, bool shared_net,
                           struct vx_err **err)
{
    json_t *mounts = json_array();

    MOUNT("/proc", "proc", "proc", "nosuid", "noexec", "nodev");
    MOUNT("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
    MOUNT("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
          "mode=0620", "gid=5");
    MOUNT("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
    MOUNT("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
    if (shared_net) {
        /* sysfs can only be mounted by the user namespace owning the network namespace (the
         * other sandbox's): an empty read-only /sys instead, and no cgroup mount */
        MOUNT("/sys", "tmpfs", "tmpfs", "nosuid", "noexec", "nodev", "ro", "size=4k");
    } else {
        MOUNT("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
        MOUNT("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
    }
    /* tmpfs pages are charged to the container's memory cgroup: bounded by its limit */
    MOUNT("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777");
    MOUNT("/run", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=755");
    for (size_t i = 0; i < cfg->n_ro_binds; i++) {
        const char *b = cfg->ro_binds[i], *colon = b ? strchr(b, ':') : NULL;
        char *host;

        if (!colon || b[0] != '/' || colon[1] != '/' || strchr(colon + 1, ':')) {
            json_decref(mounts);
            vx_err_set(err, VX_E_INVALID, 0,
                       "read-only bind '%s' is not 'host_path:container_path' (absolute)",
                       b ? b : "");
            return NULL;
        }
        host = vx_xstrndup(b, (size_t)(colon - b));
        MOUNT(colon + 1, "bind", host, "rbind", "ro", "nosuid", "nodev");
        free(host);
    }
    return mounts;
}

static json_t *id_map(uint32_t shift, uint32_t range)
{
    json_t *a = json_array(), *m = json_object();

    json_object_set_new(m, "containerID", json_integer(0));
    json_object_set_new(m, "hostID", json_integer(shift));
    json_object_set_new(m, "size", json_integer(range));
    json_array_append_new(a, m);
    return a;
}

static void add_ns(json_t *nss, const char *type, const char *path)
{
    json_t *ns = json_object();

    json_object_set_new(ns, "type", json_string(type));
    if (path)
        json_object_set_new(ns, "path", json_string(path));
    json_array_append_new(nss, ns);
}

/* Image Env then overrides; a later "K=..." replaces an earlier one in place. */
static void env_add(json_t *env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);

    if (kl == 0)
        return;
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));

        if (!strncmp(e, kv, kl) && (e[kl] == '=' || e[kl] == '\0')) {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static json_t *process_json(const struct vx_sbx_bundle_args *a, struct vx_err **err)
{
    const struct vx_sandbox_config *cfg = a->cfg;
    const struct vx_image_config *ic = cfg->image;
    json_t *p = json_object(), *args = json_array(), *env = json_array(), *user, *c;
    uint32_t uid, gid;
    bool has_path = false;

    if (cfg->n_command) {
        for (size_t i = 0; i < cfg->n_command; i++)
            json_array_append_new(args, json_string(cfg->command[i]));
    } else if (ic) {
        for (size_t i = 0; i < ic->n_entrypoint; i++)
            json_array_append_new(args, json_string(ic->entrypoint[i]));
        for (size_t i = 0; i < ic->n_cmd; i++)
            json_array_append_new(args, json_string(ic->cmd[i]));
    }
    if (json_array_size(args) == 0) {
        vx_err_field(err, VX_E_INVALID, "config.command",
                     "nothing to run: the image has no Entrypoint or Cmd and no command was "
                     "given");
        goto fail;
    }
    for (size_t i = 0; ic && i < ic->n_env; i++)
        env_add(env, ic->env[i]);
    for (size_t i = 0; i < cfg->n_env; i++)
        env_add(env, cfg->env[i]);
    for (size_t i = 0; i < json_array_size(env); i++)
        has_path = has_path || !strncmp(json_string_value(json_array_get(env, i)), "PATH=", 5);
    if (!has_path)
        env_add(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (vx_sbx_resolve_user(a->lower, ic ? ic->user : NULL, &uid, &gid, err) < 0)
        goto fail;
    if (cfg->id_range && (uid >= cfg->id_range || gid >= cfg->id_range)) {
        vx_err_field(err, VX_E_INVALID, "config.user",
                     "user %u:%u is outside the user namespace's %u ids", uid, gid, cfg->id_range);
        goto fail;
    }
    user = json_object();
    json_object_set_new(user, "uid", json_integer(uid));
    json_object_set_new(user, "gid", json_integer(gid));
    json_object_set_new(p, "terminal", json_false());
    json_object_set_new(p, "user", user);
    json_object_set_new(p, "args", args);
    json_object_set_new(p, "env", env);
    if (ic && ic->working_dir && ic->working_dir[0] == '/')
        json_object_set_new(p, "cwd", json_string(ic->working_dir));
    else if (ic && ic->working_dir && *ic->working_dir)
        json_object_set_new(p, "cwd", json_pack("s++", "/", ic->working_dir, ""));
    else
        json_object_set_new(p, "cwd", json_string("/"));
    c = json_object();
    json_object_set_new(c, "bounding", str_array(caps, VX_ARRAY_SIZE(caps)));
    json_object_set_new(c, "effective", str_array(caps, VX_ARRAY_SIZE(caps)));
    json_object_set_new(c, "permitted", str_array(caps, VX_ARRAY_SIZE(caps)));
    json_object_set_new(p, "capabilities", c);
    json_object_set_new(p, "noNewPrivileges", json_true());
    return p;
fail:
    json_decref(p);
    json_decref(args);
    json_decref(env);
    return NULL;
}

static json_t *resources_json(const struct vx_sandbox_limits *l)
{
    json_t *r = json_object(), *mem = json_object(), *cpu = json_object(), *pids = json_object();

    json_object_set_new(mem, "limit", json_integer(l->memory_bytes));
    json_object_set_new(mem, "swap", json_integer(l->memory_bytes)); /* memory+swap: no swap */
    json_object_set_new(r, "memory", mem);
    json_object_set_new(cpu, "period", json_integer(100000));
    json_object_set_new(cpu, "quota", json_integer(l->cpu_millis * 100));
    json_object_set_new(r, "cpu", cpu);
    json_object_set_new(pids, "limit", json_integer(l->pids_max));
    json_object_set_new(r, "pids", pids);
    return r;
}

int vx_sbx_bundle_json(const struct vx_sbx_bundle_args *a, json_t **out, struct vx_err **err)
{
    const struct vx_sandbox_config *cfg = a->cfg;
    json_t *doc = NULL, *proc, *mounts, *root, *linux_, *nss;
    char netns[64];

    if (!(proc = process_json(a, err)))
        return -VX_E_INVALID;
    if (!(mounts = mounts_json(cfg, a->share_net_pid > 0, err))) {
        json_decref(proc);
        return -VX_E_INVALID;
    }
    doc = json_object();
    json_object_set_new(doc, "ociVersion", json_string("1.0.2"));
    json_object_set_new(doc, "process", proc);
    root = json_object();
    json_object_set_new(root, "path", json_string(a->rootfs));
    json_object_set_new(root, "readonly", json_false());
    json_object_set_new(doc, "root", root);
    json_object_set_new(doc, "hostname",
                        json_string(cfg->hostname && *cfg->hostname ? cfg->hostname : "sandbox"));
    json_object_set_new(doc, "mounts", mounts);

    linux_ = json_object();
    nss = json_array();
    add_ns(nss, "pid", NULL);
    if (a->share_net_pid > 0) {
        snprintf(netns, sizeof(netns), "/proc/%d/ns/net", (int)a->share_net_pid);
        add_ns(nss, "network", netns);
    } else {
        add_ns(nss, "network", NULL);
    }
    add_ns(nss, "ipc", NULL);
    add_ns(nss, "uts", NULL);
    add_ns(nss, "mount", NULL);
    add_ns(nss, "cgroup", NULL);
    if (cfg->uid_shift) {
        add_ns(nss, "user", NULL);
        json_object_set_new(linux_, "uidMappings", id_map(cfg->uid_shift, cfg->id_range));
        json_object_set_new(linux_, "gidMappings", id_map(cfg->uid_shift, cfg->id_range));
    }
    json_object_set_new(linux_, "namespaces", nss);
    json_object_set_new(linux_, "resources", resources_json(a->limits));
    json_object_set_new(linux_, "cgroupsPath", json_string(a->cgroups_path));
    json_object_set_new(linux_, "seccomp", vx_sbx_seccomp_json());
    json_object_set_new(linux_, "maskedPaths", str_array(masked, VX_ARRAY_SIZE(masked)));
    json_object_set_new(linux_, "readonlyPaths", str_array(readonly, VX_ARRAY_SIZE(readonly)));
    json_object_set_new(doc, "linux", linux_);
    *out = doc;
    return 0;
}

int vx_sbx_bundle_write(const char *bundle_dir, const json_t *doc, struct vx_err **err)
{
    char *path = vx_xasprintf("%s/config.json", bundle_dir), *text = vx_json_dump(doc);
    size_t len = strlen(text);
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        rc = vx_err_set(err, VX_E_IO, errno, "write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    free(text);
    return rc;
}

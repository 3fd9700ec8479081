/* service.h -- pieces shared by `vexxy serve` and `vexxy worker` (service.c). */
#ifndef VX_CMD_SERVICE_H
#define VX_CMD_SERVICE_H

#include <signal.h>
#include <stdbool.h>

#include "cmd/opts.h"

struct vx_pipeline_config;

/* The pipeline options serve and worker share (images, sandbox, tracer): each appends this
 * table at index first of its own (memcpy) and reads it back with vx_service_pipeline_config. */
enum {
    VX_PIPE_ALLOWED_REG,
    VX_PIPE_INSECURE_REG,
    VX_PIPE_PLATFORM,
    VX_PIPE_DOCKER_CONFIG,
    VX_PIPE_RUNTIME,
    VX_PIPE_TRACER,
    VX_PIPE_TESTER_ROOTFS,
    VX_PIPE_SANDBOX,
    VX_PIPE_KUBECONFIG,
    VX_PIPE_KUBE_CONTEXT,
    VX_PIPE_KUBE_NAMESPACE,
    VX_PIPE_KUBE_RUNTIME_CLASS,
    VX_PIPE_KUBE_PULL_SECRET,
    VX_PIPE_TRACER_IMAGE,
    VX_PIPE_ROOTFS_CACHE,
    VX_PIPE_COUNT
};
extern const struct vx_opt vx_service_pipeline_opts[VX_PIPE_COUNT];
/* Fills pc from the parsed table (borrowed strings: they live as long as o); 0 or -1 with the
 * offending option named on stderr. */
int vx_service_pipeline_config(const struct vx_opt *o, struct vx_pipeline_config *pc);
/* A non-empty comma list of tracer backends (fanotify, ebpf, ptrace): --tracer of serve,
 * worker and analyze. */
bool vx_service_tracer_list_ok(const char *list);

/* Blocks SIGINT/SIGTERM/SIGHUP/SIGPIPE in the calling thread, before any thread starts, so
 * every thread inherits the mask and the main thread alone takes them with sigwait. */
void vx_service_block_signals(sigset_t *set);
/* Waits for SIGINT/SIGTERM; returns the signal. */
int vx_service_wait(const sigset_t *set);
/* Creates dir (and parents) with mode 0700 if missing; 0 or -1 with a message printed. */
int vx_service_mkdirs(const char *dir);
/* The webhook secret: the given one, else <data_dir>/webhook.secret (created 0600 with 32
 * random bytes on first use). Caller frees. NULL with a message printed on failure. */
char *vx_service_webhook_secret(const char *given, const char *data_dir);
/* Applies --log-level; 0 or -1 with a message. */
int vx_service_log_level(const char *name);

#endif

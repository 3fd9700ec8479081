/* api.h -- the REST API of DESIGN.md §3 on libmicrohttpd.
 *
 * Handlers only read and write the store (never a job's work: that is the workers'), so
 * the MHD thread pool never blocks on analysis.
 */
#ifndef VX_API_API_H
#define VX_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_store;
struct vx_auth;
struct vx_workers;

struct vx_api_config {
    const char *listen_addr;    /* IPv4/IPv6 literal; default "127.0.0.1" */
    int port;                   /* 0 = any free port (see vx_api_port) */
    int threads;                /* MHD thread pool size; default 2 */
    size_t max_body_bytes;      /* default 10 MiB; larger bodies get 413 */
    bool no_auth;               /* only allowed when listen_addr is loopback */
    struct vx_store *store;     /* borrowed */
    struct vx_auth *auth;       /* borrowed; NULL only with no_auth */
    struct vx_workers *workers; /* borrowed, may be NULL (API-only instance) */
    const char *public_url;     /* base URL used in documents' ids; default http://host:port */
};

struct vx_api;

/* Binds and starts serving. -VX_E_INVALID for no_auth on a non-loopback address. */
int vx_api_start(const struct vx_api_config *cfg, struct vx_api **out, struct vx_err **err);
/* The bound TCP port. */
int vx_api_port(const struct vx_api *api);
/* Stops accepting, finishes in-flight requests, frees. NULL is fine. */
void vx_api_stop(struct vx_api *api);

/* Normalises an analysis config object (the submit body's "config": defaults filled in,
 * every field checked, errors naming "config.<field>") into canonical JSON (caller frees).
 * `vexxy analyze` builds its config from flags and --config FILE through this, so the CLI and
 * the API accept exactly the same settings. cfg_json NULL = every default. submit.c. */
int vx_api_normalize_config(const char *cfg_json, char **out, struct vx_err **err);

/* The organization every request belongs to under --no-auth. */
#define VX_API_NOAUTH_ORG "default"

#endif

/* kube.h -- a small Kubernetes REST client (libcurl + jansson; no kubectl at runtime).
 *
 * What the Kubernetes sandbox backend needs (DESIGN.md §8, §12): create, get, list, watch
 * and delete objects in one namespace, and read a container's log. Credentials come from a
 * kubeconfig file (current or named context: server, certificate-authority(-data), token,
 * tokenFile, client-certificate(-data) + client-key(-data)) or from the in-cluster service
 * account (/var/run/secrets/kubernetes.io/serviceaccount: token, ca.crt, namespace, with
 * KUBERNETES_SERVICE_HOST/PORT). Only https (or plain http to a loopback address, tests
 * only) servers are accepted; TLS is always verified against the configured CA.
 *
 * Errors map the API's Status to vexxy codes, keeping its message:
 *   401 -> VX_E_UNAUTHORIZED, 403 -> VX_E_FORBIDDEN (VX_E_QUOTA when the message says a
 *   quota was exceeded), 404 -> VX_E_NOT_FOUND, 409 -> VX_E_CONFLICT, 410 -> VX_E_CONFLICT
 *   (watch: resourceVersion too old), 422 -> VX_E_UNPROCESSABLE, 429/5xx/connection
 *   errors -> retried with exponential backoff (max_retries), then VX_E_UNAVAILABLE or
 *   VX_E_NETWORK.
 * A struct vx_kube is used by one thread at a time (one per job is cheap).
 */
#ifndef VX_KUBE_KUBE_H
#define VX_KUBE_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;

struct vx_kube_options {
    const char *kubeconfig; /* file; NULL = $KUBECONFIG, then ~/.kube/config, then in-cluster */
    const char *context;    /* NULL = current-context */
    const char *namespace_; /* NULL = the context's namespace, then "default" */
    int max_retries;        /* default 4 */
    int64_t backoff_ms;     /* first retry delay, doubled each time; default 200 */
    int64_t timeout_ms;     /* per request (not watches); default 30000 */
    /* Tests only: the in-cluster service-account directory (default
     * /var/run/secrets/kubernetes.io/serviceaccount). */
    const char *serviceaccount_dir;
};

struct vx_kube; /* opaque */

/* Loads credentials; fails with a message naming the file and field at fault. */
int vx_kube_open(const struct vx_kube_options *opts, struct vx_kube **out, struct vx_err **err);
void vx_kube_close(struct vx_kube *k);
/* The namespace requests go to (borrowed). */
const char *vx_kube_namespace(const struct vx_kube *k);
/* The server URL (borrowed), for messages. */
const char *vx_kube_server(const struct vx_kube *k);

/* One request. path is absolute ("/apis/batch/v1/namespaces/NS/jobs"), query appended by the
 * caller; body may be NULL. On 2xx, *out (may be NULL) gets the decoded body (owned; NULL
 * when empty). Non-2xx -> error as described above; *status (may be NULL) gets the HTTP
 * status (0 when no response). */
int vx_kube_request(struct vx_kube *k, const char *method, const char *path, const json_t *body,
                    json_t **out, long *status, struct vx_err **err);

/* Conveniences over vx_kube_request for namespaced objects. api = "api/v1", "apis/batch/v1",
 * "apis/networking.k8s.io/v1"; plural = "jobs", "pods", "networkpolicies". */
int vx_kube_create(struct vx_kube *k, const char *api, const char *plural, const json_t *obj,
                   json_t **out, struct vx_err **err);
int vx_kube_get(struct vx_kube *k, const char *api, const char *plural, const char *name,
                json_t **out, struct vx_err **err);
/* label_selector may be NULL; *out = the List object. */
int vx_kube_list(struct vx_kube *k, const char *api, const char *plural,
                 const char *label_selector, json_t **out, struct vx_err **err);
/* propagation: "Foreground", "Background" or NULL. A 404 is success (already gone). */
int vx_kube_delete(struct vx_kube *k, const char *api, const char *plural, const char *name,
                   const char *propagation, struct vx_err **err);

/* Watches a collection from resource_version (NULL = now) until on_event returns false,
 * timeout_ms passes (returns VX_E_TIMEOUT) or should_stop returns true (VX_E_CANCELLED).
 * A dropped connection is resumed from the last seen resourceVersion; a 410 Gone makes it
 * re-list (the list's items are delivered as "ADDED") and watch on from the list's
 * resourceVersion. on_event gets type ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") and the
 * object (borrowed). */
typedef bool (*vx_kube_event_fn)(const char *type, const json_t *obj, void *arg);
int vx_kube_watch(struct vx_kube *k, const char *api, const char *plural,
                  const char *label_selector, const char *resource_version, int64_t timeout_ms,
                  vx_kube_event_fn on_event, void *arg, bool (*should_stop)(void *arg),
                  struct vx_err **err);

/* A container's log (the whole of it, capped at max_bytes: the end is kept), owned string. */
int vx_kube_logs(struct vx_kube *k, const char *pod, const char *container, size_t max_bytes,
                 char **out, struct vx_err **err);

#endif

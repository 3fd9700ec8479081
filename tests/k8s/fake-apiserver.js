#!/usr/bin/env node
// fake-apiserver.js -- a fake Kubernetes API server for vexxy's tests (no cluster can run on
// the project's machines). The contract it implements is docs/internals/fake-k8s.md; in short:
//
//   node fake-apiserver.js --port 0 --token TOKEN [--cert CRT --key KEY [--client-ca CA]]
//        [--forbid VERB:RESOURCE]... [--namespace NS]... [--user NAME] [--watch-window N]
//        [--node-modules DIR]
//
// prints `listening PORT` when ready and stops on SIGTERM. It serves batch/v1 jobs, core/v1
// pods (+ pods/log) and networking.k8s.io/v1 networkpolicies in its namespaces, validates
// every object created with the npm package kubernetes-models (k8s-schema.js: the official
// OpenAPI schemas, unknown fields rejected), enforces a bearer token (or a client certificate
// signed by --client-ca) and RBAC-like 403s, and simulates the Job controller, the kubelet
// and the garbage collector closely enough for a client to be tested against it.
//
// DESIGN
// - One process, one event loop: every change goes through change(), which bumps the global
//   resourceVersion, stores a copy of the object and appends an event to a bounded window
//   (--watch-window, default 1000). A watch from resourceVersion N replays the window's events
//   after N (N older than the window -> one ERROR 410 Expired event, then close, as the real
//   server) and then gets live events; without N (or N = 0) it starts with an ADDED event per
//   existing object, as the real server does.
// - Job lifecycle: timers per Job (pod created after 50 ms, Pending -> Running after 50 ms,
//   Succeeded/Failed after the scripted run time, activeDeadlineSeconds enforced from the
//   Job's startTime, ttlSecondsAfterFinished honoured). Every timer re-reads the stored objects
//   and does nothing if they were deleted meanwhile; deletion cancels them.
// - Deletion follows the real semantics: propagationPolicy Foreground (owner gets
//   deletionTimestamp + finalizer foregroundDeletion, dependents go, then the owner), Background
//   (owner goes, then dependents), Orphan (dependents' ownerReferences removed). Without a
//   policy a Job is orphaned, like the real batch/v1 API (a client must ask for Foreground or
//   Background to get its pods removed); other kinds default to Background. Pods are removed
//   after a short graceful phase (deletionTimestamp set, then DELETED).
// - /_fake/* are control endpoints for the tests (no auth): scripts, injected failures, watch
//   drops, the request log and a dump of all objects.
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const crypto = require("crypto");
const schema = require("./k8s-schema.js");

const MAX_BODY = 3 * 1024 * 1024; // the real server's request size limit
const MAX_LOGGED_REQUESTS = 20000;
const STEP_MS = 50;
const POD_GRACE_MS = 30;

// Kinds served: plural -> how it is addressed.
const RESOURCES = {
    jobs: { group: "batch", version: "v1", kind: "Job", prefix: "/apis/batch/v1" },
    pods: { group: "", version: "v1", kind: "Pod", prefix: "/api/v1" },
    networkpolicies: { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy",
                       prefix: "/apis/networking.k8s.io/v1" },
};

// Discovery documents (/api, /apis, /api/v1, /apis/G/V), so that kubectl can map the kinds
// of deploy/ to resources (`kubectl apply --dry-run=client` needs that and a GET answering 404
// for each object). Only jobs, pods and networkpolicies are stored; a GET of any other
// resource listed here is a 404, and writes to them are 405.
const DISCOVERY = {
    "v1": [["namespaces", "Namespace", false], ["serviceaccounts", "ServiceAccount", true],
           ["configmaps", "ConfigMap", true], ["secrets", "Secret", true],
           ["services", "Service", true], ["pods", "Pod", true], ["pods/log", "Pod", true],
           ["resourcequotas", "ResourceQuota", true], ["limitranges", "LimitRange", true]],
    "apps/v1": [["deployments", "Deployment", true]],
    "batch/v1": [["jobs", "Job", true]],
    "autoscaling/v2": [["horizontalpodautoscalers", "HorizontalPodAutoscaler", true]],
    "rbac.authorization.k8s.io/v1": [["roles", "Role", true], ["rolebindings", "RoleBinding", true],
                                     ["clusterroles", "ClusterRole", false],
                                     ["clusterrolebindings", "ClusterRoleBinding", false]],
    "networking.k8s.io/v1": [["networkpolicies", "NetworkPolicy", true]],
    "policy/v1": [["poddisruptionbudgets", "PodDisruptionBudget", true]],
    "node.k8s.io/v1": [["runtimeclasses", "RuntimeClass", false]],
};

function discovery(p) {
    if (p === "/api" || p === "/api/")
        return { kind: "APIVersions", versions: ["v1"],
                 serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0",
                                                serverAddress: "127.0.0.1:443" }] };
    if (p === "/apis" || p === "/apis/") {
        const groups = Object.keys(DISCOVERY).filter((gv) => gv.includes("/")).map((gv) => {
            const [name, version] = gv.split("/");
            const v = { groupVersion: gv, version };
            return { name, versions: [v], preferredVersion: v };
        });
        return { kind: "APIGroupList", apiVersion: "v1", groups };
    }
    const m = p.match(/^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/?$/);
    const gv = m && (m[1] || m[2]);
    if (!gv || !DISCOVERY[gv])
        return null;
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: gv,
             resources: DISCOVERY[gv].map(([name, kind, namespaced]) => ({
                 name, singularName: name.includes("/") ? "" : kind.toLowerCase(), namespaced,
                 kind, verbs: ["create", "delete", "get", "list", "watch"] })) };
}

// A GET of an object of a kind that is listed but not stored: its NotFound.
function otherNotFound(p) {
    const m = p.match(/^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/(?:namespaces\/[^/]+\/)?([^/]+)\/([^/]+)$/) ||
              p.match(/^\/(api)\/v1\/(namespaces)\/([^/]+)$/);
    if (!m)
        return null;
    if (m[1] === "api" && m[2] === "namespaces")
        return new HttpError(404, "NotFound", `namespaces "${m[3]}" not found`,
                             { name: m[3], kind: "namespaces" });
    const gv = m[1] || m[2];
    if (!DISCOVERY[gv] || !DISCOVERY[gv].some((r) => r[0] === m[3]))
        return null;
    const g = gv.includes("/") ? gv.split("/")[0] : "";
    return new HttpError(404, "NotFound", `${g ? `${m[3]}.${g}` : m[3]} "${m[4]}" not found`,
                         { name: m[4], group: g || undefined, kind: m[3] });
}

function parseArgs(argv) {
    const o = { port: 0, token: null, cert: null, key: null, clientCa: null, forbid: [],
                namespaces: [], user: "system:serviceaccount:vexxy:vexxy-worker",
                watchWindow: 1000, nodeModules: null, host: "127.0.0.1" };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i], v = argv[i + 1];
        const take = () => { i++; if (v === undefined) die(`${a} needs a value`); return v; };
        switch (a) {
        case "--port": o.port = Number(take()); break;
        case "--host": o.host = take(); break;
        case "--token": o.token = take(); break;
        case "--cert": o.cert = take(); break;
        case "--key": o.key = take(); break;
        case "--client-ca": o.clientCa = take(); break;
        case "--forbid": o.forbid.push(take()); break;
        case "--namespace": o.namespaces.push(take()); break;
        case "--user": o.user = take(); break;
        case "--watch-window": o.watchWindow = Math.max(1, Number(take())); break;
        case "--node-modules": o.nodeModules = take(); break;
        default: die(`unknown argument '${a}'`);
        }
    }
    if (!o.token)
        die("--token is required");
    if (!!o.cert !== !!o.key)
        die("--cert and --key go together");
    if (!o.namespaces.length)
        o.namespaces.push("vexxy-sandbox");
    for (const f of o.forbid)
        if (!/^[a-z*]+:[a-z*/]+$/.test(f))
            die(`--forbid '${f}': expected VERB:RESOURCE, e.g. create:jobs`);
    return o;
}

function die(msg) {
    process.stderr.write(`fake-apiserver: ${msg}\n`);
    process.exit(2);
}

const clone = (o) => (o === undefined ? undefined : JSON.parse(JSON.stringify(o)));
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

// 5 characters from the alphabet Kubernetes uses for generated names.
function suffix() {
    const al = "bcdfghjklmnpqrstvwxz2456789";
    let s = "";
    for (const b of crypto.randomBytes(5))
        s += al[b % al.length];
    return s;
}

function status(code, reason, message, details) {
    const st = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message,
                 reason, code };
    if (details)
        st.details = details;
    return st;
}

class HttpError extends Error {
    constructor(code, reason, message, details) {
        super(message);
        this.st = status(code, reason, message, details);
    }
}

function groupResource(res) {
    const base = res.split("/")[0];
    const g = RESOURCES[base] ? RESOURCES[base].group : "";
    return g ? `${base}.${g}` : base;
}

class FakeApiServer {
    constructor(opts, validator) {
        this.opts = opts;
        this.validator = validator;
        this.rv = 1;
        this.objects = { jobs: new Map(), pods: new Map(), networkpolicies: new Map() };
        this.events = []; // {rv, resource, ns, type, object}
        this.compacted = 1; // events up to this resourceVersion have left the window
        this.watchers = new Set();
        this.timers = new Map(); // uid -> [timeouts]
        this.scripts = [];
        this.failNext = [];
        this.requests = [];
        this.forbid = opts.forbid.map((f) => f.split(":"));
    }

    // --- storage and events ---------------------------------------------------------------

    key(ns, name) {
        return `${ns}/${name}`;
    }

    change(resource, type, obj) {
        this.rv++;
        obj.metadata.resourceVersion = String(this.rv);
        const store = this.objects[resource];
        const k = this.key(obj.metadata.namespace, obj.metadata.name);
        if (type === "DELETED")
            store.delete(k);
        else
            store.set(k, clone(obj));
        const ev = { rv: this.rv, resource, ns: obj.metadata.namespace, type, object: clone(obj) };
        this.events.push(ev);
        while (this.events.length > this.opts.watchWindow)
            this.compacted = this.events.shift().rv;
        for (const w of this.watchers)
            w.offer(ev);
        return obj;
    }

    get(resource, ns, name) {
        return clone(this.objects[resource].get(this.key(ns, name)));
    }

    addTimer(uid, ms, fn) {
        const t = setTimeout(() => {
            const list = this.timers.get(uid) || [];
            this.timers.set(uid, list.filter((x) => x !== t));
            fn();
        }, ms);
        if (!this.timers.has(uid))
            this.timers.set(uid, []);
        this.timers.get(uid).push(t);
    }

    cancelTimers(uid) {
        for (const t of this.timers.get(uid) || [])
            clearTimeout(t);
        this.timers.delete(uid);
    }

    // --- the Job controller and the kubelet -------------------------------------------------

    scriptFor(name) {
        let rule = { run_ms: 200, outcome: "succeeded", exit_code: 0, logs: {} };
        for (const r of this.scripts)
            if (r.match === "*" || name.startsWith(r.match))
                rule = Object.assign({ run_ms: 200, outcome: "succeeded", exit_code: 0, logs: {} },
                                     r);
        return rule;
    }

    jobCreated(job) {
        const uid = job.metadata.uid;
        const script = this.scriptFor(job.metadata.name);
        this.addTimer(uid, STEP_MS, () => this.jobStartPod(job.metadata.namespace,
                                                           job.metadata.name, script));
    }

    jobStartPod(ns, jobName, script) {
        const job = this.get("jobs", ns, jobName);
        if (!job || job.metadata.deletionTimestamp || job.spec.suspend)
            return;
        const tmpl = job.spec.template || {};
        const labels = Object.assign({}, (tmpl.metadata && tmpl.metadata.labels) || {});
        const pod = {
            apiVersion: "v1", kind: "Pod",
            metadata: {
                name: `${jobName}-${suffix()}`, generateName: `${jobName}-`, namespace: ns,
                labels, annotations: clone((tmpl.metadata && tmpl.metadata.annotations) || {}),
                uid: crypto.randomUUID(), creationTimestamp: now(),
                ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: jobName,
                                    uid: job.metadata.uid, controller: true,
                                    blockOwnerDeletion: true }],
            },
            spec: Object.assign(clone(tmpl.spec || {}), { nodeName: "fake-node" }),
            status: {
                phase: "Pending",
                conditions: [{ type: "PodScheduled", status: "True", lastProbeTime: null,
                               lastTransitionTime: now() }],
                containerStatuses: ((tmpl.spec && tmpl.spec.containers) || []).map((c) => ({
                    name: c.name, image: c.image, imageID: "", ready: false, restartCount: 0,
                    started: false, state: { waiting: { reason: "ContainerCreating" } } })),
                qosClass: "BestEffort",
            },
        };
        pod.metadata._fake = { script }; // stripped from every response
        this.change("pods", "ADDED", pod);
        this.addTimer(pod.metadata.uid, STEP_MS, () => this.podRun(ns, pod.metadata.name, jobName));
    }

    podRun(ns, podName, jobName) {
        const pod = this.get("pods", ns, podName);
        const job = this.get("jobs", ns, jobName);
        if (!pod || !job || pod.metadata.deletionTimestamp || job.metadata.deletionTimestamp)
            return;
        const t = now();
        const script = pod.metadata._fake.script;
        pod.status.phase = "Running";
        pod.status.startTime = t;
        pod.status.conditions.push({ type: "Initialized", status: "True", lastProbeTime: null,
                                     lastTransitionTime: t },
                                   { type: "ContainersReady", status: "True",
                                     lastProbeTime: null, lastTransitionTime: t },
                                   { type: "Ready", status: "True", lastProbeTime: null,
                                     lastTransitionTime: t });
        for (const cs of pod.status.containerStatuses)
            Object.assign(cs, { ready: true, started: true, state: { running: { startedAt: t } } });
        this.change("pods", "MODIFIED", pod);
        job.status = Object.assign(job.status || {}, { active: 1, ready: 1, startTime: t });
        this.change("jobs", "MODIFIED", job);

        const deadline = job.spec.activeDeadlineSeconds;
        if (deadline !== undefined && deadline * 1000 < script.run_ms) {
            this.addTimer(job.metadata.uid, deadline * 1000,
                          () => this.podFinish(ns, podName, jobName, "DeadlineExceeded"));
        } else {
            this.addTimer(pod.metadata.uid, script.run_ms,
                          () => this.podFinish(ns, podName, jobName, script.outcome));
        }
    }

    // outcome: "succeeded", "failed" or "DeadlineExceeded"
    podFinish(ns, podName, jobName, outcome) {
        const pod = this.get("pods", ns, podName);
        const job = this.get("jobs", ns, jobName);
        if (!pod || !job || pod.metadata.deletionTimestamp || job.metadata.deletionTimestamp)
            return;
        const t = now();
        const script = pod.metadata._fake.script;
        const ok = outcome === "succeeded";
        pod.status.phase = ok ? "Succeeded" : "Failed";
        if (outcome === "DeadlineExceeded") {
            pod.status.reason = "DeadlineExceeded";
            pod.status.message = "Pod was active on the node longer than the specified deadline";
        }
        for (const cs of pod.status.containerStatuses) {
            let code = ok ? 0 : script.exit_code || 1;
            if (script.exit_codes && script.exit_codes[cs.name] !== undefined)
                code = script.exit_codes[cs.name];
            if (outcome === "DeadlineExceeded")
                code = 137;
            cs.ready = false;
            cs.started = false;
            cs.state = { terminated: { exitCode: code, reason: code === 0 ? "Completed" : "Error",
                                       startedAt: pod.status.startTime, finishedAt: t,
                                       containerID: `fake://${cs.name}` } };
        }
        for (const c of pod.status.conditions)
            if (c.type === "Ready" || c.type === "ContainersReady") {
                c.status = "False";
                c.reason = "PodCompleted";
                c.lastTransitionTime = t;
            }
        this.change("pods", "MODIFIED", pod);

        const st = job.status || {};
        delete st.active;
        st.ready = 0;
        st.terminating = 0;
        if (ok) {
            st.succeeded = 1;
            st.completionTime = t;
            st.conditions = [
                { type: "SuccessCriteriaMet", status: "True", reason: "CompletionsReached",
                  message: "Reached expected number of succeeded pods", lastProbeTime: t,
                  lastTransitionTime: t },
                { type: "Complete", status: "True", reason: "CompletionsReached",
                  message: "Reached expected number of succeeded pods", lastProbeTime: t,
                  lastTransitionTime: t }];
        } else {
            st.failed = 1;
            const reason = outcome === "DeadlineExceeded" ? "DeadlineExceeded"
                                                          : "BackoffLimitExceeded";
            const message = outcome === "DeadlineExceeded"
                                ? "Job was active longer than specified deadline"
                                : "Job has reached the specified backoff limit";
            st.conditions = [
                { type: "FailureTarget", status: "True", reason, message, lastProbeTime: t,
                  lastTransitionTime: t },
                { type: "Failed", status: "True", reason, message, lastProbeTime: t,
                  lastTransitionTime: t }];
        }
        job.status = st;
        this.change("jobs", "MODIFIED", job);
        this.cancelTimers(pod.metadata.uid);
        this.cancelTimers(job.metadata.uid);
        const ttl = job.spec.ttlSecondsAfterFinished;
        if (ttl !== undefined)
            this.addTimer(job.metadata.uid, ttl * 1000,
                          () => this.deleteObject("jobs", ns, jobName, "Background"));
    }

    // --- deletion and garbage collection ----------------------------------------------------

    dependents(ownerUid) {
        const out = [];
        for (const [resource, store] of Object.entries(this.objects))
            for (const o of store.values())
                if ((o.metadata.ownerReferences || []).some((r) => r.uid === ownerUid))
                    out.push([resource, o]);
        return out;
    }

    // Returns the object as the DELETE response shows it (null: already gone).
    deleteObject(resource, ns, name, policy) {
        const obj = this.get(resource, ns, name);
        if (!obj)
            return null;
        const uid = obj.metadata.uid;
        if (!policy)
            policy = resource === "jobs" ? "Orphan" : "Background";
        this.cancelTimers(uid);
        if (policy === "Orphan") {
            for (const [r, d] of this.dependents(uid)) {
                d.metadata.ownerReferences = d.metadata.ownerReferences.filter((x) => x.uid !== uid);
                if (!d.metadata.ownerReferences.length)
                    delete d.metadata.ownerReferences;
                this.change(r, "MODIFIED", d);
            }
            return this.remove(resource, obj);
        }
        if (policy === "Background") {
            const shown = this.remove(resource, obj);
            setTimeout(() => this.collect(uid), POD_GRACE_MS);
            return shown;
        }
        // Foreground: marked, dependents go first, then the owner.
        if (!obj.metadata.deletionTimestamp) {
            obj.metadata.deletionTimestamp = now();
            obj.metadata.deletionGracePeriodSeconds = 0;
            obj.metadata.finalizers = (obj.metadata.finalizers || []).concat("foregroundDeletion");
            this.change(resource, "MODIFIED", obj);
            setTimeout(() => this.collect(uid, () => {
                const o = this.get(resource, ns, name);
                if (o && o.metadata.uid === uid) {
                    o.metadata.finalizers = o.metadata.finalizers.filter((f) => f !== "foregroundDeletion");
                    this.change(resource, "DELETED", o);
                }
            }), 1);
        }
        return obj;
    }

    // A pod is marked, then gone; other kinds go at once.
    remove(resource, obj) {
        if (resource === "pods") {
            if (!obj.metadata.deletionTimestamp) {
                obj.metadata.deletionTimestamp = now();
                obj.metadata.deletionGracePeriodSeconds = 0;
                this.change("pods", "MODIFIED", obj);
                const { namespace, name, uid } = obj.metadata;
                this.cancelTimers(uid);
                setTimeout(() => {
                    const o = this.get("pods", namespace, name);
                    if (o && o.metadata.uid === uid)
                        this.change("pods", "DELETED", o);
                }, POD_GRACE_MS);
            }
            return obj;
        }
        this.change(resource, "DELETED", obj);
        return obj;
    }

    // Deletes every dependent of ownerUid (recursively, Background), then calls done once
    // they are all gone.
    collect(ownerUid, done) {
        for (const [r, d] of this.dependents(ownerUid)) {
            this.cancelTimers(d.metadata.uid);
            setTimeout(() => this.collect(d.metadata.uid), POD_GRACE_MS);
            this.remove(r, d);
        }
        if (!done)
            return;
        const wait = () => {
            if (this.dependents(ownerUid).length)
                setTimeout(wait, 5);
            else
                done();
        };
        wait();
    }

    // --- HTTP -------------------------------------------------------------------------------

    async handle(req, res) {
        const url = new URL(req.url, "http://x");
        let body = "";
        try {
            body = await readBody(req);
        } catch (e) {
            return sendJson(res, 413, status(413, "RequestEntityTooLarge",
                                             "the request body is too large"));
        }
        if (url.pathname.startsWith("/_fake/"))
            return this.control(req, res, url, body);
        if (url.pathname === "/version" && req.method === "GET")
            return sendJson(res, 200, { major: "1", minor: "33", gitVersion: "v1.33.0-fake",
                                        platform: "linux/amd64" });
        const entry = { method: req.method, path: url.pathname, query: url.search.slice(1),
                        body: null, status: 0, time: new Date().toISOString() };
        if (body) {
            try { entry.body = JSON.parse(body); } catch (e) { entry.body = body; }
        }
        if (this.requests.length < MAX_LOGGED_REQUESTS)
            this.requests.push(entry);
        const origEnd = res.end.bind(res);
        res.end = (...a) => { entry.status = res.statusCode; return origEnd(...a); };
        try {
            await this.api(req, res, url, body);
        } catch (e) {
            if (!(e instanceof HttpError)) {
                process.stderr.write(`fake-apiserver: ${e.stack}\n`);
                e = new HttpError(500, "InternalError", `internal error: ${e.message}`);
            }
            if (!res.headersSent)
                sendJson(res, e.st.code, e.st);
            else
                res.destroy();
        }
    }

    authenticated(req) {
        const h = req.headers.authorization || "";
        if (h === `Bearer ${this.opts.token}`)
            return true;
        const sock = req.socket;
        return !!(this.opts.clientCa && sock.authorized && sock.getPeerCertificate &&
                  sock.getPeerCertificate().subject);
    }

    async api(req, res, url, body) {
        const p = url.pathname;
        if (!p.startsWith("/api/") && !p.startsWith("/apis/") && p !== "/api" && p !== "/apis")
            throw new HttpError(404, "NotFound", "the server could not find the requested resource");
        if (!this.authenticated(req))
            throw new HttpError(401, "Unauthorized", "Unauthorized");

        // /api/v1/namespaces/NS/pods[/NAME[/log]], /apis/G/V/namespaces/NS/PLURAL[/NAME]
        let m = null, resource = null;
        for (const [plural, r] of Object.entries(RESOURCES)) {
            const re = new RegExp(`^${r.prefix.replace(/\./g, "\\.")}/namespaces/([^/]+)/` +
                                  `${plural}(?:/([^/]+)(?:/(log))?)?/?$`);
            m = p.match(re);
            if (m) {
                resource = plural;
                break;
            }
        }
        if (!m && req.method === "GET") {
            const d = discovery(p);
            if (d)
                return sendJson(res, 200, d);
            const nf = otherNotFound(p);
            if (nf)
                throw nf;
        }
        if (!m)
            throw new HttpError(404, "NotFound", "the server could not find the requested resource");
        const ns = decodeURIComponent(m[1]);
        const name = m[2] === undefined ? null : decodeURIComponent(m[2]);
        const sub = m[3] || null;
        if (sub && resource !== "pods")
            throw new HttpError(404, "NotFound", "the server could not find the requested resource");
        const q = url.searchParams;
        const watch = q.get("watch") === "1" || q.get("watch") === "true";
        let verb;
        if (req.method === "POST" && !name)
            verb = "create";
        else if (req.method === "GET" && name)
            verb = "get";
        else if (req.method === "GET")
            verb = watch ? "watch" : "list";
        else if (req.method === "DELETE" && name && !sub)
            verb = "delete";
        else
            throw new HttpError(405, "MethodNotAllowed",
                                `the server does not allow this method on the requested resource`);
        const res_ = sub ? `${resource}/${sub}` : resource;

        this.injected(verb, res_);
        for (const [fv, fr] of this.forbid) {
            if ((fv === "*" || fv === verb) && (fr === "*" || fr === res_)) {
                const what = name ? `${groupResource(res_)} "${name}"` : groupResource(res_);
                const g = RESOURCES[resource].group;
                throw new HttpError(403, "Forbidden",
                                    `${what} is forbidden: User "${this.opts.user}" cannot ${verb} ` +
                                    `resource "${res_}" in API group "${g}" in the namespace "${ns}"`,
                                    { name: name || undefined, group: g || undefined,
                                      kind: res_ });
            }
        }
        if (!this.opts.namespaces.includes(ns))
            throw new HttpError(404, "NotFound", `namespaces "${ns}" not found`,
                                { name: ns, kind: "namespaces" });

        switch (verb) {
        case "create": return this.create(res, resource, ns, body, q);
        case "get": return sub ? this.logs(res, ns, name, q) : this.getOne(res, resource, ns, name);
        case "list": return this.list(res, resource, ns, q);
        case "watch": return this.watch(req, res, resource, ns, q);
        case "delete": return this.del(res, resource, ns, name, body, q);
        }
    }

    // /_fake/fail-next rules: the first matching one fails this request.
    injected(verb, res_) {
        const i = this.failNext.findIndex((f) => (!f.verb || f.verb === "*" || f.verb === verb) &&
                                                 (!f.resource || f.resource === "*" ||
                                                  f.resource === res_));
        if (i < 0)
            return;
        const f = this.failNext[i];
        f.count = (f.count === undefined ? 1 : f.count) - 1;
        if (f.count <= 0)
            this.failNext.splice(i, 1);
        const code = f.code || 500;
        throw new HttpError(code, f.reason || "InternalError",
                            f.message || `injected failure (${code})`);
    }

    async create(res, resource, ns, body, q) {
        const r = RESOURCES[resource];
        let obj;
        try {
            obj = JSON.parse(body);
        } catch (e) {
            throw new HttpError(400, "BadRequest", `the body of the request was not valid JSON: ${e.message}`);
        }
        if (!obj || typeof obj !== "object" || Array.isArray(obj))
            throw new HttpError(400, "BadRequest", "the body of the request must be an object");
        const gv = r.group ? `${r.group}/${r.version}` : r.version;
        if (obj.apiVersion !== gv || obj.kind !== r.kind)
            throw new HttpError(400, "BadRequest",
                                `the API version in the data (${obj.apiVersion}) or kind ` +
                                `(${obj.kind}) does not match the expected ${gv} ${r.kind}`);
        obj.metadata = obj.metadata && typeof obj.metadata === "object" ? obj.metadata : {};
        if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns)
            throw new HttpError(400, "BadRequest", "the namespace of the provided object does " +
                                "not match the namespace sent on the request");
        const kindG = r.group ? `${r.kind}.${r.group}` : r.kind;
        if (!obj.metadata.name && obj.metadata.generateName)
            obj.metadata.name = `${obj.metadata.generateName}${suffix()}`;
        const errs = await this.validator.validate(obj);
        if (!obj.metadata.name)
            errs.unshift({ field: "metadata.name", reason: "FieldValueRequired",
                           message: "metadata.name: Required value: name or generateName is required" });
        if (errs.length) {
            const nm = obj.metadata.name || "";
            throw new HttpError(422, "Invalid",
                                `${kindG} "${nm}" is invalid: ${errs.map((e) => e.message).join(", ")}`,
                                { name: nm, group: r.group || undefined, kind: r.kind,
                                  causes: errs.map((e) => ({ reason: e.reason, message: e.message,
                                                             field: e.field })) });
        }
        const name = obj.metadata.name;
        if (this.objects[resource].has(this.key(ns, name)))
            throw new HttpError(409, "AlreadyExists", `${groupResource(resource)} "${name}" already exists`,
                                { name, group: r.group || undefined, kind: resource });
        if (q.get("dryRun") === "All")
            return sendJson(res, 201, obj);
        Object.assign(obj.metadata, { namespace: ns, uid: crypto.randomUUID(),
                                      creationTimestamp: now(), generation: 1 });
        delete obj.status;
        if (resource === "jobs")
            this.defaultJob(obj);
        if (resource === "pods")
            obj.status = { phase: "Pending", qosClass: "BestEffort" };
        this.change(resource, "ADDED", obj);
        if (resource === "jobs")
            this.jobCreated(obj);
        sendJson(res, 201, strip(obj));
    }

    defaultJob(job) {
        const s = job.spec;
        const uid = job.metadata.uid;
        for (const [k, v] of [["backoffLimit", 6], ["completions", 1], ["parallelism", 1],
                              ["completionMode", "NonIndexed"], ["suspend", false],
                              ["manualSelector", false],
                              ["podReplacementPolicy", "TerminatingOrFailed"]])
            if (s[k] === undefined)
                s[k] = v;
        const ctl = { "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                      "batch.kubernetes.io/job-name": job.metadata.name,
                      "job-name": job.metadata.name };
        s.selector = s.selector || { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
        s.template.metadata = s.template.metadata || {};
        s.template.metadata.labels = Object.assign({}, s.template.metadata.labels, ctl);
        job.metadata.labels = Object.assign({ "batch.kubernetes.io/controller-uid": uid,
                                              "batch.kubernetes.io/job-name": job.metadata.name,
                                              "controller-uid": uid,
                                              "job-name": job.metadata.name },
                                            job.metadata.labels);
        job.status = {};
    }

    getOne(res, resource, ns, name) {
        const o = this.get(resource, ns, name);
        if (!o)
            throw notFound(resource, name);
        sendJson(res, 200, strip(o));
    }

    list(res, resource, ns, q) {
        const match = selector(q);
        const r = RESOURCES[resource];
        const items = [...this.objects[resource].values()]
            .filter((o) => o.metadata.namespace === ns && match(o))
            .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))
            .map((o) => { o = strip(clone(o)); delete o.apiVersion; delete o.kind; return o; });
        sendJson(res, 200, { kind: `${r.kind}List`,
                             apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
                             metadata: { resourceVersion: String(this.rv) }, items });
    }

    watch(req, res, resource, ns, q) {
        const match = selector(q);
        const rvq = q.get("resourceVersion");
        res.writeHead(200, { "Content-Type": "application/json",
                             "Transfer-Encoding": "chunked", "Cache-Control": "no-cache" });
        res.flushHeaders(); // a client waits for the headers before the first event
        const send = (type, object) => res.write(`${JSON.stringify({ type, object })}\n`);
        if (rvq && rvq !== "0") {
            const n = Number(rvq);
            if (!/^\d+$/.test(rvq) || n < this.compacted) {
                send("ERROR", status(410, "Expired",
                                     `too old resource version: ${rvq} (${this.compacted})`));
                res.end();
                return;
            }
            for (const ev of this.events)
                if (ev.rv > n && ev.resource === resource && ev.ns === ns && match(ev.object))
                    send(ev.type, strip(clone(ev.object)));
        } else {
            for (const o of this.objects[resource].values())
                if (o.metadata.namespace === ns && match(o))
                    send("ADDED", strip(clone(o)));
        }
        const w = {
            res,
            offer: (ev) => {
                if (ev.resource === resource && ev.ns === ns && match(ev.object))
                    send(ev.type, strip(clone(ev.object)));
            },
        };
        this.watchers.add(w);
        const done = () => this.watchers.delete(w);
        res.on("close", done);
        const ts = Number(q.get("timeoutSeconds"));
        if (ts > 0) {
            const t = setTimeout(() => { done(); res.end(); }, ts * 1000);
            res.on("close", () => clearTimeout(t));
        }
    }

    logs(res, ns, name, q) {
        const pod = this.get("pods", ns, name);
        if (!pod)
            throw notFound("pods", name);
        const names = (pod.spec.containers || []).map((c) => c.name);
        let c = q.get("container");
        if (!c) {
            if (names.length !== 1)
                throw new HttpError(400, "BadRequest", `a container name must be specified for pod ` +
                                    `${name}, choose one of: [${names.join(" ")}]`);
            c = names[0];
        }
        if (!names.includes(c))
            throw new HttpError(400, "BadRequest", `container ${c} is not valid for pod ${name}`);
        const cs = (pod.status.containerStatuses || []).find((x) => x.name === c);
        if (!cs || cs.state.waiting)
            throw new HttpError(400, "BadRequest", `container "${c}" in pod "${name}" is waiting ` +
                                `to start: ${cs ? cs.state.waiting.reason : "ContainerCreating"}`);
        const script = (pod.metadata._fake && pod.metadata._fake.script) || { logs: {} };
        let text = String((script.logs || {})[c] || "");
        const tail = q.get("tailLines");
        if (tail !== null && /^\d+$/.test(tail)) {
            const lines = text.split("\n");
            const hasEnd = text.endsWith("\n");
            if (hasEnd)
                lines.pop();
            text = lines.slice(Math.max(0, lines.length - Number(tail))).join("\n") +
                   (hasEnd && Number(tail) > 0 && lines.length ? "\n" : "");
        }
        let buf = Buffer.from(text);
        const lim = q.get("limitBytes");
        if (lim !== null && /^\d+$/.test(lim) && Number(lim) > 0)
            buf = buf.subarray(0, Number(lim));
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": buf.length });
        res.end(buf);
    }

    del(res, resource, ns, name, body, q) {
        let policy = q.get("propagationPolicy");
        if (body) {
            let o;
            try {
                o = JSON.parse(body);
            } catch (e) {
                throw new HttpError(400, "BadRequest", `the body of the request was not valid JSON`);
            }
            if (o && o.propagationPolicy)
                policy = o.propagationPolicy;
            if (o && o.orphanDependents === true && !policy)
                policy = "Orphan";
        }
        if (policy && !["Foreground", "Background", "Orphan"].includes(policy))
            throw new HttpError(422, "Invalid",
                                `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: ` +
                                `Unsupported value: "${policy}": supported values: "Foreground", ` +
                                `"Background", "Orphan"`);
        const o = this.deleteObject(resource, ns, name, policy);
        if (!o)
            throw notFound(resource, name);
        if (o.metadata.deletionTimestamp)
            return sendJson(res, 200, strip(clone(o)));
        sendJson(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success",
                             details: { name, group: RESOURCES[resource].group || undefined,
                                        kind: resource, uid: o.metadata.uid } });
    }

    // --- /_fake ----------------------------------------------------------------------------

    control(req, res, url, body) {
        const p = url.pathname;
        let o = {};
        if (req.method === "POST" && body) {
            try {
                o = JSON.parse(body);
            } catch (e) {
                return sendJson(res, 400, { error: `invalid JSON: ${e.message}` });
            }
        }
        if (req.method === "POST" && p === "/_fake/script") {
            if (typeof o.match !== "string")
                return sendJson(res, 400, { error: "match (a job name prefix or *) is required" });
            if (o.outcome && !["succeeded", "failed"].includes(o.outcome))
                return sendJson(res, 400, { error: "outcome is succeeded or failed" });
            this.scripts.push(o);
            return sendJson(res, 200, { ok: true, rules: this.scripts.length });
        }
        if (req.method === "POST" && p === "/_fake/fail-next") {
            this.failNext.push(o);
            return sendJson(res, 200, { ok: true });
        }
        if (req.method === "POST" && p === "/_fake/drop-watches") {
            const n = this.watchers.size;
            for (const w of [...this.watchers]) {
                this.watchers.delete(w);
                w.res.destroy(); // mid-stream: no terminating chunk
            }
            return sendJson(res, 200, { dropped: n });
        }
        if (req.method === "POST" && p === "/_fake/reset") {
            for (const uid of [...this.timers.keys()])
                this.cancelTimers(uid);
            for (const s of Object.values(this.objects))
                s.clear();
            this.scripts = [];
            this.failNext = [];
            this.requests = [];
            return sendJson(res, 200, { ok: true });
        }
        if (req.method === "GET" && p === "/_fake/requests")
            return sendJson(res, 200, this.requests);
        if (req.method === "GET" && p === "/_fake/objects") {
            const out = {};
            for (const [r, s] of Object.entries(this.objects))
                out[r] = [...s.values()].map((x) => strip(clone(x)));
            return sendJson(res, 200, out);
        }
        if (req.method === "GET" && p === "/_fake/watches")
            return sendJson(res, 200, { open: this.watchers.size, resourceVersion: String(this.rv),
                                        oldest: String(this.compacted) });
        sendJson(res, 404, { error: `no control endpoint ${req.method} ${p}` });
    }
}

function notFound(resource, name) {
    const r = RESOURCES[resource];
    return new HttpError(404, "NotFound", `${groupResource(resource)} "${name}" not found`,
                         { name, group: r.group || undefined, kind: resource });
}

// labelSelector "k=v,k2=v2" (also k==v, k!=v, k, !k) and fieldSelector metadata.name=X.
function selector(q) {
    const terms = [];
    const ls = q.get("labelSelector");
    if (ls) {
        for (const t of ls.split(",").map((x) => x.trim()).filter(Boolean)) {
            let m;
            if ((m = t.match(/^([^!=]+)!=(.*)$/)))
                terms.push((o) => labels(o)[m[1]] !== m[2]);
            else if ((m = t.match(/^([^!=]+)==?(.*)$/)))
                terms.push((o) => labels(o)[m[1]] === m[2]);
            else if ((m = t.match(/^!(.+)$/)))
                terms.push((o) => !(m[1] in labels(o)));
            else
                terms.push((o) => t in labels(o));
        }
    }
    const fs_ = q.get("fieldSelector");
    if (fs_) {
        for (const t of fs_.split(",")) {
            const m = t.match(/^metadata\.(name|namespace)(==?|!=)(.*)$/);
            if (!m)
                throw new HttpError(400, "BadRequest", `"${t}" is not a known field selector`);
            terms.push((o) => (m[2] === "!=") !== (o.metadata[m[1]] === m[3]));
        }
    }
    return (o) => terms.every((f) => f(o));
}

function labels(o) {
    return (o.metadata && o.metadata.labels) || {};
}

function strip(o) {
    if (o && o.metadata)
        delete o.metadata._fake;
    return o;
}

function sendJson(res, code, obj) {
    const b = Buffer.from(JSON.stringify(obj));
    res.writeHead(code, { "Content-Type": "application/json", "Content-Length": b.length });
    res.end(b);
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let n = 0;
        req.on("data", (c) => {
            n += c.length;
            if (n > MAX_BODY) {
                reject(new Error("too large"));
                req.pause();
                return;
            }
            chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    let validator;
    try {
        validator = await schema.load(opts.nodeModules);
    } catch (e) {
        die(e.message);
    }
    const fake = new FakeApiServer(opts, validator);
    const handler = (req, res) => {
        fake.handle(req, res).catch((e) => {
            process.stderr.write(`fake-apiserver: ${e.stack}\n`);
            if (!res.headersSent)
                sendJson(res, 500, status(500, "InternalError", e.message));
        });
    };
    let server;
    if (opts.cert) {
        const tls = { cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) };
        if (opts.clientCa) {
            tls.ca = fs.readFileSync(opts.clientCa);
            tls.requestCert = true;
            tls.rejectUnauthorized = false; // a token may be used instead; checked per request
        }
        server = https.createServer(tls, handler);
    } else {
        server = http.createServer(handler);
    }
    server.keepAliveTimeout = 5000;
    const sockets = new Set();
    server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
    server.on("secureConnection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
    server.listen(opts.port, opts.host, () => {
        process.stdout.write(`listening ${server.address().port}\n`);
    });
    const stop = () => {
        server.close(() => process.exit(0));
        for (const s of sockets)
            s.destroy();
        setTimeout(() => process.exit(0), 1000).unref();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main();

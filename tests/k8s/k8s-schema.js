// k8s-schema.js -- validates Kubernetes objects with the npm package `kubernetes-models`.
//
// Shared by fake-apiserver.js (every object a client creates) and validate-manifests.js
// (every manifest in deploy/). The package ships, for each kind, a model class whose
// validate() runs an ajv validator generated from the official Kubernetes OpenAPI schema
// (types, formats, enums, required properties) and throws a ValidationError listing every
// error. Nothing here restates a schema.
//
// DESIGN: what the package does not check, and how we add it without a hand-written schema.
// 1. Unknown fields. The generated validators do not reject properties the schema does not
//    declare (the real API server does, with fieldValidation=Strict). We find them by running
//    the same validator on a Proxy of the object that records which properties the validator
//    reads: a generated validator reads every property its schema declares (`data.x !==
//    undefined && ...`), and enumerates the keys of a map (`for (k in data)` for
//    additionalProperties, e.g. labels or resource limits). A key of a plain object that the
//    validator neither read nor enumerated is not in the schema. An object of which it read
//    nothing at all is free-form in the schema (`type: object` without properties) and is not
//    checked further. So the list of allowed fields is the package's own.
// 2. A few checks the real API server makes in code, not in the OpenAPI schema (its
//    pkg/apis/.../validation): object names, container names and their uniqueness, a
//    container's image, a Job template's restartPolicy. Those are listed in semanticChecks()
//    with the messages the real server gives; they are rules, not a schema.
"use strict";

const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");

// Where the package is: an explicit directory, $K8S_NODE_MODULES, or next to this file.
function findNodeModules(dir) {
    const candidates = [dir, process.env.K8S_NODE_MODULES, path.join(__dirname, "node_modules")];
    for (const c of candidates) {
        if (c && fs.existsSync(path.join(c, "kubernetes-models", "package.json")))
            return c;
    }
    return null;
}

function isPlainObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

// "/spec/template/spec/containers/0/image" -> "spec.template.spec.containers[0].image",
// the API server's field path spelling.
function fieldPath(parts) {
    let s = "";
    for (const p of parts) {
        if (/^\d+$/.test(String(p)))
            s += `[${p}]`;
        else
            s += (s ? "." : "") + p;
    }
    return s;
}

function pointerToParts(ptr) {
    if (!ptr)
        return [];
    return ptr.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

// Runs fn(proxy) and returns the fields of obj that fn never looked at (see DESIGN 1).
function unknownFields(obj, fn) {
    const records = new Map(); // target object -> {read: Set, enumerated: bool}
    const proxies = new Map();

    function wrap(target) {
        if (proxies.has(target))
            return proxies.get(target);
        const rec = { read: new Set(), enumerated: false };
        records.set(target, rec);
        const p = new Proxy(target, {
            get(t, k, recv) {
                if (typeof k === "string")
                    rec.read.add(k);
                const v = Reflect.get(t, k, recv);
                return v !== null && typeof v === "object" ? wrap(v) : v;
            },
            has(t, k) {
                if (typeof k === "string")
                    rec.read.add(k);
                return Reflect.has(t, k);
            },
            ownKeys(t) {
                rec.enumerated = true;
                return Reflect.ownKeys(t);
            },
        });
        proxies.set(target, p);
        return p;
    }

    let thrown = null;
    try {
        fn(wrap(obj));
    } catch (e) {
        thrown = e; // schema errors are reported by the caller's own run
    }
    const out = [];
    (function walk(v, parts) {
        if (Array.isArray(v)) {
            v.forEach((x, i) => walk(x, parts.concat(i)));
            return;
        }
        if (!isPlainObject(v))
            return;
        const rec = records.get(v);
        if (!rec || rec.enumerated || rec.read.size === 0)
            return; // not reached (under an error), a map, or free-form
        for (const k of Object.keys(v)) {
            if (rec.read.has(k))
                walk(v[k], parts.concat(k));
            else
                out.push(parts.concat(k));
        }
    })(obj, []);
    return { unknown: out, thrown };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// Rules the real API server applies in code (see DESIGN 2). Returns [{field, reason, message}].
function semanticChecks(obj) {
    const errs = [];
    const add = (field, reason, message) => errs.push({ field, reason, message });
    const name = obj.metadata && obj.metadata.name;
    if (typeof name === "string" && name !== "") {
        if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
            add("metadata.name", "FieldValueInvalid",
                `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must ` +
                "consist of lower case alphanumeric characters, '-' or '.', and must start and " +
                "end with an alphanumeric character");
        else if (obj.kind === "Job" && name.length > 63)
            add("metadata.name", "FieldValueInvalid",
                `metadata.name: Invalid value: "${name}": must be no more than 63 characters`);
    }
    let podSpec = null, prefix = "";
    if (obj.kind === "Pod") {
        podSpec = obj.spec;
        prefix = "spec";
    } else if (obj.kind === "Job" && obj.spec && obj.spec.template) {
        podSpec = obj.spec.template.spec;
        prefix = "spec.template.spec";
        const rp = podSpec && podSpec.restartPolicy;
        if (podSpec && rp !== "Never" && rp !== "OnFailure")
            add(`${prefix}.restartPolicy`, rp === undefined ? "FieldValueRequired"
                                                            : "FieldValueNotSupported",
                rp === undefined ? `${prefix}.restartPolicy: Required value`
                                 : `${prefix}.restartPolicy: Unsupported value: "${rp}": ` +
                                   'supported values: "OnFailure", "Never"');
    }
    if (isPlainObject(podSpec)) {
        const seen = new Set();
        for (const list of ["initContainers", "containers"]) {
            const cs = podSpec[list];
            if (!Array.isArray(cs))
                continue;
            cs.forEach((c, i) => {
                if (!isPlainObject(c))
                    return;
                const f = `${prefix}.${list}[${i}]`;
                if (typeof c.name !== "string" || c.name === "")
                    add(`${f}.name`, "FieldValueRequired", `${f}.name: Required value`);
                else if (c.name.length > 63 || !DNS1123_LABEL.test(c.name))
                    add(`${f}.name`, "FieldValueInvalid",
                        `${f}.name: Invalid value: "${c.name}": a lowercase RFC 1123 label must ` +
                        "consist of lower case alphanumeric characters or '-'");
                else if (seen.has(c.name))
                    add(`${f}.name`, "FieldValueDuplicate",
                        `${f}.name: Duplicate value: "${c.name}"`);
                else
                    seen.add(c.name);
                if (typeof c.image !== "string" || c.image.trim() === "")
                    add(`${f}.image`, "FieldValueRequired", `${f}.image: Required value`);
            });
        }
        if (Array.isArray(podSpec.containers) && podSpec.containers.length === 0)
            add(`${prefix}.containers`, "FieldValueRequired", `${prefix}.containers: Required value`);
    }
    return errs;
}

// Loads the package. Resolves to a validator: validate(obj) -> [{field, reason, message}]
// (empty when valid). Throws when the package or a kind is missing.
async function load(nodeModulesDir) {
    const nm = findNodeModules(nodeModulesDir);
    if (!nm)
        throw new Error("npm package kubernetes-models not found (run tests/k8s/setup.sh DIR " +
                        "and set K8S_NODE_MODULES=DIR/node_modules)");
    const pkg = JSON.parse(fs.readFileSync(path.join(nm, "kubernetes-models", "package.json")));
    const models = new Map(); // "batch/v1 Job" -> model class

    async function model(apiVersion, kind) {
        const key = `${apiVersion} ${kind}`;
        if (models.has(key))
            return models.get(key);
        if (typeof apiVersion !== "string" || typeof kind !== "string" ||
            !/^[a-z0-9.]*\/?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind))
            return null;
        const file = path.join(nm, "kubernetes-models", ...apiVersion.split("/"), `${kind}.js`);
        let cls = null;
        if (fs.existsSync(file)) {
            const mod = await import(pathToFileURL(file).href);
            cls = mod[kind] || null;
        }
        models.set(key, cls);
        return cls;
    }

    async function validate(obj) {
        if (!isPlainObject(obj))
            return [{ field: "", reason: "FieldValueInvalid", message: "object must be a JSON object" }];
        const cls = await model(obj.apiVersion, obj.kind);
        if (!cls)
            return [{ field: "kind", reason: "FieldValueNotSupported",
                      message: `no kind "${obj.kind}" is registered for version "${obj.apiVersion}"` }];
        const errs = [];
        // 1. The package's validator on the object itself (a copy: the model keeps data).
        try {
            new cls(JSON.parse(JSON.stringify(obj))).validate();
        } catch (e) {
            if (!Array.isArray(e.errors))
                throw e;
            for (const ve of e.errors) {
                const parts = pointerToParts(ve.instancePath);
                if (ve.keyword === "required" && ve.params && ve.params.missingProperty)
                    parts.push(ve.params.missingProperty);
                const f = fieldPath(parts);
                errs.push({ field: f,
                            reason: ve.keyword === "required" ? "FieldValueRequired"
                                                              : "FieldValueInvalid",
                            message: `${f || "<root>"}: ${ve.message}` +
                                     (ve.params && ve.params.allowedValues
                                          ? ` (${ve.params.allowedValues.join(", ")})` : "") });
            }
        }
        // 2. Unknown fields: the same validator run on a recording proxy.
        const { unknown } = unknownFields(obj, (p) => cls.prototype.validate.call(p));
        for (const parts of unknown) {
            const f = fieldPath(parts);
            errs.push({ field: f, reason: "FieldValueInvalid",
                        message: `strict decoding error: unknown field "${f}"` });
        }
        // 3. The server's code-level rules.
        return errs.concat(semanticChecks(obj));
    }

    return { validate, nodeModules: nm, version: pkg.version };
}

module.exports = { load, findNodeModules, unknownFields, semanticChecks };

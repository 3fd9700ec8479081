#!/usr/bin/env node
// validate-manifests.js FILE... -- every object in the given YAML manifests, validated with
// the same code the fake API server uses for what it receives (k8s-schema.js: the npm package
// kubernetes-models' validators, generated from the official Kubernetes OpenAPI schemas,
// unknown fields rejected). YAML is parsed with the npm package `yaml` (installed beside it
// by setup.sh). Prints one line per object; exits 1 if any object or document is invalid,
// 2 when the packages are missing.
"use strict";

const fs = require("fs");
const path = require("path");
const schema = require("./k8s-schema.js");

async function main() {
    const files = process.argv.slice(2);
    if (!files.length) {
        console.error("usage: validate-manifests.js FILE...");
        return 2;
    }
    const nm = schema.findNodeModules();
    if (!nm || !fs.existsSync(path.join(nm, "yaml", "package.json"))) {
        console.error("validate-manifests: kubernetes-models/yaml not installed (tests/k8s/setup.sh)");
        return 2;
    }
    const YAML = require(path.join(nm, "yaml"));
    const v = await schema.load(nm);
    let bad = 0, good = 0;
    for (const f of files) {
        const docs = YAML.parseAllDocuments(fs.readFileSync(f, "utf8"));
        for (const [i, doc] of docs.entries()) {
            const where = `${f} (document ${i + 1})`;
            if (doc.errors.length) {
                console.log(`FAIL ${where}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
                bad++;
                continue;
            }
            const obj = doc.toJS();
            if (obj === null || obj === undefined)
                continue; // an empty document (a trailing ---)
            const id = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
            const errs = await v.validate(obj);
            if (obj.metadata && !obj.metadata.name)
                errs.push({ message: "metadata.name: Required value" });
            if (errs.length) {
                console.log(`FAIL ${where} ${id}:`);
                for (const e of errs)
                    console.log(`    ${e.message}`);
                bad++;
            } else {
                console.log(`ok   ${where} ${obj.apiVersion} ${id}`);
                good++;
            }
        }
    }
    console.log(`validate-manifests: ${good} valid, ${bad} invalid (kubernetes-models ${v.version})`);
    return bad || !good ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(2); });

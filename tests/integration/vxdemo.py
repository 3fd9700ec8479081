"""Shared pieces of the demo-image integration tests (test_vex_matching, test_api_e2e):
the fixture environment files, the demo image pushed to the local registry, a Trivy-format
report of the demo image (scripts/demo-findings.py) and the schema validation of documents.

Standard library only, plus python3-jsonschema for validate() (callers skip without it).
"""
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
VEXXY = os.environ.get("VEXXY_BIN", "vexxy")
SCHEMAS = os.path.join(os.environ.get("VEXXY_SHARED_DIR", os.path.join(ROOT, "..", "shared")),
                       "schemas")


def read_env(var):
    out = {}
    path = os.environ.get(var)
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    out[k] = v
    return out


IMAGES = read_env("VEXXY_FIXTURE_ENV")
REGISTRY = read_env("VEXXY_REGISTRY_ENV")


def demo_digest():
    with open(IMAGES["VEXXY_FIXTURE_DEMO_DIGESTS"]) as f:
        return json.load(f)["demo"]["manifest"]


def push_demo():
    """The demo image in the anonymous local registry as vexxy-test/demo:latest (fixtures.sh
    pushes only tiny, tiny2 and multi); returns the repository (host:port/vexxy-test/demo).
    Pushing the same layout again is a no-op for the registry, so concurrent tests are fine."""
    repo = "%s/vexxy-test/demo" % REGISTRY["VEXXY_REGISTRY"]
    subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false",
                    "oci:%s:latest" % IMAGES["VEXXY_FIXTURE_DEMO"], "docker://%s:latest" % repo],
                   check=True, capture_output=True, timeout=120)
    return repo


def inventory():
    r = subprocess.run([VEXXY, "inventory", "oci:" + IMAGES["VEXXY_FIXTURE_DEMO"], "--json"],
                       check=True, capture_output=True, text=True, timeout=120)
    return json.loads(r.stdout)


def demo_report(tmp, inv, extra=()):
    """The README's report of the demo image (open Debian CVEs at the image's versions, Trivy
    format) plus the `extra` Vulnerabilities entries; returns its path."""
    inv_path = os.path.join(tmp, "inventory.json")
    with open(inv_path, "w") as f:
        json.dump(inv, f)
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "demo-findings.py"),
                        inv_path], check=True, capture_output=True, text=True)
    report = json.loads(r.stdout)
    report["Results"][0]["Vulnerabilities"] += list(extra)
    path = os.path.join(tmp, "findings.json")
    with open(path, "w") as f:
        json.dump(report, f)
    return path


def have_schemas():
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return False
    return os.path.isdir(SCHEMAS)


def validate(doc, kind):
    """Schema errors (a list of strings, empty when valid) of an openvex/cyclonedx/csaf
    document against ../shared/schemas; sibling schemas are served locally (no network)."""
    import jsonschema
    from jsonschema import Draft202012Validator, Draft7Validator

    name, cls = {"openvex": ("openvex_json_schema.json", Draft202012Validator),
                 "cyclonedx": ("bom-1.6.schema.json", Draft7Validator),
                 "sbom": ("bom-1.6.schema.json", Draft7Validator),
                 "sbom-in-use": ("bom-1.6.schema.json", Draft7Validator),
                 "csaf": ("csaf_2.0_json_schema.json", Draft202012Validator)}[kind]
    store = {}
    for fn in os.listdir(SCHEMAS):
        if fn.endswith(".json"):
            with open(os.path.join(SCHEMAS, fn)) as f:
                d = json.load(f)
            for key in (d.get("$id"), d.get("id"), fn):
                if key:
                    store[key] = d
            store["http://cyclonedx.org/schema/" + fn] = d
    schema = store[name]
    v = cls(schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store),
            format_checker=jsonschema.FormatChecker())
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    return ["%s: %s" % (list(e.path), e.message) for e in errs[:10]]

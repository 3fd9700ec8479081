#!/usr/bin/env python3
"""The VEX writers' documents validate against the official schemas in ../shared/schemas.

vex_driver writes a fixed set of statements (every status and justification) as OpenVEX
0.2.0, CycloneDX 1.6 and CSAF 2.0; each must validate. Skips (77) when ../shared or the
python3-jsonschema package is absent.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.environ.get("VEXXY_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
SCHEMAS = os.path.join(SCHEMAS, "schemas")
DRIVER = os.environ.get("VX_VEX_DRIVER")

try:
    import jsonschema
    from jsonschema import Draft202012Validator, Draft7Validator
except ImportError:  # pragma: no cover
    jsonschema = None


def load(name):
    with open(os.path.join(SCHEMAS, name)) as f:
        return json.load(f)


def registry_resolver(schema):
    """A resolver that serves the sibling schemas CycloneDX and CSAF refer to (spdx, jsf,
    cvss) from the local directory: the test never goes to the network."""
    store = {}
    for name in os.listdir(SCHEMAS):
        if name.endswith(".json"):
            doc = load(name)
            for key in (doc.get("$id"), doc.get("id"), name):
                if key:
                    store[key] = doc
                    store["http://cyclonedx.org/schema/" + name] = doc
    return jsonschema.RefResolver.from_schema(schema, store=store)


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-vexschema-")
        subprocess.run([DRIVER, cls.tmp], check=True)

    def doc(self, name):
        with open(os.path.join(self.tmp, name)) as f:
            return json.load(f)

    def check(self, schema_name, doc, cls):
        schema = load(schema_name)
        v = cls(schema, resolver=registry_resolver(schema), format_checker=jsonschema.FormatChecker())
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
        self.assertEqual([], ["%s: %s" % (list(e.path), e.message) for e in errors[:10]])

    def test_openvex(self):
        self.check("openvex_json_schema.json", self.doc("openvex.json"), Draft202012Validator)

    def test_cyclonedx(self):
        self.check("bom-1.6.schema.json", self.doc("cyclonedx.json"), Draft7Validator)

    def test_csaf(self):
        self.check("csaf_2.0_json_schema.json", self.doc("csaf.json"), Draft202012Validator)


if __name__ == "__main__":
    if jsonschema is None:
        print("skipped: python3-jsonschema is not installed (scripts/install-deps.sh)")
        sys.exit(77)
    if not os.path.isdir(SCHEMAS):
        print("skipped: the shared schemas directory is absent (%s)" % SCHEMAS)
        sys.exit(77)
    if not DRIVER:
        print("VX_VEX_DRIVER is not set")
        sys.exit(2)
    unittest.main(verbosity=2)

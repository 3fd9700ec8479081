#!/usr/bin/python3
"""check_docs.py -- keep the .def tables and their documentation in sync (STYLE.md R24).

  check_docs.py routes SRC_DIR   every VX_ROUTE(METHOD, "PATH", ...) in src/api/routes.def
                                 has a line "METHOD PATH" in docs/api.md
  check_docs.py options SRC_DIR every option of src/cmd/serve.c and src/cmd/worker.c (their
                                 {"name", VX_OPT_...} tables) appears as `--name` in
                                 docs/configuration.md
  check_docs.py codes SRC_DIR    every VX_CODE(NAME, VALUE, HTTP, "api") in src/common/codes.def
                                 has a row | VALUE | VX_NAME | HTTP | api | ... | in
                                 docs/errors.md, and every row there names a real code

Exit 0 on success, 1 on a mismatch (each one printed), 77 (skip) while the table does not
exist yet. Standard library only.
"""
import os
import re
import sys

ROUTE_RE = re.compile(r'^\s*VX_ROUTE\(\s*([A-Z]+)\s*,\s*"([^"]+)"')
OPT_RE = re.compile(r'\{\s*"([a-z0-9-]+)"\s*,\s*VX_OPT_(?:STR|INT|BOOL)')
CODE_RE = re.compile(r'^\s*VX_CODE\(\s*([A-Z0-9_]+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*"([^"]*)"')


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_routes(src):
    table = os.path.join(src, "src", "api", "routes.def")
    doc = os.path.join(src, "docs", "api.md")
    if not os.path.exists(table):
        print("skip: src/api/routes.def does not exist yet")
        return 77
    routes = [m.groups() for m in map(ROUTE_RE.match, read(table).splitlines()) if m]
    if not routes:
        print("src/api/routes.def: no VX_ROUTE lines found")
        return 1
    text = read(doc)
    bad = 0
    for method, path in routes:
        pat = re.compile(r"(?<![A-Z])" + method + r"\s+" + re.escape(path) + r"(?![A-Za-z0-9_/{}.-])")
        if not pat.search(text):
            print(f"docs/api.md: route '{method} {path}' is not documented")
            bad += 1
    print(f"{len(routes)} routes checked, {bad} undocumented")
    return 1 if bad else 0


def table_rows(text):
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip().strip("`").strip() for c in line.strip("|").split("|")]
        yield cells


def check_codes(src):
    table = os.path.join(src, "src", "common", "codes.def")
    doc = os.path.join(src, "docs", "errors.md")
    if not os.path.exists(table):
        print("skip: src/common/codes.def does not exist")
        return 77
    codes = {}
    for m in map(CODE_RE.match, read(table).splitlines()):
        if m:
            name, value, http, api = m.groups()
            codes["VX_" + name] = (value, http, api)
    if not codes:
        print("src/common/codes.def: no VX_CODE lines found")
        return 1
    documented = {}
    for cells in table_rows(read(doc)):
        if len(cells) >= 4 and cells[1].startswith("VX_"):
            documented[cells[1]] = (cells[0], cells[2], cells[3])
    bad = 0
    for name, want in codes.items():
        got = documented.get(name)
        if got is None:
            print(f"docs/errors.md: {name} ({want[0]}) has no row")
            bad += 1
        elif got != want:
            print(f"docs/errors.md: {name}: row says value/http/api {got}, codes.def says {want}")
            bad += 1
    for name in documented:
        if name not in codes:
            print(f"docs/errors.md: {name} is not in src/common/codes.def")
            bad += 1
    print(f"{len(codes)} codes checked, {bad} problems")
    return 1 if bad else 0


def check_options(src):
    doc = read(os.path.join(src, "docs", "configuration.md"))
    bad = total = 0
    for cmd in ("serve", "worker"):
        path = os.path.join(src, "src", "cmd", cmd + ".c")
        if not os.path.exists(path):
            continue
        for name in OPT_RE.findall(read(path)):
            total += 1
            if not re.search(r"`--" + re.escape(name) + r"[ `=]", doc):
                print(f"docs/configuration.md: 'vexxy {cmd} --{name}' is not documented")
                bad += 1
    if total == 0:
        print("skip: no option tables in src/cmd/serve.c or src/cmd/worker.c")
        return 77
    print(f"{total} options checked, {bad} undocumented")
    return 1 if bad else 0


CHECKS = {"routes": check_routes, "codes": check_codes, "options": check_options}


def main(argv):
    if len(argv) != 3 or argv[1] not in CHECKS:
        print(__doc__)
        return 2
    return CHECKS[argv[1]](argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

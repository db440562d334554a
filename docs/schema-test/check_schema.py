"""Holds docs/policy.schema.json and docs/keys-file.schema.json to the parser
(`admit check`), in both directions.

1. Every policy the project ships (examples/policies, tests/fixtures/policies, every
   policy a shared vector names) validates against the schema with Python's
   `jsonschema` (draft 7), in its TOML file's tree and in its JSON form; taplo's run is
   in run.sh (it reads the same files).
2. A family of broken policies, generated from the schema's own properties: for each
   object the schema describes (found in the shipped policies, walking the schema beside
   the policy), an unknown field; for each property, a value of a type the property
   refuses; for each required property, the policy without it; for each enum, a value
   outside it. Every one must be refused by the schema and by `admit check`, whose error
   must name the field. Every property of the schema must be exercised (coverage).
3. The same for keys files (docs/policy.md 5.4.1) against their own schema, each checked
   as FetchML's policy's keys file (`admit check --keys fetchml-keys=FILE`).

Usage: python check_schema.py ADMIT_BINARY OUT_DIR  (run.sh passes both)
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
# The schema being checked: set by use_schema() for each kind of document in turn.
SCHEMA = {}
VALIDATOR = None
UNKNOWN = "zz_unknown_field"
# Candidates for "a value of the wrong type", tried in order; the first the property's
# schema refuses is used. No null: TOML has none.
WRONG = [{"zz_not_a_field": 1}, [[1]], 1.5, "zz-not-a-valid-value", 12345, True, []]


def use_schema(path):
    global SCHEMA, VALIDATOR
    SCHEMA = json.loads((ROOT / path).read_text())
    VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def shipped_keys_files():
    """(path, env) for the keys files the project ships, and the names of the keys files
    no vector loads as-is (none)."""
    paths = [ROOT / "examples/policies/fetchml-keys.toml", ROOT / "tests/fixtures/fetchml-keys-rotated.toml",
             ROOT / "tests/fixtures/every-field-keys.toml"]
    return paths, {}


def shipped_policies():
    """(path, env) for every policy the project ships, with an environment that loads it."""
    paths = {p for p in (ROOT / "examples/policies").glob("*.toml")
             if not p.name.endswith(".test.toml") and not p.name.endswith("-keys.toml")}
    paths |= set((ROOT / "tests/fixtures/policies").glob("*.toml"))
    paths |= set((ROOT / "tests/fixtures/policies").glob("*.json"))
    envs = {}
    for vector in sorted((ROOT / "tests/vectors").glob("*.json")):
        data = json.loads(vector.read_text())
        path = (ROOT / data["policy"]).resolve()
        paths.add(path)
        envs.setdefault(path, []).append(data.get("env", {}))
    return sorted(paths), envs


def read_policy(path):
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)


def toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value):
    """A tree as TOML inline values (a JSON string is a TOML basic string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def to_toml(tree, schema_line):
    lines = [f"#:schema {schema_line}"] if schema_line else []
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in tree.items()]
    return "\n".join(lines) + "\n"


def resolve(pointer, node):
    """Follows `$ref` and one-item `allOf` to the schema node that holds the keywords."""
    while True:
        if "$ref" in node:
            pointer = node["$ref"]
            node = SCHEMA
            for part in pointer.lstrip("#/").split("/"):
                node = node[part]
        elif "allOf" in node and len(node["allOf"]) == 1:
            pointer, node = pointer + "/allOf/0", node["allOf"][0]
        else:
            return pointer, node


def valid(node, value):
    return jsonschema.Draft7Validator({**node, "definitions": SCHEMA.get("definitions", {})}).is_valid(value)


def object_schema(pointer, node, value):
    """The schema node (and its pointer) that describes an object value: the branch of
    an anyOf/oneOf that accepts it, or the node itself."""
    pointer, node = resolve(pointer, node)
    for keyword in ("oneOf", "anyOf"):
        for i, branch in enumerate(node.get(keyword, [])):
            if valid(branch, value):
                return object_schema(f"{pointer}/{keyword}/{i}", branch, value)
    return (pointer, node) if "properties" in node else (None, None)


def children(pointer, node, value):
    """(key, sub-pointer, sub-schema, sub-value) for the members of an object or array."""
    pointer, node = resolve(pointer, node)
    if isinstance(value, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                yield k, f"{pointer}/properties/{k}", props[k], v
            elif isinstance(extra, dict):
                yield k, f"{pointer}/additionalProperties", extra, v
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, v in enumerate(value):
            yield i, f"{pointer}/items", node["items"], v


def walk(pointer, node, value, place, out):
    """Every (object place, object schema pointer, object schema) in a policy."""
    if isinstance(value, dict):
        obj_pointer, obj_node = object_schema(pointer, node, value)
        if obj_node is not None:
            out.append((place, obj_pointer, obj_node))
            for k, sub_pointer, sub, v in children(obj_pointer, obj_node, value):
                walk(sub_pointer, sub, v, place + [k], out)
            return
    # An array, or an object met through a union: find the branch that accepts it.
    pointer, node = resolve(pointer, node)
    branches = [(f"{pointer}/{kw}/{i}", b) for kw in ("anyOf", "oneOf") for i, b in enumerate(node.get(kw, []))]
    for branch_pointer, branch in branches or [(pointer, node)]:
        if valid(branch, value):
            for k, sub_pointer, sub, v in children(*resolve(branch_pointer, branch), value):
                walk(sub_pointer, sub, v, place + [k], out)
            return


def is_enum(node):
    """A string enum: `enum`, or a `oneOf` of documented constants (schemars' form)."""
    branches = node.get("oneOf") or node.get("anyOf") or []
    return "enum" in node or (bool(branches) and all("const" in b for b in branches))


def admit_place(place):
    """A place as `admit check` names it: `authenticators[1].keys[0].sha256`."""
    text = ""
    for step in place:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def get(tree, place):
    for step in place:
        tree = tree[step]
    return tree


def all_properties():
    """Every (object schema pointer, property) of the schema: what coverage counts."""
    found = set()

    def visit(node, pointer):
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict) and node.get("additionalProperties") is False:
                for name in node["properties"]:
                    found.add((pointer, name))
            for k, v in node.items():
                visit(v, f"{pointer}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f"{pointer}/{i}")

    visit(SCHEMA, "#")
    return found


def main():
    admit, out_dir = sys.argv[1], Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    policies, envs = shipped_policies()
    failures += check_kind("policies", "docs/policy.schema.json", policies, envs, out_dir / "policy",
                           lambda path: [admit, "check", "--offline", str(path)], WRONG, {})
    keys, keys_envs = shipped_keys_files()
    # In a keys file a reference is itself the wrong value: every value is literal. A key
    # field of the policy's that a keys file leaves out (`secret`) must be refused there.
    policy_key = json.loads((ROOT / "docs/policy.schema.json").read_text())["definitions"]["CredentialSpec"]
    keys_key = json.loads((ROOT / "docs/keys-file.schema.json").read_text())["definitions"]["CredentialSpec"]
    left_out = {name: {"env": "ZZ_UNSET_VARIABLE"} for name in policy_key["properties"]
                if name not in keys_key["properties"]}
    assert left_out, "the keys file's schema leaves out the policy key's `secret`"
    failures += check_kind("keys files", "docs/keys-file.schema.json", keys, keys_envs, out_dir / "keys-file",
                           lambda path: [admit, "check", "--offline", "--keys", f"fetchml-keys={path}",
                                         str(ROOT / "examples/policies/fetchml.toml")],
                           [{"env": "ZZ_UNSET_VARIABLE"}] + WRONG, {"#/definitions/CredentialSpec": left_out})
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


def check_kind(kinds, schema_path, documents, envs, out_dir, command, wrong_values, left_out):
    """Checks one kind of document against its schema; returns the failures."""
    use_schema(schema_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    policies = documents
    def run_check(path, env):
        return run(command(path), env)
    # 1. Every shipped policy validates, in its own form and as JSON.
    bases, refused_by_both = [], []
    for path in policies:
        rel = path.relative_to(ROOT)
        tree = read_policy(path)
        errors = sorted(VALIDATOR.iter_errors(tree), key=str)
        if errors:
            # A policy a vector expects to fail to load (a secret with a `default`) may be
            # refused by the schema too; then `admit check` must refuse it in every
            # environment its vectors give.
            loads = [env for env in envs.get(path, [{}]) if run_check(path, env)[0] != 2]
            if loads:
                failures.append(f"{rel}: refused by the schema ({errors[0].message}) but loaded by `admit check`")
            else:
                refused_by_both.append(rel)
            continue
        for env in envs.get(path, [{}]) + [{}]:
            if run_check(path, env)[0] == 0:
                bases.append((path, tree, env))
                break
    print(f"schema: {len(policies)} shipped {kinds}: {len(policies) - len(refused_by_both)} valid under jsonschema, "
          f"{len(refused_by_both)} refused by it and by `admit check` ({', '.join(map(str, refused_by_both))}); "
          f"{len(bases)} load with `admit check` (the mutation bases)")
    if not bases:
        failures.append(f"none of the shipped {kinds} loads: nothing to break")

    # 2. The broken family.
    mutants = []  # (description, tree, base path, env, expected word in admit's error)
    covered, unknown_covered = set(), set()
    for path, tree, env in bases:
        objects = []
        walk("#", SCHEMA, tree, [], objects)
        for place, pointer, node in objects:
            where = ".".join(map(str, place)) or "(top)"
            if pointer not in unknown_covered:
                unknown_covered.add(pointer)
                m = copy.deepcopy(tree)
                get(m, place)[UNKNOWN] = 1
                mutants.append((f"{where}: unknown field `{UNKNOWN}`", m, path, env, f"`{UNKNOWN}`"))
                for name, value in left_out.get(pointer, {}).items():
                    m = copy.deepcopy(tree)
                    get(m, place)[name] = value
                    mutants.append((f"{where}: `{name}`, which this kind of file leaves out", m, path, env,
                                    admit_place(place + [name])))
            value = get(tree, place)
            for name, sub in node["properties"].items():
                if (pointer, name) in covered:
                    continue
                if name in value:
                    wrong = next((w for w in wrong_values if not valid(sub, w)), None)
                    if wrong is not None:
                        m = copy.deepcopy(tree)
                        get(m, place)[name] = wrong
                        mutants.append((f"{where}.{name}: wrong value {json.dumps(wrong)}", m, path, env,
                                        (admit_place(place + [name]), f"{admit_place(place)}: `{name}`")))
                    if is_enum(resolve("", sub)[1]) and valid(sub, value[name]):
                        m = copy.deepcopy(tree)
                        get(m, place)[name] = "zz-not-in-the-enum"
                        mutants.append((f"{where}.{name}: a value outside its enum", m, path, env,
                                        (admit_place(place + [name]), f"{admit_place(place)}: `{name}`")))
                    if name in node.get("required", []) and not (name == "type" and "const" in sub):
                        m = copy.deepcopy(tree)
                        del get(m, place)[name]
                        mutants.append((f"{where}: without required `{name}`", m, path, env, admit_place(place) or f"`{name}`"))
                    elif name == "type":
                        m = copy.deepcopy(tree)
                        del get(m, place)[name]
                        mutants.append((f"{where}: without `type`", m, path, env, "`type`"))
                    covered.add((pointer, name))

    uncovered = sorted(all_properties() - covered)
    if uncovered:
        failures.append(f"properties none of the shipped {kinds} exercises (add them to tests/fixtures/policies/every-field.toml "
                        "or tests/fixtures/every-field-keys.toml): "
                        + ", ".join(f"{p}.{n}" for p, n in uncovered))

    # Each mutant: refused by the schema, written as TOML (for taplo in run.sh) and
    # refused by `admit check` with an error that names the field.
    listing = []
    for i, (what, tree, base, env, word) in enumerate(mutants):
        if VALIDATOR.is_valid(tree):
            failures.append(f"{base.relative_to(ROOT)}: {what}: accepted by the schema")
        folder = mutant_folder(base, out_dir)
        name = f"mutant-{i:04d}.toml"
        (folder / name).write_text(to_toml(tree, None))
        (out_dir / "mutants").mkdir(exist_ok=True)
        (out_dir / "mutants" / name).write_text(to_toml(tree, None))
        code, err = run_check(folder / name, env)
        first = next((l for l in err.splitlines() if "error" in l), err.strip()[:200])
        listing.append({"file": str((folder / name).relative_to(ROOT)), "base": str(base.relative_to(ROOT)),
                        "mutation": what, "admit_check_exit": code, "admit_check_error": first})
        if code != 2:
            failures.append(f"{base.relative_to(ROOT)}: {what}: `admit check` exit {code}, not 2")
        elif not any(w in err for w in ([word] if isinstance(word, str) else word)):
            failures.append(f"{base.relative_to(ROOT)}: {what}: `admit check` error does not name {word!r}: {first}")
    (out_dir / "mutants.json").write_text(json.dumps(listing, indent=1) + "\n")
    print(f"schema: {len(mutants)} broken {kinds}, each refused by jsonschema and by `admit check`; "
          f"{len(covered)}/{len(all_properties())} schema properties exercised (list: {out_dir / 'mutants.json'})")

    return failures




def mutant_folder(base, out_dir):
    """A folder beside the base policy's (same depth, so `../x` references resolve), with
    links to the base folder's entries (so `x` and `sub/x` resolve too)."""
    source = base.parent
    folder = source.parent / f".schema-mutants-{source.name}"
    if not folder.exists():
        folder.mkdir()
        for entry in source.iterdir():
            os.symlink(entry, folder / entry.name)
    return folder


def run(argv, env):
    """Runs `admit check ...` in exactly `env` (plus PATH and HOME); (exit code, stderr)."""
    full = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    full.update(env)
    r = subprocess.run(argv, capture_output=True, text=True, env=full, cwd=ROOT)
    return r.returncode, r.stderr


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for folder in ROOT.glob("**/.schema-mutants-*"):
            shutil.rmtree(folder, ignore_errors=True)

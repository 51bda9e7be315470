#!/usr/bin/env python3
"""Mutation fuzzer for the GraphCompiler command line (see README.md beside this file).

Mutates seed files of every input format (.ir, .onnx, .pb/.pbtxt, .npy inputs), runs the built CLI on
each mutant with a timeout, and keeps every input that makes it exit with anything but 0 (success) or
2 (bad input, diagnosed): exit 3 (internal error), a signal (134 abort, 139 segfault), or a timeout.
Bounded by --minutes and --max-inputs; deterministic for a given --seed (the mutant sequence is; timing
is not).
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import struct
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_CLI = os.path.join(REPO, "tools", "gcc-cli", "bin", "Release", "net10.0", "gcc-cli.dll")
FINE = {0, 2}
EXPECTED_MARKER = b"// ----- expected"

# ---- seeds ---------------------------------------------------------------------------------------------


def find_seeds(shared, max_conformance):
    """(path, format) pairs: the examples, a few IR golden inputs, some shared ONNX and TF models."""
    seeds = []
    ex = os.path.join(REPO, "examples")
    for name in sorted(os.listdir(ex)):
        fmt = os.path.splitext(name)[1]
        if fmt in (".ir", ".onnx", ".pbtxt", ".pb"):
            seeds.append((os.path.join(ex, name), fmt))
    for rel in ["roundtrip/control_flow.ir", "roundtrip/attributes_and_names.ir", "constant-fold/regions.ir",
                "simplify/misc_and_regions.ir", "schedule/nested_regions.ir", "fuse/loop_body.ir"]:
        p = os.path.join(REPO, "tests", "ir", rel)
        if os.path.exists(p):
            seeds.append((p, ".ir"))
    node = os.path.join(shared, "conformance", "onnx", "node")
    if os.path.isdir(node):
        names = sorted(os.listdir(node))
        # An even spread over the sorted names: the same models for every run.
        step = max(1, len(names) // max(1, max_conformance))
        for name in names[::step][:max_conformance]:
            p = os.path.join(node, name, "model.onnx")
            if os.path.exists(p):
                seeds.append((p, ".onnx"))
    cases = os.path.join(shared, "graphs", "tf", "cases")
    if os.path.isdir(cases):
        for name in sorted(os.listdir(cases)):
            for f in ("frozen.pb", "frozen_saved_model.pb"):
                p = os.path.join(cases, name, f)
                if os.path.exists(p):
                    seeds.append((p, ".pb"))
    return seeds


def tf_case_feeds(model):
    """--feed NAME:dtype[shape] for a shared TF case (its case.json and input .npy files): its placeholders often have unknown shapes."""
    case = os.path.join(os.path.dirname(model), "case.json")
    if not os.path.exists(case):
        return []
    args = []
    with open(case, encoding="utf8") as f:
        spec = json.load(f)
    for feed in spec.get("feeds", []):
        with open(os.path.join(os.path.dirname(model), feed["file"]), "rb") as f:
            head = f.read(10)
            header = f.read(head[8] | (head[9] << 8)).decode("latin1")
        descr = re.search(r"'descr': '[<>|=]?(\w+)'", header).group(1)
        shape = re.search(r"'shape': \(([^)]*)\)", header).group(1)
        dtype = next((k for k, (d, _) in DTYPES.items() if d[1:] == descr), None)
        if dtype is None:
            return []
        dims = ",".join(x.strip() for x in shape.split(",") if x.strip())
        args += ["--feed", f"{feed['name'].split(':')[0]}:{dtype}[{dims}]"]
    return args


# Element types: .npy descr and struct format (the fuzzer needs no numpy).
DTYPES = {"f16": ("<f2", "e"), "f32": ("<f4", "f"), "f64": ("<f8", "d"), "i8": ("|i1", "b"), "i16": ("<i2", "h"),
          "i32": ("<i4", "i"), "i64": ("<i8", "q"), "u8": ("|u1", "B"), "u16": ("<u2", "H"), "u32": ("<u4", "I"),
          "u64": ("<u8", "Q"), "bool": ("|b1", "?")}


def npy_bytes(dtype, shape, values=None):
    """A version 1.0 .npy file, as numpy writes it: zeros unless values are given (row-major)."""
    descr, code = DTYPES[dtype]
    count = 1
    for d in shape:
        count *= d
    values = values if values is not None else [0] * count
    dims = "()" if not shape else "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + struct.pack("<%d%s" % (count, code), *values)


def npy_seeds():
    """The .npy files that are mutated and fed to `run`."""
    return [
        npy_bytes("f32", (2, 4), [float(i) for i in range(8)]),
        npy_bytes("i64", (3,), [1, -2, 3]),
        npy_bytes("bool", (), [True]),
        npy_bytes("f16", (2, 0, 3)),
        npy_bytes("f64", (2, 2), [1.5, -0.0, float("inf"), float("nan")]),
    ]

# ---- mutations -----------------------------------------------------------------------------------------


NUMBERS = [b"0", b"-1", b"1", b"2147483648", b"4294967297", b"9223372036854775807", b"-9223372036854775808",
           b"99999999999999999999999", b"1e309", b"nan", b"-0.0", b"65536"]
INSERTS = [b"{", b"<", b"[", b"(", b"}", b">", b"]", b")", b"%", b"@", b",", b'"', b"\n", b"-", b"x"]
NUMBER_RE = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def mutate_bytes(rng, data):
    kind = rng.randrange(5)
    m = bytearray(data)
    if not m:
        return "empty", bytes(m)
    if kind == 0:
        at = rng.randrange(len(m))
        return f"truncate at {at}", bytes(m[:at])
    if kind == 1:
        what = []
        for _ in range(1 + rng.randrange(4)):
            at = rng.randrange(len(m))
            m[at] = rng.randrange(256)
            what.append(f"{at}={m[at]}")
        return "set bytes " + ",".join(what), bytes(m)
    if kind == 2:
        at, bit = rng.randrange(len(m)), rng.randrange(8)
        m[at] ^= 1 << bit
        return f"flip bit {bit} of byte {at}", bytes(m)
    if kind == 3:
        at = rng.randrange(len(m))
        m[at] = 0xFF
        return f"byte {at} = 0xff", bytes(m)
    at = rng.randrange(len(m))
    n = 1 + rng.randrange(min(64, len(m) - at))
    return f"repeat bytes {at}..{at + n}", bytes(m[:at + n] + m[at:])


def mutate_text(rng, data):
    kind = rng.randrange(7)
    lines = data.split(b"\n")
    if kind == 0:
        return mutate_bytes(rng, data)
    if kind == 1:
        at = rng.randrange(len(lines))
        lines.insert(at, lines[at])
        return f"duplicate line {at + 1}", b"\n".join(lines)
    if kind == 2:
        at = rng.randrange(len(lines))
        del lines[at]
        return f"delete line {at + 1}", b"\n".join(lines)
    if kind == 3:
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
        return f"swap lines {a + 1} and {b + 1}", b"\n".join(lines)
    if kind in (4, 5):
        nums = list(NUMBER_RE.finditer(data))
        if nums:
            m = rng.choice(nums)
            r = rng.choice(NUMBERS)
            return f"number {m.group().decode()!r} at {m.start()} -> {r.decode()}", data[:m.start()] + r + data[m.end():]
    at = rng.randrange(len(data) + 1)
    s = rng.choice(INSERTS)
    return f"insert {s.decode()!r} at {at}", data[:at] + s + data[at:]


def mutate_npy(rng, data):
    hl = data[8] | (data[9] << 8)
    header = data[10:10 + hl].decode("latin1")
    body = data[10 + hl:]

    def with_header(h):
        hb = h.encode("latin1")
        return data[:8] + bytes([len(hb) & 0xFF, (len(hb) >> 8) & 0xFF]) + hb + body

    kind = rng.randrange(6)
    if kind == 0:
        return mutate_bytes(rng, data)
    if kind == 1:
        s = rng.choice(["()", "(0,)", "(-1,)", "(2, -3)", "(99999999999, 99999999999)", "(1, 1, 1, 1, 1, 1, 1, 1, 1)",
                        "(9223372036854775807,)", "(2,,3)", "(4294967296, 0)", "(99999999999999999999,)"])
        return f"shape -> {s}", with_header(re.sub(r"\([^)]*\)", lambda _: s, header, count=1))
    if kind == 2:
        s = rng.choice(["'<f4'", "'>f4'", "'|V2'", "'<U4'", "'O'", "'<c8'", "''", "'<f16'", "'|b1'", "'<i8'"])
        return f"descr -> {s}", with_header(re.sub(r"'[<>|=][a-zA-Z]\d*'", lambda _: s, header, count=1))
    if kind == 3:
        s = rng.choice(["True", "Tru", "1", "None"])
        return f"fortran_order -> {s}", with_header(header.replace("False", s))
    if kind == 4:
        n = rng.choice([0, 0xFFFF, rng.randrange(0x10000)])
        return f"header length -> {n}", data[:8] + bytes([n & 0xFF, n >> 8]) + data[10:]
    v = rng.choice([0, 2, 3, 4, 255])
    return f"version byte -> {v}", data[:6] + bytes([v]) + data[7:]


def mutate(rng, data, fmt):
    if fmt == ".npy":
        return mutate_npy(rng, data)
    if fmt in (".ir", ".pbtxt"):
        return mutate_text(rng, data)
    return mutate_bytes(rng, data)

# ---- running -------------------------------------------------------------------------------------------


ARG_RE = re.compile(r"%\w+: tensor<([^>]*)>(?: \{([^}]*)\})?")
def entry_argument_types(ir_text):
    """The arguments of @main (else the first function) in printed IR, as (name, shape, dtype), or None."""
    funcs = re.findall(r"^func @(\S+)\((.*)\) -> ", ir_text, re.M)
    if not funcs:
        return None
    sig = next((s for n, s in funcs if n == "main"), funcs[0][1])
    types = []
    for i, (t, attrs) in enumerate(ARG_RE.findall(sig)):
        named = re.search(r'name = "((?:[^"\\]|\\.)*)"', attrs)
        name = named.group(1) if named and "\\" not in named.group(1) else f"arg{i}"
        parts = t.split("x")
        dt = parts[-1]
        try:
            shape = tuple(int(d) for d in parts[:-1])
        except ValueError:
            return None
        count = 1
        for d in shape:
            count *= d
        if dt not in DTYPES or count > 1 << 20:
            return None
        types.append((name, shape, dt))
    return types


class Runner:
    def __init__(self, cli, timeout, work):
        self.cli, self.timeout, self.work = cli, timeout, work

    def __call__(self, args):
        """(exit code or 'timeout', stdout, stderr) of one CLI call."""
        try:
            p = subprocess.run(["dotnet", self.cli] + args, capture_output=True, timeout=self.timeout, cwd=self.work)
        except subprocess.TimeoutExpired as e:
            return "timeout", (e.stdout or b"").decode("utf8", "replace"), (e.stderr or b"").decode("utf8", "replace")
        code = p.returncode if p.returncode >= 0 else 128 - p.returncode
        return code, p.stdout.decode("utf8", "replace"), p.stderr.decode("utf8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10, help="stop after this long (default 10)")
    ap.add_argument("--max-inputs", type=int, default=100000, help="stop after this many mutants")
    ap.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same mutants")
    ap.add_argument("--timeout", type=float, default=20, help="seconds per CLI call before it counts as a hang")
    ap.add_argument("--out", default="fuzz-out", help="folder for the failing inputs and fuzz.log")
    ap.add_argument("--cli", default=DEFAULT_CLI, help="the built gcc-cli.dll")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"), help="shared test data (conformance models)")
    ap.add_argument("--conformance", type=int, default=12, help="how many shared ONNX conformance models to use as seeds")
    ap.add_argument("--no-run", action="store_true", help="only 'ir', never 'run' (faster)")
    a = ap.parse_args()

    if not os.path.exists(a.cli):
        sys.exit(f"{a.cli} not found: build first (dotnet build GraphCompiler.sln -c Release)")
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "fuzz.log"), "a", encoding="utf8")
    work = tempfile.mkdtemp(prefix="gc-fuzz-")
    run = Runner(os.path.abspath(a.cli), a.timeout, work)
    rng = random.Random(a.seed)
    # Only seeds that load unmutated are worth mutating; TF cases get their feeds' shapes.
    seeds, extra = [], {}
    os.makedirs(os.path.join(work, "seeds"))
    for p, fmt in find_seeds(os.path.abspath(a.shared), a.conformance):
        with open(p, "rb") as f:
            text = f.read()
        if fmt == ".ir" and EXPECTED_MARKER in text:
            # A golden test file: its input is what precedes the expected output.
            p = os.path.join(work, "seeds", os.path.basename(os.path.dirname(p)) + "_" + os.path.basename(p))
            with open(p, "wb") as f:
                f.write(text[:text.index(EXPECTED_MARKER)])
        extra[p] = tf_case_feeds(p) if fmt == ".pb" else []
        code, _, err = run(["ir", p] + extra[p])
        if code == 0:
            seeds.append((p, fmt))
        else:
            print(f"seed {p} skipped: it does not load unmutated (exit {code}: {err.strip()[:160]})", flush=True)
    if not seeds:
        sys.exit("no seed loads: is the CLI built?")
    seed_bytes = {p: open(p, "rb").read() for p, _ in seeds}
    npys = npy_seeds()
    # The softmax example takes x: f32[2,4]; its input is where the .npy mutants go.
    npy_model = os.path.join(REPO, "examples", "softmax_regression.ir")

    def note(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    note(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} seed={a.seed} minutes={a.minutes} seeds={len(seeds)} cli={a.cli}")
    deadline = time.monotonic() + a.minutes * 60
    stats = {}
    found = 0
    seen = set()
    n = 0
    try:
        while n < a.max_inputs and time.monotonic() < deadline:
            n += 1
            # One in six mutants is an .npy input; the rest are models.
            if rng.randrange(6) == 0:
                fmt, origin = ".npy", rng.randrange(len(npys))
                mutation, data = mutate(rng, npys[origin], fmt)
                origin_name = f"npy-seed-{origin}"
            else:
                origin_name, fmt = seeds[rng.randrange(len(seeds))]
                mutation, data = mutate(rng, seed_bytes[origin_name], fmt)
            mutant = os.path.join(work, f"mutant{fmt}")
            with open(mutant, "wb") as f:
                f.write(data)

            calls = []
            feeds = extra.get(origin_name, [])
            if fmt == ".npy":
                calls.append(["run", npy_model, "--backend", "interpreter", "--input", f"x={mutant}", "-o", os.path.join(work, "o")])
            else:
                calls.append(["ir", mutant] + feeds)
            for args in calls:
                code, out, err = run(args)
                stats[code] = stats.get(code, 0) + 1
                if code == 0 and args[0] == "ir" and not a.no_run:
                    types = entry_argument_types(out)
                    if types is not None:
                        run_args = ["run", mutant, "--backend", "interpreter", "-o", os.path.join(work, "o")] + feeds
                        for i, (name, shape, dt) in enumerate(types):
                            p = os.path.join(work, f"arg{i}.npy")
                            with open(p, "wb") as f:
                                f.write(npy_bytes(dt, shape))
                            run_args += ["--input", f"{name}={p}"]
                        calls.append(run_args)
                if code in FINE:
                    continue
                digest = hashlib.sha1(data).hexdigest()[:12]
                tail = " | ".join(err.strip().splitlines()[-3:])[-400:]
                key = (args[0], code, tail.split(" at ")[0][:120])
                kept = os.path.join(a.out, f"{digest}{fmt}")
                if not os.path.exists(kept):
                    shutil.copyfile(mutant, kept)
                found += 1


                def repro(x):
                    # The command as it can be rerun: the kept mutant, the generated inputs copied beside it.
                    if mutant in x:
                        return x.replace(mutant, kept)
                    arg = re.search(re.escape(work) + r"/(arg\d+\.npy)", x)
                    if arg:
                        dst = os.path.join(a.out, f"{digest}.{arg.group(1)}")
                        shutil.copyfile(arg.group(0), dst)
                        return x.replace(arg.group(0), dst)
                    return "OUT_DIR" if x == os.path.join(work, "o") else x
                note(json.dumps({"n": n, "seed": a.seed, "origin": os.path.relpath(origin_name, REPO) if os.path.isabs(origin_name) else origin_name,
                                 "mutation": mutation, "command": "gcc-cli " + " ".join(repro(x) for x in args), "exit": code, "input": kept,
                                 "new": key not in seen, "stderr": tail}))
                seen.add(key)
            if n % 50 == 0:
                print(f"... {n} mutants, {found} failures, exit codes {stats}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    note(f"# done: {n} mutants, {found} failures ({len(seen)} distinct), exit codes {stats}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

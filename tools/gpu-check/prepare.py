"""Builds the GPU-check bundle (runs on the development machine; /usr/bin/python3 + NumPy).

Examples (examples/*.ir|.onnx|.pbtxt): compile a library with gcc-cli (--target TARGET), make inputs (.npy),
compute the expected outputs with the reference interpreter; the same for every kernel kind's PTX snapshot program
(tests/ptx/*.ir: tensor cores with static and dynamic shared memory, split-K and grouped convolutions, split and column
reductions, argmax, sort (rank and bitonic), f64, scatter, compressed transfers; bf16 travels as uint16 bit patterns,
and as gcc-cli's |V2 .npy to the interpreter). CNNs (the ten networks of the benchmarks'
`generate-cnns --weights-as-inputs`, weights as arguments): a batch-1 f32 library each, checked against the
interpreter on weights both machines draw from the same formula (gclib.draw_uniform), plus batch-1 and
batch-32 TF32 libraries and the graphs as data for bench.py's baselines. The ONNX suite (node/ and simple/): every
case as `gcc-cli check --export` compiles it, with the suite's own expected outputs and tolerances, and the
floor it must meet (tests/conformance/onnx.<backend>.txt). Benchmarks: libraries only (bench.py makes inputs
on the GPU). Everything is recorded in bundle/manifest.json; bundle.tar.xz beside the bundle is what travels.
"""
import argparse
import concurrent.futures as cf
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gclib import NP_DTYPES, draw_inputs, f32_to_bf16  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Relative-norm tolerance per element type (integers and bools: exact).
RTOL = {"f32": 1e-4, "f64": 1e-4, "f16": 1e-2, "bf16": 2e-2}

def to_gcc_bf16(bits, tmp):
    """bf16 bit patterns (uint16, the harness's form) as gcc-cli reads bf16 .npy files: the 2-byte void type |V2."""
    fd, path = tempfile.mkstemp(suffix=".npy", dir=tmp)
    os.close(fd)
    np.save(path, bits.view(np.dtype("V2")))
    return path


def from_gcc_npy(a, spec):
    """A result gcc-cli wrote, in the harness's form: its bf16 (|V2) as uint16 bit patterns."""
    return a.view(np.uint16) if spec["dtype"] == "bf16" and a.dtype.kind == "V" else a


HEADER_RE = re.compile(r'^/\* (Argument|Result) (\d+): "((?:[^"\\]|\\.)*)" (\w+)\[([0-9,]*)\]', re.M)
RUN_OUT_RE = re.compile(r"^(\S+\.npy): ", re.M)


def log(msg):
    print(msg, flush=True)


class Prep:
    def __init__(self, args):
        self.cli = shlex.split(args.cli)
        self.target = args.target
        self.place = args.place
        self.bundle = os.path.abspath(args.bundle)
        self.tmp = tempfile.mkdtemp(prefix="gpucheck-")
        self.seed = args.seed
        self.reference_cache = args.reference_cache
        self.interpreter = interpreter_identity(self.cli)

    def gcc(self, *argv, timeout=600):
        try:
            p = subprocess.run(self.cli + list(argv), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "", f"gcc-cli {argv[0]} took over {timeout} s"
        return p.returncode, p.stdout, p.stderr

    def compile(self, model, name, extra=(), subdir="libs"):
        """Compiles model into bundle/SUBDIR/libNAME.so; -> (lib path relative to the bundle, args, results) or error str."""
        out = os.path.join(self.tmp, name)
        argv = ["compile", model, "-o", out, "--name", name, "--target", self.target]
        if self.place:
            argv += ["--place", self.place]
        if self.target != "cuda":  # a GPU architecture goes with the cuda target only (a host dry run drops it)
            extra = [a for i, a in enumerate(extra) if a != "--gpu-arch" and (i == 0 or extra[i - 1] != "--gpu-arch")]
        rc, so, se = self.gcc(*argv, *extra)
        if rc != 0:
            msg = " ".join((se or so).split())
            return f"compile failed: {msg[:300] if msg else rc}"
        with open(os.path.join(out, name + ".h")) as f:
            header = f.read()
        args, results = [], []
        for kind, idx, nm, dt, dims in HEADER_RE.findall(header):
            spec = {"name": nm, "dtype": dt, "shape": [int(d) for d in dims.split(",") if d]}
            (args if kind == "Argument" else results).append(spec)
        dest = os.path.join(self.bundle, subdir)
        os.makedirs(dest, exist_ok=True)
        shutil.copy(os.path.join(out, f"lib{name}.so"), dest)
        table = os.path.join(out, f"{name}.kernels.tsv")  # which op each kernel computes (cuda): bench.py's profiles read it
        if os.path.exists(table):
            shutil.copy(table, dest)
        shutil.rmtree(out, ignore_errors=True)
        return f"{subdir}/lib{name}.so", args, results

    def interpret(self, model, extra, inputs, timeout=600):
        """Runs the reference interpreter; inputs: [(arg name, .npy path)] -> [result .npy paths] or error str."""
        out = tempfile.mkdtemp(dir=self.tmp)
        argv = ["run", model, "--backend", "interpreter", "-o", out, *extra]
        for nm, path in inputs:
            argv += ["--input", f"{nm}={path}"]
        rc, so, se = self.gcc(*argv, timeout=timeout)
        if rc != 0:
            return f"interpreter failed: {(se or so).strip()[-300:]}"
        return [os.path.join(out, f) for f in RUN_OUT_RE.findall(so)]

    def finish_case(self, name, kind, model, lib, args, results, arrays, extra):
        """Writes inputs and the interpreter's outputs under bundle/data/NAME; -> manifest entry or error str."""
        data = os.path.join(self.bundle, "data", name)
        os.makedirs(data, exist_ok=True)
        in_files, interpreter_files = [], []
        for k, (spec, a) in enumerate(zip(args, arrays)):
            if list(a.shape) != spec["shape"] or a.dtype != np.dtype(NP_DTYPES[spec["dtype"]]):
                return f"input {spec['name']}: {a.dtype}{list(a.shape)} does not match {spec['dtype']}{spec['shape']}"
            path = os.path.join(data, f"in_{k}.npy")
            np.save(path, a)
            in_files.append(path)
            interpreter_files.append(path if spec["dtype"] != "bf16" else to_gcc_bf16(a, self.tmp))
        outs = self.interpret(model, extra, [(s["name"], p) for s, p in zip(args, interpreter_files)])
        if isinstance(outs, str):
            return outs
        if len(outs) != len(results):
            return f"interpreter gave {len(outs)} results, the library has {len(results)}"
        exp_files = []
        for k, (spec, path) in enumerate(zip(results, outs)):
            e = from_gcc_npy(np.load(path), spec)
            if list(e.shape) != spec["shape"]:
                return f"result {k}: interpreter shape {list(e.shape)} != library {spec['shape']}"
            dest = os.path.join(data, f"expected_{k}.npy")
            np.save(dest, e.astype(NP_DTYPES[spec["dtype"]]))
            exp_files.append(dest)
        rel = lambda p: os.path.relpath(p, self.bundle)
        return {
            "name": name, "kind": kind, "model": os.path.relpath(model, ROOT), "lib": lib, "prefix": name,
            "inputs": [dict(s, file=rel(p)) for s, p in zip(args, in_files)],
            "expected": [dict(s, file=rel(p), rtol=RTOL.get(s["dtype"], 0.0)) for s, p in zip(results, exp_files)],
        }

    def reference(self, model, specs, expected_specs):
        """The interpreter's results on drawn inputs (minutes for a CNN: cached under --reference-cache, keyed by the
        model's bytes, the draws' specs and the interpreter's build); -> [arrays] or error str."""
        h = hashlib.sha256(DRAW_VERSION.encode())
        h.update(self.interpreter.encode())
        with open(model, "rb") as f:
            h.update(f.read())
        h.update(json.dumps(specs, sort_keys=True).encode())
        cached = os.path.join(self.reference_cache, h.hexdigest()[:32]) if self.reference_cache else None
        files = [os.path.join(cached, f"result_{k}.npy") for k in range(len(expected_specs))] if cached else []
        if cached and all(os.path.exists(f) for f in files):
            return [np.load(f) for f in files]
        work = tempfile.mkdtemp(dir=self.tmp)
        inputs = []
        for spec, a in zip(specs, draw_inputs(specs)):
            path = os.path.join(work, f"{len(inputs)}.npy")
            np.save(path, a if spec["dtype"] != "bf16" else a.view(np.dtype("V2")))
            inputs.append((spec["name"], path))
        outs = self.interpret(model, [], inputs, timeout=REFERENCE_TIMEOUT)
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(outs, str):
            return outs
        arrays = [from_gcc_npy(np.load(p), s) for p, s in zip(outs, expected_specs)]
        if cached:
            os.makedirs(cached, exist_ok=True)
            for a, f in zip(arrays, files):
                np.save(f, a)
        return arrays

    # --- cases ---------------------------------------------------------------------------------

    def cnn_jobs(self, args, parts):
        """generate-cnns writes the weightless graphs at batch 1 and --cnn-batch; -> jobs for the pool."""
        if not args.bench_cli:
            raise SystemExit("error: the CNN parts need --bench-cli (the benchmarks program, for generate-cnns)")
        jobs = []
        for batch in sorted({1, args.cnn_batch}):
            folder = os.path.join(self.tmp, f"cnns_b{batch}")
            argv = shlex.split(args.bench_cli) + ["generate-cnns", "--weights-as-inputs", folder, "--batch", str(batch)]
            argv += [n for n in args.cnns.split(",") if n]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise SystemExit(f"error: generate-cnns failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-600:]}")
            for model in sorted(glob.glob(os.path.join(folder, "*.onnx"))):
                name = os.path.splitext(os.path.basename(model))[0]
                with open(os.path.join(folder, name + ".weights.json")) as f:
                    weights = json.load(f)["weights"]
                if batch == 1 and "cnns" in parts:
                    jobs.append(("cases", self.cnn, name, model, weights))
                if "bench" in parts:
                    jobs.append(("benchmarks", self.cnn_benchmark, name, batch, model, weights))
        jobs.sort(key=lambda j: j[1] != self.cnn)
        return jobs

    def cnn_library(self, model, prefix, weights, extra, subdir):
        """Compiles a generate-cnns model; -> (lib, argument draw specs, results) or error str."""
        c = self.compile(model, prefix, extra, subdir=subdir)
        if isinstance(c, str):
            return c
        lib, args, results = c
        specs = cnn_draws(args, weights)
        return specs if isinstance(specs, str) else (lib, specs, results)

    def cnn(self, name, model, weights):
        """A CNN with its weights as arguments: the f32 library, checked against the interpreter on drawn weights."""
        case = f"cnn_{name}"
        c = self.cnn_library(model, case, weights, [], "cnns")
        if isinstance(c, str):
            return case, c
        lib, specs, results = c
        t0 = time.time()
        ref = self.reference(model, specs, results)
        if isinstance(ref, str):
            return case, ref
        if len(ref) != len(results) or list(ref[0].shape) != results[0]["shape"]:
            return case, f"interpreter gave {[list(r.shape) for r in ref]}, the library has {[s['shape'] for s in results]}"
        data = os.path.join(self.bundle, "data", case)
        os.makedirs(data, exist_ok=True)
        exp = os.path.join(data, "expected_0.npy")
        np.save(exp, ref[0].astype(np.float32))
        log(f"  {case}: reference in {time.time() - t0:.0f} s")
        return case, {"name": case, "kind": "cnn", "model": f"generate-cnns {name} --batch 1", "lib": lib, "prefix": case,
                      "inputs": specs,
                      "expected": [dict(results[0], file=os.path.relpath(exp, self.bundle), rtol=RTOL["f32"])]}

    def cnn_benchmark(self, name, batch, model, weights):
        """A CNN at a batch on TF32 tensor cores (as XLA and cuDNN compute f32 convolutions), with its graph for bench.py."""
        bench = f"cnn_{name}_b{batch}"
        c = self.cnn_library(model, bench, weights, ["--precision", "tf32"] if self.target == "cuda" else [], "bench")
        if isinstance(c, str):
            return bench, c
        lib, specs, results = c
        graphs = os.path.join(self.bundle, "cnn_graphs")
        os.makedirs(graphs, exist_ok=True)
        graph = f"cnn_graphs/{name}_b{batch}.json"
        shutil.copy(os.path.splitext(model)[0] + ".weights.json", os.path.join(self.bundle, graph))
        return bench, {"name": bench, "model": f"generate-cnns {name} --batch {batch}", "lib": lib, "prefix": bench,
                       "args": specs, "results": results, "cnn": {"net": name, "batch": batch, "graph": graph}}


    def example(self, model, prefix="ex"):
        stem, ext = os.path.splitext(os.path.basename(model))
        name = prefix + "_" + re.sub(r"\W", "_", stem) + "_" + ext[1:]
        target = snapshot_target(model)
        c = self.compile(model, name, target["options"])
        if isinstance(c, str):
            return name, c
        lib, args, results = c
        rng = np.random.default_rng(self.seed)
        arrays = [random_input(rng, s) for s in args]
        if target["tf32"]:  # inputs already in TF32: the tensor cores' products are exact, the interpreter's up to order
            arrays = [to_tf32(a) if a.dtype == np.float32 else a for a in arrays]
        case = self.finish_case(name, "example", model, lib, args, results, arrays, [])
        if isinstance(case, dict) and target["arch"]:
            case["arch"] = target["arch"]  # architecture-specific PTX (sm_90a): check.py runs it only on that GPU
        return name, case

    def conformance(self, folders, name_filter):
        """Exports the suite as `gcc-cli check --export` compiles it (the runner's own import, binding and the suite's
        expected outputs with its tolerances) into bundle/conformance; -> (cases, skipped) with bundle-relative paths."""
        out = os.path.join(self.bundle, "conformance")
        argv = ["check", *folders, "--backend", check_backend(self.target), "--export", out]
        if self.place:
            argv += ["--place", self.place]
        if name_filter:
            argv += ["--filter", name_filter]
        # Streamed: a few hundred compiles take minutes; every 100th case and every case left out is shown.
        p = subprocess.Popen(self.cli + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail, n = [], 0
        for line in p.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-5:]
            n += line.startswith("EXPORT ")
            if not line.startswith("EXPORT ") or n % 100 == 0:
                log(f"  {line}" if not line.startswith("EXPORT ") else f"  ... {n} cases exported")
        rc = p.wait()
        if not os.path.exists(os.path.join(out, "conformance.json")):
            raise SystemExit(f"error: gcc-cli check --export failed (exit {rc}): {' '.join(tail)[-600:]}")
        with open(os.path.join(out, "conformance.json")) as f:
            exported = json.load(f)
        rel = lambda p: os.path.join("conformance", p)
        for c in exported["cases"]:
            c["lib"] = rel(c["lib"])
            for spec in c["inputs"] + c["expected"]:
                spec["file"] = rel(spec["file"])
        return exported["cases"], exported["skipped"]

    def benchmark(self, model, name):
        # A model's own compile options: a "// gcc-cli: ARGS" line (e.g. --precision tf32).
        extra = []
        if model.endswith(".ir"):
            with open(model) as f:
                extra = [a for line in f if line.startswith("// gcc-cli:") for a in line[len("// gcc-cli:"):].split()]
        c = self.compile(model, name, extra, subdir="bench")
        if isinstance(c, str):
            return name, c
        lib, args, results = c
        return name, {"name": name, "model": os.path.relpath(model, ROOT), "lib": lib, "prefix": name,
                      "args": args, "results": results}


SNAPSHOT_TARGET_RE = re.compile(r"\A// cuda target: (sm_\w+)(?:, (\d+) multiprocessors)?(, tf32)?\r?\n")


def snapshot_target(model):
    """A tests/ptx program's own target (its "// cuda target: ARCH[, N multiprocessors][, tf32]" first line, as the
    snapshot tests read it): the compile options, whether it runs on TF32 tensor cores, and an arch-specific
    architecture (sm_90a) the case then needs."""
    head = ""
    if model.endswith(".ir"):
        with open(model) as f:
            head = f.readline()
    m = SNAPSHOT_TARGET_RE.match(head)
    if not m:
        return {"options": [], "tf32": False, "arch": None}
    options = ["--gpu-arch", m.group(1)] + (["--gpu-sms", m.group(2)] if m.group(2) else []) + (["--precision", "tf32"] if m.group(3) else [])
    return {"options": options, "tf32": bool(m.group(3)), "arch": m.group(1) if m.group(1).endswith("a") else None}


def to_tf32(a):
    """f32 rounded to TF32 (to nearest in the 13 bits TF32 drops), as the tests' ToTf32."""
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def random_input(rng, spec):
    """normal(0, 1) floats; integers in [0, 4) (they may be indices or sizes); bools with equal odds."""
    dt, shape = spec["dtype"], spec["shape"]
    if dt in ("f32", "f64", "f16"):
        return rng.standard_normal(shape).astype(NP_DTYPES[dt])
    if dt == "bf16":
        return f32_to_bf16(rng.standard_normal(shape).astype(np.float32))
    if dt == "bool":
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 4, shape).astype(NP_DTYPES[dt])


def interpreter_identity(cli):
    """The interpreter's build, for the reference cache's key: the bytes of GraphCompiler.IR.dll (where the interpreter
    and every op's evaluation live; the build is deterministic, so the same sources give the same bytes) beside the
    gcc-cli the command runs. A reference computed by another interpreter is never reused."""
    for arg in cli:
        lib = os.path.join(os.path.dirname(os.path.abspath(arg)), "GraphCompiler.IR.dll")
        if os.path.isfile(lib):
            with open(lib, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
    return "unknown-" + " ".join(cli)  # no assembly found: the command line at least


# The interpreter on VGG-19 (20 GFLOP) takes about 10 minutes on this machine's cores.
REFERENCE_TIMEOUT = 3600

# Part of the reference cache's key: bump when gclib.draw_uniform or the input's range changes.
DRAW_VERSION = "splitmix64-v1"

# The image: uniform with unit variance (√3 = 1.732).
IMAGE_RANGE = (-1.7320508, 1.7320508)


def cnn_draws(args, weights):
    """The library's arguments (input, then the weights in the order generate-cnns wrote them) as draw specs."""
    if len(args) != len(weights) + 1 or args[0]["name"] != "input":
        return f"the library takes {len(args)} arguments, generate-cnns wrote the input and {len(weights)} weights"
    specs = [dict(args[0], low=IMAGE_RANGE[0], high=IMAGE_RANGE[1])]
    for a, w in zip(args[1:], weights):
        if a["name"] != w["name"] or a["shape"] != w["shape"] or a["dtype"] != "f32":
            return f"argument {a['name']} {a['dtype']}{a['shape']} is not weight {w['name']} f32{w['shape']}"
        specs.append(dict(a, low=w["low"], high=w["high"]))
    return specs


def check_backend(target):
    """`gcc-cli check --backend` for a compile target: cuda, else the CPU."""
    return "cuda" if target == "cuda" else "cpu"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="command that runs gcc-cli, e.g. 'dotnet .../gcc-cli.dll'")
    ap.add_argument("--target", default="cuda")
    ap.add_argument("--place", default="", help="--place value passed to every compile (empty: none)")
    ap.add_argument("--bundle", default=os.path.join(ROOT, "tools", "gpu-check", "bundle"))
    ap.add_argument("--conformance", default=os.path.join(ROOT, "..", "shared", "conformance", "onnx"),
                    help="the ONNX suite (its node/ and simple/ folders are exported)")
    ap.add_argument("--filter", default="", help="regex the conformance case names must match (the floor is then checked on those only)")
    ap.add_argument("--eltwise-model", default=os.path.join(ROOT, "..", "shared", "models", "eltwise_chain10_16M.onnx"))
    ap.add_argument("--only", default="examples,kernels,cnns,conformance,bench", help="comma list of parts to build")
    ap.add_argument("--bench-cli", default="", help="command that runs the benchmarks program (generate-cnns); the CNN parts need it")
    ap.add_argument("--cnns", default="", help="comma list of the CNNs to bundle (default: all that generate-cnns writes)")
    ap.add_argument("--cnn-batch", type=int, default=32, help="the CNN benchmarks' large batch (batch 1 is always there)")
    ap.add_argument("--reference-cache", default=os.path.join(os.path.expanduser("~"), ".cache", "graphcompiler", "gpu-check"),
                    help="where the interpreter's CNN results are kept between runs (empty: recompute)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    parts = set(args.only.split(","))

    if os.path.exists(args.bundle):
        shutil.rmtree(args.bundle)
    os.makedirs(args.bundle)
    prep = Prep(args)
    jobs = []  # (part, function, argument...)
    if "examples" in parts:
        for m in sorted(glob.glob(os.path.join(ROOT, "examples", "*"))):
            if m.endswith((".ir", ".onnx", ".pbtxt")):
                jobs.append(("cases", prep.example, m))
    if "kernels" in parts and args.target != "cuda":
        log(f"note: the kernels part is GPU programs (placed IR with transfers): left out for --target {args.target}")
    elif "kernels" in parts:
        # Every kernel kind's PTX snapshot program (tests/ptx), placed as the emulator runs it: the first run on a GPU.
        for m in sorted(glob.glob(os.path.join(ROOT, "tests", "ptx", "*.ir"))):
            jobs.append(("cases", prep.example, m, "kn"))
    if "bench" in parts:
        for m in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "gpu", "*.ir"))):
            jobs.append(("benchmarks", prep.benchmark, m, os.path.splitext(os.path.basename(m))[0]))
        if os.path.exists(args.eltwise_model):
            jobs.append(("benchmarks", prep.benchmark, args.eltwise_model, "eltwise_chain10_16M"))
        else:
            log(f"note: {args.eltwise_model} not found; the eltwise-chain benchmark is left out")

    if "cnns" in parts or "bench" in parts:
        jobs[:0] = prep.cnn_jobs(args, parts)  # first: the interpreter's references take longest

    manifest = {"target": args.target, "place": args.place, "seed": args.seed, "cases": [], "benchmarks": [], "skipped": []}
    if "conformance" in parts:
        # The whole suite, and the floor it must meet there: tests/conformance/onnx.<backend>.txt.
        folders = [os.path.join(args.conformance, sub) for sub in ("node", "simple") if os.path.isdir(os.path.join(args.conformance, sub))]
        log(f"exporting the ONNX suite ({', '.join(folders)}) with gcc-cli check --export")
        cases, skipped = prep.conformance(folders, args.filter)
        manifest["cases"] += cases
        manifest["skipped"] += skipped
        floor_file = os.path.join(ROOT, "tests", "conformance", f"onnx.{check_backend(args.target)}.txt")
        if not os.path.exists(floor_file):
            raise SystemExit(f"error: {floor_file} is missing (the floor check.py enforces)")
        with open(floor_file) as f:
            floor = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        if args.filter:
            floor = [n for n in floor if re.search(args.filter, n)]
        manifest["floor"] = {"file": os.path.relpath(floor_file, ROOT), "cases": floor}
        log(f"conformance: {len(cases)} data sets exported, {len(skipped)} cases left out; floor {manifest['floor']['file']}: {len(floor)} cases")
    with cf.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [(job[0], pool.submit(job[1], *job[2:])) for job in jobs]
        for part, fut in futures:
            name, entry = fut.result()
            if isinstance(entry, str):
                log(f"SKIP {name}: {entry}")
                manifest["skipped"].append({"name": name, "reason": entry})
            else:
                log(f"ok   {name}")
                manifest[part].append(entry)
    with open(os.path.join(args.bundle, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    shutil.rmtree(prep.tmp, ignore_errors=True)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.bundle) for f in fs)
    log(f"bundle {args.bundle}: {len(manifest['cases'])} cases, {len(manifest['benchmarks'])} benchmarks, "
        f"{len(manifest['skipped'])} skipped, {size / 1e6:.1f} MB")
    # What travels: PTX and .npy files compress ~15x, so every CNN fits in the device tool's 64 MiB.
    archive = args.bundle.rstrip("/") + ".tar.xz"
    with tarfile.open(archive, "w:xz", preset=6) as tar:
        tar.add(args.bundle, arcname="bundle")
    log(f"archive {archive}: {os.path.getsize(archive) / 1e6:.1f} MB")
    if os.path.getsize(archive) > 48e6:
        log("warning: the archive is over 48 MB (the device tool carries 64 MiB in all)")
    if not manifest["cases"] and not manifest["benchmarks"]:
        log("error: nothing compiled")
        sys.exit(1)


if __name__ == "__main__":
    main()

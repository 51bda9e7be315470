#!/usr/bin/env python3
"""Checks every case of a GPU-check bundle: load the library, run it, compare with the interpreter.

Runs on the GPU machine (python3 + NumPy + ctypes; torch only for the device-pointer test).
For each case: results pre-filled with NaN, NAME_run on host buffers, status checked (with
NAME_last_error), then the floats compared — ||out - ref|| / ||ref|| <= rtol for examples (against the
interpreter; the CNNs' weights drawn here as prepare.py drew them), |out - ref| <= atol + rtol*|ref| per element for conformance cases (against the suite's own
outputs, as `gcc-cli check` compares) — with NaN and inf positions matching; integers and bools exactly.
Then, for a few cases, NAME_run_device on torch CUDA tensors. Last, the conformance floor
(tests/conformance/onnx.<backend>.txt): every case it lists must have been exported and must pass.
Prints one line per case and 'N passed, N failed'; exit code 1 on any failure or floor miss.
"""
import argparse
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gclib import NP_DTYPES, Library, bf16_to_f32, draw_uniform, load_manifest  # noqa: E402


def compare(out, ref, dtype, rtol, atol=None):
    """-> (ok, detail). With atol: elementwise |out - ref| <= atol + rtol*|ref| (the conformance runner's rule)."""
    if out.shape != ref.shape:
        return False, f"shape {out.shape} != {ref.shape}"
    if dtype in ("f32", "f64", "f16", "bf16") and atol is not None:
        o = (bf16_to_f32(out) if dtype == "bf16" else out).astype(np.float64)
        r = (bf16_to_f32(ref) if dtype == "bf16" else ref).astype(np.float64)
        with np.errstate(invalid="ignore"):
            ok = (np.isnan(o) & np.isnan(r)) | (o == r) | (np.isfinite(o) & np.isfinite(r) & (np.abs(o - r) <= atol + rtol * np.abs(r)))
        bad = int(ok.size - np.count_nonzero(ok))
        if bad == 0:
            return True, "within tolerance"
        first = int(np.flatnonzero(~ok.ravel())[0])
        return False, f"{bad} of {ok.size} elements differ; first element {first}: {o.ravel()[first]!r}, expected {r.ravel()[first]!r}"
    if dtype in ("f32", "f64", "f16", "bf16"):
        o = bf16_to_f32(out) if dtype == "bf16" else out.astype(np.float64)
        r = bf16_to_f32(ref) if dtype == "bf16" else ref.astype(np.float64)
        o, r = o.astype(np.float64), r.astype(np.float64)
        if not np.array_equal(np.isnan(o), np.isnan(r)):
            return False, f"NaN positions differ ({int(np.isnan(o).sum())} NaN vs {int(np.isnan(r).sum())} expected)"
        inf_o, inf_r = np.isinf(o), np.isinf(r)
        if not np.array_equal(inf_o, inf_r) or not np.array_equal(o[inf_o], r[inf_r]):
            return False, "inf positions or signs differ"
        finite = np.isfinite(r)
        num, den = np.linalg.norm((o - r)[finite]), np.linalg.norm(r[finite])
        rel = num / den if den > 0 else num
        return rel <= rtol, f"rel {rel:.2e}"
    diff = int(np.count_nonzero(out != ref))
    return diff == 0, "exact" if diff == 0 else f"{diff} of {ref.size} elements differ"


def case_inputs(bundle, case):
    """A case's arguments: its .npy files, or for a CNN drawn here exactly as prepare.py drew them for the interpreter."""
    return [np.load(os.path.join(bundle, s["file"])) if "file" in s else draw_uniform(s["name"], s["shape"], s["low"], s["high"])
            for s in case["inputs"]]


def check_case(bundle, case, threads):
    lib = Library(os.path.join(bundle, case["lib"]), case["prefix"])
    inputs = case_inputs(bundle, case)
    expected = [np.load(os.path.join(bundle, s["file"])) for s in case["expected"]]
    t0 = time.perf_counter()
    status, outs = lib.run_host(inputs, case["expected"], threads)
    ms = (time.perf_counter() - t0) * 1e3
    if status != 0:
        return False, f"{case['prefix']}_run returned {status}: {lib.last_error() or '(no message)'}", lib
    details, ok = [], True
    for k, (spec, o, e) in enumerate(zip(case["expected"], outs, expected)):
        good, detail = compare(o, e, spec["dtype"], spec["rtol"], spec.get("atol"))
        ok &= good
        details.append(f"{spec['name']}: {detail}" if len(outs) > 1 or not good else detail)
    return ok, f"{'; '.join(details)}; {ms:.1f} ms", lib


def check_device(bundle, case, lib):
    """NAME_run_device on torch CUDA tensors; -> (ok, detail)."""
    import torch
    torch_dtypes = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16,
                    "bool": torch.bool, "i8": torch.int8, "i16": torch.int16, "i32": torch.int32,
                    "i64": torch.int64, "u8": torch.uint8}
    inputs = [torch.from_numpy(a).cuda() for a in case_inputs(bundle, case)]
    outs = [torch.full(s["shape"], float("nan"), dtype=torch_dtypes[s["dtype"]], device="cuda")
            if s["dtype"] in ("f32", "f64", "f16", "bf16") else torch.zeros(s["shape"], dtype=torch_dtypes[s["dtype"]], device="cuda")
            for s in case["expected"]]
    torch.cuda.synchronize()
    status = lib.call([t.data_ptr() for t in inputs], [t.data_ptr() for t in outs], device=True)
    if status == 5:  # documented refusal: the model reads an argument or writes a result on the CPU
        return None, f"refused: {lib.last_error()}"
    if status != 0:
        return False, f"{case['prefix']}_run_device returned {status}: {lib.last_error() or '(no message)'}"
    details, ok = [], True
    for spec, o, path in zip(case["expected"], outs, [s["file"] for s in case["expected"]]):
        good, detail = compare(o.cpu().numpy(), np.load(os.path.join(bundle, path)), spec["dtype"], spec["rtol"], spec.get("atol"))
        ok &= good
        details.append(detail)
    return ok, "; ".join(details)


def device_capability():
    """The first GPU's architecture as sm_XY (the driver's compute capability), or None where the driver cannot say."""
    try:
        import ctypes
        cuda = ctypes.CDLL("libcuda.so.1")
        device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        if cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(device), 0):
            return None
        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR (75) and _MINOR (76)
        if cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, device) or cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, device):
            return None
        return f"sm_{major.value}{minor.value}"
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundle"))
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device-cases", type=int, default=12, help="how many cases also run NAME_run_device (0: none)")
    ap.add_argument("--budget", type=float, default=0, help="seconds after which no new case starts; the rest are reported as not run, and fail (0: no limit)")
    args = ap.parse_args()
    manifest = load_manifest(args.bundle)
    cases = [c for c in manifest["cases"] if args.filter in c["name"]]
    print(f"bundle {args.bundle}: target {manifest['target']}, {len(cases)} cases, "
          f"{len(manifest.get('skipped', []))} skipped at prepare time")
    passed = failed = xfailed = 0
    libs = {}
    outcome = {}  # conformance case -> whether every data set passed
    start, not_run = time.perf_counter(), []
    capability = device_capability() if any("arch" in c for c in cases) else None
    for case in cases:
        if args.budget and time.perf_counter() - start > args.budget:
            not_run.append(case["name"])
            continue
        if "arch" in case and capability and not case["arch"].startswith(capability):
            # Architecture-specific PTX (sm_90a) loads only on its own GPU.
            print(f"SKIP {case['name']}: compiled for {case['arch']}; this GPU is {capability}", flush=True)
            continue
        lib = None
        try:
            ok, detail, lib = check_case(args.bundle, case, args.threads)
        except Exception as e:  # noqa: BLE001
            ok, detail = False, f"{type(e).__name__}: {e}"
        if case["kind"] == "conformance":
            outcome[case["case"]] = outcome.get(case["case"], True) and ok
            if lib is not None:
                lib.release()  # hundreds of cases: keep no module loaded
        elif lib is not None:
            libs[case["name"]] = lib
        if "xfail" in case:  # a known divergence, with its reason (expected-failures.txt)
            print(f"XPASS {case['name']}: listed as an expected failure; remove it from expected-failures.txt" if ok
                  else f"XFAIL {case['name']}: {case['xfail']} (got: {detail})", flush=True)
            xfailed += not ok
            continue
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'PASS' if ok else 'FAIL'} {case['name']}: {detail}", flush=True)

    # Device pointers: a few f32 cases with one result, preferring examples.
    if args.device_cases > 0:
        want = [c for c in cases if c["name"] in libs and all(s["dtype"] == "f32" for s in c["inputs"] + c["expected"])]
        want.sort(key=lambda c: c["kind"] != "example")
        want = want[:args.device_cases]
        if not any(libs[c["name"]].has_device for c in want):
            print(f"device-pointer test skipped: no library exports NAME_run_device (target {manifest['target']})")
        else:
            try:
                import torch
                if not torch.cuda.is_available():
                    raise RuntimeError("torch sees no CUDA device")
                torch.zeros(1, device="cuda")  # make the primary context current
            except Exception as e:  # noqa: BLE001
                print(f"FAIL device-pointer test: {e}")
                failed += 1
                want = []
            for case in want:
                try:
                    ok, detail = check_device(args.bundle, case, libs[case["name"]])
                except Exception as e:  # noqa: BLE001
                    ok, detail = False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                if ok is None:
                    print(f"SKIP {case['name']} (run_device): {detail}", flush=True)
                    continue
                passed, failed = passed + ok, failed + (not ok)
                print(f"{'PASS' if ok else 'FAIL'} {case['name']} (run_device, torch CUDA tensors): {detail}", flush=True)

    for s in manifest.get("skipped", []):
        print(f"(skipped at prepare time) {s['name']}: {s['reason']}")
    if not_run:
        # Out of time (each library's PTX is compiled by the driver when it loads): a case not run is not a pass.
        print(f"NOT RUN {len(not_run)} cases after the {args.budget:.0f} s budget: {', '.join(not_run[:20])}{' ...' if len(not_run) > 20 else ''}")
        failed += len(not_run)
    print(f"{passed} passed, {failed} failed" + (f", {xfailed} expected failures" if xfailed else ""))
    if not cases:
        print("error: the bundle has no cases (did every compile fail? see 'skipped' above)")
    skipped_names = set(not_run)
    floor_missed = check_floor(manifest, outcome, args.filter, {c.get("case") for c in cases if c["name"] in skipped_names})
    return 1 if failed or not cases or floor_missed else 0


def check_floor(manifest, outcome, name_filter, not_run=frozenset()):
    """Every case of the bundle's floor must have run and passed; -> how many did not."""
    floor = manifest.get("floor")
    if not floor:
        return 0
    wanted = [n for n in floor["cases"] if name_filter in n]
    skipped = {s["name"]: s["reason"] for s in manifest.get("skipped", [])}
    missed = [(n, "failed" if n in outcome and n not in not_run else "not run (time budget)" if n in not_run
               else f"not exported: {skipped.get(n, 'not in the bundle')}")
              for n in wanted if not outcome.get(n, False) or n in not_run]
    print(f"floor {floor['file']}: {len(wanted) - len(missed)} of {len(wanted)} cases pass")
    for n, why in missed:
        print(f"FLOOR {n}: {why}")
    return len(missed)


if __name__ == "__main__":
    sys.exit(main())

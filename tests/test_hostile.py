"""Hostile input: every failure is one line ``fastzdc: error: ...`` with exit code 2, the inputs stay
unchanged and no file is left behind; signals end a command with ``fastzdc: interrupted``, exit code
128 + signal and nothing on disk; the same seed gives the same counts at every batch size.

Property-based cases (hypothesis) fuzz the npz, HDF5, checkpoint-config and model-card loaders.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastzdc import ZN, ZP
from fastzdc.cli import main
from fastzdc.data import write_h5, write_npz_pair
from fastzdc.errors import FastZDCError
from fastzdc.inference import load_generator

from .conftest import leftovers, make_dataset, random_fm_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TINY = {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers
def run_cli(*args) -> tuple[int, str, str]:
    """``fastzdc ARGS`` in-process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256 (inputs must stay unchanged)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line(code: int, err: str, *needles: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("fastzdc: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def refused(folder: Path, *args, needles: tuple[str, ...] = ()) -> None:
    """The command fails with one line and exit 2, and ``folder`` is exactly as before."""
    before = digest(folder)
    code, _, err = run_cli(*args)
    assert_one_line(code, err, *needles)
    assert digest(folder) == before
    assert leftovers(folder) == []


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny untrained ZN flow-matching checkpoint (random weights)."""
    return random_fm_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", ZN)


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder with a small ZN dataset (x.h5), its npz pair (p_responses.npz + p_particles.npz) and a
    particle table (c.csv)."""
    ds = make_dataset(24, ZN, seed=5)
    write_h5(ds, tmp_path / "x.h5")
    write_npz_pair(ds, tmp_path / "p_responses.npz")
    table = np.column_stack([ds.conditions, ds.pdgid]).astype(np.float64)
    np.savetxt(tmp_path / "c.csv", table, delimiter=",")
    return tmp_path


def particle_row(E=2000.0, mass=939.565, charge=0.0, pdg=2112, pz=None) -> list[float]:
    m = mass / 1e3
    pz = np.sqrt(max(E**2 - m**2, 0.0)) if pz is None else pz
    return [E, 0.0, 0.0, 0.0, 0.0, 0.0, pz, mass, charge, pdg]


# --------------------------------------------------------------------------- 1. input is never an output
def test_generate_refuses_to_overwrite_its_conditions(work, ckpt):
    refused(work, "generate", "--model", ckpt, "--conditions", work / "x.h5", "--out", work / "x.h5",
            needles=("would overwrite the input",))


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_outputs_that_are_links_to_the_input_are_refused(work, ckpt, link):
    (os.symlink if link == "symlink" else os.link)(work / "x.h5", work / "y.h5")
    refused(work, "generate", "--model", ckpt, "--conditions", work / "x.h5", "--out", work / "y.h5")
    refused(work, "simulate", "-d", "zn", "--conditions", work / "x.h5", "--out", work / "y.h5")
    refused(work, "convert", work / "x.h5", work / "y.h5")


def test_simulate_convert_split_refuse_their_input(work):
    refused(work, "simulate", "-d", "zn", "--conditions", work / "x.h5", "--out", work / "x.h5")
    refused(work, "convert", work / "x.h5", work / "x.h5")
    refused(work, "convert", work / "p_particles.npz", work / "p_responses.npz")
    shutil.copy(work / "x.h5", work / "train.h5")
    refused(work, "split", work / "train.h5", "--out-dir", work)


def test_generate_output_inside_the_model_folder_is_refused(work, ckpt):
    refused(work, "generate", "--model", ckpt, "--conditions", work / "x.h5", "--out", ckpt / "g.h5")
    assert not (ckpt / "g.h5").exists()


def test_train_into_an_existing_run_needs_resume_or_overwrite(work):
    run = work / "run"
    (run / "best").mkdir(parents=True)
    (run / "best" / "config.json").write_text("{}")
    refused(work, "train", "fm", "--data", work / "x.h5", "--out", run, needles=("--resume", "--overwrite"))
    refused(work, "train", "fm", "--data", work / "x.h5", "--out", work / "x.h5")
    refused(work, "train", "fm", "--data", work / "x.h5", "--out", run, "--resume", "--overwrite")


def test_failed_train_leaves_no_run_folder_and_overwrite_restores_the_old_run(work):
    bad = work / "bad.h5"
    bad.write_bytes(b"junk" * 10)
    code, _, err = run_cli("train", "fm", "--data", bad, "--out", work / "new")
    assert_one_line(code, err)
    assert not (work / "new").exists()
    run = work / "run"
    (run / "best").mkdir(parents=True)
    (run / "best" / "config.json").write_text("{}")
    before = digest(run)
    code, _, err = run_cli("train", "fm", "--data", bad, "--out", run, "--overwrite")
    assert_one_line(code, err)
    assert digest(run) == before and leftovers(work) == []


# --------------------------------------------------------------------------- 2. one error path
def test_unwritable_places_are_one_line(work, ckpt):
    refused(work, "simulate", "-d", "zn", "-n", "10", "--out", "/proc/x.h5")
    refused(work, "simulate", "-d", "zn", "-n", "10", "--out", work / "missing" / "x.h5")
    refused(work, "generate", "--model", ckpt, "--conditions", work / "x.h5", "--out", "/proc/x.h5")


@pytest.mark.parametrize("args", [
    ["--device", "foo"],
    ["--device", "cuda:99"] if torch.cuda.is_available() else ["--device", "cuda"],
    ["--seed", "99999999999999999999999"],
    ["--seed", "-1"],
    ["--batch-size", "0"],
    ["--steps", "1000000000"],
    ["--sample-opt", "steps=1e9"],
])
def test_generate_bad_arguments(work, ckpt, args):
    code, _, err = run_cli("generate", "--model", ckpt, "--conditions", work / "x.h5", "--out", work / "g.h5", *args)
    assert code == 2 and "Traceback" not in err
    assert not (work / "g.h5").exists() and leftovers(work) == []


@pytest.mark.parametrize("setting", ["threads=-2", "max_train_rows=-1", "model.emb_dim=0", "model.widths=[4,-8]",
                                     "lr=nan", "epochs=0", "seed=-3", "model.emb_dim=\"abc\""])
def test_train_bad_settings_are_one_line_and_leave_no_folder(work, setting):
    refused(work, "train", "fm", "--data", work / "x.h5", "--out", work / "run", "--set", setting, needles=())
    assert not (work / "run").exists()


CONFIG_DEFECTS = {
    "a list": lambda cfg: [1, 2],
    "format_version abc": lambda cfg: {**cfg, "format_version": "abc"},
    "format_version 99": lambda cfg: {**cfg, "format_version": 99},
    "hidden -5": lambda cfg: {**cfg, "hparams": {**cfg["hparams"], "emb_dim": -5}},
    "hidden abc": lambda cfg: {**cfg, "hparams": {**cfg["hparams"], "emb_dim": "abc"}},
    "hidden huge": lambda cfg: {**cfg, "hparams": {**cfg["hparams"], "emb_dim": 200000}},
    "widths huge": lambda cfg: {**cfg, "hparams": {**cfg["hparams"], "widths": [200000, 200000, 200000]}},
    "hparams a list": lambda cfg: {**cfg, "hparams": [1, 2]},
    "detector xx": lambda cfg: {**cfg, "detector": "xx"},
    "kind unknown": lambda cfg: {**cfg, "kind": "gan"},
    "scaler a list": lambda cfg: {**cfg, "scaler": [1]},
    "weights_sha256 bad": lambda cfg: {**cfg, "weights_sha256": "xyz"},
    "sampler a list": lambda cfg: {**cfg, "sampler": [1]},
}


@pytest.mark.parametrize("defect", sorted(CONFIG_DEFECTS))
def test_broken_checkpoint_config_is_one_line(work, ckpt, defect):
    bad = work / "ckpt"
    shutil.copytree(ckpt, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(CONFIG_DEFECTS[defect](cfg)))
    with pytest.raises(FastZDCError):
        load_generator(bad, backend="torch")
    refused(work, "generate", "--model", bad, "--conditions", work / "x.h5", "--out", work / "g.h5")


def test_hdf5_with_groups_instead_of_datasets(work, ckpt):
    for key in ("responses", "conditions"):
        path = work / f"group_{key}.h5"
        shutil.copy(work / "x.h5", path)
        with h5py.File(path, "a") as f:
            del f[key]
            f.create_group(key)
        refused(work, "info", path)
        refused(work, "convert", path, work / "out.h5")
        if key == "conditions":  # generate reads only the particles
            refused(work, "generate", "--model", ckpt, "--conditions", path, "--out", work / "g.h5")


def test_metadata_sidecar_that_is_not_an_object(work):
    (work / "p_responses.meta.json").write_text("[1, 2]")
    refused(work, "convert", work / "p_responses.npz", work / "out.h5", needles=("JSON object",))
    refused(work, "info", work / "p_responses.npz")


def _fsize_limit():  # run in the child: a 200 kB file-size limit ("disk full")
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))


def test_disk_full_is_one_line_without_crash_or_leftovers(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    for out in ("a.h5", "a.npz"):
        proc = subprocess.run([sys.executable, "-m", "fastzdc.cli", "simulate", "-d", "zn", "-n", "3000", "--out", out, "--json"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, preexec_fn=_fsize_limit, timeout=300)
        assert_one_line(proc.returncode, proc.stderr, "cannot write")
        assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 3. integrity
def test_checkpoint_records_and_verifies_its_weights(work, ckpt):
    cfg = json.loads((ckpt / "config.json").read_text())
    assert cfg["weights_sha256"] == hashlib.sha256((ckpt / "weights.safetensors").read_bytes()).hexdigest()
    bad = work / "flipped"
    shutil.copytree(ckpt, bad)
    blob = bytearray((bad / "weights.safetensors").read_bytes())
    blob[-100] ^= 0x10
    (bad / "weights.safetensors").write_bytes(bytes(blob))
    with pytest.raises(FastZDCError, match="SHA-256"):
        load_generator(bad, backend="torch")
    refused(work, "generate", "--model", bad, "--conditions", work / "x.h5", "--out", work / "g.h5", needles=("SHA-256",))


def test_non_finite_weights_are_refused(work, ckpt):
    from safetensors.torch import load_file, save_file

    bad = work / "nan"
    shutil.copytree(ckpt, bad)
    tensors = load_file(str(bad / "weights.safetensors"))
    first = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, str(bad / "weights.safetensors"))
    cfg = json.loads((bad / "config.json").read_text())
    cfg.pop("weights_sha256")  # an older checkpoint without a recorded hash: the NaN check still holds
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FastZDCError, match="NaN"):
        load_generator(bad, backend="torch")


def test_shipped_checkpoints_verify():
    for cfg_path in sorted((ROOT / "weights").glob("*/config.json")):
        cfg = json.loads(cfg_path.read_text())
        sha = hashlib.sha256((cfg_path.parent / "weights.safetensors").read_bytes()).hexdigest()
        assert cfg.get("weights_sha256") == sha, cfg_path


@pytest.fixture
def export(tmp_path) -> Path:
    src = ROOT / "weights" / "onnx" / "fmd-zn"
    dst = tmp_path / "export"
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("defect", ["format_version abc", "file ../", "file absolute", "modified onnx",
                                    "noise_shape bad", "files a list"])
def test_broken_export_folder_is_one_line(work, export, defect):
    card_path = export / "model_card.json"
    card = json.loads(card_path.read_text())
    if defect == "format_version abc":
        card["format_version"] = "abc"
    elif defect == "file ../":
        shutil.copy(export / "model.onnx", work / "outside.onnx")
        card["files"]["float32"]["file"] = "../outside.onnx"
    elif defect == "file absolute":
        card["files"]["float32"]["file"] = str(export / "model.onnx")
    elif defect == "modified onnx":
        blob = bytearray((export / "model.onnx").read_bytes())
        blob[len(blob) // 2] ^= 0x01
        (export / "model.onnx").write_bytes(bytes(blob))
    elif defect == "noise_shape bad":
        card["noise_shape"] = [-1, "a"]
    elif defect == "files a list":
        card["files"] = [1]
    card_path.write_text(json.dumps(card))
    with pytest.raises(FastZDCError):
        load_generator(export)
    refused(work, "generate", "--model", export, "--conditions", work / "x.h5", "--out", work / "g.h5")


# --------------------------------------------------------------------------- 4. physical ranges
@pytest.mark.parametrize("row,needle", [
    (particle_row(E=-100.0), "energy"),
    (particle_row(E=1e6), "energy"),
    (particle_row(E=1e38), "energy"),
    (particle_row(mass=-1.0), "mass"),
    (particle_row(charge=0.5), "charge"),
    (particle_row(pdg=1e12), "pdgid"),
    (particle_row(pz=1e30), "momentum"),
    (particle_row(pz=100.0), "momentum"),
])
def test_unphysical_particles_are_refused_by_simulate_and_generate(work, ckpt, row, needle):
    path = work / "bad.csv"
    np.savetxt(path, np.array([particle_row(), row]), delimiter=",")
    refused(work, "simulate", "-d", "zn", "--conditions", path, "--out", work / "s.h5", needles=(needle,))
    refused(work, "generate", "--model", ckpt, "--conditions", path, "--out", work / "g.h5", needles=(needle,))


def test_physical_particles_pass(work, ckpt):
    path = work / "ok.csv"
    np.savetxt(path, np.array([particle_row(), particle_row(E=5.0, mass=0.0, pdg=22), particle_row(E=3000, charge=1,
                                                                                                   mass=938.272, pdg=2212)]),
               delimiter=",")
    code, _, err = run_cli("simulate", "-d", "zn", "--conditions", path, "--out", work / "s.h5")
    assert code == 0, err
    code, _, err = run_cli("generate", "--model", ckpt, "--conditions", path, "--out", work / "g.h5")
    assert code == 0, err
    with h5py.File(work / "g.h5") as f:
        assert int(f.attrs["saturated_pixels"]) == 0 and int(f.attrs["saturation_count"]) == 65535


# --------------------------------------------------------------------------- 5. signals and orphans
def _unnamed_file_open(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` holds an unnamed (O_TMPFILE) or temporary file in ``folder`` open."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(folder)) and ("(deleted)" in target or ".part" in target):
                return True
    except OSError:
        return False
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("command", ["simulate", "generate"])
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129),
                                      (signal.SIGKILL, -9)])
def test_signals_leave_no_file(tmp_path, ckpt, command, sig, code):
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    out.mkdir()
    if command == "simulate":
        args = ["simulate", "-d", "zn", "-n", "5000000", "--out", str(out / "s.h5")]
    else:
        cond = tmp_path / "c_particles.npz"  # the particles only: a large file written in a blink
        row = np.array(particle_row(), np.float64)
        np.savez(cond, arr_0=np.tile(row, (200000, 1)))
        args = ["generate", "--model", str(ckpt), "--conditions", str(cond), "--out", str(out / "g.h5"),
                "--batch-size", "64", "--precision", "float32"]
    proc = subprocess.Popen([sys.executable, "-m", "fastzdc.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _unnamed_file_open(proc.pid, out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    if sig != signal.SIGKILL:
        assert err.strip().splitlines()[-1] == "fastzdc: interrupted" and "Traceback" not in err
    left = [p.name for p in out.iterdir()]
    if command == "generate" and sig == signal.SIGKILL:  # a killed generate keeps its work folder to resume from
        assert left in ([], [".g.h5.parts"])
    else:
        assert left == []


def test_stale_temporaries_of_an_output_are_removed(work):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = [work / f".s.h5.{dead}.ab12cd34.part", work / f".s.h5.{dead}.ab12cd34.h5part"]
    for p in stale:
        p.write_bytes(b"x" * 100)
    (work / f".s.h5.{dead}.zz99.part.keep").write_bytes(b"not ours")
    other = work / f".other.h5.{dead}.ab12cd34.part"
    other.write_bytes(b"x")
    code, _, err = run_cli("simulate", "-d", "zn", "-n", "20", "--out", work / "s.h5")
    assert code == 0, err
    assert not any(p.exists() for p in stale) and other.exists()


def test_no_output_is_committed_after_a_swallowed_signal(tmp_path):
    from fastzdc._atomic import atomic_write_text
    from fastzdc.errors import Interrupted, clear_signals, note_signal

    note_signal(signal.SIGINT)  # as if the KeyboardInterrupt had been lost in a weakref callback
    try:
        with pytest.raises(Interrupted):
            atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        clear_signals()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 6. seed means seed
def test_same_seed_same_counts_at_every_batch_size_with_default_flags(work, ckpt):
    cond = work / "cond.h5"
    write_h5(make_dataset(300, ZN, seed=9), cond)
    files = []
    for bs in (1, 7, 256, 4096):
        out = work / f"g{bs}.h5"
        code, _, err = run_cli("generate", "--model", ckpt, "--conditions", cond, "--out", out, "--batch-size", str(bs),
                               "--seed", "5")
        assert code == 0, err
        with h5py.File(out) as f:
            files.append(f["responses"][...])
    for other in files[1:]:
        assert np.array_equal(files[0], other)


def test_bfloat16_counts_do_not_depend_on_the_batch_size(ckpt):
    gen = load_generator(ckpt, backend="torch", precision="bfloat16")
    cond = make_dataset(300, ZN, seed=4).conditions
    ref = gen.generate(cond, seed=2, batch_size=256)
    for bs in (1, 7, 4096):
        assert np.array_equal(gen.generate(cond, seed=2, batch_size=bs), ref)


# --------------------------------------------------------------------------- 7. streaming convert
def test_convert_streams_and_round_trips(work, monkeypatch):
    import fastzdc.data as data_mod
    import fastzdc.workflows as wf

    def boom(*a, **k):
        raise AssertionError("convert must not load the whole dataset")

    monkeypatch.setattr(wf, "load_dataset", boom)
    monkeypatch.setattr(data_mod, "load_dataset", boom)
    from fastzdc.data.convert import convert_streaming

    ref = make_dataset(24, ZN, seed=5)
    written, rows, det = convert_streaming(work / "x.h5", work / "y_responses.npz", chunk=5)
    assert rows == 24 and det.name == "zn"
    convert_streaming(work / "y_responses.npz", work / "z.h5", chunk=7)
    with h5py.File(work / "z.h5") as f:
        assert np.array_equal(f["responses"][...], ref.responses)
        assert np.array_equal(f["conditions"][...], ref.conditions)
        assert np.array_equal(f["pdgid"][...], ref.pdgid)
    with np.load(work / "y_responses.npz", allow_pickle=False) as z:
        assert np.array_equal(z["arr_0"], ref.responses)


def test_convert_names_the_bad_row_of_a_later_chunk(work):
    from fastzdc.data.convert import convert_streaming

    ds = make_dataset(24, ZN, seed=5)
    resp = ds.responses.astype(np.int32)
    resp[17, 3, 3] = -1
    np.savez(work / "q_responses.npz", arr_0=resp)
    shutil.copy(work / "p_particles.npz", work / "q_particles.npz")
    with pytest.raises(FastZDCError, match="row 17"):
        convert_streaming(work / "q_responses.npz", work / "q.h5", chunk=5)
    assert not (work / "q.h5").exists()


# --------------------------------------------------------------------------- 8. property-based fuzzing
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(key=st.sampled_from(["format_version", "kind", "detector", "hparams", "scaler", "sampler", "name",
                            "weights_sha256", "hparams.widths", "hparams.blocks", "hparams.emb_dim"]),
       value=json_values)
def test_fuzz_checkpoint_config(tmp_path_factory, ckpt, key, value):
    folder = tmp_path_factory.mktemp("fuzzcfg")
    bad = folder / "ckpt"
    shutil.copytree(ckpt, bad)
    cfg = json.loads((bad / "config.json").read_text())
    if key.startswith("hparams."):
        cfg["hparams"][key.split(".", 1)[1]] = value
    else:
        cfg[key] = value
    (bad / "config.json").write_text(json.dumps(cfg))
    try:
        load_generator(bad, backend="torch")
    except FastZDCError as err:
        assert "\n" not in str(err)


@FUZZ
@given(key=st.sampled_from(["format_version", "detector", "noise_shape", "image_shape", "files", "sampler", "n_params",
                            "dequantized", "files.float32", "files.float32.file", "files.float32.sha256", "name"]),
       value=json_values)
def test_fuzz_model_card(tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("fuzzcard")
    export = folder / "export"
    shutil.copytree(ROOT / "weights" / "onnx" / "fmd-zn", export)
    card = json.loads((export / "model_card.json").read_text())
    parts = key.split(".")
    target = card
    for p in parts[:-1]:
        target = target[p]
    target[parts[-1]] = value
    (export / "model_card.json").write_text(json.dumps(card))
    try:
        load_generator(export)
    except FastZDCError as err:
        assert "\n" not in str(err)


dtypes = st.sampled_from(["uint8", "int16", "int64", "float32", "float64", "bool", "complex64", "U3"])
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)


@FUZZ
@given(dtype=dtypes, shape=shapes, pshape=shapes, seed=st.integers(0, 1000))
def test_fuzz_npz_pair(tmp_path_factory, dtype, shape, pshape, seed):
    folder = tmp_path_factory.mktemp("fuzznpz")
    rng = np.random.default_rng(seed)
    resp = (rng.normal(size=shape) * 3).astype(dtype) if dtype != "U3" else np.full(shape, "ab")
    np.savez(folder / "f_responses.npz", arr_0=resp)
    np.savez(folder / "f_particles.npz", arr_0=rng.normal(size=pshape))
    before = digest(folder)
    code, _, err = run_cli("convert", folder / "f_responses.npz", folder / "o.h5")
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert_one_line(code, err)
        assert not (folder / "o.h5").exists()
    assert digest(folder) == before or code == 0
    assert leftovers(folder) == []


@FUZZ
@given(blob=st.binary(min_size=0, max_size=300))
def test_fuzz_npz_bytes(tmp_path_factory, blob):
    folder = tmp_path_factory.mktemp("fuzzbytes")
    (folder / "f_responses.npz").write_bytes(blob)
    np.savez(folder / "f_particles.npz", arr_0=np.zeros((2, 10)))
    refused(folder, "convert", folder / "f_responses.npz", folder / "o.h5")
    refused(folder, "info", folder / "f_responses.npz")


@FUZZ
@given(rshape=shapes, cshape=shapes, rdtype=dtypes, det=st.sampled_from(["zn", "zp", "xx", ""]),
       drop=st.sampled_from(["", "pdgid", "conditions", "responses"]))
def test_fuzz_hdf5(tmp_path_factory, rshape, cshape, rdtype, det, drop):
    folder = tmp_path_factory.mktemp("fuzzh5")
    path = folder / "f.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        if drop != "responses":
            f["responses"] = (rng.normal(size=rshape) * 2).astype(rdtype) if rdtype != "U3" else np.full(rshape, b"ab")
        if drop != "conditions":
            f["conditions"] = rng.normal(size=cshape)
        if drop != "pdgid":
            f["pdgid"] = np.zeros(cshape[:1] if cshape else (0,), np.int64)
        if det:
            f.attrs["detector"] = det
    before = digest(folder)
    for args in (("info", path), ("convert", path, folder / "o_responses.npz")):
        code, _, err = run_cli(*args)
        assert code in (0, 2) and "Traceback" not in err, err
        if code == 2:
            assert_one_line(code, err)
    assert {k: v for k, v in digest(folder).items() if k == "f.h5"} == {"f.h5": before["f.h5"]}
    assert leftovers(folder) == []


def test_particle_shapes_fuzz_like_zp(work):
    ds = make_dataset(10, ZP, seed=3)
    write_h5(ds, work / "zp.h5")
    code, _, err = run_cli("convert", work / "zp.h5", work / "zp_responses.npz")
    assert code == 0, err


def test_a_signal_swallowed_in_a_callback_prints_no_traceback():
    """A signal that lands in a weakref or __del__ callback becomes an "unraisable" exception, which Python
    prints with a traceback; the CLI drops those (the signal is recorded and reported in one line) and
    passes every other unraisable exception on."""
    from types import SimpleNamespace

    from fastzdc.cli import _quiet_interrupts
    from fastzdc.errors import Interrupted

    seen = []
    hook = _quiet_interrupts(seen.append)
    hook(SimpleNamespace(exc_value=Interrupted(1)))
    hook(SimpleNamespace(exc_value=KeyboardInterrupt()))
    other = SimpleNamespace(exc_value=ValueError("x"))
    hook(other)
    assert seen == [other]

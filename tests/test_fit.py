"""``fastzdc fit``: the quick preset end to end on a tiny file, exact continuation after ``kill -9`` (mid-stage
and at a stage boundary), refusal of changed settings or data, and bad input refused before any training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastzdc import ZN, ZP
from fastzdc.data import write_h5
from fastzdc.errors import FastZDCError
from fastzdc.fit.manifest import Manifest

from .conftest import make_dataset

ROOT = Path(__file__).resolve().parents[1]

TINY = """
[train]
max_train_rows = 160
val_rows = 16
batch_size = 32
[fm]
epochs = 3
[fm.model]
widths = [4, 8, 8]
blocks = [1, 1, 1]
emb_dim = 16
[fm-distill]
epochs = 2
max_train_rows = 64
[fm-distill.model]
teacher_steps = 2
steps = 1
[vae]
epochs = 1
[vae.model]
enc_widths = [4, 8, 8]
dec_widths = [0, 8]
dec_hidden = 16
z_dim = 6
disc_widths = [4, 4, 8]
[latent-fm]
epochs = 2
[latent-fm.model]
hidden = 32
depth = 1
emb_dim = 16
[evaluate]
max_rows = 30
n_rep = 1
fidelity = false
[export]
models = ["lfm"]
"""
"""the quick preset made smaller still, so that the whole file runs in well under a minute (the FM UNet's
ONNX export alone takes about 10 s: the export stage is tested on the latent FM)"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    write_h5(make_dataset(300, ZN, seed=5), root / "zn.h5")
    (root / "tiny.toml").write_text(TINY)
    return root


def fit_args(files: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", "--data", str(files / "zn.h5"), "--out", str(out), "--preset", "quick", "--config",
            str(files / "tiny.toml"), *extra]


@pytest.fixture(scope="module")
def reference(files, one_torch_thread):
    """An uninterrupted quick fit of the FM and its student, run in-process."""
    from fastzdc.cli import main

    out = files / "ref"
    assert main(fit_args(files, out, "--json")) == 0
    return out


def weights(out: Path, name: str) -> bytes:
    return (out / "weights" / f"{name}-zn" / "weights.safetensors").read_bytes()


def manifest(out: Path) -> dict:
    return json.loads((out / "fit.json").read_text())


def test_quick_fit_of_fm_runs_every_stage(reference):
    m = manifest(reference)
    assert [s for s, e in m["stages"].items() if e["status"] == "done"] == ["split", "fm", "fm-distill", "evaluate", "export"]
    for name in ("fm", "fmd"):
        assert (reference / "weights" / f"{name}-zn" / "config.json").is_file()
    assert json.loads((reference / "weights" / "fmd-zn" / "config.json").read_text())["kind"] == "fm-distill"
    assert {p.name for p in (reference / "split").iterdir()} == {"train.h5", "val.h5", "test.h5", "scaler.json", "scaler.txt"}
    assert (reference / "eval" / "report.html").is_file()
    summary = json.loads((reference / "summary.json").read_text())
    names = [r["name"] for r in summary["scores"]]
    assert summary["scores"][0]["floor"] and "lookup-zn" in names and "fm-distill-zn" in names
    assert summary["onnx"] == {} and summary["test_rows"] == 30
    assert not [p for p in reference.rglob(".*") if p.name != ".gitignore"], "temporaries left behind"


def test_quick_fit_of_latent_fm(files, cli, one_torch_thread):
    out = files / "lfm"
    res = cli(*fit_args(files, out, "--model", "lfm"))
    assert res.code == 0, res.err
    assert "[3/6] latent-fm" in res.out and "[4/6] latent-fm-energy" in res.out and "lfm-zn" in res.out
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["stages"]) == ["split", "vae", "latent-fm", "latent-fm-energy", "evaluate", "export"]
    assert summary["onnx"] == {"lfm": "onnx/lfm-zn"}
    card = json.loads((out / "onnx" / "lfm-zn" / "model_card.json").read_text())
    assert card["kind"] == "latent-fm" and card["parity"]["float32"] < 1e-3
    assert (out / "onnx" / "lfm-zn" / "scaler.txt").read_text().startswith("#means")
    conf = json.loads((out / "weights" / "lfm-zn" / "config.json").read_text())
    assert conf["kind"] == "latent-fm" and conf["hparams"]["vae"] == str((out / "runs" / "vae" / "best").resolve())
    assert conf["hparams"]["w_energy"] > 0 and conf["train"]["init"].endswith("latent-fm/best")  # the fine-tuned flow ships


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not ready():
        assert proc.poll() is None, "the fit ended before it could be killed"
        assert time.monotonic() - t0 < timeout, "timed out waiting for the stage"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _epochs_saved(run: Path) -> int:
    try:
        return json.loads((run / "last" / "train_state.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_9_mid_stage_and_at_a_stage_boundary_then_the_same_command_gives_the_same_weights(files, reference, cli):
    out = files / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", "import sys; from fastzdc.cli import main; sys.exit(main())", *fit_args(files, out, "--json")]

    # 1. killed inside the FM stage, after its first epoch was saved and before its last
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: _epochs_saved(out / "runs" / "fm") >= 1)
    m = manifest(out)
    assert m["stages"]["fm"]["status"] == "running" and _epochs_saved(out / "runs" / "fm") < 3

    # 2. the same command, killed at the stage boundary: FM recorded done, the student not yet
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: manifest(out)["stages"].get("fm-distill") is not None)
    assert manifest(out)["stages"]["fm"]["status"] == "done"
    assert manifest(out)["stages"]["fm-distill"]["status"] == "running"

    # 3. the same command finishes: skips FM, and every weight equals the uninterrupted run's
    res = cli(*fit_args(files, out))
    assert res.code == 0, res.err
    assert "fm: done" in res.out and "skipped" in res.out
    for name in ("fm", "fmd"):
        assert weights(out, name) == weights(reference, name), name
    assert (out / "eval" / "report.html").is_file() and (out / "summary.json").is_file()


def test_changed_config_or_data_is_refused(files, reference, cli):
    changed = files / "changed.toml"
    changed.write_text(TINY.replace("[fm]\nepochs = 3", "[fm]\nepochs = 4"))
    res = cli("fit", "--data", files / "zn.h5", "--out", reference, "--preset", "quick", "--config", changed)
    assert res.code == 2 and "fm stage" in res.err and "other settings" in res.err and len(res.err.strip().splitlines()) == 1
    res = cli("fit", "--data", files / "zn.h5", "--out", reference, "--config", files / "tiny.toml")  # default preset
    assert res.code == 2 and "other settings" in res.err
    other = files / "other.h5"
    write_h5(make_dataset(300, ZN, seed=6), other)
    res = cli(*fit_args(files, reference)[:2], other, *fit_args(files, reference)[3:])
    assert res.code == 2 and "other data" in res.err
    assert manifest(reference)["data"]["path"].endswith("zn.h5")


def test_a_folder_of_a_plan_without_a_stage_is_refused_with_new_out_advice(tmp_path):
    data = {"path": "zn.h5", "sha256": "0" * 64}
    old = Manifest(tmp_path, data, "zn", {"vq": {"hash": "a", "status": "done"}, "evaluate": {"hash": "b", "status": "done"}})
    old.check_compatible(data, "zn", {"vq": "a", "evaluate": "b"})  # the same plan goes on
    with pytest.raises(FastZDCError, match="without the stage\\(s\\) vq-energy .*new --out") as err:
        old.check_compatible(data, "zn", {"vq": "a", "vq-energy": "c", "evaluate": "d"})
    assert "--preset" not in str(err.value)  # the same options would not help
    with pytest.raises(FastZDCError, match="--preset/--config/--init"):
        old.check_compatible(data, "zn", {"vq": "x", "evaluate": "b"})
    # a run of the same plan stopped after its first stage lacks the later ones: other settings, not another plan
    stopped = Manifest(tmp_path, data, "zn", {"fm": {"hash": "a", "status": "running"}})
    with pytest.raises(FastZDCError, match="--preset/--config/--init"):
        stopped.check_compatible(data, "zn", {"fm": "x", "fm-distill": "c", "evaluate": "d"})


def _bad_inputs(files: Path) -> dict[str, tuple[list, str]]:
    few = files / "few.h5"
    write_h5(make_dataset(40, ZN, seed=1), few)
    zp = files / "zp.h5"
    write_h5(make_dataset(120, ZP, seed=1), zp)
    unknown_key = files / "unknown_key.toml"
    unknown_key.write_text("[fm]\nepoch = 3\n")
    unknown_model_key = files / "unknown_model_key.toml"
    unknown_model_key.write_text("[fm.model]\nwidth = [4, 8]\n")
    unknown_stage = files / "unknown_stage.toml"
    unknown_stage.write_text("[fn]\nepochs = 3\n")
    bad_value = files / "bad_value.toml"
    bad_value.write_text("[evaluate]\nn_rep = 0\n")
    bad_vae = files / "bad_vae.toml"
    bad_vae.write_text("[vae]\nepochs = 0\n")
    readonly = files / "readonly"
    readonly.mkdir(exist_ok=True)
    readonly.chmod(0o555)
    return {
        "no file": (["--data", files / "missing.h5"], "file not found"),
        "wrong detector": (["--data", files / "zn.h5", "--detector", "zp"], "ZN responses, --detector says ZP"),
        "too few rows": (["--data", few], "too few rows"),
        "unknown option": (["--data", files / "zn.h5", "--config", unknown_key], "unknown config keys: epoch"),
        "unknown model option": (["--data", files / "zn.h5", "--config", unknown_model_key], "width"),
        "unknown stage": (["--data", files / "zn.h5", "--config", unknown_stage], "unknown stage [fn]"),
        "bad value": (["--data", files / "zn.h5", "--config", bad_value], "[evaluate] n_rep must be an integer >= 1"),
        "bad value of a stage not run": (["--data", zp, "--config", bad_vae], "[vae]"),
        "unwritable folder": (["--data", files / "zn.h5", "--out", readonly / "fit"], "not writable"),
        "foreign init": (["--data", files / "zn.h5", "--init", ROOT / "weights" / "fm-zp"], "ZP checkpoint"),
    }


@pytest.mark.parametrize("case", ["no file", "wrong detector", "too few rows", "unknown option", "unknown model option",
                                  "unknown stage", "bad value", "bad value of a stage not run", "unwritable folder", "foreign init"])
def test_bad_input_is_one_line_before_any_training(files, cli, case, tmp_path):
    if case == "unwritable folder" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    args, message = _bad_inputs(files)[case]
    out = tmp_path / "fit"
    if "--out" not in args:
        args = [*args, "--out", out]
    res = cli("fit", "--preset", "quick", *args)
    assert res.code == 2, res.err
    assert message in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert not out.exists(), "nothing may be written before the inputs are checked"


def test_one_fit_at_a_time_in_a_folder(files, reference, cli):
    import fcntl

    fd = os.open(reference / "fit.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = cli(*fit_args(files, reference))
    finally:
        os.close(fd)
    assert res.code == 2 and "another fit is running in this folder" in res.err


def test_a_folder_that_is_not_a_fit_is_refused(files, cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = cli(*fit_args(files, tmp_path))
    assert res.code == 2 and "holds no fit" in res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_fine_tunes_the_stage_of_its_kind(files, reference):
    from fastzdc.fit.plan import assign_init, make_plan, read_overrides

    plan = make_plan("zn", "fm", "quick", read_overrides(files / "tiny.toml"))
    before = plan.stage_hash("fm-distill")
    assert assign_init(plan, "fm", str(reference / "weights" / "fm-zn"), "ab" * 32) == "fm"
    assert plan.train["fm"].init.endswith("fm-zn") and not plan.train["fm-distill"].init
    assert plan.stage_hash("fm-distill") != before, "the student depends on its teacher's start"


def test_default_preset_is_the_shipped_recipe():
    """What the recipes ran: the configs as they are, one thread, the links between stages, and the final
    prior's short re-validation run from the first prior on the tuned decoder."""
    from fastzdc.fit.plan import configs_dir, make_plan
    from fastzdc.training.config import TrainConfig

    plan = make_plan("zp", "all", "default", {})
    assert plan.stages == ["split", "fm", "fm-distill", "vae", "latent-fm", "latent-fm-energy", "vq", "vq-prior", "vq-decoder", "vq-final",
                           "lookup", "evaluate", "export"]
    assert plan.products["vq"] == "vq-final"
    zn = make_plan("zn", "vq", "default", {})
    assert zn.stages[-4:] == ["vq-final", "vq-energy", "evaluate", "export"] and zn.products == {"vq": "vq-energy"}
    energy = zn.train["vq-energy"]
    shipped = TrainConfig.from_toml(configs_dir() / "vq-energy-zn.toml").to_dict()
    shipped["model"]["prior"] = "@vq-final"
    assert energy.to_dict() == {**shipped, "threads": 1}
    links = {"fm-distill": ("teacher", "@fm"), "latent-fm": ("vae", "@vae"), "latent-fm-energy": ("vae", "@vae"), "vq-prior": ("vq", "@vq"),
             "vq-decoder": ("tune_decoder", "@vq")}
    for stage, file in [("fm", "fm-zp"), ("fm-distill", "fm-distill-zp"), ("vae", "cvae-zp"), ("latent-fm", "lfm-cvae-zp"),
                        ("latent-fm-energy", "lfm-energy-zp"), ("vq", "vq-zp"), ("vq-prior", "vq-prior-zp"), ("vq-decoder", "vq-dec-zp")]:
        shipped = TrainConfig.from_toml(configs_dir() / f"{file}.toml").to_dict()
        if stage in links:  # the recipe's path of the earlier stage becomes that stage of this fit
            shipped["model"][links[stage][0]] = links[stage][1]
        init = {"init": "@latent-fm"} if stage == "latent-fm-energy" else {}
        assert plan.train[stage].to_dict() == {**shipped, "threads": 1, **init}, stage
    final = plan.train["vq-final"]
    assert (final.model["vq"], final.init, final.epochs, final.lr, final.max_train_rows) == ("@vq-decoder", "@vq-prior", 1, 1e-6, 2560)
    assert plan.options["export"]["models"] == ["fm", "fmd", "lfm"] and plan.options["export"]["fp16"]


@pytest.mark.parametrize("det, product, stage", [("zn", "fm", "fm"), ("zn", "fmd", "fm-distill"), ("zn", "lfm", "latent-fm-energy"),
                                                 ("zn", "vq", "vq-energy"), ("zp", "lfm", "latent-fm-energy"), ("zp", "vq", "vq-final")])
def test_default_preset_trains_with_the_settings_recorded_in_the_shipped_weights(det, product, stage):
    """Every shipped checkpoint records the training config it was made with: the default preset's is the same,
    up to the links between stages (paths there, stage names here), the thread count and device (they do not
    change the result) and keys the recorded config predates (at their defaults). weights/fm-zp came from the
    GPU recipe (batch 512, 20 epochs; docs/training.md) and is not compared."""
    from fastzdc.fit.plan import TRAINING, make_plan

    shipped = json.loads((ROOT / "weights" / f"{product}-{det}" / "config.json").read_text())
    recorded = shipped["train"]
    mine = make_plan(det, "all", "default", {}).train[stage].to_dict()
    links = set(TRAINING[stage].links)
    for key in set(recorded) - {"device", "threads", "init"}:
        if key == "sampler":  # the sampler the checkpoint ships with (set after training when it changed)
            assert {k: shipped["sampler"][k] for k in mine["sampler"]} == mine["sampler"]
        elif key == "model":
            same = {k: v for k, v in recorded["model"].items() if k not in links}
            assert same == {k: v for k, v in mine["model"].items() if k not in links}
        else:
            assert recorded[key] == mine[key], key
    assert bool(recorded.get("init")) == bool(TRAINING[stage].init_from)


def test_the_final_prior_is_the_first_priors_network(files):
    """[vq-prior] network settings (preset or --config) also shape vq-final, which starts from its weights;
    its loop settings stay the recipe's (one short epoch)."""
    from fastzdc.fit.plan import make_plan

    plan = make_plan("zn", "vq", "quick", {"vq-prior": {"epochs": 3, "model": {"n_layers": 2}, "sampler": {"top_k": 8}}})
    first, final = plan.train["vq-prior"], plan.train["vq-final"]
    assert {k: v for k, v in final.model.items() if k != "vq"} == {k: v for k, v in first.model.items() if k != "vq"}
    assert final.model["n_layers"] == 2 and final.sampler == first.sampler == {**final.sampler, "top_k": 8}
    assert (first.epochs, final.epochs, final.lr) == (3, 1, 1e-6)

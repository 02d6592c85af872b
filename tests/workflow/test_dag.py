"""Dry runs: the DAG the workflow builds for several configs."""

from __future__ import annotations

import re

from workflow_helpers import demo_config, run_workflow

from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.stimuli import check_stimuli, read_table


def job_counts(stdout: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table."""
    block = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def benchmarked(stdout: str) -> dict[str, int]:
    """Benchmark files summarize_benchmarks reads, counted by rule."""
    block = stdout.split("rule summarize_benchmarks:")[1]
    files = re.search(r"^\s+input: (.*)$", block, re.M)[1].split(", ")
    counts: dict[str, int] = {}
    for path in files:
        assert path.startswith("logs/benchmarks/") and path.endswith(".tsv"), path
        rule = path.split("/")[2]
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def test_demo_dag(tmp_path):
    """The demo's jobs: AlexNet in every analysis; ResNet-50 (rsa.models and decoding.models
    leave it out) extracted, reduced, encoded, mapped and pictured only."""
    config = demo_config()
    assert list(config["models"]) == ["alexnet", "resnet50"]
    assert config["rsa"]["models"] == config["decoding"]["models"] == ["alexnet"]
    proc = run_workflow(tmp_path, config, "-n", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr
    proc = run_workflow(tmp_path, config, "-n")
    counts = job_counts(proc.stdout)
    layers, rois, subjects = 8, len(config["brain"]["rois"]), 2
    models, all_layers = 2, layers + 6  # AlexNet's 8 layers, ResNet-50's 6
    assert counts["check_stimuli"] == 1
    assert counts["extract_activations"] == models
    assert counts["reduce_features"] == all_layers
    assert counts["simulate_brain"] == subjects
    assert counts["extract_roi"] == subjects * rois
    assert counts["summarize_brain"] == 1
    assert counts["encode"] == all_layers * rois * subjects
    assert counts["encoding_maps"] == subjects * models
    assert counts["summarize_encoding"] == 1 and counts["plot_encoding"] == 1
    assert counts["summarize_benchmarks"] == 1
    assert counts["rdm_model"] == layers
    assert counts["rdm_brain"] == subjects * rois
    assert counts["rsa"] == subjects * rois
    assert counts["plot_rdms"] == 1
    assert "searchlight" not in counts
    assert counts["decode"] == layers  # one attribute (category)
    assert counts["decode_brain"] == subjects * rois
    assert counts["probing_profile"] == 1 and counts["summarize_brain_decoding"] == 1
    assert "results/encoding/sub-02/resnet50/avgpool/AUD.h5" in proc.stdout
    assert "results/rdm/resnet50/" not in proc.stdout
    assert "results/decoding/resnet50/" not in proc.stdout
    # simulation, ROIs, encodings, encoding maps, brain RDMs, RSA, brain decoding
    per_subject = 1 + rois + all_layers * rois + models + rois + rois + rois
    rsa_steps = layers + 3  # model RDMs, summarize_rsa, plot_rsa, plot_rdms
    assert counts["rsa_group"] == rois and counts["rsa_partition"] == rois
    assert counts["rsa_reweighting"] == subjects * rois
    assert counts["rdm_remix"] == layers and counts["rsa_remix"] == subjects * rois
    assert counts["collect_rsa_table"] == 3 and counts["plot_rsa_advanced"] == 1
    # group, partition, reweighting, remixed RDMs, remixed RSA, the summaries and the figure
    rsa_steps += 2 * rois + 2 * subjects * rois + layers + 3 + 1 + 1
    decoding_steps = layers + 2  # decode per layer, the probing profile, the brain summary
    # stacking: a job per subject, set and ROI; maps per subject and set; figure per subject
    sets = len(config["stacking"]["sets"])
    assert sets == 3
    assert counts["stack"] == subjects * sets * rois
    assert counts["stacking_maps"] == subjects * sets and counts["plot_stacking"] == subjects
    assert counts["summarize_stacking"] == 1
    stacking_steps = subjects * (sets * rois + sets + 1) + 1
    # joint: one set (partition per subject x ROI, maps per subject, table and figure) and
    # one comparison pair (per subject x ROI, its table)
    assert counts["joint_partition"] == subjects * rois and counts["joint_maps"] == subjects
    assert counts["compare_spaces"] == subjects * rois
    assert counts["summarize_joint"] == 1 and counts["summarize_compare"] == 1
    joint_steps = 2 * subjects * rois + subjects + 2
    # summaries: brain, encoding table and figure, benchmarks; and `all`
    total = 1 + models + all_layers + subjects * per_subject + 5 + rsa_steps + decoding_steps
    total += stacking_steps + joint_steps
    # interpret: top stimuli, saliency and synthesis of one layer's units, and of one subject's
    # ROI through one layer's encoding model (its read-out refit and channel ablation besides)
    for rule in ("top", "saliency", "synthesis"):
        assert counts[f"interpret_{rule}_units"] == 1 and counts[f"interpret_{rule}_brain"] == 1
    assert counts["interpret_readout"] == counts["interpret_ablation"] == 1
    assert counts["interpret_receptive_fields"] == 1
    assert counts["interpret_finetune"] == 1  # AlexNet's last layer on the category
    assert counts["interpret_decoding_ablation"] == 1  # conv3's channels, the category
    assert "interpret_upstream_ablation" not in counts  # not in the demo (about 12 s)
    total += 11
    assert counts["plot_brain_maps"] == subjects * models  # a brain picture per subject x model
    total += subjects * models
    assert counts["total"] == total
    # Every job of every rule with a benchmark: directive, and nothing else.
    assert benchmarked(proc.stdout) == {
        "extract_activations": models,
        "reduce_features": all_layers,
        "encode": all_layers * rois * subjects,
        "joint_partition": subjects * rois,
        "rsa": subjects * rois,
        "decode": layers,
        "decode_brain": subjects * rois,
        "stack": subjects * sets * rois,
    }


def test_searchlight_and_no_rsa_dags(tmp_path):
    config = demo_config()
    config["rsa"]["searchlight"] = {"enabled": True, "n_shards": 3}
    proc = run_workflow(tmp_path / "on", config, "-n")
    counts = job_counts(proc.stdout)
    assert counts["searchlight"] == 2 * 3
    assert benchmarked(proc.stdout)["searchlight"] == 2 * 3
    assert counts["merge_searchlight"] == 2
    config["rsa"]["advanced"] = {"remix": False}  # no partition sets, no remixing
    counts = job_counts(run_workflow(tmp_path / "basic", config, "-n").stdout)
    rois = len(config["brain"]["rois"])
    assert counts["rsa_reweighting"] == 2 * rois and counts["rsa_group"] == rois
    assert not {"rsa_partition", "rdm_remix", "rsa_remix"} & set(counts)
    assert counts["collect_rsa_table"] == 2  # group and reweighting
    config["rsa"] = {"enabled": False}
    config["decoding"] = {"enabled": False}
    config["stacking"] = {"sets": {}}  # no stack set, no stacking
    config["joint"] = {}  # no sets, no pairs: no joint jobs
    proc = run_workflow(tmp_path / "off", config, "-n")
    counts = job_counts(proc.stdout)
    assert not {"joint_partition", "joint_maps", "compare_spaces", "summarize_joint"} & set(counts)
    assert not {"rdm_brain", "rsa", "summarize_rsa", "searchlight", "rsa_group"} & set(counts)
    assert not {"decode", "decode_brain", "probing_profile"} & set(counts)
    assert not {"stack", "stacking_maps", "summarize_stacking", "plot_stacking"} & set(counts)
    assert set(benchmarked(proc.stdout)) == {"extract_activations", "reduce_features", "encode"}


def test_two_models_dag(tmp_path):
    config = demo_config(["alexnet"])
    config["models"]["resnet18"] = {
        "architecture": "resnet18",
        "weights": "none",
        "layers": ["layer1", "layer4"],
    }
    # a stack set of spaces from two models
    config["stacking"]["sets"]["two_models"] = {"alexnet": ["fc7"], "resnet18": ["layer4"]}
    proc = run_workflow(tmp_path, config, "-n")
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert counts["extract_activations"] == 2
    assert counts["reduce_features"] == 8 + 2
    assert counts["encode"] == (8 + 2) * len(config["brain"]["rois"]) * 2
    assert counts["encoding_maps"] == 2 * 2
    assert counts["stack"] == 4 * len(config["brain"]["rois"]) * 2
    assert "results/features/resnet18/layer4.h5, results/brain/sub-01/V1.h5" in proc.stdout


def test_user_cifti_dag_has_no_simulation(tmp_path):
    """A subject with its own CIFTI file: no simulate_brain job, ROIs read from that file."""
    config = demo_config(["alexnet"])
    table = check_stimuli(read_table(config["stimuli"]["table"]), config["stimuli"]["table"])
    brain = tmp_path / "sub-real.dscalar.nii"
    axis = fslr32k_brain_models()
    write_dscalar(brain, [[0.0] * len(axis)] * len(table), list(table["stim_id"]), axis)
    config["brain"]["subjects"] = {"sub-real": {"responses": str(brain)}}
    del config["simulation"]
    config.pop("interpret", None)  # it names the demo's subjects
    proc = run_workflow(tmp_path / "run", config, "-n")
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert "simulate_brain" not in counts
    rois = len(config["brain"]["rois"])
    assert counts["extract_roi"] == rois
    assert counts["encode"] == 8 * rois


def test_mgh_map_names_sidecars_are_outputs(tmp_path):
    """An MGH fsaverage5 subject: every map rule runs as its MGH twin, which declares each
    map's names sidecar (<stem>.lh.names.tsv) as an output beside it."""
    import nibabel as nib
    import numpy as np

    config = demo_config(["alexnet"])
    ids = list(read_table(config["stimuli"]["table"])["stim_id"])
    n_vert = 10242  # fsaverage5
    entry = {"responses": {}, "roi_files": []}
    for hemi, side in (("lh", "left"), ("rh", "right")):
        frames = np.zeros((n_vert, 1, 1, len(ids)), np.float32)
        nib.save(nib.MGHImage(frames, np.eye(4)), tmp_path / f"{hemi}.b.mgz")
        entry["responses"][side] = str(tmp_path / f"{hemi}.b.mgz")
        label = tmp_path / f"{hemi}.early.label"
        label.write_text("#!ascii label\n2\n0  0.0  0.0  0.0 0.0\n1  0.0  0.0  0.0 0.0\n")
        entry["roi_files"].append(str(label))
    config["brain"] = {"subjects": {"sub-mgh": entry}, "rois": {"early": ["early"]}}
    del config["simulation"]
    config.pop("interpret", None)  # it names the demo's subjects
    config["rsa"]["searchlight"] = {"enabled": True, "n_shards": 1}
    proc = run_workflow(tmp_path / "run", config, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    per_hemi = {
        "encoding_maps": 1,
        "stacking_maps": len(config["stacking"]["sets"]),
        "joint_maps": len(config["joint"]["sets"]),
        "merge_searchlight": 1,
    }
    for rule, n in per_hemi.items():
        assert rule not in counts and counts[f"{rule}_mgh"] == 2 * n > 0
    outputs = re.findall(r"^\s+output: (.*)$", proc.stdout, re.M)
    maps = [p for line in outputs for p in line.split(", ") if p.endswith(".mgz")]
    names = {p for line in outputs for p in line.split(", ") if p.endswith(".names.tsv")}
    assert maps and {m.replace(".mgz", ".names.tsv") for m in maps} == names
    assert "results/maps/sub-mgh/alexnet/encoding_logp.rh.names.tsv" in names

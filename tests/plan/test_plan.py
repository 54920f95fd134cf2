"""The run plan computed from the config: what the rules build and in which combinations."""

import copy
import dataclasses
import math
import re

import pytest
import yaml
from conftest import REPO_ROOT

from tvdeploy.plan import ConfigError, Plan, list_clips, list_images
from tvdeploy.plan.config import image_labels
from tvdeploy.plan.inputs import published_accuracy
from tvdeploy.registry import CPP, PYTHON, RUNTIMES

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
TORCHSCRIPT_RUNTIMES = ["eager", "ts-python", "ts-cpp"]
PEERS = ["onnxruntime", "openvino-python"]


# A CPU without native bfloat16 or int8 (an AVX2 EPYC), so that a plan is the same on every machine.
AVX2_CPU = frozenset({"avx2", "fma"})
VNNI_CPU = frozenset({"avx2", "fma", "avx512f", "avx512_vnni"})


def plan(gpu=False, flags=AVX2_CPU, **overrides):
    config = copy.deepcopy(DEFAULT)
    config.update({"models": ["resnet18", "inception_v3"], **overrides})
    return Plan.from_config(config, REPO_ROOT, has_gpu=lambda: gpu, flags=lambda: flags)


def test_default_plan_on_a_cpu_machine():
    # The default compares against the peers users pick instead of TorchScript.
    assert plan().runtimes == TORCHSCRIPT_RUNTIMES + PEERS
    p = plan(runtimes=TORCHSCRIPT_RUNTIMES)
    assert p.devices == ["cpu"]
    # TorchScript as scripted and as fused by oneDNN Graph, LibTorch's fast CPU path; bfloat16
    # and int8 where the CPU has them (not this one: see test_int8_... and test_the_bfloat16_...).
    assert DEFAULT["variants"] == ["plain", "fused", "bf16", "fused_bf16", "int8"]
    assert set(p.skipped_variants("cpu")) == {"bf16", "fused_bf16", "int8"}
    deployments = [("eager", "plain"), ("ts-python", "plain"), ("ts-python", "fused")]
    deployments += [("ts-cpp", "plain"), ("ts-cpp", "fused")]
    assert p.deployments() == [("cpu", *d) for d in deployments]
    assert p.deployments(CPP) == [("cpu", "ts-cpp", "plain"), ("cpu", "ts-cpp", "fused")]
    assert list(p.images) == ["chelsea_cat", "coffee_cup", "falcon9_rocket"] and p.bench_image == "chelsea_cat"
    # Two models with different preprocessing recipes, three images each.
    assert sorted(p.specs) == ["r256_c224_bilinear_in1k", "r342_c299_bilinear_in1k"]
    assert p.dats("inception_v3")[0] == "results/inputs/r342_c299_bilinear_in1k/chelsea_cat.dat"
    assert len(p.comparison_files()) == 2 and len(p.prediction_items()) == 2 * 5  # one comparison per model
    assert p.comparison_files()[0] == f"results/runs/{p.run}/compare/cpu/b1/resnet18.json"
    assert p.comparison_deployments("cpu") == deployments
    assert p.tables()[0].startswith("results/tables/")
    assert p.derived_torchscript() == [{"device": "cpu", "variant": "fused", "model": m} for m in p.models]


def test_variants_and_devices_multiply_and_fp16_stays_on_cuda():
    p = plan(gpu=True, devices=["cpu", "auto"], variants=["plain", "frozen", "fp16"])
    assert p.devices == ["cpu", "cuda"]
    cpu = [(r, v) for d, r, v in p.deployments() if d == "cpu"]
    cuda = [(r, v) for d, r, v in p.deployments() if d == "cuda"]
    assert ("ts-cpp", "fp16") not in cpu and ("ts-cpp", "fp16") in cuda
    assert ("eager", "frozen") not in cpu  # eager runs its plain model only
    assert {(w["device"], w["variant"]) for w in p.derived_torchscript()} == {
        ("cpu", "frozen"),
        ("cuda", "frozen"),
        ("cuda", "fp16"),
    }
    batches = [1, 8]
    p2 = plan(
        runtimes=TORCHSCRIPT_RUNTIMES, variants=["plain", "frozen"], bench={**DEFAULT["bench"], "batch_sizes": batches}
    )
    assert len(p2.comparison_files()) == 2 * len(batches)
    assert len(p2.comparison_deployments("cpu")) == 1 + 2 + 2
    # Five workers of the model at once.
    assert p2.comparison_mem_mb("cpu", "resnet18", 8) == 5 * p2.run_mem_mb("resnet18", 8)


def test_comparison_pairs_are_the_ratios_that_matter():
    p = plan(runtimes=TORCHSCRIPT_RUNTIMES, variants=["plain", "frozen"])
    pairs = {(x["kind"], "/".join(x["candidate"]), "/".join(x["reference"])) for x in p.comparison_pairs("cpu")}
    assert pairs == {
        ("vs_eager", "ts-python/plain", "eager/plain"),
        ("vs_eager", "ts-python/frozen", "eager/plain"),
        ("vs_eager", "ts-cpp/plain", "eager/plain"),
        ("vs_eager", "ts-cpp/frozen", "eager/plain"),
        ("cross_language", "ts-cpp/plain", "ts-python/plain"),
        ("cross_language", "ts-cpp/frozen", "ts-python/frozen"),
        ("vs_plain", "ts-python/frozen", "ts-python/plain"),
        ("vs_plain", "ts-cpp/frozen", "ts-cpp/plain"),
    }
    # Without eager there is no baseline pair, the others stay.
    kinds = {x["kind"] for x in plan(runtimes=["ts-python", "ts-cpp"], variants=["plain"]).comparison_pairs("cpu")}
    assert kinds == {"cross_language"}


def test_peer_runtimes_join_every_comparison_and_openvino_stays_on_the_cpu():
    p = plan(gpu=True, devices=["cpu", "cuda"])
    assert ("openvino-python", "plain") in p.comparison_deployments("cpu")
    assert ("openvino-python", "plain") not in p.comparison_deployments("cuda")
    assert ("onnxruntime", "plain") in p.comparison_deployments("cuda")
    pairs = p.comparison_pairs("cpu")
    peer = {("/".join(x["candidate"]), "/".join(x["reference"])) for x in pairs if x["kind"] == "vs_peer"}
    # Every deployment but eager and the peer itself against ONNX Runtime.
    deployments = ["ts-python/plain", "ts-python/fused", "ts-cpp/plain", "ts-cpp/fused", "openvino-python/plain"]
    assert peer == {(d, "onnxruntime/plain") for d in deployments}
    vs_eager = {x["candidate"][0] for x in p.comparison_pairs("cpu") if x["kind"] == "vs_eager"}
    assert vs_eager == {"ts-python", "ts-cpp", *PEERS}
    assert p.artifact("onnxruntime", "cpu", "plain", "resnet18") == "results/onnx/resnet18"
    assert p.artifact("openvino-python", "cpu", "plain", "resnet18") == "results/openvino/resnet18"
    assert p.built_artifacts() == ["onnx", "openvino"]
    assert plan(runtimes=TORCHSCRIPT_RUNTIMES).built_artifacts() == []
    # Checked against eager, like TorchScript.
    parity = {x["runtime"]: x["reference"] for x in p.parity_pairs("cpu", "resnet18")}
    assert parity["onnxruntime"] == "eager" and parity["openvino-python"] == "eager"
    assert "openvino-python" not in {x["runtime"] for x in p.parity_pairs("cuda", "resnet18")}


def test_cuda_graphs_runtime_joins_only_the_gpu_comparison():
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=["eager", "compile", "compile-cudagraphs"])
    assert ("compile-cudagraphs", "plain") in p.comparison_deployments("cuda")
    assert ("compile-cudagraphs", "plain") not in p.comparison_deployments("cpu")
    parity = {x["runtime"]: x["reference"] for x in p.parity_pairs("cuda", "resnet18")}
    assert parity["compile-cudagraphs"] == "eager"


def test_cuda_graph_replay_is_a_gpu_variant_of_torchscript_and_aoti():
    runtimes = ["eager", "ts-python", "ts-cpp", "aoti-python", "aoti-cpp"]
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=runtimes, variants=["plain", "cudagraphs"])
    replayed = {(r, v) for r, v in p.comparison_deployments("cuda") if v == "cudagraphs"}
    assert replayed == {(r, "cudagraphs") for r in runtimes[1:]}
    assert all(v == "plain" for _, v in p.comparison_deployments("cpu"))
    # The replay is a load transform: the AOTInductor package is the one built for the device.
    assert p.artifact("aoti-cpp", "cuda", "cudagraphs", "resnet18") == p.artifact(
        "aoti-cpp", "cuda", "plain", "resnet18"
    )
    assert p.derived_torchscript() == [{"device": "cuda", "variant": "cudagraphs", "model": m} for m in p.models]
    parity = {(x["runtime"], x["variant"]): x["reference"] for x in p.parity_pairs("cuda", "resnet18")}
    assert parity["aoti-cpp", "plain"] == "aoti-python"
    assert parity["aoti-cpp", "cudagraphs"] == "aoti-python/cudagraphs"
    assert parity["ts-cpp", "cudagraphs"] == "ts-python/cudagraphs"
    gains = {"/".join(x["candidate"]) for x in p.comparison_pairs("cuda") if x["kind"] == "vs_plain"}
    assert gains == {f"{r}/cudagraphs" for r in runtimes[1:]}
    # A package runs as built whatever TorchScript variants are chosen.
    assert plan(runtimes=["eager", "aoti-cpp"], variants=["fused"]).comparison_deployments("cpu") == [
        ("eager", "plain"),
        ("aoti-cpp", "plain"),
    ]


def test_fp16_aoti_package_is_a_build_of_its_own_on_cuda():
    runtimes = ["eager", "ts-cpp", "aoti-python", "aoti-cpp"]
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=runtimes, variants=["plain", "fp16", "cudagraphs"])
    assert ("aoti-cpp", "fp16") in p.comparison_deployments("cuda")
    # Half precision is a GPU variant: the CPU package stays float32.
    assert ("aoti-cpp", "fp16") not in p.comparison_deployments("cpu")
    assert p.artifact("aoti-cpp", "cuda", "fp16", "resnet18") == "results/aoti/cuda/fp16/resnet18"
    # cudagraphs replays the float32 package; fp16 loads its own.
    assert p.artifact("aoti-python", "cuda", "cudagraphs", "resnet18") == "results/aoti/cuda/plain/resnet18"
    built = {(w["device"], w["variant"]) for w in p.artifact_builds()["package_aoti"]}
    assert built == {("cpu", "plain"), ("cuda", "plain"), ("cuda", "fp16")}
    parity = {(x["runtime"], x["variant"]): x["reference"] for x in p.parity_pairs("cuda", "resnet18")}
    assert parity["aoti-python", "fp16"] == "eager"
    assert parity["aoti-cpp", "fp16"] == "aoti-python/fp16"
    # Against float32 eager, half precision is held to its own tolerance.
    assert p.parity_rtol("cuda", "fp16") == p.config["parity"]["fp16_rtol"]


def test_artifacts_follow_the_runtime():
    p = plan()
    assert p.artifact("eager", "cpu", "plain", "resnet18") == "data/weights/resnet18.pth"
    assert p.artifact("ts-cpp", "cpu", "plain", "resnet18") == "results/torchscript/plain/resnet18.pt"
    assert p.artifact("ts-python", "cuda", "frozen", "resnet18") == "results/torchscript/cuda/frozen/resnet18.pt"
    with pytest.raises(ConfigError, match="eager has no variant 'frozen'"):
        p.artifact("eager", "cpu", "frozen", "resnet18")


def test_parity_pairs_follow_the_reference_chain():
    p = plan(runtimes=TORCHSCRIPT_RUNTIMES)
    pairs = {(x["runtime"], x["variant"]): x for x in p.parity_pairs("cpu", "resnet18")}
    assert set(pairs) == {("ts-python", "plain"), ("ts-cpp", "plain"), ("ts-python", "fused"), ("ts-cpp", "fused")}
    assert pairs["ts-python", "plain"]["reference"] == "eager"
    assert pairs["ts-python", "fused"]["reference"] == "eager"
    assert pairs["ts-cpp", "fused"]["reference"] == "ts-python/fused"
    assert (
        pairs["ts-python", "plain"]["reference_file"]
        == f"results/runs/{p.run}/predictions/cpu/eager/plain/resnet18.json"
    )
    assert pairs["ts-cpp", "plain"]["reference"] == "ts-python/plain"
    assert pairs["ts-cpp", "plain"]["rtol"] == DEFAULT["parity"]["rtol"]
    assert len(p.parity_inputs("cpu", "resnet18")) == 5  # every prediction once
    # Without ts-python, C++ is checked against eager directly.
    direct = plan(runtimes=["eager", "ts-cpp"], variants=["plain"]).parity_pairs("cpu", "resnet18")
    assert [(x["runtime"], x["reference"]) for x in direct] == [("ts-cpp", "eager")]
    # Eager alone has nothing to be compared with.
    assert plan(runtimes=["eager"]).parity_pairs("cpu", "resnet18") == []


def test_parity_tolerances_by_device_and_precision():
    p = plan(gpu=True, variants=["plain", "fp16"])
    pairs = {(x["runtime"], x["variant"]): x for x in p.parity_pairs("cuda", "resnet18")}
    assert pairs["ts-python", "fp16"]["rtol"] == DEFAULT["parity"]["fp16_rtol"]  # half vs float32 eager
    assert pairs["ts-cpp", "fp16"]["rtol"] == DEFAULT["parity"]["cuda_rtol"]  # half vs half
    assert pairs["ts-python", "plain"]["rtol"] == DEFAULT["parity"]["cuda_rtol"]  # TF32 convolutions
    assert p.parity_rtol("cpu", "frozen") == DEFAULT["parity"]["rtol"]


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="'resnet19' \\(closest: resnet18"):
        plan(models=["resnet19"])
    with pytest.raises(ConfigError, match="unknown runtime 'onnx'"):
        plan(runtimes=["eager", "onnx"])
    with pytest.raises(ConfigError, match="bench.image: 'dog'"):
        plan(bench={**DEFAULT["bench"], "image": "dog"})
    with pytest.raises(ConfigError, match="max_iters=1 < min_iters=10"):
        plan(bench={**DEFAULT["bench"], "max_iters": 1})
    with pytest.raises(ConfigError, match="compare.launches \\(9\\) must not exceed compare.min_rounds \\(4\\)"):
        plan(compare={**DEFAULT["compare"], "launches": 9})
    with pytest.raises(ConfigError, match="compare.min_rounds \\(11\\) must not exceed bench.rounds \\(10\\)"):
        plan(compare={**DEFAULT["compare"], "min_rounds": 11})
    with pytest.raises(ConfigError, match="closest: resnet18"):
        plan().model("resnet19")
    with pytest.raises(ConfigError, match="no selected model uses preprocessing spec"):
        plan().spec("r1_c1_bilinear_in1k")


def test_list_images_refuses_ambiguous_or_empty_folders(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert list(list_images(tmp_path)) == ["a"]
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ConfigError, match="share the name 'a'"):
        list_images(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no image files"):
        list_images(empty)
    with pytest.raises(ConfigError, match="is not a directory"):
        list_images(tmp_path / "missing")


def test_a_labeled_folder_in_the_imagenet_validation_layout_names_each_images_class(tmp_path):
    val = tmp_path / "val"
    for wnid, names in {
        "n01440764": ["ILSVRC2012_val_00000293"],
        "n01443537": ["b", "ILSVRC2012_val_00000236"],
    }.items():
        (val / wnid).mkdir(parents=True)
        for name in names:
            (val / wnid / f"{name}.JPEG").write_bytes(b"")
    images = list_images(val)
    assert list(images) == ["ILSVRC2012_val_00000236", "ILSVRC2012_val_00000293", "b"]
    assert image_labels(images, val) == {
        "ILSVRC2012_val_00000236": "n01443537",
        "ILSVRC2012_val_00000293": "n01440764",
        "b": "n01443537",
    }
    config = {**copy.deepcopy(DEFAULT), "models": ["resnet18"], "images": str(val)}
    labeled = Plan.from_config(config, REPO_ROOT, has_gpu=lambda: False, flags=lambda: frozenset())
    assert labeled.image_labels["b"] == "n01443537" and labeled.bench_image == "ILSVRC2012_val_00000236"
    assert plan().image_labels == {}  # data/images: a plain folder
    # The same name in two classes, an image beside the class folders, a class that is no wnid.
    (val / "n01440764" / "b.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="share the name 'b'"):
        list_images(val)
    (val / "n01440764" / "b.png").unlink()
    (val / "loose.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds both images .loose.png. and class folders"):
        list_images(val)
    (val / "loose.png").unlink()
    (val / "cats").mkdir()
    with pytest.raises(ConfigError, match="class folder 'cats' .* is no ImageNet WordNet id"):
        list_images(val)


def test_video_models_take_the_clips_and_image_models_the_images():
    p = plan(models=["r3d_18", "mc3_18", "resnet18", "swin3d_t"])
    assert list(p.clips) == ["chelsea_pan"] and p.bench_clip == "chelsea_pan"
    r3d, swin = p.model("r3d_18").spec_id, p.model("swin3d_t").spec_id
    # The ResNet-3Ds share one recipe; each video recipe preprocesses the clips, not the images.
    assert len(p.specs) == 3 and p.model("mc3_18").spec_id == r3d
    assert p.dats("r3d_18") == [f"results/inputs/{r3d}/chelsea_pan.dat"]
    assert p.bench_dats("swin3d_t") == [f"results/inputs/{swin}/chelsea_pan.dat"]
    (bench,) = p.bench_dats("resnet18")
    assert bench.endswith("/chelsea_cat.dat") and len(p.dats("resnet18")) == 3
    jobs = p.job_wildcards()["preprocess_image"]
    assert {"spec": r3d, "image": "chelsea_pan"} in jobs and {"spec": r3d, "image": "chelsea_cat"} not in jobs
    assert len(jobs) == 3 + 1 + 1
    assert p.model_inputs.input_file(swin, "chelsea_pan") == REPO_ROOT / "data" / "clips" / "chelsea_pan.mp4"
    with pytest.raises(ConfigError, match="has no input 'chelsea_cat'"):
        p.model_inputs.input_file(swin, "chelsea_cat")
    assert re.fullmatch(p.wildcard_constraints()["image"], "chelsea_pan")
    assert all(re.fullmatch(p.wildcard_constraints()["spec"], spec) for spec in plan(models="all").specs)
    # The inputs' sidecars are checked against NCTHW with T = clip_len and H = W = crop.
    assert p.expected_input("swin3d_t") == {
        "model": "swin3d_t",
        "layout": "NCTHW",
        "axes": {"C": 3, "T": 32, "H": 224, "W": 224},
    }


def test_optical_flow_models_take_the_pairs_one_dat_per_argument():
    p = plan(models=["raft_small", "resnet18"])
    assert p.pairs == {
        "chelsea_pan": (
            REPO_ROOT / "data" / "pairs" / "chelsea_pan_1.png",
            REPO_ROOT / "data" / "pairs" / "chelsea_pan_2.png",
        )
    }
    assert p.bench_pair == "chelsea_pan"
    raft = p.model("raft_small").spec_id
    # Each call's files in the task's argument order; the benchmarks' call is the bench pair's.
    files = [f"results/inputs/{raft}/chelsea_pan.image1", f"results/inputs/{raft}/chelsea_pan.image2"]
    assert p.dats("raft_small") == p.bench_dats("raft_small") == [f"{f}.dat" for f in files]
    assert p.sidecars("raft_small") == p.bench_sidecars("raft_small") == [f"{f}.json" for f in files]
    jobs = p.job_wildcards()
    assert jobs["preprocess_pair"] == [{"spec": raft, "image": "chelsea_pan"}]
    assert all(j["spec"] != raft for j in jobs["preprocess_image"]) and len(jobs["preprocess_image"]) == 3
    assert p.model_inputs.input_file(raft, "chelsea_pan") == p.pairs["chelsea_pan"]
    # A flow names no classes: no labels file, and no job writes one.
    assert p.labels("raft_small") == [] and p.labels("resnet18") == ["results/labels/resnet18.txt"]
    assert jobs["write_labels"] == [{"model": "resnet18"}]
    # The pair's name is a wildcard value, and its members' stems are not.
    assert re.fullmatch(p.wildcard_constraints()["image"], "chelsea_pan")
    assert not re.fullmatch(p.wildcard_constraints()["image"], "chelsea_pan.image1")
    # The overhead probe takes one tensor: the first argument of the first model's call.
    assert p.overhead_dat() == f"{files[0]}.dat"
    assert p.expected_input("raft_small") == {"model": "raft_small", "layout": "NCHW", "axes": {"C": 3}}


def test_a_detector_takes_one_image_per_call_and_is_compared_at_batch_1_alone():
    detector = "fasterrcnn_mobilenet_v3_large_320_fpn"
    p = plan(models=[detector, "resnet18"], bench={**DEFAULT["bench"], "batch_sizes": [1, 8]})
    spec = p.model(detector).spec_id
    assert spec.startswith("full_nocrop_n") and "resize_size" not in p.spec(spec)
    # One CHW .dat per image, its own size; the benchmarks' call is the bench image's.
    assert p.dats(detector) == [f"results/inputs/{spec}/{i}.dat" for i in p.images]
    assert p.bench_dats(detector) == [f"results/inputs/{spec}/{p.bench_image}.dat"]
    assert p.expected_input(detector) == {"model": detector, "layout": "CHW", "axes": {"C": 3}}
    # COCO's categories name classes: a labels file.
    assert p.labels(detector) == [f"results/labels/{detector}.txt"]
    # The task takes one image per call: batch 1 alone, the classifier at both sizes.
    compared = [f for f in p.comparison_files() if f.endswith(f"/{detector}.json")]
    assert compared == [f"results/runs/{p.run}/compare/cpu/b1/{detector}.json"]
    assert len([f for f in p.comparison_files() if f.endswith("/resnet18.json")]) == 2
    p.check_batch(detector, 1)
    p.check_batch("resnet18", 8)
    with pytest.raises(ConfigError, match=f"{detector} is a detection model.*batch 1 alone, not at batch 8"):
        p.check_batch(detector, 8)


def test_a_flow_model_needs_a_pair_folder_an_image_run_does_not(tmp_path):
    assert plan(pairs=None).pairs == {}
    with pytest.raises(ConfigError, match=r"no pair folder configured, but the optical-flow models \['raft_small'\]"):
        plan(models=["raft_small"], pairs=None)
    with pytest.raises(ConfigError, match="pairs: pair folder .* is not a directory"):
        plan(models=["raft_small"], pairs=str(tmp_path / "missing"))
    (tmp_path / "a_1.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="a_1.png has no partner a_2"):
        plan(models=["raft_small"], pairs=str(tmp_path))


def test_published_accuracy_names_each_models_task_for_its_own_axis():
    accuracy = plan().published_accuracy()
    # Every catalog model, with its task: the figure's panel and the summary's front it belongs to.
    assert set(accuracy) == set(plan().catalog)
    assert accuracy["resnet18"] == ("classification", pytest.approx(69.758))
    # Kinetics-400's top-1 is video's own axis, not ImageNet's; RAFT's EPE (px) is optical flow's.
    assert accuracy["r3d_18"][0] == "video" and accuracy["raft_small"] == ("optical_flow", pytest.approx(1.9901))
    assert accuracy["lraspp_mobilenet_v3_large"][0] == "segmentation"


def test_a_model_without_a_published_value_keeps_its_task_and_no_value():
    catalog = plan().catalog
    unpublished = dataclasses.replace(catalog["raft_small"], metric_value=math.nan)
    other_metric = dataclasses.replace(catalog["resnet18"], metric="mIoU")
    accuracy = published_accuracy({"raft_small": unpublished, "resnet18": other_metric})
    # A NaN is no value (and never reaches a rule's params), nor is a metric not the task's own.
    assert accuracy == {"raft_small": ("optical_flow", None), "resnet18": ("classification", None)}


def test_a_video_model_needs_a_clip_folder_an_image_run_does_not(tmp_path):
    assert plan(clips=None).clips == {}
    with pytest.raises(ConfigError, match=r"no clip folder configured, but the video models \['r3d_18'\]"):
        plan(models=["r3d_18"], clips=None)
    with pytest.raises(ConfigError, match="clips: .* is not a directory"):
        plan(models=["r3d_18"], clips=str(tmp_path / "missing"))


def test_list_clips_takes_video_files_and_frame_folders(tmp_path):
    (tmp_path / "b.mp4").write_bytes(b"")
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("")
    assert list_clips(tmp_path) == {"a": tmp_path / "a", "b": tmp_path / "b.mp4"}
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match="share the name 'b'"):
        list_clips(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no video files"):
        list_clips(empty)


def test_wildcard_constraints_come_from_the_registry():
    p = plan()
    constraints = p.wildcard_constraints()
    for name in RUNTIMES:
        assert re.fullmatch(constraints["runtime"], name)
    assert re.fullmatch(Plan.runtimes_in(PYTHON), "ts-python") and not re.fullmatch(Plan.runtimes_in(PYTHON), "ts-cpp")
    assert re.fullmatch(Plan.runtimes_in(CPP), "ts-cpp") and not re.fullmatch(Plan.runtimes_in(CPP), "eager")
    assert re.fullmatch(constraints["image"], "coffee_cup") and not re.fullmatch(constraints["image"], "dog")
    assert all(re.fullmatch(constraints["spec"], s) for s in p.specs)


def test_job_wildcards_cover_every_non_benchmark_job():
    p = plan(runtimes=TORCHSCRIPT_RUNTIMES, variants=["plain", "frozen"])
    jobs = p.job_wildcards()
    assert jobs["build_cpp"] == [{"program": "infer"}, {"program": "bench"}]
    assert len(jobs["download_weights"]) == 2 and len(jobs["preprocess_image"]) == 2 * 3
    assert len(jobs["derive_torchscript_variant"]) == 2  # frozen, two models, cpu
    assert len(jobs["infer_python"]) == 2 * 3 and len(jobs["infer_cpp"]) == 2 * 2
    assert {w["runtime"] for w in jobs["infer_cpp"]} == {"ts-cpp"}
    assert "export_onnx" not in jobs
    peers = plan().job_wildcards()
    assert peers["export_onnx"] == peers["convert_openvino"] == [{"model": "resnet18"}, {"model": "inception_v3"}]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO_ROOT / "config").glob("*.yaml")))
def test_every_experiment_config_makes_a_plan(name):
    """Experiment configs are passed with --configfile on top of config.yaml (a shallow merge per
    top-level key): each must describe a run, checks beyond the schema included."""
    config = copy.deepcopy(DEFAULT)
    config.update(yaml.safe_load((REPO_ROOT / "config" / name).read_text()))
    p = Plan.from_config(config, REPO_ROOT, has_gpu=lambda: True)
    assert p.models and p.comparison_files()


def test_aoti_packages_are_built_per_device_and_loaded_in_both_languages():
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=["eager", "aoti-python", "aoti-cpp", "compile"])
    assert p.artifact("aoti-cpp", "cuda", "plain", "resnet18") == "results/aoti/cuda/plain/resnet18"
    assert p.artifact("compile", "cpu", "plain", "resnet18") == "data/weights/resnet18.pth"
    builds = p.artifact_builds()
    assert list(builds) == ["package_aoti"]
    assert builds["package_aoti"] == [
        {"device": d, "variant": "plain", "model": m} for d in ("cpu", "cuda") for m in p.models
    ]
    pairs = {(x["kind"], "/".join(x["candidate"]), "/".join(x["reference"])) for x in p.comparison_pairs("cpu")}
    assert ("cross_language", "aoti-cpp/plain", "aoti-python/plain") in pairs
    parity = {x["runtime"]: x["reference"] for x in p.parity_pairs("cpu", "resnet18")}
    assert parity == {"aoti-python": "eager", "aoti-cpp": "aoti-python", "compile": "eager"}
    assert p.deployments(CPP) == [("cpu", "aoti-cpp", "plain"), ("cuda", "aoti-cpp", "plain")]


def test_aoti_thread_count_compiled_in_follows_the_config():
    from tvdeploy.host.devices import available_cores

    aoti = lambda threads: {**DEFAULT["export"], "aoti": {**DEFAULT["export"]["aoti"], "threads": threads}}
    assert DEFAULT["export"]["aoti"] == {"threads": "dynamic", "max_autotune": False, "static_batch": False}
    assert plan().aoti_threads(cores=2) is None
    assert plan(export=aoti(3)).aoti_threads(cores=2) == 3
    # The benchmarks' count: all cores Snakemake has, capped at the machine's, or bench.threads.
    assert plan(export=aoti("bench")).aoti_threads(cores=1) == 1
    assert plan(export=aoti("bench")).aoti_threads(cores=10_000) == available_cores()
    pinned = plan(export=aoti("bench"), bench={**DEFAULT["bench"], "threads": 5})
    assert pinned.aoti_threads(cores=2) == 5
    with pytest.raises(ConfigError, match="export.aoti.threads: expected dynamic, bench"):
        plan(export=aoti("fast")).aoti_threads(cores=2)


def test_a_static_batch_package_needs_batch_1_benchmarks():
    static = {**DEFAULT["export"], "aoti": {**DEFAULT["export"]["aoti"], "static_batch": True}}
    assert plan(export=static).config["export"]["aoti"]["static_batch"] is True
    with pytest.raises(ConfigError, match=r"static_batch compiles the AOTInductor packages for batch 1 only.*\[1, 8\]"):
        plan(export=static, bench={**DEFAULT["bench"], "batch_sizes": [1, 8]})


def test_int8_on_a_cpu_with_vnni_quantizes_the_peers_artifacts_calibrated_on_the_first_inputs():
    p = plan(flags=VNNI_CPU, calibration={"inputs": 2})
    assert set(p.skipped_variants("cpu")) == {"bf16", "fused_bf16"}
    assert p.runtime_variants("onnxruntime", "cpu") == ["plain", "int8"]
    assert p.runtime_variants("openvino-python", "cpu") == ["plain", "int8"]
    assert p.runtime_variants("ts-cpp", "cpu") == ["plain", "fused"]
    assert p.artifact("onnxruntime", "cpu", "int8", "resnet18") == "results/onnx/int8/resnet18"
    assert p.artifact("openvino-python", "cpu", "int8", "resnet18") == "results/openvino/int8/resnet18"
    assert p.artifact("onnxruntime", "cpu", "plain", "resnet18") == "results/onnx/resnet18"
    builds = p.artifact_builds()["quantize_artifact"]
    assert builds == [
        {"artifact": kind, "variant": "int8", "model": m}
        for kind in ("onnx", "openvino")
        for m in ("resnet18", "inception_v3")
    ]
    # Every int8 path of a model calibrates on the same first inputs, by name.
    assert p.calibration_dats("resnet18") == [
        "results/inputs/r256_c224_bilinear_in1k/chelsea_cat.dat",
        "results/inputs/r256_c224_bilinear_in1k/coffee_cup.dat",
    ]
    assert len(plan(flags=VNNI_CPU, calibration={"inputs": 50}).calibration_dats("resnet18")) == 3
    # Judged against float32 eager under int8's tolerance; the C++ OpenVINO against Python's int8.
    pairs = {(x["runtime"], x["variant"]): x for x in p.parity_pairs("cpu", "resnet18")}
    assert pairs[("onnxruntime", "int8")]["reference"] == "eager"
    assert pairs[("onnxruntime", "int8")]["rtol"] == DEFAULT["parity"]["int8_rtol"]
    compared = {("/".join(x["candidate"]), "/".join(x["reference"]), x["kind"]) for x in p.comparison_pairs("cpu")}
    assert ("onnxruntime/int8", "onnxruntime/plain", "vs_plain") in compared
    assert ("openvino-python/int8", "eager/plain", "vs_eager") in compared
    # LibTorch's int8: an AOTInductor package of its own per device, beside the float32 one.
    compiled = plan(flags=VNNI_CPU, runtimes=["eager", "aoti-python", "aoti-cpp"])
    assert compiled.artifact("aoti-cpp", "cpu", "int8", "resnet18") == "results/aoti/cpu/int8/resnet18"
    packages = {(w["device"], w["variant"]) for w in compiled.artifact_builds()["package_aoti"]}
    assert packages == {("cpu", "plain"), ("cpu", "int8")}
    assert "quantize_artifact" not in compiled.artifact_builds()


def test_the_bfloat16_variant_is_skipped_with_the_reason_on_a_cpu_without_native_support():
    config = {**copy.deepcopy(DEFAULT), "models": ["resnet18"], "variants": ["plain", "bf16"]}
    native = Plan.from_config(config, REPO_ROOT, has_gpu=lambda: False, flags=lambda: frozenset({"avx512_bf16"}))
    assert native.runtime_variants("ts-cpp", "cpu") == ["plain", "bf16"]
    assert native.parity_rtol("cpu", "bf16") == DEFAULT["parity"]["bf16_rtol"]
    older = Plan.from_config(config, REPO_ROOT, has_gpu=lambda: False, flags=lambda: frozenset({"avx2", "fma"}))
    assert older.runtime_variants("ts-cpp", "cpu") == ["plain"]
    amx = plan(flags=frozenset({"amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni"}))
    assert amx.skipped_variants("cpu") == {}
    assert amx.runtime_variants("ts-cpp", "cpu") == ["plain", "fused", "bf16", "fused_bf16"]
    assert amx.parity_rtol("cpu", "fused_bf16") == DEFAULT["parity"]["bf16_rtol"]
    # OpenVINO's bfloat16 is its float32 IR compiled for bf16: no artifact of its own, judged
    # against float32 eager under bf16's tolerance; ONNX Runtime, without bf16 kernels, is
    # reported as not run instead.
    assert amx.runtime_variants("openvino-cpp", "cpu") == ["plain", "bf16", "int8"]
    assert amx.artifact("openvino-cpp", "cpu", "bf16", "resnet18") == "results/openvino/resnet18"
    assert amx.runtime_variants("onnxruntime", "cpu") == ["plain", "int8"]
    assert amx.not_run() == {"cpu": [amx.cross_product.unsupported("cpu")["onnxruntime at bfloat16"]]}
    ov_pairs = {(x["runtime"], x["variant"]): x for x in amx.parity_pairs("cpu", "resnet18")}
    assert ov_pairs[("openvino-python", "bf16")]["reference"] == "eager"
    assert ov_pairs[("openvino-python", "bf16")]["rtol"] == DEFAULT["parity"]["bf16_rtol"]
    assert set(older.skipped_variants("cpu")) == {"bf16"}
    assert "none of avx512_bf16, amx_bf16" in older.skipped_variants("cpu")["bf16"]
    int8 = plan(variants=["plain", "int8"]).skipped_variants("cpu")["int8"]
    assert "int8 is not native on this CPU (none of avx512_vnni, avx_vnni, amx_int8" in int8
    assert older.derived_torchscript() == [] and older.skipped_variants("cuda") == {}


def test_cpu_flags_come_from_cpuinfo(tmp_path):
    from tvdeploy.host.devices import read_cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert read_cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert read_cpu_flags(tmp_path / "missing") == frozenset()


def test_a_segmentation_model_plans_its_no_crop_inputs_and_their_check():
    from tvdeploy.plan.wildcards import SPEC_PATTERN

    p = plan(models=["resnet18", "lraspp_mobilenet_v3_large"])
    assert sorted(p.specs) == ["r256_c224_bilinear_in1k", "r520_nocrop_bilinear_in1k"]
    assert all(re.fullmatch(SPEC_PATTERN, spec) for spec in p.specs)
    assert p.spec("r520_nocrop_bilinear_in1k")["task"] == "segmentation"
    assert p.dats("lraspp_mobilenet_v3_large")[0] == "results/inputs/r520_nocrop_bilinear_in1k/chelsea_cat.dat"
    assert p.expected_input("lraspp_mobilenet_v3_large")["axes"] == {"C": 3}
    assert p.expected_input("resnet18")["axes"] == {"C": 3, "H": 224, "W": 224}


def test_every_model_but_a_classifier_has_a_picture_of_its_outputs_per_device_from_its_predictions():
    detector, segmenter = "fasterrcnn_mobilenet_v3_large_320_fpn", "lraspp_mobilenet_v3_large"
    p = plan(models=[detector, "resnet18", segmenter], runtimes=["eager", "onnxruntime"])
    assert p.output_picture_files() == [
        f"results/plots/{p.run}/cpu/outputs/{detector}.png",
        f"results/plots/{p.run}/cpu/outputs/{segmenter}.png",
    ]
    # The records a picture is drawn from: every deployment of the model on that device, this run's.
    assert p.model_predictions("cpu", segmenter) == [
        {"runtime": r, "variant": "plain", "file": f"results/runs/{p.run}/predictions/cpu/{r}/plain/{segmenter}.json"}
        for r in ("eager", "onnxruntime")
    ]
    assert plan().output_picture_files() == []  # classifiers alone: nothing drawn


def test_a_quantized_model_brings_its_float_models_eager_predictions_beside_it():
    p = plan(models=["quantized_mobilenet_v2", "quantized_resnet18", "resnet18"], runtimes=["eager", "ts-python"])
    # resnet18 is selected (its own eager predictions serve); mobilenet_v2 is predicted by eager alone.
    assert p.float_references == ["mobilenet_v2"]
    reference = f"results/runs/{p.run}/float_references/cpu/mobilenet_v2.json"
    assert p.float_reference_items() == [
        {"file": reference, "model": "mobilenet_v2", "runtime": "eager", "variant": "plain", "device": "cpu"}
    ]
    assert reference not in [item["file"] for item in p.prediction_items()]
    # Its own preset (V2 weights: resize 232), not the quantized model's (V1: 256), is preprocessed.
    assert "r232_c224_bilinear_in1k" in p.specs and p.dats("mobilenet_v2")[0].startswith("results/inputs/r232_c224")
    assert "mobilenet_v2" in p.provenance_files()
    jobs = p.job_wildcards()
    assert jobs["infer_float_reference"] == [{"device": "cpu", "model": "mobilenet_v2"}]
    assert {"model": "mobilenet_v2"} in jobs["download_weights"] and {"model": "mobilenet_v2"} in jobs["write_labels"]
    assert {"model": "mobilenet_v2"} not in jobs["export_torchscript"]
    counterparts = p.float_counterparts()
    assert counterparts["quantized_mobilenet_v2"] == {
        "float_model": "mobilenet_v2",
        "made_from": "MobileNet_V2_Weights.IMAGENET1K_V1",
        "float_weights": "MobileNet_V2_Weights.IMAGENET1K_V2",
    }
    assert plan().float_references == [] and plan().float_reference_items() == []

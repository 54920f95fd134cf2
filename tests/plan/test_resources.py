"""Per-job memory planning from the catalog."""

from conftest import REPO_ROOT

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.plan.resources import BASE_MEM_MB, activation_mb, export_mem_mb, run_mem_mb, weights_mb

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")


def test_memory_grows_with_weights_and_batch():
    r18 = CATALOG["resnet18"]  # 11.7 M parameters, 224 px crop
    assert round(weights_mb(r18), 1) == 46.8
    assert activation_mb(r18) == 224 * 224 / 1000
    assert export_mem_mb(r18) == int(BASE_MEM_MB + 4 * weights_mb(r18) + 50.176)
    # 7 more images of 224 x 224 px at 1 MB per kilopixel, rounded down per job.
    assert run_mem_mb(r18, batch=8) - run_mem_mb(r18, batch=1) == 351


def test_segmentation_plans_for_the_pixels_of_its_example_image():
    lraspp = CATALOG["lraspp_mobilenet_v3_large"]  # no crop: shorter side 520, example 520 x 694
    assert activation_mb(lraspp) == 520 * 694 / 1000
    assert run_mem_mb(lraspp) == int(BASE_MEM_MB + 2 * weights_mb(lraspp) + 360.88)
    assert 2000 < export_mem_mb(CATALOG["deeplabv3_resnet101"]) < 20000


def test_largest_model_fits_the_default_profile():
    # The default profile caps the sum of mem_mb at 20000 (24 GB machine): every job must fit alone.
    assert max(export_mem_mb(info) for info in CATALOG.values()) < 20000
    assert export_mem_mb(CATALOG["vit_h_14"]) > export_mem_mb(CATALOG["resnet18"]) + 2000


def test_gpu_requests_follow_the_device():
    from tvdeploy.plan.resources import GPUS_PER_JOB, cpus_per_gpu, gpus
    from tvdeploy.registry import DEVICES

    assert set(GPUS_PER_JOB) == set(DEVICES)
    assert (gpus("cuda"), gpus("cpu")) == (1, 0)
    assert (cpus_per_gpu("cuda", 8), cpus_per_gpu("cpu", 8)) == (8, 0)


def test_a_video_model_plans_for_every_frame_of_its_clip():
    swin = CATALOG["swin3d_b"]  # 32 frames of 224 x 224 px
    assert activation_mb(swin) == 32 * 224 * 224 / 1000
    assert activation_mb(CATALOG["r3d_18"]) == 16 * 112 * 112 / 1000
    assert export_mem_mb(swin) < 20000

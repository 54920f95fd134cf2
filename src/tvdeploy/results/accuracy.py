"""Accuracy on a labeled folder: each classifier deployment's acc@1 and acc@5 on the images of a
labeled images folder (ImageNet's validation layout, tvdeploy.plan.config.list_images), read off
the predictions every deployment wrote, and whether a deployment is accurate enough: its acc@1 at
least ``floor`` of float32 eager's on the same images and device (MLPerf's rule, 99 % by default).

With random weights an accuracy says nothing about a deployment (every one is near chance): such
rows keep their numbers but no verdict, and the tables say why. Torch-free, but for
imagenet_class_indices, which reads ImageNet's class order from timm.
"""

from __future__ import annotations

import pandas as pd

from tvdeploy.registry import EAGER, PLAIN, deployments_of
from tvdeploy.results.efficiency import precision_of
from tvdeploy.results.frames import DEPLOYMENT_KEYS

ACCURACY_COLUMNS = [
    *DEPLOYMENT_KEYS,
    "precision",
    "weights_source",
    "images",
    "acc1",
    "acc5",
    "eager_acc1",
    "relative_acc1",
    "accurate_enough",
]
# Only pretrained weights make an accuracy mean something.
PRETRAINED = "pretrained"
TOP5 = 5


def imagenet_class_indices(wnids) -> dict[str, int]:
    """The ImageNet-1k class index of each WordNet id: its place in the sorted list of the 1000
    synsets, the order torchvision's classifiers (and their weights' categories) use. timm keeps
    that list (timm.data.ImageNetInfo); ValueError names an id outside it."""
    from timm.data import ImageNetInfo

    order = {wnid: index for index, wnid in enumerate(ImageNetInfo("imagenet-1k").label_names())}
    unknown = sorted(set(wnids) - set(order))
    if unknown:
        raise ValueError(f"labeled images: {', '.join(unknown)} is no ImageNet-1k class (WordNet id)")
    return {wnid: order[wnid] for wnid in wnids}


def accuracy_table(
    predictions: pd.DataFrame,
    labels: dict[str, int],
    floor: float,
    classifiers: list[str] | tuple,
    quantized: list[str] | tuple = (),
) -> pd.DataFrame:
    """One row per run, device, model of ``classifiers`` (the ImageNet classifiers the labels
    apply to: a segmentation model's per-pixel classes are no image's class) and deployment that
    predicted classes for labeled images:
    how many images, acc@1, acc@5 (NaN where fewer than five classes were kept: config topk),
    eager's acc@1 on the same images, the ratio to it, and whether it reaches ``floor`` of it
    (None without pretrained weights or an eager acc@1 to compare with). ``labels``: class index
    by image name; ``quantized``: the eager-quantized models (int8 whatever the variant)."""
    if predictions.empty or not labels or "class_index" not in predictions.columns:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    ranked = predictions[
        predictions["class_index"].notna() & predictions["image"].isin(labels) & predictions["model"].isin(classifiers)
    ]
    if ranked.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    correct = ranked["class_index"].astype(int) == ranked["image"].map(labels)
    ranked = ranked.assign(top1=correct & (ranked["rank"] == 1), top5=correct & (ranked["rank"] <= TOP5))
    per_image = ranked.groupby([*DEPLOYMENT_KEYS, "image"], sort=True).agg(
        weights_source=("weights_source", "first"), top1=("top1", "any"), top5=("top5", "any"), ranks=("rank", "max")
    )
    table = per_image.groupby(DEPLOYMENT_KEYS, sort=True).agg(
        weights_source=("weights_source", "first"),
        images=("top1", "size"),
        acc1=("top1", "mean"),
        acc5=("top5", "mean"),
        ranks=("ranks", "min"),
    )
    table = table.reset_index()
    table.loc[table["ranks"] < TOP5, "acc5"] = float("nan")
    table["precision"] = [
        precision_of(d.variant, model in quantized)
        for d, model in zip(deployments_of(table), table["model"], strict=True)
    ]
    eager = table[(table["runtime"] == EAGER) & (table["variant"] == PLAIN)].set_index(["run", "device", "model"])
    table["eager_acc1"] = table.set_index(["run", "device", "model"]).index.map(eager["acc1"]).astype(float)
    table["relative_acc1"] = table["acc1"] / table["eager_acc1"].where(table["eager_acc1"] > 0)
    judged = (table["weights_source"] == PRETRAINED) & table["relative_acc1"].notna()
    verdicts = table["relative_acc1"] >= floor
    table["accurate_enough"] = pd.Series(
        [bool(v) if j else None for v, j in zip(verdicts, judged, strict=True)], index=table.index, dtype=object
    )
    return table[ACCURACY_COLUMNS]


def fell_short(verdict) -> bool:
    """Whether an ``accurate_enough`` cell (a bool, numpy's, None or NaN as read back) says no."""
    return verdict is not None and not pd.isna(verdict) and not bool(verdict)


def accuracy_markdown(table: pd.DataFrame, floor: float) -> str:
    """Per run and device, a model × deployment table of acc@1 / acc@5 (%), each reduced
    deployment marked where it falls below the floor; empty without labeled images."""
    if table.empty:
        return ""
    parts = [
        f"**Accuracy on the labeled images** (acc@1 / acc@5, %; accurate enough: acc@1 at least {floor:.0%} of "
        "float32 eager's on the same images; ✗ below it):\n"
    ]
    for (run, device), group in table.groupby(["run", "device"], sort=True):
        cells = [
            f"{r.acc1:.1%} / "
            + ("-" if pd.isna(r.acc5) else f"{r.acc5:.1%}")
            + (" ✗" if fell_short(r.accurate_enough) else "")
            for r in group.itertuples()
        ]
        labels = [d.label for d in deployments_of(group)]
        wide = group.assign(cell=cells, deployment=labels).pivot(index="model", columns="deployment", values="cell")
        wide = wide[list(dict.fromkeys(labels))]
        images = group.groupby("model")["images"].max()
        wide.insert(0, "images", images)
        parts.append(f"{run} · {device}:\n\n{wide.fillna('-').to_markdown()}\n")
    unjudged = sorted(set(table.loc[table["weights_source"] != PRETRAINED, "model"]))
    if unjudged:
        parts.append(
            "Not judged (weights not pretrained, so accuracy says nothing about the deployment): "
            f"{', '.join(unjudged)}.\n"
        )
    return "\n".join(parts)

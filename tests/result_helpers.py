"""Raw results for table and goal tests: comparison records as the compare jobs write them."""

DRIFT = [1.0, 1.1, 0.9]  # the machine's speed in each of three rounds


def comparison_record(model, medians_ms: dict[str, float], batch=1, device="cpu", failed=(), run="laptop"):
    """A comparison job's result: each deployment ran one block per round on a drifting machine."""
    from tvdeploy.measure.compare import WorkerResult
    from tvdeploy.measure.summary import summarize_comparison

    results = {}
    for name, ms in medians_ms.items():
        result = WorkerResult(name, ready={"threads": 2})
        if name in failed:
            result.error = f"{name} worker for {model}: exited unexpectedly (exit status -11)"
        else:
            result.blocks = [
                {"round": i, "latencies_ms": [ms * d * 0.99, ms * d, ms * d * 1.01], "noisy": False}
                for i, d in enumerate(DRIFT)
            ]
        results[name] = result
    pairs = [
        {"kind": "vs_eager", "candidate": name.split("/"), "reference": ["eager", "plain"]}
        for name in medians_ms
        if not name.startswith("eager/")
    ]
    if "onnxruntime/plain" in medians_ms:
        pairs += [
            {"kind": "vs_peer", "candidate": name.split("/"), "reference": ["onnxruntime", "plain"]}
            for name in medians_ms
            if not name.startswith(("eager/", "onnxruntime/"))
        ]
    if {"ts-cpp/plain", "ts-python/plain"} <= set(medians_ms):
        pairs.append({"kind": "cross_language", "candidate": ["ts-cpp", "plain"], "reference": ["ts-python", "plain"]})
    deployments, comparisons = summarize_comparison(results, pairs, batch, 0.95, 0.03)
    return {
        "run": run,
        "model": model,
        "device": device,
        "batch_size": batch,
        "threads": 2,
        "weights_source": "random",
        "deployments": deployments,
        "comparisons": comparisons,
    }

"""Does an eager-quantized (fbgemm) convolution slow down at channel counts that are not multiples
of 8? The depthwise 3x3 and pointwise 1x1 convolutions of ShuffleNetV2's branches, timed in
interleaved rounds. Run alone: `python qconv_channels.py` (2 threads)."""

import statistics
import time

import torch
import torch.ao.nn.quantized as nnq

torch.backends.quantized.engine = "fbgemm"
torch.set_num_threads(2)
# (channels, spatial size): each channel count beside its neighbours that are multiples of 8.
CASES = [(56, 28), (58, 28), (64, 28), (112, 14), (116, 14), (120, 14), (240, 7), (244, 7), (248, 7)]
WARMUP_ROUNDS, ROUNDS, CALLS_PER_BLOCK = 3, 30, 20

layers = {}
for channels, size in CASES:
    x = torch.quantize_per_tensor(torch.randn(1, channels, size, size), 0.05, 64, torch.quint8)
    depthwise = nnq.Conv2d(channels, channels, 3, padding=1, groups=channels)
    pointwise = nnq.Conv2d(channels, channels, 1)
    layers[(channels, size)] = (x, {"depthwise 3x3": depthwise, "pointwise 1x1": pointwise})

times = {(case, kind): [] for case, (_, convs) in layers.items() for kind in convs}
with torch.inference_mode():
    for _ in range(WARMUP_ROUNDS):
        for x, convs in layers.values():
            for conv in convs.values():
                conv(x)
    for _ in range(ROUNDS):
        for case, (x, convs) in layers.items():
            for kind, conv in convs.items():
                start = time.perf_counter()
                for _ in range(CALLS_PER_BLOCK):
                    conv(x)
                times[(case, kind)].append((time.perf_counter() - start) / CALLS_PER_BLOCK * 1e6)

for ((channels, size), kind), values in times.items():
    q1, _, q3 = statistics.quantiles(values, n=4)
    print(f"{kind} C={channels:4d} {size}x{size}: median {statistics.median(values):8.1f} us (IQR {q3 - q1:.1f})")

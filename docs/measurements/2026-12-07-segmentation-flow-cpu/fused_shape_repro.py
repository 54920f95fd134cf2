"""Does TorchScript's oneDNN Graph fuser give a later call of another input shape the right answer?
fcn_resnet50 (random weights, seed 0) scripted and frozen like the workflow's 'fused' variant;
the three shapes of the shipped images at resize 520 (W 781, 780, 779)."""

import sys

import torch
import torchvision

torch.manual_seed(0)
torch.set_num_threads(2)
model_name = sys.argv[1] if len(sys.argv) > 1 else "fcn_resnet50"
order = [int(w) for w in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["781", "780", "779"])]
m = torchvision.models.get_model(model_name, weights=None, weights_backbone=None, aux_loss=False).eval()


class Out(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


scripted = torch.jit.freeze(torch.jit.script(Out(m)).eval())
g = torch.Generator().manual_seed(1)
inputs = {w: torch.randn(1, 3, 520, w, generator=g) for w in sorted(set(order))}
with torch.inference_mode():
    ref = {w: Out(m)(x) for w, x in inputs.items()}
torch.jit.enable_onednn_fusion(True)
with torch.inference_mode():
    for call, w in enumerate(order):
        out = scripted(inputs[w])
        diff = (out - ref[w]).abs().max().item() / ref[w].abs().max().item()
        agree = (out.argmax(1) == ref[w].argmax(1)).float().mean().item()
        print(f"call {call} W={w}: max|d|/scale {diff:.2e}, argmax agreement {agree:.4f}", flush=True)

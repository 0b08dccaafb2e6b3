"""Parameter, operation and storage overhead of VeRA+, VeRA and LoRA vs the backbone.

Accounting (VeRA+ §IV-E, Tables III–V; ``docs/vera-plus.md`` compares with the paper):
- layers: every Conv2d and Linear, with its output positions P (H_out·W_out, 1 for Linear),
  C_in, C_out, kernel k×k; backbone parameters = all parameters (BN included), backbone ops
  = multiply-accumulates of the convs and linears.
- VeRA+ (rank r, S sets): per set and layer d (r) and b (C_out); A (r × max C_in) and
  B (max C_out × r) once.  *Parameters* count the values the SRAM-IMC holds to compute every
  layer's 1×1 branch — all S sets plus each layer's A/B slice (r·(C_in + C_out)).
  *Storage* counts what external memory holds: S sets plus A and B once, at ``bits`` per value.
  *Ops* per output position: r·C_in (A) + r (Λ_d) + r·C_out (B) + C_out (Λ_b) + C_out (add).
- VeRA (per set: shared A (r·k × max C_in·k), B (max C_out·k × r·k); per layer d (r·k) and
  b (C_out·k)) and LoRA (per set and layer A (r·k × C_in·k), B (C_out·k × r·k)) use the
  loralib convolution shapes the paper compares against; their ops per output position are
  their per-layer parameter count (each value used once) plus the add.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hil.errors import ParameterError


@dataclass
class LayerShape:
    name: str
    c_in: int
    c_out: int
    k: int  # kernel side (1 for Linear)
    positions: int  # output positions per sample
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.positions * self.k * self.k * self.c_in * self.c_out // self.groups


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Conv2d/Linear layers of ``model`` with their output positions for one input sample."""
    shapes: list[LayerShape] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if m.kernel_size[0] != m.kernel_size[1]:
                raise ParameterError(f"layer {name}: only square kernels supported, got {m.kernel_size}")
            hooks.append(m.register_forward_hook(
                lambda mod, i, o, n=name: shapes.append(LayerShape(
                    n, mod.in_channels, mod.out_channels, mod.kernel_size[0],
                    o.shape[-1] * o.shape[-2], mod.groups))))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(
                lambda mod, i, o, n=name: shapes.append(LayerShape(
                    n, mod.in_features, mod.out_features, 1, o.numel() // o.shape[0] // mod.out_features))))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not shapes:
        raise ParameterError("model has no Conv2d or Linear layer")
    return shapes


@dataclass
class Overhead:
    method: str
    rank: int
    sets: int
    params: int
    ops: int
    storage_bytes: float
    backbone_params: int
    backbone_ops: int

    @property
    def params_pct(self) -> float:
        return 100.0 * self.params / self.backbone_params

    @property
    def ops_pct(self) -> float:
        return 100.0 * self.ops / self.backbone_ops


def overhead(model: nn.Module, input_shape: tuple[int, ...], method: str = "vera+",
             rank: int = 1, sets: int = 11, bits: int = 4) -> Overhead:
    """Overhead of ``method`` ("vera+", "vera", "lora") at ``rank`` with ``sets`` drift sets."""
    if rank < 1 or sets < 1 or bits < 1:
        raise ParameterError(f"rank={rank}, sets={sets}, bits={bits} must all be >= 1")
    L = layer_shapes(model, input_shape)
    bb_params = sum(p.numel() for p in model.parameters())
    bb_ops = sum(s.macs for s in L)
    r = rank
    in_max, out_max = max(s.c_in for s in L), max(s.c_out for s in L)
    if method == "vera+":
        per_set = sum(r + s.c_out for s in L)
        shared = r * (in_max + out_max)
        params = sets * per_set + sum(r * (s.c_in + s.c_out) for s in L)
        stored = sets * per_set + shared
        ops = sum(s.positions * (r * s.c_in + r + r * s.c_out + 2 * s.c_out) for s in L)
    elif method == "vera":
        per_set = sum(r * s.k + s.c_out * s.k for s in L) + r * max(s.k for s in L) ** 2 * (in_max + out_max)
        params = stored = sets * per_set
        ops = sum(s.positions * (r * s.k * s.k * (s.c_in + s.c_out) + r * s.k + 2 * s.c_out)
                  for s in L)
    elif method == "lora":
        per_set = sum(r * s.k * s.k * (s.c_in + s.c_out) for s in L)
        params = stored = sets * per_set
        ops = sum(s.positions * (r * s.k * s.k * (s.c_in + s.c_out) + s.c_out) for s in L)
    else:
        raise ParameterError(f"method {method!r} unknown; allowed: 'vera+', 'vera', 'lora'")
    return Overhead(method, r, sets, params, ops, stored * bits / 8.0, bb_params, bb_ops)


def overhead_table(model: nn.Module, input_shape: tuple[int, ...], ranks=(1, 6), sets: int = 11,
                   bits: int = 4) -> list[Overhead]:
    """VeRA+, VeRA and LoRA at each rank (rows in that order)."""
    return [overhead(model, input_shape, m, r, sets, bits) for r in ranks
            for m in ("vera+", "vera", "lora")]


def format_table(rows: list[Overhead], bits: int = 4) -> str:
    """Markdown table of overhead rows (storage in KB = 1000 bytes)."""
    b = rows[0]
    head = (f"backbone: {b.backbone_params:,} parameters, {b.backbone_ops:,} MACs; "
            f"{b.sets} sets, {bits}-bit storage\n\n"
            "| method | rank | params | params % | ops | ops % | storage (KB) |\n"
            "|---|---|---|---|---|---|---|\n")
    return head + "\n".join(
        f"| {o.method} | {o.rank} | {o.params:,} | {o.params_pct:.2f} | {o.ops:,} | "
        f"{o.ops_pct:.2f} | {o.storage_bytes / 1000:.2f} |" for o in rows) + "\n"

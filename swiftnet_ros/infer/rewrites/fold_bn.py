"""BatchNorm folding: every BN that directly and solely consumes a convolution's output, folded into it.

Which pairs are legal is found by tracing one forward with autograd, so it holds by construction:
the decoder's pre-activation BN-ReLU-Conv units, and convolutions shared between pyramid levels
with separate BNs, are left alone.
"""

from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from swiftnet_ros.infer.rewrites.surgery import set_submodule


def _count_uses(roots: List[object]) -> Dict[int, int]:
    """How many times each autograd node is consumed (edges into it) in the graph below ``roots``."""
    uses: Dict[int, int] = {}
    keep = []  # hold the nodes so that their ids stay unique during the walk
    stack = list(roots)
    for root in roots:
        uses[id(root)] = uses.get(id(root), 0) + 1
    seen = set(id(r) for r in roots)
    while stack:
        node = stack.pop()
        keep.append(node)
        for child, _ in getattr(node, "next_functions", ()):
            if child is None:
                continue
            uses[id(child)] = uses.get(id(child), 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return uses


def find_foldable_pairs(model: nn.Module, example: torch.Tensor) -> List[Tuple[str, str]]:
    """(conv name, bn name) pairs where the BN's input is exactly the conv's output and nothing else uses it.

    One forward is traced with autograd: a BN is foldable when its input's autograd node is the
    convolution's node, that node has exactly one consumer, and both modules run once per forward
    (a convolution shared between pyramid levels with separate BNs is not).
    """
    calls: Dict[str, int] = {}
    conv_node: Dict[str, object] = {}
    bn_input_node: Dict[str, object] = {}
    handles = []

    def conv_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            conv_node[name] = output.grad_fn
        return hook

    def bn_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            bn_input_node[name] = inputs[0].grad_fn
        return hook

    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    bns = {n: m for n, m in model.named_modules()
           if isinstance(m, nn.BatchNorm2d) and m.track_running_stats and m.running_mean is not None}
    for name, module in convs.items():
        handles.append(module.register_forward_hook(conv_hook(name)))
    for name, module in bns.items():
        handles.append(module.register_forward_hook(bn_hook(name)))
    try:
        with torch.enable_grad():
            out = model(example.detach().clone().requires_grad_(True))
        outputs = out if isinstance(out, (tuple, list)) else [out]
        uses = _count_uses([o.grad_fn for o in outputs if o.grad_fn is not None])
    finally:
        for handle in handles:
            handle.remove()
    pairs = []
    for bn_name, node in bn_input_node.items():
        if node is None or calls.get(bn_name) != 1:
            continue
        for conv_name, cnode in conv_node.items():
            if cnode is node and calls.get(conv_name) == 1 and uses.get(id(node)) == 1 \
                    and convs[conv_name].out_channels == bns[bn_name].num_features:
                pairs.append((conv_name, bn_name))
    return pairs


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> List[Tuple[str, str]]:
    """Fold foldable conv -> BN pairs of an eval-mode model in place; returns the folded pairs."""
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (call model.eval() first)")
    pairs = find_foldable_pairs(model, example)
    modules = dict(model.named_modules())
    for conv_name, bn_name in pairs:
        fused = fuse_conv_bn_eval(modules[conv_name], modules[bn_name])
        set_submodule(model, conv_name, fused)
        set_submodule(model, bn_name, nn.Identity())
    return pairs

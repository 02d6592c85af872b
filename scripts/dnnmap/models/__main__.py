"""List a network's recordable layers: ``python -m dnnmap.models ARCHITECTURE``.

Prints every module of the network with its friendly name (if it has one), its type, its
output shape for one stimulus and its number of units, from one forward pass on the meta
device (nothing is downloaded or initialised). ``--nodes`` adds the torch.fx graph nodes
that are not modules. The names in the first two columns are what ``models.<model>.layers``
accepts.

Examples::

    python -m dnnmap.models resnet50
    python -m dnnmap.models resnet18 --source timm
    python -m dnnmap.models enc --source module --module nets.py:Encoder --kwargs '{"k": 8}'
"""

from __future__ import annotations

import argparse
import json
import sys

from dnnmap.errors import InputError


def format_table(family, rows, side: int, pre: dict) -> str:
    """The listing as text: a header line, then one row per layer."""
    crop = f", crop {pre['crop']}" if pre.get("crop") else ""
    how = f"resize {pre['resize']}{crop}, {pre.get('interpolation', 'bilinear')}"
    if side != int(pre.get("crop") or pre["resize"]):
        how = f"--size {side}; its preprocessing: {how}"
    lines = [
        f"{family.name} (source {family.source}): {family.n_parameters:,} parameters; input "
        f"3 x {side} x {side} ({how})",
    ]
    width = max([len("layer")] + [len(r.name) for r in rows])
    alias = max([len("friendly")] + [len(r.alias) for r in rows])
    kind = max([len("type")] + [len(r.module_type or r.kind) for r in rows])
    lines.append(
        f"{'layer':<{width}}  {'friendly':<{alias}}  {'type':<{kind}}  {'shape':<18}  units"
    )
    for r in rows:
        shape = " x ".join(str(n) for n in r.shape) or "scalar"
        lines.append(
            f"{r.name:<{width}}  {r.alias:<{alias}}  {(r.module_type or r.kind):<{kind}}  "
            f"{shape:<18}  {r.units:,}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, list the layers, print them; 1 with a message on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m dnnmap.models", description="List a network's recordable layers."
    )
    parser.add_argument("architecture", help="e.g. alexnet, resnet50, vit_b_16 (timm: resnet18)")
    parser.add_argument("--source", default="torchvision", help="torchvision, timm or module")
    parser.add_argument("--module", help="source module: path/to/net.py:Class or pkg.mod:factory")
    parser.add_argument("--kwargs", default="{}", help="constructor keyword arguments (JSON)")
    parser.add_argument("--weights", default="none", help="weights name (for its preprocessing)")
    parser.add_argument("--size", type=int, help="input side, pixels (default: preprocessing)")
    parser.add_argument("--nodes", action="store_true", help="also list torch.fx graph nodes")
    parser.add_argument("--friendly", action="store_true", help="friendly names only")
    args = parser.parse_args(argv)
    from dnnmap.models.layers import list_layers
    from dnnmap.models.registry import get_family

    try:
        entry = {"source": args.source, "architecture": args.architecture}
        if args.module:
            entry["module"] = args.module
        kwargs = json.loads(args.kwargs)
        if kwargs:
            entry["kwargs"] = kwargs
        family = get_family(entry, f"models.{args.architecture}.architecture")
        pre = family.preprocessing_for(args.weights)
        side = args.size or int(pre.get("crop") or pre["resize"])
        rows = list_layers(family, side, nodes=args.nodes)
    except (InputError, json.JSONDecodeError) as err:
        print(f"dnnmap: {err}", file=sys.stderr)
        return 1
    if args.friendly:
        rows = [r for r in rows if r.alias]
    print(format_table(family, rows, side, pre))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

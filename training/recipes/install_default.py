"""Install a trained checkpoint as the shipped default of its decision kind, or record why the heuristic stays.

    python training/recipes/install_default.py rank build/default-policies/rank --figures FIGS.json
    python training/recipes/install_default.py write --heuristic "why, with the figures"

Copies ``policy.json`` and ``policy.safetensors`` into ``reme/policy/shipped/<kind>/`` (the package data that wheels
carry) and rewrites that kind's entry of ``reme/policy/shipped/manifest.json``; the other entries are kept. The
checkpoint is loaded through the same validation a workspace applies before anything is copied.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from reme import __project_version__
from reme.policy.registry import load_checkpoint_dir
from reme.policy.shipped import MANIFEST, read_manifest, shipped_dir

RECIPE = "training/recipes/default-policies.sh"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("rank", "write", "compact"))
    parser.add_argument("checkpoint", nargs="?", help="the trained checkpoint directory")
    parser.add_argument("--heuristic", metavar="WHY", help="ship the heuristic for this kind, and say why")
    parser.add_argument("--figures", help="a JSON file of the figures measured for the checkpoint")
    args = parser.parse_args()
    if (args.checkpoint is None) == (args.heuristic is None):
        parser.error("give a checkpoint directory or --heuristic WHY, not both")
    directory = shipped_dir()
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    target = directory / args.kind
    if args.heuristic is not None:
        manifest[args.kind] = {"heuristic": True, "why": args.heuristic}
        shutil.rmtree(target, ignore_errors=True)
    else:
        policy = load_checkpoint_dir(args.checkpoint)
        if policy.kind != args.kind:
            raise SystemExit(f"{args.checkpoint} is a {policy.kind} policy, not {args.kind}")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("policy.json", "policy.safetensors"):
            shutil.copy2(Path(args.checkpoint) / name, target / name)
        figures = json.loads(Path(args.figures).read_text(encoding="utf-8")) if args.figures else {}
        manifest[args.kind] = {
            "checkpoint": args.kind,
            "trained_by": RECIPE,
            "reme_version": __project_version__,
            "figures": figures,
        }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    read_manifest(directory)  # the result must parse as a workspace will read it
    print(f"{args.kind}: {manifest[args.kind].get('checkpoint', 'heuristic')} in {directory / MANIFEST}")


if __name__ == "__main__":
    main()

"""Export the preference pairs of an HPL run as a Hugging Face dataset with a dataset card.

    python -m scripts.export_preferences RUN_DIR --out DIR [--reference] [--push-to-hub USER/NAME [--public]]

Writes DIR with ``save_to_disk`` (one split per level: traj, step, group; read it back with
``datasets.load_from_disk(DIR)``) and DIR/README.md, the card: env, split, pi_ref, pairs per
level, the group pairs' curriculum buckets. ``--push-to-hub`` also uploads both to that
Hub dataset repository (private unless ``--public``; needs a token from ``hf auth login``
or $HF_TOKEN). In Python: ``trainers.hpl.preferences.load_preferences(RUN_DIR)``.
"""

from __future__ import annotations

import argparse
import sys

from scripts.cli import command_prog


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_prog("export_preferences"), description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="an HPL run folder (the pipeline's run_dir, with pairs/)")
    p.add_argument("--out", required=True, help="folder to write the dataset and its README.md card to")
    p.add_argument(
        "--reference",
        action="store_true",
        help="export the .ref.jsonl files (adds pi_ref's log-probs ref_chosen, ref_rejected)",
    )
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="also push to this Hugging Face Hub dataset repository")
    p.add_argument("--public", action="store_true", help="make the pushed repository public (default private)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from trainers.hpl.preferences import export_preferences

    try:
        dsd = export_preferences(
            args.run_dir, args.out, reference=args.reference, push_to_hub=args.push_to_hub, private=not args.public
        )
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{lv} {ds.num_rows}" for lv, ds in dsd.items())
    print(
        f"exported {counts} pairs to {args.out} (card: {args.out}/README.md)"
        + (f"; pushed to {args.push_to_hub}" if args.push_to_hub else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

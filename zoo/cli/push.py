"""``zoo push`` and ``zoo card``: a network as a Hugging Face Hub repository, and its model card.

    zoo push pwcnet.synth my-org/pwcnet-synth [--private]   # token: HF_TOKEN or `hf auth login`
    zoo card pwcnet.synth                                    # the README.md that push writes
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def _push(args: argparse.Namespace) -> int:
    from zoo.publish.pretrained import push_to_hub

    url = push_to_hub(args.source, args.repo_id, private=args.private or None, arch=args.arch,
                      commit_message=args.message)
    print(f"pushed {args.source} to {args.repo_id}: {url}")
    return 0


def _card(args: argparse.Namespace) -> int:
    from zoo.catalog.registry import list_models, split_name, weights_info
    from zoo.publish.card import model_card
    from zoo.weights.loader import as_model

    if args.source in list_models(pretrained=True):  # a registry entry needs no weights for its card
        print(model_card(split_name(args.source)[0], weights_info(args.source)))
        return 0
    record = as_model(args.source, arch=args.arch).zoo_record
    print(model_card(record.arch, record.weights))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``push`` and ``card``."""
    p = subparsers.add_parser(
        "push", help="upload a network to the Hugging Face Hub (model.safetensors, config.json, model card)",
        description="Create the Hub model repository ORG/NAME if needed and commit the folder that "
                    "zoo.save_pretrained writes to its main branch. The token comes from HF_TOKEN or "
                    "`hf auth login`; HF_ENDPOINT selects another Hub.")
    p.add_argument("source", metavar="NAME|FILE", help="registry or hf-hub: name, or a weight file")
    p.add_argument("repo_id", metavar="ORG/NAME", help="the Hub repository")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--message", default=None, help="commit message (default: 'zoo push NAME')")
    p.add_argument("--arch", default=None, help="architecture, if the file does not record it")
    p.set_defaults(func=_push)

    p = subparsers.add_parser("card", help="print the model card (README.md) of a weight set",
                              description="Print the Markdown model card generated from a weight record.")
    p.add_argument("source", metavar="NAME|FILE", help="registry or hf-hub: name, or a weight file")
    p.add_argument("--arch", default=None, help="architecture, if the file does not record it")
    p.set_defaults(func=_card)

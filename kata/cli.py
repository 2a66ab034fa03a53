"""The `kata` command: check a notebook from the terminal, build notebooks, verify the workbook."""

import argparse
import sys

from kata import KataError
from kata.build import build, stale
from kata.manifest import find_root, load, lookup
from kata.runner import run_check
from kata.verify import verify_kata


def cmd_check(args) -> int:
    katas = load(find_root())
    kata = lookup(katas, args.kata)
    result = run_check(kata, kata.notebook, echo=True)
    print(f"\nkata {kata.label}: {result.status.upper()}")
    return 0 if result.status == "passed" else 1


def cmd_build(args) -> int:
    katas = load(find_root())
    if args.katas:
        katas = [lookup(katas, key) for key in args.katas]
    if args.check:
        outdated = stale(katas)
        for path in outdated:
            print(f"stale: {path} (run `kata build`)")
        return 1 if outdated else 0
    for path in build(katas):
        print(f"wrote {path}")
    return 0


def cmd_verify(args) -> int:
    katas = load(find_root())
    chosen = [lookup(katas, key) for key in args.katas] if args.katas else katas
    if not args.authoring:
        raise KataError("Only `kata verify --authoring` exists so far.")
    failures = 0
    for kata in chosen:
        for verdict in verify_kata(kata):
            mark = "ok  " if verdict.ok else "FAIL"
            print(f"{mark} {kata.label} {verdict.variant}")
            for problem in verdict.problems:
                print(f"       {problem}")
            failures += not verdict.ok
    return 1 if failures else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kata", description="FastAPI Katas from the terminal.")
    sub = top.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run a kata's check on your notebook, no kernel needed")
    check.add_argument("kata", help="the number `kata list` shows, or the kata's id")
    check.set_defaults(run=cmd_check)
    build_ = sub.add_parser("build", help="(authors) regenerate notebooks from sources/")
    build_.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    build_.add_argument("--check", action="store_true", help="only report stale notebooks")
    build_.set_defaults(run=cmd_build)
    verify = sub.add_parser("verify", help="verify the workbook")
    verify.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    verify.add_argument("--authoring", action="store_true", help="starters fail as declared, solutions pass")
    verify.set_defaults(run=cmd_verify)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KataError as error:
        print(f"kata: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

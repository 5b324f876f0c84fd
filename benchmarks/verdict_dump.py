"""Every check's verdict for every broken app and room, as JSON: to show that a speed-up
changed no verdict, run it with two checkouts of the kit and compare the files.

What it runs is what the kit's own tests run: each app of ``tests/broken`` in-process as
``tests/test_broken_apps.py`` checks it (its examples and idle watch), each room of
``tests/broken_rooms`` in-process and over uvicorn as ``tests/test_broken_rooms.py`` does, and
with ``--network APP,...`` those broken apps over uvicorn too (``tests.verdicts.url_verdicts``),
derandomized (``CI=true``), two at a time in child processes.

Usage (the kit imported from DIR, e.g. a ``git archive`` of the commit before)::

    cd DIR && CI=true PYTHONPATH=DIR python benchmarks/verdict_dump.py OUT.json \\
        [--only apps|rooms|none] [--network APP,...]
    python benchmarks/verdict_dump.py --compare BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())


def _app(name: str) -> tuple[str, dict[str, str]]:
    from tests.test_broken_apps import EXAMPLES, SHORT_WATCH, TIME_DEFECTS
    from tests.verdicts import asgi_verdicts

    app = importlib.import_module(f"tests.broken.{name}").app
    return f"app:{name}", dict(asgi_verdicts(app, examples=EXAMPLES,
                                             idle_watch=TIME_DEFECTS.get(name, SHORT_WATCH)))


def _room(name: str, network: bool) -> tuple[str, dict[str, str]]:
    from tests.test_broken_rooms import _app as room_app
    from tests.test_broken_rooms import spec_of
    from tests.verdicts import asgi_verdicts, url_verdicts

    if network:
        return f"room-net:{name}", dict(url_verdicts(room_app(name), spec_of(name), examples=5))
    return f"room:{name}", dict(asgi_verdicts(room_app(name), spec_of(name), examples=15))


def _network_app(name: str) -> tuple[str, dict[str, str]]:
    from tests.verdicts import url_verdicts

    app = importlib.import_module(f"tests.broken.{name}").app
    return f"app-net:{name}", dict(url_verdicts(app, examples=10))


def dump(only: str, network: list[str]) -> dict[str, dict[str, str]]:
    import tests.broken
    import tests.broken_rooms

    apps = sorted(m.name for m in pkgutil.iter_modules(tests.broken.__path__))
    rooms = sorted(m.name for m in pkgutil.iter_modules(tests.broken_rooms.__path__))
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        jobs = []
        if only in ("all", "apps"):
            jobs += [pool.submit(_app, a) for a in apps]
        if only in ("all", "rooms"):
            jobs += [pool.submit(_room, r, net) for net in (False, True) for r in rooms]
        jobs += [pool.submit(_network_app, a) for a in network]
        return dict(job.result() for job in jobs)


def compare(before: Path, after: Path) -> int:
    old, new = (json.loads(p.read_text(encoding="utf-8")) for p in (before, after))
    differences = [(target, check, old[target].get(check), new.get(target, {}).get(check))
                   for target in sorted(old) for check in sorted(old[target])
                   if old[target].get(check) != new.get(target, {}).get(check)]
    count = sum(len(v) for v in old.values())
    print(f"{len(old)} targets, {count} verdicts; {len(differences)} differ")
    for difference in differences:
        print("  ", *difference)
    return 1 if differences or set(old) != set(new) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--only", choices=("all", "apps", "rooms", "none"), default="all")
    parser.add_argument("--network", default="", help="broken apps to run over uvicorn too")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give OUT.json, or --compare BEFORE AFTER")
    result = dump(args.only, [a for a in args.network.split(",") if a])
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    print(f"{len(result)} targets written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

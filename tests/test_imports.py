"""What the kit imports, and when: nothing of Hypothesis first from a check's worker thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_hypothesis_module_is_first_imported_while_checks_run(tmp_path: Path) -> None:
    """Every module Hypothesis imports on first need is imported with the plugin, in the
    main thread: imported first from properties' worker threads side by side, CPython 3.11
    failed one under pytest's assertion rewriting (wscheck.generation._compat). Runs every
    property, on the reference app and on a broken one (so shrinking runs too), and lists
    the Hypothesis modules imported meanwhile."""
    script = tmp_path / "lazy.py"
    script.write_text(
        "import asyncio, sys\n"
        "import wscheck.pytest.plugin\n"
        "from reference_app import create_app\n"
        "import tests.broken.q_line_always as broken\n"
        "from wscheck.run.registry import SUITE, Context\n"
        "from wscheck.drivers.asgi import AsgiDriver, lifespan\n"
        "from wscheck.core.spec import Spec\n"
        "checks = SUITE.all()\n"
        "before = set(sys.modules)\n"
        "async def main():\n"
        "    for app in (create_app(), broken.app):\n"
        "        async with lifespan(app) as wrapped:\n"
        "            driver = AsgiDriver(wrapped, timeout=1.0)\n"
        "            for c in checks:\n"
        "                if c.id.startswith('prop.') and not c.not_applicable(Spec()):\n"
        "                    await c.run(Context(Spec(), driver, 30, 8))\n"
        "            await driver.aclose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('hypothesis')))\n",
        encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout

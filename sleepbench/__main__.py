"""``python -m sleepbench``: the command line (the same as the ``sleepbench`` script)."""

from sleepbench.benchmark.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

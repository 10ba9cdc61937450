import sys


def main() -> None:
    import os

    from mci.commands.fast import run_scan, scan_argv

    values = scan_argv(sys.argv[1:], os.environ)
    if values is not None:  # a plain `mci scan`: typer's result is known, skip its import (commands/fast.py)
        import gc

        # A scan allocates ~30k containers while it imports and builds its dataclasses, and the cyclic GC walked
        # them in ~37 collections that found a few hundred cycles of no resource (see gc.freeze below): ~9 ms of
        # a ~170 ms scan. A gen-0 threshold of 100k (700 by default) lets it finish without them; anything that
        # allocated far more than a scan does would still be collected.
        gc.set_threshold(100_000, 10, 10)
        code = run_scan(values)
        # What the scan leaves is reachable, or cyclic garbage of the lifecycle machine (lists, partials, no file,
        # socket or connection: tests/cli/test_fast_scan.py runs it with ResourceWarnings shown). Frozen, the
        # collection at interpreter exit skips it all: ~10 ms of a ~150 ms scan.
        gc.freeze()
        sys.exit(code)
    # Imported here so `python -m mci` and the console script share one path.
    from mci.app import run

    # What is loaded by now (typer, click, the app) lives until exit: frozen, the cyclic GC skips it in every
    # collection the command triggers and again at interpreter shutdown, ~10 ms of `mci --help` and more of
    # `mci scan`. Objects the command creates are collected as usual; in-process callers of run() are unaffected.
    import gc

    gc.freeze()
    sys.exit(run())


if __name__ == "__main__":
    main()

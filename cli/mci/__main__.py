import sys


def main() -> None:
    # Imported here so `python -m mci` and the console script share one path.
    from mci.app import run

    sys.exit(run())


if __name__ == "__main__":
    main()

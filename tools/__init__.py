"""Developer tools run through dev.py (not shipped in the wheel)."""

"""`python -m compute_emu` runs the command line."""

from .cli import main

main()

"""`python -m musicez`: the same command as `musicez`."""

from musicez.entrypoints.cli.main import main

main()

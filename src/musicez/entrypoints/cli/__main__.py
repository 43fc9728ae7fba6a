"""`python -m musicez.entrypoints.cli`: the `musicez` command without the installed script."""

from musicez.entrypoints.cli.main import main

main()

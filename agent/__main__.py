"""`python -m agent` runs the same command line as the `agent` script."""

from agent.cli import main

main()

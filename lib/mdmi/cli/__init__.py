"""The command line: `python -m mdmi <command>` (see `python -m mdmi --help`)."""

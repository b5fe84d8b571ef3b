"""CLI subcommands: each module registers a subparser and wires stages for one command."""

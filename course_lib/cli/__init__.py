"""The ``course`` command: thin subcommands that parse, call the library and map errors to exit codes."""

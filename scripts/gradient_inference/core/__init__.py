"""core: what every command needs first and nothing slow: errors and exit codes, text helpers,
providers and their secrets, safe local files, every printed line, the runner, defaults, flags
and settings. Imports no other area."""

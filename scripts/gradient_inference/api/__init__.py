"""api: talking to an OpenAI-compatible server: the client (one session, the one retry policy,
bodies read within a deadline) and what servers send (statuses to errors, usage, Retry-After and
rate-limit headers, server-sent events). Imports only core."""

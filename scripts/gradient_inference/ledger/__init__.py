"""ledger: the usage ledger (SQLite): a row for every API call, written by one constructor, and
the queries that reports, budgets and conversations read. Imports api and core."""

"""batch: many chat calls: items and result lines, pacing, the local run, DigitalOcean's Batch
API and its files, and the batch command's work. Imports chat, models, ledger, api and core."""

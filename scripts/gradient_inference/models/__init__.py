"""models: what models there are and what they cost: the price library (cache, bundled snapshot,
matching, costs), DigitalOcean's catalog and pricing page, the budget (every estimate, check,
reservation and refusal), and the models and pricing commands' work. Imports ledger, api, core."""

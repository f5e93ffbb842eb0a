"""media: images, speech and transcription, embeddings, and fal's async-invoke jobs, each
command's work in its run module. Imports models, ledger, api and core; never chat."""

"""chat: the two chat APIs (chat completions and Responses): request bodies, answers whole or
streamed, the user's inputs and conversations, structured output, tools, and the chat command's
work. Imports models, ledger, api and core; never media."""

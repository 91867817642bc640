"""The server-rendered dashboard's helpers: reads shaped for pages (selectors), forms, charts,
presenters for events and results, and system status (queues, providers, agents)."""

"""The HTTP side: the aiohttp app and its middleware, authentication, dashboard sessions, the handlers, the
response models and the OpenAPI document, and the process that serves them. Handlers call core.operations."""

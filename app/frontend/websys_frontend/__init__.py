"""The WebSys reference frontend: a static page, and `/config.json` telling it where the API is."""

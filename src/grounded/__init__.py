"""grounded: LLM features grounded in an organisation's own documents."""

__version__ = "0.1.0"

"""Ingestion: turning source files into normalised, structured documents."""

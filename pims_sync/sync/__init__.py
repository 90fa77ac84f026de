"""The three sync phases (inbound, case enrichment, reconciliation) as plain Python.

No Celery here: workers wrap these; scripts and the CLI call them directly.
"""

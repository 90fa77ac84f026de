"""PIMS providers: the protocol in base.py, one package per PIMS."""

"""evidence_store"""

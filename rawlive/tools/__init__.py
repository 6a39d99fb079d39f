"""What users run over sessions: ``send``, the audit, the HTML report and the JSON Schemas."""

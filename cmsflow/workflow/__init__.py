"""Workflow engine package: the only place that imports SpiffWorkflow."""

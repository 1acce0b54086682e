"""Witnessed interventions on frozen hosts and the incident record (issue 19)."""

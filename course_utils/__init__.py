"""Helpers for the CNN course."""

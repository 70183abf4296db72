"""Dialogs: preferences, about, crash report."""

"""Following one patient: changes and trends, registration, timeline, comparison, table rows."""

"""The follow-up report's content (text, tables, key images), without Qt."""

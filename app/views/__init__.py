"""The widgets that show data: slice panes, viewer, comparison, timeline, 3-D, attention, tables."""

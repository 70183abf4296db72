"""Background work for the GUI: jobs with progress, stage, time left and cancel."""

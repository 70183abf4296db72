"""Reading and writing CT exams: DICOM folders, NIfTI/MHA/NRRD volumes, masks."""

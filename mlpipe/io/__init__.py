"""Every file format the pipeline reads or writes: survey catalogues, FITS images, HDF5 stores."""

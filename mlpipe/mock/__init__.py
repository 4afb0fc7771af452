"""The embedded mock survey: a physically motivated stand-in for GSWLC-2, HyperLeda, GZ2 and SDSS."""

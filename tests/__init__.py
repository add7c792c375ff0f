"""The test suite (a package, so `tests.*` never resolves to a site-packages `tests`)."""

"""The certification exam: its data splits (:mod:`.data`), hidden-data quality builders (:mod:`.quality`) and
signed certificates (:mod:`.certificates`, :mod:`.certificate_files`)."""

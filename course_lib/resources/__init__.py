"""Course resources: the registry of data sets and models with checksums (:mod:`.registry`), where
they come from (:mod:`.sources`), TF Hub handles (:mod:`.handles`) and the functions that build resources
(:mod:`.generators`, :mod:`.standins`, :mod:`.kit_models`), each named in ``datasets/manifest.yaml``."""

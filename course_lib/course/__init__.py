"""Course operations: ``course run`` (:mod:`.run`), the notebook runner (:mod:`.notebooks`, :mod:`.nbworker`),
profiles (:mod:`.profiles`), the run report (:mod:`.report`), ``course doctor`` (:mod:`.doctor`) and ``course lab``
(:mod:`.lab`)."""

# Startup file of the kernels that grade submissions (course_lib.grading sets IPYTHONDIR here).
# nbgrader scores a test cell that writes *anything* to stderr as failed, so library chatter
# (TensorFlow deprecation notices, absl warnings) must not reach stderr. Errors still do.
import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
for _name in ("tensorflow", "absl", "h5py", "matplotlib", "PIL"):
    logging.getLogger(_name).setLevel(logging.ERROR)
try:
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    absl.logging.set_stderrthreshold("error")
except ImportError:
    pass

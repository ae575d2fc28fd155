"""How the results read: one module per study, `section(scale, numbers, verdict, out_dir)`, which
draws the study's plot and writes its paragraph and table from the numbers the study computed.
The English lives here, so a study's rules read without it and its wording changes without them."""

import importlib

from hf_copycot.reproduce.studies import STUDIES

# study name -> its prose module, in report order (a study without one fails at import).
PROSE = {study.NAME: importlib.import_module(f"{__name__}.{study.NAME}") for study in STUDIES}

"""``python -m gridplan.demo [FOLDER]``: regenerate the demo district's files."""

import sys

from gridplan.demo.district import main

sys.exit(main())

"""``python -m gridplan``: the command line, the same as the ``gridplan`` command.

Examples
--------
>>> import subprocess, sys
>>> subprocess.run([sys.executable, "-m", "gridplan", "--version"],
...                capture_output=True, text=True).stdout  # doctest: +SKIP
'gridplan, version 0.1.0\\n'
"""

from gridplan.cli.main import main

if __name__ == "__main__":
    main(prog_name="gridplan")

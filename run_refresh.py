import sys

from flywheel_lib.cli import main

sys.exit(main())

import sys

from csslab.cli import main

sys.exit(main())

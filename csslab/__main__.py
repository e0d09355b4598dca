import sys

from csslab.cli.main import main

sys.exit(main())

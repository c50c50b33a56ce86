import sys

from visionr1.cli import main

sys.exit(main())

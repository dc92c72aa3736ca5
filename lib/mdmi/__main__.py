import sys

from mdmi.cli.main import main

sys.exit(main())

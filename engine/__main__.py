"""`python -m engine run ...`: the headless engine without the app (what the app and torchrun launch)."""

import sys

from engine.cli import main

sys.exit(main())

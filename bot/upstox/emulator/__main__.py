import sys

from bot.upstox.emulator.server import main

sys.exit(main())

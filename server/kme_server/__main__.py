"""`python -m kme_server --data DIR --port N ...`: run the service until SIGTERM or SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from kme_server.app import serve
    from kme_server.settings import add_arguments, settings_from_args

    parser = argparse.ArgumentParser(prog="python -m kme_server", description=__doc__)
    add_arguments(parser)
    settings = settings_from_args(parser.parse_args(argv))
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

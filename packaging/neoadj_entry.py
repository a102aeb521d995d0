"""Entry point of the frozen ``neoadj`` executable (the console script ``app.cli:main``)."""

import multiprocessing

from app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # app.synth.cohort starts "spawn" worker processes
    raise SystemExit(main())

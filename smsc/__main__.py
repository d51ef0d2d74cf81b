"""``python -m smsc [--listen HOST:PORT] [--config FILE] [--store FILE] [--open] [--stats]``: the
simulated SMSC as its own process (same options as ``lwm2m-sms smsc``)."""

import sys

from lwm2m_sms.cli import main

if __name__ == "__main__":
    sys.exit(main(["smsc", *sys.argv[1:]]))

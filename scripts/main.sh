#!/usr/bin/env bash
# Set up the environment if needed, then run the LXI-15029 scenario on the bundled
# data (CPU). Output goes to a new folder; its path is printed at the end.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec python -m popkin.scenario "$@"

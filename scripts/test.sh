#!/usr/bin/env bash
# Set up the environment if needed, then run the test suite (slow tests excluded;
# pass `-m slow` to run only those). Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec python -m pytest -n 2 -m "not slow" "$@"

"""`python -m optml ARGS` runs the bundled optml binary with ARGS, exactly as `optml ARGS`."""

import os
import subprocess
import sys

from ._binary import OptmlError, find_binary


def main() -> int:
    try:
        binary = find_binary()
    except OptmlError as err:
        print(f"optml: {err}", file=sys.stderr)
        return 2
    if os.name == "posix":
        # Replace this process, so signals, the exit status and the terminal are the binary's own.
        os.execv(binary, [binary, *sys.argv[1:]])
    return subprocess.call([binary, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())

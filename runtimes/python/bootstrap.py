"""nimbus Python runtime client: entry file. Run as `python3 -u bootstrap.py` (see nimbus_runtime.py).

A script run as __main__ is compiled on every start, a module imported from a file is not: its
compiled form is cached in __pycache__. So the client lives in nimbus_runtime and this file only
imports it, writing the cache when the directory is writable by this process even if the platform
sets PYTHONDONTWRITEBYTECODE (which then still applies to the function's own code).
"""
import sys

_dont_write = sys.dont_write_bytecode
sys.dont_write_bytecode = False
try:
    import nimbus_runtime
finally:
    sys.dont_write_bytecode = _dont_write

if __name__ == "__main__":
    nimbus_runtime.run()

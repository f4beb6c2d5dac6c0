"""Files for mypy to check, not for pytest to run: see tests/typing/test_typing.py."""

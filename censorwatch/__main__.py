"""``python -m censorwatch`` is the same as the ``censorwatch`` command."""

from censorwatch.cli import main

if __name__ == "__main__":
    main()

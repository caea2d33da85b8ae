"""`python -m targetwise`: the same as the `targetwise` command."""

from targetwise.cli import main

if __name__ == "__main__":
    main()

"""``python -m lambda_destinations``: the ``lambda-destinations`` command."""

if __name__ == "__main__":
    import os
    import sys

    # ``python -m`` puts the working directory first on sys.path, where a user's yaml.py would
    # replace a module the command needs. The handler's directory goes on sys.path when the
    # command loads the handler, as Lambda's runtime does it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]

    # Imported here, so that importing this module loads nothing of the command line.
    from lambda_destinations.cli import main

    sys.exit(main())

"""`python -m service`: run the translation service (options in service/cli.py, settings in service/settings.py)."""

from service.cli import main

if __name__ == "__main__":
    main()

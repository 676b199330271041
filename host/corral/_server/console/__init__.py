"""The console's page, ES modules and stylesheet (served by ``console_page.py``)."""

# Two commands for a fresh machine:
#   make demo   install, migrate and serve the demo site on SQLite at 127.0.0.1:8000
#   make test   install and run the whole test suite (DATABASE_URL picks the database)
# and more:
#   make superuser  install, migrate and create a login for the demo's admin (it asks for one)
#   make bench  install and run the benchmark (needs wrk; BENCH_ARGS=--quick for a short run)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADDRESS ?= 127.0.0.1:8000

.PHONY: demo demo-install demo-database superuser test bench venv

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo-install: venv
	$(BIN)/pip install --quiet -e '.[demo]'

demo-database: demo-install
	$(BIN)/python manage.py migrate --verbosity 0

# DEBUG is off unless DJANGO_DEBUG=1; --insecure has runserver serve the admin's
# static files all the same.
demo: demo-database
	@echo "API key of the user 'demo' (the last line below; it is shown only once):"
	@$(BIN)/python manage.py create_api_key demo
	@echo "Base URL: http://$(ADDRESS)/v1"
	@echo "Admin: http://$(ADDRESS)/admin/ (to make a login for it: make superuser)"
	$(BIN)/python manage.py runserver --insecure $(ADDRESS)

# Asks for a username, an email address and a password; SUPERUSER_ARGS=--noinput
# takes them from DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD.
superuser: demo-database
	$(BIN)/python manage.py createsuperuser $(SUPERUSER_ARGS)

test: venv
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

#!/bin/sh
# `make up`'s last step. The local stack requires credentials, so this checkout keeps one key of
# the tenant "local" with both roles in var/stack-api-key (readable by you alone): kept while the
# stack's database knows it, issued again when it does not (the first `make up`, or one after
# `make down ARGS=--volumes`). COMPOSE is the Makefile's compose command.
set -eu
COMPOSE=${COMPOSE:-docker compose}
KEY_FILE=var/stack-api-key
mkdir -p var
umask 077
touch "$KEY_FILE"
# shellcheck disable=SC2086 # COMPOSE is a command with its arguments
$COMPOSE exec -T todo-api python -m scripts.admin keys ensure --tenant local \
  --role member --role operator --label "make up" --by operator:make-up \
  <"$KEY_FILE" >"$KEY_FILE.new"
mv "$KEY_FILE.new" "$KEY_FILE"
echo "The stack requires credentials. Its operator key is in $KEY_FILE; for curl:"
echo "  export AUTH=\"Authorization: Bearer \$(cat $KEY_FILE)\""
echo "and paste the key into the page's sign-in at http://localhost:6400/"

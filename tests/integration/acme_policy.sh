#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME finalize goes through the policy engine (issue / wait for approvers / refuse),
# and new orders per account per hour are rate limited.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/acme_lib.sh"

D=$WORK/ca
ca_init "$D" || bail "init failed"
HP=$(free_port)
acme_conf "$D" "{\"rate_limits\": {\"orders_per_hour\": 4, \"pending_authorizations\": 1,
  \"failed_validations_per_hour\": 1},
  \"validation\": {\"http01_port\": $HP, \"hosts\": {\"a.wait.test\": \"127.0.0.1\",
  \"a.deny.test\": \"127.0.0.1\", \"ok.example.test\": \"127.0.0.1\",
  \"fail.example.test\": \"127.0.0.1\"}}}"
cat >"$D/policy.json" <<'JSON'
{"rules": [
  {"name": "wait", "match": {"dns_suffix": [".wait.test"]}, "action": "approve", "approvals": 1},
  {"name": "deny", "match": {"dns_suffix": [".deny.test"]}, "action": "reject", "reason": "not here"},
  {"name": "default", "match": {}, "action": "issue"}
]}
JSON
ca_serve "$D" || bail "serve failed"

acme_probe policy "after deactivating"
ok "the parked and refused requests are audited" "$CAIRN" audit export --dir "$D"
last_has "  ... request.pending" "request.pending"
last_has "  ... request.rejected" "request.rejected"

# Bad ACME settings stop the daemon at start with the key named.
ca_stop
acme_conf "$D" '{"validation": {"http01_port": 0}}'
fails "serve refuses acme.validation.http01_port 0" "$CAIRN" serve --dir "$D"
last_has "  ... naming the key" "acme.validation.http01_port: must be an integer 1..65535"
acme_conf "$D" '{"validaton": {}}'
fails "serve refuses an unknown acme key" "$CAIRN" serve --dir "$D"
last_has "  ... naming it" "acme.validaton: unknown key"

ok "every certificate in the database passes certlint" lint_db "$D"
done_testing

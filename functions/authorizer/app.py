"""BffSession - the Lambda authorizer of a team's own routes; see hitkey_bff.authorizer."""

from hitkey_bff.authorizer import handler as handler

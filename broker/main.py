"""The ``serdika`` console script (docs/architecture.md, "CLI").

``flask --app broker`` finds the same commands: :func:`broker.cli.register_commands` puts them
on every app.
"""

from __future__ import annotations

from flask.cli import FlaskGroup

from broker.app import create_app
from broker.audit_cli import audit_group
from broker.connectors_cli import connectors_group
from broker.receipt_cli import receipt_group

main = FlaskGroup(
    name="serdika",
    create_app=create_app,
    add_version_option=False,
    load_dotenv=False,
    help="Serdika, the consent broker of the city.",
)

# A FlaskGroup builds the app (keys, database) to find the app's own commands; an auditor's or
# a citizen's ``verify`` must run where there is neither, so these groups are found without it.
# Their commands that need the broker still get it through ``with_appcontext``.
for group in (audit_group, receipt_group, connectors_group):
    main.add_command(group)

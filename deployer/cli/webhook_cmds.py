"""`deployer webhook serve`: the signed-webhook receiver that starts registered releases."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def webhook():
    """Receive signed webhooks (GitHub, Jenkins, Standard Webhooks) and release."""


@webhook.command()
@click.option("--config", "hooks_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("hooks.yaml"),
              show_default=True, help="Which deliveries may start which releases.")
@click.option("--listen", help="host:port (default: the file's `listen`).")
@click.pass_obj
def serve(factory, hooks_path, listen):
    """Serve until Ctrl-C; refuses to start without the shared secret, or with an entry that names a
    service or train deployer.yaml does not have."""
    import logging
    import os
    import re

    from deployer.ci.hooks_config import LISTEN, check_against_spec, load_hooks
    from deployer.ci.webhook import serve as run
    from deployer.errors import UsageError
    from deployer.spec import load_config

    config = load_hooks(hooks_path)
    if listen:
        if not re.fullmatch(LISTEN, listen) or not 0 < int(listen.rpartition(":")[2]) < 65536:
            raise UsageError(f"--listen {listen}: expected host:port, e.g. 127.0.0.1:8787")
        config = config.model_copy(update={"listen": listen})
    if factory.config_path != Path("deployer.yaml") or not config.deployer_config:
        config = config.model_copy(update={"deployer_config": str(factory.config_path)})
    secret = config.secret(os.environ)
    spec_path = Path(config.deployer_config)
    check_against_spec(config, load_config(spec_path), hooks_path, spec_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("waitress").setLevel(logging.WARNING)
    run(config, secret)

import click
@click.command("forwarder")
def forwarder() -> None:
    """stub"""

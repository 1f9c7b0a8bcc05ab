"""``flyte create secret``, ``flyte get secret``, ``flyte delete secret`` (the local store)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def checked_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: project, domain and secret names are checked as names before
    anything touches the store (``flyte create config`` uses it too)."""
    from flyte._validation import safe_name

    if value is None:
        return None
    try:
        return safe_name(param.human_readable_name, value)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1], ctx=ctx, param=param) from None


_scope = [
    click.option("--project", "-p", callback=checked_name, help="Only for this project."),
    click.option("--domain", "-d", callback=checked_name, help="Only for this domain."),
]


def scoped(func):  # type: ignore[no-untyped-def]
    for option in reversed(_scope):
        func = option(func)
    return func


@click.group("create")
def create_group() -> None:
    """Create resources (secrets, config files)."""


@click.group("get")
def get_group() -> None:
    """Show resources (secrets, triggers)."""


@click.group("delete")
def delete_group() -> None:
    """Delete resources (secrets, triggers)."""


class _ValueNotEchoed(click.Command):
    """``flyte create secret``: a usage error never repeats what was typed after NAME. Click's
    own messages do (``No such option: --S3cret`` for a value that starts with ``-``, ``Got
    unexpected extra argument (my s3cret)`` for one with an unquoted space), and the value is a
    secret: on the terminal, in a CI log, in a bug report."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption:
            raise click.UsageError(
                "an argument that starts with '-' is not an option of this command (not shown: it "
                "may be the secret's value); give such a value as --value=VALUE, after --, or on "
                "standard input",
                ctx=ctx,
            ) from None
        except click.BadParameter as exc:
            if exc.param is not None and exc.param.name not in ("value", "value_option"):
                raise  # about NAME, --from-file's path or --type: it quotes only what it is about
            raise click.UsageError(self._masked(exc.format_message(), given), ctx=ctx) from None
        except click.UsageError as exc:
            if "extra argument" in exc.message:
                raise click.UsageError(
                    "more arguments than NAME and VALUE (not shown: they may be the secret's value); "
                    "quote a value that holds spaces, or give it on standard input",
                    ctx=ctx,
                ) from None
            raise click.UsageError(self._masked(exc.message, given), ctx=ctx) from None

    def _masked(self, message: str, given: list[str]) -> str:
        # What click may quote back, other than this command's own option names, reads ***.
        names = {name for param in self.params for name in (*param.opts, *param.secondary_opts)}
        for token in sorted({t.split("=", 1)[-1] for t in given} - names, key=len, reverse=True):
            if token:
                message = message.replace(token, "***")
        return message


@create_group.command("secret", cls=_ValueNotEchoed)
@click.argument("name", callback=checked_name)
@click.argument("value", required=False)
@click.option("--value", "value_option", help="The value (the reference SDK's spelling of VALUE).")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the value from this file (e.g. a key or a docker config).",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["regular", "image_pull"]),
    default="regular",
    show_default=True,
    help="image_pull: registry credentials (docker config JSON).",
)
@scoped
def create_secret(
    name: str,
    value: str | None,
    value_option: str | None,
    from_file: Path | None,
    kind: str,
    project: str | None,
    domain: str | None,
) -> None:
    """Store secret NAME with VALUE (or --value VALUE, or --from-file). The value is never printed.

    With neither, the value is read from standard input: typed at a prompt that does not show
    it, or piped (``printf %s "$TOKEN" | flyte create secret NAME``; one trailing newline is
    dropped). That keeps it out of the shell's history and the process list."""
    from flyte.errors import ConfigurationError
    from flyte.runtime import secret_store

    if kind == "image_pull" and (project or domain):  # (before a value is read: none is prompted for)
        given = " and ".join(o for o, v in (("--project", project), ("--domain", domain)) if v)
        raise click.UsageError(
            f"an image_pull secret is organisation-wide: give it without {given} "
            "(registry credentials serve every project, as flyte.remote.Secret.create stores them)"
        )
    if value is not None and value_option is not None:
        raise click.UsageError("give the value once: VALUE or --value VALUE")
    value = value if value is not None else value_option
    if value is not None and from_file is not None:
        raise click.UsageError("give either VALUE or --from-file PATH, not both")
    if value is None and from_file is None:
        value = _value_from_stdin()
    data = from_file.read_bytes() if from_file else value.encode()  # type: ignore[union-attr]
    if kind == "image_pull" and not secret_store.is_pull_secret(data):  # (as Secret.create checks it)
        raise click.BadParameter(
            f"an image_pull secret must be a docker config JSON with registry credentials "
            f"(accepted: {secret_store.PULL_SECRET_FORM})",
            param_hint="--from-file",
        )
    try:
        secret_store.create(name, data, project, domain, kind=kind)
    except ConfigurationError as exc:  # (too large: says its size, never the value)
        raise click.BadParameter(str(exc), param_hint="--from-file" if from_file else "VALUE") from None
    click.echo(f"created secret {name}" + _where(project, domain))


def _value_from_stdin() -> str:
    """The value typed at a hidden prompt, or piped in."""
    if sys.stdin is None:  # (no standard input at all: a detached process)
        text = ""
    elif sys.stdin.isatty():
        return click.prompt("Enter secret value", hide_input=True, err=True)
    else:
        text = sys.stdin.read()
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text:
        raise click.UsageError(
            "give either VALUE or --from-file PATH (VALUE may also be given as --value VALUE, "
            "or on standard input: it was empty)"
        )
    return text


@get_group.command("secret")
@click.argument("name", required=False, callback=checked_name)
@scoped
def get_secret(name: str | None, project: str | None, domain: str | None) -> None:
    """List secret names in a scope (values are never shown), or check that NAME exists."""
    from flyte.runtime import secret_store

    names = secret_store.list_names(project, domain)
    if name is not None:
        if name not in names:
            raise click.ClickException(f"no secret {name!r}" + _where(project, domain))
        names = [name]
    for item in names:
        click.echo(item)


@delete_group.command("secret")
@click.argument("name", callback=checked_name)
@scoped
def delete_secret(name: str, project: str | None, domain: str | None) -> None:
    """Delete secret NAME from a scope."""
    from flyte.errors import SecretNotFoundError
    from flyte.runtime import secret_store

    try:
        secret_store.delete(name, project, domain)
    except SecretNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted secret {name}" + _where(project, domain))


def _where(project: str | None, domain: str | None) -> str:
    parts = [f"project {project}" if project else "", f"domain {domain}" if domain else ""]
    scope = ", ".join(p for p in parts if p)
    return f" ({scope})" if scope else " (organisation-wide)"

"""Auth files for ``spanscope serve --auth-file`` (docs/security.md), written as an operator
keeps them: readable by the owner only (the server warns about a file others can read).

    path = write_auth_file(tmp_path, Token("apps", INGEST, ("ingest",)),
                           Token("reader", QUERY, ("query",), tenant="acme"))
    server = start_spanscope(tmp_path / "data", {"SPANSCOPE_AUTH_FILE": str(path)})
    httpx.get(server.api_url + "/api/v1/services", headers=bearer(QUERY))

A test of the file's own syntax passes its TOML as text instead: ``write_auth_file(tmp_path,
'[[tokens]]\\n...')``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Token:
    """One ``[[tokens]]`` entry: who (``name``), the secret, its scopes, its tenant if any."""

    name: str
    token: str
    scopes: tuple[str, ...]
    tenant: str | None = None

    def toml(self) -> str:
        lines = [
            "[[tokens]]",
            f"name = {json.dumps(self.name)}",
            f"token = {json.dumps(self.token)}",
            f"scopes = {json.dumps(list(self.scopes))}",
        ]
        if self.tenant is not None:
            lines.append(f"tenant = {json.dumps(self.tenant)}")
        return "\n".join(lines) + "\n"


def auth_toml(*tokens: Token) -> str:
    """The auth file that holds ``tokens``, in order."""
    return "\n".join(t.toml() for t in tokens)


def write_auth_file(folder: Path, *content: Token | str, name: str = "auth.toml") -> Path:
    """``folder/name`` with mode 0600 holding the tokens (or TOML text) given; its path."""
    path = folder / name
    path.write_text("\n".join(c if isinstance(c, str) else c.toml() for c in content))
    path.chmod(0o600)
    return path


def bearer(token: str, tenant: str | None = None) -> dict[str, str]:
    """The headers that present ``token`` (and pick ``tenant`` with ``X-Scope-OrgID``)."""
    headers = {"Authorization": f"Bearer {token}"}
    return headers | ({"X-Scope-OrgID": tenant} if tenant else {})

"""One settings loader for the edge and the hub, and the broker section they share.

A settings class derives from :class:`FileSettings` and names its environment prefix
(``HJEM_EDGE_``, ``HJEM_HUB_``). :func:`load_file` reads its TOML file with pydantic-settings'
:class:`~pydantic_settings.TomlConfigSettingsSource`; environment variables override the file,
nested keys joined by ``__`` (``HJEM_HUB_MQTT__PASSWORD``). Every problem is reported at once
in one :class:`SettingsError`: each key pydantic refuses (``devices[0].kind``) and, with
``check_files``, each TLS file of a broker section that is missing or cannot be read, under
the key as it was written.

:class:`BrokerSettings` is the ``[mqtt]`` section of both: URL, client id, login, and the TLS
files, written either as a ``[mqtt.tls]`` table (the hub's examples) or directly in ``[mqtt]``
(the edge's). A section adds its own tuning fields by subclassing it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic import field_validator as _field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from foundation.mqtturl import broker_host, broker_port, is_tls_url

__all__ = [
    "TLS_FILES",
    "BrokerSettings",
    "FileSettings",
    "Problem",
    "SettingsError",
    "TlsFiles",
    "broker_file_problems",
    "key_of",
    "load_file",
    "merged_input",
    "password_source",
    "read_toml",
    "report",
    "tls_file_problems",
    "validate",
    "validation_problems",
]

Problem = tuple[str, str]
"""(key as written, what is wrong with it)."""
TLS_FILES = ("ca_file", "cert_file", "key_file")
S = TypeVar("S", bound="FileSettings")


class SettingsError(Exception):
    """The settings are wrong; ``problems`` lists every (key, problem), ``source`` the file."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        text = "; ".join(f"{key}: {problem}" for key, problem in self.problems)
        super().__init__(f"{source}: {text}" if source else text)


class TlsFiles(BaseModel):
    """The TLS files of a broker connection; none given: the system's CAs, no client certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (the client certificate)")
        return self


class BrokerSettings(BaseModel):
    """An MQTT broker connection: the ``[mqtt]`` section of the edge and the hub."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str | None = Field(default=None, min_length=1, max_length=128)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsFiles | None = Field(
        default=None,
        description="TLS, implied by an mqtts:// URL; ca_file, cert_file and key_file may also"
        " be written directly in the section",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _tls_table(cls, data: Any) -> Any:
        """Files written in the section go to ``tls``; an mqtts:// URL means TLS."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        flat = {name: data.pop(name) for name in TLS_FILES if name in data}
        tls = data.get("tls")
        if isinstance(tls, TlsFiles):
            tls = tls.model_dump(exclude_none=True)
        if flat and (tls is None or isinstance(tls, Mapping)):
            both = sorted(set(flat) & set(tls or {}))
            if both:
                raise ValueError(f"{both[0]} is given twice: in the section and in its tls table")
            data["tls"] = {**(tls or {}), **flat}
        elif flat:
            data.update(flat)  # tls is not a table: pydantic names both problems
        url = data.get("url")
        if data.get("tls") is None and isinstance(url, str) and is_tls_url(url):
            data["tls"] = {}
        return data

    @_field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{url!r} must look like mqtt://host:1883 or mqtts://host:8883")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return url

    @property
    def host(self) -> str:
        return broker_host(self.url)

    @property
    def port(self) -> int:
        return broker_port(self.url)

    @property
    def uses_tls(self) -> bool:
        return self.tls is not None

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_file if self.tls else None

    @property
    def cert_file(self) -> Path | None:
        return self.tls.cert_file if self.tls else None

    @property
    def key_file(self) -> Path | None:
        return self.tls.key_file if self.tls else None

    def as_login(self, username: str | None, client_id: str) -> BrokerSettings:
        """The same broker under another login (e.g. the hub's alert publisher)."""
        return BrokerSettings(
            url=self.url,
            client_id=client_id,
            username=username,
            password=self.password,
            tls=self.tls,
            keepalive_s=self.keepalive_s,
        )


class FileSettings(BaseSettings):
    """Settings from a TOML file (the init values) under environment variables."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="forbid", frozen=True)

    relative_paths: ClassVar[tuple[tuple[str, ...], ...]] = ()
    """Keys whose relative paths are taken relative to the file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del settings_cls, dotenv_settings, file_secret_settings
        return env_settings, init_settings  # the environment overrides the file


def key_of(loc: Sequence[int | str]) -> str:
    """A pydantic location as written in TOML: ``devices[0].kind``, ``mqtt.url``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validation_problems(exc: ValidationError) -> list[Problem]:
    """Every problem pydantic found, not only the first."""
    return [
        (key_of(error["loc"]), str(error["msg"]).removeprefix("Value error, "))
        for error in exc.errors(include_url=False, include_input=False)
    ]


def read_toml(cls: type[FileSettings], path: Path) -> dict[str, Any]:
    """The file's table, read by pydantic-settings' TOML source, paths made relative to it."""
    try:
        with path.open("rb") as handle:  # the TOML source would take a missing file as empty
            handle.read(1)
        data = TomlConfigSettingsSource(cls, toml_file=path)()
    except OSError as exc:
        raise SettingsError(str(path), [("(file)", f"cannot read: {exc.strerror or exc}")]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(str(path), [("(syntax)", f"not valid TOML: {exc}")]) from exc
    for keys in cls.relative_paths:
        _relative(data, keys, path.parent)
    return data


def _relative(data: dict[str, Any], keys: tuple[str, ...], base: Path) -> None:
    *sections, last = keys
    table: Any = data
    for key in sections:
        table = table.get(key) if isinstance(table, dict) else None
    value = table.get(last) if isinstance(table, dict) else None
    if isinstance(value, str) and not Path(value).is_absolute():
        table[last] = str(base / value)


def validate(
    cls: type[S], data: Mapping[str, Any], source: str = "", *, check_files: bool = True
) -> S:
    """``cls`` from ``data`` under the environment; :class:`SettingsError` lists every problem."""
    problems: list[Problem] = []
    settings: S | None = None
    try:
        settings = cls(**data)
    except ValidationError as exc:
        problems += validation_problems(exc)
    if check_files:
        problems += tls_file_problems(cls, data)
    if problems or settings is None:
        raise SettingsError(source, problems)
    return settings


def load_file(cls: type[S], path: Path, *, check_files: bool = True) -> S:
    """Read, override from the environment and validate the TOML file at ``path``."""
    return validate(cls, read_toml(cls, path), str(path), check_files=check_files)


def merged_input(cls: type[FileSettings], data: Mapping[str, Any]) -> dict[str, Any]:
    """The file's values under the environment's, as the settings class sees them."""

    def merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(low)
        for key, value in high.items():
            below = out.get(key)
            both = isinstance(below, Mapping) and isinstance(value, Mapping)
            out[key] = merge(below, value) if both else value  # type: ignore[arg-type]
        return out

    return merge(data, EnvSettingsSource(cls)())


def _broker_sections(cls: type[FileSettings]) -> Iterator[str]:
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BrokerSettings):
            yield name


def tls_file_problems(cls: type[FileSettings], data: Mapping[str, Any]) -> list[Problem]:
    """Each TLS file of each broker section that is missing or cannot be read."""
    merged = merged_input(cls, data)
    problems: list[Problem] = []
    for name in _broker_sections(cls):
        section = merged.get(name)
        if not isinstance(section, Mapping):
            continue
        table = section.get("tls")
        for file in TLS_FILES:
            value, key = section.get(file), f"{name}.{file}"
            if value is None and isinstance(table, Mapping):
                value, key = table.get(file), f"{name}.tls.{file}"
            if isinstance(value, str | Path):
                problems += [(key, problem) for problem in _file_problem(Path(value))]
    return problems


def broker_file_problems(broker: BrokerSettings, key: str) -> list[Problem]:
    """Each TLS file of a validated broker section that is missing or cannot be read."""
    files = [(name, getattr(broker, name)) for name in TLS_FILES]
    return [
        (f"{key}.tls.{name}", problem)
        for name, path in files
        if path is not None
        for problem in _file_problem(path)
    ]


def report(
    path: Path, problems: Sequence[Problem], write: Callable[[str], None], *notes: str
) -> int:
    """``hjem ... check-config``'s report: each problem, the notes, a count; 1 on a problem."""
    for key, problem in problems:
        write(f"problem: {key}: {problem}")
    for note in notes:
        write(note)
    if problems:
        count = len(problems)
        write(f"{path}: {count} problem{'s' if count > 1 else ''}")
        return 1
    write(f"{path}: no problems")
    return 0


def _file_problem(path: Path) -> list[str]:
    if not path.is_file():
        return [f"{path} does not exist or is not a file"]
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return [f"{path} cannot be read: {exc.strerror or exc}"]
    return []


def password_source(cls: type[FileSettings], data: Mapping[str, Any], section: str) -> str | None:
    """Where the ``[section]`` password comes from (never its value); None when it is not set."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    variable = f"{prefix}{section}__password".upper()
    if any(name.upper() == variable and value for name, value in os.environ.items()):
        return f"the environment ({variable})"
    table = data.get(section)
    if isinstance(table, Mapping) and table.get("password"):
        return f"the file ([{section}] password; {variable} would override it)"
    return None

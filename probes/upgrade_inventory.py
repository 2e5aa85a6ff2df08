"""PREFLIGHT probe of the Airflow upgrade: what this component runs, read inside it.

Returns::

    {"airflowVersion", "python": {"version", "implementation", "executable"},
     "providers": [{"name", "version", "airflowRequirements": [...]}],
     "dagsFolder", "configFile": {"path", "existed"},
     "configOptions": [{"section", "option", "sources": [...]}], "host"}

``airflowRequirements`` are the provider's own ``Requires-Dist: apache-airflow...`` lines from its
installed metadata (extras-only lines left out): the honest source of what it claims to support.

``configOptions`` names the options the deployment sets itself (in its airflow.cfg or as
AIRFLOW__SECTION__OPTION[_CMD|_SECRET] variables), never their values: the upgrade's config lint
needs the names, and a value may be a secret. Whether airflow.cfg existed is read BEFORE Airflow is
imported: Airflow writes a default airflow.cfg into an AIRFLOW_HOME that has none (2.x uncommented,
so every option would look set), and then that file is the probe's doing, not the deployment's.

Works on Airflow 2.11 and 3.x (only ``airflow.__version__``, ``airflow.configuration`` and the
standard library are used).
"""

import configparser
import os
import platform
import re
import socket
import sys
from importlib import metadata

_PROVIDER_PREFIX = "apache-airflow-providers-"
# The core distribution only: not apache-airflow-providers-*, apache-airflow-core, -task-sdk.
_AIRFLOW_REQ = re.compile(r"^apache[-_.]airflow(?![-_.\w])", re.IGNORECASE)
_EXTRA_MARKER = re.compile(r"\bextra\s*==", re.IGNORECASE)
_ENV_OPTION = re.compile(r"^AIRFLOW__(.+?)__(.+)$")


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _config_path():
    """Where Airflow (2.11 and 3.x alike) reads airflow.cfg from, without importing it."""
    explicit = os.environ.get("AIRFLOW_CONFIG")
    if explicit:
        return os.path.expanduser(explicit)
    home = os.environ.get("AIRFLOW_HOME") or os.path.join("~", "airflow")
    return os.path.join(os.path.expanduser(home), "airflow.cfg")


def _providers():
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        canonical = _canonical(name)
        if not canonical.startswith(_PROVIDER_PREFIX) or canonical in found:
            continue
        requirements = [
            r.strip()
            for r in (dist.requires or [])
            if _AIRFLOW_REQ.match(r.strip()) and not _EXTRA_MARKER.search(r)
        ]
        found[canonical] = {
            "name": canonical,
            "version": dist.version,
            "airflowRequirements": requirements,
        }
    return [found[k] for k in sorted(found)]


def _file_options(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(path, encoding="utf-8")
    return [
        (section.lower(), option.lower()) for section in parser.sections() for option in parser.options(section)
    ]


def _env_options():
    """(section, option, source) of AIRFLOW__ variables, names only."""
    out = []
    for name in os.environ:
        m = _ENV_OPTION.match(name)
        if not m:
            continue
        section, option = m.group(1).lower(), m.group(2).lower()
        source = "env"
        # Airflow reads <OPTION>_CMD / <OPTION>_SECRET as other sources of <OPTION>.
        for suffix, kind in (("_cmd", "env_cmd"), ("_secret", "env_secret")):
            if option.endswith(suffix) and len(option) > len(suffix):
                option, source = option[: -len(suffix)], kind
                break
        out.append((section, option, source))
    return out


def main(request, prior_env):
    config_path = _config_path()
    config_existed = os.path.isfile(config_path)

    import airflow
    from airflow.configuration import conf

    options = {}
    if config_existed:
        for key in _file_options(config_path):
            options.setdefault(key, set()).add("airflow.cfg")
    for section, option, source in _env_options():
        options.setdefault((section, option), set()).add(source)

    return {
        "airflowVersion": airflow.__version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "providers": _providers(),
        "dagsFolder": conf.get("core", "dags_folder"),
        "configFile": {"path": config_path, "existed": config_existed},
        "configOptions": [
            {"section": s, "option": o, "sources": sorted(options[(s, o)])} for s, o in sorted(options)
        ],
        "host": socket.gethostname(),
    }

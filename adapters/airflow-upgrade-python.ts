/**
 * The Python the upgrade CLI adapter runs with a venv's own interpreter (`python -c`), for what the
 * `airflow` CLI does not print: the DB's alembic revision, what the venv's migration scripts say
 * about it, and PEP 440 evaluation of provider requirements with the venv's `packaging`.
 *
 * One source, four modes (argv[1]); describe-given and providers read their input on stdin as JSON; the answer is
 * one RESULT_MARK-prefixed JSON line on stdout (Airflow may log to stdout on import). The database
 * URL is only ever read from AIRFLOW__DATABASE__SQL_ALCHEMY_CONN.
 */

export const RESULT_MARK = '@@upgrade-cli-result@@ ';

export const UPGRADE_PY = String.raw`
import json
import os
import sys

MARK = "@@upgrade-cli-result@@ "


def emit(doc):
    sys.stdout.write(MARK + json.dumps(doc) + "\n")
    sys.stdout.flush()


def read_revisions():
    # SQLAlchemy only: no Airflow import, so it is fast and works with any venv.
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return []
            return sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def describe(revisions):
    import airflow
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from airflow.utils import db as airflow_db

    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(airflow.__file__), "migrations"))
    script = ScriptDirectory.from_config(config)
    heads_map = dict(getattr(airflow_db, "_REVISION_HEADS_MAP", {}))
    release_of = {rev: version for version, rev in heads_map.items()}

    def one(rev):
        try:
            found = script.get_revision(rev)
        except Exception:  # noqa: BLE001 - alembic raises several types for an unknown id
            found = None
        if found is None:
            return {"revision": rev, "known": False, "airflowVersion": None, "releaseHeadOf": None, "doc": None}
        return {
            "revision": rev,
            "known": True,
            "airflowVersion": getattr(found.module, "airflow_version", None),
            "releaseHeadOf": release_of.get(rev),
            "doc": found.doc,
        }

    return {
        "venvAirflowVersion": airflow.__version__,
        "heads": list(script.get_heads()),
        "headsMap": heads_map,
        "revisions": [one(r) for r in revisions],
    }


def providers(doc):
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    try:
        target = Version(doc["targetVersion"])
    except InvalidVersion:
        return {"inputError": {"field": "targetVersion", "message": "is not a PEP 440 version"}}

    pins = {}
    for raw in doc["targetConstraints"].splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if exact:
            pins[canonicalize_name(req.name)] = exact[0]

    in_target = {}
    for dist in metadata.distributions():
        in_target.setdefault(canonicalize_name(dist.metadata["Name"] or ""), dist.version)

    findings = []
    for index, p in enumerate(doc["installed"]):
        name = canonicalize_name(p["name"])
        version = p["version"]
        base = {"provider": name, "installedVersion": version}
        for raw in p.get("airflowRequirements") or []:
            try:
                req = Requirement(raw)
            except InvalidRequirement:
                findings.append({**base, "kind": "requirement-unreadable", "blocking": True,
                                 "detail": "its Requires-Dist %r does not parse" % raw})
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            if not req.specifier.contains(target, prereleases=True):
                findings.append({**base, "kind": "requires-airflow-excludes-target", "blocking": True,
                                 "requirement": str(req),
                                 "detail": "%s %s requires %s, which excludes Airflow %s"
                                 % (name, version, req, target)})
        pinned = pins.get(name)
        if pinned is None:
            findings.append({**base, "kind": "not-in-target-constraints", "blocking": False,
                             "detail": "the target's constraints do not pin %s" % name})
        else:
            try:
                differs = Version(pinned) != Version(version)
            except InvalidVersion:
                differs = pinned != version
            if differs:
                findings.append({**base, "kind": "constraint-differs", "blocking": False,
                                 "from": version, "to": pinned,
                                 "detail": "%s: installed %s, the target's constraints pin %s" % (name, version, pinned)})
        if name not in in_target:
            findings.append({**base, "kind": "missing-in-target-venv", "blocking": True,
                             "detail": "%s is not installed where Airflow %s runs" % (name, target)})
        elif in_target[name] != version:
            findings.append({**base, "kind": "target-venv-differs", "blocking": False,
                             "from": version, "to": in_target[name],
                             "detail": "%s: installed %s here, %s where Airflow %s runs" % (name, version, in_target[name], target)})
    return {"findings": findings, "constraintsPinned": len(pins)}


mode = sys.argv[1]
if mode == "revisions":
    emit({"revisions": read_revisions()})
elif mode == "describe":
    emit(describe(read_revisions()))
elif mode == "describe-given":
    emit(describe([str(r) for r in json.loads(sys.stdin.read())]))
elif mode == "providers":
    emit(providers(json.loads(sys.stdin.read())))
else:
    raise SystemExit("unknown mode %r" % mode)
`;

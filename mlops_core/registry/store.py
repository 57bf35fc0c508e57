"""The model registry in S3: immutable versions, a champion pointer moved by conditional writes,
and a history of every decision.

models/<version>/model.joblib      the artifact (joblib)
models/<version>/manifest.json     what it is: data, parameters, metrics, schema, profile, SHA-256
registry/champion.json             {"version", "promoted_at", "previous", ...}
registry/challenger.json           {"version", "mode", "status", ...}: the challenger now, or the last one
registry/history/<time>-<kind>-<version>.json   one object per decision, never rewritten
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import joblib
from botocore.exceptions import ClientError

from ..storage import is_precondition_failure, layout
from ..storage.s3json import get_json, put_json


class RegistryError(RuntimeError):
    """Base class of registry errors."""


class UnknownVersion(RegistryError):
    """The version does not exist in the registry."""


class ChampionConflict(RegistryError):
    """Someone else moved the champion pointer between our read and our write."""


class ChallengerConflict(RegistryError):
    """Someone else changed the challenger pointer between our read and our write."""


class ArtifactIntegrityError(RegistryError):
    """The artifact's SHA-256 differs from its manifest's: it was corrupted or swapped."""


class ModelCodeMissing(RegistryError):
    """The artifact needs code (a module or class of the user's pipelines/ package) this deployment lacks."""


@dataclass(frozen=True)
class ModelAlias:
    """A named pointer to a version (as MLflow's RegisteredModelAlias): "champion" or "challenger", the
    version it points at, the pointer object's ETag (for the next conditional write) and its whole record."""

    alias: Literal["champion", "challenger"]
    version: str
    etag: str
    record: dict[str, Any]


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by creation time: v20261122T231500Z-3fa9c1."""
    now = now or datetime.now(UTC)
    return f"v{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class Registry:
    """Model versions and the champion pointer in one models bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _get_json(self, key: str) -> tuple[dict[str, Any], str]:
        obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        return json.loads(obj["Body"].read()), obj["ETag"]

    def _put_json(self, key: str, body: dict[str, Any], **condition: str) -> None:
        put_json(self.s3, self.bucket, key, body, **condition)

    # ------------------------------------------------------------------ versions
    def publish(self, artifact: bytes, manifest: dict[str, Any], *, version: str | None = None) -> str:
        """Store a new version (artifact, then manifest); never overwrites an existing one."""
        version = version or new_version_id()
        manifest = {
            **manifest,
            "version": version,
            "created_at": manifest.get("created_at") or datetime.now(UTC).isoformat(),
            "artifact_key": layout.artifact_key(version),
            "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
            "artifact_bytes": len(artifact),
        }
        try:
            self.s3.put_object(Bucket=self.bucket, Key=manifest["artifact_key"], Body=artifact, IfNoneMatch="*")
            self._put_json(layout.manifest_key(version), manifest, IfNoneMatch="*")
        except ClientError as exc:
            if is_precondition_failure(exc):
                raise RegistryError(f"version {version} already exists; versions are never overwritten") from exc
            raise
        return version

    def manifest(self, version: str) -> dict[str, Any]:
        found = get_json(self.s3, self.bucket, layout.manifest_key(version))
        if found is None:
            raise UnknownVersion(f"model version {version!r} does not exist")
        return found[0]

    def versions(self) -> list[dict[str, Any]]:
        """Every version's manifest, oldest first."""
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=layout.MODELS):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/manifest.json")]
        return sorted((self._get_json(k)[0] for k in keys), key=lambda m: m["version"])

    def verified_artifact(self, version: str) -> tuple[bytes, dict[str, Any]]:
        """The artifact's bytes and the manifest, if the bytes have the manifest's SHA-256."""
        manifest = self.manifest(version)
        artifact = self.s3.get_object(Bucket=self.bucket, Key=manifest["artifact_key"])["Body"].read()
        digest = hashlib.sha256(artifact).hexdigest()
        if digest != manifest["artifact_sha256"]:
            raise ArtifactIntegrityError(
                f"artifact of model {version} has SHA-256 {digest}, but its manifest says "
                f"{manifest['artifact_sha256']}: refusing to load it (corrupted or swapped). "
                "Roll back to a good version (`mlops rollback VERSION`), then redrive."
            )
        return artifact, manifest

    def load_model(self, version: str) -> tuple[Any, dict[str, Any]]:
        """The model object and its manifest, after checking the artifact's SHA-256.

        Unpickling runs code, so a mismatched artifact is refused before joblib ever sees it.
        """
        artifact, manifest = self.verified_artifact(version)
        try:
            return joblib.load(io.BytesIO(artifact)), manifest
        except (ModuleNotFoundError, AttributeError) as exc:  # a class pickled from code that is not here
            raise ModelCodeMissing(
                f"model {version} needs code this deployment does not have ({exc}): deploy the pipelines/ "
                "package it was trained with (`mlops deploy`), or roll back to a version that does not need it"
            ) from exc

    # ------------------------------------------------------------------ champion
    def champion(self) -> ModelAlias | None:
        found = get_json(self.s3, self.bucket, layout.CHAMPION_KEY)
        return None if found is None else ModelAlias("champion", found[0]["version"], found[1], found[0])

    def was_champion(self, version: str) -> bool:
        """Whether the champion pointer names `version` or named it before: its current record and the
        champion that record replaced, then the pointer's earlier object versions, newest first (the models
        bucket is versioned, and no function may delete a version: infra/storage.py)."""
        current = self.champion()
        if current is not None and version in (current.version, current.record.get("previous")):
            return True
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=layout.CHAMPION_KEY)
        for page in pages:
            for earlier in page.get("Versions", []):
                if earlier["Key"] != layout.CHAMPION_KEY or earlier["IsLatest"]:
                    continue
                obj = self.s3.get_object(Bucket=self.bucket, Key=earlier["Key"], VersionId=earlier["VersionId"])
                if json.loads(obj["Body"].read()).get("version") == version:
                    return True
        return False

    def promote(self, version: str, *, expected: ModelAlias | None, decision: dict[str, Any]) -> None:
        """Point the champion at `version` if it still is `expected` (a conditional write)."""
        record = {
            "version": version,
            "promoted_at": datetime.now(UTC).isoformat(),
            "previous": expected.version if expected else None,
            "decision": decision,
        }
        conflict = ChampionConflict(f"the champion changed while promoting {version}; nothing was changed")
        self._move_pointer(layout.CHAMPION_KEY, record, expected, conflict)

    def rollback(self, version: str, *, reason: str) -> None:
        """Make an earlier version the champion again, after verifying it; recorded in the history."""
        self.verified_artifact(version)  # raises UnknownVersion / ArtifactIntegrityError
        current = self.champion()
        decision = {
            "kind": "rollback",
            "version": version,
            "reasons": [reason],
            "previous": current.version if current else None,
        }
        self.promote(version, expected=current, decision=decision)
        self.record_decision(decision)

    # ------------------------------------------------------------------ challenger
    def challenger(self) -> ModelAlias | None:
        """The challenger pointer (active or closed: see its `status`), with its ETag."""
        found = get_json(self.s3, self.bucket, layout.CHALLENGER_KEY)
        return None if found is None else ModelAlias("challenger", found[0]["version"], found[1], found[0])

    def start_challenger(self, record: dict[str, Any], *, expected: ModelAlias | None) -> None:
        """Make `record` (version, mode, share, ...) the active challenger if the pointer still is `expected`."""
        body = {**record, "status": "active", "started_at": datetime.now(UTC).isoformat()}
        self._write_challenger(body, expected)

    def close_challenger(self, current: ModelAlias, *, status: str, reasons: list[str]) -> bool:
        """Close the active challenger (promoted, retired, suspended, replaced); False if someone else
        changed the pointer first (then their decision stands)."""
        body = {**current.record, "status": status, "closed_at": datetime.now(UTC).isoformat(), "reasons": reasons}
        try:
            self._write_challenger(body, current)
        except ChallengerConflict:
            return False
        return True

    def _write_challenger(self, body: dict[str, Any], expected: ModelAlias | None) -> None:
        conflict = ChallengerConflict(f"the challenger changed while writing {body['version']}")
        self._move_pointer(layout.CHALLENGER_KEY, body, expected, conflict)

    def _move_pointer(
        self, key: str, body: dict[str, Any], expected: ModelAlias | None, conflict: RegistryError
    ) -> None:
        """Write a pointer if it still is `expected` (None: if there is none yet); `conflict` otherwise."""
        condition = {"IfMatch": expected.etag} if expected else {"IfNoneMatch": "*"}
        try:
            self._put_json(key, body, **condition)
        except ClientError as exc:
            if is_precondition_failure(exc):
                raise conflict from exc
            raise

    # ------------------------------------------------------------------ history
    def record_decision(self, decision: dict[str, Any]) -> str:
        """Keep a decision (promote, reject, rollback) as a new object; return its key."""
        now = datetime.now(UTC)
        key = layout.history_key(now, decision.get("kind", "decision"), decision.get("version", "none"))
        self._put_json(key, {**decision, "at": now.isoformat()}, IfNoneMatch="*")
        return key

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest decisions first."""
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=layout.HISTORY):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return [self._get_json(k)[0] for k in sorted(keys, reverse=True)[:limit]]

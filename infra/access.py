"""S3 access by key: each role gets the actions it uses on the keys it uses, named with the prefixes and
keys of mlops_core.storage.layout.

CDK's grant_read and grant_read_write give action groups (s3:GetObject*, s3:DeleteObject*, s3:Abort*, ...)
that include deleting object versions and changing retention, which no function does; these statements
name each action instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from . import nag


@dataclass(frozen=True, kw_only=True)
class KeyAccess:
    """What one role does with the objects of one bucket: keys, or key patterns (`*` matches any run of
    characters, `/` included). Every role that touches a bucket may also list it (s3:ListBucket): without
    it, reading a key that does not exist answers 403 instead of 404, and "no champion yet", "no receipt
    yet" or "no lock" could not be told from a refusal."""

    read: tuple[str, ...] = ()  # GetObject (and HeadObject)
    write: tuple[str, ...] = ()  # PutObject
    # Written through boto3's managed transfer (upload_file, copy), which goes multipart for large objects
    # and aborts a failed upload: PutObject and AbortMultipartUpload.
    upload: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()  # DeleteObject: on a versioned bucket a delete marker; the version stays
    read_versions: tuple[str, ...] = ()  # GetObjectVersion: an object as it was, by its version id
    list_versions: tuple[str, ...] = ()  # ListBucketVersions, with exactly these prefixes

    def patterns(self) -> set[str]:
        """Every key and key pattern named."""
        return {*self.read, *self.write, *self.upload, *self.delete, *self.read_versions}


def grant_keys(role: iam.IRole, bucket: s3.IBucket, access: KeyAccess, *, why: Mapping[str, str]) -> None:
    """Add `access` to `role`'s policy; acknowledge each key pattern's wildcard to cdk-nag with its reason
    in `why` (a KeyError at synth when one has none)."""
    for statement in key_statements(bucket, access):
        role.add_to_principal_policy(statement)
    policy = role.node.find_child("DefaultPolicy")
    for pattern in sorted(p for p in access.patterns() if "*" in p):
        nag.acknowledge(policy, f"IAM5[Resource::{nag.arn_token(bucket)}/{pattern}]", why[pattern])


def key_statements(bucket: s3.IBucket, access: KeyAccess) -> list[iam.PolicyStatement]:
    """One statement per action: ListBucket on the bucket, then each object action on its keys."""
    statements = [iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])]
    if access.list_versions:
        statements.append(
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": list(access.list_versions)}},
            )
        )
    by_action = {
        "s3:GetObject": access.read,
        "s3:GetObjectVersion": access.read_versions,
        "s3:PutObject": (*access.write, *access.upload),
        "s3:AbortMultipartUpload": access.upload,
        "s3:DeleteObject": access.delete,
    }
    statements += [
        iam.PolicyStatement(actions=[action], resources=[bucket.arn_for_objects(key) for key in sorted(set(keys))])
        for action, keys in by_action.items()
        if keys
    ]
    return statements

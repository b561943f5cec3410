"""Whether a deployed environment still matches the code, read through the AWS APIs only.

The expected values come from the environment's synthesized template (and so from its config): every
resource the template declares must be in the stack, and the security-relevant settings of the
buckets, the Aurora cluster, the secrets, the load balancer, the distribution and the consumer
contract must be what the template says. CloudFormation drift detection runs where the engine
supports it. Nothing is changed: every call is a Describe/Get/List, plus `DetectStackDrift`, which
only starts a read-only comparison.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import botocore.exceptions
import httpx

from blog_infra.exit_codes import ExitCode
from blog_infra.target import Target
from infra.dns import DISTRIBUTION_DOMAIN_OUTPUT, ORIGIN_HEADER

DRIFT_TIMEOUT_S = 600.0
DRIFT_POLL_S = 5.0
NOT_SUPPORTED = "not supported by this engine"
NOT_REPORTED = "not reported by this engine"
PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
CHECKED_LB_ATTRIBUTES = ("routing.http.drop_invalid_header_fields.enabled", "deletion_protection.enabled")
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
_MISSING = {
    "NoSuchBucket",
    "DBClusterNotFoundFault",
    "ResourceNotFoundException",
    "LoadBalancerNotFound",
    "ListenerNotFound",
    "NoSuchDistribution",
    "ParameterNotFound",
}
_EMPTY = {
    "ServerSideEncryptionConfigurationNotFoundError": "none",
    "NoSuchPublicAccessBlockConfiguration": "none",
    "NoSuchTagSet": "{}",
    "NoSuchTagSetError": "{}",
    "NoSuchBucketPolicy": "none",
}
MINIMUM_TLS_VERSION = 1.2
ORIGIN_PROBE_TIMEOUT_S = 10.0
ORIGIN_REFUSAL = (403, "Forbidden")
"""What the load balancer's default action answers (infra.modules.core.edge: FORBIDDEN_BODY)."""


class Status(StrEnum):
    PASS = "pass"
    DRIFT = "drift"
    SKIPPED = "skipped"
    UNAVAILABLE = "could not check"


@dataclass(frozen=True)
class Check:
    """One row of the report."""

    check: str
    resource: str
    expected: str
    actual: str
    status: Status

    def to_json(self) -> dict[str, str]:
        return {
            "check": self.check,
            "resource": self.resource,
            "expected": self.expected,
            "actual": self.actual,
            "status": self.status.value,
        }


@dataclass
class Report:
    """The checks of one environment and what they add up to."""

    stack: str
    target: str
    checks: list[Check] = field(default_factory=list)

    def refusals(self) -> list[str]:
        """Each distinct refused call, as one line naming the action and the caller."""
        return list(
            dict.fromkeys(
                c.actual
                for c in self.checks
                if c.status is Status.UNAVAILABLE and c.actual.startswith(REFUSED)
            )
        )

    def counts(self) -> dict[str, int]:
        return {status.value: sum(c.status is status for c in self.checks) for status in Status}

    @property
    def exit_code(self) -> ExitCode:
        """DRIFT when anything differs, else UNAVAILABLE when anything could not be checked, else OK."""
        statuses = {check.status for check in self.checks}
        if Status.DRIFT in statuses:
            return ExitCode.DRIFT
        if Status.UNAVAILABLE in statuses:
            return ExitCode.UNAVAILABLE
        return ExitCode.OK

    @property
    def verdict(self) -> str:
        return {
            ExitCode.OK: "conforms",
            ExitCode.DRIFT: "drift found",
            ExitCode.UNAVAILABLE: "could not check everything",
        }[self.exit_code]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "verdict": self.verdict,
            "exit_code": int(self.exit_code),
            "counts": self.counts(),
            "checks": [check.to_json() for check in self.checks],
        }


class _CheckFailed(Exception):
    """An API call whose failure decides the check: the resource is missing, or we may not look."""

    def __init__(self, status: Status, actual: str) -> None:
        super().__init__(actual)
        self.status = status
        self.actual = actual


REFUSED = "no permission"
_REFUSAL = re.compile(r"User: (?P<principal>\S+) is not authorized to perform: (?P<action>\S+)")


def refusal(exc: botocore.exceptions.ClientError) -> str:
    """One line naming the refused call and who was refused, read from AWS's AccessDenied message
    ("User: <principal> is not authorized to perform: <action> on resource: <ARN> ...": IAM User
    Guide, "Troubleshoot access denied error messages"); the operation alone when it says less."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    found = _REFUSAL.search(message)
    if found is None:
        return f"{REFUSED} ({exc.operation_name})"
    return f"{REFUSED}: {found['action']} ({exc.operation_name}) refused to {found['principal']}"


def _failure(exc: botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError) -> str:
    """A failed call as one line: a refusal names the action and the caller."""
    denied = isinstance(exc, botocore.exceptions.ClientError) and (
        str(exc.response.get("Error", {}).get("Code", "")) in _DENIED
    )
    return refusal(exc) if denied else str(exc)


def _call(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """Call an AWS API; a missing resource or a refused read becomes a `_CheckFailed`."""
    try:
        return operation(**kwargs)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _DENIED:
            raise _CheckFailed(Status.UNAVAILABLE, refusal(exc)) from None
        if code in _EMPTY:
            return {"_empty": _EMPTY[code]}
        if code in _MISSING or "NotFound" in code or "does not exist" in str(error.get("Message", "")):
            raise _CheckFailed(Status.DRIFT, "missing") from None
        raise _CheckFailed(Status.UNAVAILABLE, f"{exc.operation_name} failed: {code}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _CheckFailed(Status.UNAVAILABLE, f"could not call the API: {type(exc).__name__}") from None


def _static(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _tags(raw: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in raw or [] if _static(t.get("Value"))}


def _show_tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "{}"


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


def _pages(operation: Callable[..., Any], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = operation(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and any(
        "*" in _as_list(principal.get(kind)) for kind in ("AWS", "CanonicalUser", "Federated")
    )


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _as_list(document.get("Statement", [])) if isinstance(s, dict)]


def _condition(statement: dict[str, Any], operator: str, key: str) -> Any:
    return ((statement.get("Condition") or {}).get(operator) or {}).get(key)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class BucketPolicyFacts:
    """What a bucket policy guarantees: TLS required, TLS before 1.2 refused, nothing public."""

    denies_plain_http: bool
    denies_old_tls: bool
    public_allows: tuple[str, ...]

    @classmethod
    def of(cls, document: Any, covers: Callable[[dict[str, Any]], bool]) -> BucketPolicyFacts:
        """The facts of a policy `document`; `covers` tells whether a statement applies to the whole
        bucket (the bucket and its objects)."""
        denies = [
            s
            for s in _statements(document)
            if s.get("Effect") == "Deny"
            and _wildcard_principal(s.get("Principal"))
            and {"s3:*", "*"} & set(_as_list(s.get("Action")))
            and covers(s)
        ]
        return cls(
            denies_plain_http=any(
                str(_condition(s, "Bool", "aws:SecureTransport")).lower() == "false" for s in denies
            ),
            denies_old_tls=any(
                _number(_condition(s, "NumericLessThan", "s3:TlsVersion")) >= MINIMUM_TLS_VERSION
                for s in denies
            ),
            public_allows=tuple(
                ", ".join(map(str, _as_list(s.get("Action"))))
                for s in _statements(document)
                if s.get("Effect") == "Allow" and _wildcard_principal(s.get("Principal"))
            ),
        )

    def describe(self) -> str:
        parts = [
            "denies plain HTTP" if self.denies_plain_http else "allows plain HTTP",
            f"denies TLS < {MINIMUM_TLS_VERSION}"
            if self.denies_old_tls
            else f"allows TLS < {MINIMUM_TLS_VERSION}",
        ]
        parts += [f"allows {actions} to everyone" for actions in self.public_allows] or ["nothing public"]
        return "; ".join(parts)

    def weaker_than(self, expected: BucketPolicyFacts) -> bool:
        return (
            (expected.denies_plain_http and not self.denies_plain_http)
            or (expected.denies_old_tls and not self.denies_old_tls)
            or bool(set(self.public_allows) - set(expected.public_allows))
        )


def drift_detection_supported(target: Target) -> bool:
    """CloudFormation on AWS detects drift; the embedded emulator (moto) does not implement it."""
    return target.endpoint is None


class Verifier:
    """Checks one deployed stack against its synthesized template."""

    def __init__(
        self,
        target: Target,
        stack_name: str,
        template: dict[str, Any],
        *,
        progress: Callable[[str], None] | None = None,
        drift_timeout_s: float = DRIFT_TIMEOUT_S,
    ) -> None:
        self.target = target
        self.stack_name = stack_name
        self.template = template
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.progress = progress or (lambda _message: None)
        self.drift_timeout_s = drift_timeout_s
        self.physical: dict[str, str] = {}
        self.report = Report(stack=stack_name, target=target.description)

    def run(self) -> Report:
        steps: tuple[tuple[str, Callable[[], Iterator[Check]]], ...] = (
            ("stack resources", self._stack_resources),
            ("buckets", self._buckets),
            ("database", self._database),
            ("secrets", self._secrets),
            ("load balancer", self._load_balancers),
            ("distribution", self._distributions),
            ("origin lock", self._origin_lock),
            ("consumer contract", self._contract),
            ("drift detection", self._drift),
        )
        for label, step in steps:
            self.progress(f"Checking {label}...")
            self.report.checks.extend(step())
        return self.report

    # --- helpers ----------------------------------------------------------------------------------

    def _of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == resource_type:
                yield logical_id, resource.get("Properties", {})

    def _key_id(self, reference: Any) -> str | None:
        """The physical id of a KMS key the template refers to (`Fn::GetAtt [Key, Arn]` or `Ref`)."""
        if isinstance(reference, dict):
            target = reference.get("Ref") or (reference.get("Fn::GetAtt") or [None])[0]
            if isinstance(target, str):
                return self.physical.get(target)
        return str(reference) if isinstance(reference, str) else None

    def _guarded(
        self, check: str, resource: str, expected: str, probe: Callable[[], tuple[str, Status]]
    ) -> Check:
        try:
            actual, status = probe()
        except _CheckFailed as failed:
            return Check(check, resource, expected, failed.actual, failed.status)
        return Check(check, resource, expected, actual, status)

    @staticmethod
    def _compare(expected: str, actual: str) -> tuple[str, Status]:
        return actual, Status.PASS if actual == expected else Status.DRIFT

    def _tag_check(
        self, resource: str, expected: dict[str, str], read: Callable[[], dict[str, str]]
    ) -> Check:
        def probe() -> tuple[str, Status]:
            actual = read()
            wrong = {k: actual.get(k, "(absent)") for k, v in expected.items() if actual.get(k) != v}
            if not wrong:
                return _show_tags(expected), Status.PASS
            return _show_tags(wrong), Status.DRIFT

        return self._guarded("tags", resource, _show_tags(expected), probe)

    # --- the checks -------------------------------------------------------------------------------

    def _stack_resources(self) -> Iterator[Check]:
        cloudformation = self.target.client("cloudformation")
        try:
            summaries = _pages(
                cloudformation.list_stack_resources, "StackResourceSummaries", StackName=self.stack_name
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            yield Check("stack resources", self.stack_name, "listed", _failure(exc), Status.UNAVAILABLE)
            return
        deployed = {s["LogicalResourceId"]: s for s in summaries}
        self.physical = {k: str(s.get("PhysicalResourceId", "")) for k, s in deployed.items()}
        expected = [lid for lid, r in self.resources.items() if "Condition" not in r]
        missing = [lid for lid in expected if lid not in deployed]
        failed = [
            lid
            for lid in expected
            if lid in deployed and not str(deployed[lid].get("ResourceStatus", "")).endswith("_COMPLETE")
        ]
        yield Check(
            "stack resources",
            self.stack_name,
            f"{len(expected)} resources of the template",
            f"{len(expected) - len(missing)} present",
            Status.PASS if not missing else Status.DRIFT,
        )
        for lid in missing:
            yield Check("resource exists", lid, self.resources[lid]["Type"], "missing", Status.DRIFT)
        for lid in failed:
            status = str(deployed[lid].get("ResourceStatus"))
            yield Check("resource state", lid, "*_COMPLETE", status, Status.DRIFT)

    def _buckets(self) -> Iterator[Check]:
        s3 = self.target.client("s3")
        for logical_id, props in self._of_type("AWS::S3::Bucket"):
            name = props.get("BucketName") if isinstance(props.get("BucketName"), str) else None
            bucket = name or self.physical.get(logical_id)
            if not bucket:
                continue
            rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or [{}]
            algorithm = str((rules[0].get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm", "none"))

            def encryption(bucket: str = bucket, algorithm: str = algorithm) -> tuple[str, Status]:
                answer = _call(s3.get_bucket_encryption, Bucket=bucket)
                if "_empty" in answer:
                    return "none", Status.DRIFT
                rule = answer["ServerSideEncryptionConfiguration"]["Rules"][0]
                return self._compare(
                    algorithm, str(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])
                )

            yield self._guarded("bucket encryption", bucket, algorithm, encryption)

            block = props.get("PublicAccessBlockConfiguration") or {}
            blocked = [flag for flag in PUBLIC_ACCESS_FLAGS if block.get(flag) is True]
            expected_block = "all 4 blocked" if len(blocked) == 4 else ", ".join(blocked) or "none"

            def public_access(
                bucket: str = bucket, blocked: list[str] = blocked, expected_block: str = expected_block
            ) -> tuple[str, Status]:
                answer = _call(s3.get_public_access_block, Bucket=bucket)
                config = answer.get("PublicAccessBlockConfiguration", {})
                open_flags = [flag for flag in blocked if config.get(flag) is not True]
                if not open_flags:
                    return expected_block, Status.PASS
                return "not blocked: " + ", ".join(open_flags), Status.DRIFT

            yield self._guarded("bucket public access block", bucket, expected_block, public_access)

            versioned = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
            expected_versioning = "Enabled" if versioned else "not enabled"

            def versioning(
                bucket: str = bucket, expected_versioning: str = expected_versioning
            ) -> tuple[str, Status]:
                status = _call(s3.get_bucket_versioning, Bucket=bucket).get("Status")
                actual = "Enabled" if status == "Enabled" else "not enabled"
                return self._compare(expected_versioning, actual)

            yield self._guarded("bucket versioning", bucket, expected_versioning, versioning)

            def bucket_tags(bucket: str = bucket) -> dict[str, str]:
                answer = _call(s3.get_bucket_tagging, Bucket=bucket)
                return {} if "_empty" in answer else _tags(answer.get("TagSet"))

            yield self._tag_check(bucket, _tags(props.get("Tags")), bucket_tags)
            yield self._bucket_policy_check(s3, logical_id, bucket)

    def _bucket_policy_check(self, s3: Any, logical_id: str, bucket: str) -> Check:
        """The live bucket policy is at least as strict as the template's: its TLS denies are there,
        and it allows nothing to everyone that the template does not."""
        document = {
            "Statement": [
                statement
                for _, props in self._of_type("AWS::S3::BucketPolicy")
                if props.get("Bucket") == {"Ref": logical_id}
                for statement in _statements(props.get("PolicyDocument"))
            ]
        }
        template_arn = {"Fn::GetAtt": [logical_id, "Arn"]}
        template_objects = {"Fn::Join": ["", [template_arn, "/*"]]}
        expected = BucketPolicyFacts.of(
            document,
            lambda s: (
                {json.dumps(r, sort_keys=True) for r in _as_list(s.get("Resource"))}
                >= {json.dumps(template_arn, sort_keys=True), json.dumps(template_objects, sort_keys=True)}
            ),
        )
        suffixes = (f":s3:::{bucket}", f":s3:::{bucket}/*")

        def covers_live(statement: dict[str, Any]) -> bool:
            resources = [str(r) for r in _as_list(statement.get("Resource"))]
            return all(any(r.endswith(suffix) for r in resources) for suffix in suffixes)

        def probe() -> tuple[str, Status]:
            answer = _call(s3.get_bucket_policy, Bucket=bucket)
            live_document = {} if "_empty" in answer else json.loads(answer["Policy"])
            live = BucketPolicyFacts.of(live_document, covers_live)
            return live.describe(), Status.DRIFT if live.weaker_than(expected) else Status.PASS

        return self._guarded("bucket policy", bucket, expected.describe(), probe)

    def _database(self) -> Iterator[Check]:
        rds = self.target.client("rds")
        for logical_id, props in self._of_type("AWS::RDS::DBCluster"):
            identifier = self.physical.get(logical_id)
            if not identifier:
                continue
            try:
                (cluster,) = _call(rds.describe_db_clusters, DBClusterIdentifier=identifier)["DBClusters"]
            except _CheckFailed as failed:
                yield Check("database cluster", identifier, "exists", failed.actual, failed.status)
                continue
            for check, key, default in (
                ("database encryption", "StorageEncrypted", False),
                ("database deletion protection", "DeletionProtection", False),
                ("database backup retention (days)", "BackupRetentionPeriod", 1),
            ):
                expected = str(props.get(key, default))
                actual = str(cluster.get(key, "(absent)"))
                yield Check(check, identifier, expected, actual, self._compare(expected, actual)[1])
            live_tags = partial(_tags, cluster.get("TagList"))
            yield self._tag_check(identifier, _tags(props.get("Tags")), live_tags)
            if _bool(props.get("ManageMasterUserPassword")):
                yield self._master_secret(cluster, props)

    def _master_secret(self, cluster: dict[str, Any], props: dict[str, Any]) -> Check:
        arn = str((cluster.get("MasterUserSecret") or {}).get("SecretArn", ""))
        key = self._key_id((props.get("MasterUserSecret") or {}).get("KmsKeyId"))
        expected = f"exists, KMS key {key}" if key else "exists, KMS-encrypted"
        name = arn.split(":secret:")[-1] or "RDS-managed master secret"
        if not arn:
            return Check("database master secret", name, expected, "not managed by RDS", Status.DRIFT)
        return self._secret_check("database master secret", name, arn, key)

    def _secret_check(self, check: str, name: str, secret_id: str, key: str | None) -> Check:
        expected = f"exists, KMS key {key}" if key else "exists, KMS-encrypted"
        secrets = self.target.client("secretsmanager")

        def probe() -> tuple[str, Status]:
            described = _call(secrets.describe_secret, SecretId=secret_id)
            actual_key = str(described.get("KmsKeyId") or "")
            if not actual_key or actual_key.endswith("alias/aws/secretsmanager"):
                return "AWS-managed key (aws/secretsmanager)", Status.DRIFT
            if key and not actual_key.endswith(key):
                return f"KMS key {actual_key.rsplit('/', 1)[-1]}", Status.DRIFT
            return expected, Status.PASS

        return self._guarded(check, name, expected, probe)

    def _secrets(self) -> Iterator[Check]:
        secrets = self.target.client("secretsmanager")
        for logical_id, props in self._of_type("AWS::SecretsManager::Secret"):
            name = str(props.get("Name") or logical_id)
            secret_id = self.physical.get(logical_id) or name
            key = self._key_id(props.get("KmsKeyId"))
            yield self._secret_check("secret", name, secret_id, key)

            def read_tags(secret_id: str = secret_id) -> dict[str, str]:
                return _tags(_call(secrets.describe_secret, SecretId=secret_id).get("Tags"))

            yield self._tag_check(name, _tags(props.get("Tags")), read_tags)

    def _load_balancers(self) -> Iterator[Check]:
        elbv2 = self.target.client("elbv2")
        for logical_id, props in self._of_type("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            arn = self.physical.get(logical_id)
            if not arn:
                continue
            name = arn.split("/")[-2] if arn.count("/") >= 2 else arn
            scheme = str(props.get("Scheme", "internet-facing"))

            def read_scheme(arn: str = arn, scheme: str = scheme) -> tuple[str, Status]:
                (lb,) = _call(elbv2.describe_load_balancers, LoadBalancerArns=[arn])["LoadBalancers"]
                return self._compare(scheme, str(lb.get("Scheme")))

            yield self._guarded("load balancer scheme", name, scheme, read_scheme)
            expected_attributes = {
                str(a["Key"]): str(a["Value"]).lower()
                for a in props.get("LoadBalancerAttributes") or []
                if a.get("Key") in CHECKED_LB_ATTRIBUTES and _static(a.get("Value"))
            }
            try:
                answer = _call(elbv2.describe_load_balancer_attributes, LoadBalancerArn=arn)
                actual = {str(a["Key"]): str(a["Value"]).lower() for a in answer.get("Attributes", [])}
            except _CheckFailed as failed:
                for key, value in expected_attributes.items():
                    yield Check(f"load balancer {key}", name, value, failed.actual, failed.status)
                continue
            for key, value in sorted(expected_attributes.items()):
                if key not in actual:
                    yield Check(f"load balancer {key}", name, value, NOT_REPORTED, Status.SKIPPED)
                else:
                    yield Check(
                        f"load balancer {key}", name, value, actual[key], self._compare(value, actual[key])[1]
                    )
        for logical_id, props in self._of_type("AWS::ElasticLoadBalancingV2::Listener"):
            arn = self.physical.get(logical_id)
            if not arn or props.get("Protocol") != "HTTPS":
                continue
            policy = str(props.get("SslPolicy", "(default)"))

            def read_policy(arn: str = arn, policy: str = policy) -> tuple[str, Status]:
                (listener,) = _call(elbv2.describe_listeners, ListenerArns=[arn])["Listeners"]
                return self._compare(policy, str(listener.get("SslPolicy")))

            yield self._guarded(
                "listener TLS policy", f"{logical_id} (port {props.get('Port')})", policy, read_policy
            )

    def _distributions(self) -> Iterator[Check]:
        cloudfront = self.target.client("cloudfront")
        for logical_id, props in self._of_type("AWS::CloudFront::Distribution"):
            distribution_id = self.physical.get(logical_id)
            if not distribution_id:
                continue
            config = props.get("DistributionConfig") or {}
            aliases = ", ".join(sorted(str(a) for a in config.get("Aliases") or []))
            protocol = str((config.get("ViewerCertificate") or {}).get("MinimumProtocolVersion", "TLSv1"))
            try:
                live = _call(cloudfront.get_distribution_config, Id=distribution_id)["DistributionConfig"]
            except _CheckFailed as failed:
                yield Check("distribution", distribution_id, "exists", failed.actual, failed.status)
                continue
            actual_aliases = ", ".join(sorted((live.get("Aliases") or {}).get("Items") or []))
            actual_protocol = str((live.get("ViewerCertificate") or {}).get("MinimumProtocolVersion"))
            yield Check(
                "distribution aliases",
                distribution_id,
                aliases,
                actual_aliases,
                self._compare(aliases, actual_aliases)[1],
            )
            yield Check(
                "distribution minimum TLS",
                distribution_id,
                protocol,
                actual_protocol,
                self._compare(protocol, actual_protocol)[1],
            )

    def _origin_lock(self) -> Iterator[Check]:
        """The deployed listener refuses by default and every forwarding rule requires the Cloudflare
        header; on AWS, a request through CloudFront without the header is refused by the load balancer.
        Values are never read or shown, only header names."""
        elbv2 = self.target.client("elbv2")
        for logical_id, _ in self._of_type("AWS::ElasticLoadBalancingV2::Listener"):
            arn = self.physical.get(logical_id)
            if not arn:
                continue
            expected = f"fixed-response {ORIGIN_REFUSAL[0]}"

            def read_default(arn: str = arn, expected: str = expected) -> tuple[str, Status]:
                (listener,) = _call(elbv2.describe_listeners, ListenerArns=[arn])["Listeners"]
                action = (listener.get("DefaultActions") or [{}])[0]
                status = (action.get("FixedResponseConfig") or {}).get("StatusCode")
                actual = f"{action.get('Type')} {status}" if status else str(action.get("Type"))
                return self._compare(expected, actual)

            yield self._guarded("origin lock: default action", logical_id, expected, read_default)
            routes = f"every forwarding rule requires {ORIGIN_HEADER}"

            def read_rules(arn: str = arn) -> tuple[str, Status]:
                rules = _call(elbv2.describe_rules, ListenerArn=arn)["Rules"]
                forwarding = [
                    r
                    for r in rules
                    if not r.get("IsDefault") and any(a.get("Type") == "forward" for a in r["Actions"])
                ]
                open_rules = [
                    str(r.get("Priority"))
                    for r in forwarding
                    if not any(
                        c.get("Field") == "http-header"
                        and str((c.get("HttpHeaderConfig") or {}).get("HttpHeaderName", "")).lower()
                        == ORIGIN_HEADER.lower()
                        for c in r.get("Conditions", [])
                    )
                ]
                if open_rules:
                    return f"priority {', '.join(open_rules)} forward(s) without it", Status.DRIFT
                return f"{len(forwarding)} of {len(forwarding)} do", Status.PASS

            yield self._guarded("origin lock: routes", logical_id, routes, read_rules)
        yield from self._origin_probe()

    def _origin_probe(self) -> Iterator[Check]:
        hostnames = sorted(
            str(alias)
            for _, props in self._of_type("AWS::CloudFront::Distribution")
            for alias in (props.get("DistributionConfig") or {}).get("Aliases") or []
            if isinstance(alias, str)
        )
        expected = f"{ORIGIN_REFUSAL[0]} from the load balancer"
        if not hostnames:
            return
        if self.target.config.is_emulated:
            for host in hostnames:
                yield Check(
                    "origin lock: request without the header",
                    host,
                    expected,
                    "the emulator serves no HTTP traffic: only the deployed rules were checked",
                    Status.SKIPPED,
                )
            return
        try:
            stacks = self.target.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
            outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, IndexError) as exc:
            for host in hostnames:
                yield Check(
                    "origin lock: request without the header",
                    host,
                    expected,
                    _failure(exc),
                    Status.UNAVAILABLE,
                )
            return
        domain = outputs.get(DISTRIBUTION_DOMAIN_OUTPUT)
        for host in hostnames:
            if not domain:
                yield Check(
                    "origin lock: request without the header",
                    host,
                    expected,
                    "no distribution domain output",
                    Status.UNAVAILABLE,
                )
                continue
            actual, status = probe_origin(domain, host)
            yield Check("origin lock: request without the header", host, expected, actual, status)

    def _contract(self) -> Iterator[Check]:
        outputs_by_value = {
            json.dumps(output.get("Value"), sort_keys=True): key
            for key, output in (self.template.get("Outputs") or {}).items()
        }
        parameters = {
            str(props["Name"]): outputs_by_value.get(json.dumps(props.get("Value"), sort_keys=True))
            for _, props in self._of_type("AWS::SSM::Parameter")
            if isinstance(props.get("Name"), str)
        }
        if not parameters:
            return
        try:
            stacks = self.target.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
            outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, IndexError) as exc:
            yield Check(
                "contract parameters", self.stack_name, "outputs readable", _failure(exc), Status.UNAVAILABLE
            )
            return
        ssm = self.target.client("ssm")
        names = sorted(parameters)
        live: dict[str, str] = {}
        try:
            for start in range(0, len(names), 10):
                answer = _call(ssm.get_parameters, Names=names[start : start + 10])
                live.update({p["Name"]: str(p["Value"]) for p in answer.get("Parameters", [])})
        except _CheckFailed as failed:
            yield Check(
                "contract parameters", f"{len(names)} parameters", "readable", failed.actual, failed.status
            )
            return
        for name in names:
            output_key = parameters[name]
            if output_key is None or output_key not in outputs:
                expected = f"output {output_key or '(none)'}"
                actual = live.get(name, "missing")
                status = Status.DRIFT if name not in live else Status.UNAVAILABLE
                yield Check(
                    "contract parameter", name, expected, actual if name in live else "missing", status
                )
                continue
            expected = outputs[output_key]
            if name not in live:
                yield Check("contract parameter", name, expected, "missing", Status.DRIFT)
            else:
                yield Check(
                    "contract parameter", name, expected, live[name], self._compare(expected, live[name])[1]
                )

    def _drift(self) -> Iterator[Check]:
        if not drift_detection_supported(self.target):
            yield Check("drift detection", self.stack_name, "IN_SYNC", NOT_SUPPORTED, Status.SKIPPED)
            return
        cloudformation = self.target.client("cloudformation")
        try:
            detection = _call(cloudformation.detect_stack_drift, StackName=self.stack_name)[
                "StackDriftDetectionId"
            ]
            deadline = time.monotonic() + self.drift_timeout_s
            while True:
                status = _call(
                    cloudformation.describe_stack_drift_detection_status, StackDriftDetectionId=detection
                )
                if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
                    break
                if time.monotonic() > deadline:
                    yield Check(
                        "drift detection", self.stack_name, "IN_SYNC", "timed out", Status.UNAVAILABLE
                    )
                    return
                self.progress("Waiting for CloudFormation drift detection...")
                time.sleep(DRIFT_POLL_S)
            drifts = _pages(
                cloudformation.describe_stack_resource_drifts,
                "StackResourceDrifts",
                StackName=self.stack_name,
                StackResourceDriftStatusFilters=["MODIFIED", "DELETED"],
            )
        except _CheckFailed as failed:
            yield Check("drift detection", self.stack_name, "IN_SYNC", failed.actual, Status.UNAVAILABLE)
            return
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            yield Check("drift detection", self.stack_name, "IN_SYNC", _failure(exc), Status.UNAVAILABLE)
            return
        overall = str(status.get("StackDriftStatus", "UNKNOWN"))
        yield Check(
            "drift detection",
            self.stack_name,
            "IN_SYNC",
            overall,
            Status.PASS if overall == "IN_SYNC" and not drifts else Status.DRIFT,
        )
        if status["DetectionStatus"] == "DETECTION_FAILED":
            reason = str(status.get("DetectionStatusReason", "some resources could not be checked"))
            yield Check(
                "drift detection", self.stack_name, "every resource checked", reason, Status.UNAVAILABLE
            )
        for drift in drifts:
            paths = ", ".join(d.get("PropertyPath", "") for d in drift.get("PropertyDifferences", [])) or "-"
            yield Check(
                "resource drift",
                f"{drift.get('LogicalResourceId')} ({drift.get('ResourceType')})",
                "IN_SYNC",
                f"{drift.get('StackResourceDriftStatus')}: {paths}",
                Status.DRIFT,
            )


def probe_origin(
    distribution_domain: str, host: str, timeout: float = ORIGIN_PROBE_TIMEOUT_S
) -> tuple[str, Status]:
    """Send what a Cloudflare bypass sends: TLS to the distribution with the hostname's SNI and Host
    (as `curl --resolve host:443:<CloudFront address>`), without the origin header. Passes only when
    the load balancer's own refusal comes back; any other answer means the origin is reachable."""
    try:
        with origin_client(timeout) as client:
            response = client.get(
                f"https://{distribution_domain}/",
                headers={"Host": host},
                extensions={"sni_hostname": host},
            )
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})", Status.UNAVAILABLE
    refused = (response.status_code, response.text.strip()) == ORIGIN_REFUSAL
    if refused:
        return f"{response.status_code} {ORIGIN_REFUSAL[1]}", Status.PASS
    if response.status_code == ORIGIN_REFUSAL[0]:
        return "403 not from the load balancer (CloudFront or WAF?)", Status.UNAVAILABLE
    return f"answered {response.status_code} without the header", Status.DRIFT


def origin_client(timeout: float) -> httpx.Client:
    """The HTTP client of the origin probe; tests replace this function."""
    return httpx.Client(timeout=timeout, follow_redirects=False)

"""S3, SQS, SNS, Secrets Manager, KMS, ECS, SSM, CloudWatch Logs, CloudFormation, RDS, ELBv2 and
CloudFront authorize each request as AWS does.

moto serves every request whatever the caller's policies say. With this module, under the modes of
`emulator.iam_enforcement` (`off`, `audit`, `enforce`), each request to these services made with the
credentials of a role session (issued by moto's STS) or of an IAM user is decided by
`aws_policy.evaluation` on the caller's identity policies and the resource's own policy, and recorded
(`emulator.iam_enforcement.DECISIONS_PATH`). Credentials moto knows nothing of (the emulator's default
ones, which the CDK CLI and the AWS CLI use) stay an administrator and are neither evaluated nor
recorded.

The request's action and resource: `_TABLES` maps each action the platform's software uses to the
resource ARN that the Service Authorization Reference lists for it ("Actions, resources, and condition
keys for <service>": the "Resource types" column and the ARN formats of its "Resource types defined by"
table). An action of these services not in the table is authorized against `*`, which is what a
policy must grant for actions that have no resource type. The table:

- S3: each request's action as moto names it (`s3:GetObject`, `s3:GetEncryptionConfiguration`
  for GetBucketEncryption, `s3:GetBucketPublicAccessBlock` for GetPublicAccessBlock, `s3:PutObject`
  for PutObject and every multipart step but `s3:AbortMultipartUpload` and
  `s3:ListMultipartUploadParts`, `s3:DeleteObject`, `s3:GetObject` for HeadObject, `s3:ListBucket` for
  ListObjects(V2) and HeadBucket, ...) on the object `arn:aws:s3:::<bucket>/<key>` or the bucket
  `arn:aws:s3:::<bucket>` (DeleteObjects: `s3:DeleteObject`
  on each key); the bucket policy applies.
  An object encrypted with a KMS key (SSE-KMS) also needs `kms:Decrypt` on the key for GetObject and
  HeadObject, and a PutObject or CreateMultipartUpload that encrypts with one `kms:GenerateDataKey`
  ("To upload an object encrypted with an AWS KMS key ... you need kms:GenerateDataKey permissions ...
  To download ... kms:Decrypt": S3 User Guide, "Using server-side encryption with AWS KMS keys
  (SSE-KMS)"), decided by the key policy with `kms:ViaService` `s3.<region>.amazonaws.com`.
- SQS: every action on the queue `arn:aws:sqs:<region>:<account>:<name>` of `QueueUrl` (`QueueName`
  for GetQueueUrl and CreateQueue); the queue policy applies.
- SNS: every action with a `TopicArn` on that topic; the topic policy applies.
- Secrets Manager: every action with a `SecretId` on the secret's ARN; the secret's resource policy
  applies. GetSecretValue of a secret encrypted with a customer managed key also needs `kms:Decrypt`
  on it, and PutSecretValue `kms:GenerateDataKey` ("Secrets Manager calls kms:Decrypt ... with
  kms:ViaService secretsmanager.<region>.amazonaws.com": Secrets Manager User Guide, "Secret
  encryption and decryption in AWS Secrets Manager"); the key policy must allow them.
- KMS: every action with a `KeyId` (a key id, key ARN, alias name or alias ARN) on the key's ARN;
  Decrypt without one on the key its ciphertext names. The key policy must allow (KMS Developer
  Guide, "Key policies in AWS KMS").
- ECS: RunTask on the task definition `task-definition/<family>:<revision>` (the latest revision when
  none is given); StopTask and DescribeTasks on each task `task/<cluster>/<id>`; DescribeClusters on
  each cluster `cluster/<name>`; TagResource on its `resourceArn`; RegisterTaskDefinition on the
  revision it creates, `task-definition/<family>:<next revision>` (the reference lists the
  `task-definition` resource type for it); DescribeTaskDefinition, DeregisterTaskDefinition and
  ListTasks on `*`. RunTask's overrides'
  `taskRoleArn`/`executionRoleArn` and RegisterTaskDefinition's `taskRoleArn`/`executionRoleArn`
  also need `iam:PassRole` on each role, with `iam:PassedToService` `ecs-tasks.amazonaws.com` (IAM
  User Guide, "Grant a user permissions to pass a role to an AWS service"). Tags on RunTask or
  RegisterTaskDefinition also need `ecs:TagResource` with `ecs:CreateAction` naming the call, on
  `task/<cluster>/*` for a task not yet created and on the next revision of the task definition
  (ECS Developer Guide, "Grant permission to tag resources on creation").
- SSM: GetParameter, GetParameters (each name), GetParametersByPath (the path), PutParameter and
  DeleteParameter on `parameter/<name without its leading slash>`.
- CloudWatch Logs: PutLogEvents, GetLogEvents and CreateLogStream on the stream
  `log-group:<group>:log-stream:<stream>`; CreateLogGroup, DescribeLogStreams, FilterLogEvents and
  every other action with a group on `log-group:<group>:log-stream:` (the ARN that AWS's refusals of
  those calls name, and the one a grant on `log-group:<group>:*` matches); DescribeLogGroups on
  `log-group::log-stream:`.
- CloudFormation: every action with a `StackName` on the stack `stack/<name>/<id>` (a stack the
  account does not hold: `stack/<name>/*`, as AWS's refusals name it); DescribeStacks without one,
  and the actions the reference lists with no resource type (DescribeStackDriftDetectionStatus,
  ListStacks, ValidateTemplate, EstimateTemplateCost) on `*`.
- RDS: every action with a `DBClusterIdentifier` on `cluster:<id>`, with a `DBInstanceIdentifier` on
  `db:<id>`; others on `*`.
- ELBv2 (`elasticloadbalancing:`): every Describe* on `*` (the reference lists none of them with a
  resource type); other actions on the load balancer, listener, target group or rule they name.
- CloudFront: every action on a distribution (or its invalidations) on `distribution/<id>`; others
  on `*`.

Condition keys. The platform's synthesized templates (both environments) use these; each has a status
and its consequence:

- `aws:SecureTransport` (Bool): supplied, `true` (see `emulator.policy`); enforce-SSL denies never
  apply.
- `s3:TlsVersion` (NumericLessThan): supplied on S3 requests, `1.3`, as for secure transport;
  minimum-TLS denies never apply.
- `ecs:cluster` (ArnEquals): supplied on RunTask, StopTask, DescribeTasks, ListTasks; a grant for
  one cluster refuses the others.
- `ecs:CreateAction` (StringEquals): supplied on the implied ecs:TagResource; tags on create need it.
- `iam:PassedToService` (StringEquals): supplied on iam:PassRole, `ecs-tasks.amazonaws.com`; a
  grant to pass to another service refuses.
- `kms:ViaService` (StringEquals): supplied on the implied KMS calls of S3 and Secrets Manager, absent
  on direct KMS calls; a key that allows only through a service refuses direct use.
- `kms:GrantIsForAWSResource` (BoolIfExists): `false` on CreateGrant, ListGrants, RevokeGrant, absent
  elsewhere; a grant statement for AWS resources only refuses direct grant calls.
- `aws:PrincipalIsAWSService` (BoolIfExists): supplied, `false`; statements for services do not
  apply.
- `aws:ResourceAccount` (StringEquals): supplied, the account in the resource's ARN (for S3, whose
  ARNs name none, the emulator's account); absent for `*`. The CDK bootstrap's publishing and deploy
  roles grant on their own account's resources only with it.
- `aws:SourceAccount` (StringEquals), `aws:SourceArn` (ArnLike, ArnEquals): absent, as for every
  request an IAM principal makes itself; the templates use them with service principals only.
- `kms:EncryptionContext:aws:logs:arn` (ArnLike): not supplied; the templates use it with the Logs
  service principal only, which no request here is; on any other statement it raises `NotEvaluated`.
- `<issuer>:sub`, `<issuer>:aud` (StringEquals, StringLike, StringNotLike): supplied on
  AssumeRoleWithWebIdentity by `emulator.iam_enforcement`.

Supplied too: `aws:PrincipalArn` (the role for a session), `aws:PrincipalAccount`, `aws:PrincipalType`,
`aws:ViaAWSService` (`true` on implied KMS calls), `kms:CallerAccount` on KMS calls, `s3:prefix` on
ListBucket, `s3:x-amz-server-side-encryption` on a PutObject that names it. Absent, as on AWS for a
request an IAM principal makes itself (IAM User Guide, "AWS global condition context keys"):
`aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID`, `aws:SourceOrgPaths`, `aws:CalledVia*`; and
`aws:SourceOwner`, the legacy key of SNS's default topic policy that names the account of a resource
whose service publishes (SNS Developer Guide, "Example cases for Amazon SNS access control"), so that
policy grants a role nothing and its identity policies decide. A condition on any other key raises
`NotEvaluated` naming it (`Request.absent_keys`): the request is refused under `enforce` and logged
under `audit`, rather than decided as if the key were absent.

Refusals, in each service's shape: S3 `AccessDenied` (HTTP 403, XML); SQS `AccessDenied` (HTTP 403,
as its JSON protocol carries it in `x-amzn-query-error`); SNS `AuthorizationError` (HTTP 403);
CloudFormation, RDS and ELBv2 `AccessDenied` (HTTP 403, their query protocol's XML error), CloudFront
`AccessDenied` (HTTP 403, rest-xml; botocore's CloudFront model);
Secrets Manager, KMS, ECS, SSM and CloudWatch Logs `AccessDeniedException` (HTTP 400). The message is
AWS's: "User: <caller ARN> is not authorized to perform: <action> on resource: <ARN> because no
identity-based policy allows the <action> action" (or "... with an explicit deny in a resource-based
policy"; IAM User Guide, "Troubleshoot access denied error messages"). A role session past its
expiration is refused under `enforce` with `ExpiredToken` (`ExpiredTokenException` for the JSON
services): "The security token included in the request is expired".

Not modeled: S3 ACLs, access points and object ownership; VPC endpoint policies; KMS grants; SQS and
SNS cross-account policies; ABAC keys (`aws:ResourceTag/*`, `aws:PrincipalTag/*`); the caller's
session policy; DeleteObjects answering AccessDenied per key (it needs `s3:DeleteObject` on each
key and is refused whole when one is refused); CopyObject's `s3:GetObject` on the source; the task
definition's own roles at RunTask.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import BaseResponse
from moto.core.utils import utcnow

from aws_policy.evaluation import Decision, NotEvaluated, Request, explain
from emulator.iam_enforcement import Caller, Mode, caller_of, mode, policy_document, record

_log = logging.getLogger("emulator.iam")

ABSENT_KEYS = (
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOwner",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:CalledVia*",
    "kms:ViaService",
    "kms:GrantIsForAWSResource",
)
"""Keys that AWS does not supply on a request an IAM principal makes itself (see the docstring)."""


@dataclass(frozen=True)
class Check:
    """One authorization a request needs: its action on one resource, under one resource policy."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    policy: Mapping[str, Any] | None = None
    policy_name: str = "resource policy"
    key_policy: bool = False


@dataclass(frozen=True)
class Refusal:
    code: str
    """`AccessDenied` (or the service's name for it) or `ExpiredToken`."""
    message: str


# --- resolving what a request touches -------------------------------------------------------------------


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: the JSON body of the JSON protocols, else the query string."""
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                return parsed
        except json.JSONDecodeError:
            pass
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in response.querystring.items()}


def _policy(text: Any) -> dict[str, Any] | None:
    if not text:
        return None
    if isinstance(text, bytes):
        text = text.decode()
    try:
        return policy_document(text)
    except (json.JSONDecodeError, ValueError):
        return None


def _backend(backends: Any, response: Any) -> Any:
    return backends[response.current_account][response.region]


def _kms_key(response: Any, key_id: str) -> Any:
    from moto.kms.models import kms_backends

    backend = _backend(kms_backends, response)
    try:
        return backend.describe_key(key_id)
    except Exception:
        return None


def _implied_kms(response: Any, key_id: str | None, action: str, via: str) -> list[Check]:
    """The KMS call a service makes with the caller's credentials on a customer managed key."""
    if not key_id:
        return []
    key = _kms_key(response, key_id)
    if key is None or getattr(key, "key_manager", "CUSTOMER") != "CUSTOMER":
        return []
    context = {
        "kms:ViaService": f"{via}.{response.region}.amazonaws.com",
        "kms:CallerAccount": response.current_account,
        "aws:ViaAWSService": "true",
    }
    return [Check(action, key.arn, context, _policy(key.policy), "key policy", key_policy=True)]


def _s3(response: Any, bucket: str | None, key_name: str | None) -> list[Check]:
    moto_action = str(response.data.get("Action") or "")
    action = "s3:" + _S3_ACTIONS.get(moto_action, moto_action)
    if not key_name:
        subresource = next((q for q in _S3_BUCKET_SUBRESOURCES if q in response.querystring), None)
        if subresource is not None:
            action = "s3:" + _S3_BUCKET_SUBRESOURCES[subresource][response.method == "GET"]
    partition = response.partition
    resource = f"arn:{partition}:s3:::{bucket or '*'}" + (f"/{key_name}" if key_name else "")
    context = {"s3:TlsVersion": "1.3"}
    prefix = response.querystring.get("prefix")
    if action == "s3:ListBucket" and prefix:
        context["s3:prefix"] = prefix[0]
    encryption = response.headers.get("x-amz-server-side-encryption")
    if action == "s3:PutObject" and encryption:
        context["s3:x-amz-server-side-encryption"] = encryption
    policy = None
    stored = None
    if bucket:
        from moto.s3.models import s3_backends

        backend = s3_backends[response.current_account][partition]
        try:
            stored_bucket = backend.get_bucket(bucket)
            policy = _policy(stored_bucket.policy)
            if key_name:
                stored = stored_bucket.keys.get(key_name)
        except Exception:
            stored_bucket = None
    if action == "s3:DeleteObject" and bucket and not key_name:
        keys = _keys_to_delete(response.body)
        resources = [f"arn:{partition}:s3:::{bucket}/{k}" for k in keys] or [resource]
        return [Check(action, r, context, policy, "bucket policy") for r in resources]
    checks = [Check(action, resource, context, policy, "bucket policy")]
    if action == "s3:GetObject" and stored is not None and getattr(stored, "encryption", None) == "aws:kms":
        checks += _implied_kms(response, stored.kms_key_id, "kms:Decrypt", "s3")
    if action == "s3:PutObject" and key_name and "uploadId" not in response.querystring:
        key_id = response.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if key_id is None and encryption is None and bucket and stored_bucket is not None:
            rules = (getattr(stored_bucket, "encryption", None) or {}).get("Rule") or []
            for rule in rules if isinstance(rules, list) else [rules]:
                default = rule.get("ApplyServerSideEncryptionByDefault") or {}
                if default.get("SSEAlgorithm") == "aws:kms":
                    key_id = default.get("KMSMasterKeyID")
        checks += _implied_kms(response, key_id, "kms:GenerateDataKey", "s3")
    return checks


def _keys_to_delete(body: Any) -> list[str]:
    """The keys of a DeleteObjects request's XML body."""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(body if isinstance(body, bytes | str) else b"")
    except ElementTree.ParseError:
        return []
    return [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]


_S3_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListBuckets": "ListAllMyBuckets",
    "GetBucketCors": "GetBucketCORS",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
}
"""moto's names of S3 requests whose IAM action has another name (Service Authorization Reference)."""

_S3_BUCKET_SUBRESOURCES = {
    "encryption": ("PutEncryptionConfiguration", "GetEncryptionConfiguration"),
    "publicAccessBlock": ("PutBucketPublicAccessBlock", "GetBucketPublicAccessBlock"),
    "ownershipControls": ("PutBucketOwnershipControls", "GetBucketOwnershipControls"),
}
"""Bucket subresources moto names no action for (it calls their requests ListBucket): the IAM action
of a write (PUT or DELETE: "DeleteBucketEncryption ... s3:PutEncryptionConfiguration" in the Service
Authorization Reference's table for S3) and of a read (GET)."""


def _sqs(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    from moto.sqs.models import sqs_backends

    url = str(params.get("QueueUrl") or "")
    name = url.rstrip("/").rsplit("/", 1)[-1] if url else str(params.get("QueueName") or "")
    if not name:
        return [Check(f"sqs:{action}", "*")]
    arn = f"arn:{response.partition}:sqs:{response.region}:{response.current_account}:{name}"
    queue = _backend(sqs_backends, response).queues.get(name)
    policy = _policy(queue.policy) if queue is not None else None
    return [Check(f"sqs:{action}", arn, {}, policy, "queue policy")]


def _sns(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    from moto.sns.models import sns_backends

    arn = str(params.get("TopicArn") or params.get("ResourceArn") or "")
    if not arn:
        return [Check(f"sns:{action}", "*")]
    topic = _backend(sns_backends, response).topics.get(arn)
    policy = policy_document(topic._policy_json) if topic is not None else None
    return [Check(f"sns:{action}", arn, {}, policy, "topic policy")]


def _secretsmanager(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(params.get("SecretId") or "")
    if not secret_id:
        return [Check(f"secretsmanager:{action}", "*")]
    secret = _backend(secretsmanager_backends, response).secrets.get(secret_id)
    if secret is None:
        arn = (
            secret_id
            if secret_id.startswith("arn:")
            else (
                f"arn:{response.partition}:secretsmanager:{response.region}:{response.current_account}"
                f":secret:{secret_id}"
            )
        )
        return [Check(f"secretsmanager:{action}", arn)]
    checks = [Check(f"secretsmanager:{action}", secret.arn, {}, _policy(secret.policy), "secret policy")]
    implied = {"GetSecretValue": "kms:Decrypt", "PutSecretValue": "kms:GenerateDataKey"}.get(action)
    if implied:
        checks += _implied_kms(response, secret.kms_key_id, implied, "secretsmanager")
    return checks


def _kms(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    key_id = str(params.get("KeyId") or params.get("TargetKeyId") or "")
    if not key_id and action == "Decrypt":
        try:
            blob = base64.b64decode(str(params.get("CiphertextBlob") or ""))
            key_id = blob[:36].decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            key_id = ""
    context = {"kms:CallerAccount": response.current_account}
    if action in ("CreateGrant", "ListGrants", "RevokeGrant"):
        context["kms:GrantIsForAWSResource"] = "false"
    key = _kms_key(response, key_id) if key_id else None
    if key is None:
        return [Check(f"kms:{action}", "*", context)]
    return [Check(f"kms:{action}", key.arn, context, _policy(key.policy), "key policy", key_policy=True)]


def _ecs(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    from moto.ecs.models import ecs_backends

    backend = _backend(ecs_backends, response)
    prefix = f"arn:{response.partition}:ecs:{response.region}:{response.current_account}"
    cluster_name = str(params.get("cluster") or "default").rsplit("/", 1)[-1]
    cluster = {"ecs:cluster": f"{prefix}:cluster/{cluster_name}"}

    def pass_roles(*arns: Any) -> list[Check]:
        passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        return [Check("iam:PassRole", str(arn), passed) for arn in arns if arn]

    def task_arn(task: str) -> str:
        return task if task.startswith("arn:") else f"{prefix}:task/{cluster_name}/{task}"

    if action == "RunTask":
        definition = str(params.get("taskDefinition") or "").rsplit("/", 1)[-1]
        if ":" not in definition:
            revisions = backend.task_definitions.get(definition) or {}
            definition = f"{definition}:{max(revisions) if revisions else 1}"
        overrides = params.get("overrides") or {}
        checks = [Check("ecs:RunTask", f"{prefix}:task-definition/{definition}", cluster)]
        checks += pass_roles(overrides.get("taskRoleArn"), overrides.get("executionRoleArn"))
        if params.get("tags"):
            created = {**cluster, "ecs:CreateAction": "RunTask"}
            checks.append(Check("ecs:TagResource", f"{prefix}:task/{cluster_name}/*", created))
        return checks
    if action in ("StopTask", "DescribeTasks"):
        tasks = [params.get("task")] if action == "StopTask" else list(params.get("tasks") or [])
        return [Check(f"ecs:{action}", task_arn(str(t)), cluster) for t in tasks if t] or [
            Check(f"ecs:{action}", "*", cluster)
        ]
    if action == "DescribeClusters":
        names = [str(c).rsplit("/", 1)[-1] for c in params.get("clusters") or ["default"]]
        return [Check("ecs:DescribeClusters", f"{prefix}:cluster/{n}") for n in names]
    if action == "TagResource":
        return [Check("ecs:TagResource", str(params.get("resourceArn") or "*"))]
    if action == "RegisterTaskDefinition":
        # The Service Authorization Reference lists RegisterTaskDefinition on the `task-definition`
        # resource type: the revision the call creates.
        family = str(params.get("family") or "")
        revision = max(backend.task_definitions.get(family) or {0: None}) + 1
        created_arn = f"{prefix}:task-definition/{family}:{revision}"
        checks = [Check("ecs:RegisterTaskDefinition", created_arn)]
        checks += pass_roles(params.get("taskRoleArn"), params.get("executionRoleArn"))
        if params.get("tags"):
            created = {"ecs:CreateAction": "RegisterTaskDefinition"}
            checks.append(Check("ecs:TagResource", created_arn, created))
        return checks
    if action == "ListTasks":
        return [Check("ecs:ListTasks", "*", cluster)]
    return [Check(f"ecs:{action}", "*")]


def _ssm(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    prefix = f"arn:{response.partition}:ssm:{response.region}:{response.current_account}:parameter/"

    def arn(name: str) -> str:
        return name if name.startswith("arn:") else prefix + name.lstrip("/")

    if action == "GetParameters":
        return [Check("ssm:GetParameters", arn(str(n))) for n in params.get("Names") or []] or [
            Check("ssm:GetParameters", "*")
        ]
    if action == "GetParametersByPath":
        return [Check("ssm:GetParametersByPath", arn(str(params.get("Path") or "/").rstrip("/")))]
    name = params.get("Name")
    return [Check(f"ssm:{action}", arn(str(name)) if name else "*")]


_LOG_STREAM_ACTIONS = ("PutLogEvents", "GetLogEvents", "CreateLogStream")


def _logs(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    prefix = f"arn:{response.partition}:logs:{response.region}:{response.current_account}:log-group:"
    group = str(params.get("logGroupName") or params.get("logGroupIdentifier") or "")
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    if action == "DescribeLogGroups":
        return [Check("logs:DescribeLogGroups", f"{prefix}:log-stream:")]
    if not group:
        return [Check(f"logs:{action}", "*")]
    stream = str(params.get("logStreamName") or "") if action in _LOG_STREAM_ACTIONS else ""
    return [Check(f"logs:{action}", f"{prefix}{group}:log-stream:{stream}")]


def _cloudformation(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    from moto.cloudformation.models import cloudformation_backends

    name = str(params.get("StackName") or "")
    if not name or action in _CLOUDFORMATION_WITHOUT_STACK:
        return [Check(f"cloudformation:{action}", "*")]
    if name.startswith("arn:"):
        return [Check(f"cloudformation:{action}", name)]
    backend = _backend(cloudformation_backends, response)
    live = [s for s in backend.stacks.values() if s.name == name and s.status != "DELETE_COMPLETE"]
    prefix = f"arn:{response.partition}:cloudformation:{response.region}:{response.current_account}"
    arn = live[0].stack_id if live else f"{prefix}:stack/{name}/*"
    return [Check(f"cloudformation:{action}", arn)]


_CLOUDFORMATION_WITHOUT_STACK = frozenset(
    {"DescribeStackDriftDetectionStatus", "ListStacks", "ValidateTemplate", "EstimateTemplateCost"}
)
"""CloudFormation actions the Service Authorization Reference lists with no resource type."""


def _rds(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    prefix = f"arn:{response.partition}:rds:{response.region}:{response.current_account}"
    cluster = str(params.get("DBClusterIdentifier") or "")
    instance = str(params.get("DBInstanceIdentifier") or "")
    if cluster:
        return [
            Check(f"rds:{action}", cluster if cluster.startswith("arn:") else f"{prefix}:cluster:{cluster}")
        ]
    if instance:
        return [
            Check(f"rds:{action}", instance if instance.startswith("arn:") else f"{prefix}:db:{instance}")
        ]
    return [Check(f"rds:{action}", "*")]


def _elbv2(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    if action.startswith("Describe"):
        return [Check(f"elasticloadbalancing:{action}", "*")]
    arn = str(
        params.get("LoadBalancerArn") or params.get("ListenerArn") or params.get("TargetGroupArn") or ""
    )
    arn = arn or str(params.get("RuleArn") or "")
    return [Check(f"elasticloadbalancing:{action}", arn or "*")]


def _cloudfront(response: Any, action: str, params: Mapping[str, Any]) -> list[Check]:
    distribution = str(response.uri_match.get("Id") or response.uri_match.get("DistributionId") or "")
    if distribution and ("Distribution" in action or "Invalidation" in action):
        arn = f"arn:{response.partition}:cloudfront::{response.current_account}:distribution/{distribution}"
        return [Check(f"cloudfront:{action}", arn)]
    return [Check(f"cloudfront:{action}", "*")]


_TABLES: dict[str, Callable[[Any, str, Mapping[str, Any]], list[Check]]] = {
    "sqs": _sqs,
    "sns": _sns,
    "secretsmanager": _secretsmanager,
    "kms": _kms,
    "ecs": _ecs,
    "ssm": _ssm,
    "logs": _logs,
    "cloudformation": _cloudformation,
    "rds": _rds,
    "elbv2": _elbv2,
    "cloudfront": _cloudfront,
}


# --- deciding -------------------------------------------------------------------------------------------


def _context(caller: Caller) -> dict[str, str]:
    return {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": "AssumedRole" if caller.role_arn else "User",
        "aws:PrincipalIsAWSService": "false",
        "aws:ViaAWSService": "false",
    }


def _resource_account(resource: str, account: str) -> dict[str, str]:
    """`aws:ResourceAccount`: the account that owns the resource. An S3 ARN names no account: its bucket
    is this account's, the only one the emulator serves; `*` names no resource, and gets no key."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return {}
    return {"aws:ResourceAccount": parts[4] or account}


def _why(check: Check, decision: Decision, denied_in: str) -> str:
    if decision is Decision.EXPLICIT_DENY:
        return f"with an explicit deny in a {denied_in}"
    return f"because no {denied_in} allows the {check.action} action"


def decide(caller: Caller, checks: list[Check]) -> Refusal | None:
    """Evaluate and record each check in order; the refusal of the first that AWS would refuse."""
    if caller.expiration is not None and caller.expiration < utcnow():
        record(caller, checks[0].action, checks[0].resource, "expired token")
        return Refusal("ExpiredToken", "The security token included in the request is expired")
    for check in checks:
        request = Request(
            caller.arn,
            check.action,
            check.resource,
            {**_context(caller), **_resource_account(check.resource, caller.account), **check.context},
            principal_names=caller.names,
            absent_keys=ABSENT_KEYS,
        )
        head = (
            f"User: {caller.arn} is not authorized to perform: {check.action} on resource: {check.resource}"
        )
        try:
            evaluation = explain(
                request,
                caller.identity_policies,
                check.policy,
                key_policy=check.key_policy,
                identity_names=caller.policy_names,
                resource_name=check.policy_name,
            )
        except NotEvaluated as exc:
            record(caller, check.action, check.resource, "not evaluated", reason=str(exc))
            return Refusal("AccessDenied", f"{head} because the emulator cannot evaluate: {exc}")
        if evaluation.decision is Decision.ALLOW:
            record(caller, check.action, check.resource, "allow", evaluation.allowed_by)
            continue
        why = _why(check, evaluation.decision, evaluation.denied_in)
        record(caller, check.action, check.resource, evaluation.decision.value, reason=why)
        return Refusal("AccessDenied", f"{head} {why}")
    return None


def _refused(refusal: Refusal | None, what: str) -> Refusal | None:
    """The refusal to answer under `enforce`; under `audit` it is logged and the request served."""
    if refusal is None:
        return None
    if mode() is Mode.ENFORCE:
        _log.warning("refused %s: %s", what, refusal.message)
        return refusal
    _log.warning("would refuse (audit) %s: %s", what, refusal.message)
    return None


def _known_caller(response: Any) -> Caller | None:
    if mode() is Mode.OFF:
        return None
    caller = caller_of(response)
    return caller if caller.known else None


# --- the refusals, in each service's shape --------------------------------------------------------------

_JSON_CODES = {"AccessDenied": "AccessDeniedException", "ExpiredToken": "ExpiredTokenException"}


def _json_refusal(service: str, refusal: Refusal) -> tuple[int, dict[str, str], str]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if service == "sqs":
        # SQS's JSON protocol keeps its query-protocol codes in this header (botocore reads it).
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-query-error": f"{refusal.code};Sender",
        }
        status = 403 if refusal.code == "AccessDenied" else 400
        body = {"__type": f"com.amazon.coral.service#{_JSON_CODES[refusal.code]}", "message": refusal.message}
        return status, headers, json.dumps(body)
    body = {"__type": _JSON_CODES[refusal.code], "message": refusal.message, "Message": refusal.message}
    return 400, headers, json.dumps(body)


_QUERY_NAMESPACES = {
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "rds": "http://rds.amazonaws.com/doc/2014-10-31/",
    "elbv2": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    "cloudfront": "http://cloudfront.amazonaws.com/doc/2020-05-31/",
}
_XML_SERVICES = frozenset({"sns", "cloudformation", "rds", "elbv2", "cloudfront"})
"""Services whose every protocol (query, or CloudFront's rest-xml) carries errors as XML."""


def _query_refusal(service: str, refusal: Refusal) -> tuple[int, dict[str, str], str]:
    """The XML error of the query protocol and of CloudFront's rest-xml: SNS's AuthorizationError
    (HTTP 403, botocore's SNS model); CloudFormation's, RDS's, ELBv2's and CloudFront's AccessDenied
    (HTTP 403); SQS's AccessDenied (HTTP 403) for a client that still speaks SQS's query protocol."""
    code = "AuthorizationError" if (service, refusal.code) == ("sns", "AccessDenied") else refusal.code
    status = 403 if refusal.code == "AccessDenied" else 400
    body = (
        f'<ErrorResponse xmlns="{_QUERY_NAMESPACES[service]}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{_xml(refusal.message)}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml"}, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _s3_error(refusal: Refusal) -> Exception:
    from moto.s3.exceptions import S3ClientError

    class S3AccessDenied(S3ClientError):
        code = refusal.code
        message = refusal.message

        def __init__(self) -> None:
            super().__init__(refusal.code, refusal.message)

    return S3AccessDenied()


# --- the hooks in moto's dispatch -----------------------------------------------------------------------

_request = threading.local()


def _call_action(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        table = _TABLES.get(str(self.service_name))
        caller = _known_caller(self) if table is not None else None
        if table is None or caller is None:
            return original(self)
        action = str(self._get_action() or "")
        checks = table(self, action, _params(self))
        refusal = _refused(
            decide(caller, checks), f"{checks[0].action} on {checks[0].resource} by {caller.arn}"
        )
        if refusal is None:
            return original(self)
        json_request = "json" in str(self.headers.get("Content-Type", "")) or "X-Amz-Target" in self.headers
        if self.service_name in _XML_SERVICES or (self.service_name == "sqs" and not json_request):
            return _query_refusal(str(self.service_name), refusal)
        return _json_refusal(str(self.service_name), refusal)

    call_action._authorized = True  # type: ignore[attr-defined]
    return call_action


def _s3_authorize(original: Callable[..., None]) -> Callable[..., None]:
    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if not getattr(_request, "checked", False):
            _check_s3(self, bucket_name, key_name)
        original(self, bucket_name=bucket_name, key_name=key_name)

    return authorize


def _check_s3(response: Any, bucket: str | None, key_name: str | None) -> None:
    caller = _known_caller(response)
    if caller is None:
        return
    checks = _s3(response, bucket, key_name)
    refusal = _refused(decide(caller, checks), f"{checks[0].action} on {checks[0].resource} by {caller.arn}")
    if refusal is not None:
        raise _s3_error(refusal)


def _s3_key_response(original: Callable[..., Any]) -> Callable[..., Any]:
    """Decide an object request before moto's own bucket-policy check, which ignores the Principal
    element and answers an empty 403; once decided here, that check and the later hook stand aside."""

    def key_response(self: Any, request: Any, full_url: str) -> Any:
        if _known_caller(self) is None:
            return original(self, request, full_url)
        from moto.s3.responses import ACTION_MAP

        query = self._get_querystring(request, full_url)
        method = request.method
        self.data["Action"] = next(
            (a for q, a in ACTION_MAP["KEY"].get(method, {}).items() if q in query),
            ACTION_MAP["KEY"].get(method, {}).get("DEFAULT", "PutObject"),
        )
        bucket = self.parse_bucket_name_from_url(request, full_url)
        _check_s3(self, bucket, self.parse_key_name())
        _request.checked = True
        try:
            return original(self, request, full_url)
        finally:
            _request.checked = False

    return key_response


def _bucket_permission(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_permission(self: Any, action: str, resource: str) -> Any:
        if getattr(_request, "checked", False):
            from moto.iam.access_control import PermissionResult

            return PermissionResult.NEUTRAL
        return original(self, action, resource)

    return get_permission


def install() -> None:
    """Put the checks in front of moto's dispatch (idempotent)."""
    if getattr(BaseResponse.call_action, "_authorized", False):
        return
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    setattr(BaseResponse, "call_action", _call_action(BaseResponse.call_action))  # noqa: B010
    setattr(  # noqa: B010
        S3Response,
        "_authenticate_and_authorize_s3_action",
        _s3_authorize(S3Response._authenticate_and_authorize_s3_action),
    )
    setattr(S3Response, "_key_response", _s3_key_response(S3Response._key_response))  # noqa: B010
    setattr(FakeBucket, "get_permission", _bucket_permission(FakeBucket.get_permission))  # noqa: B010

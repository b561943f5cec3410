"""S3, SQS, Secrets Manager, KMS, ECS, SSM, CloudWatch Logs, CloudFormation, RDS, ELBv2, CloudFront and
STS authorize a role session's requests as AWS does (emulator.iam_authorization), in the modes off,
audit and enforce."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator.iam_enforcement import DECISIONS_PATH
from tests.emulator.emulator_testlib import REGION, Emulator

pytestmark = pytest.mark.slow  # tens of emulator calls per test: about 30 s for the module

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
Aws = Callable[[str], Any]


def _http(emulator: Emulator, path: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emulator.endpoint + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _allow(
    action: str | list[str], resource: str | list[str], sid: str = "Grant", **extra: Any
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


@dataclass(frozen=True)
class Session:
    """A role and a session of it, with clients that use the session's credentials."""

    emulator: Emulator
    role_name: str
    role_arn: str
    credentials: dict[str, Any]

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/session"

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
            region_name=REGION,
        ).client(service, endpoint_url=self.emulator.endpoint, config=Config(retries={"max_attempts": 1}))

    def grant(self, iam: Any, policy: dict[str, Any], name: str = "grant") -> None:
        iam.put_role_policy(RoleName=self.role_name, PolicyName=name, PolicyDocument=json.dumps(policy))


@pytest.fixture
def session(emulator: Emulator, aws: Aws) -> Session:
    """A role that trusts the account and has no identity policy, assumed by the default credentials."""
    iam, name = aws("iam"), _name("caller")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    credentials = aws("sts").assume_role(RoleArn=arn, RoleSessionName="session")["Credentials"]
    return Session(emulator, name, arn, credentials)


def _refusal(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    return (
        error["Error"]["Code"],
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"].get("Message", ""),
    )


def _log_since(emulator: Emulator, offset: int, needle: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        text = emulator.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


# --- one case per service: a resource, a call on it, and the grant that permits the call ----------------


@dataclass(frozen=True)
class Case:
    action: str
    resource: str
    grant: str
    """The resource of the identity policy that permits the call."""
    call: Callable[[Session], Any]
    code: str
    status: int


def _s3_case(aws: Aws) -> Case:
    bucket = _name("bucket")
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key="k", Body=b"v")
    return Case(
        "s3:GetObject",
        f"arn:aws:s3:::{bucket}/k",
        f"arn:aws:s3:::{bucket}/*",
        lambda s: s.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read(),
        "AccessDenied",
        403,
    )


def _sqs_case(aws: Aws) -> Case:
    name = _name("queue")
    url = aws("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    return Case(
        "sqs:SendMessage",
        arn,
        arn,
        lambda s: s.client("sqs").send_message(QueueUrl=url, MessageBody="m"),
        "AccessDenied",
        403,
    )


def _sns_case(aws: Aws) -> Case:
    topic = aws("sns").create_topic(Name=_name("topic"))["TopicArn"]
    return Case(
        "sns:Publish",
        topic,
        topic,
        lambda s: s.client("sns").publish(TopicArn=topic, Message="m"),
        "AuthorizationError",
        403,
    )


def _secrets_case(aws: Aws) -> Case:
    secret = aws("secretsmanager").create_secret(Name=_name("secret"), SecretString="s")["ARN"]
    return Case(
        "secretsmanager:GetSecretValue",
        secret,
        secret,
        lambda s: s.client("secretsmanager").get_secret_value(SecretId=secret),
        "AccessDeniedException",
        400,
    )


def _kms_case(aws: Aws) -> Case:
    key = aws("kms").create_key()["KeyMetadata"]["Arn"]
    return Case(
        "kms:Encrypt",
        key,
        key,
        lambda s: s.client("kms").encrypt(KeyId=key, Plaintext=b"p"),
        "AccessDeniedException",
        400,
    )


def _ecs_case(aws: Aws) -> Case:
    name = _name("cluster")
    cluster = aws("ecs").create_cluster(clusterName=name)["cluster"]["clusterArn"]
    return Case(
        "ecs:DescribeClusters",
        cluster,
        cluster,
        lambda s: s.client("ecs").describe_clusters(clusters=[name]),
        "AccessDeniedException",
        400,
    )


def _ssm_case(aws: Aws) -> Case:
    name = f"/{_name('app')}/setting"
    aws("ssm").put_parameter(Name=name, Value="v", Type="String")
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
    return Case(
        "ssm:GetParameter",
        arn,
        arn,
        lambda s: s.client("ssm").get_parameter(Name=name),
        "AccessDeniedException",
        400,
    )


def _logs_case(aws: Aws) -> Case:
    group = f"/app/{_name('group')}"
    aws("logs").create_log_group(logGroupName=group)
    aws("logs").create_log_stream(logGroupName=group, logStreamName="stream")
    prefix = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    event = {"timestamp": int(time.time() * 1000), "message": "m"}
    return Case(
        "logs:PutLogEvents",
        f"{prefix}:log-stream:stream",
        f"{prefix}:*",
        lambda s: s.client("logs").put_log_events(
            logGroupName=group, logStreamName="stream", logEvents=[event]
        ),
        "AccessDeniedException",
        400,
    )


def _sts_case(aws: Aws) -> Case:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}],
    }
    role = aws("iam").create_role(RoleName=_name("target"), AssumeRolePolicyDocument=json.dumps(trust))
    arn = role["Role"]["Arn"]
    return Case(
        "sts:AssumeRole",
        arn,
        arn,
        lambda s: s.client("sts").assume_role(RoleArn=arn, RoleSessionName="next"),
        "AccessDenied",
        403,
    )


def _cloudformation_case(aws: Aws) -> Case:
    name = _name("stack")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    stack = aws("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"]
    return Case(
        "cloudformation:DescribeStacks",
        stack,
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/*",
        lambda s: s.client("cloudformation").describe_stacks(StackName=name),
        "AccessDenied",
        403,
    )


def _rds_case(aws: Aws) -> Case:
    name = _name("cluster")
    aws("rds").create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="p" * 12,
    )
    arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{name}"
    return Case(
        "rds:DescribeDBClusters",
        arn,
        arn,
        lambda s: s.client("rds").describe_db_clusters(DBClusterIdentifier=name),
        "AccessDenied",
        403,
    )


def _elbv2_case(aws: Aws) -> Case:
    return Case(
        "elasticloadbalancing:DescribeLoadBalancers",
        "*",
        "*",
        lambda s: s.client("elbv2").describe_load_balancers(),
        "AccessDenied",
        403,
    )


def _cloudfront_case(aws: Aws) -> Case:
    origin = {
        "Id": "origin",
        "DomainName": "origin.example.com",
        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
    }
    config = {
        "CallerReference": _name("ref"),
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "origin", "ViewerProtocolPolicy": "https-only"},
    }
    distribution = aws("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    arn = f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution}"
    return Case(
        "cloudfront:GetDistributionConfig",
        arn,
        arn,
        lambda s: s.client("cloudfront").get_distribution_config(Id=distribution),
        "AccessDenied",
        403,
    )


CASES = {
    "s3": _s3_case,
    "sqs": _sqs_case,
    "sns": _sns_case,
    "secretsmanager": _secrets_case,
    "kms": _kms_case,
    "ecs": _ecs_case,
    "ssm": _ssm_case,
    "logs": _logs_case,
    "sts": _sts_case,
    "cloudformation": _cloudformation_case,
    "rds": _rds_case,
    "elbv2": _elbv2_case,
    "cloudfront": _cloudfront_case,
}


@pytest.mark.parametrize("service", sorted(CASES))
def test_a_call_needs_its_grant_under_enforce_is_logged_under_audit_and_free_when_off(
    emulator: Emulator, aws: Aws, session: Session, set_mode: Callable[[str], None], service: str
) -> None:
    # GIVEN a role session without any identity policy, and a resource of the service
    case = CASES[service](aws)
    # WHEN it calls the service under enforce THEN the service refuses in its own shape and words
    set_mode("enforce")
    code, status, message = _refusal(lambda: case.call(session))
    assert (code, status) == (case.code, status if service == "sts" else case.status)
    assert status == case.status
    if service != "sts":
        assert message == (
            f"User: {session.arn} is not authorized to perform: {case.action} on resource: {case.resource}"
            f" because no identity-based policy allows the {case.action} action"
        )
    # WHEN under audit THEN the call is served and the refusal it would make is logged
    set_mode("audit")
    offset = emulator.log_path.stat().st_size
    case.call(session)
    logged = _log_since(emulator, offset, case.resource)
    assert f"would refuse (audit) {case.action}" in logged and case.resource in logged
    # WHEN the check is off THEN the call is served
    set_mode("off")
    case.call(session)
    # WHEN the role is granted the call THEN enforce serves it
    session.grant(aws("iam"), _allow(case.action, case.grant))
    set_mode("enforce")
    case.call(session)


def test_the_platforms_calls_are_authorized_on_the_resources_its_grants_name(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN grants shaped as CDK writes them: objects and the bucket, a queue, a log group with ":*",
    # a secret, parameters under a path, ECS tasks of one cluster
    s3, bucket = aws("s3"), _name("bucket")
    s3.create_bucket(Bucket=bucket)
    queue_name = _name("queue")
    aws("sqs").create_queue(QueueName=queue_name)
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"
    group = f"/app/{_name('group')}"
    aws("logs").create_log_group(logGroupName=group)
    path = f"/{_name('app')}"
    aws("ssm").put_parameter(Name=f"{path}/a", Value="1", Type="String")
    secret = aws("secretsmanager").create_secret(Name=_name("secret"), SecretString="s")["ARN"]
    cluster_name = _name("cluster")
    cluster = aws("ecs").create_cluster(clusterName=cluster_name)["cluster"]["clusterArn"]
    statements = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": "runs/*"}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            "Resource": queue,
        },
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
                "logs:DescribeLogStreams",
            ],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*",
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{path}*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            "Resource": secret,
        },
        {
            "Effect": "Allow",
            "Action": ["ecs:ListTasks"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": cluster}},
        },
    ]
    session.grant(aws("iam"), {"Version": "2012-10-17", "Statement": statements})
    set_mode("enforce")
    # WHEN the role makes the calls the platform's software makes THEN each is served
    as_s3 = session.client("s3")
    as_s3.put_object(Bucket=bucket, Key="runs/a", Body=b"v")
    assert as_s3.head_object(Bucket=bucket, Key="runs/a")["ContentLength"] == 1
    upload = as_s3.create_multipart_upload(Bucket=bucket, Key="runs/big")["UploadId"]
    part = as_s3.upload_part(Bucket=bucket, Key="runs/big", UploadId=upload, PartNumber=1, Body=b"x")
    as_s3.complete_multipart_upload(
        Bucket=bucket,
        Key="runs/big",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert [o["Key"] for o in as_s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]] == [
        "runs/a",
        "runs/big",
    ]
    as_s3.delete_object(Bucket=bucket, Key="runs/a")
    deleted = as_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "runs/big"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["runs/big"]
    sqs = session.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    sqs.send_message(QueueUrl=url, MessageBody="m")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    logs = session.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    event = {"timestamp": int(time.time() * 1000), "message": "m"}
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[event])
    logs.get_log_events(logGroupName=group, logStreamName="s")
    logs.filter_log_events(logGroupName=group)
    logs.describe_log_streams(logGroupName=group)
    ssm = session.client("ssm")
    assert ssm.get_parameter(Name=f"{path}/a")["Parameter"]["Value"] == "1"
    assert ssm.get_parameters(Names=[f"{path}/a"])["Parameters"]
    assert ssm.get_parameters_by_path(Path=path)["Parameters"]
    secrets = session.client("secretsmanager")
    stages = secrets.describe_secret(SecretId=secret)["VersionIdsToStages"]
    current = next(v for v, labels in stages.items() if "AWSCURRENT" in labels)
    pending = secrets.put_secret_value(SecretId=secret, SecretString="t", VersionStages=["AWSPENDING"])
    secrets.update_secret_version_stage(
        SecretId=secret,
        VersionStage="AWSCURRENT",
        MoveToVersionId=pending["VersionId"],
        RemoveFromVersionId=current,
    )
    secrets.get_secret_value(SecretId=secret)
    session.client("ecs").list_tasks(cluster=cluster)
    # WHEN it lists outside the granted prefix, reads the head of an object elsewhere or creates a log
    # group THEN each is refused
    assert _refusal(lambda: as_s3.list_objects_v2(Bucket=bucket, Prefix="other/"))[:2] == (
        "AccessDenied",
        403,
    )
    s3.put_object(Bucket=bucket, Key="x", Body=b"v")
    as_s3.head_object(Bucket=bucket, Key="x")  # the object grant covers every key of the bucket
    code, status, message = _refusal(lambda: logs.create_log_group(logGroupName=f"{group}-2"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert f"on resource: arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}-2:log-stream:" in message
    assert _refusal(lambda: session.client("ecs").list_tasks(cluster="default"))[0] == "AccessDeniedException"


def test_a_client_of_sqs_query_protocol_gets_its_xml_access_denied(
    emulator: Emulator, aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a queue, and a client that speaks SQS's query protocol (botocore before 1.31 did)
    case = _sqs_case(aws)
    url = aws("sqs").get_queue_url(QueueName=case.resource.rsplit(":", 1)[-1])["QueueUrl"]
    form = urllib.parse.urlencode({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "m"})
    request = AWSRequest(
        method="POST",
        url=emulator.endpoint + "/",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    credentials = session.credentials
    SigV4Auth(
        Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]),
        "sqs",
        REGION,
    ).add_auth(request)
    set_mode("enforce")
    # WHEN it sends without a grant THEN SQS answers its query protocol's AccessDenied
    prepared = urllib.request.Request(
        request.url, data=form.encode(), headers=dict(request.headers.items()), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(prepared, timeout=10)
    assert refused.value.code == 403
    assert "<Code>AccessDenied</Code>" in refused.value.read().decode()


# --- resource policies ----------------------------------------------------------------------------------


def _deny_role(role_arn: str, action: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoCaller",
                "Effect": "Deny",
                "Principal": {"AWS": role_arn},
                "Action": action,
                "Resource": resource,
            }
        ],
    }


def _allow_role(role_arn: str, action: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Caller",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": action,
                "Resource": resource,
            }
        ],
    }


def _put_resource_policy(aws: Aws, service: str, case: Case, policy: dict[str, Any]) -> None:
    if service == "s3":
        bucket = case.resource.split(":::")[1].split("/")[0]
        aws("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    elif service == "sqs":
        url = aws("sqs").get_queue_url(QueueName=case.resource.rsplit(":", 1)[-1])["QueueUrl"]
        aws("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    else:
        aws("secretsmanager").put_resource_policy(SecretId=case.resource, ResourcePolicy=json.dumps(policy))


@pytest.mark.parametrize("service", ["s3", "sqs", "secretsmanager"])
def test_an_explicit_deny_in_the_resource_policy_wins_over_an_identity_allow(
    aws: Aws, session: Session, set_mode: Callable[[str], None], service: str
) -> None:
    # GIVEN a role allowed the call, and a resource policy that denies it to the role
    case = CASES[service](aws)
    session.grant(aws("iam"), _allow(case.action, case.grant))
    _put_resource_policy(aws, service, case, _deny_role(session.role_arn, case.action, case.grant))
    set_mode("enforce")
    # WHEN the role calls THEN the service refuses, naming the resource-based policy
    code, status, message = _refusal(lambda: case.call(session))
    assert (code, status) == (case.code, case.status)
    assert message.endswith("with an explicit deny in a resource-based policy")


@pytest.mark.parametrize("service", ["s3", "sqs", "secretsmanager"])
def test_a_resource_policy_that_names_the_role_allows_alone(
    emulator: Emulator, aws: Aws, session: Session, set_mode: Callable[[str], None], service: str
) -> None:
    # GIVEN a role without identity policies, named by the resource's policy
    case = CASES[service](aws)
    _put_resource_policy(aws, service, case, _allow_role(session.role_arn, case.action, case.grant))
    set_mode("enforce")
    _http(emulator, DECISIONS_PATH, "DELETE")
    # WHEN the role calls THEN the call is served, allowed by the resource policy's statement
    case.call(session)
    decisions = _http(emulator, DECISIONS_PATH, "GET")["decisions"]
    assert {"action": case.action, "allowed_by": [f"{_policy_name(service)}#Caller"]}.items() <= next(
        d for d in decisions if d["action"] == case.action
    ).items()


def _policy_name(service: str) -> str:
    return {"s3": "bucket policy", "sqs": "queue policy", "secretsmanager": "secret policy"}[service]


# --- KMS: the key policy must allow ---------------------------------------------------------------------


def _key_without_account_delegation(aws: Aws) -> str:
    """A key whose policy allows only the default credentials' principal, not the account's IAM
    policies."""
    admin = aws("sts").get_caller_identity()["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"}],
    }
    return str(aws("kms").create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])


def test_a_key_policy_that_does_not_allow_refuses_despite_an_identity_allow(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    key = _key_without_account_delegation(aws)
    session.grant(aws("iam"), _allow("kms:*", "*"))
    set_mode("enforce")
    code, status, message = _refusal(lambda: session.client("kms").encrypt(KeyId=key, Plaintext=b"p"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        f"User: {session.arn} is not authorized to perform: kms:Encrypt on resource: {key}"
        " because no resource-based policy allows the kms:Encrypt action"
    )


def test_a_secret_under_a_customer_key_needs_the_key_policy_to_allow_decrypt(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a secret encrypted with a key whose policy does not let the account's policies grant it
    key = _key_without_account_delegation(aws)
    secret = aws("secretsmanager").create_secret(Name=_name("secret"), SecretString="s", KmsKeyId=key)["ARN"]
    session.grant(aws("iam"), _allow(["secretsmanager:GetSecretValue", "kms:Decrypt"], "*"))
    set_mode("enforce")
    # WHEN the role reads it THEN Secrets Manager refuses for the key
    code, _, message = _refusal(lambda: session.client("secretsmanager").get_secret_value(SecretId=secret))
    assert code == "AccessDeniedException"
    assert f"kms:Decrypt on resource: {key}" in message
    # WHEN the key policy allows the account's policies, for calls through Secrets Manager only
    delegation = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROOT},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}},
            }
        ],
    }
    aws("kms").put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(delegation))
    # THEN the read is served, and a direct Decrypt is still refused (no kms:ViaService)
    assert session.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"] == "s"
    blob = aws("kms").encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    assert _refusal(lambda: session.client("kms").decrypt(CiphertextBlob=blob))[0] == "AccessDeniedException"


def test_an_sse_kms_object_needs_decrypt_on_its_key(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    key = _key_without_account_delegation(aws)
    bucket = _name("bucket")
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key="k", Body=b"v", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    session.grant(aws("iam"), _allow(["s3:GetObject", "kms:Decrypt"], "*"))
    set_mode("enforce")
    code, status, message = _refusal(lambda: session.client("s3").get_object(Bucket=bucket, Key="k"))
    assert (code, status) == ("AccessDenied", 403)
    assert f"kms:Decrypt on resource: {key}" in message


# --- ECS: iam:PassRole ----------------------------------------------------------------------------------


def test_run_task_with_a_task_role_override_needs_pass_role(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role allowed to run the family's tasks on the cluster, and a task role to hand over
    ecs, iam = aws("ecs"), aws("iam")
    cluster = ecs.create_cluster(clusterName=_name("cluster"))["cluster"]["clusterArn"]
    family = _name("flow")
    definition = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "c", "image": "example:1"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=_name("g"), Description="g", VpcId=vpc)["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    task_role = iam.create_role(RoleName=_name("task"), AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    run = _allow(
        "ecs:RunTask",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:*",
        sid="RunOnTheCluster",
        Condition={"ArnEquals": {"ecs:cluster": cluster}},
    )
    session.grant(iam, run, "run")
    set_mode("enforce")

    def run_task() -> Any:
        return session.client("ecs").run_task(
            cluster=cluster,
            taskDefinition=family,
            launchType="FARGATE",
            networkConfiguration=network,
            overrides={"taskRoleArn": task_role},
        )

    # WHEN it runs a task with the task role override THEN ECS refuses: the role may not pass it
    code, status, message = _refusal(run_task)
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        f"User: {session.arn} is not authorized to perform: iam:PassRole on resource: {task_role}"
        " because no identity-based policy allows the iam:PassRole action"
    )
    # WHEN it may pass the role, but only to another service THEN still refused
    session.grant(
        iam,
        _allow(
            "iam:PassRole",
            task_role,
            Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        "pass",
    )
    assert _refusal(run_task)[0] == "AccessDeniedException"
    # WHEN it may pass the role to ECS tasks THEN the task runs
    session.grant(
        iam,
        _allow(
            "iam:PassRole",
            task_role,
            Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
        "pass",
    )
    task = run_task()["tasks"][0]["taskArn"]
    assert definition.endswith(":1")
    # WHEN it watches and stops the task without a grant for tasks THEN refused on the task's ARN
    as_ecs = session.client("ecs")
    code, _, message = _refusal(lambda: as_ecs.describe_tasks(cluster=cluster, tasks=[task]))
    assert code == "AccessDeniedException" and f"ecs:DescribeTasks on resource: {task} because" in message
    # WHEN it may watch and stop the cluster's tasks THEN both are served
    tasks = task.rsplit("/", 1)[0] + "/*"
    watch = _allow(
        ["ecs:DescribeTasks", "ecs:StopTask"], tasks, Condition={"ArnEquals": {"ecs:cluster": cluster}}
    )
    session.grant(iam, watch, "watch")
    assert as_ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]["taskArn"] == task
    as_ecs.stop_task(cluster=cluster, task=task)

    # WHEN it tags the task it runs THEN ecs:TagResource is needed, with ecs:CreateAction RunTask
    def run_tagged() -> Any:
        return as_ecs.run_task(
            cluster=cluster,
            taskDefinition=family,
            launchType="FARGATE",
            networkConfiguration=network,
            tags=[{"key": "flow", "value": "x"}],
        )

    code, _, message = _refusal(run_tagged)
    assert code == "AccessDeniedException" and "ecs:TagResource" in message
    tag = _allow("ecs:TagResource", tasks, Condition={"StringEquals": {"ecs:CreateAction": "RunTask"}})
    session.grant(iam, tag, "tag")
    run_tagged()
    # WHEN it runs on another cluster THEN ecs:cluster does not match
    other = ecs.create_cluster(clusterName=_name("cluster"))["cluster"]["clusterArn"]
    code, _, message = _refusal(lambda: session.client("ecs").run_task(cluster=other, taskDefinition=family))
    assert code == "AccessDeniedException" and "ecs:RunTask on resource" in message


# --- the decisions record, and who stays an administrator -----------------------------------------------


def test_the_decisions_record_lists_each_decision_with_the_allowing_statement(
    emulator: Emulator, aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role allowed one call by a statement with a Sid, and an emptied record
    case = _ssm_case(aws)
    session.grant(aws("iam"), _allow(case.action, case.grant, sid="ReadSetting"), "reader")
    set_mode("enforce")
    _http(emulator, DECISIONS_PATH, "DELETE")
    # WHEN it makes the call, one it may not make, and the default credentials make another
    case.call(session)
    _refusal(lambda: session.client("ssm").get_parameters_by_path(Path="/"))
    aws("ssm").get_parameter(Name=case.resource.split(":parameter", 1)[1])
    # THEN the record lists the role's two decisions, and not the administrator's call
    decisions = _http(emulator, DECISIONS_PATH, "GET")["decisions"]
    assert [(d["action"], d["decision"]) for d in decisions] == [
        ("ssm:GetParameter", "allow"),
        ("ssm:GetParametersByPath", "implicit deny"),
    ]
    allowed = decisions[0]
    assert allowed["principal"] == session.arn
    assert allowed["role"] == session.role_arn
    assert allowed["resource"] == case.resource
    assert allowed["allowed_by"] == [f"{session.role_arn}/reader#ReadSetting"]
    # WHEN the record is cleared THEN it is empty
    assert _http(emulator, DECISIONS_PATH, "DELETE")["decisions"] == []
    assert _http(emulator, DECISIONS_PATH, "GET")["decisions"] == []


def test_a_session_past_its_expiration_is_refused_with_expired_token(
    emulator: Emulator, aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a session of one second (below STS's minimum, which the emulator does not check), allowed
    # every call
    session.grant(aws("iam"), _allow("*", "*"))
    sts = boto3.session.Session(
        aws_access_key_id=session.credentials["AccessKeyId"],
        aws_secret_access_key=session.credentials["SecretAccessKey"],
        aws_session_token=session.credentials["SessionToken"],
        region_name=REGION,
    ).client("sts", endpoint_url=emulator.endpoint, config=Config(parameter_validation=False))
    short = sts.assume_role(RoleArn=session.role_arn, RoleSessionName="short", DurationSeconds=1)
    expired = Session(emulator, session.role_name, session.role_arn, short["Credentials"])
    case = _ssm_case(aws)
    set_mode("enforce")
    time.sleep(1.5)
    # WHEN it calls a JSON service and S3 THEN each answers its expired-token error
    assert _refusal(lambda: case.call(expired))[:2] == ("ExpiredTokenException", 400)
    assert _refusal(lambda: expired.client("s3").list_objects_v2(Bucket="any"))[:2] == ("ExpiredToken", 400)


def test_moto_s3_check_evaluates_bucket_policy_conditions_with_the_shared_evaluator(aws: Aws) -> None:
    # GIVEN a bucket that denies plain HTTP (CDK's enforceSSL) and, by a StringLike, one prefix
    s3, bucket = aws("s3"), _name("bucket")
    s3.create_bucket(Bucket=bucket)
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                **deny,
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                **deny,
                "Resource": f"arn:aws:s3:::{bucket}/closed/*",
                "Condition": {"StringLike": {"aws:SecureTransport": "t?ue"}},
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    # WHEN the default credentials write with the check off THEN the loopback counts as TLS, and
    # only the second statement's prefix is refused
    s3.put_object(Bucket=bucket, Key="open/k", Body=b"v")
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="closed/k", Body=b"v")


def test_the_default_credentials_stay_an_administrator_under_enforce(
    aws: Aws, set_mode: Callable[[str], None]
) -> None:
    case = _kms_case(aws)
    set_mode("enforce")
    assert aws("kms").encrypt(KeyId=case.resource, Plaintext=b"p")["CiphertextBlob"]


def test_register_task_definition_is_authorized_on_the_revision_it_creates(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a role that may register the task definitions of the flow-run families only
    ecs, iam = aws("ecs"), aws("iam")
    prefix = _name("flowrun")
    grant = _allow(
        "ecs:RegisterTaskDefinition", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{prefix}*:*"
    )
    session.grant(iam, grant, "register")
    set_mode("enforce")

    def register(family: str) -> Any:
        return session.client("ecs").register_task_definition(
            family=family, containerDefinitions=[{"name": "c", "image": "example:1", "memory": 512}]
        )

    # WHEN it registers a revision of a flow-run family THEN ECS creates it
    created = register(f"{prefix}-a")["taskDefinition"]
    try:
        assert created["revision"] == 1
        assert ecs.describe_task_definition(taskDefinition=f"{prefix}-a")["taskDefinition"]["revision"] == 1
    finally:  # the session's emulator is shared: leave no active task definition behind
        ecs.deregister_task_definition(taskDefinition=created["taskDefinitionArn"])
    # WHEN it registers another family THEN ECS refuses, naming the revision it would have created
    code, status, message = _refusal(lambda: register(_name("other")))
    assert (code, status) == ("AccessDeniedException", 400)
    assert (
        "ecs:RegisterTaskDefinition on resource: arn:aws:ecs:" in message
        and ":task-definition/other-" in message
    )


def test_drift_detection_is_authorized_on_the_stack_and_its_status_on_any_resource(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a stack, and a role session without any identity policy
    case = _cloudformation_case(aws)
    stack_name = case.resource.split(":stack/", 1)[1].split("/", 1)[0]
    cloudformation = session.client("cloudformation")
    set_mode("enforce")
    # WHEN it starts drift detection THEN it is refused on the stack's ARN
    code, status, message = _refusal(lambda: cloudformation.detect_stack_drift(StackName=stack_name))
    assert (code, status) == ("AccessDenied", 403)
    assert f"cloudformation:DetectStackDrift on resource: {case.resource} " in message
    # WHEN it reads a detection's status THEN it is refused on "*" (no resource type in the reference)
    code, _, message = _refusal(
        lambda: cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId="d-1")
    )
    assert "cloudformation:DescribeStackDriftDetectionStatus on resource: * " in message
    # WHEN it names a stack the account does not hold THEN the refusal names the stack with any id
    missing = _name("missing")
    _, _, message = _refusal(lambda: cloudformation.describe_stacks(StackName=missing))
    assert f"on resource: arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{missing}/* " in message
    # WHEN granted the stack's reads on stack/<name>/* THEN it lists the stack's resources
    session.grant(aws("iam"), _allow(["cloudformation:ListStackResources"], case.grant))
    summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    assert [s["LogicalResourceId"] for s in summaries] == ["Topic"]


def test_bucket_configuration_reads_are_authorized_as_their_iam_actions(
    aws: Aws, session: Session, set_mode: Callable[[str], None]
) -> None:
    # GIVEN an encrypted bucket with a public access block, and a role session without any grant
    bucket = _name("bucket")
    aws("s3").create_bucket(Bucket=bucket)
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    aws("s3").put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    aws("s3").put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(flags, True)
    )
    s3 = session.client("s3")
    reads = {
        "s3:GetEncryptionConfiguration": lambda: s3.get_bucket_encryption(Bucket=bucket),
        "s3:GetBucketPublicAccessBlock": lambda: s3.get_public_access_block(Bucket=bucket),
        "s3:GetBucketOwnershipControls": lambda: s3.get_bucket_ownership_controls(Bucket=bucket),
    }
    set_mode("enforce")
    # WHEN it reads the configuration THEN each read is refused as its own IAM action, not ListBucket
    for action, read in reads.items():
        code, status, message = _refusal(read)
        assert (code, status) == ("AccessDenied", 403)
        assert f"perform: {action} on resource: arn:aws:s3:::{bucket} " in message
    # WHEN granted those actions on the bucket THEN encryption and the block are served
    session.grant(aws("iam"), _allow(list(reads), f"arn:aws:s3:::{bucket}"))
    assert reads["s3:GetEncryptionConfiguration"]()["ServerSideEncryptionConfiguration"]["Rules"]
    assert reads["s3:GetBucketPublicAccessBlock"]()["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    # AND removing the block is authorized as writing it
    _, _, message = _refusal(lambda: s3.delete_public_access_block(Bucket=bucket))
    assert "perform: s3:PutBucketPublicAccessBlock on resource" in message

"""ARN patterns: what a policy's `Resource` can match, resolved from CloudFormation intrinsics, and
whether it can match an ARN format of the IAM Service Authorization Reference.

A pattern is a sequence of tokens: a literal character, or a character class (any character but
some excluded ones) taken once or repeated. Three sources produce them:

- a policy's own text: `*` matches any characters, `?` exactly one (IAM JSON policy elements:
  Resource, "You can use wildcard characters (* and ?) within any ARN segment");
- values CloudFormation fills in at deploy time (`Fn::GetAtt`, `Ref`, pseudo-parameters): a name
  that is unknown now but has a known shape, e.g. a bucket name (never `/` or `:`) or a log group
  name (may hold `/`, never `:`);
- the reference's ARN formats, e.g. `arn:${Partition}:s3:::${BucketName}/${ObjectName}`: each
  `${Variable}` is one or more characters. `${Partition}`, `${Region}` and `${Account}` are ARN
  segments and hold no `:` or `/`; `${BucketName}` holds no `/` (S3 bucket naming rules: lowercase
  letters, digits, `.` and `-`), which is what tells a bucket ARN from an object ARN.

Two patterns can name a common ARN when their product automaton reaches its end: `intersects`.
What the resolver cannot turn into a pattern raises `Unresolved`, which the gate reports.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

MAX_ALTERNATIVES = 32
"""`Fn::If` branches multiply through `Fn::Join`; past this many, the value counts as unresolved."""


@dataclass(frozen=True)
class Token:
    """One literal character, or one character of a class (`char` None) that excludes `excluded`."""

    char: str | None = None
    excluded: frozenset[str] = frozenset()
    repeat: bool = False
    """Zero or more times (classes only)."""

    def accepts(self, char: str) -> bool:
        return char == self.char if self.char is not None else char not in self.excluded


Pattern = tuple[Token, ...]

_ANY = frozenset[str]()
_NO_COLON = frozenset(":")
_NO_SLASH = frozenset("/")
_SEGMENT = frozenset(":/")


def _one_or_more(excluded: frozenset[str]) -> Pattern:
    return (Token(excluded=excluded), Token(excluded=excluded, repeat=True))


NAME: Pattern = _one_or_more(_SEGMENT)
"""An unknown name without `/` or `:`: a bucket, role, function, queue or cluster name, an id,
an account, a region or a partition."""
PATH: Pattern = _one_or_more(_NO_COLON)
"""An unknown name that may hold `/`: a log group, secret, parameter or repository name."""
ANYTHING: Pattern = (Token(excluded=_ANY, repeat=True),)


def literal(text: str) -> Pattern:
    return tuple(Token(char=c) for c in text)


def policy_pattern(text: str) -> Pattern:
    """A Resource string of a policy: `*` and `?` are wildcards; a policy variable (`${aws:username}`)
    stands for any characters."""
    tokens: list[Token] = []
    for part in re.split(r"(\$\{[^}]*\})", text):
        if part.startswith("${") and part.endswith("}"):
            tokens.extend(ANYTHING)
            continue
        for char in part:
            if char == "*":
                tokens.append(Token(excluded=_ANY, repeat=True))
            elif char == "?":
                tokens.append(Token(excluded=_ANY))
            else:
                tokens.append(Token(char=char))
    return tuple(tokens)


_SEGMENT_VARIABLES = frozenset({"Partition", "Region", "Account", "AccountId"})
_NO_SLASH_VARIABLES = frozenset({"BucketName"})


@cache
def format_pattern(arn_format: str) -> Pattern:
    """An ARN format of the Service Authorization Reference, `${Variable}`s as one or more characters."""
    tokens: list[Token] = []
    for part in re.split(r"(\$\{[^}]*\})", arn_format):
        if part.startswith("${") and part.endswith("}"):
            name = part[2:-1]
            if name in _SEGMENT_VARIABLES:
                tokens.extend(_one_or_more(_SEGMENT))
            elif name in _NO_SLASH_VARIABLES:
                tokens.extend(_one_or_more(_NO_SLASH))
            else:
                tokens.extend(_one_or_more(_ANY))
        else:
            tokens.extend(literal(part))
    return tuple(tokens)


@cache
def intersects(first: Pattern, second: Pattern) -> bool:
    """Whether some string matches both patterns (reachability in the product of their automata)."""
    end = (len(first), len(second))
    seen = {(0, 0)}
    todo = [(0, 0)]
    while todo:
        state = todo.pop()
        if state == end:
            return True
        i, j = state
        a = first[i] if i < len(first) else None
        b = second[j] if j < len(second) else None
        moves = []
        if a is not None and a.repeat:
            moves.append((i + 1, j))
        if b is not None and b.repeat:
            moves.append((i, j + 1))
        if a is not None and b is not None and _share_a_character(a, b):
            moves.append((i if a.repeat else i + 1, j if b.repeat else j + 1))
        for move in moves:
            if move not in seen:
                seen.add(move)
                todo.append(move)
    return False


def _share_a_character(a: Token, b: Token) -> bool:
    if a.char is not None:
        return b.accepts(a.char)
    if b.char is not None:
        return a.accepts(b.char)
    return True  # two classes that each exclude a few characters share all the others


def shown(pattern: Pattern) -> str:
    """A pattern as text: `*` for any characters, `{name}` for an unknown name."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        token = pattern[i]
        if token.char is not None:
            out.append(token.char)
        elif token.repeat:
            out.append("*")
        elif i + 1 < len(pattern) and pattern[i + 1].repeat and pattern[i + 1].excluded == token.excluded:
            out.append("{name}")
            i += 1
        else:
            out.append("?")
        i += 1
    return "".join(out)


class Unresolved(Exception):
    """A value the resolver cannot turn into an ARN pattern; the message says why."""


_P, _R, _A = "{partition}", "{region}", "{account}"

# What `Ref` and `Fn::GetAtt` give for the resource types whose ARNs policies name. "{name}" and
# "{path}" are unknown names (NAME, PATH); "{any}" any characters. Sources: the "Return values"
# section of each type's page in the CloudFormation resource reference (e.g. AWS::SQS::Queue: Ref
# returns the queue URL, Arn the ARN; AWS::SecretsManager::Secret: Ref returns the ARN).
_REF: Mapping[str, str] = {
    "AWS::S3::Bucket": "{name}",
    "AWS::IAM::Role": "{name}",
    "AWS::IAM::User": "{name}",
    "AWS::IAM::ManagedPolicy": f"arn:{_P}:iam::{_A}:policy/{{path}}",
    "AWS::IAM::OIDCProvider": f"arn:{_P}:iam::{_A}:oidc-provider/{{path}}",
    "AWS::Lambda::Function": "{name}",
    "AWS::Logs::LogGroup": "{path}",
    "AWS::KMS::Key": "{name}",
    "AWS::SecretsManager::Secret": f"arn:{_P}:secretsmanager:{_R}:{_A}:secret:{{path}}",
    "AWS::SNS::Topic": f"arn:{_P}:sns:{_R}:{_A}:{{name}}",
    "AWS::SSM::Parameter": "{path}",
    "AWS::ECS::Cluster": "{name}",
    "AWS::ECS::Service": f"arn:{_P}:ecs:{_R}:{_A}:service/{{name}}/{{name}}",
    "AWS::ECS::TaskDefinition": f"arn:{_P}:ecs:{_R}:{_A}:task-definition/{{name}}:{{name}}",
    "AWS::ECR::Repository": "{path}",
    "AWS::RDS::DBCluster": "{name}",
    "AWS::RDS::DBInstance": "{name}",
    "AWS::EC2::VPC": "{name}",
    "AWS::EC2::SecurityGroup": "{name}",
    "AWS::EC2::Subnet": "{name}",
    "AWS::CloudFront::Distribution": "{name}",
    "AWS::Events::Rule": "{path}",
    "AWS::DynamoDB::Table": "{name}",
    "AWS::StepFunctions::StateMachine": f"arn:{_P}:states:{_R}:{_A}:stateMachine:{{name}}",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (
        f"arn:{_P}:elasticloadbalancing:{_R}:{_A}:loadbalancer/app/{{name}}/{{name}}"
    ),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (
        f"arn:{_P}:elasticloadbalancing:{_R}:{_A}:targetgroup/{{name}}/{{name}}"
    ),
}
_GET_ATT: Mapping[str, Mapping[str, str]] = {
    "AWS::S3::Bucket": {"Arn": f"arn:{_P}:s3:::{{name}}"},
    "AWS::IAM::Role": {"Arn": f"arn:{_P}:iam::{_A}:role/{{path}}", "RoleId": "{name}"},
    "AWS::IAM::User": {"Arn": f"arn:{_P}:iam::{_A}:user/{{path}}"},
    "AWS::IAM::OIDCProvider": {"Arn": f"arn:{_P}:iam::{_A}:oidc-provider/{{path}}"},
    "AWS::Lambda::Function": {"Arn": f"arn:{_P}:lambda:{_R}:{_A}:function:{{name}}"},
    "AWS::Logs::LogGroup": {"Arn": f"arn:{_P}:logs:{_R}:{_A}:log-group:{{path}}:*"},
    "AWS::KMS::Key": {"Arn": f"arn:{_P}:kms:{_R}:{_A}:key/{{name}}", "KeyId": "{name}"},
    "AWS::SecretsManager::Secret": {"Id": f"arn:{_P}:secretsmanager:{_R}:{_A}:secret:{{path}}"},
    "AWS::SQS::Queue": {"Arn": f"arn:{_P}:sqs:{_R}:{_A}:{{name}}", "QueueName": "{name}"},
    "AWS::SNS::Topic": {"TopicArn": f"arn:{_P}:sns:{_R}:{_A}:{{name}}", "TopicName": "{name}"},
    "AWS::ECS::Cluster": {"Arn": f"arn:{_P}:ecs:{_R}:{_A}:cluster/{{name}}"},
    "AWS::ECS::TaskDefinition": {
        "TaskDefinitionArn": f"arn:{_P}:ecs:{_R}:{_A}:task-definition/{{name}}:{{name}}"
    },
    "AWS::ECR::Repository": {"Arn": f"arn:{_P}:ecr:{_R}:{_A}:repository/{{path}}"},
    "AWS::Events::Rule": {"Arn": f"arn:{_P}:events:{_R}:{_A}:rule/{{path}}"},
    "AWS::RDS::DBCluster": {
        "DBClusterArn": f"arn:{_P}:rds:{_R}:{_A}:cluster:{{name}}",
        "MasterUserSecret.SecretArn": f"arn:{_P}:secretsmanager:{_R}:{_A}:secret:{{path}}",
    },
    "AWS::RDS::DBInstance": {"DBInstanceArn": f"arn:{_P}:rds:{_R}:{_A}:db:{{name}}"},
    "AWS::EC2::VPC": {"DefaultSecurityGroup": "{name}", "VpcId": "{name}"},
    "AWS::EC2::SecurityGroup": {"GroupId": "{name}"},
    "AWS::CloudFront::Distribution": {"Id": "{name}"},
    "AWS::DynamoDB::Table": {"Arn": f"arn:{_P}:dynamodb:{_R}:{_A}:table/{{name}}"},
    "AWS::StepFunctions::StateMachine": {"Arn": f"arn:{_P}:states:{_R}:{_A}:stateMachine:{{name}}"},
}
_PSEUDO: Mapping[str, Pattern] = {
    "AWS::Partition": NAME,
    "AWS::Region": NAME,
    "AWS::AccountId": NAME,
    "AWS::StackName": NAME,
    "AWS::URLSuffix": NAME,
    "AWS::StackId": (*literal("arn:"), *NAME, *literal(":cloudformation:"), *ANYTHING),
}
_TEMPLATE_PARTS = re.compile(r"(\{partition\}|\{region\}|\{account\}|\{name\}|\{path\}|\{any\}|\*)")
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _from_shape(shape: str) -> Pattern:
    tokens: list[Token] = []
    for part in _TEMPLATE_PARTS.split(shape):
        if part in (_P, _R, _A, "{name}"):
            tokens.extend(NAME)
        elif part == "{path}":
            tokens.extend(PATH)
        elif part in ("{any}", "*"):
            tokens.extend(ANYTHING)
        else:
            tokens.extend(literal(part))
    return tuple(tokens)


Exports = Mapping[str, tuple[Any, "Resolver"]]
"""Export name -> (the exported value, the resolver of the template that exports it)."""


@dataclass
class Resolver:
    """Resolves values of one template to the patterns they can take (one per `Fn::If` branch)."""

    resources: Mapping[str, Any]
    """The template's `Resources`."""
    exports: Callable[[], Exports] = dict
    """The exports of the assembly's templates, for `Fn::ImportValue`."""

    def resolve(self, value: Any) -> list[Pattern]:
        patterns = self._resolve(value, depth=0)
        if len(patterns) > MAX_ALTERNATIVES:
            raise Unresolved(f"more than {MAX_ALTERNATIVES} alternatives (Fn::If)")
        return patterns

    def _resolve(self, value: Any, depth: int) -> list[Pattern]:
        if depth > 20:
            raise Unresolved("nested too deeply")
        if isinstance(value, str):
            return [policy_pattern(value)]
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise Unresolved(f"{type(value).__name__} is not a string")
        if not isinstance(value, dict):
            return [literal(str(value))]
        if len(value) != 1:
            raise Unresolved("an object that is not an intrinsic function")
        ((function, argument),) = value.items()
        handler = _FUNCTIONS.get(function)
        if handler is None:
            raise Unresolved(f"{function} is not supported")
        return handler(self, argument, depth + 1)

    def ref(self, name: str) -> list[Pattern]:
        if name in _PSEUDO:
            return [_PSEUDO[name]]
        resource_type = self._type_of(name)
        shape = _REF.get(resource_type)
        if shape is None:
            raise Unresolved(f"Ref of {name} ({resource_type}) has no known ARN or name shape")
        return [_from_shape(shape)]

    def get_att(self, name: str, attribute: str) -> list[Pattern]:
        resource_type = self._type_of(name)
        shape = _GET_ATT.get(resource_type, {}).get(attribute)
        if shape is None:
            raise Unresolved(
                f"Fn::GetAtt {name}.{attribute} ({resource_type}) has no known ARN or name shape"
            )
        return [_from_shape(shape)]

    def _type_of(self, name: str) -> str:
        resource = self.resources.get(name)
        if not isinstance(resource, dict):
            raise Unresolved(f"{name} is not a resource of the template")
        return str(resource.get("Type", "?"))


def _ref(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if not isinstance(argument, str):
        raise Unresolved("Ref of a non-string")
    return resolver.ref(argument)


def _get_att(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    if not (isinstance(argument, list) and len(argument) == 2 and all(isinstance(a, str) for a in argument)):
        raise Unresolved("Fn::GetAtt needs [resource, attribute]")
    return resolver.get_att(argument[0], argument[1])


def _concatenate(alternatives: Sequence[list[Pattern]]) -> list[Pattern]:
    combined = 1
    for options in alternatives:
        combined *= len(options)
    if combined > MAX_ALTERNATIVES:
        raise Unresolved(f"more than {MAX_ALTERNATIVES} alternatives (Fn::If)")
    return [tuple(itertools.chain.from_iterable(parts)) for parts in itertools.product(*alternatives)]


def _join(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        raise Unresolved("Fn::Join needs [delimiter, [values]]")
    delimiter, values = argument
    if not isinstance(values, list):
        raise Unresolved("Fn::Join of a computed list")
    parts: list[list[Pattern]] = []
    for index, item in enumerate(values):
        if index:
            parts.append([literal(delimiter)])
        parts.append(resolver._resolve(item, depth))
    return _concatenate(parts)


def _sub(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if isinstance(argument, str):
        text, variables = argument, {}
    elif (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        text, variables = argument
    else:
        raise Unresolved("Fn::Sub needs a string or [string, {variables}]")
    parts: list[list[Pattern]] = []
    position = 0
    for match in _SUB_VARIABLE.finditer(text):
        parts.append([policy_pattern(text[position : match.start()])])
        name = match.group(1)
        if name.startswith("!"):
            parts.append([literal("${" + name[1:] + "}")])
        elif name in variables:
            parts.append(resolver._resolve(variables[name], depth))
        elif "." in name and not name.startswith("AWS::"):
            resource, attribute = name.split(".", 1)
            parts.append(resolver.get_att(resource, attribute))
        else:
            parts.append(resolver.ref(name))
        position = match.end()
    parts.append([policy_pattern(text[position:])])
    return _concatenate(parts)


def _if(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if not (isinstance(argument, list) and len(argument) == 3):
        raise Unresolved("Fn::If needs [condition, value if true, value if false]")
    patterns: list[Pattern] = []
    for branch in argument[1:]:
        if branch == {"Ref": "AWS::NoValue"}:
            continue
        patterns.extend(resolver._resolve(branch, depth))
    return patterns


def _select(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list)):
        raise Unresolved("Fn::Select of a computed list")
    index, values = argument
    try:
        return resolver._resolve(values[int(index)], depth)
    except (TypeError, ValueError, IndexError):
        raise Unresolved(f"Fn::Select index {index!r} is not in the list") from None


def _import_value(resolver: Resolver, argument: Any, depth: int) -> list[Pattern]:
    if not isinstance(argument, str):
        raise Unresolved("Fn::ImportValue of a computed export name")
    exported = resolver.exports().get(argument)
    if exported is None:
        raise Unresolved(f"Fn::ImportValue {argument}: no template of this assembly exports it")
    value, exporter = exported
    return exporter._resolve(value, depth)


_Handler = Callable[[Resolver, Any, int], list[Pattern]]
_FUNCTIONS: Mapping[str, _Handler] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Select": _select,
    "Fn::ImportValue": _import_value,
}

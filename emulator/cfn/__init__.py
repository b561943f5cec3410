"""Our CloudFormation resource models, one module per AWS service.

moto builds its type map from the direct subclasses of ``CloudFormationModel``; for a type defined
twice the later class wins. So moto's own model modules are imported first, ours after them, and
the cached maps in ``moto.cloudformation.parsing`` are cleared so that they are built again.
"""

from __future__ import annotations

import importlib

MOTO_MODEL_MODULES = (
    "moto.acm.models",
    "moto.elasticache.models",
    "moto.servicediscovery.models",
    "moto.applicationautoscaling.models",
    "moto.awslambda.models",
    "moto.cloudfront.models",
    "moto.cloudwatch.models",
    "moto.ec2.models",
    "moto.ecr.models",
    "moto.ecs.models",
    "moto.elbv2.models",
    "moto.events.models",
    "moto.iam.models",
    "moto.kms.models",
    "moto.logs.models",
    "moto.rds.models",
    "moto.s3.models",
    "moto.secretsmanager.models",
    "moto.sns.models",
    "moto.sqs.models",
    "moto.ssm.models",
    "moto.cloudformation.parsing",
)

MODEL_MODULES = (
    "acm",
    "applicationautoscaling",
    "awslambda",
    "cdk",
    "cloudformation",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elasticache",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "sns",
    "sqs",
    "ssm",
)


def register() -> None:
    """Import moto's models, then ours, and make moto's CloudFormation see the result."""
    for name in MOTO_MODEL_MODULES:
        importlib.import_module(name)
    for name in MODEL_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()

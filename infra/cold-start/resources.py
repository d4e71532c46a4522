"""Creates the resources the functions name in the emulator (moto), for
infra/cold-start.sh: the table exactly as template.yaml declares it, the
queues, the reports bucket and the alert topic. Prints KEY=VALUE lines, the
environment overrides that point the functions at them.

    resources.py TEMPLATE ENDPOINT NAME_PREFIX
"""

import sys

import boto3
import yaml


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


TemplateLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node)
    if isinstance(node, yaml.ScalarNode) else None)


def main():
    template_path, endpoint, prefix = sys.argv[1:4]
    with open(template_path) as f:
        table = yaml.load(f, Loader=TemplateLoader)["Resources"]["Table"]["Properties"]
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test",
                            region_name="us-east-1")
    client = lambda service: session.client(service, endpoint_url=endpoint)
    name = f"{prefix}-table"
    client("dynamodb").create_table(
        TableName=name, BillingMode=table["BillingMode"],
        AttributeDefinitions=table["AttributeDefinitions"], KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"])
    sqs = client("sqs")
    print(f"TABLE_NAME={name}")
    print(f"PAYOUT_QUEUE_URL={sqs.create_queue(QueueName=f'{prefix}-payouts')['QueueUrl']}")
    print(f"RECONCILE_QUEUE_URL={sqs.create_queue(QueueName=f'{prefix}-reconcile')['QueueUrl']}")
    client("s3").create_bucket(Bucket=f"{prefix}-reports")
    print(f"REPORTS_BUCKET={prefix}-reports")
    print(f"ALERT_TOPIC_ARN={client('sns').create_topic(Name=f'{prefix}-alerts')['TopicArn']}")


if __name__ == "__main__":
    main()

"""``lambda-destinations invoke --template``: a function's settings read from SAM or CloudFormation.

Short-form intrinsic tags, parameters, conditions, mappings and Globals resolve as
CloudFormation resolves them; destinations become local JSON Lines files named after their
logical ids; what cannot be known before deployment is refused in one line naming it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from lambda_destinations._settings import check_range

from tests.scripts import run_cli

HANDLER = """\
import os

def handler(event, context):
    if not event.get("Success"):
        raise ValueError("Failure from event, Success = false, I am failing!")
    return {
        "memory": context.memory_limit_in_mb,
        "timeout_ms": context.get_remaining_time_in_millis(),
        "stage": os.environ.get("STAGE"),
        "table": os.environ.get("TABLE"),
    }
"""

SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Retries:
    Type: Number
    Default: 1
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsNotProd: !Not [!Condition IsProd]
Mappings:
  Memory:
    dev: {Size: 512}
    prod: {Size: 1024}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
    MemorySize: 128
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  OrdersFn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "orders-${Stage}"
      CodeUri: src/
      Handler: orders.handler
      MemorySize: !FindInMap [Memory, !Ref Stage, Size]
      ReservedConcurrentExecutions: !If [IsNotProd, 5, 100]
      Environment:
        Variables:
          TABLE: !Join ["-", [orders, !Select [1, !Split [",", "a,b,c"]]]]
          QUEUE_URL: !Ref Failed
      DeadLetterQueue:
        Type: SNS
        TargetArn: !Ref DeadLetters
      EventInvokeConfig:
        MaximumRetryAttempts: !Ref Retries
        MaximumEventAgeInSeconds: 3600
        DestinationConfig:
          OnSuccess:
            Type: SQS
            Destination: !GetAtt Done.Arn
          OnFailure:
            Type: SQS
            Destination: !GetAtt [Failed, Arn]
  Done:
    Type: AWS::SQS::Queue
  Failed:
    Type: AWS::SQS::Queue
  DeadLetters:
    Type: AWS::SNS::Topic
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A SAM project: template.yaml, the handler in src/orders.py, and two events."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "orders.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(SAM)
    (tmp_path / "events.jsonl").write_text('{"Success": true}\n{"Success": false}\n')
    return tmp_path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def edit(project: Path, old: str, new: str, name: str = "template.yaml") -> None:
    """Change one piece of the project's template, which must be there."""
    path = project / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_sam_template_with_short_form_tags_configures_the_run(project):
    """A SAM template with short-form tags configures everything the run depends on.

    Handler, CodeUri, Globals, memory, timeout, retries, environment and destinations come
    from the template; destinations become files named after their logical ids.
    """
    result = run_cli(
        project,
        "invoke",
        "--template",
        "template.yaml",
        "--function",
        "OrdersFn",
        "--events",
        "events.jsonl",
        "--virtual-time",
    )
    assert result.returncode == 1, result.stderr
    (done,) = lines(project / "Done.jsonl")
    (failed,) = lines(project / "Failed.jsonl")
    (letter,) = lines(project / "DeadLetters.jsonl")
    assert done["requestContext"]["functionArn"].endswith(":function:orders-dev:$LATEST")
    assert done["responsePayload"] == {
        "memory": "512",  # the mapping's, over Globals
        "timeout_ms": 20000,  # Globals' Timeout, on virtual time
        "stage": "dev",
        "table": "orders-b",
    }
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 2  # the parameter's 1 retry
    assert letter["Body"] == '{"Success": false}'
    assert "on-success -> Done.jsonl (!GetAtt Done.Arn, as a local file)" in result.stderr
    assert "on-failure -> Failed.jsonl (!GetAtt Failed.Arn, as a local file)" in result.stderr
    assert "dead-letter queue -> DeadLetters.jsonl (!Ref DeadLetters, as a local file)" in (
        result.stderr
    )
    assert "environment variable QUEUE_URL is not set: !Ref Failed has no value" in result.stderr


def test_parameter_overrides_and_flags_win_over_the_template(project):
    """--parameter-overrides feed !Ref, !If and !FindInMap; a flag beats the template."""
    result = run_cli(
        project,
        "invoke",
        "--template",
        "template.yaml",
        "--parameter-overrides",
        "Stage=prod",
        "--event",
        '{"Success": true}',
        "--memory",
        "2048",
        "--out-dir",
        "records",
    )
    assert result.returncode == 0, result.stderr
    (done,) = lines(project / "records" / "Done.jsonl")
    assert done["requestContext"]["functionArn"].endswith(":function:orders-prod:$LATEST")
    assert done["responsePayload"]["memory"] == "2048"
    assert done["responsePayload"]["stage"] == "prod"
    result = run_cli(
        project,
        "invoke",
        "--template",
        "template.yaml",
        "--event",
        "{}",
        "--retries",
        "0",
        "--on-failure",
        "-",
        "--virtual-time",
    )
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["requestContext"]["approximateInvokeCount"] == 1


CLOUDFORMATION_JSON = {
    "Resources": {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "orders.handler",
                "Runtime": "python3.12",
                "Code": "src",
                "DeadLetterConfig": {
                    "TargetArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:dlq"
                    }
                },
            },
        },
        "FnConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": 0,
                "DestinationConfig": {
                    "OnFailure": {"Destination": "arn:aws:sns:us-east-1:123456789012:failures"}
                },
            },
        },
        "Unrelated": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {"FunctionName": "someone-else", "Qualifier": "$LATEST"},
        },
    }
}


def test_cloudformation_json_with_a_standalone_event_invoke_config(project):
    """A JSON CloudFormation template configures the function the way YAML does.

    AWS::Lambda::Function with DeadLetterConfig, and the AWS::Lambda::EventInvokeConfig
    resource that names it; literal ARNs name their files.
    """
    (project / "template.json").write_text(json.dumps(CLOUDFORMATION_JSON, indent=2))
    result = run_cli(
        project, "invoke", "--template", "template.json", "--event", "{}", "--virtual-time"
    )
    assert result.returncode == 1, result.stderr
    (failed,) = lines(project / "failures.jsonl")
    assert failed["requestContext"]["approximateInvokeCount"] == 1
    assert failed["requestContext"]["functionArn"].endswith(":function:Fn:$LATEST")
    (letter,) = lines(project / "dlq.jsonl")
    assert letter["Body"] == "{}"
    assert "dead-letter queue -> dlq.jsonl (arn:aws:sqs:us-east-1:123456789012:dlq" in (
        result.stderr
    )


def test_sam_creates_a_queue_for_a_destination_without_an_arn(project):
    """``Type: SQS`` with no Destination is the queue SAM creates, named as SAM names it."""
    edit(
        project,
        "          OnSuccess:\n            Type: SQS\n            Destination: !GetAtt Done.Arn\n",
        "          OnSuccess:\n            Type: SQS\n",
    )
    result = run_cli(project, "invoke", "--template", "template.yaml", "--event", '{"Success": 1}')
    assert result.returncode == 0, result.stderr
    assert len(lines(project / "OrdersFnEventInvokeConfigOnSuccessQueue.jsonl")) == 1


def test_aws_destinations_need_the_arn_of_each_template_resource(project):
    """--aws sends to ARNs: a resource known only once deployed must be given by --resource."""
    result = run_cli(project, "invoke", "--template", "template.yaml", "--aws")
    assert result.returncode == 2
    assert result.stderr == (
        "lambda-destinations: error: template.yaml: OrdersFn on-success is !GetAtt Done.Arn, "
        "which has an ARN only once deployed: pass --resource Done=ARN, or leave out --aws / "
        "--endpoint-url to write it to a local file\n"
    )


def _out_of_range(setting: str, value: int) -> str:
    try:
        check_range(setting, value, True)
    except ValueError as e:
        return str(e).replace("Pass aws_limits=False", "Pass --no-aws-limits")
    raise AssertionError(f"{setting}={value} is in range")


@pytest.mark.parametrize(
    ("old", "new", "args", "message"),
    [
        (
            "",
            "",
            ["--function", "Nope"],
            "template.yaml has no resource 'Nope' (its functions: OrdersFn)",
        ),
        (
            "",
            "",
            ["--function", "Done"],
            "template.yaml: Done is an AWS::SQS::Queue, not a function (its functions: OrdersFn)",
        ),
        (
            "!GetAtt Done.Arn",
            "!ImportValue SharedQueueArn",
            [],
            "template.yaml: Resources.OrdersFn.Properties.EventInvokeConfig.DestinationConfig"
            ".OnSuccess.Destination: !ImportValue cannot be resolved outside CloudFormation "
            "(it reads another stack's exports)",
        ),
        (
            "!GetAtt Done.Arn",
            "!Ref Done",
            [],
            "!Ref Done gives the queue's URL, not an ARN: write !GetAtt Done.Arn",
        ),
        (
            "!GetAtt Done.Arn",
            "!GetAtt Done.QueueName",
            [],
            "!GetAtt Done.QueueName is not an ARN: write !GetAtt Done.Arn",
        ),
        (
            "!GetAtt Done.Arn",
            "!GetAtt Gone.Arn",
            [],
            "!GetAtt Gone.Arn: no resource 'Gone'",
        ),
        (
            "    Timeout: 20",
            "    Timeout: 1000",
            [],
            "template.yaml: Resources.OrdersFn.Properties.Timeout: "
            + _out_of_range("timeout", 1000),
        ),
        (
            "MaximumEventAgeInSeconds: 3600",
            "MaximumEventAgeInSeconds: 30",
            [],
            "EventInvokeConfig.MaximumEventAgeInSeconds: "
            + _out_of_range("maximum_event_age_in_seconds", 30),
        ),
        (
            "    Default: dev\n",
            "\n",
            [],
            "parameter Stage has no Default: pass --parameter-overrides Stage=VALUE",
        ),
        ("", "", ["--parameter-overrides", "Colour=red"], "has no parameter 'Colour'"),
        (
            "STAGE: !Ref Stage",
            'STAGE: !Select [0, !GetAZs ""]',
            [],
            "!GetAZs cannot be resolved outside CloudFormation",
        ),
        ("!Ref Retries", "!Bogus Retries", [], "template.yaml line 42: unknown tag !Bogus"),
        ("MemorySize: 128", "MemorySize: [128", [], "template.yaml line 22: expected ',' or ']'"),
        ("Runtime: python3.12", "Runtime: nodejs20.x", [], "OrdersFn runs nodejs20.x"),
        (
            "  OrdersFn:\n    Type: AWS::Serverless::Function\n",
            "  OrdersFn:\n    Type: AWS::Serverless::Function\n    Condition: IsProd\n",
            [],
            "template.yaml: OrdersFn is not created: its Condition IsProd is false",
        ),
        ("CodeUri: src/", "InlineCode: 'def handler(e, c): pass'", [], "InlineCode: not supported"),
        ("CodeUri: src/", "CodeUri: s3://bucket/code.zip", [], "CodeUri: not supported"),
        ("Handler: orders.handler", "Handler: orders", [], "Runtime.MalformedHandlerName"),
        (
            "  Done:\n    Type: AWS::SQS::Queue\n",
            "  Done:\n    Type: AWS::SQS::Queue\n  Other:\n    Type: AWS::Serverless::Function\n",
            [],
            "template.yaml has 2 functions (OrdersFn, Other): pass --function LOGICAL_ID",
        ),
        (
            "Type: SNS\n        TargetArn",
            "Type: Kinesis\n        TargetArn",
            [],
            "must be SQS or SNS",
        ),
        (
            "  OrdersFn:\n    Type: AWS::Serverless::Function\n",
            "  OrdersFn:\n    Type: AWS::SQS::Queue\n",
            [],
            "template.yaml defines no Lambda function (no resource of Type "
            "AWS::Serverless::Function or AWS::Lambda::Function): add one, or name the handler "
            "as TARGET instead of --template",
        ),
        (
            "  OrdersFn:\n    Type: AWS::Serverless::Function\n",
            "  OrdersFn:\n    Type: AWS::SQS::Queue\n",
            ["--function", "OrdersFn"],
            "template.yaml defines no Lambda function",
        ),
    ],
    ids=[
        "no-such-function",
        "not-a-function",
        "import-value",
        "ref-of-queue",
        "not-an-arn",
        "no-such-resource",
        "timeout",
        "max-age",
        "no-default",
        "unknown-parameter",
        "get-azs",
        "unknown-tag",
        "yaml-syntax",
        "runtime",
        "condition-false",
        "inline-code",
        "s3-code",
        "malformed-handler",
        "several-functions",
        "dlq-type",
        "no-function",
        "no-function-named",
    ],
)
def test_template_problems_exit_2_with_one_line_naming_them(project, old, new, args, message):
    """Every template the command cannot run gets one line saying what and where."""
    if old:
        edit(project, old, new)
    result = run_cli(project, "invoke", "--template", "template.yaml", *args)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert message in line
    assert result.stdout == ""


def test_short_form_tags_resolve_as_cloudformation_resolves_them(project):
    """Short-form tags resolve to the values CloudFormation would give.

    Scalar, sequence and mapping short forms: conditions, !If, !Sub with variables,
    !Select / !Split of a list parameter, !Base64 and pseudo parameters.
    """
    template = textwrap.dedent(
        """\
        Parameters:
          Items: {Type: CommaDelimitedList, Default: "x,y"}
        Conditions:
          A: !Equals [!Select [0, !Ref Items], x]
          B: !And [!Condition A, !Or [!Equals [1, 1], !Not [!Equals [a, b]]]]
          Never: !Not [!Condition B]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Condition: B
            Properties:
              CodeUri: src
              Handler: orders.handler
              Environment:
                Variables:
                  STAGE: !If [Never, not-this, !Base64 hi]
                  TABLE: !If [A, !Sub ["${X}-${AWS::Region}", {X: !Select [1, !Ref Items]}], no]
        """
    )
    (project / "tags.yaml").write_text(template)
    result = run_cli(
        project,
        "invoke",
        "--template",
        "tags.yaml",
        "--event",
        '{"Success": true}',
        "--on-success",
        "-",
        "--region",
        "eu-west-1",
    )
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["responsePayload"]["stage"] == "aGk="
    assert record["responsePayload"]["table"] == "y-eu-west-1"
    assert ":eu-west-1:" in record["requestContext"]["functionArn"]

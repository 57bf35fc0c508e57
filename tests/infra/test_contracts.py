"""The template agrees with the runtime: metric names from mlops_core.observability, function
environments from the settings records of mlops_core.environment (both targets)."""

from __future__ import annotations

import json

from aws_cdk.assertions import Template

from infra.monitoring import ALARMS
from infra.staleness import STALENESS_ALARMS
from infra.targets import target_settings
from mlops_core.environment import (
    ContainerBackendEnvironment,
    LambdaBackendEnvironment,
    RetrainingEnvironment,
    SageMakerBackendEnvironment,
    ScoringEnvironment,
    StalenessEnvironment,
    TrainingEndedEnvironment,
    TrainingJobEnvironment,
)
from mlops_core.observability import METRICS, NAMESPACE, PIPELINE

from .conftest import logical_id, resources

BACKEND_RECORDS = {
    "lambda": (LambdaBackendEnvironment,),
    "sagemaker": (SageMakerBackendEnvironment,),
    "container": (SageMakerBackendEnvironment, ContainerBackendEnvironment),
}
DLQ_METRIC = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")  # the one metric not of the pipeline


def environment(template: Template, path_fragment: str) -> dict[str, str]:
    """A function's variables except Powertools' own, CloudFormation references as JSON text."""
    function = resources(template, "AWS::Lambda::Function")[
        logical_id(template, "AWS::Lambda::Function", path_fragment)
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    return {
        name: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for name, value in variables.items()
        if not name.startswith("POWERTOOLS_")
    }


def dashboard_metrics(template: Template) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric on the dashboard."""
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "REF" for p in parts))
    found = []
    for widget in body["widgets"]:
        for namespace, name, *rest in widget["properties"].get("metrics", []):
            dimensions = [d for d in rest if not isinstance(d, dict)]  # the last item holds the options
            found.append((namespace, name, dict(zip(dimensions[::2], dimensions[1::2], strict=True))))
    return found


def test_given_the_alarms_when_synthesized_then_each_watches_a_published_metric_of_this_pipeline(template, config):
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    pipeline_alarms = [a for a in alarms if a["Namespace"] == NAMESPACE]
    assert {a["MetricName"] for a in pipeline_alarms} == {
        spec.metric.name for spec in (*ALARMS, *STALENESS_ALARMS) if spec.applies_to(config)
    }
    assert {a["MetricName"] for a in pipeline_alarms} <= set(METRICS)
    for alarm in pipeline_alarms:
        assert {"Name": PIPELINE, "Value": config.name} in alarm["Dimensions"], alarm["MetricName"]
    assert [(a["Namespace"], a["MetricName"]) for a in alarms if a not in pipeline_alarms] == [DLQ_METRIC]


def test_given_the_dashboard_when_synthesized_then_every_metric_is_a_published_metric_of_this_pipeline(
    template, config
):
    metrics = dashboard_metrics(template)
    assert metrics
    for namespace, name, dimensions in metrics:
        if (namespace, name) == DLQ_METRIC:
            continue
        assert namespace == NAMESPACE
        assert name in METRICS
        assert dimensions[PIPELINE] == config.name
        assert set(dimensions) == {PIPELINE, *METRICS[name].dimensions}


def test_given_a_target_when_the_retraining_environment_is_read_then_its_settings_records_define_exactly_it(
    synthesized,
):
    target, template, _ = synthesized
    variables = environment(template, "Training/RetrainingFunction")
    retraining = RetrainingEnvironment.from_environment(variables)
    job = TrainingJobEnvironment.from_environment(variables)  # what a SageMaker job is created with
    backends = [record.from_environment(variables) for name in retraining.available for record in BACKEND_RECORDS[name]]
    assert retraining.backend == target_settings(target).training_backend
    assert retraining.available == (("lambda", "container") if target == "localstack" else ("sagemaker",))
    assert (job.run_id, job.trigger) == (None, None)  # set per run, never by the stack
    assert job.namespace == NAMESPACE
    records = [retraining, job, *backends]
    assert {name: value for record in records for name, value in record.as_environment().items()} == variables


def test_given_the_localstack_target_when_the_training_function_environment_is_read_then_it_is_a_job_environment(
    synthesized,
):
    target, template, _ = synthesized
    if target != "localstack":  # on AWS the job is a SageMaker training job, not a function
        return
    variables = environment(template, "Training/JobFunction")
    assert TrainingJobEnvironment.from_environment(variables).as_environment() == variables


def test_given_the_scoring_function_when_its_environment_is_read_then_scoring_settings_parse_all_of_it(template):
    variables = environment(template, "Scoring/Function")
    scoring = ScoringEnvironment.from_environment(variables)
    assert scoring.namespace == NAMESPACE
    assert scoring.queue_url is not None
    assert logical_id(template, "AWS::SQS::Queue", "Scoring/Incoming") in scoring.queue_url
    assert scoring.as_environment() == variables


def test_given_the_staleness_function_when_its_environment_is_read_then_its_settings_record_parses_all_of_it(template):
    variables = environment(template, "Staleness/Function")
    staleness = StalenessEnvironment.from_environment(variables)
    assert staleness.namespace == NAMESPACE
    assert staleness.as_environment() == variables


def test_given_a_target_when_the_training_ended_environment_is_read_then_its_settings_record_parses_all_of_it(
    synthesized,
):
    target, template, _ = synthesized
    variables = environment(template, "Training/TrainingEndedFunction")
    ended = TrainingEndedEnvironment.from_environment(variables)
    assert ended.namespace == NAMESPACE and ended.alert_topic_arn is not None
    assert ended.conditional_deletes == target_settings(target).s3_conditional_deletes
    assert ended.as_environment() == variables

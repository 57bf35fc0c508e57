"""Several projects side by side: each config synthesises its own stack, named and labelled after the project,
whose functions and training image carry that project's config."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from infra.app import ROOT, build_app
from infra.bundling import CodeBundling
from infra.training import image_config_args
from mlops_core.config import CONFIG_ENV, ConfigError, load_config

from .conftest import logical_id, resources, synth

EXAMPLE = ROOT / "examples" / "breast-cancer" / "mlops.toml"


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    """The aws target synthesised with the breast-cancer example's config (project "cancer")."""
    template, assembly = synth("aws", tmp_path_factory.mktemp("cdk-cancer"), config_file=EXAMPLE)
    return template, assembly


def _code_keys(template) -> set[str]:
    return {f["Properties"]["Code"]["S3Key"] for f in resources(template, "AWS::Lambda::Function").values()}


def test_given_the_example_config_when_synthesized_then_the_stack_is_named_after_the_project(cancer):
    _, assembly = cancer
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = [k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"]
    assert stacks == ["MlopsStack-cancer"] == [load_config(EXAMPLE).stack_name]


def test_given_the_example_config_then_bucket_alarm_and_dashboard_names_use_the_project(cancer):
    template, _ = cancer
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    assert data["Properties"]["BucketName"]["Fn::Join"][1][0] == "cancer-data"
    alarms = [a["Properties"]["AlarmName"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    assert alarms and all(name.startswith("cancer-") for name in alarms)
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "cancer-pipeline"


def test_given_two_projects_then_their_code_assets_differ_by_the_config(cancer, template):
    assert _code_keys(cancer[0]).isdisjoint(_code_keys(template))


def test_given_the_example_config_then_the_training_image_is_built_with_it(cancer):
    _, assembly = cancer
    (image,) = json.loads((assembly / "MlopsStack-cancer.assets.json").read_text())["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"MLOPS_CONFIG": "examples/breast-cancer/mlops.toml"}
    staged = assembly / image["source"]["directory"]
    assert (staged / "examples" / "breast-cancer" / "mlops.toml").read_bytes() == EXAMPLE.read_bytes()


def test_given_a_config_outside_the_repository_then_the_training_image_refuses_it(tmp_path):
    outside = tmp_path / "mlops.toml"
    outside.write_bytes(EXAMPLE.read_bytes())
    with pytest.raises(ValueError, match="inside the repository"):
        image_config_args(outside)


def test_given_a_chosen_config_when_bundled_then_the_code_asset_holds_it_as_mlops_toml(tmp_path):
    CodeBundling(config_file=EXAMPLE).try_bundle(str(tmp_path))
    assert (tmp_path / "mlops.toml").read_bytes() == EXAMPLE.read_bytes()
    assert (tmp_path / "scoring" / "handler.py").is_file()


def test_given_mlops_config_in_the_environment_then_the_app_builds_that_projects_stack(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE))
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    assert build_app(app, target="localstack").stack_name == "MlopsStack-cancer"


@pytest.mark.parametrize(
    ("example", "quality_alarm", "absent"),
    [
        ("iris", "ModelAccuracy", {"ModelMeanAbsoluteError", "EstimatedAccuracy"}),
        ("diabetes", "ModelMeanAbsoluteError", {"ModelAccuracy", "EstimatedAccuracy"}),
    ],
)
def test_given_a_task_when_synthesized_then_its_stack_alarms_on_the_labeled_metric_of_that_task(
    example, quality_alarm, absent, tmp_path
):
    config_file = ROOT / "examples" / example / "mlops.toml"
    template, _ = synth("localstack", tmp_path, config_file=config_file)
    alarms = {
        a["Properties"].get("MetricName"): a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert quality_alarm in alarms and not absent & set(alarms)
    config = load_config(config_file)
    threshold = config.drift.accuracy_floor if example == "iris" else config.drift.max_error
    assert alarms[quality_alarm]["Threshold"] == threshold
    assert alarms[quality_alarm]["AlarmActions"]  # it starts retraining (and tells people)


def test_given_an_estimator_that_does_not_fit_the_task_when_synthesized_then_the_synth_fails_naming_it(tmp_path):
    text = (ROOT / "examples" / "diabetes" / "mlops.toml").read_text()
    wrong = tmp_path / "mlops.toml"
    wrong.write_text(text.replace("HistGradientBoostingRegressor", "HistGradientBoostingClassifier"))
    with pytest.raises(ConfigError, match="is not a regressor"):
        build_app(cdk.App(), target="localstack", config_file=wrong)


def test_given_a_config_of_only_label_and_features_when_synthesized_then_the_stack_takes_the_defaults(tmp_path):
    config_file = tmp_path / "mlops.toml"
    config_file.write_text(
        '[label]\ncolumn = "survived"\n\n[[features]]\nname = "age"\ntype = "numeric"\nmissing = "impute"\n\n'
        '[[features]]\nname = "sex"\ntype = "categorical"\n'
    )
    template, assembly = synth("localstack", tmp_path / "cdk", config_file=config_file)
    manifest = json.loads((assembly / "manifest.json").read_text())
    assert [k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"] == ["MlopsStack"]
    alarms = {
        a["Properties"].get("MetricName"): a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms["ModelAccuracy"]["Threshold"] == 0.7  # the classification default of [drift] accuracy_floor
    (queue,) = [q for q in resources(template, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]]
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3

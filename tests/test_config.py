import pytest

from flywheel_lib.config import PROJECT_ROOT, load_settings
from flywheel_lib.errors import ConfigError

TOPIC = "arn:aws:sns:us-east-1:123456789012:omc-flywheel-dev-db-refresh-notifications"


# --- defaults per environment -------------------------------------------------------------

@pytest.mark.parametrize(("env", "database"), [("dev", "omc_flywheel_dev_clean"), ("prod", "omc_flywheel_prod")])
def test_cloud_defaults_use_the_production_names(env, database):
    s = load_settings(env, environ={})
    assert s.env == env and not s.is_local
    assert s.region == "us-east-1"
    assert s.database_name == database
    assert s.data_root == f"s3://omc-flywheel-data-us-east-1-{env}"
    assert s.s3_root_addressable == (
        f"s3://omc-flywheel-data-us-east-1-{env}/omc_cleanroom_data/split_part/addressable_ids")
    assert s.s3_root_infobase == (
        f"s3://omc-flywheel-data-us-east-1-{env}/omc_cleanroom_data/split_part/infobase_attributes")
    assert s.analysis_root == f"s3://omc-flywheel-{env}-analysis-data"
    assert s.athena_workgroup == "primary"
    assert s.role_name == "cleanrooms-glue-s3-access"
    # empty: the topic names are derived from the environment and account later
    assert s.sns_topic_arn == "" and s.monitor_topic_arn == ""


def test_dev_uses_its_profile_and_prod_the_machine_role():
    assert load_settings("dev", environ={}).aws_profile == "flywheel-dev"
    assert load_settings("prod", environ={}).aws_profile == ""


def test_local_defaults_live_under_the_data_root(tmp_path):
    s = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": str(tmp_path)})
    assert s.is_local
    assert s.data_root == str(tmp_path)
    assert s.s3_root_addressable == str(tmp_path / "omc_cleanroom_data/split_part/addressable_ids")
    assert s.s3_root_infobase == str(tmp_path / "omc_cleanroom_data/split_part/infobase_attributes")
    assert s.raw_root("addressable_ids") == f"{tmp_path}/opus/addressable_ids/raw_input"
    assert s.catalog_path == tmp_path / "catalog.duckdb"


def test_local_without_a_data_root_uses_the_project_data_folder():
    s = load_settings("local", environ={})
    assert s.data_root == str(PROJECT_ROOT / "data")
    assert s.runs_dir == str(PROJECT_ROOT / "runs")
    assert s.mapping_path == ""  # the packaged mapping


def test_retention_is_longer_in_prod():
    assert load_settings("dev", environ={}).retention_months == 3
    assert load_settings("prod", environ={}).retention_months == 6


def test_run_records_are_locked_400_days_in_governance_mode_unless_overridden():
    prod = load_settings("prod", environ={})
    assert (prod.record_lock_mode, prod.record_lock_days) == ("GOVERNANCE", 400)
    assert load_settings("dev", environ={"FLYWHEEL_RECORD_LOCK_DAYS": "30"}).record_lock_days == 30
    for bad in ("0", "a year"):
        with pytest.raises(ConfigError, match="record_lock_days") as err:
            load_settings("dev", environ={"FLYWHEEL_RECORD_LOCK_DAYS": bad})
        assert err.value.setting == "record_lock_days" and "$FLYWHEEL_RECORD_LOCK_DAYS" in str(err.value)


# --- choosing the environment ----------------------------------------------------------------

def test_flywheel_env_chooses_the_environment():
    assert load_settings(None, environ={"FLYWHEEL_ENV": "prod"}).database_name == "omc_flywheel_prod"


def test_explicit_env_wins_over_flywheel_env():
    assert load_settings("dev", environ={"FLYWHEEL_ENV": "prod"}).env == "dev"


def test_no_env_anywhere_means_local():
    assert load_settings(None, environ={}).env == "local"


@pytest.mark.parametrize(("env", "environ", "source"), [
    ("staging", {}, "--env"),
    (None, {"FLYWHEEL_ENV": "production"}, "FLYWHEEL_ENV"),
])
def test_unknown_environment_says_where_it_came_from(env, environ, source):
    with pytest.raises(ConfigError) as err:
        load_settings(env, environ=environ)
    assert err.value.setting == "env"
    assert source in str(err.value)
    assert "local, dev, prod" in str(err.value)


def test_the_process_environment_is_not_read_when_environ_is_given(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "not a region")
    monkeypatch.setenv("FLYWHEEL_ENV", "prod")
    assert load_settings(None, environ={}).env == "local"


# --- overrides ---------------------------------------------------------------------------

# variable, setting, a good value, a bad value (in the dev environment)
OVERRIDES = [
    ("AWS_REGION", "region", "eu-west-1", "Europe"),
    ("DATABASE_NAME", "database_name", "omc_flywheel_test", "Omc-Flywheel"),
    ("S3_ROOT_ADDRESSABLE", "s3_root_addressable", "s3://other-bucket/addr", "s3://Not_A_Bucket/addr"),
    ("S3_ROOT_INFOBASE", "s3_root_infobase", "s3://other-bucket/ibe", "other-bucket/ibe"),
    ("ROLE_NAME", "role_name", "flywheel-test-role", "a role with spaces"),
    ("SNS_TOPIC_ARN", "sns_topic_arn", TOPIC, "arn:aws:sns:us-east-1:1234:topic"),
    ("FLYWHEEL_RECORD_LOCK_MODE", "record_lock_mode", "COMPLIANCE", "governance"),
]


@pytest.mark.parametrize(("variable", "setting", "good", "bad"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_each_override_wins_over_the_default(variable, setting, good, bad):
    s = load_settings("dev", environ={variable: good})
    assert getattr(s, setting) == good
    assert s.sources[setting] == f"${variable}"


@pytest.mark.parametrize(("variable", "setting", "good", "bad"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_a_bad_override_names_the_setting_and_where_it_came_from(variable, setting, good, bad):
    with pytest.raises(ConfigError) as err:
        load_settings("dev", environ={variable: bad})
    assert err.value.setting == setting
    assert f"(from ${variable})" in str(err.value)
    assert bad in str(err.value)


def test_an_empty_override_keeps_the_default():
    assert load_settings("dev", environ={"DATABASE_NAME": ""}).database_name == "omc_flywheel_dev_clean"


def test_s3_roots_follow_an_overridden_data_root():
    s = load_settings("prod", environ={"FLYWHEEL_DATA_ROOT": "s3://other-bucket/"})
    assert s.s3_root_infobase == "s3://other-bucket/omc_cleanroom_data/split_part/infobase_attributes"


def test_local_overrides_of_paths_are_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": "lake", "FLYWHEEL_MAPPING": "m.csv",
                                        "FLYWHEEL_RUNS_DIR": "records"})
    assert s.data_root == str(tmp_path / "lake")
    assert s.runs_dir == str(tmp_path / "records")
    assert s.mapping_path == "m.csv"


# --- files vs S3 -------------------------------------------------------------------------

@pytest.mark.parametrize(("variable", "setting"), [
    ("S3_ROOT_ADDRESSABLE", "s3_root_addressable"),
    ("S3_ROOT_INFOBASE", "s3_root_infobase"),
    ("FLYWHEEL_DATA_ROOT", "data_root"),
])
def test_local_refuses_s3_locations(tmp_path, variable, setting):
    environ = {"FLYWHEEL_DATA_ROOT": str(tmp_path), variable: "s3://omc-flywheel-data-us-east-1-dev/x"}
    with pytest.raises(ConfigError) as err:
        load_settings("local", environ=environ)
    assert err.value.setting == setting
    assert f"${variable}" in str(err.value)


@pytest.mark.parametrize(("variable", "setting"), [
    ("S3_ROOT_ADDRESSABLE", "s3_root_addressable"),
    ("S3_ROOT_INFOBASE", "s3_root_infobase"),
    ("FLYWHEEL_DATA_ROOT", "data_root"),
])
def test_dev_refuses_local_paths(tmp_path, variable, setting):
    with pytest.raises(ConfigError) as err:
        load_settings("dev", environ={variable: str(tmp_path / "lake")})
    assert err.value.setting == setting
    assert f"(from ${variable})" in str(err.value)
    assert "s3://" in str(err.value)


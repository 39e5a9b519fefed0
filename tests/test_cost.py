"""Cost: a stage's usage priced with the list prices, the run's total beside the month before."""

from __future__ import annotations

import json

import pytest

from flywheel_lib import cost
from flywheel_lib.config import load_settings
from flywheel_lib.errors import FlywheelError

USAGE = {
    "aws_calls": {"s3:GetObject": 2000, "s3:ListObjectsV2": 1000, "s3:DeleteObjects": 50,
                  "glue:GetPartitions": 500_000, "glue:GetJobRun": 40, "sns:Publish": 1},
    "athena_statements": [{"label": "validate", "query_id": "q1", "bytes_scanned": 2 * 1024 ** 4},
                          {"label": "msck", "query_id": "q2", "bytes_scanned": 0},      # DDL: free
                          {"label": "tiny", "query_id": "q3", "bytes_scanned": 1000}],  # billed as 10 MB
    "glue_runs": [{"job": "j", "run_id": "r", "dpu_seconds": 96 * 3600.0, "measured_by": "DPUSeconds"}],
    "cpu_s": 3.5, "peak_memory_mb": 200.0,
}


def test_a_stage_is_priced_by_driver_at_list_prices():
    priced = cost.stage_cost(USAGE, cost.load_prices(environ={}))
    assert priced["dpu_hours"] == 96
    assert priced["usd"]["glue"] == pytest.approx(96 * 0.44)
    assert priced["usd"]["athena"] == pytest.approx((2 + 10 / 1024 ** 2) * 5.0, rel=1e-4)
    # 1,000 LIST at the write price, 2,000 GET at the read price, 500k catalog calls, one publish; DELETE free
    assert priced["usd"]["requests"] == pytest.approx(0.005 + 0.0008 + 0.5 + 0.5e-6, abs=1e-4)
    assert priced["aws_calls_by_service"] == {"glue": 500_040, "s3": 3050, "sns": 1}


def test_prices_can_be_overridden_and_a_bad_override_is_named(tmp_path):
    override = tmp_path / "prices.toml"
    override.write_text("glue_dpu_hour = 0.29\n")
    assert cost.load_prices(environ={"FLYWHEEL_PRICES": str(override)})["glue_dpu_hour"] == 0.29
    override.write_text("glue_dpu_hours = 0.29\n")
    with pytest.raises(FlywheelError, match="unknown price.*glue_dpu_hours"):
        cost.load_prices(environ={"FLYWHEEL_PRICES": str(override)})


def _manifest(month, status="succeeded", **extra):
    return {"month": month, "run_id": f"{month}-r", "status": status,
            "stages": {"glue_ready": {"usage": USAGE}, "er_table": {"usage": None}}, **extra}


def _write(runs_dir, manifest, run_id="20261101T020000Z"):
    folder = runs_dir / manifest["month"] / run_id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_the_run_total_stands_beside_the_last_good_run_of_the_month_before(tmp_path):
    settings = load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path)})
    _write(tmp_path, _manifest("2026-09", cost={"total_usd": 41.5}))
    total = cost.run_cost(_manifest("2026-10"), settings, environ={})
    assert total["total_usd"] == pytest.approx(96 * 0.44 + 2 * 5.0 + 0.506, abs=0.01)
    assert total["previous_month"]["value"] == 41.5
    assert cost.cost_line(total).startswith("estimated AWS cost: $52.75")
    assert "(month before: $41.50)" in cost.cost_line(total)


def test_a_failed_run_of_the_month_before_is_not_the_comparison(tmp_path):
    settings = load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path)})
    _write(tmp_path, _manifest("2026-09", status="failed", cost={"total_usd": 3.0}))
    assert cost.run_cost(_manifest("2026-10"), settings, environ={})["previous_month"] is None


def test_january_compares_with_december_of_the_year_before(tmp_path):
    settings = load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path)})
    _write(tmp_path, _manifest("2025-12", cost={"total_usd": 7.0}))
    assert cost.run_cost(_manifest("2026-01"), settings, environ={})["previous_month"]["month"] == "2025-12"


def test_locally_the_record_gives_cpu_seconds_and_peak_memory(tmp_path):
    settings = load_settings("local", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path),
                                               "FLYWHEEL_DATA_ROOT": str(tmp_path / "data")})
    local = cost.run_cost(_manifest("2026-10"), settings)
    assert local == {"backend": "local", "stages": {"glue_ready": {"cpu_s": 3.5, "peak_memory_mb": 200.0}},
                     "cpu_s": 3.5, "peak_memory_mb": 200.0, "previous_month": None}
    assert cost.cost_line(local).startswith("compute: 4 CPU seconds, peak memory 200 MB")


def test_the_run_page_shows_the_cost_beside_the_month_before(tmp_path):
    from flywheel_lib import review

    settings = load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path)})
    _write(tmp_path, _manifest("2026-09", cost={"total_usd": 41.5}))
    manifest = _manifest("2026-10")
    manifest["cost"] = cost.run_cost(manifest, settings, environ={})
    page = review.run_page(manifest, tmp_path)
    assert "<h2>Cost</h2>" in page
    assert "estimated AWS cost: $52.75 at list prices (month before: $41.50)" in page
    assert "<td>glue_ready</td>" in page and "$52.75</td>" in page

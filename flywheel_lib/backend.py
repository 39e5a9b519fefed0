"""The backend interface every stage talks to, and the registry that picks one by name.

Two implementations: `local` (DuckDB over Parquet on disk) and, for the dev and
prod environments, `aws` (Glue, Athena, S3). Implementations are imported
lazily, so the local backend never needs boto3 credentials or network.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

from .errors import ConfigError
from .mapping import ADDRESSABLE_TABLE, Mapping, load_mapping

# environment -> (module, class)
_REGISTRY = {
    "local": ("flywheel_lib.local.backend", "LocalBackend"),
    "dev": ("flywheel_lib.aws.backend", "AwsBackend"),
    "prod": ("flywheel_lib.aws.backend", "AwsBackend"),
}


class Backend(ABC):
    """What a refresh stage needs from where the data lives."""

    name = "abstract"

    def __init__(self, settings, mapping: Mapping | None = None):
        self.settings = settings
        self._mapping = mapping

    @property
    def mapping(self) -> Mapping:
        """The split mapping from settings (or the packaged default), read on first use."""
        if self._mapping is None:
            self._mapping = load_mapping(self.settings.mapping_path or None)
        return self._mapping

    def mapping_for(self, dataset: str) -> Mapping | None:
        """The mapping a dataset's split uses: none for the addressable IDs."""
        return None if dataset == "addressable_ids" else self.mapping

    def tables_of(self, dataset: str) -> list[str]:
        """The output tables of a dataset's split, by their mapping name."""
        return [ADDRESSABLE_TABLE] if dataset == "addressable_ids" else self.mapping.table_names()

    def expected_tables(self) -> list[str]:
        """Every part_* catalog table a refresh registers (not *_er)."""
        return [Mapping.catalog_name(t) for ds in ("addressable_ids", "infobase_attributes")
                for t in self.tables_of(ds)]

    @property
    def job_runs(self):
        """External jobs this backend ran for the split, as a DataFrame (the local backend runs none)."""
        import pandas as pd

        return pd.DataFrame()

    @abstractmethod
    def split(self, snapshot, run_id: str, tables: list[str] | None = None):
        """Write the snapshot's output tables as a new version; returns one TableOutput each."""

    @abstractmethod
    def register(self, snapshot, run_id: str):
        """Stage catalog tables for this run's split output of the snapshot's dataset."""

    @abstractmethod
    def repair(self, run_id: str) -> list[dict]:
        """Record every bucket folder of this run's staged tables as a partition (not *_er)."""

    @abstractmethod
    def validate(self, pair, run_id: str):
        """Check every staged table of the run; returns CheckResults (never raises on a failed check)."""

    @abstractmethod
    def publish(self, run_id: str):
        """Point the catalog at this run's staged tables, all at once."""

    @abstractmethod
    def build_er_table(self, pair, run_id: str, copies: bool = False):
        """Rebuild the Entity Resolution table(s) for the snapshot and publish them."""

    @abstractmethod
    def serve_again(self, versions: list[dict]):
        """Switch tables back to earlier versions ({name, run_id, location}), all or none; refuse a pruned one."""

    @abstractmethod
    def published(self):
        """Catalog entries currently serving queries."""

    @abstractmethod
    def bucket_rows(self, entry) -> dict[int, int]:
        """Rows per id_bucket of a catalog table."""

    @abstractmethod
    def profile(self, entry):
        """Measure a published table for the data monitor (a monitor.TableProfile)."""

    def profiles(self, entries) -> list:
        """`profile` of each entry, in order (a backend may measure several at once)."""
        return [self.profile(e) for e in entries]

    @abstractmethod
    def preview(self, table: str, limit: int = 5):
        """The first rows of a published catalog table, as a DataFrame."""


def backend_module(env: str) -> str | None:
    """The module that implements `env`'s backend (imported ahead by warm kernels), or None."""
    return _REGISTRY.get(env, (None, None))[0]


def get_backend(settings, **kwargs) -> Backend:
    module_name, class_name = _REGISTRY[settings.env]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name.rsplit(".", 1)[0] and err.name != module_name:
            raise
        raise ConfigError(
            f"the {settings.env} environment needs the AWS backend, which this version does not include",
            setting="env",
            hint="Use --env local",
        ) from err
    return getattr(module, class_name)(settings, **kwargs)

"""MLflow's registry entities: ``ModelVersion`` and ``RegisteredModel`` with MLflow's attribute names.

duckml has no stages: ``current_stage`` is ``"None"`` as for an MLflow version never moved to a stage.
"""

from __future__ import annotations

from duckml.mlflow.entities.base import MlflowObject


class ModelVersionStatus:
    PENDING_REGISTRATION, FAILED_REGISTRATION, READY = "PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"

    @classmethod
    def to_string(cls, status) -> str:
        return status


class ModelVersion(MlflowObject):
    """One version of a registered model; ``version`` is an int, times are ms since the epoch.

    >>> ModelVersion("churn", 2, 1700000000000, source="runs:/abc/model").current_stage
    'None'
    """

    def __init__(self, name, version, creation_timestamp, last_updated_timestamp=None, description=None,
                 user_id=None, current_stage="None", source=None, run_id=None, status="READY",
                 status_message=None, tags=None, run_link=None, aliases=None, model_id=None, params=None,
                 metrics=None, deployment_job_state=None):
        self.name, self.version = name, version
        self.creation_timestamp, self.last_updated_timestamp = creation_timestamp, last_updated_timestamp
        self.description, self.user_id, self.current_stage = description, user_id, current_stage
        self.source, self.run_id, self.status, self.status_message = source, run_id, status, status_message
        self.tags, self.run_link, self.aliases = dict(tags or {}), run_link, list(aliases or [])
        self.model_id, self.params, self.metrics = model_id, params, metrics
        self.deployment_job_state = deployment_job_state


class RegisteredModel(MlflowObject):
    """A registered model: ``latest_versions``, ``aliases`` (alias -> version), ``tags``, ``description``."""

    def __init__(self, name, creation_timestamp=None, last_updated_timestamp=None, description=None,
                 latest_versions=None, tags=None, aliases=None, deployment_job_id=None, deployment_job_state=None):
        self.name, self.creation_timestamp = name, creation_timestamp
        self.last_updated_timestamp = last_updated_timestamp
        self.description, self.latest_versions = description, list(latest_versions or [])
        self.tags, self.aliases = dict(tags or {}), dict(aliases or {})
        self.deployment_job_id, self.deployment_job_state = deployment_job_id, deployment_job_state


class ModelVersionTag(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class RegisteredModelTag(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class RegisteredModelAlias(MlflowObject):
    def __init__(self, alias: str, version: str):
        self.alias, self.version = alias, version

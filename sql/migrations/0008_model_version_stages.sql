-- MLflow's model-version stage and last update, kept by `duckml import-mlflow` (duckml moves versions with
-- aliases and has no stages of its own). A version without a row here is in stage 'None' and was last
-- updated when it was created, as an MLflow version never moved to a stage.
CREATE TABLE model_version_stages (
    name             VARCHAR NOT NULL,
    version          INTEGER NOT NULL,
    current_stage    VARCHAR NOT NULL,   -- 'None', 'Staging', 'Production' or 'Archived'
    last_updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);

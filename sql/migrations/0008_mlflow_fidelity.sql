-- What an MLflow store keeps and duckml's own tables have no column for, kept by `duckml import-mlflow`
-- so that duckml.mlflow reads it back as MLflow's client does. duckml's own calls leave these tables empty.

-- A model version's MLflow stage and last update (duckml moves aliases and has no stages of its own). A
-- version without a row is in stage 'None' and was last updated when it was created.
CREATE TABLE model_version_stages (
    name             VARCHAR NOT NULL,
    version          INTEGER NOT NULL,
    current_stage    VARCHAR NOT NULL,   -- 'None', 'Staging', 'Production' or 'Archived'
    last_updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);

-- Tags of a run's dataset input besides its context (which is run_inputs.context).
CREATE TABLE run_input_tags (
    run_id      VARCHAR NOT NULL,
    dataset_id  VARCHAR NOT NULL,
    context     VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    value       VARCHAR,
    PRIMARY KEY (run_id, dataset_id, context, key)
);

-- A dataset's whole profile as MLflow stored it (JSON text); datasets.row_count holds its num_rows.
CREATE TABLE dataset_profiles (
    dataset_id  VARCHAR PRIMARY KEY,
    profile     VARCHAR NOT NULL
);

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

-- MLflow 3's LoggedModels: the model's own params and tags, and the metrics linked to it (logged by a run
-- with model_id=). Its files are artifacts of its run under artifact_path (runs:/<run_id>/<artifact_path>);
-- a model logged with no run gets a run of its own, whose id is the model's id.
CREATE TABLE logged_models (
    model_id         VARCHAR PRIMARY KEY,
    experiment_id    VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,
    source_run_id    VARCHAR,            -- NULL when MLflow logged it outside any run
    name             VARCHAR NOT NULL,
    artifact_path    VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    last_updated_at  TIMESTAMP NOT NULL,
    params           MAP(VARCHAR, VARCHAR) NOT NULL,
    tags             MAP(VARCHAR, VARCHAR) NOT NULL
);

CREATE TABLE logged_model_metrics (
    model_id        VARCHAR NOT NULL,
    run_id          VARCHAR,
    key             VARCHAR NOT NULL,
    value           DOUBLE,
    step            BIGINT NOT NULL,
    timestamp       TIMESTAMP NOT NULL,
    dataset_name    VARCHAR,
    dataset_digest  VARCHAR
);

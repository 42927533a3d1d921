-- The tracking and registry tables of CONTRACT.md, plus duckml's own bookkeeping.
-- Append-only file: never edit after release; add 0002_<slug>.sql instead (checksums are verified on open).
-- Times are TIMESTAMP in UTC; ids are VARCHAR (uuid4 hex, "0" for the Default experiment).

CREATE TABLE experiments (
    experiment_id     VARCHAR PRIMARY KEY,
    name              VARCHAR NOT NULL,
    lifecycle_stage   VARCHAR NOT NULL DEFAULT 'active',
    creation_time     TIMESTAMP NOT NULL,
    last_update_time  TIMESTAMP NOT NULL
);

CREATE TABLE experiment_tags (
    experiment_id  VARCHAR NOT NULL,
    key            VARCHAR NOT NULL,
    value          VARCHAR,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_id           VARCHAR PRIMARY KEY,
    experiment_id    VARCHAR NOT NULL,
    run_name         VARCHAR,
    status           VARCHAR NOT NULL,
    start_time       TIMESTAMP NOT NULL,
    end_time         TIMESTAMP,
    lifecycle_stage  VARCHAR NOT NULL DEFAULT 'active',
    parent_run_id    VARCHAR
);

CREATE TABLE params (
    run_id  VARCHAR NOT NULL,
    key     VARCHAR NOT NULL,
    value   VARCHAR,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE tags (
    run_id  VARCHAR NOT NULL,
    key     VARCHAR NOT NULL,
    value   VARCHAR,
    PRIMARY KEY (run_id, key)
);

-- Every point of every metric history. No index: it is append-only and scanned columnar.
CREATE TABLE metrics (
    run_id     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,
    value      DOUBLE,
    step       BIGINT NOT NULL,
    timestamp  TIMESTAMP NOT NULL
);

-- One row per (run, artifact path); the bytes live once per sha256 in the artifact folder.
CREATE TABLE artifacts (
    run_id      VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    size        BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL,
    media_type  VARCHAR,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, path)
);

CREATE TABLE datasets (
    dataset_id   VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    digest       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    source_type  VARCHAR NOT NULL,
    schema       VARCHAR,
    row_count    BIGINT,
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE run_inputs (
    run_id      VARCHAR NOT NULL,
    dataset_id  VARCHAR NOT NULL,
    context     VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, dataset_id, context)
);

CREATE TABLE registered_models (
    name              VARCHAR PRIMARY KEY,
    description       VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL
);

CREATE TABLE registered_model_tags (
    name   VARCHAR NOT NULL,
    key    VARCHAR NOT NULL,
    value  VARCHAR,
    PRIMARY KEY (name, key)
);

CREATE TABLE model_versions (
    name          VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    run_id        VARCHAR,
    source_uri    VARCHAR NOT NULL,
    description   VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_version_tags (
    name     VARCHAR NOT NULL,
    version  INTEGER NOT NULL,
    key      VARCHAR NOT NULL,
    value    VARCHAR,
    PRIMARY KEY (name, version, key)
);

CREATE TABLE model_aliases (
    name     VARCHAR NOT NULL,
    alias    VARCHAR NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);

-- Append-only audit trail of every registry change: "which version was @champion on 2026-11-01".
CREATE TABLE registry_events (
    event_time  TIMESTAMP NOT NULL,
    name        VARCHAR NOT NULL,
    version     INTEGER,
    event       VARCHAR NOT NULL,
    alias       VARCHAR,
    detail      VARCHAR
);

-- Per-name high-water mark so a deleted version number is never handed out again.
CREATE TABLE model_version_counters (
    name          VARCHAR PRIMARY KEY,
    last_version  INTEGER NOT NULL
);

-- Journal bookkeeping (duckml/journal.py): how far each process segment has been ingested,
-- and the (run_id, key) behind each small series number used in binary metric segments.
CREATE TABLE _duckml_segments (
    segment         VARCHAR PRIMARY KEY,
    events_offset   BIGINT NOT NULL,
    metrics_offset  BIGINT NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

CREATE TABLE _duckml_series (
    segment    VARCHAR NOT NULL,
    series_id  INTEGER NOT NULL,
    run_id     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,
    PRIMARY KEY (segment, series_id)
);

CREATE TABLE _duckml_meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR
);

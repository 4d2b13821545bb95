-- Times are TEXT in UTC, fixed width with microseconds (2006-01-02T15:04:05.000000Z), so they sort as text.

CREATE TABLE servers (
    name         TEXT PRIMARY KEY,
    url          TEXT NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    host         TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

CREATE TABLE modules (
    name               TEXT PRIMARY KEY,
    current_version_id INTEGER REFERENCES versions (id),
    last_deployment_id INTEGER REFERENCES deployments (id)
);

CREATE TABLE versions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    module     TEXT NOT NULL REFERENCES modules (name),
    number     INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    source     TEXT NOT NULL,
    who        TEXT NOT NULL DEFAULT '',
    origin     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (module, number)
);

CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    module      TEXT NOT NULL REFERENCES modules (name),
    action      TEXT NOT NULL CHECK (action IN ('deploy', 'undeploy')),
    version_id  INTEGER REFERENCES versions (id),
    who         TEXT NOT NULL DEFAULT '',
    origin      TEXT NOT NULL DEFAULT '',
    received_by TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE INDEX deployments_module_id ON deployments (module, id);

CREATE TABLE deployment_servers (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    server        TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'deployed', 'failed', 'offline')),
    services      TEXT NOT NULL DEFAULT '[]', -- JSON array of service names
    error         TEXT,                       -- JSON ErrorDetail or NULL
    duration_ms   REAL NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (deployment_id, server)
);

-- PendingFor and MarkOffline.
CREATE INDEX deployment_servers_server_status ON deployment_servers (server, status, deployment_id);

CREATE TABLE source_results (
    server     TEXT NOT NULL,
    position   INTEGER NOT NULL,
    entry      TEXT NOT NULL,
    status     TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    services   TEXT NOT NULL DEFAULT '[]',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (server, position)
);

-- Names use the "C" collation so that ordering by name is bytewise, as in SQLite, whatever the database's locale.

CREATE TABLE servers (
    name         text COLLATE "C" PRIMARY KEY,
    url          text NOT NULL DEFAULT '',
    pid          integer NOT NULL DEFAULT 0,
    host         text NOT NULL DEFAULT '',
    state        text NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE modules (
    name               text COLLATE "C" PRIMARY KEY,
    current_version_id bigint,
    last_deployment_id bigint
);

CREATE TABLE versions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module     text COLLATE "C" NOT NULL REFERENCES modules (name),
    number     integer NOT NULL,
    sha256     text NOT NULL,
    source     text NOT NULL,
    who        text NOT NULL DEFAULT '',
    origin     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    UNIQUE (module, number)
);

CREATE TABLE deployments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module      text COLLATE "C" NOT NULL REFERENCES modules (name),
    action      text NOT NULL CHECK (action IN ('deploy', 'undeploy')),
    version_id  bigint REFERENCES versions (id),
    who         text NOT NULL DEFAULT '',
    origin      text NOT NULL DEFAULT '',
    received_by text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);

CREATE INDEX deployments_module_id ON deployments (module, id);

ALTER TABLE modules
    ADD FOREIGN KEY (current_version_id) REFERENCES versions (id),
    ADD FOREIGN KEY (last_deployment_id) REFERENCES deployments (id);

CREATE TABLE deployment_servers (
    deployment_id bigint NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    server        text COLLATE "C" NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'deployed', 'failed', 'offline')),
    services      jsonb NOT NULL DEFAULT '[]',
    error         jsonb,
    duration_ms   double precision NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, server)
);

-- PendingFor and MarkOffline.
CREATE INDEX deployment_servers_server_status ON deployment_servers (server, status, deployment_id);

CREATE TABLE source_results (
    server     text COLLATE "C" NOT NULL,
    position   integer NOT NULL,
    entry      text NOT NULL,
    status     text NOT NULL,
    message    text NOT NULL DEFAULT '',
    services   jsonb NOT NULL DEFAULT '[]',
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (server, position)
);

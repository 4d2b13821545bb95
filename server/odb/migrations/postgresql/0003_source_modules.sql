-- The module files each service-sources.txt entry loaded on that server (a dotted entry: its module, as the runtime
-- names it), so that pages list what was loaded, not what an entry's text suggests.
ALTER TABLE source_results ADD COLUMN modules jsonb NOT NULL DEFAULT '[]';

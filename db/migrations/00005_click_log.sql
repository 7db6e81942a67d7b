-- +goose Up
-- The raw click log is written by the group-commit click writer only, with
-- a ref and app it read from ref_codes (ref codes and apps are never
-- deleted). A foreign key costs PostgreSQL two referential-integrity checks
-- per click row, about half of a click batch's work in PostgreSQL: the log
-- keeps its indexes and drops its foreign keys (BENCHMARKS.md, Clicks).
ALTER TABLE clicks DROP CONSTRAINT clicks_ref_code_fkey;
ALTER TABLE clicks DROP CONSTRAINT clicks_app_id_fkey;

-- +goose Down
ALTER TABLE clicks ADD CONSTRAINT clicks_app_id_fkey FOREIGN KEY (app_id) REFERENCES apps (id);
ALTER TABLE clicks ADD CONSTRAINT clicks_ref_code_fkey FOREIGN KEY (ref_code) REFERENCES ref_codes (code);

-- +goose Up
-- Announce every change to a program or a ref code, so that API processes
-- drop what they cached about it (tracking.ProgramsChannel).
-- +goose StatementBegin
CREATE FUNCTION notify_program_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentlinks_programs', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER apps_changed AFTER UPDATE OR DELETE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION notify_program_change();
CREATE TRIGGER ref_codes_changed AFTER UPDATE OR DELETE ON ref_codes
    FOR EACH STATEMENT EXECUTE FUNCTION notify_program_change();

-- +goose Down
DROP TRIGGER ref_codes_changed ON ref_codes;
DROP TRIGGER apps_changed ON apps;
DROP FUNCTION notify_program_change;

-- name: GetInstallation :one
SELECT id FROM installation;

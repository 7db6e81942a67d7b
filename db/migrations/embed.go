// Package migrations holds the versioned schema, embedded in the binary.
// sqlc reads the same files (sqlc.yaml) to generate package db.
package migrations

import "embed"

// FS holds every migration, in goose's format.
//
//go:embed *.sql
var FS embed.FS

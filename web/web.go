// Package web holds the files AgentLinks serves to browsers, embedded in
// the binary: the tracking script customers put on their sites, and the
// dashboard's templates and stylesheet.
package web

import (
	"embed"
	"io/fs"
)

// Script is agentlinks.js, served at /agentlinks.js.
//
//go:embed agentlinks.js
var Script []byte

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Templates are the dashboard's pages (html/template), each rendered
// inside layout.html.
var Templates, _ = fs.Sub(templates, "templates")

// Static is the dashboard's stylesheet and images, served at /static/.
var Static, _ = fs.Sub(static, "static")

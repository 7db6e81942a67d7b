// Package web holds the files AgentLinks serves to browsers, embedded in
// the binary: the tracking script customers put on their sites.
package web

import _ "embed"

// Script is agentlinks.js, served at /agentlinks.js.
//
//go:embed agentlinks.js
var Script []byte

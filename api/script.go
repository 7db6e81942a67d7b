package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/web"
)

// script is the tracking script, ready to serve: compressed once, named by
// its content so browsers revalidate cheaply.
type script struct {
	plain, gzipped []byte
	etag           string
}

func newScript() *script {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(web.Script)
	_ = zw.Close()
	sum := sha256.Sum256(web.Script)
	return &script{plain: web.Script, gzipped: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serve answers GET /agentlinks.js. Sites load it on every page, so it is
// cached for an hour and revalidated by ETag after that; a new version
// reaches every site within the hour.
func (s *script) serve(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", s.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := c.GetHeader("If-None-Match"); match != "" && (match == "*" || strings.Contains(match, s.etag)) {
		c.Status(http.StatusNotModified)
		return
	}
	body := s.plain
	if strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = s.gzipped
	}
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", body)
}

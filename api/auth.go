package api

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// principal is who is asking, decided once per request by secretKey from
// its credentials; handlers pass its ids to the service, which never sees
// a credential.
type principal struct {
	AppID string // the app whose secret key the request carries
}

const principalKey = "agentlinks.principal"

// Whether an endpoint refuses a request without credentials.
const (
	required = true
	optional = false
)

// secretKey decides who is asking from the Authorization header: a key
// that is sent must be valid (401 otherwise). Without one, a required
// endpoint answers 401 and an optional one goes on as nobody (keyless
// conversions decide for themselves).
func (s *server) secretKey(need bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := bearer(c)
		if key == "" && !need {
			return
		}
		appID, err := s.svc.Authenticate(c.Request.Context(), key)
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(principalKey, principal{AppID: appID})
	}
}

// caller is the request's principal; the zero principal is nobody.
func caller(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	who, _ := p.(principal)
	return who
}

func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/internal/refusal"
	"github.com/agentlinks/agentlinks/service"
)

// payment is what a conversion and a refund both send.
type payment struct {
	Ref           string `json:"ref"`
	AppID         string `json:"app_id"`
	UserID        string `json:"user_id"`
	AmountCents   cents  `json:"amount_cents"`
	TransactionID string `json:"transaction_id"`
}

// bindPayment binds a conversion or refund body into req (which embeds a
// payment), applies the per-ref limit and parses the amount; false means
// it has answered.
func (s *server) bindPayment(c *gin.Context, req any, p *payment) (int64, service.Sender, bool) {
	if !bind(c, req) || !s.limitRef(c, p.Ref) {
		return 0, service.Sender{}, false
	}
	amount, err := p.AmountCents.value()
	if err != nil {
		fail(c, err)
		return 0, service.Sender{}, false
	}
	return amount, service.Sender{KeyApp: caller(c).AppID, FromBrowser: c.GetHeader("Origin") != ""}, true
}

type conversionRequest struct {
	payment
	Currency string `json:"currency"`
}

func (s *server) conversion(c *gin.Context) {
	var req conversionRequest
	amount, from, ok := s.bindPayment(c, &req, &req.payment)
	if !ok {
		return
	}
	conv, created, err := s.svc.Conversion(c.Request.Context(), service.ConversionInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, AmountCents: amount, Currency: req.Currency,
		TransactionID: req.TransactionID, IdempotencyKey: c.GetHeader("Idempotency-Key"), Sender: from,
	})
	if err != nil {
		fail(c, err)
		return
	}
	if created {
		s.log.InfoContext(c.Request.Context(), "conversion recorded", "conversion_id", conv.ConversionID,
			"workflow_id", conv.WorkflowID, "ref", conv.Ref, "commission_cents", conv.Commission.CommissionCents)
	}
	c.JSON(status(created), conv)
}

type refundRequest struct {
	payment
	RefundID string `json:"refund_id"`
}

func (s *server) refund(c *gin.Context) {
	var req refundRequest
	amount, from, ok := s.bindPayment(c, &req, &req.payment)
	if !ok {
		return
	}
	res, err := s.svc.Refund(c.Request.Context(), service.RefundInput{
		Ref: req.Ref, AppID: appID(c, req.AppID), UserID: req.UserID, AmountCents: amount,
		TransactionID: req.TransactionID, RefundID: req.RefundID,
		IdempotencyKey: c.GetHeader("Idempotency-Key"), Sender: from,
	})
	respond(c, http.StatusOK, res, err)
}

func (s *server) getConversion(c *gin.Context) {
	conv, err := s.svc.GetConversion(c.Request.Context(), caller(c).AppID, c.Param("id"))
	respond(c, http.StatusOK, conv, err)
}

// cents is amount_cents as sent. PRODUCT.md makes it a positive integer,
// so only a JSON number is taken: "100", a string, is refused rather than
// read as 100 (as json.Number would).
type cents struct {
	n json.Number // "" when absent or null
}

func (a *cents) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		kind := map[byte]string{'"': "string", 't': "bool", 'f': "bool", '{': "object", '[': "array"}[b[0]]
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[cents]()}
	}
	a.n = json.Number(b)
	return nil
}

// value is the amount in whole cents; the service checks its range.
func (a cents) value() (int64, error) {
	if a.n == "" {
		return 0, refusal.Invalid("invalid_amount", "amount_cents is required: a positive whole number of cents")
	}
	v, err := strconv.ParseInt(string(a.n), 10, 64)
	if err != nil {
		return 0, refusal.Invalid("invalid_amount", "amount_cents must be a positive whole number of cents (integer), got %s", a.n)
	}
	return v, nil
}

package api

import (
	"encoding/csv"
	"fmt"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
)

// CSV exports of a program.

// csvCell keeps a cell from being read as a formula by a spreadsheet: a
// value that begins with = + - @ (or a tab or carriage return) is prefixed
// with a quote (OWASP, CSV injection).
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func csvHeader(c *gin.Context, name string) *csv.Writer {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	return csv.NewWriter(c.Writer)
}

func (s *server) exportConversions(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	w := csvHeader(c, app.ID+"-conversions.csv")
	_ = w.Write([]string{"conversion_id", "created_at", "ref", "creator_email", "user_id", "status", "currency",
		"amount", "commission", "platform_fee", "net_commission", "refunded", "available_at", "transaction"})
	err = s.svc.ExportConversions(ctx, account(c).ID, app.ID, func(r db.ExportConversionsRow) error {
		return w.Write([]string{r.ID, r.CreatedAt.UTC().Format(time.RFC3339), csvCell(r.RefCode), csvCell(r.CreatorEmail), csvCell(r.UserID),
			r.Status, r.Currency, commission.Decimal(r.AmountCents), commission.Decimal(r.CommissionCents), commission.Decimal(r.PlatformFeeCents), commission.Decimal(r.NetCommissionCents),
			commission.Decimal(r.RefundedCents), r.AvailableAt.UTC().Format(time.RFC3339), csvCell(strings.TrimPrefix(strings.TrimPrefix(r.DedupeKey, "txn:"), "idem:"))})
	})
	w.Flush()
	if err != nil {
		_ = c.Error(err) // the header is out: the file ends short, and the log says why
	}
}

func (s *server) exportCreators(c *gin.Context) {
	ctx := c.Request.Context()
	app, err := s.svc.OwnedApp(ctx, account(c).ID, c.Param("app_id"))
	if err != nil {
		s.failPage(c, err)
		return
	}
	w := csvHeader(c, app.ID+"-creators.csv")
	_ = w.Write([]string{"creator_id", "email", "ref", "clicks", "signups", "conversions", "net_earned", "pending", "available", "paid"})
	err = s.svc.ExportCreators(ctx, account(c).ID, app.ID, func(r db.ProgramCreatorsRow) error {
		return w.Write([]string{r.CreatorID, csvCell(r.Email), csvCell(r.Code), fmt.Sprint(r.Clicks), fmt.Sprint(r.Signups), fmt.Sprint(r.Conversions),
			commission.Decimal(r.NetCents), commission.Decimal(r.PendingCents), commission.Decimal(r.AvailableCents), commission.Decimal(r.PaidCents)})
	})
	w.Flush()
	if err != nil {
		_ = c.Error(err)
	}
}

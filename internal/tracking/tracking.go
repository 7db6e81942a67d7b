// Package tracking is what the tracking API does, without HTTP: clicks,
// signups, conversions and refunds, and the reads an app makes with its
// secret key. Conversions and refunds go through each conversion's
// workflow; everything else is a database write.
package tracking

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/commission"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/workflows"
)

// Limits on caller-supplied strings, so that no field can bloat a row.
const (
	maxIDLen    = 256
	maxEmailLen = 320
	maxURLLen   = 2048
)

// Service answers the tracking API.
type Service struct {
	Pool      *pgxpool.Pool
	Q         *db.Queries
	Workflows workflows.Client
	// DedupeWindow: a visitor's clicks on one ref count once per window.
	DedupeWindow time.Duration
	Now          func() time.Time
	// Recorded, when set, is told of the conversions the worker in this
	// process records (the Waiters of its activities, on the same Temporal
	// client as Workflows): conversions are then started eagerly and
	// answered from it, with the record update as the fallback (record).
	Recorded *activities.RecordWaiters
	// RecordedWait is how long a conversion started eagerly waits to be
	// told before it asks its workflow; zero means two seconds.
	RecordedWait time.Duration
	clicks       *clickBatcher
	refs         *refCache
}

// New returns a service over a pool and a workflow client. Close stops its
// click writer.
func New(pool *pgxpool.Pool, wf workflows.Client, dedupeWindow time.Duration) *Service {
	q := db.New(pool)
	return &Service{Pool: pool, Q: q, Workflows: wf, DedupeWindow: dedupeWindow, Now: time.Now,
		clicks: newClickBatcher(q, dedupeWindow), refs: newRefCache(q, refCacheTTL)}
}

// Close writes the clicks still queued and stops taking more.
func (s *Service) Close() { s.clicks.close() }

// now is the service clock at the database's precision (microseconds), so
// what is answered is what is stored.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// lookupRef finds a ref code and its program; appID, when given, must be
// the ref's app.
func (s *Service) lookupRef(ctx context.Context, ref, appID string) (db.GetRefCodeRow, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return db.GetRefCodeRow{}, invalid("missing_ref", "ref is required: the creator's ref code from the ?ref= link")
	}
	if len(ref) > 64 || !isText(ref) {
		return db.GetRefCodeRow{}, notFound("unknown_ref", "no creator has the ref code %.64q", ref)
	}
	row, err := s.Q.GetRefCode(ctx, strings.ToLower(ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return row, notFound("unknown_ref", "no creator has the ref code %q", ref)
	}
	if err != nil {
		return row, fmt.Errorf("look up ref %q: %w", ref, err)
	}
	return row, sameApp(row, ref, appID)
}

// sameApp refuses a ref of another app than the one the request names.
func sameApp(row db.GetRefCodeRow, ref, appID string) error {
	if appID != "" && appID != row.App.ID {
		return invalid("ref_app_mismatch", "ref %q belongs to another app than %q", ref, appID)
	}
	return nil
}

// Authorize checks the secret key sent with a request that moves money or
// reads an app's data. An app in keyless mode accepts no key at all for
// conversions and refunds (keyless true); a key that is sent must be right.
func (s *Service) Authorize(ctx context.Context, app db.App, bearer string, keyless, fromBrowser bool) error {
	if bearer == "" {
		if keyless && app.KeylessConversions {
			return nil
		}
		if fromBrowser {
			return unauthorized("missing_api_key",
				"conversions and refunds from the browser work only for apps in keyless mode, because a ref code is public "+
					"and anyone could post payments with it; send this call from your backend with the header "+
					"Authorization: Bearer sk_… (the guide's Option 2), or ask the app owner to turn on keyless conversions")
		}
		return unauthorized("missing_api_key",
			"this endpoint needs the app's secret key: send the header Authorization: Bearer sk_… "+
				"(conversions and refunds move money and a ref code is public, so they are not keyless unless the app owner turns on keyless conversions)")
	}
	key, err := s.Q.GetActiveAPIKeyByHash(ctx, ids.HashKey(bearer))
	if errors.Is(err, pgx.ErrNoRows) {
		return unauthorized("invalid_api_key", "the secret key is not valid: it is unknown or revoked")
	}
	if err != nil {
		return fmt.Errorf("look up key: %w", err)
	}
	// The lookup is by hash; comparing the app ids in constant time keeps
	// the answer's timing independent of which app the key is for.
	if subtle.ConstantTimeCompare([]byte(key.AppID), []byte(app.ID)) != 1 {
		return unauthorized("invalid_api_key", "the secret key is not valid for the app this ref belongs to")
	}
	return nil
}

// AppForKey returns the app a secret key belongs to.
func (s *Service) AppForKey(ctx context.Context, bearer string) (db.App, error) {
	if bearer == "" {
		return db.App{}, unauthorized("missing_api_key", "this endpoint needs the app's secret key: send the header Authorization: Bearer sk_…")
	}
	key, err := s.Q.GetActiveAPIKeyByHash(ctx, ids.HashKey(bearer))
	if errors.Is(err, pgx.ErrNoRows) {
		return db.App{}, unauthorized("invalid_api_key", "the secret key is not valid: it is unknown or revoked")
	}
	if err != nil {
		return db.App{}, fmt.Errorf("look up key: %w", err)
	}
	return s.Q.GetApp(ctx, key.AppID)
}

// OriginAllowed reports whether pages on origin may call the tracking
// endpoints of appID from a browser: the app's allowed origins (CORS).
func (s *Service) OriginAllowed(ctx context.Context, appID, origin string) (bool, error) {
	if appID == "" || origin == "" || !isText(appID) {
		return false, nil
	}
	app, err := s.cachedApp(ctx, appID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(app.AllowedOrigins, strings.ToLower(origin)), nil
}

// ClickInput is one click on a ref link.
type ClickInput struct {
	Ref, AppID, URL, Referrer string
	// VisitorID, when the caller knows one, names the visitor; otherwise the
	// visitor is the client's address and user agent.
	VisitorID, ClientIP, UserAgent string
}

// ClickResult says how a click was counted.
type ClickResult struct {
	Unique bool // counted as a unique click
	Bot    bool // kept raw, counted nowhere
	// CookieDays is the app's cookie window, for the tracking script.
	CookieDays int32
}

// botUA matches crawlers and link previewers: their hits are kept raw but
// are not clicks. Server-side callers (curl, node, Go) are not bots: the
// guide tells apps to call from their backends.
var botUA = regexp.MustCompile(`(?i)bot\b|bot/|crawl|spider|slurp|bingpreview|facebookexternalhit|embedly|` +
	`preview|whatsapp|telegram|slack|discord|pinterest|vkshare|skypeuripreview|yandex|baidu|semrush|ahrefs|` +
	`lighthouse|pingdom|uptimerobot|python-requests/0`)

// Click records a click: the raw event always, and the per-day counters
// unless it is a bot; unique once per visitor per ref per window.
func (s *Service) Click(ctx context.Context, in ClickInput) (ClickResult, error) {
	row, err := s.cachedRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return ClickResult{}, err
	}
	visitor := in.VisitorID
	if visitor == "" {
		visitor = in.ClientIP + "\x00" + in.UserAgent
	}
	sum := sha256.Sum256([]byte(row.App.ID + "\x00" + visitor))
	res := ClickResult{Bot: botUA.MatchString(in.UserAgent), CookieDays: row.App.CookieDays}
	res.Unique, err = s.clicks.add(ctx, click{
		ref: row.RefCode.Code, appID: row.App.ID, visitor: sum[:], bot: res.Bot,
		url: clip(in.URL, maxURLLen), referrer: clip(in.Referrer, maxURLLen),
	})
	if err != nil {
		return ClickResult{}, fmt.Errorf("record click: %w", err)
	}
	return res, nil
}

// SignupInput is one referred signup.
type SignupInput struct {
	Ref, AppID, UserID, Email string
}

// Referral is a referred user as answered.
type Referral struct {
	ReferralID   string    `json:"referral_id"`
	AppID        string    `json:"app_id"`
	Ref          string    `json:"ref"`
	UserID       string    `json:"user_id"`
	SelfReferral bool      `json:"self_referral"`
	CreatedAt    time.Time `json:"created_at"`
}

// Signup ties a user to the ref's creator, first touch: the same user_id
// again returns the first referral (created false), whatever ref it names.
func (s *Service) Signup(ctx context.Context, in SignupInput) (Referral, bool, error) {
	row, err := s.lookupRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return Referral{}, false, err
	}
	if err := checkID("user_id", in.UserID, true); err != nil {
		return Referral{}, false, err
	}
	email := strings.TrimSpace(in.Email)
	if len(email) > maxEmailLen || !isText(email) || (email != "" && !strings.Contains(email, "@")) {
		return Referral{}, false, invalid("invalid_email", "email %.64q is not an email address", email)
	}
	ref, err := s.Q.CreateReferral(ctx, db.CreateReferralParams{
		ID:           ids.New("rfl"),
		AppID:        row.App.ID,
		RefCode:      row.RefCode.Code,
		CreatorID:    row.RefCode.CreatorID,
		UserID:       in.UserID,
		Email:        email,
		SelfReferral: email != "" && strings.EqualFold(email, row.CreatorEmail),
	})
	created := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		ref, err = s.Q.GetReferralByUser(ctx, db.GetReferralByUserParams{AppID: row.App.ID, UserID: in.UserID})
	}
	if err != nil {
		return Referral{}, false, fmt.Errorf("record signup: %w", err)
	}
	return Referral{
		ReferralID: ref.ID, AppID: ref.AppID, Ref: ref.RefCode, UserID: ref.UserID,
		SelfReferral: ref.SelfReferral, CreatedAt: ref.CreatedAt,
	}, created, nil
}

// Conversion is a conversion as answered.
type Conversion struct {
	ConversionID string               `json:"conversion_id"`
	Status       string               `json:"status"`
	AvailableAt  time.Time            `json:"available_at"`
	Commission   commission.Breakdown `json:"commission"`
	Refunded     commission.Breakdown `json:"refunded"`
	Ref          string               `json:"ref"`
	UserID       string               `json:"user_id"`
	CreatedAt    time.Time            `json:"created_at"`
	WorkflowID   string               `json:"workflow_id"`
}

func conversionView(c activities.Conversion) Conversion {
	return Conversion{
		ConversionID: c.ID, Status: c.Status, AvailableAt: c.AvailableAt.UTC(),
		Commission: c.Commission, Refunded: c.Refunded, Ref: c.RefCode, UserID: c.UserID,
		CreatedAt: c.CreatedAt.UTC(), WorkflowID: c.WorkflowID,
	}
}

// ConversionInput is one payment of a referred customer.
type ConversionInput struct {
	Ref, AppID, UserID string
	AmountCents        int64
	Currency           string
	TransactionID      string
	IdempotencyKey     string
	Bearer             string
	FromBrowser        bool // sent by a page (it carries an Origin), not a backend
}

// Conversion records a payment's commission through its workflow. created
// is false for a repeat (same transaction id or idempotency key), which
// returns the first answer and credits nothing.
func (s *Service) Conversion(ctx context.Context, in ConversionInput) (Conversion, bool, error) {
	row, err := s.lookupRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return Conversion{}, false, err
	}
	if err := s.Authorize(ctx, row.App, in.Bearer, true, in.FromBrowser); err != nil {
		return Conversion{}, false, err
	}
	return s.convert(ctx, row, in)
}

// RecordFor records a conversion reported by an integration the platform
// trusts (a verified Stripe event): the app is known, no key is needed.
func (s *Service) RecordFor(ctx context.Context, appID string, in ConversionInput) (Conversion, bool, error) {
	row, err := s.lookupRef(ctx, in.Ref, appID)
	if err != nil {
		return Conversion{}, false, err
	}
	return s.convert(ctx, row, in)
}

func (s *Service) convert(ctx context.Context, row db.GetRefCodeRow, in ConversionInput) (Conversion, bool, error) {
	app := row.App
	if err := checkID("user_id", in.UserID, true); err != nil {
		return Conversion{}, false, err
	}
	if err := checkAmount(in.AmountCents); err != nil {
		return Conversion{}, false, err
	}
	if c := strings.ToLower(strings.TrimSpace(in.Currency)); c != "" && c != app.Currency {
		if !isText(c) || len(c) > 8 {
			c = "an unknown currency"
		}
		return Conversion{}, false, invalid("currency_mismatch", "this app's program is in %s, not %s", app.Currency, c)
	}
	dedupe, err := dedupeKey("transaction_id", in.TransactionID, in.IdempotencyKey)
	if err != nil {
		return Conversion{}, false, err
	}
	if dedupe != "" {
		// The common repeat, answered without a workflow round trip.
		existing, err := s.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe})
		if err == nil {
			c, err := s.load(ctx, existing)
			if err != nil {
				return Conversion{}, false, err
			}
			return c, false, sameConversion(c, in)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Conversion{}, false, fmt.Errorf("look up transaction: %w", err)
		}
	}

	// Attribution is locked at signup: a user with a referral earns for
	// that referral's creator, whatever ref this request carries.
	refCode, creatorID, referralID := row.RefCode.Code, row.RefCode.CreatorID, ""
	referral, err := s.Q.GetReferralByUser(ctx, db.GetReferralByUserParams{AppID: app.ID, UserID: in.UserID})
	switch {
	case err == nil:
		refCode, creatorID, referralID = referral.RefCode, referral.CreatorID, referral.ID
	case !errors.Is(err, pgx.ErrNoRows):
		return Conversion{}, false, fmt.Errorf("look up referral: %w", err)
	}

	id := ids.New("cv")
	if dedupe != "" {
		id = ids.Derived("cv", app.ID, dedupe)
	}
	reply, err := s.record(ctx, activities.ConversionInput{
		ConversionID:  id,
		AppID:         app.ID,
		RefCode:       refCode,
		CreatorID:     creatorID,
		ReferralID:    referralID,
		UserID:        in.UserID,
		DedupeKey:     dedupe,
		AmountCents:   in.AmountCents,
		Currency:      app.Currency,
		CommissionBPS: app.CommissionBps,
		Hold:          time.Duration(app.HoldSeconds) * time.Second,
		CreatedAt:     s.now(),
		RequestID:     ids.New("req"),
	})
	if errors.Is(err, workflows.ErrInvalid) {
		return Conversion{}, false, invalid("invalid_conversion", "%v", err)
	}
	if err != nil {
		return Conversion{}, false, err
	}
	c := conversionView(reply.Conversion)
	if !reply.Created {
		return c, false, sameConversion(c, in)
	}
	return c, true, nil
}

// record starts the conversion's workflow and waits until its commission
// is recorded. With Recorded set it starts the workflow eagerly, so that
// this process's worker runs its first task and tells Recorded when the
// record activity has committed: a start and one workflow task, where the
// record update (Update-With-Start) costs the task queue's round trip too
// (BENCHMARKS.md, Conversions). The workflow is started before the record,
// and the record is committed before the answer, as on the update path. If
// nobody tells in time (the server did not start it eagerly and another
// process's worker took the task, or a concurrent repeat joined a workflow
// that had already recorded), the record update asks the workflow, which
// answers what it recorded.
func (s *Service) record(ctx context.Context, in activities.ConversionInput) (workflows.RecordReply, error) {
	if s.Recorded == nil {
		return s.Workflows.RecordConversion(ctx, in)
	}
	told, stop := s.Recorded.Wait(in.ConversionID)
	defer stop()
	if err := s.Workflows.StartConversion(ctx, in); err != nil {
		return workflows.RecordReply{}, err
	}
	wait := s.RecordedWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-told:
		// Created only for the request whose start recorded it, as the
		// record update answers.
		return workflows.RecordReply{Conversion: r.Result.Conversion, Created: r.Result.Inserted && r.RequestID == in.RequestID}, nil
	case <-timer.C:
		return s.Workflows.RecordConversion(ctx, in)
	case <-ctx.Done():
		return workflows.RecordReply{}, ctx.Err()
	}
}

// sameConversion refuses a repeat that is not a repeat: the same
// transaction id with another amount or user.
func sameConversion(c Conversion, in ConversionInput) error {
	if c.Commission.AmountCents != in.AmountCents || c.UserID != in.UserID {
		return conflict("transaction_reused",
			"this transaction_id or Idempotency-Key was already used for conversion %s (user %q, %d cents); a repeat must send the same user_id and amount_cents",
			c.ConversionID, c.UserID, c.Commission.AmountCents)
	}
	return nil
}

// RefundInput is one refund of a referred customer's payment.
type RefundInput struct {
	Ref, AppID, UserID string
	AmountCents        int64
	TransactionID      string
	RefundID           string
	IdempotencyKey     string
	Bearer             string
	FromBrowser        bool
}

// Refund is a recorded refund as answered.
type Refund struct {
	RefundID         string               `json:"refund_id"`
	ConversionID     string               `json:"conversion_id"`
	Reversed         commission.Breakdown `json:"reversed"`
	Clawback         bool                 `json:"clawback"`
	ConversionStatus string               `json:"conversion_status"`
}

// Refund reverses a refunded payment's commission in proportion. It finds
// the conversion by transaction id, else the newest of (ref, user_id) with
// enough left to refund, else the newest of the ref. A repeat (same
// refund_id or Idempotency-Key) returns the first answer.
func (s *Service) Refund(ctx context.Context, in RefundInput) (Refund, error) {
	row, err := s.lookupRef(ctx, in.Ref, in.AppID)
	if err != nil {
		return Refund{}, err
	}
	app := row.App
	if err := s.Authorize(ctx, app, in.Bearer, true, in.FromBrowser); err != nil {
		return Refund{}, err
	}
	if err := checkAmount(in.AmountCents); err != nil {
		return Refund{}, err
	}
	if err := checkID("user_id", in.UserID, false); err != nil {
		return Refund{}, err
	}
	if err := checkID("transaction_id", in.TransactionID, false); err != nil {
		return Refund{}, err
	}
	dedupe, err := dedupeKey("refund_id", in.RefundID, in.IdempotencyKey)
	if err != nil {
		return Refund{}, err
	}
	if dedupe != "" {
		prior, err := s.Q.GetRefundByDedupeKey(ctx, db.GetRefundByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe})
		if err == nil {
			return s.refundView(ctx, prior, in.AmountCents)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Refund{}, fmt.Errorf("look up refund: %w", err)
		}
	}
	conv, err := s.findRefundable(ctx, app, row.RefCode.Code, in)
	if err == nil {
		var r Refund
		if r, err = s.RefundConversion(ctx, conv, in.AmountCents, dedupe); err == nil {
			return r, nil
		}
	}
	// A resend that raced its first attempt (still in flight when the
	// dedupe key was looked up, applied by the time the amount was
	// checked) looks like an over-refund: it is the first refund's answer.
	var te *Error
	if dedupe != "" && errors.As(err, &te) && te.Code == "over_refund" {
		if prior, perr := s.Q.GetRefundByDedupeKey(ctx, db.GetRefundByDedupeKeyParams{AppID: app.ID, DedupeKey: &dedupe}); perr == nil {
			return s.refundView(ctx, prior, in.AmountCents)
		}
	}
	return Refund{}, err
}

// RefundConversion sends a refund to a found conversion's workflow. dedupe,
// when not empty, names the refund so that a repeat is answered, not applied.
func (s *Service) RefundConversion(ctx context.Context, conv db.Conversion, amount int64, dedupe string) (Refund, error) {
	refundID := ids.New("rf")
	if dedupe != "" {
		refundID = ids.Derived("rf", conv.AppID, dedupe)
	}
	res, err := s.Workflows.RefundConversion(ctx, inputFromRow(conv), workflows.RefundRequest{
		RefundID: refundID, AmountCents: amount, DedupeKey: dedupe,
	})
	if errors.Is(err, workflows.ErrOverRefund) {
		return Refund{}, invalid("over_refund", "%v", strings.TrimPrefix(err.Error(), workflows.ErrOverRefund.Error()+": "))
	}
	if err != nil {
		return Refund{}, err
	}
	return Refund{
		RefundID: res.RefundID, ConversionID: res.ConversionID, Reversed: res.Reversed,
		Clawback: res.Clawback, ConversionStatus: res.Conversion.Status,
	}, nil
}

func (s *Service) findRefundable(ctx context.Context, app db.App, ref string, in RefundInput) (db.Conversion, error) {
	var conv db.Conversion
	var err error
	switch {
	case in.TransactionID != "":
		key := "txn:" + in.TransactionID
		conv, err = s.Q.GetConversionByDedupeKey(ctx, db.GetConversionByDedupeKeyParams{AppID: app.ID, DedupeKey: &key})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, notFound("conversion_not_found", "no conversion of this app has transaction_id %q", in.TransactionID)
		}
		if err == nil && in.AmountCents > conv.AmountCents-conv.RefundedCents {
			return conv, invalid("over_refund", "refund of %d cents exceeds the %d cents left to refund on conversion %s",
				in.AmountCents, conv.AmountCents-conv.RefundedCents, conv.ID)
		}
	case in.UserID != "":
		conv, err = s.Q.FindRefundableConversionByUser(ctx, db.FindRefundableConversionByUserParams{
			RefCode: ref, UserID: in.UserID, AmountCents: in.AmountCents,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, s.noRefundable(ctx, ref, fmt.Sprintf("of ref %q and user %q", ref, in.UserID), in.AmountCents)
		}
	default:
		conv, err = s.Q.FindRefundableConversionByRef(ctx, db.FindRefundableConversionByRefParams{
			RefCode: ref, AmountCents: in.AmountCents,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return conv, s.noRefundable(ctx, ref, fmt.Sprintf("of ref %q", ref), in.AmountCents)
		}
	}
	if err != nil {
		return conv, fmt.Errorf("find conversion to refund: %w", err)
	}
	return conv, nil
}

// noRefundable says why no conversion could take a refund: none at all
// (404), or none with that much left (422, an over-refund).
func (s *Service) noRefundable(ctx context.Context, ref, which string, amount int64) error {
	n, err := s.Q.CountConversionsByRef(ctx, ref)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("conversion_not_found", "there is no conversion %s to refund", which)
	}
	return invalid("over_refund", "no conversion %s has %d cents left to refund; a refund never reverses more than was credited", which, amount)
}

func (s *Service) refundView(ctx context.Context, r db.Refund, amount int64) (Refund, error) {
	if r.AmountCents != amount {
		return Refund{}, conflict("refund_reused",
			"this refund_id or Idempotency-Key was already used for refund %s of %d cents; a repeat must send the same amount_cents", r.ID, r.AmountCents)
	}
	conv, err := s.Q.GetConversion(ctx, r.ConversionID)
	if err != nil {
		return Refund{}, err
	}
	return Refund{
		RefundID: r.ID, ConversionID: r.ConversionID, Clawback: r.Clawback, ConversionStatus: conv.Status,
		Reversed: commission.Breakdown{
			AmountCents: r.AmountCents, CommissionCents: r.CommissionCents,
			PlatformFeeCents: r.PlatformFeeCents, NetCommissionCents: r.NetCommissionCents,
		},
	}, nil
}

// inputFromRow rebuilds a recorded conversion's workflow input, for a
// refund that must start a new run after the first one ended.
func inputFromRow(c db.Conversion) activities.ConversionInput {
	in := activities.ConversionInput{
		ConversionID: c.ID, AppID: c.AppID, RefCode: c.RefCode, CreatorID: c.CreatorID, UserID: c.UserID,
		AmountCents: c.AmountCents, Currency: c.Currency, CommissionBPS: c.CommissionBps,
		Hold: c.AvailableAt.Sub(c.CreatedAt), CreatedAt: c.CreatedAt,
	}
	if c.ReferralID != nil {
		in.ReferralID = *c.ReferralID
	}
	if c.DedupeKey != nil {
		in.DedupeKey = *c.DedupeKey
	}
	return in
}

// GetConversion answers one conversion of the key's app.
func (s *Service) GetConversion(ctx context.Context, bearer, id string) (Conversion, error) {
	app, err := s.AppForKey(ctx, bearer)
	if err != nil {
		return Conversion{}, err
	}
	if !isText(id) || len(id) > maxIDLen {
		return Conversion{}, notFound("conversion_not_found", "this app has no conversion %.64q", id)
	}
	row, err := s.Q.GetConversion(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.AppID != app.ID) {
		return Conversion{}, notFound("conversion_not_found", "this app has no conversion %q", id)
	}
	if err != nil {
		return Conversion{}, err
	}
	return s.load(ctx, row)
}

func (s *Service) load(ctx context.Context, row db.Conversion) (Conversion, error) {
	refunded, err := s.Q.SumRefunds(ctx, row.ID)
	if err != nil {
		return Conversion{}, err
	}
	return conversionView(activities.FromRow(row, commission.Breakdown(refunded))), nil
}

// Balance is a creator's money in one program, derived from the ledger.
type Balance struct {
	PendingCents   int64 `json:"pending_cents"`
	AvailableCents int64 `json:"available_cents"`
	PaidCents      int64 `json:"paid_cents"`
}

// Balance answers the balance of the ref's creator in the ref's program.
func (s *Service) Balance(ctx context.Context, bearer, ref string) (Balance, error) {
	row, err := s.refForKey(ctx, bearer, ref)
	if err != nil {
		return Balance{}, err
	}
	// The rollup the ledger keeps in step (one row, whatever the creator's
	// history); no row yet means nothing was ever credited.
	b, err := s.Q.GetCreatorBalance(ctx, db.GetCreatorBalanceParams{AppID: row.App.ID, CreatorID: row.RefCode.CreatorID})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Balance{}, err
	}
	return Balance{PendingCents: b.PendingCents, AvailableCents: b.AvailableCents, PaidCents: b.PaidCents}, nil
}

// Stats counts what a ref link brought.
type Stats struct {
	Clicks       int64 `json:"clicks"`
	UniqueClicks int64 `json:"unique_clicks"`
	Signups      int64 `json:"signups"`
	Conversions  int64 `json:"conversions"`
}

// Stats answers the counters of one ref.
func (s *Service) Stats(ctx context.Context, bearer, ref string) (Stats, error) {
	row, err := s.refForKey(ctx, bearer, ref)
	if err != nil {
		return Stats{}, err
	}
	code := row.RefCode.Code
	clicks, err := s.Q.ClickTotals(ctx, code)
	if err != nil {
		return Stats{}, err
	}
	// Per-day rollups: a read of one row per active day, whatever the volume.
	totals, err := s.Q.RefTotals(ctx, code)
	if err != nil {
		return Stats{}, err
	}
	return Stats{Clicks: clicks.Clicks, UniqueClicks: clicks.UniqueClicks, Signups: totals.Signups, Conversions: totals.Conversions}, nil
}

// refForKey finds a ref of the key's app; another app's ref is unknown.
func (s *Service) refForKey(ctx context.Context, bearer, ref string) (db.GetRefCodeRow, error) {
	app, err := s.AppForKey(ctx, bearer)
	if err != nil {
		return db.GetRefCodeRow{}, err
	}
	row, err := s.lookupRef(ctx, ref, "")
	if err != nil {
		return row, err
	}
	if row.App.ID != app.ID {
		return row, notFound("unknown_ref", "this app has no ref code %q", ref)
	}
	return row, nil
}

func checkAmount(cents int64) error {
	if cents <= 0 || cents > commission.MaxAmountCents {
		return invalid("invalid_amount", "amount_cents must be a positive whole number of cents, at most %d; got %d", commission.MaxAmountCents, cents)
	}
	return nil
}

func checkID(field, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return invalid("missing_"+field, "%s is required", field)
	}
	if !isText(v) {
		return invalid("invalid_"+field, "%s must be UTF-8 text without NUL characters", field)
	}
	if len(v) > maxIDLen {
		return invalid("invalid_"+field, "%s is longer than %d characters", field, maxIDLen)
	}
	return nil
}

// dedupeKey is how a repeat is recognised: the caller's own id for the
// thing (transaction_id, refund_id), else its Idempotency-Key header.
func dedupeKey(field, id, header string) (string, error) {
	if err := checkID(field, id, false); err != nil {
		return "", err
	}
	if err := checkID("Idempotency-Key", header, false); err != nil {
		return "", err
	}
	switch {
	case id != "" && field == "transaction_id":
		return "txn:" + id, nil
	case id != "":
		return "rid:" + id, nil
	case header != "":
		return "idem:" + header, nil
	}
	return "", nil
}

// clip keeps at most n bytes of s as storable text: valid UTF-8, no NUL
// (PostgreSQL text holds neither invalid UTF-8 nor NUL).
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// isText reports whether s can be stored as PostgreSQL text.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

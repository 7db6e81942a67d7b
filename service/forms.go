package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// A dashboard form that creates something carries a one-time token, so
// that posting it twice (a double click, a reload that resends it) creates
// one thing. The first post claims the token; when it succeeds the page it
// led to is kept, and a later post of the same token is sent there.

// FormPostKept is how long a form's token is remembered.
const FormPostKept = 24 * time.Hour

// ErrFormPostRunning is answered to a repeat whose first post has not
// finished within the wait.
var ErrFormPostRunning = errors.New("the first post of this form is still running")

// ClaimFormPost claims token for a post about to run. It answers first
// when this is the token's first post (the caller runs it, then calls
// FinishFormPost or ReleaseFormPost). For a repeat it waits up to wait for
// the first to finish and answers the page it led to.
func (s *Service) ClaimFormPost(ctx context.Context, token string, wait time.Duration) (first bool, location string, err error) {
	if len(token) < 16 || len(token) > 64 {
		return false, "", refusal.Invalid("form_expired", "This form is out of date: reload the page and send it again.")
	}
	if _, err := s.Q.ForgetFormPosts(ctx, s.Now().Add(-FormPostKept)); err != nil {
		return false, "", fmt.Errorf("forget old form posts: %w", err)
	}
	n, err := s.Q.ClaimFormPost(ctx, token)
	if err != nil {
		return false, "", fmt.Errorf("claim form post: %w", err)
	}
	if n == 1 {
		return true, "", nil
	}
	deadline := time.Now().Add(wait)
	for {
		loc, err := s.Q.FormPostLocation(ctx, token)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// The first post failed and let the token go: this one runs.
			return s.ClaimFormPost(ctx, token, wait)
		case err != nil:
			return false, "", fmt.Errorf("form post: %w", err)
		case loc != nil:
			return false, *loc, nil
		case time.Now().After(deadline):
			return false, "", ErrFormPostRunning
		}
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FinishFormPost keeps the page the token's first post led to.
func (s *Service) FinishFormPost(ctx context.Context, token, location string) error {
	return s.Q.FinishFormPost(ctx, db.FinishFormPostParams{Token: token, Location: &location})
}

// ReleaseFormPost lets a token whose post did not succeed be sent again.
func (s *Service) ReleaseFormPost(ctx context.Context, token string) error {
	return s.Q.ReleaseFormPost(ctx, token)
}

// SecretRevealKept is how long a secret key just made waits for the page
// that shows it.
const SecretRevealKept = time.Hour

// KeepSecretForPage keeps a secret key just made for the one page view
// that shows it to the account that made it, and answers the id the page
// is opened with.
func (s *Service) KeepSecretForPage(ctx context.Context, accountID, appID, secret string) (string, error) {
	if _, err := s.Q.ForgetSecretReveals(ctx, s.Now().Add(-SecretRevealKept)); err != nil {
		return "", fmt.Errorf("forget old secret reveals: %w", err)
	}
	id := ids.New("rv")
	if err := s.Q.InsertSecretReveal(ctx, db.InsertSecretRevealParams{ID: id, UserID: accountID, AppID: appID, Secret: secret}); err != nil {
		return "", fmt.Errorf("keep secret for its page: %w", err)
	}
	return id, nil
}

// RevealSecret takes out the secret kept under id for this account and
// app: it answers it once, then "".
func (s *Service) RevealSecret(ctx context.Context, accountID, appID, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	secret, err := s.Q.TakeSecretReveal(ctx, db.TakeSecretRevealParams{ID: id, UserID: accountID, AppID: appID, Since: s.Now().Add(-SecretRevealKept)})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reveal secret: %w", err)
	}
	return secret, nil
}

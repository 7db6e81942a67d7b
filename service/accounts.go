package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/agentlinks/agentlinks/db"
	"github.com/agentlinks/agentlinks/internal/ids"
	"github.com/agentlinks/agentlinks/internal/password"
	"github.com/agentlinks/agentlinks/internal/refusal"
)

// Account is a person signed in to the dashboard.
type Account struct {
	ID       string
	Email    string
	Operator bool
	// Epoch changes with the password; a session made under an older one
	// has ended.
	Epoch int32
}

func accountOf(u db.User) Account {
	return Account{ID: u.ID, Email: u.Email, Operator: u.Operator, Epoch: u.SessionEpoch}
}

// errLogin is the one answer to a wrong email or password: which of the
// two was wrong is not said.
func errLogin() error {
	return refusal.Unauthorized("invalid_login", "the email or the password is not right")
}

func checkEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	at := strings.LastIndex(email, "@")
	if at < 1 || at == len(email)-1 || len(email) > maxEmailLen || !isText(email) || strings.ContainsAny(email, " \t\r\n<>") {
		return "", refusal.Invalid("invalid_email", "%.64q is not an email address", email)
	}
	return email, nil
}

// checkPassword refuses a password too short or too long (the main rule),
// or one attackers try first (password.Weak: a common or breached one, or
// the account's email).
func checkPassword(pw, email string) error {
	if len(pw) < password.MinLen || len(pw) > password.MaxLen {
		return refusal.Invalid("invalid_password", "a password has %d to %d characters", password.MinLen, password.MaxLen)
	}
	if why := password.Weak(pw, email); why != "" {
		return refusal.Invalid("weak_password", "%s: choose another (a few words you will remember make a strong one)", why)
	}
	return nil
}

// SignUp creates an account; an email that has one already is a conflict.
func (s *Service) SignUp(ctx context.Context, email, pw string) (Account, error) {
	return s.CreateAccount(ctx, email, pw, false)
}

// CreateAccount creates an account, an operator's when operator is set
// (agentlinks users create).
func (s *Service) CreateAccount(ctx context.Context, email, pw string, operator bool) (Account, error) {
	email, err := checkEmail(email)
	if err != nil {
		return Account{}, err
	}
	if err := checkPassword(pw, email); err != nil {
		return Account{}, err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return Account{}, err
	}
	u, err := s.Q.CreateUser(ctx, db.CreateUserParams{ID: ids.New("acc"), Email: email, PasswordHash: hash, Operator: operator})
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, refusal.Conflict("email_taken", "there is already an account for %s: log in instead", email)
	}
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return accountOf(u), nil
}

// LogIn checks an email and password. It takes as long for an email
// without an account as for a wrong password.
func (s *Service) LogIn(ctx context.Context, email, pw string) (Account, error) {
	u, err := s.Q.GetUserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, pgx.ErrNoRows) || len(pw) > password.MaxLen {
		_ = password.Check(password.Dummy, pw)
		return Account{}, errLogin()
	}
	if err != nil {
		return Account{}, err
	}
	if err := password.Check(u.PasswordHash, pw); err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			return Account{}, fmt.Errorf("check the password of %s: %w", u.ID, err)
		}
		return Account{}, errLogin()
	}
	return accountOf(u), nil
}

// SessionAccount is the account a session names, if the session is still
// good: the account exists and its password has not changed since.
func (s *Service) SessionAccount(ctx context.Context, id string, epoch int32) (Account, error) {
	u, err := s.Q.GetUser(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && u.SessionEpoch != epoch) {
		return Account{}, refusal.Unauthorized("session_ended", "your session has ended: log in again")
	}
	if err != nil {
		return Account{}, err
	}
	return accountOf(u), nil
}

// ChangePassword sets a new password once the current one is checked; it
// ends every session made before (the caller renews its own).
func (s *Service) ChangePassword(ctx context.Context, id, current, next string) (Account, error) {
	u, err := s.Q.GetUser(ctx, id)
	if err != nil {
		return Account{}, err
	}
	if err := password.Check(u.PasswordHash, current); err != nil {
		return Account{}, refusal.Unauthorized("invalid_login", "the current password is not right")
	}
	if err := checkPassword(next, u.Email); err != nil {
		return Account{}, err
	}
	hash, err := password.Hash(next)
	if err != nil {
		return Account{}, err
	}
	u, err = s.Q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: id, PasswordHash: hash})
	if err != nil {
		return Account{}, err
	}
	return accountOf(u), nil
}

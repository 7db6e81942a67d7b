package service

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentlinks/agentlinks/db"
)

// refCacheTTL bounds how long a cached ref or app can be stale when no
// change notice arrives (the listener down, or not started).
const refCacheTTL = 10 * time.Second

// ProgramsChannel is the PostgreSQL channel on which the database announces
// a change to an app or a ref code (migration 00003's triggers).
const ProgramsChannel = "agentlinks_programs"

// refCache keeps ref lookups (and apps, for CORS) in memory for the hot
// public endpoints. Entries expire after the TTL, and all are dropped at
// once when the database announces a change.
type refCache struct {
	q   *db.Queries
	ttl time.Duration
	mu  sync.RWMutex
	m   map[string]refEntry
}

type refEntry struct {
	row     db.GetRefCodeRow
	app     db.App
	expires time.Time
}

func newRefCache(q *db.Queries, ttl time.Duration) *refCache {
	return &refCache{q: q, ttl: ttl, m: map[string]refEntry{}}
}

func (c *refCache) get(key string) (refEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e, ok && time.Now().Before(e.expires)
}

func (c *refCache) put(key string, e refEntry) {
	e.expires = time.Now().Add(c.ttl)
	c.mu.Lock()
	if len(c.m) > 100_000 { // bounded: start over rather than grow without end
		c.m = map[string]refEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()
}

// Invalidate drops every cached entry.
func (c *refCache) invalidate() {
	c.mu.Lock()
	c.m = map[string]refEntry{}
	c.mu.Unlock()
}

// cachedRef is lookupRef through the cache; unknown refs are not cached.
func (s *Service) cachedRef(ctx context.Context, ref, appID string) (db.GetRefCodeRow, error) {
	key := "ref:" + strings.ToLower(strings.TrimSpace(ref))
	e, ok := s.refs.get(key)
	if !ok {
		row, err := s.lookupRef(ctx, ref, "")
		if err != nil {
			return row, err
		}
		e = refEntry{row: row}
		s.refs.put(key, e)
	}
	return e.row, sameApp(e.row, ref, appID)
}

// cachedApp reads an app through the cache.
func (s *Service) cachedApp(ctx context.Context, appID string) (db.App, error) {
	key := "app:" + appID
	if e, ok := s.refs.get(key); ok {
		return e.app, nil
	}
	app, err := s.Q.GetApp(ctx, appID)
	if err != nil {
		return app, err
	}
	s.refs.put(key, refEntry{app: app})
	return app, nil
}

// ListenForChanges drops the cache whenever the database announces a change
// to an app or ref code, until ctx ends; it reconnects after errors (and
// drops the cache then too, since a notice may have been missed).
func (s *Service) ListenForChanges(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	for ctx.Err() == nil {
		err := s.listen(ctx, pool)
		s.refs.invalidate()
		if ctx.Err() != nil {
			return
		}
		log.Warn("program change listener reconnecting", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) listen(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ProgramsChannel}.Sanitize()); err != nil {
		return err
	}
	s.refs.invalidate()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				// Leave the connection clean for the pool.
				_, _ = conn.Exec(context.Background(), "UNLISTEN *")
			}
			return err
		}
		s.refs.invalidate()
	}
}

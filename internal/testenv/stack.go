package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/worker"
)

// Stack is what an HTTP test needs under the API: its own database, a
// Temporal dev server with the search attributes, and a worker polling.
type Stack struct {
	DB        *Database
	Temporal  client.Client
	TaskQueue string
	// Recorded is told of every conversion the stack's worker records; a
	// tracking service on Temporal sets it to answer from the worker.
	Recorded *activities.RecordWaiters
	server   *temporaldev.Server
	worker   sdkworker.Worker
}

// NewStack starts a Stack and its worker, with more activity structs
// registered beside the conversion activities; Close stops it.
func NewStack(ctx context.Context, more ...any) (*Stack, error) {
	s, err := NewStackWithoutWorker(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.StartWorker(more...); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// StartWorker starts the stack's worker.
func (s *Stack) StartWorker(more ...any) error {
	acts := activities.New(s.DB.Pool)
	acts.Waiters = s.Recorded
	s.worker = worker.New(s.Temporal, s.TaskQueue, acts, sdkworker.Options{}, more...)
	if err := s.worker.Start(); err != nil {
		s.worker = nil
		return err
	}
	return nil
}

// NewStackWithoutWorker starts the database and Temporal; the caller
// starts the worker once what its activities need exists.
func NewStackWithoutWorker(ctx context.Context) (_ *Stack, err error) {
	s := &Stack{TaskQueue: "test", Recorded: activities.NewRecordWaiters()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB, err = NewDatabase(ctx); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	var addr string
	if s.server, addr, err = StartTemporal(ctx); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if s.Temporal, err = client.Dial(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(quiet)}); err != nil {
		return nil, err
	}
	if err = worker.EnsureSearchAttributes(ctx, s.Temporal, "default"); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the worker and the server and drops the database.
func (s *Stack) Close() {
	if s.worker != nil {
		s.worker.Stop()
	}
	if s.Temporal != nil {
		s.Temporal.Close()
	}
	if s.server != nil {
		s.server.Stop()
	}
	if s.DB != nil {
		s.DB.Drop()
	}
}

// Package workertest gives tests the stack under the API: a database of
// their own, the Temporal dev server and a worker polling it, all real.
package workertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/agentlinks/agentlinks/activities"
	"github.com/agentlinks/agentlinks/internal/conversion"
	"github.com/agentlinks/agentlinks/internal/temporaldev"
	"github.com/agentlinks/agentlinks/internal/testenv"
	"github.com/agentlinks/agentlinks/worker"
	"github.com/agentlinks/agentlinks/workflows"
)

// Stack is what an HTTP test needs under the API: its own database, a
// Temporal dev server with the search attributes, and a worker polling.
type Stack struct {
	DB        *testenv.Database
	Temporal  client.Client
	TaskQueue string
	// Recorded is told of every conversion the stack's worker records; a
	// workflow client on Temporal sets it to answer from the worker.
	Recorded *conversion.Waiters
	server   *temporaldev.Server
	worker   sdkworker.Worker
	webhooks sdkworker.Worker
}

// NewStack starts a Stack and its worker; Close stops it.
func NewStack(ctx context.Context) (*Stack, error) {
	s, err := NewStackWithoutWorker(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.StartWorker(nil); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Activities returns activities over the stack's database that tell
// Recorded what they record; set what else they need before StartWorker.
func (s *Stack) Activities() *activities.Activities {
	acts := activities.New(s.DB.Pool)
	acts.Recorded = s.Recorded
	return acts
}

// Workflows is a workflow client on the stack's server and task queue,
// answered from the stack's worker (eager start).
func (s *Stack) Workflows() workflows.Client {
	return workflows.Client{Temporal: s.Temporal, TaskQueue: s.TaskQueue, Recorded: s.Recorded}
}

// StartWorker starts the stack's worker with acts (nil: Activities()).
func (s *Stack) StartWorker(acts *activities.Activities) error {
	if acts == nil {
		acts = s.Activities()
	}
	s.worker = worker.New(s.Temporal, s.TaskQueue, acts, sdkworker.Options{})
	if err := s.worker.Start(); err != nil {
		s.worker = nil
		return err
	}
	s.webhooks = worker.NewWebhooks(s.Temporal, s.TaskQueue, acts)
	if err := s.webhooks.Start(); err != nil {
		s.webhooks = nil
		return err
	}
	return nil
}

// NewStackWithoutWorker starts the database and Temporal; the caller
// starts the worker once what its activities need exists.
func NewStackWithoutWorker(ctx context.Context) (_ *Stack, err error) {
	s := &Stack{TaskQueue: "test", Recorded: conversion.NewWaiters()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB, err = testenv.NewDatabase(ctx); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	var addr string
	if s.server, addr, err = testenv.StartTemporal(ctx); err != nil {
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
	if s.webhooks != nil {
		s.webhooks.Stop()
	}
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

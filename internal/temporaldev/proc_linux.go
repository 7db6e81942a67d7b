package temporaldev

import "syscall"

// The server dies with its parent: a crashed `agentlinks dev` or test binary
// leaves no orphan holding the port. It runs in a process group of its own,
// so that a Ctrl-C in the terminal reaches `agentlinks dev` alone, which
// stops its API and worker first and the server last (stopped under a
// polling worker, both fill the terminal with connection errors).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}

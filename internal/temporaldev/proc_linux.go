package temporaldev

import "syscall"

// The server dies with its parent: a crashed `agentlinks dev` or test binary
// leaves no orphan holding the port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

//go:build !linux

package temporaldev

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

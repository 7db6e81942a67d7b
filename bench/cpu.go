package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuNow is the CPU time (user + system) used so far by this process and
// by the PostgreSQL server's processes, read from /proc.
func cpuNow() (self, postgres time.Duration) {
	self = procCPU("/proc/self/stat")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if comm, err := os.ReadFile(d + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			postgres += procCPU(d + "/stat")
		}
	}
	return self, postgres
}

// procCPU reads utime + stime of a /proc/<pid>/stat, in clock ticks of
// 10 ms (Linux's USER_HZ).
func procCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of the line
	k, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(u+k) * 10 * time.Millisecond
}

// cpuSpent is the CPU a side spent, per request it answered.
type cpuSpent struct {
	self, postgres, generator time.Duration // in all
	requests                  uint64
}

func (c cpuSpent) String() string {
	if c.requests == 0 {
		return "no requests"
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(c.requests) }
	s := "CPU per request: " + strconv.FormatFloat(per(c.self), 'f', 0, 64) + " µs bench process"
	if c.generator > 0 {
		s += " (API), " + strconv.FormatFloat(per(c.generator), 'f', 0, 64) + " µs wrk"
	} else {
		s += " (generator + API)"
	}
	return s + ", " + strconv.FormatFloat(per(c.postgres), 'f', 0, 64) + " µs PostgreSQL"
}

package main

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// allocsNow is how many heap objects this process has allocated so far.
func allocsNow() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// cpuNow is the CPU time (user + system) used so far by this process and
// by the PostgreSQL server's processes, read from /proc. A backend that
// exits takes its time away from the live ones; the postmaster, which
// reaps it, counts it in its children's time, which is added.
func cpuNow() (self, postgres time.Duration) {
	self = procCPU("/proc/self/stat", false) // wrk, its child, is counted apart
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if comm, err := os.ReadFile(d + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			postgres += procCPU(d+"/stat", true)
		}
	}
	return self, postgres
}

// procCPU reads utime + stime (and with children, cutime + cstime) of a
// /proc/<pid>/stat, in clock ticks of 10 ms (Linux's USER_HZ).
func procCPU(path string, children bool) time.Duration {
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
	if len(f) < 15 {
		return 0
	}
	ticks := int64(0)
	fields := []int{11, 12} // utime, stime: fields 14 and 15 of the line
	if children {
		fields = append(fields, 13, 14) // cutime, cstime
	}
	for _, i := range fields {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// cpuSpent is the CPU a side spent, per request it answered, and the heap
// objects the bench process allocated.
type cpuSpent struct {
	self, postgres, generator time.Duration // in all
	allocs, requests          uint64
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
	s += ", " + strconv.FormatFloat(per(c.postgres), 'f', 0, 64) + " µs PostgreSQL"
	return s + "; " + strconv.FormatFloat(float64(c.allocs)/float64(c.requests), 'f', 1, 64) + " heap allocations in the bench process"
}

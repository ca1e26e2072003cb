// Package runtimetune chooses the Go runtime settings of the daemons
// (serve): how many processors the scheduler runs goroutines on and how
// much the heap may grow between collections. A setting given in the
// environment (GOMAXPROCS, GOGC, GOMEMLIMIT) is always kept.
//
// Processors. The gateway and the egress proxy spend much of their time in
// short system calls: a write to a socket on the same host (a bot behind
// its gateway on one machine, a sidecar, loopback) runs the receiver's TCP
// processing in the writer's system call. While a goroutine is in such a
// call it holds its processor, and another goroutine made ready meanwhile
// waits until the call returns or the runtime takes the processor back;
// with as many processors as CPUs a CPU then idles although work is ready.
// With ProcsPerCPU processors per CPU the ready goroutine runs at once. It
// is done only where no cgroup sets a CPU quota: under one (a container
// limit, which Go's default already follows) more processors would only
// be throttled, and the runtime keeps following a quota that changes.
//
// Heap. A daemon's live heap is small (configuration, address sets, the
// token cache) and nearly all it allocates is per request; GOGC=400 lets
// the heap grow to five times the live heap before a collection instead of
// twice, for a quarter of the collections. GOMEMLIMIT, when set, still
// bounds it; when it is not and the process runs under a cgroup memory
// limit (a container's, a systemd unit's MemoryMax=), the soft limit is
// MemoryLimitShare of it, so that the larger heap makes the collector work
// harder near the limit instead of meeting the OOM killer.
package runtimetune

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// ProcsPerCPU is how many processors per CPU a daemon runs with when
// neither GOMAXPROCS nor a CPU quota decides it, up to MaxProcs (and never
// fewer than the CPUs). On two CPUs shared with a bot, 2, 3 and 4 per CPU
// gave 0.94, 0.91-1.0 and 0.99-1.0 times the requests/s of HAProxy doing the
// same token check, 1 per CPU 0.81-0.86 (docs/deploying.md).
const ProcsPerCPU = 4

// MaxProcs bounds the processors ProcsPerCPU gives: the scheduler looks
// through every processor for work to steal, and on a large machine the
// CPUs themselves are the spare capacity.
const MaxProcs = 64

// GCPercent is the daemons' GOGC when the environment sets none.
const GCPercent = 400

// MemoryLimitShare is the part of a cgroup memory limit that becomes the
// soft memory limit when GOMEMLIMIT is not set.
const MemoryLimitShare = 0.9

// Host is what Choose decides from: the environment and the runtime's
// own view of the machine.
type Host struct {
	Getenv     func(string) string
	NumCPU     int   // runtime.NumCPU: the CPUs this process may run on
	GOMAXPROCS int   // runtime.GOMAXPROCS(0) before any change: the runtime's default
	MemoryMax  int64 // the cgroup's memory limit in bytes; 0: none
	CPUQuota   bool  // the cgroup limits the CPU time (a quota), whatever Go made of it
}

// Settings are the chosen values and why.
type Settings struct {
	GOMAXPROCS  int    // 0: leave the runtime's value
	ProcsReason string // what decided the processors
	GCPercent   int    // 0: leave the runtime's value
	GOGC        string // the GOGC in force, as the environment would say it
	GCReason    string
	MemoryLimit int64 // bytes; 0: leave the runtime's value
	MemReason   string
}

// Choose decides the settings for h without changing anything.
func Choose(h Host) Settings {
	var s Settings
	switch {
	case h.Getenv("GOMAXPROCS") != "":
		s.ProcsReason = "GOMAXPROCS from the environment"
	case h.CPUQuota || h.GOMAXPROCS < h.NumCPU:
		s.ProcsReason = fmt.Sprintf("the runtime's default (%d processors on %d CPUs: a CPU quota)", h.GOMAXPROCS, h.NumCPU)
	default:
		s.GOMAXPROCS = max(min(ProcsPerCPU*h.NumCPU, MaxProcs), h.NumCPU)
		s.ProcsReason = fmt.Sprintf("%d per CPU, at most %d (%d CPUs, no CPU quota)", ProcsPerCPU, MaxProcs, h.NumCPU)
	}
	if v := h.Getenv("GOGC"); v != "" {
		s.GOGC, s.GCReason = v, "GOGC from the environment"
	} else {
		s.GCPercent = GCPercent
		s.GOGC, s.GCReason = fmt.Sprint(GCPercent), "the daemons' default"
	}
	switch {
	case h.Getenv("GOMEMLIMIT") != "":
		s.MemReason = "GOMEMLIMIT from the environment"
	case h.MemoryMax > 0:
		s.MemoryLimit = int64(float64(h.MemoryMax) * MemoryLimitShare)
		s.MemReason = fmt.Sprintf("%.0f%% of the cgroup's memory limit (%d bytes)", MemoryLimitShare*100, h.MemoryMax)
	default:
		s.MemReason = "none: no cgroup memory limit"
	}
	return s
}

// Apply makes s the runtime's settings and returns the processors in
// force.
func Apply(s Settings) int {
	if s.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(s.GOMAXPROCS)
	}
	if s.GCPercent > 0 {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	return runtime.GOMAXPROCS(0)
}

// Current is the Host of this process, read before Apply.
func Current(getenv func(string) string) Host {
	return Host{Getenv: getenv, NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		MemoryMax: CgroupMemoryMax(os.ReadFile), CPUQuota: CgroupCPUQuota(os.ReadFile)}
}

// CgroupCPUQuota reports whether this process's cgroup, or one above it,
// limits its CPU time: cgroup v2's cpu.max other than "max", or v1's
// cpu.cfs_quota_us other than -1. Go's default GOMAXPROCS follows such a
// quota rounded up, so on a one-CPU machine a quota below one CPU leaves
// it at the CPU count: the quota itself must be read.
func CgroupCPUQuota(readFile func(string) ([]byte, error)) bool {
	for _, v := range cgroupValues(readFile, "cpu.max", "cpu", "cpu.cfs_quota_us") {
		if !strings.HasPrefix(v, "max") && v != "-1" {
			return true
		}
	}
	return false
}

// CgroupMemoryMax is the memory limit of this process's cgroup in bytes,
// or 0 when it has none or it cannot be read: the lowest limit from the
// process's own cgroup up to the root, as the kernel enforces each —
// cgroup v2's memory.max, or v1's memory.limit_in_bytes, where a limit
// beyond 1 EiB means none.
func CgroupMemoryMax(readFile func(string) ([]byte, error)) int64 {
	var lowest int64
	for _, v := range cgroupValues(readFile, "memory.max", "memory", "memory.limit_in_bytes") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n > 0 && n < 1<<60 && (lowest == 0 || n < lowest) {
			lowest = n
		}
	}
	return lowest
}

// cgroupValues returns the contents of a controller's file in this
// process's cgroup and in each of its ancestors, trimmed: v2File on the
// cgroup v2 hierarchy (/proc/self/cgroup's "0::" line), or v1File under
// /sys/fs/cgroup/v1Controller where that controller is on a v1 hierarchy
// (hybrid systems) — from the first hierarchy where any could be read.
func cgroupValues(readFile func(string) ([]byte, error), v2File, v1Controller, v1File string) []string {
	b, err := readFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controllers:path
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		root, file := "/sys/fs/cgroup", v2File
		if f[0] != "0" || f[1] != "" {
			if !slices.Contains(strings.Split(f[1], ","), v1Controller) {
				continue
			}
			root, file = "/sys/fs/cgroup/"+v1Controller, v1File
		}
		var values []string
		for dir := root + strings.TrimSuffix(f[2], "/"); ; dir = parent(dir) {
			if b, err := readFile(dir + "/" + file); err == nil {
				values = append(values, strings.TrimSpace(string(b)))
			}
			if dir == root || !strings.HasPrefix(dir, root+"/") {
				break
			}
		}
		if len(values) > 0 {
			return values
		}
	}
	return nil
}

// parent is dir without its last element.
func parent(dir string) string {
	if i := strings.LastIndexByte(dir, '/'); i > 0 {
		return dir[:i]
	}
	return ""
}

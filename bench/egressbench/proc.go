package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100
// on every Linux architecture Go runs on (proc(5)).
const userHZ = 100

// procTree is a process and its descendants at one moment (Squid's
// helpers, if it starts any, are its children). Threads are not
// processes: their time and memory are their process's.
type procTree []int

// treeOf lists pid and its descendants; pid 0 is no process (an empty
// tree).
func treeOf(pid int) (procTree, error) {
	if pid == 0 {
		return nil, nil
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil || len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	tree := procTree{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree, nil
}

// statFields returns the fields of /proc/PID/stat after the command
// name, which may hold spaces: field 3 of proc(5) (state) is index 0.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// cpuTicks is the CPU time the tree's processes have used, user and
// system, in USER_HZ ticks (fields 14 and 15 of proc(5)); the threads
// that have ended are counted in their process's.
func (t procTree) cpuTicks() int64 {
	var sum int64
	for _, p := range t {
		f, err := statFields(p)
		if err != nil || len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}

// status sums the tree's VmRSS (KiB) and counts its threads.
func (t procTree) status() (rssKB, threads int64) {
	for _, p := range t {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			fs := strings.Fields(v)
			if len(fs) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(fs[0], 10, 64)
			switch k {
			case "VmRSS":
				rssKB += n
			case "Threads":
				threads += n
			}
		}
		f.Close()
	}
	return rssKB, threads
}

// fds counts the tree's open file descriptors (sockets and, for splice,
// pipes).
func (t procTree) fds() int {
	n := 0
	for _, p := range t {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		if err == nil {
			n += len(ents)
		}
	}
	return n
}

// cpuMicros converts ticks to microseconds.
func cpuMicros(ticks int64) float64 { return float64(ticks) * 1e6 / userHZ }

func selfPID() int { return os.Getpid() }

// fdLimit is the soft limit of open files of the tree's first process
// (/proc/PID/limits), 0 when unknown.
func (t procTree) fdLimit() int {
	if len(t) == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", t[0]))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// meminfo is the machine's memory in KiB: the kernel's own (slab, kernel
// stacks, page tables) and the total in use (MemTotal - MemAvailable).
type meminfo struct{ kernel, used int64 }

func readMeminfo() meminfo {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return meminfo{}
	}
	v := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			v[k], _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return meminfo{kernel: v["Slab"] + v["KernelStack"] + v["PageTables"], used: v["MemTotal"] - v["MemAvailable"]}
}

// peers is the processes (each with its descendants) whose CPU time is
// reported beside the proxy's: the upstream and the name server, which
// share the machine's CPUs with it.
type peers []int

func parsePeers(s string) (peers, error) {
	var ps peers
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("peer %q: want a process id", f)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func (ps peers) cpuTicks() int64 {
	var sum int64
	for _, p := range ps {
		t, _ := treeOf(p)
		sum += t.cpuTicks()
	}
	return sum
}

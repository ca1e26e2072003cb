package runtimetune

import (
	"os"
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name            string
		host            Host
		procs, gc       int
		procsWhy, gcWhy string
	}{
		{"bare machine", Host{Getenv: env(), NumCPU: 2, GOMAXPROCS: 2}, 8, GCPercent, "4 per CPU, at most 64 (2 CPUs, no CPU quota)", "default"},
		{"one CPU", Host{Getenv: env(), NumCPU: 1, GOMAXPROCS: 1}, 4, GCPercent, "4 per CPU", "default"},
		{"32 CPUs", Host{Getenv: env(), NumCPU: 32, GOMAXPROCS: 32}, 64, GCPercent, "at most 64", "default"},
		{"96 CPUs", Host{Getenv: env(), NumCPU: 96, GOMAXPROCS: 96}, 96, GCPercent, "at most 64", "default"},
		{"CPU quota", Host{Getenv: env(), NumCPU: 16, GOMAXPROCS: 2}, 0, GCPercent, "2 processors on 16 CPUs: a CPU quota", "default"},
		{"a quota below one CPU on one CPU", Host{Getenv: env(), NumCPU: 1, GOMAXPROCS: 1, CPUQuota: true}, 0, GCPercent, "a CPU quota", "default"},
		{"GOMAXPROCS set", Host{Getenv: env("GOMAXPROCS", "1"), NumCPU: 2, GOMAXPROCS: 1}, 0, GCPercent, "GOMAXPROCS from the environment", "default"},
		{"GOMAXPROCS set to the CPUs", Host{Getenv: env("GOMAXPROCS", "2"), NumCPU: 2, GOMAXPROCS: 2}, 0, GCPercent, "environment", "default"},
		{"GOGC set", Host{Getenv: env("GOGC", "100"), NumCPU: 4, GOMAXPROCS: 4}, 16, 0, "4 per CPU", "GOGC from the environment"},
		{"GOGC off", Host{Getenv: env("GOGC", "off"), NumCPU: 4, GOMAXPROCS: 4}, 16, 0, "4 per CPU", "GOGC from the environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Choose(tc.host)
			if s.GOMAXPROCS != tc.procs || s.GCPercent != tc.gc {
				t.Errorf("Choose = procs %d, gc %d; want %d, %d", s.GOMAXPROCS, s.GCPercent, tc.procs, tc.gc)
			}
			if want := tc.host.Getenv("GOGC"); want != "" && s.GOGC != want || want == "" && s.GOGC != "400" {
				t.Errorf("GOGC %q with the environment's %q", s.GOGC, want)
			}
			if !strings.Contains(s.ProcsReason, tc.procsWhy) || !strings.Contains(s.GCReason, tc.gcWhy) {
				t.Errorf("reasons %q, %q; want %q, %q", s.ProcsReason, s.GCReason, tc.procsWhy, tc.gcWhy)
			}
		})
	}
}

func TestApplyKeepsWhatIsNotChosen(t *testing.T) {
	before := Current(env()).GOMAXPROCS
	if got := Apply(Settings{}); got != before {
		t.Errorf("Apply of nothing: GOMAXPROCS %d, was %d", got, before)
	}
}

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := m[name]; ok {
			return []byte(v), nil
		}
		return nil, os.ErrNotExist
	}
}

func TestCgroupMemoryMax(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2 pod limit", map[string]string{
			"/proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "268435456\n",
			"/sys/fs/cgroup/kubepods/pod1/memory.max":     "max\n",
		}, 256 << 20},
		{"v2 limit on a parent (a systemd slice)", map[string]string{
			"/proc/self/cgroup": "0::/system.slice/teamsgate@bot.service\n",
			"/sys/fs/cgroup/system.slice/teamsgate@bot.service/memory.max": "max\n",
			"/sys/fs/cgroup/system.slice/memory.max":                       "1073741824\n",
		}, 1 << 30},
		{"v2 the lowest of two", map[string]string{
			"/proc/self/cgroup":             "0::/a/b\n",
			"/sys/fs/cgroup/a/b/memory.max": "2147483648",
			"/sys/fs/cgroup/a/memory.max":   "1073741824",
		}, 1 << 30},
		{"v2 no limit", map[string]string{
			"/proc/self/cgroup":                    "0::/user.slice\n",
			"/sys/fs/cgroup/user.slice/memory.max": "max\n",
		}, 0},
		{"v2 root cgroup, no file", map[string]string{"/proc/self/cgroup": "0::/\n"}, 0},
		{"v1 limit", map[string]string{
			"/proc/self/cgroup":                           "12:memory:/docker/abc\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912\n",
		}, 512 << 20},
		{"v1 unlimited", map[string]string{
			"/proc/self/cgroup":                           "12:memory:/\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"garbage", map[string]string{
			"/proc/self/cgroup":           "0::/x\n",
			"/sys/fs/cgroup/x/memory.max": "lots\n",
		}, 0},
		{"nothing readable", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CgroupMemoryMax(files(tc.files)); got != tc.want {
				t.Errorf("CgroupMemoryMax = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestChooseMemoryLimit(t *testing.T) {
	limit := int64(256 << 20)
	s := Choose(Host{Getenv: env(), NumCPU: 2, GOMAXPROCS: 2, MemoryMax: limit})
	if want := int64(float64(limit) * MemoryLimitShare); s.MemoryLimit != want {
		t.Errorf("under a 256 MiB limit: soft limit %d", s.MemoryLimit)
	}
	if s := Choose(Host{Getenv: env("GOMEMLIMIT", "100MiB"), NumCPU: 2, GOMAXPROCS: 2, MemoryMax: 256 << 20}); s.MemoryLimit != 0 || !strings.Contains(s.MemReason, "environment") {
		t.Errorf("GOMEMLIMIT set: %+v", s)
	}
	if s := Choose(Host{Getenv: env(), NumCPU: 2, GOMAXPROCS: 2}); s.MemoryLimit != 0 {
		t.Errorf("no limit: %+v", s)
	}
}

func TestCgroupCPUQuota(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"v2 quota", map[string]string{"/proc/self/cgroup": "0::/kubepods/pod1/ctr\n", "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "50000 100000\n"}, true},
		{"v2 quota on a parent", map[string]string{"/proc/self/cgroup": "0::/system.slice/x.service\n",
			"/sys/fs/cgroup/system.slice/x.service/cpu.max": "max 100000\n", "/sys/fs/cgroup/system.slice/cpu.max": "200000 100000\n"}, true},
		{"v2 none", map[string]string{"/proc/self/cgroup": "0::/user.slice\n", "/sys/fs/cgroup/user.slice/cpu.max": "max 100000\n"}, false},
		{"v1 quota", map[string]string{"/proc/self/cgroup": "3:cpu,cpuacct:/docker/abc\n", "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us": "150000\n"}, true},
		{"v1 none (this machine's layout)", map[string]string{"/proc/self/cgroup": "1:cpu:/\n0::/\n", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n"}, false},
		{"nothing readable", map[string]string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CgroupCPUQuota(files(tc.files)); got != tc.want {
				t.Errorf("CgroupCPUQuota = %v, want %v", got, tc.want)
			}
		})
	}
}

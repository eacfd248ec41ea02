package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mem is the memory of a process as the kernel reports it.
type Mem struct {
	RSS int64 `json:"rss_bytes"` // VmRSS: resident now
	HWM int64 `json:"hwm_bytes"` // VmHWM: peak resident since start
}

// String renders m in MiB.
func (m Mem) String() string {
	return fmt.Sprintf("RSS %s (peak %s)", FormatBytes(m.RSS), FormatBytes(m.HWM))
}

// ProcMem reads VmRSS and VmHWM of process pid from /proc/<pid>/status;
// pid 0 means this process.
func ProcMem(pid int) (Mem, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Mem{}, fmt.Errorf("benchkit: %w", err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Mem, error) {
	var m Mem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return Mem{}, fmt.Errorf("benchkit: unexpected %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("benchkit: %s: %w", name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
		found++
	}
	if found != 2 {
		return Mem{}, fmt.Errorf("benchkit: VmRSS or VmHWM missing from /proc status")
	}
	return m, nil
}

// LoadAvg returns the 1-, 5- and 15-minute load averages of the machine, or
// zeros where /proc/loadavg cannot be read.
func LoadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// FormatBytes renders n in MiB (or KiB below one MiB).
func FormatBytes(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// userHZ is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux the project runs on).
const userHZ = 100

// ProcCPU reads the CPU time (user + system) process pid has used from
// /proc/<pid>/stat, to a hundredth of a second: the CPU of a child
// process (a served API) while it runs.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("benchkit: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a stat line;
// the command name (field 2) may hold spaces, so fields count from ")".
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("benchkit: unexpected stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("benchkit: unexpected stat %q", b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("benchkit: stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

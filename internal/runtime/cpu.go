package runtime

import (
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// mbPerCPU is the memory that buys one vCPU in Lambda: a function gets CPU in
// proportion to its memory, one vCPU at 1,769 MB, six at 10,240 MB.
const mbPerCPU = 1769

// instanceCPUs is how many CPUs an instance of memoryMB is given to plan
// its threads with: ceil(memoryMB/1769), at least 1, at most the host's
// (docs/adr/0029-function-cpu-share.md).
func instanceCPUs(memoryMB, hostCPUs int) int {
	n := max((memoryMB+mbPerCPU-1)/mbPerCPU, 1)
	if hostCPUs > 0 {
		n = min(n, hostCPUs)
	}
	return n
}

// cpuEnv is the environment that tells spec's runtime its CPU count, where the
// runtime reads one from the environment and the function has not set it
// itself. The JVM's is a command-line flag instead (javaCPUFlags).
func cpuEnv(spec *Spec, cpus int) []string {
	set := func(name string) []string {
		if _, ok := spec.Environment[name]; ok {
			return nil // the function's own value stands
		}
		return []string{name + "=" + strconv.Itoa(cpus)}
	}
	switch family, _ := appspec.RuntimeFamily(spec.Runtime); family {
	case appspec.FamilyProvided, appspec.FamilyGo:
		// Go's scheduler otherwise runs a thread per host core and hands
		// goroutines between them; a provided bootstrap in another language
		// ignores the variable.
		return set("GOMAXPROCS")
	case appspec.FamilyPython:
		// Python 3.13+ answers os.cpu_count() with it, which sizes the
		// default pools of concurrent.futures and multiprocessing.
		return set("PYTHON_CPU_COUNT")
	}
	return nil
}

// javaCPUFlags tell the JVM its CPU count (it sizes its compiler and GC
// threads and availableProcessors() from it), unless the function's
// JAVA_TOOL_OPTIONS or JDK_JAVA_OPTIONS set it: the command line would win
// over them.
func javaCPUFlags(spec *Spec, cpus int) []string {
	for _, v := range []string{"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"} {
		if strings.Contains(spec.Environment[v], "ActiveProcessorCount") {
			return nil
		}
	}
	return []string{"-XX:ActiveProcessorCount=" + strconv.Itoa(cpus)}
}

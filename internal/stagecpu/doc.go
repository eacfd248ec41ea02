// Package stagecpu attributes a process's CPU to the stages of the
// pipeline that share it (rummage dev runs the CDC, the Kafka broker, the
// indexer, the signals store, the API and the event path in one process):
// each stage's goroutines carry a pprof label (Do), which goroutines
// they start inherit, and Split sums a CPU profile of the process by that
// label. Labels cost nothing while no profile runs.
//
// It is plumbing: it knows the stage names and the profile format, and
// nothing else of Rummage.
package stagecpu

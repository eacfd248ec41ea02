//go:build !linux

package devpg

// postmasterState cannot tell without /proc.
func postmasterState(int, string) procState { return unknown }

// processesIn cannot list them without /proc.
func processesIn(string) []int { return nil }

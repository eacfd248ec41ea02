package benchkit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStartChildExitsEarly: a child that exits before it is ready is an
// error naming its exit, its stderr lines reach Line, and StartChild
// returns (it once waited forever on the exit it had already read).
func TestStartChildExitsEarly(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan error, 1)
	go func() {
		_, err := StartChild(context.Background(), ChildConfig{Exe: "sh", Args: []string{"-c", "echo bye >&2; exit 3"},
			ReadyURL: "http://" + addr + "/readyz", ReadyWithin: time.Minute,
			Line: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("err = %v, want the child's exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("StartChild did not return after the child exited")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 || lines[0] != "bye" {
		t.Errorf("stderr lines %q", lines)
	}
}
